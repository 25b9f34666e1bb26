//! What a mint publishes (its currencies, keys and rates) and the requests
//! and replies of its protocol.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::*;
use crate::identity::AccountId;

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
