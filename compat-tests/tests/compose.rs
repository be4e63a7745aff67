//! Debian's docker-compose (1.29) against berthd: a project with two services on the
//! project network (web reaches db by service name), a named volume, environment and a
//! restart policy, through `up -d`, `ps`, `logs`, `exec`, an `up -d` that changes nothing,
//! and `down -v`. Needs bridges, so it runs on berthd only.

use compat_tests::{daemon, unique_temp_dir};

const COMPOSE_FILE: &str = r#"version: "3.7"
services:
  db:
    image: IMAGE
    command: ["sh", "-c", "mkdir -p /www && echo db-ok > /www/index.html && exec httpd -f -p 5432 -h /www"]
    restart: unless-stopped
  web:
    image: IMAGE
    depends_on: [db]
    environment:
      GREETING: hello-compose
    volumes:
      - data:/data
    restart: unless-stopped
    command: ["sh", "-c", "until wget -qO- http://db:5432/ > /data/from-db; do sleep 0.2; done; cat /data/from-db; exec sleep 300"]
volumes:
  data: {}
"#;

#[test]
fn a_compose_project_comes_up_converges_and_goes_down() {
    let d = daemon();
    if d.skip_unless_owned("the reference dockerd runs without bridges") {
        return;
    }
    let image = d.load_test_image("compose");
    let dir = unique_temp_dir("bct-compose");
    let project = format!("bct{}", std::process::id());
    std::fs::write(
        dir.join("docker-compose.yml"),
        COMPOSE_FILE.replace("IMAGE", &image),
    )
    .unwrap();
    let compose = |args: &[&str]| d.compose(&dir, &project, args);
    let out = compose(&["up", "-d"]);
    assert!(out.success(), "{}", out.describe());

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut logs = String::new();
    while std::time::Instant::now() < deadline && !logs.contains("db-ok") {
        std::thread::sleep(std::time::Duration::from_millis(300));
        logs = compose(&["logs", "--no-color", "web"]).stdout;
    }
    assert!(
        logs.contains("db-ok"),
        "web never reached db by its service name: {logs}"
    );

    let out = compose(&["ps"]);
    assert!(out.success(), "{}", out.describe());
    assert_eq!(out.stdout.matches(" Up ").count(), 2, "{}", out.stdout);
    let out = compose(&[
        "exec",
        "-T",
        "web",
        "sh",
        "-c",
        "echo $GREETING; cat /data/from-db",
    ]);
    assert_eq!(out.stdout, "hello-compose\ndb-ok\n", "{}", out.describe());

    // Nothing changed: nothing is recreated.
    let out = compose(&["up", "-d"]);
    assert!(out.success(), "{}", out.describe());
    assert!(!out.stderr.contains("Recreating"), "{}", out.describe());
    assert_eq!(
        out.stderr.matches("is up-to-date").count(),
        2,
        "{}",
        out.describe()
    );

    let out = compose(&["down", "-v"]);
    assert!(out.success(), "{}", out.describe());
    let left = d.docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
    ]);
    assert_eq!(left.stdout, "");
    let (status, _) = d.get_json(&format!("/networks/{project}_default"));
    assert_eq!(status, 404);
    let (status, _) = d.get_json(&format!("/volumes/{project}_data"));
    assert_eq!(status, 404);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compose_builds_a_service_image_with_args_and_down_rmi_local_removes_it() {
    let d = daemon();
    let image = d.load_test_image("compose-build");
    let dir = unique_temp_dir("bct-compose-build");
    let project = format!("bctb{}", std::process::id());
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::write(
        dir.join("app/Dockerfile"),
        format!(
            "FROM {image}\nARG MSG=default\nRUN echo \"$MSG\" > /msg\nCMD [\"cat\", \"/msg\"]\n"
        ),
    )
    .unwrap();
    // No network: nothing here needs one, and no other test's subnet is at stake.
    std::fs::write(
        dir.join("docker-compose.yml"),
        "version: \"3.7\"\nservices:\n  app:\n    build:\n      context: ./app\n      args:\n        MSG: from-compose\n    network_mode: none\n",
    )
    .unwrap();
    let compose = |args: &[&str]| d.compose(&dir, &project, args);
    let out = compose(&["up", "--build", "--abort-on-container-exit"]);
    assert!(out.success(), "{}", out.describe());
    assert!(out.stdout.contains("from-compose"), "{}", out.describe());
    let built = format!("{project}_app");
    let (status, _) = d.get_json(&format!("/images/{built}/json"));
    assert_eq!(status, 200);
    let out = compose(&["down", "--rmi", "local"]);
    assert!(out.success(), "{}", out.describe());
    let (status, _) = d.get_json(&format!("/images/{built}/json"));
    assert_eq!(status, 404, "down --rmi local leaves the built image");
    if !d.owned() {
        let _ = d.docker(&["rmi", "-f", &image]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// compose 1.29's one-off runs without the CLI (`COMPOSE_INTERACTIVE_NO_CLI`, as this harness
/// runs compose) start the container, attach, and start it again if it is no longer running
/// by then. The commands here wait a moment before they print, so compose is attached to
/// the run that prints: a command that prints and exits before compose attaches loses its
/// output on dockerd too when the attach comes between the exit and the daemon hearing of
/// it (seen once in CI on both daemons). An attach while an exit is being recorded is
/// `containers::an_attach_while_an_exit_is_recorded_follows_the_next_run`.
#[test]
fn a_one_off_run_shows_its_output_and_exit_code() {
    let d = daemon();
    let image = d.load_test_image("compose-run");
    let dir = compat_tests::TempDir::new("bct-compose-run");
    let project = format!("bctr{}", std::process::id());
    std::fs::write(
        dir.join("docker-compose.yml"),
        format!(
            "version: \"3.7\"\nservices:\n  one:\n    image: {image}\n    command: sleep 300\n"
        ),
    )
    .unwrap();
    let compose = |args: &[&str]| d.compose(&dir, &project, args);
    let one_off = |script: &str| compose(&["run", "--rm", "-T", "one", "sh", "-c", script]);
    for round in 0..3 {
        let out = one_off("sleep 1; echo hello-once");
        assert!(out.success(), "round {round}: {}", out.describe());
        assert_eq!(
            out.stdout,
            "hello-once\n",
            "round {round}: {}",
            out.describe()
        );
    }
    let out = one_off("sleep 1; echo to-out; echo to-err >&2; exit 3");
    assert_eq!(out.status, 3, "{}", out.describe());
    assert_eq!(out.stdout, "to-out\n", "{}", out.describe());
    assert!(out.stderr.contains("to-err\n"), "{}", out.describe());
    let left = d.docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
    ]);
    assert_eq!(left.stdout, "", "--rm left a one-off container");
    let out = compose(&["down"]);
    assert!(out.success(), "{}", out.describe());
    if !d.owned() {
        let _ = d.docker(&["rmi", "-f", &image]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
