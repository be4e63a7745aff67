//! `/containers/*`: create, start, stop, kill, restart, wait, attach, logs, resize, remove,
//! inspect and list.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, Request, State};
use axum::response::{IntoResponse, Response};
use berth_engine::container::stats::StatsMode;
use berth_engine::container::{AttachHandle, CreateRequest, ListQuery, LogsRequest, WaitCondition};
use futures_util::StreamExt as _;
use http::{HeaderValue, StatusCode, header};

use super::AppState;
use crate::error::ApiError;
use crate::extract::{QueryParams, go_json_body, json_object_body};
use crate::stream::hijack::{
    Relayed, detach_keys, frame_into, on_upgrade, output_stream, relay, relay_websocket,
    stream_content_type, switching_protocols, wants_tcp_upgrade,
};
use crate::stream::until_shutdown;
use crate::types::container::{
    ContainerSummary, ContainerWaitResponse, FilesystemChange, TopResponse, summary,
};
use crate::types::inspect::ContainerInspect;
use crate::types::responses::{ContainerCreateResponse, ContainerUpdateResponse, IdResponse};
use crate::types::stats::stats_record;
use crate::version::ApiVersion;
use crate::wire;

/// `POST /containers/create`.
#[utoipa::path(post, path = "/containers/create", tag = "Container",
    request_body = wire::ContainerCreateRequest,
    responses((status = 201, body = ContainerCreateResponse),  (status = 400, description = "Bad parameter"), (status = 404, description = "No such image")))]
pub async fn create(
    State(s): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    q: QueryParams,
    req: Request,
) -> Result<Response, ApiError> {
    let (request, shim_warnings) = create_request(req, version, &q).await?;
    let (id, mut warnings) = (s.engine.containers())
        .create(s.engine.images(), request)
        .await?;
    warnings.extend(shim_warnings);
    Ok((
        StatusCode::CREATED,
        Json(ContainerCreateResponse { id, warnings }),
    )
        .into_response())
}

/// The create body decoded with Go's rules, adapted to `version` and turned into the
/// engine's request with the query's name and platform; with the warnings the version
/// shims add.
async fn create_request(
    req: Request,
    version: ApiVersion,
    q: &QueryParams,
) -> Result<(CreateRequest, Vec<String>), ApiError> {
    let request: wire::ContainerCreateRequest =
        go_json_body(req, "runconfig.ContainerConfigWrapper")
            .await?
            .ok_or_else(no_config)?;
    adapt_create(request, version, q)
}

fn no_config() -> ApiError {
    ApiError::invalid("config cannot be empty in order to create a container")
}

/// The decoded create body, with the shims of `version` applied, as the engine's request.
fn adapt_create(
    mut request: wire::ContainerCreateRequest,
    version: ApiVersion,
    q: &QueryParams,
) -> Result<(CreateRequest, Vec<String>), ApiError> {
    let mut host_config = request.host_config.take().unwrap_or_default();
    let endpoints = request
        .networking_config
        .take()
        .and_then(|n| n.endpoints_config);
    if request == wire::ContainerCreateRequest::default() {
        return Err(no_config());
    }
    let warnings = crate::compat::container::adapt_create(
        crate::compat::container::CreateBody {
            config: &mut request,
            host: &mut host_config,
            endpoints: endpoints.as_ref(),
            cgroup_v1: !berth_engine::system::cgroup_v2(),
        },
        version,
    )?;
    let endpoints = endpoints
        .unwrap_or_default()
        .into_iter()
        .map(|(name, e)| (name, e.into()))
        .collect();
    let request = CreateRequest {
        name: q.get("name").map(str::to_string),
        config: request.into(),
        host_config: host_config.into(),
        endpoints,
        read_only_non_recursive: crate::compat::container::read_only_binds_non_recursive(version),
        platform: crate::compat::container::create_platform(q.get("platform"), version),
    };
    Ok((request, warnings))
}

/// `GET /containers/{id}/json`.
#[utoipa::path(get, path = "/containers/{id}/json", tag = "Container", params(("id" = String, Path, description = "Container ID or name")),
    responses((status = 200, body = ContainerInspect), (status = 404, description = "No such container")))]
pub async fn inspect(
    State(s): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Path(id): Path<String>,
    q: QueryParams,
) -> Result<Response, ApiError> {
    let c = s.engine.containers().get(&id)?;
    let exec_ids = s.engine.containers().exec_ids(&c.id);
    let render = |exec_ids: Vec<String>| {
        let mut out = crate::types::inspect::inspect(&c, version);
        out.exec_ids = crate::types::responses::non_empty(exec_ids);
        crate::compat::container::short_id_aliases_before_1_45(&mut out, version);
        crate::compat::container::inspect_trimmed_from_1_52(&mut out, version);
        out
    };
    if q.bool("size") {
        let out = render(exec_ids).with_sizes(s.engine.container_size(&c).await);
        return Ok(Json(out).into_response());
    }
    let body = s
        .inspect_cache
        .body(&c, version, exec_ids.clone(), || {
            serde_json::to_vec(&render(exec_ids)).map(Bytes::from)
        })
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// `GET /containers/json`.
#[utoipa::path(get, path = "/containers/json", tag = "Container",
    params(
        ("all" = Option<bool>, Query, description = "Stopped containers too"),
        ("limit" = Option<i64>, Query, description = "At most this many, newest first"),
        ("size" = Option<bool>, Query, description = "With SizeRw and SizeRootFs"),
        ("filters" = Option<String>, Query, description = "JSON map of filter terms")),
    responses((status = 200, body = Vec<ContainerSummary>), (status = 400, description = "Bad parameter")))]
pub async fn list(
    State(s): State<AppState>,
    q: QueryParams,
) -> Result<Json<Vec<ContainerSummary>>, ApiError> {
    let query = ListQuery {
        all: q.bool("all"),
        limit: q
            .get("limit")
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|l| *l > 0),
        filters: q.filters()?,
    };
    let list = s
        .engine
        .containers()
        .list_matching(s.engine.images(), &query)
        .await?;
    let mut out = Vec::with_capacity(list.len());
    for c in &list {
        let entry = summary(c);
        out.push(if q.bool("size") {
            entry.with_sizes(s.engine.container_size(c).await)
        } else {
            entry
        });
    }
    Ok(Json(out))
}

#[utoipa::path(post, path = "/containers/{id}/start", tag = "Container", params(("id" = String, Path, description = "Container ID or name")),
    responses((status = 204, description = "Started"), (status = 304, description = "Already started"), (status = 404, description = "No such container")))]
pub async fn start(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.engine.containers().start(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn timeout_param(q: &QueryParams) -> Result<Option<i64>, ApiError> {
    match q.get("t").or(q.get("timeout")).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => t
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ApiError::invalid(format!("invalid value for t: {t}"))),
    }
}

#[utoipa::path(post, path = "/containers/{id}/stop", tag = "Container", params(("id" = String, Path, description = "Container ID or name")),
    responses((status = 204, description = "Stopped"), (status = 404, description = "No such container"), (status = 409, description = "Conflict")))]
pub async fn stop(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> Result<StatusCode, ApiError> {
    s.engine
        .containers()
        .stop(&id, q.get("signal"), timeout_param(&q)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/containers/{id}/restart", tag = "Container", params(("id" = String, Path, description = "Container ID or name")),
    responses((status = 204, description = "Restarted"), (status = 404, description = "No such container"), (status = 409, description = "Conflict")))]
pub async fn restart(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> Result<StatusCode, ApiError> {
    s.engine
        .containers()
        .restart(&id, q.get("signal"), timeout_param(&q)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/containers/{id}/kill", tag = "Container", params(("id" = String, Path, description = "Container ID or name")),
    responses((status = 204, description = "Killed"), (status = 404, description = "No such container"), (status = 409, description = "Conflict")))]
pub async fn kill(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> Result<StatusCode, ApiError> {
    s.engine
        .containers()
        .kill(&id, q.get("signal").unwrap_or(""))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/containers/{id}/pause", tag = "Container", params(("id" = String, Path, description = "Container ID or name")),
    responses((status = 204, description = "Paused"), (status = 404, description = "No such container"), (status = 409, description = "Conflict")))]
pub async fn pause(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.engine.containers().pause(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/containers/{id}/unpause", tag = "Container", params(("id" = String, Path, description = "Container ID or name")),
    responses((status = 204, description = "Unpaused"), (status = 404, description = "No such container"), (status = 409, description = "Conflict")))]
pub async fn unpause(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.engine.containers().unpause(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/containers/{id}/rename", tag = "Container", params(("id" = String, Path, description = "Container ID or name")),
    responses((status = 204, description = "Renamed"), (status = 404, description = "No such container"), (status = 409, description = "Conflict")))]
pub async fn rename(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> Result<StatusCode, ApiError> {
    s.engine
        .containers()
        .rename(&id, q.get("name").unwrap_or(""))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /containers/{id}/top`.
#[utoipa::path(get, path = "/containers/{id}/top", tag = "Container", params(("id" = String, Path, description = "Container ID or name")),
    responses((status = 200, body = TopResponse), (status = 404, description = "No such container"), (status = 409, description = "Not running")))]
pub async fn top(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> Result<Json<TopResponse>, ApiError> {
    let top = s
        .engine
        .containers()
        .top(&id, q.get("ps_args").unwrap_or(""))
        .await?;
    Ok(Json(TopResponse {
        titles: top.titles,
        processes: top.processes,
    }))
}

/// `POST /commit`: a new image from a container.
#[utoipa::path(post, path = "/commit", tag = "Image",
    responses((status = 201, body = IdResponse), (status = 404, description = "No such container")))]
pub async fn commit(
    State(s): State<AppState>,
    q: QueryParams,
    req: Request,
) -> Result<Response, ApiError> {
    let config = json_object_body(req).await?;
    let id = s
        .engine
        .commit(berth_engine::commit::CommitRequest {
            container: q.get("container").unwrap_or("").to_string(),
            repo: q.get("repo").unwrap_or("").to_string(),
            tag: q.get("tag").unwrap_or("").to_string(),
            comment: q.get("comment").unwrap_or("").to_string(),
            author: q.get("author").unwrap_or("").to_string(),
            // Pausing is the default; only an explicit false turns it off.
            pause: q.get("pause").is_none_or(|_| q.bool("pause")),
            changes: q.all("changes").into_iter().map(str::to_string).collect(),
            config,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(IdResponse { id })).into_response())
}

/// `GET /containers/{id}/stats`: a record per second while `stream` (the default), or one
/// record with its CPU baseline a second earlier; `one-shot` (from 1.41) skips the wait.
#[utoipa::path(get, path = "/containers/{id}/stats", tag = "Container", params(("id" = String, Path, description = "Container ID or name")),
    responses((status = 200, body = crate::types::stats::StatsRecord, description = "One record, or one a second while streaming"), (status = 404, description = "No such container")))]
pub async fn stats(
    State(s): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Path(id): Path<String>,
    q: QueryParams,
) -> Result<Response, ApiError> {
    let (record, pairs) = s
        .engine
        .containers()
        .stats(&id, stats_mode(&q, version))
        .await?;
    let lines = tokio_stream::wrappers::ReceiverStream::new(pairs).map(move |pair| {
        let stats = stats_record(
            &record.name,
            &record.id,
            pair.cur.as_ref(),
            pair.prev.as_ref(),
        );
        let mut line = serde_json::to_vec(&stats).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    });
    Ok(until_shutdown(
        lines,
        s.shutdown.clone(),
        "application/json",
    ))
}

/// A stream of samples unless `stream=0`; `one-shot` (from API 1.41) counts only without a
/// stream, as in moby.
fn stats_mode(q: &QueryParams, version: ApiVersion) -> StatsMode {
    if q.get("stream").is_none_or(|_| q.bool("stream")) {
        StatsMode::Stream
    } else if version.ge(1, 41) && q.bool("one-shot") {
        StatsMode::OneShot
    } else {
        StatsMode::Single
    }
}

/// `POST /containers/{id}/update`.
#[utoipa::path(post, path = "/containers/{id}/update", tag = "Container",
    request_body = wire::ContainerUpdateRequest,
    responses((status = 200, body = ContainerUpdateResponse), (status = 404, description = "No such container")))]
pub async fn update(
    State(s): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Json<ContainerUpdateResponse>, ApiError> {
    let u: wire::ContainerUpdateRequest = go_json_body(req, "container.UpdateConfig")
        .await?
        .unwrap_or_default();
    let blkio = crate::compat::container::per_device_blkio_updated_from_1_55(version);
    let changes = u.into_resource_update(blkio);
    let warnings = s.engine.containers().update(&id, changes).await?;
    Ok(Json(ContainerUpdateResponse {
        warnings: (!warnings.is_empty()).then_some(warnings),
    }))
}

/// `GET /containers/{id}/changes`: `null` when nothing changed, as moby answers.
#[utoipa::path(get, path = "/containers/{id}/changes", tag = "Container", params(("id" = String, Path, description = "Container ID or name")),
    responses((status = 200, body = Option<Vec<FilesystemChange>>), (status = 404, description = "No such container")))]
pub async fn changes(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Option<Vec<FilesystemChange>>>, ApiError> {
    let changes = s.engine.containers().changes(&id).await?;
    Ok(Json((!changes.is_empty()).then(|| {
        changes
            .iter()
            .map(|c| FilesystemChange {
                path: c.path.clone(),
                kind: c.kind,
            })
            .collect()
    })))
}

/// `GET /containers/{id}/export`: the root filesystem as a tar stream.
#[utoipa::path(get, path = "/containers/{id}/export", tag = "Container", params(("id" = String, Path, description = "Container ID or name")),
    responses((status = 200, description = "The root filesystem as a tar archive", content_type = "application/x-tar"), (status = 404, description = "No such container")))]
pub async fn export(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    s.engine.containers().export(&id, tx).await?;
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    Ok(resp)
}

/// `DELETE /containers/{parent}/{alias}?link=1`: removes a legacy link (moby's container
/// names may hold a slash, the link's `/parent/alias`).
pub async fn remove_link(
    State(s): State<AppState>,
    Path((parent, alias)): Path<(String, String)>,
    q: QueryParams,
) -> Result<StatusCode, ApiError> {
    let name = format!("{parent}/{alias}");
    if !q.bool("link") {
        return Err(ApiError::from(berth_engine::Error::not_found(format!(
            "No such container: {name}"
        ))));
    }
    s.engine.containers().remove_link(&name)?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/containers/{id}", tag = "Container", params(("id" = String, Path, description = "Container ID or name")),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such container"), (status = 409, description = "Conflict")))]
pub async fn remove(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> Result<StatusCode, ApiError> {
    s.engine
        .containers()
        .remove_with_volumes(&id, q.bool("force"), q.bool("v"))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/containers/{id}/resize", tag = "Container", params(("id" = String, Path, description = "Container ID or name")),
    responses((status = 200, description = "Resized"), (status = 404, description = "No such container")))]
pub async fn resize(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> Result<StatusCode, ApiError> {
    let num = |k: &str| -> Result<u32, ApiError> {
        q.get(k)
            .unwrap_or("0")
            .parse()
            .map_err(|_| ApiError::invalid(format!("invalid value for {k}")))
    };
    s.engine
        .containers()
        .resize(&id, num("h")?, num("w")?)
        .await?;
    Ok(StatusCode::OK)
}

/// `POST /containers/{id}/wait`: 200 and headers at once, the body when the condition holds.
#[utoipa::path(post, path = "/containers/{id}/wait", tag = "Container", params(("id" = String, Path, description = "Container ID or name")),
    responses((status = 200, body = ContainerWaitResponse), (status = 400, description = "Bad condition"), (status = 404, description = "No such container")))]
pub async fn wait(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> Result<Response, ApiError> {
    let condition = match q.get("condition").unwrap_or("") {
        "" | "not-running" => WaitCondition::NotRunning,
        "next-exit" => WaitCondition::NextExit,
        "removed" => WaitCondition::Removed,
        other => return Err(ApiError::invalid(format!("invalid condition: \"{other}\""))),
    };
    let done = s.engine.containers().wait(&id, condition)?;
    let body = futures_util::stream::once(async move {
        let code = done.await;
        let mut line =
            serde_json::to_vec(&ContainerWaitResponse { status_code: code }).unwrap_or_default();
        line.push(b'\n');
        Ok::<_, std::convert::Infallible>(Bytes::from(line))
    });
    let mut resp = Response::new(Body::from_stream(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// `POST /containers/{id}/attach`: hijacks the connection (101 UPGRADED) and relays stdio.
#[utoipa::path(post, path = "/containers/{id}/attach", tag = "Container", params(("id" = String, Path, description = "Container ID or name")),
    responses((status = 101, description = "Hijacked: the container's stdio"), (status = 200, description = "The container's output"), (status = 404, description = "No such container")))]
pub async fn attach(
    State(s): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Path(id): Path<String>,
    q: QueryParams,
    mut req: Request,
) -> Result<Response, ApiError> {
    let handle = s
        .engine
        .containers()
        .attach(&id, q.bool("stdin"), q.bool("stream"), q.bool("logs"))
        .await?;
    let streams = Relayed {
        raw: handle.tty,
        stdout: q.bool("stdout"),
        stderr: q.bool("stderr"),
        detach_keys: detach_keys(handle.tty, q.get("detachKeys"))?,
    };
    let content_type = stream_content_type(handle.tty, version);
    if !wants_tcp_upgrade(&req) {
        return Ok(output_only(handle, streams, content_type));
    }
    on_upgrade(hyper::upgrade::on(&mut req), move |io| {
        relay(io, handle, streams)
    });
    Ok(switching_protocols(content_type))
}

/// An attach without `Upgrade` (old clients): output only, as a raw close-delimited
/// HTTP/1.0 body.
fn output_only(handle: AttachHandle, streams: Relayed, content_type: &'static str) -> Response {
    let stream = output_stream(handle, streams.raw, streams.stdout, streams.stderr);
    let mut resp = Response::new(Body::from_stream(
        stream.map(Ok::<_, std::convert::Infallible>),
    ));
    *resp.version_mut() = http::Version::HTTP_10;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// `GET /containers/{id}/attach/ws`: the attach streams over a WebSocket, raw (no stdcopy
/// framing) in binary frames, text frames below API 1.28. Below 1.42 the `stdin`, `stdout`
/// and `stderr` parameters are ignored and every stream is attached, as in moby.
#[utoipa::path(get, path = "/containers/{id}/attach/ws", tag = "Container", params(("id" = String, Path, description = "Container ID or name")),
    responses((status = 101, description = "Switched to a WebSocket carrying the container's stdio"), (status = 404, description = "No such container")))]
pub async fn attach_ws(
    State(s): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Path(id): Path<String>,
    q: QueryParams,
    mut req: Request,
) -> Result<Response, ApiError> {
    let key = crate::websocket::handshake_key(req.headers())?;
    let wants = |stream: &str| version.lt(1, 42) || q.bool(stream);
    let handle = s
        .engine
        .containers()
        .attach(&id, wants("stdin"), q.bool("stream"), q.bool("logs"))
        .await?;
    let streams = Relayed {
        raw: true,
        stdout: wants("stdout"),
        stderr: wants("stderr"),
        detach_keys: detach_keys(handle.tty, q.get("detachKeys"))?,
    };
    let opcode = match version.lt(1, 28) {
        true => crate::websocket::OP_TEXT,
        false => crate::websocket::OP_BINARY,
    };
    on_upgrade(hyper::upgrade::on(&mut req), move |io| {
        relay_websocket(io, opcode, handle, streams)
    });
    Ok(crate::websocket::switching_protocols(&key))
}

/// `GET /containers/{id}/logs`.
#[utoipa::path(get, path = "/containers/{id}/logs", tag = "Container", params(("id" = String, Path, description = "Container ID or name")),
    responses((status = 200, description = "The log, multiplexed unless the container has a TTY"), (status = 404, description = "No such container")))]
pub async fn logs(
    State(s): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Path(id): Path<String>,
    q: QueryParams,
) -> Result<Response, ApiError> {
    let (tty, rx) = s.engine.containers().logs(&id, logs_request(&q)?)?;
    let (timestamps, details) = (q.bool("timestamps"), q.bool("details"));
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx).map(move |batch| {
        let mut out = Vec::with_capacity(batch.iter().map(|e| e.line.len() + 8).sum());
        let mut line = Vec::new();
        for e in &batch {
            line.clear();
            log_line(&mut line, e, timestamps, details);
            frame_into(&mut out, tty, e.stream, &line);
        }
        Ok::<_, std::convert::Infallible>(Bytes::from(out))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(stream_content_type(tty, version)),
    );
    Ok(resp)
}

/// `GET /containers/{id}/logs`'s query, with moby's texts for bad values.
fn logs_request(q: &QueryParams) -> Result<LogsRequest, ApiError> {
    let (stdout, stderr) = (q.bool("stdout"), q.bool("stderr"));
    if !stdout && !stderr {
        return Err(ApiError::invalid(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let time = |k: &str| -> Result<Option<i128>, ApiError> {
        match q.get(k).filter(|v| !v.is_empty() && *v != "0") {
            None => Ok(None),
            Some(v) => parse_time(v)
                .map(Some)
                .ok_or_else(|| ApiError::invalid(format!("invalid value for {k}: {v}"))),
        }
    };
    let tail = match q.get("tail").unwrap_or("all") {
        "all" | "" => None,
        t => Some(
            t.parse::<i64>()
                .map_err(|_| ApiError::invalid(format!("invalid value for tail: {t}")))?
                .max(0) as usize,
        ),
    };
    Ok(LogsRequest {
        stdout,
        stderr,
        follow: q.bool("follow"),
        since_nanos: time("since")?,
        until_nanos: time("until")?,
        tail,
    })
}

/// One entry as `docker logs` prints it, appended to `line`: with `-t` its time, with
/// `--details` its attributes as `k=v,k=v ` (sorted), as dockerd prints them.
fn log_line(
    line: &mut Vec<u8>,
    e: &berth_engine::container::logs::LogEntry,
    timestamps: bool,
    details: bool,
) {
    if timestamps {
        line.extend_from_slice(fixed_nanos(&e.time).as_bytes());
        line.push(b' ');
    }
    if details && !e.attrs.is_empty() {
        let attrs: Vec<String> = e.attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        line.extend_from_slice(attrs.join(",").as_bytes());
        line.push(b' ');
    }
    line.extend_from_slice(&e.line);
}

/// `docker logs -t` always prints nine fractional digits (the log file may trim zeros).
fn fixed_nanos(rfc3339: &str) -> String {
    let Some(body) = rfc3339.strip_suffix('Z') else {
        return rfc3339.to_string();
    };
    let (secs, frac) = body.split_once('.').unwrap_or((body, ""));
    format!("{secs}.{:0<9}Z", &frac[..frac.len().min(9)])
}

/// Unix `seconds[.nanos]`, or RFC 3339.
fn parse_time(v: &str) -> Option<i128> {
    if let Some((s, n)) = v.split_once('.') {
        let secs: i128 = s.parse().ok()?;
        let nanos: i128 = format!("{n:0<9}").get(..9)?.parse().ok()?;
        return Some(secs * 1_000_000_000 + nanos);
    }
    if let Ok(secs) = v.parse::<i128>() {
        return Some(secs * 1_000_000_000);
    }
    let t = berth_engine::container::logs::parse_time_nanos(v);
    (t != 0).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_timestamps_have_nine_digits() {
        assert_eq!(
            fixed_nanos("2026-11-22T06:52:09.2266493Z"),
            "2026-11-22T06:52:09.226649300Z"
        );
        assert_eq!(
            fixed_nanos("2026-11-22T06:52:09Z"),
            "2026-11-22T06:52:09.000000000Z"
        );
    }

    #[test]
    fn log_times() {
        assert_eq!(parse_time("5"), Some(5_000_000_000));
        assert_eq!(parse_time("5.25"), Some(5_250_000_000));
        assert_eq!(parse_time("nope"), None);
    }
}
