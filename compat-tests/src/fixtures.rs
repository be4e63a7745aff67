//! Test images, built on this machine from Debian's `busybox-static` (no registry is
//! reachable, so nothing is pulled).
//!
//! An image is a rootfs layer (busybox, its applet symlinks, `/etc/passwd`, `/etc/group`,
//! `/tmp` with mode 1777), optionally a second small layer, and an image config whose bytes
//! are fixed: every timestamp is constant and the JSON keys are written sorted, so the image
//! ID (the sha256 of the config) is the same on every run and on every daemon that loads it.
//!
//! Everything written goes to one directory per test process (removed again by the next
//! process that finds its owner dead) and is cached there: asking twice for the same archive
//! returns the same file.
//!
//! Formats:
//! - [`Image::docker_archive`]: what `docker save` wrote before Docker 25 (`manifest.json`,
//!   `repositories`, `<config hex>.json`, `<layer hex>/layer.tar`);
//! - [`Image::docker_archive_gz`]: the same, gzip-compressed as a whole (`docker save | gzip`);
//! - [`Image::oci_layout`]: a bare OCI image layout (`oci-layout`, `index.json`,
//!   `blobs/sha256/...`) with the `org.opencontainers.image.ref.name` and
//!   `io.containerd.image.name` annotations; Docker 25+ loads it, Docker 20.10 does not;
//! - [`Image::oci_docker_archive`]: both at once, as Docker 25+ saves.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// The static busybox the images are built from.
pub const BUSYBOX_BIN: &str = "/bin/busybox";

/// Applets linked into `/bin` next to `busybox`.
pub const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "ls", "sleep", "true", "false", "env", "id", "ps", "pwd", "touch",
    "mkdir", "rm", "stty", "wc", "head", "hostname", "top",
];

/// The image's `PATH` (Docker's default one).
pub const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `created` of the base image (and of every file in its layer).
pub const CREATED: &str = "2024-01-01T00:00:00Z";
/// [`CREATED`] in seconds since the epoch.
pub const CREATED_UNIX: i64 = 1_704_067_200;

/// `created` of [`busybox_variant`], one day after [`CREATED`].
pub const VARIANT_CREATED: &str = "2024-01-02T00:00:00Z";

/// Label put on images made by [`test_image`] so that each test gets its own image ID.
pub const TEST_LABEL: &str = "org.berth.compat-test";

pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

const PASSWD: &str =
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str = "root:x:0:\nnobody:x:65534:\n";

/// One layer: an uncompressed tar on disk.
#[derive(Clone, Debug)]
pub struct Layer {
    /// `sha256:<hex>` of the tar (uncompressed, so also its digest as a blob).
    pub diff_id: String,
    pub path: PathBuf,
    pub size: u64,
}

impl Layer {
    pub fn hex(&self) -> &str {
        hex_of(&self.diff_id)
    }
}

/// A built image: its config bytes and layers.
#[derive(Clone, Debug)]
pub struct Image {
    /// `sha256:<hex>` of [`Image::config`]: the image ID every daemon must report.
    pub id: String,
    /// The config JSON exactly as written into archives.
    pub config: Vec<u8>,
    pub layers: Vec<Layer>,
}

/// What to build; start from [`ImageSpec::busybox`].
#[derive(Clone, Debug)]
pub struct ImageSpec {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// Files (path, content) of a second layer on top of the busybox one; none if empty.
    pub extra_files: Vec<(String, Vec<u8>)>,
    /// `created` of the image and of the history entries it adds.
    pub created: String,
}

impl ImageSpec {
    /// busybox with `Cmd ["sh"]` and Docker's default `PATH`, created at [`CREATED`].
    pub fn busybox() -> ImageSpec {
        ImageSpec {
            cmd: vec!["sh".into()],
            env: vec![PATH_ENV.into()],
            labels: BTreeMap::new(),
            extra_files: Vec::new(),
            created: CREATED.into(),
        }
    }

    pub fn label(mut self, key: &str, value: &str) -> ImageSpec {
        self.labels.insert(key.into(), value.into());
        self
    }

    pub fn cmd(mut self, cmd: &[&str]) -> ImageSpec {
        self.cmd = cmd.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn created(mut self, rfc3339: &str) -> ImageSpec {
        self.created = rfc3339.into();
        self
    }

    /// Adds a file to the second layer (created on first use).
    pub fn file(mut self, path: &str, content: &str) -> ImageSpec {
        self.extra_files.push((
            path.trim_start_matches('/').into(),
            content.as_bytes().to_vec(),
        ));
        self
    }

    /// Writes the layers and computes the config; cheap to call again.
    pub fn build(&self) -> Image {
        let _guard = lock();
        let mut layers = vec![base_layer_locked()];
        if !self.extra_files.is_empty() {
            let bytes = extra_layer_tar(&self.extra_files);
            layers.push(store_layer(&bytes));
        }
        let mut history = vec![json!({
            "created": CREATED,
            "created_by": format!("/bin/sh -c #(nop) ADD file:{} in / ", layers[0].hex()),
        })];
        if layers.len() > 1 {
            history.push(json!({
                "created": self.created,
                "created_by": format!("/bin/sh -c #(nop) ADD file:{} in / ", layers[1].hex()),
            }));
        }
        for (k, v) in &self.labels {
            history.push(json!({
                "created": self.created,
                "created_by": format!("/bin/sh -c #(nop)  LABEL {k}={v}"),
                "empty_layer": true,
            }));
        }
        history.push(json!({
            "created": self.created,
            "created_by": format!("/bin/sh -c #(nop)  CMD {}", json!(self.cmd)),
            "empty_layer": true,
        }));
        let mut config = json!({
            "Env": self.env,
            "Cmd": self.cmd,
        });
        if !self.labels.is_empty() {
            config["Labels"] = json!(self.labels);
        }
        let image = json!({
            "architecture": "amd64",
            "os": "linux",
            "created": self.created,
            "config": config,
            "rootfs": {
                "type": "layers",
                "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>(),
            },
            "history": history,
        });
        let config = canonical_json(&image).into_bytes();
        Image {
            id: format!("sha256:{}", sha256_hex(&config)),
            config,
            layers,
        }
    }
}

/// The plain busybox image (no labels, one layer).
pub fn busybox() -> Image {
    ImageSpec::busybox().build()
}

/// A second image sharing busybox's layer: an extra layer with `/etc/berth-variant`, the
/// label `org.berth.variant=extra`, `created` one day later ([`VARIANT_CREATED`]).
pub fn busybox_variant() -> Image {
    ImageSpec::busybox()
        .file("etc/berth-variant", "extra\n")
        .label("org.berth.variant", "extra")
        .created(VARIANT_CREATED)
        .build()
}

/// busybox labelled `org.berth.compat-test=<test>`: an image ID no other test shares, so
/// that tests deleting images cannot disturb each other on a shared daemon. Same layer as
/// [`busybox`].
pub fn test_image(test: &str) -> Image {
    ImageSpec::busybox().label(TEST_LABEL, test).build()
}

/// Like [`test_image`] plus a second layer holding `/etc/berth-test` (the test name).
pub fn test_image_with_layer(test: &str) -> Image {
    ImageSpec::busybox()
        .file("etc/berth-test", &format!("{test}\n"))
        .label(TEST_LABEL, test)
        .build()
}

/// A docker-archive of [`busybox`] with `tags` (none: an untagged load).
pub fn busybox_archive(tags: &[&str]) -> PathBuf {
    busybox().docker_archive(tags)
}

/// The busybox rootfs as a plain tar, for `docker import`.
pub fn busybox_rootfs_tar() -> PathBuf {
    let _guard = lock();
    base_layer_locked().path
}

impl Image {
    /// The 64 hex digits of the ID.
    pub fn hex(&self) -> &str {
        hex_of(&self.id)
    }

    /// The 12-hex short ID the CLI prints.
    pub fn short_id(&self) -> &str {
        &self.hex()[..12]
    }

    pub fn diff_ids(&self) -> Vec<String> {
        self.layers.iter().map(|l| l.diff_id.clone()).collect()
    }

    /// The chain IDs of the layers (containerd's snapshot names): the first is the first
    /// diff ID, each next one `sha256(<previous chain ID> + " " + <diff ID>)`.
    pub fn chain_ids(&self) -> Vec<String> {
        let mut chain: Vec<String> = Vec::new();
        for l in &self.layers {
            let next = match chain.last() {
                None => l.diff_id.clone(),
                Some(prev) => format!(
                    "sha256:{}",
                    sha256_hex(format!("{prev} {}", l.diff_id).as_bytes())
                ),
            };
            chain.push(next);
        }
        chain
    }

    /// The config parsed back.
    pub fn config_json(&self) -> Value {
        serde_json::from_slice(&self.config).expect("fixture config is JSON")
    }

    /// The OCI manifest of this image and its digest.
    pub fn oci_manifest(&self) -> (Vec<u8>, String) {
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_OCI_MANIFEST,
            "config": {
                "mediaType": MEDIA_OCI_CONFIG,
                "digest": self.id,
                "size": self.config.len(),
            },
            "layers": self.layers.iter().map(|l| json!({
                "mediaType": MEDIA_OCI_LAYER,
                "digest": l.diff_id,
                "size": l.size,
            })).collect::<Vec<_>>(),
        });
        let bytes = canonical_json(&manifest).into_bytes();
        let digest = format!("sha256:{}", sha256_hex(&bytes));
        (bytes, digest)
    }

    /// A docker-archive tar holding this image with `tags` as `RepoTags`.
    pub fn docker_archive(&self, tags: &[&str]) -> PathBuf {
        docker_archive(&[(self, tags)])
    }

    /// [`Image::docker_archive`] gzip-compressed as a whole.
    pub fn docker_archive_gz(&self, tags: &[&str]) -> PathBuf {
        cached("docker-gz", &[(self, tags)], "tar.gz", |out| {
            let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
            write_docker_archive(&mut gz, &[(self, tags)])?;
            gz.finish()?;
            Ok(())
        })
    }

    /// A bare OCI image layout of this image; one index entry per tag (one without
    /// annotations when `tags` is empty).
    pub fn oci_layout(&self, tags: &[&str]) -> PathBuf {
        cached("oci", &[(self, tags)], "tar", |out| {
            write_oci_layout(out, self, tags, false)
        })
    }

    /// An OCI layout whose one entry, tagged `tag`, is an image index holding this image's
    /// manifest (for the host's platform) and, as BuildKit attaches them, an attestation
    /// manifest for it with one in-toto statement layer per `(predicate type, statement)`.
    pub fn oci_layout_with_attestations(&self, tag: &str, statements: &[(&str, Value)]) -> PathBuf {
        let key: Vec<String> = statements.iter().map(|(t, s)| format!("{t}{s}")).collect();
        let tags = [tag, &key.join("\n")];
        cached("oci-attested", &[(self, &tags[..])], "tar", |out| {
            write_attested_layout(out, self, tag, statements)
        })
    }

    /// An OCI layout that also carries `manifest.json` and `repositories`, as Docker 25+
    /// saves.
    pub fn oci_docker_archive(&self, tags: &[&str]) -> PathBuf {
        cached("oci-docker", &[(self, tags)], "tar", |out| {
            write_oci_layout(out, self, tags, true)
        })
    }
}

/// A docker-archive holding several images, each with its own tags.
pub fn docker_archive(images: &[(&Image, &[&str])]) -> PathBuf {
    cached("docker", images, "tar", |out| {
        write_docker_archive(out, images)
    })
}

/// A file under the fixtures directory whose name does not exist yet; for tests writing
/// their own odd archives.
pub fn scratch_path(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    fixtures_dir().join(format!("scratch-{n}-{name}"))
}

/// A tar holding the given (path, content) files and nothing else.
pub fn plain_tar(name: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let path = scratch_path(name);
    let mut b = tar::Builder::new(Vec::new());
    for (p, content) in files {
        append_file(&mut b, p, 0o644, content);
    }
    let bytes = b.into_inner().expect("finish tar");
    fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

// ---- writing archives ----

fn write_docker_archive(out: &mut dyn Write, images: &[(&Image, &[&str])]) -> io::Result<()> {
    let mut b = tar::Builder::new(out);
    let mut manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut written = std::collections::BTreeSet::new();
    for (image, tags) in images {
        if written.insert(image.id.clone()) {
            append_file(
                &mut b,
                &format!("{}.json", image.hex()),
                0o644,
                &image.config,
            );
            for l in &image.layers {
                if written.insert(l.diff_id.clone()) {
                    append_dir(&mut b, l.hex(), 0o755);
                    append_file(&mut b, &format!("{}/VERSION", l.hex()), 0o644, b"1.0");
                    append_path(&mut b, &format!("{}/layer.tar", l.hex()), &l.path)?;
                }
            }
        }
        add_repositories(&mut repositories, image, tags);
        manifest.push(json!({
            "Config": format!("{}.json", image.hex()),
            "RepoTags": if tags.is_empty() { Value::Null } else { json!(tags) },
            "Layers": image.layers.iter()
                .map(|l| format!("{}/layer.tar", l.hex()))
                .collect::<Vec<_>>(),
        }));
    }
    append_file(
        &mut b,
        "manifest.json",
        0o644,
        canonical_json(&Value::Array(manifest)).as_bytes(),
    );
    if !repositories.is_empty() {
        append_file(
            &mut b,
            "repositories",
            0o644,
            canonical_json(&json!(repositories)).as_bytes(),
        );
    }
    b.into_inner()?.flush()
}

fn add_repositories(
    repositories: &mut BTreeMap<String, BTreeMap<String, String>>,
    image: &Image,
    tags: &[&str],
) {
    let top = image.layers.last().map(|l| l.hex().to_string());
    for t in tags {
        let (repo, tag) = split_tag(t);
        repositories
            .entry(repo.to_string())
            .or_default()
            .insert(tag.to_string(), top.clone().unwrap_or_default());
    }
}

fn write_oci_layout(
    out: &mut dyn Write,
    image: &Image,
    tags: &[&str],
    with_docker_manifest: bool,
) -> io::Result<()> {
    let mut b = tar::Builder::new(out);
    let (manifest, manifest_digest) = image.oci_manifest();
    append_dir(&mut b, "blobs", 0o755);
    append_dir(&mut b, "blobs/sha256", 0o755);
    append_file(
        &mut b,
        &format!("blobs/sha256/{}", image.hex()),
        0o644,
        &image.config,
    );
    for l in &image.layers {
        append_path(&mut b, &format!("blobs/sha256/{}", l.hex()), &l.path)?;
    }
    append_file(
        &mut b,
        &format!("blobs/sha256/{}", hex_of(&manifest_digest)),
        0o644,
        &manifest,
    );
    let entry = |annotations: Option<Value>| {
        let mut e = json!({
            "mediaType": MEDIA_OCI_MANIFEST,
            "digest": manifest_digest,
            "size": manifest.len(),
        });
        if let Some(a) = annotations {
            e["annotations"] = a;
        }
        e
    };
    let manifests: Vec<Value> = if tags.is_empty() {
        vec![entry(None)]
    } else {
        tags.iter()
            .map(|t| {
                let (_, tag) = split_tag(t);
                entry(Some(json!({
                    "io.containerd.image.name": full_name(t),
                    "org.opencontainers.image.ref.name": tag,
                })))
            })
            .collect()
    };
    let index = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_INDEX,
        "manifests": manifests,
    });
    append_layout_index(&mut b, &index);
    if with_docker_manifest {
        let docker_manifest = json!([{
            "Config": format!("blobs/sha256/{}", image.hex()),
            "RepoTags": if tags.is_empty() { Value::Null } else { json!(tags) },
            "Layers": image.layers.iter()
                .map(|l| format!("blobs/sha256/{}", l.hex()))
                .collect::<Vec<_>>(),
        }]);
        append_file(
            &mut b,
            "manifest.json",
            0o644,
            canonical_json(&docker_manifest).as_bytes(),
        );
        let mut repositories = BTreeMap::new();
        add_repositories(&mut repositories, image, tags);
        if !repositories.is_empty() {
            append_file(
                &mut b,
                "repositories",
                0o644,
                canonical_json(&json!(repositories)).as_bytes(),
            );
        }
    }
    b.into_inner()?.flush()
}

fn write_attested_layout(
    out: &mut dyn Write,
    image: &Image,
    tag: &str,
    statements: &[(&str, Value)],
) -> io::Result<()> {
    let mut b = tar::Builder::new(out);
    let blob = |b: &mut tar::Builder<&mut dyn Write>, bytes: &[u8]| {
        let digest = format!("sha256:{}", sha256_hex(bytes));
        append_file(
            b,
            &format!("blobs/sha256/{}", hex_of(&digest)),
            0o644,
            bytes,
        );
        (digest, bytes.len())
    };
    append_dir(&mut b, "blobs", 0o755);
    append_dir(&mut b, "blobs/sha256", 0o755);
    blob(&mut b, &image.config);
    for l in &image.layers {
        append_path(&mut b, &format!("blobs/sha256/{}", l.hex()), &l.path)?;
    }
    let (manifest, _) = image.oci_manifest();
    let (manifest_digest, manifest_size) = blob(&mut b, &manifest);
    let layers: Vec<Value> = statements
        .iter()
        .map(|(predicate_type, statement)| {
            let (digest, size) = blob(&mut b, canonical_json(statement).as_bytes());
            json!({
                "mediaType": "application/vnd.in-toto+json",
                "digest": digest,
                "size": size,
                "annotations": {"in-toto.io/predicate-type": predicate_type},
            })
        })
        .collect();
    let (empty_config, empty_size) = blob(&mut b, b"{}");
    let attestation = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_MANIFEST,
        "config": {"mediaType": MEDIA_OCI_CONFIG, "digest": empty_config, "size": empty_size},
        "layers": layers,
    });
    let attestation = canonical_json(&attestation).into_bytes();
    let (attestation_digest, attestation_size) = blob(&mut b, &attestation);
    let arch = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "amd64"
    };
    let index = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_INDEX,
        "manifests": [
            {"mediaType": MEDIA_OCI_MANIFEST, "digest": manifest_digest, "size": manifest_size,
             "platform": {"architecture": arch, "os": "linux"}},
            {"mediaType": MEDIA_OCI_MANIFEST, "digest": attestation_digest,
             "size": attestation_size,
             "platform": {"architecture": "unknown", "os": "unknown"},
             "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                             "vnd.docker.reference.digest": manifest_digest}},
        ],
    });
    let index = canonical_json(&index).into_bytes();
    let (index_digest, index_size) = blob(&mut b, &index);
    let (_, short_tag) = split_tag(tag);
    let layout = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_INDEX,
        "manifests": [{"mediaType": MEDIA_OCI_INDEX, "digest": index_digest, "size": index_size,
                       "annotations": {"io.containerd.image.name": full_name(tag),
                                       "org.opencontainers.image.ref.name": short_tag}}],
    });
    append_layout_index(&mut b, &layout);
    b.into_inner()?.flush()
}

/// `repo:tag` → (`repo`, `tag`); `latest` when there is no tag. A `:` before the last `/`
/// belongs to a registry host.
pub fn split_tag(name: &str) -> (&str, &str) {
    match name.rfind(':') {
        Some(i) if !name[i..].contains('/') => (&name[..i], &name[i + 1..]),
        _ => (name, "latest"),
    }
}

/// The fully qualified name containerd stores: `busybox:1` → `docker.io/library/busybox:1`.
pub fn full_name(name: &str) -> String {
    let (repo, tag) = split_tag(name);
    let first = repo.split('/').next().unwrap_or(repo);
    let has_domain =
        repo.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let repo = if has_domain {
        repo.to_string()
    } else if repo.contains('/') {
        format!("docker.io/{repo}")
    } else {
        format!("docker.io/library/{repo}")
    };
    format!("{repo}:{tag}")
}

// ---- layers ----

fn rootfs_tar() -> Vec<u8> {
    let busybox = fs::read(BUSYBOX_BIN).unwrap_or_else(|e| {
        panic!("cannot read {BUSYBOX_BIN} ({e}); install Debian's busybox-static")
    });
    let mut b = tar::Builder::new(Vec::new());
    append_dir(&mut b, "bin", 0o755);
    append_file(&mut b, "bin/busybox", 0o755, &busybox);
    for applet in APPLETS {
        append_symlink(&mut b, &format!("bin/{applet}"), "busybox");
    }
    append_dir(&mut b, "dev", 0o755);
    append_dir(&mut b, "etc", 0o755);
    append_file(&mut b, "etc/group", 0o644, GROUP.as_bytes());
    append_file(&mut b, "etc/passwd", 0o644, PASSWD.as_bytes());
    append_dir(&mut b, "proc", 0o555);
    append_dir(&mut b, "root", 0o700);
    append_dir(&mut b, "sys", 0o555);
    append_dir(&mut b, "tmp", 0o1777);
    b.into_inner().expect("finish rootfs tar")
}

fn extra_layer_tar(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut dirs = std::collections::BTreeSet::new();
    for (path, _) in files {
        let mut acc = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(part);
            if dirs.insert(acc.clone()) {
                append_dir(&mut b, &acc, 0o755);
            }
        }
    }
    for (path, content) in files {
        append_file(&mut b, path, 0o644, content);
    }
    b.into_inner().expect("finish layer tar")
}

fn base_layer_locked() -> Layer {
    static BASE: OnceLock<Layer> = OnceLock::new();
    BASE.get_or_init(|| store_layer(&rootfs_tar())).clone()
}

/// Writes a layer tar under its digest (if not there yet).
fn store_layer(bytes: &[u8]) -> Layer {
    let hex = sha256_hex(bytes);
    let path = fixtures_dir().join(format!("layer-{hex}.tar"));
    if !path.exists() {
        write_atomic(&path, |f| f.write_all(bytes))
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
    Layer {
        diff_id: format!("sha256:{hex}"),
        path,
        size: bytes.len() as u64,
    }
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(CREATED_UNIX as u64);
    h.set_size(size);
    let _ = h.set_username("root");
    let _ = h.set_groupname("root");
    h
}

fn append_dir<W: Write>(b: &mut tar::Builder<W>, path: &str, mode: u32) {
    let mut h = header(tar::EntryType::Directory, mode, 0);
    b.append_data(&mut h, format!("{path}/"), io::empty())
        .unwrap_or_else(|e| panic!("tar dir {path}: {e}"));
}

/// An OCI layout's `oci-layout` marker and its `index.json`.
fn append_layout_index<W: Write>(b: &mut tar::Builder<W>, index: &Value) {
    append_file(b, "oci-layout", 0o644, br#"{"imageLayoutVersion":"1.0.0"}"#);
    append_file(b, "index.json", 0o644, canonical_json(index).as_bytes());
}

fn append_file<W: Write>(b: &mut tar::Builder<W>, path: &str, mode: u32, content: &[u8]) {
    let mut h = header(tar::EntryType::Regular, mode, content.len() as u64);
    b.append_data(&mut h, path, content)
        .unwrap_or_else(|e| panic!("tar file {path}: {e}"));
}

fn append_path<W: Write>(b: &mut tar::Builder<W>, path: &str, src: &Path) -> io::Result<()> {
    let f = File::open(src)?;
    let mut h = header(tar::EntryType::Regular, 0o644, f.metadata()?.len());
    b.append_data(&mut h, path, f)
}

fn append_symlink<W: Write>(b: &mut tar::Builder<W>, path: &str, target: &str) {
    let mut h = header(tar::EntryType::Symlink, 0o777, 0);
    b.append_link(&mut h, path, target)
        .unwrap_or_else(|e| panic!("tar symlink {path}: {e}"));
}

// ---- the cache ----

fn lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// This process's fixtures directory; directories of dead test processes are removed.
pub fn fixtures_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = std::env::temp_dir();
        if let Ok(entries) = fs::read_dir(&tmp) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name
                    .strip_prefix("berth-fixtures-")
                    .and_then(|p| p.parse::<u32>().ok())
                    && !crate::procfs::alive(pid)
                {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = tmp.join(format!("berth-fixtures-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        dir
    })
    .clone()
}

/// The archive `kind` of `images` from the cache, written by `write` on first use.
fn cached(
    kind: &str,
    images: &[(&Image, &[&str])],
    ext: &str,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> PathBuf {
    let mut key = String::from(kind);
    for (image, tags) in images {
        key.push('\n');
        key.push_str(&image.id);
        for t in *tags {
            key.push(' ');
            key.push_str(t);
        }
    }
    let path = fixtures_dir().join(format!(
        "{kind}-{}.{ext}",
        &sha256_hex(key.as_bytes())[..16]
    ));
    let _guard = lock();
    if !path.exists() {
        write_atomic(&path, |f| {
            let mut w = io::BufWriter::new(f);
            write(&mut w)?;
            w.flush()
        })
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
    path
}

fn write_atomic(path: &Path, write: impl FnOnce(&mut File) -> io::Result<()>) -> io::Result<()> {
    let tmp = path.with_extension("partial");
    let mut f = File::create(&tmp)?;
    write(&mut f)?;
    f.sync_all()?;
    fs::rename(&tmp, path)
}

// ---- small helpers ----

pub fn sha256_hex(data: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(data);
    format!("{:x}", h.finalize())
}

/// sha256 of a file, as `sha256:<hex>`.
pub fn file_digest(path: &Path) -> String {
    let mut f = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut h = Sha256::new();
    io::copy(&mut f, &mut h).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    format!("sha256:{:x}", h.finalize())
}

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// JSON with object keys sorted at every level and no whitespace, independent of how
/// serde_json was built (its `preserve_order` feature may be on in a workspace build).
pub fn canonical_json(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical_json(&map[k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_like_references() {
        assert_eq!(split_tag("busybox"), ("busybox", "latest"));
        assert_eq!(split_tag("busybox:1"), ("busybox", "1"));
        assert_eq!(
            split_tag("localhost:5000/a/b"),
            ("localhost:5000/a/b", "latest")
        );
        assert_eq!(split_tag("localhost:5000/a:2"), ("localhost:5000/a", "2"));
        assert_eq!(full_name("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(full_name("a/b:1"), "docker.io/a/b:1");
        assert_eq!(full_name("localhost:5000/a:2"), "localhost:5000/a:2");
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let v = json!({"b": 1, "a": {"d": [1, "x"], "c": null}});
        assert_eq!(canonical_json(&v), r#"{"a":{"c":null,"d":[1,"x"]},"b":1}"#);
    }
}
