//! Small answers of several routes: prunes, IDs of what a request made, `docker login`.

use serde::Serialize;
use utoipa::ToSchema;

use super::image::DeleteResponseItem;

/// `POST /containers/prune`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ContainerPruneResponse {
    /// `null` when none was removed.
    #[serde(rename = "ContainersDeleted")]
    pub containers_deleted: Option<Vec<String>>,
    #[serde(rename = "SpaceReclaimed")]
    pub space_reclaimed: i64,
}

/// `POST /images/prune`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ImagePruneResponse {
    #[serde(rename = "ImagesDeleted")]
    pub images_deleted: Option<Vec<DeleteResponseItem>>,
    #[serde(rename = "SpaceReclaimed")]
    pub space_reclaimed: i64,
}

/// `POST /networks/prune`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct NetworkPruneResponse {
    #[serde(rename = "NetworksDeleted")]
    pub networks_deleted: Vec<String>,
}

/// `POST /volumes/prune`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct VolumePruneResponse {
    #[serde(rename = "VolumesDeleted")]
    pub volumes_deleted: Option<Vec<String>>,
    #[serde(rename = "SpaceReclaimed")]
    pub space_reclaimed: i64,
}

/// `POST /build/prune`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BuildPruneResponse {
    #[serde(rename = "CachesDeleted")]
    pub caches_deleted: Option<Vec<String>>,
    #[serde(rename = "SpaceReclaimed")]
    pub space_reclaimed: i64,
}

/// `POST /containers/create`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ContainerCreateResponse {
    #[serde(rename = "Id")]
    pub id: String,
    /// An empty list when there are none (never `null`).
    #[serde(rename = "Warnings")]
    pub warnings: Vec<String>,
}

/// `POST /containers/{id}/update`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ContainerUpdateResponse {
    /// `null` when there are none, as moby answers.
    #[serde(rename = "Warnings")]
    pub warnings: Option<Vec<String>>,
}

/// The ID of what a request made (`POST /commit`).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = IDResponse)]
pub struct IdResponse {
    #[serde(rename = "Id")]
    pub id: String,
}

/// `POST /networks/create`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct NetworkCreateResponse {
    #[serde(rename = "Id")]
    pub id: String,
    /// Empty when there is none (a string, never `null`).
    #[serde(rename = "Warning")]
    pub warning: String,
}

/// `POST /auth`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuthResponse {
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "IdentityToken")]
    pub identity_token: String,
}

/// `None` for an empty list, which Go writes as `null`.
pub fn non_empty<T>(list: Vec<T>) -> Option<Vec<T>> {
    (!list.is_empty()).then_some(list)
}
