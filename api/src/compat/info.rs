//! `/info` shapes of older API versions (moby `router/system/system_routes.go getInfo`).

use crate::types::system::SystemInfo;
use crate::version::ApiVersion;

/// Applies every `/info` gate for `version` to the current-shape `info`.
pub fn adapt_info(info: &mut SystemInfo, version: ApiVersion) {
    drop_runtime_status_before_1_44(info, version);
    null_containerd_before_1_46(info, version);
    add_nondistributable_before_1_47(info, version);
    legacy_commits_before_1_49(info, version);
    legacy_bridge_nf_before_1_50(info, version);
}

fn drop_runtime_status_before_1_44(info: &mut SystemInfo, v: ApiVersion) {
    if v.lt(1, 44) {
        for rt in info.runtimes.values_mut() {
            rt.status = None;
        }
    }
}

fn null_containerd_before_1_46(info: &mut SystemInfo, v: ApiVersion) {
    if v.lt(1, 46) {
        info.containerd = None;
    }
}

fn add_nondistributable_before_1_47(info: &mut SystemInfo, v: ApiVersion) {
    if v.lt(1, 47) {
        info.registry_config.allow_nondistributable_artifacts_cidrs = Some(None);
        info.registry_config
            .allow_nondistributable_artifacts_hostnames = Some(None);
    }
}

fn legacy_commits_before_1_49(info: &mut SystemInfo, v: ApiVersion) {
    if v.lt(1, 49) {
        info.firewall_backend = None;
        for c in [
            &mut info.containerd_commit,
            &mut info.runc_commit,
            &mut info.init_commit,
        ] {
            c.expected = Some(c.id.clone());
        }
    }
}

fn legacy_bridge_nf_before_1_50(info: &mut SystemInfo, v: ApiVersion) {
    if v.lt(1, 50) {
        info.discovered_devices = None;
        info.bridge_nf_iptables = Some(false);
        info.bridge_nf_ip6tables = Some(false);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::types::system::*;

    pub(crate) fn sample() -> SystemInfo {
        let commit = || Commit {
            id: "abc".into(),
            expected: None,
        };
        let mut runtimes = BTreeMap::new();
        runtimes.insert(
            "runc".to_string(),
            RuntimeInfo {
                path: "runc".into(),
                runtime_args: None,
                status: Some(BTreeMap::new()),
            },
        );
        SystemInfo {
            id: "id".into(),
            containers: 0,
            containers_running: 0,
            containers_paused: 0,
            containers_stopped: 0,
            images: 0,
            driver: "overlayfs".into(),
            driver_status: vec![],
            plugins: PluginsInfo {
                volume: vec![],
                network: vec![],
                authorization: None,
                log: vec![],
            },
            memory_limit: true,
            swap_limit: true,
            cpu_cfs_period: true,
            cpu_cfs_quota: true,
            cpu_shares: true,
            cpu_set: true,
            pids_limit: true,
            ipv4_forwarding: true,
            bridge_nf_iptables: None,
            bridge_nf_ip6tables: None,
            debug: false,
            nfd: 0,
            oom_kill_disable: false,
            ngoroutines: 0,
            system_time: String::new(),
            logging_driver: "json-file".into(),
            cgroup_driver: "cgroupfs".into(),
            cgroup_version: "1".into(),
            nevents_listener: 0,
            kernel_version: String::new(),
            operating_system: String::new(),
            os_version: String::new(),
            os_type: "linux".into(),
            architecture: "x86_64".into(),
            index_server_address: String::new(),
            registry_config: RegistryServiceConfig {
                allow_nondistributable_artifacts_cidrs: None,
                allow_nondistributable_artifacts_hostnames: None,
                insecure_registry_cidrs: vec![],
                index_configs: BTreeMap::new(),
                mirrors: vec![],
            },
            ncpu: 2,
            mem_total: 1,
            generic_resources: None,
            docker_root_dir: String::new(),
            http_proxy: String::new(),
            https_proxy: String::new(),
            no_proxy: String::new(),
            name: String::new(),
            labels: vec![],
            experimental_build: false,
            server_version: String::new(),
            runtimes,
            default_runtime: "runc".into(),
            swarm: SwarmInfo {
                node_id: String::new(),
                node_addr: String::new(),
                local_node_state: "inactive".into(),
                control_available: false,
                error: String::new(),
                remote_managers: None,
            },
            live_restore_enabled: true,
            isolation: String::new(),
            init_binary: String::new(),
            containerd_commit: commit(),
            runc_commit: commit(),
            init_commit: commit(),
            security_options: vec![],
            cdi_spec_dirs: vec![],
            default_address_pools: None,
            firewall_backend: Some(FirewallInfo {
                driver: "none".into(),
                info: None,
            }),
            discovered_devices: Some(vec![]),
            containerd: Some(ContainerdInfo {
                address: String::new(),
                namespaces: ContainerdNamespaces {
                    containers: "berth".into(),
                    plugins: "plugins.berth".into(),
                },
            }),
            warnings: None,
        }
    }

    fn json_at(v: (u32, u32)) -> serde_json::Value {
        let mut info = sample();
        adapt_info(&mut info, ApiVersion::new(v.0, v.1));
        serde_json::to_value(info).unwrap()
    }

    #[test]
    fn runtime_status_from_1_44() {
        assert!(json_at((1, 43))["Runtimes"]["runc"].get("status").is_none());
        assert!(json_at((1, 44))["Runtimes"]["runc"].get("status").is_some());
    }

    #[test]
    fn containerd_from_1_46() {
        assert!(json_at((1, 45)).get("Containerd").is_none());
        assert!(json_at((1, 46))["Containerd"].is_object());
    }

    #[test]
    fn nondistributable_null_below_1_47() {
        let old = json_at((1, 46));
        assert!(old["RegistryConfig"]["AllowNondistributableArtifactsCIDRs"].is_null());
        assert!(
            old["RegistryConfig"]
                .get("AllowNondistributableArtifactsCIDRs")
                .is_some()
        );
        assert!(
            json_at((1, 47))["RegistryConfig"]
                .get("AllowNondistributableArtifactsCIDRs")
                .is_none()
        );
    }

    #[test]
    fn commit_expected_below_1_49() {
        assert_eq!(json_at((1, 48))["RuncCommit"]["Expected"], "abc");
        assert!(json_at((1, 48)).get("FirewallBackend").is_none());
        assert!(json_at((1, 49))["RuncCommit"].get("Expected").is_none());
        assert!(json_at((1, 49))["FirewallBackend"].is_object());
    }

    #[test]
    fn bridge_nf_below_1_50() {
        assert_eq!(json_at((1, 49))["BridgeNfIptables"], false);
        assert!(json_at((1, 49)).get("DiscoveredDevices").is_none());
        assert!(json_at((1, 50)).get("BridgeNfIptables").is_none());
        assert!(json_at((1, 50))["DiscoveredDevices"].is_array());
    }
}
