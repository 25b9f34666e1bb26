//! The task that owns the swarm. It reacts to swarm events and commands and
//! never does slow work inline: signature checks on cards are microseconds,
//! address-book writes are unflushed sled inserts; everything heavier belongs
//! to the service that asked.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::{
    core::ConnectedPoint,
    identify, identity, kad, mdns,
    multiaddr::Protocol,
    request_response,
    swarm::{dial_opts::DialOpts, ConnectionId, SwarmEvent},
    Multiaddr, PeerId, Swarm,
};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use weft_protocol::{Card, KAD_PROTOCOL};

use super::behaviour::{build_swarm, Behaviour, BehaviourEvent, SwarmOptions};
use super::{
    AppProtocol, GossipMessage, InboundRequest, Net, NetCommand, NetError, NetEvent, PeerInfo,
};
use crate::home::Identity;
use crate::store::{KnownPeer, Store};

/// Commands waiting in the queue before senders are made to wait.
const COMMAND_QUEUE: usize = 256;
/// Events buffered for slow subscribers (they then skip ahead).
const EVENT_QUEUE: usize = 1024;
/// Neighbours the node keeps connected on purpose (see `keep`).
const TARGET_PEERS: usize = 8;
/// Dials still waiting for an answer, at most.
const MAX_PENDING_DIALS: usize = 64;
/// Addresses kept per peer from identify.
const MAX_ADDRS_PER_PEER: usize = 8;
/// Peers from the address book redialled at start.
const REDIAL_AT_START: usize = 16;
/// A routing table smaller than this is refreshed every [`LOOKUP_SMALL`].
const SMALL_TABLE: usize = 20;
/// Lookup of our own id while the routing table is small.
const LOOKUP_SMALL: Duration = Duration::from_secs(60);
/// Lookup of our own id otherwise (Kademlia's usual five minutes).
const LOOKUP_EVERY: Duration = Duration::from_secs(300);
/// Full refresh of every bucket (at start, 1000 simnet nodes doing it
/// at once connected each to ~400 others).
const REFRESH_EVERY: Duration = Duration::from_secs(1800);
/// Cap on peers remembered as seen by mDNS.
const MAX_MDNS_PEERS: usize = 1024;

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
    /// Where inbound chat/mailbox requests go (the services' queue).
    pub inbound: mpsc::Sender<InboundRequest>,
    /// Where valid gossip goes.
    pub gossip: mpsc::Sender<GossipMessage>,
    /// Where Moments gossip goes, awaiting the service's verdict.
    pub moments: mpsc::Sender<GossipMessage>,
}

/// Inbound requests waiting for a service's answer, at most.
const MAX_PENDING_RESPONSES: usize = 1024;
/// Outbound requests and DHT queries in flight, at most.
const MAX_PENDING_QUERIES: usize = 1024;

type ResponseReply = oneshot::Sender<Result<Vec<u8>, NetError>>;
type RecordsReply = oneshot::Sender<Vec<Vec<u8>>>;
type PeerAddrs = super::PeerAddrList;

struct PeerState {
    addrs: Vec<Multiaddr>,
    card: Option<Card>,
}

struct EventLoop {
    swarm: Swarm<Behaviour>,
    identity: Arc<Identity>,
    name: String,
    store: Store,
    events: broadcast::Sender<NetEvent>,
    listen_addrs: Vec<Multiaddr>,
    peers: HashMap<PeerId, PeerState>,
    pending_dials: HashMap<ConnectionId, (Multiaddr, oneshot::Sender<Result<PeerId, NetError>>)>,
    my_card: Option<Card>,
    last_bootstrap: Option<Instant>,
    last_refresh: Instant,
    inbound: mpsc::Sender<InboundRequest>,
    next_responder: u64,
    responders: HashMap<(AppProtocol, u64), request_response::ResponseChannel<Vec<u8>>>,
    /// Keyed by protocol too: each request-response behaviour numbers its own requests.
    requests: HashMap<(AppProtocol, request_response::OutboundRequestId), (PeerId, ResponseReply)>,
    peer_dials: HashMap<PeerId, Vec<oneshot::Sender<Result<(), NetError>>>>,
    get_records: HashMap<kad::QueryId, (Vec<Vec<u8>>, RecordsReply)>,
    put_records: HashMap<kad::QueryId, oneshot::Sender<Result<(), NetError>>>,
    closest: HashMap<kad::QueryId, oneshot::Sender<PeerAddrs>>,
    providers: HashMap<kad::QueryId, (HashSet<PeerId>, oneshot::Sender<PeerAddrs>)>,
    gossip: mpsc::Sender<GossipMessage>,
    moments: mpsc::Sender<GossipMessage>,
    oa_slots: crate::oa::SlotTable,
    /// Peers connected from our own LAN subnet (see `same_lan`).
    lan_conn_peers: HashSet<PeerId>,
    /// Peers mDNS currently sees: still nearby when an idle connection closes.
    mdns_peers: HashSet<PeerId>,
}

/// Builds the swarm, starts listening (errors such as a port in use are
/// returned here), and spawns the task that owns it.
pub fn spawn(cfg: NetConfig) -> Result<(Net, JoinHandle<()>), NetError> {
    let mut swarm = build_swarm(cfg.identity.device.clone(), &cfg.options)?;
    for addr in &cfg.listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| NetError::Listen {
                addr: addr.clone(),
                reason: listen_reason(&e),
            })?;
    }
    let peer_id = *swarm.local_peer_id();
    let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
    let (events, _) = broadcast::channel(EVENT_QUEUE);
    let mut lp = EventLoop {
        swarm,
        identity: cfg.identity,
        name: cfg.name,
        store: cfg.store,
        events: events.clone(),
        listen_addrs: Vec::new(),
        peers: HashMap::new(),
        pending_dials: HashMap::new(),
        my_card: None,
        last_bootstrap: None,
        last_refresh: Instant::now(),
        inbound: cfg.inbound,
        next_responder: 0,
        responders: HashMap::new(),
        requests: HashMap::new(),
        peer_dials: HashMap::new(),
        get_records: HashMap::new(),
        put_records: HashMap::new(),
        closest: HashMap::new(),
        providers: HashMap::new(),
        gossip: cfg.gossip,
        moments: cfg.moments,
        oa_slots: crate::oa::SlotTable::default(),
        lan_conn_peers: HashSet::new(),
        mdns_peers: HashSet::new(),
    };
    lp.rebuild_card();
    lp.join(&cfg.bootstrap);
    let task = tokio::spawn(lp.run(rx));
    Ok((
        Net {
            tx,
            events,
            peer_id,
        },
        task,
    ))
}

fn listen_reason<E: std::error::Error>(e: &E) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s = format!("{s}: {inner}");
        src = inner.source();
    }
    s
}

fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

impl EventLoop {
    /// Dials bootstrap peers and redials the address book.
    fn join(&mut self, bootstrap: &[Multiaddr]) {
        for addr in bootstrap {
            if let Some(peer) = peer_of(addr) {
                self.swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer, addr.clone());
            }
            if let Err(e) = self.swarm.dial(addr.clone()) {
                tracing::warn!(%addr, error = %e, "cannot dial bootstrap peer");
            }
        }
        let mut known = self.store.known_peers().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read the address book");
            Vec::new()
        });
        known.sort_by_key(|(_, k)| std::cmp::Reverse(k.last_seen));
        for (peer, k) in known.into_iter().take(REDIAL_AT_START) {
            let Ok(peer) = PeerId::from_bytes(&peer) else {
                continue;
            };
            let addrs: Vec<Multiaddr> = k.addrs.iter().filter_map(|a| a.parse().ok()).collect();
            for a in &addrs {
                self.swarm.behaviour_mut().kad.add_address(&peer, a.clone());
            }
            let _ = self
                .swarm
                .dial(DialOpts::peer_id(peer).addresses(addrs).build());
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<NetCommand>) {
        let mut maintenance = tokio::time::interval(Duration::from_secs(10));
        maintenance.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let shutdown_reply = loop {
            tokio::select! {
                ev = self.swarm.select_next_some() => self.on_swarm_event(ev),
                cmd = rx.recv() => match cmd {
                    None => break None,
                    Some(NetCommand::Shutdown { reply }) => break Some(reply),
                    Some(cmd) => self.on_command(cmd),
                },
                _ = maintenance.tick() => self.maintain(),
            }
        };
        self.close_all().await;
        if let Some(reply) = shutdown_reply {
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

    fn emit(&self, ev: NetEvent) {
        // No subscriber is fine: events are informational.
        let _ = self.events.send(ev);
    }

    fn on_command(&mut self, cmd: NetCommand) {
        match cmd {
            NetCommand::Dial { addr, reply } => {
                if self.pending_dials.len() >= MAX_PENDING_DIALS {
                    let _ = reply.send(Err(NetError::Dial {
                        addr,
                        reason: "too many dials in progress".into(),
                    }));
                    return;
                }
                let opts = DialOpts::unknown_peer_id().address(addr.clone()).build();
                let id = opts.connection_id();
                match self.swarm.dial(opts) {
                    Ok(()) => {
                        self.pending_dials.insert(id, (addr, reply));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(NetError::Dial {
                            addr,
                            reason: listen_reason(&e),
                        }));
                    }
                }
            }
            NetCommand::Peers { reply } => {
                let list = self
                    .peers
                    .iter()
                    .map(|(id, st)| PeerInfo {
                        peer_id: id.to_string(),
                        addrs: st.addrs.iter().map(|a| a.to_string()).collect(),
                        account_id: st.card.as_ref().map(|c| c.account().to_string()),
                        name: st.card.as_ref().map(|c| c.body.name.clone()),
                    })
                    .collect();
                let _ = reply.send(list);
            }
            NetCommand::ListenAddrs { reply } => {
                let _ = reply.send(self.listen_addrs.clone());
            }
            NetCommand::DialPeer { peer, addrs, reply } => {
                if self.swarm.is_connected(&peer) {
                    let _ = reply.send(Ok(()));
                    return;
                }
                if self.peer_dials.len() >= MAX_PENDING_DIALS
                    && !self.peer_dials.contains_key(&peer)
                {
                    let _ = reply.send(Err(NetError::Dial {
                        addr: addrs.first().cloned().unwrap_or_else(Multiaddr::empty),
                        reason: "too many dials in progress".into(),
                    }));
                    return;
                }
                for a in &addrs {
                    self.swarm.behaviour_mut().kad.add_address(&peer, a.clone());
                }
                let opts = DialOpts::peer_id(peer)
                    .addresses(addrs)
                    .extend_addresses_through_behaviour()
                    .condition(libp2p::swarm::dial_opts::PeerCondition::DisconnectedAndNotDialing)
                    .build();
                match self.swarm.dial(opts) {
                    Ok(()) | Err(libp2p::swarm::DialError::DialPeerConditionFalse(_)) => {
                        self.peer_dials.entry(peer).or_default().push(reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(NetError::Request {
                            peer,
                            reason: listen_reason(&e),
                        }));
                    }
                }
            }
            NetCommand::Request {
                protocol,
                peer,
                data,
                reply,
            } => {
                if self.requests.len() >= MAX_PENDING_QUERIES {
                    let _ = reply.send(Err(NetError::Request {
                        peer,
                        reason: "too many requests in flight".into(),
                    }));
                    return;
                }
                let b = self.swarm.behaviour_mut();
                let id = match protocol {
                    AppProtocol::Chat => b.chat.send_request(&peer, data),
                    AppProtocol::Mailbox => b.mailbox.send_request(&peer, data),
                    AppProtocol::Profile => b.profile.send_request(&peer, data),
                    AppProtocol::Oa => b.oa.send_request(&peer, data),
                    AppProtocol::Blob => b.blob.send_request(&peer, data),
                    AppProtocol::Sync => b.sync.send_request(&peer, data),
                };
                self.requests.insert((protocol, id), (peer, reply));
            }
            NetCommand::Respond {
                protocol,
                responder,
                data,
            } => {
                if let Some(ch) = self.responders.remove(&(protocol, responder)) {
                    let b = self.swarm.behaviour_mut();
                    let _ = match protocol {
                        AppProtocol::Chat => b.chat.send_response(ch, data),
                        AppProtocol::Mailbox => b.mailbox.send_response(ch, data),
                        AppProtocol::Profile => b.profile.send_response(ch, data),
                        AppProtocol::Oa => b.oa.send_response(ch, data),
                        AppProtocol::Blob => b.blob.send_response(ch, data),
                        AppProtocol::Sync => b.sync.send_response(ch, data),
                    };
                }
            }
            NetCommand::Decline {
                protocol,
                responder,
            } => {
                // Dropping the channel closes the stream: the peer fails fast.
                self.responders.remove(&(protocol, responder));
            }
            NetCommand::PutRecord { key, value, reply } => {
                let mut record = kad::Record::new(key, value);
                record.expires = Some(
                    Instant::now() + Duration::from_secs(super::records::ACCOUNT_RECORD_TTL_SECS),
                );
                match self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .put_record(record, kad::Quorum::One)
                {
                    Ok(id) => {
                        self.put_records.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(NetError::Dht(format!("{e:?}"))));
                    }
                }
            }
            NetCommand::GetRecord { key, reply } => {
                if self.get_records.len() >= MAX_PENDING_QUERIES {
                    let _ = reply.send(Vec::new());
                    return;
                }
                let id = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .get_record(kad::RecordKey::new(&key));
                self.get_records.insert(id, (Vec::new(), reply));
            }
            NetCommand::ClosestPeers { key, reply } => {
                if self.closest.len() >= MAX_PENDING_QUERIES {
                    let _ = reply.send(Vec::new());
                    return;
                }
                let id = self.swarm.behaviour_mut().kad.get_closest_peers(key);
                self.closest.insert(id, reply);
            }
            NetCommand::Subscribe { topic, on } => {
                let t = libp2p::gossipsub::IdentTopic::new(topic);
                let g = &mut self.swarm.behaviour_mut().gossipsub;
                if on {
                    if let Err(e) = g.subscribe(&t) {
                        tracing::warn!(error = ?e, "cannot subscribe");
                    }
                } else {
                    g.unsubscribe(&t);
                }
            }
            NetCommand::TopicPeers { topic, reply } => {
                let hash = libp2p::gossipsub::IdentTopic::new(topic).hash();
                let n = self
                    .swarm
                    .behaviour()
                    .gossipsub
                    .all_peers()
                    .filter(|(_, topics)| topics.contains(&&hash))
                    .count();
                let _ = reply.send(n);
            }
            NetCommand::Publish { topic, data, reply } => {
                let t = libp2p::gossipsub::IdentTopic::new(topic);
                let r = self.swarm.behaviour_mut().gossipsub.publish(t, data);
                let _ = reply.send(r.map(|_| ()).map_err(|e| NetError::Publish(e.to_string())));
            }
            NetCommand::Validate { pending, accept } => {
                let verdict = if accept {
                    libp2p::gossipsub::MessageAcceptance::Accept
                } else {
                    libp2p::gossipsub::MessageAcceptance::Reject
                };
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&pending.id, &pending.source, verdict);
            }
            NetCommand::Provide { key, on } => {
                let kad = &mut self.swarm.behaviour_mut().kad;
                if on {
                    if let Err(e) = kad.start_providing(kad::RecordKey::new(&key)) {
                        tracing::debug!(error = ?e, "cannot provide");
                    }
                } else {
                    kad.stop_providing(&kad::RecordKey::new(&key));
                }
            }
            NetCommand::Providers { key, reply } => {
                if self.providers.len() >= MAX_PENDING_QUERIES {
                    let _ = reply.send(Vec::new());
                    return;
                }
                let id = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .get_providers(kad::RecordKey::new(&key));
                self.providers.insert(id, (HashSet::new(), reply));
            }
            NetCommand::Shutdown { .. } => unreachable!("handled in run"),
        }
    }

    fn maintain(&mut self) {
        self.responders.retain(|_, ch| ch.is_open());
        let connected = self.swarm.connected_peers().count();
        if connected == 0 {
            return;
        }
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
        if self.last_bootstrap.is_none_or(|t| t.elapsed() >= every) {
            self.bootstrap();
        }
        if self.last_refresh.elapsed() >= REFRESH_EVERY
            && self.swarm.behaviour_mut().kad.bootstrap().is_ok()
        {
            self.last_refresh = Instant::now();
        }
        // Keep TARGET_PEERS neighbours: connections we have first, then
        // peers from the routing table (kept before they connect, so the
        // new connection is born kept).
        let kept = self.swarm.behaviour().keep.kept();
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

    /// Joins the DHT: looks up our own id, which fills the routing table
    /// with the peers near us and tells them about us.
    fn bootstrap(&mut self) {
        let me = *self.swarm.local_peer_id();
        self.swarm.behaviour_mut().kad.get_closest_peers(me);
        self.last_bootstrap = Some(Instant::now());
    }

    /// Whether `addr` is a private IPv4 address in the same /24 as one of our
    /// listen addresses (loopback and public addresses are not "nearby").
    fn same_lan(&self, addr: &Multiaddr) -> bool {
        let ip4 = |a: &Multiaddr| {
            a.iter().find_map(|p| match p {
                Protocol::Ip4(ip) => Some(ip),
                _ => None,
            })
        };
        let Some(remote) = ip4(addr) else {
            return false;
        };
        if !(remote.is_private() || remote.is_link_local()) {
            return false;
        }
        self.listen_addrs
            .iter()
            .filter_map(ip4)
            .any(|mine| mine != remote && mine.octets()[..3] == remote.octets()[..3])
    }

    fn rebuild_card(&mut self) {
        let addrs = super::dialable(&self.listen_addrs);
        match Card::new(
            &self.identity.account,
            self.identity.cert.clone(),
            &self.name,
            addrs,
            weft_protocol::unix_now(),
        ) {
            Ok(c) => self.my_card = Some(c),
            Err(e) => tracing::error!(error = %e, "cannot make our card"),
        }
    }

    /// Checks that a card is signed and certifies the device we talk to.
    fn accept_card(&mut self, peer: PeerId, card: Card) {
        if let Err(e) = card.verify() {
            tracing::warn!(%peer, error = %e, "rejecting card");
            return;
        }
        let device = identity::ed25519::PublicKey::try_from_bytes(&card.device_key())
            .map(|k| identity::PublicKey::from(k).to_peer_id());
        if device.ok() != Some(peer) {
            tracing::warn!(%peer, "rejecting card: it certifies another device");
            return;
        }
        if let Err(e) = self.store.put_card(&peer.to_bytes(), &card) {
            tracing::warn!(%peer, error = %e, "cannot store card");
        }
        self.emit(NetEvent::PeerIdentified {
            peer_id: peer.to_string(),
            account_id: card.account().to_string(),
            name: card.body.name.clone(),
        });
        if let Some(st) = self.peers.get_mut(&peer) {
            st.card = Some(card);
        }
    }

    fn on_swarm_event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                if !self.listen_addrs.contains(&address) {
                    self.listen_addrs.push(address.clone());
                }
                self.rebuild_card();
                self.emit(NetEvent::Listening {
                    addr: address.to_string(),
                });
            }
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
            } => {
                if let Some(st) = self.peers.get_mut(&peer_id) {
                    st.addrs.retain(|a| a != endpoint.get_remote_address());
                }
                if num_established == 0 {
                    self.peers.remove(&peer_id);
                    // An idle connection closing does not make an mDNS-seen peer leave the LAN.
                    if self.lan_conn_peers.remove(&peer_id) && !self.mdns_peers.contains(&peer_id) {
                        self.emit(NetEvent::LanPeerExpired {
                            peer_id: peer_id.to_string(),
                        });
                    }
                    self.emit(NetEvent::PeerDisconnected {
                        peer_id: peer_id.to_string(),
                    });
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                error,
                peer_id,
            } => {
                if let Some(p) = peer_id {
                    if !self.swarm.is_connected(&p) {
                        for reply in self.peer_dials.remove(&p).unwrap_or_default() {
                            let _ = reply.send(Err(NetError::Request {
                                peer: p,
                                reason: listen_reason(&error),
                            }));
                        }
                    }
                }
                if let Some((addr, reply)) = self.pending_dials.remove(&connection_id) {
                    let _ = reply.send(Err(NetError::Dial {
                        addr,
                        reason: listen_reason(&error),
                    }));
                } else {
                    tracing::debug!(error = %error, "outgoing connection failed");
                }
            }
            SwarmEvent::Behaviour(ev) => self.on_behaviour_event(ev),
            _ => {}
        }
    }

    fn on_connected(&mut self, peer: PeerId, id: ConnectionId, endpoint: ConnectedPoint, n: u32) {
        let addr = endpoint.get_remote_address().clone();
        if let Some((_, reply)) = self.pending_dials.remove(&id) {
            let _ = reply.send(Ok(peer));
        }
        for reply in self.peer_dials.remove(&peer).unwrap_or_default() {
            let _ = reply.send(Ok(()));
        }
        let st = self.peers.entry(peer).or_insert_with(|| PeerState {
            addrs: Vec::new(),
            card: None,
        });
        if st.addrs.len() < MAX_ADDRS_PER_PEER && !st.addrs.contains(&addr) {
            st.addrs.push(addr.clone());
        }
        if n == 1 && self.same_lan(&addr) && self.lan_conn_peers.len() < 1024 {
            // mDNS answers don't always reach both sides (a peer that only
            // answers our queries never "discovers" us); a connection from
            // our own LAN subnet is just as much a nearby peer.
            self.lan_conn_peers.insert(peer);
            self.emit(NetEvent::LanPeerFound {
                peer_id: peer.to_string(),
                addr: addr.to_string(),
            });
        }
        if n == 1 {
            tracing::info!(%peer, %addr, "peer connected");
            self.emit(NetEvent::PeerConnected {
                peer_id: peer.to_string(),
                addr: addr.to_string(),
            });
            // The dialer opens the card exchange; the listener answers with its own.
            if endpoint.is_dialer() {
                if let Some(card) = self.my_card.clone() {
                    self.swarm.behaviour_mut().card.send_request(&peer, card);
                }
            }
        }
    }

    fn on_behaviour_event(&mut self, ev: BehaviourEvent) {
        match ev {
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                let addrs: Vec<Multiaddr> = info
                    .listen_addrs
                    .into_iter()
                    .take(MAX_ADDRS_PER_PEER)
                    .collect();
                if info.protocols.iter().any(|p| p.as_ref() == KAD_PROTOCOL) {
                    for a in &addrs {
                        self.swarm
                            .behaviour_mut()
                            .kad
                            .add_address(&peer_id, a.clone());
                    }
                    if self.last_bootstrap.is_none() {
                        self.bootstrap();
                    }
                }
                let known = KnownPeer {
                    addrs: addrs.iter().map(|a| a.to_string()).collect(),
                    last_seen: weft_protocol::unix_now(),
                };
                // May flush to disk: keep it off the swarm task.
                let store = self.store.clone();
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = store.remember_peer(&peer_id.to_bytes(), &known) {
                        tracing::warn!(error = %e, "cannot update the address book");
                    }
                });
            }
            BehaviourEvent::Mdns(mdns::Event::Discovered(list)) => {
                let mut seen = HashSet::new();
                for (peer, addr) in list {
                    if self.mdns_peers.len() < MAX_MDNS_PEERS {
                        self.mdns_peers.insert(peer);
                    }
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer, addr.clone());
                    if seen.insert(peer) {
                        self.emit(NetEvent::LanPeerFound {
                            peer_id: peer.to_string(),
                            addr: addr.to_string(),
                        });
                    }
                    if !self.swarm.is_connected(&peer) {
                        let _ = self
                            .swarm
                            .dial(DialOpts::peer_id(peer).addresses(vec![addr]).build());
                    }
                }
            }
            BehaviourEvent::Card(request_response::Event::Message { peer, message, .. }) => {
                match message {
                    request_response::Message::Request {
                        request, channel, ..
                    } => {
                        self.accept_card(peer, request);
                        if let Some(card) = self.my_card.clone() {
                            let _ = self.swarm.behaviour_mut().card.send_response(channel, card);
                        }
                    }
                    request_response::Message::Response { response, .. } => {
                        self.accept_card(peer, response);
                    }
                }
            }
            BehaviourEvent::Card(request_response::Event::InboundFailure {
                peer, error, ..
            }) => {
                tracing::warn!(%peer, error = %error, "bad card exchange from peer");
            }
            BehaviourEvent::Card(request_response::Event::OutboundFailure {
                peer, error, ..
            }) => {
                tracing::debug!(%peer, error = %error, "card request failed");
            }
            BehaviourEvent::Gossipsub(libp2p::gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                // Every relaying node validates before forwarding.
                let topic = message.topic.as_str().to_string();
                if topic.starts_with("weft/moments/") {
                    self.on_moments_gossip(topic, propagation_source, message_id, message.data);
                    return;
                }
                let verdict = if topic.starts_with("weft/oa/") {
                    crate::oa::check_gossip(
                        &topic,
                        &message.data,
                        weft_protocol::unix_now(),
                        &mut self.oa_slots,
                    )
                } else {
                    Err("no Weft service uses this topic".to_string())
                };
                let acceptance = match verdict {
                    Ok(()) => {
                        let msg = GossipMessage {
                            topic,
                            data: message.data,
                            pending: None,
                        };
                        if self.gossip.try_send(msg).is_err() {
                            tracing::warn!(
                                "gossip queue full; a valid message is relayed but not processed"
                            );
                        }
                        libp2p::gossipsub::MessageAcceptance::Accept
                    }
                    Err(reason) => {
                        tracing::info!(%topic, peer = %propagation_source, %reason, "rejecting gossip");
                        libp2p::gossipsub::MessageAcceptance::Reject
                    }
                };
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&message_id, &propagation_source, acceptance);
            }
            BehaviourEvent::Kad(ev) => self.on_kad_event(ev),
            BehaviourEvent::Chat(ev) => self.on_app_event(AppProtocol::Chat, ev),
            BehaviourEvent::Mailbox(ev) => self.on_app_event(AppProtocol::Mailbox, ev),
            BehaviourEvent::Profile(ev) => self.on_app_event(AppProtocol::Profile, ev),
            BehaviourEvent::Oa(ev) => self.on_app_event(AppProtocol::Oa, ev),
            BehaviourEvent::Blob(ev) => self.on_app_event(AppProtocol::Blob, ev),
            BehaviourEvent::Sync(ev) => self.on_app_event(AppProtocol::Sync, ev),
            BehaviourEvent::Mdns(mdns::Event::Expired(list)) => {
                let mut seen = HashSet::new();
                for (peer, _) in list {
                    self.mdns_peers.remove(&peer);
                    if seen.insert(peer) {
                        self.emit(NetEvent::LanPeerExpired {
                            peer_id: peer.to_string(),
                        });
                    }
                }
            }
            _ => {}
        }
    }

    /// Moments gossip: what a relay can check without keys (size,
    /// structure, signature, signer allowed on this topic, freshness) is
    /// checked here; readers' checks (decryption, audience) happen in the
    /// Moments service, which gives the verdict through [`Net::validate`].
    fn on_moments_gossip(
        &mut self,
        topic: String,
        source: PeerId,
        id: libp2p::gossipsub::MessageId,
        data: Vec<u8>,
    ) {
        let verdict = crate::moments::check_gossip(&topic, &data, weft_protocol::unix_now());
        let pending = super::PendingValidation { id, source };
        let accept = match verdict {
            Ok(()) => {
                let msg = GossipMessage {
                    topic,
                    data,
                    pending: Some(pending.clone()),
                };
                match self.moments.try_send(msg) {
                    Ok(()) => return,
                    Err(_) => {
                        // Valid as far as a relay can tell; too busy to read it.
                        tracing::warn!("moments queue full; relaying unread");
                        libp2p::gossipsub::MessageAcceptance::Accept
                    }
                }
            }
            Err(reason) => {
                tracing::info!(%topic, peer = %source, %reason, "rejecting moments gossip");
                libp2p::gossipsub::MessageAcceptance::Reject
            }
        };
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(&pending.id, &pending.source, accept);
    }

    fn on_app_event(
        &mut self,
        protocol: AppProtocol,
        ev: request_response::Event<Vec<u8>, Vec<u8>>,
    ) {
        match ev {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    if self.responders.len() >= MAX_PENDING_RESPONSES {
                        tracing::warn!(%peer, "too many requests waiting; dropping one");
                        return; // dropping the channel tells the peer to retry later
                    }
                    self.next_responder += 1;
                    let responder = self.next_responder;
                    let req = InboundRequest {
                        protocol,
                        peer,
                        data: request,
                        responder,
                    };
                    match self.inbound.try_send(req) {
                        Ok(()) => {
                            self.responders.insert((protocol, responder), channel);
                        }
                        Err(_) => tracing::warn!(%peer, "service queue full; dropping request"),
                    }
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some((_, reply)) = self.requests.remove(&(protocol, request_id)) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some((_, reply)) = self.requests.remove(&(protocol, request_id)) {
                    let _ = reply.send(Err(NetError::Request {
                        peer,
                        reason: error.to_string(),
                    }));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, ?protocol, error = %error, "inbound request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn on_kad_event(&mut self, ev: kad::Event) {
        use kad::store::RecordStore;
        use kad::{Event, GetRecordOk, InboundRequest as KadInbound, QueryResult};
        match ev {
            Event::InboundRequest {
                request:
                    KadInbound::PutRecord {
                        source,
                        record: Some(record),
                        ..
                    },
            } => match super::records::validate(
                &record.key.to_vec(),
                &record.value,
                weft_protocol::unix_now(),
            ) {
                Ok(()) => {
                    if let Err(e) = self.swarm.behaviour_mut().kad.store_mut().put(record) {
                        tracing::debug!(error = ?e, "DHT store full");
                    }
                }
                Err(reason) => tracing::warn!(peer = %source, %reason, "rejecting DHT record"),
            },
            Event::OutboundQueryProgressed {
                id, result, step, ..
            } => match result {
                QueryResult::GetRecord(Ok(GetRecordOk::FoundRecord(found))) => {
                    let now = weft_protocol::unix_now();
                    let rec = found.record;
                    if let Some((values, _)) = self.get_records.get_mut(&id) {
                        if super::records::validate(&rec.key.to_vec(), &rec.value, now).is_ok()
                            && values.len() < 16
                        {
                            values.push(rec.value);
                        }
                    }
                    if step.last {
                        if let Some((values, reply)) = self.get_records.remove(&id) {
                            let _ = reply.send(values);
                        }
                    }
                }
                QueryResult::GetRecord(_) if step.last => {
                    if let Some((values, reply)) = self.get_records.remove(&id) {
                        let _ = reply.send(values);
                    }
                }
                QueryResult::PutRecord(r) => {
                    if let Some(reply) = self.put_records.remove(&id) {
                        let _ = reply.send(r.map(|_| ()).map_err(|e| NetError::Dht(e.to_string())));
                    }
                }
                QueryResult::GetProviders(r) => {
                    if let Some((found, _)) = self.providers.get_mut(&id) {
                        if let Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) = r {
                            found.extend(providers.into_iter().take(64));
                        }
                    }
                    if step.last {
                        if let Some((found, reply)) = self.providers.remove(&id) {
                            let me = *self.swarm.local_peer_id();
                            let list = found
                                .into_iter()
                                .filter(|p| *p != me)
                                .map(|p| (p, Vec::new()))
                                .collect();
                            let _ = reply.send(list);
                        }
                    }
                }
                QueryResult::GetClosestPeers(r) => {
                    let peers = match r {
                        Ok(ok) => ok.peers,
                        Err(kad::GetClosestPeersError::Timeout { peers, .. }) => peers,
                    };
                    if let Some(reply) = self.closest.remove(&id) {
                        let _ =
                            reply.send(peers.into_iter().map(|p| (p.peer_id, p.addrs)).collect());
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }
}
