//! Local volumes: directories under `<data-root>/volumes/<name>/_data`, with their labels,
//! options and creation time beside them in `opts.json`. A volume made with driver options
//! (`type`, `device`, `o`: a tmpfs, a bind, an NFS export) has that mounted on `_data`
//! while containers using it run, as dockerd's local driver does.

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
    /// Running containers of each volume with driver options; mounted while not empty.
    pins: Mutex<BTreeMap<String, std::collections::BTreeSet<String>>>,
}

/// The driver options moby's local driver takes, and which need which others.
const VALID_OPTIONS: [&str; 4] = ["type", "device", "o", "size"];
const REQUIRED_WITH: [(&str, &[&str]); 3] = [
    ("type", &["device"]),
    ("device", &["type"]),
    ("o", &["device", "type"]),
];

fn validate_options(opts: &BTreeMap<String, String>) -> std::result::Result<(), String> {
    if let Some(bad) = opts.keys().find(|k| !VALID_OPTIONS.contains(&k.as_str())) {
        return Err(format!("invalid option: {bad:?}"));
    }
    if opts.contains_key("size") {
        return Err("quota size requested but no quota support".into());
    }
    for (opt, needs) in REQUIRED_WITH {
        if opts.contains_key(opt)
            && let Some(missing) = needs.iter().find(|n| !opts.contains_key(**n))
        {
            return Err(format!("missing required option: {missing:?}"));
        }
    }
    Ok(())
}

/// Whether something is mounted exactly at `path` (from /proc/self/mountinfo, whose mount
/// points escape spaces and such in octal).
fn is_mount_point(path: &Path) -> bool {
    let wanted = path.to_string_lossy();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|p| crate::system::unescape_octal(p) == wanted)
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
        // Canonical, so a mount on `_data` is recognised in /proc/self/mountinfo even when
        // the data root is given through a symlink or relatively.
        let root = std::fs::canonicalize(&root).unwrap_or(root);
        Ok(VolumeStore {
            root,
            events,
            lock: Mutex::new(()),
            pins: Mutex::new(BTreeMap::new()),
        })
    }

    fn event(&self, action: &str, name: &str) {
        let mut attributes = BTreeMap::new();
        attributes.insert("driver".to_string(), "local".to_string());
        self.events
            .publish(Event::new("volume", action, name.to_string(), attributes));
    }

    /// The `mount` event dockerd emits as a starting container mounts the volume.
    pub fn mount_event(
        &self,
        name: &str,
        container: &str,
        destination: &str,
        rw: bool,
        propagation: &str,
    ) {
        let attributes = BTreeMap::from([
            ("container".to_string(), container.to_string()),
            ("destination".to_string(), destination.to_string()),
            ("driver".to_string(), "local".to_string()),
            ("propagation".to_string(), propagation.to_string()),
            ("read/write".to_string(), rw.to_string()),
        ]);
        self.events
            .publish(Event::new("volume", "mount", name.to_string(), attributes));
    }

    /// The `unmount` event of a volume a container's run used.
    pub fn unmount_event(&self, name: &str, container: &str) {
        let attributes = BTreeMap::from([
            ("container".to_string(), container.to_string()),
            ("driver".to_string(), "local".to_string()),
        ]);
        self.events.publish(Event::new(
            "volume",
            "unmount",
            name.to_string(),
            attributes,
        ));
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
        if let Some(opts) = &options {
            validate_options(opts).map_err(|e| Error::invalid(format!("create {name}: {e}")))?;
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
        // A device or bind still mounted there must not have its files deleted.
        let data = self.root.join(name).join("_data");
        if is_mount_point(&data) {
            nix::mount::umount2(&data, nix::mount::MntFlags::MNT_DETACH).map_err(|e| {
                Error::internal(format!(
                    "remove {name}: cannot unmount {}: {e}",
                    data.display()
                ))
            })?;
        }
        std::fs::remove_dir_all(self.root.join(name))?;
        self.event("destroy", name);
        Ok(())
    }

    /// The driver options of volume `name` when it has a device to mount (`type`).
    pub fn device_options(&self, name: &str) -> Option<BTreeMap<String, String>> {
        self.get(name)
            .ok()?
            .options
            .filter(|o| o.contains_key("type"))
    }

    /// A container using volume `name` is starting: a volume with driver options gets its
    /// device mounted on `_data` unless it already is.
    pub fn pin(&self, name: &str, container: &str) -> Result<()> {
        let v = self.get(name)?;
        let Some(opts) = v.options.as_ref().filter(|o| o.contains_key("type")) else {
            return Ok(());
        };
        let mut pins = self.pins.lock().unwrap_or_else(|p| p.into_inner());
        if !is_mount_point(&v.mountpoint) {
            mount_device(opts, &v.mountpoint)?;
        }
        pins.entry(name.to_string())
            .or_default()
            .insert(container.to_string());
        Ok(())
    }

    /// A container using volume `name` stopped: the device is unmounted when no running
    /// container uses it any more (a tmpfs volume's files go with it, as on dockerd).
    pub fn unpin(&self, name: &str, container: &str) {
        let Ok(v) = self.get(name) else {
            return;
        };
        if !v.options.as_ref().is_some_and(|o| o.contains_key("type")) {
            return;
        }
        let mut pins = self.pins.lock().unwrap_or_else(|p| p.into_inner());
        let users = pins.entry(name.to_string()).or_default();
        users.remove(container);
        if users.is_empty() && is_mount_point(&v.mountpoint) {
            pins.remove(name);
            if let Err(e) = nix::mount::umount2(&v.mountpoint, nix::mount::MntFlags::MNT_DETACH) {
                tracing::warn!(volume = name, "cannot unmount: {e}");
            }
        }
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

/// Mounts a local volume's device (`type`, `device`, `o`) on its `_data` directory, as
/// mount(8) would: `o` holds flags such as `bind` or `ro` and the filesystem's own options.
pub(crate) fn mount_device(opts: &BTreeMap<String, String>, target: &Path) -> Result<()> {
    let kind = opts.get("type").map(String::as_str).unwrap_or("");
    let device = opts.get("device").map(String::as_str).unwrap_or("");
    let o = opts.get("o").map(String::as_str).unwrap_or("");
    let options: Vec<String> = o
        .split(',')
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect();
    let (flags, data) = crate::rootfs::split_options(&options);
    let data = data.join(",");
    let fstype = (!flags.contains(nix::mount::MsFlags::MS_BIND)).then_some(kind);
    nix::mount::mount(
        Some(device),
        target,
        fstype,
        flags,
        (!data.is_empty()).then_some(data.as_str()),
    )
    .map_err(|e| {
        Error::internal(format!(
            "error while mounting volume '{}': failed to mount local volume: mount {device}:{}, data: {data}: {}",
            target.display(),
            target.display(),
            e.desc().to_lowercase()
        ))
    })?;
    // A bind ignores `ro` on its first pass.
    if flags.contains(nix::mount::MsFlags::MS_BIND | nix::mount::MsFlags::MS_RDONLY) {
        nix::mount::mount(
            None::<&str>,
            target,
            None::<&str>,
            flags | nix::mount::MsFlags::MS_REMOUNT,
            None::<&str>,
        )
        .map_err(|e| {
            let _ = nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH);
            Error::internal(format!("remounting {} read-only: {e}", target.display()))
        })?;
    }
    Ok(())
}

/// The filter terms `GET /volumes` takes.
const LIST_TERMS: &[&str] = &["name", "label", "driver", "dangling"];

impl crate::Engine {
    /// `GET /volumes`: the volumes the filters select, as moby filters them (`name` is a
    /// substring, every volume's driver is `local`, `dangling` asks whether no container
    /// uses it).
    pub fn list_volumes(&self, filters: &crate::filters::Filters) -> Result<Vec<Volume>> {
        filters.validate(LIST_TERMS)?;
        let dangling = filters
            .bool_term("dangling")
            .map_err(|v| Error::invalid(format!("invalid filter 'dangling={v}'")))?;
        let mut list = self.volumes().list();
        list.retain(|v| {
            filters
                .values("name")
                .is_none_or(|n| n.iter().any(|n| v.name.contains(n.as_str())))
                && filters.label_match(v.labels.as_ref().unwrap_or(&BTreeMap::new()))
                && filters.values("driver").is_none_or(|d| d.contains("local"))
                && dangling.is_none_or(|d| self.containers().volume_users(&v.name).is_empty() == d)
        });
        Ok(list)
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

    #[test]
    fn driver_options_follow_the_local_drivers_rules() {
        let opts = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(
            validate_options(&opts(&[
                ("type", "tmpfs"),
                ("device", "tmpfs"),
                ("o", "size=1m")
            ]))
            .is_ok()
        );
        assert_eq!(
            validate_options(&opts(&[("foo", "bar")])).unwrap_err(),
            "invalid option: \"foo\""
        );
        assert_eq!(
            validate_options(&opts(&[("type", "tmpfs")])).unwrap_err(),
            "missing required option: \"device\""
        );
        assert_eq!(
            validate_options(&opts(&[("device", "/x")])).unwrap_err(),
            "missing required option: \"type\""
        );
        assert_eq!(crate::system::unescape_octal("/a\\040b"), "/a b");
    }
}
