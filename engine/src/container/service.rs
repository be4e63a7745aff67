//! The container service: what it holds (containerd, the record store, volumes, networks,
//! execs), where a container's files live, and the events it sends. Its operations are
//! split by what they are: `store` (records and names), `create`, `lifecycle` (start, stop,
//! kill, remove, wait), `exit_monitor`, `streams` (attach, logs), `restore` (start-up).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::logs;
use super::model::ContainerRecord;
use super::spec;
use super::store::Container;
use crate::events::{Event, EventBus};
use crate::runtime::Containerd;
use crate::runtime::content::Lease;

pub struct ContainerService {
    pub(super) containerd: Containerd,
    pub(super) events: Arc<EventBus>,
    pub(super) data_root: PathBuf,
    pub(super) exec_root: PathBuf,
    pub(super) namespace: String,
    pub(super) containers: Mutex<HashMap<String, Arc<Container>>>,
    /// name (with `/`) → id; entries are reserved before anything is written.
    pub(super) names: Mutex<HashMap<String, String>>,
    pub(super) weak: std::sync::Weak<ContainerService>,
    pub(crate) execs: super::exec::Execs,
    pub(super) volumes: Arc<crate::volume::VolumeStore>,
    pub(super) networks: Arc<crate::network::NetworkStore>,
    /// One creator at a time per shared init layer.
    pub(super) init_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Init layers known to exist.
    pub(super) init_known: Mutex<std::collections::HashSet<String>>,
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

    pub(super) fn dir(&self, id: &str) -> PathBuf {
        self.data_root.join("containers").join(id)
    }

    pub(super) fn run_dir(&self, id: &str) -> PathBuf {
        self.exec_root.join(id)
    }

    /// The lease that held the writable layer of containers made before it became a
    /// collector root of its own; removal still ends it.
    pub(super) fn lease_for(id: &str) -> Lease {
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

    pub(super) fn self_ref(&self) -> std::sync::Weak<ContainerService> {
        self.weak.clone()
    }

    /// The cgroup the container's processes run in: `CgroupParent`, or one per namespace.
    pub(super) fn cgroup_parent(&self, record: &ContainerRecord) -> String {
        let p = spec::text(&record.host_config.cgroup_parent);
        if p.is_empty() {
            format!("/{}", self.namespace)
        } else {
            p.to_string()
        }
    }
}

pub(super) fn now() -> String {
    logs::now_rfc3339_nano()
}

pub(super) fn random_id() -> String {
    let a: [u8; 32] = rand::random();
    a.iter().map(|b| format!("{b:02x}")).collect()
}
