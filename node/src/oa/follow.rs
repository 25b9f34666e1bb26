//! Following an account and catching up with it: joining its topic,
//! connecting to the node that runs it, and backfill (`/weft/oa/1`
//! `Recent`) from that node and our connected peers, each post checked like
//! gossip (with a longer reach back in time) before it is stored. Also the other side of
//! finding an account: the DHT records this node publishes for the accounts
//! it runs.

use std::time::Duration;

use weft_protocol::{
    oa::{
        decode_reply, encode_request,
        relay::{check_backfilled, BACKFILL_WINDOW_SECS},
        OaReply, OaRequest,
    },
    AccountId, Kind,
};

use super::service::CATCH_UP_EVERY;
use super::{parse_id, Oa, OaServiceError, BACKFILL};
use crate::chat::{dial_card, lookup_card};
use crate::net::card_peer;
use crate::net::records;
use crate::net::AppProtocol;

/// How long one peer may take to answer a backfill.
const BACKFILL_TIMEOUT: Duration = Duration::from_secs(8);
/// How long one DHT record put may take.
const PUT_TIMEOUT: Duration = Duration::from_secs(20);

impl Oa {
    /// `oa follow`: joins the topic, connects to the account's node, backfills.
    pub async fn follow(&self, oa: &str) -> Result<(), OaServiceError> {
        let account = parse_id(oa)?;
        let store = &self.inner.ctx.store;
        if !store.follows_oa(&account)? {
            store.follow_oa(&account, None)?;
            store.flush_async().await?;
        }
        self.relay(account, true).await;
        let me = self.clone();
        tokio::spawn(async move {
            me.connect(&account).await;
            me.backfill(account).await;
        });
        Ok(())
    }

    /// `oa unfollow`: leaves the topic and forgets the posts.
    pub async fn unfollow(&self, oa: &str) -> Result<(), OaServiceError> {
        let account = parse_id(oa)?;
        let store = &self.inner.ctx.store;
        if !store.unfollow_oa(&account)? {
            return Err(OaServiceError::NotFollowed(oa.to_string()));
        }
        store.flush_async().await?;
        // An account we run keeps its topic: we relay our own posts.
        if store.owned_oa(&account)?.is_none() {
            self.relay(account, false).await;
        }
        Ok(())
    }

    /// Publishes each account we run as a DHT account record (its card,
    /// signed by the account's key), so followers can find its node, and
    /// provides its name words so `oa search` finds it.
    pub(super) async fn publish_records(&self) {
        let net = &self.inner.ctx.net;
        for (account, owned) in self.inner.ctx.store.owned_oas().unwrap_or_default() {
            for w in records::name_words(&owned.name) {
                net.provide(records::oa_name_key(&w), true).await;
            }
            let Ok(profile) = self.profile_of(&account, &owned).await else {
                continue;
            };
            let Ok(value) = weft_protocol::encode(Kind::Card, &profile.body.card) else {
                continue;
            };
            let put = net.put_record(records::account_key(&account), value);
            let _ = tokio::time::timeout(PUT_TIMEOUT, put).await;
        }
    }

    /// Connects to the node that runs `account` (its profile's card, or its
    /// DHT record), so its broadcasts reach us directly.
    pub(super) async fn connect(&self, account: &AccountId) {
        let known = self.followed(account).ok().flatten().flatten();
        let card = match known {
            Some(p) => Some(p.body.card),
            None => lookup_card(&self.inner.ctx.net, account).await,
        };
        if let Some(card) = card {
            let _ = dial_card(&self.inner.ctx.net, &card).await;
        }
    }

    /// Asks the OA's device and connected peers for its recent posts.
    pub async fn backfill(&self, account: AccountId) {
        let peers = self.peers_to_ask(self.host_of(&account)).await;
        self.backfill_from(account, peers).await;
    }

    /// The periodic catch-up: gossip may lose a broadcast (a mesh that was
    /// still forming, a full queue), so every 20 s a follower asks one peer
    /// for what it may have missed; an up-to-date answer stores nothing.
    /// The peer is the account's own device, dialled again if the
    /// connection to it was dropped; failing that, each round asks another
    /// connected peer (one that keeps no posts of the account must not be
    /// the only one ever asked).
    pub(super) async fn catch_up(&self, account: AccountId) {
        let net = &self.inner.ctx.net;
        let card = self
            .followed(&account)
            .ok()
            .flatten()
            .flatten()
            .map(|p| p.body.card);
        let connected = net.peers().await.unwrap_or_default();
        if let Some(card) = card {
            if let Some(host) = card_peer(&card) {
                let reached = connected.iter().any(|p| p.peer_id == host)
                    || dial_card(net, &card).await == Some(host);
                if reached {
                    self.backfill_from(account, vec![host]).await;
                    return;
                }
            }
        }
        if connected.is_empty() {
            return;
        }
        let round = weft_protocol::unix_now() / CATCH_UP_EVERY.as_secs().max(1);
        let i = usize::try_from(round).unwrap_or(0) % connected.len();
        self.backfill_from(account, vec![connected[i].peer_id])
            .await;
    }

    fn host_of(&self, account: &AccountId) -> Option<libp2p::PeerId> {
        self.followed(account)
            .ok()
            .flatten()
            .flatten()
            .and_then(|p| card_peer(&p.body.card))
    }

    async fn backfill_from(&self, account: AccountId, peers: Vec<libp2p::PeerId>) {
        let req = OaRequest::Recent {
            account,
            limit: BACKFILL as u32,
        };
        let Ok(env) = encode_request(&req) else {
            return;
        };
        let store = &self.inner.ctx.store;
        let mut slots = store.oa_slots();
        let mut got = 0;
        for peer in peers {
            let ask = self
                .inner
                .ctx
                .net
                .request(AppProtocol::Oa, peer, env.clone());
            let Ok(Ok(reply)) = tokio::time::timeout(BACKFILL_TIMEOUT, ask).await else {
                continue;
            };
            let Ok(OaReply::Posts(posts)) = decode_reply(&reply) else {
                continue;
            };
            let now = weft_protocol::unix_now();
            for p in posts.into_iter().take(BACKFILL) {
                // Like gossip, but reaching back further: fresh enough,
                // nothing from the future, and a quota slot nobody else holds
                // (the slot table is on disk and shared with the relay check).
                match check_backfilled(&account, &p, now, &mut slots) {
                    Ok(b) => {
                        if self.keep(&b) {
                            got += 1;
                        }
                    }
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "refusing a backfilled broadcast");
                    }
                }
            }
        }
        if got > 0 {
            let _ = store.flush_async().await;
            tracing::info!(%account, got, "backfilled official-account posts");
        }
    }

    /// Forgets quota slots no broadcast can still claim (older than backfill reaches).
    pub(super) fn prune_slots(&self) {
        let before = weft_protocol::unix_now().saturating_sub(BACKFILL_WINDOW_SECS);
        if let Err(e) = self.inner.ctx.store.oa_slots().prune(before) {
            tracing::warn!(error = %e, "cannot prune OA quota slots");
        }
    }
}
