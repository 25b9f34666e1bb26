//! File transfer benchmark (issue 15): one file between two nodes on
//! loopback, against the same bytes through a plain TCP socket in the same
//! run. Run with `cargo bench -p weft-tests --bench files` (1 GiB); prints a
//! JSON summary (recorded in docs/BENCHMARKS.md).
//!
//! Measured: raw TCP (the sender reads the file from disk and writes it to
//! a socket; the receiver reads it into a buffer, and again writing it to a
//! file and syncing, as a node does), bare libp2p (the same transport as a
//! node, TCP + Noise + Yamux, 1 MiB requests, 8 in flight, into memory:
//! the ceiling of the transport), then Weft: Ann sends the file to Bao
//! (`chat send --file --no-wait`: encrypted and stored on Ann's node, the
//! message delivered), and the transfer is Bao's `POST /v1/chat/fetch` from
//! request to answer (every chunk fetched, verified, written and synced).
//! Peak RSS of both nodes over the whole run (`VmHWM`) and sampled during
//! the transfer. The saved plaintext is compared with the original.
//!
//! Run by the test runner (`cargo test --all-targets`), it takes a quick
//! mode: 16 MiB, every assertion still checked.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weft_tests::{chat_send, s, Weft};

const BIN: &str = env!("CARGO_BIN_EXE_weft-under-test");

fn size() -> (u64, bool) {
    if std::env::args().any(|a| a == "--bench") {
        (1 << 30, false)
    } else {
        (16 << 20, true)
    }
}

/// Writes `n` pseudo-random bytes (xorshift) to `p`, 1 MiB at a time.
fn write_noise(p: &Path, n: u64) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(p).expect("create"));
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = n;
    while left > 0 {
        for c in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.copy_from_slice(&x.to_le_bytes()[..c.len()]);
        }
        let k = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..k]).expect("write");
        left -= k as u64;
    }
    f.flush().expect("flush");
}

/// Runs `weft --json ARGS` to completion, with no time cap (a 1 GiB file
/// outlasts `Weft::run`'s), asserts success, and returns its stdout and
/// how long it took, in seconds.
async fn timed(w: &Weft, args: &[&str]) -> (Vec<u8>, f64) {
    let t = Instant::now();
    let out = w
        .command()
        .arg("--json")
        .args(args)
        .output()
        .await
        .expect("weft runs");
    let secs = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "weft {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.stdout, secs)
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse().ok())
        .unwrap_or(0)
}

/// Seconds to move `file` through a loopback socket; the receiver keeps
/// the bytes in a buffer, or writes them to `sink` and syncs it.
async fn raw_tcp(file: &Path, sink: Option<&Path>) -> f64 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let sink = sink.map(Path::to_path_buf);
    let receiver = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.expect("accept");
        let mut out = match &sink {
            Some(p) => Some(tokio::fs::File::create(p).await.expect("sink")),
            None => None,
        };
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = sock.read(&mut buf).await.expect("read");
            if n == 0 {
                break;
            }
            total += n as u64;
            if let Some(f) = out.as_mut() {
                f.write_all(&buf[..n]).await.expect("write");
            }
        }
        if let Some(f) = out.as_mut() {
            f.sync_all().await.expect("sync");
        }
        total
    });
    let t = Instant::now();
    let mut sock = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut f = tokio::fs::File::open(file).await.expect("open");
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).await.expect("read file");
        if n == 0 {
            break;
        }
        sock.write_all(&buf[..n]).await.expect("send");
    }
    sock.shutdown().await.expect("shutdown");
    let got = receiver.await.expect("receiver");
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(got, std::fs::metadata(file).expect("meta").len());
    secs
}

/// Seconds to move `file` over bare libp2p (TCP, Noise, Yamux: a Weft
/// node's transport, without Weft): 1 MiB requests, 8 in flight (as a Weft
/// transfer fetches chunks), the receiver keeping the bytes in memory and
/// answering each with 8 bytes. The ceiling of any transfer over this
/// transport on this machine.
async fn bare_libp2p(file: &Path) -> f64 {
    use futures::StreamExt;
    use libp2p::{request_response as rr, swarm::SwarmEvent};
    const CHUNK: usize = 1 << 20;
    const IN_FLIGHT: usize = 8;
    let (mut server, addr) = weft_tests::bare::listening(CHUNK + 64).await;
    let server_peer = *server.local_peer_id();
    let received = tokio::spawn(async move {
        let mut total = 0u64;
        let mut last = None;
        let mut answered = false;
        loop {
            match server.select_next_some().await {
                SwarmEvent::Behaviour(rr::Event::Message {
                    message:
                        rr::Message::Request {
                            request,
                            channel,
                            request_id,
                        },
                    ..
                }) => {
                    if request.is_empty() {
                        // The swarm must live until the last answer is out:
                        // dropped now, the answer could be lost and the
                        // client would wait for it for ever.
                        let _ = server.behaviour_mut().send_response(channel, Vec::new());
                        last = Some(request_id);
                        continue;
                    }
                    total += request.len() as u64;
                    let _ = server
                        .behaviour_mut()
                        .send_response(channel, total.to_le_bytes().to_vec());
                }
                SwarmEvent::Behaviour(rr::Event::ResponseSent { request_id, .. })
                    if Some(request_id) == last =>
                {
                    answered = true;
                }
                // Dropping the swarm as soon as the last answer is written
                // could close the connection before the client read it
                // (seen once in CI): the client hangs up first.
                SwarmEvent::ConnectionClosed { .. } if answered => return total,
                _ => {}
            }
        }
    });
    let mut client = weft_tests::bare::connected(CHUNK + 64, addr).await;
    let t = Instant::now();
    let mut f = tokio::fs::File::open(file).await.expect("open");
    let (mut outstanding, mut eof) = (0, false);
    loop {
        while !eof && outstanding < IN_FLIGHT {
            let mut buf = vec![0u8; CHUNK];
            let mut n = 0;
            while n < CHUNK {
                let k = f.read(&mut buf[n..]).await.expect("read file");
                if k == 0 {
                    break;
                }
                n += k;
            }
            if n == 0 {
                eof = true;
                break;
            }
            buf.truncate(n);
            client.behaviour_mut().send_request(&server_peer, buf);
            outstanding += 1;
        }
        if outstanding == 0 {
            break;
        }
        match client.select_next_some().await {
            SwarmEvent::Behaviour(rr::Event::Message {
                message: rr::Message::Response { .. },
                ..
            }) => outstanding -= 1,
            SwarmEvent::Behaviour(rr::Event::OutboundFailure { error, .. }) => {
                panic!("bare libp2p request failed: {error}")
            }
            _ => {}
        }
    }
    // An empty request ends it; its answer means every chunk was counted.
    client
        .behaviour_mut()
        .send_request(&server_peer, Vec::new());
    loop {
        match client.select_next_some().await {
            SwarmEvent::Behaviour(rr::Event::Message {
                message: rr::Message::Response { .. },
                ..
            }) => break,
            SwarmEvent::Behaviour(rr::Event::OutboundFailure { error, .. }) => {
                panic!("bare libp2p: the last request failed: {error}")
            }
            _ => {}
        }
    }
    let secs = t.elapsed().as_secs_f64();
    // Hang up: the server ends when the connection closes.
    drop(client);
    let got = received.await.expect("server");
    assert_eq!(got, std::fs::metadata(file).expect("meta").len());
    secs
}

#[tokio::main]
async fn main() {
    let (n, quick) = size();
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join("payload.bin");
    write_noise(&file, n);
    let mib = n as f64 / (1 << 20) as f64;

    // Warm the page cache the same way for every contender.
    let _ = raw_tcp(&file, None).await;
    let raw_mem = raw_tcp(&file, None).await;
    let raw_disk = raw_tcp(&file, Some(&tmp.path().join("raw.out"))).await;
    let _ = std::fs::remove_file(tmp.path().join("raw.out"));
    let bare = tokio::time::timeout(Duration::from_secs(600), bare_libp2p(&file))
        .await
        .expect("the bare libp2p run took over 10 minutes");

    let w = Weft::new(BIN);
    let ((a, na), (b, nb)) = w.ann_and_bao().await;
    let b_id = w.account(&b).await;
    let a_id = w.account(&a).await;
    let send = chat_send(&a, &b_id, &["--file", s(&file), "--no-wait"]);
    let (stdout, staged_s) = timed(&w, &send).await;
    let sent: serde_json::Value = serde_json::from_slice(&stdout).expect("json");
    let id = sent["id"].as_str().expect("id").to_string();
    let arrived = w
        .log_shows(&b, &a_id, Duration::from_secs(60), |m| {
            m["id"] == id.as_str()
        })
        .await;
    assert!(arrived, "the message never arrived");

    let (pa, pb) = (na.pid(), nb.pid());
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        tokio::spawn(async move {
            let (mut ma, mut mb) = (0, 0);
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                ma = ma.max(status_kib(pa, "VmRSS:"));
                mb = mb.max(status_kib(pb, "VmRSS:"));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (ma, mb)
        })
    };
    let client = w.client(&b);
    let t = Instant::now();
    let resp = client
        .checked(
            client
                .long(reqwest::Method::POST, "/v1/chat/fetch")
                .json(&json!({ "id": id })),
        )
        .await
        .expect("fetch");
    let weft_s = t.elapsed().as_secs_f64();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let (sample_a, sample_b) = sampler.await.expect("sampler");
    let fetched: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(fetched["size"], n);
    let hwm_a = status_kib(pa, "VmHWM:");
    let hwm_b = status_kib(pb, "VmHWM:");

    let saved = tmp.path().join("saved.bin");
    let save = ["chat", "save", "--home", s(&b), &id, "--out", s(&saved)];
    let (_, save_s) = timed(&w, &save).await;
    let same = {
        use std::io::Read;
        let (mut x, mut y) = (
            std::fs::File::open(&file).expect("a"),
            std::fs::File::open(&saved).expect("b"),
        );
        let (mut bx, mut by) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
        loop {
            let k = x.read(&mut bx).expect("read");
            let mut got = 0;
            while got < k {
                let m = y.read(&mut by[got..k]).expect("read");
                if m == 0 {
                    break;
                }
                got += m;
            }
            if k == 0 || got != k || bx[..k] != by[..k] {
                break k == 0 && y.read(&mut by).expect("read") == 0;
            }
        }
    };
    assert!(same, "the saved file differs from the original");

    let weft_mibs = mib / weft_s;
    let raw_mibs = mib / raw_mem;
    let report = json!({
        "file_mib": mib,
        "quick_mode": quick,
        "raw_tcp_to_memory_mib_s": raw_mibs,
        "raw_tcp_to_disk_synced_mib_s": mib / raw_disk,
        "bare_libp2p_to_memory_mib_s": mib / bare,
        "bare_libp2p_ratio_to_raw_tcp": (mib / bare) / raw_mibs,
        "weft_transfer_mib_s": weft_mibs,
        "weft_transfer_s": weft_s,
        "ratio_to_raw_tcp": weft_mibs / raw_mibs,
        "ratio_to_raw_tcp_to_disk": weft_mibs / (mib / raw_disk),
        "ratio_to_bare_libp2p": weft_mibs / (mib / bare),
        "sender_stage_s (read, encrypt, hash, store, sync; message sent)": staged_s,
        "recipient_save_s (decrypt and write)": save_s,
        "peak_rss_mib": {
            "sender_whole_run_vmhwm": hwm_a as f64 / 1024.0,
            "recipient_whole_run_vmhwm": hwm_b as f64 / 1024.0,
            "sender_sampled_during_transfer": sample_a as f64 / 1024.0,
            "recipient_sampled_during_transfer": sample_b as f64 / 1024.0,
        },
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&report).unwrap_or_default()
    );
}
