//! Questions to an account: the follower's side (`oa message`, one Noise IK
//! round trip from our account key to the account's key, so the answer is
//! private and the asker cannot be forged), and the owner's automatic
//! answers (`oa autoreply`, `oa menu`), which let an account answer with
//! nobody at the keyboard.

use std::time::Duration;

use weft_protocol::{
    oa::{decode_reply, encode_request, OaReply, OaRequest, Question, MAX_QUESTION},
    seal,
};

use super::{parse_id, Oa, OaServiceError, Unreachable};
use crate::chat::{dial_card, lookup_card};
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
        let peer = card_peer(&card).ok_or(Unreachable::BadCard)?;
        // Best effort: the request below dials through the DHT's addresses too.
        let _ = dial_card(net, &card).await;
        let me = &self.inner.ctx.identity.account;
        let q = Question {
            from: me.account_id(),
            text: text.to_string(),
        }
        .to_bytes()?;
        let (session, msg1) = seal::initiate(me, &account, &q).map_err(Unreachable::Seal)?;
        let env = encode_request(&OaRequest::Ask { account, msg1 })?;
        let reply = tokio::time::timeout(ASK_TIMEOUT, net.request(AppProtocol::Oa, peer, env))
            .await
            .map_err(|_| Unreachable::TimedOut)?
            .map_err(Unreachable::Net)?;
        let answer = match decode_reply(&reply) {
            Ok(OaReply::Answer(m2)) => session.finish(&m2).map_err(Unreachable::Seal)?,
            Ok(OaReply::Refused(r)) => return Err(Unreachable::Refused(r).into()),
            _ => return Err(Unreachable::MalformedAnswer.into()),
        };
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let t = weft_protocol::unix_now_ms();
        let store = &self.inner.ctx.store;
        store.oa_log(false, &account, t, &[1], text)?;
        store.oa_log(false, &account, t + 1, &[0], &answer)?;
        store.flush_async().await?;
        Ok(answer)
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
