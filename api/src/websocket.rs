//! The server side of RFC 6455 as `GET /containers/{id}/attach/ws` needs it: the opening
//! handshake's accept key, and a bridge that turns a WebSocket connection into a plain byte
//! stream so the attach relay serves it like a hijacked connection. Data frames carry raw
//! stdio both ways; pings are answered, a close frame ends the stream.

use axum::body::Body;
use axum::response::Response;
use base64::Engine as _;
use http::{HeaderValue, StatusCode, header};
use sha1::Digest as _;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, DuplexStream};

use crate::error::ApiError;

/// The GUID every server appends to the client's key (RFC 6455 section 1.3).
const HANDSHAKE_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Frames larger than this are refused: stdin arrives in small pieces, and a huge length
/// would otherwise make the server allocate whatever a client claims.
const MAX_FRAME_PAYLOAD: u64 = 16 << 20;

const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub fn accept_key(client_key: &str) -> String {
    let mut sha = sha1::Sha1::new();
    sha.update(client_key.trim().as_bytes());
    sha.update(HANDSHAKE_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// The client's `Sec-WebSocket-Key` of an opening handshake (`Upgrade: websocket` and
/// `Connection: upgrade` among the tokens); anything else is a 400.
pub fn handshake_key(headers: &http::HeaderMap) -> Result<String, ApiError> {
    let has = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|v| v.to_str().ok());
    match key {
        Some(key) if has(header::UPGRADE, "websocket") && has(header::CONNECTION, "upgrade") => {
            Ok(key.to_string())
        }
        _ => Err(ApiError::invalid("not a websocket handshake")),
    }
}

/// The 101 answer to a handshake with `client_key`.
pub fn switching_protocols(client_key: &str) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    // Base64 text is always a valid header value.
    if let Ok(accept) = HeaderValue::from_str(&accept_key(client_key)) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    resp
}

/// One unmasked, unfragmented server frame.
pub fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= u16::MAX as usize => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// A frame as a client sent it, unmasked.
#[derive(Debug, PartialEq, Eq)]
pub struct ClientFrame {
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// Reads one frame; `None` at a clean end of the connection.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Option<ClientFrame>> {
    let mut head = [0u8; 2];
    match r.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let opcode = head[0] & 0x0F;
    let masked = head[1] & 0x80 != 0;
    let len = match head[1] & 0x7F {
        126 => u64::from(r.read_u16().await?),
        127 => r.read_u64().await?,
        n => u64::from(n),
    };
    if len > MAX_FRAME_PAYLOAD {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("websocket frame of {len} bytes is too large"),
        ));
    }
    let mut mask = [0u8; 4];
    if masked {
        r.read_exact(&mut mask).await?;
    }
    let mut payload = vec![0u8; len as usize];
    r.read_exact(&mut payload).await?;
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    Ok(Some(ClientFrame { opcode, payload }))
}

/// Carries bytes between a WebSocket connection and `local`, the other end of which is read
/// and written as a plain stream: what `local` yields goes out as `data_opcode` frames, data
/// frames that arrive are written to `local`. Returns when either side ends.
pub async fn bridge<IO>(conn: IO, local: DuplexStream, data_opcode: u8)
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut conn_rd, conn_wr) = tokio::io::split(conn);
    let (mut local_rd, mut local_wr) = tokio::io::split(local);
    let conn_wr = std::sync::Arc::new(tokio::sync::Mutex::new(conn_wr));
    let out_wr = conn_wr.clone();
    let outgoing = tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match local_rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut w = out_wr.lock().await;
            if w.write_all(&frame(data_opcode, &buf[..n])).await.is_err() {
                return;
            }
            let _ = w.flush().await;
        }
        let mut w = out_wr.lock().await;
        let _ = w.write_all(&frame(OP_CLOSE, &1000u16.to_be_bytes())).await;
        let _ = w.shutdown().await;
    });
    let incoming = async {
        while let Ok(Some(f)) = read_frame(&mut conn_rd).await {
            match f.opcode {
                OP_TEXT | OP_BINARY | OP_CONTINUATION => {
                    let written = local_wr.write_all(&f.payload).await;
                    if written.is_err() {
                        break;
                    }
                }
                OP_PING => {
                    let mut w = conn_wr.lock().await;
                    if w.write_all(&frame(OP_PONG, &f.payload)).await.is_err() {
                        break;
                    }
                    let _ = w.flush().await;
                }
                OP_CLOSE => {
                    let mut w = conn_wr.lock().await;
                    let _ = w.write_all(&frame(OP_CLOSE, &f.payload)).await;
                    let _ = w.flush().await;
                    break;
                }
                _ => {}
            }
        }
        // The client's side ended: the relay sees end of input, as with a hijack.
        let _ = local_wr.shutdown().await;
    };
    tokio::pin!(incoming);
    let mut outgoing = outgoing;
    tokio::select! {
        // The client is gone or said goodbye: nothing more can reach it.
        () = &mut incoming => outgoing.abort(),
        // The streams ended and a close frame went out: give the client a moment to answer.
        _ = &mut outgoing => {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), incoming).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_of_the_rfc_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn frame_lengths_use_the_shortest_encoding() {
        assert_eq!(frame(OP_BINARY, b"hi"), [0x82, 2, b'h', b'i']);
        let mid = frame(OP_TEXT, &[0u8; 300]);
        assert_eq!(&mid[..4], &[0x81, 126, 1, 44]);
        let big = frame(OP_BINARY, &vec![0u8; 70_000]);
        assert_eq!(&big[..2], &[0x82, 127]);
        assert_eq!(u64::from_be_bytes(big[2..10].try_into().unwrap()), 70_000);
    }

    #[tokio::test]
    async fn masked_client_frames_are_unmasked() {
        // "Hello" masked with 37 fa 21 3d, from RFC 6455 section 5.7.
        let bytes = [
            0x81u8, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let mut r = &bytes[..];
        let f = read_frame(&mut r).await.unwrap().unwrap();
        assert_eq!(f.opcode, OP_TEXT);
        assert_eq!(f.payload, b"Hello");
        assert_eq!(read_frame(&mut r).await.unwrap(), None);
    }

    #[tokio::test]
    async fn oversized_frames_are_refused() {
        let mut bytes = vec![0x82u8, 127];
        bytes.extend_from_slice(&(MAX_FRAME_PAYLOAD + 1).to_be_bytes());
        let mut r = &bytes[..];
        assert!(read_frame(&mut r).await.is_err());
    }
}
