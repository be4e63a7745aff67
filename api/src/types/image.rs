//! Image wire types (moby `api/types/image`).

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

/// `GET /images/json` entries.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ImageSummary {
    #[serde(rename = "Containers")]
    pub containers: i64,
    #[serde(rename = "Created")]
    pub created: i64,
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Labels")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(rename = "ParentId")]
    pub parent_id: String,
    #[serde(rename = "RepoDigests")]
    pub repo_digests: Option<Vec<String>>,
    #[serde(rename = "RepoTags")]
    pub repo_tags: Option<Vec<String>>,
    #[serde(rename = "SharedSize")]
    pub shared_size: i64,
    #[serde(rename = "Size")]
    pub size: i64,
    /// Below API 1.44 only.
    #[serde(rename = "VirtualSize", skip_serializing_if = "Option::is_none")]
    pub virtual_size: Option<i64>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RootFs {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Layers")]
    pub layers: Vec<String>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct GraphDriver {
    #[serde(rename = "Data")]
    pub data: Option<BTreeMap<String, String>>,
    #[serde(rename = "Name")]
    pub name: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ImageMetadata {
    #[serde(rename = "LastTagTime")]
    pub last_tag_time: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OciDescriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<std::collections::BTreeMap<String, String>>,
}

/// `GET /distribution/{name}/json`: the manifest a registry has for the name.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DistributionInspect {
    #[serde(rename = "Descriptor")]
    pub descriptor: OciDescriptor,
    #[serde(rename = "Platforms")]
    pub platforms: Vec<OciPlatform>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = OCIPlatform)]
pub struct OciPlatform {
    pub architecture: String,
    pub os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// One entry of `GET /images/{name}/attestations` (API 1.55).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AttestationStatement {
    #[serde(rename = "Descriptor")]
    pub descriptor: OciDescriptor,
    #[serde(rename = "PredicateType")]
    pub predicate_type: String,
    /// The in-toto statement, with `statement=true` only.
    #[serde(rename = "Statement", skip_serializing_if = "Option::is_none")]
    pub statement: Option<serde_json::Value>,
}

/// `GET /images/{name}/json`, in the API 1.50 shape; `compat::image` adapts older ones.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ImageInspect {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "RepoTags")]
    pub repo_tags: Vec<String>,
    #[serde(rename = "RepoDigests")]
    pub repo_digests: Vec<String>,
    /// Left out when empty from API 1.52.
    #[serde(rename = "Parent", skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Left out when empty from API 1.52.
    #[serde(rename = "Comment", skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(rename = "Created", skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Below API 1.45 only.
    #[serde(rename = "Container", skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(rename = "ContainerConfig", skip_serializing_if = "Option::is_none")]
    pub container_config: Option<serde_json::Value>,
    /// Left out when empty from API 1.52.
    #[serde(rename = "DockerVersion", skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
    /// Left out when empty from API 1.52.
    #[serde(rename = "Author", skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(rename = "Config")]
    pub config: serde_json::Value,
    #[serde(rename = "Architecture")]
    pub architecture: String,
    #[serde(rename = "Variant", skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(rename = "Os")]
    pub os: String,
    #[serde(rename = "OsVersion", skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    #[serde(rename = "Size")]
    pub size: i64,
    /// Below API 1.44 only.
    #[serde(rename = "VirtualSize", skip_serializing_if = "Option::is_none")]
    pub virtual_size: Option<i64>,
    /// Below API 1.52 only.
    #[serde(rename = "GraphDriver", skip_serializing_if = "Option::is_none")]
    pub graph_driver: Option<GraphDriver>,
    #[serde(rename = "RootFS")]
    pub root_fs: RootFs,
    #[serde(rename = "Metadata")]
    pub metadata: ImageMetadata,
    /// From API 1.48.
    #[serde(rename = "Descriptor", skip_serializing_if = "Option::is_none")]
    pub descriptor: Option<OciDescriptor>,
}

/// `GET /images/{name}/history` entries.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct HistoryItem {
    #[serde(rename = "Comment")]
    pub comment: String,
    #[serde(rename = "Created")]
    pub created: i64,
    #[serde(rename = "CreatedBy")]
    pub created_by: String,
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Size")]
    pub size: i64,
    #[serde(rename = "Tags")]
    pub tags: Option<Vec<String>>,
}

/// `DELETE /images/{name}` entries: exactly one key each.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DeleteResponseItem {
    #[serde(rename = "Untagged", skip_serializing_if = "Option::is_none")]
    pub untagged: Option<String>,
    #[serde(rename = "Deleted", skip_serializing_if = "Option::is_none")]
    pub deleted: Option<String>,
}

impl From<berth_engine::image::store::RemovedImage> for DeleteResponseItem {
    fn from(r: berth_engine::image::store::RemovedImage) -> Self {
        use berth_engine::image::store::RemovedImage;
        match r {
            RemovedImage::Untagged(n) => DeleteResponseItem {
                untagged: Some(n),
                deleted: None,
            },
            RemovedImage::Deleted(id) => DeleteResponseItem {
                untagged: None,
                deleted: Some(id),
            },
        }
    }
}

impl From<berth_engine::image::store::Attestation> for AttestationStatement {
    fn from(a: berth_engine::image::store::Attestation) -> Self {
        let d = a.descriptor;
        AttestationStatement {
            descriptor: OciDescriptor {
                media_type: d.media_type,
                digest: d.digest,
                size: d.size,
                annotations: (!d.annotations.is_empty())
                    .then(|| d.annotations.into_iter().collect()),
            },
            predicate_type: a.predicate_type,
            statement: a.statement,
        }
    }
}

impl From<berth_engine::image::pull::DistributionInfo> for DistributionInspect {
    fn from(info: berth_engine::image::pull::DistributionInfo) -> Self {
        DistributionInspect {
            descriptor: OciDescriptor {
                media_type: info.media_type,
                digest: info.digest,
                size: info.size,
                annotations: None,
            },
            platforms: info
                .platforms
                .into_iter()
                .map(|(os, architecture, variant)| OciPlatform {
                    architecture,
                    os,
                    variant: (!variant.is_empty()).then_some(variant),
                })
                .collect(),
        }
    }
}

/// Steps before the newest show `<missing>` for an ID, as moby's do.
impl From<berth_engine::image::store::HistoryStep> for HistoryItem {
    fn from(step: berth_engine::image::store::HistoryStep) -> Self {
        let (id, tags) = match step.image {
            Some((id, tags)) => (id, (!tags.is_empty()).then_some(tags)),
            None => ("<missing>".to_string(), None),
        };
        HistoryItem {
            comment: step.comment,
            created: step.created,
            created_by: step.created_by,
            id,
            size: step.size,
            tags,
        }
    }
}
