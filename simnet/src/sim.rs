//! The running nodes of a simulation: each a real [`RunningNode`] with its
//! own home and sled store, listening on its fixed `/memory/…` address
//! behind the link model, with a watcher task that reports its chat and
//! official-account and Moments events to the [`Tracker`] (and accepts friend requests,
//! as a person would). Nodes can be stopped and started again with the same
//! home, which is how churn keeps their stores.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::multiaddr::Protocol;
use libp2p::PeerId;
use tokio::sync::broadcast::error::RecvError;
use weft_node::chat::ChatEvent;
use weft_node::config::Profile;
use weft_node::group::GroupEvent;
use weft_node::moments::MomentsEvent;
use weft_node::oa::OaEvent;
use weft_node::{NodeConfig, NodeHandle, RunningNode};
use weft_protocol::WeftLink;

use crate::link::Network;
use crate::metrics::Tracker;
use crate::plan::Plan;
use crate::SimError;

/// How long a failing restart is retried.
pub const RESTART_PATIENCE: Duration = Duration::from_secs(10);

/// One simulated node.
pub struct SimNode {
    home: PathBuf,
    running: Option<RunningNode>,
    /// Its libp2p peer id (fixed by its home).
    pub peer: Option<PeerId>,
    /// Its account id.
    pub account: String,
    /// Its store, kept across restarts (see [`weft_node::config::OpenStore`]).
    store: Option<weft_node::store::Store>,
}

/// A set of nodes on one modelled network.
pub struct Sim {
    /// The link model.
    pub net: Network,
    /// The plan being run.
    pub plan: Arc<Plan>,
    /// What was sent and received.
    pub tracker: Arc<Tracker>,
    nodes: Vec<SimNode>,
    /// Churned nodes that did not come back.
    pub not_restarted: Vec<usize>,
    _dir: tempfile::TempDir,
}

impl Sim {
    /// Creates homes for the nodes of `plan` (none started yet).
    pub fn new(plan: Arc<Plan>, tracker: Arc<Tracker>) -> Result<Self, SimError> {
        // tmpfs when there is one: sled's explicit flushes then cost no disk sync.
        let root = std::env::var_os("WEFT_SIM_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                let shm = PathBuf::from("/dev/shm");
                shm.is_dir().then_some(shm)
            })
            .unwrap_or_else(std::env::temp_dir);
        let dir = tempfile::Builder::new()
            .prefix("weft-simnet-")
            .tempdir_in(root)
            .map_err(SimError::TempDir)?;
        let nodes = (0..plan.nodes())
            .map(|i| SimNode {
                home: dir.path().join(format!("n{i}")),
                running: None,
                peer: None,
                account: String::new(),
                store: None,
            })
            .collect();
        Ok(Self {
            net: Network::new(plan.clone()),
            plan,
            tracker,
            nodes,
            not_restarted: Vec::new(),
            _dir: dir,
        })
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The handle of node `i`, if it runs.
    pub fn handle(&self, i: usize) -> Option<&Arc<NodeHandle>> {
        self.nodes[i].running.as_ref().map(|r| r.handle())
    }

    /// Whether node `i` runs.
    pub fn is_up(&self, i: usize) -> bool {
        self.nodes[i].running.is_some()
    }

    /// Account id of node `i`.
    pub fn account(&self, i: usize) -> &str {
        &self.nodes[i].account
    }

    /// A `weft://` link to node `i` (account, device, address), as a QR code would carry.
    pub fn link(&self, i: usize) -> String {
        WeftLink {
            account: self.nodes[i].account.parse().expect("own account id"),
            peer: self.nodes[i].peer.map(|p| p.to_string()),
            addrs: vec![self.net.addr(i).to_string()],
            name: Some(format!("n{i}")),
        }
        .to_string()
    }

    /// Creates node `i`'s identity if needed, so later nodes can name it
    /// (with its peer id) as their bootstrap before it runs.
    fn prepare(&mut self, i: usize) -> Result<(), SimError> {
        if self.nodes[i].peer.is_some() {
            return Ok(());
        }
        let home = weft_node::Home::new(&self.nodes[i].home);
        let id = home
            .ensure_dir()
            .and_then(|()| home.load_or_create_identity())
            .map_err(|source| SimError::Start { index: i, source })?;
        self.nodes[i].peer = Some(id.device.public().to_peer_id());
        self.nodes[i].account = id.account_id.to_string();
        Ok(())
    }

    /// Node `i`'s signed card with its address, as a scanned QR code gives
    /// it: the requester can reach the device without a DHT lookup.
    pub fn card(&self, i: usize) -> Option<weft_protocol::Card> {
        let h = self.handle(i)?;
        h.identity
            .card(
                &h.name,
                vec![self.net.addr(i).to_string()],
                weft_protocol::unix_now(),
            )
            .ok()
    }

    fn config(&self, i: usize) -> NodeConfig {
        let bootstrap = self.plan.bootstrap[i]
            .iter()
            .filter_map(|&j| {
                self.nodes[j]
                    .peer
                    .map(|p| self.net.addr(j).with(Protocol::P2p(p)))
            })
            .collect();
        NodeConfig {
            home: self.nodes[i].home.clone(),
            listen: vec![self.net.addr(i)],
            bootstrap,
            api: None,
            mdns: false,
            relay_server: false,
            name: Some(format!("n{i}")),
            trust_roots: Vec::new(),
            profile: Profile::Lightweight,
            // WEFT_SIM_PLAIN=1: libp2p's plain memory transport, to compare against the model.
            memory_transport: std::env::var_os("WEFT_SIM_PLAIN")
                .is_none()
                .then(|| self.net.hook(i)),
            open_store: self.nodes[i]
                .store
                .clone()
                .map(weft_node::config::OpenStore),
        }
    }

    /// Starts (or restarts, with its store) node `i`.
    pub async fn start(&mut self, i: usize) -> Result<(), SimError> {
        if self.nodes[i].running.is_some() {
            return Ok(());
        }
        self.prepare(i)?;
        self.net.set_down(i, false);
        let node = RunningNode::start(self.config(i))
            .await
            .map_err(|source| SimError::Start { index: i, source })?;
        let h = node.handle().clone();
        self.nodes[i].peer = Some(h.net.peer_id());
        self.nodes[i].account = h.identity.account_id.to_string();
        self.nodes[i].store = Some(h.store.clone());
        watch(self.tracker.clone(), i, h);
        self.nodes[i].running = Some(node);
        Ok(())
    }

    /// Starts nodes `0..n` in batches of `batch`, each batch concurrently.
    pub async fn start_all(&mut self, batch: usize) -> Result<(), SimError> {
        let n = self.len();
        let mut i = 0;
        let mut last = Instant::now();
        while i < n {
            let end = (i + batch.max(1)).min(n);
            for k in i..end {
                self.prepare(k)?;
            }
            // Configs need the peer ids of earlier nodes, which this batch may not have yet.
            let cfgs: Vec<(usize, NodeConfig)> = (i..end).map(|k| (k, self.config(k))).collect();
            let started = futures::future::join_all(
                cfgs.into_iter()
                    .map(|(k, cfg)| async move { (k, RunningNode::start(cfg).await) }),
            )
            .await;
            for (k, r) in started {
                let node = r.map_err(|source| SimError::Start { index: k, source })?;
                let h = node.handle().clone();
                self.nodes[k].peer = Some(h.net.peer_id());
                self.nodes[k].account = h.identity.account_id.to_string();
                self.nodes[k].store = Some(h.store.clone());
                watch(self.tracker.clone(), k, h);
                self.nodes[k].running = Some(node);
            }
            i = end;
            if last.elapsed() > Duration::from_secs(5) {
                last = Instant::now();
                eprintln!("[simnet] started {i}/{n} nodes");
            }
        }
        Ok(())
    }

    /// Stops node `i`: a crash cuts its links first (no goodbye reaches
    /// anyone), a clean stop lets connections close normally.
    pub async fn stop(&mut self, i: usize, crash: bool) {
        if crash {
            self.net.set_down(i, true);
        }
        if let Some(node) = self.nodes[i].running.take() {
            let _ = node.shutdown().await;
        }
        self.net.set_down(i, true);
    }

    /// Stops the nodes in `list` concurrently (see [`Sim::stop`]).
    pub async fn stop_many(&mut self, list: &[usize], crash: bool) {
        let mut stopping = Vec::new();
        for &i in list {
            if crash {
                self.net.set_down(i, true);
            }
            if let Some(node) = self.nodes[i].running.take() {
                stopping.push(node);
            }
        }
        futures::future::join_all(stopping.into_iter().map(|n| n.shutdown())).await;
        for &i in list {
            self.net.set_down(i, true);
        }
    }

    /// Starts the nodes in `list` again, with their stores, all at once;
    /// returns the nodes that did not come back (each retried for up to
    /// [`RESTART_PATIENCE`]).
    pub async fn start_many(&mut self, list: &[usize]) -> Vec<usize> {
        let mut cfgs = Vec::new();
        for &i in list {
            if self.nodes[i].running.is_some() || self.prepare(i).is_err() {
                continue;
            }
            self.net.set_down(i, false);
            self.net.readdress(i);
            cfgs.push((i, self.config(i)));
        }
        let started = futures::future::join_all(cfgs.into_iter().map(|(i, cfg)| async move {
            let deadline = Instant::now() + RESTART_PATIENCE;
            loop {
                match RunningNode::start(cfg.clone()).await {
                    Ok(n) => return (i, Ok(n)),
                    Err(e) if Instant::now() >= deadline => return (i, Err(e)),
                    Err(e) => {
                        tracing::debug!(node = i, error = %e, "restart: store still held, retrying");
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                }
            }
        }))
        .await;
        let mut failed = Vec::new();
        for (i, r) in started {
            match r {
                Ok(node) => {
                    let h = node.handle().clone();
                    watch(self.tracker.clone(), i, h);
                    self.nodes[i].running = Some(node);
                }
                Err(e) => {
                    tracing::warn!(node = i, error = %e, "node did not come back");
                    self.net.set_down(i, true);
                    failed.push(i);
                }
            }
        }
        failed
    }

    /// Waits until every running node has `min_peers` connections or
    /// `timeout` passes; returns how many made it.
    pub async fn wait_mesh(&self, min_peers: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let mut last = Instant::now();
        loop {
            let reached = self
                .count_ready(|h| async move {
                    h.net.peers().await.map(|p| p.len()).unwrap_or(0) >= min_peers
                })
                .await;
            if reached == self.len() || Instant::now() >= deadline {
                return reached;
            }
            if last.elapsed() > Duration::from_secs(5) {
                last = Instant::now();
                eprintln!(
                    "[simnet] mesh: {reached}/{} nodes have {min_peers} peers",
                    self.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Asks every running node `ask` at once; each answer is `None` if the
    /// node did not give it within 5 s. (Never past 5 s, but a full 5 s even
    /// at a caller's deadline, so a final count is a real answer from busy
    /// nodes rather than a row of timeouts.)
    async fn ask_running<F, Fut, T>(&self, ask: F) -> Vec<Option<T>>
    where
        F: Fn(Arc<NodeHandle>) -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let until = Instant::now() + Duration::from_secs(5);
        let asks = self
            .nodes
            .iter()
            .filter_map(|n| n.running.as_ref())
            .map(|n| tokio::time::timeout_at(until.into(), ask(n.handle().clone())));
        futures::future::join_all(asks)
            .await
            .into_iter()
            .map(Result::ok)
            .collect()
    }

    /// Asks every running node `ready` at once (a busy node's answer may be
    /// slow; each question gives up after 5 s); how many said yes.
    pub async fn count_ready<F, Fut>(&self, ready: F) -> usize
    where
        F: Fn(Arc<NodeHandle>) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        self.ask_running(ready)
            .await
            .into_iter()
            .filter(|r| *r == Some(true))
            .count()
    }

    /// Connections open at every running node, summed (each link counts at
    /// both ends); a node that does not answer within 5 s counts 0.
    pub async fn total_peers(&self) -> usize {
        self.ask_running(|h| async move { h.net.peers().await.map(|p| p.len()).unwrap_or(0) })
            .await
            .into_iter()
            .map(|r| r.unwrap_or(0))
            .sum()
    }

    /// Stops every node.
    pub async fn shutdown(mut self) {
        let all: Vec<RunningNode> = self
            .nodes
            .iter_mut()
            .filter_map(|n| n.running.take())
            .collect();
        futures::future::join_all(all.into_iter().map(|n| n.shutdown())).await;
    }
}

/// Reports node `i`'s chat, Moments, group and official-account events until it stops, and
/// accepts every friend request.
fn watch(tracker: Arc<Tracker>, i: usize, h: Arc<NodeHandle>) {
    let mut chat = h.chat.subscribe();
    let mut oa = h.oa.subscribe();
    let mut moments = h.moments.subscribe();
    let mut groups = h.groups.subscribe();
    let mut stop = h.shutdown.clone();
    tracker.set_account(i, &h.identity.account_id.to_string());
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                ev = chat.recv() => match ev {
                    Ok(ChatEvent::Message { text, .. }) => tracker.arrived(&text, i),
                    Ok(ChatEvent::FriendRequest { account_id, .. }) => {
                        let c = h.chat.clone();
                        tokio::spawn(async move {
                            if let Err(e) = c.accept(&account_id).await {
                                tracing::warn!(node = i, error = %e, "cannot accept a friend request");
                            }
                        });
                    }
                    Ok(ChatEvent::FriendAccepted { account_id, .. }) => tracker.friend_accepted(i, &account_id),
                    Ok(_) => {}
                    Err(RecvError::Lagged(n)) => tracker.lagged(n),
                    Err(RecvError::Closed) => return,
                },
                ev = moments.recv() => match ev {
                    Ok(MomentsEvent::MomentPost { id, .. }) => {
                        tracker.arrived(&weft_protocol::hex::encode(&id), i)
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(n)) => tracker.lagged(n),
                    Err(RecvError::Closed) => return,
                },
                ev = groups.recv() => match ev {
                    Ok(GroupEvent::GroupMessage { text, .. }) => tracker.arrived(&text, i),
                    Ok(_) => {}
                    Err(RecvError::Lagged(n)) => tracker.lagged(n),
                    Err(RecvError::Closed) => return,
                },
                ev = oa.recv() => match ev {
                    Ok(OaEvent::OaPost { title, .. }) => tracker.arrived(&title, i),
                    Err(RecvError::Lagged(n)) => tracker.lagged(n),
                    Err(RecvError::Closed) => return,
                },
            }
        }
    });
}
