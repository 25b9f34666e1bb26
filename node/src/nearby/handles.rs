//! Handles: a short name (`weft id --handle bao`) that others can type
//! instead of an account id. A claim is a signed `HandleClaim` stored in the
//! DHT under `/weft/handle/<handle>`; storing peers keep the first claim they
//! see (`records::may_replace`), and [`find_handle`] takes the claim most
//! peers returned, so squatting needs more storing peers than the owner
//! reached. The claim's own `claimed_at` is the claimant's word and decides
//! nothing. Because the DHT can still be fooled, `find` shows a fingerprint
//! to compare. Moving to a new handle publishes a signed release of the old
//! one (a DHT record cannot be deleted, and the old claim would otherwise
//! resolve to us until it expired everywhere); a released handle resolves to
//! no one and may be claimed by another account.

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
    let (winner, others) =
        pick_claim(&key, &values).ok_or_else(|| NearbyError::NotFound(handle.clone()))?;
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

/// The claim most storing peers returned, and how many other accounts
/// claimed the handle. Ties go to the claim that arrived first (the lookup
/// hears from peers near the key first); the self-declared `claimed_at` is
/// ignored, since anyone can write any date.
///
/// An account's latest record decides for it (peers the release has not
/// reached yet may still return its old claim), and an account whose latest
/// record is a release is out: a released handle resolves to no one.
fn pick_claim(key: &[u8], values: &[Vec<u8>]) -> Option<(HandleClaim, usize)> {
    // Per account: (peers that returned it, arrival order, its latest record).
    let mut by_account: HashMap<AccountId, (usize, usize, HandleClaim)> = HashMap::new();
    for (i, v) in values.iter().enumerate() {
        if let Ok(c) = records::handle_claim(key, v) {
            let e = by_account.entry(c.account()).or_insert((0, i, c.clone()));
            e.0 += 1;
            if records::claim_order(&c) > records::claim_order(&e.2) {
                e.2 = c;
            }
        }
    }
    by_account.retain(|_, (_, _, c)| !c.released);
    let others = by_account.len().saturating_sub(1);
    let (_, _, winner) = by_account
        .into_values()
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))?;
    Some((winner, others))
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
        // Re-claiming our own handle keeps its first date (informational).
        let previous = self.ctx.store.setting::<(String, u64)>(HANDLE_KEY)?;
        let claimed_at = match &previous {
            Some((h, at)) if *h == handle => *at,
            _ => weft_protocol::unix_now(),
        };
        self.ctx
            .store
            .put_setting(HANDLE_KEY, &(handle.clone(), claimed_at))
            .await?;
        // The old handle stops resolving to us: it is no longer republished
        // (the setting holds only the new one), and a signed release replaces
        // our claim at the peers that store it.
        if let Some((old, _)) = previous.filter(|(h, _)| *h != handle) {
            self.release_handle(&old).await;
        }
        let published = self.publish_handle().await;
        Ok((handle, published))
    }

    /// Publishes a release of `handle`, our former handle; best effort (a
    /// peer the release misses drops the old claim when it expires, since we
    /// no longer republish it).
    async fn release_handle(&self, handle: &str) -> bool {
        let Some(card) = self.chat.my_card().await else {
            return false;
        };
        let now = weft_protocol::unix_now();
        let Ok(key) = self.ctx.identity.account_key() else {
            return false;
        };
        let Ok(release) = HandleClaim::release(key, handle, card, now) else {
            return false;
        };
        self.put_claim(&release).await
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
        let Ok(key) = self.ctx.identity.account_key() else {
            return false;
        };
        let Ok(claim) = HandleClaim::new(key, &handle, card, at) else {
            return false;
        };
        self.put_claim(&claim).await
    }

    /// Stores a claim or release of ours in the DHT under its handle's key.
    async fn put_claim(&self, claim: &HandleClaim) -> bool {
        let Ok(value) = weft_protocol::encode(Kind::HandleClaim, claim) else {
            return false;
        };
        let put = self
            .ctx
            .net
            .put_record(records::handle_key(&claim.handle), value);
        matches!(tokio::time::timeout(PUBLISH_TIMEOUT, put).await, Ok(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_protocol::{AccountKey, Card};

    fn claim(key: &AccountKey, claimed_at: u64) -> Vec<u8> {
        let card = Card::new(key, key.certify_device([1; 32], 1), "Ada", vec![], 1).unwrap();
        let c = HandleClaim::new(key, "ada_lovelace", card, claimed_at).unwrap();
        weft_protocol::encode(Kind::HandleClaim, &c).unwrap()
    }

    fn release(key: &AccountKey, at: u64) -> Vec<u8> {
        let card = Card::new(key, key.certify_device([1; 32], 1), "Ada", vec![], 1).unwrap();
        let c = HandleClaim::release(key, "ada_lovelace", card, at).unwrap();
        weft_protocol::encode(Kind::HandleClaim, &c).unwrap()
    }

    #[test]
    fn a_released_handle_resolves_to_no_one() {
        let (owner, other) = (
            AccountKey::generate().unwrap(),
            AccountKey::generate().unwrap(),
        );
        let key = records::handle_key("ada_lovelace");
        // Some peers still hold the old claim; the release is newer.
        let values = [claim(&owner, 5), release(&owner, 9), claim(&owner, 5)];
        assert!(pick_claim(&key, &values).is_none());
        // Whoever claims it next gets it, however many peers lag behind.
        let values = [claim(&owner, 5), claim(&owner, 5), release(&owner, 9)];
        let values = [&values[..], &[claim(&other, 10)]].concat();
        let (winner, others) = pick_claim(&key, &values).unwrap();
        assert_eq!(winner.account(), other.account_id());
        assert_eq!(others, 0);
    }

    #[test]
    fn a_backdated_claim_does_not_win_a_tie() {
        let (owner, thief) = (
            AccountKey::generate().unwrap(),
            AccountKey::generate().unwrap(),
        );
        let key = records::handle_key("ada_lovelace");
        let values = [claim(&owner, 1_800_000_000), claim(&thief, 0)];
        let (winner, others) = pick_claim(&key, &values).unwrap();
        assert_eq!(winner.account(), owner.account_id());
        assert_eq!(others, 1);
        // More storing peers still decide.
        let values = [claim(&owner, 5), claim(&thief, 9), claim(&thief, 9)];
        let (winner, _) = pick_claim(&key, &values).unwrap();
        assert_eq!(winner.account(), thief.account_id());
    }
}
