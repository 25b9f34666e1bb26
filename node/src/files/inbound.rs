//! `/weft/file/1`, the serving side: manifests and chunks of the files we
//! hold (ours, ones we fetched, ones held for others), requests to hold a
//! file, and how much of a file is here. What one peer may download from
//! us is budgeted per minute.

use std::fs::File;
use std::time::Duration;

use weft_protocol::{
    file::{FileReply, FileRequest},
    Kind,
};

use super::{disk, Files};
use crate::log_limit::LogLimit;
use crate::net::InboundRequest;

/// Warnings about malformed requests (a peer can send them at will).
static BAD_REQUESTS: LogLimit = LogLimit::new();

impl Files {
    /// Answers `/weft/file/1`; `None` declines (malformed, over budget).
    pub async fn handle_inbound(&self, req: &InboundRequest) -> Option<Vec<u8>> {
        let request = match weft_protocol::decode::<FileRequest>(Kind::FileRequest, &req.data) {
            Ok(r) => r,
            Err(e) => {
                if let Some(suppressed) = BAD_REQUESTS.allow() {
                    tracing::warn!(peer = %req.peer, error = %e, suppressed, "bad file request");
                }
                return None;
            }
        };
        let reply = match request {
            FileRequest::Manifest(id) => match self.inner.ctx.store.file_manifest(&id) {
                Ok(Some(m)) => FileReply::Manifest(m),
                _ => FileReply::Missing,
            },
            FileRequest::Chunk { file, index } => self.serve_chunk(&file, index as usize).await,
            FileRequest::Hold { file, size } => self.on_hold(req.peer, file, size).await,
            FileRequest::Have(id) => {
                let of = self
                    .inner
                    .ctx
                    .store
                    .file_manifest(&id)
                    .ok()
                    .flatten()
                    .map(|m| m.chunks.len() as u32);
                match of {
                    Some(of) if self.local(&id) => FileReply::Have { chunks: of, of },
                    Some(of) => FileReply::Have {
                        chunks: self.fetching_have(&id).unwrap_or(0),
                        of,
                    },
                    None => FileReply::Missing,
                }
            }
        };
        let bytes = weft_protocol::encode(Kind::FileReply, &reply).ok()?;
        if !self.inner.uploads.spend(req.peer, bytes.len() as u64) {
            tracing::debug!(peer = %req.peer, "file upload budget spent; declining");
            tokio::time::sleep(Duration::from_millis(100)).await;
            return None;
        }
        Some(bytes)
    }

    /// Chunk `i` of `id`, read from disk. A file still being fetched may
    /// have holes, so its chunks are verified before they are served.
    async fn serve_chunk(&self, id: &[u8; 32], i: usize) -> FileReply {
        let store = &self.inner.ctx.store;
        let Ok(Some(m)) = store.file_manifest(id) else {
            return FileReply::Missing;
        };
        if i >= m.chunks.len() {
            return FileReply::Missing;
        }
        let complete = self.local(id);
        let path = disk::path(&self.inner.dir, id);
        let len = m.chunk_len(i);
        let read = tokio::task::spawn_blocking(move || {
            let f = File::open(path).ok()?;
            let data = disk::read_chunk(&f, i, len).ok()??;
            (complete || m.check_chunk(i, &data).is_ok()).then_some(data)
        })
        .await;
        match read {
            Ok(Some(data)) => FileReply::Chunk(data),
            _ => FileReply::Missing,
        }
    }
}
