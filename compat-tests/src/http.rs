//! A deliberately small HTTP/1.1 client over a unix socket.
//!
//! The tests want to see the bytes a daemon really sends (status line, header spelling,
//! framing, trailing newlines), so nothing here normalises or retries. Bodies framed by
//! `Content-Length`, by `Transfer-Encoding: chunked` or by the connection closing are all
//! understood; the same decoder serves one-shot requests, kept-alive connections (the
//! benchmark) and long-lived streams such as `GET /events`.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a plain request may take before it is treated as hung.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Status code, reason phrase and headers of a response.
type Head = (u16, String, Vec<(String, String)>);

/// A complete response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// Header lines in the order received, names as spelled by the server.
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

/// Incremental decoder for one response body.
#[derive(Debug)]
enum Framing {
    /// `Content-Length`: bytes still to come.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked(ChunkState),
    /// No framing: the body ends when the peer closes.
    Close,
    /// Nothing (more) to read.
    Done,
}

#[derive(Debug)]
enum ChunkState {
    /// Waiting for a `size[;ext]\r\n` line.
    Size,
    /// Inside a chunk with this many bytes left.
    Data(u64),
    /// After chunk data, waiting for its `\r\n`.
    DataEnd,
    /// After the zero chunk: trailer lines until an empty one.
    Trailer,
}

impl Framing {
    /// Moves decoded body bytes from `raw` to `out`. Returns an error on malformed framing.
    fn decode(&mut self, raw: &mut Vec<u8>, out: &mut Vec<u8>) -> io::Result<()> {
        loop {
            match self {
                Framing::Done => return Ok(()),
                Framing::Close => {
                    out.append(raw);
                    return Ok(());
                }
                Framing::Length(left) => {
                    let n = (*left).min(raw.len() as u64) as usize;
                    out.extend(raw.drain(..n));
                    *left -= n as u64;
                    if *left == 0 {
                        *self = Framing::Done;
                    }
                    return Ok(());
                }
                Framing::Chunked(state) => match state {
                    ChunkState::Size => {
                        let Some(end) = find_crlf(raw) else {
                            return Ok(());
                        };
                        let line = String::from_utf8_lossy(&raw[..end]).into_owned();
                        raw.drain(..end + 2);
                        let hex = line.split(';').next().unwrap_or("").trim();
                        let size = u64::from_str_radix(hex, 16).map_err(|_| {
                            io::Error::new(
                                io::ErrorKind::InvalidData,
                                format!("bad chunk size line {line:?}"),
                            )
                        })?;
                        *state = if size == 0 {
                            ChunkState::Trailer
                        } else {
                            ChunkState::Data(size)
                        };
                    }
                    ChunkState::Data(left) => {
                        if raw.is_empty() {
                            return Ok(());
                        }
                        let n = (*left).min(raw.len() as u64) as usize;
                        out.extend(raw.drain(..n));
                        *left -= n as u64;
                        if *left == 0 {
                            *state = ChunkState::DataEnd;
                        }
                    }
                    ChunkState::DataEnd => {
                        if raw.len() < 2 {
                            return Ok(());
                        }
                        if &raw[..2] != b"\r\n" {
                            return Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                "chunk data not followed by CRLF",
                            ));
                        }
                        raw.drain(..2);
                        *state = ChunkState::Size;
                    }
                    ChunkState::Trailer => {
                        let Some(end) = find_crlf(raw) else {
                            return Ok(());
                        };
                        raw.drain(..end + 2);
                        if end == 0 {
                            *self = Framing::Done;
                        }
                    }
                },
            }
        }
    }

    fn is_done(&self) -> bool {
        matches!(self, Framing::Done)
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("timed out waiting for {what}"),
    )
}

/// One connection to a daemon socket; requests on it reuse the connection (keep-alive).
pub struct Conn {
    stream: UnixStream,
    /// Bytes received but not yet consumed.
    raw: Vec<u8>,
    /// Set when the server asked to close or closed; the next request reconnects.
    closed: bool,
    path: PathBuf,
    pub timeout: Duration,
}

impl Conn {
    pub fn connect(path: impl AsRef<Path>) -> io::Result<Conn> {
        let path = path.as_ref().to_path_buf();
        let stream = UnixStream::connect(&path)?;
        Ok(Conn {
            stream,
            raw: Vec::new(),
            closed: false,
            path,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Sends one request and reads its complete response. Reconnects first if the previous
    /// response closed the connection.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        if self.closed {
            self.stream = UnixStream::connect(&self.path)?;
            self.raw.clear();
            self.closed = false;
        }
        let deadline = Instant::now() + self.timeout;
        self.send_head(method, path, headers, body)?;
        let (status, reason, resp_headers) = self.read_head(deadline)?;
        let mut framing = framing_for(method, status, &resp_headers);
        let mut out = Vec::new();
        loop {
            framing.decode(&mut self.raw, &mut out)?;
            if framing.is_done() {
                break;
            }
            if !self.fill(deadline)? {
                match framing {
                    Framing::Close => break,
                    _ => {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!("connection closed mid-body after {} bytes", out.len()),
                        ));
                    }
                }
            }
        }
        if matches!(framing, Framing::Close)
            || find_header(&resp_headers, "connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        {
            self.closed = true;
        }
        Ok(Response {
            status,
            reason,
            headers: resp_headers,
            body: out,
        })
    }

    fn send_head(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<()> {
        let mut req = format!("{method} {path} HTTP/1.1\r\n");
        let has = |n: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
        if !has("host") {
            req.push_str("Host: docker\r\n");
        }
        if !has("user-agent") {
            req.push_str("User-Agent: berth-compat-tests\r\n");
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if !has("content-length")
            && !has("transfer-encoding")
            && (!body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH"))
        {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.stream.set_write_timeout(Some(self.timeout))?;
        self.stream.write_all(&bytes)?;
        self.stream.flush()
    }

    /// Reads more bytes into `raw`. Returns false on EOF.
    fn fill(&mut self, deadline: Instant) -> io::Result<bool> {
        let now = Instant::now();
        if now >= deadline {
            return Err(timed_out("response bytes"));
        }
        self.stream.set_read_timeout(Some(deadline - now))?;
        let mut buf = [0u8; 16 * 1024];
        match self.stream.read(&mut buf) {
            Ok(0) => {
                self.closed = true;
                Ok(false)
            }
            Ok(n) => {
                self.raw.extend_from_slice(&buf[..n]);
                Ok(true)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(timed_out("response bytes"))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Reads a status line and headers, skipping interim 1xx responses other than 101.
    fn read_head(&mut self, deadline: Instant) -> io::Result<Head> {
        loop {
            let end = loop {
                if let Some(p) = self.raw.windows(4).position(|w| w == b"\r\n\r\n") {
                    break p;
                }
                if !self.fill(deadline)? {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "connection closed before response headers (got {:?})",
                            String::from_utf8_lossy(&self.raw)
                        ),
                    ));
                }
            };
            let head = String::from_utf8_lossy(&self.raw[..end]).into_owned();
            self.raw.drain(..end + 4);
            let mut lines = head.split("\r\n");
            let status_line = lines.next().unwrap_or("");
            let mut parts = status_line.splitn(3, ' ');
            let proto = parts.next().unwrap_or("");
            if !proto.starts_with("HTTP/1.") {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad status line {status_line:?}"),
                ));
            }
            let status: u16 = parts.next().and_then(|s| s.parse().ok()).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad status line {status_line:?}"),
                )
            })?;
            let reason = parts.next().unwrap_or("").to_string();
            let mut headers = Vec::new();
            for line in lines {
                if let Some((k, v)) = line.split_once(':') {
                    headers.push((k.trim().to_string(), v.trim().to_string()));
                }
            }
            if (100..200).contains(&status) && status != 101 {
                continue;
            }
            return Ok((status, reason, headers));
        }
    }
}

fn framing_for(method: &str, status: u16, headers: &[(String, String)]) -> Framing {
    if method.eq_ignore_ascii_case("HEAD")
        || (100..200).contains(&status)
        || status == 204
        || status == 304
    {
        return Framing::Done;
    }
    if find_header(headers, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        return Framing::Chunked(ChunkState::Size);
    }
    if let Some(n) = find_header(headers, "content-length").and_then(|v| v.parse::<u64>().ok()) {
        return if n == 0 {
            Framing::Done
        } else {
            Framing::Length(n)
        };
    }
    Framing::Close
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
    conn: Conn,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    framing: Framing,
    /// Decoded body bytes not yet handed out.
    pending: Vec<u8>,
    eof: bool,
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
        let mut conn = Conn::connect(socket)?;
        conn.timeout = header_timeout;
        conn.send_head(method, path, headers, body)?;
        let (status, reason, headers) = conn.read_head(Instant::now() + header_timeout)?;
        let framing = framing_for(method, status, &headers);
        Ok(Stream {
            conn,
            status,
            reason,
            headers,
            framing,
            pending: Vec::new(),
            eof: false,
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// True once the body has ended (final chunk seen, length reached or peer closed).
    pub fn finished(&self) -> bool {
        self.pending.is_empty() && (self.eof || self.framing.is_done())
    }

    /// Reads decoded body bytes until `want` says it has enough, the body ends or `timeout`
    /// passes. Returns Ok(false) if the body ended first.
    fn pump(&mut self, timeout: Duration, want: impl Fn(&[u8]) -> bool) -> io::Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            self.framing.decode(&mut self.conn.raw, &mut self.pending)?;
            if want(&self.pending) {
                return Ok(true);
            }
            if self.eof || self.framing.is_done() {
                return Ok(false);
            }
            if !self.conn.fill(deadline)? {
                self.eof = true;
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
