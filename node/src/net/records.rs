//! DHT records Weft accepts. With record filtering on, a record another peer
//! asks us to store is kept only if [`validate`] accepts it: a known key
//! prefix, a bounded size, a valid signature by the account the key names,
//! and not expired.

use weft_protocol::{
    profile::{HandleClaim, ProfileError},
    AccountId, Card, CardError, DecodeError, Kind,
};

/// Why a DHT record was refused.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The key has none of the prefixes Weft stores records under.
    #[error("unknown record type")]
    UnknownKey,
    /// Not an account record's key.
    #[error("not an account record key")]
    NotAccountKey,
    /// Not a handle claim's key.
    #[error("not a handle key")]
    NotHandleKey,
    /// The value is not the envelope its key calls for.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// An account record's card does not verify.
    #[error(transparent)]
    Card(#[from] CardError),
    /// A handle claim does not verify.
    #[error(transparent)]
    Claim(#[from] ProfileError),
    /// The record is signed by another account than its key names.
    #[error("record is signed by another account than its key names")]
    WrongAccount,
    /// Issued further in the future than clock skew explains.
    #[error("record is from the future")]
    FromTheFuture,
    /// Older than its time to live.
    #[error("record has expired")]
    Expired,
    /// A claim stored under another handle's key.
    #[error("claim is for another handle than its key")]
    WrongHandle,
    /// Another account holds the handle here (first come, first served).
    #[error("handle `{0}` is already claimed by another account")]
    HandleTaken(String),
    /// An account record older than the one we hold (a replay).
    #[error("account record issued at {new} is older than the one held (issued at {held})")]
    Older {
        /// When the record we hold was issued.
        held: u64,
        /// When the offered record was issued.
        new: u64,
    },
    /// The peer offered more records than its budget allows (see `record_guard`).
    #[error("too many records from this peer; try again later")]
    RateLimited,
    /// The record store is at its cap.
    #[error("record store is full")]
    StoreFull,
}

/// Key prefix of account records: `/weft/acct/` + 32-byte account id.
pub const ACCOUNT_PREFIX: &[u8] = b"/weft/acct/";
/// How long an account record is believed after it was issued.
pub const ACCOUNT_RECORD_TTL_SECS: u64 = 2 * 3600;
/// Clock skew tolerated for records from the future.
const MAX_SKEW_SECS: u64 = 600;

/// The DHT key under which an account's devices are published.
pub fn account_key(account: &AccountId) -> Vec<u8> {
    let mut k = ACCOUNT_PREFIX.to_vec();
    k.extend_from_slice(&account.0);
    k
}

/// Decodes and checks an account record stored under `key`.
pub fn account_record(key: &[u8], value: &[u8], now: u64) -> Result<Card, RecordError> {
    let id = key
        .strip_prefix(ACCOUNT_PREFIX)
        .ok_or(RecordError::NotAccountKey)?;
    let card: Card = weft_protocol::decode(Kind::Card, value)?;
    card.verify()?;
    if card.account().0.as_slice() != id {
        return Err(RecordError::WrongAccount);
    }
    // The account record points at the primary: only the account key
    // signs it (a linked device's own card is not one).
    if !card.by_account() {
        return Err(RecordError::WrongAccount);
    }
    let issued = card.body.issued_at;
    if issued > now + MAX_SKEW_SECS {
        return Err(RecordError::FromTheFuture);
    }
    if issued + ACCOUNT_RECORD_TTL_SECS < now {
        return Err(RecordError::Expired);
    }
    Ok(card)
}

/// Key prefix of handle claims: `/weft/handle/` + normalised handle.
pub const HANDLE_PREFIX: &[u8] = b"/weft/handle/";
/// Key prefix of People Nearby cells: `/weft/geo/` + 5-character geohash.
pub const GEO_PREFIX: &[u8] = b"/weft/geo/";

/// The DHT key of a handle claim.
pub fn handle_key(handle: &str) -> Vec<u8> {
    [HANDLE_PREFIX, handle.as_bytes()].concat()
}

/// The DHT provider key of a People Nearby cell.
pub fn geo_key(cell: &str) -> Vec<u8> {
    [GEO_PREFIX, cell.as_bytes()].concat()
}

/// Key prefix of official-account name words: `/weft/oaname/` + word.
pub const OA_NAME_PREFIX: &[u8] = b"/weft/oaname/";

/// The words of an official account's name that it is findable by
/// (lower-case letters and digits, 2-32 long, at most 5).
pub fn name_words(name: &str) -> Vec<String> {
    let mut words: Vec<String> = name
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| (2..=32).contains(&w.chars().count()))
        .map(str::to_string)
        .collect();
    words.dedup();
    words.truncate(5);
    words
}

/// The DHT provider key of a name word.
pub fn oa_name_key(word: &str) -> Vec<u8> {
    [OA_NAME_PREFIX, word.as_bytes()].concat()
}

/// Whether a provider record's key is one Weft uses: a People Nearby cell
/// or an official-account name word.
pub fn valid_provider_key(key: &[u8]) -> bool {
    if let Some(w) = key.strip_prefix(OA_NAME_PREFIX) {
        return std::str::from_utf8(w).is_ok_and(|w| {
            (2..=32).contains(&w.chars().count())
                && w.chars().all(|c| c.is_alphanumeric() && !c.is_uppercase())
        });
    }
    key.strip_prefix(GEO_PREFIX)
        .and_then(|c| std::str::from_utf8(c).ok())
        .is_some_and(|c| {
            c.len() == weft_protocol::geo::CELL_PRECISION && weft_protocol::geo::bounds(c).is_ok()
        })
}

/// Decodes and checks a handle claim stored under `key`.
pub fn handle_claim(key: &[u8], value: &[u8]) -> Result<HandleClaim, RecordError> {
    let handle = key
        .strip_prefix(HANDLE_PREFIX)
        .ok_or(RecordError::NotHandleKey)?;
    let claim: HandleClaim = weft_protocol::decode(Kind::HandleClaim, value)?;
    claim.verify()?;
    if claim.handle.as_bytes() != handle {
        return Err(RecordError::WrongHandle);
    }
    Ok(claim)
}

/// Orders one account's own records for a handle: later first, and at the
/// same second a release after the claim it releases. Only ever compared
/// between records signed by the same account, so its self-asserted date
/// can only harm itself.
pub fn claim_order(c: &HandleClaim) -> (u64, bool) {
    (c.claimed_at, c.released)
}

/// Whether a record another peer wants us to store is acceptable.
pub fn validate(key: &[u8], value: &[u8], now: u64) -> Result<(), RecordError> {
    if key.starts_with(ACCOUNT_PREFIX) {
        return account_record(key, value, now).map(|_| ());
    }
    if key.starts_with(HANDLE_PREFIX) {
        return handle_claim(key, value).map(|_| ());
    }
    Err(RecordError::UnknownKey)
}

/// Whether `new` may replace the record `existing` held under `key`.
///
/// Handles are first come, first served at every peer that stores them: a
/// claim by another account never replaces the one we hold (the holder's own
/// refreshes do), whatever `claimed_at` the newcomer says; the claimant's
/// clock is not trusted. Once the holder has released the handle (a signed
/// release replacing its claim), it is free and another account's claim
/// replaces the release; the holder's own older claim does not, so a replay
/// cannot bring a released handle back to it. An account record never replaces a newer one, so an
/// old card (old addresses, an old device) cannot be replayed over a fresh
/// one. Both records have been validated by the caller.
pub fn may_replace(key: &[u8], existing: Option<&[u8]>, new: &[u8]) -> Result<(), RecordError> {
    let Some(old) = existing else {
        return Ok(());
    };
    if key.starts_with(HANDLE_PREFIX) {
        if let (Ok(old), Ok(new)) = (handle_claim(key, old), handle_claim(key, new)) {
            if old.account() != new.account() {
                // A released handle is free: the next claim wins it.
                if !old.released {
                    return Err(RecordError::HandleTaken(old.handle));
                }
            } else if claim_order(&new) < claim_order(&old) {
                // The holder's own older record (a replayed claim over its
                // release) never comes back.
                return Err(RecordError::Older {
                    held: old.claimed_at,
                    new: new.claimed_at,
                });
            }
        }
    } else if key.starts_with(ACCOUNT_PREFIX) {
        let issued = |v| {
            weft_protocol::decode::<Card>(Kind::Card, v)
                .ok()
                .map(|c| c.body.issued_at)
        };
        if let (Some(held), Some(new)) = (issued(old), issued(new)) {
            if new < held {
                return Err(RecordError::Older { held, new });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_protocol::AccountKey;

    fn record(key: &AccountKey, issued: u64) -> Vec<u8> {
        let cert = key.certify_device([1; 32], issued);
        let card = Card::new(key, cert, "Ada", vec![], issued).unwrap();
        weft_protocol::encode(Kind::Card, &card).unwrap()
    }

    /// A linked device's own card (signed by its device key under the
    /// account's certificate) is no account record: that names the primary.
    #[test]
    fn a_linked_devices_card_is_not_an_account_record() {
        let a = AccountKey::generate().unwrap();
        let device = AccountKey::generate().unwrap();
        let now = 1_000_000;
        let cert = a.certify_device(device.account_id().0, now);
        let card = Card::new_by_device(&device, cert, "Ada", vec![], now).unwrap();
        card.verify().unwrap();
        let bytes = weft_protocol::encode(Kind::Card, &card).unwrap();
        assert!(matches!(
            validate(&account_key(&a.account_id()), &bytes, now),
            Err(RecordError::WrongAccount)
        ));
    }

    #[test]
    fn accepts_fresh_own_records_only() {
        let a = AccountKey::generate().unwrap();
        let b = AccountKey::generate().unwrap();
        let now = 1_000_000;
        assert!(validate(&account_key(&a.account_id()), &record(&a, now), now).is_ok());
        assert!(matches!(
            validate(&account_key(&b.account_id()), &record(&a, now), now),
            Err(RecordError::WrongAccount)
        ));
        assert!(matches!(
            validate(
                &account_key(&a.account_id()),
                &record(&a, now - 3 * 3600),
                now
            ),
            Err(RecordError::Expired)
        ));
        assert!(matches!(
            validate(&account_key(&a.account_id()), &record(&a, now + 3600), now),
            Err(RecordError::FromTheFuture)
        ));
        assert!(matches!(
            validate(b"/other/x", &record(&a, now), now),
            Err(RecordError::UnknownKey)
        ));
        assert!(matches!(
            validate(&account_key(&a.account_id()), b"garbage", now),
            Err(RecordError::Decode(_))
        ));
    }

    fn claim(key: &AccountKey, at: u64, released: bool) -> Vec<u8> {
        let card = Card::new(key, key.certify_device([1; 32], 1), "Ada", vec![], 1).unwrap();
        let c = if released {
            HandleClaim::release(key, "ada_lovelace", card, at)
        } else {
            HandleClaim::new(key, "ada_lovelace", card, at)
        };
        weft_protocol::encode(Kind::HandleClaim, &c.unwrap()).unwrap()
    }

    #[test]
    fn a_released_handle_is_free_and_its_old_claim_cannot_be_replayed() {
        let (owner, other) = (
            AccountKey::generate().unwrap(),
            AccountKey::generate().unwrap(),
        );
        let key = handle_key("ada_lovelace");
        let (held, release) = (claim(&owner, 5, false), claim(&owner, 9, true));
        // First claim wins while held.
        assert!(matches!(
            may_replace(&key, Some(&held), &claim(&other, 1, false)),
            Err(RecordError::HandleTaken(_))
        ));
        // The owner's release replaces its claim, even in the same second.
        assert!(may_replace(&key, Some(&held), &release).is_ok());
        assert!(may_replace(&key, Some(&held), &claim(&owner, 5, true)).is_ok());
        // A replay of the old claim does not undo the release.
        assert!(matches!(
            may_replace(&key, Some(&release), &held),
            Err(RecordError::Older { .. })
        ));
        // Someone else may now claim it.
        assert!(may_replace(&key, Some(&release), &claim(&other, 1, false)).is_ok());
    }

    #[test]
    fn an_older_account_record_never_replaces_a_newer_one() {
        let a = AccountKey::generate().unwrap();
        let key = account_key(&a.account_id());
        let now = 1_000_000;
        let (old, new) = (record(&a, now - 60), record(&a, now));
        assert!(may_replace(&key, Some(&old), &new).is_ok());
        assert!(may_replace(&key, Some(&new), &new).is_ok());
        assert!(matches!(
            may_replace(&key, Some(&new), &old),
            Err(RecordError::Older { .. })
        ));
    }
}
