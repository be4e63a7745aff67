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

/// Nanoseconds since the epoch of an RFC 3339 time (0 when it is not one).
pub fn parse_time_nanos(s: &str) -> i128 {
    utc_nanos(s).unwrap_or_else(|| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map(|t| t.unix_timestamp_nanos())
            .unwrap_or(0)
    })
}

/// The shape json-file writes every entry's time in, `YYYY-MM-DDTHH:MM:SS[.fraction]Z`,
/// read without the general parser (a log of a million lines has a million of them).
/// Anything else (offsets, leap seconds) is left to the general parser.
fn utc_nanos(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    let body = b.strip_suffix(b"Z")?;
    if body.len() < 19 || [4, 7, 10, 13, 16].map(|i| body[i]) != *b"--T::" {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        body[from..to].iter().try_fold(0i64, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return None,
    };
    if !(1..=month_days).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let nanos = match &body[19..] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            num(20, body.len())? * 10i64.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    // Days from 1970-01-01 in the proleptic Gregorian calendar, counting years from March
    // so that the leap day falls at a year's end.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second;
    Some(i128::from(secs) * 1_000_000_000 + i128::from(nanos))
}

/// Up to `len` bytes of the file at `path` from `offset` on, extended to the end of the
/// line they stop in (none when it cannot be read). One trip to the blocking pool.
pub async fn read_piece(path: &Path, offset: usize, len: usize) -> Vec<u8> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::io::{BufRead as _, Read as _, Seek as _};
        let mut data = Vec::new();
        let Ok(mut f) = std::fs::File::open(&path) else {
            return data;
        };
        if f.seek(std::io::SeekFrom::Start(offset as u64)).is_err() {
            return data;
        }
        let mut f = std::io::BufReader::new(f);
        if (&mut f).take(len as u64).read_to_end(&mut data).is_ok()
            && !data.is_empty()
            && !data.ends_with(b"\n")
        {
            let _ = f.read_until(b'\n', &mut data);
        }
        data
    })
    .await
    .unwrap_or_default()
}

/// The first complete lines of `data` up to about `max` bytes (at least one line, when
/// there is one): where a batch of entries taken from a larger piece ends.
pub fn batch_end(data: &[u8], max: usize) -> usize {
    if data.len() <= max {
        return data.len();
    }
    match data[max..].iter().position(|b| *b == b'\n') {
        Some(p) => max + p + 1,
        None => data.len(),
    }
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
    fn entry_times_read_as_the_general_parser_reads_them() {
        let general = |s: &str| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map(|t| t.unix_timestamp_nanos())
                .unwrap_or(0)
        };
        for s in [
            "1970-01-01T00:00:00Z",
            "2026-12-04T17:51:26.493580Z",
            "2024-02-29T23:59:59.999999999Z",
            "2000-03-01T00:00:00.1Z",
            "1969-12-31T23:59:59.5Z",
            "2100-02-28T12:00:00.000000001Z",
        ] {
            assert_eq!(utc_nanos(s), Some(general(s)), "{s}");
        }
        for s in [
            "2023-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-12-04T17:51:26.Z",
            "2026-12-04T17:51:26.1234567890Z",
            "2026-12-04T17:51:26+01:00",
            "2026-12-04 17:51:26Z",
        ] {
            assert_eq!(utc_nanos(s), None, "{s}");
        }
        assert_eq!(
            parse_time_nanos("2026-12-04T18:51:26+01:00"),
            parse_time_nanos("2026-12-04T17:51:26Z")
        );
    }

    #[test]
    fn a_batch_ends_after_the_line_it_reaches() {
        let data = b"aaaa\nbb\ncccccc\nd";
        assert_eq!(batch_end(data, 100), data.len());
        assert_eq!(batch_end(data, 0), 5);
        assert_eq!(batch_end(data, 5), 8);
        assert_eq!(batch_end(data, 6), 8);
        assert_eq!(batch_end(data, 9), 15);
        assert_eq!(batch_end(data, 15), data.len());
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
