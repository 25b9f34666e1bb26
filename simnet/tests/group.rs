//! The `group-smoke` scenario in the test suite: 30 real nodes, a group of
//! 12 with one member offline during the traffic and one removed midway.
//! Every member online or back gets every message; the removed member gets
//! what was sent before its removal and nothing after.

use weft_simnet::{run, Scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_delivers_to_members_and_nothing_to_the_removed_one() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/group-smoke.toml");
    let scenario = Scenario::load(std::path::Path::new(path)).unwrap();
    let report = run(&scenario).await.unwrap();
    let json = serde_json::to_string_pretty(&report).unwrap();
    let g = report.group.as_ref().expect("a group section");
    assert_eq!(g.setup.members_added, 12, "{json}");
    assert_eq!(g.send_failures, 0, "{json}");
    assert_eq!(g.messages, 12, "{json}");
    assert_eq!(g.offline, 1, "{json}");
    assert_eq!(
        g.all.arrived.delivery_ratio, 1.0,
        "group messages lost: {json}"
    );
    assert_eq!(g.returned.arrived.delivered, g.returned.expected, "{json}");
    assert!(g.returned.expected > 0, "{json}");
    let r = g.removed.as_ref().expect("a removed member");
    assert_eq!(r.error, None, "{json}");
    assert!(r.sent_after_removal_started > 0, "{json}");
    assert!(r.all_online_members_knew_after_ms.is_some(), "{json}");
    assert_eq!(r.received_after_all_knew, 0, "{json}");
    assert_eq!(r.received_before, r.expected_before, "{json}");
    assert_eq!(r.still_member_in_own_view, Some(false), "{json}");
    assert!(g.wire.bytes_per_member_per_message > 0.0, "{json}");
}
