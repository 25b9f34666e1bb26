//! Moments across real `weft` processes: audiences (and no plaintext where
//! it must not be), comment visibility, deletion, backfill from another
//! friend while the author is gone, and a 5 MB image fetched past a holder
//! that serves a corrupted chunk.

use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::{
    identity::Keypair,
    request_response::{self, ProtocolSupport},
    swarm::{NetworkBehaviour, SwarmEvent},
    Multiaddr,
};
use serde_json::Value;
use weft_protocol::{
    blob::{parse_blob_hex, BlobReply, BlobRequest},
    Kind,
};
use weft_tests::hostile::{frame, raw, tcp_swarm, unframe, RawCodec};
use weft_tests::{wait_for, Weft};

use crate::BIN;
use weft_tests::s;
const T: Duration = Duration::from_secs(30);

async fn feed(w: &Weft, h: &Path) -> Vec<Value> {
    w.moments_feed(h).await
}

async fn post_in_feed(w: &Weft, h: &Path, id: &str) -> Option<Value> {
    feed(w, h).await.into_iter().find(|p| p["id"] == id)
}

async fn post(w: &Weft, h: &Path, text: &str, to: &[&str]) -> String {
    let mut extra = to.to_vec();
    if !to.is_empty() {
        extra.insert(0, "--to");
    }
    w.moments_post(h, text, &extra).await
}

/// Whether any file under `dir` contains `needle`.
fn dir_contains(dir: &Path, needle: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            dir_contains(&p, needle)
        } else {
            std::fs::read(&p)
                .map(|b| b.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audiences_comments_and_deletion() {
    let w = Weft::new(BIN);
    let (_procs, homes) = w.network(&["Ann", "Bao", "Cai", "Eve", "Dan"]).await;
    let (a, b, c, e, d) = (&homes[0], &homes[1], &homes[2], &homes[3], &homes[4]);
    w.befriend(a, b).await;
    w.befriend(a, c).await;
    w.befriend(a, e).await;
    w.befriend(b, c).await;
    // Dan is a stranger on the same network, connected to Ann and Bao.
    let a_addr = w.dial_addr(a).await;
    let b_addr = w.dial_addr(b).await;
    w.json(&["dial", "--home", s(d), &a_addr]).await;
    w.json(&["dial", "--home", s(d), &b_addr]).await;
    let b_id = w.account(b).await;
    let c_id = w.account(c).await;

    // 1. ONLY Bao.
    let secret = "only-for-bao-7f3a9c";
    let p1 = post(&w, a, secret, &["only", &b_id]).await;
    assert!(
        wait_for(T, || async { post_in_feed(&w, b, &p1).await.is_some() }).await,
        "Bao never saw the post meant for him"
    );
    // Then one for everyone: once Cai and Eve see it, they had the first too.
    let p2 = post(&w, a, "hello everyone", &["all"]).await;
    for h in [b, c, e] {
        assert!(
            wait_for(T, || async { post_in_feed(&w, h, &p2).await.is_some() }).await,
            "{} never saw the post to all",
            s(h)
        );
    }
    for h in [c, e, d] {
        assert!(post_in_feed(&w, h, &p1).await.is_none());
        assert!(
            !dir_contains(h, secret.as_bytes()),
            "{} holds plaintext of a post not meant for it",
            s(h)
        );
    }
    assert!(feed(&w, d).await.is_empty(), "a stranger sees Moments");

    // 2. Cai comments; Bao (Cai's friend) sees it, Eve (not) does not; Ann does.
    let remark = "cai-says-nice-52e1";
    w.json(&["moments", "comment", "--home", s(c), &p2, remark])
        .await;
    w.json(&["moments", "like", "--home", s(b), &p2]).await;
    let has_comment = |p: &Value| {
        p["comments"].as_array().is_some_and(|c| {
            c.iter()
                .any(|x| x["text"] == remark && x["author"] == c_id.as_str())
        })
    };
    for h in [a, b] {
        assert!(
            wait_for(T, || async {
                post_in_feed(&w, h, &p2)
                    .await
                    .is_some_and(|p| has_comment(&p))
            })
            .await,
            "{} never saw Cai's comment",
            s(h)
        );
    }
    // Ann and Cai (Bao's friends) see Bao's like.
    for h in [a, c] {
        assert!(
            wait_for(T, || async {
                post_in_feed(&w, h, &p2).await.is_some_and(|p| {
                    p["likes"]
                        .as_array()
                        .is_some_and(|l| l.iter().any(|x| x == b_id.as_str()))
                })
            })
            .await,
            "{} never saw Bao's like",
            s(h)
        );
    }
    // Eve: Ann's second comment is a barrier (it is visible to Eve and was
    // sent after Cai's and Bao's reactions reached Ann).
    w.json(&["moments", "comment", "--home", s(a), &p2, "thanks all"])
        .await;
    assert!(
        wait_for(T, || async {
            post_in_feed(&w, e, &p2).await.is_some_and(|p| {
                p["comments"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|x| x["text"] == "thanks all"))
            })
        })
        .await
    );
    let seen_by_eve = post_in_feed(&w, e, &p2).await.unwrap();
    assert!(
        !has_comment(&seen_by_eve),
        "Eve sees a comment by a non-friend"
    );
    assert_eq!(seen_by_eve["likes"].as_array().map(Vec::len), Some(0));
    assert!(!dir_contains(e, remark.as_bytes()));

    // Only the author can delete; then it disappears from Bao's feed.
    let out = w.run(&["moments", "delete", "--home", s(b), &p2]).await;
    assert!(!out.status.success());
    w.json(&["moments", "delete", "--home", s(a), &p2]).await;
    for h in [b, c, e] {
        assert!(
            wait_for(T, || async { post_in_feed(&w, h, &p2).await.is_none() }).await,
            "deleted post still in {}'s feed",
            s(h)
        );
    }
    assert!(post_in_feed(&w, b, &p1).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_friend_backfills_from_another_friend() {
    let w = Weft::new(BIN);
    let (mut procs, homes) = w.network(&["Ann", "Bao", "Cai"]).await;
    let (a, b, c) = (&homes[0], &homes[1], &homes[2]);
    w.befriend(a, b).await;
    w.befriend(a, c).await;
    w.befriend(b, c).await;

    // Bao goes offline.
    let mut bao = procs.remove(2);
    bao.signal("TERM").await;
    assert!(bao.wait_exit(T).await.is_some());
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(post(&w, a, &format!("while you were away {i}"), &[]).await);
    }
    for id in &ids {
        assert!(wait_for(T, || async { post_in_feed(&w, c, id).await.is_some() }).await);
    }
    // Ann is gone too; Bao comes back and finds Cai (address book).
    let mut ann = procs.remove(1);
    ann.signal("TERM").await;
    assert!(ann.wait_exit(T).await.is_some());
    let _bao = w.up(b, &[]).await;
    let t0 = Instant::now();
    let all_there = wait_for(Duration::from_secs(10), || async {
        let f = feed(&w, b).await;
        ids.iter()
            .all(|id| f.iter().any(|p| p["id"] == id.as_str()))
    })
    .await;
    assert!(
        all_there,
        "Bao did not get the 3 posts within 10 s of return"
    );
    eprintln!("backfilled 3 posts from Cai in {:?}", t0.elapsed());
}

#[derive(NetworkBehaviour)]
struct BadHolder {
    blob: request_response::Behaviour<RawCodec>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5mb_image_survives_a_corrupting_holder() {
    let w = Weft::new(BIN);
    let (_procs, homes) = w.network(&["Ann", "Bao"]).await;
    let (a, b) = (&homes[0], &homes[1]);
    w.befriend(a, b).await;

    let mut image: Vec<u8> = (0..5_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    // A JPEG's first bytes: Moments take images only.
    image[..3].copy_from_slice(&[0xff, 0xd8, 0xff]);
    let file = w.dir.path().join("photo.jpg");
    std::fs::write(&file, &image).unwrap();
    let id = w.moments_post(a, "sunset", &["--image", s(&file)]).await;
    assert!(wait_for(T, || async { post_in_feed(&w, b, &id).await.is_some() }).await);
    let entry = post_in_feed(&w, b, &id).await.unwrap();
    let blob = parse_blob_hex(entry["images"][0]["blob"].as_str().unwrap()).unwrap();
    assert_eq!(entry["images"][0]["local"], false);
    // The author's store holds only ciphertext of the image.
    assert!(!dir_contains(a, &image[1000..1064]));

    // Mallory: gets the real manifest from Ann, then serves it to Bao with
    // corrupted chunks.
    let mut m = tcp_swarm(Keypair::generate_ed25519(), |_| BadHolder {
        blob: raw("/weft/blob/1", ProtocolSupport::Full),
    });
    let mallory = *m.local_peer_id();
    let ann_addr: Multiaddr = w.dial_addr(a).await.parse().unwrap();
    let ann_peer = match ann_addr.iter().last() {
        Some(libp2p::multiaddr::Protocol::P2p(p)) => p,
        _ => panic!("no peer id"),
    };
    m.dial(ann_addr).unwrap();
    m.dial(w.dial_addr(b).await.parse::<Multiaddr>().unwrap())
        .unwrap();
    let req = weft_protocol::encode(Kind::BlobRequest, &BlobRequest::Manifest(blob)).unwrap();
    m.behaviour_mut().blob.send_request(&ann_peer, frame(&req));
    let manifest = loop {
        let ev = tokio::time::timeout(T, m.select_next_some())
            .await
            .expect("manifest");
        if let SwarmEvent::Behaviour(BadHolderEvent::Blob(request_response::Event::Message {
            message: request_response::Message::Response { response, .. },
            ..
        })) = ev
        {
            match weft_protocol::decode(Kind::BlobReply, &unframe(&response)).unwrap() {
                BlobReply::Manifest(m) => break m,
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    assert_eq!(manifest.chunks.len(), 5_000_016usize.div_ceil(256 * 1024));

    let out = w.dir.path().join("fetched.jpg");
    let (bh, outp, idc) = (b.clone(), out.clone(), id.clone());
    let bin = BIN.to_string();
    let fetch = tokio::spawn(async move {
        let w2 = Weft::new(&bin);
        w2.run(&[
            "moments",
            "image",
            "--home",
            s(&bh),
            &idc,
            "--out",
            s(&outp),
            "--from",
            &mallory.to_string(),
        ])
        .await
    });
    let mut corrupted = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while !fetch.is_finished() {
        let Ok(ev) = tokio::time::timeout_at(
            deadline.min(tokio::time::Instant::now() + Duration::from_millis(200)),
            m.select_next_some(),
        )
        .await
        else {
            assert!(
                tokio::time::Instant::now() < deadline,
                "fetch never finished"
            );
            continue;
        };
        if let SwarmEvent::Behaviour(BadHolderEvent::Blob(request_response::Event::Message {
            message:
                request_response::Message::Request {
                    request, channel, ..
                },
            ..
        })) = ev
        {
            let reply = match weft_protocol::decode(Kind::BlobRequest, &unframe(&request)) {
                Ok(BlobRequest::Manifest(_)) => BlobReply::Manifest(manifest.clone()),
                Ok(BlobRequest::Chunk(h)) => {
                    corrupted += 1;
                    let i = manifest.chunks.iter().position(|c| *c == h).unwrap_or(0);
                    let len = if i + 1 == manifest.chunks.len() {
                        manifest.size as usize - i * 256 * 1024
                    } else {
                        256 * 1024
                    };
                    BlobReply::Chunk(vec![0x5a; len])
                }
                Err(e) => panic!("bad request from Bao: {e}"),
            };
            let bytes = weft_protocol::encode(Kind::BlobReply, &reply).unwrap();
            let _ = m.behaviour_mut().blob.send_response(channel, frame(&bytes));
        }
    }
    let result = fetch.await.unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(corrupted > 0, "the bad holder was never asked");
    let got = std::fs::read(&out).unwrap();
    assert!(got == image, "fetched image differs from the original");
    let entry = post_in_feed(&w, b, &id).await.unwrap();
    assert_eq!(entry["images"][0]["local"], true);
}
