//! Official accounts: signed profiles, verification certificates and
//! broadcasts with quotas every node can check.
//!
//! An official account (OA) has its own ed25519 key. Every broadcast carries
//! the OA's signed profile (so any node can check the kind, and so the quota,
//! without a lookup) and names its quota slot: `period` (UTC day number for
//! subscription accounts, UTC month number for service accounts) and `seq`
//! within it (1..=quota). A broadcast whose period doesn't match its own
//! timestamp, whose seq is over quota, or that reuses a slot another
//! broadcast already took (equivocation), is invalid. Broadcasts are public:
//! plaintext, signed, on gossipsub topic `weft/oa/<account id>`; every node
//! checks them with [`relay::check_broadcast`] before forwarding.
//!
//! The `/weft/oa/1` requests and answers (backfill, search, questions) are
//! in [`request`] and re-exported here.

mod request;

pub use request::{
    decode_reply, decode_request, encode_reply, encode_request, OaReply, OaRequest, Question,
    MAX_QUESTION,
};

use serde::{Deserialize, Serialize};

pub mod relay;
mod verification;

pub use verification::{Verification, VERIFICATION_TTL_SECS};

use crate::card::{Card, CardError};
use crate::identity::{AccountId, AccountKey, SignatureBytes};

/// Signature context of OA profiles (part of the documented wire format).
pub const PROFILE_CONTEXT: &str = "weft/oa-profile/1";
/// Signature context of broadcasts: the OA signs this, a zero byte, and the
/// postcard bytes of the `BroadcastBody`.
pub const BROADCAST_CONTEXT: &str = "weft/oa-broadcast/1";
/// Signature context of verification certificates (2: the certificate
/// names the account's name and kind and an expiry).
pub const VERIFY_CONTEXT: &str = "weft/oa-verification/2";

/// Longest description, bytes.
pub const MAX_DESCRIPTION: usize = 512;
/// Longest title, bytes.
pub const MAX_TITLE: usize = 128;
/// Longest body (all parts together), bytes.
pub const MAX_BODY: usize = 16 * 1024;
/// Most extra language parts.
pub const MAX_PARTS: usize = 4;
/// Longest link, bytes.
pub const MAX_LINK: usize = 512;

/// Subscription or service account (WeChat's two kinds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OaKind {
    /// Daily news-style pushes; posts land in the Subscriptions folder.
    Subscription,
    /// Services; posts show as a conversation; fewer pushes.
    Service,
}

impl OaKind {
    /// Broadcasts allowed per period.
    pub fn quota(self) -> u32 {
        match self {
            OaKind::Subscription => 1,
            OaKind::Service => 4,
        }
    }

    /// The quota period of a Unix time: UTC day number (subscription) or
    /// UTC month number since 1970-01 (service).
    pub fn period_of(self, unix_secs: u64) -> u32 {
        let days = unix_secs / 86_400;
        match self {
            OaKind::Subscription => days as u32,
            OaKind::Service => {
                let (y, m) = civil_year_month(days as i64);
                ((y - 1970) * 12 + (m as i64 - 1)) as u32
            }
        }
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            OaKind::Subscription => "subscription",
            OaKind::Service => "service",
        }
    }
}

/// Year and month (1-12) of a day count since 1970-01-01 (proleptic Gregorian).
fn civil_year_month(days: i64) -> (i64, u32) {
    // Howard Hinnant's days_from_civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m)
}

/// Why an OA object was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OaError {
    /// Field out of bounds.
    #[error("official account field out of bounds: {0}")]
    Bounds(&'static str),
    /// Signature or card problem.
    #[error(transparent)]
    Card(#[from] CardError),
    /// Over the kind's quota for the period.
    #[error("{kind} accounts may publish {quota} per {per}; this period's quota is used up")]
    OverQuota {
        /// Kind.
        kind: &'static str,
        /// Quota.
        quota: u32,
        /// "day (UTC)" or "month (UTC)".
        per: &'static str,
    },
    /// Period does not match the timestamp.
    #[error("broadcast period does not match its timestamp")]
    WrongPeriod,
    /// A verification certificate for another account, name or kind.
    #[error("the verification certificate is for another {0}")]
    CertificateMismatch(&'static str),
    /// A verification certificate past its expiry (or not yet valid).
    #[error("the verification certificate has expired")]
    CertificateExpired,
}

/// What an OA profile says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OaProfileBody {
    /// The OA's card: account (the OA key), hosting device, name, addresses.
    pub card: Card,
    /// Kind.
    pub kind: OaKind,
    /// Description.
    pub description: String,
    /// Verification, if the OA has one.
    pub verification: Option<Verification>,
}

/// A signed OA profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OaProfile {
    /// Content.
    pub body: OaProfileBody,
    /// OA signature.
    pub signature: SignatureBytes,
}

impl OaProfile {
    /// Signs a profile with the OA key.
    pub fn new(key: &AccountKey, body: OaProfileBody) -> Result<Self, OaError> {
        if body.card.account() != key.account_id() {
            return Err(CardError::AccountMismatch.into());
        }
        body.check()?;
        let signature = key.sign(
            PROFILE_CONTEXT,
            &postcard::to_stdvec(&body).unwrap_or_default(),
        );
        Ok(Self { body, signature })
    }

    /// The OA's account id.
    pub fn account(&self) -> AccountId {
        self.body.card.account()
    }

    /// Checks bounds, card and signature (not whether the verifier is trusted).
    pub fn verify(&self) -> Result<(), OaError> {
        self.body.check()?;
        self.body.card.verify()?;
        self.account()
            .verify(
                PROFILE_CONTEXT,
                &postcard::to_stdvec(&self.body).unwrap_or_default(),
                &self.signature,
            )
            .map_err(CardError::from)?;
        Ok(())
    }

    /// The verifier's account and name, if the certificate is valid at
    /// `now` for this account *as it is now* (its name and kind), and its
    /// verifier is one of `trusted`.
    pub fn verified_by(&self, trusted: &[AccountId], now: u64) -> Option<(AccountId, String)> {
        let v = self.body.verification.as_ref()?;
        v.verify_for(
            &self.account(),
            &self.body.card.body.name,
            self.body.kind,
            now,
        )
        .ok()?;
        trusted
            .contains(&v.verifier)
            .then(|| (v.verifier, v.verifier_name.clone()))
    }
}

impl OaProfileBody {
    fn check(&self) -> Result<(), OaError> {
        if self.description.len() > MAX_DESCRIPTION {
            return Err(OaError::Bounds("description over 512 bytes"));
        }
        Ok(())
    }
}

/// One language version of a post.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// Language tag ("en", "zh").
    pub lang: String,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
}

/// What a broadcast says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BroadcastBody {
    /// The OA's signed profile (kind → quota).
    pub profile: OaProfile,
    /// Quota period (see [`OaKind::period_of`]).
    pub period: u32,
    /// Slot within the period, 1..=quota.
    pub seq: u32,
    /// When (Unix seconds).
    pub published_at: u64,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Optional link.
    pub link: Option<String>,
    /// Other language versions.
    pub parts: Vec<Part>,
    /// Images: public blobs (fetched over `/weft/blob/1` from any holder), at most 9.
    pub images: Vec<crate::blob::BlobId>,
}

/// Most images in one broadcast (as WeChat).
pub const MAX_IMAGES: usize = 9;

/// A signed broadcast.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Broadcast {
    /// Content.
    pub body: BroadcastBody,
    /// OA signature.
    pub signature: SignatureBytes,
}

impl Broadcast {
    /// Signs a broadcast with the OA key (checks bounds and quota slot shape).
    pub fn new(key: &AccountKey, body: BroadcastBody) -> Result<Self, OaError> {
        if body.profile.account() != key.account_id() {
            return Err(CardError::AccountMismatch.into());
        }
        body.check()?;
        let signature = key.sign(
            BROADCAST_CONTEXT,
            &postcard::to_stdvec(&body).unwrap_or_default(),
        );
        Ok(Self { body, signature })
    }

    /// The OA.
    pub fn account(&self) -> AccountId {
        self.body.profile.account()
    }

    /// Content id (BLAKE3 of the signed broadcast).
    pub fn id(&self) -> [u8; 32] {
        crate::content_id(&postcard::to_stdvec(self).unwrap_or_default())
    }

    /// Checks profile, signature, bounds, and that the slot fits the kind's
    /// quota and the timestamp's period. Freshness and slot reuse are the
    /// caller's (they depend on what it has seen).
    pub fn verify(&self) -> Result<(), OaError> {
        self.body.profile.verify()?;
        self.body.check()?;
        self.account()
            .verify(
                BROADCAST_CONTEXT,
                &postcard::to_stdvec(&self.body).unwrap_or_default(),
                &self.signature,
            )
            .map_err(CardError::from)?;
        Ok(())
    }
}

impl BroadcastBody {
    fn check(&self) -> Result<(), OaError> {
        let kind = self.profile.body.kind;
        if self.period != kind.period_of(self.published_at) {
            return Err(OaError::WrongPeriod);
        }
        if self.seq == 0 || self.seq > kind.quota() {
            return Err(over_quota(kind));
        }
        if self.title.is_empty() || self.title.len() > MAX_TITLE {
            return Err(OaError::Bounds("title must be 1-128 bytes"));
        }
        let total: usize = self.body.len()
            + self
                .parts
                .iter()
                .map(|p| p.title.len() + p.body.len())
                .sum::<usize>();
        if total > MAX_BODY
            || self.parts.len() > MAX_PARTS
            || self.parts.iter().any(|p| p.lang.len() > 16)
        {
            return Err(OaError::Bounds(
                "body over 16 KiB or too many language parts",
            ));
        }
        if self.images.len() > MAX_IMAGES {
            return Err(OaError::Bounds("at most 9 images"));
        }
        if self.link.as_ref().is_some_and(|l| l.len() > MAX_LINK) {
            return Err(OaError::Bounds("link over 512 bytes"));
        }
        Ok(())
    }
}

/// The error for a slot past the kind's quota.
pub fn over_quota(kind: OaKind) -> OaError {
    OaError::OverQuota {
        kind: kind.as_str(),
        quota: kind.quota(),
        per: match kind {
            OaKind::Subscription => "day (UTC)",
            OaKind::Service => "month (UTC)",
        },
    }
}

/// The gossipsub topic of an OA.
pub fn topic(account: &AccountId) -> String {
    format!("weft/oa/{account}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(key: &AccountKey, kind: OaKind) -> OaProfile {
        let card = Card::new(key, key.certify_device([1; 32], 1), "Daily News", vec![], 1).unwrap();
        OaProfile::new(
            key,
            OaProfileBody {
                card,
                kind,
                description: "news".into(),
                verification: None,
            },
        )
        .unwrap()
    }

    fn post(key: &AccountKey, kind: OaKind, seq: u32, at: u64) -> Result<Broadcast, OaError> {
        Broadcast::new(
            key,
            BroadcastBody {
                profile: profile(key, kind),
                period: kind.period_of(at),
                seq,
                published_at: at,
                title: "Hello".into(),
                body: "World".into(),
                link: None,
                parts: vec![Part {
                    lang: "zh".into(),
                    title: "你好".into(),
                    body: "世界".into(),
                }],
                images: vec![],
            },
        )
    }

    #[test]
    fn periods_follow_the_utc_calendar() {
        // 2026-11-25T12:00:00Z and 2026-11-30T23:59:59Z are in one month; 2026-12-01 is not.
        let k = OaKind::Service;
        assert_eq!(k.period_of(1_795_608_000), k.period_of(1_796_083_199));
        assert_ne!(k.period_of(1_796_083_199), k.period_of(1_796_083_200));
        assert_eq!(civil_year_month(0), (1970, 1));
        assert_eq!(civil_year_month(20_515), (2026, 3)); // 2026-03-01
        let s = OaKind::Subscription;
        assert_eq!(s.period_of(86_399), 0);
        assert_eq!(s.period_of(86_400), 1);
    }

    #[test]
    fn quotas_and_signatures_are_enforced() {
        let key = AccountKey::generate().unwrap();
        let now = 1_795_608_000;
        let ok = post(&key, OaKind::Subscription, 1, now).unwrap();
        ok.verify().unwrap();
        assert!(matches!(
            post(&key, OaKind::Subscription, 2, now),
            Err(OaError::OverQuota { .. })
        ));
        assert!(post(&key, OaKind::Service, 4, now).is_ok());
        assert!(post(&key, OaKind::Service, 5, now).is_err());
        let mut forged = ok.clone();
        forged.body.title = "changed".into();
        assert!(forged.verify().is_err());
        let mut wrong_period = ok.clone();
        wrong_period.body.period += 1;
        assert_eq!(wrong_period.verify(), Err(OaError::WrongPeriod));
        let other = AccountKey::generate().unwrap();
        let mut stolen = ok;
        stolen.body.profile = profile(&other, OaKind::Service);
        assert!(stolen.verify().is_err());
    }

    /// A certificate by `root` for `key`'s service account "Daily News".
    fn daily_news_cert(root: &AccountKey, key: &AccountKey, at: u64) -> Verification {
        let oa = key.account_id();
        Verification::issue(root, "Weft Verify", oa, "Daily News", OaKind::Service, at)
    }

    #[test]
    fn verification_chains_only_to_trusted_roots() {
        let key = AccountKey::generate().unwrap();
        let root = AccountKey::generate().unwrap();
        let mut p = profile(&key, OaKind::Service);
        let cert = daily_news_cert(&root, &key, 5);
        p.body.verification = Some(cert.clone());
        let p = OaProfile::new(&key, p.body).unwrap();
        assert_eq!(
            p.verified_by(&[root.account_id()], 6).map(|v| v.1),
            Some("Weft Verify".into())
        );
        assert!(p.verified_by(&[], 6).is_none());
        let mut forged = cert;
        forged.verifier_name = "Someone Else".into();
        let mut q = p.body.clone();
        q.verification = Some(forged);
        let q = OaProfile::new(&key, q).unwrap();
        assert!(q.verified_by(&[root.account_id()], 6).is_none());
    }

    #[test]
    fn the_badge_does_not_survive_a_rename_a_kind_change_or_expiry() {
        let key = AccountKey::generate().unwrap();
        let root = AccountKey::generate().unwrap();
        let trusted = [root.account_id()];
        let now = 1_795_608_000;
        let cert = daily_news_cert(&root, &key, now);
        let with = |name: &str, kind| {
            let mut body = profile(&key, kind).body;
            body.card = Card::new(&key, key.certify_device([1; 32], 1), name, vec![], 1).unwrap();
            body.verification = Some(cert.clone());
            OaProfile::new(&key, body).unwrap()
        };
        assert!(with("Daily News", OaKind::Service)
            .verified_by(&trusted, now)
            .is_some());
        // Verified as "Daily News", renamed "ICBC Official": no badge.
        assert!(with("ICBC Official", OaKind::Service)
            .verified_by(&trusted, now)
            .is_none());
        assert!(with("Daily News", OaKind::Subscription)
            .verified_by(&trusted, now)
            .is_none());
        let later = now + VERIFICATION_TTL_SECS + 1;
        assert!(with("Daily News", OaKind::Service)
            .verified_by(&trusted, later)
            .is_none());
    }
}
