//! `GET /containers/{id}/stats` records, shaped like moby's `StatsJSON` (the cgroup v1
//! fields it emits at API 1.41, and the empty record of a container that is not running).

use berth_engine::container::stats::StatsSample;
use serde_json::{Value, json};

use berth_engine::container::model::ZERO_TIME;

/// `os_type`, documented from API 1.52; moby sends it at every version, running or not.
const OS_TYPE: &str = "linux";

/// One record: `cur` with `prev` as its `pre*` fields. A container that is not running
/// (`cur` None) gets moby's empty record.
pub fn stats_json(
    name: &str,
    id: &str,
    cur: Option<&StatsSample>,
    prev: Option<&StatsSample>,
) -> Value {
    let Some(cur) = cur else {
        return json!({
            "read": ZERO_TIME, "preread": ZERO_TIME, "pids_stats": {},
            "blkio_stats": blkio(None), "num_procs": 0, "storage_stats": {},
            "cpu_stats": cpu(None), "precpu_stats": cpu(None), "memory_stats": {},
            "name": name, "id": id, "os_type": OS_TYPE,
        });
    };
    let mut pids = json!({"current": cur.pids_current});
    if let Some(limit) = cur.pids_limit.filter(|l| *l > 0) {
        pids["limit"] = json!(limit);
    }
    let mut memory = json!({
        "usage": cur.memory_usage,
        "stats": cur.memory_stats,
        "limit": cur.memory_limit,
    });
    if let Some(max) = cur.memory_max_usage {
        memory["max_usage"] = json!(max);
    }
    let mut out = json!({
        "read": cur.read,
        "preread": prev.map_or(ZERO_TIME, |p| p.read.as_str()),
        "pids_stats": pids,
        "blkio_stats": blkio(Some(cur)),
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu(Some(cur)),
        "precpu_stats": cpu(prev),
        "memory_stats": memory,
        "name": name,
        "id": id,
        "os_type": OS_TYPE,
    });
    // moby omits `networks` when the container has no interface of its own.
    if !cur.networks.is_empty() {
        let networks: serde_json::Map<String, Value> = cur
            .networks
            .iter()
            .map(|(name, n)| {
                let counters = json!({
                    "rx_bytes": n.rx_bytes, "rx_packets": n.rx_packets,
                    "rx_errors": n.rx_errors, "rx_dropped": n.rx_dropped,
                    "tx_bytes": n.tx_bytes, "tx_packets": n.tx_packets,
                    "tx_errors": n.tx_errors, "tx_dropped": n.tx_dropped,
                });
                (name.clone(), counters)
            })
            .collect();
        out["networks"] = Value::Object(networks);
    }
    out
}

fn cpu(s: Option<&StatsSample>) -> Value {
    let Some(s) = s else {
        return json!({
            "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        });
    };
    let mut usage = json!({
        "total_usage": s.cpu_total,
        "usage_in_kernelmode": s.cpu_kernel,
        "usage_in_usermode": s.cpu_user,
    });
    if !s.cpu_per_core.is_empty() {
        usage["percpu_usage"] = json!(s.cpu_per_core);
    }
    json!({
        "cpu_usage": usage,
        "system_cpu_usage": s.system_cpu,
        "online_cpus": s.online_cpus,
        "throttling_data": {
            "periods": s.throttling.0,
            "throttled_periods": s.throttling.1,
            "throttled_time": s.throttling.2,
        },
    })
}

fn blkio(s: Option<&StatsSample>) -> Value {
    let entries = |list: &[(u64, u64, String, u64)]| {
        list.iter()
            .map(|(major, minor, op, value)| json!({"major": major, "minor": minor, "op": op, "value": value}))
            .collect::<Vec<_>>()
    };
    let (bytes, ops, rest) = match s {
        Some(s) => (
            json!(entries(&s.io_bytes)),
            json!(entries(&s.io_ops)),
            json!([]),
        ),
        None => (Value::Null, Value::Null, Value::Null),
    };
    json!({
        "io_service_bytes_recursive": bytes,
        "io_serviced_recursive": ops,
        "io_queue_recursive": rest,
        "io_service_time_recursive": rest,
        "io_wait_time_recursive": rest,
        "io_merged_recursive": rest,
        "io_time_recursive": rest,
        "sectors_recursive": rest,
    })
}
