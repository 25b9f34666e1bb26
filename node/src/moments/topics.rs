//! Which Moments topics we read, and who may find ours.
//!
//! An author's topic is named by a tag keyed with the author's topic key
//! ([`weft_protocol::moments::topic_tag`]), which the author gives each
//! friend over end-to-end encrypted chat. A stranger who knows only the
//! account id can neither find the topic nor prove the key in a sync
//! request, so it cannot tell when the author posts or to how many. When
//! someone we gave the key to is no longer a friend, we make a new key,
//! give it to the friends we still have, and move to its topic.

use std::collections::HashMap;

use weft_protocol::{
    moments::{topic_tag, TopicKey},
    AccountId,
};

use super::Moments;
use crate::net::Topic;
use crate::store::moments::OwnTopicKey;

/// What to do with our topic key given the friends we have now: keep it
/// (and give it to the friends who lack it), or replace it (someone who
/// has it is no longer a friend) and give the new one to every friend.
/// Returns the key to keep and who to send it to; `None` when nothing
/// changes.
pub(super) fn next_own_key(
    held: Option<OwnTopicKey>,
    friends: &[AccountId],
    fresh: TopicKey,
) -> Option<(OwnTopicKey, Vec<AccountId>)> {
    let keep = held.filter(|h| h.given_to.iter().all(|a| friends.contains(a)));
    match keep {
        Some(mut own) => {
            let missing: Vec<AccountId> = friends
                .iter()
                .filter(|f| !own.given_to.contains(f))
                .copied()
                .collect();
            if missing.is_empty() {
                return None;
            }
            own.given_to.extend(&missing);
            Some((own, missing))
        }
        None => Some((
            OwnTopicKey {
                key: fresh,
                given_to: friends.to_vec(),
            },
            friends.to_vec(),
        )),
    }
}

impl Moments {
    /// The topic key of `author` as we know it: ours, or the one a friend gave us.
    pub(super) fn topic_key_of(&self, author: &AccountId) -> Option<TopicKey> {
        if *author == self.me() {
            // Made here on the first device; a linked device holds the
            // one the first device gave it.
            if let Some(own) = self.inner.store.own_topic_key().ok().flatten() {
                return Some(own.key);
            }
        }
        self.inner.store.topic_key(author).ok().flatten()
    }

    /// Our own Moments topic, once we have a topic key (the service makes
    /// one at start).
    pub fn own_topic(&self) -> Option<Topic> {
        self.tag_of(&self.me()).map(Topic::Moments)
    }

    /// The tag of `author`'s topic, if we hold its key.
    pub(super) fn tag_of(&self, author: &AccountId) -> Option<[u8; 16]> {
        self.topic_key_of(author).map(|k| topic_tag(author, &k))
    }

    /// Makes sure we have a topic key and that every friend was given it
    /// (replacing it first if someone who has it is no longer a friend).
    /// The key goes out through the chat outbox (durable, retried) before it
    /// is recorded as given, so a crash in between only sends it twice.
    pub(super) async fn share_own_key(&self) {
        // One key per account, made and given by the first device: a key
        // from a linked device would move our friends to another topic.
        if !self.inner.identity.primary {
            return;
        }
        let friends = self.friends();
        let held = match self.inner.store.own_topic_key() {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read our Moments topic key");
                return;
            }
        };
        let fresh = match weft_protocol::moments::new_key() {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(error = %e, "cannot make a Moments topic key");
                return;
            }
        };
        let Some((own, send_to)) = next_own_key(held, &friends, fresh) else {
            return;
        };
        if !send_to.is_empty() {
            if let Err(e) = self.inner.chat.send_moments_key(&send_to, own.key).await {
                tracing::warn!(error = %e, "cannot queue our Moments topic key");
                return;
            }
        }
        if let Err(e) = self.inner.store.put_own_topic_key(&own) {
            tracing::warn!(error = %e, "cannot store our Moments topic key");
            return;
        }
        let _ = self.inner.store.flush_async().await;
    }

    /// Joins our topic and our friends' (those whose keys we hold); leaves
    /// the rest. Returns the authors whose topics we just joined.
    pub(super) async fn join_topics(&self) -> Vec<AccountId> {
        self.share_own_key().await;
        let mut want: HashMap<[u8; 16], AccountId> = HashMap::new();
        for a in self.friends().into_iter().chain([self.me()]) {
            if let Some(tag) = self.tag_of(&a) {
                want.insert(tag, a);
            }
        }
        let (join, leave) = {
            let Ok(mut joined) = self.inner.joined.lock() else {
                return Vec::new();
            };
            let join: Vec<_> = want
                .iter()
                .filter(|(t, _)| !joined.contains_key(*t))
                .map(|(t, a)| (*t, *a))
                .collect();
            let leave: Vec<_> = joined
                .keys()
                .filter(|t| !want.contains_key(*t))
                .copied()
                .collect();
            *joined = want;
            (join, leave)
        };
        for (tag, _) in &join {
            self.inner.net.join_topic(Topic::Moments(*tag), true).await;
        }
        for tag in leave {
            self.inner.net.join_topic(Topic::Moments(tag), false).await;
        }
        join.into_iter().map(|(_, a)| a).collect()
    }

    /// Whose topic `tag` is, among those we joined.
    pub(super) fn author_of_topic(&self, tag: &[u8; 16]) -> Option<AccountId> {
        self.inner.joined.lock().ok()?.get(tag).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_protocol::AccountKey;

    /// Defect 13 (strangers learn posting times): the key reaches every
    /// friend once; losing a friend replaces it and gives the new one to
    /// everyone left, never to the friend who left.
    #[test]
    fn the_topic_key_is_given_to_friends_and_replaced_when_one_leaves() {
        let [a, b, c]: [AccountId; 3] =
            std::array::from_fn(|_| AccountKey::generate().unwrap().account_id());
        let (first, to) = next_own_key(None, &[a, b], [1; 32]).unwrap();
        assert_eq!((first.key, to.clone()), ([1; 32], vec![a, b]));
        assert_eq!(next_own_key(Some(first.clone()), &[a, b], [2; 32]), None);
        let (more, to) = next_own_key(Some(first.clone()), &[a, b, c], [2; 32]).unwrap();
        assert_eq!((more.key, to), ([1; 32], vec![c]));
        let (moved, to) = next_own_key(Some(more), &[a, c], [3; 32]).unwrap();
        assert_eq!(moved.key, [3; 32], "b left: the key must change");
        assert_eq!(to, vec![a, c]);
        assert!(!moved.given_to.contains(&b));
    }
}
