//! The tests' and the benchmark's HTTP/1.1 client over a unix socket: hyper's client on a
//! connection made by hyperlocal's connector, driven by a current-thread runtime so that
//! callers stay synchronous.
//!
//! Nothing here retries or rewrites: the status, headers and body are what the daemon sent
//! (hyper hands header names back in lower case; look them up with [`Response::header`]).
//! Tests that need the exact bytes on the wire (the `101 UPGRADED` head, header spelling)
//! speak to the socket themselves.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use tower_service::Service as _;

/// How long a plain request may take before it is treated as hung.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A complete response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// Header lines in the order hyper keeps them, names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// First value of a header, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Every value of a header, matched case-insensitively.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; panics with the body if it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response body is not JSON ({e}); status {} body {:?}",
                self.status,
                self.text()
            )
        })
    }

    /// A one-line summary for assertion messages.
    pub fn describe(&self) -> String {
        let mut s = format!("HTTP {} {}", self.status, self.reason);
        for (k, v) in &self.headers {
            s.push_str(&format!("\n  {k}: {v}"));
        }
        s.push_str(&format!("\n  body: {:?}", self.text()));
        s
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("timed out waiting for {what}"),
    )
}

fn hyper_error(e: hyper::Error) -> io::Error {
    io::Error::other(e)
}

/// The status line's reason as sent when it is not the standard one, else the standard one.
fn reason_of(resp: &hyper::Response<Incoming>) -> String {
    match resp.extensions().get::<hyper::ext::ReasonPhrase>() {
        Some(r) => String::from_utf8_lossy(r.as_bytes()).into_owned(),
        None => resp
            .status()
            .canonical_reason()
            .unwrap_or_default()
            .to_string(),
    }
}

fn header_pairs(headers: &http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// The request target as a URI. Tests write queries the way the CLI's users read them
/// (`filters={"status":["exited"]}`); bytes a URI may not carry are percent-encoded, which
/// the daemon decodes back to the same query.
fn target(path: &str) -> io::Result<http::Uri> {
    if let Ok(uri) = path.parse() {
        return Ok(uri);
    }
    let mut encoded = String::with_capacity(path.len() * 2);
    for b in path.bytes() {
        if b.is_ascii_graphic() && !b"\"<>\\^`{|}".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    encoded
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{path:?}: {e}")))
}

/// Runs `f` to completion on `rt`. Called from async code (the SDK tests drive their client
/// on a runtime of their own and call the harness in between), it runs on a thread of its
/// own, since a runtime cannot block inside another.
fn drive<F>(rt: &tokio::runtime::Runtime, f: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return rt.block_on(f);
    }
    std::thread::scope(|s| {
        s.spawn(|| rt.block_on(f))
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// A client's runtime; dropped without waiting, so a client may also go away inside async
/// code.
struct ClientRuntime(Option<tokio::runtime::Runtime>);

impl ClientRuntime {
    fn get(&self) -> &tokio::runtime::Runtime {
        self.0.as_ref().expect("runtime present until drop")
    }
}

impl Drop for ClientRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

fn runtime() -> io::Result<ClientRuntime> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(ClientRuntime(Some(rt)))
}

/// Opens a connection on `rt` and hands it to hyper; the connection's task runs whenever
/// the runtime is driven (each call blocks on it).
fn open(
    rt: &tokio::runtime::Runtime,
    socket: &Path,
    timeout: Duration,
) -> io::Result<SendRequest<Full<Bytes>>> {
    drive(rt, connect_on_runtime(socket, timeout))
}

/// [`open`]'s work, for code already running on the client's runtime.
async fn connect_on_runtime(
    socket: &Path,
    timeout: Duration,
) -> io::Result<SendRequest<Full<Bytes>>> {
    let uri = hyperlocal::Uri::new(socket, "/").into();
    let stream = tokio::time::timeout(timeout, hyperlocal::UnixConnector.call(uri))
        .await
        .map_err(|_| timed_out("the connection"))??;
    let (sender, conn) = hyper::client::conn::http1::handshake(stream)
        .await
        .map_err(hyper_error)?;
    tokio::spawn(conn.with_upgrades());
    Ok(sender)
}

fn build(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<hyper::Request<Full<Bytes>>> {
    let has = |n: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    let mut req = hyper::Request::builder().method(method).uri(target(path)?);
    if !has("host") {
        req = req.header("Host", "docker");
    }
    if !has("user-agent") {
        req = req.header("User-Agent", "berth-compat-tests");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(Full::new(Bytes::copy_from_slice(body)))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// Sends `req` and waits for the response head until `deadline`.
async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    req: hyper::Request<Full<Bytes>>,
    deadline: Instant,
) -> io::Result<hyper::Response<Incoming>> {
    let left = deadline.saturating_duration_since(Instant::now());
    tokio::time::timeout(left, async {
        sender.ready().await.map_err(hyper_error)?;
        sender.send_request(req).await.map_err(hyper_error)
    })
    .await
    .map_err(|_| timed_out("the response head"))?
}

/// One connection to a daemon socket; requests on it reuse the connection (keep-alive),
/// and a request after the daemon closed it opens a new one.
pub struct Conn {
    rt: ClientRuntime,
    sender: SendRequest<Full<Bytes>>,
    socket: PathBuf,
    pub timeout: Duration,
}

impl Conn {
    pub fn connect(path: impl AsRef<Path>) -> io::Result<Conn> {
        let socket = path.as_ref().to_path_buf();
        let rt = runtime()?;
        let sender = open(rt.get(), &socket, DEFAULT_TIMEOUT)?;
        Ok(Conn {
            rt,
            sender,
            socket,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Sends one request and reads its complete response.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        let req = build(method, path, headers, body)?;
        let deadline = Instant::now() + self.timeout;
        let (sender, socket, timeout) = (&mut self.sender, &self.socket, self.timeout);
        // One entry into the runtime per request.
        drive(self.rt.get(), async {
            // A connection the daemon closed (after `Connection: close`, or a body it ended
            // by closing) carries no more requests: the request goes on a new one.
            if sender.is_closed() || sender.ready().await.is_err() {
                *sender = connect_on_runtime(socket, timeout).await?;
            }
            let resp = send(sender, req, deadline).await?;
            let status = resp.status().as_u16();
            let reason = reason_of(&resp);
            let headers = header_pairs(resp.headers());
            let left = deadline.saturating_duration_since(Instant::now());
            let body = tokio::time::timeout(left, resp.into_body().collect())
                .await
                .map_err(|_| timed_out("response bytes"))?
                .map_err(hyper_error)?
                .to_bytes()
                .to_vec();
            Ok(Response {
                status,
                reason,
                headers,
                body,
            })
        })
    }
}

/// One request on a fresh connection.
pub fn request(
    socket: impl AsRef<Path>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    Conn::connect(socket)?.request(method, path, headers, body)
}

/// A response whose body is read incrementally (e.g. `GET /events`).
pub struct Stream {
    rt: ClientRuntime,
    body: Incoming,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    /// Body bytes not yet handed out.
    pending: Vec<u8>,
    ended: bool,
}

impl Stream {
    /// Sends the request and returns as soon as the response headers have arrived (or fails
    /// after `header_timeout`).
    pub fn open(
        socket: impl AsRef<Path>,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        header_timeout: Duration,
    ) -> io::Result<Stream> {
        let rt = runtime()?;
        let mut sender = open(rt.get(), socket.as_ref(), header_timeout)?;
        let req = build(method, path, headers, body)?;
        let resp = drive(
            rt.get(),
            send(&mut sender, req, Instant::now() + header_timeout),
        )?;
        Ok(Stream {
            status: resp.status().as_u16(),
            reason: reason_of(&resp),
            headers: header_pairs(resp.headers()),
            body: resp.into_body(),
            rt,
            pending: Vec::new(),
            ended: false,
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// True once the body has ended and everything in it was handed out.
    pub fn finished(&self) -> bool {
        self.pending.is_empty() && self.ended
    }

    /// Reads body bytes until `want` says it has enough, the body ends or `timeout`
    /// passes. Returns Ok(false) if the body ended first.
    fn pump(&mut self, timeout: Duration, want: impl Fn(&[u8]) -> bool) -> io::Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            if want(&self.pending) {
                return Ok(true);
            }
            if self.ended {
                return Ok(false);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let body = &mut self.body;
            let frame = drive(self.rt.get(), async {
                tokio::time::timeout(left, body.frame()).await
            })
            .map_err(|_| timed_out("response bytes"))?;
            match frame {
                None => self.ended = true,
                Some(frame) => {
                    if let Ok(data) = frame.map_err(hyper_error)?.into_data() {
                        self.pending.extend_from_slice(&data);
                    }
                }
            }
        }
    }

    /// The next `\n`-terminated line of the body without its newline. Ok(None) when the body
    /// ended (any unterminated tail is returned first as a last line); Err(TimedOut) if no
    /// complete line arrived within `timeout`.
    pub fn next_line(&mut self, timeout: Duration) -> io::Result<Option<String>> {
        let got = self.pump(timeout, |b| b.contains(&b'\n'))?;
        if got {
            let pos = self.pending.iter().position(|&c| c == b'\n').unwrap_or(0);
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            return Ok(Some(
                String::from_utf8_lossy(&line[..line.len() - 1]).into_owned(),
            ));
        }
        if self.pending.is_empty() {
            Ok(None)
        } else {
            let line = std::mem::take(&mut self.pending);
            Ok(Some(String::from_utf8_lossy(&line).into_owned()))
        }
    }

    /// Reads the rest of the body until it ends; fails if it has not ended within `timeout`.
    pub fn read_to_end(&mut self, timeout: Duration) -> io::Result<Vec<u8>> {
        self.pump(timeout, |_| false)?;
        Ok(std::mem::take(&mut self.pending))
    }
}

#[cfg(test)]
mod tests {
    use super::target;

    #[test]
    fn a_query_with_json_is_percent_encoded_only_where_a_uri_needs_it() {
        let uri = target(r#"/containers/json?filters={"status":["exited"]}&all=1"#).unwrap();
        assert_eq!(
            uri.path_and_query().unwrap().as_str(),
            "/containers/json?filters=%7B%22status%22:[%22exited%22]%7D&all=1"
        );
        let plain = target("/images/busybox:latest/json?x=%20").unwrap();
        assert_eq!(
            plain.path_and_query().unwrap().as_str(),
            "/images/busybox:latest/json?x=%20"
        );
    }
}
