//! Starting Moments and its background task: the task reads the gossip the
//! network task checked and held back, keeps the joined topics equal to
//! "me and my friends", and starts a backfill whenever a friend's device
//! identifies, so a node that was away catches up without being asked.

use std::sync::Arc;
use std::time::Duration;

use libp2p::PeerId;
use tokio::sync::mpsc;
use weft_protocol::{moments::Item, AccountId, Kind};

use super::ingest::{Rejection, Verdict};
use super::{Inner, Moments};
use crate::blobs::Blobs;
use crate::chat::{Chat, ChatEvent};
use crate::context::Context;
use crate::events::EventFeed;
use crate::net::Topic;
use crate::net::{GossipMessage, NetEvent};

/// How often the joined topics are compared with the friend list, in case a
/// friendship ended or began without an event we saw.
const RECONCILE_EVERY: Duration = Duration::from_secs(30);

impl Moments {
    /// Starts the service: joins topics, consumes gossip, backfills.
    ///
    /// `gossip` carries the Moments messages the network task checked as a
    /// relay and holds unforwarded until this service gives its verdict;
    /// `chat` tells us when a friendship begins and resolves the friend names
    /// users type.
    pub fn start(
        ctx: Context,
        chat: Chat,
        blobs: Blobs,
        mut gossip: mpsc::Receiver<GossipMessage>,
    ) -> Self {
        let events = EventFeed::new(256);
        let mut shutdown = ctx.shutdown.clone();
        let m = Moments {
            inner: Arc::new(Inner {
                identity: ctx.identity,
                store: ctx.store,
                net: ctx.net,
                chat: chat.clone(),
                blobs,
                events,
                joined: Default::default(),
                synced: Default::default(),
                served: Default::default(),
                ingest: Default::default(),
            }),
        };
        let me = m.clone();
        let mut net_events = m.inner.net.subscribe();
        let mut chat_events = chat.subscribe();
        let keys_arrived = chat.moments_key_arrived();
        tokio::spawn(async move {
            me.reconcile_topics().await;
            let mut tick = tokio::time::interval(RECONCILE_EVERY);
            loop {
                tokio::select! {
                    _ = async { let _ = shutdown.wait_for(|s| *s).await; } => return,
                    msg = gossip.recv() => match msg {
                        Some(msg) => me.on_gossip(msg).await,
                        None => return,
                    },
                    ev = net_events.recv() => {
                        if let Ok(NetEvent::PeerIdentified { peer_id, account_id, .. }) = ev {
                            me.on_identified(peer_id, account_id);
                        }
                    }
                    ev = chat_events.recv() => {
                        if let Ok(ChatEvent::FriendAccepted { .. }) = ev {
                            me.reconcile_topics().await;
                        }
                    }
                    _ = keys_arrived.notified() => me.reconcile_topics().await,
                    _ = tick.tick() => me.reconcile_topics().await,
                }
            }
        });
        m
    }

    /// Joins our topic and our friends' topics (giving friends our key
    /// first); leaves those of ex-friends; backfills from friends we just
    /// began to read.
    async fn reconcile_topics(&self) {
        let join = self.join_topics().await;
        // A new friend: catch up on what they posted before.
        if !join.is_empty() {
            for p in self.inner.net.peers().await.unwrap_or_default() {
                if p.account_id
                    .is_some_and(|a| join.contains(&a) && a != self.me())
                {
                    let (me, peer) = (self.clone(), p.peer_id);
                    tokio::spawn(async move { me.backfill_from(peer, true).await });
                }
            }
        }
    }

    /// A device identified itself: if it belongs to a friend (or to us), backfill from it.
    fn on_identified(&self, peer: PeerId, account: AccountId) {
        if account != self.me() && !self.is_friend(&account) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move { me.backfill_from(peer, false).await });
    }

    /// One gossip message: decode, apply, and give gossipsub the verdict so
    /// a rejected item is neither kept nor forwarded.
    async fn on_gossip(&self, msg: GossipMessage) {
        let verdict = match (decode(&msg.data), msg.topic) {
            (Err(e), _) => Verdict::Reject(e),
            (Ok(item), Topic::Moments(tag)) => match self.author_of_topic(&tag) {
                // Only the topic's author signs what is on it (reactions
                // are filed under the post's author: `Item::check`).
                Some(author) if author == item.body.author => self.ingest(item).await,
                Some(_) => Verdict::Reject(Rejection::WrongTopic),
                None => Verdict::Ignore(Rejection::WrongTopic),
            },
            (Ok(_), _) => Verdict::Ignore(Rejection::WrongTopic),
        };
        if let Verdict::Accept = verdict {
            let _ = self.inner.store.flush_async().await;
        }
        match &verdict {
            Verdict::Reject(reason) => {
                tracing::info!(topic = %msg.topic, %reason, "rejected moments item")
            }
            Verdict::Ignore(reason) => {
                tracing::debug!(topic = %msg.topic, %reason, "ignored moments item")
            }
            Verdict::Accept => {}
        }
        if let Some(p) = msg.pending {
            self.inner.net.validate(p, verdict.judgement()).await;
        }
    }
}

/// A gossip message's item, structurally checked (the relay checked it too;
/// this is what the service trusts, not the relay's word).
fn decode(data: &[u8]) -> Result<Item, Rejection> {
    let item: Item = weft_protocol::decode(Kind::MomentItem, data)?;
    item.check()?;
    Ok(item)
}
