//! Images: `docker load` (docker-archive, gzip, OCI layouts), list and its filters, inspect,
//! history, tag, rmi, events, `docker save`, `docker import`, and that containerd's garbage
//! collector never takes an image that still has a name.
//!
//! Every image comes from [`compat_tests::fixtures`], so its ID is known in advance and is the
//! same on every daemon. Tests may share a daemon (with `BERTH_COMPAT_DOCKER_HOST`), so each
//! uses its own repository names and its own image IDs (a per-test label), and removes what it
//! made when it ends, even on failure.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use compat_tests::cli::Output;
use compat_tests::fixtures::{self, CREATED_UNIX, Image, ImageSpec, PATH_ENV, TEST_LABEL};
use compat_tests::{Daemon, compare_api_versions, daemon, external_daemon, unix_now, url_encode};
use serde_json::{Value, json};

/// The reference dockerd the round-trip tests load into when berthd is the daemon under
/// test; override with `BERTH_COMPAT_REFERENCE_HOST`.
const REFERENCE_HOST: &str = "unix:///tmp/ref/docker.sock";

/// Removes the images a test made (by ID, forced) when the test ends, pass or fail. Only
/// needed on a shared daemon; an owned berthd is thrown away with everything in it.
struct Cleanup<'a> {
    d: &'a Daemon,
    always: bool,
    ids: RefCell<Vec<String>>,
}

impl<'a> Cleanup<'a> {
    fn new(d: &'a Daemon) -> Cleanup<'a> {
        Cleanup {
            d,
            always: false,
            ids: RefCell::new(Vec::new()),
        }
    }

    /// For a daemon that outlives the test even though this test did not find it through
    /// `BERTH_COMPAT_DOCKER_HOST` (the reference dockerd of the round-trip test).
    fn always(d: &'a Daemon) -> Cleanup<'a> {
        Cleanup {
            d,
            always: true,
            ids: RefCell::new(Vec::new()),
        }
    }

    fn track(&self, id: &str) {
        self.ids.borrow_mut().push(id.to_string());
    }

    fn image(&self, image: &Image) {
        self.track(&image.id);
    }
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if !self.always && self.d.owned() {
            return;
        }
        for id in self.ids.borrow().iter() {
            let _ = self.d.docker(&["rmi", "-f", id]);
        }
    }
}

#[track_caller]
fn ok(out: &Output, what: &str) {
    assert!(out.success(), "{what} failed\n{}", out.describe());
}

/// `docker load -i <archive>`, which must succeed.
#[track_caller]
fn load(d: &Daemon, archive: &Path) -> Output {
    let out = d.docker(&["load", "-i", &archive.display().to_string()]);
    ok(&out, &format!("docker load -i {}", archive.display()));
    out
}

/// `docker image inspect` of one image, parsed.
#[track_caller]
fn inspect(d: &Daemon, name: &str) -> Value {
    let out = d.docker(&["image", "inspect", name]);
    ok(&out, &format!("docker image inspect {name}"));
    let v = out.json();
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    v[0].clone()
}

/// `GET /v<version>/images/json` with `filters`, which must answer 200.
#[track_caller]
fn list(d: &Daemon, version: &str, filters: &Value) -> Vec<Value> {
    let mut path = format!("/v{version}/images/json");
    if !filters.as_object().is_some_and(|m| m.is_empty()) {
        path.push_str(&format!("?filters={}", url_encode(&filters.to_string())));
    }
    let r = d.get(&path);
    assert_eq!(r.status, 200, "GET {path}\n{}", r.describe());
    r.json()
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("GET {path}: not an array\n{}", r.describe()))
}

/// The IDs in a list answer that belong to `mine` (other tests may share the daemon).
fn ids_among(items: &[Value], mine: &[&Image]) -> BTreeSet<String> {
    items
        .iter()
        .filter_map(|i| i["Id"].as_str())
        .filter(|id| mine.iter().any(|m| m.id == *id))
        .map(str::to_string)
        .collect()
}

fn set(images: &[&Image]) -> BTreeSet<String> {
    images.iter().map(|i| i.id.clone()).collect()
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().filter(|l| !l.trim().is_empty()).collect()
}

/// True when the daemon serves API `version` (its advertised maximum is at least that).
fn serves(d: &Daemon, version: &str) -> bool {
    compare_api_versions(&d.max_api_version(), version).is_ge()
}

/// The major number of the engine version `/version` reports (20 for Debian's dockerd).
fn engine_major(d: &Daemon) -> u64 {
    let (status, v) = d.get_json("/version");
    assert_eq!(status, 200, "{v}");
    v["Version"]
        .as_str()
        .and_then(|s| s.split('.').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no Version in /version: {v}"))
}

/// `sha256:<64 hex>`.
fn is_image_id(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

// ---- docker load ----

#[test]
fn loaded_layers_apply_whiteouts_and_opaque_directories() {
    // A second layer that deletes /bin/ls and replaces /etc wholesale, large enough to be
    // streamed into the content store as it arrives.
    let d = daemon();
    let cleanup = Cleanup::new(&d);
    let mut filler = vec![0u8; 3 << 19];
    let mut x: u32 = 0x9e37_79b9;
    for b in filler.iter_mut() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    let mut spec = ImageSpec::busybox().label(TEST_LABEL, "whiteouts");
    spec.extra_files.push(("bin/.wh.ls".into(), Vec::new()));
    spec.extra_files
        .push(("etc/.wh..wh..opq".into(), Vec::new()));
    spec.extra_files
        .push(("etc/only".into(), b"kept\n".to_vec()));
    spec.extra_files.push(("filler.bin".into(), filler));
    let image = spec.build();
    cleanup.image(&image);
    let tag = "bct-whiteouts:1";
    load(&d, &image.docker_archive(&[tag]));
    let out = d.docker(&[
        "run", "--rm", "--network", "none", tag, "sh", "-c",
        "test -e /bin/ls && echo ls-present; test -e /etc/passwd && echo passwd-present; cat /etc/only; ls /bin | grep -c . ; wc -c < /filler.bin",
    ]);
    assert!(out.success(), "{}", out.describe());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        !lines.contains(&"ls-present"),
        "/bin/ls was not deleted: {lines:?}"
    );
    assert!(
        !lines.contains(&"passwd-present"),
        "/etc was not replaced: {lines:?}"
    );
    assert!(lines.contains(&"kept"), "{lines:?}");
    assert!(lines.iter().any(|l| l.trim() == "1572864"), "{lines:?}");
    // The rest of /bin is still there.
    let applets: usize = lines
        .iter()
        .rev()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    assert!(applets > 3, "{lines:?}");
}

#[test]
fn load_prints_the_tag_and_inspect_shows_the_fixture() {
    let d = daemon();
    let img = fixtures::test_image("load-inspect");
    let c = Cleanup::new(&d);
    c.image(&img);

    let out = load(&d, &img.docker_archive(&["bct-load-inspect:1"]));
    assert_eq!(
        out.stdout,
        "Loaded image: bct-load-inspect:1\n",
        "{}",
        out.describe()
    );

    let out = d.docker(&[
        "images",
        "--format",
        "{{.Repository}}|{{.Tag}}|{{.ID}}",
        "bct-load-inspect",
    ]);
    ok(&out, "docker images --format");
    assert_eq!(
        lines(&out.stdout),
        [format!("bct-load-inspect|1|{}", img.short_id())],
        "{}",
        out.describe()
    );
    let out = d.docker(&["images", "-q", "--no-trunc", "bct-load-inspect:1"]);
    ok(&out, "docker images -q --no-trunc");
    assert_eq!(lines(&out.stdout), [img.id.as_str()], "{}", out.describe());

    let v = inspect(&d, "bct-load-inspect:1");
    assert_eq!(v["Id"], img.id.as_str(), "{v}");
    assert_eq!(v["RepoTags"], json!(["bct-load-inspect:1"]), "{v}");
    assert_eq!(v["RootFS"]["Type"], "layers", "{v}");
    assert_eq!(v["RootFS"]["Layers"], json!(img.diff_ids()), "{v}");
    assert_eq!(v["Config"]["Cmd"], json!(["sh"]), "{v}");
    assert_eq!(v["Config"]["Env"], json!([PATH_ENV]), "{v}");
    assert_eq!(
        v["Config"]["Labels"],
        json!({ TEST_LABEL: "load-inspect" }),
        "{v}"
    );
    assert_eq!(v["Architecture"], "amd64", "{v}");
    assert_eq!(v["Os"], "linux", "{v}");
    assert_eq!(v["Created"], fixtures::CREATED, "{v}");
    assert_eq!(v["Parent"], "", "{v}");
    assert!(
        v["Size"].as_i64().is_some_and(|s| s > 1_000_000),
        "Size of a busybox image: {v}"
    );

    // By full ID, by short ID and by ID without the algorithm: the same image.
    for name in [img.id.as_str(), img.short_id(), img.hex()] {
        assert_eq!(inspect(&d, name)["Id"], img.id.as_str(), "{name}");
    }

    // Loading the same archive again is harmless and says the same.
    let out = load(&d, &img.docker_archive(&["bct-load-inspect:1"]));
    assert_eq!(
        out.stdout,
        "Loaded image: bct-load-inspect:1\n",
        "{}",
        out.describe()
    );
}

#[test]
fn load_with_several_tags_prints_each() {
    let d = daemon();
    let img = fixtures::test_image("load-tags");
    let c = Cleanup::new(&d);
    c.image(&img);
    let tags = [
        "bct-load-tags:a",
        "bct-load-tags:b",
        "bct-load-tags-other:c",
    ];
    let out = load(&d, &img.docker_archive(&tags));
    let got: BTreeSet<&str> = lines(&out.stdout).into_iter().collect();
    let want: BTreeSet<String> = tags.iter().map(|t| format!("Loaded image: {t}")).collect();
    assert_eq!(
        got,
        want.iter().map(String::as_str).collect(),
        "{}",
        out.describe()
    );
    let v = inspect(&d, &img.id);
    let mut repo_tags: Vec<String> = v["RepoTags"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    repo_tags.sort();
    let mut want = tags.to_vec();
    want.sort();
    assert_eq!(repo_tags, want, "{v}");
}

#[test]
fn load_gzip_compressed_archive() {
    let d = daemon();
    let img = fixtures::test_image("load-gzip");
    let c = Cleanup::new(&d);
    c.image(&img);
    let out = load(&d, &img.docker_archive_gz(&["bct-load-gzip:1"]));
    assert_eq!(
        out.stdout,
        "Loaded image: bct-load-gzip:1\n",
        "{}",
        out.describe()
    );
    let v = inspect(&d, "bct-load-gzip:1");
    assert_eq!(v["Id"], img.id.as_str(), "{v}");
    assert_eq!(v["RootFS"]["Layers"], json!(img.diff_ids()), "{v}");
}

#[test]
fn load_oci_layout_that_also_has_a_docker_manifest() {
    // What Docker 25+ saves; older engines read its manifest.json.
    let d = daemon();
    let img = fixtures::test_image_with_layer("load-oci-docker");
    let c = Cleanup::new(&d);
    c.image(&img);
    let out = load(&d, &img.oci_docker_archive(&["bct-load-oci-docker:1"]));
    assert_eq!(
        out.stdout,
        "Loaded image: bct-load-oci-docker:1\n",
        "{}",
        out.describe()
    );
    let v = inspect(&d, "bct-load-oci-docker:1");
    assert_eq!(v["Id"], img.id.as_str(), "{v}");
    assert_eq!(v["RootFS"]["Layers"], json!(img.diff_ids()), "{v}");
}

#[test]
fn load_bare_oci_layout() {
    let d = daemon();
    if engine_major(&d) < 25 {
        eprintln!("skipped: engines before Docker 25 do not load bare OCI layouts");
        return;
    }
    let img = fixtures::test_image("load-oci");
    let c = Cleanup::new(&d);
    c.image(&img);
    let out = load(&d, &img.oci_layout(&["bct-load-oci:1"]));
    assert_eq!(
        out.stdout,
        "Loaded image: bct-load-oci:1\n",
        "{}",
        out.describe()
    );
    let v = inspect(&d, "bct-load-oci:1");
    assert_eq!(v["Id"], img.id.as_str(), "{v}");
    assert_eq!(v["RootFS"]["Layers"], json!(img.diff_ids()), "{v}");
}

#[test]
fn untagged_load_is_dangling() {
    let d = daemon();
    let img = fixtures::test_image("load-untagged");
    let c = Cleanup::new(&d);
    c.image(&img);

    let out = load(&d, &img.docker_archive(&[]));
    assert_eq!(
        out.stdout,
        format!("Loaded image ID: {}\n", img.id),
        "{}",
        out.describe()
    );

    let out = d.docker(&["images", "-q", "-f", "dangling=true"]);
    ok(&out, "docker images -f dangling=true");
    assert!(
        lines(&out.stdout).contains(&img.short_id()),
        "{} not dangling\n{}",
        img.short_id(),
        out.describe()
    );
    let out = d.docker(&["images", "-q", "--no-trunc", "-f", "dangling=false"]);
    ok(&out, "docker images -f dangling=false");
    assert!(
        !lines(&out.stdout).contains(&img.id.as_str()),
        "{}",
        out.describe()
    );

    let v = inspect(&d, &img.id);
    assert_eq!(v["RepoTags"], json!([]), "{v}");
    assert_eq!(v["RepoDigests"], json!([]), "{v}");

    // API 1.41 shows untagged images as <none>; 1.43 and later as empty lists.
    let filters = json!({ "label": { format!("{TEST_LABEL}=load-untagged"): true } });
    let items = list(&d, "1.41", &filters);
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["Id"], img.id.as_str(), "{items:?}");
    assert_eq!(items[0]["RepoTags"], json!(["<none>:<none>"]), "{items:?}");
    assert_eq!(
        items[0]["RepoDigests"],
        json!(["<none>@<none>"]),
        "{items:?}"
    );
    if serves(&d, "1.44") {
        let items = list(&d, "1.44", &filters);
        assert_eq!(items.len(), 1, "{items:?}");
        assert_eq!(items[0]["RepoTags"], json!([]), "{items:?}");
        assert_eq!(items[0]["RepoDigests"], json!([]), "{items:?}");
    }

    // Removing an untagged image deletes it without untagging anything.
    let out = d.docker(&["rmi", img.short_id()]);
    ok(&out, "docker rmi <dangling>");
    let out_lines = lines(&out.stdout);
    assert_eq!(
        out_lines.first().copied(),
        Some(format!("Deleted: {}", img.id).as_str()),
        "{}",
        out.describe()
    );
    assert!(
        !out.stdout.contains("Untagged:"),
        "nothing to untag\n{}",
        out.describe()
    );
}

#[test]
fn load_moves_an_existing_tag_and_the_old_image_stays_dangling() {
    let d = daemon();
    let old = fixtures::test_image("load-retag-old");
    let new = fixtures::test_image("load-retag-new");
    let c = Cleanup::new(&d);
    c.image(&old);
    c.image(&new);
    load(&d, &old.docker_archive(&["bct-load-retag:1"]));
    let out = load(&d, &new.docker_archive(&["bct-load-retag:1"]));
    // dockerd first says "The image bct-load-retag:1 already exists, renaming the old one
    // with ID sha256:... to empty string"; the last line is the same everywhere.
    assert_eq!(
        lines(&out.stdout).last().copied(),
        Some("Loaded image: bct-load-retag:1"),
        "{}",
        out.describe()
    );
    assert_eq!(inspect(&d, "bct-load-retag:1")["Id"], new.id.as_str());
    let v = inspect(&d, &old.id);
    assert_eq!(v["RepoTags"], json!([]), "old image keeps no tag: {v}");
    let out = d.docker(&["images", "-q", "--no-trunc", "-f", "dangling=true"]);
    ok(&out, "docker images -f dangling=true");
    assert!(
        lines(&out.stdout).contains(&old.id.as_str()),
        "{}",
        out.describe()
    );
}

/// Dangling images without a test label: what a failed load could leave behind.
fn stray_dangling(d: &Daemon) -> BTreeSet<String> {
    let items = list(d, "1.41", &json!({ "dangling": { "true": true } }));
    items
        .iter()
        .filter(|i| i["Labels"].get(TEST_LABEL).is_none())
        .filter_map(|i| i["Id"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn load_of_garbage_fails_and_leaves_nothing_behind() {
    let d = daemon();
    let before = stray_dangling(&d);
    let owned_before = d
        .owned()
        .then(|| d.docker(&["images", "-a", "-q", "--no-trunc"]).stdout);

    let not_a_tar = fixtures::scratch_path("not-a-tar");
    std::fs::write(&not_a_tar, b"this is not a tar archive\n").unwrap();
    let no_manifest = fixtures::plain_tar("no-manifest.tar", &[("hello.txt", b"hello\n")]);
    let empty = fixtures::scratch_path("empty");
    std::fs::write(&empty, b"").unwrap();
    // A manifest naming a config that is not in the archive.
    let broken = fixtures::plain_tar(
        "broken-manifest.tar",
        &[(
            "manifest.json",
            br#"[{"Config":"missing.json","RepoTags":["bct-load-garbage:1"],"Layers":[]}]"#,
        )],
    );

    for archive in [&not_a_tar, &no_manifest, &empty, &broken] {
        let out = d.docker(&["load", "-i", &archive.display().to_string()]);
        assert!(
            !out.success() && !out.timed_out,
            "docker load of {} should fail\n{}",
            archive.display(),
            out.describe()
        );
        assert!(
            !out.stderr.trim().is_empty(),
            "no error message\n{}",
            out.describe()
        );
        assert!(!out.stdout.contains("Loaded image"), "{}", out.describe());
    }
    let out = d.docker(&["image", "inspect", "bct-load-garbage:1"]);
    assert!(!out.success(), "{}", out.describe());
    assert_eq!(stray_dangling(&d), before, "a failed load left an image");
    if let Some(before) = owned_before {
        let after = d.docker(&["images", "-a", "-q", "--no-trunc"]).stdout;
        assert_eq!(after, before, "images appeared after failed loads");
    }
}

#[test]
fn interrupted_or_refused_loads_leave_no_layer_in_the_content_store() {
    // Layers stream into containerd while the archive arrives; one that is cut off or not
    // wanted after all must not stay there.
    let d = daemon();
    if d.skip_unless_owned("inspects berthd's own containerd") {
        return;
    }
    let mut noise = vec![0u8; 3 << 20];
    let mut x: u32 = 0x2545_f491;
    for b in noise.iter_mut() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    let mut spec = ImageSpec::busybox().label(TEST_LABEL, "interrupted-load");
    spec.extra_files.push(("noise.bin".into(), noise));
    let image = spec.build();
    let layer = image.layers.last().unwrap().clone();
    let archive = std::fs::read(image.docker_archive(&["bct-interrupted:1"])).unwrap();

    // Cut in the middle of the big layer.
    let cut = fixtures::scratch_path("interrupted.tar");
    let at = archive
        .windows(9)
        .position(|w| w == b"noise.bin")
        .expect("the layer is in the archive")
        + (1 << 20);
    std::fs::write(&cut, &archive[..at]).unwrap();
    let out = d.docker(&["load", "-i", &cut.display().to_string()]);
    assert!(!out.success() && !out.timed_out, "{}", out.describe());

    // Whole, but with a config that disowns the layer: it is written, then refused.
    let mut bad_config: Value = serde_json::from_slice(&image.config).unwrap();
    let zeros = format!("sha256:{}", "0".repeat(64));
    *bad_config["rootfs"]["diff_ids"]
        .as_array_mut()
        .unwrap()
        .last_mut()
        .unwrap() = json!(zeros);
    let bad_config = serde_json::to_vec(&bad_config).unwrap();
    let layer_paths: Vec<String> = image
        .layers
        .iter()
        .map(|l| format!("{}/layer.tar", l.hex()))
        .collect();
    let manifest = json!([{
        "Config": "config.json",
        "RepoTags": ["bct-interrupted:2"],
        "Layers": layer_paths,
    }]);
    let layer_bytes: Vec<Vec<u8>> = image
        .layers
        .iter()
        .map(|l| std::fs::read(&l.path).unwrap())
        .collect();
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let mut files: Vec<(&str, &[u8])> = layer_paths
        .iter()
        .zip(&layer_bytes)
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    files.push(("config.json", &bad_config));
    files.push(("manifest.json", &manifest_bytes));
    let refused = fixtures::plain_tar("refused-layer.tar", &files);
    let out = d.docker(&["load", "-i", &refused.display().to_string()]);
    assert!(!out.success() && !out.timed_out, "{}", out.describe());
    assert!(
        out.stderr.contains("invalid diffID for layer"),
        "{}",
        out.describe()
    );

    // The load's lease is gone, so containerd's collector takes what it held.
    let gone = compat_tests::wait_until(Duration::from_secs(10), || {
        !d.ctr(&["content", "ls", "-q"]).contains(&layer.diff_id)
            && d.ctr(&["content", "active"]).lines().count() <= 1
    });
    assert!(
        gone,
        "layer or ingest left behind:\n{}\n{}",
        d.ctr(&["content", "ls"]),
        d.ctr(&["content", "active"])
    );
    for tag in ["bct-interrupted:1", "bct-interrupted:2"] {
        assert!(!d.docker(&["image", "inspect", tag]).success());
    }
}

#[test]
fn load_errors_are_reported_in_the_progress_stream() {
    // moby answers 200 and reports the failure as the last JSON message, both in 20.10 and
    // in current releases (the CLI then prints the bare message, without "Error response
    // from daemon:").
    let d = daemon();
    let no_manifest = fixtures::plain_tar("stream-no-manifest.tar", &[("a.txt", b"a\n")]);
    let body = std::fs::read(&no_manifest).unwrap();
    let r = d.request(
        "POST",
        "/v1.41/images/load?quiet=1",
        &[("Content-Type", "application/x-tar")],
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(
        r.header("Content-Type"),
        Some("application/json"),
        "{}",
        r.describe()
    );
    let text = r.text();
    let last = lines(&text)
        .last()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .unwrap_or_else(|| panic!("empty body\n{}", r.describe()));
    let message = last["errorDetail"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no errorDetail: {last}"));
    assert!(!message.is_empty(), "{last}");
    assert_eq!(last["error"], message, "{last}");
}

#[test]
fn load_answers_a_json_progress_stream() {
    let d = daemon();
    let img = fixtures::test_image("load-stream");
    let c = Cleanup::new(&d);
    c.image(&img);
    let body = std::fs::read(img.docker_archive(&["bct-load-stream:1"])).unwrap();
    let r = d.request(
        "POST",
        "/v1.41/images/load?quiet=1",
        &[("Content-Type", "application/x-tar")],
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(
        r.header("Content-Type"),
        Some("application/json"),
        "{}",
        r.describe()
    );
    let text = r.text();
    let messages: Vec<Value> = lines(&text)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert!(
        messages.contains(&json!({ "stream": "Loaded image: bct-load-stream:1\n" })),
        "{text:?}"
    );
}

// ---- list ----

const LIST_KEYS: &[&str] = &[
    "Containers",
    "Created",
    "Id",
    "Labels",
    "ParentId",
    "RepoDigests",
    "RepoTags",
    "SharedSize",
    "Size",
];

#[test]
fn list_shape_depends_on_the_api_version() {
    let d = daemon();
    let img = fixtures::test_image("list-shape");
    let c = Cleanup::new(&d);
    c.image(&img);
    load(&d, &img.docker_archive(&["bct-list-shape:1"]));
    let filters = json!({ "reference": { "bct-list-shape": true } });

    let items = list(&d, "1.41", &filters);
    assert_eq!(items.len(), 1, "{items:?}");
    let item = &items[0];
    let keys: Vec<&str> = item
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut want: Vec<&str> = LIST_KEYS.to_vec();
    want.push("VirtualSize");
    want.sort();
    assert_eq!(keys, want, "{item}");
    assert_eq!(item["Id"], img.id.as_str(), "{item}");
    assert_eq!(item["Created"], CREATED_UNIX, "{item}");
    assert_eq!(item["ParentId"], "", "{item}");
    assert_eq!(item["RepoTags"], json!(["bct-list-shape:1"]), "{item}");
    // No digests for a loaded image: dockerd 20.10 says null, newer engines [].
    assert!(
        item["RepoDigests"].is_null() || item["RepoDigests"] == json!([]),
        "{item}"
    );
    assert_eq!(
        item["Labels"],
        json!({ TEST_LABEL: "list-shape" }),
        "{item}"
    );
    assert_eq!(item["Containers"], -1, "{item}");
    assert_eq!(item["SharedSize"], -1, "{item}");
    assert!(
        item["Size"].as_i64().is_some_and(|s| s > 1_000_000),
        "{item}"
    );
    assert_eq!(item["VirtualSize"], item["Size"], "{item}");

    if serves(&d, "1.44") {
        let items = list(&d, "1.44", &filters);
        assert_eq!(items.len(), 1, "{items:?}");
        let keys: BTreeSet<&str> = items[0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for k in LIST_KEYS {
            assert!(keys.contains(k), "{k} missing at 1.44: {}", items[0]);
        }
        assert!(
            !keys.contains("VirtualSize"),
            "VirtualSize is gone from 1.44: {}",
            items[0]
        );
    } else {
        eprintln!("daemon does not serve 1.44; only the 1.41 shape was checked");
    }
}

#[test]
fn list_filters_reference_label_dangling_before_since() {
    let d = daemon();
    let one = ImageSpec::busybox()
        .label(TEST_LABEL, "list-filters-one")
        .label("org.berth.filter", "one")
        .build();
    let two = ImageSpec::busybox()
        .label(TEST_LABEL, "list-filters-two")
        .label("org.berth.filter", "two")
        .created(fixtures::VARIANT_CREATED)
        .file("etc/two", "two\n")
        .build();
    let three = ImageSpec::busybox()
        .label(TEST_LABEL, "list-filters-three")
        .label("org.berth.filter", "three")
        .build();
    let c = Cleanup::new(&d);
    for i in [&one, &two, &three] {
        c.image(i);
    }
    load(
        &d,
        &fixtures::docker_archive(&[
            (&one, &["bct-list-filters:one"]),
            (&two, &["bct-list-filters:two", "bct-list-filters-x/two:2"]),
        ]),
    );
    load(&d, &three.docker_archive(&[]));
    let all = [&one, &two, &three];
    let check = |filters: Value, want: &[&Image]| {
        for version in ["1.41", "1.44"] {
            if version == "1.44" && !serves(&d, version) {
                continue;
            }
            let items = list(&d, version, &filters);
            assert_eq!(
                ids_among(&items, &all),
                set(want),
                "filters {filters} at {version}: {items:?}"
            );
        }
    };

    check(
        json!({ "reference": { "bct-list-filters": true } }),
        &[&one, &two],
    );
    check(
        json!({ "reference": { "bct-list-filters:o*": true } }),
        &[&one],
    );
    check(
        json!({ "reference": { "bct-list-f*": true } }),
        &[&one, &two],
    );
    check(
        json!({ "reference": { "bct-list-filters-x/*": true } }),
        &[&two],
    );
    check(
        json!({ "reference": { "bct-list-filters:two": true } }),
        &[&two],
    );
    check(json!({ "reference": { "bct-list-nomatch*": true } }), &[]);
    check(
        json!({ "reference": { "bct-list-filters:one": true, "bct-list-filters:two": true } }),
        &[&one, &two],
    );
    check(json!({ "label": { "org.berth.filter": true } }), &all);
    check(
        json!({ "label": { "org.berth.filter=two": true } }),
        &[&two],
    );
    check(json!({ "label": { "org.berth.filter=nine": true } }), &[]);
    check(
        json!({ "label": { "org.berth.filter": true }, "reference": { "bct-list-filters": true } }),
        &[&one, &two],
    );
    check(json!({ "dangling": { "true": true } }), &[&three]);
    check(json!({ "dangling": { "false": true } }), &[&one, &two]);
    check(
        json!({ "dangling": { "true": true }, "label": { "org.berth.filter=three": true } }),
        &[&three],
    );
    check(
        json!({ "since": { "bct-list-filters:one": true } }),
        &[&two],
    );
    check(
        json!({ "before": { "bct-list-filters:two": true } }),
        &[&one, &three],
    );
    check(
        json!({ "before": { (two.short_id()): true } }),
        &[&one, &three],
    );

    // The same through the CLI.
    let out = d.docker(&[
        "images",
        "-q",
        "--no-trunc",
        "-f",
        "label=org.berth.filter=one",
    ]);
    ok(&out, "docker images -f label=");
    assert_eq!(lines(&out.stdout), [one.id.as_str()], "{}", out.describe());
    let out = d.docker(&[
        "images",
        "-q",
        "--no-trunc",
        "-f",
        "reference=bct-list-filters*",
    ]);
    ok(&out, "docker images -f reference=");
    let got: BTreeSet<&str> = lines(&out.stdout).into_iter().collect();
    assert_eq!(
        got,
        BTreeSet::from([one.id.as_str(), two.id.as_str()]),
        "{}",
        out.describe()
    );
}

#[test]
fn reference_filter_narrows_repo_tags() {
    // moby lists, for each matching image, only the references that match the filter.
    let d = daemon();
    let img = fixtures::test_image("list-narrow");
    let c = Cleanup::new(&d);
    c.image(&img);
    load(
        &d,
        &img.docker_archive(&[
            "bct-list-narrow:1",
            "bct-list-narrow:2",
            "bct-list-narrow-x/y:3",
        ]),
    );
    for (pattern, want) in [
        (
            "bct-list-narrow",
            vec!["bct-list-narrow:1", "bct-list-narrow:2"],
        ),
        (
            "bct-list-narrow*",
            vec!["bct-list-narrow:1", "bct-list-narrow:2"],
        ),
        ("bct-list-narrow:2", vec!["bct-list-narrow:2"]),
        ("bct-list-narrow-x/*", vec!["bct-list-narrow-x/y:3"]),
    ] {
        let items = list(&d, "1.41", &json!({ "reference": { pattern: true } }));
        let item = items
            .iter()
            .find(|i| i["Id"] == img.id.as_str())
            .unwrap_or_else(|| panic!("{pattern}: image not listed: {items:?}"));
        let mut tags: Vec<&str> = item["RepoTags"]
            .as_array()
            .unwrap_or_else(|| panic!("{item}"))
            .iter()
            .filter_map(Value::as_str)
            .collect();
        tags.sort();
        assert_eq!(tags, want, "reference={pattern}: {item}");
    }
    let out = d.docker(&[
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}}",
        "-f",
        "reference=bct-list-narrow*",
    ]);
    ok(&out, "docker images -f reference=");
    let got: BTreeSet<&str> = lines(&out.stdout).into_iter().collect();
    assert_eq!(
        got,
        BTreeSet::from(["bct-list-narrow:1", "bct-list-narrow:2"]),
        "{}",
        out.describe()
    );
}

#[test]
fn list_rejects_unknown_and_malformed_filters() {
    let d = daemon();
    // dockerd 20.10 capitalises "Invalid filter"; current moby writes "invalid filter".
    for (filters, message) in [
        (json!({ "bogus": { "x": true } }), "invalid filter 'bogus'"),
        (
            json!({ "dangling": { "maybe": true } }),
            "invalid filter 'dangling=[maybe]'",
        ),
    ] {
        let path = format!(
            "/v1.41/images/json?filters={}",
            url_encode(&filters.to_string())
        );
        let r = d.get(&path);
        assert_eq!(r.status, 400, "{path}\n{}", r.describe());
        assert_eq!(
            r.header("Content-Type"),
            Some("application/json"),
            "{}",
            r.describe()
        );
        let got = r.json()["message"].as_str().unwrap_or_default().to_string();
        assert!(
            got.eq_ignore_ascii_case(message),
            "{path}: message {got:?}, want {message:?} (case aside)"
        );
    }
    let out = d.docker(&["images", "-f", "bogus=1"]);
    assert_eq!(out.status, 1, "{}", out.describe());
    assert!(
        out.stderr
            .to_ascii_lowercase()
            .starts_with("error response from daemon: invalid filter 'bogus'"),
        "{}",
        out.describe()
    );
}

#[test]
fn list_filter_naming_an_unknown_image_is_not_found() {
    let d = daemon();
    for key in ["before", "since"] {
        let filters = json!({ key: { "bct-no-such-image": true } });
        let path = format!(
            "/v1.41/images/json?filters={}",
            url_encode(&filters.to_string())
        );
        let r = d.get(&path);
        compat_tests::expect::json_error(&r, 404, "No such image: bct-no-such-image:latest");
    }
}

// ---- inspect, history ----

#[test]
fn unknown_images_are_not_found() {
    let d = daemon();
    let out = d.docker(&["rmi", "bct-no-such-image"]);
    assert_eq!(out.status, 1, "{}", out.describe());
    assert_eq!(
        out.stderr,
        "Error response from daemon: No such image: bct-no-such-image:latest\n",
        "{}",
        out.describe()
    );
    let out = d.docker(&["rmi", "bct-no-such-image:2"]);
    assert_eq!(
        out.stderr,
        "Error response from daemon: No such image: bct-no-such-image:2\n",
        "{}",
        out.describe()
    );

    // dockerd 20.10 says "no such image: bct-no-such-image: No such image:
    // bct-no-such-image:latest" here; current moby only the second half.
    let out = d.docker(&["image", "inspect", "bct-no-such-image"]);
    assert_eq!(out.status, 1, "{}", out.describe());
    assert_eq!(out.stdout.trim(), "[]", "{}", out.describe());
    let err = out.stderr.trim_end();
    assert!(
        err.starts_with("Error response from daemon: ")
            && err.ends_with("No such image: bct-no-such-image:latest"),
        "{}",
        out.describe()
    );
    let r = d.get("/v1.41/images/bct-no-such-image/json");
    assert_eq!(r.status, 404, "{}", r.describe());
    assert!(
        r.json()["message"]
            .as_str()
            .is_some_and(|m| m.ends_with("No such image: bct-no-such-image:latest")),
        "{}",
        r.describe()
    );

    let r = d.get("/v1.41/images/bct-no-such-image/history");
    compat_tests::expect::json_error(&r, 404, "No such image: bct-no-such-image:latest");
    let r = d.request("DELETE", "/v1.41/images/bct-no-such-image", &[], b"");
    compat_tests::expect::json_error(&r, 404, "No such image: bct-no-such-image:latest");

    let out = d.docker(&["history", "bct-no-such-image"]);
    assert_eq!(
        out.stderr,
        "Error response from daemon: No such image: bct-no-such-image:latest\n",
        "{}",
        out.describe()
    );
    let out = d.docker(&["tag", "bct-no-such-image", "bct-no-such-image-2"]);
    assert_eq!(out.status, 1, "{}", out.describe());
    assert_eq!(
        out.stderr,
        "Error response from daemon: No such image: bct-no-such-image:latest\n",
        "{}",
        out.describe()
    );
}

#[test]
fn history_lists_entries_newest_first() {
    let d = daemon();
    let img = fixtures::test_image_with_layer("history");
    let c = Cleanup::new(&d);
    c.image(&img);
    load(&d, &img.docker_archive(&["bct-history:1"]));
    let config = img.config_json();
    let mut want_history: Vec<Value> = config["history"].as_array().unwrap().clone();
    want_history.reverse();

    let out = d.docker(&[
        "history",
        "--no-trunc",
        "--format",
        "{{json .}}",
        "bct-history:1",
    ]);
    ok(&out, "docker history");
    let rows: Vec<Value> = lines(&out.stdout)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), want_history.len(), "{}", out.describe());
    assert_eq!(rows[0]["ID"], img.id.as_str(), "{}", out.describe());
    for (row, h) in rows.iter().zip(&want_history) {
        assert_eq!(row["CreatedBy"], h["created_by"], "{row}");
        assert_eq!(row["CreatedAt"], h["created"], "{row}");
        if h["empty_layer"] == true {
            assert_eq!(row["Size"], "0B", "{row}");
        }
    }
    for row in &rows[1..] {
        assert_eq!(row["ID"], "<missing>", "{row}");
    }

    let (status, v) = d.get_json("/v1.41/images/bct-history:1/history");
    assert_eq!(status, 200, "{v}");
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), want_history.len(), "{v}");
    for item in items {
        let keys: BTreeSet<&str> = item
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from(["Comment", "Created", "CreatedBy", "Id", "Size", "Tags"]),
            "{item}"
        );
    }
    assert_eq!(items[0]["Id"], img.id.as_str(), "{v}");
    assert_eq!(items[0]["Tags"], json!(["bct-history:1"]), "{v}");
    assert_eq!(items[0]["Created"], CREATED_UNIX, "{v}");
    for (item, h) in items.iter().zip(&want_history) {
        if h["empty_layer"] == true {
            assert_eq!(item["Size"], 0, "{item}");
        } else {
            assert!(item["Size"].as_i64().is_some_and(|s| s > 0), "{item}");
        }
    }
    for item in &items[1..] {
        assert_eq!(item["Id"], "<missing>", "{item}");
        assert_eq!(item["Tags"], Value::Null, "{item}");
    }
    // The busybox layer is the biggest entry, the oldest one.
    let last = items.last().unwrap();
    assert!(
        last["Size"].as_i64().is_some_and(|s| s > 1_000_000),
        "{last}"
    );
}

// ---- tag, rmi ----

#[test]
fn rmi_untags_until_the_last_tag_then_deletes() {
    let d = daemon();
    let img = fixtures::test_image("rmi-last");
    let c = Cleanup::new(&d);
    c.image(&img);
    load(&d, &img.docker_archive(&["bct-rmi-last:a"]));
    ok(
        &d.docker(&["tag", "bct-rmi-last:a", "bct-rmi-last:b"]),
        "docker tag",
    );
    ok(
        &d.docker(&["tag", img.short_id(), "bct-rmi-last-other"]),
        "docker tag <short id>",
    );
    let v = inspect(&d, &img.id);
    let mut tags: Vec<&str> = v["RepoTags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    tags.sort();
    assert_eq!(
        tags,
        [
            "bct-rmi-last-other:latest",
            "bct-rmi-last:a",
            "bct-rmi-last:b"
        ],
        "{v}"
    );

    for (name, shown) in [
        ("bct-rmi-last:a", "bct-rmi-last:a"),
        ("bct-rmi-last-other", "bct-rmi-last-other:latest"),
    ] {
        let out = d.docker(&["rmi", name]);
        ok(&out, "docker rmi <tag>");
        assert_eq!(
            out.stdout,
            format!("Untagged: {shown}\n"),
            "{}",
            out.describe()
        );
        assert_eq!(inspect(&d, &img.id)["Id"], img.id.as_str());
    }

    let out = d.docker(&["rmi", "bct-rmi-last:b"]);
    ok(&out, "docker rmi <last tag>");
    let got = lines(&out.stdout);
    assert_eq!(
        got.first().copied(),
        Some("Untagged: bct-rmi-last:b"),
        "{}",
        out.describe()
    );
    assert_eq!(
        got.get(1).copied(),
        Some(format!("Deleted: {}", img.id).as_str()),
        "{}",
        out.describe()
    );
    // dockerd's graph driver also lists the layers it removed; all are IDs.
    for l in &got[2..] {
        let id = l
            .strip_prefix("Deleted: ")
            .unwrap_or_else(|| panic!("{l:?}"));
        assert!(is_image_id(id), "{l:?}");
    }
    let out = d.docker(&["image", "inspect", &img.id]);
    assert!(!out.success(), "image still there\n{}", out.describe());
}

#[test]
fn rmi_by_id_with_several_repositories_needs_force() {
    let d = daemon();
    let img = fixtures::test_image("rmi-force");
    let c = Cleanup::new(&d);
    c.image(&img);
    load(
        &d,
        &img.docker_archive(&["bct-rmi-force:a", "bct-rmi-force-other:b"]),
    );

    let out = d.docker(&["rmi", img.short_id()]);
    assert_eq!(out.status, 1, "{}", out.describe());
    assert_eq!(
        out.stderr,
        format!(
            "Error response from daemon: conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories\n",
            img.short_id()
        ),
        "{}",
        out.describe()
    );
    let r = d.request(
        "DELETE",
        &format!("/v1.41/images/{}", img.short_id()),
        &[],
        b"",
    );
    compat_tests::expect::json_error(
        &r,
        409,
        &format!(
            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
            img.short_id()
        ),
    );
    assert_eq!(inspect(&d, &img.id)["Id"], img.id.as_str());

    let r = d.request(
        "DELETE",
        &format!("/v1.41/images/{}?force=1", img.short_id()),
        &[],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.describe());
    let items = r.json();
    let items = items
        .as_array()
        .unwrap_or_else(|| panic!("{}", r.describe()));
    let untagged: BTreeSet<&str> = items
        .iter()
        .filter_map(|i| i.get("Untagged").and_then(Value::as_str))
        .collect();
    assert_eq!(
        untagged,
        BTreeSet::from(["bct-rmi-force-other:b", "bct-rmi-force:a"]),
        "{}",
        r.describe()
    );
    let deleted: Vec<&str> = items
        .iter()
        .filter_map(|i| i.get("Deleted").and_then(Value::as_str))
        .collect();
    assert_eq!(
        deleted.first().copied(),
        Some(img.id.as_str()),
        "{}",
        r.describe()
    );
    for i in items {
        let keys: Vec<&String> = i.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 1, "one of Untagged/Deleted per item: {i}");
    }
    let out = d.docker(&["image", "inspect", &img.id]);
    assert!(!out.success(), "image still there\n{}", out.describe());

    // The CLI's -f says the same in words.
    load(
        &d,
        &img.docker_archive(&["bct-rmi-force:a", "bct-rmi-force-other:b"]),
    );
    let out = d.docker(&["rmi", "-f", img.short_id()]);
    ok(&out, "docker rmi -f");
    let got = lines(&out.stdout);
    assert!(
        got.contains(&"Untagged: bct-rmi-force:a"),
        "{}",
        out.describe()
    );
    assert!(
        got.contains(&"Untagged: bct-rmi-force-other:b"),
        "{}",
        out.describe()
    );
    assert!(
        got.contains(&format!("Deleted: {}", img.id).as_str()),
        "{}",
        out.describe()
    );
}

#[test]
fn tag_rejects_bad_names() {
    let d = daemon();
    let img = fixtures::test_image("tag-bad");
    let c = Cleanup::new(&d);
    c.image(&img);
    load(&d, &img.docker_archive(&["bct-tag-bad:1"]));
    // The CLI refuses these itself; the daemon must too. dockerd 20.10 answers 500, current
    // moby 400 (InvalidParameter). Newer reference parsers also name the repository in the
    // "must be lowercase" message.
    let long_tag = format!("repo=bct-tag-bad&tag={}", "x".repeat(129));
    for (query, message) in [
        (
            "repo=Bct-Upper&tag=1",
            "invalid reference format: repository name ",
        ),
        ("repo=bct-tag-bad&tag=bad:tag", "invalid tag format"),
        (long_tag.as_str(), "invalid tag format"),
    ] {
        let r = d.request(
            "POST",
            &format!("/v1.41/images/bct-tag-bad:1/tag?{query}"),
            &[],
            b"",
        );
        assert!(
            r.status == 400 || r.status == 500,
            "{query}\n{}",
            r.describe()
        );
        let got = r.json()["message"].as_str().unwrap_or_default().to_string();
        assert!(
            got.starts_with(message),
            "{query}: {got:?} should start with {message:?}"
        );
        if query.contains("Upper") {
            assert!(got.ends_with("must be lowercase"), "{got:?}");
        }
    }
    let r = d.request(
        "POST",
        "/v1.41/images/bct-tag-bad:1/tag?repo=bct-tag-bad&tag=2",
        &[],
        b"",
    );
    assert_eq!(r.status, 201, "{}", r.describe());
    assert!(r.body.is_empty(), "{}", r.describe());
    assert_eq!(inspect(&d, "bct-tag-bad:2")["Id"], img.id.as_str());
    // A repository without a tag gets "latest"; one with a registry host keeps it.
    for (query, name) in [
        ("repo=bct-tag-bad-norepo", "bct-tag-bad-norepo:latest"),
        (
            "repo=localhost:5000/bct-tag-bad&tag=3",
            "localhost:5000/bct-tag-bad:3",
        ),
    ] {
        let r = d.request(
            "POST",
            &format!("/v1.41/images/bct-tag-bad:1/tag?{query}"),
            &[],
            b"",
        );
        assert_eq!(r.status, 201, "{query}\n{}", r.describe());
        let v = inspect(&d, name);
        assert_eq!(v["Id"], img.id.as_str(), "{v}");
        assert!(
            v["RepoTags"]
                .as_array()
                .unwrap()
                .contains(&Value::from(name)),
            "{v}"
        );
    }
}

// ---- garbage collection ----

#[test]
fn garbage_collection_keeps_a_tagged_image_sharing_layers() {
    let d = daemon();
    let gone = fixtures::test_image_with_layer("gc-gone");
    let kept = fixtures::test_image_with_layer("gc-kept");
    assert_eq!(gone.layers[0].diff_id, kept.layers[0].diff_id);
    let c = Cleanup::new(&d);
    c.image(&gone);
    c.image(&kept);
    load(&d, &gone.docker_archive(&["bct-gc:gone"]));
    load(&d, &kept.docker_archive(&["bct-gc:kept"]));

    let out = d.docker(&["rmi", "bct-gc:gone"]);
    ok(&out, "docker rmi");
    assert!(
        out.stdout.contains(&format!("Deleted: {}", gone.id)),
        "{}",
        out.describe()
    );

    let check_kept = || {
        let v = inspect(&d, "bct-gc:kept");
        assert_eq!(v["Id"], kept.id.as_str(), "{v}");
        assert_eq!(v["RootFS"]["Layers"], json!(kept.diff_ids()), "{v}");
        let (status, h) = d.get_json("/v1.41/images/bct-gc:kept/history");
        assert_eq!(status, 200, "{h}");
    };
    check_kept();

    if d.owned() && std::env::var_os("BERTH_BIN").is_none() {
        // Look inside berthd's containerd: the shared base snapshot and the kept image's
        // own layer must survive a full, synchronous collection.
        let snapshots = || d.ctr(&["snapshots", "ls"]);
        let kept_chain = kept.chain_ids();
        let gone_chain = gone.chain_ids();
        assert_eq!(kept_chain[0], gone_chain[0]);
        collect_garbage(&d);
        let s = snapshots();
        for chain in &kept_chain {
            assert!(
                s.contains(chain.as_str()),
                "snapshot {chain} was collected:\n{s}"
            );
        }
        assert!(
            compat_tests::wait_until(Duration::from_secs(10), || !snapshots()
                .contains(gone_chain[1].as_str())),
            "the removed image's own snapshot {} stays:\n{}",
            gone_chain[1],
            snapshots()
        );
        let content = d.ctr(&["content", "ls", "-q"]);
        for digest in std::iter::once(&kept.id).chain(kept.diff_ids().iter()) {
            assert!(
                content.contains(digest.as_str()),
                "blob {digest} was collected"
            );
        }
        check_kept();
    }
}

/// Forces a synchronous containerd garbage collection without touching berthd's namespace:
/// an image is created and removed with `--sync` in a namespace of our own.
fn collect_garbage(d: &Daemon) {
    collect_garbage_at(&d.exec_root());
}

fn collect_garbage_at(exec_root: &Path) {
    let sock = exec_root.join("containerd").join("containerd.sock");
    let ns = "bct-gc-trigger";
    let run = |args: &[&str]| {
        let out = Command::new("ctr")
            .arg("-a")
            .arg(&sock)
            .args(["-n", ns])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run ctr: {e}"));
        assert!(
            out.status.success(),
            "ctr {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let archive = fixtures::test_image("gc-trigger").docker_archive(&["bct-gc-trigger:1"]);
    run(&[
        "images",
        "import",
        "--no-unpack",
        &archive.display().to_string(),
    ]);
    run(&[
        "images",
        "rm",
        "--sync",
        "docker.io/library/bct-gc-trigger:1",
    ]);
}

#[test]
fn loaded_images_survive_a_busy_collector() {
    // A load must name its image before it lets go of the lease protecting the blobs and
    // snapshots; otherwise a collection running in between takes everything and the image
    // "loaded" a moment ago is gone. On an owned berthd a helper keeps containerd's
    // collector busy while the loads run.
    let d = daemon();
    let images: Vec<Image> = (0..12)
        .map(|i| fixtures::test_image_with_layer(&format!("gc-busy-{i}")))
        .collect();
    let c = Cleanup::new(&d);
    for img in &images {
        c.image(img);
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hammer = (d.owned() && std::env::var_os("BERTH_BIN").is_none()).then(|| {
        let exec_root = d.exec_root();
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                collect_garbage_at(&exec_root);
            }
        })
    });
    for (i, img) in images.iter().enumerate() {
        let tag = format!("bct-gc-busy:{i}");
        let out = d.docker(&[
            "load",
            "-i",
            &img.docker_archive(&[&tag]).display().to_string(),
        ]);
        ok(&out, "docker load");
        assert_eq!(
            out.stdout,
            format!("Loaded image: {tag}\n"),
            "{}",
            out.describe()
        );
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    if let Some(h) = hammer {
        h.join().expect("collector helper");
    }
    let mut lost = Vec::new();
    for (i, img) in images.iter().enumerate() {
        let out = d.docker(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}}",
            &format!("bct-gc-busy:{i}"),
        ]);
        if out.stdout.trim() != img.id {
            lost.push(format!("bct-gc-busy:{i}: {}", out.describe()));
        }
    }
    assert!(
        lost.is_empty(),
        "images lost after docker load:\n{}",
        lost.join("\n")
    );
}

// ---- events ----

/// Image events about `id` between `since` and `until` (seconds), via the CLI.
fn image_events(d: &Daemon, since: u64, until: u64, id: &str) -> Vec<Value> {
    let out = d.docker(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &until.to_string(),
        "--filter",
        "type=image",
        "--format",
        "{{json .}}",
    ]);
    ok(&out, "docker events");
    lines(&out.stdout)
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .filter(|e| e["Actor"]["ID"] == id)
        .collect()
}

fn run_tag_untag_delete(d: &Daemon, img: &Image, repo: &str) -> Vec<Value> {
    let since = unix_now();
    load(d, &img.docker_archive(&[&format!("{repo}:a")]));
    ok(
        &d.docker(&["tag", &format!("{repo}:a"), &format!("{repo}:b")]),
        "docker tag",
    );
    ok(
        &d.docker(&["rmi", &format!("{repo}:b")]),
        "docker rmi <tag>",
    );
    ok(
        &d.docker(&["rmi", &format!("{repo}:a")]),
        "docker rmi <last tag>",
    );
    let until = unix_now() + 1;
    image_events(d, since, until, &img.id)
}

#[test]
fn image_events_for_load_tag_untag_delete() {
    let d = daemon();
    let img = fixtures::test_image("events");
    let c = Cleanup::new(&d);
    c.image(&img);
    let events = run_tag_untag_delete(&d, &img, "bct-events");
    let actions: Vec<&str> = events.iter().filter_map(|e| e["Action"].as_str()).collect();
    assert_eq!(
        actions,
        ["load", "tag", "untag", "untag", "delete"],
        "{events:#?}"
    );
    for e in &events {
        assert_eq!(e["Type"], "image", "{e}");
        assert_eq!(e["scope"], "local", "{e}");
        assert_eq!(e["Actor"]["ID"], img.id.as_str(), "{e}");
        // API 1.41 still carries the legacy fields.
        assert_eq!(e["status"], e["Action"], "{e}");
        assert_eq!(e["id"], img.id.as_str(), "{e}");
    }
    assert_eq!(
        events[1]["Actor"]["Attributes"]["name"], "bct-events:b",
        "{events:#?}"
    );
}

#[test]
fn image_event_attributes_match_dockerd() {
    // moby names the image ID (not the tag) in load, untag and delete events, and copies
    // the image's labels into the attributes of every event but delete.
    let d = daemon();
    let img = fixtures::test_image("events-attrs");
    let c = Cleanup::new(&d);
    c.image(&img);
    let events = run_tag_untag_delete(&d, &img, "bct-events-attrs");
    assert_eq!(events.len(), 5, "{events:#?}");
    let attrs = |i: usize| events[i]["Actor"]["Attributes"].clone();
    let labelled = |name: &str| json!({ "name": name, TEST_LABEL: "events-attrs" });
    assert_eq!(attrs(0), labelled(&img.id), "load: {events:#?}");
    assert_eq!(attrs(1), labelled("bct-events-attrs:b"), "tag: {events:#?}");
    assert_eq!(attrs(2), labelled(&img.id), "untag: {events:#?}");
    assert_eq!(attrs(3), labelled(&img.id), "untag: {events:#?}");
    assert_eq!(attrs(4), json!({ "name": img.id }), "delete: {events:#?}");
}

// ---- docker save ----

/// The files of a tar archive by path. Symbolic links (dockerd links a layer saved twice
/// to its first copy) are followed within the archive.
fn tar_files(path: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut links = Vec::new();
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut archive = tar::Archive::new(f);
    for entry in archive.entries().expect("tar entries") {
        let mut entry = entry.expect("tar entry");
        let name = entry
            .path()
            .unwrap()
            .display()
            .to_string()
            .trim_start_matches("./")
            .to_string();
        let kind = entry.header().entry_type();
        if kind.is_file() {
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            files.insert(name, data);
        } else if kind.is_symlink() {
            let target = entry.link_name().unwrap().expect("link target");
            let dir = Path::new(&name).parent().unwrap_or(Path::new(""));
            let mut resolved = Vec::new();
            for part in dir.join(target).components() {
                match part {
                    std::path::Component::ParentDir => {
                        resolved.pop();
                    }
                    std::path::Component::Normal(p) => {
                        resolved.push(p.to_string_lossy().into_owned())
                    }
                    _ => {}
                }
            }
            links.push((name, resolved.join("/")));
        }
    }
    for (name, target) in links {
        if let Some(data) = files.get(&target).cloned() {
            files.insert(name, data);
        }
    }
    files
}

/// Checks that a saved docker-archive holds `img` under `tags`, byte for byte.
#[track_caller]
fn assert_saved(archive: &Path, images: &[(&Image, &[&str])]) {
    let files = tar_files(archive);
    let manifest: Value = serde_json::from_slice(
        files
            .get("manifest.json")
            .unwrap_or_else(|| panic!("no manifest.json in {:?}", files.keys())),
    )
    .expect("manifest.json is JSON");
    let entries = manifest.as_array().expect("manifest.json is an array");
    assert_eq!(entries.len(), images.len(), "{manifest}");
    for (img, tags) in images {
        let entry = entries
            .iter()
            .find(|e| {
                e["Config"]
                    .as_str()
                    .and_then(|c| files.get(c))
                    .is_some_and(|c| *c == img.config)
            })
            .unwrap_or_else(|| panic!("no entry with the config of {}: {manifest}", img.id));
        let mut got_tags: Vec<&str> = entry["RepoTags"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        got_tags.sort();
        let mut want: Vec<&str> = tags.to_vec();
        want.sort();
        assert_eq!(got_tags, want, "{manifest}");
        let layers: Vec<String> = entry["Layers"]
            .as_array()
            .expect("Layers")
            .iter()
            .map(|l| {
                let data = files
                    .get(l.as_str().unwrap())
                    .unwrap_or_else(|| panic!("layer {l} missing"));
                format!("sha256:{}", fixtures::sha256_hex(data))
            })
            .collect();
        assert_eq!(layers, img.diff_ids(), "layer tars differ: {manifest}");
    }
}

#[test]
fn save_round_trips_through_load() {
    let d = daemon();
    let one = fixtures::test_image_with_layer("save-one");
    let two = fixtures::test_image("save-two");
    let c = Cleanup::new(&d);
    c.image(&one);
    c.image(&two);
    load(&d, &one.docker_archive(&["bct-save:one"]));
    load(
        &d,
        &two.docker_archive(&["bct-save:two", "bct-save-other:two"]),
    );

    let out_path = fixtures::scratch_path("saved-one.tar");
    let out_str = out_path.display().to_string();
    let out = d.docker(&["save", "-o", &out_str, "bct-save:one"]);
    ok(&out, "docker save -o");
    assert_saved(&out_path, &[(&one, &["bct-save:one"])]);

    // The raw routes: one image, and several by name.
    let r = d.get("/v1.41/images/bct-save:two/get");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(
        r.header("Content-Type"),
        Some("application/x-tar"),
        "{}",
        r.describe()
    );
    let two_path = fixtures::scratch_path("saved-two.tar");
    std::fs::write(&two_path, &r.body).unwrap();
    assert_saved(&two_path, &[(&two, &["bct-save:two"])]);

    let r = d.get("/v1.41/images/get?names=bct-save:one&names=bct-save-other:two");
    assert_eq!(r.status, 200, "{}", r.describe());
    let both_path = fixtures::scratch_path("saved-both.tar");
    std::fs::write(&both_path, &r.body).unwrap();
    assert_saved(
        &both_path,
        &[(&one, &["bct-save:one"]), (&two, &["bct-save-other:two"])],
    );

    let r = d.get("/v1.41/images/bct-no-such-image/get");
    assert_eq!(r.status, 404, "{}", r.describe());

    // Remove everything, load the saved archives back: same IDs, same tags.
    for id in [&one.id, &two.id] {
        ok(&d.docker(&["rmi", "-f", id]), "docker rmi -f");
    }
    let out = load(&d, &out_path);
    assert_eq!(
        out.stdout,
        "Loaded image: bct-save:one\n",
        "{}",
        out.describe()
    );
    let out = load(&d, &both_path);
    let got: BTreeSet<&str> = lines(&out.stdout).into_iter().collect();
    assert_eq!(
        got,
        BTreeSet::from([
            "Loaded image: bct-save:one",
            "Loaded image: bct-save-other:two"
        ]),
        "{}",
        out.describe()
    );
    assert_eq!(inspect(&d, "bct-save:one")["Id"], one.id.as_str());
    assert_eq!(inspect(&d, "bct-save-other:two")["Id"], two.id.as_str());
    let v = inspect(&d, "bct-save:one");
    assert_eq!(v["RootFS"]["Layers"], json!(one.diff_ids()), "{v}");
}

/// The reference dockerd, when berthd is the daemon under test and one is running.
fn reference_daemon() -> Option<Daemon> {
    if external_daemon() {
        return None;
    }
    let host = std::env::var("BERTH_COMPAT_REFERENCE_HOST").unwrap_or(REFERENCE_HOST.into());
    let socket = compat_tests::socket_from_host(&host);
    if !socket.exists() {
        return None;
    }
    let d = Daemon::external(&host);
    let r = compat_tests::http::request(&socket, "GET", "/_ping", &[], b"");
    r.is_ok_and(|r| r.status == 200).then_some(d)
}

#[test]
fn save_from_one_daemon_loads_into_the_other() {
    let Some(reference) = reference_daemon() else {
        eprintln!(
            "skipped: needs berthd as the daemon under test and a reference dockerd at \
             {REFERENCE_HOST} (or BERTH_COMPAT_REFERENCE_HOST)"
        );
        return;
    };
    let berth = daemon();
    let to_ref = fixtures::test_image_with_layer("save-to-reference");
    let to_berth = fixtures::test_image_with_layer("save-to-berth");
    let c_ref = Cleanup::always(&reference);
    c_ref.image(&to_ref);
    c_ref.image(&to_berth);
    let c_berth = Cleanup::new(&berth);
    c_berth.image(&to_ref);
    c_berth.image(&to_berth);

    let cross = |from: &Daemon, to: &Daemon, img: &Image, tag: &str| -> PathBuf {
        load(from, &img.docker_archive(&[tag]));
        let path = fixtures::scratch_path("cross.tar");
        let p = path.display().to_string();
        ok(&from.docker(&["save", "-o", &p, tag]), "docker save");
        assert_saved(&path, &[(img, &[tag])]);
        let out = load(to, &path);
        assert_eq!(
            out.stdout,
            format!("Loaded image: {tag}\n"),
            "{}",
            out.describe()
        );
        let v = inspect(to, tag);
        assert_eq!(v["Id"], img.id.as_str(), "{v}");
        assert_eq!(v["RootFS"]["Layers"], json!(img.diff_ids()), "{v}");
        let (_, h) = to.get_json(&format!("/v1.41/images/{tag}/history"));
        assert_eq!(
            h.as_array().map(Vec::len),
            img.config_json()["history"].as_array().map(Vec::len),
            "{h}"
        );
        path
    };
    cross(&berth, &reference, &to_ref, "bct-save-cross:to-reference");
    cross(&reference, &berth, &to_berth, "bct-save-cross:to-berth");
}

// ---- docker import ----

/// The image ID an import printed (`sha256:<hex>` on stdout).
#[track_caller]
fn imported_id(out: &Output) -> String {
    let id = out.stdout.trim().to_string();
    assert!(
        is_image_id(&id),
        "import printed no image ID\n{}",
        out.describe()
    );
    id
}

#[test]
fn import_rootfs_with_message_and_changes() {
    let d = daemon();
    let c = Cleanup::new(&d);
    let rootfs = fixtures::busybox_rootfs_tar();
    let rootfs_str = rootfs.display().to_string();
    let base_diff = fixtures::busybox().diff_ids();

    let out = d.docker(&["import", &rootfs_str, "bct-import:plain"]);
    ok(&out, "docker import");
    let id = imported_id(&out);
    c.track(&id);
    let v = inspect(&d, "bct-import:plain");
    assert_eq!(v["Id"], id.as_str(), "{v}");
    assert_eq!(v["RepoTags"], json!(["bct-import:plain"]), "{v}");
    assert_eq!(v["Comment"], "Imported from -", "{v}");
    assert_eq!(v["RootFS"]["Layers"], json!(base_diff), "{v}");
    assert_eq!(v["Architecture"], "amd64", "{v}");
    assert_eq!(v["Os"], "linux", "{v}");
    assert_eq!(v["Config"]["Cmd"], Value::Null, "{v}");

    let out = d.docker(&[
        "import",
        "--change",
        r#"CMD ["echo","hi"]"#,
        "--change",
        "ENV FOO=bar",
        "--change",
        "WORKDIR /tmp",
        "--change",
        "LABEL org.berth.imported=yes",
        "--message",
        "imported by a test",
        &rootfs_str,
        "bct-import:changed",
    ]);
    ok(&out, "docker import --change --message");
    let id = imported_id(&out);
    c.track(&id);
    let v = inspect(&d, "bct-import:changed");
    assert_eq!(v["Id"], id.as_str(), "{v}");
    assert_eq!(v["Comment"], "imported by a test", "{v}");
    assert_eq!(v["Config"]["Cmd"], json!(["echo", "hi"]), "{v}");
    assert_eq!(v["Config"]["Env"], json!(["FOO=bar"]), "{v}");
    assert_eq!(v["Config"]["WorkingDir"], "/tmp", "{v}");
    assert_eq!(
        v["Config"]["Labels"],
        json!({ "org.berth.imported": "yes" }),
        "{v}"
    );
    assert_eq!(v["RootFS"]["Layers"], json!(base_diff), "{v}");

    let out = d.docker(&[
        "history",
        "--no-trunc",
        "--format",
        "{{json .}}",
        "bct-import:changed",
    ]);
    ok(&out, "docker history");
    let rows: Vec<Value> = lines(&out.stdout)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "{}", out.describe());
    assert_eq!(rows[0]["ID"], id.as_str(), "{}", out.describe());
    assert_eq!(
        rows[0]["Comment"],
        "imported by a test",
        "{}",
        out.describe()
    );
    assert_eq!(rows[0]["CreatedBy"], "", "{}", out.describe());

    // A bad instruction is refused and nothing is made.
    let out = d.docker(&[
        "import",
        "--change",
        "FROB x",
        &rootfs_str,
        "bct-import:bad",
    ]);
    assert!(!out.success(), "{}", out.describe());
    assert!(
        out.stderr.contains("FROB") || out.stderr.to_ascii_lowercase().contains("frob"),
        "{}",
        out.describe()
    );
    let out = d.docker(&["image", "inspect", "bct-import:bad"]);
    assert!(!out.success(), "{}", out.describe());
}

#[test]
fn import_over_raw_http() {
    let d = daemon();
    let c = Cleanup::new(&d);
    let body = std::fs::read(fixtures::busybox_rootfs_tar()).unwrap();
    let query = format!(
        "fromSrc=-&repo=bct-import-raw&tag=1&message={}&changes={}&changes={}",
        url_encode("raw import"),
        url_encode(r#"CMD ["sh","-c","echo hi"]"#),
        url_encode("USER nobody"),
    );
    let r = d.request(
        "POST",
        &format!("/v1.41/images/create?{query}"),
        &[("Content-Type", "application/x-tar")],
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(
        r.header("Content-Type"),
        Some("application/json"),
        "{}",
        r.describe()
    );
    let text = r.text();
    let messages: Vec<Value> = lines(&text)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    let last = messages
        .last()
        .unwrap_or_else(|| panic!("{}", r.describe()));
    let id = last["status"]
        .as_str()
        .filter(|s| is_image_id(s))
        .unwrap_or_else(|| panic!("last message is not the image ID: {text:?}"))
        .to_string();
    c.track(&id);
    let v = inspect(&d, "bct-import-raw:1");
    assert_eq!(v["Id"], id.as_str(), "{v}");
    assert_eq!(v["Comment"], "raw import", "{v}");
    assert_eq!(v["Config"]["Cmd"], json!(["sh", "-c", "echo hi"]), "{v}");
    assert_eq!(v["Config"]["User"], "nobody", "{v}");
}

#[test]
fn created_containers_survive_a_busy_collector() {
    // A container's writable layer (and the image's shared init layer below it) must be
    // protected from containerd's collector from the moment they exist until the container
    // is removed, even before the container ever started.
    let d = daemon();
    if d.skip_unless_owned("drives berthd's own containerd collector") {
        return;
    }
    let image = fixtures::test_image_with_layer("gc-containers");
    let tag = "bct-gc-containers:1";
    load(&d, &image.docker_archive(&[tag]));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hammer = {
        let exec_root = d.exec_root();
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                collect_garbage_at(&exec_root);
            }
        })
    };
    let names: Vec<String> = (0..8)
        .map(|i| format!("bct-gc-ctr-{}-{i}", std::process::id()))
        .collect();
    for name in &names {
        let out = d.docker(&["create", "--name", name, "--network", "none", tag, "true"]);
        ok(&out, "docker create");
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    hammer.join().expect("collector helper");
    collect_garbage_at(&d.exec_root());
    for name in &names {
        let out = d.docker(&["start", "-a", name]);
        ok(&out, &format!("docker start -a {name} after collections"));
        ok(&d.docker(&["rm", name]), "docker rm");
    }
}

/// berthd answers image lookups from a listing it keeps while no image record changes; a
/// record another client of its containerd namespace writes or deletes (`ctr`) must still
/// show at once, as it does when every lookup asks containerd. berthd only: dockerd 20.10
/// keeps its images outside containerd.
#[test]
fn image_records_written_by_another_containerd_client_are_seen() {
    let d = daemon();
    if d.skip_unless_owned("runs ctr against the daemon's own containerd") {
        return;
    }
    if d.is_dockerd() {
        compat_tests::skip("dockerd 20.10 keeps its images outside containerd");
        return;
    }
    let image = d.load_test_image("ctr-seen");
    let (status, _) = d.get_json(&format!("/images/{image}/json"));
    assert_eq!(status, 200);
    let other = "bct-ctr-seen:other";
    let (status, _) = d.get_json(&format!("/images/{other}/json"));
    assert_eq!(status, 404);
    d.ctr(&[
        "images",
        "tag",
        &format!("docker.io/{image}"),
        &format!("docker.io/library/{other}"),
    ]);
    let found = |want: u16| {
        compat_tests::wait_until(Duration::from_secs(5), || {
            d.get_json(&format!("/images/{other}/json")).0 == want
        })
    };
    assert!(found(200), "a tag made with ctr is not seen");
    d.ctr(&["images", "rm", &format!("docker.io/library/{other}")]);
    assert!(found(404), "a tag removed with ctr is still seen");
}
