//! A container's stdio: FIFOs between the shim and berthd, the copiers that feed the log
//! driver (json-file) and every attached client, and the stdin pump.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::{mpsc, oneshot};

use super::spool;
use crate::Result;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    Stdout,
    Stderr,
}

impl StreamKind {
    pub fn name(self) -> &'static str {
        match self {
            StreamKind::Stdout => "stdout",
            StreamKind::Stderr => "stderr",
        }
    }
}

/// A chunk of container output.
#[derive(Clone, Debug)]
pub struct Output {
    pub stream: StreamKind,
    pub data: Arc<Vec<u8>>,
}

/// What attached clients send towards the container's stdin.
#[derive(Debug)]
pub enum StdinMsg {
    Data(Vec<u8>),
    /// The client half-closed and the container has `StdinOnce`: close the container's stdin.
    Close,
}

/// How many chunks (up to 32 KiB each) an attached client may be behind before the
/// process's writes wait for it.
const OUTPUT_QUEUE: usize = 64;

/// The live output of a process to the clients attached to it. Each client has a bounded
/// queue and the copier waits for room in every one: a slow client slows the process's
/// writes, as on dockerd, instead of losing output.
#[derive(Clone, Default)]
pub struct OutputHub {
    inner: Arc<std::sync::Mutex<HubState>>,
}

/// The clients' queues. They end when the last handle on the hub goes (the copiers' and
/// the run's), as a broadcast channel's receivers end with its last sender: a stream ends
/// only once the process's exit is recorded, which clients read right after.
#[derive(Default)]
struct HubState {
    subscribers: Vec<mpsc::Sender<Output>>,
}

impl OutputHub {
    /// A client's stream of the output from now on.
    pub fn subscribe(&self) -> mpsc::Receiver<Output> {
        let (tx, rx) = mpsc::channel(OUTPUT_QUEUE);
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .subscribers
            .push(tx);
        rx
    }

    /// Hands a chunk to every client, waiting while one is full; clients that went away
    /// are forgotten.
    pub async fn send(&self, out: Output) {
        let subscribers = self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .subscribers
            .clone();
        let mut gone = false;
        for tx in &subscribers {
            gone |= tx.send(out.clone()).await.is_err();
        }
        if gone {
            self.inner
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .subscribers
                .retain(|tx| !tx.is_closed());
        }
    }
}

/// The channels of one run of a container. A new set is installed when a run ends, so
/// clients attached for the next run (e.g. `docker start -a`) see only its output.
pub struct IoChannels {
    pub output: OutputHub,
    pub stdin_tx: Option<mpsc::Sender<StdinMsg>>,
    pub stdin_rx: Option<mpsc::Receiver<StdinMsg>>,
    /// The run's process has exited and its exit is being recorded: an attach from now on
    /// belongs to the next run (on dockerd it waits for the container's lock, which the
    /// exit handling holds), not to a run whose output is already over.
    pub ended: bool,
}

impl IoChannels {
    pub fn new(open_stdin: bool) -> Self {
        let (stdin_tx, stdin_rx) = if open_stdin {
            let (tx, rx) = mpsc::channel(64);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        IoChannels {
            output: OutputHub::default(),
            stdin_tx,
            stdin_rx,
            ended: false,
        }
    }
}

/// FIFO paths of a container's init process.
#[derive(Clone, Debug)]
pub struct Fifos {
    pub stdin: Option<PathBuf>,
    pub stdout: PathBuf,
    pub stderr: Option<PathBuf>,
}

impl Fifos {
    pub fn create(dir: &Path, stdin: bool, tty: bool) -> Result<Fifos> {
        std::fs::create_dir_all(dir)?;
        let make = |name: &str| -> Result<PathBuf> {
            let p = dir.join(name);
            let _ = std::fs::remove_file(&p);
            nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600))
                .map_err(|e| crate::Error::internal(format!("mkfifo {}: {e}", p.display())))?;
            Ok(p)
        };
        Ok(Fifos {
            stdin: if stdin {
                Some(make("init-stdin")?)
            } else {
                None
            },
            stdout: make("init-stdout")?,
            // With a TTY the shim sends everything through stdout.
            stderr: if tty {
                None
            } else {
                Some(make("init-stderr")?)
            },
        })
    }

    /// The paths as the shim takes them ("" for a stream that has no FIFO).
    pub fn stdio_paths(&self, terminal: bool) -> crate::runtime::tasks::StdioPaths {
        let path = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        crate::runtime::tasks::StdioPaths {
            stdin: path(&self.stdin),
            stdout: self.stdout.display().to_string(),
            stderr: path(&self.stderr),
            terminal,
        }
    }

    /// The marks file of the run's logged streams (see `spool`).
    fn marks_path(&self) -> PathBuf {
        self.stdout.with_file_name("init-log.marks")
    }

    /// The FIFOs of a container that is already running (after a daemon restart).
    pub fn existing(dir: &Path) -> Fifos {
        let p = |n: &str| Some(dir.join(n)).filter(|p| p.exists());
        Fifos {
            stdin: p("init-stdin"),
            stdout: dir.join("init-stdout"),
            stderr: p("init-stderr"),
        }
    }
}

/// Where output goes besides attached clients.
#[derive(Clone, Debug)]
pub enum LogSink {
    /// json-file; with `max_size`, rotated into `<path>.1` .. `<path>.<max_files - 1>`.
    JsonFile {
        path: PathBuf,
        max_size: Option<u64>,
        max_files: u32,
        /// Written with every entry (`--log-opt labels=…,env=…`).
        attrs: BTreeMap<String, String>,
    },
    None,
}

/// What the json-file log is about to do.
enum LogStep {
    /// Write these entries to a log that is `log_len` bytes long.
    Write {
        log_len: u64,
        entries: std::ops::Range<usize>,
    },
    /// Rotate (or truncate) the log.
    Rotate,
}

/// The open json-file log and its rotation state.
struct JsonLog {
    path: PathBuf,
    file: std::fs::File,
    size: u64,
    max_size: Option<u64>,
    max_files: u32,
    attrs: BTreeMap<String, String>,
}

impl JsonLog {
    fn open(
        path: PathBuf,
        max_size: Option<u64>,
        max_files: u32,
        attrs: BTreeMap<String, String>,
    ) -> Option<JsonLog> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .ok()?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Some(JsonLog {
            path,
            file,
            size,
            max_size,
            max_files: max_files.max(1),
            attrs,
        })
    }

    /// Writes entries with one `write` per run of entries that fit, rotating before an
    /// entry that would not fit (moby rotates per message): a read from the FIFO costs one
    /// system call, not one per line. `step` hears of each write and rotation first.
    fn write_entries(&mut self, entries: &[Vec<u8>], step: &mut dyn FnMut(LogStep)) {
        let mut batch: Vec<u8> = Vec::new();
        let mut first = 0;
        for (i, entry) in entries.iter().enumerate() {
            let would_be = self.size + (batch.len() + entry.len()) as u64;
            if self
                .max_size
                .is_some_and(|max| would_be > max && self.size + batch.len() as u64 > 0)
            {
                self.flush(&mut batch, first..i, step);
                first = i;
                step(LogStep::Rotate);
                self.rotate();
            }
            batch.extend_from_slice(entry);
        }
        self.flush(&mut batch, first..entries.len(), step);
    }

    fn flush(
        &mut self,
        batch: &mut Vec<u8>,
        entries: std::ops::Range<usize>,
        step: &mut dyn FnMut(LogStep),
    ) {
        use std::io::Write as _;
        if !batch.is_empty() {
            step(LogStep::Write {
                log_len: self.size,
                entries,
            });
            if self.file.write_all(batch).is_ok() {
                self.size += batch.len() as u64;
            }
        }
        batch.clear();
    }

    /// `log` → `log.1` → ... → `log.<max_files - 1>`, the oldest dropped; one file means the
    /// log is simply truncated.
    fn rotate(&mut self) {
        let numbered = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        if self.max_files > 1 {
            for n in (1..self.max_files - 1).rev() {
                let _ = std::fs::rename(numbered(n), numbered(n + 1));
            }
            let _ = std::fs::rename(&self.path, numbered(1));
        }
        if let Ok(f) = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&self.path)
        {
            self.file = f;
            self.size = 0;
        }
    }
}

/// moby's json-file `max-size`: a number with an optional binary unit (`k`, `m`, `g`).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.strip_suffix('b').unwrap_or(&s);
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1u64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let n: f64 = num.trim().parse().ok()?;
    (n >= 0.0).then_some((n * mult as f64) as u64)
}

/// The log a run's copiers share, and the marks that make it survive berthd being killed.
struct LogState {
    log: JsonLog,
    /// None when the marks file could not be made: the streams are then read plainly.
    marks: Option<spool::Marks>,
}

/// Where a stream's bytes come from: its FIFO, through a spool while it has one (see
/// `spool`); without one, what is read and not yet logged dies with berthd.
struct Source {
    fifo: tokio::net::unix::pipe::Receiver,
    spool: Option<spool::Spool>,
    /// The stream's mark in the marks file.
    slot: usize,
    /// Try the FIFO before waiting for it: a resumed stream's shim may have closed it
    /// already, and a FIFO whose writer left before it was opened never reports that.
    probe: bool,
}

impl Source {
    /// The next bytes of the stream; `None` at its end.
    async fn next(&mut self, buf: &mut [u8]) -> Option<Vec<u8>> {
        while let Some(spool) = self.spool.as_mut() {
            let taken = if std::mem::take(&mut self.probe) {
                spool.take_from(&self.fifo, buf.len())
            } else {
                self.fifo.readable().await.ok()?;
                self.fifo.try_io(|| spool.take_from(&self.fifo, buf.len()))
            };
            match taken {
                Ok(got) => return got,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    // The container's output must keep flowing, so the FIFO is read as is.
                    tracing::warn!("log spool: {e}; reading the stream without it");
                    self.spool = None;
                }
            }
        }
        match self.fifo.read(buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(buf[..n].to_vec()),
        }
    }
}

/// Whether a run's copiers start afresh or carry on after a berthd that was killed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Run {
    New,
    Resumed,
}

/// Opens the read ends (before the task exists, so the shim's writers never block) and
/// starts copying. The returned receiver fires when both streams reached EOF.
pub fn start_copiers(
    fifos: &Fifos,
    output: OutputHub,
    sink: LogSink,
    run: Run,
) -> Result<oneshot::Receiver<()>> {
    let open = |p: &Path| {
        tokio::net::unix::pipe::OpenOptions::new()
            .open_receiver(p)
            .map_err(|e| crate::Error::internal(format!("open {}: {e}", p.display())))
    };
    let stdout = open(&fifos.stdout)?;
    let stderr = fifos.stderr.as_deref().map(open).transpose()?;
    let log = match sink {
        LogSink::JsonFile {
            path,
            max_size,
            max_files,
            attrs,
        } => JsonLog::open(path, max_size, max_files, attrs),
        LogSink::None => None,
    };
    let mut state = log.map(|log| {
        let path = fifos.marks_path();
        let marks = match run {
            Run::New => spool::Marks::create(&path),
            Run::Resumed => spool::Marks::resume(&path),
        };
        LogState {
            log,
            marks: marks
                .inspect_err(|e| tracing::warn!("log marks {}: {e}", path.display()))
                .ok(),
        }
    });
    let mut source = |fifo, slot: usize, path: &Path| -> (Source, Vec<u8>) {
        let plain = |fifo| {
            let source = Source {
                fifo,
                spool: None,
                slot,
                probe: false,
            };
            (source, Vec::new())
        };
        let Some(state) = state.as_mut() else {
            return plain(fifo);
        };
        let spooled = match (run, &state.marks) {
            (_, None) => return plain(fifo),
            (Run::Resumed, Some(marks)) => {
                let upto = marks.get(slot).logged_upto(state.log.size);
                spool::Spool::resume(path, upto)
            }
            (Run::New, Some(_)) => spool::Spool::create(path).map(|s| (s, Vec::new())),
        };
        match spooled {
            Ok((spool, unlogged)) => {
                let source = Source {
                    fifo,
                    spool: Some(spool),
                    slot,
                    probe: run == Run::Resumed,
                };
                (source, unlogged)
            }
            Err(e) => {
                tracing::warn!("log spool {}: {e}", path.display());
                plain(fifo)
            }
        }
    };
    let stdout = source(stdout, 0, &spool_path(&fifos.stdout));
    let stderr = match (stderr, &fifos.stderr) {
        (Some(fifo), Some(path)) => Some(source(fifo, 1, &spool_path(path))),
        _ => None,
    };
    let log = Arc::new(tokio::sync::Mutex::new(state));
    let (done_tx, done_rx) = oneshot::channel();
    tokio::spawn(async move {
        let a = copy_stream(stdout, StreamKind::Stdout, output.clone(), log.clone());
        match stderr {
            Some(e) => {
                let b = copy_stream(e, StreamKind::Stderr, output.clone(), log.clone());
                tokio::join!(a, b);
            }
            None => a.await,
        }
        drop(output);
        let _ = done_tx.send(());
    });
    Ok(done_rx)
}

/// A stream's spool sits beside its FIFO.
fn spool_path(fifo: &Path) -> PathBuf {
    fifo.with_extension("spool")
}

/// Copies one stream to the attached clients and the log. `pending` starts with what a
/// killed berthd spooled but did not log.
async fn copy_stream(
    (mut source, mut pending): (Source, Vec<u8>),
    kind: StreamKind,
    output: OutputHub,
    log: Arc<tokio::sync::Mutex<Option<LogState>>>,
) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let mut lines = Vec::new();
        while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
            lines.push(pending.drain(..=pos).collect::<Vec<u8>>());
        }
        // moby splits very long lines into 16 KiB entries.
        if pending.len() >= 16 * 1024 {
            lines.push(std::mem::take(&mut pending));
        }
        if !lines.is_empty() {
            write_log(&log, kind, &lines, &mut source).await;
        }
        let Some(chunk) = source.next(&mut buf).await else {
            break;
        };
        pending.extend_from_slice(&chunk);
        output
            .send(Output {
                stream: kind,
                data: Arc::new(chunk),
            })
            .await;
    }
    if !pending.is_empty() {
        write_log(&log, kind, &[pending], &mut source).await;
    }
}

/// Writes lines (each with its newline, if it had one) to the log; for a spooled stream,
/// each write is marked first and the spool advanced after.
async fn write_log(
    log: &Arc<tokio::sync::Mutex<Option<LogState>>>,
    kind: StreamKind,
    lines: &[Vec<u8>],
    source: &mut Source,
) {
    let mut guard = log.lock().await;
    let Some(LogState { log, marks }) = guard.as_mut() else {
        return;
    };
    let entries: Vec<Vec<u8>> = lines
        .iter()
        .map(|line| {
            // Each line is stamped as it is handled, as moby's copier stamps them.
            let entry = JsonEntry {
                log: &String::from_utf8_lossy(line),
                stream: kind.name(),
                attrs: (!log.attrs.is_empty()).then_some(&log.attrs),
                time: &super::logs::now_rfc3339_nano(),
            };
            let mut bytes = serde_json::to_vec(&entry).unwrap_or_default();
            bytes.push(b'\n');
            bytes
        })
        .collect();
    let (Some(spool), Some(marks)) = (source.spool.as_mut(), marks.as_mut()) else {
        log.write_entries(&entries, &mut |_| {});
        return;
    };
    // Spool offset where each line starts, and where the last ends.
    let mut ends = vec![spool.logged()];
    for line in lines {
        ends.push(ends[ends.len() - 1] + line.len() as u64);
    }
    let slot = source.slot;
    log.write_entries(&entries, &mut |step| {
        let marked = match step {
            LogStep::Write { log_len, entries } => marks.set(
                slot,
                spool::Mark {
                    log_len,
                    from: ends[entries.start],
                    to: ends[entries.end],
                },
            ),
            LogStep::Rotate => marks.settle(),
        };
        if let Err(e) = marked {
            tracing::warn!("log marks: {e}");
        }
    });
    spool.advance(ends[ends.len() - 1], marks, slot, log.size);
}

/// One line of a json-file log, in moby's key order.
#[derive(serde::Serialize)]
struct JsonEntry<'a> {
    log: &'a str,
    stream: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    attrs: Option<&'a BTreeMap<String, String>>,
    time: &'a str,
}

/// Feeds stdin from attached clients into the container's stdin FIFO until a client asks
/// to close it or every sender is gone. `on_close` runs when stdin is closed.
pub fn start_stdin_pump<F>(path: PathBuf, mut rx: mpsc::Receiver<StdinMsg>, on_close: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut writer = match tokio::net::unix::pipe::OpenOptions::new().open_sender(&path) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!("cannot open stdin fifo {}: {e}", path.display());
                return;
            }
        };
        while let Some(msg) = rx.recv().await {
            match msg {
                StdinMsg::Data(d) => {
                    if writer.write_all(&d).await.is_err() {
                        break;
                    }
                }
                StdinMsg::Close => break,
            }
        }
        drop(writer);
        on_close.await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(parse_size("10"), Some(10));
        assert_eq!(parse_size("1k"), Some(1024));
        assert_eq!(parse_size("2m"), Some(2 << 20));
        assert_eq!(parse_size("1.5kb"), Some(1536));
        assert_eq!(parse_size("x"), None);
    }

    #[test]
    fn rotation_keeps_max_files() {
        let dir = std::env::temp_dir().join(format!("berth-rot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c-json.log");
        let mut log = JsonLog::open(path.clone(), Some(10), 3, BTreeMap::new()).unwrap();
        // One batch, as one read from the FIFO gives.
        let entries: Vec<Vec<u8>> = (0..5)
            .map(|i| format!("line-{i}-xxxx\n").into_bytes())
            .collect();
        log.write_entries(&entries, &mut |_| {});
        // Each entry is larger than max-size, so each lands in a file of its own.
        let read = |p: String| std::fs::read_to_string(p).unwrap();
        assert!(read(path.display().to_string()).contains("line-4"));
        assert!(read(format!("{}.1", path.display())).contains("line-3"));
        assert!(read(format!("{}.2", path.display())).contains("line-2"));
        assert!(!std::path::Path::new(&format!("{}.3", path.display())).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_batch_rotates_only_where_an_entry_would_not_fit() {
        let dir = std::env::temp_dir().join(format!("berth-batch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c-json.log");
        let mut log = JsonLog::open(path.clone(), Some(20), 2, BTreeMap::new()).unwrap();
        let entries: Vec<Vec<u8>> = ["aaaa\n", "bbbb\n", "cccc\n", "dddd\n", "eeee\n"]
            .iter()
            .map(|e| e.as_bytes().to_vec())
            .collect();
        log.write_entries(&entries, &mut |_| {});
        let read = |p: String| std::fs::read_to_string(p).unwrap();
        // Four entries of five bytes fill 20; the fifth starts the next file.
        assert_eq!(
            read(format!("{}.1", path.display())),
            "aaaa\nbbbb\ncccc\ndddd\n"
        );
        assert_eq!(read(path.display().to_string()), "eeee\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
