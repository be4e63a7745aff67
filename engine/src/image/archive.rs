//! Image archives as `docker save` writes them and `docker load` reads them: the
//! docker-archive format (`manifest.json` with configs and layer tars, optionally inside an
//! OCI layout, as Docker 25+ writes it) and plain OCI layouts (`index.json` + `blobs/`).
//!
//! Reading is blocking file work: the archive is unpacked into a scratch directory and
//! described as [`ArchiveImage`]s whose blobs are files there, ready to be written into the
//! content store.

use std::collections::{BTreeMap, HashMap};
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
    /// The image index the archive named the image by, when it had one: stored as the
    /// image's target so what it attaches to the manifest (attestations) stays reachable.
    pub index: Option<KeptIndex>,
}

/// An image index kept whole, with the attestation manifests it lists for the chosen
/// manifest and the blobs they need (children before what references them).
#[derive(Clone, Debug)]
pub struct KeptIndex {
    pub bytes: Vec<u8>,
    pub media_type: String,
    /// `(digest, bytes, gc labels)`.
    pub blobs: Vec<(String, Vec<u8>, HashMap<String, String>)>,
    /// The digests of every entry of the index (for its gc labels).
    pub children: Vec<String>,
}

/// What BuildKit writes in an index to mark an attestation manifest, and whose it is.
pub const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
pub const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";
pub const ATTESTATION_MANIFEST: &str = "attestation-manifest";

pub fn sha256_hex(data: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(data);
    format!("{:x}", h.finalize())
}

/// sha256 of a file's bytes, as `sha256:<hex>`.
pub fn file_digest(path: &Path) -> Result<(String, i64)> {
    let facts = file_facts(path)?;
    Ok((facts.digest, facts.size))
}

/// Whether a file starts with the gzip magic.
pub fn is_gzip(path: &Path) -> Result<bool> {
    let mut magic = [0u8; 2];
    let mut f = File::open(path)?;
    let n = f.read(&mut magic)?;
    Ok(n == 2 && magic == [0x1f, 0x8b])
}

/// Digest, size and (for gzip) uncompressed digest of a file, read once.
pub fn file_facts(path: &Path) -> Result<FileFacts> {
    let mut f = File::open(path)?;
    let mut facts = FactsBuilder::default();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = read_full(&mut f, &mut buf)?;
        if n == 0 {
            break;
        }
        facts.update(&buf[..n]);
    }
    Ok(facts.finish(false))
}

/// What unpacking learnt about one regular file of an archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileFacts {
    pub digest: String,
    pub size: i64,
    pub gzip: bool,
    /// The digest of the content after gunzip: the layer's diff ID. Empty when a gzip file
    /// does not decompress.
    pub uncompressed: String,
    /// The file went straight into the content store rather than the scratch directory.
    pub stored: bool,
}

/// Facts about the regular files of an unpacked archive, by path in the scratch directory.
pub type Digests = std::collections::HashMap<PathBuf, FileFacts>;

/// Hashes a file as it passes, and its gunzipped content too when it is gzip.
#[derive(Default)]
struct FactsBuilder {
    hash: Sha256,
    size: i64,
    gunzip: Option<flate2::write::MultiGzDecoder<HashWriter>>,
    /// Set when the gzip stream turned out corrupt.
    corrupt: bool,
}

#[derive(Default)]
struct HashWriter(Sha256);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl FactsBuilder {
    /// Feeds the next bytes; the first call must hold at least two bytes unless the file is
    /// shorter, which full reads guarantee.
    fn update(&mut self, data: &[u8]) {
        if self.size == 0 && data.starts_with(&[0x1f, 0x8b]) {
            self.gunzip = Some(flate2::write::MultiGzDecoder::new(HashWriter::default()));
        }
        self.hash.update(data);
        self.size += data.len() as i64;
        if let Some(g) = self.gunzip.as_mut()
            && !self.corrupt
            && g.write_all(data).is_err()
        {
            self.corrupt = true;
        }
    }

    fn finish(self, stored: bool) -> FileFacts {
        let digest = format!("sha256:{:x}", self.hash.finalize());
        let (gzip, uncompressed) = match self.gunzip {
            None => (false, digest.clone()),
            Some(g) => match (self.corrupt, g.finish()) {
                (false, Ok(w)) => (true, format!("sha256:{:x}", w.0.finalize())),
                _ => (true, String::new()),
            },
        };
        FileFacts {
            digest,
            size: self.size,
            gzip,
            uncompressed,
            stored,
        }
    }
}

/// Reads until `buf` is full or the input ends.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Files at least this large (layers) go to a [`ContentSink`] when one is given.
pub const STORE_DIRECTLY: u64 = 1 << 20;

/// Takes large archive files as they are read, so layers reach the content store without
/// being written to scratch space first.
pub trait ContentSink {
    /// The next piece of the current file (a new file starts after `end`).
    fn piece(&mut self, data: Vec<u8>) -> Result<()>;
    /// The current file is complete, with these facts.
    fn end(&mut self, facts: &FileFacts) -> Result<()>;
    /// The current file could not be read to its end.
    fn abandon(&mut self);
}

/// Unpacks a plain or gzip tar stream (a request body) into `dir` as it arrives, refusing
/// entries that leave `dir`; the archive is never stored whole. Files of
/// [`STORE_DIRECTLY`] bytes or more go to `sink` instead of `dir` when one is given.
pub fn unpack_reader(
    reader: impl Read,
    dir: &Path,
    mut sink: Option<&mut dyn ContentSink>,
) -> Result<Digests> {
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
                let large = entry.header().size().unwrap_or(0) >= STORE_DIRECTLY;
                let facts = match sink.as_deref_mut() {
                    Some(sink) if large => {
                        let r = stream_to_sink(&mut entry, sink);
                        if r.is_err() {
                            sink.abandon();
                        }
                        r?
                    }
                    _ => {
                        if let Some(parent) = dest.parent() {
                            std::fs::create_dir_all(parent)?;
                        }
                        let mut out = File::create(&dest)?;
                        let mut facts = FactsBuilder::default();
                        let mut buf = vec![0u8; 256 * 1024];
                        loop {
                            let n = read_full(&mut entry, &mut buf).map_err(bad)?;
                            if n == 0 {
                                break;
                            }
                            facts.update(&buf[..n]);
                            out.write_all(&buf[..n])?;
                        }
                        facts.finish(false)
                    }
                };
                digests.insert(dest.clone(), facts);
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
        if let Some(facts) = digests.get(&target).filter(|f| f.stored).cloned() {
            digests.insert(link, facts);
            continue;
        }
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

fn stream_to_sink(entry: &mut impl Read, sink: &mut dyn ContentSink) -> Result<FileFacts> {
    let mut facts = FactsBuilder::default();
    let mut buf = vec![0u8; crate::runtime::content::WRITE_CHUNK];
    loop {
        let n = read_full(entry, &mut buf)
            .map_err(|e| Error::invalid(format!("invalid archive: {e}")))?;
        if n == 0 {
            break;
        }
        facts.update(&buf[..n]);
        sink.piece(buf[..n].to_vec())?;
    }
    let facts = facts.finish(true);
    sink.end(&facts)?;
    Ok(facts)
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

/// An archive unpacked into a scratch directory; its large files may have gone to the
/// content store instead.
pub struct Unpacked<'a> {
    pub dir: &'a Path,
    pub files: &'a Digests,
    /// Reads a stored file back from the content store, by digest.
    pub fetch: &'a dyn Fn(&str) -> Result<Vec<u8>>,
}

impl Unpacked<'_> {
    fn exists(&self, path: &Path) -> bool {
        self.files.contains_key(path) || path.is_file()
    }

    fn read(&self, path: &Path) -> Result<Vec<u8>> {
        match self.files.get(path) {
            Some(f) if f.stored => (self.fetch)(&f.digest),
            _ => Ok(std::fs::read(path)?),
        }
    }

    fn facts(&self, path: &Path) -> Result<FileFacts> {
        match self.files.get(path) {
            Some(f) => Ok(f.clone()),
            None => file_facts(path),
        }
    }

    /// The blob at `path`; a stored one has an empty path (it is in the content store).
    fn blob(&self, media_type: &str, path: PathBuf, facts: &FileFacts) -> Blob {
        Blob {
            media_type: media_type.to_string(),
            digest: facts.digest.clone(),
            size: facts.size,
            path: if facts.stored { PathBuf::new() } else { path },
        }
    }
}

/// Describes the images in an unpacked archive.
pub fn read_images(archive: &Unpacked) -> Result<Vec<ArchiveImage>> {
    let manifest_json = archive.dir.join("manifest.json");
    let index_json = archive.dir.join("index.json");
    if archive.exists(&manifest_json) {
        return read_docker_archive(archive, &manifest_json);
    }
    if archive.exists(&index_json) {
        return read_oci_layout(archive, &index_json);
    }
    Err(Error::invalid(
        "invalid archive: no manifest.json or index.json found",
    ))
}

fn read_docker_archive(archive: &Unpacked, manifest_json: &Path) -> Result<Vec<ArchiveImage>> {
    let dir = archive.dir;
    let entries: Vec<ManifestEntry> = serde_json::from_slice(&archive.read(manifest_json)?)
        .map_err(|e| Error::invalid(format!("invalid manifest.json: {e}")))?;
    // Docker 25+ archives also carry OCI manifests; reuse them so digests are preserved.
    let oci_manifests = oci_manifests_by_config(archive);
    let mut images = Vec::new();
    for entry in entries {
        let config_path = dir.join(
            safe_relative(Path::new(&entry.config))
                .ok_or_else(|| Error::invalid("invalid manifest.json: bad config path"))?,
        );
        let config_bytes = archive.read(&config_path).map_err(|e| {
            Error::invalid(format!(
                "invalid archive: config {}: {}",
                entry.config, e.message
            ))
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
            && let Ok(img) =
                image_from_manifest(archive, manifest.clone(), media_type, tags.clone())
        {
            images.push(img);
            continue;
        }
        let mut layers = Vec::new();
        for (index, (layer, diff_id)) in entry.layers.iter().zip(&diff_ids).enumerate() {
            let path = dir.join(
                safe_relative(Path::new(layer))
                    .ok_or_else(|| Error::invalid("invalid manifest.json: bad layer path"))?,
            );
            let facts = archive.facts(&path).map_err(|e| {
                Error::invalid(format!("invalid archive: layer {layer}: {}", e.message))
            })?;
            if &facts.uncompressed != diff_id {
                // dockerd's words for it.
                return Err(Error::invalid(format!(
                    "invalid diffID for layer {index}: expected {diff_id:?}, got {:?}",
                    if facts.uncompressed.is_empty() {
                        "(corrupt gzip)"
                    } else {
                        &facts.uncompressed
                    }
                )));
            }
            let media_type = if facts.gzip {
                MEDIA_DOCKER_LAYER_GZIP
            } else {
                MEDIA_DOCKER_LAYER
            };
            layers.push(archive.blob(media_type, path, &facts));
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
            index: None,
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
fn oci_manifests_by_config(archive: &Unpacked) -> BTreeMap<String, (Vec<u8>, String)> {
    let dir = archive.dir;
    let mut out = BTreeMap::new();
    let Ok(index) = archive.read(&dir.join("index.json")) else {
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
        let Ok(bytes) = archive.read(&path) else {
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
    archive: &Unpacked,
    manifest: Vec<u8>,
    media_type: &str,
    tags: Vec<String>,
) -> Result<ArchiveImage> {
    let m: OciManifest = serde_json::from_slice(&manifest)
        .map_err(|e| Error::invalid(format!("invalid manifest: {e}")))?;
    let blob = |d: &OciDescriptor| -> Result<(Blob, PathBuf)> {
        let path = blob_path(archive.dir, &d.digest)?;
        if !archive.exists(&path) {
            return Err(Error::invalid(format!(
                "invalid archive: blob {} is missing",
                d.digest
            )));
        }
        let facts = archive.facts(&path)?;
        if facts.digest != d.digest || (d.size != 0 && facts.size != d.size) {
            return Err(Error::invalid(format!(
                "invalid archive: blob {} does not match its digest",
                d.digest
            )));
        }
        Ok((archive.blob(&d.media_type, path.clone(), &facts), path))
    };
    let (config, config_path) = blob(&m.config)?;
    let diff_ids = config_diff_ids(&archive.read(&config_path)?)?;
    let layers = m
        .layers
        .iter()
        .map(|d| blob(d).map(|(b, _)| b))
        .collect::<Result<Vec<_>>>()?;
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
        index: None,
    })
}

/// A plain OCI layout: images named by the `io.containerd.image.name` or
/// `org.opencontainers.image.ref.name` annotation. Indexes pick the host's platform.
fn read_oci_layout(archive: &Unpacked, index_json: &Path) -> Result<Vec<ArchiveImage>> {
    let dir = archive.dir;
    let index: OciIndex = serde_json::from_slice(&archive.read(index_json)?)
        .map_err(|e| Error::invalid(format!("invalid index.json: {e}")))?;
    let mut images = Vec::new();
    for d in index.manifests {
        let mut tags = Vec::new();
        if let Some(name) = d.annotations.get("io.containerd.image.name") {
            tags.push(name.clone());
        } else if let Some(tag) = d.annotations.get("org.opencontainers.image.ref.name") {
            tags.push(tag.clone());
        }
        let bytes = archive.read(&blob_path(dir, &d.digest)?).map_err(|e| {
            Error::invalid(format!(
                "invalid archive: manifest {}: {}",
                d.digest, e.message
            ))
        })?;
        let (manifest, media_type, index) = if is_index(&d.media_type, &bytes) {
            let child: OciIndex = serde_json::from_slice(&bytes)
                .map_err(|e| Error::invalid(format!("invalid index: {e}")))?;
            let chosen = pick_platform(&child.manifests).ok_or_else(|| {
                Error::not_found("no matching manifest for linux/amd64 in the archive")
            })?;
            let kept = keep_index(archive, &bytes, &d.media_type, &child, &chosen.digest)?;
            (
                archive.read(&blob_path(dir, &chosen.digest)?)?,
                chosen.media_type.clone(),
                Some(kept),
            )
        } else {
            (bytes, d.media_type.clone(), None)
        };
        let mut image = image_from_manifest(archive, manifest, &media_type, tags)?;
        image.index = index;
        images.push(image);
    }
    let _ = index.media_type;
    Ok(images)
}

/// `index` with the attestation manifests it lists for `chosen` that the archive carries
/// (their blobs first), ready to be stored as the image's target.
fn keep_index(
    archive: &Unpacked,
    bytes: &[u8],
    media_type: &str,
    index: &OciIndex,
    chosen: &str,
) -> Result<KeptIndex> {
    let mut blobs = Vec::new();
    for entry in index.manifests.iter().filter(|m| {
        m.annotations.get(REFERENCE_TYPE).map(String::as_str) == Some(ATTESTATION_MANIFEST)
            && m.annotations.get(REFERENCE_DIGEST).map(String::as_str) == Some(chosen)
    }) {
        let path = blob_path(archive.dir, &entry.digest)?;
        if !archive.exists(&path) {
            continue;
        }
        let manifest_bytes = archive.read(&path)?;
        let manifest: OciManifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| Error::invalid(format!("invalid manifest: {e}")))?;
        let mut labels = HashMap::new();
        for (i, d) in std::iter::once(&manifest.config)
            .chain(&manifest.layers)
            .enumerate()
        {
            let path = blob_path(archive.dir, &d.digest)?;
            if !archive.exists(&path) {
                continue;
            }
            let content = archive.read(&path)?;
            if format!("sha256:{}", sha256_hex(&content)) != d.digest {
                return Err(Error::invalid(format!(
                    "invalid archive: blob {} does not match its digest",
                    d.digest
                )));
            }
            let key = if i == 0 {
                "containerd.io/gc.ref.content.config".to_string()
            } else {
                format!("containerd.io/gc.ref.content.l.{}", i - 1)
            };
            labels.insert(key, d.digest.clone());
            blobs.push((d.digest.clone(), content, HashMap::new()));
        }
        if format!("sha256:{}", sha256_hex(&manifest_bytes)) != entry.digest {
            return Err(Error::invalid(format!(
                "invalid archive: blob {} does not match its digest",
                entry.digest
            )));
        }
        blobs.push((entry.digest.clone(), manifest_bytes, labels));
    }
    Ok(KeptIndex {
        bytes: bytes.to_vec(),
        media_type: if media_type.is_empty() {
            MEDIA_OCI_INDEX.into()
        } else {
            media_type.into()
        },
        blobs,
        children: index.manifests.iter().map(|m| m.digest.clone()).collect(),
    })
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
