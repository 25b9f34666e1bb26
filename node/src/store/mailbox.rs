//! Mail we hold for other accounts (the holder side of `/weft/mailbox/1`),
//! kept apart from our own chat trees: none of it is ours to read.
//!
//! Trees and keys:
//! - `held`: recipient(32) ‖ item hash(32) → [`HeldItem`]; one prefix scan
//!   finds everything held for one recipient, the hash makes a second
//!   deposit of the same sealed bytes a no-op, and a fetch resumes after the
//!   last hash it was given (a cursor), so nothing at the front of the order
//!   can hide what comes after it.
//! - `held_expiry`: expires_at(8, BE) ‖ `held` key → (): expired mail is
//!   found from the front of this tree, not by reading everything.
//!
//! Quotas are checked against running counts kept beside the trees (built
//! from one scan on first use, then updated by every write), so a deposit,
//! even a refused one, costs no pass over everything held.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use weft_protocol::AccountId;

use super::{dec, enc, Store, StoreError};

/// Mail held for another account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldItem {
    /// Sealed bytes (unreadable to us).
    pub sealed: Vec<u8>,
    /// Unix seconds after which it is dropped.
    pub expires_at: u64,
    /// Peer id bytes of the depositor (for quotas).
    pub depositor: Vec<u8>,
}

/// The limits a deposit must stay within (the policy is the chat service's).
#[derive(Clone, Copy, Debug)]
pub struct HoldQuotas {
    /// Items held for one depositor, all recipients.
    pub items_per_depositor: usize,
    /// Bytes held for one depositor, all recipients.
    pub bytes_per_depositor: usize,
    /// Items held for one recipient, all depositors.
    pub items_per_recipient: usize,
    /// Items one depositor may leave for one recipient.
    pub items_per_pair: usize,
    /// Bytes held for everyone.
    pub bytes_total: usize,
}

/// What became of a deposit.
#[derive(Debug, PartialEq, Eq)]
pub enum Deposit {
    /// Held (items already held count too).
    Held(usize),
    /// It would break a quota; nothing was stored.
    OverQuota,
}

trees! {
    /// The mailbox trees.
    MailboxTreeSet {
        held: "held",
        expiry: "held_expiry",
    }
}

/// The mailbox trees and the running counts the quotas are checked against.
#[derive(Clone)]
pub(crate) struct MailboxTrees {
    trees: MailboxTreeSet,
    /// `None` until first used; the lock also orders every write to `held`.
    counts: Arc<Mutex<Option<HeldCounts>>>,
}

impl MailboxTrees {
    pub(crate) fn open(db: &sled::Db) -> Result<Self, sled::Error> {
        Ok(Self {
            trees: MailboxTreeSet::open(db)?,
            counts: Default::default(),
        })
    }
}

/// Running totals of what is held.
#[derive(Debug, Default)]
struct HeldCounts {
    bytes: usize,
    /// depositor → (items, bytes)
    depositors: HashMap<Vec<u8>, (usize, usize)>,
    recipients: HashMap<[u8; 32], usize>,
    pairs: HashMap<([u8; 32], Vec<u8>), usize>,
}

impl HeldCounts {
    fn add(&mut self, to: [u8; 32], h: &HeldItem, sign: isize) {
        fn step(n: &mut usize, by: usize, sign: isize) {
            *n = if sign > 0 {
                n.saturating_add(by)
            } else {
                n.saturating_sub(by)
            };
        }
        let len = h.sealed.len();
        step(&mut self.bytes, len, sign);
        let d = self.depositors.entry(h.depositor.clone()).or_default();
        step(&mut d.0, 1, sign);
        step(&mut d.1, len, sign);
        if *d == (0, 0) {
            self.depositors.remove(&h.depositor);
        }
        let r = self.recipients.entry(to).or_default();
        step(r, 1, sign);
        if *r == 0 {
            self.recipients.remove(&to);
        }
        let key = (to, h.depositor.clone());
        let p = self.pairs.entry(key.clone()).or_default();
        step(p, 1, sign);
        if *p == 0 {
            self.pairs.remove(&key);
        }
    }
}

/// One held item as a fetch returns it: its hash (the cursor) and bytes.
pub type HeldMail = ([u8; 32], Vec<u8>);

fn held_key(to: &AccountId, hash: &[u8; 32]) -> Vec<u8> {
    let mut k = to.0.to_vec();
    k.extend_from_slice(hash);
    k
}

fn expiry_key(expires_at: u64, key: &[u8]) -> Vec<u8> {
    let mut k = expires_at.to_be_bytes().to_vec();
    k.extend_from_slice(key);
    k
}

fn recipient_of(key: &[u8]) -> Option<[u8; 32]> {
    key.get(..32).and_then(|r| r.try_into().ok())
}

impl Store {
    /// The counts, built from one scan on first use (which also indexes
    /// the expiry of mail stored before `held_expiry` existed).
    fn held_counts(&self) -> Result<MutexGuard<'_, Option<HeldCounts>>, StoreError> {
        let mut guard = self
            .mailbox
            .counts
            .lock()
            .map_err(|_| StoreError::Corrupt("held", "count lock poisoned".into()))?;
        if guard.is_none() {
            let mut c = HeldCounts::default();
            for kv in self.mailbox.trees.held.iter() {
                let (k, v) = kv?;
                match (recipient_of(&k), dec::<HeldItem>("held", &v)) {
                    (Some(to), Ok(h)) => {
                        self.mailbox
                            .trees
                            .expiry
                            .insert(expiry_key(h.expires_at, &k), &[])?;
                        c.add(to, &h, 1);
                    }
                    _ => {
                        self.mailbox.trees.held.remove(k)?;
                    }
                }
            }
            *guard = Some(c);
        }
        Ok(guard)
    }

    /// Holds `items` (hash, sealed) for `to` from `depositor` until
    /// `expires_at`, if the quotas allow all of them; expired mail is
    /// dropped first.
    pub fn hold(
        &self,
        to: &AccountId,
        depositor: &[u8],
        items: &[([u8; 32], Vec<u8>)],
        expires_at: u64,
        now: u64,
        q: &HoldQuotas,
    ) -> Result<Deposit, StoreError> {
        let mut guard = self.held_counts()?;
        self.drop_expired(&mut guard, now)?;
        let Some(c) = guard.as_mut() else {
            return Ok(Deposit::OverQuota);
        };
        let mut new = Vec::with_capacity(items.len());
        for (hash, sealed) in items {
            let k = held_key(to, hash);
            if !self.mailbox.trees.held.contains_key(&k)? && !new.iter().any(|(n, _)| *n == k) {
                new.push((k, sealed));
            }
        }
        let add: usize = new.iter().map(|(_, s)| s.len()).sum();
        let (dep_items, dep_bytes) = c.depositors.get(depositor).copied().unwrap_or_default();
        let rcpt = c.recipients.get(&to.0).copied().unwrap_or_default();
        let pair = c
            .pairs
            .get(&(to.0, depositor.to_vec()))
            .copied()
            .unwrap_or_default();
        if dep_items + new.len() > q.items_per_depositor
            || dep_bytes + add > q.bytes_per_depositor
            || rcpt + new.len() > q.items_per_recipient
            || pair + new.len() > q.items_per_pair
            || c.bytes + add > q.bytes_total
        {
            return Ok(Deposit::OverQuota);
        }
        for (k, sealed) in new {
            let h = HeldItem {
                sealed: sealed.clone(),
                expires_at,
                depositor: depositor.to_vec(),
            };
            self.mailbox.trees.held.insert(&k, enc(&h))?;
            self.mailbox
                .trees
                .expiry
                .insert(expiry_key(expires_at, &k), &[])?;
            c.add(to.0, &h, 1);
        }
        Ok(Deposit::Held(items.len()))
    }

    /// Removes expired mail, from the front of the expiry index.
    fn drop_expired(&self, guard: &mut Option<HeldCounts>, now: u64) -> Result<(), StoreError> {
        // Every key whose 8-byte time is below `now` sorts before `now`'s bytes.
        let expired: Vec<sled::IVec> = self
            .mailbox
            .trees
            .expiry
            .range(..now.to_be_bytes().to_vec())
            .keys()
            .collect::<Result<_, _>>()?;
        for e in expired {
            self.mailbox.trees.expiry.remove(&e)?;
            if let Some(k) = e.get(8..) {
                self.unhold_key(guard, k)?;
            }
        }
        Ok(())
    }

    /// Removes one held item by its `held` key, keeping the counts.
    fn unhold_key(&self, guard: &mut Option<HeldCounts>, k: &[u8]) -> Result<bool, StoreError> {
        let Some(v) = self.mailbox.trees.held.remove(k)? else {
            return Ok(false);
        };
        if let (Ok(h), Some(to)) = (dec::<HeldItem>("held", &v), recipient_of(k)) {
            self.mailbox
                .trees
                .expiry
                .remove(expiry_key(h.expires_at, k))?;
            if let Some(c) = guard.as_mut() {
                c.add(to, &h, -1);
            }
        }
        Ok(true)
    }

    /// Up to `max` items and `max_bytes` bytes of unexpired mail for `to`,
    /// after the item whose hash is `after` (from the start if `None`);
    /// each with its hash, and whether more remain.
    pub fn held_for(
        &self,
        to: &AccountId,
        after: Option<&[u8; 32]>,
        max: usize,
        max_bytes: usize,
        now: u64,
    ) -> Result<(Vec<HeldMail>, bool), StoreError> {
        let mut guard = self.held_counts()?;
        self.drop_expired(&mut guard, now)?;
        let start = match after {
            Some(h) => std::ops::Bound::Excluded(held_key(to, h)),
            None => std::ops::Bound::Included(to.0.to_vec()),
        };
        let end = std::ops::Bound::Included(held_key(to, &[0xff; 32]));
        let mut out = Vec::new();
        let mut bytes = 0;
        for kv in self.mailbox.trees.held.range::<Vec<u8>, _>((start, end)) {
            let (k, v) = kv?;
            let Ok(h) = dec::<HeldItem>("held", &v) else {
                continue;
            };
            if out.len() >= max || bytes + h.sealed.len() > max_bytes {
                return Ok((out, true));
            }
            let Some(hash) = k.get(32..).and_then(|h| <[u8; 32]>::try_from(h).ok()) else {
                continue;
            };
            bytes += h.sealed.len();
            out.push((hash, h.sealed));
        }
        Ok((out, false))
    }

    /// Drops held items for `to` by hash.
    pub fn unhold(&self, to: &AccountId, hashes: &[[u8; 32]]) -> Result<usize, StoreError> {
        let mut guard = self.held_counts()?;
        let mut n = 0;
        for h in hashes {
            if self.unhold_key(&mut guard, &held_key(to, h))? {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Raw bytes of every held item, for checking what a holder can see (tests).
    pub fn held_raw(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut out = Vec::new();
        for item in self.mailbox.trees.held.iter() {
            let (_, v) = item?;
            out.push(v.to_vec());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_protocol::AccountKey;

    const Q: HoldQuotas = HoldQuotas {
        items_per_depositor: 100,
        bytes_per_depositor: 10_000,
        items_per_recipient: 100,
        items_per_pair: 3,
        bytes_total: 100_000,
    };

    fn item(byte: u8) -> ([u8; 32], Vec<u8>) {
        ([byte; 32], vec![byte; 10])
    }

    #[test]
    fn held_mail_is_per_recipient_expires_and_is_deleted_by_hash() {
        let s = Store::temporary().unwrap();
        let a = AccountKey::generate().unwrap().account_id();
        let b = AccountKey::generate().unwrap().account_id();
        assert_eq!(
            s.hold(&a, b"d", &[item(1)], 100, 0, &Q).unwrap(),
            Deposit::Held(1)
        );
        assert_eq!(
            s.hold(&a, b"d", &[item(1)], 100, 0, &Q).unwrap(),
            Deposit::Held(1)
        );
        s.hold(&a, b"e", &[item(2)], 10, 0, &Q).unwrap();
        s.hold(&b, b"d", &[item(3)], 100, 0, &Q).unwrap();
        assert_eq!(s.held_raw().unwrap().len(), 3);
        // At time 50 the second item for `a` has expired and is dropped.
        let (items, more) = s.held_for(&a, None, 10, 1000, 50).unwrap();
        assert_eq!((items, more), (vec![item(1)], false));
        assert_eq!(s.held_raw().unwrap().len(), 2);
        assert_eq!(s.unhold(&a, &[[1; 32], [7; 32]]).unwrap(), 1);
        assert_eq!(s.held_raw().unwrap().len(), 1);
    }

    /// Defect 3: one depositor may leave only so much for one recipient,
    /// and freeing its items (delete, expiry) gives the room back.
    #[test]
    fn quotas_are_counted_per_depositor_and_recipient_and_released() {
        let s = Store::temporary().unwrap();
        let a = AccountKey::generate().unwrap().account_id();
        let three = [item(1), item(2), item(3)];
        assert_eq!(
            s.hold(&a, b"m", &three, 100, 0, &Q).unwrap(),
            Deposit::Held(3)
        );
        assert_eq!(
            s.hold(&a, b"m", &[item(4)], 100, 0, &Q).unwrap(),
            Deposit::OverQuota
        );
        // Another depositor, same recipient: its own allowance.
        assert_eq!(
            s.hold(&a, b"n", &[item(4)], 100, 0, &Q).unwrap(),
            Deposit::Held(1)
        );
        s.unhold(&a, &[[1; 32]]).unwrap();
        assert_eq!(
            s.hold(&a, b"m", &[item(5)], 100, 0, &Q).unwrap(),
            Deposit::Held(1)
        );
        // Everything from `m` expires at 100: room again afterwards.
        assert_eq!(
            s.hold(&a, b"m", &[item(6)], 100, 0, &Q).unwrap(),
            Deposit::OverQuota
        );
        assert_eq!(
            s.hold(&a, b"m", &[item(6)], 300, 200, &Q).unwrap(),
            Deposit::Held(1)
        );
    }

    /// Defect 3: a fetch resumes after the last hash it was given, so mail
    /// sorted behind a page of junk is still reached.
    #[test]
    fn fetch_pages_resume_after_the_cursor() {
        let s = Store::temporary().unwrap();
        let a = AccountKey::generate().unwrap().account_id();
        let q = HoldQuotas {
            items_per_pair: 100,
            ..Q
        };
        let all: Vec<_> = (1..=5).map(item).collect();
        s.hold(&a, b"m", &all, 100, 0, &q).unwrap();
        let (page, more) = s.held_for(&a, None, 2, 1000, 0).unwrap();
        assert_eq!((page.clone(), more), (all[..2].to_vec(), true));
        let (page, more) = s.held_for(&a, Some(&page[1].0), 10, 1000, 0).unwrap();
        assert_eq!((page, more), (all[2..].to_vec(), false));
    }
}
