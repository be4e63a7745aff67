//! The containerd adapter: the only code in Berth that speaks gRPC. Every namespaced call
//! goes through [`Containerd::request`], which adds the namespace header; gRPC statuses are
//! classified into engine error kinds here and nowhere else.

pub mod content;
mod embedded;
mod exits;
pub mod snapshots;
pub mod tasks;

use std::path::{Path, PathBuf};
use std::time::Duration;

use containerd_client::services::v1::version_client::VersionClient;
use tonic::transport::{Channel, Endpoint};

pub use embedded::EmbeddedContainerd;

use crate::system::RuntimeVersion;
use crate::{Error, ErrorKind, Result};

/// How long a simple query may wait on containerd before the caller gets a 503.
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct Containerd {
    pub(crate) channel: Channel,
    pub(crate) namespace: String,
    socket: PathBuf,
    /// Who waits for which process's exit (shared by clones; see `exits`).
    exits: std::sync::Arc<exits::ExitWatch>,
    /// Bumped whenever the namespace's image records may have changed: by this client's
    /// own writes and by containerd's `/images/` events (shared by clones).
    images_changed: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Containerd {
    /// A lazily connecting channel: it dials on first use and redials after containerd
    /// restarts, so one `Containerd` lives as long as the daemon.
    pub fn connect(socket: &Path, namespace: &str) -> Result<Self> {
        let path = socket.to_path_buf();
        let channel = Endpoint::from_static("http://containerd.sock")
            .connect_timeout(Duration::from_secs(2))
            .connect_with_connector_lazy(tower::service_fn(move |_| {
                let path = path.clone();
                async move {
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                        tokio::net::UnixStream::connect(path).await?,
                    ))
                }
            }));
        Ok(Containerd {
            channel,
            namespace: namespace.to_string(),
            socket: socket.to_path_buf(),
            exits: exits::new_watch(),
            images_changed: Default::default(),
        })
    }

    /// A number that changes whenever the image records may have changed: a listing made
    /// under one value is still good while the value stays. Changes made by other clients
    /// are learnt from the event subscription, which this starts if it is not running.
    pub fn image_generation(&self) -> u64 {
        self.subscribe_exits_once();
        self.images_changed
            .load(std::sync::atomic::Ordering::Acquire)
    }

    pub(crate) fn images_may_have_changed(&self) {
        self.images_changed
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Wraps a message with the namespace header and a deadline.
    pub(crate) fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut req = self.request_without_deadline(message);
        req.set_timeout(QUERY_TIMEOUT);
        req
    }

    /// A unary call given at most the query deadline and a second, measured here: containerd
    /// only honours a deadline where its handler looks at it, and one queued behind a shim
    /// it is still reconnecting to (after a restart) can answer half a minute later. The
    /// caller gets containerd-unavailable instead of holding its container that long.
    pub(crate) async fn answered<T>(
        call: impl std::future::Future<Output = std::result::Result<T, tonic::Status>>,
    ) -> std::result::Result<T, tonic::Status> {
        match tokio::time::timeout(QUERY_TIMEOUT + Duration::from_secs(1), call).await {
            Ok(reply) => reply,
            Err(_) => Err(tonic::Status::deadline_exceeded(
                "no answer within the query deadline",
            )),
        }
    }

    /// A namespaced request that may wait as long as it takes (waits for exits).
    pub(crate) fn request_without_deadline<T>(&self, message: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(message);
        if let Ok(ns) = self.namespace.parse() {
            req.metadata_mut().insert("containerd-namespace", ns);
        }
        req
    }

    pub async fn version(&self) -> Result<RuntimeVersion> {
        let mut client = VersionClient::new(self.channel.clone());
        let mut req = tonic::Request::new(());
        req.set_timeout(QUERY_TIMEOUT);
        let reply = client.version(req).await.map_err(classify)?.into_inner();
        Ok(RuntimeVersion {
            version: reply.version,
            commit: reply.revision,
        })
    }
}

/// Maps a gRPC status to an engine error, as moby's `statusCodeFromGRPCError` does.
pub fn classify(status: tonic::Status) -> Error {
    use tonic::Code;
    let kind = match status.code() {
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            ErrorKind::InvalidParameter
        }
        Code::NotFound => ErrorKind::NotFound,
        Code::AlreadyExists => ErrorKind::Conflict,
        Code::PermissionDenied => ErrorKind::Forbidden,
        Code::Unauthenticated => ErrorKind::Unauthorized,
        Code::Unimplemented => ErrorKind::NotImplemented,
        // Cancelled: containerd died while answering (berthd cancels nothing; its own
        // deadlines are DeadlineExceeded), so a retry once it is back is the cure.
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => ErrorKind::Unavailable,
        // tonic's own failure to reach containerd (socket gone while it restarts).
        Code::Unknown if status.message().contains("transport error") => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    };
    let message = match kind {
        ErrorKind::Unavailable => format!("containerd is not available: {}", status.message()),
        _ => status.message().to_string(),
    };
    Error::new(kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_codes_map_like_moby() {
        let k = |c| classify(tonic::Status::new(c, "x")).kind;
        assert_eq!(
            classify(tonic::Status::new(tonic::Code::Unknown, "transport error")).kind,
            ErrorKind::Unavailable
        );
        assert_eq!(k(tonic::Code::NotFound), ErrorKind::NotFound);
        assert_eq!(
            k(tonic::Code::FailedPrecondition),
            ErrorKind::InvalidParameter
        );
        assert_eq!(k(tonic::Code::AlreadyExists), ErrorKind::Conflict);
        assert_eq!(k(tonic::Code::Unimplemented), ErrorKind::NotImplemented);
        assert_eq!(k(tonic::Code::Unavailable), ErrorKind::Unavailable);
        assert_eq!(k(tonic::Code::Cancelled), ErrorKind::Unavailable);
        assert_eq!(k(tonic::Code::DataLoss), ErrorKind::Internal);
    }
}
