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
use std::str::FromStr;

use cashu::nuts::{BlindSignature, BlindSignatureDleq, Id, PublicKey, SecretKey};
use serde::{Deserialize, Serialize};

use crate::identity::{AccountId, AccountKey, SignatureBytes};

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

/// What a spend's signature covers: the proof's secret and every output of
/// the swap (and their currency), so a witness cannot be reused elsewhere.
pub fn spend_digest(currency: &str, secret: &[u8], outputs: &[Output]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key(SPEND_CONTEXT);
    h.update(&(currency.len() as u64).to_le_bytes());
    h.update(currency.as_bytes());
    h.update(&(secret.len() as u64).to_le_bytes());
    h.update(secret);
    for o in outputs {
        h.update(&o.amount.to_le_bytes());
        h.update(&o.b.0);
    }
    *h.finalize().as_bytes()
}

/// Signs a locked proof for a swap into `outputs`.
pub fn witness(key: &AccountKey, currency: &str, proof: &Proof, outputs: &[Output]) -> Witness {
    let d = spend_digest(currency, &proof.secret, outputs);
    Witness {
        signer: key.account_id(),
        sig: key.sign(SPEND_CONTEXT, &d),
    }
}

/// The mint's check of one input's lock: unlocked proofs pass; a locked one
/// needs a valid witness by a key the lock names, or by the refund key once
/// `now` (Unix seconds, the mint's clock) has reached the lock time.
pub fn check_spend(
    currency: &str,
    input: &Input,
    outputs: &[Output],
    now: u64,
) -> Result<(), PayError> {
    let secret = input.proof.parsed()?;
    let Some(lock) = secret.lock else {
        return Ok(());
    };
    let w = input
        .witness
        .as_ref()
        .ok_or(PayError::Locked("no signature"))?;
    let allowed = lock.to.contains(&w.signer) || (w.signer == lock.refund && now >= lock.locktime);
    if !allowed {
        return Err(if w.signer == lock.refund {
            PayError::Locked("the refund is not due yet")
        } else {
            PayError::Locked("the signer is not a key of the recipient")
        });
    }
    let d = spend_digest(currency, &input.proof.secret, outputs);
    w.signer
        .verify(SPEND_CONTEXT, &d, &w.sig)
        .map_err(|_| PayError::BadSignature("spend witness"))
}

fn crypto(e: impl fmt::Display) -> PayError {
    PayError::Crypto(e.to_string())
}

/// The mint's private key for `amount` in `currency`, derived from its seed.
pub fn mint_secret(seed: &[u8; 32], currency: &str, amount: u64) -> Result<[u8; 32], PayError> {
    for counter in 0u32..16 {
        let mut h = blake3::Hasher::new_derive_key("weft-pay-mint-key-v1");
        h.update(seed);
        h.update(&(currency.len() as u64).to_le_bytes());
        h.update(currency.as_bytes());
        h.update(&amount.to_le_bytes());
        h.update(&counter.to_le_bytes());
        let k = *h.finalize().as_bytes();
        if SecretKey::from_slice(&k).is_ok() {
            return Ok(k);
        }
    }
    Err(PayError::Crypto("no valid key".into()))
}

/// The public key `K = kG` of a mint secret.
pub fn mint_public(k: &[u8; 32]) -> Result<Point, PayError> {
    Ok(Point(
        SecretKey::from_slice(k)
            .map_err(crypto)?
            .public_key()
            .to_bytes(),
    ))
}

/// Blinds `secret`: returns the output point `B_` and the blinding factor `r`.
pub fn blind(secret: &[u8]) -> Result<(Point, [u8; 32]), PayError> {
    let (b, r) = cashu::dhke::blind_message(secret, None).map_err(crypto)?;
    Ok((Point(b.to_bytes()), r.to_secret_bytes()))
}

fn dummy_id() -> Result<Id, PayError> {
    Id::from_bytes(&[0u8; 8]).map_err(crypto)
}

/// The mint signs an output with key `k`, with a DLEQ proof.
pub fn sign_output(k: &[u8; 32], out: &Output) -> Result<Promise, PayError> {
    let sk = SecretKey::from_slice(k).map_err(crypto)?;
    let b = PublicKey::from_slice(&out.b.0).map_err(crypto)?;
    let c = cashu::dhke::sign_message(&sk, &b).map_err(crypto)?;
    let sig = BlindSignature::new(out.amount.into(), c, dummy_id()?, &b, &sk).map_err(crypto)?;
    let dleq = sig.dleq.ok_or(PayError::Crypto("no DLEQ".into()))?;
    Ok(Promise {
        amount: out.amount,
        c: Point(c.to_bytes()),
        e: dleq.e.to_secret_bytes(),
        s: dleq.s.to_secret_bytes(),
    })
}

/// The wallet's side: checks the promise's DLEQ proof against the mint's
/// public key `mint_key` for its amount and the output it answers, then
/// unblinds it into a proof of `secret`.
pub fn unblind(
    promise: &Promise,
    out: &Output,
    r: &[u8; 32],
    secret: Vec<u8>,
    mint_key: &Point,
) -> Result<Proof, PayError> {
    if promise.amount != out.amount {
        return Err(PayError::BadSignature("the mint signed another amount"));
    }
    let k = PublicKey::from_slice(&mint_key.0).map_err(crypto)?;
    let b = PublicKey::from_slice(&out.b.0).map_err(crypto)?;
    let c = PublicKey::from_slice(&promise.c.0).map_err(crypto)?;
    let sig = BlindSignature {
        amount: promise.amount.into(),
        keyset_id: dummy_id()?,
        c,
        dleq: Some(BlindSignatureDleq {
            e: SecretKey::from_slice(&promise.e).map_err(crypto)?,
            s: SecretKey::from_slice(&promise.s).map_err(crypto)?,
        }),
    };
    sig.verify_dleq(k, b)
        .map_err(|_| PayError::BadSignature("the mint's signature does not prove its key"))?;
    let r = SecretKey::from_slice(r).map_err(crypto)?;
    let unblinded = cashu::dhke::unblind_message(&c, &r, &k).map_err(crypto)?;
    Ok(Proof {
        amount: promise.amount,
        secret,
        c: Point(unblinded.to_bytes()),
    })
}

/// The mint checks that `proof` carries its signature under key `k`.
pub fn verify_proof(k: &[u8; 32], proof: &Proof) -> Result<(), PayError> {
    let sk = SecretKey::from_slice(k).map_err(crypto)?;
    let c = PublicKey::from_slice(&proof.c.0).map_err(|_| PayError::BadSignature("token"))?;
    cashu::dhke::verify_message(&sk, c, &proof.secret).map_err(|_| PayError::BadSignature("token"))
}

/// An exchange rate: `to = from * num / den`, rounded down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rate {
    /// Numerator.
    pub num: u64,
    /// Denominator (not zero).
    pub den: u64,
}

impl Rate {
    /// Parses "0.1234" (up to 8 decimals) into a rate.
    pub fn parse(s: &str) -> Result<Self, PayError> {
        let bad = || PayError::BadAmount(s.chars().take(32).collect());
        let (w, f) = s.trim().split_once('.').unwrap_or((s.trim(), ""));
        if f.len() > 8 || w.len() > 9 || !(w.bytes().chain(f.bytes())).all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let den = 10u64.pow(f.len() as u32);
        let num = format!("{w}{f}").parse::<u64>().map_err(|_| bad())?;
        if num == 0 {
            return Err(bad());
        }
        Ok(Self { num, den })
    }

    /// What `amount` becomes.
    pub fn apply(&self, amount: u64) -> Option<u64> {
        if self.den == 0 {
            return None;
        }
        let v = (amount as u128) * (self.num as u128) / (self.den as u128);
        u64::try_from(v).ok()
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 0 {
            return f.write_str("?");
        }
        let places = (self.den as f64).log10().round() as usize;
        let w = self.num / self.den;
        let r = self.num % self.den;
        if places == 0 {
            write!(f, "{w}")
        } else {
            write!(f, "{w}.{r:0places$}")
        }
    }
}

/// One currency a mint offers: its public keys, and for a coupon what it
/// is worth and until when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyInfo {
    /// The code.
    pub code: String,
    /// `(amount, K)` for every denomination.
    pub keys: Vec<(u64, Point)>,
    /// A coupon: its terms.
    pub coupon: Option<CouponTerms>,
}

/// What a coupon is: a unit of its issuer's mint that buys a discount at
/// the issuer, until it expires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouponTerms {
    /// Shown to people ("5.00 EUR off").
    pub title: String,
    /// The account that takes it (the official account that issued it).
    pub issuer: AccountId,
    /// The currency it discounts.
    pub currency: String,
    /// Minor units off (`Some`), or percent off (`percent`).
    pub off: Option<u64>,
    /// Percent off (1–100) when `off` is `None`.
    pub percent: u8,
    /// Unix seconds after which it is refused.
    pub expires_at: u64,
}

impl CouponTerms {
    /// The discount on `amount`, never more than `amount`.
    pub fn discount(&self, amount: u64) -> u64 {
        match self.off {
            Some(o) => o.min(amount),
            None => (amount as u128 * self.percent.min(100) as u128 / 100) as u64,
        }
    }
}

/// What a mint publishes about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MintInfo {
    /// Its name.
    pub name: String,
    /// Currencies and keys.
    pub currencies: Vec<CurrencyInfo>,
    /// Exchange rates it offers: `(from, to, rate)`.
    pub rates: Vec<(String, String, Rate)>,
}

impl MintInfo {
    /// One currency.
    pub fn currency(&self, code: &str) -> Option<&CurrencyInfo> {
        self.currencies.iter().find(|c| c.code == code)
    }

    /// Checks bounds.
    pub fn validate(&self) -> Result<(), PayError> {
        if self.currencies.len() > MAX_CURRENCIES || self.rates.len() > MAX_CURRENCIES * 4 {
            return Err(PayError::TooMany("currencies"));
        }
        for c in &self.currencies {
            check_currency(&c.code)?;
            if c.keys.len() > DENOMINATIONS as usize {
                return Err(PayError::TooMany("keys"));
            }
        }
        Ok(())
    }
}

/// A `/weft/mint/1` request (sealed to the mint's account).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MintRequest {
    /// Keys, currencies and rates.
    Info,
    /// Spend `inputs` for new signatures on `outputs`, all in `currency`,
    /// amounts equal.
    Swap {
        /// Currency.
        currency: String,
        /// Proofs spent.
        inputs: Vec<Input>,
        /// Blinded messages to sign.
        outputs: Vec<Output>,
    },
    /// Spend `inputs` in `from` for `outputs` in `to` at `rate` (refused
    /// if the mint's rate is not that one any more).
    Exchange {
        /// Currency of the inputs.
        from: String,
        /// Currency of the outputs.
        to: String,
        /// The rate the wallet was shown.
        rate: Rate,
        /// Proofs spent.
        inputs: Vec<Input>,
        /// Blinded messages to sign.
        outputs: Vec<Output>,
    },
    /// Which of these `Y`s are spent.
    Check {
        /// Points.
        ys: Vec<Point>,
    },
    /// One coupon of `currency` for the asking device (once per device):
    /// the outputs add up to 1.
    ClaimCoupon {
        /// The coupon's currency.
        currency: String,
        /// Blinded messages to sign.
        outputs: Vec<Output>,
    },
    /// Burns a coupon at its issuer (asked by the node that runs the mint).
    Redeem {
        /// The coupon's currency.
        currency: String,
        /// Its proofs.
        inputs: Vec<Input>,
    },
}

impl MintRequest {
    /// Bounds.
    pub fn validate(&self) -> Result<(), PayError> {
        let (inputs, outputs) = match self {
            MintRequest::Info => return Ok(()),
            MintRequest::Check { ys } => {
                if ys.len() > MAX_PROOFS {
                    return Err(PayError::TooMany("points"));
                }
                return Ok(());
            }
            MintRequest::Swap {
                currency,
                inputs,
                outputs,
            } => {
                check_currency(currency)?;
                (inputs, outputs.as_slice())
            }
            MintRequest::Exchange {
                from,
                to,
                inputs,
                outputs,
                ..
            } => {
                check_currency(from)?;
                check_currency(to)?;
                (inputs, outputs.as_slice())
            }
            MintRequest::Redeem { currency, inputs } => {
                check_currency(currency)?;
                (inputs, &[][..])
            }
            MintRequest::ClaimCoupon { currency, outputs } => {
                check_currency(currency)?;
                if outputs.len() != 1 {
                    return Err(PayError::TooMany("outputs"));
                }
                return Ok(());
            }
        };
        if inputs.is_empty() || inputs.len() > MAX_PROOFS {
            return Err(PayError::TooMany("inputs"));
        }
        if outputs.len() > MAX_OUTPUTS {
            return Err(PayError::TooMany("outputs"));
        }
        Ok(())
    }
}

/// The mint's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MintReply {
    /// To `Info`.
    Info(MintInfo),
    /// To a swap or exchange: one promise per output, in order.
    Signed(Vec<Promise>),
    /// To `Check`: spent or not, in order.
    States(Vec<bool>),
    /// To `Redeem`.
    Redeemed,
    /// These inputs were spent before (by another request): nothing was
    /// done.
    Spent(Vec<Point>),
    /// Refused, with the reason.
    Refused(String),
}

/// `/weft/mint/1` on the wire: a [`MintRequest`] sealed to the mint's
/// account (Noise IK message 1, so only the mint reads it and the asker's
/// device key is authenticated).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MintEnvelope {
    /// The mint addressed.
    pub mint: AccountId,
    /// IK message 1.
    #[serde(with = "crate::bytes")]
    pub msg1: Vec<u8>,
}

/// The answer on the wire: IK message 2 carrying a [`MintReply`], or a
/// refusal before any session (unknown mint, too many requests).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MintAnswer {
    /// IK message 2.
    Sealed(#[serde(with = "crate::bytes")] Vec<u8>),
    /// Refused.
    Refused(String),
}

/// Why money is moving (shown in history; the receiver checks it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Purpose {
    /// A transfer to a friend.
    Gift,
    /// Paying a request the receiver made (its id).
    Request([u8; 16]),
    /// A share of a red envelope (its id).
    Packet([u8; 16]),
    /// Money a mint's operator issued.
    Issue,
    /// A coupon an official account gave.
    Coupon,
    /// Ecash handed out as text (`pay token`), for whoever redeems it.
    Token,
}

/// Prefix of ecash as text.
pub const TOKEN_LINK: &str = "weft://cash/";

/// Ecash as text: proofs of one mint and currency, for whoever redeems them
/// (or, if locked, for the keys the lock names).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// The mint.
    pub mint: AccountId,
    /// Currency.
    pub currency: String,
    /// Proofs.
    pub proofs: Vec<Proof>,
}

impl Token {
    /// `weft://cash/<base58>`.
    pub fn to_text(&self) -> Result<String, PayError> {
        let b = postcard::to_stdvec(self).map_err(|_| PayError::Malformed("token"))?;
        Ok(format!("{TOKEN_LINK}{}", bs58::encode(b).into_string()))
    }

    /// Sum of the proofs.
    pub fn amount(&self) -> Result<u64, PayError> {
        self.proofs
            .iter()
            .try_fold(0u64, |a, p| a.checked_add(p.amount))
            .filter(|s| *s <= MAX_AMOUNT)
            .ok_or(PayError::TooLarge)
    }
}

impl FromStr for Token {
    type Err = PayError;

    fn from_str(s: &str) -> Result<Self, PayError> {
        let s = s.trim();
        if s.len() > 64 * 1024 {
            return Err(PayError::TooMany("token"));
        }
        let b = bs58::decode(s.strip_prefix(TOKEN_LINK).unwrap_or(s))
            .into_vec()
            .map_err(|_| PayError::Malformed("token"))?;
        let t: Token = postcard::from_bytes(&b).map_err(|_| PayError::Malformed("token"))?;
        check_currency(&t.currency)?;
        if t.proofs.is_empty() || t.proofs.len() > MAX_PROOFS {
            return Err(PayError::TooMany("proofs"));
        }
        t.amount()?;
        Ok(t)
    }
}

/// Tokens sent to someone inside a chat message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// The payment's id (the same on every retry).
    pub id: [u8; 16],
    /// The mint.
    pub mint: AccountId,
    /// Currency.
    pub currency: String,
    /// Minor units (the sum of the proofs).
    pub amount: u64,
    /// Note.
    pub note: String,
    /// The proofs, locked to the receiver.
    pub proofs: Vec<Proof>,
    /// Why.
    pub purpose: Purpose,
}

impl Transfer {
    /// Checks bounds and that the amount is what the proofs add up to.
    pub fn validate(&self) -> Result<(), PayError> {
        check_currency(&self.currency)?;
        if self.note.len() > MAX_NOTE {
            return Err(PayError::TooMany("note"));
        }
        if self.proofs.is_empty() || self.proofs.len() > MAX_PROOFS {
            return Err(PayError::TooMany("proofs"));
        }
        let sum = self
            .proofs
            .iter()
            .try_fold(0u64, |a, p| a.checked_add(p.amount))
            .ok_or(PayError::TooLarge)?;
        if sum != self.amount || sum > MAX_AMOUNT {
            return Err(PayError::Malformed("transfer amount"));
        }
        Ok(())
    }
}

/// A red envelope as the members see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketInfo {
    /// Its id.
    pub id: [u8; 16],
    /// The group (its id bytes), or `None` for a 1:1 envelope.
    pub group: Option<[u8; 32]>,
    /// Mint.
    pub mint: AccountId,
    /// Currency.
    pub currency: String,
    /// Total, minor units.
    pub total: u64,
    /// Shares.
    pub count: u32,
    /// Random shares.
    pub lucky: bool,
    /// Note.
    pub note: String,
    /// Unix seconds after which what is left goes back to the sender.
    pub expires_at: u64,
}

/// Pay business carried in a 1:1 chat message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PayMsg {
    /// Money.
    Transfer(Transfer),
    /// "I claimed your transfer" (so the sender shows it received).
    Claimed {
        /// The transfer.
        id: [u8; 16],
    },
    /// A red envelope for us to grab.
    Packet(PacketInfo),
    /// "May I have a share?"
    Grab {
        /// The envelope.
        packet: [u8; 16],
    },
    /// Who got how much so far (the sender's record).
    PacketState {
        /// The envelope.
        packet: [u8; 16],
        /// `(account, amount)` in the order they grabbed.
        shares: Vec<(AccountId, u64)>,
        /// Nothing more to grab (all taken, or expired).
        finished: bool,
        /// Why a grab of the receiver was refused, if it was.
        refused: Option<String>,
    },
}

impl PayMsg {
    /// Checks bounds.
    pub fn validate(&self) -> Result<(), PayError> {
        match self {
            PayMsg::Transfer(t) => t.validate(),
            PayMsg::Packet(p) => {
                check_currency(&p.currency)?;
                if p.note.len() > MAX_NOTE || p.count == 0 || p.count > 500 {
                    return Err(PayError::TooMany("envelope"));
                }
                Ok(())
            }
            PayMsg::PacketState {
                shares, refused, ..
            } => {
                if shares.len() > 500 || refused.as_ref().is_some_and(|r| r.len() > MAX_NOTE) {
                    return Err(PayError::TooMany("envelope shares"));
                }
                Ok(())
            }
            PayMsg::Claimed { .. } | PayMsg::Grab { .. } => Ok(()),
        }
    }
}

/// A payment request (a shop's till shows it as a QR code): signed by the
/// payee's device, so nobody can redirect the money.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayRequest {
    /// Its id: paid at most once.
    pub id: [u8; 16],
    /// Who is paid.
    pub payee: AccountId,
    /// The payee's name.
    pub name: String,
    /// The payee's mint.
    pub mint: AccountId,
    /// Currency.
    pub currency: String,
    /// Minor units.
    pub amount: u64,
    /// Note.
    pub note: String,
    /// Unix seconds after which it is refused.
    pub expires_at: u64,
    /// The device key that signed (the payee's account key or a linked device's).
    pub signer: AccountId,
    /// Signature over everything above.
    pub sig: SignatureBytes,
}

#[derive(Serialize)]
struct RequestBody<'a> {
    id: &'a [u8; 16],
    payee: &'a AccountId,
    name: &'a str,
    mint: &'a AccountId,
    currency: &'a str,
    amount: u64,
    note: &'a str,
    expires_at: u64,
}

impl PayRequest {
    /// Makes and signs a request.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        key: &AccountKey,
        payee: AccountId,
        name: &str,
        mint: AccountId,
        currency: &str,
        amount: u64,
        note: &str,
        expires_at: u64,
    ) -> Result<Self, PayError> {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|e| PayError::Crypto(e.to_string()))?;
        let mut r = Self {
            id,
            payee,
            name: name.to_string(),
            mint,
            currency: currency.to_string(),
            amount,
            note: note.to_string(),
            expires_at,
            signer: key.account_id(),
            sig: SignatureBytes([0; 64]),
        };
        r.sig = key.sign(REQUEST_CONTEXT, &r.body()?);
        r.check_fields()?;
        Ok(r)
    }

    fn body(&self) -> Result<Vec<u8>, PayError> {
        postcard::to_stdvec(&RequestBody {
            id: &self.id,
            payee: &self.payee,
            name: &self.name,
            mint: &self.mint,
            currency: &self.currency,
            amount: self.amount,
            note: &self.note,
            expires_at: self.expires_at,
        })
        .map_err(|_| PayError::Malformed("request"))
    }

    fn check_fields(&self) -> Result<(), PayError> {
        check_currency(&self.currency)?;
        if self.amount == 0 || self.amount > MAX_AMOUNT {
            return Err(PayError::BadAmount(self.amount.to_string()));
        }
        if self.note.len() > MAX_NOTE || self.name.len() > 64 {
            return Err(PayError::TooMany("note"));
        }
        Ok(())
    }

    /// Checks fields and the signature (not who the signer is: the caller
    /// checks that it is the payee or one of its devices).
    pub fn verify(&self, now: u64) -> Result<(), PayError> {
        self.check_fields()?;
        self.signer
            .verify(REQUEST_CONTEXT, &self.body()?, &self.sig)
            .map_err(|_| PayError::BadSignature("payment request"))?;
        if now > self.expires_at {
            return Err(PayError::Expired);
        }
        Ok(())
    }

    /// `weft://pay/<base58>`.
    pub fn to_link(&self) -> Result<String, PayError> {
        let b = postcard::to_stdvec(self).map_err(|_| PayError::Malformed("request"))?;
        Ok(format!("{REQUEST_LINK}{}", bs58::encode(b).into_string()))
    }
}

impl FromStr for PayRequest {
    type Err = PayError;

    /// A link, or the bare base58 text.
    fn from_str(s: &str) -> Result<Self, PayError> {
        let s = s.trim();
        if s.len() > 4096 {
            return Err(PayError::TooMany("request"));
        }
        let t = s.strip_prefix(REQUEST_LINK).unwrap_or(s);
        let b = bs58::decode(t)
            .into_vec()
            .map_err(|_| PayError::Malformed("payment request"))?;
        postcard::from_bytes(&b).map_err(|_| PayError::Malformed("payment request"))
    }
}

/// Splits `total` into `count` shares: equal (the first `total % count`
/// get one more), or "lucky" as WeChat: each share at least 1, none above
/// twice the mean of what remains. `rand(lo, hi)` draws uniformly in
/// `lo..=hi`. `None` if `total < count` or `count == 0`.
pub fn split_packet(
    total: u64,
    count: u32,
    lucky: bool,
    mut rand: impl FnMut(u64, u64) -> u64,
) -> Option<Vec<u64>> {
    let n = count as u64;
    if n == 0 || total < n {
        return None;
    }
    if !lucky {
        let (q, r) = (total / n, total % n);
        return Some((0..n).map(|i| q + u64::from(i < r)).collect());
    }
    let mut left = total;
    let mut v = Vec::with_capacity(count as usize);
    for i in 0..n {
        let remaining = n - i;
        if remaining == 1 {
            v.push(left);
            break;
        }
        let cap = (2 * left / remaining).min(left - (remaining - 1));
        let hi = cap.max(1);
        let share = rand(1, hi).clamp(1, hi);
        v.push(share);
        left -= share;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn amounts_parse_and_refuse() {
        assert_eq!(parse_amount("12.50"), Ok(1250));
        assert_eq!(parse_amount("12.5"), Ok(1250));
        assert_eq!(parse_amount("12"), Ok(1200));
        assert_eq!(parse_amount("0.01"), Ok(1));
        for bad in [
            "0", "0.00", "-1", "1.234", "", ".", "1.", "abc", "1e3", " ", "+1",
        ] {
            assert!(parse_amount(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_amount("99999999999999"), Err(PayError::TooLarge));
        assert_eq!(format_amount(1250), "12.50");
        assert_eq!(format_amount(1), "0.01");
    }

    #[test]
    fn currency_codes() {
        assert!(check_currency("CNY").is_ok());
        assert!(check_currency("OFF5-EUR").is_ok());
        assert!(check_currency("cny").is_err());
        assert!(check_currency("C").is_err());
        assert!(check_currency("ABCDEFGHIJKLMNOPQ").is_err());
    }

    fn key() -> AccountKey {
        AccountKey::generate().unwrap()
    }

    /// A proof made by blinding, signing and unblinding verifies at the
    /// mint; one signed by another key, or altered, does not; a promise
    /// with a DLEQ for another key is refused by the wallet.
    #[test]
    fn blind_sign_unblind_verify() {
        let seed = [7u8; 32];
        let k = mint_secret(&seed, "CNY", 8).unwrap();
        let kpub = mint_public(&k).unwrap();
        let secret = Secret::new(None).unwrap().encode().unwrap();
        let (b, r) = blind(&secret).unwrap();
        let out = Output { amount: 8, b };
        let promise = sign_output(&k, &out).unwrap();
        let proof = unblind(&promise, &out, &r, secret.clone(), &kpub).unwrap();
        verify_proof(&k, &proof).unwrap();
        let other = mint_secret(&seed, "CNY", 16).unwrap();
        assert!(verify_proof(&other, &proof).is_err());
        let mut altered = proof.clone();
        altered.secret[0] ^= 1;
        assert!(verify_proof(&k, &altered).is_err());
        // The wallet checks the DLEQ against the published key.
        let wrong = mint_public(&other).unwrap();
        assert!(unblind(&promise, &out, &r, secret.clone(), &wrong).is_err());
        let mut bad = promise.clone();
        bad.c = wrong;
        assert!(unblind(&bad, &out, &r, secret, &kpub).is_err());
    }

    /// A locked proof spends only with the recipient's signature over these
    /// outputs, or the refund key after the lock time.
    #[test]
    fn locks_hold() {
        let (bao, ada, eve) = (key(), key(), key());
        let lock = Lock {
            to: vec![bao.account_id()],
            refund: ada.account_id(),
            locktime: 1000,
        };
        let proof = Proof {
            amount: 4,
            secret: Secret::new(Some(lock)).unwrap().encode().unwrap(),
            c: Point([2; 33]),
        };
        let outs = vec![Output {
            amount: 4,
            b: Point([3; 33]),
        }];
        let spend = |k: &AccountKey, outs_signed: &[Output]| Input {
            proof: proof.clone(),
            witness: Some(witness(k, "CNY", &proof, outs_signed)),
        };
        assert!(check_spend("CNY", &spend(&bao, &outs), &outs, 0).is_ok());
        assert!(check_spend("CNY", &spend(&eve, &outs), &outs, 5000).is_err());
        assert!(check_spend("CNY", &spend(&ada, &outs), &outs, 999).is_err());
        assert!(check_spend("CNY", &spend(&ada, &outs), &outs, 1000).is_ok());
        // A witness for other outputs is no good for these.
        let other = vec![Output {
            amount: 4,
            b: Point([4; 33]),
        }];
        assert!(check_spend("CNY", &spend(&bao, &other), &outs, 0).is_err());
        let bare = Input {
            proof: proof.clone(),
            witness: None,
        };
        assert!(check_spend("CNY", &bare, &outs, 0).is_err());
    }

    #[test]
    fn requests_sign_and_round_trip() {
        let shop = key();
        let r = PayRequest::new(
            &shop,
            shop.account_id(),
            "Shop",
            key().account_id(),
            "CNY",
            1250,
            "coffee",
            2000,
        )
        .unwrap();
        let back: PayRequest = r.to_link().unwrap().parse().unwrap();
        assert_eq!(back, r);
        back.verify(1000).unwrap();
        assert_eq!(back.verify(3000), Err(PayError::Expired));
        let mut forged = back.clone();
        forged.amount = 1;
        assert!(forged.verify(1000).is_err());
    }

    #[test]
    fn rates() {
        let r = Rate::parse("0.1285").unwrap();
        assert_eq!(r.apply(10000), Some(1285));
        assert_eq!(r.to_string(), "0.1285");
        assert_eq!(Rate::parse("7").unwrap().apply(3), Some(21));
        assert!(Rate::parse("0").is_err());
        assert!(Rate::parse("-1").is_err());
    }

    proptest! {
        /// Lucky or equal, the shares add up to the total, each at least
        /// one, none above twice the mean of what remained when it was cut.
        #[test]
        fn packets_split_exactly(total in 1u64..1_000_000, count in 1u32..200, lucky: bool, seed: u64) {
            let mut s = seed | 1;
            let rand = move |lo: u64, hi: u64| {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                lo + s % (hi - lo + 1)
            };
            match split_packet(total, count, lucky, rand) {
                None => prop_assert!(total < count as u64),
                Some(v) => {
                    prop_assert_eq!(v.len(), count as usize);
                    prop_assert_eq!(v.iter().sum::<u64>(), total);
                    prop_assert!(v.iter().all(|x| *x >= 1));
                    let mut left = total;
                    for (i, x) in v.iter().enumerate() {
                        let remaining = count as u64 - i as u64;
                        if remaining > 1 {
                            prop_assert!(*x <= (2 * left / remaining).max(1));
                        }
                        left -= x;
                    }
                }
            }
        }

        #[test]
        fn amounts_round_trip(v in 1u64..MAX_AMOUNT) {
            prop_assert_eq!(parse_amount(&format_amount(v)), Ok(v));
            prop_assert_eq!(split_amount(v).iter().sum::<u64>(), v);
        }
    }
}
