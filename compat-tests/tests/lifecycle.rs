//! The daemon process itself: graceful shutdown, supervision of the embedded containerd,
//! and refusing a second instance. Only meaningful for a berthd the test booted.

use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use compat_tests::{Daemon, cli, daemon, procfs, wait_until};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The embedded containerd of an owned daemon: found by its command line mentioning the
/// daemon's exec root.
fn embedded_containerd(d: &Daemon) -> Vec<u32> {
    procfs::containerd_daemons_under(&d.exec_root())
}

/// Like [`embedded_containerd`], cross-checked with `<exec-root>/containerd/containerd.pid`
/// when that file exists. Only for a settled daemon: while containerd is being replaced the
/// file may briefly name the dying process.
fn settled_containerd(d: &Daemon) -> Vec<u32> {
    let pids = embedded_containerd(d);
    let pidfile = d.exec_root().join("containerd").join("containerd.pid");
    if let Ok(text) = fs::read_to_string(&pidfile)
        && let Ok(pid) = text.trim().parse::<u32>()
        && procfs::alive(pid)
    {
        assert!(
            pids.contains(&pid),
            "{} names {pid}, which is not a containerd under {} (found {pids:?})",
            pidfile.display(),
            d.exec_root().display()
        );
    }
    pids
}

#[test]
fn sigterm_stops_daemon_and_its_containerd() {
    let mut d = daemon();
    if d.skip_unless_owned("stops the daemon") {
        return;
    }
    let pid = d.pid().unwrap();
    assert!(
        d.pidfile().exists(),
        "pidfile {} not written",
        d.pidfile().display()
    );
    assert_eq!(
        fs::read_to_string(d.pidfile()).unwrap().trim(),
        pid.to_string(),
        "pidfile content"
    );
    let containerd = settled_containerd(&d);
    assert_eq!(
        containerd.len(),
        1,
        "expected one embedded containerd, found {containerd:?}"
    );

    d.signal(Signal::SIGTERM);
    let status = d
        .wait_exit(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("berthd did not exit within 20 s of SIGTERM\n{}", d.log()));
    assert!(
        status.success(),
        "berthd exited with {status} on SIGTERM\n{}",
        d.log()
    );
    assert!(!procfs::alive(pid));
    assert!(!d.pidfile().exists(), "pidfile left behind after shutdown");
    // Its containerd is stopped before berthd exits (a moment's grace for the kernel).
    let gone = wait_until(Duration::from_secs(1), || {
        procfs::containerd_pids_under(d.dir()).is_empty()
    });
    assert!(
        gone,
        "containerd processes under {} survive berthd: {:?}",
        d.dir().display(),
        procfs::containerd_pids_under(d.dir())
    );
    assert!(
        !d.socket_path().exists()
            || std::os::unix::net::UnixStream::connect(d.socket_path()).is_err()
    );
}

#[test]
fn killed_containerd_is_restarted() {
    let d = daemon();
    if d.skip_unless_owned("kills the daemon's containerd") {
        return;
    }
    let old = settled_containerd(&d);
    assert_eq!(
        old.len(),
        1,
        "expected one embedded containerd, found {old:?}"
    );
    let old = old[0];
    kill(Pid::from_raw(old as i32), Signal::SIGKILL).expect("SIGKILL containerd");

    let started = Instant::now();
    let mut last = String::new();
    let ok = wait_until(Duration::from_secs(15), || {
        let fresh: Vec<u32> = embedded_containerd(&d)
            .into_iter()
            .filter(|&p| p != old)
            .collect();
        if fresh.is_empty() {
            last = "no new containerd yet".into();
            return false;
        }
        match d.try_request("GET", "/info", &[], b"") {
            Ok(r) if r.status == 200 => true,
            Ok(r) => {
                last = format!("/info answered {}: {}", r.status, r.text());
                false
            }
            Err(e) => {
                last = format!("/info: {e}");
                false
            }
        }
    });
    assert!(ok, "containerd not back within 15 s ({last})\n{}", d.log());
    assert!(!procfs::alive(old), "old containerd {old} still alive");
    eprintln!(
        "containerd restarted and /info healthy after {:?}",
        started.elapsed()
    );
    // The daemon itself never went away, and exactly one containerd serves it.
    assert!(procfs::alive(d.pid().unwrap()));
    assert_eq!(d.get("/_ping").status, 200);
    thread::sleep(Duration::from_millis(500));
    let now = settled_containerd(&d);
    assert_eq!(
        now.len(),
        1,
        "expected one containerd after the restart, found {now:?}"
    );
}

#[test]
fn sigterm_while_containerd_restarts_leaves_nothing_behind() {
    if compat_tests::external_daemon() {
        eprintln!("skipped against an external daemon: kills its containerd and stops it");
        return;
    }
    // Several delays, to land before, during and after a supervisor's restart back-off.
    for delay_ms in [0, 20, 90, 110, 150, 300] {
        sigterm_after_containerd_kill(Duration::from_millis(delay_ms));
    }
}

fn sigterm_after_containerd_kill(delay: Duration) {
    let mut d = daemon();
    let old = settled_containerd(&d);
    assert_eq!(
        old.len(),
        1,
        "expected one embedded containerd, found {old:?}"
    );
    kill(Pid::from_raw(old[0] as i32), Signal::SIGKILL).expect("SIGKILL containerd");
    // Stop the daemon while its supervisor is (about to be) restarting containerd.
    thread::sleep(delay);
    d.signal(Signal::SIGTERM);
    let stopping = Instant::now();
    let status = d
        .wait_exit(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("berthd did not exit within 20 s of SIGTERM\n{}", d.log()));
    assert!(status.success(), "berthd exited with {status}\n{}", d.log());
    let took = stopping.elapsed();
    eprintln!("containerd killed, SIGTERM {delay:?} later: exited after {took:?}");
    // Give a containerd spawned late by a racing supervisor time to show up.
    thread::sleep(Duration::from_millis(500));
    let left = procfs::containerd_pids_under(d.dir());
    // Orphans configured inside this test's own temp dir: remove them so that failed runs
    // do not pile up containerds on the host, then fail below.
    for &pid in &left {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
    }
    assert!(
        left.is_empty(),
        "containerd left running after shutdown (SIGTERM {delay:?} after the kill, \
         shutdown took {took:?}): {left:?}\n{}",
        d.log()
    );
    // dockerd 20.10 exits within about a second here; no containers are running, so there
    // is nothing to wait for.
    assert!(
        took < Duration::from_secs(10),
        "shutdown took {took:?} (SIGTERM {delay:?} after containerd died)\n{}",
        d.log()
    );
    assert!(!d.pidfile().exists(), "pidfile left behind");
}

#[test]
fn second_instance_on_same_roots_is_refused() {
    let d = daemon();
    if d.skip_unless_owned("starts a second daemon on the same data root") {
        return;
    }
    let bin = d.bin().expect("owned daemon has a binary").to_path_buf();
    let other = d.dir().join("second");
    fs::create_dir_all(&other).unwrap();
    let (mut cmd, _bridge) = compat_tests::bare_daemon_command(&bin);
    cmd.arg("-H")
        .arg(format!("unix://{}", other.join("berth.sock").display()))
        .arg("--data-root")
        .arg(d.data_root())
        .arg("--exec-root")
        .arg(other.join("exec"))
        .arg("--pidfile")
        .arg(d.pidfile())
        .env("HTTPS_PROXY", "http://127.0.0.1:9");
    // cli::run kills the second instance (which this test started) if it does not give up.
    let started = Instant::now();
    let out = cli::run(cmd, Duration::from_secs(15));
    assert!(
        !out.timed_out,
        "second berthd kept running\n{}",
        out.describe()
    );
    assert_ne!(out.status, 0, "second berthd exited 0\n{}", out.describe());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    let text = format!("{}{}", out.stdout, out.stderr);
    let pidfile = d.pidfile().display().to_string();
    let data_root = d.data_root().display().to_string();
    assert!(
        text.contains(&pidfile) || text.contains(&data_root),
        "message should name the pidfile or data root\n{}",
        out.describe()
    );
    // The first daemon is unharmed and still owns its pidfile.
    assert_eq!(d.get("/_ping").status, 200);
    assert_eq!(
        fs::read_to_string(d.pidfile()).unwrap().trim(),
        d.pid().unwrap().to_string()
    );
}
