//! Chat benchmark: one-way latency and sustained throughput of Weft chat
//! between two real `weft up` nodes on 127.0.0.1 (persistence on: the sender
//! flushes every send to disk before the API answers, the receiver flushes
//! before acknowledging), side by side with a bare libp2p request-response
//! baseline (TCP + Noise + Yamux, same process) carrying a request the size of
//! one sealed chat message. Run with `cargo bench -p weft-tests --bench chat`;
//! prints a JSON summary (recorded in docs/BENCHMARKS.md).
//!
//! Weft latency is measured from just before `POST /v1/chat/send` on A to the
//! moment this process reads the `message` event for that id from B's
//! `/v1/events` stream; both API hops are therefore included. The baseline's
//! one-way figure is its round trip divided by two.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::{
    multiaddr::Protocol, noise, request_response, swarm::SwarmEvent, tcp, yamux, Multiaddr,
    StreamProtocol, Swarm, SwarmBuilder,
};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use weft_node::net::frame::BytesCodec;
use weft_protocol::chat::{ChatBody, ChatKind};
use weft_tests::Weft;

const BIN: &str = env!("CARGO_BIN_EXE_weft-under-test");
/// Sequential messages (and baseline round trips) for the latency figures.
const M: usize = 300;
/// Unmeasured messages first (connection set-up, caches, sled warm-up).
const WARMUP: usize = 20;
/// Messages (and baseline requests) for the throughput figures.
const N: usize = 3000;
/// Concurrent senders (Weft) / requests in flight (baseline).
const SENDERS: usize = 4;
/// Length of every chat text; the baseline request is the sealed size of such a message.
const TEXT_LEN: usize = 64;
/// Baseline response size (about a delivery acknowledgement).
const ACK_LEN: usize = 64;
/// Deadline for any single wait.
const DEADLINE: Duration = Duration::from_secs(120);

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A chat text of exactly [`TEXT_LEN`] bytes.
fn text(tag: &str, i: usize) -> String {
    let mut t = format!("{tag} {i:06} ");
    while t.len() < TEXT_LEN {
        t.push('x');
    }
    t.truncate(TEXT_LEN);
    t
}

/// Size of one sealed chat message carrying a [`TEXT_LEN`]-byte text.
fn sealed_size() -> usize {
    let a = weft_protocol::AccountKey::generate().expect("key");
    let b = weft_protocol::AccountKey::generate().expect("key");
    let body = ChatBody {
        from: a.account_id(),
        to: b.account_id(),
        seq: 1,
        sent_at_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        kind: ChatKind::Text {
            text: text("latency", 1),
            reply_to: None,
        },
    };
    let plain = body.encode().expect("encode");
    weft_protocol::seal(&a, &b.account_id(), &plain)
        .expect("seal")
        .len()
}

// ---------------------------------------------------------------------------
// Weft: the API event stream, read by hand over a raw HTTP/1.1 connection.

/// One parsed `data:` line and when this process read it.
type Ev = (Value, Instant);

/// Opens `GET /v1/events` on the node of `home`; returns once the node has
/// answered 200 (it has subscribed by then) with a task forwarding events.
async fn events(home: &Path) -> mpsc::UnboundedReceiver<Ev> {
    let info = weft_node::Home::new(home)
        .read_api_info()
        .expect("api.json of a running node");
    let mut sock = TcpStream::connect(&info.addr).await.expect("connect API");
    sock.set_nodelay(true).expect("nodelay");
    let req = format!(
        "GET /v1/events HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nAccept: text/event-stream\r\n\r\n",
        info.addr, info.token
    );
    sock.write_all(req.as_bytes()).await.expect("request");
    let mut r = BufReader::new(sock);
    let mut line = String::new();
    r.read_line(&mut line).await.expect("status line");
    assert!(line.contains(" 200"), "event stream refused: {line}");
    let mut chunked = false;
    loop {
        line.clear();
        r.read_line(&mut line).await.expect("header");
        if line.trim_end().is_empty() {
            break;
        }
        let l = line.to_ascii_lowercase();
        if l.starts_with("transfer-encoding:") && l.contains("chunked") {
            chunked = true;
        }
    }
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let _ = pump(r, chunked, tx).await;
    });
    rx
}

/// Reads the SSE body (chunked or close-delimited) and forwards every JSON `data:` line.
async fn pump(
    mut r: BufReader<TcpStream>,
    chunked: bool,
    tx: mpsc::UnboundedSender<Ev>,
) -> std::io::Result<()> {
    let mut pending = Vec::new();
    let mut size_line = String::new();
    loop {
        let data = if chunked {
            size_line.clear();
            if r.read_line(&mut size_line).await? == 0 {
                return Ok(());
            }
            let hex = size_line.trim().split(';').next().unwrap_or("");
            let n = usize::from_str_radix(hex, 16)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            if n == 0 {
                return Ok(());
            }
            let mut buf = vec![0; n + 2]; // the chunk and its CRLF
            r.read_exact(&mut buf).await?;
            buf.truncate(n);
            buf
        } else {
            let mut buf = vec![0; 8192];
            let n = r.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            buf.truncate(n);
            buf
        };
        let at = Instant::now();
        pending.extend_from_slice(&data);
        while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
            let raw: Vec<u8> = pending.drain(..=pos).collect();
            let Ok(l) = std::str::from_utf8(&raw) else {
                continue;
            };
            if let Some(d) = l.trim_end().strip_prefix("data:") {
                if let Ok(v) = serde_json::from_str::<Value>(d.trim()) {
                    if tx.send((v, at)).is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// Ids in a `message` event.
fn message_ids(v: &Value) -> Vec<String> {
    match (v["type"].as_str(), v["id"].as_str()) {
        (Some("message"), Some(id)) => vec![id.to_string()],
        _ => Vec::new(),
    }
}

/// Ids in a `receipt` event saying "delivered".
fn delivered_ids(v: &Value) -> Vec<String> {
    if v["type"] != "receipt" || v["status"] != "delivered" {
        return Vec::new();
    }
    v["ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Watches one event stream for ids of one kind, remembering when each was first seen.
struct Watch {
    rx: mpsc::UnboundedReceiver<Ev>,
    ids: fn(&Value) -> Vec<String>,
    seen: HashMap<String, Instant>,
    last: Option<Instant>,
    lagged: bool,
}

impl Watch {
    fn new(rx: mpsc::UnboundedReceiver<Ev>, ids: fn(&Value) -> Vec<String>) -> Self {
        Self {
            rx,
            ids,
            seen: HashMap::new(),
            last: None,
            lagged: false,
        }
    }

    fn absorb(&mut self, (v, at): Ev) {
        if v["type"] == "lagged" {
            self.lagged = true;
        }
        for id in (self.ids)(&v) {
            if self.seen.insert(id, at).is_none() {
                self.last = Some(at);
            }
        }
    }

    async fn next(&mut self, deadline: tokio::time::Instant) -> bool {
        match tokio::time::timeout_at(deadline, self.rx.recv()).await {
            Ok(Some(ev)) => {
                self.absorb(ev);
                true
            }
            _ => false,
        }
    }

    /// When `id` was seen (waiting for it if need be).
    async fn id(&mut self, id: &str) -> Instant {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            if let Some(t) = self.seen.get(id) {
                return *t;
            }
            assert!(!self.lagged, "event stream lagged; latency sample lost");
            assert!(self.next(deadline).await, "never saw {id}");
        }
    }

    /// When the `n`-th distinct id was seen, or `None` if the stream lagged
    /// (events were dropped) before that.
    async fn count(&mut self, n: usize) -> Option<Instant> {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while self.seen.len() < n {
            if self.lagged {
                return None;
            }
            assert!(
                self.next(deadline).await,
                "only {} of {n} seen",
                self.seen.len()
            );
        }
        self.last
    }

    fn reset(&mut self) {
        while let Ok(ev) = self.rx.try_recv() {
            self.absorb(ev);
        }
        self.seen.clear();
        self.last = None;
    }
}

/// Messages from `from` in `home`'s chat log with `with`, via the API.
async fn logged(client: &weft_cli::Client, with: &str, from: &str) -> usize {
    let log: Vec<Value> = client
        .get(&format!("/v1/chat/log?with={with}&limit=100000"))
        .await
        .expect("chat log");
    log.iter().filter(|m| m["from"] == from).count()
}

struct WeftNumbers {
    one_way: Vec<f64>,
    to_receipt: Vec<f64>,
    all_sent: Duration,
    all_received: Duration,
    all_receipts: Option<Duration>,
    lagged: bool,
}

async fn bench_weft() -> WeftNumbers {
    let w = Weft::new(BIN);
    let (a, b) = (w.home("a"), w.home("b"));
    w.init(&a, "Ada").await;
    w.init(&b, "Bao").await;
    let mut na = w.up(&a, &[]).await;
    let mut nb = w.up(&b, &[]).await;
    w.befriend(&a, &b).await;
    let (a_id, b_id) = (w.account(&a).await, w.account(&b).await);
    let client = w.client(&a);
    let client_b = w.client(&b);
    let mut arrivals = Watch::new(events(&b).await, message_ids);
    let mut receipts = Watch::new(events(&a).await, delivered_ids);

    // Latency: one message at a time; the next goes once the previous one's
    // delivered receipt is back at A (so nothing overlaps).
    let mut one_way = Vec::with_capacity(M);
    let mut to_receipt = Vec::with_capacity(M);
    for i in 0..WARMUP + M {
        let t0 = Instant::now();
        let v: Value = client
            .post(
                "/v1/chat/send",
                &json!({"to": b_id, "text": text("latency", i)}),
            )
            .await
            .expect("send");
        let id = v["id"].as_str().expect("id").to_string();
        let arrived = arrivals.id(&id).await;
        let delivered = receipts.id(&id).await;
        if i >= WARMUP {
            one_way.push(ms(arrived - t0));
            to_receipt.push(ms(delivered - t0));
        }
    }

    // Throughput: SENDERS tasks on A sending N messages as fast as the API takes them.
    arrivals.reset();
    receipts.reset();
    let before = logged(&client_b, &a_id, &a_id).await;
    let t0 = Instant::now();
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let client = client.clone();
            let to = b_id.clone();
            tokio::spawn(async move {
                for i in 0..N / SENDERS {
                    let _: Value = client
                        .post(
                            "/v1/chat/send",
                            &json!({"to": to, "text": text(&format!("burst{s}"), i)}),
                        )
                        .await
                        .expect("send");
                }
                Instant::now()
            })
        })
        .collect();
    let received_at = arrivals.count(N).await;
    let mut sent_at = t0;
    for s in senders {
        sent_at = sent_at.max(s.await.expect("sender task"));
    }
    let lagged = received_at.is_none();
    let received_at = match received_at {
        Some(t) => t,
        // The stream dropped events: fall back to polling B's log.
        None => loop {
            if logged(&client_b, &a_id, &a_id).await >= before + N {
                break Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        },
    };
    let receipts_at = receipts.count(N).await;
    assert_eq!(logged(&client_b, &a_id, &a_id).await, before + N);

    for n in [&mut na, &mut nb] {
        n.signal("TERM").await;
        let _ = n.wait_exit(Duration::from_secs(5)).await;
    }
    WeftNumbers {
        one_way,
        to_receipt,
        all_sent: sent_at - t0,
        all_received: received_at - t0,
        all_receipts: receipts_at.map(|t| t - t0),
        lagged: lagged || receipts_at.is_none(),
    }
}

// ---------------------------------------------------------------------------
// Baseline: bare libp2p request-response, length-prefixed opaque bytes.

const BASELINE_PROTOCOL: StreamProtocol = StreamProtocol::new("/bench/bytes/1");
const MAX_FRAME: usize = 1 << 20;

/// The baseline uses Weft's own length-prefixed bytes codec, so both sides
/// frame the same way.
type Rr = request_response::Behaviour<BytesCodec>;

/// A swarm configured like a Weft node's transport (TCP nodelay, Noise, Yamux).
fn swarm() -> Swarm<Rr> {
    SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .expect("tcp transport")
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                BytesCodec {
                    max_request: MAX_FRAME,
                    max_response: MAX_FRAME,
                },
                [(BASELINE_PROTOCOL, request_response::ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(30))
                    .with_max_concurrent_streams(128),
            )
        })
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
        .build()
}

struct BaselineNumbers {
    rtt: Vec<f64>,
    throughput_wall: Duration,
}

async fn bench_baseline(payload: usize) -> BaselineNumbers {
    // Server: answers every request with an ack-sized response, in its own task.
    let mut server = swarm();
    server
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().expect("addr"))
        .expect("listen");
    let addr: Multiaddr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = server.select_next_some().await {
            break address;
        }
    };
    let server_peer = *server.local_peer_id();
    let server_task = tokio::spawn(async move {
        loop {
            if let SwarmEvent::Behaviour(request_response::Event::Message {
                message: request_response::Message::Request { channel, .. },
                ..
            }) = server.select_next_some().await
            {
                let _ = server
                    .behaviour_mut()
                    .send_response(channel, vec![7; ACK_LEN]);
            }
        }
    });

    let mut client = swarm();
    client
        .dial(addr.with(Protocol::P2p(server_peer)))
        .expect("dial");
    loop {
        if let SwarmEvent::ConnectionEstablished { .. } = client.select_next_some().await {
            break;
        }
    }
    let body = vec![0x5a; payload];

    // The id of the next answered request.
    async fn response(client: &mut Swarm<Rr>) -> request_response::OutboundRequestId {
        loop {
            match client.select_next_some().await {
                SwarmEvent::Behaviour(request_response::Event::Message {
                    message: request_response::Message::Response { request_id, .. },
                    ..
                }) => return request_id,
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                    error, ..
                }) => panic!("baseline request failed: {error}"),
                _ => {}
            }
        }
    }

    // Sequential round trips.
    let mut rtt = Vec::with_capacity(M);
    for i in 0..WARMUP + M {
        let t0 = Instant::now();
        let id = client
            .behaviour_mut()
            .send_request(&server_peer, body.clone());
        let got = response(&mut client).await;
        assert_eq!(got, id);
        if i >= WARMUP {
            rtt.push(ms(t0.elapsed()));
        }
    }

    // Throughput: SENDERS requests in flight until N are answered.
    let t0 = Instant::now();
    let mut sent = 0;
    for _ in 0..SENDERS {
        client
            .behaviour_mut()
            .send_request(&server_peer, body.clone());
        sent += 1;
    }
    for _ in 0..N {
        response(&mut client).await;
        if sent < N {
            client
                .behaviour_mut()
                .send_request(&server_peer, body.clone());
            sent += 1;
        }
    }
    let throughput_wall = t0.elapsed();
    server_task.abort();
    BaselineNumbers {
        rtt,
        throughput_wall,
    }
}

#[tokio::main]
async fn main() {
    let payload = sealed_size();
    let mut weft = bench_weft().await;
    let mut base = bench_baseline(payload).await;

    let w_p50 = pct(&mut weft.one_way, 0.5);
    let w_p99 = pct(&mut weft.one_way, 0.99);
    let w_mps = N as f64 / weft.all_received.as_secs_f64();
    let b_rtt50 = pct(&mut base.rtt, 0.5);
    let b_rtt99 = pct(&mut base.rtt, 0.99);
    let (b_p50, b_p99) = (b_rtt50 / 2.0, b_rtt99 / 2.0);
    let b_mps = N as f64 / base.throughput_wall.as_secs_f64();

    let report = json!({
        "payload": {
            "chat_text_bytes": TEXT_LEN,
            "sealed_message_bytes": payload,
            "baseline_request_bytes": payload,
            "baseline_response_bytes": ACK_LEN,
        },
        "weft": {
            "one_way_latency_ms": {"p50": w_p50, "p99": w_p99, "samples": M},
            "send_to_delivered_receipt_ms": {
                "p50": pct(&mut weft.to_receipt, 0.5),
                "p99": pct(&mut weft.to_receipt, 0.99),
            },
            "throughput": {
                "messages": N,
                "concurrent_senders": SENDERS,
                "all_accepted_by_api_s": weft.all_sent.as_secs_f64(),
                "all_received_s": weft.all_received.as_secs_f64(),
                "all_delivered_receipts_s": weft.all_receipts.map(|d| d.as_secs_f64()),
                "msgs_per_s": w_mps,
                "event_stream_lagged": weft.lagged,
            },
        },
        "libp2p_request_response": {
            "round_trip_ms": {"p50": b_rtt50, "p99": b_rtt99, "samples": M},
            "one_way_ms_rtt_over_2": {"p50": b_p50, "p99": b_p99},
            "throughput": {
                "requests": N,
                "in_flight": SENDERS,
                "wall_s": base.throughput_wall.as_secs_f64(),
                "msgs_per_s": b_mps,
            },
        },
        "ratios": {
            "one_way_p50_weft_over_baseline": w_p50 / b_p50,
            "one_way_p99_weft_over_baseline": w_p99 / b_p99,
            "msgs_per_s_baseline_over_weft": b_mps / w_mps,
        },
    });
    println!("{}", serde_json::to_string_pretty(&report).expect("json"));
}
