//! Kept Noise sessions for `/weft/chat/1` ([`weft_protocol::session`]).
//!
//! The first delivery to a device is a Noise IK round trip; both sides keep
//! what it established, and the next deliveries to that device cost one
//! AEAD each way. The sender keeps one session per endpoint (the worker for
//! that endpoint is its only user); the responder keeps sessions by
//! (peer, session id), capped in number and dropped when idle.
//!
//! A session ends, and the next delivery starts a fresh handshake (fresh
//! ephemeral keys: forward secrecy per session), when it is older than
//! [`SESSION_LIFETIME`], when a request in it fails in any way (no answer,
//! a bad reply, the responder does not know it), when the device is reached
//! through another peer, or when either node restarts (sessions live in
//! memory only). What a session carries is the same [`Delivery`] as a
//! handshake carries, so exactly-once, order and persist-before-ack are
//! unchanged.
//!
//! [`Delivery`]: weft_protocol::chat::Delivery

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use weft_protocol::session::{Session, SessionId};
use weft_protocol::AccountId;

/// How long the sender uses one session before it opens a new one.
pub(super) const SESSION_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// How long the responder keeps a session nobody uses.
const IDLE_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// Sessions the responder keeps in all.
const MAX_INBOUND: usize = 1024;
/// Sessions the responder keeps per peer (one per endpoint a device sends
/// for is normal; a few more cover restarts).
const MAX_INBOUND_PER_PEER: usize = 4;
/// Sessions the sender keeps (one per endpoint it delivers to).
const MAX_OUTBOUND: usize = 1024;

/// The sender's session with one endpoint.
pub(super) struct OutSession {
    /// The device the session is with.
    pub peer: PeerId,
    pub session: Session,
    /// The number the next request takes.
    pub next: u64,
    opened: Instant,
    /// The stream the session's deliveries travel on, while one is open
    /// (`stream.rs`).
    pub stream: Option<super::stream::KeptStream>,
    /// No stream could be opened with the device in this session: its
    /// deliveries go as `/weft/chat/1` requests (the next session tries again).
    pub no_stream: bool,
}

impl OutSession {
    pub(super) fn new(peer: PeerId, session: Session) -> Self {
        OutSession {
            peer,
            session,
            next: 1,
            opened: Instant::now(),
            stream: None,
            no_stream: false,
        }
    }
}

/// The responder's side of one session.
pub(super) struct InSession {
    /// The account the handshake proved the initiator speaks for.
    pub from: AccountId,
    pub session: Session,
    last_used: Instant,
}

impl InSession {
    pub(super) fn new(from: AccountId, session: Session) -> Self {
        InSession {
            from,
            session,
            last_used: Instant::now(),
        }
    }
}

/// Both directions' sessions.
#[derive(Default)]
pub(super) struct Sessions {
    out: Mutex<HashMap<AccountId, OutSession>>,
    inbound: Mutex<HashMap<(PeerId, SessionId), InSession>>,
}

impl Sessions {
    /// Takes the live session with `endpoint` through `peer`, if any (the
    /// caller puts it back with [`Sessions::put_out`] once a request in it
    /// succeeded). An expired one, or one with another device, is dropped.
    pub(super) fn take_out(&self, endpoint: &AccountId, peer: PeerId) -> Option<OutSession> {
        let mut out = self.out.lock().ok()?;
        let s = out.remove(endpoint)?;
        (s.peer == peer && s.opened.elapsed() < SESSION_LIFETIME).then_some(s)
    }

    /// Keeps the session with `endpoint` for the next delivery.
    pub(super) fn put_out(&self, endpoint: AccountId, s: OutSession) {
        if let Ok(mut out) = self.out.lock() {
            if out.len() >= MAX_OUTBOUND && !out.contains_key(&endpoint) {
                out.retain(|_, s| s.opened.elapsed() < SESSION_LIFETIME);
                if out.len() >= MAX_OUTBOUND {
                    return; // full of live sessions: this one is not kept
                }
            }
            out.insert(endpoint, s);
        }
    }

    /// Takes the session `id` that `peer` opened (the caller puts it back
    /// with [`Sessions::put_in`] when the request was answered).
    pub(super) fn take_in(&self, peer: PeerId, id: SessionId) -> Option<InSession> {
        let mut inbound = self.inbound.lock().ok()?;
        let s = inbound.remove(&(peer, id))?;
        (s.last_used.elapsed() < IDLE_LIFETIME).then_some(s)
    }

    /// Keeps a session `peer` may use again, within the caps: the least
    /// recently used of the peer's (then of everyone's) make room.
    pub(super) fn put_in(&self, peer: PeerId, mut s: InSession) {
        let Ok(mut inbound) = self.inbound.lock() else {
            return;
        };
        s.last_used = Instant::now();
        let id = s.session.id();
        let of_peer: Vec<(SessionId, Instant)> = inbound
            .iter()
            .filter(|((p, _), _)| *p == peer)
            .map(|((_, i), s)| (*i, s.last_used))
            .collect();
        if of_peer.len() >= MAX_INBOUND_PER_PEER {
            if let Some((oldest, _)) = of_peer.iter().min_by_key(|(_, t)| *t) {
                inbound.remove(&(peer, *oldest));
            }
        }
        if inbound.len() >= MAX_INBOUND {
            inbound.retain(|_, s| s.last_used.elapsed() < IDLE_LIFETIME);
            if inbound.len() >= MAX_INBOUND {
                let oldest = inbound
                    .iter()
                    .min_by_key(|(_, s)| s.last_used)
                    .map(|(k, _)| *k);
                if let Some(k) = oldest {
                    inbound.remove(&k);
                }
            }
        }
        inbound.insert((peer, id), s);
    }

    /// Sessions the responder holds now (for tests and the status view).
    #[cfg(test)]
    pub(super) fn inbound_len(&self) -> usize {
        self.inbound.lock().map(|m| m.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_protocol::{seal, AccountKey};

    fn session() -> (Session, Session) {
        let (a, b) = (
            AccountKey::generate().unwrap(),
            AccountKey::generate().unwrap(),
        );
        let (i, msg1) = seal::initiate(&a, &b.account_id(), b"").unwrap();
        let (r, _, _) = seal::respond(&b, &msg1).unwrap();
        let (msg2, rs) = r.reply_session(b"").unwrap();
        let (_, is) = i.finish_session(&msg2).unwrap();
        (is, rs)
    }

    #[test]
    fn a_session_is_only_taken_for_the_same_device() {
        let s = Sessions::default();
        let to = AccountKey::generate().unwrap().account_id();
        let (p1, p2) = (PeerId::random(), PeerId::random());
        s.put_out(to, OutSession::new(p1, session().0));
        assert!(s.take_out(&to, p2).is_none(), "another device");
        assert!(
            s.take_out(&to, p1).is_none(),
            "dropped when reached elsewhere"
        );
        s.put_out(to, OutSession::new(p1, session().0));
        assert!(s.take_out(&to, p1).is_some());
    }

    #[test]
    fn inbound_sessions_are_capped_per_peer_and_found_by_peer_and_id() {
        let s = Sessions::default();
        let from = AccountKey::generate().unwrap().account_id();
        let (peer, other) = (PeerId::random(), PeerId::random());
        let mut ids = Vec::new();
        for _ in 0..MAX_INBOUND_PER_PEER + 3 {
            let r = session().1;
            ids.push(r.id());
            s.put_in(peer, InSession::new(from, r));
        }
        assert_eq!(s.inbound_len(), MAX_INBOUND_PER_PEER);
        let newest = *ids.last().unwrap();
        assert!(
            s.take_in(other, newest).is_none(),
            "another peer cannot use it"
        );
        assert!(s.take_in(peer, newest).is_some());
        assert!(s.take_in(peer, ids[0]).is_none(), "the oldest made room");
    }
}
