//! Exits of tasks and exec processes from containerd's event stream: one `Events.Subscribe`
//! for the daemon instead of one `Tasks.Wait` stream per process. Nothing is lost between
//! the two: a waiter asks for its process's state once it is registered (an exit that came
//! first is found there), and every (re)subscription asks again for all of them (exits while
//! the stream was down, containerd restarts), also while containerd has not yet answered it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use containerd_client::events::TaskExit;
use containerd_client::services::v1::GetRequest;
use containerd_client::services::v1::SubscribeRequest;
use containerd_client::services::v1::events_client::EventsClient;
use containerd_client::services::v1::tasks_client::TasksClient;
use prost::Message as _;
use tokio::sync::oneshot;

use super::tasks::Exit;
use super::{Containerd, classify};
use crate::{Error, ErrorKind, Result};

/// containerd's `Status.STOPPED` of a process.
const STOPPED: i32 = 3;

/// (container ID, exec ID; empty for the init process).
type Key = (String, String);

/// Who waits for which process. Shared by every clone of [`Containerd`].
#[derive(Default)]
pub struct ExitWatch {
    waiters: Mutex<HashMap<Key, Vec<oneshot::Sender<Result<Exit>>>>>,
    subscribed: std::sync::OnceLock<()>,
}

impl ExitWatch {
    fn resolve(&self, key: &Key, exit: Result<Exit>) {
        let senders = self
            .waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        for tx in senders.into_iter().flatten() {
            let _ = tx.send(exit.clone());
        }
    }

    fn keys(&self) -> Vec<Key> {
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect()
    }
}

impl Containerd {
    /// Waits, without a deadline, for a process to exit: the init process with an empty
    /// `exec_id`. Registered at the first poll; an exit that came before is found by the
    /// state query that follows the registration.
    pub async fn wait_process(&self, id: &str, exec_id: &str) -> Result<Exit> {
        self.subscribe_exits_once();
        let key: Key = (id.to_string(), exec_id.to_string());
        let (tx, rx) = oneshot::channel();
        {
            let mut waiters = self.exits.waiters.lock().unwrap_or_else(|p| p.into_inner());
            // Waits given up (a start that failed) leave nothing behind.
            waiters.retain(|_, senders| {
                senders.retain(|s| !s.is_closed());
                !senders.is_empty()
            });
            waiters.entry(key.clone()).or_default().push(tx);
        }
        self.check_exited(&key).await;
        rx.await
            .unwrap_or_else(|_| Err(Error::internal("exit watch ended")))
    }

    /// Asks containerd whether the process has already ended, and if so (or if it is gone)
    /// resolves its waiters. A failure to ask (containerd away) leaves them waiting: the
    /// next subscription asks again.
    async fn check_exited(&self, key: &Key) {
        let reply = TasksClient::new(self.channel.clone())
            .get(self.request(GetRequest {
                container_id: key.0.clone(),
                exec_id: key.1.clone(),
            }))
            .await;
        match reply {
            Ok(r) => {
                if let Some(p) = r.into_inner().process
                    && p.status == STOPPED
                {
                    self.exits
                        .resolve(key, Ok(exit_of(p.exit_status, p.exited_at)));
                }
            }
            Err(s) => {
                let e = classify(s);
                if matches!(e.kind, ErrorKind::NotFound) {
                    self.exits.resolve(key, Err(e));
                }
            }
        }
    }

    /// Starts the daemon's one event subscription (exits, and image changes) unless it runs.
    pub(crate) fn subscribe_exits_once(&self) {
        let this = self.clone();
        self.exits.subscribed.get_or_init(move || {
            tokio::spawn(async move { this.follow_exits().await });
        });
    }

    /// The subscription loop: lives as long as the daemon, resubscribing after containerd
    /// goes away and then checking every process still waited for.
    async fn follow_exits(self) {
        let mut backoff = Duration::from_millis(50);
        loop {
            // Image events ride along: they tell the image listing it may be stale (records
            // written by another client of this namespace).
            let req = self.request_without_deadline(SubscribeRequest {
                filters: vec![
                    format!("topic==\"/tasks/exit\",namespace==\"{}\"", self.namespace),
                    format!("topic~=\"^/images/\",namespace==\"{}\"", self.namespace),
                ],
            });
            let mut client = EventsClient::new(self.channel.clone());
            let subscribe = client.subscribe(req);
            tokio::pin!(subscribe);
            // containerd sends a subscription's response headers with its first event, so the
            // call may stay pending while nothing exits: processes that ended while the stream
            // was down are asked about meanwhile, at growing intervals.
            let mut ask_after = Duration::from_millis(100);
            let subscribed = loop {
                tokio::select! {
                    r = &mut subscribe => break r,
                    _ = tokio::time::sleep(ask_after) => {
                        for key in self.exits.keys() {
                            self.check_exited(&key).await;
                        }
                        ask_after = (ask_after * 2).min(Duration::from_secs(30));
                    }
                }
            };
            match subscribed {
                Ok(stream) => {
                    backoff = Duration::from_millis(50);
                    // Image events sent while the stream was down are lost.
                    self.images_may_have_changed();
                    for key in self.exits.keys() {
                        self.check_exited(&key).await;
                    }
                    let mut stream = stream.into_inner();
                    loop {
                        match stream.message().await {
                            Ok(Some(envelope)) => self.on_event(envelope),
                            Ok(None) => break,
                            Err(e) => {
                                tracing::debug!("exit events: {}", e.message());
                                break;
                            }
                        }
                    }
                }
                Err(e) => tracing::debug!("exit events: subscribing: {}", e.message()),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }

    fn on_event(&self, envelope: containerd_client::types::Envelope) {
        if envelope.topic.starts_with("/images/") {
            self.images_may_have_changed();
            return;
        }
        let Some(any) = envelope.event else { return };
        let Ok(e) = TaskExit::decode(any.value.as_slice()) else {
            tracing::warn!(type_url = %any.type_url, "undecodable exit event");
            return;
        };
        // The init process's exit carries the container's ID as its process ID.
        let exec = if e.id == e.container_id {
            String::new()
        } else {
            e.id
        };
        let exit = exit_of(e.exit_status, e.exited_at);
        self.exits.resolve(&(e.container_id, exec), Ok(exit));
    }
}

/// An exit as containerd reports it, in a process's state or an exit event.
fn exit_of(status: u32, exited_at: Option<prost_types::Timestamp>) -> Exit {
    Exit {
        status,
        at_nanos: exited_at
            .map(|t| t.seconds as i128 * 1_000_000_000 + t.nanos as i128)
            .unwrap_or_default(),
    }
}

/// The shared watch for a new [`Containerd`].
pub(super) fn new_watch() -> Arc<ExitWatch> {
    Arc::new(ExitWatch::default())
}
