//! Crash chaos: cycles of container churn on the default bridge and without a network, with
//! berthd (or, one cycle in five, its containerd) SIGKILLed at a random moment. After each
//! restart nothing may be left that no record accounts for: no running task, containerd
//! container, container snapshot, network namespace or bridge port without a container to
//! show for it, no two containers with one address, no container stuck in `removing`, no
//! `--rm` container that is not running, no lease of an operation the killed daemon was in;
//! and everything can then be removed.
//!
//! `BERTH_CHAOS_CYCLES` (default 6) and `BERTH_CHAOS_SEED` (default: the clock) choose the
//! run; the seed is printed, so a failure can be replayed. berthd only: the checks read
//! berthd's containerd namespace and exec root.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use compat_tests::{Daemon, daemon, procfs, skip, wait_until};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

/// xorshift64*: enough randomness to pick moments, replayable from its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// One client's loop of work until `stop`; failures are expected once the daemon dies.
fn churn(d: &Daemon, image: &str, job: usize, stop: &AtomicBool) {
    let create = |body: Value| -> Option<String> {
        let bytes = serde_json::to_vec(&body).unwrap();
        let r = d
            .try_request(
                "POST",
                "/containers/create",
                &[("Content-Type", "application/json")],
                &bytes,
            )
            .ok()?;
        (r.status == 201).then(|| r.json()["Id"].as_str().unwrap_or_default().to_string())
    };
    let call = |method: &str, path: String| {
        let _ = d.try_request(method, &path, &[], b"");
    };
    while !stop.load(Ordering::Relaxed) {
        match job % 4 {
            0 => {
                let _ = d.docker_timeout(&["run", "--rm", image, "true"], Duration::from_secs(30));
            }
            1 => {
                if let Some(id) = create(json!({"Image": image, "Cmd": ["sleep", "300"]})) {
                    call("POST", format!("/containers/{id}/start"));
                    call("DELETE", format!("/containers/{id}?force=1"));
                }
            }
            2 => {
                let body = json!({"Image": image, "Cmd": ["true"],
                    "HostConfig": {"AutoRemove": true}});
                if let Some(id) = create(body) {
                    call("POST", format!("/containers/{id}/start"));
                }
            }
            _ => {
                let body = json!({"Image": image, "Cmd": ["sleep", "300"],
                    "HostConfig": {"NetworkMode": "none"}});
                if let Some(id) = create(body) {
                    call("POST", format!("/containers/{id}/start"));
                    let exec = serde_json::to_vec(&json!({"Cmd": ["true"]})).unwrap();
                    if let Ok(r) = d.try_request(
                        "POST",
                        &format!("/containers/{id}/exec"),
                        &[("Content-Type", "application/json")],
                        &exec,
                    ) && r.status == 201
                    {
                        let e = r.json()["Id"].as_str().unwrap_or_default().to_string();
                        let _ = d.try_request(
                            "POST",
                            &format!("/exec/{e}/start"),
                            &[("Content-Type", "application/json")],
                            br#"{"Detach": true}"#,
                        );
                    }
                    call("POST", format!("/containers/{id}/stop?t=0"));
                    call("DELETE", format!("/containers/{id}"));
                }
            }
        }
    }
}

/// `ctr` output's first column, header skipped.
fn first_column(out: &str) -> Vec<String> {
    out.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

fn bridge_ports(d: &Daemon) -> Vec<String> {
    let (_, net) = d.get_json("/networks/bridge");
    let bridge = net["Options"]["com.docker.network.bridge.name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        !bridge.is_empty(),
        "bridge network without a bridge name: {net}"
    );
    let out = Command::new("ip")
        .args(["-o", "link", "show", "master", &bridge])
        .output()
        .expect("ip link");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(':').nth(1).map(|s| s.trim().to_string()))
        .collect()
}

fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What the daemon and its containerd hold, compared; an empty list when all agree.
fn leftovers(d: &Daemon, restarted: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let (status, list) = d.get_json("/containers/json?all=1");
    if status != 200 {
        return vec![format!("list answered {status}: {list}")];
    }
    let mut state: BTreeMap<String, String> = BTreeMap::new();
    for c in list.as_array().into_iter().flatten() {
        let id = c["Id"].as_str().unwrap_or_default().to_string();
        state.insert(id, c["State"].as_str().unwrap_or_default().to_string());
    }
    let running: BTreeSet<&String> = state
        .iter()
        .filter(|(_, s)| *s == "running")
        .map(|(id, _)| id)
        .collect();
    for (id, s) in &state {
        if s == "removing" {
            problems.push(format!("{id} is stuck in removing"));
        }
        // `--rm`: gone once exited or once its start failed; after a daemon restart gone
        // unless running (a created one that nobody started yet may wait for its start).
        let (_, c) = d.get_json(&format!("/containers/{id}/json"));
        let failed_start = s == "created" && c["State"]["Error"] != json!("");
        if c["HostConfig"]["AutoRemove"] == json!(true)
            && (s == "exited" || failed_start || (restarted && s != "running"))
        {
            problems.push(format!("--rm container {id} is {s}: {}", c["State"]));
        }
    }
    for line in d.ctr(&["tasks", "ls"]).lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if let [id, _, status, ..] = cols[..]
            && status == "RUNNING"
            && !running.contains(&id.to_string())
        {
            problems.push(format!("task {id} runs without a running container"));
        }
    }
    for id in first_column(&d.ctr(&["containers", "ls"])) {
        if !state.contains_key(&id) {
            problems.push(format!("containerd container {id} has no record"));
        }
    }
    for key in first_column(&d.ctr(&["snapshots", "ls"])) {
        if is_container_id(&key) && !state.contains_key(&key) {
            problems.push(format!("snapshot {key} has no container"));
        }
    }
    // An operation's lease (`berth-<purpose>-<n>`) outlives it only when berthd is killed;
    // the restarted daemon ends those (the containers' own `berth-container-` leases stay).
    if restarted {
        for lease in first_column(&d.ctr(&["leases", "ls"])) {
            if lease.starts_with("berth-") && !lease.starts_with("berth-container-") {
                problems.push(format!("lease {lease} left from before the restart"));
            }
        }
    }
    let netns = d.exec_root().join("netns");
    for entry in std::fs::read_dir(&netns).into_iter().flatten().flatten() {
        let id = entry.file_name().to_string_lossy().into_owned();
        if !running.contains(&id) {
            problems.push(format!(
                "network namespace {id} without a running container"
            ));
        }
    }
    let mut addresses: BTreeMap<String, String> = BTreeMap::new();
    let mut on_bridge = 0;
    for id in &running {
        let (_, c) = d.get_json(&format!("/containers/{id}/json"));
        for (name, e) in c["NetworkSettings"]["Networks"]
            .as_object()
            .into_iter()
            .flatten()
        {
            let ip = e["IPAddress"].as_str().unwrap_or_default();
            if ip.is_empty() {
                continue;
            }
            if name == "bridge" {
                on_bridge += 1;
            }
            if let Some(other) = addresses.insert(ip.to_string(), id.to_string()) {
                problems.push(format!("{ip} is held by {other} and {id}"));
            }
        }
    }
    let ports = bridge_ports(d);
    if ports.len() != on_bridge {
        problems.push(format!(
            "{} ports on the bridge ({ports:?}) for {on_bridge} running containers on it",
            ports.len()
        ));
    }
    problems
}

/// Waits for the checks to agree, then fails with what is still wrong. Exits and removals
/// settle within seconds, except where containerd was killed while a task was being made:
/// the restarted containerd gives up on that task's shim only after 30 s, and a removal
/// waiting on it shows `removing` until then.
fn assert_consistent(d: &Daemon, restarted: bool, when: &str) {
    let mut last = Vec::new();
    let settled = wait_until(Duration::from_secs(60), || {
        last = leftovers(d, restarted);
        last.is_empty()
    });
    assert!(
        settled,
        "{when}:\n{}\n--- log\n{}",
        last.join("\n"),
        d.log()
    );
}

/// Sets the flag when dropped, also while a panic unwinds.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[test]
fn crashes_leave_nothing_behind() {
    let mut d = daemon();
    if d.skip_unless_owned("kills the daemon and its containerd") {
        return;
    }
    if d.is_dockerd() {
        skip("reads berthd's containerd namespace and exec root");
        return;
    }
    let image = d.load_test_image("chaos");
    let cycles = env_u64("BERTH_CHAOS_CYCLES").unwrap_or(6);
    let seed = env_u64("BERTH_CHAOS_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |t| t.as_nanos() as u64)
            | 1
    });
    eprintln!("chaos: {cycles} cycles, BERTH_CHAOS_SEED={seed}");
    let mut rng = Rng(seed);
    for cycle in 0..cycles {
        let kill_containerd = cycle % 5 == 4;
        let delay = Duration::from_millis(50 + rng.below(550));
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            for job in 0..6 {
                let (d, image, stop) = (&d, &image, &stop);
                s.spawn(move || churn(d, image, job, stop));
            }
            // A failed assertion below must stop the churn too, or the scope waits forever.
            let _stop_churn = StopOnDrop(&stop);
            std::thread::sleep(delay);
            if kill_containerd {
                let pids = procfs::containerd_daemons_under(&d.exec_root());
                assert_eq!(
                    pids.len(),
                    1,
                    "containerd daemons under the exec root: {}\n{}",
                    procfs::describe(&pids),
                    d.log()
                );
                kill(Pid::from_raw(pids[0] as i32), Signal::SIGKILL).unwrap();
            } else {
                d.signal(Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(300));
            stop.store(true, Ordering::Relaxed);
        });
        if kill_containerd {
            let deadline = Instant::now() + Duration::from_secs(30);
            while !d
                .try_request("GET", "/version", &[], b"")
                .is_ok_and(|r| r.status == 200)
                || Command::new("ctr")
                    .arg("-a")
                    .arg(d.exec_root().join("containerd/containerd.sock"))
                    .args(["version"])
                    .output()
                    .map(|o| !o.status.success())
                    .unwrap_or(true)
            {
                assert!(Instant::now() < deadline, "no containerd back\n{}", d.log());
                std::thread::sleep(Duration::from_millis(200));
            }
        } else {
            assert!(d.wait_exit(Duration::from_secs(10)).is_some());
            d.restart_stopped();
        }
        let what = if kill_containerd {
            "containerd"
        } else {
            "berthd"
        };
        assert_consistent(
            &d,
            !kill_containerd,
            &format!("cycle {cycle} (seed {seed}), {what} killed after {delay:?}"),
        );
        // Everything can be removed, and then nothing is left.
        let (_, list) = d.get_json("/containers/json?all=1");
        for c in list.as_array().into_iter().flatten() {
            let id = c["Id"].as_str().unwrap_or_default();
            let r = d.request("DELETE", &format!("/containers/{id}?force=1"), &[], b"");
            assert!(
                matches!(r.status, 204 | 404),
                "cycle {cycle}: rm -f {id}: {}",
                r.describe()
            );
        }
        assert_consistent(
            &d,
            false,
            &format!("cycle {cycle} (seed {seed}), after removing all"),
        );
        let (_, list) = d.get_json("/containers/json?all=1");
        assert_eq!(
            list,
            json!([]),
            "cycle {cycle}: containers left after rm -f"
        );
        if (cycle + 1) % 50 == 0 {
            eprintln!("chaos: {} cycles passed", cycle + 1);
        }
    }
}

/// berthd for a crash-point test, with the test image; `None` (a skip) on an external
/// daemon or dockerd (the crash points are berthd's).
fn crash_daemon(test: &str) -> Option<(Daemon, String)> {
    let d = daemon();
    if d.skip_unless_owned("restarts the daemon at a crash point") {
        return None;
    }
    if d.is_dockerd() {
        skip("BERTH_CRASH_AT is berthd's");
        return None;
    }
    let image = d.load_test_image(test);
    Some((d, image))
}

/// Restarts berthd to crash at `point`, sends the request it dies in (no answer, and the
/// daemon exits), restarts it plainly and checks that nothing is left behind.
fn crash_in(d: &mut Daemon, point: &str, path: &str, body: &Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    crash_in_request(d, point, path, "application/json", &bytes);
}

/// [`crash_in`] with a body of any type.
fn crash_in_request(d: &mut Daemon, point: &str, path: &str, content_type: &str, body: &[u8]) {
    d.restart_crashing_at(point);
    let r = d.try_request("POST", path, &[("Content-Type", content_type)], body);
    assert!(
        r.is_err(),
        "POST {path} was answered: {:?}",
        r.map(|r| r.status)
    );
    assert!(
        d.wait_exit(Duration::from_secs(10)).is_some(),
        "berthd did not reach its crash point\n{}",
        d.log()
    );
    d.restart_stopped();
    assert_consistent(d, true, "after the restart");
}

fn create(d: &Daemon, body: &Value) -> String {
    let r = d.post_json("/containers/create", body);
    assert_eq!(r.status, 201, "{}", r.describe());
    r.json()["Id"].as_str().unwrap().to_string()
}

/// Starts the container and checks that it runs, then removes everything and checks that
/// nothing is left.
fn starts_then_clears(d: &Daemon, id: &str) {
    let r = d.request("POST", &format!("/containers/{id}/start"), &[], b"");
    assert_eq!(r.status, 204, "start after the crash: {}", r.describe());
    let (_, c) = d.get_json(&format!("/containers/{id}/json"));
    assert_eq!(c["State"]["Running"], json!(true), "{}", c["State"]);
    assert_consistent(d, false, "after starting it again");
    let (_, list) = d.get_json("/containers/json?all=1");
    for c in list.as_array().into_iter().flatten() {
        let id = c["Id"].as_str().unwrap_or_default();
        let r = d.request("DELETE", &format!("/containers/{id}?force=1"), &[], b"");
        assert_eq!(r.status, 204, "{}", r.describe());
    }
    assert_consistent(d, false, "after removing everything");
    let (_, list) = d.get_json("/containers/json?all=1");
    assert_eq!(list, json!([]));
}

/// Issue row: berthd killed after the task started but before the record said so. The
/// restarted daemon must not leave the process running behind a `created` record.
#[test]
fn a_crash_after_the_task_started_leaves_no_stray_process() {
    let Some((mut d, image)) = crash_daemon("crash-task") else {
        return;
    };
    let id = create(
        &d,
        &json!({"Image": image, "Cmd": ["sleep", "300"], "HostConfig": {"NetworkMode": "none"}}),
    );
    crash_in(
        &mut d,
        "start:task-started",
        &format!("/containers/{id}/start"),
        &json!({}),
    );
    let (_, c) = d.get_json(&format!("/containers/{id}/json"));
    assert_ne!(c["State"]["Status"], json!("running"), "{}", c["State"]);
    starts_then_clears(&d, &id);
}

/// Issue row: berthd killed on the bridge after the namespace, veth and address were made
/// but before the task. After the restart no namespace or bridge port is left, and the
/// address is free for the containers that follow (no address held twice).
#[test]
fn a_crash_after_joining_the_bridge_leaks_no_namespace_port_or_address() {
    let Some((mut d, image)) = crash_daemon("crash-net") else {
        return;
    };
    let id = create(&d, &json!({"Image": image, "Cmd": ["sleep", "300"]}));
    crash_in(
        &mut d,
        "start:network-joined",
        &format!("/containers/{id}/start"),
        &json!({}),
    );
    // Three more on the bridge: with the crashed one's address leaked, one of them would
    // get it again.
    for _ in 0..3 {
        let other = create(&d, &json!({"Image": image, "Cmd": ["sleep", "300"]}));
        let r = d.request("POST", &format!("/containers/{other}/start"), &[], b"");
        assert_eq!(r.status, 204, "{}", r.describe());
    }
    assert_consistent(&d, false, "with three more on the bridge");
    starts_then_clears(&d, &id);
}

/// berthd killed at the same point on a user-defined network, whose endpoint berthd
/// plumbs itself, whose names it gives the network's resolver and whose published port it
/// forwards: after the restart the network's bridge has no port, the resolver's file no line
/// for the container and the nat table no rule to the network, and the container starts
/// again (and is then listed and forwarded to).
#[test]
fn a_crash_after_joining_a_user_network_leaves_no_port_or_name() {
    let Some((mut d, image)) = crash_daemon("crash-usernet") else {
        return;
    };
    let bridge = format!("bcr{}", std::process::id() % 100_000);
    let r = d.post_json(
        "/networks/create",
        &json!({"Name": "crash-usernet", "Options": {"com.docker.network.bridge.name": bridge}}),
    );
    assert_eq!(r.status, 201, "{}", r.describe());
    let network = r.json()["Id"].as_str().unwrap().to_string();
    let id = create(
        &d,
        &json!({"Image": image, "Cmd": ["sleep", "300"], "ExposedPorts": {"8080/tcp": {}},
            "HostConfig": {"NetworkMode": "crash-usernet",
                "PortBindings": {"8080/tcp": [{"HostIp": "127.0.0.1"}]}}}),
    );
    crash_in(
        &mut d,
        "start:network-joined",
        &format!("/containers/{id}/start"),
        &json!({}),
    );
    let names = d.exec_root().join("netavark/aardvark-dns").join(&network);
    let listed = |id: &str| {
        std::fs::read_to_string(&names).is_ok_and(|t| t.lines().any(|l| l.starts_with(id)))
    };
    let ports = || {
        let out = Command::new("ip")
            .args(["-o", "link", "show", "master", &bridge])
            .output()
            .expect("ip link");
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    // The published port's rules name the container's address on the network.
    let (_, net) = d.get_json("/networks/crash-usernet");
    let subnet = net["IPAM"]["Config"][0]["Subnet"]
        .as_str()
        .expect("a subnet")
        .to_string();
    let prefix = format!("{}.", subnet.rsplit_once('.').map_or("", |(a, _)| a));
    let forwarded = || {
        let out = Command::new("iptables-save")
            .output()
            .expect("iptables-save");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains(&format!("--to-destination {prefix}")))
            .count()
    };
    assert_eq!(ports(), 0, "a port left on {bridge}");
    assert!(!listed(&id), "the resolver still lists {id}");
    assert_eq!(forwarded(), 0, "a published port's rule is left");
    let r = d.request("POST", &format!("/containers/{id}/start"), &[], b"");
    assert_eq!(r.status, 204, "start after the crash: {}", r.describe());
    assert_eq!(ports(), 1);
    assert!(listed(&id), "the resolver does not list {id}");
    let (_, c) = d.get_json(&format!("/containers/{id}/json"));
    assert!(
        !c["NetworkSettings"]["Ports"]["8080/tcp"].is_null(),
        "{}",
        c["NetworkSettings"]
    );
    let r = d.request("DELETE", &format!("/containers/{id}?force=1"), &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
    assert_eq!(ports(), 0);
    assert!(!listed(&id));
    assert_eq!(forwarded(), 0);
    let r = d.request("DELETE", "/networks/crash-usernet", &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
}

/// Issue row: berthd killed inside a create, before its record was written while the
/// writable layer was being prepared. The restarted daemon collects the directory and
/// snapshot of the half-made container, and the name is free again.
#[test]
fn a_crash_inside_create_leaves_no_directory_or_snapshot() {
    let Some((mut d, image)) = crash_daemon("crash-create") else {
        return;
    };
    crash_in(
        &mut d,
        "create:record",
        "/containers/create?name=halfmade",
        &json!({"Image": image, "Cmd": ["sleep", "300"]}),
    );
    let dirs: Vec<String> = std::fs::read_dir(d.data_root().join("containers"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(dirs.is_empty(), "container directories left: {dirs:?}");
    let r = d.post_json(
        "/containers/create?name=halfmade",
        &json!({"Image": image, "Cmd": ["sleep", "300"]}),
    );
    assert_eq!(r.status, 201, "the name is free again: {}", r.describe());
    let id = r.json()["Id"].as_str().unwrap().to_string();
    starts_then_clears(&d, &id);
}

/// Noticed in the chaos runs: berthd killed in the middle of a `docker load` left the load's
/// lease (and so its half-written content, until containerd's 24 h expiry) and its scratch
/// files. The restarted daemon ends such leases and empties its scratch space.
#[test]
fn a_crash_inside_a_load_leaves_no_lease_or_scratch_files() {
    let Some((mut d, _)) = crash_daemon("crash-load") else {
        return;
    };
    let image = compat_tests::fixtures::test_image("crash-load-again");
    let archive = image.docker_archive(&["berth-test/busybox:crash-load-again"]);
    let bytes = std::fs::read(&archive).expect("fixture archive");
    crash_in_request(
        &mut d,
        "load:leased",
        "/images/load",
        "application/x-tar",
        &bytes,
    );
    let leases: Vec<String> = first_column(&d.ctr(&["leases", "ls"]))
        .into_iter()
        .filter(|l| l.starts_with("berth-load-"))
        .collect();
    assert!(leases.is_empty(), "leases left by the crash: {leases:?}");
    let scratch: Vec<String> = std::fs::read_dir(d.data_root().join("tmp"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(scratch.is_empty(), "scratch files left: {scratch:?}");
    let r = d.request(
        "POST",
        "/images/load",
        &[("Content-Type", "application/x-tar")],
        &bytes,
    );
    assert_eq!(r.status, 200, "the load again: {}", r.describe());
    let (status, _) = d.get_json("/images/berth-test/busybox:crash-load-again/json");
    assert_eq!(status, 200);
}
