//! Mounts beyond plain volumes and binds: local volumes with driver options (a tmpfs, a
//! bind of a host directory), `--mount type=tmpfs`, and `--volumes-from`. Checked against
//! Debian's dockerd 20.10.

use compat_tests::{Daemon, daemon, unique_temp_dir};
use serde_json::{Value, json};

struct Ctx {
    d: Daemon,
    image: String,
    tag: String,
    names: Vec<String>,
    volumes: Vec<String>,
}

fn setup(test: &str) -> Ctx {
    let d = daemon();
    let image = d.load_test_image(&format!("volopt-{test}"));
    Ctx {
        d,
        image,
        tag: format!("bct-volopt-{}-{test}", std::process::id()),
        names: vec![],
        volumes: vec![],
    }
}

impl Ctx {
    fn ok(&self, args: &[&str]) -> String {
        let out = self.d.docker(args);
        assert!(out.success(), "docker {args:?}\n{}", out.describe());
        out.stdout
    }

    fn volume(&mut self, what: &str) -> String {
        let v = format!("{}-{what}", self.tag);
        self.volumes.push(v.clone());
        v
    }

    fn name(&mut self, what: &str) -> String {
        let n = format!("{}-{what}", self.tag);
        self.names.push(n.clone());
        n
    }

    fn run(&self, args: &[&str]) -> String {
        let mut all = vec!["run", "--rm", "--network", "none"];
        all.extend_from_slice(args);
        self.ok(&all)
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = self.d.docker(&["rm", "-f", "-v", n]);
        }
        for v in &self.volumes {
            let _ = self.d.docker(&["volume", "rm", "-f", v]);
        }
        if !self.d.owned() {
            let _ = self.d.docker(&["rmi", "-f", &self.image]);
        }
    }
}

#[test]
fn a_tmpfs_volume_is_mounted_while_used_and_empty_again_after() {
    let mut c = setup("tmpfs");
    let vol = c.volume("t");
    c.ok(&[
        "volume",
        "create",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=size=1m,uid=1000",
        &vol,
    ]);
    let (status, v) = c.d.get_json(&format!("/volumes/{vol}"));
    assert_eq!(status, 200);
    assert_eq!(
        v["Options"],
        json!({"device": "tmpfs", "o": "size=1m,uid=1000", "type": "tmpfs"})
    );
    let image = c.image.clone();
    let out = c.run(&[
        "-v",
        &format!("{vol}:/t"),
        &image,
        "sh",
        "-c",
        "echo x > /t/f && grep ' /t ' /proc/mounts && stat -c '%u %s' /t/f",
    ]);
    let mut lines = out.lines();
    let mount = lines.next().unwrap_or_default();
    assert!(mount.starts_with("tmpfs /t tmpfs "), "{out}");
    assert!(
        mount.contains("size=1024k") && mount.contains("uid=1000"),
        "{out}"
    );
    assert_eq!(lines.next(), Some("0 2"), "{out}");
    // Nothing uses it now: the tmpfs went, and its file with it.
    let out = c.run(&["-v", &format!("{vol}:/t"), &image, "ls", "-A", "/t"]);
    assert_eq!(out, "");

    for (opts, message) in [
        (&["--opt", "foo=bar"][..], "invalid option: \"foo\""),
        (
            &["--opt", "type=tmpfs"][..],
            "missing required option: \"device\"",
        ),
        (
            &["--opt", "device=/x"][..],
            "missing required option: \"type\"",
        ),
    ] {
        let bad = c.volume("bad");
        let mut args = vec!["volume", "create"];
        args.extend_from_slice(opts);
        args.push(&bad);
        let out = c.d.docker(&args);
        assert!(!out.success());
        assert!(
            out.stderr.contains(&format!("create {bad}: {message}")),
            "{}",
            out.describe()
        );
        let (status, _) = c.d.get_json(&format!("/volumes/{bad}"));
        assert_eq!(status, 404, "a refused volume must not exist");
    }
}

#[test]
fn mount_volume_opts_make_the_volume_with_them() {
    let mut c = setup("volopt");
    let vol = c.volume("m");
    let image = c.image.clone();
    let out = c.run(&[
        "--mount",
        &format!("type=volume,src={vol},dst=/v,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-label=purpose=t"),
        &image, "sh", "-c", "grep ' /v ' /proc/mounts | cut -d' ' -f1,3",
    ]);
    assert_eq!(out, "tmpfs tmpfs\n");
    let (_, v) = c.d.get_json(&format!("/volumes/{vol}"));
    assert_eq!(v["Options"], json!({"device": "tmpfs", "type": "tmpfs"}));
    assert_eq!(v["Labels"], json!({"purpose": "t"}));
}

#[test]
fn a_bind_volume_shows_a_host_directory_and_removing_it_keeps_the_files() {
    let mut c = setup("bind");
    let host = unique_temp_dir("bct-volopt-bind");
    std::fs::write(host.join("h"), "from host\n").unwrap();
    let vol = c.volume("b");
    c.ok(&[
        "volume",
        "create",
        "--opt",
        "type=none",
        "--opt",
        "o=bind",
        "--opt",
        &format!("device={}", host.display()),
        &vol,
    ]);
    let image = c.image.clone();
    let out = c.run(&[
        "-v",
        &format!("{vol}:/b"),
        &image,
        "sh",
        "-c",
        "cat /b/h; echo c > /b/c",
    ]);
    assert_eq!(out, "from host\n");
    assert_eq!(std::fs::read_to_string(host.join("c")).unwrap(), "c\n");
    c.ok(&["volume", "rm", &vol]);
    assert_eq!(
        std::fs::read_to_string(host.join("h")).unwrap(),
        "from host\n"
    );
    assert!(host.join("c").exists());
    std::fs::remove_dir_all(&host).unwrap();
}

#[test]
fn mount_type_tmpfs_has_its_size_and_mode() {
    let mut c = setup("mount");
    let name = c.name("c");
    let image = c.image.clone();
    let out = c.ok(&[
        "run",
        "--name",
        &name,
        "--network",
        "none",
        "--mount",
        "type=tmpfs,dst=/t,tmpfs-size=1048576,tmpfs-mode=1770",
        &image,
        "sh",
        "-c",
        "grep ' /t ' /proc/mounts; stat -c %a /t",
    ]);
    let mut lines = out.lines();
    let mount = lines.next().unwrap_or_default();
    assert!(
        mount.starts_with("tmpfs /t tmpfs rw,nosuid,nodev,noexec"),
        "{out}"
    );
    assert!(
        mount.contains("size=1024k") && mount.contains("mode=1770"),
        "{out}"
    );
    assert_eq!(lines.next(), Some("1770"));
    let (_, v) = c.d.get_json(&format!("/containers/{name}/json"));
    assert_eq!(
        v["Mounts"],
        json!([{"Type": "tmpfs", "Source": "", "Destination": "/t", "Mode": "", "RW": true, "Propagation": ""}])
    );
    let r = c.d.post_json(
        "/containers/create",
        &json!({"Image": image, "HostConfig": {"Mounts": [{"Type": "tmpfs", "Target": "/t", "Source": "x"}]}}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "invalid mount config for type \"tmpfs\": field Source must not be specified"
    );
}

#[test]
fn volumes_from_shares_another_containers_mounts() {
    let mut c = setup("from");
    let source = c.name("source");
    let named = c.volume("named");
    let image = c.image.clone();
    c.ok(&[
        "run",
        "--name",
        &source,
        "--network",
        "none",
        "-v",
        "/data",
        "-v",
        &format!("{named}:/named"),
        &image,
        "sh",
        "-c",
        "echo s > /data/f",
    ]);
    // `:ro` makes every shared mount read-only.
    let out = c.run(&[
        "--volumes-from", &format!("{source}:ro"), &image, "sh", "-c",
        "cat /data/f; grep -E ' /(data|named) ' /proc/mounts | cut -d' ' -f2,4 | cut -d, -f1 | sort",
    ]);
    assert_eq!(out, "s\n/data ro\n/named ro\n");
    let user = c.name("user");
    c.ok(&[
        "create",
        "--name",
        &user,
        "--volumes-from",
        &source,
        &image,
        "true",
    ]);
    let (_, v) = c.d.get_json(&format!("/containers/{user}/json"));
    assert_eq!(v["HostConfig"]["VolumesFrom"], json!([source]));
    let mut mounts: Vec<&Value> = v["Mounts"].as_array().unwrap().iter().collect();
    mounts.sort_by_key(|m| m["Destination"].as_str().unwrap_or_default().to_string());
    assert_eq!(mounts[0]["Destination"], "/data");
    assert_eq!(
        (&mounts[0]["RW"], &mounts[0]["Mode"]),
        (&json!(true), &json!(""))
    );
    assert_eq!(mounts[1]["Name"], named.as_str());
    let anonymous = mounts[0]["Name"].as_str().unwrap().to_string();
    // Its anonymous volume is the source's, not the user's: `rm -v` of the user keeps it.
    c.ok(&["rm", "-v", &user]);
    let (status, _) = c.d.get_json(&format!("/volumes/{anonymous}"));
    assert_eq!(status, 200);

    for (spec, message) in [
        (
            "bct-volopt-no-such",
            "No such container: bct-volopt-no-such",
        ),
        ("x:bad", "invalid mode: bad"),
        ("", "volumes-from specification cannot be an empty string"),
    ] {
        let r = c.d.post_json(
            "/containers/create",
            &json!({"Image": image, "HostConfig": {"VolumesFrom": [spec]}}),
        );
        assert_eq!(
            (r.status, r.json()["message"].clone()),
            (400, json!(message))
        );
    }
    c.ok(&["rm", "-v", &source]);
    let (status, _) = c.d.get_json(&format!("/volumes/{anonymous}"));
    assert_eq!(status, 404);
}

/// Exit code of `touch /r/sub/f` in a container binding `dir` read-only at `/r`, created
/// through API version `version`.
fn touch_under_read_only_bind(c: &mut Ctx, version: &str, dir: &std::path::Path) -> i64 {
    let name = c.name(&format!("ro-{}", version.replace('.', "")));
    let r = c.d.post_json(
        &format!("/v{version}/containers/create?name={name}"),
        &json!({
            "Image": c.image, "Cmd": ["touch", "/r/sub/f"],
            "HostConfig": {"Binds": [format!("{}:/r:ro", dir.display())], "NetworkMode": "none"},
        }),
    );
    assert_eq!(r.status, 201, "{r:?}");
    c.ok(&["start", &name]);
    let out = c.ok(&["wait", &name]);
    out.trim().parse().expect("exit code")
}

#[test]
fn read_only_binds_reach_submounts_from_api_1_44() {
    let mut c = setup("rro");
    let dir = unique_temp_dir("bct-volopt-rro");
    std::fs::create_dir(dir.join("sub")).unwrap();
    let sub = dir.join("sub");
    nix::mount::mount(
        Some("tmpfs"),
        &sub,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .expect("mount a tmpfs below the bind source");
    // Below 1.44 only the top of the bind is read-only (dockerd 20.10 does this at 1.41).
    let code_old = touch_under_read_only_bind(&mut c, "1.41", &dir);
    let newest = c.d.max_api_version();
    let code_new = (compat_tests::compare_api_versions(&newest, "1.44")
        != std::cmp::Ordering::Less)
        .then(|| touch_under_read_only_bind(&mut c, "1.44", &dir));
    let _ = nix::mount::umount2(&sub, nix::mount::MntFlags::MNT_DETACH);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code_old, 0);
    if let Some(code) = code_new {
        assert_eq!(code, 1, "the submount must be read-only too");
    }
}

#[test]
fn docker_cp_into_a_stopped_container_reaches_a_volumes_device() {
    let mut c = setup("cpdev");
    let host = unique_temp_dir("bct-volopt-cpdev");
    let vol = c.volume("dev");
    c.ok(&[
        "volume",
        "create",
        "--opt",
        "type=none",
        "--opt",
        "o=bind",
        "--opt",
        &format!("device={}", host.display()),
        &vol,
    ]);
    let name = c.name("c");
    let image = c.image.clone();
    c.ok(&[
        "create",
        "--name",
        &name,
        "--network",
        "none",
        "-v",
        &format!("{vol}:/b"),
        &image,
        "true",
    ]);
    let src = unique_temp_dir("bct-volopt-cpsrc");
    std::fs::write(src.join("copied.txt"), "through the device\n").unwrap();
    c.ok(&[
        "cp",
        &src.join("copied.txt").display().to_string(),
        &format!("{name}:/b/"),
    ]);
    assert_eq!(
        std::fs::read_to_string(host.join("copied.txt")).unwrap_or_default(),
        "through the device\n"
    );
    let _ = c.d.docker(&["rm", "-f", &name]);
    let _ = c.d.docker(&["volume", "rm", &vol]);
    let _ = std::fs::remove_dir_all(&host);
    let _ = std::fs::remove_dir_all(&src);
}
