//! `docker diff`, `docker export` and `docker commit`: a container's changes, its whole
//! filesystem as a tar, and a new image made from it. Checked against Debian's dockerd 20.10.

use std::collections::BTreeSet;

use compat_tests::{Daemon, daemon};
use serde_json::Value;

struct Ctx {
    d: Daemon,
    image: String,
    test: String,
    names: Vec<String>,
    images: Vec<String>,
}

fn setup(test: &str) -> Ctx {
    let d = daemon();
    let tag = d.load_test_image(&format!("fs-{test}"));
    Ctx {
        d,
        image: tag,
        test: test.to_string(),
        names: vec![],
        images: vec![],
    }
}

impl Ctx {
    fn name(&mut self, what: &str) -> String {
        let n = format!("bct-fs-{}-{}-{what}", std::process::id(), self.test);
        self.names.push(n.clone());
        n
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = self.d.docker(&["rm", "-f", n]);
        }
        for i in &self.images {
            let _ = self.d.docker(&["rmi", "-f", i]);
        }
        if !self.d.owned() {
            let _ = self.d.docker(&["rmi", "-f", &self.image]);
        }
    }
}

const SCRIPT: &str =
    "touch /tmp/a; mkdir -p /new/sub; echo x > /new/sub/f; rm /bin/ls; echo 1 >> /etc/passwd";

#[test]
fn diff_reports_added_changed_and_deleted_paths() {
    let mut c = setup("diff");
    let fresh = c.name("fresh");
    let out =
        c.d.docker(&["create", "--name", &fresh, "--network", "none", &c.image]);
    assert!(out.success(), "{}", out.describe());
    // Nothing changed yet: moby answers null, not an empty list (and the mount points of
    // the init layer are not changes).
    let (status, v) = c.d.get_json(&format!("/containers/{fresh}/changes"));
    assert_eq!((status, v), (200, Value::Null));

    let name = c.name("changed");
    let out = c.d.docker(&[
        "run",
        "--name",
        &name,
        "--network",
        "none",
        &c.image,
        "sh",
        "-c",
        SCRIPT,
    ]);
    assert!(out.success(), "{}", out.describe());
    let out = c.d.docker(&["diff", &name]);
    assert!(out.success(), "{}", out.describe());
    let got: BTreeSet<&str> = out.stdout.lines().collect();
    let want: BTreeSet<&str> = [
        "C /etc",
        "C /etc/passwd",
        "A /new",
        "A /new/sub",
        "A /new/sub/f",
        "C /tmp",
        "A /tmp/a",
        "C /bin",
        "D /bin/ls",
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
    assert_eq!(c.d.get("/containers/bct-fs-no-such/changes").status, 404);
}

#[test]
fn export_is_a_tar_of_the_whole_filesystem() {
    let mut c = setup("export");
    let name = c.name("exp");
    let out = c.d.docker(&[
        "run",
        "--name",
        &name,
        "--network",
        "none",
        &c.image,
        "sh",
        "-c",
        SCRIPT,
    ]);
    assert!(out.success(), "{}", out.describe());
    let r = c.d.get(&format!("/containers/{name}/export"));
    assert_eq!(r.status, 200, "{}", r.describe());
    let mut archive = tar::Archive::new(&r.body[..]);
    let mut paths = BTreeSet::new();
    let mut hello = String::new();
    for entry in archive.entries().expect("a tar") {
        let mut entry = entry.expect("a tar entry");
        let path = entry.path().unwrap().display().to_string();
        if path == "new/sub/f" {
            use std::io::Read as _;
            entry.read_to_string(&mut hello).unwrap();
        }
        paths.insert(path);
    }
    for want in [
        "bin/busybox",
        "etc/passwd",
        "new/sub/f",
        "tmp/a",
        ".dockerenv",
    ] {
        assert!(paths.contains(want), "{want} missing from {paths:?}");
    }
    assert!(
        paths.contains("bin/") && paths.contains("new/"),
        "directories end in /"
    );
    assert!(!paths.contains("bin/ls"), "a deleted file was exported");
    assert_eq!(hello, "x\n");

    // A running container exports too, without disturbing it.
    let running = c.name("running");
    let out = c.d.docker(&[
        "run",
        "-d",
        "--name",
        &running,
        "--network",
        "none",
        &c.image,
        "sleep",
        "300",
    ]);
    assert!(out.success(), "{}", out.describe());
    let r = c.d.get(&format!("/containers/{running}/export"));
    assert_eq!(r.status, 200);
    assert!(tar::Archive::new(&r.body[..]).entries().unwrap().count() > 10);
    assert!(c.d.docker(&["exec", &running, "true"]).success());
    assert_eq!(c.d.get("/containers/bct-fs-no-such/export").status, 404);
}

#[test]
fn commit_makes_a_runnable_image_from_the_container() {
    let mut c = setup("commit");
    let name = c.name("src");
    let out = c.d.docker(&[
        "run",
        "--name",
        &name,
        "--network",
        "none",
        &c.image,
        "sh",
        "-c",
        "echo committed > /hello; rm /bin/ls",
    ]);
    assert!(out.success(), "{}", out.describe());
    let tag = format!("bct-committed-{}:1", std::process::id());
    c.images.push(tag.clone());
    let out = c.d.docker(&[
        "commit",
        "-c",
        "CMD [\"cat\", \"/hello\"]",
        "-c",
        "ENV FOO=bar",
        "-m",
        "my msg",
        "-a",
        "me",
        &name,
        &tag,
    ]);
    assert!(out.success(), "{}", out.describe());
    let id = out.stdout.trim().to_string();
    assert!(id.starts_with("sha256:"), "{id}");

    let out = c.d.docker(&["run", "--rm", "--network", "none", &tag]);
    assert_eq!(out.stdout, "committed\n", "{}", out.describe());
    let out = c.d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &tag,
        "sh",
        "-c",
        "echo $FOO; test -e /bin/ls || echo gone",
    ]);
    assert_eq!(out.stdout, "bar\ngone\n", "{}", out.describe());

    let (_, img) = c.d.get_json(&format!("/v1.41/images/{tag}/json"));
    assert_eq!(img["Id"], id.as_str());
    assert_eq!(img["Author"], "me");
    assert_eq!(img["Comment"], "my msg");
    assert_eq!(img["Config"]["Cmd"], serde_json::json!(["cat", "/hello"]));
    let (_, base) = c.d.get_json(&format!("/v1.41/images/{}/json", c.image));
    assert_eq!(
        img["RootFS"]["Layers"].as_array().unwrap().len(),
        base["RootFS"]["Layers"].as_array().unwrap().len() + 1
    );
    let out = c.d.docker(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.Comment}}|{{.CreatedBy}}",
        &tag,
    ]);
    let first = out.stdout.lines().next().unwrap_or("");
    assert_eq!(
        first,
        "my msg|sh -c echo committed > /hello; rm /bin/ls",
        "{}",
        out.describe()
    );

    // Committing a running container pauses it for a moment and leaves it running.
    let running = c.name("running");
    let out = c.d.docker(&[
        "run",
        "-d",
        "--name",
        &running,
        "--network",
        "none",
        &c.image,
        "sh",
        "-c",
        "echo y > /y; sleep 300",
    ]);
    assert!(out.success(), "{}", out.describe());
    let out = c.d.docker(&["commit", &running]);
    assert!(out.success(), "{}", out.describe());
    c.images.push(out.stdout.trim().to_string());
    let (_, v) = c.d.get_json(&format!("/containers/{running}/json"));
    assert_eq!(v["State"]["Status"], "running");

    let r =
        c.d.request("POST", "/commit?container=bct-fs-no-such", &[], b"");
    assert_eq!(r.status, 404, "{}", r.describe());
}
