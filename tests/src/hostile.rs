//! Tools for playing a hostile peer in tests: one constructor for the
//! hand-built libp2p swarms every attack uses ([`tcp_swarm`]), one for a
//! request-response behaviour that writes exactly the bytes it is given
//! ([`raw`], with [`RawCodec`], so tests can send garbage, oversized or
//! truncated frames and read whatever comes back), one for a plain gossipsub
//! peer ([`gossip`]), and [`connect`] to dial a node and wait for the
//! connection. [`crate::mallory`] builds the chat and mailbox attacker on top.

use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{
    gossipsub,
    identity::Keypair,
    noise, request_response,
    swarm::{NetworkBehaviour, SwarmEvent},
    tcp, yamux, Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder,
};

/// How long a hostile peer waits for a connection or an answer.
pub const HOSTILE_TIMEOUT: Duration = Duration::from_secs(20);

/// A swarm over TCP + Noise + Yamux with `key` as its device identity and
/// the behaviour `behaviour` builds from that key. Connections stay open for
/// a minute without traffic, so a slow test does not lose its victim.
pub fn tcp_swarm<B, F>(key: Keypair, behaviour: F) -> Swarm<B>
where
    B: NetworkBehaviour,
    F: FnOnce(&Keypair) -> B,
{
    SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .expect("tcp transport")
        .with_behaviour(behaviour)
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

/// A request-response behaviour for `protocol` that sends and reads raw
/// bytes ([`RawCodec`]); requests time out after [`HOSTILE_TIMEOUT`].
pub fn raw(
    protocol: &'static str,
    support: request_response::ProtocolSupport,
) -> request_response::Behaviour<RawCodec> {
    request_response::Behaviour::with_codec(
        RawCodec,
        [(StreamProtocol::new(protocol), support)],
        request_response::Config::default().with_request_timeout(HOSTILE_TIMEOUT),
    )
}

/// `/weft/card/1` with the node's own codec, both ways: a hostile peer
/// that presents a valid card is identified as the account it certifies.
pub fn card() -> request_response::Behaviour<weft_node::net::card::CardCodec> {
    request_response::Behaviour::new(
        [(
            StreamProtocol::new("/weft/card/1"),
            request_response::ProtocolSupport::Full,
        )],
        request_response::Config::default().with_request_timeout(HOSTILE_TIMEOUT),
    )
}

/// A plain gossipsub behaviour (signed messages, default checks) whose
/// messages may be up to `max_transmit` bytes.
pub fn gossip(key: &Keypair, max_transmit: usize) -> gossipsub::Behaviour {
    let cfg = gossipsub::ConfigBuilder::default()
        .max_transmit_size(max_transmit)
        .build()
        .expect("gossipsub config");
    gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(key.clone()), cfg)
        .expect("gossipsub behaviour")
}

/// Dials `addr` (a full `/p2p/` address) and waits for the connection;
/// returns the node's peer id.
pub async fn connect<B: NetworkBehaviour>(swarm: &mut Swarm<B>, addr: &str) -> PeerId {
    let addr: Multiaddr = addr.parse().expect("multiaddr");
    swarm.dial(addr).expect("dial");
    loop {
        let ev = tokio::time::timeout(HOSTILE_TIMEOUT, swarm.select_next_some())
            .await
            .expect("the hostile peer could not connect");
        if let SwarmEvent::ConnectionEstablished { peer_id, .. } = ev {
            return peer_id;
        }
    }
}

/// Waits up to `timeout` between events (panicking with `what` after) for
/// the answer to raw request `id`, which `event` picks out of the swarm's
/// behaviour events: the answer's bytes (still framed), or `None` if the
/// request failed.
pub async fn raw_answer<B: NetworkBehaviour>(
    swarm: &mut Swarm<B>,
    id: request_response::OutboundRequestId,
    timeout: Duration,
    what: &str,
    event: impl Fn(B::ToSwarm) -> Option<request_response::Event<Vec<u8>, Vec<u8>>>,
) -> Option<Vec<u8>> {
    loop {
        let ev = tokio::time::timeout(timeout, swarm.select_next_some())
            .await
            .expect(what);
        let SwarmEvent::Behaviour(ev) = ev else {
            continue;
        };
        match event(ev) {
            Some(request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            }) if request_id == id => return Some(response),
            Some(request_response::Event::OutboundFailure { request_id, .. })
                if request_id == id =>
            {
                return None
            }
            _ => {}
        }
    }
}

/// Sends raw bytes as the request; reads the whole answer (up to 2 MiB).
#[derive(Clone, Copy, Debug, Default)]
pub struct RawCodec;

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> std::io::Result<Vec<u8>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        let mut v = Vec::new();
        io.take(2 << 20).read_to_end(&mut v).await?;
        Ok(v)
    }

    async fn read_response<T>(&mut self, p: &StreamProtocol, io: &mut T) -> std::io::Result<Vec<u8>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        self.read_request(p, io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        r: Vec<u8>,
    ) -> std::io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        io.write_all(&r).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        p: &StreamProtocol,
        io: &mut T,
        r: Vec<u8>,
    ) -> std::io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        self.write_request(p, io, r).await
    }
}

/// A Weft frame: 4-byte big-endian length, then the bytes.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

/// The body of a Weft frame (empty if it is too short).
pub fn unframe(v: &[u8]) -> Vec<u8> {
    v.get(4..).unwrap_or_default().to_vec()
}
