//! containerd containers and tasks: the records that hold a container's spec and snapshot,
//! and the processes runc runs for them.

use std::collections::HashMap;
use std::time::Duration;

use containerd_client::services::v1::container::Runtime;
use containerd_client::services::v1::containers_client::ContainersClient;
use containerd_client::services::v1::tasks_client::TasksClient;
use containerd_client::services::v1::{
    CloseIoRequest, Container, CreateContainerRequest, CreateTaskRequest, DeleteContainerRequest,
    DeleteProcessRequest, DeleteTaskRequest, ExecProcessRequest, GetRequest, KillRequest,
    ListPidsRequest, ListTasksRequest, PauseTaskRequest, ResizePtyRequest, ResumeTaskRequest,
    StartRequest, UpdateTaskRequest,
};
use containerd_client::types::Mount;
use prost_types::Any;

use super::content::Lease;
use super::snapshots::SNAPSHOTTER;
use super::{Containerd, classify};
use crate::{Error, Result};

pub const RUNC_V2: &str = "io.containerd.runc.v2";

/// A finished process: its exit status and when it ended (unix nanoseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exit {
    pub status: u32,
    pub at_nanos: i128,
}

/// runc shim options (`containerd.runc.v1.Options`), hand-encoded: only `root` (field 7) is
/// set, so runc state of this containerd never collides with another one's on the host.
fn runc_options(root: &str) -> Any {
    let mut value = vec![0x3a]; // field 7, length-delimited
    let mut len = root.len();
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            value.push(byte);
            break;
        }
        value.push(byte | 0x80);
    }
    value.extend_from_slice(root.as_bytes());
    Any {
        type_url: "containerd.runc.v1.Options".into(),
        value,
    }
}

/// Stdio paths (FIFOs) handed to the shim; empty strings mean "none".
#[derive(Clone, Debug, Default)]
pub struct StdioPaths {
    pub stdin: String,
    pub stdout: String,
    pub stderr: String,
    pub terminal: bool,
}

impl Containerd {
    /// Creates the containerd container record: the spec and the snapshot it runs on.
    pub async fn create_container(
        &self,
        lease: Option<&Lease>,
        id: &str,
        image: &str,
        spec_json: Vec<u8>,
        runc_root: &str,
        labels: HashMap<String, String>,
    ) -> Result<()> {
        let container = Container {
            id: id.to_string(),
            labels,
            image: image.to_string(),
            runtime: Some(Runtime {
                name: RUNC_V2.into(),
                options: Some(runc_options(runc_root)),
            }),
            spec: Some(Any {
                type_url: "types.containerd.io/opencontainers/runtime-spec/1/Spec".into(),
                value: spec_json,
            }),
            snapshotter: SNAPSHOTTER.into(),
            snapshot_key: id.to_string(),
            created_at: None,
            updated_at: None,
            extensions: HashMap::new(),
            sandbox: String::new(),
        };
        ContainersClient::new(self.channel.clone())
            .create(self.leased(
                CreateContainerRequest {
                    container: Some(container),
                },
                lease,
            ))
            .await
            .map_err(classify)?;
        Ok(())
    }

    pub async fn delete_container(&self, id: &str) -> Result<()> {
        let mut client = ContainersClient::new(self.channel.clone());
        let call = client.delete(self.request(DeleteContainerRequest { id: id.to_string() }));
        match Self::answered(call).await {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
            Err(s) => Err(classify(s)),
        }
    }

    /// Creates the task (runc create via the shim); returns its pid.
    pub async fn create_task(
        &self,
        id: &str,
        rootfs: Vec<Mount>,
        stdio: &StdioPaths,
    ) -> Result<u32> {
        let mut req = self.request(CreateTaskRequest {
            container_id: id.to_string(),
            rootfs,
            stdin: stdio.stdin.clone(),
            stdout: stdio.stdout.clone(),
            stderr: stdio.stderr.clone(),
            terminal: stdio.terminal,
            checkpoint: None,
            options: None,
            runtime_path: String::new(),
        });
        req.set_timeout(Duration::from_secs(60));
        Ok(TasksClient::new(self.channel.clone())
            .create(req)
            .await
            .map_err(classify)?
            .into_inner()
            .pid)
    }

    /// Deletes the task; Ok(None) when there was none.
    pub async fn delete_task(&self, id: &str) -> Result<Option<u32>> {
        let mut client = TasksClient::new(self.channel.clone());
        let call = client.delete(self.request(DeleteTaskRequest {
            container_id: id.to_string(),
        }));
        match Self::answered(call).await {
            Ok(r) => Ok(Some(r.into_inner().exit_status)),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(classify(s)),
        }
    }

    pub async fn kill_task(&self, id: &str, signal: u32, all: bool) -> Result<()> {
        let mut client = TasksClient::new(self.channel.clone());
        let call = client.kill(self.request(KillRequest {
            container_id: id.to_string(),
            exec_id: String::new(),
            signal,
            all,
        }));
        Self::answered(call).await.map_err(classify)?;
        Ok(())
    }

    /// Signals one exec process of a task.
    pub async fn kill_process(&self, id: &str, exec_id: &str, signal: u32) -> Result<()> {
        TasksClient::new(self.channel.clone())
            .kill(self.request(KillRequest {
                container_id: id.to_string(),
                exec_id: exec_id.to_string(),
                signal,
                all: false,
            }))
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// Freezes every process of the task (the cgroup freezer).
    pub async fn pause_task(&self, id: &str) -> Result<()> {
        TasksClient::new(self.channel.clone())
            .pause(self.request(PauseTaskRequest {
                container_id: id.to_string(),
            }))
            .await
            .map_err(classify)?;
        Ok(())
    }

    pub async fn resume_task(&self, id: &str) -> Result<()> {
        TasksClient::new(self.channel.clone())
            .resume(self.request(ResumeTaskRequest {
                container_id: id.to_string(),
            }))
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// Host pids of every process in the task.
    pub async fn task_pids(&self, id: &str) -> Result<Vec<u32>> {
        Ok(TasksClient::new(self.channel.clone())
            .list_pids(self.request(ListPidsRequest {
                container_id: id.to_string(),
            }))
            .await
            .map_err(classify)?
            .into_inner()
            .processes
            .into_iter()
            .map(|p| p.pid)
            .collect())
    }

    /// Applies OCI `LinuxResources` (as JSON) to a running task.
    pub async fn update_task_resources(&self, id: &str, resources_json: Vec<u8>) -> Result<()> {
        TasksClient::new(self.channel.clone())
            .update(self.request(UpdateTaskRequest {
                container_id: id.to_string(),
                resources: Some(Any {
                    type_url:
                        "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources".into(),
                    value: resources_json,
                }),
                annotations: HashMap::new(),
            }))
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// The task's pid and status name (`running`, `stopped`, ...), or None without a task.
    pub async fn task_status(&self, id: &str) -> Result<Option<(u32, i32)>> {
        match TasksClient::new(self.channel.clone())
            .get(self.request(GetRequest {
                container_id: id.to_string(),
                exec_id: String::new(),
            }))
            .await
        {
            Ok(r) => Ok(r.into_inner().process.map(|p| (p.pid, p.status))),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(classify(s)),
        }
    }

    /// The container IDs that have a task in this namespace, whatever its state.
    pub async fn task_ids(&self) -> Result<std::collections::HashSet<String>> {
        let r = TasksClient::new(self.channel.clone())
            .list(self.request(ListTasksRequest {
                filter: String::new(),
            }))
            .await
            .map_err(classify)?;
        Ok(r.into_inner().tasks.into_iter().map(|t| t.id).collect())
    }
}

/// Calls on a task's processes: the init process has the empty exec ID, `docker exec`
/// processes their own.
impl Containerd {
    pub async fn exec_process(
        &self,
        id: &str,
        exec_id: &str,
        process_json: Vec<u8>,
        stdio: &StdioPaths,
    ) -> Result<()> {
        let mut req = self.request(ExecProcessRequest {
            container_id: id.to_string(),
            stdin: stdio.stdin.clone(),
            stdout: stdio.stdout.clone(),
            stderr: stdio.stderr.clone(),
            terminal: stdio.terminal,
            spec: Some(Any {
                type_url: "types.containerd.io/opencontainers/runtime-spec/1/Process".into(),
                value: process_json,
            }),
            exec_id: exec_id.to_string(),
        });
        req.set_timeout(Duration::from_secs(60));
        TasksClient::new(self.channel.clone())
            .exec(req)
            .await
            .map_err(classify)?;
        Ok(())
    }

    pub async fn start_process(&self, id: &str, exec_id: &str) -> Result<u32> {
        let mut req = self.request(StartRequest {
            container_id: id.to_string(),
            exec_id: exec_id.to_string(),
        });
        req.set_timeout(Duration::from_secs(60));
        Ok(TasksClient::new(self.channel.clone())
            .start(req)
            .await
            .map_err(classify)?
            .into_inner()
            .pid)
    }

    pub async fn delete_process(&self, id: &str, exec_id: &str) -> Result<()> {
        match TasksClient::new(self.channel.clone())
            .delete_process(self.request(DeleteProcessRequest {
                container_id: id.to_string(),
                exec_id: exec_id.to_string(),
            }))
            .await
        {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
            Err(s) => Err(classify(s)),
        }
    }

    pub async fn close_process_stdin(&self, id: &str, exec_id: &str) -> Result<()> {
        TasksClient::new(self.channel.clone())
            .close_io(self.request(CloseIoRequest {
                container_id: id.to_string(),
                exec_id: exec_id.to_string(),
                stdin: true,
            }))
            .await
            .map_err(classify)?;
        Ok(())
    }

    pub async fn resize_process(
        &self,
        id: &str,
        exec_id: &str,
        width: u32,
        height: u32,
    ) -> Result<()> {
        TasksClient::new(self.channel.clone())
            .resize_pty(self.request(ResizePtyRequest {
                container_id: id.to_string(),
                exec_id: exec_id.to_string(),
                width,
                height,
            }))
            .await
            .map_err(classify)?;
        Ok(())
    }
}

/// Turns a start failure from runc into moby's message and exit code: 127 for a missing
/// executable, 126 for one that cannot be run.
pub fn start_failure(e: &Error) -> (String, i64) {
    let msg = &e.message;
    let code =
        if msg.contains("executable file not found") || msg.contains("no such file or directory") {
            127
        } else if msg.contains("permission denied") {
            126
        } else {
            128
        };
    (msg.clone(), code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_options_encode_root_as_field_7() {
        let any = runc_options("/r");
        assert_eq!(any.value, vec![0x3a, 2, b'/', b'r']);
        let long = "x".repeat(200);
        let any = runc_options(&long);
        assert_eq!(&any.value[..3], &[0x3a, 0xc8, 0x01]);
    }

    #[test]
    fn missing_executables_are_127() {
        let e = Error::internal("exec: \"nosuch\": executable file not found in $PATH");
        assert_eq!(start_failure(&e).1, 127);
    }
}
