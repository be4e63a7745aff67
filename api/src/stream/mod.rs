//! Streaming responses: JSON messages one per line (each flushed as its own chunk), and
//! request bodies spooled to disk.

pub mod framing;
pub mod hijack;
pub mod stdcopy;

use std::path::Path;

use axum::body::{Body, Bytes};
use axum::response::Response;
use futures_util::StreamExt as _;
use http::{HeaderValue, header};
use serde::Serialize;
use tokio::io::AsyncWriteExt as _;

use crate::error::ApiError;

/// One JSON message of the progress stream (`docker load`, pull, push, build).
#[derive(Clone, Debug, Default, Serialize)]
pub struct JsonMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "errorDetail", skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<ErrorDetail>,
    /// Legacy copy of `errorDetail.message`; the CLI reads only `errorDetail`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ErrorDetail {
    /// A failed build step's exit code (the CLI exits with it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    pub message: String,
}

impl JsonMessage {
    pub fn stream(text: impl Into<String>) -> Self {
        JsonMessage {
            stream: Some(text.into()),
            ..Default::default()
        }
    }

    pub fn error(message: impl Into<String>) -> Self {
        let message = message.into();
        JsonMessage {
            error_detail: Some(ErrorDetail {
                code: None,
                message: message.clone(),
            }),
            error: Some(message),
            ..Default::default()
        }
    }

    pub fn to_line(&self) -> Bytes {
        let mut v = serde_json::to_vec(self).unwrap_or_default();
        v.push(b'\n');
        Bytes::from(v)
    }
}

/// A finished list of messages as a JSON-lines response.
pub fn json_messages(messages: Vec<JsonMessage>) -> Response {
    let chunks: Vec<Result<Bytes, std::convert::Infallible>> =
        messages.iter().map(|m| Ok(m.to_line())).collect();
    let mut resp = Response::new(Body::from_stream(futures_util::stream::iter(chunks)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A response that streams `chunks` as they come until the daemon shuts down (`GET
/// /events`, `GET /containers/{id}/stats`): the body ends then instead of holding the
/// shutdown up.
pub fn until_shutdown<S>(
    chunks: S,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    content_type: &'static str,
) -> Response
where
    S: futures_util::Stream<Item = Bytes> + Send + 'static,
{
    let stream = chunks
        .map(Ok::<_, std::convert::Infallible>)
        .take_until(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        });
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// Writes a request body to `path`; returns its size.
pub async fn spool_body(body: Body, path: &Path) -> Result<u64, ApiError> {
    let mut file = tokio::fs::File::create(path).await.map_err(|e| {
        ApiError::from(berth_engine::Error::internal(format!(
            "cannot spool request: {e}"
        )))
    })?;
    let mut stream = body.into_data_stream();
    let mut total = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::invalid(format!("error reading request body: {e}")))?;
        total += chunk.len() as u64;
        file.write_all(&chunk).await.map_err(|e| {
            ApiError::from(berth_engine::Error::internal(format!(
                "cannot spool request: {e}"
            )))
        })?;
    }
    file.flush().await.ok();
    Ok(total)
}

/// Reads and discards what is left of a request body (up to `limit` bytes), so a client still
/// sending it reads our error instead of a broken pipe (Go's server does the same).
pub async fn drain(body: Body, limit: usize) {
    let mut stream = body.into_data_stream();
    let mut seen = 0usize;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while seen < limit {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(chunk))) => seen += chunk.len(),
            _ => break,
        }
    }
}

/// Streams a scratch file as the response body and removes its directory at once (the open
/// file stays readable until the stream ends).
pub async fn scratch_file_response(
    path: &Path,
    content_type: &'static str,
) -> Result<Response, ApiError> {
    let file = tokio::fs::File::open(path).await.map_err(|e| {
        ApiError::from(berth_engine::Error::internal(format!(
            "cannot open {}: {e}",
            path.display()
        )))
    })?;
    if let Some(dir) = path.parent() {
        let _ = tokio::fs::remove_dir_all(dir).await;
    }
    let stream = futures_util::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt as _;
        let mut buf = vec![0u8; 256 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(resp)
}

/// A blocking `Read` over a request body, for code that parses it on a blocking thread
/// (archives): chunks are handed over through a bounded channel as they arrive.
pub struct BodyReader {
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    current: Bytes,
}

impl BodyReader {
    pub fn new(body: Body) -> BodyReader {
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        tokio::spawn(async move {
            let mut stream = body.into_data_stream();
            while let Some(chunk) = stream.next().await {
                let item = chunk
                    .map_err(|e| std::io::Error::other(format!("error reading request body: {e}")));
                let failed = item.is_err();
                if failed {
                    let _ = tx.send(item).await;
                    return;
                }
                if tx.send(item).await.is_err() {
                    // The parser stopped early (a bad archive): read the rest anyway, so the
                    // client gets our answer rather than a broken pipe.
                    let mut seen = 0usize;
                    while let Some(Ok(chunk)) = stream.next().await {
                        seen += chunk.len();
                        if seen > crate::error::DRAIN_LIMIT {
                            break;
                        }
                    }
                    return;
                }
            }
        });
        BodyReader {
            rx,
            current: Bytes::new(),
        }
    }
}

impl std::io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            // Called on a blocking thread (the archive parser runs in spawn_blocking).
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}
