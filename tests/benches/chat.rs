//! Chat benchmark: latency and sustained throughput of Weft chat between two
//! nodes on 127.0.0.1 (persistence on: the sender flushes every send to
//! disk before it is answered, the receiver flushes before acknowledging),
//! measured twice: two nodes in this process driven through the node's
//! Rust API (`Chat::send`, `Chat::subscribe`), like for like with the
//! baselines' two swarms in this process; and two real `weft up` processes
//! driven through the control API (local HTTP in and out). Side by side
//! with two bare libp2p request-response baselines (TCP + Noise + Yamux,
//! in this process) carrying messages the size of one sealed chat message:
//! one request per message, and batches of the size Weft's delivery worker
//! uses. The last line's ratios are the control-API pair's (as since issue
//! #17 was filed); the in-process pair's are in the report above it. Run with
//! `cargo bench -p weft-tests --bench chat`; prints a JSON summary (recorded
//! in docs/BENCHMARKS.md) and ends with one JSON line of ratios on stdout.
//!
//! Everything is measured the same way on both sides, from the sender
//! application's call to what the receiving application sees:
//! - **one-way**: from just before the send call (Weft: `POST /v1/chat/send`
//!   on A; baseline: `send_request`) to the receiver seeing the message (Weft:
//!   this process reading B's `message` event from `/v1/events`, so both local
//!   HTTP hops are in; baseline: the server's swarm event for the request).
//! - **round trip**: from the same start to the sender holding the
//!   acknowledgement (Weft: A's `delivered` receipt event, which B sends only
//!   after its flush; baseline: the response).
//! - **throughput**: N messages; messages/s until the receiver has all N
//!   (one-way) and until the sender holds every acknowledgement (round trip).
//!   The headline ratio uses the round trip: messages durable at both ends
//!   and known to be.
//!
//! The whole comparison is repeated [`Sizes::runs`] times with fresh nodes;
//! every figure reported is the median over runs of that run's figure.
//!
//! Run by the test runner (`cargo test --all-targets`, which does not pass
//! `--bench`), it takes a quick mode: 2 runs of a few messages, every
//! assertion (all messages logged exactly once, every id seen) still checked.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::{request_response, swarm::SwarmEvent, PeerId, Swarm};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc};
use weft_node::config::Profile;
use weft_node::store::chat::MsgStatus;
use weft_node::{NodeConfig, NodeHandle, RunningNode};
use weft_protocol::chat::{ChatBody, ChatKind};
use weft_tests::bare::{connected as bare_connected, listening as bare_listening, Rr};
use weft_tests::Weft;

const BIN: &str = env!("CARGO_BIN_EXE_weft-under-test");
/// Concurrent senders (Weft) / requests in flight (per-request baseline).
const SENDERS: usize = 4;
/// Length of every chat text; the baseline message is the sealed size of such a message.
const TEXT_LEN: usize = 64;
/// Messages per delivery round in Weft (`BATCH_ITEMS` in
/// `node/src/chat/delivery.rs`); the batched baseline uses the same.
const WEFT_BATCH_ITEMS: usize = 256;
/// Sealed bytes per delivery round in Weft (`BATCH_BYTES` there).
const WEFT_BATCH_BYTES: usize = 56 * 1024;
/// Baseline response: a fixed part plus one 32-byte item hash per message,
/// like Weft's `DeliveryAck` (64 bytes for one message).
const ACK_BASE: usize = 32;
const ACK_PER_ITEM: usize = 32;
/// Deadline for any single wait.
const DEADLINE: Duration = Duration::from_secs(120);

/// How much to measure.
#[derive(Clone, Copy)]
struct Sizes {
    /// Whole comparisons (fresh nodes each); figures are medians over runs.
    runs: usize,
    /// Sequential messages (and baseline round trips) for the latency figures.
    m: usize,
    /// Unmeasured messages first (connection set-up, caches, sled warm-up).
    warmup: usize,
    /// Messages for the throughput figures.
    n: usize,
    /// The test runner's quick mode.
    quick: bool,
}

/// `cargo bench` passes `--bench`; the test runner passes nothing.
fn sizes() -> Sizes {
    if std::env::args().any(|a| a == "--bench") {
        Sizes {
            runs: 5,
            m: 300,
            warmup: 20,
            n: 3000,
            quick: false,
        }
    } else {
        Sizes {
            runs: 2,
            m: 20,
            warmup: 3,
            n: 200,
            quick: true,
        }
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    assert!(!v.is_empty(), "no samples");
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

fn median(mut v: Vec<f64>) -> f64 {
    pct(&mut v, 0.5)
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
        sent_at_ms: weft_protocol::unix_now_ms(),
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

/// Messages of `payload` bytes Weft puts in one delivery round (as
/// `outbox_batch` counts them: at most the item cap, within the byte cap).
fn weft_batch(payload: usize) -> usize {
    (WEFT_BATCH_BYTES / payload.max(1)).clamp(1, WEFT_BATCH_ITEMS)
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

/// Messages from `from` in `home`'s chat log with `with`, via the API; and
/// how many of them the log marks delivered (or read).
async fn logged(client: &weft_cli::Client, with: &str, from: &str) -> (usize, usize) {
    let log: Vec<Value> = client
        .get(&format!("/v1/chat/log?with={with}&limit=100000"))
        .await
        .expect("chat log");
    let mine: Vec<&Value> = log.iter().filter(|m| m["from"] == from).collect();
    let delivered = mine
        .iter()
        .filter(|m| m["status"] == "delivered" || m["status"] == "read")
        .count();
    (mine.len(), delivered)
}

/// What one run measured; times in ms, rates in messages/s.
#[derive(Default)]
struct Figures {
    one_way: Vec<f64>,
    round_trip: Vec<f64>,
    /// Until the receiver had all N.
    all_received: Duration,
    /// Until the sender held every acknowledgement.
    all_acknowledged: Duration,
    /// Until the API had accepted all N (Weft only).
    all_accepted: Option<Duration>,
    /// An event stream dropped events; a log poll stood in.
    lagged: bool,
}

async fn bench_weft(sz: Sizes) -> Figures {
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

    let send = {
        let client = client.clone();
        let to = b_id.clone();
        move |text: String| {
            let (client, to) = (client.clone(), to.clone());
            async move {
                let v: Value = client
                    .post("/v1/chat/send", &json!({"to": to, "text": text}))
                    .await
                    .expect("send");
                v["id"].as_str().expect("id").to_string()
            }
        }
    };
    let figures = measure(
        sz,
        (&mut arrivals, &mut receipts),
        send,
        || logged(&client_b, &a_id, &a_id),
        || logged(&client, &b_id, &a_id),
    )
    .await;

    for p in [&mut na, &mut nb] {
        p.signal("TERM").await;
        let _ = p.wait_exit(Duration::from_secs(5)).await;
    }
    figures
}

// ---------------------------------------------------------------------------
// Weft in this process: the same node code (`RunningNode`, TCP on
// 127.0.0.1, sled on disk, flushes on), driven through its Rust API
// (`Chat::send`, `Chat::subscribe`) instead of the control API, so both
// sides of the comparison are two swarms in one process.

/// A node of the in-process pair.
async fn start_node(w: &Weft, name: &str) -> RunningNode {
    let cfg = NodeConfig {
        home: w.home(name),
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("multiaddr")],
        bootstrap: Vec::new(),
        api: None,
        mdns: false,
        relay_server: false,
        name: Some(name.to_string()),
        trust_roots: Vec::new(),
        profile: Profile::Full,
        memory_transport: None,
        open_store: None,
    };
    RunningNode::start(cfg).await.expect("node starts")
}

/// Forwards `node`'s chat events, stamped when this task took them, and
/// marks a lag (events dropped) with a `lagged` event, as the API does.
fn node_events(node: &Arc<NodeHandle>) -> mpsc::UnboundedReceiver<Ev> {
    let mut sub = node.chat.subscribe();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let ev = sub.recv().await;
            // Seen now; turning it into JSON for the shared `Watch` is not
            // the node's time.
            let at = Instant::now();
            let v = match ev {
                Ok(ev) => serde_json::to_value(&ev).expect("event json"),
                Err(broadcast::error::RecvError::Lagged(_)) => json!({"type": "lagged"}),
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if tx.send((v, at)).is_err() {
                return;
            }
        }
    });
    rx
}

/// Messages from `from` in `node`'s log with `with`; and how many of them
/// the log marks delivered (or read).
async fn node_logged(node: &NodeHandle, with: &str, from: &str) -> (usize, usize) {
    let log = node.chat.log(with, 100_000).await.expect("chat log");
    let mine: Vec<_> = log.iter().filter(|m| m.from == from).collect();
    let delivered = mine
        .iter()
        .filter(|m| matches!(m.status, MsgStatus::Delivered | MsgStatus::Read))
        .count();
    (mine.len(), delivered)
}

async fn bench_weft_in_process(sz: Sizes) -> Figures {
    let w = Weft::new(BIN);
    let na = start_node(&w, "ada").await;
    let nb = start_node(&w, "bao").await;
    let (a, b) = (na.handle().clone(), nb.handle().clone());
    let (a_id, b_id) = (
        a.identity.account_id.to_string(),
        b.identity.account_id.to_string(),
    );
    let mut arrivals = Watch::new(node_events(&b), message_ids);
    let mut receipts = Watch::new(node_events(&a), delivered_ids);

    // Friends: A adds B by its link, B accepts.
    let addrs = weft_node::net::dialable(&b.net.listen_addrs().await.expect("addrs"));
    let link = weft_protocol::WeftLink {
        account: b.identity.account_id,
        peer: Some(b.net.peer_id().to_string()),
        addrs,
        name: Some(b.name.clone()),
    };
    let mut b_sees = node_events(&b);
    let mut a_sees = node_events(&a);
    a.chat
        .add_contact(&link.to_string(), "hi", None)
        .await
        .expect("friend request");
    wait_event(&mut b_sees, "friend_request").await;
    b.chat.accept(&a_id).await.expect("accept");
    wait_event(&mut a_sees, "friend_accepted").await;
    drop((a_sees, b_sees));

    let send = {
        let a = a.clone();
        let to = b_id.clone();
        move |text: String| {
            let (a, to) = (a.clone(), to.clone());
            async move {
                let id = a.chat.send(&to, &text, None).await.expect("send");
                id.to_string()
            }
        }
    };
    let figures = measure(
        sz,
        (&mut arrivals, &mut receipts),
        send,
        || node_logged(&b, &a_id, &a_id),
        || node_logged(&a, &b_id, &a_id),
    )
    .await;
    drop((a, b));
    for node in [na, nb] {
        node.shutdown().await.expect("shutdown");
    }
    figures
}

/// Both phases on one pair, the same for either way of driving it: `send`
/// sends one text from A to B and returns its id once A has it durably;
/// `arrivals` are B's message events, `receipts` A's delivered ones.
/// Latency: one message at a time, the next once the previous one's receipt
/// is back at A (so nothing overlaps). Throughput: [`SENDERS`] tasks
/// sending `sz.n` messages as fast as A takes them; done when B has all
/// and A all their receipts (from the events; if a stream dropped some, by
/// polling the logs: `on_b` and `on_a` count as `logged` does, B's messages
/// from A and A's delivered ones). Then both logs must hold each message
/// once.
async fn measure<S, SF, B, BF, A, AF>(
    sz: Sizes,
    (arrivals, receipts): (&mut Watch, &mut Watch),
    send: S,
    on_b: B,
    on_a: A,
) -> Figures
where
    S: Fn(String) -> SF + Clone + Send + 'static,
    SF: std::future::Future<Output = String> + Send,
    B: Fn() -> BF,
    BF: std::future::Future<Output = (usize, usize)>,
    A: Fn() -> AF,
    AF: std::future::Future<Output = (usize, usize)>,
{
    let mut one_way = Vec::with_capacity(sz.m);
    let mut round_trip = Vec::with_capacity(sz.m);
    for i in 0..sz.warmup + sz.m {
        let t0 = Instant::now();
        let id = send(text("latency", i)).await;
        let arrived = arrivals.id(&id).await;
        let delivered = receipts.id(&id).await;
        if i >= sz.warmup {
            one_way.push(ms(arrived - t0));
            round_trip.push(ms(delivered - t0));
        }
    }

    arrivals.reset();
    receipts.reset();
    let (before, _) = on_b().await;
    let (_, before_delivered) = on_a().await;
    let n = sz.n;
    let t0 = Instant::now();
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let send = send.clone();
            tokio::spawn(async move {
                for i in 0..n / SENDERS {
                    send(text(&format!("burst{s}"), i)).await;
                }
                Instant::now()
            })
        })
        .collect();
    let received = arrivals.count(n).await;
    let mut accepted = t0;
    for s in senders {
        accepted = accepted.max(s.await.expect("sender task"));
    }
    let mut lagged = received.is_none();
    let received = match received {
        Some(t) => t,
        None => poll(|| async { on_b().await.0 >= before + n }).await,
    };
    let acknowledged = receipts.count(n).await;
    lagged |= acknowledged.is_none();
    let acknowledged = match acknowledged {
        Some(t) => t,
        None => poll(|| async { on_a().await.1 >= before_delivered + n }).await,
    };
    assert_eq!(
        on_b().await.0,
        before + n,
        "B's log does not hold every message once"
    );
    assert_eq!(
        on_a().await,
        (before + n, before_delivered + n),
        "A's log does not show every message delivered"
    );
    Figures {
        one_way,
        round_trip,
        all_received: received - t0,
        all_acknowledged: acknowledged - t0,
        all_accepted: Some(accepted - t0),
        lagged,
    }
}

/// Waits for the next event of `kind` on `rx`.
async fn wait_event(rx: &mut mpsc::UnboundedReceiver<Ev>, kind: &str) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some((v, _))) if v["type"] == kind => return,
            Ok(Some(_)) => {}
            _ => panic!("no {kind} event"),
        }
    }
}

/// Polls `done` every 5 ms until it holds (or the deadline); when it did.
async fn poll<F, Fut>(mut done: F) -> Instant
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + DEADLINE;
    while !done().await {
        assert!(Instant::now() < deadline, "log never caught up");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Instant::now()
}

// ---------------------------------------------------------------------------
// Baselines: bare libp2p request-response. A request is a postcard
// `Vec<Vec<u8>>` of messages (like Weft's `Delivery` items): one message for
// the per-request baseline, up to a Weft batch for the batched one.

const MAX_FRAME: usize = 1 << 20;

/// A connected client and a server task that acknowledges every request and
/// reports when each arrived and how many messages it carried.
struct Baseline {
    client: Swarm<Rr>,
    server: PeerId,
    arrivals: mpsc::UnboundedReceiver<(Instant, usize)>,
    server_task: tokio::task::JoinHandle<()>,
}

impl Baseline {
    async fn start() -> Self {
        let (mut server, addr) = bare_listening(MAX_FRAME).await;
        let server_peer = *server.local_peer_id();
        let (tx, arrivals) = mpsc::unbounded_channel();
        let server_task = tokio::spawn(async move {
            loop {
                if let SwarmEvent::Behaviour(request_response::Event::Message {
                    message:
                        request_response::Message::Request {
                            request, channel, ..
                        },
                    ..
                }) = server.select_next_some().await
                {
                    let at = Instant::now();
                    let k = postcard::from_bytes::<Vec<Vec<u8>>>(&request)
                        .map(|v| v.len())
                        .unwrap_or(0);
                    let _ = tx.send((at, k));
                    let _ = server
                        .behaviour_mut()
                        .send_response(channel, vec![7; ACK_BASE + ACK_PER_ITEM * k]);
                }
            }
        });
        let client = bare_connected(MAX_FRAME, addr).await;
        Self {
            client,
            server: server_peer,
            arrivals,
            server_task,
        }
    }

    fn send(&mut self, messages: &[Vec<u8>]) -> request_response::OutboundRequestId {
        let body = postcard::to_allocvec(messages).expect("encode");
        self.client.behaviour_mut().send_request(&self.server, body)
    }

    /// The id of the next answered request.
    async fn response(&mut self) -> request_response::OutboundRequestId {
        loop {
            match self.client.select_next_some().await {
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

    /// When the server saw the next request, and how many messages it held.
    async fn arrival(&mut self) -> (Instant, usize) {
        tokio::time::timeout(DEADLINE, self.arrivals.recv())
            .await
            .ok()
            .flatten()
            .expect("the server saw the request")
    }

    /// Sequential single messages: one-way and round-trip samples.
    async fn latency(&mut self, sz: Sizes, message: &[u8]) -> (Vec<f64>, Vec<f64>) {
        let (mut one_way, mut round_trip) = (Vec::new(), Vec::new());
        for i in 0..sz.warmup + sz.m {
            let t0 = Instant::now();
            let id = self.send(&[message.to_vec()]);
            let got = self.response().await;
            let acked = Instant::now();
            assert_eq!(got, id);
            let (arrived, k) = self.arrival().await;
            assert_eq!(k, 1, "the server could not read the request");
            if i >= sz.warmup {
                one_way.push(ms(arrived - t0));
                round_trip.push(ms(acked - t0));
            }
        }
        (one_way, round_trip)
    }

    /// `n` messages, `per_request` in each request, `in_flight` requests at
    /// once; (until the server had all, until the client held every response).
    async fn throughput(
        &mut self,
        n: usize,
        per_request: usize,
        in_flight: usize,
        message: &[u8],
    ) -> (Duration, Duration) {
        let batch = vec![message.to_vec(); per_request];
        let t0 = Instant::now();
        let mut queued = 0;
        let mut outstanding = 0;
        while outstanding < in_flight && queued < n {
            let k = per_request.min(n - queued);
            self.send(&batch[..k]);
            queued += k;
            outstanding += 1;
        }
        while outstanding > 0 {
            self.response().await;
            outstanding -= 1;
            if queued < n {
                let k = per_request.min(n - queued);
                self.send(&batch[..k]);
                queued += k;
                outstanding += 1;
            }
        }
        let acked = t0.elapsed();
        let mut received = 0;
        let mut last = t0;
        while received < n {
            let (at, k) = self.arrival().await;
            assert!(k > 0, "the server could not read a request");
            received += k;
            last = last.max(at);
        }
        assert_eq!(received, n, "the server saw more messages than were sent");
        (last - t0, acked)
    }
}

impl Drop for Baseline {
    fn drop(&mut self) {
        self.server_task.abort();
    }
}

/// Both baselines on one fresh pair of swarms.
async fn bench_baselines(sz: Sizes, payload: usize) -> (Figures, Figures) {
    let message = vec![0x5a; payload];
    let mut b = Baseline::start().await;
    let (one_way, round_trip) = b.latency(sz, &message).await;
    let (received, acked) = b.throughput(sz.n, 1, SENDERS, &message).await;
    let per_request = Figures {
        one_way,
        round_trip,
        all_received: received,
        all_acknowledged: acked,
        ..Figures::default()
    };
    // Batched: one request in flight, like Weft's one delivery worker per
    // recipient, each as full as a Weft delivery round can be.
    let (received, acked) = b.throughput(sz.n, weft_batch(payload), 1, &message).await;
    let batched = Figures {
        all_received: received,
        all_acknowledged: acked,
        ..Figures::default()
    };
    (per_request, batched)
}

/// One run's figures, reduced to what is compared across runs.
struct Summary {
    one_way_p50: f64,
    one_way_p99: f64,
    round_trip_p50: f64,
    round_trip_p99: f64,
    received_per_s: f64,
    acknowledged_per_s: f64,
}

impl Summary {
    fn of(f: &mut Figures, n: usize) -> Self {
        let (p50, p99, r50, r99) = if f.one_way.is_empty() {
            (f64::NAN, f64::NAN, f64::NAN, f64::NAN)
        } else {
            (
                pct(&mut f.one_way, 0.5),
                pct(&mut f.one_way, 0.99),
                pct(&mut f.round_trip, 0.5),
                pct(&mut f.round_trip, 0.99),
            )
        };
        Self {
            one_way_p50: p50,
            one_way_p99: p99,
            round_trip_p50: r50,
            round_trip_p99: r99,
            received_per_s: n as f64 / f.all_received.as_secs_f64(),
            acknowledged_per_s: n as f64 / f.all_acknowledged.as_secs_f64(),
        }
    }
}

/// Median over runs of each figure, as JSON, with the per-run values.
fn medians(runs: &[Summary]) -> Value {
    let fig = |f: fn(&Summary) -> f64| {
        let all: Vec<f64> = runs.iter().map(f).collect();
        json!({"median": median(all.clone()), "runs": all})
    };
    json!({
        "one_way_ms_p50": fig(|s| s.one_way_p50),
        "one_way_ms_p99": fig(|s| s.one_way_p99),
        "round_trip_ms_p50": fig(|s| s.round_trip_p50),
        "round_trip_ms_p99": fig(|s| s.round_trip_p99),
        "msgs_per_s_one_way": fig(|s| s.received_per_s),
        "msgs_per_s_round_trip": fig(|s| s.acknowledged_per_s),
    })
}

fn med(runs: &[Summary], f: fn(&Summary) -> f64) -> f64 {
    median(runs.iter().map(f).collect())
}

#[tokio::main]
async fn main() {
    let sz = sizes();
    let payload = sealed_size();
    let batch = weft_batch(payload);
    let (mut weft, mut base, mut batched) = (Vec::new(), Vec::new(), Vec::new());
    let mut inproc = Vec::new();
    let mut accepted_in_s = Vec::new();
    let mut lagged = false;
    let mut accepted_s = Vec::new();
    for run in 0..sz.runs {
        let mut w = bench_weft(sz).await;
        let mut wi = bench_weft_in_process(sz).await;
        lagged |= wi.lagged;
        accepted_in_s.extend(wi.all_accepted.map(|d| d.as_secs_f64()));
        let wi = Summary::of(&mut wi, sz.n);
        let (mut b, mut bb) = bench_baselines(sz, payload).await;
        lagged |= w.lagged;
        accepted_s.extend(w.all_accepted.map(|d| d.as_secs_f64()));
        let (w, b, bb) = (
            Summary::of(&mut w, sz.n),
            Summary::of(&mut b, sz.n),
            Summary::of(&mut bb, sz.n),
        );
        eprintln!(
            "run {}/{}: one-way p50 weft API {:.3} ms / in-process {:.3} ms / libp2p {:.3} ms; round-trip msgs/s weft API {:.0} / in-process {:.0} / per-request {:.0} / batched {:.0}",
            run + 1,
            sz.runs,
            w.one_way_p50,
            wi.one_way_p50,
            b.one_way_p50,
            w.acknowledged_per_s,
            wi.acknowledged_per_s,
            b.acknowledged_per_s,
            bb.acknowledged_per_s
        );
        weft.push(w);
        inproc.push(wi);
        base.push(b);
        batched.push(bb);
    }

    let w_p50 = med(&weft, |s| s.one_way_p50);
    let w_p99 = med(&weft, |s| s.one_way_p99);
    let in_p50 = med(&inproc, |s| s.one_way_p50);
    let in_p99 = med(&inproc, |s| s.one_way_p99);
    let b_p50 = med(&base, |s| s.one_way_p50);
    let b_p99 = med(&base, |s| s.one_way_p99);
    let w_mps = med(&weft, |s| s.acknowledged_per_s);
    let in_mps = med(&inproc, |s| s.acknowledged_per_s);
    let b_mps = med(&base, |s| s.acknowledged_per_s);
    let bb_mps = med(&batched, |s| s.acknowledged_per_s);
    let report = json!({
        "method": {
            "runs": sz.runs,
            "figures": "median over runs of each run's figure",
            "one_way": "send call to the receiving application seeing the message",
            "round_trip": "send call to the sender holding the acknowledgement",
            "throughput": "messages / time until the receiver had all (one-way) or the sender held every acknowledgement (round trip)",
            "latency_samples_per_run": sz.m,
            "warmup_per_run": sz.warmup,
            "throughput_messages_per_run": sz.n,
            "quick_mode": sz.quick,
        },
        "payload": {
            "chat_text_bytes": TEXT_LEN,
            "sealed_message_bytes": payload,
            "baseline_message_bytes": payload,
            "baseline_ack_bytes": format!("{ACK_BASE} + {ACK_PER_ITEM} per message"),
        },
        "weft_in_process": {
            "how": "two nodes in this process (as the baseline's two swarms), Chat::send and Chat::subscribe",
            "concurrent_senders": SENDERS,
            "all_accepted_s_median": median(accepted_in_s),
            "figures": medians(&inproc),
        },
        "weft_control_api": {
            "how": "two `weft up` processes, POST /v1/chat/send and GET /v1/events over local HTTP",
            "concurrent_senders": SENDERS,
            "all_accepted_by_api_s_median": median(accepted_s),
            "figures": medians(&weft),
        },
        "event_stream_lagged": lagged,
        "libp2p_per_request": {
            "in_flight": SENDERS,
            "figures": medians(&base),
        },
        "libp2p_batched": {
            "messages_per_request": batch,
            "in_flight": 1,
            "figures": medians(&batched),
        },
        "ratios_weft_control_api_over_libp2p": {
            "one_way_p50": w_p50 / b_p50,
            "one_way_p99": w_p99 / b_p99,
            "round_trip_msgs_per_s_vs_per_request": w_mps / b_mps,
            "round_trip_msgs_per_s_vs_batched": w_mps / bb_mps,
        },
        "ratios_weft_in_process_over_libp2p": {
            "one_way_p50": in_p50 / b_p50,
            "one_way_p99": in_p99 / b_p99,
            "round_trip_msgs_per_s_vs_per_request": in_mps / b_mps,
            "round_trip_msgs_per_s_vs_batched": in_mps / bb_mps,
        },
    });
    println!("{}", serde_json::to_string_pretty(&report).expect("json"));
    for (what, v) in [
        ("weft one-way p50", w_p50),
        ("weft in-process one-way p50", in_p50),
        ("weft in-process msgs/s", in_mps),
        ("libp2p one-way p50", b_p50),
        ("weft msgs/s", w_mps),
        ("libp2p msgs/s", b_mps),
        ("batched libp2p msgs/s", bb_mps),
    ] {
        assert!(v.is_finite() && v > 0.0, "{what} is {v}");
    }
    // The machine-readable line (issue #17): Weft through its control API
    // over bare one-request-per-message libp2p; throughput is round trip
    // (acknowledged) on both sides.
    println!(
        "{}",
        json!({
            "one_way_p50_ratio": w_p50 / b_p50,
            "one_way_p99_ratio": w_p99 / b_p99,
            "throughput_ratio": w_mps / b_mps,
            "weft_msgs_per_s": w_mps,
            "baseline_msgs_per_s": b_mps,
        })
    );
}
