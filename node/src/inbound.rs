//! The inbound router: where a peer's request goes.
//!
//! The network actor (`crate::net`) knows protocols, not services: for every
//! request a peer opens on one of the application protocols it hands an
//! [`InboundRequest`] to one channel. This router reads that channel and
//! routes each request by its protocol to the service that owns it
//! (`/weft/chat/1` and `/weft/mailbox/1` to chat, `/weft/profile/1` to
//! nearby, `/weft/oa/1` to official accounts, `/weft/blob/1` to blobs,
//! `/weft/sync/1` to moments, `/weft/group/1` to groups, `/weft/file/1` to
//! files), then sends the service's answer back through
//! the network actor, or closes the stream if the service declined.
//!
//! Each request runs in its own task so a slow one (a store flush, a DHT
//! lookup) does not hold up the others, but at most [`CONCURRENT_REQUESTS`]
//! run at once: a flood of requests waits in the bounded channel instead of
//! spawning without limit, and once the channel is full the network actor
//! drops further requests (the peers' requests fail; they retry). One peer
//! may have at most [`PER_PEER_REQUESTS`] of those running or waiting; its
//! further requests are declined at once, so a single peer cannot take the
//! shared permits and stall everyone's chat, mail, sync, OA and blobs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use libp2p::PeerId;
use tokio::sync::{mpsc, watch, Semaphore};

use crate::blobs::Blobs;
use crate::chat::Chat;
use crate::context::Context;
use crate::moments::Moments;
use crate::nearby::Nearby;
use crate::net::{AppProtocol, InboundRequest};
use crate::oa::Oa;

/// Requests from peers handled at once.
const CONCURRENT_REQUESTS: usize = 32;
/// Requests from one peer handled (or waiting for a permit) at once.
const PER_PEER_REQUESTS: usize = 4;
/// File chunk requests (`/weft/file/1`) handled at once, in all and per
/// peer: counted apart, so a file transfer neither stalls nor is stalled
/// by chat, mail and sync.
const FILE_REQUESTS: usize = 32;
/// File requests from one peer at once (a download keeps several chunks
/// in flight).
const FILE_PER_PEER: usize = 16;

/// How many requests each peer has in the router (file requests apart); a
/// [`PeerSlot`] holds one.
#[derive(Clone, Default)]
struct PerPeer(Arc<Mutex<HashMap<(PeerId, bool), usize>>>);

impl PerPeer {
    /// A slot for one more request from `peer`, or `None` if it has its share.
    fn take(&self, peer: PeerId, file: bool) -> Option<PeerSlot> {
        let mut m = self.0.lock().ok()?;
        let n = m.entry((peer, file)).or_default();
        if *n
            >= if file {
                FILE_PER_PEER
            } else {
                PER_PEER_REQUESTS
            }
        {
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            peers: self.clone(),
            peer: (peer, file),
        })
    }
}

/// One request's place in its peer's share; given back when dropped.
struct PeerSlot {
    peers: PerPeer,
    peer: (PeerId, bool),
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        if let Ok(mut m) = self.peers.0.lock() {
            if let Some(n) = m.get_mut(&self.peer) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    m.remove(&self.peer);
                }
            }
        }
    }
}

/// The services that answer peers' requests, and the network handle their
/// answers go back through.
#[derive(Clone)]
pub(crate) struct Services {
    /// Keys, store and network; the router uses the network handle.
    pub(crate) ctx: Context,
    /// `/weft/chat/1`, `/weft/mailbox/1`.
    pub(crate) chat: Chat,
    /// `/weft/profile/1`.
    pub(crate) nearby: Nearby,
    /// `/weft/oa/1`.
    pub(crate) oa: Oa,
    /// `/weft/blob/1`.
    pub(crate) blobs: Blobs,
    /// `/weft/sync/1`.
    pub(crate) moments: Moments,
    /// `/weft/group/1`.
    pub(crate) groups: crate::group::Groups,
    /// `/weft/file/1`.
    pub(crate) files: crate::files::Files,
    /// `/weft/device/1`.
    pub(crate) devices: crate::device::Devices,
    /// `/weft/mint/1`.
    pub(crate) pay: crate::pay::Pay,
}

/// Hands each inbound request to the service that owns its protocol and
/// sends back its answer (or closes the stream if it declined). Ends when
/// the node shuts down or the network actor drops the channel.
pub(crate) fn spawn_inbound(
    mut rx: mpsc::Receiver<InboundRequest>,
    services: Services,
    mut shutdown: watch::Receiver<bool>,
) {
    let limit = Arc::new(Semaphore::new(CONCURRENT_REQUESTS));
    let file_limit = Arc::new(Semaphore::new(FILE_REQUESTS));
    let per_peer = PerPeer::default();
    tokio::spawn(async move {
        loop {
            let req = tokio::select! {
                r = rx.recv() => match r { Some(r) => r, None => return },
                _ = shutdown.wait_for(|s| *s) => return,
            };
            let file = req.protocol == AppProtocol::File;
            let Some(slot) = per_peer.take(req.peer, file) else {
                tracing::debug!(peer = %req.peer, "peer has too many requests running; declining");
                services.ctx.net.decline(req.protocol, req.responder).await;
                continue;
            };
            let permits = if file { &file_limit } else { &limit };
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let s = services.clone();
            tokio::spawn(async move {
                let reply = match req.protocol {
                    AppProtocol::Chat | AppProtocol::Mailbox => s.chat.handle_inbound(&req).await,
                    AppProtocol::Profile => s.nearby.handle_inbound(&req).await,
                    AppProtocol::Oa => s.oa.handle_inbound(&req).await,
                    AppProtocol::Blob => s.blobs.handle_inbound(&req),
                    AppProtocol::Sync => s.moments.handle_inbound(&req),
                    AppProtocol::Group => s.groups.handle_inbound(&req),
                    AppProtocol::File => s.files.handle_inbound(&req).await,
                    AppProtocol::Device => s.devices.handle_inbound(&req).await,
                    AppProtocol::Mint => s.pay.handle_inbound(&req).await,
                };
                let net = &s.ctx.net;
                match reply {
                    Some(bytes) => net.respond(req.protocol, req.responder, bytes).await,
                    None => net.decline(req.protocol, req.responder).await,
                }
                drop(permit);
                drop(slot);
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Defect 4: one peer gets at most its share of the router; others are
    /// untouched, and a finished request gives its place back.
    #[test]
    fn one_peer_cannot_take_more_than_its_share() {
        let peers = PerPeer::default();
        let (mallory, ada) = (PeerId::random(), PeerId::random());
        let held: Vec<PeerSlot> = (0..PER_PEER_REQUESTS)
            .map(|_| peers.take(mallory, false).unwrap())
            .collect();
        assert!(peers.take(mallory, false).is_none());
        assert!(peers.take(ada, false).is_some());
        // File transfers are counted apart: a download in flight neither
        // takes chat's share nor is refused because chat is busy.
        let files: Vec<PeerSlot> = (0..FILE_PER_PEER)
            .map(|_| peers.take(mallory, true).unwrap())
            .collect();
        assert!(peers.take(mallory, true).is_none());
        drop(held);
        assert!(peers.take(mallory, false).is_some());
        drop(files);
        assert!(peers.take(mallory, true).is_some());
    }
}
