//! The answering side of `/weft/oa/1`: recent posts for backfill (any node
//! that holds them answers, not only the account's own), the profiles of
//! the accounts this node runs (for search), and followers' questions to
//! those accounts, answered automatically; and, on a follower's node, the
//! answers an account's owner writes itself (`oa reply`).

use weft_protocol::{
    oa::{decode_request, encode_reply, OaReply, OaRequest, Question, MAX_QUESTION},
    seal, AccountId,
};

use std::time::Duration;

use super::{ask::auto_reply, Oa, BACKFILL};
use crate::budget::PeerBudget;
use crate::net::InboundRequest;

/// Most account profiles one `Accounts` answer carries.
const MAX_ACCOUNTS: usize = 32;
/// Backfill and search answers one peer may have per minute. A follower
/// backfills each account it follows every 20 s and searches now and then;
/// a peer asking more is making us read and upload in a loop.
pub(super) const SERVED_PER_MINUTE: u64 = 120;
/// Bytes of posts and profiles one peer may have uploaded per minute.
pub(super) const SERVED_BYTES_PER_MINUTE: u64 = 8 << 20;
const WINDOW: Duration = Duration::from_secs(60);

/// What each peer may take of `/weft/oa/1`'s uploads per minute.
#[derive(Debug)]
pub(super) struct ServeBudgets {
    requests: PeerBudget,
    bytes: PeerBudget,
}

impl Default for ServeBudgets {
    fn default() -> Self {
        Self {
            requests: PeerBudget::new(SERVED_PER_MINUTE, WINDOW),
            bytes: PeerBudget::new(SERVED_BYTES_PER_MINUTE, WINDOW),
        }
    }
}

impl ServeBudgets {
    /// Spends one request and the answer's bytes from `peer`'s budgets, or
    /// says why not.
    fn spend(&self, peer: libp2p::PeerId, reply: &OaReply) -> Result<(), &'static str> {
        if !self.requests.spend(peer, 1) {
            return Err("too many requests; try again in a minute");
        }
        let bytes = match reply {
            OaReply::Posts(v) | OaReply::Accounts(v) => v.iter().map(Vec::len).sum::<usize>(),
            _ => 0,
        };
        if !self.bytes.spend(peer, bytes as u64) {
            return Err("upload budget spent; try again in a minute");
        }
        Ok(())
    }
}

impl Oa {
    /// Answers `/weft/oa/1`; `None` if the answer cannot be encoded (the
    /// stream is then closed without one).
    pub async fn handle_inbound(&self, req: &InboundRequest) -> Option<Vec<u8>> {
        let store = &self.inner.ctx.store;
        let reply = match decode_request(&req.data) {
            Ok(OaRequest::Recent { account, limit }) => {
                let posts = store
                    .broadcasts(&account, (limit as usize).min(BACKFILL))
                    .unwrap_or_default();
                OaReply::Posts(
                    posts
                        .iter()
                        .filter_map(|b| postcard::to_stdvec(b).ok())
                        .collect(),
                )
            }
            Ok(OaRequest::Ask { account, msg1 }) => self.answer(account, &msg1).await,
            Ok(OaRequest::OwnerAnswer { account, msg1 }) => self.take_answer(account, &msg1).await,
            Ok(OaRequest::Accounts) => {
                let mut out = Vec::new();
                let owned = store.owned_oas().unwrap_or_default();
                for (a, owned) in owned.into_iter().take(MAX_ACCOUNTS) {
                    if let Ok(p) = self.profile_of(&a, &owned).await {
                        out.extend(postcard::to_stdvec(&p).ok());
                    }
                }
                OaReply::Accounts(out)
            }
            Err(_) => OaReply::Refused("malformed request".into()),
        };
        // Backfill and search upload what we hold to anyone who asks: each
        // peer gets a budget (questions have their own limits in `answer`).
        let reply = match &reply {
            OaReply::Posts(_) | OaReply::Accounts(_) => {
                match self.inner.served.spend(req.peer, &reply) {
                    Ok(()) => reply,
                    Err(why) => OaReply::Refused(why.into()),
                }
            }
            _ => reply,
        };
        encode_reply(&reply).ok()
    }

    /// Opens a follower's question to an account we run, logs it, and seals
    /// the automatic answer back to the asker's key.
    async fn answer(&self, account: AccountId, msg1: &[u8]) -> OaReply {
        let store = &self.inner.ctx.store;
        let Ok(Some(owned)) = store.owned_oa(&account) else {
            return OaReply::Refused("not an account on this node".into());
        };
        let Ok(key) = self.key(&account) else {
            return OaReply::Refused("key unavailable".into());
        };
        let Ok((responder, payload, sender_static)) = seal::respond(&key, msg1) else {
            return OaReply::Refused("bad handshake".into());
        };
        let Ok(q) = Question::from_bytes(&payload) else {
            return OaReply::Refused("bad question".into());
        };
        // The claimed sender must be the key that ran the handshake.
        if !seal::sender_matches(&q.from, &sender_static) || q.text.len() > MAX_QUESTION {
            return OaReply::Refused("forged sender or question too long".into());
        }
        let now_ms = weft_protocol::unix_now_ms();
        let since = now_ms.saturating_sub(INBOX_WINDOW_MS);
        let recent = store.oa_inbox_since(&account, since, &q.from.0);
        if let Err(why) = recent.map_err(|_| "busy").and_then(inbox_admits) {
            return OaReply::Refused(why.into());
        }
        let _ = store.oa_log(true, &account, now_ms, &q.from.0, &q.text);
        let reply = auto_reply(&owned, &q.text);
        let _ = store.oa_log(true, &account, now_ms + 1, &account.0, &reply);
        let _ = store.trim_oa_inbox(&account, MAX_INBOX_LINES);
        match responder.reply(reply.as_bytes()) {
            Ok(m2) => OaReply::Answer(m2),
            Err(_) => OaReply::Refused("cannot answer".into()),
        }
    }
}

impl Oa {
    /// Opens an answer the owner of `account` (which we follow) wrote
    /// itself, and logs it in our conversation with the account. Only the
    /// account's key can seal it (the sender is checked against the
    /// handshake), and only accounts we follow are heard.
    async fn take_answer(&self, account: AccountId, msg1: &[u8]) -> OaReply {
        if !matches!(self.followed(&account), Ok(Some(_))) {
            return OaReply::Refused("not following that account".into());
        }
        let me = &self.inner.ctx.identity.key;
        let Ok((responder, payload, sender_static)) = seal::respond(me, msg1) else {
            return OaReply::Refused("bad handshake".into());
        };
        let Ok(q) = Question::from_bytes(&payload) else {
            return OaReply::Refused("bad answer".into());
        };
        if q.from != account || !seal::sender_matches(&account, &sender_static) {
            return OaReply::Refused("forged sender".into());
        }
        if q.text.len() > MAX_QUESTION {
            return OaReply::Refused("answer too long".into());
        }
        let store = &self.inner.ctx.store;
        let at = weft_protocol::unix_now_ms();
        if store.oa_log(false, &account, at, &[0], &q.text).is_err() {
            return OaReply::Refused("cannot store the answer".into());
        }
        let _ = store.flush_async().await;
        match responder.reply(&[]) {
            Ok(m2) => OaReply::Answer(m2),
            Err(_) => OaReply::Refused("cannot acknowledge".into()),
        }
    }
}

/// The window the inbox's rate limits count over.
const INBOX_WINDOW_MS: u64 = 3_600_000;
/// Questions one asker may put to one account per window.
const MAX_QUESTIONS_PER_ASKER: usize = 10;
/// Questions from everyone together per window (each costs a Noise
/// handshake and two stored lines; fresh keys are free, so the total is
/// capped too).
const MAX_QUESTIONS: usize = 300;
/// Lines an account's inbox keeps; older ones are dropped.
const MAX_INBOX_LINES: usize = 5000;

/// Whether a question may be logged, given the inbox lines of the last
/// window in all and the asker's own (`recent`). Questions are logged
/// only as lines, so the counts are lines; the account's answers are
/// written under its own id, so an asker's count is its questions.
fn inbox_admits(recent: (usize, usize)) -> Result<(), &'static str> {
    let (all, theirs) = recent;
    if theirs >= MAX_QUESTIONS_PER_ASKER {
        return Err("too many questions from you; try again in an hour");
    }
    // Each question is logged with its answer: two lines.
    if all >= 2 * MAX_QUESTIONS {
        return Err("the account is busy; try again later");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Defect 13: backfill and search uploads are budgeted per peer, in
    /// answers and in bytes; one peer spending its budget leaves another's.
    #[test]
    fn backfill_and_search_answers_are_budgeted_per_peer() {
        let b = ServeBudgets::default();
        let (p, q) = (libp2p::PeerId::random(), libp2p::PeerId::random());
        let small = OaReply::Posts(vec![vec![0; 100]]);
        for _ in 0..SERVED_PER_MINUTE {
            assert!(b.spend(p, &small).is_ok());
        }
        assert!(b.spend(p, &small).is_err(), "more answers than the budget");
        let big = OaReply::Posts(vec![vec![0; SERVED_BYTES_PER_MINUTE as usize / 2 + 1]]);
        assert!(b.spend(q, &big).is_ok());
        assert!(b.spend(q, &big).is_err(), "more bytes than the budget");
    }

    #[test]
    fn one_asker_and_everyone_together_are_rate_limited() {
        assert!(inbox_admits((0, 0)).is_ok());
        assert!(inbox_admits((40, MAX_QUESTIONS_PER_ASKER - 1)).is_ok());
        assert!(inbox_admits((40, MAX_QUESTIONS_PER_ASKER)).is_err());
        assert!(inbox_admits((2 * MAX_QUESTIONS, 0)).is_err());
    }
}
