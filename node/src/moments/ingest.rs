//! Applying an item that arrived (from gossip or a backfill): the rules a
//! reader enforces that a relay cannot, because they need the keys or the
//! post itself. A tombstone must come from the post's author (and only ever
//! deletes that author's post, even when it arrives first); a reaction must
//! be filed under the post's author and come from its audience. A reaction
//! we cannot read is still kept, encrypted, so we can serve it to friends
//! who can, but only from a signer we can vouch for: the post's audience
//! when we can read the post, else the author or one of our friends. Anyone
//! can sign a reaction with a throwaway key, and keeping those would let
//! strangers fill the store.

use weft_protocol::{
    moments::{
        open_post, open_reaction, relay::SKEW_SECS, Item, ItemId, MomentError, Payload,
        ReactionContent,
    },
    DecodeError,
};

use super::{Moments, MomentsEvent, ReactionKind};
use crate::store::moments::{PostRecord, ReactionRecord};
use crate::store::StoreError;

/// What became of an item.
#[derive(Debug)]
pub(super) enum Verdict {
    /// Valid: keep relaying.
    Accept,
    /// Invalid: drop, don't relay, penalise the sender.
    Reject(Rejection),
    /// We cannot judge it (yet): drop it, don't relay it, don't hold it
    /// against the sender; readers who can judge it relay it.
    Ignore(Rejection),
}

impl Verdict {
    /// What gossipsub is told.
    pub(super) fn judgement(&self) -> crate::net::Judgement {
        match self {
            Verdict::Accept => crate::net::Judgement::Accept,
            Verdict::Ignore(_) => crate::net::Judgement::Ignore,
            Verdict::Reject(_) => crate::net::Judgement::Reject,
        }
    }
}

/// A reaction to a post we cannot read (not in its audience, or not
/// arrived): kept and relayed only if we can vouch for its signer (the
/// author, us, a friend), so throwaway keys can neither fill the store nor
/// use us to flood; others we cannot judge, so they are ignored, not
/// rejected (an honest reader outside our friends is not punished).
fn unjudged_reaction(vouched: bool) -> Verdict {
    if vouched {
        Verdict::Accept
    } else {
        Verdict::Ignore(Rejection::Unvouched)
    }
}

/// Why an item was refused (logged; gossipsub penalises the sender).
#[derive(Debug, thiserror::Error)]
pub(super) enum Rejection {
    /// Not a Moments item envelope.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Breaks a bound or its signature does not verify.
    #[error(transparent)]
    Invalid(#[from] MomentError),
    /// A post its author already deleted: never stored again.
    #[error("post was deleted by its author")]
    Deleted,
    /// A post addressed to us that does not open.
    #[error("unreadable post: {0}")]
    UnreadablePost(MomentError),
    /// A tombstone for someone else's post.
    #[error("tombstone for a post the signer did not write")]
    ForeignTombstone,
    /// A reaction on one author's topic about another author's post.
    #[error("reaction filed under the wrong author")]
    Misfiled,
    /// A reaction addressed to us that does not open.
    #[error("unreadable reaction: {0}")]
    UnreadableReaction(MomentError),
    /// A reaction from someone the post was not shown to.
    #[error("reaction from someone outside the post's audience")]
    OutsideAudience,
    /// Dated further in the future than clocks drift: it would pin itself
    /// as the newest item and make backfill skip everything before it.
    #[error("item dated {at}, in the future (now {now})")]
    FromTheFuture {
        /// The item's time.
        at: u64,
        /// Our clock.
        now: u64,
    },
    /// Storing it failed (not the sender's fault, but we did not keep it).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// On a topic that is not its author's (or one we no longer read).
    #[error("item on another author's topic")]
    WrongTopic,
    /// A reaction to a post we cannot read, from someone we cannot vouch for.
    #[error("reaction to a post we cannot read, from a signer we do not know")]
    Unvouched,
}

impl Moments {
    /// Applies a checked item from gossip or backfill (the caller flushes).
    pub(super) async fn ingest(&self, item: Item) -> Verdict {
        let _order = self.inner.ingest.lock().await;
        let author = item.body.author;
        if author != self.me() && !self.is_friend(&author) {
            // Not a topic we read; a relay's checks passed.
            return Verdict::Accept;
        }
        let now = weft_protocol::unix_now();
        if item.body.at > now + SKEW_SECS {
            let at = item.body.at;
            return Verdict::Reject(Rejection::FromTheFuture { at, now });
        }
        let id = item.id();
        match self.inner.store.has_moment_item(&id) {
            Ok(true) => return Verdict::Accept,
            Ok(false) => {}
            Err(e) => return Verdict::Reject(e.into()),
        }
        let r = match &item.body.payload {
            Payload::Post { .. } => self.ingest_post(&item, id),
            Payload::Tombstone { post } => self.ingest_tombstone(&item, id, *post),
            Payload::Reaction { post, .. } => self.ingest_reaction(&item, *post, true),
            Payload::Settings { visible_days } => self
                .inner
                .store
                .put_moment_item(&item)
                .and_then(|_| {
                    self.inner
                        .store
                        .put_moment_settings(&author, item.body.at, *visible_days)
                })
                .map(|_| Verdict::Accept),
        };
        // A store error is ours, not the sender's.
        r.unwrap_or_else(|e| Verdict::Ignore(e.into()))
    }

    fn ingest_post(&self, item: &Item, id: ItemId) -> Result<Verdict, StoreError> {
        let store = &self.inner.store;
        if store.is_post_deleted(&id, &item.body.author)? {
            return Ok(Verdict::Reject(Rejection::Deleted));
        }
        let opened = match open_post(&self.inner.identity.key, item) {
            Ok(o) => Some(o),
            Err(MomentError::NotForUs) => None,
            Err(e) => return Ok(Verdict::Reject(Rejection::UnreadablePost(e))),
        };
        store.put_moment_item(item)?;
        let Some((key, content)) = opened else {
            return Ok(Verdict::Accept); // kept, encrypted, to serve others
        };
        store.put_post(
            &id,
            &PostRecord {
                author: item.body.author,
                at: item.body.at,
                key,
                content,
            },
        )?;
        self.emit(MomentsEvent::MomentPost {
            id,
            author: item.body.author,
        });
        // Reactions (and a tombstone) that arrived before the post.
        for other in store.moment_items_about(&item.body.author, &id)? {
            match other.body.payload {
                Payload::Reaction { .. } => {
                    if let Ok(Verdict::Reject(_)) = self.ingest_reaction(&other, id, false) {
                        store.remove_moment_item(&other.id())?;
                    }
                }
                Payload::Tombstone { .. } => {
                    store.delete_post(&id, &other.body.author, &other.id())?;
                }
                _ => {}
            }
        }
        Ok(Verdict::Accept)
    }

    fn ingest_tombstone(
        &self,
        item: &Item,
        id: ItemId,
        post: ItemId,
    ) -> Result<Verdict, StoreError> {
        let store = &self.inner.store;
        if let Some(p) = store.moment_item(&post)? {
            if p.body.author != item.body.signer || !matches!(p.body.payload, Payload::Post { .. })
            {
                return Ok(Verdict::Reject(Rejection::ForeignTombstone));
            }
        }
        store.put_moment_item(item)?;
        let had = store.post(&post)?.is_some();
        // Keyed by the signer: if the post is not here yet, this tombstone
        // refuses only a post by the same author.
        store.delete_post(&post, &item.body.signer, &id)?;
        if had {
            self.emit(MomentsEvent::MomentDeleted { id: post });
        }
        Ok(Verdict::Accept)
    }

    /// `fresh`: the item is new (store it); false when re-applying a stored one.
    fn ingest_reaction(
        &self,
        item: &Item,
        post: ItemId,
        fresh: bool,
    ) -> Result<Verdict, StoreError> {
        let store = &self.inner.store;
        let from = item.body.signer;
        if store.is_post_deleted(&post, &item.body.author)? {
            return Ok(Verdict::Accept); // nothing to attach it to any more
        }
        let Some(rec) = store.post(&post)? else {
            if let Some(p) = store.moment_item(&post)? {
                if p.body.author != item.body.author {
                    return Ok(Verdict::Reject(Rejection::Misfiled));
                }
            }
            // Post not readable here (or not arrived yet): keep it encrypted
            // only if we can vouch for the signer, so throwaway keys cannot
            // fill the store. Others are relayed, not kept.
            let vouched = from == item.body.author || from == self.me() || self.is_friend(&from);
            if fresh && vouched {
                store.put_moment_item(item)?;
            }
            return Ok(unjudged_reaction(vouched));
        };
        if rec.author != item.body.author {
            return Ok(Verdict::Reject(Rejection::Misfiled));
        }
        // Before opening: a reaction we cannot open is still kept to serve
        // others, so the audience rule must hold for it too.
        if from != rec.author && !rec.content.audience.contains(&from) {
            return Ok(Verdict::Reject(Rejection::OutsideAudience));
        }
        let content = match open_reaction(&self.inner.identity.key, item) {
            Ok(c) => c,
            Err(MomentError::NotForUs) => {
                if fresh {
                    store.put_moment_item(item)?;
                }
                return Ok(Verdict::Accept);
            }
            Err(e) => return Ok(Verdict::Reject(Rejection::UnreadableReaction(e))),
        };
        if fresh {
            store.put_moment_item(item)?;
        }
        let kind = match &content {
            ReactionContent::Like => ReactionKind::Like,
            ReactionContent::Unlike => ReactionKind::Unlike,
            ReactionContent::Comment { .. } => ReactionKind::Comment,
        };
        store.put_reaction(
            &post,
            &ReactionRecord {
                id: item.id(),
                from,
                at: item.body.at,
                content,
            },
        )?;
        self.emit(MomentsEvent::MomentReaction { post, from, kind });
        Ok(Verdict::Accept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Judgement;

    /// Defect 13: a reaction we cannot judge is ignored (not relayed, not
    /// punished); one from a signer we vouch for is kept and relayed; a
    /// store failure is never the sender's fault.
    #[test]
    fn what_a_reader_cannot_judge_is_ignored_not_rejected() {
        assert_eq!(unjudged_reaction(false).judgement(), Judgement::Ignore);
        assert_eq!(unjudged_reaction(true).judgement(), Judgement::Accept);
        let store = Verdict::Ignore(Rejection::Store(StoreError::Corrupt("t", "x".into())));
        assert_eq!(store.judgement(), Judgement::Ignore);
        assert_eq!(
            Verdict::Reject(Rejection::Misfiled).judgement(),
            Judgement::Reject
        );
    }
}
