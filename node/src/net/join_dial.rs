//! One `/weft/device/1` request from a process that runs no node: a device
//! that is joining an account has no identity yet, so `weft device join`
//! dials the primary with a swarm of its own (TCP, Noise, Yamux and the one
//! protocol), asks once and stops.

use std::time::Duration;

use futures::StreamExt;
use libp2p::{
    identity::Keypair, noise, request_response, swarm::SwarmEvent, tcp, yamux, Multiaddr, PeerId,
    SwarmBuilder,
};

use super::behaviour::device_behaviour;
use super::NetError;

/// Sends `data` to `peer` (dialled at `addrs`) on `/weft/device/1` and
/// returns its answer; gives up after `timeout`.
pub async fn device_request(
    key: Keypair,
    peer: PeerId,
    addrs: Vec<Multiaddr>,
    data: Vec<u8>,
    timeout: Duration,
) -> Result<Vec<u8>, NetError> {
    let failed = |reason: String| NetError::Request { peer, reason };
    if addrs.is_empty() {
        return Err(failed("the code names no address to reach it on".into()));
    }
    let mut swarm = SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| NetError::Build(e.to_string()))?
        .with_behaviour(|_| device_behaviour())
        .map_err(|e| NetError::Build(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(5)))
        .build();
    for a in &addrs {
        swarm.add_peer_address(peer, a.clone());
    }
    let id = swarm.behaviour_mut().send_request(&peer, data);
    let run = async {
        let mut last_error = String::from("no answer");
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::Behaviour(request_response::Event::Message {
                    message:
                        request_response::Message::Response {
                            request_id,
                            response,
                        },
                    ..
                }) if request_id == id => return Ok(response),
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                    request_id,
                    error,
                    ..
                }) if request_id == id => {
                    return Err(failed(format!("{error} ({last_error})")));
                }
                SwarmEvent::OutgoingConnectionError { error, .. } => {
                    last_error = error.to_string();
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(timeout, run)
        .await
        .unwrap_or_else(|_| Err(failed(format!("no answer within {} s", timeout.as_secs()))))
}
