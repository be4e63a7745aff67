//! `docker exec`: `POST /containers/{id}/exec`, `POST /exec/{id}/start` (hijacked like
//! attach), `GET /exec/{id}/json`, `POST /exec/{id}/resize`.

use axum::Json;
use axum::extract::{Extension, Path, Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use berth_engine::container::exec::ExecConfig;
use http::StatusCode;
use serde::Serialize;
use serde_json::json;
use tokio::io::AsyncWriteExt as _;
use utoipa::ToSchema;

use super::AppState;
use super::containers::json_body;
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::stream::hijack::{
    DEFAULT_DETACH_KEYS, Relayed, on_upgrade, parse_detach_keys, relay, stream_content_type,
    switching_protocols, wants_tcp_upgrade,
};
use crate::stream::stdcopy;
use crate::version::ApiVersion;
use crate::wire;

#[utoipa::path(post, path = "/containers/{id}/exec", tag = "Exec",
    request_body = wire::ExecCreateRequest,
    responses((status = 201, description = "Created"), (status = 404, description = "No such container"), (status = 409, description = "Container is not running")))]
pub async fn create(
    State(s): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let body = json_body(req).await?.unwrap_or(json!({}));
    let c: wire::ExecCreateRequest = wire::go_json::decode(body, "types.ExecConfig")
        .map_err(|e| ApiError::invalid(format!("invalid JSON: {e}")))?;
    let detach_keys = c.detach_keys.unwrap_or_default();
    if !detach_keys.is_empty() {
        parse_detach_keys(&detach_keys)?;
    }
    let exec_id = s.engine.containers().exec_create(
        &id,
        ExecConfig {
            cmd: c.cmd.unwrap_or_default(),
            env: c.env.unwrap_or_default(),
            user: c.user.unwrap_or_default(),
            working_dir: c.working_dir.unwrap_or_default(),
            tty: c.tty.unwrap_or_default(),
            privileged: c.privileged.unwrap_or_default(),
            attach_stdin: c.attach_stdin.unwrap_or_default(),
            attach_stdout: c.attach_stdout.unwrap_or_default(),
            attach_stderr: c.attach_stderr.unwrap_or_default(),
            detach_keys,
            console_size: crate::compat::container::exec_console_size(c.console_size, version),
        },
    )?;
    Ok((StatusCode::CREATED, Json(json!({"Id": exec_id}))).into_response())
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
    let body = json_body(req).await?.unwrap_or(json!({}));
    let start: wire::ExecStartRequest = wire::go_json::decode(body, "types.ExecStartCheck")
        .map_err(|e| ApiError::invalid(format!("invalid JSON: {e}")))?;
    let containers = s.engine.containers();
    let st = containers.exec_inspect(&id)?;
    if start.detach.unwrap_or_default() {
        containers.exec_start(&id).await?;
        return Ok(StatusCode::OK.into_response());
    }
    let handle = containers.exec_attach(&id)?;
    // The start request's `Tty`, not the exec's, decides the framing, as in moby: an exec
    // made with a TTY but started without one is sent in stdcopy frames (all on stdout).
    let raw = start.tty.unwrap_or_default();
    let streams = exec_streams(&st, handle.tty, raw)?;
    let Some(upgrade) = upgrade else {
        return Err(ApiError::invalid(
            "exec start needs a connection upgrade (Upgrade: tcp)",
        ));
    };
    let engine = s.engine.clone();
    on_upgrade(upgrade, move |mut io| async move {
        // The exec starts once the client holds the stream; a failure to start is written
        // to it, as moby does.
        if let Err(e) = engine.containers().exec_start(&id).await {
            let line = format!("{}\r\n", e.message);
            let bytes = match raw {
                true => line.into_bytes(),
                false => stdcopy::frame(stdcopy::STDOUT, line.as_bytes()),
            };
            let _ = io.write_all(&bytes).await;
            let _ = io.shutdown().await;
            return;
        }
        relay(io, handle, streams).await;
    });
    Ok(switching_protocols(stream_content_type(raw, version)))
}

/// The streams of an attached exec: moby drops the stderr of a non-TTY exec started with
/// `Tty: true`, and reads detach keys only from the stdin of a TTY exec.
fn exec_streams(
    st: &berth_engine::container::exec::ExecState,
    tty: bool,
    raw: bool,
) -> Result<Relayed, ApiError> {
    let detach_keys = if !tty {
        vec![]
    } else if st.config.detach_keys.is_empty() {
        DEFAULT_DETACH_KEYS.to_vec()
    } else {
        parse_detach_keys(&st.config.detach_keys)?
    };
    Ok(Relayed {
        raw,
        stdout: st.config.attach_stdout,
        stderr: st.config.attach_stderr && (tty || !raw),
        detach_keys,
    })
}
