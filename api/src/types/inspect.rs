//! `GET /containers/{id}/json` (moby's `container.InspectResponse`), built from Berth's
//! record: every key moby emits, with Go's zero values where Berth has nothing to say. The
//! keys that depend on the API version are optional here; `compat::container` decides them.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use berth_engine::container::model::{ContainerRecord, Status};
use berth_engine::container::spec::{
    ContainerConfig, DeviceMapping, DeviceRequest, HostConfig, KeySet, LogConfigSpec, MountSpec,
    PortBinding, RestartPolicySpec, ThrottleDevice, Ulimit, WeightDevice, flag, number, text,
};

use super::container::{EndpointView, MountPoint, mounts};
use crate::version::ApiVersion;
use crate::wire;

#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = ContainerInspectResponse)]
pub struct ContainerInspect {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Created")]
    pub created: String,
    #[serde(rename = "Path")]
    pub path: String,
    #[serde(rename = "Args")]
    pub args: Vec<String>,
    #[serde(rename = "State")]
    pub state: StateView,
    #[serde(rename = "Image")]
    pub image: String,
    #[serde(rename = "ResolvConfPath")]
    pub resolv_conf_path: String,
    #[serde(rename = "HostnamePath")]
    pub hostname_path: String,
    #[serde(rename = "HostsPath")]
    pub hosts_path: String,
    #[serde(rename = "LogPath")]
    pub log_path: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "RestartCount")]
    pub restart_count: u64,
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "Platform")]
    pub platform: String,
    #[serde(rename = "MountLabel")]
    pub mount_label: String,
    #[serde(rename = "ProcessLabel")]
    pub process_label: String,
    #[serde(rename = "AppArmorProfile")]
    pub app_armor_profile: String,
    #[serde(rename = "ExecIDs")]
    pub exec_ids: Option<Vec<String>>,
    #[serde(rename = "HostConfig")]
    pub host_config: HostConfigView,
    /// Below API 1.52; `Storage` from then on.
    #[serde(rename = "GraphDriver", skip_serializing_if = "Option::is_none")]
    pub graph_driver: Option<GraphDriver>,
    #[serde(rename = "Storage", skip_serializing_if = "Option::is_none")]
    pub storage: Option<Storage>,
    /// With `size=1` (pointers in moby's struct: present even when zero).
    #[serde(rename = "SizeRw", skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<i64>,
    #[serde(rename = "SizeRootFs", skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<i64>,
    #[serde(rename = "Mounts")]
    pub mounts: Vec<MountPoint>,
    #[serde(rename = "Config")]
    pub config: ConfigView,
    #[serde(rename = "NetworkSettings")]
    pub network_settings: NetworkSettingsView,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = ContainerState)]
pub struct StateView {
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "Running")]
    pub running: bool,
    #[serde(rename = "Paused")]
    pub paused: bool,
    #[serde(rename = "Restarting")]
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    #[serde(rename = "Dead")]
    pub dead: bool,
    #[serde(rename = "Pid")]
    pub pid: u32,
    #[serde(rename = "ExitCode")]
    pub exit_code: i64,
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "StartedAt")]
    pub started_at: String,
    #[serde(rename = "FinishedAt")]
    pub finished_at: String,
    #[serde(rename = "Health", skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthView>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = Health)]
pub struct HealthView {
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "FailingStreak")]
    pub failing_streak: i64,
    #[serde(rename = "Log")]
    pub log: Vec<HealthcheckResult>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct HealthcheckResult {
    #[serde(rename = "Start")]
    pub start: String,
    #[serde(rename = "End")]
    pub end: String,
    #[serde(rename = "ExitCode")]
    pub exit_code: i64,
    #[serde(rename = "Output")]
    pub output: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = DriverData)]
pub struct GraphDriver {
    /// Always `null`: a snapshotter has no graph-driver data.
    #[serde(rename = "Data")]
    pub data: Option<BTreeMap<String, String>>,
    #[serde(rename = "Name")]
    pub name: String,
}

/// `Storage` from API 1.52: the snapshotter that holds the root filesystem.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Storage {
    #[serde(rename = "RootFS")]
    pub root_fs: RootFsStorage,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RootFsStorage {
    #[serde(rename = "Snapshot")]
    pub snapshot: SnapshotName,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SnapshotName {
    #[serde(rename = "Name")]
    pub name: String,
}

/// `Config` of inspect: moby's keys with Go's zero values, and the `omitempty` ones only
/// when set.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = InspectConfig)]
pub struct ConfigView {
    #[serde(rename = "Hostname")]
    pub hostname: String,
    #[serde(rename = "Domainname")]
    pub domainname: String,
    #[serde(rename = "User")]
    pub user: String,
    #[serde(rename = "AttachStdin")]
    pub attach_stdin: bool,
    #[serde(rename = "AttachStdout")]
    pub attach_stdout: bool,
    #[serde(rename = "AttachStderr")]
    pub attach_stderr: bool,
    #[serde(rename = "Tty")]
    pub tty: bool,
    #[serde(rename = "OpenStdin")]
    pub open_stdin: bool,
    #[serde(rename = "StdinOnce")]
    pub stdin_once: bool,
    #[serde(rename = "Env")]
    pub env: Option<Vec<String>>,
    #[serde(rename = "Cmd")]
    pub cmd: Option<Vec<String>>,
    #[serde(rename = "Image")]
    pub image: String,
    #[schema(value_type = Option<Object>)]
    #[serde(rename = "Volumes")]
    pub volumes: Option<KeySet>,
    #[serde(rename = "WorkingDir")]
    pub working_dir: String,
    #[serde(rename = "Entrypoint")]
    pub entrypoint: Option<Vec<String>>,
    /// `None` leaves the key out (from 1.52 when there are no triggers); `Some(None)` is null.
    #[serde(rename = "OnBuild", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub on_build: Option<Option<Vec<String>>>,
    #[serde(rename = "Labels")]
    pub labels: BTreeMap<String, String>,
    #[schema(value_type = Option<Object>)]
    #[serde(rename = "ExposedPorts", skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<KeySet>,
    #[schema(value_type = Option<wire::HealthConfig>)]
    #[serde(rename = "Healthcheck", skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<berth_engine::container::spec::Healthcheck>,
    #[serde(rename = "ArgsEscaped", skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    #[serde(rename = "NetworkDisabled", skip_serializing_if = "Option::is_none")]
    pub network_disabled: Option<bool>,
    #[serde(rename = "MacAddress", skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    #[serde(rename = "StopSignal", skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(rename = "StopTimeout", skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(rename = "Shell", skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

fn config(c: &ContainerConfig) -> ConfigView {
    let c = c.clone();
    ConfigView {
        hostname: c.hostname.unwrap_or_default(),
        domainname: c.domainname.unwrap_or_default(),
        user: c.user.unwrap_or_default(),
        attach_stdin: c.attach_stdin.unwrap_or_default(),
        attach_stdout: c.attach_stdout.unwrap_or_default(),
        attach_stderr: c.attach_stderr.unwrap_or_default(),
        tty: c.tty.unwrap_or_default(),
        open_stdin: c.open_stdin.unwrap_or_default(),
        stdin_once: c.stdin_once.unwrap_or_default(),
        env: c.env,
        cmd: c.cmd,
        image: c.image.unwrap_or_default(),
        volumes: c.volumes,
        working_dir: c.working_dir.unwrap_or_default(),
        entrypoint: c.entrypoint,
        on_build: Some(c.on_build),
        labels: c.labels.unwrap_or_default(),
        exposed_ports: c.exposed_ports,
        healthcheck: c.healthcheck,
        args_escaped: c.args_escaped,
        network_disabled: c.network_disabled,
        mac_address: c.mac_address,
        stop_signal: c.stop_signal,
        stop_timeout: c.stop_timeout,
        shell: c.shell,
    }
}

/// `HostConfig` of inspect: every key moby emits, Go's zero value where none was given,
/// and the keys moby leaves out unless set.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = InspectHostConfig)]
pub struct HostConfigView {
    #[serde(rename = "Binds")]
    pub binds: Option<Vec<String>>,
    #[serde(rename = "ContainerIDFile")]
    pub container_id_file: String,
    #[schema(value_type = wire::LogConfig)]
    #[serde(rename = "LogConfig")]
    pub log_config: LogConfigSpec,
    #[serde(rename = "NetworkMode")]
    pub network_mode: String,
    #[schema(value_type = BTreeMap<String, Vec<wire::PortBinding>>)]
    #[serde(rename = "PortBindings")]
    pub port_bindings: BTreeMap<String, Vec<PortBinding>>,
    #[schema(value_type = wire::RestartPolicy)]
    #[serde(rename = "RestartPolicy")]
    pub restart_policy: RestartPolicySpec,
    #[serde(rename = "AutoRemove")]
    pub auto_remove: bool,
    #[serde(rename = "VolumeDriver")]
    pub volume_driver: String,
    #[serde(rename = "VolumesFrom")]
    pub volumes_from: Option<Vec<String>>,
    #[serde(rename = "ConsoleSize")]
    pub console_size: Vec<u64>,
    #[serde(rename = "CapAdd")]
    pub cap_add: Option<Vec<String>>,
    #[serde(rename = "CapDrop")]
    pub cap_drop: Option<Vec<String>>,
    #[serde(rename = "CgroupnsMode")]
    pub cgroupns_mode: String,
    #[serde(rename = "Dns")]
    pub dns: Option<Vec<String>>,
    #[serde(rename = "DnsOptions")]
    pub dns_options: Option<Vec<String>>,
    #[serde(rename = "DnsSearch")]
    pub dns_search: Option<Vec<String>>,
    #[serde(rename = "ExtraHosts")]
    pub extra_hosts: Option<Vec<String>>,
    #[serde(rename = "GroupAdd")]
    pub group_add: Option<Vec<String>>,
    #[serde(rename = "IpcMode")]
    pub ipc_mode: String,
    #[serde(rename = "Cgroup")]
    pub cgroup: String,
    #[serde(rename = "Links")]
    pub links: Option<Vec<String>>,
    #[serde(rename = "OomScoreAdj")]
    pub oom_score_adj: i64,
    #[serde(rename = "PidMode")]
    pub pid_mode: String,
    #[serde(rename = "Privileged")]
    pub privileged: bool,
    #[serde(rename = "PublishAllPorts")]
    pub publish_all_ports: bool,
    #[serde(rename = "ReadonlyRootfs")]
    pub readonly_rootfs: bool,
    #[serde(rename = "SecurityOpt")]
    pub security_opt: Option<Vec<String>>,
    #[serde(rename = "UTSMode")]
    pub uts_mode: String,
    #[serde(rename = "UsernsMode")]
    pub userns_mode: String,
    #[serde(rename = "ShmSize")]
    pub shm_size: i64,
    #[serde(rename = "Runtime")]
    pub runtime: String,
    #[serde(rename = "Isolation")]
    pub isolation: String,
    #[serde(rename = "CpuShares")]
    pub cpu_shares: i64,
    #[serde(rename = "Memory")]
    pub memory: i64,
    #[serde(rename = "NanoCpus")]
    pub nano_cpus: i64,
    #[serde(rename = "CgroupParent")]
    pub cgroup_parent: String,
    #[serde(rename = "BlkioWeight")]
    pub blkio_weight: u16,
    #[schema(value_type = Option<Vec<wire::WeightDevice>>)]
    #[serde(rename = "BlkioWeightDevice")]
    pub blkio_weight_device: Option<Vec<WeightDevice>>,
    #[schema(value_type = Option<Vec<wire::ThrottleDevice>>)]
    #[serde(rename = "BlkioDeviceReadBps")]
    pub blkio_device_read_bps: Option<Vec<ThrottleDevice>>,
    #[schema(value_type = Option<Vec<wire::ThrottleDevice>>)]
    #[serde(rename = "BlkioDeviceWriteBps")]
    pub blkio_device_write_bps: Option<Vec<ThrottleDevice>>,
    #[schema(value_type = Option<Vec<wire::ThrottleDevice>>)]
    #[serde(rename = "BlkioDeviceReadIOps")]
    pub blkio_device_read_iops: Option<Vec<ThrottleDevice>>,
    #[schema(value_type = Option<Vec<wire::ThrottleDevice>>)]
    #[serde(rename = "BlkioDeviceWriteIOps")]
    pub blkio_device_write_iops: Option<Vec<ThrottleDevice>>,
    #[serde(rename = "CpuPeriod")]
    pub cpu_period: i64,
    #[serde(rename = "CpuQuota")]
    pub cpu_quota: i64,
    #[serde(rename = "CpuRealtimePeriod")]
    pub cpu_realtime_period: i64,
    #[serde(rename = "CpuRealtimeRuntime")]
    pub cpu_realtime_runtime: i64,
    #[serde(rename = "CpusetCpus")]
    pub cpuset_cpus: String,
    #[serde(rename = "CpusetMems")]
    pub cpuset_mems: String,
    #[schema(value_type = Option<Vec<wire::DeviceMapping>>)]
    #[serde(rename = "Devices")]
    pub devices: Option<Vec<DeviceMapping>>,
    #[serde(rename = "DeviceCgroupRules")]
    pub device_cgroup_rules: Option<Vec<String>>,
    #[schema(value_type = Option<Vec<wire::DeviceRequest>>)]
    #[serde(rename = "DeviceRequests")]
    pub device_requests: Option<Vec<DeviceRequest>>,
    #[serde(rename = "MemoryReservation")]
    pub memory_reservation: i64,
    #[serde(rename = "MemorySwap")]
    pub memory_swap: i64,
    #[serde(rename = "MemorySwappiness")]
    pub memory_swappiness: Option<i64>,
    #[serde(rename = "OomKillDisable")]
    pub oom_kill_disable: bool,
    #[serde(rename = "PidsLimit")]
    pub pids_limit: Option<i64>,
    #[schema(value_type = Option<Vec<wire::Ulimit>>)]
    #[serde(rename = "Ulimits")]
    pub ulimits: Option<Vec<Ulimit>>,
    #[serde(rename = "CpuCount")]
    pub cpu_count: i64,
    #[serde(rename = "CpuPercent")]
    pub cpu_percent: i64,
    #[serde(rename = "IOMaximumIOps")]
    pub io_maximum_iops: i64,
    #[serde(rename = "IOMaximumBandwidth")]
    pub io_maximum_bandwidth: i64,
    #[serde(rename = "MaskedPaths")]
    pub masked_paths: Option<Vec<String>>,
    #[serde(rename = "ReadonlyPaths")]
    pub readonly_paths: Option<Vec<String>>,
    #[serde(rename = "KernelMemory", skip_serializing_if = "Option::is_none")]
    pub kernel_memory: Option<i64>,
    #[serde(rename = "KernelMemoryTCP", skip_serializing_if = "Option::is_none")]
    pub kernel_memory_tcp: Option<i64>,
    #[serde(rename = "Init", skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    #[schema(value_type = Option<Vec<wire::Mount>>)]
    #[serde(rename = "Mounts", skip_serializing_if = "Option::is_none")]
    pub mounts: Option<Vec<MountSpec>>,
    #[serde(rename = "Annotations", skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(rename = "StorageOpt", skip_serializing_if = "Option::is_none")]
    pub storage_opt: Option<BTreeMap<String, String>>,
    #[serde(rename = "Tmpfs", skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<BTreeMap<String, String>>,
    #[serde(rename = "Sysctls", skip_serializing_if = "Option::is_none")]
    pub sysctls: Option<BTreeMap<String, String>>,
    #[serde(rename = "Capabilities", skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<String>>,
    #[serde(rename = "Umask", skip_serializing_if = "Option::is_none")]
    pub umask: Option<u32>,
}

fn host_config(h: &HostConfig, network_mode: String) -> HostConfigView {
    HostConfigView {
        binds: h.binds.clone(),
        container_id_file: owned(&h.container_id_file),
        log_config: log_config(h),
        network_mode,
        port_bindings: h.port_bindings.clone().unwrap_or_default(),
        restart_policy: h
            .restart_policy
            .clone()
            .unwrap_or_else(|| RestartPolicySpec {
                name: Some("no".into()),
                maximum_retry_count: Some(0),
            }),
        auto_remove: flag(&h.auto_remove),
        volume_driver: owned(&h.volume_driver),
        volumes_from: h.volumes_from.clone(),
        console_size: h.console_size.clone().unwrap_or_else(|| vec![0, 0]),
        cap_add: h.cap_add.clone(),
        cap_drop: h.cap_drop.clone(),
        cgroupns_mode: or(&h.cgroupns_mode, "host"),
        dns: h.dns.clone(),
        dns_options: h.dns_options.clone(),
        dns_search: h.dns_search.clone(),
        extra_hosts: h.extra_hosts.clone(),
        group_add: h.group_add.clone(),
        ipc_mode: or(&h.ipc_mode, "private"),
        cgroup: owned(&h.cgroup),
        links: h.links.clone(),
        oom_score_adj: number(&h.oom_score_adj),
        pid_mode: owned(&h.pid_mode),
        privileged: h.privileged(),
        publish_all_ports: flag(&h.publish_all_ports),
        readonly_rootfs: flag(&h.readonly_rootfs),
        security_opt: h.security_opt.clone(),
        uts_mode: owned(&h.uts_mode),
        userns_mode: owned(&h.userns_mode),
        shm_size: h.shm_size.unwrap_or(67108864),
        runtime: or(&h.runtime, "runc"),
        isolation: owned(&h.isolation),
        cpu_shares: number(&h.cpu_shares),
        memory: number(&h.memory),
        nano_cpus: number(&h.nano_cpus),
        cgroup_parent: owned(&h.cgroup_parent),
        blkio_weight: h.blkio_weight.unwrap_or(0),
        blkio_weight_device: h.blkio_weight_device.clone(),
        blkio_device_read_bps: h.blkio_device_read_bps.clone(),
        blkio_device_write_bps: h.blkio_device_write_bps.clone(),
        blkio_device_read_iops: h.blkio_device_read_iops.clone(),
        blkio_device_write_iops: h.blkio_device_write_iops.clone(),
        cpu_period: number(&h.cpu_period),
        cpu_quota: number(&h.cpu_quota),
        cpu_realtime_period: number(&h.cpu_realtime_period),
        cpu_realtime_runtime: number(&h.cpu_realtime_runtime),
        cpuset_cpus: owned(&h.cpuset_cpus),
        cpuset_mems: owned(&h.cpuset_mems),
        devices: h.devices.clone(),
        device_cgroup_rules: h.device_cgroup_rules.clone(),
        device_requests: h.device_requests.clone(),
        memory_reservation: number(&h.memory_reservation),
        memory_swap: number(&h.memory_swap),
        memory_swappiness: h.memory_swappiness,
        oom_kill_disable: flag(&h.oom_kill_disable),
        pids_limit: h.pids_limit,
        ulimits: h.ulimits.clone(),
        cpu_count: number(&h.cpu_count),
        cpu_percent: number(&h.cpu_percent),
        io_maximum_iops: number(&h.io_maximum_iops),
        io_maximum_bandwidth: number(&h.io_maximum_bandwidth),
        masked_paths: paths(&h.masked_paths, berth_engine::oci::MASKED_PATHS),
        readonly_paths: paths(&h.readonly_paths, berth_engine::oci::READONLY_PATHS),
        kernel_memory: h.kernel_memory,
        kernel_memory_tcp: h.kernel_memory_tcp,
        init: h.init,
        mounts: h.mounts.clone(),
        annotations: h.annotations.clone(),
        storage_opt: h.storage_opt.clone(),
        tmpfs: h.tmpfs.clone(),
        sysctls: h.sysctls.clone(),
        capabilities: h.capabilities.clone(),
        umask: h.umask,
    }
}

fn owned(v: &Option<String>) -> String {
    text(v).to_string()
}

fn or(v: &Option<String>, default: &str) -> String {
    Some(text(v))
        .filter(|s| !s.is_empty())
        .unwrap_or(default)
        .to_string()
}

fn paths(given: &Option<Vec<String>>, default: &[&str]) -> Option<Vec<String>> {
    Some(
        given
            .clone()
            .unwrap_or_else(|| default.iter().map(|p| p.to_string()).collect()),
    )
}

fn log_config(h: &HostConfig) -> LogConfigSpec {
    h.log_config.clone().unwrap_or_else(|| LogConfigSpec {
        r#type: Some("json-file".into()),
        config: Some(BTreeMap::new()),
    })
}

/// `NetworkSettings` of inspect. The top-level addresses (`Option`s here) describe the
/// default bridge endpoint; moby deprecated them in 1.21 and stopped sending them at 1.52.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = InspectNetworkSettings)]
pub struct NetworkSettingsView {
    #[serde(rename = "SandboxID")]
    pub sandbox_id: String,
    #[serde(rename = "SandboxKey")]
    pub sandbox_key: String,
    /// Each listed port, `null` when not published.
    #[serde(rename = "Ports")]
    pub ports: BTreeMap<String, Option<Vec<wire::PortBinding>>>,
    #[serde(rename = "Networks")]
    pub networks: BTreeMap<String, EndpointView>,
    #[serde(rename = "Bridge", skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    #[serde(rename = "HairpinMode", skip_serializing_if = "Option::is_none")]
    pub hairpin_mode: Option<bool>,
    #[serde(
        rename = "LinkLocalIPv6Address",
        skip_serializing_if = "Option::is_none"
    )]
    pub link_local_ipv6_address: Option<String>,
    #[serde(
        rename = "LinkLocalIPv6PrefixLen",
        skip_serializing_if = "Option::is_none"
    )]
    pub link_local_ipv6_prefix_len: Option<i64>,
    #[serde(
        rename = "SecondaryIPAddresses",
        skip_serializing_if = "Option::is_none"
    )]
    pub secondary_ip_addresses: Option<Option<Vec<String>>>,
    #[serde(
        rename = "SecondaryIPv6Addresses",
        skip_serializing_if = "Option::is_none"
    )]
    pub secondary_ipv6_addresses: Option<Option<Vec<String>>>,
    #[serde(rename = "EndpointID", skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<String>,
    #[serde(rename = "Gateway", skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(rename = "GlobalIPv6Address", skip_serializing_if = "Option::is_none")]
    pub global_ipv6_address: Option<String>,
    #[serde(
        rename = "GlobalIPv6PrefixLen",
        skip_serializing_if = "Option::is_none"
    )]
    pub global_ipv6_prefix_len: Option<i64>,
    #[serde(rename = "IPAddress", skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(rename = "IPPrefixLen", skip_serializing_if = "Option::is_none")]
    pub ip_prefix_len: Option<i64>,
    #[serde(rename = "IPv6Gateway", skip_serializing_if = "Option::is_none")]
    pub ipv6_gateway: Option<String>,
    #[serde(rename = "MacAddress", skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
}

impl NetworkSettingsView {
    /// Leaves out the legacy top-level addresses.
    pub fn drop_legacy(&mut self) {
        self.bridge = None;
        self.hairpin_mode = None;
        self.link_local_ipv6_address = None;
        self.link_local_ipv6_prefix_len = None;
        self.secondary_ip_addresses = None;
        self.secondary_ipv6_addresses = None;
        self.endpoint_id = None;
        self.gateway = None;
        self.global_ipv6_address = None;
        self.global_ipv6_prefix_len = None;
        self.ip_address = None;
        self.ip_prefix_len = None;
        self.ipv6_gateway = None;
        self.mac_address = None;
    }
}

fn network_settings(c: &ContainerRecord) -> NetworkSettingsView {
    let default = c.networks.get("bridge").cloned().unwrap_or_default();
    NetworkSettingsView {
        sandbox_id: if c.sandbox.is_empty() {
            String::new()
        } else {
            c.id.clone()
        },
        sandbox_key: c.sandbox.clone(),
        ports: c
            .listed_ports()
            .into_iter()
            .map(|(key, bindings)| {
                let bindings: Vec<wire::PortBinding> = bindings
                    .into_iter()
                    .map(|(ip, port)| wire::PortBinding {
                        host_ip: Some(ip),
                        host_port: Some(port.to_string()),
                    })
                    .collect();
                (key, (!bindings.is_empty()).then_some(bindings))
            })
            .collect(),
        networks: c
            .networks
            .iter()
            .map(|(name, e)| (name.clone(), e.into()))
            .collect(),
        bridge: Some(String::new()),
        hairpin_mode: Some(false),
        link_local_ipv6_address: Some(String::new()),
        link_local_ipv6_prefix_len: Some(0),
        secondary_ip_addresses: Some(None),
        secondary_ipv6_addresses: Some(None),
        endpoint_id: Some(default.endpoint_id.clone()),
        gateway: Some(default.gateway.clone()),
        global_ipv6_address: Some(String::new()),
        global_ipv6_prefix_len: Some(0),
        ip_address: Some(default.ip.clone()),
        ip_prefix_len: Some(i64::from(default.prefix)),
        ipv6_gateway: Some(String::new()),
        mac_address: Some(default.mac.clone()),
    }
}

/// `GET /containers/{id}/json` in its shape below API 1.52 (the version shims in
/// `compat::container` adapt it).
pub fn inspect(c: &ContainerRecord, v: ApiVersion) -> ContainerInspect {
    let st = &c.state;
    let h = &c.host_config;
    let mut host = host_config(h, c.network_mode_shown().to_string());
    if v.lt(1, 42) {
        host.kernel_memory = Some(h.kernel_memory.unwrap_or(0));
        host.kernel_memory_tcp = Some(h.kernel_memory_tcp.unwrap_or(0));
    }
    if h.privileged() {
        host.masked_paths = None;
        host.readonly_paths = None;
    }
    ContainerInspect {
        id: c.id.clone(),
        created: c.created.clone(),
        path: c.path.clone(),
        args: c.args.clone(),
        state: StateView {
            status: st.status.as_str().to_string(),
            running: matches!(
                st.status,
                Status::Running | Status::Paused | Status::Restarting
            ),
            paused: st.status == Status::Paused,
            restarting: st.status == Status::Restarting,
            oom_killed: st.oom_killed,
            dead: st.status == Status::Dead,
            pid: st.pid,
            exit_code: st.exit_code,
            error: st.error.clone(),
            started_at: st.started_at.clone(),
            finished_at: st.finished_at.clone(),
            health: st.health.as_ref().map(|h| HealthView {
                status: h.status.clone(),
                failing_streak: h.failing_streak,
                log: h
                    .log
                    .iter()
                    .map(|r| HealthcheckResult {
                        start: r.start.clone(),
                        end: r.end.clone(),
                        exit_code: r.exit_code,
                        output: r.output.clone(),
                    })
                    .collect(),
            }),
        },
        image: c.image_id.clone(),
        resolv_conf_path: c.resolv_conf_path.clone(),
        hostname_path: c.hostname_path.clone(),
        hosts_path: c.hosts_path.clone(),
        log_path: c.log_path.clone(),
        name: c.name.clone(),
        restart_count: c.restart_count,
        driver: "overlayfs".into(),
        platform: "linux".into(),
        mount_label: String::new(),
        process_label: String::new(),
        app_armor_profile: String::new(),
        exec_ids: None,
        host_config: host,
        graph_driver: Some(GraphDriver {
            data: None,
            name: "overlayfs".into(),
        }),
        storage: None,
        size_rw: None,
        size_root_fs: None,
        mounts: mounts(c),
        config: config(&c.config),
        network_settings: network_settings(c),
    }
}

impl ContainerInspect {
    /// `SizeRw` and `SizeRootFs` with `size=1`.
    pub fn with_sizes(mut self, size: berth_engine::disk_usage::ContainerSize) -> Self {
        self.size_rw = Some(size.size_rw);
        self.size_root_fs = Some(size.size_root_fs);
        self
    }
}
