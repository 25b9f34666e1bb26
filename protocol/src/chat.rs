//! Chat payloads: what one account says to another, before sealing.
//!
//! A [`ChatBody`] is postcard-encoded in a `Chat` envelope, then sealed to
//! the recipient with Noise `X` ([`crate::seal`]), so the sealed bytes are
//! the durable unit: kept in the sender's outbox, handed to store-and-forward
//! holders, and carried inside the live `/weft/chat/1` session. A message's
//! id is the BLAKE3 hash of its canonical body, so duplicates and replays
//! are recognised by id.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::card::Card;
use crate::envelope::{decode, encode, DecodeError, EncodeError, Kind};
use crate::identity::AccountId;

/// Longest text message, in bytes (UTF-8). One sealed message must fit in a
/// single Noise message (64 KiB), with room for batching several.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;
/// Longest friend-request greeting, in bytes.
pub const MAX_GREETING_BYTES: usize = 512;
/// A sender may recall a message this long after sending it (as WeChat).
pub const RECALL_WINDOW_MS: u64 = 120_000;
/// Most message ids in one receipt.
pub const MAX_RECEIPT_IDS: usize = 512;
/// Most sealed items in one [`Delivery`]: each costs the responder a Noise
/// open, so a session carries at most one outbox batch.
pub const MAX_DELIVERY_ITEMS: usize = 256;
/// Fewer bytes than this cannot be a sealed [`ChatBody`]: the Noise X
/// overhead plus the two 32-byte account ids every body names. Shorter
/// items are refused before any Noise work is spent on them.
pub const MIN_SEALED_BYTES: usize = crate::seal::SEAL_OVERHEAD + 64;

/// A message id: BLAKE3 of the canonical body.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MsgId(pub [u8; 32]);

impl fmt::Display for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MsgId({})", &self.to_string()[..12])
    }
}

impl FromStr for MsgId {
    type Err = ChatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 64 || !s.is_ascii() {
            return Err(ChatError::BadId);
        }
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| ChatError::BadId)?;
        }
        Ok(MsgId(out))
    }
}

/// What a chat message does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChatKind {
    /// "Add me": the sender's card (so the receiver can reach back) and a greeting.
    FriendRequest {
        /// The sender's signed card.
        card: Card,
        /// Greeting shown with the request.
        greeting: String,
    },
    /// "I accept your request", with the accepter's card.
    FriendAccept {
        /// The accepter's signed card.
        card: Card,
    },
    /// A text message, optionally quoting another message.
    Text {
        /// The text (emoji welcome).
        text: String,
        /// The message this one replies to.
        reply_to: Option<MsgId>,
    },
    /// Take back one of the sender's own messages (within [`RECALL_WINDOW_MS`]).
    Recall {
        /// The message to recall.
        target: MsgId,
    },
    /// Delivered (`read == false`) or read receipts for messages the receiver got.
    Receipt {
        /// Read rather than merely delivered.
        read: bool,
        /// Which messages.
        ids: Vec<MsgId>,
    },
    /// Group business between two members (membership changes, sender
    /// keys, join requests, read receipts): see [`crate::group::Direct`].
    Group(crate::group::Direct),
    /// A photo, voice note, video or file ([`crate::file`]), with a caption.
    File {
        /// The attachment (its key included).
        attachment: crate::file::Attachment,
        /// Caption ("" for none).
        caption: String,
        /// The message this one replies to.
        reply_to: Option<MsgId>,
    },
    /// The sender's current Moments topic key
    /// ([`crate::moments::TopicKey`]), for a friend: it names the topic the
    /// sender's Moments travel on and lets the friend backfill them.
    MomentsKey {
        /// The key.
        key: crate::moments::TopicKey,
    },
    /// The sender's account's newest device list: its friends seal to every
    /// device on it and accept what those devices send.
    Devices {
        /// The signed list (of the sender's account).
        list: crate::device::DeviceList,
    },
    /// To our own other devices: what we set for a contact here (a remark,
    /// a block, an unblock, a deletion), so every device shows the same.
    ContactSettings {
        /// The contact.
        account: AccountId,
        /// Its remark (`None`: none).
        remark: Option<String>,
        /// Blocked.
        blocked: bool,
        /// Deleted from our contacts.
        deleted: bool,
    },
    /// Weft Pay business: money (locked to the receiver), a claim notice,
    /// red envelopes ([`crate::pay::PayMsg`]).
    Pay(crate::pay::PayMsg),
}

/// One message from one account to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatBody {
    /// Sender account.
    pub from: AccountId,
    /// Recipient account.
    pub to: AccountId,
    /// Sender's sequence number in this conversation (1, 2, ...).
    pub seq: u64,
    /// Sender's clock, Unix milliseconds; strictly increasing per conversation.
    pub sent_at_ms: u64,
    /// What it is.
    pub kind: ChatKind,
}

/// Why a chat payload was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChatError {
    /// A text over the limit.
    #[error("message is {size} bytes; the limit is {limit}")]
    TooLarge {
        /// Bytes.
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// Empty text.
    #[error("message is empty")]
    Empty,
    /// An attachment out of bounds.
    #[error("{0}")]
    Attachment(String),
    /// A card in a request/accept that is invalid or not the sender's.
    #[error("friend request card is invalid or not the sender's: {0}")]
    BadCard(String),
    /// Too many ids in a receipt.
    #[error("receipt lists too many messages")]
    TooManyIds,
    /// Not a message id.
    #[error("not a message id (expected 64 hex characters)")]
    BadId,
    /// Group business that is malformed.
    #[error("group: {0}")]
    Group(String),
    /// Pay business that is malformed.
    #[error("pay: {0}")]
    Pay(String),
    /// Something only our own devices tell each other, sent to someone else.
    #[error("contact settings go only to the account's own devices")]
    NotOwn,
    /// Decoding failed.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Encoding failed.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

impl ChatBody {
    /// Canonical bytes: the `Chat` envelope.
    pub fn encode(&self) -> Result<Vec<u8>, ChatError> {
        Ok(encode(Kind::Chat, self)?)
    }

    /// Decodes and validates a body.
    pub fn decode(bytes: &[u8]) -> Result<Self, ChatError> {
        let body: ChatBody = decode(Kind::Chat, bytes)?;
        body.validate()?;
        Ok(body)
    }

    /// The message id.
    pub fn id(&self) -> MsgId {
        let bytes = postcard::to_stdvec(self).unwrap_or_default();
        MsgId(crate::content_id(&bytes))
    }

    /// Checks bounds and embedded cards.
    pub fn validate(&self) -> Result<(), ChatError> {
        match &self.kind {
            ChatKind::Text { text, .. } => {
                if text.is_empty() {
                    return Err(ChatError::Empty);
                }
                if text.len() > MAX_TEXT_BYTES {
                    return Err(ChatError::TooLarge {
                        size: text.len(),
                        limit: MAX_TEXT_BYTES,
                    });
                }
            }
            ChatKind::FriendRequest { card, greeting } => {
                if greeting.len() > MAX_GREETING_BYTES {
                    return Err(ChatError::TooLarge {
                        size: greeting.len(),
                        limit: MAX_GREETING_BYTES,
                    });
                }
                self.check_card(card)?;
            }
            ChatKind::FriendAccept { card } => self.check_card(card)?,
            ChatKind::Receipt { ids, .. } if ids.len() > MAX_RECEIPT_IDS => {
                return Err(ChatError::TooManyIds)
            }
            ChatKind::Receipt { .. } | ChatKind::Recall { .. } | ChatKind::MomentsKey { .. } => {}
            ChatKind::ContactSettings { remark, .. } => {
                if self.to != self.from {
                    return Err(ChatError::NotOwn);
                }
                if let Some(r) = remark {
                    if r.len() > crate::MAX_NAME_LEN {
                        return Err(ChatError::TooLarge {
                            size: r.len(),
                            limit: crate::MAX_NAME_LEN,
                        });
                    }
                }
            }
            ChatKind::Devices { list } => list
                .verify_for(&self.from)
                .map_err(|e| ChatError::BadCard(e.to_string()))?,
            ChatKind::Group(d) => d.check().map_err(|e| ChatError::Group(e.to_string()))?,
            ChatKind::Pay(m) => m.validate().map_err(|e| ChatError::Pay(e.to_string()))?,
            ChatKind::File {
                attachment,
                caption,
                ..
            } => {
                if caption.len() > crate::file::MAX_CAPTION {
                    return Err(ChatError::TooLarge {
                        size: caption.len(),
                        limit: crate::file::MAX_CAPTION,
                    });
                }
                attachment
                    .check()
                    .map_err(|e| ChatError::Attachment(e.to_string()))?;
            }
        }
        Ok(())
    }

    fn check_card(&self, card: &Card) -> Result<(), ChatError> {
        card.verify()
            .map_err(|e| ChatError::BadCard(e.to_string()))?;
        if card.account() != self.from {
            return Err(ChatError::BadCard("card names another account".into()));
        }
        Ok(())
    }
}

/// What the initiator of a `/weft/chat/1` session sends (inside Noise IK).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The initiator's account (its Noise static key must be one of the
    /// account's endpoints: the account key, or a device on its list).
    pub from: AccountId,
    /// The messages, in order.
    pub items: Vec<DeliveryItem>,
    /// The initiator's account's device list, when it has one: a linked
    /// device is recognised even by a peer that has not been told of it yet.
    pub devices: Option<crate::device::DeviceList>,
}

/// One message in a [`Delivery`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryItem {
    /// Sealed to the responder (Noise X), as it is left with holders: what
    /// an outbox written before sessions holds, and what a holder hands on.
    Sealed(Vec<u8>),
    /// The encoded [`ChatBody`] itself. The session (or IK handshake) that
    /// carries it encrypts it and proves which device sent it, so it costs
    /// no Noise X of its own; the responder checks that device speaks for
    /// the body's sender exactly as it does for a sealed one.
    Plain(Vec<u8>),
}

impl DeliveryItem {
    /// The bytes the item carries.
    pub fn bytes(&self) -> &[u8] {
        match self {
            DeliveryItem::Sealed(b) | DeliveryItem::Plain(b) => b,
        }
    }

    /// The id by which the responder acknowledges it ([`item_hash`] of its bytes).
    pub fn hash(&self) -> [u8; 32] {
        item_hash(self.bytes())
    }
}

/// The responder's answer: which sealed items (by BLAKE3 of their bytes) it
/// has stored durably, and which it can never accept.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAck {
    /// Persisted (or already had): the sender may drop them from its outbox.
    pub accepted: Vec<[u8; 32]>,
    /// Unreadable or invalid: retrying will not help.
    pub rejected: Vec<[u8; 32]>,
}

/// What travels on `/weft/chat/1`, and frame after frame on a session's
/// kept `/weft/chat-stream/1` stream (envelope kind `ChatRequest`): the first
/// delivery to a device opens a Noise IK session, the next ones reuse it
/// ([`crate::session`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChatRequest {
    /// IK message 1 carrying a [`Delivery`]; the responder keeps the session.
    Open(Vec<u8>),
    /// A [`Delivery`] in a kept session: message number `nonce`.
    Resume {
        /// The session's id (start of the handshake hash).
        session: crate::session::SessionId,
        /// The initiator's message number (1, 2, …).
        nonce: u64,
        /// The encrypted [`Delivery`].
        sealed: Vec<u8>,
    },
}

/// The answer on `/weft/chat/1` (envelope kind `ChatReply`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChatReply {
    /// IK message 2 carrying the [`DeliveryAck`].
    Open(Vec<u8>),
    /// The [`DeliveryAck`] encrypted with the request's nonce, other direction.
    Resume(Vec<u8>),
    /// The responder no longer holds that session (it restarted, or let the
    /// session go): open a new one. Unauthenticated; it can only cost the
    /// initiator a handshake.
    UnknownSession,
}

/// The id by which a sealed item is acknowledged and held.
pub fn item_hash(sealed: &[u8]) -> [u8; 32] {
    crate::content_id(sealed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AccountKey;

    fn body(kind: ChatKind) -> ChatBody {
        ChatBody {
            from: AccountKey::generate().unwrap().account_id(),
            to: AccountKey::generate().unwrap().account_id(),
            seq: 1,
            sent_at_ms: 5,
            kind,
        }
    }

    #[test]
    fn text_round_trips_and_ids_are_stable() {
        let b = body(ChatKind::Text {
            text: "你好 👋".into(),
            reply_to: None,
        });
        let back = ChatBody::decode(&b.encode().unwrap()).unwrap();
        assert_eq!(back, b);
        assert_eq!(back.id(), b.id());
        let id: MsgId = b.id().to_string().parse().unwrap();
        assert_eq!(id, b.id());
    }

    #[test]
    fn contact_settings_go_only_to_our_own_devices() {
        let settings = |remark: &str| ChatKind::ContactSettings {
            account: AccountKey::generate().unwrap().account_id(),
            remark: Some(remark.into()),
            blocked: true,
            deleted: false,
        };
        // To someone else: refused.
        assert_eq!(body(settings("Bao")).validate(), Err(ChatError::NotOwn));
        let mut own = body(settings("Bao"));
        own.to = own.from;
        assert_eq!(own.validate(), Ok(()));
        let back = ChatBody::decode(&own.encode().unwrap()).unwrap();
        assert_eq!(back, own);
        let mut long = body(settings(&"x".repeat(crate::MAX_NAME_LEN + 1)));
        long.to = long.from;
        assert!(matches!(long.validate(), Err(ChatError::TooLarge { .. })));
    }

    #[test]
    fn limits_are_enforced() {
        let big = body(ChatKind::Text {
            text: "x".repeat(MAX_TEXT_BYTES + 1),
            reply_to: None,
        });
        assert!(big.validate().is_err());
        let empty = body(ChatKind::Text {
            text: String::new(),
            reply_to: None,
        });
        assert_eq!(empty.validate(), Err(ChatError::Empty));
        assert!("xyz".parse::<MsgId>().is_err());
    }

    #[test]
    fn friend_request_card_must_be_the_senders() {
        let key = AccountKey::generate().unwrap();
        let card = Card::new(&key, key.certify_device([1; 32], 1), "Ada", vec![], 1).unwrap();
        let mut b = body(ChatKind::FriendRequest {
            card,
            greeting: "hi".into(),
        });
        assert!(b.validate().is_err());
        b.from = key.account_id();
        assert!(b.validate().is_ok());
    }
}
