//! Public profiles (served on `/weft/profile/1` to nearby people) and
//! handle claims (WeChat-ID-style names in the DHT). Both are public and
//! signed by the account, so whoever relays or caches them cannot alter them.

use serde::{Deserialize, Serialize};

use crate::card::{Card, CardError};
use crate::identity::{AccountId, AccountKey, SignatureBytes};

/// Longest "What's Up" line, bytes.
pub const MAX_WHATS_UP: usize = 140;
/// Longest region, bytes.
pub const MAX_REGION: usize = 64;
/// Largest inline avatar, bytes (a small thumbnail).
pub const MAX_AVATAR: usize = 32 * 1024;

const PROFILE_CONTEXT: &str = "weft/profile/1";
const HANDLE_CONTEXT: &str = "weft/handle/1";

/// What a profile says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileBody {
    /// The account's card (device, name, addresses).
    pub card: Card,
    /// The "What's Up" line.
    pub whats_up: String,
    /// Free-form region ("Chengdu, Sichuan").
    pub region: String,
    /// A small avatar image (PNG or JPEG), if any.
    pub avatar: Option<Vec<u8>>,
    /// The coarse location cell (5-character geohash), if shared.
    pub cell: Option<String>,
    /// Visible on the radar until this Unix second.
    pub visible_until: u64,
}

/// A signed profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Content.
    pub body: ProfileBody,
    /// Account signature.
    pub signature: SignatureBytes,
}

/// Why a profile or handle claim was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProfileError {
    /// A field is out of bounds.
    #[error("profile field out of bounds: {0}")]
    Bounds(&'static str),
    /// Card or signature problem.
    #[error(transparent)]
    Card(#[from] CardError),
    /// A handle breaks the naming rule.
    #[error("handle must be 6-20 characters: a letter, then letters, digits, `_` or `-`")]
    BadHandle,
}

impl ProfileBody {
    fn canonical(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }

    fn check(&self) -> Result<(), ProfileError> {
        if self.whats_up.len() > MAX_WHATS_UP || self.whats_up.chars().any(char::is_control) {
            return Err(ProfileError::Bounds(
                "what's up: at most 140 bytes, no control characters",
            ));
        }
        if self.region.len() > MAX_REGION || self.region.chars().any(char::is_control) {
            return Err(ProfileError::Bounds("region: at most 64 bytes"));
        }
        if let Some(a) = &self.avatar {
            let png = a.starts_with(b"\x89PNG\r\n\x1a\n");
            let jpeg = a.starts_with(&[0xff, 0xd8, 0xff]);
            if a.len() > MAX_AVATAR || !(png || jpeg) {
                return Err(ProfileError::Bounds(
                    "avatar: a PNG or JPEG of at most 32 KiB",
                ));
            }
        }
        if let Some(c) = &self.cell {
            if c.len() != crate::geo::CELL_PRECISION || crate::geo::bounds(c).is_err() {
                return Err(ProfileError::Bounds("cell: a 5-character geohash"));
            }
        }
        Ok(())
    }
}

impl Profile {
    /// Signs a profile.
    pub fn new(key: &AccountKey, body: ProfileBody) -> Result<Self, ProfileError> {
        body.check()?;
        if body.card.account() != key.account_id() {
            return Err(CardError::AccountMismatch.into());
        }
        let signature = key.sign(PROFILE_CONTEXT, &body.canonical());
        Ok(Self { body, signature })
    }

    /// The account.
    pub fn account(&self) -> AccountId {
        self.body.card.account()
    }

    /// Checks bounds, the card and the signature.
    pub fn verify(&self) -> Result<(), ProfileError> {
        self.body.check()?;
        self.body.card.verify()?;
        self.account()
            .verify(PROFILE_CONTEXT, &self.body.canonical(), &self.signature)
            .map_err(CardError::from)?;
        Ok(())
    }
}

/// What a node answers on `/weft/profile/1`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProfileReply {
    /// The radar is on: here is who I am.
    Visible(Box<Profile>),
    /// The radar is off.
    Hidden,
}

/// Normalises and checks a handle (WeChat rule: 6-20 characters, starting
/// with a letter; letters, digits, `_`, `-`). Handles are case-insensitive.
pub fn normalize_handle(h: &str) -> Result<String, ProfileError> {
    let h = h.trim().to_ascii_lowercase();
    let ok = (6..=20).contains(&h.len())
        && h.starts_with(|c: char| c.is_ascii_lowercase())
        && h.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(h)
    } else {
        Err(ProfileError::BadHandle)
    }
}

/// A signed claim "this handle is my account", stored in the DHT, or, with
/// `released`, the same account's word that the handle is no longer its own.
///
/// A release exists because a DHT record cannot be deleted: when an account
/// moves to a new handle, its old claim would keep resolving to it until the
/// record expired at every storing peer (and peers republish what they hold).
/// The release replaces the old claim under the same key, signed by the same
/// account, so nobody else can release a handle that is not theirs. Once
/// released, the handle is free again: another account may then claim it
/// (first claim wins again from there).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandleClaim {
    /// The handle (normalised).
    pub handle: String,
    /// The claimant's card (account, device, addresses).
    pub card: Card,
    /// When the handle was first claimed, or for a release when it was
    /// released (Unix seconds, self-asserted: it orders only this account's
    /// own records).
    pub claimed_at: u64,
    /// `true`: the account gives the handle up; it resolves to no one.
    pub released: bool,
    /// Account signature over the fields above.
    pub signature: SignatureBytes,
}

#[derive(Serialize)]
struct ClaimBody<'a> {
    handle: &'a str,
    card: &'a Card,
    claimed_at: u64,
    released: bool,
}

impl HandleClaim {
    /// Signs a claim.
    pub fn new(
        key: &AccountKey,
        handle: &str,
        card: Card,
        claimed_at: u64,
    ) -> Result<Self, ProfileError> {
        Self::sign(key, handle, card, claimed_at, false)
    }

    /// Signs a release of `handle` at `released_at`: it replaces our claim
    /// at storing peers, and lookups then find no one.
    pub fn release(
        key: &AccountKey,
        handle: &str,
        card: Card,
        released_at: u64,
    ) -> Result<Self, ProfileError> {
        Self::sign(key, handle, card, released_at, true)
    }

    fn sign(
        key: &AccountKey,
        handle: &str,
        card: Card,
        claimed_at: u64,
        released: bool,
    ) -> Result<Self, ProfileError> {
        let handle = normalize_handle(handle)?;
        if card.account() != key.account_id() {
            return Err(CardError::AccountMismatch.into());
        }
        let body = postcard::to_stdvec(&ClaimBody {
            handle: &handle,
            card: &card,
            claimed_at,
            released,
        })
        .unwrap_or_default();
        let signature = key.sign(HANDLE_CONTEXT, &body);
        Ok(Self {
            handle,
            card,
            claimed_at,
            released,
            signature,
        })
    }

    /// The claimant.
    pub fn account(&self) -> AccountId {
        self.card.account()
    }

    /// Checks the handle rule, the card and the signature.
    pub fn verify(&self) -> Result<(), ProfileError> {
        if normalize_handle(&self.handle)? != self.handle {
            return Err(ProfileError::BadHandle);
        }
        self.card.verify()?;
        let body = postcard::to_stdvec(&ClaimBody {
            handle: &self.handle,
            card: &self.card,
            claimed_at: self.claimed_at,
            released: self.released,
        })
        .unwrap_or_default();
        self.account()
            .verify(HANDLE_CONTEXT, &body, &self.signature)
            .map_err(CardError::from)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(key: &AccountKey) -> Card {
        Card::new(key, key.certify_device([2; 32], 1), "Ada", vec![], 1).unwrap()
    }

    #[test]
    fn profile_signs_and_verifies_and_detects_changes() {
        let k = AccountKey::generate().unwrap();
        let body = ProfileBody {
            card: card(&k),
            whats_up: "☕ coding".into(),
            region: "Chengdu".into(),
            avatar: Some(b"\x89PNG\r\n\x1a\nrest".to_vec()),
            cell: Some("wx4g0".into()),
            visible_until: 10,
        };
        let p = Profile::new(&k, body).unwrap();
        p.verify().unwrap();
        let mut q = p.clone();
        q.body.whats_up = "changed".into();
        assert!(q.verify().is_err());
        let mut r = p.clone();
        r.body.avatar = Some(vec![0; 10]);
        assert!(Profile::new(&k, r.body.clone()).is_err());
        let mut big = p.body.clone();
        big.avatar = Some([b"\x89PNG\r\n\x1a\n".to_vec(), vec![0; MAX_AVATAR]].concat());
        assert!(Profile::new(&k, big).is_err());
        let mut cell = p.body;
        cell.cell = Some("toolongcell".into());
        assert!(Profile::new(&k, cell).is_err());
    }

    #[test]
    fn handles_follow_the_rule_and_claims_verify() {
        assert_eq!(normalize_handle("Ada_Lovelace").unwrap(), "ada_lovelace");
        for bad in ["ab", "1abcdef", "has space", "ünïcode", &"a".repeat(21)] {
            assert!(normalize_handle(bad).is_err(), "{bad}");
        }
        let k = AccountKey::generate().unwrap();
        let c = HandleClaim::new(&k, "ada_lovelace", card(&k), 5).unwrap();
        c.verify().unwrap();
        let mut stolen = c.clone();
        stolen.handle = "someone_else".into();
        assert!(stolen.verify().is_err());
        // A claim cannot be turned into a release (or back) without the key.
        let mut flipped = c.clone();
        flipped.released = true;
        assert!(flipped.verify().is_err());
        HandleClaim::release(&k, "ada_lovelace", card(&k), 6)
            .unwrap()
            .verify()
            .unwrap();
    }
}
