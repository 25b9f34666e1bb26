//! Verification certificates: a verifier (any node; it matters only to
//! nodes that list its account among their trust roots) signs one for an
//! account, and the account's owner attaches it to the profile every post
//! carries. The certificate names the account's name and kind as the
//! verifier saw them in its signed profile, so the badge does not survive a
//! rename. Certificates travel between people as hex text.

use std::time::Duration;

use weft_protocol::oa::{encode_request, OaProfile, OaRequest, Verification};
use weft_protocol::AccountId;

use super::{parse_id, CertificateError, Oa, OaServiceError, Unreachable};
use crate::chat::lookup_card;
use crate::net::card_peer;

/// Longest certificate text accepted, characters (a real one is ~300).
const MAX_CERT_HEX: usize = 8192;
/// How long a verifier keeps looking for the account's profile (a new
/// account's DHT record may take a moment to appear).
const PROFILE_WAIT: Duration = Duration::from_secs(30);
/// Pause between two looks.
const PROFILE_RETRY: Duration = Duration::from_secs(1);

impl Oa {
    /// `oa verify` (verifier side): a certificate for `oa` under the name
    /// and kind its signed profile shows now, hex-encoded.
    pub async fn issue_verification(
        &self,
        oa: &str,
        verifier_name: &str,
    ) -> Result<String, OaServiceError> {
        let account = parse_id(oa)?;
        let profile = self.current_profile(&account).await?;
        let cert = Verification::issue(
            self.inner.ctx.identity.account_key()?,
            verifier_name,
            account,
            &profile.body.card.body.name,
            profile.body.kind,
            weft_protocol::unix_now(),
        );
        let bytes = postcard::to_stdvec(&cert).map_err(OaServiceError::EncodeCertificate)?;
        Ok(weft_protocol::hex::encode(&bytes))
    }

    /// The account's signed profile as it is now: ours if we run it, else
    /// asked of its node (found through its DHT account record), else the
    /// one its last post carried if we follow it.
    async fn current_profile(&self, account: &AccountId) -> Result<OaProfile, OaServiceError> {
        if let Some(owned) = self.inner.ctx.store.owned_oa(account)? {
            return self.profile_of(account, &owned).await;
        }
        let env = encode_request(&OaRequest::Accounts)?;
        let deadline = tokio::time::Instant::now() + PROFILE_WAIT;
        loop {
            if let Some(peer) = lookup_card(&self.inner.ctx.net, account)
                .await
                .and_then(|c| card_peer(&c))
            {
                let found = self.profiles_at(peer, env.clone()).await;
                if let Some(p) = found.into_iter().find(|p| p.account() == *account) {
                    return Ok(p);
                }
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(PROFILE_RETRY).await;
        }
        self.followed(account)?
            .flatten()
            .ok_or(Unreachable::DeviceUnknown.into())
    }

    /// `oa certify` (owner side): attaches a verifier's certificate, if it
    /// is for this account under its current name and kind.
    pub async fn attach_verification(
        &self,
        oa: &str,
        cert_hex: &str,
    ) -> Result<(), OaServiceError> {
        let (account, mut owned) = self.owned(oa)?;
        let cert_hex = cert_hex.trim();
        if cert_hex.len() > MAX_CERT_HEX {
            return Err(CertificateError::NotHex.into());
        }
        let bytes = weft_protocol::hex::decode(cert_hex).ok_or(CertificateError::NotHex)?;
        let cert: Verification =
            postcard::from_bytes(&bytes).map_err(CertificateError::Malformed)?;
        cert.verify_for(&account, &owned.name, owned.kind, weft_protocol::unix_now())
            .map_err(CertificateError::Invalid)?;
        owned.verification = Some(cert);
        let store = &self.inner.ctx.store;
        store.put_owned_oa(&account, &owned)?;
        store.flush_async().await?;
        Ok(())
    }
}
