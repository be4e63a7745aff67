//! Start-up: every record reconciled with containerd and the host, half-made work finished
//! or rolled back, and containers restarted by their policy.

use std::sync::Arc;
use std::time::Duration;

use super::io::{self, Fifos};
use super::model::Status;
use super::policy::RestartPolicy;
use super::service::ContainerService;
use super::store::Container;
use super::streams::log_sink;
use crate::{Error, ErrorKind, Result};

/// containerd's task states (`task.Status`) that restore tells apart.
const TASK_RUNNING: i32 = 2;
const TASK_STOPPED: i32 = 3;
const TASK_PAUSED: i32 = 4;

/// How long a start-up waits for the last output of a process that ended while berthd was
/// down, so that a shim that never lets go of a FIFO cannot hold the start-up.
const FINAL_OUTPUT_WAIT: Duration = Duration::from_secs(5);

/// The run's live output and where it is logged.
fn output_and_sink(c: &Container) -> (io::OutputHub, io::LogSink) {
    let io = c.io.lock().unwrap_or_else(|p| p.into_inner());
    (io.output.clone(), log_sink(&c.rec()))
}

impl ContainerService {
    /// A process that ended while berthd was down may have left its last output in the
    /// shim's pipes, held there by a full FIFO: it goes to the log before the task (and
    /// with it the shim) is deleted. What fitted in the FIFO was dropped by the kernel when
    /// the shim closed it; no reader can get that back.
    async fn drain_final_output(&self, c: &Container, id: &str) {
        let (output, sink) = output_and_sink(c);
        let fifos = Fifos::existing(&self.run_dir(id));
        if matches!(sink, io::LogSink::None) || !fifos.stdout.exists() {
            return;
        }
        if let Ok(done) = io::start_copiers(&fifos, output, sink, io::Run::Resumed) {
            let _ = tokio::time::timeout(FINAL_OUTPUT_WAIT, done).await;
        }
    }

    /// Loads containers from the data root and reconciles them with containerd: running
    /// tasks get their output and exit monitor back, tasks that ended meanwhile are recorded.
    pub async fn restore(&self) -> Result<()> {
        let root = self.data_root.join("containers");
        let Ok(dir) = std::fs::read_dir(&root) else {
            return Ok(());
        };
        // Tasks that exist now, to find those of containers not recorded as running.
        let tasks = self.containerd.task_ids().await.unwrap_or_default();
        let mut auto_removed = Vec::new();
        let mut half_made = Vec::new();
        let mut stale_sandboxes = Vec::new();
        for entry in dir.flatten() {
            let path = entry.path();
            let mut record = match super::model::read_record(&path) {
                super::model::Stored::Record(record) => *record,
                super::model::Stored::Missing => {
                    // The daemon died inside a create, before the record was written.
                    if let Some(id) = path.file_name().and_then(|n| n.to_str()) {
                        half_made.push(id.to_string());
                    }
                    continue;
                }
                super::model::Stored::Unreadable(why) => {
                    tracing::warn!(path = %path.display(), why, "skipping a container record");
                    continue;
                }
            };
            if record.state.status == Status::Removing {
                record.state.status = Status::Dead;
            }
            let id = record.id.clone();
            self.names
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(record.name.clone(), id.clone());
            let was_running = record.state.running();
            let c = Container::new(record);
            self.containers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id.clone(), c.clone());
            if !was_running {
                if tasks.contains(&id) {
                    // The daemon died inside a start: nobody was told the container
                    // started, so its task goes rather than run on unseen.
                    self.discard_task(&id).await;
                }
                if !c.rec().sandbox.is_empty() {
                    stale_sandboxes.push(c.clone());
                }
                if c.rec().host_config.auto_remove() {
                    auto_removed.push(id);
                }
                continue;
            }
            match self.containerd.task_status(&id).await {
                Ok(Some((pid, status))) if status == TASK_RUNNING || status == TASK_PAUSED => {
                    // Running (or paused): reattach output to the FIFOs the shim still holds.
                    let fifos = Fifos::existing(&self.run_dir(&id));
                    let (output, sink) = output_and_sink(&c);
                    c.rec().state.pid = pid;
                    let pinned: Vec<String> = c
                        .rec()
                        .mounts
                        .iter()
                        .filter(|m| m.kind == "volume")
                        .map(|m| m.name.clone())
                        .collect();
                    for name in pinned {
                        let _ = self.volumes.pin(&name, &id);
                    }
                    {
                        let r = c.rec();
                        for e in r.networks.values().filter(|e| !e.ip.is_empty()) {
                            self.networks.claim(&e.network_id, &e.ip);
                            self.networks.claim(&e.network_id, &e.ip6);
                        }
                        for p in &r.ports {
                            self.networks.claim_port(&p.protocol, p.host_port, &id);
                        }
                    }
                    let io_done = match io::start_copiers(&fifos, output, sink, io::Run::Resumed) {
                        Ok(done) => done,
                        Err(_) => tokio::sync::oneshot::channel().1,
                    };
                    let containerd = self.containerd.clone();
                    let cid = id.clone();
                    let exit_wait =
                        tokio::spawn(async move { containerd.wait_process(&cid, "").await });
                    self.spawn_exit_monitor(c.clone(), exit_wait, io_done);
                    // Probing carries on where the last daemon left it.
                    self.start_health_monitor(&c);
                }
                status => {
                    if matches!(status, Ok(Some((_, TASK_STOPPED)))) {
                        self.drain_final_output(&c, &id).await;
                    }
                    let code = self
                        .containerd
                        .delete_task(&id)
                        .await
                        .ok()
                        .flatten()
                        .map_or(255, i64::from);
                    self.handle_exit(&c, code, super::phases::Phases::new("exit", &id))
                        .await;
                }
            }
        }
        // After the loop, so that every running container has claimed its addresses.
        for c in stale_sandboxes {
            self.take_down_stale_sandbox(&c).await;
        }
        self.collect_leftovers(&half_made).await;
        // As dockerd does at restore: `--rm` containers that are not running go.
        for id in auto_removed {
            if let Err(e) = self.remove_with_volumes(&id, true, true).await {
                tracing::warn!(container = %id, "--rm container not removed at restore: {}", e.message);
            }
        }
        self.start_by_policy_after_boot();
        Ok(())
    }

    /// What a daemon killed mid-way leaves without a record pointing at it: the parts of
    /// containers whose create never finished (`half_made`: their directories), and
    /// namespace files of containers that are not running.
    pub(super) async fn collect_leftovers(&self, half_made: &[String]) {
        for id in half_made {
            tracing::info!(container = %id, "removing the parts of an unfinished create");
            let _ = self.containerd.delete_task(id).await;
            let _ = self.containerd.delete_container(id).await;
            let _ = self.containerd.remove_snapshot(id).await;
            self.containerd.delete_lease(&Self::lease_for(id)).await;
            let _ = std::fs::remove_dir_all(self.dir(id));
            let _ = std::fs::remove_dir_all(self.run_dir(id));
        }
        let running: std::collections::HashSet<String> = self
            .list()
            .into_iter()
            .filter(|r| r.state.running())
            .map(|r| r.id.clone())
            .collect();
        for owner in self.networks.netns_owners() {
            if !running.contains(&owner) {
                crate::network::netns::remove(&self.networks.netns_path(&owner));
            }
        }
    }

    /// Kills and deletes a task nothing should be running, retrying the delete while the
    /// process dies (up to 5 s), then its containerd container.
    pub(super) async fn drop_task_and_container(&self, id: &str) -> Result<()> {
        let _ = self.containerd.kill_task(id, 9, true).await;
        let mut gone = false;
        for _ in 0..50 {
            match self.containerd.delete_task(id).await {
                Ok(_) => {
                    gone = true;
                    break;
                }
                Err(e) if e.kind == ErrorKind::Unavailable => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        if !gone {
            return Err(Error::conflict(format!("the task of {id} would not stop")));
        }
        match self.containerd.delete_container(id).await {
            Err(e) if e.kind != ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    pub(super) async fn discard_task(&self, id: &str) {
        if let Err(e) = self.drop_task_and_container(id).await {
            tracing::warn!(container = %id, "a leftover task is still there: {}", e.message);
        }
    }

    /// After a start that failed while containerd was away: once it is back, the task (if
    /// the start got that far) goes, unless the container has been started since.
    pub(super) fn drop_task_when_back(&self, c: &Arc<Container>) {
        let this = self.self_ref();
        let c = c.clone();
        tokio::spawn(async move {
            let id = c.rec().id.clone();
            for _ in 0..240 {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let Some(this) = this.upgrade() else { return };
                let _op = c.lock_op().await;
                let status = c.rec().state.status.clone();
                if c.rec().state.running() || status == Status::Removing {
                    return;
                }
                match this.drop_task_and_container(&id).await {
                    Err(e) if e.kind == ErrorKind::Unavailable => {}
                    Err(e) => {
                        tracing::warn!(container = %id, "leftover task: {}", e.message);
                        return;
                    }
                    Ok(()) => return,
                }
            }
        });
    }

    /// At daemon start, `always` containers and `unless-stopped` ones nobody stopped are
    /// started again if they are not running (moby's restore).
    pub(super) fn start_by_policy_after_boot(&self) {
        let containers: Vec<Arc<Container>> = self
            .containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        for c in containers {
            let r = c.rec().clone();
            let wanted = RestartPolicy::of(&r.host_config).restarts_with_daemon(r.manually_stopped);
            if wanted
                && !matches!(
                    r.state.status,
                    Status::Running | Status::Restarting | Status::Paused
                )
            {
                self.schedule_restart(c.clone(), Duration::ZERO, false);
            }
        }
    }
}
