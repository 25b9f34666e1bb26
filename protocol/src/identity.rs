//! Account keys, account ids and device certificates.
//!
//! An account key (ed25519) is the user's identity; its public key in base58
//! is the account id. Each node has its own device key (its libp2p identity);
//! the account key signs a [`DeviceCertificate`] for it, so friends can accept
//! any of a user's devices. Every signature is domain-separated (a fixed
//! context string is signed together with the canonical postcard bytes) so a
//! signature made for one purpose can never be replayed as another.
//!
//! The account key is also the account's end-to-end encryption key. Its Noise
//! static key (X25519) is *derived* from the ed25519 key, not generated
//! separately: the secret is the ed25519 secret scalar
//! ([`AccountKey::noise_secret`]) and the public key is the Edwards point
//! mapped to Montgomery form ([`AccountId::noise_public`]), the same
//! conversion as libsodium's `crypto_sign_ed25519_pk_to_curve25519`. So anyone
//! who knows an account id can seal a message to it with no extra lookup: a QR
//! code or a link is enough to send a friend request to a user who is offline.
//! (Using one key for both signing and Diffie-Hellman is the libsodium
//! practice; our signatures are domain-separated and Noise hashes its own
//! transcript, so the two uses never sign or derive the same bytes.)

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// Errors about keys, ids and signatures.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    /// The text is not base58 or not 32 bytes long.
    #[error("`{0}` is not an account id (expected 32 bytes in base58)")]
    BadAccountId(String),
    /// The bytes are not a valid ed25519 public key.
    #[error("not a valid ed25519 public key")]
    BadPublicKey,
    /// Key material has the wrong length.
    #[error("key material must be 32 bytes, got {0}")]
    BadKeyLength(usize),
    /// A signature does not verify.
    #[error("signature does not verify for {0}")]
    BadSignature(&'static str),
    /// The operating system's random source failed.
    #[error("no randomness available: {0}")]
    Random(getrandom::Error),
}

/// A 64-byte ed25519 signature, serialised as bytes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureBytes(#[serde(with = "sig_serde")] pub [u8; 64]);

impl fmt::Debug for SignatureBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sig({})", bs58::encode(&self.0[..8]).into_string())
    }
}

mod sig_serde {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        let v: &[u8] = Deserialize::deserialize(d)?;
        v.try_into()
            .map_err(|_| serde::de::Error::invalid_length(v.len(), &"64 bytes"))
    }
}

/// The public identity of a user: an ed25519 public key, shown in base58.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccountId(pub [u8; 32]);

impl AccountId {
    /// The verifying key behind this id, if the bytes are a valid point.
    pub fn verifying_key(&self) -> Result<VerifyingKey, IdError> {
        VerifyingKey::from_bytes(&self.0).map_err(|_| IdError::BadPublicKey)
    }

    /// Checks a domain-separated signature made by this account.
    pub fn verify(
        &self,
        context: &'static str,
        msg: &[u8],
        sig: &SignatureBytes,
    ) -> Result<(), IdError> {
        let key = self.verifying_key()?;
        let signature = Signature::from_bytes(&sig.0);
        // Strict: refuses small-order keys and `R` points, so nobody can make
        // a signature that verifies for every message under a weak "account"
        // (ids are free to mint, so a weak one would forge anything it signs).
        key.verify_strict(&signed_bytes(context, msg), &signature)
            .map_err(|_| IdError::BadSignature(context))
    }

    /// The account's Noise static public key (X25519): this ed25519 key in
    /// Montgomery form. Fails if the id is not a valid point, or is a
    /// small-order ("weak") point, for which Diffie-Hellman would give a
    /// value anyone can compute.
    pub fn noise_public(&self) -> Result<[u8; 32], IdError> {
        let key = self.verifying_key()?;
        if key.is_weak() {
            return Err(IdError::BadPublicKey);
        }
        Ok(key.to_montgomery().to_bytes())
    }

    /// Short form for humans (first 8 base58 characters).
    pub fn short(&self) -> String {
        self.to_string().chars().take(8).collect()
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(self.0).into_string())
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({self})")
    }
}

impl FromStr for AccountId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || IdError::BadAccountId(s.chars().take(64).collect());
        if s.len() > 64 {
            return Err(bad());
        }
        let bytes = bs58::decode(s).into_vec().map_err(|_| bad())?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| bad())?;
        let id = AccountId(arr);
        id.verifying_key().map_err(|_| bad())?;
        Ok(id)
    }
}

/// The bytes a signature covers: a context string, a separator, the message.
fn signed_bytes(context: &str, msg: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(context.len() + 1 + msg.len());
    v.extend_from_slice(context.as_bytes());
    v.push(0);
    v.extend_from_slice(msg);
    v
}

/// Content id of canonical bytes: BLAKE3, used to detect duplicates/replays.
pub fn content_id(bytes: &[u8]) -> [u8; 32] {
    *blake3::hash(bytes).as_bytes()
}

/// The user's secret account key. Never leaves the home directory.
pub struct AccountKey(SigningKey);

impl AccountKey {
    /// A fresh random key from the operating system's random source.
    pub fn generate() -> Result<Self, IdError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(IdError::Random)?;
        Ok(Self(SigningKey::from_bytes(&seed)))
    }

    /// Loads a key from its 32 secret bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| IdError::BadKeyLength(bytes.len()))?;
        Ok(Self(SigningKey::from_bytes(&arr)))
    }

    /// The 32 secret bytes, for writing the key file.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public account id.
    pub fn account_id(&self) -> AccountId {
        AccountId(self.0.verifying_key().to_bytes())
    }

    /// The account's Noise static secret (X25519), derived from the ed25519
    /// secret: its secret scalar, which X25519 clamps. Matches
    /// [`AccountId::noise_public`] of [`Self::account_id`]. Secret: do not
    /// store or log it.
    pub fn noise_secret(&self) -> [u8; 32] {
        self.0.to_scalar_bytes()
    }

    /// A domain-separated signature over `msg`.
    pub fn sign(&self, context: &'static str, msg: &[u8]) -> SignatureBytes {
        SignatureBytes(self.0.sign(&signed_bytes(context, msg)).to_bytes())
    }

    /// Certifies a device key (the ed25519 public key behind a PeerId).
    pub fn certify_device(&self, device_key: [u8; 32], issued_at: u64) -> DeviceCertificate {
        let body = DeviceCertBody {
            account: self.account_id(),
            device_key,
            issued_at,
        };
        let signature = self.sign(DEVICE_CERT_CONTEXT, &body.canonical());
        DeviceCertificate { body, signature }
    }
}

const DEVICE_CERT_CONTEXT: &str = "weft/device-cert/1";

/// What a device certificate asserts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCertBody {
    /// The account vouching for the device.
    pub account: AccountId,
    /// The device's ed25519 public key (its libp2p identity).
    pub device_key: [u8; 32],
    /// When the certificate was made (Unix seconds).
    pub issued_at: u64,
}

impl DeviceCertBody {
    fn canonical(&self) -> Vec<u8> {
        // postcard of a fixed-size struct cannot fail.
        postcard::to_stdvec(self).unwrap_or_default()
    }
}

/// An account's signature over one of its device keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCertificate {
    /// The signed statement.
    pub body: DeviceCertBody,
    /// The account key's signature over `body`.
    pub signature: SignatureBytes,
}

impl DeviceCertificate {
    /// Checks the account's signature.
    pub fn verify(&self) -> Result<(), IdError> {
        self.body
            .account
            .verify(DEVICE_CERT_CONTEXT, &self.body.canonical(), &self.signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_id_round_trips_through_text() {
        let key = AccountKey::generate().unwrap();
        let id = key.account_id();
        let parsed: AccountId = id.to_string().parse().unwrap();
        assert_eq!(parsed, id);
    }

    #[test]
    fn garbage_account_ids_are_rejected() {
        for s in ["", "0OIl", "abc", &"z".repeat(500)] {
            assert!(s.parse::<AccountId>().is_err(), "{s}");
        }
    }

    #[test]
    fn device_certificate_verifies_and_detects_tampering() {
        let key = AccountKey::generate().unwrap();
        let cert = key.certify_device([7; 32], 100);
        cert.verify().unwrap();
        let mut forged = cert.clone();
        forged.body.device_key = [8; 32];
        assert!(forged.verify().is_err());
        let other = AccountKey::generate().unwrap();
        let mut stolen = cert;
        stolen.body.account = other.account_id();
        assert!(stolen.verify().is_err());
    }

    #[test]
    fn noise_keys_derived_from_account_keys_agree_on_dh() {
        // A Noise X handshake needs DH(sender secret, recipient public) and
        // DH(recipient secret, sender public) to agree, in both directions.
        let alice = AccountKey::generate().unwrap();
        let bob = AccountKey::generate().unwrap();
        let sealed = crate::seal::seal(&alice, &bob.account_id(), b"hi").unwrap();
        let (plain, sender) = crate::seal::open(&bob, &sealed).unwrap();
        assert_eq!(plain, b"hi");
        assert_eq!(sender, alice.account_id().noise_public().unwrap());
        let back = crate::seal::seal(&bob, &alice.account_id(), b"yo").unwrap();
        let (plain, sender) = crate::seal::open(&alice, &back).unwrap();
        assert_eq!(plain, b"yo");
        assert_eq!(sender, bob.account_id().noise_public().unwrap());
    }

    #[test]
    fn noise_public_rejects_invalid_and_weak_ids() {
        // The identity point is a valid encoding but has small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            AccountId(identity).noise_public(),
            Err(IdError::BadPublicKey)
        );
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        assert!(AccountId(not_a_point).noise_public().is_err());
    }

    #[test]
    fn weak_keys_cannot_forge_signatures() {
        // Public key and `R` both the identity point, `s = 0`: the plain
        // (cofactored) equation holds for every message.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut sig = [0u8; 64];
        sig[0] = 1;
        for msg in [&b"anything"[..], b"at all"] {
            assert_eq!(
                AccountId(identity).verify("a", msg, &SignatureBytes(sig)),
                Err(IdError::BadSignature("a"))
            );
        }
    }

    #[test]
    fn signatures_are_bound_to_their_context() {
        let key = AccountKey::generate().unwrap();
        let sig = key.sign("a", b"msg");
        assert!(key.account_id().verify("a", b"msg", &sig).is_ok());
        assert!(key.account_id().verify("b", b"msg", &sig).is_err());
    }
}
