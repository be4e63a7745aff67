//! Conversions from the decoded wire types into the engine's model of a container: the
//! fields a client gave keep being `Some`, so the engine can tell them from defaults.

use std::collections::BTreeMap;

use berth_engine::container::EndpointRequest;
use berth_engine::container::spec as engine;

use super::generated::*;
use super::patch::EmptyObject;

fn key_set(m: Option<BTreeMap<String, EmptyObject>>) -> Option<engine::KeySet> {
    m.map(|m| m.into_keys().map(|k| (k, engine::Marker)).collect())
}

impl From<HealthConfig> for engine::Healthcheck {
    fn from(h: HealthConfig) -> Self {
        Self {
            test: h.test,
            interval: h.interval,
            timeout: h.timeout,
            start_period: h.start_period,
            start_interval: h.start_interval,
            retries: h.retries,
        }
    }
}

/// The container's own config; `HostConfig` and `NetworkingConfig` are taken apart first.
impl From<ContainerCreateRequest> for engine::ContainerConfig {
    fn from(r: ContainerCreateRequest) -> Self {
        Self {
            hostname: r.hostname,
            domainname: r.domainname,
            user: r.user,
            attach_stdin: r.attach_stdin,
            attach_stdout: r.attach_stdout,
            attach_stderr: r.attach_stderr,
            exposed_ports: key_set(r.exposed_ports),
            tty: r.tty,
            open_stdin: r.open_stdin,
            stdin_once: r.stdin_once,
            env: r.env,
            cmd: r.cmd.map(|c| c.0),
            healthcheck: r.healthcheck.map(Into::into),
            args_escaped: r.args_escaped,
            image: r.image,
            volumes: key_set(r.volumes),
            working_dir: r.working_dir,
            entrypoint: r.entrypoint.map(|c| c.0),
            network_disabled: r.network_disabled,
            mac_address: r.mac_address,
            on_build: r.on_build,
            labels: r.labels,
            stop_signal: r.stop_signal,
            stop_timeout: r.stop_timeout,
            shell: r.shell.map(|c| c.0),
        }
    }
}

impl From<EndpointSettings> for EndpointRequest {
    fn from(e: EndpointSettings) -> Self {
        let ipam = e.ipam_config.unwrap_or_default();
        Self {
            aliases: e.aliases.unwrap_or_default(),
            ipv4_address: ipam.ipv4_address.unwrap_or_default(),
            ipv6_address: ipam.ipv6_address.unwrap_or_default(),
            link_local_ips: ipam.link_local_ips.unwrap_or_default(),
            mac_address: e.mac_address.unwrap_or_default(),
            links: e.links.unwrap_or_default(),
            driver_opts: e.driver_opts.unwrap_or_default(),
        }
    }
}

/// Wire to engine: the same fields, Go's spelling kept.
impl From<HostConfig> for engine::HostConfig {
    fn from(v: HostConfig) -> Self {
        Self {
            cpu_shares: v.cpu_shares,
            memory: v.memory,
            cgroup_parent: v.cgroup_parent,
            blkio_weight: v.blkio_weight,
            blkio_weight_device: v
                .blkio_weight_device
                .map(|l| l.into_iter().map(Into::into).collect()),
            blkio_device_read_bps: v
                .blkio_device_read_bps
                .map(|l| l.into_iter().map(Into::into).collect()),
            blkio_device_write_bps: v
                .blkio_device_write_bps
                .map(|l| l.into_iter().map(Into::into).collect()),
            blkio_device_read_iops: v
                .blkio_device_read_iops
                .map(|l| l.into_iter().map(Into::into).collect()),
            blkio_device_write_iops: v
                .blkio_device_write_iops
                .map(|l| l.into_iter().map(Into::into).collect()),
            cpu_period: v.cpu_period,
            cpu_quota: v.cpu_quota,
            cpu_realtime_period: v.cpu_realtime_period,
            cpu_realtime_runtime: v.cpu_realtime_runtime,
            cpuset_cpus: v.cpuset_cpus,
            cpuset_mems: v.cpuset_mems,
            devices: v.devices.map(|l| l.into_iter().map(Into::into).collect()),
            device_cgroup_rules: v.device_cgroup_rules,
            device_requests: v
                .device_requests
                .map(|l| l.into_iter().map(Into::into).collect()),
            memory_reservation: v.memory_reservation,
            memory_swap: v.memory_swap,
            memory_swappiness: v.memory_swappiness,
            nano_cpus: v.nano_cpus,
            oom_kill_disable: v.oom_kill_disable,
            init: v.init,
            pids_limit: v.pids_limit,
            ulimits: v.ulimits.map(|l| l.into_iter().map(Into::into).collect()),
            cpu_count: v.cpu_count,
            cpu_percent: v.cpu_percent,
            io_maximum_iops: v.io_maximum_iops,
            io_maximum_bandwidth: v.io_maximum_bandwidth,
            kernel_memory: v.kernel_memory,
            kernel_memory_tcp: v.kernel_memory_tcp,
            binds: v.binds,
            container_id_file: v.container_id_file,
            log_config: v.log_config.map(Into::into),
            network_mode: v.network_mode,
            port_bindings: v.port_bindings.map(|m| {
                m.into_iter()
                    .map(|(k, l)| (k, l.into_iter().map(Into::into).collect()))
                    .collect()
            }),
            restart_policy: v.restart_policy.map(Into::into),
            auto_remove: v.auto_remove,
            volume_driver: v.volume_driver,
            volumes_from: v.volumes_from,
            mounts: v.mounts.map(|l| l.into_iter().map(Into::into).collect()),
            console_size: v.console_size,
            annotations: v.annotations,
            cap_add: v.cap_add,
            cap_drop: v.cap_drop,
            cgroupns_mode: v.cgroupns_mode,
            dns: v.dns,
            dns_options: v.dns_options,
            dns_search: v.dns_search,
            extra_hosts: v.extra_hosts,
            group_add: v.group_add,
            ipc_mode: v.ipc_mode,
            cgroup: v.cgroup,
            links: v.links,
            oom_score_adj: v.oom_score_adj,
            pid_mode: v.pid_mode,
            privileged: v.privileged,
            publish_all_ports: v.publish_all_ports,
            readonly_rootfs: v.readonly_rootfs,
            security_opt: v.security_opt,
            storage_opt: v.storage_opt,
            tmpfs: v.tmpfs,
            uts_mode: v.uts_mode,
            userns_mode: v.userns_mode,
            shm_size: v.shm_size,
            sysctls: v.sysctls,
            runtime: v.runtime,
            isolation: v.isolation,
            masked_paths: v.masked_paths,
            readonly_paths: v.readonly_paths,
            capabilities: v.capabilities,
            umask: v.umask,
        }
    }
}

impl From<WeightDevice> for engine::WeightDevice {
    fn from(v: WeightDevice) -> Self {
        Self {
            path: v.path,
            weight: v.weight,
        }
    }
}

impl From<ThrottleDevice> for engine::ThrottleDevice {
    fn from(v: ThrottleDevice) -> Self {
        Self {
            path: v.path,
            rate: v.rate,
        }
    }
}

impl From<DeviceMapping> for engine::DeviceMapping {
    fn from(v: DeviceMapping) -> Self {
        Self {
            path_on_host: v.path_on_host,
            path_in_container: v.path_in_container,
            cgroup_permissions: v.cgroup_permissions,
        }
    }
}

impl From<DeviceRequest> for engine::DeviceRequest {
    fn from(v: DeviceRequest) -> Self {
        Self {
            driver: v.driver,
            count: v.count,
            device_ids: v.device_i_ds,
            capabilities: v.capabilities,
            options: v.options,
        }
    }
}

impl From<Ulimit> for engine::Ulimit {
    fn from(v: Ulimit) -> Self {
        Self {
            name: v.name,
            soft: v.soft,
            hard: v.hard,
        }
    }
}

impl From<RestartPolicy> for engine::RestartPolicySpec {
    fn from(v: RestartPolicy) -> Self {
        Self {
            name: v.name,
            maximum_retry_count: v.maximum_retry_count,
        }
    }
}

impl From<LogConfig> for engine::LogConfigSpec {
    fn from(v: LogConfig) -> Self {
        Self {
            r#type: v.r#type,
            config: v.config,
        }
    }
}

impl From<PortBinding> for engine::PortBinding {
    fn from(v: PortBinding) -> Self {
        Self {
            host_ip: v.host_ip,
            host_port: v.host_port,
        }
    }
}

/// `ImageOptions` is not kept: the engine refuses image mounts.
impl From<Mount> for engine::MountSpec {
    fn from(v: Mount) -> Self {
        Self {
            target: v.target,
            source: v.source,
            r#type: v.r#type,
            read_only: v.read_only,
            consistency: v.consistency,
            bind_options: v.bind_options.map(Into::into),
            volume_options: v.volume_options.map(Into::into),
            tmpfs_options: v.tmpfs_options.map(Into::into),
        }
    }
}

impl From<BindOptions> for engine::BindOptions {
    fn from(v: BindOptions) -> Self {
        Self {
            propagation: v.propagation,
            non_recursive: v.non_recursive,
            create_mountpoint: v.create_mountpoint,
            read_only_non_recursive: v.read_only_non_recursive,
            read_only_force_recursive: v.read_only_force_recursive,
        }
    }
}

impl From<VolumeOptions> for engine::VolumeOptions {
    fn from(v: VolumeOptions) -> Self {
        Self {
            no_copy: v.no_copy,
            labels: v.labels,
            driver_config: v.driver_config.map(Into::into),
            subpath: v.subpath,
        }
    }
}

impl From<DriverConfig> for engine::DriverConfig {
    fn from(v: DriverConfig) -> Self {
        Self {
            name: v.name,
            options: v.options,
        }
    }
}

impl From<TmpfsOptions> for engine::TmpfsOptions {
    fn from(v: TmpfsOptions) -> Self {
        Self {
            size_bytes: v.size_bytes,
            mode: v.mode,
            options: v.options,
        }
    }
}

impl ContainerUpdateRequest {
    /// The engine's update. The per-device block I/O lists are taken only where the API
    /// version applies them (`compat::container::per_device_blkio_updated_from_1_55`).
    pub fn into_resource_update(
        self,
        with_block_devices: bool,
    ) -> berth_engine::container::ResourceUpdate {
        let list =
            |l: Option<Vec<ThrottleDevice>>| l.map(|l| l.into_iter().map(Into::into).collect());
        let block_devices = match with_block_devices {
            true => berth_engine::container::BlockDeviceLists {
                weight: self
                    .blkio_weight_device
                    .map(|l| l.into_iter().map(Into::into).collect()),
                read_bps: list(self.blkio_device_read_bps),
                write_bps: list(self.blkio_device_write_bps),
                read_iops: list(self.blkio_device_read_iops),
                write_iops: list(self.blkio_device_write_iops),
            },
            false => Default::default(),
        };
        berth_engine::container::ResourceUpdate {
            memory: self.memory,
            memory_swap: self.memory_swap,
            memory_reservation: self.memory_reservation,
            nano_cpus: self.nano_cpus,
            cpu_shares: self.cpu_shares,
            cpu_quota: self.cpu_quota,
            cpu_period: self.cpu_period,
            pids_limit: self.pids_limit,
            blkio_weight: self.blkio_weight,
            cpu_realtime_period: self.cpu_realtime_period,
            cpu_realtime_runtime: self.cpu_realtime_runtime,
            cpuset_cpus: self.cpuset_cpus,
            cpuset_mems: self.cpuset_mems,
            restart_policy: self.restart_policy.map(|p| {
                (
                    p.name.unwrap_or_default(),
                    p.maximum_retry_count.unwrap_or_default(),
                )
            }),
            block_devices,
        }
    }
}

impl ExecCreateRequest {
    /// The engine's exec; the console size is the one the API version applies
    /// (`compat::container::exec_console_size`), the detach keys are checked but kept as
    /// given (exec inspect shows them so).
    pub fn into_exec_config(
        self,
        console_size: Option<[u32; 2]>,
    ) -> Result<berth_engine::container::exec::ExecConfig, crate::error::ApiError> {
        let detach_keys = self.detach_keys.unwrap_or_default();
        if !detach_keys.is_empty() {
            crate::stream::hijack::parse_detach_keys(&detach_keys)?;
        }
        Ok(berth_engine::container::exec::ExecConfig {
            cmd: self.cmd.unwrap_or_default(),
            env: self.env.unwrap_or_default(),
            user: self.user.unwrap_or_default(),
            working_dir: self.working_dir.unwrap_or_default(),
            tty: self.tty.unwrap_or_default(),
            privileged: self.privileged.unwrap_or_default(),
            attach_stdin: self.attach_stdin.unwrap_or_default(),
            attach_stdout: self.attach_stdout.unwrap_or_default(),
            attach_stderr: self.attach_stderr.unwrap_or_default(),
            detach_keys,
            console_size,
        })
    }
}

impl NetworkCreateRequest {
    /// The engine's network; a missing or empty name is refused with moby's text.
    pub fn into_create_network(
        self,
    ) -> Result<berth_engine::network::CreateNetwork, crate::error::ApiError> {
        let name = self.name.unwrap_or_default();
        if name.is_empty() {
            return Err(crate::error::ApiError::invalid(
                "network name must not be empty",
            ));
        }
        let ipam = self.ipam.unwrap_or_default();
        let ipam_config = ipam
            .config
            .unwrap_or_default()
            .into_iter()
            .map(|c| berth_engine::network::IpamConfig {
                subnet: c.subnet.unwrap_or_default(),
                gateway: c.gateway.unwrap_or_default(),
                ip_range: c.ip_range.unwrap_or_default(),
                aux_addresses: c.auxiliary_addresses.unwrap_or_default(),
            })
            .collect();
        Ok(berth_engine::network::CreateNetwork {
            name,
            driver: self.driver.unwrap_or_default(),
            internal: self.internal.unwrap_or_default(),
            attachable: self.attachable.unwrap_or_default(),
            enable_ipv6: self.enable_ipv6.unwrap_or_default(),
            labels: self.labels.unwrap_or_default(),
            options: self.options.unwrap_or_default(),
            ipam_driver: ipam.driver.unwrap_or_default(),
            ipam_config,
            ipam_options: ipam.options,
        })
    }
}
