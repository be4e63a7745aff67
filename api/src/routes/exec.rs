//! `docker exec`: `POST /containers/{id}/exec`, `POST /exec/{id}/start` (hijacked like
//! attach), `GET /exec/{id}/json`, `POST /exec/{id}/resize`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use berth_engine::Engine;
use berth_engine::container::AttachHandle;
use http::StatusCode;
use serde::Serialize;
use tokio::io::AsyncWriteExt as _;
use utoipa::ToSchema;

use super::AppState;
use crate::error::ApiError;
use crate::extract::{QueryParams, go_json_body};
use crate::stream::hijack::{
    Relayed, detach_keys, on_upgrade, parse_detach_keys, relay, stream_content_type,
    switching_protocols, wants_tcp_upgrade,
};
use crate::stream::stdcopy;
use crate::types::responses::IdResponse;
use crate::version::ApiVersion;
use crate::wire;

#[utoipa::path(post, path = "/containers/{id}/exec", tag = "Exec",
    request_body = wire::ExecCreateRequest,
    responses((status = 201, body = IdResponse), (status = 404, description = "No such container"), (status = 409, description = "Container is not running")))]
pub async fn create(
    State(s): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Path(id): Path<String>,
    req: Request,
) -> Result<(StatusCode, Json<IdResponse>), ApiError> {
    let mut c: wire::ExecCreateRequest = go_json_body(req, "types.ExecConfig")
        .await?
        .unwrap_or_default();
    let console_size = crate::compat::container::exec_console_size(c.console_size.take(), version);
    let config = c.into_exec_config(console_size)?;
    let id = s.engine.containers().exec_create(&id, config)?;
    Ok((StatusCode::CREATED, Json(IdResponse { id })))
}

/// `GET /exec/{id}/json` (moby's `container.ExecInspect`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ExecInspectResponse {
    #[serde(rename = "CanRemove")]
    pub can_remove: bool,
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    /// moby keeps the parsed keys as bytes, so JSON shows them in base64.
    #[serde(rename = "DetachKeys")]
    pub detach_keys: String,
    #[serde(rename = "ExitCode")]
    pub exit_code: Option<i64>,
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "OpenStderr")]
    pub open_stderr: bool,
    #[serde(rename = "OpenStdin")]
    pub open_stdin: bool,
    #[serde(rename = "OpenStdout")]
    pub open_stdout: bool,
    #[serde(rename = "ProcessConfig")]
    pub process_config: ProcessConfig,
    #[serde(rename = "Running")]
    pub running: bool,
    #[serde(rename = "Pid")]
    pub pid: u32,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ProcessConfig {
    pub arguments: Vec<String>,
    pub entrypoint: String,
    pub privileged: bool,
    pub tty: bool,
    /// `omitempty` in moby.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
}

#[utoipa::path(get, path = "/exec/{id}/json", tag = "Exec", params(("id" = String, Path, description = "Exec ID")),
    responses((status = 200, body = ExecInspectResponse), (status = 404, description = "No such exec instance")))]
pub async fn inspect(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ExecInspectResponse>, ApiError> {
    let st = s.engine.containers().exec_inspect(&id)?;
    let c = &st.config;
    Ok(Json(ExecInspectResponse {
        can_remove: false,
        container_id: st.container_id.clone(),
        detach_keys: base64::engine::general_purpose::STANDARD
            .encode(parse_detach_keys(&c.detach_keys).unwrap_or_default()),
        exit_code: st.exit_code,
        id: st.id.clone(),
        open_stderr: c.attach_stderr,
        open_stdin: c.attach_stdin,
        open_stdout: c.attach_stdout,
        process_config: ProcessConfig {
            arguments: c.cmd.get(1..).unwrap_or_default().to_vec(),
            entrypoint: c.cmd.first().cloned().unwrap_or_default(),
            privileged: c.privileged,
            tty: c.tty,
            user: c.user.clone(),
        },
        running: st.running,
        pid: st.pid,
    }))
}

#[utoipa::path(post, path = "/exec/{id}/resize", tag = "Exec", params(("id" = String, Path, description = "Exec ID")),
    responses((status = 200, description = "Resized"), (status = 404, description = "No such exec instance")))]
pub async fn resize(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> Result<StatusCode, ApiError> {
    let num = |k: &str| {
        q.get(k)
            .unwrap_or("0")
            .parse::<u32>()
            .map_err(|_| ApiError::invalid(format!("invalid value for {k}")))
    };
    s.engine
        .containers()
        .exec_resize(&id, num("h")?, num("w")?)
        .await?;
    Ok(StatusCode::OK)
}

#[utoipa::path(post, path = "/exec/{id}/start", tag = "Exec", params(("id" = String, Path, description = "Exec ID")),
    request_body = wire::ExecStartRequest,
    responses((status = 101, description = "Hijacked: the process's stdio"), (status = 200, description = "The process's output"), (status = 404, description = "No such exec instance"), (status = 409, description = "Container not running")))]
pub async fn start(
    State(s): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Path(id): Path<String>,
    mut req: Request,
) -> Result<Response, ApiError> {
    let upgrade = wants_tcp_upgrade(&req).then(|| hyper::upgrade::on(&mut req));
    let start: wire::ExecStartRequest = go_json_body(req, "types.ExecStartCheck")
        .await?
        .unwrap_or_default();
    let containers = s.engine.containers();
    let st = containers.exec_inspect(&id)?;
    if start.detach.unwrap_or_default() {
        containers.exec_start(&id).await?;
        return Ok(StatusCode::OK.into_response());
    }
    let Some(upgrade) = upgrade else {
        return Err(ApiError::invalid(
            "exec start needs a connection upgrade (Upgrade: tcp)",
        ));
    };
    let handle = containers.exec_attach(&id)?;
    // The start request's `Tty`, not the exec's, decides the framing, as in moby: an exec
    // made with a TTY but started without one is sent in stdcopy frames (all on stdout).
    let raw = start.tty.unwrap_or_default();
    let streams = exec_streams(&st, handle.tty, raw)?;
    let engine = s.engine.clone();
    on_upgrade(upgrade, move |io| {
        exec_session(engine, id, io, handle, streams)
    });
    Ok(switching_protocols(stream_content_type(raw, version)))
}

/// A hijacked exec: the process starts once the client holds the stream, and a failure to
/// start is written to it, as moby does.
async fn exec_session<IO>(
    engine: Arc<Engine>,
    id: String,
    mut io: IO,
    handle: AttachHandle,
    streams: Relayed,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    if let Err(e) = engine.containers().exec_start(&id).await {
        let line = format!("{}\r\n", e.message);
        let bytes = match streams.raw {
            true => line.into_bytes(),
            false => stdcopy::frame(stdcopy::STDOUT, line.as_bytes()),
        };
        let _ = io.write_all(&bytes).await;
        let _ = io.shutdown().await;
        return;
    }
    relay(io, handle, streams).await;
}

/// The streams of an attached exec: moby drops the stderr of a non-TTY exec started with
/// `Tty: true`, and reads detach keys only from the stdin of a TTY exec.
fn exec_streams(
    st: &berth_engine::container::exec::ExecState,
    tty: bool,
    raw: bool,
) -> Result<Relayed, ApiError> {
    Ok(Relayed {
        raw,
        stdout: st.config.attach_stdout,
        stderr: st.config.attach_stderr && (tty || !raw),
        detach_keys: detach_keys(tty, Some(&st.config.detach_keys))?,
    })
}
