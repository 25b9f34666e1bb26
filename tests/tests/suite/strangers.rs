//! Strangers with free keys cannot grow a node's friend requests without
//! bound: Mallory sends a friend request from each of many fresh accounts;
//! the node takes strangers' requests at a shared rate (and keeps at most a
//! cap of unanswered ones), and leaves the rest unacknowledged so that an
//! honest sender retries later instead of losing its request.

use libp2p::identity::Keypair;
use weft_protocol::{chat::ChatKind, AccountId, AccountKey};
use weft_tests::hostile::connect;
use weft_tests::mallory::{self, deliver, sealed};
use weft_tests::{s, Weft};

use crate::BIN;

/// Strangers' requests the node takes per window
/// (`chat::inbound::STRANGER_REQUESTS`).
const RATE: usize = 30;

/// Delivers `item` in a session of the stranger `key`; the node's ack and
/// the item's hash.
async fn from_stranger(
    m: &mut libp2p::Swarm<mallory::Mallory>,
    node: libp2p::PeerId,
    key: &AccountKey,
    to: AccountId,
    item: Vec<u8>,
    i: impl std::fmt::Display,
) -> (weft_protocol::chat::DeliveryAck, [u8; 32]) {
    let ack = deliver(m, node, key, key.account_id(), to, vec![item.clone()])
        .await
        .unwrap_or_else(|| panic!("the node stopped answering at item {i}"));
    (ack, weft_protocol::chat::item_hash(&item))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friend_requests_from_throwaway_accounts_are_rate_limited() {
    let w = Weft::new(BIN);
    let a = w.home("a");
    w.init(&a, "Ada").await;
    let _na = w.up(&a, &[]).await;
    let a_id: AccountId = w.account(&a).await.parse().unwrap();
    let mut m = mallory::swarm(Keypair::generate_ed25519());
    let node = connect(&mut m, &w.dial_addr(&a).await).await;
    for i in 0..RATE + 10 {
        let key = AccountKey::generate().unwrap();
        let card = mallory::card(&key, &Keypair::generate_ed25519(), &format!("Spam {i}"));
        let request = ChatKind::FriendRequest {
            card,
            greeting: "hi".into(),
        };
        let item = sealed(&key, key.account_id(), a_id, 1, request);
        let (ack, h) = from_stranger(&mut m, node, &key, a_id, item, i).await;
        if i < RATE {
            assert_eq!(ack.accepted, vec![h], "request {i} within the rate");
        } else {
            // Neither taken nor refused: an honest sender keeps it for later.
            assert!(
                ack.accepted.is_empty() && ack.rejected.is_empty(),
                "request {i} past the rate was answered {ack:?}"
            );
        }
    }
    let pending = w.json(&["contacts", "requests", "--home", s(&a)]).await;
    let n = pending.as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(n, RATE, "unanswered friend requests kept");
}

/// Defect 10 (seen ids): what strangers send (texts, accepts of requests
/// nobody made, receipts, Moments keys) is answered, but remembers no
/// message id: fresh keys are free, and each id kept would grow the index
/// for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_strangers_send_leaves_no_message_ids_behind() {
    let w = Weft::new(BIN);
    let a = w.home("a");
    w.init(&a, "Ada").await;
    let mut na = w.up(&a, &[]).await;
    let a_id: AccountId = w.account(&a).await.parse().unwrap();
    let mut m = mallory::swarm(Keypair::generate_ed25519());
    let node = connect(&mut m, &w.dial_addr(&a).await).await;
    let mut ids = Vec::new();
    for i in 0..40u64 {
        let key = AccountKey::generate().unwrap();
        let kind = match i % 4 {
            0 => mallory::text("hello"),
            1 => ChatKind::FriendAccept {
                card: mallory::card(&key, &Keypair::generate_ed25519(), "Spam"),
            },
            2 => ChatKind::Receipt {
                read: true,
                ids: vec![weft_protocol::chat::MsgId([i as u8; 32])],
            },
            _ => ChatKind::MomentsKey { key: [i as u8; 32] },
        };
        let body = mallory::body(key.account_id(), a_id, 1, kind);
        ids.push(body.id());
        let item = mallory::seal_body(&key, &body);
        let (ack, h) = from_stranger(&mut m, node, &key, a_id, item, i).await;
        assert!(
            ack.accepted.contains(&h) || ack.rejected.contains(&h),
            "item {i} answered: {ack:?}"
        );
    }
    na.signal("TERM").await;
    na.wait_exit(std::time::Duration::from_secs(30))
        .await
        .expect("the node stopped");
    let store = weft_node::store::Store::open(&weft_node::Home::new(&a).store_dir())
        .expect("the store opens");
    let kept: Vec<usize> = (0..ids.len())
        .filter(|&i| store.has_message(&ids[i]).unwrap_or(true))
        .collect();
    assert!(kept.is_empty(), "ids of strangers' items kept: {kept:?}");
}
