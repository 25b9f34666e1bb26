//! The sender's side of red envelopes: answering grabs first come first
//! served (each grab recorded before its share is paid, the share a
//! transfer locked to the grabber with a fixed id, so a retry after a crash
//! pays it once), taking the sender's own share, and telling members when
//! the envelope is finished.

use weft_protocol::{
    group::GroupId,
    pay::{PayMsg, Purpose},
    AccountId,
};

use super::packet::{info, share_id};
use super::transfer::Outgoing;
use super::{id_text, new_id, Pay, PayEvent, PayServiceError};
use crate::store::pay::{history_key, PacketRecord};
use crate::store::StoreError;

impl Pay {
    /// The sender's side of a grab: record the share (first come, first
    /// served, each member once), then pay it and tell the grabber.
    pub(super) async fn on_grab(&self, from: AccountId, id: [u8; 16]) {
        let me = self.me();
        let decided = {
            let _guard = self.inner.packet_lock.lock().await;
            match self.assign(from, &id) {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot record a grab");
                    return;
                }
            }
        };
        if let Err(e) = self.store().flush_async().await {
            tracing::warn!(error = %e, "cannot flush a grab");
            return;
        }
        let (rec, refused) = decided;
        if refused.is_none() {
            if let Some(amount) = rec.shares.iter().find(|(a, _)| *a == from).map(|(_, v)| *v) {
                self.pay_share(&rec, from, amount).await;
            }
        }
        let state = PayMsg::PacketState {
            packet: id,
            shares: rec.shares.clone(),
            finished: rec.finished,
            refused: refused.clone(),
        };
        if from == me {
            if let Some(r) = &refused {
                if let Ok(Some(mut own)) = self.store().packet(&me, &id) {
                    own.refused = Some(r.clone());
                    let _ = self.store().put_packet(&own);
                }
            }
        } else if refused.is_none() || self.may_answer(&from, &rec) {
            // A refusal goes only to friends and members: a stranger's
            // grabs cannot make us queue messages.
            let _ = self.inner.chat.send_pay(from, state.clone()).await;
        }
        if rec.finished && refused.is_none() {
            self.tell_finished(&rec).await;
        }
        self.emit(PayEvent::Packet { id: id_text(&id) });
    }

    /// Decides a grab under the envelope lock and records it.
    fn assign(
        &self,
        from: AccountId,
        id: &[u8; 16],
    ) -> Result<(PacketRecord, Option<String>), StoreError> {
        let me = self.me();
        let Some(mut rec) = self.store().packet(&me, id)? else {
            let mut empty = PacketRecord::unknown(me, info(*id, me));
            empty.finished = true;
            return Ok((empty, Some("no such red envelope".into())));
        };
        let member_now = match rec.info.group {
            Some(g) => self
                .inner
                .groups
                .members(&GroupId(g).to_string())
                .map(|ms| ms.iter().any(|m| m.account_id == from.to_string()))
                .unwrap_or(false),
            None => rec.members.contains(&from) || from == me,
        };
        let refused = if !member_now {
            Some("only members of the group can grab this red envelope".to_string())
        } else if rec.shares.iter().any(|(a, _)| *a == from) {
            Some("you already grabbed this red envelope".to_string())
        } else if rec.finished || rec.left.is_empty() {
            Some("all the shares are taken".to_string())
        } else if weft_protocol::unix_now() > rec.info.expires_at {
            Some("this red envelope has expired".to_string())
        } else {
            None
        };
        if refused.is_none() {
            let amount = rec.left.remove(0);
            rec.shares.push((from, amount));
            rec.finished = rec.left.is_empty();
            self.store().put_packet(&rec)?;
        }
        Ok((rec, refused))
    }

    /// Pays a recorded share from the envelope's pocket (once: a fixed id).
    pub(super) async fn pay_share(&self, rec: &PacketRecord, to: AccountId, amount: u64) {
        let _one = self.inner.shares_lock.lock().await;
        let sid = share_id(&rec.info.id, &to);
        if to == self.me() {
            // Our own grab: the share goes straight back into the wallet.
            let _guard = self.inner.wallet_lock.lock().await;
            if let Ok(p) = self.store().payment(&history_key(true, &to, &sid)) {
                if p.is_some() {
                    return;
                }
            }
            if let Err(e) = self.take_own_share(rec, sid, amount).await {
                tracing::warn!(error = %e, "cannot take our own share");
            }
            return;
        }
        if matches!(
            self.store().payment(&history_key(true, &to, &sid)),
            Ok(Some(_))
        ) {
            return;
        }
        let r = self
            .pay_to(Outgoing {
                to,
                amount,
                currency: &rec.info.currency,
                note: &rec.info.note,
                mint: rec.info.mint,
                purpose: Purpose::Packet(rec.info.id),
                pocket: rec.info.id,
                refund_after: None,
                discount: 0,
                id: Some(sid),
            })
            .await;
        if let Err(e) = r {
            tracing::info!(error = %e, "an envelope's share is not paid yet; retried");
        }
    }

    /// Our own share: exact tokens out of the envelope's pocket into the
    /// wallet (change made at the mint if needed), recorded as a payment.
    async fn take_own_share(
        &self,
        rec: &PacketRecord,
        sid: [u8; 16],
        amount: u64,
    ) -> Result<(), PayServiceError> {
        let pocket = rec.info.id;
        let me = self.me();
        let mut payment = crate::store::pay::Payment {
            currency: rec.info.currency.clone(),
            amount,
            note: rec.info.note.clone(),
            queued: true,
            ..crate::store::pay::Payment::new(
                sid,
                true,
                me,
                rec.info.mint,
                Purpose::Packet(rec.info.id),
                crate::store::pay::PayStatus::Received,
            )
        };
        if let Ok(picked) = self.select_exact(&pocket, &rec.info.mint, &rec.info.currency, amount) {
            self.store().move_to_wallet(
                &pocket,
                &rec.info.mint,
                &rec.info.currency,
                &picked,
                &payment,
            )?;
            self.store().flush_async().await?;
            return Ok(());
        }
        // No exact tokens: change at the mint, the share into the wallet,
        // the rest back into the pocket; the record is written first, so a
        // crash resumes the op instead of taking the share twice.
        let picked = self.select(&pocket, &rec.info.mint, &rec.info.currency, amount)?;
        let sum: u64 = picked.iter().map(|p| p.amount).sum();
        let (mut outs, mut secrets) = super::wallet::new_outputs(
            &weft_protocol::pay::split_amount(amount),
            None,
            crate::store::pay::Dest::Wallet,
        )?;
        let (o2, s2) = super::wallet::new_outputs(
            &weft_protocol::pay::split_amount(sum - amount),
            None,
            crate::store::pay::Dest::Change,
        )?;
        outs.extend(o2);
        secrets.extend(s2);
        payment.status = crate::store::pay::PayStatus::Preparing;
        self.store().put_payment(&payment)?;
        let op = crate::store::pay::Op {
            id: new_id()?,
            mint: rec.info.mint,
            pocket,
            request: weft_protocol::pay::MintRequest::Swap {
                currency: rec.info.currency.clone(),
                inputs: super::wallet::plain_inputs(picked),
                outputs: outs,
            },
            outputs: secrets,
            purpose: crate::store::pay::OpPurpose::Send(payment.key()),
            at_ms: weft_protocol::unix_now_ms(),
        };
        self.begin(&op, true).await?;
        if self.run_claimed(&op).await? {
            self.store().update_payment(&payment.key(), |p| {
                p.status = crate::store::pay::PayStatus::Received;
            })?;
            self.store().flush_async().await?;
        }
        Ok(())
    }

    /// Tells every member the final list.
    async fn tell_finished(&self, rec: &PacketRecord) {
        let state = PayMsg::PacketState {
            packet: rec.info.id,
            shares: rec.shares.clone(),
            finished: true,
            refused: None,
        };
        for m in &rec.members {
            let _ = self.inner.chat.send_pay(*m, state.clone()).await;
        }
    }

    /// Whether `who` is a friend or a member of the envelope's group.
    fn may_answer(&self, who: &AccountId, rec: &PacketRecord) -> bool {
        self.is_friend(who).unwrap_or(false) || self.in_group(who, rec.info.group)
    }

    /// Whether `who` is a member of `group` (as we hold it, and we are in it).
    pub(super) fn in_group(&self, who: &AccountId, group: Option<[u8; 32]>) -> bool {
        let Some(g) = group else {
            return false;
        };
        let me = self.me().to_string();
        let who = who.to_string();
        self.inner
            .groups
            .members(&GroupId(g).to_string())
            .map(|ms| {
                ms.iter().any(|m| m.account_id == who) && ms.iter().any(|m| m.account_id == me)
            })
            .unwrap_or(false)
    }
}
