//! People Nearby and `oa search` across a 40-node DHT in which the
//! searcher and the provider are both far from the key they meet at: each
//! is outside the 20 peers closest to it, so neither is asked by the
//! other's lookup. They find each other only because the peers closest to
//! the key store the provider record (inbound `AddProvider`), which is what
//! this test is for.

use std::sync::Arc;
use std::time::Duration;

use libp2p::kad::{KBucketKey, RecordKey};
use libp2p::PeerId;
use weft_node::nearby::RadarOn;
use weft_node::net::records;
use weft_protocol::oa::OaKind;
use weft_simnet::metrics::Tracker;
use weft_simnet::sim::Sim;
use weft_simnet::{Plan, Scenario};

const NODES: usize = 40;
/// Kademlia's replication factor: the peers a record is stored with.
const K: usize = 20;
const CELL: &str = "wx4g0";
const OA_NAME: &str = "Harbour Noodles";

/// Node indices ordered from the farthest to the closest to `key`.
fn farthest_first(peers: &[PeerId], key: &[u8]) -> Vec<usize> {
    let target = KBucketKey::new(RecordKey::new(&key));
    let mut order: Vec<usize> = (0..peers.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(target.distance(&KBucketKey::from(peers[i]))));
    order
}

/// Polls `check` every 500 ms until it holds or `timeout` passes.
async fn eventually<F, Fut>(timeout: Duration, check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    weft_cli::poll_until(timeout, Duration::from_millis(500), check).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nearby_and_oa_search_work_between_peers_far_apart_in_the_dht() {
    let scenario = Scenario::from_toml(&format!(
        "name = \"far-apart\"\nseed = 11\nnodes = {NODES}\n\
         [topology]\nkind = \"random\"\nintra_latency_ms = 2\njitter_ms = 0\n\
         [friends]\nedges_per_node = 0\n\
         [run]\nmin_peers = 3\nstart_batch = {NODES}\n"
    ))
    .unwrap();
    let plan = Arc::new(Plan::generate(&scenario));
    let tracker = Arc::new(Tracker::new(&plan, 1));
    let mut sim = Sim::new(plan, tracker).unwrap();
    sim.start_all(NODES).await.unwrap();
    let ready = sim.wait_mesh(3, Duration::from_secs(30)).await;
    assert_eq!(ready, NODES, "the mesh did not form");
    let peers: Vec<PeerId> = (0..NODES)
        .map(|i| sim.handle(i).unwrap().net.peer_id())
        .collect();

    // Let the routing tables fill: every node should know most others. The
    // DHT maintenance tick is 10 s; on a loaded 2-core host (CI building
    // beside it) a few rounds of it can take well over 20 s.
    let filled = eventually(Duration::from_secs(60), || {
        let sim = &sim;
        async move {
            sim.count_ready(|h| async move {
                h.net
                    .closest_peers(h.net.peer_id().to_bytes(), K)
                    .await
                    .map(|p| p.len() >= K)
                    .unwrap_or(false)
            })
            .await
                == NODES
        }
    })
    .await;
    assert!(filled, "routing tables did not fill");

    // A lookup for the few closest (mailbox holders: `HOLDER_CANDIDATES`)
    // stops at that many, and they are still the true closest: where a
    // sender leaves mail is where the recipient looks for it.
    let key = records::geo_key("u4pru");
    let order = farthest_first(&peers, &key);
    let asker = sim.handle(order[0]).unwrap().clone();
    let mut got: Vec<PeerId> = asker
        .net
        .closest_peers(key, 5)
        .await
        .unwrap()
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let mut truth: Vec<PeerId> = order.iter().rev().take(5).map(|&i| peers[i]).collect();
    got.sort();
    truth.sort();
    assert_eq!(got, truth, "a lookup for 5 did not end with the 5 closest");

    // People Nearby: the two farthest nodes from the cell's key.
    let order = farthest_first(&peers, &records::geo_key(CELL));
    let (provider, searcher) = (order[0], order[1]);
    let on = |geohash: &str| RadarOn {
        lat: None,
        lon: None,
        geohash: Some(geohash.to_string()),
        whats_up: None,
        region: None,
        avatar_hex: None,
        minutes: Some(30),
    };
    let p = sim.handle(provider).unwrap().clone();
    p.nearby.turn_on(on(CELL)).await.unwrap();
    let s = sim.handle(searcher).unwrap().clone();
    s.nearby.turn_on(on(CELL)).await.unwrap();
    let want = p.identity.account_id.to_string();
    let found = eventually(Duration::from_secs(25), || {
        let (s, want) = (s.clone(), want.clone());
        async move { s.nearby.list().iter().any(|v| v.account_id == want) }
    })
    .await;
    assert!(
        found,
        "People Nearby did not find a peer far from the cell's key"
    );

    // `oa search`: the two farthest nodes from the first name word's key.
    let word = &records::name_words(OA_NAME)[0];
    let order = farthest_first(&peers, &records::oa_name_key(word));
    let (owner, searcher) = (order[0], order[1]);
    let o = sim.handle(owner).unwrap().clone();
    let oa = o.oa.create(OaKind::Service, OA_NAME, "").await.unwrap();
    let s = sim.handle(searcher).unwrap().clone();
    let found = eventually(Duration::from_secs(20), || {
        let (s, id) = (s.clone(), oa.account_id.clone());
        async move {
            s.oa.search("harbour")
                .await
                .map(|list| list.iter().any(|v| v.account_id == id))
                .unwrap_or(false)
        }
    })
    .await;
    assert!(
        found,
        "`oa search` did not find an account far from its key"
    );
    sim.shutdown().await;
}
