//! bollard, the Rust SDK, driving the daemon the way a Rust program does: version
//! negotiation, create with attach before start (demuxed stdout and stderr), wait, logs
//! (plain and followed), exec with its exit code, stats, events, kill and remove, images,
//! networks and volumes, every object labelled and filtered by that label.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, NetworkConnectRequest, NetworkCreateRequest};
use bollard::query_parameters::{
    AttachContainerOptions, EventsOptions, KillContainerOptions, ListContainersOptions,
    ListNetworksOptions, ListVolumesOptions, LogsOptions, RemoveContainerOptions, StatsOptions,
    WaitContainerOptions,
};
use compat_tests::daemon;
use futures_util::{Stream, StreamExt};

const LABEL: &str = "berth-sdk-test";

/// stdout and stderr of a demuxed stream, read until it ends.
async fn split_output(
    mut output: impl Stream<Item = Result<LogOutput, bollard::errors::Error>> + Unpin,
) -> (String, String) {
    let (mut out, mut err) = (String::new(), String::new());
    while let Some(item) = output.next().await {
        match item.expect("output stream") {
            LogOutput::StdOut { message } => out.push_str(&String::from_utf8_lossy(&message)),
            LogOutput::StdErr { message } => err.push_str(&String::from_utf8_lossy(&message)),
            other => panic!("unexpected frame in a non-TTY stream: {other:?}"),
        }
    }
    (out, err)
}

/// The exit code `wait_container` reports; bollard turns a non-zero one into an error.
async fn wait_code(docker: &Docker, id: &str) -> i64 {
    let mut waits = docker.wait_container(id, None::<WaitContainerOptions>);
    match waits.next().await.expect("a wait answer") {
        Ok(r) => r.status_code,
        Err(bollard::errors::Error::DockerContainerWaitError { code, .. }) => code,
        Err(e) => panic!("wait failed: {e}"),
    }
}

fn label_filter(run: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), vec![format!("{LABEL}={run}")])])
}

fn container_body(image: &str, run: &str, cmd: &[&str]) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        labels: Some(HashMap::from([(LABEL.to_string(), run.to_string())])),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bollard_drives_containers_exec_logs_events_networks_and_volumes() {
    let d = daemon();
    let image = d.load_test_image("sdk-bollard");
    let run = format!("bollard-{}", std::process::id());
    let docker = Docker::connect_with_unix(
        d.socket_path().to_str().unwrap(),
        60,
        bollard::API_DEFAULT_VERSION,
    )
    .unwrap()
    .negotiate_version()
    .await
    .expect("version negotiation");
    let version = docker.version().await.unwrap();
    assert!(version.api_version.is_some(), "{version:?}");
    assert_eq!(docker.ping().await.unwrap(), "OK");
    let inspected = docker.inspect_image(&image).await.unwrap();
    assert!(inspected.id.unwrap().starts_with("sha256:"));

    // Events of this run's containers, gathered while the rest goes on.
    let mut events = docker.events(Some(EventsOptions {
        filters: Some(label_filter(&run)),
        ..Default::default()
    }));
    let watcher = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Ok(Some(Ok(e))) =
            tokio::time::timeout(Duration::from_secs(30), events.next()).await
        {
            let action = e.action.unwrap_or_default();
            let done = action == "destroy";
            seen.push(action);
            if done {
                break;
            }
        }
        seen
    });

    // Attached before it starts: every byte of both streams, told apart.
    let once = docker
        .create_container(
            None,
            container_body(
                &image,
                &run,
                &["sh", "-c", "echo out; echo err >&2; exit 3"],
            ),
        )
        .await
        .unwrap()
        .id;
    let attached = docker
        .attach_container(
            &once,
            Some(AttachContainerOptions {
                stream: true,
                stdout: true,
                stderr: true,
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    docker.start_container(&once, None).await.unwrap();
    let (out, err) = tokio::time::timeout(Duration::from_secs(30), split_output(attached.output))
        .await
        .expect("the attach stream ends with the container");
    assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));
    assert_eq!(wait_code(&docker, &once).await, 3);
    let state = docker
        .inspect_container(&once, None)
        .await
        .unwrap()
        .state
        .unwrap();
    assert_eq!(state.exit_code, Some(3));
    let logs = docker.logs(
        &once,
        Some(LogsOptions {
            stdout: true,
            stderr: true,
            tail: "all".to_string(),
            ..Default::default()
        }),
    );
    assert_eq!(
        split_output(logs).await,
        ("out\n".to_string(), "err\n".to_string())
    );

    // A followed log ends when the container does, with every line.
    let counter = docker
        .create_container(
            None,
            container_body(
                &image,
                &run,
                &[
                    "sh",
                    "-c",
                    "for i in 1 2 3; do echo line$i; sleep 0.2; done",
                ],
            ),
        )
        .await
        .unwrap()
        .id;
    docker.start_container(&counter, None).await.unwrap();
    let followed = docker.logs(
        &counter,
        Some(LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            tail: "all".to_string(),
            ..Default::default()
        }),
    );
    let (out, _) = tokio::time::timeout(Duration::from_secs(30), split_output(followed))
        .await
        .expect("a followed log ends with its container");
    assert_eq!(out, "line1\nline2\nline3\n");

    // exec in a running container: demuxed output and the exit code in its inspect.
    let sleeper = docker
        .create_container(None, container_body(&image, &run, &["sleep", "300"]))
        .await
        .unwrap()
        .id;
    docker.start_container(&sleeper, None).await.unwrap();
    let exec = docker
        .create_exec(
            &sleeper,
            CreateExecOptions {
                cmd: Some(vec!["sh", "-c", "echo exec-out; echo exec-err >&2; exit 5"]),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id;
    let StartExecResults::Attached { output, .. } = docker.start_exec(&exec, None).await.unwrap()
    else {
        panic!("exec started detached");
    };
    assert_eq!(
        split_output(output).await,
        ("exec-out\n".to_string(), "exec-err\n".to_string())
    );
    let exec_state = docker.inspect_exec(&exec).await.unwrap();
    assert_eq!(exec_state.exit_code, Some(5));
    assert_eq!(exec_state.running, Some(false));

    let stats = docker
        .stats(
            &sleeper,
            Some(StatsOptions {
                stream: false,
                ..Default::default()
            }),
        )
        .next()
        .await
        .unwrap()
        .unwrap();
    assert!(stats.memory_stats.and_then(|m| m.usage).unwrap_or(0) > 0);
    assert!(stats.pids_stats.and_then(|p| p.current).unwrap_or(0) >= 1);

    // A network: made, found by its label, a container on it and off again, removed.
    let net_name = format!("{run}-net");
    docker
        .create_network(NetworkCreateRequest {
            name: net_name.clone(),
            internal: Some(true),
            labels: Some(HashMap::from([(LABEL.to_string(), run.clone())])),
            ..Default::default()
        })
        .await
        .unwrap();
    let nets = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(label_filter(&run)),
        }))
        .await
        .unwrap();
    assert_eq!(
        nets.iter()
            .filter_map(|n| n.name.as_deref())
            .collect::<Vec<_>>(),
        [net_name.as_str()]
    );
    docker
        .connect_network(
            &net_name,
            NetworkConnectRequest {
                container: counter.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let on = docker.inspect_container(&counter, None).await.unwrap();
    assert!(
        on.network_settings
            .unwrap()
            .networks
            .unwrap()
            .contains_key(&net_name)
    );
    docker
        .disconnect_network(
            &net_name,
            bollard::models::NetworkDisconnectRequest {
                container: counter.clone(),
                force: Some(false),
            },
        )
        .await
        .unwrap();
    docker.remove_network(&net_name).await.unwrap();

    // A volume, the same way.
    let vol_name = format!("{run}-vol");
    let vol = docker
        .create_volume(bollard::models::VolumeCreateRequest {
            name: Some(vol_name.clone()),
            labels: Some(HashMap::from([(LABEL.to_string(), run.clone())])),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(vol.driver, "local");
    let vols = docker
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(label_filter(&run)),
        }))
        .await
        .unwrap()
        .volumes
        .unwrap_or_default();
    assert_eq!(
        vols.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
        [vol_name.as_str()]
    );
    docker
        .remove_volume(
            &vol_name,
            None::<bollard::query_parameters::RemoveVolumeOptions>,
        )
        .await
        .unwrap();

    // Kill waits for the exit; then everything of this run goes, found by its label.
    docker
        .kill_container(&sleeper, None::<KillContainerOptions>)
        .await
        .unwrap();
    let state = docker
        .inspect_container(&sleeper, None)
        .await
        .unwrap()
        .state
        .unwrap();
    assert_eq!((state.running, state.exit_code), (Some(false), Some(137)));
    let mine = || ListContainersOptions {
        all: true,
        filters: Some(label_filter(&run)),
        ..Default::default()
    };
    let listed = docker.list_containers(Some(mine())).await.unwrap();
    assert_eq!(listed.len(), 3, "{listed:?}");
    for c in listed {
        docker
            .remove_container(
                c.id.as_deref().unwrap(),
                Some(RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await
            .unwrap();
    }
    assert!(
        docker
            .list_containers(Some(mine()))
            .await
            .unwrap()
            .is_empty()
    );

    let seen = watcher.await.unwrap();
    for action in ["create", "attach", "start", "die", "destroy"] {
        assert!(
            seen.iter().any(|a| a == action),
            "no {action} event in {seen:?}"
        );
    }
    if !d.owned() {
        let _ = d.docker(&["rmi", "-f", &image]);
    }
}
