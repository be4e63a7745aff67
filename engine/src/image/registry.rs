//! Which registries are spoken to over plain HTTP: dockerd's insecure-registry rules
//! (`--insecure-registry` names a `host[:port]` or a CIDR; loopback is always insecure).

use std::net::IpAddr;

/// An IP range, as `10.1.0.0/16`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = s.split_once('/')?;
        let addr: IpAddr = addr.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then(|| Cidr {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 address written as IPv6 (::ffff:a.b.c.d) is matched as IPv4.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            IpAddr::V6((bits & m).into())
        }
    }
}

/// The daemon's registry settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryPolicy {
    /// Ranges whose registries are insecure: the configured ones, then loopback.
    cidrs: Vec<Cidr>,
    /// `host[:port]` names marked insecure.
    hosts: Vec<String>,
}

impl Default for RegistryPolicy {
    fn default() -> Self {
        RegistryPolicy::parse(&[]).0.expect("loopback ranges parse")
    }
}

impl RegistryPolicy {
    /// Reads `--insecure-registry` values; returns the policy and warnings to log. An
    /// invalid value is refused with dockerd's sentence.
    pub fn parse(values: &[String]) -> (Result<RegistryPolicy, String>, Vec<String>) {
        let mut warnings = Vec::new();
        let mut cidrs = Vec::new();
        let mut hosts = Vec::new();
        for value in values {
            let mut v = value.as_str();
            for scheme in ["http://", "https://"] {
                if v.to_ascii_lowercase().starts_with(scheme) {
                    warnings.push(format!(
                        "insecure registry {v} should not contain '{scheme}' and '{scheme}' has been removed from the insecure registry config"
                    ));
                    v = &v[scheme.len()..];
                }
            }
            if let Some(cidr) = Cidr::parse(v) {
                if !cidrs.contains(&cidr) {
                    cidrs.push(cidr);
                }
                continue;
            }
            if let Err(why) = validate_host_port(v) {
                return (
                    Err(format!("insecure registry {v} is not valid: {why}")),
                    warnings,
                );
            }
            if !hosts.iter().any(|h| h == v) {
                hosts.push(v.to_string());
            }
        }
        for loopback in ["127.0.0.0/8", "::1/128"] {
            let cidr = Cidr::parse(loopback).expect("a valid range");
            if !cidrs.contains(&cidr) {
                cidrs.push(cidr);
            }
        }
        (Ok(RegistryPolicy { cidrs, hosts }), warnings)
    }

    /// `RegistryConfig.InsecureRegistryCIDRs` of `/info`.
    pub fn insecure_cidrs(&self) -> Vec<String> {
        self.cidrs.iter().map(Cidr::to_string).collect()
    }

    /// Registries marked insecure by name (`RegistryConfig.IndexConfigs` of `/info`).
    pub fn insecure_hosts(&self) -> &[String] {
        &self.hosts
    }

    /// Whether `host[:port]` is reached over plain HTTP: named insecure, or an address in
    /// an insecure range (names are resolved, as dockerd does).
    pub async fn is_insecure(&self, host_port: &str) -> bool {
        if self.hosts.iter().any(|h| h == host_port) {
            return true;
        }
        let host = split_host(host_port);
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            return self.cidrs.iter().any(|c| c.contains(ip));
        }
        if host == "localhost" {
            return true;
        }
        match tokio::net::lookup_host((host, 0)).await {
            Ok(addrs) => addrs
                .into_iter()
                .any(|a| self.cidrs.iter().any(|c| c.contains(a.ip()))),
            Err(_) => false,
        }
    }
}

/// The host part of `host[:port]` (IPv6 literals in brackets keep them).
fn split_host(host_port: &str) -> &str {
    if host_port.starts_with('[') {
        return host_port
            .find(']')
            .map_or(host_port, |end| &host_port[..=end]);
    }
    host_port.rsplit_once(':').map_or(host_port, |(h, _)| h)
}

fn validate_host_port(v: &str) -> Result<(), String> {
    let (host, port) = if v.starts_with('[') {
        match v.find(']') {
            Some(end) => (&v[..=end], v[end + 1..].strip_prefix(':')),
            None => (v, None),
        }
    } else {
        match v.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (v, None),
        }
    };
    let ip_literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok());
    let name_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if !ip_literal && !name_ok {
        return Err(format!("invalid host {host:?}"));
    }
    if let Some(port) = port
        && port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(format!("invalid port {port:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(values: &[&str]) -> RegistryPolicy {
        let values: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        RegistryPolicy::parse(&values).0.unwrap()
    }

    #[test]
    fn configured_ranges_come_before_loopback() {
        let p = policy(&["10.1.0.0/16", "myreg:5000", "http://other.example"]);
        assert_eq!(
            p.insecure_cidrs(),
            ["10.1.0.0/16", "127.0.0.0/8", "::1/128"]
        );
        assert_eq!(p.insecure_hosts(), ["myreg:5000", "other.example"]);
    }

    #[test]
    fn invalid_values_get_dockerds_sentence() {
        let err = |v: &str| RegistryPolicy::parse(&[v.to_string()]).0.unwrap_err();
        assert_eq!(
            err("bad value!"),
            "insecure registry bad value! is not valid: invalid host \"bad value!\""
        );
        assert_eq!(
            err("10.0.0.300/8"),
            "insecure registry 10.0.0.300/8 is not valid: invalid host \"10.0.0.300/8\""
        );
        assert_eq!(
            err("x:99999"),
            "insecure registry x:99999 is not valid: invalid port \"99999\""
        );
        assert_eq!(
            err("http://"),
            "insecure registry  is not valid: invalid host \"\""
        );
    }

    #[test]
    fn ranges_match_addresses_inside_them() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.0.9".parse().unwrap()));
        assert_eq!(
            Cidr::parse("10.1.2.3/16").unwrap().to_string(),
            "10.1.0.0/16"
        );
        assert!(Cidr::parse("10.1.2.3/33").is_none());
    }

    #[tokio::test]
    async fn loopback_and_named_registries_are_insecure() {
        let p = policy(&["myreg:5000", "10.9.0.0/16"]);
        assert!(p.is_insecure("127.0.0.1:5000").await);
        assert!(p.is_insecure("localhost:5000").await);
        assert!(p.is_insecure("[::1]:5000").await);
        assert!(p.is_insecure("myreg:5000").await);
        assert!(p.is_insecure("10.9.3.4").await);
        assert!(!p.is_insecure("10.8.0.1:443").await);
    }
}
