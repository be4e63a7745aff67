//! `docker pull`: manifests, configs and layers from a registry (oci-client), written into
//! containerd's content store and unpacked like a loaded image. Progress goes to the caller as
//! the JSON-stream lines the CLI renders.

use std::path::PathBuf;

use futures_util::StreamExt as _;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::mpsc;

use super::archive::{self, ArchiveImage, Blob};
use super::reference::Reference;
use super::registry::RegistryPolicy;
use super::store::ImageStore;
use crate::{Error, Result};

/// One progress line: `status`, optional layer `id`, optional `progress` text.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    pub status: String,
    pub id: Option<String>,
    pub current: Option<u64>,
    pub total: Option<u64>,
}

impl Progress {
    fn line(status: impl Into<String>, id: Option<&str>) -> Progress {
        Progress {
            status: status.into(),
            id: id.map(str::to_string),
            ..Default::default()
        }
    }
}

/// Registry credentials from `X-Registry-Auth`.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

const ACCEPTED: &[&str] = &[
    archive::MEDIA_OCI_INDEX,
    archive::MEDIA_DOCKER_LIST,
    archive::MEDIA_OCI_MANIFEST,
    archive::MEDIA_DOCKER_MANIFEST,
];

/// The registry host as oci-client addresses it (`docker.io` → its API host).
fn registry_host(r: &Reference) -> String {
    match r.domain() {
        "docker.io" => "index.docker.io".to_string(),
        d => d.to_string(),
    }
}

fn oci_ref(r: &Reference, digest: Option<&str>) -> Result<oci_client::Reference> {
    let host = registry_host(r);
    let text = match (digest, r.digest(), r.tag()) {
        (Some(d), _, _) | (None, Some(d), _) => format!("{host}/{}@{d}", r.path()),
        (None, None, Some(t)) => format!("{host}/{}:{t}", r.path()),
        (None, None, None) => format!("{host}/{}:latest", r.path()),
    };
    text.parse()
        .map_err(|e| Error::invalid(format!("invalid reference format: {e}")))
}

/// moby-style messages for registry errors.
fn classify(r: &Reference, e: oci_client::errors::OciDistributionError) -> Error {
    use oci_client::errors::OciDistributionError as E;
    let text = e.to_string();
    match e {
        E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => Error::new(
            crate::ErrorKind::Unauthorized,
            format!(
                "pull access denied for {}, repository does not exist or may require 'docker login': {text}",
                r.familiar_name()
            ),
        ),
        E::ImageManifestNotFoundError(_) => Error::not_found(format!(
            "manifest for {} not found: manifest unknown: manifest unknown",
            r.familiar()
        )),
        _ if text.contains("MANIFEST_UNKNOWN") || text.contains("manifest unknown") => {
            Error::not_found(format!(
                "manifest for {} not found: manifest unknown: manifest unknown",
                r.familiar()
            ))
        }
        _ if text.contains("UNAUTHORIZED") || text.contains("401") => Error::new(
            crate::ErrorKind::Unauthorized,
            format!(
                "pull access denied for {}, repository does not exist or may require 'docker login'",
                r.familiar_name()
            ),
        ),
        _ => Error::unavailable(format!("error pulling {}: {text}", r.familiar())),
    }
}

fn short(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    hex[..hex.len().min(12)].to_string()
}

/// `GET /distribution/{name}/json`: the registry's descriptor for a reference and the
/// platforms it offers.
#[derive(Clone, Debug)]
pub struct DistributionInfo {
    pub media_type: String,
    pub digest: String,
    pub size: i64,
    /// (os, architecture, variant)
    pub platforms: Vec<(String, String, String)>,
}

/// A registry client, over plain HTTP for the registries the policy calls insecure.
async fn client_for(policy: &RegistryPolicy, r: &Reference) -> oci_client::Client {
    let protocol = if policy.is_insecure(&registry_host(r)).await {
        ClientProtocol::Http
    } else {
        ClientProtocol::Https
    };
    oci_client::Client::new(ClientConfig {
        protocol,
        ..Default::default()
    })
}

fn auth_of(credentials: Option<Credentials>) -> RegistryAuth {
    match credentials {
        Some(c) if !c.username.is_empty() => RegistryAuth::Basic(c.username, c.password),
        _ => RegistryAuth::Anonymous,
    }
}

impl ImageStore {
    /// Asks the registry about `reference` without pulling it.
    pub async fn distribution(
        &self,
        reference: &str,
        credentials: Option<Credentials>,
    ) -> Result<DistributionInfo> {
        let r = Reference::parse_normalized(reference).map_err(Error::from)?;
        let r = if r.tag().is_none() && r.digest().is_none() {
            r.with_default_tag()
        } else {
            r
        };
        let client = client_for(&self.registries, &r).await;
        let auth = auth_of(credentials);
        let (manifest, digest) = client
            .pull_manifest_raw(&oci_ref(&r, None)?, &auth, ACCEPTED)
            .await
            .map_err(|e| classify(&r, e))?;
        let doc: serde_json::Value = serde_json::from_slice(&manifest)
            .map_err(|e| Error::invalid(format!("invalid manifest from registry: {e}")))?;
        let text = |v: &serde_json::Value, k: &str| {
            v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string()
        };
        let mut platforms = Vec::new();
        if let Some(list) = doc.get("manifests").and_then(|m| m.as_array()) {
            for m in list {
                if let Some(p) = m.get("platform") {
                    platforms.push((text(p, "os"), text(p, "architecture"), text(p, "variant")));
                }
            }
        } else if let Some(config) = doc.pointer("/config/digest").and_then(|d| d.as_str()) {
            let mut bytes = Vec::new();
            client
                .pull_blob(&oci_ref(&r, Some(&digest))?, config, &mut bytes)
                .await
                .map_err(|e| classify(&r, e))?;
            let c: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            platforms.push((
                text(&c, "os"),
                text(&c, "architecture"),
                text(&c, "variant"),
            ));
        }
        Ok(DistributionInfo {
            media_type: text(&doc, "mediaType"),
            digest,
            size: manifest.len() as i64,
            platforms,
        })
    }

    /// Pulls `reference` (tag defaulted to `latest`), sending progress lines as it goes.
    /// Returns the image ID.
    pub async fn pull(
        &self,
        reference: &str,
        credentials: Option<Credentials>,
        progress: mpsc::Sender<Progress>,
    ) -> Result<String> {
        let r = Reference::parse_normalized(reference).map_err(Error::from)?;
        let r = if r.tag().is_none() && r.digest().is_none() {
            r.with_default_tag()
        } else {
            r
        };
        let client = client_for(&self.registries, &r).await;
        let auth = auth_of(credentials);
        let send = |p: Progress| {
            let progress = progress.clone();
            async move {
                let _ = progress.send(p).await;
            }
        };
        let tag_or_digest = r.tag().or(r.digest()).unwrap_or("latest").to_string();
        send(Progress::line(
            format!("Pulling from {}", r.path()),
            Some(&tag_or_digest),
        ))
        .await;

        let (mut manifest, mut manifest_digest) = client
            .pull_manifest_raw(&oci_ref(&r, None)?, &auth, ACCEPTED)
            .await
            .map_err(|e| classify(&r, e))?;
        let top_digest = manifest_digest.clone();
        let parsed: serde_json::Value = serde_json::from_slice(&manifest)
            .map_err(|e| Error::invalid(format!("invalid manifest from registry: {e}")))?;
        if let Some(list) = parsed.get("manifests").and_then(|m| m.as_array()) {
            let chosen = list
                .iter()
                .find(|m| archive::platform_is_host(m.get("platform")))
                .or_else(|| (list.len() == 1).then(|| &list[0]))
                .and_then(|m| m.get("digest").and_then(|d| d.as_str()))
                .ok_or_else(|| {
                    Error::not_found(format!(
                        "no matching manifest for linux/{} in the manifest list entries",
                        archive::host_arch()
                    ))
                })?
                .to_string();
            let (m, d) = client
                .pull_manifest_raw(&oci_ref(&r, Some(&chosen))?, &auth, ACCEPTED)
                .await
                .map_err(|e| classify(&r, e))?;
            manifest = m;
            manifest_digest = d;
        }
        let doc: serde_json::Value = serde_json::from_slice(&manifest)
            .map_err(|e| Error::invalid(format!("invalid manifest from registry: {e}")))?;
        let media_type = doc
            .get("mediaType")
            .and_then(|m| m.as_str())
            .unwrap_or(archive::MEDIA_OCI_MANIFEST)
            .to_string();
        let desc = |v: &serde_json::Value| -> Result<(String, String, i64)> {
            Ok((
                v.get("mediaType")
                    .and_then(|m| m.as_str())
                    .unwrap_or_default()
                    .to_string(),
                v.get("digest")
                    .and_then(|m| m.as_str())
                    .ok_or_else(|| Error::invalid("manifest entry without a digest"))?
                    .to_string(),
                v.get("size").and_then(|m| m.as_i64()).unwrap_or(0),
            ))
        };
        let (config_media, config_digest, config_size) = desc(
            doc.get("config")
                .ok_or_else(|| Error::invalid("manifest without a config"))?,
        )?;
        let layers: Vec<(String, String, i64)> = doc
            .get("layers")
            .and_then(|l| l.as_array())
            .map(|l| l.iter().map(desc).collect::<Result<Vec<_>>>())
            .transpose()?
            .unwrap_or_default();

        let dir = self
            .scratch_dir()
            .join(format!("pull-{:016x}", rand::random::<u64>()));
        tokio::fs::create_dir_all(&dir).await?;
        let result = async {
            let image_ref = oci_ref(&r, Some(&manifest_digest))?;
            let config_path = dir.join("config.json");
            let mut config_bytes = Vec::new();
            client
                .pull_blob(&image_ref, config_digest.as_str(), &mut config_bytes)
                .await
                .map_err(|e| classify(&r, e))?;
            tokio::fs::write(&config_path, &config_bytes).await?;
            let diff_ids: Vec<String> = serde_json::from_slice::<serde_json::Value>(&config_bytes)
                .ok()
                .and_then(|c| c.pointer("/rootfs/diff_ids").cloned())
                .and_then(|d| serde_json::from_value(d).ok())
                .unwrap_or_default();
            if diff_ids.len() != layers.len() {
                return Err(Error::invalid(
                    "image config and manifest disagree on the layer count",
                ));
            }
            let mut blobs = Vec::new();
            for (_, digest, _) in &layers {
                send(Progress::line("Pulling fs layer", Some(&short(digest)))).await;
            }
            for (media, digest, size) in &layers {
                let id = short(digest);
                let path = dir.join(digest.replace(':', "-"));
                if self.has_blob(digest).await {
                    send(Progress::line("Already exists", Some(&id))).await;
                    blobs.push(Blob {
                        media_type: media.clone(),
                        digest: digest.clone(),
                        size: *size,
                        path: PathBuf::new(),
                    });
                    continue;
                }
                let mut stream = client
                    .pull_blob_stream(&image_ref, digest.as_str())
                    .await
                    .map_err(|e| classify(&r, e))?;
                let mut file = tokio::fs::File::create(&path).await?;
                let mut got = 0u64;
                while let Some(chunk) = stream.stream.next().await {
                    let chunk = chunk.map_err(|e| {
                        Error::unavailable(format!("error pulling {}: {e}", r.familiar()))
                    })?;
                    got += chunk.len() as u64;
                    file.write_all(&chunk).await?;
                    let _ = progress.try_send(Progress {
                        status: "Downloading".into(),
                        id: Some(id.clone()),
                        current: Some(got),
                        total: Some(*size as u64),
                    });
                }
                file.flush().await?;
                send(Progress::line("Download complete", Some(&id))).await;
                blobs.push(Blob {
                    media_type: media.clone(),
                    digest: digest.clone(),
                    size: *size,
                    path,
                });
            }
            let image = ArchiveImage {
                manifest: manifest.to_vec(),
                manifest_media_type: media_type,
                config: Blob {
                    media_type: config_media,
                    digest: config_digest.clone(),
                    size: config_size,
                    path: config_path,
                },
                layers: blobs,
                diff_ids,
                tags: vec![],
                index: None,
            };
            let mut names = vec![format!("{}@{}", r.name(), top_digest)];
            if r.digest().is_none() {
                names.insert(0, r.full());
            }
            self.store_pulled(&image, &names).await?;
            self.pulled_event(&config_digest, &r.familiar());
            for (_, digest, _) in &layers {
                send(Progress::line("Pull complete", Some(&short(digest)))).await;
            }
            send(Progress::line(format!("Digest: {top_digest}"), None)).await;
            send(Progress::line(
                format!("Status: Downloaded newer image for {}", r.familiar()),
                None,
            ))
            .await;
            Ok(config_digest.clone())
        }
        .await;
        let _ = tokio::fs::remove_dir_all(&dir).await;
        result
    }
}

impl ImageStore {
    /// Pushes `name` (a tag of this daemon's, e.g. `127.0.0.1:5000/t/busybox:1`): layers,
    /// config and manifest, skipping blobs the registry has. Returns (tag, digest, size).
    pub async fn push(
        &self,
        name: &str,
        credentials: Option<Credentials>,
        progress: mpsc::Sender<Progress>,
    ) -> Result<(String, String, i64)> {
        let r = Reference::parse_normalized(name).map_err(Error::from)?;
        let r = if r.tag().is_none() && r.digest().is_none() {
            r.with_default_tag()
        } else {
            r
        };
        let entry = self.find(&r.familiar()).await.map_err(|_| {
            Error::not_found(format!(
                "An image does not exist locally with the tag: {}",
                r.familiar_name()
            ))
        })?;
        let resolved = &entry.resolved;
        let tag = r.tag().unwrap_or("latest").to_string();
        let client = client_for(&self.registries, &r).await;
        let auth = auth_of(credentials);
        let target = oci_ref(&r, None)?;
        let send = |p: Progress| {
            let progress = progress.clone();
            async move {
                let _ = progress.send(p).await;
            }
        };
        send(Progress::line(
            format!("The push refers to repository [{}]", r.familiar_name()),
            None,
        ))
        .await;
        client
            .auth(&target, &auth, oci_client::RegistryOperation::Push)
            .await
            .map_err(|e| classify(&r, e))?;
        for layer in resolved.layers.iter().rev() {
            send(Progress::line("Preparing", Some(&short(&layer.digest)))).await;
        }
        let mut blobs: Vec<(String, i64)> = resolved
            .layers
            .iter()
            .rev()
            .map(|l| (l.digest.clone(), l.size))
            .collect();
        blobs.push((resolved.id.clone(), resolved.config_bytes.len() as i64));
        let layer_count = resolved.layers.len();
        for (i, (digest, size)) in blobs.iter().enumerate() {
            let is_layer = i < layer_count;
            let id = short(digest);
            if client
                .blob_exists(&target, digest)
                .await
                .map_err(|e| classify(&r, e))?
            {
                if is_layer {
                    send(Progress::line("Layer already exists", Some(&id))).await;
                }
                continue;
            }
            if is_layer {
                send(Progress::line("Pushing", Some(&id))).await;
            }
            let stream = self.containerd_blob_stream(digest).await?.map(|chunk| {
                chunk.map(bytes::Bytes::from).map_err(|e| {
                    oci_client::errors::OciDistributionError::GenericError(Some(e.message))
                })
            });
            client
                .push_blob_stream(&target, stream, digest, Some(*size as u64))
                .await
                .map_err(|e| classify(&r, e))?;
            if is_layer {
                send(Progress::line("Pushed", Some(&id))).await;
            }
        }
        let manifest = self.manifest_bytes(&resolved.manifest_digest).await?;
        let media_type = serde_json::from_slice::<serde_json::Value>(&manifest)
            .ok()
            .and_then(|m| {
                m.get("mediaType")
                    .and_then(|t| t.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| archive::MEDIA_OCI_MANIFEST.to_string());
        let content_type = media_type
            .parse()
            .map_err(|_| Error::internal(format!("bad manifest media type {media_type}")))?;
        client
            .push_manifest_raw(&target, manifest.clone(), content_type)
            .await
            .map_err(|e| classify(&r, e))?;
        let digest = resolved.manifest_digest.clone();
        let size = manifest.len() as i64;
        send(Progress::line(
            format!("{tag}: digest: {digest} size: {size}"),
            None,
        ))
        .await;
        self.pushed_event(&resolved.id, &r.familiar());
        Ok((tag, digest, size))
    }
}

impl ImageStore {
    /// `POST /auth` (`docker login`): checks the credentials against the registry's `/v2/`,
    /// following a bearer-token challenge when the registry sends one.
    pub async fn login(&self, server: &str, username: &str, password: &str) -> Result<()> {
        login(&self.registries, server, username, password).await
    }
}

async fn login(
    policy: &RegistryPolicy,
    server: &str,
    username: &str,
    password: &str,
) -> Result<()> {
    let host = server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .trim_end_matches("/v1")
        .trim_end_matches("/v2")
        .to_string();
    let host = if host.is_empty() || host == "index.docker.io" || host == "docker.io" {
        "registry-1.docker.io".to_string()
    } else {
        host
    };
    let scheme = if policy.is_insecure(&host).await {
        "http"
    } else {
        "https"
    };
    let url = format!("{scheme}://{host}/v2/");
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| Error::internal(format!("registry client: {e}")))?;
    let failed = |status: reqwest::StatusCode| {
        Error::new(
            crate::ErrorKind::Unauthorized,
            format!("login attempt to {url} failed with status: {status}"),
        )
    };
    let unreachable =
        |e: reqwest::Error| Error::unavailable(format!("error logging in to {host}: {e}"));
    let resp = client
        .get(&url)
        .basic_auth(username, Some(password))
        .send()
        .await
        .map_err(unreachable)?;
    if resp.status().is_success() {
        return Ok(());
    }
    if resp.status() != reqwest::StatusCode::UNAUTHORIZED {
        return Err(failed(resp.status()));
    }
    // A bearer challenge: the credentials are checked by the token service.
    let challenge = resp
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let Some(params) = challenge.strip_prefix("Bearer ") else {
        return Err(failed(resp.status()));
    };
    let param = |k: &str| {
        params.split(',').find_map(|p| {
            let (name, value) = p.trim().split_once('=')?;
            (name == k).then(|| value.trim_matches('"').to_string())
        })
    };
    let realm = param("realm").ok_or_else(|| failed(resp.status()))?;
    let mut query = vec![("account", username.to_string())];
    if let Some(service) = param("service") {
        query.push(("service", service));
    }
    let token = client
        .get(&realm)
        .query(&query)
        .basic_auth(username, Some(password))
        .send()
        .await
        .map_err(unreachable)?;
    if token.status().is_success() {
        Ok(())
    } else {
        Err(failed(token.status()))
    }
}
