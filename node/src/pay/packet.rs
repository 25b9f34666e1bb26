//! Red envelopes (`docs/PAY.md`): the sender's node sets the total aside
//! in an escrow pocket of its wallet (exact tokens, moved out of the
//! wallet in one transaction), cuts the shares at once (equal, or "lucky"
//! as WeChat: each at least 0.01, none above twice the mean of what
//! remains), announces the envelope to the members, and hands out shares
//! first come first served as grabs arrive: each grab is recorded before
//! its share is paid (a transfer locked to the grabber, with a fixed id,
//! so a retry after a crash pays it once). While the sender's node is
//! offline, grabs wait in its mailbox and are answered in arrival order
//! when it returns. At the deadline what is left goes back to the
//! sender's wallet.

use serde::{Deserialize, Serialize};
use weft_protocol::{
    group::GroupId,
    pay::{format_amount, split_packet, PacketInfo, PayMsg},
    AccountId,
};

use super::{id_text, new_id, Pay, PayEvent, PayServiceError, PACKET_SECS};
use crate::events::RecvError;
use crate::store::pay::{history_key, PacketRecord, MAIN};
use crate::store::StoreError;

/// How long `redpacket grab` waits for the sender's answer.
const GRAB_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// A red envelope as `redpacket show` gives it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PacketView {
    /// Its id (names the sender too).
    pub id: String,
    /// The sender's account id.
    pub sender: String,
    /// The sender's name.
    pub sender_name: String,
    /// The group's id, if it was sent in one.
    pub group: Option<String>,
    /// Decimal total.
    pub total: String,
    /// Currency.
    pub currency: String,
    /// Shares.
    pub count: u32,
    /// Random shares.
    pub lucky: bool,
    /// Note.
    pub note: String,
    /// Who got how much, in order.
    pub shares: Vec<ShareView>,
    /// The account that got the most (once every share is taken or it ended).
    pub luckiest: Option<String>,
    /// Nothing more to grab.
    pub finished: bool,
    /// Unix seconds after which what is left goes back.
    pub expires_at: u64,
    /// What we got, if we grabbed.
    pub mine: Option<String>,
    /// Why our grab was refused.
    pub refused: Option<String>,
}

/// One share taken.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShareView {
    /// Who.
    pub account_id: String,
    /// Their name.
    pub name: String,
    /// Decimal amount.
    pub amount: String,
}

/// The text id of an envelope: base58 of sender ‖ id.
fn packet_ref(sender: &AccountId, id: &[u8; 16]) -> String {
    let mut b = sender.0.to_vec();
    b.extend_from_slice(id);
    bs58::encode(b).into_string()
}

fn parse_ref(s: &str) -> Option<(AccountId, [u8; 16])> {
    let b = bs58::decode(s.trim()).into_vec().ok()?;
    if b.len() != 48 {
        return None;
    }
    let sender = <[u8; 32]>::try_from(&b[..32]).ok()?;
    let id = <[u8; 16]>::try_from(&b[32..]).ok()?;
    Some((AccountId(sender), id))
}

/// What we know of an envelope only by its id (a refusal's answer).
pub(super) fn info(id: [u8; 16], sender: AccountId) -> PacketInfo {
    PacketInfo {
        id,
        group: None,
        mint: sender,
        currency: "XX".into(),
        total: 0,
        count: 0,
        lucky: false,
        note: String::new(),
        expires_at: 0,
    }
}

impl PacketRecord {
    /// A member's record of an envelope: no shares cut, none seen yet.
    pub(super) fn unknown(sender: AccountId, info: PacketInfo) -> Self {
        PacketRecord {
            info,
            sender,
            left: vec![],
            shares: vec![],
            finished: false,
            funded: false,
            members: vec![],
            refused: None,
        }
    }
}

/// A share's payment id: fixed, so a share is paid once.
pub(super) fn share_id(packet: &[u8; 16], to: &AccountId) -> [u8; 16] {
    let mut h = blake3::Hasher::new_derive_key("weft-pay-share-v1");
    h.update(packet);
    h.update(&to.0);
    let mut id = [0u8; 16];
    id.copy_from_slice(&h.finalize().as_bytes()[..16]);
    id
}

impl Pay {
    /// `redpacket send <group or contact> TOTAL CURRENCY --count N [--lucky]`.
    #[allow(clippy::too_many_arguments)]
    pub async fn packet_send(
        &self,
        target: &str,
        total: &str,
        currency: &str,
        count: u32,
        lucky: bool,
        note: &str,
        mint: Option<&str>,
        expires_in: Option<u64>,
    ) -> Result<PacketView, PayServiceError> {
        let (total, currency) = super::checked_sum(total, currency, note)?;
        if count == 0 || count > 500 {
            return Err(PayServiceError::Grab("give 1 to 500 shares".into()));
        }
        let me = self.me();
        let (group, members) = match self.inner.groups.find(target)? {
            Some(g) => {
                let members = self
                    .inner
                    .groups
                    .members(&g.to_string())?
                    .into_iter()
                    .filter_map(|m| m.account_id.parse::<AccountId>().ok())
                    .filter(|a| *a != me)
                    .collect::<Vec<_>>();
                (Some(g), members)
            }
            None => {
                let (a, _) = self.inner.chat.friend(target)?;
                (None, vec![a])
            }
        };
        let shares =
            split_packet(total, count, lucky, crate::random::in_range).ok_or_else(|| {
                PayServiceError::Grab(format!(
                    "{} is too little for {count} shares of at least 0.01",
                    format_amount(total)
                ))
            })?;
        let mint = self.pick_mint(mint, &currency)?;
        let id = new_id()?;
        let info = PacketInfo {
            id,
            group: group.map(|g| g.0),
            mint,
            currency: currency.clone(),
            total,
            count,
            lucky,
            note: if note.is_empty() {
                "Best wishes".to_string()
            } else {
                note.to_string()
            },
            expires_at: weft_protocol::unix_now() + expires_in.unwrap_or(PACKET_SECS),
        };
        // Exact tokens for the total, then out of the wallet into the
        // envelope's pocket together with its record.
        self.make_change(&mint, &currency, total).await?;
        let rec = PacketRecord {
            info: info.clone(),
            sender: me,
            left: shares,
            shares: Vec::new(),
            finished: false,
            funded: true,
            members: members.clone(),
            refused: None,
        };
        {
            let _guard = self.inner.wallet_lock.lock().await;
            let picked = self.select_exact(&MAIN, &mint, &currency, total)?;
            self.store().fund_packet(&rec, &picked)?;
            self.store().flush_async().await?;
        }
        for m in &members {
            self.inner
                .chat
                .send_pay(*m, PayMsg::Packet(info.clone()))
                .await?;
        }
        if let Some(g) = group {
            let text = format!(
                "[red envelope] {}: {} {} in {count} shares. weft redpacket grab {}",
                info.note,
                format_amount(total),
                currency,
                packet_ref(&me, &id)
            );
            let out = crate::group::Outgoing {
                text: &text,
                reply_to: None,
                mentions: &[],
                all: false,
            };
            if let Err(e) = self.inner.groups.send(&g.to_string(), out).await {
                tracing::info!(error = %e, "could not post the envelope in the group");
            }
        }
        self.packet_view(&rec)
    }

    /// The envelope `typed` names (its id, or a unique prefix of one we know).
    fn find_packet(&self, typed: &str) -> Result<(AccountId, [u8; 16]), PayServiceError> {
        if let Some(r) = parse_ref(typed) {
            return Ok(r);
        }
        let t = typed.trim();
        let found: Vec<_> = self
            .store()
            .packets()?
            .into_iter()
            .filter(|p| t.len() >= 6 && packet_ref(&p.sender, &p.info.id).starts_with(t))
            .collect();
        match found.as_slice() {
            [one] => Ok((one.sender, one.info.id)),
            [] => Err(PayServiceError::UnknownPacket(t.chars().take(80).collect())),
            _ => Err(PayServiceError::Ambiguous(t.chars().take(80).collect())),
        }
    }

    /// `redpacket grab <id>`: asks the sender for a share and waits for the
    /// answer (the share itself is claimed into the wallet as it arrives).
    pub async fn packet_grab(&self, typed: &str) -> Result<PacketView, PayServiceError> {
        let (sender, id) = self.find_packet(typed)?;
        let me = self.me();
        if let Some(rec) = self.store().packet(&sender, &id)? {
            if rec.shares.iter().any(|(a, _)| *a == me) {
                return Err(PayServiceError::Grab(
                    "you already grabbed this red envelope".into(),
                ));
            }
        }
        let mut events = self.subscribe();
        if let Ok(mut g) = self.inner.grabs.lock() {
            if g.len() >= 256 {
                g.clear();
            }
            g.insert((sender, id));
        }
        if sender == me {
            self.on_grab(me, id).await;
        } else {
            self.inner
                .chat
                .send_pay(sender, PayMsg::Grab { packet: id })
                .await?;
        }
        let deadline = tokio::time::Instant::now() + GRAB_WAIT;
        loop {
            if let Some(rec) = self.store().packet(&sender, &id)? {
                if rec.shares.iter().any(|(a, _)| *a == me) {
                    return self.packet_view(&rec);
                }
                if let Some(r) = rec.refused.clone() {
                    // Asked and answered: a later grab asks again.
                    let mut rec2 = rec;
                    rec2.refused = None;
                    self.store().put_packet(&rec2)?;
                    return Err(PayServiceError::Grab(r));
                }
            }
            let ev = tokio::time::timeout_at(deadline, events.recv()).await;
            match ev {
                Err(_) => return Err(PayServiceError::Timeout("the envelope's sender")),
                Ok(Err(RecvError::Closed)) => {
                    return Err(PayServiceError::Timeout("the envelope's sender"))
                }
                Ok(_) => continue,
            }
        }
    }

    /// A member's copy of an envelope announced to it: taken from a member
    /// of its group (or, for one sent 1:1, from a friend).
    pub(super) fn take_packet(&self, from: AccountId, info: PacketInfo) -> Result<(), StoreError> {
        if self.store().packet(&from, &info.id)?.is_some() {
            return Ok(());
        }
        let welcome = match info.group {
            Some(_) => self.in_group(&from, info.group),
            None => self.is_friend(&from)?,
        };
        if !welcome {
            tracing::info!(%from, "ignoring a red envelope from outside our groups and friends");
            return Ok(());
        }
        if self.store().packets()?.len() >= 10_000 {
            return Ok(());
        }
        self.store()
            .put_packet(&PacketRecord::unknown(from, info.clone()))?;
        self.emit(PayEvent::Packet {
            id: id_text(&info.id),
        });
        Ok(())
    }

    /// The sender's list of shares (after our grab, or at the end).
    pub(super) fn take_packet_state(
        &self,
        from: AccountId,
        packet: [u8; 16],
        shares: Vec<(AccountId, u64)>,
        finished: bool,
        refused: Option<String>,
    ) -> Result<(), StoreError> {
        if from == self.me() {
            return Ok(());
        }
        let asked = self
            .inner
            .grabs
            .lock()
            .map(|g| g.contains(&(from, packet)))
            .unwrap_or(false);
        let mut rec = match self.store().packet(&from, &packet)? {
            Some(r) => r,
            // Kept only for an envelope we know or asked about.
            None if !asked => return Ok(()),
            None => PacketRecord::unknown(from, info(packet, from)),
        };
        if shares.len() >= rec.shares.len() {
            rec.shares = shares;
        }
        rec.finished |= finished;
        if refused.is_some() {
            rec.refused = refused;
        }
        self.store().put_packet(&rec)?;
        self.emit(PayEvent::Packet {
            id: id_text(&packet),
        });
        Ok(())
    }

    /// The background task's share of envelopes: shares recorded but not
    /// paid are paid; expired ones give what is left back to the wallet.
    pub(super) async fn packets_tick(&self) {
        let Ok(_one) = self.inner.tick_lock.try_lock() else {
            return;
        };
        let me = self.me();
        let Ok(all) = self.store().packets() else {
            return;
        };
        let now = weft_protocol::unix_now();
        for rec in all.into_iter().filter(|r| r.sender == me && r.funded) {
            for (to, amount) in rec.shares.clone() {
                let sid = share_id(&rec.info.id, &to);
                if !matches!(
                    self.store().payment(&history_key(true, &to, &sid)),
                    Ok(Some(_))
                ) {
                    self.pay_share(&rec, to, amount).await;
                }
            }
            if now > rec.info.expires_at {
                let _guard = self.inner.packet_lock.lock().await;
                let Ok(Some(mut r)) = self.store().packet(&me, &rec.info.id) else {
                    continue;
                };
                // Shares recorded are paid above; what was never taken returns.
                if !r.left.is_empty() || !r.finished {
                    r.left.clear();
                    r.finished = true;
                    if self.store().put_packet(&r).is_err() {
                        continue;
                    }
                }
                let unpaid = r.shares.iter().any(|(to, _)| {
                    !matches!(
                        self.store()
                            .payment(&history_key(true, to, &share_id(&r.info.id, to))),
                        Ok(Some(_))
                    )
                });
                if !unpaid {
                    let _w = self.inner.wallet_lock.lock().await;
                    match self.store().empty_pocket(&r.info.id) {
                        Ok(moved) if !moved.is_empty() => {
                            tracing::info!(packet = %id_text(&r.info.id), "an envelope expired; what was left is back in the wallet");
                            r.funded = false;
                            let _ = self.store().put_packet(&r);
                            let _ = self.store().flush_async().await;
                            self.emit(PayEvent::Packet {
                                id: id_text(&r.info.id),
                            });
                        }
                        Ok(_) => {
                            r.funded = false;
                            let _ = self.store().put_packet(&r);
                            let _ = self.store().flush_async().await;
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot return an envelope's rest"),
                    }
                }
            }
        }
    }

    /// `redpacket show <id>`.
    pub fn packet_show(&self, typed: &str) -> Result<PacketView, PayServiceError> {
        let (sender, id) = self.find_packet(typed)?;
        let rec = self
            .store()
            .packet(&sender, &id)?
            .ok_or_else(|| PayServiceError::UnknownPacket(typed.chars().take(80).collect()))?;
        self.packet_view(&rec)
    }

    /// `redpacket list`: every envelope we sent or were given, newest first.
    pub fn packet_list(&self) -> Result<Vec<PacketView>, PayServiceError> {
        let mut v: Vec<PacketView> = self
            .store()
            .packets()?
            .iter()
            .map(|r| self.packet_view(r))
            .collect::<Result<_, _>>()?;
        v.sort_by_key(|p| std::cmp::Reverse(p.expires_at));
        Ok(v)
    }

    fn packet_view(&self, r: &PacketRecord) -> Result<PacketView, PayServiceError> {
        let me = self.me();
        let done = r.finished || weft_protocol::unix_now() > r.info.expires_at;
        let luckiest = if done && r.info.lucky {
            r.shares
                .iter()
                .max_by_key(|(_, a)| *a)
                .map(|(acc, _)| acc.to_string())
        } else {
            None
        };
        Ok(PacketView {
            id: packet_ref(&r.sender, &r.info.id),
            sender: r.sender.to_string(),
            sender_name: self.name_of(&r.sender),
            group: r.info.group.map(|g| GroupId(g).to_string()),
            total: format_amount(r.info.total),
            currency: r.info.currency.clone(),
            count: r.info.count,
            lucky: r.info.lucky,
            note: r.info.note.clone(),
            shares: r
                .shares
                .iter()
                .map(|(a, v)| ShareView {
                    account_id: a.to_string(),
                    name: self.name_of(a),
                    amount: format_amount(*v),
                })
                .collect(),
            luckiest,
            finished: done,
            expires_at: r.info.expires_at,
            mine: r
                .shares
                .iter()
                .find(|(a, _)| *a == me)
                .map(|(_, v)| format_amount(*v)),
            refused: r.refused.clone(),
        })
    }
}
