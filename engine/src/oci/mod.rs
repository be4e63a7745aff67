//! The OCI runtime spec for a container, with Docker's defaults (capabilities, mounts,
//! masked and read-only paths, device rules) and the parts of the host config applied.
//! Built with oci-spec's types and handed to containerd as their JSON.

use std::path::PathBuf;

use crate::container::spec::HostConfig;
use oci_spec::runtime::{
    Box as ConsoleSize, BoxBuilder as ConsoleSizeBuilder, Capabilities, Capability, Linux,
    LinuxBlockIo, LinuxCapabilities, LinuxCpu, LinuxDeviceCgroup, LinuxDeviceType, LinuxMemory,
    LinuxNamespace, LinuxNamespaceType, LinuxPids, LinuxResources, LinuxThrottleDeviceBuilder,
    LinuxWeightDeviceBuilder, Mount, PosixRlimit, PosixRlimitBuilder, PosixRlimitType, Process,
    Root, Spec, User,
};

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
    /// Per-device weights and throttles, the devices by number (resolved by the engine).
    pub block_devices: BlockDeviceLimits,
}

/// One device's weight or rate (bytes or operations per second).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceLimit {
    pub major: i64,
    pub minor: i64,
    pub value: u64,
}

/// `BlkioWeightDevice` and the `BlkioDevice{Read,Write}{Bps,IOps}` throttles.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockDeviceLimits {
    pub weight: Vec<DeviceLimit>,
    pub read_bps: Vec<DeviceLimit>,
    pub write_bps: Vec<DeviceLimit>,
    pub read_iops: Vec<DeviceLimit>,
    pub write_iops: Vec<DeviceLimit>,
}

impl BlockDeviceLimits {
    fn is_empty(&self) -> bool {
        self == &BlockDeviceLimits::default()
    }
}

impl Resources {
    /// Reads `Memory`, `NanoCpus`, `CpuShares`, ... from a host config.
    pub fn from_host_config(h: &HostConfig) -> Resources {
        let int = |v: &Option<i64>| v.unwrap_or(0);
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        Resources {
            memory: int(&h.memory),
            memory_swap: int(&h.memory_swap),
            memory_reservation: int(&h.memory_reservation),
            nano_cpus: int(&h.nano_cpus),
            cpu_shares: int(&h.cpu_shares),
            cpu_quota: int(&h.cpu_quota),
            cpu_period: int(&h.cpu_period),
            cpuset_cpus: text(&h.cpuset_cpus),
            cpuset_mems: text(&h.cpuset_mems),
            pids_limit: int(&h.pids_limit),
            blkio_weight: h.blkio_weight.map_or(0, i64::from),
            block_devices: BlockDeviceLimits::default(),
        }
    }
}

/// OCI `LinuxResources` (without device rules) for the limits that are set.
pub fn linux_resources(r: &Resources) -> LinuxResources {
    let mut resources = LinuxResources::default();
    let positive = |v: i64| (v > 0).then_some(v);
    let mut memory = LinuxMemory::default();
    memory
        .set_limit(positive(r.memory))
        .set_swap((r.memory_swap > 0 || r.memory_swap == -1).then_some(r.memory_swap))
        .set_reservation(positive(r.memory_reservation));
    if memory != LinuxMemory::default() {
        resources.set_memory(Some(memory));
    }
    let mut cpu = LinuxCpu::default();
    cpu.set_shares(positive(r.cpu_shares).map(|v| v as u64));
    if r.nano_cpus > 0 {
        // A CPU count is a quota over a 100ms period, as dockerd sets it.
        cpu.set_period(Some(100_000))
            .set_quota(Some(r.nano_cpus * 100_000 / 1_000_000_000));
    } else {
        cpu.set_period(positive(r.cpu_period).map(|v| v as u64))
            .set_quota((r.cpu_quota != 0).then_some(r.cpu_quota));
    }
    let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
    cpu.set_cpus(text(&r.cpuset_cpus))
        .set_mems(text(&r.cpuset_mems));
    if cpu != LinuxCpu::default() {
        resources.set_cpu(Some(cpu));
    }
    if r.pids_limit > 0 {
        let mut pids = LinuxPids::default();
        pids.set_limit(r.pids_limit);
        resources.set_pids(Some(pids));
    }
    if r.blkio_weight > 0 || !r.block_devices.is_empty() {
        let mut block_io = LinuxBlockIo::default();
        block_io.set_weight(positive(r.blkio_weight).map(|w| w.min(u16::MAX as i64) as u16));
        let throttles = |list: &[DeviceLimit]| {
            (!list.is_empty()).then(|| {
                list.iter()
                    .map(|d| {
                        LinuxThrottleDeviceBuilder::default()
                            .major(d.major)
                            .minor(d.minor)
                            .rate(d.value)
                            .build()
                            .unwrap_or_default()
                    })
                    .collect::<Vec<_>>()
            })
        };
        let devices = &r.block_devices;
        block_io
            .set_weight_device((!devices.weight.is_empty()).then(|| {
                devices
                    .weight
                    .iter()
                    .map(|d| {
                        LinuxWeightDeviceBuilder::default()
                            .major(d.major)
                            .minor(d.minor)
                            .weight(d.value.min(u64::from(u16::MAX)) as u16)
                            .build()
                            .unwrap_or_default()
                    })
                    .collect()
            }))
            .set_throttle_read_bps_device(throttles(&devices.read_bps))
            .set_throttle_write_bps_device(throttles(&devices.write_bps))
            .set_throttle_read_iops_device(throttles(&devices.read_iops))
            .set_throttle_write_iops_device(throttles(&devices.write_iops));
        resources.set_block_io(Some(block_io));
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
    pub rlimits: Vec<PosixRlimit>,
    /// The init binary on the host (`--init`), bind-mounted as `/sbin/docker-init`.
    pub init: Option<String>,
    /// `HostConfig.Umask`: the process's file mode creation mask (runc's 022 when None).
    pub umask: Option<u32>,
}

fn normalise_cap(c: &str) -> String {
    let c = c.to_ascii_uppercase();
    if c.starts_with("CAP_") {
        c
    } else {
        format!("CAP_{c}")
    }
}

/// Refuses a `CapAdd`/`CapDrop` entry that names no capability, in moby's words
/// (`field` is `CapAdd` or `CapDrop`); `ALL` and names without `CAP_` are fine.
pub fn validate_capabilities(field: &str, caps: &[String]) -> Result<(), String> {
    for c in caps {
        let c = normalise_cap(c);
        if c != "CAP_ALL" && !ALL_CAPABILITIES.contains(&c.as_str()) {
            return Err(format!("invalid {field}: unknown capability: {c:?}"));
        }
    }
    Ok(())
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

/// `CAP_<NAME>` as the spec's capability type; unknown names are refused (create
/// validates them, so only a damaged record gets here).
fn capability_set(caps: &[String]) -> Result<Capabilities, String> {
    caps.iter()
        .map(|c| {
            c.trim_start_matches("CAP_")
                .parse::<Capability>()
                .map_err(|_| format!("unknown capability: {c:?}"))
        })
        .collect()
}

/// The bounding, effective and permitted sets of a process holding `caps`.
pub fn process_capabilities(caps: &[String]) -> Result<LinuxCapabilities, String> {
    let set = capability_set(caps)?;
    let mut out = LinuxCapabilities::default();
    out.set_bounding(Some(set.clone()))
        .set_effective(Some(set.clone()))
        .set_permitted(Some(set))
        .set_inheritable(None)
        .set_ambient(None);
    Ok(out)
}

/// The spec's console size of a TTY process, when the client gave one.
pub fn console_size(tty: bool, size: Option<[u32; 2]>) -> Option<ConsoleSize> {
    let [height, width] = size.filter(|_| tty)?;
    ConsoleSizeBuilder::default()
        .height(height)
        .width(width)
        .build()
        .ok()
}

/// Docker's device cgroup rules: all denied but the usual character devices (null, zero,
/// full, random, urandom, tty, console, ptmx, pts, tun); `mknod` of any device allowed.
fn device_rules(privileged: bool) -> Vec<LinuxDeviceCgroup> {
    let rule = |allow: bool,
                kind: Option<LinuxDeviceType>,
                major: Option<i64>,
                minor: Option<i64>,
                access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(allow)
            .set_typ(kind)
            .set_major(major)
            .set_minor(minor)
            .set_access(Some(access.to_string()));
        r
    };
    if privileged {
        return vec![rule(true, None, None, None, "rwm")];
    }
    let c = Some(LinuxDeviceType::C);
    let mut rules = vec![
        rule(false, None, None, None, "rwm"),
        rule(true, c, None, None, "m"),
        rule(true, Some(LinuxDeviceType::B), None, None, "m"),
    ];
    for (major, minor) in [
        (1, Some(3)),
        (1, Some(8)),
        (1, Some(7)),
        (5, Some(0)),
        (1, Some(5)),
        (1, Some(9)),
        (5, Some(1)),
        (136, None),
        (5, Some(2)),
        (10, Some(200)),
    ] {
        rules.push(rule(true, c, Some(major), minor, "rwm"));
    }
    rules
}

fn mount(destination: &str, kind: &str, source: &str, options: Vec<String>) -> Mount {
    let mut m = Mount::default();
    m.set_destination(destination.into())
        .set_typ(Some(kind.to_string()))
        .set_source(Some(source.into()))
        .set_options(Some(options));
    m
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn namespace(kind: LinuxNamespaceType, path: Option<&str>) -> LinuxNamespace {
    let mut n = LinuxNamespace::default();
    n.set_typ(kind).set_path(path.map(PathBuf::from));
    n
}

/// `RLIMIT_<NAME>` as the spec's rlimit type.
pub fn rlimit(name: &str, soft: u64, hard: u64) -> Result<PosixRlimit, String> {
    let kind = name.parse::<PosixRlimitType>().map_err(|_| {
        format!(
            "invalid ulimit type: {}",
            name.trim_start_matches("RLIMIT_").to_ascii_lowercase()
        )
    })?;
    PosixRlimitBuilder::default()
        .typ(kind)
        .soft(soft)
        .hard(hard)
        .build()
        .map_err(|e| e.to_string())
}

/// Builds the runtime spec. Fails only on a capability the spec cannot name.
pub fn build(input: &SpecInput) -> Result<Spec, String> {
    let caps = capabilities(&input.cap_add, &input.cap_drop, input.privileged);
    let mut namespaces = vec![
        namespace(LinuxNamespaceType::Pid, None),
        namespace(LinuxNamespaceType::Ipc, None),
        namespace(LinuxNamespaceType::Uts, None),
        namespace(LinuxNamespaceType::Mount, None),
    ];
    match &input.network {
        NetworkNamespace::Private => namespaces.push(namespace(LinuxNamespaceType::Network, None)),
        NetworkNamespace::Path(p) => {
            namespaces.push(namespace(LinuxNamespaceType::Network, Some(p)))
        }
        NetworkNamespace::Host => {}
    }
    let shm_size = if input.shm_size > 0 {
        input.shm_size
    } else {
        64 << 20
    };
    let sysfs_mode = if input.privileged { "rw" } else { "ro" };
    let mut mounts = vec![
        mount(
            "/proc",
            "proc",
            "proc",
            strings(&["nosuid", "noexec", "nodev"]),
        ),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            strings(&["nosuid", "strictatime", "mode=755", "size=65536k"]),
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            strings(&[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ]),
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            strings(&["nosuid", "noexec", "nodev", sysfs_mode]),
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            strings(&["ro", "nosuid", "noexec", "nodev"]),
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            strings(&["nosuid", "noexec", "nodev"]),
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            vec![
                "nosuid".into(),
                "noexec".into(),
                "nodev".into(),
                "mode=1777".into(),
                format!("size={shm_size}"),
            ],
        ),
    ];
    for (dest, src) in &input.files {
        mounts.push(mount(dest, "bind", src, strings(&["rbind", "rprivate"])));
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
        mounts.push(mount(
            &b.destination,
            "bind",
            &b.source,
            strings(&["rbind", propagation, mode]),
        ));
    }
    for (dest, opts) in &input.tmpfs {
        let mut options = strings(&["nosuid", "nodev", "noexec"]);
        for o in opts.split(',').filter(|o| !o.is_empty()) {
            match o {
                "exec" => options.retain(|x| x != "noexec"),
                "suid" => options.retain(|x| x != "nosuid"),
                "dev" => options.retain(|x| x != "nodev"),
                other => options.push(other.to_string()),
            }
        }
        mounts.push(mount(dest, "tmpfs", "tmpfs", options));
    }
    if let Some(init) = &input.init {
        mounts.push(mount(
            "/sbin/docker-init",
            "bind",
            init,
            strings(&["rbind", "ro"]),
        ));
    }
    let mut resources = linux_resources(&input.resources);
    resources.set_devices(Some(device_rules(input.privileged)));
    let args: Vec<String> = match &input.init {
        Some(_) => ["/sbin/docker-init".to_string(), "--".to_string()]
            .into_iter()
            .chain(input.args.iter().cloned())
            .collect(),
        None => input.args.clone(),
    };

    let mut user = User::default();
    user.set_uid(input.uid)
        .set_gid(input.gid)
        .set_umask(input.umask)
        .set_additional_gids(
            (!input.additional_gids.is_empty()).then(|| input.additional_gids.clone()),
        );
    let rlimits = input.rlimits.clone();
    let mut process = Process::default();
    process
        .set_terminal(Some(input.tty))
        .set_console_size(console_size(input.tty, input.console_size))
        .set_user(user)
        .set_args(Some(args))
        .set_env(Some(input.env.clone()))
        .set_cwd(if input.cwd.is_empty() {
            "/".into()
        } else {
            input.cwd.clone().into()
        })
        .set_capabilities(Some(process_capabilities(&caps)?))
        .set_rlimits((!rlimits.is_empty()).then_some(rlimits))
        .set_no_new_privileges(Some(input.no_new_privileges))
        .set_oom_score_adj(Some(
            input.oom_score_adj.clamp(i32::MIN as i64, i32::MAX as i64) as i32,
        ));

    let mut linux = Linux::default();
    linux
        .set_resources(Some(resources))
        .set_cgroups_path(Some(
            format!("{}/{}", input.cgroup_parent.trim_end_matches('/'), input.id).into(),
        ))
        .set_namespaces(Some(namespaces))
        .set_sysctl((!input.sysctls.is_empty()).then(|| input.sysctls.iter().cloned().collect()))
        .set_seccomp(input.seccomp.then(|| seccomp::default_profile(&caps)))
        .set_masked_paths((!input.privileged).then(|| strings(MASKED_PATHS)))
        .set_readonly_paths((!input.privileged).then(|| strings(READONLY_PATHS)));

    let mut root = Root::default();
    root.set_path("rootfs".into())
        .set_readonly(Some(input.readonly_rootfs));

    let mut spec = Spec::default();
    spec.set_version("1.0.2-dev".into())
        .set_process(Some(process))
        .set_root(Some(root))
        .set_hostname(Some(input.hostname.clone()))
        .set_mounts(Some(mounts))
        .set_annotations(None)
        .set_linux(Some(linux));
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// The spec as containerd and runc read it.
    fn build(input: &SpecInput) -> Value {
        serde_json::to_value(super::build(input).unwrap()).unwrap()
    }

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
            umask: None,
            rlimits: vec![],
            init: None,
        }
    }

    #[test]
    fn tmpfs_sysctls_rlimits_and_init() {
        let mut i = input();
        i.tmpfs = vec![("/run".into(), "rw,exec,size=1m".into())];
        i.sysctls = vec![("net.ipv4.ip_forward".into(), "1".into())];
        i.rlimits = vec![rlimit("RLIMIT_NOFILE", 100, 200).unwrap()];
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
        assert!(spec["process"].get("rlimits").is_none());
        assert!(spec.get("annotations").is_none());
        assert_eq!(
            spec["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len(),
            DEFAULT_CAPABILITIES.len()
        );
        assert!(spec["process"]["capabilities"].get("inheritable").is_none());
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
        assert_eq!(spec["linux"]["resources"]["cpu"]["period"], 100_000);
    }

    #[test]
    fn unknown_names_are_refused_not_dropped() {
        assert_eq!(
            rlimit("RLIMIT_BOGUS", 1, 1).unwrap_err(),
            "invalid ulimit type: bogus"
        );
        let mut i = input();
        i.cap_add = vec!["CAP_BOGUS".into()];
        assert!(super::build(&i).unwrap_err().contains("CAP_BOGUS"));
    }
}
