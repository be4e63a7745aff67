//! The OCI runtime spec for a container, with Docker's defaults (capabilities, mounts,
//! masked and read-only paths, device rules) and the parts of the host config applied.
//! Built as JSON: containerd takes the spec as JSON bytes anyway.

use serde_json::{Value, json};

pub mod seccomp;

/// Docker's default capability set.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Where the container's network namespace comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetworkNamespace {
    /// A fresh namespace with only loopback.
    Private,
    /// The host's.
    Host,
    /// Another container's (its `/proc/<pid>/ns/net`).
    Path(String),
}

/// The resource limits of a host config (0 or empty: not set).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub memory: i64,
    /// Memory plus swap; -1 for unlimited swap.
    pub memory_swap: i64,
    pub memory_reservation: i64,
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    pub cpu_quota: i64,
    pub cpu_period: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub pids_limit: i64,
    pub blkio_weight: i64,
}

impl Resources {
    /// Reads `Memory`, `NanoCpus`, `CpuShares`, ... from a host config.
    pub fn from_host_config(h: &Value) -> Resources {
        let int = |k: &str| h.get(k).and_then(Value::as_i64).unwrap_or(0);
        let text = |k: &str| h.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        Resources {
            memory: int("Memory"),
            memory_swap: int("MemorySwap"),
            memory_reservation: int("MemoryReservation"),
            nano_cpus: int("NanoCpus"),
            cpu_shares: int("CpuShares"),
            cpu_quota: int("CpuQuota"),
            cpu_period: int("CpuPeriod"),
            cpuset_cpus: text("CpusetCpus"),
            cpuset_mems: text("CpusetMems"),
            pids_limit: int("PidsLimit"),
            blkio_weight: int("BlkioWeight"),
        }
    }
}

/// OCI `LinuxResources` (without device rules) for the limits that are set.
pub fn linux_resources(r: &Resources) -> Value {
    let mut resources = json!({});
    let mut memory = serde_json::Map::new();
    if r.memory > 0 {
        memory.insert("limit".into(), json!(r.memory));
    }
    if r.memory_swap > 0 || r.memory_swap == -1 {
        memory.insert("swap".into(), json!(r.memory_swap));
    }
    if r.memory_reservation > 0 {
        memory.insert("reservation".into(), json!(r.memory_reservation));
    }
    if !memory.is_empty() {
        resources["memory"] = Value::Object(memory);
    }
    let mut cpu = serde_json::Map::new();
    if r.cpu_shares > 0 {
        cpu.insert("shares".into(), json!(r.cpu_shares));
    }
    if r.nano_cpus > 0 {
        cpu.insert("period".into(), json!(100_000));
        cpu.insert("quota".into(), json!(r.nano_cpus * 100_000 / 1_000_000_000));
    } else {
        if r.cpu_period > 0 {
            cpu.insert("period".into(), json!(r.cpu_period));
        }
        if r.cpu_quota != 0 {
            cpu.insert("quota".into(), json!(r.cpu_quota));
        }
    }
    if !r.cpuset_cpus.is_empty() {
        cpu.insert("cpus".into(), json!(r.cpuset_cpus));
    }
    if !r.cpuset_mems.is_empty() {
        cpu.insert("mems".into(), json!(r.cpuset_mems));
    }
    if !cpu.is_empty() {
        resources["cpu"] = Value::Object(cpu);
    }
    if r.pids_limit > 0 {
        resources["pids"] = json!({"limit": r.pids_limit});
    }
    if r.blkio_weight > 0 {
        resources["blockIO"] = json!({"weight": r.blkio_weight});
    }
    resources
}

/// A bind or volume mount of a host directory.
#[derive(Clone, Debug)]
pub struct Bind {
    pub destination: String,
    pub source: String,
    pub rw: bool,
    /// Read-only reaches the submounts under `source` too.
    pub recursive_ro: bool,
    pub propagation: String,
}

/// Everything the spec needs, already resolved by the engine.
#[derive(Clone, Debug)]
pub struct SpecInput {
    pub id: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub tty: bool,
    /// `[height, width]` of the terminal at start, when the client gave one.
    pub console_size: Option<[u32; 2]>,
    pub hostname: String,
    pub privileged: bool,
    pub readonly_rootfs: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub network: NetworkNamespace,
    /// Bind mounts of the per-container files: (container path, host path).
    pub files: Vec<(String, String)>,
    /// Binds and volumes.
    pub binds: Vec<Bind>,
    pub shm_size: i64,
    pub cgroup_parent: String,
    pub resources: Resources,
    pub oom_score_adj: i64,
    pub no_new_privileges: bool,
    /// Apply Docker's default seccomp profile.
    pub seccomp: bool,
    /// `Tmpfs`: container path → mount options (`rw,noexec,size=64m`).
    pub tmpfs: Vec<(String, String)>,
    pub sysctls: Vec<(String, String)>,
    /// (`RLIMIT_*` name, soft, hard).
    pub rlimits: Vec<(String, u64, u64)>,
    /// The init binary on the host (`--init`), bind-mounted as `/sbin/docker-init`.
    pub init: Option<String>,
}

fn normalise_cap(c: &str) -> String {
    let c = c.to_ascii_uppercase();
    if c.starts_with("CAP_") {
        c
    } else {
        format!("CAP_{c}")
    }
}

/// The final capability set: defaults, plus `CapAdd`, minus `CapDrop` (`ALL` honoured).
pub fn capabilities(add: &[String], drop: &[String], privileged: bool) -> Vec<String> {
    if privileged {
        return ALL_CAPABILITIES.iter().map(|c| c.to_string()).collect();
    }
    let add: Vec<String> = add.iter().map(|c| normalise_cap(c)).collect();
    let drop: Vec<String> = drop.iter().map(|c| normalise_cap(c)).collect();
    let mut caps: Vec<String> = if add.iter().any(|c| c == "CAP_ALL") {
        ALL_CAPABILITIES.iter().map(|c| c.to_string()).collect()
    } else {
        DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect()
    };
    if drop.iter().any(|c| c == "CAP_ALL") {
        caps.clear();
    }
    for c in add {
        if c != "CAP_ALL" && !caps.contains(&c) {
            caps.push(c);
        }
    }
    caps.retain(|c| !drop.contains(c));
    caps
}

const ALL_CAPABILITIES: &[&str] = &[
    "CAP_AUDIT_CONTROL",
    "CAP_AUDIT_READ",
    "CAP_AUDIT_WRITE",
    "CAP_BLOCK_SUSPEND",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_KILL",
    "CAP_LEASE",
    "CAP_LINUX_IMMUTABLE",
    "CAP_MAC_ADMIN",
    "CAP_MAC_OVERRIDE",
    "CAP_MKNOD",
    "CAP_NET_ADMIN",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_RAW",
    "CAP_PERFMON",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_CHROOT",
    "CAP_SYS_MODULE",
    "CAP_SYS_NICE",
    "CAP_SYS_PACCT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
];

fn device_rules(privileged: bool) -> Value {
    if privileged {
        return json!([{"allow": true, "access": "rwm"}]);
    }
    let allow = |kind: &str, major: Value, minor: Value, access: &str| json!({"allow": true, "type": kind, "major": major, "minor": minor, "access": access});
    json!([
        {"allow": false, "access": "rwm"},
        allow("c", Value::Null, Value::Null, "m"),
        allow("b", Value::Null, Value::Null, "m"),
        allow("c", json!(1), json!(3), "rwm"),
        allow("c", json!(1), json!(8), "rwm"),
        allow("c", json!(1), json!(7), "rwm"),
        allow("c", json!(5), json!(0), "rwm"),
        allow("c", json!(1), json!(5), "rwm"),
        allow("c", json!(1), json!(9), "rwm"),
        allow("c", json!(5), json!(1), "rwm"),
        allow("c", json!(136), Value::Null, "rwm"),
        allow("c", json!(5), json!(2), "rwm"),
        allow("c", json!(10), json!(200), "rwm"),
    ])
}

/// Builds the runtime spec as JSON.
pub fn build(input: &SpecInput) -> Value {
    let caps = capabilities(&input.cap_add, &input.cap_drop, input.privileged);
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    match &input.network {
        NetworkNamespace::Private => namespaces.push(json!({"type": "network"})),
        NetworkNamespace::Path(p) => namespaces.push(json!({"type": "network", "path": p})),
        NetworkNamespace::Host => {}
    }
    let shm_size = if input.shm_size > 0 {
        input.shm_size
    } else {
        64 << 20
    };
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", if input.privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm_size}")]}),
    ];
    for (dest, src) in &input.files {
        mounts.push(json!({"destination": dest, "type": "bind", "source": src, "options": ["rbind", "rprivate"]}));
    }
    for b in &input.binds {
        let propagation = if b.propagation.is_empty() {
            "rprivate"
        } else {
            b.propagation.as_str()
        };
        // `rro` is runc's recursive read-only (mount_setattr), reaching submounts too.
        let mode = match (b.rw, b.recursive_ro) {
            (true, _) => "rw",
            (false, true) => "rro",
            (false, false) => "ro",
        };
        mounts.push(json!({
            "destination": b.destination, "type": "bind", "source": b.source,
            "options": ["rbind", propagation, mode],
        }));
    }
    for (dest, opts) in &input.tmpfs {
        let mut options = vec![
            "nosuid".to_string(),
            "nodev".to_string(),
            "noexec".to_string(),
        ];
        for o in opts.split(',').filter(|o| !o.is_empty()) {
            match o {
                "exec" => options.retain(|x| x != "noexec"),
                "suid" => options.retain(|x| x != "nosuid"),
                "dev" => options.retain(|x| x != "nodev"),
                other => options.push(other.to_string()),
            }
        }
        mounts.push(
            json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": options}),
        );
    }
    if let Some(init) = &input.init {
        mounts.push(json!({"destination": "/sbin/docker-init", "type": "bind", "source": init, "options": ["rbind", "ro"]}));
    }
    let mut resources = linux_resources(&input.resources);
    resources["devices"] = device_rules(input.privileged);
    let args: Vec<String> = match &input.init {
        Some(_) => ["/sbin/docker-init".to_string(), "--".to_string()]
            .into_iter()
            .chain(input.args.iter().cloned())
            .collect(),
        None => input.args.clone(),
    };
    let mut process = json!({
        "terminal": input.tty,
        "user": {"uid": input.uid, "gid": input.gid},
        "args": args,
        "env": input.env,
        "cwd": if input.cwd.is_empty() { "/" } else { input.cwd.as_str() },
        "capabilities": {
            "bounding": caps,
            "effective": caps,
            "permitted": caps,
        },
        "noNewPrivileges": input.no_new_privileges,
        "oomScoreAdj": input.oom_score_adj,
    });
    if let (true, Some([height, width])) = (input.tty, input.console_size) {
        process["consoleSize"] = json!({"height": height, "width": width});
    }
    if !input.rlimits.is_empty() {
        process["rlimits"] = json!(
            input
                .rlimits
                .iter()
                .map(|(t, soft, hard)| json!({"type": t, "soft": soft, "hard": hard}))
                .collect::<Vec<_>>()
        );
    }
    if !input.additional_gids.is_empty() {
        process["user"]["additionalGids"] = json!(input.additional_gids);
    }
    let mut linux = json!({
        "resources": resources,
        "cgroupsPath": format!("{}/{}", input.cgroup_parent.trim_end_matches('/'), input.id),
        "namespaces": namespaces,
    });
    if !input.sysctls.is_empty() {
        linux["sysctl"] = Value::Object(
            input
                .sysctls
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect(),
        );
    }
    if input.seccomp {
        linux["seccomp"] = seccomp::default_profile(&caps);
    }
    if !input.privileged {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        linux["readonlyPaths"] = json!(READONLY_PATHS);
    }
    json!({
        "ociVersion": "1.0.2-dev",
        "process": process,
        "root": {"path": "rootfs", "readonly": input.readonly_rootfs},
        "hostname": input.hostname,
        "mounts": mounts,
        "linux": linux,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> SpecInput {
        SpecInput {
            id: "abc".into(),
            args: vec!["sh".into()],
            env: vec!["PATH=/bin".into()],
            cwd: String::new(),
            uid: 0,
            gid: 0,
            additional_gids: vec![],
            tty: false,
            console_size: None,
            hostname: "abc".into(),
            privileged: false,
            readonly_rootfs: false,
            cap_add: vec![],
            cap_drop: vec![],
            network: NetworkNamespace::Private,
            files: vec![("/etc/hosts".into(), "/x/hosts".into())],
            binds: vec![],
            shm_size: 0,
            cgroup_parent: "/berth".into(),
            resources: Resources::default(),
            oom_score_adj: 0,
            no_new_privileges: false,
            seccomp: true,
            tmpfs: vec![],
            sysctls: vec![],
            rlimits: vec![],
            init: None,
        }
    }

    #[test]
    fn tmpfs_sysctls_rlimits_and_init() {
        let mut i = input();
        i.tmpfs = vec![("/run".into(), "rw,exec,size=1m".into())];
        i.sysctls = vec![("net.ipv4.ip_forward".into(), "1".into())];
        i.rlimits = vec![("RLIMIT_NOFILE".into(), 100, 200)];
        i.init = Some("/usr/bin/tini-static".into());
        let spec = build(&i);
        let run = spec["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/run")
            .unwrap();
        assert_eq!(run["options"], json!(["nosuid", "nodev", "rw", "size=1m"]));
        assert_eq!(spec["linux"]["sysctl"]["net.ipv4.ip_forward"], "1");
        assert_eq!(spec["process"]["rlimits"][0]["hard"], 200);
        assert_eq!(
            spec["process"]["args"],
            json!(["/sbin/docker-init", "--", "sh"])
        );
    }

    #[test]
    fn capabilities_add_and_drop() {
        let caps = capabilities(&["NET_ADMIN".into()], &["chown".into()], false);
        assert!(caps.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!caps.contains(&"CAP_CHOWN".to_string()));
        assert!(caps.contains(&"CAP_KILL".to_string()));
        assert!(capabilities(&[], &["ALL".into()], false).is_empty());
        assert_eq!(capabilities(&[], &[], true).len(), ALL_CAPABILITIES.len());
    }

    #[test]
    fn defaults_follow_docker() {
        let spec = build(&input());
        assert_eq!(spec["process"]["cwd"], "/");
        assert_eq!(spec["root"]["readonly"], false);
        assert_eq!(spec["linux"]["cgroupsPath"], "/berth/abc");
        assert_eq!(spec["linux"]["resources"]["devices"][0]["allow"], false);
        assert!(
            spec["linux"]["namespaces"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["type"] == "network")
        );
        let shm = spec["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/dev/shm")
            .unwrap();
        assert!(
            shm["options"]
                .as_array()
                .unwrap()
                .contains(&json!("size=67108864"))
        );
        assert!(
            spec["mounts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["destination"] == "/etc/hosts")
        );
    }

    #[test]
    fn host_network_has_no_network_namespace() {
        let mut i = input();
        i.network = NetworkNamespace::Host;
        let spec = build(&i);
        assert!(
            !spec["linux"]["namespaces"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["type"] == "network")
        );
    }

    #[test]
    fn nano_cpus_become_a_quota() {
        let mut i = input();
        i.resources.nano_cpus = 1_500_000_000;
        let spec = build(&i);
        assert_eq!(spec["linux"]["resources"]["cpu"]["quota"], 150_000);
    }
}
