//! `docker stats`: one sample of a running container's resource use, read from the cgroup
//! files of its init process (cgroup v1 as on this machine, and v2).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use tokio::sync::mpsc;

use super::model::{ContainerRecord, Status};
use super::service::ContainerService;
use crate::{Error, Result};

/// Nanoseconds per clock tick (USER_HZ is 100 on Linux).
const NANOS_PER_TICK: u64 = 10_000_000;

/// One reading. Fields a cgroup version lacks stay `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsSample {
    /// When it was read (RFC 3339 with nanoseconds).
    pub read: String,
    pub pids_current: u64,
    pub pids_limit: Option<u64>,
    pub cpu_total: u64,
    pub cpu_per_core: Vec<u64>,
    pub cpu_kernel: u64,
    pub cpu_user: u64,
    /// The host's CPU time (all cores), for the CPU % computation.
    pub system_cpu: u64,
    pub online_cpus: u64,
    pub throttling: (u64, u64, u64),
    pub memory_usage: u64,
    pub memory_max_usage: Option<u64>,
    pub memory_limit: u64,
    pub memory_stats: BTreeMap<String, u64>,
    /// (major, minor, op, bytes) and (major, minor, op, operations).
    pub io_bytes: Vec<(u64, u64, String, u64)>,
    pub io_ops: Vec<(u64, u64, String, u64)>,
    /// Per interface of the container's own network namespace (loopback left out), empty
    /// when it has none (`none`, `host`).
    pub networks: BTreeMap<String, InterfaceCounters>,
}

/// An interface's counters from `/proc/<pid>/net/dev`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InterfaceCounters {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// `/proc/net/dev` as counters per interface, loopback left out.
fn net_dev(text: &str) -> BTreeMap<String, InterfaceCounters> {
    text.lines()
        .skip(2)
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let name = name.trim();
            let v: Vec<u64> = rest
                .split_whitespace()
                .map(|f| f.parse().unwrap_or(0))
                .collect();
            if name == "lo" || v.len() < 12 {
                return None;
            }
            Some((
                name.to_string(),
                InterfaceCounters {
                    rx_bytes: v[0],
                    rx_packets: v[1],
                    rx_errors: v[2],
                    rx_dropped: v[3],
                    tx_bytes: v[8],
                    tx_packets: v[9],
                    tx_errors: v[10],
                    tx_dropped: v[11],
                },
            ))
        })
        .collect()
}

/// What a stats record is computed from: the current sample (none once the container is
/// not running) and the one before it, a second earlier.
#[derive(Clone, Debug, Default)]
pub struct StatsPair {
    pub cur: Option<StatsSample>,
    pub prev: Option<StatsSample>,
}

/// How `docker stats` samples, as moby does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatsMode {
    /// One record from two samples a second apart (`stream=false`).
    Single,
    /// One record from one sample, without waiting (`one-shot`, from 1.41).
    OneShot,
    /// A record a second, until the container stops or the receiver is dropped.
    Stream,
}

/// Between two samples of a stats stream.
const STATS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

impl ContainerService {
    /// `GET /containers/{id}/stats`: the container and the sample pairs its records are made
    /// from. A container that is not running gives one empty pair, whatever the mode.
    pub async fn stats(
        &self,
        name_or_id: &str,
        mode: StatsMode,
    ) -> Result<(Arc<ContainerRecord>, mpsc::Receiver<StatsPair>)> {
        let record = self.get(name_or_id)?;
        let id = record.id.clone();
        let first = self.stats_sample(&id).await?;
        let (tx, rx) = mpsc::channel(1);
        let pair = match (first, mode) {
            (None, _) => StatsPair::default(),
            (Some(only), StatsMode::OneShot) => StatsPair {
                cur: Some(only),
                prev: None,
            },
            (Some(prev), StatsMode::Single) => {
                tokio::time::sleep(STATS_INTERVAL).await;
                let cur = self.stats_sample(&id).await?;
                let prev = cur.as_ref().map(|_| prev);
                StatsPair { cur, prev }
            }
            (Some(first), StatsMode::Stream) => {
                let service = self.weak_self();
                tokio::spawn(async move {
                    let mut pair = StatsPair {
                        cur: Some(first),
                        prev: None,
                    };
                    loop {
                        if tx.send(pair.clone()).await.is_err() {
                            return;
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(STATS_INTERVAL) => {}
                            _ = tx.closed() => return,
                        }
                        let Some(service) = service.upgrade() else {
                            return;
                        };
                        // The stream ends when the container stops.
                        let Ok(Some(cur)) = service.stats_sample(&id).await else {
                            return;
                        };
                        pair = StatsPair {
                            prev: pair.cur.take(),
                            cur: Some(cur),
                        };
                    }
                });
                return Ok((record, rx));
            }
        };
        let _ = tx.try_send(pair);
        Ok((record, rx))
    }

    /// A sample of a running container, or None when it is not running (dockerd then
    /// answers an empty record).
    pub async fn stats_sample(&self, name_or_id: &str) -> Result<Option<StatsSample>> {
        let record = self.get(name_or_id)?;
        if !matches!(record.state.status, Status::Running | Status::Paused) || record.state.pid == 0
        {
            return Ok(None);
        }
        let pid = record.state.pid;
        // Only a namespace of the container's own: `host` shares the host's interfaces and
        // `container:` another's, which dockerd does not count here.
        let mode = record.host_config.network_mode();
        let own_netns =
            !record.networks.is_empty() && mode != "host" && !mode.starts_with("container:");
        tokio::task::spawn_blocking(move || {
            let mut s = read_sample(pid)?;
            if own_netns {
                s.networks = net_dev(&read(Path::new(&format!("/proc/{pid}/net/dev"))));
            }
            Ok(Some(s))
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))?
    }
}

fn read_sample(pid: u32) -> Result<StatsSample> {
    let groups = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map_err(|e| Error::conflict(format!("container is not running: {e}")))?;
    let mut s = StatsSample {
        read: super::logs::now_rfc3339_nano(),
        system_cpu: system_cpu(),
        online_cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
        ..Default::default()
    };
    let host_memory = host_memory();
    if crate::system::cgroup_v2() {
        let path = groups
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .unwrap_or("/");
        let dir = Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
        read_v2(&dir, host_memory, &mut s);
    } else {
        let dir = |controller: &str| v1_dir(&groups, controller);
        read_v1(&dir, host_memory, &mut s);
    }
    Ok(s)
}

/// The directory of `controller` for a process, from its `/proc/<pid>/cgroup` lines.
fn v1_dir(groups: &str, controller: &str) -> Option<PathBuf> {
    for line in groups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
        if !names.split(',').any(|n| n == controller) {
            continue;
        }
        let path = path.trim_start_matches('/');
        for mount in [names, controller] {
            let dir = Path::new("/sys/fs/cgroup").join(mount).join(path);
            if dir.is_dir() {
                return Some(dir);
            }
        }
    }
    None
}

fn read_v1(dir: &dyn Fn(&str) -> Option<PathBuf>, host_memory: u64, s: &mut StatsSample) {
    if let Some(d) = dir("cpuacct") {
        s.cpu_total = read_u64(&d.join("cpuacct.usage")).unwrap_or(0);
        s.cpu_per_core = read(&d.join("cpuacct.usage_percpu"))
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        let stat = key_values(&read(&d.join("cpuacct.stat")));
        s.cpu_user = stat.get("user").copied().unwrap_or(0) * NANOS_PER_TICK;
        s.cpu_kernel = stat.get("system").copied().unwrap_or(0) * NANOS_PER_TICK;
    }
    if let Some(d) = dir("cpu") {
        let stat = key_values(&read(&d.join("cpu.stat")));
        s.throttling = (
            stat.get("nr_periods").copied().unwrap_or(0),
            stat.get("nr_throttled").copied().unwrap_or(0),
            stat.get("throttled_time").copied().unwrap_or(0),
        );
    }
    if let Some(d) = dir("memory") {
        s.memory_usage = read_u64(&d.join("memory.usage_in_bytes")).unwrap_or(0);
        s.memory_max_usage = read_u64(&d.join("memory.max_usage_in_bytes"));
        let limit = read_u64(&d.join("memory.limit_in_bytes")).unwrap_or(u64::MAX);
        s.memory_limit = limit.min(host_memory);
        s.memory_stats = key_values(&read(&d.join("memory.stat")));
    }
    if let Some(d) = dir("pids") {
        s.pids_current = read_u64(&d.join("pids.current")).unwrap_or(0);
        s.pids_limit = read_u64(&d.join("pids.max"));
    }
    if let Some(d) = dir("blkio") {
        s.io_bytes = blkio(&read(&d.join("blkio.throttle.io_service_bytes_recursive")));
        s.io_ops = blkio(&read(&d.join("blkio.throttle.io_serviced_recursive")));
    }
}

fn read_v2(dir: &Path, host_memory: u64, s: &mut StatsSample) {
    let cpu = key_values(&read(&dir.join("cpu.stat")));
    let get = |k: &str| cpu.get(k).copied().unwrap_or(0);
    s.cpu_total = get("usage_usec") * 1000;
    s.cpu_user = get("user_usec") * 1000;
    s.cpu_kernel = get("system_usec") * 1000;
    s.throttling = (
        get("nr_periods"),
        get("nr_throttled"),
        get("throttled_usec") * 1000,
    );
    s.memory_usage = read_u64(&dir.join("memory.current")).unwrap_or(0);
    s.memory_limit = read_u64(&dir.join("memory.max"))
        .unwrap_or(u64::MAX)
        .min(host_memory);
    s.memory_stats = key_values(&read(&dir.join("memory.stat")));
    s.pids_current = read_u64(&dir.join("pids.current")).unwrap_or(0);
    s.pids_limit = read_u64(&dir.join("pids.max"));
    for line in read(&dir.join("io.stat")).lines() {
        let mut fields = line.split_whitespace();
        let Some((major, minor)) = fields.next().and_then(device) else {
            continue;
        };
        for kv in fields {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(v) = v.parse::<u64>() else { continue };
            match k {
                "rbytes" => s.io_bytes.push((major, minor, "read".into(), v)),
                "wbytes" => s.io_bytes.push((major, minor, "write".into(), v)),
                "rios" => s.io_ops.push((major, minor, "read".into(), v)),
                "wios" => s.io_ops.push((major, minor, "write".into(), v)),
                _ => {}
            }
        }
    }
}

/// How many processes the kernel's OOM killer took in the cgroup at `cgroups_path` (as in the
/// OCI spec) while it existed.
pub fn oom_kills(cgroups_path: &str) -> u64 {
    let rel = cgroups_path.trim_start_matches('/');
    let (file, key) = if crate::system::cgroup_v2() {
        (
            Path::new("/sys/fs/cgroup").join(rel).join("memory.events"),
            "oom_kill",
        )
    } else {
        (
            Path::new("/sys/fs/cgroup/memory")
                .join(rel)
                .join("memory.oom_control"),
            "oom_kill",
        )
    };
    key_values(&read(&file)).get(key).copied().unwrap_or(0)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn read_u64(path: &Path) -> Option<u64> {
    read(path).trim().parse().ok()
}

fn key_values(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

fn device(text: &str) -> Option<(u64, u64)> {
    let (major, minor) = text.split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// `8:0 Read 4096` lines (the `Total` lines are left out, as moby does).
fn blkio(text: &str) -> Vec<(u64, u64, String, u64)> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (major, minor) = device(f.next()?)?;
            let op = f.next()?.to_string();
            let value = f.next()?.parse().ok()?;
            Some((major, minor, op, value))
        })
        .collect()
}

/// The host's CPU time in nanoseconds: the first seven fields of `/proc/stat`'s cpu line.
fn system_cpu() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    stat.lines()
        .find(|l| l.starts_with("cpu "))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .take(7)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum::<u64>()
                * NANOS_PER_TICK
        })
        .unwrap_or(0)
}

/// The host's memory, which caps a limit that is not set; no cap when it is unknown.
fn host_memory() -> u64 {
    match crate::system::mem_total() {
        0 => u64::MAX,
        bytes => bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_counts_interfaces_but_loopback() {
        let text = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0\n  eth0:    1296      16    1    2    0     0          0         0      726       9    3    4    0     0       0          0\n";
        let n = net_dev(text);
        assert_eq!(n.len(), 1);
        let e = &n["eth0"];
        assert_eq!(
            (e.rx_bytes, e.rx_packets, e.rx_errors, e.rx_dropped),
            (1296, 16, 1, 2)
        );
        assert_eq!(
            (e.tx_bytes, e.tx_packets, e.tx_errors, e.tx_dropped),
            (726, 9, 3, 4)
        );
    }

    #[test]
    fn cgroup_lines_find_the_controllers_directory() {
        let lines = "12:pids:/berth/abc\n4:memory:/berth/abc\n0::/\n";
        // Only a directory that exists counts; none of these do in a test.
        assert_eq!(v1_dir(lines, "cpu"), None);
        assert_eq!(
            key_values("user 12\nsystem 3\n"),
            BTreeMap::from([("system".to_string(), 3), ("user".to_string(), 12)])
        );
        assert_eq!(
            blkio("8:0 Read 4096\n8:0 Write 0\nTotal 4096\n"),
            vec![
                (8, 0, "Read".to_string(), 4096),
                (8, 0, "Write".to_string(), 0)
            ]
        );
    }
}
