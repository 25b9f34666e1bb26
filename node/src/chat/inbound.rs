//! Answering peers on `/weft/chat/1`, and applying what they deliver.
//!
//! A delivery is one round trip: the first from a device is a Noise IK
//! handshake (message 1 carries a batch of sealed messages, message 2 our
//! acknowledgement), and the next ones travel in the session it left
//! (`session.rs`). Every sealed message, from
//! a session or from a holder (`mailbox.rs`), goes through
//! [`Chat::accept_sealed`]: open (Noise X: confidential, sender-authenticated),
//! check it is for us and from the account whose key sealed it, deduplicate
//! by id, apply, and only after the store is flushed acknowledge it.

use libp2p::PeerId;
use weft_protocol::{
    chat::{
        ChatBody, ChatKind, ChatReply, ChatRequest, Delivery, DeliveryAck, DeliveryItem,
        MAX_DELIVERY_ITEMS, MIN_SEALED_BYTES,
    },
    seal::{self, SealError},
    session::SessionId,
    AccountId, Kind,
};

use super::session::InSession;
use super::{Chat, ChatError};
use crate::budget::RateLimit;
use crate::log_limit::LogLimit;
use crate::net::{AppProtocol, InboundRequest};
use crate::store::chat::ContactState;

/// What happened to one incoming sealed message.
pub(super) enum Outcome {
    /// Persisted (or already had): acknowledge.
    Accepted,
    /// Never acceptable: tell the sender to stop.
    Rejected(Rejection),
    /// Not now (too many friend requests from strangers): neither
    /// acknowledged nor refused, so the sender (or the holder) keeps it and
    /// tries again later.
    Later,
}

/// Why an incoming sealed message is refused for good.
#[derive(Debug, thiserror::Error)]
pub(super) enum Rejection {
    /// Not sealed to our key, or damaged.
    #[error("cannot open: {0}")]
    Open(#[from] SealError),
    /// Shorter than any sealed chat message can be.
    #[error("{0} bytes is too short to be a sealed message")]
    TooShort(usize),
    /// Opened, but not a chat message.
    #[error("malformed: {0}")]
    Malformed(#[from] weft_protocol::chat::ChatError),
    /// Sealed to us, but its body names another recipient.
    #[error("addressed to another account")]
    NotForUs,
    /// The body claims a sender whose key did not seal it.
    #[error("forged sender")]
    ForgedSender,
    /// Carried in a session of one account but written by another.
    #[error("relayed inside another account's session")]
    WrongSession,
    /// From an account we blocked. Refused rather than silently taken, so
    /// the sender's message shows `failed`, never `delivered` (as WeChat:
    /// "sent but rejected by the receiver").
    #[error("from a blocked account")]
    Blocked,
    /// We could not store it.
    #[error("store error: {0}")]
    Store(#[from] ChatError),
}

impl Rejection {
    /// Whether trying again can never help (everything but a store error).
    pub(super) fn is_final(&self) -> bool {
        !matches!(self, Rejection::Store(_))
    }
}

/// Warnings about sessions a peer can make us drop at will.
static DROPPED: LogLimit = LogLimit::new();

/// The [`Delivery`] a handshake or session message carries; `None` (and a
/// rate-limited warning) if it does not decode.
fn decode_delivery(peer: PeerId, payload: &[u8]) -> Option<Delivery> {
    match weft_protocol::decode(Kind::Delivery, payload) {
        Ok(d) => Some(d),
        Err(e) => {
            if let Some(suppressed) = DROPPED.allow() {
                tracing::warn!(%peer, error = %e, suppressed, "dropping chat session: bad delivery");
            }
            None
        }
    }
}

impl Chat {
    /// Answers a `/weft/chat/1` or `/weft/mailbox/1` request; `None` drops it.
    pub async fn handle_inbound(&self, req: &InboundRequest) -> Option<Vec<u8>> {
        match req.protocol {
            AppProtocol::Chat => self.on_delivery(req.peer, &req.data).await,
            AppProtocol::Mailbox => Some(self.on_mailbox(req.peer, &req.data).await),
            AppProtocol::Profile
            | AppProtocol::Oa
            | AppProtocol::Blob
            | AppProtocol::File
            | AppProtocol::Device
            | AppProtocol::Mint
            | AppProtocol::Sync
            | AppProtocol::Group => None,
        }
    }

    /// A `/weft/chat/1` request: a handshake that opens a session (answered
    /// with message 2, the session kept), or a delivery in a kept session
    /// (answered in it). `None` drops the stream (garbage, or a sender that
    /// isn't who it says).
    pub(super) async fn on_delivery(&self, peer: PeerId, data: &[u8]) -> Option<Vec<u8>> {
        let request = match weft_protocol::decode(Kind::ChatRequest, data) {
            Ok(r) => r,
            Err(e) => {
                if let Some(suppressed) = DROPPED.allow() {
                    tracing::warn!(%peer, error = %e, suppressed, "dropping chat request: malformed");
                }
                return None;
            }
        };
        let reply = match request {
            ChatRequest::Open(msg1) => self.on_open(peer, &msg1).await?,
            ChatRequest::Resume {
                session,
                nonce,
                sealed,
            } => self.on_resume(peer, session, nonce, &sealed).await?,
        };
        weft_protocol::encode(Kind::ChatReply, &reply).ok()
    }

    /// IK message 1: check who sends, take the delivery, answer with
    /// message 2 and keep the session.
    async fn on_open(&self, peer: PeerId, msg1: &[u8]) -> Option<ChatReply> {
        let (responder, payload, initiator_static) = match seal::respond(self.key(), msg1) {
            Ok(r) => r,
            Err(e) => {
                if let Some(suppressed) = DROPPED.allow() {
                    tracing::warn!(%peer, error = %e, suppressed, "dropping chat session: bad handshake");
                }
                return None;
            }
        };
        let delivery = decode_delivery(peer, &payload)?;
        // A list the sender carries is taken first (if it verifies and is
        // newer), so a device linked since we last heard is recognised; a
        // replayed older list changes nothing.
        if let Some(list) = &delivery.devices {
            self.take_device_list(&delivery.from, list);
        }
        if !self.speaks_for(&delivery.from, &initiator_static) {
            if let Some(suppressed) = DROPPED.allow() {
                tracing::warn!(%peer, suppressed, "dropping chat session: sender does not own its account key");
            }
            return None;
        }
        let ack = self
            .take_delivery(peer, &delivery, &initiator_static)
            .await?;
        let bytes = weft_protocol::encode(Kind::DeliveryAck, &ack).ok()?;
        let (msg2, session) = responder.reply_session(&bytes).ok()?;
        self.inner
            .sessions
            .put_in(peer, InSession::new(delivery.from, session));
        Some(ChatReply::Open(msg2))
    }

    /// A delivery in a session `peer` opened earlier. A session we do not
    /// hold (we restarted, or let it go) is answered `UnknownSession`; one
    /// that fails in any way is dropped, and the sender opens a new one.
    async fn on_resume(
        &self,
        peer: PeerId,
        id: SessionId,
        nonce: u64,
        sealed: &[u8],
    ) -> Option<ChatReply> {
        let Some(mut kept) = self.inner.sessions.take_in(peer, id) else {
            return Some(ChatReply::UnknownSession);
        };
        let payload = match kept.session.open(nonce, sealed) {
            Ok(p) => p,
            Err(e) => {
                if let Some(suppressed) = DROPPED.allow() {
                    tracing::warn!(%peer, error = %e, suppressed, "dropping chat session: bad message");
                }
                return Some(ChatReply::UnknownSession);
            }
        };
        let delivery = decode_delivery(peer, &payload)?;
        if let Some(list) = &delivery.devices {
            self.take_device_list(&delivery.from, list);
        }
        // The session proved one account; it carries only that account's
        // deliveries, and only while the device still speaks for it (a
        // revoked device's session ends here).
        if delivery.from != kept.from
            || !self.speaks_for(&delivery.from, &kept.session.remote_static())
        {
            if let Some(suppressed) = DROPPED.allow() {
                tracing::warn!(%peer, suppressed, "dropping chat session: sender no longer speaks for the account");
            }
            return None;
        }
        let ack = self
            .take_delivery(peer, &delivery, &kept.session.remote_static())
            .await?;
        // Tests die here: the batch stored and flushed, not yet acknowledged.
        crate::fault::point("chat.session.before_ack");
        let bytes = weft_protocol::encode(Kind::DeliveryAck, &ack).ok()?;
        let sealed = kept.session.seal(nonce, &bytes).ok()?;
        self.inner.sessions.put_in(peer, kept);
        Some(ChatReply::Resume(sealed))
    }

    /// Opens, checks and stores every item of a delivery whose sender was
    /// checked, flushes, and says what was taken. `None`: nothing may be
    /// acknowledged (too many items, or the store did not flush).
    async fn take_delivery(
        &self,
        peer: PeerId,
        delivery: &Delivery,
        session_static: &[u8; 32],
    ) -> Option<DeliveryAck> {
        if delivery.items.len() > MAX_DELIVERY_ITEMS {
            if let Some(suppressed) = DROPPED.allow() {
                let items = delivery.items.len();
                tracing::warn!(%peer, items, suppressed, "dropping chat session: too many items");
            }
            return None;
        }
        let mut ack = DeliveryAck::default();
        for item in &delivery.items {
            let h = item.hash();
            let outcome = self.accept_item(item, &delivery.from, session_static).await;
            match outcome {
                Outcome::Accepted => ack.accepted.push(h),
                // Neither: the sender keeps it and tries again later.
                Outcome::Later => {}
                Outcome::Rejected(Rejection::Blocked) => ack.rejected.push(h),
                Outcome::Rejected(reason) => {
                    // An honest sender never sends a bad item; stop spending
                    // work on this session. The rest are neither accepted
                    // nor rejected, so an honest sender would retry them.
                    if let Some(suppressed) = DROPPED.allow() {
                        tracing::warn!(%peer, %reason, suppressed, "rejecting message; ignoring the rest of the session");
                    }
                    ack.rejected.push(h);
                    break;
                }
            }
        }
        // Persist before acknowledging: the sender deletes its copy on our ack.
        if let Err(e) = self.store().flush_async().await {
            tracing::error!(error = %e, "cannot flush the store; not acknowledging");
            return None;
        }
        Some(ack)
    }

    /// Opens, checks and applies one sealed message. Not flushed: callers
    /// flush once per batch before acknowledging.
    pub(super) async fn accept_sealed(
        &self,
        sealed: &[u8],
        session_from: Option<&AccountId>,
        via_holder: bool,
    ) -> Outcome {
        let checked = self.check_sealed(sealed, session_from);
        self.accept_checked(checked, via_holder).await
    }

    /// Applies one delivered item: a sealed one is opened first; a plain
    /// one came encrypted in a session whose initiator's static key is
    /// `session_static`, and that key must speak for the body's sender as
    /// a seal's key must. Not flushed.
    async fn accept_item(
        &self,
        item: &DeliveryItem,
        session_from: &AccountId,
        session_static: &[u8; 32],
    ) -> Outcome {
        match item {
            // Too short to be sealed mail: refused before any Noise work.
            DeliveryItem::Sealed(b) if b.len() < MIN_SEALED_BYTES => {
                Outcome::Rejected(Rejection::TooShort(b.len()))
            }
            DeliveryItem::Sealed(b) => self.accept_sealed(b, Some(session_from), false).await,
            DeliveryItem::Plain(body) => {
                let checked = ChatBody::decode(body)
                    .map_err(Rejection::from)
                    .and_then(|b| self.check_body(b, session_static, Some(session_from)));
                self.accept_checked(checked, false).await
            }
        }
    }

    /// What happens to a message whose checks gave `checked`.
    async fn accept_checked(
        &self,
        checked: Result<ChatBody, Rejection>,
        via_holder: bool,
    ) -> Outcome {
        match checked {
            Ok(body) if self.is_blocked(&body.from) => {
                tracing::debug!(from = %body.from, "refusing a message from a blocked account");
                Outcome::Rejected(Rejection::Blocked)
            }
            Ok(body) if !self.may_take_request(&body) => {
                tracing::debug!(from = %body.from, "too many friend requests from strangers; later");
                Outcome::Later
            }
            Ok(body) => match self.apply(body, via_holder).await {
                Ok(()) => Outcome::Accepted,
                Err(e) => {
                    tracing::error!(error = %e, "cannot store an incoming message");
                    Outcome::Rejected(e.into())
                }
            },
            Err(r) => Outcome::Rejected(r),
        }
    }

    /// Whether we blocked `account` (a store error counts as not blocked:
    /// `apply` still drops what a blocked account sends).
    fn is_blocked(&self, account: &AccountId) -> bool {
        matches!(
            self.store().contact(account),
            Ok(Some(c)) if c.state == ContactState::Blocked
        )
    }

    /// Whether `body` may be applied now: anything but a friend request
    /// from an account we keep no row for may; such a request takes one of
    /// the strangers' shared budget, and none is taken while
    /// [`MAX_PENDING_REQUESTS`] wait. A store error counts as a stranger.
    fn may_take_request(&self, body: &ChatBody) -> bool {
        if !matches!(body.kind, ChatKind::FriendRequest { .. }) {
            return true;
        }
        if matches!(self.store().contact(&body.from), Ok(Some(_))) {
            return true; // a retry, or someone we know: never limited
        }
        let pending = self.pending_requests().unwrap_or(MAX_PENDING_REQUESTS);
        admit_stranger_request(pending, &self.inner.stranger_requests)
    }

    /// Opens a sealed message and checks who wrote it and for whom.
    fn check_sealed(
        &self,
        sealed: &[u8],
        session_from: Option<&AccountId>,
    ) -> Result<ChatBody, Rejection> {
        let (plain, sender_static) = seal::open(self.key(), sealed)?;
        let body = ChatBody::decode(&plain)?;
        self.check_body(body, &sender_static, session_from)
    }

    /// Checks who wrote a message and for whom: `sender_static` is the key
    /// that sealed it or the session's initiator.
    fn check_body(
        &self,
        body: ChatBody,
        sender_static: &[u8; 32],
        session_from: Option<&AccountId>,
    ) -> Result<ChatBody, Rejection> {
        // Ours, from another of our devices, is a copy of what it sent to
        // someone: addressed to them, sealed to us.
        let own_copy = body.from == self.me() && body.to != self.me();
        if body.to != self.me() && !own_copy {
            return Err(Rejection::NotForUs);
        }
        if !self.speaks_for(&body.from, sender_static) {
            return Err(Rejection::ForgedSender);
        }
        if session_from.is_some_and(|f| *f != body.from) {
            return Err(Rejection::WrongSession);
        }
        Ok(body)
    }

    /// Friend requests received and not yet answered.
    fn pending_requests(&self) -> Result<usize, ChatError> {
        Ok(self
            .store()
            .contacts()?
            .iter()
            .filter(|c| c.state == ContactState::RequestReceived)
            .count())
    }
}

/// Unanswered friend requests kept at most; past it, requests from new
/// accounts wait (their senders retry) until the user answers some. Each
/// is a row, a card and a greeting: throwaway keys must not grow them
/// without bound.
pub(super) const MAX_PENDING_REQUESTS: usize = 200;
/// Friend requests from strangers taken per [`STRANGER_REQUEST_WINDOW`],
/// all strangers together (fresh keys are free, so a per-sender budget
/// would bound nothing). Past it they wait; their senders retry.
pub(super) const STRANGER_REQUESTS: u64 = 30;
/// The window [`STRANGER_REQUESTS`] is counted over.
pub(super) const STRANGER_REQUEST_WINDOW: std::time::Duration =
    std::time::Duration::from_secs(10 * 60);

/// Whether a stranger's friend request may be stored now, with `pending`
/// requests waiting: under the cap, and within the shared rate (taken only
/// when under the cap).
fn admit_stranger_request(pending: usize, rate: &RateLimit) -> bool {
    pending < MAX_PENDING_REQUESTS && rate.take()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Defect 10: strangers' friend requests are capped and rate-limited
    /// together; a full list takes nothing from the rate.
    #[test]
    fn strangers_requests_stop_at_the_cap_and_at_the_rate() {
        let rate = RateLimit::new(2, STRANGER_REQUEST_WINDOW);
        assert!(!admit_stranger_request(MAX_PENDING_REQUESTS, &rate));
        assert!(admit_stranger_request(0, &rate));
        assert!(admit_stranger_request(MAX_PENDING_REQUESTS - 1, &rate));
        assert!(!admit_stranger_request(0, &rate), "over the rate");
    }
}
