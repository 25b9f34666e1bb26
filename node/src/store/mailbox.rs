//! Mail we hold for other accounts (the holder side of `/weft/mailbox/1`),
//! kept apart from our own chat trees: none of it is ours to read.
//!
//! Tree and key:
//! - `held`: recipient(32) ‖ item hash(32) → [`HeldItem`]; one prefix scan
//!   finds everything held for one recipient, and the hash makes a second
//!   deposit of the same sealed bytes a no-op.

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

/// One held item, without its bytes.
pub struct HeldSummary {
    /// Full key (recipient ‖ hash).
    pub key: Vec<u8>,
    /// Depositor peer id bytes.
    pub depositor: Vec<u8>,
    /// Sealed size.
    pub len: usize,
    /// Expiry, Unix seconds.
    pub expires_at: u64,
}

trees! {
    /// The mailbox tree.
    MailboxTrees {
        held: "held",
    }
}

impl Store {
    /// Holds an item for `to`. Returns false if it was already held.
    pub fn hold(
        &self,
        to: &AccountId,
        hash: &[u8; 32],
        item: &HeldItem,
    ) -> Result<bool, StoreError> {
        let mut k = to.0.to_vec();
        k.extend_from_slice(hash);
        Ok(self.mailbox.held.insert(k, enc(item))?.is_none())
    }

    /// Up to `max` unexpired held items for `to` (expired ones are dropped on the way).
    pub fn held_for(
        &self,
        to: &AccountId,
        max: usize,
        max_bytes: usize,
        now: u64,
    ) -> Result<(Vec<Vec<u8>>, bool), StoreError> {
        let mut out = Vec::new();
        let mut bytes = 0;
        for item in self.mailbox.held.scan_prefix(to.0) {
            let (k, v) = item?;
            let h: HeldItem = match dec("held", &v) {
                Ok(h) => h,
                Err(_) => {
                    self.mailbox.held.remove(k)?;
                    continue;
                }
            };
            if h.expires_at < now {
                self.mailbox.held.remove(k)?;
                continue;
            }
            if out.len() >= max || bytes + h.sealed.len() > max_bytes {
                return Ok((out, true));
            }
            bytes += h.sealed.len();
            out.push(h.sealed);
        }
        Ok((out, false))
    }

    /// Drops held items for `to` by hash.
    pub fn unhold(&self, to: &AccountId, hashes: &[[u8; 32]]) -> Result<usize, StoreError> {
        let mut n = 0;
        for h in hashes {
            let mut k = to.0.to_vec();
            k.extend_from_slice(h);
            if self.mailbox.held.remove(k)?.is_some() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Every held item, for quotas and expiry.
    pub fn held_summary(&self) -> Result<Vec<HeldSummary>, StoreError> {
        let mut out = Vec::new();
        for item in self.mailbox.held.iter() {
            let (k, v) = item?;
            if let Ok(h) = dec::<HeldItem>("held", &v) {
                out.push(HeldSummary {
                    key: k.to_vec(),
                    depositor: h.depositor,
                    len: h.sealed.len(),
                    expires_at: h.expires_at,
                });
            }
        }
        Ok(out)
    }

    /// Removes a held item by its full key.
    pub fn drop_held_key(&self, key: &[u8]) -> Result<(), StoreError> {
        self.mailbox.held.remove(key)?;
        Ok(())
    }

    /// Raw bytes of every held item, for checking what a holder can see (tests).
    pub fn held_raw(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut out = Vec::new();
        for item in self.mailbox.held.iter() {
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

    fn item(byte: u8, expires_at: u64) -> HeldItem {
        HeldItem {
            sealed: vec![byte; 10],
            expires_at,
            depositor: vec![9],
        }
    }

    #[test]
    fn held_mail_is_per_recipient_expires_and_is_deleted_by_hash() {
        let s = Store::temporary().unwrap();
        let a = AccountKey::generate().unwrap().account_id();
        let b = AccountKey::generate().unwrap().account_id();
        assert!(s.hold(&a, &[1; 32], &item(1, 100)).unwrap());
        assert!(!s.hold(&a, &[1; 32], &item(1, 100)).unwrap());
        assert!(s.hold(&a, &[2; 32], &item(2, 10)).unwrap());
        assert!(s.hold(&b, &[3; 32], &item(3, 100)).unwrap());
        assert_eq!(s.held_summary().unwrap().len(), 3);
        // At time 50 the second item for `a` has expired and is dropped.
        let (items, more) = s.held_for(&a, 10, 1000, 50).unwrap();
        assert_eq!((items, more), (vec![vec![1; 10]], false));
        assert_eq!(s.held_summary().unwrap().len(), 2);
        assert_eq!(s.unhold(&a, &[[1; 32], [7; 32]]).unwrap(), 1);
        assert_eq!(s.held_raw().unwrap().len(), 1);
    }
}
