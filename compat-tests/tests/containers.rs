//! Containers: create, start, attach, wait, logs, stop/kill/restart, rm, `--rm`, list, inspect
//! and the events they emit, through the stock docker CLI and raw HTTP.
//!
//! Every expectation here was first observed on Debian's dockerd 20.10.24 (API 1.41, run with
//! `--bridge=none`). Where newer moby (API 1.50, which berthd targets) words a message
//! differently, the comment quotes both and the test asserts what they share.
//!
//! Each test loads its own busybox image ([`fixtures::test_image`], so an image ID no other test
//! shares) under its own tag, names its containers `bct-ctr-<pid>-<test>-<what>`, and removes
//! both when it ends, so the tests can run in parallel on one shared daemon. Containers always
//! get `--network none`: the reference daemon has no bridge.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use compat_tests::{Daemon, Stream, cli, daemon, expect, fixtures, http, unix_now, url_encode};
use serde_json::{Value, json};

/// How long one CLI command may take.
const CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// One test's daemon, image and containers; removes the containers and the image on drop
/// (only on an external daemon: an owned berthd is thrown away with everything in it).
struct Ctx {
    d: Daemon,
    test: String,
    /// The tag the test image was loaded under, e.g. `berth-test/busybox:ctr-logs`.
    image: String,
    /// `sha256:<hex>` of the test image.
    image_id: String,
    /// Names or IDs to `docker rm -f` at the end.
    cleanup: std::cell::RefCell<Vec<String>>,
}

fn setup(test: &str) -> Ctx {
    let d = daemon();
    let image = fixtures::test_image(&format!("containers-{test}"));
    let tag = format!("berth-test/busybox:ctr-{test}");
    let archive = image.docker_archive(&[&tag]);
    let archive = archive.to_str().expect("utf-8 fixture path");
    let out = d.docker_timeout(&["load", "-i", archive], Duration::from_secs(120));
    assert!(
        out.success(),
        "docker load of the test image\n{}",
        out.describe()
    );
    Ctx {
        d,
        test: test.to_string(),
        image: tag,
        image_id: image.id.clone(),
        cleanup: std::cell::RefCell::new(Vec::new()),
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        if self.d.owned() {
            return;
        }
        let names = std::mem::take(&mut *self.cleanup.borrow_mut());
        if !names.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(names.iter().map(String::as_str));
            let _ = self.d.docker_timeout(&args, CLI_TIMEOUT);
        }
        let _ = self.d.docker_timeout(&["rmi", &self.image], CLI_TIMEOUT);
    }
}

impl Ctx {
    /// A container name unique to this process and test, removed again at the end.
    fn name(&self, what: &str) -> String {
        let n = format!("bct-ctr-{}-{}-{what}", std::process::id(), self.test);
        self.cleanup.borrow_mut().push(n.clone());
        n
    }

    /// Registers a container ID (for unnamed containers) for removal at the end.
    fn forget_later(&self, id: &str) {
        self.cleanup.borrow_mut().push(id.to_string());
    }

    fn docker(&self, args: &[&str]) -> cli::Output {
        self.d.docker_timeout(args, CLI_TIMEOUT)
    }

    /// Runs the CLI and asserts exit 0.
    #[track_caller]
    fn docker_ok(&self, args: &[&str]) -> cli::Output {
        let out = self.docker(args);
        assert!(
            out.success(),
            "docker {}\n{}",
            args.join(" "),
            out.describe()
        );
        out
    }

    /// `docker run -d --network none --name NAME IMAGE args...`; returns the container ID.
    #[track_caller]
    fn run_detached(&self, name: &str, cmd: &[&str]) -> String {
        let mut args = vec![
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            name,
            &self.image,
        ];
        args.extend_from_slice(cmd);
        let out = self.docker_ok(&args);
        let id = out.stdout.trim().to_string();
        assert!(is_hex64(&id), "docker run -d printed {:?}", out.stdout);
        id
    }

    /// `GET /containers/{name}/json` (unversioned) as JSON; panics unless 200.
    #[track_caller]
    fn inspect(&self, name: &str) -> Value {
        let r = self.d.get(&format!("/containers/{name}/json"));
        assert_eq!(r.status, 200, "inspect {name}\n{}", r.describe());
        r.json()
    }

    /// Polls until the container is no longer running.
    #[track_caller]
    fn wait_stopped(&self, name: &str, timeout: Duration) {
        let ok = compat_tests::wait_until(timeout, || {
            self.inspect(name)["State"]["Running"] == json!(false)
        });
        assert!(ok, "{name} still running after {timeout:?}");
    }

    /// Polls `docker logs NAME` until `pred` holds; returns the last stdout.
    #[track_caller]
    fn wait_logs(&self, name: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        let ok = compat_tests::wait_until(timeout, || {
            let out = self.docker(&["logs", name]);
            last = out.describe();
            out.success() && pred(&out.stdout)
        });
        assert!(ok, "logs of {name} never satisfied the condition\n{last}");
        self.docker_ok(&["logs", name]).stdout
    }

    /// Runs the CLI with `input` on its stdin (then EOF).
    fn docker_stdin(&self, args: &[&str], input: &[u8]) -> cli::Output {
        let mut child = self.spawn_docker(args, true);
        let mut stdin = child.stdin.take().expect("piped stdin");
        let input = input.to_vec();
        let writer = thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = finish(child, CLI_TIMEOUT);
        let _ = writer.join();
        out
    }

    /// Starts the CLI in the background with piped stdout/stderr (and stdin if asked).
    fn spawn_docker(&self, args: &[&str], stdin: bool) -> Child {
        let config = self.d.dir().join("docker-config");
        let _ = std::fs::create_dir_all(&config);
        let mut cmd = cli::docker_command(&self.d.docker_host(), &config, args);
        cmd.stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.spawn()
            .unwrap_or_else(|e| panic!("cannot run docker {}: {e}", args.join(" ")))
    }

    /// Raw `POST /containers/create[?name=]` with a JSON body.
    fn create_raw(&self, name: Option<&str>, body: &Value) -> http::Response {
        let path = match name {
            Some(n) => format!("/containers/create?name={}", url_encode(n)),
            None => "/containers/create".to_string(),
        };
        self.d.post_json(&path, body)
    }

    /// A minimal create body for this test's image.
    fn create_body(&self, cmd: &[&str]) -> Value {
        json!({
            "Image": self.image,
            "Cmd": cmd,
            "HostConfig": { "NetworkMode": "none" },
        })
    }
}

/// Collects a spawned child's output, killing it (only it) after `timeout`.
fn finish(child: Child, timeout: Duration) -> cli::Output {
    cli::finish(child, timeout, "docker")
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// `2006-01-02T15:04:05.000000000Z`: RFC 3339 with exactly nine fraction digits, in UTC, the
/// prefix `docker logs --timestamps` puts on each line.
fn is_fixed_nano_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 30
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            29 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// Keys of a JSON object, sorted.
fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

#[track_caller]
fn assert_has_keys(what: &str, v: &Value, expected: &[&str]) {
    let have = keys(v);
    let missing: Vec<&&str> = expected.iter().filter(|k| !have.contains(**k)).collect();
    assert!(
        missing.is_empty(),
        "{what} lacks keys {missing:?}; it has {have:?}"
    );
}

/// The `message` of a JSON error response (asserting the JSON error shape).
#[track_caller]
fn error_message(r: &http::Response) -> String {
    assert_eq!(
        r.header("Content-Type"),
        Some("application/json"),
        "{}",
        r.describe()
    );
    r.json()["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message\n{}", r.describe()))
        .to_string()
}

/// Splits a stdcopy stream into (stream byte, payload) frames; panics on a torn frame.
fn stdcopy_frames(mut data: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while !data.is_empty() {
        assert!(data.len() >= 8, "torn stdcopy header: {data:?}");
        let stream = data[0];
        assert!(
            data[1..4] == [0, 0, 0],
            "stdcopy header padding not zero: {:?}",
            &data[..8]
        );
        let len = u32::from_be_bytes([data[4], data[5], data[6], data[7]]) as usize;
        assert!(data.len() >= 8 + len, "torn stdcopy payload");
        frames.push((stream, data[8..8 + len].to_vec()));
        data = &data[8 + len..];
    }
    frames
}

/// Concatenated payloads per stream (1 = stdout, 2 = stderr).
fn demux(frames: &[(u8, Vec<u8>)]) -> (String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    for (stream, payload) in frames {
        match stream {
            1 => out.extend_from_slice(payload),
            2 => err.extend_from_slice(payload),
            other => panic!("unexpected stdcopy stream {other}"),
        }
    }
    (
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

// ---- docker run ----

#[test]
fn run_rm_prints_output_and_removes_the_container() {
    let c = setup("run_rm");
    let n = c.name("fg");
    let out = c.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--name",
        &n,
        &c.image,
        "echo",
        "hi",
    ]);
    assert_eq!(out.status, 0, "{}", out.describe());
    assert_eq!(out.stdout, "hi\n", "{}", out.describe());
    assert_eq!(out.stderr, "", "{}", out.describe());
    // The CLI waits with condition=removed, so the container is gone when it returns.
    let ps = c.docker_ok(&["ps", "-aq", "--filter", &format!("name={n}")]);
    assert_eq!(ps.stdout.trim(), "", "{}", ps.describe());

    // Detached with --rm: AutoRemove is the daemon's job.
    let n = c.name("bg");
    let id = c.run_detached_rm(&n);
    let gone = compat_tests::wait_until(Duration::from_secs(20), || {
        c.d.get(&format!("/containers/{id}/json")).status == 404
    });
    assert!(gone, "--rm -d container {n} still exists after it exited");
}

impl Ctx {
    fn run_detached_rm(&self, name: &str) -> String {
        let out = self.docker_ok(&[
            "run",
            "-d",
            "--rm",
            "--network",
            "none",
            "--name",
            name,
            &self.image,
            "sh",
            "-c",
            "sleep 0.5",
        ]);
        let id = out.stdout.trim().to_string();
        assert!(is_hex64(&id), "{}", out.describe());
        let v = self.d.get(&format!("/containers/{id}/json"));
        if v.status == 200 {
            assert_eq!(v.json()["HostConfig"]["AutoRemove"], json!(true));
        }
        id
    }
}

#[test]
fn run_exit_code_is_propagated_and_recorded() {
    let c = setup("run_exit");
    let n = c.name("x");
    let out = c.docker(&[
        "run",
        "--network",
        "none",
        "--name",
        &n,
        &c.image,
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(out.status, 3, "{}", out.describe());
    let f = c.docker_ok(&["inspect", "-f", "{{.State.ExitCode}} {{.State.Status}}", &n]);
    assert_eq!(f.stdout, "3 exited\n");
    let v = c.inspect(&n);
    assert_eq!(v["State"]["Running"], json!(false));
    assert_eq!(v["State"]["Pid"], json!(0));
    assert_ne!(v["State"]["StartedAt"], json!("0001-01-01T00:00:00Z"));
    assert_ne!(v["State"]["FinishedAt"], json!("0001-01-01T00:00:00Z"));
}

#[test]
fn run_missing_executable_exits_127() {
    let c = setup("run_127");
    let n = c.name("x");
    let out = c.docker(&[
        "run",
        "--network",
        "none",
        "--name",
        &n,
        &c.image,
        "nosuchcmd",
    ]);
    // dockerd 20.10 (runc 1.1) prints on stderr:
    //   docker: Error response from daemon: failed to create shim task: OCI runtime create
    //   failed: runc create failed: unable to start container process: exec: "nosuchcmd":
    //   executable file not found in $PATH: unknown
    // The CLI turns "executable file not found" into exit code 127.
    assert_eq!(out.status, 127, "{}", out.describe());
    let stable = "exec: \"nosuchcmd\": executable file not found in $PATH";
    assert!(out.stderr.contains(stable), "{}", out.describe());
    assert!(
        out.stderr.contains("Error response from daemon: "),
        "{}",
        out.describe()
    );
    // The container stays `created`, with the exit code and the error recorded.
    let v = c.inspect(&n);
    assert_eq!(v["State"]["Status"], json!("created"), "{}", v["State"]);
    assert_eq!(v["State"]["ExitCode"], json!(127), "{}", v["State"]);
    assert!(
        v["State"]["Error"]
            .as_str()
            .is_some_and(|e| e.contains(stable)),
        "{}",
        v["State"]
    );
    assert_eq!(v["State"]["StartedAt"], json!("0001-01-01T00:00:00Z"));
    // Starting it again fails the same way, as a 400.
    let r =
        c.d.request("POST", &format!("/containers/{n}/start"), &[], b"");
    assert_eq!(r.status, 400, "{}", r.describe());
    assert!(error_message(&r).contains(stable), "{}", r.describe());
}

#[test]
fn run_interactive_passes_stdin() {
    let c = setup("run_stdin");
    let out = c.docker_stdin(
        &["run", "-i", "--rm", "--network", "none", &c.image, "cat"],
        b"hello\n",
    );
    assert_eq!(out.status, 0, "{}", out.describe());
    assert_eq!(out.stdout, "hello\n", "{}", out.describe());
    assert_eq!(out.stderr, "", "{}", out.describe());
}

#[test]
fn run_keeps_stdout_and_stderr_apart() {
    let c = setup("run_streams");
    let out = c.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &c.image,
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert_eq!(out.status, 0, "{}", out.describe());
    assert_eq!(out.stdout, "out\n", "{}", out.describe());
    assert_eq!(out.stderr, "err\n", "{}", out.describe());

    // With a TTY there is one raw stream: both lines on stdout, with the tty's \r\n.
    let out = c.docker(&[
        "run",
        "-t",
        "--rm",
        "--network",
        "none",
        &c.image,
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert_eq!(out.status, 0, "{}", out.describe());
    assert_eq!(out.stdout, "out\r\nerr\r\n", "{}", out.describe());
    assert_eq!(out.stderr, "", "{}", out.describe());
}

#[test]
fn run_merges_image_config_and_generates_a_name() {
    let c = setup("merge");
    let out = c.docker_ok(&[
        "create",
        "--network",
        "none",
        "-e",
        "FOO=bar",
        "--label",
        "x=y",
        &c.image,
    ]);
    let id = out.stdout.trim().to_string();
    assert!(is_hex64(&id), "{}", out.describe());
    c.forget_later(&id);
    let v = c.inspect(&id);
    // moby's generated names are `adjective_surname`, with a digit appended on a retry.
    let name = v["Name"].as_str().unwrap_or_default();
    let bare = name
        .strip_prefix('/')
        .unwrap_or_else(|| panic!("Name {name:?}"));
    let (adj, rest) = bare
        .split_once('_')
        .unwrap_or_else(|| panic!("generated name {name:?} is not adjective_surname"));
    assert!(
        !adj.is_empty() && adj.bytes().all(|b| b.is_ascii_lowercase()),
        "{name:?}"
    );
    let surname = rest.trim_end_matches(|c: char| c.is_ascii_digit());
    assert!(
        !surname.is_empty() && surname.bytes().all(|b| b.is_ascii_lowercase()),
        "{name:?}"
    );
    assert_eq!(v["Id"], json!(id));
    assert_eq!(v["Image"], json!(c.image_id));
    assert_eq!(v["Config"]["Image"], json!(c.image));
    // Cmd comes from the image; Path/Args split it.
    assert_eq!(v["Config"]["Cmd"], json!(["sh"]));
    assert_eq!(v["Path"], json!("sh"));
    assert_eq!(v["Args"], json!([]));
    assert_eq!(v["Config"]["Entrypoint"], Value::Null);
    // User env first, then the image's variables the user did not set.
    assert_eq!(v["Config"]["Env"], json!(["FOO=bar", fixtures::PATH_ENV]));
    // Image labels and container labels together.
    assert_eq!(
        v["Config"]["Labels"],
        json!({ fixtures::TEST_LABEL: "containers-merge", "x": "y" })
    );
    assert_eq!(v["Config"]["Hostname"], json!(&id[..12]));
    assert_eq!(v["State"]["Status"], json!("created"));
    assert_eq!(v["State"]["StartedAt"], json!("0001-01-01T00:00:00Z"));
    assert_eq!(v["State"]["FinishedAt"], json!("0001-01-01T00:00:00Z"));

    // The process sees the merged environment plus HOSTNAME and HOME.
    let out = c.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-e",
        "FOO=bar",
        &c.image,
        "env",
    ]);
    let vars: BTreeSet<&str> = out.stdout.lines().collect();
    for want in ["FOO=bar", fixtures::PATH_ENV, "HOME=/root"] {
        assert!(vars.contains(want), "{want} missing\n{}", out.describe());
    }
    let host = vars
        .iter()
        .find_map(|l| l.strip_prefix("HOSTNAME="))
        .unwrap_or_else(|| panic!("no HOSTNAME\n{}", out.describe()));
    assert!(
        host.len() == 12 && host.bytes().all(|b| b.is_ascii_hexdigit()),
        "HOSTNAME={host}"
    );
}

// ---- attach ----

#[test]
fn attach_hijacks_and_multiplexes_stdout_and_stderr() {
    let c = setup("attach");
    let n = c.name("a");
    let mut body = c.create_body(&["sh", "-c", "echo out; sleep 0.2; echo err >&2"]);
    body["AttachStdout"] = json!(true);
    body["AttachStderr"] = json!(true);
    let r = c.create_raw(Some(&n), &body);
    assert_eq!(r.status, 201, "{}", r.describe());

    let (head, mut reader) = attach_stream(&c.d, &n);
    // dockerd 20.10 at /v1.41:
    //   HTTP/1.1 101 UPGRADED
    //   Content-Type: application/vnd.docker.raw-stream
    //   Connection: Upgrade
    //   Upgrade: tcp
    assert_eq!(head[0], "HTTP/1.1 101 UPGRADED", "{head:?}");
    let header = |name: &str| {
        head[1..].iter().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    assert_eq!(
        header("Content-Type").as_deref(),
        Some("application/vnd.docker.raw-stream"),
        "{head:?}"
    );
    assert_eq!(header("Connection").as_deref(), Some("Upgrade"), "{head:?}");
    assert_eq!(header("Upgrade").as_deref(), Some("tcp"), "{head:?}");

    let r =
        c.d.request("POST", &format!("/containers/{n}/start"), &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
    let mut data = Vec::new();
    reader
        .read_to_end(&mut data)
        .expect("attach stream ends when the container exits");
    let frames = stdcopy_frames(&data);
    let (out, err) = demux(&frames);
    assert_eq!(out, "out\n", "frames {frames:?}");
    assert_eq!(err, "err\n", "frames {frames:?}");
}

/// Sends `request` (a whole raw HTTP request asking to upgrade) on a fresh connection;
/// returns the response head's lines and the connection, positioned after the head.
fn upgrade(d: &Daemon, request: &str) -> (Vec<String>, BufReader<UnixStream>) {
    let mut s = UnixStream::connect(d.socket_path()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(request.as_bytes())
        .expect("send upgrade request");
    let mut reader = BufReader::new(s);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).expect("read upgrade answer");
        assert!(n > 0, "EOF in the upgrade answer's head: {head:?}");
        if line == "\r\n" {
            break;
        }
        head.push(line.trim_end().to_string());
    }
    (head, reader)
}

/// Opens `POST /v1.41/containers/{name}/attach?stream=1&stdout=1&stderr=1` on a hijacked
/// connection; returns the response head's lines and the connection.
fn attach_stream(d: &Daemon, name: &str) -> (Vec<String>, BufReader<UnixStream>) {
    upgrade(
        d,
        &format!(
            "POST /v1.41/containers/{name}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\n\
             Host: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\
             Content-Type: text/plain\r\n\r\n"
        ),
    )
}

/// An attach that comes after the process exited, while the exit is still being recorded,
/// follows the next run: compose 1.29's one-off runs attach after the start and start again
/// a container that has stopped by then, and show what the attach carries. dockerd's exit
/// handling holds the container's lock, which the attach waits for; on an owned berthd the
/// pause hook holds the exit just before it is recorded so that the attach lands there.
#[test]
fn an_attach_while_an_exit_is_recorded_follows_the_next_run() {
    let mut c = setup("attach-next");
    if c.d.owned() && !c.d.is_dockerd() {
        c.d.restart_pausing_at("exit:before-recorded");
    }
    let n = c.name("a");
    let mut body = c.create_body(&["echo", "a-run"]);
    body["AttachStdout"] = json!(true);
    body["AttachStderr"] = json!(true);
    let r = c.create_raw(Some(&n), &body);
    assert_eq!(r.status, 201, "{}", r.describe());
    let start = || {
        let r =
            c.d.request("POST", &format!("/containers/{n}/start"), &[], b"");
        assert_eq!(r.status, 204, "{}", r.describe());
    };
    start();
    // The process is gone by then; on the paused berthd its exit is not yet recorded.
    std::thread::sleep(Duration::from_millis(200));
    let (head, mut reader) = attach_stream(&c.d, &n);
    assert_eq!(head[0], "HTTP/1.1 101 UPGRADED", "{head:?}");
    let state = c.inspect(&n)["State"].clone();
    assert_eq!(state["Running"], json!(false), "once attached: {state}");
    start();
    let mut data = Vec::new();
    reader
        .read_to_end(&mut data)
        .expect("attach stream ends when the second run exits");
    let (out, _) = demux(&stdcopy_frames(&data));
    assert_eq!(out, "a-run\n", "the attach carries the second run");
}

/// Opens `GET path` as a WebSocket on the daemon's socket; returns the response head's
/// lines and the connection.
fn websocket(d: &Daemon, path: &str) -> (Vec<String>, BufReader<UnixStream>) {
    // The key and accept value of RFC 6455's own example.
    upgrade(
        d,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        ),
    )
}

/// Reads one unmasked server frame: (opcode, payload).
fn ws_frame(r: &mut impl Read) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    r.read_exact(&mut h).expect("frame header");
    assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).expect("length");
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            r.read_exact(&mut b).expect("length");
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).expect("payload");
    (h[0] & 0x0f, payload)
}

/// A masked client frame, as RFC 6455 requires of clients.
fn ws_client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    let mut out = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// `attach/ws`: raw stdio over a WebSocket, binary frames from API 1.28 (text below), stdin
/// from the client's frames; below 1.42 every stream is attached whatever the query says.
#[test]
fn attach_over_a_websocket_carries_raw_stdio_both_ways() {
    let c = setup("attachws");
    let n = c.name("cat");
    let mut body = c.create_body(&["cat"]);
    body["OpenStdin"] = json!(true);
    let r = c.create_raw(Some(&n), &body);
    assert_eq!(r.status, 201, "{}", r.describe());
    // No stdin/stdout parameter at all: below 1.42 both are attached anyway.
    let (head, mut ws) = websocket(&c.d, &format!("/v1.41/containers/{n}/attach/ws?stream=1"));
    assert!(head[0].starts_with("HTTP/1.1 101"), "{head:?}");
    let header = |name: &str| {
        head[1..].iter().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    assert_eq!(
        header("Sec-WebSocket-Accept").as_deref(),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "{head:?}"
    );
    assert_eq!(
        header("Upgrade").map(|u| u.to_ascii_lowercase()).as_deref(),
        Some("websocket"),
        "{head:?}"
    );
    let r =
        c.d.request("POST", &format!("/containers/{n}/start"), &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
    ws.get_mut()
        .write_all(&ws_client_frame(0x2, b"over the socket\n"))
        .expect("send stdin");
    let mut echoed = Vec::new();
    while echoed.len() < "over the socket\n".len() {
        let (opcode, payload) = ws_frame(&mut ws);
        assert_eq!(opcode, 0x2, "binary frames at 1.41: {payload:?}");
        echoed.extend(payload);
    }
    assert_eq!(String::from_utf8_lossy(&echoed), "over the socket\n");

    let n = c.name("echo");
    let r = c.create_raw(Some(&n), &c.create_body(&["echo", "-n", "from echo"]));
    assert_eq!(r.status, 201, "{}", r.describe());
    let (head, mut ws) = websocket(
        &c.d,
        &format!("/v1.27/containers/{n}/attach/ws?stream=1&stdout=1"),
    );
    assert!(head[0].starts_with("HTTP/1.1 101"), "{head:?}");
    let r =
        c.d.request("POST", &format!("/containers/{n}/start"), &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
    let (opcode, payload) = ws_frame(&mut ws);
    assert_eq!(opcode, 0x1, "text frames below 1.28: {payload:?}");
    assert_eq!(String::from_utf8_lossy(&payload), "from echo");
}

// ---- logs, stop ----

#[test]
fn logs_tail_timestamps_follow_then_stop() {
    let c = setup("logs");
    let n = c.name("tick");
    c.run_detached(&n, &["sh", "-c", "while true; do echo tick; sleep 1; done"]);
    let all = c.wait_logs(&n, Duration::from_secs(20), |s| s.lines().count() >= 3);
    assert!(all.lines().all(|l| l == "tick"), "{all:?}");

    let out = c.docker_ok(&["logs", "--tail", "1", &n]);
    assert_eq!(out.stdout, "tick\n", "{}", out.describe());
    let out = c.docker_ok(&["logs", "--tail", "0", &n]);
    assert_eq!(out.stdout, "", "{}", out.describe());

    // `2026-11-22T06:45:48.292758975Z tick`: nine fraction digits always.
    let out = c.docker_ok(&["logs", "--timestamps", "--tail", "2", &n]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.describe());
    for l in &lines {
        let (ts, text) = l.split_once(' ').unwrap_or_else(|| panic!("{l:?}"));
        assert!(is_fixed_nano_timestamp(ts), "timestamp {ts:?} in {l:?}");
        assert_eq!(text, "tick", "{l:?}");
    }
    assert!(lines[0] < lines[1], "timestamps not increasing: {lines:?}");
    // Every line, not just two: a formatter that trims trailing zeros (RFC3339Nano) only
    // shows on the lines whose nanoseconds end in 0.
    let out = c.docker_ok(&["logs", "--timestamps", &n]);
    for l in out.stdout.lines() {
        let ts = l.split_once(' ').map_or(l, |(ts, _)| ts);
        assert!(is_fixed_nano_timestamp(ts), "timestamp {ts:?} in {l:?}");
    }

    // -f streams lines as they are written.
    let mut child = c.spawn_docker(&["logs", "-f", "--tail", "0", &n], false);
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while got.len() < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => got.push(line),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    assert_eq!(got, ["tick", "tick"], "docker logs -f");

    // sh as PID 1 ignores SIGTERM: stop waits the 2 s, then SIGKILLs.
    let t = Instant::now();
    let out = c.docker_ok(&["stop", "-t", "2", &n]);
    let took = t.elapsed();
    assert_eq!(out.stdout, format!("{n}\n"));
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_secs(15),
        "docker stop -t 2 took {took:?}"
    );
    let f = c.docker_ok(&["inspect", "-f", "{{.State.ExitCode}} {{.State.Status}}", &n]);
    assert_eq!(f.stdout, "137 exited\n");
    let ps = c.docker_ok(&[
        "ps",
        "-a",
        "--filter",
        &format!("name={n}"),
        "--format",
        "{{.Status}}",
    ]);
    assert!(ps.stdout.starts_with("Exited (137) "), "{}", ps.describe());
    // The log survives the container's exit.
    let after = c.docker_ok(&["logs", &n]).stdout;
    assert!(after.lines().count() >= 3, "{after:?}");
    assert!(after.lines().all(|l| l == "tick"), "{after:?}");
}

#[test]
fn logs_raw_endpoint_is_multiplexed_and_validates_streams() {
    let c = setup("logs_raw");
    let n = c.name("x");
    let out = c.docker(&[
        "run",
        "--network",
        "none",
        "--name",
        &n,
        &c.image,
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert_eq!(out.status, 0, "{}", out.describe());
    let r = c.d.get(&format!("/containers/{n}/logs?stdout=1&stderr=1"));
    assert_eq!(r.status, 200, "{}", r.describe());
    let (o, e) = demux(&stdcopy_frames(&r.body));
    assert_eq!((o.as_str(), e.as_str()), ("out\n", "err\n"));
    let r = c.d.get(&format!("/containers/{n}/logs?stderr=1"));
    assert_eq!(
        demux(&stdcopy_frames(&r.body)),
        (String::new(), "err\n".into())
    );
    // Neither stream: 400. dockerd 20.10: "Bad parameters: you must choose at least one
    // stream"; newer moby: "must specify at least one of 'stdout' or 'stderr'".
    let r = c.d.get(&format!("/containers/{n}/logs"));
    assert_eq!(r.status, 400, "{}", r.describe());
    error_message(&r);
}

// ---- kill ----

#[test]
fn kill_delivers_signals_and_refuses_stopped_containers() {
    let c = setup("kill");
    let n = c.name("trap");
    let id = c.run_detached(
        &n,
        &[
            "sh",
            "-c",
            "trap 'echo got; exit 5' USR1; echo ready; while true; do sleep 0.1; done",
        ],
    );
    c.wait_logs(&n, Duration::from_secs(20), |s| s.contains("ready"));
    let out = c.docker_ok(&["kill", "-s", "USR1", &n]);
    assert_eq!(out.stdout, format!("{n}\n"));
    let w = c.docker_ok(&["wait", &n]);
    assert_eq!(w.stdout, "5\n", "{}", w.describe());
    let logs = c.docker_ok(&["logs", &n]).stdout;
    assert!(logs.lines().any(|l| l == "got"), "{logs:?}");

    // dockerd 20.10: `Error response from daemon: Cannot kill container: NAME: Container ID
    // is not running`; newer moby: `cannot kill container: NAME: container ID is not running`.
    let out = c.docker(&["kill", &n]);
    assert_eq!(out.status, 1, "{}", out.describe());
    let want = format!("cannot kill container: {n}: container {id} is not running");
    assert!(
        out.stderr.to_lowercase().contains(&want),
        "want {want:?}\n{}",
        out.describe()
    );
    let r =
        c.d.request("POST", &format!("/containers/{n}/kill"), &[], b"");
    assert_eq!(r.status, 409, "{}", r.describe());
    assert_eq!(error_message(&r).to_lowercase(), want, "{}", r.describe());

    // A plain `docker kill` is SIGKILL: exit code 137.
    let n2 = c.name("sleep");
    c.run_detached(&n2, &["sleep", "100"]);
    c.docker_ok(&["kill", &n2]);
    let w = c.docker_ok(&["wait", &n2]);
    assert_eq!(w.stdout, "137\n", "{}", w.describe());
}

// ---- create, rm, inspect errors ----

#[test]
fn create_with_a_taken_name_conflicts() {
    let c = setup("conflict");
    let n = c.name("x");
    let out = c.docker_ok(&["create", "--network", "none", "--name", &n, &c.image]);
    let id = out.stdout.trim().to_string();
    assert!(is_hex64(&id), "{}", out.describe());
    let msg = format!(
        "Conflict. The container name \"/{n}\" is already in use by container \"{id}\". \
         You have to remove (or rename) that container to be able to reuse that name."
    );
    let out = c.docker(&["create", "--network", "none", "--name", &n, &c.image]);
    assert!(!out.success(), "{}", out.describe());
    assert!(
        out.stderr
            .contains(&format!("Error response from daemon: {msg}")),
        "{}",
        out.describe()
    );
    let r = c.create_raw(Some(&n), &c.create_body(&["true"]));
    expect::json_error(&r, 409, &msg);
    // A leading slash names the same container.
    let r = c.create_raw(Some(&format!("/{n}")), &c.create_body(&["true"]));
    expect::json_error(&r, 409, &msg);
}

#[test]
fn create_rejects_bad_input() {
    let c = setup("bad_input");
    // dockerd 20.10 answers a body that is not JSON with a 500 and Go's decoder error, e.g.
    // `invalid character 'b' looking for beginning of object key string`; newer moby (and
    // berthd, at API 1.50) answers 400 `invalid JSON: <decoder error>`.
    let n = c.name("bad");
    let r = c.d.request(
        "POST",
        &format!("/containers/create?name={n}"),
        &[("Content-Type", "application/json")],
        b"{bad json",
    );
    let msg = error_message(&r);
    if r.header("Api-Version") == Some("1.41") {
        assert_eq!(r.status, 500, "{}", r.describe());
        assert_eq!(
            msg,
            "invalid character 'b' looking for beginning of object key string",
            "{}",
            r.describe()
        );
    } else {
        assert_eq!(r.status, 400, "{}", r.describe());
        assert!(msg.starts_with("invalid JSON: "), "{}", r.describe());
    }
    assert_eq!(c.d.get(&format!("/containers/{n}/json")).status, 404);

    // `{}`: 400 `Config cannot be empty in order to create a container` (20.10); newer moby
    // lower-cases the first letter.
    let r =
        c.d.post_json(&format!("/containers/create?name={n}"), &json!({}));
    assert_eq!(r.status, 400, "{}", r.describe());
    assert_eq!(
        error_message(&r).to_lowercase(),
        "config cannot be empty in order to create a container"
    );

    let r =
        c.d.post_json("/containers/create", &json!({ "Image": "nosuchimage:1" }));
    expect::json_error(&r, 404, "No such image: nosuchimage:1");
    let r =
        c.d.post_json("/containers/create", &json!({ "Image": "nosuchimage" }));
    expect::json_error(&r, 404, "No such image: nosuchimage:latest");

    let r = c.create_raw(Some("a/b"), &c.create_body(&["true"]));
    expect::json_error(
        &r,
        400,
        "Invalid container name (a/b), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
    );
    // Names need two characters at least.
    let r = c.create_raw(Some("a"), &c.create_body(&["true"]));
    expect::json_error(
        &r,
        400,
        "Invalid container name (a), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
    );
    // The image is resolved before the name is checked.
    let r = c.create_raw(Some("a/b"), &json!({ "Image": "nosuchimage:1" }));
    expect::json_error(&r, 404, "No such image: nosuchimage:1");
}

#[test]
fn create_decodes_its_body_as_go_does() {
    let c = setup("go_decoding");
    // Keys match fields ignoring case, and `Cmd` (a StrSlice) takes a plain string.
    let n = c.name("lower");
    let r = c.create_raw(
        Some(&n),
        &json!({"image": c.image, "cmd": ["true"], "hostconfig": {"networkmode": "none"}}),
    );
    assert_eq!(r.status, 201, "{}", r.describe());
    let v = c.inspect(&n);
    assert_eq!(v["Config"]["Cmd"], json!(["true"]), "{v}");
    assert_eq!(v["HostConfig"]["NetworkMode"], "none", "{v}");
    let n = c.name("strslice");
    let r = c.create_raw(
        Some(&n),
        &json!({"Image": c.image, "Cmd": "true", "Entrypoint": "/bin/sh", "HostConfig": {"NetworkMode": "none"}}),
    );
    assert_eq!(r.status, 201, "{}", r.describe());
    let v = c.inspect(&n);
    assert_eq!(v["Config"]["Cmd"], json!(["true"]), "{v}");
    assert_eq!(v["Config"]["Entrypoint"], json!(["/bin/sh"]), "{v}");
    // Keys no field matches are dropped: accepted, never stored or echoed.
    let n = c.name("unknown");
    let mut body = c.create_body(&["true"]);
    body["HostConfig"]["Bogus"] = json!(1);
    body["Bogus"] = json!({"x": 1});
    let r = c.create_raw(Some(&n), &body);
    assert_eq!(r.status, 201, "{}", r.describe());
    let v = c.inspect(&n);
    assert!(v["HostConfig"].get("Bogus").is_none(), "{v}");
    assert!(v["Config"].get("Bogus").is_none(), "{v}");
    // A value of the wrong JSON type is refused with Go's decoding error, naming the
    // innermost struct, the field path and the Go type; nothing is created. dockerd 20.10
    // answers 500 with the bare Go error, newer moby 400 with `invalid JSON: ` before it.
    for (patch, go_error) in [
        (
            json!({"HostConfig": {"Privileged": "yes"}}),
            "string into Go struct field HostConfig.HostConfig.Privileged of type bool",
        ),
        (
            json!({"Env": "A=1"}),
            "string into Go struct field ContainerConfigWrapper.Env of type []string",
        ),
        (
            json!({"Cmd": [1]}),
            "array into Go struct field ContainerConfigWrapper.Cmd of type string",
        ),
        (
            json!({"Labels": {"a": 1}}),
            "number into Go struct field ContainerConfigWrapper.Labels of type string",
        ),
        (
            json!({"HostConfig": {"Memory": 1.5}}),
            "number 1.5 into Go struct field HostConfig.HostConfig.Memory of type int64",
        ),
        (
            json!({"HostConfig": {"BlkioWeight": -1}}),
            "number -1 into Go struct field HostConfig.HostConfig.BlkioWeight of type uint16",
        ),
        (
            json!({"HostConfig": {"RestartPolicy": {"MaximumRetryCount": "x"}}}),
            "string into Go struct field RestartPolicy.HostConfig.RestartPolicy.MaximumRetryCount of type int",
        ),
        (
            json!({"HostConfig": {"Binds": 7}}),
            "number into Go struct field HostConfig.HostConfig.Binds of type []string",
        ),
        (
            json!({"HostConfig": {"PortBindings": []}}),
            "array into Go struct field HostConfig.HostConfig.PortBindings of type nat.PortMap",
        ),
        (
            json!({"NetworkingConfig": {"EndpointsConfig": {"none": {"Aliases": "x"}}}}),
            "string into Go struct field EndpointSettings.NetworkingConfig.EndpointsConfig.Aliases of type []string",
        ),
        (
            json!({"Healthcheck": {"Interval": "1s"}}),
            "string into Go struct field HealthConfig.Healthcheck.Interval of type time.Duration",
        ),
    ] {
        let n = c.name("typed");
        let mut body = c.create_body(&["true"]);
        merge(&mut body, &patch);
        let r = c.create_raw(Some(&n), &body);
        let go_error = format!("json: cannot unmarshal {go_error}");
        if r.header("Api-Version") == Some("1.41") {
            expect::json_error(&r, 500, &go_error);
        } else {
            expect::json_error(&r, 400, &format!("invalid JSON: {go_error}"));
        }
        assert_eq!(c.d.get(&format!("/containers/{n}/json")).status, 404);
    }
    // A body that is not an object names the whole request's Go type.
    let r = c.create_raw(None, &json!([1]));
    let go_error =
        "json: cannot unmarshal array into Go value of type runconfig.ContainerConfigWrapper";
    assert!(error_message(&r).ends_with(go_error), "{}", r.describe());
}

/// Overlays `patch` onto `body`, object by object.
fn merge(body: &mut Value, patch: &Value) {
    match (body, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

#[test]
fn create_shims_follow_the_request_version() {
    let c = setup("shims");
    // Below 1.40 an empty IpcMode means `shareable`; from 1.40 the daemon default.
    let n = c.name("ipc-old");
    let r = c.d.post_json(
        &format!("/v1.39/containers/create?name={n}"),
        &c.create_body(&["true"]),
    );
    assert_eq!(r.status, 201, "{}", r.describe());
    let (_, v) = c.d.get_json(&format!("/v1.39/containers/{n}/json"));
    assert_eq!(v["HostConfig"]["IpcMode"], "shareable", "{v}");
    let out = c.d.docker(&["start", "-a", &n]);
    assert!(out.success(), "{}", out.describe());
    let n = c.name("ipc-new");
    let r = c.d.post_json(
        &format!("/v1.41/containers/create?name={n}"),
        &c.create_body(&["true"]),
    );
    assert_eq!(r.status, 201, "{}", r.describe());
    let (_, v) = c.d.get_json(&format!("/v1.41/containers/{n}/json"));
    assert_eq!(v["HostConfig"]["IpcMode"], "private", "{v}");
    if !c.d.owned() {
        // The refusals below follow current moby; Debian's dockerd 20.10 predates them.
        return;
    }
    // Several networks at create need 1.44; refused with moby's sentence, nothing made.
    let n = c.name("two-nets");
    let mut body = c.create_body(&["true"]);
    body["NetworkingConfig"] = json!({"EndpointsConfig": {"a": {}, "b": {}}});
    let r =
        c.d.post_json(&format!("/v1.43/containers/create?name={n}"), &body);
    expect::json_error(
        &r,
        400,
        "Container cannot be created with multiple network endpoints: a, b",
    );
    assert_eq!(c.d.get(&format!("/containers/{n}/json")).status, 404);
    // Options for another mount type: refused from 1.42.
    let mut body = c.create_body(&["true"]);
    body["HostConfig"]["Mounts"] =
        json!([{"Type": "tmpfs", "Target": "/t", "BindOptions": {"Propagation": "rprivate"}}]);
    let r =
        c.d.post_json(&format!("/v1.42/containers/create?name={n}"), &body);
    expect::json_error(
        &r,
        400,
        "BindOptions must not be specified on mount type \"tmpfs\"",
    );
}

#[test]
fn ps_filters_health_task_expose_and_network() {
    let c = setup("ps_more_filters");
    let exposed = c.name("exposed");
    let plain = c.name("plain");
    let out = c.d.docker(&[
        "create",
        "--name",
        &exposed,
        "--network",
        "none",
        "--expose",
        "8080",
        &c.image,
    ]);
    assert!(out.success(), "{}", out.describe());
    let out =
        c.d.docker(&["create", "--name", &plain, "--network", "none", &c.image]);
    assert!(out.success(), "{}", out.describe());
    let ps = |filter: &str| {
        let out = c.d.docker(&[
            "ps",
            "-a",
            "--filter",
            filter,
            "--filter",
            &format!("name=bct-ctr-{}-ps_more_filters", std::process::id()),
            "--format",
            "{{.Names}}",
        ]);
        assert!(out.success(), "ps --filter {filter}\n{}", out.describe());
        let mut names: Vec<String> = out.stdout.lines().map(str::to_string).collect();
        names.sort();
        names
    };
    let mut both = vec![exposed.clone(), plain.clone()];
    both.sort();
    // `expose` and `publish` look at the ports a network endpoint lists: containers on
    // `none` have none, whatever they expose (so on dockerd too).
    assert!(ps("expose=8080").is_empty());
    assert!(ps("expose=8079-8081/tcp").is_empty());
    assert!(ps("publish=8080").is_empty());
    assert_eq!(ps("health=none"), both);
    assert!(ps("health=healthy").is_empty());
    assert_eq!(ps("is-task=false"), both);
    assert!(ps("is-task=true").is_empty());
    assert_eq!(ps("network=none"), both);
    assert!(ps("network=host").is_empty());
    assert!(ps("volume=/data").is_empty());

    for (filter, message) in [
        (
            "health=bogus",
            "Unrecognised filter value for health: bogus",
        ),
        ("is-task=maybe", "Invalid filter 'is-task=[maybe]'"),
        (
            "expose=bad",
            "error while looking up for expose bad: strconv.ParseUint: parsing \"bad\": invalid syntax",
        ),
        (
            "expose=8080:1",
            "filter for 'expose' should not contain ':': 8080:1",
        ),
    ] {
        let out = c.d.docker(&["ps", "-a", "--filter", filter]);
        assert!(!out.success(), "{}", out.describe());
        assert!(out.stderr.contains(message), "{}", out.describe());
    }
}

#[test]
fn concurrent_creates_with_one_name_yield_one_container() {
    let c = setup("race");
    let n = c.name("x");
    let path = format!("/containers/create?name={n}");
    let body = serde_json::to_vec(&c.create_body(&["true"])).expect("body");
    let socket = c.d.socket_path().to_path_buf();
    let barrier = Arc::new(Barrier::new(20));
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let (socket, path, body, barrier) =
                (socket.clone(), path.clone(), body.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                http::request(
                    &socket,
                    "POST",
                    &path,
                    &[("Content-Type", "application/json")],
                    &body,
                )
                .expect("create request")
            })
        })
        .collect();
    let results: Vec<http::Response> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    let created: Vec<&http::Response> = results.iter().filter(|r| r.status == 201).collect();
    assert_eq!(
        created.len(),
        1,
        "statuses {:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let id = created[0].json()["Id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let msg = format!(
        "Conflict. The container name \"/{n}\" is already in use by container \"{id}\". \
         You have to remove (or rename) that container to be able to reuse that name."
    );
    for r in results.iter().filter(|r| r.status != 201) {
        expect::json_error(r, 409, &msg);
    }
    let list = c.d.get(&format!(
        "/containers/json?all=1&filters={}",
        url_encode(&json!({ "name": { n.clone(): true } }).to_string())
    ));
    assert_eq!(
        list.json().as_array().map(Vec::len),
        Some(1),
        "{}",
        list.describe()
    );
}

#[test]
fn rm_refuses_a_running_container_unless_forced() {
    let c = setup("rm");
    let n = c.name("x");
    let id = c.run_detached(&n, &["sleep", "100"]);
    // dockerd 20.10 (409): `You cannot remove a running container <id>. Stop the container
    // before attempting removal or force remove`; newer moby (409): `cannot remove container
    // "/<name>": container is running: stop the container before removing or force remove`.
    let out = c.docker(&["rm", &n]);
    assert!(!out.success(), "{}", out.describe());
    let err = out.stderr.to_lowercase();
    assert!(
        err.contains("error response from daemon: ")
            && err.contains("running")
            && err.contains("force remove"),
        "{}",
        out.describe()
    );
    let r = c.d.request("DELETE", &format!("/containers/{n}"), &[], b"");
    assert_eq!(r.status, 409, "{}", r.describe());
    let msg = error_message(&r).to_lowercase();
    assert!(
        msg.contains("running") && msg.contains("force remove"),
        "{}",
        r.describe()
    );
    assert_eq!(c.inspect(&n)["State"]["Running"], json!(true));

    let out = c.docker_ok(&["rm", "-f", &n]);
    assert_eq!(out.stdout, format!("{n}\n"));
    let r = c.d.get(&format!("/containers/{n}/json"));
    expect::json_error(&r, 404, &format!("No such container: {n}"));
    let r = c.d.get(&format!("/containers/{id}/json"));
    expect::json_error(&r, 404, &format!("No such container: {id}"));
}

#[test]
fn unknown_containers_are_404() {
    let c = setup("nosuch");
    let nosuch = format!("bct-ctr-{}-nosuch", std::process::id());
    let out = c.docker(&["inspect", &nosuch]);
    assert_eq!(out.status, 1, "{}", out.describe());
    assert_eq!(out.stdout.trim(), "[]", "{}", out.describe());
    assert!(
        out.stderr
            .contains(&format!("Error: No such object: {nosuch}")),
        "{}",
        out.describe()
    );
    let msg = format!("No such container: {nosuch}");
    let r = c.d.get(&format!("/containers/{nosuch}/json"));
    expect::json_error(&r, 404, &msg);
    let r = c.d.get(&format!("/v1.41/containers/{nosuch}/json"));
    expect::json_error(&r, 404, &msg);
    for (method, tail) in [
        ("POST", "/start"),
        ("POST", "/stop"),
        ("POST", "/restart"),
        ("POST", "/wait"),
        ("DELETE", ""),
    ] {
        let r =
            c.d.request(method, &format!("/containers/{nosuch}{tail}"), &[], b"");
        expect::json_error(&r, 404, &msg);
    }
    let r = c.d.get(&format!("/containers/{nosuch}/logs?stdout=1"));
    expect::json_error(&r, 404, &msg);
    // dockerd 20.10: `Cannot kill container: X: No such container: X`; newer moby starts
    // with a lower-case c.
    let r =
        c.d.request("POST", &format!("/containers/{nosuch}/kill"), &[], b"");
    assert_eq!(r.status, 404, "{}", r.describe());
    assert_eq!(
        error_message(&r).to_lowercase(),
        format!("cannot kill container: {nosuch}: {msg}").to_lowercase()
    );
}

// ---- start / stop are idempotent ----

#[test]
fn start_running_and_stop_stopped_are_304() {
    let c = setup("idem");
    let n = c.name("x");
    let r = c.create_raw(Some(&n), &c.create_body(&["sleep", "100"]));
    assert_eq!(r.status, 201, "{}", r.describe());
    let body = r.json();
    assert!(is_hex64(body["Id"].as_str().unwrap_or_default()), "{body}");
    assert_eq!(body["Warnings"], json!([]), "{body}");

    let start = format!("/containers/{n}/start");
    let r = c.d.request("POST", &start, &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
    assert!(r.body.is_empty(), "{}", r.describe());
    let r = c.d.request("POST", &start, &[], b"");
    assert_eq!(r.status, 304, "{}", r.describe());
    assert!(r.body.is_empty(), "{}", r.describe());
    let out = c.docker_ok(&["start", &n]);
    assert_eq!(out.stdout, format!("{n}\n"));

    let stop = format!("/containers/{n}/stop?t=1");
    let r = c.d.request("POST", &stop, &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
    let r = c.d.request("POST", &stop, &[], b"");
    assert_eq!(r.status, 304, "{}", r.describe());
    assert!(r.body.is_empty(), "{}", r.describe());
    let out = c.docker_ok(&["stop", &n]);
    assert_eq!(out.stdout, format!("{n}\n"));

    // An exited container starts again.
    let out = c.docker_ok(&["start", &n]);
    assert_eq!(out.stdout, format!("{n}\n"));
    assert_eq!(c.inspect(&n)["State"]["Status"], json!("running"));
}

#[test]
fn restart_runs_the_container_again() {
    let c = setup("restart");
    let n = c.name("x");
    let since = unix_now();
    c.run_detached(&n, &["sleep", "100"]);
    let before = c.inspect(&n);
    let t = Instant::now();
    let out = c.docker_ok(&["restart", "-t", "1", &n]);
    assert_eq!(out.stdout, format!("{n}\n"));
    assert!(
        t.elapsed() >= Duration::from_millis(800),
        "{:?}",
        t.elapsed()
    );
    let after = c.inspect(&n);
    assert_eq!(after["State"]["Status"], json!("running"));
    assert_ne!(after["State"]["StartedAt"], before["State"]["StartedAt"]);
    assert_ne!(after["State"]["Pid"], before["State"]["Pid"]);
    // A restart asked for through the API is not counted.
    assert_eq!(after["RestartCount"], json!(0));

    // dockerd 20.10: create, start, kill(15), kill(9), die(137), stop, start, restart.
    let until = (unix_now() + 1).to_string();
    let since = since.to_string();
    let out = c.docker_ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        &format!("container={n}"),
        "--format",
        "{{json .}}",
    ]);
    let events: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["Action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        actions,
        [
            "create", "start", "kill", "kill", "die", "stop", "start", "restart"
        ],
        "{}",
        out.stdout
    );
    assert_eq!(events[2]["Actor"]["Attributes"]["signal"], json!("15"));
    assert_eq!(events[3]["Actor"]["Attributes"]["signal"], json!("9"));
    assert_eq!(events[4]["Actor"]["Attributes"]["exitCode"], json!("137"));
}

// ---- wait ----

#[test]
fn wait_flushes_headers_then_reports_the_exit() {
    let c = setup("wait");
    let n = c.name("x");
    let id = c.run_detached(&n, &["sh", "-c", "sleep 3; exit 7"]);

    let t = Instant::now();
    let mut s = Stream::open(
        c.d.socket_path(),
        "POST",
        &format!("/containers/{id}/wait"),
        &[],
        b"",
        Duration::from_secs(5),
    )
    .expect("wait headers arrive while the container runs");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(s.status, 200);
    assert_eq!(s.header("Content-Type"), Some("application/json"));
    assert_eq!(c.inspect(&n)["State"]["Running"], json!(true));
    // dockerd 20.10 writes `{"Error":null,"StatusCode":7}` and a newline; newer moby omits
    // a null Error (`{"StatusCode":7}`).
    let line = s
        .next_line(Duration::from_secs(30))
        .expect("wait body")
        .expect("a line");
    check_wait_body(&line, 7);

    // not-running (the default) on an exited container answers at once.
    let t = Instant::now();
    let r = c.d.request(
        "POST",
        &format!("/containers/{n}/wait?condition=not-running"),
        &[],
        b"",
    );
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(r.status, 200, "{}", r.describe());
    check_wait_body(&r.text(), 7);

    // next-exit on an exited container waits for the next run.
    let mut s = Stream::open(
        c.d.socket_path(),
        "POST",
        &format!("/containers/{n}/wait?condition=next-exit"),
        &[],
        b"",
        Duration::from_secs(5),
    )
    .expect("wait headers");
    assert_eq!(s.status, 200);
    let early = s.next_line(Duration::from_millis(1500));
    assert!(
        early
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::TimedOut),
        "next-exit answered before any run: {early:?}"
    );
    c.docker_ok(&["start", &n]);
    let line = s
        .next_line(Duration::from_secs(30))
        .expect("wait body")
        .expect("a line");
    check_wait_body(&line, 7);

    // removed: answers once the container is deleted, with its last exit code.
    c.wait_stopped(&n, Duration::from_secs(10));
    let mut s = Stream::open(
        c.d.socket_path(),
        "POST",
        &format!("/containers/{n}/wait?condition=removed"),
        &[],
        b"",
        Duration::from_secs(5),
    )
    .expect("wait headers");
    assert_eq!(s.status, 200);
    let early = s.next_line(Duration::from_millis(500));
    assert!(early.is_err(), "removed answered early: {early:?}");
    c.docker_ok(&["rm", &n]);
    let line = s
        .next_line(Duration::from_secs(30))
        .expect("wait body")
        .expect("a line");
    check_wait_body(&line, 7);
}

#[track_caller]
/// A process that exits while its start is still being recorded is seen as exited once
/// `wait` has returned, and `rm -f` removes it at once. On an owned berthd the pause hook
/// holds the start just before it records the container as running (the window a fast
/// exit hit under load); elsewhere the same steps run without it.
#[test]
fn an_exit_while_the_start_is_recorded_leaves_the_container_exited() {
    let mut c = setup("exit-in-start");
    if c.d.owned() && !c.d.is_dockerd() {
        c.d.restart_pausing_at("start:before-running");
    }
    let n = c.name("x");
    let id = c.run_detached(&n, &["true"]);
    let r =
        c.d.request("POST", &format!("/containers/{id}/wait"), &[], b"");
    assert_eq!(r.status, 200, "{}", r.describe());
    check_wait_body(&r.text(), 0);
    let state = c.inspect(&n)["State"].clone();
    assert_eq!(state["Running"], json!(false), "after wait: {state}");
    assert_eq!(state["Status"], json!("exited"), "after wait: {state}");
    let r =
        c.d.request("DELETE", &format!("/containers/{id}?force=1"), &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
}

fn check_wait_body(line: &str, code: i64) {
    let v: Value =
        serde_json::from_str(line.trim_end()).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    assert_eq!(v["StatusCode"], json!(code), "{line}");
    assert!(
        v.get("Error").is_none_or(Value::is_null),
        "unexpected Error: {line}"
    );
    let extra: Vec<String> = keys(&v)
        .into_iter()
        .filter(|k| k != "StatusCode" && k != "Error")
        .collect();
    assert!(extra.is_empty(), "unexpected keys {extra:?}: {line}");
}

// ---- inspect shape ----

/// Top-level keys of `GET /v1.41/containers/{id}/json` for a stopped container, as dockerd
/// 20.10 (API 1.41) sends them (`SizeRw`/`SizeRootFs` only appear with `size=1`).
#[rustfmt::skip]
const INSPECT_KEYS: &[&str] = &[
    "Id",
    "Created",
    "Path",
    "Args",
    "State",
    "Image",
    "ResolvConfPath",
    "HostnamePath",
    "HostsPath",
    "LogPath",
    "Name",
    "RestartCount",
    "Driver",
    "Platform",
    "MountLabel",
    "ProcessLabel",
    "AppArmorProfile",
    "ExecIDs",
    "HostConfig",
    "GraphDriver",
    "Mounts",
    "Config",
    "NetworkSettings",
];

/// `State` keys, dockerd 20.10 at API 1.41 (`Health` only with a healthcheck).
#[rustfmt::skip]
const STATE_KEYS: &[&str] = &[
    "Status",
    "Running",
    "Paused",
    "Restarting",
    "OOMKilled",
    "Dead",
    "Pid",
    "ExitCode",
    "Error",
    "StartedAt",
    "FinishedAt",
];

/// `Config` keys, dockerd 20.10 at API 1.41 for a plain `docker run` (`ExposedPorts`,
/// `StopSignal`, `Healthcheck`, `ArgsEscaped`, `MacAddress`... are omitted when empty).
#[rustfmt::skip]
const CONFIG_KEYS: &[&str] = &[
    "Hostname",
    "Domainname",
    "User",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Env",
    "Cmd",
    "Image",
    "Volumes",
    "WorkingDir",
    "Entrypoint",
    "OnBuild",
    "Labels",
];

/// `HostConfig` keys, dockerd 20.10 at API 1.41 (all of them; SDKs read most).
#[rustfmt::skip]
const HOST_CONFIG_KEYS: &[&str] = &[
    "Binds",
    "ContainerIDFile",
    "LogConfig",
    "NetworkMode",
    "PortBindings",
    "RestartPolicy",
    "AutoRemove",
    "VolumeDriver",
    "VolumesFrom",
    "CapAdd",
    "CapDrop",
    "CgroupnsMode",
    "Dns",
    "DnsOptions",
    "DnsSearch",
    "ExtraHosts",
    "GroupAdd",
    "IpcMode",
    "Cgroup",
    "Links",
    "OomScoreAdj",
    "PidMode",
    "Privileged",
    "PublishAllPorts",
    "ReadonlyRootfs",
    "SecurityOpt",
    "UTSMode",
    "UsernsMode",
    "ShmSize",
    "Runtime",
    "ConsoleSize",
    "Isolation",
    "CpuShares",
    "Memory",
    "NanoCpus",
    "CgroupParent",
    "BlkioWeight",
    "BlkioWeightDevice",
    "BlkioDeviceReadBps",
    "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps",
    "CpuPeriod",
    "CpuQuota",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
    "CpusetCpus",
    "CpusetMems",
    "Devices",
    "DeviceCgroupRules",
    "DeviceRequests",
    "KernelMemory",
    "KernelMemoryTCP",
    "MemoryReservation",
    "MemorySwap",
    "MemorySwappiness",
    "OomKillDisable",
    "PidsLimit",
    "Ulimits",
    "CpuCount",
    "CpuPercent",
    "IOMaximumIOps",
    "IOMaximumBandwidth",
    "MaskedPaths",
    "ReadonlyPaths",
];

/// `NetworkSettings` keys, dockerd 20.10 at API 1.41.
#[rustfmt::skip]
const NETWORK_SETTINGS_KEYS: &[&str] = &[
    "Bridge",
    "SandboxID",
    "HairpinMode",
    "LinkLocalIPv6Address",
    "LinkLocalIPv6PrefixLen",
    "Ports",
    "SandboxKey",
    "SecondaryIPAddresses",
    "SecondaryIPv6Addresses",
    "EndpointID",
    "Gateway",
    "GlobalIPv6Address",
    "GlobalIPv6PrefixLen",
    "IPAddress",
    "IPPrefixLen",
    "IPv6Gateway",
    "MacAddress",
    "Networks",
];

#[test]
fn inspect_has_dockers_keys_at_v1_41() {
    let c = setup("inspect");
    let n = c.name("x");
    let out = c.docker(&["run", "--network", "none", "--name", &n, &c.image, "true"]);
    assert_eq!(out.status, 0, "{}", out.describe());
    let r = c.d.get(&format!("/v1.41/containers/{n}/json"));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let v = r.json();
    assert_has_keys("inspect", &v, INSPECT_KEYS);
    assert_has_keys("State", &v["State"], STATE_KEYS);
    assert_has_keys("Config", &v["Config"], CONFIG_KEYS);
    assert_has_keys("HostConfig", &v["HostConfig"], HOST_CONFIG_KEYS);
    assert_has_keys(
        "NetworkSettings",
        &v["NetworkSettings"],
        NETWORK_SETTINGS_KEYS,
    );

    let id = v["Id"].as_str().unwrap_or_default();
    assert!(is_hex64(id), "{}", v["Id"]);
    assert_eq!(v["Name"], json!(format!("/{n}")));
    assert_eq!(v["Path"], json!("true"));
    assert_eq!(v["Args"], json!([]));
    assert_eq!(v["Image"], json!(c.image_id));
    assert_eq!(v["RestartCount"], json!(0));
    assert_eq!(v["Platform"], json!("linux"));
    assert_eq!(v["ExecIDs"], Value::Null);
    assert_eq!(v["Mounts"], json!([]));
    assert!(
        v["Driver"].as_str().is_some_and(|s| !s.is_empty()),
        "{}",
        v["Driver"]
    );
    assert!(
        v["LogPath"]
            .as_str()
            .is_some_and(|p| p.ends_with(&format!("{id}-json.log"))),
        "{}",
        v["LogPath"]
    );
    let created = v["Created"].as_str().unwrap_or_default();
    assert!(
        created.ends_with('Z') && created.contains('.'),
        "Created {created:?}"
    );

    let st = &v["State"];
    assert_eq!(st["Status"], json!("exited"));
    assert_eq!(st["Running"], json!(false));
    assert_eq!(st["Paused"], json!(false));
    assert_eq!(st["Restarting"], json!(false));
    assert_eq!(st["OOMKilled"], json!(false));
    assert_eq!(st["Dead"], json!(false));
    assert_eq!(st["Pid"], json!(0));
    assert_eq!(st["ExitCode"], json!(0));
    assert_eq!(st["Error"], json!(""));

    let cfg = &v["Config"];
    assert_eq!(cfg["Image"], json!(c.image));
    assert_eq!(cfg["Cmd"], json!(["true"]));
    assert_eq!(cfg["Env"], json!([fixtures::PATH_ENV]));
    assert_eq!(cfg["Hostname"], json!(&id[..12]));
    assert_eq!(cfg["Tty"], json!(false));
    assert_eq!(cfg["AttachStdout"], json!(true));
    assert_eq!(cfg["AttachStderr"], json!(true));
    assert_eq!(cfg["AttachStdin"], json!(false));
    assert_eq!(
        cfg["Labels"],
        json!({ fixtures::TEST_LABEL: "containers-inspect" })
    );

    let hc = &v["HostConfig"];
    assert_eq!(hc["NetworkMode"], json!("none"));
    assert_eq!(hc["AutoRemove"], json!(false));
    assert_eq!(
        hc["LogConfig"],
        json!({ "Type": "json-file", "Config": {} })
    );
    assert_eq!(
        hc["RestartPolicy"],
        json!({ "Name": "no", "MaximumRetryCount": 0 })
    );
    assert_eq!(hc["Privileged"], json!(false));
    assert_eq!(hc["ShmSize"], json!(67108864));
    assert_eq!(hc["Binds"], Value::Null);
    assert_eq!(hc["IpcMode"], json!("private"));
    // Unset optional limits are Go nils, not 0 or -1.
    assert_eq!(hc["PidsLimit"], Value::Null);
    assert_eq!(hc["MemorySwappiness"], Value::Null);

    assert!(
        v["NetworkSettings"]["Networks"]["none"].is_object(),
        "{}",
        v["NetworkSettings"]
    );
}

// ---- list ----

/// Keys of each `GET /containers/json` entry (dockerd 20.10, API 1.41).
#[rustfmt::skip]
const LIST_KEYS: &[&str] = &[
    "Id",
    "Names",
    "Image",
    "ImageID",
    "Command",
    "Created",
    "Ports",
    "Labels",
    "State",
    "Status",
    "HostConfig",
    "NetworkSettings",
    "Mounts",
];

#[test]
fn ps_lists_and_filters_containers() {
    let c = setup("list");
    let created = c.name("created");
    let out = c.docker_ok(&[
        "create",
        "--network",
        "none",
        "--name",
        &created,
        &c.image,
        "sleep",
        "30",
    ]);
    let created_id = out.stdout.trim().to_string();
    let exited = c.name("exited");
    let out = c.docker(&[
        "run",
        "--network",
        "none",
        "--name",
        &exited,
        &c.image,
        "true",
    ]);
    assert_eq!(out.status, 0, "{}", out.describe());
    let running = c.name("running");
    let running_id = c.run_detached(&running, &["sleep", "100"]);

    let out = c.docker_ok(&[
        "ps",
        "-a",
        "--filter",
        &format!("name={created}"),
        "--format",
        "{{.Names}} {{.Image}} {{.Command}} {{.Status}}",
    ]);
    assert_eq!(
        out.stdout,
        format!("{created} {} \"sleep 30\" Created\n", c.image),
        "{}",
        out.describe()
    );
    // Without -a only running containers are listed.
    let prefix = format!("name=bct-ctr-{}-list-", std::process::id());
    let out = c.docker_ok(&["ps", "--filter", &prefix, "--format", "{{.Names}}"]);
    assert_eq!(out.stdout, format!("{running}\n"), "{}", out.describe());
    let out = c.docker_ok(&["ps", "-aq", "--no-trunc", "--filter", &prefix]);
    let mut ids: Vec<&str> = out.stdout.lines().collect();
    ids.sort_unstable();
    assert_eq!(ids.len(), 3, "{}", out.describe());
    assert!(ids.iter().all(|i| is_hex64(i)), "{}", out.describe());
    let out = c.docker_ok(&[
        "ps",
        "-a",
        "--filter",
        &prefix,
        "--filter",
        "status=exited",
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(out.stdout, format!("{exited}\n"), "{}", out.describe());
    let out = c.docker_ok(&[
        "ps",
        "-a",
        "--filter",
        &prefix,
        "--filter",
        "status=created",
        "--format",
        "{{.ID}}",
    ]);
    assert_eq!(
        out.stdout,
        format!("{}\n", &created_id[..12]),
        "{}",
        out.describe()
    );
    let out = c.docker_ok(&[
        "ps",
        "-a",
        "--filter",
        &format!("id={running_id}"),
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(out.stdout, format!("{running}\n"), "{}", out.describe());

    let r = c.d.get("/containers/json?all=1");
    assert_eq!(r.status, 200, "{}", r.describe());
    let list = r.json();
    let entry = list
        .as_array()
        .and_then(|a| a.iter().find(|e| e["Id"] == json!(created_id)))
        .unwrap_or_else(|| panic!("{created} not in all=1 list: {list}"))
        .clone();
    assert_has_keys("list entry", &entry, LIST_KEYS);
    assert_eq!(entry["Names"], json!([format!("/{created}")]));
    assert_eq!(entry["Image"], json!(c.image));
    assert_eq!(entry["ImageID"], json!(c.image_id));
    assert_eq!(entry["Command"], json!("sleep 30"));
    assert!(entry["Created"].is_u64(), "{entry}");
    assert_eq!(entry["Ports"], json!([]));
    assert_eq!(
        entry["Labels"],
        json!({ fixtures::TEST_LABEL: "containers-list" })
    );
    assert_eq!(entry["State"], json!("created"));
    assert_eq!(entry["Status"], json!("Created"));
    assert_eq!(entry["HostConfig"]["NetworkMode"], json!("none"));
    assert_eq!(entry["Mounts"], json!([]));

    // Without all=1 the created container is not listed, the running one is.
    let r = c.d.get("/containers/json");
    let list = r.json();
    let ids: Vec<&str> = list
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["Id"].as_str()).collect())
        .unwrap_or_default();
    assert!(!ids.contains(&created_id.as_str()), "{list}");
    assert!(ids.contains(&running_id.as_str()), "{list}");
    let running_entry = list
        .as_array()
        .and_then(|a| a.iter().find(|e| e["Id"] == json!(running_id)))
        .cloned()
        .unwrap_or_default();
    assert_eq!(running_entry["State"], json!("running"));
    assert!(
        running_entry["Status"]
            .as_str()
            .is_some_and(|s| s.starts_with("Up ")),
        "{running_entry}"
    );
}

// ---- events ----

#[test]
fn run_rm_emits_create_attach_start_die_destroy() {
    let c = setup("events");
    let n = c.name("x");
    let since = unix_now().to_string();
    let out = c.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--name",
        &n,
        &c.image,
        "sh",
        "-c",
        "exit 4",
    ]);
    assert_eq!(out.status, 4, "{}", out.describe());
    let until = (unix_now() + 1).to_string();
    let out = c.docker_ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        &format!("container={n}"),
        "--format",
        "{{json .}}",
    ]);
    // dockerd 20.10, one JSON object per line, e.g.
    // {"status":"die","id":"<id>","from":"<image>","Type":"container","Action":"die",
    //  "Actor":{"ID":"<id>","Attributes":{"exitCode":"4","image":"<image>","name":"<name>",
    //  <image labels>}},"scope":"local","time":<s>,"timeNano":<ns>}
    let events: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["Action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        actions,
        ["create", "attach", "start", "die", "destroy"],
        "{}",
        out.stdout
    );
    let id = events[0]["Actor"]["ID"].as_str().unwrap_or_default();
    assert!(is_hex64(id), "{}", out.stdout);
    let mut last = 0;
    for e in &events {
        assert_eq!(e["Type"], json!("container"), "{e}");
        assert_eq!(e["scope"], json!("local"), "{e}");
        assert_eq!(e["Actor"]["ID"], json!(id), "{e}");
        let attrs = &e["Actor"]["Attributes"];
        assert_eq!(attrs["name"], json!(n), "{e}");
        assert_eq!(attrs["image"], json!(c.image), "{e}");
        assert_eq!(
            attrs[fixtures::TEST_LABEL],
            json!("containers-events"),
            "{e}"
        );
        let nano = e["timeNano"].as_u64().unwrap_or_default();
        assert!(nano >= last, "events out of order: {}", out.stdout);
        last = nano;
    }
    assert_eq!(events[3]["Actor"]["Attributes"]["exitCode"], json!("4"));
    for (i, e) in events.iter().enumerate() {
        if i != 3 {
            assert!(
                e["Actor"]["Attributes"].get("exitCode").is_none(),
                "exitCode only on die: {e}"
            );
        }
    }
}
