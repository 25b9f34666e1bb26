//! The command line as a person meets it (#18): ids printed by human
//! commands typed back, conversations that read like one, names that never
//! reach an impostor (#13 defect 9), escapes stripped (#13 defect 12),
//! errors as one line or one JSON object with an exit code by kind, shell
//! completions, and the bugs a new user hit.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use weft_tests::{chat_send, json_error, moments_post, s, wait_for, Weft};

use crate::BIN;

const T: Duration = Duration::from_secs(30);

/// Runs a human (non-JSON) command that must succeed; its stdout.
async fn human(w: &Weft, args: &[&str]) -> String {
    let out = w.run(args).await;
    assert!(
        out.status.success(),
        "weft {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a human command until its stdout shows `needle` (for up to `T`);
/// that stdout, or `None` if it never did.
async fn human_until(w: &Weft, args: &[&str], needle: &str) -> Option<String> {
    let shown = std::cell::RefCell::new(None);
    wait_for(T, || async {
        let out = human(w, args).await;
        let hit = out.contains(needle);
        if hit {
            shown.replace(Some(out));
        }
        hit
    })
    .await;
    shown.into_inner()
}

/// A failing command's stderr (asserted to be one `error:` line without an
/// HTTP status) and exit code.
fn failure(out: &Output) -> (String, i32) {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "expected a failure; stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(lines.len(), 1, "one error line expected: {err}");
    assert!(!err.contains("HTTP"), "no HTTP status for people: {err}");
    (lines[0].to_string(), out.status.code().unwrap_or(-1))
}

/// The first column of the rows of a table printed with a header.
fn first_column(table: &str) -> Vec<String> {
    table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Waits until `home` lists `account` as a friend.
async fn until_friends(w: &Weft, home: &Path, account: &str) -> bool {
    wait_for(T, || async {
        w.json(&["contacts", "list", "--home", s(home)])
            .await
            .as_array()
            .is_some_and(|l| {
                l.iter()
                    .any(|c| c["account_id"] == account && c["state"] == "friend")
            })
    })
    .await
}

async fn link(w: &Weft, h: &Path) -> String {
    w.json(&["id", "--home", s(h)]).await["link"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Acceptance 1, 5, bugs 4, 6, 7, 9 and #13 defects 9 and 12, on one set of
/// nodes: Ada, her friend Bao, and an impostor who calls himself "Bao".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn printed_ids_names_and_conversations_work_as_shown() {
    let w = Weft::new(BIN);
    let (a, b, m) = (w.home("a"), w.home("b"), w.home("m"));
    w.init(&a, "Ada").await;
    w.init(&b, "Bao").await;
    w.init(&m, "Bao").await;
    let _na = w.up(&a, &[]).await;
    let _nb = w.up(&b, &[]).await;
    let _nm = w.up(&m, &[]).await;
    let (a_id, b_id, m_id) = (
        w.account(&a).await,
        w.account(&b).await,
        w.account(&m).await,
    );

    // requests → accept, with the id `contacts requests` prints.
    let said = human(
        &w,
        &["contacts", "add", "--home", s(&b), &link(&w, &a).await],
    )
    .await;
    assert!(said.starts_with("friend request sent to Ada"), "{said}");
    let table = human_until(&w, &["contacts", "requests", "--home", s(&a)], "Bao")
        .await
        .expect("the request never arrived");
    assert!(table.starts_with("ID"), "tables have headers: {table}");
    let ids = first_column(&table);
    assert_eq!(ids.len(), 1, "{table}");
    assert!(b_id.starts_with(&ids[0]), "{table}");
    let said = human(&w, &["contacts", "accept", "--home", s(&a), &ids[0]]).await;
    assert!(said.contains("friends with Bao"), "{said}");
    assert!(
        until_friends(&w, &b, &a_id).await,
        "the acceptance never arrived"
    );

    // #13 defect 9: the impostor asks too. `Bao` still means the friend for
    // sending; accepting "Bao" is refused with both listed.
    w.json(&["contacts", "add", "--home", s(&m), &link(&w, &a).await])
        .await;
    let asked = wait_for(T, || async {
        w.json(&["contacts", "requests", "--home", s(&a)])
            .await
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["account_id"] == m_id.as_str())
    })
    .await;
    assert!(asked, "the impostor's request never arrived");
    let (line, code) = failure(&w.run(&["contacts", "accept", "--home", s(&a), "Bao"]).await);
    assert_eq!(code, 4, "ambiguous names exit 4: {line}");
    assert!(
        line.contains(&b_id[..8]) && line.contains(&m_id[..8]),
        "{line}"
    );
    let sent = w
        .json(&["chat", "send", "--home", s(&a), "Bao", "Hi Bao"])
        .await;
    let hi = sent["id"].as_str().unwrap().to_string();
    let got = w.log_shows(&b, &a_id, T, |x| x["id"] == hi.as_str()).await;
    assert!(got, "the friend never got `chat send Bao`");
    assert!(
        w.chat_log(&m, &a_id).await.is_empty(),
        "the impostor got it"
    );

    // Acceptance 5: Bao answers quoting Ada's message by the id its log
    // printed; Ada's log shows names, times, the quote and receipt marks.
    let bao_log = human(&w, &["chat", "log", "--home", s(&b), "Ada"]).await;
    let line = bao_log.lines().find(|l| l.contains("Hi Bao")).unwrap();
    let printed = line.split_whitespace().last().unwrap();
    assert!(hi.starts_with(printed) && printed.len() >= 6, "{bao_log}");
    // #13 defect 12 rides along: escapes and bidi overrides in a text.
    let text = "Sure! ☕ 3pm?\u{1b}]0;pwned\u{7}\u{202e}";
    w.json(&chat_send(&b, "Ada", &[text, "--reply-to", printed]))
        .await;
    let arrived = wait_for(T, || async { w.chat_log(&a, &b_id).await.len() == 2 }).await;
    assert!(arrived);
    let log = human(&w, &["chat", "log", "--home", s(&a), "Bao"]).await;
    assert!(
        !log.contains('\u{1b}') && !log.contains('\u{202e}') && !log.contains('\u{7}'),
        "{log:?}"
    );
    let lines: Vec<&str> = log.lines().collect();
    assert!(
        lines[0].starts_with("── ") && lines[0].ends_with(" ──"),
        "{log}"
    );
    let clock = |l: &str| {
        let b = l.as_bytes();
        b.len() > 7 && b[0] == b'[' && b[3] == b':' && b[6] == b']'
    };
    let mine = lines
        .iter()
        .find(|l| l.contains("Hi Bao") && !l.contains('↪'))
        .unwrap();
    assert!(
        clock(mine) && mine[8..].starts_with("me: Hi Bao  ✓"),
        "{log}"
    );
    let quote = lines
        .iter()
        .position(|l| l.trim_start().starts_with("↪ me: Hi Bao"))
        .expect(&log);
    let reply = lines[quote + 1];
    assert!(
        clock(reply) && reply[8..].starts_with("Bao: Sure! ☕ 3pm?]0;pwned  "),
        "{log}"
    );

    // log → recall with the printed id; a second recall says why it fails.
    let mine_id = mine.split_whitespace().last().unwrap();
    human(&w, &["chat", "recall", "--home", s(&a), mine_id]).await;
    let (line, _) = failure(&w.run(&["chat", "recall", "--home", s(&a), mine_id]).await);
    assert!(line.contains("recalled already"), "bug 7: {line}");
    // Bug 7: sending to yourself says so.
    let (line, _) = failure(&w.run(&["chat", "send", "--home", s(&a), &a_id, "hi"]).await);
    assert!(line.contains("your own account"), "bug 7: {line}");
    // Bug 6: `--limit 0` is nothing.
    let none = w
        .json(&["chat", "log", "--home", s(&a), "Bao", "--limit", "0"])
        .await;
    assert_eq!(none.as_array().map(Vec::len), Some(0), "bug 6: {none}");

    // Bug 4: a remark out of bounds says what is wrong; --clear removes one.
    let long = "x".repeat(70);
    for bad in ["", long.as_str()] {
        let out = w
            .run(&["contacts", "remark", "--home", s(&a), "Bao", bad])
            .await;
        let (line, code) = failure(&out);
        assert!(line.contains("1 to 64 bytes") && code == 2, "bug 4: {line}");
    }
    human(&w, &["contacts", "remark", "--home", s(&a), "Bao", "Bao W"]).await;
    let list = human(&w, &["contacts", "list", "--home", s(&a)]).await;
    assert!(list.contains("Bao W"), "{list}");
    human(
        &w,
        &["contacts", "remark", "--home", s(&a), "Bao W", "--clear"],
    )
    .await;
    let list = human(&w, &["contacts", "list", "--home", s(&a)]).await;
    assert!(!list.contains("Bao W"), "{list}");

    // Bug 9: Ada blocks the impostor after accepting him by id; what he
    // sends shows `failed` on his side, never `delivered`.
    w.json(&["contacts", "accept", "--home", s(&a), &m_id[..8]])
        .await;
    assert!(until_friends(&w, &m, &a_id).await);
    human(&w, &["contacts", "block", "--home", s(&a), &m_id[..8]]).await;
    let spam = w
        .json(&["chat", "send", "--home", s(&m), &a_id, "buy now"])
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let settled = w
        .log_shows(&m, &a_id, T, |x| {
            x["id"] == spam.as_str() && x["status"] != "sending"
        })
        .await;
    assert!(settled, "the blocked message never settled");
    let status = w
        .chat_log(&m, &a_id)
        .await
        .into_iter()
        .find(|x| x["id"] == spam.as_str())
        .unwrap()["status"]
        .clone();
    assert_eq!(status, "failed", "bug 9: a blocked sender sees {status}");
    assert!(!w
        .chat_log(&a, &m_id)
        .await
        .iter()
        .any(|x| x["text"] == "buy now"));
    // ... and unblocking works (it used to be missing).
    let said = human(&w, &["contacts", "unblock", "--home", s(&a), &m_id[..8]]).await;
    assert!(said.contains("unblocked"), "{said}");

    // feed → like, with the id `moments feed` prints.
    let post = w
        .json(&["moments", "post", "--home", s(&b), "Sunset at the pier"])
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let feed = human_until(&w, &["moments", "feed", "--home", s(&a)], "Sunset")
        .await
        .expect("the post never reached Ada");
    let printed = feed.split_whitespace().next().unwrap();
    assert!(post.starts_with(printed), "{feed}");
    human(&w, &["moments", "like", "--home", s(&a), printed]).await;
    let liked = wait_for(T, || async {
        w.json(&["moments", "feed", "--home", s(&b)]).await[0]["likes"]
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x == a_id.as_str()))
    })
    .await;
    assert!(liked, "the like by printed id never reached Bao");
}

/// Acceptance 3 and bugs 2 and 8: errors as one line, or one JSON object on
/// stderr with an exit code by kind; no unclaimed handle shown; a text file
/// is not an image; typo hints that point at the command meant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_say_what_and_json_errors_are_objects_with_kinds() {
    let w = Weft::new(BIN);
    let a = w.home("a");

    let out = w.run(&["--json", "status", "--home", s(&a)]).await;
    let e = json_error(&out);
    assert_eq!(
        (e["kind"].as_str(), out.status.code()),
        (Some("not_running"), Some(9))
    );
    assert!(e["hint"].as_str().unwrap().contains("weft init"), "{e}");
    let out = w.run(&["--json", "contacts", "frobnicate"]).await;
    assert_eq!(json_error(&out)["kind"], "invalid");
    assert_eq!(out.status.code(), Some(2));
    let (line, _) = failure(&w.run(&["stauts"]).await);
    assert!(line.contains("weft status"), "typo hint: {line}");

    w.init(&a, "Ada").await;
    let _n = w.up(&a, &[]).await;
    let out = w
        .run(&["--json", "chat", "send", "--home", s(&a), "Nobody", "hi"])
        .await;
    assert_eq!(
        (json_error(&out)["kind"].as_str(), out.status.code()),
        (Some("not_found"), Some(3))
    );
    let e = w
        .refused(&["moments", "like", "--home", s(&a), "abc"])
        .await;
    assert_eq!(e["kind"], "invalid");
    let (line, _) = failure(
        &w.run(&["moments", "like", "--home", s(&a), "abcdef12"])
            .await,
    );
    assert!(line.contains("no post id starts with"), "{line}");
    // A refused dial is one short line.
    let (line, code) = failure(
        &w.run(&["dial", "--home", s(&a), "/ip4/127.0.0.1/tcp/1"])
            .await,
    );
    assert!(line.len() < 200 && code == 8, "{line}");

    // Bug 2: an unclaimed handle is not shown (nobody could find it).
    let id = w.json(&["id", "--home", s(&a)]).await;
    assert!(id["handle"].is_null(), "bug 2: {id}");
    let shown = human(&w, &["id", "--home", s(&a)]).await;
    assert!(!shown.contains("weft_"), "bug 2: {shown}");
    // `status` and `id` show dialable addresses.
    let status = human(&w, &["status", "--home", s(&a)]).await;
    assert!(status.contains("/p2p/12D3"), "{status}");

    // Bug 8: a text file is not a Moments image.
    let file = w.dir.path().join("notes.txt");
    std::fs::write(&file, b"just some text\n").unwrap();
    let e = w
        .refused(&moments_post(&a, "x", &["--image", s(&file)]))
        .await;
    assert!(
        e["message"].as_str().unwrap().contains("not an image"),
        "bug 8: {e}"
    );
    // Bug 8: the owner cannot follow its own account.
    let oa = w.oa_create(&a, "service", "Ada Tea").await;
    assert!(
        w.refused(&["oa", "follow", "--home", s(&a), &oa]).await["message"]
            .as_str()
            .unwrap()
            .contains("your own account")
    );
    // Names work where ids go: the owner publishes by name.
    w.json(&["oa", "publish", "--home", s(&a), "ada tea", "Open today"])
        .await;
}

/// Acceptance 4: the bash completion script loads and completes `weft ch`.
#[tokio::test]
async fn bash_completion_completes_subcommands() {
    let w = Weft::new(BIN);
    let out = w.run(&["completions", "bash"]).await;
    assert!(out.status.success());
    let script = w.dir.path().join("weft.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let probe = format!(
        "source {}; COMP_WORDS=(weft ch); COMP_CWORD=1; COMP_LINE='weft ch'; COMP_POINT=7; \
         _weft weft ch weft; echo \"${{COMPREPLY[@]}}\"",
        s(&script)
    );
    let got = tokio::process::Command::new("bash")
        .args(["--norc", "-c", &probe])
        .output()
        .await
        .expect("bash runs");
    let words = String::from_utf8_lossy(&got.stdout);
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(
        words.split_whitespace().collect::<Vec<_>>(),
        ["chat"],
        "{words}"
    );
    let man = w.run(&["man"]).await;
    assert!(String::from_utf8_lossy(&man.stdout).contains(".TH weft"));
}

/// Bugs 1 and 5, and names for official accounts: a follower follows a new
/// service account by its name and asks it something before its first post.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_service_account_is_found_by_name_and_answers_before_posting() {
    let w = Weft::new(BIN);
    let (_procs, homes) = w.network(&["Owner", "Fan"]).await;
    let (owner, fan) = (&homes[0], &homes[1]);
    let oa = w.oa_create(owner, "service", "Dumpling House").await;
    w.json(&[
        "oa",
        "autoreply",
        "--home",
        s(owner),
        "Dumpling House",
        "sunday",
        "Open 10 to 4.",
    ])
    .await;
    // Multi-word search without quotes; bug 1: not followed is not "following".
    let search = ["oa", "search", "--home", s(fan), "Dumpling", "House"];
    let table = human_until(&w, &search, "Dumpling House")
        .await
        .expect("search never found the account");
    assert!(table.contains("not following"), "bug 1: {table}");
    let miss = human(&w, &["oa", "search", "--home", s(fan), "Noodle"]).await;
    assert!(
        miss.contains("no official account matches") && !miss.contains("oa create"),
        "bug 1: {miss}"
    );
    human(&w, &["oa", "follow", "--home", s(fan), "Dumpling House"]).await;
    let list = w.json(&["oa", "list", "--home", s(fan)]).await;
    assert_eq!(list[0]["account_id"], oa.as_str());
    // Bug 5: asking before any post reaches the account's node.
    let r = w
        .json(&[
            "oa",
            "message",
            "--home",
            s(fan),
            "Dumpling House",
            "Open on Sunday?",
        ])
        .await;
    assert_eq!(r["reply"], "Open 10 to 4.", "bug 5: {r}");

    // `oa reply`: the owner answers what the auto-reply did not cover, naming
    // the follower by a short id; the answer lands in the follower's log.
    w.json(&[
        "oa",
        "message",
        "--home",
        s(fan),
        "Dumpling House",
        "Do you deliver?",
    ])
    .await;
    let fan_id = w.account(fan).await;
    let done = human(
        &w,
        &[
            "oa",
            "reply",
            "--home",
            s(owner),
            "Dumpling House",
            &fan_id[..8],
            "Yes, within 3 km.",
        ],
    )
    .await;
    assert!(done.contains("Answer delivered to"), "{done}");
    let log = w.json(&["oa", "log", "--home", s(fan), &oa]).await;
    let answered = log
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["text"] == "Yes, within 3 km." && m["from"] == oa.as_str());
    assert!(
        answered,
        "the owner's answer is not in the follower's log: {log}"
    );
    let inbox = w.json(&["oa", "log", "--home", s(owner), &oa]).await;
    assert!(
        inbox
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["text"] == "Yes, within 3 km."),
        "{inbox}"
    );
}
