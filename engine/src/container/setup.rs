//! Per-container files and facts resolved at create/start: the image config merge, the
//! files bind-mounted into the container (hostname, hosts, resolv.conf), and user lookup.

use std::path::Path;

use super::spec::{HostConfig, ThrottleDevice, Ulimit};

use crate::{Error, Result};

/// The hosts file dockerd writes for a container without a network endpoint.
pub fn hosts_file(hostname: &str, with_self: bool) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    if with_self {
        s.push_str(&format!("127.0.1.1\t{hostname}\n"));
    }
    s
}

/// A container's resolv.conf, from the host's (`/etc/resolv.conf`), its `--dns`,
/// `--dns-search` and `--dns-option`, and `resolver`: the network's DNS server on a
/// user-defined network (aardvark-dns on the gateway, where dockerd puts its embedded DNS).
pub fn resolv_conf(resolver: Option<&str>, host_config: &HostConfig) -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    build_resolv_conf(
        &host,
        resolver,
        super::spec::list(&host_config.dns),
        super::spec::list(&host_config.dns_search),
        super::spec::list(&host_config.dns_options),
    )
}

/// See [`resolv_conf`]. As dockerd builds it: with nothing given and no resolver, the
/// host's file without its loopback nameservers (unreachable from a container); otherwise
/// `search`, `nameserver` and `options` lines, each part taken from what was given or else
/// from the host, with the resolver as the only nameserver, and `ndots:0` unless an ndots
/// option was given.
pub fn build_resolv_conf(
    host: &str,
    resolver: Option<&str>,
    servers: &[String],
    search: &[String],
    options: &[String],
) -> String {
    let loopback = |ip: &str| ip.starts_with("127.") || ip == "::1";
    // The words after `key` on the host's lines that start with it.
    let words_of = |key: &str| -> Vec<String> {
        host.lines()
            .map(|l| l.split_whitespace())
            .filter_map(|mut w| (w.next() == Some(key)).then_some(w))
            .flatten()
            .map(str::to_string)
            .collect()
    };
    if resolver.is_none() && servers.is_empty() && search.is_empty() && options.is_empty() {
        let kept: Vec<&str> = host
            .lines()
            .filter(|l| {
                let mut w = l.split_whitespace();
                !(w.next() == Some("nameserver") && w.next().is_some_and(loopback))
            })
            .collect();
        let mut out = kept.join("\n");
        out.push('\n');
        return out;
    }
    let search = if search.is_empty() {
        words_of("search")
    } else if search == ["."] {
        vec![]
    } else {
        search.to_vec()
    };
    let servers = match resolver {
        Some(r) => vec![r.to_string()],
        None if servers.is_empty() => words_of("nameserver")
            .into_iter()
            .filter(|ip| !loopback(ip))
            .collect(),
        None => servers.to_vec(),
    };
    let mut options = if options.is_empty() {
        words_of("options")
    } else {
        options.to_vec()
    };
    if resolver.is_some() && !options.iter().any(|o| o.starts_with("ndots:")) {
        options.push("ndots:0".into());
    }
    let mut out = String::new();
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    for server in servers {
        out.push_str(&format!("nameserver {server}\n"));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

/// Directories of an overlay mount, top first (upper, then lowers), for reading image files
/// such as /etc/passwd without mounting.
pub fn overlay_dirs(options: &[String]) -> Vec<std::path::PathBuf> {
    let mut dirs = Vec::new();
    for o in options {
        if let Some(u) = o.strip_prefix("upperdir=") {
            dirs.insert(0, u.into());
        }
    }
    for o in options {
        if let Some(l) = o.strip_prefix("lowerdir=") {
            dirs.extend(l.split(':').map(std::path::PathBuf::from));
        }
    }
    dirs
}

fn read_first(dirs: &[std::path::PathBuf], rel: &str) -> Option<String> {
    dirs.iter()
        .find_map(|d| std::fs::read_to_string(d.join(rel)).ok())
}

/// Resolves `user[:group]` (names or numbers) against the image's /etc/passwd and
/// /etc/group, with moby's messages for unknown names.
pub fn resolve_user(user: &str, dirs: &[std::path::PathBuf]) -> Result<(u32, u32, Vec<u32>)> {
    let user = if user.is_empty() { "0" } else { user };
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let passwd = read_first(dirs, "etc/passwd").unwrap_or_default();
    let group = read_first(dirs, "etc/group").unwrap_or_default();
    let entry = passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 4 && (f[0] == u || f[2] == u))
            .then(|| (f[2].parse::<u32>().ok(), f[3].parse::<u32>().ok()))
    });
    let (uid, mut gid) = match (u.parse::<u32>(), entry) {
        (_, Some((Some(uid), Some(gid)))) => (uid, gid),
        (Ok(uid), _) => (uid, 0),
        _ => {
            return Err(Error::invalid(format!(
                "unable to find user {u}: no matching entries in passwd file"
            )));
        }
    };
    if let Some(g) = g {
        gid = group_id(&group, g).ok_or_else(|| {
            Error::invalid(format!(
                "unable to find group {g}: no matching entries in group file"
            ))
        })?;
    }
    // Supplementary groups: the primary one, then those listing the user as a member, as
    // runc's user lookup gives them to dockerd.
    let user_name = passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 3 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[0].to_string())
    });
    let mut groups = vec![gid];
    if let Some(name) = user_name {
        for l in group.lines() {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() >= 4
                && f[3].split(',').any(|m| m == name)
                && let Ok(g) = f[2].parse::<u32>()
                && !groups.contains(&g)
            {
                groups.push(g);
            }
        }
    }
    Ok((uid, gid, groups))
}

/// A group given by number, or by name looked up in the text of an /etc/group file.
fn group_id(group_file: &str, g: &str) -> Option<u32> {
    g.parse::<u32>().ok().or_else(|| {
        group_file.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 3 && f[0] == g)
                .then(|| f[2].parse::<u32>().ok())
                .flatten()
        })
    })
}

/// `GroupAdd` entries (names or numbers) as gids, from the image's /etc/group.
pub fn resolve_groups(groups: &[String], dirs: &[std::path::PathBuf]) -> Result<Vec<u32>> {
    let group = read_first(dirs, "etc/group").unwrap_or_default();
    groups
        .iter()
        .map(|g| {
            group_id(&group, g).ok_or_else(|| {
                Error::invalid(format!(
                    "Unable to find group {g}: no matching entries in group file"
                ))
            })
        })
        .collect()
}

/// Creates `WorkingDir` in the container's writable layer when no layer has it, as dockerd
/// does before start (runc would refuse to chdir into a missing directory).
pub fn ensure_working_dir(dir: &str, dirs: &[std::path::PathBuf]) -> Result<()> {
    let rel = dir.trim_start_matches('/');
    if rel.is_empty() || rel.split('/').any(|c| c == "..") {
        return Ok(());
    }
    if dirs.iter().any(|d| d.join(rel).exists()) {
        return Ok(());
    }
    if let Some(upper) = dirs.first() {
        std::fs::create_dir_all(upper.join(rel))
            .map_err(|e| Error::internal(format!("cannot create working directory {dir}: {e}")))?;
    }
    Ok(())
}

/// `Ulimits` as runtime-spec rlimits (`nofile` → `RLIMIT_NOFILE`).
pub fn rlimits(ulimits: &Option<Vec<Ulimit>>) -> Result<Vec<oci_spec::runtime::PosixRlimit>> {
    ulimits
        .iter()
        .flatten()
        .map(|u| {
            let name = u.name.as_deref().unwrap_or("");
            let (soft, hard) = (u.soft.unwrap_or(0), u.hard.unwrap_or(0));
            if name.is_empty() || soft < 0 || hard < 0 {
                return Err(Error::invalid(format!(
                    "invalid ulimit: {}",
                    serde_json::to_string(u).unwrap_or_default()
                )));
            }
            if soft > hard {
                return Err(Error::invalid(format!(
                    "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
                )));
            }
            crate::oci::rlimit(
                &format!("RLIMIT_{}", name.to_ascii_uppercase()),
                soft as u64,
                hard as u64,
            )
            .map_err(Error::invalid)
        })
        .collect()
}

/// The static init (`--init`): Debian's tini-static, as dockerd uses docker-init.
pub fn init_binary() -> Result<String> {
    [
        "/usr/bin/tini-static",
        "/usr/bin/docker-init",
        "/usr/libexec/docker/docker-init",
    ]
    .iter()
    .find(|p| Path::new(p).is_file())
    .map(|p| p.to_string())
    .ok_or_else(|| {
        Error::invalid("--init needs tini-static: install it with `apt-get install tini`")
    })
}

pub fn write_file(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents)
        .map_err(|e| Error::internal(format!("cannot write {}: {e}", path.display())))
}

/// What `HostConfig.SecurityOpt` asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecurityOptions {
    pub no_new_privileges: bool,
    /// `seccomp=unconfined`: no seccomp filter.
    pub seccomp_unconfined: bool,
}

/// Reads `SecurityOpt` entries the way dockerd does (`key=value`, or the deprecated
/// `key:value`), with its error texts. A custom seccomp profile is refused: Berth applies
/// Docker's default profile or none.
pub fn security_options(opts: &[String]) -> crate::Result<SecurityOptions> {
    let mut out = SecurityOptions::default();
    let go_bool = |v: &str| match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    };
    for opt in opts {
        if opt == "no-new-privileges" {
            out.no_new_privileges = true;
            continue;
        }
        if opt == "disable" {
            continue;
        }
        let split = opt.split_once('=').or_else(|| opt.split_once(':'));
        let Some((key, value)) = split else {
            return Err(crate::Error::invalid(format!(
                "invalid --security-opt 1: {opt:?}"
            )));
        };
        let invalid = || crate::Error::invalid(format!("invalid --security-opt 2: {opt:?}"));
        match key {
            // SELinux labels and AppArmor profiles: neither is enforced on this host.
            "label" | "apparmor" => {}
            "seccomp" if value == "unconfined" => out.seccomp_unconfined = true,
            "seccomp" => {
                return Err(crate::Error::invalid(
                    "custom seccomp profiles are not supported by berthd yet; use seccomp=unconfined or leave Docker's default profile in place",
                ));
            }
            "no-new-privileges" => out.no_new_privileges = go_bool(value).ok_or_else(invalid)?,
            "writable-cgroups" => {
                go_bool(value).ok_or_else(invalid)?;
            }
            _ => return Err(invalid()),
        }
    }
    Ok(out)
}

/// The host config's resource limits as this host can apply them (no swap limit where the
/// kernel does not account swap).
pub fn resources(host_config: &HostConfig) -> Result<crate::oci::Resources> {
    let mut r = crate::oci::Resources::from_host_config(host_config);
    if !crate::system::swap_limit_supported() {
        r.memory_swap = 0;
    }
    let device = |path: &Option<String>, value: u64| -> Result<crate::oci::DeviceLimit> {
        let (major, minor) = device_number(path.as_deref().unwrap_or_default())?;
        Ok(crate::oci::DeviceLimit {
            major,
            minor,
            value,
        })
    };
    let rates = |list: &Option<Vec<ThrottleDevice>>| -> Result<Vec<crate::oci::DeviceLimit>> {
        list.iter()
            .flatten()
            .map(|d| device(&d.path, d.rate.unwrap_or(0)))
            .collect()
    };
    r.block_devices = crate::oci::BlockDeviceLimits {
        weight: host_config
            .blkio_weight_device
            .iter()
            .flatten()
            .map(|d| device(&d.path, u64::from(d.weight.unwrap_or(0))))
            .collect::<Result<_>>()?,
        read_bps: rates(&host_config.blkio_device_read_bps)?,
        write_bps: rates(&host_config.blkio_device_write_bps)?,
        read_iops: rates(&host_config.blkio_device_read_iops)?,
        write_iops: rates(&host_config.blkio_device_write_iops)?,
    };
    Ok(r)
}

/// The major and minor number of the device at `path`, as moby reads them (`stat`; a
/// failure is moby's untyped error, a 500).
fn device_number(path: &str) -> Result<(i64, i64)> {
    let st = nix::sys::stat::stat(path)
        .map_err(|e| Error::internal(format!("stat {path}: {}", e.desc().to_lowercase())))?;
    let rdev = st.st_rdev;
    Ok((
        nix::sys::stat::major(rdev) as i64,
        nix::sys::stat::minor(rdev) as i64,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn security_options_read_like_dockerd() {
        let opts = |v: &[&str]| {
            super::security_options(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        assert!(opts(&["no-new-privileges"]).unwrap().no_new_privileges);
        assert!(opts(&["no-new-privileges=true"]).unwrap().no_new_privileges);
        assert!(
            !opts(&["no-new-privileges:false"])
                .unwrap()
                .no_new_privileges
        );
        assert!(opts(&["seccomp=unconfined"]).unwrap().seccomp_unconfined);
        assert!(opts(&["seccomp:unconfined"]).unwrap().seccomp_unconfined);
        assert!(opts(&["label=disable", "apparmor=unconfined"]).is_ok());
        assert_eq!(
            opts(&["no-new-privileges=maybe"]).unwrap_err().message,
            "invalid --security-opt 2: \"no-new-privileges=maybe\""
        );
        assert_eq!(
            opts(&["bogus"]).unwrap_err().message,
            "invalid --security-opt 1: \"bogus\""
        );
        assert_eq!(
            opts(&["foo=bar"]).unwrap_err().message,
            "invalid --security-opt 2: \"foo=bar\""
        );
        assert!(opts(&["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}"]).is_err());
    }

    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    const HOST: &str = "# generated\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp.test\noptions edns0\n";

    #[test]
    fn resolv_conf_is_the_hosts_without_loopback_when_nothing_is_given() {
        assert_eq!(
            build_resolv_conf(HOST, None, &[], &[], &[]),
            "# generated\nnameserver 10.0.0.2\nsearch corp.test\noptions edns0\n"
        );
    }

    #[test]
    fn resolv_conf_takes_each_given_part_and_the_hosts_for_the_rest() {
        assert_eq!(
            build_resolv_conf(
                HOST,
                None,
                &strings(&["10.1.2.3"]),
                &[],
                &strings(&["ndots:3"])
            ),
            "search corp.test\nnameserver 10.1.2.3\noptions ndots:3\n"
        );
        assert_eq!(
            build_resolv_conf(HOST, None, &[], &strings(&["a.test"]), &[]),
            "search a.test\nnameserver 10.0.0.2\noptions edns0\n"
        );
        assert_eq!(
            build_resolv_conf(HOST, None, &[], &strings(&["."]), &[]),
            "nameserver 10.0.0.2\noptions edns0\n"
        );
    }

    #[test]
    fn resolv_conf_on_a_user_network_names_only_its_resolver_with_ndots_0() {
        assert_eq!(
            build_resolv_conf("nameserver 10.0.0.2\n", Some("172.18.0.1"), &[], &[], &[]),
            "nameserver 172.18.0.1\noptions ndots:0\n"
        );
        assert_eq!(
            build_resolv_conf(
                HOST,
                Some("172.18.0.1"),
                &strings(&["10.1.2.3"]),
                &strings(&["a.test"]),
                &strings(&["timeout:2"])
            ),
            "search a.test\nnameserver 172.18.0.1\noptions timeout:2 ndots:0\n"
        );
        assert_eq!(
            build_resolv_conf(HOST, Some("172.18.0.1"), &[], &[], &strings(&["ndots:2"])),
            "search corp.test\nnameserver 172.18.0.1\noptions ndots:2\n"
        );
    }

    #[test]
    fn users_resolve_from_passwd() {
        let dir = std::env::temp_dir().join(format!("berth-user-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::write(
            dir.join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
        )
        .unwrap();
        std::fs::write(dir.join("etc/group"), "root:x:0:\nwheel:x:10:root\n").unwrap();
        let dirs = vec![dir.clone()];
        assert_eq!(
            resolve_user("nobody", &dirs).unwrap(),
            (65534, 65534, vec![65534])
        );
        assert_eq!(
            resolve_user("1000:wheel", &dirs).unwrap(),
            (1000, 10, vec![10])
        );
        assert_eq!(resolve_user("", &dirs).unwrap(), (0, 0, vec![0, 10]));
        assert!(resolve_user("ghost", &dirs).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn resolv_conf_drops_loopback_servers() {
        // Only the filter is tested here; the host file varies.
        assert!(hosts_file("h", true).contains("127.0.1.1\th\n"));
    }
}
