//! Verification certificates: a verifier's signed statement that an
//! official account is who it says it is. The certificate names what was
//! checked — the account, the name it was verified under, its kind — and
//! expires, so a badge earned as "Joe's Noodles" does not follow the
//! account when it renames itself "ICBC Official" or turns into another
//! kind of account, and a verifier's word is not forever.

use serde::{Deserialize, Serialize};

use super::{OaError, OaKind, VERIFY_CONTEXT};
use crate::card::CardError;
use crate::identity::{AccountId, AccountKey, SignatureBytes};

/// How long a certificate is valid after it was issued (a year).
pub const VERIFICATION_TTL_SECS: u64 = 365 * 86_400;
/// Clock skew tolerated for a certificate issued in the future.
const SKEW_SECS: u64 = 600;
/// Longest verifier name, bytes.
const MAX_VERIFIER_NAME: usize = 64;

/// A verifier's statement that an OA is who it says it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// The verified account.
    pub oa: AccountId,
    /// The account's name as verified; the badge shows only under this name.
    pub name: String,
    /// The account's kind as verified.
    pub kind: OaKind,
    /// The verifier's account (a trust root, for nodes that trust it).
    pub verifier: AccountId,
    /// The verifier's name, as it calls itself.
    pub verifier_name: String,
    /// When (Unix seconds).
    pub issued_at: u64,
    /// Valid until (Unix seconds).
    pub expires_at: u64,
    /// Verifier signature.
    pub signature: SignatureBytes,
}

/// The signed fields, in wire order.
#[derive(Serialize)]
struct VerificationBody<'a> {
    oa: &'a AccountId,
    name: &'a str,
    kind: OaKind,
    verifier: &'a AccountId,
    verifier_name: &'a str,
    issued_at: u64,
    expires_at: u64,
}

impl Verification {
    /// Issues a verification of account `oa`, named `name`, of `kind`, with
    /// the verifier's key, valid for [`VERIFICATION_TTL_SECS`].
    pub fn issue(
        verifier: &AccountKey,
        verifier_name: &str,
        oa: AccountId,
        name: &str,
        kind: OaKind,
        issued_at: u64,
    ) -> Self {
        let mut v = Self {
            oa,
            name: name.to_string(),
            kind,
            verifier: verifier.account_id(),
            verifier_name: verifier_name.to_string(),
            issued_at,
            expires_at: issued_at.saturating_add(VERIFICATION_TTL_SECS),
            signature: SignatureBytes([0; 64]),
        };
        v.signature = verifier.sign(VERIFY_CONTEXT, &v.signed_bytes());
        v
    }

    fn signed_bytes(&self) -> Vec<u8> {
        postcard::to_stdvec(&VerificationBody {
            oa: &self.oa,
            name: &self.name,
            kind: self.kind,
            verifier: &self.verifier,
            verifier_name: &self.verifier_name,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
        })
        .unwrap_or_default()
    }

    /// Checks the verifier's signature, that the certificate is about
    /// account `oa` named `name` of `kind`, and that it is valid at `now`.
    pub fn verify_for(
        &self,
        oa: &AccountId,
        name: &str,
        kind: OaKind,
        now: u64,
    ) -> Result<(), OaError> {
        if self.verifier_name.len() > MAX_VERIFIER_NAME {
            return Err(OaError::Bounds("verifier name over 64 bytes"));
        }
        if self.oa != *oa {
            return Err(OaError::CertificateMismatch("account"));
        }
        if self.name != name {
            return Err(OaError::CertificateMismatch("name"));
        }
        if self.kind != kind {
            return Err(OaError::CertificateMismatch("kind"));
        }
        if now >= self.expires_at || self.issued_at > now.saturating_add(SKEW_SECS) {
            return Err(OaError::CertificateExpired);
        }
        self.verifier
            .verify(VERIFY_CONTEXT, &self.signed_bytes(), &self.signature)
            .map_err(CardError::from)?;
        Ok(())
    }
}
