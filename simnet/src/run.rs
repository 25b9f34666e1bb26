//! Runs a scenario end to end: start the nodes, let the DHT mesh form, make
//! the planned friends and follows, play the traffic and the faults on the
//! scenario clock, wait (bounded) for deliveries, and measure.
//!
//! Waiting is on events (the tracker's notifications, node answers) with
//! deadlines; the only timed sleeps are the scenario's own clock (an item
//! planned for t = 3 s is sent at t = 3 s).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use weft_node::moments::Audience;
use weft_protocol::oa::OaKind;

use crate::metrics::{cpu_time, rss_mib, Report, SkipReason, Tracker};
use crate::plan::{FaultAction, Plan};
use crate::scenario::{Scenario, TrafficKind};
use crate::sim::Sim;
use crate::SimError;

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

    let (t0, heals) = play(&mut sim, &oa_ids).await;
    let settle = Duration::from_secs_f64(limits.settle_s);
    wait_deliveries(&tracker, settle).await;

    let (rss, peak) = rss_mib();
    report.rss_mib = rss;
    report.peak_rss_mib = peak;
    report.rss_mib_per_node = rss / n as f64;
    report.fill_wire(&sim.net.traffic());
    report.faults.not_restarted = sim.not_restarted.len();
    report.fill_traffic(&plan, &tracker, t0, &heals);
    report.cpu_s = (cpu_time().saturating_sub(cpu0)).as_secs_f64();
    report.wall_s = wall.elapsed().as_secs_f64();
    progress("stopping nodes".into());
    sim.shutdown().await;
    Ok(report)
}

fn progress(line: String) {
    eprintln!("[simnet] {line}");
}

/// Every planned pair: the lower node adds the higher by its link, the
/// higher's watcher accepts. Waits until every acceptance was seen.
async fn make_friends(sim: &Sim, timeout: Duration) {
    let pairs = sim.plan.friends.clone();
    if pairs.is_empty() {
        return;
    }
    let deadline = Instant::now() + timeout;
    futures::stream::iter(pairs.iter().copied())
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
    let missing = pairs
        .iter()
        .filter(|&&(a, b)| !(is_friend(sim, a, b) && is_friend(sim, b, a)))
        .count();
    if missing > 0 {
        progress(format!(
            "friends: {missing} pairs not friends on both sides"
        ));
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
    let mut last = Instant::now();
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
    while !pending.is_empty() && Instant::now() < deadline {
        // Ask all at once, each bounded: one busy node must not stall the rest.
        let until = deadline.min(Instant::now() + Duration::from_secs(5));
        let asks = pending.iter().map(|(f, topic)| {
            let h = sim.handle(*f).cloned();
            let topic = *topic;
            async move {
                let Some(h) = h else { return true };
                matches!(
                    tokio::time::timeout_at(until.into(), h.net.topic_peers(topic)).await,
                    Ok(Ok(n)) if n >= want_peers
                )
            }
        });
        let ready = futures::future::join_all(asks).await;
        pending = pending
            .into_iter()
            .zip(ready)
            .filter(|(_, r)| !r)
            .map(|(p, _)| p)
            .collect();
        if last.elapsed() > PROGRESS_EVERY {
            last = Instant::now();
            progress(format!(
                "follows: {} of {} followers see no subscriber yet",
                pending.len(),
                follows.len()
            ));
        }
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    Ok(ids)
}

/// Plays items and faults on the scenario clock. Returns the workload start
/// and the real time of each heal.
async fn play(sim: &mut Sim, oa_ids: &[String]) -> (Instant, Vec<Instant>) {
    let plan = sim.plan.clone();
    let tracker = sim.tracker.clone();
    let t0 = Instant::now();
    let mut heals = Vec::new();
    let mut faults = plan.faults.iter().peekable();
    let mut items = plan.items.iter().peekable();
    let mut last = Instant::now();
    let mut sent = 0usize;
    let mut stuck = Vec::new();
    loop {
        let next_fault = faults.peek().map(|f| f.at_ms);
        let next_item = items.peek().map(|i| i.at_ms);
        let at = match (next_fault, next_item) {
            (None, None) => break,
            (Some(f), Some(i)) => f.min(i),
            (Some(f), None) => f,
            (None, Some(i)) => i,
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
