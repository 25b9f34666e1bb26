//! What every node checks before it forwards a broadcast on an OA's topic
//! (`weft/oa/<account>`), followers and relays alike, and before it keeps a
//! broadcast a peer handed over in backfill. No keys are needed: the
//! broadcast carries the OA's signed profile, so its kind and quota are
//! known without a lookup. The only state is the quota slots already taken,
//! behind [`SlotRegistry`]; the caller owns it (a node keeps its slots on
//! disk, so a restart does not make used slots free again; [`SlotTable`] is
//! the in-memory version).
//!
//! A broadcast that fails here is neither forwarded nor kept, and the peer
//! that sent it loses gossipsub score.

use std::collections::{HashMap, VecDeque};

use super::{Broadcast, OaError, OaKind};
use crate::{AccountId, DecodeError, Kind};

/// Live broadcasts are accepted this far from their timestamp.
pub const FRESHNESS_SECS: u64 = 36 * 3600;
/// Backfill brings broadcasts at most this old. Without a window every past
/// day would be a fresh quota slot, and an account could fill its followers'
/// feeds with posts backdated one per day.
pub const BACKFILL_WINDOW_SECS: u64 = 90 * 86_400;
/// Clock skew tolerated for broadcasts from the future.
pub const SKEW_SECS: u64 = 600;
/// Quota slots a [`SlotTable`] remembers; the oldest are forgotten first.
pub const MAX_SLOTS: usize = 100_000;

/// One quota slot: the `seq`-th broadcast of `account` in `period`. The
/// kind is part of the slot: day and month numbers of the two kinds are
/// different counts and must never be taken for one another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Slot {
    /// The official account.
    pub account: AccountId,
    /// The account's kind, which says what `period` counts.
    pub kind: OaKind,
    /// UTC day or month number (see [`super::OaKind::period_of`]).
    pub period: u32,
    /// Position within the period's quota (1-based).
    pub seq: u32,
}

/// A second, different broadcast for a slot already taken (equivocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "quota slot {}/{} of {} already used by another broadcast",
    .0.period,
    .0.seq,
    .0.account
)]
pub struct SlotTaken(pub Slot);

/// Why a relay refused a broadcast.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    /// The bytes are not an OA broadcast envelope.
    #[error("not a broadcast: {0}")]
    Decode(#[from] DecodeError),
    /// Signed by another account than the topic is for.
    #[error("broadcast signed by {signer}, on the topic of {topic}")]
    WrongTopic {
        /// The account the topic is for.
        topic: AccountId,
        /// The account that signed the broadcast.
        signer: AccountId,
    },
    /// Profile, signature, bounds, quota or period do not check out.
    #[error("broadcast does not verify: {0}")]
    Invalid(#[source] OaError),
    /// Outside the freshness window: a replay, or a wrong clock.
    #[error(
        "broadcast published at {published_at} is stale or from the future (now {now}; a replay?)"
    )]
    NotFresh {
        /// The broadcast's own timestamp (Unix seconds).
        published_at: u64,
        /// The relay's clock (Unix seconds).
        now: u64,
    },
    /// Another broadcast already holds this quota slot.
    #[error(transparent)]
    SlotTaken(#[from] SlotTaken),
}

/// Where the quota slots already taken are kept.
pub trait SlotRegistry {
    /// Records that broadcast `id` holds `slot`; refuses if another does
    /// (the same broadcast again is fine).
    fn claim(&mut self, slot: Slot, id: [u8; 32]) -> Result<(), SlotTaken>;
}

/// Quota slots seen, each with the id of the broadcast that took it, so a
/// second broadcast in the same slot is refused while the first one's
/// duplicates pass. Bounded by [`MAX_SLOTS`] (oldest forgotten first).
#[derive(Debug, Default)]
pub struct SlotTable {
    slots: HashMap<Slot, [u8; 32]>,
    order: VecDeque<Slot>,
}

impl SlotRegistry for SlotTable {
    fn claim(&mut self, slot: Slot, id: [u8; 32]) -> Result<(), SlotTaken> {
        match self.slots.get(&slot) {
            Some(existing) if *existing != id => Err(SlotTaken(slot)),
            Some(_) => Ok(()),
            None => {
                if self.order.len() >= MAX_SLOTS {
                    if let Some(old) = self.order.pop_front() {
                        self.slots.remove(&old);
                    }
                }
                self.slots.insert(slot, id);
                self.order.push_back(slot);
                Ok(())
            }
        }
    }
}

impl SlotTable {
    /// Slots remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether no slot is remembered yet.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// The relay check of one gossip message on `topic`'s OA topic at time
/// `now`: decode, signer is the topic's account, verify, freshness, then
/// claim the quota slot. The slot is claimed last, so a message refused for
/// another reason never takes a slot.
pub fn check_broadcast(
    topic: &AccountId,
    data: &[u8],
    now: u64,
    slots: &mut impl SlotRegistry,
) -> Result<Broadcast, RelayError> {
    let b: Broadcast = crate::decode(Kind::OaBroadcast, data)?;
    check(topic, b, now, FRESHNESS_SECS, slots)
}

/// The check of a broadcast of `account` that a peer handed over in
/// backfill (postcard bytes, as `/weft/oa/1` `Posts` carries them): the
/// same as [`check_broadcast`] but reaching back [`BACKFILL_WINDOW_SECS`].
/// Nothing from the future (beyond clock skew) is kept, so no post can pin
/// itself to the top of a feed.
pub fn check_backfilled(
    account: &AccountId,
    bytes: &[u8],
    now: u64,
    slots: &mut impl SlotRegistry,
) -> Result<Broadcast, RelayError> {
    let b: Broadcast = crate::envelope::decode_body(Kind::OaBroadcast, bytes)?;
    check(account, b, now, BACKFILL_WINDOW_SECS, slots)
}

fn check(
    topic: &AccountId,
    b: Broadcast,
    now: u64,
    reach_back: u64,
    slots: &mut impl SlotRegistry,
) -> Result<Broadcast, RelayError> {
    let signer = b.account();
    if signer != *topic {
        return Err(RelayError::WrongTopic {
            topic: *topic,
            signer,
        });
    }
    b.verify().map_err(RelayError::Invalid)?;
    let published_at = b.body.published_at;
    if published_at > now.saturating_add(SKEW_SECS) || published_at.saturating_add(reach_back) < now
    {
        return Err(RelayError::NotFresh { published_at, now });
    }
    slots.claim(
        Slot {
            account: signer,
            kind: b.body.profile.body.kind,
            period: b.body.period,
            seq: b.body.seq,
        },
        b.id(),
    )?;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oa::{BroadcastBody, OaProfile, OaProfileBody};
    use crate::{AccountKey, Card};

    fn broadcast(key: &AccountKey, at: u64, title: &str) -> Broadcast {
        broadcast_of(key, OaKind::Service, at, title)
    }

    fn broadcast_of(key: &AccountKey, kind: OaKind, at: u64, title: &str) -> Broadcast {
        let card = Card::new(key, key.certify_device([1; 32], 1), "News", vec![], 1).unwrap();
        let profile = OaProfile::new(
            key,
            OaProfileBody {
                card,
                kind,
                description: String::new(),
                verification: None,
            },
        )
        .unwrap();
        Broadcast::new(
            key,
            BroadcastBody {
                profile,
                period: kind.period_of(at),
                seq: 1,
                published_at: at,
                title: title.into(),
                body: "body".into(),
                link: None,
                parts: vec![],
                images: vec![],
            },
        )
        .unwrap()
    }

    fn bytes(b: &Broadcast) -> Vec<u8> {
        crate::encode(Kind::OaBroadcast, b).unwrap()
    }

    #[test]
    fn slot_reuse_by_another_broadcast_is_refused() {
        let mut t = SlotTable::default();
        let a = AccountKey::generate().unwrap().account_id();
        let slot = |seq| Slot {
            account: a,
            kind: OaKind::Service,
            period: 1,
            seq,
        };
        assert!(t.claim(slot(1), [1; 32]).is_ok());
        assert!(t.claim(slot(1), [1; 32]).is_ok());
        assert_eq!(t.claim(slot(1), [2; 32]), Err(SlotTaken(slot(1))));
        assert!(t.claim(slot(2), [2; 32]).is_ok());
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn the_slot_table_forgets_its_oldest_slots() {
        let mut t = SlotTable::default();
        let a = AccountKey::generate().unwrap().account_id();
        for seq in 0..=MAX_SLOTS as u32 {
            let slot = Slot {
                account: a,
                kind: OaKind::Service,
                period: 0,
                seq,
            };
            t.claim(slot, [0; 32]).unwrap();
        }
        assert_eq!(t.len(), MAX_SLOTS);
        let first = Slot {
            account: a,
            kind: OaKind::Service,
            period: 0,
            seq: 0,
        };
        // Forgotten, so another broadcast may take it again.
        assert!(t.claim(first, [9; 32]).is_ok());
    }

    #[test]
    fn a_fresh_broadcast_on_its_own_topic_passes() {
        let key = AccountKey::generate().unwrap();
        let now = 1_795_608_000;
        let b = broadcast(&key, now, "Hello");
        let mut slots = SlotTable::default();
        let got = check_broadcast(&key.account_id(), &bytes(&b), now, &mut slots).unwrap();
        assert_eq!(got, b);
        // The same broadcast again (a duplicate) is fine.
        assert!(check_broadcast(&key.account_id(), &bytes(&b), now, &mut slots).is_ok());
    }

    #[test]
    fn wrong_topic_stale_future_garbage_and_taken_slots_are_refused() {
        let key = AccountKey::generate().unwrap();
        let me = key.account_id();
        let other = AccountKey::generate().unwrap().account_id();
        let now = 1_795_608_000;
        let b = bytes(&broadcast(&key, now, "Hello"));
        let mut slots = SlotTable::default();
        assert!(matches!(
            check_broadcast(&other, &b, now, &mut slots),
            Err(RelayError::WrongTopic { topic, signer }) if topic == other && signer == me
        ));
        assert!(matches!(
            check_broadcast(&me, &b, now + FRESHNESS_SECS + 1, &mut slots),
            Err(RelayError::NotFresh { .. })
        ));
        assert!(matches!(
            check_broadcast(&me, &b, now - SKEW_SECS - 1, &mut slots),
            Err(RelayError::NotFresh { .. })
        ));
        assert!(matches!(
            check_broadcast(&me, b"garbage", now, &mut slots),
            Err(RelayError::Decode(_))
        ));
        // Refused messages took no slot: a second broadcast may still have it.
        assert!(slots.is_empty());
        check_broadcast(&me, &b, now, &mut slots).unwrap();
        let rival = bytes(&broadcast(&key, now, "Rival"));
        assert!(matches!(
            check_broadcast(&me, &rival, now, &mut slots),
            Err(RelayError::SlotTaken(SlotTaken(Slot { seq: 1, .. })))
        ));
    }

    #[test]
    fn a_tampered_broadcast_does_not_verify() {
        let key = AccountKey::generate().unwrap();
        let now = 1_795_608_000;
        let mut b = broadcast(&key, now, "Hello");
        b.body.title = "Changed".into();
        let mut slots = SlotTable::default();
        assert!(matches!(
            check_broadcast(&key.account_id(), &bytes(&b), now, &mut slots),
            Err(RelayError::Invalid(_))
        ));
    }

    #[test]
    fn backfill_keeps_neither_future_posts_nor_posts_from_long_ago() {
        let key = AccountKey::generate().unwrap();
        let me = key.account_id();
        let now = 1_795_608_000;
        let raw = |b: &Broadcast| postcard::to_stdvec(b).unwrap();
        let mut slots = SlotTable::default();
        // Last week is fine in backfill (not live).
        let last_week = broadcast(&key, now - 7 * 86_400, "Last week");
        assert!(check_backfilled(&me, &raw(&last_week), now, &mut slots).is_ok());
        assert!(matches!(
            check_broadcast(&me, &bytes(&last_week), now, &mut slots),
            Err(RelayError::NotFresh { .. })
        ));
        // A year in the future would sit on top of every feed.
        let future = broadcast(&key, now + 365 * 86_400, "Pinned");
        assert!(matches!(
            check_backfilled(&me, &raw(&future), now, &mut slots),
            Err(RelayError::NotFresh { .. })
        ));
        // Each day of years past would be a fresh slot.
        for days in [200, 400, 800] {
            let old = broadcast(&key, now - days * 86_400, "Backdated");
            assert!(matches!(
                check_backfilled(&me, &raw(&old), now, &mut slots),
                Err(RelayError::NotFresh { .. })
            ));
        }
        assert_eq!(slots.len(), 1);
    }

    #[test]
    fn the_kind_is_part_of_the_slot() {
        let key = AccountKey::generate().unwrap();
        let me = key.account_id();
        let now = 1_795_608_000;
        let mut slots = SlotTable::default();
        let sub = broadcast_of(&key, OaKind::Subscription, now, "Daily");
        let b = check_broadcast(&me, &bytes(&sub), now, &mut slots).unwrap();
        // A service slot with the same numbers is another slot.
        let taken = Slot {
            account: me,
            kind: OaKind::Service,
            period: b.body.period,
            seq: 1,
        };
        assert!(slots.claim(taken, [7; 32]).is_ok());
        let same = Slot {
            kind: OaKind::Subscription,
            ..taken
        };
        assert!(slots.claim(same, [7; 32]).is_err());
    }
}
