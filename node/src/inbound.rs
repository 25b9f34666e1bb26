//! The inbound router: where a peer's request goes.
//!
//! The network actor (`crate::net`) knows protocols, not services: for every
//! request a peer opens on one of the application protocols it hands an
//! [`InboundRequest`] to one channel. This router reads that channel and
//! routes each request by its protocol to the service that owns it
//! (`/weft/chat/1` and `/weft/mailbox/1` to chat, `/weft/profile/1` to
//! nearby, `/weft/oa/1` to official accounts, `/weft/blob/1` to blobs,
//! `/weft/sync/1` to moments), then sends the service's answer back through
//! the network actor, or closes the stream if the service declined.
//!
//! Each request runs in its own task so a slow one (a store flush, a DHT
//! lookup) does not hold up the others, but at most [`CONCURRENT_REQUESTS`]
//! run at once: a flood of requests waits in the bounded channel instead of
//! spawning without limit, and once the channel is full the network actor
//! drops further requests (the peers' requests fail; they retry).

use std::sync::Arc;

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
    tokio::spawn(async move {
        loop {
            let req = tokio::select! {
                r = rx.recv() => match r { Some(r) => r, None => return },
                _ = shutdown.wait_for(|s| *s) => return,
            };
            let Ok(permit) = limit.clone().acquire_owned().await else {
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
                };
                let net = &s.ctx.net;
                match reply {
                    Some(bytes) => net.respond(req.protocol, req.responder, bytes).await,
                    None => net.decline(req.protocol, req.responder).await,
                }
                drop(permit);
            });
        }
    });
}
