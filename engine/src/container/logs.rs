//! Reading the json-file log: `docker logs` with tail, since/until, timestamps and follow.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::io::StreamKind;

#[derive(Clone, Debug)]
pub struct LogEntry {
    pub stream: StreamKind,
    pub line: Vec<u8>,
    /// RFC 3339 with nanoseconds, as written.
    pub time: String,
    pub time_nanos: i128,
    /// Attributes written with it (`--log-opt labels=`/`env=`), shown by `logs --details`.
    pub attrs: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Raw {
    log: String,
    stream: String,
    time: String,
    #[serde(default)]
    attrs: BTreeMap<String, String>,
}

pub fn now_rfc3339_nano() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub fn parse_time_nanos(s: &str) -> i128 {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp_nanos())
        .unwrap_or(0)
}

/// Up to `len` bytes of the file at `path` from `offset` on, extended to the end of the
/// line they stop in (none when it cannot be read).
pub async fn read_piece(path: &Path, offset: usize, len: usize) -> Vec<u8> {
    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncSeekExt as _};
    let mut data = Vec::new();
    let Ok(mut f) = tokio::fs::File::open(path).await else {
        return data;
    };
    if f.seek(std::io::SeekFrom::Start(offset as u64))
        .await
        .is_err()
    {
        return data;
    }
    let mut f = tokio::io::BufReader::new(f);
    if (&mut f)
        .take(len as u64)
        .read_to_end(&mut data)
        .await
        .is_ok()
        && !data.is_empty()
        && !data.ends_with(b"\n")
    {
        let _ = f.read_until(b'\n', &mut data).await;
    }
    data
}

/// Parses complete lines of a json-file log; returns entries and the bytes consumed.
pub fn parse(data: &[u8]) -> (Vec<LogEntry>, usize) {
    let mut entries = Vec::new();
    let mut consumed = 0;
    for line in data.split_inclusive(|b| *b == b'\n') {
        if !line.ends_with(b"\n") {
            break;
        }
        consumed += line.len();
        if let Ok(raw) = serde_json::from_slice::<Raw>(line) {
            entries.push(LogEntry {
                stream: if raw.stream == "stderr" {
                    StreamKind::Stderr
                } else {
                    StreamKind::Stdout
                },
                line: raw.log.into_bytes(),
                time_nanos: parse_time_nanos(&raw.time),
                time: raw.time,
                attrs: raw.attrs,
            });
        }
    }
    (entries, consumed)
}

/// Where the complete lines of an open log file of `len` bytes end: after its last newline
/// (a line still being written is not an entry yet).
fn complete_end(f: &mut std::fs::File, len: usize, piece: usize) -> usize {
    use std::io::{Read as _, Seek as _};
    let mut pos = len;
    while pos > 0 {
        let start = pos.saturating_sub(piece);
        let mut buf = vec![0u8; pos - start];
        if f.seek(std::io::SeekFrom::Start(start as u64)).is_err()
            || f.read_exact(&mut buf).is_err()
        {
            return 0;
        }
        if let Some(p) = buf.iter().rposition(|b| *b == b'\n') {
            return start + p + 1;
        }
        pos = start;
    }
    0
}

/// `logs --tail n`: the last `n` entries `keep` accepts, oldest first, read backwards from
/// the end of `files` (oldest first, the live file last) `piece` bytes at a time, so a long
/// log costs what its tail costs; and where the live file's complete lines end (a follow goes
/// on from there).
pub fn tail(
    files: &[std::path::PathBuf],
    n: usize,
    piece: usize,
    keep: impl Fn(&LogEntry) -> bool,
) -> (Vec<LogEntry>, usize) {
    use std::io::{Read as _, Seek as _};
    let mut newest_first: Vec<LogEntry> = Vec::new();
    let mut live_end = 0;
    for (i, file) in files.iter().enumerate().rev() {
        let Ok(mut f) = std::fs::File::open(file) else {
            continue;
        };
        let len = f.metadata().map_or(0, |m| m.len() as usize);
        let end = complete_end(&mut f, len, piece);
        if i + 1 == files.len() {
            live_end = end;
        }
        let mut pos = end;
        // The head of a line that began before the piece read last.
        let mut carry: Vec<u8> = Vec::new();
        while pos > 0 && newest_first.len() < n {
            let start = pos.saturating_sub(piece);
            let mut buf = vec![0u8; pos - start];
            if f.seek(std::io::SeekFrom::Start(start as u64)).is_err()
                || f.read_exact(&mut buf).is_err()
            {
                break;
            }
            buf.extend_from_slice(&carry);
            let cut = if start == 0 {
                0
            } else {
                match buf.iter().position(|b| *b == b'\n') {
                    Some(p) => p + 1,
                    None => {
                        carry = buf;
                        pos = start;
                        continue;
                    }
                }
            };
            let (entries, _) = parse(&buf[cut..]);
            for e in entries.into_iter().rev() {
                if newest_first.len() == n {
                    break;
                }
                if keep(&e) {
                    newest_first.push(e);
                }
            }
            carry = buf[..cut].to_vec();
            pos = start;
        }
    }
    newest_first.reverse();
    (newest_first, live_end)
}

/// What wakes a `logs -f`: inotify on the log's directory (a write, a rotation) where it is
/// available, a short poll otherwise.
pub struct LogWatch(Option<inotify::EventStream<[u8; 1024]>>);

impl LogWatch {
    pub fn new(dir: &Path) -> LogWatch {
        use inotify::{Inotify, WatchMask};
        let stream = Inotify::init().ok().and_then(|i| {
            i.watches()
                .add(
                    dir,
                    WatchMask::MODIFY | WatchMask::CREATE | WatchMask::MOVED_TO,
                )
                .ok()?;
            i.into_event_stream([0u8; 1024]).ok()
        });
        LogWatch(stream)
    }

    /// Returns once the directory may have changed since the last call (a missed change is
    /// found by the next one, or by a slow poll).
    pub async fn changed(&mut self) {
        use futures_util::{FutureExt as _, StreamExt as _};
        let Some(events) = &mut self.0 else {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            return;
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), events.next()).await;
        // One look at the file serves every write queued meanwhile.
        while let Some(Some(_)) = events.next().now_or_never() {}
    }
}

pub fn read_all(path: &Path) -> (Vec<LogEntry>, u64) {
    let data = std::fs::read(path).unwrap_or_default();
    let (entries, consumed) = parse(&data);
    (entries, consumed as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(stream: &str, text: &str) -> String {
        format!(
            "{{\"log\":\"{text}\\n\",\"stream\":\"{stream}\",\"time\":\"2024-01-01T00:00:00Z\"}}\n"
        )
    }

    #[test]
    fn tail_reads_back_across_pieces_and_rotated_files() {
        let dir = std::env::temp_dir().join(format!("berth-tail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let old = dir.join("c-json.log.1");
        let live = dir.join("c-json.log");
        let mut a = String::new();
        for i in 0..5 {
            a.push_str(&line("stdout", &format!("old{i}")));
        }
        std::fs::write(&old, &a).unwrap();
        let mut b = String::new();
        for i in 0..5 {
            b.push_str(&line(
                if i % 2 == 0 { "stdout" } else { "stderr" },
                &format!("new{i}"),
            ));
        }
        // A line still being written is no entry, and a follow starts before it.
        let complete = b.len();
        b.push_str("{\"log\":\"partial");
        std::fs::write(&live, &b).unwrap();
        let files = vec![old, live];
        let text = |v: &[LogEntry]| {
            v.iter()
                .map(|e| String::from_utf8_lossy(&e.line).trim().to_string())
                .collect::<Vec<_>>()
        };
        for piece in [7, 64, 1 << 20] {
            let (got, end) = tail(&files, 7, piece, |_| true);
            assert_eq!(end, complete, "piece {piece}");
            assert_eq!(
                text(&got),
                ["old3", "old4", "new0", "new1", "new2", "new3", "new4"],
                "piece {piece}"
            );
            let (got, _) = tail(&files, 2, piece, |e| e.stream == StreamKind::Stdout);
            assert_eq!(text(&got), ["new2", "new4"], "piece {piece}");
            let (got, _) = tail(&files, 0, piece, |_| true);
            assert!(got.is_empty());
            let (got, _) = tail(&files, 100, piece, |_| true);
            assert_eq!(got.len(), 10, "piece {piece}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn parses_complete_lines_only() {
        let data = b"{\"log\":\"a\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-01T00:00:00.5Z\"}\n{\"log\":\"b";
        let (entries, consumed) = parse(data);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].line, b"a\n");
        assert_eq!(entries[0].time_nanos, 1_704_067_200_500_000_000);
        assert_eq!(consumed, data.iter().position(|b| *b == b'\n').unwrap() + 1);
    }
}
