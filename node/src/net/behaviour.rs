//! The libp2p behaviour stack and how the swarm is built.

use std::time::Duration;

use libp2p::{
    autonat, connection_limits, dcutr, gossipsub, identify, identity::Keypair, kad, mdns, noise,
    ping, relay, request_response, swarm::behaviour::toggle::Toggle, swarm::NetworkBehaviour, tcp,
    yamux, StreamProtocol, Swarm, SwarmBuilder,
};
use weft_protocol::{IDENTIFY_PROTOCOL, KAD_PROTOCOL};

use super::card::{CardCodec, PROTOCOL as CARD};
use super::frame::BytesCodec;
use super::NetError;

/// Largest gossip message accepted or sent.
pub const MAX_GOSSIP_BYTES: usize = 256 * 1024;
/// Cap on established connections in total. A group owner or a person
/// with hundreds of friends talks to hundreds of devices (simnet
/// `group-500`: a 256 cap stalled an owner's friendships at 236).
pub const MAX_CONNECTIONS: u32 = 1024;
/// Most topics a peer may be subscribed to before we ignore its
/// subscriptions (libp2p's default, 100, is less than a node with a few
/// hundred friends joins: one Moments topic per friend).
pub const MAX_PEER_TOPICS: usize = 4096;
/// How long a connection no protocol needs stays open. Gossip mesh peers,
/// relays and requests in flight keep theirs; what a DHT query or a
/// finished delivery opened is closed soon after, so connections don't
/// pile up to [`MAX_CONNECTIONS`] (simnet: 300 idle nodes used 2 cores
/// with 300 s, every node connected to every other). 20 s rather than a
/// minute: while a routing table fills, every lookup opens connections to
/// peers it will not ask again soon, and each open connection holds the
/// handlers of every behaviour and its Noise and stream buffers (about
/// 150 KiB); at 1,000 simnet nodes a minute kept 45 connections a node
/// open and 8.05 MiB a node resident, 20 s 26 and 6.23 MiB, with fewer
/// connections opened per minute, not more (docs/BENCHMARKS.md).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(20);

/// How often a connection is pinged (libp2p's default is 15 s). A failed
/// ping closes nothing (libp2p only reports it, and nothing here reads the
/// round trips); what the ping still does is keep NAT bindings of idle TCP
/// connections warm, which last minutes to hours (RFC 5382 asks for at
/// least two hours; QUIC keeps its own alive). Every connection a node
/// holds pings from both ends, timer, frames and all, so an idle node's
/// kept connections cost less with fewer pings (docs/BENCHMARKS.md).
pub const PING_EVERY: Duration = Duration::from_secs(60);

/// Every protocol a Weft node speaks on the libp2p layer.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    pub(crate) limits: connection_limits::Behaviour,
    pub(crate) keep: super::keep::Behaviour,
    pub(crate) relay_client: relay::client::Behaviour,
    pub(crate) relay_server: Toggle<relay::Behaviour>,
    pub(crate) dcutr: dcutr::Behaviour,
    pub(crate) autonat: autonat::Behaviour,
    pub(crate) identify: identify::Behaviour,
    pub(crate) ping: ping::Behaviour,
    pub(crate) kad: kad::Behaviour<kad::store::MemoryStore>,
    pub(crate) gossipsub: super::gossip_keep::Gossip,
    pub(crate) mdns: Toggle<mdns::tokio::Behaviour>,
    pub(crate) card: request_response::Behaviour<CardCodec>,
    pub(crate) chat: request_response::Behaviour<BytesCodec>,
    pub(crate) mailbox: request_response::Behaviour<BytesCodec>,
    pub(crate) profile: request_response::Behaviour<BytesCodec>,
    pub(crate) oa: request_response::Behaviour<BytesCodec>,
    pub(crate) blob: request_response::Behaviour<BytesCodec>,
    pub(crate) sync: request_response::Behaviour<BytesCodec>,
    pub(crate) group: request_response::Behaviour<BytesCodec>,
    pub(crate) file: request_response::Behaviour<BytesCodec>,
    pub(crate) device: request_response::Behaviour<BytesCodec>,
    pub(crate) mint: request_response::Behaviour<BytesCodec>,
    /// Raw streams (`/weft/chat-stream/1`), opened and accepted by services
    /// through a [`libp2p_stream::Control`].
    pub(crate) streams: libp2p_stream::Behaviour,
}

/// `/weft/blob/1`: manifests and chunks of content-addressed blobs.
pub const BLOB_PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/blob/1");

/// `/weft/sync/1`: Moments backfill ("items of author X since T").
pub const SYNC_PROTOCOL: StreamProtocol =
    StreamProtocol::new(weft_protocol::moments::SYNC_PROTOCOL);

/// `/weft/file/1`: attachment files (manifests, chunks, holding).
pub const FILE_PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/file/1");

/// `/weft/device/1`: linking a new device to the account, and the
/// account's own devices keeping each other up to date.
pub const DEVICE_PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/device/1");

/// `/weft/mint/1`: a wallet's sealed requests to a mint (Weft Pay).
pub const MINT_PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/mint/1");

/// `/weft/group/1`: a group member catching up on the wires it lacks.
pub const GROUP_PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/group/1");

/// `/weft/oa/1`: official-account backfill and follower questions.
pub const OA_PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/oa/1");

/// `/weft/profile/1`: a node's public profile, for the radar.
pub const PROFILE_PROTOCOL: StreamProtocol = StreamProtocol::new(weft_protocol::PROFILE_PROTOCOL);

/// `/weft/chat/1`: live delivery, one Noise IK round trip per burst.
pub const CHAT_PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/chat/1");
/// `/weft/chat-stream/1`: a stream kept open for a chat session's
/// deliveries (the same frames as `/weft/chat/1`, one after the other, each
/// request answered before the next), so a delivery in a kept session costs
/// one frame each way instead of a new stream and two trips through each
/// swarm.
pub const CHAT_STREAM_PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/chat-stream/1");
/// `/weft/mailbox/1`: store-and-forward deposits and fetches.
pub const MAILBOX_PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/mailbox/1");
/// Largest chat request or response (one Noise message).
pub const MAX_CHAT_FRAME: usize = 65_535;
/// Largest mailbox request or response.
pub const MAX_MAILBOX_FRAME: usize = 1024 * 1024;

/// Options that shape the swarm.
#[derive(Clone, Debug)]
pub struct SwarmOptions {
    /// Announce and discover on the LAN with mDNS.
    pub mdns: bool,
    /// Serve as a circuit relay for others (nodes with public addresses).
    pub relay_server: bool,
    /// Replaces the plain memory transport (simnet's link model).
    pub memory_transport: Option<MemoryTransportHook>,
}

/// A byte stream under Noise on the memory transport: what a link model
/// wraps to add latency, bandwidth and partitions.
pub trait LinkIo: futures::AsyncRead + futures::AsyncWrite + Unpin + Send {}
impl<T: futures::AsyncRead + futures::AsyncWrite + Unpin + Send> LinkIo for T {}

/// The raw (not yet authenticated) transport a hook hands back.
pub type RawMemoryTransport = libp2p::core::transport::Boxed<Box<dyn LinkIo>>;

/// Builds the transport for `/memory/…` addresses instead of libp2p's plain
/// `MemoryTransport`, so a simulator can put its network model under the
/// real node without the node knowing the model. Called once per swarm.
#[derive(Clone)]
pub struct MemoryTransportHook(pub std::sync::Arc<dyn Fn() -> RawMemoryTransport + Send + Sync>);

impl std::fmt::Debug for MemoryTransportHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryTransportHook")
    }
}

/// A request-response behaviour over [`BytesCodec`] for one protocol: the
/// largest request and answer it reads (a peer that sends more is cut off
/// before we buffer it), how many seconds a request may take, and how many
/// of its streams may be open at once on a connection.
fn bytes_rr(
    protocol: StreamProtocol,
    max_request: usize,
    max_response: usize,
    timeout_s: u64,
    streams: usize,
) -> request_response::Behaviour<BytesCodec> {
    request_response::Behaviour::with_codec(
        BytesCodec {
            max_request,
            max_response,
        },
        [(protocol, request_response::ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(Duration::from_secs(timeout_s))
            .with_max_concurrent_streams(streams),
    )
}

/// The `/weft/device/1` behaviour (also used alone by a joining device).
pub(crate) fn device_behaviour() -> request_response::Behaviour<BytesCodec> {
    bytes_rr(
        DEVICE_PROTOCOL,
        weft_protocol::Kind::DeviceRequest.max_size(),
        weft_protocol::Kind::DeviceReply.max_size(),
        30,
        8,
    )
}

/// Builds the swarm: TCP + QUIC, Noise, Yamux, DNS, relay client, and [`Behaviour`].
pub(crate) fn build_swarm(key: Keypair, opts: &SwarmOptions) -> Result<Swarm<Behaviour>, NetError> {
    let err = |e: &dyn std::fmt::Display| NetError::Build(e.to_string());
    let swarm = SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| err(&e))?
        .with_quic()
        // In-process memory transport (`/memory/N` addresses): the simulator
        // runs thousands of nodes in one process without a socket each.
        .with_other_transport(
            |key| -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
                use libp2p::core::{transport::MemoryTransport, upgrade::Version, Transport};
                let raw: RawMemoryTransport = match &opts.memory_transport {
                    Some(hook) => (hook.0)(),
                    None => MemoryTransport::default()
                        .map(|c, _| Box::new(c) as Box<dyn LinkIo>)
                        .boxed(),
                };
                Ok(raw
                    .upgrade(Version::V1)
                    .authenticate(noise::Config::new(key)?)
                    .multiplex(yamux::Config::default()))
            },
        )
        .map_err(|e| err(&e))?
        .with_dns()
        .map_err(|e| err(&e))?
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| err(&e))?
        .with_behaviour(|key, relay_client| {
            let peer_id = key.public().to_peer_id();
            let mut kad_cfg = kad::Config::new(StreamProtocol::new(KAD_PROTOCOL));
            kad_cfg.set_query_timeout(Duration::from_secs(30));
            kad_cfg.set_max_packet_size(64 * 1024);
            // The event loop bootstraps when it has peers; libp2p's own timer
            // would only warn on a node that has none yet.
            kad_cfg.set_periodic_bootstrap_interval(None);
            // Peers enter the routing table through `EventLoop::route` only
            // (after identify), never by connecting: see there for why.
            kad_cfg.set_kbucket_inserts(kad::BucketInserts::Manual);
            // Records from other peers are validated (signature, key, size,
            // expiry) by the event loop before they are stored.
            kad_cfg.set_record_filtering(kad::StoreInserts::FilterBoth);
            kad_cfg.set_record_ttl(Some(Duration::from_secs(2 * 3600)));
            kad_cfg.set_publication_interval(Some(Duration::from_secs(1800)));
            // People Nearby cells: provider records live an hour, refreshed every 20 min.
            kad_cfg.set_provider_record_ttl(Some(Duration::from_secs(3600)));
            kad_cfg.set_provider_publication_interval(Some(Duration::from_secs(1200)));
            let mut kad = kad::Behaviour::with_config(
                peer_id,
                kad::store::MemoryStore::with_config(peer_id, super::record_guard::store_config()),
                kad_cfg,
            );
            // Every Weft node serves the DHT; AutoNAT can't confirm loopback
            // or LAN addresses, and a client-only DHT would never fill.
            kad.set_mode(Some(kad::Mode::Server));

            let gossip_cfg = gossipsub::ConfigBuilder::default()
                .validation_mode(gossipsub::ValidationMode::Strict)
                .validate_messages()
                .max_transmit_size(MAX_GOSSIP_BYTES)
                .message_id_fn(|m: &gossipsub::Message| {
                    super::gossip::message_id(m.topic.as_str(), &m.data)
                })
                .build()
                .map_err(|e| e.to_string())?;
            let mut gossipsub = gossipsub::Behaviour::new_with_subscription_filter(
                gossipsub::MessageAuthenticity::Signed(key.clone()),
                gossip_cfg,
                gossipsub::MaxCountSubscriptionFilter {
                    filter: gossipsub::AllowAllSubscriptionFilter {},
                    max_subscribed_topics: MAX_PEER_TOPICS,
                    max_subscriptions_per_request: MAX_PEER_TOPICS,
                },
            )?;
            // v1.1 peer scoring: a peer whose messages our checks reject
            // loses score and, past the thresholds, our gossip and our ear.
            gossipsub.with_peer_score(
                super::gossip::score_params(),
                super::gossip::score_thresholds(),
            )?;

            let mdns = if opts.mdns {
                Some(mdns::tokio::Behaviour::new(
                    mdns::Config::default(),
                    peer_id,
                )?)
            } else {
                None
            };
            let limits = connection_limits::ConnectionLimits::default()
                .with_max_established(Some(MAX_CONNECTIONS))
                .with_max_established_per_peer(Some(4))
                .with_max_pending_incoming(Some(64))
                .with_max_pending_outgoing(Some(64));
            Ok(Behaviour {
                limits: connection_limits::Behaviour::new(limits),
                keep: super::keep::Behaviour::default(),
                relay_client,
                relay_server: opts
                    .relay_server
                    .then(|| relay::Behaviour::new(peer_id, relay::Config::default()))
                    .into(),
                dcutr: dcutr::Behaviour::new(peer_id),
                autonat: autonat::Behaviour::new(peer_id, autonat::Config::default()),
                identify: identify::Behaviour::new(
                    identify::Config::new(IDENTIFY_PROTOCOL.to_string(), key.public())
                        .with_agent_version(format!("weft/{}", env!("CARGO_PKG_VERSION"))),
                ),
                ping: ping::Behaviour::new(ping::Config::new().with_interval(PING_EVERY)),
                kad,
                gossipsub: super::gossip_keep::Gossip::new(gossipsub),
                mdns: mdns.into(),
                card: request_response::Behaviour::new(
                    [(CARD, request_response::ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(Duration::from_secs(10))
                        .with_max_concurrent_streams(64),
                ),
                chat: bytes_rr(CHAT_PROTOCOL, MAX_CHAT_FRAME, MAX_CHAT_FRAME, 15, 128),
                mailbox: bytes_rr(
                    MAILBOX_PROTOCOL,
                    MAX_MAILBOX_FRAME,
                    MAX_MAILBOX_FRAME,
                    15,
                    32,
                ),
                profile: bytes_rr(PROFILE_PROTOCOL, 64, 48 * 1024, 10, 32),
                oa: bytes_rr(OA_PROTOCOL, 64 * 1024, 512 * 1024, 10, 32),
                blob: bytes_rr(BLOB_PROTOCOL, 256, 300 * 1024, 15, 32),
                sync: bytes_rr(SYNC_PROTOCOL, 8 * 1024, 1024 * 1024, 15, 16),
                group: bytes_rr(
                    GROUP_PROTOCOL,
                    weft_protocol::Kind::GroupSyncRequest.max_size(),
                    weft_protocol::Kind::GroupSyncReply.max_size(),
                    15,
                    16,
                ),
                file: bytes_rr(
                    FILE_PROTOCOL,
                    weft_protocol::Kind::FileRequest.max_size(),
                    weft_protocol::Kind::FileReply.max_size(),
                    60,
                    32,
                ),
                device: device_behaviour(),
                mint: bytes_rr(
                    MINT_PROTOCOL,
                    weft_protocol::Kind::MintRequest.max_size(),
                    weft_protocol::Kind::MintReply.max_size(),
                    30,
                    16,
                ),
                streams: libp2p_stream::Behaviour::new(),
            })
        })
        .map_err(|e| err(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
        .build();
    Ok(swarm)
}

#[cfg(test)]
mod tests {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    use super::*;

    /// The system allocator, counting the bytes each thread allocates, so a
    /// test can measure what one call costs while other tests run beside it.
    struct Counting;

    thread_local! {
        static ALLOCATED: Cell<usize> = const { Cell::new(0) };
    }

    // SAFETY: every call goes to `System` unchanged; the count is a
    // thread-local `Cell` with a const initialiser and no destructor, so
    // touching it never allocates or re-enters the allocator.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = ALLOCATED.try_with(|a| a.set(a.get() + layout.size()));
            // SAFETY: the caller's contract is passed on unchanged.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: the caller's contract is passed on unchanged.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            let _ = ALLOCATED.try_with(|a| a.set(a.get() + layout.size()));
            // SAFETY: the caller's contract is passed on unchanged.
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let grown = new_size.saturating_sub(layout.size());
            let _ = ALLOCATED.try_with(|a| a.set(a.get() + grown));
            // SAFETY: the caller's contract is passed on unchanged.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Counting = Counting;

    /// A new node's swarm allocates well under a megabyte. Upstream
    /// libp2p-kad 0.49 gave each of a routing table's 256 buckets room for
    /// 20 nodes when the behaviour was built, about 1.6 MiB a node, most of
    /// it resident (simnet: 0.84 MiB a node of 6.08); the patched copy in
    /// `vendor/libp2p-kad` makes a bucket's room on its first insert. This
    /// fails if the `[patch.crates-io]` entry is lost (seen: 1,866,126 bytes
    /// without the patch, 141,710 with it).
    #[tokio::test]
    async fn a_new_swarm_does_not_allocate_a_routing_table_it_has_not_filled() {
        let opts = SwarmOptions {
            mdns: false,
            relay_server: false,
            memory_transport: None,
        };
        let before = ALLOCATED.with(Cell::get);
        let swarm = build_swarm(Keypair::generate_ed25519(), &opts).expect("swarm");
        let spent = ALLOCATED.with(Cell::get) - before;
        drop(swarm);
        assert!(
            spent < 1024 * 1024,
            "building a swarm allocated {spent} bytes"
        );
    }

    /// libp2p's timers (connection idle timeouts, upgrade and request
    /// timeouts, gossipsub's heartbeat, Kademlia's queries) are
    /// `futures_timer::Delay`s. Upstream, every one is set, reset and
    /// dropped through futures-timer's own thread, which is woken for each
    /// (7.9 % of a 1,000-node simnet's CPU was that thread, and more in the
    /// context switches it caused); the patched copy in
    /// `vendor/futures-timer` makes a `Delay` made inside a tokio runtime a
    /// tokio timer. This fails if the `[patch.crates-io]` entry is lost.
    #[tokio::test]
    async fn libp2p_timers_made_in_the_runtime_are_the_runtimes() {
        let delay = futures_timer::Delay::new(std::time::Duration::from_millis(20));
        let shown = format!("{delay:?}");
        assert!(shown.contains("tokio"), "a Delay on {shown}");
        let started = std::time::Instant::now();
        tokio::time::timeout(std::time::Duration::from_secs(10), delay)
            .await
            .expect("the delay fires");
        assert!(started.elapsed() >= std::time::Duration::from_millis(20));
        let mut again = futures_timer::Delay::new(std::time::Duration::from_secs(3600));
        again.reset(std::time::Duration::from_millis(1));
        tokio::time::timeout(std::time::Duration::from_secs(10), again)
            .await
            .expect("a reset delay fires at its new time");
    }

    /// Outside any tokio runtime a `Delay` is still upstream's, on
    /// futures-timer's own thread, and fires there.
    #[test]
    fn a_delay_made_outside_a_runtime_is_upstreams_and_fires() {
        let delay = futures_timer::Delay::new(std::time::Duration::from_millis(5));
        let shown = format!("{delay:?}");
        assert!(shown.contains("native"), "a Delay on {shown}");
        let started = std::time::Instant::now();
        futures::executor::block_on(delay);
        assert!(started.elapsed() >= std::time::Duration::from_millis(5));
    }
}
