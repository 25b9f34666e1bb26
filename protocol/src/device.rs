//! One account on several devices (design: `docs/DEVICES.md`).
//!
//! - [`DeviceList`]: the account's signed list of its devices. The first
//!   device (the *primary*) holds the account key and signs the list; every
//!   other device is *linked*: it has its own device key, which is also its
//!   end-to-end key. A list's `version` only grows, so a list replayed from
//!   before a revocation is refused by whoever has seen a newer one.
//! - An account's **endpoints** are the keys messages are sealed to: the
//!   account key (which the primary holds) and each linked device's key.
//! - [`LinkCode`]: a one-use code the primary shows (text, `weft://device/…`
//!   link, QR code). It carries a 16-byte secret and how to reach the
//!   primary. The new device proves it holds the code by completing a
//!   `Noise_NNpsk0` handshake keyed by the secret ([`link_initiate`],
//!   [`link_respond`]): a wrong code fails the first message, and a
//!   recorded handshake gives nothing to whoever did not have the code.

use std::fmt;

use serde::{Deserialize, Serialize};
use snow::{Builder, HandshakeState};

use crate::identity::{AccountId, AccountKey, DeviceCertificate, IdError, SignatureBytes};
use crate::seal::{SealError, MAX_NOISE_MSG};

/// Most devices one account may have (the primary included).
pub const MAX_DEVICES: usize = 16;
/// Longest device name, in bytes.
pub const MAX_DEVICE_NAME: usize = 64;
/// Most addresses a link code carries.
pub const MAX_CODE_ADDRS: usize = 8;
/// Longest address in a link code, in bytes.
const MAX_CODE_ADDR_LEN: usize = 256;
/// Longest link code text accepted (the `weft://device/` prefix included).
pub const MAX_CODE_TEXT: usize = 4096;
/// The scheme and path of a device link.
pub const LINK_PREFIX: &str = "weft://device/";

const LIST_CONTEXT: &str = "weft/device-list/1";
const LINK_PATTERN: &str = "Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s";
const LINK_PROLOGUE: &[u8] = b"weft/device-link/1";

/// Why a device list, a code or a link message was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeviceError {
    /// A field is out of bounds or the list is inconsistent.
    #[error("device list: {0}")]
    Bounds(&'static str),
    /// A signature or a key is wrong.
    #[error(transparent)]
    Id(#[from] IdError),
    /// The list was signed for another account than expected.
    #[error("the device list is for another account")]
    WrongAccount,
    /// The code's text is not a Weft device code.
    #[error("not a device code: {0}")]
    BadCode(&'static str),
    /// The link handshake failed (a wrong or used code, or damaged bytes).
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// One device on an account's list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceEntry {
    /// Its ed25519 device key (behind its libp2p PeerId).
    pub device_key: [u8; 32],
    /// What the user calls it ("Laptop", "Phone").
    pub name: String,
    /// When it joined (Unix seconds).
    pub added_at: u64,
}

/// The signed part of a device list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceListBody {
    /// The account whose devices these are.
    pub account: AccountId,
    /// Grows with every change; a lower version never replaces a higher one.
    pub version: u64,
    /// The device key of the primary (the one holding the account key). It is
    /// also in `devices`.
    pub primary: [u8; 32],
    /// Every current device, the primary included.
    pub devices: Vec<DeviceEntry>,
    /// When this version was made (Unix seconds).
    pub issued_at: u64,
}

/// An account's device list and the account's signature over it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceList {
    /// What the list says.
    pub body: DeviceListBody,
    /// Account signature over the postcard bytes of `body`.
    pub signature: SignatureBytes,
}

/// Checks a device name: 1 to [`MAX_DEVICE_NAME`] bytes, no control characters.
pub fn validate_device_name(name: &str) -> Result<(), DeviceError> {
    if name.trim().is_empty() || name.len() > MAX_DEVICE_NAME {
        return Err(DeviceError::Bounds("a device name is 1 to 64 bytes"));
    }
    if name.chars().any(char::is_control) {
        return Err(DeviceError::Bounds(
            "a device name has no control characters",
        ));
    }
    Ok(())
}

impl DeviceListBody {
    fn canonical(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }

    fn check(&self) -> Result<(), DeviceError> {
        if self.devices.is_empty() || self.devices.len() > MAX_DEVICES {
            return Err(DeviceError::Bounds("an account has 1 to 16 devices"));
        }
        let mut keys: Vec<[u8; 32]> = self.devices.iter().map(|d| d.device_key).collect();
        keys.sort_unstable();
        if keys.windows(2).any(|w| w[0] == w[1]) {
            return Err(DeviceError::Bounds("a device is listed twice"));
        }
        if !keys.contains(&self.primary) {
            return Err(DeviceError::Bounds("the primary is not on the list"));
        }
        if keys.contains(&self.account.0) {
            return Err(DeviceError::Bounds("the account key is not a device key"));
        }
        for d in &self.devices {
            validate_device_name(&d.name)?;
        }
        Ok(())
    }
}

impl DeviceList {
    /// Signs `body` with the account key.
    pub fn sign(key: &AccountKey, body: DeviceListBody) -> Result<Self, DeviceError> {
        if body.account != key.account_id() {
            return Err(DeviceError::WrongAccount);
        }
        body.check()?;
        let signature = key.sign(LIST_CONTEXT, &body.canonical());
        Ok(Self { body, signature })
    }

    /// The first list of an account: its primary alone, version 1.
    pub fn first(
        key: &AccountKey,
        primary: [u8; 32],
        name: &str,
        at: u64,
    ) -> Result<Self, DeviceError> {
        Self::sign(
            key,
            DeviceListBody {
                account: key.account_id(),
                version: 1,
                primary,
                devices: vec![DeviceEntry {
                    device_key: primary,
                    name: name.to_string(),
                    added_at: at,
                }],
                issued_at: at,
            },
        )
    }

    /// Checks bounds, consistency and the account's signature.
    pub fn verify(&self) -> Result<(), DeviceError> {
        self.body.check()?;
        self.body
            .account
            .verify(LIST_CONTEXT, &self.body.canonical(), &self.signature)?;
        Ok(())
    }

    /// [`Self::verify`], and that the list is `account`'s.
    pub fn verify_for(&self, account: &AccountId) -> Result<(), DeviceError> {
        if self.body.account != *account {
            return Err(DeviceError::WrongAccount);
        }
        self.verify()
    }

    /// The account.
    pub fn account(&self) -> AccountId {
        self.body.account
    }

    /// The version.
    pub fn version(&self) -> u64 {
        self.body.version
    }

    /// Whether `device_key` is on the list.
    pub fn has_device(&self, device_key: &[u8; 32]) -> bool {
        self.body
            .devices
            .iter()
            .any(|d| d.device_key == *device_key)
    }

    /// The keys messages to this account are sealed to: the account key
    /// (the primary opens with it) and each linked device's key.
    pub fn endpoints(&self) -> Vec<AccountId> {
        let mut out = vec![self.body.account];
        out.extend(
            self.body
                .devices
                .iter()
                .filter(|d| d.device_key != self.body.primary)
                .map(|d| AccountId(d.device_key)),
        );
        out
    }

    /// Whether `endpoint` is one of [`Self::endpoints`].
    pub fn is_endpoint(&self, endpoint: &AccountId) -> bool {
        *endpoint == self.body.account
            || (endpoint.0 != self.body.primary && self.has_device(&endpoint.0))
    }

    /// The device key behind `endpoint` (the primary's for the account key).
    pub fn device_of(&self, endpoint: &AccountId) -> Option<[u8; 32]> {
        if *endpoint == self.body.account {
            return Some(self.body.primary);
        }
        (endpoint.0 != self.body.primary && self.has_device(&endpoint.0)).then_some(endpoint.0)
    }

    /// The endpoint `device_key` opens messages with, if it is listed.
    pub fn endpoint_of(&self, device_key: &[u8; 32]) -> Option<AccountId> {
        if *device_key == self.body.primary {
            return Some(self.body.account);
        }
        self.has_device(device_key)
            .then_some(AccountId(*device_key))
    }

    /// The entry for `device_key`.
    pub fn entry(&self, device_key: &[u8; 32]) -> Option<&DeviceEntry> {
        self.body
            .devices
            .iter()
            .find(|d| d.device_key == *device_key)
    }
}

/// A one-use code that lets a new device join an account.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkCode {
    /// The shared secret (never sent over the network).
    pub secret: [u8; 16],
    /// The primary's device key (its PeerId).
    pub device: [u8; 32],
    /// Addresses the primary listens on.
    pub addrs: Vec<String>,
}

impl fmt::Debug for LinkCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkCode")
            .field("device", &crate::hex::encode(&self.device))
            .field("addrs", &self.addrs)
            .finish_non_exhaustive()
    }
}

impl LinkCode {
    /// A fresh code for the primary `device` reachable at `addrs`.
    pub fn generate(device: [u8; 32], addrs: Vec<String>) -> Result<Self, DeviceError> {
        let mut secret = [0u8; 16];
        getrandom::fill(&mut secret).map_err(IdError::Random)?;
        Ok(Self {
            secret,
            device,
            addrs: addrs
                .into_iter()
                .filter(|a| a.len() <= MAX_CODE_ADDR_LEN)
                .take(MAX_CODE_ADDRS)
                .collect(),
        })
    }

    /// The code as text (base58 of its postcard bytes).
    pub fn to_text(&self) -> String {
        bs58::encode(postcard::to_stdvec(self).unwrap_or_default()).into_string()
    }

    /// The code as a `weft://device/…` link.
    pub fn to_link(&self) -> String {
        format!("{LINK_PREFIX}{}", self.to_text())
    }

    /// Reads a code from its text or its link.
    pub fn parse(text: &str) -> Result<Self, DeviceError> {
        let text = text.trim();
        if text.len() > MAX_CODE_TEXT {
            return Err(DeviceError::BadCode("too long"));
        }
        let body = text.strip_prefix(LINK_PREFIX).unwrap_or(text);
        let bytes = bs58::decode(body)
            .into_vec()
            .map_err(|_| DeviceError::BadCode("not base58"))?;
        let (code, rest): (LinkCode, _) =
            postcard::take_from_bytes(&bytes).map_err(|_| DeviceError::BadCode("malformed"))?;
        if !rest.is_empty() {
            return Err(DeviceError::BadCode("trailing bytes"));
        }
        if code.addrs.len() > MAX_CODE_ADDRS
            || code.addrs.iter().any(|a| a.len() > MAX_CODE_ADDR_LEN)
        {
            return Err(DeviceError::BadCode("too many or too long addresses"));
        }
        Ok(code)
    }

    /// The handshake's pre-shared key, derived from the secret.
    pub fn psk(&self) -> [u8; 32] {
        psk_of(&self.secret)
    }

    /// What names the code on the wire: derived from the secret, but tells
    /// nothing about the key.
    pub fn id(&self) -> [u8; 32] {
        code_id_of(&self.secret)
    }
}

/// The pre-shared key of a code's secret.
pub fn psk_of(secret: &[u8; 16]) -> [u8; 32] {
    blake3::derive_key("weft device link v1 psk", secret)
}

/// The public id of a code's secret.
pub fn code_id_of(secret: &[u8; 16]) -> [u8; 32] {
    blake3::derive_key("weft device link v1 id", secret)
}

/// What the new device asks, inside the handshake's first message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    /// The new device's ed25519 key (its PeerId; the primary checks it is
    /// the key of the connection the request came on).
    pub device_key: [u8; 32],
    /// What to call it.
    pub name: String,
}

/// What the primary answers, inside the handshake's second message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinReply {
    /// The new device's certificate.
    pub cert: DeviceCertificate,
    /// The device list with the new device on it.
    pub list: DeviceList,
    /// The account's display name.
    pub name: String,
}

/// A `/weft/device/1` request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceRequest {
    /// Join with a code: its id and the first handshake message.
    Join {
        /// [`LinkCode::id`].
        code: [u8; 32],
        /// [`link_initiate`]'s message.
        msg1: Vec<u8>,
    },
    /// The account's newest device list, pushed to its devices after a change.
    List(DeviceList),
    /// A linked device asks the primary to rename it.
    Rename {
        /// The new name.
        name: String,
    },
    /// A device asks another of its account for the newest list.
    GetList,
    /// A device asks another of its account for its contacts (and their
    /// device lists): the first step of history sync.
    Contacts,
    /// A device asks for one conversation's history: the last `keep`
    /// messages, from after `after` (a cursor from the previous page).
    History {
        /// The conversation (the other account).
        conv: AccountId,
        /// How many of the newest messages to sync at most.
        keep: u32,
        /// Where the previous page stopped.
        after: Option<Vec<u8>>,
    },
    /// A device asks for the ids of the groups the account holds.
    Groups,
    /// A device asks for one group's history: the last `keep` messages,
    /// from after `after`.
    GroupHistory {
        /// The group.
        group: crate::group::GroupId,
        /// How many of the newest messages to sync at most.
        keep: u32,
        /// Where the previous page stopped.
        after: Option<Vec<u8>>,
    },
}

/// Most groups one [`DeviceReply::Groups`] names.
pub const MAX_SYNC_GROUPS: usize = 500;

/// Most contacts one [`DeviceReply::Contacts`] carries.
pub const MAX_SYNC_CONTACTS: usize = 2000;
/// Most messages one history page carries.
pub const MAX_SYNC_MESSAGES: usize = 500;
/// Longest history cursor.
pub const MAX_CURSOR: usize = 128;

/// A contact as history sync hands it to another device of the account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncContact {
    /// Their account.
    pub account: AccountId,
    /// Their display name.
    pub name: String,
    /// Our remark for them.
    pub remark: Option<String>,
    /// Friend, request sent, request received, blocked (the node's codes).
    pub state: u8,
    /// Their greeting, for a request received.
    pub greeting: Option<String>,
    /// Their card.
    pub card: Option<crate::Card>,
}

/// A logged message as history sync hands it over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncMessage {
    /// Its id.
    pub id: crate::chat::MsgId,
    /// Who wrote it (us or the other account).
    pub from: AccountId,
    /// The writer's sequence number.
    pub seq: u64,
    /// The writer's clock (Unix ms).
    pub sent_at_ms: u64,
    /// Its text or caption.
    pub text: String,
    /// What it replies to.
    pub reply_to: Option<crate::chat::MsgId>,
    /// Its status (the node's codes).
    pub status: u8,
    /// Its attachment.
    pub attachment: Option<crate::file::Attachment>,
}

/// A group message as history sync hands it over (already opened: the
/// answering device is one of ours).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncGroupMessage {
    /// Its id (of the wire).
    pub id: crate::chat::MsgId,
    /// Its sender.
    pub from: AccountId,
    /// The sender's counter.
    pub seq: u64,
    /// Its Lamport time (the group's display order).
    pub lamport: u64,
    /// The sender's clock (Unix ms).
    pub sent_at_ms: u64,
    /// Text or caption.
    pub text: String,
    /// What it quotes.
    pub reply_to: Option<crate::chat::MsgId>,
    /// Who it mentions.
    pub mentions: Vec<AccountId>,
    /// `@all`.
    pub all: bool,
    /// Taken back by its sender.
    pub recalled: bool,
    /// Its attachment.
    pub attachment: Option<crate::file::Attachment>,
}

impl SyncGroupMessage {
    /// Bounds.
    pub fn check(&self) -> Result<(), DeviceError> {
        if self.text.len() > crate::group::MAX_TEXT
            || self.mentions.len() > crate::group::MAX_MENTIONS
        {
            return Err(DeviceError::Bounds("a synced group message is too large"));
        }
        if let Some(a) = &self.attachment {
            a.check()
                .map_err(|_| DeviceError::Bounds("a synced attachment is malformed"))?;
        }
        Ok(())
    }
}

impl SyncContact {
    /// Bounds, and that a card is the contact's own and verifies.
    pub fn check(&self) -> Result<(), DeviceError> {
        if self.name.len() > crate::MAX_NAME_LEN
            || self
                .remark
                .as_ref()
                .is_some_and(|r| r.len() > crate::MAX_NAME_LEN)
            || self
                .greeting
                .as_ref()
                .is_some_and(|g| g.len() > crate::chat::MAX_GREETING_BYTES)
        {
            return Err(DeviceError::Bounds("a synced contact is too large"));
        }
        if let Some(c) = &self.card {
            if c.verify().is_err() || c.account() != self.account {
                return Err(DeviceError::Bounds(
                    "a synced contact's card does not verify",
                ));
            }
        }
        Ok(())
    }
}

impl SyncMessage {
    /// Bounds.
    pub fn check(&self) -> Result<(), DeviceError> {
        if self.text.len() > crate::chat::MAX_TEXT_BYTES {
            return Err(DeviceError::Bounds("a synced message is too long"));
        }
        if let Some(a) = &self.attachment {
            a.check()
                .map_err(|_| DeviceError::Bounds("a synced attachment is malformed"))?;
        }
        Ok(())
    }
}

/// A `/weft/device/1` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceReply {
    /// The handshake's second message, carrying a [`JoinReply`].
    Joined {
        /// [`LinkResponder::reply`]'s message.
        msg2: Vec<u8>,
    },
    /// The newest list (after a rename, or asked for).
    List(DeviceList),
    /// Taken.
    Done,
    /// Our contacts and the device lists we hold for them.
    Contacts {
        /// At most [`MAX_SYNC_CONTACTS`].
        contacts: Vec<SyncContact>,
        /// Their device lists.
        lists: Vec<DeviceList>,
    },
    /// A page of one conversation, oldest first.
    History {
        /// At most [`MAX_SYNC_MESSAGES`].
        messages: Vec<SyncMessage>,
        /// Where to ask from next; `None` when this was the last page.
        next: Option<Vec<u8>>,
    },
    /// Refused, and why (for the user on the asking device).
    Refused {
        /// A sentence.
        reason: String,
    },
    /// The groups the account holds.
    Groups {
        /// At most [`MAX_SYNC_GROUPS`].
        ids: Vec<crate::group::GroupId>,
    },
    /// A page of one group, oldest first.
    GroupHistory {
        /// At most [`MAX_SYNC_MESSAGES`].
        messages: Vec<SyncGroupMessage>,
        /// Where to ask from next; `None` when this was the last page.
        next: Option<Vec<u8>>,
    },
}

/// The joining side of the link handshake, waiting for message 2.
pub struct LinkInitiator(HandshakeState);

/// The primary's side, which has read message 1.
pub struct LinkResponder(HandshakeState);

fn builder(psk: &[u8; 32]) -> Result<Builder<'_>, SealError> {
    let pattern = LINK_PATTERN
        .parse()
        .map_err(|e| SealError::Noise(format!("link pattern: {e}")))?;
    Builder::new(pattern)
        .prologue(LINK_PROLOGUE)
        .and_then(|b| b.psk(0, psk))
        .map_err(|e| SealError::Noise(format!("link handshake: {e}")))
}

fn noise_err(step: &'static str) -> impl Fn(snow::Error) -> SealError {
    move |e| SealError::Noise(format!("{step}: {e}"))
}

/// Starts the link handshake: message 1 carries `payload`, readable only
/// with the same code.
pub fn link_initiate(
    psk: &[u8; 32],
    payload: &[u8],
) -> Result<(LinkInitiator, Vec<u8>), SealError> {
    const STEP: &str = "cannot start the link handshake";
    let mut state = builder(psk)?.build_initiator().map_err(noise_err(STEP))?;
    let mut out = vec![0u8; MAX_NOISE_MSG];
    let n = state
        .write_message(payload, &mut out)
        .map_err(noise_err(STEP))?;
    out.truncate(n);
    Ok((LinkInitiator(state), out))
}

fn read(state: &mut HandshakeState, msg: &[u8], step: &'static str) -> Result<Vec<u8>, SealError> {
    if msg.len() > MAX_NOISE_MSG {
        return Err(SealError::TooLarge {
            size: msg.len(),
            limit: MAX_NOISE_MSG,
        });
    }
    let mut payload = vec![0u8; msg.len()];
    let n = state
        .read_message(msg, &mut payload)
        .map_err(noise_err(step))?;
    payload.truncate(n);
    Ok(payload)
}

/// Reads message 1 with `psk`: fails unless the sender had the same code.
pub fn link_respond(psk: &[u8; 32], msg1: &[u8]) -> Result<(LinkResponder, Vec<u8>), SealError> {
    const STEP: &str = "wrong or damaged link code";
    let mut state = builder(psk)?.build_responder().map_err(noise_err(STEP))?;
    let payload = read(&mut state, msg1, STEP)?;
    Ok((LinkResponder(state), payload))
}

impl LinkResponder {
    /// Message 2, carrying `payload`.
    pub fn reply(mut self, payload: &[u8]) -> Result<Vec<u8>, SealError> {
        const STEP: &str = "cannot answer the link handshake";
        let mut out = vec![0u8; MAX_NOISE_MSG];
        let n = self
            .0
            .write_message(payload, &mut out)
            .map_err(noise_err(STEP))?;
        out.truncate(n);
        Ok(out)
    }
}

impl LinkInitiator {
    /// Reads message 2: only the holder of the same code could have made it.
    pub fn finish(mut self, msg2: &[u8]) -> Result<Vec<u8>, SealError> {
        read(
            &mut self.0,
            msg2,
            "the link answer is not from the code's device",
        )
    }
}

#[cfg(test)]
mod tests;
