//! Published ports of endpoints berthd plumbs itself. A container's ports are DNAT rules in
//! one chain of the nat table, `BERTH-PORTS`, reached from PREROUTING and OUTPUT for the
//! host's own addresses (loopback included, so `127.0.0.1:<port>` works as with dockerd's
//! proxy), and one FORWARD accept per port; each container's rules go in and out in one
//! `iptables-restore --noflush` batch. The masquerading that lets the host and the
//! network's own containers reach a published port is the network's (see `plumb`).

use std::net::Ipv4Addr;

use tokio::io::AsyncWriteExt as _;

use super::netavark::PortMapping;
use super::plumb::iptables;
use crate::{Error, Result};

const CHAIN: &str = "BERTH-PORTS";

/// Whether berthd can publish these itself: IPv4 (or any) host addresses only; a mapping
/// on an IPv6 host address is left to netavark.
pub fn supported(ports: &[PortMapping]) -> bool {
    ports
        .iter()
        .all(|p| p.host_ip.is_empty() || p.host_ip.parse::<Ipv4Addr>().is_ok())
}

/// The chain and the jumps to it, made when missing (once per daemon start is enough: they
/// are never taken down).
pub async fn ensure_chain() -> Result<()> {
    // Fails when the chain exists, which is fine.
    let _ = iptables(&["-t", "nat", "-N", CHAIN]).await;
    for hook in ["PREROUTING", "OUTPUT"] {
        let jump = ["-m", "addrtype", "--dst-type", "LOCAL", "-j", CHAIN];
        let check: Vec<&str> = ["-t", "nat", "-C", hook]
            .iter()
            .chain(&jump)
            .copied()
            .collect();
        if iptables(&check).await {
            continue;
        }
        let add: Vec<&str> = ["-t", "nat", "-A", hook]
            .iter()
            .chain(&jump)
            .copied()
            .collect();
        if !iptables(&add).await {
            return Err(Error::internal(format!(
                "iptables: could not add the {hook} jump to {CHAIN}"
            )));
        }
    }
    Ok(())
}

/// Adds the container's rules, all or none.
pub async fn open(bridge: &str, ip: Ipv4Addr, ports: &[PortMapping]) -> Result<()> {
    if ports.is_empty() {
        return Ok(());
    }
    restore(&batch(bridge, ip, ports, true)).await
}

/// Takes the container's rules out. When some are missing already (a crash between
/// adding and recording), the batch fails as a whole and they go one by one instead.
pub async fn close(bridge: &str, ip: Ipv4Addr, ports: &[PortMapping]) {
    if ports.is_empty() || restore(&batch(bridge, ip, ports, false)).await.is_ok() {
        return;
    }
    for (table, rule) in rules(bridge, ip, ports) {
        let mut args = vec!["-t", table, "-D"];
        args.extend(rule.split(' '));
        let _ = iptables(&args).await;
    }
}

/// Each rule's table and `CHAIN match... -j TARGET`, words separated by single spaces.
fn rules(bridge: &str, ip: Ipv4Addr, ports: &[PortMapping]) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for p in ports {
        let proto = &p.protocol;
        let dest = match p.host_ip.as_str() {
            "" => String::new(),
            host => format!("-d {host}/32 "),
        };
        for i in 0..p.range.max(1) {
            let (host_port, port) = (p.host_port + i, p.container_port + i);
            out.push((
                "nat",
                format!(
                    "{CHAIN} {dest}-p {proto} -m {proto} --dport {host_port} -j DNAT --to-destination {ip}:{port}"
                ),
            ));
            out.push((
                "filter",
                format!(
                    "FORWARD -d {ip}/32 ! -i {bridge} -o {bridge} -p {proto} -m {proto} --dport {port} -j ACCEPT"
                ),
            ));
        }
    }
    out
}

/// The `iptables-restore` input that adds (`-A` DNAT, `-I` FORWARD, ahead of any drop) or
/// deletes the rules.
fn batch(bridge: &str, ip: Ipv4Addr, ports: &[PortMapping], add: bool) -> String {
    let all = rules(bridge, ip, ports);
    let mut text = String::new();
    for table in ["nat", "filter"] {
        text.push_str(&format!("*{table}\n"));
        for (_, line) in all.iter().filter(|(t, _)| *t == table) {
            let op = match (add, table) {
                (false, _) => "-D",
                (true, "nat") => "-A",
                (true, _) => "-I",
            };
            text.push_str(&format!("{op} {line}\n"));
        }
        text.push_str("COMMIT\n");
    }
    text
}

async fn restore(input: &str) -> Result<()> {
    let mut child = tokio::process::Command::new("iptables-restore")
        .args(["-w", "--noflush"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::internal(format!("running iptables-restore: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).await?;
    }
    let out = child.wait_with_output().await?;
    if !out.status.success() {
        return Err(Error::internal(format!(
            "iptables-restore: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(host_ip: &str, host_port: u16, port: u16, protocol: &str) -> PortMapping {
        PortMapping {
            host_ip: host_ip.into(),
            container_port: port,
            host_port,
            range: 1,
            protocol: protocol.into(),
        }
    }

    #[test]
    fn a_batch_adds_dnat_and_forward_rules_per_port() {
        let ip = Ipv4Addr::new(10, 1, 2, 3);
        let ports = [
            mapping("127.0.0.1", 32768, 8080, "tcp"),
            mapping("", 5353, 53, "udp"),
        ];
        assert_eq!(
            batch("br0", ip, &ports, true),
            "*nat\n\
             -A BERTH-PORTS -d 127.0.0.1/32 -p tcp -m tcp --dport 32768 -j DNAT --to-destination 10.1.2.3:8080\n\
             -A BERTH-PORTS -p udp -m udp --dport 5353 -j DNAT --to-destination 10.1.2.3:53\n\
             COMMIT\n\
             *filter\n\
             -I FORWARD -d 10.1.2.3/32 ! -i br0 -o br0 -p tcp -m tcp --dport 8080 -j ACCEPT\n\
             -I FORWARD -d 10.1.2.3/32 ! -i br0 -o br0 -p udp -m udp --dport 53 -j ACCEPT\n\
             COMMIT\n"
        );
        assert!(
            batch("br0", ip, &ports, false)
                .lines()
                .filter(|l| l.starts_with('-'))
                .all(|l| l.starts_with("-D "))
        );
    }

    #[test]
    fn ipv6_host_addresses_are_left_to_netavark() {
        assert!(supported(&[
            mapping("", 1, 1, "tcp"),
            mapping("127.0.0.1", 2, 2, "tcp")
        ]));
        assert!(!supported(&[mapping("::1", 1, 1, "tcp")]));
    }
}
