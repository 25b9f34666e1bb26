//! This device's wallet: balances, history, choosing proofs, talking to
//! mints and exchanging currencies. How an op moves money through a mint
//! is in `op.rs`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use weft_protocol::{
    pay::{
        format_amount, parse_amount, Input, Lock, MintAnswer, MintEnvelope, MintInfo, MintReply,
        MintRequest, Output, PayError, Proof, Rate, Secret, MAX_PROOFS,
    },
    seal, AccountId, Kind,
};

use super::{id_text, new_id, Pay, PayServiceError};
use crate::chat::{dial_card, lookup_card};
use crate::net::{card_peer, AppProtocol};
use crate::store::pay::{Dest, Op, OpPurpose, OutSecret, PayStatus, Payment, MAIN};

/// How long a mint may take to answer.
const MINT_TIMEOUT: Duration = Duration::from_secs(20);

/// One line of `weft wallet`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BalanceView {
    /// The mint's account id.
    pub mint: String,
    /// The mint's name, if known.
    pub mint_name: String,
    /// Currency.
    pub currency: String,
    /// Decimal amount ("87.50"); for a coupon, how many.
    pub amount: String,
    /// A coupon's title.
    pub coupon: Option<String>,
}

/// One line of `weft wallet history`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PaymentView {
    /// Payment id.
    pub id: String,
    /// `out` or `in`.
    pub direction: String,
    /// The other side's account id.
    pub counterparty: String,
    /// Its name.
    pub name: String,
    /// Decimal amount.
    pub amount: String,
    /// Currency.
    pub currency: String,
    /// Note.
    pub note: String,
    /// `transfer`, `payment`, `red_envelope`, `top_up`, `coupon`.
    pub kind: String,
    /// `preparing`, `sent`, `claiming`, `received`, `refunded`, `failed`.
    pub status: String,
    /// Why it failed.
    pub reason: Option<String>,
    /// A coupon's discount on it ("5.00").
    pub discount: Option<String>,
    /// When (Unix ms).
    pub at_ms: u64,
}

/// What an exchange would give, shown before it is made.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExchangeQuote {
    /// The mint.
    pub mint: String,
    /// From currency.
    pub from: String,
    /// To currency.
    pub to: String,
    /// Amount given.
    pub amount: String,
    /// Amount received.
    pub receive: String,
    /// One unit of `from` in `to`.
    pub rate: String,
    /// Whether it was made (`false`: a quote only).
    pub done: bool,
}

/// Fresh outputs for `amounts`, each with a new secret (locked if `lock`).
pub(super) fn new_outputs(
    amounts: &[u64],
    lock: Option<&Lock>,
    dest: Dest,
) -> Result<(Vec<Output>, Vec<OutSecret>), PayServiceError> {
    let mut outs = Vec::with_capacity(amounts.len());
    let mut secrets = Vec::with_capacity(amounts.len());
    for a in amounts {
        let secret = Secret::new(lock.cloned())?.encode()?;
        let (b, r) = weft_protocol::pay::blind(&secret)?;
        outs.push(Output { amount: *a, b });
        secrets.push(OutSecret { secret, r, dest });
    }
    Ok((outs, secrets))
}

impl Pay {
    /// `weft wallet`: what this device holds, per mint and currency.
    pub fn wallet(&self) -> Result<Vec<BalanceView>, PayServiceError> {
        let mut v = Vec::new();
        for (mint, currency, amount) in self.store().balances(&MAIN)? {
            let info = self.store().mint_info(&mint)?;
            let coupon = info
                .as_ref()
                .and_then(|i| i.currency(&currency))
                .and_then(|c| c.coupon.clone());
            v.push(BalanceView {
                mint: mint.to_string(),
                mint_name: info.map(|i| i.name).unwrap_or_default(),
                amount: if coupon.is_some() {
                    amount.to_string()
                } else {
                    format_amount(amount)
                },
                coupon: coupon.map(|c| c.title),
                currency,
            });
        }
        v.sort_by(|a, b| (&a.currency, &a.mint).cmp(&(&b.currency, &b.mint)));
        Ok(v)
    }

    /// `weft wallet history`: newest first, at most `limit`.
    pub fn history(&self, limit: usize) -> Result<Vec<PaymentView>, PayServiceError> {
        let mut all = self.store().payments()?;
        all.sort_by_key(|p| std::cmp::Reverse(p.at_ms));
        Ok(all
            .iter()
            .take(limit)
            .map(|p| self.payment_view(p))
            .collect())
    }

    pub(super) fn payment_view(&self, p: &Payment) -> PaymentView {
        use weft_protocol::pay::Purpose;
        PaymentView {
            id: id_text(&p.id),
            direction: if p.outgoing { "out" } else { "in" }.into(),
            counterparty: p.counterparty.to_string(),
            name: self.name_of(&p.counterparty),
            amount: format_amount(p.amount),
            currency: p.currency.clone(),
            note: p.note.clone(),
            kind: match p.purpose {
                Purpose::Gift => "transfer",
                Purpose::Request(_) => "payment",
                Purpose::Packet(_) => "red_envelope",
                Purpose::Issue => "top_up",
                Purpose::Coupon => "coupon",
                Purpose::Token => "token",
            }
            .into(),
            status: p.status.as_str().into(),
            reason: match &p.status {
                PayStatus::Failed(r) => Some(r.clone()),
                _ => None,
            },
            discount: (p.discount > 0).then(|| format_amount(p.discount)),
            at_ms: p.at_ms,
        }
    }

    /// The mint's keys: as first seen (pinned: a mint that later shows
    /// other keys is refused), else asked now.
    pub(super) async fn info(&self, mint: &AccountId) -> Result<MintInfo, PayServiceError> {
        if self.runs(mint) {
            return self.local_info(mint);
        }
        if let Some(i) = self.store().mint_info(mint)? {
            return Ok(i);
        }
        self.refresh_info(mint).await
    }

    /// Asks the mint for its info; keeps what we had pinned for currencies
    /// we knew (their keys must not change), takes new currencies and rates.
    pub(super) async fn refresh_info(&self, mint: &AccountId) -> Result<MintInfo, PayServiceError> {
        if crate::fault::fails("mint-info") {
            return Err(PayServiceError::MintUnreachable(
                "WEFT_FAIL mint-info".into(),
            ));
        }
        let fresh = match self.ask(mint, &MintRequest::Info).await? {
            MintReply::Info(i) => i,
            MintReply::Refused(r) => return Err(PayServiceError::MintRefused(r)),
            _ => return Err(PayServiceError::MintCheated("not an info answer".into())),
        };
        fresh.validate()?;
        let merged = match self.store().mint_info(mint)? {
            Some(old) => {
                for c in &old.currencies {
                    if fresh.currency(&c.code).is_some_and(|f| f.keys != c.keys) {
                        return Err(PayServiceError::MintCheated(format!(
                            "its keys for {} changed",
                            c.code
                        )));
                    }
                }
                fresh
            }
            None => fresh,
        };
        self.store().put_mint_info(mint, &merged)?;
        Ok(merged)
    }

    /// One request to a mint: ours is answered here; another's over
    /// `/weft/mint/1`, sealed to the mint's account key.
    pub(super) async fn ask(
        &self,
        mint: &AccountId,
        req: &MintRequest,
    ) -> Result<MintReply, PayServiceError> {
        if self.runs(mint) {
            let me = self.inner.ctx.identity.endpoint();
            return Ok(self.answer(mint, req, &me.0, true));
        }
        let net = &self.inner.ctx.net;
        let cached = self
            .inner
            .cards
            .lock()
            .ok()
            .and_then(|c| c.get(mint).cloned());
        let card = match cached {
            Some(c) => c,
            None => {
                let c = lookup_card(net, mint).await.ok_or_else(|| {
                    PayServiceError::MintUnreachable("its record is not in the DHT".into())
                })?;
                if let Ok(mut m) = self.inner.cards.lock() {
                    if m.len() >= 64 {
                        m.clear();
                    }
                    m.insert(*mint, c.clone());
                }
                c
            }
        };
        let peer = card_peer(&card)
            .ok_or_else(|| PayServiceError::MintUnreachable("its card names no device".into()))?;
        let _ = dial_card(net, &card).await;
        let payload = postcard::to_stdvec(req).map_err(|_| PayError::Malformed("request"))?;
        let (session, msg1) = seal::initiate(&self.inner.ctx.identity.key, mint, &payload)
            .map_err(|e| PayServiceError::MintUnreachable(e.to_string()))?;
        let env = weft_protocol::encode(Kind::MintRequest, &MintEnvelope { mint: *mint, msg1 })
            .map_err(|e| PayServiceError::MintUnreachable(e.to_string()))?;
        let answer = tokio::time::timeout(MINT_TIMEOUT, net.request(AppProtocol::Mint, peer, env))
            .await
            .map_err(|_| {
                // A stale card: look it up again next time.
                if let Ok(mut m) = self.inner.cards.lock() {
                    m.remove(mint);
                }
                PayServiceError::MintUnreachable("timed out".into())
            })?
            .map_err(|e| {
                if let Ok(mut m) = self.inner.cards.lock() {
                    m.remove(mint);
                }
                PayServiceError::MintUnreachable(e.to_string())
            })?;
        match weft_protocol::decode::<MintAnswer>(Kind::MintReply, &answer) {
            Ok(MintAnswer::Sealed(m2)) => {
                let plain = session
                    .finish(&m2)
                    .map_err(|e| PayServiceError::MintCheated(e.to_string()))?;
                postcard::from_bytes(&plain).map_err(|_| {
                    PayServiceError::MintCheated("an answer that does not decode".into())
                })
            }
            Ok(MintAnswer::Refused(r)) => Err(PayServiceError::MintRefused(r)),
            Err(e) => Err(PayServiceError::MintCheated(e.to_string())),
        }
    }

    /// The mint to pay `currency` from: `typed`, or the one mint whose
    /// proofs for it we hold the most of.
    pub(super) fn pick_mint(
        &self,
        typed: Option<&str>,
        currency: &str,
    ) -> Result<AccountId, PayServiceError> {
        if let Some(t) = typed {
            if let Ok(a) = t.trim().parse::<AccountId>() {
                return Ok(a);
            }
            if let Ok((a, _)) = self.owned_mint(t) {
                return Ok(a);
            }
            // A mint we hold money of, by name.
            for (m, _, _) in self.store().balances(&MAIN)? {
                if self
                    .store()
                    .mint_info(&m)?
                    .is_some_and(|i| i.name.eq_ignore_ascii_case(t.trim()))
                {
                    return Ok(m);
                }
            }
            return Err(PayServiceError::UnknownMint(t.chars().take(80).collect()));
        }
        let mut holding: Vec<(AccountId, u64)> = self
            .store()
            .balances(&MAIN)?
            .into_iter()
            .filter(|(_, c, _)| c == currency)
            .map(|(m, _, a)| (m, a))
            .collect();
        holding.sort_by_key(|(_, a)| std::cmp::Reverse(*a));
        match holding.first() {
            Some((m, _)) => Ok(*m),
            None => {
                // A mint we run that offers it (the operator's own wallet).
                let own: Vec<_> = self
                    .store()
                    .mints()?
                    .into_iter()
                    .filter(|(_, r)| r.currencies.iter().any(|(c, _)| c == currency))
                    .collect();
                match own.as_slice() {
                    [(m, _)] => Ok(*m),
                    _ => Err(PayServiceError::Insufficient {
                        currency: currency.to_string(),
                        have: "0.00".into(),
                        need: "more".into(),
                    }),
                }
            }
        }
    }

    /// A pocket's proofs of one mint and currency, largest first.
    fn largest_first(
        &self,
        pocket: &[u8; 16],
        mint: &AccountId,
        currency: &str,
    ) -> Result<Vec<Proof>, PayServiceError> {
        let mut all = self.store().pocket(pocket, mint, currency)?;
        all.sort_by_key(|p| std::cmp::Reverse(p.amount));
        Ok(all)
    }

    /// Chooses proofs of `pocket` worth at least `amount` (largest first).
    pub(super) fn select(
        &self,
        pocket: &[u8; 16],
        mint: &AccountId,
        currency: &str,
        amount: u64,
    ) -> Result<Vec<Proof>, PayServiceError> {
        let all = self.largest_first(pocket, mint, currency)?;
        let have: u64 = all.iter().map(|p| p.amount).sum();
        if have < amount {
            return Err(PayServiceError::Insufficient {
                currency: currency.to_string(),
                have: format_amount(have),
                need: format_amount(amount),
            });
        }
        // Largest first, then the smallest that covers what is left.
        let mut picked = Vec::new();
        let mut sum = 0u64;
        let mut rest = all;
        while sum < amount {
            let need = amount - sum;
            let pos = rest.iter().rposition(|p| p.amount >= need).unwrap_or(0);
            let p = rest.remove(pos);
            sum += p.amount;
            picked.push(p);
            if picked.len() > MAX_PROOFS {
                return Err(PayServiceError::MintRefused(
                    "the wallet holds too many small tokens for this amount".into(),
                ));
            }
        }
        Ok(picked)
    }

    /// `pay exchange AMOUNT FROM TO [--mint M]`: quote (`go == false`) or make.
    pub async fn exchange(
        &self,
        amount: &str,
        from: &str,
        to: &str,
        mint: Option<&str>,
        go: bool,
    ) -> Result<ExchangeQuote, PayServiceError> {
        let amount = parse_amount(amount)?;
        let (from, to) = (from.trim().to_uppercase(), to.trim().to_uppercase());
        let mint = self.pick_mint(mint, &from)?;
        let info = if self.runs(&mint) {
            self.local_info(&mint)?
        } else {
            self.refresh_info(&mint).await?
        };
        let rate: Rate = info
            .rates
            .iter()
            .find(|(f, t, _)| *f == from && *t == to)
            .map(|(_, _, r)| *r)
            .ok_or_else(|| {
                PayServiceError::MintRefused(format!("no exchange from {from} to {to}"))
            })?;
        let receive = rate
            .apply(amount)
            .filter(|r| *r > 0)
            .ok_or_else(|| PayServiceError::MintRefused("too little to exchange".into()))?;
        let mut quote = ExchangeQuote {
            mint: mint.to_string(),
            from: from.clone(),
            to: to.clone(),
            amount: format_amount(amount),
            receive: format_amount(receive),
            rate: rate.to_string(),
            done: false,
        };
        if !go {
            return Ok(quote);
        }
        // Exactly `amount` goes to the exchange: change first if needed.
        self.make_change(&mint, &from, amount).await?;
        let op = {
            let _guard = self.inner.wallet_lock.lock().await;
            let picked = self.select_exact(&MAIN, &mint, &from, amount)?;
            let (outs, secrets) = new_outputs(
                &weft_protocol::pay::split_amount(receive),
                None,
                Dest::Wallet,
            )?;
            let op = self.exchange_op(&mint, &from, &to, rate, picked, outs, secrets)?;
            self.begin(&op, true).await?;
            op
        };
        if !self.run_claimed(&op).await? {
            return Err(PayServiceError::MintRefused(
                "the exchange was refused".into(),
            ));
        }
        quote.done = true;
        Ok(quote)
    }

    #[allow(clippy::too_many_arguments)]
    fn exchange_op(
        &self,
        mint: &AccountId,
        from: &str,
        to: &str,
        rate: Rate,
        inputs: Vec<Proof>,
        outputs: Vec<Output>,
        secrets: Vec<OutSecret>,
    ) -> Result<Op, PayServiceError> {
        Ok(Op {
            id: new_id()?,
            mint: *mint,
            pocket: MAIN,
            request: MintRequest::Exchange {
                from: from.to_string(),
                to: to.to_string(),
                rate,
                inputs: plain_inputs(inputs),
                outputs,
            },
            outputs: secrets,
            purpose: OpPurpose::Exchange,
            at_ms: weft_protocol::unix_now_ms(),
        })
    }

    /// Swaps wallet proofs so that proofs adding up to exactly `amount`
    /// exist (an exchange or an escrow takes an exact sum).
    pub(super) async fn make_change(
        &self,
        mint: &AccountId,
        currency: &str,
        amount: u64,
    ) -> Result<(), PayServiceError> {
        let op = {
            let _guard = self.inner.wallet_lock.lock().await;
            if self.select_exact(&MAIN, mint, currency, amount).is_ok() {
                return Ok(());
            }
            let picked = self.select(&MAIN, mint, currency, amount)?;
            let sum: u64 = picked.iter().map(|p| p.amount).sum();
            let mut amounts = weft_protocol::pay::split_amount(amount);
            amounts.extend(weft_protocol::pay::split_amount(sum - amount));
            let (outs, secrets) = new_outputs(&amounts, None, Dest::Change)?;
            let op = Op {
                id: new_id()?,
                mint: *mint,
                pocket: MAIN,
                request: MintRequest::Swap {
                    currency: currency.to_string(),
                    inputs: plain_inputs(picked),
                    outputs: outs,
                },
                outputs: secrets,
                purpose: OpPurpose::Exchange,
                at_ms: weft_protocol::unix_now_ms(),
            };
            self.begin(&op, true).await?;
            op
        };
        if !self.run_claimed(&op).await? {
            return Err(PayServiceError::MintRefused("could not make change".into()));
        }
        Ok(())
    }

    /// Proofs of `pocket` adding up to exactly `amount`, if there are.
    pub(super) fn select_exact(
        &self,
        pocket: &[u8; 16],
        mint: &AccountId,
        currency: &str,
        amount: u64,
    ) -> Result<Vec<Proof>, PayServiceError> {
        let all = self.largest_first(pocket, mint, currency)?;
        let mut picked = Vec::new();
        let mut left = amount;
        for p in all {
            if p.amount <= left {
                left -= p.amount;
                picked.push(p);
            }
            if left == 0 {
                break;
            }
        }
        if left != 0 || picked.len() > MAX_PROOFS {
            return Err(PayServiceError::Insufficient {
                currency: currency.to_string(),
                have: "not in exact tokens".into(),
                need: format_amount(amount),
            });
        }
        Ok(picked)
    }
}

/// Our own (unlocked) proofs as inputs.
pub(super) fn plain_inputs(proofs: Vec<Proof>) -> Vec<Input> {
    proofs
        .into_iter()
        .map(|proof| Input {
            proof,
            witness: None,
        })
        .collect()
}
