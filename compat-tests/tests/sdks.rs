//! Other people's SDKs driving the daemon through their own check scripts in
//! `compat-tests/sdk/` (installed by `scripts/setup`): testcontainers-python, including what
//! its Ryuk reaper needs and its redis and postgres modules on the offline service images,
//! and dockerode. Each script prints `ok <check>` or `FAIL <check>: why`
//! per check and exits non-zero when one fails.

use std::path::PathBuf;
use std::process::Command;

use compat_tests::{Daemon, daemon, workspace_root};

/// The test image with every busybox applet on `PATH`, as the scripts' containers expect of
/// a busybox image (`httpd`, `wget`, `timeout`, `test`…): committed from a container that
/// installed the links.
fn sdk_image(d: &Daemon, name: &str) -> String {
    let base = d.load_test_image(name);
    let maker = format!("{name}-{}-maker", std::process::id());
    let out = d.docker(&[
        "run",
        "--name",
        &maker,
        "--network",
        "none",
        &base,
        "sh",
        "-c",
        "mkdir -p /usr/local/bin && /bin/busybox --install -s /usr/local/bin",
    ]);
    assert!(out.success(), "{}", out.describe());
    let image = format!("{base}-applets");
    let out = d.docker(&["commit", &maker, &image]);
    assert!(out.success(), "{}", out.describe());
    let _ = d.docker(&["rm", "-f", &maker]);
    if !d.owned() {
        let _ = d.docker(&["rmi", &base]);
    }
    image
}

fn run_check(d: &Daemon, program: PathBuf, script: &str, image: &str, env: &[(&str, &str)]) {
    let out = Command::new(&program)
        .arg(workspace_root().join(script))
        .envs(env.iter().copied())
        .env("DOCKER_HOST", d.docker_host())
        .env("SDK_IMAGE", image)
        .env_remove("DOCKER_CONTEXT")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (scripts/setup installs the SDKs)",
                program.display()
            )
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.lines().any(|l| l.starts_with("ok ")),
        "{script} failed ({})\n{stdout}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    if !d.owned() {
        let _ = d.docker(&["rmi", "-f", image]);
    }
}

#[test]
fn testcontainers_python_runs_containers_and_what_its_reaper_needs() {
    let d = daemon();
    let image = sdk_image(&d, "sdk-testcontainers");
    compat_tests::build_service_images(&d);
    run_check(
        &d,
        workspace_root().join("target/sdk-venv/bin/python"),
        "compat-tests/sdk/testcontainers/check.py",
        &image,
        &[
            ("SDK_REDIS_IMAGE", "berth-services/redis:1"),
            ("SDK_POSTGRES_IMAGE", "berth-services/postgres:1"),
        ],
    );
}

#[test]
fn dockerode_drives_containers_exec_logs_events_networks_and_volumes() {
    let d = daemon();
    let image = sdk_image(&d, "sdk-dockerode");
    run_check(
        &d,
        PathBuf::from("node"),
        "compat-tests/sdk/dockerode/check.js",
        &image,
        &[],
    );
}
