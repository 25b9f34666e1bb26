//! Who a post is for: the audience the user chose (all friends, only some,
//! all except some), resolved to account ids, and the friend tags that name
//! groups of friends. Moments go to friends only, so a tag that still holds
//! an ex-friend silently drops them, while naming a non-friend directly is
//! an error the user should see.

use std::collections::{HashMap, HashSet};

use weft_protocol::{
    moments::{self, MomentError},
    AccountId,
};

use super::{Audience, Moments, MomentsError};

/// Longest friend-tag name.
pub(super) const MAX_TAG_NAME: usize = 64;

impl Moments {
    /// Friends and tags named by the user, as accounts. A name that is
    /// neither a tag nor a friend is an error.
    fn resolve_list(&self, list: &[String]) -> Result<HashSet<AccountId>, MomentsError> {
        let tags: HashMap<String, Vec<AccountId>> = self.inner.store.tags()?.into_iter().collect();
        let mut out = HashSet::new();
        for who in list {
            let who = who.trim();
            if who.is_empty() {
                continue;
            }
            if let Some(members) = tags.get(who) {
                out.extend(members.iter().copied());
                continue;
            }
            let a = self.inner.chat.resolve(who)?;
            if !self.is_friend(&a) {
                return Err(MomentsError::NotAFriend(who.to_string()));
            }
            out.insert(a);
        }
        Ok(out)
    }

    /// The readers of a new post, sorted, within the audience bound.
    pub(super) fn resolve_audience(
        &self,
        audience: &Audience,
    ) -> Result<Vec<AccountId>, MomentsError> {
        let friends: HashSet<AccountId> = self.friends().into_iter().collect();
        let mut list: Vec<AccountId> = match audience {
            Audience::All => friends.into_iter().collect(),
            Audience::Only(l) => {
                let chosen = self.resolve_list(l)?;
                if chosen.is_empty() {
                    return Err(MomentsError::EmptyAudience);
                }
                // Tags may hold ex-friends: Moments go to friends only.
                chosen.intersection(&friends).copied().collect()
            }
            Audience::Except(l) => {
                let excluded = self.resolve_list(l)?;
                friends.difference(&excluded).copied().collect()
            }
        };
        list.sort();
        if list.len() > moments::MAX_AUDIENCE {
            return Err(MomentError::Bounds(format!(
                "audience of {}; at most {}",
                list.len(),
                moments::MAX_AUDIENCE
            ))
            .into());
        }
        Ok(list)
    }

    /// Creates, replaces or (with no members) removes a friend tag.
    pub async fn set_tag(&self, name: &str, members: &[String]) -> Result<(), MomentsError> {
        let name = name.trim();
        if name.is_empty() || name.len() > MAX_TAG_NAME {
            return Err(MomentsError::TagName);
        }
        let mut list = Vec::new();
        for m in members {
            let a = self.inner.chat.resolve(m)?;
            if !self.is_friend(&a) {
                return Err(MomentsError::NotAFriend(m.clone()));
            }
            list.push(a);
        }
        list.sort();
        list.dedup();
        self.inner.store.set_tag(name, &list)?;
        self.inner.store.flush_async().await?;
        Ok(())
    }

    /// Friend tags: name → account ids.
    pub fn tags(&self) -> Result<Vec<(String, Vec<String>)>, MomentsError> {
        Ok(self
            .inner
            .store
            .tags()?
            .into_iter()
            .map(|(n, m)| (n, m.iter().map(|a| a.to_string()).collect()))
            .collect())
    }
}
