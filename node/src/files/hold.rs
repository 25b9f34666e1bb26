//! Keeping a file available while its sender is away. After sending, the
//! sender asks the [`HOLDERS`] peers closest to the file's DHT key
//! ([`holder_key`]) to hold it; each holder fetches the ciphertext from the
//! sender (it can verify every chunk, it cannot read one) and keeps it for
//! [`HOLD_SECS`]. A recipient whose sender is offline asks the same
//! closest peers. Holders take files up to [`HOLD_MAX_FILE`] within
//! per-depositor and total quotas; a bigger file (up to 4 GiB) is only
//! available from its sender and from whoever downloaded it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use weft_protocol::file::{file_hex, holder_key, FileId, FileReply, FileRequest};

use super::{disk, Files};

/// Holders asked to keep each file we send.
pub const HOLDERS: usize = 2;
/// How long a holder keeps a file.
pub const HOLD_SECS: u64 = 7 * 24 * 3600;
/// Largest file (ciphertext) a holder takes.
pub const HOLD_MAX_FILE: u64 = 256 * 1024 * 1024;
/// What one depositing peer may have held here in all.
pub const HOLD_PER_DEPOSITOR: u64 = 1024 * 1024 * 1024;
/// What this node holds for others in all.
pub const HOLD_TOTAL: u64 = 4 * 1024 * 1024 * 1024;
/// Held files being fetched at once.
const HOLD_FETCHES: usize = 4;
/// How long a DHT lookup for holders may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(20);

static HOLD_FETCHING: AtomicUsize = AtomicUsize::new(0);

impl Files {
    /// A peer asks us to hold `id` (`size` ciphertext bytes) for its
    /// recipients: accepted within the quotas, then fetched from that peer.
    pub(super) async fn on_hold(&self, peer: PeerId, id: FileId, size: u64) -> FileReply {
        let store = &self.inner.ctx.store;
        let until = weft_protocol::unix_now() + HOLD_SECS;
        let me = peer.to_bytes();
        if self.local(&id) {
            let _ = store.update_file_state(&id, |s| {
                if s.held.is_none() && !s.own && s.attachment.is_none() {
                    s.held = Some((me.clone(), until));
                }
            });
            return FileReply::Holding;
        }
        if size > HOLD_MAX_FILE {
            return FileReply::Refused(format!("files over {HOLD_MAX_FILE} bytes are not held"));
        }
        let Ok(all) = store.files() else {
            return FileReply::Refused("storage error".into());
        };
        let held = all
            .iter()
            .filter_map(|(_, s)| s.held.as_ref().map(|h| (h, s.size)));
        let (mut by_peer, mut total) = (0u64, 0u64);
        for ((who, _), n) in held {
            total += n;
            if *who == me {
                by_peer += n;
            }
        }
        if by_peer + size > HOLD_PER_DEPOSITOR || total + size > HOLD_TOTAL {
            return FileReply::Refused("holding quota full".into());
        }
        if HOLD_FETCHING.fetch_add(1, Ordering::SeqCst) >= HOLD_FETCHES {
            HOLD_FETCHING.fetch_sub(1, Ordering::SeqCst);
            return FileReply::Refused("busy; try another holder".into());
        }
        if store
            .update_file_state(&id, |s| {
                s.held = Some((me.clone(), until));
                s.size = size;
            })
            .is_err()
        {
            HOLD_FETCHING.fetch_sub(1, Ordering::SeqCst);
            return FileReply::Refused("storage error".into());
        }
        let this = self.clone();
        tokio::spawn(async move {
            this.fetch_held(id, size, peer).await;
            HOLD_FETCHING.fetch_sub(1, Ordering::SeqCst);
        });
        FileReply::Holding
    }

    /// Fetches a file we agreed to hold; forgets it if its manifest is not
    /// the size announced (the quota was checked against that size).
    async fn fetch_held(&self, id: FileId, size: u64, from: PeerId) {
        let r = match self.manifest_for(&id, None, &[from]).await {
            Ok(m) if m.size != size => {
                tracing::warn!(peer = %from, file = %file_hex(&id), "file to hold is not the size announced; dropped");
                self.remove_held(&id).await;
                return;
            }
            Ok(_) => self.fetch(&id, None, &[from]).await,
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            tracing::info!(peer = %from, file = %file_hex(&id), error = %e, "could not fetch a file to hold");
        }
    }

    /// Removes a held file that nobody here wants.
    async fn remove_held(&self, id: &FileId) {
        let store = &self.inner.ctx.store;
        let keep = matches!(store.file_state(id), Ok(Some(s)) if s.own || s.attachment.is_some());
        if keep {
            let _ = store.update_file_state(id, |s| s.held = None);
            return;
        }
        let _ = store.forget_file(id);
        let _ = tokio::fs::remove_file(disk::path(&self.inner.dir, id)).await;
    }

    /// Drops held files whose time is up.
    pub(super) async fn expire_held(&self) {
        let now = weft_protocol::unix_now();
        let Ok(all) = self.inner.ctx.store.files() else {
            return;
        };
        for (id, s) in all {
            if s.held.as_ref().is_some_and(|(_, until)| *until < now) {
                self.remove_held(&id).await;
            }
        }
        let _ = self.inner.ctx.store.flush_async().await;
    }

    /// The peers closest to `id`'s holder key (ourselves left out).
    pub async fn holders_of(&self, id: &FileId) -> Vec<PeerId> {
        let net = &self.inner.ctx.net;
        let me = net.peer_id();
        match tokio::time::timeout(
            LOOKUP_TIMEOUT,
            net.closest_peers(holder_key(id), HOLDERS + 2),
        )
        .await
        {
            Ok(Ok(peers)) => peers
                .into_iter()
                .map(|(p, _)| p)
                .filter(|p| *p != me)
                .take(HOLDERS + 2)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Asks up to [`HOLDERS`] holders (never a device in `exclude`: a 1:1
    /// recipient fetches for itself; a holder is there for when it cannot)
    /// to keep our file `id`, and waits (up to `wait`) until one of them has
    /// all of it. Returns how many have it complete by then (the others go
    /// on fetching).
    pub async fn place(&self, id: &FileId, exclude: &[PeerId], wait: Duration) -> usize {
        let deadline = Instant::now() + wait;
        let Ok(Some(m)) = self.inner.ctx.store.file_manifest(id) else {
            return 0;
        };
        if m.size > HOLD_MAX_FILE {
            return 0;
        }
        let mut accepted = Vec::new();
        for p in self.holders_of(id).await {
            if accepted.len() >= HOLDERS {
                break;
            }
            if exclude.contains(&p) {
                continue;
            }
            let req = FileRequest::Hold {
                file: *id,
                size: m.size,
            };
            match self.ask(p, &req, Duration::from_secs(10)).await {
                Some(FileReply::Holding) => accepted.push(p),
                Some(FileReply::Refused(why)) => {
                    tracing::debug!(holder = %p, why, "holder refused a file");
                }
                _ => {}
            }
        }
        let mut done = 0;
        while !accepted.is_empty() && Instant::now() < deadline {
            let mut still = Vec::new();
            for p in accepted {
                match self
                    .ask(p, &FileRequest::Have(*id), Duration::from_secs(5))
                    .await
                {
                    Some(FileReply::Have { chunks, of }) if chunks == of => done += 1,
                    _ => still.push(p),
                }
            }
            accepted = still;
            if done > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        if done > 0 {
            tracing::info!(file = %file_hex(id), holders = done, "file left with holders");
        }
        done
    }
}
