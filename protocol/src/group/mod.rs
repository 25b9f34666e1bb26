//! Group chats: the membership log ([`log`]), sender keys
//! ([`sender_key`]), and the messages that cross the network.
//!
//! - [`Direct`]: member to member, inside a sealed 1:1 chat message
//!   (`ChatKind::Group`): membership changes, the group secret, sender-key
//!   shares, join requests, read receipts. Durable and retried like chat.
//! - [`GroupWire`]: one group message, encrypted once under the sender's
//!   chain and signed, published on the group's gossip topic
//!   `weft/g/<tag>`; the tag is derived from a secret only members hold,
//!   so outsiders cannot tell which group a topic is, or link it to an id.
//! - [`SyncRequest`] / [`SyncReply`] on `/weft/group/1`: a member that was
//!   away asks another member for the wires it lacks (ciphertext only).
//!
//! The design and its guarantees are in `docs/GROUPS.md`.

pub mod log;
pub mod sender_key;
pub mod state;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::chat::MsgId;
use crate::envelope::{decode, encode, DecodeError, EncodeError, Kind};
use crate::identity::{AccountId, SignatureBytes};
use log::{Change, ChangeId};
use sender_key::SenderKeyShare;

/// Most members of a group (as WeChat).
pub const MAX_MEMBERS: usize = 500;
/// Most accounts one `Add` change adds.
pub const MAX_ADD_PER_CHANGE: usize = 100;
/// Longest group name, bytes.
pub const MAX_GROUP_NAME: usize = 64;
/// Longest notice, bytes.
pub const MAX_NOTICE: usize = 2048;
/// Longest nickname, bytes.
pub const MAX_NICKNAME: usize = 64;
/// Most parents of one change.
pub const MAX_PARENTS: usize = 8;
/// Most changes one group's log holds.
pub const MAX_LOG_CHANGES: usize = 5_000;
/// Most changes in one [`Direct::Changes`].
pub const MAX_CHANGES_PER_DIRECT: usize = 64;
/// A group link works this long at most.
pub const LINK_VALIDITY_MS: u64 = 7 * 24 * 3600 * 1000;
/// Most mentions in one message.
pub const MAX_MENTIONS: usize = 50;
/// Most wires in one sync reply.
pub const MAX_SYNC_WIRES: usize = 256;
/// Most chains a sync request lists.
pub const MAX_SYNC_CHAINS: usize = 2_000;
/// Most key bundles in one sync reply (more are looked at no further).
pub const MAX_SYNC_KEYS: usize = 32;
/// Longest group message text, bytes (as chat).
pub const MAX_TEXT: usize = crate::chat::MAX_TEXT_BYTES;

/// A group id: the id of its `Create` change.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupId(pub [u8; 32]);

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::hex::encode(&self.0))
    }
}

impl fmt::Debug for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupId({})", &self.to_string()[..12])
    }
}

impl FromStr for GroupId {
    type Err = GroupError;

    fn from_str(s: &str) -> Result<Self, GroupError> {
        crate::hex::decode_array(s)
            .map(GroupId)
            .ok_or(GroupError::Malformed(
                "group id (expected 64 hex characters)",
            ))
    }
}

/// A sender chain's id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Debug)]
pub struct KeyId(pub [u8; 16]);

/// Why group data was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    /// Structurally wrong.
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// Over a size limit.
    #[error("too long (limit {limit} bytes)")]
    TooLong {
        /// The limit.
        limit: usize,
    },
    /// A signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// Decryption failed.
    #[error("cannot decrypt")]
    Crypto,
    /// A message key already used (or dropped).
    #[error("replayed or too old")]
    Replayed,
    /// An iteration implausibly far ahead.
    #[error("too far ahead in the chain")]
    TooFarAhead,
    /// The system random source failed.
    #[error("no randomness")]
    Random,
    /// Decoding failed.
    #[error("{0}")]
    Decode(String),
    /// Encoding failed.
    #[error("{0}")]
    Encode(String),
}

impl From<DecodeError> for GroupError {
    fn from(e: DecodeError) -> Self {
        GroupError::Decode(e.to_string())
    }
}

impl From<EncodeError> for GroupError {
    fn from(e: EncodeError) -> Self {
        GroupError::Encode(e.to_string())
    }
}

/// The gossip topic tag of a group in an epoch: BLAKE3 keyed by the group
/// secret, over the change that began the epoch. A new epoch (after a
/// removal or a leave) moves the group to a new topic.
pub fn topic_tag(secret: &[u8; 32], epoch_change: &ChangeId) -> [u8; 16] {
    let h = blake3::keyed_hash(secret, &epoch_change.0);
    let mut t = [0u8; 16];
    t.copy_from_slice(&h.as_bytes()[..16]);
    t
}

/// The gossip topic string of a tag.
pub fn topic(tag: &[u8; 16]) -> String {
    format!("weft/g/{}", crate::hex::encode(tag))
}

/// One group message as published: encrypted and signed by its sender chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupWire {
    /// The sender chain.
    pub key_id: KeyId,
    /// Position in the chain.
    pub iteration: u32,
    /// ChaCha20-Poly1305 of the postcard [`GroupPlain`].
    pub ciphertext: Vec<u8>,
    /// The chain's signature over key id, iteration and ciphertext.
    pub sig: SignatureBytes,
}

impl GroupWire {
    /// The message id (same for every copy): BLAKE3 of chain and iteration.
    pub fn id(&self) -> MsgId {
        Self::id_of(&self.key_id, self.iteration)
    }

    /// The id of the wire of chain `key_id` at `iteration`, without the wire.
    pub fn id_of(key_id: &KeyId, iteration: u32) -> MsgId {
        let mut v = key_id.0.to_vec();
        v.extend_from_slice(&iteration.to_le_bytes());
        MsgId(crate::content_id(&v))
    }

    /// Canonical bytes (the gossip payload).
    pub fn encode(&self) -> Result<Vec<u8>, GroupError> {
        Ok(encode(Kind::GroupWire, self)?)
    }

    /// Decodes a gossip payload (bounded by the envelope size limit).
    pub fn decode(bytes: &[u8]) -> Result<Self, GroupError> {
        Ok(decode(Kind::GroupWire, bytes)?)
    }
}

/// A sender's chain, published on the group topic for the members it
/// names: the share is encrypted once under a fresh key, and that key is
/// wrapped for each member as Moments wraps post keys (X25519 from an
/// ephemeral key to the member's account key; boxes padded to a size
/// bucket, in no telling order). Signed by the sender's account. It is the
/// fast path; the same share also goes 1:1 through the durable outbox for
/// members that are offline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupKeys {
    /// The sender (a member).
    pub sender: AccountId,
    /// Ephemeral X25519 public key of the wraps.
    pub eph: [u8; 32],
    /// One box per member (48 bytes each), padded.
    pub wraps: Vec<Vec<u8>>,
    /// ChaCha20-Poly1305 (nonce 0) of the postcard `(GroupId, SenderKeyShare)`.
    pub sealed: Vec<u8>,
    /// The sender's account signature over everything above.
    pub sig: SignatureBytes,
}

const KEYS_CONTEXT: &str = "weft/group/keys/v1";

impl GroupKeys {
    fn signed_bytes(&self) -> Vec<u8> {
        postcard::to_stdvec(&(&self.sender, &self.eph, &self.wraps, &self.sealed))
            .unwrap_or_default()
    }

    /// Wraps `share` of group `g` for `members`, signed by `key`.
    pub fn new(
        key: &crate::AccountKey,
        g: GroupId,
        share: &SenderKeyShare,
        members: &[AccountId],
    ) -> Result<Self, GroupError> {
        let k = crate::moments::new_key().map_err(|_| GroupError::Random)?;
        let (eph, wraps) = crate::moments::wrap_for(members, &k).map_err(|_| GroupError::Crypto)?;
        let plain = postcard::to_stdvec(&(g, share)).map_err(|_| GroupError::Malformed("share"))?;
        let sealed = crate::moments::encrypt(&k, 0, &plain).map_err(|_| GroupError::Crypto)?;
        let mut keys = GroupKeys {
            sender: key.account_id(),
            eph,
            wraps,
            sealed,
            sig: SignatureBytes([0; 64]),
        };
        keys.sig = key.sign(KEYS_CONTEXT, &keys.signed_bytes());
        Ok(keys)
    }

    /// Checks the sender's signature and the bounds.
    pub fn check(&self) -> Result<(), GroupError> {
        if self.wraps.len() > 2 * MAX_MEMBERS || self.wraps.iter().any(|w| w.len() != 48) {
            return Err(GroupError::Malformed("wraps"));
        }
        self.sender
            .verify(KEYS_CONTEXT, &self.signed_bytes(), &self.sig)
            .map_err(|_| GroupError::BadSignature)
    }

    /// The share for `me` (`None` if no box is ours).
    pub fn open(&self, me: &crate::AccountKey) -> Option<(GroupId, SenderKeyShare)> {
        let k = crate::moments::unwrap(me, &self.eph, &self.wraps).ok()?;
        let plain = crate::moments::decrypt(&k, 0, &self.sealed).ok()?;
        postcard::from_bytes(&plain).ok()
    }

    /// Canonical bytes (the gossip payload).
    pub fn encode(&self) -> Result<Vec<u8>, GroupError> {
        Ok(encode(Kind::GroupKeys, self)?)
    }

    /// Decodes a gossip payload.
    pub fn decode(bytes: &[u8]) -> Result<Self, GroupError> {
        Ok(decode(Kind::GroupKeys, bytes)?)
    }
}

/// What a group message says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupKind {
    /// Text, maybe quoting, maybe mentioning.
    Text {
        /// The text.
        text: String,
        /// Quoted message.
        reply_to: Option<MsgId>,
        /// Accounts mentioned: notified even if they muted the group.
        mentions: Vec<AccountId>,
        /// `@all` (admins only).
        all: bool,
    },
    /// The sender takes back one of its messages (within 2 minutes).
    Recall {
        /// Which.
        target: MsgId,
    },
    /// A photo, voice note, video or file ([`crate::file`]), with a caption.
    File {
        /// The attachment (its key included).
        attachment: crate::file::Attachment,
        /// Caption ("" for none).
        caption: String,
        /// Quoted message.
        reply_to: Option<MsgId>,
    },
}

/// The plaintext of a [`GroupWire`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPlain {
    /// The group (a member must not be able to move a message to another group).
    pub group: GroupId,
    /// The sender's account (must own the chain).
    pub sender: AccountId,
    /// Lamport time: above everything the sender had seen in the group.
    /// Display order is (lamport, sender, seq) on every member.
    pub lamport: u64,
    /// Sender's own counter in this group (1, 2, ...).
    pub seq: u64,
    /// Sender's clock, for display.
    pub sent_at_ms: u64,
    /// What it says.
    pub kind: GroupKind,
}

impl GroupPlain {
    /// Checks bounds.
    pub fn check(&self) -> Result<(), GroupError> {
        if let GroupKind::Text { text, mentions, .. } = &self.kind {
            if text.is_empty() {
                return Err(GroupError::Malformed("empty text"));
            }
            if text.len() > MAX_TEXT {
                return Err(GroupError::TooLong { limit: MAX_TEXT });
            }
            if mentions.len() > MAX_MENTIONS {
                return Err(GroupError::Malformed("too many mentions"));
            }
        }
        if let GroupKind::File {
            attachment,
            caption,
            ..
        } = &self.kind
        {
            if caption.len() > crate::file::MAX_CAPTION {
                return Err(GroupError::TooLong {
                    limit: crate::file::MAX_CAPTION,
                });
            }
            attachment
                .check()
                .map_err(|_| GroupError::Malformed("attachment"))?;
        }
        Ok(())
    }

    /// Bytes to encrypt.
    pub fn to_bytes(&self) -> Result<Vec<u8>, GroupError> {
        postcard::to_stdvec(self).map_err(|_| GroupError::Malformed("plaintext"))
    }

    /// Parses decrypted bytes.
    pub fn from_bytes(b: &[u8]) -> Result<Self, GroupError> {
        let p: GroupPlain =
            postcard::from_bytes(b).map_err(|_| GroupError::Malformed("plaintext"))?;
        p.check()?;
        Ok(p)
    }
}

/// Member to member, inside a sealed 1:1 chat message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direct {
    /// Membership changes (a new member gets the whole log, in parts), and
    /// to members only, the group secret.
    Changes {
        /// The group.
        group: GroupId,
        /// Changes, parents before children.
        changes: Vec<Change>,
        /// The group secret (topic tags); absent for someone removed.
        secret: Option<[u8; 32]>,
    },
    /// The sender's chain for the group, for the epoch it was made in.
    SenderKey {
        /// The group.
        group: GroupId,
        /// The epoch change it belongs to.
        epoch_change: ChangeId,
        /// The chain.
        share: SenderKeyShare,
    },
    /// "Let me in": sent to the member whose link it is.
    JoinRequest {
        /// The group.
        group: GroupId,
        /// The link id.
        link: [u8; 16],
        /// The requester's name.
        name: String,
    },
    /// Read receipts, to the messages' sender only (it shows a count).
    Read {
        /// The group.
        group: GroupId,
        /// Messages read.
        ids: Vec<MsgId>,
    },
}

impl Direct {
    /// Checks bounds of what a peer sent.
    pub fn check(&self) -> Result<(), GroupError> {
        match self {
            Direct::Changes { changes, .. } => {
                if changes.is_empty() || changes.len() > MAX_CHANGES_PER_DIRECT {
                    return Err(GroupError::Malformed("change count"));
                }
                for c in changes {
                    c.check()?;
                }
            }
            Direct::JoinRequest { name, .. } if name.len() > MAX_NICKNAME => {
                return Err(GroupError::TooLong {
                    limit: MAX_NICKNAME,
                })
            }
            Direct::Read { ids, .. } if ids.len() > crate::chat::MAX_RECEIPT_IDS => {
                return Err(GroupError::Malformed("too many ids"))
            }
            _ => {}
        }
        Ok(())
    }
}

/// `/weft/group/1` request: "send me the wires of this group I lack".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// The group.
    pub group: GroupId,
    /// Per chain, the iterations the requester has all of (below which it
    /// wants nothing).
    pub have: Vec<(KeyId, u32)>,
    /// Wires the requester already holds beyond those marks (ids), so a
    /// retry does not resend them.
    pub skip: Vec<MsgId>,
    /// Membership changes the requester holds (count), to learn of changes it lacks.
    pub changes: u32,
}

/// `/weft/group/1` answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReply {
    /// Encoded wires the requester lacks, oldest first.
    pub wires: Vec<Vec<u8>>,
    /// More remain: ask again.
    pub more: bool,
    /// The responder's changes, when it holds more than the requester said.
    pub changes: Vec<Change>,
    /// Encoded [`GroupKeys`] bundles of chains the requester did not list
    /// (at most [`MAX_SYNC_KEYS`]): a member that missed a sender's bundle
    /// on the topic, and whose 1:1 share has not come, can read that
    /// sender's wires. Each is signed by its sender and opens only for the
    /// members it was wrapped for, so the responder vouches for nothing.
    pub keys: Vec<Vec<u8>>,
}

impl SyncRequest {
    /// Checks bounds.
    pub fn check(&self) -> Result<(), GroupError> {
        if self.have.len() > MAX_SYNC_CHAINS || self.skip.len() > MAX_SYNC_WIRES * 4 {
            return Err(GroupError::Malformed("sync request too large"));
        }
        Ok(())
    }
}

/// A group invitation link: `weft://group/<group id>?link=<link id>&by=<account>`.
/// `by` is the admin who issued it: join requests go to that admin's node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupLink {
    /// The group.
    pub group: GroupId,
    /// The link's id (as issued in a `Link` change).
    pub link: [u8; 16],
    /// Who issued it.
    pub by: AccountId,
}

const LINK_PREFIX: &str = "weft://group/";

impl fmt::Display for GroupLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{LINK_PREFIX}{}?link={}&by={}",
            self.group,
            crate::hex::encode(&self.link),
            self.by
        )
    }
}

impl FromStr for GroupLink {
    type Err = GroupError;

    fn from_str(s: &str) -> Result<Self, GroupError> {
        let bad = GroupError::Malformed("group link (weft://group/<id>?link=..&by=..)");
        let rest = s.trim().strip_prefix(LINK_PREFIX).ok_or(bad.clone())?;
        if rest.len() > 512 {
            return Err(bad);
        }
        let (group, query) = rest.split_once('?').ok_or(bad.clone())?;
        let group: GroupId = group.parse()?;
        let (mut link, mut by) = (None, None);
        for kv in query.split('&') {
            match kv.split_once('=') {
                Some(("link", v)) => link = crate::hex::decode_array::<16>(v),
                Some(("by", v)) => by = v.parse::<AccountId>().ok(),
                _ => return Err(bad),
            }
        }
        match (link, by) {
            (Some(link), Some(by)) => Ok(GroupLink { group, link, by }),
            _ => Err(bad),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_moves_with_the_epoch_and_the_secret() {
        let a = topic_tag(&[1; 32], &ChangeId([2; 32]));
        assert_ne!(a, topic_tag(&[1; 32], &ChangeId([3; 32])));
        assert_ne!(a, topic_tag(&[9; 32], &ChangeId([2; 32])));
        assert!(topic(&a).starts_with("weft/g/"));
    }

    #[test]
    fn links_parse_back_and_junk_is_refused() {
        let by = crate::AccountKey::generate().unwrap().account_id();
        let l = GroupLink {
            group: GroupId([3; 32]),
            link: [4; 16],
            by,
        };
        assert_eq!(l.to_string().parse::<GroupLink>().unwrap(), l);
        assert!("weft://group/xx?link=00".parse::<GroupLink>().is_err());
        assert!(format!("{l}&extra=1").parse::<GroupLink>().is_err());
    }

    #[test]
    fn key_bundles_open_for_members_only_and_forgeries_fail() {
        let sender = crate::AccountKey::generate().unwrap();
        let (bao, eve) = (
            crate::AccountKey::generate().unwrap(),
            crate::AccountKey::generate().unwrap(),
        );
        let share = sender_key::SendingChain::generate(0)
            .unwrap()
            .share()
            .unwrap();
        let g = GroupId([1; 32]);
        let keys = GroupKeys::new(&sender, g, &share, &[bao.account_id()]).unwrap();
        keys.check().unwrap();
        assert_eq!(keys.open(&bao), Some((g, share)));
        assert_eq!(keys.open(&eve), None);
        let back = GroupKeys::decode(&keys.encode().unwrap()).unwrap();
        assert_eq!(back, keys);
        let mut forged = keys.clone();
        forged.sender = eve.account_id();
        assert_eq!(forged.check(), Err(GroupError::BadSignature));
    }

    #[test]
    fn ids_parse_back() {
        let g = GroupId([0xab; 32]);
        assert_eq!(g.to_string().parse::<GroupId>().unwrap(), g);
        assert!("zz".parse::<GroupId>().is_err());
    }
}
