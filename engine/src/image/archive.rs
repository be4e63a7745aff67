//! Image archives as `docker save` writes them and `docker load` reads them: the
//! docker-archive format (`manifest.json` with configs and layer tars, optionally inside an
//! OCI layout, as Docker 25+ writes it) and plain OCI layouts (`index.json` + `blobs/`).
//!
//! Reading is blocking file work: the archive is unpacked into a scratch directory and
//! described as [`ArchiveImage`]s whose blobs are files there, ready to be written into the
//! content store.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::{Error, Result};

pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const MEDIA_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const MEDIA_DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub const MEDIA_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const MEDIA_OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// A blob of the archive, on disk in the scratch directory.
#[derive(Clone, Debug)]
pub struct Blob {
    pub media_type: String,
    pub digest: String,
    pub size: i64,
    pub path: PathBuf,
}

/// One image found in an archive.
#[derive(Clone, Debug)]
pub struct ArchiveImage {
    /// The manifest as it will be stored (from the archive when it has one, else built).
    pub manifest: Vec<u8>,
    pub manifest_media_type: String,
    pub config: Blob,
    pub layers: Vec<Blob>,
    /// `diff_ids` from the config, one per layer.
    pub diff_ids: Vec<String>,
    /// Tags as written in the archive (`busybox:latest`), not yet normalised.
    pub tags: Vec<String>,
}

pub fn sha256_hex(data: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(data);
    format!("{:x}", h.finalize())
}

/// sha256 of a file's bytes, as `sha256:<hex>`.
pub fn file_digest(path: &Path) -> Result<(String, i64)> {
    let mut f = BufReader::new(File::open(path)?);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0i64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as i64;
        h.update(&buf[..n]);
    }
    Ok((format!("sha256:{:x}", h.finalize()), size))
}

/// Whether a file starts with the gzip magic.
pub fn is_gzip(path: &Path) -> Result<bool> {
    let mut magic = [0u8; 2];
    let mut f = File::open(path)?;
    let n = f.read(&mut magic)?;
    Ok(n == 2 && magic == [0x1f, 0x8b])
}

/// sha256 of the uncompressed content of a layer file (its diff ID).
pub fn uncompressed_digest(path: &Path) -> Result<String> {
    if !is_gzip(path)? {
        return Ok(file_digest(path)?.0);
    }
    let mut r = flate2::read::MultiGzDecoder::new(BufReader::new(File::open(path)?));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = r
            .read(&mut buf)
            .map_err(|e| Error::invalid(format!("corrupt gzip layer: {e}")))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("sha256:{:x}", h.finalize()))
}

/// sha256 digests and sizes of the regular files an archive held, computed while unpacking
/// so that layers are not read a second time.
pub type Digests = std::collections::HashMap<PathBuf, (String, i64)>;

/// Copies `r` into `w`, hashing on the way; returns (digest, size).
fn copy_hashing(r: &mut impl Read, w: &mut impl Write) -> std::io::Result<(String, i64)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0i64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        w.write_all(&buf[..n])?;
        size += n as i64;
    }
    Ok((format!("sha256:{:x}", h.finalize()), size))
}

/// Unpacks a plain or gzip tar stream (a request body) into `dir` as it arrives, refusing
/// entries that leave `dir`; the archive is never stored whole.
pub fn unpack_reader(reader: impl Read, dir: &Path) -> Result<Digests> {
    use std::io::BufRead as _;
    let mut buffered = BufReader::with_capacity(256 * 1024, reader);
    let gzip = buffered
        .fill_buf()
        .map_err(|e| Error::invalid(format!("invalid archive: {e}")))?
        .starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    let mut tar = tar::Archive::new(reader);
    let bad = |e: std::io::Error| Error::invalid(format!("invalid archive: {e}"));
    let mut links: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut digests = Digests::new();
    for entry in tar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let rel = entry.path().map_err(bad)?.into_owned();
        let rel = safe_relative(&rel).ok_or_else(|| {
            Error::invalid(format!("invalid archive: bad path {}", rel.display()))
        })?;
        let dest = dir.join(&rel);
        match entry.header().entry_type() {
            tar::EntryType::Directory => std::fs::create_dir_all(&dest)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = dest.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                let mut out = std::io::BufWriter::new(File::create(&dest)?);
                let d = copy_hashing(&mut entry, &mut out).map_err(bad)?;
                out.flush()?;
                digests.insert(dest.clone(), d);
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                // Legacy archives link repeated layers to the first copy; resolved below.
                if let Some(target) = entry.link_name().map_err(bad)? {
                    let target = if entry.header().entry_type() == tar::EntryType::Symlink {
                        rel.parent().unwrap_or(Path::new("")).join(target)
                    } else {
                        target.into_owned()
                    };
                    let target = safe_relative(&target).ok_or_else(|| {
                        Error::invalid(format!(
                            "invalid archive: link {} leaves the archive",
                            rel.display()
                        ))
                    })?;
                    links.push((dest, dir.join(target)));
                }
            }
            _ => {}
        }
    }
    for (link, target) in links {
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if target.is_file() {
            std::fs::hard_link(&target, &link)
                .or_else(|_| std::fs::copy(&target, &link).map(|_| ()))?;
            if let Some(d) = digests.get(&target).cloned() {
                digests.insert(link, d);
            }
        }
    }
    Ok(digests)
}

/// `a/./b/../c` → `a/c`; None when the path is absolute or climbs out.
fn safe_relative(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

#[derive(Deserialize)]
struct ManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

#[derive(Deserialize)]
struct ConfigHead {
    rootfs: Option<RootFs>,
}

#[derive(Deserialize, Clone)]
struct OciDescriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: i64,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    platform: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct OciIndex {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    #[serde(default)]
    manifests: Vec<OciDescriptor>,
}

#[derive(Deserialize)]
struct OciManifest {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    config: OciDescriptor,
    #[serde(default)]
    layers: Vec<OciDescriptor>,
}

fn blob_path(dir: &Path, digest: &str) -> Result<PathBuf> {
    let (algo, hex) = digest
        .split_once(':')
        .ok_or_else(|| Error::invalid(format!("invalid digest {digest}")))?;
    if algo != "sha256" || hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::invalid(format!("unsupported digest {digest}")));
    }
    Ok(dir.join("blobs").join(algo).join(hex))
}

fn config_diff_ids(config: &[u8]) -> Result<Vec<String>> {
    let head: ConfigHead = serde_json::from_slice(config)
        .map_err(|e| Error::invalid(format!("invalid image config: {e}")))?;
    Ok(head.rootfs.map(|r| r.diff_ids).unwrap_or_default())
}

/// Describes the images in an unpacked archive directory.
pub fn read_images(dir: &Path, digests: &Digests) -> Result<Vec<ArchiveImage>> {
    let manifest_json = dir.join("manifest.json");
    let index_json = dir.join("index.json");
    if manifest_json.is_file() {
        return read_docker_archive(dir, &manifest_json, digests);
    }
    if index_json.is_file() {
        return read_oci_layout(dir, &index_json);
    }
    Err(Error::invalid(
        "invalid archive: no manifest.json or index.json found",
    ))
}

fn read_docker_archive(
    dir: &Path,
    manifest_json: &Path,
    digests: &Digests,
) -> Result<Vec<ArchiveImage>> {
    let entries: Vec<ManifestEntry> = serde_json::from_slice(&std::fs::read(manifest_json)?)
        .map_err(|e| Error::invalid(format!("invalid manifest.json: {e}")))?;
    // Docker 25+ archives also carry OCI manifests; reuse them so digests are preserved.
    let oci_manifests = oci_manifests_by_config(dir);
    let mut images = Vec::new();
    for entry in entries {
        let config_path = dir.join(
            safe_relative(Path::new(&entry.config))
                .ok_or_else(|| Error::invalid("invalid manifest.json: bad config path"))?,
        );
        let config_bytes = std::fs::read(&config_path).map_err(|e| {
            Error::invalid(format!("invalid archive: config {}: {e}", entry.config))
        })?;
        let config_digest = format!("sha256:{}", sha256_hex(&config_bytes));
        let diff_ids = config_diff_ids(&config_bytes)?;
        if diff_ids.len() != entry.layers.len() {
            return Err(Error::invalid(format!(
                "invalid archive: {} layers listed but the config has {} diff IDs",
                entry.layers.len(),
                diff_ids.len()
            )));
        }
        let tags = entry.repo_tags.unwrap_or_default();
        if let Some((manifest, media_type)) = oci_manifests.get(&config_digest)
            && let Ok(img) = image_from_manifest(dir, manifest.clone(), media_type, tags.clone())
        {
            images.push(img);
            continue;
        }
        let mut layers = Vec::new();
        for (layer, diff_id) in entry.layers.iter().zip(&diff_ids) {
            let path = dir.join(
                safe_relative(Path::new(layer))
                    .ok_or_else(|| Error::invalid("invalid manifest.json: bad layer path"))?,
            );
            let known = digests.get(&path).cloned();
            let (digest, size) = known
                .map(Ok)
                .unwrap_or_else(|| file_digest(&path))
                .map_err(|e| {
                    Error::invalid(format!("invalid archive: layer {layer}: {}", e.message))
                })?;
            let gzip = is_gzip(&path)?;
            let actual_diff = if gzip {
                uncompressed_digest(&path)?
            } else {
                digest.clone()
            };
            if &actual_diff != diff_id {
                return Err(Error::invalid(format!(
                    "invalid archive: layer {layer} has diff ID {actual_diff}, config says {diff_id}"
                )));
            }
            layers.push(Blob {
                media_type: if gzip {
                    MEDIA_DOCKER_LAYER_GZIP
                } else {
                    MEDIA_DOCKER_LAYER
                }
                .into(),
                digest,
                size,
                path,
            });
        }
        let config = Blob {
            media_type: MEDIA_DOCKER_CONFIG.into(),
            digest: config_digest,
            size: config_bytes.len() as i64,
            path: config_path,
        };
        let manifest = build_docker_manifest(&config, &layers);
        images.push(ArchiveImage {
            manifest,
            manifest_media_type: MEDIA_DOCKER_MANIFEST.into(),
            config,
            layers,
            diff_ids,
            tags,
        });
    }
    Ok(images)
}

/// The Docker v2 schema 2 manifest for a config and its layers.
pub fn build_docker_manifest(config: &Blob, layers: &[Blob]) -> Vec<u8> {
    let desc = |b: &Blob| serde_json::json!({"mediaType": b.media_type, "size": b.size, "digest": b.digest});
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_DOCKER_MANIFEST,
        "config": desc(config),
        "layers": layers.iter().map(desc).collect::<Vec<_>>(),
    });
    serde_json::to_vec(&manifest).unwrap_or_default()
}

/// For archives that carry an OCI layout: manifest bytes by config digest.
fn oci_manifests_by_config(dir: &Path) -> BTreeMap<String, (Vec<u8>, String)> {
    let mut out = BTreeMap::new();
    let Ok(index) = std::fs::read(dir.join("index.json")) else {
        return out;
    };
    let Ok(index) = serde_json::from_slice::<OciIndex>(&index) else {
        return out;
    };
    let mut pending: Vec<OciDescriptor> = index.manifests;
    while let Some(d) = pending.pop() {
        let Ok(path) = blob_path(dir, &d.digest) else {
            continue;
        };
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        if is_index(&d.media_type, &bytes) {
            if let Ok(child) = serde_json::from_slice::<OciIndex>(&bytes) {
                pending.extend(child.manifests);
            }
        } else if let Ok(m) = serde_json::from_slice::<OciManifest>(&bytes) {
            let media = if d.media_type.is_empty() {
                m.media_type.clone()
            } else {
                d.media_type.clone()
            };
            out.insert(m.config.digest.clone(), (bytes, media));
        }
    }
    out
}

fn is_index(media_type: &str, bytes: &[u8]) -> bool {
    if media_type == MEDIA_OCI_INDEX || media_type == MEDIA_DOCKER_LIST {
        return true;
    }
    serde_json::from_slice::<serde_json::Value>(bytes)
        .is_ok_and(|v| v.get("manifests").is_some() && v.get("config").is_none())
}

fn image_from_manifest(
    dir: &Path,
    manifest: Vec<u8>,
    media_type: &str,
    tags: Vec<String>,
) -> Result<ArchiveImage> {
    let m: OciManifest = serde_json::from_slice(&manifest)
        .map_err(|e| Error::invalid(format!("invalid manifest: {e}")))?;
    let blob = |d: &OciDescriptor| -> Result<Blob> {
        let path = blob_path(dir, &d.digest)?;
        if !path.is_file() {
            return Err(Error::invalid(format!(
                "invalid archive: blob {} is missing",
                d.digest
            )));
        }
        Ok(Blob {
            media_type: d.media_type.clone(),
            digest: d.digest.clone(),
            size: d.size,
            path,
        })
    };
    let config = blob(&m.config)?;
    let diff_ids = config_diff_ids(&std::fs::read(&config.path)?)?;
    let layers = m.layers.iter().map(blob).collect::<Result<Vec<_>>>()?;
    if layers.len() != diff_ids.len() {
        return Err(Error::invalid(
            "invalid archive: layer count does not match the config",
        ));
    }
    Ok(ArchiveImage {
        manifest_media_type: if media_type.is_empty() {
            MEDIA_OCI_MANIFEST.into()
        } else {
            media_type.into()
        },
        manifest,
        config,
        layers,
        diff_ids,
        tags,
    })
}

/// A plain OCI layout: images named by the `io.containerd.image.name` or
/// `org.opencontainers.image.ref.name` annotation. Indexes pick the host's platform.
fn read_oci_layout(dir: &Path, index_json: &Path) -> Result<Vec<ArchiveImage>> {
    let index: OciIndex = serde_json::from_slice(&std::fs::read(index_json)?)
        .map_err(|e| Error::invalid(format!("invalid index.json: {e}")))?;
    let mut images = Vec::new();
    for d in index.manifests {
        let mut tags = Vec::new();
        if let Some(name) = d.annotations.get("io.containerd.image.name") {
            tags.push(name.clone());
        } else if let Some(tag) = d.annotations.get("org.opencontainers.image.ref.name") {
            tags.push(tag.clone());
        }
        let bytes = std::fs::read(blob_path(dir, &d.digest)?)
            .map_err(|e| Error::invalid(format!("invalid archive: manifest {}: {e}", d.digest)))?;
        let (manifest, media_type) = if is_index(&d.media_type, &bytes) {
            let child: OciIndex = serde_json::from_slice(&bytes)
                .map_err(|e| Error::invalid(format!("invalid index: {e}")))?;
            let chosen = pick_platform(&child.manifests).ok_or_else(|| {
                Error::not_found("no matching manifest for linux/amd64 in the archive")
            })?;
            (
                std::fs::read(blob_path(dir, &chosen.digest)?)?,
                chosen.media_type.clone(),
            )
        } else {
            (bytes, d.media_type.clone())
        };
        images.push(image_from_manifest(dir, manifest, &media_type, tags)?);
    }
    let _ = index.media_type;
    Ok(images)
}

/// Go's GOARCH for this machine.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// Whether an OCI platform object names linux on this machine's architecture.
pub fn platform_is_host(platform: Option<&serde_json::Value>) -> bool {
    platform.is_some_and(|p| {
        p.get("os").and_then(|v| v.as_str()) == Some("linux")
            && p.get("architecture").and_then(|v| v.as_str()) == Some(host_arch())
    })
}

/// The manifest for linux/<host arch>, or the only one.
fn pick_platform(manifests: &[OciDescriptor]) -> Option<&OciDescriptor> {
    manifests
        .iter()
        .find(|d| platform_is_host(d.platform.as_ref()))
        .or_else(|| (manifests.len() == 1).then(|| &manifests[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_stay_inside() {
        assert_eq!(
            safe_relative(Path::new("a/./b/../c")),
            Some(PathBuf::from("a/c"))
        );
        assert_eq!(safe_relative(Path::new("../x")), None);
        assert_eq!(safe_relative(Path::new("/etc/passwd")), None);
        assert_eq!(safe_relative(Path::new("a/../../x")), None);
    }

    #[test]
    fn blob_paths_need_sha256_digests() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert!(
            blob_path(Path::new("/x"), &d)
                .unwrap()
                .ends_with(format!("blobs/sha256/{}", "a".repeat(64)))
        );
        assert!(blob_path(Path::new("/x"), "sha256:../../etc").is_err());
        assert!(blob_path(Path::new("/x"), "md5:abc").is_err());
    }

    #[test]
    fn docker_manifest_lists_config_and_layers() {
        let b = |d: &str, m: &str| Blob {
            media_type: m.into(),
            digest: d.into(),
            size: 3,
            path: PathBuf::new(),
        };
        let m = build_docker_manifest(
            &b("sha256:c", MEDIA_DOCKER_CONFIG),
            &[b("sha256:l", MEDIA_DOCKER_LAYER)],
        );
        let v: serde_json::Value = serde_json::from_slice(&m).unwrap();
        assert_eq!(v["schemaVersion"], 2);
        assert_eq!(v["config"]["digest"], "sha256:c");
        assert_eq!(v["layers"][0]["mediaType"], MEDIA_DOCKER_LAYER);
    }
}
