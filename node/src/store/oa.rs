//! Official-account storage (part of the one module that owns sled).
//!
//! - `oa_own`:    account(32) → [`OwnedOa`] (accounts this node runs; keys are files)
//! - `oa_follow`: account(32) → latest known signed profile (envelope-free postcard), or empty
//! - `oa_posts`:  account(32) ‖ published_at(8) ‖ id(32) → broadcast (postcard)
//! - `oa_inbox`:  account(32) ‖ at_ms(8) ‖ follower(32) → question text (for the owner)
//! - `oa_conv`:   account(32) ‖ at_ms(8) ‖ dir(1) → text (a follower's talk with an OA)

use serde::{Deserialize, Serialize};
use weft_protocol::{
    oa::{Broadcast, OaKind, OaProfile, Verification},
    AccountId,
};

use super::{Store, StoreError};

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

fn enc<T: Serialize>(v: &T) -> Vec<u8> {
    postcard::to_stdvec(v).unwrap_or_default()
}

fn dec<T: serde::de::DeserializeOwned>(tree: &'static str, v: &[u8]) -> Result<T, StoreError> {
    postcard::from_bytes(v).map_err(|e| StoreError::Corrupt(tree, e.to_string()))
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
            .map(|v| dec("oa_own", &v))
            .transpose()
    }

    /// Every OA this node runs.
    pub fn owned_oas(&self) -> Result<Vec<(AccountId, OwnedOa)>, StoreError> {
        let mut out = Vec::new();
        for item in self.oa.own.iter() {
            let (k, v) = item?;
            if let Ok(arr) = <[u8; 32]>::try_from(k.as_ref()) {
                out.push((AccountId(arr), dec("oa_own", &v)?));
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
        let mut out = Vec::new();
        for item in self.oa.posts.scan_prefix(account.0).rev().take(limit) {
            let (_, v) = item?;
            out.push(dec("oa_posts", &v)?);
        }
        Ok(out)
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

trees! {
    /// The OA trees.
    OaTrees {
        own: "oa_own",
        follow: "oa_follow",
        posts: "oa_posts",
        inbox: "oa_inbox",
        conv: "oa_conv",
    }
}
