//! What every node checks before it forwards a broadcast on an OA's topic
//! (`weft/oa/<account>`), followers and relays alike. No keys and no store
//! are needed: the broadcast carries the OA's signed profile, so its kind and
//! quota are known without a lookup. Only the [`SlotTable`] is state, and the
//! caller owns it (the network task keeps one for the node's life).
//!
//! A broadcast that fails here is neither forwarded nor kept, and the peer
//! that sent it loses gossipsub score.

use std::collections::{HashMap, VecDeque};

use super::{Broadcast, OaError};
use crate::{AccountId, DecodeError, Kind};

/// Live broadcasts are accepted this far from their timestamp; backfill
/// brings older ones (and checks them without this window).
pub const FRESHNESS_SECS: u64 = 36 * 3600;
/// Clock skew tolerated for broadcasts from the future.
pub const SKEW_SECS: u64 = 600;
/// Quota slots a [`SlotTable`] remembers; the oldest are forgotten first.
pub const MAX_SLOTS: usize = 100_000;

/// One quota slot: the `seq`-th broadcast of `account` in `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Slot {
    /// The official account.
    pub account: AccountId,
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

/// Quota slots seen, each with the id of the broadcast that took it, so a
/// second broadcast in the same slot is refused while the first one's
/// duplicates pass. Bounded by [`MAX_SLOTS`] (oldest forgotten first).
#[derive(Debug, Default)]
pub struct SlotTable {
    slots: HashMap<Slot, [u8; 32]>,
    order: VecDeque<Slot>,
}

impl SlotTable {
    /// Records that broadcast `id` holds `slot`; refuses if another does.
    pub fn claim(&mut self, slot: Slot, id: [u8; 32]) -> Result<(), SlotTaken> {
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
    slots: &mut SlotTable,
) -> Result<Broadcast, RelayError> {
    let b: Broadcast = crate::decode(Kind::OaBroadcast, data)?;
    let signer = b.account();
    if signer != *topic {
        return Err(RelayError::WrongTopic {
            topic: *topic,
            signer,
        });
    }
    b.verify().map_err(RelayError::Invalid)?;
    let published_at = b.body.published_at;
    if published_at > now + SKEW_SECS || published_at + FRESHNESS_SECS < now {
        return Err(RelayError::NotFresh { published_at, now });
    }
    slots.claim(
        Slot {
            account: signer,
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
    use crate::oa::{BroadcastBody, OaKind, OaProfile, OaProfileBody};
    use crate::{AccountKey, Card};

    fn broadcast(key: &AccountKey, at: u64, title: &str) -> Broadcast {
        let card = Card::new(key, key.certify_device([1; 32], 1), "News", vec![], 1).unwrap();
        let kind = OaKind::Service;
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
                period: 0,
                seq,
            };
            t.claim(slot, [0; 32]).unwrap();
        }
        assert_eq!(t.len(), MAX_SLOTS);
        let first = Slot {
            account: a,
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
}
