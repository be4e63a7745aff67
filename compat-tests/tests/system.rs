//! `docker version`, `docker info`, `GET /version` and `GET /info`.

use std::cmp::Ordering;
use std::path::Path;
use std::process::Command;

use compat_tests::{compare_api_versions, daemon, procfs};
use serde_json::Value;

/// The containerd version on this host as `containerd --version` prints it
/// (`containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3`).
fn host_containerd_version() -> Option<String> {
    let out = Command::new("containerd").arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace().nth(2).map(str::to_string)
}

fn host_cgroup_version() -> &'static str {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    }
}

fn host_mem_total_bytes() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").expect("read /proc/meminfo");
    let kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("MemTotal in /proc/meminfo");
    kb * 1024
}

fn component<'a>(server: &'a Value, name: &str) -> Option<&'a Value> {
    server["Components"]
        .as_array()?
        .iter()
        .find(|c| c["Name"] == name)
}

#[test]
fn docker_version_prints_server_section() {
    let d = daemon();
    let out = d.docker(&["version", "--format", "{{json .}}"]);
    assert!(out.success(), "docker version failed\n{}", out.describe());
    let v = out.json();
    let server = &v["Server"];
    assert!(server.is_object(), "no Server section: {v}");

    let max = d.max_api_version();
    let min = d.min_api_version();
    assert_eq!(server["ApiVersion"], max.as_str(), "{server}");
    assert_eq!(server["MinAPIVersion"], min.as_str(), "{server}");
    assert!(
        server["Version"].as_str().is_some_and(|s| !s.is_empty()),
        "{server}"
    );
    assert_eq!(server["Os"], "linux", "{server}");
    assert!(
        server["Arch"].as_str().is_some_and(|s| !s.is_empty()),
        "{server}"
    );

    let engine =
        component(server, "Engine").unwrap_or_else(|| panic!("no Engine component: {server}"));
    assert_eq!(
        server["Components"][0]["Name"], "Engine",
        "Engine must come first: {server}"
    );
    assert_eq!(engine["Version"], server["Version"], "{server}");
    assert_eq!(engine["Details"]["ApiVersion"], max.as_str(), "{server}");
    assert_eq!(engine["Details"]["MinAPIVersion"], min.as_str(), "{server}");

    // The CLI negotiated min(server max, its own default) through HEAD /_ping.
    let client_default = v["Client"]["DefaultAPIVersion"]
        .as_str()
        .expect("Client.DefaultAPIVersion");
    let expected = match compare_api_versions(&max, client_default) {
        Ordering::Less => max.clone(),
        _ => client_default.to_string(),
    };
    assert_eq!(
        v["Client"]["ApiVersion"],
        expected.as_str(),
        "negotiated version: {v}"
    );

    // Both berthd (embedded) and the reference dockerd run this host's containerd.
    let containerd = component(server, "containerd")
        .unwrap_or_else(|| panic!("no containerd component: {server}"));
    let cv = containerd["Version"].as_str().unwrap_or("");
    assert!(
        !cv.is_empty(),
        "containerd component without Version: {server}"
    );
    if let Some(host) = host_containerd_version() {
        assert_eq!(cv, host, "containerd component vs `containerd --version`");
    }

    if d.owned() {
        // berthd's own range: up to at least 1.56, down to 1.12.
        assert_ne!(
            compare_api_versions(&max, "1.56"),
            Ordering::Less,
            "ApiVersion {max} < 1.56"
        );
        assert_eq!(min, "1.12");
    }
}

#[test]
fn version_endpoint_reports_range() {
    let d = daemon();
    let max = d.max_api_version();
    for path in ["/version", "/v1.41/version"] {
        let r = d.get(path);
        assert_eq!(r.status, 200, "{path}\n{}", r.describe());
        assert_eq!(
            r.header("Content-Type"),
            Some("application/json"),
            "{path}\n{}",
            r.describe()
        );
        let v = r.json();
        assert_eq!(v["ApiVersion"], max.as_str(), "{path}: {v}");
        let min = v["MinAPIVersion"].as_str().expect("MinAPIVersion");
        assert_ne!(compare_api_versions(min, &max), Ordering::Greater, "{v}");
        for key in [
            "Version",
            "GitCommit",
            "GoVersion",
            "Os",
            "Arch",
            "KernelVersion",
        ] {
            assert!(v[key].is_string(), "{path}: {key} missing: {v}");
        }
        assert_eq!(v["Os"], "linux");
        assert_eq!(v["Components"][0]["Name"], "Engine", "{v}");
        assert_eq!(
            v["Components"][0]["Details"]["ApiVersion"],
            max.as_str(),
            "{v}"
        );
        assert_eq!(v["Components"][0]["Details"]["MinAPIVersion"], min, "{v}");
    }
}

#[test]
fn docker_info_reports_host_facts() {
    let d = daemon();
    let plain = d.docker(&["info"]);
    assert!(plain.success(), "docker info failed\n{}", plain.describe());
    assert!(
        plain.stdout.contains("Server Version:"),
        "{}",
        plain.describe()
    );

    let out = d.docker(&["info", "--format", "{{json .}}"]);
    assert!(
        out.success(),
        "docker info --format failed\n{}",
        out.describe()
    );
    let v = out.json();
    assert!(
        v["ServerErrors"].as_array().is_none_or(|e| e.is_empty()),
        "server errors: {}",
        v["ServerErrors"]
    );
    assert!(
        v["ServerVersion"].as_str().is_some_and(|s| !s.is_empty()),
        "ServerVersion: {v}"
    );
    assert_eq!(
        v["NCPU"].as_u64(),
        Some(procfs::allowed_cpus() as u64),
        "NCPU"
    );
    assert_eq!(
        v["MemTotal"].as_u64(),
        Some(host_mem_total_bytes()),
        "MemTotal"
    );
    assert_eq!(v["OSType"], "linux");
    assert_eq!(v["CgroupVersion"], host_cgroup_version(), "CgroupVersion");
    assert_eq!(
        v["Swarm"]["LocalNodeState"], "inactive",
        "Swarm: {}",
        v["Swarm"]
    );
    let root = v["DockerRootDir"].as_str().expect("DockerRootDir");
    assert!(root.starts_with('/'), "DockerRootDir {root:?}");
    if d.owned() {
        let want = std::fs::canonicalize(d.data_root()).unwrap_or_else(|_| d.data_root());
        assert_eq!(Path::new(root), want, "DockerRootDir should be --data-root");
    }
}

#[test]
fn info_endpoint_shape() {
    let d = daemon();
    let r = d.get("/v1.41/info");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(
        r.header("Content-Type"),
        Some("application/json"),
        "{}",
        r.describe()
    );
    let v = r.json();
    for key in [
        "ID",
        "Containers",
        "ContainersRunning",
        "ContainersPaused",
        "ContainersStopped",
        "Images",
        "Driver",
        "NCPU",
        "MemTotal",
        "DockerRootDir",
        "OperatingSystem",
        "OSType",
        "Architecture",
        "KernelVersion",
        "ServerVersion",
        "CgroupDriver",
        "CgroupVersion",
        "LoggingDriver",
        "Name",
        "Swarm",
        "Runtimes",
        "DefaultRuntime",
        "SecurityOptions",
        "RegistryConfig",
        "Plugins",
        "Warnings",
    ] {
        assert!(v.get(key).is_some(), "/info lacks {key}: {v}");
    }
    assert_eq!(v["OSType"], "linux");
    assert!(v["Containers"].is_u64() && v["Images"].is_u64(), "{v}");
    assert_eq!(v["Swarm"]["LocalNodeState"], "inactive");
    assert_eq!(v["Swarm"]["ControlAvailable"], false);
}
