//! Catching up (`/weft/group/1`): a member that was away, or that joined a
//! mesh late, asks a connected member of the group for the wires it lacks,
//! described by "per chain, everything below iteration N". Wires are
//! ciphertext signed by their chain, so the answerer vouches for nothing;
//! it still serves only current members, and each device only a bounded
//! number of answers and bytes per minute. Membership changes the asker
//! lacks come along, so a member that missed a removal learns of it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use libp2p::PeerId;
use weft_protocol::{
    chat::MsgId,
    group::{
        GroupId, KeyId, SyncReply, SyncRequest, MAX_SYNC_CHAINS, MAX_SYNC_KEYS, MAX_SYNC_WIRES,
    },
    Kind,
};

use super::Groups;
use crate::budget::PeerBudget;
use crate::log_limit::LogLimit;
use crate::net::{AppProtocol, InboundRequest};

/// Bytes of wires one answer carries at most.
const REPLY_BYTES: usize = 800 * 1024;
/// Bytes of key bundles one answer carries at most.
const KEY_BYTES: usize = 256 * 1024;
/// Bytes of changes one answer carries at most.
const CHANGE_BYTES: usize = 120 * 1024;
/// Answers per device per minute.
const SERVED_PER_MINUTE: u64 = 240;
/// Bytes per device per minute.
const BYTES_PER_MINUTE: u64 = 16 * 1024 * 1024;
/// Pages one catch-up reads at most.
const MAX_PAGES: usize = 40;

static DECLINED: LogLimit = LogLimit::new();

/// What each device may take of `/weft/group/1`.
#[derive(Debug)]
pub(super) struct Budgets {
    requests: PeerBudget,
    bytes: PeerBudget,
}

impl Default for Budgets {
    fn default() -> Self {
        Self {
            requests: PeerBudget::new(SERVED_PER_MINUTE, Duration::from_secs(60)),
            bytes: PeerBudget::new(BYTES_PER_MINUTE, Duration::from_secs(60)),
        }
    }
}

impl Groups {
    /// Our marks: per chain, the iteration below which we want nothing,
    /// and the ids of wires we hold at or above a chain's mark (a chain
    /// with a hole), so the answer does not bring them again.
    fn marks(&self, g: &GroupId) -> (Vec<(KeyId, u32)>, Vec<MsgId>) {
        let mut have: BTreeMap<KeyId, u32> = BTreeMap::new();
        // Contiguous from the first wire we hold up to the first gap.
        let mut by_key: BTreeMap<KeyId, Vec<u32>> = BTreeMap::new();
        for (k, it, _) in self.store().group_wires(g) {
            by_key.entry(k).or_default().push(it);
        }
        for (k, its) in &by_key {
            let mut next = its.first().copied().unwrap_or(0);
            for &it in its {
                if it != next {
                    break;
                }
                next += 1;
            }
            have.insert(*k, next);
        }
        // The chain itself knows what it skipped: a first wire lost by
        // gossip leaves no gap among the wires we hold, only in the chain.
        // Chains we know but hold no wire of yet are listed too (from the
        // share's iteration): a chain left out is one whose key bundle we
        // ask for.
        for (k, chain) in self.store().group_chains(g).unwrap_or_default() {
            let low = chain.first_missing();
            have.entry(k)
                .and_modify(|m| *m = (*m).min(low))
                .or_insert(low);
        }
        if let Ok(Some(meta)) = self.store().group_meta(g) {
            for k in meta.own_keys {
                have.insert(k, u32::MAX);
            }
        }
        let have: Vec<_> = have.into_iter().take(MAX_SYNC_CHAINS).collect();
        let marks: BTreeMap<KeyId, u32> = have.iter().copied().collect();
        // The wires held at or above a mark, from the scan above (in the
        // store's order: chain, then iteration).
        let above = by_key
            .iter()
            .filter_map(|(k, its)| marks.get(k).map(|m| (k, its, *m)))
            .flat_map(|(k, its, m)| {
                its.iter()
                    .filter(move |it| **it >= m)
                    .map(move |it| weft_protocol::group::GroupWire::id_of(k, *it))
            })
            .take(MAX_SYNC_WIRES * 2)
            .collect();
        (have, above)
    }

    /// Asks `peer` (a member's device) for what we lack of group `g`.
    pub(super) async fn sync_with(&self, peer: PeerId, g: GroupId) {
        for _ in 0..MAX_PAGES {
            let (have, mut skip) = self.marks(&g);
            skip.extend(
                self.store()
                    .held_wire_ids(&g, (MAX_SYNC_WIRES * 4).saturating_sub(skip.len())),
            );
            let req = SyncRequest {
                group: g,
                have,
                skip,
                changes: u32::try_from(self.store().group_change_count(&g)).unwrap_or(u32::MAX),
            };
            let Ok(bytes) = weft_protocol::encode(Kind::GroupSyncRequest, &req) else {
                return;
            };
            let reply = match self
                .inner
                .ctx
                .net
                .request(AppProtocol::Group, peer, bytes)
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "group sync failed");
                    return;
                }
            };
            let reply: SyncReply = match weft_protocol::decode(Kind::GroupSyncReply, &reply) {
                Ok(r) => r,
                Err(e) => {
                    tracing::info!(%peer, error = %e, "bad group sync answer");
                    return;
                }
            };
            // Bundles first: the wires of this answer may need them.
            for k in reply.keys.iter().take(MAX_SYNC_KEYS) {
                let Ok(keys) = weft_protocol::group::GroupKeys::decode(k) else {
                    continue;
                };
                match self.on_keys(&g, &keys) {
                    Ok(true) => {}
                    Ok(false) => tracing::debug!(%peer, "refusing a synced key bundle"),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot store a synced sender key");
                        return;
                    }
                }
            }
            let account = self.account_of(&peer);
            if !reply.changes.is_empty() {
                if let Some(a) = account {
                    if let Err(e) = self.on_changes(a, g, reply.changes.clone(), None) {
                        tracing::warn!(error = %e, "cannot store synced group changes");
                    }
                }
            }
            let mut stored = 0;
            for w in &reply.wires {
                match self.on_wire(&g, w) {
                    Ok(super::ingest::WireOutcome::Refused | super::ingest::WireOutcome::Known) => {
                    }
                    Ok(_) => stored += 1,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot store a synced group message");
                        return;
                    }
                }
            }
            let _ = self.store().flush_async().await;
            if !reply.more || stored == 0 {
                return;
            }
        }
    }

    /// The account a connected device speaks for (from its verified card).
    pub(super) fn account_of(&self, peer: &PeerId) -> Option<weft_protocol::AccountId> {
        let card = self.store().card(&peer.to_bytes()).ok()??;
        (crate::net::card_peer(&card) == Some(*peer)).then(|| card.account())
    }

    /// Answers `/weft/group/1`. `None` declines.
    pub fn handle_inbound(&self, req: &InboundRequest) -> Option<Vec<u8>> {
        if !self.inner.served.requests.spend(req.peer, 1) {
            if let Some(suppressed) = DECLINED.allow() {
                tracing::warn!(peer = %req.peer, suppressed, "too many group sync requests; declining");
            }
            return None;
        }
        let r: SyncRequest = weft_protocol::decode(Kind::GroupSyncRequest, &req.data).ok()?;
        r.check().ok()?;
        let asker = self.account_of(&req.peer)?;
        let l = self.loaded(&r.group).ok()??;
        if !l.state.members.contains_key(&asker) || !l.state.members.contains_key(&self.me()) {
            return None;
        }
        let have: BTreeMap<KeyId, u32> = r.have.iter().copied().collect();
        let skip: BTreeSet<_> = r.skip.iter().copied().collect();
        let mut reply = SyncReply::default();
        let mut bytes = 0;
        for (k, it, w) in self.store().group_wires(&r.group) {
            if have.get(&k).is_some_and(|m| it < *m)
                || skip.contains(&weft_protocol::group::GroupWire::id_of(&k, it))
            {
                continue;
            }
            if reply.wires.len() >= MAX_SYNC_WIRES || bytes + w.len() > REPLY_BYTES {
                reply.more = true;
                break;
            }
            bytes += w.len();
            reply.wires.push(w);
        }
        // Key bundles of the chains the asker did not list: it lacks them.
        let mut kb = 0;
        for (_, b) in self
            .store()
            .group_bundles(&r.group, |k| !have.contains_key(k))
        {
            if reply.keys.len() >= MAX_SYNC_KEYS || kb + b.len() > KEY_BYTES {
                break;
            }
            kb += b.len();
            reply.keys.push(b);
        }
        if self.store().group_change_count(&r.group) > r.changes as usize {
            let mut cb = 0;
            for (_, c) in l.log.ordered() {
                let n = postcard::to_stdvec(c).map(|v| v.len()).unwrap_or(0);
                if cb + n > CHANGE_BYTES {
                    break;
                }
                cb += n;
                reply.changes.push(c.clone());
            }
        }
        let out = weft_protocol::encode(Kind::GroupSyncReply, &reply).ok()?;
        if !self.inner.served.bytes.spend(req.peer, out.len() as u64) {
            return None;
        }
        Some(out)
    }
}
