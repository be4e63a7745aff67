//! Content store, image records and leases: the containerd calls behind the image store.

use std::collections::HashMap;
use std::time::Duration;

use containerd_client::services::v1::content_client::ContentClient;
use containerd_client::services::v1::images_client::ImagesClient;
use containerd_client::services::v1::leases_client::LeasesClient;
use containerd_client::services::v1::{
    CreateImageRequest, CreateRequest as CreateLeaseRequest, DeleteContentRequest,
    DeleteImageRequest, DeleteRequest as DeleteLeaseRequest, GetImageRequest, Image, InfoRequest,
    ListImagesRequest, ReadContentRequest, UpdateImageRequest, WriteAction, WriteContentRequest,
};
use containerd_client::types::Descriptor;
use futures_util::StreamExt as _;
use tokio::io::AsyncReadExt as _;

use super::{Containerd, classify};
use crate::{Error, ErrorKind, Result};

/// Chunk size for content writes. containerd accepts up to 16 MiB per message, but with
/// several messages in flight, larger chunks mostly grow the daemon's retained heap.
pub const WRITE_CHUNK: usize = 1 << 20;

/// One piece of a blob written with [`Containerd::write_blob_pieces`].
#[derive(Debug)]
pub enum BlobPiece {
    Data(Vec<u8>),
    /// The blob is complete: commit it as `digest` with `labels`.
    End {
        digest: String,
        labels: HashMap<String, String>,
    },
}

/// A containerd lease: while it exists, nothing written under it is garbage collected.
/// Deleted with [`Containerd::delete_lease`] once the written objects are referenced.
#[derive(Clone, Debug)]
pub struct Lease(pub String);

/// The label that makes a lease expire: only the leases of one operation carry it.
const GC_EXPIRE: &str = "containerd.io/gc.expire";

impl Containerd {
    /// Adds the lease header to a namespaced request.
    pub(crate) fn leased<T>(&self, message: T, lease: Option<&Lease>) -> tonic::Request<T> {
        let mut req = self.request(message);
        if let Some(Lease(id)) = lease
            && let Ok(v) = id.parse()
        {
            req.metadata_mut().insert("containerd-lease", v);
        }
        req
    }

    pub async fn create_lease(&self, purpose: &str) -> Result<Lease> {
        let id = format!("berth-{purpose}-{:016x}", rand::random::<u64>());
        let expire = time::OffsetDateTime::now_utc() + Duration::from_secs(24 * 3600);
        let expire = expire
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let labels = HashMap::from([(GC_EXPIRE.to_string(), expire)]);
        LeasesClient::new(self.channel.clone())
            .create(self.request(CreateLeaseRequest {
                id: id.clone(),
                labels,
            }))
            .await
            .map_err(classify)?;
        Ok(Lease(id))
    }

    /// Deletes the expiring leases (`berth-<purpose>-<n>`, see [`Self::create_lease`]) a
    /// previous berthd took for a load, pull, build, commit or init layer and never ended
    /// because it was killed; at start-up no operation of this process holds one. Returns
    /// their IDs.
    pub async fn delete_stale_leases(&self) -> Result<Vec<String>> {
        use containerd_client::services::v1::ListRequest as ListLeasesRequest;
        let leases = LeasesClient::new(self.channel.clone())
            .list(self.request(ListLeasesRequest { filters: vec![] }))
            .await
            .map_err(classify)?
            .into_inner()
            .leases;
        let mut deleted = Vec::new();
        for lease in leases {
            if lease.id.starts_with("berth-") && lease.labels.contains_key(GC_EXPIRE) {
                self.delete_lease(&Lease(lease.id.clone())).await;
                deleted.push(lease.id);
            }
        }
        Ok(deleted)
    }

    /// A lease with a fixed ID and no expiry, for things that live until explicitly removed.
    pub async fn create_named_lease(&self, id: &str) -> Result<Lease> {
        let r = LeasesClient::new(self.channel.clone())
            .create(self.request(CreateLeaseRequest {
                id: id.to_string(),
                labels: HashMap::new(),
            }))
            .await;
        match r {
            Ok(_) => Ok(Lease(id.to_string())),
            Err(s) if s.code() == tonic::Code::AlreadyExists => Ok(Lease(id.to_string())),
            Err(s) => Err(classify(s)),
        }
    }

    pub async fn delete_lease(&self, lease: &Lease) {
        let r = LeasesClient::new(self.channel.clone())
            .delete(self.request(DeleteLeaseRequest {
                id: lease.0.clone(),
                sync: false,
            }))
            .await;
        match r {
            Err(e) if e.code() != tonic::Code::NotFound => {
                tracing::warn!(lease = %lease.0, "cannot delete lease: {}", e.message());
            }
            _ => {}
        }
    }

    /// Deletes a lease and waits for the garbage collection it triggers.
    pub async fn delete_lease_sync(&self, lease: &Lease) {
        let _ = LeasesClient::new(self.channel.clone())
            .delete(self.request(DeleteLeaseRequest {
                id: lease.0.clone(),
                sync: true,
            }))
            .await;
    }

    /// Size and labels of a blob, or None when absent.
    pub async fn content_info(&self, digest: &str) -> Result<Option<ContentInfo>> {
        match ContentClient::new(self.channel.clone())
            .info(self.request(InfoRequest {
                digest: digest.to_string(),
            }))
            .await
        {
            Ok(r) => Ok(r.into_inner().info.map(|i| ContentInfo {
                digest: i.digest,
                size: i.size,
                labels: i.labels,
            })),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(classify(s)),
        }
    }

    /// Reads a whole blob (manifests, configs: small things).
    pub async fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let mut stream = ContentClient::new(self.channel.clone())
            .read(self.request(ReadContentRequest {
                digest: digest.to_string(),
                offset: 0,
                size: 0,
            }))
            .await
            .map_err(classify)?
            .into_inner();
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.map_err(classify)?.data);
        }
        Ok(out)
    }

    /// Streams a blob in chunks (layers).
    pub async fn read_blob_stream(
        &self,
        digest: &str,
    ) -> Result<impl futures_util::Stream<Item = Result<Vec<u8>>> + use<>> {
        let stream = ContentClient::new(self.channel.clone())
            .read(self.request(ReadContentRequest {
                digest: digest.to_string(),
                offset: 0,
                size: 0,
            }))
            .await
            .map_err(classify)?
            .into_inner();
        Ok(stream.map(|r| r.map(|c| c.data).map_err(classify)))
    }

    /// Writes a blob from memory unless it is already present; sets `labels` either way.
    pub async fn write_blob(
        &self,
        lease: &Lease,
        digest: &str,
        data: &[u8],
        labels: HashMap<String, String>,
    ) -> Result<()> {
        let reader = std::io::Cursor::new(data.to_vec());
        self.write_blob_from(
            lease,
            digest,
            data.len() as i64,
            tokio::io::BufReader::new(reader),
            labels,
        )
        .await
    }

    /// Writes a blob from a reader of `total` bytes whose digest must be `digest`.
    pub async fn write_blob_from<R: tokio::io::AsyncRead + Unpin>(
        &self,
        lease: &Lease,
        digest: &str,
        total: i64,
        mut reader: R,
        labels: HashMap<String, String>,
    ) -> Result<()> {
        if self.content_info(digest).await?.is_some() {
            if !labels.is_empty() {
                self.label_blob(digest, labels).await?;
            }
            return Ok(());
        }
        let (tx, rx) = tokio::sync::mpsc::channel::<BlobPiece>(2);
        let pump = async move {
            let mut buf = vec![0u8; WRITE_CHUNK];
            loop {
                let n = read_full(&mut reader, &mut buf).await?;
                if n == 0 {
                    break;
                }
                if tx.send(BlobPiece::Data(buf[..n].to_vec())).await.is_err() {
                    return Ok(());
                }
            }
            let _ = tx
                .send(BlobPiece::End {
                    digest: digest.to_string(),
                    labels,
                })
                .await;
            Ok::<(), Error>(())
        };
        let (written, pumped) = tokio::join!(self.write_blob_pieces(lease, total, rx), pump);
        pumped?;
        written.map(|_| ())
    }

    /// Writes a blob that arrives in pieces, its digest known only at the end (an archive
    /// being read): `total` is its size when known, else 0. The pieces must end with
    /// [`BlobPiece::End`]; a channel closed before that abandons the write. Returns the
    /// digest containerd committed.
    pub async fn write_blob_pieces(
        &self,
        lease: &Lease,
        total: i64,
        mut pieces: tokio::sync::mpsc::Receiver<BlobPiece>,
    ) -> Result<String> {
        let abandoned = || Error::internal("blob write abandoned before its end");
        let (tx, rx) = tokio::sync::mpsc::channel::<WriteContentRequest>(4);
        let reference = format!("berth-write-{:016x}", rand::random::<u64>());
        let mut offset: i64 = 0;
        let first = pieces.recv().await.ok_or_else(abandoned)?;
        let mut end = None;
        let data = match first {
            BlobPiece::Data(d) => d,
            BlobPiece::End { digest, labels } => {
                end = Some((digest, labels));
                Vec::new()
            }
        };
        // The first message must be queued before the call is awaited: containerd answers
        // (and sends headers) only after it.
        let first_len = data.len() as i64;
        tx.send(WriteContentRequest {
            action: WriteAction::Write as i32,
            r#ref: reference.clone(),
            total,
            offset,
            data,
            ..Default::default()
        })
        .await
        .map_err(|_| Error::internal("content write channel closed"))?;
        offset += first_len;
        let mut responses = ContentClient::new(self.channel.clone())
            .write(self.leased(tokio_stream::wrappers::ReceiverStream::new(rx), Some(lease)))
            .await
            .map_err(classify)?
            .into_inner();
        next_response(&mut responses).await?;
        // Answers (one per message, in order) are read concurrently, so chunks go out without
        // a round trip each and containerd never blocks on unread answers.
        let answers = tokio::spawn(async move {
            loop {
                match responses.next().await {
                    Some(Ok(r)) if r.action == WriteAction::Commit as i32 => return Ok(r),
                    Some(Ok(_)) => {}
                    Some(Err(s)) => return Err(classify(s)),
                    None => {
                        return Err(Error::internal(
                            "containerd closed the content write stream",
                        ));
                    }
                }
            }
        });
        let sent: Result<String> = async {
            let (digest, labels) = match end {
                Some(end) => end,
                None => loop {
                    match pieces.recv().await.ok_or_else(abandoned)? {
                        BlobPiece::Data(data) => {
                            let n = data.len() as i64;
                            tx.send(WriteContentRequest {
                                action: WriteAction::Write as i32,
                                r#ref: reference.clone(),
                                offset,
                                data,
                                ..Default::default()
                            })
                            .await
                            .map_err(|_| Error::internal("content write channel closed"))?;
                            offset += n;
                        }
                        BlobPiece::End { digest, labels } => break (digest, labels),
                    }
                },
            };
            tx.send(WriteContentRequest {
                action: WriteAction::Commit as i32,
                r#ref: reference,
                total: offset,
                expected: digest.clone(),
                offset,
                labels,
                ..Default::default()
            })
            .await
            .map_err(|_| Error::internal("content write channel closed"))?;
            Ok(digest)
        }
        .await;
        // Ending the request stream makes containerd answer even when sending stopped early.
        drop(tx);
        let answer = answers
            .await
            .map_err(|e| Error::internal(format!("content write: {e}")))?;
        match (sent, answer) {
            (Ok(digest), Ok(r)) if r.digest != digest => Err(Error::invalid(format!(
                "content digest mismatch: expected {digest}, got {}",
                r.digest
            ))),
            (Ok(digest), Ok(_)) => Ok(digest),
            // Someone else committed the same blob meanwhile.
            (Ok(digest), Err(e)) if e.kind == ErrorKind::Conflict => Ok(digest),
            (Ok(_), Err(e)) => Err(e),
            (Err(ours), Ok(_)) => Err(ours),
            // containerd's own error says more than a closed channel, unless the writer gave up.
            (Err(ours), Err(theirs)) => Err(if ours.message == abandoned().message {
                ours
            } else {
                theirs
            }),
        }
    }

    /// Replaces the given labels on a blob (others are kept).
    pub async fn label_blob(&self, digest: &str, labels: HashMap<String, String>) -> Result<()> {
        use containerd_client::services::v1::{Info, UpdateRequest};
        let paths = labels.keys().map(|k| format!("labels.{k}")).collect();
        ContentClient::new(self.channel.clone())
            .update(self.request(UpdateRequest {
                info: Some(Info {
                    digest: digest.to_string(),
                    labels,
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask { paths }),
            }))
            .await
            .map_err(classify)?;
        Ok(())
    }

    pub async fn delete_blob(&self, digest: &str) -> Result<()> {
        match ContentClient::new(self.channel.clone())
            .delete(self.request(DeleteContentRequest {
                digest: digest.to_string(),
            }))
            .await
        {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
            Err(s) => Err(classify(s)),
        }
    }

    pub async fn get_image(&self, name: &str) -> Result<Option<Image>> {
        match ImagesClient::new(self.channel.clone())
            .get(self.request(GetImageRequest {
                name: name.to_string(),
            }))
            .await
        {
            Ok(r) => Ok(r.into_inner().image),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(classify(s)),
        }
    }

    pub async fn list_images(&self) -> Result<Vec<Image>> {
        Ok(ImagesClient::new(self.channel.clone())
            .list(self.request(ListImagesRequest { filters: vec![] }))
            .await
            .map_err(classify)?
            .into_inner()
            .images)
    }

    /// Creates or re-points the image record `name`.
    pub async fn put_image(
        &self,
        lease: Option<&Lease>,
        name: &str,
        target: Descriptor,
        labels: HashMap<String, String>,
    ) -> Result<()> {
        let image = Image {
            name: name.to_string(),
            labels,
            target: Some(target),
            created_at: None,
            updated_at: None,
        };
        let written = self.write_image(lease, image).await;
        self.images_may_have_changed();
        written
    }

    async fn write_image(&self, lease: Option<&Lease>, image: Image) -> Result<()> {
        let created = ImagesClient::new(self.channel.clone())
            .create(self.leased(
                CreateImageRequest {
                    image: Some(image.clone()),
                    source_date_epoch: None,
                },
                lease,
            ))
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::AlreadyExists => {
                ImagesClient::new(self.channel.clone())
                    .update(self.leased(
                        UpdateImageRequest {
                            image: Some(image),
                            update_mask: Some(prost_types::FieldMask {
                                paths: vec!["target".into(), "labels".into()],
                            }),
                            source_date_epoch: None,
                        },
                        lease,
                    ))
                    .await
                    .map_err(classify)?;
                Ok(())
            }
            Err(s) => Err(classify(s)),
        }
    }

    pub async fn delete_image(&self, name: &str) -> Result<()> {
        let deleted = ImagesClient::new(self.channel.clone())
            .delete(self.request(DeleteImageRequest {
                name: name.to_string(),
                sync: false,
                target: None,
            }))
            .await;
        self.images_may_have_changed();
        match deleted {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
            Err(s) => Err(classify(s)),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ContentInfo {
    pub digest: String,
    pub size: i64,
    pub labels: HashMap<String, String>,
}

async fn read_full<R: tokio::io::AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = r.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

async fn next_response(
    responses: &mut tonic::Streaming<containerd_client::services::v1::WriteContentResponse>,
) -> Result<containerd_client::services::v1::WriteContentResponse> {
    match responses.next().await {
        Some(Ok(r)) => Ok(r),
        Some(Err(s)) => Err(classify(s)),
        None => Err(Error::internal(
            "containerd closed the content write stream",
        )),
    }
}
