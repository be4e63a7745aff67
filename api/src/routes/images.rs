//! `/images/*`: list, load, inspect, history, tag, remove. Image names contain `/` and `:`,
//! so `/images/{name}/<action>` is split by hand, as moby's greedy `{name:.*}` does.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use berth_engine::image::listing::ImageListQuery;
use berth_engine::image::store::ImageEntry;
use futures_util::StreamExt as _;
use http::StatusCode;

use super::AppState;
use crate::compat::image::{adapt_inspect, adapt_summary, inspect_config};
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::stream::{JsonMessage, json_messages, spool_body};
use crate::types::image::*;
use crate::types::responses::AuthResponse;
use crate::version::ApiVersion;

#[utoipa::path(get, path = "/images/json", tag = "Image",
    responses((status = 200, body = [ImageSummary])))]
pub async fn list(
    State(s): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    q: QueryParams,
) -> Result<Json<Vec<ImageSummary>>, ApiError> {
    // moby checks the version gates before the filter terms.
    crate::compat::image::identity_needs_manifests_from_1_54(
        q.bool("identity"),
        q.bool("manifests"),
        version,
    )?;
    let query = ImageListQuery {
        all: q.bool("all"),
        filters: q.filters()?,
        // Honoured from 1.42; below, SharedSize stays -1 as in moby.
        shared_sizes: version.ge(1, 42) && q.bool("shared-size"),
        count_containers: crate::compat::image::containers_counted_from_1_51(version),
    };
    let list = s.engine.list_images(&query).await?;
    Ok(Json(
        list.into_iter()
            .map(|l| {
                // -1 is moby's "not counted".
                let (containers, shared) =
                    (l.containers.unwrap_or(-1), l.shared_size.unwrap_or(-1));
                image_summary(&l.entry, l.tags, l.digests, containers, shared, version)
            })
            .collect(),
    ))
}

/// One entry of the images list (and of `system df`), shaped for `version`.
pub(crate) fn image_summary(
    e: &ImageEntry,
    tags: Vec<String>,
    digests: Vec<String>,
    containers: i64,
    shared_size: i64,
    version: ApiVersion,
) -> ImageSummary {
    let mut summary = ImageSummary {
        containers,
        created: e.created_unix,
        id: e.resolved.id.clone(),
        labels: (!e.labels.is_empty()).then(|| e.labels.clone()),
        parent_id: e.resolved.parent.clone(),
        repo_digests: Some(digests),
        repo_tags: Some(tags),
        shared_size,
        size: e.size,
        virtual_size: None,
    };
    adapt_summary(&mut summary, version);
    summary
}

#[utoipa::path(post, path = "/images/load", tag = "Image",
    params(("quiet" = Option<bool>, Query)),
    responses((status = 200, description = "JSON progress stream")))]
pub async fn load(
    State(s): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    q: QueryParams,
    body: Body,
) -> Result<Response, ApiError> {
    // Every image Berth stores has one platform, the host's: the platforms asked for are
    // checked, not used to choose.
    crate::compat::image::save_load_platforms(&q.all("platform"), version)?;
    // The archive is unpacked as it arrives; it is never stored whole.
    let result = s
        .engine
        .images()
        .load_reader(crate::stream::BodyReader::new(body))
        .await
        .map_err(ApiError::from);
    // Errors from reading the archive go in-band, as dockerd reports them.
    let messages = match result {
        Ok(lines) => lines
            .into_iter()
            .map(|l| JsonMessage::stream(format!("{l}\n")))
            .collect(),
        Err(e) if e.status.is_client_error() => vec![JsonMessage::error(e.message)],
        Err(e) => return Err(e),
    };
    Ok(json_messages(messages))
}

fn rand_u64() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    nanos ^ (u64::from(std::process::id()) << 32)
}

/// GET `/images/{name}/json|history`.
pub async fn get_by_name(
    State(s): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Path(rest): Path<String>,
    q: QueryParams,
) -> Result<Response, ApiError> {
    if let Some(name) = rest.strip_suffix("/json") {
        return inspect(&s, version, name)
            .await
            .map(IntoResponse::into_response);
    }
    if let Some(name) = rest.strip_suffix("/history") {
        return history(&s, name).await.map(IntoResponse::into_response);
    }
    if let Some(name) = rest.strip_suffix("/attestations") {
        return attestations(&s, version, name, &q)
            .await
            .map(IntoResponse::into_response);
    }
    if let Some(name) = rest.strip_suffix("/get") {
        crate::compat::image::save_load_platforms(&q.all("platform"), version)?;
        return save(&s, vec![name.to_string()]).await;
    }
    Err(ApiError::not_found("page not found"))
}

/// `GET /images/{name}/attestations` (API 1.55): the image's in-toto statements.
#[utoipa::path(get, path = "/images/{name}/attestations", tag = "Image",
    params(("name" = String, Path), ("platform" = Option<Vec<String>>, Query),
        ("type" = Option<Vec<String>>, Query), ("statement" = Option<bool>, Query)),
    responses((status = 200, body = Vec<AttestationStatement>)))]
pub async fn attestations(
    s: &AppState,
    version: ApiVersion,
    name: &str,
    q: &QueryParams,
) -> Result<Json<Vec<AttestationStatement>>, ApiError> {
    let (types, statement) = attestation_query(q, version)?;
    let found = s
        .engine
        .images()
        .attestations(name, &types, statement)
        .await?;
    Ok(Json(found.into_iter().map(Into::into).collect()))
}

/// The attestation query: the statement types asked for and whether to include the
/// statements. One platform at most, and only the host's (every image Berth stores has the
/// host's platform only).
fn attestation_query(
    q: &QueryParams,
    version: ApiVersion,
) -> Result<(Vec<String>, bool), ApiError> {
    if version.lt(1, 55) {
        return Err(ApiError::invalid(
            "GET /images/{name:.*}/attestations requires minimum API version 1.55",
        ));
    }
    let platforms = q.all("platform");
    if platforms.len() > 1 {
        return Err(ApiError::invalid(
            "only one platform value is currently supported",
        ));
    }
    let platforms: Vec<&str> = platforms.into_iter().filter(|p| !p.is_empty()).collect();
    crate::compat::image::save_load_platforms(&platforms, version)?;
    let types = q
        .all("type")
        .into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    Ok((types, q.bool("statement")))
}

#[utoipa::path(get, path = "/images/{name}/json", tag = "Image",
    params(("name" = String, Path)), responses((status = 200, body = ImageInspect)))]
pub async fn inspect(
    s: &AppState,
    version: ApiVersion,
    name: &str,
) -> Result<Json<ImageInspect>, ApiError> {
    let e = s.engine.images().find(name).await?;
    let mut img = image_inspect(&e, version);
    adapt_inspect(&mut img, version);
    Ok(Json(img))
}

/// An image as `GET /images/{name}/json` shows it in its newest shape (`adapt_inspect`
/// adapts it to older versions).
fn image_inspect(e: &ImageEntry, version: ApiVersion) -> ImageInspect {
    let r = &e.resolved;
    let c = &r.config;
    ImageInspect {
        id: r.id.clone(),
        repo_tags: e.repo_tags(),
        repo_digests: e.repo_digests(),
        parent: Some(r.parent.clone()),
        comment: c.comment.clone(),
        created: c.created.clone(),
        container: None,
        container_config: None,
        docker_version: c.docker_version.clone(),
        author: c.author.clone(),
        config: inspect_config(c.config.as_ref(), version),
        architecture: c.architecture.clone(),
        variant: c.variant.clone().filter(|v| !v.is_empty()),
        os: c.os.clone(),
        os_version: c.os_version.clone().filter(|v| !v.is_empty()),
        size: e.size,
        virtual_size: None,
        graph_driver: Some(GraphDriver {
            data: None,
            name: "overlayfs".into(),
        }),
        root_fs: RootFs {
            kind: if c.rootfs.kind.is_empty() {
                "layers".into()
            } else {
                c.rootfs.kind.clone()
            },
            layers: c.rootfs.diff_ids.clone(),
        },
        metadata: ImageMetadata {
            last_tag_time: "0001-01-01T00:00:00Z".into(),
        },
        descriptor: Some(OciDescriptor {
            media_type: r.target.media_type.clone(),
            digest: r.target.digest.clone(),
            size: r.target.size,
            annotations: None,
        }),
    }
}

#[utoipa::path(get, path = "/images/{name}/history", tag = "Image",
    params(("name" = String, Path)), responses((status = 200, body = [HistoryItem])))]
pub async fn history(s: &AppState, name: &str) -> Result<Json<Vec<HistoryItem>>, ApiError> {
    let steps = s.engine.images().history(name).await?;
    Ok(Json(steps.into_iter().map(Into::into).collect()))
}

/// POST `/images/{name}/tag`.
pub async fn post_by_name(
    State(s): State<AppState>,
    Path(rest): Path<String>,
    q: QueryParams,
    headers: http::HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(name) = rest.strip_suffix("/tag") {
        return tag(&s, name, &q).await;
    }
    if let Some(name) = rest.strip_suffix("/push") {
        return push(&s, name, &q, &headers);
    }
    Err(ApiError::not_found("page not found"))
}

/// `POST /images/{name}/push?tag=`: progress streamed, the result as `aux`, errors in-band.
#[utoipa::path(post, path = "/images/{name}/push", tag = "Image", params(("name" = String, Path, description = "Image name")),
    responses((status = 200, description = "Progress as a stream of JSON messages, the pushed digest in an aux message"), (status = 404, description = "No such image")))]
pub(crate) fn push(
    s: &AppState,
    name: &str,
    q: &QueryParams,
    headers: &http::HeaderMap,
) -> Result<Response, ApiError> {
    let reference = match q.get("tag").filter(|t| !t.is_empty()) {
        Some(tag) => format!("{name}:{tag}"),
        None => name.to_string(),
    };
    let credentials = registry_auth(headers);
    let engine = s.engine.clone();
    Ok(progress_stream(move |tx| async move {
        let (tag, digest, size) = engine.images().push(&reference, credentials, tx).await?;
        Ok(Some(
            serde_json::json!({"Tag": tag, "Digest": digest, "Size": size}),
        ))
    }))
}

/// Runs a registry operation, streaming its progress lines, then its `aux` result or its
/// error (in-band, as the CLI expects once the 200 is sent).
fn progress_stream<F, Fut>(op: F) -> Response
where
    F: FnOnce(tokio::sync::mpsc::Sender<berth_engine::image::pull::Progress>) -> Fut
        + Send
        + 'static,
    Fut: std::future::Future<Output = berth_engine::Result<Option<serde_json::Value>>> + Send,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let (out_tx, out_rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let work = op(tx);
        tokio::pin!(work);
        let result = loop {
            tokio::select! {
                r = &mut work => break r,
                Some(p) = rx.recv() => {
                    let _ = out_tx.send(progress_line(&p)).await;
                }
            }
        };
        while let Ok(p) = rx.try_recv() {
            let _ = out_tx.send(progress_line(&p)).await;
        }
        let last = match result {
            Ok(Some(aux)) => JsonMessage {
                aux: Some(aux),
                ..Default::default()
            }
            .to_line(),
            Ok(None) => return,
            Err(e) => JsonMessage::error(e.message).to_line(),
        };
        let _ = out_tx.send(last).await;
    });
    let stream =
        tokio_stream::wrappers::ReceiverStream::new(out_rx).map(Ok::<_, std::convert::Infallible>);
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

#[utoipa::path(post, path = "/images/{name}/tag", tag = "Image",
    params(("name" = String, Path), ("repo" = String, Query), ("tag" = Option<String>, Query)),
    responses((status = 201, description = "tagged")))]
pub async fn tag(s: &AppState, name: &str, q: &QueryParams) -> Result<Response, ApiError> {
    let repo = q.get("repo").unwrap_or_default();
    if repo.is_empty() {
        return Err(ApiError::invalid(
            "repository name must have at least one component",
        ));
    }
    s.engine
        .images()
        .tag(name, repo, q.get("tag").unwrap_or_default())
        .await?;
    Ok(StatusCode::CREATED.into_response())
}

#[utoipa::path(delete, path = "/images/{name}", tag = "Image",
    params(("name" = String, Path), ("force" = Option<bool>, Query), ("noprune" = Option<bool>, Query)),
    responses((status = 200, body = [DeleteResponseItem])))]
pub async fn remove(
    State(s): State<AppState>,
    Path(name): Path<String>,
    q: QueryParams,
) -> Result<Json<Vec<DeleteResponseItem>>, ApiError> {
    let removed = s
        .engine
        .remove_image(&name, q.bool("force"), q.bool("noprune"))
        .await?;
    Ok(Json(removed.into_iter().map(Into::into).collect()))
}

#[utoipa::path(get, path = "/images/get", tag = "Image",
    params(("names" = Vec<String>, Query)),
    responses((status = 200, description = "a docker-archive tar", content_type = "application/x-tar")))]
pub async fn save_many(
    State(s): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    q: QueryParams,
) -> Result<Response, ApiError> {
    crate::compat::image::save_load_platforms(&q.all("platform"), version)?;
    let names: Vec<String> =
        q.0.iter()
            .filter(|(k, _)| k == "names")
            .map(|(_, v)| v.clone())
            .collect();
    save(&s, names).await
}

#[utoipa::path(get, path = "/images/{name}/get", tag = "Image", params(("name" = String, Path, description = "Image name or ID")),
    responses((status = 200, description = "The image as a docker-archive tarball", content_type = "application/x-tar"), (status = 404, description = "No such image")))]
pub(crate) async fn save(s: &AppState, names: Vec<String>) -> Result<Response, ApiError> {
    let path = s.engine.images().save(&names).await?;
    crate::stream::scratch_file_response(&path, "application/x-tar").await
}

/// `POST /images/create`: `fromSrc` imports a rootfs tarball; `fromImage` pulls, which is
/// not supported yet (the error is reported in the stream, as pull errors are).
#[utoipa::path(post, path = "/images/create", tag = "Image",
    params(("fromSrc" = Option<String>, Query), ("fromImage" = Option<String>, Query),
        ("repo" = Option<String>, Query), ("tag" = Option<String>, Query),
        ("message" = Option<String>, Query), ("changes" = Option<Vec<String>>, Query)),
    responses((status = 200, description = "JSON progress stream")))]
pub async fn create(
    State(s): State<AppState>,
    q: QueryParams,
    headers: http::HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if q.get("fromSrc").is_none() {
        crate::stream::drain(body, crate::error::DRAIN_LIMIT).await;
        return pull(&s, &q, &headers);
    }
    let reference = match import_reference(&q) {
        Ok(r) => r,
        Err(e) => {
            crate::stream::drain(body, crate::error::DRAIN_LIMIT).await;
            return Err(e);
        }
    };
    let id = import_body(&s, body, reference, &q).await?;
    Ok(json_messages(vec![JsonMessage {
        status: Some(id),
        ..Default::default()
    }]))
}

/// The name an import is tagged with: `repo` and `tag` (latest by default), or none. Only
/// the request body is imported (`fromSrc=-`).
fn import_reference(
    q: &QueryParams,
) -> Result<Option<berth_engine::image::reference::Reference>, ApiError> {
    if q.get("fromSrc") != Some("-") {
        return Err(ApiError::invalid(
            "importing from a URL is not supported: this daemon reaches no outside address",
        ));
    }
    let Some(repo) = q.get("repo").filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let joined = match q.get("tag").unwrap_or_default() {
        "" => repo.to_string(),
        tag => format!("{repo}:{tag}"),
    };
    berth_engine::image::reference::Reference::parse_normalized(&joined)
        .map(|r| Some(r.with_default_tag()))
        .map_err(|e| ApiError::invalid(e.to_string()))
}

/// Spools the request body (a root filesystem tarball) to the scratch directory and
/// imports it as a one-layer image with the query's `message` and `changes`; the spooled
/// file goes either way. Returns the ID.
async fn import_body(
    s: &AppState,
    body: Body,
    reference: Option<berth_engine::image::reference::Reference>,
    q: &QueryParams,
) -> Result<String, ApiError> {
    let changes: Vec<String> = q.all("changes").into_iter().map(str::to_string).collect();
    let message = q.get("message").unwrap_or_default();
    let images = s.engine.images();
    let path = images
        .scratch_dir()
        .join(format!("import-{:016x}.tar", rand_u64()));
    let result = match spool_body(body, &path).await {
        Ok(_) => images
            .import_rootfs(&path, reference, message, &changes)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    let _ = tokio::fs::remove_file(&path).await;
    result
}

/// `POST /auth`: `docker login` checks the credentials with the registry.
#[utoipa::path(post, path = "/auth", tag = "System",
    responses((status = 200, body = AuthResponse), (status = 401, description = "The registry refused the credentials")))]
pub async fn auth(
    State(s): State<AppState>,
    req: axum::extract::Request,
) -> Result<Json<AuthResponse>, ApiError> {
    let body = crate::extract::json_body(req)
        .await?
        .ok_or_else(|| ApiError::invalid("invalid JSON: got EOF while reading request body"))?;
    let field = |k: &str| {
        body.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    s.engine
        .images()
        .login(
            &field("serveraddress"),
            &field("username"),
            &field("password"),
        )
        .await?;
    Ok(Json(AuthResponse {
        status: "Login Succeeded".into(),
        identity_token: String::new(),
    }))
}

/// `GET /images/search`: Docker Hub is never reachable from this daemon, so the answer is a
/// clear error at once rather than a hang.
#[utoipa::path(get, path = "/images/search", tag = "Image",
    responses((status = 503, description = "Docker Hub is not reachable from this daemon")))]
pub async fn search() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "image search is not available: this daemon does not reach Docker Hub",
    )
}

/// `GET /distribution/{name}/json`.
#[utoipa::path(get, path = "/distribution/{name}/json", tag = "Distribution", params(("name" = String, Path, description = "Image name")),
    responses((status = 200, body = DistributionInspect), (status = 401, description = "The registry refused"), (status = 404, description = "No such image in the registry")))]
pub async fn distribution(
    State(s): State<AppState>,
    Path(rest): Path<String>,
    headers: http::HeaderMap,
) -> Result<Json<DistributionInspect>, ApiError> {
    let name = rest
        .strip_suffix("/json")
        .ok_or_else(|| ApiError::not_found("page not found"))?;
    let info = s
        .engine
        .images()
        .distribution(name, registry_auth(&headers))
        .await?;
    Ok(Json(info.into()))
}

/// `X-Registry-Auth`: base64url (padded or not) JSON with `username` and `password`; a header
/// that does not decode means anonymous, as in moby.
fn registry_auth(headers: &http::HeaderMap) -> Option<berth_engine::image::pull::Credentials> {
    let v = base64_json_header(headers, "X-Registry-Auth")?;
    Some(credentials_of(&v))
}

/// A header holding base64 (URL-safe or standard, padded or not) JSON, as the registry
/// auth headers are; None when absent or undecodable.
pub(crate) fn base64_json_header(
    headers: &http::HeaderMap,
    name: &str,
) -> Option<serde_json::Value> {
    use base64::Engine as _;
    let raw = headers.get(name)?.to_str().ok()?.trim();
    if raw.is_empty() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(raw)
        .or_else(|_| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw.trim_end_matches('='))
        })
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(raw))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// `username` and `password` of an auth config object.
pub(crate) fn credentials_of(v: &serde_json::Value) -> berth_engine::image::pull::Credentials {
    let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
    berth_engine::image::pull::Credentials {
        username: field("username"),
        password: field("password"),
    }
}

/// The pull half of `POST /images/create`: progress streamed as it happens, errors in-band.
fn pull(s: &AppState, q: &QueryParams, headers: &http::HeaderMap) -> Result<Response, ApiError> {
    let image = q.get("fromImage").unwrap_or_default();
    if image.is_empty() {
        return Err(ApiError::invalid(
            "either fromSrc or fromImage must be given",
        ));
    }
    let tag = q.get("tag").unwrap_or_default();
    let reference = if tag.is_empty() {
        image.to_string()
    } else if tag.contains(':') {
        format!("{image}@{tag}")
    } else {
        format!("{image}:{tag}")
    };
    let credentials = registry_auth(headers);
    let engine = s.engine.clone();
    Ok(progress_stream(move |tx| async move {
        engine
            .images()
            .pull(&reference, credentials, tx)
            .await
            .map(|_| None)
    }))
}

fn progress_line(p: &berth_engine::image::pull::Progress) -> Bytes {
    let mut v = serde_json::json!({"status": p.status});
    if let Some(id) = &p.id {
        v["id"] = serde_json::json!(id);
    }
    if let (Some(current), Some(total)) = (p.current, p.total) {
        v["progressDetail"] = serde_json::json!({"current": current, "total": total});
    } else if p.id.is_some() {
        v["progressDetail"] = serde_json::json!({});
    }
    let mut line = serde_json::to_vec(&v).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_auth_decodes_base64url_json() {
        use base64::Engine as _;
        let mut h = http::HeaderMap::new();
        let json = r#"{"username":"u","password":"p?>"}"#;
        let enc = base64::engine::general_purpose::URL_SAFE.encode(json);
        h.insert("X-Registry-Auth", enc.parse().unwrap());
        let c = registry_auth(&h).unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p?>"));
        h.insert("X-Registry-Auth", "not base64 at all!".parse().unwrap());
        assert!(registry_auth(&h).is_none());
    }
}
