//! Container inspect and list shapes (moby `api/types/container`), built from Berth's record.
//! Every key moby emits is present, with Go's zero values where Berth has nothing to say.

use serde_json::{Map, Value, json};

use berth_engine::container::model::{ContainerRecord, Status};

use crate::version::ApiVersion;

/// Keys of moby's `container.Config`, in order, with their zero values (omitempty keys
/// are left out unless set).
type ZeroValue = fn() -> Value;

const CONFIG_KEYS: &[(&str, ZeroValue)] = &[
    ("Hostname", || json!("")),
    ("Domainname", || json!("")),
    ("User", || json!("")),
    ("AttachStdin", || json!(false)),
    ("AttachStdout", || json!(false)),
    ("AttachStderr", || json!(false)),
    ("Tty", || json!(false)),
    ("OpenStdin", || json!(false)),
    ("StdinOnce", || json!(false)),
    ("Env", || Value::Null),
    ("Cmd", || Value::Null),
    ("Image", || json!("")),
    ("Volumes", || Value::Null),
    ("WorkingDir", || json!("")),
    ("Entrypoint", || Value::Null),
    ("OnBuild", || Value::Null),
    ("Labels", || json!({})),
];

const CONFIG_OPTIONAL: &[&str] = &[
    "ExposedPorts",
    "Healthcheck",
    "ArgsEscaped",
    "NetworkDisabled",
    "MacAddress",
    "StopSignal",
    "StopTimeout",
    "Shell",
];

/// The keys an engine struct was given, in moby's spelling.
fn given_keys<T: serde::Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

fn config(c: &ContainerRecord) -> Value {
    let src = given_keys(&c.config);
    let mut out = Map::new();
    for (k, zero) in CONFIG_KEYS {
        out.insert((*k).into(), src.get(*k).cloned().unwrap_or_else(zero));
    }
    for k in CONFIG_OPTIONAL {
        if let Some(v) = src.get(*k).filter(|v| !v.is_null()) {
            out.insert((*k).into(), v.clone());
        }
    }
    Value::Object(out)
}

fn host_config(c: &ContainerRecord, v: ApiVersion) -> Value {
    let src = given_keys(&c.host_config);
    let network_mode = match src.get("NetworkMode").and_then(Value::as_str) {
        None | Some("") | Some("default") => "bridge".to_string(),
        Some(m) => m.to_string(),
    };
    let mut h = json!({
        "Binds": null, "ContainerIDFile": "", "LogConfig": {"Type": "json-file", "Config": {}},
        "NetworkMode": network_mode, "PortBindings": {}, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "AutoRemove": false, "VolumeDriver": "", "VolumesFrom": null, "ConsoleSize": [0, 0],
        "CapAdd": null, "CapDrop": null, "CgroupnsMode": "host", "Dns": null, "DnsOptions": null, "DnsSearch": null,
        "ExtraHosts": null, "GroupAdd": null, "IpcMode": "private", "Cgroup": "", "Links": null,
        "OomScoreAdj": 0, "PidMode": "", "Privileged": false, "PublishAllPorts": false,
        "ReadonlyRootfs": false, "SecurityOpt": null, "UTSMode": "", "UsernsMode": "",
        "ShmSize": 67108864, "Runtime": "runc", "Isolation": "", "CpuShares": 0, "Memory": 0,
        "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": null,
        "BlkioDeviceReadBps": null, "BlkioDeviceWriteBps": null, "BlkioDeviceReadIOps": null,
        "BlkioDeviceWriteIOps": null, "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "", "Devices": null,
        "DeviceCgroupRules": null, "DeviceRequests": null, "MemoryReservation": 0, "MemorySwap": 0,
        "MemorySwappiness": null, "OomKillDisable": false, "PidsLimit": null, "Ulimits": null,
        "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
        "MaskedPaths": berth_engine::oci::MASKED_PATHS, "ReadonlyPaths": berth_engine::oci::READONLY_PATHS,
    });
    if v.lt(1, 42) {
        h["KernelMemory"] = json!(0);
        h["KernelMemoryTCP"] = json!(0);
    }
    if let Some(obj) = h.as_object_mut() {
        for (k, val) in src {
            if k == "NetworkMode" || val.is_null() {
                continue;
            }
            obj.insert(k, val);
        }
        if c.host_config.privileged() {
            obj.insert("MaskedPaths".into(), Value::Null);
            obj.insert("ReadonlyPaths".into(), Value::Null);
        }
    }
    h
}

fn endpoint_json(e: &berth_engine::network::Endpoint) -> Value {
    let list = |l: &Vec<String>| if l.is_empty() { Value::Null } else { json!(l) };
    // moby's EndpointIPAMConfig omits its empty fields; no field at all is a null.
    let mut ipam = Map::new();
    if !e.ipv4_address.is_empty() {
        ipam.insert("IPv4Address".into(), json!(e.ipv4_address));
    }
    if !e.ipv6_address.is_empty() {
        ipam.insert("IPv6Address".into(), json!(e.ipv6_address));
    }
    if !e.link_local_ips.is_empty() {
        ipam.insert("LinkLocalIPs".into(), json!(e.link_local_ips));
    }
    let ipam = if ipam.is_empty() {
        Value::Null
    } else {
        Value::Object(ipam)
    };
    // The address it was given while running; the one asked for before.
    let mac = if e.mac.is_empty() {
        &e.static_mac
    } else {
        &e.mac
    };
    let driver_opts = if e.driver_opts.is_empty() {
        Value::Null
    } else {
        json!(e.driver_opts)
    };
    json!({
        "IPAMConfig": ipam,
        "Links": list(&e.links), "Aliases": list(&e.aliases),
        "NetworkID": e.network_id, "EndpointID": e.endpoint_id, "Gateway": e.gateway,
        "IPAddress": e.ip, "IPPrefixLen": e.prefix, "IPv6Gateway": e.gateway6,
        "GlobalIPv6Address": e.ip6, "GlobalIPv6PrefixLen": e.prefix6, "MacAddress": mac, "DriverOpts": driver_opts,
        "DNSNames": list(&e.dns_names),
    })
}

/// `NetworkSettings.Ports`: while running, each exposed or published port with its host
/// bindings (an unbound host address shows as both `0.0.0.0` and `::`, as dockerd shows it).
fn ports_map(c: &ContainerRecord) -> Value {
    let mut out = Map::new();
    if !c.state.running() {
        return Value::Object(out);
    }
    for key in c.config.exposed_ports() {
        out.insert(key.clone(), Value::Null);
    }
    for p in &c.ports {
        let key = format!("{}/{}", p.container_port, p.protocol);
        let entry = out.entry(key).or_insert(Value::Null);
        if entry.is_null() {
            *entry = json!([]);
        }
        let list = entry.as_array_mut().expect("just made an array");
        let port = p.host_port.to_string();
        if p.host_ip.is_empty() {
            list.push(json!({"HostIp": "0.0.0.0", "HostPort": port}));
            list.push(json!({"HostIp": "::", "HostPort": port}));
        } else {
            list.push(json!({"HostIp": p.host_ip, "HostPort": port}));
        }
    }
    Value::Object(out)
}

/// `Ports` of `GET /containers/json`.
pub fn ports_list(c: &ContainerRecord) -> Value {
    let mut out = Vec::new();
    if !c.state.running() {
        return json!([]);
    }
    for (key, bindings) in ports_map(c).as_object().into_iter().flatten() {
        let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        let private: u64 = port.parse().unwrap_or(0);
        match bindings.as_array() {
            Some(list) => {
                for b in list {
                    out.push(json!({
                        "IP": b["HostIp"], "PrivatePort": private,
                        "PublicPort": b["HostPort"].as_str().and_then(|p| p.parse::<u64>().ok()),
                        "Type": proto,
                    }));
                }
            }
            None => out.push(json!({"PrivatePort": private, "Type": proto})),
        }
    }
    Value::Array(out)
}

fn network_settings(c: &ContainerRecord, full: bool) -> Value {
    let networks: Map<String, Value> = c
        .networks
        .iter()
        .map(|(name, e)| (name.clone(), endpoint_json(e)))
        .collect();
    if !full {
        return json!({"Networks": networks});
    }
    // The legacy top-level fields describe the default bridge endpoint only.
    let default = c.networks.get("bridge").cloned().unwrap_or_default();
    json!({
        "Bridge": "", "SandboxID": if c.sandbox.is_empty() { String::new() } else { c.id.clone() },
        "HairpinMode": false, "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0, "Ports": ports_map(c), "SandboxKey": c.sandbox,
        "SecondaryIPAddresses": null, "SecondaryIPv6Addresses": null,
        "EndpointID": default.endpoint_id, "Gateway": default.gateway, "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0, "IPAddress": default.ip, "IPPrefixLen": default.prefix,
        "IPv6Gateway": "", "MacAddress": default.mac,
        "Networks": networks,
    })
}

/// `GET /containers/{id}/json`.
pub fn inspect(c: &ContainerRecord, v: ApiVersion) -> Value {
    let mut out = inspect_without_health(c, v);
    if let Some(h) = &c.state.health {
        out["State"]["Health"] = json!({
            "Status": h.status,
            "FailingStreak": h.failing_streak,
            "Log": h.log.iter().map(|r| json!({
                "Start": r.start, "End": r.end, "ExitCode": r.exit_code, "Output": r.output,
            })).collect::<Vec<_>>(),
        });
    }
    out
}

fn inspect_without_health(c: &ContainerRecord, v: ApiVersion) -> Value {
    let st = &c.state;
    json!({
        "Id": c.id,
        "Created": c.created,
        "Path": c.path,
        "Args": c.args,
        "State": {
            "Status": st.status.as_str(),
            "Running": matches!(st.status, Status::Running | Status::Paused | Status::Restarting),
            "Paused": st.status == Status::Paused,
            "Restarting": st.status == Status::Restarting,
            "OOMKilled": st.oom_killed,
            "Dead": st.status == Status::Dead,
            "Pid": st.pid,
            "ExitCode": st.exit_code,
            "Error": st.error,
            "StartedAt": st.started_at,
            "FinishedAt": st.finished_at,
        },
        "Image": c.image_id,
        "ResolvConfPath": c.resolv_conf_path,
        "HostnamePath": c.hostname_path,
        "HostsPath": c.hosts_path,
        "LogPath": c.log_path,
        "Name": c.name,
        "RestartCount": c.restart_count,
        "Driver": "overlayfs",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": null,
        "HostConfig": host_config(c, v),
        "GraphDriver": {"Data": null, "Name": "overlayfs"},
        "Mounts": mounts(c),
        "Config": config(c),
        "NetworkSettings": network_settings(c, true),
    })
}

/// Go's `units.HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    match () {
        _ if s < 1 => "Less than a second".into(),
        _ if s == 1 => "1 second".into(),
        _ if s < 60 => format!("{s} seconds"),
        _ if m == 1 => "About a minute".into(),
        _ if m < 60 => format!("{m} minutes"),
        _ if h == 1 => "About an hour".into(),
        _ if h < 48 => format!("{h} hours"),
        _ if h < 24 * 7 * 2 => format!("{d} days"),
        _ if h < 24 * 30 * 2 => format!("{} weeks", d / 7),
        _ if h < 24 * 365 * 2 => format!("{} months", d / 30),
        _ => format!("{} years", d / 365),
    }
}

fn since(rfc3339: &str) -> i64 {
    let t = berth_engine::container::logs::parse_time_nanos(rfc3339) / 1_000_000_000;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i128)
        .unwrap_or_default();
    (now - t) as i64
}

/// `docker ps`'s STATUS column.
pub fn status_text(c: &ContainerRecord) -> String {
    let st = &c.state;
    match st.status {
        Status::Running => match &st.health {
            Some(h) if h.status == "starting" => format!(
                "Up {} (health: starting)",
                human_duration(since(&st.started_at))
            ),
            Some(h) => format!(
                "Up {} ({})",
                human_duration(since(&st.started_at)),
                h.status
            ),
            None => format!("Up {}", human_duration(since(&st.started_at))),
        },
        Status::Paused => format!("Up {} (Paused)", human_duration(since(&st.started_at))),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            st.exit_code,
            human_duration(since(&st.finished_at))
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            st.exit_code,
            human_duration(since(&st.finished_at))
        ),
        Status::Created => "Created".into(),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
    }
}

/// `Mounts` as moby shows them: volumes with their name and driver.
fn mounts(c: &ContainerRecord) -> Value {
    Value::Array(
        c.mounts
            .iter()
            .map(|m| {
                if m.kind == "volume" {
                    json!({
                        "Type": "volume", "Name": m.name, "Source": m.source,
                        "Destination": m.destination, "Driver": "local", "Mode": m.mode,
                        "RW": m.rw, "Propagation": m.propagation,
                    })
                } else {
                    json!({
                        "Type": m.kind, "Source": m.source, "Destination": m.destination,
                        "Mode": m.mode, "RW": m.rw, "Propagation": m.propagation,
                    })
                }
            })
            .collect(),
    )
}

/// `GET /containers/json` entries.
pub fn summary(c: &ContainerRecord, _v: ApiVersion) -> Value {
    let created = berth_engine::container::logs::parse_time_nanos(&c.created) / 1_000_000_000;
    let mode = match c.host_config.network_mode() {
        "" | "default" => "bridge",
        m => m,
    };
    json!({
        "Id": c.id,
        "Names": [c.name],
        "Image": c.config.image(),
        "ImageID": c.image_id,
        "Command": c.command(),
        "Created": created as i64,
        "Ports": ports_list(c),
        "Labels": c.labels(),
        "State": c.state.status.as_str(),
        "Status": status_text(c),
        "HostConfig": {"NetworkMode": mode},
        "NetworkSettings": network_settings(c, false),
        "Mounts": mounts(c),
    })
}

/// `SizeRw` and `SizeRootFs`, left out when zero as Go's `omitempty` does.
pub fn add_sizes(entry: &mut Value, size: berth_engine::disk_usage::ContainerSize) {
    if size.size_rw != 0 {
        entry["SizeRw"] = json!(size.size_rw);
    }
    if size.size_root_fs != 0 {
        entry["SizeRootFs"] = json!(size.size_root_fs);
    }
}

/// Inspect's `SizeRw` and `SizeRootFs` with `size=1`: pointers in moby's struct, so present
/// even when zero.
pub fn inspect_sizes(out: &mut Value, size: berth_engine::disk_usage::ContainerSize) {
    out["SizeRw"] = json!(size.size_rw);
    out["SizeRootFs"] = json!(size.size_root_fs);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_docker() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(59), "59 seconds");
        assert_eq!(human_duration(60), "About a minute");
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(3 * 3600), "3 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
    }
}
