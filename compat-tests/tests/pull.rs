//! `docker pull` from a local registry (Debian's docker-registry on a free loopback port, with
//! storage in a temp dir): per-layer progress, the pulled image runs, a missing tag fails with
//! "manifest unknown", and a registry out of reach fails quickly. Images are pushed to the
//! registry with skopeo from the test fixture. Checked against Debian's dockerd 20.10 too.

use std::net::TcpListener;
use std::time::Duration;

use compat_tests::registry::Registry;
use compat_tests::{daemon, fixtures};

#[test]
fn pull_from_a_local_registry_then_run() {
    let d = daemon();
    let reg = Registry::start();
    let image = fixtures::test_image("pull-basic");
    let archive = image.docker_archive(&["x/y:z"]);
    reg.push(&archive, "t/busybox:1");
    let reference = format!("127.0.0.1:{}/t/busybox:1", reg.port);

    let out = d.docker(&["pull", &reference]);
    assert!(out.success(), "{}", out.describe());
    assert!(
        out.stdout.contains("1: Pulling from t/busybox"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("Pull complete"), "{}", out.stdout);
    assert!(out.stdout.contains("Digest: sha256:"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains(&format!("Status: Downloaded newer image for {reference}")),
        "{}",
        out.stdout
    );

    // The image ID is the config digest, whatever the transport.
    let id = d.docker(&["image", "inspect", "-f", "{{.Id}}", &reference]);
    assert_eq!(id.stdout.trim(), image.id, "{}", id.describe());
    let digests = d.docker(&[
        "image",
        "inspect",
        "-f",
        "{{json .RepoDigests}}",
        &reference,
    ]);
    assert!(
        digests
            .stdout
            .contains(&format!("127.0.0.1:{}/t/busybox@sha256:", reg.port)),
        "{}",
        digests.stdout
    );

    let run = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &reference,
        "echo",
        "pulled",
    ]);
    assert!(run.success(), "{}", run.describe());
    assert_eq!(run.stdout, "pulled\n");

    let _ = d.docker(&["rmi", "-f", &reference]);
}

#[test]
fn missing_tags_and_unreachable_registries_fail_cleanly() {
    let d = daemon();
    let reg = Registry::start();
    let image = fixtures::test_image("pull-missing");
    reg.push(&image.docker_archive(&["x/y:z"]), "t/busybox:1");

    let out = d.docker(&["pull", &format!("127.0.0.1:{}/t/busybox:nope", reg.port)]);
    assert_eq!(out.status, 1, "{}", out.describe());
    assert!(
        out.stderr.contains("manifest unknown"),
        "{}",
        out.describe()
    );

    // Nothing listens on this port: the pull must fail, not hang.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = d.docker_timeout(
        &["pull", &format!("127.0.0.1:{closed}/t/busybox:1")],
        Duration::from_secs(60),
    );
    assert!(!out.success() && !out.timed_out, "{}", out.describe());
}

#[test]
fn distribution_inspect_asks_the_registry() {
    let d = daemon();
    let reg = Registry::start();
    let image = fixtures::test_image("pull-distribution");
    reg.push(&image.docker_archive(&["x/y:z"]), "t/busybox:1");
    let name = format!("127.0.0.1:{}/t/busybox:1", reg.port);
    let (status, v) = d.get_json(&format!("/distribution/{name}/json"));
    assert_eq!(status, 200, "{v}");
    assert!(
        v["Descriptor"]["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{v}"
    );
    assert!(
        v["Descriptor"]["size"].as_i64().is_some_and(|n| n > 0),
        "{v}"
    );
    assert_eq!(v["Platforms"][0]["os"], "linux", "{v}");
    assert_eq!(v["Platforms"][0]["architecture"], "amd64", "{v}");
    // The digest is the one a pull records.
    let out = d.docker(&["pull", &name]);
    assert!(out.success(), "{}", out.describe());
    let digest = v["Descriptor"]["digest"].as_str().unwrap();
    assert!(
        out.stdout.contains(&format!("Digest: {digest}")),
        "{}",
        out.stdout
    );
    let _ = d.docker(&["rmi", "-f", &name]);
}

#[test]
fn search_fails_at_once_without_a_hub() {
    let d = daemon();
    let out = d.docker_timeout(&["search", "busybox"], Duration::from_secs(60));
    assert!(!out.success() && !out.timed_out, "{}", out.describe());
}

#[test]
fn push_then_pull_back_gives_the_same_image() {
    let d = daemon();
    let reg = Registry::start();
    let image = fixtures::test_image("push-roundtrip");
    let local = "berth-test/busybox:push-roundtrip";
    let out = d.docker(&[
        "load",
        "-i",
        image.docker_archive(&[local]).to_str().unwrap(),
    ]);
    assert!(out.success(), "{}", out.describe());
    let remote = format!("127.0.0.1:{}/t/pushed:1", reg.port);
    assert!(d.docker(&["tag", local, &remote]).success());

    let out = d.docker(&["push", &remote]);
    assert!(out.success(), "{}", out.describe());
    assert!(
        out.stdout.contains(&format!(
            "The push refers to repository [127.0.0.1:{}/t/pushed]",
            reg.port
        )),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("Pushed"), "{}", out.stdout);
    assert!(out.stdout.contains("1: digest: sha256:"), "{}", out.stdout);

    // A second push finds every layer there already.
    let again = d.docker(&["push", &remote]);
    assert!(again.success(), "{}", again.describe());
    assert!(
        again.stdout.contains("Layer already exists"),
        "{}",
        again.stdout
    );

    assert!(d.docker(&["rmi", &remote]).success());
    let _ = d.docker(&["rmi", local]);
    let out = d.docker(&["pull", &remote]);
    assert!(out.success(), "{}", out.describe());
    let id = d.docker(&["image", "inspect", "-f", "{{.Id}}", &remote]);
    assert_eq!(id.stdout.trim(), image.id, "{}", id.describe());
    let _ = d.docker(&["rmi", "-f", &remote]);

    let missing = d.docker(&["push", &format!("127.0.0.1:{}/t/nosuch:1", reg.port)]);
    assert!(!missing.success(), "{}", missing.describe());
    assert!(
        missing.stderr.contains("does not exist locally"),
        "{}",
        missing.describe()
    );
}

fn registry_auth_header(user: &str, password: &str) -> String {
    // base64url of the JSON, as the CLI sends it.
    let json = format!(r#"{{"username":"{user}","password":"{password}"}}"#);
    let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = json.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(table[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn credentials_from_x_registry_auth_reach_the_registry() {
    let d = daemon();
    let reg = Registry::start_with(Some(("berth", "s3cret")));
    let image = fixtures::test_image("pull-auth");
    reg.push_as(
        &image.docker_archive(&["x/y:z"]),
        "t/private:1",
        Some("berth:s3cret"),
    );
    let path = format!(
        "/images/create?fromImage=127.0.0.1:{}/t/private&tag=1",
        reg.port
    );

    // Wrong password: refused, either as an HTTP error (dockerd 20.10) or in the stream.
    let bad = registry_auth_header("berth", "wrong");
    let r = d.request("POST", &path, &[("X-Registry-Auth", &bad)], b"");
    let body = String::from_utf8_lossy(&r.body).to_string();
    assert!(
        r.status >= 400 || body.contains("errorDetail"),
        "{} {body}",
        r.status
    );
    assert!(
        body.contains("unauthorized") || body.contains("denied") || body.contains("authentication"),
        "{body}"
    );

    let good = registry_auth_header("berth", "s3cret");
    let r = d.request("POST", &path, &[("X-Registry-Auth", &good)], b"");
    let body = String::from_utf8_lossy(&r.body).to_string();
    assert_eq!(r.status, 200, "{body}");
    assert!(!body.contains("errorDetail"), "{body}");
    let id = d.docker(&[
        "image",
        "inspect",
        "-f",
        "{{.Id}}",
        &format!("127.0.0.1:{}/t/private:1", reg.port),
    ]);
    assert_eq!(id.stdout.trim(), image.id, "{}", id.describe());
    let _ = d.docker(&["rmi", "-f", &format!("127.0.0.1:{}/t/private:1", reg.port)]);
}

#[test]
fn docker_login_then_push_and_pull_with_the_stored_credentials() {
    let d = daemon();
    let reg = Registry::start_with(Some(("berth", "s3cret")));
    let server = format!("127.0.0.1:{}", reg.port);
    let bad = d.docker(&["login", &server, "-u", "berth", "-p", "wrong"]);
    assert!(!bad.success(), "{}", bad.describe());
    let ok = d.docker(&["login", &server, "-u", "berth", "-p", "s3cret"]);
    assert!(ok.success(), "{}", ok.describe());
    assert!(ok.stdout.contains("Login Succeeded"), "{}", ok.describe());

    let image = fixtures::test_image("login-push");
    let local = "berth-test/busybox:login-push";
    assert!(
        d.docker(&[
            "load",
            "-i",
            image.docker_archive(&[local]).to_str().unwrap()
        ])
        .success()
    );
    let remote = format!("{server}/t/login:1");
    assert!(d.docker(&["tag", local, &remote]).success());
    let push = d.docker(&["push", &remote]);
    assert!(push.success(), "{}", push.describe());
    assert!(d.docker(&["rmi", &remote]).success());
    let pull = d.docker(&["pull", &remote]);
    assert!(pull.success(), "{}", pull.describe());
    let _ = d.docker(&["rmi", "-f", &remote, local]);
    let _ = d.docker(&["logout", &server]);
}
