//! Handles: a short name (`weft id --handle bao`) that others can type
//! instead of an account id. A claim is a signed `HandleClaim` stored in the
//! DHT under `/weft/handle/<handle>`; storing peers keep the first claim they
//! see, and [`find_handle`] takes the claim most peers returned (then the
//! earliest), so squatting needs more storing peers than the owner reached.
//! Because the DHT can still be fooled, `find` shows a fingerprint to compare.

use std::collections::HashMap;
use std::time::Duration;

use weft_protocol::{
    profile::{normalize_handle, HandleClaim},
    AccountId, Kind,
};

use super::{FoundHandle, Nearby, NearbyError};
use crate::net::{records, Net};

/// How often our handle claim is republished (DHT records expire).
pub(super) const REPUBLISH: Duration = Duration::from_secs(30 * 60);
/// The settings key our claim (handle, claimed at) is stored under.
const HANDLE_KEY: &str = "handle";
/// How long a lookup waits for DHT answers.
const FIND_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a claim waits for the DHT to store it.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(20);

/// Account id shown in groups of four for comparing by eye.
pub fn fingerprint(a: &AccountId) -> String {
    let s = a.to_string();
    s.as_bytes()
        .chunks(4)
        .take(6)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Resolves a handle through the DHT.
pub async fn find_handle(net: &Net, handle: &str) -> Result<FoundHandle, NearbyError> {
    let handle = normalize_handle(handle)?;
    let key = records::handle_key(&handle);
    let values = tokio::time::timeout(FIND_TIMEOUT, net.get_record(key.clone()))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let mut by_account: HashMap<AccountId, (usize, HandleClaim)> = HashMap::new();
    for v in values {
        if let Ok(c) = records::handle_claim(&key, &v) {
            let e = by_account.entry(c.account()).or_insert((0, c.clone()));
            e.0 += 1;
            if c.claimed_at < e.1.claimed_at {
                e.1 = c;
            }
        }
    }
    let others = by_account.len().saturating_sub(1);
    let (_, winner) = by_account
        .into_values()
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.claimed_at.cmp(&a.1.claimed_at)))
        .ok_or_else(|| NearbyError::NotFound(handle.clone()))?;
    let account = winner.account();
    Ok(FoundHandle {
        handle,
        account_id: account.to_string(),
        fingerprint: fingerprint(&account),
        name: winner.card.body.name.clone(),
        peer_id: crate::net::card_peer(&winner.card).map(|p| p.to_string()),
        other_claims: others,
        card: Some(winner.card),
    })
}

impl Nearby {
    /// `weft id --handle NAME`: claims a handle in the DHT. Returns the
    /// normalised handle and whether the DHT stored the claim now (it is
    /// republished later either way).
    pub async fn claim_handle(&self, handle: &str) -> Result<(String, bool), NearbyError> {
        let handle = normalize_handle(handle)?;
        let me = self.ctx.me();
        match find_handle(&self.ctx.net, &handle).await {
            Ok(f) if f.account_id != me.to_string() => {
                return Err(NearbyError::Taken(handle, f.fingerprint));
            }
            _ => {}
        }
        // Re-claiming our own handle keeps its first date: earliest wins ties.
        let claimed_at = match self.ctx.store.setting::<(String, u64)>(HANDLE_KEY)? {
            Some((h, at)) if h == handle => at,
            _ => weft_protocol::unix_now(),
        };
        self.ctx
            .store
            .put_setting(HANDLE_KEY, &(handle.clone(), claimed_at))
            .await?;
        let published = self.publish_handle().await;
        Ok((handle, published))
    }

    /// Our claimed handle, if any.
    pub fn handle(&self) -> Option<String> {
        self.ctx
            .store
            .setting::<(String, u64)>(HANDLE_KEY)
            .ok()
            .flatten()
            .map(|(h, _)| h)
    }

    /// Puts our claim (with a fresh card) in the DHT; `false` if we have no
    /// handle or the DHT did not store it in time.
    pub(super) async fn publish_handle(&self) -> bool {
        let Some((handle, at)) = self
            .ctx
            .store
            .setting::<(String, u64)>(HANDLE_KEY)
            .ok()
            .flatten()
        else {
            return false;
        };
        let Some(card) = self.chat.my_card().await else {
            return false;
        };
        let Ok(claim) = HandleClaim::new(&self.ctx.identity.account, &handle, card, at) else {
            return false;
        };
        let Ok(value) = weft_protocol::encode(Kind::HandleClaim, &claim) else {
            return false;
        };
        let put = self.ctx.net.put_record(records::handle_key(&handle), value);
        matches!(tokio::time::timeout(PUBLISH_TIMEOUT, put).await, Ok(Ok(())))
    }
}
