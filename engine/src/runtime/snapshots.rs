//! Snapshots (overlayfs) and the Diff service: layers applied onto snapshots keyed by chain
//! ID, and container layers prepared on top of them.

use std::collections::HashMap;

use containerd_client::services::v1::diff_client::DiffClient;
use containerd_client::services::v1::snapshots::snapshots_client::SnapshotsClient;
use containerd_client::services::v1::snapshots::{
    CommitSnapshotRequest, MountsRequest, PrepareSnapshotRequest, RemoveSnapshotRequest,
    StatSnapshotRequest, UsageRequest, ViewSnapshotRequest,
};
use containerd_client::services::v1::{ApplyRequest, DiffRequest};
use containerd_client::types::{Descriptor, Mount};

use super::content::Lease;
use super::{Containerd, classify};
use crate::Result;

pub const SNAPSHOTTER: &str = "overlayfs";

impl Containerd {
    pub async fn snapshot_exists(&self, key: &str) -> Result<bool> {
        match SnapshotsClient::new(self.channel.clone())
            .stat(self.request(StatSnapshotRequest {
                snapshotter: SNAPSHOTTER.into(),
                key: key.to_string(),
            }))
            .await
        {
            Ok(_) => Ok(true),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(false),
            Err(s) => Err(classify(s)),
        }
    }

    /// The parent of snapshot `key` ("" for none).
    pub async fn snapshot_parent(&self, key: &str) -> Result<String> {
        Ok(SnapshotsClient::new(self.channel.clone())
            .stat(self.request(StatSnapshotRequest {
                snapshotter: SNAPSHOTTER.into(),
                key: key.to_string(),
            }))
            .await
            .map_err(classify)?
            .into_inner()
            .info
            .map(|i| i.parent)
            .unwrap_or_default())
    }

    /// Prepares an active snapshot `key` on `parent` ("" for none) and returns its mounts.
    pub async fn prepare_snapshot(
        &self,
        lease: &Lease,
        key: &str,
        parent: &str,
        labels: HashMap<String, String>,
    ) -> Result<Vec<Mount>> {
        Ok(SnapshotsClient::new(self.channel.clone())
            .prepare(self.leased(
                PrepareSnapshotRequest {
                    snapshotter: SNAPSHOTTER.into(),
                    key: key.to_string(),
                    parent: parent.to_string(),
                    labels,
                },
                Some(lease),
            ))
            .await
            .map_err(classify)?
            .into_inner()
            .mounts)
    }

    /// Prepares an active snapshot `key` on `parent` that containerd's collector treats as a
    /// root (`containerd.io/gc.root`): it stays until it is removed, without a lease.
    pub async fn prepare_root_snapshot(&self, key: &str, parent: &str) -> Result<Vec<Mount>> {
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        Ok(SnapshotsClient::new(self.channel.clone())
            .prepare(self.request(PrepareSnapshotRequest {
                snapshotter: SNAPSHOTTER.into(),
                key: key.to_string(),
                parent: parent.to_string(),
                labels: HashMap::from([("containerd.io/gc.root".to_string(), now)]),
            }))
            .await
            .map_err(classify)?
            .into_inner()
            .mounts)
    }

    pub async fn snapshot_mounts(&self, key: &str) -> Result<Vec<Mount>> {
        Ok(SnapshotsClient::new(self.channel.clone())
            .mounts(self.request(MountsRequest {
                snapshotter: SNAPSHOTTER.into(),
                key: key.to_string(),
            }))
            .await
            .map_err(classify)?
            .into_inner()
            .mounts)
    }

    pub async fn commit_snapshot(
        &self,
        lease: &Lease,
        name: &str,
        key: &str,
        labels: HashMap<String, String>,
    ) -> Result<()> {
        SnapshotsClient::new(self.channel.clone())
            .commit(self.leased(
                CommitSnapshotRequest {
                    snapshotter: SNAPSHOTTER.into(),
                    name: name.to_string(),
                    key: key.to_string(),
                    labels,
                },
                Some(lease),
            ))
            .await
            .map_err(classify)?;
        Ok(())
    }

    pub async fn remove_snapshot(&self, key: &str) -> Result<()> {
        let mut client = SnapshotsClient::new(self.channel.clone());
        let call = client.remove(self.request(RemoveSnapshotRequest {
            snapshotter: SNAPSHOTTER.into(),
            key: key.to_string(),
        }));
        match Self::answered(call).await {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
            Err(s) => Err(classify(s)),
        }
    }

    /// The directory holding a snapshot's own files (not its parents'): the upper directory
    /// of an active snapshot, or, for a committed one, its layer seen through a short-lived
    /// view. None when the snapshotter does not expose one.
    pub async fn own_dir(&self, key: &str, committed: bool) -> Result<Option<std::path::PathBuf>> {
        if !committed {
            return Ok(own_dir_of(&self.snapshot_mounts(key).await?, false));
        }
        let view = format!("size-{:016x}", rand::random::<u64>());
        let mounts = SnapshotsClient::new(self.channel.clone())
            .view(self.request(ViewSnapshotRequest {
                snapshotter: SNAPSHOTTER.into(),
                key: view.clone(),
                parent: key.to_string(),
                labels: HashMap::new(),
            }))
            .await
            .map_err(classify)?
            .into_inner()
            .mounts;
        // The view only names directories; nothing is mounted, so it can go at once.
        let _ = self.remove_snapshot(&view).await;
        Ok(own_dir_of(&mounts, true))
    }

    /// Bytes used by a snapshot (its own layer only).
    pub async fn snapshot_usage(&self, key: &str) -> Result<i64> {
        Ok(SnapshotsClient::new(self.channel.clone())
            .usage(self.request(UsageRequest {
                snapshotter: SNAPSHOTTER.into(),
                key: key.to_string(),
            }))
            .await
            .map_err(classify)?
            .into_inner()
            .size)
    }

    /// A read-only view `key` of the committed snapshot `parent`, under `lease`.
    pub async fn view_snapshot(
        &self,
        lease: &Lease,
        key: &str,
        parent: &str,
    ) -> Result<Vec<Mount>> {
        Ok(SnapshotsClient::new(self.channel.clone())
            .view(self.leased(
                ViewSnapshotRequest {
                    snapshotter: SNAPSHOTTER.into(),
                    key: key.to_string(),
                    parent: parent.to_string(),
                    labels: HashMap::new(),
                },
                Some(lease),
            ))
            .await
            .map_err(classify)?
            .into_inner()
            .mounts)
    }

    /// The changes from `left` to `right` as a layer blob of `media_type`, written to the
    /// content store under `lease` (containerd mounts both read-only to compare them).
    pub async fn diff_mounts(
        &self,
        lease: &Lease,
        left: Vec<Mount>,
        right: Vec<Mount>,
        media_type: &str,
    ) -> Result<Descriptor> {
        let mut req = self.leased(
            DiffRequest {
                left,
                right,
                media_type: media_type.to_string(),
                r#ref: format!("berth-diff-{:016x}", rand::random::<u64>()),
                labels: HashMap::new(),
                source_date_epoch: None,
            },
            Some(lease),
        );
        req.set_timeout(std::time::Duration::from_secs(600));
        DiffClient::new(self.channel.clone())
            .diff(req)
            .await
            .map_err(classify)?
            .into_inner()
            .diff
            .ok_or_else(|| crate::Error::internal("containerd returned no diff"))
    }

    /// Applies a layer blob onto the mounts; returns the digest of the uncompressed diff.
    pub async fn apply_layer(&self, layer: Descriptor, mounts: Vec<Mount>) -> Result<String> {
        let mut req = self.request(ApplyRequest {
            diff: Some(layer),
            mounts,
            payloads: HashMap::new(),
            sync_fs: false,
        });
        // Unpacking a large layer takes longer than a query.
        req.set_timeout(std::time::Duration::from_secs(600));
        let applied = DiffClient::new(self.channel.clone())
            .apply(req)
            .await
            .map_err(classify)?
            .into_inner()
            .applied;
        Ok(applied.map(|d| d.digest).unwrap_or_default())
    }
}

/// The snapshot's own directory in its mounts: the upper directory of an overlay (or, for a
/// read-only view, its topmost lower directory), or the source of a bind mount.
fn own_dir_of(mounts: &[Mount], view: bool) -> Option<std::path::PathBuf> {
    let m = mounts.first()?;
    if m.r#type == "bind" {
        return Some(m.source.clone().into());
    }
    let option = |name: &str| {
        m.options
            .iter()
            .find_map(|o| o.strip_prefix(name).map(str::to_string))
    };
    if view {
        option("lowerdir=").and_then(|l| l.split(':').next().map(Into::into))
    } else {
        option("upperdir=").map(Into::into)
    }
}
