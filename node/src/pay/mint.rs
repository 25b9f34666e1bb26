//! The mints this node runs: creating one (a service account of kind mint,
//! its key beside the official accounts' keys), its keys per currency
//! (derived from the account key, so nothing secret sits in the store),
//! issuing money (a stored-value top-up), rates, status, and the ledger's
//! answer to every request.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use weft_protocol::{
    pay::{
        check_currency, check_spend, format_amount, mint_public, mint_secret, parse_amount,
        sign_output, split_amount, verify_proof, CurrencyInfo, Input, Lock, MintInfo, MintReply,
        MintRequest, Output, Point, Promise, Purpose, Rate, DENOMINATIONS, MAX_AMOUNT,
        MAX_CURRENCIES,
    },
    AccountId, AccountKey, Card, Kind,
};

use super::{new_id, Pay, PayServiceError, SendResult};
use crate::net::records;
use crate::store::pay::{Dest, MintRecord, PayStatus, Payment, Spend, Totals};

/// How long a DHT put of a mint's record may take.
const PUT_TIMEOUT: Duration = Duration::from_secs(20);

/// A mint as `mint status` shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MintView {
    /// The mint's account id.
    pub account_id: String,
    /// Its name.
    pub name: String,
    /// Its currencies.
    pub currencies: Vec<MintCurrencyView>,
    /// Issued and not redeemed, per currency: the sum of every unspent token.
    pub outstanding: Vec<TotalView>,
    /// Exchange rates it offers.
    pub rates: Vec<RateView>,
}

/// One currency of a mint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MintCurrencyView {
    /// Code.
    pub code: String,
    /// A coupon's title ("5.00 EUR off").
    pub coupon: Option<String>,
    /// A coupon's expiry (Unix s).
    pub expires_at: Option<u64>,
}

/// An amount of one currency.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TotalView {
    /// Currency.
    pub currency: String,
    /// Decimal amount ("100.00").
    pub amount: String,
}

/// An exchange rate.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RateView {
    /// From.
    pub from: String,
    /// To.
    pub to: String,
    /// One unit of `from` in `to` ("0.1285").
    pub rate: String,
}

/// The index of a denomination (`2^i`), or `None` for an amount that is
/// not one.
pub(super) fn denomination(amount: u64) -> Option<usize> {
    (amount.is_power_of_two() && amount.trailing_zeros() < DENOMINATIONS)
        .then_some(amount.trailing_zeros() as usize)
}

impl Pay {
    /// `mint create NAME --currency CNY,EUR`: a new mint account.
    pub async fn mint_create(
        &self,
        name: &str,
        currencies: &[String],
    ) -> Result<MintView, PayServiceError> {
        weft_protocol::validate_name(name)
            .map_err(|e| PayServiceError::Key(format!("bad name: {e}")))?;
        if currencies.is_empty() || currencies.len() > MAX_CURRENCIES {
            return Err(PayServiceError::NoCurrency(
                "(give one to 32 with --currency)".into(),
            ));
        }
        let mut list: Vec<(String, Option<weft_protocol::pay::CouponTerms>)> = Vec::new();
        for c in currencies {
            let c = c.trim().to_uppercase();
            check_currency(&c)?;
            if !list.iter().any(|(x, _)| *x == c) {
                list.push((c, None));
            }
        }
        let key = AccountKey::generate().map_err(|e| PayServiceError::Key(e.to_string()))?;
        let account = key.account_id();
        self.inner.home.write_oa_key(&key)?;
        let record = MintRecord {
            name: name.to_string(),
            currencies: list,
            rates: Vec::new(),
        };
        self.store().put_mint(&account, &record)?;
        self.store().flush_async().await?;
        let me = self.clone();
        tokio::spawn(async move { me.publish_mints().await });
        self.mint_view(&account, &record)
    }

    /// A mint this node runs, by id or name.
    pub(super) fn owned_mint(
        &self,
        typed: &str,
    ) -> Result<(AccountId, MintRecord), PayServiceError> {
        let t = typed.trim();
        let all = self.store().mints()?;
        if let Ok(a) = t.parse::<AccountId>() {
            return all
                .into_iter()
                .find(|(m, _)| *m == a)
                .ok_or_else(|| PayServiceError::NotOwnedMint(t.chars().take(80).collect()));
        }
        let found: Vec<_> = all
            .into_iter()
            .filter(|(m, r)| {
                r.name.eq_ignore_ascii_case(t) || (t.len() >= 6 && m.to_string().starts_with(t))
            })
            .collect();
        match found.len() {
            1 => Ok(found.into_iter().next().expect("one")),
            0 => Err(PayServiceError::NotOwnedMint(t.chars().take(80).collect())),
            _ => Err(PayServiceError::Ambiguous(t.chars().take(80).collect())),
        }
    }

    /// Whether this node runs `mint`.
    pub(super) fn runs(&self, mint: &AccountId) -> bool {
        matches!(self.store().mint(mint), Ok(Some(_)))
    }

    /// The mint's private keys for `currency`, one per denomination.
    pub(super) fn keys(
        &self,
        mint: &AccountId,
        currency: &str,
    ) -> Result<Arc<Vec<[u8; 32]>>, PayServiceError> {
        let k = (*mint, currency.to_string());
        if let Some(v) = self
            .inner
            .keysets
            .lock()
            .ok()
            .and_then(|m| m.get(&k).cloned())
        {
            return Ok(v);
        }
        let key = self.mint_key(mint)?;
        let seed = blake3::derive_key("weft-pay-mint-seed-v1", &key.to_bytes());
        let v = (0..DENOMINATIONS)
            .map(|i| mint_secret(&seed, currency, 1u64 << i))
            .collect::<Result<Vec<_>, _>>()?;
        let v = Arc::new(v);
        if let Ok(mut m) = self.inner.keysets.lock() {
            if m.len() > 256 {
                m.clear();
            }
            m.insert(k, v.clone());
        }
        Ok(v)
    }

    /// What one of our mints publishes: keys, coupons, rates.
    pub(super) fn local_info(&self, mint: &AccountId) -> Result<MintInfo, PayServiceError> {
        let rec = self
            .store()
            .mint(mint)?
            .ok_or_else(|| PayServiceError::NotOwnedMint(mint.to_string()))?;
        let mut currencies = Vec::new();
        for (code, coupon) in &rec.currencies {
            let keys = self.keys(mint, code)?;
            let keys = keys
                .iter()
                .enumerate()
                .map(|(i, k)| Ok((1u64 << i, mint_public(k)?)))
                .collect::<Result<Vec<_>, PayServiceError>>()?;
            currencies.push(CurrencyInfo {
                code: code.clone(),
                keys,
                coupon: coupon.clone(),
            });
        }
        Ok(MintInfo {
            name: rec.name,
            currencies,
            rates: rec.rates,
        })
    }

    /// `mint issue <mint> <contact> AMOUNT CURRENCY`: the operator tops up a
    /// friend's wallet (a stored-value model: it stands in for a bank
    /// transfer into the mint). The tokens are made here, locked to the
    /// friend, counted outstanding and sent like any transfer, in one
    /// transaction with their payment record.
    pub async fn mint_issue(
        &self,
        mint: &str,
        contact: &str,
        amount: &str,
        currency: &str,
    ) -> Result<SendResult, PayServiceError> {
        let (mint, rec) = self.owned_mint(mint)?;
        let currency = currency.trim().to_uppercase();
        if !rec.currencies.iter().any(|(c, _)| *c == currency) {
            return Err(PayServiceError::NoCurrency(currency));
        }
        let amount = parse_amount(amount)?;
        let (to, _) = self.inner.chat.friend(contact)?;
        let lock = self.lock_for(&to, None)?;
        let (outs, secrets) =
            super::wallet::new_outputs(&split_amount(amount), Some(&lock), Dest::Payment)?;
        let keys = self.keys(&mint, &currency)?;
        let mut proofs = Vec::new();
        let mut promises = Vec::new();
        for (o, s) in outs.iter().zip(secrets) {
            let i = denomination(o.amount).ok_or(weft_protocol::pay::PayError::TooLarge)?;
            let p = sign_output(&keys[i], o)?;
            proofs.push(weft_protocol::pay::unblind(
                &p,
                o,
                &s.r,
                s.secret,
                &mint_public(&keys[i])?,
            )?);
            promises.push(p);
        }
        let id = new_id()?;
        let payment = Payment {
            currency: currency.clone(),
            amount,
            note: format!("top-up from {}", rec.name),
            proofs,
            refund_at: lock.locktime,
            ..Payment::new(id, true, to, mint, Purpose::Issue, PayStatus::Sent)
        };
        let mut digest = [0u8; 32];
        digest[..16].copy_from_slice(&id);
        let totals = Totals {
            add: vec![(currency, amount)],
            sub: vec![],
        };
        self.store()
            .mint_spend(&mint, &[], &digest, &promises, &totals, Some(&payment))?;
        self.store().flush_async().await?;
        self.deliver_payment(payment).await
    }

    /// `mint status`: every mint this node runs.
    pub fn mint_status(&self) -> Result<Vec<MintView>, PayServiceError> {
        self.store()
            .mints()?
            .iter()
            .map(|(m, r)| self.mint_view(m, r))
            .collect()
    }

    fn mint_view(&self, mint: &AccountId, r: &MintRecord) -> Result<MintView, PayServiceError> {
        let totals = self.store().mint_totals(mint)?;
        Ok(MintView {
            account_id: mint.to_string(),
            name: r.name.clone(),
            currencies: r
                .currencies
                .iter()
                .map(|(c, t)| MintCurrencyView {
                    code: c.clone(),
                    coupon: t.as_ref().map(|t| t.title.clone()),
                    expires_at: t.as_ref().map(|t| t.expires_at),
                })
                .collect(),
            outstanding: r
                .currencies
                .iter()
                .map(|(c, _)| TotalView {
                    currency: c.clone(),
                    amount: format_amount(
                        totals
                            .iter()
                            .find(|(x, _)| x == c)
                            .map(|(_, v)| *v)
                            .unwrap_or(0),
                    ),
                })
                .collect(),
            rates: r
                .rates
                .iter()
                .map(|(f, t, rate)| RateView {
                    from: f.clone(),
                    to: t.clone(),
                    rate: rate.to_string(),
                })
                .collect(),
        })
    }

    /// `mint rate <mint> FROM TO RATE`: the rate the mint exchanges at.
    pub async fn mint_rate(
        &self,
        mint: &str,
        from: &str,
        to: &str,
        rate: &str,
    ) -> Result<MintView, PayServiceError> {
        let (mint, mut rec) = self.owned_mint(mint)?;
        let (from, to) = (from.trim().to_uppercase(), to.trim().to_uppercase());
        for c in [&from, &to] {
            if !rec.currencies.iter().any(|(x, t)| x == c && t.is_none()) {
                return Err(PayServiceError::NoCurrency(c.clone()));
            }
        }
        if from == to {
            return Err(PayServiceError::NoCurrency(format!("{from} to itself")));
        }
        let rate = Rate::parse(rate)?;
        rec.rates.retain(|(f, t, _)| !(*f == from && *t == to));
        rec.rates.push((from, to, rate));
        self.store().put_mint(&mint, &rec)?;
        self.store().flush_async().await?;
        self.mint_view(&mint, &rec)
    }

    /// The ledger's answer to `req` for one of our mints. `asker` is the
    /// asking device's key (for one coupon per device); `local` is true
    /// when this node asks its own mint.
    pub(super) fn answer(
        &self,
        mint: &AccountId,
        req: &MintRequest,
        asker: &[u8; 32],
        local: bool,
    ) -> MintReply {
        match self.try_answer(mint, req, asker, local) {
            Ok(r) => r,
            Err(e) => MintReply::Refused(e.to_string()),
        }
    }

    fn try_answer(
        &self,
        mint: &AccountId,
        req: &MintRequest,
        asker: &[u8; 32],
        local: bool,
    ) -> Result<MintReply, PayServiceError> {
        req.validate()?;
        let rec = self
            .store()
            .mint(mint)?
            .ok_or_else(|| PayServiceError::NotOwnedMint(mint.to_string()))?;
        let now = weft_protocol::unix_now();
        let currency_ok = |c: &str| -> Result<(), PayServiceError> {
            match rec.currencies.iter().find(|(x, _)| x == c) {
                None => Err(PayServiceError::NoCurrency(c.to_string())),
                Some((_, Some(t))) if now > t.expires_at => {
                    Err(PayServiceError::Coupon("this coupon has expired".into()))
                }
                Some(_) => Ok(()),
            }
        };
        let digest = *blake3::hash(&postcard::to_stdvec(req).unwrap_or_default()).as_bytes();
        match req {
            MintRequest::Info => Ok(MintReply::Info(self.local_info(mint)?)),
            MintRequest::Check { ys } => Ok(MintReply::States(self.store().mint_spent(mint, ys)?)),
            MintRequest::Swap {
                currency,
                inputs,
                outputs,
            } => {
                currency_ok(currency)?;
                let (ys, sum_in) = self.check_inputs(mint, currency, inputs, outputs, now)?;
                let sum_out = sum_outputs(outputs)?;
                if sum_in != sum_out {
                    return Err(PayServiceError::MintRefused(format!(
                        "inputs ({}) and outputs ({}) differ",
                        format_amount(sum_in),
                        format_amount(sum_out)
                    )));
                }
                let promises = self.sign_all(mint, currency, outputs)?;
                let t = Totals {
                    add: vec![],
                    sub: vec![],
                };
                self.spend(mint, &ys, &digest, &promises, &t)
            }
            MintRequest::Exchange {
                from,
                to,
                rate,
                inputs,
                outputs,
            } => {
                currency_ok(from)?;
                currency_ok(to)?;
                let current = rec
                    .rates
                    .iter()
                    .find(|(f, t, _)| f == from && t == to)
                    .map(|(_, _, r)| *r)
                    .ok_or_else(|| {
                        PayServiceError::MintRefused(format!("no exchange from {from} to {to}"))
                    })?;
                if current != *rate {
                    return Err(PayServiceError::MintRefused(format!(
                        "the rate is now {current}; ask for a new quote"
                    )));
                }
                let (ys, sum_in) = self.check_inputs(mint, from, inputs, outputs, now)?;
                let sum_out = sum_outputs(outputs)?;
                if rate.apply(sum_in) != Some(sum_out) {
                    return Err(PayServiceError::MintRefused(
                        "the outputs are not the inputs at the rate".into(),
                    ));
                }
                let promises = self.sign_all(mint, to, outputs)?;
                let t = Totals {
                    add: vec![(to.clone(), sum_out)],
                    sub: vec![(from.clone(), sum_in)],
                };
                self.spend(mint, &ys, &digest, &promises, &t)
            }
            MintRequest::Redeem { currency, inputs } => {
                if !local {
                    return Err(PayServiceError::MintRefused(
                        "coupons are redeemed by the node that runs their mint".into(),
                    ));
                }
                currency_ok(currency)?;
                let (ys, sum_in) = self.check_inputs(mint, currency, inputs, &[], now)?;
                let t = Totals {
                    add: vec![],
                    sub: vec![(currency.clone(), sum_in)],
                };
                match self.spend(mint, &ys, &digest, &[], &t)? {
                    MintReply::Signed(_) => Ok(MintReply::Redeemed),
                    other => Ok(other),
                }
            }
            MintRequest::ClaimCoupon { currency, outputs } => {
                currency_ok(currency)?;
                if !matches!(
                    rec.currencies.iter().find(|(c, _)| c == currency),
                    Some((_, Some(_)))
                ) {
                    return Err(PayServiceError::Coupon(format!(
                        "{currency} is not a coupon"
                    )));
                }
                if sum_outputs(outputs)? != 1 {
                    return Err(PayServiceError::Coupon("a coupon is one unit".into()));
                }
                if !self
                    .store()
                    .mint_claim_coupon(mint, currency, &AccountId(*asker))?
                {
                    return Err(PayServiceError::Coupon(
                        "this device already has this coupon".into(),
                    ));
                }
                let promises = self.sign_all(mint, currency, outputs)?;
                let t = Totals {
                    add: vec![(currency.clone(), 1)],
                    sub: vec![],
                };
                self.spend(mint, &[], &digest, &promises, &t)
            }
        }
    }

    fn spend(
        &self,
        mint: &AccountId,
        ys: &[Point],
        digest: &[u8; 32],
        promises: &[Promise],
        totals: &Totals,
    ) -> Result<MintReply, PayServiceError> {
        Ok(
            match self
                .store()
                .mint_spend(mint, ys, digest, promises, totals, None)?
            {
                Spend::Done(p) => MintReply::Signed(p),
                Spend::Spent(ys) => MintReply::Spent(ys),
            },
        )
    }

    /// Checks every input: a denomination, the mint's signature, its lock
    /// (for these outputs), no point twice. Returns their points and sum.
    fn check_inputs(
        &self,
        mint: &AccountId,
        currency: &str,
        inputs: &[Input],
        outputs: &[Output],
        now: u64,
    ) -> Result<(Vec<Point>, u64), PayServiceError> {
        let keys = self.keys(mint, currency)?;
        let mut ys = Vec::with_capacity(inputs.len());
        let mut sum = 0u64;
        for i in inputs {
            let d = denomination(i.proof.amount)
                .ok_or(PayServiceError::MintRefused("not a denomination".into()))?;
            verify_proof(&keys[d], &i.proof).map_err(|_| {
                PayServiceError::MintRefused(
                    "a token does not carry this mint's signature (forged, altered, or of another mint or currency)"
                        .into(),
                )
            })?;
            check_spend(currency, i, outputs, now)
                .map_err(|e| PayServiceError::MintRefused(e.to_string()))?;
            let y = i.proof.y()?;
            if ys.contains(&y) {
                return Err(PayServiceError::MintRefused("the same token twice".into()));
            }
            ys.push(y);
            sum = sum
                .checked_add(i.proof.amount)
                .filter(|s| *s <= MAX_AMOUNT)
                .ok_or(weft_protocol::pay::PayError::TooLarge)?;
        }
        Ok((ys, sum))
    }

    fn sign_all(
        &self,
        mint: &AccountId,
        currency: &str,
        outputs: &[Output],
    ) -> Result<Vec<Promise>, PayServiceError> {
        let keys = self.keys(mint, currency)?;
        outputs
            .iter()
            .map(|o| {
                let d = denomination(o.amount)
                    .ok_or(PayServiceError::MintRefused("not a denomination".into()))?;
                Ok(sign_output(&keys[d], o)?)
            })
            .collect()
    }

    /// Tells the DHT where each of our mints is (its card, signed by the
    /// mint's key, certifying this device), so wallets can reach it.
    pub(super) async fn publish_mints(&self) {
        let net = &self.inner.ctx.net;
        let Ok(mints) = self.store().mints() else {
            return;
        };
        for (mint, rec) in mints {
            let Ok(key) = self.mint_key(&mint) else {
                continue;
            };
            let now = weft_protocol::unix_now();
            let device = self.inner.ctx.identity.cert.body.device_key;
            let addrs = crate::net::dialable(&net.listen_addrs().await.unwrap_or_default());
            let Ok(card) = Card::new(&key, key.certify_device(device, now), &rec.name, addrs, now)
            else {
                continue;
            };
            let Ok(value) = weft_protocol::encode(Kind::Card, &card) else {
                continue;
            };
            let put = net.put_record(records::account_key(&mint), value);
            let _ = tokio::time::timeout(PUT_TIMEOUT, put).await;
        }
    }

    /// The lock for money to `to`: any of its devices' keys, refundable to
    /// this device after `after` seconds (24 h by default).
    pub(super) fn lock_for(
        &self,
        to: &AccountId,
        after: Option<u64>,
    ) -> Result<Lock, PayServiceError> {
        let mut keys = self.inner.chat.endpoints_of(to);
        keys.truncate(weft_protocol::pay::MAX_LOCK_KEYS);
        Ok(Lock {
            to: keys,
            refund: self.inner.ctx.identity.endpoint(),
            locktime: weft_protocol::unix_now() + after.unwrap_or(super::REFUND_AFTER_SECS),
        })
    }
}

fn sum_outputs(outputs: &[Output]) -> Result<u64, PayServiceError> {
    let mut s = 0u64;
    for o in outputs {
        if denomination(o.amount).is_none() {
            return Err(PayServiceError::MintRefused(
                "an output is not a denomination".into(),
            ));
        }
        s = s
            .checked_add(o.amount)
            .filter(|s| *s <= MAX_AMOUNT)
            .ok_or(weft_protocol::pay::PayError::TooLarge)?;
    }
    Ok(s)
}
