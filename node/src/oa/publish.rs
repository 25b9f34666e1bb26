//! Publishing a post: every image must be here first (followers fetch them
//! from us), the kind's quota is checked before signing, and the post is
//! stored durably before it is gossiped, so backfill can hand it out even if
//! no follower was online to receive it live.

use weft_protocol::{
    blob::BlobId,
    oa::{over_quota, Broadcast, BroadcastBody, Part},
    Kind,
};

use crate::net::Topic;

use super::{Oa, OaServiceError, Published};

impl Oa {
    /// `oa publish`: refuses over quota; stores, then gossips.
    pub async fn publish(
        &self,
        oa: &str,
        title: &str,
        body: &str,
        link: Option<String>,
        parts: Vec<Part>,
        images: Vec<BlobId>,
    ) -> Result<Published, OaServiceError> {
        let (account, owned) = self.owned(oa)?;
        for id in &images {
            if self.inner.blobs.get(id)?.is_none() {
                return Err(OaServiceError::MissingImage(*id));
            }
        }
        let store = &self.inner.ctx.store;
        let slot_guard = self.inner.publishing.lock().await;
        let now = weft_protocol::unix_now();
        let period = owned.kind.period_of(now);
        let used = store
            .broadcasts(&account, 64)?
            .iter()
            .filter(|b| b.body.period == period)
            .count() as u32;
        if used >= owned.kind.quota() {
            return Err(over_quota(owned.kind).into());
        }
        let profile = self.profile_of(&account, &owned).await?;
        let b = Broadcast::new(
            &self.key(&account)?,
            BroadcastBody {
                profile,
                period,
                seq: used + 1,
                published_at: now,
                title: title.to_string(),
                body: body.to_string(),
                link,
                parts,
                images,
            },
        )?;
        let bytes = weft_protocol::encode(Kind::OaBroadcast, &b)?;
        store.put_broadcast(&b)?;
        store.flush_async().await?;
        drop(slot_guard);
        let gossiped = self
            .inner
            .ctx
            .net
            .publish(Topic::Oa(account), bytes)
            .await
            .is_ok();
        Ok(Published {
            gossiped,
            id: weft_protocol::hex::encode(&b.id()),
        })
    }
}
