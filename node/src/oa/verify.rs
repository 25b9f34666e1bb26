//! Verification certificates: a verifier (any node; it matters only to
//! nodes that list its account among their trust roots) signs one for an
//! account, and the account's owner attaches it to the profile every post
//! carries. Certificates travel between people as hex text.

use weft_protocol::oa::Verification;

use super::{parse_id, CertificateError, Oa, OaServiceError};

/// Longest certificate text accepted, characters (a real one is ~300).
const MAX_CERT_HEX: usize = 8192;

impl Oa {
    /// `oa verify` (verifier side): a certificate for `oa`, hex-encoded.
    pub fn issue_verification(
        &self,
        oa: &str,
        verifier_name: &str,
    ) -> Result<String, OaServiceError> {
        let account = parse_id(oa)?;
        let cert = Verification::issue(
            &self.inner.ctx.identity.account,
            verifier_name,
            account,
            weft_protocol::unix_now(),
        );
        let bytes = postcard::to_stdvec(&cert).map_err(OaServiceError::EncodeCertificate)?;
        Ok(weft_protocol::hex::encode(&bytes))
    }

    /// `oa certify` (owner side): attaches a verifier's certificate.
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
        cert.verify_for(&account)
            .map_err(CertificateError::Invalid)?;
        owned.verification = Some(cert);
        let store = &self.inner.ctx.store;
        store.put_owned_oa(&account, &owned)?;
        store.flush_async().await?;
        Ok(())
    }
}
