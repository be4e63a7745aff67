//! Docker semantics on top of containerd.
//!
//! The engine owns daemon state (events, host facts, the containerd connection and, when
//! embedded, the containerd process). It knows nothing of HTTP or API versions: callers get
//! plain Rust values and [`Error`]s whose kind says what went wrong.

pub mod build;
pub mod commit;
pub mod confined;
pub mod container;
pub mod disk_usage;
pub mod error;
pub mod events;
pub mod filters;
pub mod image;
pub mod network;
pub mod oci;
pub mod rootfs;
pub(crate) mod runtime;
pub mod system;
pub mod volume;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use error::{Error, ErrorKind, Result};
use events::EventBus;
use runtime::{Containerd, EmbeddedContainerd};
use system::{HostFacts, RuntimeVersion};

/// Version of Berth itself.
pub const BERTH_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where the engine finds containerd.
#[derive(Clone, Debug)]
pub enum ContainerdEndpoint {
    /// Start and supervise a private containerd under the data and exec roots.
    Embedded,
    /// Use an existing containerd listening on this socket.
    External(PathBuf),
}

#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub containerd: ContainerdEndpoint,
    pub namespace: String,
    pub debug: bool,
    /// Labels reported by `/info` (`--label`).
    pub labels: Vec<String>,
    /// `--insecure-registry` values: `host[:port]` names or CIDR ranges.
    pub insecure_registries: Vec<String>,
    /// `--bip`, `--bridge`, `--default-address-pool`.
    pub network: network::NetworkSettings,
}

/// The daemon's engine: one per berthd.
pub struct Engine {
    config: EngineConfig,
    containerd: Containerd,
    embedded: Option<EmbeddedContainerd>,
    events: Arc<EventBus>,
    images: image::store::ImageStore,
    containers: Arc<container::ContainerService>,
    host: HostFacts,
    engine_id: String,
    /// The classic builder's step cache.
    build_cache: build::BuildCache,
}

impl Engine {
    /// Brings up containerd (embedded or external) and loads persistent daemon state.
    pub async fn start(config: EngineConfig) -> Result<Engine> {
        let (registries, warnings) =
            image::registry::RegistryPolicy::parse(&config.insecure_registries);
        for w in warnings {
            tracing::warn!("{w}");
        }
        let registries = registries.map_err(Error::invalid)?;
        system::ensure_dir(&config.data_root)?;
        system::ensure_dir(&config.exec_root)?;
        let engine_id = system::load_or_create_engine_id(&config.data_root)?;
        // Host facts (runc --version among them) are gathered while containerd starts.
        let host = tokio::spawn(HostFacts::gather());
        let (socket, embedded) = match &config.containerd {
            ContainerdEndpoint::External(path) => (path.clone(), None),
            ContainerdEndpoint::Embedded => {
                let embedded =
                    EmbeddedContainerd::start(&config.data_root, &config.exec_root, config.debug)
                        .await?;
                (embedded.socket().to_path_buf(), Some(embedded))
            }
        };
        let containerd = Containerd::connect(&socket, &config.namespace)?;
        if embedded.is_none() {
            // An external containerd must answer before we claim to be up.
            containerd.version().await.map_err(|e| {
                Error::unavailable(format!(
                    "cannot reach containerd at {}: {}",
                    socket.display(),
                    e.message
                ))
            })?;
        }
        let host = host
            .await
            .map_err(|e| Error::internal(format!("gathering host facts: {e}")))?;
        let events = Arc::new(EventBus::new());
        let images = image::store::ImageStore::new(
            containerd.clone(),
            events.clone(),
            &config.data_root,
            registries,
        );
        // What a killed predecessor was in the middle of: its temp files and the leases that
        // kept its half-written content; nothing of this process uses either yet.
        system::empty_dir(images.scratch_dir())?;
        match containerd.delete_stale_leases().await {
            Ok(ids) if !ids.is_empty() => tracing::info!(?ids, "ended leases left by a crash"),
            Ok(_) => {}
            Err(e) => tracing::warn!("cannot list leases: {}", e.message),
        }
        let volumes = Arc::new(volume::VolumeStore::new(&config.data_root, events.clone())?);
        let networks = Arc::new(network::NetworkStore::new(
            &config.data_root,
            &config.exec_root,
            events.clone(),
            &config.network,
        )?);
        let containers = container::ContainerService::new(
            containerd.clone(),
            events.clone(),
            config.data_root.clone(),
            config.exec_root.clone(),
            config.namespace.clone(),
            volumes.clone(),
            networks,
        );
        containers.restore().await?;
        let build_cache = build::BuildCache::load(&config.data_root);
        Ok(Engine {
            build_cache,
            config,
            containerd,
            embedded,
            events,
            images,
            containers,
            host,
            engine_id,
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub fn events(&self) -> &Arc<EventBus> {
        &self.events
    }

    pub fn images(&self) -> &image::store::ImageStore {
        &self.images
    }

    pub fn containers(&self) -> &container::ContainerService {
        &self.containers
    }

    pub fn volumes(&self) -> &volume::VolumeStore {
        self.containers.volumes()
    }

    pub fn networks(&self) -> &network::NetworkStore {
        self.containers.networks()
    }

    /// `docker rmi`, refusing images that containers use (moby's conflict texts).
    pub async fn remove_image(
        &self,
        name: &str,
        force: bool,
        noprune: bool,
    ) -> Result<Vec<image::store::RemovedImage>> {
        let entry = self.images.find(name).await?;
        let user = self.containers.user_of_image(&entry.resolved.id);
        let mut out = self.images.remove(name, force, user).await?;
        let deleted = out
            .iter()
            .any(|r| matches!(r, image::store::RemovedImage::Deleted(_)));
        if deleted && !noprune {
            out.extend(self.prune_parents(&entry.resolved.parent).await);
        }
        Ok(out)
    }

    /// moby's parent pruning after a delete: each parent in turn goes while it has no name,
    /// no other child and no container (a build's step images, for instance).
    async fn prune_parents(&self, mut parent: &str) -> Vec<image::store::RemovedImage> {
        let mut out = Vec::new();
        let Ok(all) = self.images.list().await else {
            return out;
        };
        let mut gone: Vec<&str> = Vec::new();
        while !parent.is_empty() {
            let Some(p) = all.iter().find(|e| e.resolved.id == parent) else {
                break;
            };
            let has_child = all.iter().any(|e| {
                e.resolved.parent == p.resolved.id && !gone.contains(&e.resolved.id.as_str())
            });
            if p.references().next().is_some()
                || has_child
                || self.containers.user_of_image(&p.resolved.id).is_some()
            {
                break;
            }
            match self.images.remove(&p.resolved.id, false, None).await {
                Ok(removed) => out.extend(removed),
                Err(_) => break,
            }
            gone.push(&p.resolved.id);
            parent = &p.resolved.parent;
        }
        out
    }

    /// `docker image prune`: dangling images (all unused ones with `all`) that no container
    /// uses. Returns what was removed and the bytes freed.
    pub async fn prune_images(
        &self,
        all: bool,
        keep: impl Fn(&image::store::ImageEntry) -> bool,
    ) -> Result<(Vec<image::store::RemovedImage>, i64)> {
        let mut removed = Vec::new();
        // Layers (by chain ID) of the images removed and of those kept: only layers no
        // kept image shares free space, as dockerd counts it.
        let mut freed: std::collections::BTreeSet<String> = Default::default();
        let mut kept: std::collections::BTreeSet<String> = Default::default();
        for entry in self.images.list().await?.iter() {
            let chain = entry.resolved.chain_ids.iter().cloned();
            let dangling = entry.references().next().is_none();
            if (!all && !dangling)
                || keep(entry)
                || self.containers.user_of_image(&entry.resolved.id).is_some()
            {
                kept.extend(chain);
                continue;
            }
            match self.images.remove(&entry.resolved.id, true, None).await {
                Ok(r) => {
                    freed.extend(chain);
                    removed.extend(r);
                }
                Err(e) if e.kind == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let freed: Vec<String> = freed.difference(&kept).cloned().collect();
        let reclaimed = self.images.layer_sizes(&freed).await.iter().sum();
        Ok((removed, reclaimed))
    }

    pub fn host(&self) -> &HostFacts {
        &self.host
    }

    pub fn engine_id(&self) -> &str {
        &self.engine_id
    }

    pub fn containerd_socket(&self) -> &std::path::Path {
        self.containerd.socket()
    }

    /// Versions of the runtime components: containerd as it reports itself, and runc.
    pub async fn component_versions(&self) -> Result<ComponentVersions> {
        let containerd = self.containerd.version().await?;
        Ok(ComponentVersions {
            containerd,
            runc: self.host.runc.clone(),
        })
    }

    /// Figures for `/info` that need containerd.
    pub async fn system_counts(&self) -> Result<SystemCounts> {
        let images = self.images.list().await?.len() as u64;
        let all = self.containers.list();
        let count = |f: &dyn Fn(&container::model::Status) -> bool| {
            all.iter().filter(|c| f(&c.state.status)).count() as u64
        };
        use container::model::Status;
        Ok(SystemCounts {
            containers: all.len() as u64,
            containers_running: count(&|s| matches!(s, Status::Running | Status::Restarting)),
            containers_paused: count(&|s| *s == Status::Paused),
            containers_stopped: count(&|s| {
                !matches!(s, Status::Running | Status::Restarting | Status::Paused)
            }),
            images,
        })
    }

    /// Re-reads what can change at run time and announces a `daemon reload` event, as
    /// dockerd does on SIGHUP.
    pub fn reload(&self) {
        let mut attributes = std::collections::BTreeMap::new();
        attributes.insert("debug".to_string(), self.config.debug.to_string());
        attributes.insert(
            "labels".to_string(),
            format!("[{}]", self.config.labels.join(" ")),
        );
        attributes.insert("name".to_string(), self.host.hostname.clone());
        self.events.publish(events::Event::new(
            "daemon",
            "reload",
            self.engine_id.clone(),
            attributes,
        ));
    }

    /// Stops the embedded containerd (if any). Containers keep running in their shims.
    pub async fn shutdown(&self) {
        if let Some(embedded) = &self.embedded {
            embedded.stop(Duration::from_secs(10)).await;
        }
    }
}

#[derive(Clone, Debug)]
pub struct ComponentVersions {
    pub containerd: RuntimeVersion,
    pub runc: RuntimeVersion,
}

#[derive(Clone, Debug, Default)]
pub struct SystemCounts {
    pub containers: u64,
    pub containers_running: u64,
    pub containers_paused: u64,
    pub containers_stopped: u64,
    pub images: u64,
}
