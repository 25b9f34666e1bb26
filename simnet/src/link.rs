//! The link model: libp2p's in-process memory transport with latency,
//! jitter, bandwidth, loss, partitions and node crashes put under it.
//!
//! Each node listens on `/memory/<base + 1 + index + nodes × incarnation>`,
//! so the model knows both ends of every connection a node dials. The dialing side
//! wraps the raw byte stream ([`LinkStream`]) and models *both* directions
//! there: its writes reach the wire late, and what it reads from the wire is
//! held back until due. The accepting side's stream is left plain, so every
//! byte crosses exactly one model. Noise and Yamux run on top, unchanged.
//!
//! Choices, since a byte stream cannot silently lose bytes the way a
//! datagram network does:
//! - **Loss** is a retransmission: a chunk that is "lost" (probability
//!   `loss`, repeatedly) arrives one RTO (`max(200 ms, 3 × latency)`) later,
//!   and everything behind it on that connection waits too (head-of-line
//!   blocking, as in TCP).
//! - **Bandwidth** is per connection and direction: a chunk occupies the
//!   link for `len / bandwidth` after the previous one.
//! - **Partitions and crashes** cut connections (both ends see the stream
//!   fail) and refuse new dials across the cut, so libp2p sees what it would
//!   see on a real network: dial errors and dead connections.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf};
use futures::task::AtomicWaker;
use libp2p::core::transport::{MemoryTransport, Transport};
use libp2p::core::ConnectedPoint;
use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;
use tokio::sync::mpsc;
use tokio::time::Instant;
use weft_node::config::{LinkIo, MemoryTransportHook};

use crate::plan::{LinkParams, Plan};

/// Ports handed to separate simulations in one process (tests run several).
static NEXT_BASE: AtomicU64 = AtomicU64::new(1 << 40);
/// Ports reserved per simulation.
const PORTS_PER_SIM: u64 = 1 << 24;

/// Who may talk to whom right now.
#[derive(Default)]
struct Reach {
    /// Per node: which side of a partition, when there is one.
    side: Option<Vec<bool>>,
    /// Per node: crashed or stopped.
    down: Vec<bool>,
}

/// One dialed connection, as the model sees it.
struct Link {
    from: usize,
    to: usize,
    cut: AtomicBool,
    waker: AtomicWaker,
}

/// Traffic counters of one node.
#[derive(Default)]
pub struct NodeTraffic {
    /// Bytes this node put on the wire.
    pub bytes_sent: AtomicU64,
    /// Writes (roughly one per batch of Yamux frames) this node made.
    pub writes: AtomicU64,
}

struct Model {
    base: u64,
    plan: Arc<Plan>,
    reach: RwLock<Reach>,
    links: Mutex<Vec<Weak<Link>>>,
    traffic: Vec<NodeTraffic>,
    incarnation: Vec<std::sync::atomic::AtomicU64>,
    /// Connections dialed so far (each one a transport handshake).
    dials: AtomicU64,
}

/// The shared network model of one simulation. Cheap to clone.
#[derive(Clone)]
pub struct Network {
    model: Arc<Model>,
}

impl Network {
    /// A model for the nodes of `plan`, with its own block of memory ports.
    pub fn new(plan: Arc<Plan>) -> Self {
        let n = plan.nodes();
        let base = NEXT_BASE.fetch_add(PORTS_PER_SIM, Ordering::Relaxed);
        Self {
            model: Arc::new(Model {
                base,
                reach: RwLock::new(Reach {
                    side: None,
                    down: vec![false; n],
                }),
                links: Mutex::new(Vec::new()),
                traffic: (0..n).map(|_| NodeTraffic::default()).collect(),
                incarnation: (0..n).map(|_| AtomicU64::new(0)).collect(),
                dials: AtomicU64::new(0),
                plan,
            }),
        }
    }

    /// The listen address of node `i` in its current incarnation.
    pub fn addr(&self, i: usize) -> Multiaddr {
        let n = self.model.traffic.len() as u64;
        let inc = self.model.incarnation[i].load(Ordering::Relaxed);
        Multiaddr::empty().with(Protocol::Memory(self.model.base + 1 + i as u64 + n * inc))
    }

    /// Gives node `i` a new address for its next start. A restarted node
    /// cannot always take its old port back (the stopped swarm's listener
    /// may not be gone yet), so it comes back elsewhere, as a phone does
    /// after a reconnect; peers find it through the DHT.
    pub fn readdress(&self, i: usize) {
        self.model.incarnation[i].fetch_add(1, Ordering::Relaxed);
    }

    /// The transport hook for node `i`.
    pub fn hook(&self, i: usize) -> MemoryTransportHook {
        let model = self.model.clone();
        MemoryTransportHook(Arc::new(move || {
            let model = model.clone();
            MemoryTransport::default()
                .and_then(move |chan, endpoint| {
                    let model = model.clone();
                    async move {
                        match endpoint {
                            ConnectedPoint::Dialer { address, .. } => {
                                let Some(to) = model.index_of(&address) else {
                                    return Ok(Box::new(chan) as Box<dyn LinkIo>);
                                };
                                if !model.reachable(i, to) {
                                    return Err(io::Error::new(
                                        io::ErrorKind::ConnectionRefused,
                                        "simnet: no route (partition or node down)",
                                    ));
                                }
                                Ok(Box::new(LinkStream::new(model, i, to, chan))
                                    as Box<dyn LinkIo>)
                            }
                            // The dialer models both directions.
                            ConnectedPoint::Listener { .. } => {
                                Ok(Box::new(chan) as Box<dyn LinkIo>)
                            }
                        }
                    }
                })
                .boxed()
        }))
    }

    /// Splits the network: `side[i]` is node `i`'s half. Cuts links across.
    pub fn partition(&self, side: Vec<bool>) {
        if let Ok(mut r) = self.model.reach.write() {
            r.side = Some(side);
        }
        self.model.cut_unreachable();
    }

    /// Ends the partition.
    pub fn heal(&self) {
        if let Ok(mut r) = self.model.reach.write() {
            r.side = None;
        }
    }

    /// Marks node `i` down (cutting its links) or up.
    pub fn set_down(&self, i: usize, down: bool) {
        if let Ok(mut r) = self.model.reach.write() {
            r.down[i] = down;
        }
        if down {
            self.model.cut_unreachable();
        }
    }

    /// Whether `a` and `b` can talk now.
    pub fn reachable(&self, a: usize, b: usize) -> bool {
        self.model.reachable(a, b)
    }

    /// Bytes and writes per node so far.
    pub fn traffic(&self) -> Vec<(u64, u64)> {
        self.model
            .traffic
            .iter()
            .map(|t| {
                (
                    t.bytes_sent.load(Ordering::Relaxed),
                    t.writes.load(Ordering::Relaxed),
                )
            })
            .collect()
    }

    /// Connections dialed since the model was made: with [`Network::live_links`]
    /// it tells churn (connections that open and close again) from growth.
    pub fn dials(&self) -> u64 {
        self.model.dials.load(Ordering::Relaxed)
    }

    /// Connections the model currently tracks (dialed, not yet dropped).
    pub fn live_links(&self) -> usize {
        self.model
            .links
            .lock()
            .map(|l| l.iter().filter(|w| w.strong_count() > 0).count())
            .unwrap_or(0)
    }
}

impl Model {
    fn index_of(&self, addr: &Multiaddr) -> Option<usize> {
        match addr.iter().next() {
            Some(Protocol::Memory(p)) if p > self.base && p < self.base + PORTS_PER_SIM => {
                Some(((p - self.base - 1) % self.traffic.len() as u64) as usize)
            }
            _ => None,
        }
    }

    fn reachable(&self, a: usize, b: usize) -> bool {
        let Ok(r) = self.reach.read() else {
            return false;
        };
        if r.down[a] || r.down[b] {
            return false;
        }
        match &r.side {
            Some(side) => side[a] == side[b],
            None => true,
        }
    }

    /// Cuts every live link whose ends can no longer reach each other, and
    /// forgets dropped ones.
    fn cut_unreachable(&self) {
        let Ok(mut links) = self.links.lock() else {
            return;
        };
        links.retain(|w| w.strong_count() > 0);
        for l in links.iter().filter_map(Weak::upgrade) {
            if !self.reachable(l.from, l.to) {
                l.cut.store(true, Ordering::Release);
                l.waker.wake();
            }
        }
    }
}

/// Timing state of one direction of one connection.
struct Direction {
    /// When the link finishes sending what it already has.
    free_at: Instant,
    /// Due time of the last chunk (chunks stay in order).
    last_due: Instant,
}

impl Direction {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            free_at: now,
            last_due: now,
        }
    }

    /// When a chunk of `len` bytes handed over now reaches the other end.
    fn due(&mut self, p: &LinkParams, len: usize, rng: &mut u64) -> Instant {
        let now = Instant::now();
        let start = self.free_at.max(now);
        self.free_at = start + Duration::from_secs_f64(len as f64 / p.bytes_per_sec);
        let mut delay = p.latency + p.jitter.mul_f64(next_unit(rng));
        let rto = Duration::from_millis(200).max(p.latency * 3);
        // A lost chunk is sent again after an RTO, possibly more than once.
        for _ in 0..8 {
            if next_unit(rng) >= p.loss {
                break;
            }
            delay += rto;
        }
        let due = (self.free_at + delay).max(self.last_due);
        self.last_due = due;
        due
    }
}

fn next_unit(state: &mut u64) -> f64 {
    // xorshift64*: per-connection timing noise; timing need not be reproducible.
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
}

/// Chunks queued for the uplink task: `None` closes the stream.
type Uplink = mpsc::UnboundedSender<(Instant, Option<Vec<u8>>)>;

/// The dialer's end of a modelled connection.
pub struct LinkStream {
    link: Arc<Link>,
    model: Arc<Model>,
    params: LinkParams,
    rng: u64,
    reader: ReadHalf<libp2p::core::transport::memory::Channel<Vec<u8>>>,
    /// Arrived chunks with the time they may be read.
    inbox: VecDeque<(Instant, Vec<u8>)>,
    /// Bytes of the front chunk already read.
    read_off: usize,
    eof: bool,
    down: Direction,
    up: Direction,
    uplink: Uplink,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl LinkStream {
    fn new(
        model: Arc<Model>,
        from: usize,
        to: usize,
        chan: libp2p::core::transport::memory::Channel<Vec<u8>>,
    ) -> Self {
        let link = Arc::new(Link {
            from,
            to,
            cut: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        });
        model.dials.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut l) = model.links.lock() {
            // Drop closed links before the list would grow (amortised O(1)).
            if l.len() == l.capacity() {
                l.retain(|w| w.strong_count() > 0);
            }
            l.push(Arc::downgrade(&link));
        }
        let (reader, mut writer) = chan.split();
        let (uplink, mut rx) = mpsc::unbounded_channel::<(Instant, Option<Vec<u8>>)>();
        let task_link = link.clone();
        // Writes leave at their due time; one task per connection keeps the order.
        tokio::spawn(async move {
            while let Some((due, chunk)) = rx.recv().await {
                tokio::time::sleep_until(due).await;
                if task_link.cut.load(Ordering::Acquire) {
                    break;
                }
                match chunk {
                    Some(bytes) => {
                        if writer.write_all(&bytes).await.is_err() {
                            break;
                        }
                    }
                    None => {
                        let _ = writer.close().await;
                        break;
                    }
                }
            }
        });
        let params = model.plan.link(from, to);
        Self {
            rng: 0x9e37_79b9_7f4a_7c15 ^ ((from as u64) << 32 | to as u64) | 1,
            link,
            model,
            params,
            reader,
            inbox: VecDeque::new(),
            read_off: 0,
            eof: false,
            down: Direction::new(),
            up: Direction::new(),
            uplink,
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
        }
    }

    fn cut_error(&self) -> io::Error {
        io::Error::new(io::ErrorKind::ConnectionReset, "simnet: link cut")
    }
}

/// Most chunks taken off the wire in one poll, so one busy link cannot starve the task.
const MAX_DRAIN: usize = 64;

impl AsyncRead for LinkStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.link.waker.register(cx.waker());
        if this.link.cut.load(Ordering::Acquire) {
            return Poll::Ready(Err(this.cut_error()));
        }
        // Take everything that has arrived and stamp its due time now, so a
        // chunk waiting for its turn does not delay the stamping of the next.
        let mut drained = 0;
        while !this.eof && drained < MAX_DRAIN {
            let mut tmp = [0u8; 16 * 1024];
            match Pin::new(&mut this.reader).poll_read(cx, &mut tmp) {
                Poll::Ready(Ok(0)) => this.eof = true,
                Poll::Ready(Ok(n)) => {
                    let due = this.down.due(&this.params, n, &mut this.rng);
                    let t = &this.model.traffic[this.link.to];
                    t.bytes_sent.fetch_add(n as u64, Ordering::Relaxed);
                    t.writes.fetch_add(1, Ordering::Relaxed);
                    this.inbox.push_back((due, tmp[..n].to_vec()));
                    drained += 1;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => break,
            }
        }
        if drained == MAX_DRAIN {
            cx.waker().wake_by_ref();
        }
        loop {
            let Some((due, chunk)) = this.inbox.front() else {
                return if this.eof {
                    Poll::Ready(Ok(0))
                } else {
                    Poll::Pending
                };
            };
            if *due <= Instant::now() {
                let n = (chunk.len() - this.read_off).min(buf.len());
                buf[..n].copy_from_slice(&chunk[this.read_off..this.read_off + n]);
                this.read_off += n;
                if this.read_off == chunk.len() {
                    this.inbox.pop_front();
                    this.read_off = 0;
                }
                return Poll::Ready(Ok(n));
            }
            let due = *due;
            this.sleep.as_mut().reset(due);
            if this.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}

impl AsyncWrite for LinkStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.link.cut.load(Ordering::Acquire) {
            return Poll::Ready(Err(this.cut_error()));
        }
        let due = this.up.due(&this.params, buf.len(), &mut this.rng);
        if this.uplink.send((due, Some(buf.to_vec()))).is_err() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "simnet: connection closed",
            )));
        }
        let t = &this.model.traffic[this.link.from];
        t.bytes_sent.fetch_add(buf.len() as u64, Ordering::Relaxed);
        t.writes.fetch_add(1, Ordering::Relaxed);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Bytes are on their way once written; the model has no send buffer to drain.
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let due = this.up.last_due.max(Instant::now());
        let _ = this.uplink.send((due, None));
        Poll::Ready(Ok(()))
    }
}
