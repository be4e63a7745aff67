//! `docker rmi` of an image a container uses: moby's 409 texts, and what `-f` does.
//! Checked against Debian's dockerd 20.10.

use compat_tests::daemon;

#[test]
fn rmi_of_an_image_in_use_conflicts_unless_forced() {
    let d = daemon();
    let tag = d.load_test_image("in-use");
    let second = "berth-test/in-use:second";
    assert!(d.docker(&["tag", &tag, second]).success());
    let name = format!("bct-inuse-{}", std::process::id());
    let out = d.docker(&["create", "--name", &name, "--network", "none", &tag]);
    assert!(out.success(), "{}", out.describe());
    let id = d
        .docker(&["image", "inspect", "-f", "{{.Id}}", &tag])
        .stdout
        .trim()
        .to_string();
    let short = &id["sha256:".len()..][..12];

    // Removing one of two tags only untags.
    let out = d.docker(&["rmi", second]);
    assert!(out.success(), "{}", out.describe());
    assert_eq!(out.stdout.trim(), format!("Untagged: {second}"));

    // The last tag of an image a container uses: refused.
    let out = d.docker(&["rmi", &tag]);
    assert!(!out.success(), "{}", out.describe());
    assert!(
        out.stderr.contains(&format!(
            "conflict: unable to remove repository reference \"{tag}\" (must force) - container"
        )) && out
            .stderr
            .contains(&format!("is using its referenced image {short}")),
        "{}",
        out.describe()
    );
    // By ID: refused too, naming the stopped container.
    let out = d.docker(&["rmi", short]);
    assert!(!out.success(), "{}", out.describe());
    assert!(
        out.stderr.contains(&format!("conflict: unable to delete {short} (must be forced) - image is being used by stopped container")),
        "{}",
        out.describe()
    );
    // The image is still there and the container can still start.
    let out = d.docker(&["start", "-a", &name]);
    assert!(out.success(), "{}", out.describe());
    let _ = d.docker(&["rm", "-f", &name]);
    let _ = d.docker(&["rmi", "-f", &tag]);
}
