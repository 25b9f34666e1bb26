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
    /// The group was never created, so there is nothing to send to.
    GroupUnknown,
}

impl SkipReason {
    /// Name in reports.
    pub fn name(self) -> &'static str {
        match self {
            SkipReason::SenderDown => "sender_down",
            SkipReason::SenderNotRestarted => "sender_not_restarted",
            SkipReason::AccountUnknown => "account_unknown",
            SkipReason::NotPlayed => "not_played",
            SkipReason::GroupUnknown => "group_unknown",
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

    /// The item a text (or post id) identifies, if it is one of this run's.
    pub fn item_of(&self, key: &str) -> Option<usize> {
        self.state
            .lock()
            .ok()
            .and_then(|s| s.keys.get(key).copied())
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
    /// What arrived of `expected` (skipped items included: a run that
    /// could not send does not look better for it), and how fast.
    #[serde(flatten)]
    pub arrived: Delivery,
}

/// How many of the expected pairs arrived, and how fast.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Delivery {
    /// Pairs that arrived.
    pub delivered: usize,
    /// delivered / expected.
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

impl Delivery {
    /// Of `expected` pairs, the ones that arrived after `lat` ms each.
    fn of(expected: usize, mut lat: Vec<f64>) -> Delivery {
        lat.sort_by(|a, b| a.total_cmp(b));
        Delivery {
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
    /// Cores this host offers the process.
    pub host_cores: usize,
    /// cpu_s / (wall_s × host_cores): near 1.0 the host was saturated, and
    /// latencies measure its queueing as much as the protocol.
    pub host_cpu_share: f64,
    /// What idle nodes cost, if the scenario asked for an idle probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle: Option<IdleReport>,
    /// Events dropped by overflowing node event streams (would show as loss).
    pub lagged_events: u64,
    /// The group chat, if the scenario has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupReport>,
    /// For plots: per kind, sorted latencies (ms).
    #[serde(skip)]
    pub latencies: BTreeMap<String, Vec<f64>>,
    /// For plots: per kind, (ms after workload start, cumulative delivered share).
    #[serde(skip)]
    pub delivery_over_time: BTreeMap<String, Vec<(f64, f64)>>,
}

/// What the nodes cost while nothing was asked of them: after setup, before
/// any traffic, over `run.idle_probe_s`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct IdleReport {
    /// Length of the probe, s.
    pub window_s: f64,
    /// Process CPU time (user + system) over the probe, s.
    pub cpu_s: f64,
    /// CPU seconds the whole run spends per minute of wall time.
    pub cpu_s_per_min: f64,
    /// The same per node, ms of CPU per minute.
    pub cpu_ms_per_node_per_min: f64,
    /// cpu_s / (window_s × host cores): near 1.0 the idle nodes alone
    /// saturate the host (then the figure is a floor, not the cost).
    pub host_cpu_share: f64,
    /// Bytes all nodes sent per second.
    pub bytes_per_s: f64,
    /// Connections open at the end of the probe, mean per node.
    pub connections_per_node: f64,
    /// Connections dialed during the probe, per node per minute: each is a
    /// transport handshake, so churn shows here even when the count of open
    /// connections is steady.
    pub connections_opened_per_node_per_min: f64,
    /// Resident memory at the end of the probe, MiB per node.
    pub rss_mib_per_node: f64,
}

/// What the runner saw while it drove the group (filled in by `run`).
#[derive(Clone, Debug, Default)]
pub struct GroupRun {
    /// The group's id, once created.
    pub id: Option<weft_protocol::group::GroupId>,
    /// Setup figures.
    pub setup: GroupSetupReport,
    /// Unix ms when the creator started removing the member.
    pub removal_start_ms: Option<u64>,
    /// Unix ms when the removal was stored and queued to every member.
    pub removal_done_ms: Option<u64>,
    /// Whether `remove` failed (and why).
    pub removal_error: Option<String>,
    /// Items whose sender still listed the removed member when it sent
    /// (after the removal was made).
    pub unaware_sends: Vec<usize>,
    /// Items whose `send` returned an error.
    pub send_failures: Vec<usize>,
    /// Bytes and writes per node when the group traffic started.
    pub wire_start: Vec<(u64, u64)>,
    /// The same, after the settle window.
    pub wire_end: Vec<(u64, u64)>,
    /// Bytes all nodes sent per second while idle, just before the traffic.
    pub idle_bytes_per_s: f64,
    /// Members' bytes per second while idle.
    pub idle_member_bytes_per_s: f64,
    /// Items whose send started after `remove` returned.
    pub sent_after_removal: usize,
    /// Items whose send started after the creator began the removal.
    pub sent_after_removal_started: usize,
    /// Unix ms when every online member's log no longer listed the removed member.
    pub removal_known_ms: Option<u64>,
    /// What each member that was offline holds at the end.
    pub returned_state: Vec<ReturnedState>,
    /// The same for online members holding fewer messages than the best served.
    pub lagging_state: Vec<ReturnedState>,
    /// Length of the traffic phase (traffic start to the end of settle), s.
    pub phase_s: f64,
    /// The removed member's store at the end: (text, sender's sent_at_ms).
    pub removed_store: Vec<(String, u64)>,
    /// Removed member's view: does its log still list it as a member?
    pub removed_still_member: Option<bool>,
}

/// What a member that was offline during the traffic holds at the end.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReturnedState {
    /// Its node.
    pub node: usize,
    /// Its account.
    pub account: String,
    /// Whether it runs (came back).
    pub up: bool,
    /// Group messages in its store.
    pub messages: usize,
    /// Other members' sending chains it holds.
    pub chains: usize,
    /// Wires it holds unread, waiting for their chain.
    pub held_wires: usize,
    /// Members its log lists.
    pub members_in_view: usize,
    /// Senders whose outbox still holds 1:1 mail for it (sender keys and
    /// log changes not yet acknowledged).
    pub outbox_waiting_at: Vec<usize>,
    /// Senders of which it holds no chain at all.
    pub no_chain_of: Vec<usize>,
}

/// Setup of the group.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GroupSetupReport {
    /// Members the creator could add (friends on its side when it created the group).
    pub members_added: usize,
    /// Planned members left out because the friendship was not made in time.
    pub left_out_not_friends: usize,
    /// The creator's open connections when it created the group.
    pub creator_connections: usize,
    /// `create` (signing, storing, queueing the log to every member).
    pub create_ms: u128,
    /// Members (creator included) that held the whole membership when setup ended.
    pub members_with_full_view: usize,
    /// Members that had a subscribed neighbour on the group's topic when setup ended.
    pub members_with_topic_peer: usize,
    /// From `create` until the above (or the setup timeout).
    pub spread_ms: u128,
}

/// Delivery and latency of group messages to one set of members.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GroupSlice {
    /// Members in the set.
    pub members: usize,
    /// (message, member) pairs expected.
    pub expected: usize,
    /// What arrived of them, and how fast.
    #[serde(flatten)]
    pub arrived: Delivery,
}

/// A (message, member) pair that did not arrive.
#[derive(Clone, Debug, Serialize)]
pub struct MissingPair {
    /// Item id.
    pub item: usize,
    /// Sender node.
    pub from: usize,
    /// Member node.
    pub to: usize,
    /// Whether the member was one of the offline ones.
    pub offline_member: bool,
}

/// What the removed member got.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RemovedReport {
    /// Its node.
    pub node: usize,
    /// Planned removal time, ms after the workload start.
    pub planned_at_ms: u64,
    /// How long `remove` took (store, sign, queue the change to everyone).
    pub remove_call_ms: Option<u64>,
    /// If `remove` failed: why.
    pub error: Option<String>,
    /// Messages planned before the removal (it should get them).
    pub expected_before: usize,
    /// Of those, in its store at the end.
    pub received_before: usize,
    /// Messages whose send started after the creator began the removal
    /// (the change is signed and stored before it is sent to anyone).
    pub sent_after_removal_started: usize,
    /// Of those (by the sender's clock), in its store at the end.
    pub received_after_removal_started: usize,
    /// Messages whose send started after `remove` returned (the change
    /// queued 1:1 to every member).
    pub sent_after_remove_returned: usize,
    /// Of those, in its store at the end.
    pub received_after_remove_returned: usize,
    /// From the start of the removal until every online member's log
    /// dropped the removed member (None: not within the watch).
    pub all_online_members_knew_after_ms: Option<u64>,
    /// Messages sent after every online member knew, in its store: must be 0.
    pub received_after_all_knew: usize,
    /// Sends after the removal started by a sender whose log still listed
    /// it (such a sender still uses the old epoch's chain and topic).
    pub sends_by_unaware_senders: usize,
    /// Its own log at the end still lists it as a member.
    pub still_member_in_own_view: Option<bool>,
}

/// Wire cost of the group traffic.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GroupWire {
    /// Traffic phase: from the first message to the end of settle, s.
    pub phase_s: f64,
    /// Bytes every node sent in that phase.
    pub bytes_all_nodes: u64,
    /// Bytes the members sent in that phase.
    pub bytes_members: u64,
    /// bytes_members / (members × messages).
    pub bytes_per_member_per_message: f64,
    /// bytes_all_nodes / (members × messages).
    pub bytes_all_nodes_per_member_per_message: f64,
    /// Idle rate of all nodes measured just before (DHT upkeep, pings), bytes/s.
    pub idle_bytes_per_s_all_nodes: f64,
    /// Idle rate of the members, bytes/s.
    pub idle_bytes_per_s_members: f64,
    /// Members' bytes minus their idle rate over the phase, per member per message.
    pub bytes_per_member_per_message_above_idle: f64,
}

/// The group chat of a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GroupReport {
    /// Group id (hex).
    pub group_id: String,
    /// Creator node.
    pub creator: usize,
    /// Planned members (creator included).
    pub members: usize,
    /// Sending members.
    pub senders: usize,
    /// Messages planned.
    pub messages: usize,
    /// Messages whose `send` failed.
    pub send_failures: usize,
    /// Members offline during the traffic.
    pub offline: usize,
    /// Setup.
    pub setup: GroupSetupReport,
    /// Every expected (message, member) pair: members online throughout,
    /// the ones that came back, and the removed one before its removal.
    pub all: GroupSlice,
    /// Members online throughout (the removed one not included).
    pub online: GroupSlice,
    /// Members that were offline during the traffic and came back.
    pub returned: GroupSlice,
    /// Pairs that did not arrive.
    pub missing: usize,
    /// Distinct members missing something.
    pub members_missing_something: usize,
    /// Up to 30 of the missing pairs.
    pub missing_sample: Vec<MissingPair>,
    /// Bytes.
    pub wire: GroupWire,
    /// The removed member.
    pub removed: Option<RemovedReport>,
    /// What each member that was offline holds at the end.
    pub returned_state: Vec<ReturnedState>,
    /// What each online member holding fewer messages than the best served holds.
    pub lagging_state: Vec<ReturnedState>,
}

fn group_slice(members: usize, expected: usize, lat: Vec<f64>) -> GroupSlice {
    GroupSlice {
        members,
        expected,
        arrived: Delivery::of(expected, lat),
    }
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
        lat,
    } = t;
    KindReport {
        items,
        skipped,
        skipped_by_reason,
        expected,
        expected_of_skipped,
        arrived: Delivery::of(expected, lat),
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

    /// Fills the group section from the plan, the tracker and what the runner saw.
    pub fn fill_group(&mut self, plan: &Plan, tracker: &Tracker, g: &GroupRun) {
        let Some(gp) = &plan.group else {
            return;
        };
        let Ok(s) = tracker.state.lock() else {
            return;
        };
        let removed = gp.removed.map(|(x, _)| x);
        let offline: HashSet<usize> = gp.offline.iter().copied().collect();
        let (mut all, mut online, mut returned) = (Vec::new(), Vec::new(), Vec::new());
        let (mut e_all, mut e_online, mut e_returned) = (0, 0, 0);
        let mut missing = Vec::new();
        let mut messages = 0;
        for it in plan.items.iter().filter(|i| i.kind == TrafficKind::Group) {
            messages += 1;
            for &to in &it.to {
                let lat = match (s.sent[it.id], s.arrivals[it.id].get(&to)) {
                    (Some(sent), Some(a)) => {
                        Some(a.saturating_duration_since(sent).as_secs_f64() * 1000.0)
                    }
                    _ => None,
                };
                e_all += 1;
                if let Some(l) = lat {
                    all.push(l);
                } else {
                    missing.push(MissingPair {
                        item: it.id,
                        from: it.from,
                        to,
                        offline_member: offline.contains(&to),
                    });
                }
                if offline.contains(&to) {
                    e_returned += 1;
                    returned.extend(lat);
                } else if Some(to) != removed {
                    e_online += 1;
                    online.extend(lat);
                }
            }
        }
        let n_online = gp.members.len() - gp.offline.len() - usize::from(removed.is_some());
        let members_missing: HashSet<usize> = missing.iter().map(|m| m.to).collect();
        // Wire: the phase's bytes, all nodes and members only.
        let delta = |i: usize| {
            let end = g.wire_end.get(i).map(|t| t.0).unwrap_or(0);
            let start = g.wire_start.get(i).map(|t| t.0).unwrap_or(0);
            end.saturating_sub(start)
        };
        let bytes_all: u64 = (0..g.wire_end.len()).map(delta).sum();
        let bytes_members: u64 = gp.members.iter().map(|&m| delta(m)).sum();
        let pairs = (gp.members.len() * messages).max(1) as f64;
        let above_idle =
            (bytes_members as f64 - g.idle_member_bytes_per_s * g.phase_s).max(0.0) / pairs;
        let removed_report = gp.removed.map(|(node, at_ms)| {
            let before: HashSet<usize> = plan
                .items
                .iter()
                .filter(|i| i.kind == TrafficKind::Group && i.to.contains(&node))
                .map(|i| i.id)
                .collect();
            let mut r = RemovedReport {
                node,
                planned_at_ms: at_ms,
                remove_call_ms: g
                    .removal_start_ms
                    .zip(g.removal_done_ms)
                    .map(|(a, b)| b.saturating_sub(a)),
                error: g.removal_error.clone(),
                expected_before: before.len(),
                sends_by_unaware_senders: g.unaware_sends.len(),
                still_member_in_own_view: g.removed_still_member,
                ..RemovedReport::default()
            };
            for (text, sent_at) in &g.removed_store {
                let Some(&id) = s.keys.get(text) else {
                    continue;
                };
                if before.contains(&id) {
                    r.received_before += 1;
                }
                if g.removal_start_ms.is_some_and(|t| *sent_at >= t) {
                    r.received_after_removal_started += 1;
                }
                if g.removal_done_ms.is_some_and(|t| *sent_at > t) {
                    r.received_after_remove_returned += 1;
                }
                if g.removal_known_ms.is_some_and(|t| *sent_at > t) {
                    r.received_after_all_knew += 1;
                }
            }
            r
        });
        drop(s);
        // Sent after the removal: by the runner's record of each send.
        let removed_report = removed_report.map(|mut r| {
            r.sent_after_remove_returned = g.sent_after_removal;
            r.sent_after_removal_started = g.sent_after_removal_started;
            r.all_online_members_knew_after_ms = g
                .removal_start_ms
                .zip(g.removal_known_ms)
                .map(|(a, b)| b.saturating_sub(a));
            r
        });
        self.group = Some(GroupReport {
            group_id: g.id.map(|i| i.to_string()).unwrap_or_default(),
            creator: gp.creator,
            members: gp.members.len(),
            senders: gp.senders.len(),
            messages,
            send_failures: g.send_failures.len(),
            offline: gp.offline.len(),
            setup: g.setup.clone(),
            all: group_slice(gp.members.len(), e_all, all),
            online: group_slice(n_online, e_online, online),
            returned: group_slice(gp.offline.len(), e_returned, returned),
            missing: missing.len(),
            members_missing_something: members_missing.len(),
            missing_sample: missing.into_iter().take(30).collect(),
            wire: GroupWire {
                phase_s: g.phase_s,
                bytes_all_nodes: bytes_all,
                bytes_members,
                bytes_per_member_per_message: bytes_members as f64 / pairs,
                bytes_all_nodes_per_member_per_message: bytes_all as f64 / pairs,
                idle_bytes_per_s_all_nodes: g.idle_bytes_per_s,
                idle_bytes_per_s_members: g.idle_member_bytes_per_s,
                bytes_per_member_per_message_above_idle: above_idle,
            },
            removed: removed_report,
            returned_state: g.returned_state.clone(),
            lagging_state: g.lagging_state.clone(),
        });
    }

    /// A few lines for people: the group's delivery, latency, bytes and the removed member.
    pub fn group_summary(&self) -> Option<String> {
        let g = self.group.as_ref()?;
        let slice = |name: &str, s: &GroupSlice| {
            let a = &s.arrived;
            format!(
                "  {name}: {}/{} = {:.4} delivered; latency p50 {:.2} s, p90 {:.2} s, p99 {:.2} s, max {:.2} s\n",
                a.delivered,
                s.expected,
                a.delivery_ratio,
                a.latency_ms_p50 / 1000.0,
                a.latency_ms_p90 / 1000.0,
                a.latency_ms_p99 / 1000.0,
                a.latency_ms_max / 1000.0
            )
        };
        let mut out = format!(
            "group {}: {} members ({} added), {} senders, {} messages ({} send failures), {} offline during the traffic\n",
            &g.group_id.get(..16).unwrap_or(""),
            g.members,
            g.setup.members_added,
            g.senders,
            g.messages,
            g.send_failures,
            g.offline
        );
        out += &format!(
            "  setup: {} planned members left out (not friends of the creator in time; it had {} connections); create {:.1} s; {} members with the whole membership, {} with a topic neighbour, after {:.1} s\n",
            g.setup.left_out_not_friends,
            g.setup.creator_connections,
            g.setup.create_ms as f64 / 1000.0,
            g.setup.members_with_full_view,
            g.setup.members_with_topic_peer,
            g.setup.spread_ms as f64 / 1000.0
        );
        out += &slice("all expected pairs", &g.all);
        out += &slice("online throughout", &g.online);
        out += &slice("offline, came back", &g.returned);
        out += &format!(
            "  missing pairs: {} ({} members)\n",
            g.missing, g.members_missing_something
        );
        out += &format!(
            "  wire: {:.0} bytes per member per message (members' bytes over {:.0} s; {:.0} above their idle rate; all nodes {:.0})\n",
            g.wire.bytes_per_member_per_message,
            g.wire.phase_s,
            g.wire.bytes_per_member_per_message_above_idle,
            g.wire.bytes_all_nodes_per_member_per_message
        );
        if let Some(r) = &g.removed {
            let ms = |v: Option<u64>| {
                v.map(|v| format!("{:.1} s", v as f64 / 1000.0))
                    .unwrap_or_else(|| "never".into())
            };
            out += &format!(
                "  removed member n{}: got {}/{} messages from before its removal; after the removal started {} were sent, it holds {} ({} sends by senders that had not learnt of it yet); remove took {}, every online member knew after {}; after that it holds {} (must be 0){}\n",
                r.node,
                r.received_before,
                r.expected_before,
                r.sent_after_removal_started,
                r.received_after_removal_started,
                r.sends_by_unaware_senders,
                ms(r.remove_call_ms),
                ms(r.all_online_members_knew_after_ms),
                r.received_after_all_knew,
                r.error.as_ref().map(|e| format!("; remove failed: {e}")).unwrap_or_default()
            );
        }
        Some(out)
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

/// `cpu_s` of process CPU time over `wall_s` on all of this host's cores:
/// near 1.0 the host was saturated.
pub fn host_share(cpu_s: f64, wall_s: f64) -> f64 {
    cpu_s / (wall_s * host_cores() as f64).max(1e-9)
}

/// Cores this process may run on (1 if unknown).
pub fn host_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
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
        assert_eq!(chat.arrived.delivered, 3);
        assert_eq!(chat.arrived.delivery_ratio, 0.5);
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
        assert_eq!(oa.arrived.delivery_ratio, 0.0);
        // No faults in this plan: the fault-free slice carries the same counts.
        assert_eq!(r.faults.without_faults["chat"].expected, 6);
        assert_eq!(r.faults.without_faults["chat"].skipped, 3);
        // The JSON names the reasons.
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["kinds"]["chat"]["skipped_by_reason"]["sender_down"], 1);
        // The delivery fields stand beside the counts, not nested.
        assert_eq!(json["kinds"]["chat"]["delivery_ratio"], 0.5);
    }
}
