//! Live restore: containers outlive berthd (and its containerd). With twenty containers
//! running (log writers, TTYs, a healthchecked one, one about to exit), after a crash of either,
//! logs written meanwhile are all there, exits that happened meanwhile carry their real
//! codes, health probes and restart policies carry on, and a stopped `unless-stopped`
//! container stays stopped. Only meaningful for a berthd the test booted.

use std::collections::BTreeSet;
use std::time::Duration;

use compat_tests::{Daemon, daemon, procfs, wait_until};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn run(d: &Daemon, args: &[&str]) -> String {
    let mut all = vec!["run", "-d", "--network", "none"];
    all.extend_from_slice(args);
    let out = d.docker(&all);
    assert!(out.success(), "{}", out.describe());
    out.stdout.trim().to_string()
}

fn inspect(d: &Daemon, name: &str, format: &str) -> String {
    d.docker(&["inspect", "-f", format, name])
        .stdout
        .trim()
        .to_string()
}

/// The tick numbers a ticker container logged.
fn ticks(d: &Daemon, name: &str) -> Vec<u64> {
    d.docker(&["logs", name])
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("tick ").and_then(|n| n.parse().ok()))
        .collect()
}

const TICKER: &str = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done";

fn outage(crash_containerd: bool) {
    let mut d = daemon();
    if d.skip_unless_owned("restarts the daemon") {
        return;
    }
    let image = d.load_test_image(if crash_containerd {
        "live-ctrd"
    } else {
        "live-berthd"
    });
    let ticker = run(&d, &["--name", "ticker", &image, "sh", "-c", TICKER]);
    let tty = run(&d, &["-t", "--name", "tty", &image, "sh", "-c", TICKER]);
    // A crowd around them, as in real use: log writers, TTYs and idle ones.
    let crowd: Vec<String> = (0..15)
        .map(|i| {
            let name = format!("crowd{i}");
            match i % 3 {
                0 => run(&d, &["--name", &name, &image, "sh", "-c", TICKER]),
                1 => run(&d, &["-t", "--name", &name, &image, "sh", "-c", TICKER]),
                _ => run(&d, &["--name", &name, &image, "sleep", "300"]),
            };
            name
        })
        .collect();
    let quitter = run(
        &d,
        &["--name", "quitter", &image, "sh", "-c", "sleep 2; exit 7"],
    );
    let healthy = run(
        &d,
        &[
            "--name",
            "healthy",
            "--health-cmd",
            "true",
            "--health-interval",
            "1s",
            &image,
            "sleep",
            "300",
        ],
    );
    let stopped = run(
        &d,
        &[
            "--name",
            "stopped",
            "--restart",
            "unless-stopped",
            &image,
            "sleep",
            "300",
        ],
    );
    assert!(d.docker(&["stop", "-t", "0", "stopped"]).success());
    assert!(wait_until(Duration::from_secs(20), || {
        inspect(&d, "healthy", "{{.State.Health.Status}}") == "healthy"
    }));
    let started_at = inspect(&d, "ticker", "{{.State.StartedAt}}");
    let ticker_pid = inspect(&d, "ticker", "{{.State.Pid}}");

    if crash_containerd {
        let pids = procfs::containerd_daemons_under(&d.exec_root());
        assert_eq!(pids.len(), 1, "{pids:?}");
        kill(Pid::from_raw(pids[0] as i32), Signal::SIGKILL).unwrap();
        // The quitter exits while containerd is down or coming back.
        std::thread::sleep(Duration::from_secs(3));
        assert!(
            wait_until(Duration::from_secs(30), || d.docker(&["version"]).success()),
            "berthd never got a containerd back\n{}",
            d.log()
        );
    } else {
        d.signal(Signal::SIGKILL);
        assert!(d.wait_exit(Duration::from_secs(10)).is_some());
        std::thread::sleep(Duration::from_secs(3));
        d.restart_stopped();
    }

    // Running containers are the same processes as before.
    assert_eq!(inspect(&d, "ticker", "{{.State.Status}}"), "running");
    assert_eq!(inspect(&d, "ticker", "{{.State.StartedAt}}"), started_at);
    assert_eq!(inspect(&d, "ticker", "{{.State.Pid}}"), ticker_pid);
    // The exit during the outage has its real code.
    assert!(
        wait_until(Duration::from_secs(20), || {
            inspect(&d, "quitter", "{{.State.Status}} {{.State.ExitCode}}") == "exited 7"
        }),
        "quitter: {}\n{}",
        inspect(&d, "quitter", "{{json .State}}"),
        d.log()
    );
    // Logs keep flowing, and nothing written meanwhile is missing.
    let before = ticks(&d, "ticker").len();
    assert!(wait_until(Duration::from_secs(20), || ticks(&d, "ticker")
        .len()
        > before + 10));
    let writers = ["ticker", "tty"].into_iter().map(str::to_string).chain(
        crowd
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 != 2)
            .map(|(_, n)| n.clone()),
    );
    for name in writers {
        let got = ticks(&d, &name);
        assert!(!got.is_empty(), "{name} logged nothing");
        let expected: Vec<u64> = (0..got.len() as u64).collect();
        assert_eq!(got, expected, "{name}: a gap in the logs");
    }
    for name in &crowd {
        assert_eq!(inspect(&d, name, "{{.State.Status}}"), "running", "{name}");
    }
    // Probes carry on.
    let probes = |d: &Daemon| {
        d.docker(&[
            "inspect",
            "-f",
            "{{range .State.Health.Log}}{{.Start}} {{end}}",
            "healthy",
        ])
        .stdout
        .split_whitespace()
        .map(str::to_string)
        .collect::<BTreeSet<String>>()
    };
    let seen = probes(&d);
    assert!(
        wait_until(Duration::from_secs(20), || !probes(&d).is_subset(&seen)),
        "no health probe after the restart"
    );
    // A stopped unless-stopped container stays stopped.
    assert_eq!(inspect(&d, "stopped", "{{.State.Status}}"), "exited");
    // `docker attach` reaches the running ticker again.
    let out = d.docker_timeout(&["attach", "--no-stdin", "ticker"], Duration::from_secs(2));
    assert!(out.stdout.contains("tick "), "{}", out.describe());
    let _ = (ticker, tty, quitter, healthy, stopped);
}

#[test]
fn containers_survive_a_berthd_crash() {
    outage(false);
}

#[test]
fn containers_survive_a_containerd_crash() {
    outage(true);
}
