//! Questions to an account: the follower's side (`oa message`, one Noise IK
//! round trip from our account key to the account's key, so the answer is
//! private and the asker cannot be forged), and the owner's automatic
//! answers (`oa autoreply`, `oa menu`), which let an account answer with
//! nobody at the keyboard.

use std::time::Duration;

use weft_protocol::{
    oa::{decode_reply, encode_request, OaReply, OaRequest, Question, MAX_QUESTION},
    seal, AccountId, AccountKey, Card,
};

use super::{parse_id, Oa, OaServiceError, Unreachable};
use crate::chat::{dial_card, lookup_card, MIN_PREFIX};
use crate::net::card_peer;
use crate::net::AppProtocol;
use crate::store::oa::OwnedOa;

/// How long the account's node may take to answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(15);
/// Most keyword replies an account keeps.
const MAX_REPLIES: usize = 64;
/// Longest keyword and menu item, bytes.
const MAX_KEYWORD: usize = 64;
/// Longest automatic reply, bytes.
const MAX_REPLY: usize = 1024;
/// Most menu items.
const MAX_MENU: usize = 16;

impl Oa {
    /// `oa message`: asks the account; returns its (automatic) answer.
    pub async fn message(&self, oa: &str, text: &str) -> Result<String, OaServiceError> {
        let account = parse_id(oa)?;
        if text.len() > MAX_QUESTION {
            return Err(OaServiceError::TooLong);
        }
        let profile = self
            .followed(&account)?
            .ok_or_else(|| OaServiceError::NotFollowed(oa.to_string()))?;
        let net = &self.inner.ctx.net;
        // Before its first post we hold no profile: its node is found
        // through the account record it keeps in the DHT.
        let card = match profile {
            Some(p) => p.body.card,
            None => lookup_card(net, &account)
                .await
                .ok_or(Unreachable::DeviceUnknown)?,
        };
        let me = &self.inner.ctx.identity.key;
        let answer = self
            .exchange(me, &account, &card, text, |msg1| OaRequest::Ask {
                account,
                msg1,
            })
            .await?;
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let t = weft_protocol::unix_now_ms();
        let store = &self.inner.ctx.store;
        store.oa_log(false, &account, t, &[1], text)?;
        store.oa_log(false, &account, t + 1, &[0], &answer)?;
        store.flush_async().await?;
        Ok(answer)
    }

    /// `oa reply`: the owner of `oa` answers `follower` (an id, or a prefix
    /// of at least six characters of someone who asked it) in words of its
    /// own. The answer goes to the follower's node, found through its
    /// account record in the DHT, sealed from the account's key to the
    /// follower's; it is logged in the inbox once the follower's node has
    /// taken it. Returns the follower's whole id.
    pub async fn reply(
        &self,
        oa: &str,
        follower: &str,
        text: &str,
    ) -> Result<AccountId, OaServiceError> {
        let account = parse_id(oa)?;
        if text.len() > MAX_QUESTION {
            return Err(OaServiceError::TooLong);
        }
        let store = &self.inner.ctx.store;
        if store.owned_oa(&account)?.is_none() {
            return Err(OaServiceError::NotOwned(oa.to_string()));
        }
        let to = self.asker(&account, follower)?;
        let net = &self.inner.ctx.net;
        let card = lookup_card(net, &to)
            .await
            .ok_or(Unreachable::FollowerUnknown)?;
        let key = self.key(&account)?;
        self.exchange(&key, &to, &card, text, |msg1| OaRequest::OwnerAnswer {
            account,
            msg1,
        })
        .await?;
        store.oa_log(
            true,
            &account,
            weft_protocol::unix_now_ms(),
            &account.0,
            text,
        )?;
        store.flush_async().await?;
        Ok(to)
    }

    /// The follower `typed` names among those who asked `account`: a whole
    /// id as it is, else a unique prefix of at least six characters.
    fn asker(&self, account: &AccountId, typed: &str) -> Result<AccountId, OaServiceError> {
        let typed = typed.trim();
        if let Ok(id) = typed.parse::<AccountId>() {
            return Ok(id);
        }
        let me = account.to_string();
        let mut askers: Vec<String> = self
            .conversation(&me)?
            .into_iter()
            .map(|e| e.from)
            .filter(|f| *f != me && typed.len() >= MIN_PREFIX && f.starts_with(typed))
            .collect();
        askers.sort();
        askers.dedup();
        match askers.as_slice() {
            [one] => parse_id(one),
            _ => Err(OaServiceError::BadId(typed.chars().take(80).collect())),
        }
    }

    /// One sealed `/weft/oa/1` round trip from `local` to the account
    /// `remote`, whose node `card` names: `payload` is the [`Question`]
    /// text, `wrap` makes the request around IK message 1; returns the
    /// opened answer.
    async fn exchange(
        &self,
        local: &AccountKey,
        remote: &AccountId,
        card: &Card,
        text: &str,
        wrap: impl FnOnce(Vec<u8>) -> OaRequest,
    ) -> Result<Vec<u8>, OaServiceError> {
        let net = &self.inner.ctx.net;
        let peer = card_peer(card).ok_or(Unreachable::BadCard)?;
        // Best effort: the request below dials through the DHT's addresses too.
        let _ = dial_card(net, card).await;
        let q = Question {
            from: local.account_id(),
            text: text.to_string(),
        }
        .to_bytes()?;
        let (session, msg1) = seal::initiate(local, remote, &q).map_err(Unreachable::Seal)?;
        let env = encode_request(&wrap(msg1))?;
        let reply = tokio::time::timeout(ASK_TIMEOUT, net.request(AppProtocol::Oa, peer, env))
            .await
            .map_err(|_| Unreachable::TimedOut)?
            .map_err(Unreachable::Net)?;
        match decode_reply(&reply) {
            Ok(OaReply::Answer(m2)) => Ok(session.finish(&m2).map_err(Unreachable::Seal)?),
            Ok(OaReply::Refused(r)) => Err(Unreachable::Refused(r).into()),
            _ => Err(Unreachable::MalformedAnswer.into()),
        }
    }

    /// `oa autoreply` / `oa menu`: configure automatic answers. A keyword
    /// replaces an earlier reply to the same keyword (case-insensitive).
    pub async fn set_replies(
        &self,
        oa: &str,
        keyword: Option<(String, String)>,
        menu: Option<Vec<String>>,
    ) -> Result<(), OaServiceError> {
        let (account, mut owned) = self.owned(oa)?;
        if let Some((k, r)) = keyword {
            if k.is_empty()
                || k.len() > MAX_KEYWORD
                || r.len() > MAX_REPLY
                || owned.replies.len() >= MAX_REPLIES
            {
                return Err(OaServiceError::TooLong);
            }
            owned.replies.retain(|(kk, _)| !kk.eq_ignore_ascii_case(&k));
            owned.replies.push((k, r));
        }
        if let Some(m) = menu {
            if m.len() > MAX_MENU || m.iter().any(|i| i.len() > MAX_KEYWORD) {
                return Err(OaServiceError::TooLong);
            }
            owned.menu = m;
        }
        let store = &self.inner.ctx.store;
        store.put_owned_oa(&account, &owned)?;
        store.flush_async().await?;
        Ok(())
    }
}

/// The automatic answer: first matching keyword, or the menu for "menu", or a default.
pub(super) fn auto_reply(owned: &OwnedOa, text: &str) -> String {
    let lower = text.to_lowercase();
    if let Some((_, r)) = owned
        .replies
        .iter()
        .find(|(k, _)| lower.contains(&k.to_lowercase()))
    {
        return r.clone();
    }
    if lower.trim() == "menu" && !owned.menu.is_empty() {
        return owned
            .menu
            .iter()
            .enumerate()
            .map(|(i, m)| format!("{}. {m}", i + 1))
            .collect::<Vec<_>>()
            .join("\n");
    }
    format!(
        "Thanks for your message to {}. We will get back to you.",
        owned.name
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_protocol::oa::OaKind;

    #[test]
    fn auto_replies_match_keywords_then_menu_then_default() {
        let o = OwnedOa {
            kind: OaKind::Service,
            name: "Bank".into(),
            description: String::new(),
            verification: None,
            replies: vec![("balance".into(), "Your balance is in the app.".into())],
            menu: vec!["Balance".into(), "Cards".into()],
        };
        assert_eq!(
            auto_reply(&o, "What's my BALANCE?"),
            "Your balance is in the app."
        );
        assert_eq!(auto_reply(&o, "menu"), "1. Balance\n2. Cards");
        assert!(auto_reply(&o, "hello").contains("Bank"));
    }
}
