//! Store-and-forward on `/weft/mailbox/1`, both sides.
//!
//! As a holder we keep sealed mail (unreadable to us) for accounts whose
//! mailbox key we are close to, within per-depositor, per-recipient and
//! total quotas, for [`HOLD_SECS`]; only the owner of the mailbox, proven by
//! a signature over our peer id, may fetch or delete it.
//!
//! As a recipient we fetch our mail from holders, apply it through the same
//! checks as a direct delivery (`inbound.rs`), flush, and only then let the
//! holder delete it.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use libp2p::PeerId;
use weft_protocol::{
    chat::item_hash,
    mailbox::{
        mailbox_key, MailboxAuth, MailboxReply, MailboxRequest, MAX_ITEMS_PER_MESSAGE,
        MAX_ITEM_BYTES,
    },
    Kind,
};

use super::delivery::HOLDERS;
use super::inbound::Outcome;
use super::Chat;
use crate::net::AppProtocol;
use crate::store::mailbox::HeldItem;

/// Held mail expires after this long.
const HOLD_SECS: u64 = 7 * 24 * 3600;
/// Per depositing peer: items and bytes we hold for it.
const QUOTA_ITEMS_PER_DEPOSITOR: usize = 2000;
const QUOTA_BYTES_PER_DEPOSITOR: usize = 16 * 1024 * 1024;
/// Per recipient: items we hold.
const QUOTA_ITEMS_PER_RECIPIENT: usize = 5000;
/// Everything we hold for others.
const QUOTA_BYTES_TOTAL: usize = 64 * 1024 * 1024;
/// Bytes of mail in one fetch answer.
const FETCH_BYTES: usize = 900 * 1024;
/// How long we wait for a holder's answer.
const HOLDER_TIMEOUT: Duration = Duration::from_secs(15);
/// Most fetch rounds from one holder in one go (each up to [`FETCH_BYTES`]).
const MAX_FETCH_ROUNDS: usize = 50;
/// Item hashes one delete may name.
const MAX_DELETE_ITEMS: usize = 4 * MAX_ITEMS_PER_MESSAGE;

impl Chat {
    /// A `/weft/mailbox/1` request: we are (or are asked to be) a holder.
    pub(super) async fn on_mailbox(&self, peer: PeerId, data: &[u8]) -> Vec<u8> {
        let reply = match weft_protocol::decode::<MailboxRequest>(Kind::MailboxRequest, data) {
            Ok(req) => self.holder(peer, req).await,
            Err(e) => MailboxReply::Refused {
                reason: e.to_string(),
            },
        };
        weft_protocol::encode(Kind::MailboxReply, &reply).unwrap_or_default()
    }

    /// The holder's answer to one decoded request.
    async fn holder(&self, peer: PeerId, req: MailboxRequest) -> MailboxReply {
        let refuse = |r: &str| MailboxReply::Refused {
            reason: r.to_string(),
        };
        let store = self.store();
        let now = weft_protocol::unix_now();
        let me = self.net().peer_id().to_bytes();
        match req {
            MailboxRequest::Deposit { to, items } => {
                if items.len() > MAX_ITEMS_PER_MESSAGE
                    || items
                        .iter()
                        .any(|i| i.len() > MAX_ITEM_BYTES || i.is_empty())
                {
                    return refuse("too many or too large items");
                }
                let depositor = peer.to_bytes();
                let Ok(summary) = store.held_summary() else {
                    return refuse("store error");
                };
                let (mut dep_items, mut dep_bytes, mut rcpt_items, mut total) = (0, 0, 0, 0);
                for h in &summary {
                    if h.expires_at < now {
                        let _ = store.drop_held_key(&h.key);
                        continue;
                    }
                    total += h.len;
                    if h.depositor == depositor {
                        dep_items += 1;
                        dep_bytes += h.len;
                    }
                    if h.key.starts_with(&to.0) {
                        rcpt_items += 1;
                    }
                }
                let add: usize = items.iter().map(Vec::len).sum();
                if dep_items + items.len() > QUOTA_ITEMS_PER_DEPOSITOR
                    || dep_bytes + add > QUOTA_BYTES_PER_DEPOSITOR
                    || rcpt_items + items.len() > QUOTA_ITEMS_PER_RECIPIENT
                    || total + add > QUOTA_BYTES_TOTAL
                {
                    tracing::info!(%peer, "refusing a deposit over quota");
                    return refuse("over quota");
                }
                for item in &items {
                    let held = HeldItem {
                        sealed: item.clone(),
                        expires_at: now + HOLD_SECS,
                        depositor: depositor.clone(),
                    };
                    if store.hold(&to, &item_hash(item), &held).is_err() {
                        return refuse("store error");
                    }
                }
                if store.flush_async().await.is_err() {
                    return refuse("store error");
                }
                MailboxReply::Deposited {
                    accepted: items.len() as u32,
                }
            }
            MailboxRequest::Fetch { auth } => {
                if auth.verify(&me, 0, now).is_err() {
                    return refuse("fetch is not signed by the mailbox owner");
                }
                match store.held_for(&auth.account, MAX_ITEMS_PER_MESSAGE, FETCH_BYTES, now) {
                    Ok((items, more)) => MailboxReply::Items { items, more },
                    Err(_) => refuse("store error"),
                }
            }
            MailboxRequest::Delete { auth, items } => {
                if auth.verify(&me, 1, now).is_err() || items.len() > MAX_DELETE_ITEMS {
                    return refuse("delete is not signed by the mailbox owner");
                }
                match store.unhold(&auth.account, &items) {
                    Ok(n) => {
                        let _ = store.flush_async().await;
                        MailboxReply::Deleted { count: n as u32 }
                    }
                    Err(_) => refuse("store error"),
                }
            }
        }
    }

    /// Fetches our mail from one holder, applies it, then lets the holder delete it.
    pub(super) async fn fetch_mail(&self, holder: PeerId) {
        for _round in 0..MAX_FETCH_ROUNDS {
            let auth =
                MailboxAuth::new(self.key(), holder.to_bytes(), weft_protocol::unix_now(), 0);
            let Ok(req) =
                weft_protocol::encode(Kind::MailboxRequest, &MailboxRequest::Fetch { auth })
            else {
                return;
            };
            let reply = tokio::time::timeout(
                HOLDER_TIMEOUT,
                self.net().request(AppProtocol::Mailbox, holder, req),
            )
            .await;
            let Ok(Ok(bytes)) = reply else { return };
            let (items, more) =
                match weft_protocol::decode::<MailboxReply>(Kind::MailboxReply, &bytes) {
                    Ok(MailboxReply::Items { items, more }) => (items, more),
                    Ok(MailboxReply::Refused { reason }) => {
                        tracing::debug!(%holder, %reason, "holder refused fetch");
                        return;
                    }
                    _ => {
                        tracing::warn!(%holder, "holder sent a malformed mailbox reply");
                        return;
                    }
                };
            if items.is_empty() {
                return;
            }
            let mut done = Vec::new();
            for item in &items {
                match self.accept_sealed(item, None, true).await {
                    Outcome::Accepted => done.push(item_hash(item)),
                    // A corrupted copy from a bad holder: skip it; another holder's copy will do.
                    Outcome::Rejected(reason) => {
                        tracing::warn!(%holder, %reason, "bad held message")
                    }
                }
            }
            tracing::info!(%holder, fetched = items.len(), accepted = done.len(), "fetched mail");
            // Durable before we let the holder forget them.
            if self.store().flush_async().await.is_err() {
                return;
            }
            let auth =
                MailboxAuth::new(self.key(), holder.to_bytes(), weft_protocol::unix_now(), 1);
            if let Ok(req) = weft_protocol::encode(
                Kind::MailboxRequest,
                &MailboxRequest::Delete { auth, items: done },
            ) {
                let _ = tokio::time::timeout(
                    HOLDER_TIMEOUT,
                    self.net().request(AppProtocol::Mailbox, holder, req),
                )
                .await;
            }
            if !more {
                return;
            }
        }
    }

    /// Asks the peers closest to our mailbox key (where senders leave mail
    /// for us) for our mail; remembers them in `holders`.
    pub(super) async fn check_mailbox_holders(&self, holders: &Mutex<HashSet<PeerId>>) {
        let key = mailbox_key(&self.me());
        let Ok(Ok(peers)) =
            tokio::time::timeout(Duration::from_secs(20), self.net().closest_peers(key)).await
        else {
            return;
        };
        let near: Vec<PeerId> = peers
            .into_iter()
            .map(|(p, _)| p)
            .take(HOLDERS + 2)
            .collect();
        if let Ok(mut h) = holders.lock() {
            *h = near.iter().copied().collect();
        }
        for peer in near {
            self.fetch_mail(peer).await;
        }
    }
}
