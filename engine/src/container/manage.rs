//! Container routes beyond the lifecycle: pause and unpause (the cgroup freezer), rename, and
//! top (the host's `ps`, narrowed to the container's processes).

use super::model::Status;
use super::names;
use super::service::ContainerService;
use super::spec::{HostConfig, RestartPolicySpec, ThrottleDevice, WeightDevice};
use crate::{Error, Result};

/// What `docker update` changes. `None` and zero leave a setting as it is, as in moby.
#[derive(Clone, Debug, Default)]
pub struct ResourceUpdate {
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<i64>,
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
    pub cpu_realtime_period: Option<i64>,
    pub cpu_realtime_runtime: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    /// `(name, maximum retry count)`; an empty name leaves the policy as it is.
    pub restart_policy: Option<(String, i64)>,
    /// Per-device lists to replace (`None` leaves one as it is; an empty one clears that
    /// kind of rule).
    pub block_devices: BlockDeviceLists,
}

/// The `BlkioWeightDevice` and `BlkioDevice*` lists of an update.
#[derive(Clone, Debug, Default)]
pub struct BlockDeviceLists {
    pub weight: Option<Vec<WeightDevice>>,
    pub read_bps: Option<Vec<ThrottleDevice>>,
    pub write_bps: Option<Vec<ThrottleDevice>>,
    pub read_iops: Option<Vec<ThrottleDevice>>,
    pub write_iops: Option<Vec<ThrottleDevice>>,
}

impl ResourceUpdate {
    /// Sets every limit given with a value other than Go's zero ("leave as it is").
    fn apply_to(self, host: &mut HostConfig) {
        let limits = [
            (&mut host.memory, self.memory),
            (&mut host.memory_swap, self.memory_swap),
            (&mut host.memory_reservation, self.memory_reservation),
            (&mut host.nano_cpus, self.nano_cpus),
            (&mut host.cpu_shares, self.cpu_shares),
            (&mut host.cpu_quota, self.cpu_quota),
            (&mut host.cpu_period, self.cpu_period),
            (&mut host.pids_limit, self.pids_limit),
            (&mut host.cpu_realtime_period, self.cpu_realtime_period),
            (&mut host.cpu_realtime_runtime, self.cpu_realtime_runtime),
        ];
        for (field, value) in limits {
            if let Some(v) = value.filter(|v| *v != 0) {
                *field = Some(v);
            }
        }
        if let Some(w) = self.blkio_weight.filter(|w| *w != 0) {
            host.blkio_weight = Some(w);
        }
        for (field, value) in [
            (&mut host.cpuset_cpus, self.cpuset_cpus),
            (&mut host.cpuset_mems, self.cpuset_mems),
        ] {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                *field = Some(v);
            }
        }
        let lists = self.block_devices;
        if lists.weight.is_some() {
            host.blkio_weight_device = lists.weight;
        }
        for (field, value) in [
            (&mut host.blkio_device_read_bps, lists.read_bps),
            (&mut host.blkio_device_write_bps, lists.write_bps),
            (&mut host.blkio_device_read_iops, lists.read_iops),
            (&mut host.blkio_device_write_iops, lists.write_iops),
        ] {
            if value.is_some() {
                *field = value;
            }
        }
    }
}

/// `GET /containers/{id}/top`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Top {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

impl ContainerService {
    /// `POST /containers/{id}/pause`.
    pub async fn pause(&self, name_or_id: &str) -> Result<()> {
        let c = self.lookup(name_or_id)?;
        let _op = c.lock_op().await;
        let record = c.rec().clone();
        let id = &record.id;
        match record.state.status {
            Status::Running => {}
            Status::Paused => {
                return Err(Error::conflict(format!("Container {id} is already paused")));
            }
            Status::Restarting => {
                return Err(Error::conflict(format!(
                    "Container {id} is restarting, wait until the container is running"
                )));
            }
            _ => return Err(Error::conflict(format!("Container {id} is not running"))),
        }
        if let Err(e) = self.containerd.pause_task(id).await {
            // The process may have ended since the check above: moby's 409, not a 500.
            if !self.task_alive(id).await {
                return Err(Error::conflict(format!("Container {id} is not running")));
            }
            return Err(e);
        }
        let record = {
            let mut r = c.rec();
            r.state.status = Status::Paused;
            r.clone()
        };
        self.persist(&record)?;
        self.event(&record, "pause", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/unpause`.
    pub async fn unpause(&self, name_or_id: &str) -> Result<()> {
        let c = self.lookup(name_or_id)?;
        let _op = c.lock_op().await;
        let record = c.rec().clone();
        if record.state.status != Status::Paused {
            // moby returns this as an untyped error, which clients see as a 500.
            return Err(Error::internal(format!(
                "Container {} is not paused",
                record.id
            )));
        }
        self.containerd.resume_task(&record.id).await?;
        let record = self.mark_resumed(&c);
        self.persist(&record)?;
        self.event(&record, "unpause", &[]);
        Ok(())
    }

    /// A signal to a paused container is delivered when it thaws, so dockerd thaws it: the
    /// same here, after `kill` and `stop` signalled it.
    pub(super) async fn thaw_after_signal(
        &self,
        c: &std::sync::Arc<super::store::Container>,
    ) -> Result<()> {
        let id = {
            let r = c.rec();
            if r.state.status != Status::Paused {
                return Ok(());
            }
            r.id.clone()
        };
        self.containerd.resume_task(&id).await?;
        let record = self.mark_resumed(c);
        self.persist(&record)
    }

    fn mark_resumed(
        &self,
        c: &std::sync::Arc<super::store::Container>,
    ) -> super::model::ContainerRecord {
        let mut r = c.rec();
        if r.state.status == Status::Paused {
            r.state.status = Status::Running;
        }
        r.clone()
    }

    /// The container's `commit` event, naming the new image.
    pub fn commit_event(&self, record: &super::model::ContainerRecord, comment: &str, image: &str) {
        self.event(
            record,
            "commit",
            &[
                ("comment", comment.to_string()),
                ("imageID", image.to_string()),
            ],
        );
    }

    /// `POST /containers/{id}/update`: new resource limits and restart policy, applied to
    /// the running task at once. Zero values leave a setting as it was.
    pub async fn update(&self, name_or_id: &str, changes: ResourceUpdate) -> Result<Vec<String>> {
        let c = self.lookup(name_or_id)?;
        let _op = c.lock_op().await;
        let record = c.rec().clone();
        let cannot = |why: String| format!("Cannot update container {}: {why}", record.id);
        if matches!(record.state.status, Status::Removing | Status::Dead) {
            return Err(Error::conflict(cannot(
                "container is marked for removal and cannot be \"updated\"".into(),
            )));
        }
        let memory = changes.memory.unwrap_or(0);
        if memory != 0 && memory < 6 * 1024 * 1024 {
            return Err(Error::invalid("Minimum memory limit allowed is 6MB"));
        }
        let mut host = record.host_config.clone();
        let current_swap = host.memory_swap.unwrap_or(0);
        if memory != 0 && memory > current_swap && changes.memory_swap.unwrap_or(0) == 0 {
            return Err(Error::conflict(cannot(
                "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time".into(),
            )));
        }
        let restart_policy = changes.restart_policy.clone();
        changes.apply_to(&mut host);
        if let Some((name, max_retries)) = restart_policy.filter(|(n, _)| !n.is_empty()) {
            if record.host_config.auto_remove() {
                return Err(Error::conflict(cannot(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container".into(),
                )));
            }
            host.restart_policy = Some(RestartPolicySpec {
                name: Some(name),
                maximum_retry_count: Some(max_retries),
            });
        }
        super::create::validate_host_config(&host)?;
        super::limits::validate(&host, true, super::limits::HostCpus::host())?;
        // The devices named must exist before anything changes.
        let resources =
            super::setup::resources(&host).map_err(|e| Error::new(e.kind, cannot(e.message)))?;
        let updated = {
            let mut r = c.rec();
            r.host_config = host;
            r.clone()
        };
        if record.state.running() {
            let resources = crate::oci::linux_resources(&resources);
            let json =
                serde_json::to_vec(&resources).map_err(|e| Error::internal(e.to_string()))?;
            if let Err(e) = self
                .containerd
                .update_task_resources(&record.id, json)
                .await
            {
                c.rec().host_config = record.host_config.clone();
                return Err(Error::new(e.kind, cannot(e.message)));
            }
        }
        if let Err(e) = self.persist(&updated) {
            c.rec().host_config = record.host_config.clone();
            return Err(e);
        }
        self.event(&updated, "update", &[]);
        Ok(vec![])
    }

    /// `POST /containers/{id}/rename?name=`.
    pub async fn rename(&self, name_or_id: &str, new_name: &str) -> Result<()> {
        if name_or_id.is_empty() || new_name.is_empty() {
            return Err(Error::invalid("Neither old nor new names may be empty"));
        }
        let c = self.lookup(name_or_id)?;
        let new_name = names::validate(new_name).map_err(|_| {
            Error::invalid(format!(
                "Error when allocating new name: Invalid container name (/{}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                new_name.trim_start_matches('/')
            ))
        })?;
        let record = c.rec().clone();
        if record.name == new_name {
            return Err(Error::invalid(
                "Renaming a container with the same name as its current name",
            ));
        }
        self.reserve_name(&new_name, &record.id).map_err(|e| {
            Error::new(
                e.kind,
                format!("Error when allocating new name: {}", e.message),
            )
        })?;
        let updated = {
            let mut r = c.rec();
            r.name = new_name.clone();
            r.clone()
        };
        if let Err(e) = self.persist(&updated) {
            c.rec().name = record.name.clone();
            self.release_name(&new_name, &record.id);
            return Err(e);
        }
        self.release_name(&record.name, &record.id);
        self.event(&updated, "rename", &[("oldName", record.name.clone())]);
        Ok(())
    }

    /// `GET /containers/{id}/top?ps_args=`: the host's `ps` with those arguments, keeping
    /// the rows of the container's processes.
    pub async fn top(&self, name_or_id: &str, ps_args: &str) -> Result<Top> {
        let c = self.lookup(name_or_id)?;
        let record = c.rec().clone();
        match record.state.status {
            Status::Running | Status::Paused => {}
            Status::Restarting => {
                return Err(Error::conflict(format!(
                    "Container {} is restarting, wait until the container is running",
                    record.id
                )));
            }
            _ => {
                return Err(Error::conflict(format!(
                    "Container {} is not running",
                    record.id
                )));
            }
        }
        let pids = self.containerd.task_pids(&record.id).await?;
        let args: Vec<String> = if ps_args.is_empty() {
            vec!["-ef".into()]
        } else {
            ps_args.split(' ').map(str::to_string).collect()
        };
        let pid_list = pids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let run = |extra: bool| {
            let mut cmd = tokio::process::Command::new("ps");
            cmd.args(&args);
            if extra {
                cmd.args(["-q", &pid_list]);
            }
            cmd.output()
        };
        // Some ps options (such as `f`) do not combine with -q: then without it.
        let mut out = run(true).await?;
        if !out.status.success() {
            out = run(false).await?;
        }
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let first = stderr.lines().next().unwrap_or("").trim();
            return Err(Error::internal(format!(
                "ps: {}",
                if first.is_empty() {
                    format!("exit status {}", out.status.code().unwrap_or(-1))
                } else {
                    first.to_string()
                }
            )));
        }
        parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
    }
}

/// Splits `ps` output into titles and the rows whose PID is one of `pids`; the last column
/// keeps its spaces (it is the command line).
fn parse_ps(output: &str, pids: &[u32]) -> Result<Top> {
    let mut lines = output.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let pid_col = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| Error::internal("Couldn't find PID field in ps output"))?;
    let mut processes = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let row = split_fields(line, titles.len());
        let Some(pid) = row.get(pid_col).and_then(|p| p.parse::<u32>().ok()) else {
            return Err(Error::internal(format!(
                "Unexpected pid '{}': invalid syntax",
                row.get(pid_col).map_or("", String::as_str)
            )));
        };
        if pids.contains(&pid) {
            processes.push(row);
        }
    }
    Ok(Top { titles, processes })
}

/// The first `n - 1` whitespace-separated fields, then the rest of the line as one.
fn split_fields(line: &str, n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    let mut rest = line.trim_start();
    while out.len() + 1 < n {
        let Some(end) = rest.find(char::is_whitespace) else {
            break;
        };
        out.push(rest[..end].to_string());
        rest = rest[end..].trim_start();
    }
    if !rest.is_empty() {
        out.push(rest.trim_end().to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_rows_are_narrowed_to_the_containers_pids() {
        let out = "UID PID PPID C STIME TTY TIME CMD\n\
                   root 10 1 0 08:00 ? 00:00:00 sleep 100\n\
                   root 11 1 0 08:00 ? 00:00:00 sh -c while true; do :; done\n";
        let top = parse_ps(out, &[11]).unwrap();
        assert_eq!(top.titles.len(), 8);
        assert_eq!(top.processes.len(), 1);
        assert_eq!(top.processes[0][1], "11");
        assert_eq!(top.processes[0][7], "sh -c while true; do :; done");
    }

    #[test]
    fn output_without_a_pid_column_is_an_error() {
        let e = parse_ps("COMMAND\nsleep\n", &[1]).unwrap_err();
        assert_eq!(e.message, "Couldn't find PID field in ps output");
    }
}
