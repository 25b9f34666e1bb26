//! The versioned envelope every application payload travels in.
//!
//! `Envelope { version, kind, body }` is postcard-encoded; `body` is the
//! postcard encoding of the payload type for that kind. Decoding checks the
//! outer size against the kind's hard limit *before* parsing, then rejects
//! unknown versions and kinds with a clear error: a hostile peer can make a
//! decode fail, never panic or allocate without bound.
//!
//! Decoding is canonical: the bytes must be exactly what [`encode`] makes of
//! the value (no trailing bytes, no over-long varints or other alternative
//! forms). One value has one encoding, so its bytes can serve as its
//! identity: a relayed message cannot be re-injected in endless byte
//! variants, each looking new to gossip's duplicate filter.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// The envelope format version this build speaks.
pub const WIRE_VERSION: u8 = 1;

/// What an envelope carries. The numeric values are part of the wire format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Kind {
    /// A signed card: account, device certificate, name, addresses.
    Card = 1,
    /// A chat message body (before sealing).
    Chat = 2,
    /// The payload of a `/weft/chat/1` session's first message.
    Delivery = 3,
    /// The payload of its answer.
    DeliveryAck = 4,
    /// A `/weft/mailbox/1` request.
    MailboxRequest = 5,
    /// A `/weft/mailbox/1` answer.
    MailboxReply = 6,
    /// A `/weft/profile/1` answer.
    ProfileReply = 7,
    /// A handle claim (DHT record).
    HandleClaim = 8,
    /// An official-account broadcast (gossip).
    OaBroadcast = 9,
    /// An `/weft/oa/1` request.
    OaRequest = 10,
    /// An `/weft/oa/1` answer.
    OaReply = 11,
    /// A `/weft/blob/1` request.
    BlobRequest = 12,
    /// A `/weft/blob/1` answer.
    BlobReply = 13,
    /// A Moments item (gossip on `weft/moments/<author>`).
    MomentItem = 14,
    /// A `/weft/sync/1` request.
    SyncRequest = 15,
    /// A `/weft/sync/1` answer.
    SyncReply = 16,
    /// A group message (gossip on `weft/g/<tag>`).
    GroupWire = 17,
    /// A `/weft/group/1` request.
    GroupSyncRequest = 18,
    /// A `/weft/group/1` answer.
    GroupSyncReply = 19,
    /// A sender's chain for the members, wrapped per member (gossip on `weft/g/<tag>`).
    GroupKeys = 20,
    /// A `/weft/file/1` request.
    FileRequest = 21,
    /// A `/weft/file/1` answer.
    FileReply = 22,
    /// An account's signed device list.
    DeviceList = 23,
    /// A `/weft/device/1` request.
    DeviceRequest = 24,
    /// A `/weft/device/1` answer.
    DeviceReply = 25,
    /// What a joining device asks (inside the link handshake).
    JoinRequest = 26,
    /// What the primary answers (inside the link handshake).
    JoinReply = 27,
    /// A `/weft/mint/1` request (sealed to the mint's account).
    MintRequest = 28,
    /// A `/weft/mint/1` answer.
    MintReply = 29,
    /// A `/weft/chat/1` request: a handshake, or a message in a kept session.
    ChatRequest = 30,
    /// A `/weft/chat/1` answer.
    ChatReply = 31,
}

impl Kind {
    /// Hard upper bound on the encoded envelope for this kind, in bytes.
    pub const fn max_size(self) -> usize {
        match self {
            Kind::Card => 8 * 1024,
            // Room for a batch of group membership changes.
            Kind::Chat => 40 * 1024,
            Kind::Delivery | Kind::DeliveryAck => 65_000,
            Kind::MailboxRequest | Kind::MailboxReply => 1024 * 1024 - 64,
            Kind::ProfileReply => 48 * 1024,
            Kind::HandleClaim => 10 * 1024,
            Kind::OaBroadcast => 40 * 1024,
            Kind::OaRequest => 64 * 1024,
            Kind::OaReply => 512 * 1024,
            Kind::BlobRequest => 128,
            Kind::BlobReply => 300 * 1024,
            Kind::MomentItem => crate::moments::MAX_ITEM + 64,
            Kind::SyncRequest => 8 * 1024,
            Kind::SyncReply => 1024 * 1024 - 64,
            Kind::GroupWire => crate::group::MAX_TEXT + crate::file::MAX_THUMB + 4 * 1024,
            Kind::GroupSyncRequest => 64 * 1024,
            Kind::GroupSyncReply => 1024 * 1024 - 64,
            Kind::GroupKeys => 64 * 1024,
            Kind::FileRequest => 128,
            Kind::FileReply => crate::file::FILE_CHUNK + 64,
            Kind::DeviceList => 4 * 1024,
            Kind::DeviceRequest => 12 * 1024,
            Kind::DeviceReply => 1024 * 1024 - 64,
            Kind::JoinRequest => 256,
            Kind::JoinReply => 8 * 1024,
            Kind::MintRequest | Kind::MintReply => crate::seal::MAX_NOISE_MSG + 256,
            Kind::ChatRequest | Kind::ChatReply => crate::seal::MAX_NOISE_MSG + 64,
        }
    }

    fn from_u16(v: u16) -> Option<Self> {
        match v {
            1 => Some(Kind::Card),
            2 => Some(Kind::Chat),
            3 => Some(Kind::Delivery),
            4 => Some(Kind::DeliveryAck),
            5 => Some(Kind::MailboxRequest),
            6 => Some(Kind::MailboxReply),
            7 => Some(Kind::ProfileReply),
            8 => Some(Kind::HandleClaim),
            9 => Some(Kind::OaBroadcast),
            10 => Some(Kind::OaRequest),
            11 => Some(Kind::OaReply),
            12 => Some(Kind::BlobRequest),
            13 => Some(Kind::BlobReply),
            14 => Some(Kind::MomentItem),
            15 => Some(Kind::SyncRequest),
            16 => Some(Kind::SyncReply),
            17 => Some(Kind::GroupWire),
            18 => Some(Kind::GroupSyncRequest),
            19 => Some(Kind::GroupSyncReply),
            20 => Some(Kind::GroupKeys),
            21 => Some(Kind::FileRequest),
            22 => Some(Kind::FileReply),
            23 => Some(Kind::DeviceList),
            24 => Some(Kind::DeviceRequest),
            25 => Some(Kind::DeviceReply),
            26 => Some(Kind::JoinRequest),
            27 => Some(Kind::JoinReply),
            28 => Some(Kind::MintRequest),
            29 => Some(Kind::MintReply),
            30 => Some(Kind::ChatRequest),
            31 => Some(Kind::ChatReply),
            _ => None,
        }
    }
}

/// The outer wrapper of every application payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Format version; see [`WIRE_VERSION`].
    pub version: u8,
    /// Payload kind, as its wire number.
    pub kind: u16,
    /// postcard bytes of the payload.
    #[serde(with = "crate::bytes")]
    pub body: Vec<u8>,
}

/// Why bytes could not be turned into a payload.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// More bytes than the kind allows.
    #[error("{kind:?} payload is {size} bytes; the limit is {limit}")]
    TooLarge {
        /// The kind that was expected.
        kind: Kind,
        /// Bytes received.
        size: usize,
        /// The kind's limit.
        limit: usize,
    },
    /// The envelope says a version this build does not speak.
    #[error("unsupported wire version {0} (this node speaks {WIRE_VERSION})")]
    UnknownVersion(u8),
    /// The envelope's kind number is not one we know.
    #[error("unknown payload kind {0}")]
    UnknownKind(u16),
    /// A known kind, but not the one this protocol expects.
    #[error("expected a {expected:?} payload, got {got:?}")]
    WrongKind {
        /// What the caller asked for.
        expected: Kind,
        /// What arrived.
        got: Kind,
    },
    /// The bytes are not valid postcard for the expected type.
    #[error("malformed {0:?} payload: {1}")]
    Malformed(Kind, String),
    /// The payload parsed but breaks a rule (signature, bounds...).
    #[error("invalid {0:?} payload: {1}")]
    Invalid(Kind, String),
    /// The bytes decode, but are not the one encoding of what they decode
    /// to (trailing bytes or a non-minimal form).
    #[error("non-canonical {0:?} encoding")]
    NonCanonical(Kind),
}

/// Why a payload could not be encoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EncodeError {
    /// The encoded payload exceeds its kind's limit.
    #[error("{kind:?} payload would be {size} bytes; the limit is {limit}")]
    TooLarge {
        /// The payload kind.
        kind: Kind,
        /// Encoded size.
        size: usize,
        /// The kind's limit.
        limit: usize,
    },
    /// serde failed (a type that postcard cannot represent).
    #[error("cannot encode {0:?}: {1}")]
    Serde(Kind, String),
}

/// Encodes `payload` as a `kind` envelope, enforcing the kind's size limit.
pub fn encode<T: Serialize>(kind: Kind, payload: &T) -> Result<Vec<u8>, EncodeError> {
    let body = postcard::to_stdvec(payload).map_err(|e| EncodeError::Serde(kind, e.to_string()))?;
    let env = Envelope {
        version: WIRE_VERSION,
        kind: kind as u16,
        body,
    };
    let bytes = postcard::to_stdvec(&env).map_err(|e| EncodeError::Serde(kind, e.to_string()))?;
    if bytes.len() > kind.max_size() {
        return Err(EncodeError::TooLarge {
            kind,
            size: bytes.len(),
            limit: kind.max_size(),
        });
    }
    Ok(bytes)
}

/// Decodes an envelope that must carry `kind`, enforcing size, version,
/// kind and the canonical encoding (see the module comment).
pub fn decode<T: DeserializeOwned + Serialize>(kind: Kind, bytes: &[u8]) -> Result<T, DecodeError> {
    check_size(kind, bytes)?;
    let env: Envelope = canonical(kind, bytes)?;
    if env.version != WIRE_VERSION {
        return Err(DecodeError::UnknownVersion(env.version));
    }
    let got = Kind::from_u16(env.kind).ok_or(DecodeError::UnknownKind(env.kind))?;
    if got != kind {
        return Err(DecodeError::WrongKind {
            expected: kind,
            got,
        });
    }
    canonical(kind, &env.body)
}

/// Decodes a bare postcard payload of `kind` (one not wrapped in an
/// envelope, such as each broadcast in an OA backfill answer), with the
/// kind's size limit and the canonical-encoding rule.
pub fn decode_body<T: DeserializeOwned + Serialize>(
    kind: Kind,
    bytes: &[u8],
) -> Result<T, DecodeError> {
    check_size(kind, bytes)?;
    canonical(kind, bytes)
}

fn check_size(kind: Kind, bytes: &[u8]) -> Result<(), DecodeError> {
    if bytes.len() > kind.max_size() {
        return Err(DecodeError::TooLarge {
            kind,
            size: bytes.len(),
            limit: kind.max_size(),
        });
    }
    Ok(())
}

/// postcard-decodes `bytes`, refusing trailing bytes and any encoding that
/// differs from what re-encoding the value gives.
fn canonical<T: DeserializeOwned + Serialize>(kind: Kind, bytes: &[u8]) -> Result<T, DecodeError> {
    let (value, rest): (T, &[u8]) = postcard::take_from_bytes(bytes)
        .map_err(|e| DecodeError::Malformed(kind, e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::NonCanonical(kind));
    }
    match postcard::to_stdvec(&value) {
        Ok(again) if again == bytes => Ok(value),
        _ => Err(DecodeError::NonCanonical(kind)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        a: u32,
        b: String,
    }

    #[test]
    fn round_trip() {
        let s = Sample {
            a: 7,
            b: "hi 👋".into(),
        };
        let bytes = encode(Kind::Card, &s).unwrap();
        assert_eq!(decode::<Sample>(Kind::Card, &bytes).unwrap(), s);
    }

    #[test]
    fn unknown_version_and_kind_are_rejected() {
        let env = Envelope {
            version: 9,
            kind: 1,
            body: vec![],
        };
        let bytes = postcard::to_stdvec(&env).unwrap();
        assert_eq!(
            decode::<Sample>(Kind::Card, &bytes),
            Err(DecodeError::UnknownVersion(9))
        );
        let env = Envelope {
            version: WIRE_VERSION,
            kind: 999,
            body: vec![],
        };
        let bytes = postcard::to_stdvec(&env).unwrap();
        assert_eq!(
            decode::<Sample>(Kind::Card, &bytes),
            Err(DecodeError::UnknownKind(999))
        );
    }

    #[test]
    fn oversized_input_is_rejected_before_parsing() {
        let big = vec![0u8; Kind::Card.max_size() + 1];
        assert!(matches!(
            decode::<Sample>(Kind::Card, &big),
            Err(DecodeError::TooLarge { .. })
        ));
        let s = Sample {
            a: 1,
            b: "x".repeat(Kind::Card.max_size()),
        };
        assert!(matches!(
            encode(Kind::Card, &s),
            Err(EncodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn only_the_canonical_encoding_decodes() {
        let s = Sample {
            a: 7,
            b: "hi".into(),
        };
        let bytes = encode(Kind::Card, &s).unwrap();
        assert_eq!(decode::<Sample>(Kind::Card, &bytes).unwrap(), s);
        // Trailing bytes after the envelope.
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(
            decode::<Sample>(Kind::Card, &trailing),
            Err(DecodeError::NonCanonical(Kind::Card))
        );
        // Trailing bytes inside the body.
        let mut body = postcard::to_stdvec(&s).unwrap();
        body.push(0);
        let env = Envelope {
            version: WIRE_VERSION,
            kind: Kind::Card as u16,
            body,
        };
        let inner = postcard::to_stdvec(&env).unwrap();
        assert_eq!(
            decode::<Sample>(Kind::Card, &inner),
            Err(DecodeError::NonCanonical(Kind::Card))
        );
        // An over-long varint: 7 as two bytes (0x87 0x00) instead of one.
        let mut body = vec![0x87, 0x00];
        body.extend_from_slice(&postcard::to_stdvec(&s.b).unwrap());
        let env = Envelope {
            version: WIRE_VERSION,
            kind: Kind::Card as u16,
            body,
        };
        let long = postcard::to_stdvec(&env).unwrap();
        assert!(decode::<Sample>(Kind::Card, &long).is_err());
        assert!(decode_body::<Sample>(Kind::Card, &[0x87, 0x00, 2, b'h', b'i']).is_err());
        assert_eq!(
            decode_body::<Sample>(Kind::Card, &[7, 2, b'h', b'i']).unwrap(),
            s
        );
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode::<Sample>(Kind::Card, &bytes);
            let _ = decode::<crate::Card>(Kind::Card, &bytes);
        }

        #[test]
        fn any_sample_round_trips(a in any::<u32>(), b in ".{0,100}") {
            let s = Sample { a, b };
            let bytes = encode(Kind::Card, &s).unwrap();
            prop_assert_eq!(decode::<Sample>(Kind::Card, &bytes).unwrap(), s);
        }
    }
}
