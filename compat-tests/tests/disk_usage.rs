//! `docker system df`, `docker ps -s` and the images list's `shared-size`: sizes counted as
//! dockerd counts them (apparent bytes of files, directories not counted), layers shared
//! between images by chain ID. Checked against Debian's dockerd 20.10.

use std::collections::HashSet;

use compat_tests::fixtures::{self, Layer};
use compat_tests::{Daemon, daemon};
use serde_json::Value;

/// What dockerd reports as a layer's size: the apparent bytes of its files and symlinks,
/// each hard-linked file once.
fn layer_size(layer: &Layer) -> i64 {
    let mut archive = tar::Archive::new(std::fs::File::open(&layer.path).unwrap());
    let mut seen = HashSet::new();
    let mut total = 0i64;
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let h = entry.header();
        match h.entry_type() {
            tar::EntryType::Regular if seen.insert(entry.path().unwrap().into_owned()) => {
                total += h.size().unwrap() as i64;
            }
            tar::EntryType::Symlink => {
                total += entry.link_name_bytes().map_or(0, |l| l.len() as i64);
            }
            _ => {}
        }
    }
    total
}

fn load(d: &Daemon, image: &fixtures::Image, tag: &str) {
    let archive = image.docker_archive(&[tag]);
    let out = d.docker(&["load", "-i", archive.to_str().unwrap()]);
    assert!(out.success(), "{}", out.describe());
}

fn df(d: &Daemon, query: &str) -> Value {
    let r = d.get(&format!("/v1.41/system/df{query}"));
    assert_eq!(r.status, 200, "{}", r.describe());
    r.json()
}

fn entry<'a>(list: &'a Value, key: &str, value: &str) -> &'a Value {
    list.as_array()
        .and_then(|l| l.iter().find(|e| e[key] == value))
        .unwrap_or_else(|| panic!("no entry with {key}={value} in {list}"))
}

#[test]
fn system_df_counts_images_layers_and_container_writes_like_dockerd() {
    let d = daemon();
    let pid = std::process::id();
    let base_only = fixtures::test_image("df-base");
    let layered = fixtures::test_image_with_layer("df-layered");
    let (ta, tb) = ("berth-test/df:base", "berth-test/df:layered");
    load(&d, &base_only, ta);
    load(&d, &layered, tb);
    let base = layer_size(&base_only.layers[0]);
    let extra = layer_size(&layered.layers[1]);
    assert_eq!(base_only.layers[0].diff_id, layered.layers[0].diff_id);

    let wrote = format!("bct-df-wrote-{pid}");
    let idle = format!("bct-df-idle-{pid}");
    let out = d.docker(&[
        "run",
        "--name",
        &wrote,
        "--network",
        "none",
        ta,
        "sh",
        "-c",
        "echo hi > /x",
    ]);
    assert!(out.success(), "{}", out.describe());
    let out = d.docker(&["create", "--name", &idle, "--network", "none", ta]);
    assert!(out.success(), "{}", out.describe());

    let usage = df(&d, "");
    let a = entry(&usage["Images"], "Id", &base_only.id);
    let b = entry(&usage["Images"], "Id", &layered.id);
    assert_eq!(a["Size"], base, "{a}");
    assert_eq!(b["Size"], base + extra, "{b}");
    // The base layer is in both images: shared; the extra layer is B's alone.
    assert_eq!(a["SharedSize"], base, "{a}");
    assert_eq!(b["SharedSize"], base, "{b}");
    assert_eq!(a["Containers"], 2, "{a}");
    assert_eq!(b["Containers"], 0, "{b}");
    assert_eq!(a["VirtualSize"], base, "VirtualSize below 1.44: {a}");
    assert!(usage["LayersSize"].as_i64().unwrap() >= base + extra);
    if d.owned() {
        assert_eq!(usage["LayersSize"], base + extra);
    }
    let find = |name: &str| {
        usage["Containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["Names"][0] == format!("/{name}"))
            .cloned()
            .unwrap_or_else(|| panic!("{name} missing from {}", usage["Containers"]))
    };
    let w = find(&wrote);
    assert_eq!(w["SizeRw"], 3, "echo hi wrote 3 bytes: {w}");
    assert_eq!(w["SizeRootFs"], base + 3, "{w}");
    let i = find(&idle);
    assert!(i.get("SizeRw").is_none(), "zero SizeRw is left out: {i}");
    assert_eq!(i["SizeRootFs"], base, "{i}");
    assert_eq!(usage["Volumes"], serde_json::json!([]));
    assert_eq!(usage["BuilderSize"], 0);

    // `docker ps -s` asks for the same sizes through the list.
    let out = d.docker(&[
        "ps",
        "-a",
        "-s",
        "--filter",
        &format!("name={wrote}"),
        "--format",
        "{{.Size}}",
    ]);
    assert!(out.success(), "{}", out.describe());
    assert!(
        out.stdout.trim().starts_with("3B (virtual "),
        "{}",
        out.describe()
    );
    let out = d.docker(&["system", "df"]);
    assert!(
        out.success() && out.stdout.contains("Images"),
        "{}",
        out.describe()
    );

    for name in [&wrote, &idle] {
        let _ = d.docker(&["rm", "-f", name]);
    }
    for tag in [ta, tb] {
        let _ = d.docker(&["rmi", "-f", tag]);
    }
}

#[test]
fn df_type_selects_kinds_from_1_42_and_shared_size_too() {
    let d = daemon();
    let image = fixtures::test_image("df-types");
    let tag = "berth-test/df:types";
    load(&d, &image, tag);

    // Below 1.42 `type` is ignored; from 1.42 it selects, and an unknown one is refused.
    let old = df(&d, "?type=image");
    assert!(
        old["Containers"].is_array() && old["Images"].is_array(),
        "{old}"
    );
    if compat_tests::compare_api_versions(&d.max_api_version(), "1.42").is_ge() {
        let r = d.get("/v1.42/system/df?type=image");
        assert_eq!(r.status, 200, "{}", r.describe());
        let v = r.json();
        assert!(v["Images"].is_array(), "{v}");
        assert!(v["Containers"].is_null() && v["Volumes"].is_null(), "{v}");
        let r = d.get("/v1.42/system/df?type=container&type=volume");
        let v = r.json();
        assert!(v["Images"].is_null() && v["Containers"].is_array(), "{v}");
        assert!(v["Volumes"].is_array(), "{v}");
        assert_eq!(v["LayersSize"], 0, "{v}");
        let r = d.get("/v1.42/system/df?type=bogus");
        assert_eq!(r.status, 400, "{}", r.describe());
        assert_eq!(r.json()["message"], "unknown object type: bogus");

        // shared-size in the list: honoured from 1.42 only.
        let listed = d.get("/v1.42/images/json?shared-size=1").json();
        let e = entry(&listed, "Id", &image.id);
        let expected = entry(&df(&d, "")["Images"], "Id", &image.id)["SharedSize"].clone();
        assert_eq!(e["SharedSize"], expected, "{e}");
    }
    let listed = d.get("/v1.41/images/json?shared-size=1").json();
    assert_eq!(entry(&listed, "Id", &image.id)["SharedSize"], -1);
    let _ = d.docker(&["rmi", "-f", tag]);
}
