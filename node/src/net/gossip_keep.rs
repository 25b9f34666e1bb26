//! Gossipsub that lets idle connections close.
//!
//! Gossipsub keeps one long-lived stream each way on every connection to a
//! peer that speaks it, and libp2p keeps a connection open while any stream
//! on it is open. So every connection a node ever made (a DHT query, one
//! delivery, a lookup) stayed open for ever, whatever
//! [`IDLE_TIMEOUT`](super::behaviour::IDLE_TIMEOUT) and [`super::keep`] said:
//! simnet's `idle-1k` measured every node of a 100-node run connected to
//! all 99 others three minutes after start, each connection with its
//! pings, Yamux timers and gossip heartbeat work (libp2p issue #5190, open
//! upstream). Gossipsub's own rule is the intended one: keep a connection
//! while the peer is in one of our topic meshes.
//!
//! [`Gossip`] is gossipsub with its handler wrapped: each gossip stream is
//! marked to be ignored for keep-alive as it is negotiated, so the
//! connection's lifetime is decided by the handlers' `connection_keep_alive`
//! (gossipsub: mesh peers; [`super::keep`]: chosen neighbours; requests in
//! flight) and the idle timeout. Everything else is gossipsub, unchanged.

use std::ops::{Deref, DerefMut};
use std::task::{Context, Poll};

use futures::future::Either;
use libp2p::core::{transport::PortUse, Endpoint, Multiaddr};
use libp2p::gossipsub;
use libp2p::swarm::{
    handler::{ConnectionEvent, FullyNegotiatedInbound, FullyNegotiatedOutbound},
    ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm,
    NetworkBehaviour, SubstreamProtocol, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::PeerId;

/// The gossipsub behaviour this wraps.
type Inner = gossipsub::Behaviour;
/// Its connection handler.
type InnerHandler = <Inner as NetworkBehaviour>::ConnectionHandler;

/// Gossipsub whose streams do not keep a connection open by themselves.
/// Derefs to [`gossipsub::Behaviour`] for publishing, subscribing and
/// reporting validation results.
pub struct Gossip(Inner);

impl Gossip {
    /// Wraps `inner`.
    pub fn new(inner: Inner) -> Self {
        Self(inner)
    }
}

impl Deref for Gossip {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl DerefMut for Gossip {
    fn deref_mut(&mut self) -> &mut Inner {
        &mut self.0
    }
}

impl NetworkBehaviour for Gossip {
    type ConnectionHandler = Handler;
    type ToSwarm = <Inner as NetworkBehaviour>::ToSwarm;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.0.handle_pending_inbound_connection(id, local, remote)
    }

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.0
            .handle_established_inbound_connection(id, peer, local, remote)
            .map(Handler)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: Option<PeerId>,
        addresses: &[Multiaddr],
        role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.0
            .handle_pending_outbound_connection(id, peer, addresses, role)
    }

    fn handle_established_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.0
            .handle_established_outbound_connection(id, peer, addr, role, port_use)
            .map(Handler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        self.0.on_swarm_event(event)
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.0.on_connection_handler_event(peer, id, event)
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        self.0.poll(cx)
    }
}

/// Gossipsub's connection handler; marks each gossip stream to be ignored
/// for keep-alive as it is negotiated, then hands it on.
pub struct Handler(InnerHandler);

impl ConnectionHandler for Handler {
    type FromBehaviour = <InnerHandler as ConnectionHandler>::FromBehaviour;
    type ToBehaviour = <InnerHandler as ConnectionHandler>::ToBehaviour;
    type InboundProtocol = <InnerHandler as ConnectionHandler>::InboundProtocol;
    type OutboundProtocol = <InnerHandler as ConnectionHandler>::OutboundProtocol;
    type InboundOpenInfo = <InnerHandler as ConnectionHandler>::InboundOpenInfo;
    type OutboundOpenInfo = <InnerHandler as ConnectionHandler>::OutboundOpenInfo;

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol, Self::InboundOpenInfo> {
        self.0.listen_protocol()
    }

    fn connection_keep_alive(&self) -> bool {
        self.0.connection_keep_alive()
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<
        ConnectionHandlerEvent<Self::OutboundProtocol, Self::OutboundOpenInfo, Self::ToBehaviour>,
    > {
        self.0.poll(cx)
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Option<Self::ToBehaviour>> {
        self.0.poll_close(cx)
    }

    fn on_behaviour_event(&mut self, event: Self::FromBehaviour) {
        self.0.on_behaviour_event(event)
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<
            Self::InboundProtocol,
            Self::OutboundProtocol,
            Self::InboundOpenInfo,
            Self::OutboundOpenInfo,
        >,
    ) {
        let event = match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                mut protocol,
                info,
            }) => {
                if let Either::Left((stream, _)) = &mut protocol {
                    stream.ignore_for_keep_alive();
                }
                ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound { protocol, info })
            }
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound {
                mut protocol,
                info,
            }) => {
                protocol.0.ignore_for_keep_alive();
                ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound { protocol, info })
            }
            other => other,
        };
        self.0.on_connection_event(event)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt;
    use libp2p::swarm::SwarmEvent;
    use libp2p::{gossipsub, Swarm};

    use super::super::test_swarm::{connect, memory_swarm, IDLE, WAIT};
    use super::Gossip;

    fn swarm() -> Swarm<Gossip> {
        memory_swarm(|key| {
            let config = gossipsub::ConfigBuilder::default()
                .heartbeat_interval(Duration::from_millis(100))
                .build()
                .unwrap();
            Gossip::new(
                gossipsub::Behaviour::new(
                    gossipsub::MessageAuthenticity::Signed(key.clone()),
                    config,
                )
                .unwrap(),
            )
        })
    }

    #[tokio::test]
    async fn gossip_streams_alone_do_not_keep_a_connection_open() {
        let (mut a, mut b) = (swarm(), swarm());
        // Each on a topic of its own: they exchange subscriptions (so the
        // gossip streams open both ways) but share no mesh.
        a.behaviour_mut()
            .subscribe(&gossipsub::IdentTopic::new("a"))
            .unwrap();
        b.behaviour_mut()
            .subscribe(&gossipsub::IdentTopic::new("b"))
            .unwrap();
        connect(&mut a, &mut b).await;
        let (mut heard, mut closed) = (false, false);
        let done = tokio::time::timeout(WAIT, async {
            while !(heard && closed) {
                tokio::select! {
                    ev = a.select_next_some() => {
                        heard |= matches!(ev, SwarmEvent::Behaviour(gossipsub::Event::Subscribed { .. }));
                        closed |= matches!(ev, SwarmEvent::ConnectionClosed { .. });
                    }
                    ev = b.select_next_some() => {
                        closed |= matches!(ev, SwarmEvent::ConnectionClosed { .. });
                    }
                }
            }
        })
        .await;
        assert!(
            done.is_ok(),
            "heard the peer's subscription: {heard}; connection closed: {closed}"
        );
    }

    #[tokio::test]
    async fn mesh_peers_stay_connected() {
        let (mut a, mut b) = (swarm(), swarm());
        let topic = gossipsub::IdentTopic::new("shared");
        a.behaviour_mut().subscribe(&topic).unwrap();
        b.behaviour_mut().subscribe(&topic).unwrap();
        connect(&mut a, &mut b).await;
        // Wait until b has a in its mesh, then for many idle timeouts, then
        // publish: the message arrives only over the connection that stayed
        // (nothing redials in these swarms).
        let meshed = tokio::time::timeout(WAIT, async {
            loop {
                tokio::select! {
                    ev = a.select_next_some() => assert!(!matches!(ev, SwarmEvent::ConnectionClosed { .. }), "closed while meshing"),
                    ev = b.select_next_some() => assert!(!matches!(ev, SwarmEvent::ConnectionClosed { .. }), "closed while meshing"),
                }
                if b.behaviour().mesh_peers(&topic.hash()).count() == 1
                    && a.behaviour().mesh_peers(&topic.hash()).count() == 1
                {
                    return;
                }
            }
        })
        .await;
        assert!(meshed.is_ok(), "the two never meshed");
        let idle_for = tokio::time::sleep(IDLE * 10);
        tokio::pin!(idle_for);
        loop {
            tokio::select! {
                _ = &mut idle_for => break,
                ev = a.select_next_some() => assert!(!matches!(ev, SwarmEvent::ConnectionClosed { .. }), "a mesh connection was closed"),
                ev = b.select_next_some() => assert!(!matches!(ev, SwarmEvent::ConnectionClosed { .. }), "a mesh connection was closed"),
            }
        }
        b.behaviour_mut()
            .publish(topic.clone(), b"still here".to_vec())
            .unwrap();
        let got = tokio::time::timeout(WAIT, async {
            loop {
                tokio::select! {
                    ev = a.select_next_some() => {
                        if let SwarmEvent::Behaviour(gossipsub::Event::Message { message, .. }) = ev {
                            return message.data;
                        }
                    }
                    _ = b.select_next_some() => {}
                }
            }
        })
        .await;
        assert_eq!(got.ok().as_deref(), Some(&b"still here"[..]));
    }
}
