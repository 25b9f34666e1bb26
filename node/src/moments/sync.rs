//! Backfill, the asking side of `/weft/sync/1`: gossip only reaches nodes
//! that are online, so when a friend's device (or one of ours) identifies we
//! ask it for what our friends posted since the newest item we hold from
//! each, page by page, and apply it like gossip. Any device may answer:
//! items are signed by their authors and encrypted to their readers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use weft_protocol::{
    moments::{self, Item, SyncReply, SyncRequest},
    AccountId, Kind,
};

use super::ingest::Verdict;
use super::Moments;
use crate::net::AppProtocol;

/// Backfill asks from this much before the newest item held (late reactions, skew).
const SYNC_SLACK_SECS: u64 = 3600;
/// Least time between two backfills from the same device.
const SYNC_EVERY: Duration = Duration::from_secs(20);
/// Pages one backfill follows at most.
const SYNC_PAGES: usize = 16;
/// How long one sync answer may take.
const SYNC_TIMEOUT: Duration = Duration::from_secs(15);
/// Devices remembered for the rate limit before old entries are dropped.
const SYNCED_KEPT: usize = 1024;

impl Moments {
    /// Asks `peer` for everything on our friends' (and our) topics since the
    /// newest item we hold for each; returns how many new items arrived.
    /// `force` skips the rate limit (a new friend: their past is all new).
    pub async fn backfill_from(&self, peer: PeerId, force: bool) -> usize {
        {
            let Ok(mut synced) = self.inner.synced.lock() else {
                return 0;
            };
            if !force && synced.get(&peer).is_some_and(|t| t.elapsed() < SYNC_EVERY) {
                return 0;
            }
            synced.insert(peer, Instant::now());
            if synced.len() > SYNCED_KEPT {
                synced.retain(|_, t| t.elapsed() < SYNC_EVERY);
            }
        }
        let mut authors = self.friends();
        authors.push(self.me());
        let mut got = 0;
        for chunk in authors.chunks(moments::MAX_SYNC_AUTHORS) {
            let mut since: Vec<(AccountId, u64)> = chunk
                .iter()
                .map(|a| {
                    let latest = self.inner.store.latest_moment_at(a).unwrap_or(0);
                    (*a, latest.saturating_sub(SYNC_SLACK_SECS))
                })
                .collect();
            for _ in 0..SYNC_PAGES {
                let Some(reply) = self.ask_sync(peer, &since).await else {
                    break;
                };
                let mut last: HashMap<AccountId, u64> = HashMap::new();
                for bytes in reply.items.iter().take(moments::MAX_SYNC_ITEMS) {
                    let Ok(item) = Item::from_bytes(bytes) else {
                        tracing::warn!(%peer, "backfill peer sent an invalid item");
                        continue;
                    };
                    if !since.iter().any(|(a, _)| *a == item.body.author) {
                        continue; // not asked for
                    }
                    last.insert(item.body.author, item.body.at);
                    let fresh = !self.inner.store.has_moment_item(&item.id()).unwrap_or(true);
                    if let Verdict::Reject(r) = self.ingest(item).await {
                        tracing::warn!(%peer, reason = %r, "backfill peer sent a rejected item");
                    } else if fresh {
                        got += 1;
                    }
                }
                if !reply.more || last.is_empty() {
                    break;
                }
                // Continue from where each author's page ended.
                since = since
                    .into_iter()
                    .filter_map(|(a, s)| last.get(&a).map(|t| (a, (*t).max(s))))
                    .collect();
            }
        }
        if got > 0 {
            let _ = self.inner.store.flush_async().await;
            tracing::info!(%peer, got, "backfilled moments items");
        }
        got
    }

    /// One page of `/weft/sync/1`; `None` when the peer declined, timed out
    /// or answered garbage (the backfill just stops).
    async fn ask_sync(&self, peer: PeerId, since: &[(AccountId, u64)]) -> Option<SyncReply> {
        let req = SyncRequest {
            authors: since.to_vec(),
        };
        let bytes = weft_protocol::encode(Kind::SyncRequest, &req).ok()?;
        let r = tokio::time::timeout(
            SYNC_TIMEOUT,
            self.inner.net.request(AppProtocol::Sync, peer, bytes),
        )
        .await;
        weft_protocol::decode(Kind::SyncReply, &r.ok()?.ok()?).ok()
    }
}
