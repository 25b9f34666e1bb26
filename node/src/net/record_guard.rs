//! What this node keeps of the records and provider announcements other
//! peers ask it to store. Record filtering is on (`StoreInserts::FilterBoth`),
//! so nothing reaches the store except through [`RecordGuard`]:
//!
//! - each peer has a budget of writes per minute ([`WRITES_PER_MINUTE`]), so
//!   one peer (or a few) cannot fill the store in a burst;
//! - a record must validate ([`records::validate`]) and may replace the one
//!   held only as [`records::may_replace`] allows (first handle claim wins,
//!   account records never go back in time);
//! - a provider announcement is kept only for a key Weft uses
//!   ([`records::valid_provider_key`]); without this, People Nearby and
//!   `oa search` found only providers that happened to be our own neighbours;
//! - a write is taken only for a key we are close to ([`close_enough`]):
//!   honest writers put a record on the peers closest to its key, so a
//!   write far from us is someone grinding keys to fill our store;
//! - the store itself is capped ([`MAX_RECORDS`], and libp2p's own caps on
//!   providers per key and keys).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::kad::{self, store::RecordStore};
use libp2p::PeerId;

use super::records::{self, RecordError};

/// Records the store holds at most (libp2p's default is 1,024, which a
/// handful of throwaway keys filled).
pub const MAX_RECORDS: usize = 8 * 1024;
/// Provider keys the store holds at most.
pub const MAX_PROVIDER_KEYS: usize = 8 * 1024;
/// Records plus provider announcements one peer may store with us per minute.
/// An honest peer writes a few per half hour (its account record, its
/// handle, its People Nearby cell, its OA name words) and re-replicates at
/// most its share of the keys it is close to.
pub const WRITES_PER_MINUTE: u32 = 32;
/// Peers whose budgets are tracked at once; past it, writes from peers not
/// tracked are refused until windows expire (memory stays bounded).
const MAX_TRACKED_PEERS: usize = 4096;
const WINDOW: Duration = Duration::from_secs(60);

/// Peers closer to a key than we are that we may know of and still take a
/// write under it: the replication factor (20, libp2p's default) twice over,
/// because the writer's view of the closest peers is not exactly ours.
pub const CLOSER_ALLOWED: usize = 2 * 20;

/// Whether we are close enough to `key` to store under it: fewer than
/// [`CLOSER_ALLOWED`] of the peers we know (`known`, closest first or in any
/// order) are closer to it than `me`. In a small network every node is.
pub(super) fn close_enough(
    me: &PeerId,
    key: &kad::RecordKey,
    known: impl IntoIterator<Item = PeerId>,
) -> bool {
    let target = kad::KBucketKey::from(key.clone());
    let mine = kad::KBucketKey::from(*me).distance(&target);
    let closer = known
        .into_iter()
        .filter(|p| kad::KBucketKey::from(*p).distance(&target) < mine)
        .take(CLOSER_ALLOWED)
        .count();
    closer < CLOSER_ALLOWED
}

/// The store's door: budgets per peer, validation, replacement rules.
#[derive(Debug, Default)]
pub(super) struct RecordGuard {
    /// Per peer: when its current window started and writes in it.
    budgets: HashMap<PeerId, (Instant, u32)>,
}

/// The store configuration matching the guard's caps.
pub(super) fn store_config() -> kad::store::MemoryStoreConfig {
    kad::store::MemoryStoreConfig {
        max_records: MAX_RECORDS,
        max_value_bytes: 16 * 1024,
        max_provided_keys: MAX_PROVIDER_KEYS,
        ..Default::default()
    }
}

impl RecordGuard {
    /// Spends one write of `peer`'s budget, or refuses.
    fn spend(&mut self, peer: PeerId, now: Instant) -> Result<(), RecordError> {
        if self.budgets.len() >= MAX_TRACKED_PEERS && !self.budgets.contains_key(&peer) {
            self.budgets
                .retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
            if self.budgets.len() >= MAX_TRACKED_PEERS {
                return Err(RecordError::RateLimited);
            }
        }
        let (start, count) = self.budgets.entry(peer).or_insert((now, 0));
        if now.duration_since(*start) >= WINDOW {
            *start = now;
            *count = 0;
        }
        if *count >= WRITES_PER_MINUTE {
            return Err(RecordError::RateLimited);
        }
        *count += 1;
        Ok(())
    }

    /// Stores `record` from `source` if it is acceptable (see the module
    /// comment). `unix_now` judges record freshness, `now` the budgets.
    pub(super) fn admit_record(
        &mut self,
        store: &mut impl RecordStore,
        source: PeerId,
        record: kad::Record,
        unix_now: u64,
        now: Instant,
    ) -> Result<(), RecordError> {
        self.spend(source, now)?;
        let key = record.key.to_vec();
        records::validate(&key, &record.value, unix_now)?;
        let held = store
            .get(&record.key)
            .filter(|r| !r.is_expired(now))
            .map(|r| r.value.clone());
        records::may_replace(&key, held.as_deref(), &record.value)?;
        store.put(record).map_err(|_| RecordError::StoreFull)
    }

    /// Stores a provider announcement (its provider is the peer that sent
    /// it; libp2p checks that) if its key is one Weft uses.
    pub(super) fn admit_provider(
        &mut self,
        store: &mut impl RecordStore,
        record: kad::ProviderRecord,
        now: Instant,
    ) -> Result<(), RecordError> {
        self.spend(record.provider, now)?;
        if !records::valid_provider_key(&record.key.to_vec()) {
            return Err(RecordError::UnknownKey);
        }
        store
            .add_provider(record)
            .map_err(|_| RecordError::StoreFull)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kad::store::MemoryStore;
    use weft_protocol::{profile::HandleClaim, AccountKey, Card, Kind};

    fn card(key: &AccountKey, issued: u64) -> Card {
        Card::new(
            key,
            key.certify_device([1; 32], issued),
            "Ada",
            vec![],
            issued,
        )
        .unwrap()
    }

    fn claim(key: &AccountKey, handle: &str, claimed_at: u64, now: u64) -> kad::Record {
        let c = HandleClaim::new(key, handle, card(key, now), claimed_at).unwrap();
        kad::Record::new(
            records::handle_key(handle),
            weft_protocol::encode(Kind::HandleClaim, &c).unwrap(),
        )
    }

    fn account_record(key: &AccountKey, issued: u64) -> kad::Record {
        kad::Record::new(
            records::account_key(&key.account_id()),
            weft_protocol::encode(Kind::Card, &card(key, issued)).unwrap(),
        )
    }

    fn store() -> MemoryStore {
        MemoryStore::with_config(PeerId::random(), store_config())
    }

    #[test]
    fn the_first_claim_of_a_handle_keeps_it_whatever_date_a_rival_claims() {
        let now = 1_800_000_000;
        let (owner, thief) = (
            AccountKey::generate().unwrap(),
            AccountKey::generate().unwrap(),
        );
        let mut guard = RecordGuard::default();
        let mut s = store();
        let t = Instant::now();
        let first = claim(&owner, "ada_lovelace", now, now);
        guard
            .admit_record(&mut s, PeerId::random(), first.clone(), now, t)
            .unwrap();
        // A rival claim dated to 1970 is refused; the owner's refresh is not.
        let rival = claim(&thief, "ada_lovelace", 0, now);
        assert!(matches!(
            guard.admit_record(&mut s, PeerId::random(), rival, now, t),
            Err(RecordError::HandleTaken(_))
        ));
        let held = s.get(&first.key).map(|r| r.value.clone());
        assert_eq!(held.as_deref(), Some(first.value.as_slice()));
        let refresh = claim(&owner, "ada_lovelace", now, now + 60);
        guard
            .admit_record(&mut s, PeerId::random(), refresh, now + 60, t)
            .unwrap();
    }

    #[test]
    fn an_account_record_cannot_be_replaced_by_an_older_one() {
        let now = 1_800_000_000;
        let a = AccountKey::generate().unwrap();
        let mut guard = RecordGuard::default();
        let mut s = store();
        let t = Instant::now();
        let fresh = account_record(&a, now);
        guard
            .admit_record(&mut s, PeerId::random(), fresh.clone(), now, t)
            .unwrap();
        assert!(matches!(
            guard.admit_record(
                &mut s,
                PeerId::random(),
                account_record(&a, now - 600),
                now,
                t
            ),
            Err(RecordError::Older { .. })
        ));
        let held = s.get(&fresh.key).map(|r| r.value.clone());
        assert_eq!(held.as_deref(), Some(fresh.value.as_slice()));
    }

    /// Defect 13 (grinding keys near a node): a key many known peers are
    /// closer to is refused; a key we are among the closest to is taken,
    /// and so is every key while we know only a few peers.
    #[test]
    fn writes_are_taken_only_for_keys_we_are_close_to() {
        let me = PeerId::random();
        let known: Vec<PeerId> = (0..400).map(|_| PeerId::random()).collect();
        let closer = |key: &kad::RecordKey| {
            let t = kad::KBucketKey::from(key.clone());
            let mine = kad::KBucketKey::from(me).distance(&t);
            known
                .iter()
                .filter(|p| kad::KBucketKey::from(**p).distance(&t) < mine)
                .count()
        };
        let (mut far, mut near) = (None, None);
        for i in 0..10_000u32 {
            let key = kad::RecordKey::new(&i.to_be_bytes());
            match closer(&key) {
                n if n >= CLOSER_ALLOWED && far.is_none() => far = Some(key),
                n if n < 5 && near.is_none() => near = Some(key),
                _ => {}
            }
        }
        let (far, near) = (far.unwrap(), near.unwrap());
        assert!(!close_enough(&me, &far, known.iter().copied()));
        assert!(close_enough(&me, &near, known.iter().copied()));
        assert!(close_enough(&me, &far, known.iter().copied().take(10)));
    }

    #[test]
    fn one_peer_cannot_write_more_than_its_budget() {
        let now = 1_800_000_000;
        let mut guard = RecordGuard::default();
        let mut s = store();
        let (sybil, honest) = (PeerId::random(), PeerId::random());
        let t = Instant::now();
        for _ in 0..WRITES_PER_MINUTE {
            let r = account_record(&AccountKey::generate().unwrap(), now);
            guard.admit_record(&mut s, sybil, r, now, t).unwrap();
        }
        let r = account_record(&AccountKey::generate().unwrap(), now);
        assert!(matches!(
            guard.admit_record(&mut s, sybil, r.clone(), now, t),
            Err(RecordError::RateLimited)
        ));
        guard
            .admit_record(&mut s, honest, r.clone(), now, t)
            .unwrap();
        // A minute later the budget is back.
        let r = account_record(&AccountKey::generate().unwrap(), now);
        guard
            .admit_record(&mut s, sybil, r, now, t + WINDOW)
            .unwrap();
    }

    #[test]
    fn provider_announcements_for_weft_keys_are_stored() {
        let mut guard = RecordGuard::default();
        let mut s = store();
        let provider = PeerId::random();
        let key = kad::RecordKey::new(&records::geo_key("wx4g0"));
        let rec = kad::ProviderRecord::new(key.clone(), provider, vec![]);
        guard.admit_provider(&mut s, rec, Instant::now()).unwrap();
        assert_eq!(s.providers(&key).len(), 1);
        let junk = kad::ProviderRecord::new(kad::RecordKey::new(&b"/x/y"), provider, vec![]);
        assert!(matches!(
            guard.admit_provider(&mut s, junk, Instant::now()),
            Err(RecordError::UnknownKey)
        ));
    }
}
