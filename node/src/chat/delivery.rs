//! Getting the outbox to its recipients.
//!
//! One worker task per recipient with queued mail. Each round: take the
//! oldest entries (they fit one Noise message), reach a device of the
//! recipient, run one `/weft/chat/1` round trip (in the Noise session kept
//! with that device, `session.rs`, or an IK handshake that opens one), and
//! drop exactly what the recipient acknowledged as persisted. If the recipient cannot be
//! reached, entries not yet left with holders are deposited with up to
//! [`HOLDERS`] mailbox holders, and the worker waits (exponential backoff up
//! to [`MAX_BACKOFF`], or until woken because the recipient came online).
//! Retrying is idempotent: the recipient deduplicates by message id.

use std::sync::Arc;
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use tokio::sync::Notify;
use weft_protocol::{
    chat::{ChatReply, ChatRequest, Delivery, DeliveryAck, DeliveryItem},
    mailbox::{mailbox_key, MailboxReply, MailboxRequest, MAX_ITEMS_PER_MESSAGE},
    seal, AccountId, Card, Kind,
};

use super::session::OutSession;
use super::stream::StreamError;
use super::{Chat, ChatEvent};
use crate::net::{card_peer, records, AppProtocol, Net, NetError};
use crate::store::chat::{MsgStatus, OutboxEntry};
use crate::store::StoreError;

/// Sealed bytes per delivery round (one Noise message, with room for framing).
const BATCH_BYTES: usize = 56 * 1024;
/// Messages per delivery round: as many as a responder takes in one session.
const BATCH_ITEMS: usize = weft_protocol::chat::MAX_DELIVERY_ITEMS;
/// Holders a message is left with.
pub(super) const HOLDERS: usize = 3;
/// Peers a mailbox lookup asks the DHT for: the holders and two more for
/// when some refuse or are gone. The depositor and the recipient both look
/// at this many, so wherever mail was left the recipient asks.
pub(super) const HOLDER_CANDIDATES: usize = HOLDERS + 2;
/// Peers a lookup of one device's address asks for (the device itself is
/// the closest when the DHT knows it).
const FIND_DEVICE: usize = 5;
/// Longest wait between delivery attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long to wait for a connection to a device. Longer than libp2p's
/// own bound on a connection's set-up (10 s), so what ends a slow dial is
/// libp2p's answer, not our impatience: a dial given up on keeps running
/// anyway, and the fallback it starts (the DHT lookup of the account's
/// card, then the deposit with holders, each opening connections of its
/// own) costs the network more than the wait. At 5 s, 1,000 simnet nodes
/// on a busy host gave up on about 1,000 dials that libp2p would have
/// completed, and 12 % of the friendships were not made in the setup
/// window (docs/BENCHMARKS.md, `max-scale`). An address that refuses is
/// reported by libp2p at once; only one that never answers (a device
/// behind a NAT that dropped it) now holds its mail back from the holders
/// for libp2p's 10 s instead of our 5.
const DIAL_TIMEOUT: Duration = Duration::from_secs(15);
/// The first wait after a failed round; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// How long a DHT lookup (account record, mailbox holders) may take.
const DHT_TIMEOUT: Duration = Duration::from_secs(10);
/// One direct attempt at most: a record lookup, a dial and one request
/// (10 s each) with margin.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(40);
/// Leaving a batch with holders at most: a lookup and a request per holder.
const DEPOSIT_TIMEOUT: Duration = Duration::from_secs(60);

/// Why one direct delivery round did not complete. Only logged: the worker
/// falls back to holders and retries whatever the reason.
#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    /// No connected device, no card that dials, no DHT record that dials.
    #[error("recipient not reachable")]
    Unreachable,
    /// The batch did not encode (cannot happen for outbox entries we wrote).
    #[error("cannot encode the delivery: {0}")]
    Encode(#[from] weft_protocol::EncodeError),
    /// The Noise handshake failed, including a message 2 that is not from
    /// the recipient's key.
    #[error("handshake: {0}")]
    Handshake(#[from] weft_protocol::seal::SealError),
    /// The request did not reach the peer or got no answer.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The acknowledgement did not decode.
    #[error("bad acknowledgement: {0}")]
    Ack(#[from] weft_protocol::DecodeError),
    /// Recording the acknowledgement failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The attempt took longer than [`ATTEMPT_TIMEOUT`].
    #[error("no answer within {} s", ATTEMPT_TIMEOUT.as_secs())]
    TimedOut,
    /// The answer does not fit the request (a handshake answered as a
    /// session message, or the reverse).
    #[error("answer does not match the request")]
    UnexpectedReply,
    /// The recipient answered but acknowledged none of the batch.
    #[error("recipient acknowledged nothing")]
    NothingAcknowledged,
}

fn card_addrs(card: &Card) -> Vec<Multiaddr> {
    card.body
        .addrs
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect()
}

/// Connects to the device a card names; its peer id once connected.
pub(crate) async fn dial_card(net: &Net, card: &Card) -> Option<PeerId> {
    let peer = card_peer(card)?;
    let dial = net.dial_peer(peer, card_addrs(card));
    matches!(tokio::time::timeout(DIAL_TIMEOUT, dial).await, Ok(Ok(()))).then_some(peer)
}

/// The newest valid account record (a card signed by the account) in the DHT.
pub(crate) async fn lookup_card(net: &Net, account: &AccountId) -> Option<Card> {
    let key = records::account_key(account);
    let values = tokio::time::timeout(DHT_TIMEOUT, net.get_record(key.clone()))
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
    pub(super) fn kick(&self, to: AccountId) {
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
    pub(super) fn wake(&self, to: &AccountId) {
        if let Ok(workers) = self.inner.workers.lock() {
            if let Some(n) = workers.get(to) {
                n.notify_one();
            }
        }
    }

    /// The worker for one recipient: runs until its outbox is empty or the
    /// node stops; [`Chat::kick`] starts it, at most one per recipient.
    async fn deliver_loop(self, to: AccountId, notify: Arc<Notify>) {
        let mut backoff = FIRST_BACKOFF;
        let mut shutdown = self.inner.ctx.shutdown.clone();
        let mut stopping = false;
        loop {
            if stopping || *shutdown.borrow() {
                // Stopping: the outbox keeps the work for the next start.
                if let Ok(mut workers) = self.inner.workers.lock() {
                    workers.remove(&to);
                }
                return;
            }
            let batch = match self.store().outbox_batch(&to, BATCH_ITEMS, BATCH_BYTES) {
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
                if self.store().outbox_has(&to).unwrap_or(false) {
                    continue;
                }
                workers.remove(&to);
                return;
            }
            // Each attempt has a deadline: whatever it waits on (a lookup, a
            // dial, the network task's answer), the worker must come back
            // to retry, or the recipient's mail waits for ever.
            let attempt = tokio::time::timeout(ATTEMPT_TIMEOUT, self.deliver_direct(&to, &batch));
            match attempt.await.unwrap_or(Err(DeliveryError::TimedOut)) {
                Ok(()) => {
                    backoff = FIRST_BACKOFF;
                    continue;
                }
                Err(reason) => tracing::debug!(%to, %reason, "direct delivery failed"),
            }
            let unheld: Vec<&(Vec<u8>, OutboxEntry)> =
                batch.iter().filter(|(_, e)| !e.held).collect();
            if !unheld.is_empty()
                && tokio::time::timeout(DEPOSIT_TIMEOUT, self.deposit(&to, &unheld))
                    .await
                    .is_err()
            {
                tracing::debug!(%to, "leaving messages with holders timed out");
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

    /// The device that opens with `endpoint`, connected or dialled: a
    /// known device (a linked device, or the first device of an account
    /// whose list we hold) by its card or the DHT; otherwise, as for an
    /// account with one device, any of its connected devices, its card or
    /// its DHT record.
    async fn reach(&self, endpoint: &AccountId, conv: Option<&AccountId>) -> Option<PeerId> {
        if let Some(peer) = self.endpoint_peer(endpoint, conv) {
            return self.reach_device(peer).await;
        }
        let account = endpoint;
        if let Some(p) = self.net().connected_device(account) {
            return Some(p);
        }
        // A card we hold (from their request/accept), then the DHT's record.
        let held = self
            .store()
            .contact(account)
            .ok()
            .flatten()
            .and_then(|c| c.card);
        if let Some(card) = held {
            if let Some(peer) = dial_card(self.net(), &card).await {
                return Some(peer);
            }
        }
        let card = lookup_card(self.net(), account).await?;
        dial_card(self.net(), &card).await
    }

    /// Connects to one device: at once if connected, else at the addresses
    /// of its card, else where the DHT says it is.
    async fn reach_device(&self, peer: PeerId) -> Option<PeerId> {
        let net = self.net();
        if net.is_connected(&peer) {
            return Some(peer);
        }
        let mut addrs: Vec<Multiaddr> = self
            .store()
            .card(&peer.to_bytes())
            .ok()
            .flatten()
            .map(|c| card_addrs(&c))
            .unwrap_or_default();
        if addrs.is_empty() {
            let found =
                tokio::time::timeout(DHT_TIMEOUT, net.closest_peers(peer.to_bytes(), FIND_DEVICE))
                    .await;
            if let Ok(Ok(found)) = found {
                if let Some((_, a)) = found.into_iter().find(|(p, _)| *p == peer) {
                    addrs = a;
                }
            }
        }
        let dial = net.dial_peer(peer, addrs);
        matches!(tokio::time::timeout(DIAL_TIMEOUT, dial).await, Ok(Ok(()))).then_some(peer)
    }

    /// One round trip carrying `batch` (in the session kept with the device,
    /// or a handshake that opens one); applies the acknowledgement.
    async fn deliver_direct(
        &self,
        to: &AccountId,
        batch: &[(Vec<u8>, OutboxEntry)],
    ) -> Result<(), DeliveryError> {
        // New outbox keys name the conversation after the endpoint.
        let conv = batch
            .first()
            .and_then(|(k, _)| k.get(32..64))
            .and_then(|c| <[u8; 32]>::try_from(c).ok())
            .map(AccountId);
        let peer = self
            .reach(to, conv.as_ref())
            .await
            .ok_or(DeliveryError::Unreachable)?;
        let delivery = Delivery {
            from: self.me(),
            items: batch.iter().map(|(_, e)| e.item.clone()).collect(),
            devices: self.list_to_carry(),
        };
        let payload = weft_protocol::encode(Kind::Delivery, &delivery)?;
        let ack_bytes = match self.inner.sessions.take_out(to, peer) {
            Some(kept) => match self.resume(to, kept, &payload).await? {
                Some(ack) => ack,
                // The device no longer knows the session: open a new one.
                None => self.open_session(to, peer, &payload).await?,
            },
            None => self.open_session(to, peer, &payload).await?,
        };
        let ack: DeliveryAck = weft_protocol::decode(Kind::DeliveryAck, &ack_bytes)?;
        let mut delivered = Vec::new();
        let mut failed = Vec::new();
        for (k, e) in batch {
            let h = e.item.hash();
            if ack.accepted.contains(&h) {
                delivered.push((k.clone(), e.msg_id));
            } else if ack.rejected.contains(&h) {
                failed.push((k.clone(), e.msg_id));
            }
        }
        let store = self.store();
        if self.is_own_endpoint(to) {
            // Our own other device took its copy: nothing about the
            // message's status changes.
            store.outbox_remove(&delivered)?;
            store.outbox_remove(&failed)?;
            if delivered.is_empty() && failed.is_empty() {
                return Err(DeliveryError::NothingAcknowledged);
            }
            return Ok(());
        }
        store
            .outbox_done(&delivered, MsgStatus::Delivered)
            .and_then(|_| store.outbox_done(&failed, MsgStatus::Failed))?;
        if !failed.is_empty() {
            tracing::warn!(%to, count = failed.len(), "recipient refused messages for good");
        }
        if !delivered.is_empty() {
            self.emit(ChatEvent::Receipt {
                with: to.to_string(),
                ids: delivered.iter().map(|(_, id)| id.to_string()).collect(),
                status: MsgStatus::Delivered,
            });
        }
        if delivered.is_empty() && failed.is_empty() {
            return Err(DeliveryError::NothingAcknowledged);
        }
        Ok(())
    }

    /// A Noise IK round trip to `peer` carrying `payload` (an encoded
    /// [`Delivery`]); keeps the session it opens. Returns the responder's
    /// payload, which only the owner of `to`'s key can have written.
    async fn open_session(
        &self,
        to: &AccountId,
        peer: PeerId,
        payload: &[u8],
    ) -> Result<Vec<u8>, DeliveryError> {
        let (handshake, msg1) = seal::initiate(self.key(), to, payload)?;
        let req = weft_protocol::encode(Kind::ChatRequest, &ChatRequest::Open(msg1))?;
        let reply = self.net().request(AppProtocol::Chat, peer, req).await?;
        let ChatReply::Open(msg2) = weft_protocol::decode(Kind::ChatReply, &reply)? else {
            return Err(DeliveryError::UnexpectedReply);
        };
        let (ack, session) = handshake.finish_session(&msg2)?;
        self.inner
            .sessions
            .put_out(*to, OutSession::new(peer, session));
        Ok(ack)
    }

    /// One request in a kept session: `Ok(Some(ack))`, or `Ok(None)` if the
    /// device does not know the session any more. The session is kept only
    /// if the round trip succeeded; any failure ends it. The request goes
    /// on the stream kept for the session (`stream.rs`); if no stream can
    /// be opened, or the kept one broke, as a `/weft/chat/1` request, with
    /// the next nonce (a nonce is never sealed twice).
    async fn resume(
        &self,
        to: &AccountId,
        mut kept: OutSession,
        payload: &[u8],
    ) -> Result<Option<Vec<u8>>, DeliveryError> {
        let (nonce, req) = self.resume_request(&mut kept, payload)?;
        let mut stream = kept.stream.take();
        let round = if kept.no_stream {
            Err(StreamError::Unavailable(
                "refused earlier in this session".into(),
            ))
        } else {
            self.stream_round(&mut stream, kept.peer, &req).await
        };
        let (nonce, reply) = match round {
            Ok(reply) => (nonce, reply),
            Err(e) => {
                tracing::debug!(%to, reason = %e, "delivering without a chat stream");
                let (nonce, req) = match e {
                    StreamError::Unavailable(_) => {
                        kept.no_stream = true;
                        (nonce, req)
                    }
                    // It may have arrived: the retry is a new message.
                    StreamError::Broken(_) => self.resume_request(&mut kept, payload)?,
                };
                let reply = self
                    .net()
                    .request(AppProtocol::Chat, kept.peer, req)
                    .await?;
                (nonce, reply)
            }
        };
        kept.stream = stream;
        match weft_protocol::decode(Kind::ChatReply, &reply)? {
            ChatReply::Resume(sealed) => {
                let ack = kept.session.open(nonce, &sealed)?;
                self.inner.sessions.put_out(*to, kept);
                Ok(Some(ack))
            }
            ChatReply::UnknownSession => Ok(None),
            ChatReply::Open(_) => Err(DeliveryError::UnexpectedReply),
        }
    }

    /// `payload` sealed as the session's next message, as a request; its nonce.
    fn resume_request(
        &self,
        kept: &mut OutSession,
        payload: &[u8],
    ) -> Result<(u64, Vec<u8>), DeliveryError> {
        let nonce = kept.next;
        kept.next = nonce + 1;
        let sealed = kept.session.seal(nonce, payload)?;
        let req = ChatRequest::Resume {
            session: kept.session.id(),
            nonce,
            sealed,
        };
        Ok((nonce, weft_protocol::encode(Kind::ChatRequest, &req)?))
    }

    /// Leaves copies of `items` with up to [`HOLDERS`] peers closest to the
    /// recipient's mailbox key (never the recipient's own device).
    async fn deposit(&self, to: &AccountId, items: &[&(Vec<u8>, OutboxEntry)]) {
        let key = mailbox_key(to);
        let Ok(Ok(candidates)) = tokio::time::timeout(
            DHT_TIMEOUT,
            self.net().closest_peers(key, HOLDER_CANDIDATES),
        )
        .await
        else {
            return;
        };
        let recipient_device = self.endpoint_peer(to, None).or_else(|| {
            self.store()
                .contact(to)
                .ok()
                .flatten()
                .and_then(|c| c.card)
                .and_then(|c| card_peer(&c))
        });
        // Holders get each message sealed to the endpoint (Noise X): they
        // can read nothing, and the recipient learns who wrote it.
        let mut sealed = Vec::with_capacity(items.len());
        for (_, e) in items {
            match &e.item {
                DeliveryItem::Sealed(b) => sealed.push(b.clone()),
                DeliveryItem::Plain(body) => match seal::seal(self.key(), to, body) {
                    Ok(b) => sealed.push(b),
                    Err(err) => {
                        tracing::warn!(%to, error = %err, "cannot seal a message for holders");
                        return;
                    }
                },
            }
        }
        let mut held_by = 0;
        for (peer, _) in candidates {
            if held_by >= HOLDERS {
                break;
            }
            if Some(peer) == recipient_device || peer == self.net().peer_id() {
                continue;
            }
            let mut ok = true;
            for chunk in sealed.chunks(MAX_ITEMS_PER_MESSAGE) {
                let req = MailboxRequest::Deposit {
                    to: *to,
                    items: chunk.to_vec(),
                };
                let Ok(bytes) = weft_protocol::encode(Kind::MailboxRequest, &req) else {
                    ok = false;
                    break;
                };
                let reply = tokio::time::timeout(
                    Duration::from_secs(10),
                    self.net().request(AppProtocol::Mailbox, peer, bytes),
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
            if let Err(e) = self.store().outbox_mark_held(&keys) {
                tracing::warn!(error = %e, "cannot mark messages as held");
            }
            let _ = self.store().flush_async().await;
        }
    }
}
