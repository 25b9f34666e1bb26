//! Backfill, the asking side of `/weft/sync/1`: gossip only reaches nodes
//! that are online, so when a friend's device (or one of ours) identifies we
//! ask it for what our friends posted since the newest item we hold from
//! each, page by page, and apply it like gossip. Any device may answer:
//! items are signed by their authors and encrypted to their readers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use weft_protocol::{
    moments::{self, Item, ItemId, SyncFrom, SyncReply, SyncRequest},
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
        // A friend whose topic key we lack yet: nothing to prove, so not asked.
        let authors: Vec<(AccountId, [u8; 16])> = authors
            .into_iter()
            .filter_map(|a| Some((a, self.tag_of(&a)?)))
            .collect();
        let mut got = 0;
        for chunk in authors.chunks(moments::MAX_SYNC_AUTHORS) {
            let mut from: Vec<SyncFrom> = chunk
                .iter()
                .map(|(a, proof)| {
                    let latest = self.inner.store.latest_moment_at(a).unwrap_or(0);
                    SyncFrom {
                        author: *a,
                        at: latest.saturating_sub(SYNC_SLACK_SECS),
                        after: None,
                        proof: *proof,
                    }
                })
                .collect();
            for _ in 0..SYNC_PAGES {
                let Some(reply) = self.ask_sync(peer, &from).await else {
                    break;
                };
                let mut last: HashMap<AccountId, (u64, ItemId)> = HashMap::new();
                for bytes in reply.items.iter().take(moments::MAX_SYNC_ITEMS) {
                    let Ok(item) = Item::from_bytes(bytes) else {
                        tracing::warn!(%peer, "backfill peer sent an invalid item");
                        continue;
                    };
                    if !from.iter().any(|f| f.author == item.body.author) {
                        continue; // not asked for
                    }
                    let id = item.id();
                    last.insert(item.body.author, (item.body.at, id));
                    let fresh = !self.inner.store.has_moment_item(&id).unwrap_or(true);
                    match self.ingest(item).await {
                        Verdict::Reject(r) => {
                            tracing::warn!(%peer, reason = %r, "backfill peer sent a rejected item")
                        }
                        Verdict::Ignore(r) => tracing::debug!(%peer, reason = %r, "ignored"),
                        Verdict::Accept if fresh => got += 1,
                        Verdict::Accept => {}
                    }
                }
                if !reply.more || last.is_empty() {
                    break;
                }
                from = next_page(from, &last);
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
    async fn ask_sync(&self, peer: PeerId, from: &[SyncFrom]) -> Option<SyncReply> {
        let req = SyncRequest {
            authors: from.to_vec(),
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

/// The cursors of the next page: an author whose items came resumes after
/// the last one; one that sent nothing but comes after the last author that
/// did was not reached (the page filled up first) and is asked again; one
/// before it is done.
fn next_page(from: Vec<SyncFrom>, last: &HashMap<AccountId, (u64, ItemId)>) -> Vec<SyncFrom> {
    let reached = from
        .iter()
        .rposition(|f| last.contains_key(&f.author))
        .unwrap_or(0);
    from.into_iter()
        .enumerate()
        .filter_map(|(i, f)| match last.get(&f.author) {
            Some(&(at, id)) => Some(SyncFrom {
                author: f.author,
                at,
                after: Some(id),
                proof: f.proof,
            }),
            None => (i > reached).then_some(f),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_protocol::AccountKey;

    #[test]
    fn the_next_page_resumes_each_author_and_keeps_the_unreached() {
        let [a, b, c]: [AccountId; 3] =
            std::array::from_fn(|_| AccountKey::generate().unwrap().account_id());
        let start = |author| SyncFrom {
            author,
            at: 0,
            after: None,
            proof: [9; 16],
        };
        let last = HashMap::from([(b, (7, [1; 32]))]);
        let next = next_page(vec![start(a), start(b), start(c)], &last);
        let want = vec![
            SyncFrom {
                author: b,
                at: 7,
                after: Some([1; 32]),
                proof: [9; 16],
            },
            start(c),
        ];
        assert_eq!(next, want);
    }
}
