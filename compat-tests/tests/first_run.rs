//! A first run without a registry: the busybox image `scripts/run` loads when the daemon
//! has none (built offline by `berth-busybox-image`) runs `docker run --rm busybox echo hi`.
//! The test loads it under a tag of its own, to leave the daemon's `busybox` alone.

use compat_tests::daemon;

#[test]
fn the_offline_busybox_image_runs_echo_hi() {
    let d = daemon();
    let tag = format!("berth-first-run/busybox:{}", std::process::id());
    let dir = compat_tests::unique_temp_dir("bct-first-run");
    let tar = dir.join("busybox.tar");
    let made = std::process::Command::new(env!("CARGO_BIN_EXE_berth-busybox-image"))
        .arg(&tar)
        .arg(&tag)
        .status()
        .expect("run berth-busybox-image");
    assert!(made.success(), "berth-busybox-image failed: {made}");
    let load = d.docker(&["load", "-i", tar.to_str().expect("utf-8 path")]);
    assert!(load.success(), "{}", load.describe());
    assert!(load.stdout.contains(&tag), "{}", load.describe());

    let run = d.docker(&["run", "--rm", &tag, "echo", "hi"]);
    assert!(run.success(), "{}", run.describe());
    assert_eq!(run.stdout, "hi\n", "{}", run.describe());
    // The shell and the usual applets are there too.
    let run = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &tag,
        "sh",
        "-c",
        "ls / >/dev/null && id -u",
    ]);
    assert!(run.success(), "{}", run.describe());
    assert_eq!(run.stdout, "0\n", "{}", run.describe());

    let rmi = d.docker(&["rmi", &tag]);
    assert!(rmi.success(), "{}", rmi.describe());
    let _ = std::fs::remove_dir_all(&dir);
}
