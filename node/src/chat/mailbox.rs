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
        MAX_ITEM_BYTES, MIN_ITEM_BYTES,
    },
    Kind,
};

use super::delivery::HOLDER_CANDIDATES;
use super::inbound::Outcome;
use super::Chat;
use crate::net::AppProtocol;
use crate::store::mailbox::{Deposit, HoldQuotas};

/// Held mail expires after this long.
const HOLD_SECS: u64 = 7 * 24 * 3600;
/// What we hold for others: per depositing peer (items, bytes), per
/// recipient, per depositor for one recipient (a peer id is free, but each
/// one can crowd a mailbox only this much), and in all.
const QUOTAS: HoldQuotas = HoldQuotas {
    items_per_depositor: 2000,
    bytes_per_depositor: 16 * 1024 * 1024,
    items_per_recipient: 5000,
    items_per_pair: 512,
    bytes_total: 64 * 1024 * 1024,
};
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
                    || items.iter().any(|i| i.len() > MAX_ITEM_BYTES)
                {
                    return refuse("too many or too large items");
                }
                if items.iter().any(|i| i.len() < MIN_ITEM_BYTES) {
                    return refuse("an item is too small to be sealed mail");
                }
                let items: Vec<_> = items.into_iter().map(|i| (item_hash(&i), i)).collect();
                match store.hold(&to, &peer.to_bytes(), &items, now + HOLD_SECS, now, &QUOTAS) {
                    Ok(Deposit::Held(n)) => {
                        if store.flush_async().await.is_err() {
                            return refuse("store error");
                        }
                        MailboxReply::Deposited { accepted: n as u32 }
                    }
                    Ok(Deposit::OverQuota) => {
                        tracing::info!(%peer, "refusing a deposit over quota");
                        refuse("over quota")
                    }
                    Err(_) => refuse("store error"),
                }
            }
            MailboxRequest::Fetch { auth, after } => {
                if auth.verify(&me, 0, now).is_err() {
                    return refuse("fetch is not signed by the mailbox owner");
                }
                let page = store.held_for(
                    &auth.account,
                    after.as_ref(),
                    MAX_ITEMS_PER_MESSAGE,
                    FETCH_BYTES,
                    now,
                );
                match page {
                    Ok((items, more)) => MailboxReply::Items {
                        items: items.into_iter().map(|(_, i)| i).collect(),
                        more,
                    },
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

    /// Fetches our mail from one holder page by page, applies it, then lets
    /// the holder delete what we stored *and* what we refused for good:
    /// junk left for us must not sit in our mailbox until it expires.
    /// False when the holder did not answer at all (worth asking again).
    pub(super) async fn fetch_mail(&self, holder: PeerId) -> bool {
        let mut after = None;
        for round in 0..MAX_FETCH_ROUNDS {
            let auth =
                MailboxAuth::new(self.key(), holder.to_bytes(), weft_protocol::unix_now(), 0);
            let fetch = MailboxRequest::Fetch { auth, after };
            let Ok(req) = weft_protocol::encode(Kind::MailboxRequest, &fetch) else {
                return true;
            };
            let reply = tokio::time::timeout(
                HOLDER_TIMEOUT,
                self.net().request(AppProtocol::Mailbox, holder, req),
            )
            .await;
            let Ok(Ok(bytes)) = reply else {
                tracing::debug!(%holder, round, "holder did not answer a fetch");
                return false;
            };
            let (items, more) =
                match weft_protocol::decode::<MailboxReply>(Kind::MailboxReply, &bytes) {
                    Ok(MailboxReply::Items { items, more }) => (items, more),
                    Ok(MailboxReply::Refused { reason }) => {
                        tracing::debug!(%holder, %reason, "holder refused fetch");
                        return true;
                    }
                    _ => {
                        tracing::warn!(%holder, "holder sent a malformed mailbox reply");
                        return true;
                    }
                };
            // A holder answers at most a page; more is not looked at.
            let items = &items[..items.len().min(MAX_ITEMS_PER_MESSAGE)];
            let Some(last) = items.last() else {
                return true;
            };
            after = Some(item_hash(last));
            let mut done = Vec::new();
            let mut accepted = 0;
            for item in items {
                match self.accept_sealed(item, None, true).await {
                    Outcome::Accepted => {
                        accepted += 1;
                        done.push(item_hash(item));
                    }
                    // Junk, or a copy a bad holder corrupted: never useful,
                    // so the holder may drop it (another holder's good copy
                    // has another hash and stays).
                    Outcome::Rejected(reason) if reason.is_final() => {
                        tracing::debug!(%holder, %reason, "refusing held mail");
                        done.push(item_hash(item));
                    }
                    // Left with the holder for a later fetch.
                    Outcome::Later => {}
                    Outcome::Rejected(reason) => {
                        tracing::warn!(%holder, %reason, "cannot take held mail now")
                    }
                }
            }
            tracing::info!(%holder, fetched = items.len(), accepted, "fetched mail");
            // Durable before we let the holder forget them.
            if self.store().flush_async().await.is_err() {
                return true;
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
                return true;
            }
        }
        true
    }

    /// Asks the peers closest to our mailbox key (where senders leave mail
    /// for us) for our mail; remembers them in `holders`.
    pub(super) async fn check_mailbox_holders(&self, holders: &Mutex<HashSet<PeerId>>) {
        let key = mailbox_key(&self.endpoint());
        let Ok(Ok(peers)) = tokio::time::timeout(
            Duration::from_secs(20),
            self.net().closest_peers(key, HOLDER_CANDIDATES),
        )
        .await
        else {
            return;
        };
        let near: Vec<PeerId> = peers
            .into_iter()
            .map(|(p, _)| p)
            .take(HOLDER_CANDIDATES)
            .collect();
        if let Ok(mut h) = holders.lock() {
            *h = near.iter().copied().collect();
        }
        for peer in near {
            let _ = self.fetch_mail(peer).await;
        }
    }
}
