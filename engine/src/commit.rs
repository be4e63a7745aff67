//! `docker commit`: a container's writable layer (its changes on top of the init layer)
//! becomes the top layer of a new image whose config is the container's.

use serde::Deserialize as _;
use serde_json::{Map, Value};

use crate::container::spec::ContainerConfig;
use crate::image::archive::{self, ArchiveImage, Blob};
use crate::image::document::{History, ImageDocument, RootFs};
use crate::image::reference::Reference;
use crate::{Engine, Error, Result};

/// `POST /commit`, decoded.
#[derive(Clone, Debug, Default)]
pub struct CommitRequest {
    pub container: String,
    pub repo: String,
    pub tag: String,
    pub comment: String,
    pub author: String,
    /// Freeze the container while its layer is read (the API's default).
    pub pause: bool,
    /// Dockerfile instructions applied to the config (`--change`).
    pub changes: Vec<String>,
    /// Config fields given in the request body, over the container's.
    pub config: Map<String, Value>,
}

impl Engine {
    /// Commits the container; returns the new image ID.
    pub async fn commit(&self, req: CommitRequest) -> Result<String> {
        let record = self.containers().get(&req.container)?;
        let name = self.commit_name(&req)?;
        let base = self.images().find(&record.image_id).await?.resolved;
        let mut pause =
            req.pause && record.state.status == crate::container::model::Status::Running;
        // A container seen running may have exited a moment ago (its exit event still on the
        // way): there is nothing to pause then, and the commit goes on as for a stopped one.
        if pause && let Err(e) = self.containers().pause(&record.id).await {
            tracing::debug!(container = %record.id, "commit without pausing: {}", e.message);
            pause = false;
        }
        let lease = self.containerd.create_lease("commit").await?;
        let layer = self.diff_container(&lease, &record.id).await;
        if pause && let Err(e) = self.containers().unpause(&record.id).await {
            tracing::warn!(container = %record.id, "cannot unpause after commit: {}", e.message);
        }
        let result = match layer {
            Ok(layer) => self.store_commit(&req, &record, &base, layer, name).await,
            Err(e) => Err(e),
        };
        self.containerd.delete_lease(&lease).await;
        let id = result?;
        self.containers().commit_event(&record, &req.comment, &id);
        Ok(id)
    }

    /// The name to give the image (`repo[:tag]`), or None for a dangling one.
    fn commit_name(&self, req: &CommitRequest) -> Result<Option<Reference>> {
        if req.repo.is_empty() {
            if !req.tag.is_empty() {
                return Err(Error::invalid("invalid reference format"));
            }
            return Ok(None);
        }
        let mut r = Reference::parse_normalized(&req.repo).map_err(Error::from)?;
        if !req.tag.is_empty() {
            r = r.with_tag(&req.tag).map_err(Error::from)?;
        }
        if r.digest().is_some() {
            return Err(Error::invalid(
                "refusing to create a tag with a digest reference",
            ));
        }
        Ok(Some(r.with_default_tag()))
    }

    /// The container's own changes as an uncompressed layer blob (under `lease`): its
    /// snapshot compared with the snapshot below it.
    pub(crate) async fn diff_container(
        &self,
        lease: &crate::runtime::content::Lease,
        id: &str,
    ) -> Result<containerd_client::types::Descriptor> {
        // The layer below the writable one: the init layer (or, for containers made before
        // init layers, the image itself).
        let below = self.containerd.snapshot_parent(id).await?;
        let view = format!("commit-{:016x}", rand::random::<u64>());
        let left = if below.is_empty() {
            vec![]
        } else {
            self.containerd.view_snapshot(lease, &view, &below).await?
        };
        let right = self.containerd.snapshot_mounts(id).await?;
        let diff = self
            .containerd
            .diff_mounts(lease, left, right, archive::MEDIA_OCI_LAYER)
            .await;
        if !below.is_empty() {
            let _ = self.containerd.remove_snapshot(&view).await;
        }
        diff
    }

    async fn store_commit(
        &self,
        req: &CommitRequest,
        record: &crate::container::model::ContainerRecord,
        base: &crate::image::store::ResolvedImage,
        layer: containerd_client::types::Descriptor,
        name: Option<Reference>,
    ) -> Result<String> {
        let now = crate::container::logs::now_rfc3339_nano();
        let mut container_config = record.config.clone();
        // The body's fields that are not Go's zero value replace the container's.
        let given: Map<String, Value> = req
            .config
            .iter()
            .filter(|(_, v)| {
                !(v.is_null()
                    || v.as_str().is_some_and(str::is_empty)
                    || v.as_array().is_some_and(Vec::is_empty)
                    || v.as_object().is_some_and(Map::is_empty))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let given = ContainerConfig::deserialize(Value::Object(given))
            .map_err(|e| Error::invalid(format!("invalid config: {e}")))?;
        container_config.overlay(given);
        crate::image::changes::apply(&mut container_config, &req.changes)?;
        let mut config = ImageDocument::parse(&base.config_bytes)?;
        let created_by = std::iter::once(record.path.clone())
            .chain(record.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        if let Some(author) = non_empty(&req.author) {
            config.author = Some(author);
        }
        config.comment = non_empty(&req.comment);
        config.created = Some(now.clone());
        config.history.push(History {
            created: Some(now),
            created_by: Some(created_by),
            author: non_empty(&req.author),
            comment: non_empty(&req.comment),
            empty_layer: false,
        });
        // The fields docker 20.10 writes for a committed image (shown below API 1.45).
        config
            .other
            .insert("container".into(), Value::from(record.id.clone()));
        config.other.insert(
            "container_config".into(),
            serde_json::to_value(&container_config).unwrap_or_default(),
        );
        config.config = container_config;
        let names: Vec<String> = name.iter().map(Reference::full).collect();
        self.store_derived(base, config, Some(&layer), &names).await
    }

    /// Stores an image made from `base`: `config` (the whole image config, history
    /// included) with `base`'s layers and `layer` on top (when there is one). Returns the
    /// new image ID; `names` are given to it (none: it is dangling).
    pub(crate) async fn store_derived(
        &self,
        base: &crate::image::store::ResolvedImage,
        config: ImageDocument,
        layer: Option<&containerd_client::types::Descriptor>,
        names: &[String],
    ) -> Result<String> {
        let id = self
            .store_layered(
                &base.layers,
                base.config.rootfs.diff_ids.clone(),
                config,
                layer,
                names,
            )
            .await?;
        self.images().set_parent(&id, &base.id).await?;
        Ok(id)
    }

    /// Stores an image of `layers` (whose diff IDs are `diff_ids`), `layer` on top when
    /// there is one, and `config`; none at all makes an empty (scratch) image.
    pub(crate) async fn store_layered(
        &self,
        base_layers: &[containerd_client::types::Descriptor],
        mut diff_ids: Vec<String>,
        mut config: ImageDocument,
        layer: Option<&containerd_client::types::Descriptor>,
        names: &[String],
    ) -> Result<String> {
        if let Some(layer) = layer {
            diff_ids.push(layer.digest.clone());
        }
        config.rootfs = RootFs {
            kind: "layers".into(),
            diff_ids: diff_ids.clone(),
        };
        let config_bytes = config.to_bytes()?;
        let config_digest = format!("sha256:{}", archive::sha256_hex(&config_bytes));
        let config_path = self
            .images()
            .scratch_dir()
            .join(format!("commit-{:016x}.json", rand::random::<u64>()));
        tokio::fs::write(&config_path, &config_bytes).await?;
        let in_store = |d: &containerd_client::types::Descriptor| Blob {
            media_type: docker_layer_type(&d.media_type).to_string(),
            digest: d.digest.clone(),
            size: d.size,
            path: Default::default(),
        };
        let mut layers: Vec<Blob> = base_layers.iter().map(in_store).collect();
        layers.extend(layer.map(in_store));
        let config_blob = Blob {
            media_type: archive::MEDIA_DOCKER_CONFIG.into(),
            digest: config_digest.clone(),
            size: config_bytes.len() as i64,
            path: config_path.clone(),
        };
        let image = ArchiveImage {
            manifest: archive::build_docker_manifest(&config_blob, &layers),
            manifest_media_type: archive::MEDIA_DOCKER_MANIFEST.into(),
            config: config_blob,
            layers,
            diff_ids,
            tags: vec![],
            index: None,
        };
        let stored = self.images().store_pulled(&image, names).await;
        let _ = tokio::fs::remove_file(&config_path).await;
        stored?;
        Ok(config_digest)
    }
}

/// Docker media types for layers, so the manifest is a consistent Docker v2 one.
fn docker_layer_type(media_type: &str) -> &str {
    match media_type {
        archive::MEDIA_OCI_LAYER => archive::MEDIA_DOCKER_LAYER,
        archive::MEDIA_OCI_LAYER_GZIP => archive::MEDIA_DOCKER_LAYER_GZIP,
        other => other,
    }
}
