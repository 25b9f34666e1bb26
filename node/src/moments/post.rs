//! What the user writes: posts, tombstones (delete), likes and comments, and
//! the "last N days" setting. Each is signed, stored and flushed before the
//! call returns (so it survives a crash and we can serve it to backfills),
//! then published on our topic; friends who were offline backfill it later.

use weft_protocol::{
    blob::parse_blob_hex,
    hex,
    moments::{self, ImageRef, Item, ItemBody, Link, Payload, PostContent, ReactionContent},
    AccountId, Kind,
};

use super::{Audience, Moments, MomentsError, MomentsEvent};
use crate::net::Topic;
use crate::store::moments::{PostRecord, ReactionRecord};
use crate::store::{Store, StoreError};

/// The AEAD tag sealed images carry: a staged blob's size minus this is the
/// image's own size.
const IMAGE_TAG_BYTES: u64 = 16;

impl Moments {
    /// `moments post`: returns the post id.
    pub async fn post(
        &self,
        text: &str,
        images: &[String],
        link: Option<Link>,
        audience: &Audience,
    ) -> Result<String, MomentsError> {
        let audience = self.resolve_audience(audience)?;
        let mut refs = Vec::with_capacity(images.len());
        for i in images {
            let blob = parse_blob_hex(i).ok_or_else(|| MomentsError::NotAnImageId(i.clone()))?;
            let key = self
                .inner
                .store
                .staged_image(&blob)?
                .ok_or_else(|| MomentsError::ImageNotStaged(i.clone()))?;
            let size = self
                .inner
                .store
                .manifest(&blob)?
                .map(|m| m.size.saturating_sub(IMAGE_TAG_BYTES))
                .unwrap_or(0);
            refs.push(ImageRef { blob, size, key });
        }
        let content = PostContent {
            text: text.to_string(),
            images: refs,
            link,
            audience,
        };
        let key = moments::new_key()?;
        // Every device of the readers and our other devices get a wrap too.
        let mut accounts = content.audience.clone();
        accounts.push(self.me());
        let devices = self.inner.chat.endpoints_for(&accounts);
        let item = moments::make_post(
            self.inner.identity.account_key()?,
            &content,
            &key,
            weft_protocol::unix_now(),
            &devices,
        )?;
        let id = item.id();
        let rec = PostRecord {
            author: self.me(),
            at: item.body.at,
            key,
            content,
        };
        self.keep_and_publish(&item, |store| store.put_post(&id, &rec))
            .await?;
        Ok(hex::encode(&id))
    }

    /// Stores an item we made, then `record` (our own view of it), flushes,
    /// and gossips the item: persisted before we answer and before anyone
    /// can ask us for it.
    async fn keep_and_publish(
        &self,
        item: &Item,
        record: impl FnOnce(&Store) -> Result<(), StoreError>,
    ) -> Result<(), MomentsError> {
        self.inner.store.put_moment_item(item)?;
        record(&self.inner.store)?;
        self.inner.store.flush_async().await?;
        self.publish(item).await;
        Ok(())
    }

    /// Signs an item of our own with `payload`, dated now.
    fn sign_own(&self, payload: Payload) -> Result<Item, MomentsError> {
        Ok(Item::sign(
            self.inner.identity.account_key()?,
            ItemBody {
                author: self.me(),
                signer: self.me(),
                at: weft_protocol::unix_now(),
                payload,
            },
        )?)
    }

    /// Gossips an item we already stored on its author's topic.
    async fn publish(&self, item: &Item) {
        let Ok(bytes) = weft_protocol::encode(Kind::MomentItem, item) else {
            return;
        };
        let Some(tag) = self.tag_of(&item.body.author) else {
            tracing::warn!("no Moments topic key yet; friends will backfill");
            return;
        };
        // No friend online is not an error: they backfill when they return.
        if let Err(e) = self.inner.net.publish(Topic::Moments(tag), bytes).await {
            tracing::debug!(error = %e, "moments item not gossiped now; friends will backfill");
        }
    }

    /// `moments delete`: a signed tombstone.
    pub async fn delete(&self, post: &str) -> Result<(), MomentsError> {
        let (id, rec) = self.stored_post(post)?;
        if rec.author != self.me() {
            return Err(MomentsError::NotYours);
        }
        let item = self.sign_own(Payload::Tombstone { post: id })?;
        self.inner.store.delete_post(&id, &rec.author, &item.id())?;
        self.keep_and_publish(&item, |_| Ok(())).await?;
        self.emit(MomentsEvent::MomentDeleted { id });
        Ok(())
    }

    /// `moments like` / `unlike` / `comment`: returns the reaction id.
    pub async fn react(
        &self,
        post: &str,
        content: ReactionContent,
    ) -> Result<String, MomentsError> {
        let (id, rec) = self.stored_post(post)?;
        if let ReactionContent::Comment {
            reply_to: Some(r), ..
        } = &content
        {
            let known = self.inner.store.reactions(&id)?.iter().any(|x| x.id == *r);
            if !known {
                return Err(MomentsError::UnknownPost(format!(
                    "comment {}",
                    hex::encode(r)
                )));
            }
        }
        // Readers: the author, and those in the audience who are our friends
        // (the author's audience are all the author's friends).
        let readers: Vec<AccountId> = if rec.author == self.me() {
            rec.content.audience.clone()
        } else {
            rec.content
                .audience
                .iter()
                .filter(|a| self.is_friend(a))
                .copied()
                .collect()
        };
        // Every device of those readers (and of the author and us) too.
        let mut accounts = readers;
        accounts.extend([rec.author, self.me()]);
        let readers = self.inner.chat.endpoints_for(&accounts);
        let item = moments::make_reaction(
            self.inner.identity.account_key()?,
            rec.author,
            id,
            &content,
            &readers,
            weft_protocol::unix_now(),
        )?;
        let rid = item.id();
        let rec = ReactionRecord {
            id: rid,
            from: self.me(),
            at: item.body.at,
            content,
        };
        self.keep_and_publish(&item, |store| store.put_reaction(&id, &rec))
            .await?;
        Ok(hex::encode(&rid))
    }

    /// Sets how many days back friends may see our posts (0 = everything).
    /// Signed and published, so holders serving backfills honour it too.
    pub async fn set_visible_days(&self, days: u32) -> Result<(), MomentsError> {
        let item = self.sign_own(Payload::Settings { visible_days: days })?;
        let me = self.me();
        self.keep_and_publish(&item, |store| {
            store.put_moment_settings(&me, item.body.at, days)
        })
        .await?;
        Ok(())
    }
}
