//! `docker exec` through the stock CLI: output and exit codes, stdin, detached execs, exec
//! inspect, and the errors for missing commands and stopped containers. Every expectation
//! was first checked against Debian's dockerd 20.10 (run with `--bridge=none`, hence
//! `--network none` everywhere).

use std::io::Write as _;
use std::process::Stdio;
use std::time::Duration;

use compat_tests::{Daemon, cli, daemon};

struct Ctx {
    d: Daemon,
    image: String,
    container: String,
}

/// Loads a test image and starts a long-running container from it.
fn setup(test: &str) -> Ctx {
    let d = daemon();
    let tag = d.load_test_image(&format!("exec-{test}"));
    let container = format!("bct-exec-{}-{test}", std::process::id());
    let out = d.docker(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        &container,
        &tag,
        "sleep",
        "300",
    ]);
    assert!(out.success(), "docker run -d\n{}", out.describe());
    Ctx {
        d,
        image: tag,
        container,
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        if self.d.owned() {
            return;
        }
        let _ = self.d.docker(&["rm", "-f", &self.container]);
        let _ = self.d.docker(&["rmi", &self.image]);
    }
}

#[test]
fn exec_output_streams_and_exit_code() {
    let c = setup("output");
    let out = c.d.docker(&[
        "exec",
        &c.container,
        "sh",
        "-c",
        "echo out; echo err >&2; exit 4",
    ]);
    assert_eq!(out.status, 4, "{}", out.describe());
    assert_eq!(out.stdout, "out\n");
    assert_eq!(out.stderr, "err\n");
}

#[test]
fn exec_interactive_passes_stdin_and_closes_it() {
    let c = setup("stdin");
    let config = std::env::temp_dir().join(format!("bct-exec-config-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&config);
    let mut cmd = cli::docker_command(
        &c.d.docker_host(),
        &config,
        &["exec", "-i", &c.container, "cat"],
    );
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn docker exec -i");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"piped through\n")
        .expect("write stdin");
    // Dropping stdin closes it: cat must see EOF and exit.
    let out = child.wait_with_output().expect("docker exec -i");
    let _ = std::fs::remove_dir_all(&config);
    assert!(out.status.success(), "{:?}", out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "piped through\n");
}

#[test]
fn exec_of_a_missing_command_exits_126() {
    let c = setup("missing");
    let out = c.d.docker(&["exec", &c.container, "nosuchcmd"]);
    assert_eq!(out.status, 126, "{}", out.describe());
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains("exec: \"nosuchcmd\": executable file not found in $PATH"),
        "{text}"
    );
}

#[test]
fn detached_exec_runs_and_inspect_reports_it() {
    let c = setup("detached");
    let out = c.d.docker(&[
        "exec",
        "-d",
        &c.container,
        "sh",
        "-c",
        "echo done > /tmp/marker",
    ]);
    assert!(out.success(), "{}", out.describe());
    // The detached exec finishes on its own; its effect is visible to the next one.
    let mut seen = String::new();
    for _ in 0..50 {
        seen =
            c.d.docker(&["exec", &c.container, "cat", "/tmp/marker"])
                .stdout;
        if seen == "done\n" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(seen, "done\n");

    // Raw API: create, start detached, then inspect shows the exit code.
    let body = serde_json::json!({"Cmd": ["sh", "-c", "exit 3"], "AttachStdout": true});
    let r =
        c.d.post_json(&format!("/containers/{}/exec", c.container), &body);
    let created = r.json();
    assert_eq!(r.status, 201, "{created}");
    let id = created["Id"].as_str().expect("exec Id").to_string();
    let r = c.d.post_json(
        &format!("/exec/{id}/start"),
        &serde_json::json!({"Detach": true}),
    );
    assert_eq!(r.status, 200);
    let mut inspect = serde_json::Value::Null;
    for _ in 0..50 {
        inspect = c.d.get_json(&format!("/exec/{id}/json")).1;
        if inspect["Running"] == false && !inspect["ExitCode"].is_null() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(inspect["ExitCode"], 3, "{inspect}");
    assert_eq!(inspect["ProcessConfig"]["entrypoint"], "sh");
    assert_eq!(inspect["OpenStdout"], true);
    assert!(
        inspect["ContainerID"]
            .as_str()
            .is_some_and(|s| s.len() == 64)
    );
}

#[test]
fn exec_in_a_stopped_container_is_a_conflict() {
    let c = setup("stopped");
    let out = c.d.docker(&["stop", "-t", "0", &c.container]);
    assert!(out.success(), "{}", out.describe());
    let body = serde_json::json!({"Cmd": ["true"]});
    let r =
        c.d.post_json(&format!("/containers/{}/exec", c.container), &body);
    let v = r.json();
    assert_eq!(r.status, 409, "{v}");
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("is not running")),
        "{v}"
    );
    let (status, v) =
        c.d.get_json("/exec/0000000000000000000000000000000000000000000000000000000000000000/json");
    assert_eq!(status, 404, "{v}");
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("No such exec instance")),
        "{v}"
    );
}

#[test]
fn container_inspect_lists_execs_until_they_exit() {
    let c = setup("execids");
    let exec_ids = || {
        let (status, v) = c.d.get_json(&format!("/containers/{}/json", c.container));
        assert_eq!(status, 200, "{v}");
        v["ExecIDs"].clone()
    };
    // None yet: Go writes the empty list as null.
    assert_eq!(exec_ids(), serde_json::Value::Null);
    let create = |cmd: &[&str]| {
        let body = serde_json::json!({"Cmd": cmd, "AttachStdout": true});
        let r =
            c.d.post_json(&format!("/containers/{}/exec", c.container), &body);
        assert_eq!(r.status, 201, "{}", r.describe());
        r.json()["Id"].as_str().expect("exec Id").to_string()
    };
    let created = create(&["true"]);
    let running = create(&["sleep", "300"]);
    let r = c.d.post_json(
        &format!("/exec/{running}/start"),
        &serde_json::json!({"Detach": true}),
    );
    assert_eq!(r.status, 200, "{}", r.describe());
    let mut listed: Vec<String> = serde_json::from_value(exec_ids()).unwrap_or_default();
    listed.sort();
    let mut want = vec![created.clone(), running.clone()];
    want.sort();
    assert_eq!(listed, want, "a created and a running exec are both listed");
    // Once an exec has exited it is no longer the container's.
    let r = c.d.post_json(
        &format!("/exec/{created}/start"),
        &serde_json::json!({"Detach": true}),
    );
    assert_eq!(r.status, 200, "{}", r.describe());
    let mut ids = serde_json::Value::Null;
    for _ in 0..50 {
        ids = exec_ids();
        if ids == serde_json::json!([running]) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(ids, serde_json::json!([running]));
}
