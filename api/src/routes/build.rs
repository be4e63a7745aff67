//! `POST /build` (the classic builder): the context tar in the body, progress as JSON lines
//! (`stream`, the image ID in `aux`, errors in `errorDetail`).

use std::collections::BTreeMap;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::Response;
use berth_engine::build::{BuildRequest, Progress};
use berth_engine::container::spec::HostConfig;
use http::{HeaderValue, header};
use serde_json::{Value, json};

use super::AppState;
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::stream::JsonMessage;

fn json_map(q: &QueryParams, key: &str) -> Result<Option<Map>, ApiError> {
    match q.get(key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => serde_json::from_str::<Map>(v)
            .map(Some)
            .map_err(|e| ApiError::invalid(format!("invalid {key}: {e}"))),
    }
}

type Map = serde_json::Map<String, Value>;

/// A query value holding a JSON array of strings (`cachefrom`); absent or empty: none.
fn json_list(q: &QueryParams, key: &str) -> Result<Vec<String>, ApiError> {
    match q.get(key).filter(|v| !v.is_empty()) {
        None => Ok(vec![]),
        Some(v) => {
            serde_json::from_str(v).map_err(|e| ApiError::invalid(format!("invalid {key}: {e}")))
        }
    }
}

/// Builds started with a `buildid`, which `POST /build/cancel?id=` stops.
static CANCELLABLE: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Notify>>>,
> = std::sync::LazyLock::new(Default::default);

/// `POST /build/cancel?id=`: stops the build started with that `buildid` (its step's
/// container is removed); an unknown ID is not an error, as on dockerd.
pub async fn cancel(q: QueryParams) -> http::StatusCode {
    let id = q.get("id").unwrap_or("");
    if let Some(n) = CANCELLABLE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(id)
    {
        n.notify_one();
    }
    http::StatusCode::OK
}

/// The query's resource settings and extra hosts for RUN containers, as host config fields.
fn run_host_config(q: &QueryParams) -> Result<HostConfig, ApiError> {
    let mut h = HostConfig::default();
    let hosts: Vec<String> = q
        .all("extrahosts")
        .into_iter()
        .flat_map(|v| v.split(','))
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect();
    if !hosts.is_empty() {
        h.extra_hosts = Some(hosts);
    }
    for (param, field) in [
        ("shmsize", &mut h.shm_size),
        ("memory", &mut h.memory),
        ("memswap", &mut h.memory_swap),
        ("cpushares", &mut h.cpu_shares),
        ("cpuperiod", &mut h.cpu_period),
        ("cpuquota", &mut h.cpu_quota),
    ] {
        if let Some(v) = q.get(param).filter(|v| !v.is_empty()) {
            let n: i64 = v
                .parse()
                .map_err(|_| ApiError::invalid(format!("invalid {param}: {v}")))?;
            if n != 0 {
                *field = Some(n);
            }
        }
    }
    for (param, field) in [
        ("cpusetcpus", &mut h.cpuset_cpus),
        ("cpusetmems", &mut h.cpuset_mems),
    ] {
        if let Some(v) = q.get(param).filter(|v| !v.is_empty()) {
            *field = Some(v.to_string());
        }
    }
    Ok(h)
}

#[utoipa::path(post, path = "/build", tag = "Image",
    request_body(content = Vec<u8>, content_type = "application/x-tar", description = "The build context"),
    responses((status = 200, description = "Progress as a stream of JSON messages"), (status = 400, description = "Bad parameter")))]
pub async fn build(
    State(s): State<AppState>,
    q: QueryParams,
    headers: http::HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let req = build_request(&q, &headers)?;
    // A `remote` context (a tarball served by this host) replaces the body.
    let context: Box<dyn std::io::Read + Send> = match q.get("remote").filter(|r| !r.is_empty()) {
        Some(url) => Box::new(std::io::Cursor::new(
            berth_engine::build::context::fetch_remote(url).await?,
        )),
        None => Box::new(crate::stream::BodyReader::new(body)),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Progress>(64);
    let engine = s.engine.clone();
    let build = tokio::spawn(async move { engine.build(req, context, tx).await });
    let build_id = q.get("buildid").filter(|b| !b.is_empty());
    let lines_rx = progress_lines(build, rx, build_id.map(str::to_string), q.bool("q"));
    let mut resp = Response::new(Body::from_stream(
        tokio_stream::wrappers::ReceiverStream::new(lines_rx),
    ));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// `POST /build`'s query and headers as the engine's request, with moby's texts for bad values.
fn build_request(q: &QueryParams, headers: &http::HeaderMap) -> Result<BuildRequest, ApiError> {
    // `X-Registry-Config`: auth configs by registry, for base images to pull.
    let registry_auth = super::images::base64_json_header(headers, "X-Registry-Config")
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default()
        .into_iter()
        .map(|(registry, auth)| (registry, super::images::credentials_of(&auth)))
        .collect();
    let build_args: BTreeMap<String, Option<String>> = json_map(q, "buildargs")?
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.as_str().map(str::to_string)))
        .collect();
    let labels: BTreeMap<String, String> = json_map(q, "labels")?
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string()))
        .collect();
    if let Some(platform) = q.get("platform").filter(|p| !p.is_empty()) {
        let host = format!("linux/{}", berth_engine::image::archive::host_arch());
        if !platform.eq_ignore_ascii_case(&host) && !platform.eq_ignore_ascii_case("linux") {
            return Err(ApiError::invalid(format!(
                "\"{platform}\": this daemon builds for {host} only"
            )));
        }
    }
    let run_host_config = run_host_config(q)?;
    Ok(BuildRequest {
        tags: q.all("t").into_iter().map(str::to_string).collect(),
        dockerfile: q.get("dockerfile").unwrap_or("").to_string(),
        build_args,
        labels,
        target: q.get("target").unwrap_or("").to_string(),
        no_cache: q.bool("nocache"),
        // The API's default is to remove intermediate containers.
        remove: q.get("rm").is_none_or(|_| q.bool("rm")),
        force_remove: q.bool("forcerm"),
        network_mode: q.get("networkmode").unwrap_or("").to_string(),
        pull: q.bool("pull"),
        run_host_config,
        registry_auth,
        cache_from: json_list(q, "cachefrom")?,
    })
}

/// The build's progress as dockerd's JSON lines, from a task that also ends the build when
/// the client goes away or `POST /build/cancel` names `build_id`.
fn progress_lines(
    build: tokio::task::JoinHandle<Result<String, berth_engine::build::BuildFailure>>,
    mut rx: tokio::sync::mpsc::Receiver<Progress>,
    build_id: Option<String>,
    quiet: bool,
) -> tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>> {
    let (lines_tx, lines_rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let cancel = std::sync::Arc::new(tokio::sync::Notify::new());
    if let Some(id) = &build_id {
        CANCELLABLE
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), cancel.clone());
    }
    tokio::spawn(async move {
        let forgotten = build_id.clone();
        let _forget = Forget(forgotten);
        loop {
            // A client that goes away, or a cancel, ends this loop: the build sees its
            // progress channel close and stops.
            let p = tokio::select! {
                p = rx.recv() => match p {
                    Some(p) => p,
                    None => break,
                },
                _ = lines_tx.closed() => return,
                _ = cancel.notified() => {
                    drop(rx);
                    let _ = build.await;
                    let _ = lines_tx.send(Ok(JsonMessage::error("context canceled").to_line())).await;
                    return;
                }
            };
            let msg = match p {
                // Quiet builds show nothing but the result (and errors).
                Progress::Stream(_) if quiet => continue,
                Progress::Stream(text) => JsonMessage::stream(text),
                // Quiet builds answer only the ID, as a stream line (as dockerd does).
                Progress::Id(id) if quiet => JsonMessage::stream(format!("{id}\n")),
                Progress::Id(id) => JsonMessage {
                    aux: Some(json!({"ID": id})),
                    ..Default::default()
                },
            };
            if lines_tx.send(Ok(msg.to_line())).await.is_err() {
                return;
            }
        }
        let mut failure = match build.await {
            Ok(Ok(_)) => return,
            Ok(Err(e)) => {
                let mut m = JsonMessage::error(e.message);
                if let Some(d) = m.error_detail.as_mut() {
                    d.code = e.code;
                }
                m
            }
            Err(e) => JsonMessage::error(format!("the build stopped: {e}")),
        };
        failure.stream = None;
        let _ = lines_tx.send(Ok(failure.to_line())).await;
    });
    lines_rx
}

/// Takes a finished build off the cancellable list.
struct Forget(Option<String>);

impl Drop for Forget {
    fn drop(&mut self) {
        if let Some(id) = &self.0 {
            CANCELLABLE
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(id);
        }
    }
}
