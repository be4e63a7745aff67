//! `/_ping`, `/version`, `/info`, `/system/df`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use serde_json::{Value, json};

use super::AppState;
use crate::compat::info::adapt_info;
use crate::error::ApiError;
use crate::types::system::*;
use crate::version::{ApiVersion, ENGINE_VERSION, MAX_API_VERSION, MIN_API_VERSION};

fn ping_headers(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    // The classic builder only: there is no BuildKit behind this daemon.
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    h.insert("Swarm", HeaderValue::from_static("inactive"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
}

#[utoipa::path(get, path = "/_ping", tag = "System",
    responses((status = 200, description = "OK", body = String, content_type = "text/plain")))]
pub async fn ping() -> Response {
    let mut resp = "OK".into_response();
    ping_headers(&mut resp);
    resp
}

#[utoipa::path(head, path = "/_ping", tag = "System", responses((status = 200, description = "OK")))]
pub async fn ping_head() -> Response {
    let mut resp = ().into_response();
    ping_headers(&mut resp);
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    resp
}

#[utoipa::path(get, path = "/version", tag = "System",
    responses((status = 200, body = SystemVersion)))]
pub async fn version(State(s): State<AppState>) -> Result<Json<SystemVersion>, ApiError> {
    let versions = s.engine.component_versions().await?;
    Ok(Json(system_version(
        &versions,
        s.engine.host(),
        s.flags.experimental,
    )))
}

/// `GET /version`'s answer: the engine, containerd and runc, as the CLI prints them.
fn system_version(
    versions: &berth_engine::ComponentVersions,
    host: &berth_engine::system::HostFacts,
    experimental: bool,
) -> SystemVersion {
    let arch = go_arch(&host.architecture);
    let mut engine_details = BTreeMap::new();
    for (k, v) in [
        ("ApiVersion", MAX_API_VERSION.to_string()),
        ("MinAPIVersion", MIN_API_VERSION.to_string()),
        ("GitCommit", GIT_COMMIT.to_string()),
        ("GoVersion", GO_VERSION.to_string()),
        ("Os", "linux".to_string()),
        ("Arch", arch.clone()),
        ("KernelVersion", host.kernel_version.clone()),
        ("Experimental", experimental.to_string()),
        ("BuildTime", String::new()),
    ] {
        engine_details.insert(k.to_string(), v);
    }
    let component = |name: &str, version: &str, commit: &str| ComponentVersion {
        name: name.to_string(),
        version: version.to_string(),
        details: Some(BTreeMap::from([(
            "GitCommit".to_string(),
            commit.to_string(),
        )])),
    };
    SystemVersion {
        platform: Platform {
            name: format!("Berth {}", berth_engine::BERTH_VERSION),
        },
        components: vec![
            ComponentVersion {
                name: "Engine".into(),
                version: ENGINE_VERSION.into(),
                details: Some(engine_details),
            },
            component(
                "containerd",
                &versions.containerd.version,
                &versions.containerd.commit,
            ),
            component("runc", &versions.runc.version, &versions.runc.commit),
        ],
        version: ENGINE_VERSION.into(),
        api_version: MAX_API_VERSION.to_string(),
        min_api_version: MIN_API_VERSION.to_string(),
        git_commit: GIT_COMMIT.into(),
        go_version: GO_VERSION.into(),
        os: "linux".into(),
        arch,
        kernel_version: host.kernel_version.clone(),
        experimental,
        build_time: String::new(),
    }
}

/// Berth is not a Go program; clients only display these.
const GIT_COMMIT: &str = "berth";
const GO_VERSION: &str = concat!("rust (berth ", env!("CARGO_PKG_VERSION"), ")");

/// Go's GOARCH spelling of `uname -m`.
fn go_arch(machine: &str) -> String {
    match machine {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "armv7l" | "armv6l" => "arm",
        "i686" | "i386" => "386",
        other => other,
    }
    .to_string()
}

#[utoipa::path(get, path = "/info", tag = "System", responses((status = 200, body = SystemInfo)))]
pub async fn info(
    State(s): State<AppState>,
    Extension(version): Extension<ApiVersion>,
) -> Result<Json<SystemInfo>, ApiError> {
    let counts = s.engine.system_counts().await?;
    let versions = s.engine.component_versions().await?;
    let mut info = system_info(&s.engine, &counts, &versions, s.flags.experimental);
    adapt_info(&mut info, version);
    Ok(Json(info))
}

/// `GET /info`'s answer in its newest shape (`compat::info` adapts it to older versions).
fn system_info(
    engine: &berth_engine::Engine,
    counts: &berth_engine::SystemCounts,
    versions: &berth_engine::ComponentVersions,
    experimental: bool,
) -> SystemInfo {
    let host = engine.host();
    let config = engine.config();
    let commit = |id: &str| Commit {
        id: id.to_string(),
        expected: None,
    };
    let mut runtimes = BTreeMap::new();
    runtimes.insert(
        "runc".to_string(),
        RuntimeInfo {
            path: "runc".into(),
            runtime_args: None,
            status: None,
        },
    );
    let mut index_configs = BTreeMap::new();
    index_configs.insert(
        "docker.io".to_string(),
        IndexInfo {
            name: "docker.io".into(),
            mirrors: vec![],
            secure: true,
            official: true,
        },
    );
    let registries = engine.images().registries();
    for host in registries.insecure_hosts() {
        index_configs.insert(
            host.clone(),
            IndexInfo {
                name: host.clone(),
                mirrors: vec![],
                secure: false,
                official: false,
            },
        );
    }
    let env = |k: &str| {
        std::env::var(k)
            .or_else(|_| std::env::var(k.to_ascii_lowercase()))
            .unwrap_or_default()
    };
    let cgroup_v1 = host.cgroup_version == "1";
    SystemInfo {
        id: engine.engine_id().to_string(),
        containers: counts.containers,
        containers_running: counts.containers_running,
        containers_paused: counts.containers_paused,
        containers_stopped: counts.containers_stopped,
        images: counts.images,
        driver: "overlayfs".into(),
        driver_status: vec![[
            "driver-type".to_string(),
            "io.containerd.snapshotter.v1".to_string(),
        ]],
        plugins: PluginsInfo {
            volume: vec!["local".into()],
            network: vec!["bridge".into(), "host".into(), "null".into()],
            authorization: None,
            log: vec!["json-file".into()],
        },
        memory_limit: true,
        swap_limit: true,
        cpu_cfs_period: true,
        cpu_cfs_quota: true,
        cpu_shares: true,
        cpu_set: true,
        pids_limit: true,
        ipv4_forwarding: host.ipv4_forwarding,
        bridge_nf_iptables: None,
        bridge_nf_ip6tables: None,
        debug: config.debug,
        nfd: count_open_fds(),
        oom_kill_disable: cgroup_v1,
        ngoroutines: tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks() as u64,
        system_time: now_rfc3339_nano(),
        logging_driver: "json-file".into(),
        cgroup_driver: "cgroupfs".into(),
        cgroup_version: host.cgroup_version.clone(),
        nevents_listener: engine.events().listeners() as u64,
        kernel_version: host.kernel_version.clone(),
        operating_system: host.operating_system.clone(),
        os_version: host.os_version.clone(),
        os_type: "linux".into(),
        architecture: host.architecture.clone(),
        index_server_address: "https://index.docker.io/v1/".into(),
        registry_config: RegistryServiceConfig {
            allow_nondistributable_artifacts_cidrs: None,
            allow_nondistributable_artifacts_hostnames: None,
            insecure_registry_cidrs: registries.insecure_cidrs(),
            index_configs,
            mirrors: vec![],
        },
        ncpu: host.ncpu as u64,
        mem_total: host.mem_total,
        generic_resources: None,
        docker_root_dir: config.data_root.display().to_string(),
        http_proxy: env("HTTP_PROXY"),
        https_proxy: env("HTTPS_PROXY"),
        no_proxy: env("NO_PROXY"),
        name: host.hostname.clone(),
        labels: config.labels.clone(),
        experimental_build: experimental,
        server_version: ENGINE_VERSION.into(),
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
        containerd_commit: commit(&versions.containerd.commit),
        runc_commit: commit(&versions.runc.commit),
        init_commit: commit(""),
        // Docker's default seccomp profile is applied to every unprivileged container.
        security_options: vec!["name=seccomp,profile=default".into()],
        cdi_spec_dirs: vec![],
        firewall_backend: None,
        discovered_devices: Some(vec![]),
        containerd: Some(ContainerdInfo {
            address: engine.containerd_socket().display().to_string(),
            namespaces: ContainerdNamespaces {
                containers: config.namespace.clone(),
                plugins: format!("plugins.{}", config.namespace),
            },
        }),
        default_address_pools: address_pools(&config.network.default_address_pools),
        warnings: None,
    }
}

/// `base=CIDR,size=N` specs as `/info` lists them; None when none were configured.
fn address_pools(specs: &[String]) -> Option<Vec<crate::types::system::AddressPool>> {
    if specs.is_empty() {
        return None;
    }
    let pools = specs
        .iter()
        .map(|spec| {
            let field = |key: &str| {
                spec.split(',')
                    .filter_map(|kv| kv.split_once('='))
                    .find(|(k, _)| k.trim() == key)
                    .map(|(_, v)| v.trim().to_string())
                    .unwrap_or_default()
            };
            crate::types::system::AddressPool {
                base: field("base"),
                size: field("size").parse().unwrap_or(0),
            }
        })
        .collect();
    Some(pools)
}

fn count_open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

pub(crate) fn now_rfc3339_nano() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_names_follow_go() {
        assert_eq!(go_arch("x86_64"), "amd64");
        assert_eq!(go_arch("aarch64"), "arm64");
        assert_eq!(go_arch("riscv64"), "riscv64");
    }
}

#[utoipa::path(get, path = "/system/df", tag = "System",
    params(("type" = Option<Vec<String>>, Query)),
    responses((status = 200, description = "disk usage by images, containers, volumes and build cache")))]
pub async fn disk_usage(
    State(s): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    q: crate::extract::QueryParams,
) -> Result<Json<serde_json::Value>, ApiError> {
    let types = q.all("type");
    // `type` is honoured from 1.42; older clients always get everything.
    let (mut images, mut containers, mut volumes) = (true, true, true);
    if version.ge(1, 42) && !types.is_empty() {
        (images, containers, volumes) = (false, false, false);
        for t in &types {
            match *t {
                "image" => images = true,
                "container" => containers = true,
                "volume" => volumes = true,
                "build-cache" => {}
                other => {
                    return Err(ApiError::invalid(format!("unknown object type: {other}")));
                }
            }
        }
    }
    let shape = crate::compat::disk_usage::usage_summaries_from_1_52(version, q.bool("verbose"));
    let build_cache = version.lt(1, 42) || types.is_empty() || types.contains(&"build-cache");
    let du = s.engine.disk_usage(images, containers).await?;
    let image_usage = du.images.as_ref().map(|list| {
        let mut usage = UsageSummary::default();
        for u in list {
            usage.total_count += 1;
            if u.containers > 0 {
                usage.active_count += 1;
            } else {
                usage.reclaimable += u.entry.size - u.shared_size;
            }
        }
        usage.total_size = du.layers_size;
        let items = list
            .iter()
            .map(|u| {
                let summary = super::images::image_summary(
                    &u.entry,
                    u.entry.repo_tags(),
                    u.entry.repo_digests(),
                    u.containers,
                    u.shared_size,
                    version,
                );
                serde_json::to_value(summary).unwrap_or_default()
            })
            .collect::<Vec<_>>();
        (usage, items)
    });
    let container_usage = du.containers.as_ref().map(|list| {
        let mut usage = UsageSummary::default();
        let items = list
            .iter()
            .map(|u| {
                usage.total_count += 1;
                usage.total_size += u.size.size_rw;
                if u.record.state.running() {
                    usage.active_count += 1;
                } else {
                    usage.reclaimable += u.size.size_rw;
                }
                let entry = crate::types::container::summary(&u.record).with_sizes(u.size);
                serde_json::to_value(entry).unwrap_or_default()
            })
            .collect::<Vec<_>>();
        (usage, items)
    });
    let volume_usage = volumes.then(|| {
        let mut usage = UsageSummary::default();
        let items = s
            .engine
            .volumes()
            .list()
            .iter()
            .map(|v| {
                let refs = s.engine.containers().volume_users(&v.name).len() as i64;
                let size = s.engine.volumes().size(v);
                usage.total_count += 1;
                usage.active_count += 1;
                if size >= 0 {
                    usage.total_size += size;
                    if refs == 0 {
                        usage.reclaimable += size;
                        usage.active_count -= 1;
                    }
                }
                serde_json::to_value(super::volumes::volume_view(v, Some((size, refs))))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>();
        (usage, items)
    });
    let mut out = serde_json::Map::new();
    if shape.legacy_lists && version.lt(1, 52) {
        out.insert(
            "LayersSize".into(),
            json!(if images { du.layers_size } else { 0 }),
        );
        out.insert("Images".into(), json!(image_usage.as_ref().map(|u| &u.1)));
        out.insert(
            "Containers".into(),
            json!(container_usage.as_ref().map(|u| &u.1)),
        );
        out.insert("Volumes".into(), json!(volume_usage.as_ref().map(|u| &u.1)));
        // No builder runs behind this daemon, so there is no build cache to report.
        out.insert("BuildCache".into(), Value::Null);
        out.insert("BuilderSize".into(), json!(0));
    } else if shape.legacy_lists {
        // moby 29's lists: only what was asked for, and no zero LayersSize.
        if image_usage.is_some() && du.layers_size != 0 {
            out.insert("LayersSize".into(), json!(du.layers_size));
        }
        for (key, usage) in [
            ("Images", &image_usage),
            ("Containers", &container_usage),
            ("Volumes", &volume_usage),
        ] {
            if let Some((_, items)) = usage {
                out.insert(key.into(), json!(items));
            }
        }
        if build_cache {
            out.insert("BuildCache".into(), json!([]));
        }
    }
    if shape.usage_summaries {
        for (key, usage) in [
            ("ImageUsage", image_usage),
            ("ContainerUsage", container_usage),
            ("VolumeUsage", volume_usage),
        ] {
            if let Some((summary, items)) = usage {
                out.insert(key.into(), summary.to_json(items));
            }
        }
        if build_cache {
            out.insert(
                "BuildCacheUsage".into(),
                UsageSummary::default().to_json(vec![]),
            );
        }
    }
    Ok(Json(Value::Object(out)))
}

/// One of the `*Usage` summaries of `/system/df` (API 1.52): counts and bytes, each left out
/// when zero as Go's `omitempty` does.
#[derive(Default)]
struct UsageSummary {
    active_count: i64,
    total_count: i64,
    reclaimable: i64,
    total_size: i64,
}

impl UsageSummary {
    fn to_json(&self, items: Vec<Value>) -> Value {
        let mut out = serde_json::Map::new();
        for (key, n) in [
            ("ActiveCount", self.active_count),
            ("Reclaimable", self.reclaimable),
            ("TotalCount", self.total_count),
            ("TotalSize", self.total_size),
        ] {
            if n != 0 {
                out.insert(key.into(), json!(n));
            }
        }
        if !items.is_empty() {
            out.insert("Items".into(), Value::Array(items));
        }
        Value::Object(out)
    }
}
