//! The answering side of `/weft/sync/1`: hands a device the stored items on
//! the topics it asks about. Items are signed and encrypted, so serving them
//! to anyone leaks nothing a relay would not see; the author's "last N days"
//! setting is still honoured, and each device gets a bounded number of
//! answers and bytes per minute so a peer cannot make us read the store and
//! upload in a loop.

use std::time::Duration;

use weft_protocol::{
    moments::{self, SyncFrom, SyncReply, SyncRequest},
    AccountId, Kind,
};

use super::Moments;
use crate::budget::PeerBudget;
use crate::log_limit::LogLimit;
use crate::net::InboundRequest;

/// Bytes one sync answer carries at most.
const SYNC_REPLY_BYTES: usize = 900 * 1024;
/// Sync requests answered per device per minute; more are declined.
const SYNC_SERVED_PER_MINUTE: u64 = 30;
/// Bytes of sync answers per device per minute; more are declined.
const SYNC_BYTES_PER_MINUTE: u64 = 8 * 1024 * 1024;
/// The rate limit's window.
const WINDOW: Duration = Duration::from_secs(60);

/// Warnings about sync requests we decline (a peer can cause them at will).
static DECLINED: LogLimit = LogLimit::new();

/// Whether `proof` is `author`'s topic tag under `key` (compared in
/// constant time: it is a capability).
fn sync_proof_holds(author: &AccountId, key: &moments::TopicKey, proof: &[u8; 16]) -> bool {
    let want = moments::topic_tag(author, key);
    want.iter().zip(proof).fold(0u8, |d, (a, b)| d | (a ^ b)) == 0
}

/// What each device may take of `/weft/sync/1` per minute.
#[derive(Debug)]
pub(super) struct SyncBudgets {
    requests: PeerBudget,
    bytes: PeerBudget,
}

impl Default for SyncBudgets {
    fn default() -> Self {
        Self {
            requests: PeerBudget::new(SYNC_SERVED_PER_MINUTE, WINDOW),
            bytes: PeerBudget::new(SYNC_BYTES_PER_MINUTE, WINDOW),
        }
    }
}

impl Moments {
    /// Whether `asker` (the account the requesting device's verified card
    /// names, if any) may have `from.author`'s items: the author itself, or
    /// someone proving the author's current topic key.
    fn may_sync(&self, asker: Option<&AccountId>, from: &SyncFrom) -> bool {
        if asker == Some(&from.author) {
            return true;
        }
        self.topic_key_of(&from.author)
            .is_some_and(|k| sync_proof_holds(&from.author, &k, &from.proof))
    }

    /// The account a connected device speaks for (from its verified card).
    fn account_of(&self, peer: &libp2p::PeerId) -> Option<AccountId> {
        let card = self.inner.store.card(&peer.to_bytes()).ok()??;
        (crate::net::card_peer(&card) == Some(*peer)).then(|| card.account())
    }

    /// Answers `/weft/sync/1`: items are signed and encrypted, so any peer
    /// may have them; the author's "last N days" setting is honoured.
    /// `None` declines (rate limit, malformed request).
    pub fn handle_inbound(&self, req: &InboundRequest) -> Option<Vec<u8>> {
        if !self.inner.served.requests.spend(req.peer, 1) {
            if let Some(suppressed) = DECLINED.allow() {
                tracing::warn!(peer = %req.peer, suppressed, "too many sync requests; declining");
            }
            return None;
        }
        let r: SyncRequest = match weft_protocol::decode(Kind::SyncRequest, &req.data) {
            Ok(r) => r,
            Err(e) => {
                if let Some(suppressed) = DECLINED.allow() {
                    tracing::warn!(peer = %req.peer, error = %e, suppressed, "bad sync request");
                }
                return None;
            }
        };
        if r.authors.len() > moments::MAX_SYNC_AUTHORS {
            if let Some(suppressed) = DECLINED.allow() {
                tracing::warn!(peer = %req.peer, suppressed, "sync request for too many authors");
            }
            return None;
        }
        let asker = self.account_of(&req.peer);
        let now = weft_protocol::unix_now();
        let mut items = Vec::new();
        let mut bytes = 0;
        let mut more = false;
        for from in &r.authors {
            // Only the author and those it gave its topic key (its friends)
            // learn what it posted and when.
            if !self.may_sync(asker.as_ref(), from) {
                continue;
            }
            // The author's "last N days": nothing before the cutoff.
            let cutoff = self.cutoff(&from.author, now);
            let from = if from.at < cutoff {
                SyncFrom {
                    author: from.author,
                    at: cutoff,
                    after: None,
                    proof: from.proof,
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
        let reply = weft_protocol::encode(Kind::SyncReply, &SyncReply { items, more }).ok()?;
        if !self.inner.served.bytes.spend(req.peer, reply.len() as u64) {
            if let Some(suppressed) = DECLINED.allow() {
                tracing::warn!(peer = %req.peer, suppressed, "sync upload budget spent; declining");
            }
            return None;
        }
        Some(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_protocol::AccountKey;

    /// Defect 13: backfill serves an author's items only against the
    /// author's current topic key, which strangers (and ex-friends, once it
    /// is replaced) do not have.
    #[test]
    fn a_sync_proof_must_be_the_authors_tag_under_the_key_we_hold() {
        let a = AccountKey::generate().unwrap().account_id();
        let b = AccountKey::generate().unwrap().account_id();
        let key = [7; 32];
        assert!(sync_proof_holds(&a, &key, &moments::topic_tag(&a, &key)));
        assert!(!sync_proof_holds(
            &a,
            &key,
            &moments::topic_tag(&a, &[8; 32])
        ));
        assert!(!sync_proof_holds(&a, &key, &moments::topic_tag(&b, &key)));
        assert!(!sync_proof_holds(&a, &key, &[0; 16]));
    }
}
