//! IPv4 and IPv6 subnets and address allocation: parsing `10.1.0.0/16`, picking a free pool for a new
//! network, and handing out addresses inside a subnet (or its `IPRange`).

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

/// An IPv4 network: address and prefix length (the address may have host bits set, as a
/// gateway's `172.18.0.1/16` does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Net {
    pub fn parse(s: &str) -> Option<Ipv4Net> {
        let (a, p) = s.split_once('/')?;
        let prefix: u8 = p.parse().ok()?;
        (prefix <= 32).then_some(())?;
        Some(Ipv4Net {
            addr: a.parse().ok()?,
            prefix,
        })
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    /// The network address (host bits cleared).
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr) & self.mask()
    }

    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        self.contains(other.network()) || other.contains(self.network())
    }

    /// The first usable address: the usual gateway.
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network()) + 1)
    }
}

impl std::fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network(), self.prefix)
    }
}

/// dockerd's default address pools: 172.17–31.0.0/16, then 192.168.0.0/16 in /20s.
pub fn default_pools() -> Vec<Ipv4Net> {
    let mut out: Vec<Ipv4Net> = (17..=31)
        .map(|b| Ipv4Net {
            addr: Ipv4Addr::new(172, b, 0, 0),
            prefix: 16,
        })
        .collect();
    out.extend((0..16).map(|i| Ipv4Net {
        addr: Ipv4Addr::new(192, 168, i * 16, 0),
        prefix: 20,
    }));
    out
}

/// `--default-address-pool base=10.10.0.0/16,size=24`: the base cut into networks of that
/// size.
pub fn parse_pool(spec: &str) -> Option<Vec<Ipv4Net>> {
    let mut base = None;
    let mut size = None;
    for part in spec.split(',') {
        match part.split_once('=')? {
            ("base", b) => base = Ipv4Net::parse(b),
            ("size", n) => size = n.parse::<u8>().ok(),
            _ => return None,
        }
    }
    let (base, size) = (base?, size?);
    if size < base.prefix || size > 30 {
        return None;
    }
    let count = 1u64 << (size - base.prefix);
    let step = 1u64 << (32 - size);
    Some(
        (0..count.min(65536))
            .map(|i| Ipv4Net {
                addr: Ipv4Addr::from((u64::from(u32::from(base.network())) + i * step) as u32),
                prefix: size,
            })
            .collect(),
    )
}

/// Routes of the host (from /proc/net/route), so a new network never hides a subnet the
/// host already reaches (a docker0 among them).
pub fn host_routes() -> Vec<Ipv4Net> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            // Little-endian hex as the kernel prints it; the default route is skipped.
            let dest = Ipv4Addr::from(dest.swap_bytes());
            let prefix = mask.count_ones() as u8;
            (prefix > 0).then_some(Ipv4Net { addr: dest, prefix })
        })
        .collect()
}

/// The first pool that overlaps none of `taken`.
pub fn pick_pool(pools: &[Ipv4Net], taken: &[Ipv4Net]) -> Option<Ipv4Net> {
    pools
        .iter()
        .find(|p| !taken.iter().any(|t| t.overlaps(p)))
        .copied()
}

/// The lowest address of `range` (inside `subnet`) that is not the network, broadcast,
/// gateway or in `used`.
pub fn next_free(
    subnet: &Ipv4Net,
    range: Option<&Ipv4Net>,
    gateway: Ipv4Addr,
    used: &BTreeSet<Ipv4Addr>,
) -> Option<Ipv4Addr> {
    let area = range.unwrap_or(subnet);
    let first = u32::from(area.network()).max(u32::from(subnet.network()) + 1);
    let last = u32::from(area.broadcast()).min(u32::from(subnet.broadcast()) - 1);
    (first..=last)
        .map(Ipv4Addr::from)
        .find(|ip| *ip != gateway && !used.contains(ip))
}

/// An IPv6 network: address and prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Net {
    pub addr: Ipv6Addr,
    pub prefix: u8,
}

impl Ipv6Net {
    pub fn parse(s: &str) -> Option<Ipv6Net> {
        let (a, p) = s.split_once('/')?;
        let prefix: u8 = p.parse().ok()?;
        (prefix <= 128).then_some(())?;
        Some(Ipv6Net {
            addr: a.parse().ok()?,
            prefix,
        })
    }

    fn mask(&self) -> u128 {
        if self.prefix == 0 {
            0
        } else {
            u128::MAX << (128 - self.prefix)
        }
    }

    pub fn network(&self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.addr) & self.mask())
    }

    fn last(&self) -> u128 {
        u128::from(self.addr) | !self.mask()
    }

    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        u128::from(ip) & self.mask() == u128::from(self.addr) & self.mask()
    }

    pub fn overlaps(&self, other: &Ipv6Net) -> bool {
        self.contains(other.network()) || other.contains(self.network())
    }

    /// The first address after the network's: the usual gateway.
    pub fn first_host(&self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.network()) + 1)
    }
}

impl std::fmt::Display for Ipv6Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network(), self.prefix)
    }
}

/// The lowest address of `range` (inside `subnet`) past the network address that is not
/// the gateway or in `used`; the search looks at the first 65536 candidates only.
pub fn next_free6(
    subnet: &Ipv6Net,
    range: Option<&Ipv6Net>,
    gateway: Ipv6Addr,
    used: &BTreeSet<Ipv6Addr>,
) -> Option<Ipv6Addr> {
    let area = range.unwrap_or(subnet);
    let first = u128::from(area.network()).max(u128::from(subnet.network()) + 1);
    let last = area
        .last()
        .min(subnet.last())
        .min(first.saturating_add(65_535));
    (first..=last)
        .map(Ipv6Addr::from)
        .find(|ip| *ip != gateway && !used.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_subnets_and_addresses() {
        let s = Ipv6Net::parse("2001:389::/64").unwrap();
        assert_eq!(s.to_string(), "2001:389::/64");
        assert_eq!(s.first_host(), "2001:389::1".parse::<Ipv6Addr>().unwrap());
        assert!(s.contains("2001:389::f00d".parse().unwrap()));
        assert!(!s.contains("2001:38a::1".parse().unwrap()));
        let gw: Ipv6Addr = "2001:389::ffff".parse().unwrap();
        let range = Ipv6Net::parse("2001:389::0/96").unwrap();
        let mut used = BTreeSet::new();
        let first = next_free6(&s, Some(&range), gw, &used).unwrap();
        assert_eq!(first, "2001:389::1".parse::<Ipv6Addr>().unwrap());
        used.insert(first);
        assert_eq!(
            next_free6(&s, Some(&range), gw, &used),
            Some("2001:389::2".parse().unwrap())
        );
        assert!(Ipv6Net::parse("2001:389::/129").is_none());
    }

    #[test]
    fn subnets_parse_and_overlap() {
        let a = Ipv4Net::parse("172.18.0.0/16").unwrap();
        let b = Ipv4Net::parse("172.18.5.0/24").unwrap();
        let c = Ipv4Net::parse("172.19.0.0/16").unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a) && !a.overlaps(&c));
        assert_eq!(
            Ipv4Net::parse("10.1.2.3/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert!(Ipv4Net::parse("10.0.0.0/33").is_none());
        let taken = [Ipv4Net::parse("172.17.0.0/16").unwrap(), a];
        assert_eq!(pick_pool(&default_pools(), &taken), Some(c));
    }

    #[test]
    fn address_pools_are_cut_from_their_base() {
        let p = parse_pool("base=10.10.0.0/16,size=24").unwrap();
        assert_eq!(p.len(), 256);
        assert_eq!(p[1].to_string(), "10.10.1.0/24");
        assert!(parse_pool("base=10.10.0.0/16,size=8").is_none());
        assert!(parse_pool("size=24").is_none());
    }

    #[test]
    fn addresses_skip_the_gateway_and_used_ones() {
        let s = Ipv4Net::parse("10.9.0.0/29").unwrap();
        let gw = s.first_host();
        let mut used = BTreeSet::new();
        assert_eq!(
            next_free(&s, None, gw, &used),
            Some(Ipv4Addr::new(10, 9, 0, 2))
        );
        used.insert(Ipv4Addr::new(10, 9, 0, 2));
        assert_eq!(
            next_free(&s, None, gw, &used),
            Some(Ipv4Addr::new(10, 9, 0, 3))
        );
        for i in 3..=6 {
            used.insert(Ipv4Addr::new(10, 9, 0, i));
        }
        assert_eq!(next_free(&s, None, gw, &used), None);
        let range = Ipv4Net::parse("10.9.0.4/30").unwrap();
        assert_eq!(
            next_free(&s, Some(&range), gw, &BTreeSet::new()),
            Some(Ipv4Addr::new(10, 9, 0, 4))
        );
    }
}
