//! Official-account storage (part of the one module that owns sled).
//!
//! - `oa_own`:    account(32) → [`OwnedOa`] (accounts this node runs; keys are files)
//! - `oa_follow`: account(32) → latest known signed profile (envelope-free postcard), or empty
//! - `oa_posts`:  account(32) ‖ published_at(8) ‖ id(32) → broadcast (postcard)
//! - `oa_inbox`:  account(32) ‖ at_ms(8) ‖ follower(32) → question text (for the owner)
//! - `oa_conv`:   account(32) ‖ at_ms(8) ‖ dir(1) → text (a follower's talk with an OA)
//! - `oa_slots`:  kind(1) ‖ period(4) ‖ account(32) ‖ seq(4) → id(32) of the broadcast
//!   holding that quota slot (kept across restarts; period first, so old
//!   periods are pruned with one range scan per kind)

use serde::{Deserialize, Serialize};
use weft_protocol::{
    oa::{
        relay::{Slot, SlotRegistry, SlotTaken},
        Broadcast, OaKind, OaProfile, Verification,
    },
    AccountId,
};

use super::{dec, enc, newest, Store, StoreError};

/// An official account this node runs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OwnedOa {
    /// Kind.
    pub kind: OaKind,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Verification certificate, once attached.
    pub verification: Option<Verification>,
    /// Keyword → reply.
    pub replies: Vec<(String, String)>,
    /// Menu items (service accounts).
    pub menu: Vec<String>,
}

/// An [`OwnedOa`] as stored before certificates named the account's name,
/// kind and expiry (`weft/oa-verification/1`). Such a certificate no longer
/// verifies, so it is dropped when the record is read.
#[derive(Deserialize)]
struct OwnedOaV1 {
    kind: OaKind,
    name: String,
    description: String,
    verification: Option<VerificationV1>,
    replies: Vec<(String, String)>,
    menu: Vec<String>,
}

/// The old certificate layout, read only to skip over it.
#[derive(Deserialize)]
struct VerificationV1 {
    _oa: AccountId,
    _verifier: AccountId,
    _verifier_name: String,
    _issued_at: u64,
    _signature: weft_protocol::SignatureBytes,
}

impl OwnedOa {
    fn decode(v: &[u8]) -> Result<Self, StoreError> {
        dec::<OwnedOa>("oa_own", v).or_else(|e| {
            postcard::from_bytes::<OwnedOaV1>(v)
                .map(|o| OwnedOa {
                    kind: o.kind,
                    name: o.name,
                    description: o.description,
                    verification: o.verification.and(None),
                    replies: o.replies,
                    menu: o.menu,
                })
                .map_err(|_| e)
        })
    }
}

impl Store {
    /// Records an OA this node runs.
    pub fn put_owned_oa(&self, account: &AccountId, oa: &OwnedOa) -> Result<(), StoreError> {
        self.oa.own.insert(account.0, enc(oa))?;
        Ok(())
    }

    /// An OA this node runs.
    pub fn owned_oa(&self, account: &AccountId) -> Result<Option<OwnedOa>, StoreError> {
        self.oa
            .own
            .get(account.0)?
            .map(|v| OwnedOa::decode(&v))
            .transpose()
    }

    /// Every OA this node runs.
    pub fn owned_oas(&self) -> Result<Vec<(AccountId, OwnedOa)>, StoreError> {
        let mut out = Vec::new();
        for item in self.oa.own.iter() {
            let (k, v) = item?;
            if let Ok(arr) = <[u8; 32]>::try_from(k.as_ref()) {
                out.push((AccountId(arr), OwnedOa::decode(&v)?));
            }
        }
        Ok(out)
    }

    /// Follows an OA (profile may be unknown yet).
    pub fn follow_oa(
        &self,
        account: &AccountId,
        profile: Option<&OaProfile>,
    ) -> Result<(), StoreError> {
        let v = profile.map(enc).unwrap_or_default();
        self.oa.follow.insert(account.0, v)?;
        Ok(())
    }

    /// Unfollows an OA and forgets its posts.
    pub fn unfollow_oa(&self, account: &AccountId) -> Result<bool, StoreError> {
        let was = self.oa.follow.remove(account.0)?.is_some();
        for item in self.oa.posts.scan_prefix(account.0) {
            let (k, _) = item?;
            self.oa.posts.remove(k)?;
        }
        Ok(was)
    }

    /// Whether we follow `account`.
    pub fn follows_oa(&self, account: &AccountId) -> Result<bool, StoreError> {
        Ok(self.oa.follow.contains_key(account.0)?)
    }

    /// Followed OAs with their latest known profile.
    pub fn followed_oas(&self) -> Result<Vec<(AccountId, Option<OaProfile>)>, StoreError> {
        let mut out = Vec::new();
        for item in self.oa.follow.iter() {
            let (k, v) = item?;
            if let Ok(arr) = <[u8; 32]>::try_from(k.as_ref()) {
                let p = if v.is_empty() {
                    None
                } else {
                    dec("oa_follow", &v).ok()
                };
                out.push((AccountId(arr), p));
            }
        }
        Ok(out)
    }

    /// Stores a broadcast once; false if we already had it. Keeps the
    /// follow record's profile current.
    pub fn put_broadcast(&self, b: &Broadcast) -> Result<bool, StoreError> {
        let account = b.account();
        let mut k = account.0.to_vec();
        k.extend_from_slice(&b.body.published_at.to_be_bytes());
        k.extend_from_slice(&b.id());
        let new = self.oa.posts.insert(k, enc(b))?.is_none();
        if self.oa.follow.contains_key(account.0)? {
            self.oa.follow.insert(account.0, enc(&b.body.profile))?;
        }
        Ok(new)
    }

    /// An OA's stored broadcasts, newest first.
    pub fn broadcasts(
        &self,
        account: &AccountId,
        limit: usize,
    ) -> Result<Vec<Broadcast>, StoreError> {
        newest(&self.oa.posts, "oa_posts", account.0, limit)
    }

    /// Appends to an OA conversation log (`inbox`: owner side; else follower side).
    pub fn oa_log(
        &self,
        inbox: bool,
        oa: &AccountId,
        at_ms: u64,
        who: &[u8],
        text: &str,
    ) -> Result<(), StoreError> {
        let mut k = oa.0.to_vec();
        k.extend_from_slice(&at_ms.to_be_bytes());
        k.extend_from_slice(who);
        let tree = if inbox { &self.oa.inbox } else { &self.oa.conv };
        tree.insert(k, text.as_bytes())?;
        Ok(())
    }

    /// What an account's inbox received since `since_ms`: lines in all,
    /// and lines written by `who`. Bounded by the inbox's rate limits, so
    /// the scan is short.
    pub fn oa_inbox_since(
        &self,
        oa: &AccountId,
        since_ms: u64,
        who: &[u8],
    ) -> Result<(usize, usize), StoreError> {
        let mut from = oa.0.to_vec();
        from.extend_from_slice(&since_ms.to_be_bytes());
        let mut to = oa.0.to_vec();
        to.extend_from_slice(&u64::MAX.to_be_bytes());
        let (mut all, mut theirs) = (0, 0);
        for item in self.oa.inbox.range(from..to) {
            let (k, _) = item?;
            all += 1;
            if k.get(40..) == Some(who) {
                theirs += 1;
            }
        }
        Ok((all, theirs))
    }

    /// Drops an account's oldest inbox lines beyond `keep`.
    pub fn trim_oa_inbox(&self, oa: &AccountId, keep: usize) -> Result<usize, StoreError> {
        let total = self.oa.inbox.scan_prefix(oa.0).count();
        let mut dropped = 0;
        for item in self
            .oa
            .inbox
            .scan_prefix(oa.0)
            .take(total.saturating_sub(keep))
        {
            let (k, _) = item?;
            self.oa.inbox.remove(k)?;
            dropped += 1;
        }
        Ok(dropped)
    }

    /// Reads an OA conversation log: (at_ms, who bytes, text), oldest first.
    pub fn oa_read_log(
        &self,
        inbox: bool,
        oa: &AccountId,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>, String)>, StoreError> {
        let tree = if inbox { &self.oa.inbox } else { &self.oa.conv };
        let mut out = Vec::new();
        for item in tree.scan_prefix(oa.0).rev().take(limit) {
            let (k, v) = item?;
            if k.len() < 40 {
                continue;
            }
            let at = u64::from_be_bytes(k[32..40].try_into().unwrap_or([0; 8]));
            out.push((
                at,
                k[40..].to_vec(),
                String::from_utf8_lossy(&v).into_owned(),
            ));
        }
        out.reverse();
        Ok(out)
    }
}

/// The quota slots taken, on disk (see the module comment): what the relay
/// check and backfill consult, so a restart does not forget a used slot.
#[derive(Clone)]
pub struct StoredSlots(sled::Tree);

fn kind_byte(kind: OaKind) -> u8 {
    match kind {
        OaKind::Subscription => 0,
        OaKind::Service => 1,
    }
}

fn slot_key(s: &Slot) -> Vec<u8> {
    let mut k = vec![kind_byte(s.kind)];
    k.extend_from_slice(&s.period.to_be_bytes());
    k.extend_from_slice(&s.account.0);
    k.extend_from_slice(&s.seq.to_be_bytes());
    k
}

impl SlotRegistry for StoredSlots {
    fn claim(&mut self, slot: Slot, id: [u8; 32]) -> Result<(), SlotTaken> {
        // Compare-and-swap: two broadcasts racing for one slot cannot both win.
        match self
            .0
            .compare_and_swap(slot_key(&slot), None as Option<&[u8]>, Some(&id[..]))
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(cur)) if cur.current.as_deref() == Some(&id[..]) => Ok(()),
            Ok(Err(_)) => Err(SlotTaken(slot)),
            Err(e) => {
                // A store failure must not silence an account: let it pass.
                tracing::warn!(error = %e, "cannot record an OA quota slot");
                Ok(())
            }
        }
    }
}

impl StoredSlots {
    /// Forgets slots of periods that end before `before` (Unix seconds):
    /// neither live gossip nor backfill accepts broadcasts that old.
    pub fn prune(&self, before: u64) -> Result<usize, StoreError> {
        let mut n = 0;
        for kind in [OaKind::Subscription, OaKind::Service] {
            let from = [kind_byte(kind)];
            let to = [kind_byte(kind)]
                .into_iter()
                .chain(kind.period_of(before).to_be_bytes())
                .collect::<Vec<u8>>();
            for item in self.0.range(from.to_vec()..to) {
                let (k, _) = item?;
                self.0.remove(k)?;
                n += 1;
            }
        }
        Ok(n)
    }
}

impl Store {
    /// The OA quota slots taken.
    pub fn oa_slots(&self) -> StoredSlots {
        StoredSlots(self.oa.slots.clone())
    }
}

trees! {
    /// The OA trees.
    OaTrees {
        own: "oa_own",
        follow: "oa_follow",
        posts: "oa_posts",
        inbox: "oa_inbox",
        conv: "oa_conv",
        slots: "oa_slots",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_stored_with_an_old_certificate_still_reads() {
        #[derive(Serialize)]
        struct Old {
            kind: OaKind,
            name: String,
            description: String,
            verification: Option<(
                AccountId,
                AccountId,
                String,
                u64,
                weft_protocol::SignatureBytes,
            )>,
            replies: Vec<(String, String)>,
            menu: Vec<String>,
        }
        let old = Old {
            kind: OaKind::Service,
            name: "Bank".into(),
            description: String::new(),
            verification: Some((
                AccountId([1; 32]),
                AccountId([2; 32]),
                "Weft Verify".into(),
                5,
                weft_protocol::SignatureBytes([3; 64]),
            )),
            replies: vec![("a".into(), "b".into())],
            menu: vec![],
        };
        let s = Store::temporary().unwrap();
        s.oa.own.insert([9; 32], enc(&old)).unwrap();
        let o = s.owned_oa(&AccountId([9; 32])).unwrap().unwrap();
        assert_eq!((o.name.as_str(), o.replies.len()), ("Bank", 1));
        assert!(o.verification.is_none());
    }

    #[test]
    fn the_inbox_counts_recent_lines_per_asker_and_trims_the_oldest() {
        let s = Store::temporary().unwrap();
        let oa = AccountId([1; 32]);
        for i in 0..10u64 {
            let who = if i % 2 == 0 { [2u8; 32] } else { [3u8; 32] };
            s.oa_log(true, &oa, 1000 + i, &who, "q").unwrap();
        }
        assert_eq!(s.oa_inbox_since(&oa, 1000, &[2; 32]).unwrap(), (10, 5));
        assert_eq!(s.oa_inbox_since(&oa, 1005, &[3; 32]).unwrap(), (5, 3));
        assert_eq!(s.trim_oa_inbox(&oa, 4).unwrap(), 6);
        let left = s.oa_read_log(true, &oa, 100).unwrap();
        assert_eq!(
            left.iter().map(|l| l.0).collect::<Vec<_>>(),
            [1006, 1007, 1008, 1009]
        );
    }

    #[test]
    fn quota_slots_survive_a_restart_and_old_periods_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let a = AccountId([9; 32]);
        let slot = |kind, period| Slot {
            account: a,
            kind,
            period,
            seq: 1,
        };
        {
            let s = Store::open(dir.path()).unwrap();
            let mut slots = s.oa_slots();
            slots.claim(slot(OaKind::Service, 670), [1; 32]).unwrap();
            slots
                .claim(slot(OaKind::Subscription, 20_400), [2; 32])
                .unwrap();
            s.flush().unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        let mut slots = s.oa_slots();
        // After the restart the slot is still taken by the first broadcast.
        assert_eq!(
            slots.claim(slot(OaKind::Service, 670), [3; 32]),
            Err(SlotTaken(slot(OaKind::Service, 670)))
        );
        assert!(slots.claim(slot(OaKind::Service, 670), [1; 32]).is_ok());
        // Before day 20,401 (2025-11-09): day 20,400 goes, month 670
        // (2025-11, still running) stays.
        assert_eq!(slots.prune(20_401 * 86_400).unwrap(), 1);
        assert!(slots
            .claim(slot(OaKind::Subscription, 20_400), [3; 32])
            .is_ok());
        assert!(slots.claim(slot(OaKind::Service, 670), [3; 32]).is_err());
    }
}
