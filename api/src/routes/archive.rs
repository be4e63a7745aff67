//! `docker cp`: `HEAD`, `GET` and `PUT /containers/{id}/archive?path=`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::Response;
use base64::Engine as _;
use berth_engine::confined::PathStat;
use http::{HeaderValue, StatusCode, header};

use super::AppState;
use crate::error::ApiError;
use crate::extract::QueryParams;

/// moby's text, missing space included.
fn wanted_path(q: &QueryParams) -> Result<String, ApiError> {
    match q.get("path") {
        Some(p) if !p.is_empty() => Ok(p.to_string()),
        _ => Err(ApiError::invalid("bad parameter: pathcannot be empty")),
    }
}

/// The header's JSON, fields in moby's order.
#[derive(serde::Serialize)]
struct StatJson<'a> {
    name: &'a str,
    size: i64,
    mode: u32,
    mtime: &'a str,
    #[serde(rename = "linkTarget")]
    link_target: &'a str,
}

/// `X-Docker-Container-Path-Stat`: the stat as base64 (standard, padded) JSON.
fn stat_header(stat: &PathStat) -> HeaderValue {
    let body = serde_json::to_string(&StatJson {
        name: &stat.name,
        size: stat.size,
        mode: stat.mode,
        mtime: &stat.mtime,
        link_target: &stat.link_target,
    })
    .unwrap_or_default();
    let encoded = base64::engine::general_purpose::STANDARD.encode(body);
    HeaderValue::from_str(&encoded).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn with_stat(mut resp: Response, stat: &PathStat) -> Response {
    resp.headers_mut()
        .insert("X-Docker-Container-Path-Stat", stat_header(stat));
    resp
}

#[utoipa::path(head, path = "/containers/{id}/archive", tag = "Container", params(("id" = String, Path, description = "Container ID or name")),
    responses((status = 200, description = "The path's stat in X-Docker-Container-Path-Stat"), (status = 404, description = "No such container or path")))]
pub async fn head(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> Result<Response, ApiError> {
    let path = wanted_path(&q)?;
    let stat = s.engine.containers().stat_path(&id, &path).await?;
    Ok(with_stat(Response::new(Body::empty()), &stat))
}

#[utoipa::path(get, path = "/containers/{id}/archive", tag = "Container", params(("id" = String, Path, description = "Container ID or name")),
    responses((status = 200, description = "The path as a tar archive", content_type = "application/x-tar"), (status = 404, description = "No such container or path")))]
pub async fn get(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> Result<Response, ApiError> {
    let path = wanted_path(&q)?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let stat = s.engine.containers().archive_path(&id, &path, tx).await?;
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let mut resp = with_stat(Response::new(body), &stat);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    Ok(resp)
}

#[utoipa::path(put, path = "/containers/{id}/archive", tag = "Container", params(("id" = String, Path, description = "Container ID or name")),
    request_body(content = Vec<u8>, content_type = "application/x-tar"),
    responses((status = 200, description = "Extracted"), (status = 400, description = "Bad parameter"), (status = 403, description = "Read-only"), (status = 404, description = "No such container or path")))]
pub async fn put(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let path = wanted_path(&q)?;
    s.engine
        .containers()
        .extract_to_dir(
            &id,
            &path,
            q.bool("copyUIDGID"),
            q.bool("noOverwriteDirNonDir"),
            crate::stream::BodyReader::new(body),
        )
        .await?;
    Ok(StatusCode::OK)
}
