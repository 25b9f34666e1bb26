//! simnet: many real Weft nodes (the same `weft-node` code, each with its own
//! temporary home and sled store) in one process.
//!
//! This is the foundation's slice of the simulator: nodes run on 127.0.0.1
//! over real TCP with mDNS off, every node joins through the first one, and
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
                listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("static multiaddr")],
                bootstrap: bootstrap.clone(),
                api: None,
                mdns: false,
                relay_server: false,
                name: Some(format!("node{index}")),
                trust_roots: Vec::new(),
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
