//! The resource limits a create or update may ask for, checked as moby checks them before
//! anything is made: ranges, combinations that contradict each other, and CPUs or memory
//! nodes this host does not have. A limit the kernel would refuse later is a 400 here, not
//! a 500 from runc.

use std::collections::BTreeSet;

use super::spec::HostConfig;
use crate::oci::Resources;
use crate::{Error, Result};

/// The smallest memory limit or reservation moby accepts, in bytes.
const MIN_MEMORY_BYTES: i64 = 6 * 1024 * 1024;

/// What this host offers, as the checks need it.
pub struct HostCpus {
    /// CPUs this process may run on.
    pub count: usize,
    /// The root cpuset's lists as the kernel writes them (`0-1`), when readable.
    pub cpus: Option<String>,
    pub mems: Option<String>,
}

impl HostCpus {
    /// What the host offers, read once per daemon (moby reads its sysinfo once at start
    /// too), so a create pays no syscalls or file reads for it.
    pub fn host() -> &'static HostCpus {
        static HOST: std::sync::OnceLock<HostCpus> = std::sync::OnceLock::new();
        HOST.get_or_init(HostCpus::probe)
    }

    fn probe() -> HostCpus {
        let count = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))
            .map(|set| {
                (0..nix::sched::CpuSet::count())
                    .filter(|i| set.is_set(*i).unwrap_or(false))
                    .count()
            })
            .unwrap_or(1)
            .max(1);
        let read = |file: &str| {
            let path = if crate::system::cgroup_v2() {
                format!("/sys/fs/cgroup/{file}.effective")
            } else {
                format!("/sys/fs/cgroup/cpuset/{file}")
            };
            std::fs::read_to_string(path)
                .ok()
                .map(|s| s.trim().to_string())
        };
        HostCpus {
            count,
            cpus: read("cpuset.cpus"),
            mems: read("cpuset.mems"),
        }
    }
}

/// A cpuset list (`0-3,5`) as numbers; `None` when it is not one.
fn parse_list(list: &str) -> Option<BTreeSet<u32>> {
    let mut out = BTreeSet::new();
    if list.is_empty() {
        return Some(out);
    }
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if b < a {
                    return None;
                }
                out.extend(a..=b);
            }
            None => {
                out.insert(part.parse().ok()?);
            }
        }
    }
    Some(out)
}

/// `CpusetCpus` or `CpusetMems` against what the host has (`what` is `cpus` or `mems`).
fn check_cpuset(requested: &str, available: Option<&str>, what: &str) -> Result<()> {
    if requested.is_empty() {
        return Ok(());
    }
    let Some(wanted) = parse_list(requested) else {
        return Err(Error::invalid(format!(
            "Invalid value {requested} for cpuset {what}: invalid format: {requested}"
        )));
    };
    let Some(available) = available else {
        return Ok(());
    };
    let have = parse_list(available).unwrap_or_default();
    if !wanted.is_subset(&have) {
        let noun = if what == "cpus" {
            "CPUs"
        } else {
            "memory nodes"
        };
        return Err(Error::invalid(format!(
            "Requested {noun} are not available - requested {requested}, available: {available}"
        )));
    }
    Ok(())
}

/// Checks the limits of a host config. `update` relaxes what only create requires (a swap
/// limit may be changed alone).
pub fn validate(host: &HostConfig, update: bool, cpus: &HostCpus) -> Result<()> {
    let r = Resources::from_host_config(host);
    check(&r, update, cpus)?;
    if let Some(swappiness) = host.memory_swappiness
        && swappiness != -1
        && !(0..=100).contains(&swappiness)
    {
        return Err(Error::invalid(format!(
            "Invalid value: {swappiness}, valid memory swappiness range is 0-100"
        )));
    }
    let oom = host.oom_score_adj.unwrap_or(0);
    if !(-1000..=1000).contains(&oom) {
        return Err(Error::invalid(format!(
            "Invalid value {oom}, range for oom score adj is [-1000, 1000]"
        )));
    }
    Ok(())
}

fn check(r: &Resources, update: bool, cpus: &HostCpus) -> Result<()> {
    let fail = |m: &str| Err(Error::invalid(m));
    if r.memory != 0 && r.memory < MIN_MEMORY_BYTES {
        return fail("Minimum memory limit allowed is 6MB");
    }
    if r.memory > 0 && r.memory_swap > 0 && r.memory_swap < r.memory {
        return fail("Minimum memoryswap limit should be larger than memory limit, see usage");
    }
    if r.memory == 0 && r.memory_swap > 0 && !update {
        return fail(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        );
    }
    if r.memory_reservation > 0 && r.memory_reservation < MIN_MEMORY_BYTES {
        return fail("Minimum memory reservation allowed is 6MB");
    }
    if r.memory > 0 && r.memory_reservation > 0 && r.memory < r.memory_reservation {
        return fail(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        );
    }
    if r.nano_cpus > 0 && r.cpu_period > 0 {
        return fail("Conflicting options: Nano CPUs and CPU Period cannot both be set");
    }
    if r.nano_cpus > 0 && r.cpu_quota > 0 {
        return fail("Conflicting options: Nano CPUs and CPU Quota cannot both be set");
    }
    let count = cpus.count as i64;
    if r.nano_cpus < 0 || r.nano_cpus > count * 1_000_000_000 {
        return Err(Error::invalid(format!(
            "Range of CPUs is from 0.01 to {count}.00, as there are only {count} CPUs available"
        )));
    }
    if r.cpu_period != 0 && !(1000..=1_000_000).contains(&r.cpu_period) {
        return fail(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        );
    }
    if r.cpu_quota > 0 && r.cpu_quota < 1000 {
        return fail("CPU cfs quota can not be less than 1ms (i.e. 1000)");
    }
    check_cpuset(&r.cpuset_cpus, cpus.cpus.as_deref(), "cpus")?;
    check_cpuset(&r.cpuset_mems, cpus.mems.as_deref(), "mems")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> HostCpus {
        HostCpus {
            count: 2,
            cpus: Some("0-1".into()),
            mems: Some("0".into()),
        }
    }

    fn message(r: Resources, update: bool) -> String {
        check(&r, update, &host()).unwrap_err().message
    }

    #[test]
    fn cpuset_lists_parse_as_the_kernel_writes_them() {
        assert_eq!(parse_list("0-2,5"), Some(BTreeSet::from([0, 1, 2, 5])));
        assert_eq!(parse_list(""), Some(BTreeSet::new()));
        assert_eq!(parse_list("1-0"), None);
        assert_eq!(parse_list("abc"), None);
        assert_eq!(parse_list("0,,1"), None);
    }

    #[test]
    fn limits_outside_what_moby_accepts_are_refused() {
        let r = |f: fn(&mut Resources)| {
            let mut r = Resources::default();
            f(&mut r);
            r
        };
        assert_eq!(
            message(r(|r| r.memory = -1), false),
            "Minimum memory limit allowed is 6MB"
        );
        assert!(message(r(|r| r.memory_swap = 50 << 20), false).starts_with("You should always"));
        assert!(check(&r(|r| r.memory_swap = 50 << 20), true, &host()).is_ok());
        assert_eq!(
            message(r(|r| r.nano_cpus = 3_000_000_000), false),
            "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"
        );
        assert_eq!(
            message(r(|r| r.cpuset_cpus = "0-3".into()), true),
            "Requested CPUs are not available - requested 0-3, available: 0-1"
        );
        assert_eq!(
            message(r(|r| r.cpuset_mems = "x".into()), false),
            "Invalid value x for cpuset mems: invalid format: x"
        );
        assert!(check(&r(|r| r.cpuset_cpus = "1".into()), false, &host()).is_ok());
        assert!(check(&r(|r| r.cpu_quota = -1), false, &host()).is_ok());
    }
}
