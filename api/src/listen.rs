//! Listeners (`-H unix://`, `tcp://` with or without TLS) and the HTTP/1.1 serve loop with
//! upgrades (attach/exec hijacking), read timeouts and graceful shutdown.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// Where to listen, parsed from `-H`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenAddr {
    Unix(PathBuf),
    Tcp(String),
}

pub const DEFAULT_UNIX_SOCKET: &str = "/var/run/docker.sock";

/// Parses dockerd's `-H` forms: `unix://PATH`, `unix://` (default socket), `tcp://HOST:PORT`,
/// `tcp://:PORT`, and a bare path or `HOST:PORT`.
pub fn parse_host(s: &str) -> Result<ListenAddr, String> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix("unix://") {
        let path = if rest.is_empty() {
            DEFAULT_UNIX_SOCKET
        } else {
            rest
        };
        return Ok(ListenAddr::Unix(PathBuf::from(path)));
    }
    if let Some(rest) = s.strip_prefix("tcp://") {
        let rest = rest.trim_end_matches('/');
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("invalid tcp address {s}: a port is required"))?;
        let port: u16 = port.parse().map_err(|_| format!("invalid port in {s}"))?;
        let host = if host.is_empty() { "0.0.0.0" } else { host };
        return Ok(ListenAddr::Tcp(format!("{host}:{port}")));
    }
    if s.starts_with("fd://") {
        return Err("fd:// (socket activation) is not supported yet; use unix:// or tcp://".into());
    }
    if s.starts_with('/') {
        return Ok(ListenAddr::Unix(PathBuf::from(s)));
    }
    if s.contains("://") {
        return Err(format!("invalid host {s}: unsupported protocol"));
    }
    parse_host(&format!("tcp://{s}"))
}

pub enum Listener {
    Unix(UnixListener, PathBuf),
    Tcp(TcpListener, Option<TlsAcceptor>),
}

/// The socket's group when none is given (`-G`), which may be missing.
pub const DEFAULT_SOCKET_GROUP: &str = "docker";

/// Binds a unix socket: refuses a path another daemon answers on, replaces a stale one, and
/// makes it `root:<group>` 0660.
pub async fn bind_unix(path: &Path, group: Option<&str>) -> Result<Listener, String> {
    if path.exists() {
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            return Err(format!(
                "another daemon is already listening on {}",
                path.display()
            ));
        }
        std::fs::remove_file(path)
            .map_err(|e| format!("cannot remove stale socket {}: {e}", path.display()))?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let listener = UnixListener::bind(path)
        .map_err(|e| format!("cannot listen on {}: {e}", path.display()))?;
    // As dockerd: a missing default group leaves the socket to root; one named is an error.
    let gid = match group {
        Some(name) => match nix::unistd::Group::from_name(name) {
            Ok(Some(g)) => Some(g.gid),
            _ if name == DEFAULT_SOCKET_GROUP => {
                tracing::warn!(group = name, "group not found; socket stays owned by root");
                None
            }
            _ => {
                let _ = std::fs::remove_file(path);
                return Err(format!("group {name} not found"));
            }
        },
        None => None,
    };
    if let Some(gid) = gid {
        nix::unistd::chown(path, None, Some(gid))
            .map_err(|e| format!("cannot chown {}: {e}", path.display()))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| format!("cannot chmod {}: {e}", path.display()))?;
    Ok(Listener::Unix(listener, path.to_path_buf()))
}

pub async fn bind_tcp(addr: &str, tls: Option<TlsAcceptor>) -> Result<Listener, String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on tcp://{addr}: {e}"))?;
    Ok(Listener::Tcp(listener, tls))
}

/// TLS settings from `--tls`, `--tlsverify`, `--tlscacert`, `--tlscert`, `--tlskey`.
#[derive(Clone, Debug, Default)]
pub struct TlsFiles {
    pub verify: bool,
    pub ca: Option<PathBuf>,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn tls_acceptor(files: &TlsFiles) -> Result<TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|it| it.collect())
        .map_err(|e| format!("cannot read --tlscert {}: {e}", files.cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| format!("cannot read --tlskey {}: {e}", files.key.display()))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = if files.verify {
        let ca = files
            .ca
            .as_ref()
            .ok_or("--tlsverify needs --tlscacert to verify clients")?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca)
            .map_err(|e| format!("cannot read --tlscacert {}: {e}", ca.display()))?
        {
            let cert =
                cert.map_err(|e| format!("cannot read --tlscacert {}: {e}", ca.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("bad CA certificate in {}: {e}", ca.display()))?;
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("TLS client verification: {e}"))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate and key: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// How long in-flight requests may take to finish once shutdown starts. Streams that never
/// end on their own (`/events`, attach) are cut after this.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a client may take over a request's headers, and may leave its body without a
/// byte, before the connection is dropped: dockerd's header timeout (5 minutes). Without a
/// limit on the body, a request whose Content-Length exceeds what the client sends holds a
/// connection and its handler forever.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(300);

/// Serves `app` on every listener until `shutdown` turns true, then stops accepting and lets
/// in-flight requests finish.
pub async fn serve(
    listeners: Vec<Listener>,
    app: Router,
    read_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = Arc::new(GracefulShutdown::new());
    let mut accept_tasks = Vec::new();
    for listener in listeners {
        let app = app.clone();
        let graceful = graceful.clone();
        let mut stop = shutdown.clone();
        accept_tasks.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    conn = accept(&listener) => match conn {
                        Ok(Some(io)) => serve_connection(io, app.clone(), read_timeout, &graceful),
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            }
            if let Listener::Unix(_, path) = &listener {
                let _ = std::fs::remove_file(path);
            }
        }));
    }
    let _ = shutdown.wait_for(|s| *s).await;
    for t in accept_tasks {
        let _ = t.await;
    }
    let graceful = Arc::try_unwrap(graceful).unwrap_or_else(|_| GracefulShutdown::new());
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open after {DRAIN_TIMEOUT:?}; closing them");
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// Accepts one connection; `Ok(None)` when a TLS handshake failed (logged, not fatal).
async fn accept(listener: &Listener) -> std::io::Result<Option<Box<dyn Io>>> {
    match listener {
        Listener::Unix(l, _) => Ok(Some(Box::new(l.accept().await?.0))),
        Listener::Tcp(l, None) => {
            let (s, _) = l.accept().await?;
            let _ = s.set_nodelay(true);
            Ok(Some(Box::new(s)))
        }
        Listener::Tcp(l, Some(tls)) => {
            let (s, peer): (_, SocketAddr) = l.accept().await?;
            let _ = s.set_nodelay(true);
            // Handshakes run in the connection's own task so a slow client can't stall accept.
            let tls = tls.clone();
            let (tx, rx) = tokio::sync::oneshot::channel();
            tokio::spawn(async move {
                let r = tokio::time::timeout(Duration::from_secs(10), tls.accept(s)).await;
                let _ = tx.send(r);
            });
            match rx.await {
                Ok(Ok(Ok(stream))) => Ok(Some(Box::new(stream))),
                Ok(Ok(Err(e))) => {
                    tracing::debug!(%peer, "TLS handshake failed: {e}");
                    Ok(None)
                }
                _ => Ok(None),
            }
        }
    }
}

fn serve_connection(
    io: Box<dyn Io>,
    app: Router,
    read_timeout: Duration,
    graceful: &GracefulShutdown,
) {
    let app = tower::ServiceBuilder::new()
        .map_request(move |req: hyper::Request<hyper::body::Incoming>| {
            req.map(|body| axum::body::Body::new(IdleLimitedBody::new(body, read_timeout)))
        })
        .service(app);
    let service = TowerToHyperService::new(app);
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(read_timeout);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    let conn = graceful.watch(conn.into_owned());
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("connection ended: {e}");
        }
    });
}

/// A request body that fails when the client leaves it without a byte for a while (the
/// handler then answers 400 and the connection closes). Only the time spent waiting on the
/// client counts: a build context or an image archive may take as long as it needs while it
/// keeps coming, and a handler busy between two reads is never cut short.
struct IdleLimitedBody {
    inner: hyper::body::Incoming,
    limit: Duration,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
    /// Whether the last poll found nothing: the deadline then runs from that first wait.
    waiting: bool,
}

impl IdleLimitedBody {
    fn new(inner: hyper::body::Incoming, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            deadline: Box::pin(tokio::time::sleep(limit)),
            waiting: false,
        }
    }
}

impl http_body::Body for IdleLimitedBody {
    type Data = axum::body::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        use std::task::Poll;
        let this = self.get_mut();
        match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.waiting = false;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                if !this.waiting {
                    this.waiting = true;
                    let until = tokio::time::Instant::now() + this.limit;
                    this.deadline.as_mut().reset(until);
                }
                match this.deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        Poll::Ready(Some(Err(
                            format!("no data for {} s", this.limit.as_secs()).into()
                        )))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_forms() {
        assert_eq!(
            parse_host("unix:///tmp/x.sock"),
            Ok(ListenAddr::Unix("/tmp/x.sock".into()))
        );
        assert_eq!(
            parse_host("unix://"),
            Ok(ListenAddr::Unix(DEFAULT_UNIX_SOCKET.into()))
        );
        assert_eq!(
            parse_host("tcp://127.0.0.1:2375"),
            Ok(ListenAddr::Tcp("127.0.0.1:2375".into()))
        );
        assert_eq!(
            parse_host("tcp://:2376"),
            Ok(ListenAddr::Tcp("0.0.0.0:2376".into()))
        );
        assert_eq!(
            parse_host("127.0.0.1:2375"),
            Ok(ListenAddr::Tcp("127.0.0.1:2375".into()))
        );
        assert!(parse_host("tcp://127.0.0.1").is_err());
        assert!(parse_host("ftp://x").is_err());
        assert!(parse_host("fd://").is_err());
    }
}
