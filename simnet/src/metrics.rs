//! What a run measured: every traffic item's send time and each recipient's
//! arrival time (the [`Tracker`] the nodes' event watchers write into), and
//! the [`Report`] computed from them at the end: delivery ratio and latency
//! percentiles per kind of traffic, traffic per node, memory, CPU and wall
//! time.
//!
//! The denominator never shrinks: an item the runner could not send (its
//! sender down, not restarted, or its account unknown) is reported as
//! skipped, with its reason, and its recipients still count as expected.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Notify;

use crate::plan::{FaultAction, Plan};
use crate::scenario::TrafficKind;

/// Send and arrival times of every item of a run.
pub struct Tracker {
    state: Mutex<TrackState>,
    /// Woken on every counted arrival.
    pub changed: Notify,
    /// Distinguishes this run's texts from anything else in a store.
    nonce: u64,
}

/// Why the runner did not send a planned item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SkipReason {
    /// Its sender's node was not running at the planned time.
    SenderDown,
    /// Its sender was churned and did not come back.
    SenderNotRestarted,
    /// Its official account was never created, so there is nothing to publish to.
    AccountUnknown,
    /// The run ended before the item's time (it was never played).
    NotPlayed,
}

impl SkipReason {
    /// Name in reports.
    pub fn name(self) -> &'static str {
        match self {
            SkipReason::SenderDown => "sender_down",
            SkipReason::SenderNotRestarted => "sender_not_restarted",
            SkipReason::AccountUnknown => "account_unknown",
            SkipReason::NotPlayed => "not_played",
        }
    }
}

struct TrackState {
    keys: HashMap<String, usize>,
    expected: Vec<Vec<usize>>,
    sent: Vec<Option<Instant>>,
    skipped: Vec<Option<SkipReason>>,
    arrivals: Vec<HashMap<usize, Instant>>,
    outstanding: usize,
    lagged: u64,
    /// Node index by account id (set as nodes start).
    accounts: HashMap<String, usize>,
    /// Planned friend pairs, lower index first.
    planned_pairs: HashSet<(usize, usize)>,
    /// (a, b): node a's store has b as a friend (a `FriendAccepted` event).
    befriended: HashSet<(usize, usize)>,
    /// Planned pairs that are friends on both sides.
    friends_accepted: usize,
    /// Arrivals under keys not known yet (a Moments post id is known only
    /// once `post` returns, and a fast friend may see it before that).
    early: HashMap<String, Vec<(usize, Instant)>>,
}

impl Tracker {
    /// A tracker for the items of `plan`.
    pub fn new(plan: &Plan, nonce: u64) -> Self {
        let mut keys = HashMap::new();
        let mut expected = Vec::new();
        for it in &plan.items {
            keys.insert(Self::key_of(nonce, it.id), it.id);
            expected.push(it.to.clone());
        }
        Self {
            state: Mutex::new(TrackState {
                outstanding: expected.iter().map(Vec::len).sum(),
                sent: vec![None; expected.len()],
                skipped: vec![None; expected.len()],
                arrivals: vec![HashMap::new(); expected.len()],
                keys,
                expected,
                lagged: 0,
                accounts: HashMap::new(),
                planned_pairs: plan
                    .friends
                    .iter()
                    .map(|&(a, b)| (a.min(b), a.max(b)))
                    .collect(),
                befriended: HashSet::new(),
                friends_accepted: 0,
                early: HashMap::new(),
            }),
            changed: Notify::new(),
            nonce,
        }
    }

    fn key_of(nonce: u64, id: usize) -> String {
        format!("sim {nonce:x} item {id}")
    }

    /// The text (chat) or title (posts) that identifies item `id`.
    pub fn key(&self, id: usize) -> String {
        Self::key_of(self.nonce, id)
    }

    /// Item `id` is being sent now.
    pub fn sent(&self, id: usize) {
        if let Ok(mut s) = self.state.lock() {
            s.sent[id] = Some(Instant::now());
        }
    }

    /// Item `id` was not sent, for `reason`; it stays in the report.
    pub fn skipped(&self, id: usize, reason: SkipReason) {
        if let Ok(mut s) = self.state.lock() {
            s.skipped[id] = Some(reason);
        }
    }

    /// Node `node` saw the item identified by `key`.
    pub fn arrived(&self, key: &str, node: usize) {
        let now = Instant::now();
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        let Some(&id) = s.keys.get(key) else {
            // Bounded: only this run's unknown ids are kept, and not forever many.
            if s.early.len() < 1_000_000 {
                s.early
                    .entry(key.to_string())
                    .or_default()
                    .push((node, now));
            }
            return;
        };
        if Self::count(&mut s, id, node, now) {
            drop(s);
            self.changed.notify_waiters();
        }
    }

    fn count(s: &mut TrackState, id: usize, node: usize, at: Instant) -> bool {
        if !s.expected[id].contains(&node) || s.arrivals[id].contains_key(&node) {
            return false;
        }
        s.arrivals[id].insert(node, at);
        s.outstanding -= 1;
        true
    }

    /// Item `id` is also known by `key` (e.g. the post id the node chose);
    /// arrivals already seen under it are counted.
    pub fn alias(&self, key: &str, id: usize) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        s.keys.insert(key.to_string(), id);
        for (node, at) in s.early.remove(key).unwrap_or_default() {
            Self::count(&mut s, id, node, at);
        }
        drop(s);
        self.changed.notify_waiters();
    }

    /// A node's event stream overflowed (events were dropped).
    pub fn lagged(&self, n: u64) {
        if let Ok(mut s) = self.state.lock() {
            s.lagged += n;
        }
    }

    /// Node `i` runs as `account`.
    pub fn set_account(&self, i: usize, account: &str) {
        if let Ok(mut s) = self.state.lock() {
            s.accounts.insert(account.to_string(), i);
        }
    }

    /// Node `i` now has `account` as a friend (both the requester and the
    /// accepter see this, each after storing it).
    pub fn friend_accepted(&self, i: usize, account: &str) {
        if let Ok(mut s) = self.state.lock() {
            let Some(&j) = s.accounts.get(account) else {
                return;
            };
            if s.befriended.insert((i, j))
                && s.befriended.contains(&(j, i))
                && s.planned_pairs.contains(&(i.min(j), i.max(j)))
            {
                s.friends_accepted += 1;
            }
        }
        self.changed.notify_waiters();
    }

    /// Planned friend pairs that are friends on both sides.
    pub fn friends_accepted(&self) -> usize {
        self.state.lock().map(|s| s.friends_accepted).unwrap_or(0)
    }

    /// Expected arrivals not seen yet.
    pub fn outstanding(&self) -> usize {
        self.state.lock().map(|s| s.outstanding).unwrap_or(0)
    }

    /// Expected arrivals of items already sent that are not seen yet.
    pub fn outstanding_sent(&self) -> usize {
        self.state
            .lock()
            .map(|s| {
                (0..s.expected.len())
                    .filter(|&i| s.sent[i].is_some())
                    .map(|i| s.expected[i].len() - s.arrivals[i].len())
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Arrival time at `node` of item `id`, if seen.
    pub fn arrival(&self, id: usize, node: usize) -> Option<Instant> {
        self.state
            .lock()
            .ok()
            .and_then(|s| s.arrivals[id].get(&node).copied())
    }
}

/// Delivery and latency of one kind of traffic.
#[derive(Clone, Debug, Default, Serialize)]
pub struct KindReport {
    /// Items sent.
    pub items: usize,
    /// Items planned but not sent (their recipients still count in `expected`).
    pub skipped: usize,
    /// `skipped` by reason (`sender_down`, `sender_not_restarted`,
    /// `account_unknown`, `not_played`); absent reasons are left out.
    pub skipped_by_reason: BTreeMap<String, usize>,
    /// (item, recipient) pairs expected: of sent and of skipped items.
    pub expected: usize,
    /// Of `expected`, the pairs of skipped items (none can arrive).
    pub expected_of_skipped: usize,
    /// Pairs that arrived.
    pub delivered: usize,
    /// delivered / expected (skipped items included: a run that could not
    /// send does not look better for it).
    pub delivery_ratio: f64,
    /// Send → arrival, ms.
    pub latency_ms_p50: f64,
    /// 90th percentile.
    pub latency_ms_p90: f64,
    /// 99th percentile.
    pub latency_ms_p99: f64,
    /// Slowest arrival.
    pub latency_ms_max: f64,
}

/// Traffic on the wire per node.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WireReport {
    /// All bytes all nodes sent.
    pub bytes_total: u64,
    /// Mean bytes sent per node.
    pub bytes_per_node_mean: f64,
    /// Most bytes one node sent.
    pub bytes_per_node_max: u64,
    /// Mean transport writes per node (≈ batches of Yamux frames).
    pub writes_per_node_mean: f64,
    /// Most writes one node made.
    pub writes_per_node_max: u64,
}

/// Timings of the phases before traffic.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SetupReport {
    /// Starting every node.
    pub start_ms: u128,
    /// Until every node had `min_peers` connections (or the timeout).
    pub mesh_ms: u128,
    /// Nodes that had `min_peers` connections in time.
    pub mesh_nodes_ready: usize,
    /// Friend requests sent and accepted.
    pub friends_ms: u128,
    /// Friend pairs in the plan.
    pub friend_pairs: usize,
    /// Friend pairs whose acceptance was seen.
    pub friend_pairs_accepted: usize,
    /// Official accounts created and followed, meshes formed.
    pub oa_ms: u128,
}

/// What happened to traffic sent while a fault was active.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FaultReport {
    /// Per kind: traffic sent while a partition or churn was in effect.
    pub during_faults: BTreeMap<String, KindReport>,
    /// Per kind: traffic sent while no fault was in effect.
    pub without_faults: BTreeMap<String, KindReport>,
    /// Chat pairs split by the partition at their planned time (skipped items included).
    pub cross_partition_chat: usize,
    /// Of those, delivered.
    pub cross_partition_chat_delivered: usize,
    /// Of those, delivered before the heal (should be 0).
    pub cross_partition_chat_before_heal: usize,
    /// Pairs whose recipient was down at the item's planned time (skipped items included).
    pub to_down_nodes: usize,
    /// Of those, delivered (after the node came back).
    pub to_down_nodes_delivered: usize,
    /// Churned nodes that could not be started again.
    pub not_restarted: usize,
}

/// The JSON report of a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Seed.
    pub seed: u64,
    /// BLAKE3 of the plan: equal for equal seeds and equal `[run]` windows.
    pub plan_hash: String,
    /// The `[run]` windows the run used (also covered by `plan_hash`).
    pub run: crate::scenario::RunLimits,
    /// Nodes.
    pub nodes: usize,
    /// Setup phases.
    pub setup: SetupReport,
    /// Per kind of traffic, everything.
    pub kinds: BTreeMap<String, KindReport>,
    /// Split by faults.
    pub faults: FaultReport,
    /// Bytes and writes per node.
    pub wire: WireReport,
    /// Process resident memory at the end of the traffic, MiB.
    pub rss_mib: f64,
    /// rss_mib / nodes.
    pub rss_mib_per_node: f64,
    /// Peak resident memory, MiB.
    pub peak_rss_mib: f64,
    /// User + system CPU time of the process, s.
    pub cpu_s: f64,
    /// Wall time of the whole run, s.
    pub wall_s: f64,
    /// Events dropped by overflowing node event streams (would show as loss).
    pub lagged_events: u64,
    /// For plots: per kind, sorted latencies (ms).
    #[serde(skip)]
    pub latencies: BTreeMap<String, Vec<f64>>,
    /// For plots: per kind, (ms after workload start, cumulative delivered share).
    #[serde(skip)]
    pub delivery_over_time: BTreeMap<String, Vec<(f64, f64)>>,
}

/// `p` in [0, 1] of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// What one kind (or one slice of it) added up to while the report is built.
#[derive(Default)]
struct Tally {
    items: usize,
    skipped: usize,
    skipped_by_reason: BTreeMap<String, usize>,
    expected: usize,
    expected_of_skipped: usize,
    lat: Vec<f64>,
}

fn kind_report(t: Tally) -> KindReport {
    let Tally {
        items,
        skipped,
        skipped_by_reason,
        expected,
        expected_of_skipped,
        mut lat,
    } = t;
    lat.sort_by(|a, b| a.total_cmp(b));
    KindReport {
        items,
        skipped,
        skipped_by_reason,
        expected,
        expected_of_skipped,
        delivered: lat.len(),
        delivery_ratio: if expected == 0 {
            1.0
        } else {
            lat.len() as f64 / expected as f64
        },
        latency_ms_p50: percentile(&lat, 0.5),
        latency_ms_p90: percentile(&lat, 0.9),
        latency_ms_p99: percentile(&lat, 0.99),
        latency_ms_max: lat.last().copied().unwrap_or(f64::NAN),
    }
}

/// Fault state at a moment of the workload.
struct FaultState {
    side: Option<Vec<bool>>,
    down: Vec<bool>,
    heal_after: Option<u64>,
}

fn fault_state(plan: &Plan, at_ms: u64) -> FaultState {
    let mut st = FaultState {
        side: None,
        down: vec![false; plan.nodes()],
        heal_after: None,
    };
    for f in plan.faults.iter().take_while(|f| f.at_ms <= at_ms) {
        match &f.action {
            FaultAction::Partition { side } => st.side = Some(side.clone()),
            FaultAction::Heal => st.side = None,
            FaultAction::Down { nodes, .. } => nodes.iter().for_each(|&n| st.down[n] = true),
            FaultAction::Up { nodes } => nodes.iter().for_each(|&n| st.down[n] = false),
        }
    }
    if st.side.is_some() {
        st.heal_after = plan
            .faults
            .iter()
            .find(|f| f.at_ms > at_ms && f.action == FaultAction::Heal)
            .map(|f| f.at_ms);
    }
    st
}

impl Report {
    /// Fills the traffic parts of the report from what `tracker` saw.
    /// `t0` is the workload start; `heal_at` the real time of each heal.
    pub fn fill_traffic(&mut self, plan: &Plan, tracker: &Tracker, t0: Instant, heals: &[Instant]) {
        let Ok(s) = tracker.state.lock() else {
            return;
        };
        self.lagged_events = s.lagged;
        let mut all: BTreeMap<TrafficKind, Tally> = BTreeMap::new();
        let mut faulted: BTreeMap<TrafficKind, Tally> = BTreeMap::new();
        let mut clean: BTreeMap<TrafficKind, Tally> = BTreeMap::new();
        let mut arrivals_by_kind: BTreeMap<TrafficKind, Vec<f64>> = BTreeMap::new();
        let fr = &mut self.faults;
        for it in &plan.items {
            // Faults as planned at the item's time, sent or not.
            let st = fault_state(plan, it.at_ms);
            let is_faulted = st.side.is_some() || st.down.iter().any(|d| *d);
            let sent = s.sent[it.id];
            let skip = match sent {
                Some(_) => None,
                None => Some(s.skipped[it.id].unwrap_or(SkipReason::NotPlayed)),
            };
            let lat: Vec<f64> = match sent {
                Some(sent) => s.arrivals[it.id]
                    .values()
                    .map(|a| a.saturating_duration_since(sent).as_secs_f64() * 1000.0)
                    .collect(),
                None => Vec::new(),
            };
            arrivals_by_kind.entry(it.kind).or_default().extend(
                s.arrivals[it.id]
                    .values()
                    .map(|a| a.saturating_duration_since(t0).as_secs_f64() * 1000.0),
            );
            for m in [&mut all, if is_faulted { &mut faulted } else { &mut clean }] {
                let e = m.entry(it.kind).or_default();
                e.expected += it.to.len();
                match skip {
                    None => e.items += 1,
                    Some(r) => {
                        e.skipped += 1;
                        e.expected_of_skipped += it.to.len();
                        *e.skipped_by_reason.entry(r.name().into()).or_default() += 1;
                    }
                }
                e.lat.extend(lat.iter().copied());
            }
            for &to in &it.to {
                if st.down[to] {
                    fr.to_down_nodes += 1;
                    if s.arrivals[it.id].contains_key(&to) {
                        fr.to_down_nodes_delivered += 1;
                    }
                }
                if let (TrafficKind::Chat, Some(side)) = (it.kind, &st.side) {
                    if side[it.from] != side[to] {
                        fr.cross_partition_chat += 1;
                        if let Some(a) = s.arrivals[it.id].get(&to) {
                            fr.cross_partition_chat_delivered += 1;
                            // The heal that ended this partition, in real time.
                            let heal = st.heal_after.and_then(|h| {
                                let k = plan
                                    .faults
                                    .iter()
                                    .filter(|f| f.action == FaultAction::Heal && f.at_ms <= h)
                                    .count();
                                heals.get(k.saturating_sub(1)).copied()
                            });
                            if heal.is_none_or(|h| *a < h) {
                                fr.cross_partition_chat_before_heal += 1;
                            }
                        }
                    }
                }
            }
        }
        for (k, t) in all {
            self.latencies.insert(k.name().into(), {
                let mut l = t.lat.clone();
                l.sort_by(|a, b| a.total_cmp(b));
                l
            });
            self.kinds.insert(k.name().into(), kind_report(t));
        }
        for (k, t) in faulted {
            fr.during_faults.insert(k.name().into(), kind_report(t));
        }
        for (k, t) in clean {
            fr.without_faults.insert(k.name().into(), kind_report(t));
        }
        for (k, mut times) in arrivals_by_kind {
            times.sort_by(|a, b| a.total_cmp(b));
            let expected = self
                .kinds
                .get(k.name())
                .map(|r| r.expected)
                .unwrap_or(1)
                .max(1);
            let curve = times
                .iter()
                .enumerate()
                .map(|(i, t)| (*t, (i + 1) as f64 / expected as f64))
                .collect();
            self.delivery_over_time.insert(k.name().into(), curve);
        }
    }

    /// Fills the per-node wire figures.
    pub fn fill_wire(&mut self, traffic: &[(u64, u64)]) {
        let n = traffic.len().max(1) as f64;
        self.wire = WireReport {
            bytes_total: traffic.iter().map(|t| t.0).sum(),
            bytes_per_node_mean: traffic.iter().map(|t| t.0).sum::<u64>() as f64 / n,
            bytes_per_node_max: traffic.iter().map(|t| t.0).max().unwrap_or(0),
            writes_per_node_mean: traffic.iter().map(|t| t.1).sum::<u64>() as f64 / n,
            writes_per_node_max: traffic.iter().map(|t| t.1).max().unwrap_or(0),
        };
    }
}

/// Resident and peak resident memory of this process, MiB.
pub fn rss_mib() -> (f64, f64) {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map(|kib| kib / 1024.0)
            .unwrap_or(f64::NAN)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// User + system CPU time of this process so far.
pub fn cpu_time() -> Duration {
    // /proc/self/stat fields 14 and 15: utime and stime in clock ticks (100 Hz on Linux).
    let text = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = text.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // After the `)`, field 3 (state) is index 0, so utime (14) is index 11.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    fn plan() -> Plan {
        Plan::generate(
            &Scenario::from_toml(
                r#"
                name = "t"
                seed = 5
                nodes = 30
                [friends]
                edges_per_node = 2
                [oa]
                accounts = 1
                followers = 10
                [[traffic]]
                kind = "chat"
                count = 6
                to_s = 1.0
                [[traffic]]
                kind = "oa"
                count = 2
                to_s = 1.0
                "#,
            )
            .unwrap(),
        )
    }

    #[test]
    fn skipped_items_are_named_and_stay_in_the_denominator() {
        let plan = plan();
        let tracker = Tracker::new(&plan, 1);
        let chats: Vec<&crate::plan::Item> = plan
            .items
            .iter()
            .filter(|i| i.kind == TrafficKind::Chat)
            .collect();
        let oas: Vec<&crate::plan::Item> = plan
            .items
            .iter()
            .filter(|i| i.kind == TrafficKind::Oa)
            .collect();
        assert_eq!((chats.len(), oas.len()), (6, 2));
        // Chats 0..3 sent and delivered; 3 sender down, 4 sender not
        // restarted, 5 never played. One post sent (and lost), one
        // whose account is unknown.
        for it in &chats[..3] {
            tracker.sent(it.id);
            tracker.arrived(&tracker.key(it.id), it.to[0]);
        }
        tracker.skipped(chats[3].id, SkipReason::SenderDown);
        tracker.skipped(chats[4].id, SkipReason::SenderNotRestarted);
        tracker.sent(oas[0].id);
        tracker.skipped(oas[1].id, SkipReason::AccountUnknown);

        let mut r = Report::default();
        r.fill_traffic(&plan, &tracker, Instant::now(), &[]);
        let chat = &r.kinds["chat"];
        assert_eq!((chat.items, chat.skipped), (3, 3));
        assert_eq!(chat.expected, 6, "skipped chats still count as expected");
        assert_eq!(chat.expected_of_skipped, 3);
        assert_eq!(chat.delivered, 3);
        assert_eq!(chat.delivery_ratio, 0.5);
        let named: Vec<(&str, usize)> = chat
            .skipped_by_reason
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(
            named,
            [
                ("not_played", 1),
                ("sender_down", 1),
                ("sender_not_restarted", 1)
            ]
        );
        let oa = &r.kinds["oa"];
        assert_eq!((oa.items, oa.skipped), (1, 1));
        assert_eq!(oa.skipped_by_reason["account_unknown"], 1);
        assert_eq!(oa.expected, 20);
        assert_eq!(oa.expected_of_skipped, 10);
        assert_eq!(oa.delivery_ratio, 0.0);
        // No faults in this plan: the fault-free slice carries the same counts.
        assert_eq!(r.faults.without_faults["chat"].expected, 6);
        assert_eq!(r.faults.without_faults["chat"].skipped, 3);
        // The JSON names the reasons.
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["kinds"]["chat"]["skipped_by_reason"]["sender_down"], 1);
    }
}
