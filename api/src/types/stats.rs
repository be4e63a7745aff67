//! `GET /containers/{id}/stats` records, shaped like moby's `StatsJSON` (the cgroup v1
//! fields it emits at API 1.41, and the empty record of a container that is not running).

use std::collections::BTreeMap;

use berth_engine::container::stats::StatsSample;
use serde::Serialize;
use utoipa::ToSchema;

use berth_engine::container::model::ZERO_TIME;

/// `os_type`, documented from API 1.52; moby sends it at every version, running or not.
const OS_TYPE: &str = "linux";

/// One stats record (moby's `container.StatsResponse`).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = ContainerStatsResponse)]
pub struct StatsRecord {
    pub read: String,
    pub preread: String,
    pub pids_stats: PidsStats,
    pub blkio_stats: BlkioStats,
    pub num_procs: u32,
    pub storage_stats: StorageStats,
    pub cpu_stats: CpuStats,
    pub precpu_stats: CpuStats,
    pub memory_stats: MemoryStats,
    pub name: String,
    pub id: String,
    pub os_type: String,
    /// Left out when the container has no interface of its own, as moby does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub networks: Option<BTreeMap<String, NetworkStats>>,
}

#[derive(Clone, Debug, Default, Serialize, ToSchema)]
#[schema(as = ContainerPidsStats)]
pub struct PidsStats {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// Every list is `null` in the empty record; only the byte and operation counts are read.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
#[schema(as = ContainerBlkioStats)]
pub struct BlkioStats {
    pub io_service_bytes_recursive: Option<Vec<BlkioEntry>>,
    pub io_serviced_recursive: Option<Vec<BlkioEntry>>,
    pub io_queue_recursive: Option<Vec<BlkioEntry>>,
    pub io_service_time_recursive: Option<Vec<BlkioEntry>>,
    pub io_wait_time_recursive: Option<Vec<BlkioEntry>>,
    pub io_merged_recursive: Option<Vec<BlkioEntry>>,
    pub io_time_recursive: Option<Vec<BlkioEntry>>,
    pub sectors_recursive: Option<Vec<BlkioEntry>>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = ContainerBlkioStatEntry)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

/// Windows' storage counters: always `{}` here.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
#[schema(as = ContainerStorageStats)]
pub struct StorageStats {}

#[derive(Clone, Debug, Default, Serialize, ToSchema)]
#[schema(as = ContainerCPUStats)]
pub struct CpuStats {
    pub cpu_usage: CpuUsage,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_cpu_usage: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub online_cpus: Option<u64>,
    pub throttling_data: ThrottlingData,
}

#[derive(Clone, Debug, Default, Serialize, ToSchema)]
#[schema(as = ContainerCPUUsage)]
pub struct CpuUsage {
    pub total_usage: u64,
    pub usage_in_kernelmode: u64,
    pub usage_in_usermode: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percpu_usage: Option<Vec<u64>>,
}

#[derive(Clone, Debug, Default, Serialize, ToSchema)]
#[schema(as = ContainerThrottlingData)]
pub struct ThrottlingData {
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_time: u64,
}

/// Empty (`{}`) in the record of a container that is not running.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
#[schema(as = ContainerMemoryStats)]
pub struct MemoryStats {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<BTreeMap<String, u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_usage: Option<u64>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = ContainerNetworkStats)]
pub struct NetworkStats {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// One record: `cur` with `prev` as its `pre*` fields. A container that is not running
/// (`cur` None) gets moby's empty record.
pub fn stats_record(
    name: &str,
    id: &str,
    cur: Option<&StatsSample>,
    prev: Option<&StatsSample>,
) -> StatsRecord {
    let mut record = StatsRecord {
        read: ZERO_TIME.into(),
        preread: prev.map_or(ZERO_TIME, |p| p.read.as_str()).to_string(),
        pids_stats: PidsStats::default(),
        blkio_stats: blkio(cur),
        num_procs: 0,
        storage_stats: StorageStats {},
        cpu_stats: cpu(cur),
        precpu_stats: cpu(prev),
        memory_stats: MemoryStats::default(),
        name: name.to_string(),
        id: id.to_string(),
        os_type: OS_TYPE.into(),
        networks: None,
    };
    let Some(cur) = cur else {
        record.preread = ZERO_TIME.into();
        return record;
    };
    record.read = cur.read.clone();
    record.pids_stats = PidsStats {
        current: Some(cur.pids_current),
        limit: cur.pids_limit.filter(|l| *l > 0),
    };
    record.memory_stats = MemoryStats {
        usage: Some(cur.memory_usage),
        stats: Some(cur.memory_stats.clone()),
        limit: Some(cur.memory_limit),
        max_usage: cur.memory_max_usage,
    };
    if !cur.networks.is_empty() {
        record.networks = Some(
            cur.networks
                .iter()
                .map(|(name, n)| {
                    let counters = NetworkStats {
                        rx_bytes: n.rx_bytes,
                        rx_packets: n.rx_packets,
                        rx_errors: n.rx_errors,
                        rx_dropped: n.rx_dropped,
                        tx_bytes: n.tx_bytes,
                        tx_packets: n.tx_packets,
                        tx_errors: n.tx_errors,
                        tx_dropped: n.tx_dropped,
                    };
                    (name.clone(), counters)
                })
                .collect(),
        );
    }
    record
}

fn cpu(s: Option<&StatsSample>) -> CpuStats {
    let Some(s) = s else {
        return CpuStats::default();
    };
    CpuStats {
        cpu_usage: CpuUsage {
            total_usage: s.cpu_total,
            usage_in_kernelmode: s.cpu_kernel,
            usage_in_usermode: s.cpu_user,
            percpu_usage: (!s.cpu_per_core.is_empty()).then(|| s.cpu_per_core.clone()),
        },
        system_cpu_usage: Some(s.system_cpu),
        online_cpus: Some(s.online_cpus),
        throttling_data: ThrottlingData {
            periods: s.throttling.0,
            throttled_periods: s.throttling.1,
            throttled_time: s.throttling.2,
        },
    }
}

fn blkio(s: Option<&StatsSample>) -> BlkioStats {
    let Some(s) = s else {
        return BlkioStats::default();
    };
    let entries = |list: &[(u64, u64, String, u64)]| {
        list.iter()
            .map(|(major, minor, op, value)| BlkioEntry {
                major: *major,
                minor: *minor,
                op: op.clone(),
                value: *value,
            })
            .collect::<Vec<_>>()
    };
    BlkioStats {
        io_service_bytes_recursive: Some(entries(&s.io_bytes)),
        io_serviced_recursive: Some(entries(&s.io_ops)),
        io_queue_recursive: Some(vec![]),
        io_service_time_recursive: Some(vec![]),
        io_wait_time_recursive: Some(vec![]),
        io_merged_recursive: Some(vec![]),
        io_time_recursive: Some(vec![]),
        sectors_recursive: Some(vec![]),
    }
}
