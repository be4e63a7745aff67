//! Container list shapes and the parts inspect shares with them (moby `api/types/container`),
//! built from Berth's record. Every key moby emits is present, with Go's zero values where
//! Berth has nothing to say.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use berth_engine::container::model::{ContainerRecord, Status};

/// An endpoint as listings and inspect show it (moby's `network.EndpointSettings`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EndpointView {
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<EndpointIpamView>,
    #[serde(rename = "Links")]
    pub links: Option<Vec<String>>,
    #[serde(rename = "Aliases")]
    pub aliases: Option<Vec<String>>,
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    #[serde(rename = "Gateway")]
    pub gateway: String,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: i64,
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: i64,
    #[serde(rename = "MacAddress")]
    pub mac_address: String,
    #[serde(rename = "DriverOpts")]
    pub driver_opts: Option<BTreeMap<String, String>>,
    #[serde(rename = "DNSNames")]
    pub dns_names: Option<Vec<String>>,
}

/// moby's `EndpointIPAMConfig`, which omits its empty fields.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EndpointIpamView {
    #[serde(rename = "IPv4Address", skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
    #[serde(rename = "IPv6Address", skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
    #[serde(rename = "LinkLocalIPs", skip_serializing_if = "Option::is_none")]
    pub link_local_ips: Option<Vec<String>>,
}

impl From<&berth_engine::network::Endpoint> for EndpointView {
    fn from(e: &berth_engine::network::Endpoint) -> Self {
        let list = |l: &Vec<String>| (!l.is_empty()).then(|| l.clone());
        let text = |s: &String| (!s.is_empty()).then(|| s.clone());
        let ipam = EndpointIpamView {
            ipv4_address: text(&e.ipv4_address),
            ipv6_address: text(&e.ipv6_address),
            link_local_ips: list(&e.link_local_ips),
        };
        let no_ipam = ipam.ipv4_address.is_none()
            && ipam.ipv6_address.is_none()
            && ipam.link_local_ips.is_none();
        // The address it was given while running; the one asked for before.
        let mac = if e.mac.is_empty() {
            &e.static_mac
        } else {
            &e.mac
        };
        EndpointView {
            ipam_config: (!no_ipam).then_some(ipam),
            links: list(&e.links),
            aliases: list(&e.aliases),
            network_id: e.network_id.clone(),
            endpoint_id: e.endpoint_id.clone(),
            gateway: e.gateway.clone(),
            ip_address: e.ip.clone(),
            ip_prefix_len: i64::from(e.prefix),
            ipv6_gateway: e.gateway6.clone(),
            global_ipv6_address: e.ip6.clone(),
            global_ipv6_prefix_len: i64::from(e.prefix6),
            mac_address: mac.clone(),
            driver_opts: (!e.driver_opts.is_empty()).then(|| e.driver_opts.clone()),
            dns_names: list(&e.dns_names),
        }
    }
}

/// A `Ports` entry of `GET /containers/json` (moby's `container.PortSummary`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PortSummary {
    #[serde(rename = "IP", skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(rename = "PrivatePort")]
    pub private_port: u16,
    #[serde(rename = "PublicPort", skip_serializing_if = "Option::is_none")]
    pub public_port: Option<u16>,
    #[serde(rename = "Type")]
    pub kind: String,
}

/// `Ports` of `GET /containers/json`: one entry per host binding, or one for a port that
/// is only exposed.
pub fn ports_list(c: &ContainerRecord) -> Vec<PortSummary> {
    let mut out = Vec::new();
    for (key, bindings) in c.listed_ports() {
        let (port, proto) = key.split_once('/').unwrap_or((&key, "tcp"));
        let private_port = port.parse().unwrap_or(0);
        if bindings.is_empty() {
            out.push(PortSummary {
                ip: None,
                private_port,
                public_port: None,
                kind: proto.to_string(),
            });
        }
        for (ip, public) in bindings {
            out.push(PortSummary {
                ip: Some(ip),
                private_port,
                public_port: Some(public),
                kind: proto.to_string(),
            });
        }
    }
    out
}

/// Go's `units.HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    match () {
        _ if s < 1 => "Less than a second".into(),
        _ if s == 1 => "1 second".into(),
        _ if s < 60 => format!("{s} seconds"),
        _ if m == 1 => "About a minute".into(),
        _ if m < 60 => format!("{m} minutes"),
        _ if h == 1 => "About an hour".into(),
        _ if h < 48 => format!("{h} hours"),
        _ if h < 24 * 7 * 2 => format!("{d} days"),
        _ if h < 24 * 30 * 2 => format!("{} weeks", d / 7),
        _ if h < 24 * 365 * 2 => format!("{} months", d / 30),
        _ => format!("{} years", d / 365),
    }
}

fn since(rfc3339: &str) -> i64 {
    let t = berth_engine::container::logs::parse_time_nanos(rfc3339) / 1_000_000_000;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i128)
        .unwrap_or_default();
    (now - t) as i64
}

/// `docker ps`'s STATUS column.
pub fn status_text(c: &ContainerRecord) -> String {
    let st = &c.state;
    match st.status {
        Status::Running => match &st.health {
            Some(h) if h.status == "starting" => format!(
                "Up {} (health: starting)",
                human_duration(since(&st.started_at))
            ),
            Some(h) => format!(
                "Up {} ({})",
                human_duration(since(&st.started_at)),
                h.status
            ),
            None => format!("Up {}", human_duration(since(&st.started_at))),
        },
        Status::Paused => format!("Up {} (Paused)", human_duration(since(&st.started_at))),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            st.exit_code,
            human_duration(since(&st.finished_at))
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            st.exit_code,
            human_duration(since(&st.finished_at))
        ),
        Status::Created => "Created".into(),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
    }
}

/// A `Mounts` entry (moby's `container.MountPoint`): volumes with their name and driver.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MountPoint {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Name", skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "Source")]
    pub source: String,
    #[serde(rename = "Destination")]
    pub destination: String,
    #[serde(rename = "Driver", skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(rename = "Mode")]
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    #[serde(rename = "Propagation")]
    pub propagation: String,
}

pub(crate) fn mounts(c: &ContainerRecord) -> Vec<MountPoint> {
    c.mounts
        .iter()
        .map(|m| {
            let volume = m.kind == "volume";
            MountPoint {
                kind: m.kind.clone(),
                name: volume.then(|| m.name.clone()),
                source: m.source.clone(),
                destination: m.destination.clone(),
                driver: volume.then(|| "local".to_string()),
                mode: m.mode.clone(),
                rw: m.rw,
                propagation: m.propagation.clone(),
            }
        })
        .collect()
}

/// `GET /containers/json` entries (moby's `container.Summary`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ContainerSummary {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Names")]
    pub names: Vec<String>,
    #[serde(rename = "Image")]
    pub image: String,
    #[serde(rename = "ImageID")]
    pub image_id: String,
    #[serde(rename = "Command")]
    pub command: String,
    #[serde(rename = "Created")]
    pub created: i64,
    #[serde(rename = "Ports")]
    pub ports: Vec<PortSummary>,
    /// Left out when zero, as Go's `omitempty` does.
    #[serde(rename = "SizeRw", skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<i64>,
    #[serde(rename = "SizeRootFs", skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<i64>,
    #[serde(rename = "Labels")]
    pub labels: BTreeMap<String, String>,
    #[serde(rename = "State")]
    pub state: String,
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "HostConfig")]
    pub host_config: SummaryHostConfig,
    #[serde(rename = "NetworkSettings")]
    pub network_settings: SummaryNetworkSettings,
    #[serde(rename = "Mounts")]
    pub mounts: Vec<MountPoint>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SummaryHostConfig {
    #[serde(rename = "NetworkMode")]
    pub network_mode: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SummaryNetworkSettings {
    #[serde(rename = "Networks")]
    pub networks: BTreeMap<String, EndpointView>,
}

pub fn summary(c: &ContainerRecord) -> ContainerSummary {
    let created = berth_engine::container::logs::parse_time_nanos(&c.created) / 1_000_000_000;
    ContainerSummary {
        id: c.id.clone(),
        names: vec![c.name.clone()],
        image: c.config.image().to_string(),
        image_id: c.image_id.clone(),
        command: c.command(),
        created: created as i64,
        ports: ports_list(c),
        size_rw: None,
        size_root_fs: None,
        labels: c.labels(),
        state: c.state.status.as_str().to_string(),
        status: status_text(c),
        host_config: SummaryHostConfig {
            network_mode: c.network_mode_shown().to_string(),
        },
        network_settings: SummaryNetworkSettings {
            networks: c
                .networks
                .iter()
                .map(|(n, e)| (n.clone(), e.into()))
                .collect(),
        },
        mounts: mounts(c),
    }
}

impl ContainerSummary {
    /// `SizeRw` and `SizeRootFs`, left out when zero.
    pub fn with_sizes(mut self, size: berth_engine::disk_usage::ContainerSize) -> Self {
        self.size_rw = (size.size_rw != 0).then_some(size.size_rw);
        self.size_root_fs = (size.size_root_fs != 0).then_some(size.size_root_fs);
        self
    }
}

/// `GET /containers/{id}/top` (moby's `container.TopResponse`).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = ContainerTopResponse)]
pub struct TopResponse {
    #[serde(rename = "Titles")]
    pub titles: Vec<String>,
    #[serde(rename = "Processes")]
    pub processes: Vec<Vec<String>>,
}

/// A `GET /containers/{id}/changes` entry: `Kind` 0 modified, 1 added, 2 deleted.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FilesystemChange {
    #[serde(rename = "Path")]
    pub path: String,
    #[serde(rename = "Kind")]
    pub kind: u8,
}

/// The body `POST /containers/{id}/wait` sends once the condition holds.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ContainerWaitResponse {
    #[serde(rename = "StatusCode")]
    pub status_code: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_docker() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(59), "59 seconds");
        assert_eq!(human_duration(60), "About a minute");
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(3 * 3600), "3 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
    }
}
