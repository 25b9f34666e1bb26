//! The relay's check of a Moments gossip message, kept here verbatim while
//! the relay checks move into `protocol/` (see issue #12); the network task
//! calls [`check_gossip`] before a message reaches the service. This file
//! goes away when that move lands.

use weft_protocol::{
    moments::{topic, Item},
    Kind,
};

/// Gossip older than this is a replay; backfill brings older items.
const FRESHNESS_SECS: u64 = 24 * 3600;
/// Clock skew tolerated for items from the future.
const SKEW_SECS: u64 = 600;

/// The relay's check of a Moments gossip message (no keys needed).
pub fn check_gossip(topic_name: &str, data: &[u8], now: u64) -> Result<(), String> {
    let item = decode_item(data)?;
    if topic(&item.body.author) != topic_name {
        return Err("item belongs to another author's topic".into());
    }
    let at = item.body.at;
    if at > now + SKEW_SECS || at + FRESHNESS_SECS < now {
        return Err("item is stale or from the future (a replay?)".into());
    }
    Ok(())
}

fn decode_item(data: &[u8]) -> Result<Item, String> {
    let item: Item = weft_protocol::decode(Kind::MomentItem, data).map_err(|e| e.to_string())?;
    item.check().map_err(|e| e.to_string())?;
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_protocol::moments::{self, PostContent};
    use weft_protocol::AccountKey;

    #[test]
    fn relays_refuse_misfiled_stale_and_garbage_items() {
        let a = AccountKey::generate().unwrap();
        let now = 1_000_000;
        let content = PostContent {
            text: "hi".into(),
            images: vec![],
            link: None,
            audience: vec![],
        };
        let post = moments::make_post(&a, &content, &moments::new_key().unwrap(), now).unwrap();
        let bytes = weft_protocol::encode(Kind::MomentItem, &post).unwrap();
        check_gossip(&topic(&a.account_id()), &bytes, now).unwrap();
        let other = AccountKey::generate().unwrap().account_id();
        assert!(check_gossip(&topic(&other), &bytes, now).is_err());
        assert!(check_gossip(&topic(&a.account_id()), &bytes, now + FRESHNESS_SECS + 1).is_err());
        assert!(check_gossip(&topic(&a.account_id()), b"garbage", now).is_err());
    }
}
