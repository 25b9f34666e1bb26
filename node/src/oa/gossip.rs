//! The relay check of official-account gossip, run in the swarm task for
//! every message on a `weft/oa/<account>` topic: [`check_gossip`] and the
//! quota slots it remembers ([`SlotTable`]). Kept apart, unchanged, so the
//! pure checks can move to `protocol/` as one piece.

use std::collections::{HashMap, VecDeque};

use weft_protocol::{
    oa::{topic, Broadcast},
    AccountId, Kind,
};

/// Live broadcasts are accepted this far from their timestamp.
const FRESHNESS_SECS: u64 = 36 * 3600;
/// Clock skew tolerated for broadcasts from the future.
const SKEW_SECS: u64 = 600;
/// Quota slots remembered by the gossip validator.
const MAX_SLOTS: usize = 100_000;

/// Quota slots seen by the gossip validator: (account, period, seq) → broadcast id.
#[derive(Default)]
pub struct SlotTable {
    slots: HashMap<(AccountId, u32, u32), [u8; 32]>,
    order: VecDeque<(AccountId, u32, u32)>,
}

impl SlotTable {
    /// Records a slot; Err if another broadcast already holds it.
    pub fn claim(&mut self, key: (AccountId, u32, u32), id: [u8; 32]) -> Result<(), String> {
        match self.slots.get(&key) {
            Some(existing) if *existing != id => {
                Err("quota slot already used by another broadcast".into())
            }
            Some(_) => Ok(()),
            None => {
                if self.order.len() >= MAX_SLOTS {
                    if let Some(old) = self.order.pop_front() {
                        self.slots.remove(&old);
                    }
                }
                self.slots.insert(key, id);
                self.order.push_back(key);
                Ok(())
            }
        }
    }
}

/// Validates one gossip message on an OA topic (runs in the swarm task).
pub fn check_gossip(
    topic_name: &str,
    data: &[u8],
    now: u64,
    slots: &mut SlotTable,
) -> Result<(), String> {
    let b: Broadcast = weft_protocol::decode(Kind::OaBroadcast, data).map_err(|e| e.to_string())?;
    if topic(&b.account()) != topic_name {
        return Err("broadcast signed by another account than the topic's".into());
    }
    b.verify().map_err(|e| e.to_string())?;
    let at = b.body.published_at;
    if at > now + SKEW_SECS || at + FRESHNESS_SECS < now {
        return Err("broadcast is stale or from the future (a replay?)".into());
    }
    slots.claim((b.account(), b.body.period, b.body.seq), b.id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_protocol::AccountKey;

    #[test]
    fn slot_reuse_by_another_broadcast_is_refused() {
        let mut t = SlotTable::default();
        let a = AccountKey::generate().unwrap().account_id();
        assert!(t.claim((a, 1, 1), [1; 32]).is_ok());
        assert!(t.claim((a, 1, 1), [1; 32]).is_ok());
        assert!(t.claim((a, 1, 1), [2; 32]).is_err());
        assert!(t.claim((a, 1, 2), [2; 32]).is_ok());
    }
}
