//! The json-file log driver's options: rotation with `max-size` / `max-file`, the `none`
//! driver, and moby's refusal of unknown options. Checked against Debian's dockerd 20.10.

use compat_tests::{Daemon, daemon};

fn load(d: &Daemon, test: &str) -> String {
    d.load_test_image(&format!("logdrv-{test}"))
}

#[test]
fn max_size_and_max_file_rotate_and_keep_the_newest_lines() {
    let d = daemon();
    let image = load(&d, "rotate");
    let name = format!("bct-logdrv-{}-rotate", std::process::id());
    let out = d.docker(&[
        "run",
        "--name",
        &name,
        "--network",
        "none",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=2",
        &image,
        "sh",
        "-c",
        "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done",
    ]);
    assert!(out.success(), "{}", out.describe());
    let logs = d.docker(&["logs", &name]);
    assert!(logs.success(), "{}", logs.describe());
    let lines: Vec<&str> = logs.stdout.lines().collect();
    assert_eq!(lines.last(), Some(&"line-299"), "{}", logs.stdout);
    // Two files of about 1 KiB of JSON hold far fewer than 300 entries.
    assert!(lines.len() < 100, "{} lines kept", lines.len());
    // What is kept is contiguous and ends with the newest line.
    let first: usize = lines[0]
        .trim_start_matches("line-")
        .parse()
        .expect("line number");
    assert_eq!(lines.len(), 300 - first, "{}", logs.stdout);
    // --tail reads from the end, across the rotated file: the newest lines, in order.
    let tail = d.docker(&["logs", "--tail", "3", &name]);
    assert_eq!(
        tail.stdout,
        "line-297\nline-298\nline-299\n",
        "{}",
        tail.describe()
    );
    let all = d.docker(&["logs", "--tail", &lines.len().to_string(), &name]);
    assert_eq!(
        all.stdout, logs.stdout,
        "a tail as long as the log is the log"
    );
    let none = d.docker(&["logs", "--tail", "0", &name]);
    assert_eq!(none.stdout, "", "{}", none.describe());
    let inspect = d.docker(&["inspect", "-f", "{{json .HostConfig.LogConfig}}", &name]);
    assert!(
        inspect.stdout.contains("\"max-size\":\"1k\""),
        "{}",
        inspect.stdout
    );
    let _ = d.docker(&["rm", "-f", &name]);
    if !d.owned() {
        let _ = d.docker(&["rmi", &image]);
    }
}

#[test]
fn none_driver_has_no_logs_and_unknown_options_are_refused() {
    let d = daemon();
    let image = load(&d, "none");
    let name = format!("bct-logdrv-{}-none", std::process::id());
    let out = d.docker(&[
        "run",
        "--name",
        &name,
        "--network",
        "none",
        "--log-driver",
        "none",
        &image,
        "echo",
        "hi",
    ]);
    assert!(out.success(), "{}", out.describe());
    assert_eq!(out.stdout, "hi\n", "attach still works without a log");
    let logs = d.docker(&["logs", &name]);
    assert!(!logs.success(), "{}", logs.describe());
    assert!(
        logs.stderr.contains("does not support reading"),
        "{}",
        logs.describe()
    );
    let bad = d.docker(&[
        "create",
        "--network",
        "none",
        "--log-opt",
        "no-such-opt=1",
        &image,
    ]);
    assert!(!bad.success(), "{}", bad.describe());
    assert!(
        bad.stderr.contains("unknown log opt 'no-such-opt'"),
        "{}",
        bad.describe()
    );
    let _ = d.docker(&["rm", "-f", &name]);
    if !d.owned() {
        let _ = d.docker(&["rmi", &image]);
    }
}
