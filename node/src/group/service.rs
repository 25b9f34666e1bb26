//! Starting groups and the background task: reads the group wires gossip
//! hands over (unforwarded until we judge them), keeps the joined topics
//! equal to "our groups, current epoch", keeps a few connections to other
//! members so the mesh forms, and catches up from a member's device when it
//! identifies and on every tick.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use weft_protocol::group::{topic_tag, GroupId};

use super::ingest::WireOutcome;
use super::{Groups, Inner};
use crate::chat::Chat;
use crate::context::Context;
use crate::net::{GossipMessage, NetEvent, Topic};

/// How often topics, member connections and catch-up are looked after.
const TICK: Duration = Duration::from_secs(15);
/// Members of each group we try to stay connected to.
const MESH_MEMBERS: usize = 4;
/// Members we try to dial per group per tick.
const DIALS_PER_TICK: usize = 3;
/// Connected members we catch up from per group per tick.
const SYNC_PER_TICK: usize = 3;

/// A random index below `n` (0 when `n` is 0).
fn random_index(n: usize) -> usize {
    let mut seed = [0u8; 8];
    let _ = getrandom::fill(&mut seed);
    (u64::from_le_bytes(seed) as usize) % n.max(1)
}

impl Groups {
    /// Starts the service. `gossip` carries group wires the network task
    /// checked structurally and holds until we give the verdict.
    pub fn start(ctx: Context, chat: Chat, mut gossip: mpsc::Receiver<GossipMessage>) -> Self {
        let (events, _) = broadcast::channel(1024);
        let mut shutdown = ctx.shutdown.clone();
        let g = Groups {
            inner: Arc::new(Inner {
                ctx,
                chat,
                events,
                lock: tokio::sync::Mutex::new(()),
                logs: Default::default(),
                joined: Default::default(),
                served: Default::default(),
                wire_lock: Default::default(),
            }),
        };
        g.register_inbox();
        let me = g.clone();
        let mut net_events = g.inner.ctx.net.subscribe();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            loop {
                tokio::select! {
                    _ = async { let _ = shutdown.wait_for(|s| *s).await; } => return,
                    msg = gossip.recv() => match msg {
                        Some(msg) => me.on_gossip(msg).await,
                        None => return,
                    },
                    ev = net_events.recv() => {
                        if let Ok(NetEvent::PeerIdentified { peer_id, account_id, .. }) = ev {
                            for g in me.shared_groups(&account_id) {
                                let me = me.clone();
                                tokio::spawn(async move { me.sync_with(peer_id, g).await });
                            }
                        }
                    }
                    _ = tick.tick() => {
                        me.reconcile_topics().await;
                        let me = me.clone();
                        tokio::spawn(async move { me.tend().await });
                    }
                }
            }
        });
        g
    }

    /// Groups both we and `account` are members of.
    fn shared_groups(&self, account: &weft_protocol::AccountId) -> Vec<GroupId> {
        let me = self.me();
        self.all()
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, _, l)| {
                l.state.members.contains_key(&me) && l.state.members.contains_key(account)
            })
            .map(|(g, _, _)| g)
            .collect()
    }

    /// Joins the current topic of every group we are in; leaves the rest.
    pub(super) async fn reconcile_topics(&self) {
        let me = self.me();
        let mut want: HashMap<[u8; 16], GroupId> = HashMap::new();
        for (g, meta, l) in self.all().unwrap_or_default() {
            if l.state.members.contains_key(&me) {
                want.insert(topic_tag(&meta.secret, &l.state.epoch_change), g);
            }
        }
        let (join, leave) = {
            let Ok(mut joined) = self.inner.joined.lock() else {
                return;
            };
            let now: HashSet<_> = joined.keys().copied().collect();
            let wanted: HashSet<_> = want.keys().copied().collect();
            let join: Vec<_> = wanted.difference(&now).copied().collect();
            let leave: Vec<_> = now.difference(&wanted).copied().collect();
            *joined = want;
            (join, leave)
        };
        for t in join {
            self.inner.ctx.net.join_topic(Topic::Group(t), true).await;
        }
        for t in leave {
            self.inner.ctx.net.join_topic(Topic::Group(t), false).await;
        }
    }

    /// Per group: stay connected to a few members, and catch up from one.
    async fn tend(&self) {
        let me = self.me();
        let peers = self.inner.ctx.net.peers().await.unwrap_or_default();
        for (g, _, l) in self.all().unwrap_or_default() {
            if !l.state.members.contains_key(&me) {
                continue;
            }
            if let Err(e) = self.retry_held(&g) {
                tracing::warn!(error = %e, "cannot read held group messages");
            }
            let connected: Vec<_> = peers
                .iter()
                .filter(|p| {
                    p.account_id
                        .is_some_and(|a| a != me && l.state.members.contains_key(&a))
                })
                .collect();
            // Gossip may drop a message (a full send queue, a mesh not yet
            // formed): a few connected members, a different few each time,
            // fill the gaps; an up-to-date answer is empty.
            let mut order: Vec<_> = connected.iter().map(|p| p.peer_id).collect();
            let start = random_index(order.len());
            order.rotate_left(start);
            for p in order.into_iter().take(SYNC_PER_TICK) {
                self.sync_with(p, g).await;
            }
            if connected.len() >= MESH_MEMBERS.min(l.state.members.len().saturating_sub(1)) {
                continue;
            }
            let have: HashSet<_> = connected.iter().filter_map(|p| p.account_id).collect();
            let mut others: Vec<_> = l
                .state
                .members
                .keys()
                .filter(|a| **a != me && !have.contains(*a))
                .copied()
                .collect();
            // A different few each time, so the mesh does not hinge on the same members.
            let start = random_index(others.len());
            others.rotate_left(start);
            for a in others.into_iter().take(DIALS_PER_TICK) {
                if let Some(card) = crate::chat::lookup_card(&self.inner.ctx.net, &a).await {
                    if let Some(peer) = crate::chat::dial_card(&self.inner.ctx.net, &card).await {
                        self.sync_with(peer, g).await;
                    }
                }
            }
        }
    }

    /// One gossip wire: read it and give gossipsub the verdict.
    async fn on_gossip(&self, msg: GossipMessage) {
        let Topic::Group(tag) = msg.topic else {
            return;
        };
        let group = self
            .inner
            .joined
            .lock()
            .ok()
            .and_then(|j| j.get(&tag).copied());
        if let (Some(g), Ok(keys)) = (group, weft_protocol::group::GroupKeys::decode(&msg.data)) {
            let ok = match self.on_keys(&g, &keys) {
                Ok(ok) => ok,
                Err(e) => {
                    tracing::error!(error = %e, "cannot store a sender key");
                    true
                }
            };
            let _ = self.inner.ctx.store.flush_async().await;
            if let Some(p) = msg.pending {
                self.inner.ctx.net.validate(p, ok).await;
            }
            return;
        }
        let outcome = match group {
            Some(g) => match self.on_wire(&g, &msg.data) {
                Ok(o) => o,
                Err(e) => {
                    tracing::error!(error = %e, "cannot store a group message");
                    WireOutcome::Held
                }
            },
            None => WireOutcome::Refused,
        };
        if outcome != WireOutcome::Refused {
            let _ = self.inner.ctx.store.flush_async().await;
        }
        if let Some(p) = msg.pending {
            self.inner
                .ctx
                .net
                .validate(p, outcome != WireOutcome::Refused)
                .await;
        }
    }
}
