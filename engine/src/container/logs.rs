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

pub fn read_all(path: &Path) -> (Vec<LogEntry>, u64) {
    let data = std::fs::read(path).unwrap_or_default();
    let (entries, consumed) = parse(&data);
    (entries, consumed as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

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
