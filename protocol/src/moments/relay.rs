//! What a relay checks before it forwards an item on a Moments topic
//! (`weft/moments/<tag>`), without any key: size, envelope, structure and
//! signature ([`Item::check`]) and freshness ([`check_item`]). That the
//! author is the one the topic is named for needs the author's topic key
//! ([`check_topic`]); readers (who hold it) check that, then decryption,
//! audience and tombstone author, in the node's Moments service.

use super::{Item, MomentError};
use crate::{AccountId, DecodeError, Kind};

/// Gossip older than this is a replay; backfill brings older items.
pub const FRESHNESS_SECS: u64 = 24 * 3600;
/// Clock skew tolerated for items from the future.
pub const SKEW_SECS: u64 = 600;

/// Why a relay refused a Moments item.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    /// The bytes are not a Moments item envelope.
    #[error("not a Moments item: {0}")]
    Decode(#[from] DecodeError),
    /// Bounds, signer rule or signature do not check out.
    #[error("invalid Moments item: {0}")]
    Invalid(#[from] MomentError),
    /// The item belongs to another author's topic.
    #[error("item by {author} on another author's topic")]
    WrongTopic {
        /// The item's author.
        author: AccountId,
    },
    /// Outside the freshness window: a replay, or a wrong clock.
    #[error("item dated {at} is stale or from the future (now {now}; a replay?)")]
    NotFresh {
        /// The item's own timestamp (Unix seconds).
        at: u64,
        /// The relay's clock (Unix seconds).
        now: u64,
    },
}

/// Decodes an item and runs the checks that need no key nor clock
/// ([`Item::check`]): what both gossip and backfill require.
pub fn decode_item(data: &[u8]) -> Result<Item, RelayError> {
    let item: Item = crate::decode(Kind::MomentItem, data)?;
    item.check()?;
    Ok(item)
}

/// The relay check of one gossip message on a Moments topic at time `now`:
/// [`decode_item`] and freshness.
pub fn check_item(data: &[u8], now: u64) -> Result<Item, RelayError> {
    let item = decode_item(data)?;
    let at = item.body.at;
    if at > now + SKEW_SECS || at + FRESHNESS_SECS < now {
        return Err(RelayError::NotFresh { at, now });
    }
    Ok(item)
}

/// The reader's check that `item` was published on its author's topic
/// (`tag`) under the author's topic key `key`.
pub fn check_topic(item: &Item, tag: &[u8; 16], key: &super::TopicKey) -> Result<(), RelayError> {
    let author = item.body.author;
    if super::topic_tag(&author, key) != *tag {
        return Err(RelayError::WrongTopic { author });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::moments::{make_post, new_key, PostContent};
    use crate::AccountKey;

    fn post(key: &AccountKey, at: u64) -> Item {
        let content = PostContent {
            text: "hi".into(),
            images: vec![],
            link: None,
            audience: vec![],
        };
        make_post(key, &content, &new_key().unwrap(), at, &[]).unwrap()
    }

    fn bytes(item: &Item) -> Vec<u8> {
        crate::encode(Kind::MomentItem, item).unwrap()
    }

    #[test]
    fn a_fresh_item_on_its_authors_topic_passes() {
        let a = AccountKey::generate().unwrap();
        let now = 1_000_000;
        let item = post(&a, now);
        assert_eq!(check_item(&bytes(&item), now), Ok(item.clone()));
        let key = [5; 32];
        let tag = crate::moments::topic_tag(&a.account_id(), &key);
        assert_eq!(check_topic(&item, &tag, &key), Ok(()));
    }

    #[test]
    fn relays_refuse_misfiled_stale_future_and_garbage_items() {
        let a = AccountKey::generate().unwrap();
        let me = a.account_id();
        let other = AccountKey::generate().unwrap().account_id();
        let now = 1_000_000;
        let item = post(&a, now);
        let b = bytes(&item);
        let key = [5; 32];
        let others = crate::moments::topic_tag(&other, &key);
        assert_eq!(
            check_topic(&item, &others, &key),
            Err(RelayError::WrongTopic { author: me })
        );
        let under_another_key = crate::moments::topic_tag(&me, &[6; 32]);
        assert!(check_topic(&item, &under_another_key, &key).is_err());
        assert!(matches!(
            check_item(&b, now + FRESHNESS_SECS + 1),
            Err(RelayError::NotFresh { .. })
        ));
        assert!(matches!(
            check_item(&b, now - SKEW_SECS - 1),
            Err(RelayError::NotFresh { .. })
        ));
        assert!(matches!(
            check_item(b"garbage", now),
            Err(RelayError::Decode(_))
        ));
    }

    #[test]
    fn a_tampered_item_is_invalid() {
        let a = AccountKey::generate().unwrap();
        let mut item = post(&a, 1_000);
        item.body.at += 1;
        assert_eq!(
            decode_item(&bytes(&item)),
            Err(RelayError::Invalid(MomentError::BadSignature))
        );
    }
}
