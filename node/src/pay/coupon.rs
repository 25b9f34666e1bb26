//! Coupons: an official account's operator adds a coupon currency to its
//! own mint ("5.00 EUR off", "10 % off", until a date) and publishes the
//! offer as a `weft://coupon/…` link in a post; a follower takes one coupon
//! per device (`coupon claim`); at payment to the issuer (`pay send` or
//! `pay scan` with `--coupon`) the coupon goes with the money and the
//! amount paid is the price less the discount. The payer checks the coupon
//! is unexpired and unspent first; the issuer burns it at its mint, which
//! refuses a spent or expired coupon.

use serde::{Deserialize, Serialize};
use weft_protocol::{
    pay::{
        check_currency, format_amount, parse_amount, CouponTerms, MintReply, MintRequest, PayError,
        Proof,
    },
    AccountId,
};

use super::transfer::Outgoing;
use super::wallet::{new_outputs, plain_inputs};
use super::{new_id, Pay, PayServiceError, SendResult};
use crate::store::pay::{Dest, Op, OpPurpose, Payment, MAIN};

/// Prefix of a coupon offer link.
pub const COUPON_LINK: &str = "weft://coupon/";

/// What a coupon offer link carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Offer {
    mint: AccountId,
    currency: String,
    terms: CouponTerms,
}

/// A coupon as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CouponView {
    /// Its currency code (how `--coupon` names it).
    pub code: String,
    /// "5.00 EUR off".
    pub title: String,
    /// The mint that issued it.
    pub mint: String,
    /// The account that takes it.
    pub issuer: String,
    /// Unix seconds after which it is refused.
    pub expires_at: u64,
    /// The offer link followers claim it with.
    pub link: String,
}

impl Pay {
    /// `oa coupon`: adds a coupon to one of our mints; returns the offer.
    pub async fn coupon_create(
        &self,
        mint: &str,
        currency: &str,
        off: Option<&str>,
        percent: Option<u8>,
        title: Option<&str>,
        valid_secs: u64,
    ) -> Result<CouponView, PayServiceError> {
        let (mint, mut rec) = self.owned_mint(mint)?;
        let currency = currency.trim().to_uppercase();
        check_currency(&currency)?;
        let (off, percent) = match (off, percent) {
            (Some(o), None) => (Some(parse_amount(o)?), 0),
            (None, Some(p)) if (1..=100).contains(&p) => (None, p),
            _ => {
                return Err(PayServiceError::Coupon(
                    "give either --off AMOUNT or --percent 1-100".into(),
                ))
            }
        };
        let title = match title {
            Some(t) if !t.trim().is_empty() && t.len() <= 64 => t.trim().to_string(),
            _ => match off {
                Some(o) => format!("{} {currency} off", format_amount(o)),
                None => format!("{percent} % off"),
            },
        };
        let id = new_id()?;
        let code = format!("C-{}", weft_protocol::hex::encode(&id[..4]).to_uppercase());
        let terms = CouponTerms {
            title,
            issuer: self.me(),
            currency,
            off,
            percent,
            expires_at: weft_protocol::unix_now() + valid_secs,
        };
        if rec.currencies.len() >= weft_protocol::pay::MAX_CURRENCIES {
            return Err(PayServiceError::Coupon(
                "the mint has too many currencies".into(),
            ));
        }
        rec.currencies.push((code.clone(), Some(terms.clone())));
        self.store().put_mint(&mint, &rec)?;
        self.store().flush_async().await?;
        self.coupon_view(&mint, &code, &terms)
    }

    fn coupon_view(
        &self,
        mint: &AccountId,
        code: &str,
        terms: &CouponTerms,
    ) -> Result<CouponView, PayServiceError> {
        let offer = Offer {
            mint: *mint,
            currency: code.to_string(),
            terms: terms.clone(),
        };
        let b = postcard::to_stdvec(&offer).map_err(|_| PayError::Malformed("offer"))?;
        Ok(CouponView {
            code: code.to_string(),
            title: terms.title.clone(),
            mint: mint.to_string(),
            issuer: terms.issuer.to_string(),
            expires_at: terms.expires_at,
            link: format!("{COUPON_LINK}{}", bs58::encode(b).into_string()),
        })
    }

    /// `coupon claim <link>`: one coupon of the offer, into the wallet.
    pub async fn coupon_claim(&self, link: &str) -> Result<CouponView, PayServiceError> {
        let t = link.trim();
        if t.len() > 2048 {
            return Err(PayError::TooMany("link").into());
        }
        let b = bs58::decode(t.strip_prefix(COUPON_LINK).unwrap_or(t))
            .into_vec()
            .map_err(|_| PayError::Malformed("coupon link"))?;
        let offer: Offer =
            postcard::from_bytes(&b).map_err(|_| PayError::Malformed("coupon link"))?;
        // The mint's own word on the terms, not the link's.
        let info = self.refresh_info(&offer.mint).await?;
        let terms = info
            .currency(&offer.currency)
            .and_then(|c| c.coupon.clone())
            .ok_or_else(|| PayServiceError::Coupon("the mint offers no such coupon".into()))?;
        if weft_protocol::unix_now() > terms.expires_at {
            return Err(PayServiceError::Coupon("this coupon has expired".into()));
        }
        let (outs, secrets) = new_outputs(&[1], None, Dest::Wallet)?;
        let op = Op {
            id: new_id()?,
            mint: offer.mint,
            pocket: MAIN,
            request: MintRequest::ClaimCoupon {
                currency: offer.currency.clone(),
                outputs: outs,
            },
            outputs: secrets,
            purpose: OpPurpose::Exchange,
            at_ms: weft_protocol::unix_now_ms(),
        };
        self.begin(&op, false).await?;
        if !self.run_claimed(&op).await? {
            return Err(PayServiceError::Coupon(
                "the mint did not give it (one per device)".into(),
            ));
        }
        self.coupon_view(&offer.mint, &offer.currency, &terms)
    }

    /// A coupon in the wallet named by its code or title.
    fn find_coupon(
        &self,
        typed: &str,
    ) -> Result<(AccountId, String, CouponTerms, Proof), PayServiceError> {
        let t = typed.trim();
        for (mint, currency, _) in self.store().balances(&MAIN)? {
            let Some(info) = self.store().mint_info(&mint)? else {
                continue;
            };
            let Some(terms) = info.currency(&currency).and_then(|c| c.coupon.clone()) else {
                continue;
            };
            if currency.eq_ignore_ascii_case(t) || terms.title.eq_ignore_ascii_case(t) {
                let proof = self
                    .store()
                    .pocket(&MAIN, &mint, &currency)?
                    .into_iter()
                    .next()
                    .ok_or_else(|| PayServiceError::Coupon("it is used up".into()))?;
                return Ok((mint, currency, terms, proof));
            }
        }
        Err(PayServiceError::Coupon(format!(
            "no coupon `{}` in the wallet (used already, or never claimed)",
            t.chars().take(40).collect::<String>()
        )))
    }

    /// Pays `out`, with a coupon if one is named: checked here (issuer,
    /// currency, expiry, unspent at its mint), taken out of the wallet with
    /// the payment's record, and the price less its discount paid.
    pub(super) async fn pay_with_coupon(
        &self,
        mut out: Outgoing<'_>,
        coupon: Option<&str>,
    ) -> Result<SendResult, PayServiceError> {
        let Some(c) = coupon else {
            return self.pay_to(out).await;
        };
        let (cmint, code, terms, proof) = self.find_coupon(c)?;
        if terms.issuer != out.to {
            return Err(PayServiceError::Coupon(format!(
                "it is taken only by {}",
                self.name_of(&terms.issuer)
            )));
        }
        if terms.currency != out.currency {
            return Err(PayServiceError::Coupon(format!(
                "it discounts {}, not {}",
                terms.currency, out.currency
            )));
        }
        if weft_protocol::unix_now() > terms.expires_at {
            return Err(PayServiceError::Coupon("this coupon has expired".into()));
        }
        match self
            .ask(
                &cmint,
                &MintRequest::Check {
                    ys: vec![proof.y()?],
                },
            )
            .await?
        {
            MintReply::States(s) if s.first() == Some(&false) => {}
            MintReply::States(_) => {
                return Err(PayServiceError::Coupon(
                    "this coupon was already used".into(),
                ))
            }
            MintReply::Refused(r) => return Err(PayServiceError::Coupon(r)),
            _ => return Err(PayServiceError::MintCheated("not a state answer".into())),
        }
        let discount = terms.discount(out.amount);
        if discount >= out.amount {
            return Err(PayServiceError::Coupon(
                "it is worth the whole price; pay at least 0.01".into(),
            ));
        }
        out.amount -= discount;
        out.discount = discount;
        // The coupon leaves the wallet with a note of where it went.
        self.store().take_coupon(&cmint, &code, &proof)?;
        self.store().flush_async().await?;
        let to = out.to;
        match self.pay_to(out).await {
            Ok(r) => {
                let id = super::parse_id(&r.id)?;
                let key = crate::store::pay::history_key(true, &to, &id);
                // The payment is queued already: the coupon is recorded on
                // it and follows in a message of its own.
                self.store().update_payment(&key, |p| {
                    p.coupon = Some((code.clone(), vec![proof.clone()]));
                })?;
                self.store().flush_async().await?;
                self.inner
                    .chat
                    .send_pay(
                        to,
                        weft_protocol::pay::PayMsg::Transfer(weft_protocol::pay::Transfer {
                            id: coupon_transfer_id(&id),
                            mint: cmint,
                            currency: code.clone(),
                            amount: 1,
                            note: format!("coupon: {}", terms.title),
                            proofs: vec![proof],
                            purpose: weft_protocol::pay::Purpose::Coupon,
                        }),
                    )
                    .await?;
                Ok(r)
            }
            Err(e) => {
                // Not paid: the coupon goes back.
                self.store().return_coupon(&cmint, &code, &proof)?;
                self.store().flush_async().await?;
                Err(e)
            }
        }
    }

    /// The issuer's side: burns a coupon it received at its own mint.
    pub(super) async fn redeem_coupon(&self, p: &Payment) {
        let Some(mint) = self.our_coupon_mint(&p.currency) else {
            return;
        };
        let req = MintRequest::Redeem {
            currency: p.currency.clone(),
            inputs: plain_inputs(p.proofs.clone()),
        };
        let me = self.inner.ctx.identity.endpoint();
        let status = match self.answer(&mint, &req, &me.0, true) {
            MintReply::Redeemed => crate::store::pay::PayStatus::Received,
            MintReply::Spent(_) => {
                crate::store::pay::PayStatus::Failed("coupon refused: already used".into())
            }
            MintReply::Refused(r) => {
                crate::store::pay::PayStatus::Failed(format!("coupon refused: {r}"))
            }
            _ => crate::store::pay::PayStatus::Failed("coupon refused".into()),
        };
        let _ = self.store().update_payment(&p.key(), |q| {
            q.status = status.clone();
            q.proofs.clear();
        });
        let _ = self.store().flush_async().await;
    }

    /// Whether `currency` is a coupon of one of our mints.
    pub(super) fn is_our_coupon(&self, currency: &str) -> bool {
        self.our_coupon_mint(currency).is_some()
    }

    /// The mint of ours that issued the coupon `currency`.
    fn our_coupon_mint(&self, currency: &str) -> Option<AccountId> {
        self.store()
            .mints()
            .ok()?
            .into_iter()
            .find(|(_, r)| {
                r.currencies
                    .iter()
                    .any(|(c, t)| c == currency && t.is_some())
            })
            .map(|(m, _)| m)
    }

    /// `coupon list`: the coupons our mints offer.
    pub fn coupons(&self) -> Result<Vec<CouponView>, PayServiceError> {
        let mut v = Vec::new();
        for (m, r) in self.store().mints()? {
            for (code, t) in &r.currencies {
                if let Some(t) = t {
                    v.push(self.coupon_view(&m, code, t)?);
                }
            }
        }
        Ok(v)
    }
}

/// The id of the transfer that carries a payment's coupon.
fn coupon_transfer_id(payment: &[u8; 16]) -> [u8; 16] {
    let mut id = *payment;
    id[15] ^= 0xC0;
    id
}
