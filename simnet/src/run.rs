//! Runs a scenario end to end: start the nodes, let the DHT mesh form, make
//! the planned friends and follows, play the traffic and the faults on the
//! scenario clock, wait (bounded) for deliveries, and measure.
//!
//! Waiting is on events (the tracker's notifications, node answers) with
//! deadlines; the only timed sleeps are the scenario's own clock (an item
//! planned for t = 3 s is sent at t = 3 s) and, before group traffic, a
//! 10 s window that measures the idle byte rate.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use weft_node::moments::Audience;
use weft_protocol::oa::OaKind;

use crate::metrics::{
    cpu_time, host_cores, host_share, rss_mib, GroupRun, IdleReport, Report, ReturnedState,
    SkipReason, Tracker,
};
use crate::plan::{FaultAction, Plan};
use crate::scenario::{Scenario, TrafficKind};
use crate::sim::Sim;
use crate::SimError;

/// How long the runner measures the idle byte rate before group traffic.
const IDLE_PROBE: Duration = Duration::from_secs(10);
/// How often the idle probe's warm-up reports the CPU share.
const PROBE_SLICE: Duration = Duration::from_secs(10);
/// How long the runner watches for every online member to learn of the removal.
const REMOVAL_WATCH: Duration = Duration::from_secs(900);
/// Requests (friend adds, follows) in flight at once during setup.
const SETUP_CONCURRENCY: usize = 32;
/// How often long phases print a progress line on stderr.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Runs `scenario`; the report of what was delivered, when, and at what cost.
pub async fn run(scenario: &Scenario) -> Result<Report, SimError> {
    let wall = Instant::now();
    let cpu0 = cpu_time();
    let plan = Arc::new(Plan::generate(scenario));
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let tracker = Arc::new(Tracker::new(&plan, nonce));
    let mut report = Report {
        scenario: plan.name.clone(),
        seed: plan.seed,
        plan_hash: plan.hash(),
        run: plan.run.clone(),
        nodes: plan.nodes(),
        ..Report::default()
    };
    let limits = &scenario.run;
    let n = plan.nodes();
    progress(format!(
        "{}: {n} nodes, {} friend pairs, {} official accounts, {} items, {} faults, plan {}",
        plan.name,
        plan.friends.len(),
        plan.oa.len(),
        plan.items.len(),
        plan.faults.len(),
        &report.plan_hash[..16]
    ));

    let mut sim = Sim::new(plan.clone(), tracker.clone())?;
    let t = Instant::now();
    sim.start_all(limits.start_batch).await?;
    report.setup.start_ms = t.elapsed().as_millis();
    progress(format!("started {n} nodes in {:?}", t.elapsed()));

    let t = Instant::now();
    let min_peers = limits.min_peers.min(n - 1);
    report.setup.mesh_nodes_ready = sim
        .wait_mesh(min_peers, Duration::from_secs_f64(limits.mesh_timeout_s))
        .await;
    report.setup.mesh_ms = t.elapsed().as_millis();
    progress(format!(
        "mesh: {}/{n} nodes have {min_peers} peers after {:?}",
        report.setup.mesh_nodes_ready,
        t.elapsed()
    ));

    let setup_timeout = Duration::from_secs_f64(limits.setup_timeout_s);
    let t = Instant::now();
    make_friends(&sim, setup_timeout).await;
    report.setup.friends_ms = t.elapsed().as_millis();
    report.setup.friend_pairs = plan.friends.len();
    report.setup.friend_pairs_accepted = tracker.friends_accepted().min(plan.friends.len());

    let t = Instant::now();
    let oa_ids = make_accounts(&sim, setup_timeout).await?;
    report.setup.oa_ms = t.elapsed().as_millis();

    if limits.idle_probe_s > 0.0 {
        let warmup = Duration::from_secs_f64(limits.idle_warmup_s);
        let window = Duration::from_secs_f64(limits.idle_probe_s);
        report.idle = Some(idle_probe(&sim, warmup, window).await);
    }

    let group = Arc::new(Mutex::new(GroupRun::default()));
    if plan.group.is_some() {
        make_group(&sim, setup_timeout, &group).await;
        // Idle rate first: the phase's bytes include DHT upkeep and pings.
        let a = sim.net.traffic();
        let t = Instant::now();
        tokio::time::sleep(IDLE_PROBE).await;
        let b = sim.net.traffic();
        let secs = t.elapsed().as_secs_f64();
        let members = plan
            .group
            .as_ref()
            .map(|g| g.members.clone())
            .unwrap_or_default();
        let sum = |nodes: &mut dyn Iterator<Item = usize>| -> f64 {
            nodes.map(|i| b[i].0.saturating_sub(a[i].0)).sum::<u64>() as f64
        };
        if let Ok(mut g) = group.lock() {
            g.idle_bytes_per_s = sum(&mut (0..n)) / secs;
            g.idle_member_bytes_per_s = sum(&mut members.iter().copied()) / secs;
            g.wire_start = b;
        }
    }

    let (t0, heals) = play(&mut sim, &oa_ids, &group).await;
    let settle = Duration::from_secs_f64(limits.settle_s);
    wait_deliveries(&tracker, settle).await;
    if plan.group.is_some() {
        finish_group(&sim, &group, t0);
    }

    let (rss, peak) = rss_mib();
    report.rss_mib = rss;
    report.peak_rss_mib = peak;
    report.rss_mib_per_node = rss / n as f64;
    report.fill_wire(&sim.net.traffic());
    report.faults.not_restarted = sim.not_restarted.len();
    report.fill_traffic(&plan, &tracker, t0, &heals);
    if let Ok(g) = group.lock() {
        report.fill_group(&plan, &tracker, &g);
    }
    if let Some(summary) = report.group_summary() {
        for line in summary.lines() {
            progress(line.to_string());
        }
    }
    report.cpu_s = (cpu_time().saturating_sub(cpu0)).as_secs_f64();
    report.wall_s = wall.elapsed().as_secs_f64();
    report.host_cores = host_cores();
    report.host_cpu_share = host_share(report.cpu_s, report.wall_s);
    progress(format!(
        "CPU {:.0} s in {:.0} s of wall time on {} cores: host share {:.2}{}",
        report.cpu_s,
        report.wall_s,
        report.host_cores,
        report.host_cpu_share,
        if report.host_cpu_share > 0.8 {
            " (saturated: latencies include host queueing)"
        } else {
            ""
        }
    ));
    progress("stopping nodes".into());
    sim.shutdown().await;
    Ok(report)
}

/// Measures what the nodes cost while nothing is asked of them: the
/// process's CPU time and the bytes on the modelled links over `window`
/// (timed sleeps on purpose: the warm-up and the window are the
/// measurement). Prints the CPU share every 10 s of both, so the end of the
/// start-up burst shows.
async fn idle_probe(sim: &Sim, warmup: Duration, window: Duration) -> IdleReport {
    let t = Instant::now();
    let mut cpu_last = cpu_time();
    let mut dials_last = sim.net.dials();
    while t.elapsed() < warmup {
        tokio::time::sleep((warmup - t.elapsed()).min(PROBE_SLICE)).await;
        let cpu = cpu_time();
        let dials = sim.net.dials();
        progress(format!(
            "idle warm-up: {:.0} s, CPU share of the last slice {:.2}, {} connections opened, {} open",
            t.elapsed().as_secs_f64(),
            host_share(
                cpu.saturating_sub(cpu_last).as_secs_f64(),
                PROBE_SLICE.as_secs_f64()
            ),
            dials.saturating_sub(dials_last),
            sim.net.live_links(),
        ));
        cpu_last = cpu;
        dials_last = dials;
    }
    progress(format!("idle: measuring for {window:?}"));
    let a = sim.net.traffic();
    let dials_a = sim.net.dials();
    let cpu_a = cpu_time();
    let t = Instant::now();
    tokio::time::sleep(window).await;
    let cpu = cpu_time().saturating_sub(cpu_a).as_secs_f64();
    let secs = t.elapsed().as_secs_f64().max(1e-9);
    let b = sim.net.traffic();
    let opened = sim.net.dials().saturating_sub(dials_a) as f64;
    let bytes: u64 = a.iter().zip(&b).map(|(x, y)| y.0.saturating_sub(x.0)).sum();
    let n = sim.len().max(1) as f64;
    let peers = sim.total_peers().await as f64;
    let (rss, _) = rss_mib();
    let r = IdleReport {
        window_s: secs,
        cpu_s: cpu,
        cpu_s_per_min: cpu / secs * 60.0,
        cpu_ms_per_node_per_min: cpu / secs * 60.0 * 1000.0 / n,
        host_cpu_share: host_share(cpu, secs),
        bytes_per_s: bytes as f64 / secs,
        connections_per_node: peers / n,
        connections_opened_per_node_per_min: opened / secs * 60.0 / n,
        rss_mib_per_node: rss / n,
    };
    progress(format!(
        "idle: {:.1} CPU s per minute ({:.1} ms per node per minute, host share {:.2}), {:.0} bytes/s, {:.1} connections open, {:.2} opened per minute and {:.2} MiB per node",
        r.cpu_s_per_min,
        r.cpu_ms_per_node_per_min,
        r.host_cpu_share,
        r.bytes_per_s,
        r.connections_per_node,
        r.connections_opened_per_node_per_min,
        r.rss_mib_per_node
    ));
    r
}

fn progress(line: String) {
    eprintln!("[simnet] {line}");
}

/// Every planned pair: the lower node adds the higher by its link (a
/// group's creator always asks), the other's watcher accepts. Waits until
/// every acceptance was seen.
async fn make_friends(sim: &Sim, timeout: Duration) {
    let pairs = sim.plan.friends.clone();
    if pairs.is_empty() {
        return;
    }
    let deadline = Instant::now() + timeout;
    // A group's creator asks its members, as the scenario says. A member
    // asking the creator would be a stranger's request, which a node takes
    // at most 30 per 10 minutes (anti-spam): at 1,000 nodes the 338 members
    // with a lower index than the creator waited on that budget and the
    // setup stalled at 161 of 499 friendships.
    let creator = sim.plan.group.as_ref().map(|g| g.creator);
    futures::stream::iter(pairs.iter().copied())
        .map(|(a, b)| if Some(b) == creator { (b, a) } else { (a, b) })
        .map(|(a, b)| {
            let h = sim.handle(a).cloned();
            let link = sim.link(b);
            let card = sim.card(b);
            async move {
                if let Some(h) = h {
                    if let Err(e) = h.chat.add_contact(&link, "simnet", card).await {
                        tracing::warn!(a, b, error = %e, "friend request failed");
                    }
                }
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    let want = pairs.len();
    wait_until(
        &sim.tracker,
        deadline,
        || sim.tracker.friends_accepted() >= want,
        || {
            format!(
                "friends: {}/{want} pairs friends on both sides",
                sim.tracker.friends_accepted()
            )
        },
    )
    .await;
    // The events come after each side stored the friendship; check the
    // stores once more, at the end, for what the events did not show.
    let missing: Vec<(usize, usize)> = pairs
        .iter()
        .copied()
        .filter(|&(a, b)| !(is_friend(sim, a, b) && is_friend(sim, b, a)))
        .collect();
    if !missing.is_empty() {
        let mut why: std::collections::BTreeMap<String, usize> = Default::default();
        for &(a, b) in &missing {
            let (a, b) = if Some(b) == creator { (b, a) } else { (a, b) };
            *why.entry(format!(
                "asker {} / asked {}",
                state(sim, a, b),
                state(sim, b, a)
            ))
            .or_default() += 1;
        }
        progress(format!(
            "friends: {} pairs not friends on both sides: {why:?}",
            missing.len()
        ));
    }
}

/// Node `a`'s side of its friendship with `b`: the contact's state and
/// whether mail for `b` still waits in `a`'s outbox.
fn state(sim: &Sim, a: usize, b: usize) -> String {
    let Some(h) = sim.handle(a) else {
        return "down".into();
    };
    let account = sim.account(b);
    let contact = h
        .chat
        .contacts()
        .ok()
        .and_then(|cs| cs.into_iter().find(|c| c.account_id == account))
        .map(|c| format!("{:?}", c.state))
        .unwrap_or_else(|| "none".into());
    let queued = account
        .parse()
        .ok()
        .and_then(|acc| h.store.outbox_has(&acc).ok())
        .unwrap_or(false);
    if queued {
        format!("{contact}+outbox")
    } else {
        contact
    }
}

/// Whether node `a`'s store has `b` as a friend.
fn is_friend(sim: &Sim, a: usize, b: usize) -> bool {
    let Some(h) = sim.handle(a) else {
        return false;
    };
    let account = sim.account(b);
    h.chat
        .contacts()
        .map(|cs| {
            cs.iter().any(|c| {
                c.account_id == account && c.state == weft_node::store::chat::ContactState::Friend
            })
        })
        .unwrap_or(false)
}

/// Creates the planned official accounts and their follows; waits until
/// every follower knows two other subscribers of the topic (one if alone).
async fn make_accounts(sim: &Sim, timeout: Duration) -> Result<Vec<String>, SimError> {
    let mut ids = Vec::new();
    for (k, oa) in sim.plan.oa.iter().enumerate() {
        let h = sim
            .handle(oa.owner)
            .ok_or_else(|| SimError::Scenario("official-account owner is down".into()))?;
        let view =
            h.oa.create(OaKind::Service, &format!("Sim Daily {k}"), "simnet")
                .await
                .map_err(|e| SimError::Scenario(e.to_string()))?;
        ids.push(view.account_id);
    }
    let follows: Vec<(usize, String)> = sim
        .plan
        .oa
        .iter()
        .zip(&ids)
        .flat_map(|(oa, id)| oa.followers.iter().map(move |&f| (f, id.clone())))
        .collect();
    futures::stream::iter(follows.iter().cloned())
        .map(|(f, id)| {
            let h = sim.handle(f).cloned();
            async move {
                if let Some(h) = h {
                    if let Err(e) = h.oa.follow(&id).await {
                        tracing::warn!(f, error = %e, "follow failed");
                    }
                }
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    let deadline = Instant::now() + timeout;
    let topic_of = |id: &String| weft_node::net::Topic::Oa(id.parse().expect("own account id"));
    let mut pending: Vec<(usize, weft_node::net::Topic)> =
        follows.iter().map(|(f, id)| (*f, topic_of(id))).collect();
    // The owner's node must know a subscriber too, or its publish finds no
    // one to send to (gossipsub's "insufficient peers") and the post is lost.
    pending.extend(
        sim.plan
            .oa
            .iter()
            .zip(&ids)
            .filter(|(o, _)| !o.followers.is_empty())
            .map(|(o, id)| (o.owner, topic_of(id))),
    );
    // Two subscribed neighbours: a follower with only one hangs on one link of the mesh.
    let want_peers = sim
        .plan
        .oa
        .iter()
        .map(|o| o.followers.len())
        .min()
        .unwrap_or(0)
        .clamp(1, 2);
    let sees_subscribers = |(f, topic): &(usize, weft_node::net::Topic), until| {
        let h = sim.handle(*f).cloned();
        let topic = *topic;
        async move {
            match h {
                Some(h) => sees_topic_peers(&h, topic, want_peers, until).await,
                None => true,
            }
        }
    };
    wait_all(pending, deadline, sees_subscribers, |left| {
        format!(
            "follows: {left} of {} followers see no subscriber yet",
            follows.len()
        )
    })
    .await;
    Ok(ids)
}

/// Whether node `h` knows at least `want` subscribed peers on `topic`,
/// asked by `until` at the latest.
async fn sees_topic_peers(
    h: &weft_node::NodeHandle,
    topic: weft_node::net::Topic,
    want: usize,
    until: Instant,
) -> bool {
    matches!(
        tokio::time::timeout_at(until.into(), h.net.topic_peers(topic)).await,
        Ok(Ok(n)) if n >= want
    )
}

/// Asks `ready` about every pending item every 500 ms until it holds for
/// all of them or `deadline` passes, and returns the ones it never held
/// for. The items are asked all at once, each bounded (`ready` gets the
/// moment its answer is due, at most 5 s away): one busy node must not
/// stall the rest. Every `PROGRESS_EVERY` it prints `report(how many are
/// left)`.
async fn wait_all<T, Fut>(
    mut pending: Vec<T>,
    deadline: Instant,
    ready: impl Fn(&T, Instant) -> Fut,
    report: impl Fn(usize) -> String,
) -> Vec<T>
where
    Fut: std::future::Future<Output = bool>,
{
    let mut last = Instant::now();
    while !pending.is_empty() && Instant::now() < deadline {
        let until = deadline.min(Instant::now() + Duration::from_secs(5));
        let asks = pending.iter().map(|p| ready(p, until));
        let ready = futures::future::join_all(asks).await;
        pending = pending
            .into_iter()
            .zip(ready)
            .filter(|(_, r)| !r)
            .map(|(p, _)| p)
            .collect();
        if last.elapsed() > PROGRESS_EVERY {
            last = Instant::now();
            progress(report(pending.len()));
        }
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    pending
}

/// The creator creates the group with every planned member it is friends
/// with; waits (bounded) until every member holds the whole membership and
/// has a subscribed neighbour on the group's topic.
async fn make_group(sim: &Sim, timeout: Duration, out: &Mutex<GroupRun>) {
    let Some(gp) = sim.plan.group.clone() else {
        return;
    };
    let Some(h) = sim.handle(gp.creator).cloned() else {
        progress("group: the creator is down; no group".into());
        return;
    };
    let others: Vec<usize> = gp
        .members
        .iter()
        .copied()
        .filter(|&m| m != gp.creator)
        .collect();
    let friends: Vec<usize> = others
        .iter()
        .copied()
        .filter(|&m| is_friend(sim, gp.creator, m))
        .collect();
    let creator_connections = h.net.peers().await.map(|p| p.len()).unwrap_or(0);
    if friends.len() < others.len() {
        progress(format!(
            "group: the creator is friends with {} of {} members ({creator_connections} connections); creating with those",
            friends.len(),
            others.len()
        ));
    }
    let names: Vec<String> = friends
        .iter()
        .map(|&m| sim.account(m).to_string())
        .collect();
    let t = Instant::now();
    let created = h.groups.create("simnet group", &names).await;
    let create_ms = t.elapsed().as_millis();
    let gid = match created {
        Ok(g) => g,
        Err(e) => {
            progress(format!("group: create failed: {e}"));
            return;
        }
    };
    progress(format!(
        "group {}: created with {} of {} members in {:.1} s",
        &gid.to_string()[..16],
        friends.len() + 1,
        gp.members.len(),
        t.elapsed().as_secs_f64()
    ));
    let id = gid.to_string();
    let want = friends.len() + 1;
    let deadline = t + timeout;
    // Whole membership first: a member that does not know a sender yet
    // would refuse the sender's chain.
    let full_view = |i: usize| {
        sim.handle(i)
            .and_then(|h| h.groups.members(&id).ok())
            .is_some_and(|m| m.len() >= want)
    };
    let mut last = Instant::now();
    let added: Vec<usize> = std::iter::once(gp.creator)
        .chain(friends.iter().copied())
        .collect();
    let mut pending = added.clone();
    while !pending.is_empty() && Instant::now() < deadline {
        pending.retain(|&i| !full_view(i));
        if pending.is_empty() {
            break;
        }
        if last.elapsed() > PROGRESS_EVERY {
            last = Instant::now();
            progress(format!(
                "group: {}/{} members hold the whole membership",
                added.len() - pending.len(),
                added.len()
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let with_view = added.len() - pending.len();
    // Then a neighbour on the topic, so the first message has somewhere to go.
    let topic = |i: usize| -> Option<weft_node::net::Topic> {
        let h = sim.handle(i)?;
        let meta = h.store.group_meta(&gid).ok()??;
        let log = h.store.group_log(&gid).ok()??;
        let tag = weft_protocol::group::topic_tag(&meta.secret, &log.state().epoch_change);
        Some(weft_node::net::Topic::Group(tag))
    };
    let has_neighbour = |&i: &usize, until| {
        let h = sim.handle(i).cloned();
        let topic = topic(i);
        async move {
            match (h, topic) {
                (Some(h), Some(topic)) => sees_topic_peers(&h, topic, 1, until).await,
                _ => false,
            }
        }
    };
    let pending = wait_all(added.clone(), deadline, has_neighbour, |left| {
        format!(
            "group: {left} of {} members see no topic neighbour yet",
            added.len()
        )
    })
    .await;
    let with_peer = added.len() - pending.len();
    progress(format!(
        "group: {with_view}/{} members hold the whole membership, {with_peer} have a topic neighbour, after {:.1} s",
        added.len(),
        t.elapsed().as_secs_f64()
    ));
    if let Ok(mut g) = out.lock() {
        g.id = Some(gid);
        g.setup.members_added = friends.len() + 1;
        g.setup.creator_connections = creator_connections;
        g.setup.left_out_not_friends = others.len() - friends.len();
        g.setup.create_ms = create_ms;
        g.setup.members_with_full_view = with_view;
        g.setup.members_with_topic_peer = with_peer;
        g.setup.spread_ms = t.elapsed().as_millis();
    }
}

/// What member `i` holds of the group at the end.
fn member_state(
    sim: &Sim,
    gp: &crate::plan::GroupPlan,
    gid: &weft_protocol::group::GroupId,
    i: usize,
) -> ReturnedState {
    let Some(h) = sim.handle(i) else {
        return ReturnedState {
            node: i,
            account: sim.account(i).to_string(),
            up: false,
            ..ReturnedState::default()
        };
    };
    let to = h.identity.account_id;
    let chains = h.store.group_chains(gid).unwrap_or_default();
    ReturnedState {
        node: i,
        account: sim.account(i).to_string(),
        up: true,
        messages: h
            .store
            .group_messages(gid, usize::MAX)
            .map(|m| m.len())
            .unwrap_or(0),
        chains: chains.len(),
        held_wires: h.store.held_wire_ids(gid, usize::MAX).len(),
        members_in_view: h
            .groups
            .members(&gid.to_string())
            .map(|m| m.len())
            .unwrap_or(0),
        outbox_waiting_at: gp
            .senders
            .iter()
            .copied()
            .filter(|&s| {
                sim.handle(s)
                    .is_some_and(|hs| hs.store.outbox_has(&to).unwrap_or(false))
            })
            .collect(),
        no_chain_of: gp
            .senders
            .iter()
            .copied()
            .filter(|&s| {
                s != i
                    && !chains
                        .iter()
                        .any(|(_, c)| c.sender.to_string() == sim.account(s))
            })
            .collect(),
    }
}

/// After the settle window: the phase's bytes and the removed member's store.
fn finish_group(sim: &Sim, out: &Mutex<GroupRun>, t0: Instant) {
    let Ok(mut g) = out.lock() else {
        return;
    };
    g.wire_end = sim.net.traffic();
    g.phase_s = t0.elapsed().as_secs_f64();
    // What the members that were away hold (messages, chains, held
    // wires), and the same for online members that hold fewer messages
    // than the best-served member.
    if let (Some(gid), Some(gp)) = (g.id, sim.plan.group.as_ref()) {
        let state = |i: usize| member_state(sim, gp, &gid, i);
        g.returned_state = gp.offline.iter().map(|&i| state(i)).collect();
        let online: Vec<ReturnedState> = gp
            .members
            .iter()
            .filter(|i| !gp.offline.contains(i) && gp.removed.map(|r| r.0) != Some(**i))
            .map(|&i| state(i))
            .collect();
        let most = online.iter().map(|m| m.messages).max().unwrap_or(0);
        g.lagging_state = online.into_iter().filter(|m| m.messages < most).collect();
    }
    let (Some(gid), Some((removed, _))) = (g.id, sim.plan.group.as_ref().and_then(|p| p.removed))
    else {
        return;
    };
    let Some(h) = sim.handle(removed) else {
        return;
    };
    g.removed_store = h
        .store
        .group_messages(&gid, usize::MAX)
        .unwrap_or_default()
        .into_iter()
        .map(|m| (m.text, m.sent_at_ms))
        .collect();
    g.removed_still_member = h
        .store
        .group_log(&gid)
        .ok()
        .flatten()
        .map(|l| l.state().members.contains_key(&h.identity.account_id));
}

/// Plays items and faults on the scenario clock. Returns the workload start
/// and the real time of each heal.
async fn play(
    sim: &mut Sim,
    oa_ids: &[String],
    group: &Arc<Mutex<GroupRun>>,
) -> (Instant, Vec<Instant>) {
    let plan = sim.plan.clone();
    let tracker = sim.tracker.clone();
    let t0 = Instant::now();
    let mut heals = Vec::new();
    let mut faults = plan.faults.iter().peekable();
    let mut items = plan.items.iter().peekable();
    let mut last = Instant::now();
    let mut sent = 0usize;
    let mut stuck = Vec::new();
    let group_id = group.lock().ok().and_then(|g| g.id).map(|g| g.to_string());
    // The group removal, played once at its time (after faults, before items).
    let mut removal = plan.group.as_ref().and_then(|g| g.removed);
    let creator = plan.group.as_ref().map(|g| g.creator);
    loop {
        let next_fault = faults.peek().map(|f| f.at_ms);
        let next_item = items.peek().map(|i| i.at_ms);
        let next_removal = removal.map(|(_, at)| at);
        let Some(at) = [next_fault, next_item, next_removal]
            .into_iter()
            .flatten()
            .min()
        else {
            break;
        };
        tokio::time::sleep_until((t0 + Duration::from_millis(at)).into()).await;
        if last.elapsed() > PROGRESS_EVERY {
            last = Instant::now();
            progress(format!(
                "t={:.1}s: {sent}/{} items sent, {} arrivals outstanding",
                t0.elapsed().as_secs_f64(),
                plan.items.len(),
                tracker.outstanding_sent()
            ));
        }
        // Faults first at equal times: an item at the partition instant is sent into it.
        if next_fault == Some(at) {
            let f = faults.next().expect("peeked");
            match &f.action {
                FaultAction::Partition { side } => {
                    progress(format!("t={:.1}s: partition", t0.elapsed().as_secs_f64()));
                    sim.net.partition(side.clone());
                }
                FaultAction::Heal => {
                    progress(format!("t={:.1}s: heal", t0.elapsed().as_secs_f64()));
                    sim.net.heal();
                    heals.push(Instant::now());
                }
                FaultAction::Down { nodes, crash } => {
                    progress(format!(
                        "t={:.1}s: {} nodes {}",
                        t0.elapsed().as_secs_f64(),
                        nodes.len(),
                        if *crash { "crash" } else { "leave" }
                    ));
                    sim.stop_many(nodes, *crash).await;
                }
                FaultAction::Up { nodes } => {
                    progress(format!(
                        "t={:.1}s: {} nodes come back",
                        t0.elapsed().as_secs_f64(),
                        nodes.len()
                    ));
                    let failed = sim.start_many(nodes).await;
                    if !failed.is_empty() {
                        progress(format!("{} nodes did not come back", failed.len()));
                    }
                    stuck.extend(failed);
                }
            }
            continue;
        }
        if let Some((who, _)) = removal.filter(|(_, r)| *r == at) {
            removal = None;
            let h = creator.and_then(|c| sim.handle(c).cloned());
            let account = sim.account(who).to_string();
            progress(format!(
                "t={:.1}s: the creator removes n{who}",
                t0.elapsed().as_secs_f64()
            ));
            if let Ok(mut g) = group.lock() {
                g.removal_start_ms = Some(weft_protocol::unix_now_ms());
            }
            // Until when does an online member still list the removed one?
            let online: Vec<Arc<weft_node::NodeHandle>> = plan
                .group
                .iter()
                .flat_map(|g| {
                    g.members
                        .iter()
                        .filter(|m| **m != who && !g.offline.contains(m))
                })
                .filter_map(|&m| sim.handle(m).cloned())
                .collect();
            if let Some(gid) = group_id.clone() {
                let (group, account) = (group.clone(), sim.account(who).to_string());
                tokio::spawn(async move {
                    let deadline = Instant::now() + REMOVAL_WATCH;
                    let mut left = online;
                    while !left.is_empty() && Instant::now() < deadline {
                        left.retain(|h| {
                            h.groups
                                .members(&gid)
                                .map(|ms| ms.iter().any(|m| m.account_id == account))
                                .unwrap_or(true)
                        });
                        if left.is_empty() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                    if let Ok(mut g) = group.lock() {
                        if left.is_empty() {
                            g.removal_known_ms = Some(weft_protocol::unix_now_ms());
                        }
                    }
                });
            }
            let (group, gid) = (group.clone(), group_id.clone());
            tokio::spawn(async move {
                let r = match (h, gid) {
                    (Some(h), Some(gid)) => h
                        .groups
                        .remove(&gid, &account)
                        .await
                        .map_err(|e| e.to_string()),
                    _ => Err("no group or creator down".to_string()),
                };
                if let Ok(mut g) = group.lock() {
                    g.removal_done_ms = Some(weft_protocol::unix_now_ms());
                    g.removal_error = r.err();
                }
            });
            continue;
        }
        let it = items.next().expect("peeked");
        let Some(h) = sim.handle(it.from).cloned() else {
            tracker.skipped(it.id, sender_missing(&stuck, it.from));
            continue;
        };
        let key = tracker.key(it.id);
        match it.kind {
            TrafficKind::Chat => {
                let to = sim.account(it.to[0]).to_string();
                tracker.sent(it.id);
                tokio::spawn(async move {
                    if let Err(e) = h.chat.send(&to, &key, None).await {
                        tracing::warn!(error = %e, "chat send failed");
                    }
                });
            }
            TrafficKind::Oa => {
                let Some(id) = it.oa.and_then(|k| oa_ids.get(k)).cloned() else {
                    tracker.skipped(it.id, SkipReason::AccountUnknown);
                    continue;
                };
                tracker.sent(it.id);
                tokio::spawn(async move {
                    match h
                        .oa
                        .publish(&id, &key, "simnet broadcast", None, vec![], vec![])
                        .await
                    {
                        Ok(p) if p.gossiped => {}
                        Ok(_) => tracing::warn!("post stored but not gossiped"),
                        Err(e) => tracing::warn!(error = %e, "publish failed"),
                    }
                });
            }
            TrafficKind::Group => {
                let Some(gid) = group_id.clone() else {
                    tracker.skipped(it.id, SkipReason::GroupUnknown);
                    continue;
                };
                tracker.sent(it.id);
                let removed = plan
                    .group
                    .as_ref()
                    .and_then(|g| g.removed)
                    .map(|(r, _)| sim.account(r).to_string());
                let (group, id) = (group.clone(), it.id);
                tokio::spawn(async move {
                    let (started, done) = group
                        .lock()
                        .map(|g| (g.removal_start_ms.is_some(), g.removal_done_ms.is_some()))
                        .unwrap_or((false, false));
                    // Does the sender still count the removed member in?
                    let unaware = started
                        && removed.is_some_and(|r| {
                            h.groups
                                .members(&gid)
                                .map(|ms| ms.iter().any(|m| m.account_id == r))
                                .unwrap_or(false)
                        });
                    let out = weft_node::group::Outgoing {
                        text: &key,
                        reply_to: None,
                        mentions: &[],
                        all: false,
                    };
                    let r = h.groups.send(&gid, out).await;
                    if let Ok(mut g) = group.lock() {
                        if started {
                            g.sent_after_removal_started += 1;
                        }
                        if done {
                            g.sent_after_removal += 1;
                        }
                        if unaware {
                            g.unaware_sends.push(id);
                        }
                        if let Err(e) = r {
                            tracing::warn!(error = %e, "group send failed");
                            g.send_failures.push(id);
                        }
                    }
                });
            }
            TrafficKind::Moments => {
                tracker.sent(it.id);
                let tracker = tracker.clone();
                let id = it.id;
                tokio::spawn(async move {
                    match h.moments.post(&key, &[], None, &Audience::All).await {
                        // Friends' events name the post by its id.
                        Ok(post) => tracker.alias(&post, id),
                        Err(e) => tracing::warn!(error = %e, "moments post failed"),
                    }
                });
            }
        }
        sent += 1;
    }
    sim.not_restarted = stuck;
    (t0, heals)
}

/// Why an item's sender has no running node: it was churned and failed to
/// come back (`not_restarted`), or it is simply down.
fn sender_missing(not_restarted: &[usize], sender: usize) -> SkipReason {
    if not_restarted.contains(&sender) {
        SkipReason::SenderNotRestarted
    } else {
        SkipReason::SenderDown
    }
}

/// Waits until every sent item reached every recipient, or `settle` passes.
async fn wait_deliveries(tracker: &Tracker, settle: Duration) {
    let deadline = Instant::now() + settle;
    wait_until(
        tracker,
        deadline,
        || tracker.outstanding_sent() == 0,
        || format!("{} arrivals outstanding", tracker.outstanding_sent()),
    )
    .await;
}

/// Waits for `done` on the tracker's notifications until `deadline`,
/// printing `status` every few seconds.
async fn wait_until(
    tracker: &Tracker,
    deadline: Instant,
    done: impl Fn() -> bool,
    status: impl Fn() -> String,
) {
    let mut last = Instant::now();
    while !done() && Instant::now() < deadline {
        let notified = tracker.changed.notified();
        // Re-check after registering, so a notification in between is not missed.
        if done() {
            break;
        }
        let _ = tokio::time::timeout_at(
            deadline.min(Instant::now() + Duration::from_secs(1)).into(),
            notified,
        )
        .await;
        if last.elapsed() > PROGRESS_EVERY {
            last = Instant::now();
            progress(status());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_that_failed_to_restart_is_named_as_such() {
        assert_eq!(sender_missing(&[4, 9], 9), SkipReason::SenderNotRestarted);
        assert_eq!(sender_missing(&[4, 9], 5), SkipReason::SenderDown);
        assert_eq!(sender_missing(&[], 0), SkipReason::SenderDown);
    }
}
