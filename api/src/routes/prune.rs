//! `POST /containers/prune`, `/images/prune`, `/networks/prune` and `/build/prune`.

use axum::Json;
use axum::extract::State;
use berth_engine::filters::Filters;

use super::AppState;
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::types::image::DeleteResponseItem;
use crate::types::responses::{
    BuildPruneResponse, ContainerPruneResponse, ImagePruneResponse, NetworkPruneResponse, non_empty,
};

/// `until=<unix seconds or RFC 3339>` as unix seconds.
fn until(filters: &Filters) -> Result<Option<i64>, ApiError> {
    let Some(v) = filters.values("until").and_then(|v| v.iter().next()) else {
        return Ok(None);
    };
    if let Ok(secs) = v.split('.').next().unwrap_or("").parse::<i64>() {
        return Ok(Some(secs));
    }
    let t = berth_engine::container::logs::parse_time_nanos(v);
    if t == 0 {
        return Err(ApiError::invalid(format!("invalid filter 'until={v}'")));
    }
    Ok(Some((t / 1_000_000_000) as i64))
}

/// `label=k[=v]` keeps matching objects out of the prune; `label!=k[=v]` the opposite.
fn label_keeps(filters: &Filters, labels: &std::collections::BTreeMap<String, String>) -> bool {
    let matches = |spec: &str| match spec.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(spec),
    };
    let wanted = filters
        .values("label")
        .is_none_or(|v| v.iter().all(|s| matches(s)));
    let unwanted = filters
        .values("label!")
        .is_some_and(|v| v.iter().any(|s| matches(s)));
    !wanted || unwanted
}

#[utoipa::path(post, path = "/containers/prune", tag = "Container",
    responses((status = 200, body = ContainerPruneResponse), (status = 400, description = "Bad filter")))]
pub async fn containers(
    State(s): State<AppState>,
    q: QueryParams,
) -> Result<Json<ContainerPruneResponse>, ApiError> {
    let filters = q.filters()?;
    filters.validate(&["until", "label", "label!"])?;
    let until = until(&filters)?;
    let (removed, reclaimed) = s
        .engine
        .containers()
        .prune(|c| {
            let created =
                berth_engine::container::logs::parse_time_nanos(&c.created) / 1_000_000_000;
            until.is_some_and(|u| created as i64 >= u) || label_keeps(&filters, &c.labels())
        })
        .await;
    Ok(Json(ContainerPruneResponse {
        containers_deleted: non_empty(removed),
        space_reclaimed: reclaimed,
    }))
}

#[utoipa::path(post, path = "/images/prune", tag = "Image",
    responses((status = 200, body = ImagePruneResponse), (status = 400, description = "Bad filter")))]
pub async fn images(
    State(s): State<AppState>,
    q: QueryParams,
) -> Result<Json<ImagePruneResponse>, ApiError> {
    let filters = q.filters()?;
    filters.validate(&["dangling", "until", "label", "label!"])?;
    // Without `dangling=false` only dangling images go.
    let all = filters
        .bool_term("dangling")
        .map_err(|v| ApiError::invalid(format!("invalid filter 'dangling={v}'")))?
        == Some(false);
    let until = until(&filters)?;
    let (removed, reclaimed) = s
        .engine
        .prune_images_keeping_build_cache(all, |e| {
            until.is_some_and(|u| e.created_unix >= u) || label_keeps(&filters, &e.labels)
        })
        .await?;
    let items: Vec<DeleteResponseItem> = removed.into_iter().map(Into::into).collect();
    Ok(Json(ImagePruneResponse {
        images_deleted: non_empty(items),
        space_reclaimed: reclaimed,
    }))
}

/// `POST /networks/prune`: removes the user networks no running container is on (as on
/// dockerd, a created container does not keep its network).
#[utoipa::path(post, path = "/networks/prune", tag = "Network",
    responses((status = 200, body = NetworkPruneResponse), (status = 400, description = "Bad filter")))]
pub async fn networks(
    State(s): State<AppState>,
    q: QueryParams,
) -> Result<Json<NetworkPruneResponse>, ApiError> {
    let filters = q.filters()?;
    filters.validate(&["until", "label", "label!"])?;
    let until = until(&filters)?;
    let containers = s.engine.containers();
    let mut deleted = Vec::new();
    for n in s.engine.networks().list() {
        let created = berth_engine::container::logs::parse_time_nanos(&n.created) / 1_000_000_000;
        if berth_engine::network::PREDEFINED.contains(&n.name.as_str())
            || !containers.network_endpoints(&n.id).is_empty()
            || until.is_some_and(|u| created as i64 >= u)
            || label_keeps(&filters, &n.labels)
        {
            continue;
        }
        if s.engine
            .networks()
            .remove_with_bridge(&n.id, |_| false)
            .await
            .is_ok()
        {
            deleted.push(n.name);
        }
    }
    Ok(Json(NetworkPruneResponse {
        networks_deleted: deleted,
    }))
}

/// `POST /build/prune`: the builder's cache (its step images no container uses).
#[utoipa::path(post, path = "/build/prune", tag = "Image",
    responses((status = 200, body = BuildPruneResponse)))]
pub async fn build_cache(State(s): State<AppState>) -> Result<Json<BuildPruneResponse>, ApiError> {
    let (deleted, reclaimed) = s.engine.prune_build_cache().await?;
    Ok(Json(BuildPruneResponse {
        caches_deleted: non_empty(deleted),
        space_reclaimed: reclaimed,
    }))
}
