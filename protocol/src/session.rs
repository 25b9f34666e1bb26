//! Sessions that last: what a live Noise IK exchange ([`crate::seal`])
//! leaves behind, so the next messages between the same two keys cost one
//! AEAD each instead of a handshake.
//!
//! Both sides turn the finished handshake into a [`Session`] (Noise's
//! stateless transport mode: the nonce travels with each message). The
//! initiator numbers its messages 1, 2, 3, … and the responder answers each
//! with the same number in the other direction (each direction has its own
//! key, so the numbers never collide). The rules, enforced here:
//!
//! - **No replay, no reordering**: [`Session::open`] takes only a nonce above
//!   the highest it has opened, and at most [`MAX_SKIP`] above it.
//! - **Rekeying**: every [`REKEY_EVERY`] nonces both sides move the keys of
//!   that direction forward (Noise `REKEY`), so a key stolen from memory
//!   opens at most one stretch of the session; earlier keys are gone.
//! - **Forward secrecy per session**: the keys come from the IK handshake's
//!   ephemeral keys. Callers end a session after a while (the node: ten
//!   minutes, or on any failure or restart) and the next handshake starts
//!   afresh.
//!
//! Any failure leaves the session unusable for what failed; callers drop it
//! and start a new handshake rather than guess.

use std::fmt;

use snow::{HandshakeState, StatelessTransportState};

use crate::seal::{SealError, MAX_NOISE_MSG};

/// Bytes of a session's id: the start of the handshake hash, the same on
/// both sides and unguessable to anyone else.
pub const SESSION_ID_LEN: usize = 16;
/// Nonces per key: every this many, the direction's key moves forward.
pub const REKEY_EVERY: u64 = 1024;
/// How far above the last opened nonce a message may be numbered (a sender
/// whose requests timed out skips the numbers it used).
pub const MAX_SKIP: u64 = 4096;
/// AEAD tag added to every session message.
const TAG: usize = 16;
/// Most plaintext one session message carries.
pub const MAX_SESSION_PLAINTEXT: usize = MAX_NOISE_MSG - TAG;

/// A session's id.
pub type SessionId = [u8; SESSION_ID_LEN];

/// One end of an established session.
pub struct Session {
    state: StatelessTransportState,
    id: SessionId,
    /// The remote side's Noise static key (what the handshake proved).
    remote: [u8; 32],
    /// Rekeys applied to our sending key / to our receiving key.
    epoch_out: u64,
    epoch_in: u64,
    /// Highest nonce opened (0: none yet; senders start at 1).
    last_in: u64,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("last_in", &self.last_in)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Turns a finished handshake into a session.
    pub(crate) fn from_handshake(state: HandshakeState) -> Result<Self, SealError> {
        const STEP: &str = "cannot keep the session";
        let mut id = [0u8; SESSION_ID_LEN];
        let hash = state.get_handshake_hash();
        id.copy_from_slice(hash.get(..SESSION_ID_LEN).unwrap_or(&[0u8; SESSION_ID_LEN]));
        let remote = state
            .get_remote_static()
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .ok_or_else(|| SealError::Noise(format!("{STEP}: no remote static key")))?;
        let state = state
            .into_stateless_transport_mode()
            .map_err(|e| SealError::Noise(format!("{STEP}: {e}")))?;
        Ok(Session {
            state,
            id,
            remote,
            epoch_out: 0,
            epoch_in: 0,
            last_in: 0,
        })
    }

    /// The id both ends know this session by.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// The other side's Noise static key, as the handshake proved it.
    pub fn remote_static(&self) -> [u8; 32] {
        self.remote
    }

    /// Encrypts `plaintext` as message number `nonce` of our direction.
    /// Nonces must not go backwards across a rekey boundary (a lower
    /// epoch's key is gone): [`SealError::Noise`] then.
    pub fn seal(&mut self, nonce: u64, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        const STEP: &str = "cannot encrypt in session";
        if plaintext.len() > MAX_SESSION_PLAINTEXT {
            return Err(SealError::TooLarge {
                size: plaintext.len(),
                limit: MAX_SESSION_PLAINTEXT,
            });
        }
        let epoch = nonce / REKEY_EVERY;
        if epoch < self.epoch_out {
            return Err(SealError::Noise(format!(
                "{STEP}: nonce {nonce} is behind the key"
            )));
        }
        if epoch - self.epoch_out > MAX_SKIP / REKEY_EVERY + 1 {
            return Err(SealError::Noise(format!(
                "{STEP}: nonce {nonce} is too far ahead"
            )));
        }
        while self.epoch_out < epoch {
            self.state.rekey_outgoing();
            self.epoch_out += 1;
        }
        let mut out = vec![0u8; plaintext.len() + TAG];
        let n = self
            .state
            .write_message(nonce, plaintext, &mut out)
            .map_err(|e| SealError::Noise(format!("{STEP}: {e}")))?;
        out.truncate(n);
        Ok(out)
    }

    /// Decrypts message number `nonce` of the other direction. Refused: a
    /// nonce not above the last one opened, or more than [`MAX_SKIP`] above
    /// it, and anything that does not authenticate.
    pub fn open(&mut self, nonce: u64, message: &[u8]) -> Result<Vec<u8>, SealError> {
        const STEP: &str = "cannot decrypt in session";
        if message.len() > MAX_NOISE_MSG {
            return Err(SealError::TooLarge {
                size: message.len(),
                limit: MAX_NOISE_MSG,
            });
        }
        if nonce <= self.last_in {
            return Err(SealError::Noise(format!(
                "{STEP}: nonce {nonce} replayed or reordered"
            )));
        }
        if nonce - self.last_in > MAX_SKIP {
            return Err(SealError::Noise(format!(
                "{STEP}: nonce {nonce} is too far ahead"
            )));
        }
        let epoch = nonce / REKEY_EVERY;
        while self.epoch_in < epoch {
            self.state.rekey_incoming();
            self.epoch_in += 1;
        }
        let mut out = vec![0u8; message.len()];
        let n = self
            .state
            .read_message(nonce, message, &mut out)
            .map_err(|e| SealError::Noise(format!("{STEP}: {e}")))?;
        out.truncate(n);
        self.last_in = nonce;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::{initiate, respond};
    use crate::AccountKey;

    /// A finished exchange: (initiator's session, responder's session).
    fn pair() -> (Session, Session) {
        let (alice, bob) = (
            AccountKey::generate().unwrap(),
            AccountKey::generate().unwrap(),
        );
        let (initiator, msg1) = initiate(&alice, &bob.account_id(), b"hello").unwrap();
        let (responder, payload, _) = respond(&bob, &msg1).unwrap();
        assert_eq!(payload, b"hello");
        let (msg2, bob_side) = responder.reply_session(b"ack").unwrap();
        let (ack, alice_side) = initiator.finish_session(&msg2).unwrap();
        assert_eq!(ack, b"ack");
        (alice_side, bob_side)
    }

    #[test]
    fn both_ends_share_an_id_and_carry_messages_both_ways() {
        let (mut a, mut b) = pair();
        assert_eq!(a.id(), b.id());
        for nonce in 1..=3 {
            let m = a.seal(nonce, format!("msg {nonce}").as_bytes()).unwrap();
            assert_eq!(
                b.open(nonce, &m).unwrap(),
                format!("msg {nonce}").as_bytes()
            );
            let r = b.seal(nonce, b"ok").unwrap();
            assert_eq!(a.open(nonce, &r).unwrap(), b"ok");
        }
    }

    #[test]
    fn replayed_reordered_and_far_nonces_are_refused() {
        let (mut a, mut b) = pair();
        let m1 = a.seal(1, b"one").unwrap();
        let m2 = a.seal(2, b"two").unwrap();
        b.open(2, &m2).unwrap();
        assert!(b.open(2, &m2).is_err(), "replay");
        assert!(b.open(1, &m1).is_err(), "reordered");
        let far = a.seal(2 + MAX_SKIP + 1, b"far").unwrap();
        assert!(b.open(2 + MAX_SKIP + 1, &far).is_err());
    }

    #[test]
    fn keys_move_forward_across_rekey_boundaries() {
        let (mut a, mut b) = pair();
        let mut nonce = 1;
        while nonce < 3 * REKEY_EVERY + 5 {
            let m = a.seal(nonce, b"x").unwrap();
            assert_eq!(b.open(nonce, &m).unwrap(), b"x");
            nonce += 97;
        }
        // After a rekey, a message of an earlier epoch cannot be written.
        assert!(a.seal(1, b"old").is_err());
        // A message sealed under the first key does not open under a later one.
        let (mut a2, mut b2) = pair();
        let old = a2.seal(REKEY_EVERY - 1, b"old key").unwrap();
        let new = a2.seal(REKEY_EVERY + 1, b"new key").unwrap();
        assert!(b2.open(REKEY_EVERY - 1, &new).is_err());
        assert_eq!(b2.open(REKEY_EVERY + 1, &new).unwrap(), b"new key");
        assert!(b2.open(REKEY_EVERY - 1, &old).is_err());
    }

    #[test]
    fn tampered_or_foreign_messages_do_not_open() {
        let (mut a, mut b) = pair();
        let (mut other, _) = pair();
        let mut m = a.seal(1, b"hello").unwrap();
        m[0] ^= 1;
        assert!(b.open(1, &m).is_err());
        let foreign = other.seal(2, b"hello").unwrap();
        assert!(b.open(2, &foreign).is_err());
        // A failed open does not consume the nonce.
        let good = a.seal(3, b"hello").unwrap();
        assert_eq!(b.open(3, &good).unwrap(), b"hello");
    }
}
