//! A container's streams: attach (stdin, stdout, stderr, resize) and `docker logs` over the
//! json-file log.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::io::{self, IoChannels, LogSink, Output, StdinMsg};
use super::logs::{self, LogEntry};
use super::model::ContainerRecord;
use super::policy::{LogConfig, LogDriver};
use super::service::ContainerService;
use super::store::Container;
use crate::{Error, Result};

/// How much of a json-file log `logs` reads at a time (a piece ends at a line's end).
pub(super) const LOG_READ_PIECE: usize = 1 << 20;

/// How many bytes of the file's lines go to the client as one batch of entries: small
/// enough that the few batches in flight stay around a megabyte, large enough that a batch
/// holds about a thousand short lines.
const LOG_BATCH: usize = 64 << 10;

/// An attached client's view of a container.
pub struct AttachHandle {
    pub tty: bool,
    pub output: Option<mpsc::Receiver<Output>>,
    pub stdin: Option<mpsc::Sender<StdinMsg>>,
    pub stdin_once: bool,
    pub replay: Vec<LogEntry>,
}

#[derive(Clone, Debug, Default)]
pub struct LogsRequest {
    pub stdout: bool,
    pub stderr: bool,
    pub follow: bool,
    pub since_nanos: Option<i128>,
    pub until_nanos: Option<i128>,
    pub tail: Option<usize>,
}

impl ContainerService {
    pub(super) fn new_io_generation(&self, c: &Arc<Container>) {
        let open_stdin = c.rec().config.open_stdin();
        *c.io.lock().unwrap_or_else(|p| p.into_inner()) = IoChannels::new(open_stdin);
    }

    /// `POST /containers/{id}/attach`. An attach that comes while an exit is being recorded
    /// waits for it and follows the next run: compose's one-off runs attach after the start
    /// and start again a container that has stopped by then, so the output they show is
    /// that of the run they attached to.
    pub async fn attach(
        &self,
        name_or_id: &str,
        stdin: bool,
        stream: bool,
        logs_replay: bool,
    ) -> Result<AttachHandle> {
        let c = self.lookup(name_or_id)?;
        loop {
            let mut exits = c.exits.subscribe();
            if !c.io.lock().unwrap_or_else(|p| p.into_inner()).ended {
                break;
            }
            if exits.changed().await.is_err() {
                break;
            }
        }
        let record = c.rec().clone();
        let io = c.io.lock().unwrap_or_else(|p| p.into_inner());
        let replay = if logs_replay {
            logs::read_all(std::path::Path::new(&record.log_path)).0
        } else {
            vec![]
        };
        let record_ref = &record;
        self.event(record_ref, "attach", &[]);
        Ok(AttachHandle {
            tty: record.tty(),
            output: stream.then(|| io.output.subscribe()),
            stdin: if stdin { io.stdin_tx.clone() } else { None },
            stdin_once: record.config.stdin_once(),
            replay,
        })
    }

    /// `POST /containers/{id}/resize`.
    pub async fn resize(&self, name_or_id: &str, height: u32, width: u32) -> Result<()> {
        let c = self.lookup(name_or_id)?;
        let record = c.rec().clone();
        if !record.state.running() {
            return Err(Error::conflict(format!(
                "container {} is not running",
                record.id
            )));
        }
        self.containerd
            .resize_process(&record.id, "", width, height)
            .await
    }

    /// `GET /containers/{id}/logs`: past entries now, and with `follow` a stream of new ones
    /// until the container stops.
    pub fn logs(
        &self,
        name_or_id: &str,
        req: LogsRequest,
    ) -> Result<(bool, mpsc::Receiver<Vec<LogEntry>>)> {
        let c = self.lookup(name_or_id)?;
        let record = c.rec().clone();
        if LogConfig::of(&record.host_config).driver == LogDriver::None {
            return Err(Error::not_implemented(
                "configured logging driver does not support reading",
            ));
        }
        let path = PathBuf::from(&record.log_path);
        // Entries go out in batches (a piece of the file at a time), so a long log costs
        // one send and one write per batch rather than per line.
        let (tx, rx) = mpsc::channel(4);
        let mut exits = c.exits.subscribe();
        let follow = req.follow && record.state.running();
        tokio::spawn(async move {
            let keep = |e: &LogEntry| {
                (match e.stream {
                    io::StreamKind::Stdout => req.stdout,
                    io::StreamKind::Stderr => req.stderr,
                }) && req.since_nanos.is_none_or(|s| e.time_nanos >= s)
                    && req.until_nanos.is_none_or(|u| e.time_nanos <= u)
            };
            // Rotated files first, oldest (highest number) to newest, read a piece at a time:
            // entries go out as they are parsed, and with `tail` only the last ones are kept.
            let mut files: Vec<PathBuf> = (1..100)
                .rev()
                .map(|n| PathBuf::from(format!("{}.{n}", path.display())))
                .filter(|p| p.exists())
                .collect();
            files.push(path.clone());
            let mut offset = 0;
            if let Some(n) = req.tail {
                // Read backwards from the end: the cost is the tail's, not the log's.
                let (entries, end) = logs::tail(&files, n, LOG_READ_PIECE, keep);
                offset = end;
                if !entries.is_empty() && tx.send(entries).await.is_err() {
                    return;
                }
            } else {
                for file in &files {
                    let Some(end) = send_from(&tx, file, 0, keep).await else {
                        return;
                    };
                    offset = end;
                }
            }
            if !follow {
                return;
            }
            // Follow by reading only what was added each time the log's directory changes.
            let mut watch = logs::LogWatch::new(path.parent().unwrap_or(std::path::Path::new("/")));
            let mut stopping = false;
            loop {
                let len = tokio::fs::metadata(&path)
                    .await
                    .map(|m| m.len() as usize)
                    .unwrap_or(0);
                if len < offset {
                    // Rotated under us: the new file starts from the beginning.
                    offset = 0;
                }
                if len > offset {
                    let Some(end) = send_from(&tx, &path, offset, keep).await else {
                        return;
                    };
                    offset = end;
                }
                if stopping {
                    return;
                }
                tokio::select! {
                    _ = watch.changed() => {}
                    _ = exits.changed() => stopping = true,
                    _ = tx.closed() => return,
                }
            }
        });
        Ok((record.tty(), rx))
    }
}

/// Sends the entries `keep` accepts from the complete lines of `file` after `offset`, read a
/// piece at a time and sent a batch of about [`LOG_BATCH`] bytes at a time. Returns where
/// the complete lines end, or `None` once the client has gone.
async fn send_from(
    tx: &mpsc::Sender<Vec<LogEntry>>,
    file: &std::path::Path,
    mut offset: usize,
    keep: impl Fn(&LogEntry) -> bool,
) -> Option<usize> {
    loop {
        let data = logs::read_piece(file, offset, LOG_READ_PIECE).await;
        let mut at = 0;
        while at < data.len() {
            let end = at + logs::batch_end(&data[at..], LOG_BATCH);
            let (entries, used) = logs::parse(&data[at..end]);
            if used == 0 {
                break;
            }
            at += used;
            let batch: Vec<LogEntry> = entries.into_iter().filter(|e| keep(e)).collect();
            if !batch.is_empty() && tx.send(batch).await.is_err() {
                return None;
            }
        }
        if at == 0 {
            return Some(offset);
        }
        offset += at;
    }
}

/// Where a container's output goes: its json-file (with `max-size` / `max-file`), or nowhere.
pub(super) fn log_sink(record: &ContainerRecord) -> LogSink {
    let lc = LogConfig::of(&record.host_config);
    match lc.driver {
        LogDriver::None => LogSink::None,
        LogDriver::JsonFile => LogSink::JsonFile {
            path: record.log_path.clone().into(),
            max_size: lc.max_size(),
            max_files: lc.max_files(),
            attrs: log_attrs(
                record,
                lc.option("labels").unwrap_or_default(),
                lc.option("env").unwrap_or_default(),
            ),
        },
    }
}

/// The extra attributes json-file writes with each entry: the container labels named by
/// `--log-opt labels=` and the environment variables named by `env=` that the container
/// has (moby's logger info; the `-regex` variants are not applied).
pub(super) fn log_attrs(
    record: &ContainerRecord,
    labels: &str,
    env: &str,
) -> BTreeMap<String, String> {
    let mut attrs = BTreeMap::new();
    let names = |list: &str| -> Vec<String> {
        list.split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect()
    };
    for name in names(labels) {
        if let Some(v) = record.config.labels.as_ref().and_then(|l| l.get(&name)) {
            attrs.insert(name, v.clone());
        }
    }
    let vars = record.config.env();
    for name in names(env) {
        if let Some(v) = vars
            .iter()
            .find_map(|e| e.strip_prefix(&format!("{name}=")))
        {
            attrs.insert(name, v.to_string());
        }
    }
    attrs
}
