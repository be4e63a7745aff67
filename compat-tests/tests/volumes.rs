//! Volumes and binds: `docker volume create/ls/inspect/rm/prune`, named and anonymous
//! volumes in containers, `-v` binds with `:ro`, `--mount type=bind` of a missing source,
//! `docker rm -v`, and a volume outliving a berthd restart. Checked against Debian's dockerd.

use compat_tests::{Daemon, daemon, fixtures, unique_temp_dir};
use serde_json::Value;

struct Ctx {
    d: Daemon,
    image: String,
    tag: String,
}

fn setup(test: &str) -> Ctx {
    let d = daemon();
    let tag = d.load_test_image(&format!("vol-{test}"));
    Ctx {
        d,
        image: tag,
        tag: format!("bct-vol-{}-{test}", std::process::id()),
    }
}

impl Ctx {
    fn run(&self, args: &[&str]) -> compat_tests::cli::Output {
        let mut all = vec!["run", "--rm", "--network", "none"];
        all.extend_from_slice(args);
        self.d.docker(&all)
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        let _ = self.d.docker(&["rm", "-f", &format!("{}-c", self.tag)]);
        let _ = self.d.docker(&["volume", "rm", &self.tag]);
        if !self.d.owned() {
            let _ = self.d.docker(&["rmi", "-f", &self.image]);
        }
    }
}

#[test]
fn a_named_volume_keeps_data_between_containers() {
    let mut c = setup("named");
    let vol = c.tag.clone();
    let out =
        c.d.docker(&["volume", "create", "--label", "purpose=test", &vol]);
    assert_eq!(out.stdout.trim(), vol, "{}", out.describe());
    let out = c.run(&[
        "-v",
        &format!("{vol}:/d"),
        &c.image,
        "sh",
        "-c",
        "echo 1 > /d/f",
    ]);
    assert!(out.success(), "{}", out.describe());
    let out = c.run(&["-v", &format!("{vol}:/d"), &c.image, "cat", "/d/f"]);
    assert_eq!(out.stdout, "1\n", "{}", out.describe());

    let (status, v) = c.d.get_json(&format!("/volumes/{vol}"));
    assert_eq!(status, 200);
    assert_eq!(v["Name"], vol.as_str());
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Scope"], "local");
    assert_eq!(v["Labels"]["purpose"], "test");
    assert!(
        v["Mountpoint"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/volumes/{vol}/_data"))
    );
    let out = c.d.docker(&[
        "volume",
        "ls",
        "--filter",
        "label=purpose=test",
        "--format",
        "{{.Name}}",
    ]);
    assert!(out.stdout.lines().any(|l| l == vol), "{}", out.describe());

    // In use: refused with moby's text; free again once the container is gone.
    let holder = format!("{}-c", c.tag);
    let out = c.d.docker(&[
        "create",
        "--name",
        &holder,
        "--network",
        "none",
        "-v",
        &format!("{vol}:/d"),
        &c.image,
    ]);
    assert!(out.success(), "{}", out.describe());
    for filter in [format!("volume={vol}"), "volume=/d".to_string()] {
        let out =
            c.d.docker(&["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"]);
        assert!(
            out.stdout.lines().any(|l| l == holder),
            "{filter}: {}",
            out.describe()
        );
    }
    let (_, h) = c.d.get_json(&format!("/containers/{holder}/json"));
    let m = &h["Mounts"][0];
    assert_eq!(m["Type"], "volume");
    assert_eq!(m["Name"], vol.as_str());
    assert_eq!(m["Destination"], "/d");
    assert_eq!(m["RW"], true);
    let r = c.d.request("DELETE", &format!("/volumes/{vol}"), &[], b"");
    assert_eq!(r.status, 409, "{}", r.describe());
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap_or("")
            .starts_with(&format!("remove {vol}: volume is in use - [")),
        "{}",
        r.describe()
    );
    assert!(c.d.docker(&["rm", &holder]).success());

    // It survives a daemon restart.
    if c.d.owned() {
        c.d.restart(false);
        let out = c.run(&["-v", &format!("{vol}:/d"), &c.image, "cat", "/d/f"]);
        assert_eq!(out.stdout, "1\n", "{}", out.describe());
    }
    assert!(c.d.docker(&["volume", "rm", &vol]).success());
    let r = c.d.get(&format!("/volumes/{vol}"));
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], format!("get {vol}: no such volume"));
}

#[test]
fn binds_are_writable_or_read_only_and_missing_mount_sources_fail() {
    let c = setup("binds");
    let dir = unique_temp_dir("bct-bind");
    std::fs::write(dir.join("x"), "hostfile\n").unwrap();
    let spec = format!("{}:/w", dir.display());
    let out = c.run(&[
        "-v",
        &spec,
        &c.image,
        "sh",
        "-c",
        "cat /w/x; echo new > /w/y",
    ]);
    assert_eq!(out.stdout, "hostfile\n", "{}", out.describe());
    assert_eq!(std::fs::read_to_string(dir.join("y")).unwrap(), "new\n");
    let out = c.run(&["-v", &format!("{spec}:ro"), &c.image, "touch", "/w/z"]);
    assert!(!out.success());
    assert!(
        out.stderr.contains("Read-only file system"),
        "{}",
        out.describe()
    );
    assert!(!dir.join("z").exists());
    // A missing -v source is made; a missing --mount source is an error.
    let made = dir.join("made/by/docker");
    let out = c.run(&["-v", &format!("{}:/m", made.display()), &c.image, "true"]);
    assert!(out.success(), "{}", out.describe());
    assert!(made.is_dir());
    let out = c.run(&[
        "--mount",
        "type=bind,src=/nonexistent-berth,dst=/x",
        &c.image,
        "true",
    ]);
    assert!(!out.success());
    assert!(
        out.stderr.contains(
            "invalid mount config for type \"bind\": bind source path does not exist: /nonexistent-berth"
        ),
        "{}",
        out.describe()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn anonymous_volumes_go_with_rm_v_and_prune() {
    let c = setup("anon");
    let name = format!("{}-c", c.tag);
    let out = c.d.docker(&[
        "run",
        "--name",
        &name,
        "--network",
        "none",
        "-v",
        "/anon",
        &c.image,
        "true",
    ]);
    assert!(out.success(), "{}", out.describe());
    let (_, h) = c.d.get_json(&format!("/containers/{name}/json"));
    let vol = h["Mounts"][0]["Name"].as_str().unwrap().to_string();
    assert_eq!(vol.len(), 64, "{}", h["Mounts"]);
    assert_eq!(c.d.get(&format!("/volumes/{vol}")).status, 200);
    assert!(c.d.docker(&["rm", "-v", &name]).success());
    assert_eq!(
        c.d.get(&format!("/volumes/{vol}")).status,
        404,
        "rm -v keeps {vol}"
    );

    // --rm takes its anonymous volumes too.
    let out = c.d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "/anon2",
        &c.image,
        "sh",
        "-c",
        "grep -c ' /anon2 ' /proc/mounts",
    ]);
    assert_eq!(out.stdout, "1\n", "{}", out.describe());

    // Prune at 1.41 takes every unused volume, named ones too.
    let r =
        c.d.post_json("/v1.41/volumes/create", &serde_json::json!({"Name": c.tag}));
    assert_eq!(r.status, 201, "{}", r.describe());
    let r = c.d.request("POST", "/v1.41/volumes/prune", &[], b"");
    assert_eq!(r.status, 200);
    let deleted: Vec<String> = r.json()["VolumesDeleted"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    assert!(deleted.contains(&c.tag), "{}", r.describe());
}

#[test]
fn a_new_volume_is_filled_from_the_image_unless_nocopy() {
    let d = daemon();
    let image = fixtures::ImageSpec::busybox()
        .label(fixtures::TEST_LABEL, "vol-copyup")
        .file("var/data/hello", "from the image\n")
        .build();
    let tag = "berth-test/busybox:vol-copyup";
    let out = d.docker(&["load", "-i", image.docker_archive(&[tag]).to_str().unwrap()]);
    assert!(out.success(), "{}", out.describe());
    let base = format!("bct-vol-{}-copyup", std::process::id());
    let (filled, empty, kept) = (
        format!("{base}-a"),
        format!("{base}-b"),
        format!("{base}-c"),
    );
    let run = |args: &[&str]| {
        let mut all = vec!["run", "--rm", "--network", "none"];
        all.extend_from_slice(args);
        d.docker(&all)
    };
    let out = run(&[
        "-v",
        &format!("{filled}:/var/data"),
        tag,
        "cat",
        "/var/data/hello",
    ]);
    assert_eq!(out.stdout, "from the image\n", "{}", out.describe());
    // The copy is the volume's own now: it is there when mounted elsewhere.
    let out = run(&["-v", &format!("{filled}:/v"), tag, "cat", "/v/hello"]);
    assert_eq!(out.stdout, "from the image\n", "{}", out.describe());
    let out = run(&[
        "-v",
        &format!("{empty}:/var/data:nocopy"),
        tag,
        "ls",
        "-A",
        "/var/data",
    ]);
    assert!(out.success() && out.stdout.is_empty(), "{}", out.describe());
    // A volume with content of its own is left alone.
    let out = run(&[
        "-v",
        &format!("{kept}:/v"),
        tag,
        "sh",
        "-c",
        "echo mine > /v/own",
    ]);
    assert!(out.success(), "{}", out.describe());
    let out = run(&[
        "-v",
        &format!("{kept}:/var/data"),
        tag,
        "ls",
        "-A",
        "/var/data",
    ]);
    assert_eq!(out.stdout, "own\n", "{}", out.describe());
    for v in [&filled, &empty, &kept] {
        let _ = d.docker(&["volume", "rm", v]);
    }
    if !d.owned() {
        let _ = d.docker(&["rmi", "-f", tag]);
    }
}
