//! A peer that bypasses the publisher-side quota check injects broadcasts
//! straight into the gossip mesh: over quota, reusing a quota slot, forged,
//! stale, or on another account's topic. Followers (and the nodes relaying
//! to them) reject every one; only the honest broadcast is shown.

use std::time::Duration;

use futures::StreamExt;
use libp2p::{gossipsub, identity::Keypair, swarm::SwarmEvent, Multiaddr};
use weft_protocol::{
    oa::{Broadcast, BroadcastBody, OaKind, OaProfile, OaProfileBody, BROADCAST_CONTEXT},
    AccountKey, Card, Kind,
};
use weft_tests::hostile::{gossip, tcp_swarm};
use weft_tests::{wait_for, Weft};

use crate::BIN;
const T: Duration = Duration::from_secs(30);

/// Signs a broadcast body exactly as the wire format says, with no checks.
fn sign_raw(key: &AccountKey, body: BroadcastBody) -> Vec<u8> {
    let signature = key.sign(BROADCAST_CONTEXT, &postcard::to_stdvec(&body).unwrap());
    weft_protocol::encode(Kind::OaBroadcast, &Broadcast { body, signature }).unwrap()
}

fn body(profile: &OaProfile, seq: u32, at: u64, title: &str) -> BroadcastBody {
    BroadcastBody {
        profile: profile.clone(),
        period: profile.body.kind.period_of(at),
        seq,
        published_at: at,
        title: title.into(),
        body: "…".into(),
        link: None,
        parts: vec![],
        images: vec![],
    }
}

fn profile(key: &AccountKey) -> OaProfile {
    let now = weft_protocol::unix_now();
    let card = Card::new(
        key,
        key.certify_device([4; 32], now),
        "Spammy News",
        vec![],
        now,
    )
    .unwrap();
    OaProfile::new(
        key,
        OaProfileBody {
            card,
            kind: OaKind::Subscription,
            description: String::new(),
            verification: None,
        },
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_over_quota_forged_and_stale_broadcasts_reach_no_feed() {
    let w = Weft::new(BIN);
    let (fan1, _n1) = w.started("fan1", "Fan1", &[]).await;
    let a1 = w.dial_addr(&fan1).await;
    let (fan2, _n2) = w.started("fan2", "Fan2", &["--bootstrap", &a1]).await;

    let oa_key = AccountKey::generate().unwrap();
    let oa = oa_key.account_id();
    let prof = profile(&oa_key);
    // A second account whose honest post, sent last, is the barrier: once a
    // fan shows it, the fan has processed everything sent before it.
    let barrier_key = AccountKey::generate().unwrap();
    let barrier_prof = profile(&barrier_key);
    for f in [&fan1, &fan2] {
        for acct in [oa, barrier_key.account_id()] {
            w.json(&[
                "oa",
                "follow",
                "--home",
                f.to_str().unwrap(),
                &acct.to_string(),
            ])
            .await;
        }
    }

    // The injector: a plain libp2p gossipsub peer, subscribed to the topic.
    let mut inj = tcp_swarm(Keypair::generate_ed25519(), |key| gossip(key, 65_536));
    let topic = gossipsub::IdentTopic::new(weft_protocol::oa::topic(&oa));
    let barrier_topic =
        gossipsub::IdentTopic::new(weft_protocol::oa::topic(&barrier_key.account_id()));
    inj.behaviour_mut().subscribe(&topic).unwrap();
    inj.behaviour_mut().subscribe(&barrier_topic).unwrap();
    inj.dial(a1.parse::<Multiaddr>().unwrap()).unwrap();
    // Wait until Fan1 has told us it is subscribed to both (so publishing reaches it).
    let mut pending = vec![topic.hash(), barrier_topic.hash()];
    while !pending.is_empty() {
        if let SwarmEvent::Behaviour(gossipsub::Event::Subscribed { topic: t, .. }) =
            tokio::time::timeout(T, inj.select_next_some())
                .await
                .expect("fan1 subscription")
        {
            pending.retain(|p| *p != t)
        }
    }

    let now = weft_protocol::unix_now();
    let thief = AccountKey::generate().unwrap();
    let mut bad_sig = body(&prof, 1, now, "forged");
    bad_sig.title = "forged".into();
    let attacks = vec![
        // Over quota: a subscription account's second slot today.
        sign_raw(&oa_key, body(&prof, 2, now, "over quota")),
        // Wrong period for its timestamp.
        sign_raw(
            &oa_key,
            BroadcastBody {
                period: prof.body.kind.period_of(now) + 1,
                ..body(&prof, 1, now, "wrong period")
            },
        ),
        // Signed by someone else with the OA's profile.
        sign_raw(&thief, bad_sig),
        // A stale (replayed) broadcast from three days ago.
        sign_raw(&oa_key, body(&prof, 1, now - 3 * 86_400, "stale")),
        // Another account's broadcast on this account's topic.
        sign_raw(&thief, body(&profile(&thief), 1, now, "wrong topic")),
        // Garbage.
        vec![0xde, 0xad, 0xbe, 0xef],
    ];
    // The honest post and the barrier go first: with gossipsub peer scoring
    // on, two rejected broadcasts graylist the injector, and nothing it
    // sends afterwards is heard at all.
    inj.behaviour_mut()
        .publish(
            topic.clone(),
            sign_raw(&oa_key, body(&prof, 1, now, "honest")),
        )
        .unwrap();
    inj.behaviour_mut()
        .publish(
            barrier_topic.clone(),
            sign_raw(&barrier_key, body(&barrier_prof, 1, now, "barrier")),
        )
        .unwrap();
    for (i, a) in attacks.into_iter().enumerate() {
        inj.behaviour_mut()
            .publish(topic.clone(), a)
            .unwrap_or_else(|e| panic!("attack {i} was never sent: {e}"));
    }
    // Then a second broadcast in the honest one's slot (equivocation).
    inj.behaviour_mut()
        .publish(
            topic.clone(),
            sign_raw(&oa_key, body(&prof, 1, now + 1, "same slot again")),
        )
        .unwrap();
    let pump = tokio::spawn(async move {
        loop {
            inj.select_next_some().await;
        }
    });

    // Fan1 hears everything on one connection, in order; Fan2 only hears
    // what Fan1 accepted and forwarded. Once Fan1 has rejected two of the
    // attacks, the injector is graylisted and nothing later can get in.
    let log_path = fan1.with_extension("log");
    let graylisted = wait_for(T, || async {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        log.matches("rejecting gossip").count() >= 2
    })
    .await;
    assert!(graylisted, "fan1 never rejected two attacks");
    for f in [&fan1, &fan2] {
        let h = f.to_str().unwrap();
        let got = wait_for(T, || async {
            let feed = w.json(&["oa", "feed", "--home", h]).await;
            feed.as_array()
                .unwrap()
                .iter()
                .any(|p| p["title"] == "barrier")
        })
        .await;
        assert!(got, "the barrier broadcast never arrived at {h}");
        let feed = w.json(&["oa", "feed", "--home", h]).await;
        let mut titles: Vec<&str> = feed
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["title"].as_str().unwrap())
            .collect();
        titles.sort_unstable();
        assert_eq!(
            titles,
            vec!["barrier", "honest"],
            "an invalid broadcast reached a feed (or the honest one did not)"
        );
    }
    let log = std::fs::read_to_string(fan1.with_extension("log")).unwrap();
    assert!(
        log.contains("rejecting gossip"),
        "fan1 never logged a rejection"
    );
    pump.abort();
}
