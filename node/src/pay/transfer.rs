//! Money between people: `pay send` (and every other payment: a request
//! paid, an envelope's share, a top-up) makes proofs locked to the
//! recipient's devices at the mint, records them, then sends them in a
//! chat message; the recipient's node claims them; unclaimed ones come back
//! after the lock time.

use serde::{Deserialize, Serialize};
use weft_protocol::{
    chat::MsgId,
    pay::{format_amount, split_amount, witness, Input, MintRequest, PayMsg, Purpose, Transfer},
    AccountId,
};

use super::wallet::{new_outputs, plain_inputs};
use super::{id_text, new_id, Pay, PayServiceError};
use crate::chat::PayInbox;
use crate::store::pay::{history_key, Dest, Op, OpPurpose, PayStatus, Payment, MAIN};
use crate::store::StoreError;

/// The answer to a payment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SendResult {
    /// Payment id.
    pub id: String,
    /// The recipient.
    pub to: String,
    /// Decimal amount sent.
    pub amount: String,
    /// Currency.
    pub currency: String,
    /// The mint.
    pub mint: String,
    /// `sent` (in the outbox, durable), or `failed`.
    pub status: String,
    /// A coupon's discount ("5.00").
    pub discount: Option<String>,
}

/// What a payment is, before it is made.
pub(super) struct Outgoing<'a> {
    pub to: AccountId,
    pub amount: u64,
    pub currency: &'a str,
    pub note: &'a str,
    pub mint: AccountId,
    pub purpose: Purpose,
    pub pocket: [u8; 16],
    pub refund_after: Option<u64>,
    pub discount: u64,
    /// A fixed id (an envelope's share: the same on a retry), else new.
    pub id: Option<[u8; 16]>,
}

impl Pay {
    /// `pay send <contact> AMOUNT CURRENCY [--note] [--mint] [--coupon]`.
    #[allow(clippy::too_many_arguments)]
    pub async fn send(
        &self,
        to: &str,
        amount: &str,
        currency: &str,
        note: &str,
        mint: Option<&str>,
        refund_after: Option<u64>,
        coupon: Option<&str>,
    ) -> Result<SendResult, PayServiceError> {
        let (to, _) = self.inner.chat.friend(to)?;
        let (amount, currency) = super::checked_sum(amount, currency, note)?;
        let mint = self.pick_mint(mint, &currency)?;
        self.pay_with_coupon(
            Outgoing {
                to,
                amount,
                currency: &currency,
                note,
                mint,
                purpose: Purpose::Gift,
                pocket: MAIN,
                refund_after,
                discount: 0,
                id: None,
            },
            coupon,
        )
        .await
    }

    /// Makes the locked proofs for `out` at the mint and sends them.
    pub(super) async fn pay_to(&self, out: Outgoing<'_>) -> Result<SendResult, PayServiceError> {
        if out.to == self.me() {
            return Err(PayServiceError::OwnRequest);
        }
        let lock = self.lock_for(&out.to, out.refund_after)?;
        let id = match out.id {
            Some(id) => id,
            None => new_id()?,
        };
        let payment = Payment {
            currency: out.currency.to_string(),
            amount: out.amount,
            note: out.note.to_string(),
            refund_at: lock.locktime,
            discount: out.discount,
            ..Payment::new(
                id,
                true,
                out.to,
                out.mint,
                out.purpose.clone(),
                PayStatus::Preparing,
            )
        };
        let op = {
            let _guard = self.inner.wallet_lock.lock().await;
            let picked = self.select(&out.pocket, &out.mint, out.currency, out.amount)?;
            let sum: u64 = picked.iter().map(|p| p.amount).sum();
            let (mut outs, mut secrets) =
                new_outputs(&split_amount(out.amount), Some(&lock), Dest::Payment)?;
            let (o2, s2) = new_outputs(&split_amount(sum - out.amount), None, Dest::Change)?;
            outs.extend(o2);
            secrets.extend(s2);
            self.store().put_payment(&payment)?;
            let op = Op {
                id: new_id()?,
                mint: out.mint,
                pocket: out.pocket,
                request: MintRequest::Swap {
                    currency: out.currency.to_string(),
                    inputs: plain_inputs(picked),
                    outputs: outs,
                },
                outputs: secrets,
                purpose: OpPurpose::Send(payment.key()),
                at_ms: weft_protocol::unix_now_ms(),
            };
            self.begin(&op, true).await?;
            op
        };
        match self.run_claimed(&op).await {
            Ok(true) => {}
            Ok(false) => {
                let reason = match self.store().payment(&payment.key())?.map(|p| p.status) {
                    Some(PayStatus::Failed(r)) => r,
                    _ => "refused".into(),
                };
                return Err(if reason.contains("already spent") {
                    PayServiceError::AlreadySpent
                } else {
                    PayServiceError::MintRefused(reason)
                });
            }
            Err(e) => return Err(e),
        }
        let p = self
            .store()
            .payment(&payment.key())?
            .ok_or_else(|| PayServiceError::MintRefused("the payment vanished".into()))?;
        self.deliver_payment(p).await
    }

    /// Puts a made payment in the chat outbox (once: `queued` records it)
    /// and answers for the CLI.
    pub(super) async fn deliver_payment(&self, p: Payment) -> Result<SendResult, PayServiceError> {
        let result = SendResult {
            id: id_text(&p.id),
            to: p.counterparty.to_string(),
            amount: format_amount(p.amount),
            currency: p.currency.clone(),
            mint: p.mint.to_string(),
            status: "sent".into(),
            discount: (p.discount > 0).then(|| format_amount(p.discount)),
        };
        if p.queued {
            return Ok(result);
        }
        let msg = PayMsg::Transfer(Transfer {
            id: p.id,
            mint: p.mint,
            currency: p.currency.clone(),
            amount: p.amount,
            note: p.note.clone(),
            proofs: p.proofs.clone(),
            purpose: p.purpose.clone(),
        });
        let msg_id = self.inner.chat.send_pay(p.counterparty, msg).await?;
        self.store().update_payment(&p.key(), |q| {
            q.queued = true;
            q.msg = Some(msg_id.0);
        })?;
        self.store().flush_async().await?;
        Ok(result)
    }

    /// Whether money from `from` for `purpose` is welcome: a friend's, a
    /// payment for a request of ours, a share of an envelope we were given
    /// by it, a coupon of one of our mints (a customer using it).
    fn welcome(&self, from: &AccountId, t: &Transfer) -> bool {
        let friend = self.is_friend(from).unwrap_or(false);
        match &t.purpose {
            Purpose::Gift | Purpose::Issue => friend,
            Purpose::Request(id) => {
                matches!(self.store().pay_request(id), Ok(Some(r)) if r.own)
            }
            Purpose::Packet(id) => matches!(self.store().packet(from, id), Ok(Some(_))),
            Purpose::Coupon => self.is_our_coupon(&t.currency),
            Purpose::Token => false,
        }
    }

    /// Claims an incoming payment: swaps its locked proofs, with our
    /// signature, for proofs of our own.
    pub(super) async fn claim(&self, p: &Payment) -> Result<(), PayServiceError> {
        self.unlock(p, OpPurpose::Claim(p.key()), 0).await
    }

    /// Takes back an unclaimed payment after its lock time.
    pub(super) async fn refund(&self, p: &Payment) -> Result<(), PayServiceError> {
        self.unlock(p, OpPurpose::Refund(p.key()), 1).await
    }

    /// Swaps a payment's locked proofs, signed by this device, into the
    /// wallet: as their recipient (a claim) or their sender (a refund).
    /// The op's id is fixed per payment and purpose, so it is written once.
    async fn unlock(
        &self,
        p: &Payment,
        purpose: OpPurpose,
        kind: u8,
    ) -> Result<(), PayServiceError> {
        let me = &self.inner.ctx.identity.key;
        let (outs, secrets) = new_outputs(&split_amount(p.amount), None, Dest::Wallet)?;
        let inputs: Vec<Input> = p
            .proofs
            .iter()
            .map(|proof| Input {
                witness: Some(witness(me, &p.currency, proof, &outs)),
                proof: proof.clone(),
            })
            .collect();
        let op = Op {
            id: claim_op_id(&p.key(), kind),
            mint: p.mint,
            pocket: MAIN,
            request: MintRequest::Swap {
                currency: p.currency.clone(),
                inputs,
                outputs: outs,
            },
            outputs: secrets,
            purpose,
            at_ms: weft_protocol::unix_now_ms(),
        };
        if !self.try_claim(&op.id) {
            return Ok(()); // being sent already
        }
        if !self.store().put_op(&op)? {
            // Written before: the background task sends the written one.
            self.release(&op.id);
            return Ok(());
        }
        self.store().flush_async().await?;
        self.run_claimed(&op).await.map(|_| ())
    }

    /// `pay token AMOUNT CURRENCY`: ecash as text, for whoever redeems it
    /// first. The exact tokens leave the wallet with a record of them.
    pub async fn token_export(
        &self,
        amount: &str,
        currency: &str,
        mint: Option<&str>,
    ) -> Result<String, PayServiceError> {
        let (amount, currency) = super::checked_sum(amount, currency, "")?;
        let mint = self.pick_mint(mint, &currency)?;
        self.make_change(&mint, &currency, amount).await?;
        let _guard = self.inner.wallet_lock.lock().await;
        let picked = self.select_exact(&MAIN, &mint, &currency, amount)?;
        let p = Payment {
            currency: currency.clone(),
            amount,
            note: "ecash token".into(),
            proofs: picked.clone(),
            refund_at: u64::MAX,
            queued: true,
            ..Payment::new(
                new_id()?,
                true,
                self.me(),
                mint,
                Purpose::Token,
                PayStatus::Sent,
            )
        };
        self.store().export_token(&p)?;
        self.store().flush_async().await?;
        Ok(weft_protocol::pay::Token {
            mint,
            currency,
            proofs: picked,
        }
        .to_text()?)
    }

    /// `pay redeem <token>`: swaps the token's proofs (signing for any
    /// locked to this device) for proofs of our own. Exactly one redeemer
    /// of a token succeeds; the others are told it was spent.
    pub async fn token_redeem(&self, text: &str) -> Result<SendResult, PayServiceError> {
        let t: weft_protocol::pay::Token = text.parse()?;
        let amount = t.amount()?;
        let me = &self.inner.ctx.identity.key;
        let (outs, secrets) = new_outputs(&split_amount(amount), None, Dest::Wallet)?;
        let inputs: Vec<Input> = t
            .proofs
            .iter()
            .map(|proof| {
                let locked = proof.parsed().map(|s| s.lock.is_some()).unwrap_or(false);
                Input {
                    witness: locked.then(|| witness(me, &t.currency, proof, &outs)),
                    proof: proof.clone(),
                }
            })
            .collect();
        let id = new_id()?;
        let p = Payment {
            currency: t.currency.clone(),
            amount,
            note: "ecash token".into(),
            queued: true,
            ..Payment::new(
                id,
                false,
                t.mint,
                t.mint,
                Purpose::Token,
                PayStatus::Claiming,
            )
        };
        self.store().put_payment(&p)?;
        let op = Op {
            id: new_id()?,
            mint: t.mint,
            pocket: MAIN,
            request: MintRequest::Swap {
                currency: t.currency.clone(),
                inputs,
                outputs: outs,
            },
            outputs: secrets,
            purpose: OpPurpose::Claim(p.key()),
            at_ms: weft_protocol::unix_now_ms(),
        };
        self.begin(&op, false).await?;
        if !self.run_claimed(&op).await? {
            let reason = match self.store().payment(&p.key())?.map(|p| p.status) {
                Some(PayStatus::Failed(r)) => r,
                _ => "refused".into(),
            };
            return Err(if reason.contains("already") {
                PayServiceError::AlreadySpent
            } else {
                PayServiceError::MintRefused(reason)
            });
        }
        Ok(SendResult {
            id: id_text(&id),
            to: self.me().to_string(),
            amount: format_amount(amount),
            currency: t.currency,
            mint: t.mint.to_string(),
            status: "received".into(),
            discount: None,
        })
    }

    /// Marks the chat message that carried a payment "(received)".
    pub(super) fn show_received(&self, p: &Payment) {
        let Some(m) = p.msg else {
            return;
        };
        let line = crate::chat::pay_line(&PayMsg::Transfer(Transfer {
            id: p.id,
            mint: p.mint,
            currency: p.currency.clone(),
            amount: p.amount,
            note: p.note.clone(),
            proofs: Vec::new(),
            purpose: p.purpose.clone(),
        }));
        if let Some(line) = line {
            let _ = self
                .inner
                .chat
                .annotate(&MsgId(m), &format!("{line} (received)"));
        }
    }

    /// Bookkeeping once a payment is claimed here: a request is paid.
    pub(super) async fn after_claim(&self, p: &Payment) {
        if let Purpose::Packet(id) = &p.purpose {
            self.emit(super::PayEvent::Packet { id: id_text(id) });
        }
    }

    fn take_transfer(&self, from: AccountId, msg: MsgId, t: Transfer) -> Result<(), StoreError> {
        if !self.welcome(&from, &t) {
            tracing::info!(%from, "ignoring money we did not ask for from a stranger");
            return Ok(());
        }
        let mut status = PayStatus::Claiming;
        if let Purpose::Request(rid) = &t.purpose {
            if let Ok(Some(r)) = self.store().pay_request(rid) {
                if r.request.amount != t.amount || r.request.currency != t.currency {
                    status = PayStatus::Failed("not the amount the request asks".into());
                } else if !self.store().mark_request_paid(
                    &r.request,
                    true,
                    from,
                    weft_protocol::unix_now_ms(),
                )? {
                    status = PayStatus::Failed("this request was already paid".into());
                }
            }
        }
        let p = Payment {
            currency: t.currency,
            amount: t.amount,
            note: t.note,
            proofs: t.proofs,
            queued: true,
            msg: Some(msg.0),
            ..Payment::new(t.id, false, from, t.mint, t.purpose, status)
        };
        if self.store().insert_payment(&p)? {
            self.inner.wake.notify_one();
        }
        Ok(())
    }
}

/// A claim's or refund's op id: fixed per payment, so it is written once.
fn claim_op_id(key: &[u8], kind: u8) -> [u8; 16] {
    let mut h = blake3::Hasher::new_derive_key("weft-pay-claim-op-v1");
    h.update(&[kind]);
    h.update(key);
    let mut id = [0u8; 16];
    id.copy_from_slice(&h.finalize().as_bytes()[..16]);
    id
}

impl PayInbox for Pay {
    fn deliver(&self, from: AccountId, msg: MsgId, m: PayMsg) -> Result<(), StoreError> {
        match m {
            PayMsg::Transfer(t) => self.take_transfer(from, msg, t),
            PayMsg::Claimed { id } => {
                let key = history_key(true, &from, &id);
                let changed = self.store().update_payment(&key, |p| {
                    if p.status == PayStatus::Sent {
                        p.status = PayStatus::Received;
                    }
                })?;
                if let Some(p) = changed {
                    self.show_received(&p);
                    self.emit(super::PayEvent::Status {
                        id: id_text(&id),
                        status: p.status.as_str().into(),
                    });
                }
                Ok(())
            }
            PayMsg::Packet(info) => self.take_packet(from, info),
            PayMsg::Grab { packet } => {
                let me = self.clone();
                tokio::spawn(async move { me.on_grab(from, packet).await });
                Ok(())
            }
            PayMsg::PacketState {
                packet,
                shares,
                finished,
                refused,
            } => self.take_packet_state(from, packet, shares, finished, refused),
        }
    }
}
