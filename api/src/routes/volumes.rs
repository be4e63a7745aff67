//! `/volumes`: create, list (with filters), inspect, remove and prune local volumes.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Extension, Path, Request, State};
use berth_engine::volume::Volume;
use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::error::ApiError;
use crate::extract::{QueryParams, go_json_body};
use crate::types::responses::{VolumePruneResponse, non_empty};
use crate::version::ApiVersion;
use crate::wire;

/// A volume as the API shows it (moby's `volume.Volume`).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = Volume)]
pub struct VolumeView {
    #[serde(rename = "CreatedAt")]
    pub created_at: String,
    #[serde(rename = "Driver")]
    pub driver: String,
    /// `null` when created without labels, as moby answers.
    #[serde(rename = "Labels")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(rename = "Mountpoint")]
    pub mountpoint: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Options")]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(rename = "Scope")]
    pub scope: String,
    /// Only in `GET /system/df`.
    #[serde(rename = "UsageData", skip_serializing_if = "Option::is_none")]
    pub usage_data: Option<VolumeUsageData>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct VolumeUsageData {
    #[serde(rename = "Size")]
    pub size: i64,
    #[serde(rename = "RefCount")]
    pub ref_count: i64,
}

/// `GET /volumes`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct VolumeListResponse {
    #[serde(rename = "Volumes")]
    pub volumes: Vec<VolumeView>,
    #[serde(rename = "Warnings")]
    pub warnings: Option<Vec<String>>,
}

pub(crate) fn volume_view(v: &Volume, usage: Option<(i64, i64)>) -> VolumeView {
    VolumeView {
        created_at: v.created_at.clone(),
        driver: "local".into(),
        labels: v.labels.clone(),
        mountpoint: v.mountpoint.display().to_string(),
        name: v.name.clone(),
        options: v.options.clone(),
        scope: "local".into(),
        usage_data: usage.map(|(size, ref_count)| VolumeUsageData { size, ref_count }),
    }
}

/// `POST /volumes/create`.
#[utoipa::path(post, path = "/volumes/create", tag = "Volume",
    request_body = wire::VolumeCreateRequest,
    responses((status = 201, body = VolumeView), (status = 400, description = "Bad parameter")))]
pub async fn create(
    State(s): State<AppState>,
    req: Request,
) -> Result<(StatusCode, Json<VolumeView>), ApiError> {
    let req: wire::VolumeCreateRequest = go_json_body(req, "volume.VolumeCreateBody")
        .await?
        .unwrap_or_default();
    if let Some(driver) = req
        .driver
        .as_deref()
        .filter(|d| !d.is_empty() && *d != "local")
    {
        return Err(ApiError::not_found(format!(
            "plugin \"{driver}\" not found"
        )));
    }
    let v = s
        .engine
        .volumes()
        .create(req.name.as_deref(), req.labels, req.driver_opts)?;
    Ok((StatusCode::CREATED, Json(volume_view(&v, None))))
}

/// `GET /volumes`: filters `name`, `label`, `driver`, `dangling`.
#[utoipa::path(get, path = "/volumes", tag = "Volume",
    responses((status = 200, body = VolumeListResponse), (status = 400, description = "Bad filter")))]
pub async fn list(
    State(s): State<AppState>,
    q: QueryParams,
) -> Result<Json<VolumeListResponse>, ApiError> {
    let list = s.engine.list_volumes(&q.filters()?)?;
    let volumes = list.iter().map(|v| volume_view(v, None)).collect();
    Ok(Json(VolumeListResponse {
        volumes,
        warnings: None,
    }))
}

/// `GET /volumes/{name}`.
#[utoipa::path(get, path = "/volumes/{name}", tag = "Volume", params(("name" = String, Path, description = "Volume name")),
    responses((status = 200, body = VolumeView), (status = 404, description = "No such volume")))]
pub async fn inspect(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<VolumeView>, ApiError> {
    Ok(Json(volume_view(&s.engine.volumes().get(&name)?, None)))
}

/// `DELETE /volumes/{name}`: refused while a container uses it (even with `force`, as
/// dockerd does for local volumes).
#[utoipa::path(delete, path = "/volumes/{name}", tag = "Volume", params(("name" = String, Path, description = "Volume name")),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such volume"), (status = 409, description = "Volume in use")))]
pub async fn remove(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let users = s.engine.containers().volume_users(&name);
    s.engine.volumes().remove(&name, &users)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /volumes/prune`: unused volumes; from 1.42 only anonymous ones unless `all=true`.
#[utoipa::path(post, path = "/volumes/prune", tag = "Volume",
    responses((status = 200, body = VolumePruneResponse), (status = 400, description = "Bad filter")))]
pub async fn prune(
    State(s): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    q: QueryParams,
) -> Result<Json<VolumePruneResponse>, ApiError> {
    let filters = q.filters()?;
    filters.validate(&["label", "label!", "all"])?;
    let all = !version.ge(1, 42)
        || filters
            .values("all")
            .is_some_and(|v| v.iter().any(|a| a == "true" || a == "1"));
    let containers = s.engine.containers();
    let (deleted, reclaimed) = s.engine.volumes().prune(
        all,
        |name| !containers.volume_users(name).is_empty(),
        |v| filters.label_match(&v.labels.clone().unwrap_or_default()),
    );
    Ok(Json(VolumePruneResponse {
        volumes_deleted: non_empty(deleted),
        space_reclaimed: reclaimed,
    }))
}
