//! What the rest of the node may ask of the network task: one variant per
//! capability, each with a typed reply. Shutdown is not here: it has its
//! own channel (see [`super::Net::shutdown`]).

use libp2p::{Multiaddr, PeerId};
use tokio::sync::oneshot;

use super::{AppProtocol, NetError, PeerAddrList, PeerInfo, PendingValidation, Topic};

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
    /// Answer an [`super::InboundRequest`].
    Respond {
        /// Protocol of the request.
        protocol: AppProtocol,
        /// From the request.
        responder: u64,
        /// Response bytes.
        data: Vec<u8>,
    },
    /// Refuse an [`super::InboundRequest`]: its stream is closed without an answer.
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
        /// Every valid value found (may be empty), or why no lookup ran.
        reply: oneshot::Sender<Result<Vec<Vec<u8>>, NetError>>,
    },
    /// The peers closest to a key in the DHT.
    ClosestPeers {
        /// The key.
        key: Vec<u8>,
        /// How many of the closest are wanted (the lookup stops there).
        want: usize,
        /// Peers with their known addresses, closest first, or why no lookup ran.
        reply: oneshot::Sender<Result<PeerAddrList, NetError>>,
    },
    /// Join or leave a gossip topic.
    Subscribe {
        /// Topic.
        topic: Topic,
        /// Join (true) or leave (false).
        on: bool,
    },
    /// How many peers we know are subscribed to a topic.
    TopicPeers {
        /// Topic.
        topic: Topic,
        /// Count.
        reply: oneshot::Sender<usize>,
    },
    /// The verdict on a gossip message a service was asked to judge.
    Validate {
        /// Which message.
        pending: PendingValidation,
        /// Forward it, drop it quietly, or reject it and penalise the sender.
        judgement: super::gossip::Judgement,
    },
    /// Publish on a gossip topic.
    Publish {
        /// Topic.
        topic: Topic,
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
        /// Providers with addresses we know for them, or why no lookup ran.
        reply: oneshot::Sender<Result<PeerAddrList, NetError>>,
    },
}
