//! The official accounts this node runs: creating one (its own key, kept in
//! the home directory), loading its key, and the signed profile every post
//! and search answer carries.

use weft_protocol::{
    oa::{OaKind, OaProfile, OaProfileBody},
    AccountId, AccountKey, Card, CardError,
};

use super::{parse_id, Oa, OaServiceError, OaView};
use crate::store::oa::OwnedOa;

impl Oa {
    /// `oa create`: a new account with its own key.
    pub async fn create(
        &self,
        kind: OaKind,
        name: &str,
        description: &str,
    ) -> Result<OaView, OaServiceError> {
        weft_protocol::validate_name(name).map_err(|e| OaServiceError::Oa(e.into()))?;
        let key =
            AccountKey::generate().map_err(|e| OaServiceError::Oa(CardError::from(e).into()))?;
        let owned = OwnedOa {
            kind,
            name: name.to_string(),
            description: description.to_string(),
            verification: None,
            replies: Vec::new(),
            menu: Vec::new(),
        };
        let account = key.account_id();
        self.inner
            .home
            .write_oa_key(&key)
            .map_err(|e| OaServiceError::Node(Box::new(e)))?;
        // Check the profile signs before recording it.
        self.profile_of(&account, &owned).await?;
        let store = &self.inner.ctx.store;
        store.put_owned_oa(&account, &owned)?;
        store.flush_async().await?;
        // Relay our own topic so followers' meshes include us, and tell the DHT where we are.
        self.relay(account, true).await;
        let me = self.clone();
        tokio::spawn(async move { me.publish_records().await });
        Ok(OaView {
            account_id: account.to_string(),
            name: owned.name,
            kind: kind.as_str().to_string(),
            verified: false,
            verified_by: None,
            own: true,
            following: false,
            subscribers: Some(0),
        })
    }

    /// An account this node runs, named by the user.
    pub(crate) fn owned(&self, oa: &str) -> Result<(AccountId, OwnedOa), OaServiceError> {
        let account = parse_id(oa)?;
        let owned = self
            .inner
            .ctx
            .store
            .owned_oa(&account)?
            .ok_or_else(|| OaServiceError::NotOwned(oa.to_string()))?;
        Ok((account, owned))
    }

    /// The key of an account this node runs.
    pub(super) fn key(&self, account: &AccountId) -> Result<AccountKey, OaServiceError> {
        self.inner
            .home
            .load_oa_key(account)
            .map_err(|e| OaServiceError::Node(Box::new(e)))
    }

    /// The account's signed profile, made fresh: its card names this device
    /// (certified by the account key) and our current listen addresses, so a
    /// follower who sees any post can reach the node that wrote it.
    pub(super) async fn profile_of(
        &self,
        account: &AccountId,
        owned: &OwnedOa,
    ) -> Result<OaProfile, OaServiceError> {
        let key = self.key(account)?;
        let ctx = &self.inner.ctx;
        let device = ctx.identity.cert.body.device_key;
        let now = weft_protocol::unix_now();
        let addrs = crate::net::dialable(&ctx.net.listen_addrs().await.unwrap_or_default());
        let card = Card::new(
            &key,
            key.certify_device(device, now),
            &owned.name,
            addrs,
            now,
        )
        .map_err(|e| OaServiceError::Oa(e.into()))?;
        Ok(OaProfile::new(
            &key,
            OaProfileBody {
                card,
                kind: owned.kind,
                description: owned.description.clone(),
                verification: owned.verification.clone(),
            },
        )?)
    }
}
