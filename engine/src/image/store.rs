//! The image store, which *is* containerd's: image records name manifests in the content
//! store, layers are unpacked into overlayfs snapshots keyed by chain ID, and everything
//! written carries containerd's GC labels so a garbage collection never takes what an image
//! uses. Image IDs are config digests, as `docker images` shows them.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use containerd_client::types::Descriptor;
use serde::Deserialize;

use super::archive::{self, ArchiveImage};
use super::reference::Reference;
use super::registry::RegistryPolicy;
use crate::events::{Event, EventBus};
use crate::runtime::Containerd;
use crate::runtime::content::{BlobPiece, Lease};
use crate::runtime::snapshots::SNAPSHOTTER;
use crate::{Error, Result};

/// containerd image records for images that lost their last name keep this prefix, so their
/// content is not collected while something may still use them (moby's convention).
pub const DANGLING_PREFIX: &str = "moby-dangling@";

/// What an image record points at, resolved to this platform's manifest and config.
#[derive(Clone, Debug)]
pub struct ResolvedImage {
    /// The config digest: the image ID.
    pub id: String,
    /// The record's target (manifest or index) digest.
    pub target_digest: String,
    pub target: Descriptor,
    pub manifest_digest: String,
    pub config: ImageConfig,
    pub config_bytes: Vec<u8>,
    pub layers: Vec<Descriptor>,
    pub chain_ids: Vec<String>,
    /// The image this one was made from by commit or a build step (empty when none), as
    /// dockerd records it.
    pub parent: String,
}

/// Label on an image's config blob naming its parent image.
const PARENT_LABEL: &str = "berth.parent";

/// The parts of an OCI/Docker image config Berth uses; the raw bytes are kept alongside.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, rename = "os.version")]
    pub os_version: Option<String>,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub docker_version: Option<String>,
    #[serde(default)]
    pub config: Option<serde_json::Value>,
    #[serde(default)]
    pub rootfs: RootFs,
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RootFs {
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct HistoryEntry {
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub empty_layer: bool,
}

/// One image as listed: its ID and every name pointing at it.
#[derive(Clone, Debug)]
pub struct ImageEntry {
    pub resolved: ResolvedImage,
    /// Full names (`docker.io/library/busybox:latest`) of the records pointing at it.
    pub names: Vec<String>,
    pub created_unix: i64,
    pub size: i64,
    pub labels: BTreeMap<String, String>,
}

/// The repository of a full reference: the name without its `:tag` or `@digest`.
fn repository_of(full: &str) -> &str {
    if let Some((name, _)) = full.split_once('@') {
        return name;
    }
    match full.rfind(':') {
        Some(i) if i > full.rfind('/').unwrap_or(0) => &full[..i],
        _ => full,
    }
}

/// moby's `isSingleReference`: the references are of one repository with at most one tag
/// (removing that tag would leave the image without a name).
fn is_single_reference(references: &[String]) -> bool {
    if references.len() <= 1 {
        return references.len() == 1;
    }
    let mut tags = references.iter().filter(|r| !r.contains('@'));
    let single = match (tags.next(), tags.next()) {
        (_, Some(_)) => return false,
        (Some(tag), None) => tag,
        (None, None) => &references[0],
    };
    let digest_repos: std::collections::BTreeSet<&str> = references
        .iter()
        .filter(|r| r.contains('@'))
        .map(|r| repository_of(r))
        .collect();
    digest_repos.len() == 1 && digest_repos.contains(repository_of(single))
}

/// `chain[0] = diff[0]`, `chain[i] = sha256(chain[i-1] + " " + diff[i])`.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => format!(
                "sha256:{}",
                archive::sha256_hex(format!("{prev} {d}").as_bytes())
            ),
        };
        out.push(next);
    }
    out
}

pub struct ImageStore {
    containerd: Containerd,
    events: Arc<EventBus>,
    /// Resolutions by target digest: manifests and configs are immutable.
    resolved: Mutex<HashMap<String, ResolvedImage>>,
    /// Unpacked sizes by chain ID.
    sizes: Mutex<HashMap<String, i64>>,
    /// The last listing, with the containerd client's image generation it was made under
    /// (see [`Containerd::image_generation`]): good until the records may have changed.
    listing: Mutex<Option<(u64, Arc<Vec<ImageEntry>>)>>,
    /// Image record targets by full reference, as Images.Get answered them, with the
    /// generation they were learnt under (a new generation starts the map over).
    targets: Mutex<(u64, HashMap<String, Descriptor>)>,
    scratch: std::path::PathBuf,
    pub(crate) registries: RegistryPolicy,
}

fn descriptor(media_type: &str, digest: &str, size: i64) -> Descriptor {
    Descriptor {
        media_type: media_type.to_string(),
        digest: digest.to_string(),
        size,
        annotations: HashMap::new(),
    }
}

#[derive(Deserialize)]
struct ManifestDoc {
    #[serde(default)]
    manifests: Option<Vec<IndexEntry>>,
    #[serde(default)]
    config: Option<DescriptorDoc>,
    #[serde(default)]
    layers: Vec<DescriptorDoc>,
}

#[derive(Deserialize)]
struct IndexEntry {
    digest: String,
    #[serde(default)]
    platform: Option<serde_json::Value>,
    #[serde(default)]
    annotations: HashMap<String, String>,
}

#[derive(Deserialize)]
struct DescriptorDoc {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: i64,
    #[serde(default)]
    annotations: HashMap<String, String>,
}

use super::archive::{ATTESTATION_MANIFEST, REFERENCE_DIGEST, REFERENCE_TYPE};
/// The annotation naming an attestation layer's in-toto predicate type.
const PREDICATE_TYPE: &str = "in-toto.io/predicate-type";

/// One in-toto statement attached to an image (`GET /images/{name}/attestations`).
#[derive(Clone, Debug)]
pub struct Attestation {
    /// The statement layer.
    pub descriptor: Descriptor,
    pub predicate_type: String,
    /// The statement itself, when asked for.
    pub statement: Option<serde_json::Value>,
}

/// One step of an image's history (`docker history`).
#[derive(Clone, Debug)]
pub struct HistoryStep {
    /// Unix seconds.
    pub created: i64,
    pub created_by: String,
    pub comment: String,
    /// Bytes of the layer the step made.
    pub size: i64,
    /// The image's ID and tags, on the newest step only.
    pub image: Option<(String, Vec<String>)>,
}

/// Parses an RFC 3339 time into unix seconds (0 when absent or unparsable).
pub fn unix_seconds(rfc3339: Option<&str>) -> i64 {
    rfc3339
        .and_then(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
        })
        .map_or(0, |t| t.unix_timestamp())
}

impl ImageStore {
    pub fn new(
        containerd: Containerd,
        events: Arc<EventBus>,
        data_root: &Path,
        registries: RegistryPolicy,
    ) -> Self {
        ImageStore {
            containerd,
            registries,
            events,
            resolved: Mutex::new(HashMap::new()),
            listing: Mutex::new(None),
            targets: Mutex::new((0, HashMap::new())),
            sizes: Mutex::new(HashMap::new()),
            scratch: data_root.join("tmp"),
        }
    }

    /// The insecure-registry settings pulls, pushes and logins follow.
    pub fn registries(&self) -> &RegistryPolicy {
        &self.registries
    }

    pub fn scratch_dir(&self) -> &Path {
        &self.scratch
    }

    /// Follows a record's target to this platform's manifest and its config.
    pub async fn resolve(&self, target: &Descriptor) -> Result<ResolvedImage> {
        if let Some(r) = self
            .resolved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&target.digest)
        {
            return Ok(r.clone());
        }
        let mut manifest_digest = target.digest.clone();
        let mut bytes = self.containerd.read_blob(&manifest_digest).await?;
        let mut doc: ManifestDoc = serde_json::from_slice(&bytes)
            .map_err(|e| Error::internal(format!("invalid manifest {manifest_digest}: {e}")))?;
        if let Some(list) = &doc.manifests {
            let want = archive::host_arch();
            let chosen = list
                .iter()
                .find(|m| archive::platform_is_host(m.platform.as_ref()))
                .or_else(|| (list.len() == 1).then(|| &list[0]))
                .ok_or_else(|| {
                    Error::not_found(format!("no matching manifest for linux/{want}"))
                })?;
            manifest_digest = chosen.digest.clone();
            bytes = self.containerd.read_blob(&manifest_digest).await?;
            doc = serde_json::from_slice(&bytes)
                .map_err(|e| Error::internal(format!("invalid manifest {manifest_digest}: {e}")))?;
        }
        let config_desc = doc
            .config
            .ok_or_else(|| Error::internal(format!("manifest {manifest_digest} has no config")))?;
        let config_bytes = self.containerd.read_blob(&config_desc.digest).await?;
        let parent = self
            .containerd
            .content_info(&config_desc.digest)
            .await?
            .and_then(|i| i.labels.get(PARENT_LABEL).cloned())
            .unwrap_or_default();
        let config: ImageConfig = serde_json::from_slice(&config_bytes).map_err(|e| {
            Error::internal(format!("invalid image config {}: {e}", config_desc.digest))
        })?;
        let resolved = ResolvedImage {
            id: config_desc.digest.clone(),
            target_digest: target.digest.clone(),
            target: target.clone(),
            manifest_digest,
            chain_ids: chain_ids(&config.rootfs.diff_ids),
            config,
            config_bytes,
            parent,
            layers: doc
                .layers
                .iter()
                .map(|l| descriptor(&l.media_type, &l.digest, l.size))
                .collect(),
        };
        self.resolved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(target.digest.clone(), resolved.clone());
        Ok(resolved)
    }

    /// The in-toto statements of `name`'s host-platform manifest: the layers of the
    /// attestation manifests its index lists for that manifest, of the predicate types
    /// asked for (all when none). An image without an index, or whose index has no
    /// attestation manifest, has none.
    pub async fn attestations(
        &self,
        name: &str,
        predicate_types: &[String],
        with_statements: bool,
    ) -> Result<Vec<Attestation>> {
        // By reference, the record of that name: images of one ID may have other targets.
        let resolved = self.resolve_for_container(name).await?;
        let r = &resolved;
        if r.target_digest == r.manifest_digest {
            return Ok(vec![]);
        }
        let index_bytes = self.containerd.read_blob(&r.target_digest).await?;
        let index: ManifestDoc = serde_json::from_slice(&index_bytes)
            .map_err(|e| Error::internal(format!("invalid index {}: {e}", r.target_digest)))?;
        let mut out = Vec::new();
        for m in index.manifests.iter().flatten().filter(|m| {
            m.annotations.get(REFERENCE_TYPE).map(String::as_str) == Some(ATTESTATION_MANIFEST)
                && m.annotations.get(REFERENCE_DIGEST) == Some(&r.manifest_digest)
        }) {
            let bytes = self.containerd.read_blob(&m.digest).await?;
            let manifest: ManifestDoc = serde_json::from_slice(&bytes)
                .map_err(|e| Error::internal(format!("invalid manifest {}: {e}", m.digest)))?;
            for layer in manifest.layers {
                let predicate_type = layer
                    .annotations
                    .get(PREDICATE_TYPE)
                    .cloned()
                    .unwrap_or_default();
                if !predicate_types.is_empty() && !predicate_types.contains(&predicate_type) {
                    continue;
                }
                let statement = if with_statements {
                    let blob = self.containerd.read_blob(&layer.digest).await?;
                    Some(serde_json::from_slice(&blob).map_err(|e| {
                        Error::internal(format!("invalid statement {}: {e}", layer.digest))
                    })?)
                } else {
                    None
                };
                let mut descriptor = descriptor(&layer.media_type, &layer.digest, layer.size);
                descriptor.annotations = layer.annotations;
                out.push(Attestation {
                    descriptor,
                    predicate_type,
                    statement,
                });
            }
        }
        Ok(out)
    }

    /// Records `parent` as the parent of image `id`.
    pub async fn set_parent(&self, id: &str, parent: &str) -> Result<()> {
        self.containerd
            .label_blob(
                id,
                HashMap::from([(PARENT_LABEL.to_string(), parent.to_string())]),
            )
            .await?;
        let mut cache = self.resolved.lock().unwrap_or_else(|p| p.into_inner());
        for r in cache.values_mut().filter(|r| r.id == id) {
            r.parent = parent.to_string();
        }
        Ok(())
    }

    /// Every image, grouped by ID, with all its names; the last listing while no image
    /// record may have changed since.
    pub async fn list(&self) -> Result<Arc<Vec<ImageEntry>>> {
        let generation = self.containerd.image_generation();
        if let Some((made_under, listing)) =
            &*self.listing.lock().unwrap_or_else(|p| p.into_inner())
            && *made_under == generation
        {
            return Ok(listing.clone());
        }
        let listing = Arc::new(self.list_from_containerd().await?);
        *self.listing.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((generation, listing.clone()));
        Ok(listing)
    }

    async fn list_from_containerd(&self) -> Result<Vec<ImageEntry>> {
        let records = self.containerd.list_images().await?;
        let mut by_id: BTreeMap<String, ImageEntry> = BTreeMap::new();
        for record in records {
            let Some(target) = record.target.clone() else {
                continue;
            };
            let resolved = match self.resolve(&target).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(image = %record.name, "skipping unresolvable image: {}", e.message);
                    continue;
                }
            };
            let entry = match by_id.get_mut(&resolved.id) {
                Some(e) => e,
                None => {
                    let size = self.unpacked_size(&resolved.chain_ids).await;
                    let created_unix = unix_seconds(resolved.config.created.as_deref());
                    let labels = resolved
                        .config
                        .config
                        .as_ref()
                        .and_then(|c| c.get("Labels"))
                        .and_then(|l| serde_json::from_value(l.clone()).ok())
                        .unwrap_or_default();
                    by_id.entry(resolved.id.clone()).or_insert(ImageEntry {
                        resolved,
                        names: vec![],
                        created_unix,
                        size,
                        labels,
                    })
                }
            };
            entry.names.push(record.name);
        }
        Ok(by_id.into_values().collect())
    }

    async fn unpacked_size(&self, chain: &[String]) -> i64 {
        self.layer_sizes(chain).await.iter().sum()
    }

    /// Unpacked size of each layer of a chain, cached by chain ID.
    pub async fn layer_sizes(&self, chain: &[String]) -> Vec<i64> {
        let mut sizes = Vec::with_capacity(chain.len());
        for id in chain {
            let cached = self
                .sizes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(id)
                .copied();
            let size = match cached {
                Some(s) => s,
                None => {
                    let s = crate::disk_usage::snapshot_size(&self.containerd, id, true).await;
                    self.sizes
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(id.clone(), s);
                    s
                }
            };
            sizes.push(size);
        }
        sizes
    }

    /// `docker history`: the image's steps, newest first, each with the size of the layer it
    /// made (0 for a step that made none). An image without history gets one step per
    /// layer, as moby synthesises them; the newest step carries the image's ID and tags.
    pub async fn history(&self, name: &str) -> Result<Vec<HistoryStep>> {
        let e = self.find(name).await?;
        let c = &e.resolved.config;
        let mut sizes = self.layer_sizes(&e.resolved.chain_ids).await.into_iter();
        let synthesised;
        let entries: &[HistoryEntry] = if c.history.is_empty() {
            synthesised = vec![HistoryEntry::default(); c.rootfs.diff_ids.len()];
            &synthesised
        } else {
            &c.history
        };
        let mut steps: Vec<HistoryStep> = entries
            .iter()
            .map(|h| HistoryStep {
                created: unix_seconds(h.created.as_deref()),
                created_by: h.created_by.clone().unwrap_or_default(),
                comment: h.comment.clone().unwrap_or_default(),
                size: match h.empty_layer {
                    true => 0,
                    false => sizes.next().unwrap_or(0),
                },
                image: None,
            })
            .collect();
        steps.reverse();
        if let Some(top) = steps.first_mut() {
            top.image = Some((e.resolved.id.clone(), e.repo_tags()));
        }
        Ok(steps)
    }

    /// Finds an image by name, full or short ID (with or without `sha256:`), or ID prefix.
    /// The error is moby's `No such image: <familiar name>`.
    pub async fn find(&self, name: &str) -> Result<ImageEntry> {
        let not_found = || {
            let shown = Reference::parse_normalized(name)
                .map(|r| r.with_default_tag().familiar())
                .unwrap_or_else(|_| name.to_string());
            Error::not_found(format!("No such image: {shown}"))
        };
        if name.is_empty() {
            return Err(not_found());
        }
        let images = self.list().await?;
        // A reference first: `busybox` means docker.io/library/busybox:latest.
        if let Ok(r) = Reference::parse_normalized(name) {
            let full = r.with_default_tag().full();
            if let Some(e) = images.iter().find(|e| e.names.contains(&full)) {
                return Ok(e.clone());
            }
        }
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        if !hex.is_empty()
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            let matches: Vec<&ImageEntry> = images
                .iter()
                .filter(|e| e.resolved.id["sha256:".len()..].starts_with(hex))
                .collect();
            match matches.len() {
                0 => {}
                1 => return Ok(matches[0].clone()),
                _ => {
                    return Err(Error::invalid(format!(
                        "multiple IDs found with provided prefix: {name}"
                    )));
                }
            }
        }
        Err(not_found())
    }

    /// What a container needs of its image: the image by reference (the common case,
    /// `busybox`) through its record's target, or by any other form through [`find`](Self::find).
    pub async fn resolve_for_container(&self, name: &str) -> Result<ResolvedImage> {
        if let Ok(r) = Reference::parse_normalized(name)
            && let Some(target) = self.target_of(&r.with_default_tag().full()).await?
        {
            return self.resolve(&target).await;
        }
        Ok(self.find(name).await?.resolved)
    }

    /// The target of the image record named `full`, remembered while no image record may
    /// have changed: a run of creates from one image asks containerd once.
    async fn target_of(&self, full: &str) -> Result<Option<Descriptor>> {
        let generation = self.containerd.image_generation();
        {
            let mut known = self.targets.lock().unwrap_or_else(|p| p.into_inner());
            if known.0 != generation {
                *known = (generation, HashMap::new());
            }
            if let Some(target) = known.1.get(full) {
                return Ok(Some(target.clone()));
            }
        }
        let Some(target) = self
            .containerd
            .get_image(full)
            .await?
            .and_then(|r| r.target)
        else {
            return Ok(None);
        };
        let mut known = self.targets.lock().unwrap_or_else(|p| p.into_inner());
        // Learnt under `generation`: kept only if no change was noted meanwhile.
        if known.0 == generation {
            known.1.insert(full.to_string(), target.clone());
        }
        Ok(Some(target))
    }

    /// Loads every image of an unpacked archive, under `lease` (which holds the blobs that
    /// went straight to the content store); returns the `docker load` lines.
    async fn load_unpacked(
        &self,
        lease: &Lease,
        dir: &Path,
        files: archive::Digests,
    ) -> Result<Vec<String>> {
        let dir_owned = dir.to_path_buf();
        let containerd = self.containerd.clone();
        let handle = tokio::runtime::Handle::current();
        let images = tokio::task::spawn_blocking(move || {
            let fetch = |digest: &str| handle.block_on(containerd.read_blob(digest));
            archive::read_images(&archive::Unpacked {
                dir: &dir_owned,
                files: &files,
                fetch: &fetch,
            })
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))??;
        let mut lines = Vec::new();
        for image in images {
            let tags: Vec<Reference> = image
                .tags
                .iter()
                .map(|t| {
                    Reference::parse_normalized(t)
                        .map(Reference::with_default_tag)
                        .map_err(|e| Error::invalid(format!("invalid tag {t} in archive: {e}")))
                })
                .collect::<Result<_>>()?;
            let names: Vec<String> = tags.iter().map(Reference::full).collect();
            self.store_image_named(lease, &image, &names).await?;
            if tags.is_empty() {
                lines.push(format!("Loaded image ID: {}", image.config.digest));
            }
            for tag in tags {
                lines.push(format!("Loaded image: {}", tag.familiar()));
            }
        }
        Ok(lines)
    }

    /// Points `name` at `target`; an image that loses its last name this way is kept as
    /// dangling.
    pub async fn name_image(&self, name: &str, target: Descriptor) -> Result<()> {
        if let Some(old) = self.containerd.get_image(name).await?
            && let Some(old_target) = old.target
            && old_target.digest != target.digest
        {
            self.keep_if_last_name(name, old_target).await?;
        }
        self.containerd
            .put_image(None, name, target.clone(), HashMap::new())
            .await?;
        // The image has a real name now; its dangling record (if any) is no longer needed.
        if !name.starts_with(DANGLING_PREFIX) {
            self.containerd
                .delete_image(&format!("{DANGLING_PREFIX}{}", target.digest))
                .await?;
        }
        Ok(())
    }

    async fn keep_if_last_name(&self, name: &str, target: Descriptor) -> Result<()> {
        let others = self
            .containerd
            .list_images()
            .await?
            .into_iter()
            .filter(|r| {
                r.name != name && r.target.as_ref().is_some_and(|t| t.digest == target.digest)
            })
            .count();
        if others == 0 {
            self.containerd
                .put_image(
                    None,
                    &format!("{DANGLING_PREFIX}{}", target.digest),
                    target,
                    HashMap::new(),
                )
                .await?;
        }
        Ok(())
    }

    /// Writes an archive image's blobs (with GC labels) and unpacks its layers, all under one
    /// lease; returns the manifest descriptor to name it by.
    /// Stores the image and gives it `names` (or a dangling record when there are none)
    /// while the lease still protects what was written: the GC may run the moment the lease
    /// goes, and only named content survives it.
    async fn store_image(&self, image: &ArchiveImage, names: &[String]) -> Result<Descriptor> {
        let lease = self.containerd.create_lease("load").await?;
        let r = self.store_image_named(&lease, image, names).await;
        self.containerd.delete_lease(&lease).await;
        r
    }

    async fn store_image_named(
        &self,
        lease: &Lease,
        image: &ArchiveImage,
        names: &[String],
    ) -> Result<Descriptor> {
        let target = self.store_image_leased(lease, image).await?;
        if names.is_empty() {
            self.name_image(
                &format!("{DANGLING_PREFIX}{}", target.digest),
                target.clone(),
            )
            .await?;
        }
        for name in names {
            self.name_image(name, target.clone()).await?;
        }
        Ok(target)
    }

    async fn store_image_leased(&self, lease: &Lease, image: &ArchiveImage) -> Result<Descriptor> {
        let chain = chain_ids(&image.diff_ids);
        for (layer, diff_id) in image.layers.iter().zip(&image.diff_ids) {
            if layer.path.as_os_str().is_empty() {
                // Already in the content store (a pull found it there).
                continue;
            }
            let labels =
                HashMap::from([("containerd.io/uncompressed".to_string(), diff_id.clone())]);
            let file = tokio::fs::File::open(&layer.path).await?;
            self.containerd
                .write_blob_from(
                    lease,
                    &layer.digest,
                    layer.size,
                    tokio::io::BufReader::new(file),
                    labels,
                )
                .await?;
        }
        self.unpack(lease, &image.layers, &image.diff_ids).await?;
        let mut config_labels = HashMap::new();
        if let Some(top) = chain.last() {
            config_labels.insert(
                format!("containerd.io/gc.ref.snapshot.{SNAPSHOTTER}"),
                top.clone(),
            );
        }
        let config_bytes = tokio::fs::read(&image.config.path).await?;
        self.containerd
            .write_blob(lease, &image.config.digest, &config_bytes, config_labels)
            .await?;
        let manifest_digest = format!("sha256:{}", archive::sha256_hex(&image.manifest));
        let mut manifest_labels = HashMap::from([(
            "containerd.io/gc.ref.content.config".to_string(),
            image.config.digest.clone(),
        )]);
        for (i, l) in image.layers.iter().enumerate() {
            manifest_labels.insert(
                format!("containerd.io/gc.ref.content.l.{i}"),
                l.digest.clone(),
            );
        }
        self.containerd
            .write_blob(lease, &manifest_digest, &image.manifest, manifest_labels)
            .await?;
        let Some(index) = &image.index else {
            return Ok(descriptor(
                &image.manifest_media_type,
                &manifest_digest,
                image.manifest.len() as i64,
            ));
        };
        for (digest, bytes, labels) in &index.blobs {
            self.containerd
                .write_blob(lease, digest, bytes, labels.clone())
                .await?;
        }
        let index_digest = format!("sha256:{}", archive::sha256_hex(&index.bytes));
        let index_labels = index
            .children
            .iter()
            .enumerate()
            .map(|(i, d)| (format!("containerd.io/gc.ref.content.m.{i}"), d.clone()))
            .collect();
        self.containerd
            .write_blob(lease, &index_digest, &index.bytes, index_labels)
            .await?;
        Ok(descriptor(
            &index.media_type,
            &index_digest,
            index.bytes.len() as i64,
        ))
    }

    /// Applies layers onto snapshots keyed by chain ID, skipping those already unpacked.
    async fn unpack(
        &self,
        lease: &Lease,
        layers: &[archive::Blob],
        diff_ids: &[String],
    ) -> Result<()> {
        let chain = chain_ids(diff_ids);
        for (i, layer) in layers.iter().enumerate() {
            if self.containerd.snapshot_exists(&chain[i]).await? {
                continue;
            }
            let parent = if i == 0 { "" } else { chain[i - 1].as_str() };
            let key = format!("extract-{:08x}-{}", rand::random::<u32>(), chain[i]);
            let mounts = self
                .containerd
                .prepare_snapshot(lease, &key, parent, HashMap::new())
                .await?;
            let applied = self
                .containerd
                .apply_layer(
                    descriptor(&layer.media_type, &layer.digest, layer.size),
                    mounts,
                )
                .await;
            let result = match applied {
                Ok(d) if d == diff_ids[i] => {
                    self.containerd
                        .commit_snapshot(lease, &chain[i], &key, HashMap::new())
                        .await
                }
                Ok(d) => Err(Error::invalid(format!(
                    "layer {} unpacked to {d}, expected {}",
                    layer.digest, diff_ids[i]
                ))),
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                let _ = self.containerd.remove_snapshot(&key).await;
                // Another load may have committed the same chain ID meanwhile.
                if e.kind == crate::ErrorKind::Conflict {
                    continue;
                }
                return Err(e);
            }
        }
        Ok(())
    }
}

/// One line of `DELETE /images/{name}`'s answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemovedImage {
    Untagged(String),
    Deleted(String),
}

/// The 12-hex short form of an ID.
pub fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

/// A full name as users see it: `busybox:latest`, `localhost:5000/x@sha256:...`.
pub fn familiar(full_name: &str) -> String {
    Reference::parse_normalized(full_name)
        .map(|r| r.familiar())
        .unwrap_or_else(|_| full_name.to_string())
}

impl ImageEntry {
    /// Names that are real references (not the dangling placeholder).
    pub fn references(&self) -> impl Iterator<Item = &String> {
        self.names
            .iter()
            .filter(|n| !n.starts_with(DANGLING_PREFIX))
    }
}

impl ImageStore {
    /// Image events as dockerd sends them: `name` is the reference for `tag`, the image ID
    /// otherwise, plus the image's labels.
    fn event(&self, action: &str, id: &str, name: Option<String>) {
        self.event_labelled(action, id, name, &BTreeMap::new());
    }

    fn event_labelled(
        &self,
        action: &str,
        id: &str,
        name: Option<String>,
        labels: &BTreeMap<String, String>,
    ) {
        let mut attributes = labels.clone();
        attributes.insert("name".to_string(), name.unwrap_or_else(|| id.to_string()));
        self.events
            .publish(Event::new("image", action, id.to_string(), attributes));
    }

    async fn load_events(&self, lines: &[String]) {
        for line in lines {
            let name = line
                .strip_prefix("Loaded image: ")
                .or_else(|| line.strip_prefix("Loaded image ID: "))
                .unwrap_or_default();
            if let Ok(e) = self.find(name).await {
                self.event_labelled("load", &e.resolved.id, None, &e.labels);
            }
        }
    }

    /// `docker load` from a stream, read as it arrives: layers go straight into the content
    /// store, the small files (manifests, configs) into scratch space.
    pub async fn load_reader(
        &self,
        reader: impl std::io::Read + Send + 'static,
    ) -> Result<Vec<String>> {
        let dir = self
            .scratch
            .join(format!("load-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir)?;
        let lease = self.containerd.create_lease("load").await?;
        crate::system::crash_point("load:leased");
        let dir_owned = dir.clone();
        let mut sink = LeasedSink {
            containerd: self.containerd.clone(),
            lease: lease.clone(),
            handle: tokio::runtime::Handle::current(),
            current: None,
        };
        let unpacked = tokio::task::spawn_blocking(move || {
            archive::unpack_reader(reader, &dir_owned, Some(&mut sink))
        })
        .await
        .map_err(|e| Error::internal(e.to_string()));
        let result = match unpacked {
            Ok(Ok(files)) => self.load_unpacked(&lease, &dir, files).await,
            Ok(Err(e)) | Err(e) => Err(e),
        };
        self.containerd.delete_lease(&lease).await;
        let _ = tokio::fs::remove_dir_all(&dir).await;
        let lines = result?;
        self.load_events(&lines).await;
        Ok(lines)
    }

    /// `docker tag SOURCE REPO[:TAG]`.
    pub async fn tag(&self, source: &str, repo: &str, tag: &str) -> Result<()> {
        let entry = self.find(source).await?;
        // The repository and the tag are checked apart, so a bad tag gets "invalid tag format".
        let mut reference = Reference::parse_normalized(repo).map_err(Error::from)?;
        if !tag.is_empty() {
            reference = reference.with_tag(tag).map_err(Error::from)?;
        }
        if reference.digest().is_some() {
            return Err(Error::invalid(
                "refusing to create a tag with a digest reference",
            ));
        }
        let reference = reference.with_default_tag();
        self.name_image(&reference.full(), entry.resolved.target.clone())
            .await?;
        self.event_labelled(
            "tag",
            &entry.resolved.id,
            Some(reference.familiar()),
            &entry.labels,
        );
        Ok(())
    }

    /// `docker rmi`: untags a reference, or deletes an image by ID; the image itself goes
    /// when its last name does. `in_use` names a container using the image, and whether it
    /// is running.
    pub async fn remove(
        &self,
        name: &str,
        force: bool,
        in_use: Option<(String, bool)>,
    ) -> Result<Vec<RemovedImage>> {
        let entry = self.find(name).await?;
        let id = entry.resolved.id.clone();
        let by_reference = Reference::parse_normalized(name)
            .ok()
            .map(|r| r.with_default_tag().full())
            .filter(|full| entry.names.contains(full));
        let references: Vec<String> = entry.references().cloned().collect();
        let mut out = Vec::new();
        if let Some(full) = by_reference {
            let last = is_single_reference(&references);
            if last
                && !force
                && let Some((container, _)) = &in_use
            {
                return Err(Error::conflict(format!(
                    "conflict: unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {}",
                    short_id(container),
                    short_id(&id)
                )));
            }
            self.containerd.delete_image(&full).await?;
            out.push(RemovedImage::Untagged(familiar(&full)));
            self.event_labelled("untag", &id, None, &entry.labels);
            let mut remaining: Vec<String> =
                references.into_iter().filter(|r| *r != full).collect();
            // The repository's last tag gone, its digest references go with it (moby).
            let repo = repository_of(&full);
            if !full.contains('@')
                && !remaining
                    .iter()
                    .any(|r| !r.contains('@') && repository_of(r) == repo)
            {
                let (digests, others): (Vec<String>, Vec<String>) = remaining
                    .into_iter()
                    .partition(|r| r.contains('@') && repository_of(r) == repo);
                for d in &digests {
                    self.containerd.delete_image(d).await?;
                    out.push(RemovedImage::Untagged(familiar(d)));
                }
                remaining = others;
            }
            if !remaining.is_empty() {
                return Ok(out);
            }
            if in_use.is_some() {
                // Forced off its last name while a container uses it: keep it, dangling.
                self.containerd
                    .put_image(
                        None,
                        &format!("{DANGLING_PREFIX}{}", entry.resolved.target.digest),
                        entry.resolved.target.clone(),
                        HashMap::new(),
                    )
                    .await?;
                return Ok(out);
            }
        } else {
            if references.len() > 1 && !force {
                return Err(Error::conflict(format!(
                    "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                    short_id(&id)
                )));
            }
            match &in_use {
                Some((container, true)) => {
                    return Err(Error::conflict(format!(
                        "conflict: unable to delete {} (cannot be forced) - image is being used by running container {}",
                        short_id(&id),
                        short_id(container)
                    )));
                }
                Some((container, false)) if !force => {
                    return Err(Error::conflict(format!(
                        "conflict: unable to delete {} (must be forced) - image is being used by stopped container {}",
                        short_id(&id),
                        short_id(container)
                    )));
                }
                _ => {}
            }
            for full in &references {
                self.containerd.delete_image(full).await?;
                out.push(RemovedImage::Untagged(familiar(full)));
                self.event_labelled("untag", &id, None, &entry.labels);
            }
        }
        for dangling in entry
            .names
            .iter()
            .filter(|n| n.starts_with(DANGLING_PREFIX))
        {
            self.containerd.delete_image(dangling).await?;
        }
        self.collect_garbage().await;
        out.push(RemovedImage::Deleted(id.clone()));
        self.event("delete", &id, None);
        Ok(out)
    }

    /// Runs containerd's GC now, so deleted images free their space before we answer.
    async fn collect_garbage(&self) {
        if let Ok(lease) = self.containerd.create_lease("gc").await {
            self.containerd.delete_lease_sync(&lease).await;
        }
    }
}

impl ImageStore {
    pub(crate) async fn has_blob(&self, digest: &str) -> bool {
        self.containerd
            .content_info(digest)
            .await
            .ok()
            .flatten()
            .is_some()
    }

    /// Stores a pulled image and names it, like a loaded one.
    pub(crate) async fn store_pulled(&self, image: &ArchiveImage, names: &[String]) -> Result<()> {
        self.store_image(image, names).await.map(|_| ())
    }

    pub(crate) fn pushed_event(&self, id: &str, name: &str) {
        self.event("push", id, Some(name.to_string()));
    }

    pub(crate) async fn manifest_bytes(&self, digest: &str) -> Result<Vec<u8>> {
        self.containerd.read_blob(digest).await
    }

    pub(crate) async fn containerd_blob_stream(
        &self,
        digest: &str,
    ) -> Result<impl futures_util::Stream<Item = Result<Vec<u8>>> + Send + use<>> {
        self.containerd.read_blob_stream(digest).await
    }

    pub(crate) fn pulled_event(&self, id: &str, name: &str) {
        self.event("pull", id, Some(name.to_string()));
    }
}

impl ImageStore {
    /// `docker import`: a rootfs tarball (plain or gzip) becomes a one-layer image, with the
    /// `--change` instructions applied. Returns the image ID.
    pub async fn import_rootfs(
        &self,
        tarball: &Path,
        reference: Option<Reference>,
        message: &str,
        changes: &[String],
    ) -> Result<String> {
        let mut container_config = crate::container::spec::ContainerConfig::default();
        super::changes::apply(&mut container_config, changes)?;
        let path = tarball.to_path_buf();
        let archive::FileFacts {
            digest,
            size,
            gzip,
            uncompressed: diff_id,
            ..
        } = tokio::task::spawn_blocking(move || archive::file_facts(&path))
            .await
            .map_err(|e| Error::internal(e.to_string()))??;
        if diff_id.is_empty() {
            return Err(Error::invalid("corrupt gzip layer"));
        }
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let comment = if message.is_empty() {
            "Imported from -"
        } else {
            message
        };
        let config = super::document::ImageDocument {
            created: Some(now.clone()),
            comment: Some(comment.to_string()),
            config: container_config,
            rootfs: super::document::RootFs {
                kind: "layers".into(),
                diff_ids: vec![diff_id.clone()],
            },
            history: vec![super::document::History {
                created: Some(now),
                comment: Some(comment.to_string()),
                ..Default::default()
            }],
            ..super::document::ImageDocument::for_host()
        };
        let config_bytes = config.to_bytes()?;
        let config_digest = format!("sha256:{}", archive::sha256_hex(&config_bytes));
        let config_path = self
            .scratch
            .join(format!("import-{:016x}.json", rand::random::<u64>()));
        tokio::fs::write(&config_path, &config_bytes).await?;
        let layer = archive::Blob {
            media_type: if gzip {
                archive::MEDIA_DOCKER_LAYER_GZIP
            } else {
                archive::MEDIA_DOCKER_LAYER
            }
            .into(),
            digest,
            size,
            path: tarball.to_path_buf(),
        };
        let config_blob = archive::Blob {
            media_type: archive::MEDIA_DOCKER_CONFIG.into(),
            digest: config_digest.clone(),
            size: config_bytes.len() as i64,
            path: config_path.clone(),
        };
        let image = ArchiveImage {
            manifest: archive::build_docker_manifest(&config_blob, std::slice::from_ref(&layer)),
            manifest_media_type: archive::MEDIA_DOCKER_MANIFEST.into(),
            config: config_blob,
            layers: vec![layer],
            diff_ids: vec![diff_id],
            tags: vec![],
            index: None,
        };
        let names: Vec<String> = reference.iter().map(Reference::full).collect();
        let stored = self.store_image(&image, &names).await;
        let _ = tokio::fs::remove_file(&config_path).await;
        stored?;
        self.event("import", &config_digest, None);
        Ok(config_digest)
    }

    /// `docker save`: writes the images as a docker-archive (legacy layout, loadable by every
    /// dockerd and by berthd) into a scratch file and returns its path. The caller removes it.
    pub async fn save(&self, names: &[String]) -> Result<std::path::PathBuf> {
        let mut entries = Vec::new();
        for name in names {
            let entry = self.find(name).await?;
            // Naming an image by reference saves that tag; by ID, every tag it has.
            let tags = match Reference::parse_normalized(name) {
                Ok(r) if entry.names.contains(&r.clone().with_default_tag().full()) => {
                    vec![r.with_default_tag().familiar()]
                }
                _ => entry
                    .references()
                    .filter(|n| !n.contains('@'))
                    .map(|n| familiar(n))
                    .collect(),
            };
            entries.push((entry, tags));
        }
        let dir = self
            .scratch
            .join(format!("save-{:016x}", rand::random::<u64>()));
        tokio::fs::create_dir_all(&dir).await?;
        let result = self.save_into(&dir, entries).await;
        if result.is_err() {
            let _ = tokio::fs::remove_dir_all(&dir).await;
        }
        result
    }

    async fn save_into(
        &self,
        dir: &Path,
        entries: Vec<(ImageEntry, Vec<String>)>,
    ) -> Result<std::path::PathBuf> {
        use futures_util::StreamExt as _;
        use tokio::io::AsyncWriteExt as _;
        let mut plan = Vec::new();
        let mut blobs: HashMap<String, std::path::PathBuf> = HashMap::new();
        for (entry, tags) in entries {
            let r = &entry.resolved;
            let mut layers = Vec::new();
            for (layer, diff_id) in r.layers.iter().zip(&r.config.rootfs.diff_ids) {
                if !blobs.contains_key(&layer.digest) {
                    let path = dir.join(layer.digest.replace(':', "-"));
                    let mut file = tokio::fs::File::create(&path).await?;
                    let mut stream = self.containerd.read_blob_stream(&layer.digest).await?;
                    while let Some(chunk) = stream.next().await {
                        file.write_all(&chunk?).await?;
                    }
                    file.flush().await?;
                    blobs.insert(layer.digest.clone(), path);
                }
                layers.push((blobs[&layer.digest].clone(), diff_id.clone()));
            }
            plan.push(SaveImage {
                config_digest: r.id.clone(),
                config: r.config_bytes.clone(),
                layers,
                tags,
            });
        }
        let out = dir.join("archive.tar");
        let out_clone = out.clone();
        tokio::task::spawn_blocking(move || write_docker_archive(&out_clone, &plan))
            .await
            .map_err(|e| Error::internal(e.to_string()))??;
        for path in blobs.values() {
            let _ = tokio::fs::remove_file(path).await;
        }
        Ok(out)
    }
}

struct SaveImage {
    config_digest: String,
    config: Vec<u8>,
    /// (blob file, diff ID) per layer.
    layers: Vec<(std::path::PathBuf, String)>,
    tags: Vec<String>,
}

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// The docker-archive layout every loader reads: `manifest.json`, `<config>.json` and
/// `<diffid>/layer.tar` (uncompressed).
fn write_docker_archive(out: &Path, images: &[SaveImage]) -> Result<()> {
    use std::io::Write as _;
    let file = std::fs::File::create(out)?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    let mut written = std::collections::HashSet::new();
    let mut manifest = Vec::new();
    let append = |tar: &mut tar::Builder<_>, name: &str, data: &[u8]| -> Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, name, data)?;
        Ok(())
    };
    for img in images {
        let config_name = format!("{}.json", hex_of(&img.config_digest));
        if written.insert(config_name.clone()) {
            append(&mut tar, &config_name, &img.config)?;
        }
        let mut layer_names = Vec::new();
        for (blob, diff_id) in &img.layers {
            let name = format!("{}/layer.tar", hex_of(diff_id));
            if written.insert(name.clone()) {
                let plain = if archive::is_gzip(blob)? {
                    let plain = blob.with_extension("tar");
                    let mut r = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(
                        std::fs::File::open(blob)?,
                    ));
                    let mut w = std::io::BufWriter::new(std::fs::File::create(&plain)?);
                    std::io::copy(&mut r, &mut w)?;
                    w.flush()?;
                    plain
                } else {
                    blob.clone()
                };
                let mut h = tar::Header::new_gnu();
                h.set_size(std::fs::metadata(&plain)?.len());
                h.set_mode(0o644);
                h.set_mtime(0);
                h.set_entry_type(tar::EntryType::Regular);
                tar.append_data(&mut h, &name, std::fs::File::open(&plain)?)?;
                if plain != *blob {
                    let _ = std::fs::remove_file(&plain);
                }
            }
            layer_names.push(name);
        }
        manifest.push(serde_json::json!({
            "Config": config_name,
            "RepoTags": if img.tags.is_empty() { serde_json::Value::Null } else { serde_json::json!(img.tags) },
            "Layers": layer_names,
        }));
    }
    let manifest = serde_json::to_vec(&manifest).map_err(|e| Error::internal(e.to_string()))?;
    append(&mut tar, "manifest.json", &manifest)?;
    let mut w = tar.into_inner()?;
    w.flush()?;
    Ok(())
}

/// Sends an archive's large files into the content store under the load's lease, from the
/// blocking thread that reads the archive.
struct LeasedSink {
    containerd: Containerd,
    lease: Lease,
    handle: tokio::runtime::Handle,
    current: Option<(
        tokio::sync::mpsc::Sender<BlobPiece>,
        tokio::task::JoinHandle<Result<String>>,
    )>,
}

impl archive::ContentSink for LeasedSink {
    fn piece(&mut self, data: Vec<u8>) -> Result<()> {
        let (tx, _) = self.current.get_or_insert_with(|| {
            let (tx, rx) = tokio::sync::mpsc::channel(2);
            let containerd = self.containerd.clone();
            let lease = self.lease.clone();
            let write = self
                .handle
                .spawn(async move { containerd.write_blob_pieces(&lease, 0, rx).await });
            (tx, write)
        });
        if tx.blocking_send(BlobPiece::Data(data)).is_ok() {
            return Ok(());
        }
        // The writer stopped early: its error says why.
        let (_, write) = self.current.take().expect("a write in progress");
        Err(self
            .joined(write)
            .err()
            .unwrap_or_else(|| Error::internal("the content write ended before its data")))
    }

    fn end(&mut self, facts: &archive::FileFacts) -> Result<()> {
        if self.current.is_none() {
            // An empty file: open the write with nothing in it.
            self.piece(Vec::new())?;
        }
        let (tx, write) = self.current.take().expect("a write in progress");
        let mut labels = HashMap::new();
        if !facts.uncompressed.is_empty() {
            labels.insert(
                "containerd.io/uncompressed".to_string(),
                facts.uncompressed.clone(),
            );
        }
        let _ = tx.blocking_send(BlobPiece::End {
            digest: facts.digest.clone(),
            labels,
        });
        drop(tx);
        self.joined(write).map(|_| ())
    }

    fn abandon(&mut self) {
        if let Some((tx, write)) = self.current.take() {
            drop(tx);
            let _ = self.joined(write);
        }
    }
}

impl LeasedSink {
    fn joined(&self, write: tokio::task::JoinHandle<Result<String>>) -> Result<String> {
        self.handle
            .block_on(write)
            .map_err(|e| Error::internal(format!("content write: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_of_strips_tag_and_digest_but_not_a_port() {
        assert_eq!(
            repository_of("docker.io/library/busybox:latest"),
            "docker.io/library/busybox"
        );
        assert_eq!(
            repository_of("localhost:5000/a/b@sha256:00"),
            "localhost:5000/a/b"
        );
        assert_eq!(repository_of("localhost:5000/a/b"), "localhost:5000/a/b");
    }

    #[test]
    fn single_reference_is_one_tag_with_its_own_digests() {
        let refs = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(is_single_reference(&refs(&["r/a:1"])));
        assert!(is_single_reference(&refs(&["r/a:1", "r/a@sha256:00"])));
        assert!(!is_single_reference(&refs(&["r/a:1", "r/a:2"])));
        assert!(!is_single_reference(&refs(&["r/a:1", "r/b@sha256:00"])));
        assert!(!is_single_reference(&refs(&[])));
    }

    #[test]
    fn chain_ids_follow_the_oci_rule() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let chain = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(chain[0], a);
        assert_eq!(
            chain[1],
            format!(
                "sha256:{}",
                archive::sha256_hex(format!("{a} {b}").as_bytes())
            )
        );
    }

    #[test]
    fn unix_seconds_of_rfc3339() {
        assert_eq!(unix_seconds(Some("1970-01-01T00:01:00Z")), 60);
        assert_eq!(
            unix_seconds(Some("2024-01-01T00:00:00.123456789Z")),
            1704067200
        );
        assert_eq!(unix_seconds(None), 0);
    }
}
