//! `/version` and `/info` (moby `api/types/system`, `api/types/types.go`).

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Platform {
    #[serde(rename = "Name")]
    pub name: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ComponentVersion {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Version")]
    pub version: String,
    #[serde(rename = "Details", skip_serializing_if = "Option::is_none")]
    pub details: Option<BTreeMap<String, String>>,
}

/// `GET /version`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SystemVersion {
    #[serde(rename = "Platform")]
    pub platform: Platform,
    #[serde(rename = "Components")]
    pub components: Vec<ComponentVersion>,
    #[serde(rename = "Version")]
    pub version: String,
    #[serde(rename = "ApiVersion")]
    pub api_version: String,
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    #[serde(rename = "GitCommit")]
    pub git_commit: String,
    #[serde(rename = "GoVersion")]
    pub go_version: String,
    #[serde(rename = "Os")]
    pub os: String,
    #[serde(rename = "Arch")]
    pub arch: String,
    #[serde(rename = "KernelVersion")]
    pub kernel_version: String,
    #[serde(rename = "Experimental", skip_serializing_if = "std::ops::Not::not")]
    pub experimental: bool,
    #[serde(rename = "BuildTime")]
    pub build_time: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PluginsInfo {
    #[serde(rename = "Volume")]
    pub volume: Vec<String>,
    #[serde(rename = "Network")]
    pub network: Vec<String>,
    #[serde(rename = "Authorization")]
    pub authorization: Option<Vec<String>>,
    #[serde(rename = "Log")]
    pub log: Vec<String>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct IndexInfo {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Mirrors")]
    pub mirrors: Vec<String>,
    #[serde(rename = "Secure")]
    pub secure: bool,
    #[serde(rename = "Official")]
    pub official: bool,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RegistryServiceConfig {
    /// Emitted as `null` below API 1.47 only (see `compat::info`).
    #[serde(
        rename = "AllowNondistributableArtifactsCIDRs",
        skip_serializing_if = "Option::is_none"
    )]
    pub allow_nondistributable_artifacts_cidrs: Option<Option<Vec<String>>>,
    #[serde(
        rename = "AllowNondistributableArtifactsHostnames",
        skip_serializing_if = "Option::is_none"
    )]
    pub allow_nondistributable_artifacts_hostnames: Option<Option<Vec<String>>>,
    #[serde(rename = "InsecureRegistryCIDRs")]
    pub insecure_registry_cidrs: Vec<String>,
    #[serde(rename = "IndexConfigs")]
    pub index_configs: BTreeMap<String, IndexInfo>,
    #[serde(rename = "Mirrors")]
    pub mirrors: Vec<String>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RuntimeInfo {
    pub path: String,
    #[serde(rename = "runtimeArgs", skip_serializing_if = "Option::is_none")]
    pub runtime_args: Option<Vec<String>>,
    /// Dropped below API 1.44.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<BTreeMap<String, String>>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SwarmInfo {
    #[serde(rename = "NodeID")]
    pub node_id: String,
    #[serde(rename = "NodeAddr")]
    pub node_addr: String,
    #[serde(rename = "LocalNodeState")]
    pub local_node_state: String,
    #[serde(rename = "ControlAvailable")]
    pub control_available: bool,
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "RemoteManagers")]
    pub remote_managers: Option<Vec<serde_json::Value>>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Commit {
    #[serde(rename = "ID")]
    pub id: String,
    /// Present below API 1.49 only.
    #[serde(rename = "Expected", skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ContainerdNamespaces {
    #[serde(rename = "Containers")]
    pub containers: String,
    #[serde(rename = "Plugins")]
    pub plugins: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ContainerdInfo {
    #[serde(rename = "Address")]
    pub address: String,
    #[serde(rename = "Namespaces")]
    pub namespaces: ContainerdNamespaces,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FirewallInfo {
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "Info")]
    pub info: Option<Vec<[String; 2]>>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DeviceInfo {
    #[serde(rename = "Source")]
    pub source: String,
    #[serde(rename = "ID")]
    pub id: String,
}

/// `GET /info`, in its API 1.50 shape; older shapes are derived in `compat::info`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SystemInfo {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Containers")]
    pub containers: u64,
    #[serde(rename = "ContainersRunning")]
    pub containers_running: u64,
    #[serde(rename = "ContainersPaused")]
    pub containers_paused: u64,
    #[serde(rename = "ContainersStopped")]
    pub containers_stopped: u64,
    #[serde(rename = "Images")]
    pub images: u64,
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "DriverStatus")]
    pub driver_status: Vec<[String; 2]>,
    #[serde(rename = "Plugins")]
    pub plugins: PluginsInfo,
    #[serde(rename = "MemoryLimit")]
    pub memory_limit: bool,
    #[serde(rename = "SwapLimit")]
    pub swap_limit: bool,
    #[serde(rename = "CpuCfsPeriod")]
    pub cpu_cfs_period: bool,
    #[serde(rename = "CpuCfsQuota")]
    pub cpu_cfs_quota: bool,
    #[serde(rename = "CPUShares")]
    pub cpu_shares: bool,
    #[serde(rename = "CPUSet")]
    pub cpu_set: bool,
    #[serde(rename = "PidsLimit")]
    pub pids_limit: bool,
    #[serde(rename = "IPv4Forwarding")]
    pub ipv4_forwarding: bool,
    /// Present (always false) below API 1.50 only.
    #[serde(rename = "BridgeNfIptables", skip_serializing_if = "Option::is_none")]
    pub bridge_nf_iptables: Option<bool>,
    #[serde(rename = "BridgeNfIp6tables", skip_serializing_if = "Option::is_none")]
    pub bridge_nf_ip6tables: Option<bool>,
    #[serde(rename = "Debug")]
    pub debug: bool,
    #[serde(rename = "NFd")]
    pub nfd: u64,
    #[serde(rename = "OomKillDisable")]
    pub oom_kill_disable: bool,
    #[serde(rename = "NGoroutines")]
    pub ngoroutines: u64,
    #[serde(rename = "SystemTime")]
    pub system_time: String,
    #[serde(rename = "LoggingDriver")]
    pub logging_driver: String,
    #[serde(rename = "CgroupDriver")]
    pub cgroup_driver: String,
    #[serde(rename = "CgroupVersion")]
    pub cgroup_version: String,
    #[serde(rename = "NEventsListener")]
    pub nevents_listener: u64,
    #[serde(rename = "KernelVersion")]
    pub kernel_version: String,
    #[serde(rename = "OperatingSystem")]
    pub operating_system: String,
    #[serde(rename = "OSVersion")]
    pub os_version: String,
    #[serde(rename = "OSType")]
    pub os_type: String,
    #[serde(rename = "Architecture")]
    pub architecture: String,
    #[serde(rename = "IndexServerAddress")]
    pub index_server_address: String,
    #[serde(rename = "RegistryConfig")]
    pub registry_config: RegistryServiceConfig,
    #[serde(rename = "NCPU")]
    pub ncpu: u64,
    #[serde(rename = "MemTotal")]
    pub mem_total: u64,
    #[serde(rename = "GenericResources")]
    pub generic_resources: Option<Vec<serde_json::Value>>,
    #[serde(rename = "DockerRootDir")]
    pub docker_root_dir: String,
    #[serde(rename = "HttpProxy")]
    pub http_proxy: String,
    #[serde(rename = "HttpsProxy")]
    pub https_proxy: String,
    #[serde(rename = "NoProxy")]
    pub no_proxy: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Labels")]
    pub labels: Vec<String>,
    #[serde(rename = "ExperimentalBuild")]
    pub experimental_build: bool,
    #[serde(rename = "ServerVersion")]
    pub server_version: String,
    #[serde(rename = "Runtimes")]
    pub runtimes: BTreeMap<String, RuntimeInfo>,
    #[serde(rename = "DefaultRuntime")]
    pub default_runtime: String,
    #[serde(rename = "Swarm")]
    pub swarm: SwarmInfo,
    #[serde(rename = "LiveRestoreEnabled")]
    pub live_restore_enabled: bool,
    #[serde(rename = "Isolation")]
    pub isolation: String,
    #[serde(rename = "InitBinary")]
    pub init_binary: String,
    #[serde(rename = "ContainerdCommit")]
    pub containerd_commit: Commit,
    #[serde(rename = "RuncCommit")]
    pub runc_commit: Commit,
    #[serde(rename = "InitCommit")]
    pub init_commit: Commit,
    #[serde(rename = "SecurityOptions")]
    pub security_options: Vec<String>,
    #[serde(rename = "CDISpecDirs")]
    pub cdi_spec_dirs: Vec<String>,
    /// `null` below API 1.49.
    #[serde(rename = "FirewallBackend", skip_serializing_if = "Option::is_none")]
    pub firewall_backend: Option<FirewallInfo>,
    /// `null` below API 1.50.
    #[serde(rename = "DiscoveredDevices", skip_serializing_if = "Option::is_none")]
    pub discovered_devices: Option<Vec<DeviceInfo>>,
    /// `null` below API 1.46.
    #[serde(rename = "Containerd", skip_serializing_if = "Option::is_none")]
    pub containerd: Option<ContainerdInfo>,
    /// `--default-address-pool` as configured; left out when none was (Go's omitempty).
    #[serde(
        rename = "DefaultAddressPools",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_address_pools: Option<Vec<AddressPool>>,
    #[serde(rename = "Warnings")]
    pub warnings: Option<Vec<String>>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AddressPool {
    #[serde(rename = "Base")]
    pub base: String,
    #[serde(rename = "Size")]
    pub size: u32,
}
