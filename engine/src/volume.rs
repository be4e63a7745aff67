//! Local volumes: directories under `<data-root>/volumes/<name>/_data`, with their labels,
//! options and creation time beside them in `opts.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::events::{Event, EventBus};
use crate::system::write_atomic;
use crate::{Error, Result};

/// One volume, as `GET /volumes/{name}` shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Volume {
    pub name: String,
    pub created_at: String,
    /// None when created without labels (moby then answers `null`).
    pub labels: Option<BTreeMap<String, String>>,
    pub options: Option<BTreeMap<String, String>>,
    /// Made for one container (a name generated for it), removed with `docker rm -v`.
    #[serde(default)]
    pub anonymous: bool,
    #[serde(skip)]
    pub mountpoint: PathBuf,
}

pub struct VolumeStore {
    root: PathBuf,
    events: std::sync::Arc<EventBus>,
    /// Serialises create and remove, so a name is made or removed once.
    lock: Mutex<()>,
}

/// moby's volume name grammar: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

impl VolumeStore {
    pub fn new(data_root: &Path, events: std::sync::Arc<EventBus>) -> Result<VolumeStore> {
        let root = data_root.join("volumes");
        crate::system::ensure_dir(&root)?;
        Ok(VolumeStore {
            root,
            events,
            lock: Mutex::new(()),
        })
    }

    fn event(&self, action: &str, name: &str) {
        let mut attributes = BTreeMap::new();
        attributes.insert("driver".to_string(), "local".to_string());
        self.events
            .publish(Event::new("volume", action, name.to_string(), attributes));
    }

    /// `POST /volumes/create`: a new volume, or the existing one of that name.
    pub fn create(
        &self,
        name: Option<&str>,
        labels: Option<BTreeMap<String, String>>,
        options: Option<BTreeMap<String, String>>,
    ) -> Result<Volume> {
        let (name, anonymous) = match name.filter(|n| !n.is_empty()) {
            Some(n) => (n.to_string(), false),
            None => {
                let a: [u8; 32] = rand::random();
                (a.iter().map(|b| format!("{b:02x}")).collect(), true)
            }
        };
        if !valid_name(&name) {
            return Err(Error::invalid(format!(
                "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
            )));
        }
        if let Some(opts) = &options
            && !opts.is_empty()
        {
            return Err(Error::invalid(format!(
                "create {name}: volume options (type, device, o) are not supported by berthd yet"
            )));
        }
        let _one = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Ok(existing) = self.get(&name) {
            return Ok(existing);
        }
        let dir = self.root.join(&name);
        std::fs::create_dir_all(dir.join("_data"))?;
        let volume = Volume {
            name: name.clone(),
            created_at: time::OffsetDateTime::now_utc()
                .replace_nanosecond(0)
                .unwrap_or_else(|_| time::OffsetDateTime::now_utc())
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            labels,
            options,
            anonymous,
            mountpoint: dir.join("_data"),
        };
        let meta = serde_json::to_vec(&volume).map_err(|e| Error::internal(e.to_string()))?;
        if let Err(e) = write_atomic(&dir.join("opts.json"), &meta) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        self.event("create", &name);
        Ok(volume)
    }

    /// `GET /volumes/{name}`.
    pub fn get(&self, name: &str) -> Result<Volume> {
        let dir = self.root.join(name);
        let missing = || Error::not_found(format!("get {name}: no such volume"));
        if !valid_name(name) {
            return Err(missing());
        }
        let meta = std::fs::read(dir.join("opts.json")).map_err(|_| missing())?;
        let mut v: Volume = serde_json::from_slice(&meta)
            .map_err(|e| Error::internal(format!("volume {name}: {e}")))?;
        v.mountpoint = dir.join("_data");
        Ok(v)
    }

    /// Every volume, by name.
    pub fn list(&self) -> Vec<Volume> {
        let mut out: Vec<Volume> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| self.get(&e.file_name().to_string_lossy()).ok())
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// `DELETE /volumes/{name}`; `users` are the containers using it (refused unless empty).
    pub fn remove(&self, name: &str, users: &[String]) -> Result<()> {
        let _one = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.get(name)?;
        if !users.is_empty() {
            return Err(Error::conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        std::fs::remove_dir_all(self.root.join(name))?;
        self.event("destroy", name);
        Ok(())
    }

    /// `POST /volumes/prune`: removes the volumes no container uses (`in_use`) that `wanted`
    /// picks, named ones only when `all`; returns their names and the bytes freed.
    pub fn prune(
        &self,
        all: bool,
        in_use: impl Fn(&str) -> bool,
        wanted: impl Fn(&Volume) -> bool,
    ) -> (Vec<String>, i64) {
        let mut deleted = Vec::new();
        let mut reclaimed = 0;
        for v in self.list() {
            if (!all && !v.anonymous) || !wanted(&v) || in_use(&v.name) {
                continue;
            }
            let size = self.size(&v);
            if self.remove(&v.name, &[]).is_ok() {
                reclaimed += size;
                deleted.push(v.name);
            }
        }
        (deleted, reclaimed)
    }

    /// Bytes of a volume's files, counted as for snapshots (hard links once).
    pub fn size(&self, v: &Volume) -> i64 {
        crate::disk_usage::apparent_size(&v.mountpoint).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_mobys_grammar() {
        assert!(valid_name("data"));
        assert!(valid_name("a.b-c_d"));
        assert!(!valid_name("a"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name("../etc"));
    }
}
