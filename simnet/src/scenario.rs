//! Scenario files: what a simulation run is, as TOML a person can read and
//! diff. A scenario names the network (topology and link figures), the
//! friends graph, the traffic and the faults; [`crate::plan`] turns it plus
//! its seed into one concrete, reproducible plan.

use serde::{Deserialize, Serialize};

use crate::SimError;

/// Posts a (service) official account may make per month: the runner's
/// accounts are service accounts.
pub const OA_QUOTA: usize = 4;

/// One scenario file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, used in reports.
    pub name: String,
    /// Seed for everything the plan derives (topology, friends, workload, faults).
    pub seed: u64,
    /// Number of nodes.
    pub nodes: usize,
    /// Where nodes sit and what links between them are like.
    #[serde(default)]
    pub topology: Topology,
    /// Who is friends with whom.
    #[serde(default)]
    pub friends: Friends,
    /// Official accounts and their followers.
    #[serde(default)]
    pub oa: OaSetup,
    /// One group chat and its traffic (absent: no group).
    #[serde(default)]
    pub group: Option<GroupSetup>,
    /// Traffic, in time windows.
    #[serde(default)]
    pub traffic: Vec<Traffic>,
    /// Faults over time.
    #[serde(default)]
    pub events: Vec<Event>,
    /// Run limits.
    #[serde(default)]
    pub run: RunLimits,
}

/// Placement of nodes and link figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Topology {
    /// `random` (every link gets a latency drawn between the intra and
    /// inter figures) or `cities` (low latency inside a city, high across).
    pub kind: TopologyKind,
    /// Number of cities (`cities` topology).
    pub cities: usize,
    /// One-way latency inside a city, ms.
    pub intra_latency_ms: f64,
    /// One-way latency between cities, ms.
    pub inter_latency_ms: f64,
    /// Extra random delay per chunk, uniform in 0..jitter, ms.
    pub jitter_ms: f64,
    /// Link bandwidth, kilobits per second (per connection, each direction).
    pub bandwidth_kbps: f64,
    /// Probability that a chunk is lost and must be retransmitted.
    pub loss: f64,
}

impl Default for Topology {
    fn default() -> Self {
        Self {
            kind: TopologyKind::Random,
            cities: 1,
            intra_latency_ms: 5.0,
            inter_latency_ms: 40.0,
            jitter_ms: 2.0,
            bandwidth_kbps: 20_000.0,
            loss: 0.0,
        }
    }
}

/// How nodes are placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopologyKind {
    /// No structure: per-link latency drawn at random.
    Random,
    /// Clustered cities.
    Cities,
}

/// The friends graph.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Friends {
    /// Edges each new node brings (Barabási–Albert preferential attachment,
    /// which gives a power-law degree distribution). 0: no friends.
    pub edges_per_node: usize,
}

impl Default for Friends {
    fn default() -> Self {
        Self { edges_per_node: 2 }
    }
}

/// Official accounts.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OaSetup {
    /// Number of accounts (each owned by a different node).
    pub accounts: usize,
    /// Followers per account (capped at every other node but the bootstrap).
    pub followers: usize,
}

/// One group chat: a creator befriends the other members and creates the
/// group; `senders` members send `messages` over `[from_s, to_s)`; a share
/// `offline_fraction` of the members (never the creator, a sender or the
/// removed member) is offline from `offline_from_s` until `back_s` (after
/// the traffic: they must catch up); at `remove_at_s` the creator removes
/// one member who is online and never sends. Times are seconds after the
/// workload starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSetup {
    /// Members, the creator included.
    pub members: usize,
    /// Members who send (online throughout; the creator may be one).
    pub senders: usize,
    /// Messages in all, from the senders in turn.
    pub messages: usize,
    /// Traffic window start, seconds.
    #[serde(default)]
    pub from_s: f64,
    /// Traffic window end, seconds.
    pub to_s: f64,
    /// Share of the members offline during the traffic.
    #[serde(default)]
    pub offline_fraction: f64,
    /// When they leave (before the first message if 0).
    #[serde(default)]
    pub offline_from_s: f64,
    /// When they come back (after `to_s`).
    #[serde(default)]
    pub back_s: f64,
    /// When the creator removes one member (none if absent).
    #[serde(default)]
    pub remove_at_s: Option<f64>,
}

/// Kinds of traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrafficKind {
    /// A chat message between two friends.
    Chat,
    /// A Moments post, for the author's friends.
    Moments,
    /// An official-account broadcast, for its followers.
    Oa,
    /// A group message, for the other members (planned from `[group]`,
    /// not a `[[traffic]]` kind).
    Group,
}

impl TrafficKind {
    /// Name in reports.
    pub fn name(self) -> &'static str {
        match self {
            TrafficKind::Chat => "chat",
            TrafficKind::Moments => "moments",
            TrafficKind::Oa => "oa",
            TrafficKind::Group => "group",
        }
    }
}

/// `count` items of one kind, sent at times spread evenly at random in
/// `[from_s, to_s)` after the workload starts.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    /// What is sent.
    pub kind: TrafficKind,
    /// How many items.
    pub count: usize,
    /// Window start, seconds.
    #[serde(default)]
    pub from_s: f64,
    /// Window end, seconds.
    pub to_s: f64,
}

/// A fault at a time (seconds after the workload starts).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// Split the nodes in two: `fraction` of them on one side.
    Partition {
        /// When.
        at_s: f64,
        /// Share of nodes on the first side.
        #[serde(default = "half")]
        fraction: f64,
    },
    /// End the partition.
    Heal {
        /// When.
        at_s: f64,
    },
    /// `fraction` of the nodes go away for `down_s` seconds, then come back
    /// with their store.
    Churn {
        /// When.
        at_s: f64,
        /// Share of nodes that leave.
        fraction: f64,
        /// How long they stay away.
        down_s: f64,
        /// Crash (links cut without goodbye) rather than a clean shutdown.
        #[serde(default)]
        crash: bool,
    },
}

fn half() -> f64 {
    0.5
}

impl Event {
    /// When it happens, seconds after the workload starts.
    pub fn at_s(&self) -> f64 {
        match self {
            Event::Partition { at_s, .. } | Event::Heal { at_s } | Event::Churn { at_s, .. } => {
                *at_s
            }
        }
    }
}

/// Time limits of a run. Part of the plan (and so of its hash): a changed
/// window changes what a run can deliver.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunLimits {
    /// How long to wait for every node to have `min_peers` connections.
    pub mesh_timeout_s: f64,
    /// Connections each node should have before traffic starts.
    pub min_peers: usize,
    /// How long to wait for friendships and follows to settle.
    pub setup_timeout_s: f64,
    /// After the last traffic and fault, how long to wait for deliveries.
    pub settle_s: f64,
    /// Nodes started at once (bounded so thousands do not dial at the same instant).
    pub start_batch: usize,
    /// After setup and before traffic, how long to measure what the idle
    /// nodes cost (CPU, bytes); 0: no idle probe. (Left out of the plan's
    /// hash while 0, so plans from before this field keep their hash.)
    #[serde(skip_serializing_if = "is_zero")]
    pub idle_probe_s: f64,
    /// How long to wait after setup before the idle probe starts, so it
    /// measures the steady state rather than the start-up burst (the same
    /// hash rule).
    #[serde(skip_serializing_if = "is_zero")]
    pub idle_warmup_s: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

impl Default for RunLimits {
    fn default() -> Self {
        Self {
            mesh_timeout_s: 120.0,
            min_peers: 3,
            setup_timeout_s: 120.0,
            settle_s: 60.0,
            start_batch: 50,
            idle_probe_s: 0.0,
            idle_warmup_s: 0.0,
        }
    }
}

impl Scenario {
    /// Parses and checks a scenario.
    pub fn from_toml(text: &str) -> Result<Self, SimError> {
        let s: Scenario = toml::from_str(text).map_err(|e| SimError::BadScenario(e.to_string()))?;
        s.check()?;
        Ok(s)
    }

    /// Reads a scenario file.
    pub fn load(path: &std::path::Path) -> Result<Self, SimError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SimError::BadScenario(format!("{}: {e}", path.display())))?;
        Self::from_toml(&text)
    }

    /// Checks the figures (also after `--nodes` changed them).
    pub fn check(&self) -> Result<(), SimError> {
        let bad = |m: String| Err(SimError::BadScenario(m));
        if self.nodes < 2 {
            return bad("nodes must be at least 2".into());
        }
        if !(0.0..=3600.0).contains(&self.run.idle_probe_s) {
            return bad("run.idle_probe_s must be in [0, 3600]".into());
        }
        if !(0.0..=3600.0).contains(&self.run.idle_warmup_s) {
            return bad("run.idle_warmup_s must be in [0, 3600]".into());
        }
        if self.topology.kind == TopologyKind::Cities && self.topology.cities == 0 {
            return bad("a `cities` topology needs cities >= 1".into());
        }
        if !(0.0..1.0).contains(&self.topology.loss) {
            return bad("loss must be in [0, 1)".into());
        }
        if self.topology.bandwidth_kbps <= 0.0 {
            return bad("bandwidth_kbps must be positive".into());
        }
        if self.oa.accounts >= self.nodes {
            return bad("oa.accounts must be fewer than the nodes".into());
        }
        for t in &self.traffic {
            if t.to_s < t.from_s || t.from_s < 0.0 {
                return bad(format!("traffic window {}..{} is empty", t.from_s, t.to_s));
            }
            // Chat and Moments go between friends: without any, no item
            // could be planned and the plan would silently hold fewer.
            let between_friends = matches!(t.kind, TrafficKind::Chat | TrafficKind::Moments);
            if between_friends && t.count > 0 && self.friends.edges_per_node == 0 {
                return bad(format!(
                    "{} traffic needs friends (friends.edges_per_node >= 1)",
                    t.kind.name()
                ));
            }
            if t.kind == TrafficKind::Oa && self.oa.accounts == 0 && t.count > 0 {
                return bad("oa traffic needs oa.accounts >= 1".into());
            }
        }
        let oa_posts: usize = self
            .traffic
            .iter()
            .filter(|t| t.kind == TrafficKind::Oa)
            .map(|t| t.count)
            .sum();
        if oa_posts > OA_QUOTA * self.oa.accounts {
            return bad(format!(
                "{oa_posts} official-account posts exceed the quota of {} accounts ({OA_QUOTA} each a month)",
                self.oa.accounts
            ));
        }
        if let Some(g) = &self.group {
            g.check(self.nodes)?;
        }
        for t in &self.traffic {
            if t.kind == TrafficKind::Group {
                return bad("group messages are planned from the [group] table".into());
            }
        }
        for e in &self.events {
            if let Event::Churn { fraction, .. } | Event::Partition { fraction, .. } = e {
                if !(0.0..=1.0).contains(fraction) {
                    return bad("fractions must be in [0, 1]".into());
                }
            }
        }
        Ok(())
    }
}

impl GroupSetup {
    /// Members that are offline during the traffic.
    pub fn offline_count(&self) -> usize {
        ((self.members as f64) * self.offline_fraction).round() as usize
    }

    fn check(&self, nodes: usize) -> Result<(), SimError> {
        let bad = |m: String| Err(SimError::BadScenario(m));
        if self.members < 2 || self.members > nodes {
            return bad(format!("group.members must be in 2..={nodes} (the nodes)"));
        }
        if self.senders == 0 || (self.messages > 0 && self.senders > self.messages) {
            return bad("group.senders must be in 1..=messages".into());
        }
        if self.to_s < self.from_s || self.from_s < 0.0 {
            return bad(format!(
                "group window {}..{} is empty",
                self.from_s, self.to_s
            ));
        }
        if !(0.0..1.0).contains(&self.offline_fraction) {
            return bad("group.offline_fraction must be in [0, 1)".into());
        }
        let removed = usize::from(self.remove_at_s.is_some());
        // Creator, senders and the removed member stay online.
        let online = 1 + self.senders + removed;
        if self.offline_count() + online > self.members {
            return bad(format!(
                "group: {} offline members, the creator, {} senders and {removed} removed do not fit in {} members",
                self.offline_count(),
                self.senders,
                self.members
            ));
        }
        if self.offline_count() > 0
            && !(self.offline_from_s <= self.from_s && self.back_s >= self.to_s)
        {
            return bad(
                "group: offline members leave at offline_from_s <= from_s and come back at back_s >= to_s"
                    .into(),
            );
        }
        if let Some(r) = self.remove_at_s {
            if !(self.from_s..=self.to_s).contains(&r) {
                return bad("group.remove_at_s must be inside the traffic window".into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_scenario_and_rejects_nonsense() {
        let s = Scenario::from_toml(
            r#"
            name = "t"
            seed = 1
            nodes = 10
            [topology]
            kind = "cities"
            cities = 2
            [oa]
            accounts = 1
            followers = 5
            [[traffic]]
            kind = "chat"
            count = 3
            to_s = 2.0
            [[events]]
            kind = "partition"
            at_s = 1.0
            [[events]]
            kind = "heal"
            at_s = 2.0
            "#,
        )
        .unwrap();
        assert_eq!(s.events.len(), 2);
        assert!(Scenario::from_toml("name = \"x\"\nseed = 1\nnodes = 1").is_err());
        assert!(Scenario::from_toml("name = \"x\"\nseed = 1\nnodes = 4\ncolour = 1").is_err());
    }
}
