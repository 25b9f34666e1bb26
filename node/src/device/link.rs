//! The primary's side: link codes, answering a joining device, and signing
//! each new version of the device list (join, rename, revoke).

use libp2p::PeerId;
use serde::{Deserialize, Serialize};
use weft_protocol::device::{
    link_respond, validate_device_name, DeviceEntry, DeviceList, DeviceListBody, DeviceReply,
    JoinReply, JoinRequest, LinkCode, MAX_DEVICES,
};
use weft_protocol::Kind;

use super::{peer_of, DeviceEvent, Devices, DevicesError};
use crate::store::device::LinkState;

/// How long a link code works.
pub const CODE_TTL_SECS: u64 = 5 * 60;
/// Wrong handshakes after which a code stops working.
pub const MAX_FAILURES: u32 = 5;

/// What `weft device link` shows.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LinkOffer {
    /// The code to type or paste on the new device.
    pub code: String,
    /// The same as a `weft://device/…` link (what the QR code holds).
    pub link: String,
    /// When it stops working (Unix milliseconds, the API's time unit).
    pub expires_at: u64,
}

fn refused(reason: &str) -> DeviceReply {
    DeviceReply::Refused {
        reason: reason.to_string(),
    }
}

impl Devices {
    /// `weft device link`: a one-use code, valid [`CODE_TTL_SECS`], that
    /// lets a new device join this account.
    pub async fn link(&self) -> Result<LinkOffer, DevicesError> {
        self.inner.ctx.identity.account_key()?;
        let addrs =
            crate::net::dialable(&self.inner.ctx.net.listen_addrs().await.unwrap_or_default());
        let code = LinkCode::generate(self.my_device_key(), addrs)?;
        let now = weft_protocol::unix_now();
        let expires_at = now + CODE_TTL_SECS;
        let state = LinkState {
            psk: code.psk(),
            expires_at,
            failures: 0,
            used: false,
        };
        self.store().put_link_code(&code.id(), &state, now)?;
        self.store().flush_async().await?;
        Ok(LinkOffer {
            code: code.to_text(),
            link: code.to_link(),
            expires_at: expires_at.saturating_mul(1000),
        })
    }

    /// Signs, keeps and hands out a new version of our list made by `change`.
    pub(super) async fn change_list(
        &self,
        change: impl FnOnce(&mut DeviceListBody) -> Result<(), DevicesError>,
    ) -> Result<DeviceList, DevicesError> {
        let key = self.inner.ctx.identity.account_key()?;
        let list = {
            let _one_at_a_time = self.inner.lock.lock().await;
            let current = self.ensure_own_list()?;
            let mut body = current.body.clone();
            change(&mut body)?;
            body.version += 1;
            body.issued_at = weft_protocol::unix_now().max(current.body.issued_at);
            let list = DeviceList::sign(key, body)?;
            self.store().put_device_list(&list)?;
            self.store().flush_async().await?;
            let now = list.endpoints();
            let removed = current.endpoints().iter().any(|e| !now.contains(e));
            self.inner
                .chat
                .devices_changed(&self.inner.ctx.me(), removed);
            list
        };
        let _ = self.inner.events.send(DeviceEvent::DevicesChanged {
            version: list.version(),
        });
        self.spawn_push(list.clone(), listed_peers(&list));
        self.announce(list.clone()).await;
        Ok(list)
    }

    /// `weft device rename NAME` on the primary, or for a device the primary
    /// was asked by.
    pub(super) async fn rename_device(
        &self,
        device_key: [u8; 32],
        name: &str,
    ) -> Result<DeviceList, DevicesError> {
        validate_device_name(name)?;
        let name = name.trim().to_string();
        self.change_list(|b| {
            let d = b
                .devices
                .iter_mut()
                .find(|d| d.device_key == device_key)
                .ok_or_else(|| DevicesError::Unknown("this device".into()))?;
            d.name = name;
            Ok(())
        })
        .await
    }

    /// `weft device revoke <device>`: takes a device off the list. Contacts
    /// stop sealing to it and refuse what it sends once they have the list.
    pub async fn revoke(&self, which: &str) -> Result<DeviceList, DevicesError> {
        self.inner.ctx.identity.account_key()?;
        let list = self.ensure_own_list()?;
        let key = self.find(&list, which)?;
        if key == list.body.primary {
            return Err(DevicesError::Primary);
        }
        let revoked = self
            .change_list(|b| {
                b.devices.retain(|d| d.device_key != key);
                Ok(())
            })
            .await?;
        // The revoked device is told too, so it knows to stop.
        if let Some(peer) = peer_of(&key) {
            self.spawn_push(revoked.clone(), vec![peer]);
        }
        Ok(revoked)
    }

    /// Answers a joining device: checks the code, marks it used (durably,
    /// before answering), certifies the device and signs a list with it.
    pub(super) async fn on_join(&self, peer: PeerId, code: [u8; 32], msg1: &[u8]) -> DeviceReply {
        let Ok(key) = self.inner.ctx.identity.account_key() else {
            return refused("this device is not the account's first device; link from there");
        };
        let now = weft_protocol::unix_now();
        let state = match self.store().link_code(&code) {
            Ok(Some(s)) => s,
            Ok(None) => {
                // Unknown ids are guesses (or long-expired codes): a shared
                // rate, so guessing cannot be sped up with fresh peer ids.
                if !self.inner.guesses.take() {
                    tracing::debug!(%peer, "too many unknown link codes");
                    return refused("too many attempts with unknown codes; try again in a minute");
                }
                return refused("unknown or expired code");
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read link codes");
                return refused("the device could not check the code");
            }
        };
        if state.used {
            return refused("this code was already used; make a new one with `weft device link`");
        }
        if state.expires_at <= now {
            return refused("this code has expired (codes work for 5 minutes)");
        }
        if state.failures >= MAX_FAILURES {
            return refused("too many wrong attempts with this code; make a new one");
        }
        let Ok((responder, payload)) = link_respond(&state.psk, msg1) else {
            let _ = self.inner.guesses.take();
            if let Err(e) = self.store().link_code_failed(&code) {
                tracing::warn!(error = %e, "cannot count a failed link attempt");
            }
            return refused("wrong code");
        };
        let Ok(req) = weft_protocol::decode::<JoinRequest>(Kind::JoinRequest, &payload) else {
            return refused("malformed join request");
        };
        if peer_of(&req.device_key) != Some(peer) {
            return refused("the device key is not the key of the connection");
        }
        if validate_device_name(&req.name).is_err() {
            return refused("a device name is 1 to 64 bytes, without control characters");
        }
        match self.store().use_link_code(&code) {
            Ok(true) => {}
            Ok(false) => return refused("this code was already used"),
            Err(e) => {
                tracing::error!(error = %e, "cannot mark a link code used");
                return refused("the device could not record the code");
            }
        }
        if let Err(e) = self.store().flush_async().await {
            tracing::error!(error = %e, "cannot flush a used link code");
            return refused("the device could not record the code");
        }
        let name = req.name.trim().to_string();
        let list = self
            .change_list(|b| {
                if b.devices.len() >= MAX_DEVICES {
                    return Err(DevicesError::Full);
                }
                if !b.devices.iter().any(|d| d.device_key == req.device_key) {
                    b.devices.push(DeviceEntry {
                        device_key: req.device_key,
                        name,
                        added_at: now,
                    });
                }
                Ok(())
            })
            .await;
        let list = match list {
            Ok(l) => l,
            Err(e) => return refused(&e.to_string()),
        };
        let reply = JoinReply {
            cert: key.certify_device(req.device_key, now),
            list,
            name: self.store().name().ok().flatten().unwrap_or_default(),
        };
        let sealed = weft_protocol::encode(Kind::JoinReply, &reply)
            .map_err(|e| e.to_string())
            .and_then(|bytes| responder.reply(&bytes).map_err(|e| e.to_string()));
        match sealed {
            Ok(msg2) => {
                tracing::info!(%peer, "a new device joined the account");
                DeviceReply::Joined { msg2 }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot answer a join");
                refused("the device could not answer")
            }
        }
    }
}

/// The peers of every device on `list` (they get the new version; a
/// revoked device is told by `revoke` itself).
fn listed_peers(list: &DeviceList) -> Vec<PeerId> {
    list.body
        .devices
        .iter()
        .filter_map(|d| peer_of(&d.device_key))
        .collect()
}
