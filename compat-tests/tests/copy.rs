//! `docker cp` and the archive endpoints: copying files, directories and symlinks both ways
//! on running and stopped containers, the path-stat header, destinations that must not be
//! written (read-only rootfs and volumes), and archives crafted to escape the container.
//! The expected listings are what Debian's dockerd 20.10 gives for the same layout; the
//! tests run against it too (statuses it answers 500 where moby now answers 400 are only
//! checked on berthd).

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use compat_tests::{Daemon, daemon, unique_temp_dir};
use serde_json::Value;

struct Ctx {
    d: Daemon,
    image: String,
    test: String,
    names: Vec<String>,
    volumes: Vec<String>,
    dirs: Vec<PathBuf>,
}

fn setup(test: &str) -> Ctx {
    let d = daemon();
    let image = d.load_test_image(&format!("cp-{test}"));
    Ctx {
        d,
        image,
        test: test.to_string(),
        names: vec![],
        volumes: vec![],
        dirs: vec![],
    }
}

impl Ctx {
    fn name(&mut self, what: &str) -> String {
        let n = format!("bct-cp-{}-{}-{what}", std::process::id(), self.test);
        self.names.push(n.clone());
        n
    }

    fn dir(&mut self, what: &str) -> PathBuf {
        let d = unique_temp_dir(&format!("bct-cp-{what}"));
        self.dirs.push(d.clone());
        d
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.d.docker(args);
        assert!(out.success(), "docker {args:?}\n{}", out.describe());
        out.stdout
    }

    fn put(&self, container: &str, path: &str, tar: &[u8]) -> compat_tests::http::Response {
        self.d.request(
            "PUT",
            &format!(
                "/containers/{container}/archive?path={}",
                compat_tests::url_encode(path)
            ),
            &[("Content-Type", "application/x-tar")],
            tar,
        )
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
        for d in &self.dirs {
            let _ = std::fs::remove_dir_all(d);
        }
        if !self.d.owned() {
            let _ = self.d.docker(&["rmi", "-f", &self.image]);
        }
    }
}

/// A directory on the host as lines: path, kind, permission bits, and content or target.
fn listing(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let full = root.join(&rel);
        let meta = std::fs::symlink_metadata(&full).expect("stat");
        let mode = meta.permissions().mode() & 0o7777;
        let shown = if rel.as_os_str().is_empty() {
            ".".to_string()
        } else {
            rel.display().to_string()
        };
        if meta.file_type().is_symlink() {
            let t = std::fs::read_link(&full).expect("readlink");
            out.push(format!("{shown} -> {}", t.display()));
        } else if meta.is_dir() {
            out.push(format!("{shown}/ {mode:o}"));
            for e in std::fs::read_dir(&full).expect("read_dir") {
                pending.push(rel.join(e.expect("entry").file_name()));
            }
        } else {
            let body = std::fs::read_to_string(&full).expect("read");
            out.push(format!("{shown} {mode:o} {:?}", body));
        }
    }
    out.sort();
    out
}

const LAYOUT: &str = "mkdir -p /d/sub /d/empty && echo hi > /d/f && chmod 600 /d/f \
    && echo deep > /d/sub/g && ln -s f /d/rel && ln -s /d/sub /d/abs && ln /d/f /d/hard \
    && ln -s / /evil";

fn copies_match_dockerd(c: &mut Ctx, container: &str) {
    let host = c.dir("out");
    let at = |p: &str| host.join(p).display().to_string();
    c.ok(&["cp", &format!("{container}:/d"), &at("whole")]);
    assert_eq!(
        listing(&host.join("whole")),
        [
            "./ 755",
            "abs -> /d/sub",
            "empty/ 755",
            "f 600 \"hi\\n\"",
            "hard 600 \"hi\\n\"",
            "rel -> f",
            "sub/ 755",
            "sub/g 644 \"deep\\n\"",
        ]
    );
    // `/.` copies the content into a new directory, not the directory itself.
    c.ok(&["cp", &format!("{container}:/d/."), &at("content")]);
    assert_eq!(listing(&host.join("content")), listing(&host.join("whole")));
    // A symlink is copied as a symlink, and with -L as what it points to.
    c.ok(&["cp", &format!("{container}:/d/rel"), &at("rel")]);
    assert_eq!(
        std::fs::read_link(host.join("rel")).unwrap(),
        Path::new("f")
    );
    c.ok(&["cp", "-L", &format!("{container}:/d/rel"), &at("relL")]);
    assert_eq!(std::fs::read_to_string(host.join("relL")).unwrap(), "hi\n");
    // `/evil -> /` inside the container leads to the container's root, not the host's.
    c.ok(&["cp", &format!("{container}:/evil/d/sub"), &at("through")]);
    assert_eq!(
        listing(&host.join("through")),
        ["./ 755", "g 644 \"deep\\n\""]
    );

    // Into the container: a directory (new name), and a file into an existing directory.
    let src = c.dir("src");
    std::fs::create_dir(src.join("inner")).unwrap();
    std::fs::write(src.join("inner/up"), "up\n").unwrap();
    std::fs::set_permissions(src.join("inner/up"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink("up", src.join("inner/ln")).unwrap();
    std::fs::write(src.join("single"), "one\n").unwrap();
    let src_at = |p: &str| src.join(p).display().to_string();
    c.ok(&[
        "cp",
        &src_at("inner"),
        &format!("{container}:/d/sub/copied"),
    ]);
    c.ok(&["cp", &src_at("single"), &format!("{container}:/d/sub/")]);
    // Through the container's symlink to a directory.
    c.ok(&["cp", &src_at("single"), &format!("{container}:/d/abs/")]);
    c.ok(&["cp", &format!("{container}:/d/sub"), &at("back")]);
    assert_eq!(
        listing(&host.join("back")),
        [
            "./ 755",
            "copied/ 755",
            "copied/ln -> up",
            "copied/up 640 \"up\\n\"",
            "g 644 \"deep\\n\"",
            "single 644 \"one\\n\"",
        ]
    );
}

#[test]
fn cp_both_ways_on_running_and_stopped_containers() {
    let mut c = setup("both");
    let since = compat_tests::unix_now().to_string();
    let running = c.name("running");
    let image = c.image.clone();
    c.ok(&[
        "run",
        "-d",
        "--name",
        &running,
        "--network",
        "none",
        &image,
        "sleep",
        "300",
    ]);
    c.ok(&["exec", &running, "sh", "-c", LAYOUT]);
    copies_match_dockerd(&mut c, &running);

    let stopped = c.name("stopped");
    // Makes the layout on its first run; shows a file copied in on the next.
    let script = format!("if test -e /d/sub/single; then cat /d/sub/single; else {LAYOUT}; fi");
    c.ok(&[
        "run",
        "--name",
        &stopped,
        "--network",
        "none",
        &image,
        "sh",
        "-c",
        &script,
    ]);
    copies_match_dockerd(&mut c, &stopped);
    let out = c.ok(&["start", "-a", &stopped]);
    assert_eq!(out, "one\n");
    let until = (compat_tests::unix_now() + 1).to_string();
    let out = c.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        &format!("container={running}"),
        "--format",
        "{{.Action}}",
    ]);
    assert!(out.lines().any(|l| l == "archive-path"), "{out}");
    if c.d.owned() {
        assert!(out.lines().any(|l| l == "extract-to-dir"), "{out}");
    }
}

fn stat_of(r: &compat_tests::http::Response) -> Value {
    let h = r
        .header("X-Docker-Container-Path-Stat")
        .unwrap_or_else(|| panic!("no stat header: {r:?}"));
    let raw = base64::engine::general_purpose::STANDARD
        .decode(h.trim())
        .expect("base64");
    serde_json::from_slice(&raw).expect("json")
}

#[test]
fn stat_header_and_errors() {
    let mut c = setup("stat");
    let name = c.name("c");
    let image = c.image.clone();
    c.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "none",
        &image,
        "sleep",
        "300",
    ]);
    c.ok(&["exec", &name, "sh", "-c", LAYOUT]);
    let head = |p: &str| c.d.head(&format!("/containers/{name}/archive?path={p}"));

    let r = head("/d");
    assert_eq!(r.status, 200);
    let s = stat_of(&r);
    assert_eq!(
        (s["name"].as_str(), s["mode"].as_u64()),
        (Some("d"), Some((1 << 31) | 0o755))
    );
    assert_eq!(s["linkTarget"], "");
    let s = stat_of(&head("/d/f"));
    assert_eq!(
        (s["size"].as_u64(), s["mode"].as_u64()),
        (Some(3), Some(0o600))
    );
    let s = stat_of(&head("/d/rel"));
    assert_eq!(
        (s["mode"].as_u64(), s["linkTarget"].as_str()),
        (Some((1 << 27) | 0o777), Some("/d/f"))
    );
    let s = stat_of(&head("/evil"));
    assert_eq!(s["linkTarget"], "/");
    // Symlinked parents resolve inside the container.
    let s = stat_of(&head("/evil/d/abs/g"));
    assert_eq!(
        (s["name"].as_str(), s["size"].as_u64()),
        (Some("g"), Some(5))
    );
    let s = stat_of(&head("/d/."));
    assert_eq!(s["name"], ".");
    assert!(s["mtime"].as_str().is_some_and(|t| t.ends_with('Z')), "{s}");

    assert_eq!(head("/nope").status, 404);
    let (status, v) =
        c.d.get_json(&format!("/containers/{name}/archive?path=/nope"));
    assert_eq!(status, 404);
    assert_eq!(
        v["message"],
        format!("Could not find the file /nope in container {name}")
    );
    let (status, v) = c.d.get_json(&format!("/containers/{name}/archive"));
    assert_eq!(status, 400);
    assert_eq!(v["message"], "bad parameter: pathcannot be empty");
    let (status, v) = c.d.get_json("/containers/bct-cp-no-such/archive?path=/");
    assert_eq!(status, 404);
    assert_eq!(v["message"], "No such container: bct-cp-no-such");

    let one = tar_of(&[("x", Kind::File("x"))]);
    let r = c.put(&name, "/d/f", &one);
    assert_eq!(r.json()["message"], "extraction point is not a directory");
    let r = c.put(&name, "/d/missing", &one);
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json()["message"],
        format!("Could not find the file /d/missing in container {name}")
    );
    let r = c.put(
        &name,
        "/d",
        b"this is not a tar archive, just some text that goes on",
    );
    assert!(r.status >= 400, "{r:?}");
    if c.d.owned() {
        assert_eq!(c.put(&name, "/d/f", &one).status, 400);
    }
    // Nothing was written by the refused requests.
    let out = c.ok(&["exec", &name, "ls", "/d"]);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["abs", "empty", "f", "hard", "rel", "sub"]
    );
}

enum Kind<'a> {
    File(&'a str),
    Symlink(&'a str),
    Hardlink(&'a str),
}

/// A tar with names written raw (so `..` survives).
fn tar_of(entries: &[(&str, Kind)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        let (t, link, data) = match kind {
            Kind::File(body) => (tar::EntryType::Regular, "", *body),
            Kind::Symlink(to) => (tar::EntryType::Symlink, *to, ""),
            Kind::Hardlink(to) => (tar::EntryType::Link, *to, ""),
        };
        h.set_entry_type(t);
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn crafted_archives_cannot_write_outside_the_container() {
    let mut c = setup("escape");
    let name = c.name("c");
    let image = c.image.clone();
    c.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "none",
        &image,
        "sleep",
        "300",
    ]);
    c.ok(&["exec", &name, "sh", "-c", LAYOUT]);
    // A directory on the host that a breakout would write into.
    let victim = c.dir("victim");
    let victim_rel = victim
        .display()
        .to_string()
        .trim_start_matches('/')
        .to_string();
    let climb = format!("../../../../../../../../{victim_rel}/pwned");

    for (entries, says) in [
        (vec![(climb.as_str(), Kind::File("x"))], "is outside of"),
        (
            vec![("s", Kind::Symlink("../../../../../../../.."))],
            "invalid symlink",
        ),
        (
            vec![("h", Kind::Hardlink("../../../../etc/passwd"))],
            "invalid hardlink",
        ),
    ] {
        let r = c.put(&name, "/d/sub", &tar_of(&entries));
        assert!(r.status >= 400, "{r:?}");
        let message = r.json()["message"].as_str().unwrap_or_default().to_string();
        assert!(message.contains(says), "{message}");
        if c.d.owned() {
            assert_eq!(r.status, 400, "{message}");
        }
    }
    // Through the container's own `/evil -> /` and a symlink the archive plants: both land
    // inside the container.
    let via_evil = format!("{victim_rel}/pwned-evil");
    let r = c.put(
        &name,
        "/evil",
        &tar_of(&[(via_evil.as_str(), Kind::File("evil\n"))]),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let planted = format!("esc/{victim_rel}/pwned-planted");
    let r = c.put(
        &name,
        "/",
        &tar_of(&[
            ("esc", Kind::Symlink("/")),
            (planted.as_str(), Kind::File("planted\n")),
        ]),
    );
    assert_eq!(r.status, 200, "{r:?}");

    assert_eq!(
        std::fs::read_dir(&victim).unwrap().count(),
        0,
        "the host directory was written"
    );
    let inside = c.ok(&[
        "exec",
        &name,
        "cat",
        &format!("{}/pwned-evil", victim.display()),
        &format!("{}/pwned-planted", victim.display()),
    ]);
    assert_eq!(inside, "evil\nplanted\n");
    assert!(!Path::new("/pwned").exists());
}

#[test]
fn read_only_destinations_are_refused_and_volumes_are_written() {
    let mut c = setup("ro");
    let name = c.name("c");
    let volume = format!("bct-cp-{}-vol", std::process::id());
    c.volumes.push(volume.clone());
    let bind = c.dir("bind");
    std::fs::write(bind.join("kept"), "kept\n").unwrap();
    let image = c.image.clone();
    c.ok(&[
        "create",
        "--name",
        &name,
        "--network",
        "none",
        "--read-only",
        "-v",
        &format!("{volume}:/data"),
        "-v",
        &format!("{}:/ro:ro", bind.display()),
        &image,
        "true",
    ]);
    let one = tar_of(&[("okf", Kind::File("ok\n"))]);
    for (path, message) in [
        ("/", "container rootfs is marked read-only"),
        ("/ro", "mounted volume is marked read-only"),
    ] {
        let r = c.put(&name, path, &one);
        assert_eq!(r.json()["message"], message);
        if c.d.owned() {
            assert_eq!(r.status, 400);
        }
    }
    // A created container: the volume and the bind are reachable before it ever ran.
    let r = c.put(&name, "/data", &one);
    assert_eq!(r.status, 200, "{r:?}");
    let host = c.dir("out");
    c.ok(&[
        "cp",
        &format!("{name}:/ro/kept"),
        &host.display().to_string(),
    ]);
    assert_eq!(
        std::fs::read_to_string(host.join("kept")).unwrap(),
        "kept\n"
    );
    assert_eq!(std::fs::read_dir(&bind).unwrap().count(), 1);
    let out = c.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &format!("{volume}:/d"),
        &image,
        "cat",
        "/d/okf",
    ]);
    assert_eq!(out, "ok\n");
    let meta = std::fs::metadata(host.join("kept")).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o644);
}

#[test]
fn read_only_binds_keep_their_submounts_read_only_to_cp() {
    let mut c = setup("rosub");
    if c.d.skip_unless_owned("mounts a tmpfs on the host") {
        return;
    }
    let bind = c.dir("rosub");
    std::fs::create_dir(bind.join("sub")).unwrap();
    nix::mount::mount(
        Some("tmpfs"),
        &bind.join("sub"),
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .expect("a tmpfs under the bind source");
    let name = c.name("c");
    let image = c.image.clone();
    c.ok(&[
        "create",
        "--name",
        &name,
        "--network",
        "none",
        "-v",
        &format!("{}:/ro:ro", bind.display()),
        &image,
        "true",
    ]);
    let r = c.put(&name, "/", &tar_of(&[("ro/sub/planted", Kind::File("x"))]));
    let planted = bind.join("sub/planted").exists();
    let _ = nix::mount::umount2(&bind.join("sub"), nix::mount::MntFlags::MNT_DETACH);
    assert!(r.status >= 400, "{r:?}");
    assert!(
        !planted,
        "docker cp wrote through a read-only bind's submount"
    );
}
