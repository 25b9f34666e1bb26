//! The task that owns the swarm. It reacts to swarm events and commands and
//! never does slow work inline: signature checks on cards and gossip are
//! microseconds, address-book writes are unflushed sled inserts; everything
//! heavier belongs to the service that asked.
//!
//! This file holds the loop itself (its state, [`spawn`], the `select!`, the
//! maintenance tick) and routes each command and event to the file of its
//! concern: `peers.rs`, `dht.rs`, `gossip.rs`, `requests.rs`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::{
    identify, kad, mdns, request_response,
    swarm::{ConnectionId, SwarmEvent},
    Multiaddr, PeerId, Swarm,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use weft_protocol::Card;

use super::behaviour::{build_swarm, Behaviour, BehaviourEvent, SwarmOptions};
use super::gossip::{GossipReaders, Relay};
use super::pending::Pending;
use super::{
    AppProtocol, Connected, InboundRequest, Net, NetCommand, NetError, NetEvent, PeerAddrList,
};
use crate::events::EventFeed;
use crate::home::Identity;
use crate::random;
use crate::store::Store;

/// Commands waiting in the queue before senders are made to wait.
const COMMAND_QUEUE: usize = 256;
/// Events buffered for slow subscribers (they then skip ahead).
const EVENT_QUEUE: usize = 1024;
/// Neighbours the node keeps connected on purpose (see `keep`).
const TARGET_PEERS: usize = 8;
/// Dials still waiting for an answer, at most (each kind).
const MAX_PENDING_DIALS: usize = 64;
/// A routing table smaller than this is refreshed every [`LOOKUP_SMALL`].
const SMALL_TABLE: usize = 20;
/// Lookup of our own id while the routing table is small.
const LOOKUP_SMALL: Duration = Duration::from_secs(60);
/// Lookup of our own id once the table is full. Between lookups the table
/// is kept fresh by the queries we make and answer; ten minutes is the
/// routing-table refresh of IPFS's DHT. Each lookup contacts ~20 peers, most
/// of them over a new connection (idle ones close after a minute), and
/// that is most of what an idle node costs: see "Idle nodes" in
/// docs/BENCHMARKS.md.
const LOOKUP_EVERY: Duration = Duration::from_secs(600);
/// Full refresh of every bucket (at start, 1000 simnet nodes doing it
/// at once connected each to ~400 others).
const REFRESH_EVERY: Duration = Duration::from_secs(1800);
/// The first wait before a node with no connection at all dials its
/// bootstrap peers and address book again; it doubles up to [`REJOIN_MAX`]
/// while the node stays alone, and starts over once it has a peer.
const REJOIN_FIRST: Duration = Duration::from_secs(10);
/// The longest wait between two attempts to rejoin.
const REJOIN_MAX: Duration = Duration::from_secs(300);
/// Bootstrap addresses kept for rejoining, at most.
const MAX_BOOTSTRAP: usize = 64;
/// Inbound requests waiting for a service's answer, at most.
const MAX_PENDING_RESPONSES: usize = 1024;
/// Outbound requests, and DHT queries of each kind, in flight, at most.
const MAX_PENDING_QUERIES: usize = 1024;

/// What the network task needs to start.
pub struct NetConfig {
    /// Keys.
    pub identity: Arc<Identity>,
    /// Display name for our card.
    pub name: String,
    /// The node's store (address book, cards).
    pub store: Store,
    /// Addresses to listen on.
    pub listen: Vec<Multiaddr>,
    /// Peers to join the network through.
    pub bootstrap: Vec<Multiaddr>,
    /// Swarm shape.
    pub options: SwarmOptions,
    /// Where inbound requests on application protocols go (the services' queue).
    pub inbound: mpsc::Sender<InboundRequest>,
    /// The services reading each kind of gossip topic.
    pub gossip: GossipReaders,
}

/// The answer to a dial by address.
pub(super) type DialReply = oneshot::Sender<Result<PeerId, NetError>>;
/// The answer to "connect to this known peer".
pub(super) type ConnectReply = oneshot::Sender<Result<(), NetError>>;
/// The answer to a record store.
pub(super) type StoreReply = oneshot::Sender<Result<(), NetError>>;
/// The answer to an outbound request.
pub(super) type ResponseReply = oneshot::Sender<Result<Vec<u8>, NetError>>;
/// The answer to a record lookup.
pub(super) type RecordsReply = oneshot::Sender<Result<Vec<Vec<u8>>, NetError>>;
/// The answer to a closest-peers or providers lookup.
pub(super) type PeersReply = oneshot::Sender<Result<PeerAddrList, NetError>>;

/// A connected peer: its open connections' addresses and its card.
pub(super) struct PeerState {
    pub(super) addrs: Vec<Multiaddr>,
    pub(super) card: Option<Card>,
    /// Whether one of our connections to it was dialled by us.
    pub(super) dialed: bool,
    /// Card requests we sent it that failed (see [`CARD_TRIES`]).
    pub(super) card_failures: u8,
}

/// Card requests a dialer sends one connected peer at most. Until a card
/// arrives, the peer is a connection with no account: chat, groups and
/// devices cannot find it, and a connection kept open by gossip or the DHT
/// would stay that way for good. So a request that fails (timed out on a
/// busy peer, its stream dropped) is sent again while the peer is still
/// connected; a peer that does not speak `/weft/card/1` is not asked again.
pub(super) const CARD_TRIES: u8 = 3;

/// The swarm and everything the loop keeps about it.
pub(super) struct EventLoop {
    pub(super) swarm: Swarm<Behaviour>,
    pub(super) identity: Arc<Identity>,
    pub(super) name: String,
    pub(super) store: Store,
    pub(super) events: EventFeed<NetEvent>,
    pub(super) listen_addrs: Vec<Multiaddr>,
    pub(super) peers: HashMap<PeerId, PeerState>,
    /// The copy of who is connected that [`Net`] reads (kept with `peers`).
    pub(super) connected: Connected,
    pub(super) my_card: Option<Card>,
    pub(super) last_bootstrap: Option<Instant>,
    /// The peers to join the network through (`weft up --bootstrap`),
    /// dialled at start and again whenever the node has no connection.
    pub(super) bootstrap: Vec<Multiaddr>,
    /// When a node with no connection next tries to rejoin, and the wait
    /// after that one.
    pub(super) rejoin: (Instant, Duration),
    /// This round's factor on the lookup periods, drawn at each lookup so
    /// that nodes started together do not look up together.
    pub(super) lookup_spread: f64,
    pub(super) last_refresh: Instant,
    /// When the next full refresh is due after `last_refresh` (drawn).
    pub(super) refresh_every: Duration,
    /// Our own full refresh while it runs (libp2p's are cut short: see
    /// `on_query_progress` in `dht.rs`).
    pub(super) refresh_query: Option<kad::QueryId>,
    /// Dials by address, until the connection is up or failed.
    pub(super) dials: Pending<ConnectionId, (Multiaddr, DialReply)>,
    /// Callers waiting for a connection to a known peer.
    pub(super) connects: Pending<PeerId, Vec<ConnectReply>>,
    pub(super) inbound: mpsc::Sender<InboundRequest>,
    pub(super) next_responder: u64,
    /// Inbound requests until the service answers or declines.
    pub(super) responders: Pending<(AppProtocol, u64), request_response::ResponseChannel<Vec<u8>>>,
    /// Outbound requests until the response. Keyed by protocol too: each
    /// request-response behaviour numbers its own requests.
    pub(super) requests: Pending<
        (AppProtocol, request_response::OutboundRequestId),
        (PeerId, Instant, ResponseReply),
    >,
    /// Record lookups, with the valid values found so far.
    pub(super) record_lookups: Pending<kad::QueryId, (Vec<Vec<u8>>, RecordsReply)>,
    /// Record stores until a peer holds the record (or none could).
    pub(super) record_stores: Pending<kad::QueryId, StoreReply>,
    /// Closest-peers lookups.
    pub(super) closest_lookups: Pending<kad::QueryId, PeersReply>,
    /// Provider lookups, with the providers found so far.
    pub(super) provider_lookups: Pending<kad::QueryId, (HashSet<PeerId>, PeersReply)>,
    /// Gossip readers and the relay checks' state.
    pub(super) relay: Relay,
    /// What other peers may store with us in the DHT.
    pub(super) record_guard: super::record_guard::RecordGuard,
    /// Peers connected from our own LAN subnet (see `same_lan`).
    pub(super) lan_conn_peers: HashSet<PeerId>,
    /// Peers mDNS currently sees: still nearby when an idle connection closes.
    pub(super) mdns_peers: HashSet<PeerId>,
}

/// Builds the swarm, starts listening (errors such as a port in use are
/// returned here), and spawns the task that owns it. The task dials,
/// answers and reports nothing until [`Started::go`] is called, so services
/// that subscribe to [`Net::subscribe`] while the node starts miss no
/// peer's arrival.
pub fn spawn(cfg: NetConfig) -> Result<(Net, Started), NetError> {
    let mut swarm = build_swarm(cfg.identity.device.clone(), &cfg.options)?;
    for addr in &cfg.listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| NetError::Listen {
                addr: addr.clone(),
                reason: error_chain(&e),
            })?;
    }
    let peer_id = *swarm.local_peer_id();
    let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
    let (stop, stop_rx) = mpsc::channel(1);
    let events = EventFeed::new(EVENT_QUEUE);
    let oa_slots = cfg.store.oa_slots();
    let connected = Connected::default();
    let streams = swarm.behaviour().streams.new_control();
    let mut lp = EventLoop {
        connected: connected.clone(),
        swarm,
        identity: cfg.identity,
        name: cfg.name,
        store: cfg.store,
        events: events.clone(),
        listen_addrs: Vec::new(),
        peers: HashMap::new(),
        my_card: None,
        last_bootstrap: None,
        bootstrap: cfg.bootstrap.into_iter().take(MAX_BOOTSTRAP).collect(),
        rejoin: (Instant::now() + REJOIN_FIRST, REJOIN_FIRST),
        lookup_spread: 1.0,
        last_refresh: Instant::now(),
        refresh_every: random::jittered(REFRESH_EVERY),
        refresh_query: None,
        dials: Pending::new("dials", MAX_PENDING_DIALS),
        connects: Pending::new("connections to known peers", MAX_PENDING_DIALS),
        inbound: cfg.inbound,
        next_responder: 0,
        responders: Pending::new("inbound requests", MAX_PENDING_RESPONSES),
        requests: Pending::new("requests", MAX_PENDING_QUERIES),
        record_lookups: Pending::new("record lookups", MAX_PENDING_QUERIES),
        record_stores: Pending::new("record stores", MAX_PENDING_QUERIES),
        closest_lookups: Pending::new("closest-peer lookups", MAX_PENDING_QUERIES),
        provider_lookups: Pending::new("provider lookups", MAX_PENDING_QUERIES),
        relay: Relay::new(cfg.gossip, oa_slots),
        record_guard: Default::default(),
        lan_conn_peers: HashSet::new(),
        mdns_peers: HashSet::new(),
    };
    let (go, go_rx) = oneshot::channel();
    let task = tokio::spawn(async move {
        // Dropped without a go (the node failed to start): stop quietly.
        if go_rx.await.is_err() {
            return;
        }
        lp.rebuild_card();
        let _ = lp.join();
        lp.run(rx, stop_rx).await
    });
    Ok((
        Net {
            tx,
            stop,
            events,
            peer_id,
            connected,
            streams,
        },
        Started { go, task },
    ))
}

/// The network task, waiting for the node's services to be listening.
pub struct Started {
    go: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Started {
    /// Lets the network task dial, accept and report; hands back the task.
    pub fn go(self) -> JoinHandle<()> {
        let _ = self.go.send(());
        self.task
    }
}

/// An error with its causes, as one line (libp2p nests the useful part).
pub(super) fn error_chain<E: std::error::Error>(e: &E) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s = format!("{s}: {inner}");
        src = inner.source();
    }
    s
}

impl EventLoop {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<NetCommand>,
        mut stop: mpsc::Receiver<oneshot::Sender<()>>,
    ) {
        let mut maintenance = tokio::time::interval(Duration::from_secs(10));
        maintenance.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stopped = loop {
            tokio::select! {
                ev = self.swarm.select_next_some() => self.on_swarm_event(ev),
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => break None,
                },
                reply = stop.recv() => break reply,
                _ = maintenance.tick() => self.maintain(),
            }
        };
        self.close_all().await;
        if let Some(reply) = stopped {
            let _ = reply.send(());
        }
    }

    /// Closes every connection so peers see us leave, waiting briefly for it.
    async fn close_all(&mut self) {
        let connected: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for p in &connected {
            let _ = self.swarm.disconnect_peer_id(*p);
        }
        let deadline = tokio::time::sleep(Duration::from_millis(500));
        tokio::pin!(deadline);
        while self.swarm.connected_peers().next().is_some() {
            tokio::select! {
                _ = self.swarm.select_next_some() => {}
                _ = &mut deadline => break,
            }
        }
    }

    /// Tells subscribers; none listening is fine, events are informational.
    pub(super) fn emit(&self, ev: NetEvent) {
        let _ = self.events.send(ev);
    }

    fn on_command(&mut self, cmd: NetCommand) {
        match cmd {
            NetCommand::Dial { addr, reply } => self.dial(addr, reply),
            NetCommand::Peers { reply } => {
                let _ = reply.send(self.peer_list());
            }
            NetCommand::ListenAddrs { reply } => {
                let _ = reply.send(self.listen_addrs.clone());
            }
            NetCommand::DialPeer { peer, addrs, reply } => self.connect(peer, addrs, reply),
            NetCommand::Request {
                protocol,
                peer,
                data,
                reply,
            } => self.request(protocol, peer, data, reply),
            NetCommand::Respond {
                protocol,
                responder,
                data,
            } => self.respond(protocol, responder, data),
            NetCommand::Decline {
                protocol,
                responder,
            } => {
                // Dropping the channel closes the stream: the peer fails fast.
                self.responders.remove(&(protocol, responder));
            }
            NetCommand::PutRecord { key, value, reply } => self.put_record(key, value, reply),
            NetCommand::GetRecord { key, reply } => self.get_record(key, reply),
            NetCommand::ClosestPeers { key, want, reply } => self.closest_peers(key, want, reply),
            NetCommand::Subscribe { topic, on } => self.subscribe(topic, on),
            NetCommand::TopicPeers { topic, reply } => {
                let _ = reply.send(self.topic_peers(topic));
            }
            NetCommand::Publish { topic, data, reply } => {
                let _ = reply.send(self.publish(topic, data));
            }
            NetCommand::Validate { pending, judgement } => self.validate(pending, judgement),
            NetCommand::Provide { key, on } => self.provide(key, on),
            NetCommand::Providers { key, reply } => self.providers(key, reply),
        }
    }

    fn on_swarm_event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::NewListenAddr { address, .. } => self.on_new_listen_addr(address),
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen_addrs.retain(|a| a != &address);
                self.rebuild_card();
            }
            SwarmEvent::ListenerError { error, .. } => {
                tracing::warn!(error = %error, "listener error");
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => self.on_connected(peer_id, connection_id, endpoint, num_established.get()),
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                endpoint,
                ..
            } => self.on_closed(peer_id, endpoint.get_remote_address(), num_established),
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                error,
                peer_id,
            } => self.on_dial_failed(connection_id, peer_id, &error),
            SwarmEvent::Behaviour(ev) => self.on_behaviour_event(ev),
            _ => {}
        }
    }

    fn on_behaviour_event(&mut self, ev: BehaviourEvent) {
        match ev {
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                self.on_identify(peer_id, info)
            }
            BehaviourEvent::Mdns(mdns::Event::Discovered(list)) => self.on_mdns_found(list),
            BehaviourEvent::Mdns(mdns::Event::Expired(list)) => self.on_mdns_expired(list),
            BehaviourEvent::Card(ev) => self.on_card_event(ev),
            BehaviourEvent::Gossipsub(libp2p::gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => self.on_gossip(propagation_source, message_id, message),
            BehaviourEvent::Kad(ev) => self.on_kad_event(ev),
            BehaviourEvent::Chat(ev) => self.on_app_event(AppProtocol::Chat, ev),
            // Streams go straight to whoever accepts or opened them.
            BehaviourEvent::Streams(()) => {}
            BehaviourEvent::Mailbox(ev) => self.on_app_event(AppProtocol::Mailbox, ev),
            BehaviourEvent::Profile(ev) => self.on_app_event(AppProtocol::Profile, ev),
            BehaviourEvent::Oa(ev) => self.on_app_event(AppProtocol::Oa, ev),
            BehaviourEvent::Blob(ev) => self.on_app_event(AppProtocol::Blob, ev),
            BehaviourEvent::Sync(ev) => self.on_app_event(AppProtocol::Sync, ev),
            BehaviourEvent::Group(ev) => self.on_app_event(AppProtocol::Group, ev),
            BehaviourEvent::File(ev) => self.on_app_event(AppProtocol::File, ev),
            BehaviourEvent::Device(ev) => self.on_app_event(AppProtocol::Device, ev),
            BehaviourEvent::Mint(ev) => self.on_app_event(AppProtocol::Mint, ev),
            _ => {}
        }
    }

    fn maintain(&mut self) {
        self.responders.retain(|_, ch| ch.is_open());
        self.expire_requests();
        let connected = self.swarm.connected_peers().count();
        if connected == 0 {
            // Alone: every connection closed (a laptop that slept, a
            // network that changed), or none of the first dials answered
            // (a bootstrap peer that was down or too busy). Nothing else
            // would bring the node back, so it dials its way in again.
            let (at, wait) = self.rejoin;
            if Instant::now() >= at {
                // A node with nobody to dial (the first of a network) says nothing.
                let dials = self.join();
                if dials > 0 {
                    tracing::info!(
                        dials,
                        waited_s = wait.as_secs(),
                        "no peers; dialled the bootstrap peers and address book again"
                    );
                }
                let next = (wait * 2).min(REJOIN_MAX);
                self.rejoin = (Instant::now() + next, next);
            }
            return;
        }
        self.rejoin = (Instant::now() + REJOIN_FIRST, REJOIN_FIRST);
        // Refresh the DHT's view: a lookup of our own id (cheap: it contacts
        // the peers near us), soon while the routing table is small, then
        // every few minutes; the full refresh of every bucket (which
        // contacts peers all over the id space) rarely.
        let table: usize = self
            .swarm
            .behaviour_mut()
            .kad
            .kbuckets()
            .map(|b| b.num_entries())
            .sum();
        let every = if table < SMALL_TABLE {
            LOOKUP_SMALL
        } else {
            LOOKUP_EVERY
        };
        if self
            .last_bootstrap
            .is_none_or(|t| t.elapsed() >= every.mul_f64(self.lookup_spread))
        {
            self.bootstrap();
        }
        if self.last_refresh.elapsed() >= self.refresh_every {
            if let Ok(id) = self.swarm.behaviour_mut().kad.bootstrap() {
                self.last_refresh = Instant::now();
                self.refresh_every = random::jittered(REFRESH_EVERY);
                self.refresh_query = Some(id);
            }
        }
        self.keep_neighbours();
    }

    /// Keeps [`TARGET_PEERS`] neighbours (kept from either end, see
    /// [`super::keep`]): connections we have first, then
    /// peers from the routing table (kept before they connect, so the new
    /// connection is born kept).
    fn keep_neighbours(&mut self) {
        let kept = self.swarm.behaviour().keep.neighbours();
        if kept >= TARGET_PEERS {
            return;
        }
        let mut want = TARGET_PEERS - kept;
        let have: Vec<PeerId> = self
            .swarm
            .connected_peers()
            .filter(|p| !self.swarm.behaviour().keep.is_kept(p))
            .take(want)
            .copied()
            .collect();
        want -= have.len();
        for p in have {
            self.swarm.behaviour_mut().keep.keep(p, true);
        }
        if want == 0 {
            return;
        }
        let me = *self.swarm.local_peer_id();
        let candidates: Vec<PeerId> = self
            .swarm
            .behaviour_mut()
            .kad
            .kbuckets()
            .flat_map(|b| b.iter().map(|e| *e.node.key.preimage()).collect::<Vec<_>>())
            .filter(|p| *p != me)
            .collect();
        let unconnected: Vec<PeerId> = candidates
            .into_iter()
            .filter(|p| !self.swarm.is_connected(p))
            .take(want)
            .collect();
        for p in unconnected {
            self.swarm.behaviour_mut().keep.keep(p, true);
            let _ = self.swarm.dial(p);
        }
    }
}
