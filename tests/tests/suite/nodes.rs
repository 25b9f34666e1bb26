//! Two and three `weft up` processes on 127.0.0.1: dial, bootstrap, status,
//! id, clean shutdown on SIGTERM, and restart after SIGKILL.

use std::time::{Duration, Instant};

use weft_tests::{wait_for, Weft};

use crate::BIN;
use weft_tests::s;
const CONNECT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn dial_connects_two_nodes_and_both_list_each_other() {
    let w = Weft::new(BIN);
    let (a, _na) = w.started("a", "Ada", &[]).await;
    let (b, _nb) = w.started("b", "Bao", &[]).await;
    let b_addr = w.dial_addr(&b).await;
    let b_peer = w.status(&b).await["peer_id"].as_str().unwrap().to_string();
    let a_peer = w.status(&a).await["peer_id"].as_str().unwrap().to_string();

    let dialed = w.json(&["dial", "--home", s(&a), &b_addr]).await;
    assert_eq!(dialed["peer_id"], b_peer.as_str());
    assert!(w.wait_connected(&a, &b_peer, CONNECT).await);
    assert!(w.wait_connected(&b, &a_peer, CONNECT).await);

    // Cards are exchanged and verified: A knows B's account and name.
    let b_account = w.status(&b).await["account_id"]
        .as_str()
        .unwrap()
        .to_string();
    let ok = wait_for(CONNECT, || async {
        let peers = w.json(&["peers", "--home", s(&a)]).await;
        peers.as_array().unwrap().iter().any(|p| {
            p["peer_id"] == b_peer.as_str()
                && p["account_id"] == b_account.as_str()
                && p["name"] == "Bao"
        })
    })
    .await;
    assert!(ok, "A never saw B's verified card");
}

#[tokio::test]
async fn bootstrap_joins_and_the_dht_introduces_the_rest() {
    let w = Weft::new(BIN);
    let (a, b, c) = (w.home("a"), w.home("b"), w.home("c"));
    for (h, n) in [(&a, "Ada"), (&b, "Bao"), (&c, "Chen")] {
        w.init(h, n).await;
    }
    let _na = w.up(&a, &[]).await;
    let a_addr = w.dial_addr(&a).await;
    let _nb = w.up(&b, &["--bootstrap", &a_addr]).await;
    let _nc = w.up(&c, &["--bootstrap", &a_addr]).await;
    let b_peer = w.status(&b).await["peer_id"].as_str().unwrap().to_string();
    let c_peer = w.status(&c).await["peer_id"].as_str().unwrap().to_string();
    // B and C were only told about A; the DHT makes them meet.
    assert!(w.wait_connected(&b, &c_peer, Duration::from_secs(40)).await);
    assert!(w.wait_connected(&c, &b_peer, Duration::from_secs(40)).await);
}

/// A node that lost every connection is not left alone for good: with no
/// peer at all it dials its bootstrap address again (after 10 s, then less
/// and less often) and joins whoever answers there now.
#[tokio::test]
async fn a_node_left_alone_dials_its_bootstrap_address_again() {
    let w = Weft::new(BIN);
    let (a, mut na) = w.started("a", "Ada", &[]).await;
    let a_listen = w.status(&a).await["listen_addrs"][0]
        .as_str()
        .unwrap()
        .to_string();
    let a_peer = w.status(&a).await["peer_id"].as_str().unwrap().to_string();
    let (b, _nb) = w.started("b", "Bao", &["--bootstrap", &a_listen]).await;
    assert!(w.wait_connected(&b, &a_peer, CONNECT).await);

    // A goes away: B is alone.
    na.signal("TERM").await;
    assert!(na.wait_exit(Duration::from_secs(10)).await.is_some());
    let alone = wait_for(CONNECT, || async { w.peer_ids(&b).await.is_empty() }).await;
    assert!(alone, "B still lists peers after A stopped");

    // C, which never heard of B, now listens at B's bootstrap address.
    let (c, _nc) = w.started("c", "Chen", &["--listen", &a_listen]).await;
    let c_peer = w.status(&c).await["peer_id"].as_str().unwrap().to_string();
    assert!(
        w.wait_connected(&b, &c_peer, Duration::from_secs(40)).await,
        "B never dialled its bootstrap address again"
    );
}

#[tokio::test]
async fn status_and_id_have_the_documented_fields() {
    let w = Weft::new(BIN);
    let (a, _na) = w.started("a", "Ada Lovelace", &[]).await;
    let st = w.status(&a).await;
    // Present with the documented type: a field that is there but `null`
    // does not count.
    for k in ["peer_id", "account_id", "name"] {
        assert!(st[k].is_string(), "status lacks {k} (a string): {st}");
    }
    for k in ["listen_addrs", "connected_peers"] {
        assert!(st[k].is_array(), "status lacks {k} (a list): {st}");
    }
    assert_eq!(st["name"], "Ada Lovelace");
    assert!(st["listen_addrs"][0]
        .as_str()
        .unwrap()
        .starts_with("/ip4/127.0.0.1/tcp/"));

    let id = w.json(&["id", "--home", s(&a)]).await;
    for k in ["account_id", "peer_id", "name", "link"] {
        assert!(id[k].is_string(), "id lacks {k} (a string): {id}");
    }
    // No handle until one is claimed: an unclaimed one could not be found.
    assert!(id["handle"].is_null(), "{id}");
    assert_eq!(id["account_id"], st["account_id"]);
    assert_eq!(id["peer_id"], st["peer_id"]);
    let link: weft_protocol::WeftLink = id["link"].as_str().unwrap().parse().unwrap();
    assert_eq!(link.account.to_string(), st["account_id"].as_str().unwrap());
    assert_eq!(link.peer.as_deref(), st["peer_id"].as_str());
    assert_eq!(link.name.as_deref(), Some("Ada Lovelace"));
    assert!(!link.addrs.is_empty());

    // The QR code decodes back to the same link.
    let out = w.run(&["id", "--qr", "--home", s(&a)]).await;
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(decode_terminal_qr(&text), id["link"].as_str().unwrap());
}

/// Reads back the Dense1x2 rendering `weft id --qr` prints (drawn for dark
/// terminals: a full block is two light modules) and decodes it.
fn decode_terminal_qr(text: &str) -> String {
    let rows: Vec<Vec<char>> = text
        .lines()
        .take_while(|l| l.chars().all(|c| " █▀▄".contains(c)) && !l.is_empty())
        .map(|l| l.chars().collect())
        .collect();
    let width = rows.iter().map(|r| r.len()).max().unwrap();
    let mut light = vec![vec![true; width]; rows.len() * 2];
    for (y, row) in rows.iter().enumerate() {
        for (x, ch) in row.iter().enumerate() {
            let (top, bottom) = match ch {
                '█' => (true, true),
                '▀' => (true, false),
                '▄' => (false, true),
                _ => (false, false),
            };
            light[2 * y][x] = top;
            light[2 * y + 1][x] = bottom;
        }
    }
    let scale = 4;
    let mut img =
        rqrr::PreparedImage::prepare_from_greyscale(width * scale, light.len() * scale, |x, y| {
            if light[y / scale][x / scale] {
                255
            } else {
                0
            }
        });
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "expected one QR code");
    grids[0].decode().expect("QR decodes").1
}

#[tokio::test]
async fn sigterm_exits_zero_within_two_seconds() {
    let w = Weft::new(BIN);
    let (a, mut na) = w.started("a", "Ada", &[]).await;
    let started = Instant::now();
    na.signal("TERM").await;
    let status = na.wait_exit(Duration::from_secs(2)).await;
    let took = started.elapsed();
    let status = status.unwrap_or_else(|| panic!("still running 2 s after SIGTERM:\n{}", na.log()));
    assert!(status.success(), "exit status {status:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(
        !a.join("api.json").exists(),
        "api.json left behind after clean exit"
    );
    let out = w.run(&["status", "--home", s(&a)]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no node running for"));
}

#[tokio::test]
async fn sigkill_then_restart_keeps_identity_store_and_friends() {
    let w = Weft::new(BIN);
    let (a, mut na) = w.started("a", "Ada", &[]).await;
    let (b, _nb) = w.started("b", "Bao", &[]).await;
    let before = w.status(&a).await;
    let b_peer = w.status(&b).await["peer_id"].as_str().unwrap().to_string();
    w.befriend(&a, &b).await;
    let (a_id, b_id) = (w.account(&a).await, w.account(&b).await);
    assert!(w.wait_connected(&a, &b_peer, CONNECT).await);
    // The address book is written (and flushed) when identify arrives.
    assert!(
        wait_for(CONNECT, || async { w.status(&a).await["known_peers"] == 1 }).await,
        "B never reached A's address book"
    );

    na.signal("KILL").await;
    assert!(na.wait_exit(Duration::from_secs(5)).await.is_some());
    let _na2 = w.up(&a, &[]).await;
    let after = w.status(&a).await;
    assert_eq!(after["peer_id"], before["peer_id"]);
    assert_eq!(after["account_id"], before["account_id"]);
    assert_eq!(after["name"], "Ada");
    // The friendship survived: B is still a friend...
    let contacts = w.json(&["contacts", "list", "--home", s(&a)]).await;
    assert!(
        contacts
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["account_id"] == b_id.as_str() && c["state"] == "friend"),
        "B is no longer A's friend after the restart: {contacts}"
    );
    // ...the address book brings B back without a dial...
    assert!(
        w.wait_connected(&a, &b_peer, CONNECT).await,
        "A did not redial B after restart"
    );
    // ...and A can still message B (B only takes messages from friends).
    let sent = w
        .json(&["chat", "send", "--home", s(&a), &b_id, "back again"])
        .await;
    let id = sent["id"].as_str().unwrap().to_string();
    assert!(
        w.log_shows(&b, &a_id, CONNECT, |m| m["id"] == id.as_str())
            .await,
        "a message after the restart never reached B"
    );
}

#[tokio::test]
async fn demo_walks_through_and_exits_zero() {
    let w = Weft::new(BIN);
    let out = w.run(&["demo"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("every step worked"), "{stdout}");
}

/// A card exchange that fails is tried again on the same connection. The
/// node dials a peer that drops the first card request unanswered (as a
/// peer too busy to answer in time does) and answers the second: the node
/// still learns the peer's account. Before, one failed exchange left the
/// connection with no account for as long as it lasted, so chat could not
/// find a friend who was connected all along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_card_exchange_is_tried_again_on_the_same_connection() {
    use futures::StreamExt;
    use libp2p::{identity::Keypair, request_response, swarm::SwarmEvent};
    use weft_tests::mallory::{self, MalloryEvent};

    let w = Weft::new(BIN);
    let (a, _na) = w.started("a", "Ada", &[]).await;
    let account = weft_protocol::AccountKey::generate().unwrap();
    let device = Keypair::generate_ed25519();
    let card = mallory::card(&account, &device, "Slow");
    let mut m = mallory::swarm(device);
    let peer = m.local_peer_id().to_string();
    m.listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    let addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = m.select_next_some().await {
            break address;
        }
    };
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
    let serve = tokio::spawn(async move {
        let mut requests = 0u32;
        loop {
            if let SwarmEvent::Behaviour(MalloryEvent::Card(request_response::Event::Message {
                message: request_response::Message::Request { channel, .. },
                ..
            })) = m.select_next_some().await
            {
                requests += 1;
                let _ = seen_tx.send(requests);
                if requests > 1 {
                    let _ = m.behaviour_mut().card.send_response(channel, card.clone());
                }
                // The first: the channel is dropped, the stream closes unanswered.
            }
        }
    });

    w.json(&["dial", "--home", s(&a), &format!("{addr}/p2p/{peer}")])
        .await;
    let account_id = account.account_id().to_string();
    let ok = wait_for(CONNECT, || async {
        let peers = w.json(&["peers", "--home", s(&a)]).await;
        peers
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["peer_id"] == peer.as_str() && p["account_id"] == account_id.as_str())
    })
    .await;
    let mut requests = Vec::new();
    while let Ok(n) = seen_rx.try_recv() {
        requests.push(n);
    }
    serve.abort();
    assert!(
        ok,
        "the node never learned the account (card requests seen: {requests:?})"
    );
    assert!(requests.len() >= 2, "{requests:?}");
}
