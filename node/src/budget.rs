//! Per-peer budgets for what we hand out to peers that ask (sync pages,
//! blob chunks): each peer may take so much per window, then it is declined
//! until the window turns. A peer id is free, so a budget does not stop a
//! crowd; it stops one peer from making us read and upload in a loop, and
//! the router's per-peer request limit (`inbound.rs`) bounds the rest.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use libp2p::PeerId;

/// Peers remembered before those whose window has passed are forgotten.
const PEERS_KEPT: usize = 4096;

/// How much each peer may take per window.
#[derive(Debug)]
pub struct PeerBudget {
    limit: u64,
    window: Duration,
    spent: Mutex<HashMap<PeerId, (Instant, u64)>>,
}

impl PeerBudget {
    /// `limit` units (requests, bytes) per peer per `window`.
    pub fn new(limit: u64, window: Duration) -> Self {
        Self {
            limit,
            window,
            spent: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `amount` from `peer`'s budget; false (and nothing taken) if
    /// that would go over it.
    pub fn spend(&self, peer: PeerId, amount: u64) -> bool {
        let Ok(mut spent) = self.spent.lock() else {
            return false;
        };
        if spent.len() > PEERS_KEPT {
            spent.retain(|_, (t, _)| t.elapsed() < self.window);
        }
        let e = spent.entry(peer).or_insert((Instant::now(), 0));
        if e.0.elapsed() >= self.window {
            *e = (Instant::now(), 0);
        }
        if e.1.saturating_add(amount) > self.limit {
            return false;
        }
        e.1 += amount;
        true
    }
}

/// One budget shared by everyone: `limit` takes per `window`. For what
/// strangers with fresh ids can ask (each id would get a budget of its own
/// under [`PeerBudget`]), so the total rate is what is bounded.
#[derive(Debug)]
pub struct RateLimit {
    limit: u64,
    window: Duration,
    spent: Mutex<(Instant, u64)>,
}

impl RateLimit {
    /// `limit` takes per `window`, for everyone together.
    pub fn new(limit: u64, window: Duration) -> Self {
        Self {
            limit,
            window,
            spent: Mutex::new((Instant::now(), 0)),
        }
    }

    /// Takes one; false (and nothing taken) once the window's are spent.
    pub fn take(&self) -> bool {
        let Ok(mut spent) = self.spent.lock() else {
            return false;
        };
        if spent.0.elapsed() >= self.window {
            *spent = (Instant::now(), 0);
        }
        if spent.1 >= self.limit {
            return false;
        }
        spent.1 += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_rate_limit_refuses_past_its_limit_until_the_window_turns() {
        let r = RateLimit::new(3, Duration::from_millis(50));
        assert!((0..3).all(|_| r.take()));
        assert!(!r.take(), "took more than the limit");
        std::thread::sleep(Duration::from_millis(60));
        assert!(r.take());
    }

    #[test]
    fn each_peer_spends_its_own_budget_until_the_window_turns() {
        let b = PeerBudget::new(100, Duration::from_millis(50));
        let (p, q) = (PeerId::random(), PeerId::random());
        assert!(b.spend(p, 60));
        assert!(!b.spend(p, 60), "went over the budget");
        assert!(b.spend(p, 40));
        assert!(b.spend(q, 100), "one peer's spending hurt another");
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.spend(p, 100));
    }
}
