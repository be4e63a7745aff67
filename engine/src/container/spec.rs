//! What a container runs, as the engine models it: moby's `container.Config` after the API
//! layer has decoded and adapted the request. Kept in the record under `config` in moby's
//! key spelling, so records written while it was raw JSON read as this type. A key that is
//! `None` was not given (or was `null`); the inspect output supplies Go's zero values.

use std::collections::BTreeMap;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The members of `ExposedPorts` and `Volumes` (Go's `struct{}`): any JSON object read, `{}`
/// written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Marker;

impl Serialize for Marker {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_map(Some(0))?.end()
    }
}

impl<'de> Deserialize<'de> for Marker {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Marker;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut m: A,
            ) -> std::result::Result<Marker, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Marker)
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<Marker, E> {
                Ok(Marker)
            }
        }
        d.deserialize_any(V)
    }
}

/// A set of keys written as a JSON object of `{}` (`ExposedPorts`, `Volumes`).
pub type KeySet = BTreeMap<String, Marker>;

/// `Config.Healthcheck`; durations in nanoseconds, `0` meaning "inherit" or "default".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
}

/// moby's `container.Config`, as asked for and then merged with the image's.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_stdin: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_stdout: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_stderr: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<KeySet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_stdin: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin_once: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<KeySet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_disabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

impl ContainerConfig {
    pub fn image(&self) -> &str {
        text(&self.image)
    }
    pub fn hostname(&self) -> &str {
        text(&self.hostname)
    }
    pub fn user(&self) -> &str {
        text(&self.user)
    }
    pub fn working_dir(&self) -> &str {
        text(&self.working_dir)
    }
    pub fn stop_signal(&self) -> &str {
        text(&self.stop_signal)
    }
    pub fn mac_address(&self) -> &str {
        text(&self.mac_address)
    }
    pub fn env(&self) -> &[String] {
        list(&self.env)
    }
    pub fn cmd(&self) -> &[String] {
        list(&self.cmd)
    }
    pub fn entrypoint(&self) -> &[String] {
        list(&self.entrypoint)
    }
    pub fn shell(&self) -> &[String] {
        list(&self.shell)
    }
    pub fn tty(&self) -> bool {
        self.tty.unwrap_or(false)
    }
    pub fn open_stdin(&self) -> bool {
        self.open_stdin.unwrap_or(false)
    }
    pub fn stdin_once(&self) -> bool {
        self.stdin_once.unwrap_or(false)
    }
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.labels.clone().unwrap_or_default()
    }
    /// `ExposedPorts` keys (`80/tcp`).
    pub fn exposed_ports(&self) -> impl Iterator<Item = &String> {
        self.exposed_ports.iter().flat_map(|m| m.keys())
    }
    /// `Volumes` keys (container paths).
    pub fn volumes(&self) -> impl Iterator<Item = &String> {
        self.volumes.iter().flat_map(|m| m.keys())
    }

    /// Takes every field `over` gives.
    pub fn overlay(&mut self, over: ContainerConfig) {
        macro_rules! given {
            ($($field:ident),*) => {
                $(if over.$field.is_some() {
                    self.$field = over.$field;
                })*
            };
        }
        given!(
            hostname,
            domainname,
            user,
            attach_stdin,
            attach_stdout,
            attach_stderr,
            exposed_ports,
            tty,
            open_stdin,
            stdin_once,
            env,
            cmd,
            healthcheck,
            args_escaped,
            image,
            volumes,
            working_dir,
            entrypoint,
            network_disabled,
            mac_address,
            on_build,
            labels,
            stop_signal,
            stop_timeout,
            shell
        );
    }

    /// Sets `key=value` in `Env`, in place of an entry for the same key.
    pub fn set_env(&mut self, key: &str, value: &str) {
        let entry = format!("{key}={value}");
        let env = self.env.get_or_insert_default();
        match env
            .iter_mut()
            .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
        {
            Some(e) => *e = entry,
            None => env.push(entry),
        }
    }

    pub fn set_label(&mut self, key: &str, value: &str) {
        self.labels
            .get_or_insert_default()
            .insert(key.to_string(), value.to_string());
    }

    /// Adds `port/proto` to `ExposedPorts`.
    pub fn expose(&mut self, port: &str) {
        self.exposed_ports
            .get_or_insert_default()
            .insert(port.to_string(), Marker);
    }

    /// Adds a container path to `Volumes`.
    pub fn declare_volume(&mut self, path: &str) {
        self.volumes
            .get_or_insert_default()
            .insert(path.to_string(), Marker);
    }

    pub fn add_on_build(&mut self, trigger: &str) {
        self.on_build
            .get_or_insert_default()
            .push(trigger.to_string());
    }

    /// The `config` section of an image config, read as the same type (a malformed one is
    /// an invalid image).
    pub fn from_image(config: &serde_json::Value) -> Result<ContainerConfig> {
        ContainerConfig::deserialize(config)
            .map_err(|e| Error::invalid(format!("invalid image config: {e}")))
    }

    /// Merges the image's config in as moby does: Env by key, Cmd and Entrypoint by the
    /// entrypoint rule, and WorkingDir, User, StopSignal, Healthcheck and Domainname where
    /// the container sets none; Labels, ExposedPorts and Volumes key by key, the
    /// container's winning.
    pub fn merge_image(&mut self, image: ContainerConfig) {
        let key_of = |e: &str| e.split_once('=').map_or(e, |(k, _)| k).to_string();
        let mut env = self.env.take().unwrap_or_default();
        for e in image.env.unwrap_or_default() {
            if !env.iter().any(|x| key_of(x) == key_of(&e)) {
                env.push(e);
            }
        }
        self.env = Some(env);
        let own_entrypoint = !self.entrypoint().is_empty();
        if self.cmd().is_empty() && !own_entrypoint && image.cmd.is_some() {
            self.cmd = image.cmd;
        }
        if !own_entrypoint && image.entrypoint.is_some() {
            self.entrypoint = image.entrypoint;
        }
        fn fill(own: &mut Option<String>, image: Option<String>) {
            if own.as_deref().unwrap_or("").is_empty()
                && image.as_deref().is_some_and(|s| !s.is_empty())
            {
                *own = image;
            }
        }
        fill(&mut self.working_dir, image.working_dir);
        fill(&mut self.user, image.user);
        fill(&mut self.stop_signal, image.stop_signal);
        fill(&mut self.domainname, image.domainname);
        if self
            .healthcheck
            .as_ref()
            .is_none_or(|h| *h == Healthcheck::default())
            && image.healthcheck.is_some()
        {
            self.healthcheck = image.healthcheck;
        }
        let mut labels = image.labels.unwrap_or_default();
        labels.extend(self.labels.take().unwrap_or_default());
        self.labels = Some(labels);
        fn union(own: &mut Option<KeySet>, image: Option<KeySet>) {
            let mut merged = image.unwrap_or_default();
            merged.extend(own.take().unwrap_or_default());
            *own = (!merged.is_empty()).then_some(merged);
        }
        union(&mut self.exposed_ports, image.exposed_ports);
        union(&mut self.volumes, image.volumes);
    }
}

/// moby's `container.HostConfig` as it was asked for (with the defaults moby fills in at
/// create); `None` was not given.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_parent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blkio_weight: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blkio_weight_device: Option<Vec<WeightDevice>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blkio_device_read_bps: Option<Vec<ThrottleDevice>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blkio_device_write_bps: Option<Vec<ThrottleDevice>>,
    #[serde(
        rename = "BlkioDeviceReadIOps",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub blkio_device_read_iops: Option<Vec<ThrottleDevice>>,
    #[serde(
        rename = "BlkioDeviceWriteIOps",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub blkio_device_write_iops: Option<Vec<ThrottleDevice>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_period: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_quota: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_realtime_period: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_realtime_runtime: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpuset_cpus: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpuset_mems: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<DeviceMapping>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_cgroup_rules: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_requests: Option<Vec<DeviceRequest>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_swap: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_swappiness: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nano_cpus: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_kill_disable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ulimits: Option<Vec<Ulimit>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<i64>,
    #[serde(
        rename = "IOMaximumIOps",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub io_maximum_iops: Option<i64>,
    #[serde(
        rename = "IOMaximumBandwidth",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub io_maximum_bandwidth: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_memory: Option<i64>,
    #[serde(
        rename = "KernelMemoryTCP",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub kernel_memory_tcp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binds: Option<Vec<String>>,
    #[serde(
        rename = "ContainerIDFile",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub container_id_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_config: Option<LogConfigSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_bindings: Option<BTreeMap<String, Vec<PortBinding>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicySpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_remove: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_driver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes_from: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mounts: Option<Vec<MountSpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_size: Option<Vec<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_add: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_drop: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroupns_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_options: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_search: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_hosts: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_add: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipc_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_all_ports: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readonly_rootfs: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_opt: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_opt: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<BTreeMap<String, String>>,
    #[serde(rename = "UTSMode", default, skip_serializing_if = "Option::is_none")]
    pub uts_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userns_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sysctls: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masked_paths: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readonly_paths: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub umask: Option<u32>,
}

/// A flag as set, `false` when not given.
pub fn flag(v: &Option<bool>) -> bool {
    v.unwrap_or(false)
}

/// A string as set, empty when not given.
pub fn text(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

/// A list as set, empty when not given.
pub fn list(v: &Option<Vec<String>>) -> &[String] {
    v.as_deref().unwrap_or(&[])
}

/// A number as set, zero when not given.
pub fn number(v: &Option<i64>) -> i64 {
    v.unwrap_or(0)
}

impl HostConfig {
    pub fn network_mode(&self) -> &str {
        text(&self.network_mode)
    }
    pub fn privileged(&self) -> bool {
        flag(&self.privileged)
    }
    pub fn auto_remove(&self) -> bool {
        flag(&self.auto_remove)
    }
}

/// `BlkioWeightDevice` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WeightDevice {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
}

/// A `BlkioDevice*` entry: a rate for one device.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ThrottleDevice {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<u64>,
}

/// `Devices` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceMapping {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_on_host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_in_container: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_permissions: Option<String>,
}

/// `DeviceRequests` entry (kept, not acted on: no device drivers here).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    #[serde(rename = "DeviceIDs", default, skip_serializing_if = "Option::is_none")]
    pub device_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<Vec<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
}

/// `Ulimits` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ulimit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard: Option<i64>,
}

/// `RestartPolicy` as given; [`super::policy::RestartPolicy`] is what it means.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_retry_count: Option<i64>,
}

/// `LogConfig` as given; [`super::policy::LogConfig`] is what it means.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogConfigSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<BTreeMap<String, String>>,
}

/// A host address and port a container port is published on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PortBinding {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<String>,
}

/// `Mounts` entry (`--mount`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
}

/// `Mounts[].BindOptions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BindOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_recursive: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_mountpoint: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_non_recursive: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_force_recursive: Option<bool>,
}

/// `Mounts[].VolumeOptions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_copy: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<DriverConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
}

/// `Mounts[].VolumeOptions.DriverConfig`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DriverConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
}

/// `Mounts[].TmpfsOptions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TmpfsOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<Vec<String>>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(v: serde_json::Value) -> ContainerConfig {
        serde_json::from_value(v).expect("a config")
    }

    #[test]
    fn image_cmd_is_used_only_without_own_entrypoint() {
        let image =
            config(json!({"Cmd": ["sh"], "Env": ["PATH=/bin", "A=1"], "Labels": {"x": "1"}}));
        let mut c = config(json!({"Env": ["A=2", "B=3"]}));
        c.merge_image(image.clone());
        assert_eq!(c.cmd(), ["sh"]);
        assert_eq!(c.env(), ["A=2", "B=3", "PATH=/bin"]);
        assert_eq!(c.labels()["x"], "1");
        let mut c = config(json!({"Entrypoint": ["echo"]}));
        c.merge_image(image);
        assert!(c.cmd.is_none());
    }

    #[test]
    fn own_keys_win_and_sets_are_unions() {
        let image = config(
            json!({"WorkingDir": "/img", "User": "img", "Labels": {"a": "img", "b": "img"},
            "ExposedPorts": {"80/tcp": {}}, "Volumes": {"/data": {}}, "Healthcheck": {"Test": ["NONE"]}}),
        );
        let mut c = config(
            json!({"User": "", "WorkingDir": "/own", "Labels": {"a": "own"},
            "ExposedPorts": {"81/udp": {}}}),
        );
        c.merge_image(image);
        assert_eq!(c.working_dir(), "/own");
        assert_eq!(c.user(), "img");
        assert_eq!(c.labels()["a"], "own");
        assert_eq!(c.labels()["b"], "img");
        assert_eq!(c.exposed_ports().collect::<Vec<_>>(), ["80/tcp", "81/udp"]);
        assert_eq!(c.volumes().collect::<Vec<_>>(), ["/data"]);
        assert_eq!(c.healthcheck.unwrap().test.unwrap(), ["NONE"]);
    }

    #[test]
    fn written_in_moby_spelling_without_absent_keys() {
        let c = config(
            json!({"Image": "busybox", "Cmd": null, "Volumes": {"/v": {"x": 1}}, "Tty": true}),
        );
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({"Image": "busybox", "Volumes": {"/v": {}}, "Tty": true})
        );
    }
}
