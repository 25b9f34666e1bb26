//! Two-swarm fixtures for the unit tests of the connection-keeping
//! behaviours (`keep.rs`, `gossip_keep.rs`): swarms over the in-memory
//! transport with a short idle timeout, and a helper that connects them.

use std::time::Duration;

use futures::StreamExt;
use libp2p::core::{transport::MemoryTransport, upgrade::Version, Transport};
use libp2p::identity::Keypair;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{noise, yamux, Multiaddr, Swarm, SwarmBuilder};

/// Idle timeout of the test swarms: short, so a connection nothing keeps
/// closes within a test's wait.
pub const IDLE: Duration = Duration::from_millis(300);
/// The longest any wait in these tests may take.
pub const WAIT: Duration = Duration::from_secs(20);

/// A swarm with a new identity, Noise and Yamux over the memory transport,
/// [`IDLE`] as its idle timeout, and the behaviour `make` builds.
pub fn memory_swarm<B: NetworkBehaviour>(make: impl FnOnce(&Keypair) -> B) -> Swarm<B> {
    SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_other_transport(|key| {
            Ok(MemoryTransport::default()
                .upgrade(Version::V1)
                .authenticate(noise::Config::new(key)?)
                .multiplex(yamux::Config::default())
                .boxed())
        })
        .unwrap()
        .with_behaviour(|key| make(key))
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE))
        .build()
}

/// `listener` listens, `dialer` dials it; returns once both hold the
/// connection.
pub async fn connect<B: NetworkBehaviour>(listener: &mut Swarm<B>, dialer: &mut Swarm<B>) {
    listener.listen_on("/memory/0".parse().unwrap()).unwrap();
    let addr: Multiaddr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = listener.select_next_some().await {
            break address;
        }
    };
    dialer.dial(addr).unwrap();
    let (mut up_l, mut up_d) = (false, false);
    while !(up_l && up_d) {
        tokio::select! {
            ev = listener.select_next_some() => up_l |= matches!(ev, SwarmEvent::ConnectionEstablished { .. }),
            ev = dialer.select_next_some() => up_d |= matches!(ev, SwarmEvent::ConnectionEstablished { .. }),
        }
    }
}
