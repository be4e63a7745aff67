//! Routes for features this daemon does not offer, answered as moby answers when the feature
//! is off: swarm (not part of a swarm), checkpoints (experimental), plugins (none installed).

use axum::Json;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};

use crate::error::ApiError;
use crate::extract::QueryParams;

const NO_MANAGER: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";
const NOT_IN_SWARM: &str = "This node is not part of a swarm";
const EXPERIMENTAL: &str = "This experimental feature is disabled by default. Start the Docker daemon in experimental mode in order to enable it.";

pub async fn no_swarm_manager() -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, NO_MANAGER)
}

pub async fn not_in_swarm() -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, NOT_IN_SWARM)
}

pub async fn swarm_unsupported() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "swarm mode is not supported by this daemon",
    )
}

/// `PUT /volumes/{name}` updates cluster volumes, which need a swarm.
pub async fn cluster_volume_update() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "volume update only valid for cluster volumes, but swarm is unavailable",
    )
}

/// `POST /session`: moby's checks of the upgrade (400), then a refusal, since no BuildKit
/// runs behind this daemon to serve the session.
#[utoipa::path(post, path = "/session", tag = "Session",
    responses((status = 400, description = "Not an upgrade request"), (status = 501, description = "No BuildKit behind this daemon")))]
pub async fn session(headers: http::HeaderMap) -> ApiError {
    buildkit_upgrade(&headers, StatusCode::BAD_REQUEST, "BuildKit sessions")
}

/// `POST /grpc`: the same checks, which moby reports as 500s on this route.
pub async fn grpc(headers: http::HeaderMap) -> ApiError {
    buildkit_upgrade(
        &headers,
        StatusCode::INTERNAL_SERVER_ERROR,
        "BuildKit's gRPC API",
    )
}

fn buildkit_upgrade(headers: &http::HeaderMap, bad: StatusCode, what: &str) -> ApiError {
    match headers
        .get(http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
    {
        None | Some("") => ApiError::new(bad, "no upgrade proto in request"),
        Some("h2c") => ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            format!("{what} is not supported by this daemon"),
        ),
        Some(other) => ApiError::new(bad, format!("protocol {other} not supported")),
    }
}

pub async fn experimental_disabled() -> ApiError {
    ApiError::new(StatusCode::NOT_IMPLEMENTED, EXPERIMENTAL)
}

/// `GET /plugins`: validates filters like moby, and lists the (no) installed plugins.
pub async fn plugins_list(q: QueryParams) -> Result<Response, ApiError> {
    q.filters()?
        .validate(&["capability", "enabled"])
        .map_err(ApiError::from)?;
    Ok(Json(Vec::<serde_json::Value>::new()).into_response())
}

pub async fn plugins_unsupported() -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "plugins are not supported by this daemon",
    )
}

/// `/plugins/{name}/json|enable|disable|push|set|upgrade` and `DELETE /plugins/{name}`.
/// Plugin names contain `/` and `:`, so the action is split off the end here.
pub async fn plugin_by_name(method: Method, Path(rest): Path<String>) -> ApiError {
    let name = match method {
        Method::DELETE => Some(rest.as_str()),
        Method::GET => rest.strip_suffix("/json"),
        Method::POST => ["enable", "disable", "push", "set", "upgrade"]
            .iter()
            .find_map(|action| rest.strip_suffix(action)?.strip_suffix('/')),
        _ => None,
    };
    match name {
        Some(name) => ApiError::not_found(format!("plugin \"{name}\" not found")),
        None => ApiError::not_found("page not found"),
    }
}
