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
//! Keeping is **mutual**: a kept connection carries one open
//! `/weft/keep/1` stream from the node that keeps it, and libp2p keeps a
//! connection open at both ends while a stream is open on it. Without that,
//! the other end (which had not chosen us) closed the connection after its
//! idle timeout and we dialled a new neighbour: at 1,000 simnet nodes that
//! was about a hundred fresh connections (each a Noise handshake) a second,
//! forever. A node lets at most [`MAX_KEPT_BY`] peers keep it; past that it
//! closes the stream and the peer chooses someone else. Peers kept from
//! either side count as neighbours ([`Behaviour::neighbours`]).

use std::collections::{HashSet, VecDeque};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::AsyncRead;
use libp2p::core::{transport::PortUse, upgrade::ReadyUpgrade, Endpoint, Multiaddr};
use libp2p::swarm::{
    handler::{ConnectionEvent, FullyNegotiatedInbound, FullyNegotiatedOutbound},
    ConnectionDenied, ConnectionHandlerEvent, ConnectionId, FromSwarm, NetworkBehaviour,
    NotifyHandler, Stream, StreamProtocol, SubstreamProtocol, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::PeerId;

/// The protocol whose one open stream says "I keep this connection".
pub const KEEP_PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/keep/1");

/// How many peers may keep a connection to this node open. A node's own
/// choice is 8 ([`super::event_loop`]); a popular node (a bootstrap peer,
/// one close to many ids) is chosen by more, and this bounds what that
/// costs it.
pub const MAX_KEPT_BY: usize = 32;

/// A peer that does not speak the keep protocol is asked at most this many
/// times per connection (then the keep is one-sided, as with older nodes).
const MAX_ASKS: u8 = 2;

/// Peers whose connections are kept open, and what to tell their handlers.
pub struct Behaviour {
    /// Peers this node chose to keep.
    kept: HashSet<PeerId>,
    /// Peers that keep their connection to this node (their stream accepted).
    kept_by: HashSet<PeerId>,
    established: HashSet<PeerId>,
    notify: VecDeque<(PeerId, NotifyHandler, Command)>,
    max_kept_by: usize,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self::with_limit(MAX_KEPT_BY)
    }
}

impl Behaviour {
    /// A behaviour that lets at most `max_kept_by` peers keep it.
    pub fn with_limit(max_kept_by: usize) -> Self {
        Self {
            kept: HashSet::new(),
            kept_by: HashSet::new(),
            established: HashSet::new(),
            notify: VecDeque::new(),
            max_kept_by,
        }
    }

    /// Keeps (or stops keeping) every connection to `peer` open.
    pub fn keep(&mut self, peer: PeerId, keep: bool) {
        let changed = if keep {
            self.kept.insert(peer)
        } else {
            self.kept.remove(&peer)
        };
        if changed {
            self.notify
                .push_back((peer, NotifyHandler::Any, Command::Keep(keep)));
        }
    }

    /// How many peers this node keeps or is kept by: its neighbours.
    pub fn neighbours(&self) -> usize {
        self.kept.len() + self.kept_by.difference(&self.kept).count()
    }

    /// Whether the connection to `peer` is kept, from either side.
    pub fn is_kept(&self, peer: &PeerId) -> bool {
        self.kept.contains(peer) || self.kept_by.contains(peer)
    }

    fn handler(&self, peer: &PeerId) -> Handler {
        Handler {
            keep: self.kept.contains(peer),
            out: None,
            asking: false,
            asks: 0,
            inbound: None,
            report: None,
        }
    }
}

/// What the behaviour tells one connection's handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// This node keeps (or stops keeping) the connection.
    Keep(bool),
    /// Too many peers keep this node: close the peer's keep stream.
    Release,
}

/// What a handler tells the behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// The peer opened (true) or closed (false) its keep stream.
    KeptBy(bool),
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = std::convert::Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(&peer))
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(&peer))
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        ev: THandlerOutEvent<Self>,
    ) {
        match ev {
            Report::KeptBy(true) => {
                if self.kept_by.contains(&peer) || self.kept_by.len() < self.max_kept_by {
                    self.kept_by.insert(peer);
                } else {
                    tracing::debug!(%peer, "kept by too many peers: not keeping this one");
                    self.notify
                        .push_back((peer, NotifyHandler::One(connection), Command::Release));
                }
            }
            Report::KeptBy(false) => {
                self.kept_by.remove(&peer);
            }
        }
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
                self.kept_by.remove(&c.peer_id);
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
            Some((peer_id, handler, event)) => Poll::Ready(ToSwarm::NotifyHandler {
                peer_id,
                handler,
                event,
            }),
            None => Poll::Pending,
        }
    }
}

/// One connection's keep state: whether this node keeps it (and its keep
/// stream), and the peer's keep stream if it keeps it.
pub struct Handler {
    keep: bool,
    /// Our open keep stream (while `keep`).
    out: Option<Stream>,
    /// An outbound keep stream is being negotiated.
    asking: bool,
    /// Keep streams asked for on this connection (see [`MAX_ASKS`]).
    asks: u8,
    /// The peer's keep stream, while it keeps this connection.
    inbound: Option<Stream>,
    /// A report for the behaviour not yet handed over.
    report: Option<Report>,
}

/// Whether `stream` is still open. The keep protocol carries no bytes: a
/// peer that sends some is treated as having closed it.
fn still_open(stream: &mut Stream, cx: &mut Context<'_>) -> bool {
    let mut buf = [0u8; 1];
    match Pin::new(stream).poll_read(cx, &mut buf) {
        Poll::Pending => true,
        Poll::Ready(Ok(_)) | Poll::Ready(Err(_)) => false,
    }
}

impl libp2p::swarm::ConnectionHandler for Handler {
    type FromBehaviour = Command;
    type ToBehaviour = Report;
    type InboundProtocol = ReadyUpgrade<StreamProtocol>;
    type OutboundProtocol = ReadyUpgrade<StreamProtocol>;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol> {
        SubstreamProtocol::new(ReadyUpgrade::new(KEEP_PROTOCOL), ())
    }

    fn connection_keep_alive(&self) -> bool {
        self.keep || self.inbound.is_some()
    }

    fn on_behaviour_event(&mut self, command: Command) {
        match command {
            Command::Keep(keep) => {
                self.keep = keep;
                if !keep {
                    // Dropping the stream closes it; the peer sees the end.
                    self.out = None;
                }
            }
            Command::Release => self.inbound = None,
        }
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, (), Self::ToBehaviour>> {
        if let Some(report) = self.report.take() {
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(report));
        }
        if let Some(s) = self.inbound.as_mut() {
            if !still_open(s, cx) {
                self.inbound = None;
                return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(Report::KeptBy(
                    false,
                )));
            }
        }
        if let Some(s) = self.out.as_mut() {
            if !still_open(s, cx) {
                // The peer let go (it is kept by too many, or going away):
                // the keep is one-sided from now on, as with a peer that
                // does not speak the protocol.
                self.out = None;
            }
        }
        if self.keep && self.out.is_none() && !self.asking && self.asks < MAX_ASKS {
            self.asking = true;
            self.asks += 1;
            return Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                protocol: SubstreamProtocol::new(ReadyUpgrade::new(KEEP_PROTOCOL), ()),
            });
        }
        Poll::Pending
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<Self::InboundProtocol, Self::OutboundProtocol>,
    ) {
        match event {
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound {
                protocol: stream,
                ..
            }) => {
                self.asking = false;
                if self.keep {
                    self.out = Some(stream);
                }
            }
            // A second keep stream on the same connection replaces the
            // first (one per connection is all the protocol needs).
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol: stream,
                ..
            }) => {
                let first = self.inbound.replace(stream).is_none();
                if first {
                    self.report = Some(Report::KeptBy(true));
                }
            }
            ConnectionEvent::DialUpgradeError(_) => self.asking = false,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt;
    use libp2p::swarm::SwarmEvent;
    use libp2p::{PeerId, Swarm};

    use super::super::test_swarm::{connect, memory_swarm, IDLE, WAIT};
    use super::Behaviour;

    fn swarm(limit: usize) -> Swarm<Behaviour> {
        memory_swarm(|_| Behaviour::with_limit(limit))
    }

    /// `b` listens, `a` dials it, keeping it; returns once both hold the
    /// connection.
    async fn connect_kept(a: &mut Swarm<Behaviour>, b: &mut Swarm<Behaviour>) {
        let b_id = *b.local_peer_id();
        a.behaviour_mut().keep(b_id, true);
        connect(b, a).await;
    }

    /// Drives both swarms until `done` says so (or the connection closes:
    /// then returns false), within [`WAIT`].
    async fn drive_until(
        a: &mut Swarm<Behaviour>,
        b: &mut Swarm<Behaviour>,
        done: impl Fn(&Swarm<Behaviour>, &Swarm<Behaviour>) -> bool,
    ) -> bool {
        tokio::time::timeout(WAIT, async {
            while !done(a, b) {
                tokio::select! {
                    ev = a.select_next_some() => if matches!(ev, SwarmEvent::ConnectionClosed { .. }) { return false },
                    ev = b.select_next_some() => if matches!(ev, SwarmEvent::ConnectionClosed { .. }) { return false },
                    // The behaviours emit no events: look at their state again.
                    _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                }
            }
            true
        })
        .await
        .unwrap_or(false)
    }

    /// Drives both swarms until both ends saw the connection close; the time it took.
    async fn until_closed(a: &mut Swarm<Behaviour>, b: &mut Swarm<Behaviour>) -> Option<Duration> {
        let t = tokio::time::Instant::now();
        tokio::time::timeout(WAIT, async {
            let (mut closed_a, mut closed_b) = (false, false);
            while !(closed_a && closed_b) {
                tokio::select! {
                    ev = a.select_next_some() => closed_a |= matches!(ev, SwarmEvent::ConnectionClosed { .. }),
                    ev = b.select_next_some() => closed_b |= matches!(ev, SwarmEvent::ConnectionClosed { .. }),
                }
            }
        })
        .await
        .ok()
        .map(|_| t.elapsed())
    }

    #[tokio::test]
    async fn the_kept_end_keeps_the_connection_too() {
        let (mut a, mut b) = (swarm(super::MAX_KEPT_BY), swarm(super::MAX_KEPT_BY));
        let a_id: PeerId = *a.local_peer_id();
        connect_kept(&mut a, &mut b).await;
        assert!(
            drive_until(&mut a, &mut b, |_, b| b.behaviour().is_kept(&a_id)).await,
            "b never saw a's keep stream"
        );
        assert_eq!(b.behaviour().neighbours(), 1);
        // b chose nothing, yet the connection outlives ten of its idle
        // timeouts (before keeping was mutual, b closed it after one).
        let closed = tokio::time::timeout(IDLE * 10, until_closed(&mut a, &mut b)).await;
        assert!(closed.is_err(), "the kept connection closed: {closed:?}");
        // a lets go: b sees the keep stream end and the connection idles out.
        a.behaviour_mut().keep(*b.local_peer_id(), false);
        let took = until_closed(&mut a, &mut b).await;
        assert!(took.is_some(), "the connection stayed after a let go");
        assert!(!b.behaviour().is_kept(&a_id));
        assert_eq!(b.behaviour().neighbours(), 0);
    }

    #[tokio::test]
    async fn a_node_kept_by_too_many_lets_the_connection_go() {
        // b lets nobody keep it: a's keep stream is closed, and b's idle
        // timeout ends the connection.
        let (mut a, mut b) = (swarm(super::MAX_KEPT_BY), swarm(0));
        let a_id: PeerId = *a.local_peer_id();
        connect_kept(&mut a, &mut b).await;
        let took = until_closed(&mut a, &mut b).await;
        assert!(took.is_some(), "b kept a connection past its limit");
        assert!(!b.behaviour().is_kept(&a_id));
        assert!(!a.behaviour().is_kept(b.local_peer_id()));
    }
}
