//! End-to-end encryption between accounts, with Noise.
//!
//! Both patterns use the accounts' own keys as Noise static keys (see
//! [`crate::identity`]: the X25519 key is derived from the ed25519 account
//! key), so knowing an account id is enough to encrypt to it.
//!
//! - [`seal`] / [`open`]: one-way `Noise_X_25519_ChaChaPoly_BLAKE2s`, for a
//!   message to someone who may be offline (friend request, store-and-forward
//!   mail). One self-contained message: only the recipient can read it, and
//!   it carries the sender's static key, authenticated. [`open`] returns that
//!   key; check it against the account the message claims to be from with
//!   [`sender_matches`]. One-way Noise has limits the caller must cover: a
//!   sealed message can be replayed verbatim (dedupe with
//!   [`crate::content_id`]), it has no forward secrecy if the recipient's key
//!   later leaks, and whoever steals the recipient's key can forge messages
//!   *to* that recipient.
//! - [`initiate`] / [`respond`] / [`Responder::reply`] / [`Initiator::finish`]:
//!   one round trip of `Noise_IK_25519_ChaChaPoly_BLAKE2s`, for live delivery.
//!   Message 1 carries the initiator's payload with the same guarantees as a
//!   sealed message; message 2 carries the responder's payload and proves
//!   that the responder holds the static key of the account the initiator
//!   addressed.
//!
//! Each pattern has its own prologue (`weft/seal/1`, `weft/live/1`) mixed into
//! the handshake hash, so messages are bound to Weft and to this version.
//! Inputs are size-checked before Noise sees them; malformed, truncated or
//! oversized bytes give an error, never a panic.

use std::fmt;

use snow::{Builder, HandshakeState};

use crate::identity::{AccountId, AccountKey};

/// Largest Noise message, in bytes (the Noise specification's limit).
pub const MAX_NOISE_MSG: usize = 65535;

/// Bytes a sealed message (or IK message 1) adds to its plaintext: the
/// ephemeral key (32), the encrypted static key (32 + 16-byte tag) and the
/// payload's tag (16).
pub const SEAL_OVERHEAD: usize = 32 + 32 + 16 + 16;
/// Bytes IK message 2 adds to its payload: ephemeral key (32) and tag (16).
const REPLY_OVERHEAD: usize = 32 + 16;

/// Largest plaintext [`seal`] (and [`initiate`]) accepts.
pub const MAX_SEAL_PLAINTEXT: usize = MAX_NOISE_MSG - SEAL_OVERHEAD;
/// Largest payload [`Responder::reply`] accepts.
pub const MAX_REPLY_PLAINTEXT: usize = MAX_NOISE_MSG - REPLY_OVERHEAD;

const SEAL_PATTERN: &str = "Noise_X_25519_ChaChaPoly_BLAKE2s";
const SEAL_PROLOGUE: &[u8] = b"weft/seal/1";
const LIVE_PATTERN: &str = "Noise_IK_25519_ChaChaPoly_BLAKE2s";
const LIVE_PROLOGUE: &[u8] = b"weft/live/1";

/// Why a message could not be sealed or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// The plaintext or the Noise message is over its limit.
    #[error("message is {size} bytes; the limit is {limit}")]
    TooLarge {
        /// Bytes given.
        size: usize,
        /// The limit for this message.
        limit: usize,
    },
    /// Noise refused the message: wrong recipient, tampered, truncated or
    /// garbage bytes. The text says which step failed.
    #[error("{0}")]
    Noise(String),
    /// The account id is not usable as an encryption key (not a valid or a
    /// small-order ed25519 point).
    #[error("account id is not a valid encryption key")]
    BadKey,
}

/// Maps a snow error to [`SealError::Noise`], saying which step failed.
fn noise(step: &'static str) -> impl Fn(snow::Error) -> SealError {
    move |e| SealError::Noise(format!("{step}: {e}"))
}

fn check_len(size: usize, limit: usize) -> Result<(), SealError> {
    if size > limit {
        return Err(SealError::TooLarge { size, limit });
    }
    Ok(())
}

fn remote_public(account: &AccountId) -> Result<[u8; 32], SealError> {
    account.noise_public().map_err(|_| SealError::BadKey)
}

/// Builds the initiator side of `pattern`, addressed to `remote`.
fn build_initiator(
    pattern: &str,
    prologue: &[u8],
    local: &AccountKey,
    remote: &AccountId,
    step: &'static str,
) -> Result<HandshakeState, SealError> {
    let remote = remote_public(remote)?;
    let secret = local.noise_secret();
    Builder::new(pattern.parse().map_err(noise(step))?)
        .prologue(prologue)
        .and_then(|b| b.local_private_key(&secret))
        .and_then(|b| b.remote_public_key(&remote))
        .and_then(|b| b.build_initiator())
        .map_err(noise(step))
}

/// Builds the responder side of `pattern`.
fn build_responder(
    pattern: &str,
    prologue: &[u8],
    local: &AccountKey,
    step: &'static str,
) -> Result<HandshakeState, SealError> {
    let secret = local.noise_secret();
    Builder::new(pattern.parse().map_err(noise(step))?)
        .prologue(prologue)
        .and_then(|b| b.local_private_key(&secret))
        .and_then(|b| b.build_responder())
        .map_err(noise(step))
}

/// Writes the next handshake message carrying `payload`.
fn write(
    state: &mut HandshakeState,
    payload: &[u8],
    step: &'static str,
) -> Result<Vec<u8>, SealError> {
    let mut out = vec![0u8; MAX_NOISE_MSG];
    let n = state
        .write_message(payload, &mut out)
        .map_err(noise(step))?;
    out.truncate(n);
    Ok(out)
}

/// Reads the next handshake message and returns its payload.
fn read(state: &mut HandshakeState, msg: &[u8], step: &'static str) -> Result<Vec<u8>, SealError> {
    check_len(msg.len(), MAX_NOISE_MSG)?;
    // A payload is never longer than the message that carries it.
    let mut payload = vec![0u8; msg.len()];
    let n = state.read_message(msg, &mut payload).map_err(noise(step))?;
    payload.truncate(n);
    Ok(payload)
}

/// The peer's static key, once a handshake message has revealed it.
fn remote_static(state: &HandshakeState, step: &'static str) -> Result<[u8; 32], SealError> {
    state
        .get_remote_static()
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or_else(|| SealError::Noise(format!("{step}: no sender static key")))
}

/// Encrypts `plaintext` from `sender` to `to` as one self-contained Noise X
/// message that only `to` can [`open`]. Plaintexts over
/// [`MAX_SEAL_PLAINTEXT`] give [`SealError::TooLarge`].
pub fn seal(sender: &AccountKey, to: &AccountId, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
    const STEP: &str = "cannot seal message";
    check_len(plaintext.len(), MAX_SEAL_PLAINTEXT)?;
    let mut state = build_initiator(SEAL_PATTERN, SEAL_PROLOGUE, sender, to, STEP)?;
    write(&mut state, plaintext, STEP)
}

/// Decrypts a message [`seal`]ed to `recipient`. Returns the plaintext and
/// the sender's Noise static public key, which Noise has authenticated: use
/// [`sender_matches`] to check it belongs to the account the message claims
/// to come from.
pub fn open(recipient: &AccountKey, sealed: &[u8]) -> Result<(Vec<u8>, [u8; 32]), SealError> {
    const STEP: &str = "cannot open sealed message";
    let mut state = build_responder(SEAL_PATTERN, SEAL_PROLOGUE, recipient, STEP)?;
    let plaintext = read(&mut state, sealed, STEP)?;
    let sender = remote_static(&state, STEP)?;
    Ok((plaintext, sender))
}

/// Whether `sender_static` (from [`open`] or [`respond`]) is the Noise key of
/// the account `claimed`. False if `claimed` is not a usable key.
///
/// The Edwards-to-Montgomery map forgets the sign of a point, so the ids of
/// `P` and `-P` (and `P` plus a small-order point) share one Noise key; all
/// of them are controlled by the same secret, so this cannot let one person
/// pass as another.
pub fn sender_matches(claimed: &AccountId, sender_static: &[u8; 32]) -> bool {
    claimed
        .noise_public()
        .is_ok_and(|public| public == *sender_static)
}

/// The initiator of a live (Noise IK) exchange, waiting for message 2.
pub struct Initiator(HandshakeState);

impl fmt::Debug for Initiator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Initiator { .. }")
    }
}

/// The responder of a live (Noise IK) exchange, which has read message 1 and
/// owes message 2.
pub struct Responder(HandshakeState);

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Responder { .. }")
    }
}

/// Starts a live exchange from `local` to `remote`: returns the initiator
/// state and message 1, which carries `payload` (at most
/// [`MAX_SEAL_PLAINTEXT`] bytes) encrypted to `remote`.
pub fn initiate(
    local: &AccountKey,
    remote: &AccountId,
    payload: &[u8],
) -> Result<(Initiator, Vec<u8>), SealError> {
    const STEP: &str = "cannot start encrypted session";
    check_len(payload.len(), MAX_SEAL_PLAINTEXT)?;
    let mut state = build_initiator(LIVE_PATTERN, LIVE_PROLOGUE, local, remote, STEP)?;
    let msg1 = write(&mut state, payload, STEP)?;
    Ok((Initiator(state), msg1))
}

/// Reads message 1 of a live exchange addressed to `local`. Returns the
/// responder state (to [`Responder::reply`] with), the initiator's payload
/// and the initiator's Noise static public key (check it with
/// [`sender_matches`]).
pub fn respond(
    local: &AccountKey,
    msg1: &[u8],
) -> Result<(Responder, Vec<u8>, [u8; 32]), SealError> {
    const STEP: &str = "cannot read session request";
    let mut state = build_responder(LIVE_PATTERN, LIVE_PROLOGUE, local, STEP)?;
    let payload = read(&mut state, msg1, STEP)?;
    let initiator = remote_static(&state, STEP)?;
    Ok((Responder(state), payload, initiator))
}

impl Responder {
    /// Writes message 2, carrying `payload` (at most [`MAX_REPLY_PLAINTEXT`]
    /// bytes). This ends the exchange.
    pub fn reply(mut self, payload: &[u8]) -> Result<Vec<u8>, SealError> {
        const STEP: &str = "cannot write session reply";
        check_len(payload.len(), MAX_REPLY_PLAINTEXT)?;
        write(&mut self.0, payload, STEP)
    }

    /// Writes message 2 like [`Responder::reply`] and keeps the session
    /// for the initiator's next messages ([`crate::session`]).
    pub fn reply_session(
        mut self,
        payload: &[u8],
    ) -> Result<(Vec<u8>, crate::session::Session), SealError> {
        const STEP: &str = "cannot write session reply";
        check_len(payload.len(), MAX_REPLY_PLAINTEXT)?;
        let msg2 = write(&mut self.0, payload, STEP)?;
        Ok((msg2, crate::session::Session::from_handshake(self.0)?))
    }
}

impl Initiator {
    /// Reads message 2 and returns the responder's payload. Succeeds only if
    /// the reply was made by the holder of the addressed account's key, for
    /// this exchange.
    pub fn finish(mut self, msg2: &[u8]) -> Result<Vec<u8>, SealError> {
        const STEP: &str = "cannot read session reply";
        read(&mut self.0, msg2, STEP)
    }

    /// Reads message 2 like [`Initiator::finish`] and keeps the session for
    /// our next messages ([`crate::session`]).
    pub fn finish_session(
        mut self,
        msg2: &[u8],
    ) -> Result<(Vec<u8>, crate::session::Session), SealError> {
        const STEP: &str = "cannot read session reply";
        let payload = read(&mut self.0, msg2, STEP)?;
        Ok((payload, crate::session::Session::from_handshake(self.0)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> AccountKey {
        AccountKey::generate().unwrap()
    }

    #[test]
    fn seal_open_round_trip() {
        let (alice, bob) = (key(), key());
        let text = "salut 👋 🧵 Weft";
        let sealed = seal(&alice, &bob.account_id(), text.as_bytes()).unwrap();
        assert!(!sealed.windows(text.len()).any(|w| w == text.as_bytes()));
        let (plain, sender) = open(&bob, &sealed).unwrap();
        assert_eq!(plain, text.as_bytes());
        assert!(sender_matches(&alice.account_id(), &sender));
    }

    #[test]
    fn empty_and_maximal_plaintexts_round_trip() {
        let (alice, bob) = (key(), key());
        for len in [0, MAX_SEAL_PLAINTEXT] {
            let plain = vec![0x5a; len];
            let sealed = seal(&alice, &bob.account_id(), &plain).unwrap();
            assert!(sealed.len() <= MAX_NOISE_MSG);
            assert_eq!(open(&bob, &sealed).unwrap().0, plain);
        }
    }

    #[test]
    fn too_large_plaintext_is_refused() {
        let (alice, bob) = (key(), key());
        let plain = vec![0; MAX_SEAL_PLAINTEXT + 1];
        assert_eq!(
            seal(&alice, &bob.account_id(), &plain),
            Err(SealError::TooLarge {
                size: MAX_SEAL_PLAINTEXT + 1,
                limit: MAX_SEAL_PLAINTEXT
            })
        );
    }

    #[test]
    fn sealing_to_an_invalid_id_is_refused() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            seal(&key(), &AccountId(identity), b"x"),
            Err(SealError::BadKey)
        );
    }

    #[test]
    fn wrong_recipient_cannot_open() {
        let (alice, bob, eve) = (key(), key(), key());
        let sealed = seal(&alice, &bob.account_id(), b"for bob").unwrap();
        let err = open(&eve, &sealed).unwrap_err();
        assert!(matches!(err, SealError::Noise(_)));
        assert!(err.to_string().starts_with("cannot open sealed message: "));
    }

    #[test]
    fn any_tampered_byte_is_detected() {
        let (alice, bob) = (key(), key());
        let sealed = seal(&alice, &bob.account_id(), b"hello").unwrap();
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(open(&bob, &bad).is_err(), "flipped byte {i}");
        }
    }

    #[test]
    fn truncated_empty_garbage_and_oversized_input_fail() {
        let (alice, bob) = (key(), key());
        let sealed = seal(&alice, &bob.account_id(), b"hello").unwrap();
        for len in [0, 1, 31, 32, 79, 80, 95, sealed.len() - 1] {
            assert!(open(&bob, &sealed[..len]).is_err(), "truncated to {len}");
        }
        let mut longer = sealed.clone();
        longer.push(0);
        assert!(open(&bob, &longer).is_err());
        assert!(open(&bob, &[0u8; 200]).is_err());
        assert_eq!(
            open(&bob, &vec![0u8; MAX_NOISE_MSG + 1]),
            Err(SealError::TooLarge {
                size: MAX_NOISE_MSG + 1,
                limit: MAX_NOISE_MSG
            })
        );
        assert!(open(&bob, &vec![0u8; MAX_NOISE_MSG]).is_err());
    }

    #[test]
    fn sender_matches_only_the_real_sender() {
        let (alice, bob, carol) = (key(), key(), key());
        let sealed = seal(&alice, &bob.account_id(), b"hi").unwrap();
        let (_, sender) = open(&bob, &sealed).unwrap();
        assert!(sender_matches(&alice.account_id(), &sender));
        assert!(!sender_matches(&carol.account_id(), &sender));
        assert!(!sender_matches(&bob.account_id(), &sender));
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(!sender_matches(&AccountId(identity), &sender));
    }

    #[test]
    fn ik_round_trip_carries_both_payloads() {
        let (alice, bob) = (key(), key());
        let (initiator, msg1) = initiate(&alice, &bob.account_id(), "ping 🏓".as_bytes()).unwrap();
        let (responder, payload, initiator_static) = respond(&bob, &msg1).unwrap();
        assert_eq!(payload, "ping 🏓".as_bytes());
        assert!(sender_matches(&alice.account_id(), &initiator_static));
        let msg2 = responder.reply("pong ✅".as_bytes()).unwrap();
        assert_eq!(initiator.finish(&msg2).unwrap(), "pong ✅".as_bytes());
    }

    #[test]
    fn ik_empty_payloads_round_trip() {
        let (alice, bob) = (key(), key());
        let (initiator, msg1) = initiate(&alice, &bob.account_id(), b"").unwrap();
        let (responder, payload, _) = respond(&bob, &msg1).unwrap();
        assert!(payload.is_empty());
        let msg2 = responder.reply(b"").unwrap();
        assert!(initiator.finish(&msg2).unwrap().is_empty());
    }

    #[test]
    fn ik_message_1_is_only_readable_by_the_addressee() {
        let (alice, bob, eve) = (key(), key(), key());
        let (_, msg1) = initiate(&alice, &bob.account_id(), b"for bob").unwrap();
        assert!(respond(&eve, &msg1).is_err());
    }

    #[test]
    fn ik_reply_from_someone_other_than_remote_fails() {
        let (alice, bob, eve) = (key(), key(), key());
        let (to_bob, _msg1_for_bob) = initiate(&alice, &bob.account_id(), b"hi bob").unwrap();
        // Eve answers with a well-formed reply from a session of her own.
        let (_, msg1_for_eve) = initiate(&alice, &eve.account_id(), b"hi eve").unwrap();
        let (eve_responder, _, _) = respond(&eve, &msg1_for_eve).unwrap();
        let forged = eve_responder.reply(b"I am bob").unwrap();
        assert!(to_bob.finish(&forged).is_err());
    }

    #[test]
    fn ik_reply_from_another_session_of_remote_fails() {
        let (alice, bob) = (key(), key());
        let (first, _) = initiate(&alice, &bob.account_id(), b"one").unwrap();
        let (_, msg1) = initiate(&alice, &bob.account_id(), b"two").unwrap();
        let (responder, _, _) = respond(&bob, &msg1).unwrap();
        let msg2 = responder.reply(b"reply to two").unwrap();
        assert!(first.finish(&msg2).is_err());
    }

    #[test]
    fn ik_tampered_or_truncated_reply_fails() {
        let (alice, bob) = (key(), key());
        let (initiator, msg1) = initiate(&alice, &bob.account_id(), b"hi").unwrap();
        let (responder, _, _) = respond(&bob, &msg1).unwrap();
        let msg2 = responder.reply(b"ok").unwrap();
        let mut bad = msg2.clone();
        bad[40] ^= 0x80;
        assert!(initiator.finish(&bad).is_err());
        let (initiator, msg1) = initiate(&alice, &bob.account_id(), b"hi").unwrap();
        let (responder, _, _) = respond(&bob, &msg1).unwrap();
        let msg2 = responder.reply(b"ok").unwrap();
        assert!(initiator.finish(&msg2[..msg2.len() - 1]).is_err());
    }

    #[test]
    fn ik_respond_rejects_garbage() {
        let bob = key();
        for bad in [&[][..], &[0u8; 10][..], &[0xff; 96][..], &[7u8; 500][..]] {
            assert!(respond(&bob, bad).is_err());
        }
        assert!(matches!(
            respond(&bob, &vec![0u8; MAX_NOISE_MSG + 1]),
            Err(SealError::TooLarge { .. })
        ));
    }

    #[test]
    fn ik_oversized_payloads_are_refused() {
        let (alice, bob) = (key(), key());
        let big = vec![0u8; MAX_SEAL_PLAINTEXT + 1];
        assert!(matches!(
            initiate(&alice, &bob.account_id(), &big),
            Err(SealError::TooLarge { .. })
        ));
        let (_, msg1) = initiate(&alice, &bob.account_id(), b"hi").unwrap();
        let (responder, _, _) = respond(&bob, &msg1).unwrap();
        assert!(matches!(
            responder.reply(&vec![0u8; MAX_REPLY_PLAINTEXT + 1]),
            Err(SealError::TooLarge { .. })
        ));
    }

    #[test]
    fn session_states_can_cross_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<Initiator>();
        assert_send::<Responder>();
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let bob = AccountKey::from_bytes(&[3; 32]).unwrap();
            prop_assert!(open(&bob, &bytes).is_err());
            prop_assert!(respond(&bob, &bytes).is_err());
            let alice = AccountKey::from_bytes(&[4; 32]).unwrap();
            let (initiator, _) = initiate(&alice, &bob.account_id(), b"hi").unwrap();
            prop_assert!(initiator.finish(&bytes).is_err());
        }
    }
}
