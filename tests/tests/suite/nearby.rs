//! People Nearby over the DHT, handles, and bad nearby input, with real
//! `weft` processes on 127.0.0.1 (mDNS off: the LAN radar is tested in
//! network namespaces, see mdns_netns.rs).

use std::time::Duration;

use serde_json::Value;
use weft_tests::{wait_for, Weft};

use crate::BIN;
use weft_tests::s;
const T: Duration = Duration::from_secs(30);

async fn nearby_ids(w: &Weft, h: &std::path::Path) -> Vec<String> {
    let v = w.json(&["nearby", "--home", s(h)]).await;
    v.as_array()
        .unwrap_or_else(|| panic!("nearby is not a list: {v}"))
        .iter()
        .filter_map(|p| p["account_id"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_1km_apart_see_each_other_and_300km_away_sees_neither() {
    let w = Weft::new(BIN);
    let (_procs, homes) = w.network(&["Ada", "Bao", "Chen", "Dara"]).await;
    let Ok([a, b, c, d]) = <[_; 4]>::try_from(homes) else {
        panic!("four homes")
    };
    let (a_id, b_id, c_id, d_id) = (
        w.account(&a).await,
        w.account(&b).await,
        w.account(&c).await,
        w.account(&d).await,
    );

    // Beijing, 1 km north of it, and 300 km east.
    w.json(&[
        "nearby",
        "on",
        "--home",
        s(&a),
        "--lat",
        "39.9042",
        "--lon",
        "116.4074",
        "--whats-up",
        "☕?",
    ])
    .await;
    w.json(&[
        "nearby",
        "on",
        "--home",
        s(&b),
        "--lat",
        "39.9132",
        "--lon",
        "116.4074",
    ])
    .await;
    w.json(&[
        "nearby",
        "on",
        "--home",
        s(&c),
        "--lat",
        "39.9042",
        "--lon",
        "119.9",
    ])
    .await;
    // D is 1 km north of C: C's barrier (C has looked up its area once it sees D).
    w.json(&[
        "nearby",
        "on",
        "--home",
        s(&d),
        "--lat",
        "39.9132",
        "--lon",
        "119.9",
    ])
    .await;

    assert!(
        wait_for(T, || async { nearby_ids(&w, &a).await.contains(&b_id) }).await,
        "A never saw B"
    );
    assert!(
        wait_for(T, || async { nearby_ids(&w, &b).await.contains(&a_id) }).await,
        "B never saw A"
    );
    let from_b = w.json(&["nearby", "--home", s(&b)]).await;
    let ada = from_b
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["account_id"] == a_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(ada["name"], "Ada");
    assert_eq!(ada["whats_up"], "☕?");
    assert!(ada["distance_m"].as_f64().unwrap() < 10_000.0);
    // C's lookups work (it finds D, 1 km away) and find no one 300 km away;
    // A's and B's found each other and neither C nor D.
    assert!(
        wait_for(T, || async { nearby_ids(&w, &c).await.contains(&d_id) }).await,
        "C never saw D, 1 km away"
    );
    assert!(
        wait_for(T, || async { nearby_ids(&w, &d).await.contains(&c_id) }).await,
        "D never saw C, 1 km away"
    );
    assert_eq!(
        nearby_ids(&w, &c).await,
        vec![d_id.clone()],
        "C sees someone 300 km away"
    );
    for (h, n) in [(&a, "A"), (&b, "B")] {
        let ids = nearby_ids(&w, h).await;
        assert!(
            !ids.contains(&c_id) && !ids.contains(&d_id),
            "{n} sees someone 300 km away: {ids:?}"
        );
    }

    // B turns the radar off: A drops B within the documented expiry (8 s + a 2 s poll).
    w.json(&["nearby", "off", "--home", s(&b)]).await;
    assert!(
        wait_for(Duration::from_secs(15), || async {
            !nearby_ids(&w, &a).await.contains(&b_id)
        })
        .await,
        "B still listed after turning its radar off"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handle_claimed_elsewhere_resolves_through_the_dht_and_adds_a_contact() {
    let w = Weft::new(BIN);
    let (_procs, homes) = w.network(&["Dara", "Emeka"]).await;
    let Ok([d, e]) = <[_; 2]>::try_from(homes) else {
        panic!("two homes")
    };
    let d_id = w.account(&d).await;
    assert!(
        wait_for(T, || async {
            w.status(&d).await["connected_peers"]
                .as_array()
                .is_some_and(|p| !p.is_empty())
        })
        .await
    );

    let id = w
        .json(&["id", "--home", s(&d), "--handle", "Dara_Okafor"])
        .await;
    assert_eq!(id["handle"], "dara_okafor");

    let found = w.json(&["find", "--home", s(&e), "dara_okafor"]).await;
    assert_eq!(found["account_id"], d_id.as_str());
    assert_eq!(found["name"], "Dara");
    assert!(found["fingerprint"]
        .as_str()
        .unwrap()
        .starts_with(&d_id[..4]));

    // Someone else cannot take it.
    let out = w
        .run(&["id", "--home", s(&e), "--handle", "dara_okafor"])
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already claimed"));

    // Add by handle: the request reaches Dara.
    w.json(&[
        "contacts",
        "add",
        "--home",
        s(&e),
        "dara_okafor",
        "--greeting",
        "found you by handle",
    ])
    .await;
    let got = wait_for(T, || async {
        let r: Value = w.json(&["contacts", "requests", "--home", s(&d)]).await;
        r.as_array()
            .unwrap()
            .iter()
            .any(|x| x["greeting"] == "found you by handle")
    })
    .await;
    assert!(got, "request by handle never arrived");

    // Issue 18, bug 3: after Dara changes handle, the old one no longer
    // resolves to her, the new one does, and the old one is free to claim.
    let id = w
        .json(&["id", "--home", s(&d), "--handle", "dara_new"])
        .await;
    assert_eq!(id["handle"], "dara_new");
    let out = w.run(&["find", "--home", s(&e), "dara_okafor"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success() && stderr.contains("no one has claimed"),
        "the old handle still resolves: {} {stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    let found = w.json(&["find", "--home", s(&e), "dara_new"]).await;
    assert_eq!(found["account_id"], d_id.as_str());
    let e_id = w.account(&e).await;
    w.json(&["id", "--home", s(&e), "--handle", "dara_okafor"])
        .await;
    let found = w.json(&["find", "--home", s(&d), "dara_okafor"]).await;
    assert_eq!(found["account_id"], e_id.as_str());
}

#[tokio::test]
async fn bad_locations_handles_and_avatars_are_refused_clearly() {
    let w = Weft::new(BIN);
    let (a, _na) = w.started("a", "Ada", &[]).await;
    let err = |out: std::process::Output| {
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let e = err(w
        .run(&[
            "nearby",
            "on",
            "--home",
            s(&a),
            "--lat",
            "100",
            "--lon",
            "0",
        ])
        .await);
    assert!(e.contains("out of range"), "{e}");
    let e = err(w
        .run(&["nearby", "on", "--home", s(&a), "--geohash", "ail!o"])
        .await);
    assert!(e.contains("not a geohash"), "{e}");
    let big = w.home("big.png");
    std::fs::write(&big, vec![0u8; 40 * 1024]).unwrap();
    let e = err(w
        .run(&["nearby", "on", "--home", s(&a), "--avatar", s(&big)])
        .await);
    assert!(
        e.contains("41.0 KB") && e.contains("at most 32.8 KB"),
        "{e}"
    );
    let notimg = w.home("x.png");
    std::fs::write(&notimg, b"not an image").unwrap();
    let e = err(w
        .run(&["nearby", "on", "--home", s(&a), "--avatar", s(&notimg)])
        .await);
    assert!(e.contains("PNG or JPEG"), "{e}");
    let e = err(w.run(&["id", "--home", s(&a), "--handle", "ab"]).await);
    assert!(e.contains("6-20 characters"), "{e}");
    let e = err(w.run(&["find", "--home", s(&a), "nobody_here"]).await);
    assert!(e.contains("no one has claimed"), "{e}");
    // Still fine, radar still off.
    assert!(w
        .json(&["nearby", "--home", s(&a)])
        .await
        .as_array()
        .unwrap()
        .is_empty());
}
