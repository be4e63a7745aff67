//! `docker build` with the stock CLI (the classic builder, as the CLI here has no buildx):
//! ARG/ENV/WORKDIR/COPY/RUN/USER/EXPOSE/LABEL/HEALTHCHECK/CMD, the config and history of the
//! result, the cache (`Using cache`, and a changed file rebuilding from its step), a failing
//! RUN, a parse error and `-q`. Checked against Debian's dockerd 20.10.

use std::path::PathBuf;

use compat_tests::{Daemon, daemon, unique_temp_dir};
use serde_json::{Value, json};

struct Ctx {
    d: Daemon,
    image: String,
    tags: Vec<String>,
    dir: PathBuf,
    test: String,
}

fn setup(test: &str) -> Ctx {
    let d = daemon();
    let image = d.load_test_image(&format!("build-{test}"));
    Ctx {
        d,
        image,
        tags: vec![],
        dir: unique_temp_dir(&format!("bct-build-{test}")),
        test: test.to_string(),
    }
}

impl Ctx {
    fn tag(&mut self, what: &str) -> String {
        let t = format!("bct-build-{}-{}-{what}:1", std::process::id(), self.test);
        self.tags.push(t.clone());
        t
    }

    fn write(&self, rel: &str, content: &str) {
        let p = self.dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    fn build(&self, args: &[&str]) -> compat_tests::cli::Output {
        let mut all = vec!["build"];
        all.extend_from_slice(args);
        let dir = self.dir.display().to_string();
        all.push(&dir);
        self.d.docker(&all)
    }
}

impl Ctx {
    /// The context's files `names` as a tar (symlinks stay symlinks).
    fn context_tar(&self, names: &[&str]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        tar.follow_symlinks(false);
        for name in names {
            tar.append_path_with_name(self.dir.join(name), name)
                .unwrap();
        }
        tar.into_inner().unwrap()
    }
}

/// Starts, on a connection of its own, a build whose RUN step prints `started` and sleeps;
/// returns the connection once that step runs, with what was read so far.
fn start_sleeping_build(c: &Ctx, query: &str) -> (std::os::unix::net::UnixStream, Vec<u8>) {
    use std::io::{Read as _, Write as _};
    // The quotes keep the word out of the step line, so it is seen only once the step runs.
    c.write(
        "Dockerfile",
        &format!("FROM {}\nRUN echo sta''rted && sleep 60\n", c.image),
    );
    let body = c.context_tar(&["Dockerfile"]);
    let mut s = std::os::unix::net::UnixStream::connect(c.d.socket_path()).unwrap();
    write!(
        s,
        "POST /build?{query} HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(&body).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("started") {
        let n = s.read(&mut buf).expect("build output");
        assert!(
            n > 0,
            "the build ended early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    (s, seen)
}

impl Drop for Ctx {
    fn drop(&mut self) {
        for t in &self.tags {
            let _ = self.d.docker(&["rmi", "-f", t]);
        }
        if !self.d.owned() {
            let _ = self.d.docker(&["rmi", "-f", &self.image]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn dockerfile(image: &str) -> String {
    format!(
        "# a comment\n\
         ARG BASE={image}\n\
         FROM $BASE\n\
         ARG GREETING=hello\n\
         ENV APP_HOME=/app MODE=\"two words\"\n\
         WORKDIR $APP_HOME\n\
         COPY files/ ./data/\n\
         COPY single.txt .\n\
         RUN echo \"$GREETING from $MODE\" > greeting.txt \\\n    && cat data/a.txt\n\
         USER 1000:1000\n\
         EXPOSE 8080/tcp 9090\n\
         LABEL org.test=yes\n\
         HEALTHCHECK --interval=5s --retries=2 CMD cat /app/greeting.txt\n\
         CMD [\"cat\", \"/app/greeting.txt\"]\n"
    )
}

fn context(c: &Ctx) {
    c.write("Dockerfile", &dockerfile(&c.image));
    c.write("files/a.txt", "file a\n");
    c.write("files/sub/b.txt", "file b\n");
    c.write("single.txt", "one\n");
    c.write("ignored.log", "not sent\n");
    c.write(".dockerignore", "*.log\n");
}

#[test]
fn a_dockerfile_builds_with_the_config_and_history_dockerd_gives() {
    let mut c = setup("config");
    context(&c);
    let tag = c.tag("app");
    let out = c.build(&["-t", &tag, "--build-arg", "GREETING=hi"]);
    assert!(out.success(), "{}", out.describe());
    assert!(
        out.stdout
            .contains(&format!("Step 1/13 : ARG BASE={}", c.image)),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "Step 8/13 : RUN echo \"$GREETING from $MODE\" > greeting.txt     && cat data/a.txt"
        ),
        "{}",
        out.stdout
    );
    // RUN output is shown as it runs.
    assert!(out.stdout.contains("\nfile a\n"), "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!("Successfully tagged {tag}\n")),
        "{}",
        out.stdout
    );

    let out = c.d.docker(&["run", "--rm", "--network", "none", &tag]);
    assert_eq!(out.stdout, "hi from two words\n", "{}", out.describe());
    let out = c.d.docker(&[
        "run", "--rm", "--network", "none", "-u", "0", &tag, "sh", "-c",
        "cd /app && find . | sort && stat -c '%u:%g %a' data/a.txt single.txt && ls /app/ignored.log 2>&1 | head -c 0",
    ]);
    assert_eq!(
        out.stdout,
        ".\n./data\n./data/a.txt\n./data/sub\n./data/sub/b.txt\n./greeting.txt\n./single.txt\n0:0 644\n0:0 644\n",
        "{}",
        out.describe()
    );

    let (_, v) = c.d.get_json(&format!("/images/{tag}/json"));
    let config = &v["Config"];
    let env: Vec<&str> = config["Env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        env.contains(&"APP_HOME=/app") && env.contains(&"MODE=two words"),
        "{config}"
    );
    assert!(
        !env.iter().any(|e| e.starts_with("GREETING")),
        "build args are not kept: {config}"
    );
    assert_eq!(config["WorkingDir"], "/app");
    assert_eq!(config["User"], "1000:1000");
    assert_eq!(
        config["ExposedPorts"],
        json!({"8080/tcp": {}, "9090/tcp": {}})
    );
    assert_eq!(config["Labels"]["org.test"], "yes");
    assert_eq!(config["Cmd"], json!(["cat", "/app/greeting.txt"]));
    assert_eq!(
        config["Healthcheck"]["Test"],
        json!(["CMD-SHELL", "cat /app/greeting.txt"])
    );
    assert_eq!(config["Healthcheck"]["Interval"], json!(5_000_000_000i64));
    assert_eq!(config["Healthcheck"]["Retries"], json!(2));

    let out =
        c.d.docker(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", &tag]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines.contains(&"|1 GREETING=hi /bin/sh -c echo \"$GREETING from $MODE\" > greeting.txt     && cat data/a.txt"),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"/bin/sh -c #(nop)  ENV APP_HOME=/app MODE=two words"),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"/bin/sh -c #(nop) WORKDIR /app"),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"/bin/sh -c #(nop)  CMD [\"cat\" \"/app/greeting.txt\"]"),
        "{lines:?}"
    );
    // Intermediate images are not listed without -a.
    let out = c.d.docker(&["images", "--filter", "dangling=true", "-q"]);
    let step_ids: Vec<String> =
        c.d.docker(&["history", "-q", &tag])
            .stdout
            .lines()
            .map(str::to_string)
            .collect();
    for id in out.stdout.lines() {
        assert!(
            !step_ids.contains(&id.to_string()),
            "intermediate {id} is listed"
        );
    }
}

fn cached_steps(output: &str) -> usize {
    output.matches("Using cache").count()
}

#[test]
fn an_unchanged_rebuild_uses_the_cache_and_a_changed_file_rebuilds_from_its_step() {
    let mut c = setup("cache");
    context(&c);
    let tag = c.tag("cached");
    // Nothing from earlier runs: the first build makes every step.
    let first = c.build(&["--no-cache", "-t", &tag]);
    assert!(first.success(), "{}", first.describe());
    assert_eq!(cached_steps(&first.stdout), 0, "{}", first.stdout);
    let second = c.build(&["-t", &tag]);
    assert!(second.success(), "{}", second.describe());
    // Every step after FROM (the ARG before it makes no image).
    assert_eq!(cached_steps(&second.stdout), 11, "{}", second.stdout);
    let id = |o: &str| {
        o.lines()
            .find_map(|l| l.strip_prefix("Successfully built "))
            .map(str::to_string)
    };
    assert_eq!(id(&first.stdout), id(&second.stdout));

    c.write("single.txt", "changed\n");
    let third = c.build(&["-t", &tag]);
    assert!(third.success(), "{}", third.describe());
    // ARG, ENV, WORKDIR and the first COPY come from the cache; from the changed COPY on,
    // nothing does.
    assert_eq!(cached_steps(&third.stdout), 4, "{}", third.stdout);
    let after = third.stdout.split("Step 7/13").nth(1).unwrap_or_default();
    assert!(!after.contains("Using cache"), "{}", third.stdout);
    let out = c.d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &tag,
        "cat",
        "/app/single.txt",
    ]);
    assert_eq!(out.stdout, "changed\n");

    // A dangling-image prune leaves the step images (the cache) alone.
    let out = c.d.docker(&["image", "prune", "-f"]);
    assert!(out.success(), "{}", out.describe());
    let again = c.build(&["-t", &tag]);
    assert_eq!(cached_steps(&again.stdout), 11, "{}", again.stdout);
    if c.d.owned() {
        // berthd's `docker builder prune` drops its classic build cache, as BuildKit's
        // would be (dockerd 20.10 prunes only BuildKit's and keeps its step images).
        let out = c.d.docker(&["builder", "prune", "-f"]);
        assert!(out.success(), "{}", out.describe());
        assert!(
            out.stdout.contains("Total reclaimed space"),
            "{}",
            out.describe()
        );
        let cold = c.build(&["-t", &tag]);
        assert!(cold.success(), "{}", cold.describe());
        assert_eq!(cached_steps(&cold.stdout), 0, "{}", cold.stdout);
    }
}

#[test]
fn failing_steps_parse_errors_and_quiet_builds() {
    let mut c = setup("errors");
    c.write(
        "Dockerfile",
        &format!("FROM {}\nRUN echo before && exit 3\n", c.image),
    );
    let failing = c.tag("failing");
    let out = c.build(&["-t", &failing]);
    // The CLI exits with the step's code.
    assert_eq!(out.status, 3, "{}", out.describe());
    assert!(
        out.stderr
            .contains("The command '/bin/sh -c echo before && exit 3' returned a non-zero code: 3"),
        "{}",
        out.describe()
    );
    assert!(out.stdout.contains("before\n"), "{}", out.describe());

    c.write("Dockerfile", &format!("FROM {}\nFOO bar\n", c.image));
    let out = c.build(&[]);
    assert_eq!(out.status, 1);
    assert!(
        out.stderr
            .contains("dockerfile parse error line 2: unknown instruction: FOO"),
        "{}",
        out.describe()
    );

    c.write(
        "Dockerfile",
        &format!("FROM {}\nCOPY nope.txt /\n", c.image),
    );
    let out = c.build(&[]);
    assert_eq!(out.status, 1);
    assert!(out.stderr.contains("nope.txt"), "{}", out.describe());

    c.write(
        "Dockerfile",
        &format!("FROM {}\nRUN echo quiet > /q\n", c.image),
    );
    let tag = c.tag("quiet");
    let out = c.build(&["-q", "-t", &tag]);
    assert!(out.success(), "{}", out.describe());
    let printed = out.stdout.trim();
    assert!(
        printed.starts_with("sha256:") && printed.len() == 71,
        "{}",
        out.describe()
    );
    let (_, v) = c.d.get_json(&format!("/images/{tag}/json"));
    assert_eq!(v["Id"], printed);
}

#[test]
fn multi_stage_builds_copy_from_earlier_stages_and_stop_at_the_target() {
    let mut c = setup("stages");
    c.write(
        "Dockerfile",
        &format!(
            "FROM {image} AS builder\n\
             WORKDIR /src\n\
             RUN mkdir -p out/sub && echo compiled > out/app && echo nested > out/sub/n && chmod 755 out/app\n\
             FROM {image}\n\
             COPY --from=builder /src/out/ /opt/app/\n\
             COPY --from=builder /src/out/app /usr/local/bin/app-copy\n\
             COPY --from=0 /src/out/sub/n /n.txt\n\
             COPY --from=builder --chown=nobody:nobody /src/out/app /owned\n\
             CMD [\"cat\", \"/opt/app/app\"]\n",
            image = c.image
        ),
    );
    let tag = c.tag("final");
    let out = c.build(&["-t", &tag]);
    assert!(out.success(), "{}", out.describe());
    let out = c.d.docker(&[
        "run", "--rm", "--network", "none", &tag, "sh", "-c",
        "cat /opt/app/app /opt/app/sub/n /usr/local/bin/app-copy /n.txt; stat -c '%a %u' /opt/app/app; stat -c '%u:%g' /owned; test -e /src || echo no-src",
    ]);
    assert_eq!(
        out.stdout,
        "compiled\nnested\ncompiled\nnested\n755 0\n65534:65534\nno-src\n",
        "{}",
        out.describe()
    );

    let builder = c.tag("builder");
    let out = c.build(&["--target", "builder", "-t", &builder]);
    assert!(out.success(), "{}", out.describe());
    // As on dockerd, only the steps up to the target are counted.
    assert!(out.stdout.contains("Step 3/3 : RUN"), "{}", out.stdout);
    assert!(
        !out.stdout.contains("Step 4/"),
        "the build went past its target: {}",
        out.stdout
    );
    let out = c.d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &builder,
        "cat",
        "/src/out/app",
    ]);
    assert_eq!(out.stdout, "compiled\n", "{}", out.describe());
    let out = c.build(&["--target", "nope"]);
    assert!(!out.success());
    assert!(
        out.stderr
            .contains("failed to reach build target nope in Dockerfile"),
        "{}",
        out.describe()
    );
}

#[test]
fn a_scratch_stage_takes_files_from_another_stage() {
    let mut c = setup("scratch");
    c.write(
        "Dockerfile",
        &format!(
            "FROM {} AS b\n\
             RUN mkdir /out && cp /bin/busybox /out/busybox && echo hi > /out/hello\n\
             FROM scratch\n\
             COPY --from=b /out/ /\n\
             CMD [\"/busybox\", \"cat\", \"/hello\"]\n",
            c.image
        ),
    );
    let tag = c.tag("scratch");
    let out = c.build(&["-t", &tag]);
    assert!(out.success(), "{}", out.describe());
    assert!(
        out.stdout.contains("Step 3/5 : FROM scratch\n ---> \n"),
        "{}",
        out.stdout
    );
    let out = c.d.docker(&["run", "--rm", "--network", "none", &tag]);
    assert_eq!(out.stdout, "hi\n", "{}", out.describe());
    let (_, v) = c.d.get_json(&format!("/images/{tag}/json"));
    assert_eq!(
        v["RootFS"]["Layers"].as_array().map(Vec::len),
        Some(1),
        "{v}"
    );
}

#[test]
fn a_missing_base_image_is_pulled_with_the_registry_credentials() {
    let mut c = setup("pull");
    let reg = compat_tests::registry::Registry::start_with(Some(("builder", "s3cret")));
    let image = compat_tests::fixtures::ImageSpec::busybox()
        .label("berth-test", "build-pull")
        .build();
    reg.push_as(
        &image.docker_archive(&["x/y:z"]),
        "base/busybox:1",
        Some("builder:s3cret"),
    );
    let base = format!("127.0.0.1:{}/base/busybox:1", reg.port);
    c.write(
        "Dockerfile",
        &format!("FROM {base}\nRUN echo pulled > /p\n"),
    );
    // The CLI sends the credentials it has for every registry in X-Registry-Config.
    let login = c.d.docker(&[
        "login",
        "-u",
        "builder",
        "-p",
        "s3cret",
        &format!("127.0.0.1:{}", reg.port),
    ]);
    assert!(login.success(), "{}", login.describe());
    let tag = c.tag("pulled");
    let out = c.build(&["-t", &tag]);
    assert!(out.success(), "{}", out.describe());
    assert!(
        out.stdout.contains("Pulling from base/busybox"),
        "{}",
        out.stdout
    );
    let out =
        c.d.docker(&["run", "--rm", "--network", "none", &tag, "cat", "/p"]);
    assert_eq!(out.stdout, "pulled\n", "{}", out.describe());
    let _ = c.d.docker(&["rmi", "-f", &base]);
}

#[test]
fn onbuild_triggers_run_in_the_child_build() {
    let mut c = setup("onbuild");
    c.write(
        "Dockerfile",
        &format!(
            "FROM {}\nONBUILD RUN echo triggered > /t\nONBUILD ENV X=1\n",
            c.image
        ),
    );
    let parent = c.tag("parent");
    let out = c.build(&["-t", &parent]);
    assert!(out.success(), "{}", out.describe());
    let (_, v) = c.d.get_json(&format!("/images/{parent}/json"));
    assert_eq!(
        v["Config"]["OnBuild"],
        json!(["RUN echo triggered > /t", "ENV X=1"])
    );

    c.write("Dockerfile", &format!("FROM {parent}\nRUN cat /t\n"));
    let child = c.tag("child");
    let out = c.build(&["-t", &child]);
    assert!(out.success(), "{}", out.describe());
    assert!(
        out.stdout.contains("# Executing 2 build triggers\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("\ntriggered\n"), "{}", out.stdout);
    let (_, v) = c.d.get_json(&format!("/images/{child}/json"));
    assert_eq!(v["Config"]["OnBuild"], Value::Null);
    let env: Vec<&str> = v["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(env.contains(&"X=1"), "{env:?}");
}

#[test]
fn a_client_that_goes_away_stops_the_build_and_leaves_no_container() {
    let c = setup("cancel");
    let (s, _) = start_sleeping_build(&c, "rm=1");
    // The RUN step's container is of the FROM image itself.
    let ancestor = format!("ancestor={}", c.image);
    let running = c.d.docker(&["ps", "-q", "--filter", &ancestor]).stdout;
    assert!(
        !running.trim().is_empty(),
        "the RUN step's container should be running"
    );
    drop(s);
    let gone = compat_tests::wait_until(std::time::Duration::from_secs(20), || {
        c.d.docker(&["ps", "-q", "--filter", &ancestor])
            .stdout
            .trim()
            .is_empty()
    });
    assert!(
        gone,
        "the build's container kept running after its client left"
    );
}

/// Serves `body` once over HTTP on a loopback port; returns the URL.
fn serve_once(body: Vec<u8>) -> String {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(&body);
        }
    });
    format!("http://127.0.0.1:{port}/context.tar")
}

#[test]
fn run_steps_get_the_query_settings_and_contexts_can_come_from_this_host() {
    let mut c = setup("params");
    c.write(
        "Dockerfile",
        &format!(
            "FROM {}\nRUN grep -q '10.9.8.7.*myhost' /etc/hosts && df -k /dev/shm | tail -1 | awk '{{print $2}}' > /shm\n",
            c.image
        ),
    );
    let tag = c.tag("params");
    let out = c.build(&[
        "--add-host",
        "myhost:10.9.8.7",
        "--shm-size",
        "16m",
        "-t",
        &tag,
    ]);
    assert!(out.success(), "{}", out.describe());
    let out =
        c.d.docker(&["run", "--rm", "--network", "none", &tag, "cat", "/shm"]);
    assert_eq!(out.stdout, "16384\n", "{}", out.describe());

    // A tarball served by this host is a context (`remote`, as docker-py sends it; the CLI
    // downloads URLs itself).
    c.write(
        "Dockerfile",
        &format!("FROM {}\nCOPY hello.txt /\n", c.image),
    );
    c.write("hello.txt", "from afar\n");
    let url = serve_once(c.context_tar(&["Dockerfile", "hello.txt"]));
    let remote = c.tag("remote");
    let r = c.d.request(
        "POST",
        &format!(
            "/build?t={remote}&remote={}",
            compat_tests::url_encode(&url)
        ),
        &[],
        b"",
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.text().contains("Successfully tagged"), "{}", r.text());
    let out = c.d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &remote,
        "cat",
        "/hello.txt",
    ]);
    assert_eq!(out.stdout, "from afar\n", "{}", out.describe());
}

#[test]
fn contexts_may_be_compressed_with_gzip_bzip2_or_xz() {
    use std::io::Write as _;
    let mut c = setup("compressed");
    c.write("Dockerfile", &format!("FROM {}\nCOPY f.txt /\n", c.image));
    c.write("f.txt", "compressed context\n");
    let plain = c.context_tar(&["Dockerfile", "f.txt"]);
    for tool in ["gzip", "bzip2", "xz"] {
        let mut child = std::process::Command::new(tool)
            .arg("-c")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        child.stdin.take().unwrap().write_all(&plain).unwrap();
        let body = child.wait_with_output().unwrap().stdout;
        let tag = c.tag(tool);
        let r = c.d.request(
            "POST",
            &format!("/build?t={tag}"),
            &[("Content-Type", "application/x-tar")],
            &body,
        );
        assert!(
            r.text().contains("Successfully tagged"),
            "{tool}: {}",
            r.text()
        );
        let out =
            c.d.docker(&["run", "--rm", "--network", "none", &tag, "cat", "/f.txt"]);
        assert_eq!(
            out.stdout,
            "compressed context\n",
            "{tool}: {}",
            out.describe()
        );
    }
}

#[test]
fn build_cancel_stops_the_build_with_that_id() {
    use std::io::Read as _;
    let c = setup("cancelid");
    if c.d
        .skip_unless_owned("dockerd 20.10 cancels only BuildKit builds")
    {
        return;
    }
    let (mut s, mut seen) = start_sleeping_build(&c, "buildid=bct-cancel-me");
    let r =
        c.d.request("POST", "/build/cancel?id=bct-cancel-me", &[], b"");
    assert_eq!(r.status, 200);
    // The stream ends with the cancellation, and the step's container is gone.
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).expect("the rest of the build output");
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(
        String::from_utf8_lossy(&seen).contains("context canceled"),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    let ancestor = format!("ancestor={}", c.image);
    assert_eq!(c.d.docker(&["ps", "-aq", "--filter", &ancestor]).stdout, "");
}

#[test]
fn symlinks_in_the_context_never_reach_the_host() {
    let c = setup("symlinks");
    // A host file the context must not be able to name.
    let secret_dir = unique_temp_dir("bct-build-secret");
    std::fs::write(secret_dir.join("secret"), "host secret\n").unwrap();
    c.write(
        "Dockerfile",
        &format!("FROM {}\nCOPY h/secret /leak\n", c.image),
    );
    std::os::unix::fs::symlink(&secret_dir, c.dir.join("h")).unwrap();
    std::os::unix::fs::symlink("/", c.dir.join("root")).unwrap();
    let body = c.context_tar(&["Dockerfile", "h", "root"]);
    let r = c.d.request(
        "POST",
        "/build",
        &[("Content-Type", "application/x-tar")],
        &body,
    );
    let text = r.text();
    assert!(!text.contains("Successfully built"), "{text}");
    assert!(text.contains("errorDetail"), "{text}");
    // Nor through the Dockerfile's own path.
    let path = format!(
        "/build?dockerfile={}",
        compat_tests::url_encode(&format!("root{}/secret", secret_dir.display()))
    );
    let r = c.d.request(
        "POST",
        &path,
        &[("Content-Type", "application/x-tar")],
        &body,
    );
    let text = r.text();
    assert!(!text.contains("host secret"), "{text}");
    assert!(!text.contains("Successfully built"), "{text}");
    let _ = std::fs::remove_dir_all(&secret_dir);
}

#[test]
fn a_step_writing_to_stderr_reaches_the_client_in_red() {
    let c = setup("stderr");
    c.write(
        "Dockerfile",
        &format!("FROM {}\nRUN sh -c \">&2 echo 'to stderr'\"\n", c.image),
    );
    let body = c.context_tar(&["Dockerfile"]);
    let r = c.d.request(
        "POST",
        "/build?nocache=1&rm=1",
        &[("Content-Type", "application/x-tar")],
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.describe());
    let streams: Vec<String> = r
        .text()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["stream"].as_str().map(str::to_string))
        .collect();
    assert!(
        streams
            .iter()
            .any(|s| s == "\u{1b}[91mto stderr\n\u{1b}[0m"),
        "{streams:?}"
    );
}

#[test]
fn cache_from_limits_the_cache_to_those_images() {
    let mut c = setup("cachefrom");
    c.write(
        "Dockerfile",
        &format!(
            "FROM {}\nENV FOO=bar\nRUN touch /baz\nRUN touch /bax\n",
            c.image
        ),
    );
    let first = c.tag("first");
    let out = c.build(&["-t", &first]);
    assert!(out.success(), "{}", out.describe());
    // Its own steps, named as a cache source: all three come from the cache.
    let second = c.tag("second");
    let out = c.build(&["--cache-from", &first, "-t", &second]);
    assert!(out.success(), "{}", out.describe());
    assert_eq!(cached_steps(&out.stdout), 3, "{}", out.stdout);
    // A source that does not exist: nothing does, though the steps are cached locally.
    let out = c.build(&["--cache-from", "bct-no-such-image:1", "-t", &second]);
    assert!(out.success(), "{}", out.describe());
    assert_eq!(cached_steps(&out.stdout), 0, "{}", out.stdout);
}
