//! `docker exec`: extra processes in a running container's task.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::io::{self, Fifos, IoChannels, LogSink};
use super::service::ContainerService;
use super::spec;
use super::streams::AttachHandle;
use crate::runtime::tasks::start_failure;
use crate::{Error, Result};

/// What `POST /containers/{id}/exec` asked for.
#[derive(Clone, Debug, Default)]
pub struct ExecConfig {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub user: String,
    pub working_dir: String,
    pub tty: bool,
    pub privileged: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub detach_keys: String,
    /// `[height, width]` of the terminal at start (API 1.42+), so the process never sees
    /// a 0x0 window before the client's first resize lands.
    pub console_size: Option<[u32; 2]>,
}

/// One exec instance, as `GET /exec/{id}/json` reports it.
#[derive(Clone, Debug)]
pub struct ExecState {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    pub running: bool,
    pub started: bool,
    pub exit_code: Option<i64>,
    pub pid: u32,
}

pub(crate) struct Exec {
    pub(crate) state: Mutex<ExecState>,
    io: Mutex<IoChannels>,
    done: watch::Sender<bool>,
}

#[derive(Default)]
pub(crate) struct Execs {
    pub(crate) by_id: Mutex<HashMap<String, Arc<Exec>>>,
}

impl ContainerService {
    fn exec(&self, id: &str) -> Result<Arc<Exec>> {
        self.execs
            .by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("No such exec instance: {id}")))
    }

    /// `POST /containers/{id}/exec`.
    pub fn exec_create(&self, name_or_id: &str, config: ExecConfig) -> Result<String> {
        let record = self.get(name_or_id)?;
        if record.state.status == super::model::Status::Paused {
            return Err(Error::conflict(format!(
                "Container {} is paused, unpause the container before exec",
                record.id
            )));
        }
        if !record.state.running() {
            return Err(Error::conflict(format!(
                "container {} is not running",
                record.id
            )));
        }
        if config.cmd.is_empty() {
            return Err(Error::invalid("No exec command specified"));
        }
        let a: [u8; 32] = rand::random();
        let id: String = a.iter().map(|b| format!("{b:02x}")).collect();
        let exec = Arc::new(Exec {
            state: Mutex::new(ExecState {
                id: id.clone(),
                container_id: record.id.clone(),
                config: config.clone(),
                running: false,
                started: false,
                exit_code: None,
                pid: 0,
            }),
            io: Mutex::new(IoChannels::new(config.attach_stdin)),
            done: watch::channel(false).0,
        });
        self.execs
            .by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), exec);
        self.container_event(
            &record,
            &format!("exec_create: {}", config.cmd.join(" ")),
            &[("execID", id.clone())],
        );
        Ok(id)
    }

    pub fn exec_inspect(&self, exec_id: &str) -> Result<ExecState> {
        Ok(self
            .exec(exec_id)?
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone())
    }

    /// Subscribes to an exec's streams before it starts.
    pub fn exec_attach(&self, exec_id: &str) -> Result<AttachHandle> {
        let exec = self.exec(exec_id)?;
        let st = exec.state.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let io = exec.io.lock().unwrap_or_else(|p| p.into_inner());
        Ok(AttachHandle {
            tty: st.config.tty,
            output: Some(io.output.subscribe()),
            stdin: if st.config.attach_stdin {
                io.stdin_tx.clone()
            } else {
                None
            },
            stdin_once: true,
            replay: vec![],
        })
    }

    /// `POST /exec/{id}/start`: starts the process; returns once it runs. The output reaches
    /// clients subscribed with [`exec_attach`](Self::exec_attach).
    pub async fn exec_start(&self, exec_id: &str) -> Result<()> {
        let exec = self.exec(exec_id)?;
        let st = {
            let mut st = exec.state.lock().unwrap_or_else(|p| p.into_inner());
            if st.started {
                return Err(Error::conflict(format!(
                    "Exec command {exec_id} has already run"
                )));
            }
            st.started = true;
            st.clone()
        };
        let record = self.get(&st.container_id)?;
        if !record.state.running() {
            return Err(Error::conflict(format!(
                "container {} is not running",
                record.id
            )));
        }
        let c = &st.config;
        let mut env = record.config.env().to_vec();
        for e in &c.env {
            let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
            env.retain(|x| x.split_once('=').map_or(x.as_str(), |(k, _)| k) != key);
            env.push(e.clone());
        }
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.insert(
                0,
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            );
        }
        if c.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
            env.push("TERM=xterm".into());
        }
        let user = if c.user.is_empty() {
            record.config.user().to_string()
        } else {
            c.user.clone()
        };
        let mounts = self.containerd().snapshot_mounts(&record.id).await?;
        let dirs = mounts
            .first()
            .map(|m| super::setup::overlay_dirs(&m.options))
            .unwrap_or_default();
        let (uid, gid, _) = super::setup::resolve_user(&user, &dirs)?;
        let caps = crate::oci::capabilities(
            spec::list(&record.host_config.cap_add),
            spec::list(&record.host_config.cap_drop),
            c.privileged || record.host_config.privileged(),
        );
        let cwd = if !c.working_dir.is_empty() {
            c.working_dir.clone()
        } else if !record.config.working_dir().is_empty() {
            record.config.working_dir().to_string()
        } else {
            "/".to_string()
        };
        // An exec runs under the container's ulimits, as on dockerd.
        let rlimits = super::setup::rlimits(&record.host_config.ulimits)?;
        let mut user = oci_spec::runtime::User::default();
        // Execs (and so health probes) run under the container's umask, as in moby.
        user.set_uid(uid).set_gid(gid).set_umask(record.umask());
        let mut process = oci_spec::runtime::Process::default();
        process
            .set_terminal(Some(c.tty))
            .set_console_size(crate::oci::console_size(c.tty, c.console_size))
            .set_user(user)
            .set_args(Some(c.cmd.clone()))
            .set_env(Some(env))
            .set_cwd(cwd.into())
            .set_capabilities(Some(
                crate::oci::process_capabilities(&caps).map_err(Error::invalid)?,
            ))
            .set_rlimits((!rlimits.is_empty()).then_some(rlimits))
            .set_no_new_privileges(Some(false));
        let process_json =
            serde_json::to_vec(&process).map_err(|e| Error::internal(e.to_string()))?;
        let dir = self.exec_dir(&record.id, exec_id);
        let fifos = Fifos::create(&dir, c.attach_stdin, c.tty)?;
        let (output, stdin_rx) = {
            let mut io = exec.io.lock().unwrap_or_else(|p| p.into_inner());
            (io.output.clone(), io.stdin_rx.take())
        };
        let io_done = io::start_copiers(&fifos, output, LogSink::None, io::Run::New)?;
        let stdio = fifos.stdio_paths(c.tty);
        self.container_event(
            &record,
            &format!("exec_start: {}", c.cmd.join(" ")),
            &[("execID", exec_id.to_string())],
        );
        let containerd = self.containerd().clone();
        let fail = |e: Error| {
            // moby reports any exec start failure as 126, whatever the cause.
            let (message, _) = start_failure(&e);
            let code = 126;
            {
                let mut st = exec.state.lock().unwrap_or_else(|p| p.into_inner());
                st.exit_code = Some(code);
                st.running = false;
            }
            *exec.io.lock().unwrap_or_else(|p| p.into_inner()) = IoChannels::new(false);
            exec.done.send_replace(true);
            let _ = std::fs::remove_dir_all(&dir);
            Error::new(e.kind, message)
        };
        if let Err(e) = containerd
            .exec_process(&record.id, exec_id, process_json, &stdio)
            .await
        {
            return Err(fail(e));
        }
        let waiter = {
            let containerd = containerd.clone();
            let (cid, eid) = (record.id.clone(), exec_id.to_string());
            tokio::spawn(async move { containerd.wait_process(&cid, &eid).await })
        };
        let pid = match containerd.start_process(&record.id, exec_id).await {
            Ok(pid) => pid,
            Err(e) => {
                waiter.abort();
                let _ = containerd.delete_process(&record.id, exec_id).await;
                return Err(fail(e));
            }
        };
        {
            let mut st = exec.state.lock().unwrap_or_else(|p| p.into_inner());
            st.running = true;
            st.pid = pid;
        }
        // The shim opens an exec's stdin FIFO when the process starts, not before.
        if let (Some(path), Some(rx)) = (fifos.stdin.clone(), stdin_rx) {
            let containerd = containerd.clone();
            let (cid, eid) = (record.id.clone(), exec_id.to_string());
            io::start_stdin_pump(path, rx, async move {
                let _ = containerd.close_process_stdin(&cid, &eid).await;
            });
        }

        let events_record = record.clone();
        let this = self.weak_self();
        let exec2 = exec.clone();
        let eid = exec_id.to_string();
        tokio::spawn(async move {
            let status = waiter
                .await
                .ok()
                .and_then(Result::ok)
                .map_or(255, |e| i64::from(e.status));
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), io_done).await;
            let _ = containerd.delete_process(&events_record.id, &eid).await;
            {
                let mut st = exec2.state.lock().unwrap_or_else(|p| p.into_inner());
                st.running = false;
                st.exit_code = Some(status);
            }
            *exec2.io.lock().unwrap_or_else(|p| p.into_inner()) = IoChannels::new(false);
            exec2.done.send_replace(true);
            let _ = std::fs::remove_dir_all(&dir);
            if let Some(this) = this.upgrade() {
                this.container_event(
                    &events_record,
                    "exec_die",
                    &[("execID", eid), ("exitCode", status.to_string())],
                );
            }
        });
        Ok(())
    }

    pub async fn exec_resize(&self, exec_id: &str, height: u32, width: u32) -> Result<()> {
        let st = self.exec_inspect(exec_id)?;
        if !st.running {
            return Err(Error::conflict(format!("Exec {exec_id} is not running")));
        }
        self.containerd()
            .resize_process(&st.container_id, exec_id, width, height)
            .await
    }

    /// Waits up to `timeout` for an exec to end; its exit code, or None while it still runs.
    pub(crate) async fn exec_wait(
        &self,
        exec_id: &str,
        timeout: std::time::Duration,
    ) -> Result<Option<i64>> {
        let exec = self.exec(exec_id)?;
        let mut done = exec.done.subscribe();
        let _ = tokio::time::timeout(timeout, done.wait_for(|d| *d)).await;
        let st = exec.state.lock().unwrap_or_else(|p| p.into_inner());
        Ok(if st.running { None } else { st.exit_code })
    }

    /// Kills a running exec's process.
    pub(crate) async fn exec_kill(&self, exec_id: &str) -> Result<()> {
        let st = self.exec_inspect(exec_id)?;
        self.containerd()
            .kill_process(&st.container_id, exec_id, 9)
            .await
    }

    /// Forgets an exec that has ended (the daemon's own, such as health probes).
    pub(crate) fn exec_forget(&self, exec_id: &str) {
        self.execs
            .by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(exec_id);
    }

    /// Forgets execs of a removed container.
    pub(crate) fn drop_execs_of(&self, container_id: &str) {
        self.execs
            .by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, e| {
                e.state
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .container_id
                    != container_id
            });
    }

    /// Exec IDs of a container, for inspect's `ExecIDs`: those created and not yet started
    /// or still running (moby forgets an exec on the container's side once it exits).
    pub fn exec_ids(&self, container_id: &str) -> Vec<String> {
        self.execs
            .by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter_map(|e| {
                let st = e.state.lock().unwrap_or_else(|p| p.into_inner());
                let live = st.running || !st.started;
                (st.container_id == container_id && live).then(|| st.id.clone())
            })
            .collect()
    }
}
