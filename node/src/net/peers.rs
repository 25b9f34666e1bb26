//! Peers and connections: joining the network, dials, the card exchange
//! that tells us which account a device speaks for, identify (addresses
//! for the DHT and the address book) and LAN discovery (mDNS, and
//! connections from our own subnet).

use std::collections::HashSet;

use libp2p::{
    core::ConnectedPoint,
    identify, kad,
    multiaddr::Protocol,
    request_response,
    swarm::{dial_opts::DialOpts, ConnectionId, DialError},
    Multiaddr, PeerId,
};
use weft_protocol::{Card, KAD_PROTOCOL};

use super::event_loop::{error_chain, ConnectReply, DialReply, EventLoop, PeerState};
use super::pending::Full;
use super::{NetError, NetEvent, PeerInfo};
use crate::store::KnownPeer;

/// Addresses kept per peer from identify.
const MAX_ADDRS_PER_PEER: usize = 8;
/// Peers from the address book redialled at start.
const REDIAL_AT_START: usize = 16;
/// Cap on peers remembered as seen by mDNS.
const MAX_MDNS_PEERS: usize = 1024;
/// Cap on peers remembered as connected from our LAN subnet.
const MAX_LAN_CONN_PEERS: usize = 1024;
/// Callers waiting for a connection to one peer, at most.
const MAX_CONNECT_WAITERS: usize = 64;

/// The peer id an address names (`/p2p/…`), if any.
fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

impl EventLoop {
    /// Dials bootstrap peers and redials the address book (at start, and
    /// again while the node has no connection); how many dials it started.
    pub(super) fn join(&mut self) -> usize {
        let mut dials = 0;
        for addr in self.bootstrap.clone() {
            if let Some(peer) = peer_of(&addr) {
                self.route(peer, addr.clone());
            }
            match self.swarm.dial(addr.clone()) {
                Ok(()) => dials += 1,
                Err(e) => tracing::warn!(%addr, error = %e, "cannot dial bootstrap peer"),
            }
        }
        let mut known = self.store.known_peers().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read the address book");
            Vec::new()
        });
        // Peers we reached ourselves first: strangers who connected to us
        // must not decide what we redial.
        known.sort_by_key(|(_, k)| std::cmp::Reverse(k.rank()));
        for (peer, k) in known.into_iter().take(REDIAL_AT_START) {
            let Ok(peer) = PeerId::from_bytes(&peer) else {
                continue;
            };
            let addrs: Vec<Multiaddr> = k.addrs.iter().filter_map(|a| a.parse().ok()).collect();
            for a in &addrs {
                self.route(peer, a.clone());
            }
            if self
                .swarm
                .dial(DialOpts::peer_id(peer).addresses(addrs).build())
                .is_ok()
            {
                dials += 1;
            }
        }
        dials
    }

    /// Dials an address; `reply` gets the peer once connected.
    pub(super) fn dial(&mut self, addr: Multiaddr, reply: DialReply) {
        if let Err(full) = self.dials.room() {
            let _ = reply.send(Err(full.into()));
            return;
        }
        let opts = DialOpts::unknown_peer_id().address(addr.clone()).build();
        let id = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                if let Err((full, (_, reply))) = self.dials.insert(id, (addr, reply)) {
                    let _ = reply.send(Err(full.into()));
                }
            }
            Err(e) => {
                let _ = reply.send(Err(NetError::Dial {
                    addr,
                    reason: error_chain(&e),
                }));
            }
        }
    }

    /// Connects to a known peer (at once if connected already).
    pub(super) fn connect(&mut self, peer: PeerId, addrs: Vec<Multiaddr>, reply: ConnectReply) {
        if self.swarm.is_connected(&peer) {
            let _ = reply.send(Ok(()));
            return;
        }
        if !self.connects.contains(&peer) {
            if let Err(full) = self.connects.room() {
                let _ = reply.send(Err(full.into()));
                return;
            }
        }
        for a in &addrs {
            self.route(peer, a.clone());
        }
        let opts = DialOpts::peer_id(peer)
            .addresses(addrs)
            .extend_addresses_through_behaviour()
            .condition(libp2p::swarm::dial_opts::PeerCondition::DisconnectedAndNotDialing)
            .build();
        match self.swarm.dial(opts) {
            Ok(()) | Err(DialError::DialPeerConditionFalse(_)) => {
                match self.connects.get_mut(&peer) {
                    Some(waiters) if waiters.len() >= MAX_CONNECT_WAITERS => {
                        let full = Full {
                            what: "callers waiting for one peer",
                            cap: MAX_CONNECT_WAITERS,
                        };
                        let _ = reply.send(Err(full.into()));
                    }
                    Some(waiters) => waiters.push(reply),
                    None => {
                        if let Err((full, replies)) = self.connects.insert(peer, vec![reply]) {
                            for reply in replies {
                                let _ = reply.send(Err(full.into()));
                            }
                        }
                    }
                }
            }
            Err(e) => {
                let _ = reply.send(Err(NetError::Request {
                    peer,
                    reason: error_chain(&e),
                }));
            }
        }
    }

    /// Connected peers, with what their cards told us.
    pub(super) fn peer_list(&self) -> Vec<PeerInfo> {
        self.peers
            .iter()
            .map(|(id, st)| PeerInfo {
                peer_id: *id,
                addrs: st.addrs.clone(),
                account_id: st.card.as_ref().map(|c| c.account()),
                name: st.card.as_ref().map(|c| c.body.name.clone()),
            })
            .collect()
    }

    pub(super) fn on_new_listen_addr(&mut self, address: Multiaddr) {
        tracing::info!(%address, "listening");
        if !self.listen_addrs.contains(&address) {
            self.listen_addrs.push(address.clone());
        }
        self.rebuild_card();
        self.emit(NetEvent::Listening { addr: address });
    }

    pub(super) fn on_connected(
        &mut self,
        peer: PeerId,
        id: ConnectionId,
        endpoint: ConnectedPoint,
        n: u32,
    ) {
        let addr = endpoint.get_remote_address().clone();
        if let Some((_, reply)) = self.dials.remove(&id) {
            let _ = reply.send(Ok(peer));
        }
        for reply in self.connects.remove(&peer).unwrap_or_default() {
            let _ = reply.send(Ok(()));
        }
        let st = self.peers.entry(peer).or_insert_with(|| PeerState {
            addrs: Vec::new(),
            card: None,
            dialed: false,
            card_failures: 0,
        });
        st.dialed |= endpoint.is_dialer();
        self.connected.up(peer);
        if st.addrs.len() < MAX_ADDRS_PER_PEER && !st.addrs.contains(&addr) {
            st.addrs.push(addr.clone());
        }
        if n == 1 && self.same_lan(&addr) && self.lan_conn_peers.len() < MAX_LAN_CONN_PEERS {
            // mDNS answers don't always reach both sides (a peer that only
            // answers our queries never "discovers" us); a connection from
            // our own LAN subnet is just as much a nearby peer.
            self.lan_conn_peers.insert(peer);
            self.emit(NetEvent::LanPeerFound {
                peer_id: peer,
                addr: addr.clone(),
            });
        }
        if n == 1 {
            tracing::info!(%peer, %addr, "peer connected");
            self.emit(NetEvent::PeerConnected {
                peer_id: peer,
                addr,
            });
            // The dialer opens the card exchange; the listener answers with its own.
            if endpoint.is_dialer() {
                if let Some(card) = self.my_card.clone() {
                    self.swarm.behaviour_mut().card.send_request(&peer, card);
                }
            }
        }
    }

    pub(super) fn on_closed(&mut self, peer: PeerId, remote: &Multiaddr, remaining: u32) {
        if let Some(st) = self.peers.get_mut(&peer) {
            st.addrs.retain(|a| a != remote);
        }
        if remaining == 0 {
            self.peers.remove(&peer);
            self.connected.down(&peer);
            // An idle connection closing does not make an mDNS-seen peer leave the LAN.
            if self.lan_conn_peers.remove(&peer) && !self.mdns_peers.contains(&peer) {
                self.emit(NetEvent::LanPeerExpired { peer_id: peer });
            }
            self.emit(NetEvent::PeerDisconnected { peer_id: peer });
        }
    }

    pub(super) fn on_dial_failed(
        &mut self,
        id: ConnectionId,
        peer: Option<PeerId>,
        error: &DialError,
    ) {
        if let Some(p) = peer {
            if !self.swarm.is_connected(&p) {
                for reply in self.connects.remove(&p).unwrap_or_default() {
                    let _ = reply.send(Err(NetError::Request {
                        peer: p,
                        reason: error_chain(error),
                    }));
                }
            }
        }
        if let Some((addr, reply)) = self.dials.remove(&id) {
            let _ = reply.send(Err(NetError::Dial {
                addr,
                reason: error_chain(error),
            }));
        } else {
            tracing::debug!(error = %error, "outgoing connection failed");
        }
    }

    /// Puts `addr` for `peer` in the DHT's routing table, unless the peer's
    /// bucket is full and the peer not in it. libp2p answers a newcomer to a
    /// full bucket by dialling the bucket's least recently seen entry to see
    /// whether it is still alive; since idle connections close after a
    /// minute, every entry of a full bucket soon counts as disconnected, so
    /// each new contact would cost a dial, whose connection is in turn a new
    /// contact at the other end. A full bucket keeps the peers it has; dead
    /// ones leave it when a query or a dial to them fails.
    pub(super) fn route(&mut self, peer: PeerId, addr: Multiaddr) {
        let kad = &mut self.swarm.behaviour_mut().kad;
        if let Some(bucket) = kad.kbucket(peer) {
            let present = bucket.iter().any(|e| *e.node.key.preimage() == peer);
            if !present && (bucket.num_entries() >= kad::K_VALUE.get() || bucket.has_pending()) {
                return;
            }
        }
        kad.add_address(&peer, addr);
    }

    /// A peer told us its addresses and protocols: DHT peers go into the
    /// routing table (the first one starts our DHT bootstrap), and every
    /// peer into the address book.
    pub(super) fn on_identify(&mut self, peer_id: PeerId, info: identify::Info) {
        let addrs: Vec<Multiaddr> = info
            .listen_addrs
            .into_iter()
            .take(MAX_ADDRS_PER_PEER)
            .collect();
        if info.protocols.iter().any(|p| p.as_ref() == KAD_PROTOCOL) {
            for a in &addrs {
                self.route(peer_id, a.clone());
            }
            if self.last_bootstrap.is_none() {
                self.bootstrap();
            }
        }
        let known = KnownPeer {
            addrs: addrs.iter().map(|a| a.to_string()).collect(),
            last_seen: weft_protocol::unix_now(),
            dialed: self.peers.get(&peer_id).is_some_and(|s| s.dialed),
        };
        // May flush to disk: keep it off the swarm task.
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = store.remember_peer(&peer_id.to_bytes(), &known) {
                tracing::warn!(error = %e, "cannot update the address book");
            }
        });
    }

    pub(super) fn on_mdns_found(&mut self, list: Vec<(PeerId, Multiaddr)>) {
        let mut seen = HashSet::new();
        for (peer, addr) in list {
            if self.mdns_peers.len() < MAX_MDNS_PEERS {
                self.mdns_peers.insert(peer);
            }
            self.route(peer, addr.clone());
            if seen.insert(peer) {
                self.emit(NetEvent::LanPeerFound {
                    peer_id: peer,
                    addr: addr.clone(),
                });
            }
            if !self.swarm.is_connected(&peer) {
                let _ = self
                    .swarm
                    .dial(DialOpts::peer_id(peer).addresses(vec![addr]).build());
            }
        }
    }

    pub(super) fn on_mdns_expired(&mut self, list: Vec<(PeerId, Multiaddr)>) {
        let mut seen = HashSet::new();
        for (peer, _) in list {
            self.mdns_peers.remove(&peer);
            if seen.insert(peer) {
                self.emit(NetEvent::LanPeerExpired { peer_id: peer });
            }
        }
    }

    pub(super) fn on_card_event(&mut self, ev: request_response::Event<Card, Card>) {
        match ev {
            request_response::Event::Message { peer, message, .. } => match message {
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
            },
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::warn!(%peer, error = %error, "bad card exchange from peer");
            }
            request_response::Event::OutboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, error = %error, "card request failed");
                self.ask_card_again(peer, &error);
            }
            request_response::Event::ResponseSent { .. } => {}
        }
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

    /// Signs a new card naming our current dialable addresses.
    pub(super) fn rebuild_card(&mut self) {
        let addrs = super::dialable(&self.listen_addrs);
        match self
            .identity
            .card(&self.name, addrs, weft_protocol::unix_now())
        {
            Ok(c) => self.my_card = Some(c),
            Err(e) => tracing::error!(error = %e, "cannot make our card"),
        }
    }

    /// Sends our card to `peer` again after a request failed, while it is
    /// still connected, has not shown its card and has tries left.
    fn ask_card_again(&mut self, peer: PeerId, error: &request_response::OutboundFailure) {
        if matches!(
            error,
            request_response::OutboundFailure::UnsupportedProtocols
                | request_response::OutboundFailure::DialFailure
        ) {
            return;
        }
        let Some(st) = self.peers.get_mut(&peer) else {
            return; // gone: a new connection starts its own exchange
        };
        if st.card.is_some() || st.card_failures + 1 >= super::event_loop::CARD_TRIES {
            return;
        }
        st.card_failures += 1;
        if let Some(card) = self.my_card.clone() {
            tracing::debug!(%peer, tries = st.card_failures + 1, "asking for the card again");
            self.swarm.behaviour_mut().card.send_request(&peer, card);
        }
    }

    /// Checks that a card is signed and certifies the device we talk to.
    fn accept_card(&mut self, peer: PeerId, card: Card) {
        if let Err(e) = card.verify() {
            tracing::warn!(%peer, error = %e, "rejecting card");
            return;
        }
        if super::card_peer(&card) != Some(peer) {
            tracing::warn!(%peer, "rejecting card: it certifies another device");
            return;
        }
        if let Err(e) = self.store.put_card(&peer.to_bytes(), &card) {
            tracing::warn!(%peer, error = %e, "cannot store card");
        }
        self.emit(NetEvent::PeerIdentified {
            peer_id: peer,
            account_id: card.account(),
            name: card.body.name.clone(),
        });
        if let Some(st) = self.peers.get_mut(&peer) {
            self.connected.identified(&peer, card.account());
            st.card = Some(card);
        }
    }
}
