//! What happens when a task exits: the state recorded, resources released, `--rm` honoured,
//! and the restart policy's backoff applied.

use std::sync::Arc;
use std::time::Duration;

use super::logs;
use super::model::{ContainerRecord, Status};
use super::policy::RestartPolicy;
use super::service::{ContainerService, now};
use super::store::Container;
use crate::{Error, ErrorKind, Result};

impl ContainerService {
    pub(super) fn spawn_exit_monitor(
        &self,
        c: Arc<Container>,
        exit_wait: tokio::task::JoinHandle<Result<crate::runtime::tasks::Exit>>,
        io_done: tokio::sync::oneshot::Receiver<()>,
    ) {
        let this = self.self_ref();
        let containerd = self.containerd.clone();
        tokio::spawn(async move {
            let id = c.rec().id.clone();
            let mut exit = exit_wait
                .await
                .unwrap_or_else(|e| Err(Error::internal(e.to_string())));
            // A wait cut short by containerd going away (it is restarted, and it finds the
            // task again through its shim) is simply waited again: the task still runs, or
            // its exit status is kept for us.
            let mut backoff = Duration::from_millis(100);
            let code = loop {
                match exit {
                    Ok(e) => break i64::from(e.status),
                    Err(e)
                        if matches!(e.kind, ErrorKind::NotFound | ErrorKind::InvalidParameter) =>
                    {
                        break 255;
                    }
                    Err(e) => {
                        tracing::debug!(container = %id, "waiting again for the task: {}", e.message);
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(2));
                        if this.upgrade().is_none() {
                            return;
                        }
                        exit = containerd.wait_process(&id, "").await;
                    }
                }
            };
            c.io.lock().unwrap_or_else(|p| p.into_inner()).ended = true;
            crate::system::pause_point("exit:before-recorded").await;
            let mut phases = super::phases::Phases::new("exit", &id);
            // Output written just before the exit reaches logs and clients before waiters
            // hear about the exit (moby waits for the copiers too, with a bound).
            let _ = tokio::time::timeout(Duration::from_secs(2), io_done).await;
            phases.mark("output_drained");
            let Some(this) = this.upgrade() else { return };
            this.handle_exit(&c, code, phases).await;
        });
    }

    /// A run ended: record the exit at once (inspect and list show it, and a client that
    /// attaches now gets the next run's output, as compose's one-off runs expect), then,
    /// under the teardown lock, delete the task while leaving the networks; wake waiters,
    /// announce it, and remove or restart the container as its settings ask.
    pub(super) async fn handle_exit(
        &self,
        c: &Arc<Container>,
        code: i64,
        mut phases: super::phases::Phases,
    ) {
        let teardown = c.teardown.lock().await;
        let (id, cgroup) = {
            let r = c.rec();
            (
                r.id.clone(),
                format!("{}/{}", self.cgroup_parent(&r).trim_end_matches('/'), r.id),
            )
        };
        // The kernel's OOM-kill count lives in the cgroup, which goes with the task.
        let oom_killed = super::stats::oom_kills(&cgroup) > 0;
        // Attaches from here on belong to the next run.
        self.new_io_generation(c);
        let record = {
            let mut r = c.rec();
            r.state.status = Status::Exited;
            // The pid goes before the task is reaped: from then on it may be another process's.
            r.state.pid = 0;
            r.state.exit_code = code;
            r.state.oom_killed = oom_killed;
            r.state.finished_at = now();
            r.clone()
        };
        if let Err(e) = self.persist(&record) {
            tracing::warn!(container = %id, "cannot persist exit: {}", e.message);
        }
        phases.mark("recorded");
        // The task's processes are gone, so its network no longer depends on it: leaving the
        // networks (the kernel's wait for a veth to go) overlaps containerd reaping the task.
        let leave = async {
            if !record.sandbox.is_empty() {
                self.leave_networks(c).await;
                let left = c.rec().clone();
                if let Err(e) = self.persist(&left) {
                    tracing::warn!(container = %id, "cannot persist exit: {}", e.message);
                }
            }
        };
        let _ = tokio::join!(self.containerd.delete_task(&id), leave);
        phases.mark("task_delete_and_networks");
        self.unpin_volumes(&record);
        if oom_killed {
            self.event(&record, "oom", &[]);
        }
        self.event(&record, "die", &[("exitCode", code.to_string())]);
        phases.mark("events");
        phases.log();
        drop(teardown);
        c.exits.send_modify(|e| {
            e.seq += 1;
            e.code = code;
        });
        if record.host_config.auto_remove() {
            self.auto_remove(&id).await;
        }
        if let Some(delay) = self.restart_delay(c, &record, code) {
            self.schedule_restart(c.clone(), delay, true);
        }
    }

    /// `--rm` after an exit. While containerd is away (restarting) the removal is retried
    /// for up to a minute, so the container does not outlive the outage.
    pub(super) async fn auto_remove(&self, id: &str) {
        for _ in 0..120 {
            match self.remove_with_volumes(id, true, true).await {
                Err(e) if e.kind == ErrorKind::Unavailable => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) if e.kind != ErrorKind::NotFound => {
                    tracing::warn!(container = %id, "auto-remove failed: {}", e.message);
                    return;
                }
                _ => return,
            }
        }
        tracing::warn!(container = %id, "auto-remove gave up: containerd stayed away");
    }

    /// Whether the restart policy restarts this exit, and after how long: 100 ms doubling up
    /// to a minute, back to 100 ms once a run lasted 10 s (moby's restart manager).
    pub(super) fn restart_delay(
        &self,
        c: &Arc<Container>,
        record: &ContainerRecord,
        code: i64,
    ) -> Option<Duration> {
        if record.manually_stopped || record.host_config.auto_remove() {
            return None;
        }
        let restart =
            RestartPolicy::of(&record.host_config).restarts_after_exit(code, record.restart_count);
        if !restart {
            return None;
        }
        let ran = logs::parse_time_nanos(&record.state.finished_at)
            - logs::parse_time_nanos(&record.state.started_at);
        let mut delay = c.restart_delay.lock().unwrap_or_else(|p| p.into_inner());
        *delay = if ran >= 10_000_000_000 || delay.is_zero() {
            Duration::from_millis(100)
        } else {
            (*delay * 2).min(Duration::from_secs(60))
        };
        Some(*delay)
    }

    /// Restarts the container after `delay`; `counted` restarts raise `RestartCount`.
    pub(super) fn schedule_restart(&self, c: Arc<Container>, delay: Duration, counted: bool) {
        let record = {
            let mut r = c.rec();
            r.state.status = Status::Restarting;
            r.clone()
        };
        let _ = self.persist(&record);
        let this = self.self_ref();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let Some(this) = this.upgrade() else { return };
            {
                let mut r = c.rec();
                // A stop or removal during the backoff cancels the restart.
                if r.state.status != Status::Restarting || r.manually_stopped {
                    return;
                }
                if counted {
                    r.restart_count += 1;
                }
            }
            if let Err(e) = this.start_container(&c, true).await {
                tracing::warn!(container = %record.id, "restart failed: {}", e.message);
                let mut r = c.rec();
                if r.state.status == Status::Restarting {
                    r.state.status = Status::Exited;
                }
            }
        });
    }
}
