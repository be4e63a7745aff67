//! A container's endpoint on a bridge, plumbed in-process over netlink: a veth pair with one
//! end on the bridge and the other as the container's interface (its MAC, address and default
//! route, IPv4 and, on a dual-stack network, IPv6), and the namespace's loopback. No process
//! is spawned. Used for endpoints on bridge networks (see `ContainerService::join_networks`).
//! Also the network's bridge device and its once-per-network rules.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

use futures_util::TryStreamExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags};
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth};
use rtnetlink::{Handle, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder};

use crate::{Error, Result};

/// One endpoint to plumb.
pub struct Veth<'a> {
    /// The bridge device the host end joins.
    pub bridge: &'a str,
    /// The host end's name (at most 15 bytes).
    pub host_name: &'a str,
    /// The pinned namespace the other end goes into.
    pub netns: &'a Path,
    /// Its name in there (`eth0`).
    pub interface: &'a str,
    pub mac: [u8; 6],
    pub ip: Ipv4Addr,
    pub prefix: u8,
    /// The default route's next hop, replacing any default route the namespace has; None
    /// where another network (or none: an internal one) is the way out.
    pub gateway: Option<Ipv4Addr>,
    /// The IPv6 address and prefix length on a dual-stack network.
    pub ip6: Option<(Ipv6Addr, u8)>,
    /// The IPv6 default route's next hop, as `gateway` for IPv4.
    pub gateway6: Option<Ipv6Addr>,
}

fn netlink_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::internal(format!("{what}: {e}"))
}

/// A handle on this (the host's) namespace. Its connection runs on the current runtime.
fn connect() -> Result<Handle> {
    let (connection, handle, _) =
        rtnetlink::new_connection().map_err(|e| netlink_error("netlink socket", e))?;
    tokio::spawn(connection);
    Ok(handle)
}

/// Runs `f` on a short-lived thread that joined the network namespace pinned at `netns`:
/// sockets opened there, and `/proc/sys/net` read or written there, are the namespace's.
fn in_namespace<T: Send>(netns: &Path, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    let ns = std::fs::File::open(netns)?;
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| netlink_error("joining the container's namespace", e))?;
            f()
        })
        .join()
        .map_err(|_| Error::internal("the namespace thread panicked"))?
    })
}

/// A handle whose socket lives in the namespace pinned at `netns` (a socket stays in the
/// namespace it was opened in). Its connection runs on the current runtime.
fn connect_in(netns: &Path) -> Result<Handle> {
    let runtime = tokio::runtime::Handle::current();
    in_namespace(netns, || {
        let _entered = runtime.enter();
        connect()
    })
}

/// Turns IPv6 on for `interface` in the namespace pinned at `netns`: a container started
/// without an IPv6 network has it off for every interface made later, so one joining a
/// dual-stack network needs it back, as dockerd enables it on such an interface.
fn enable_ipv6(netns: &Path, interface: &str) -> Result<()> {
    let knob = format!("/proc/sys/net/ipv6/conf/{interface}/disable_ipv6");
    in_namespace(netns, || {
        std::fs::write(&knob, "0").map_err(|e| Error::internal(format!("{knob}: {e}")))
    })
}

async fn index_of(handle: &Handle, name: &str) -> Result<Option<u32>> {
    match handle
        .link()
        .get()
        .match_name(name.to_string())
        .execute()
        .try_next()
        .await
    {
        Ok(link) => Ok(link.map(|l| l.header.index)),
        Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -nix::libc::ENODEV => Ok(None),
        Err(e) => Err(netlink_error(&format!("looking up {name}"), e)),
    }
}

/// Adds `ip/prefix` to interface `index`. An IPv6 address skips duplicate address detection,
/// which would keep it unusable for a second or two: the network's IPAM already made it
/// unique on the bridge.
async fn add_address(handle: &Handle, index: u32, ip: IpAddr, prefix: u8) -> Result<()> {
    let mut add = handle.address().add(index, ip, prefix);
    if ip.is_ipv6() {
        add.message_mut()
            .attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    add.execute()
        .await
        .map_err(|e| netlink_error(&format!("adding the address {ip}"), e))
}

/// Makes the bridge device `name` with the gateway address `gateway/prefix` (and the IPv6
/// gateway of a dual-stack network), up, when it is not there; says whether it made it. Two
/// starts racing to make it both succeed.
pub async fn ensure_bridge(
    name: &str,
    gateway: Ipv4Addr,
    prefix: u8,
    gateway6: Option<(Ipv6Addr, u8)>,
) -> Result<bool> {
    let host = connect()?;
    if index_of(&host, name).await?.is_some() {
        return Ok(false);
    }
    match host
        .link()
        .add(rtnetlink::LinkBridge::new(name).build())
        .execute()
        .await
    {
        Ok(()) => {}
        Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -nix::libc::EEXIST => {
            return Ok(false);
        }
        Err(e) => return Err(netlink_error(&format!("creating bridge {name}"), e)),
    }
    let index = index_of(&host, name)
        .await?
        .ok_or_else(|| Error::internal(format!("bridge {name} vanished")))?;
    add_address(&host, index, IpAddr::V4(gateway), prefix).await?;
    if let Some((gateway6, prefix6)) = gateway6 {
        add_address(&host, index, IpAddr::V6(gateway6), prefix6).await?;
    }
    host.link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(|e| netlink_error("bringing the bridge up", e))?;
    Ok(true)
}

/// The rules a bridge network needs once, whoever made its device: traffic from and back
/// to it forwarded, and masquerading of what leaves by another interface (the rules
/// netavark would add for the network; none per container), for IPv6 too on a dual-stack
/// network (`subnet6`). An internal network gets none and its bridge forwards nothing. Each
/// rule is added only when missing.
pub async fn bridge_rules(
    bridge: &str,
    subnet: &str,
    subnet6: Option<&str>,
    internal: bool,
) -> Result<()> {
    if internal {
        let mut knobs = vec![format!("/proc/sys/net/ipv4/conf/{bridge}/forwarding")];
        if subnet6.is_some() {
            knobs.push(format!("/proc/sys/net/ipv6/conf/{bridge}/forwarding"));
        }
        for knob in knobs {
            tokio::fs::write(&knob, "0")
                .await
                .map_err(|e| Error::internal(format!("{knob}: {e}")))?;
        }
        return Ok(());
    }
    let _ = tokio::fs::write("/proc/sys/net/ipv4/ip_forward", "1").await;
    if subnet6.is_some() {
        let _ = tokio::fs::write("/proc/sys/net/ipv6/conf/all/forwarding", "1").await;
    }
    // A published port reached on 127.0.0.1 is forwarded to the bridge with its loopback
    // source, which the kernel drops as martian unless the bridge allows it.
    let _ = tokio::fs::write(
        format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet"),
        "1",
    )
    .await;
    for rule in rule_specs(bridge, subnet, subnet6) {
        if rule.run("-C").await {
            continue;
        }
        let added = if rule.chain == "FORWARD" {
            rule.run("-I").await
        } else {
            rule.run("-A").await
        };
        if !added {
            return Err(Error::internal(format!(
                "{}: could not add the {} rule for {bridge}",
                rule.binary(),
                rule.chain
            )));
        }
    }
    Ok(())
}

/// Takes down what [`ensure_bridge`] and [`bridge_rules`] made for a network being
/// removed: the rules, and (with `device`) the device, when no interface is on it any more.
pub async fn remove_bridge(
    bridge: &str,
    subnet: &str,
    subnet6: Option<&str>,
    device: bool,
) -> Result<()> {
    let ports = std::path::PathBuf::from("/sys/class/net")
        .join(bridge)
        .join("brif");
    if std::fs::read_dir(&ports).is_ok_and(|mut d| d.next().is_some()) {
        return Ok(());
    }
    for rule in rule_specs(bridge, subnet, subnet6) {
        while rule.run("-D").await {}
    }
    if !device {
        return Ok(());
    }
    delete(&connect()?, bridge).await
}

/// One iptables (or, with `v6`, ip6tables) rule: its table, chain and match/target
/// arguments (words separated by single spaces; bridge names and subnets have none).
struct Rule {
    v6: bool,
    table: &'static str,
    chain: &'static str,
    spec: String,
}

impl Rule {
    fn binary(&self) -> &'static str {
        if self.v6 { "ip6tables" } else { "iptables" }
    }

    async fn run(&self, op: &str) -> bool {
        let mut args = vec!["-t", self.table, op, self.chain];
        args.extend(self.spec.split(' '));
        firewall(self.binary(), &args).await
    }
}

fn rule_specs(bridge: &str, subnet: &str, subnet6: Option<&str>) -> Vec<Rule> {
    let rule = |table, chain, spec: String| Rule {
        v6: false,
        table,
        chain,
        spec,
    };
    let mut rules = vec![
        rule(
            "nat",
            "POSTROUTING",
            format!("-s {subnet} ! -o {bridge} -j MASQUERADE"),
        ),
        // A published port (`ports`) reached from the host itself, or from a container of
        // this network (hairpin): the answer must come back through the host to be un-NATed.
        rule(
            "nat",
            "POSTROUTING",
            format!(
                "-o {bridge} -m conntrack --ctstate DNAT -m addrtype --src-type LOCAL -j MASQUERADE"
            ),
        ),
        rule(
            "nat",
            "POSTROUTING",
            format!("-s {subnet} -o {bridge} -m conntrack --ctstate DNAT -j MASQUERADE"),
        ),
        rule("filter", "FORWARD", format!("-i {bridge} -j ACCEPT")),
        rule(
            "filter",
            "FORWARD",
            format!("-o {bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
        ),
    ];
    // A dual-stack network's IPv6 traffic is forwarded and masqueraded the same way
    // (published ports are IPv4 only, so no DNAT rules).
    if let Some(subnet6) = subnet6 {
        let v6 = [
            (
                "nat",
                "POSTROUTING",
                format!("-s {subnet6} ! -o {bridge} -j MASQUERADE"),
            ),
            ("filter", "FORWARD", format!("-i {bridge} -j ACCEPT")),
            (
                "filter",
                "FORWARD",
                format!("-o {bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
            ),
        ];
        rules.extend(v6.into_iter().map(|(table, chain, spec)| Rule {
            v6: true,
            table,
            chain,
            spec,
        }));
    }
    rules
}

/// Runs `iptables -w <args>`; says whether it succeeded.
pub(super) async fn iptables(args: &[&str]) -> bool {
    firewall("iptables", args).await
}

/// Runs `<binary> -w <args>` (iptables or ip6tables); says whether it succeeded.
async fn firewall(binary: &str, args: &[&str]) -> bool {
    tokio::process::Command::new(binary)
        .arg("-w")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// Makes the pair, puts it on the bridge and in the namespace, and configures the
/// container's end. On an error the host end is deleted again (which takes its peer along).
pub async fn attach(v: &Veth<'_>) -> Result<()> {
    let host = connect()?;
    let result = plumb(&host, v).await;
    if result.is_err() {
        let _ = delete(&host, v.host_name).await;
    }
    result
}

async fn plumb(host: &Handle, v: &Veth<'_>) -> Result<()> {
    let bridge = index_of(host, v.bridge)
        .await?
        .ok_or_else(|| Error::internal(format!("bridge {} is missing", v.bridge)))?;
    // The container's end is made right in its namespace, named and addressed there: moving
    // an interface between namespaces waits for an RCU grace period (about 25 ms here).
    let ns = std::fs::File::open(v.netns)?;
    let peer = LinkMessageBuilder::<LinkUnspec>::new()
        .name(v.interface.to_string())
        .address(v.mac.to_vec())
        .setns_by_fd(ns.as_raw_fd())
        .build();
    host.link()
        .add(
            LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
                .name(v.host_name.to_string())
                .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
                .build(),
        )
        .execute()
        .await
        .map_err(|e| netlink_error("creating the veth pair", e))?;
    host.link()
        .set(
            LinkUnspec::new_with_name(v.host_name)
                .controller(bridge)
                .up()
                .build(),
        )
        .execute()
        .await
        .map_err(|e| netlink_error("putting the veth on the bridge", e))?;

    let inner = connect_in(v.netns)?;
    let index = index_of(&inner, v.interface)
        .await?
        .ok_or_else(|| Error::internal("the veth did not reach the namespace"))?;
    inner
        .link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(|e| netlink_error("bringing up the container's interface", e))?;
    if let Some(lo) = index_of(&inner, "lo").await? {
        inner
            .link()
            .set(LinkUnspec::new_with_index(lo).up().build())
            .execute()
            .await
            .map_err(|e| netlink_error("bringing up loopback", e))?;
    }
    add_address(&inner, index, IpAddr::V4(v.ip), v.prefix).await?;
    if let Some((ip6, prefix6)) = v.ip6 {
        enable_ipv6(v.netns, v.interface)?;
        add_address(&inner, index, IpAddr::V6(ip6), prefix6).await?;
    }
    let gateways = [v.gateway.map(IpAddr::V4), v.gateway6.map(IpAddr::V6)];
    for gateway in gateways.into_iter().flatten() {
        default_route(&inner, index, gateway).await?;
    }
    Ok(())
}

/// Makes the default route of the namespace pinned at `netns` go through `gateway` (and
/// `gateway6` for IPv6) on its interface `interface` (after the interface that carried it
/// left).
pub async fn route_default_via(
    netns: &Path,
    interface: &str,
    gateway: Ipv4Addr,
    gateway6: Option<Ipv6Addr>,
) -> Result<()> {
    let inner = connect_in(netns)?;
    let index = index_of(&inner, interface)
        .await?
        .ok_or_else(|| Error::internal(format!("no {interface} in the container")))?;
    default_route(&inner, index, IpAddr::V4(gateway)).await?;
    match gateway6 {
        Some(gateway6) => default_route(&inner, index, IpAddr::V6(gateway6)).await,
        None => Ok(()),
    }
}

async fn default_route(handle: &Handle, index: u32, gateway: IpAddr) -> Result<()> {
    let route = match gateway {
        IpAddr::V4(gateway) => RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(gateway)
            .output_interface(index)
            .build(),
        IpAddr::V6(gateway) => RouteMessageBuilder::<Ipv6Addr>::new()
            .gateway(gateway)
            .output_interface(index)
            .build(),
    };
    handle
        .route()
        .add(route)
        .replace()
        .execute()
        .await
        .map_err(|e| netlink_error(&format!("setting the default route via {gateway}"), e))
}

async fn delete(host: &Handle, name: &str) -> Result<()> {
    let Some(index) = index_of(host, name).await? else {
        return Ok(());
    };
    match host.link().del(index).execute().await {
        Ok(()) => Ok(()),
        Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -nix::libc::ENODEV => Ok(()),
        Err(e) => Err(netlink_error(&format!("deleting {name}"), e)),
    }
}

/// Deletes the host end of a pair made by [`attach`] (its peer goes with it); a missing
/// one is fine.
pub async fn detach(host_name: &str) -> Result<()> {
    delete(&connect()?, host_name).await
}

/// The bytes of a MAC written `02:42:ac:11:00:02`.
pub fn parse_mac(mac: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = mac.split(':');
    for b in &mut out {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_parse_only_whole() {
        assert_eq!(
            parse_mac("02:42:ac:11:00:02"),
            Some([0x02, 0x42, 0xac, 0x11, 0x00, 0x02])
        );
        assert_eq!(parse_mac("02:42:ac:11:00"), None);
        assert_eq!(parse_mac("02:42:ac:11:00:02:03"), None);
        assert_eq!(parse_mac("02:42:zz:11:00:02"), None);
    }
}
