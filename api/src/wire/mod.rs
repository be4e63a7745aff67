//! Wire types: request bodies as moby's Go structs spell them. `generated` is written from
//! moby's spec by `openapi/wiregen` (never edited by hand), `patch` holds the Go types the
//! spec cannot express, and `go_json` decodes a body with Go's `encoding/json` rules.

#[rustfmt::skip]
pub mod generated;
pub mod go_json;
pub mod patch;

pub use generated::*;

use berth_engine::container::spec::{ContainerConfig, Healthcheck, KeySet, Marker};

fn key_set(m: Option<std::collections::BTreeMap<String, patch::EmptyObject>>) -> Option<KeySet> {
    m.map(|m| m.into_keys().map(|k| (k, Marker)).collect())
}

impl From<HealthConfig> for Healthcheck {
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
impl From<ContainerCreateRequest> for ContainerConfig {
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

impl From<EndpointSettings> for berth_engine::container::EndpointRequest {
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
