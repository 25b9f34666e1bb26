//! What the user reads: the accounts they run and follow (`oa list`), the
//! posts of followed accounts (`oa feed`, and service accounts shown among
//! the chats), and the question/answer log with an account.

use weft_protocol::{oa::OaKind, AccountId};

use crate::net::Topic;

use super::{
    parse_id, ImageView, LogEntry, Oa, OaServiceError, OaView, PostView, ServiceConversation,
};

/// Most posts per followed account that the feed shows.
const FEED_PER_ACCOUNT: usize = 100;
/// Most log lines shown for one account.
const LOG_LINES: usize = 200;

impl Oa {
    /// `oa list`: accounts we run and follow.
    pub async fn list(&self) -> Result<Vec<OaView>, OaServiceError> {
        let mut out = Vec::new();
        let store = &self.inner.ctx.store;
        let followed = store.followed_oas()?;
        let now = weft_protocol::unix_now();
        for (a, o) in store.owned_oas()? {
            // Our own badge: the certificate must still fit our name and kind.
            let verified_by = o
                .verification
                .filter(|v| v.verify_for(&a, &o.name, o.kind, now).is_ok())
                .map(|v| v.verifier_name);
            out.push(OaView {
                account_id: a.to_string(),
                name: o.name,
                kind: o.kind.as_str().to_string(),
                verified: verified_by.is_some(),
                verified_by,
                own: true,
                following: followed.iter().any(|(f, _)| *f == a),
                subscribers: self.inner.ctx.net.topic_peers(Topic::Oa(a)).await.ok(),
            });
        }
        for (a, p) in followed {
            if out.iter().any(|v| v.account_id == a.to_string()) {
                continue;
            }
            let verified = p
                .as_ref()
                .and_then(|p| p.verified_by(&self.inner.trust_roots, now));
            out.push(OaView {
                account_id: a.to_string(),
                name: p
                    .as_ref()
                    .map(|p| p.body.card.body.name.clone())
                    .unwrap_or_else(|| a.short()),
                kind: p
                    .as_ref()
                    .map(|p| p.body.kind.as_str())
                    .unwrap_or("unknown")
                    .to_string(),
                verified: verified.is_some(),
                verified_by: verified.map(|v| v.1),
                own: false,
                following: true,
                subscribers: None,
            });
        }
        Ok(out)
    }

    /// `oa feed`: posts of followed accounts of `kind` (all kinds if None), newest first.
    pub fn feed(&self, kind: Option<OaKind>) -> Result<Vec<PostView>, OaServiceError> {
        let mut out = Vec::new();
        let store = &self.inner.ctx.store;
        for (a, _) in store.followed_oas()? {
            for b in store.broadcasts(&a, FEED_PER_ACCOUNT)? {
                let k = b.body.profile.body.kind;
                if kind.is_some_and(|want| want != k) {
                    continue;
                }
                out.push(PostView {
                    id: weft_protocol::hex::encode(&b.id()),
                    account_id: a.to_string(),
                    name: b.body.profile.body.card.body.name.clone(),
                    kind: k.as_str().to_string(),
                    title: b.body.title,
                    body: b.body.body,
                    link: b.body.link,
                    parts: b.body.parts,
                    published_at: b.body.published_at,
                    images: b
                        .body
                        .images
                        .iter()
                        .map(|i| ImageView {
                            id: weft_protocol::blob::blob_hex(i),
                            local: self.inner.blobs.get(i).ok().flatten().is_some(),
                        })
                        .collect(),
                });
            }
        }
        out.sort_by_key(|p| std::cmp::Reverse(p.published_at));
        Ok(out)
    }

    /// Service accounts' newest posts, one per account, for `chat list`
    /// (WeChat shows service accounts among the chats).
    pub fn service_conversations(&self) -> Vec<ServiceConversation> {
        let mut out: Vec<ServiceConversation> = Vec::new();
        // The feed is newest first, so the first post seen per account is its newest.
        for p in self.feed(Some(OaKind::Service)).unwrap_or_default() {
            if !out.iter().any(|c| c.account_id == p.account_id) {
                out.push(ServiceConversation {
                    account_id: p.account_id,
                    name: p.name,
                    last_text: p.title,
                    last_at: unix_ms(p.published_at),
                });
            }
        }
        out
    }

    /// The question/answer log with an OA (follower side) or its inbox (owner side).
    pub fn conversation(&self, oa: &str) -> Result<Vec<LogEntry>, OaServiceError> {
        let account = parse_id(oa)?;
        let store = &self.inner.ctx.store;
        let owner = store.owned_oa(&account)?.is_some();
        Ok(store
            .oa_read_log(owner, &account, LOG_LINES)?
            .into_iter()
            .map(|(at, who, text)| {
                // Owner side: who wrote it (the asker, or the account answering);
                // follower side: [1] is us, [0] the account.
                let from = if owner {
                    <[u8; 32]>::try_from(who.as_slice())
                        .map(|a| AccountId(a).to_string())
                        .unwrap_or_default()
                } else if who == [1] {
                    "me".to_string()
                } else {
                    account.to_string()
                };
                LogEntry { at, from, text }
            })
            .collect())
    }
}

/// Unix seconds as milliseconds; a signed timestamp is the signer's word,
/// so an absurd one saturates instead of overflowing.
fn unix_ms(secs: u64) -> u64 {
    secs.saturating_mul(1000)
}

#[cfg(test)]
mod tests {
    #[test]
    fn absurd_timestamps_do_not_overflow() {
        assert_eq!(super::unix_ms(1_795_608_000), 1_795_608_000_000);
        assert_eq!(super::unix_ms(u64::MAX), u64::MAX);
    }
}
