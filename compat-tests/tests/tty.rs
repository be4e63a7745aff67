//! Interactive TTY sessions driven through tmux, as a user types them: `docker run -it`,
//! `docker exec -it`, and a terminal resize reaching the container. Checked against Debian's
//! dockerd 20.10 first (with `--network none`).

use std::process::Command;
use std::time::Duration;

use compat_tests::{Daemon, compare_api_versions, daemon, unique_temp_dir, wait_until};

struct Session {
    name: String,
}

impl Session {
    /// A detached tmux session of `cols` x `rows` running `command`.
    fn start(name: &str, cols: u16, rows: u16, command: &str) -> Session {
        let ok = tmux(name)
            .args([
                "new-session",
                "-d",
                "-s",
                name,
                "-x",
                &cols.to_string(),
                "-y",
                &rows.to_string(),
                command,
            ])
            .status()
            .expect("tmux");
        assert!(ok.success(), "tmux new-session");
        Session {
            name: name.to_string(),
        }
    }

    fn send(&self, keys: &str) {
        let ok = tmux(&self.name)
            .args(["send-keys", "-t", &self.name, keys, "Enter"])
            .status()
            .expect("tmux send-keys");
        assert!(ok.success());
    }

    /// Keys as tmux names them (`C-p`), without a trailing Enter.
    fn keys(&self, keys: &[&str]) {
        let ok = tmux(&self.name)
            .args(["send-keys", "-t", &self.name])
            .args(keys)
            .status()
            .expect("tmux send-keys");
        assert!(ok.success());
    }

    fn screen(&self) -> String {
        let out = tmux(&self.name)
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn alive(&self) -> bool {
        tmux(&self.name)
            .args(["has-session", "-t", &self.name])
            .status()
            .is_ok_and(|s| s.success())
    }

    #[track_caller]
    fn expect(&self, text: &str) {
        let seen = wait_until(Duration::from_secs(20), || self.screen().contains(text));
        assert!(seen, "{text:?} never appeared; screen:\n{}", self.screen());
    }
}

/// tmux on a server of the session's own: two tests starting the default server at once
/// can make one `new-session` fail.
fn tmux(session: &str) -> Command {
    let mut cmd = Command::new("tmux");
    cmd.args(["-L", session]);
    cmd
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = tmux(&self.name)
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

fn load(d: &Daemon, test: &str) -> String {
    d.load_test_image(&format!("tty-{test}"))
}

fn docker_line(d: &Daemon, config: &std::path::Path, args: &str) -> String {
    format!(
        "env DOCKER_HOST={} DOCKER_CONFIG={} docker {args}",
        d.docker_host(),
        config.display()
    )
}

#[test]
fn interactive_run_and_exec_with_a_terminal() {
    let d = daemon();
    let image = load(&d, "session");
    let config = unique_temp_dir("bct-tty-cli");
    let pid = std::process::id();
    let name = format!("bct-tty-{pid}");

    let run = Session::start(
        &format!("berth-run-{pid}"),
        100,
        30,
        &docker_line(
            &d,
            &config,
            &format!("run -it --rm --network none --name {name} {image} sh"),
        ),
    );
    run.send("echo $((6*7))");
    run.expect("42");
    // From API 1.42 the CLI sends the terminal size with create (ConsoleSize), so the shell
    // starts at it; older daemons get it by a resize after start, which can lose a race with
    // the first `stty size`, so there only the later resize is checked.
    let sizes_at_create =
        compare_api_versions(&d.max_api_version(), "1.42") != std::cmp::Ordering::Less;
    if sizes_at_create {
        run.send("stty size");
        run.expect("30 100");
    }

    // A second terminal execs into the same container.
    let exec = Session::start(
        &format!("berth-exec-{pid}"),
        80,
        24,
        &docker_line(&d, &config, &format!("exec -it {name} sh")),
    );
    exec.send("echo exec-$((2*21))");
    exec.expect("exec-42");
    if sizes_at_create {
        exec.send("stty size");
        exec.expect("24 80");
    }
    exec.send("exit");
    assert!(
        wait_until(Duration::from_secs(20), || !exec.alive()),
        "exec session did not end"
    );

    // Resizing the run terminal reaches the container's TTY.
    let ok = tmux(&run.name)
        .args(["resize-window", "-t", &run.name, "-x", "120", "-y", "40"])
        .status()
        .expect("tmux resize-window");
    assert!(ok.success());
    let resized = wait_until(Duration::from_secs(20), || {
        run.send("stty size");
        std::thread::sleep(Duration::from_millis(300));
        run.screen().contains("40 120")
    });
    assert!(
        resized,
        "resize never reached the container; screen:\n{}",
        run.screen()
    );

    run.send("exit");
    assert!(
        wait_until(Duration::from_secs(20), || !run.alive()),
        "run session did not end"
    );
    let ps = d.docker(&["ps", "-aq", "--filter", &format!("name={name}")]);
    assert!(ps.stdout.trim().is_empty(), "--rm left {}", ps.stdout);
    if !d.owned() {
        let _ = d.docker(&["rmi", &image]);
    }
    let _ = std::fs::remove_dir_all(&config);
}

#[test]
fn detaching_from_run_it_leaves_the_container_running() {
    let d = daemon();
    let image = load(&d, "detach");
    let config = unique_temp_dir("bct-tty-cli");
    let pid = std::process::id();
    let name = format!("bct-tty-detach-{pid}");
    let run = Session::start(
        &format!("berth-detach-{pid}"),
        100,
        30,
        &docker_line(
            &d,
            &config,
            &format!("run -it --network none --name {name} {image} sh"),
        ),
    );
    run.send("echo ready-$((6*7))");
    run.expect("ready-42");
    run.keys(&["C-p", "C-q"]);
    assert!(
        wait_until(Duration::from_secs(20), || !run.alive()),
        "the CLI did not detach; screen:\n{}",
        run.screen()
    );
    // Still running, and its shell still reads the terminal: attach and use it.
    std::thread::sleep(Duration::from_millis(500));
    let state = d.docker(&["inspect", "-f", "{{.State.Status}}", &name]);
    assert_eq!(state.stdout.trim(), "running", "{}", state.describe());
    let again = Session::start(
        &format!("berth-reattach-{pid}"),
        100,
        30,
        &docker_line(&d, &config, &format!("attach {name}")),
    );
    again.send("echo back-$((2*21))");
    again.expect("back-42");
    again.send("exit");
    assert!(
        wait_until(Duration::from_secs(20), || !again.alive()),
        "attach session did not end"
    );
    let _ = d.docker(&["rm", "-f", &name]);
    if !d.owned() {
        let _ = d.docker(&["rmi", &image]);
    }
    let _ = std::fs::remove_dir_all(&config);
}
