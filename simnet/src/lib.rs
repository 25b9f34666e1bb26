//! simnet: many real Weft nodes (the same `weft-node` code, each with its own
//! temporary home and sled store) in one process.
//!
//! This is the foundation's slice of the simulator: nodes talk over libp2p's
//! in-process memory transport (`/memory/N` addresses, Noise + Yamux on top,
//! so no socket per connection), mDNS off, every node joins through the first one, and
//! [`Sim::wait_mesh`] measures how long the DHT takes to give every node a
//! minimum number of peers. The link model (latency, loss, partitions,
//! churn), scenario files and traffic metrics are the simnet issue's work.

use std::time::{Duration, Instant};

use libp2p::multiaddr::Protocol;
use weft_node::{NodeConfig, RunningNode};

/// Simulator failures.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A node failed to start.
    #[error("node {index} failed to start: {source}")]
    Start {
        /// Which node.
        index: usize,
        /// Why.
        source: weft_node::NodeError,
    },
    /// Scratch space could not be made.
    #[error("cannot create a temporary directory: {0}")]
    TempDir(std::io::Error),
    /// A scenario step failed.
    #[error("scenario step failed: {0}")]
    Scenario(String),
    /// The condition was not reached in time.
    #[error("only {reached} of {total} nodes reached {min_peers} peers within {timeout:?}")]
    Timeout {
        /// Nodes that made it.
        reached: usize,
        /// All nodes.
        total: usize,
        /// The goal.
        min_peers: usize,
        /// How long we waited.
        timeout: Duration,
    },
}

/// A set of running nodes.
pub struct Sim {
    nodes: Vec<RunningNode>,
    _dir: tempfile::TempDir,
}

impl Sim {
    /// Starts `n` nodes on 127.0.0.1; nodes 1.. bootstrap from node 0.
    pub async fn spawn(n: usize) -> Result<Self, SimError> {
        let dir = tempfile::tempdir().map_err(SimError::TempDir)?;
        let mut nodes: Vec<RunningNode> = Vec::with_capacity(n);
        let mut bootstrap = Vec::new();
        for index in 0..n {
            let cfg = NodeConfig {
                home: dir.path().join(format!("node{index}")),
                listen: vec!["/memory/0".parse().expect("static multiaddr")],
                bootstrap: bootstrap.clone(),
                api: None,
                mdns: false,
                relay_server: false,
                name: Some(format!("node{index}")),
                trust_roots: Vec::new(),
                profile: weft_node::config::Profile::Lightweight,
                memory_transport: None,
            };
            let node = RunningNode::start(cfg)
                .await
                .map_err(|source| SimError::Start { index, source })?;
            if index == 0 {
                let net = &node.handle().net;
                let mut events = net.subscribe();
                let addr = loop {
                    if let Some(a) = net
                        .listen_addrs()
                        .await
                        .ok()
                        .and_then(|a| a.into_iter().next())
                    {
                        break a;
                    }
                    // Wait for the Listening event rather than spinning.
                    let _ = tokio::time::timeout(Duration::from_secs(1), events.recv()).await;
                };
                bootstrap.push(addr.with(Protocol::P2p(net.peer_id())));
            }
            nodes.push(node);
        }
        Ok(Self { nodes, _dir: dir })
    }

    /// The running nodes.
    pub fn nodes(&self) -> &[RunningNode] {
        &self.nodes
    }

    /// Waits until every node has at least `min_peers` connections; returns the time taken.
    pub async fn wait_mesh(
        &self,
        min_peers: usize,
        timeout: Duration,
    ) -> Result<Duration, SimError> {
        let start = Instant::now();
        loop {
            let mut reached = 0;
            for n in &self.nodes {
                if n.handle().net.peers().await.map(|p| p.len()).unwrap_or(0) >= min_peers {
                    reached += 1;
                }
            }
            if reached == self.nodes.len() {
                return Ok(start.elapsed());
            }
            if start.elapsed() >= timeout {
                return Err(SimError::Timeout {
                    reached,
                    total: self.nodes.len(),
                    min_peers,
                    timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops every node.
    pub async fn shutdown(self) {
        for n in self.nodes {
            let _ = n.shutdown().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ten_nodes_joining_through_one_all_find_peers() {
        let sim = Sim::spawn(10).await.unwrap();
        // Each node was only given node 0; the DHT must introduce at least two more.
        sim.wait_mesh(3, Duration::from_secs(60)).await.unwrap();
        sim.shutdown().await;
    }
}

/// Result of an official-account broadcast run.
#[derive(Debug, serde::Serialize)]
pub struct BroadcastReport {
    /// Followers.
    pub followers: usize,
    /// Followers that had the post before the timeout.
    pub delivered: usize,
    /// delivered / followers.
    pub delivery_ratio: f64,
    /// Publish → follower has it, milliseconds.
    pub latency_ms_p50: f64,
    /// 90th percentile.
    pub latency_ms_p90: f64,
    /// 99th percentile.
    pub latency_ms_p99: f64,
    /// Slowest follower that got it.
    pub latency_ms_max: f64,
    /// Time until every follower had joined the topic mesh (as far as the owner can tell: its subscriber count).
    pub setup_ms: u128,
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

impl Sim {
    /// Node 1 creates a subscription account, every other node but 0 (the
    /// bootstrap) follows it, node 1 publishes once; measures who has it when.
    pub async fn oa_broadcast(&self, timeout: Duration) -> Result<BroadcastReport, SimError> {
        let setup = Instant::now();
        let owner = self.nodes[1].handle();
        let created = owner
            .oa
            .create(weft_protocol::oa::OaKind::Subscription, "Sim Daily", "")
            .await
            .map_err(|e| SimError::Scenario(e.to_string()))?;
        let oa = created.account_id;
        let followers: Vec<_> = self.nodes.iter().skip(2).collect();
        for f in &followers {
            f.handle()
                .oa
                .follow(&oa)
                .await
                .map_err(|e| SimError::Scenario(e.to_string()))?;
        }
        let mut receivers: Vec<_> = followers
            .iter()
            .map(|f| f.handle().oa.subscribe())
            .collect();
        // Let subscriptions spread: wait until the owner's node sees subscribers
        // (it is directly connected to only some of them) and meshes settle.
        let want = followers
            .len()
            .min(weft_node::net::behaviour::MAX_CONNECTIONS as usize / 2)
            .min(8);
        loop {
            let n = owner
                .net
                .topic_peers(weft_protocol::oa::topic(
                    &oa.parse()
                        .map_err(|_| SimError::Scenario("bad id".into()))?,
                ))
                .await
                .unwrap_or(0);
            if n >= want || setup.elapsed() > timeout {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Gossipsub meshes form on heartbeats (1 s); give them two.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let setup_ms = setup.elapsed().as_millis();

        let t0 = Instant::now();
        owner
            .oa
            .publish(
                &oa,
                "Sim edition",
                "one post for everyone",
                None,
                vec![],
                vec![],
            )
            .await
            .map_err(|e| SimError::Scenario(e.to_string()))?;
        // One task per follower, so each arrival is timed when it happens.
        let deadline = tokio::time::Instant::now() + timeout;
        let waits: Vec<_> = receivers
            .drain(..)
            .map(|mut rx| {
                tokio::spawn(async move {
                    loop {
                        match tokio::time::timeout_at(deadline, rx.recv()).await {
                            Ok(Ok(weft_node::oa::OaEvent::OaPost { .. })) => {
                                return Some(t0.elapsed().as_secs_f64() * 1000.0)
                            }
                            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {
                                continue
                            }
                            _ => return None,
                        }
                    }
                })
            })
            .collect();
        let mut results = Vec::with_capacity(waits.len());
        for w in waits {
            results.push(w.await.unwrap_or(None));
        }
        let mut lat: Vec<f64> = results.iter().flatten().copied().collect();
        lat.sort_by(|a, b| a.total_cmp(b));
        Ok(BroadcastReport {
            followers: followers.len(),
            delivered: lat.len(),
            delivery_ratio: lat.len() as f64 / followers.len().max(1) as f64,
            latency_ms_p50: pct(&lat, 0.5),
            latency_ms_p90: pct(&lat, 0.9),
            latency_ms_p99: pct(&lat, 0.99),
            latency_ms_max: lat.last().copied().unwrap_or(f64::NAN),
            setup_ms,
        })
    }
}
