//! The one way money moves through a mint: write an [`Op`] (inputs out of
//! the wallet) → send it → settle it in one transaction. An op that finds
//! no mint stays written and is sent again later; the mint answers a
//! repeated request with the answer it gave the first time.

use weft_protocol::pay::{format_amount, unblind, Input, MintReply, MintRequest, Output, Proof};

use super::mint::denomination;
use super::{id_text, Pay, PayEvent, PayServiceError};
use crate::store::pay::{Dest, Op, OpPurpose, PayStatus, Payment, MAIN};

/// Why a mint request did not move the money as asked. The text is what
/// the payment's history shows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum Refusal {
    /// The mint has seen some of the inputs spent already.
    #[error("these tokens were already spent")]
    AlreadySpent,
    /// The mint refused the request, for the reason it gave.
    #[error("{0}")]
    Refused(String),
    /// The mint's signatures did not check (the inputs are spent there).
    #[error("{0}")]
    BadAnswer(String),
    /// The mint answered with a reply that does not fit the request.
    #[error("the mint answered something else")]
    Unexpected,
}
impl Pay {
    /// Writes `op` with its inputs taken from the wallet (under the wallet
    /// lock, held by the caller) and flushes: from here the money is in
    /// the op, whatever happens to this process.
    ///
    /// The op is ours to run from here ([`Pay::run_claimed`]): the
    /// background task leaves it alone.
    pub(super) async fn begin(&self, op: &Op, take: bool) -> Result<(), PayServiceError> {
        if !self.try_claim(&op.id) {
            return Err(PayServiceError::MintUnreachable(
                "already being sent".into(),
            ));
        }
        let r = async {
            let ok = if take {
                self.store().begin_op(op)?
            } else {
                self.store().put_op(op)?
            };
            if !ok {
                return Err(PayServiceError::AlreadySpent);
            }
            self.store().flush_async().await?;
            Ok(())
        }
        .await;
        if r.is_err() {
            self.release(&op.id);
        }
        r
    }

    /// Marks an op as being run here; false if it already is.
    pub(super) fn try_claim(&self, id: &[u8; 16]) -> bool {
        self.inner
            .running
            .lock()
            .map(|mut r| r.insert(*id))
            .unwrap_or(false)
    }

    pub(super) fn release(&self, id: &[u8; 16]) {
        if let Ok(mut r) = self.inner.running.lock() {
            r.remove(id);
        }
    }

    /// Sends `op` to its mint and settles it. `Ok(true)`: done as asked;
    /// `Ok(false)`: refused or already spent (inputs that were not spent are
    /// back in their pocket); `Err(MintUnreachable)`: still pending.
    pub(super) async fn run_op(&self, op: &Op) -> Result<bool, PayServiceError> {
        if !self.try_claim(&op.id) {
            return Err(PayServiceError::MintUnreachable(
                "already being sent".into(),
            ));
        }
        self.run_claimed(op).await
    }

    /// [`Pay::run_op`] for an op this caller claimed ([`Pay::begin`]).
    pub(super) async fn run_claimed(&self, op: &Op) -> Result<bool, PayServiceError> {
        let r = self.run_op_inner(op).await;
        self.release(&op.id);
        match &r {
            Err(PayServiceError::MintUnreachable(_)) => {
                if let Ok(mut b) = self.inner.backoff.lock() {
                    let e = b.entry(op.id).or_insert((0, 0));
                    e.1 = (e.1 + 1).min(6);
                    e.0 = weft_protocol::unix_now_ms() + 1000 * (1u64 << e.1);
                }
            }
            _ => {
                if let Ok(mut b) = self.inner.backoff.lock() {
                    b.remove(&op.id);
                }
            }
        }
        r
    }

    async fn run_op_inner(&self, op: &Op) -> Result<bool, PayServiceError> {
        if signed_outputs(&op.request).is_some() {
            // The mint's keys before its signatures: once it has signed, the
            // answer can only be used with them. A mint that does not answer
            // now leaves the op pending (nothing is spent yet); one whose
            // keys do not check is found out below, as before.
            if let Err(e @ PayServiceError::MintUnreachable(_)) = self.info(&op.mint).await {
                return Err(e);
            }
        }
        let reply = self.ask(&op.mint, &op.request).await?;
        let (in_currency, inputs) = op.inputs();
        let outcome: Result<Vec<Proof>, Refusal> = match reply {
            MintReply::Signed(promises) => match self.unblind_all(op, &promises).await {
                Ok(p) => Ok(p),
                Err(e @ PayServiceError::MintCheated(_)) => {
                    // The inputs are spent at the mint; its answer is no good.
                    tracing::warn!(error = %e, "a mint answered with bad signatures");
                    self.settle(op, Vec::new(), Err(Refusal::BadAnswer(e.to_string())))
                        .await?;
                    return Err(e);
                }
                // Anything else (its keys not at hand, our store) is ours:
                // the op stays, and the mint, which keeps its answer to
                // this request, gives the same signatures when it is run
                // again.
                Err(e) => return Err(e),
            },
            MintReply::Redeemed => Ok(Vec::new()),
            MintReply::Spent(ys) => {
                let back = unspent(inputs, &ys);
                self.settle_back(op, in_currency, back, Refusal::AlreadySpent)
                    .await?;
                return Ok(false);
            }
            MintReply::Refused(r) => {
                let back: Vec<Proof> = inputs.iter().map(|i| i.proof.clone()).collect();
                self.settle_back(op, in_currency, back, Refusal::Refused(r))
                    .await?;
                return Ok(false);
            }
            MintReply::Info(_) | MintReply::States(_) => Err(Refusal::Unexpected),
        };
        match outcome {
            Ok(proofs) => {
                self.settle(op, proofs, Ok(())).await?;
                Ok(true)
            }
            Err(e) => {
                let back: Vec<Proof> = inputs.iter().map(|i| i.proof.clone()).collect();
                self.settle_back(op, in_currency, back, e).await?;
                Ok(false)
            }
        }
    }

    /// Checks each promise's DLEQ against the mint's pinned key and unblinds it.
    async fn unblind_all(
        &self,
        op: &Op,
        promises: &[weft_protocol::pay::Promise],
    ) -> Result<Vec<Proof>, PayServiceError> {
        let Some(outputs) = signed_outputs(&op.request) else {
            return Ok(Vec::new());
        };
        if promises.len() != outputs.len() || op.outputs.len() != outputs.len() {
            return Err(PayServiceError::MintCheated(
                "wrong number of signatures".into(),
            ));
        }
        let info = self.info(&op.mint).await?;
        let cur = info
            .currency(op.out_currency())
            .ok_or_else(|| PayServiceError::MintCheated("no keys for the currency".into()))?;
        let mut v = Vec::with_capacity(promises.len());
        for ((p, o), s) in promises.iter().zip(outputs).zip(&op.outputs) {
            let k = denomination(o.amount)
                .and_then(|d| cur.keys.get(d))
                .filter(|(a, _)| *a == o.amount)
                .map(|(_, k)| *k)
                .ok_or_else(|| PayServiceError::MintCheated("no key for an amount".into()))?;
            v.push(
                unblind(p, o, &s.r, s.secret.clone(), &k)
                    .map_err(|e| PayServiceError::MintCheated(e.to_string()))?,
            );
        }
        Ok(v)
    }

    /// Settles a refused op: `back` returns to the pocket, the purpose
    /// records why.
    async fn settle_back(
        &self,
        op: &Op,
        currency: &str,
        back: Vec<Proof>,
        reason: Refusal,
    ) -> Result<(), PayServiceError> {
        // Only what the op took out of a pocket goes back: a claim's or a
        // refund's inputs were never in ours.
        let took = !matches!(op.purpose, OpPurpose::Claim(_) | OpPurpose::Refund(_));
        let rows: Vec<([u8; 16], &str, Proof)> = if took {
            back.into_iter().map(|p| (op.pocket, currency, p)).collect()
        } else {
            Vec::new()
        };
        let payment = self.purpose_payment(op, Err(reason.clone()))?;
        self.store().end_op(op, &rows, payment.as_ref())?;
        self.store().flush_async().await?;
        self.after(op, payment, Err(reason)).await;
        Ok(())
    }

    /// Settles an op: each proof to where its output said, the payment
    /// updated, the op removed, in one transaction.
    async fn settle(
        &self,
        op: &Op,
        proofs: Vec<Proof>,
        result: Result<(), Refusal>,
    ) -> Result<(), PayServiceError> {
        let out_currency = op.out_currency().to_string();
        let in_currency = op.inputs().0.to_string();
        let mut rows: Vec<([u8; 16], &str, Proof)> = Vec::new();
        let mut locked = Vec::new();
        for (p, s) in proofs.into_iter().zip(&op.outputs) {
            match s.dest {
                Dest::Change => rows.push((op.pocket, in_currency.as_str(), p)),
                Dest::Wallet => rows.push((MAIN, out_currency.as_str(), p)),
                Dest::Payment => locked.push(p),
            }
        }
        let payment = match &result {
            Ok(()) => self.purpose_payment_with(op, locked)?,
            Err(e) => self.purpose_payment(op, Err(e.clone()))?,
        };
        self.store().end_op(op, &rows, payment.as_ref())?;
        self.store().flush_async().await?;
        self.after(op, payment, result).await;
        Ok(())
    }

    fn purpose_payment_with(
        &self,
        op: &Op,
        locked: Vec<Proof>,
    ) -> Result<Option<Payment>, PayServiceError> {
        let mut p = self.purpose_payment(op, Ok(()))?;
        if let (Some(p), OpPurpose::Send(_)) = (p.as_mut(), &op.purpose) {
            p.proofs = locked;
        }
        Ok(p)
    }

    /// The payment an op settles, updated for its outcome.
    fn purpose_payment(
        &self,
        op: &Op,
        result: Result<(), Refusal>,
    ) -> Result<Option<Payment>, PayServiceError> {
        let key = match &op.purpose {
            OpPurpose::Send(k) | OpPurpose::Claim(k) | OpPurpose::Refund(k) => k,
            OpPurpose::Exchange => return Ok(None),
        };
        let Some(mut p) = self.store().payment(key)? else {
            return Ok(None);
        };
        p.status = match (&op.purpose, result) {
            (OpPurpose::Send(_), Ok(())) => PayStatus::Sent,
            (OpPurpose::Claim(_), Ok(())) => PayStatus::Received,
            (OpPurpose::Refund(_), Ok(())) => PayStatus::Refunded,
            // Our refund found them spent: the recipient claimed them.
            (OpPurpose::Refund(_), Err(Refusal::AlreadySpent)) => PayStatus::Received,
            // Refused otherwise (the mint's clock is behind): tried again.
            (OpPurpose::Refund(_), Err(_)) => p.status.clone(),
            (OpPurpose::Claim(_), Err(Refusal::AlreadySpent)) => PayStatus::Failed(
                "already claimed (by another device of ours) or taken back by the sender".into(),
            ),
            (_, Err(r)) => PayStatus::Failed(r.to_string()),
            (_, Ok(())) => p.status.clone(),
        };
        if matches!(op.purpose, OpPurpose::Claim(_) | OpPurpose::Refund(_))
            && !matches!(p.status, PayStatus::Claiming | PayStatus::Sent)
        {
            // The locked proofs are used up either way.
            p.proofs.clear();
        }
        Ok(Some(p))
    }

    /// What follows a settled op: tell the sender, notify.
    async fn after(&self, op: &Op, payment: Option<Payment>, result: Result<(), Refusal>) {
        match (&op.purpose, payment) {
            (OpPurpose::Claim(_), Some(p)) if result.is_ok() => {
                self.emit(PayEvent::Received {
                    id: id_text(&p.id),
                    from: p.counterparty.to_string(),
                    amount: format_amount(p.amount),
                    currency: p.currency.clone(),
                });
                self.show_received(&p);
                // Ecash redeemed from text has nobody to tell.
                if p.purpose != weft_protocol::pay::Purpose::Token {
                    let _ = self
                        .inner
                        .chat
                        .send_pay(
                            p.counterparty,
                            weft_protocol::pay::PayMsg::Claimed { id: p.id },
                        )
                        .await;
                }
                self.after_claim(&p).await;
            }
            (OpPurpose::Send(_) | OpPurpose::Refund(_), Some(p))
                if !matches!(p.status, PayStatus::Sent) =>
            {
                self.emit(PayEvent::Status {
                    id: id_text(&p.id),
                    status: p.status.as_str().into(),
                });
            }
            _ => {}
        }
        self.inner.wake.notify_one();
    }
}

/// The blinded outputs a request asks the mint to sign; `None` for the
/// requests it answers without signatures.
fn signed_outputs(req: &MintRequest) -> Option<&[Output]> {
    match req {
        MintRequest::Swap { outputs, .. }
        | MintRequest::Exchange { outputs, .. }
        | MintRequest::ClaimCoupon { outputs, .. } => Some(outputs),
        _ => None,
    }
}

/// The inputs whose points are not among `spent`.
fn unspent(inputs: &[Input], spent: &[weft_protocol::pay::Point]) -> Vec<Proof> {
    inputs
        .iter()
        .filter(|i| i.proof.y().map(|y| !spent.contains(&y)).unwrap_or(false))
        .map(|i| i.proof.clone())
        .collect()
}
