//! Keeping a few connections open on purpose.
//!
//! libp2p closes a connection once no protocol needs it for
//! [`IDLE_TIMEOUT`](super::behaviour::IDLE_TIMEOUT). The connections a DHT
//! query or a finished delivery opened should go; but a node also wants a
//! small, stable set of neighbours (to be reachable, to hear gossip, to
//! start DHT queries from). Without this, the event loop's maintenance
//! would redial its neighbours every time they idled out (and bootstrap
//! the DHT again), which in simnet kept 300 idle nodes at 2 busy cores.
//!
//! This behaviour speaks no protocol: its handler only answers "keep this
//! connection alive" for the peers the event loop marked with
//! [`Behaviour::keep`].

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::task::{Context, Poll};

use libp2p::core::{transport::PortUse, upgrade::DeniedUpgrade, Endpoint, Multiaddr};
use libp2p::swarm::{
    handler::ConnectionEvent, ConnectionDenied, ConnectionHandlerEvent, ConnectionId, FromSwarm,
    NetworkBehaviour, NotifyHandler, SubstreamProtocol, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::PeerId;

/// Peers whose connections are kept open, and what to tell their handlers.
#[derive(Default)]
pub struct Behaviour {
    kept: HashSet<PeerId>,
    established: HashSet<PeerId>,
    notify: VecDeque<(PeerId, bool)>,
}

impl Behaviour {
    /// Keeps (or stops keeping) every connection to `peer` open.
    pub fn keep(&mut self, peer: PeerId, keep: bool) {
        let changed = if keep {
            self.kept.insert(peer)
        } else {
            self.kept.remove(&peer)
        };
        if changed {
            self.notify.push_back((peer, keep));
        }
    }

    /// How many peers are kept.
    pub fn kept(&self) -> usize {
        self.kept.len()
    }

    /// Whether `peer` is kept.
    pub fn is_kept(&self, peer: &PeerId) -> bool {
        self.kept.contains(peer)
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(Handler {
            keep: self.kept.contains(&peer),
        })
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(Handler {
            keep: self.kept.contains(&peer),
        })
    }

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        ev: THandlerOutEvent<Self>,
    ) {
        match ev {}
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        // Gone entirely, or never reached: forget it, so the set only holds
        // live neighbours (and neighbours being dialled).
        match event {
            FromSwarm::ConnectionEstablished(c) => {
                self.established.insert(c.peer_id);
            }
            FromSwarm::ConnectionClosed(c) if c.remaining_established == 0 => {
                self.established.remove(&c.peer_id);
                self.kept.remove(&c.peer_id);
            }
            FromSwarm::DialFailure(f) => {
                if let Some(p) = f.peer_id.filter(|p| !self.established.contains(p)) {
                    self.kept.remove(&p);
                }
            }
            _ => {}
        }
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        match self.notify.pop_front() {
            Some((peer_id, keep)) => Poll::Ready(ToSwarm::NotifyHandler {
                peer_id,
                handler: NotifyHandler::Any,
                event: keep,
            }),
            None => Poll::Pending,
        }
    }
}

/// One connection's "keep me" flag.
pub struct Handler {
    keep: bool,
}

impl libp2p::swarm::ConnectionHandler for Handler {
    type FromBehaviour = bool;
    type ToBehaviour = Infallible;
    type InboundProtocol = DeniedUpgrade;
    type OutboundProtocol = DeniedUpgrade;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol> {
        SubstreamProtocol::new(DeniedUpgrade, ())
    }

    fn connection_keep_alive(&self) -> bool {
        self.keep
    }

    fn on_behaviour_event(&mut self, keep: bool) {
        self.keep = keep;
    }

    fn poll(
        &mut self,
        _: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, (), Self::ToBehaviour>> {
        Poll::Pending
    }

    fn on_connection_event(
        &mut self,
        _: ConnectionEvent<Self::InboundProtocol, Self::OutboundProtocol>,
    ) {
    }
}
