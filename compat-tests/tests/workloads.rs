//! Real service images in a compose stack as users write them: nginx in front of an app tier
//! that counts visits in redis and postgres, named volumes, an env file, healthchecks gating
//! `depends_on`, a port published on the host. Through `up -d`, `ps`, `logs`, `exec`,
//! `restart`, `down`/`up` keeping the data, and on berthd a kill -9 of the daemon with the
//! stack serving throughout. The images come from `scripts/service-images` (Debian packages
//! through debootstrap, no registry).

use std::path::Path;
use std::time::{Duration, Instant};

use compat_tests::{Daemon, daemon, http_get, unique_temp_dir};
use nix::sys::signal::Signal;

const STACK: &str = r#"version: "2.4"
services:
  redis:
    image: berth-services/redis:1
    volumes: ["redisdata:/data"]
  postgres:
    image: berth-services/postgres:1
    volumes: ["pgdata:/var/lib/postgresql/data"]
  app:
    image: berth-services/app:1
    env_file: app.env
    depends_on:
      redis: {condition: service_healthy}
      postgres: {condition: service_healthy}
  web:
    image: berth-services/nginx:1
    ports: ["127.0.0.1::80"]
    depends_on:
      app: {condition: service_healthy}
volumes:
  redisdata: {}
  pgdata: {}
"#;

struct Stack<'a> {
    d: &'a Daemon,
    dir: &'a Path,
    project: String,
}

impl Stack<'_> {
    fn compose(&self, args: &[&str]) -> compat_tests::cli::Output {
        self.d.compose(self.dir, &self.project, args)
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.compose(args);
        assert!(out.success(), "compose {args:?}: {}", out.describe());
        out.stdout
    }

    /// Waits until every service's container reports healthy.
    fn all_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        let filter = format!("label=com.docker.compose.project={}", self.project);
        let mut last = String::new();
        while Instant::now() < deadline {
            let out = self.d.docker(&[
                "ps",
                "--filter",
                &filter,
                "--format",
                "{{.Names}} {{.Status}}",
            ]);
            last = out.stdout.clone();
            if out.stdout.lines().count() == 4
                && out.stdout.lines().all(|l| l.contains("(healthy)"))
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        panic!("the stack never became healthy:\n{last}");
    }

    fn web_port(&self) -> u16 {
        let out = self.ok(&["port", "web", "80"]);
        out.trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no published port for web: {out:?}"))
    }
}

#[test]
fn a_compose_stack_with_healthchecks_serves_keeps_its_data_and_survives_the_daemon() {
    let mut d = daemon();
    compat_tests::build_service_images(&d);
    let dir = unique_temp_dir("bct-stack");
    std::fs::write(dir.join("docker-compose.yml"), STACK).unwrap();
    std::fs::write(
        dir.join("app.env"),
        "GREETING=hello-stack\nREDIS_HOST=redis\nPG_HOST=postgres\n",
    )
    .unwrap();
    let project = format!("bcts{}", std::process::id());
    let stack = Stack {
        d: &d,
        dir: &dir,
        project: project.clone(),
    };

    stack.ok(&["up", "-d"]);
    stack.all_healthy();
    let ps = stack.ok(&["ps"]);
    assert_eq!(ps.matches("Up (healthy)").count(), 4, "{ps}");
    let port = stack.web_port();
    assert_eq!(visit(port), "greeting=hello-stack hits=1 visits=1");
    assert_eq!(visit(port), "greeting=hello-stack hits=2 visits=2");

    let logs = stack.ok(&["logs", "--no-color", "postgres"]);
    assert!(
        logs.contains("database system is ready to accept connections"),
        "{logs}"
    );
    let out = stack.ok(&["exec", "-T", "redis", "redis-cli", "get", "hits"]);
    assert_eq!(out.trim(), "2");
    let out = stack.ok(&["exec", "-T", "postgres", "id", "-un"]);
    assert_eq!(out.trim(), "postgres", "the image's User");

    stack.ok(&["restart", "app"]);
    stack.all_healthy();
    assert_eq!(visit(port), "greeting=hello-stack hits=3 visits=3");

    // down keeps named volumes: the next up finds the data.
    stack.ok(&["down"]);
    stack.ok(&["up", "-d"]);
    stack.all_healthy();
    let port = stack.web_port();
    assert_eq!(visit(port), "greeting=hello-stack hits=4 visits=4");

    if d.owned() && !d.is_dockerd() {
        // berthd dies: the stack keeps serving, and the new berthd carries on with it.
        d.signal(Signal::SIGKILL);
        assert!(d.wait_exit(Duration::from_secs(30)).is_some());
        assert_eq!(visit(port), "greeting=hello-stack hits=5 visits=5");
        d.restart_stopped();
        let stack = Stack {
            d: &d,
            dir: &dir,
            project: project.clone(),
        };
        stack.all_healthy();
        assert_eq!(visit(port), "greeting=hello-stack hits=6 visits=6");
        let ps = stack.ok(&["ps"]);
        assert_eq!(ps.matches("Up (healthy)").count(), 4, "{ps}");
    }

    let stack = Stack {
        d: &d,
        dir: &dir,
        project: project.clone(),
    };
    stack.ok(&["down", "-v"]);
    let (status, _) = d.get_json(&format!("/volumes/{project}_pgdata"));
    assert_eq!(status, 404, "down -v leaves the postgres volume");
    let _ = std::fs::remove_dir_all(&dir);
}

/// One visit through nginx and the app (no daemon needed): the body's counters.
fn visit(port: u16) -> String {
    let response = http_get(port, "/cgi-bin/hits").expect("the stack answers through nginx");
    response.lines().last().unwrap_or_default().to_string()
}
