//! Money between people: tokens as text, transfers and red envelopes inside
//! chat messages, and payment requests.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::*;
use crate::identity::{AccountId, AccountKey, SignatureBytes};

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
