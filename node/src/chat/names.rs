//! Turning what the user typed into one account: an account id, a `weft://`
//! link, a remark, a name, or a short id (a unique prefix of at least
//! [`MIN_PREFIX`] characters).
//!
//! Names are chosen by their owners, so anyone can call themselves "Bao".
//! The rules keep an impostor from receiving what was meant for a friend:
//! remarks (which only the user sets) win over names; names match only the
//! contacts the action is for ([`Among`]); and a name that could mean more
//! than one account is refused with the candidates listed, never guessed.

use weft_protocol::{AccountId, WeftLink};

use super::{shown, Chat, ChatError};
use crate::store::chat::{Contact, ContactState};

/// Shortest account-id prefix accepted in place of the whole id.
pub const MIN_PREFIX: usize = 6;

/// Which contacts a typed name may stand for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Among {
    /// Friends only: sending, reading, audiences, remarks.
    Friends,
    /// Pending requests to us (`accept`, `reject`). A friend with the same
    /// name makes the name ambiguous, so an impostor's request is never
    /// accepted by a friend's name.
    Requests,
    /// Any contact (`block`, `delete`); ambiguity is still refused.
    Anyone,
}

impl Among {
    fn admits(self, state: ContactState) -> bool {
        match self {
            Among::Friends => state == ContactState::Friend,
            // Friends take part so that their names clash with requests.
            Among::Requests => {
                matches!(state, ContactState::RequestReceived | ContactState::Friend)
            }
            Among::Anyone => true,
        }
    }
}

impl Chat {
    /// Finds a friend by account id, link, remark, name or short id.
    pub fn resolve(&self, who: &str) -> Result<AccountId, ChatError> {
        self.resolve_among(who, Among::Friends)
    }

    /// Finds the one account `who` means among the contacts `among` admits
    /// (full ids and links are taken as they are).
    pub fn resolve_among(&self, who: &str, among: Among) -> Result<AccountId, ChatError> {
        let who = who.trim();
        // Our own account: the conversation with our other devices.
        if who.eq_ignore_ascii_case("me") || who.eq_ignore_ascii_case(super::log::FILE_TRANSFER) {
            return Ok(self.me());
        }
        if let Ok(id) = who.parse::<AccountId>() {
            return Ok(id);
        }
        if let Ok(link) = who.parse::<WeftLink>() {
            return Ok(link.account);
        }
        let contacts = self.store().contacts()?;
        pick(who, &contacts, among)
    }
}

/// The rules of the module on a list of contacts.
fn pick(who: &str, contacts: &[Contact], among: Among) -> Result<AccountId, ChatError> {
    let lower = who.to_lowercase();
    let remark_of = |c: &Contact| c.remark.as_deref().map(str::to_lowercase);
    // Remarks are the user's own words: any contact's remark counts.
    let by_remark: Vec<&Contact> = contacts
        .iter()
        .filter(|c| remark_of(c).as_deref() == Some(lower.as_str()))
        .collect();
    let by_name: Vec<&Contact> = contacts
        .iter()
        .filter(|c| among.admits(c.state) && c.name.to_lowercase() == lower)
        .collect();
    let by_prefix: Vec<&Contact> = if who.chars().count() >= MIN_PREFIX {
        contacts
            .iter()
            .filter(|c| c.account.to_string().starts_with(who))
            .collect()
    } else {
        Vec::new()
    };
    for found in [by_remark, by_name, by_prefix] {
        match found.as_slice() {
            [] => continue,
            [one] => return Ok(one.account),
            many => {
                return Err(ChatError::Ambiguous {
                    typed: shown(who),
                    candidates: many.iter().map(|c| candidate(c)).collect(),
                })
            }
        }
    }
    Err(ChatError::UnknownContact(shown(who)))
}

/// One line of an ambiguity error: short id, names, relationship.
fn candidate(c: &Contact) -> String {
    let remark = c
        .remark
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    let state = match c.state {
        ContactState::Friend => "friend",
        ContactState::RequestSent => "request sent",
        ContactState::RequestReceived => "request received",
        ContactState::Blocked => "blocked",
    };
    format!("{} {}{remark} [{state}]", c.account.short(), c.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_protocol::AccountKey;

    fn contact(name: &str, remark: Option<&str>, state: ContactState) -> Contact {
        Contact {
            account: AccountKey::generate().unwrap().account_id(),
            name: name.into(),
            remark: remark.map(str::to_string),
            state,
            greeting: None,
            card: None,
        }
    }

    /// #13 defect 9: an impostor named like a friend never gets the friend's
    /// messages, acceptance or audience slot.
    #[test]
    fn an_impostor_named_like_a_friend_is_never_chosen() {
        let bao = contact("Bao", None, ContactState::Friend);
        let impostor = contact("Bao", None, ContactState::RequestReceived);
        // Whatever the store order, `Bao` means the friend for sending.
        for list in [
            vec![bao.clone(), impostor.clone()],
            vec![impostor.clone(), bao.clone()],
        ] {
            assert_eq!(pick("Bao", &list, Among::Friends).ok(), Some(bao.account));
            assert_eq!(pick("bao", &list, Among::Friends).ok(), Some(bao.account));
            // Accepting by the friend's name is refused, with both listed.
            match pick("Bao", &list, Among::Requests) {
                Err(ChatError::Ambiguous { candidates, .. }) => assert_eq!(candidates.len(), 2),
                other => panic!("accept by a shared name must be ambiguous, got {other:?}"),
            }
        }
        // A stranger's request alone never answers to a friends-only name.
        assert!(matches!(
            pick("Bao", std::slice::from_ref(&impostor), Among::Friends),
            Err(ChatError::UnknownContact(_))
        ));
    }

    #[test]
    fn remarks_win_and_two_friends_of_one_name_are_ambiguous() {
        let chen = contact("Chen", Some("Chen D"), ContactState::Friend);
        let other = contact("Chen D", None, ContactState::Friend);
        let list = vec![other.clone(), chen.clone()];
        assert_eq!(
            pick("chen d", &list, Among::Friends).ok(),
            Some(chen.account)
        );
        let twin = contact("Chen", None, ContactState::Friend);
        let list = vec![chen.clone(), twin.clone()];
        let err = pick("Chen", &list, Among::Friends).unwrap_err();
        assert!(err.to_string().contains(&twin.account.short()), "{err}");
    }

    #[test]
    fn short_ids_need_six_characters_and_must_be_unique() {
        let bao = contact("Bao", None, ContactState::Friend);
        let id = bao.account.to_string();
        let list = vec![bao.clone()];
        assert_eq!(
            pick(&id[..6], &list, Among::Friends).ok(),
            Some(bao.account)
        );
        assert!(pick(&id[..5], &list, Among::Friends).is_err());
    }
}
