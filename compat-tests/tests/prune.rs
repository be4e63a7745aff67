//! `docker container prune` and `docker image prune`: what goes, what stays, and the answer's
//! shape. Checked against Debian's dockerd 20.10 (containers with `--network none`).

use compat_tests::{daemon, fixtures};

#[test]
fn container_prune_removes_stopped_containers_only() {
    let d = daemon();
    let image = fixtures::test_image("prune-containers");
    let tag = "berth-test/busybox:prune-containers";
    let out = d.docker(&["load", "-i", image.docker_archive(&[tag]).to_str().unwrap()]);
    assert!(out.success(), "{}", out.describe());
    let pid = std::process::id();
    let label = format!("bct-prune={pid}");
    let (stopped, running) = (
        format!("bct-prune-{pid}-stopped"),
        format!("bct-prune-{pid}-running"),
    );
    assert!(
        d.docker(&[
            "run",
            "--name",
            &stopped,
            "--label",
            &label,
            "--network",
            "none",
            tag,
            "true"
        ])
        .success()
    );
    assert!(
        d.docker(&[
            "run",
            "-d",
            "--name",
            &running,
            "--label",
            &label,
            "--network",
            "none",
            tag,
            "sleep",
            "60"
        ])
        .success()
    );
    // Scoped by label so a shared daemon's other containers are left alone.
    let out = d.docker(&[
        "container",
        "prune",
        "-f",
        "--filter",
        &format!("label={label}"),
    ]);
    assert!(out.success(), "{}", out.describe());
    assert!(out.stdout.contains("Deleted Containers:"), "{}", out.stdout);
    let left = d.docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label={label}"),
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(left.stdout.trim(), running, "{}", left.describe());
    let _ = d.docker(&["rm", "-f", &running]);
    if !d.owned() {
        let _ = d.docker(&["rmi", tag]);
    }
}

#[test]
fn image_prune_removes_dangling_images_not_tagged_or_used_ones() {
    let d = daemon();
    if !d.owned() {
        // Pruning a shared daemon would take its other dangling images too.
        return;
    }
    // A layer of its own, so that removing it frees space (a layer shared with a kept
    // image frees nothing, on dockerd as on berthd).
    let dangling = fixtures::test_image_with_layer("prune-dangling");
    let out = d.docker(&["load", "-i", dangling.docker_archive(&[]).to_str().unwrap()]);
    assert!(out.success(), "{}", out.describe());
    let kept = fixtures::test_image("prune-kept");
    let out = d.docker(&[
        "load",
        "-i",
        kept.docker_archive(&["berth-test/kept:1"])
            .to_str()
            .unwrap(),
    ]);
    assert!(out.success(), "{}", out.describe());

    let r = d.request("POST", "/images/prune", &[], b"");
    assert_eq!(r.status, 200);
    let v = r.json();
    let deleted: Vec<&str> = v["ImagesDeleted"]
        .as_array()
        .expect("ImagesDeleted")
        .iter()
        .filter_map(|i| i["Deleted"].as_str())
        .collect();
    // dockerd 20.10 also lists the chain IDs of the layers it removed; berthd lists images.
    assert_eq!(deleted.first(), Some(&dangling.id.as_str()), "{v}");
    assert!(!deleted.contains(&kept.id.as_str()), "{v}");
    assert!(v["SpaceReclaimed"].as_i64().is_some_and(|n| n > 0), "{v}");
    let ids = d.docker(&["images", "-q", "--no-trunc"]);
    assert!(
        ids.stdout.contains(&kept.id) && !ids.stdout.contains(&dangling.id),
        "{}",
        ids.stdout
    );

    // Nothing left to prune: ImagesDeleted is null, as dockerd answers.
    let v = d.request("POST", "/images/prune", &[], b"").json();
    assert!(v["ImagesDeleted"].is_null(), "{v}");
    assert_eq!(v["SpaceReclaimed"], 0);
}
