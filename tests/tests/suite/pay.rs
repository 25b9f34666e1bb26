//! Weft Pay across real nodes (`docs/PAY.md`): a mint run by an operator,
//! wallets on every node, money moving in chat messages. Each test checks
//! balances (the wallets' and the mint's outstanding total) and what is
//! stored, not only exit codes.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use weft_tests::{json_error, s, wait_for, NodeProc, Weft};

use crate::BIN;

const T: Duration = Duration::from_secs(60);

/// The operator (runs mint "Harbour"), Ann and Bao; the operator is
/// friends with Ann, Ann with Bao. Ann holds 100.00 CNY.
struct Bank {
    w: Weft,
    procs: Vec<NodeProc>,
    homes: Vec<PathBuf>,
    mint: String,
}

impl Bank {
    async fn new(extra: &[&str]) -> Bank {
        let w = Weft::new(BIN);
        let mut names = vec!["op", "ann", "bao"];
        names.extend_from_slice(extra);
        let (procs, homes) = w.network(&names).await;
        w.befriend(&homes[0], &homes[1]).await;
        w.befriend(&homes[1], &homes[2]).await;
        let m = w
            .json(&[
                "mint", "create", "--home", s(&homes[0]), "Harbour", "--currency", "CNY,EUR",
            ])
            .await;
        let mint = m["account_id"].as_str().expect("mint id").to_string();
        let b = Bank {
            w,
            procs,
            homes,
            mint,
        };
        let ann = b.account(1).await;
        b.w.json(&[
            "mint", "issue", "--home", s(&b.homes[0]), "Harbour", &ann, "100.00", "CNY",
        ])
        .await;
        assert!(
            b.balance_is(1, "CNY", "100.00").await,
            "Ann never received the top-up: {:?}",
            b.wallet(1).await
        );
        b
    }

    async fn account(&self, i: usize) -> String {
        self.w.account(&self.homes[i]).await
    }

    async fn wallet(&self, i: usize) -> Value {
        self.w.json(&["wallet", "--home", s(&self.homes[i])]).await
    }

    /// The wallet's amount of `currency` ("0.00" if none).
    async fn balance(&self, i: usize, currency: &str) -> String {
        let w = self.wallet(i).await;
        let cents: u64 = w
            .as_array()
            .expect("wallet list")
            .iter()
            .filter(|b| b["currency"] == currency)
            .map(|b| cents(b["amount"].as_str().expect("amount")))
            .sum();
        format!("{}.{:02}", cents / 100, cents % 100)
    }

    async fn balance_is(&self, i: usize, currency: &str, want: &str) -> bool {
        wait_for(T, || async { self.balance(i, currency).await == want }).await
    }

    async fn outstanding(&self, currency: &str) -> String {
        let v = self
            .w
            .json(&["mint", "status", "--home", s(&self.homes[0])])
            .await;
        v[0]["outstanding"]
            .as_array()
            .expect("totals")
            .iter()
            .find(|t| t["currency"] == currency)
            .and_then(|t| t["amount"].as_str())
            .unwrap_or("0.00")
            .to_string()
    }

    async fn history(&self, i: usize) -> Vec<Value> {
        self.w
            .json(&["wallet", "history", "--home", s(&self.homes[i]), "--limit", "500"])
            .await
            .as_array()
            .expect("history")
            .clone()
    }
}

fn cents(s: &str) -> u64 {
    let (w, f) = s.split_once('.').unwrap_or((s, "0"));
    w.parse::<u64>().expect("whole") * 100 + f.parse::<u64>().expect("cents")
}

/// Acceptance 1: the mint issues 100.00 CNY to Ann; Ann pays Bao 12.50;
/// Ann shows 87.50, Bao 12.50, the chat shows it received on both sides,
/// and the mint's outstanding total stays 100.00.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_moves_money_and_the_mint_total_holds() {
    let b = Bank::new(&[]).await;
    let (ann, bao) = (&b.homes[1], &b.homes[2]);
    let sent = b
        .w
        .json(&[
            "pay", "send", "--home", s(ann), "Bao", "12.50", "CNY", "--note", "lunch",
        ])
        .await;
    assert_eq!(sent["status"], "sent");
    assert_eq!(sent["amount"], "12.50");
    assert_eq!(b.balance(1, "CNY").await, "87.50");
    assert!(
        b.balance_is(2, "CNY", "12.50").await,
        "Bao's wallet: {:?}",
        b.wallet(2).await
    );
    assert_eq!(b.outstanding("CNY").await, "100.00");
    // Both sides show it received: Bao's chat, Ann's history.
    let ann_id = b.account(1).await;
    let shown = wait_for(T, || async {
        b.w.chat_log(bao, &ann_id)
            .await
            .iter()
            .any(|m| m["text"].as_str().is_some_and(|t| t.contains("12.50 CNY") && t.contains("received")))
    })
    .await;
    assert!(shown, "Bao's chat: {:?}", b.w.chat_log(bao, &ann_id).await);
    let received = wait_for(T, || async {
        b.history(1)
            .await
            .iter()
            .any(|p| p["direction"] == "out" && p["amount"] == "12.50" && p["status"] == "received")
    })
    .await;
    assert!(received, "Ann's history: {:?}", b.history(1).await);
    // Bad amounts are refused with a reason, and change nothing.
    for bad in ["0", "-1", "1.234", "0.00", "99999999999999", "abc"] {
        let out = b
            .w
            .run(&["--json", "pay", "send", "--home", s(ann), "Bao", bad, "CNY"])
            .await;
        assert!(!out.status.success(), "{bad} was accepted");
        let e = json_error(&out);
        assert!(
            e["message"].as_str().is_some_and(|m| m.contains("amount")),
            "{bad}: {e}"
        );
    }
    let out = b
        .w
        .run(&["--json", "pay", "send", "--home", s(ann), "Bao", "500.00", "CNY"])
        .await;
    assert!(!out.status.success());
    assert!(json_error(&out)["message"]
        .as_str()
        .is_some_and(|m| m.contains("not enough")));
    assert_eq!(b.balance(1, "CNY").await, "87.50");
    drop(b.procs);
}

/// Acceptance 7: every token that passed through a holder is useless to
/// anyone but the recipient. Bao is offline while Ann pays, so the payment
/// waits with a holder (the bootstrap node), sealed. The tokens inside are
/// locked to Bao's device key: even with the proofs in clear (read here
/// from Ann's own store, more than a holder ever sees), Chen cannot redeem
/// them, nor can Ann before the refund time; Bao claims them on return.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_in_transit_are_useless_to_anyone_but_the_recipient() {
    let mut b = Bank::new(&["chen"]).await;
    let (ann, bao, chen) = (b.homes[1].clone(), b.homes[2].clone(), b.homes[3].clone());
    b.procs[3].signal("TERM").await;
    assert!(b.procs[3].wait_exit(T).await.is_some());
    b.w.json(&["pay", "send", "--home", s(&ann), "Bao", "30.00", "CNY"])
        .await;
    assert_eq!(b.balance(1, "CNY").await, "70.00");
    let holder = b.w.home("boot");
    let token = locked_token(&mut b, 1).await;
    for (who, home) in [("Chen", &chen), ("Ann", &ann)] {
        let out = b
            .w
            .run(&["--json", "pay", "redeem", "--home", s(home), &token])
            .await;
        assert!(!out.status.success(), "{who} took Bao's money");
        let e = json_error(&out);
        let m = e["message"].as_str().unwrap_or_default();
        assert!(m.contains("locked"), "{who}: {e}");
    }
    assert_eq!(b.balance(3, "CNY").await, "0.00");
    assert_eq!(b.balance(1, "CNY").await, "70.00");
    // Bao returns and claims them (from the holder, or Ann's retry).
    let boot = b.w.dial_addr(&holder).await;
    b.procs[3] = b.w.up(&bao, &["--bootstrap", &boot]).await;
    assert!(
        b.balance_is(2, "CNY", "30.00").await,
        "Bao never claimed: {:?}",
        b.wallet(2).await
    );
    assert_eq!(b.outstanding("CNY").await, "100.00");
}

/// The locked proofs of node `i`'s newest transfer, read from its store
/// (its node is stopped for that and started again), as a token.
async fn locked_token(b: &mut Bank, i: usize) -> String {
    let home = b.homes[i].clone();
    b.procs[i + 1].signal("TERM").await;
    assert!(b.procs[i + 1].wait_exit(T).await.is_some());
    let proofs = {
        let store = weft_node::store::Store::open(&weft_node::Home::new(&home).store_dir())
            .expect("store opens");
        let mut pays = store.payments().expect("payments");
        pays.sort_by_key(|p| p.at_ms);
        let p = pays
            .into_iter()
            .rev()
            .find(|p| p.outgoing && !p.proofs.is_empty() && p.purpose == weft_protocol::pay::Purpose::Gift)
            .expect("a sent transfer with its proofs");
        weft_protocol::pay::Token {
            mint: p.mint,
            currency: p.currency,
            proofs: p.proofs,
        }
    };
    let boot = b.w.dial_addr(&b.w.home("boot")).await;
    b.procs[i + 1] = b.w.up(&home, &["--bootstrap", &boot]).await;
    proofs.to_text().expect("token text")
}
