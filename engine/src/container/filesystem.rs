//! A container's filesystem seen from the host: `docker diff` (its writable layer against
//! the layers below) and `docker export` (the merged root filesystem as a tar).

use std::io::Write;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};

use containerd_client::types::Mount;

use super::service::ContainerService;
use crate::{Error, Result};

/// One line of `docker diff`: Kind 0 = changed, 1 = added, 2 = deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub kind: u8,
}

impl ContainerService {
    /// `GET /containers/{id}/changes`: what the container's writable layer changed, sorted
    /// by path.
    pub async fn changes(&self, name_or_id: &str) -> Result<Vec<Change>> {
        let record = self.get(name_or_id)?;
        let mounts = self.containerd().snapshot_mounts(&record.id).await?;
        let (upper, lowers) = layer_dirs(&mounts)?;
        tokio::task::spawn_blocking(move || walk_changes(&upper, &lowers))
            .await
            .map_err(|e| Error::internal(e.to_string()))?
    }

    /// `GET /containers/{id}/export`: checks the container, then writes its root filesystem
    /// as a tar into `out` piece by piece (from a read-only mount of its layers) in the
    /// background; a failure midway arrives in `out` as an error.
    pub async fn export(
        &self,
        name_or_id: &str,
        out: tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>,
    ) -> Result<()> {
        let record = self.get(name_or_id)?;
        let mounts = self.containerd().snapshot_mounts(&record.id).await?;
        let view = read_only(&mounts)?;
        let target = self
            .exec_root()
            .join(format!("export-{:016x}", rand::random::<u64>()));
        self.container_event(&record, "export", &[]);
        tokio::task::spawn_blocking(move || {
            let errors = out.clone();
            let result = crate::rootfs::with_mounted(&[view], &target, |root| {
                let mut tar = tar::Builder::new(ChannelWriter::new(out));
                tar.follow_symlinks(false);
                append_tree(&mut tar, root)?;
                tar.into_inner()?.flush()
            });
            let failure = match result {
                Ok(Ok(())) => return,
                Ok(Err(e)) => e,
                Err(e) => std::io::Error::other(e.message),
            };
            let _ = errors.blocking_send(Err(failure));
        });
        Ok(())
    }
}

/// The upper directory and the lower directories (topmost first) of a snapshot's mounts.
fn layer_dirs(mounts: &[Mount]) -> Result<(PathBuf, Vec<PathBuf>)> {
    let m = mounts
        .first()
        .ok_or_else(|| Error::internal("the container's snapshot has no mounts"))?;
    if m.r#type == "bind" {
        return Ok((m.source.clone().into(), vec![]));
    }
    let option = |name: &str| m.options.iter().find_map(|o| o.strip_prefix(name));
    let upper = option("upperdir=")
        .ok_or_else(|| Error::internal("the container's snapshot has no upper directory"))?;
    let lowers = option("lowerdir=")
        .map(|l| l.split(':').map(PathBuf::from).collect())
        .unwrap_or_default();
    Ok((upper.into(), lowers))
}

/// A read-only mount of every layer of a (possibly running) container: its upper directory
/// becomes the top lower layer, so nothing of the live mount is touched.
pub(super) fn read_only(mounts: &[Mount]) -> Result<Mount> {
    let (upper, lowers) = layer_dirs(mounts)?;
    if lowers.is_empty() {
        return Ok(Mount {
            r#type: "bind".into(),
            source: upper.display().to_string(),
            target: String::new(),
            options: vec!["rbind".into(), "ro".into()],
        });
    }
    let all: Vec<String> = std::iter::once(&upper)
        .chain(&lowers)
        .map(|p| p.display().to_string())
        .collect();
    Ok(Mount {
        r#type: "overlay".into(),
        source: "overlay".into(),
        target: String::new(),
        options: vec![format!("lowerdir={}", all.join(":")), "ro".into()],
    })
}

fn walk_changes(upper: &Path, lowers: &[PathBuf]) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let dir = upper.join(&rel);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            let path = rel.join(entry.file_name());
            let whiteout = meta.file_type().is_char_device() && meta.rdev() == 0;
            let in_lower = lowers
                .iter()
                .any(|l| std::fs::symlink_metadata(l.join(&path)).is_ok());
            let kind = if whiteout {
                2
            } else if in_lower {
                0
            } else {
                1
            };
            out.push(Change {
                path: format!("/{}", path.display()),
                kind,
            });
            if meta.is_dir() {
                pending.push(path);
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Appends everything under `root` (not following symlinks), with paths relative to it.
fn append_tree(tar: &mut tar::Builder<ChannelWriter>, root: &Path) -> std::io::Result<()> {
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(root.join(&rel))?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        entries.sort();
        // Depth first, in name order: pushed in reverse so the first name comes next.
        let mut dirs = Vec::new();
        for name in entries {
            let path = rel.join(&name);
            let full = root.join(&path);
            let meta = std::fs::symlink_metadata(&full)?;
            if meta.file_type().is_socket() {
                continue;
            }
            if meta.is_dir() {
                // Directories carry a trailing slash, as moby's archives (and GNU tar) do.
                tar.append_path_with_name(&full, format!("{}/", path.display()))?;
                dirs.push(path);
            } else {
                tar.append_path_with_name(&full, &path)?;
            }
        }
        pending.extend(dirs.into_iter().rev());
    }
    Ok(())
}

/// Bytes of a tar going out to a response body.
const CHUNK: usize = 256 * 1024;

pub(super) struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    pub(super) fn new(tx: tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>) -> ChannelWriter {
        ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_entries_are_added_changed_or_deleted() {
        let base = std::env::temp_dir().join(format!("berth-chg-{:08x}", rand::random::<u32>()));
        let (upper, lower) = (base.join("upper"), base.join("lower"));
        std::fs::create_dir_all(upper.join("etc")).unwrap();
        std::fs::create_dir_all(upper.join("new/sub")).unwrap();
        std::fs::create_dir_all(lower.join("etc")).unwrap();
        std::fs::write(lower.join("etc/passwd"), b"root").unwrap();
        std::fs::write(upper.join("etc/passwd"), b"root\nx").unwrap();
        std::fs::write(upper.join("new/sub/f"), b"x").unwrap();
        let changes = walk_changes(&upper, &[lower]).unwrap();
        let got: Vec<(&str, u8)> = changes.iter().map(|c| (c.path.as_str(), c.kind)).collect();
        assert_eq!(
            got,
            [
                ("/etc", 0),
                ("/etc/passwd", 0),
                ("/new", 1),
                ("/new/sub", 1),
                ("/new/sub/f", 1)
            ]
        );
        std::fs::remove_dir_all(&base).unwrap();
    }
}
