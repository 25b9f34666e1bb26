//! Bad input of every kind gets a clear error, and the node keeps running
//! with its store intact.

use std::time::Duration;

use futures::StreamExt;
use libp2p::{
    identity::Keypair,
    request_response::{self, ProtocolSupport},
    swarm::SwarmEvent,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use weft_tests::hostile::{connect, frame, raw, tcp_swarm};
use weft_tests::{wait_for, Weft};

use crate::BIN;
use weft_tests::s;

/// The single `error:` line of a failed command (log lines aside).
fn stderr_line(out: &std::process::Output) -> String {
    let all = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "expected failure, got success; stderr: {all}"
    );
    let errors: Vec<&str> = all.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "expected one error line: {all}");
    errors[0].to_string()
}

/// Sends a raw HTTP request to the API and returns the response text.
async fn raw_http(addr: &str, request: &str) -> String {
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    sock.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), sock.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test]
async fn api_refuses_wrong_tokens_and_bad_bodies_with_json_errors() {
    let w = Weft::new(BIN);
    let (a, _n) = w.started("a", "Ada", &[]).await;
    let info = weft_node::Home::new(&a).read_api_info().unwrap();

    let r = raw_http(
        &info.addr,
        "GET /v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    assert!(
        r.contains(r#"{"error":"wrong API token","kind":"unauthorized"}"#),
        "{r}"
    );

    let r = raw_http(
        &info.addr,
        "GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");

    let body = "{not json";
    let r = raw_http(
        &info.addr,
        &format!(
            "POST /v1/dial HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            info.token,
            body.len()
        ),
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    assert!(r.contains(r#""error""#), "{r}");

    let big = "x".repeat(200 * 1024);
    let r = raw_http(
        &info.addr,
        &format!(
            "POST /v1/dial HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{big}",
            info.token,
            big.len()
        ),
    )
    .await;
    assert!(
        r.starts_with("HTTP/1.1 413") || r.starts_with("HTTP/1.1 400"),
        "{r}"
    );

    let out = w
        .run(&["dial", "--home", s(&a), "/ip4/not-an-ip/tcp/1"])
        .await;
    assert!(stderr_line(&out).contains("is not a multiaddr"));
    // Still alive, same identity.
    assert_eq!(w.status(&a).await["name"], "Ada");
}

#[tokio::test]
async fn cli_errors_are_one_clear_line() {
    let w = Weft::new(BIN);
    let a = w.home("a");
    // No identity: `status` and `up` ask for `init` (`up` alone would make
    // a new, unnamed account without saying so).
    let out = w.run(&["status", "--home", s(&a)]).await;
    let e = stderr_line(&out);
    assert!(
        e.contains("has no Weft identity") && e.contains("weft init --home"),
        "{e}"
    );
    let out = w.run(&["up", "--home", s(&a), "--no-mdns"]).await;
    let e = stderr_line(&out);
    assert!(
        e.contains("has no Weft identity") && e.contains("weft init --home"),
        "{e}"
    );
    assert!(!weft_node::Home::new(&a).has_identity());

    w.init(&a, "Ada").await;
    let out = w.run(&["status", "--home", s(&a)]).await;
    let e = stderr_line(&out);
    assert!(
        e.contains("no node running for") && e.contains("weft up --home"),
        "{e}"
    );
    let out = w.run(&["init", "--home", s(&a)]).await;
    assert!(stderr_line(&out).contains("refusing to overwrite"));

    let out = w
        .run(&["up", "--home", s(&a), "--no-mdns", "--listen", "garbage"])
        .await;
    assert!(stderr_line(&out).contains("`garbage` is not a multiaddr"));
    let out = w
        .run(&["up", "--home", s(&a), "--no-mdns", "--bootstrap", "/dns9/x"])
        .await;
    assert!(stderr_line(&out).contains("is not a multiaddr"));

    let out = w
        .run(&["init", "--home", s(&w.home("n")), "--name", "bad\u{7}name"])
        .await;
    assert!(stderr_line(&out).contains("invalid name"));

    // A home that cannot be a directory.
    let file = w.home("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let out = w
        .run(&[
            "up",
            "--init",
            "--home",
            &format!("{}/h", s(&file)),
            "--no-mdns",
        ])
        .await;
    assert!(stderr_line(&out).contains("cannot use home directory"));
}

#[tokio::test]
async fn ports_in_use_and_corrupt_keys_fail_clearly() {
    let w = Weft::new(BIN);
    let a = w.home("a");
    w.init(&a, "Ada").await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();

    let listen = format!("/ip4/127.0.0.1/tcp/{port}");
    let out = w
        .run(&["up", "--home", s(&a), "--no-mdns", "--listen", &listen])
        .await;
    let e = stderr_line(&out);
    assert!(
        e.contains("cannot listen on") && e.contains(&port.to_string()),
        "{e}"
    );

    let api = format!("127.0.0.1:{port}");
    let out = w
        .run(&["up", "--home", s(&a), "--no-mdns", "--api", &api])
        .await;
    assert!(stderr_line(&out).contains("cannot listen on"));

    std::fs::write(a.join("account.key"), b"not a key").unwrap();
    let out = w.run(&["up", "--home", s(&a), "--no-mdns"]).await;
    let e = stderr_line(&out);
    assert!(e.contains("account.key") && e.contains("corrupt"), "{e}");
}

#[tokio::test]
async fn garbage_and_forged_cards_do_not_hurt_the_node() {
    let w = Weft::new(BIN);
    let (a, _n) = w.started("a", "Ada", &[]).await;
    let addr = w.dial_addr(&a).await;

    let mut hostile = tcp_swarm(Keypair::generate_ed25519(), |_| {
        raw("/weft/card/1", ProtocolSupport::Outbound)
    });
    let hostile_peer = *hostile.local_peer_id();
    let node_peer = connect(&mut hostile, &addr).await;

    // A card that is well-formed and signed, but certifies someone else's
    // device. Sent alone first, and the answer awaited, so the node has
    // judged it while the hostile peer is still connected.
    let key = weft_protocol::AccountKey::generate().unwrap();
    let cert = key.certify_device([9; 32], 1);
    let forged = weft_protocol::Card::new(&key, cert, "Mallory", vec![], 1).unwrap();
    let forged = weft_protocol::encode(weft_protocol::Kind::Card, &forged).unwrap();
    let id = hostile
        .behaviour_mut()
        .send_request(&node_peer, frame(&forged));
    loop {
        match tokio::time::timeout(Duration::from_secs(20), hostile.select_next_some()).await {
            Ok(SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                request_id,
                ..
            }))
            | Ok(SwarmEvent::Behaviour(request_response::Event::Message {
                message: request_response::Message::Response { request_id, .. },
                ..
            })) if request_id == id => break,
            Ok(_) => {}
            Err(_) => panic!("the node never answered the forged card"),
        }
    }
    // The node lists the hostile peer (so the check below cannot vanish)
    // without the forged identity. The swarm keeps running meanwhile.
    let peers = {
        let args = ["peers", "--home", s(&a)];
        let fut = w.json(&args);
        tokio::pin!(fut);
        loop {
            tokio::select! {
                v = &mut fut => break v,
                _ = hostile.select_next_some() => {}
            }
        }
    };
    let entry = peers
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["peer_id"] == hostile_peer.to_string().as_str())
        .cloned()
        .unwrap_or_else(|| panic!("the hostile peer is not connected: {peers}"));
    assert!(
        entry["account_id"].is_null(),
        "forged card accepted: {entry}"
    );
    assert!(entry["name"].is_null(), "forged card accepted: {entry}");

    let attacks: Vec<Vec<u8>> = vec![
        u32::MAX.to_be_bytes().to_vec(),           // absurd length
        frame(&vec![0xAB; 100 * 1024]),            // oversized frame
        frame(&[0xde, 0xad, 0xbe, 0xef, 1, 2, 3]), // garbage envelope
        vec![0, 0, 1, 0, 1, 2],                    // truncated
    ];
    let n = attacks.len();
    for a in attacks {
        hostile.behaviour_mut().send_request(&node_peer, a);
    }
    let mut done = 0;
    while done < n {
        match tokio::time::timeout(Duration::from_secs(20), hostile.select_next_some()).await {
            Ok(SwarmEvent::Behaviour(request_response::Event::OutboundFailure { .. }))
            | Ok(SwarmEvent::Behaviour(request_response::Event::Message { .. })) => done += 1,
            Ok(_) => {}
            Err(_) => panic!("node did not answer or reject all attacks ({done}/{n})"),
        }
    }

    // The node is alive, its store intact.
    let st = w.status(&a).await;
    assert_eq!(st["name"], "Ada");
    // It still serves honest peers.
    let (b, _nb) = w.started("b", "Bao", &[]).await;
    let b_peer = w.status(&b).await["peer_id"].as_str().unwrap().to_string();
    w.json(&["dial", "--home", s(&a), &w.dial_addr(&b).await])
        .await;
    assert!(
        wait_for(Duration::from_secs(20), || async {
            let p = w.json(&["peers", "--home", s(&a)]).await;
            p.as_array()
                .unwrap()
                .iter()
                .any(|p| p["peer_id"] == b_peer.as_str() && p["name"] == "Bao")
        })
        .await
    );
}
