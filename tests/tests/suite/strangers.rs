//! Strangers with free keys cannot grow a node's friend requests without
//! bound: Mallory sends a friend request from each of many fresh accounts,
//! and the node keeps at most its cap of unanswered ones.

use libp2p::identity::Keypair;
use weft_protocol::{chat::ChatKind, AccountId, AccountKey};
use weft_tests::hostile::connect;
use weft_tests::mallory::{self, deliver, sealed};
use weft_tests::{s, Weft};

use crate::BIN;

/// The node's cap on unanswered requests (`chat::inbound::MAX_PENDING_REQUESTS`).
const CAP: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friend_requests_from_throwaway_accounts_are_capped() {
    let w = Weft::new(BIN);
    let a = w.home("a");
    w.init(&a, "Ada").await;
    let _na = w.up(&a, &[]).await;
    let a_id: AccountId = w.account(&a).await.parse().unwrap();
    let mut m = mallory::swarm(Keypair::generate_ed25519());
    let node = connect(&mut m, &w.dial_addr(&a).await).await;
    for i in 0..CAP + 20 {
        let key = AccountKey::generate().unwrap();
        let card = mallory::card(&key, &Keypair::generate_ed25519(), &format!("Spam {i}"));
        let request = ChatKind::FriendRequest {
            card,
            greeting: "hi".into(),
        };
        let item = sealed(&key, key.account_id(), a_id, 1, request);
        let ack = deliver(&mut m, node, &key, key.account_id(), a_id, vec![item]).await;
        assert!(ack.is_some(), "the node stopped answering at request {i}");
    }
    let pending = w.json(&["contacts", "requests", "--home", s(&a)]).await;
    let n = pending.as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(n, CAP, "unanswered friend requests kept");
}
