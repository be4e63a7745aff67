//! Start, stop, restart, kill, remove and wait: the operations that move a container
//! through its states, each under the container's operation lock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::io::{self, Fifos};
use super::model::{ContainerRecord, State, Status};
use super::service::{ContainerService, now};
use super::setup;
use super::spec::{self, HostConfig};
use super::store::Container;
use super::streams::log_sink;
use crate::oci::{self, NetworkNamespace, SpecInput};
use crate::runtime::tasks::start_failure;
use crate::{Error, ErrorKind, Result};

/// How long a SIGKILL through `kill` waits for the exit before trying once more (moby: 10 s).
pub(super) const KILL_WAIT: Duration = Duration::from_secs(10);

/// A task that has started and whose exit nobody watches yet: the start records the
/// container as running first, then hands this to the exit monitor.
pub(super) struct StartedTask {
    pid: u32,
    exit_wait: tokio::task::JoinHandle<Result<crate::runtime::tasks::Exit>>,
    io_done: tokio::sync::oneshot::Receiver<()>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

impl ContainerService {
    /// `POST /containers/{id}/start`.
    pub async fn start(&self, name_or_id: &str) -> Result<()> {
        let c = self.lookup(name_or_id)?;
        let result = self.start_container(&c, false).await;
        if let Err(e) = &result
            && e.kind != ErrorKind::NotModified
            && c.rec().host_config.auto_remove()
        {
            // moby removes an auto-remove container whose start failed; clients waiting for
            // `condition=removed` depend on it.
            let id = c.rec().id.clone();
            if let Err(e) = self.remove(&id, true).await
                && e.kind == ErrorKind::Unavailable
            {
                // containerd is away: the removal carries on once it is back.
                let this = self.self_ref();
                tokio::spawn(async move {
                    if let Some(this) = this.upgrade() {
                        this.auto_remove(&id).await;
                    }
                });
            }
        }
        result
    }

    pub(super) async fn start_container(
        &self,
        c: &Arc<Container>,
        from_policy: bool,
    ) -> Result<()> {
        let _op = c.lock_op().await;
        let record = c.rec().clone();
        match record.state.status {
            Status::Restarting if from_policy => {}
            Status::Running | Status::Restarting => {
                return Err(Error::new(
                    ErrorKind::NotModified,
                    "container is already running",
                ));
            }
            Status::Paused => {
                return Err(Error::conflict(
                    "cannot start a paused container, try unpause instead",
                ));
            }
            Status::Removing | Status::Dead => {
                return Err(Error::conflict(
                    "container is marked for removal and cannot be started",
                ));
            }
            _ => {}
        }
        // A block device that is not there, or a tmpfs option tmpfs does not take, fails the
        // start before anything is made, with moby's untyped (500) error.
        setup::resources(&record.host_config)?;
        for data in record.host_config.tmpfs.iter().flat_map(|t| t.values()) {
            super::mounts::check_tmpfs_data(data)?;
        }
        match self.start_task(c, &record).await {
            Ok(started) => {
                crate::system::pause_point("start:before-running").await;
                let pid = started.pid;
                let record = {
                    let mut r = c.rec();
                    r.state = State {
                        status: Status::Running,
                        pid,
                        exit_code: 0,
                        error: String::new(),
                        oom_killed: false,
                        started_at: now(),
                        finished_at: r.state.finished_at.clone(),
                        health: super::health::initial_health(&r.config),
                    };
                    r.manually_stopped = false;
                    r.clone()
                };
                let persisted = self.persist(&record);
                if persisted.is_ok() {
                    self.event(&record, "start", &[]);
                }
                // Only now may the exit be handled: earlier, a process that is already gone
                // would be recorded as exited and then overwritten as running.
                self.spawn_exit_monitor(c.clone(), started.exit_wait, started.io_done);
                persisted?;
                self.start_health_monitor(c);
                Ok(())
            }
            Err(e) => {
                let (message, code) = start_failure(&e);
                let record = {
                    let mut r = c.rec();
                    r.state.error = message.clone();
                    r.state.exit_code = code;
                    if r.state.status != Status::Created {
                        r.state.status = Status::Exited;
                    }
                    r.clone()
                };
                let _ = self.persist(&record);
                // The task may be running even so (the answer was lost with containerd):
                // it goes, now or once containerd is back.
                if let Err(e) = self.drop_task_and_container(&record.id).await
                    && e.kind == ErrorKind::Unavailable
                {
                    self.drop_task_when_back(c);
                }
                self.unpin_volumes(&record);
                self.leave_networks(c).await;
                let _ = self.save(c);
                // The attach streams of this run end here.
                self.new_io_generation(c);
                let kind = if e.kind == ErrorKind::Unavailable {
                    e.kind
                } else {
                    ErrorKind::InvalidParameter
                };
                Err(Error::new(kind, message))
            }
        }
    }

    pub(super) async fn start_task(
        &self,
        c: &Arc<Container>,
        record: &ContainerRecord,
    ) -> Result<StartedTask> {
        let id = &record.id;
        let mut phases = super::phases::Phases::new("start", id);
        let hostname = record.config.hostname().to_string();
        setup::write_file(
            std::path::Path::new(&record.hostname_path),
            &format!("{hostname}\n"),
        )?;
        let network_mode = record.host_config.network_mode().to_string();
        let network = match network_mode.as_str() {
            "host" => NetworkNamespace::Host,
            m if m.starts_with("container:") => {
                let other = self.lookup(&m["container:".len()..])?;
                let pid = other.rec().state.pid;
                if pid == 0 {
                    return Err(Error::conflict(format!(
                        "cannot join network of a non running container: {}",
                        &m["container:".len()..]
                    )));
                }
                NetworkNamespace::Path(format!("/proc/{pid}/ns/net"))
            }
            _ => NetworkNamespace::Private,
        };
        let joined = if network == NetworkNamespace::Private {
            self.join_networks(c, record).await?
        } else {
            None
        };
        phases.mark("network");
        crate::system::crash_point("start:network-joined");
        // A namespace of its own with no IPv6 address has IPv6 off, as dockerd leaves it.
        let ipv6_off = network == NetworkNamespace::Private
            && !c.rec().networks.values().any(|e| !e.ip6.is_empty());
        let gateway = self
            .networks
            .get("bridge")
            .map(|n| n.gateway)
            .unwrap_or_default();
        let added = super::networking::extra_hosts(record, &gateway);
        let (network, hosts, resolv) = match &joined {
            Some(j) => (
                NetworkNamespace::Path(j.netns.clone()),
                // dockerd's order: `--add-host` entries, then links, then its own address.
                format!(
                    "{}{added}{}",
                    setup::hosts_file(&hostname, false),
                    j.hosts_extra
                ),
                setup::resolv_conf(j.dns.as_deref(), &record.host_config),
            ),
            None if network == NetworkNamespace::Host => (
                network,
                format!(
                    "{}{added}",
                    std::fs::read_to_string("/etc/hosts").unwrap_or_default()
                ),
                setup::resolv_conf(None, &record.host_config),
            ),
            None => (
                network,
                format!("{}{added}", setup::hosts_file(&hostname, false)),
                setup::resolv_conf(None, &record.host_config),
            ),
        };
        setup::write_file(std::path::Path::new(&record.hosts_path), &hosts)?;
        setup::write_file(std::path::Path::new(&record.resolv_conf_path), &resolv)?;
        phases.mark("files");

        let mounts = self.containerd.snapshot_mounts(id).await?;
        for m in record.mounts.iter().filter(|m| m.kind == "volume") {
            self.volumes.pin(&m.name, &record.id)?;
            self.volumes
                .mount_event(&m.name, &record.id, &m.destination, m.rw, &m.propagation);
        }
        self.copy_up_volumes(record, &mounts).await?;
        let dirs = mounts
            .first()
            .map(|m| setup::overlay_dirs(&m.options))
            .unwrap_or_default();
        let (uid, gid, mut additional_gids) = setup::resolve_user(record.config.user(), &dirs)?;
        additional_gids.extend(setup::resolve_groups(
            spec::list(&record.host_config.group_add),
            &dirs,
        )?);
        setup::ensure_working_dir(record.config.working_dir(), &dirs)?;
        let tty = record.tty();
        let mut env = record.config.env().to_vec();
        if let Some(j) = &joined {
            env.extend(j.env.iter().cloned());
        }
        let has = |env: &Vec<String>, k: &str| env.iter().any(|e| e.starts_with(&format!("{k}=")));
        if !has(&env, "PATH") {
            env.insert(
                0,
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            );
        }
        if !has(&env, "HOSTNAME") {
            env.insert(1.min(env.len()), format!("HOSTNAME={hostname}"));
        }
        if tty && !has(&env, "TERM") {
            env.push("TERM=xterm".into());
        }
        let host = &record.host_config;
        let security = setup::security_options(spec::list(&host.security_opt))?;

        let spec = oci::build(&SpecInput {
            id: id.clone(),
            args: std::iter::once(record.path.clone())
                .chain(record.args.iter().cloned())
                .collect(),
            env,
            cwd: record.config.working_dir().to_string(),
            uid,
            gid,
            additional_gids,
            tty,
            console_size: console_size(host),
            hostname,
            privileged: host.privileged(),
            readonly_rootfs: spec::flag(&host.readonly_rootfs),
            cap_add: spec::list(&host.cap_add).to_vec(),
            cap_drop: spec::list(&host.cap_drop).to_vec(),
            network,
            files: vec![
                ("/etc/resolv.conf".into(), record.resolv_conf_path.clone()),
                ("/etc/hostname".into(), record.hostname_path.clone()),
                ("/etc/hosts".into(), record.hosts_path.clone()),
            ],
            binds: record
                .mounts
                .iter()
                .filter(|m| m.kind != "tmpfs")
                .map(|m| {
                    Ok(crate::oci::Bind {
                        destination: m.destination.clone(),
                        source: mount_source(m)?,
                        rw: m.rw,
                        recursive_ro: m.kind == "bind" && !m.read_only_non_recursive,
                        propagation: m.propagation.clone(),
                    })
                })
                .collect::<Result<_>>()?,
            shm_size: spec::number(&host.shm_size),
            cgroup_parent: self.cgroup_parent(record),
            resources: setup::resources(host)?,
            oom_score_adj: spec::number(&host.oom_score_adj),
            tmpfs: host
                .tmpfs
                .clone()
                .unwrap_or_default()
                .into_iter()
                .chain(
                    record
                        .mounts
                        .iter()
                        .filter(|m| m.kind == "tmpfs")
                        .map(|m| (m.destination.clone(), m.tmpfs_options.clone())),
                )
                .collect(),
            sysctls: {
                let mut sysctls: Vec<(String, String)> = host
                    .sysctls
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
                if ipv6_off {
                    for key in [
                        "net.ipv6.conf.all.disable_ipv6",
                        "net.ipv6.conf.default.disable_ipv6",
                    ] {
                        if !sysctls.iter().any(|(k, _)| k == key) {
                            sysctls.push((key.to_string(), "1".to_string()));
                        }
                    }
                }
                sysctls
            },
            rlimits: setup::rlimits(&host.ulimits)?,
            umask: record.umask(),
            init: if spec::flag(&host.init) {
                Some(setup::init_binary()?)
            } else {
                None
            },
            no_new_privileges: security.no_new_privileges,
            // Docker's default profile, unless privileged or asked away.
            seccomp: !host.privileged() && !security.seccomp_unconfined,
        })
        .map_err(Error::invalid)?;
        let spec_json = serde_json::to_vec(&spec).map_err(|e| Error::internal(e.to_string()))?;
        phases.mark("mounts_and_spec");

        // Leftovers of a previous run (or of a crash) are replaced.
        let _ = self.containerd.delete_task(id).await;
        self.containerd.delete_container(id).await?;
        let runc_root = self.exec_root.join("runc");
        let mut labels = HashMap::new();
        labels.insert("com.berth.name".to_string(), record.name.clone());
        self.containerd
            .create_container(
                None,
                id,
                &record.image_name,
                spec_json,
                &runc_root.display().to_string(),
                labels,
            )
            .await?;
        phases.mark("containerd_container");

        let open_stdin = record.config.open_stdin();
        let fifos = Fifos::create(&self.run_dir(id), open_stdin, tty)?;
        let (output, stdin_rx) = {
            let mut io = c.io.lock().unwrap_or_else(|p| p.into_inner());
            (io.output.clone(), io.stdin_rx.take())
        };
        let sink = log_sink(record);
        let io_done = io::start_copiers(&fifos, output, sink, io::Run::New)?;
        let stdio = fifos.stdio_paths(tty);
        phases.mark("fifos");
        let pid = self.containerd.create_task(id, mounts, &stdio).await?;
        phases.mark("task_create");
        if let (Some(path), Some(rx)) = (fifos.stdin.clone(), stdin_rx) {
            let containerd = self.containerd.clone();
            let cid = id.clone();
            io::start_stdin_pump(path, rx, async move {
                let _ = containerd.close_process_stdin(&cid, "").await;
            });
        }
        let exit_wait = {
            let containerd = self.containerd.clone();
            let cid = id.clone();
            tokio::spawn(async move { containerd.wait_process(&cid, "").await })
        };
        if let Err(e) = self.containerd.start_process(id, "").await {
            exit_wait.abort();
            return Err(e);
        }
        phases.mark("task_start");
        crate::system::crash_point("start:task-started");
        phases.log();
        Ok(StartedTask {
            pid,
            exit_wait,
            io_done,
        })
    }

    /// `POST /containers/{id}/stop`: the stop signal, then SIGKILL after `timeout` seconds
    /// (negative: wait forever).
    pub async fn stop(
        &self,
        name_or_id: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let c = self.lookup(name_or_id)?;
        let _op = c.lock_op().await;
        let record = c.rec().clone();
        if !record.state.running() {
            return Err(Error::new(
                ErrorKind::NotModified,
                "container is already stopped",
            ));
        }
        c.rec().manually_stopped = true;
        if record.state.status == Status::Restarting {
            // Between restarts there is no process: the pending restart is cancelled.
            let record = {
                let mut r = c.rec();
                r.state.status = Status::Exited;
                r.clone()
            };
            self.persist(&record)?;
            self.event(&record, "stop", &[]);
            return Ok(());
        }
        let stop_signal = match signal.filter(|s| !s.is_empty()) {
            Some(s) => s.to_string(),
            None => {
                let s = record.config.stop_signal();
                if s.is_empty() {
                    "SIGTERM".into()
                } else {
                    s.to_string()
                }
            }
        };
        let signo = parse_signal(&stop_signal)?;
        let timeout = timeout.unwrap_or_else(|| record.config.stop_timeout.unwrap_or(10));
        let mut exits = c.exits.subscribe();
        let seen = exits.borrow().seq;
        let _ = self.containerd.kill_task(&record.id, signo, false).await;
        self.event(&record, "kill", &[("signal", signo.to_string())]);
        self.thaw_after_signal(&c).await?;
        let exited = async {
            let _ = exits.wait_for(|e| e.seq > seen).await;
        };
        let in_time = if timeout < 0 {
            exited.await;
            true
        } else {
            tokio::time::timeout(Duration::from_secs(timeout as u64), exited)
                .await
                .is_ok()
        };
        if !in_time {
            let mut exits = c.exits.subscribe();
            let _ = self.containerd.kill_task(&record.id, 9, true).await;
            self.event(&record, "kill", &[("signal", "9".to_string())]);
            let _ = tokio::time::timeout(Duration::from_secs(30), exits.wait_for(|e| e.seq > seen))
                .await;
        }
        let record = c.rec().clone();
        self.event(&record, "stop", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/restart`: stop (if running), start, then a `restart` event.
    pub async fn restart(
        &self,
        name_or_id: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        match self.stop(name_or_id, signal, timeout).await {
            Ok(()) => {}
            Err(e) if e.kind == ErrorKind::NotModified => {}
            Err(e) => return Err(e),
        }
        self.start(name_or_id).await?;
        let record = self.get(name_or_id)?;
        self.event(&record, "restart", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/kill`.
    pub async fn kill(&self, name_or_id: &str, signal: &str) -> Result<()> {
        let c = self.lookup(name_or_id).map_err(|e| {
            Error::new(
                e.kind,
                format!("cannot kill container: {name_or_id}: {}", e.message),
            )
        })?;
        let record = c.rec().clone();
        let signo = parse_signal(if signal.is_empty() { "SIGKILL" } else { signal })?;
        if !record.state.running() {
            return Err(Error::conflict(format!(
                "cannot kill container: {name_or_id}: container {} is not running",
                record.id
            )));
        }
        // Any kill is a manual stop: no restart policy brings the container back (moby
        // cancels its restart manager on kill).
        c.rec().manually_stopped = true;
        if record.state.status == Status::Restarting {
            // No process between restarts: cancelling the pending restart is the kill.
            let record = {
                let mut r = c.rec();
                r.state.status = Status::Exited;
                r.clone()
            };
            return self.persist(&record);
        }
        let mut exits = c.exits.subscribe();
        let seen = exits.borrow().seq;
        if let Err(e) = self.containerd.kill_task(&record.id, signo, false).await {
            // The process may have ended since the check above: moby's 409, not a 500.
            if !self.task_alive(&record.id).await {
                return Err(Error::conflict(format!(
                    "cannot kill container: {name_or_id}: container {} is not running",
                    record.id
                )));
            }
            return Err(e);
        }
        self.event(&record, "kill", &[("signal", signo.to_string())]);
        self.thaw_after_signal(&c).await?;
        if signo == 9 {
            // SIGKILL answers once the container has exited, as dockerd does, so that a
            // following `ps` shows it exited and `rm` needs no force.
            let exited = exits.wait_for(|e| e.seq > seen);
            if tokio::time::timeout(KILL_WAIT, exited).await.is_err() {
                let _ = self.containerd.kill_task(&record.id, 9, true).await;
                let _ = tokio::time::timeout(KILL_WAIT, exits.wait_for(|e| e.seq > seen)).await;
            }
        }
        Ok(())
    }

    /// Whether containerd has a running or paused task for this container (false when it
    /// cannot tell).
    pub(super) async fn task_alive(&self, id: &str) -> bool {
        // containerd's task states: 2 running, 4 paused, 5 pausing.
        matches!(
            self.containerd.task_status(id).await,
            Ok(Some((_, 2 | 4 | 5)))
        )
    }

    /// `DELETE /containers/{id}`.
    pub async fn remove(&self, name_or_id: &str, force: bool) -> Result<()> {
        self.remove_with_volumes(name_or_id, force, false).await
    }

    /// `DELETE /containers/{id}?v=`: with `volumes`, its anonymous volumes go too (as with
    /// `--rm`).
    pub async fn remove_with_volumes(
        &self,
        name_or_id: &str,
        force: bool,
        volumes: bool,
    ) -> Result<()> {
        let mounts = self
            .get(name_or_id)
            .map(|r| r.mounts.clone())
            .unwrap_or_default();
        self.remove_container(name_or_id, force).await?;
        if volumes {
            for m in mounts.iter().filter(|m| m.anonymous) {
                let users = self.volume_users(&m.name);
                if let Err(e) = self.volumes.remove(&m.name, &users) {
                    tracing::warn!(volume = %m.name, "not removed with its container: {}", e.message);
                }
            }
        }
        Ok(())
    }

    pub(super) async fn remove_container(&self, name_or_id: &str, force: bool) -> Result<()> {
        let c = self.lookup(name_or_id)?;
        if c.rec().state.status == Status::Removing {
            return Err(Error::conflict(format!(
                "removal of container {name_or_id} is already in progress"
            )));
        }
        // Answered at once, without queueing behind a stop that holds the lock.
        refuse_running_removal(&c.rec(), name_or_id, force)?;
        if force && c.rec().state.running() {
            // Killed before taking the lock, so a stop waiting out its timeout under the
            // lock ends at once.
            self.kill_for_removal(&c).await;
        }
        let _op = c.lock_op().await;
        // Read again under the lock: a start may have run since the checks above.
        let mut record = c.rec().clone();
        if record.state.status == Status::Removing {
            return Ok(());
        }
        if record.state.status == Status::Restarting && force {
            let mut r = c.rec();
            r.manually_stopped = true;
            r.state.status = Status::Exited;
            record = r.clone();
        }
        refuse_running_removal(&record, name_or_id, force)?;
        if record.state.running() {
            // Exit handling does not take the lock, so waiting for it here is safe.
            self.kill_for_removal(&c).await;
            record = c.rec().clone();
        }
        let previous = std::mem::replace(&mut c.rec().state.status, Status::Removing);
        let id = record.id.clone();
        let mut phases = super::phases::Phases::new("remove", &id);
        // The containerd container goes only once its task has: deleting it under a live
        // task would leave the process running with nothing pointing at it. On failure
        // (containerd down, a task that would not die) the container keeps its state, so a
        // retry can finish the job.
        if let Err(e) = self.drop_task_and_container(&id).await {
            c.rec().state.status = previous;
            return Err(e);
        }
        phases.mark("containerd_container");
        // Likewise the writable layer: with containerd gone between the two, the record
        // stays so that the retry removes the snapshot instead of orphaning it.
        if let Err(e) = self.containerd.remove_snapshot(&id).await
            && e.kind == ErrorKind::Unavailable
        {
            c.rec().state.status = previous;
            return Err(e);
        }
        self.containerd.delete_lease(&Self::lease_for(&id)).await;
        phases.mark("snapshot");
        let _ = std::fs::remove_dir_all(self.dir(&id));
        let _ = std::fs::remove_dir_all(self.run_dir(&id));
        phases.mark("files");
        phases.log();
        self.containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        self.release_name(&record.name, &id);
        self.drop_execs_of(&id);
        self.event(&record, "destroy", &[]);
        c.removed.send_replace(true);
        Ok(())
    }

    /// SIGKILL to every process of a container being force-removed, then up to 30 s for its
    /// exit to be handled.
    pub(super) async fn kill_for_removal(&self, c: &Arc<Container>) {
        let id = c.rec().id.clone();
        let mut exits = c.exits.subscribe();
        let seen = exits.borrow().seq;
        let _ = self.containerd.kill_task(&id, 9, true).await;
        let _ = self.thaw_after_signal(c).await;
        if c.rec().state.running() {
            let _ = tokio::time::timeout(Duration::from_secs(30), exits.wait_for(|e| e.seq > seen))
                .await;
        }
    }

    /// `POST /containers/{id}/wait`: resolves the container now (so a 404 comes before any
    /// headers) and returns a future of the exit code.
    pub fn wait(
        &self,
        name_or_id: &str,
        condition: WaitCondition,
    ) -> Result<impl std::future::Future<Output = i64> + Send + 'static + use<>> {
        let c = self.lookup(name_or_id)?;
        let mut exits = c.exits.subscribe();
        let mut removed = c.removed.subscribe();
        let seen = exits.borrow().seq;
        let running = c.rec().state.running();
        let current = c.rec().state.exit_code;
        Ok(async move {
            match condition {
                WaitCondition::NotRunning if !running => {
                    // An exit being taken down is over for waiters only once it is.
                    c.after_teardown().await;
                    current
                }
                WaitCondition::NotRunning | WaitCondition::NextExit => {
                    match exits.wait_for(|e| e.seq > seen).await {
                        Ok(e) => e.code,
                        Err(_) => current,
                    }
                }
                WaitCondition::Removed => {
                    let _ = removed.wait_for(|r| *r).await;
                    exits.borrow().code
                }
            }
        })
    }

    /// `docker container prune`: removes the stopped containers `keep` does not keep; returns their IDs and the bytes
    /// their writable layers held (moby's `SpaceReclaimed`).
    pub async fn prune(&self, keep: impl Fn(&ContainerRecord) -> bool) -> (Vec<String>, i64) {
        let mut removed = Vec::new();
        let mut reclaimed = 0;
        for c in self.list() {
            if !matches!(
                c.state.status,
                Status::Created | Status::Exited | Status::Dead
            ) || keep(&c)
            {
                continue;
            }
            let size = crate::disk_usage::snapshot_size(&self.containerd, &c.id, false).await;
            if self.remove(&c.id, false).await.is_ok() {
                removed.push(c.id.clone());
                reclaimed += size;
            }
        }
        (removed, reclaimed)
    }
}

/// The host path a mount binds: for a volume with a subpath, that directory, which must
/// exist inside the volume (a symlink leading out of it is refused).
pub(super) fn mount_source(m: &super::mounts::MountPoint) -> Result<String> {
    if m.subpath.is_empty() {
        return Ok(m.source.clone());
    }
    let root = std::path::Path::new(&m.source);
    let wanted = root.join(&m.subpath);
    let cannot =
        |e: String| Error::invalid(format!("cannot access path {}: {e}", wanted.display()));
    let real = std::fs::canonicalize(&wanted).map_err(|e| cannot(e.to_string()))?;
    let real_root = std::fs::canonicalize(root).map_err(|e| cannot(e.to_string()))?;
    if !real.starts_with(&real_root) {
        return Err(cannot("outside of the volume".into()));
    }
    Ok(real.display().to_string())
}

/// Signal names (`SIGTERM`, `TERM`, `term`) and numbers.
pub fn parse_signal(s: &str) -> Result<u32> {
    if let Ok(n) = s.parse::<u32>() {
        if n == 0 || n > 64 {
            return Err(Error::invalid(format!("Invalid signal: {s}")));
        }
        return Ok(n);
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let n = match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "TRAP" => 5,
        "ABRT" | "IOT" => 6,
        "BUS" => 7,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        "STKFLT" => 16,
        "CHLD" => 17,
        "CONT" => 18,
        "STOP" => 19,
        "TSTP" => 20,
        "TTIN" => 21,
        "TTOU" => 22,
        "URG" => 23,
        "XCPU" => 24,
        "XFSZ" => 25,
        "VTALRM" => 26,
        "PROF" => 27,
        "WINCH" => 28,
        "IO" | "POLL" => 29,
        "PWR" => 30,
        "SYS" => 31,
        _ => return Err(Error::invalid(format!("Invalid signal: {s}"))),
    };
    Ok(n)
}

/// moby's 409 for removing a running, paused or restarting container without `force`.
pub(super) fn refuse_running_removal(
    record: &ContainerRecord,
    name_or_id: &str,
    force: bool,
) -> Result<()> {
    if force || !record.state.running() {
        return Ok(());
    }
    let what = match record.state.status {
        Status::Paused => "container is paused and must be unpaused first",
        Status::Restarting => {
            "container is restarting: stop the container before removing or force remove"
        }
        _ => "container is running: stop the container before removing or force remove",
    };
    Err(Error::conflict(format!(
        "cannot remove container \"{name_or_id}\": {what}"
    )))
}

/// `HostConfig.ConsoleSize` (`[height, width]`) when both are set; the API layer zeroes it
/// for clients below 1.42.
pub(super) fn console_size(host_config: &HostConfig) -> Option<[u32; 2]> {
    let size = host_config.console_size.as_deref()?;
    let dim = |i: usize| {
        size.get(i)
            .and_then(|n| u32::try_from(*n).ok())
            .filter(|n| *n > 0)
    };
    Some([dim(0)?, dim(1)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("SIGTERM").unwrap(), 15);
        assert_eq!(parse_signal("kill").unwrap(), 9);
        assert_eq!(parse_signal("usr1").unwrap(), 10);
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert!(parse_signal("SIGNOPE").is_err());
        assert!(parse_signal("0").is_err());
    }
}
