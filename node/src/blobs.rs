//! The blob layer: add a file, serve chunks on `/weft/blob/1`, fetch a blob
//! from any holders, verifying each chunk against the manifest. A corrupt
//! or missing chunk from one holder is asked of the next; chunks already
//! stored are never fetched again, so an interrupted fetch resumes. What
//! we upload to each peer is budgeted per minute ([`PeerBudget`]).

use std::sync::Arc;
use std::time::Duration;

use libp2p::PeerId;
use weft_protocol::{
    blob::{BlobError, BlobId, BlobReply, BlobRequest, Manifest},
    Kind,
};

use crate::budget::PeerBudget;
use crate::log_limit::LogLimit;
use crate::net::{AppProtocol, InboundRequest, Net};
use crate::store::{Store, StoreError};

/// Blob failures.
#[derive(Debug, thiserror::Error)]
pub enum BlobFetchError {
    /// Size or manifest problem.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// No holder had a valid copy of some part.
    #[error("no holder could provide {0}")]
    Unavailable(String),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Warnings about malformed requests (a peer can send them at will).
static BAD_REQUESTS: LogLimit = LogLimit::new();

/// Bytes of blob answers one peer may take per minute; more are declined.
const UPLOAD_BYTES_PER_MINUTE: u64 = 64 * 1024 * 1024;

/// The blob service handle. Cheap to clone.
#[derive(Clone)]
pub struct Blobs {
    store: Store,
    net: Net,
    /// What each peer may download from us per minute.
    uploads: Arc<PeerBudget>,
}

impl Blobs {
    /// A blob service over the node's store and network.
    pub fn new(store: Store, net: Net) -> Self {
        let uploads = PeerBudget::new(UPLOAD_BYTES_PER_MINUTE, Duration::from_secs(60));
        Self {
            store,
            net,
            uploads: Arc::new(uploads),
        }
    }

    /// Stores `data` as a blob (durably); returns its id.
    pub async fn add(&self, data: &[u8]) -> Result<BlobId, BlobFetchError> {
        let (m, chunks) = Manifest::build(data)?;
        for (h, c) in m.chunks.iter().zip(&chunks) {
            self.store.put_chunk(h, c)?;
        }
        let id = self.store.put_manifest(&m)?;
        self.store.flush_async().await?;
        Ok(id)
    }

    /// The blob's bytes if complete here.
    pub fn get(&self, id: &BlobId) -> Result<Option<Vec<u8>>, StoreError> {
        self.store.blob_bytes(id)
    }

    async fn ask(&self, peer: PeerId, req: &BlobRequest) -> Option<BlobReply> {
        let bytes = weft_protocol::encode(Kind::BlobRequest, req).ok()?;
        let r = tokio::time::timeout(
            Duration::from_secs(15),
            self.net.request(AppProtocol::Blob, peer, bytes),
        )
        .await;
        weft_protocol::decode(Kind::BlobReply, &r.ok()?.ok()?).ok()
    }

    /// Fetches a blob from `holders`, chunk by chunk, verifying each.
    pub async fn fetch(&self, id: &BlobId, holders: &[PeerId]) -> Result<(), BlobFetchError> {
        let manifest = match self.store.manifest(id)? {
            Some(m) => m,
            None => {
                let mut found = None;
                for p in holders {
                    if let Some(BlobReply::Manifest(m)) =
                        self.ask(*p, &BlobRequest::Manifest(*id)).await
                    {
                        if m.check(id).is_ok() {
                            found = Some(m);
                            break;
                        }
                        tracing::warn!(peer = %p, "holder sent a manifest that does not match the blob id");
                    }
                }
                let m = found.ok_or_else(|| BlobFetchError::Unavailable("the manifest".into()))?;
                self.store.put_manifest(&m)?;
                m
            }
        };
        for (i, h) in manifest.chunks.iter().enumerate() {
            if self.store.has_chunk(h)? {
                continue; // resume: already here
            }
            let mut ok = false;
            for p in holders {
                match self.ask(*p, &BlobRequest::Chunk(*h)).await {
                    Some(BlobReply::Chunk(data)) if manifest.check_chunk(i, &data).is_ok() => {
                        self.store.put_chunk(h, &data)?;
                        ok = true;
                        break;
                    }
                    Some(BlobReply::Chunk(_)) => {
                        tracing::warn!(peer = %p, chunk = i, "corrupt chunk; asking another holder");
                    }
                    _ => {}
                }
            }
            if !ok {
                return Err(BlobFetchError::Unavailable(format!("chunk {i}")));
            }
        }
        self.store.flush_async().await?;
        Ok(())
    }

    /// Answers `/weft/blob/1`.
    pub fn handle_inbound(&self, req: &InboundRequest) -> Option<Vec<u8>> {
        let reply = match weft_protocol::decode::<BlobRequest>(Kind::BlobRequest, &req.data) {
            Ok(BlobRequest::Manifest(id)) => match self.store.manifest(&id) {
                Ok(Some(m)) => BlobReply::Manifest(m),
                _ => BlobReply::Missing,
            },
            Ok(BlobRequest::Chunk(h)) => match self.store.chunk(&h) {
                Ok(Some(c)) => BlobReply::Chunk(c),
                _ => BlobReply::Missing,
            },
            Err(e) => {
                if let Some(suppressed) = BAD_REQUESTS.allow() {
                    tracing::warn!(peer = %req.peer, error = %e, suppressed, "bad blob request");
                }
                return None;
            }
        };
        let bytes = weft_protocol::encode(Kind::BlobReply, &reply).ok()?;
        if !self.uploads.spend(req.peer, bytes.len() as u64) {
            tracing::debug!(peer = %req.peer, "blob upload budget spent; declining");
            return None;
        }
        Some(bytes)
    }
}
