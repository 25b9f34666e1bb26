//! The network actor. One task ([`event_loop`]) owns the libp2p `Swarm`;
//! the rest of the node holds a cheap [`Net`] handle that sends typed
//! [`NetCommand`]s with `oneshot` replies, and subscribes to [`NetEvent`]s.
//!
//! The loop's work is split by concern: `peers.rs` (connections, dials,
//! cards, identify, mDNS), `dht.rs` (Kademlia records and providers),
//! [`gossip`] (topics, relay checks, verdicts) and `requests.rs` (the
//! application request-response protocols). Every reply the loop owes waits
//! in a capped `pending::Pending` map. The network layer knows topics and
//! protocols, never services: gossip checks are pure functions in
//! `weft_protocol`, and services are reached only through queues.

pub mod behaviour;
pub mod card;
mod command;
mod dht;
mod event_loop;
pub mod frame;
pub mod gossip;
mod gossip_keep;
pub mod join_dial;
mod keep;
mod peers;
pub mod pending;
mod record_guard;
pub mod records;
mod requests;
#[cfg(test)]
mod test_swarm;

use std::collections::HashMap;
use std::sync::Arc;

use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};
use weft_protocol::AccountId;

use crate::events::{EventFeed, EventRx};

pub use behaviour::SwarmOptions;
pub use card::card_peer;
pub use command::NetCommand;
pub use event_loop::{spawn, NetConfig, Started};
pub use gossip::{GossipMessage, GossipReaders, Judgement, PendingValidation, Topic, TopicKind};

/// Listen addresses others can dial: all but the unspecified ones
/// (`0.0.0.0`, `::`), as text (for cards, links and `weft id`).
pub fn dialable(addrs: &[Multiaddr]) -> Vec<String> {
    use libp2p::multiaddr::Protocol;
    addrs
        .iter()
        .filter(|a| {
            !a.iter().any(|p| {
                matches!(p, Protocol::Ip4(ip) if ip.is_unspecified())
                    || matches!(p, Protocol::Ip6(ip) if ip.is_unspecified())
            })
        })
        .map(|a| a.to_string())
        .collect()
}

/// Network-layer failures.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Building the swarm failed (libp2p's own reason).
    #[error("cannot build the network stack: {0}")]
    Build(String),
    /// Listening failed.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// Address asked for.
        addr: Multiaddr,
        /// libp2p's reason, with its causes (e.g. address in use).
        reason: String,
    },
    /// Dialling failed.
    #[error("could not connect to {addr}: {reason}")]
    Dial {
        /// Address dialled.
        addr: Multiaddr,
        /// libp2p's reason, with its causes.
        reason: String,
    },
    /// A request to a peer failed.
    #[error("request to {peer} failed: {reason}")]
    Request {
        /// The peer.
        peer: PeerId,
        /// libp2p's reason (one failure may answer several waiters, and
        /// libp2p's dial errors cannot be cloned, hence text).
        reason: String,
    },
    /// Gossip refused to publish (e.g. no peer subscribed yet).
    #[error("could not publish: {0}")]
    Publish(#[source] libp2p::gossipsub::PublishError),
    /// The local DHT store refused a record.
    #[error("DHT: {0}")]
    DhtStore(#[source] libp2p::kad::store::Error),
    /// No DHT peer stored the record.
    #[error("DHT: {0}")]
    DhtPut(#[source] libp2p::kad::PutRecordError),
    /// Too many requests of this kind are already waiting for answers.
    #[error(transparent)]
    Busy(#[from] pending::Full),
    /// The network task has stopped.
    #[error("the node is shutting down")]
    Stopped,
}

/// Peers with the addresses we know for them.
pub type PeerAddrList = Vec<(PeerId, Vec<Multiaddr>)>;

/// What we know about a connected peer.
#[derive(Clone, Debug)]
pub struct PeerInfo {
    /// libp2p peer id.
    pub peer_id: PeerId,
    /// Remote addresses of the open connections.
    pub addrs: Vec<Multiaddr>,
    /// The account this device speaks for, once its card arrived.
    pub account_id: Option<AccountId>,
    /// Display name from its card.
    pub name: Option<String>,
}

/// Things the network tells the rest of the node (and, rendered as JSON by
/// the API, `/v1/events`).
#[derive(Clone, Debug)]
pub enum NetEvent {
    /// Now listening on an address.
    Listening {
        /// The address.
        addr: Multiaddr,
    },
    /// First connection to a peer opened.
    PeerConnected {
        /// Who.
        peer_id: PeerId,
        /// Remote address.
        addr: Multiaddr,
    },
    /// Last connection to a peer closed.
    PeerDisconnected {
        /// Who.
        peer_id: PeerId,
    },
    /// A peer's verified card arrived: we know which account it speaks for.
    PeerIdentified {
        /// Device.
        peer_id: PeerId,
        /// Account.
        account_id: AccountId,
        /// Display name.
        name: String,
    },
    /// mDNS stopped seeing a LAN peer.
    LanPeerExpired {
        /// Who.
        peer_id: PeerId,
    },
    /// mDNS (or a connection from our own subnet) found a peer on the LAN.
    LanPeerFound {
        /// Who.
        peer_id: PeerId,
        /// Where.
        addr: Multiaddr,
    },
}

/// Weft application protocols whose requests the net hands to services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AppProtocol {
    /// `/weft/chat/1`.
    Chat,
    /// `/weft/mailbox/1`.
    Mailbox,
    /// `/weft/profile/1`.
    Profile,
    /// `/weft/oa/1`.
    Oa,
    /// `/weft/blob/1`.
    Blob,
    /// `/weft/sync/1`.
    Sync,
    /// `/weft/group/1`.
    Group,
    /// `/weft/file/1`.
    File,
    /// `/weft/device/1`.
    Device,
    /// `/weft/mint/1`.
    Mint,
}

/// A request from a peer, for a service to answer with [`Net::respond`].
#[derive(Debug)]
pub struct InboundRequest {
    /// Which protocol.
    pub protocol: AppProtocol,
    /// Who sent it (transport-authenticated device).
    pub peer: PeerId,
    /// The request bytes (already size-checked by the codec).
    pub data: Vec<u8>,
    /// Pass back to [`Net::respond`].
    pub responder: u64,
}

/// Handle to the network task. Cheap to clone.
#[derive(Clone)]
pub struct Net {
    tx: mpsc::Sender<NetCommand>,
    /// Shutdown is not a command: it has its own channel, so the command
    /// match never sees it and the loop stops even with commands queued.
    stop: mpsc::Sender<oneshot::Sender<()>>,
    events: EventFeed<NetEvent>,
    peer_id: PeerId,
    /// Who is connected, as the network task last saw it.
    connected: Connected,
    /// Opens and accepts raw streams (`/weft/chat-stream/1`).
    streams: libp2p_stream::Control,
}

/// The connected peers and the account each speaks for (once its card
/// arrived): a copy the network task keeps current, so a service asking
/// "is this device connected?" before every delivery does not wait for a
/// round trip through the task. Its size follows the swarm's connection
/// limits (one entry per connected peer).
#[derive(Clone, Default)]
pub(crate) struct Connected(Arc<std::sync::RwLock<HashMap<PeerId, Option<AccountId>>>>);

impl Connected {
    /// `peer` connected (its account unknown until its card arrives).
    pub(crate) fn up(&self, peer: PeerId) {
        if let Ok(mut m) = self.0.write() {
            m.entry(peer).or_insert(None);
        }
    }

    /// `peer`'s last connection closed.
    pub(crate) fn down(&self, peer: &PeerId) {
        if let Ok(mut m) = self.0.write() {
            m.remove(peer);
        }
    }

    /// `peer` showed a card for `account`.
    pub(crate) fn identified(&self, peer: &PeerId, account: AccountId) {
        if let Ok(mut m) = self.0.write() {
            if let Some(a) = m.get_mut(peer) {
                *a = Some(account);
            }
        }
    }

    fn has(&self, peer: &PeerId) -> bool {
        self.0.read().map(|m| m.contains_key(peer)).unwrap_or(false)
    }

    fn device_of(&self, account: &AccountId) -> Option<PeerId> {
        let m = self.0.read().ok()?;
        m.iter()
            .find(|(_, a)| a.as_ref() == Some(account))
            .map(|(p, _)| *p)
    }
}

impl Net {
    /// Opens and accepts raw streams; a stream's bytes go between the
    /// connection and its user without passing through the network task.
    pub fn streams(&self) -> libp2p_stream::Control {
        self.streams.clone()
    }

    /// Whether `peer` is connected now (no round trip to the network task).
    pub fn is_connected(&self, peer: &PeerId) -> bool {
        self.connected.has(peer)
    }

    /// A connected device that showed a card for `account`, if any.
    pub fn connected_device(&self, account: &AccountId) -> Option<PeerId> {
        self.connected.device_of(account)
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Subscribes to network events.
    pub fn subscribe(&self) -> EventRx<NetEvent> {
        self.events.subscribe()
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> NetCommand,
    ) -> Result<T, NetError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// Connects to `addr` and returns the peer's id once the connection is up.
    pub async fn dial(&self, addr: Multiaddr) -> Result<PeerId, NetError> {
        self.ask(|reply| NetCommand::Dial { addr, reply }).await?
    }

    /// Connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NetError> {
        self.ask(|reply| NetCommand::Peers { reply }).await
    }

    /// Addresses we listen on.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetError> {
        self.ask(|reply| NetCommand::ListenAddrs { reply }).await
    }

    /// Connects to a known peer; returns at once if already connected.
    pub async fn dial_peer(&self, peer: PeerId, addrs: Vec<Multiaddr>) -> Result<(), NetError> {
        self.ask(|reply| NetCommand::DialPeer { peer, addrs, reply })
            .await?
    }

    /// Sends a request on an application protocol and waits for the response.
    pub async fn request(
        &self,
        protocol: AppProtocol,
        peer: PeerId,
        data: Vec<u8>,
    ) -> Result<Vec<u8>, NetError> {
        self.ask(|reply| NetCommand::Request {
            protocol,
            peer,
            data,
            reply,
        })
        .await?
    }

    /// Answers an inbound request.
    pub async fn respond(&self, protocol: AppProtocol, responder: u64, data: Vec<u8>) {
        let _ = self
            .tx
            .send(NetCommand::Respond {
                protocol,
                responder,
                data,
            })
            .await;
    }

    /// Refuses an inbound request: the peer sees its stream closed at once.
    pub async fn decline(&self, protocol: AppProtocol, responder: u64) {
        let _ = self
            .tx
            .send(NetCommand::Decline {
                protocol,
                responder,
            })
            .await;
    }

    /// Publishes a record in the DHT.
    pub async fn put_record(&self, key: Vec<u8>, value: Vec<u8>) -> Result<(), NetError> {
        self.ask(|reply| NetCommand::PutRecord { key, value, reply })
            .await?
    }

    /// Every valid value stored under `key` in the DHT.
    pub async fn get_record(&self, key: Vec<u8>) -> Result<Vec<Vec<u8>>, NetError> {
        self.ask(|reply| NetCommand::GetRecord { key, reply })
            .await?
    }

    /// The `want` peers closest to `key` (at most Kademlia's 20), closest
    /// first. The lookup ends once the `want` closest it knows have
    /// answered, so asking for the few a caller uses (mailbox holders)
    /// contacts far fewer peers than a full lookup: on an idle network
    /// each such contact is a connection opened for it.
    pub async fn closest_peers(&self, key: Vec<u8>, want: usize) -> Result<PeerAddrList, NetError> {
        self.ask(|reply| NetCommand::ClosestPeers { key, want, reply })
            .await?
    }

    /// Joins or leaves a gossip topic.
    pub async fn join_topic(&self, topic: Topic, on: bool) {
        let _ = self.tx.send(NetCommand::Subscribe { topic, on }).await;
    }

    /// Peers known to be subscribed to `topic` (e.g. followers online).
    pub async fn topic_peers(&self, topic: Topic) -> Result<usize, NetError> {
        self.ask(|reply| NetCommand::TopicPeers { topic, reply })
            .await
    }

    /// Publishes on a gossip topic.
    pub async fn publish(&self, topic: Topic, data: Vec<u8>) -> Result<(), NetError> {
        self.ask(|reply| NetCommand::Publish { topic, data, reply })
            .await?
    }

    /// Gives the verdict on a gossip message handed over with `pending` set
    /// (topics whose verdict is [`gossip::Verdict::ByReader`]).
    pub async fn validate(&self, pending: PendingValidation, judgement: impl Into<Judgement>) {
        let judgement = judgement.into();
        let _ = self
            .tx
            .send(NetCommand::Validate { pending, judgement })
            .await;
    }

    /// Starts (or stops) providing `key` in the DHT.
    pub async fn provide(&self, key: Vec<u8>, on: bool) {
        let _ = self.tx.send(NetCommand::Provide { key, on }).await;
    }

    /// Peers that provide `key`, with addresses.
    pub async fn providers(&self, key: Vec<u8>) -> Result<PeerAddrList, NetError> {
        self.ask(|reply| NetCommand::Providers { key, reply })
            .await?
    }

    /// Closes every connection and stops the task; returns once the swarm
    /// is dropped.
    pub async fn shutdown(&self) -> Result<(), NetError> {
        let (reply, done) = oneshot::channel();
        self.stop.send(reply).await.map_err(|_| NetError::Stopped)?;
        done.await.map_err(|_| NetError::Stopped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connected_copy_follows_connections_and_cards() {
        let c = Connected::default();
        let (p, q) = (PeerId::random(), PeerId::random());
        let account = AccountId([7; 32]);
        assert!(!c.has(&p));
        c.up(p);
        c.up(q);
        assert!(c.has(&p));
        assert_eq!(c.device_of(&account), None, "no card yet");
        c.identified(&p, account);
        assert_eq!(c.device_of(&account), Some(p));
        // A second connection of the same peer keeps what its card said.
        c.up(p);
        assert_eq!(c.device_of(&account), Some(p));
        c.down(&p);
        assert!(!c.has(&p));
        assert_eq!(c.device_of(&account), None, "gone with its last connection");
        // A card from a peer that is not connected (any more) is not kept.
        c.identified(&p, account);
        assert_eq!(c.device_of(&account), None);
        assert!(c.has(&q));
    }
}
