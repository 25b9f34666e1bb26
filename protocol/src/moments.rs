//! Moments: posts for chosen friends, with likes and comments, end-to-end
//! encrypted and signed, carried on gossipsub topic `weft/moments/<tag>`,
//! where the tag is keyed by the author's [`TopicKey`], which only the
//! author's friends hold ([`topic`]).
//!
//! Everything on an author's topic is an [`Item`]: a signed [`ItemBody`]
//! carrying a post, a tombstone, a reaction (like, unlike, comment, reply)
//! or the author's settings. Relays check what they can without keys
//! ([`Item::check`]: signature, size, structure, who may sign what on this
//! topic; with freshness, [`relay::check_item`]); readers, who hold the
//! author's topic key, check the item's author is the topic's
//! ([`relay::check_topic`]), decrypt and apply the audience rules.
//!
//! Encryption: each post (and each reaction, and each image) gets a fresh
//! random 32-byte key; content is ChaCha20-Poly1305 under it with nonce 0
//! (a key encrypts exactly one thing). Image keys travel inside the
//! encrypted post; images themselves are blobs of ciphertext. The key is
//! *wrapped* for every reader: the item carries one fresh ephemeral X25519
//! public key `E`, and per reader `R` a 48-byte box, ChaCha20-Poly1305 of
//! the key under `BLAKE3-derive_key("weft moments key wrap v1", DH(e, R) ‖ E ‖ R)`
//! (`R` is the reader's account key in Montgomery form, as in chat). Boxes
//! name no one, so relays can't tell who the readers are; a reader does one
//! DH and tries the boxes (a few µs each). The post's audience list is
//! inside the encrypted content, so readers can check who may comment.
//!
//! A reaction is wrapped only to the post's author and to the audience
//! members who are friends of the reactor: WeChat's rule that you see a like
//! or comment only if you are friends with whoever wrote it is enforced by
//! encryption, not by the viewer's app.

use serde::{Deserialize, Serialize};

mod padding;
pub mod relay;

use crate::identity::{AccountId, AccountKey, SignatureBytes};

/// Signature context of moments items.
pub const ITEM_CONTEXT: &str = "weft/moment/1";
/// BLAKE3 key-derivation context of key wraps.
pub const WRAP_CONTEXT: &str = "weft moments key wrap v1";
/// Protocol id of backfill.
pub const SYNC_PROTOCOL: &str = "/weft/sync/1";

/// Most readers one post (or reaction) is wrapped for.
pub const MAX_AUDIENCE: usize = 500;
/// Bytes of one wrapped key: the key (32) + tag (16).
pub const WRAP_LEN: usize = 48;
/// Most key wraps an item carries: its readers' accounts and the linked
/// devices of those accounts (each device opens with its own key).
pub const MAX_WRAPS: usize = 1024;
/// Largest post text, bytes.
pub const MAX_TEXT: usize = 8 * 1024;
/// Largest comment, bytes.
pub const MAX_COMMENT: usize = 2 * 1024;
/// Most images per post (as WeChat).
pub const MAX_IMAGES: usize = 9;
/// Largest image, bytes (before encryption).
pub const MAX_IMAGE_BYTES: usize = 10 * 1024 * 1024;
/// Largest encrypted content of an item.
pub const MAX_SEALED: usize = 40 * 1024;
/// Largest encoded item (fits a gossip message with room to spare).
pub const MAX_ITEM: usize = 96 * 1024;
/// Items one sync reply carries at most.
pub const MAX_SYNC_ITEMS: usize = 256;
/// Authors one sync request may ask about.
pub const MAX_SYNC_AUTHORS: usize = 64;
/// Largest URL or link title.
pub const MAX_LINK: usize = 1024;

/// An author's Moments topic key: 32 random bytes the author gives each
/// friend (over the end-to-end encrypted chat) and replaces when a friend
/// leaves. It names the author's gossip topic and proves, in a sync
/// request, that the asker is one of the author's friends; a stranger who
/// knows only the account id can neither find the topic nor backfill it,
/// so it learns neither when the author posts nor to how many.
pub type TopicKey = [u8; 32];

/// The tag naming an author's topic under `key` (and the proof a sync
/// request carries): BLAKE3 keyed by `key` over the author's id, 16 bytes.
pub fn topic_tag(author: &AccountId, key: &TopicKey) -> [u8; 16] {
    let mut h = blake3::Hasher::new_keyed(key);
    h.update(b"weft/moments-topic/1");
    h.update(&author.0);
    let mut tag = [0u8; 16];
    tag.copy_from_slice(&h.finalize().as_bytes()[..16]);
    tag
}

/// The gossipsub topic of an author's Moments under its current key:
/// `weft/moments/<tag in hex>`.
pub fn topic(author: &AccountId, key: &TopicKey) -> String {
    topic_of_tag(&topic_tag(author, key))
}

/// The topic string of a tag.
pub fn topic_of_tag(tag: &[u8; 16]) -> String {
    format!("weft/moments/{}", crate::hex::encode(tag))
}

/// An item's id: BLAKE3 of the encoded signed item.
pub type ItemId = [u8; 32];

/// Why an item was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MomentError {
    /// A bound was broken.
    #[error("{0}")]
    Bounds(String),
    /// Signature invalid.
    #[error("signature does not verify")]
    BadSignature,
    /// Someone other than the author signed a post, tombstone or setting.
    #[error("only the author may sign posts, tombstones and settings on their topic")]
    NotAuthor,
    /// Decryption failed: not for us, or tampered.
    #[error("cannot decrypt: not addressed to this account or tampered")]
    NotForUs,
    /// Encryption failed.
    #[error("cannot encrypt: {0}")]
    Crypto(String),
}

/// What an item says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    /// A post: wrapped keys and encrypted [`PostContent`].
    Post {
        /// The wraps' ephemeral X25519 public key.
        eph: [u8; 32],
        /// One box per reader, each carrying the post key.
        wraps: Vec<Vec<u8>>,
        /// ChaCha20-Poly1305 of the postcard [`PostContent`], nonce 0.
        sealed: Vec<u8>,
    },
    /// The author deletes one of their posts.
    Tombstone {
        /// The post.
        post: ItemId,
    },
    /// A like, unlike or comment by anyone in the post's audience.
    Reaction {
        /// The post reacted to.
        post: ItemId,
        /// The wraps' ephemeral X25519 public key.
        eph: [u8; 32],
        /// Keys for the readers allowed to see it.
        wraps: Vec<Vec<u8>>,
        /// ChaCha20-Poly1305 of the postcard [`ReactionContent`], nonce 0.
        sealed: Vec<u8>,
    },
    /// The author's settings: how far back friends may see.
    Settings {
        /// Only posts from the last this many days are shown or served (0 = all).
        visible_days: u32,
    },
}

/// The signed part of an item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemBody {
    /// Whose topic (and Moments) this belongs to.
    pub author: AccountId,
    /// Who signed: the author, or for reactions, the reactor.
    pub signer: AccountId,
    /// Seconds since the epoch, by the signer's clock.
    pub at: u64,
    /// Content.
    pub payload: Payload,
}

/// A signed item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Content.
    pub body: ItemBody,
    /// The signer's signature over the postcard body.
    pub signature: SignatureBytes,
}

/// A link attached to a post.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// URL.
    pub url: String,
    /// Title shown.
    pub title: String,
}

/// An encrypted image: a blob of ciphertext, and the key that opens it
/// (ChaCha20-Poly1305, nonce 0; the key is used for nothing else).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRef {
    /// The blob holding the encrypted bytes.
    pub blob: crate::blob::BlobId,
    /// Plaintext size.
    pub size: u64,
    /// The image's own key.
    pub key: [u8; 32],
}

/// What readers of a post see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostContent {
    /// Text.
    pub text: String,
    /// Images, each encrypted under its own key.
    pub images: Vec<ImageRef>,
    /// Optional link.
    pub link: Option<Link>,
    /// Who may read it (besides the author): lets readers check reactors.
    pub audience: Vec<AccountId>,
}

/// What a reaction says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReactionContent {
    /// Like.
    Like,
    /// Take a like back.
    Unlike,
    /// A comment, optionally replying to another comment.
    Comment {
        /// Text.
        text: String,
        /// The comment replied to.
        reply_to: Option<ItemId>,
    },
}

/// `/weft/sync/1` request: items on these authors' topics from a cursor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// Where each author's page starts.
    pub authors: Vec<SyncFrom>,
}

/// Where one author's page of a `/weft/sync/1` answer starts. Items are
/// ordered by `(at, id)`, so a page can end between two items with the same
/// `at` and the next one resumes exactly after the last item received: a
/// cursor on time alone would repeat the same page forever once more than a
/// page of items share one second.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncFrom {
    /// Whose topic.
    pub author: AccountId,
    /// Items at or after this time (Unix seconds, the signer's clock)...
    pub at: u64,
    /// ...and, when set, only those after this item among the ones dated `at`.
    pub after: Option<ItemId>,
    /// [`topic_tag`] of the author under the key the asker holds: proof
    /// that the author gave the asker its key (only friends have it). An
    /// author asking for its own items needs none (zeros).
    pub proof: [u8; 16],
}

/// `/weft/sync/1` answer: encoded [`Item`]s, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReply {
    /// Encoded items (each as its own envelope-free postcard bytes).
    pub items: Vec<Vec<u8>>,
    /// More were available than fit; ask again after the last item received.
    pub more: bool,
}

impl Item {
    /// Signs `body` with `key` (which must be `body.signer`).
    pub fn sign(key: &AccountKey, body: ItemBody) -> Result<Self, MomentError> {
        if key.account_id() != body.signer {
            return Err(MomentError::NotAuthor);
        }
        let signature = key.sign(
            ITEM_CONTEXT,
            &postcard::to_stdvec(&body).map_err(|e| MomentError::Crypto(e.to_string()))?,
        );
        let item = Item { body, signature };
        item.check()?;
        Ok(item)
    }

    /// Postcard bytes (what gossip, sync and the store carry).
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// Parses and [`check`](Item::check)s bytes from anyone.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MomentError> {
        if bytes.len() > MAX_ITEM {
            return Err(MomentError::Bounds(format!(
                "item is {} bytes; the limit is {MAX_ITEM}",
                bytes.len()
            )));
        }
        // Canonical: one item, one byte string (its id is the hash of it).
        let item: Item = crate::envelope::decode_body(crate::Kind::MomentItem, bytes)
            .map_err(|e| MomentError::Bounds(e.to_string()))?;
        item.check()?;
        Ok(item)
    }

    /// The content id.
    pub fn id(&self) -> ItemId {
        crate::content_id(&self.to_bytes())
    }

    /// What any relay can check without keys: bounds, structure, who may
    /// sign what, and the signature.
    pub fn check(&self) -> Result<(), MomentError> {
        let b = &self.body;
        let bounds = |what: String| Err(MomentError::Bounds(what));
        match &b.payload {
            Payload::Post { wraps, sealed, .. } | Payload::Reaction { wraps, sealed, .. } => {
                if wraps.is_empty() || wraps.len() > MAX_WRAPS {
                    return bounds(format!(
                        "{} key wraps; 1 to {MAX_WRAPS} allowed",
                        wraps.len(),
                    ));
                }
                if wraps.iter().any(|w| w.len() != WRAP_LEN) {
                    return bounds("a key wrap has the wrong length".into());
                }
                if sealed.len() > MAX_SEALED || sealed.len() < 16 {
                    return bounds(format!(
                        "encrypted content is {} bytes; 16 to {MAX_SEALED} allowed",
                        sealed.len()
                    ));
                }
            }
            Payload::Tombstone { .. } => {}
            Payload::Settings { visible_days } => {
                if *visible_days > 36_500 {
                    return bounds("visible_days over 100 years".into());
                }
            }
        }
        let needs_author = !matches!(b.payload, Payload::Reaction { .. });
        if needs_author && b.signer != b.author {
            return Err(MomentError::NotAuthor);
        }
        let bytes = postcard::to_stdvec(b).map_err(|e| MomentError::Bounds(e.to_string()))?;
        if bytes.len() > MAX_ITEM - 64 {
            return bounds(format!("item body is {} bytes", bytes.len()));
        }
        b.signer
            .verify(ITEM_CONTEXT, &bytes, &self.signature)
            .map_err(|_| MomentError::BadSignature)
    }

    /// The post this item refers to (tombstones and reactions).
    pub fn target(&self) -> Option<ItemId> {
        match &self.body.payload {
            Payload::Tombstone { post } | Payload::Reaction { post, .. } => Some(*post),
            _ => None,
        }
    }
}

impl PostContent {
    /// Checks bounds.
    pub fn check(&self) -> Result<(), MomentError> {
        if self.text.len() > MAX_TEXT {
            return Err(MomentError::Bounds(format!(
                "text is {} bytes; the limit is {MAX_TEXT}",
                self.text.len()
            )));
        }
        if self.images.len() > MAX_IMAGES {
            return Err(MomentError::Bounds(format!(
                "{} images; at most {MAX_IMAGES}",
                self.images.len()
            )));
        }
        if self.images.iter().any(|i| i.size > MAX_IMAGE_BYTES as u64) {
            return Err(MomentError::Bounds(format!(
                "an image is larger than {MAX_IMAGE_BYTES} bytes"
            )));
        }
        if let Some(l) = &self.link {
            if l.url.len() > MAX_LINK || l.title.len() > MAX_LINK {
                return Err(MomentError::Bounds("link or title too long".into()));
            }
        }
        if self.text.trim().is_empty() && self.images.is_empty() && self.link.is_none() {
            return Err(MomentError::Bounds(
                "a post needs text, an image or a link".into(),
            ));
        }
        if self.audience.len() > MAX_AUDIENCE {
            return Err(MomentError::Bounds(format!(
                "audience of {}; at most {MAX_AUDIENCE}",
                self.audience.len()
            )));
        }
        Ok(())
    }
}

impl ReactionContent {
    /// Checks bounds.
    pub fn check(&self) -> Result<(), MomentError> {
        if let ReactionContent::Comment { text, .. } = self {
            if text.trim().is_empty() || text.len() > MAX_COMMENT {
                return Err(MomentError::Bounds(format!(
                    "a comment is 1 to {MAX_COMMENT} bytes"
                )));
            }
        }
        Ok(())
    }
}

/// A fresh random content key.
pub fn new_key() -> Result<[u8; 32], MomentError> {
    let mut k = [0u8; 32];
    getrandom::fill(&mut k).map_err(|e| MomentError::Crypto(e.to_string()))?;
    Ok(k)
}

fn nonce(n: u64) -> chacha20poly1305::Nonce {
    let mut b = [0u8; 12];
    b[4..].copy_from_slice(&n.to_le_bytes());
    b.into()
}

/// Encrypts with `key` under nonce number `n` (each `n` used once per key).
pub fn encrypt(key: &[u8; 32], n: u64, plaintext: &[u8]) -> Result<Vec<u8>, MomentError> {
    use chacha20poly1305::{aead::Aead, KeyInit};
    chacha20poly1305::ChaCha20Poly1305::new(key.into())
        .encrypt(&nonce(n), plaintext)
        .map_err(|e| MomentError::Crypto(e.to_string()))
}

/// Decrypts what [`encrypt`] made.
pub fn decrypt(key: &[u8; 32], n: u64, ciphertext: &[u8]) -> Result<Vec<u8>, MomentError> {
    use chacha20poly1305::{aead::Aead, KeyInit};
    chacha20poly1305::ChaCha20Poly1305::new(key.into())
        .decrypt(&nonce(n), ciphertext)
        .map_err(|_| MomentError::NotForUs)
}

/// X25519, from the Noise library already in use (no second curve crate).
fn x25519(secret: &[u8; 32]) -> Result<Box<dyn snow::types::Dh>, MomentError> {
    use snow::resolvers::{CryptoResolver, DefaultResolver};
    let mut dh = DefaultResolver
        .resolve_dh(&snow::params::DHChoice::Curve25519)
        .ok_or_else(|| MomentError::Crypto("no X25519".into()))?;
    dh.set(secret);
    Ok(dh)
}

fn wrap_key(dh: &dyn snow::types::Dh, reader: &[u8; 32]) -> Result<[u8; 32], MomentError> {
    let mut shared = [0u8; 32];
    dh.dh(reader, &mut shared)
        .map_err(|_| MomentError::Crypto("bad reader key".into()))?;
    if shared == [0u8; 32] {
        return Err(MomentError::Crypto("small-order reader key".into()));
    }
    Ok(shared)
}

/// Wraps `key` for each of `readers`: returns the ephemeral public key and
/// one box per reader (in the readers' order, which the item does not
/// reveal), padded with random boxes so the count shows only a bucket of the
/// audience size (see `padding`).
pub fn wrap_for(
    readers: &[AccountId],
    key: &[u8; 32],
) -> Result<([u8; 32], Vec<Vec<u8>>), MomentError> {
    let eph = x25519(&new_key()?)?;
    let eph_pub: [u8; 32] = eph
        .pubkey()
        .try_into()
        .map_err(|_| MomentError::Crypto("bad ephemeral key".into()))?;
    let mut boxes = Vec::with_capacity(readers.len());
    for r in readers {
        let reader = r
            .noise_public()
            .map_err(|_| MomentError::Crypto(format!("{r} is not an encryption key")))?;
        let shared = wrap_key(eph.as_ref(), &reader)?;
        boxes.push(encrypt(&box_key(&shared, &eph_pub, &reader), 0, key)?);
    }
    padding::pad(&mut boxes)?;
    Ok((eph_pub, boxes))
}

fn box_key(shared: &[u8; 32], eph: &[u8; 32], reader: &[u8; 32]) -> [u8; 32] {
    let mut material = [0u8; 96];
    material[..32].copy_from_slice(shared);
    material[32..64].copy_from_slice(eph);
    material[64..].copy_from_slice(reader);
    blake3::derive_key(WRAP_CONTEXT, &material)
}

/// Finds the box addressed to `me` and returns the key.
pub fn unwrap(me: &AccountKey, eph: &[u8; 32], wraps: &[Vec<u8>]) -> Result<[u8; 32], MomentError> {
    let dh = x25519(&me.noise_secret())?;
    let mine: [u8; 32] = dh
        .pubkey()
        .try_into()
        .map_err(|_| MomentError::Crypto("bad key".into()))?;
    let mut shared = [0u8; 32];
    dh.dh(eph, &mut shared).map_err(|_| MomentError::NotForUs)?;
    let k = box_key(&shared, eph, &mine);
    wraps
        .iter()
        .find_map(|w| decrypt(&k, 0, w).ok())
        .and_then(|key| <[u8; 32]>::try_from(key.as_slice()).ok())
        .ok_or(MomentError::NotForUs)
}

/// Builds a signed post. `audience` excludes the author (who is always a reader).
///
/// `devices` are the keys of the readers' (and the author's) linked
/// devices: each gets a wrap of its own, as far as [`MAX_WRAPS`] allows
/// (the accounts come first).
pub fn make_post(
    author: &AccountKey,
    content: &PostContent,
    key: &[u8; 32],
    at: u64,
    devices: &[AccountId],
) -> Result<Item, MomentError> {
    content.check()?;
    let mut readers = content.audience.clone();
    readers.push(author.account_id());
    readers.sort();
    readers.dedup();
    for d in devices {
        if readers.len() >= MAX_WRAPS {
            break;
        }
        if !readers.contains(d) {
            readers.push(*d);
        }
    }
    let plain = postcard::to_stdvec(content).map_err(|e| MomentError::Crypto(e.to_string()))?;
    let (eph, wraps) = wrap_for(&readers, key)?;
    let body = ItemBody {
        author: author.account_id(),
        signer: author.account_id(),
        at,
        payload: Payload::Post {
            eph,
            wraps,
            sealed: encrypt(key, 0, &plain)?,
        },
    };
    Item::sign(author, body)
}

/// Builds a signed reaction readable by `readers` (the reactor is added).
pub fn make_reaction(
    reactor: &AccountKey,
    author: AccountId,
    post: ItemId,
    content: &ReactionContent,
    readers: &[AccountId],
    at: u64,
) -> Result<Item, MomentError> {
    content.check()?;
    let mut readers = readers.to_vec();
    readers.push(reactor.account_id());
    readers.push(author);
    readers.sort();
    readers.dedup();
    if readers.len() > MAX_WRAPS {
        readers.truncate(MAX_WRAPS);
    }
    let key = new_key()?;
    let plain = postcard::to_stdvec(content).map_err(|e| MomentError::Crypto(e.to_string()))?;
    let (eph, wraps) = wrap_for(&readers, &key)?;
    let body = ItemBody {
        author,
        signer: reactor.account_id(),
        at,
        payload: Payload::Reaction {
            post,
            eph,
            wraps,
            sealed: encrypt(&key, 0, &plain)?,
        },
    };
    Item::sign(reactor, body)
}

/// Opens a post for `me`: its key and content.
pub fn open_post(me: &AccountKey, item: &Item) -> Result<([u8; 32], PostContent), MomentError> {
    let Payload::Post { eph, wraps, sealed } = &item.body.payload else {
        return Err(MomentError::Bounds("not a post".into()));
    };
    let key = unwrap(me, eph, wraps)?;
    let plain = decrypt(&key, 0, sealed)?;
    let content: PostContent =
        postcard::from_bytes(&plain).map_err(|e| MomentError::Bounds(e.to_string()))?;
    content.check()?;
    Ok((key, content))
}

/// Opens a reaction for `me`.
pub fn open_reaction(me: &AccountKey, item: &Item) -> Result<ReactionContent, MomentError> {
    let Payload::Reaction {
        eph, wraps, sealed, ..
    } = &item.body.payload
    else {
        return Err(MomentError::Bounds("not a reaction".into()));
    };
    let key = unwrap(me, eph, wraps)?;
    let plain = decrypt(&key, 0, sealed)?;
    let content: ReactionContent =
        postcard::from_bytes(&plain).map_err(|e| MomentError::Bounds(e.to_string()))?;
    content.check()?;
    Ok(content)
}

#[cfg(test)]
mod tests;
