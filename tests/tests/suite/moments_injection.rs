//! A plain gossipsub peer injects hostile Moments items on an author's
//! topic: posts signed by someone else, a replayed old post, a tombstone
//! for a post the signer didn't write, a comment by someone outside the
//! audience, oversized and garbage bytes. The friend reading the topic
//! rejects them all; its feed shows only the honest posts.

use std::time::Duration;

use futures::StreamExt;
use libp2p::{gossipsub, identity::Keypair, swarm::SwarmEvent, Multiaddr};
use serde_json::Value;
use weft_protocol::{
    moments::{
        make_post, make_reaction, new_key, topic, Item, ItemBody, Payload, PostContent,
        ReactionContent, ITEM_CONTEXT,
    },
    AccountId, AccountKey, Kind,
};
use weft_tests::hostile::{self, gossip, tcp_swarm};
use weft_tests::Weft;

use crate::BIN;
const T: Duration = Duration::from_secs(30);

fn content(text: &str, audience: Vec<AccountId>) -> PostContent {
    PostContent {
        text: text.into(),
        images: vec![],
        link: None,
        audience,
    }
}

fn env(item: &Item) -> Vec<u8> {
    weft_protocol::encode(Kind::MomentItem, item).unwrap()
}

/// Signs a body with no checks at all (as a hostile peer would).
fn sign_raw(key: &AccountKey, body: ItemBody) -> Vec<u8> {
    let signature = key.sign(ITEM_CONTEXT, &postcard::to_stdvec(&body).unwrap());
    env(&Item { body, signature })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_items_on_a_friends_topic_reach_no_feed() {
    let w = Weft::new(BIN);
    let ((a, _na), (b, nb)) = w.ann_and_bao().await;
    let p = w.moments_post(&a, "real post", &[]).await;
    assert!(w.feed_shows(&b, T, |x| x["id"] == p.as_str()).await);
    let post_id: [u8; 32] = weft_protocol::blob::parse_blob_hex(&p).unwrap();

    // The attacker holds Ann's real key only to forge a *stale* post and
    // to craft the honest closing post; everything else uses other keys.
    let ann = weft_node::Home::new(&a).load_identity().unwrap().key;
    let bao: AccountId = w.account(&b).await.parse().unwrap();
    let x = AccountKey::generate().unwrap();
    let now = weft_protocol::unix_now();

    // Ann's topic is named by a key only her friends hold: Bao leaks it.
    let (topic_key, _nb) = w
        .leaked_topic_key(&b, nb, &ann.account_id().to_string(), &a)
        .await;
    let mut inj = tcp_swarm(Keypair::generate_ed25519(), |key| gossip(key, 1 << 20));
    let t = gossipsub::IdentTopic::new(topic(&ann.account_id(), &topic_key));
    inj.behaviour_mut().subscribe(&t).unwrap();
    inj.dial(w.dial_addr(&b).await.parse::<Multiaddr>().unwrap())
        .unwrap();
    loop {
        match tokio::time::timeout(T, inj.select_next_some())
            .await
            .expect("Bao's subscription")
        {
            SwarmEvent::Behaviour(gossipsub::Event::Subscribed { topic: s, .. })
                if s == t.hash() =>
            {
                break
            }
            _ => {}
        }
    }

    let x_post = make_post(
        &x,
        &content("x's own post", vec![bao]),
        &new_key().unwrap(),
        now,
        &[],
    )
    .unwrap();
    let mut misattributed = x_post.body.clone();
    misattributed.author = ann.account_id();
    let attacks: Vec<Vec<u8>> = vec![
        // X's post on Ann's topic.
        env(&x_post),
        // A post claiming Ann as author, signed by X.
        sign_raw(&x, misattributed),
        // A replay of an old post by Ann (three days ago).
        env(&make_post(
            &ann,
            &content("stale", vec![bao]),
            &new_key().unwrap(),
            now - 3 * 86_400,
            &[],
        )
        .unwrap()),
        // A tombstone for Ann's post, signed by X (as author X and as Ann).
        sign_raw(
            &x,
            ItemBody {
                author: x.account_id(),
                signer: x.account_id(),
                at: now,
                payload: Payload::Tombstone { post: post_id },
            },
        ),
        sign_raw(
            &x,
            ItemBody {
                author: ann.account_id(),
                signer: x.account_id(),
                at: now,
                payload: Payload::Tombstone { post: post_id },
            },
        ),
        // A comment by X, outside the audience, readable by Bao.
        env(&make_reaction(
            &x,
            ann.account_id(),
            post_id,
            &ReactionContent::Comment {
                text: "spam from outside".into(),
                reply_to: None,
            },
            &[bao],
            now,
        )
        .unwrap()),
        // Oversized.
        vec![7u8; 200 * 1024],
        // Garbage.
        vec![0xde, 0xad, 0xbe, 0xef],
    ];
    for m in attacks {
        let _ = inj.behaviour_mut().publish(t.clone(), m);
    }
    // Last, an honest post by Ann (same connection, so Bao read the rest first).
    let honest = make_post(
        &ann,
        &content("honest", vec![bao]),
        &new_key().unwrap(),
        now + 1,
        &[],
    )
    .unwrap();
    inj.behaviour_mut()
        .publish(t.clone(), env(&honest))
        .unwrap();
    let pump = tokio::spawn(async move {
        loop {
            inj.select_next_some().await;
        }
    });

    let got = w.feed_shows(&b, T, |x| x["text"] == "honest").await;
    assert!(got, "the honest post never arrived");
    let f = w.moments_feed(&b).await;
    assert_eq!(
        texts(&f),
        vec!["honest", "real post"],
        "a hostile item reached the feed"
    );
    let real = f.iter().find(|x| x["id"] == p.as_str()).unwrap();
    assert_eq!(real["comments"].as_array().unwrap().len(), 0);
    let log = std::fs::read_to_string(b.with_extension("log")).unwrap();
    assert!(log.contains("rejecting moments gossip"));
    assert!(log.contains("outside the post's audience"));
    assert_eq!(w.status(&b).await["name"], "Bao");
    pump.abort();
}

/// The texts of the posts of a feed, in its order.
fn texts(feed: &[Value]) -> Vec<&str> {
    feed.iter().map(|x| x["text"].as_str().unwrap()).collect()
}

#[derive(libp2p::swarm::NetworkBehaviour)]
struct Holder {
    card: libp2p::request_response::Behaviour<weft_node::net::card::CardCodec>,
    sync: libp2p::request_response::Behaviour<weft_tests::hostile::RawCodec>,
}

/// Ann's "only show my last 2 days" setting reaches Bao through backfill
/// along with one old and one recent post: Bao's feed shows only the recent one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_n_days_setting_hides_older_posts() {
    use libp2p::request_response::{self, ProtocolSupport};
    use weft_protocol::moments::{SyncReply, SyncRequest};
    use weft_tests::hostile::{connect, frame, raw, unframe};

    let w = Weft::new(BIN);
    let ((a, na), (b, _nb)) = w.ann_and_bao().await;
    let bao: AccountId = w.account(&b).await.parse().unwrap();
    // Ann's phone is off; her other device (this test) has her posts.
    let ann = weft_node::Home::new(&a).load_identity().unwrap().key;
    let mut na = na;
    na.signal("TERM").await;
    assert!(na.wait_exit(T).await.is_some());

    let now = weft_protocol::unix_now();
    let old = make_post(
        &ann,
        &content("five days ago", vec![bao]),
        &new_key().unwrap(),
        now - 5 * 86_400,
        &[],
    )
    .unwrap();
    let recent = make_post(
        &ann,
        &content("yesterday", vec![bao]),
        &new_key().unwrap(),
        now - 86_400,
        &[],
    )
    .unwrap();
    let setting = Item::sign(
        &ann,
        ItemBody {
            author: ann.account_id(),
            signer: ann.account_id(),
            at: now,
            payload: Payload::Settings { visible_days: 2 },
        },
    )
    .unwrap();

    let device = Keypair::generate_ed25519();
    let card = weft_tests::mallory::card(&ann, &device, "Ann");
    let mut h = tcp_swarm(device, |_| Holder {
        card: hostile::card(),
        sync: raw("/weft/sync/1", ProtocolSupport::Full),
    });
    let bao_peer = connect(&mut h, &w.dial_addr(&b).await).await;
    h.behaviour_mut().card.send_request(&bao_peer, card);
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let ev = tokio::time::timeout_at(deadline, h.select_next_some())
            .await
            .expect("Bao never asked for Ann's Moments");
        if let SwarmEvent::Behaviour(HolderEvent::Sync(request_response::Event::Message {
            message:
                request_response::Message::Request {
                    request, channel, ..
                },
            ..
        })) = ev
        {
            let req: SyncRequest =
                weft_protocol::decode(Kind::SyncRequest, &unframe(&request)).unwrap();
            assert!(req.authors.iter().any(|f| f.author == ann.account_id()));
            let reply = SyncReply {
                items: vec![old.to_bytes(), recent.to_bytes(), setting.to_bytes()],
                more: false,
            };
            let bytes = weft_protocol::encode(Kind::SyncReply, &reply).unwrap();
            let _ = h.behaviour_mut().sync.send_response(channel, frame(&bytes));
            break;
        }
    }
    let pump = tokio::spawn(async move {
        loop {
            h.select_next_some().await;
        }
    });
    assert!(
        w.feed_shows(&b, T, |x| x["text"] == "yesterday").await,
        "the recent post never arrived by backfill"
    );
    assert_eq!(
        texts(&w.moments_feed(&b).await),
        vec!["yesterday"],
        "a post older than Ann's 2 days is shown"
    );
    pump.abort();
}
