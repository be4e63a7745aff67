//! Container create shims for older API versions.

use serde_json::{Map, Value};

use crate::version::ApiVersion;

pub fn adapt_create(config: &mut Map<String, Value>, host: &mut Map<String, Value>, v: ApiVersion) {
    adjust_cpu_shares_before_1_19(host, v);
    auto_remove_off_before_1_25(host, v);
    ignore_before_1_40(host, v);
    let _ = config;
}

/// Below 1.19 the daemon clamped CPU shares into the kernel's range (2..=262144).
fn adjust_cpu_shares_before_1_19(host: &mut Map<String, Value>, v: ApiVersion) {
    if v.lt(1, 19)
        && let Some(shares) = host.get("CpuShares").and_then(Value::as_i64)
        && shares != 0
    {
        host.insert("CpuShares".into(), Value::from(shares.clamp(2, 262_144)));
    }
}

/// Below 1.25 clients removed `--rm` containers themselves; the daemon ignores AutoRemove.
fn auto_remove_off_before_1_25(host: &mut Map<String, Value>, v: ApiVersion) {
    if v.lt(1, 25) {
        host.insert("AutoRemove".into(), Value::Bool(false));
    }
}

/// Below 1.40: `KernelMemoryTCP` zeroed and `Capabilities` ignored.
fn ignore_before_1_40(host: &mut Map<String, Value>, v: ApiVersion) {
    if v.lt(1, 40) {
        host.remove("Capabilities");
        if host.contains_key("KernelMemoryTCP") {
            host.insert("KernelMemoryTCP".into(), Value::from(0));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn host(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn cpu_shares_clamped_below_1_19_only() {
        let mut h = host(json!({"CpuShares": 1}));
        adjust_cpu_shares_before_1_19(&mut h, ApiVersion::new(1, 18));
        assert_eq!(h["CpuShares"], 2);
        let mut h = host(json!({"CpuShares": 1}));
        adjust_cpu_shares_before_1_19(&mut h, ApiVersion::new(1, 19));
        assert_eq!(h["CpuShares"], 1);
    }

    #[test]
    fn auto_remove_ignored_below_1_25() {
        let mut h = host(json!({"AutoRemove": true}));
        auto_remove_off_before_1_25(&mut h, ApiVersion::new(1, 24));
        assert_eq!(h["AutoRemove"], false);
        let mut h = host(json!({"AutoRemove": true}));
        auto_remove_off_before_1_25(&mut h, ApiVersion::new(1, 25));
        assert_eq!(h["AutoRemove"], true);
    }

    #[test]
    fn capabilities_ignored_below_1_40() {
        let mut h = host(json!({"Capabilities": ["CAP_X"], "KernelMemoryTCP": 5}));
        ignore_before_1_40(&mut h, ApiVersion::new(1, 39));
        assert!(h.get("Capabilities").is_none());
        assert_eq!(h["KernelMemoryTCP"], 0);
        let mut h = host(json!({"Capabilities": ["CAP_X"]}));
        ignore_before_1_40(&mut h, ApiVersion::new(1, 40));
        assert!(h.get("Capabilities").is_some());
    }
}
