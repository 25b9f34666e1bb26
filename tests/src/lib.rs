//! Harness for multi-node integration tests: real `weft` processes on
//! 127.0.0.1 with ephemeral ports and mDNS off, each with its own home in a
//! temporary directory. Waits are event- or condition-based with deadlines;
//! nothing sleeps a fixed time to synchronise.

pub mod bare;
pub mod hostile;
pub mod mallory;

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// `n` bytes of xorshift noise from `seed`: test files that do not compress,
/// the same for the same seed.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// A home path as the `&str` the CLI takes (test homes are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Every file under `dir` (recursively), with its bytes: for scanning a
/// stopped node's store for plaintext that must not be there.
pub fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&p) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push((path, bytes));
            }
        }
    }
    out
}

/// The first file under `dir` that contains `needle`, if any.
pub fn file_containing(dir: &Path, needle: &[u8]) -> Option<PathBuf> {
    files_under(dir)
        .into_iter()
        .find(|(_, b)| b.windows(needle.len()).any(|w| w == needle))
        .map(|(p, _)| p)
}

/// The binary to test: `$WEFT_UNDER_TEST` if set, else `default`. Lets a
/// run use a copy of a particular build (say, one broken on purpose to see
/// a test fail) while the shared target directory moves on.
pub fn bin_path(default: &str) -> PathBuf {
    std::env::var_os("WEFT_UNDER_TEST")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// How long a node may take to come up in tests.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Polls `check` every 50 ms until it is true or `timeout` passes.
pub async fn wait_for<F, Fut>(timeout: Duration, check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    weft_cli::poll_until(timeout, Duration::from_millis(50), check).await
}

/// The binary under test and a scratch directory for homes.
pub struct Weft {
    bin: PathBuf,
    /// Scratch directory, removed on drop.
    pub dir: tempfile::TempDir,
}

/// A running `weft up`.
pub struct NodeProc {
    /// Its home.
    pub home: PathBuf,
    child: Child,
}

impl Weft {
    /// A harness for the binary at `bin` (use `env!("CARGO_BIN_EXE_weft-under-test")`),
    /// or at `$WEFT_UNDER_TEST` if set (see [`bin_path`]).
    pub fn new(bin: &str) -> Self {
        Self {
            bin: bin_path(bin),
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Path of a home called `name` in the scratch dir.
    pub fn home(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A `Command` for the binary, with logs kept quiet.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("RUST_LOG", "warn,libp2p_kad=error,weft_node=info")
            .kill_on_drop(true);
        c
    }

    /// Runs `weft ARGS` to completion (60 s cap). Every failing `--json`
    /// command of the suite is checked here: its stderr must be one JSON
    /// error object (`{"error": {"kind", "message", "hint"}}`).
    pub async fn run(&self, args: &[&str]) -> Output {
        let fut = self.command().args(args).stdin(Stdio::null()).output();
        let out = tokio::time::timeout(Duration::from_secs(60), fut)
            .await
            .expect("weft command timed out")
            .expect("weft runs");
        if args.contains(&"--json") && !out.status.success() {
            json_error(&out);
        }
        out
    }

    /// Runs `weft --json ARGS`, asserts success, parses stdout.
    pub async fn json(&self, args: &[&str]) -> Value {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        let out = self.run(&full).await;
        assert!(
            out.status.success(),
            "weft {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "weft {args:?}: bad JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Runs `weft --json ARGS`, asserts that it fails, and returns the
    /// JSON error object it printed (see [`json_error`]).
    pub async fn refused(&self, args: &[&str]) -> Value {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        let out = self.run(&full).await;
        assert!(
            !out.status.success(),
            "weft {args:?} succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        json_error(&out)
    }

    /// `weft init --home H --name NAME`.
    pub async fn init(&self, home: &Path, name: &str) {
        let h = home.to_str().expect("utf-8 path");
        let out = self.run(&["init", "--home", h, "--name", name]).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts `weft up` on 127.0.0.1 with mDNS off and waits until its API answers.
    pub async fn up(&self, home: &Path, extra: &[&str]) -> NodeProc {
        self.up_with_env(home, extra, &[]).await
    }

    /// [`Weft::up`] with environment variables for the node (e.g.
    /// `WEFT_FAULT`, the debug build's crash points: `node/src/fault.rs`).
    pub async fn up_with_env(&self, home: &Path, extra: &[&str], env: &[(&str, &str)]) -> NodeProc {
        let h = home.to_str().expect("utf-8 path");
        std::fs::create_dir_all(home).expect("home dir");
        let log = std::fs::File::create(home.with_extension("log")).expect("log file");
        let mut args = vec!["up", "--home", h, "--no-mdns"];
        // `up` asks for `weft init` on a home with no identity; tests that
        // skip `init` mean "make one".
        if !weft_node::Home::new(home).has_identity() {
            args.push("--init");
        }
        if !extra.contains(&"--listen") {
            args.extend(["--listen", "/ip4/127.0.0.1/tcp/0"]);
        }
        args.extend_from_slice(extra);
        let child = self
            .command()
            .envs(env.iter().copied())
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn weft up");
        let pid = child.id().expect("pid");
        let node = NodeProc {
            home: home.to_path_buf(),
            child,
        };
        let ready = wait_for(START_TIMEOUT, || async {
            let info = weft_node::Home::new(home).read_api_info();
            if info.map(|i| i.pid) != Some(pid) {
                return false;
            }
            let out = self.run(&["--json", "status", "--home", h]).await;
            out.status.success()
                && serde_json::from_slice::<Value>(&out.stdout)
                    .map(|v| v["listen_addrs"].as_array().is_some_and(|a| !a.is_empty()))
                    .unwrap_or(false)
        })
        .await;
        assert!(ready, "node {h} did not come up; log:\n{}", node.log());
        node
    }

    /// The opening of most tests: a new home `dir` with an account called
    /// `name` (`weft init`), its node started with `extra` flags (`weft up`).
    pub async fn started(&self, dir: &str, name: &str, extra: &[&str]) -> (PathBuf, NodeProc) {
        let home = self.home(dir);
        self.init(&home, name).await;
        let node = self.up(&home, extra).await;
        (home, node)
    }

    /// `weft status --json` of a home.
    pub async fn status(&self, home: &Path) -> Value {
        self.json(&["status", "--home", home.to_str().expect("utf-8")])
            .await
    }

    /// Full dialable address (`.../p2p/<peer>`) of a running node's first listener.
    pub async fn dial_addr(&self, home: &Path) -> String {
        let s = self.status(home).await;
        format!(
            "{}/p2p/{}",
            s["listen_addrs"][0].as_str().expect("addr"),
            s["peer_id"].as_str().expect("peer id")
        )
    }

    /// Peer ids that `home` is connected to.
    pub async fn peer_ids(&self, home: &Path) -> Vec<String> {
        let v = self
            .json(&["peers", "--home", home.to_str().expect("utf-8")])
            .await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p["peer_id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until `home` lists `peer` among its connected peers.
    pub async fn wait_connected(&self, home: &Path, peer: &str, timeout: Duration) -> bool {
        wait_for(timeout, || async {
            self.peer_ids(home).await.iter().any(|p| p == peer)
        })
        .await
    }
}

impl NodeProc {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// Sends a signal by name (`TERM`, `KILL`, `INT`).
    pub async fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .await
            .expect("kill runs");
        assert!(st.success());
    }

    /// Waits for the process to exit, up to `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(timeout, self.child.wait())
            .await
            .ok()?
            .ok()
    }

    /// The node's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.home.with_extension("log")).unwrap_or_default()
    }
}

impl Weft {
    /// A API client for a running node's home.
    pub fn client(&self, home: &Path) -> weft_cli::Client {
        weft_cli::Client::for_home(home).expect("node running")
    }

    /// Account id of a running node.
    pub async fn account(&self, home: &Path) -> String {
        self.status(home).await["account_id"]
            .as_str()
            .expect("account id")
            .to_string()
    }

    /// `weft group create NAME --members ...` on `home`: the group's id.
    pub async fn group_create(&self, home: &Path, name: &str, members: &[&str]) -> String {
        let mut args = vec![
            "group",
            "create",
            "--home",
            home.to_str().expect("utf-8"),
            name,
            "--members",
        ];
        args.extend_from_slice(members);
        self.json(&args).await["id"]
            .as_str()
            .expect("group id")
            .to_string()
    }

    /// Makes `a` and `b` friends: `a` adds `b` by link, `b` accepts.
    pub async fn befriend(&self, a: &Path, b: &Path) {
        let (ha, hb) = (a.to_str().expect("utf-8"), b.to_str().expect("utf-8"));
        let link = self.json(&["id", "--home", hb]).await["link"]
            .as_str()
            .expect("link")
            .to_string();
        let a_id = self.account(a).await;
        let b_id = self.account(b).await;
        self.json(&["contacts", "add", "--home", ha, &link, "--greeting", "hi"])
            .await;
        let asked = wait_for(Duration::from_secs(30), || async {
            let r = self.json(&["contacts", "requests", "--home", hb]).await;
            r.as_array()
                .is_some_and(|r| r.iter().any(|x| x["account_id"] == a_id.as_str()))
        })
        .await;
        assert!(asked, "friend request never arrived");
        self.json(&["contacts", "accept", "--home", hb, &a_id])
            .await;
        let friends = wait_for(Duration::from_secs(30), || async {
            let r = self.json(&["contacts", "list", "--home", ha]).await;
            r.as_array().is_some_and(|r| {
                r.iter()
                    .any(|x| x["account_id"] == b_id.as_str() && x["state"] == "friend")
            })
        })
        .await;
        assert!(friends, "acceptance never arrived");
    }

    /// A bootstrap node (`boot`) plus one node per name, all joined through
    /// it; returns every process (bootstrap first) and the named homes.
    pub async fn network(&self, names: &[&str]) -> (Vec<NodeProc>, Vec<PathBuf>) {
        let x = self.home("boot");
        self.init(&x, "Boot").await;
        let mut procs = vec![self.up(&x, &[]).await];
        let boot = self.dial_addr(&x).await;
        let mut homes = Vec::new();
        for n in names {
            let h = self.home(n);
            self.init(&h, n).await;
            procs.push(self.up(&h, &["--bootstrap", &boot]).await);
            homes.push(h);
        }
        (procs, homes)
    }

    /// Ann and Bao (homes `ann` and `bao`), up on loopback (Bao bootstrapped
    /// from Ann) and friends: the start of most two-person tests.
    pub async fn ann_and_bao(&self) -> ((PathBuf, NodeProc), (PathBuf, NodeProc)) {
        let (a, na) = self.started("ann", "Ann", &[]).await;
        let a_addr = self.dial_addr(&a).await;
        let (b, nb) = self.started("bao", "Bao", &["--bootstrap", &a_addr]).await;
        self.befriend(&a, &b).await;
        ((a, na), (b, nb))
    }

    /// What a friend who turned hostile hands out: `author`'s Moments topic
    /// key as `friend`'s node holds it (only the author's friends have it).
    /// Stops `friend`'s node to read its store, then starts it again,
    /// bootstrapped from `via`.
    pub async fn leaked_topic_key(
        &self,
        friend: &Path,
        mut node: NodeProc,
        author: &str,
        via: &Path,
    ) -> ([u8; 32], NodeProc) {
        let author: weft_protocol::AccountId = author.parse().expect("account id");
        node.signal("TERM").await;
        node.wait_exit(Duration::from_secs(30))
            .await
            .expect("the friend's node stopped");
        let key = {
            let store = weft_node::store::Store::open(&weft_node::Home::new(friend).store_dir())
                .expect("the friend's store opens");
            store
                .topic_key(&author)
                .expect("readable")
                .expect("the friend holds the author's topic key")
        };
        let boot = self.dial_addr(via).await;
        (key, self.up(friend, &["--bootstrap", &boot]).await)
    }

    /// `weft oa create --kind KIND NAME` on `home`: the new account's id.
    pub async fn oa_create(&self, home: &Path, kind: &str, name: &str) -> String {
        let created = self
            .json(&["oa", "create", "--home", s(home), "--kind", kind, name])
            .await;
        created["account_id"]
            .as_str()
            .expect("an account id")
            .to_string()
    }

    /// `moments post --json` by `home` of `text` (extra arguments such as
    /// `--to` after it); the new post's id.
    pub async fn moments_post(&self, home: &Path, text: &str, extra: &[&str]) -> String {
        self.json(&moments_post(home, text, extra)).await["id"]
            .as_str()
            .expect("post id")
            .to_string()
    }

    /// `moments feed --json` of `home`, newest first.
    pub async fn moments_feed(&self, home: &Path) -> Vec<Value> {
        self.json(&["moments", "feed", "--home", s(home)])
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Whether `home`'s Moments feed comes to show a post that is `want`
    /// within `timeout`.
    pub async fn feed_shows(
        &self,
        home: &Path,
        timeout: Duration,
        want: impl Fn(&Value) -> bool,
    ) -> bool {
        wait_for(timeout, || async {
            self.moments_feed(home).await.iter().any(&want)
        })
        .await
    }

    /// `chat log --json` of `home` with `with`.
    pub async fn chat_log(&self, home: &Path, with: &str) -> Vec<Value> {
        let h = home.to_str().expect("utf-8");
        self.json(&["chat", "log", "--home", h, with, "--limit", "100000"])
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Whether `home`'s chat log with `with` comes to show a message that
    /// is `want` within `timeout`.
    pub async fn log_shows(
        &self,
        home: &Path,
        with: &str,
        timeout: Duration,
        want: impl Fn(&Value) -> bool,
    ) -> bool {
        wait_for(timeout, || async {
            self.chat_log(home, with).await.iter().any(&want)
        })
        .await
    }
}

/// The arguments of `weft chat send --home HOME TO REST…` (REST: the
/// text, `--file PATH`, other options).
pub fn chat_send<'a>(home: &'a Path, to: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["chat", "send", "--home", s(home), to];
    args.extend_from_slice(rest);
    args
}

/// The arguments of `weft moments post --home HOME TEXT EXTRA…`.
pub fn moments_post<'a>(home: &'a Path, text: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["moments", "post", "--home", s(home), text];
    args.extend_from_slice(extra);
    args
}

/// The JSON error object a failed `weft --json` command printed on stderr
/// (panics if there is none): `{"kind", "message", "hint"}`.
pub fn json_error(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stderr);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("--json failure without a JSON error on stderr: {text}"));
    let v: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("--json error is not JSON ({e}): {line}"));
    let e = v["error"].clone();
    assert!(
        e["kind"].is_string() && e["message"].is_string() && e.get("hint").is_some(),
        "not a JSON error object: {line}"
    );
    assert_ne!(out.status.code(), Some(0));
    e
}

/// A node's event stream (`weft --json events`), read line by line. Tests
/// count events on it instead of inferring them from the store, and use
/// it as a barrier: events arrive in the order the node emitted them.
pub struct Events {
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    reader: tokio::task::JoinHandle<()>,
    /// Every event read so far, oldest first.
    pub seen: Vec<Value>,
}

impl Drop for Events {
    fn drop(&mut self) {
        // The task owns the `weft events` child, which is killed on drop.
        self.reader.abort();
    }
}

impl Events {
    /// Reads events until `done(&seen)` holds (true) or `timeout` passes
    /// (false). Panics if the stream ends or the node reports that this
    /// reader lagged, since counts would then be meaningless.
    pub async fn until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&[Value]) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while !done(&self.seen) {
            let line = match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Err(_) => return false,
                Ok(Some(line)) => line,
                Ok(None) => panic!("the event stream ended"),
            };
            let Ok(ev) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            assert!(ev["type"] != "lagged", "the event reader lagged: {ev}");
            self.seen.push(ev);
        }
        true
    }

    /// Reads what is left until the stream ends (the node stopped or
    /// died): true once it has, false if it is still open after `timeout`.
    pub async fn until_end(&mut self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Err(_) => return false,
                Ok(None) => return true,
                Ok(Some(line)) => {
                    if let Ok(ev) = serde_json::from_str::<Value>(&line) {
                        self.seen.push(ev);
                    }
                }
            }
        }
    }

    /// Waits for the node's first event, `stream_open`: from then on the
    /// stream misses nothing the node emits.
    pub async fn open(&mut self, timeout: Duration) -> bool {
        self.until(timeout, |seen| {
            seen.iter().any(|e| e["type"] == "stream_open")
        })
        .await
    }

    /// Events read so far of type `kind` for which `pred` holds.
    pub fn count(&self, kind: &str, pred: impl Fn(&Value) -> bool) -> usize {
        self.seen
            .iter()
            .filter(|e| e["type"] == kind && pred(e))
            .count()
    }
}

impl Weft {
    /// Starts reading `home`'s event stream. A task drains the child's
    /// output at once, so a test that reads late never makes the node's
    /// stream lag. The stream connects a moment later: wait for
    /// [`Events::open`] (or an event the test causes) before counting on it.
    pub fn events(&self, home: &Path) -> Events {
        let mut child = self
            .command()
            .args(["--json", "events", "--home", s(home)])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn weft events");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            let _child = child;
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Events {
            lines: rx,
            reader,
            seen: Vec::new(),
        }
    }
}
