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
    // The quitter exits when the test says so (a file appears in a bound directory), so
    // its exit falls inside the outage whatever the machine's speed.
    let signals = compat_tests::TempDir::new("bct-live-quit");
    let bind = format!("{}:/sig", signals.display());
    let quitter = run(
        &d,
        &[
            "--name",
            "quitter",
            "-v",
            &bind,
            &image,
            "sh",
            "-c",
            "while [ ! -e /sig/go ]; do sleep 0.05; done; exit 7",
        ],
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
        // The quitter exits while containerd is down.
        std::fs::write(signals.join("go"), b"").unwrap();
        std::thread::sleep(Duration::from_secs(3));
        assert!(
            wait_until(Duration::from_secs(30), || d.docker(&["version"]).success()),
            "berthd never got a containerd back\n{}",
            d.log()
        );
    } else {
        d.signal(Signal::SIGKILL);
        assert!(d.wait_exit(Duration::from_secs(10)).is_some());
        // The quitter exits while the daemon is down.
        std::fs::write(signals.join("go"), b"").unwrap();
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

/// The numbers after `prefix` on each line, in order.
fn numbered(text: &str, prefix: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix(prefix).and_then(|n| n.parse().ok()))
        .collect()
}

/// berthd killed while a container floods both streams: every line is in the log once, in
/// order, though at the kill the copiers were in the middle of chunks they had taken from
/// the FIFOs.
#[test]
fn a_flood_of_output_loses_no_line_to_a_berthd_crash() {
    flood(&[]);
}

/// The same with a log that rotates as it goes (kept long enough that the kill is among
/// the lines kept): they run on without a gap or a repeat.
#[test]
fn a_flood_into_a_rotating_log_survives_a_berthd_crash() {
    flood(&["--log-opt", "max-size=512k", "--log-opt", "max-file=100"]);
}

/// Skips on dockerd, where these tests pass in some runs and fail in others: in one CI run
/// dockerd 20.10 lost 806 flood lines at the kill, and in another all 10000 last lines of a
/// container that ended in the outage (passing on a second try), so they can neither run
/// there nor be ledgered as failing.
fn skip_on_dockerd(d: &Daemon) -> bool {
    if d.is_dockerd() {
        compat_tests::skip("dockerd 20.10 loses output at a kill in some runs, not all");
    }
    d.is_dockerd()
}

fn flood(log_opts: &[&str]) {
    let mut d = daemon();
    if d.skip_unless_owned("restarts the daemon") || skip_on_dockerd(&d) {
        return;
    }
    let image = d.load_test_image("live-flood");
    let signals = compat_tests::TempDir::new("bct-live-flood");
    let bind = format!("{}:/sig", signals.display());
    let flood = "i=0; while [ ! -e /sig/stop ]; do echo out $i; echo err $i >&2; i=$((i+1)); done; echo end $i";
    let mut args = vec!["--name", "flood", "-v", &bind];
    args.extend_from_slice(log_opts);
    args.extend_from_slice(&[&image, "sh", "-c", flood]);
    run(&d, &args);
    let log_path = std::path::PathBuf::from(inspect(&d, "flood", "{{.LogPath}}"));
    // How much was logged, rotated files included.
    let log_len = || {
        (0..100)
            .map(|n| match n {
                0 => log_path.clone(),
                n => std::path::PathBuf::from(format!("{}.{n}", log_path.display())),
            })
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum::<u64>()
    };
    assert!(
        wait_until(Duration::from_secs(20), || log_len() > 160 * 1024),
        "the flood never filled the log: {} bytes",
        log_len()
    );

    // The last stdout line logged so far, among the last `tail` lines (after a restart
    // the streams are logged in runs of hundreds of lines each).
    let last_out = |d: &Daemon, tail: &str| {
        numbered(&d.docker(&["logs", "--tail", tail, "flood"]).stdout, "out ")
            .last()
            .copied()
            .unwrap_or(0)
    };
    let before_kill = last_out(&d, "all");
    d.signal(Signal::SIGKILL);
    assert!(d.wait_exit(Duration::from_secs(10)).is_some());
    d.restart_stopped();
    // The flood goes on through the restarted berthd for a moment, then stops. (Stopped
    // during the outage it could end with its last lines in a FIFO its shim then closes,
    // which the kernel drops: see the test below.)
    let resumed_at = last_out(&d, "4000");
    assert!(
        wait_until(Duration::from_secs(20), || last_out(&d, "4000")
            > resumed_at + 1000),
        "no output logged after the restart"
    );
    std::fs::write(signals.join("stop"), b"").unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || {
            inspect(&d, "flood", "{{.State.Status}}") == "exited"
        }),
        "the flood did not stop"
    );
    let logs = d.docker(&["logs", "flood"]);
    assert!(logs.success(), "{}", logs.describe());
    let rotating = !log_opts.is_empty();
    let rotated = std::path::PathBuf::from(format!("{}.1", log_path.display()));
    assert_eq!(rotated.exists(), rotating, "{}", rotated.display());
    let mut total = 0;
    for (stream, text, prefix) in [
        ("stdout", &logs.stdout, "out "),
        ("stderr", &logs.stderr, "err "),
    ] {
        let got = numbered(text, prefix);
        total += got.len();
        // Rotation drops the oldest lines (after a restart each stream is drained in long
        // runs, so the kept files may hold only one); the rest follow on from the first
        // one kept.
        let first = match got.first() {
            Some(&n) if rotating => {
                assert!(
                    stream == "stderr" || n < before_kill,
                    "the kept stdout lines start at {n}, after the kill (line {before_kill})"
                );
                n
            }
            Some(_) => 0,
            None if rotating => continue,
            None => panic!("{stream}: no lines in {}", logs.describe()),
        };
        if let Some(i) = (0..got.len()).find(|&i| got[i] != first + i as u64) {
            panic!(
                "{stream}: line {i} is {} (lines {:?} around it)",
                got[i],
                &got[i.saturating_sub(3)..(i + 3).min(got.len())]
            );
        }
    }
    assert!(total > 1000, "only {total} lines in {}", logs.describe());
    // The flood's last word, written only after the kill, says how many lines it wrote.
    let end = numbered(&logs.stdout, "end ");
    let outs = numbered(&logs.stdout, "out ");
    assert_eq!(
        (end.len(), outs.last().map(|n| n + 1)),
        (1, end.first().copied()),
        "the flood's end is missing or does not follow its last line: {:?}",
        logs.stdout.lines().rev().take(3).collect::<Vec<_>>()
    );
}

/// A container that writes its last lines and exits while berthd is down: what the shim
/// still holds for the full FIFO reaches the log when berthd is back. (Some 100 KiB: more
/// than the FIFO holds, so the shim is still copying when the process exits.)
#[test]
fn the_last_output_of_a_container_that_ends_in_an_outage_is_logged() {
    let mut d = daemon();
    if d.skip_unless_owned("restarts the daemon") || skip_on_dockerd(&d) {
        return;
    }
    let image = d.load_test_image("live-last");
    let signals = compat_tests::TempDir::new("bct-live-last");
    let bind = format!("{}:/sig", signals.display());
    let script = "while [ ! -e /sig/go ]; do sleep 0.05; done; \
                  i=0; while [ $i -lt 10000 ]; do echo last $i; i=$((i+1)); done; exit 3";
    run(
        &d,
        &["--name", "last", "-v", &bind, &image, "sh", "-c", script],
    );
    let pid: u32 = inspect(&d, "last", "{{.State.Pid}}").parse().unwrap();
    d.signal(Signal::SIGKILL);
    assert!(d.wait_exit(Duration::from_secs(10)).is_some());
    std::fs::write(signals.join("go"), b"").unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || !procfs::alive(pid)),
        "the container did not end in the outage"
    );
    d.restart_stopped();
    assert!(
        wait_until(Duration::from_secs(20), || {
            inspect(&d, "last", "{{.State.Status}} {{.State.ExitCode}}") == "exited 3"
        }),
        "last: {}",
        inspect(&d, "last", "{{json .State}}")
    );
    let logs = d.docker(&["logs", "last"]);
    let got = numbered(&logs.stdout, "last ");
    let missing = (0..10000).filter(|n| !got.contains(n)).count();
    assert_eq!(
        got,
        (0..10000).collect::<Vec<u64>>(),
        "{missing} of 10000 lines missing; {}",
        logs.stderr
    );
}

/// A `--rm` container that was not running when the daemon died is removed when it comes
/// back, as dockerd's restore does; a container without `--rm` stays.
#[test]
fn rm_containers_that_were_not_running_go_at_restart() {
    let mut d = daemon();
    if d.skip_unless_owned("restarts the daemon") {
        return;
    }
    let image = d.load_test_image("live-rm");
    let created = d.docker(&[
        "create",
        "--rm",
        "--network",
        "none",
        "--name",
        "rm-created",
        &image,
        "true",
    ]);
    assert!(created.success(), "{}", created.describe());
    run(
        &d,
        &["--rm", "--name", "rm-running", &image, "sleep", "300"],
    );
    let kept = d.docker(&[
        "create",
        "--network",
        "none",
        "--name",
        "kept",
        &image,
        "true",
    ]);
    assert!(kept.success(), "{}", kept.describe());

    d.signal(Signal::SIGKILL);
    assert!(d.wait_exit(Duration::from_secs(10)).is_some());
    // As in the outage test: dockerd's own containerd needs a moment before a new dockerd
    // can take it over.
    std::thread::sleep(Duration::from_secs(3));
    d.restart_stopped();

    assert!(
        wait_until(Duration::from_secs(20), || {
            !d.docker(&["inspect", "rm-created"]).success()
        }),
        "the created --rm container survived the restart\n{}",
        d.log()
    );
    assert_eq!(inspect(&d, "kept", "{{.State.Status}}"), "created");
}

/// `docker rm` while containerd is down fails (5xx), and leaves the container as it was:
/// once containerd is back, the same `rm` succeeds instead of finding the container stuck
/// in `removing`. A `start` in the outage is a 5xx too, never a client error.
#[test]
fn a_remove_in_a_containerd_outage_can_be_retried() {
    let d = daemon();
    if d.skip_unless_owned("kills the daemon's containerd") {
        return;
    }
    let image = d.load_test_image("live-rmretry");
    let done = d.docker(&["run", "--name", "gone", "--network", "none", &image, "true"]);
    assert!(done.success(), "{}", done.describe());
    let idle = d.docker(&[
        "create",
        "--name",
        "idle",
        "--network",
        "none",
        &image,
        "true",
    ]);
    assert!(idle.success(), "{}", idle.describe());

    let pids = procfs::containerd_daemons_under(&d.exec_root());
    assert_eq!(pids.len(), 1, "{pids:?}");
    kill(Pid::from_raw(pids[0] as i32), Signal::SIGKILL).unwrap();
    let rm = d.request("DELETE", "/containers/gone", &[], b"");
    assert!(
        matches!(rm.status, 204 | 500..=599),
        "rm in the outage: {}",
        rm.describe()
    );
    let start = d.request("POST", "/containers/idle/start", &[], b"");
    assert!(
        matches!(start.status, 204 | 500..=599),
        "start in the outage: {}",
        start.describe()
    );

    assert!(
        wait_until(Duration::from_secs(30), || d.docker(&["version"]).success()),
        "the daemon never got a containerd back\n{}",
        d.log()
    );
    assert!(
        wait_until(Duration::from_secs(20), || {
            d.request("DELETE", "/containers/gone", &[], b"").status == 404
        }),
        "the container cannot be removed after the outage: {}",
        d.request("DELETE", "/containers/gone", &[], b"").describe()
    );
}
