//! Accounts with several devices (`docs/DEVICES.md`): where a message is
//! sealed to, and whether a sender's key speaks for the account it names.
//!
//! An account's *endpoints* are the account key (its first device opens
//! with it) and each linked device's key, from the newest signed device list
//! we hold for it. A message to a friend is sealed once per endpoint of the
//! friend and once per endpoint of our own account other than this device,
//! so it shows on every device of both; every copy has the same message id,
//! so each device keeps it once.

use libp2p::PeerId;
use weft_protocol::{device::DeviceList, AccountId};

use super::Chat;
use crate::device::peer_of;
use crate::store::device::ListUpdate;

/// Noise keys [`Chat::noise_key`] remembers at most (a few KiB).
const NOISE_KEYS: usize = 1024;

impl Chat {
    /// This device's endpoint (the account id on the first device).
    pub(crate) fn endpoint(&self) -> AccountId {
        self.inner.ctx.identity.endpoint()
    }

    /// The endpoints of `account` to seal to: its list's, or the account
    /// key alone when we hold no list.
    pub(crate) fn endpoints_of(&self, account: &AccountId) -> Vec<AccountId> {
        match self.store().device_list(account) {
            Ok(Some(list)) => list.endpoints(),
            _ => vec![*account],
        }
    }

    /// Every endpoint of `accounts` to seal or wrap a key for: each one's
    /// devices, and for our own account our devices other than this one;
    /// each once.
    pub(crate) fn endpoints_for(&self, accounts: &[AccountId]) -> Vec<AccountId> {
        let me = self.me();
        let mut v = Vec::new();
        for a in accounts {
            let endpoints = if *a == me {
                self.own_other_endpoints()
            } else {
                self.endpoints_of(a)
            };
            for e in endpoints {
                if !v.contains(&e) {
                    v.push(e);
                }
            }
        }
        v
    }

    /// Our account's endpoints other than this device.
    pub(crate) fn own_other_endpoints(&self) -> Vec<AccountId> {
        let me = self.endpoint();
        self.endpoints_of(&self.me())
            .into_iter()
            .filter(|e| *e != me)
            .collect()
    }

    /// Whether this device was taken off our account's list: it no longer
    /// speaks for the account.
    pub(crate) fn revoked(&self) -> bool {
        let identity = &self.inner.ctx.identity;
        !identity.primary
            && matches!(
                self.store().device_list(&self.me()),
                Ok(Some(l)) if !l.has_device(&identity.cert.body.device_key)
            )
    }

    /// Whether `endpoint` is one of our own account's (this device included).
    pub(crate) fn is_own_endpoint(&self, endpoint: &AccountId) -> bool {
        *endpoint == self.me() || self.endpoints_of(&self.me()).contains(endpoint)
    }

    /// Whether the Noise static key `static_key` speaks for `account`: the
    /// account key itself, or a device on the newest list we hold for it (a
    /// revoked device is no longer on it).
    pub(crate) fn speaks_for(&self, account: &AccountId, static_key: &[u8; 32]) -> bool {
        let is = |a: &AccountId| self.noise_key(a).as_ref() == Some(static_key);
        is(account) || self.endpoints_of(account).iter().any(is)
    }

    /// `account`'s Noise static key (what
    /// [`weft_protocol::seal::sender_matches`] compares with), remembered:
    /// working it out (decompressing the Ed25519 point, then a field
    /// inversion) costs more than opening a message, and every message in
    /// a session asks for the same few keys. At most [`NOISE_KEYS`] are
    /// kept; when full, the memory starts again.
    fn noise_key(&self, account: &AccountId) -> Option<[u8; 32]> {
        let Ok(mut keys) = self.inner.noise_keys.lock() else {
            return account.noise_public().ok();
        };
        if let Some(k) = keys.get(account) {
            return *k;
        }
        let k = account.noise_public().ok();
        if keys.len() >= NOISE_KEYS {
            keys.clear();
        }
        keys.insert(*account, k);
        k
    }

    /// Keeps a device list `account` sent about itself if it verifies and is
    /// newer than ours; true if it was kept.
    pub(crate) fn take_device_list(&self, account: &AccountId, list: &DeviceList) -> bool {
        if list.verify_for(account).is_err() {
            return false;
        }
        let before = self.endpoints_of(account);
        if !matches!(self.store().put_device_list(list), Ok(ListUpdate::Newer)) {
            return false;
        }
        // A device taken off the list gets nothing more from us, not even
        // what was queued for it before.
        let now = list.endpoints();
        for gone in before.iter().filter(|e| !now.contains(e)) {
            if let Err(e) = self.store().outbox_drop_endpoint(gone) {
                tracing::warn!(error = %e, "cannot drop mail queued for a revoked device");
            }
        }
        let removed = before.iter().any(|e| !now.contains(e));
        self.devices_changed(account, removed);
        true
    }

    /// Tells the group service that `account`'s devices changed.
    pub(crate) fn devices_changed(&self, account: &AccountId, removed: bool) {
        if let Some(inbox) = self.inner.group_inbox.get() {
            inbox.devices_changed(account, removed);
        }
        // A device just linked, ours or a friend's, gets our Moments topic
        // key from our first device (the others got it when it was given).
        if removed || !self.inner.ctx.identity.primary {
            return;
        }
        let friend = matches!(
            self.store().contact(account),
            Ok(Some(c)) if c.state == crate::store::chat::ContactState::Friend
        );
        if *account != self.me() && !friend {
            return;
        }
        if let Ok(Some(own)) = self.store().own_topic_key() {
            let me = self.clone();
            let to = *account;
            tokio::spawn(async move {
                if to == me.me() && me.own_other_endpoints().is_empty() {
                    return;
                }
                let kind = weft_protocol::chat::ChatKind::MomentsKey { key: own.key };
                if let Err(e) = me.enqueue(to, kind).await {
                    tracing::warn!(error = %e, "cannot give new devices our Moments key");
                }
            });
        }
    }

    /// Tells every friend our account's new device list (the first device
    /// does, after a change), through the durable outbox.
    pub(crate) async fn announce_devices(&self, list: DeviceList) -> Result<(), super::ChatError> {
        // Friends, and everyone we share a group with (they hand our
        // devices their group chains).
        let mut friends: Vec<AccountId> = self
            .store()
            .contacts()?
            .into_iter()
            .filter(|c| c.state == crate::store::chat::ContactState::Friend)
            .map(|c| c.account)
            .collect();
        if let Some(inbox) = self.inner.group_inbox.get() {
            friends.extend(inbox.group_peers());
        }
        let me = self.me();
        friends.retain(|a| *a != me);
        friends.sort();
        friends.dedup();
        let items = friends
            .into_iter()
            .map(|f| {
                (
                    f,
                    weft_protocol::chat::ChatKind::Devices { list: list.clone() },
                )
            })
            .collect();
        self.enqueue_many(items).await
    }

    /// The device that opens with `endpoint` (queued in the conversation
    /// `conv`), when a device list says: the first device of an account
    /// whose list we hold, or a linked device on our list or `conv`'s.
    /// `None` otherwise (an account without a list: any of its connected
    /// devices, its card or its DHT record).
    pub(super) fn endpoint_peer(
        &self,
        endpoint: &AccountId,
        conv: Option<&AccountId>,
    ) -> Option<PeerId> {
        let me = self.me();
        let owners = [Some(*endpoint), Some(me), conv.copied()];
        for owner in owners.into_iter().flatten() {
            if let Ok(Some(list)) = self.store().device_list(&owner) {
                if let Some(device) = list.device_of(endpoint) {
                    return peer_of(&device);
                }
            }
        }
        None
    }

    /// The endpoint the device `peer` of `account` opens with, per the list
    /// we hold (`None` without a list, or for a device not on it).
    pub(super) fn endpoint_of_peer(&self, account: &AccountId, peer: &PeerId) -> Option<AccountId> {
        let list = self.store().device_list(account).ok().flatten()?;
        list.body
            .devices
            .iter()
            .find(|d| peer_of(&d.device_key).as_ref() == Some(peer))
            .and_then(|d| list.endpoint_of(&d.device_key))
    }

    /// Our own account's device list, for a delivery to carry when the
    /// account has more than one device.
    pub(super) fn list_to_carry(&self) -> Option<DeviceList> {
        self.store()
            .device_list(&self.me())
            .ok()
            .flatten()
            .filter(|l| l.body.devices.len() > 1 || l.version() > 1)
    }
}
