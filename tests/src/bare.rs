//! Bare libp2p, configured like a Weft node's transport (TCP with nodelay,
//! Noise, Yamux) and carrying Weft's length-prefixed bytes codec: the
//! baselines the benchmarks compare Weft with.

use std::time::Duration;

use libp2p::{noise, request_response, tcp, yamux, StreamProtocol, Swarm, SwarmBuilder};
use weft_node::net::frame::BytesCodec;

/// The baselines' protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/bench/bytes/1");

/// Request-response over bare libp2p.
pub type Rr = request_response::Behaviour<BytesCodec>;

/// A swarm with a fresh identity whose requests and responses may be up
/// to `max_frame` bytes.
pub fn swarm(max_frame: usize) -> Swarm<Rr> {
    SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .expect("tcp transport")
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                BytesCodec {
                    max_request: max_frame,
                    max_response: max_frame,
                },
                [(PROTOCOL, request_response::ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(30))
                    .with_max_concurrent_streams(128),
            )
        })
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
        .build()
}

/// A swarm listening on an ephemeral loopback port: (swarm, its address
/// with its peer id).
pub async fn listening(max_frame: usize) -> (Swarm<Rr>, libp2p::Multiaddr) {
    use futures::StreamExt;
    let mut server = swarm(max_frame);
    server
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().expect("addr"))
        .expect("listen");
    let peer = *server.local_peer_id();
    loop {
        if let libp2p::swarm::SwarmEvent::NewListenAddr { address, .. } =
            server.select_next_some().await
        {
            return (server, address.with(libp2p::multiaddr::Protocol::P2p(peer)));
        }
    }
}

/// A swarm connected to `addr` (as [`listening`] gave it).
pub async fn connected(max_frame: usize, addr: libp2p::Multiaddr) -> Swarm<Rr> {
    use futures::StreamExt;
    let mut client = swarm(max_frame);
    client.dial(addr).expect("dial");
    while !matches!(
        client.select_next_some().await,
        libp2p::swarm::SwarmEvent::ConnectionEstablished { .. }
    ) {}
    client
}
