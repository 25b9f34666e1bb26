//! Randomness for choices that need not be secret but must differ from node
//! to node: which member to ask, how a red envelope is split, and when a
//! periodic job runs. Nodes started together (a simnet run, a device fleet
//! after an outage) would otherwise fire their periodic DHT lookups in
//! the same second, every period.

use std::time::Duration;

/// A value in `lo..=hi`, close to uniform (the modulo bias of a 64-bit draw
/// is negligible for these ranges); `lo` when `hi <= lo` or the system has
/// no randomness to give.
pub(crate) fn in_range(lo: u64, hi: u64) -> u64 {
    let mut b = [0u8; 8];
    if hi <= lo || getrandom::fill(&mut b).is_err() {
        return lo;
    }
    match (hi - lo).checked_add(1) {
        Some(span) => lo + u64::from_le_bytes(b) % span,
        None => u64::from_le_bytes(b), // the whole u64 range
    }
}

/// A random index below `n` (0 when `n` is 0).
pub(crate) fn index(n: usize) -> usize {
    in_range(0, (n as u64).saturating_sub(1)) as usize
}

/// A factor in 0.75..=1.25 (in thousandths) for a timer's period.
pub(crate) fn spread() -> f64 {
    in_range(750, 1250) as f64 / 1000.0
}

/// `every`, moved by up to a quarter of it either way: the period of a
/// timer that should keep its average rate without firing in step with
/// the same timer on other nodes.
pub(crate) fn jittered(every: Duration) -> Duration {
    every.mul_f64(spread())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_stay_in_their_range_and_vary() {
        let draws: Vec<u64> = (0..200).map(|_| in_range(10, 20)).collect();
        assert!(draws.iter().all(|d| (10..=20).contains(d)));
        assert!(draws.iter().any(|d| *d != draws[0]), "200 equal draws");
        assert_eq!(in_range(5, 5), 5);
        assert_eq!(in_range(7, 3), 7);
        assert!((0..100).all(|_| index(3) < 3));
        assert_eq!(index(0), 0);
        let _ = in_range(0, u64::MAX);
    }

    #[test]
    fn a_jittered_period_keeps_within_a_quarter() {
        let every = Duration::from_secs(300);
        let spread: Vec<Duration> = (0..200).map(|_| jittered(every)).collect();
        assert!((0..100).all(|_| (0.75..=1.25).contains(&super::spread())));
        assert!(spread
            .iter()
            .all(|d| *d >= Duration::from_secs(225) && *d <= Duration::from_secs(375)));
        assert!(spread.iter().any(|d| *d != spread[0]), "no spread");
        assert_eq!(jittered(Duration::ZERO), Duration::ZERO);
    }
}
