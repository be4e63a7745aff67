//! The container lifecycle on containerd.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::io::{self, Fifos, IoChannels, LogSink, Output, StdinMsg};
use super::logs::{self, LogEntry};
use super::model::{ContainerRecord, State, Status};
use super::networking::EndpointRequest;
use super::policy::{LogConfig, LogDriver, RestartPolicy};
use super::spec::{self, ContainerConfig, HostConfig};
use super::{names, setup};
use crate::events::{Event, EventBus};
use crate::image::store::ImageStore;
use crate::oci::{self, NetworkNamespace, SpecInput};
use crate::runtime::Containerd;
use crate::runtime::content::Lease;
use crate::runtime::tasks::start_failure;
use crate::{Error, ErrorKind, Result};

/// How long a SIGKILL through `kill` waits for the exit before trying once more (moby: 10 s).
const KILL_WAIT: Duration = Duration::from_secs(10);
/// How much of a json-file log `logs` reads at a time (a piece ends at a line's end).
const LOG_READ_PIECE: usize = 1 << 20;

/// The last exit of a container, numbered so waiters can tell a new one from an old one.
#[derive(Clone, Copy, Debug, Default)]
struct ExitSeq {
    seq: u64,
    code: i64,
}

pub(super) struct Container {
    /// Shared with the snapshots [`ContainerService::get`] and `list` hand out; a change
    /// copies it only while one is still held.
    record: Mutex<Arc<ContainerRecord>>,
    io: Mutex<IoChannels>,
    exits: watch::Sender<ExitSeq>,
    removed: watch::Sender<bool>,
    /// Serialises start, stop and remove of this container.
    pub(super) op: Arc<tokio::sync::Mutex<()>>,
    /// Held while an exit is taken down (task deleted, networks left), which happens after
    /// the exit is already visible; operations on the container wait for it through
    /// [`Container::lock_op`].
    teardown: tokio::sync::Mutex<()>,
    /// The restart policy's current backoff.
    restart_delay: Mutex<Duration>,
    /// Serialises writes of the record's files.
    written: Mutex<()>,
}

impl Container {
    fn new(record: ContainerRecord) -> Arc<Self> {
        let open_stdin = record.config.open_stdin();
        let code = record.state.exit_code;
        Arc::new(Container {
            record: Mutex::new(Arc::new(record)),
            io: Mutex::new(IoChannels::new(open_stdin)),
            exits: watch::channel(ExitSeq { seq: 0, code }).0,
            removed: watch::channel(false).0,
            op: Arc::new(tokio::sync::Mutex::new(())),
            teardown: tokio::sync::Mutex::new(()),
            restart_delay: Mutex::new(Duration::ZERO),
            written: Mutex::new(()),
        })
    }

    /// Takes the operation lock once the last exit's teardown is over.
    pub(super) async fn lock_op(&self) -> tokio::sync::MutexGuard<'_, ()> {
        let op = self.op.lock().await;
        self.after_teardown().await;
        op
    }

    /// Returns once no exit is being taken down.
    pub(super) async fn after_teardown(&self) {
        drop(self.teardown.lock().await);
    }

    pub(super) fn rec(&self) -> RecordGuard<'_> {
        RecordGuard(self.record.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// A container's record, locked: read through it, or change it in place.
pub(super) struct RecordGuard<'a>(std::sync::MutexGuard<'a, Arc<ContainerRecord>>);

impl RecordGuard<'_> {
    /// The record as it is now, without copying it.
    pub(super) fn snapshot(&self) -> Arc<ContainerRecord> {
        self.0.clone()
    }
}

impl std::ops::Deref for RecordGuard<'_> {
    type Target = ContainerRecord;
    fn deref(&self) -> &ContainerRecord {
        &self.0
    }
}

impl std::ops::DerefMut for RecordGuard<'_> {
    fn deref_mut(&mut self) -> &mut ContainerRecord {
        Arc::make_mut(&mut self.0)
    }
}

/// `POST /containers/create`, decoded.
#[derive(Clone, Debug, Default)]
pub struct CreateRequest {
    pub name: Option<String>,
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    /// `NetworkingConfig.EndpointsConfig`: per network, aliases and addresses asked for.
    pub endpoints: BTreeMap<String, EndpointRequest>,
    /// Read-only binds leave their submounts writable (what clients below API 1.44 get).
    pub read_only_non_recursive: bool,
    /// `platform` (`os[/arch[/variant]]`) the image must be for; empty: any.
    pub platform: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

/// An attached client's view of a container.
pub struct AttachHandle {
    pub tty: bool,
    pub output: Option<mpsc::Receiver<Output>>,
    pub stdin: Option<mpsc::Sender<StdinMsg>>,
    pub stdin_once: bool,
    pub replay: Vec<LogEntry>,
}

#[derive(Clone, Debug, Default)]
pub struct LogsRequest {
    pub stdout: bool,
    pub stderr: bool,
    pub follow: bool,
    pub since_nanos: Option<i128>,
    pub until_nanos: Option<i128>,
    pub tail: Option<usize>,
}

pub struct ContainerService {
    pub(super) containerd: Containerd,
    events: Arc<EventBus>,
    data_root: PathBuf,
    exec_root: PathBuf,
    namespace: String,
    containers: Mutex<HashMap<String, Arc<Container>>>,
    /// name (with `/`) → id; entries are reserved before anything is written.
    pub(super) names: Mutex<HashMap<String, String>>,
    weak: std::sync::Weak<ContainerService>,
    pub(crate) execs: super::exec::Execs,
    volumes: Arc<crate::volume::VolumeStore>,
    pub(super) networks: Arc<crate::network::NetworkStore>,
    /// One creator at a time per shared init layer.
    init_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Init layers known to exist.
    init_known: Mutex<std::collections::HashSet<String>>,
}

fn now() -> String {
    logs::now_rfc3339_nano()
}

fn random_id() -> String {
    let a: [u8; 32] = rand::random();
    a.iter().map(|b| format!("{b:02x}")).collect()
}

impl ContainerService {
    pub fn new(
        containerd: Containerd,
        events: Arc<EventBus>,
        data_root: PathBuf,
        exec_root: PathBuf,
        namespace: String,
        volumes: Arc<crate::volume::VolumeStore>,
        networks: Arc<crate::network::NetworkStore>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|weak| ContainerService {
            volumes,
            networks,
            containerd,
            events,
            data_root,
            exec_root,
            namespace,
            containers: Mutex::new(HashMap::new()),
            names: Mutex::new(HashMap::new()),
            weak: weak.clone(),
            execs: Default::default(),
            init_locks: Mutex::new(HashMap::new()),
            init_known: Mutex::new(std::collections::HashSet::new()),
        })
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.data_root.join("containers").join(id)
    }

    fn run_dir(&self, id: &str) -> PathBuf {
        self.exec_root.join(id)
    }

    /// The lease that held the writable layer of containers made before it became a
    /// collector root of its own; removal still ends it.
    fn lease_for(id: &str) -> Lease {
        Lease(format!("berth-container-{id}"))
    }

    pub fn volumes(&self) -> &crate::volume::VolumeStore {
        &self.volumes
    }

    pub fn networks(&self) -> &crate::network::NetworkStore {
        &self.networks
    }

    pub(crate) fn containerd(&self) -> &Containerd {
        &self.containerd
    }

    pub(crate) fn exec_root(&self) -> &std::path::Path {
        &self.exec_root
    }

    pub(crate) fn weak_self(&self) -> std::sync::Weak<ContainerService> {
        self.weak.clone()
    }

    pub(crate) fn exec_dir(&self, container_id: &str, exec_id: &str) -> PathBuf {
        self.run_dir(container_id)
            .join(format!("exec-{}", &exec_id[..12]))
    }

    pub(crate) fn container_event(
        &self,
        c: &ContainerRecord,
        action: &str,
        extra: &[(&str, String)],
    ) {
        self.event(c, action, extra);
    }

    pub(super) fn event(&self, c: &ContainerRecord, action: &str, extra: &[(&str, String)]) {
        let mut attributes: BTreeMap<String, String> = c.labels();
        attributes.insert("image".into(), c.config.image().to_string());
        attributes.insert("name".into(), c.name.trim_start_matches('/').to_string());
        for (k, v) in extra {
            attributes.insert((*k).to_string(), v.clone());
        }
        self.events
            .publish(Event::new("container", action, c.id.clone(), attributes));
    }

    /// Writes a container's record. A known container's live state is written, not the
    /// caller's copy, one write at a time: two writers (exit handler, health probe, rename)
    /// can then never leave an older state on disk than the one in memory.
    pub(super) fn persist(&self, record: &ContainerRecord) -> Result<()> {
        let known = self
            .containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&record.id)
            .cloned();
        match known {
            Some(c) => self.save(&c),
            None => write_record(&self.dir(&record.id), record),
        }
    }

    /// Writes a container's live record (see [`Self::persist`]). Must not be called while
    /// holding its record lock.
    pub(super) fn save(&self, c: &Container) -> Result<()> {
        let _one_writer = c.written.lock().unwrap_or_else(|p| p.into_inner());
        let current = c.rec().clone();
        write_record(&self.dir(&current.id), &current)
    }

    /// Finds a container by full ID, name (with or without `/`) or unique ID prefix.
    pub(super) fn lookup(&self, name_or_id: &str) -> Result<Arc<Container>> {
        if name_or_id.is_empty() {
            return Err(Error::invalid("invalid name or ID supplied: \"\""));
        }
        let containers = self.containers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = containers.get(name_or_id) {
            return Ok(c.clone());
        }
        let name = format!("/{}", name_or_id.trim_start_matches('/'));
        if let Some(id) = self
            .names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&name)
            && let Some(c) = containers.get(id)
        {
            return Ok(c.clone());
        }
        let matches: Vec<&Arc<Container>> = containers
            .iter()
            .filter(|(id, _)| id.starts_with(name_or_id))
            .map(|(_, c)| c)
            .collect();
        match matches.len() {
            1 => Ok(matches[0].clone()),
            0 => Err(Error::not_found(format!("No such container: {name_or_id}"))),
            _ => Err(Error::invalid(format!(
                "multiple IDs found with provided prefix: {name_or_id}"
            ))),
        }
    }

    /// A snapshot of a container's record (shared, not copied).
    pub fn get(&self, name_or_id: &str) -> Result<Arc<ContainerRecord>> {
        Ok(self.lookup(name_or_id)?.rec().snapshot())
    }

    pub fn list(&self) -> Vec<Arc<ContainerRecord>> {
        self.containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|c| c.rec().snapshot())
            .collect()
    }

    /// A container using the image `image_id`, preferring a running one.
    pub fn user_of_image(&self, image_id: &str) -> Option<(String, bool)> {
        let list = self.list();
        let mut users = list.iter().filter(|c| c.image_id == image_id);
        let first = users
            .clone()
            .find(|c| c.state.running())
            .or_else(|| users.next())?;
        Some((first.id.clone(), first.state.running()))
    }

    pub(super) fn reserve_name(&self, name: &str, id: &str) -> Result<()> {
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(owner) = names.get(name) {
            return Err(Error::conflict(format!(
                "Conflict. The container name \"{name}\" is already in use by container \"{owner}\". You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        names.insert(name.to_string(), id.to_string());
        Ok(())
    }

    pub(super) fn release_name(&self, name: &str, id: &str) {
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        if names.get(name).is_some_and(|owner| owner == id) {
            names.remove(name);
        }
    }

    /// `POST /containers/create`. Nothing is left behind when it fails.
    pub async fn create(
        &self,
        images: &ImageStore,
        req: CreateRequest,
    ) -> Result<(String, Vec<String>)> {
        let mut config = req.config;
        let host_config = req.host_config;
        let image_name = config.image().to_string();
        if image_name.is_empty() {
            return Err(Error::invalid("No image specified"));
        }
        let image = images.resolve_for_container(&image_name).await?;
        check_platform(&req.platform, &image_name, &image.config)?;
        if let Some(from_image) = &image.config.config {
            config.merge_image(ContainerConfig::from_image(from_image)?);
        }
        let mut argv = config.entrypoint().to_vec();
        argv.extend_from_slice(config.cmd());
        if argv.is_empty() {
            return Err(Error::invalid("No command specified"));
        }
        validate_host_config(&host_config)?;
        super::limits::validate(&host_config, false, super::limits::HostCpus::host())?;
        LogConfig::validate(host_config.log_config.as_ref())?;
        let mut inherited = Vec::new();
        for spec in spec::list(&host_config.volumes_from) {
            let (from, read_only) = super::mounts::parse_volumes_from(spec)?;
            // A 400, not a 404: the CLI takes a 404 from create for a missing image.
            let source = self.get(&from).map_err(|e| Error::invalid(e.message))?;
            inherited.extend(
                source
                    .mounts
                    .iter()
                    .filter(|m| m.kind != "tmpfs")
                    .map(|m| super::mounts::inherit(m, read_only)),
            );
        }
        let mut wanted_mounts = super::mounts::wanted(config.volumes(), &host_config, inherited)?;
        if req.read_only_non_recursive {
            for m in wanted_mounts.iter_mut().filter(|m| m.kind == "bind") {
                m.read_only_non_recursive = true;
            }
        }
        let legacy_mac = config.mac_address().to_string();
        let networks =
            self.wanted_endpoints(host_config.network_mode(), &req.endpoints, &legacy_mac)?;
        let mut host_config = host_config;
        fill_host_config_defaults(&mut host_config);
        let id = random_id();
        let name = match &req.name {
            Some(n) if !n.is_empty() => {
                let n = names::validate(n)?;
                self.reserve_name(&n, &id)?;
                n
            }
            _ => {
                let mut attempt = 0;
                loop {
                    let n = format!("/{}", names::generate(attempt));
                    if self.reserve_name(&n, &id).is_ok() {
                        break n;
                    }
                    attempt += 1;
                }
            }
        };
        if let Err(e) = self.normalize_links(&mut host_config, &name) {
            self.release_name(&name, &id);
            return Err(e);
        }
        if config.hostname().is_empty() {
            config.hostname = Some(id[..12].to_string());
        }
        let dir = self.dir(&id);
        let result = self
            .create_parts(
                &id,
                &name,
                &image,
                &image_name,
                config,
                host_config,
                argv,
                &dir,
                wanted_mounts,
                networks,
            )
            .await;
        match result {
            Ok(record) => {
                self.event(&record, "create", &[]);
                let c = Container::new(record);
                self.containers
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id.clone(), c);
                Ok((id, vec![]))
            }
            Err(e) => {
                self.release_name(&name, &id);
                let _ = std::fs::remove_dir_all(&dir);
                self.discard_writable_layer(&id).await;
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn create_parts(
        &self,
        id: &str,
        name: &str,
        image: &crate::image::store::ResolvedImage,
        image_name: &str,
        config: ContainerConfig,
        host_config: HostConfig,
        argv: Vec<String>,
        dir: &std::path::Path,
        wanted_mounts: Vec<super::mounts::MountPoint>,
        networks: std::collections::BTreeMap<String, crate::network::Endpoint>,
    ) -> Result<ContainerRecord> {
        std::fs::create_dir_all(dir)?;
        let mounts = self.resolve_mounts(wanted_mounts)?;
        let record = ContainerRecord {
            schema_version: super::model::RECORD_SCHEMA_VERSION,
            id: id.to_string(),
            name: name.to_string(),
            created: now(),
            path: argv[0].clone(),
            args: argv[1..].to_vec(),
            config,
            image_id: image.id.clone(),
            image_name: image_name.to_string(),
            state: State::default(),
            restart_count: 0,
            log_path: dir.join(format!("{id}-json.log")).display().to_string(),
            resolv_conf_path: dir.join("resolv.conf").display().to_string(),
            hostname_path: dir.join("hostname").display().to_string(),
            hosts_path: dir.join("hosts").display().to_string(),
            manually_stopped: false,
            mounts,
            networks,
            ports: vec![],
            sandbox: String::new(),
            host_config,
        };
        // The record is written while containerd prepares the writable layer: both wait on
        // the disk. A failure of either removes both (the caller cleans up).
        let persisted = {
            let (dir, record) = (dir.to_path_buf(), record.clone());
            tokio::task::spawn_blocking(move || {
                crate::system::crash_point("create:record");
                write_record(&dir, &record)
            })
        };
        let prepared = self.prepare_writable_layer(id, image).await;
        let persisted = persisted
            .await
            .map_err(|e| Error::internal(e.to_string()))
            .and_then(|r| r);
        if let Err(e) = prepared.and(persisted) {
            for m in record.mounts.iter().filter(|m| m.anonymous) {
                let _ = self.volumes.remove(&m.name, &[]);
            }
            return Err(e);
        }
        Ok(record)
    }

    /// Volumes looked up or made (anonymous ones get a generated name), and `-v` bind
    /// sources made when missing, as dockerd does. A failure removes the anonymous volumes
    /// made here.
    fn resolve_mounts(
        &self,
        wanted: Vec<super::mounts::MountPoint>,
    ) -> Result<Vec<super::mounts::MountPoint>> {
        let mut out = Vec::with_capacity(wanted.len());
        let result = (|| {
            for mut m in wanted {
                if m.kind == "volume" {
                    let name = (!m.anonymous).then_some(m.name.as_str());
                    let made = m.new_volume.take().unwrap_or_default();
                    let v = self.volumes.create(name, made.labels, made.options)?;
                    m.name = v.name;
                    m.source = v.mountpoint.display().to_string();
                } else if m.kind == "bind" && !m.must_exist && std::fs::metadata(&m.source).is_err()
                {
                    // Only a missing source becomes a directory; a file (a config file,
                    // the Docker socket) is bound as it is.
                    std::fs::create_dir_all(&m.source)?;
                }
                out.push(m);
            }
            Ok(())
        })();
        if let Err(e) = result {
            for m in out.iter().filter(|m| m.anonymous) {
                let _ = self.volumes.remove(&m.name, &[]);
            }
            return Err(e);
        }
        Ok(out)
    }

    /// Fills the container's empty volumes from the image before it starts (not `nocopy`
    /// ones), through a read-only mount of its layers.
    async fn copy_up_volumes(
        &self,
        record: &ContainerRecord,
        mounts: &[containerd_client::types::Mount],
    ) -> Result<()> {
        let volumes: Vec<(String, std::path::PathBuf)> = record
            .mounts
            .iter()
            .filter(|m| m.kind == "volume" && !m.no_copy && m.subpath.is_empty())
            .filter(|m| std::fs::read_dir(&m.source).is_ok_and(|mut d| d.next().is_none()))
            .map(|m| (m.destination.clone(), std::path::PathBuf::from(&m.source)))
            .collect();
        if volumes.is_empty() {
            return Ok(());
        }
        let view = super::filesystem::read_only(mounts)?;
        let target = self
            .exec_root
            .join(format!("copyup-{:016x}", rand::random::<u64>()));
        tokio::task::spawn_blocking(move || {
            crate::rootfs::with_mounted(&[view], &target, |root| {
                for (dest, volume) in &volumes {
                    super::mounts::copy_up(root, dest, volume)?;
                }
                Ok::<(), std::io::Error>(())
            })
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))??
        .map_err(Error::from)
    }

    /// Volumes with driver options are unmounted once no running container uses them; each
    /// volume of the run gets the `unmount` event moby emits.
    fn unpin_volumes(&self, record: &ContainerRecord) {
        for m in record.mounts.iter().filter(|m| m.kind == "volume") {
            self.volumes.unpin(&m.name, &record.id);
            self.volumes.unmount_event(&m.name, &record.id);
        }
    }

    /// Containers using volume `name`, by ID.
    pub fn volume_users(&self, name: &str) -> Vec<String> {
        self.list()
            .into_iter()
            .filter(|c| {
                c.mounts
                    .iter()
                    .any(|m| m.kind == "volume" && m.name == name)
            })
            .map(|c| c.id.clone())
            .collect()
    }

    /// The container's writable snapshot `id` on the image's init layer. It is a collector
    /// root of its own (no lease to create): it stays until the container is removed.
    async fn prepare_writable_layer(
        &self,
        id: &str,
        image: &crate::image::store::ResolvedImage,
    ) -> Result<()> {
        let parent = image.chain_ids.last().cloned().unwrap_or_default();
        let (init, made) = self.init_layer_for(&parent, false).await?;
        let mut prepared = self.containerd.prepare_root_snapshot(id, &init).await;
        let mut leases = vec![made];
        if let Err(e) = &prepared
            && e.kind == ErrorKind::NotFound
        {
            // A collection took an init layer no container used any more.
            self.init_known
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&init);
            let (init, made) = self.init_layer_for(&parent, true).await?;
            leases.push(made);
            prepared = self.containerd.prepare_root_snapshot(id, &init).await;
        }
        // A new init layer is the writable layer's parent now: its lease can go.
        for lease in leases.into_iter().flatten() {
            self.containerd.delete_lease(&lease).await;
        }
        prepared.map(|_| ())
    }

    /// The init layer on the image's top snapshot `parent`: the placeholders do not depend on
    /// the container, so containers of one image share it. Made once, then kept by
    /// containerd as the parent of their writable layers; when this call made it, the lease
    /// holding it until then comes back too, for the caller to end.
    async fn init_layer_for(&self, parent: &str, fresh: bool) -> Result<(String, Option<Lease>)> {
        let name = init_snapshot(parent);
        // Known to exist already (a collection may still take it: the caller then asks again
        // with `fresh`).
        if !fresh
            && self
                .init_known
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&name)
        {
            return Ok((name, None));
        }
        if self.containerd.snapshot_exists(&name).await? {
            self.remember_init(&name);
            return Ok((name, None));
        }
        let lock = self
            .init_locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.clone())
            .or_default()
            .clone();
        let _made_once = lock.lock().await;
        if self.containerd.snapshot_exists(&name).await? {
            self.remember_init(&name);
            return Ok((name, None));
        }
        let lease = self.containerd.create_lease("init").await?;
        let made = self.make_init_layer(&lease, &name, parent).await;
        if made.is_err() {
            self.containerd.delete_lease(&lease).await;
        }
        made?;
        self.remember_init(&name);
        Ok((name, Some(lease)))
    }

    async fn make_init_layer(&self, lease: &Lease, name: &str, parent: &str) -> Result<()> {
        let key = format!("{name}-{:016x}", rand::random::<u64>());
        let mounts = self
            .containerd
            .prepare_snapshot(lease, &key, parent, HashMap::new())
            .await?;
        let target = self.exec_root.join(&key);
        let filled = tokio::task::spawn_blocking(move || {
            crate::rootfs::with_mounted(&mounts, &target, super::init_layer::populate)
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))
        .and_then(|r| r)
        .and_then(|r| r.map_err(Error::from));
        let committed = match filled {
            Ok(()) => {
                self.containerd
                    .commit_snapshot(lease, name, &key, HashMap::new())
                    .await
            }
            Err(e) => Err(e),
        };
        if committed.is_err() {
            let _ = self.containerd.remove_snapshot(&key).await;
        }
        committed
    }

    fn remember_init(&self, name: &str) {
        self.init_known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string());
    }

    /// `POST /containers/{id}/start`.
    pub async fn start(&self, name_or_id: &str) -> Result<()> {
        let c = self.lookup(name_or_id)?;
        let result = self.start_container(&c, false).await;
        if let Err(e) = &result
            && e.kind != ErrorKind::NotModified
            && c.rec().host_config.auto_remove()
        {
            // moby removes an auto-remove container whose start failed; clients waiting for
            // `condition=removed` depend on it.
            let id = c.rec().id.clone();
            if let Err(e) = self.remove(&id, true).await
                && e.kind == ErrorKind::Unavailable
            {
                // containerd is away: the removal carries on once it is back.
                let this = self.self_ref();
                tokio::spawn(async move {
                    if let Some(this) = this.upgrade() {
                        this.auto_remove(&id).await;
                    }
                });
            }
        }
        result
    }

    async fn start_container(&self, c: &Arc<Container>, from_policy: bool) -> Result<()> {
        let _op = c.lock_op().await;
        let record = c.rec().clone();
        match record.state.status {
            Status::Restarting if from_policy => {}
            Status::Running | Status::Restarting => {
                return Err(Error::new(
                    ErrorKind::NotModified,
                    "container is already running",
                ));
            }
            Status::Paused => {
                return Err(Error::conflict(
                    "cannot start a paused container, try unpause instead",
                ));
            }
            Status::Removing | Status::Dead => {
                return Err(Error::conflict(
                    "container is marked for removal and cannot be started",
                ));
            }
            _ => {}
        }
        // A block device that is not there, or a tmpfs option tmpfs does not take, fails the
        // start before anything is made, with moby's untyped (500) error.
        setup::resources(&record.host_config)?;
        for data in record.host_config.tmpfs.iter().flat_map(|t| t.values()) {
            super::mounts::check_tmpfs_data(data)?;
        }
        match self.start_task(c, &record).await {
            Ok(pid) => {
                let record = {
                    let mut r = c.rec();
                    r.state = State {
                        status: Status::Running,
                        pid,
                        exit_code: 0,
                        error: String::new(),
                        oom_killed: false,
                        started_at: now(),
                        finished_at: r.state.finished_at.clone(),
                        health: super::health::initial_health(&r.config),
                    };
                    r.manually_stopped = false;
                    r.clone()
                };
                self.persist(&record)?;
                self.event(&record, "start", &[]);
                self.start_health_monitor(c);
                Ok(())
            }
            Err(e) => {
                let (message, code) = start_failure(&e);
                let record = {
                    let mut r = c.rec();
                    r.state.error = message.clone();
                    r.state.exit_code = code;
                    if r.state.status != Status::Created {
                        r.state.status = Status::Exited;
                    }
                    r.clone()
                };
                let _ = self.persist(&record);
                // The task may be running even so (the answer was lost with containerd):
                // it goes, now or once containerd is back.
                if let Err(e) = self.drop_task_and_container(&record.id).await
                    && e.kind == ErrorKind::Unavailable
                {
                    self.drop_task_when_back(c);
                }
                self.unpin_volumes(&record);
                self.leave_networks(c).await;
                let _ = self.save(c);
                // The attach streams of this run end here.
                self.new_io_generation(c);
                let kind = if e.kind == ErrorKind::Unavailable {
                    e.kind
                } else {
                    ErrorKind::InvalidParameter
                };
                Err(Error::new(kind, message))
            }
        }
    }

    async fn start_task(&self, c: &Arc<Container>, record: &ContainerRecord) -> Result<u32> {
        let id = &record.id;
        let mut phases = super::phases::Phases::new("start", id);
        let hostname = record.config.hostname().to_string();
        setup::write_file(
            std::path::Path::new(&record.hostname_path),
            &format!("{hostname}\n"),
        )?;
        let network_mode = record.host_config.network_mode().to_string();
        let network = match network_mode.as_str() {
            "host" => NetworkNamespace::Host,
            m if m.starts_with("container:") => {
                let other = self.lookup(&m["container:".len()..])?;
                let pid = other.rec().state.pid;
                if pid == 0 {
                    return Err(Error::conflict(format!(
                        "cannot join network of a non running container: {}",
                        &m["container:".len()..]
                    )));
                }
                NetworkNamespace::Path(format!("/proc/{pid}/ns/net"))
            }
            _ => NetworkNamespace::Private,
        };
        let joined = if network == NetworkNamespace::Private {
            self.join_networks(c, record).await?
        } else {
            None
        };
        phases.mark("network");
        crate::system::crash_point("start:network-joined");
        // A namespace of its own with no IPv6 address has IPv6 off, as dockerd leaves it.
        let ipv6_off = network == NetworkNamespace::Private
            && !c.rec().networks.values().any(|e| !e.ip6.is_empty());
        let gateway = self
            .networks
            .get("bridge")
            .map(|n| n.gateway)
            .unwrap_or_default();
        let added = super::networking::extra_hosts(record, &gateway);
        let (network, hosts, resolv) = match &joined {
            Some(j) => (
                NetworkNamespace::Path(j.netns.clone()),
                // dockerd's order: `--add-host` entries, then links, then its own address.
                format!(
                    "{}{added}{}",
                    setup::hosts_file(&hostname, false),
                    j.hosts_extra
                ),
                match &j.dns {
                    Some(server) => setup::resolv_conf_with(server),
                    None => setup::resolv_conf(),
                },
            ),
            None if network == NetworkNamespace::Host => (
                network,
                format!(
                    "{}{added}",
                    std::fs::read_to_string("/etc/hosts").unwrap_or_default()
                ),
                setup::resolv_conf(),
            ),
            None => (
                network,
                format!("{}{added}", setup::hosts_file(&hostname, false)),
                setup::resolv_conf(),
            ),
        };
        setup::write_file(std::path::Path::new(&record.hosts_path), &hosts)?;
        setup::write_file(std::path::Path::new(&record.resolv_conf_path), &resolv)?;
        phases.mark("files");

        let mounts = self.containerd.snapshot_mounts(id).await?;
        for m in record.mounts.iter().filter(|m| m.kind == "volume") {
            self.volumes.pin(&m.name, &record.id)?;
            self.volumes
                .mount_event(&m.name, &record.id, &m.destination, m.rw, &m.propagation);
        }
        self.copy_up_volumes(record, &mounts).await?;
        let dirs = mounts
            .first()
            .map(|m| setup::overlay_dirs(&m.options))
            .unwrap_or_default();
        let (uid, gid, mut additional_gids) = setup::resolve_user(record.config.user(), &dirs)?;
        additional_gids.extend(setup::resolve_groups(
            spec::list(&record.host_config.group_add),
            &dirs,
        )?);
        setup::ensure_working_dir(record.config.working_dir(), &dirs)?;
        let tty = record.tty();
        let mut env = record.config.env().to_vec();
        if let Some(j) = &joined {
            env.extend(j.env.iter().cloned());
        }
        let has = |env: &Vec<String>, k: &str| env.iter().any(|e| e.starts_with(&format!("{k}=")));
        if !has(&env, "PATH") {
            env.insert(
                0,
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            );
        }
        if !has(&env, "HOSTNAME") {
            env.insert(1.min(env.len()), format!("HOSTNAME={hostname}"));
        }
        if tty && !has(&env, "TERM") {
            env.push("TERM=xterm".into());
        }
        let host = &record.host_config;
        let security = setup::security_options(spec::list(&host.security_opt))?;

        let spec = oci::build(&SpecInput {
            id: id.clone(),
            args: std::iter::once(record.path.clone())
                .chain(record.args.iter().cloned())
                .collect(),
            env,
            cwd: record.config.working_dir().to_string(),
            uid,
            gid,
            additional_gids,
            tty,
            console_size: console_size(host),
            hostname,
            privileged: host.privileged(),
            readonly_rootfs: spec::flag(&host.readonly_rootfs),
            cap_add: spec::list(&host.cap_add).to_vec(),
            cap_drop: spec::list(&host.cap_drop).to_vec(),
            network,
            files: vec![
                ("/etc/resolv.conf".into(), record.resolv_conf_path.clone()),
                ("/etc/hostname".into(), record.hostname_path.clone()),
                ("/etc/hosts".into(), record.hosts_path.clone()),
            ],
            binds: record
                .mounts
                .iter()
                .filter(|m| m.kind != "tmpfs")
                .map(|m| {
                    Ok(crate::oci::Bind {
                        destination: m.destination.clone(),
                        source: mount_source(m)?,
                        rw: m.rw,
                        recursive_ro: m.kind == "bind" && !m.read_only_non_recursive,
                        propagation: m.propagation.clone(),
                    })
                })
                .collect::<Result<_>>()?,
            shm_size: spec::number(&host.shm_size),
            cgroup_parent: self.cgroup_parent(record),
            resources: setup::resources(host)?,
            oom_score_adj: spec::number(&host.oom_score_adj),
            tmpfs: host
                .tmpfs
                .clone()
                .unwrap_or_default()
                .into_iter()
                .chain(
                    record
                        .mounts
                        .iter()
                        .filter(|m| m.kind == "tmpfs")
                        .map(|m| (m.destination.clone(), m.tmpfs_options.clone())),
                )
                .collect(),
            sysctls: {
                let mut sysctls: Vec<(String, String)> = host
                    .sysctls
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
                if ipv6_off {
                    for key in [
                        "net.ipv6.conf.all.disable_ipv6",
                        "net.ipv6.conf.default.disable_ipv6",
                    ] {
                        if !sysctls.iter().any(|(k, _)| k == key) {
                            sysctls.push((key.to_string(), "1".to_string()));
                        }
                    }
                }
                sysctls
            },
            rlimits: setup::rlimits(&host.ulimits)?,
            umask: record.umask(),
            init: if spec::flag(&host.init) {
                Some(setup::init_binary()?)
            } else {
                None
            },
            no_new_privileges: security.no_new_privileges,
            // Docker's default profile, unless privileged or asked away.
            seccomp: !host.privileged() && !security.seccomp_unconfined,
        })
        .map_err(Error::invalid)?;
        let spec_json = serde_json::to_vec(&spec).map_err(|e| Error::internal(e.to_string()))?;
        phases.mark("mounts_and_spec");

        // Leftovers of a previous run (or of a crash) are replaced.
        let _ = self.containerd.delete_task(id).await;
        self.containerd.delete_container(id).await?;
        let runc_root = self.exec_root.join("runc");
        let mut labels = HashMap::new();
        labels.insert("com.berth.name".to_string(), record.name.clone());
        self.containerd
            .create_container(
                None,
                id,
                &record.image_name,
                spec_json,
                &runc_root.display().to_string(),
                labels,
            )
            .await?;
        phases.mark("containerd_container");

        let open_stdin = record.config.open_stdin();
        let fifos = Fifos::create(&self.run_dir(id), open_stdin, tty)?;
        let (output, stdin_rx) = {
            let mut io = c.io.lock().unwrap_or_else(|p| p.into_inner());
            (io.output.clone(), io.stdin_rx.take())
        };
        let sink = log_sink(record);
        let io_done = io::start_copiers(&fifos, output, sink)?;
        let stdio = fifos.stdio_paths(tty);
        phases.mark("fifos");
        let pid = self.containerd.create_task(id, mounts, &stdio).await?;
        phases.mark("task_create");
        if let (Some(path), Some(rx)) = (fifos.stdin.clone(), stdin_rx) {
            let containerd = self.containerd.clone();
            let cid = id.clone();
            io::start_stdin_pump(path, rx, async move {
                let _ = containerd.close_process_stdin(&cid, "").await;
            });
        }
        let exit_wait = {
            let containerd = self.containerd.clone();
            let cid = id.clone();
            tokio::spawn(async move { containerd.wait_process(&cid, "").await })
        };
        if let Err(e) = self.containerd.start_process(id, "").await {
            exit_wait.abort();
            return Err(e);
        }
        phases.mark("task_start");
        crate::system::crash_point("start:task-started");
        phases.log();
        self.spawn_exit_monitor(c.clone(), exit_wait, io_done);
        Ok(pid)
    }

    fn spawn_exit_monitor(
        &self,
        c: Arc<Container>,
        exit_wait: tokio::task::JoinHandle<Result<crate::runtime::tasks::Exit>>,
        io_done: tokio::sync::oneshot::Receiver<()>,
    ) {
        let this = self.self_ref();
        let containerd = self.containerd.clone();
        tokio::spawn(async move {
            let id = c.rec().id.clone();
            let mut exit = exit_wait
                .await
                .unwrap_or_else(|e| Err(Error::internal(e.to_string())));
            // A wait cut short by containerd going away (it is restarted, and it finds the
            // task again through its shim) is simply waited again: the task still runs, or
            // its exit status is kept for us.
            let mut backoff = Duration::from_millis(100);
            let code = loop {
                match exit {
                    Ok(e) => break i64::from(e.status),
                    Err(e)
                        if matches!(e.kind, ErrorKind::NotFound | ErrorKind::InvalidParameter) =>
                    {
                        break 255;
                    }
                    Err(e) => {
                        tracing::debug!(container = %id, "waiting again for the task: {}", e.message);
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(2));
                        if this.upgrade().is_none() {
                            return;
                        }
                        exit = containerd.wait_process(&id, "").await;
                    }
                }
            };
            let mut phases = super::phases::Phases::new("exit", &id);
            // Output written just before the exit reaches logs and clients before waiters
            // hear about the exit (moby waits for the copiers too, with a bound).
            let _ = tokio::time::timeout(Duration::from_secs(2), io_done).await;
            phases.mark("output_drained");
            let Some(this) = this.upgrade() else { return };
            this.handle_exit(&c, code, phases).await;
        });
    }

    fn self_ref(&self) -> std::sync::Weak<ContainerService> {
        self.weak.clone()
    }

    /// The cgroup the container's processes run in: `CgroupParent`, or one per namespace.
    fn cgroup_parent(&self, record: &ContainerRecord) -> String {
        let p = spec::text(&record.host_config.cgroup_parent);
        if p.is_empty() {
            format!("/{}", self.namespace)
        } else {
            p.to_string()
        }
    }

    /// A run ended: record the exit at once (inspect and list show it, and a client that
    /// attaches now gets the next run's output, as compose's one-off runs expect), then delete
    /// the task and leave the networks under the teardown lock, wake waiters, announce it, and
    /// remove or restart the container as its settings ask.
    async fn handle_exit(&self, c: &Arc<Container>, code: i64, mut phases: super::phases::Phases) {
        let teardown = c.teardown.lock().await;
        let (id, cgroup) = {
            let r = c.rec();
            (
                r.id.clone(),
                format!("{}/{}", self.cgroup_parent(&r).trim_end_matches('/'), r.id),
            )
        };
        // The kernel's OOM-kill count lives in the cgroup, which goes with the task.
        let oom_killed = super::stats::oom_kills(&cgroup) > 0;
        // Attaches from here on belong to the next run.
        self.new_io_generation(c);
        let record = {
            let mut r = c.rec();
            r.state.status = Status::Exited;
            // The pid goes before the task is reaped: from then on it may be another process's.
            r.state.pid = 0;
            r.state.exit_code = code;
            r.state.oom_killed = oom_killed;
            r.state.finished_at = now();
            r.clone()
        };
        if let Err(e) = self.persist(&record) {
            tracing::warn!(container = %id, "cannot persist exit: {}", e.message);
        }
        phases.mark("recorded");
        let _ = self.containerd.delete_task(&id).await;
        phases.mark("task_delete");
        if !record.sandbox.is_empty() {
            self.leave_networks(c).await;
            let left = c.rec().clone();
            if let Err(e) = self.persist(&left) {
                tracing::warn!(container = %id, "cannot persist exit: {}", e.message);
            }
        }
        self.unpin_volumes(&record);
        if oom_killed {
            self.event(&record, "oom", &[]);
        }
        self.event(&record, "die", &[("exitCode", code.to_string())]);
        phases.mark("network_and_events");
        phases.log();
        drop(teardown);
        c.exits.send_modify(|e| {
            e.seq += 1;
            e.code = code;
        });
        if record.host_config.auto_remove() {
            self.auto_remove(&id).await;
        }
        if let Some(delay) = self.restart_delay(c, &record, code) {
            self.schedule_restart(c.clone(), delay, true);
        }
    }

    /// Removes the writable layer (and its lease) of a container whose create failed. A
    /// create that failed because containerd went away may have left the snapshot made:
    /// then the removal carries on in the background once containerd is back (for up to a
    /// minute), so no snapshot outlives the outage without a container.
    async fn discard_writable_layer(&self, id: &str) {
        match self.containerd.remove_snapshot(id).await {
            Err(e) if e.kind == ErrorKind::Unavailable => {
                let (this, id) = (self.self_ref(), id.to_string());
                tokio::spawn(async move {
                    for _ in 0..120 {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        let Some(this) = this.upgrade() else { return };
                        match this.containerd.remove_snapshot(&id).await {
                            Err(e) if e.kind == ErrorKind::Unavailable => continue,
                            _ => {
                                this.containerd.delete_lease(&Self::lease_for(&id)).await;
                                return;
                            }
                        }
                    }
                    tracing::warn!(container = %id, "writable layer of a failed create left: containerd stayed away");
                });
            }
            _ => self.containerd.delete_lease(&Self::lease_for(id)).await,
        }
    }

    /// `--rm` after an exit. While containerd is away (restarting) the removal is retried
    /// for up to a minute, so the container does not outlive the outage.
    async fn auto_remove(&self, id: &str) {
        for _ in 0..120 {
            match self.remove_with_volumes(id, true, true).await {
                Err(e) if e.kind == ErrorKind::Unavailable => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) if e.kind != ErrorKind::NotFound => {
                    tracing::warn!(container = %id, "auto-remove failed: {}", e.message);
                    return;
                }
                _ => return,
            }
        }
        tracing::warn!(container = %id, "auto-remove gave up: containerd stayed away");
    }

    /// Whether the restart policy restarts this exit, and after how long: 100 ms doubling up
    /// to a minute, back to 100 ms once a run lasted 10 s (moby's restart manager).
    fn restart_delay(
        &self,
        c: &Arc<Container>,
        record: &ContainerRecord,
        code: i64,
    ) -> Option<Duration> {
        if record.manually_stopped || record.host_config.auto_remove() {
            return None;
        }
        let restart =
            RestartPolicy::of(&record.host_config).restarts_after_exit(code, record.restart_count);
        if !restart {
            return None;
        }
        let ran = logs::parse_time_nanos(&record.state.finished_at)
            - logs::parse_time_nanos(&record.state.started_at);
        let mut delay = c.restart_delay.lock().unwrap_or_else(|p| p.into_inner());
        *delay = if ran >= 10_000_000_000 || delay.is_zero() {
            Duration::from_millis(100)
        } else {
            (*delay * 2).min(Duration::from_secs(60))
        };
        Some(*delay)
    }

    /// Restarts the container after `delay`; `counted` restarts raise `RestartCount`.
    fn schedule_restart(&self, c: Arc<Container>, delay: Duration, counted: bool) {
        let record = {
            let mut r = c.rec();
            r.state.status = Status::Restarting;
            r.clone()
        };
        let _ = self.persist(&record);
        let this = self.self_ref();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let Some(this) = this.upgrade() else { return };
            {
                let mut r = c.rec();
                // A stop or removal during the backoff cancels the restart.
                if r.state.status != Status::Restarting || r.manually_stopped {
                    return;
                }
                if counted {
                    r.restart_count += 1;
                }
            }
            if let Err(e) = this.start_container(&c, true).await {
                tracing::warn!(container = %record.id, "restart failed: {}", e.message);
                let mut r = c.rec();
                if r.state.status == Status::Restarting {
                    r.state.status = Status::Exited;
                }
            }
        });
    }

    fn new_io_generation(&self, c: &Arc<Container>) {
        let open_stdin = c.rec().config.open_stdin();
        *c.io.lock().unwrap_or_else(|p| p.into_inner()) = IoChannels::new(open_stdin);
    }

    /// `POST /containers/{id}/stop`: the stop signal, then SIGKILL after `timeout` seconds
    /// (negative: wait forever).
    pub async fn stop(
        &self,
        name_or_id: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let c = self.lookup(name_or_id)?;
        let _op = c.lock_op().await;
        let record = c.rec().clone();
        if !record.state.running() {
            return Err(Error::new(
                ErrorKind::NotModified,
                "container is already stopped",
            ));
        }
        c.rec().manually_stopped = true;
        if record.state.status == Status::Restarting {
            // Between restarts there is no process: the pending restart is cancelled.
            let record = {
                let mut r = c.rec();
                r.state.status = Status::Exited;
                r.clone()
            };
            self.persist(&record)?;
            self.event(&record, "stop", &[]);
            return Ok(());
        }
        let stop_signal = match signal.filter(|s| !s.is_empty()) {
            Some(s) => s.to_string(),
            None => {
                let s = record.config.stop_signal();
                if s.is_empty() {
                    "SIGTERM".into()
                } else {
                    s.to_string()
                }
            }
        };
        let signo = parse_signal(&stop_signal)?;
        let timeout = timeout.unwrap_or_else(|| record.config.stop_timeout.unwrap_or(10));
        let mut exits = c.exits.subscribe();
        let seen = exits.borrow().seq;
        let _ = self.containerd.kill_task(&record.id, signo, false).await;
        self.event(&record, "kill", &[("signal", signo.to_string())]);
        self.thaw_after_signal(&c).await?;
        let exited = async {
            let _ = exits.wait_for(|e| e.seq > seen).await;
        };
        let in_time = if timeout < 0 {
            exited.await;
            true
        } else {
            tokio::time::timeout(Duration::from_secs(timeout as u64), exited)
                .await
                .is_ok()
        };
        if !in_time {
            let mut exits = c.exits.subscribe();
            let _ = self.containerd.kill_task(&record.id, 9, true).await;
            self.event(&record, "kill", &[("signal", "9".to_string())]);
            let _ = tokio::time::timeout(Duration::from_secs(30), exits.wait_for(|e| e.seq > seen))
                .await;
        }
        let record = c.rec().clone();
        self.event(&record, "stop", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/restart`: stop (if running), start, then a `restart` event.
    pub async fn restart(
        &self,
        name_or_id: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        match self.stop(name_or_id, signal, timeout).await {
            Ok(()) => {}
            Err(e) if e.kind == ErrorKind::NotModified => {}
            Err(e) => return Err(e),
        }
        self.start(name_or_id).await?;
        let record = self.get(name_or_id)?;
        self.event(&record, "restart", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/kill`.
    pub async fn kill(&self, name_or_id: &str, signal: &str) -> Result<()> {
        let c = self.lookup(name_or_id).map_err(|e| {
            Error::new(
                e.kind,
                format!("cannot kill container: {name_or_id}: {}", e.message),
            )
        })?;
        let record = c.rec().clone();
        let signo = parse_signal(if signal.is_empty() { "SIGKILL" } else { signal })?;
        if !record.state.running() {
            return Err(Error::conflict(format!(
                "cannot kill container: {name_or_id}: container {} is not running",
                record.id
            )));
        }
        // Any kill is a manual stop: no restart policy brings the container back (moby
        // cancels its restart manager on kill).
        c.rec().manually_stopped = true;
        if record.state.status == Status::Restarting {
            // No process between restarts: cancelling the pending restart is the kill.
            let record = {
                let mut r = c.rec();
                r.state.status = Status::Exited;
                r.clone()
            };
            return self.persist(&record);
        }
        let mut exits = c.exits.subscribe();
        let seen = exits.borrow().seq;
        if let Err(e) = self.containerd.kill_task(&record.id, signo, false).await {
            // The process may have ended since the check above: moby's 409, not a 500.
            if !self.task_alive(&record.id).await {
                return Err(Error::conflict(format!(
                    "cannot kill container: {name_or_id}: container {} is not running",
                    record.id
                )));
            }
            return Err(e);
        }
        self.event(&record, "kill", &[("signal", signo.to_string())]);
        self.thaw_after_signal(&c).await?;
        if signo == 9 {
            // SIGKILL answers once the container has exited, as dockerd does, so that a
            // following `ps` shows it exited and `rm` needs no force.
            let exited = exits.wait_for(|e| e.seq > seen);
            if tokio::time::timeout(KILL_WAIT, exited).await.is_err() {
                let _ = self.containerd.kill_task(&record.id, 9, true).await;
                let _ = tokio::time::timeout(KILL_WAIT, exits.wait_for(|e| e.seq > seen)).await;
            }
        }
        Ok(())
    }

    /// Whether containerd has a running or paused task for this container (false when it
    /// cannot tell).
    pub(super) async fn task_alive(&self, id: &str) -> bool {
        // containerd's task states: 2 running, 4 paused, 5 pausing.
        matches!(
            self.containerd.task_status(id).await,
            Ok(Some((_, 2 | 4 | 5)))
        )
    }

    /// `DELETE /containers/{id}`.
    pub async fn remove(&self, name_or_id: &str, force: bool) -> Result<()> {
        self.remove_with_volumes(name_or_id, force, false).await
    }

    /// `DELETE /containers/{id}?v=`: with `volumes`, its anonymous volumes go too (as with
    /// `--rm`).
    pub async fn remove_with_volumes(
        &self,
        name_or_id: &str,
        force: bool,
        volumes: bool,
    ) -> Result<()> {
        let mounts = self
            .get(name_or_id)
            .map(|r| r.mounts.clone())
            .unwrap_or_default();
        self.remove_container(name_or_id, force).await?;
        if volumes {
            for m in mounts.iter().filter(|m| m.anonymous) {
                let users = self.volume_users(&m.name);
                if let Err(e) = self.volumes.remove(&m.name, &users) {
                    tracing::warn!(volume = %m.name, "not removed with its container: {}", e.message);
                }
            }
        }
        Ok(())
    }

    async fn remove_container(&self, name_or_id: &str, force: bool) -> Result<()> {
        let c = self.lookup(name_or_id)?;
        if c.rec().state.status == Status::Removing {
            return Err(Error::conflict(format!(
                "removal of container {name_or_id} is already in progress"
            )));
        }
        // Answered at once, without queueing behind a stop that holds the lock.
        refuse_running_removal(&c.rec(), name_or_id, force)?;
        if force && c.rec().state.running() {
            // Killed before taking the lock, so a stop waiting out its timeout under the
            // lock ends at once.
            self.kill_for_removal(&c).await;
        }
        let _op = c.lock_op().await;
        // Read again under the lock: a start may have run since the checks above.
        let mut record = c.rec().clone();
        if record.state.status == Status::Removing {
            return Ok(());
        }
        if record.state.status == Status::Restarting && force {
            let mut r = c.rec();
            r.manually_stopped = true;
            r.state.status = Status::Exited;
            record = r.clone();
        }
        refuse_running_removal(&record, name_or_id, force)?;
        if record.state.running() {
            // Exit handling does not take the lock, so waiting for it here is safe.
            self.kill_for_removal(&c).await;
            record = c.rec().clone();
        }
        let previous = std::mem::replace(&mut c.rec().state.status, Status::Removing);
        let id = record.id.clone();
        let mut phases = super::phases::Phases::new("remove", &id);
        // The containerd container goes only once its task has: deleting it under a live
        // task would leave the process running with nothing pointing at it. On failure
        // (containerd down, a task that would not die) the container keeps its state, so a
        // retry can finish the job.
        if let Err(e) = self.drop_task_and_container(&id).await {
            c.rec().state.status = previous;
            return Err(e);
        }
        phases.mark("containerd_container");
        // Likewise the writable layer: with containerd gone between the two, the record
        // stays so that the retry removes the snapshot instead of orphaning it.
        if let Err(e) = self.containerd.remove_snapshot(&id).await
            && e.kind == ErrorKind::Unavailable
        {
            c.rec().state.status = previous;
            return Err(e);
        }
        self.containerd.delete_lease(&Self::lease_for(&id)).await;
        phases.mark("snapshot");
        let _ = std::fs::remove_dir_all(self.dir(&id));
        let _ = std::fs::remove_dir_all(self.run_dir(&id));
        phases.mark("files");
        phases.log();
        self.containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        self.release_name(&record.name, &id);
        self.drop_execs_of(&id);
        self.event(&record, "destroy", &[]);
        c.removed.send_replace(true);
        Ok(())
    }

    /// SIGKILL to every process of a container being force-removed, then up to 30 s for its
    /// exit to be handled.
    async fn kill_for_removal(&self, c: &Arc<Container>) {
        let id = c.rec().id.clone();
        let mut exits = c.exits.subscribe();
        let seen = exits.borrow().seq;
        let _ = self.containerd.kill_task(&id, 9, true).await;
        let _ = self.thaw_after_signal(c).await;
        if c.rec().state.running() {
            let _ = tokio::time::timeout(Duration::from_secs(30), exits.wait_for(|e| e.seq > seen))
                .await;
        }
    }

    /// `POST /containers/{id}/wait`: resolves the container now (so a 404 comes before any
    /// headers) and returns a future of the exit code.
    pub fn wait(
        &self,
        name_or_id: &str,
        condition: WaitCondition,
    ) -> Result<impl std::future::Future<Output = i64> + Send + 'static + use<>> {
        let c = self.lookup(name_or_id)?;
        let mut exits = c.exits.subscribe();
        let mut removed = c.removed.subscribe();
        let seen = exits.borrow().seq;
        let running = c.rec().state.running();
        let current = c.rec().state.exit_code;
        Ok(async move {
            match condition {
                WaitCondition::NotRunning if !running => {
                    // An exit being taken down is over for waiters only once it is.
                    c.after_teardown().await;
                    current
                }
                WaitCondition::NotRunning | WaitCondition::NextExit => {
                    match exits.wait_for(|e| e.seq > seen).await {
                        Ok(e) => e.code,
                        Err(_) => current,
                    }
                }
                WaitCondition::Removed => {
                    let _ = removed.wait_for(|r| *r).await;
                    exits.borrow().code
                }
            }
        })
    }

    /// `POST /containers/{id}/attach`.
    pub fn attach(
        &self,
        name_or_id: &str,
        stdin: bool,
        stream: bool,
        logs_replay: bool,
    ) -> Result<AttachHandle> {
        let c = self.lookup(name_or_id)?;
        let record = c.rec().clone();
        let io = c.io.lock().unwrap_or_else(|p| p.into_inner());
        let replay = if logs_replay {
            logs::read_all(std::path::Path::new(&record.log_path)).0
        } else {
            vec![]
        };
        let record_ref = &record;
        self.event(record_ref, "attach", &[]);
        Ok(AttachHandle {
            tty: record.tty(),
            output: stream.then(|| io.output.subscribe()),
            stdin: if stdin { io.stdin_tx.clone() } else { None },
            stdin_once: record.config.stdin_once(),
            replay,
        })
    }

    /// `docker container prune`: removes the stopped containers `keep` does not keep; returns their IDs and the bytes
    /// their writable layers held (moby's `SpaceReclaimed`).
    pub async fn prune(&self, keep: impl Fn(&ContainerRecord) -> bool) -> (Vec<String>, i64) {
        let mut removed = Vec::new();
        let mut reclaimed = 0;
        for c in self.list() {
            if !matches!(
                c.state.status,
                Status::Created | Status::Exited | Status::Dead
            ) || keep(&c)
            {
                continue;
            }
            let size = crate::disk_usage::snapshot_size(&self.containerd, &c.id, false).await;
            if self.remove(&c.id, false).await.is_ok() {
                removed.push(c.id.clone());
                reclaimed += size;
            }
        }
        (removed, reclaimed)
    }

    /// `POST /containers/{id}/resize`.
    pub async fn resize(&self, name_or_id: &str, height: u32, width: u32) -> Result<()> {
        let c = self.lookup(name_or_id)?;
        let record = c.rec().clone();
        if !record.state.running() {
            return Err(Error::conflict(format!(
                "container {} is not running",
                record.id
            )));
        }
        self.containerd
            .resize_process(&record.id, "", width, height)
            .await
    }

    /// `GET /containers/{id}/logs`: past entries now, and with `follow` a stream of new ones
    /// until the container stops.
    pub fn logs(
        &self,
        name_or_id: &str,
        req: LogsRequest,
    ) -> Result<(bool, mpsc::Receiver<LogEntry>)> {
        let c = self.lookup(name_or_id)?;
        let record = c.rec().clone();
        if LogConfig::of(&record.host_config).driver == LogDriver::None {
            return Err(Error::not_implemented(
                "configured logging driver does not support reading",
            ));
        }
        let path = PathBuf::from(&record.log_path);
        let (tx, rx) = mpsc::channel(256);
        let mut exits = c.exits.subscribe();
        let follow = req.follow && record.state.running();
        tokio::spawn(async move {
            let keep = |e: &LogEntry| {
                (match e.stream {
                    io::StreamKind::Stdout => req.stdout,
                    io::StreamKind::Stderr => req.stderr,
                }) && req.since_nanos.is_none_or(|s| e.time_nanos >= s)
                    && req.until_nanos.is_none_or(|u| e.time_nanos <= u)
            };
            // Rotated files first, oldest (highest number) to newest, read a piece at a time:
            // entries go out as they are parsed, and with `tail` only the last ones are kept.
            let mut files: Vec<PathBuf> = (1..100)
                .rev()
                .map(|n| PathBuf::from(format!("{}.{n}", path.display())))
                .filter(|p| p.exists())
                .collect();
            files.push(path.clone());
            let mut offset = 0;
            if let Some(n) = req.tail {
                // Read backwards from the end: the cost is the tail's, not the log's.
                let (entries, end) = logs::tail(&files, n, LOG_READ_PIECE, keep);
                offset = end;
                for e in entries {
                    if tx.send(e).await.is_err() {
                        return;
                    }
                }
            } else {
                for file in &files {
                    offset = 0;
                    loop {
                        let data = logs::read_piece(file, offset, LOG_READ_PIECE).await;
                        let (entries, used) = logs::parse(&data);
                        if used == 0 {
                            break;
                        }
                        offset += used;
                        for e in entries.into_iter().filter(|e| keep(e)) {
                            if tx.send(e).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            }
            if !follow {
                return;
            }
            // Follow by reading only what was added each time the log's directory changes.
            let mut watch = logs::LogWatch::new(path.parent().unwrap_or(std::path::Path::new("/")));
            let mut stopping = false;
            loop {
                let len = tokio::fs::metadata(&path)
                    .await
                    .map(|m| m.len() as usize)
                    .unwrap_or(0);
                if len < offset {
                    // Rotated under us: the new file starts from the beginning.
                    offset = 0;
                }
                if len > offset {
                    let data = logs::read_piece(&path, offset, len - offset).await;
                    let (entries, used) = logs::parse(&data);
                    offset += used;
                    for e in entries.into_iter().filter(|e| keep(e)) {
                        if tx.send(e).await.is_err() {
                            return;
                        }
                    }
                }
                if stopping {
                    return;
                }
                tokio::select! {
                    _ = watch.changed() => {}
                    _ = exits.changed() => stopping = true,
                    _ = tx.closed() => return,
                }
            }
        });
        Ok((record.tty(), rx))
    }

    /// Loads containers from the data root and reconciles them with containerd: running
    /// tasks get their output and exit monitor back, tasks that ended meanwhile are recorded.
    pub async fn restore(&self) -> Result<()> {
        let root = self.data_root.join("containers");
        let Ok(dir) = std::fs::read_dir(&root) else {
            return Ok(());
        };
        // Tasks that exist now, to find those of containers not recorded as running.
        let tasks = self.containerd.task_ids().await.unwrap_or_default();
        let mut auto_removed = Vec::new();
        let mut half_made = Vec::new();
        let mut stale_sandboxes = Vec::new();
        for entry in dir.flatten() {
            let path = entry.path();
            let mut record = match super::model::read_record(&path) {
                super::model::Stored::Record(record) => *record,
                super::model::Stored::Missing => {
                    // The daemon died inside a create, before the record was written.
                    if let Some(id) = path.file_name().and_then(|n| n.to_str()) {
                        half_made.push(id.to_string());
                    }
                    continue;
                }
                super::model::Stored::Unreadable(why) => {
                    tracing::warn!(path = %path.display(), why, "skipping a container record");
                    continue;
                }
            };
            if record.state.status == Status::Removing {
                record.state.status = Status::Dead;
            }
            let id = record.id.clone();
            self.names
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(record.name.clone(), id.clone());
            let was_running = record.state.running();
            let c = Container::new(record);
            self.containers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id.clone(), c.clone());
            if !was_running {
                if tasks.contains(&id) {
                    // The daemon died inside a start: nobody was told the container
                    // started, so its task goes rather than run on unseen.
                    self.discard_task(&id).await;
                }
                if !c.rec().sandbox.is_empty() {
                    stale_sandboxes.push(c.clone());
                }
                if c.rec().host_config.auto_remove() {
                    auto_removed.push(id);
                }
                continue;
            }
            match self.containerd.task_status(&id).await {
                Ok(Some((pid, status))) if status == 2 || status == 4 => {
                    // Running (or paused): reattach output to the FIFOs the shim still holds.
                    let fifos = Fifos::existing(&self.run_dir(&id));
                    let (output, sink) = {
                        let io = c.io.lock().unwrap_or_else(|p| p.into_inner());
                        let r = c.rec();
                        let sink = log_sink(&r);
                        (io.output.clone(), sink)
                    };
                    c.rec().state.pid = pid;
                    let pinned: Vec<String> = c
                        .rec()
                        .mounts
                        .iter()
                        .filter(|m| m.kind == "volume")
                        .map(|m| m.name.clone())
                        .collect();
                    for name in pinned {
                        let _ = self.volumes.pin(&name, &id);
                    }
                    {
                        let r = c.rec();
                        for e in r.networks.values().filter(|e| !e.ip.is_empty()) {
                            self.networks.claim(&e.network_id, &e.ip);
                            self.networks.claim(&e.network_id, &e.ip6);
                        }
                        for p in &r.ports {
                            self.networks.claim_port(&p.protocol, p.host_port, &id);
                        }
                    }
                    let io_done = match io::start_copiers(&fifos, output, sink) {
                        Ok(done) => done,
                        Err(_) => tokio::sync::oneshot::channel().1,
                    };
                    let containerd = self.containerd.clone();
                    let cid = id.clone();
                    let exit_wait =
                        tokio::spawn(async move { containerd.wait_process(&cid, "").await });
                    self.spawn_exit_monitor(c.clone(), exit_wait, io_done);
                    // Probing carries on where the last daemon left it.
                    self.start_health_monitor(&c);
                }
                _ => {
                    let code = self
                        .containerd
                        .delete_task(&id)
                        .await
                        .ok()
                        .flatten()
                        .map_or(255, i64::from);
                    self.handle_exit(&c, code, super::phases::Phases::new("exit", &id))
                        .await;
                }
            }
        }
        // After the loop, so that every running container has claimed its addresses.
        for c in stale_sandboxes {
            self.take_down_stale_sandbox(&c).await;
        }
        self.collect_leftovers(&half_made).await;
        // As dockerd does at restore: `--rm` containers that are not running go.
        for id in auto_removed {
            if let Err(e) = self.remove_with_volumes(&id, true, true).await {
                tracing::warn!(container = %id, "--rm container not removed at restore: {}", e.message);
            }
        }
        self.start_by_policy_after_boot();
        Ok(())
    }

    /// What a daemon killed mid-way leaves without a record pointing at it: the parts of
    /// containers whose create never finished (`half_made`: their directories), and
    /// namespace files of containers that are not running.
    async fn collect_leftovers(&self, half_made: &[String]) {
        for id in half_made {
            tracing::info!(container = %id, "removing the parts of an unfinished create");
            let _ = self.containerd.delete_task(id).await;
            let _ = self.containerd.delete_container(id).await;
            let _ = self.containerd.remove_snapshot(id).await;
            self.containerd.delete_lease(&Self::lease_for(id)).await;
            let _ = std::fs::remove_dir_all(self.dir(id));
            let _ = std::fs::remove_dir_all(self.run_dir(id));
        }
        let running: std::collections::HashSet<String> = self
            .list()
            .into_iter()
            .filter(|r| r.state.running())
            .map(|r| r.id.clone())
            .collect();
        for owner in self.networks.netns_owners() {
            if !running.contains(&owner) {
                crate::network::netns::remove(&self.networks.netns_path(&owner));
            }
        }
    }

    /// Kills and deletes a task nothing should be running, retrying the delete while the
    /// process dies (up to 5 s), then its containerd container.
    async fn drop_task_and_container(&self, id: &str) -> Result<()> {
        let _ = self.containerd.kill_task(id, 9, true).await;
        let mut gone = false;
        for _ in 0..50 {
            match self.containerd.delete_task(id).await {
                Ok(_) => {
                    gone = true;
                    break;
                }
                Err(e) if e.kind == ErrorKind::Unavailable => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        if !gone {
            return Err(Error::conflict(format!("the task of {id} would not stop")));
        }
        match self.containerd.delete_container(id).await {
            Err(e) if e.kind != ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    async fn discard_task(&self, id: &str) {
        if let Err(e) = self.drop_task_and_container(id).await {
            tracing::warn!(container = %id, "a leftover task is still there: {}", e.message);
        }
    }

    /// After a start that failed while containerd was away: once it is back, the task (if
    /// the start got that far) goes, unless the container has been started since.
    fn drop_task_when_back(&self, c: &Arc<Container>) {
        let this = self.self_ref();
        let c = c.clone();
        tokio::spawn(async move {
            let id = c.rec().id.clone();
            for _ in 0..240 {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let Some(this) = this.upgrade() else { return };
                let _op = c.lock_op().await;
                let status = c.rec().state.status.clone();
                if c.rec().state.running() || status == Status::Removing {
                    return;
                }
                match this.drop_task_and_container(&id).await {
                    Err(e) if e.kind == ErrorKind::Unavailable => {}
                    Err(e) => {
                        tracing::warn!(container = %id, "leftover task: {}", e.message);
                        return;
                    }
                    Ok(()) => return,
                }
            }
        });
    }

    /// At daemon start, `always` containers and `unless-stopped` ones nobody stopped are
    /// started again if they are not running (moby's restore).
    fn start_by_policy_after_boot(&self) {
        let containers: Vec<Arc<Container>> = self
            .containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        for c in containers {
            let r = c.rec().clone();
            let wanted = RestartPolicy::of(&r.host_config).restarts_with_daemon(r.manually_stopped);
            if wanted
                && !matches!(
                    r.state.status,
                    Status::Running | Status::Restarting | Status::Paused
                )
            {
                self.schedule_restart(c.clone(), Duration::ZERO, false);
            }
        }
    }
}

/// Where a container's output goes: its json-file (with `max-size` / `max-file`), or nowhere.
fn log_sink(record: &ContainerRecord) -> LogSink {
    let lc = LogConfig::of(&record.host_config);
    match lc.driver {
        LogDriver::None => LogSink::None,
        LogDriver::JsonFile => LogSink::JsonFile {
            path: record.log_path.clone().into(),
            max_size: lc.max_size(),
            max_files: lc.max_files(),
            attrs: log_attrs(
                record,
                lc.option("labels").unwrap_or_default(),
                lc.option("env").unwrap_or_default(),
            ),
        },
    }
}

/// The extra attributes json-file writes with each entry: the container labels named by
/// `--log-opt labels=` and the environment variables named by `env=` that the container
/// has (moby's logger info; the `-regex` variants are not applied).
fn log_attrs(record: &ContainerRecord, labels: &str, env: &str) -> BTreeMap<String, String> {
    let mut attrs = BTreeMap::new();
    let names = |list: &str| -> Vec<String> {
        list.split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect()
    };
    for name in names(labels) {
        if let Some(v) = record.config.labels.as_ref().and_then(|l| l.get(&name)) {
            attrs.insert(name, v.clone());
        }
    }
    let vars = record.config.env();
    for name in names(env) {
        if let Some(v) = vars
            .iter()
            .find_map(|e| e.strip_prefix(&format!("{name}=")))
        {
            attrs.insert(name, v.to_string());
        }
    }
    attrs
}

/// The host path a mount binds: for a volume with a subpath, that directory, which must
/// exist inside the volume (a symlink leading out of it is refused).
fn mount_source(m: &super::mounts::MountPoint) -> Result<String> {
    if m.subpath.is_empty() {
        return Ok(m.source.clone());
    }
    let root = std::path::Path::new(&m.source);
    let wanted = root.join(&m.subpath);
    let cannot =
        |e: String| Error::invalid(format!("cannot access path {}: {e}", wanted.display()));
    let real = std::fs::canonicalize(&wanted).map_err(|e| cannot(e.to_string()))?;
    let real_root = std::fs::canonicalize(root).map_err(|e| cannot(e.to_string()))?;
    if !real.starts_with(&real_root) {
        return Err(cannot("outside of the volume".into()));
    }
    Ok(real.display().to_string())
}

/// moby's platform check at create: the image found must be for the platform asked for
/// (404, so that the CLI goes looking for the right one).
fn check_platform(
    wanted: &str,
    image_name: &str,
    config: &crate::image::store::ImageConfig,
) -> Result<()> {
    if wanted.is_empty() {
        return Ok(());
    }
    let arch = |a: &str| match a {
        "x86_64" | "x86-64" => "amd64".to_string(),
        "aarch64" => "arm64".to_string(),
        other => other.to_ascii_lowercase(),
    };
    let mut parts = wanted.split('/');
    let os = parts.next().unwrap_or("").to_ascii_lowercase();
    let want_arch = parts.next().map(arch);
    let want_variant = parts.next().map(str::to_ascii_lowercase);
    let image_os = if config.os.is_empty() {
        "linux"
    } else {
        &config.os
    };
    let image_arch = arch(&config.architecture);
    let image_variant = config.variant.clone().filter(|v| !v.is_empty());
    let matches = os == image_os
        && want_arch.as_ref().is_none_or(|a| *a == image_arch)
        && want_variant
            .as_ref()
            .is_none_or(|v| image_variant.as_ref().is_none_or(|iv| iv == v));
    if matches {
        return Ok(());
    }
    let format = |os: &str, arch: Option<&String>, variant: Option<&String>| {
        [Some(os.to_string()), arch.cloned(), variant.cloned()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("/")
    };
    Err(Error::not_found(format!(
        "image with reference {image_name} was found but does not match the specified platform: wanted {}, actual: {}",
        format(&os, want_arch.as_ref(), want_variant.as_ref()),
        format(image_os, Some(&image_arch), image_variant.as_ref()),
    )))
}

/// Signal names (`SIGTERM`, `TERM`, `term`) and numbers.
pub fn parse_signal(s: &str) -> Result<u32> {
    if let Ok(n) = s.parse::<u32>() {
        if n == 0 || n > 64 {
            return Err(Error::invalid(format!("Invalid signal: {s}")));
        }
        return Ok(n);
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let n = match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "TRAP" => 5,
        "ABRT" | "IOT" => 6,
        "BUS" => 7,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        "STKFLT" => 16,
        "CHLD" => 17,
        "CONT" => 18,
        "STOP" => 19,
        "TSTP" => 20,
        "TTIN" => 21,
        "TTOU" => 22,
        "URG" => 23,
        "XCPU" => 24,
        "XFSZ" => 25,
        "VTALRM" => 26,
        "PROF" => 27,
        "WINCH" => 28,
        "IO" | "POLL" => 29,
        "PWR" => 30,
        "SYS" => 31,
        _ => return Err(Error::invalid(format!("Invalid signal: {s}"))),
    };
    Ok(n)
}

/// Defaults moby fills in at create time, so inspect shows them.
fn fill_host_config_defaults(h: &mut HostConfig) {
    fn unset_text(v: &mut Option<String>, default: &str) {
        if v.as_deref().unwrap_or("").is_empty() {
            *v = Some(default.to_string());
        }
    }
    let log = h.log_config.get_or_insert_default();
    if log.r#type.as_deref().unwrap_or("").is_empty() {
        log.r#type = Some("json-file".into());
        log.config.get_or_insert_default();
    }
    if h.shm_size.unwrap_or(0) == 0 {
        h.shm_size = Some(67108864);
    }
    unset_text(&mut h.ipc_mode, "private");
    // dockerd's default: a private cgroup namespace where cgroup v2 makes it useful.
    let cgroupns = if crate::system::cgroup_v2() {
        "private"
    } else {
        "host"
    };
    unset_text(&mut h.cgroupns_mode, cgroupns);
    unset_text(&mut h.network_mode, "default");
    unset_text(&mut h.runtime, "runc");
    if h.pids_limit.is_some_and(|p| p <= 0) {
        h.pids_limit = None;
    }
    // dockerd's default: as much swap as memory (the limit covers memory plus swap).
    let memory = h.memory.unwrap_or(0);
    if memory > 0 && h.memory_swap.unwrap_or(0) == 0 {
        h.memory_swap = Some(memory * 2);
    }
    if h.memory_swappiness == Some(-1) {
        h.memory_swappiness = None;
    }
    h.restart_policy
        .get_or_insert_with(|| spec::RestartPolicySpec {
            name: Some("no".into()),
            maximum_retry_count: Some(0),
        });
}

/// moby's create-time host-config checks that matter before anything is made.
pub(super) fn validate_host_config(h: &HostConfig) -> Result<()> {
    setup::security_options(spec::list(&h.security_opt))?;
    oci::validate_capabilities("CapAdd", spec::list(&h.cap_add)).map_err(Error::invalid)?;
    oci::validate_capabilities("CapDrop", spec::list(&h.cap_drop)).map_err(Error::invalid)?;
    if let Some(rp) = &h.restart_policy {
        let name = spec::text(&rp.name);
        RestartPolicy::validate(name, rp.maximum_retry_count.unwrap_or(0))?;
        if h.auto_remove() && !matches!(name, "" | "no") {
            return Err(Error::invalid(
                "conflicting options: cannot specify both --restart and --rm",
            ));
        }
    }
    Ok(())
}

/// moby's 409 for removing a running, paused or restarting container without `force`.
fn refuse_running_removal(record: &ContainerRecord, name_or_id: &str, force: bool) -> Result<()> {
    if force || !record.state.running() {
        return Ok(());
    }
    let what = match record.state.status {
        Status::Paused => "container is paused and must be unpaused first",
        Status::Restarting => {
            "container is restarting: stop the container before removing or force remove"
        }
        _ => "container is running: stop the container before removing or force remove",
    };
    Err(Error::conflict(format!(
        "cannot remove container \"{name_or_id}\": {what}"
    )))
}

/// Writes a container's record, `config.v2.json`, into its directory: one file, so a crash
/// can never leave half of a change on disk.
fn write_record(dir: &std::path::Path, c: &ContainerRecord) -> Result<()> {
    let config = serde_json::to_vec(c).map_err(|e| Error::internal(e.to_string()))?;
    crate::system::write_atomic_all(dir, &[("config.v2.json", &config)])
}

/// The name of the init layer on the image snapshot `parent` (the chain ID, or none).
fn init_snapshot(parent: &str) -> String {
    match parent.strip_prefix("sha256:") {
        Some(hex) => format!("berth-init-{hex}"),
        None if parent.is_empty() => "berth-init-scratch".to_string(),
        None => format!("berth-init-{parent}"),
    }
}

/// `HostConfig.ConsoleSize` (`[height, width]`) when both are set; the API layer zeroes it
/// for clients below 1.42.
fn console_size(host_config: &HostConfig) -> Option<[u32; 2]> {
    let size = host_config.console_size.as_deref()?;
    let dim = |i: usize| {
        size.get(i)
            .and_then(|n| u32::try_from(*n).ok())
            .filter(|n| *n > 0)
    };
    Some([dim(0)?, dim(1)?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("SIGTERM").unwrap(), 15);
        assert_eq!(parse_signal("kill").unwrap(), 9);
        assert_eq!(parse_signal("usr1").unwrap(), 10);
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert!(parse_signal("SIGNOPE").is_err());
        assert!(parse_signal("0").is_err());
    }

    #[test]
    fn restart_policy_checks() {
        let h = |v: Value| -> HostConfig { serde_json::from_value(v).unwrap() };
        assert!(
            validate_host_config(&h(
                json!({"RestartPolicy": {"Name": "always", "MaximumRetryCount": 2}})
            ))
            .is_err()
        );
        assert!(
            validate_host_config(&h(
                json!({"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}})
            ))
            .is_ok()
        );
        assert!(
            validate_host_config(&h(
                json!({"RestartPolicy": {"Name": "always"}, "AutoRemove": true})
            ))
            .is_err()
        );
    }
}
