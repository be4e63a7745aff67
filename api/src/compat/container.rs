//! Container create shims for older API versions, on the typed create request.

use std::collections::BTreeMap;

use crate::error::ApiError;
use crate::types::inspect::{ContainerInspect, RootFsStorage, SnapshotName, Storage};
use crate::version::ApiVersion;
use crate::wire::{ContainerCreateRequest, EndpointSettings, HostConfig, Mount};

/// The parts of a create request the shims rewrite.
pub struct CreateBody<'a> {
    pub config: &'a mut ContainerCreateRequest,
    pub host: &'a mut HostConfig,
    /// `NetworkingConfig.EndpointsConfig`, when given.
    pub endpoints: Option<&'a BTreeMap<String, EndpointSettings>>,
    /// The host runs cgroup v1.
    pub cgroup_v1: bool,
}

/// Applies every create-time shim for version `v`, or refuses the request as moby does.
/// Returns the warnings the shims add to the answer.
pub fn adapt_create(body: CreateBody, v: ApiVersion) -> Result<Vec<String>, ApiError> {
    let mut warnings = Vec::new();
    warnings.extend(container_mac_deprecated_from_1_44(body.config, v));
    container_mac_ignored_from_1_52(body.config, v);
    adjust_cpu_shares_before_1_19(body.host, v);
    auto_remove_off_before_1_25(body.host, v);
    ignore_before_1_40(body.host, v);
    shareable_ipc_before_1_40(body.host, v);
    non_recursive_binds_off_before_1_40(body.host, v);
    refuse_capabilities_at_1_40(body.host, v)?;
    host_cgroupns_before_1_41(body.host, v, body.cgroup_v1);
    mount_options_before_1_42(body.host, v)?;
    console_size_reset_before_1_42(body.host, v);
    annotations_ignored_before_1_43(body.host, v);
    umask_ignored_before_1_56(body.host, v);
    start_interval_zeroed_before_1_44(body.config, v);
    refuse_force_recursive_before_1_44(body.host, v)?;
    one_endpoint_before_1_44(body.endpoints, v)?;
    refuse_subpath_before_1_45(body.host, v)?;
    refuse_image_mounts_before_1_48(body.host, v)?;
    warnings.extend(empty_port_bindings_warning_from_1_52(body.host, v));
    Ok(warnings)
}

/// `update` applies the per-device blkio lists from 1.55; moby ignored them before.
pub fn per_device_blkio_updated_from_1_55(v: ApiVersion) -> bool {
    v.ge(1, 55)
}

/// `HostConfig.Umask` came with 1.56 (moby 29.8); older clients' value is ignored.
fn umask_ignored_before_1_56(host: &mut HostConfig, v: ApiVersion) {
    if v.lt(1, 56) {
        host.umask = None;
    }
}

/// From 1.44 to 1.51 a container-wide `MacAddress` still works (it moves to the endpoint)
/// but is warned about.
fn container_mac_deprecated_from_1_44(
    config: &ContainerCreateRequest,
    v: ApiVersion,
) -> Option<String> {
    let set = config.mac_address.as_deref().is_some_and(|m| !m.is_empty());
    (set && v.ge(1, 44) && v.lt(1, 52)).then(|| {
        "The container-wide MacAddress field is now deprecated. It should be specified in \
         EndpointsConfig instead."
            .to_string()
    })
}

/// From 1.52 the container config has no `MacAddress` (moby dropped the field, so a client
/// that still sends one is ignored, not refused); below, the engine moves it to the
/// container's first endpoint.
fn container_mac_ignored_from_1_52(config: &mut ContainerCreateRequest, v: ApiVersion) {
    if v.ge(1, 52) {
        config.mac_address = None;
    }
}

/// From 1.52 a container port published with an empty list of bindings is warned about
/// (moby still binds it to any address and port, as before).
fn empty_port_bindings_warning_from_1_52(host: &HostConfig, v: ApiVersion) -> Option<String> {
    if v.lt(1, 52) {
        return None;
    }
    let empty: Vec<String> = host
        .port_bindings
        .iter()
        .flatten()
        .filter(|(_, bindings)| bindings.is_empty())
        .map(|(port, _)| {
            if port.contains('/') {
                port.clone()
            } else {
                format!("{port}/tcp")
            }
        })
        .collect();
    (!empty.is_empty()).then(|| {
        format!(
            "Following container port(s) have an empty list of port-bindings: {}. \
             Such bindings will be discarded in a future version.",
            empty.join(", ")
        )
    })
}

/// Below 1.44 read-only binds are read-only at the top only: their submounts stay
/// writable (moby's `DefaultReadOnlyNonRecursive`).
pub fn read_only_binds_non_recursive(v: ApiVersion) -> bool {
    v.lt(1, 44)
}

/// `platform` on create is read from 1.41; older clients' value is ignored.
pub fn create_platform(query: Option<&str>, v: ApiVersion) -> String {
    if v.lt(1, 41) {
        return String::new();
    }
    query.unwrap_or("").to_string()
}

/// An exec's `ConsoleSize` (`[height, width]`) is read from 1.42; older clients' value is
/// ignored, as is a size with a zero in it.
pub fn exec_console_size(size: Option<Vec<u64>>, v: ApiVersion) -> Option<[u32; 2]> {
    if v.lt(1, 42) {
        return None;
    }
    let size = size?;
    let dim = |i: usize| {
        size.get(i)
            .and_then(|n| u32::try_from(*n).ok())
            .filter(|n| *n > 0)
    };
    Some([dim(0)?, dim(1)?])
}

/// From 1.52 inspect drops the legacy top-level `NetworkSettings` addresses, an empty
/// `Config.OnBuild` and `HostConfig.KernelMemoryTCP`, and names the snapshotter under
/// `Storage` instead of `GraphDriver`.
pub fn inspect_trimmed_from_1_52(inspect: &mut ContainerInspect, v: ApiVersion) {
    if v.lt(1, 52) {
        return;
    }
    inspect.network_settings.drop_legacy();
    if inspect
        .config
        .on_build
        .as_ref()
        .is_some_and(|o| o.as_ref().is_none_or(Vec::is_empty))
    {
        inspect.config.on_build = None;
    }
    inspect.host_config.kernel_memory_tcp = None;
    // A snapshotter's root filesystem is described by `Storage`, no longer as a graph driver.
    if let Some(driver) = inspect.graph_driver.take() {
        inspect.storage = Some(Storage {
            root_fs: RootFsStorage {
                snapshot: SnapshotName { name: driver.name },
            },
        });
    }
}

/// Below 1.45 inspect lists the short container ID and the hostname among the `Aliases` of
/// each user-defined network (moby 26 stopped storing them there; DNSNames has them now).
/// moby adds them when it connects the endpoint, at the first start: a container that never
/// ran shows only the aliases it was created with.
pub fn short_id_aliases_before_1_45(inspect: &mut ContainerInspect, v: ApiVersion) {
    let started = inspect.state.started_at != berth_engine::container::model::ZERO_TIME;
    if !v.lt(1, 45) || !started {
        return;
    }
    let short_id = inspect.id.get(..12).unwrap_or(&inspect.id).to_string();
    let hostname = inspect.config.hostname.clone();
    for (name, endpoint) in inspect.network_settings.networks.iter_mut() {
        if berth_engine::network::PREDEFINED.contains(&name.as_str()) {
            continue;
        }
        let aliases = endpoint.aliases.get_or_insert_default();
        for extra in [&short_id, &hostname] {
            if !extra.is_empty() && !aliases.contains(extra) {
                aliases.push(extra.clone());
            }
        }
    }
}

fn mounts(host: &mut HostConfig) -> impl Iterator<Item = &mut Mount> {
    host.mounts.iter_mut().flatten()
}

fn empty(s: &Option<String>) -> bool {
    s.as_deref().unwrap_or("").is_empty()
}

/// Below 1.40 an empty `IpcMode` meant `shareable` (the daemon default is `private` since).
fn shareable_ipc_before_1_40(host: &mut HostConfig, v: ApiVersion) {
    if v.lt(1, 40) && empty(&host.ipc_mode) {
        host.ipc_mode = Some("shareable".into());
    }
}

/// Below 1.40 `BindOptions.NonRecursive` did not exist: forced false.
fn non_recursive_binds_off_before_1_40(host: &mut HostConfig, v: ApiVersion) {
    if !v.lt(1, 40) {
        return;
    }
    for b in mounts(host).filter_map(|m| m.bind_options.as_mut()) {
        b.non_recursive = Some(false);
    }
}

/// At exactly 1.40 the legacy `Capabilities` field was accepted by the API but refused by
/// the daemon.
fn refuse_capabilities_at_1_40(host: &HostConfig, v: ApiVersion) -> Result<(), ApiError> {
    let given = host.capabilities.as_ref().is_some_and(|c| !c.is_empty());
    if v.ge(1, 40) && v.lt(1, 41) && given {
        return Err(ApiError::invalid(
            "the HostConfig.Capabilities field is not supported by this daemon; use CapAdd and CapDrop to set capabilities",
        ));
    }
    Ok(())
}

/// Below 1.41 an empty `CgroupnsMode` meant `host` on cgroup v1 hosts.
fn host_cgroupns_before_1_41(host: &mut HostConfig, v: ApiVersion, cgroup_v1: bool) {
    if v.lt(1, 41) && empty(&host.cgroupns_mode) && cgroup_v1 {
        host.cgroupns_mode = Some("host".into());
    }
}

/// Options for another mount type: silently dropped below 1.42, refused from 1.42. Below
/// 1.42 `BindOptions.CreateMountpoint` did not exist either.
fn mount_options_before_1_42(host: &mut HostConfig, v: ApiVersion) -> Result<(), ApiError> {
    let old = v.lt(1, 42);
    for m in mounts(host) {
        let kind = m.r#type.clone().unwrap_or_default();
        let misplaced = [
            ("BindOptions", "bind", m.bind_options.is_some()),
            ("VolumeOptions", "volume", m.volume_options.is_some()),
            ("TmpfsOptions", "tmpfs", m.tmpfs_options.is_some()),
        ];
        for (field, owner, given) in misplaced {
            if !given || kind == owner {
                continue;
            }
            if !old {
                return Err(ApiError::invalid(format!(
                    "{field} must not be specified on mount type {kind:?}"
                )));
            }
            match field {
                "BindOptions" => m.bind_options = None,
                "VolumeOptions" => m.volume_options = None,
                _ => m.tmpfs_options = None,
            }
        }
        if old && let Some(b) = m.bind_options.as_mut() {
            b.create_mountpoint = Some(false);
        }
    }
    Ok(())
}

/// Below 1.42 the console size could not be given at create: reset to 0×0.
fn console_size_reset_before_1_42(host: &mut HostConfig, v: ApiVersion) {
    if v.lt(1, 42) && host.console_size.is_some() {
        host.console_size = Some(vec![0, 0]);
    }
}

/// Below 1.43 `HostConfig.Annotations` did not exist: ignored.
fn annotations_ignored_before_1_43(host: &mut HostConfig, v: ApiVersion) {
    if v.lt(1, 43) {
        host.annotations = None;
    }
}

/// Below 1.44 `Healthcheck.StartInterval` did not exist: zeroed.
fn start_interval_zeroed_before_1_44(config: &mut ContainerCreateRequest, v: ApiVersion) {
    if v.lt(1, 44)
        && let Some(h) = config.healthcheck.as_mut()
        && h.start_interval.is_some()
    {
        h.start_interval = Some(0);
    }
}

/// `BindOptions.ReadOnlyForceRecursive` needs 1.44.
fn refuse_force_recursive_before_1_44(
    host: &mut HostConfig,
    v: ApiVersion,
) -> Result<(), ApiError> {
    let forced = mounts(host).any(|m| {
        m.bind_options
            .as_ref()
            .and_then(|b| b.read_only_force_recursive)
            == Some(true)
    });
    if v.lt(1, 44) && forced {
        return Err(ApiError::invalid(
            "BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer",
        ));
    }
    Ok(())
}

/// Below 1.44 a container is created on one network at most.
fn one_endpoint_before_1_44(
    endpoints: Option<&BTreeMap<String, EndpointSettings>>,
    v: ApiVersion,
) -> Result<(), ApiError> {
    if let Some(e) = endpoints
        && v.lt(1, 44)
        && e.len() > 1
    {
        let names: Vec<&str> = e.keys().map(String::as_str).collect();
        return Err(ApiError::invalid(format!(
            "Container cannot be created with multiple network endpoints: {}",
            names.join(", ")
        )));
    }
    Ok(())
}

/// `VolumeOptions.Subpath` needs 1.45.
fn refuse_subpath_before_1_45(host: &mut HostConfig, v: ApiVersion) -> Result<(), ApiError> {
    let subpath = mounts(host).any(|m| {
        m.volume_options
            .as_ref()
            .is_some_and(|o| !empty(&o.subpath))
    });
    if v.lt(1, 45) && subpath {
        return Err(ApiError::invalid(
            "VolumeOptions.Subpath needs API v1.45 or newer",
        ));
    }
    Ok(())
}

/// Mounts of type `image` need 1.48.
fn refuse_image_mounts_before_1_48(host: &mut HostConfig, v: ApiVersion) -> Result<(), ApiError> {
    if v.lt(1, 48) && mounts(host).any(|m| m.r#type.as_deref() == Some("image")) {
        return Err(ApiError::invalid(
            "Mount type \"Image\" needs API v1.48 or newer",
        ));
    }
    Ok(())
}

/// Below 1.19 the daemon clamped CPU shares into the kernel's range (2..=262144).
fn adjust_cpu_shares_before_1_19(host: &mut HostConfig, v: ApiVersion) {
    if v.lt(1, 19)
        && let Some(shares) = host.cpu_shares
        && shares != 0
    {
        host.cpu_shares = Some(shares.clamp(2, 262_144));
    }
}

/// Below 1.25 clients removed `--rm` containers themselves; the daemon ignores AutoRemove.
fn auto_remove_off_before_1_25(host: &mut HostConfig, v: ApiVersion) {
    if v.lt(1, 25) {
        host.auto_remove = Some(false);
    }
}

/// Below 1.40: `KernelMemoryTCP` zeroed and `Capabilities` ignored.
fn ignore_before_1_40(host: &mut HostConfig, v: ApiVersion) {
    if v.lt(1, 40) {
        host.capabilities = None;
        if host.kernel_memory_tcp.is_some() {
            host.kernel_memory_tcp = Some(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn host(v: Value) -> HostConfig {
        serde_json::from_value(v).unwrap()
    }

    fn config(v: Value) -> ContainerCreateRequest {
        serde_json::from_value(v).unwrap()
    }

    fn endpoints(v: Value) -> BTreeMap<String, EndpointSettings> {
        serde_json::from_value(v).unwrap()
    }

    /// The typed value as the JSON it stands for.
    fn j<T: serde::Serialize>(t: &T) -> Value {
        serde_json::to_value(t).unwrap()
    }

    #[test]
    fn cpu_shares_clamped_below_1_19_only() {
        let mut h = host(json!({"CpuShares": 1}));
        adjust_cpu_shares_before_1_19(&mut h, ApiVersion::new(1, 18));
        assert_eq!(j(&h)["CpuShares"], 2);
        let mut h = host(json!({"CpuShares": 1}));
        adjust_cpu_shares_before_1_19(&mut h, ApiVersion::new(1, 19));
        assert_eq!(j(&h)["CpuShares"], 1);
    }

    #[test]
    fn read_only_binds_are_recursive_from_1_44() {
        assert!(read_only_binds_non_recursive(ApiVersion::new(1, 43)));
        assert!(!read_only_binds_non_recursive(ApiVersion::new(1, 44)));
    }

    #[test]
    fn platform_on_create_from_1_41() {
        assert_eq!(
            create_platform(Some("linux/arm64"), ApiVersion::new(1, 40)),
            ""
        );
        assert_eq!(
            create_platform(Some("linux/arm64"), ApiVersion::new(1, 41)),
            "linux/arm64"
        );
    }

    #[test]
    fn auto_remove_ignored_below_1_25() {
        let mut h = host(json!({"AutoRemove": true}));
        auto_remove_off_before_1_25(&mut h, ApiVersion::new(1, 24));
        assert_eq!(j(&h)["AutoRemove"], false);
        let mut h = host(json!({"AutoRemove": true}));
        auto_remove_off_before_1_25(&mut h, ApiVersion::new(1, 25));
        assert_eq!(j(&h)["AutoRemove"], true);
    }

    const V: fn(u32) -> ApiVersion = |minor| ApiVersion::new(1, minor);

    #[test]
    fn empty_ipc_mode_is_shareable_below_1_40() {
        let mut h = host(json!({"IpcMode": ""}));
        shareable_ipc_before_1_40(&mut h, V(39));
        assert_eq!(j(&h)["IpcMode"], "shareable");
        let mut h = host(json!({}));
        shareable_ipc_before_1_40(&mut h, V(40));
        assert!(j(&h).get("IpcMode").is_none());
        let mut h = host(json!({"IpcMode": "host"}));
        shareable_ipc_before_1_40(&mut h, V(39));
        assert_eq!(j(&h)["IpcMode"], "host");
    }

    #[test]
    fn non_recursive_forced_off_below_1_40() {
        let body = json!({"Mounts": [{"Type": "bind", "BindOptions": {"NonRecursive": true}}]});
        let mut h = host(body.clone());
        non_recursive_binds_off_before_1_40(&mut h, V(39));
        assert_eq!(j(&h)["Mounts"][0]["BindOptions"]["NonRecursive"], false);
        let mut h = host(body);
        non_recursive_binds_off_before_1_40(&mut h, V(40));
        assert_eq!(j(&h)["Mounts"][0]["BindOptions"]["NonRecursive"], true);
    }

    /// Inspect of the record a berthd of the first layout wrote (a stopped container on the
    /// user network `fixnet`, alias `fx`), at API `v` before the version shims.
    fn fixture_inspect(v: ApiVersion) -> ContainerInspect {
        let record: berth_engine::container::model::ContainerRecord = serde_json::from_str(
            include_str!("../../../engine/tests/fixtures/record-layout-1/config.v2.json"),
        )
        .expect("the fixture reads");
        crate::types::inspect::inspect(&record, v)
    }

    fn shown(i: &ContainerInspect) -> Value {
        serde_json::to_value(i).expect("serialises")
    }

    #[test]
    fn short_id_and_hostname_aliases_below_1_45() {
        let inspect = fixture_inspect(V(44));
        assert_ne!(
            inspect.state.started_at,
            berth_engine::container::model::ZERO_TIME
        );
        let short_id = inspect.id[..12].to_string();
        // Its hostname is its short ID: listed once.
        assert_eq!(inspect.config.hostname, short_id);
        let mut old = inspect.clone();
        short_id_aliases_before_1_45(&mut old, V(44));
        assert_eq!(
            old.network_settings.networks["fixnet"].aliases,
            Some(vec!["fx".to_string(), short_id.clone()])
        );
        let mut named = inspect.clone();
        named.config.hostname = "web".into();
        short_id_aliases_before_1_45(&mut named, V(44));
        assert_eq!(
            named.network_settings.networks["fixnet"].aliases,
            Some(vec!["fx".to_string(), short_id, "web".to_string()])
        );
        let mut new = inspect.clone();
        short_id_aliases_before_1_45(&mut new, V(45));
        assert_eq!(shown(&new), shown(&inspect));
        // Never started: the aliases it was created with, and nothing more.
        let mut created = inspect.clone();
        created.state.started_at = berth_engine::container::model::ZERO_TIME.into();
        let before = shown(&created);
        short_id_aliases_before_1_45(&mut created, V(44));
        assert_eq!(shown(&created), before);
    }

    #[test]
    fn exec_console_size_from_1_42() {
        assert_eq!(exec_console_size(Some(vec![24, 80]), V(41)), None);
        assert_eq!(exec_console_size(Some(vec![24, 80]), V(42)), Some([24, 80]));
        assert_eq!(exec_console_size(Some(vec![0, 80]), V(42)), None);
        assert_eq!(exec_console_size(Some(vec![24]), V(42)), None);
        assert_eq!(exec_console_size(None, V(50)), None);
    }

    #[test]
    fn legacy_capabilities_refused_at_1_40_only() {
        let h = host(json!({"Capabilities": ["CAP_NET_ADMIN"]}));
        let e = refuse_capabilities_at_1_40(&h, V(40)).unwrap_err();
        assert!(
            e.message
                .starts_with("the HostConfig.Capabilities field is not supported")
        );
        assert!(refuse_capabilities_at_1_40(&h, V(41)).is_ok());
        assert!(refuse_capabilities_at_1_40(&h, V(39)).is_ok());
        assert!(refuse_capabilities_at_1_40(&host(json!({"Capabilities": []})), V(40)).is_ok());
    }

    #[test]
    fn empty_cgroupns_is_host_on_cgroup_v1_below_1_41() {
        let mut h = host(json!({}));
        host_cgroupns_before_1_41(&mut h, V(40), true);
        assert_eq!(j(&h)["CgroupnsMode"], "host");
        let mut h = host(json!({}));
        host_cgroupns_before_1_41(&mut h, V(41), true);
        assert!(j(&h).get("CgroupnsMode").is_none());
        let mut h = host(json!({}));
        host_cgroupns_before_1_41(&mut h, V(40), false);
        assert!(j(&h).get("CgroupnsMode").is_none());
    }

    #[test]
    fn wrong_mount_options_dropped_below_1_42_refused_from_1_42() {
        let body = json!({"Mounts": [{"Type": "bind", "TmpfsOptions": {"SizeBytes": 1},
            "BindOptions": {"CreateMountpoint": true}}]});
        let mut h = host(body.clone());
        mount_options_before_1_42(&mut h, V(41)).unwrap();
        assert!(j(&h)["Mounts"][0].get("TmpfsOptions").is_none());
        assert_eq!(j(&h)["Mounts"][0]["BindOptions"]["CreateMountpoint"], false);
        let mut h = host(body);
        let e = mount_options_before_1_42(&mut h, V(42)).unwrap_err();
        assert_eq!(
            e.message,
            "TmpfsOptions must not be specified on mount type \"bind\""
        );
        let mut h =
            host(json!({"Mounts": [{"Type": "bind", "BindOptions": {"CreateMountpoint": true}}]}));
        mount_options_before_1_42(&mut h, V(42)).unwrap();
        assert_eq!(j(&h)["Mounts"][0]["BindOptions"]["CreateMountpoint"], true);
    }

    #[test]
    fn console_size_reset_below_1_42() {
        let mut h = host(json!({"ConsoleSize": [24, 80]}));
        console_size_reset_before_1_42(&mut h, V(41));
        assert_eq!(j(&h)["ConsoleSize"], json!([0, 0]));
        let mut h = host(json!({"ConsoleSize": [24, 80]}));
        console_size_reset_before_1_42(&mut h, V(42));
        assert_eq!(j(&h)["ConsoleSize"], json!([24, 80]));
    }

    #[test]
    fn annotations_ignored_below_1_43() {
        let mut h = host(json!({"Annotations": {"a": "b"}}));
        annotations_ignored_before_1_43(&mut h, V(42));
        assert!(j(&h).get("Annotations").is_none());
        let mut h = host(json!({"Annotations": {"a": "b"}}));
        annotations_ignored_before_1_43(&mut h, V(43));
        assert_eq!(j(&h)["Annotations"]["a"], "b");
    }

    #[test]
    fn start_interval_zeroed_below_1_44() {
        let mut c = config(json!({"Healthcheck": {"Test": ["NONE"], "StartInterval": 5}}));
        start_interval_zeroed_before_1_44(&mut c, V(43));
        assert_eq!(j(&c)["Healthcheck"]["StartInterval"], 0);
        let mut c = config(json!({"Healthcheck": {"Test": ["NONE"], "StartInterval": 5}}));
        start_interval_zeroed_before_1_44(&mut c, V(44));
        assert_eq!(j(&c)["Healthcheck"]["StartInterval"], 5);
    }

    #[test]
    fn force_recursive_read_only_needs_1_44() {
        let body =
            json!({"Mounts": [{"Type": "bind", "BindOptions": {"ReadOnlyForceRecursive": true}}]});
        assert!(refuse_force_recursive_before_1_44(&mut host(body.clone()), V(43)).is_err());
        assert!(refuse_force_recursive_before_1_44(&mut host(body), V(44)).is_ok());
    }

    #[test]
    fn several_endpoints_refused_below_1_44() {
        let e = endpoints(json!({"a": {}, "b": {}}));
        let err = one_endpoint_before_1_44(Some(&e), V(43)).unwrap_err();
        assert_eq!(
            err.message,
            "Container cannot be created with multiple network endpoints: a, b"
        );
        assert!(one_endpoint_before_1_44(Some(&e), V(44)).is_ok());
        assert!(one_endpoint_before_1_44(Some(&endpoints(json!({"a": {}}))), V(43)).is_ok());
    }

    #[test]
    fn subpath_needs_1_45_and_image_mounts_1_48() {
        let sub = json!({"Mounts": [{"Type": "volume", "VolumeOptions": {"Subpath": "x"}}]});
        assert!(refuse_subpath_before_1_45(&mut host(sub.clone()), V(44)).is_err());
        assert!(refuse_subpath_before_1_45(&mut host(sub), V(45)).is_ok());
        let img = json!({"Mounts": [{"Type": "image", "Source": "busybox", "Target": "/i"}]});
        let e = refuse_image_mounts_before_1_48(&mut host(img.clone()), V(47)).unwrap_err();
        assert_eq!(e.message, "Mount type \"Image\" needs API v1.48 or newer");
        assert!(refuse_image_mounts_before_1_48(&mut host(img), V(48)).is_ok());
    }

    #[test]
    fn capabilities_ignored_below_1_40() {
        let mut h = host(json!({"Capabilities": ["CAP_X"], "KernelMemoryTCP": 5}));
        ignore_before_1_40(&mut h, ApiVersion::new(1, 39));
        assert!(j(&h).get("Capabilities").is_none());
        assert_eq!(j(&h)["KernelMemoryTCP"], 0);
        let mut h = host(json!({"Capabilities": ["CAP_X"]}));
        ignore_before_1_40(&mut h, ApiVersion::new(1, 40));
        assert!(j(&h).get("Capabilities").is_some());
    }

    #[test]
    fn inspect_drops_legacy_keys_from_1_52() {
        let full = fixture_inspect(ApiVersion::new(1, 51));
        let mut old = full.clone();
        inspect_trimmed_from_1_52(&mut old, ApiVersion::new(1, 51));
        assert_eq!(shown(&old), shown(&full));
        let before = shown(&full);
        assert!(before["NetworkSettings"].get("IPAddress").is_some());
        assert_eq!(
            before["GraphDriver"],
            json!({"Data": null, "Name": "overlayfs"})
        );
        assert_eq!(before["Config"]["OnBuild"], Value::Null);
        let mut new = full.clone();
        inspect_trimmed_from_1_52(&mut new, ApiVersion::new(1, 52));
        let after = shown(&new);
        for key in ["Bridge", "IPAddress", "MacAddress", "Gateway", "EndpointID"] {
            assert!(after["NetworkSettings"].get(key).is_none(), "{key}");
        }
        assert!(after["NetworkSettings"].get("SandboxKey").is_some());
        assert!(after.get("GraphDriver").is_none());
        assert_eq!(
            after["Storage"],
            json!({"RootFS": {"Snapshot": {"Name": "overlayfs"}}})
        );
        assert!(after["Config"].get("OnBuild").is_none());
        assert!(after["HostConfig"].get("KernelMemoryTCP").is_none());
        let mut kept = full.clone();
        kept.config.on_build = Some(Some(vec!["RUN x".into()]));
        inspect_trimmed_from_1_52(&mut kept, ApiVersion::new(1, 52));
        assert_eq!(shown(&kept)["Config"]["OnBuild"], json!(["RUN x"]));
    }

    #[test]
    fn container_mac_ignored_and_empty_port_bindings_warned_from_1_52() {
        let mut config = ContainerCreateRequest {
            mac_address: Some("02:42:ac:11:00:09".into()),
            ..Default::default()
        };
        assert_eq!(
            container_mac_deprecated_from_1_44(&config, ApiVersion::new(1, 43)),
            None
        );
        assert!(container_mac_deprecated_from_1_44(&config, ApiVersion::new(1, 44)).is_some());
        assert!(container_mac_deprecated_from_1_44(&config, ApiVersion::new(1, 51)).is_some());
        assert_eq!(
            container_mac_deprecated_from_1_44(&config, ApiVersion::new(1, 52)),
            None
        );
        container_mac_ignored_from_1_52(&mut config, ApiVersion::new(1, 51));
        assert!(config.mac_address.is_some());
        container_mac_ignored_from_1_52(&mut config, ApiVersion::new(1, 52));
        assert_eq!(config.mac_address, None);

        let h = host(
            json!({"PortBindings": {"80/tcp": [], "53/udp": [], "81": [],
                                             "443/tcp": [{"HostPort": "8443"}]}}),
        );
        assert_eq!(
            empty_port_bindings_warning_from_1_52(&h, ApiVersion::new(1, 51)),
            None
        );
        assert_eq!(
            empty_port_bindings_warning_from_1_52(&h, ApiVersion::new(1, 52)).as_deref(),
            Some(
                "Following container port(s) have an empty list of port-bindings: \
                 53/udp, 80/tcp, 81/tcp. Such bindings will be discarded in a future version."
            )
        );
    }

    #[test]
    fn umask_is_read_from_1_56() {
        let mut h = host(json!({"Umask": 18}));
        umask_ignored_before_1_56(&mut h, ApiVersion::new(1, 56));
        assert_eq!(h.umask, Some(18));
        umask_ignored_before_1_56(&mut h, ApiVersion::new(1, 55));
        assert_eq!(h.umask, None);
    }
}
