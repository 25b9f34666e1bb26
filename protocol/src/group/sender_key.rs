//! Sender keys (as Signal and WhatsApp groups): each member device keeps
//! one sending chain per group; every group message is encrypted once under
//! the next message key of the sender's chain and signed with the chain's
//! signing key. The chain key and the signing public key reach the other
//! members 1:1, sealed over the existing Noise channel ([`super::Direct`]),
//! never in the clear.
//!
//! Chain step: `MK_i = KDF("msg", CK_i)`, `CK_{i+1} = KDF("chain", CK_i)`,
//! BLAKE3 `derive_key` as the KDF. A sender forgets `CK_i` once it has
//! moved past it, and receivers keep only a bounded set of skipped message
//! keys, so a key leaked today does not open what was sent before it
//! (forward secrecy along the chain). It does open what that chain sends
//! later, until the sender rotates (on every removal or leave, and when
//! the chain has been used [`ROTATE_AFTER`] times).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{GroupError, GroupWire, KeyId};
use crate::identity::{AccountId, AccountKey};

const SIG_CONTEXT: &str = "weft/group/message/v1";
/// Message keys a receiver keeps for messages that have not arrived yet.
pub const MAX_SKIPPED: usize = 2_000;
/// A message this far ahead of the chain is refused (a hostile iteration
/// must not make a receiver run the KDF billions of times).
pub const MAX_JUMP: u32 = 5_000;
/// A sender starts a fresh chain after this many messages.
pub const ROTATE_AFTER: u32 = 10_000;

fn step(ck: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    (
        blake3::derive_key("weft group message key v1", ck),
        blake3::derive_key("weft group chain key v1", ck),
    )
}

fn aad(key_id: &KeyId, iteration: u32) -> Vec<u8> {
    let mut v = key_id.0.to_vec();
    v.extend_from_slice(&iteration.to_le_bytes());
    v
}

fn signed(key_id: &KeyId, iteration: u32, ciphertext: &[u8]) -> Vec<u8> {
    let mut v = aad(key_id, iteration);
    v.extend_from_slice(ciphertext);
    v
}

/// What a member hands each other member so it can read its messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderKeyShare {
    /// The chain's id (random: says nothing about the sender to outsiders).
    pub key_id: KeyId,
    /// The chain key at `iteration`.
    pub chain_key: [u8; 32],
    /// The next iteration the sender will use.
    pub iteration: u32,
    /// The chain's signing public key.
    pub signing: AccountId,
}

/// Our own sending chain.
#[derive(Clone, Serialize, Deserialize)]
pub struct SendingChain {
    key_id: KeyId,
    chain_key: [u8; 32],
    iteration: u32,
    signing: [u8; 32],
    /// The group epoch the chain was made for.
    pub epoch: u64,
}

impl std::fmt::Debug for SendingChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SendingChain({:?}, {})", self.key_id, self.iteration)
    }
}

impl SendingChain {
    /// A fresh chain for `epoch`.
    pub fn generate(epoch: u64) -> Result<Self, GroupError> {
        let mut rand = [0u8; 64];
        getrandom::fill(&mut rand).map_err(|_| GroupError::Random)?;
        let mut key_id = [0u8; 16];
        key_id.copy_from_slice(&rand[..16]);
        let mut chain_key = [0u8; 32];
        chain_key.copy_from_slice(&rand[16..48]);
        let signing = AccountKey::generate().map_err(|_| GroupError::Random)?;
        Ok(SendingChain {
            key_id: KeyId(key_id),
            chain_key,
            iteration: 0,
            signing: signing.to_bytes(),
            epoch,
        })
    }

    /// A chain from given keys (fuzzing and tests; real chains come from
    /// [`SendingChain::generate`]).
    pub fn from_parts(key_id: KeyId, chain_key: [u8; 32], signing: [u8; 32], epoch: u64) -> Self {
        SendingChain {
            key_id,
            chain_key,
            iteration: 0,
            signing,
            epoch,
        }
    }

    /// The chain id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// Whether the chain is worn out and should be replaced.
    pub fn worn(&self) -> bool {
        self.iteration >= ROTATE_AFTER
    }

    /// What to hand the other members (from the current iteration on).
    pub fn share(&self) -> Result<SenderKeyShare, GroupError> {
        let signing = AccountKey::from_bytes(&self.signing).map_err(|_| GroupError::Random)?;
        Ok(SenderKeyShare {
            key_id: self.key_id,
            chain_key: self.chain_key,
            iteration: self.iteration,
            signing: signing.account_id(),
        })
    }

    /// Encrypts and signs `plaintext`, advancing the chain (the caller
    /// persists the advanced chain before publishing).
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<GroupWire, GroupError> {
        use chacha20poly1305::{aead::Aead, aead::Payload, KeyInit};
        let (mk, next) = step(&self.chain_key);
        let iteration = self.iteration;
        let ciphertext = chacha20poly1305::ChaCha20Poly1305::new((&mk).into())
            .encrypt(
                &Default::default(),
                Payload {
                    msg: plaintext,
                    aad: &aad(&self.key_id, iteration),
                },
            )
            .map_err(|_| GroupError::Crypto)?;
        let signing = AccountKey::from_bytes(&self.signing).map_err(|_| GroupError::Random)?;
        let sig = signing.sign(SIG_CONTEXT, &signed(&self.key_id, iteration, &ciphertext));
        self.chain_key = next;
        self.iteration += 1;
        Ok(GroupWire {
            key_id: self.key_id,
            iteration,
            ciphertext,
            sig,
        })
    }
}

/// Another member's chain, as we hold it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReceivingChain {
    /// Whose chain.
    pub sender: AccountId,
    /// The group epoch it was shared in.
    pub epoch: u64,
    chain_key: [u8; 32],
    iteration: u32,
    signing: AccountId,
    skipped: BTreeMap<u32, [u8; 32]>,
}

impl ReceivingChain {
    /// Starts from a share.
    pub fn new(sender: AccountId, epoch: u64, share: &SenderKeyShare) -> Self {
        ReceivingChain {
            sender,
            epoch,
            chain_key: share.chain_key,
            iteration: share.iteration,
            signing: share.signing,
            skipped: BTreeMap::new(),
        }
    }

    /// The iteration this chain expects next: a wire above it means the
    /// ones between have not arrived (yet).
    pub fn next_iteration(&self) -> u32 {
        self.iteration
    }

    /// The lowest iteration this chain can still open but has not: the
    /// oldest one skipped over, else [`Self::next_iteration`]. Catching up
    /// asks from here, so a lost first message (nothing before it to show
    /// a gap) is asked for too.
    pub fn first_missing(&self) -> u32 {
        self.skipped
            .keys()
            .next()
            .copied()
            .unwrap_or(self.iteration)
    }

    /// Checks the signature, then decrypts. The chain moves only on success:
    /// the caller stores the returned chain in place of this one.
    pub fn open(&self, wire: &GroupWire) -> Result<(Vec<u8>, ReceivingChain), GroupError> {
        use chacha20poly1305::{aead::Aead, aead::Payload, KeyInit};
        self.signing
            .verify(
                SIG_CONTEXT,
                &signed(&wire.key_id, wire.iteration, &wire.ciphertext),
                &wire.sig,
            )
            .map_err(|_| GroupError::BadSignature)?;
        let mut next = self.clone();
        let mk = if wire.iteration < next.iteration {
            next.skipped
                .remove(&wire.iteration)
                .ok_or(GroupError::Replayed)?
        } else {
            if wire.iteration - next.iteration > MAX_JUMP {
                return Err(GroupError::TooFarAhead);
            }
            while next.iteration < wire.iteration {
                let (mk, ck) = step(&next.chain_key);
                next.skipped.insert(next.iteration, mk);
                next.chain_key = ck;
                next.iteration += 1;
            }
            while next.skipped.len() > MAX_SKIPPED {
                next.skipped.pop_first();
            }
            let (mk, ck) = step(&next.chain_key);
            next.chain_key = ck;
            next.iteration += 1;
            mk
        };
        let plain = chacha20poly1305::ChaCha20Poly1305::new((&mk).into())
            .decrypt(
                &Default::default(),
                Payload {
                    msg: &wire.ciphertext,
                    aad: &aad(&wire.key_id, wire.iteration),
                },
            )
            .map_err(|_| GroupError::Crypto)?;
        Ok((plain, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_replay_and_forgery() {
        let mut s = SendingChain::generate(0).unwrap();
        let share = s.share().unwrap();
        let sender = AccountKey::generate().unwrap().account_id();
        let mut r = ReceivingChain::new(sender, 0, &share);
        let w: Vec<_> = (0..5)
            .map(|i| s.encrypt(format!("m{i}").as_bytes()).unwrap())
            .collect();
        assert_eq!(r.first_missing(), 0);
        // 3 first, then 0..3, then 4: what is missing is the oldest skipped
        // iteration, then the next one once nothing is.
        for (i, missing) in [(3usize, 0), (0, 1), (1, 2), (2, 4), (4, 5)] {
            let (p, next) = r.open(&w[i]).unwrap();
            assert_eq!(p, format!("m{i}").as_bytes());
            r = next;
            assert_eq!(r.first_missing(), missing, "after m{i}");
        }
        assert_eq!(r.open(&w[2]).unwrap_err(), GroupError::Replayed);
        let mut forged = w[4].clone();
        forged.ciphertext[0] ^= 1;
        assert_eq!(r.open(&forged).unwrap_err(), GroupError::BadSignature);
        let mut far = s.encrypt(b"x").unwrap();
        far.iteration = 1_000_000;
        assert!(r.open(&far).is_err());
    }

    #[test]
    fn a_later_share_cannot_open_earlier_messages() {
        let mut s = SendingChain::generate(0).unwrap();
        let early = s.encrypt(b"before").unwrap();
        let late_share = s.share().unwrap();
        let r = ReceivingChain::new(AccountKey::generate().unwrap().account_id(), 0, &late_share);
        assert!(r.open(&early).is_err());
        let later = s.encrypt(b"after").unwrap();
        assert_eq!(r.open(&later).unwrap().0, b"after");
    }
}
