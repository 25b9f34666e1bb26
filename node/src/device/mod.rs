//! One account on several devices (design: `docs/DEVICES.md`).
//!
//! The [`Devices`] handle keeps the account's signed device list: the
//! primary (the device holding the account key) makes one-use link codes,
//! answers a joining device on `/weft/device/1` (`link.rs`), signs a new list
//! for each change (join, rename, revoke) and hands it to the account's
//! other devices; a linked device keeps the newest list it is given and asks
//! the primary for changes it cannot sign itself.

mod history;
mod inbound;
mod join;
mod link;
mod service;

use std::sync::Arc;

use libp2p::PeerId;
use serde::{Deserialize, Serialize};
use weft_protocol::device::{DeviceError, DeviceList};

use crate::budget::RateLimit;
use crate::context::Context;
use crate::events::{EventFeed, EventRx};
use crate::home::NotPrimary;
use crate::net::NetError;
use crate::store::{Store, StoreError};

pub use history::DEFAULT_HISTORY;
pub use join::{join, JoinError};
pub use link::LinkOffer;

/// Why a device operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DevicesError {
    /// Needs the account key.
    #[error(transparent)]
    NotPrimary(#[from] NotPrimary),
    /// No device of ours matches.
    #[error("no device of this account matches {0:?} (see `weft device list`)")]
    Unknown(String),
    /// The primary cannot revoke itself.
    #[error(
        "this is the account's first device, which holds the account key; it cannot be revoked"
    )]
    Primary,
    /// The account already has the most devices it may have.
    #[error(
        "this account already has {} devices, the most it may have",
        weft_protocol::device::MAX_DEVICES
    )]
    Full,
    /// A list or a name was refused.
    #[error(transparent)]
    Invalid(#[from] DeviceError),
    /// The primary could not be asked.
    #[error("cannot reach the account's first device: {0}")]
    Unreachable(String),
    /// The primary said no.
    #[error("the account's first device refused: {0}")]
    Refused(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<NetError> for DevicesError {
    fn from(e: NetError) -> Self {
        DevicesError::Unreachable(e.to_string())
    }
}

/// One of our devices, as `weft device list` shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeviceView {
    /// Its libp2p peer id.
    pub peer_id: String,
    /// What it is called.
    pub name: String,
    /// Whether it is the device answering.
    pub this: bool,
    /// Whether it holds the account key.
    pub primary: bool,
    /// When it joined (Unix milliseconds, the API's time unit).
    pub added_at: u64,
    /// When it was last connected to this device (Unix milliseconds; now
    /// for this device and for connected ones), if ever.
    pub last_seen: Option<u64>,
}

/// Something that changed about our devices (`/v1/events`).
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DeviceEvent {
    /// The account's device list changed (a join, rename or revocation).
    DevicesChanged {
        /// The new list's version.
        version: u64,
    },
}

/// The devices service. Cheap to clone.
#[derive(Clone)]
pub struct Devices {
    inner: Arc<Inner>,
}

struct Inner {
    ctx: Context,
    /// Tells friends of a new list.
    chat: crate::chat::Chat,
    /// Join attempts naming a code we do not have: guesses, for everyone together.
    guesses: RateLimit,
    events: EventFeed<DeviceEvent>,
    /// One list change at a time (each signs the next version).
    lock: tokio::sync::Mutex<()>,
    /// Whether a history sync runs.
    syncing: std::sync::atomic::AtomicBool,
    /// Messages per conversation history sync brings.
    history_keep: u32,
}

/// The peer id behind a device key.
pub fn peer_of(device_key: &[u8; 32]) -> Option<PeerId> {
    let ed = libp2p::identity::ed25519::PublicKey::try_from_bytes(device_key).ok()?;
    Some(libp2p::identity::PublicKey::from(ed).to_peer_id())
}

impl Devices {
    fn store(&self) -> &Store {
        &self.inner.ctx.store
    }

    /// This device's key.
    fn my_device_key(&self) -> [u8; 32] {
        self.inner.ctx.identity.cert.body.device_key
    }

    /// Subscribes to device events.
    pub fn subscribe(&self) -> EventRx<DeviceEvent> {
        self.inner.events.subscribe()
    }

    /// Our account's current device list.
    pub fn own_list(&self) -> Result<Option<DeviceList>, DevicesError> {
        Ok(self.store().device_list(&self.inner.ctx.me())?)
    }

    /// `weft device list`.
    pub async fn list(&self) -> Result<Vec<DeviceView>, DevicesError> {
        let Some(list) = self.own_list()? else {
            return Ok(Vec::new());
        };
        let connected: Vec<PeerId> = self
            .inner
            .ctx
            .net
            .peers()
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.peer_id)
            .collect();
        let now = weft_protocol::unix_now();
        let me = self.my_device_key();
        let mut out = Vec::new();
        for d in &list.body.devices {
            let peer = peer_of(&d.device_key);
            let this = d.device_key == me;
            let last_seen = if this || peer.is_some_and(|p| connected.contains(&p)) {
                Some(now)
            } else {
                self.store().device_last_seen(&d.device_key)?
            };
            out.push(DeviceView {
                peer_id: peer.map(|p| p.to_string()).unwrap_or_default(),
                name: d.name.clone(),
                this,
                primary: d.device_key == list.body.primary,
                added_at: d.added_at.saturating_mul(1000),
                last_seen: last_seen.map(|s| s.saturating_mul(1000)),
            });
        }
        Ok(out)
    }

    /// The device of ours `which` names: a peer id, a unique prefix of
    /// one, or its name.
    fn find(&self, list: &DeviceList, which: &str) -> Result<[u8; 32], DevicesError> {
        let which = which.trim();
        let matches: Vec<[u8; 32]> = list
            .body
            .devices
            .iter()
            .filter(|d| {
                let peer = peer_of(&d.device_key)
                    .map(|p| p.to_string())
                    .unwrap_or_default();
                !which.is_empty() && (peer.starts_with(which) || d.name == which)
            })
            .map(|d| d.device_key)
            .collect();
        match matches.as_slice() {
            [one] => Ok(*one),
            _ => Err(DevicesError::Unknown(which.to_string())),
        }
    }
}
