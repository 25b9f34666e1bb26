//! Starting groups and the background task: reads the group wires gossip
//! hands over (unforwarded until we judge them), keeps the joined topics
//! equal to "our groups, current epoch", keeps a few connections to other
//! members so the mesh forms, and catches up from a member's device when it
//! identifies and on every tick.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use weft_protocol::group::{topic_tag, GroupId};

use super::ingest::WireOutcome;
use super::{Groups, Inner};
use crate::chat::Chat;
use crate::context::Context;
use crate::events::EventFeed;
use crate::net::{GossipMessage, NetEvent, Topic};

/// How often topics, member connections and catch-up are looked after.
const TICK: Duration = Duration::from_secs(15);
/// Members of each group we try to stay connected to.
const MESH_MEMBERS: usize = 4;
/// Members we try to dial per group per tick.
const DIALS_PER_TICK: usize = 3;
/// Connected members we catch up from per group per tick.
const SYNC_PER_TICK: usize = 3;

/// How long after seeing a gap we ask for what is missing: what gossip
/// merely reordered arrives meanwhile.
const GAP_WAIT: Duration = Duration::from_secs(1);
/// At most one gap-triggered catch-up per group in this long.
const GAP_SYNC_EVERY: Duration = Duration::from_secs(3);
/// Groups with gaps remembered at most (one entry per group we are in).
const MAX_GAP_GROUPS: usize = 4096;

/// Gaps seen in groups' chains, and the catch-ups they started.
#[derive(Debug, Default)]
pub(super) struct Gaps {
    /// Groups where a wire arrived past a gap since we last looked.
    seen: HashSet<GroupId>,
    /// When a gap last made us catch up, per group.
    last: HashMap<GroupId, std::time::Instant>,
}

impl Gaps {
    /// Whether a gap in `g` should start a catch-up now (and if so, notes
    /// that it did): there was one, and none started in the last
    /// [`GAP_SYNC_EVERY`].
    fn due(&mut self, g: &GroupId, now: std::time::Instant) -> bool {
        if !self.seen.remove(g) {
            return false;
        }
        if self
            .last
            .get(g)
            .is_some_and(|t| now.duration_since(*t) < GAP_SYNC_EVERY)
        {
            return false;
        }
        if self.last.len() >= MAX_GAP_GROUPS {
            self.last
                .retain(|_, t| now.duration_since(*t) < GAP_SYNC_EVERY);
        }
        self.last.insert(*g, now);
        true
    }
}

impl Groups {
    /// Starts the service. `gossip` carries group wires the network task
    /// checked structurally and holds until we give the verdict.
    pub fn start(ctx: Context, chat: Chat, mut gossip: mpsc::Receiver<GossipMessage>) -> Self {
        let events = EventFeed::new(1024);
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
                gaps: Default::default(),
                device_changes: Default::default(),
            }),
        };
        g.register_inbox();
        g.resume_device_changes();
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
    pub(super) fn shared_groups(&self, account: &weft_protocol::AccountId) -> Vec<GroupId> {
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
            let start = crate::random::index(order.len());
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
            let start = crate::random::index(others.len());
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

    /// Notes that a wire of `g` arrived past a gap in its chain.
    pub(super) fn note_gap(&self, g: &GroupId) {
        if let Ok(mut gaps) = self.inner.gaps.lock() {
            if gaps.seen.len() < MAX_GAP_GROUPS {
                gaps.seen.insert(*g);
            }
        }
    }

    /// After a gossip wire of `g` from `source` (a member's device: only
    /// members know the topic): if it showed a gap, ask `source` for what
    /// is missing shortly, instead of waiting for the next tick.
    fn catch_up_after_gap(&self, g: GroupId, source: libp2p::PeerId) {
        let due = self
            .inner
            .gaps
            .lock()
            .map(|mut gaps| gaps.due(&g, std::time::Instant::now()))
            .unwrap_or(false);
        if due {
            let me = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(GAP_WAIT).await;
                me.sync_with(source, g).await;
            });
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
        if let (Some(g), Some(p)) = (group, msg.pending.as_ref()) {
            self.catch_up_after_gap(g, p.source);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 14: a gap starts a catch-up at once, but not again for the
    /// same group within a few seconds, and not without a new gap.
    #[test]
    fn a_gap_starts_one_catch_up_per_group_per_window() {
        let (g, h) = (GroupId([1; 32]), GroupId([2; 32]));
        let mut gaps = Gaps::default();
        let t = std::time::Instant::now();
        assert!(!gaps.due(&g, t), "no gap, no catch-up");
        gaps.seen.insert(g);
        assert!(gaps.due(&g, t));
        gaps.seen.insert(g);
        gaps.seen.insert(h);
        assert!(!gaps.due(&g, t + Duration::from_secs(1)), "again too soon");
        assert!(
            gaps.due(&h, t + Duration::from_secs(1)),
            "another group waits for none"
        );
        gaps.seen.insert(g);
        assert!(gaps.due(&g, t + GAP_SYNC_EVERY));
    }
}
