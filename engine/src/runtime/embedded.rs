//! The embedded containerd: berthd's own containerd process, configured under its data and
//! exec roots, restarted with backoff when it dies, and stopped on shutdown. Its containers
//! live in shims, so restarting containerd does not stop them.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::Containerd;
use crate::system::{ensure_dir, write_atomic};
use crate::{Error, Result};

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// A containerd that ran this long before dying restarts without delay.
const STABLE_UPTIME: Duration = Duration::from_secs(30);

/// Paths of the embedded containerd's files.
#[derive(Clone, Debug)]
struct Layout {
    root: PathBuf,
    state: PathBuf,
    socket: PathBuf,
    config: PathBuf,
    pidfile: PathBuf,
}

impl Layout {
    fn new(data_root: &Path, exec_root: &Path) -> Self {
        let state = exec_root.join("containerd");
        Layout {
            root: data_root.join("containerd"),
            socket: state.join("containerd.sock"),
            config: state.join("containerd.toml"),
            pidfile: state.join("containerd.pid"),
            state,
        }
    }

    fn config_toml(&self, debug: bool) -> String {
        let q = |p: &Path| format!("{:?}", p.display().to_string());
        format!(
            "# Written by berthd at start-up; changes are overwritten.\n\
             version = 2\n\
             root = {root}\n\
             state = {state}\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\", \"io.containerd.snapshotter.v1.devmapper\", \"io.containerd.snapshotter.v1.aufs\", \"io.containerd.snapshotter.v1.btrfs\", \"io.containerd.snapshotter.v1.zfs\"]\n\
             \n[grpc]\n  address = {sock}\n\
             \n[ttrpc]\n  address = {ttrpc}\n\
             \n[debug]\n  address = \"\"\n  level = \"{level}\"\n\
             \n[metrics]\n  address = \"\"\n\
             \n[plugins.\"io.containerd.internal.v1.opt\"]\n  path = {opt}\n",
            root = q(&self.root),
            state = q(&self.state),
            sock = q(&self.socket),
            ttrpc = q(&self.state.join("containerd.sock.ttrpc")),
            opt = q(&self.root.join("opt")),
            level = if debug { "debug" } else { "warn" },
        )
    }
}

pub struct EmbeddedContainerd {
    socket: PathBuf,
    stop: watch::Sender<bool>,
    supervisor: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

impl EmbeddedContainerd {
    /// Starts containerd and waits until it answers on its socket.
    pub async fn start(data_root: &Path, exec_root: &Path, debug: bool) -> Result<Self> {
        require_binary("containerd", "containerd")?;
        require_binary("runc", "runc")?;
        let layout = Layout::new(data_root, exec_root);
        ensure_dir(&layout.root)?;
        ensure_dir(&layout.state)?;
        stop_stale(&layout).await;
        write_atomic(&layout.config, layout.config_toml(debug).as_bytes())?;

        let (stop_tx, stop_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = oneshot::channel();
        let supervisor = tokio::spawn(supervise(layout.clone(), stop_rx, ready_tx));
        match ready_rx.await {
            Ok(Ok(())) => Ok(EmbeddedContainerd {
                socket: layout.socket,
                stop: stop_tx,
                supervisor: tokio::sync::Mutex::new(Some(supervisor)),
            }),
            Ok(Err(e)) => {
                let _ = stop_tx.send(true);
                let _ = supervisor.await;
                Err(e)
            }
            Err(_) => Err(Error::internal("containerd supervisor ended unexpectedly")),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Asks containerd to stop (SIGTERM, then SIGKILL after `grace`) and waits for it.
    pub async fn stop(&self, grace: Duration) {
        let _ = self.stop.send(true);
        if let Some(handle) = self.supervisor.lock().await.take() {
            // The supervisor itself escalates to SIGKILL; this bound only guards a stuck task.
            let _ = tokio::time::timeout(grace + Duration::from_secs(5), handle).await;
        }
    }
}

fn require_binary(name: &str, package: &str) -> Result<()> {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()));
    if found {
        Ok(())
    } else {
        Err(Error::unavailable(format!(
            "{name} not found in PATH: install it with `apt-get install {package}` or pass --containerd"
        )))
    }
}

/// A containerd left behind by a berthd that crashed still owns our root; stop it first.
async fn stop_stale(layout: &Layout) {
    let Some(pid) = std::fs::read_to_string(&layout.pidfile)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
    else {
        return;
    };
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let ours = String::from_utf8_lossy(&cmdline).contains(&layout.config.display().to_string());
    if ours {
        tracing::warn!(pid, "stopping containerd left behind by a previous berthd");
        terminate(Pid::from_raw(pid), Duration::from_secs(10)).await;
    }
    let _ = std::fs::remove_file(&layout.pidfile);
}

/// Running or able to run: a zombie waiting for its parent to reap it counts as gone.
fn alive(pid: Pid) -> bool {
    if signal::kill(pid, None).is_err() {
        return false;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The state follows the command name, which is in parentheses and may hold spaces.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    state != Some('Z')
}

/// SIGTERM, wait up to `grace`, then SIGKILL. For processes that are not our children.
async fn terminate(pid: Pid, grace: Duration) {
    let _ = signal::kill(pid, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while alive(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if alive(pid) {
        let _ = signal::kill(pid, Signal::SIGKILL);
        // A process in uninterruptible sleep (a sync under load) dies only when it wakes;
        // a second containerd must not start on the same root before it has.
        let deadline = Instant::now() + grace;
        while alive(pid) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if alive(pid) {
            tracing::warn!(
                pid = pid.as_raw(),
                "containerd left behind is still alive after SIGKILL"
            );
        }
    }
}

fn spawn(layout: &Layout) -> std::io::Result<tokio::process::Child> {
    let mut cmd = std::process::Command::new("containerd");
    cmd.arg("--config")
        .arg(&layout.config)
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        // Its own process group, so a Ctrl-C aimed at berthd's terminal reaches berthd only
        // and berthd decides when containerd stops.
        .process_group(0);
    let child = tokio::process::Command::from(cmd)
        .kill_on_drop(false)
        .spawn()?;
    if let Some(pid) = child.id() {
        let _ = write_atomic(&layout.pidfile, pid.to_string().as_bytes());
    }
    Ok(child)
}

async fn wait_ready(socket: &Path, child: &mut tokio::process::Child) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let client = Containerd::connect(socket, "berth")?;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Error::unavailable(format!(
                "containerd exited during start-up ({status}); see its log above"
            )));
        }
        if socket.exists() && client.version().await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::unavailable(format!(
                "containerd did not answer on {} within {}s",
                socket.display(),
                READY_TIMEOUT.as_secs()
            )));
        }
        // containerd is usually up within tens of milliseconds; poll finely.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn supervise(
    layout: Layout,
    mut stop: watch::Receiver<bool>,
    ready: oneshot::Sender<Result<()>>,
) {
    let mut ready = Some(ready);
    let mut backoff = BACKOFF_START;
    loop {
        let mut child = match spawn(&layout) {
            Ok(c) => c,
            Err(e) => {
                let err = Error::unavailable(format!("cannot start containerd: {e}"));
                if let Some(r) = ready.take() {
                    let _ = r.send(Err(err));
                    return;
                }
                tracing::error!("{err}");
                if wait_or_stop(&mut stop, backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        let started = Instant::now();
        let readiness = tokio::select! {
            r = wait_ready(&layout.socket, &mut child) => r,
            _ = stopped(&mut stop) => Err(Error::unavailable("stopping")),
        };
        match readiness {
            Ok(()) => {
                tracing::info!(pid = child.id(), socket = %layout.socket.display(), "containerd is up");
                if let Some(r) = ready.take() {
                    let _ = r.send(Ok(()));
                }
            }
            Err(e) => {
                if let Some(r) = ready.take() {
                    stop_child(&mut child, &layout).await;
                    let _ = r.send(Err(e));
                    return;
                }
                if *stop.borrow() {
                    stop_child(&mut child, &layout).await;
                    return;
                }
                tracing::warn!("restarted containerd is not answering yet: {}", e.message);
            }
        }
        let exited = tokio::select! {
            status = child.wait() => Some(status),
            _ = stopped(&mut stop) => None,
        };
        let Some(status) = exited else {
            stop_child(&mut child, &layout).await;
            return;
        };
        let _ = std::fs::remove_file(&layout.pidfile);
        if *stop.borrow() {
            return;
        }
        if started.elapsed() > STABLE_UPTIME {
            backoff = BACKOFF_START;
        }
        tracing::warn!(
            ?status,
            delay_ms = backoff.as_millis() as u64,
            "containerd exited; restarting"
        );
        if wait_or_stop(&mut stop, backoff).await {
            return;
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Resolves once a stop has been requested (at once if it already was).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

async fn stop_child(child: &mut tokio::process::Child, layout: &Layout) {
    if let Some(pid) = child.id() {
        let _ = signal::kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        if tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .is_err()
        {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }
    let _ = std::fs::remove_file(&layout.pidfile);
    tracing::info!("containerd stopped");
}

/// Sleeps for `delay`; true when a stop was requested meanwhile.
async fn wait_or_stop(stop: &mut watch::Receiver<bool>, delay: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => {}
        _ = stopped(stop) => {}
    }
    *stop.borrow()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keeps_everything_under_our_roots() {
        let l = Layout::new(Path::new("/d"), Path::new("/e"));
        let toml = l.config_toml(false);
        assert!(toml.contains("root = \"/d/containerd\""));
        assert!(toml.contains("state = \"/e/containerd\""));
        assert!(toml.contains("address = \"/e/containerd/containerd.sock\""));
        assert!(toml.contains("io.containerd.grpc.v1.cri"));
        assert!(toml.contains("level = \"warn\""));
    }
}
