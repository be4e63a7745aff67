//! Disk usage: `docker system df`, the images list's `shared-size` and the containers list's
//! `size`. Layer sizes come from the snapshotter; a layer is shared when more than one image
//! has its chain ID.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use crate::container::model::ContainerRecord;
use crate::image::store::ImageEntry;
use crate::runtime::Containerd;
use crate::{Engine, Result};

/// An image with the figures `system df` adds.
pub struct ImageUsage {
    pub entry: ImageEntry,
    /// Bytes of its layers that other images use too.
    pub shared_size: i64,
    /// Containers made from it.
    pub containers: i64,
}

/// A container's writable layer and its whole root filesystem, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContainerSize {
    pub size_rw: i64,
    pub size_root_fs: i64,
}

pub struct ContainerUsage {
    pub record: std::sync::Arc<ContainerRecord>,
    pub size: ContainerSize,
}

pub struct DiskUsage {
    /// Bytes of all image layers, each counted once.
    pub layers_size: i64,
    pub images: Option<Vec<ImageUsage>>,
    pub containers: Option<Vec<ContainerUsage>>,
}

impl Engine {
    /// `GET /system/df`, for the kinds asked.
    pub async fn disk_usage(&self, images: bool, containers: bool) -> Result<DiskUsage> {
        let entries = self.images().list().await?;
        let records = self.containers().list();
        let (shared, layers_size) = self.shared_sizes(&entries).await;
        let image_sizes: HashMap<&str, i64> = entries
            .iter()
            .map(|e| (e.resolved.id.as_str(), e.size))
            .collect();
        let container_usage = if containers {
            let mut out = Vec::with_capacity(records.len());
            for record in &records {
                let image_size = image_sizes.get(record.image_id.as_str()).copied();
                let size = self.container_size_with(record, image_size).await;
                out.push(ContainerUsage {
                    record: record.clone(),
                    size,
                });
            }
            Some(out)
        } else {
            None
        };
        let image_usage = images.then(|| {
            entries
                .iter()
                .cloned()
                .map(|entry| {
                    let containers = records
                        .iter()
                        .filter(|r| r.image_id == entry.resolved.id)
                        .count() as i64;
                    let shared_size = shared.get(&entry.resolved.id).copied().unwrap_or(0);
                    ImageUsage {
                        entry,
                        shared_size,
                        containers,
                    }
                })
                .collect()
        });
        Ok(DiskUsage {
            layers_size,
            images: image_usage,
            containers: container_usage,
        })
    }

    /// Shared size by image ID, and the size of all layers counted once.
    pub async fn shared_sizes(&self, entries: &[ImageEntry]) -> (HashMap<String, i64>, i64) {
        let mut users: HashMap<&str, usize> = HashMap::new();
        for e in entries {
            let distinct: HashSet<&str> = e.resolved.chain_ids.iter().map(String::as_str).collect();
            for chain in distinct {
                *users.entry(chain).or_default() += 1;
            }
        }
        let mut layer_size: HashMap<String, i64> = HashMap::new();
        for e in entries {
            let sizes = self.images().layer_sizes(&e.resolved.chain_ids).await;
            for (chain, size) in e.resolved.chain_ids.iter().zip(sizes) {
                layer_size.insert(chain.clone(), size);
            }
        }
        let shared = entries
            .iter()
            .map(|e| {
                let distinct: HashSet<&String> = e.resolved.chain_ids.iter().collect();
                let bytes = distinct
                    .into_iter()
                    .filter(|c| users.get(c.as_str()).copied().unwrap_or(0) > 1)
                    .map(|c| layer_size.get(c).copied().unwrap_or(0))
                    .sum();
                (e.resolved.id.clone(), bytes)
            })
            .collect();
        (shared, layer_size.values().sum())
    }

    /// `SizeRw` and `SizeRootFs` of a container (the containers list's `size=1`).
    pub async fn container_size(&self, record: &ContainerRecord) -> ContainerSize {
        let image_size = match self.images().find(&record.image_id).await {
            Ok(e) => Some(e.size),
            Err(_) => None,
        };
        self.container_size_with(record, image_size).await
    }

    async fn container_size_with(
        &self,
        record: &ContainerRecord,
        image_size: Option<i64>,
    ) -> ContainerSize {
        // A container whose snapshot is gone (being removed) counts as empty.
        let size_rw = snapshot_size(&self.containerd, &record.id, false).await;
        ContainerSize {
            size_rw,
            size_root_fs: size_rw + image_size.unwrap_or(0),
        }
    }
}

/// A snapshot's own size as dockerd counts it: the apparent size of what is not a
/// directory, each inode once (the snapshotter's usage counts blocks and directories).
/// Falls back to the snapshotter's usage when the files cannot be walked, and to 0 for a
/// snapshot that is gone.
pub async fn snapshot_size(containerd: &Containerd, key: &str, committed: bool) -> i64 {
    if let Ok(Some(dir)) = containerd.own_dir(key, committed).await
        && let Ok(Ok(size)) = tokio::task::spawn_blocking(move || apparent_size(&dir)).await
    {
        return size;
    }
    containerd.snapshot_usage(key).await.unwrap_or(0)
}

/// Apparent bytes of the non-directory entries under `root`, hard links counted once.
pub(crate) fn apparent_size(root: &Path) -> std::io::Result<i64> {
    use std::os::unix::fs::MetadataExt as _;
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut total = 0i64;
    let mut pending = vec![root.to_path_buf()];
    std::fs::symlink_metadata(root)?;
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                pending.push(entry.path());
            } else if meta.nlink() <= 1 || seen.insert((meta.dev(), meta.ino())) {
                total += meta.len() as i64;
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apparent_size_skips_directories_and_counts_links_once() {
        let dir = std::env::temp_dir().join(format!("berth-du-{:08x}", rand::random::<u32>()));
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("a/b/f"), b"hello").unwrap();
        std::fs::hard_link(dir.join("a/b/f"), dir.join("a/g")).unwrap();
        std::fs::write(dir.join("x"), b"123").unwrap();
        std::os::unix::fs::symlink("a/b/f", dir.join("l")).unwrap();
        assert_eq!(apparent_size(&dir).unwrap(), 5 + 3 + 5);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(apparent_size(&dir).is_err());
    }
}
