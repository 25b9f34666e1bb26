//! Getting the outbox to its recipients.
//!
//! One worker task per recipient with queued mail. Each round: take the
//! oldest entries (they fit one Noise message), reach a device of the
//! recipient, run one `/weft/chat/1` IK round trip, and drop exactly what
//! the recipient acknowledged as persisted. If the recipient cannot be
//! reached, entries not yet left with holders are deposited with up to
//! [`HOLDERS`] mailbox holders, and the worker waits (exponential backoff up
//! to [`MAX_BACKOFF`], or until woken because the recipient came online).
//! Retrying is idempotent: the recipient deduplicates by message id.

use std::sync::Arc;
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use tokio::sync::Notify;
use weft_protocol::{
    chat::{item_hash, Delivery, DeliveryAck},
    mailbox::{mailbox_key, MailboxReply, MailboxRequest, MAX_ITEMS_PER_MESSAGE},
    seal, AccountId, Card, Kind,
};

use super::service::{Chat, ChatEvent};
use crate::net::{card_peer, records, AppProtocol};
use crate::store::chat::{MsgStatus, OutboxEntry};

/// Sealed bytes per delivery round (one Noise message, with room for framing).
const BATCH_BYTES: usize = 56 * 1024;
/// Messages per delivery round.
const BATCH_ITEMS: usize = 256;
/// Holders a message is left with.
pub(crate) const HOLDERS: usize = 3;
/// Longest wait between delivery attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long to try to connect to a device.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

fn card_addrs(card: &Card) -> Vec<Multiaddr> {
    card.body
        .addrs
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect()
}

/// Connects to the device a card names; its peer id once connected.
pub(crate) async fn dial_card(net: &crate::net::Net, card: &Card) -> Option<PeerId> {
    let peer = card_peer(card)?;
    let dial = net.dial_peer(peer, card_addrs(card));
    matches!(tokio::time::timeout(DIAL_TIMEOUT, dial).await, Ok(Ok(()))).then_some(peer)
}

/// The newest valid account record (a card signed by the account) in the DHT.
pub(crate) async fn lookup_card(net: &crate::net::Net, account: &AccountId) -> Option<Card> {
    let key = records::account_key(account);
    let values = tokio::time::timeout(Duration::from_secs(10), net.get_record(key.clone()))
        .await
        .ok()?
        .ok()?;
    let now = weft_protocol::unix_now();
    values
        .iter()
        .filter_map(|v| records::account_record(&key, v, now).ok())
        .max_by_key(|c| c.body.issued_at)
}

impl Chat {
    /// Makes sure a delivery worker runs for `to` (wakes it if it waits).
    pub(crate) fn kick(&self, to: AccountId) {
        let Ok(mut workers) = self.inner.workers.lock() else {
            return;
        };
        if let Some(n) = workers.get(&to) {
            n.notify_one();
            return;
        }
        let notify = Arc::new(Notify::new());
        workers.insert(to, notify.clone());
        let chat = self.clone();
        tokio::spawn(async move { chat.deliver_loop(to, notify).await });
    }

    /// Wakes the worker for `to` if there is one (the peer just came online).
    pub(crate) fn wake(&self, to: &AccountId) {
        if let Ok(workers) = self.inner.workers.lock() {
            if let Some(n) = workers.get(to) {
                n.notify_one();
            }
        }
    }

    async fn deliver_loop(self, to: AccountId, notify: Arc<Notify>) {
        let mut backoff = Duration::from_millis(500);
        let mut shutdown = self.inner.shutdown.clone();
        let mut stopping = false;
        loop {
            if stopping || *shutdown.borrow() {
                // Stopping: the outbox keeps the work for the next start.
                if let Ok(mut workers) = self.inner.workers.lock() {
                    workers.remove(&to);
                }
                return;
            }
            let batch = match self.inner.store.outbox_batch(&to, BATCH_ITEMS, BATCH_BYTES) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the outbox");
                    Vec::new()
                }
            };
            if batch.is_empty() {
                // Exit under the lock so a concurrent kick either sees us gone or finds its entry.
                let Ok(mut workers) = self.inner.workers.lock() else {
                    return;
                };
                if self.inner.store.outbox_has(&to).unwrap_or(false) {
                    continue;
                }
                workers.remove(&to);
                return;
            }
            match self.deliver_direct(&to, &batch).await {
                Ok(()) => {
                    backoff = Duration::from_millis(500);
                    continue;
                }
                Err(reason) => tracing::debug!(%to, %reason, "direct delivery failed"),
            }
            let unheld: Vec<&(Vec<u8>, OutboxEntry)> =
                batch.iter().filter(|(_, e)| !e.held).collect();
            if !unheld.is_empty() {
                self.deposit(&to, &unheld).await;
            }
            tokio::select! {
                _ = notify.notified() => {}
                _ = tokio::time::sleep(backoff) => {}
                // Also taken if the node's handle is gone (Err): stop either way.
                _ = shutdown.wait_for(|s| *s) => stopping = true,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// A connected device of `account`, or one we could dial.
    pub(crate) async fn reach(&self, account: &AccountId) -> Option<PeerId> {
        if let Ok(peers) = self.inner.net.peers().await {
            if let Some(p) = peers.iter().find(|p| p.account_id == Some(*account)) {
                return Some(p.peer_id);
            }
        }
        // A card we hold (from their request/accept), then the DHT's record.
        let held = self
            .inner
            .store
            .contact(account)
            .ok()
            .flatten()
            .and_then(|c| c.card);
        if let Some(card) = held {
            if let Some(peer) = dial_card(&self.inner.net, &card).await {
                return Some(peer);
            }
        }
        let card = lookup_card(&self.inner.net, account).await?;
        dial_card(&self.inner.net, &card).await
    }

    /// One IK round trip carrying `batch`; applies the acknowledgement.
    async fn deliver_direct(
        &self,
        to: &AccountId,
        batch: &[(Vec<u8>, OutboxEntry)],
    ) -> Result<(), String> {
        let peer = self.reach(to).await.ok_or("recipient not reachable")?;
        let delivery = Delivery {
            from: self.me(),
            items: batch.iter().map(|(_, e)| e.sealed.clone()).collect(),
        };
        let payload =
            weft_protocol::encode(Kind::Delivery, &delivery).map_err(|e| e.to_string())?;
        let (session, msg1) = seal::initiate(&self.inner.identity.account, to, &payload)
            .map_err(|e| e.to_string())?;
        let msg2 = self
            .inner
            .net
            .request(AppProtocol::Chat, peer, msg1)
            .await
            .map_err(|e| e.to_string())?;
        // Only the real owner of `to` can produce a message 2 that finishes the handshake.
        let ack_bytes = session.finish(&msg2).map_err(|e| e.to_string())?;
        let ack: DeliveryAck =
            weft_protocol::decode(Kind::DeliveryAck, &ack_bytes).map_err(|e| e.to_string())?;
        let mut delivered = Vec::new();
        let mut failed = Vec::new();
        for (k, e) in batch {
            let h = item_hash(&e.sealed);
            if ack.accepted.contains(&h) {
                delivered.push((k.clone(), e.msg_id));
            } else if ack.rejected.contains(&h) {
                failed.push((k.clone(), e.msg_id));
            }
        }
        let store = &self.inner.store;
        store
            .outbox_done(&delivered, MsgStatus::Delivered)
            .and_then(|_| store.outbox_done(&failed, MsgStatus::Failed))
            .map_err(|e| e.to_string())?;
        if !failed.is_empty() {
            tracing::warn!(%to, count = failed.len(), "recipient refused messages for good");
        }
        if !delivered.is_empty() {
            self.emit(ChatEvent::Receipt {
                with: to.to_string(),
                ids: delivered.iter().map(|(_, id)| id.to_string()).collect(),
                status: MsgStatus::Delivered.as_str(),
            });
        }
        if delivered.is_empty() && failed.is_empty() {
            return Err("recipient acknowledged nothing".into());
        }
        Ok(())
    }

    /// Leaves copies of `items` with up to [`HOLDERS`] peers closest to the
    /// recipient's mailbox key (never the recipient's own device).
    async fn deposit(&self, to: &AccountId, items: &[&(Vec<u8>, OutboxEntry)]) {
        let key = mailbox_key(to);
        let Ok(Ok(candidates)) =
            tokio::time::timeout(Duration::from_secs(10), self.inner.net.closest_peers(key)).await
        else {
            return;
        };
        let recipient_device = self
            .inner
            .store
            .contact(to)
            .ok()
            .flatten()
            .and_then(|c| c.card)
            .and_then(|c| card_peer(&c));
        let mut held_by = 0;
        for (peer, _) in candidates {
            if held_by >= HOLDERS {
                break;
            }
            if Some(peer) == recipient_device || peer == self.inner.net.peer_id() {
                continue;
            }
            let mut ok = true;
            for chunk in items.chunks(MAX_ITEMS_PER_MESSAGE) {
                let req = MailboxRequest::Deposit {
                    to: *to,
                    items: chunk.iter().map(|(_, e)| e.sealed.clone()).collect(),
                };
                let Ok(bytes) = weft_protocol::encode(Kind::MailboxRequest, &req) else {
                    ok = false;
                    break;
                };
                let reply = tokio::time::timeout(
                    Duration::from_secs(10),
                    self.inner.net.request(AppProtocol::Mailbox, peer, bytes),
                )
                .await;
                let accepted = match reply {
                    Ok(Ok(r)) => matches!(
                        weft_protocol::decode::<MailboxReply>(Kind::MailboxReply, &r),
                        Ok(MailboxReply::Deposited { accepted }) if accepted as usize == chunk.len()
                    ),
                    _ => false,
                };
                if !accepted {
                    ok = false;
                    break;
                }
            }
            if ok {
                held_by += 1;
                tracing::info!(%to, holder = %peer, count = items.len(), "left messages with a holder");
            }
        }
        if held_by > 0 {
            let keys: Vec<_> = items.iter().map(|(k, e)| (k.clone(), e.msg_id)).collect();
            if let Err(e) = self.inner.store.outbox_mark_held(&keys) {
                tracing::warn!(error = %e, "cannot mark messages as held");
            }
            let _ = self.inner.store.flush_async().await;
        }
    }
}
