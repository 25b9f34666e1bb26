//! The `smoke` scenario in the test suite: 50 real nodes, every kind of
//! traffic, and a partition that heals. Without faults everything must
//! arrive; chat sent across the partition must arrive, and only after the
//! heal.

use weft_simnet::{run, Scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_delivers_everything_and_partitioned_chat_after_the_heal() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/smoke.toml");
    let scenario = Scenario::load(std::path::Path::new(path)).unwrap();
    let report = run(&scenario).await.unwrap();
    let json = serde_json::to_string_pretty(&report).unwrap();
    let clean = &report.faults.without_faults;
    for kind in ["chat", "oa", "moments"] {
        let k = clean
            .get(kind)
            .unwrap_or_else(|| panic!("no fault-free {kind} traffic: {json}"));
        assert!(k.items > 0, "{json}");
        assert_eq!(
            k.arrived.delivery_ratio, 1.0,
            "{kind} lost without faults: {json}"
        );
    }
    let f = &report.faults;
    assert!(f.cross_partition_chat > 0, "{json}");
    assert_eq!(
        f.cross_partition_chat_delivered, f.cross_partition_chat,
        "{json}"
    );
    assert_eq!(f.cross_partition_chat_before_heal, 0, "{json}");
}
