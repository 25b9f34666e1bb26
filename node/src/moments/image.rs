//! Images: encrypted with their own key before they become blobs, so holders
//! and relays store only ciphertext; the key travels inside the (encrypted)
//! post. A reader fetches an image only when it is looked at, from whoever
//! may hold it: the peers the caller names, the author's device, then any
//! connected peer.

use std::collections::HashSet;

use libp2p::PeerId;
use weft_protocol::{hex, moments};

use super::{Moments, MomentsError};
use crate::net::card_peer;

/// Most holders asked for an image.
const MAX_HOLDERS: usize = 12;

impl Moments {
    /// Encrypts an image and stores it as a blob, ready to be attached to a
    /// post; returns the blob id. The plaintext is never stored.
    pub async fn stage_image(&self, bytes: &[u8]) -> Result<String, MomentsError> {
        if bytes.is_empty() || bytes.len() > moments::MAX_IMAGE_BYTES {
            return Err(MomentsError::ImageSize(bytes.len()));
        }
        let key = moments::new_key()?;
        let sealed = moments::encrypt(&key, 0, bytes)?;
        let id = self.inner.blobs.add(&sealed).await?;
        self.inner.store.stage_image(&id, &key)?;
        self.inner.store.flush_async().await?;
        Ok(hex::encode(&id))
    }

    /// A post's image `index`, decrypted: fetched first (from `from`, then the
    /// author's device, then connected peers) if not stored here.
    pub async fn image(
        &self,
        post: &str,
        index: usize,
        from: &[PeerId],
    ) -> Result<Vec<u8>, MomentsError> {
        let (_, p) = self.stored_post(post)?;
        let img = p
            .content
            .images
            .get(index)
            .ok_or(MomentsError::NoSuchImage {
                count: p.content.images.len(),
                index,
            })?;
        if self.inner.blobs.get(&img.blob)?.is_none() {
            let mut holders: Vec<PeerId> = from.to_vec();
            if let Some(peer) = self
                .inner
                .store
                .contact(&p.author)?
                .and_then(|c| c.card)
                .and_then(|c| card_peer(&c))
            {
                holders.push(peer);
            }
            for peer in self.inner.net.peers().await.unwrap_or_default() {
                holders.push(peer.peer_id);
            }
            let mut seen = HashSet::new();
            holders.retain(|h| seen.insert(*h));
            holders.truncate(MAX_HOLDERS);
            self.inner.blobs.fetch(&img.blob, &holders).await?;
        }
        let sealed = self
            .inner
            .blobs
            .get(&img.blob)?
            .ok_or(MomentsError::ImageIncomplete)?;
        let plain =
            moments::decrypt(&img.key, 0, &sealed).map_err(|_| MomentsError::ImageUndecryptable)?;
        Ok(plain)
    }
}
