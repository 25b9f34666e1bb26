//! Fetching a file from whoever has it: the manifest first (checked against
//! the id, and against the size the message announced), then every missing
//! chunk, [`WINDOW`] at a time, each verified before it is written at its
//! offset. A chunk that fails verification is asked of the next source. A
//! fetch that stops (restart, dropped connection, no source) leaves the
//! verified chunks on disk, and the next fetch starts by finding which
//! chunks are still missing: it resumes, it does not start from zero. The
//! file counts as here only once every chunk is verified and synced.

use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use libp2p::PeerId;
use weft_protocol::{
    file::{file_hex, FileError, FileId, FileManifest, FileReply, FileRequest},
    Kind,
};

use super::{blocking, disk, FetchSlot, FileEvent, Files, FilesError};
use crate::net::AppProtocol;

/// Chunk requests in flight at once.
const WINDOW: usize = 8;
/// How long one chunk (1 MiB) may take.
const CHUNK_TIMEOUT: Duration = Duration::from_secs(60);
/// Rounds over the sources before a chunk counts as unavailable.
const CHUNK_ROUNDS: u32 = 3;
/// How long a manifest or a holder's answer may take.
const ASK_TIMEOUT: Duration = Duration::from_secs(15);

impl Files {
    /// One `/weft/file/1` exchange; `None` on any failure.
    pub(super) async fn ask(
        &self,
        peer: PeerId,
        req: &FileRequest,
        timeout: Duration,
    ) -> Option<FileReply> {
        let bytes = weft_protocol::encode(Kind::FileRequest, req).ok()?;
        let net = &self.inner.ctx.net;
        let r = tokio::time::timeout(timeout, net.request(AppProtocol::File, peer, bytes)).await;
        weft_protocol::decode(Kind::FileReply, &r.ok()?.ok()?).ok()
    }

    fn slot(&self, id: &FileId) -> Arc<FetchSlot> {
        let mut map = self
            .inner
            .fetching
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        map.entry(*id).or_default().clone()
    }

    /// Chunks of `id` here while it is being fetched.
    pub(super) fn fetching_have(&self, id: &FileId) -> Option<u32> {
        let map = self
            .inner
            .fetching
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        map.get(id).map(|s| s.have.load(Ordering::Relaxed))
    }

    /// The manifest of `id`: stored, or asked of `sources` and checked
    /// against the id and (when known) the plaintext size announced.
    pub(super) async fn manifest_for(
        &self,
        id: &FileId,
        plain: Option<u64>,
        sources: &[PeerId],
    ) -> Result<FileManifest, FilesError> {
        let store = &self.inner.ctx.store;
        if let Some(m) = store.file_manifest(id)? {
            return Ok(m);
        }
        for p in sources {
            let Some(FileReply::Manifest(m)) =
                self.ask(*p, &FileRequest::Manifest(*id), ASK_TIMEOUT).await
            else {
                continue;
            };
            if m.check(id).is_err() {
                tracing::warn!(peer = %p, "a source sent a manifest that does not match the file id");
                continue;
            }
            if plain.is_some_and(|n| !m.fits(n)) {
                // The id matches, so the sender made it: the message lies.
                return Err(FileError::BadAttachment(
                    "the file is not the size its message announced",
                )
                .into());
            }
            store.put_file_manifest(&m)?;
            return Ok(m);
        }
        Err(FilesError::Unavailable("the file's manifest".into()))
    }

    /// Fetches `id` from `sources` (in order of preference) unless it is
    /// here already. `plain`: the plaintext size its message announced.
    pub async fn fetch(
        &self,
        id: &FileId,
        plain: Option<u64>,
        sources: &[PeerId],
    ) -> Result<(), FilesError> {
        if self.local(id) {
            return Ok(());
        }
        let slot = self.slot(id);
        let _guard = slot.lock.lock().await;
        if self.local(id) {
            return Ok(());
        }
        let r = self.fetch_locked(id, plain, sources, &slot).await;
        if let Err(e) = &r {
            self.emit(FileEvent::FileFailed {
                file: file_hex(id),
                error: e.to_string(),
            });
        }
        // The last one out removes the slot: a caller already waiting on it
        // must find it in the map, or a third would start a second fetch.
        let mut map = self
            .inner
            .fetching
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if Arc::strong_count(&slot) <= 2 {
            map.remove(id);
        }
        r
    }

    async fn fetch_locked(
        &self,
        id: &FileId,
        plain: Option<u64>,
        sources: &[PeerId],
        slot: &FetchSlot,
    ) -> Result<(), FilesError> {
        let m = Arc::new(self.manifest_for(id, plain, sources).await?);
        let path = disk::path(&self.inner.dir, id);
        let (file, missing) = blocking({
            let m = m.clone();
            move || -> std::io::Result<_> {
                let f = disk::open_for_fetch(&path)?;
                let missing = disk::missing(&f, &m)?;
                Ok((f, missing))
            }
        })
        .await?;
        let file = Arc::new(file);
        let total = m.chunks.len();
        let mut have = (total - missing.len()) as u32;
        slot.have.store(have, Ordering::Relaxed);
        let mut have_bytes: u64 =
            m.size - missing.iter().map(|&i| m.chunk_len(i) as u64).sum::<u64>();
        if !missing.is_empty() && have > 0 {
            tracing::info!(file = %file_hex(id), have, total, "resuming a download");
        }
        let sources: Arc<[PeerId]> = sources.into();
        let mut chunks = futures::stream::iter(missing)
            .map(|i| {
                let (this, m, sources) = (self.clone(), m.clone(), sources.clone());
                async move { this.chunk(id, i, &m, &sources).await }
            })
            .buffer_unordered(WINDOW);
        while let Some(r) = chunks.next().await {
            let (i, data) = r?;
            let len = data.len() as u64;
            let f = file.clone();
            blocking(move || f.write_all_at(&data, disk::offset(i))).await?;
            have += 1;
            have_bytes += len;
            slot.have.store(have, Ordering::Relaxed);
            if have.is_multiple_of(8) || have as usize == total {
                self.emit(FileEvent::FileProgress {
                    file: file_hex(id),
                    have: have_bytes,
                    size: m.size,
                });
            }
        }
        let f = file.clone();
        blocking(move || f.sync_all()).await?;
        let store = &self.inner.ctx.store;
        store.update_file_state(id, |s| {
            s.complete = true;
            s.size = m.size;
        })?;
        store.flush_async().await?;
        self.emit(FileEvent::FileComplete { file: file_hex(id) });
        Ok(())
    }

    /// Chunk `i` from the first source that has a valid copy (starting at a
    /// different source per chunk, so several sources share the work).
    async fn chunk(
        &self,
        id: &FileId,
        i: usize,
        m: &FileManifest,
        sources: &[PeerId],
    ) -> Result<(usize, Vec<u8>), FilesError> {
        let n = sources.len();
        let req = FileRequest::Chunk {
            file: *id,
            index: i as u32,
        };
        // A source may be busy (its per-peer share of requests taken) or a
        // connection may drop: a few rounds, with a pause between.
        for round in 0..CHUNK_ROUNDS {
            if round > 0 {
                tokio::time::sleep(Duration::from_millis(500 << round)).await;
            }
            for k in 0..n {
                let p = sources[(i + k) % n];
                match self.ask(p, &req, CHUNK_TIMEOUT).await {
                    Some(FileReply::Chunk(data)) if m.check_chunk(i, &data).is_ok() => {
                        return Ok((i, data))
                    }
                    Some(FileReply::Chunk(_)) => {
                        tracing::warn!(peer = %p, chunk = i, "corrupt chunk; asking another source");
                    }
                    _ => {}
                }
            }
        }
        Err(FilesError::Unavailable(format!("chunk {i}")))
    }
}
