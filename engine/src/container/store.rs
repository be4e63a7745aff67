//! The record store: each container's record in memory, persisted under the container's
//! lock (one writer at a time, one file), and the name table, reserved before anything is made.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::io::IoChannels;
use super::model::ContainerRecord;
use super::service::ContainerService;
use crate::{Error, Result};

/// The last exit of a container, numbered so waiters can tell a new one from an old one.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ExitSeq {
    pub(super) seq: u64,
    pub(super) code: i64,
}

pub(super) struct Container {
    /// Shared with the snapshots [`ContainerService::get`] and `list` hand out; a change
    /// copies it only while one is still held.
    pub(super) record: Mutex<Arc<ContainerRecord>>,
    pub(super) io: Mutex<IoChannels>,
    pub(super) exits: watch::Sender<ExitSeq>,
    pub(super) removed: watch::Sender<bool>,
    /// Serialises start, stop and remove of this container.
    pub(super) op: Arc<tokio::sync::Mutex<()>>,
    /// Held while an exit is taken down (task deleted, networks left), which happens after
    /// the exit is already visible; operations on the container wait for it through
    /// [`Container::lock_op`].
    pub(super) teardown: tokio::sync::Mutex<()>,
    /// The restart policy's current backoff.
    pub(super) restart_delay: Mutex<Duration>,
    /// Serialises writes of the record's files.
    pub(super) written: Mutex<()>,
}

impl Container {
    pub(super) fn new(record: ContainerRecord) -> Arc<Self> {
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

impl ContainerService {
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
        let current = c.rec().snapshot();
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
}

/// Writes a container's record, `config.v2.json`, into its directory: one file, so a crash
/// can never leave half of a change on disk.
pub(super) fn write_record(dir: &std::path::Path, c: &ContainerRecord) -> Result<()> {
    let config = serde_json::to_vec(c).map_err(|e| Error::internal(e.to_string()))?;
    crate::system::write_atomic_all(dir, &[("config.v2.json", &config)])
}
