//! Restart policies: `on-failure:N` stops after N restarts, `always` keeps restarting until a
//! user stops it, with `RestartCount` counting. Checked against Debian's dockerd 20.10.

use std::time::Duration;

use compat_tests::{Daemon, daemon, wait_until};

fn load(d: &Daemon, test: &str) -> String {
    d.load_test_image(&format!("restart-{test}"))
}

fn state(d: &Daemon, name: &str) -> (u64, String, i64) {
    let out = d.docker(&[
        "inspect",
        "-f",
        "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}",
        name,
    ]);
    assert!(out.success(), "{}", out.describe());
    let f: Vec<&str> = out.stdout.split_whitespace().collect();
    (
        f[0].parse().unwrap_or(0),
        f[1].to_string(),
        f[2].parse().unwrap_or(-1),
    )
}

#[test]
fn on_failure_stops_after_the_maximum_retry_count() {
    let d = daemon();
    let image = load(&d, "onfailure");
    let name = format!("bct-restart-{}-onfailure", std::process::id());
    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "none",
        "--restart",
        "on-failure:2",
        &image,
        "sh",
        "-c",
        "exit 3",
    ]);
    assert!(out.success(), "{}", out.describe());
    let done = wait_until(Duration::from_secs(20), || {
        let (count, status, _) = state(&d, &name);
        count == 2 && status == "exited"
    });
    assert!(done, "{:?}", state(&d, &name));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        state(&d, &name),
        (2, "exited".to_string(), 3),
        "no third restart"
    );
    let _ = d.docker(&["rm", "-f", &name]);
    if !d.owned() {
        let _ = d.docker(&["rmi", &image]);
    }
}

#[test]
fn always_restarts_until_stopped() {
    let d = daemon();
    let image = load(&d, "always");
    let name = format!("bct-restart-{}-always", std::process::id());
    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "none",
        "--restart",
        "always",
        &image,
        "sh",
        "-c",
        "sleep 0.2; exit 1",
    ]);
    assert!(out.success(), "{}", out.describe());
    assert!(
        wait_until(Duration::from_secs(20), || state(&d, &name).0 >= 2),
        "{:?}",
        state(&d, &name)
    );
    let stop = d.docker(&["stop", "-t", "1", &name]);
    assert!(stop.success(), "{}", stop.describe());
    let (count, status, _) = state(&d, &name);
    assert_eq!(status, "exited");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        state(&d, &name).0,
        count,
        "a stopped container must not restart"
    );
    assert_eq!(state(&d, &name).1, "exited");
    let _ = d.docker(&["rm", "-f", &name]);
    if !d.owned() {
        let _ = d.docker(&["rmi", &image]);
    }
}

#[test]
fn restart_with_auto_remove_is_refused() {
    let d = daemon();
    let image = load(&d, "rm");
    let out = d.docker(&[
        "create",
        "--network",
        "none",
        "--rm",
        "--restart",
        "always",
        &image,
    ]);
    assert!(!out.success(), "{}", out.describe());
    assert!(
        out.stderr.contains("can't specify both --rm and --restart")
            || out
                .stderr
                .contains("cannot specify both --restart and --rm"),
        "{}",
        out.describe()
    );
    if !d.owned() {
        let _ = d.docker(&["rmi", &image]);
    }
}
