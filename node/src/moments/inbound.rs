//! The answering side of `/weft/sync/1`: hands a device the stored items on
//! the topics it asks about. Items are signed and encrypted, so serving them
//! to anyone leaks nothing a relay would not see; the author's "last N days"
//! setting is still honoured, and each device gets a bounded number of
//! answers per minute so a peer cannot make us read the store in a loop.

use std::time::{Duration, Instant};

use libp2p::PeerId;
use weft_protocol::{
    moments::{self, SyncFrom, SyncReply, SyncRequest},
    Kind,
};

use super::Moments;
use crate::net::InboundRequest;

/// Bytes one sync answer carries at most.
const SYNC_REPLY_BYTES: usize = 900 * 1024;
/// Sync requests answered per device per minute; more are declined.
const SYNC_SERVED_PER_MINUTE: u32 = 30;
/// The rate limit's window.
const WINDOW: Duration = Duration::from_secs(60);
/// Devices remembered for the rate limit before expired entries are dropped.
const SERVED_KEPT: usize = 4096;

impl Moments {
    /// Answers `/weft/sync/1`: items are signed and encrypted, so any peer
    /// may have them; the author's "last N days" setting is honoured.
    /// `None` declines (rate limit, malformed request).
    pub fn handle_inbound(&self, req: &InboundRequest) -> Option<Vec<u8>> {
        if !self.may_serve(req.peer) {
            tracing::warn!(peer = %req.peer, "too many sync requests; declining");
            return None;
        }
        let r: SyncRequest = match weft_protocol::decode(Kind::SyncRequest, &req.data) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(peer = %req.peer, error = %e, "bad sync request");
                return None;
            }
        };
        if r.authors.len() > moments::MAX_SYNC_AUTHORS {
            tracing::warn!(peer = %req.peer, "sync request for too many authors");
            return None;
        }
        let now = weft_protocol::unix_now();
        let mut items = Vec::new();
        let mut bytes = 0;
        let mut more = false;
        for from in &r.authors {
            // The author's "last N days": nothing before the cutoff.
            let cutoff = self.cutoff(&from.author, now);
            let from = if from.at < cutoff {
                SyncFrom {
                    author: from.author,
                    at: cutoff,
                    after: None,
                }
            } else {
                from.clone()
            };
            let room = moments::MAX_SYNC_ITEMS.saturating_sub(items.len());
            let (got, m) = self
                .inner
                .store
                .moment_items_from(&from, room, SYNC_REPLY_BYTES.saturating_sub(bytes))
                .ok()?;
            more |= m;
            bytes += got.iter().map(Vec::len).sum::<usize>();
            items.extend(got);
        }
        weft_protocol::encode(Kind::SyncReply, &SyncReply { items, more }).ok()
    }

    /// Rate limit for `/weft/sync/1` answers, per device.
    fn may_serve(&self, peer: PeerId) -> bool {
        let Ok(mut served) = self.inner.served.lock() else {
            return false;
        };
        if served.len() > SERVED_KEPT {
            served.retain(|_, (t, _)| t.elapsed() < WINDOW);
        }
        let e = served.entry(peer).or_insert((Instant::now(), 0));
        if e.0.elapsed() >= WINDOW {
            *e = (Instant::now(), 0);
        }
        e.1 += 1;
        e.1 <= SYNC_SERVED_PER_MINUTE
    }
}
