//! Attachments between real nodes: whole files arrive bit for bit, no
//! store holds their plaintext, a killed download resumes, images reach
//! every group member with a thumbnail and without their GPS tag, voice
//! notes show their length, and a file outlives its sender going offline.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use weft_tests::{chat_send, file_containing, noise, s, wait_for, Weft};

use crate::BIN;

/// `n` bytes nobody could guess or compress (xorshift), seeded.
fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write test file");
    p
}

/// The attachment of the newest message in `home`'s log with `with`.
async fn last_attachment(w: &Weft, home: &Path, with: &str) -> Option<Value> {
    let log = w.chat_log(home, with).await;
    log.iter()
        .rev()
        .find(|m| m.get("attachment").is_some())
        .map(|m| {
            let mut a = m["attachment"].clone();
            a["id"] = m["id"].clone();
            a["text"] = m["text"].clone();
            a
        })
}

/// Waits until `home` shows a message with an attachment from `with`.
async fn wait_attachment(w: &Weft, home: &Path, with: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(found) = last_attachment(w, home, with).await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the message with the attachment never arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `weft chat save` of message `id` on `home` into `out`, running.
fn spawn_save(w: &Weft, home: &Path, id: &str, out: &Path) -> tokio::process::Child {
    w.command()
        .args([
            "--json",
            "chat",
            "save",
            "--home",
            s(home),
            id,
            "--out",
            s(out),
        ])
        .spawn()
        .expect("spawn save")
}

/// Acceptance 1 and 5: a 20 MiB file arrives bit for bit; no node's home
/// (stores and file directories of sender, recipient and holder) holds any
/// of its plaintext; and a 5 MiB file sent just before its sender goes
/// offline is still saved by the recipient, from a holder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_arrive_whole_encrypted_and_outlive_their_sender() {
    let w = Weft::new(BIN);
    let (mut procs, homes) = w.network(&["ann", "bao", "cai"]).await;
    let (a, b, c) = (&homes[0], &homes[1], &homes[2]);
    w.befriend(a, b).await;
    let a_id = w.account(a).await;
    let b_id = w.account(b).await;
    let tmp = tempfile::tempdir().expect("tmp");

    let big = noise(20 * 1024 * 1024, 7);
    let path = write(tmp.path(), "report.bin", &big);
    let sent = w
        .json(&chat_send(a, &b_id, &["the report", "--file", s(&path)]))
        .await;
    assert!(sent["id"].is_string(), "{sent}");
    let att = wait_attachment(&w, b, &a_id).await;
    assert_eq!(att["kind"], "file");
    assert_eq!(att["name"], "report.bin");
    assert_eq!(att["size"], big.len() as u64);
    assert_eq!(att["mime"], "application/octet-stream");
    assert_eq!(att["text"], "the report");
    assert_eq!(
        att["local"], false,
        "20 MiB is over the automatic download size"
    );
    let out = tmp.path().join("saved.bin");
    let id = att["id"].as_str().expect("id");
    w.json(&["chat", "save", "--home", s(b), id, "--out", s(&out)])
        .await;
    assert!(
        std::fs::read(&out).expect("saved") == big,
        "saved bytes differ"
    );
    let after = last_attachment(&w, b, &a_id).await.expect("attachment");
    assert_eq!(after["local"], true);
    // No plaintext anywhere: a 64-byte sample from the start, the middle
    // and the end of the file, searched in every byte of every home.
    let boot = w.home("boot");
    for at in [0, big.len() / 2, big.len() - 64] {
        let sample = &big[at..at + 64];
        for h in [a, b, c, &boot] {
            assert_eq!(
                file_containing(h, sample),
                None,
                "plaintext found under {}",
                h.display()
            );
        }
    }

    // Acceptance 5: 5 MiB, then the sender is gone at once.
    let five = noise(5 * 1024 * 1024, 11);
    let path = write(tmp.path(), "five.bin", &five);
    let sent = w
        .json(&["chat", "send", "--home", s(a), &b_id, "--file", s(&path)])
        .await;
    assert!(
        sent["held_by"].as_u64().unwrap_or(0) >= 1,
        "no holder has it: {sent}"
    );
    procs[1].signal("KILL").await;
    procs[1].wait_exit(Duration::from_secs(10)).await;
    let sent_id = sent["id"].as_str().expect("id").to_string();
    let arrived = w
        .log_shows(b, &a_id, Duration::from_secs(60), |m| {
            m["id"] == sent_id.as_str()
        })
        .await;
    assert!(arrived, "the 5 MiB message never arrived");
    let out = tmp.path().join("five.out");
    w.json(&["chat", "save", "--home", s(b), &sent_id, "--out", s(&out)])
        .await;
    assert!(
        std::fs::read(&out).expect("saved") == five,
        "saved bytes differ"
    );
    let sample = &five[1000..1064];
    assert_eq!(
        file_containing(c, sample),
        None,
        "the holder holds plaintext"
    );
}

/// Acceptance 2: a 200 MiB download killed (SIGKILL) halfway resumes after
/// the restart from what it had, and completes with the same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_killed_halfway_resumes_where_it_stopped() {
    let w = Weft::new(BIN);
    let ((a, _na), (b, mut nb)) = w.ann_and_bao().await;
    let a_id = w.account(&a).await;
    let b_id = w.account(&b).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let data = noise(200 * 1024 * 1024, 3);
    let path = write(tmp.path(), "big.bin", &data);
    let sent = w
        .json(&chat_send(&a, &b_id, &["--file", s(&path), "--no-wait"]))
        .await;
    let id = sent["id"].as_str().expect("id").to_string();
    let file = sent["file"].as_str().expect("file").to_string();
    wait_attachment(&w, &b, &a_id).await;
    let mut events = w.events(&b);
    let out = tmp.path().join("big.out");
    let mut save = spawn_save(&w, &b, &id, &out);
    let size = data.len() as u64;
    let mut had = 0;
    let halfway = events
        .until(Duration::from_secs(120), |seen| {
            had = seen
                .iter()
                .filter(|e| e["type"] == "file_progress" && e["file"] == file.as_str())
                .filter_map(|e| e["have"].as_u64())
                .max()
                .unwrap_or(0);
            had >= size / 2
        })
        .await;
    assert!(halfway, "the download never got halfway");
    nb.signal("KILL").await;
    nb.wait_exit(Duration::from_secs(10)).await;
    let _ = save.wait().await;
    assert!(
        !out.exists(),
        "a killed save left a file under the name asked for"
    );
    let _nb = w.up(&b, &[]).await;
    let mut events = w.events(&b);
    let mut save = spawn_save(&w, &b, &id, &out);
    let mut first = None;
    let resumed = events
        .until(Duration::from_secs(120), |seen| {
            first = seen
                .iter()
                .find(|e| e["type"] == "file_progress" && e["file"] == file.as_str())
                .and_then(|e| e["have"].as_u64());
            first.is_some()
        })
        .await;
    assert!(resumed, "no progress after the restart");
    let first = first.unwrap_or(0);
    assert!(
        first >= had,
        "the download started over: {first} bytes after the restart, {had} before"
    );
    let st = tokio::time::timeout(Duration::from_secs(180), save.wait())
        .await
        .expect("save finishes")
        .expect("save runs");
    assert!(st.success(), "chat save failed after the restart");
    assert!(
        std::fs::read(&out).expect("saved") == data,
        "saved bytes differ"
    );
}

/// Acceptance 3 and 4: a photo sent to a group of four reaches every
/// member with a thumbnail, and its standard version has no EXIF (so no GPS
/// tag); a voice note shows its length on the recipient.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photos_reach_a_group_with_thumbnails_and_without_gps() {
    let w = Weft::new(BIN);
    let (_procs, homes) = w.network(&["ann", "bao", "cai", "dan"]).await;
    let a = &homes[0];
    let mut ids = Vec::new();
    for h in &homes[1..] {
        w.befriend(a, h).await;
        ids.push(w.account(h).await);
    }
    let a_id = w.account(a).await;
    let gid = w
        .group_create(a, "Hikers", &[&ids[0], &ids[1], &ids[2]])
        .await;
    for h in &homes[1..] {
        let joined = wait_for(Duration::from_secs(60), || async {
            let list = w.json(&["group", "list", "--home", s(h)]).await;
            list.as_array()
                .is_some_and(|l| l.iter().any(|x| x["id"] == gid.as_str()))
        })
        .await;
        assert!(joined, "a member never got the group");
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let jpeg = weft_node::media::samples::jpeg_with_gps(2400, 1600);
    assert!(jpeg.windows(11).any(|x| x == b"GPSLatitude"));
    let photo = write(tmp.path(), "summit.jpg", &jpeg);
    let sent = w
        .json(&chat_send(a, &gid, &["on top!", "--image", s(&photo)]))
        .await;
    let id = sent["id"].as_str().expect("id").to_string();
    for h in &homes[1..] {
        let att = wait_attachment(&w, h, &gid).await;
        assert_eq!(att["kind"], "image");
        assert_eq!(att["mime"], "image/jpeg");
        assert!(
            att["thumb"].as_u64().unwrap_or(0) > 100,
            "no thumbnail: {att}"
        );
        assert_eq!(att["width"], 1920);
        let thumb = w
            .client(h)
            .get_bytes(&format!("/v1/chat/thumb/{id}"))
            .await
            .expect("thumbnail");
        assert!(thumb.starts_with(&[0xff, 0xd8]) && thumb.len() <= 16 * 1024);
        let out = tmp.path().join(format!(
            "{}.jpg",
            h.file_name().and_then(|n| n.to_str()).unwrap_or("x")
        ));
        w.json(&["chat", "save", "--home", s(h), &id, "--out", s(&out)])
            .await;
        let saved = std::fs::read(&out).expect("saved");
        assert!(saved.starts_with(&[0xff, 0xd8]), "not a JPEG");
        assert!(!saved.windows(4).any(|x| x == b"Exif"), "EXIF kept");
        assert!(
            !saved.windows(11).any(|x| x == b"GPSLatitude"),
            "GPS tag kept"
        );
    }

    // A voice note, 1:1: its length shows on the recipient.
    let b = &homes[1];
    let ogg = weft_node::media::samples::ogg_opus(4_250);
    let voice = write(tmp.path(), "note.ogg", &ogg);
    w.json(&chat_send(a, &ids[0], &["--voice", s(&voice)]))
        .await;
    let att = wait_attachment(&w, b, &a_id).await;
    assert_eq!(att["kind"], "voice");
    assert_eq!(att["duration_ms"], 4_250, "{att}");
    // A small voice note downloads by itself (in the background, after
    // its message is shown).
    let fetched = wait_for(Duration::from_secs(30), || async {
        last_attachment(&w, b, &a_id)
            .await
            .is_some_and(|a| a["local"] == true)
    })
    .await;
    assert!(fetched, "a small voice note was not downloaded by itself");
    // Bytes that are not a voice note are refused as one.
    let fake = write(tmp.path(), "fake.ogg", &noise(5000, 1));
    w.refused(&chat_send(a, &ids[0], &["--voice", s(&fake)]))
        .await;
}
