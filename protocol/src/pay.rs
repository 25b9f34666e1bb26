//! Weft Pay on the wire (`docs/PAY.md`): Chaumian ecash in the Cashu
//! style, issued by a *mint* (a node running a service account of kind
//! mint), carried between people inside end-to-end encrypted chat
//! messages.
//!
//! - A token is a set of [`Proof`]s: an amount in minor units, a secret and
//!   the mint's unblinded signature on it (BDHKE, from the `cashu` crate).
//!   The mint signed the secret blinded, so it cannot tell which payment a
//!   token came from.
//! - A secret may carry a [`Lock`]: only a signature by one of the
//!   recipient's device keys (ed25519, the keys its friends already hold
//!   verified) spends it, or, after the lock time, one by the sender's
//!   refund key. The signature covers the outputs too, so a witness is
//!   useless for any other swap.
//! - Every signature the mint returns carries a DLEQ proof (NUT-12): a
//!   wallet checks it against the mint's published key for the amount,
//!   so a mint answering with a bad signature is caught before any money
//!   is counted.
//!
//! Nothing here does I/O; the node's mint and wallet use these types.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::identity::{AccountId, SignatureBytes};

/// Longest currency code ("CNY", "EUR", a coupon's "OFF5-EUR").
pub const MAX_CURRENCY: usize = 16;
/// Most proofs in one request, transfer or token.
pub const MAX_PROOFS: usize = 64;
/// Most outputs the mint signs in one request.
pub const MAX_OUTPUTS: usize = 128;
/// Largest amount of one payment, in minor units (10 000 000 000.00).
pub const MAX_AMOUNT: u64 = 1_000_000_000_000;
/// Denominations are powers of two up to 2^DENOMINATIONS-1.
pub const DENOMINATIONS: u32 = 40;
/// Longest note on a payment, bytes.
pub const MAX_NOTE: usize = 256;
/// Longest secret, bytes.
pub const MAX_SECRET: usize = 1024;
/// Most keys a lock may name (the recipient's devices).
pub const MAX_LOCK_KEYS: usize = 16;
/// Most currencies one mint offers (coupons included).
pub const MAX_CURRENCIES: usize = 32;
/// Signing context of a spend witness.
const SPEND_CONTEXT: &str = "weft-pay-spend-v1";
/// Signing context of a payment request.
const REQUEST_CONTEXT: &str = "weft-pay-request-v1";
/// Link prefix of a payment request.
pub const REQUEST_LINK: &str = "weft://pay/";

/// What can be wrong with money on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayError {
    /// An amount that is not a positive number of minor units.
    #[error("bad amount `{0}`: give a positive number with at most two decimals, like 12.50")]
    BadAmount(String),
    /// Over [`MAX_AMOUNT`].
    #[error("amount too large (at most {} per payment)", format_amount(MAX_AMOUNT))]
    TooLarge,
    /// A currency code outside `A-Z`, `0-9`, `-`, or too long.
    #[error("bad currency code `{0}`: 2 to 16 characters A-Z, 0-9 or -")]
    BadCurrency(String),
    /// A field over its limit.
    #[error("{0} is over its limit")]
    TooMany(&'static str),
    /// A secret or structure that does not decode.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// A spend without a valid signature of a key the lock names.
    #[error("token is locked to someone else: {0}")]
    Locked(&'static str),
    /// A signature that does not verify (the mint's, a witness, a request).
    #[error("invalid signature: {0}")]
    BadSignature(&'static str),
    /// The cryptography refused (a point not on the curve, say).
    #[error("blind signature error: {0}")]
    Crypto(String),
    /// A payment request that expired.
    #[error("payment request expired")]
    Expired,
}

/// Parses a decimal amount ("12.50", "12.5", "12") into minor units.
/// Refuses zero, negatives, more than two decimals (a fraction of a cent)
/// and anything over [`MAX_AMOUNT`].
pub fn parse_amount(s: &str) -> Result<u64, PayError> {
    let bad = || PayError::BadAmount(s.chars().take(32).collect());
    let t = s.trim();
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || whole.len() > 15
        || t.ends_with('.')
    {
        return Err(bad());
    }
    let w: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let mut f: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| bad())?
    };
    if frac.len() == 1 {
        f *= 10;
    }
    let v = w
        .checked_mul(100)
        .and_then(|x| x.checked_add(f))
        .ok_or(PayError::TooLarge)?;
    if v == 0 {
        return Err(bad());
    }
    if v > MAX_AMOUNT {
        return Err(PayError::TooLarge);
    }
    Ok(v)
}

/// Minor units as a decimal string with two places ("12.50").
pub fn format_amount(v: u64) -> String {
    format!("{}.{:02}", v / 100, v % 100)
}

/// Checks a currency code: 2–16 of `A-Z`, `0-9`, `-`.
pub fn check_currency(c: &str) -> Result<(), PayError> {
    if (2..=MAX_CURRENCY).contains(&c.len())
        && c.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
    {
        Ok(())
    } else {
        Err(PayError::BadCurrency(c.chars().take(32).collect()))
    }
}

/// The powers of two that add up to `amount` (smallest first).
pub fn split_amount(amount: u64) -> Vec<u64> {
    (0..DENOMINATIONS)
        .map(|i| 1u64 << i)
        .filter(|d| amount & d != 0)
        .collect()
}

/// A 33-byte compressed secp256k1 point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Point(#[serde(with = "point_serde")] pub [u8; 33]);

/// Points as byte strings (serde derives arrays only up to 32).
mod point_serde {
    use serde::{de::Error, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 33], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 33], D::Error> {
        let v = crate::bytes::deserialize(d)?;
        <[u8; 33]>::try_from(v.as_slice()).map_err(|_| D::Error::custom("a point is 33 bytes"))
    }
}

/// One unit of ecash: `amount` minor units, the secret, and the mint's
/// unblinded signature `c` on it (for the currency the container names).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    /// Minor units (a power of two).
    pub amount: u64,
    /// The secret: a postcard [`Secret`].
    pub secret: Vec<u8>,
    /// The unblinded signature.
    pub c: Point,
}

impl Proof {
    /// `Y = hash_to_curve(secret)`: what the mint records as spent.
    pub fn y(&self) -> Result<Point, PayError> {
        let y = cashu::dhke::hash_to_curve(&self.secret).map_err(crypto)?;
        Ok(Point(y.to_bytes()))
    }

    /// The decoded secret.
    pub fn parsed(&self) -> Result<Secret, PayError> {
        Secret::decode(&self.secret)
    }
}

/// What a proof's secret says: a nonce and, for a locked token, the lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    /// Random, so every secret is new.
    pub nonce: [u8; 16],
    /// Who may spend it (`None`: whoever holds it).
    pub lock: Option<Lock>,
}

impl Secret {
    /// A fresh secret.
    pub fn new(lock: Option<Lock>) -> Result<Self, PayError> {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(|e| PayError::Crypto(e.to_string()))?;
        Ok(Self { nonce, lock })
    }

    /// Its bytes.
    pub fn encode(&self) -> Result<Vec<u8>, PayError> {
        let v = postcard::to_stdvec(self).map_err(|_| PayError::Malformed("secret"))?;
        if v.len() > MAX_SECRET {
            return Err(PayError::TooMany("secret"));
        }
        Ok(v)
    }

    /// Decodes a secret; refuses oversize ones and locks without keys.
    pub fn decode(b: &[u8]) -> Result<Self, PayError> {
        if b.len() > MAX_SECRET {
            return Err(PayError::TooMany("secret"));
        }
        let s: Secret = postcard::from_bytes(b).map_err(|_| PayError::Malformed("secret"))?;
        if let Some(l) = &s.lock {
            if l.to.is_empty() || l.to.len() > MAX_LOCK_KEYS {
                return Err(PayError::Malformed("lock"));
            }
        }
        Ok(s)
    }
}

/// Pay-to-public-key: who may spend a token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    /// Any one of these keys (the recipient's devices) may spend it.
    pub to: Vec<AccountId>,
    /// After `locktime`, this key (the sender's device) may take it back.
    pub refund: AccountId,
    /// Unix seconds, by the mint's clock.
    pub locktime: u64,
}

/// A signature that unlocks a locked proof for one particular swap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Witness {
    /// The key that signed (one the lock names).
    pub signer: AccountId,
    /// Its signature over [`spend_digest`].
    pub sig: SignatureBytes,
}

/// One proof being spent, with its witness if it is locked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    /// The proof.
    pub proof: Proof,
    /// Signature for a locked proof.
    pub witness: Option<Witness>,
}

/// A blinded message the mint is asked to sign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// Minor units (a power of two).
    pub amount: u64,
    /// `B_ = Y + rG`.
    pub b: Point,
}

/// The mint's blind signature on an [`Output`], with its DLEQ proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promise {
    /// Minor units.
    pub amount: u64,
    /// `C_ = k B_`.
    pub c: Point,
    /// DLEQ `e`.
    pub e: [u8; 32],
    /// DLEQ `s`.
    pub s: [u8; 32],
}

fn crypto(e: impl fmt::Display) -> PayError {
    PayError::Crypto(e.to_string())
}

mod blind;
mod mint;
mod msg;

pub use blind::*;
pub use mint::*;
pub use msg::*;

#[cfg(test)]
mod tests;
