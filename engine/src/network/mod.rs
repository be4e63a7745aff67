//! Networks: the predefined `bridge`, `host` and `none`, user-defined bridge networks with
//! their address management, and the endpoints of running containers. berthd makes each
//! container's network namespace and picks its addresses and ports; it makes the bridges,
//! veth pairs and rules itself (`plumb`, `ports`) and feeds aardvark-dns (`aardvark`),
//! handing to netavark (`netavark`) only the endpoints it does not plumb (ports published
//! on IPv6 host addresses). Networks are kept as one JSON file each under
//! `<data-root>/network`.

pub mod aardvark;
pub mod ipam;
mod listing;
pub mod netavark;
pub mod netns;
pub mod plumb;
pub mod ports;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::events::{Event, EventBus};
use crate::{Error, Result};
use ipam::{Ipv4Net, Ipv6Net};

/// One network, as `GET /networks/{id}` shows it (less its containers).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Network {
    pub id: String,
    pub name: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    pub created: String,
    pub internal: bool,
    pub attachable: bool,
    pub enable_ipv6: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    /// IPAM config as the user gave it (inspect echoes it); empty when chosen by berthd.
    pub ipam_config: Vec<IpamConfig>,
    /// `IPAM.Options` as given: None (shown as null) when the request had none.
    #[serde(default)]
    pub ipam_options: Option<BTreeMap<String, String>>,
    /// The subnet in use (chosen from the pools when not given).
    pub subnet: String,
    pub gateway: String,
    pub ip_range: String,
    /// With `EnableIPv6`: the IPv6 subnet, gateway and range in use (empty otherwise).
    #[serde(default)]
    pub subnet6: String,
    #[serde(default)]
    pub gateway6: String,
    #[serde(default)]
    pub ip_range6: String,
    /// The bridge device.
    pub bridge: String,
    /// The device was on the host before the network named it (the user's own bridge): it
    /// stays when the network goes, as dockerd leaves a bridge it did not create.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bridge_preexisted: bool,
}

impl Network {
    /// The IPv6 subnet of a dual-stack network.
    pub fn subnet6_if_any(&self) -> Option<&str> {
        (!self.subnet6.is_empty()).then_some(self.subnet6.as_str())
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct IpamConfig {
    pub subnet: String,
    pub gateway: String,
    pub ip_range: String,
    /// `AuxiliaryAddresses`: names for addresses the IPAM must not hand out.
    #[serde(default)]
    pub aux_addresses: BTreeMap<String, String>,
}

/// One subnet's address use (`Status.IPAM.Subnets` of network inspect).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubnetStatus {
    pub subnet: String,
    pub ips_in_use: u64,
    pub dynamic_ips_available: u64,
}

fn saturate(n: u128) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// `POST /networks/create`.
#[derive(Clone, Debug, Default)]
pub struct CreateNetwork {
    pub name: String,
    pub driver: String,
    pub internal: bool,
    pub attachable: bool,
    pub enable_ipv6: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    pub ipam_driver: String,
    pub ipam_config: Vec<IpamConfig>,
    pub ipam_options: Option<BTreeMap<String, String>>,
}

/// A container's place on one network: what it asked for, and while it runs, what it got.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Endpoint {
    pub network_id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `IPAMConfig.IPv4Address`.
    #[serde(default)]
    pub ipv4_address: String,
    /// `IPAMConfig.IPv6Address`.
    #[serde(default)]
    pub ipv6_address: String,
    /// `MacAddress` asked for (`--mac-address`).
    #[serde(default)]
    pub static_mac: String,
    #[serde(default)]
    pub links: Vec<String>,
    /// `IPAMConfig.LinkLocalIPs`, kept and shown as given.
    #[serde(default)]
    pub link_local_ips: Vec<String>,
    /// `DriverOpts`, kept and shown as given (the bridge driver reads none of them).
    #[serde(default)]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(default)]
    pub endpoint_id: String,
    #[serde(default)]
    pub ip: String,
    #[serde(default)]
    pub prefix: u8,
    #[serde(default)]
    pub gateway: String,
    #[serde(default)]
    pub mac: String,
    #[serde(default)]
    pub dns_names: Vec<String>,
    /// Its interface in the container (`eth0`, …), kept so teardown names the right one.
    #[serde(default)]
    pub interface: String,
    /// On a network with IPv6: the address it was given, its prefix and the gateway.
    #[serde(default)]
    pub ip6: String,
    #[serde(default)]
    pub prefix6: u8,
    #[serde(default)]
    pub gateway6: String,
    /// The host end of a veth berthd plumbed itself (not netavark); empty otherwise.
    #[serde(default)]
    pub host_veth: String,
}

impl Endpoint {
    /// Forgets what a run was given.
    pub fn clear_runtime(&mut self) {
        self.endpoint_id.clear();
        self.ip.clear();
        self.prefix = 0;
        self.gateway.clear();
        self.mac.clear();
        self.dns_names.clear();
        self.interface.clear();
        self.ip6.clear();
        self.prefix6 = 0;
        self.gateway6.clear();
        self.host_veth.clear();
    }
}

/// The names that need no creating.
pub const PREDEFINED: [&str; 3] = ["bridge", "host", "none"];

pub struct NetworkStore {
    dir: PathBuf,
    nets: Mutex<BTreeMap<String, Network>>,
    /// Addresses handed out, per network ID.
    leases: Mutex<HashMap<String, BTreeSet<Ipv4Addr>>>,
    /// IPv6 addresses handed out, per network ID.
    leases6: Mutex<HashMap<String, BTreeSet<Ipv6Addr>>>,
    events: Arc<EventBus>,
    netavark: Option<netavark::Netavark>,
    netns_dir: PathBuf,
    /// Published host ports: (protocol, port) → the container holding it.
    ports: Mutex<BTreeMap<(String, u16), String>>,
    /// Where subnets of new networks come from (`--default-address-pool`).
    pools: Vec<Ipv4Net>,
    /// Networks whose bridge device and rules were checked since this daemon started.
    bridges_ready: Mutex<BTreeSet<String>>,
    /// Whether the published ports' chain was checked since this daemon started.
    ports_chain_ready: tokio::sync::OnceCell<()>,
}

/// Daemon-wide network settings (`--bip`, `--bridge`, `--default-address-pool`).
#[derive(Clone, Debug, Default)]
pub struct NetworkSettings {
    pub bip: Option<String>,
    pub bridge: Option<String>,
    pub default_address_pools: Vec<String>,
}

fn random_id() -> String {
    let a: [u8; 32] = rand::random();
    a.iter().map(|b| format!("{b:02x}")).collect()
}

fn now() -> String {
    crate::container::logs::now_rfc3339_nano()
}

impl NetworkStore {
    /// Loads the networks and makes the predefined ones on first use; the default bridge
    /// gets `bip` (`--bip`, a gateway address with its prefix) or the first free pool, on
    /// the device `bridge` (`--bridge`, `berth0` by default).
    pub fn new(
        data_root: &Path,
        exec_root: &Path,
        events: Arc<EventBus>,
        settings: &NetworkSettings,
    ) -> Result<NetworkStore> {
        let mut pools = Vec::new();
        for spec in &settings.default_address_pools {
            pools.extend(ipam::parse_pool(spec).ok_or_else(|| {
                Error::invalid(format!(
                    "invalid --default-address-pool {spec:?}: want base=<CIDR>,size=<prefix length>"
                ))
            })?);
        }
        if pools.is_empty() {
            pools = ipam::default_pools();
        }
        let dir = data_root.join("network");
        crate::system::ensure_dir(&dir)?;
        let mut nets = BTreeMap::new();
        for entry in std::fs::read_dir(&dir)?.flatten() {
            if let Ok(bytes) = std::fs::read(entry.path())
                && let Ok(n) = serde_json::from_slice::<Network>(&bytes)
            {
                nets.insert(n.id.clone(), n);
            }
        }
        let store = NetworkStore {
            dir,
            nets: Mutex::new(nets),
            leases: Mutex::new(HashMap::new()),
            leases6: Mutex::new(HashMap::new()),
            events,
            netavark: netavark::Netavark::locate(exec_root.join("netavark")),
            netns_dir: exec_root.join("netns"),
            ports: Mutex::new(BTreeMap::new()),
            pools,
            bridges_ready: Mutex::new(BTreeSet::new()),
            ports_chain_ready: tokio::sync::OnceCell::new(),
        };
        store.ensure_predefined(
            settings.bip.as_deref(),
            settings.bridge.as_deref().unwrap_or("berth0"),
        )?;
        Ok(store)
    }

    fn ensure_predefined(&self, bip: Option<&str>, device: &str) -> Result<()> {
        for (name, driver) in [("host", "host"), ("none", "null")] {
            if self.find_by_name(name).is_none() {
                self.save(Network {
                    id: random_id(),
                    name: name.into(),
                    driver: driver.into(),
                    created: now(),
                    internal: false,
                    attachable: false,
                    enable_ipv6: false,
                    labels: BTreeMap::new(),
                    options: BTreeMap::new(),
                    ipam_config: vec![],
                    ipam_options: None,
                    subnet: String::new(),
                    gateway: String::new(),
                    ip_range: String::new(),
                    subnet6: String::new(),
                    gateway6: String::new(),
                    ip_range6: String::new(),
                    bridge: String::new(),
                    bridge_preexisted: false,
                })?;
            }
        }
        let wanted = match bip {
            Some(b) => Some(Ipv4Net::parse(b).ok_or_else(|| {
                Error::invalid(format!(
                    "invalid --bip {b:?}: want an address with its prefix, such as 172.30.0.1/16"
                ))
            })?),
            None => None,
        };
        let existing = self.find_by_name("bridge");
        let keep = match (&existing, wanted) {
            (Some(n), Some(w)) => {
                n.subnet == w.to_string() && n.gateway == w.addr.to_string() && n.bridge == device
            }
            (Some(n), None) => n.bridge == device,
            (None, _) => false,
        };
        if keep {
            return Ok(());
        }
        let (subnet, gateway) = match wanted {
            Some(w) => (w, w.addr),
            None => {
                let taken = self.taken_subnets();
                let pool = ipam::pick_pool(&self.pools, &taken).ok_or_else(|| {
                    Error::internal("no free address pool for the default bridge")
                })?;
                (pool, pool.first_host())
            }
        };
        let mut options = BTreeMap::new();
        for (k, v) in [
            ("com.docker.network.bridge.default_bridge", "true"),
            ("com.docker.network.bridge.enable_icc", "true"),
            ("com.docker.network.bridge.enable_ip_masquerade", "true"),
            ("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0"),
            ("com.docker.network.bridge.name", device),
            ("com.docker.network.driver.mtu", "1500"),
        ] {
            options.insert(k.to_string(), v.to_string());
        }
        let id = existing.map_or_else(random_id, |n| n.id);
        self.save(Network {
            id,
            name: "bridge".into(),
            driver: "bridge".into(),
            created: now(),
            internal: false,
            attachable: false,
            enable_ipv6: false,
            labels: BTreeMap::new(),
            options,
            ipam_config: vec![IpamConfig {
                subnet: subnet.to_string(),
                gateway: gateway.to_string(),
                ip_range: String::new(),
                aux_addresses: BTreeMap::new(),
            }],
            ipam_options: None,
            subnet: subnet.to_string(),
            gateway: gateway.to_string(),
            ip_range: String::new(),
            subnet6: String::new(),
            gateway6: String::new(),
            ip_range6: String::new(),
            bridge: device.into(),
            bridge_preexisted: false,
        })
    }

    fn taken_subnets(&self) -> Vec<Ipv4Net> {
        let mut taken = ipam::host_routes();
        taken.extend(self.list().iter().filter_map(|n| Ipv4Net::parse(&n.subnet)));
        taken
    }

    fn save(&self, n: Network) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(&n).map_err(|e| Error::internal(e.to_string()))?;
        crate::system::write_atomic(&self.dir.join(format!("{}.json", n.id)), &bytes)?;
        self.nets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(n.id.clone(), n);
        Ok(())
    }

    fn find_by_name(&self, name: &str) -> Option<Network> {
        self.nets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .find(|n| n.name == name)
            .cloned()
    }

    pub fn list(&self) -> Vec<Network> {
        let mut out: Vec<Network> = self
            .nets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// By full ID, exact name, then unique ID prefix, as moby looks networks up.
    pub fn get(&self, name_or_id: &str) -> Result<Network> {
        let nets = self.nets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = nets.get(name_or_id) {
            return Ok(n.clone());
        }
        if let Some(n) = nets.values().find(|n| n.name == name_or_id) {
            return Ok(n.clone());
        }
        let matches: Vec<&Network> = nets
            .values()
            .filter(|n| !name_or_id.is_empty() && n.id.starts_with(name_or_id))
            .collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::not_found(format!("network {name_or_id} not found"))),
            _ => Err(Error::invalid(format!(
                "network {name_or_id} is ambiguous ({} matches found based on ID prefix)",
                matches.len()
            ))),
        }
    }

    /// `POST /networks/create`: the record, then (for a bridge network) its bridge device
    /// and rules, as dockerd makes a network's bridge when it creates the network, so the
    /// host's routes show the subnet taken from then on. A device that cannot be made takes
    /// the record back out.
    pub async fn create_with_bridge(&self, req: CreateNetwork) -> Result<Network> {
        let mut n = self.create(req)?;
        if n.driver != "bridge" {
            return Ok(n);
        }
        if Path::new("/sys/class/net").join(&n.bridge).exists() {
            n.bridge_preexisted = true;
            self.save(n.clone())?;
        }
        if let Err(e) = self.bridge_ready(&n).await {
            let _ = self.remove_with_bridge(&n.id, |_| false).await;
            return Err(e);
        }
        Ok(n)
    }

    /// The record of a new network (see [`Self::create_with_bridge`]).
    pub fn create(&self, req: CreateNetwork) -> Result<Network> {
        let driver = if req.driver.is_empty() {
            "bridge".to_string()
        } else {
            req.driver.clone()
        };
        match driver.as_str() {
            "bridge" => {}
            "host" | "null" => {
                return Err(Error::new(
                    crate::ErrorKind::Forbidden,
                    format!("only one instance of \"{driver}\" network is allowed"),
                ));
            }
            other => {
                return Err(Error::not_found(format!("plugin \"{other}\" not found")));
            }
        }
        if !req.ipam_driver.is_empty() && req.ipam_driver != "default" {
            return Err(Error::not_found(format!(
                "plugin \"{}\" not found",
                req.ipam_driver
            )));
        }
        let _one = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        if self.find_by_name(&req.name).is_some() {
            return Err(Error::conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let taken: Vec<Ipv4Net> = self
            .list()
            .iter()
            .filter_map(|n| Ipv4Net::parse(&n.subnet))
            .collect();
        let v4_config = req.ipam_config.iter().find(|c| !c.subnet.contains(':'));
        let (subnet6, gateway6, ip_range6) = if req.enable_ipv6 {
            self.ipv6_pool(&req.ipam_config)?
        } else {
            Default::default()
        };
        let (subnet, gateway, ip_range) = match v4_config {
            Some(c) if !c.subnet.is_empty() => {
                let subnet = Ipv4Net::parse(&c.subnet)
                    .ok_or_else(|| Error::invalid(format!("invalid CIDR address: {}", c.subnet)))?;
                if taken.iter().any(|t| t.overlaps(&subnet)) {
                    return Err(Error::new(
                        crate::ErrorKind::Forbidden,
                        "Pool overlaps with other one on this address space",
                    ));
                }
                let gateway = if c.gateway.is_empty() {
                    subnet.first_host()
                } else {
                    let g: Ipv4Addr = c.gateway.parse().map_err(|_| {
                        Error::invalid(format!("invalid gateway address: {}", c.gateway))
                    })?;
                    if !subnet.contains(g) {
                        return Err(Error::new(
                            crate::ErrorKind::Forbidden,
                            format!("no matching subnet for gateway {}", c.gateway),
                        ));
                    }
                    g
                };
                let range = if c.ip_range.is_empty() {
                    String::new()
                } else {
                    let r = Ipv4Net::parse(&c.ip_range).ok_or_else(|| {
                        Error::invalid(format!("invalid CIDR address: {}", c.ip_range))
                    })?;
                    if !subnet.contains(r.network()) || r.prefix < subnet.prefix {
                        return Err(Error::new(
                            crate::ErrorKind::Forbidden,
                            format!("no matching subnet for range {}", c.ip_range),
                        ));
                    }
                    r.to_string()
                };
                (subnet, gateway, range)
            }
            _ => {
                let mut all = taken.clone();
                all.extend(ipam::host_routes());
                let pool = ipam::pick_pool(&self.pools, &all).ok_or_else(|| {
                    Error::new(
                        crate::ErrorKind::Forbidden,
                        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network",
                    )
                })?;
                (pool, pool.first_host(), String::new())
            }
        };
        let id = random_id();
        let bridge = req
            .options
            .get("com.docker.network.bridge.name")
            .cloned()
            .unwrap_or_else(|| format!("br-{}", &id[..12]));
        let network = Network {
            id: id.clone(),
            name: req.name,
            driver,
            created: now(),
            internal: req.internal,
            attachable: req.attachable,
            enable_ipv6: req.enable_ipv6,
            labels: req.labels,
            options: req.options,
            ipam_config: req.ipam_config,
            ipam_options: req.ipam_options,
            subnet: subnet.to_string(),
            gateway: gateway.to_string(),
            ip_range,
            subnet6,
            gateway6,
            ip_range6,
            bridge,
            bridge_preexisted: false,
        };
        self.save(network.clone())?;
        self.event("create", &network, &[]);
        Ok(network)
    }

    /// The network's bridge device with its gateway address and the network's rules, made
    /// when missing (the first container on it since boot, or netavark took the device down
    /// with its last container of its own). Returns the gateway, and the IPv6 one of a
    /// dual-stack network.
    pub async fn bridge_ready(&self, n: &Network) -> Result<(Ipv4Addr, Option<Ipv6Addr>)> {
        let subnet = Ipv4Net::parse(&n.subnet)
            .ok_or_else(|| Error::internal(format!("bad subnet {}", n.subnet)))?;
        let gateway: Ipv4Addr = n
            .gateway
            .parse()
            .map_err(|_| Error::internal(format!("bad gateway {}", n.gateway)))?;
        let gateway6 = Ipv6Net::parse(&n.subnet6).map(|subnet6| {
            let gateway6 = n.gateway6.parse().unwrap_or(subnet6.first_host());
            (gateway6, subnet6.prefix)
        });
        let made = plumb::ensure_bridge(&n.bridge, gateway, subnet.prefix, gateway6).await?;
        let checked = self
            .bridges_ready
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&n.id);
        if made || !checked {
            plumb::bridge_rules(&n.bridge, &n.subnet, n.subnet6_if_any(), n.internal).await?;
            self.bridges_ready
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(n.id.clone());
        }
        Ok((gateway, gateway6.map(|(g, _)| g)))
    }

    /// Publishes a container's ports to its address on `bridge` (see [`ports`]).
    pub async fn open_ports(
        &self,
        bridge: &str,
        ip: Ipv4Addr,
        mappings: &[netavark::PortMapping],
    ) -> Result<()> {
        if mappings.is_empty() {
            return Ok(());
        }
        self.ports_chain_ready
            .get_or_try_init(ports::ensure_chain)
            .await?;
        ports::open(bridge, ip, mappings).await
    }

    /// `DELETE /networks/{id}` (see [`Self::remove`]), and the network's bridge device and
    /// rules with it, as dockerd removes a network's bridge.
    pub async fn remove_with_bridge(
        &self,
        name_or_id: &str,
        active: impl Fn(&Network) -> bool,
    ) -> Result<()> {
        let n = self.remove(name_or_id, active)?;
        self.bridges_ready
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&n.id);
        if n.driver == "bridge"
            && let Err(e) = plumb::remove_bridge(
                &n.bridge,
                &n.subnet,
                n.subnet6_if_any(),
                !n.bridge_preexisted,
            )
            .await
        {
            tracing::warn!(network = %n.id, "bridge not removed: {}", e.message);
        }
        Ok(())
    }

    /// Removes a network from the books; `active` says whether running containers are on
    /// it. Returns what was removed.
    pub fn remove(&self, name_or_id: &str, active: impl Fn(&Network) -> bool) -> Result<Network> {
        let n = self.get(name_or_id)?;
        if PREDEFINED.contains(&n.name.as_str()) {
            return Err(Error::new(
                crate::ErrorKind::Forbidden,
                format!("{} is a pre-defined network and cannot be removed", n.name),
            ));
        }
        if active(&n) {
            return Err(Error::new(
                crate::ErrorKind::Forbidden,
                format!(
                    "error while removing network: network {} id {} has active endpoints",
                    n.name, n.id
                ),
            ));
        }
        let _ = std::fs::remove_file(self.dir.join(format!("{}.json", n.id)));
        self.nets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&n.id);
        self.event("destroy", &n, &[]);
        Ok(n)
    }

    pub fn event(&self, action: &str, n: &Network, extra: &[(&str, String)]) {
        let mut attributes = BTreeMap::new();
        attributes.insert("name".to_string(), n.name.clone());
        attributes.insert("type".to_string(), n.driver.clone());
        for (k, v) in extra {
            attributes.insert((*k).to_string(), v.clone());
        }
        self.events
            .publish(Event::new("network", action, n.id.clone(), attributes));
    }

    /// An address on `n`: `wanted` when free (a static `--ip`), else the lowest free one.
    pub fn allocate(&self, n: &Network, wanted: &str) -> Result<Ipv4Addr> {
        let subnet = Ipv4Net::parse(&n.subnet)
            .ok_or_else(|| Error::internal(format!("network {} has no subnet", n.name)))?;
        let gateway: Ipv4Addr = n.gateway.parse().unwrap_or(subnet.first_host());
        let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        let used = leases.entry(n.id.clone()).or_default();
        // Auxiliary addresses belong to something outside Berth: never handed out.
        let mut taken = used.clone();
        taken.extend(
            n.ipam_config
                .iter()
                .flat_map(|c| c.aux_addresses.values())
                .filter_map(|a| a.parse::<Ipv4Addr>().ok()),
        );
        let ip = if wanted.is_empty() {
            let range = Ipv4Net::parse(&n.ip_range);
            ipam::next_free(&subnet, range.as_ref(), gateway, &taken).ok_or_else(|| {
                Error::new(
                    crate::ErrorKind::Forbidden,
                    format!(
                        "no available IPv4 addresses on this network's address pools: {} ({})",
                        n.name, n.id
                    ),
                )
            })?
        } else {
            let ip: Ipv4Addr = wanted
                .parse()
                .map_err(|_| Error::invalid(format!("invalid IPv4 address: {wanted}")))?;
            if !subnet.contains(ip) {
                return Err(Error::new(
                    crate::ErrorKind::Forbidden,
                    format!("no configured subnet or ip-range contain the IP address {wanted}"),
                ));
            }
            if taken.contains(&ip) || ip == gateway {
                return Err(Error::new(
                    crate::ErrorKind::Forbidden,
                    "Address already in use",
                ));
            }
            ip
        };
        used.insert(ip);
        Ok(ip)
    }

    /// The IPv6 subnet, gateway and range of a new network with `EnableIPv6`: its IPAM
    /// config's IPv6 entry, which must not overlap another network's.
    fn ipv6_pool(&self, configs: &[IpamConfig]) -> Result<(String, String, String)> {
        let Some(c) = configs.iter().find(|c| c.subnet.contains(':')) else {
            return Err(Error::new(
                crate::ErrorKind::Forbidden,
                "could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network",
            ));
        };
        let subnet = Ipv6Net::parse(&c.subnet)
            .ok_or_else(|| Error::invalid(format!("invalid CIDR address: {}", c.subnet)))?;
        if self
            .list()
            .iter()
            .filter_map(|n| Ipv6Net::parse(&n.subnet6))
            .any(|t| t.overlaps(&subnet))
        {
            return Err(Error::new(
                crate::ErrorKind::Forbidden,
                "Pool overlaps with other one on this address space",
            ));
        }
        let gateway = if c.gateway.is_empty() {
            subnet.first_host()
        } else {
            let g: Ipv6Addr = c
                .gateway
                .parse()
                .map_err(|_| Error::invalid(format!("invalid gateway address: {}", c.gateway)))?;
            if !subnet.contains(g) {
                return Err(Error::new(
                    crate::ErrorKind::Forbidden,
                    format!("no matching subnet for gateway {}", c.gateway),
                ));
            }
            g
        };
        let range = if c.ip_range.is_empty() {
            String::new()
        } else {
            let r = Ipv6Net::parse(&c.ip_range)
                .ok_or_else(|| Error::invalid(format!("invalid CIDR address: {}", c.ip_range)))?;
            if !subnet.contains(r.network()) || r.prefix < subnet.prefix {
                return Err(Error::new(
                    crate::ErrorKind::Forbidden,
                    format!("no matching subnet for range {}", c.ip_range),
                ));
            }
            r.to_string()
        };
        Ok((subnet.to_string(), gateway.to_string(), range))
    }

    /// An IPv6 address on `n` (the one `wanted`, or the next free one); None when the
    /// network has no IPv6.
    pub fn allocate6(&self, n: &Network, wanted: &str) -> Result<Option<Ipv6Addr>> {
        let Some(subnet) = Ipv6Net::parse(&n.subnet6) else {
            return Ok(None);
        };
        let gateway: Ipv6Addr = n.gateway6.parse().unwrap_or(subnet.first_host());
        let mut leases = self.leases6.lock().unwrap_or_else(|p| p.into_inner());
        let used = leases.entry(n.id.clone()).or_default();
        let ip = if wanted.is_empty() {
            let range = Ipv6Net::parse(&n.ip_range6);
            ipam::next_free6(&subnet, range.as_ref(), gateway, used).ok_or_else(|| {
                Error::new(
                    crate::ErrorKind::Forbidden,
                    format!(
                        "no available IPv6 addresses on this network's address pools: {} ({})",
                        n.name, n.id
                    ),
                )
            })?
        } else {
            let ip: Ipv6Addr = wanted
                .parse()
                .map_err(|_| Error::invalid(format!("invalid IPv6 address: {wanted}")))?;
            if !subnet.contains(ip) {
                return Err(Error::new(
                    crate::ErrorKind::Forbidden,
                    format!("no configured subnet or ip-range contain the IP address {wanted}"),
                ));
            }
            if used.contains(&ip) || ip == gateway {
                return Err(Error::new(
                    crate::ErrorKind::Forbidden,
                    "Address already in use",
                ));
            }
            ip
        };
        used.insert(ip);
        Ok(Some(ip))
    }

    /// How full each of `n`'s subnets is, as moby's default IPAM counts it (API 1.52
    /// `Status.IPAM`): its reserved addresses (an IPv4 subnet's network and broadcast
    /// addresses, an IPv6 subnet's anycast address), the gateway, auxiliary addresses and
    /// the leases are in use; what is left of the range (or the subnet) is available.
    /// Counts saturate at `u64::MAX`.
    pub fn ipam_status(&self, n: &Network) -> Vec<SubnetStatus> {
        let mut out = Vec::new();
        let aux: Vec<String> = n
            .ipam_config
            .iter()
            .flat_map(|c| c.aux_addresses.values().cloned())
            .collect();
        if let Some(subnet) = Ipv4Net::parse(&n.subnet) {
            let mut used: BTreeSet<Ipv4Addr> = self
                .leases
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&n.id)
                .cloned()
                .unwrap_or_default();
            if subnet.prefix < 31 {
                used.insert(subnet.network());
                used.insert(subnet.broadcast());
            }
            used.extend(n.gateway.parse::<Ipv4Addr>().ok());
            used.extend(aux.iter().filter_map(|a| a.parse::<Ipv4Addr>().ok()));
            used.retain(|ip| subnet.contains(*ip));
            let range = Ipv4Net::parse(&n.ip_range).unwrap_or(subnet);
            let size = 1u128 << (32 - u32::from(range.prefix));
            let in_range = used.iter().filter(|ip| range.contains(**ip)).count() as u128;
            out.push(SubnetStatus {
                subnet: subnet.to_string(),
                ips_in_use: used.len() as u64,
                dynamic_ips_available: saturate(size.saturating_sub(in_range)),
            });
        }
        if let Some(subnet) = Ipv6Net::parse(&n.subnet6) {
            let mut used: BTreeSet<Ipv6Addr> = self
                .leases6
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&n.id)
                .cloned()
                .unwrap_or_default();
            used.insert(subnet.network());
            used.extend(n.gateway6.parse::<Ipv6Addr>().ok());
            used.extend(aux.iter().filter_map(|a| a.parse::<Ipv6Addr>().ok()));
            used.retain(|ip| subnet.contains(*ip));
            let range = Ipv6Net::parse(&n.ip_range6).unwrap_or(subnet);
            let size = 1u128
                .checked_shl(128 - u32::from(range.prefix))
                .unwrap_or(u128::MAX);
            let in_range = used.iter().filter(|ip| range.contains(**ip)).count() as u128;
            out.push(SubnetStatus {
                subnet: subnet.to_string(),
                ips_in_use: used.len() as u64,
                dynamic_ips_available: saturate(size.saturating_sub(in_range)),
            });
        }
        out
    }

    /// Marks an address as taken again (a running container found after a restart).
    pub fn claim(&self, network_id: &str, ip: &str) {
        if let Ok(ip) = ip.parse::<Ipv6Addr>() {
            self.leases6
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(network_id.to_string())
                .or_default()
                .insert(ip);
        } else if let Ok(ip) = ip.parse() {
            self.leases
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(network_id.to_string())
                .or_default()
                .insert(ip);
        }
    }

    pub fn release(&self, network_id: &str, ip: &str) {
        if let Ok(ip) = ip.parse::<Ipv6Addr>()
            && let Some(used) = self
                .leases6
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_mut(network_id)
        {
            used.remove(&ip);
        } else if let Ok(ip) = ip.parse::<Ipv4Addr>()
            && let Some(used) = self
                .leases
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_mut(network_id)
        {
            used.remove(&ip);
        }
    }

    /// A host port for `owner`: `spec` is empty or `0` (any free port the kernel picks),
    /// a port, or a range `a-b` (the first free one).
    pub fn take_port(&self, proto: &str, host_ip: &str, spec: &str, owner: &str) -> Result<u16> {
        let ip = if host_ip.is_empty() {
            "0.0.0.0"
        } else {
            host_ip
        };
        let free_on_host = |port: u16| -> Option<u16> {
            let addr = format!("{ip}:{port}");
            if proto == "udp" {
                std::net::UdpSocket::bind(&addr)
                    .ok()?
                    .local_addr()
                    .ok()
                    .map(|a| a.port())
            } else {
                std::net::TcpListener::bind(&addr)
                    .ok()?
                    .local_addr()
                    .ok()
                    .map(|a| a.port())
            }
        };
        let mut ports = self.ports.lock().unwrap_or_else(|p| p.into_inner());
        let key = |port: u16| (proto.to_string(), port);
        let (first, last) = match spec.split_once('-') {
            Some((a, b)) => (a.parse::<u16>().ok(), b.parse::<u16>().ok()),
            None if spec.is_empty() || spec == "0" => (Some(0), Some(0)),
            None => (spec.parse().ok(), spec.parse().ok()),
        };
        let (Some(first), Some(last)) = (first, last) else {
            return Err(Error::invalid(format!(
                "invalid port specification: \"{spec}\""
            )));
        };
        if first == 0 {
            for _ in 0..32 {
                if let Some(p) = free_on_host(0)
                    && !ports.contains_key(&key(p))
                {
                    ports.insert(key(p), owner.to_string());
                    return Ok(p);
                }
            }
        } else {
            for p in first..=last.max(first) {
                if !ports.contains_key(&key(p)) && free_on_host(p).is_some() {
                    ports.insert(key(p), owner.to_string());
                    return Ok(p);
                }
            }
        }
        Err(Error::internal(format!(
            "Bind for {ip}:{spec} failed: port is already allocated"
        )))
    }

    /// Gives back every host port `owner` held.
    pub fn release_ports(&self, owner: &str) {
        self.ports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, o| o != owner);
    }

    /// Marks published ports as held again (a running container found after a restart).
    pub fn claim_port(&self, proto: &str, port: u16, owner: &str) {
        self.ports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((proto.to_string(), port), owner.to_string());
    }

    pub fn netavark(&self) -> Result<&netavark::Netavark> {
        self.netavark.as_ref().ok_or_else(|| {
            Error::internal(
                "bridge networking needs netavark and aardvark-dns (Debian: apt-get install netavark aardvark-dns)",
            )
        })
    }

    /// Where a container's network namespace is pinned.
    pub fn netns_path(&self, container_id: &str) -> PathBuf {
        self.netns_dir.join(container_id)
    }

    /// The containers that have a namespace file, by ID.
    pub fn netns_owners(&self) -> Vec<String> {
        std::fs::read_dir(&self.netns_dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect()
    }

    /// netavark's view of one network. netavark names files after a network's name, so
    /// it is given the ID (network names are as free as on dockerd, `a/b` included).
    pub fn net_info(&self, n: &Network) -> netavark::NetInfo {
        let prefix = Ipv4Net::parse(&n.subnet).map_or(16, |s| s.prefix);
        netavark::NetInfo {
            name: n.id.clone(),
            id: n.id.clone(),
            driver: "bridge".into(),
            network_interface: n.bridge.clone(),
            subnets: std::iter::once(netavark::NetSubnet {
                subnet: format!("{}/{prefix}", n.subnet.split('/').next().unwrap_or("")),
                gateway: n.gateway.clone(),
            })
            .chain((!n.subnet6.is_empty()).then(|| netavark::NetSubnet {
                subnet: n.subnet6.clone(),
                gateway: n.gateway6.clone(),
            }))
            .collect(),
            ipv6_enabled: !n.subnet6.is_empty(),
            internal: n.internal,
            // Name resolution is for user-defined networks, as on dockerd.
            dns_enabled: n.name != "bridge",
            ipam_options: [("driver".to_string(), "host-local".to_string())].into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (PathBuf, NetworkStore) {
        let base = std::env::temp_dir().join(format!("berth-net-{:08x}", rand::random::<u32>()));
        let s = NetworkStore::new(
            &base.join("data"),
            &base.join("exec"),
            Arc::new(EventBus::new()),
            &NetworkSettings {
                bip: Some("10.233.0.1/24".into()),
                bridge: Some("bt-unit".into()),
                default_address_pools: vec![],
            },
        )
        .unwrap();
        (base, s)
    }

    #[test]
    fn predefined_networks_and_user_networks() {
        let (base, s) = store();
        let names: Vec<String> = s.list().into_iter().map(|n| n.name).collect();
        assert_eq!(names, ["bridge", "host", "none"]);
        let bridge = s.get("bridge").unwrap();
        assert_eq!(
            (bridge.subnet.as_str(), bridge.gateway.as_str()),
            ("10.233.0.0/24", "10.233.0.1")
        );
        let app = s
            .create(CreateNetwork {
                name: "app".into(),
                ipam_config: vec![IpamConfig {
                    subnet: "10.234.0.0/24".into(),
                    gateway: String::new(),
                    ip_range: "10.234.0.128/25".into(),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .unwrap();
        assert_eq!(app.gateway, "10.234.0.1");
        assert_eq!(s.get(&app.id[..6]).unwrap().name, "app");
        let e = s
            .create(CreateNetwork {
                name: "app".into(),
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(e.message, "network with name app already exists");
        let e = s
            .create(CreateNetwork {
                name: "other".into(),
                ipam_config: vec![IpamConfig {
                    subnet: "10.234.0.0/16".into(),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(
            e.message,
            "Pool overlaps with other one on this address space"
        );
        assert_eq!(s.allocate(&app, "").unwrap().to_string(), "10.234.0.128");
        assert_eq!(
            s.allocate(&app, "10.234.0.5").unwrap().to_string(),
            "10.234.0.5"
        );
        assert_eq!(
            s.allocate(&app, "10.234.0.5").unwrap_err().message,
            "Address already in use"
        );
        let e = s.remove("bridge", |_| false).unwrap_err();
        assert_eq!(
            e.message,
            "bridge is a pre-defined network and cannot be removed"
        );
        assert!(
            s.remove("app", |_| true)
                .unwrap_err()
                .message
                .ends_with("has active endpoints")
        );
        s.remove("app", |_| false).unwrap();
        assert_eq!(s.get("app").unwrap_err().message, "network app not found");
        // Reloaded from disk with the same IDs.
        let again = NetworkStore::new(
            &base.join("data"),
            &base.join("exec"),
            Arc::new(EventBus::new()),
            &NetworkSettings {
                bip: Some("10.233.0.1/24".into()),
                bridge: Some("bt-unit".into()),
                default_address_pools: vec![],
            },
        )
        .unwrap();
        assert_eq!(again.get("bridge").unwrap().id, bridge.id);
        std::fs::remove_dir_all(&base).unwrap();
    }
}
