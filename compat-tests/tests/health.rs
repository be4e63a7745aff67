//! Healthchecks run by the daemon: status through starting, unhealthy and healthy, the
//! probe log, timeouts, the start period, `health_status` events, `(healthy)` in `docker ps`
//! and the `health` filter. Checked against Debian's dockerd 20.10 first.

use std::time::Duration;

use compat_tests::{Daemon, daemon, wait_until};
use serde_json::Value;

struct Ctx {
    d: Daemon,
    image: String,
    names: Vec<String>,
}

fn setup(test: &str) -> Ctx {
    let d = daemon();
    let tag = d.load_test_image(&format!("health-{test}"));
    Ctx {
        d,
        image: tag,
        names: vec![],
    }
}

impl Ctx {
    fn run(&mut self, what: &str, flags: &[&str]) -> String {
        let name = format!("bct-health-{}-{what}", std::process::id());
        self.names.push(name.clone());
        let mut args = vec!["run", "-d", "--name", &name, "--network", "none"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[&self.image, "sleep", "300"]);
        let out = self.d.docker(&args);
        assert!(out.success(), "{}", out.describe());
        name
    }

    fn health(&self, name: &str) -> Value {
        let (_, v) = self.d.get_json(&format!("/containers/{name}/json"));
        v["State"]["Health"].clone()
    }

    fn wait_status(&self, name: &str, status: &str) -> Value {
        let mut last = Value::Null;
        let ok = wait_until(Duration::from_secs(30), || {
            last = self.health(name);
            last["Status"] == status
        });
        assert!(ok, "{name} never became {status}: {last}");
        last
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = self.d.docker(&["rm", "-f", n]);
        }
        if !self.d.owned() {
            let _ = self.d.docker(&["rmi", "-f", &self.image]);
        }
    }
}

#[test]
fn probes_move_a_container_from_starting_to_unhealthy_to_healthy() {
    let mut c = setup("cycle");
    let since = compat_tests::unix_now();
    let name = c.run(
        "cycle",
        &[
            "--health-cmd",
            "test -f /tmp/ok",
            "--health-interval",
            "1s",
            "--health-retries",
            "2",
        ],
    );
    let h = c.health(&name);
    assert_eq!(h["Status"], "starting", "{h}");
    let out = c.d.docker(&[
        "ps",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Status}}",
    ]);
    assert!(
        out.stdout.contains("(health: starting)"),
        "{}",
        out.describe()
    );

    let h = c.wait_status(&name, "unhealthy");
    assert!(h["FailingStreak"].as_i64().unwrap() >= 2, "{h}");
    let log = h["Log"].as_array().unwrap();
    assert!(!log.is_empty() && log.len() <= 5, "{h}");
    assert_eq!(log[0]["ExitCode"], 1, "{h}");
    for key in ["Start", "End", "Output"] {
        assert!(log[0][key].is_string(), "{h}");
    }
    let out = c.d.docker(&[
        "ps",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Status}}",
    ]);
    assert!(out.stdout.contains("(unhealthy)"), "{}", out.describe());

    assert!(c.d.docker(&["exec", &name, "touch", "/tmp/ok"]).success());
    let h = c.wait_status(&name, "healthy");
    assert_eq!(h["FailingStreak"], 0, "{h}");
    assert_eq!(h["Log"].as_array().unwrap().last().unwrap()["ExitCode"], 0);
    let out =
        c.d.docker(&["ps", "--filter", "health=healthy", "--format", "{{.Names}}"]);
    assert!(out.stdout.lines().any(|l| l == name), "{}", out.describe());
    let out = c.d.docker(&[
        "ps",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Status}}",
    ]);
    assert!(out.stdout.contains("(healthy)"), "{}", out.describe());

    let events = c.d.docker(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &(compat_tests::unix_now() + 1).to_string(),
        "--filter",
        &format!("container={name}"),
        "--format",
        "{{.Action}}",
    ]);
    let actions: Vec<&str> = events.stdout.lines().collect();
    let unhealthy = actions
        .iter()
        .position(|a| *a == "health_status: unhealthy");
    let healthy = actions.iter().position(|a| *a == "health_status: healthy");
    assert!(
        matches!((unhealthy, healthy), (Some(u), Some(h)) if u < h),
        "{actions:?}"
    );
}

#[test]
fn a_probe_over_its_timeout_fails_with_dockers_message() {
    let mut c = setup("timeout");
    let name = c.run(
        "timeout",
        &[
            "--health-cmd",
            "sleep 10",
            "--health-interval",
            "1s",
            "--health-timeout",
            "1s",
            "--health-retries",
            "1",
        ],
    );
    let h = c.wait_status(&name, "unhealthy");
    let first = &h["Log"][0];
    assert_eq!(first["ExitCode"], -1, "{h}");
    assert_eq!(first["Output"], "Health check exceeded timeout (1s)", "{h}");
}

#[test]
fn failures_inside_the_start_period_do_not_count() {
    let mut c = setup("start-period");
    let name = c.run(
        "start-period",
        &[
            "--health-cmd",
            "false",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
            "--health-start-period",
            "60s",
        ],
    );
    let mut h = Value::Null;
    let probed = wait_until(Duration::from_secs(30), || {
        h = c.health(&name);
        h["Log"].as_array().is_some_and(|l| l.len() >= 2)
    });
    assert!(probed, "no probes ran: {h}");
    assert_eq!(h["Status"], "starting", "{h}");
    assert_eq!(h["FailingStreak"], 0, "{h}");
    // A container without a healthcheck has no Health at all.
    let plain = c.run("plain", &[]);
    assert!(c.health(&plain).is_null());
    let out =
        c.d.docker(&["ps", "--filter", "health=none", "--format", "{{.Names}}"]);
    assert!(out.stdout.lines().any(|l| l == plain), "{}", out.describe());
}
