//! `oa search`: finding accounts by name without a directory. Nodes provide
//! each name word of the accounts they run in the DHT; a search asks the
//! providers of its first word for their accounts' signed profiles
//! (`/weft/oa/1` `Accounts`) and keeps those whose names hold every word.

use std::time::Duration;

use libp2p::PeerId;
use weft_protocol::oa::{decode_reply, encode_request, OaError, OaProfile, OaReply, OaRequest};

use super::{Oa, OaServiceError, OaView};
use crate::net::records;
use crate::net::AppProtocol;

/// How long the DHT may take to name providers.
const PROVIDERS_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one provider may take to answer.
const ACCOUNTS_TIMEOUT: Duration = Duration::from_secs(8);
/// Most providers asked.
const MAX_PROVIDERS: usize = 20;

impl Oa {
    /// `oa search`: accounts whose name has every word of `query`, found
    /// through the DHT (nodes provide their accounts' name words) and checked
    /// against the signed profiles their nodes return.
    pub async fn search(&self, query: &str) -> Result<Vec<OaView>, OaServiceError> {
        let words = records::name_words(query);
        let Some(first) = words.first() else {
            return Err(OaServiceError::Oa(OaError::Bounds(
                "search needs a word of 2+ letters",
            )));
        };
        let net = &self.inner.ctx.net;
        let providers = tokio::time::timeout(
            PROVIDERS_TIMEOUT,
            net.providers(records::oa_name_key(first)),
        )
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
        let mut peers: Vec<PeerId> = providers
            .into_iter()
            .map(|(p, _)| p)
            .take(MAX_PROVIDERS)
            .collect();
        // Our own accounts count too.
        peers.push(net.peer_id());
        let mut out: Vec<OaView> = Vec::new();
        let Ok(env) = encode_request(&OaRequest::Accounts) else {
            return Ok(out);
        };
        let store = &self.inner.ctx.store;
        for peer in peers {
            let profiles = if peer == net.peer_id() {
                let mut v = Vec::new();
                for (a, owned) in store.owned_oas()? {
                    v.extend(self.profile_of(&a, &owned).await.ok());
                }
                v
            } else {
                self.profiles_at(peer, env.clone()).await
            };
            for p in profiles {
                let name = p.body.card.body.name.clone();
                let have = records::name_words(&name);
                if !words.iter().all(|w| have.contains(w))
                    || out.iter().any(|v| v.account_id == p.account().to_string())
                {
                    continue;
                }
                let verified = p.verified_by(&self.inner.trust_roots, weft_protocol::unix_now());
                out.push(OaView {
                    account_id: p.account().to_string(),
                    name,
                    kind: p.body.kind.as_str().to_string(),
                    verified: verified.is_some(),
                    verified_by: verified.map(|v| v.1),
                    own: store.owned_oa(&p.account())?.is_some(),
                    following: store.follows_oa(&p.account())?,
                    subscribers: None,
                });
            }
        }
        Ok(out)
    }

    /// The valid profiles of the accounts `peer` runs (none if it does not
    /// answer in time or answers nonsense).
    pub(super) async fn profiles_at(&self, peer: PeerId, env: Vec<u8>) -> Vec<OaProfile> {
        let ask = self.inner.ctx.net.request(AppProtocol::Oa, peer, env);
        let Ok(Ok(reply)) = tokio::time::timeout(ACCOUNTS_TIMEOUT, ask).await else {
            return Vec::new();
        };
        match decode_reply(&reply) {
            Ok(OaReply::Accounts(list)) => list
                .iter()
                .filter_map(|b| postcard::from_bytes::<OaProfile>(b).ok())
                .filter(|p| p.verify().is_ok())
                .collect(),
            _ => Vec::new(),
        }
    }
}
