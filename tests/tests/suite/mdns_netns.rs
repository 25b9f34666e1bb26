//! mDNS on a real LAN we build ourselves: network namespaces joined by a
//! bridge (in a namespace of its own, so nothing touches the machine's
//! network). Two nodes with default settings (mDNS on, no bootstrap, no
//! dial) must find and connect to each other within 5 seconds.
//!
//! Needs root and iproute2 (`ip`), which `.ci/run` installs.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use weft_tests::wait_for;

use crate::BIN;

/// Namespaces created by this test; deleted on drop, even after a failure.
struct Lan {
    bridge: String,
    hosts: Vec<String>,
}

fn ip(args: &[&str]) {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .expect("`ip` (iproute2) is installed");
    assert!(
        out.status.success(),
        "ip {args:?} failed (this test needs root): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Lan {
    fn new(name: &str, hosts: usize) -> Self {
        let tag = format!("{}{name}", std::process::id() % 100_000);
        let lan = Lan {
            bridge: format!("wft{tag}br"),
            hosts: (0..hosts).map(|i| format!("wft{tag}h{i}")).collect(),
        };
        ip(&["netns", "add", &lan.bridge]);
        ip(&["-n", &lan.bridge, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &lan.bridge, "link", "set", "br0", "up"]);
        for (i, h) in lan.hosts.iter().enumerate() {
            ip(&["netns", "add", h]);
            let port = format!("p{i}");
            ip(&[
                "-n",
                h,
                "link",
                "add",
                "eth0",
                "type",
                "veth",
                "peer",
                "name",
                &port,
                "netns",
                &lan.bridge,
            ]);
            ip(&[
                "-n",
                &lan.bridge,
                "link",
                "set",
                &port,
                "master",
                "br0",
                "up",
            ]);
            ip(&[
                "-n",
                h,
                "addr",
                "add",
                &format!("10.201.0.{}/24", i + 1),
                "dev",
                "eth0",
            ]);
            ip(&["-n", h, "link", "set", "eth0", "up"]);
            ip(&["-n", h, "link", "set", "lo", "up"]);
            ip(&["-n", h, "route", "add", "224.0.0.0/4", "dev", "eth0"]);
        }
        lan
    }

    fn weft(&self, host: usize, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.hosts[host]])
            .arg(weft_tests::bin_path(BIN))
            .args(args);
        c.env("RUST_LOG", "warn,weft_node=info").kill_on_drop(true);
        c
    }

    /// `weft --json ARGS` on `host`: the parsed answer, or the command's
    /// error (for polling a node that may not be up yet).
    async fn try_json(&self, host: usize, args: &[&str]) -> Result<serde_json::Value, String> {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        let out = self
            .weft(host, &full)
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| format!("cannot run weft: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        serde_json::from_slice(&out.stdout).map_err(|e| format!("bad JSON: {e}"))
    }

    /// Like [`Lan::try_json`] for a node that must be up: a failing command
    /// (a crashed node, say) fails the test instead of reading as "nothing".
    async fn json(&self, host: usize, args: &[&str]) -> serde_json::Value {
        self.try_json(host, args)
            .await
            .unwrap_or_else(|e| panic!("weft {args:?} on host {host} failed: {e}"))
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for ns in self.hosts.iter().chain(std::iter::once(&self.bridge)) {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", ns])
                .output();
        }
    }
}

#[tokio::test]
async fn two_nodes_on_a_lan_find_each_other_with_mdns() {
    let lan = Lan::new("m", 2);
    let dir = tempfile::tempdir().unwrap();
    let homes: Vec<String> = (0..2)
        .map(|i| dir.path().join(format!("n{i}")).display().to_string())
        .collect();
    let mut nodes: Vec<Child> = Vec::new();
    let mut peer_ids = Vec::new();
    // The 5 s bound runs from the moment the second node is started: it
    // covers its start-up, the mDNS exchange and the connection.
    let mut started = Instant::now();
    for (i, h) in homes.iter().enumerate() {
        let log = std::fs::File::create(format!("{h}.log")).unwrap();
        started = Instant::now();
        // Default settings: mDNS on, listen on all interfaces of the namespace.
        nodes.push(
            lan.weft(i, &["up", "--init", "--home", h])
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        let up = wait_for(Duration::from_secs(30), || async {
            lan.try_json(i, &["status", "--home", h]).await.is_ok()
        })
        .await;
        assert!(
            up,
            "node {i} did not start: {}",
            std::fs::read_to_string(format!("{h}.log")).unwrap_or_default()
        );
        let status = lan.json(i, &["status", "--home", h]).await;
        peer_ids.push(status["peer_id"].as_str().unwrap().to_string());
    }
    let deadline = started + Duration::from_secs(5);
    for (i, h) in homes.iter().enumerate() {
        let other = &peer_ids[1 - i];
        let left = deadline.saturating_duration_since(Instant::now());
        let found = wait_for(left, || async {
            lan.json(i, &["peers", "--home", h])
                .await
                .as_array()
                .is_some_and(|a| a.iter().any(|p| p["peer_id"] == other.as_str()))
        })
        .await;
        assert!(
            found,
            "node {i} did not find node {} over mDNS within 5 s of its start; log:\n{}",
            1 - i,
            std::fs::read_to_string(format!("{h}.log")).unwrap_or_default()
        );
    }
    eprintln!(
        "start + mDNS discovery + connection took {:?}",
        started.elapsed()
    );
}

/// Starts `weft up` with default settings in every host of `lan`; returns
/// the children, homes and account ids.
async fn start_all(lan: &Lan, dir: &std::path::Path) -> (Vec<Child>, Vec<String>, Vec<String>) {
    let mut nodes = Vec::new();
    let mut homes = Vec::new();
    let mut accounts = Vec::new();
    for i in 0..lan.hosts.len() {
        let h = dir.join(format!("n{i}")).display().to_string();
        let log = std::fs::File::create(format!("{h}.log")).unwrap();
        let init = lan
            .weft(i, &["init", "--home", &h, "--name", &format!("Host{i}")])
            .output()
            .await
            .unwrap();
        assert!(init.status.success());
        nodes.push(
            lan.weft(i, &["up", "--home", &h])
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        let up = wait_for(Duration::from_secs(30), || async {
            lan.try_json(i, &["status", "--home", &h]).await.is_ok()
        })
        .await;
        assert!(up, "node {i} did not start");
        let st = lan.json(i, &["status", "--home", &h]).await;
        accounts.push(st["account_id"].as_str().unwrap().to_string());
        homes.push(h);
    }
    (nodes, homes, accounts)
}

/// Accounts on `home`'s radar; fails the test if the command fails.
async fn radar_list(lan: &Lan, i: usize, home: &str) -> Vec<String> {
    let v = lan.json(i, &["nearby", "--home", home]).await;
    let list = v
        .as_array()
        .unwrap_or_else(|| panic!("nearby on host {i} is not a list: {v}"));
    list.iter()
        .filter_map(|p| p["account_id"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn the_radar_lists_lan_neighbours_and_drops_one_that_turns_off() {
    let lan = Lan::new("r", 3);
    let dir = tempfile::tempdir().unwrap();
    let (_nodes, homes, accounts) = start_all(&lan, dir.path()).await;
    for (i, h) in homes.iter().enumerate() {
        lan.json(
            i,
            &[
                "nearby",
                "on",
                "--home",
                h,
                "--whats-up",
                &format!("hello from {i}"),
            ],
        )
        .await;
    }
    // Each lists the other two, over real multicast, within 10 s.
    for (i, h) in homes.iter().enumerate() {
        let others: Vec<&String> = accounts
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, a)| a)
            .collect();
        let all = wait_for(Duration::from_secs(10), || async {
            let list = radar_list(&lan, i, h).await;
            others.iter().all(|a| list.contains(a))
        })
        .await;
        assert!(
            all,
            "node {i} does not list both neighbours: {:?}",
            radar_list(&lan, i, h).await
        );
    }
    // Node 2 turns its radar off: the others drop it within the expiry (8 s) plus a poll.
    lan.json(2, &["nearby", "off", "--home", &homes[2]]).await;
    for (i, home) in homes.iter().enumerate().take(2) {
        let gone = wait_for(Duration::from_secs(15), || async {
            !radar_list(&lan, i, home).await.contains(&accounts[2])
        })
        .await;
        assert!(gone, "node {i} still lists node 2 after its radar went off");
    }
    assert!(radar_list(&lan, 2, &homes[2]).await.is_empty());
}

/// Issue 20, acceptance 3 on a LAN: a phone and its linked laptop in two
/// namespaces on one bridge (nothing else exists: no relay, no other node).
/// A 50 MiB file sent to "File Transfer" on the phone is saved on the
/// laptop byte for byte, and the laptop's connection to the phone is to the
/// phone's LAN address: the transfer went directly between them.
#[tokio::test]
async fn file_transfer_between_two_devices_on_a_lan_goes_directly() {
    let lan = Lan::new("f", 2);
    let dir = tempfile::tempdir().unwrap();
    let phone = dir.path().join("phone").display().to_string();
    let laptop = dir.path().join("laptop").display().to_string();
    let log = std::fs::File::create(format!("{phone}.log")).unwrap();
    let _phone_node = lan
        .weft(0, &["up", "--init", "--home", &phone, "--name", "Ada"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let up = wait_for(Duration::from_secs(30), || async {
        lan.try_json(0, &["status", "--home", &phone])
            .await
            .is_ok_and(|s| s["listen_addrs"].as_array().is_some_and(|a| !a.is_empty()))
    })
    .await;
    assert!(up, "the phone's node did not start");
    let phone_peer = lan.json(0, &["status", "--home", &phone]).await["peer_id"]
        .as_str()
        .unwrap()
        .to_string();
    let code = lan.json(0, &["device", "link", "--home", &phone]).await["code"]
        .as_str()
        .unwrap()
        .to_string();
    lan.json(
        1,
        &[
            "device", "join", &code, "--name", "Laptop", "--home", &laptop,
        ],
    )
    .await;
    let log = std::fs::File::create(format!("{laptop}.log")).unwrap();
    let _laptop_node = lan
        .weft(1, &["up", "--home", &laptop])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let direct = wait_for(Duration::from_secs(30), || async {
        lan.try_json(1, &["peers", "--home", &laptop])
            .await
            .ok()
            .and_then(|v| v.as_array().cloned())
            .is_some_and(|peers| {
                peers.iter().any(|p| {
                    p["peer_id"] == phone_peer.as_str()
                        && p["addrs"].as_array().is_some_and(|a| {
                            a.iter().any(|x| {
                                x.as_str()
                                    .is_some_and(|x| x.starts_with("/ip4/10.201.0.1/"))
                            })
                        })
                })
            })
    })
    .await;
    assert!(
        direct,
        "the laptop is not connected to the phone at its LAN address"
    );

    let big = weft_tests::noise(50 * 1024 * 1024, 0x2545_f491);
    let path = dir.path().join("video.bin");
    std::fs::write(&path, &big).unwrap();
    let sent = lan
        .json(
            0,
            &[
                "chat",
                "send",
                "--home",
                &phone,
                "me",
                "for the laptop",
                "--file",
                &path.display().to_string(),
            ],
        )
        .await;
    let id = sent["id"].as_str().unwrap().to_string();
    let arrived = wait_for(Duration::from_secs(60), || async {
        lan.try_json(1, &["chat", "log", "--home", &laptop, "me"])
            .await
            .ok()
            .and_then(|v| v.as_array().cloned())
            .is_some_and(|log| log.iter().any(|m| m["id"] == id.as_str()))
    })
    .await;
    assert!(
        arrived,
        "the laptop never got the message; log:\n{}",
        std::fs::read_to_string(format!("{laptop}.log")).unwrap_or_default()
    );
    let saved = dir.path().join("saved.bin");
    lan.json(
        1,
        &[
            "chat",
            "save",
            "--home",
            &laptop,
            &id,
            "--out",
            &saved.display().to_string(),
        ],
    )
    .await;
    assert!(
        std::fs::read(&saved).unwrap() == big,
        "the saved file differs"
    );
}
