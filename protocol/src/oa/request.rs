//! The `/weft/oa/1` request-response protocol: what a follower (or a
//! searching node) asks an official account's node, and what it answers.
//!
//! Both directions travel in an envelope ([`Kind::OaRequest`],
//! [`Kind::OaReply`]) whose body is the *already postcard-encoded* message
//! carried as one byte string. That double encoding is how the first nodes
//! spoke, so it is part of the wire format; [`encode_request`] and friends
//! keep it in one place. Decoding checks the envelope's size limit before
//! parsing, so garbage costs a bounded amount of work and never panics.

use serde::{Deserialize, Serialize};

use crate::envelope::{DecodeError, EncodeError, Kind};
use crate::identity::AccountId;

/// Longest follower question, bytes of UTF-8. The answering node refuses
/// longer ones; the asking node refuses to send them.
pub const MAX_QUESTION: usize = 2048;

/// A `/weft/oa/1` request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OaRequest {
    /// The last `limit` posts of `account` you hold.
    Recent {
        /// The OA.
        account: AccountId,
        /// How many.
        limit: u32,
    },
    /// The profiles of the official accounts you run (for name search).
    Accounts,
    /// A follower's question: Noise IK message 1 to the OA's key.
    Ask {
        /// The OA.
        account: AccountId,
        /// IK message 1; its payload is a postcard [`Question`].
        msg1: Vec<u8>,
    },
    /// The owner's own answer to a follower (`oa reply`), for what the
    /// automatic reply did not cover: Noise IK message 1 from the account's
    /// key to the follower's account key, sent to the follower's node. Its
    /// payload is a postcard [`Question`] whose `from` is the account (the
    /// follower checks it against the handshake's key); the follower answers
    /// [`OaReply::Answer`] with an empty payload once it has stored the text.
    OwnerAnswer {
        /// The account answering.
        account: AccountId,
        /// IK message 1; its payload is a postcard [`Question`].
        msg1: Vec<u8>,
    },
}

/// A `/weft/oa/1` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OaReply {
    /// Broadcasts, newest first (postcard each).
    Posts(Vec<Vec<u8>>),
    /// IK message 2; payload is the reply text.
    Answer(Vec<u8>),
    /// Refused, with the reason shown to the asker.
    Refused(String),
    /// Signed profiles of the accounts this node runs (postcard each).
    Accounts(Vec<Vec<u8>>),
}

/// What a follower's IK message 1 carries: who asks (checked against the
/// Noise static key, so nobody can ask in another's name) and the text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    /// The asking account.
    pub from: AccountId,
    /// The question, at most [`MAX_QUESTION`] bytes when honest.
    pub text: String,
}

impl Question {
    /// postcard bytes, the IK payload.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        postcard::to_stdvec(self).map_err(|e| EncodeError::Serde(Kind::OaRequest, e.to_string()))
    }

    /// Parses an IK payload. Bounded by the largest Noise message, which is
    /// all a payload can be; the text length rule is the responder's to
    /// apply (so it can say why it refuses).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let limit = crate::seal::MAX_NOISE_MSG;
        if bytes.len() > limit {
            return Err(DecodeError::TooLarge {
                kind: Kind::OaRequest,
                size: bytes.len(),
                limit,
            });
        }
        postcard::from_bytes(bytes)
            .map_err(|e| DecodeError::Malformed(Kind::OaRequest, e.to_string()))
    }
}

/// Pre-encoded postcard bytes carried as an envelope body (the wire's
/// double encoding; see the module comment).
#[derive(Serialize, Deserialize)]
struct PostcardBytes(Vec<u8>);

fn encode_double<T: Serialize>(kind: Kind, message: &T) -> Result<Vec<u8>, EncodeError> {
    let inner =
        postcard::to_stdvec(message).map_err(|e| EncodeError::Serde(kind, e.to_string()))?;
    crate::encode(kind, &PostcardBytes(inner))
}

fn decode_double<T: serde::de::DeserializeOwned>(
    kind: Kind,
    bytes: &[u8],
) -> Result<T, DecodeError> {
    let PostcardBytes(inner) = crate::decode(kind, bytes)?;
    postcard::from_bytes(&inner).map_err(|e| DecodeError::Malformed(kind, e.to_string()))
}

/// Encodes a request as its `/weft/oa/1` envelope.
pub fn encode_request(request: &OaRequest) -> Result<Vec<u8>, EncodeError> {
    encode_double(Kind::OaRequest, request)
}

/// Decodes a `/weft/oa/1` request envelope.
pub fn decode_request(bytes: &[u8]) -> Result<OaRequest, DecodeError> {
    decode_double(Kind::OaRequest, bytes)
}

/// Encodes an answer as its `/weft/oa/1` envelope.
pub fn encode_reply(reply: &OaReply) -> Result<Vec<u8>, EncodeError> {
    encode_double(Kind::OaReply, reply)
}

/// Decodes a `/weft/oa/1` answer envelope.
pub fn decode_reply(bytes: &[u8]) -> Result<OaReply, DecodeError> {
    decode_double(Kind::OaReply, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn account() -> impl Strategy<Value = AccountId> {
        any::<[u8; 32]>().prop_map(AccountId)
    }

    fn request() -> impl Strategy<Value = OaRequest> {
        prop_oneof![
            (account(), any::<u32>())
                .prop_map(|(account, limit)| OaRequest::Recent { account, limit }),
            Just(OaRequest::Accounts),
            (account(), vec(any::<u8>(), 0..512))
                .prop_map(|(account, msg1)| OaRequest::Ask { account, msg1 }),
        ]
    }

    fn reply() -> impl Strategy<Value = OaReply> {
        let blobs = || vec(vec(any::<u8>(), 0..64), 0..8);
        prop_oneof![
            blobs().prop_map(OaReply::Posts),
            vec(any::<u8>(), 0..512).prop_map(OaReply::Answer),
            ".{0,80}".prop_map(OaReply::Refused),
            blobs().prop_map(OaReply::Accounts),
        ]
    }

    #[test]
    fn wire_bytes_are_the_envelope_of_the_postcard_bytes() {
        // The format the first nodes spoke: envelope body = postcard(Vec<u8>)
        // of the postcard message. Changing it would split the network.
        let r = OaRequest::Recent {
            account: AccountId([7; 32]),
            limit: 20,
        };
        let old = crate::encode(Kind::OaRequest, &postcard::to_stdvec(&r).unwrap()).unwrap();
        assert_eq!(encode_request(&r).unwrap(), old);
        let a = OaReply::Refused("malformed request".into());
        let old = crate::encode(Kind::OaReply, &postcard::to_stdvec(&a).unwrap()).unwrap();
        assert_eq!(encode_reply(&a).unwrap(), old);
    }

    #[test]
    fn a_request_is_not_a_reply() {
        let bytes = encode_request(&OaRequest::Accounts).unwrap();
        assert!(matches!(
            decode_reply(&bytes),
            Err(DecodeError::WrongKind { .. })
        ));
        let big = vec![0u8; Kind::OaRequest.max_size() + 1];
        assert!(matches!(
            decode_request(&big),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    proptest! {
        #[test]
        fn any_request_round_trips(r in request()) {
            let bytes = encode_request(&r).unwrap();
            prop_assert_eq!(decode_request(&bytes).unwrap(), r);
        }

        #[test]
        fn any_reply_round_trips(a in reply()) {
            let bytes = encode_reply(&a).unwrap();
            prop_assert_eq!(decode_reply(&bytes).unwrap(), a);
        }

        #[test]
        fn any_question_round_trips(from in account(), text in ".{0,200}") {
            let q = Question { from, text };
            prop_assert_eq!(Question::from_bytes(&q.to_bytes().unwrap()).unwrap(), q);
        }

        #[test]
        fn garbage_never_panics(bytes in vec(any::<u8>(), 0..1024)) {
            let _ = decode_request(&bytes);
            let _ = decode_reply(&bytes);
            let _ = Question::from_bytes(&bytes);
        }
    }
}
