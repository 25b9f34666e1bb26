//! The official-accounts background task: keeps the gossip that the swarm
//! task accepted for followed accounts, fetches post images, and catches up
//! whenever a followed account's node comes (back) online.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use weft_protocol::{oa::Broadcast, AccountId, Kind};

use super::{Inner, Oa, OaEvent};
use crate::blobs::Blobs;
use crate::context::Context;
use crate::events::{EventFeed, EventRx};
use crate::home::Home;
use crate::net::card_peer;
use crate::net::Topic;
use crate::net::{GossipMessage, NetEvent};
use libp2p::PeerId;

/// How often our accounts' DHT records are published again (they expire).
const REPUBLISH: Duration = Duration::from_secs(1800);

/// How often a follower asks one peer for broadcasts gossip may have lost.
pub(super) const CATCH_UP_EVERY: std::time::Duration = std::time::Duration::from_secs(20);

impl Oa {
    /// Starts the service: re-joins the topics of the accounts we follow and
    /// run, keeps valid gossip (`gossip` carries what the swarm task
    /// accepted), and catches up from accounts' nodes as they connect.
    /// `home` holds the accounts' key files; `trust_roots` are the verifiers
    /// whose certificates mark an account verified.
    pub fn start(
        ctx: Context,
        home: Home,
        blobs: Blobs,
        trust_roots: Vec<AccountId>,
        gossip: mpsc::Receiver<GossipMessage>,
    ) -> Self {
        let events = EventFeed::new(256);
        let shutdown = ctx.shutdown.clone();
        // Subscribe before anything can connect, so no identification is missed.
        let peers = ctx.net.subscribe();
        let oa = Oa {
            inner: Arc::new(Inner {
                ctx,
                home,
                trust_roots,
                events,
                blobs,
                publishing: tokio::sync::Mutex::new(()),
                served: Default::default(),
            }),
        };
        tokio::spawn(oa.clone().run(gossip, peers, shutdown));
        oa
    }

    /// Subscribes to OA events.
    pub fn subscribe(&self) -> EventRx<OaEvent> {
        self.inner.events.subscribe()
    }

    /// Joins (relays) or leaves the gossip topic of `account`.
    pub(super) async fn relay(&self, account: AccountId, on: bool) {
        self.inner.ctx.net.join_topic(Topic::Oa(account), on).await;
    }

    async fn run(
        self,
        mut gossip: mpsc::Receiver<GossipMessage>,
        mut peers: EventRx<NetEvent>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let store = &self.inner.ctx.store;
        let followed = store.followed_oas().unwrap_or_default().into_iter();
        let owned = store.owned_oas().unwrap_or_default().into_iter();
        for account in followed.map(|(a, _)| a).chain(owned.map(|(a, _)| a)) {
            self.relay(account, true).await;
        }
        self.prune_slots();
        let mut backfilled = false;
        let mut last_publish: Option<Instant> = None;
        let mut catch_up = tokio::time::interval(CATCH_UP_EVERY);
        catch_up.tick().await;
        let mut catching_up: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            tokio::select! {
                _ = async { let _ = shutdown.wait_for(|s| *s).await; } => return,
                _ = catch_up.tick() => {
                    // One round at a time: dialling hosts that are down can
                    // make a round outlast the period.
                    if catching_up.as_ref().is_none_or(|t| t.is_finished()) {
                        let m = self.clone();
                        catching_up = Some(tokio::spawn(async move {
                            for (account, _) in m.inner.ctx.store.followed_oas().unwrap_or_default() {
                                m.catch_up(account).await;
                            }
                        }));
                    }
                }
                m = gossip.recv() => match m {
                    Some(m) => self.on_gossip(m),
                    None => return,
                },
                ev = peers.recv() => {
                    let Ok(NetEvent::PeerIdentified { peer_id, .. }) = ev else {
                        continue;
                    };
                    self.on_peer(peer_id, &mut backfilled, &mut last_publish);
                }
            }
        }
    }

    /// A peer's card arrived: catch up from it if it runs an account we
    /// follow; keep our DHT records fresh; after a restart, reconnect to
    /// every followed account once the network is up.
    fn on_peer(&self, peer_id: PeerId, backfilled: &mut bool, last_publish: &mut Option<Instant>) {
        let hosts: Vec<AccountId> = self
            .inner
            .ctx
            .store
            .followed_oas()
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, p)| p.as_ref().and_then(|p| card_peer(&p.body.card)) == Some(peer_id))
            .map(|(a, _)| a)
            .collect();
        if !hosts.is_empty() {
            let m = self.clone();
            tokio::spawn(async move {
                for a in hosts {
                    m.backfill(a).await;
                }
            });
        }
        if last_publish.is_none_or(|t| t.elapsed() > REPUBLISH) {
            *last_publish = Some(Instant::now());
            self.prune_slots();
            let m = self.clone();
            tokio::spawn(async move { m.publish_records().await });
        }
        if !*backfilled {
            *backfilled = true;
            let m = self.clone();
            tokio::spawn(async move {
                for (account, _) in m.inner.ctx.store.followed_oas().unwrap_or_default() {
                    m.connect(&account).await;
                    m.backfill(account).await;
                }
            });
        }
    }

    /// Keeps a broadcast the swarm task accepted, if we follow its account.
    fn on_gossip(&self, m: GossipMessage) {
        let Ok(b) = weft_protocol::decode::<Broadcast>(Kind::OaBroadcast, &m.data) else {
            return;
        };
        if !self
            .inner
            .ctx
            .store
            .follows_oa(&b.account())
            .unwrap_or(false)
        {
            return; // we relay it, but only followers keep and show it
        }
        self.keep(&b);
    }

    /// Stores a checked broadcast of a followed account; if it is new, tells
    /// the event stream (whether gossip or catch-up brought it) and fetches
    /// its images. Returns whether it was new.
    pub(super) fn keep(&self, b: &Broadcast) -> bool {
        if let Ok(true) = self.inner.ctx.store.put_broadcast(b) {
            let _ = self.inner.events.send(OaEvent::OaPost {
                account_id: b.account().to_string(),
                title: b.body.title.clone(),
            });
            self.fetch_images(b);
            return true;
        }
        false
    }

    /// Fetches a post's images in the background from the account's node
    /// and our connected peers (any of them may hold the chunks).
    pub(super) fn fetch_images(&self, b: &Broadcast) {
        if b.body.images.is_empty() {
            return;
        }
        let me = self.clone();
        let images = b.body.images.clone();
        let host = card_peer(&b.body.profile.body.card);
        tokio::spawn(async move {
            let holders = me.peers_to_ask(host).await;
            for id in images {
                if let Err(e) = me.inner.blobs.fetch(&id, &holders).await {
                    tracing::warn!(error = %e, "could not fetch a broadcast image");
                }
            }
        });
    }
}
