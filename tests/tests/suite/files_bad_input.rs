//! A hostile friend's attachments: a manifest lying about the size, a
//! corrupt chunk, a key that does not open, a type that is not what it
//! claims, a thumbnail that is a decompression bomb, and a file name with a
//! path. Each is refused or neutralised with a clear error; nothing
//! crashes; a partial or unreadable download is never shown as complete.

use std::collections::HashMap;
use std::time::Duration;

use libp2p::identity::Keypair;
use serde_json::Value;
use weft_protocol::{
    chat::{item_hash, ChatKind},
    file::{self, Attachment, AttachmentKind, FileManifest, FileReply, FileRequest, SEGMENT},
    AccountId, AccountKey,
};
use weft_tests::hostile::connect;
use weft_tests::mallory::{self, deliver_own, sealed, serve_files};
use weft_tests::{json_error, s, Weft};

use crate::BIN;

/// `plain` sealed under `key`: the manifest and the ciphertext chunks.
fn seal_file(plain: &[u8], key: &[u8; 32]) -> (FileManifest, Vec<Vec<u8>>) {
    let mut chunks = Vec::new();
    for (i, seg) in plain.chunks(SEGMENT).enumerate() {
        let mut buf = seg.to_vec();
        file::seal_segment(key, i as u64, &mut buf).expect("seal");
        chunks.push(buf);
    }
    let m = FileManifest {
        size: chunks.iter().map(|c| c.len() as u64).sum(),
        chunks: chunks
            .iter()
            .map(|c| weft_protocol::content_id(c))
            .collect(),
    };
    (m, chunks)
}

fn attachment(
    kind: AttachmentKind,
    m: &FileManifest,
    key: [u8; 32],
    size: u64,
    mime: &str,
    name: &str,
) -> Attachment {
    Attachment {
        kind,
        file: m.id(),
        key,
        size,
        mime: mime.into(),
        name: name.into(),
        thumb: None,
        dims: None,
        duration_ms: None,
    }
}

/// The message in Ada's log with Mallory whose caption is `caption`.
async fn message(w: &Weft, home: &std::path::Path, with: &str, caption: &str) -> Option<Value> {
    w.chat_log(home, with)
        .await
        .into_iter()
        .find(|m| m["text"] == caption)
}

/// `weft --json chat save` of the message captioned `caption` into `out`,
/// while Mallory answers the node's file requests with `answer`.
async fn save(
    w: &Weft,
    home: &std::path::Path,
    with: &str,
    caption: &str,
    out: &std::path::Path,
    m: &mut libp2p::Swarm<mallory::Mallory>,
    answer: &mut impl FnMut(FileRequest) -> Option<FileReply>,
) -> std::process::Output {
    let msg = message(w, home, with, caption)
        .await
        .expect("message shown");
    let id = msg["id"].as_str().expect("id").to_string();
    let args = [
        "--json",
        "chat",
        "save",
        "--home",
        s(home),
        &id,
        "--out",
        s(out),
    ];
    serve_files(m, answer, w.run(&args)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_friends_attachments_are_refused_or_neutralised() {
    let w = Weft::new(BIN);
    let (a, _na) = w.started("a", "Ada", &[]).await;
    let a_id: AccountId = w.account(&a).await.parse().expect("id");
    let mallory = AccountKey::generate().expect("key");
    let m_id = mallory.account_id();
    let dev = Keypair::generate_ed25519();
    let mut m = mallory::swarm(dev.clone());
    let node = connect(&mut m, &w.dial_addr(&a).await).await;
    // Mallory becomes Ada's friend (with a card naming her real device).
    let card = mallory::card(&mallory, &dev, "Mallory");
    let req = sealed(
        &mallory,
        m_id,
        a_id,
        1,
        ChatKind::FriendRequest {
            card,
            greeting: "hi".into(),
        },
    );
    deliver_own(&mut m, node, &mallory, a_id, vec![req])
        .await
        .expect("ack");
    w.json(&["contacts", "accept", "--home", s(&a), &m_id.to_string()])
        .await;

    let mut served: HashMap<[u8; 32], (FileManifest, Vec<Vec<u8>>)> = HashMap::new();
    let mut seq = 1;
    let mut send = |att: Attachment, caption: &str| {
        seq += 1;
        let kind = ChatKind::File {
            attachment: att,
            caption: caption.into(),
            reply_to: None,
        };
        sealed(&mallory, m_id, a_id, seq, kind)
    };
    let noise: Vec<u8> = (0..3 * SEGMENT as u32 + 500)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let key = file::new_key().expect("key");
    // An octet-stream file said to be `size` bytes: the chunks of `m`, under `key`.
    let binary = |m: &FileManifest, key, size: usize, name: &str| {
        let kind = AttachmentKind::File;
        attachment(kind, m, key, size as u64, "application/octet-stream", name)
    };

    // 1. A manifest lying about the size: the message says 1,000 bytes.
    let (m1, c1) = seal_file(&noise, &key);
    let lying = send(binary(&m1, key, 1000, "lying.bin"), "lying");
    served.insert(m1.id(), (m1.clone(), c1.clone()));
    // 2. A corrupt chunk (chunk 1 has a flipped byte at its only source).
    let other: Vec<u8> = noise.iter().map(|b| b ^ 0x55).collect();
    let (m2, mut c2) = seal_file(&other, &key);
    c2[1][100] ^= 1;
    let corrupt = send(binary(&m2, key, other.len(), "corrupt.bin"), "corrupt");
    served.insert(m2.id(), (m2.clone(), c2));
    // 3. A key that does not open the chunks.
    let wrong_key = file::new_key().expect("key");
    let third: Vec<u8> = noise.iter().map(|b| b ^ 0x33).collect();
    let (m3, c3) = seal_file(&third, &key);
    let badkey = send(binary(&m3, wrong_key, third.len(), "key.bin"), "badkey");
    served.insert(m3.id(), (m3.clone(), c3));
    // 4. "A photo" that is a ZIP archive.
    let mut zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00".to_vec();
    zip.extend(&noise[..5000]);
    let (m4, c4) = seal_file(&zip, &key);
    // The ZIP's chunks, announced as `mime` with `name`.
    let as_zip =
        |kind, mime: &str, name: &str| attachment(kind, &m4, key, zip.len() as u64, mime, name);
    let fake_photo = send(
        as_zip(AttachmentKind::Image, "image/jpeg", "holiday.jpg"),
        "photo",
    );
    served.insert(m4.id(), (m4.clone(), c4));
    // 5. A thumbnail that is a decompression bomb.
    let mut bomb = as_zip(AttachmentKind::Image, "image/jpeg", "bomb.jpg");
    bomb.thumb = Some(weft_node::media::samples::png_bomb());
    let bomb = send(bomb, "bomb");
    // 6. A name that is a path: the whole message is refused.
    let path = send(
        as_zip(AttachmentKind::File, "text/plain", "../../etc/passwd"),
        "path",
    );

    for item in [&lying, &corrupt, &badkey, &fake_photo, &bomb] {
        let ack = deliver_own(&mut m, node, &mallory, a_id, vec![item.clone()])
            .await
            .expect("ack");
        assert!(
            ack.accepted.contains(&item_hash(item)),
            "a well-formed attachment message was refused"
        );
    }
    let ack = deliver_own(&mut m, node, &mallory, a_id, vec![path.clone()])
        .await
        .expect("ack");
    assert!(
        ack.rejected.contains(&item_hash(&path)),
        "a file name with a path was taken"
    );
    let with = m_id.to_string();
    assert!(
        message(&w, &a, &with, "path").await.is_none(),
        "the path message is shown"
    );

    let answer = |req: FileRequest| -> Option<FileReply> {
        Some(match req {
            FileRequest::Manifest(id) => match served.get(&id) {
                Some((m, _)) => FileReply::Manifest(m.clone()),
                None => FileReply::Missing,
            },
            FileRequest::Chunk { file, index } => {
                match served.get(&file).and_then(|(_, c)| c.get(index as usize)) {
                    Some(c) => FileReply::Chunk(c.clone()),
                    None => FileReply::Missing,
                }
            }
            _ => FileReply::Missing,
        })
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("out.bin");
    let mut answer = answer;
    for (caption, needle) in [
        ("lying", "size"),
        ("corrupt", "chunk"),
        ("badkey", "does not open"),
    ] {
        let run = save(&w, &a, &with, caption, &out, &mut m, &mut answer).await;
        assert!(!run.status.success(), "{caption}: chat save succeeded");
        let err = json_error(&run);
        assert!(
            err["message"].as_str().unwrap_or("").contains(needle),
            "{caption}: unclear error {err}"
        );
        assert!(!out.exists(), "{caption}: a file was written");
        let after = message(&w, &a, &with, caption).await.expect("message");
        assert_eq!(
            after["attachment"]["local"], false,
            "{caption}: shown as downloaded"
        );
    }

    // The fake photo saves (the bytes are the sender's business) but is
    // shown as what it is.
    let run = save(&w, &a, &with, "photo", &out, &mut m, &mut answer).await;
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(std::fs::read(&out).expect("saved"), zip);
    let after = message(&w, &a, &with, "photo").await.expect("message");
    assert_eq!(after["attachment"]["mime"], "application/zip", "{after}");
    assert_eq!(after["attachment"]["declared_mime"], "image/jpeg");
    assert_eq!(after["attachment"]["kind"], "file");

    // The bomb thumbnail is refused when asked for, and the node lives on.
    let msg = message(&w, &a, &with, "bomb").await.expect("message");
    let id = msg["id"].as_str().expect("id").to_string();
    let thumb = tokio::time::timeout(
        Duration::from_secs(10),
        w.client(&a).get_bytes(&format!("/v1/chat/thumb/{id}")),
    )
    .await
    .expect("the thumbnail answer came");
    let e = thumb.expect_err("a bomb was served as a thumbnail");
    assert!(e.to_string().contains("thumbnail"), "{e}");
    assert!(w.status(&a).await["peer_id"].is_string());
}
