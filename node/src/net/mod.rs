//! The network actor. One task ([`event_loop`]) owns the libp2p `Swarm`;
//! the rest of the node holds a cheap [`Net`] handle that sends typed
//! [`NetCommand`]s with `oneshot` replies, and subscribes to [`NetEvent`]s.

pub mod behaviour;
pub mod card;
mod event_loop;
pub mod frame;
mod keep;
pub mod records;

use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc, oneshot};

pub use behaviour::SwarmOptions;

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
pub use event_loop::{spawn, NetConfig};

/// Network-layer failures.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Building the swarm failed.
    #[error("cannot build the network stack: {0}")]
    Build(String),
    /// Listening failed.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// Address asked for.
        addr: Multiaddr,
        /// Why it failed (e.g. address in use).
        reason: String,
    },
    /// Dialling failed.
    #[error("could not connect to {addr}: {reason}")]
    Dial {
        /// Address dialled.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
    /// A request to a peer failed.
    #[error("request to {peer} failed: {reason}")]
    Request {
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: String,
    },
    /// Gossip refused to publish.
    #[error("could not publish: {0}")]
    Publish(String),
    /// The DHT could not store a record.
    #[error("DHT: {0}")]
    Dht(String),
    /// The network task has stopped.
    #[error("the node is shutting down")]
    Stopped,
}

/// Peers with the addresses we know for them.
pub type PeerAddrList = Vec<(PeerId, Vec<Multiaddr>)>;

/// What we know about a connected peer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PeerInfo {
    /// libp2p peer id.
    pub peer_id: String,
    /// Remote addresses of the open connections.
    pub addrs: Vec<String>,
    /// The account this device speaks for, once its card arrived.
    pub account_id: Option<String>,
    /// Display name from its card.
    pub name: Option<String>,
}

/// Things the network tells the rest of the node.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NetEvent {
    /// Now listening on an address.
    Listening {
        /// The address.
        addr: String,
    },
    /// First connection to a peer opened.
    PeerConnected {
        /// Who.
        peer_id: String,
        /// Remote address.
        addr: String,
    },
    /// Last connection to a peer closed.
    PeerDisconnected {
        /// Who.
        peer_id: String,
    },
    /// A peer's verified card arrived: we know which account it speaks for.
    PeerIdentified {
        /// Device.
        peer_id: String,
        /// Account.
        account_id: String,
        /// Display name.
        name: String,
    },
    /// mDNS stopped seeing a LAN peer.
    LanPeerExpired {
        /// Who.
        peer_id: String,
    },
    /// mDNS found a peer on the LAN.
    LanPeerFound {
        /// Who.
        peer_id: String,
        /// Where.
        addr: String,
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
}

/// A gossip message that passed validation, for the service that owns its topic.
#[derive(Clone, Debug)]
pub struct GossipMessage {
    /// Topic.
    pub topic: String,
    /// Payload (an envelope).
    pub data: Vec<u8>,
    /// Set when the service must give the verdict ([`Net::validate`]):
    /// gossipsub holds the message, unforwarded, until then.
    pub pending: Option<PendingValidation>,
}

/// A gossip message waiting for a service's accept or reject.
#[derive(Clone, Debug)]
pub struct PendingValidation {
    /// Gossipsub's id of the message.
    pub id: libp2p::gossipsub::MessageId,
    /// The peer it came from.
    pub source: PeerId,
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

/// A request to the network task.
#[derive(Debug)]
pub enum NetCommand {
    /// Connect to an address; replies once connected (or failed).
    Dial {
        /// Where.
        addr: Multiaddr,
        /// The connected peer, or why not.
        reply: oneshot::Sender<Result<PeerId, NetError>>,
    },
    /// Connected peers.
    Peers {
        /// The answer.
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
    /// Current listen addresses.
    ListenAddrs {
        /// The answer.
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    /// Connect to a known peer (no-op if connected).
    DialPeer {
        /// Who.
        peer: PeerId,
        /// Where it may be.
        addrs: Vec<Multiaddr>,
        /// Connected, or why not.
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    /// Send a request on an application protocol.
    Request {
        /// Protocol.
        protocol: AppProtocol,
        /// To whom.
        peer: PeerId,
        /// Bytes.
        data: Vec<u8>,
        /// The response, or why none came.
        reply: oneshot::Sender<Result<Vec<u8>, NetError>>,
    },
    /// Answer an [`InboundRequest`].
    Respond {
        /// Protocol of the request.
        protocol: AppProtocol,
        /// From the request.
        responder: u64,
        /// Response bytes.
        data: Vec<u8>,
    },
    /// Refuse an [`InboundRequest`]: its stream is closed without an answer.
    Decline {
        /// Protocol of the request.
        protocol: AppProtocol,
        /// From the request.
        responder: u64,
    },
    /// Store a record in the DHT (and locally).
    PutRecord {
        /// Record key.
        key: Vec<u8>,
        /// Record value.
        value: Vec<u8>,
        /// Stored with at least one peer, or why not.
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    /// Look a record up in the DHT.
    GetRecord {
        /// Record key.
        key: Vec<u8>,
        /// Every valid value found (may be empty).
        reply: oneshot::Sender<Vec<Vec<u8>>>,
    },
    /// The peers closest to a key in the DHT.
    ClosestPeers {
        /// The key.
        key: Vec<u8>,
        /// Peers with their known addresses, closest first.
        reply: oneshot::Sender<Vec<(PeerId, Vec<Multiaddr>)>>,
    },
    /// Join or leave a gossip topic.
    Subscribe {
        /// Topic.
        topic: String,
        /// Join (true) or leave (false).
        on: bool,
    },
    /// How many peers we know are subscribed to a topic.
    TopicPeers {
        /// Topic.
        topic: String,
        /// Count.
        reply: oneshot::Sender<usize>,
    },
    /// The verdict on a gossip message a service was asked to judge.
    Validate {
        /// Which message.
        pending: PendingValidation,
        /// Forward it (true) or reject it and penalise the sender (false).
        accept: bool,
    },
    /// Publish on a gossip topic.
    Publish {
        /// Topic.
        topic: String,
        /// Payload.
        data: Vec<u8>,
        /// Published to at least one peer, or why not.
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    /// Announce that we provide `key` in the DHT (or stop).
    Provide {
        /// The key.
        key: Vec<u8>,
        /// Start (true) or stop (false).
        on: bool,
    },
    /// Peers providing `key` in the DHT.
    Providers {
        /// The key.
        key: Vec<u8>,
        /// Providers with addresses we know for them.
        reply: oneshot::Sender<PeerAddrList>,
    },
    /// Close all connections and stop.
    Shutdown {
        /// Sent once the swarm is dropped.
        reply: oneshot::Sender<()>,
    },
}

/// Handle to the network task. Cheap to clone.
#[derive(Clone)]
pub struct Net {
    tx: mpsc::Sender<NetCommand>,
    events: broadcast::Sender<NetEvent>,
    peer_id: PeerId,
}

impl Net {
    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Subscribes to network events.
    pub fn subscribe(&self) -> broadcast::Receiver<NetEvent> {
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
        self.ask(|reply| NetCommand::GetRecord { key, reply }).await
    }

    /// The peers closest to `key`.
    pub async fn closest_peers(
        &self,
        key: Vec<u8>,
    ) -> Result<Vec<(PeerId, Vec<Multiaddr>)>, NetError> {
        self.ask(|reply| NetCommand::ClosestPeers { key, reply })
            .await
    }

    /// Joins or leaves a gossip topic.
    pub async fn join_topic(&self, topic: String, on: bool) {
        let _ = self.tx.send(NetCommand::Subscribe { topic, on }).await;
    }

    /// Peers known to be subscribed to `topic` (e.g. followers online).
    pub async fn topic_peers(&self, topic: String) -> Result<usize, NetError> {
        self.ask(|reply| NetCommand::TopicPeers { topic, reply })
            .await
    }

    /// Publishes on a gossip topic.
    pub async fn publish(&self, topic: String, data: Vec<u8>) -> Result<(), NetError> {
        self.ask(|reply| NetCommand::Publish { topic, data, reply })
            .await?
    }

    /// Gives the verdict on a gossip message handed over with `pending` set.
    pub async fn validate(&self, pending: PendingValidation, accept: bool) {
        let _ = self.tx.send(NetCommand::Validate { pending, accept }).await;
    }

    /// Starts (or stops) providing `key` in the DHT.
    pub async fn provide(&self, key: Vec<u8>, on: bool) {
        let _ = self.tx.send(NetCommand::Provide { key, on }).await;
    }

    /// Peers that provide `key`, with addresses.
    pub async fn providers(&self, key: Vec<u8>) -> Result<PeerAddrList, NetError> {
        self.ask(|reply| NetCommand::Providers { key, reply }).await
    }

    /// Closes every connection and stops the task.
    pub async fn shutdown(&self) -> Result<(), NetError> {
        self.ask(|reply| NetCommand::Shutdown { reply }).await
    }
}
