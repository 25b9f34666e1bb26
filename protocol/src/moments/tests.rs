//! Unit tests of `moments.rs` (a file of their own, so the module stays short).

use super::*;

fn key() -> AccountKey {
    AccountKey::generate().unwrap()
}

#[test]
fn only_the_audience_opens_a_post() {
    let (a, b, c) = (key(), key(), key());
    let content = PostContent {
        text: "hello B".into(),
        images: vec![],
        link: None,
        audience: vec![b.account_id()],
    };
    let k = new_key().unwrap();
    let item = make_post(&a, &content, &k, 100, &[]).unwrap();
    let back = Item::from_bytes(&item.to_bytes()).unwrap();
    assert_eq!(back, item);
    assert_eq!(open_post(&b, &item).unwrap().1, content);
    assert_eq!(open_post(&a, &item).unwrap().1, content);
    assert_eq!(open_post(&c, &item).unwrap_err(), MomentError::NotForUs);
    // No plaintext on the wire.
    let bytes = item.to_bytes();
    assert!(!bytes.windows(7).any(|w| w == b"hello B"));
}

#[test]
fn forged_and_misattributed_items_are_refused() {
    let (a, x) = (key(), key());
    let content = PostContent {
        text: "hi".into(),
        images: vec![],
        link: None,
        audience: vec![],
    };
    let item = make_post(&a, &content, &new_key().unwrap(), 1, &[]).unwrap();
    // Signed by X but claiming A's topic.
    let mut body = item.body.clone();
    body.signer = x.account_id();
    assert_eq!(Item::sign(&x, body).unwrap_err(), MomentError::NotAuthor);
    // Tampered after signing.
    let mut t = item.clone();
    t.body.at += 1;
    assert_eq!(t.check().unwrap_err(), MomentError::BadSignature);
    // Garbage and oversized bytes.
    assert!(Item::from_bytes(&[0xff; 10]).is_err());
    assert!(Item::from_bytes(&vec![0; MAX_ITEM + 1]).is_err());
    // Over-long text.
    let big = PostContent {
        text: "x".repeat(MAX_TEXT + 1),
        ..content
    };
    assert!(make_post(&a, &big, &new_key().unwrap(), 1, &[]).is_err());
}

#[test]
fn reactions_reach_only_their_readers() {
    let (a, b, c, e) = (key(), key(), key(), key());
    let r = make_reaction(
        &c,
        a.account_id(),
        [7; 32],
        &ReactionContent::Comment {
            text: "nice".into(),
            reply_to: None,
        },
        &[b.account_id()],
        5,
    )
    .unwrap();
    r.check().unwrap();
    assert!(open_reaction(&a, &r).is_ok());
    assert!(open_reaction(&b, &r).is_ok());
    assert!(open_reaction(&c, &r).is_ok());
    assert_eq!(open_reaction(&e, &r).unwrap_err(), MomentError::NotForUs);
}

proptest::proptest! {
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
        proptest::prop_assert!(Item::from_bytes(&bytes).is_err());
        let _ = crate::decode::<Item>(crate::Kind::MomentItem, &bytes);
        let _ = crate::decode::<SyncRequest>(crate::Kind::SyncRequest, &bytes);
        let _ = crate::decode::<SyncReply>(crate::Kind::SyncReply, &bytes);
        let me = AccountKey::from_bytes(&[5; 32]).unwrap();
        let eph: [u8; 32] = bytes.get(..32).and_then(|b| b.try_into().ok()).unwrap_or([9; 32]);
        proptest::prop_assert!(unwrap(&me, &eph, std::slice::from_ref(&bytes)).is_err());
    }

    #[test]
    fn any_post_text_round_trips(text in ".{1,200}", at in 0u64..4_000_000_000) {
        let a = AccountKey::from_bytes(&[6; 32]).unwrap();
        // Whitespace alone is not a post (refused as empty): lead with a letter.
        let c = PostContent { text: format!("x{text}"), images: vec![], link: None, audience: vec![] };
        let item = make_post(&a, &c, &[1; 32], at, &[]).unwrap();
        let bytes = crate::encode(crate::Kind::MomentItem, &item).unwrap();
        let back: Item = crate::decode(crate::Kind::MomentItem, &bytes).unwrap();
        proptest::prop_assert_eq!(&back, &item);
        proptest::prop_assert_eq!(open_post(&a, &back).unwrap().1, c);
    }
}

#[test]
fn image_encryption_round_trips_and_detects_tampering() {
    let k = new_key().unwrap();
    let ct = encrypt(&k, 1, b"pixels").unwrap();
    assert_eq!(decrypt(&k, 1, &ct).unwrap(), b"pixels");
    assert!(decrypt(&k, 2, &ct).is_err());
    let mut bad = ct.clone();
    bad[0] ^= 1;
    assert!(decrypt(&k, 1, &bad).is_err());
}
