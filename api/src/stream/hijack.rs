//! A hijacked connection's streams: the `101 UPGRADED` answer, the relay of a container's
//! or exec's stdio over the raw connection (stdcopy framing without a TTY), and the detach
//! keys read from the client's input.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::response::Response;
use berth_engine::container::AttachHandle;
use berth_engine::container::io::{Output, StdinMsg, StreamKind};
use futures_util::StreamExt as _;
use http::{HeaderValue, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::stdcopy;
use crate::error::ApiError;
use crate::version::ApiVersion;

pub(crate) fn stream_content_type(tty: bool, version: ApiVersion) -> &'static str {
    if !tty && version.ge(1, 42) {
        "application/vnd.docker.multiplexed-stream"
    } else {
        "application/vnd.docker.raw-stream"
    }
}

pub(crate) fn frame(tty: bool, kind: StreamKind, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + data.len());
    frame_into(&mut out, tty, kind, data);
    out
}

/// [`frame`], appended to `out`.
pub(crate) fn frame_into(out: &mut Vec<u8>, tty: bool, kind: StreamKind, data: &[u8]) {
    if tty {
        out.extend_from_slice(data);
    } else {
        let n = if kind == StreamKind::Stderr {
            stdcopy::STDERR
        } else {
            stdcopy::STDOUT
        };
        stdcopy::frame_into(out, n, data);
    }
}

/// `HTTP/1.1 101 UPGRADED` with `Upgrade: tcp`, byte for byte as dockerd answers a hijack.
pub(crate) fn switching_protocols(content_type: &'static str) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    resp.extensions_mut()
        .insert(hyper::ext::ReasonPhrase::from_static(b"UPGRADED"));
    resp
}

/// Watches stdin for the detach sequence, as moby's escape proxy does: the bytes of a
/// partial match are held back (even across reads) until the sequence completes, which
/// swallows it, or breaks, which lets them through.
struct DetachKeys {
    keys: Vec<u8>,
    held: Vec<u8>,
}

impl DetachKeys {
    /// No keys: nothing is ever held back.
    fn new(keys: Vec<u8>) -> Self {
        DetachKeys {
            keys,
            held: Vec::new(),
        }
    }

    /// The bytes of `chunk` to pass on, and whether the sequence is now complete (the
    /// bytes after it are dropped with the connection).
    fn feed(&mut self, chunk: &[u8]) -> (Vec<u8>, bool) {
        if self.keys.is_empty() {
            return (chunk.to_vec(), false);
        }
        let mut out = Vec::with_capacity(chunk.len());
        for &b in chunk {
            if b != self.keys[self.held.len()] {
                out.append(&mut self.held);
                if b != self.keys[0] {
                    out.push(b);
                    continue;
                }
            }
            self.held.push(b);
            if self.held.len() == self.keys.len() {
                return (out, true);
            }
        }
        (out, false)
    }
}

/// The detach sequence when none is configured: ctrl-p, ctrl-q (as in docker).
const DEFAULT_DETACH_KEYS: [u8; 2] = [0x10, 0x11];

/// The detach sequence of an attach or exec: none without a TTY (moby reads it only from a
/// TTY's stdin), else the keys given or ctrl-p,ctrl-q. Keys given are checked either way.
pub(crate) fn detach_keys(tty: bool, given: Option<&str>) -> Result<Vec<u8>, ApiError> {
    let keys = given
        .filter(|k| !k.is_empty())
        .map(parse_detach_keys)
        .transpose()?;
    Ok(match tty {
        true => keys.unwrap_or(DEFAULT_DETACH_KEYS.to_vec()),
        false => vec![],
    })
}

/// `ctrl-p,ctrl-q` style detach keys as bytes.
pub(crate) fn parse_detach_keys(s: &str) -> Result<Vec<u8>, ApiError> {
    s.split(',')
        .map(|k| {
            let k = k.trim();
            if let Some(c) = k.strip_prefix("ctrl-") {
                let c = c.as_bytes();
                if c.len() == 1 {
                    let b = c[0].to_ascii_lowercase();
                    return match b {
                        b'a'..=b'z' => Ok(b - b'a' + 1),
                        b'@' => Ok(0),
                        b'[' => Ok(27),
                        b'\\' => Ok(28),
                        b']' => Ok(29),
                        b'^' => Ok(30),
                        b'_' => Ok(31),
                        _ => Err(ApiError::invalid(format!(
                            "Invalid escape keys ({s}) provided"
                        ))),
                    };
                }
            } else if k.len() == 1 {
                return Ok(k.as_bytes()[0]);
            }
            Err(ApiError::invalid(format!(
                "Invalid escape keys ({s}) provided"
            )))
        })
        .collect()
}

pub(crate) fn output_stream(
    handle: AttachHandle,
    tty: bool,
    want_out: bool,
    want_err: bool,
) -> impl futures_util::Stream<Item = Bytes> {
    let replay: Vec<Bytes> = handle
        .replay
        .iter()
        .filter(|e| {
            if e.stream == StreamKind::Stderr {
                want_err
            } else {
                want_out
            }
        })
        .map(|e| Bytes::from(frame(tty, e.stream, &e.line)))
        .collect();
    let live = futures_util::stream::unfold(handle.output, move |rx| async move {
        let mut rx = rx?;
        loop {
            match rx.recv().await {
                Some(Output { stream, data }) => {
                    let wanted = if stream == StreamKind::Stderr {
                        want_err
                    } else {
                        want_out
                    };
                    if wanted {
                        return Some((Bytes::from(frame(tty, stream, &data)), Some(rx)));
                    }
                }
                None => return None,
            }
        }
    });
    futures_util::stream::iter(replay).chain(live)
}

/// What a relay sends and reads: stdout and/or stderr, raw or in stdcopy frames, and the
/// detach sequence (empty: none) that cuts the connection.
pub(crate) struct Relayed {
    pub raw: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub detach_keys: Vec<u8>,
}

/// Whether the client asks to take the connection over (`Upgrade: tcp`), as the docker CLI
/// and SDKs do for attach and exec start.
pub(crate) fn wants_tcp_upgrade(req: &Request) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"tcp"))
}

/// Runs `session` on the raw connection once hyper has handed it over (after the 101 has
/// gone out); a client that leaves first ends it there.
pub(crate) fn on_upgrade<F, Fut>(upgrade: hyper::upgrade::OnUpgrade, session: F)
where
    F: FnOnce(TokioIo<hyper::upgrade::Upgraded>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        if let Ok(upgraded) = upgrade.await {
            session(TokioIo::new(upgraded)).await;
        }
    });
}

/// Relays a hijacked connection: the output `streams` asks for, and stdin until the
/// detach sequence.
pub(crate) async fn relay<IO>(io: IO, handle: AttachHandle, streams: Relayed)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let Relayed {
        raw,
        stdout: want_out,
        stderr: want_err,
        detach_keys,
    } = streams;
    let (mut reader, mut writer) = tokio::io::split(io);
    let stdin = handle.stdin.clone();
    let stdin_once = handle.stdin_once;
    let tty = handle.tty;
    let (detach_tx, mut detach_rx) = tokio::sync::watch::channel(false);
    let input = tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        let mut keys = DetachKeys::new(detach_keys);
        let detach_tx = Some(detach_tx);
        loop {
            let n = match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let (data, detached) = keys.feed(&buf[..n]);
            if let Some(tx) = &stdin
                && !data.is_empty()
                && tx.send(StdinMsg::Data(data)).await.is_err()
            {
                break;
            }
            if detached {
                if let Some(tx) = &detach_tx {
                    let _ = tx.send(true);
                }
                return;
            }
        }
        // The client's stdin ended (the CLI half-closes after detaching on its side). As in
        // moby: a TTY attach ends and the container's stdin stays open; otherwise a
        // `StdinOnce` container's stdin is closed and its output keeps flowing.
        if let Some(tx) = &stdin {
            if tty {
                if let Some(d) = &detach_tx {
                    let _ = d.send(true);
                }
            } else if stdin_once {
                let _ = tx.send(StdinMsg::Close).await;
            }
        }
    });
    let out = output_stream(handle, raw, want_out, want_err);
    futures_util::pin_mut!(out);
    loop {
        tokio::select! {
            chunk = out.next() => match chunk {
                Some(c) => {
                    if writer.write_all(&c).await.is_err() {
                        break;
                    }
                    let _ = writer.flush().await;
                }
                None => break,
            },
            // Only an actual detach ends the relay; the input side ending (client EOF) does not
            // (then this branch errors and is skipped).
            Ok(()) = detach_rx.changed() => {
                if *detach_rx.borrow() {
                    break;
                }
            }
        }
    }
    let _ = writer.shutdown().await;
    input.abort();
}

/// Relays an attach over a WebSocket: the frames on `io` are bridged to an in-memory pipe
/// whose other end is an ordinary relay (raw streams: no stdcopy framing).
pub(crate) async fn relay_websocket<IO>(io: IO, opcode: u8, handle: AttachHandle, streams: Relayed)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (local, relay_end) = tokio::io::duplex(64 * 1024);
    tokio::join!(
        crate::websocket::bridge(io, local, opcode),
        relay(relay_end, handle, streams)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_key_parsing() {
        assert_eq!(
            parse_detach_keys("ctrl-p,ctrl-q").unwrap(),
            vec![0x10, 0x11]
        );
        assert_eq!(parse_detach_keys("a,ctrl-@").unwrap(), vec![b'a', 0]);
        assert!(parse_detach_keys("ctrl-").is_err());
    }

    #[test]
    fn a_sequence_split_across_reads_is_held_back_and_swallowed() {
        let mut keys = DetachKeys::new(vec![0x10, 0x11]);
        assert_eq!(keys.feed(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(keys.feed(b"\x11rest"), (vec![], true));
    }

    #[test]
    fn a_broken_sequence_lets_its_bytes_through() {
        let mut keys = DetachKeys::new(vec![0x10, 0x11]);
        assert_eq!(keys.feed(b"\x10"), (vec![], false));
        assert_eq!(keys.feed(b"x"), (b"\x10x".to_vec(), false));
        assert_eq!(keys.feed(b"\x10\x10\x11"), (b"\x10".to_vec(), true));
    }

    #[test]
    fn without_keys_everything_passes() {
        let mut keys = DetachKeys::new(vec![]);
        assert_eq!(keys.feed(b"\x10\x11"), (b"\x10\x11".to_vec(), false));
    }
}
