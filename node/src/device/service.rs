//! Starting the devices service and its background task: keeping our own
//! list, noting when our devices are connected, pushing new lists to them.

use std::sync::Arc;
use std::time::Duration;

use libp2p::PeerId;
use weft_protocol::device::{DeviceList, DeviceReply, DeviceRequest};
use weft_protocol::Kind;

use super::{peer_of, DeviceEvent, Devices, DevicesError, Inner};
use crate::budget::RateLimit;
use crate::context::Context;
use crate::events::{EventFeed, RecvError};
use crate::home::Home;
use crate::net::{AppProtocol, NetEvent};

/// How long a push or a question to one of our devices may take.
const ASK_TIMEOUT: Duration = Duration::from_secs(10);

impl Devices {
    /// Starts the service. The primary makes the first list if it has none;
    /// a linked device keeps the list it was given when it joined.
    pub fn start(ctx: Context, home: &Home, chat: crate::chat::Chat) -> Result<Self, DevicesError> {
        let events = EventFeed::new(64);
        let devices = Devices {
            inner: Arc::new(Inner {
                ctx,
                chat,
                guesses: RateLimit::new(30, Duration::from_secs(60)),
                events,
                lock: tokio::sync::Mutex::new(()),
                syncing: std::sync::atomic::AtomicBool::new(false),
                history_keep: home
                    .read_joined()
                    .map(|j| j.history)
                    .unwrap_or(super::DEFAULT_HISTORY),
            }),
        };
        if devices.inner.ctx.identity.primary {
            let list = devices.ensure_own_list()?;
            // A change the node stopped before telling friends of.
            if devices.store().devices_announced()? < list.version() && list.version() > 1 {
                let d = devices.clone();
                tokio::spawn(async move { d.announce(list).await });
            }
        } else if let Ok(joined) = home.read_joined() {
            if joined.list.verify_for(&devices.inner.ctx.me()).is_ok() {
                devices.store().put_device_list(&joined.list)?;
            }
            // Reach the primary where it was when it made the code; from
            // then on the address book and the DHT know where it is.
            if let Some(peer) = peer_of(&joined.list.body.primary) {
                let addrs = joined
                    .primary_addrs
                    .iter()
                    .filter_map(|a| a.parse().ok())
                    .collect();
                let net = devices.inner.ctx.net.clone();
                tokio::spawn(async move {
                    if let Err(e) = net.dial_peer(peer, addrs).await {
                        tracing::debug!(error = %e, "cannot reach the first device yet");
                    }
                });
            }
        }
        let d = devices.clone();
        tokio::spawn(async move { d.run().await });
        Ok(devices)
    }

    /// Our list; on the primary, made (version 1, this device alone) if
    /// there is none yet.
    pub(super) fn ensure_own_list(&self) -> Result<DeviceList, DevicesError> {
        if let Some(l) = self.own_list()? {
            return Ok(l);
        }
        let key = self.inner.ctx.identity.account_key()?;
        let name = self
            .store()
            .name()?
            .map(|n| format!("{n}'s first device"))
            .unwrap_or_else(|| "First device".into());
        let name: String = name.chars().take(40).collect();
        let list = DeviceList::first(key, self.my_device_key(), &name, weft_protocol::unix_now())?;
        self.store().put_device_list(&list)?;
        Ok(list)
    }

    /// Whether this device was taken off the account's list.
    pub fn revoked(&self) -> bool {
        self.inner.chat.revoked()
    }

    /// `weft device rename NAME`: renames this device (a linked device asks
    /// the primary, which signs the list).
    pub async fn rename(&self, name: &str) -> Result<DeviceList, DevicesError> {
        weft_protocol::device::validate_device_name(name)?;
        if self.inner.ctx.identity.primary {
            return self.rename_device(self.my_device_key(), name).await;
        }
        let reply = self
            .ask_primary(DeviceRequest::Rename {
                name: name.trim().to_string(),
            })
            .await?;
        match reply {
            DeviceReply::List(list) => {
                self.take_list(&list)?;
                Ok(list)
            }
            DeviceReply::Refused { reason } => Err(DevicesError::Refused(reason)),
            _ => Err(DevicesError::Unreachable("unexpected answer".into())),
        }
    }

    /// Asks the primary (a linked device's question).
    async fn ask_primary(&self, req: DeviceRequest) -> Result<DeviceReply, DevicesError> {
        let list = self
            .own_list()?
            .ok_or_else(|| DevicesError::Unreachable("no device list yet".into()))?;
        let peer = peer_of(&list.body.primary)
            .ok_or_else(|| DevicesError::Unreachable("bad primary key".into()))?;
        self.ask(peer, &req).await
    }

    pub(super) async fn ask(
        &self,
        peer: PeerId,
        req: &DeviceRequest,
    ) -> Result<DeviceReply, DevicesError> {
        let bytes = weft_protocol::encode(Kind::DeviceRequest, req)
            .map_err(|e| DevicesError::Unreachable(e.to_string()))?;
        let net = &self.inner.ctx.net;
        let answer = tokio::time::timeout(ASK_TIMEOUT, async {
            let _ = net.dial_peer(peer, Vec::new()).await;
            net.request(AppProtocol::Device, peer, bytes).await
        })
        .await
        .map_err(|_| DevicesError::Unreachable("no answer".into()))??;
        weft_protocol::decode(Kind::DeviceReply, &answer)
            .map_err(|e| DevicesError::Unreachable(e.to_string()))
    }

    /// Keeps `list` if it is our account's, verifies and is newer.
    pub(super) fn take_list(&self, list: &DeviceList) -> Result<bool, DevicesError> {
        let me = self.inner.ctx.me();
        list.verify_for(&me)?;
        let before = self.inner.chat.endpoints_of(&me);
        let newer = self.store().put_device_list(list)? == crate::store::device::ListUpdate::Newer;
        if newer {
            let now = list.endpoints();
            self.inner
                .chat
                .devices_changed(&me, before.iter().any(|e| !now.contains(e)));
            let _ = self.inner.events.send(DeviceEvent::DevicesChanged {
                version: list.version(),
            });
            if self.revoked() {
                tracing::warn!("this device was removed from the account's device list");
            }
        }
        Ok(newer)
    }

    /// Tells every friend of `list` (durably queued), then records it.
    pub(super) async fn announce(&self, list: DeviceList) {
        match self.inner.chat.announce_devices(list.clone()).await {
            Ok(()) => {
                if let Err(e) = self.store().set_devices_announced(list.version()) {
                    tracing::warn!(error = %e, "cannot record the announced device list");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot tell friends of the device list"),
        }
    }

    /// Hands `list` to `peers` (our devices), in the background.
    pub(super) fn spawn_push(&self, list: DeviceList, peers: Vec<PeerId>) {
        let me = self.inner.ctx.net.peer_id();
        let d = self.clone();
        tokio::spawn(async move {
            for peer in peers.into_iter().filter(|p| *p != me) {
                if let Err(e) = d.ask(peer, &DeviceRequest::List(list.clone())).await {
                    tracing::debug!(%peer, error = %e, "could not hand the device list over");
                }
            }
        });
    }

    /// Notes when our devices connect; a linked device asks the primary
    /// for the newest list each time it connects to it.
    async fn run(self) {
        let mut net = self.inner.ctx.net.subscribe();
        let mut shutdown = self.inner.ctx.shutdown.clone();
        loop {
            let ev = tokio::select! {
                ev = net.recv() => ev,
                _ = shutdown.wait_for(|s| *s) => return,
            };
            let peer = match ev {
                Ok(NetEvent::PeerConnected { peer_id, .. })
                | Ok(NetEvent::PeerDisconnected { peer_id }) => peer_id,
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            };
            let Ok(Some(list)) = self.own_list() else {
                continue;
            };
            let Some(d) = list
                .body
                .devices
                .iter()
                .find(|d| peer_of(&d.device_key) == Some(peer))
            else {
                continue;
            };
            if let Err(e) = self
                .store()
                .device_seen_at(&d.device_key, weft_protocol::unix_now())
            {
                tracing::warn!(error = %e, "cannot note a device's last connection");
            }
            if !self.inner.ctx.identity.primary && d.device_key == list.body.primary {
                self.spawn_history_sync(peer);
                let me = self.clone();
                tokio::spawn(async move {
                    if let Ok(DeviceReply::List(l)) = me.ask_primary(DeviceRequest::GetList).await {
                        let _ = me.take_list(&l);
                    }
                });
            }
        }
    }
}
