//! A container on its networks: the endpoints it asks for at create, its namespace, addresses
//! and published ports at start (plumbed by berthd, or through netavark where berthd does
//! not: ports on IPv6 host addresses), and their release when it stops.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use super::model::ContainerRecord;
use super::service::ContainerService;
use super::spec::{HostConfig, flag, list, text};
use super::store::Container;
use crate::network::Endpoint;
use crate::network::netavark::{Options, PerNetwork, PortMapping};
use crate::{Error, ErrorKind, Result};

/// What a started container got from its networks.
pub(super) struct Joined {
    pub netns: String,
    /// Lines for /etc/hosts after the usual ones (`172.18.0.2\t<hostname>`).
    pub hosts_extra: String,
    /// The DNS server of its first network with DNS (aardvark-dns on the gateway).
    pub dns: Option<String>,
    /// Variables legacy links add (`DB_PORT=tcp://…`).
    pub env: Vec<String>,
}

/// What a client asks of one network for a container: an entry of create's
/// `EndpointsConfig`, or a connect's `EndpointConfig`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointRequest {
    pub aliases: Vec<String>,
    pub ipv4_address: String,
    pub ipv6_address: String,
    pub link_local_ips: Vec<String>,
    pub mac_address: String,
    /// Legacy links (`name:alias`) made on this network.
    pub links: Vec<String>,
    pub driver_opts: BTreeMap<String, String>,
}

/// The network a `NetworkMode` names (`default` is the bridge); None for modes that are
/// not networks (`container:<id>`).
pub fn mode_network(mode: &str) -> Option<&str> {
    match mode {
        "" | "default" => Some("bridge"),
        m if m.starts_with("container:") => None,
        m => Some(m),
    }
}

impl ContainerService {
    /// The endpoints a new container asks for: its `NetworkMode`'s network, then the others
    /// in `EndpointsConfig`, with their aliases and static addresses.
    /// `legacy_mac` is the container config's `MacAddress`, which clients below API 1.44
    /// send for the primary network.
    pub(super) fn wanted_endpoints(
        &self,
        mode: &str,
        endpoints: &BTreeMap<String, EndpointRequest>,
        legacy_mac: &str,
    ) -> Result<BTreeMap<String, Endpoint>> {
        let mut out = BTreeMap::new();
        let Some(primary) = mode_network(mode) else {
            return Ok(out);
        };
        let mut names = vec![primary.to_string()];
        names.extend(
            endpoints
                .keys()
                .filter(|k| *k != primary && *k != mode)
                .cloned(),
        );
        for name in names {
            // A missing network fails the start, not the create (as on dockerd): a 404 from
            // create would make the CLI try to pull the image.
            let n = match self.networks.get(&name) {
                Ok(n) => n,
                Err(e) if e.kind == ErrorKind::NotFound => {
                    out.insert(name, Endpoint::default());
                    continue;
                }
                Err(e) => return Err(e),
            };
            let none = EndpointRequest::default();
            let config = endpoints
                .get(&name)
                .or_else(|| (name == primary).then(|| endpoints.get(mode)).flatten())
                .unwrap_or(&none);
            let aliases = config.aliases.clone();
            // Aliases become DNS names (and lines of aardvark-dns's files): DNS characters
            // only.
            if let Some(bad) = aliases.iter().find(|a| {
                a.is_empty()
                    || !a
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'))
            }) {
                return Err(Error::invalid(format!(
                    "invalid network alias {bad:?}: use letters, digits, '-', '_' and '.'"
                )));
            }
            let ipv4 = config.ipv4_address.clone();
            if n.driver != "bridge"
                && (!aliases.is_empty() || !ipv4.is_empty())
                && n.name != "bridge"
            {
                return Err(Error::invalid(
                    "network-scoped aliases are only supported for user-defined networks",
                ));
            }
            if n.name == "bridge" && !aliases.is_empty() {
                return Err(Error::invalid(
                    "network-scoped aliases are only supported for user-defined networks",
                ));
            }
            let ipv6 = config.ipv6_address.clone();
            if n.name == "bridge" && !(ipv4.is_empty() && ipv6.is_empty()) {
                return Err(Error::invalid(
                    "user specified IP address is supported on user defined networks only",
                ));
            }
            let static_mac = Some(config.mac_address.as_str())
                .filter(|m| !m.is_empty())
                .or_else(|| {
                    (name == primary)
                        .then_some(legacy_mac)
                        .filter(|m| !m.is_empty())
                })
                .unwrap_or("")
                .to_ascii_lowercase();
            if !static_mac.is_empty() && !valid_mac(&static_mac) {
                return Err(Error::invalid(format!("invalid MAC address: {static_mac}")));
            }
            out.insert(
                n.name.clone(),
                Endpoint {
                    network_id: n.id.clone(),
                    aliases,
                    ipv4_address: ipv4,
                    ipv6_address: ipv6,
                    static_mac,
                    links: config.links.clone(),
                    link_local_ips: config.link_local_ips.clone(),
                    driver_opts: config.driver_opts.clone(),
                    ..Default::default()
                },
            );
        }
        Ok(out)
    }

    /// Puts a starting container on its bridge networks; None when it has none (host, none,
    /// another container's namespace).
    pub(super) async fn join_networks(
        &self,
        c: &Arc<Container>,
        record: &ContainerRecord,
    ) -> Result<Option<Joined>> {
        let mut bridged: Vec<(String, crate::network::Network)> = Vec::new();
        for name in record.networks.keys() {
            let n = self.networks.get(name)?;
            if n.driver == "bridge" {
                bridged.push((name.clone(), n));
            }
        }
        if bridged.is_empty() {
            return Ok(None);
        }
        let (link_hosts, link_env) = if record.networks.contains_key("bridge") {
            self.link_facts(record)?
        } else {
            (String::new(), vec![])
        };
        let netavark = self.networks.netavark()?;
        let netns = self.networks.netns_path(&record.id);
        crate::network::netns::remove(&netns);
        crate::network::netns::create(&netns)?;
        let mut endpoints = record.networks.clone();
        let mut allocated: Vec<(String, String)> = Vec::new();
        // Kept outside the attempt, so a failed setup can be undone with what it was given.
        let mut opts = Options::new(&record.id, &record.name, vec![]);
        // Networks whose resolver may have been given the container's names.
        let mut dns_fed: Vec<String> = Vec::new();
        let result = async {
            let ports = self.publish_ports(record)?;
            opts.port_mappings = ports.clone();
            for (i, (name, n)) in bridged.iter().enumerate() {
                let e = endpoints.get_mut(name).expect("listed from the record");
                let ip = self.networks.allocate(n, &e.ipv4_address)?;
                allocated.push((n.id.clone(), ip.to_string()));
                let ip6 = self.networks.allocate6(n, &e.ipv6_address)?;
                if let Some(ip6) = ip6 {
                    allocated.push((n.id.clone(), ip6.to_string()));
                }
                let short = record.id[..12].to_string();
                let mut dns_names = vec![];
                if n.name != "bridge" {
                    dns_names.push(record.name.trim_start_matches('/').to_string());
                    dns_names.extend(e.aliases.iter().cloned());
                    dns_names.push(short.clone());
                }
                let prefix =
                    crate::network::ipam::Ipv4Net::parse(&n.subnet).map_or(16, |s| s.prefix);
                *e = Endpoint {
                    endpoint_id: random_hex(),
                    ip: ip.to_string(),
                    prefix,
                    gateway: n.gateway.clone(),
                    dns_names: dns_names.clone(),
                    interface: format!("eth{i}"),
                    ip6: ip6.map(|a| a.to_string()).unwrap_or_default(),
                    prefix6: prefix6_of(n),
                    gateway6: n.gateway6.clone(),
                    ..e.clone()
                };
                if n.name != "bridge" {
                    dns_names.extend(self.link_aliases_of(&n.name, record));
                }
                opts.add(
                    self.networks.net_info(n),
                    PerNetwork {
                        static_ips: std::iter::once(ip.to_string())
                            .chain(ip6.map(|a| a.to_string()))
                            .collect(),
                        aliases: dns_names,
                        interface_name: format!("eth{i}"),
                        static_mac: Some(mac_for(&e.static_mac, ip)),
                    },
                );
            }
            // On bridge networks berthd plumbs the veths itself, making each bridge device
            // and its network's rules first when they are missing, feeds user networks'
            // resolvers and publishes the ports (on IPv4 host addresses) in one batch of
            // rules, to the address on the first network with a way out.
            let port_network = ports_network(&bridged);
            let in_process = ports.is_empty()
                || (port_network.is_some() && crate::network::ports::supported(&ports));
            let mut plan = Vec::new();
            if in_process {
                for (name, n) in &bridged {
                    let gateway = self.networks.bridge_ready(n).await?;
                    if let Some(e) = endpoints.get_mut(name) {
                        e.host_veth = format!("veth{}", &e.endpoint_id[..10]);
                    }
                    // Names for the resolver on user-defined networks (dockerd resolves
                    // none on the default bridge).
                    let names = opts
                        .networks
                        .remove(&n.id)
                        .map(|p| p.aliases)
                        .filter(|_| n.name != "bridge");
                    plan.push((name, n, gateway, names));
                }
                // netavark has no part in it, not even in undoing a failed setup.
                opts.networks.clear();
            }
            // Intent before effect: the record names the namespace, addresses, ports and
            // veth before they are made, so a daemon killed during the setup finds at
            // restart what to take down.
            let intent = {
                let mut r = c.rec();
                r.networks = endpoints.clone();
                r.ports = ports.clone();
                r.sandbox = netns.display().to_string();
                r.clone()
            };
            self.persist(&intent)?;
            if in_process {
                // The default route goes by the first network (in name order, as dockerd
                // orders them) that has a way out; an internal network has none. The same
                // for IPv6 among the dual-stack networks.
                let (mut routed, mut routed6) = (false, false);
                for (name, n, (gateway, gateway6), names) in &plan {
                    let e = &endpoints[*name];
                    let mac = mac_for(&e.static_mac, e.ip.parse().unwrap_or(Ipv4Addr::UNSPECIFIED));
                    let route = (!n.internal && !routed).then_some(*gateway);
                    routed |= route.is_some();
                    let route6 = gateway6.filter(|_| !n.internal && !routed6);
                    routed6 |= route6.is_some();
                    crate::network::plumb::attach(&crate::network::plumb::Veth {
                        bridge: &n.bridge,
                        host_name: &e.host_veth,
                        netns: &netns,
                        interface: &e.interface,
                        mac: crate::network::plumb::parse_mac(&mac)
                            .ok_or_else(|| Error::invalid(format!("invalid MAC address: {mac}")))?,
                        ip: endpoint_ip(e)?,
                        prefix: e.prefix,
                        gateway: route,
                        ip6: endpoint_ip6(e)?.map(|a| (a, e.prefix6)),
                        gateway6: route6,
                    })
                    .await?;
                    if let Some(names) = names {
                        dns_fed.push(n.id.clone());
                        netavark
                            .dns_add(&crate::network::aardvark::Entry {
                                network: &n.id,
                                gateway: *gateway,
                                gateway6: *gateway6,
                                container_id: &record.id,
                                ip: endpoint_ip(e)?,
                                ip6: endpoint_ip6(e)?,
                                names,
                            })
                            .await?;
                    }
                    if let Some(e) = endpoints.get_mut(*name) {
                        e.mac = mac;
                    }
                }
                // Last, as it is all or nothing: a failure leaves no rule to undo.
                if let Some((name, n)) = port_network {
                    self.networks
                        .open_ports(&n.bridge, endpoint_ip(&endpoints[name])?, &ports)
                        .await?;
                }
                return Ok::<_, Error>(ports);
            }
            let status = netavark.setup(&netns, &opts).await?;
            for (name, n) in &bridged {
                if let Some(e) = endpoints.get_mut(name) {
                    e.mac = status
                        .get(&n.id)
                        .and_then(|s| s.interfaces.values().next())
                        .map(|i| i.mac_address.clone())
                        .unwrap_or_default();
                }
            }
            Ok::<_, Error>(ports)
        }
        .await;
        let ports = match result {
            Ok(p) => p,
            Err(e) => {
                if !opts.networks.is_empty() {
                    let _ = netavark.teardown(&netns, &opts).await;
                }
                for network in &dns_fed {
                    let _ = netavark.dns_remove(network, &record.id).await;
                }
                for (net, ip) in &allocated {
                    self.networks.release(net, ip);
                }
                self.networks.release_ports(&record.id);
                crate::network::netns::remove(&netns);
                let undone = {
                    let mut r = c.rec();
                    r.networks = record.networks.clone();
                    r.ports.clear();
                    r.sandbox.clear();
                    r.clone()
                };
                let _ = self.persist(&undone);
                return Err(e);
            }
        };
        let hostname = record.config.hostname();
        let mut hosts_extra = link_hosts;
        let mut dns = None;
        for (name, n) in &bridged {
            let e = &endpoints[name];
            hosts_extra.push_str(&format!("{}\t{hostname}\n", e.ip));
            if !e.ip6.is_empty() {
                hosts_extra.push_str(&format!("{}\t{hostname}\n", e.ip6));
            }
            if dns.is_none() && n.name != "bridge" {
                dns = Some(n.gateway.clone());
            }
            self.networks
                .event("connect", n, &[("container", record.id.clone())]);
        }
        {
            let mut r = c.rec();
            r.networks = endpoints;
            r.ports = ports;
            r.sandbox = netns.display().to_string();
        }
        Ok(Some(Joined {
            netns: netns.display().to_string(),
            hosts_extra,
            dns,
            env: link_env,
        }))
    }

    /// Undoes an endpoint berthd plumbed itself: the published ports when they lead to it,
    /// its veth, and its names in the network's resolver.
    async fn unplumb(
        &self,
        record: &ContainerRecord,
        n: &crate::network::Network,
        e: &Endpoint,
    ) -> Result<()> {
        let container_id = &record.id;
        if self.ports_lead_to(record, &n.name)
            && let Ok(ip) = endpoint_ip(e)
        {
            crate::network::ports::close(&n.bridge, ip, &record.ports).await;
        }
        crate::network::plumb::detach(&e.host_veth).await?;
        if n.name != "bridge" {
            self.networks
                .netavark()?
                .dns_remove(&n.id, container_id)
                .await?;
        }
        Ok(())
    }

    /// Whether the container's published ports lead to its endpoint on `network`: the
    /// first of its bridge networks (in name order) with a way out, as [`ports_network`]
    /// chose at the start.
    fn ports_lead_to(&self, record: &ContainerRecord, network: &str) -> bool {
        !record.ports.is_empty()
            && self
                .way_out(record.networks.keys())
                .is_some_and(|name| name == network)
    }

    /// The first of these networks (in name order, as dockerd orders a container's
    /// networks) with a way out: the one that carries the default route.
    fn way_out<'a>(&self, names: impl IntoIterator<Item = &'a String>) -> Option<&'a String> {
        names.into_iter().find(|name| {
            self.networks
                .get(name)
                .is_ok_and(|n| n.driver == "bridge" && !n.internal)
        })
    }

    /// Takes a stopped container off its bridge networks: its endpoints undone (by berthd
    /// or netavark, whichever made them), the addresses and ports back, the namespace gone.
    pub(super) async fn leave_networks(&self, c: &Arc<Container>) {
        self.take_down_sandbox(c, true).await;
    }

    /// At restore, a namespace a record names although its container is not running: the
    /// daemon died while starting or stopping it. Taken down without touching the address
    /// and port books, which restore filled from running containers only.
    pub(super) async fn take_down_stale_sandbox(&self, c: &Arc<Container>) {
        self.take_down_sandbox(c, false).await;
        let record = c.rec().clone();
        if let Err(e) = self.persist(&record) {
            tracing::warn!(container = %record.id, "record not saved: {}", e.message);
        }
    }

    async fn take_down_sandbox(&self, c: &Arc<Container>, release: bool) {
        let record = c.rec().clone();
        if record.sandbox.is_empty() {
            return;
        }
        let netns = std::path::PathBuf::from(&record.sandbox);
        let mut opts = Options::new(&record.id, &record.name, record.ports.clone());
        let mut left = Vec::new();
        for (i, (name, e)) in record
            .networks
            .iter()
            .filter(|(_, e)| !e.ip.is_empty())
            .enumerate()
        {
            let Ok(n) = self.networks.get(name) else {
                continue;
            };
            if !e.host_veth.is_empty() {
                if let Err(err) = self.unplumb(&record, &n, e).await {
                    tracing::warn!(container = %record.id, "network teardown: {}", err.message);
                }
                if release {
                    self.networks.release(&n.id, &e.ip);
                }
                left.push(n);
                continue;
            }
            opts.add(
                self.networks.net_info(&n),
                PerNetwork {
                    static_ips: std::iter::once(e.ip.clone())
                        .chain((!e.ip6.is_empty()).then(|| e.ip6.clone()))
                        .collect(),
                    aliases: e.dns_names.clone(),
                    interface_name: if e.interface.is_empty() {
                        format!("eth{i}")
                    } else {
                        e.interface.clone()
                    },
                    static_mac: None,
                },
            );
            if release {
                self.networks.release(&n.id, &e.ip);
                self.networks.release(&n.id, &e.ip6);
            }
            left.push(n);
        }
        if let Ok(netavark) = self.networks.netavark()
            && !opts.networks.is_empty()
            && let Err(e) = netavark.teardown(&netns, &opts).await
        {
            tracing::warn!(container = %record.id, "network teardown: {}", e.message);
        }
        if release {
            self.networks.release_ports(&record.id);
        }
        crate::network::netns::remove(&netns);
        for n in &left {
            self.networks
                .event("disconnect", n, &[("container", record.id.clone())]);
        }
        let mut r = c.rec();
        for e in r.networks.values_mut() {
            e.clear_runtime();
        }
        r.ports.clear();
        r.sandbox.clear();
    }

    /// Host ports for the container's `PortBindings` (and, with `PublishAllPorts`, its
    /// exposed ports): given ones checked free, empty ones picked by the kernel.
    fn publish_ports(&self, record: &ContainerRecord) -> Result<Vec<PortMapping>> {
        let mut wanted: Vec<(u16, String, String, String)> = Vec::new();
        let bindings = record.host_config.port_bindings.clone().unwrap_or_default();
        for (key, list) in &bindings {
            let (port, proto) = split_port(key)?;
            for b in list {
                let host_ip = text(&b.host_ip).to_string();
                let host_port = text(&b.host_port).to_string();
                wanted.push((port, proto.clone(), host_ip, host_port));
            }
        }
        if flag(&record.host_config.publish_all_ports) {
            for key in record.config.exposed_ports() {
                if !bindings.contains_key(key) {
                    let (port, proto) = split_port(key)?;
                    wanted.push((port, proto, String::new(), String::new()));
                }
            }
        }
        let mut out = Vec::new();
        for (port, proto, host_ip, host_port) in wanted {
            let ip = if host_ip == "0.0.0.0" {
                String::new()
            } else {
                host_ip
            };
            let chosen = self
                .networks
                .take_port(&proto, &ip, &host_port, &record.id)
                .inspect_err(|_| self.networks.release_ports(&record.id))?;
            out.push(PortMapping {
                host_ip: ip,
                container_port: port,
                host_port: chosen,
                range: 1,
                protocol: proto,
            });
        }
        Ok(out)
    }
}

/// Six colon-separated hex pairs.
fn valid_mac(mac: &str) -> bool {
    let parts: Vec<&str> = mac.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// `8080/tcp` (or `8080`) into the port and protocol.
pub fn split_port(key: &str) -> Result<(u16, String)> {
    let (p, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let port = p.parse::<u16>().map_err(|_| {
        Error::new(
            ErrorKind::InvalidParameter,
            format!("invalid port specification: \"{key}\""),
        )
    })?;
    Ok((port, proto.to_ascii_lowercase()))
}

fn random_hex() -> String {
    let a: [u8; 32] = rand::random();
    a.iter().map(|b| format!("{b:02x}")).collect()
}

impl ContainerService {
    /// Running containers on network `network_id`, with their endpoints there.
    pub fn network_endpoints(&self, network_id: &str) -> Vec<(Arc<ContainerRecord>, Endpoint)> {
        self.list()
            .into_iter()
            .filter_map(|c| {
                let e = c
                    .networks
                    .values()
                    .find(|e| e.network_id == network_id && !e.ip.is_empty())?
                    .clone();
                Some((c, e))
            })
            .collect()
    }

    /// `POST /networks/{id}/connect`: a stopped container gets the endpoint at its next
    /// start; a running one is put on the network now.
    pub async fn connect(
        &self,
        network: &str,
        name_or_id: &str,
        config: EndpointRequest,
    ) -> Result<()> {
        let n = self.networks.get(network)?;
        let c = self.lookup(name_or_id)?;
        let _op = c.lock_op().await;
        let record = c.rec().clone();
        let mode = record.host_config.network_mode().to_string();
        if mode == "none"
            || mode == "host"
            || mode.starts_with("container:")
            || n.driver != "bridge"
        {
            let which = if mode == "host" || n.driver == "host" {
                "host"
            } else {
                "none"
            };
            return Err(Error::new(
                ErrorKind::Forbidden,
                format!(
                    "container cannot be connected to multiple networks with one of the networks in private ({which}) mode"
                ),
            ));
        }
        if record.networks.contains_key(&n.name) {
            return Err(Error::new(
                ErrorKind::Forbidden,
                format!(
                    "endpoint with name {} already exists in network {}",
                    record.name.trim_start_matches('/'),
                    n.name
                ),
            ));
        }
        let endpoints = BTreeMap::from([(n.name.clone(), config)]);
        let endpoint = self
            .wanted_endpoints(&n.name, &endpoints, "")?
            .remove(&n.name)
            .ok_or_else(|| Error::internal("no endpoint made"))?;
        let running = record.state.running() && !record.sandbox.is_empty();
        c.rec().networks.insert(n.name.clone(), endpoint);
        if running && let Err(e) = self.attach_running(&c, &n).await {
            c.rec().networks.remove(&n.name);
            return Err(e);
        }
        self.save(&c)
    }

    /// Adds one network to a running container's namespace.
    async fn attach_running(&self, c: &Arc<Container>, n: &crate::network::Network) -> Result<()> {
        let record = c.rec().clone();
        let netavark = self.networks.netavark()?;
        // The lowest interface name no current endpoint has.
        let taken: Vec<&str> = record
            .networks
            .values()
            .filter(|e| !e.ip.is_empty())
            .map(|e| e.interface.as_str())
            .collect();
        let index = (0..)
            .find(|i| !taken.contains(&format!("eth{i}").as_str()))
            .unwrap_or(0);
        let mut e = record.networks[&n.name].clone();
        let ip = self.networks.allocate(n, &e.ipv4_address)?;
        let ip6 = match self.networks.allocate6(n, &e.ipv6_address) {
            Ok(a) => a,
            Err(err) => {
                self.networks.release(&n.id, &ip.to_string());
                return Err(err);
            }
        };
        let mut dns_names = vec![record.name.trim_start_matches('/').to_string()];
        dns_names.extend(e.aliases.iter().cloned());
        dns_names.push(record.id[..12].to_string());
        let mut served = dns_names.clone();
        served.extend(self.link_aliases_of(&n.name, &record));
        e.endpoint_id = random_hex();
        e.ip6 = ip6.map(|a| a.to_string()).unwrap_or_default();
        e.prefix6 = prefix6_of(n);
        e.gateway6 = n.gateway6.clone();
        e.ip = ip.to_string();
        e.prefix = crate::network::ipam::Ipv4Net::parse(&n.subnet).map_or(16, |s| s.prefix);
        e.gateway = n.gateway.clone();
        e.dns_names = dns_names;
        e.interface = format!("eth{index}");
        // A network joined by a container without published ports is plumbed by berthd,
        // as at the start; the rest by netavark.
        let mac = if record.ports.is_empty() {
            e.host_veth = format!("veth{}", &e.endpoint_id[..10]);
            self.plumb_connected(c, n, &record, &e, ip, &served).await
        } else {
            let mut opts = Options::new(&record.id, &record.name, vec![]);
            opts.add(
                self.networks.net_info(n),
                PerNetwork {
                    static_ips: std::iter::once(ip.to_string())
                        .chain(ip6.map(|a| a.to_string()))
                        .collect(),
                    aliases: served,
                    interface_name: e.interface.clone(),
                    static_mac: Some(mac_for(&e.static_mac, ip)),
                },
            );
            netavark
                .setup(std::path::Path::new(&record.sandbox), &opts)
                .await
                .map(|status| {
                    status
                        .get(&n.id)
                        .and_then(|s| s.interfaces.values().next())
                        .map(|i| i.mac_address.clone())
                        .unwrap_or_default()
                })
        };
        e.mac = match mac {
            Ok(mac) => mac,
            Err(err) => {
                self.networks.release(&n.id, &ip.to_string());
                if let Some(ip6) = ip6 {
                    self.networks.release(&n.id, &ip6.to_string());
                }
                return Err(err);
            }
        };
        c.rec().networks.insert(n.name.clone(), e);
        // A container with no network resolver yet (on the default bridge only) resolves
        // names through this network's from now on, as dockerd then points it at its
        // embedded DNS. The file is bind-mounted: it is rewritten in place.
        let had_resolver = record
            .networks
            .iter()
            .any(|(name, x)| name != "bridge" && *name != n.name && !x.ip.is_empty());
        if n.name != "bridge" && !had_resolver {
            super::setup::write_file(
                std::path::Path::new(&record.resolv_conf_path),
                &super::setup::resolv_conf(Some(&n.gateway), &record.host_config),
            )?;
        }
        self.networks
            .event("connect", n, &[("container", record.id.clone())]);
        Ok(())
    }

    /// Plumbs the endpoint `e` on network `n` into a running container's namespace: its
    /// veth (taking the default route when `n` now comes first among its networks with a
    /// way out) and its names in the network's resolver. The endpoint is recorded first, so
    /// a crash midway is undone at restart; a failure takes it out again. Returns the MAC.
    async fn plumb_connected(
        &self,
        c: &Arc<Container>,
        n: &crate::network::Network,
        record: &ContainerRecord,
        e: &Endpoint,
        ip: Ipv4Addr,
        names: &[String],
    ) -> Result<String> {
        c.rec().networks.insert(n.name.clone(), e.clone());
        self.save(c)?;
        let result = async {
            let (gateway, gateway6) = self.networks.bridge_ready(n).await?;
            let attached = record
                .networks
                .iter()
                .filter(|(name, x)| !x.ip.is_empty() || **name == n.name)
                .map(|(name, _)| name);
            let route = (self.way_out(attached) == Some(&n.name)).then_some(gateway);
            // IPv6 goes by the first dual-stack network with a way out.
            let other_ipv6 = record
                .networks
                .iter()
                .any(|(name, x)| *name != n.name && !x.ip6.is_empty());
            let route6 = gateway6.filter(|_| !n.internal && !other_ipv6);
            let mac = mac_for(&e.static_mac, ip);
            crate::network::plumb::attach(&crate::network::plumb::Veth {
                bridge: &n.bridge,
                host_name: &e.host_veth,
                netns: std::path::Path::new(&record.sandbox),
                interface: &e.interface,
                mac: crate::network::plumb::parse_mac(&mac)
                    .ok_or_else(|| Error::invalid(format!("invalid MAC address: {mac}")))?,
                ip,
                prefix: e.prefix,
                gateway: route,
                ip6: endpoint_ip6(e)?.map(|a| (a, e.prefix6)),
                gateway6: route6,
            })
            .await?;
            if n.name != "bridge" {
                let added = self
                    .networks
                    .netavark()?
                    .dns_add(&crate::network::aardvark::Entry {
                        network: &n.id,
                        gateway,
                        gateway6,
                        container_id: &record.id,
                        ip,
                        ip6: endpoint_ip6(e)?,
                        names,
                    })
                    .await;
                if let Err(err) = added {
                    let _ = crate::network::plumb::detach(&e.host_veth).await;
                    return Err(err);
                }
            }
            Ok(mac)
        }
        .await;
        if result.is_err() {
            c.rec().networks.remove(&n.name);
            let _ = self.save(c);
        }
        result
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn disconnect(&self, network: &str, name_or_id: &str) -> Result<()> {
        let n = self.networks.get(network)?;
        let c = self.lookup(name_or_id)?;
        let _op = c.lock_op().await;
        let record = c.rec().clone();
        let Some(e) = record.networks.get(&n.name).cloned() else {
            return Err(Error::new(
                ErrorKind::Forbidden,
                format!(
                    "container {} is not connected to the network {}",
                    record.id, n.name
                ),
            ));
        };
        if !e.ip.is_empty() && !record.sandbox.is_empty() {
            let netavark = self.networks.netavark()?;
            let interface = if e.interface.is_empty() {
                let index = record
                    .networks
                    .iter()
                    .filter(|(_, x)| !x.ip.is_empty())
                    .position(|(name, _)| *name == n.name)
                    .unwrap_or(0);
                format!("eth{index}")
            } else {
                e.interface.clone()
            };
            let mut opts = Options::new(&record.id, &record.name, vec![]);
            opts.add(
                self.networks.net_info(&n),
                PerNetwork {
                    static_ips: std::iter::once(e.ip.clone())
                        .chain((!e.ip6.is_empty()).then(|| e.ip6.clone()))
                        .collect(),
                    aliases: e.dns_names.clone(),
                    interface_name: interface,
                    static_mac: None,
                },
            );
            if e.host_veth.is_empty() {
                netavark
                    .teardown(std::path::Path::new(&record.sandbox), &opts)
                    .await?;
            } else {
                self.unplumb(&record, &n, &e).await?;
            }
            // The default route left with the interface that carried it: the next network
            // with a way out takes it, as on dockerd.
            let attached: Vec<&String> = record
                .networks
                .iter()
                .filter(|(_, x)| !x.ip.is_empty())
                .map(|(name, _)| name)
                .collect();
            if self.way_out(attached.iter().copied()) == Some(&n.name)
                && let Some(next) = self.way_out(attached.into_iter().filter(|k| **k != n.name))
                && let Ok(gateway) = record.networks[next].gateway.parse()
                && let Err(err) = crate::network::plumb::route_default_via(
                    std::path::Path::new(&record.sandbox),
                    &record.networks[next].interface,
                    gateway,
                    record.networks[next].gateway6.parse().ok(),
                )
                .await
            {
                tracing::warn!(container = %record.id, "default route not moved: {}", err.message);
            }
            self.networks.release(&n.id, &e.ip);
            self.networks.release(&n.id, &e.ip6);
            self.networks
                .event("disconnect", &n, &[("container", record.id.clone())]);
        }
        c.rec().networks.remove(&n.name);
        self.save(&c)
    }
}

/// The network a container's published ports lead to: the first of its bridge networks
/// (in name order) with a way out.
fn ports_network(
    bridged: &[(String, crate::network::Network)],
) -> Option<(&String, &crate::network::Network)> {
    bridged
        .iter()
        .find(|(_, n)| !n.internal)
        .map(|(name, n)| (name, n))
}

fn endpoint_ip(e: &Endpoint) -> Result<Ipv4Addr> {
    e.ip.parse()
        .map_err(|_| Error::internal(format!("bad endpoint address {:?}", e.ip)))
}

/// The endpoint's IPv6 address, on a dual-stack network.
fn endpoint_ip6(e: &Endpoint) -> Result<Option<std::net::Ipv6Addr>> {
    if e.ip6.is_empty() {
        return Ok(None);
    }
    e.ip6
        .parse()
        .map(Some)
        .map_err(|_| Error::internal(format!("bad endpoint address {:?}", e.ip6)))
}

/// The prefix length of a network's IPv6 subnet (0 without IPv6).
fn prefix6_of(n: &crate::network::Network) -> u8 {
    crate::network::ipam::Ipv6Net::parse(&n.subnet6).map_or(0, |s| s.prefix)
}

/// One legacy link as stored: `/child:/parent/alias`.
fn parse_stored_link(link: &str) -> Option<(&str, &str)> {
    let (child, full) = link.split_once(':')?;
    Some((child.trim_start_matches('/'), full.rsplit('/').next()?))
}

impl ContainerService {
    /// `--link child[:alias]` entries as moby stores them (`/child:/parent/alias`); the
    /// child must exist. Links are for the default bridge only.
    pub(super) fn normalize_links(&self, host: &mut HostConfig, parent: &str) -> Result<()> {
        let Some(links) = host.links.as_mut().filter(|l| !l.is_empty()) else {
            return Ok(());
        };
        for link in links.iter_mut() {
            let (child, alias) = match link.split_once(':') {
                Some((c, a)) => (c.trim_start_matches('/'), a.trim_start_matches('/')),
                None => (link.trim_start_matches('/'), link.trim_start_matches('/')),
            };
            let child_record = self
                .get(child)
                .map_err(|_| Error::invalid(format!("could not get container for {child}")))?;
            *link = format!("{}:{}/{alias}", child_record.name, parent);
        }
        Ok(())
    }

    /// `DELETE /containers/{parent}/{alias}?link=1`: forgets the parent's legacy link
    /// `alias`; both containers stay.
    pub fn remove_link(&self, link_name: &str) -> Result<()> {
        let full = format!("/{}", link_name.trim_start_matches('/'));
        let (parent, alias) = full.rsplit_once('/').unwrap_or(("", ""));
        if parent.is_empty() || alias.is_empty() {
            return Err(Error::conflict(
                "Conflict, cannot remove the default link name of the container",
            ));
        }
        let c = self
            .lookup(parent)
            .map_err(|_| Error::not_found(format!("No such container: {}", link_name)))?;
        let record = {
            let mut r = c.rec();
            let links = list(&r.host_config.links);
            let kept: Vec<String> = links
                .iter()
                .filter(|l| l.split_once(':').map(|(_, f)| f) != Some(full.as_str()))
                .cloned()
                .collect();
            if kept.len() == links.len() {
                return Err(Error::not_found(format!("No such container: {link_name}")));
            }
            r.host_config.links = (!kept.is_empty()).then_some(kept);
            r.clone()
        };
        self.persist(&record)
    }

    /// The aliases other containers on user network `network` gave `record` with links
    /// (`EndpointsConfig.<net>.Links`). moby answers them only to the linking container;
    /// aardvark-dns answers them on the whole network, and only for links made before
    /// `record` joined.
    fn link_aliases_of(&self, network: &str, record: &ContainerRecord) -> Vec<String> {
        let name = record.name.trim_start_matches('/');
        let mut out = Vec::new();
        for other in self.list().iter().filter(|o| o.id != record.id) {
            let Some(e) = other.networks.get(network) else {
                continue;
            };
            for link in &e.links {
                let (target, alias) = link.split_once(':').unwrap_or((link, link));
                let target = target.trim_start_matches('/');
                let names_it =
                    target == name || (target.len() >= 12 && record.id.starts_with(target));
                if names_it && !out.iter().any(|a| a == alias) {
                    out.push(alias.to_string());
                }
            }
        }
        out
    }

    /// What legacy links give a container on the default bridge: hosts lines naming each
    /// child by alias, hostname and name, and the `ALIAS_PORT_…`, `ALIAS_NAME` and
    /// `ALIAS_ENV_…` variables.
    pub(super) fn link_facts(&self, record: &ContainerRecord) -> Result<(String, Vec<String>)> {
        let mut hosts = String::new();
        let mut env = Vec::new();
        for link in list(&record.host_config.links) {
            let Some((child, alias)) = parse_stored_link(link) else {
                continue;
            };
            let full_name = link.split_once(':').map_or("", |(_, f)| f).to_string();
            let c = self.get(child)?;
            let ip = c
                .networks
                .get("bridge")
                .map(|e| e.ip.clone())
                .unwrap_or_default();
            if !c.state.running() || ip.is_empty() {
                return Err(Error::invalid(format!(
                    "Cannot link to a non running container: {} AS {full_name}",
                    c.name
                )));
            }
            let child_name = c.name.trim_start_matches('/');
            let mut names = format!("{alias} {}", c.config.hostname());
            if alias != child_name {
                names.push(' ');
                names.push_str(child_name);
            }
            hosts.push_str(&format!("{ip}\t{names}\n"));
            let prefix = alias.to_ascii_uppercase().replace('-', "_");
            let mut ports: Vec<(u16, String)> = c
                .config
                .exposed_ports()
                .filter_map(|k| split_port(k).ok())
                .collect();
            ports.sort();
            if let Some((port, proto)) = ports.first() {
                env.push(format!("{prefix}_PORT={proto}://{ip}:{port}"));
            }
            for (port, proto) in &ports {
                let p = proto.to_ascii_uppercase();
                env.push(format!("{prefix}_PORT_{port}_{p}={proto}://{ip}:{port}"));
                env.push(format!("{prefix}_PORT_{port}_{p}_ADDR={ip}"));
                env.push(format!("{prefix}_PORT_{port}_{p}_PORT={port}"));
                env.push(format!("{prefix}_PORT_{port}_{p}_PROTO={proto}"));
            }
            env.push(format!("{prefix}_NAME={full_name}"));
            for var in c.config.env() {
                if let Some((k, v)) = var.split_once('=')
                    && k != "HOME"
                    && k != "PATH"
                {
                    env.push(format!("{prefix}_ENV_{k}={v}"));
                }
            }
        }
        Ok((hosts, env))
    }
}

/// `--add-host name:ip` lines for /etc/hosts; `host-gateway` is the default bridge's
/// gateway.
pub fn extra_hosts(record: &ContainerRecord, gateway: &str) -> String {
    list(&record.host_config.extra_hosts)
        .iter()
        .filter_map(|h| h.split_once(':').or_else(|| h.split_once('=')))
        .map(|(name, ip)| {
            let ip = if ip == "host-gateway" { gateway } else { ip };
            format!("{ip}\t{name}\n")
        })
        .collect()
}

/// The MAC address of an endpoint: the one asked for, else, as dockerd 20.10 makes it, one
/// derived from its IPv4 address (`02:42` and the address's four bytes). A random one
/// would leave the host's ARP entry for a reused address pointing at the previous
/// container's MAC, and the first connections to the new one unanswered for seconds.
fn mac_for(requested: &str, ip: std::net::Ipv4Addr) -> String {
    if !requested.is_empty() {
        return requested.to_string();
    }
    let [a, b, c, d] = ip.octets();
    format!("02:42:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

#[cfg(test)]
mod mac_tests {
    #[test]
    fn a_mac_is_derived_from_the_address_unless_one_was_asked_for() {
        let ip = "172.17.0.2".parse().unwrap();
        assert_eq!(super::mac_for("", ip), "02:42:ac:11:00:02");
        assert_eq!(super::mac_for("92:d0:c6:0a:29:33", ip), "92:d0:c6:0a:29:33");
    }
}
