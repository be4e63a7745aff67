//! `docker pause`/`unpause`, `docker rename` and `docker top`: moby's texts, status codes and
//! events. Checked against Debian's dockerd 20.10 first.

use std::time::Duration;

use compat_tests::{Daemon, daemon};
use serde_json::Value;

struct Ctx {
    d: Daemon,
    image: String,
    names: Vec<String>,
}

fn setup(test: &str) -> Ctx {
    let d = daemon();
    let tag = d.load_test_image(&format!("ops-{test}"));
    Ctx {
        d,
        image: tag,
        names: Vec::new(),
    }
}

impl Ctx {
    fn name(&mut self, what: &str) -> String {
        let n = format!("bct-ops-{}-{what}", std::process::id());
        self.names.push(n.clone());
        n
    }

    fn run_sleeper(&mut self, what: &str) -> (String, String) {
        let name = self.name(what);
        let out = self.d.docker(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "none",
            &self.image,
            "sleep",
            "300",
        ]);
        assert!(out.success(), "{}", out.describe());
        (name, out.stdout.trim().to_string())
    }

    fn post(&self, path: &str) -> (u16, String) {
        let r = self.d.request("POST", path, &[], b"");
        let msg = r.json()["message"].as_str().unwrap_or("").to_string();
        (r.status, msg)
    }

    fn status(&self, name: &str) -> String {
        let (_, v) = self.d.get_json(&format!("/containers/{name}/json"));
        v["State"]["Status"].as_str().unwrap_or("").to_string()
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
fn pause_and_unpause_freeze_the_container() {
    let mut c = setup("pause");
    let (name, id) = c.run_sleeper("p");
    let since = compat_tests::unix_now();
    assert!(c.d.docker(&["pause", &name]).success());
    assert_eq!(c.status(&name), "paused");
    let (_, v) = c.d.get_json(&format!("/containers/{name}/json"));
    assert_eq!(v["State"]["Paused"], true);
    assert_eq!(v["State"]["Running"], true);
    let out = c.d.docker(&[
        "ps",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Status}}",
    ]);
    assert!(out.stdout.contains("(Paused)"), "{}", out.describe());
    // The frozen process does not run: its state in /proc is D or similar, and exec is refused.
    let out = c.d.docker(&["exec", &name, "true"]);
    assert!(!out.success(), "{}", out.describe());
    assert!(out.stderr.contains("is paused"), "{}", out.describe());

    assert_eq!(
        c.post(&format!("/containers/{name}/pause")),
        (409, format!("Container {id} is already paused"))
    );
    assert!(c.d.docker(&["unpause", &name]).success());
    assert_eq!(c.status(&name), "running");
    // moby answers this one with a 500 (an untyped error), and so does Berth.
    assert_eq!(
        c.post(&format!("/containers/{name}/unpause")),
        (500, format!("Container {id} is not paused"))
    );
    assert!(c.d.docker(&["exec", &name, "true"]).success());

    // A signal to a paused container thaws it, so `docker kill` and `stop` still work.
    assert!(c.d.docker(&["pause", &name]).success());
    let out =
        c.d.docker_timeout(&["stop", "-t", "1", &name], Duration::from_secs(30));
    assert!(out.success(), "{}", out.describe());
    assert_eq!(c.status(&name), "exited");
    assert_eq!(
        c.post(&format!("/containers/{name}/pause")),
        (409, format!("Container {id} is not running"))
    );
    assert_eq!(
        c.post(&format!("/containers/{name}/unpause")),
        (500, format!("Container {id} is not paused"))
    );
    let events = c.d.docker(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &(compat_tests::unix_now() + 1).to_string(),
        "--filter",
        &format!("container={id}"),
        "--format",
        "{{.Action}}",
    ]);
    let actions: Vec<&str> = events.stdout.lines().collect();
    for want in ["pause", "unpause"] {
        assert!(actions.contains(&want), "{actions:?}");
    }
    assert_eq!(c.post("/containers/bct-no-such-ops/pause").0, 404);
}

#[test]
fn rename_moves_the_name_and_frees_the_old_one() {
    let mut c = setup("rename");
    let (old, id) = c.run_sleeper("old");
    let new = c.name("new");
    let since = compat_tests::unix_now();
    let out = c.d.docker(&["rename", &old, &new]);
    assert!(out.success(), "{}", out.describe());
    let (_, v) = c.d.get_json(&format!("/containers/{new}/json"));
    assert_eq!(v["Id"], id.as_str());
    assert_eq!(v["Name"], format!("/{new}"));
    assert_eq!(c.d.get(&format!("/containers/{old}/json")).status, 404);
    // The old name is free again.
    let out =
        c.d.docker(&["create", "--name", &old, "--network", "none", &c.image]);
    assert!(out.success(), "{}", out.describe());

    let (status, msg) = c.post(&format!("/containers/{new}/rename?name={new}"));
    assert_eq!(
        (status, msg.as_str()),
        (
            400,
            "Renaming a container with the same name as its current name"
        )
    );
    let (status, msg) = c.post(&format!("/containers/{new}/rename"));
    assert_eq!(
        (status, msg.as_str()),
        (400, "Neither old nor new names may be empty")
    );
    let (status, msg) = c.post(&format!("/containers/{new}/rename?name=a/b"));
    assert_eq!(status, 400);
    assert_eq!(
        msg,
        "Error when allocating new name: Invalid container name (/a/b), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
    );
    let (status, msg) = c.post(&format!("/containers/{new}/rename?name={old}"));
    assert_eq!(status, 409, "{msg}");
    assert!(
        msg.starts_with(&format!(
            "Error when allocating new name: Conflict. The container name \"/{old}\" is already in use by container"
        )),
        "{msg}"
    );
    assert_eq!(
        c.post(&format!("/containers/bct-no-such-ops/rename?name={old}x"))
            .0,
        404
    );

    let events = c.d.docker(&[
        "events", "--since", &since.to_string(), "--until", &(compat_tests::unix_now() + 1).to_string(),
        "--filter", "event=rename", "--format", "{{.Actor.ID}} {{index .Actor.Attributes \"oldName\"}} {{index .Actor.Attributes \"name\"}}",
    ]);
    assert!(
        events.stdout.contains(&format!("{id} /{old} {new}")),
        "{}",
        events.describe()
    );
}

#[test]
fn top_lists_the_containers_processes() {
    let mut c = setup("top");
    let (name, id) = c.run_sleeper("t");
    let (status, v) = c.d.get_json(&format!("/containers/{name}/top"));
    assert_eq!(status, 200, "{v}");
    let titles: Vec<&str> = v["Titles"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        titles,
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    );
    let procs = v["Processes"].as_array().unwrap();
    assert_eq!(procs.len(), 1, "{v}");
    assert_eq!(procs[0][7], "sleep 300");

    let out = c.d.docker(&["top", &name, "-o", "pid,comm"]);
    assert!(out.success(), "{}", out.describe());
    assert!(
        out.stdout.lines().nth(1).unwrap_or("").ends_with("sleep"),
        "{}",
        out.stdout
    );
    let r =
        c.d.get(&format!("/containers/{name}/top?ps_args=-o%20comm"));
    assert_eq!(r.status, 500, "{}", r.describe());
    assert_eq!(r.json()["message"], "Couldn't find PID field in ps output");

    assert!(c.d.docker(&["stop", "-t", "0", &name]).success());
    let r = c.d.get(&format!("/containers/{name}/top"));
    assert_eq!(r.status, 409, "{}", r.describe());
    assert_eq!(
        r.json()["message"],
        format!("Container {id} is not running")
    );
}

/// `docker stats --no-stream` percentages, as the CLI prints them: ("CPU %", "MEM USAGE").
fn stats_row(c: &Ctx, name: &str) -> (f64, String) {
    let out = c.d.docker(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.CPUPerc}}|{{.MemUsage}}",
        name,
    ]);
    assert!(out.success(), "{}", out.describe());
    let line = out.stdout.trim().to_string();
    let (cpu, mem) = line.split_once('|').unwrap_or_else(|| panic!("{line}"));
    (cpu.trim_end_matches('%').parse().unwrap(), mem.to_string())
}

#[test]
fn stats_show_cpu_and_memory_use() {
    let mut c = setup("stats");
    let busy = c.name("busy");
    let out = c.d.docker(&[
        "run",
        "-d",
        "--name",
        &busy,
        "--network",
        "none",
        &c.image,
        "sh",
        "-c",
        "while true; do :; done",
    ]);
    assert!(out.success(), "{}", out.describe());
    let hog = c.name("hog");
    let out = c.d.docker(&[
        "run",
        "-d",
        "--name",
        &hog,
        "--network",
        "none",
        &c.image,
        "sh",
        "-c",
        "dd if=/dev/zero bs=1M count=50 2>/dev/null > /dev/shm/fill; sleep 300",
    ]);
    assert!(out.success(), "{}", out.describe());
    let (cpu, _) = stats_row(&c, &busy);
    assert!(cpu > 0.0, "a busy loop shows no CPU use");
    // 50 MiB in /dev/shm are charged to the container's memory.
    let mut mem = String::new();
    let filled = wait_until_mib(&c, &hog, 50.0, &mut mem);
    assert!(filled, "memory use {mem}");

    // The raw records: one with its baseline, or a stream of them.
    let (status, v) =
        c.d.get_json(&format!("/v1.41/containers/{busy}/stats?stream=false"));
    assert_eq!(status, 200);
    assert!(
        v["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap() > 0,
        "{v}"
    );
    assert!(
        v["precpu_stats"]["system_cpu_usage"].as_u64().unwrap() > 0,
        "{v}"
    );
    assert_ne!(v["preread"], "0001-01-01T00:00:00Z");
    assert_eq!(v["name"], format!("/{busy}"));
    assert_eq!(v["pids_stats"]["current"], 1);
    let (_, v) = c.d.get_json(&format!(
        "/v1.41/containers/{busy}/stats?stream=false&one-shot=true"
    ));
    assert_eq!(
        v["preread"], "0001-01-01T00:00:00Z",
        "one-shot has no baseline: {v}"
    );
    let mut s = c.d.stream(
        &format!("/v1.41/containers/{busy}/stats"),
        Duration::from_secs(5),
    );
    let first: Value =
        serde_json::from_str(&s.next_line(Duration::from_secs(5)).unwrap().unwrap()).unwrap();
    let second: Value =
        serde_json::from_str(&s.next_line(Duration::from_secs(5)).unwrap().unwrap()).unwrap();
    assert_eq!(first["preread"], "0001-01-01T00:00:00Z");
    assert_eq!(second["preread"], first["read"]);

    // A container that is not running gets the empty record at once.
    assert!(c.d.docker(&["stop", "-t", "0", &hog]).success());
    let (_, v) =
        c.d.get_json(&format!("/v1.41/containers/{hog}/stats?stream=false"));
    assert_eq!(v["read"], "0001-01-01T00:00:00Z", "{v}");
    assert_eq!(v["memory_stats"], serde_json::json!({}));
    assert!(v["blkio_stats"]["io_service_bytes_recursive"].is_null());
}

fn wait_until_mib(c: &Ctx, name: &str, mib: f64, seen: &mut String) -> bool {
    compat_tests::wait_until(Duration::from_secs(20), || {
        let (_, mem) = stats_row(c, name);
        *seen = mem.clone();
        let used = mem.split('/').next().unwrap_or("").trim();
        let value: f64 = used
            .trim_end_matches(|ch: char| ch.is_ascii_alphabetic())
            .parse()
            .unwrap_or(0.0);
        used.ends_with("GiB") || (used.ends_with("MiB") && value >= mib)
    })
}

#[test]
fn update_changes_limits_of_a_running_container() {
    let mut c = setup("update");
    let (name, id) = c.run_sleeper("u");
    let cat = |file: &str| {
        let out = c.d.docker(&["exec", &name, "cat", file]);
        assert!(out.success(), "{}", out.describe());
        out.stdout.trim().to_string()
    };
    // Raising memory above the swap limit needs the swap limit too (dockerd's rule).
    let out = c.d.docker(&["update", "--memory", "100m", &name]);
    assert!(!out.success());
    assert!(
        out.stderr.contains(&format!(
            "Cannot update container {id}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"
        )),
        "{}",
        out.describe()
    );
    let out =
        c.d.docker(&["update", "--memory", "100m", "--memory-swap", "200m", &name]);
    assert!(out.success(), "{}", out.describe());
    assert_eq!(
        cat("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
        "104857600"
    );
    let out = c.d.docker(&[
        "update",
        "--cpus",
        "0.5",
        "--pids-limit",
        "50",
        "--restart",
        "always",
        &name,
    ]);
    assert!(out.success(), "{}", out.describe());
    assert_eq!(cat("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), "50000");
    assert_eq!(cat("/sys/fs/cgroup/pids/pids.max"), "50");
    let (_, v) = c.d.get_json(&format!("/containers/{name}/json"));
    let h = &v["HostConfig"];
    assert_eq!(h["Memory"], 104857600);
    assert_eq!(h["MemorySwap"], 209715200);
    assert_eq!(h["NanoCpus"], 500000000);
    assert_eq!(h["PidsLimit"], 50);
    assert_eq!(h["RestartPolicy"]["Name"], "always");

    let r = c.d.post_json(
        &format!("/containers/{name}/update"),
        &serde_json::json!({"Memory": 1000}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["message"], "Minimum memory limit allowed is 6MB");
    let r =
        c.d.post_json("/containers/bct-no-such-ops/update", &serde_json::json!({}));
    assert_eq!(r.status, 404);
    // The body is decoded as Go decodes it: keys ignoring case, unknown keys dropped, and a
    // wrong JSON type refused with Go's text (dockerd 20.10: 500 and the bare error; newer
    // moby: 400 and `invalid JSON: ` before it).
    let r = c.d.post_json(
        &format!("/containers/{name}/update"),
        &serde_json::json!({"pidslimit": 60, "Bogus": 1}),
    );
    assert_eq!(r.status, 200, "{}", r.describe());
    let (_, v) = c.d.get_json(&format!("/containers/{name}/json"));
    assert_eq!(v["HostConfig"]["PidsLimit"], 60, "{v}");
    assert!(v["HostConfig"].get("Bogus").is_none(), "{v}");
    for (body, go_error) in [
        (
            serde_json::json!({"Memory": "x"}),
            "string into Go struct field UpdateConfig.Memory of type int64",
        ),
        (
            serde_json::json!({"RestartPolicy": {"Name": 5}}),
            "number into Go struct field RestartPolicy.RestartPolicy.Name of type string",
        ),
        (
            serde_json::json!([1]),
            "array into Go value of type container.UpdateConfig",
        ),
    ] {
        let r = c.d.post_json(&format!("/containers/{name}/update"), &body);
        let go_error = format!("json: cannot unmarshal {go_error}");
        if r.header("Api-Version") == Some("1.41") {
            compat_tests::expect::json_error(&r, 500, &go_error);
        } else {
            compat_tests::expect::json_error(&r, 400, &format!("invalid JSON: {go_error}"));
        }
    }

    // Limits given at create reach the cgroups too, with dockerd's default swap (twice the
    // memory).
    let out = c.d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-m",
        "50m",
        "--cpuset-cpus",
        "0",
        "--cpu-quota",
        "30000",
        &c.image,
        "cat",
        "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes",
        "/sys/fs/cgroup/cpuset/cpuset.cpus",
        "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
    ]);
    assert_eq!(out.stdout, "104857600\n0\n30000\n", "{}", out.describe());

    // An auto-remove container cannot get a restart policy.
    let auto = c.name("auto");
    let out = c.d.docker(&[
        "run",
        "-d",
        "--rm",
        "--name",
        &auto,
        "--network",
        "none",
        &c.image,
        "sleep",
        "300",
    ]);
    assert!(out.success(), "{}", out.describe());
    let r = c.d.post_json(
        &format!("/containers/{auto}/update"),
        &serde_json::json!({"RestartPolicy": {"Name": "always"}}),
    );
    assert_eq!(r.status, 409, "{}", r.describe());
    assert!(r.json()["message"].as_str().unwrap_or("").ends_with(
        "Restart policy cannot be updated because AutoRemove is enabled for the container"
    ));
}

#[test]
fn an_oom_kill_is_reported_in_state_and_events() {
    let mut c = setup("oom");
    let name = c.name("oom");
    let since = compat_tests::unix_now();
    // /dev/shm is charged to the container's memory: filling it past the limit gets the
    // writer killed by the kernel.
    let out = c.d.docker(&[
        "run",
        "--name",
        &name,
        "--network",
        "none",
        "-m",
        "10m",
        "--memory-swap",
        "10m",
        &c.image,
        "sh",
        "-c",
        "dd if=/dev/zero bs=1M count=100 2>/dev/null | cat > /dev/shm/x",
    ]);
    assert!(!out.timed_out, "{}", out.describe());
    let (_, v) = c.d.get_json(&format!("/containers/{name}/json"));
    assert_eq!(v["State"]["OOMKilled"], true, "{}", v["State"]);
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
    assert!(
        events.stdout.lines().any(|a| a == "oom"),
        "{}",
        events.describe()
    );

    let fine = c.name("fine");
    let out = c.d.docker(&[
        "run",
        "--name",
        &fine,
        "--network",
        "none",
        "-m",
        "10m",
        &c.image,
        "true",
    ]);
    assert!(out.success(), "{}", out.describe());
    let (_, v) = c.d.get_json(&format!("/containers/{fine}/json"));
    assert_eq!(v["State"]["OOMKilled"], false);
}
