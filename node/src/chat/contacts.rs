//! The address book: friend requests and the answers to them, local
//! remarks, blocking, and turning whatever the user typed (account id,
//! `weft://` link, remark or name) into an account.
//!
//! Requests and accepts travel as ordinary sealed chat messages through the
//! outbox (see `send.rs`), so they survive restarts and unreachable peers
//! exactly as texts do.

use weft_protocol::{
    chat::{ChatKind, MAX_GREETING_BYTES},
    AccountId, Card, CardError, WeftLink,
};

use super::{shown, Among, Chat, ChatError, ChatEvent, ContactView, RequestView};
use crate::store::chat::{Contact, ContactState};

impl Chat {
    /// `contacts add`: records the contact and sends a friend request.
    pub async fn add_contact(
        &self,
        target: &str,
        greeting: &str,
        hint: Option<Card>,
    ) -> Result<ContactView, ChatError> {
        if greeting.len() > MAX_GREETING_BYTES {
            return Err(ChatError::GreetingTooLong(greeting.len()));
        }
        let (account, link) = match target.trim().parse::<WeftLink>() {
            Ok(l) => (l.account, Some(l)),
            Err(_) => (
                target
                    .trim()
                    .parse::<AccountId>()
                    .map_err(|_| ChatError::UnknownContact(shown(target)))?,
                None,
            ),
        };
        if account == self.me() {
            return Err(ChatError::SelfContact);
        }
        let existing = self.store().contact(&account)?;
        let mut c = existing.unwrap_or(Contact {
            account,
            name: link
                .as_ref()
                .and_then(|l| l.name.clone())
                .unwrap_or_else(|| account.short()),
            remark: None,
            state: ContactState::RequestSent,
            greeting: None,
            card: None,
        });
        if let Some(card) = hint.filter(|h| h.account() == account && h.verify().is_ok()) {
            if c.card.is_none() {
                c.name = card.body.name.clone();
            }
            c.card = Some(card);
        }
        if let Some(l) = &link {
            // A link's peer and addresses are hints; dial so delivery is quick.
            if let Some(peer) = l.peer.as_deref().and_then(|p| p.parse().ok()) {
                let addrs = l.addrs.iter().filter_map(|a| a.parse().ok()).collect();
                let net = self.net().clone();
                tokio::spawn(async move {
                    let _ = net.dial_peer(peer, addrs).await;
                });
            }
        }
        let card = self.my_card().await.ok_or(ChatError::NoCard)?;
        match c.state {
            ContactState::Friend => {}
            // They asked us already: adding them back is accepting.
            ContactState::RequestReceived => {
                c.state = ContactState::Friend;
                self.store().put_contact(&c)?;
                self.enqueue(account, ChatKind::FriendAccept { card })
                    .await?;
                return Ok(self.view(&c));
            }
            _ => c.state = ContactState::RequestSent,
        }
        self.store().put_contact(&c)?;
        self.enqueue(
            account,
            ChatKind::FriendRequest {
                card,
                greeting: greeting.to_string(),
            },
        )
        .await?;
        Ok(self.view(&c))
    }

    /// `contacts accept`.
    pub async fn accept(&self, who: &str) -> Result<ContactView, ChatError> {
        let account = self.resolve_among(who, Among::Requests)?;
        let mut c = self
            .store()
            .contact(&account)?
            .filter(|c| c.state == ContactState::RequestReceived)
            .ok_or_else(|| ChatError::NoRequest(shown(who)))?;
        c.state = ContactState::Friend;
        c.greeting = None;
        self.store().put_contact(&c)?;
        self.emit(ChatEvent::FriendAccepted {
            account_id: account.to_string(),
            name: c.name.clone(),
        });
        let card = self.my_card().await.ok_or(ChatError::NoCard)?;
        self.enqueue(account, ChatKind::FriendAccept { card })
            .await?;
        Ok(self.view(&c))
    }

    /// `contacts reject`: forgets the request (the requester is not told, as WeChat).
    pub async fn reject(&self, who: &str) -> Result<(), ChatError> {
        let account = self.resolve_among(who, Among::Requests)?;
        match self.store().contact(&account)? {
            Some(c) if c.state == ContactState::RequestReceived => {
                self.store().delete_contact(&account)?;
                self.store().flush_async().await?;
                Ok(())
            }
            _ => Err(ChatError::NoRequest(shown(who))),
        }
    }

    /// `contacts block`.
    pub async fn block(&self, who: &str) -> Result<ContactView, ChatError> {
        let account = self.resolve_among(who, Among::Anyone)?;
        if account == self.me() {
            return Err(ChatError::SelfContact);
        }
        let c = Contact {
            state: ContactState::Blocked,
            ..self.store().contact(&account)?.unwrap_or(Contact {
                account,
                name: account.short(),
                remark: None,
                state: ContactState::Blocked,
                greeting: None,
                card: None,
            })
        };
        self.store().put_contact(&c)?;
        self.store().flush_async().await?;
        self.tell_own_devices(account).await;
        Ok(self.view(&c))
    }

    /// `contacts unblock`: back to a stranger (their old friendship is not
    /// restored; add them again to be friends).
    pub async fn unblock(&self, who: &str) -> Result<(), ChatError> {
        let account = self.resolve_among(who, Among::Anyone)?;
        match self.store().contact(&account)? {
            Some(c) if c.state == ContactState::Blocked => {
                self.store().delete_contact(&account)?;
                self.store().flush_async().await?;
                self.tell_own_devices(account).await;
                Ok(())
            }
            _ => Err(ChatError::NotBlocked(shown(who))),
        }
    }

    /// `contacts remark`: sets (or, with `None`, clears) the user's own name
    /// for a contact.
    pub async fn remark(&self, who: &str, remark: Option<&str>) -> Result<ContactView, ChatError> {
        if let Some(r) = remark {
            weft_protocol::validate_name(r).map_err(|e| match e {
                CardError::Bounds(what) => ChatError::BadName(what),
                _ => ChatError::BadName("a remark must be 1 to 64 bytes of text"),
            })?;
        }
        let account = self.resolve(who)?;
        let mut c = self
            .store()
            .contact(&account)?
            .ok_or_else(|| ChatError::UnknownContact(shown(who)))?;
        c.remark = remark.map(str::to_string);
        self.store().put_contact(&c)?;
        self.store().flush_async().await?;
        self.tell_own_devices(account).await;
        Ok(self.view(&c))
    }

    /// `contacts delete`.
    pub async fn delete(&self, who: &str) -> Result<(), ChatError> {
        let account = self.resolve_among(who, Among::Anyone)?;
        if !self.store().delete_contact(&account)? {
            return Err(ChatError::UnknownContact(shown(who)));
        }
        self.store().flush_async().await?;
        self.tell_own_devices(account).await;
        Ok(())
    }

    /// `contacts list`: everyone but pending incoming requests.
    pub fn contacts(&self) -> Result<Vec<ContactView>, ChatError> {
        Ok(self
            .store()
            .contacts()?
            .iter()
            .filter(|c| c.state != ContactState::RequestReceived)
            .map(|c| self.view(c))
            .collect())
    }

    /// `contacts requests`.
    pub fn requests(&self) -> Result<Vec<RequestView>, ChatError> {
        Ok(self
            .store()
            .contacts()?
            .into_iter()
            .filter(|c| c.state == ContactState::RequestReceived)
            .map(|c| RequestView {
                account_id: c.account.to_string(),
                name: c.name.clone(),
                greeting: c.greeting.clone().unwrap_or_default(),
            })
            .collect())
    }

    /// Texts go to friends only: the recipient drops a stranger's texts anyway.
    /// Refuses anyone but a friend (`shown_as`: how the user named them).
    /// Whether we may send to `account`: a friend, or our own account
    /// ("File Transfer": our other devices) when we have another device.
    pub fn require_addressable(
        &self,
        account: &AccountId,
        shown_as: &str,
    ) -> Result<(), ChatError> {
        if *account == self.me() {
            if self.own_other_endpoints().is_empty() {
                return Err(ChatError::NoOtherDevice);
            }
            return Ok(());
        }
        self.require_friend(account, shown_as)
    }

    /// Fails unless `account` is a friend.
    pub fn require_friend(&self, account: &AccountId, shown_as: &str) -> Result<(), ChatError> {
        match self.store().contact(account)? {
            Some(c) if c.state == ContactState::Friend => Ok(()),
            _ => Err(ChatError::NotAFriend(shown(shown_as))),
        }
    }
}

/// A contact as the API shows it.
impl Chat {
    fn view(&self, c: &Contact) -> ContactView {
        ContactView {
            account_id: c.account.to_string(),
            name: c.display_name().to_string(),
            their_name: c.name.clone(),
            state: c.state,
            devices: self
                .store()
                .device_list(&c.account)
                .ok()
                .flatten()
                .map_or(1, |l| l.body.devices.len()),
        }
    }
}
