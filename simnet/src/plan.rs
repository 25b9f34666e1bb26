//! From a scenario and its seed to one concrete plan: which city each node is
//! in, whom it bootstraps from, the friends graph, the official accounts and
//! their followers, every traffic item (when, from whom, to whom) and every
//! fault (which nodes, when). Everything here is a pure function of the
//! scenario, so two runs with the same seed drive the same topology and
//! workload; [`Plan::hash`] goes into the report to show it.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;

use crate::scenario::{Event, Scenario, TopologyKind, TrafficKind};

/// An official account: who owns it and who follows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OaPlan {
    /// Owner node.
    pub owner: usize,
    /// Follower nodes.
    pub followers: Vec<usize>,
}

/// The group chat of a run: who is in it, who sends, who is away, who is
/// removed and when.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupPlan {
    /// The node that befriends the members, creates the group and removes one.
    pub creator: usize,
    /// Every member, the creator included, sorted.
    pub members: Vec<usize>,
    /// Members that send (online throughout), sorted.
    pub senders: Vec<usize>,
    /// Members offline during the traffic, sorted.
    pub offline: Vec<usize>,
    /// When they go (ms after the workload starts).
    pub offline_at_ms: u64,
    /// When they come back.
    pub back_at_ms: u64,
    /// The member removed (online, never a sender), and when.
    pub removed: Option<(usize, u64)>,
}

/// One thing sent.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Item {
    /// Index in [`Plan::items`].
    pub id: usize,
    /// Milliseconds after the workload starts.
    pub at_ms: u64,
    /// What kind.
    pub kind: TrafficKind,
    /// Sender (for `oa`, the owner node).
    pub from: usize,
    /// Nodes that should receive it.
    pub to: Vec<usize>,
    /// Which official account (`oa` items).
    pub oa: Option<usize>,
}

/// What a fault does.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum FaultAction {
    /// `side[i]` says which half node `i` is in; links across are cut.
    Partition {
        /// Per node: on the first side?
        side: Vec<bool>,
    },
    /// The partition ends.
    Heal,
    /// These nodes stop.
    Down {
        /// Which.
        nodes: Vec<usize>,
        /// Links cut without goodbye (crash) or a clean shutdown.
        crash: bool,
    },
    /// These nodes start again with their stores.
    Up {
        /// Which.
        nodes: Vec<usize>,
    },
}

/// A fault at a time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fault {
    /// Milliseconds after the workload starts.
    pub at_ms: u64,
    /// What happens.
    pub action: FaultAction,
}

/// Link figures for one pair of nodes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkParams {
    /// One-way latency.
    pub latency: Duration,
    /// Up to this much extra per chunk.
    pub jitter: Duration,
    /// Bytes per second, each direction.
    pub bytes_per_sec: f64,
    /// Chance a chunk needs a retransmission.
    pub loss: f64,
}

/// The concrete plan of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    /// Scenario name.
    pub name: String,
    /// The seed it came from.
    pub seed: u64,
    /// City of each node.
    pub city: Vec<u16>,
    /// Earlier nodes each node joins through.
    pub bootstrap: Vec<Vec<usize>>,
    /// Friend pairs `(a, b)`, `a < b`.
    pub friends: Vec<(usize, usize)>,
    /// Official accounts.
    pub oa: Vec<OaPlan>,
    /// The group chat, if the scenario has one.
    pub group: Option<GroupPlan>,
    /// Traffic, by time.
    pub items: Vec<Item>,
    /// Faults, by time.
    pub faults: Vec<Fault>,
    /// Link figures the per-pair latencies derive from.
    pub topology: crate::scenario::Topology,
    /// The run's windows (mesh, setup, settle, min peers, start batch): in
    /// the plan so its hash changes when they do, since a longer settle
    /// window alone can raise a delivery ratio.
    pub run: crate::scenario::RunLimits,
}

/// Different streams per concern, so adding traffic does not move the topology.
const STREAM_TOPOLOGY: u64 = 0x746f_706f;
const STREAM_FRIENDS: u64 = 0x6672_6e64;
const STREAM_OA: u64 = 0x6f61_6f61;
const STREAM_TRAFFIC: u64 = 0x7472_6166;
const STREAM_FAULTS: u64 = 0x6661_756c;
const STREAM_GROUP: u64 = 0x6772_7570;

fn rng(seed: u64, stream: u64) -> StdRng {
    StdRng::seed_from_u64(seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// A stateless 64-bit mix (splitmix64's finaliser): per-pair link figures
/// without storing N² of them.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn unit(z: u64) -> f64 {
    (z >> 11) as f64 / (1u64 << 53) as f64
}

impl Plan {
    /// Derives the plan of `s`.
    pub fn generate(s: &Scenario) -> Self {
        let n = s.nodes;
        let cities = match s.topology.kind {
            TopologyKind::Random => 1,
            TopologyKind::Cities => s.topology.cities.max(1),
        };
        let mut r = rng(s.seed, STREAM_TOPOLOGY);
        let city: Vec<u16> = (0..n).map(|_| r.random_range(0..cities) as u16).collect();
        // Join through up to two earlier nodes: one in the same city if there
        // is one, one anywhere; never everyone through node 0, which would
        // hit its connection limits at scale.
        let mut bootstrap = vec![Vec::new(); n];
        for (i, b) in bootstrap.iter_mut().enumerate().skip(1) {
            let same: Vec<usize> = (0..i).filter(|&j| city[j] == city[i]).collect();
            if !same.is_empty() {
                b.push(same[r.random_range(0..same.len())]);
            }
            let any = r.random_range(0..i);
            if !b.contains(&any) {
                b.push(any);
            }
        }

        // Barabási–Albert: each new node befriends `m` existing ones chosen
        // with probability proportional to their degree.
        let m = s.friends.edges_per_node;
        let mut friends = Vec::new();
        if m > 0 {
            let mut r = rng(s.seed, STREAM_FRIENDS);
            let mut ends: Vec<usize> = Vec::new();
            let core = (m + 1).min(n);
            for a in 0..core {
                for b in (a + 1)..core {
                    friends.push((a, b));
                    ends.extend([a, b]);
                }
            }
            for v in core..n {
                let mut chosen: Vec<usize> = Vec::with_capacity(m);
                let mut tries = 0;
                while chosen.len() < m && tries < 50 * m {
                    tries += 1;
                    let u = ends[r.random_range(0..ends.len())];
                    if !chosen.contains(&u) {
                        chosen.push(u);
                    }
                }
                for u in chosen {
                    friends.push((u.min(v), u.max(v)));
                    ends.extend([u, v]);
                }
            }
        }
        // The group: its creator must be friends with every member.
        let mut r = rng(s.seed, STREAM_GROUP);
        let group = s.group.as_ref().map(|g| {
            let mut pool: Vec<usize> = (0..n).collect();
            shuffle(&mut pool, &mut r);
            pool.truncate(g.members);
            let creator = pool[0];
            // Roles from the shuffled order: senders, then the removed
            // member, then the offline ones; the rest only receive.
            let mut rest = pool[1..].to_vec();
            shuffle(&mut rest, &mut r);
            let mut senders: Vec<usize> = Vec::new();
            // The creator sends too when it is drawn (a chance of senders / members).
            if r.random_range(0..g.members) < g.senders {
                senders.push(creator);
            }
            let take = g.senders - senders.len();
            senders.extend(rest.drain(..take));
            let removed = g
                .remove_at_s
                .map(|at| (rest.remove(0), (at * 1000.0) as u64));
            let mut offline: Vec<usize> = rest.drain(..g.offline_count()).collect();
            for &m in &pool[1..] {
                let pair = (creator.min(m), creator.max(m));
                if !friends.contains(&pair) {
                    friends.push(pair);
                }
            }
            pool.sort_unstable();
            senders.sort_unstable();
            offline.sort_unstable();
            GroupPlan {
                creator,
                members: pool,
                senders,
                offline,
                offline_at_ms: (g.offline_from_s * 1000.0) as u64,
                back_at_ms: (g.back_s * 1000.0) as u64,
                removed,
            }
        });
        let mut adj = vec![Vec::new(); n];
        for &(a, b) in &friends {
            adj[a].push(b);
            adj[b].push(a);
        }

        // Official accounts: owners are distinct nodes other than the hub 0;
        // followers anyone else but the owner.
        let mut r = rng(s.seed, STREAM_OA);
        let mut oa = Vec::new();
        let mut owners: Vec<usize> = Vec::new();
        while owners.len() < s.oa.accounts.min(n - 1) {
            let o = r.random_range(1..n);
            if !owners.contains(&o) {
                owners.push(o);
            }
        }
        for &owner in &owners {
            let mut pool: Vec<usize> = (1..n).filter(|&i| i != owner).collect();
            shuffle(&mut pool, &mut r);
            pool.truncate(s.oa.followers);
            pool.sort_unstable();
            oa.push(OaPlan {
                owner,
                followers: pool,
            });
        }

        // Faults first: traffic senders are picked among nodes that are up.
        let mut r = rng(s.seed, STREAM_FAULTS);
        let mut faults = Vec::new();
        for e in &s.events {
            let at_ms = (e.at_s() * 1000.0) as u64;
            match e {
                Event::Partition { fraction, .. } => {
                    let mut order: Vec<usize> = (0..n).collect();
                    shuffle(&mut order, &mut r);
                    let k = ((n as f64) * fraction).round() as usize;
                    let mut side = vec![false; n];
                    for &i in &order[..k] {
                        side[i] = true;
                    }
                    faults.push(Fault {
                        at_ms,
                        action: FaultAction::Partition { side },
                    });
                }
                Event::Heal { .. } => faults.push(Fault {
                    at_ms,
                    action: FaultAction::Heal,
                }),
                Event::Churn {
                    fraction,
                    down_s,
                    crash,
                    ..
                } => {
                    // The hub and official-account owners stay: churn is
                    // about receivers coming and going.
                    let mut pool: Vec<usize> = (1..n).filter(|i| !owners.contains(i)).collect();
                    shuffle(&mut pool, &mut r);
                    pool.truncate(((n as f64) * fraction).round() as usize);
                    pool.sort_unstable();
                    faults.push(Fault {
                        at_ms,
                        action: FaultAction::Down {
                            nodes: pool.clone(),
                            crash: *crash,
                        },
                    });
                    faults.push(Fault {
                        at_ms: at_ms + (down_s * 1000.0) as u64,
                        action: FaultAction::Up { nodes: pool },
                    });
                }
            }
        }
        if let Some(g) = &group {
            if !g.offline.is_empty() {
                faults.push(Fault {
                    at_ms: g.offline_at_ms,
                    action: FaultAction::Down {
                        nodes: g.offline.clone(),
                        crash: false,
                    },
                });
                faults.push(Fault {
                    at_ms: g.back_at_ms,
                    action: FaultAction::Up {
                        nodes: g.offline.clone(),
                    },
                });
            }
        }
        faults.sort_by_key(|f| f.at_ms);
        let down_at = |node: usize, t: u64| -> bool {
            let mut down = false;
            for f in faults.iter().take_while(|f| f.at_ms <= t) {
                match &f.action {
                    FaultAction::Down { nodes, .. } if nodes.contains(&node) => down = true,
                    FaultAction::Up { nodes } if nodes.contains(&node) => down = false,
                    _ => {}
                }
            }
            down
        };

        let mut r = rng(s.seed, STREAM_TRAFFIC);
        let mut items = Vec::new();
        let mut oa_posts = 0usize;
        let with_friends: Vec<usize> = (0..n).filter(|&i| !adj[i].is_empty()).collect();
        for t in &s.traffic {
            for _ in 0..t.count {
                let at_ms = (1000.0 * (t.from_s + r.random::<f64>() * (t.to_s - t.from_s))) as u64;
                // Bounded redraws for a sender that is up at that time. If
                // none is found the last draw stays in the plan: the runner
                // then counts it as skipped ("sender down") rather than the
                // plan quietly holding fewer items than the scenario asked for.
                let mut pick = None;
                for _ in 0..100 {
                    let cand = match t.kind {
                        TrafficKind::Chat if !friends.is_empty() => {
                            let (a, b) = friends[r.random_range(0..friends.len())];
                            let (from, to) = if r.random::<bool>() { (a, b) } else { (b, a) };
                            Some((from, vec![to], None))
                        }
                        TrafficKind::Moments if !with_friends.is_empty() => {
                            let from = with_friends[r.random_range(0..with_friends.len())];
                            Some((from, adj[from].clone(), None))
                        }
                        TrafficKind::Oa if !oa.is_empty() => {
                            // Round robin: each account stays within its quota.
                            let k = oa_posts % oa.len();
                            oa_posts += 1;
                            Some((oa[k].owner, oa[k].followers.clone(), Some(k)))
                        }
                        _ => None,
                    };
                    match cand {
                        Some(c) => {
                            let up = !down_at(c.0, at_ms);
                            pick = Some(c);
                            if up {
                                break;
                            }
                        }
                        // Unreachable for a checked scenario (chat and
                        // Moments need friends, oa needs an account).
                        None => break,
                    }
                }
                if let Some((from, mut to, oa)) = pick {
                    to.sort_unstable();
                    items.push(Item {
                        id: 0,
                        at_ms,
                        kind: t.kind,
                        from,
                        to,
                        oa,
                    });
                }
            }
        }
        if let (Some(g), Some(gs)) = (&group, &s.group) {
            // Evenly spread at random over the window, senders in turn.
            let mut times: Vec<u64> = (0..gs.messages)
                .map(|_| (1000.0 * (gs.from_s + r.random::<f64>() * (gs.to_s - gs.from_s))) as u64)
                .collect();
            times.sort_unstable();
            for (k, at_ms) in times.into_iter().enumerate() {
                let from = g.senders[k % g.senders.len()];
                // Everyone else; the removed member only before its removal.
                let to = g
                    .members
                    .iter()
                    .copied()
                    .filter(|&m| m != from && g.removed.is_none_or(|(x, at)| m != x || at_ms < at))
                    .collect();
                items.push(Item {
                    id: 0,
                    at_ms,
                    kind: TrafficKind::Group,
                    from,
                    to,
                    oa: None,
                });
            }
        }
        items.sort_by_key(|i| i.at_ms);
        for (id, it) in items.iter_mut().enumerate() {
            it.id = id;
        }
        Plan {
            name: s.name.clone(),
            seed: s.seed,
            city,
            bootstrap,
            friends,
            oa,
            group,
            items,
            faults,
            topology: s.topology.clone(),
            run: s.run.clone(),
        }
    }

    /// Number of nodes.
    pub fn nodes(&self) -> usize {
        self.city.len()
    }

    /// BLAKE3 of the plan (hex): equal hashes, equal topology, workload,
    /// faults and run windows.
    pub fn hash(&self) -> String {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        blake3::hash(&bytes).to_hex().to_string()
    }

    /// Link figures between `a` and `b` (symmetric, fixed by the seed).
    pub fn link(&self, a: usize, b: usize) -> LinkParams {
        let t = &self.topology;
        let (lo, hi) = (a.min(b) as u64, a.max(b) as u64);
        let u = unit(mix(self.seed ^ mix(lo << 32 | hi)));
        let ms = match t.kind {
            TopologyKind::Random => {
                t.intra_latency_ms + u * (t.inter_latency_ms - t.intra_latency_ms)
            }
            TopologyKind::Cities => {
                let (ca, cb) = (self.city[a], self.city[b]);
                if ca == cb {
                    t.intra_latency_ms
                } else {
                    // Fixed per city pair: some cities are further apart.
                    let (x, y) = (ca.min(cb) as u64, ca.max(cb) as u64);
                    let v = unit(mix(self.seed ^ mix(x << 16 | y | 1 << 40)));
                    t.inter_latency_ms * (0.5 + v)
                }
            }
        };
        LinkParams {
            latency: Duration::from_secs_f64(ms.max(0.0) / 1000.0),
            jitter: Duration::from_secs_f64(t.jitter_ms.max(0.0) / 1000.0),
            bytes_per_sec: t.bandwidth_kbps * 1000.0 / 8.0,
            loss: t.loss,
        }
    }

    /// Nodes each node is friends with.
    pub fn adjacency(&self) -> Vec<Vec<usize>> {
        let mut adj = vec![Vec::new(); self.nodes()];
        for &(a, b) in &self.friends {
            adj[a].push(b);
            adj[b].push(a);
        }
        adj
    }
}

fn shuffle<T>(v: &mut [T], r: &mut StdRng) {
    for i in (1..v.len()).rev() {
        let j = r.random_range(0..=i);
        v.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(seed: u64) -> Scenario {
        Scenario::from_toml(&format!(
            r#"
            name = "t"
            seed = {seed}
            nodes = 200
            [topology]
            kind = "cities"
            cities = 4
            [friends]
            edges_per_node = 3
            [oa]
            accounts = 2
            followers = 50
            [[traffic]]
            kind = "chat"
            count = 100
            to_s = 10.0
            [[traffic]]
            kind = "oa"
            count = 4
            to_s = 10.0
            [[traffic]]
            kind = "moments"
            count = 10
            to_s = 10.0
            [[events]]
            kind = "churn"
            at_s = 2.0
            fraction = 0.2
            down_s = 3.0
            [[events]]
            kind = "partition"
            at_s = 5.0
            "#
        ))
        .unwrap()
    }

    #[test]
    fn same_seed_same_plan_other_seed_other_plan() {
        let a = Plan::generate(&scenario(42));
        let b = Plan::generate(&scenario(42));
        assert_eq!(a, b);
        assert_eq!(a.hash(), b.hash());
        assert_eq!(a.link(3, 17), b.link(17, 3));
        let c = Plan::generate(&scenario(43));
        assert_ne!(a.hash(), c.hash());
        assert_ne!(a.friends, c.friends);
        assert_ne!(a.items, c.items);
    }

    #[test]
    fn the_hash_covers_the_run_windows() {
        let a = Plan::generate(&scenario(42));
        for change in [
            |r: &mut crate::scenario::RunLimits| r.settle_s += 1.0,
            |r: &mut crate::scenario::RunLimits| r.setup_timeout_s += 1.0,
            |r: &mut crate::scenario::RunLimits| r.mesh_timeout_s += 1.0,
            |r: &mut crate::scenario::RunLimits| r.min_peers += 1,
            |r: &mut crate::scenario::RunLimits| r.start_batch += 1,
            |r: &mut crate::scenario::RunLimits| r.idle_probe_s += 1.0,
            |r: &mut crate::scenario::RunLimits| r.idle_warmup_s += 1.0,
        ] {
            let mut s = scenario(42);
            change(&mut s.run);
            let b = Plan::generate(&s);
            // Same topology and workload, other windows: another hash.
            assert_eq!(a.items, b.items);
            assert_ne!(a.hash(), b.hash(), "{:?}", s.run);
        }
    }

    #[test]
    fn no_traffic_between_friends_without_friends() {
        let err = Scenario::from_toml(
            "name = \"x\"\nseed = 1\nnodes = 4\n[friends]\nedges_per_node = 0\n\
             [[traffic]]\nkind = \"chat\"\ncount = 1\nto_s = 1.0",
        );
        assert!(err.is_err());
    }

    #[test]
    fn friends_graph_is_power_law_ish_and_senders_are_up() {
        let p = Plan::generate(&scenario(7));
        let adj = p.adjacency();
        let max = adj.iter().map(Vec::len).max().unwrap();
        let median = {
            let mut d: Vec<usize> = adj.iter().map(Vec::len).collect();
            d.sort_unstable();
            d[d.len() / 2]
        };
        // Preferential attachment makes hubs far above the median degree.
        assert!(max >= 4 * median, "max {max}, median {median}");
        assert_eq!(p.items.len(), 114);
        let Some(FaultAction::Down { nodes, .. }) = p.faults.first().map(|f| &f.action) else {
            panic!("churn first")
        };
        for it in &p.items {
            if (2000..5000).contains(&it.at_ms) {
                assert!(!nodes.contains(&it.from), "sender {} is down", it.from);
            }
        }
    }

    fn group_scenario(seed: u64) -> Scenario {
        Scenario::from_toml(&format!(
            r#"
            name = "g"
            seed = {seed}
            nodes = 100
            [friends]
            edges_per_node = 0
            [group]
            members = 50
            senders = 5
            messages = 20
            to_s = 10.0
            offline_fraction = 0.1
            back_s = 12.0
            remove_at_s = 5.0
            "#
        ))
        .unwrap()
    }

    #[test]
    fn group_plan_is_reproducible_and_its_roles_are_members() {
        let a = Plan::generate(&group_scenario(9));
        let b = Plan::generate(&group_scenario(9));
        assert_eq!(a, b);
        assert_eq!(a.hash(), b.hash());
        let g = a.group.as_ref().unwrap();
        assert_eq!(g.members.len(), 50);
        assert_eq!(g.senders.len(), 5);
        assert_eq!(g.offline.len(), 5);
        let is_member = |m: &usize| g.members.binary_search(m).is_ok();
        assert!(is_member(&g.creator));
        assert!(g.senders.iter().all(is_member));
        assert!(g.offline.iter().all(is_member));
        let (removed, at) = g.removed.unwrap();
        assert!(is_member(&removed));
        assert_eq!(at, 5000);
        // The removed member is online and never sends; offline members never send.
        assert!(!g.offline.contains(&removed) && !g.senders.contains(&removed));
        assert!(!g.offline.contains(&g.creator));
        assert!(g.offline.iter().all(|o| !g.senders.contains(o)));
        // The creator is friends with every other member.
        for &m in g.members.iter().filter(|&&m| m != g.creator) {
            assert!(a.friends.contains(&(g.creator.min(m), g.creator.max(m))));
        }
        assert_eq!(a.friends.len(), 49);
        // Messages go to every other member; to the removed one only before its removal.
        let msgs: Vec<&Item> = a
            .items
            .iter()
            .filter(|i| i.kind == TrafficKind::Group)
            .collect();
        assert_eq!(msgs.len(), 20);
        for it in &msgs {
            assert!(g.senders.contains(&it.from));
            let want = if it.at_ms < at { 49 } else { 48 };
            assert_eq!(it.to.len(), want, "{it:?}");
            assert_eq!(it.to.contains(&removed), it.at_ms < at);
        }
        assert!(msgs.iter().any(|i| i.at_ms < at) && msgs.iter().any(|i| i.at_ms >= at));
        // Offline members go down before the first message and come back after the last.
        assert_eq!(
            a.faults.first().map(|f| &f.action),
            Some(&FaultAction::Down {
                nodes: g.offline.clone(),
                crash: false
            })
        );
        assert_eq!(a.faults.last().map(|f| f.at_ms), Some(12_000));
        // Another seed, other roles and another hash.
        let c = Plan::generate(&group_scenario(10));
        assert_ne!(a.group, c.group);
        assert_ne!(a.hash(), c.hash());
    }

    #[test]
    fn group_roles_must_fit() {
        let bad = |extra: &str| {
            Scenario::from_toml(&format!(
                "name = \"x\"\nseed = 1\nnodes = 10\n[friends]\nedges_per_node = 0\n\
                 [group]\nmembers = 8\nsenders = 2\nmessages = 4\nto_s = 4.0\n{extra}"
            ))
            .is_err()
        };
        assert!(!bad(""));
        assert!(bad("members_count = 3"));
        assert!(bad("offline_fraction = 0.7\nback_s = 5.0"));
        assert!(bad("offline_fraction = 0.2\nback_s = 2.0"));
        assert!(bad("remove_at_s = 9.0"));
    }
}
