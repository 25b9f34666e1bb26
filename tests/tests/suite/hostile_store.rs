//! Hostile peers against what a node stores for others (issue 13):
//! junk left in someone's offline mailbox at every holder, and a flood of
//! reactions from throwaway keys on a friend's Moments topic. The real mail
//! still arrives; every friend's feed and backfill stay intact.

use std::time::Duration;

use libp2p::identity::Keypair;
use serde_json::{json, Value};
use weft_protocol::{
    chat::{item_hash, MIN_SEALED_BYTES},
    mailbox::{MailboxReply, MailboxRequest, MAX_ITEMS_PER_MESSAGE},
    AccountId,
};
use weft_tests::hostile::connect;
use weft_tests::mallory::{self, mailbox_request};
use weft_tests::{wait_for, Weft};

use crate::BIN;

const T: Duration = Duration::from_secs(30);

/// `n` items of junk for a mailbox, each ground until its hash starts with
/// a zero byte: holders keep mail in hash order, so the junk sorts in front
/// of any real mail (but for 1 in 256) and fills the first page of a fetch.
fn junk(n: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(n);
    let mut counter: u64 = 0;
    while out.len() < n {
        counter += 1;
        let mut item = vec![0x5a; MIN_SEALED_BYTES + 40];
        item[..8].copy_from_slice(&counter.to_be_bytes());
        if item_hash(&item)[0] == 0 {
            out.push(item);
        }
    }
    out
}

/// Acceptance 5 (defect 3): a hostile peer leaves a full page of junk for
/// Bao at every holder. Bao still receives Ada's offline mail: he refuses
/// the junk, the holders delete it, and his fetch pages past it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_at_every_holder_does_not_block_offline_mail() {
    let w = Weft::new(BIN);
    let (a, b, c, d) = (w.home("a"), w.home("b"), w.home("c"), w.home("d"));
    for (h, n) in [(&a, "Ada"), (&b, "Bao"), (&c, "Chen"), (&d, "Dara")] {
        w.init(h, n).await;
    }
    let nc = w.up(&c, &[]).await;
    let c_addr = w.dial_addr(&c).await;
    let nd = w.up(&d, &["--bootstrap", &c_addr]).await;
    let mut na = w.up(&a, &["--bootstrap", &c_addr]).await;
    let mut nb = w.up(&b, &["--bootstrap", &c_addr]).await;
    w.befriend(&a, &b).await;
    let (a_id, b_id) = (w.account(&a).await, w.account(&b).await);
    let bao: AccountId = b_id.parse().unwrap();
    nb.signal("TERM").await;
    assert!(nb.wait_exit(Duration::from_secs(5)).await.is_some());

    // Mallory fills Bao's mailbox at both holders with a page of junk.
    let mut m = mallory::swarm(Keypair::generate_ed25519());
    for addr in [c_addr.clone(), w.dial_addr(&d).await] {
        let holder = connect(&mut m, &addr).await;
        let deposit = MailboxRequest::Deposit {
            to: bao,
            items: junk(MAX_ITEMS_PER_MESSAGE),
        };
        let reply = mailbox_request(&mut m, holder, &deposit).await;
        assert!(
            matches!(reply, MailboxReply::Deposited { accepted } if accepted as usize == MAX_ITEMS_PER_MESSAGE),
            "the holder did not take the junk: {reply:?}"
        );
    }

    // Ada writes while Bao is away; her mail goes to the holders, then she leaves too.
    let sent: Value = w
        .client(&a)
        .post(
            "/v1/chat/send",
            &json!({"to": b_id, "text": "mail behind the junk"}),
        )
        .await
        .unwrap();
    let id = sent["id"].as_str().unwrap().to_string();
    let stored = w
        .log_shows(&a, &b_id, T, |m| {
            m["id"] == id.as_str() && m["status"] == "stored"
        })
        .await;
    assert!(stored, "Ada's message was not left with a holder");
    na.signal("TERM").await;
    assert!(na.wait_exit(Duration::from_secs(5)).await.is_some());

    let _nb = w.up(&b, &["--bootstrap", &c_addr]).await;
    let arrived = w.log_shows(&b, &a_id, T, |m| m["id"] == id.as_str()).await;
    assert!(
        arrived,
        "Bao never got Ada's held mail; holder logs:\n{}\n{}",
        nc.log(),
        nd.log()
    );
}

#[derive(libp2p::swarm::NetworkBehaviour)]
struct Flooder {
    gossip: libp2p::gossipsub::Behaviour,
    sync: libp2p::request_response::Behaviour<weft_tests::hostile::RawCodec>,
}

/// A reaction on `author`'s topic to `post`, signed by a throwaway key,
/// wrapped for no one who exists: only a relay's checks can be run on it.
fn throwaway_reaction(author: AccountId, post: [u8; 32], at: u64) -> Vec<u8> {
    use weft_protocol::moments::{Item, ItemBody, Payload, ITEM_CONTEXT};
    let x = weft_protocol::AccountKey::generate().unwrap();
    let body = ItemBody {
        author,
        signer: x.account_id(),
        at,
        payload: Payload::Reaction {
            post,
            eph: rand_bytes(),
            wraps: vec![[rand_bytes().as_slice(), &[0u8; 16]].concat()],
            sealed: rand_bytes().to_vec(),
        },
    };
    let signature = x.sign(ITEM_CONTEXT, &postcard::to_stdvec(&body).unwrap());
    weft_protocol::encode(weft_protocol::Kind::MomentItem, &Item { body, signature }).unwrap()
}

fn rand_bytes() -> [u8; 32] {
    weft_protocol::moments::new_key().unwrap()
}

/// Every item id `node` serves on `author`'s topic over `/weft/sync/1`,
/// following its pages.
async fn served_ids(
    f: &mut libp2p::Swarm<Flooder>,
    node: libp2p::PeerId,
    author: AccountId,
    proof: [u8; 16],
) -> Vec<[u8; 32]> {
    use weft_protocol::moments::{Item, SyncFrom, SyncReply, SyncRequest};
    use weft_protocol::Kind;
    use weft_tests::hostile::{frame, raw_answer, unframe};

    let mut from = SyncFrom {
        author,
        at: 0,
        after: None,
        proof,
    };
    let mut ids = Vec::new();
    for _page in 0..30 {
        let req = SyncRequest {
            authors: vec![from.clone()],
        };
        let bytes = weft_protocol::encode(Kind::SyncRequest, &req).unwrap();
        let rid = f.behaviour_mut().sync.send_request(&node, frame(&bytes));
        let response = raw_answer(f, rid, T, "a sync answer", |e| match e {
            FlooderEvent::Sync(e) => Some(e),
            _ => None,
        })
        .await
        .expect("the sync request failed");
        let reply: SyncReply =
            weft_protocol::decode(Kind::SyncReply, &unframe(&response)).expect("a sync reply");
        let mut last = None;
        for b in &reply.items {
            let item = Item::from_bytes(b).expect("a served item");
            ids.push(item.id());
            last = Some((item.body.at, item.id()));
        }
        match last {
            Some((at, id)) if reply.more => {
                from = SyncFrom {
                    author,
                    at,
                    after: Some(id),
                    proof,
                }
            }
            _ => break,
        }
    }
    ids
}

/// Acceptance 4 (defect 1): a hostile peer floods Ann's Moments topic with
/// 10,000 reactions from fresh keys, half to her real post and half to
/// posts that do not exist. Bao's feed keeps the post, and both Ann's and
/// Bao's nodes still serve it to friends who backfill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_strangers_reactions_evicts_nothing() {
    use futures::StreamExt;
    use libp2p::{
        gossipsub,
        request_response::ProtocolSupport,
        swarm::{Swarm, SwarmEvent},
    };
    use weft_protocol::moments::topic;
    use weft_tests::hostile::{gossip, raw, tcp_swarm};

    const FLOOD: usize = 10_000;
    const BATCH: usize = 500;

    let w = Weft::new(BIN);
    let ((a, _na), (b, nb)) = w.ann_and_bao().await;
    let a_addr = w.dial_addr(&a).await;
    let feed_has = |text: String| {
        let (w, b) = (&w, &b);
        async move {
            wait_for(T, || async {
                w.moments_feed(b)
                    .await
                    .iter()
                    .any(|x| x["text"] == text.as_str())
            })
            .await
        }
    };
    let p = w.moments_post(&a, "real post", &[]).await;
    assert!(
        feed_has("real post".into()).await,
        "the post never reached Bao"
    );
    let post_id: [u8; 32] = weft_protocol::blob::parse_blob_hex(&p).unwrap();
    let ann_id: AccountId = w.account(&a).await.parse().unwrap();

    // Ann's topic is named by a key only her friends hold: Bao leaks it
    // (a stranger could not even find the topic).
    let (topic_key, _nb) = w.leaked_topic_key(&b, nb, &ann_id.to_string(), &a).await;
    assert!(
        feed_has("real post".into()).await,
        "Bao lost the post on restart"
    );
    let proof = weft_protocol::moments::topic_tag(&ann_id, &topic_key);
    let mut f: Swarm<Flooder> = tcp_swarm(Keypair::generate_ed25519(), |key| Flooder {
        gossip: gossip(key, 1 << 20),
        sync: raw("/weft/sync/1", ProtocolSupport::Outbound),
    });
    let t = gossipsub::IdentTopic::new(topic(&ann_id, &topic_key));
    f.behaviour_mut().gossip.subscribe(&t).unwrap();
    let bao_peer = connect(&mut f, &w.dial_addr(&b).await).await;
    loop {
        match tokio::time::timeout(T, f.select_next_some())
            .await
            .expect("Bao's subscription")
        {
            SwarmEvent::Behaviour(FlooderEvent::Gossip(gossipsub::Event::Subscribed {
                topic: s,
                ..
            })) if s == t.hash() => break,
            _ => {}
        }
    }

    // In batches, each closed by an honest post of Ann's.
    for batch in 0..FLOOD / BATCH {
        let now = weft_protocol::unix_now();
        for i in 0..BATCH {
            let target = if i % 2 == 0 { post_id } else { rand_bytes() };
            let _ = f
                .behaviour_mut()
                .gossip
                .publish(t.clone(), throwaway_reaction(ann_id, target, now));
        }
        // Ann's own node posts the marker (a peer score that silences
        // Mallory must not silence the barrier), while Mallory's swarm keeps
        // sending; Bao showing it means the batch reached him before it.
        let text = format!("marker {batch}");
        let seen = async {
            w.moments_post(&a, &text, &[]).await;
            feed_has(text.clone()).await
        };
        tokio::pin!(seen);
        let judged = loop {
            tokio::select! {
                _ = f.select_next_some() => {}
                s = &mut seen => break s,
            }
        };
        assert!(judged, "Bao never judged flood batch {batch}");
    }

    assert!(
        feed_has("real post".into()).await,
        "the post left Bao's feed"
    );
    let from_bao = served_ids(&mut f, bao_peer, ann_id, proof).await;
    assert!(
        from_bao.contains(&post_id),
        "Bao no longer serves Ann's post to friends who backfill ({} items served)",
        from_bao.len()
    );
    let ann_peer = connect(&mut f, &a_addr).await;
    let from_ann = served_ids(&mut f, ann_peer, ann_id, proof).await;
    assert!(
        served_ids(&mut f, ann_peer, ann_id, [0; 16])
            .await
            .is_empty(),
        "Ann serves her items to someone who cannot prove her topic key"
    );
    assert!(
        from_ann.contains(&post_id),
        "Ann's own node no longer serves her post ({} items served)",
        from_ann.len()
    );
}

/// Defect 4: a session costs the node at most one batch of Noise opens.
/// More items than a batch drop the session unread; an item too short to
/// be sealed mail is refused without Noise work, and the first refused item
/// ends the session (what follows is neither accepted nor rejected).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_is_capped_and_stops_at_the_first_bad_item() {
    use weft_protocol::chat::MAX_DELIVERY_ITEMS;
    use weft_tests::mallory::{deliver_own, sealed, text};

    let w = Weft::new(BIN);
    let a = w.home("a");
    w.init(&a, "Ada").await;
    let _na = w.up(&a, &[]).await;
    let ada: AccountId = w.account(&a).await.parse().unwrap();
    let mallory = weft_protocol::AccountKey::generate().unwrap();
    let me = mallory.account_id();
    let mut m = mallory::swarm(Keypair::generate_ed25519());
    let node = connect(&mut m, &w.dial_addr(&a).await).await;

    let many = vec![vec![0u8; MIN_SEALED_BYTES]; MAX_DELIVERY_ITEMS + 1];
    assert!(
        deliver_own(&mut m, node, &mallory, ada, many)
            .await
            .is_none(),
        "a session over the item cap was answered"
    );
    let short = vec![1u8; 10];
    let good = sealed(&mallory, me, ada, 1, text("after the junk"));
    let ack = deliver_own(&mut m, node, &mallory, ada, vec![short.clone(), good])
        .await
        .expect("an answer");
    assert_eq!(ack.rejected, vec![item_hash(&short)]);
    assert!(
        ack.accepted.is_empty(),
        "the node kept working after a bad item"
    );
    assert_eq!(w.status(&a).await["name"], "Ada");
}
