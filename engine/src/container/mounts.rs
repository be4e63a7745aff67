//! A container's mounts: `Binds` (`src:dst[:opts]`), `Mounts` of type `bind`, `volume` and
//! `tmpfs`, `VolumesFrom`, and the anonymous volumes its config declares, resolved once at
//! create.

use std::collections::BTreeSet;

use super::spec::{HostConfig, MountSpec, TmpfsOptions, flag, list, text};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One mount, as `Mounts` in inspect shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MountPoint {
    /// `bind` or `volume`.
    pub kind: String,
    /// The volume's name (volumes only).
    pub name: String,
    /// The host path: the bind source, or the volume's `_data` directory.
    pub source: String,
    pub destination: String,
    /// The mode as given (`ro`, `z`, ...); `z` for a volume without one, as dockerd shows.
    pub mode: String,
    pub rw: bool,
    pub propagation: String,
    /// An anonymous volume made for this container (`docker rm -v` removes it).
    #[serde(default)]
    pub anonymous: bool,
    /// Where a `Mounts` entry named a bind source that must already exist.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub must_exist: bool,
    /// A volume that is not to be filled from the image (`nocopy`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_copy: bool,
    /// A `tmpfs` mount's options (`size=1m,mode=1770`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tmpfs_options: String,
    /// A read-only bind whose submounts stay as they are (`ReadOnlyNonRecursive`, and every
    /// read-only bind below API 1.44); otherwise read-only reaches every submount too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only_non_recursive: bool,
    /// `VolumeOptions.Subpath`: the directory inside the volume that is mounted.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subpath: String,
    /// Driver options and labels for a volume that `--mount` makes (`volume-opt`,
    /// `volume-label`); only used when it is created.
    #[serde(skip)]
    pub new_volume: Option<NewVolume>,
}

/// What a volume made by a container's `Mounts` entry is made with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewVolume {
    pub options: Option<std::collections::BTreeMap<String, String>>,
    pub labels: Option<std::collections::BTreeMap<String, String>>,
}

fn invalid_spec(spec: &str) -> Error {
    Error::invalid(format!("invalid volume specification: '{spec}'"))
}

/// Parses `Binds`, `Mounts` and the config's `Volumes` into mount points, with `inherited`
/// (from `VolumesFrom`) where neither `Binds` nor `Mounts` name the destination; volume
/// names are empty for anonymous ones and sources of volumes are filled in later.
pub fn wanted<'a>(
    declared: impl Iterator<Item = &'a String>,
    host: &HostConfig,
    inherited: Vec<MountPoint>,
) -> Result<Vec<MountPoint>> {
    let mut out: Vec<MountPoint> = Vec::new();
    let mut taken = BTreeSet::new();
    let mut add = |m: MountPoint, out: &mut Vec<MountPoint>| -> Result<()> {
        if !taken.insert(m.destination.clone()) {
            return Err(Error::invalid(format!(
                "Duplicate mount point: {}",
                m.destination
            )));
        }
        out.push(m);
        Ok(())
    };
    for spec in list(&host.binds) {
        add(parse_bind(spec)?, &mut out)?;
    }
    for m in host.mounts.iter().flatten() {
        add(parse_mount(m)?, &mut out)?;
    }
    for m in inherited {
        if !out.iter().any(|o| o.destination == m.destination) {
            out.push(m);
        }
    }
    for dest in declared {
        let dest = clean_destination(dest)?;
        if out.iter().any(|m| m.destination == dest) {
            continue;
        }
        add(
            MountPoint {
                kind: "volume".into(),
                name: String::new(),
                source: String::new(),
                destination: dest,
                mode: String::new(),
                rw: true,
                propagation: String::new(),
                anonymous: true,
                must_exist: false,
                no_copy: false,
                tmpfs_options: String::new(),
                read_only_non_recursive: false,
                subpath: String::new(),
                new_volume: None,
            },
            &mut out,
        )?;
    }
    Ok(out)
}

fn clean_destination(dest: &str) -> Result<String> {
    if !dest.starts_with('/') {
        return Err(Error::invalid(format!(
            "invalid mount config: invalid mount path: '{dest}' mount path must be absolute"
        )));
    }
    let trimmed = dest.trim_end_matches('/');
    Ok(if trimmed.is_empty() {
        "/".into()
    } else {
        trimmed.into()
    })
}

/// `src:dst[:opts]`: a host path (absolute) binds, anything else names a volume.
fn parse_bind(spec: &str) -> Result<MountPoint> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [dst] => ("", *dst, ""),
        [src, dst] => (*src, *dst, ""),
        [src, dst, mode] => (*src, *dst, *mode),
        _ => return Err(invalid_spec(spec)),
    };
    if dst.is_empty() || !dst.starts_with('/') {
        return Err(invalid_spec(spec));
    }
    let mut rw = true;
    let mut propagation = String::new();
    for opt in mode.split(',').filter(|o| !o.is_empty()) {
        match opt {
            "ro" => rw = false,
            "rw" | "z" | "Z" | "nocopy" | "consistent" | "cached" | "delegated" => {}
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => {
                propagation = opt.to_string();
            }
            _ => return Err(Error::invalid(format!("invalid mode: {mode}"))),
        }
    }
    let destination = clean_destination(dst)?;
    if src.starts_with('/') {
        Ok(MountPoint {
            kind: "bind".into(),
            name: String::new(),
            source: src.to_string(),
            destination,
            mode: mode.to_string(),
            rw,
            propagation: if propagation.is_empty() {
                "rprivate".into()
            } else {
                propagation
            },
            anonymous: false,
            must_exist: false,
            no_copy: false,
            tmpfs_options: String::new(),
            read_only_non_recursive: false,
            subpath: String::new(),
            new_volume: None,
        })
    } else {
        Ok(MountPoint {
            kind: "volume".into(),
            name: src.to_string(),
            source: String::new(),
            destination,
            mode: if mode.is_empty() {
                "z".into()
            } else {
                mode.to_string()
            },
            rw,
            propagation: String::new(),
            anonymous: src.is_empty(),
            must_exist: false,
            no_copy: mode.split(',').any(|o| o == "nocopy"),
            tmpfs_options: String::new(),
            read_only_non_recursive: false,
            subpath: String::new(),
            new_volume: None,
        })
    }
}

/// One `Mounts` entry (`--mount`).
fn parse_mount(m: &MountSpec) -> Result<MountPoint> {
    let kind = text(&m.r#type).to_string();
    let target = text(&m.target).to_string();
    if target.is_empty() {
        return Err(Error::invalid(
            "invalid mount config: Target must not be empty",
        ));
    }
    let destination = clean_destination(&target)?;
    let read_only = flag(&m.read_only);
    let bind_options = m.bind_options.clone().unwrap_or_default();
    match kind.as_str() {
        "bind" => {
            let source = text(&m.source).to_string();
            if source.is_empty() {
                return Err(Error::invalid(
                    "invalid mount config for type \"bind\": field Source must not be empty",
                ));
            }
            let propagation = Some(text(&bind_options.propagation))
                .filter(|p| !p.is_empty())
                .unwrap_or("rprivate")
                .to_string();
            let create = flag(&bind_options.create_mountpoint);
            if !create && !std::path::Path::new(&source).exists() {
                return Err(Error::invalid(format!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {source}"
                )));
            }
            Ok(MountPoint {
                kind,
                name: String::new(),
                source,
                destination,
                mode: String::new(),
                rw: !read_only,
                propagation,
                anonymous: false,
                must_exist: !create,
                no_copy: false,
                tmpfs_options: String::new(),
                read_only_non_recursive: flag(&bind_options.read_only_non_recursive),
                subpath: String::new(),
                new_volume: None,
            })
        }
        "volume" => {
            let name = text(&m.source).to_string();
            let options = m.volume_options.clone().unwrap_or_default();
            let driver_config = options.driver_config.unwrap_or_default();
            let driver = text(&driver_config.name);
            if !driver.is_empty() && driver != "local" {
                return Err(Error::not_found(format!(
                    "error looking up volume plugin {driver}: plugin \"{driver}\" not found"
                )));
            }
            let new_volume = NewVolume {
                options: driver_config.options,
                labels: options.labels,
            };
            let subpath = text(&options.subpath).to_string();
            if subpath.starts_with('/') || subpath.split('/').any(|c| c == "..") {
                return Err(Error::invalid(format!(
                    "invalid mount config: subpath must be a relative path within the volume: {subpath}"
                )));
            }
            Ok(MountPoint {
                kind,
                anonymous: name.is_empty(),
                name,
                source: String::new(),
                destination,
                mode: "z".into(),
                rw: !read_only,
                propagation: String::new(),
                must_exist: false,
                no_copy: flag(&options.no_copy),
                tmpfs_options: String::new(),
                read_only_non_recursive: false,
                subpath,
                new_volume: Some(new_volume),
            })
        }
        "tmpfs" => {
            if !text(&m.source).is_empty() {
                return Err(Error::invalid(
                    "invalid mount config for type \"tmpfs\": field Source must not be specified",
                ));
            }
            Ok(MountPoint {
                kind,
                name: String::new(),
                source: String::new(),
                destination,
                mode: String::new(),
                rw: !read_only,
                propagation: String::new(),
                anonymous: false,
                must_exist: false,
                no_copy: false,
                tmpfs_options: tmpfs_options(m.tmpfs_options.as_ref(), read_only),
                read_only_non_recursive: false,
                subpath: String::new(),
                new_volume: None,
            })
        }
        "" => Err(Error::invalid("invalid mount config: mount type unknown")),
        other => Err(Error::invalid(format!(
            "invalid mount config for type \"{other}\": mount type not supported by berthd yet"
        ))),
    }
}

/// `HostConfig.Tmpfs` options checked as moby checks them when it starts the container:
/// each is a mount flag or `key=value` with a key tmpfs takes, and an error names the last
/// bad one's key. An error of the start, so a 500 as on dockerd.
pub fn check_tmpfs_data(data: &str) -> Result<()> {
    const FLAGS: &[&str] = &[
        "defaults",
        "ro",
        "rw",
        "suid",
        "nosuid",
        "dev",
        "nodev",
        "exec",
        "noexec",
        "sync",
        "async",
        "dirsync",
        "remount",
        "mand",
        "nomand",
        "atime",
        "noatime",
        "diratime",
        "nodiratime",
        "bind",
        "rbind",
        "unbindable",
        "runbindable",
        "private",
        "rprivate",
        "shared",
        "rshared",
        "slave",
        "rslave",
        "relatime",
        "norelatime",
        "strictatime",
        "nostrictatime",
    ];
    const KEYS: &[&str] = &[
        "",
        "size",
        "mode",
        "uid",
        "gid",
        "nr_inodes",
        "nr_blocks",
        "mpol",
    ];
    if data.is_empty() {
        return Ok(());
    }
    for option in data.split(',').rev() {
        if FLAGS.contains(&option) {
            continue;
        }
        match option.split_once('=') {
            Some((key, _)) if KEYS.contains(&key) => {}
            _ => {
                let key = option.split_once('=').map_or(option, |(k, _)| k);
                return Err(Error::internal(format!("invalid tmpfs option {key:?}")));
            }
        }
    }
    Ok(())
}

/// `TmpfsOptions` as mount options, the way moby writes them: the size with the largest
/// unit that divides it, the mode in octal, then any raw `Options`.
fn tmpfs_options(o: Option<&TmpfsOptions>, read_only: bool) -> String {
    let mut out = Vec::new();
    if read_only {
        out.push("ro".to_string());
    }
    let size = o.and_then(|o| o.size_bytes).unwrap_or(0);
    if size > 0 {
        let (n, unit) = [(1i64 << 30, "g"), (1 << 20, "m"), (1 << 10, "k")]
            .into_iter()
            .find(|(d, _)| size % d == 0)
            .map_or((size, ""), |(d, u)| (size / d, u));
        out.push(format!("size={n}{unit}"));
    }
    let mode = o.and_then(|o| o.mode).unwrap_or(0);
    if mode != 0 {
        out.push(format!("mode={:o}", mode & 0o7777));
    }
    for pair in o.and_then(|o| o.options.as_ref()).into_iter().flatten() {
        match pair.as_slice() {
            [k] => out.push((*k).to_string()),
            [k, v] => out.push(format!("{k}={v}")),
            _ => {}
        }
    }
    out.join(",")
}

/// One `VolumesFrom` entry: the container, and whether its mounts are to be read-only
/// (`:ro`) or keep their own mode.
pub fn parse_volumes_from(spec: &str) -> Result<(String, bool)> {
    if spec.is_empty() {
        return Err(Error::invalid(
            "volumes-from specification cannot be an empty string",
        ));
    }
    let (id, mode) = spec.split_once(':').unwrap_or((spec, ""));
    let mut read_only = false;
    for opt in mode.split(',').filter(|o| !o.is_empty()) {
        match opt {
            "ro" => read_only = true,
            "rw" | "z" | "Z" | "nocopy" => {}
            _ => return Err(Error::invalid(format!("invalid mode: {mode}"))),
        }
    }
    Ok((id.to_string(), read_only))
}

/// A mount of another container as `VolumesFrom` shares it: not this container's to
/// remove, never filled from this container's image.
pub fn inherit(m: &MountPoint, read_only: bool) -> MountPoint {
    MountPoint {
        mode: String::new(),
        rw: m.rw && !read_only,
        anonymous: false,
        must_exist: false,
        no_copy: true,
        ..m.clone()
    }
}

/// Fills an empty volume directory from the image's content at the mount's destination
/// (`root` is the container's root filesystem, mounted read-only): files, directories and
/// symlinks with their owners, modes and times, as dockerd's copy-up does. Nothing happens
/// when the volume already has content or the image has nothing there.
pub fn copy_up(
    root: &std::path::Path,
    destination: &str,
    volume: &std::path::Path,
) -> std::io::Result<()> {
    if std::fs::read_dir(volume)?.next().is_some() {
        return Ok(());
    }
    let source = root.join(destination.trim_start_matches('/'));
    match std::fs::symlink_metadata(&source) {
        Ok(m) if m.is_dir() => copy_tree(&source, volume),
        _ => Ok(()),
    }
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let meta = std::fs::symlink_metadata(&src)?;
        let kind = meta.file_type();
        if kind.is_dir() {
            std::fs::create_dir(&dst)?;
            copy_tree(&src, &dst)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else if kind.is_file() {
            std::fs::copy(&src, &dst)?;
        } else {
            // Devices, fifos and sockets are not copied up.
            continue;
        }
        std::os::unix::fs::lchown(&dst, Some(meta.uid()), Some(meta.gid()))?;
        if !kind.is_symlink() {
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(meta.mode()))?;
        }
    }
    let meta = std::fs::metadata(from)?;
    std::os::unix::fs::chown(to, Some(meta.uid()), Some(meta.gid()))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode()))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// [`super::wanted`] with the host config written as JSON.
    fn wanted<'a>(
        declared: impl Iterator<Item = &'a String>,
        host: &Value,
        inherited: Vec<MountPoint>,
    ) -> Result<Vec<MountPoint>> {
        let host = serde_json::from_value(host.clone()).expect("a host config");
        super::wanted(declared, &host, inherited)
    }

    #[test]
    fn tmpfs_data_is_checked_as_moby_checks_it() {
        assert!(check_tmpfs_data("").is_ok());
        assert!(check_tmpfs_data("size=1m,mode=1777,noexec,rw").is_ok());
        let e = check_tmpfs_data("1m").unwrap_err();
        assert_eq!(e.message, "invalid tmpfs option \"1m\"");
        assert_eq!(e.kind, crate::ErrorKind::Internal);
        let e = check_tmpfs_data("bogus=1,size=2m").unwrap_err();
        assert_eq!(e.message, "invalid tmpfs option \"bogus\"");
    }

    #[test]
    fn tmpfs_mounts_and_volumes_from() {
        let host = json!({"Mounts": [{"Type": "tmpfs", "Target": "/t",
            "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 1016}}]});
        let m = wanted(std::iter::empty(), &host, vec![]).unwrap();
        assert_eq!(m[0].tmpfs_options, "size=1m,mode=1770");
        let host = json!({"Mounts": [{"Type": "tmpfs", "Target": "/t", "ReadOnly": true,
            "TmpfsOptions": {"SizeBytes": 1500}}]});
        assert_eq!(
            wanted(std::iter::empty(), &host, vec![]).unwrap()[0].tmpfs_options,
            "ro,size=1500"
        );
        assert_eq!(parse_volumes_from("c:ro").unwrap(), ("c".to_string(), true));
        assert_eq!(parse_volumes_from("c").unwrap(), ("c".to_string(), false));
        assert_eq!(
            parse_volumes_from("c:bad").unwrap_err().message,
            "invalid mode: bad"
        );
        // An inherited mount gives way to the container's own at the same destination.
        let own = json!({"Binds": ["/srv:/d"]});
        let shared = inherit(
            &wanted(
                std::iter::empty(),
                &json!({"Binds": ["v:/d", "w:/e"]}),
                vec![],
            )
            .unwrap()[0],
            true,
        );
        let other = inherit(
            &wanted(std::iter::empty(), &json!({"Binds": ["w:/e"]}), vec![]).unwrap()[0],
            false,
        );
        let m = wanted(std::iter::empty(), &own, vec![shared, other]).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(
            (
                m[0].kind.as_str(),
                m[1].name.as_str(),
                m[1].rw,
                m[1].mode.as_str()
            ),
            ("bind", "w", true, "")
        );
    }

    #[test]
    fn binds_volumes_and_declared_volumes() {
        let host = json!({"Binds": ["/srv:/w:ro", "data:/d", "/var/x"]});
        let declared = ["/var/data".to_string(), "/d".to_string()];
        let m = wanted(declared.iter(), &host, vec![]).unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!(
            (m[0].kind.as_str(), m[0].rw, m[0].propagation.as_str()),
            ("bind", false, "rprivate")
        );
        assert_eq!(
            (m[1].kind.as_str(), m[1].name.as_str(), m[1].mode.as_str()),
            ("volume", "data", "z")
        );
        assert!(m[2].anonymous && m[2].destination == "/var/x");
        assert!(m[3].anonymous && m[3].destination == "/var/data");
    }

    #[test]
    fn bad_specs_get_dockers_messages() {
        let e = |binds: Value| {
            wanted(std::iter::empty(), &json!({"Binds": binds}), vec![])
                .unwrap_err()
                .message
        };
        assert_eq!(
            e(json!(["a:b:c:d"])),
            "invalid volume specification: 'a:b:c:d'"
        );
        assert_eq!(e(json!(["/a:/b", "/c:/b"])), "Duplicate mount point: /b");
        let e = wanted(
            std::iter::empty(),
            &json!({"Mounts": [{"Type": "bind", "Source": "/nonexistent-berth", "Target": "/x"}]}),
            vec![],
        )
        .unwrap_err()
        .message;
        assert_eq!(
            e,
            "invalid mount config for type \"bind\": bind source path does not exist: /nonexistent-berth"
        );
    }
}
