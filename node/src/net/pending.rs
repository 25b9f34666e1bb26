//! Replies the network task owes: one capped map per kind of thing it waits
//! for (a dial, a request's response, a DHT query...). Every map has a cap,
//! and a new entry past it is refused with [`Full`] (sent to whoever asked),
//! so a flood of requests or queries cannot grow the task's memory.

use std::collections::HashMap;
use std::hash::Hash;

/// A [`Pending`] map is at its cap: the new request is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("too many {what} in flight (at most {cap}); try again shortly")]
pub struct Full {
    /// What the map waits for, e.g. "dials" or "record lookups".
    pub what: &'static str,
    /// Its cap.
    pub cap: usize,
}

/// Replies waiting for an answer, keyed by what identifies the answer
/// (a connection id, a query id...), at most `cap` of them.
#[derive(Debug)]
pub struct Pending<K, R> {
    waiting: HashMap<K, R>,
    what: &'static str,
    cap: usize,
}

impl<K: Eq + Hash, R> Pending<K, R> {
    /// An empty map for `what` (used in the [`Full`] error) holding at most `cap`.
    pub fn new(what: &'static str, cap: usize) -> Self {
        Self {
            waiting: HashMap::new(),
            what,
            cap,
        }
    }

    /// Whether one more entry fits; check before starting the work whose
    /// answer would be waited for, so no work starts that cannot be tracked.
    pub fn room(&self) -> Result<(), Full> {
        if self.waiting.len() >= self.cap {
            Err(self.full())
        } else {
            Ok(())
        }
    }

    /// Waits for `key` with `reply`. Past the cap the new entry is refused
    /// and handed back, for the caller to answer with the error; a key
    /// already waiting is replaced (the map does not grow).
    pub fn insert(&mut self, key: K, reply: R) -> Result<(), (Full, R)> {
        if self.waiting.len() >= self.cap && !self.waiting.contains_key(&key) {
            return Err((self.full(), reply));
        }
        self.waiting.insert(key, reply);
        Ok(())
    }

    /// Whether something waits for `key`.
    pub fn contains(&self, key: &K) -> bool {
        self.waiting.contains_key(key)
    }

    /// The entry for `key`, to add to (e.g. values found so far).
    pub fn get_mut(&mut self, key: &K) -> Option<&mut R> {
        self.waiting.get_mut(key)
    }

    /// Takes the entry for `key` out, to answer it.
    pub fn remove(&mut self, key: &K) -> Option<R> {
        self.waiting.remove(key)
    }

    /// Keeps only the entries `keep` accepts (e.g. drops closed channels).
    pub fn retain(&mut self, keep: impl FnMut(&K, &mut R) -> bool) {
        self.waiting.retain(keep);
    }

    /// Takes out every entry `late` picks, to answer them.
    pub fn take_where(&mut self, mut late: impl FnMut(&R) -> bool) -> Vec<(K, R)>
    where
        K: Clone,
    {
        let keys: Vec<K> = self
            .waiting
            .iter()
            .filter(|(_, r)| late(r))
            .map(|(k, _)| k.clone())
            .collect();
        keys.into_iter()
            .filter_map(|k| self.waiting.remove(&k).map(|r| (k, r)))
            .collect()
    }

    /// Entries waiting.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    fn full(&self) -> Full {
        Full {
            what: self.what,
            cap: self.cap,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_new_entries_at_the_cap_and_hands_them_back() {
        let mut p: Pending<u32, &str> = Pending::new("dials", 2);
        assert!(p.room().is_ok());
        p.insert(1, "a").unwrap();
        p.insert(2, "b").unwrap();
        let full = Full {
            what: "dials",
            cap: 2,
        };
        assert_eq!(p.room(), Err(full));
        assert_eq!(p.insert(3, "c"), Err((full, "c")));
        assert_eq!(p.len(), 2);
        assert_eq!(
            full.to_string(),
            "too many dials in flight (at most 2); try again shortly"
        );
    }

    /// Late requests are taken out to be answered; the rest keep waiting.
    #[test]
    fn take_where_hands_back_only_what_it_picks() {
        let mut p: Pending<u32, u64> = Pending::new("requests", 8);
        for (k, age) in [(1, 80), (2, 10), (3, 75)] {
            p.insert(k, age).unwrap();
        }
        let mut late = p.take_where(|age| *age >= 75);
        late.sort();
        assert_eq!(late, vec![(1, 80), (3, 75)]);
        assert_eq!(p.len(), 1);
        assert!(p.contains(&2));
    }

    #[test]
    fn replacing_a_waiting_key_at_the_cap_is_allowed() {
        let mut p: Pending<u32, &str> = Pending::new("lookups", 1);
        p.insert(1, "a").unwrap();
        p.insert(1, "b").unwrap();
        assert_eq!(p.remove(&1), Some("b"));
        assert!(p.is_empty());
    }

    #[test]
    fn removing_and_retaining_make_room_again() {
        let mut p: Pending<u32, u32> = Pending::new("requests", 3);
        for k in 0..3 {
            p.insert(k, k * 10).unwrap();
        }
        assert!(p.room().is_err());
        assert_eq!(p.remove(&0), Some(0));
        assert!(p.contains(&1) && !p.contains(&0));
        p.retain(|k, _| *k != 1);
        assert_eq!(p.len(), 1);
        if let Some(v) = p.get_mut(&2) {
            *v += 1;
        }
        assert_eq!(p.remove(&2), Some(21));
        p.insert(7, 0).unwrap();
        p.insert(8, 0).unwrap();
        p.insert(9, 0).unwrap();
        assert!(p.insert(10, 0).is_err());
    }
}
