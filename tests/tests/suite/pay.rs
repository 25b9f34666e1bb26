//! Weft Pay across real nodes (`docs/PAY.md`): a mint run by an operator,
//! wallets on every node, money moving in chat messages. Each test checks
//! balances (the wallets' and the mint's outstanding total) and what is
//! stored, not only exit codes.

use std::path::{Path, PathBuf};
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
                "mint",
                "create",
                "--home",
                s(&homes[0]),
                "Harbour",
                "--currency",
                "CNY,EUR",
            ])
            .await;
        let mint = m["account_id"].as_str().expect("mint id").to_string();
        let b = Bank {
            w,
            procs,
            homes,
            mint,
        };
        b.issue(&b.account(1).await, "100.00", "CNY").await;
        assert!(
            b.balance_is(1, "CNY", "100.00").await,
            "Ann never received the top-up: {:?}",
            b.wallet(1).await
        );
        b
    }

    /// The operator's mint "Harbour" issues `amount` to `account`.
    async fn issue(&self, account: &str, amount: &str, currency: &str) {
        let home = s(&self.homes[0]);
        let args = [
            "mint", "issue", "--home", home, "Harbour", account, amount, currency,
        ];
        self.w.json(&args).await;
    }

    /// A coupon of the operator's mint, in EUR, on `terms`.
    async fn eur_coupon(&self, terms: &[&str]) -> Value {
        let home = s(&self.homes[0]);
        let mut args = vec!["coupon", "create", "--home", home];
        args.extend(["--mint", "Harbour", "--currency", "EUR"]);
        args.extend_from_slice(terms);
        self.w.json(&args).await
    }

    /// Ann's red envelope of `total` CNY in `count` shares to the group
    /// "Family".
    async fn family_envelope(&self, total: &str, count: &str, extra: &[&str]) -> Value {
        let home = s(&self.homes[1]);
        let mut args = vec!["redpacket", "send", "--home", home, "Family", total, "CNY"];
        args.extend(["--count", count]);
        args.extend_from_slice(extra);
        self.w.json(&args).await
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

    /// Whether node `i`'s history comes to show its outgoing payment of
    /// `amount` as received by the other side.
    async fn shows_received(&self, i: usize, amount: &str) -> bool {
        wait_for(T, || async {
            self.history(i).await.iter().any(|p| {
                p["direction"] == "out" && p["amount"] == amount && p["status"] == "received"
            })
        })
        .await
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
            .json(&[
                "wallet",
                "history",
                "--home",
                s(&self.homes[i]),
                "--limit",
                "500",
            ])
            .await
            .as_array()
            .expect("history")
            .clone()
    }
}

/// The arguments of `weft pay send` from `home` to `to`, then `extra`.
fn pay_send<'a>(
    home: &'a Path,
    to: &'a str,
    amount: &'a str,
    currency: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec!["pay", "send", "--home", s(home), to, amount, currency];
    args.extend_from_slice(extra);
    args
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
    let mut events = b.w.events(bao);
    assert!(events.open(T).await);
    let sent =
        b.w.json(&pay_send(ann, "Bao", "12.50", "CNY", &["--note", "lunch"]))
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
    let told = events
        .until(T, |seen| {
            seen.iter()
                .any(|e| e["type"] == "payment_received" && e["amount"] == "12.50")
        })
        .await;
    assert!(told, "no payment_received event: {:?}", events.seen);
    // Both sides show it received: Bao's chat, Ann's history.
    let ann_id = b.account(1).await;
    let shown =
        b.w.log_shows(bao, &ann_id, T, |m| {
            m["text"]
                .as_str()
                .is_some_and(|t| t.contains("12.50 CNY") && t.contains("received"))
        })
        .await;
    assert!(shown, "Bao's chat: {:?}", b.w.chat_log(bao, &ann_id).await);
    let received = b.shows_received(1, "12.50").await;
    assert!(received, "Ann's history: {:?}", b.history(1).await);
    // Bad amounts are refused with a reason, and change nothing.
    for bad in ["0", "-1", "1.234", "0.00", "99999999999999", "abc"] {
        let e = b.w.refused(&pay_send(ann, "Bao", bad, "CNY", &[])).await;
        assert!(
            e["message"].as_str().is_some_and(|m| m.contains("amount")),
            "{bad}: {e}"
        );
    }
    let e =
        b.w.refused(&pay_send(ann, "Bao", "500.00", "CNY", &[]))
            .await;
    assert!(e["message"]
        .as_str()
        .is_some_and(|m| m.contains("not enough")));
    assert_eq!(b.balance(1, "CNY").await, "87.50");
    drop(b.procs);
}

/// A claim whose mint keys could not be fetched waits and is claimed
/// later: Bao has never asked the mint for its keys, and his node's first
/// attempt fails (`WEFT_FAIL=mint-info`, as a mint busy with his other
/// claims declines). The payment must still reach his wallet, and Ann's
/// history must show it received. (Before, the keys were fetched after the
/// mint had signed the swap, and that failure was taken for bad signatures:
/// the payment was marked failed and the money was lost to both.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_waits_for_the_mint_keys_and_loses_nothing() {
    let mut b = Bank::new(&[]).await;
    let bao = b.homes[2].clone();
    b.procs[3].signal("TERM").await;
    assert!(b.procs[3].wait_exit(T).await.is_some());
    let boot = b.w.dial_addr(&b.w.home("boot")).await;
    b.procs[3] =
        b.w.up_with_env(&bao, &["--bootstrap", &boot], &[("WEFT_FAIL", "mint-info")])
            .await;
    let sent =
        b.w.json(&pay_send(&b.homes[1], "Bao", "3.20", "CNY", &[]))
            .await;
    assert_eq!(sent["status"], "sent");
    assert!(
        b.balance_is(2, "CNY", "3.20").await,
        "Bao's wallet: {:?}; his history: {:?}; his log: {}",
        b.wallet(2).await,
        b.history(2).await,
        b.procs[3].log()
    );
    assert!(
        b.procs[3].log().contains("WEFT_FAIL: failing mint-info"),
        "the fault was never reached: the test did not test the retry"
    );
    let received = b.shows_received(1, "3.20").await;
    assert!(received, "Ann's history: {:?}", b.history(1).await);
    assert_eq!(b.balance(1, "CNY").await, "96.80");
    assert_eq!(b.outstanding("CNY").await, "100.00");
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
    b.w.json(&pay_send(&ann, "Bao", "30.00", "CNY", &[])).await;
    assert_eq!(b.balance(1, "CNY").await, "70.00");
    let holder = b.w.home("boot");
    let token = locked_token(&mut b, 1).await;
    for (who, home) in [("Chen", &chen), ("Ann", &ann)] {
        // Refused, or {who} took Bao's money.
        let e =
            b.w.refused(&["pay", "redeem", "--home", s(home), &token])
                .await;
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
            .find(|p| {
                p.outgoing && !p.proofs.is_empty() && p.purpose == weft_protocol::pay::Purpose::Gift
            })
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

/// Acceptance 2: the same tokens spent twice at the same moment, from two
/// nodes: exactly one gets them. And two payments at once from one wallet
/// that holds enough for one: exactly one is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_tokens_spend_once() {
    let b = Bank::new(&["chen"]).await;
    let (ann, bao, chen) = (&b.homes[1], &b.homes[2], &b.homes[3]);
    let token =
        b.w.json(&["pay", "token", "--home", s(ann), "10.00", "CNY"])
            .await["token"]
            .as_str()
            .expect("token")
            .to_string();
    assert_eq!(b.balance(1, "CNY").await, "90.00");
    let bao_args = ["--json", "pay", "redeem", "--home", s(bao), &token];
    let chen_args = ["--json", "pay", "redeem", "--home", s(chen), &token];
    let (x, y) = tokio::join!(b.w.run(&bao_args), b.w.run(&chen_args));
    assert!(
        x.status.success() != y.status.success(),
        "exactly one redeems: {} / {}",
        String::from_utf8_lossy(&x.stderr),
        String::from_utf8_lossy(&y.stderr)
    );
    let loser = if x.status.success() { &y } else { &x };
    assert!(
        json_error(loser)["message"]
            .as_str()
            .is_some_and(|m| m.contains("already spent")),
        "{}",
        json_error(loser)
    );
    let (bb, cb) = (b.balance(2, "CNY").await, b.balance(3, "CNY").await);
    assert_eq!(cents(&bb) + cents(&cb), 1000, "Bao {bb}, Chen {cb}");
    // Redeemed again later: refused, nothing changes.
    b.w.refused(&["pay", "redeem", "--home", s(bao), &token])
        .await;
    assert_eq!(
        cents(&b.balance(2, "CNY").await) + cents(&b.balance(3, "CNY").await),
        1000
    );
    // Two payments at once from one wallet with room for one.
    let mut fifty = vec!["--json"];
    fifty.extend(pay_send(ann, "Bao", "50.00", "CNY", &[]));
    let (p, q) = tokio::join!(b.w.run(&fifty), b.w.run(&fifty));
    assert!(
        p.status.success() != q.status.success(),
        "exactly one of two 50.00 payments from 90.00: {} / {}",
        String::from_utf8_lossy(&p.stderr),
        String::from_utf8_lossy(&q.stderr)
    );
    assert_eq!(b.balance(1, "CNY").await, "40.00");
    assert_eq!(b.outstanding("CNY").await, "100.00");
}

/// Acceptance 3: Ann is killed (SIGKILL) in the middle of a burst of 30
/// payments to Bao (six at a time); after a restart Ann's balance plus
/// Bao's is 100.00 and every payment her CLI reported as sent reached Bao.
/// The kill must land while a payment is half made (an op or an unqueued
/// payment in her store, read after the kill): the burst is tried again,
/// a bounded number of times, until one does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_payer_loses_nothing() {
    use futures::StreamExt;
    let mut b = Bank::new(&[]).await;
    let ann = b.homes[1].clone();
    let mut reported: Vec<String> = Vec::new();
    let mut hit = false;
    for attempt in 0..5u32 {
        let w = &b.w;
        let procs = &mut b.procs;
        let sends = (0..30u32).map(|i| {
            let amount = format!("0.{:02}", 1 + (i * 7 + attempt) % 30);
            let ann = ann.clone();
            async move {
                let mut args = vec!["--json"];
                args.extend(pay_send(&ann, "Bao", &amount, "CNY", &[]));
                w.run(&args).await
            }
        });
        let mut stream = futures::stream::iter(sends).buffer_unordered(6);
        let (mut ok, mut killed) = (0, false);
        while let Some(out) = stream.next().await {
            if out.status.success() {
                ok += 1;
                let v: Value = serde_json::from_slice(&out.stdout).expect("json");
                reported.push(v["id"].as_str().expect("id").to_string());
            }
            if ok >= 8 && !killed {
                procs[2].signal("KILL").await;
                killed = true;
            }
        }
        assert!(killed, "the burst ended before the kill");
        assert!(procs[2].wait_exit(T).await.is_some());
        let in_flight = {
            let store = weft_node::store::Store::open(&weft_node::Home::new(&ann).store_dir())
                .expect("store opens");
            let ops = store.ops().expect("ops").len();
            let half = store
                .payments()
                .expect("payments")
                .iter()
                .filter(|p| {
                    p.outgoing
                        && matches!(
                            p.status,
                            weft_node::store::pay::PayStatus::Preparing
                                | weft_node::store::pay::PayStatus::Sent
                        )
                        && !p.queued
                })
                .count();
            ops + half
        };
        let boot = w.dial_addr(&w.home("boot")).await;
        procs[2] = w.up(&ann, &["--bootstrap", &boot]).await;
        if in_flight > 0 {
            hit = true;
            break;
        }
    }
    assert!(
        hit,
        "no kill landed in the middle of a payment in five bursts"
    );
    let settled = wait_for(Duration::from_secs(120), || async {
        cents(&b.balance(1, "CNY").await) + cents(&b.balance(2, "CNY").await) == 10_000
    })
    .await;
    assert!(
        settled,
        "Ann {} + Bao {} != 100.00; Ann's history: {:?}",
        b.balance(1, "CNY").await,
        b.balance(2, "CNY").await,
        b.history(1).await
    );
    let got: Vec<String> = b
        .history(2)
        .await
        .iter()
        .filter(|p| p["direction"] == "in" && p["status"] == "received")
        .map(|p| p["id"].as_str().unwrap_or_default().to_string())
        .collect();
    for id in &reported {
        assert!(got.contains(id), "payment {id} reported sent never arrived");
    }
    assert_eq!(b.outstanding("CNY").await, "100.00");
}

/// Acceptance 5: a shop's payment request, paid by Ann once; a second
/// payment of it is refused, and the shop shows it paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_request_is_paid_once() {
    let b = Bank::new(&[]).await;
    let (ann, shop) = (&b.homes[1], &b.homes[2]);
    let req =
        b.w.json(&[
            "pay",
            "request",
            "--home",
            s(shop),
            "8.00",
            "CNY",
            "--note",
            "flat white",
            "--mint",
            &b.mint,
        ])
        .await;
    let link = req["link"].as_str().expect("link").to_string();
    assert!(link.starts_with("weft://pay/"));
    // Without --yes and without a terminal, nothing is paid.
    b.w.refused(&["pay", "scan", "--home", s(ann), &link]).await;
    assert_eq!(b.balance(1, "CNY").await, "100.00");
    let paid =
        b.w.json(&["pay", "scan", "--home", s(ann), &link, "--yes"])
            .await;
    assert_eq!(paid["paid"], true);
    assert_eq!(paid["payment"]["amount"], "8.00");
    assert_eq!(b.balance(1, "CNY").await, "92.00");
    // Paying twice.
    let again =
        b.w.refused(&["pay", "scan", "--home", s(ann), &link, "--yes"])
            .await;
    assert!(again["message"]
        .as_str()
        .is_some_and(|m| m.contains("already paid")));
    assert!(b.balance_is(2, "CNY", "8.00").await);
    let shown = wait_for(T, || async {
        b.w.json(&["pay", "requests", "--home", s(shop)]).await[0]["paid"] == true
    })
    .await;
    assert!(shown, "the shop never saw it paid");
    assert_eq!(b.balance(1, "CNY").await, "92.00");
    // A forged request (amount changed, old signature) is refused.
    let mut r: weft_protocol::pay::PayRequest = link.parse().expect("request");
    r.amount = 1;
    let forged = r.to_link().expect("link");
    let e =
        b.w.refused(&["pay", "scan", "--home", s(ann), &forged, "--yes"])
            .await;
    assert!(e["message"]
        .as_str()
        .is_some_and(|m| m.contains("signature")));
}

/// Acceptance 6, and exchange: the operator's official account offers a
/// coupon of its mint; Ann claims one, pays the operator 20.00 EUR with it
/// (15.00 paid, the coupon burnt at the mint); a second use and an expired
/// coupon are refused. Ann exchanges CNY for EUR at the mint's rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coupons_are_redeemed_once_and_not_after_they_expire() {
    let b = Bank::new(&[]).await;
    let (op, ann) = (&b.homes[0], &b.homes[1]);
    let oa = b.w.oa_create(op, "service", "Harbour Cafe").await;
    b.w.json(&[
        "mint",
        "rate",
        "--home",
        s(op),
        "Harbour",
        "CNY",
        "EUR",
        "0.13",
    ])
    .await;
    let q =
        b.w.json(&[
            "pay",
            "exchange",
            "--home",
            s(ann),
            "40.00",
            "CNY",
            "EUR",
            "--yes",
        ])
        .await;
    assert_eq!(q["receive"], "5.20");
    assert_eq!(b.balance(1, "CNY").await, "60.00");
    assert_eq!(b.balance(1, "EUR").await, "5.20");
    assert_eq!(b.outstanding("CNY").await, "60.00");
    assert_eq!(b.outstanding("EUR").await, "5.20");
    b.issue(&b.account(1).await, "44.80", "EUR").await;
    assert!(b.balance_is(1, "EUR", "50.00").await);
    let c = b
        .eur_coupon(&["--oa", &oa, "--off", "5.00", "--valid", "3600"])
        .await;
    let (code, link) = (
        c["code"].as_str().expect("code").to_string(),
        c["link"].as_str().expect("link").to_string(),
    );
    assert_eq!(c["title"], "5.00 EUR off");
    b.w.json(&["coupon", "claim", "--home", s(ann), &link])
        .await;
    // One per device.
    b.w.refused(&["coupon", "claim", "--home", s(ann), &link])
        .await;
    let with_coupon = pay_send(ann, "op", "20.00", "EUR", &["--coupon", &code]);
    let paid = b.w.json(&with_coupon).await;
    assert_eq!(paid["amount"], "15.00");
    assert_eq!(paid["discount"], "5.00");
    assert_eq!(b.balance(1, "EUR").await, "35.00");
    assert!(b.balance_is(0, "EUR", "15.00").await);
    // The coupon was burnt at the mint.
    let burnt = wait_for(T, || async { b.outstanding(&code).await == "0.00" }).await;
    assert!(burnt, "coupon outstanding: {}", b.outstanding(&code).await);
    // A coupon used twice.
    let again = b.w.refused(&with_coupon).await;
    assert!(again["message"]
        .as_str()
        .is_some_and(|m| m.contains("coupon")));
    // An expired coupon: refused at payment.
    let c2 = b.eur_coupon(&["--percent", "10", "--valid", "2"]).await;
    let code2 = c2["code"].as_str().expect("code").to_string();
    b.w.json(&[
        "coupon",
        "claim",
        "--home",
        s(ann),
        c2["link"].as_str().expect("link"),
    ])
    .await;
    let expires_at = c2["expires_at"].as_u64().expect("expiry");
    let past = wait_for(T, || async { weft_protocol::unix_now() > expires_at }).await;
    assert!(past);
    let expired =
        b.w.refused(&pay_send(ann, "op", "10.00", "EUR", &["--coupon", &code2]))
            .await;
    assert!(
        expired["message"]
            .as_str()
            .is_some_and(|m| m.contains("expired")),
        "{expired}"
    );
    assert_eq!(b.balance(1, "EUR").await, "35.00");
}

/// Acceptance 4: a lucky red envelope of 10.00 CNY in 5 shares in a group
/// of eight: five members get shares that add up to exactly 10.00, each at
/// least 0.01; the sixth grab, a second grab and a stranger's grab are
/// refused; a second envelope that expires with shares left gives them
/// back, and every cent is accounted for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_red_envelope_is_shared_exactly_and_nothing_is_lost() {
    let members = ["m2", "m3", "m4", "m5", "m6", "m7"];
    let b = Bank::new(&members).await;
    let ann = &b.homes[1];
    let others: Vec<&PathBuf> = b.homes[3..].iter().collect();
    for h in &others {
        b.w.befriend(ann, h).await;
    }
    let mut names = vec!["Bao"];
    names.extend(members);
    let g = b.w.group_create(ann, "Family", &names).await;
    let group_of = |h: &PathBuf| {
        let h = h.clone();
        let w = &b.w;
        let g = g.clone();
        async move {
            wait_for(T, || async {
                let out = w
                    .run(&["--json", "group", "members", "--home", s(&h), &g])
                    .await;
                out.status.success()
                    && serde_json::from_slice::<Value>(&out.stdout)
                        .ok()
                        .and_then(|v| v.as_array().map(|m| m.len() == 8))
                        .unwrap_or(false)
            })
            .await
        }
    };
    for h in b.homes[2..].iter() {
        assert!(group_of(h).await, "{} never saw the group", h.display());
    }
    let sent = b
        .family_envelope("10.00", "5", &["--lucky", "--note", "Happy new year"])
        .await;
    let id = sent["id"].as_str().expect("id").to_string();
    assert_eq!(b.balance(1, "CNY").await, "90.00");
    // Six members grab, one after another as they see it.
    let grabbers: Vec<PathBuf> = b.homes[2..8].to_vec();
    let mut got = Vec::new();
    let mut refused = Vec::new();
    for h in &grabbers {
        let out =
            b.w.run(&["--json", "redpacket", "grab", "--home", s(h), &id])
                .await;
        if out.status.success() {
            let v: Value = serde_json::from_slice(&out.stdout).expect("json");
            got.push((h.clone(), v["mine"].as_str().expect("a share").to_string()));
        } else {
            refused.push(
                json_error(&out)["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
    }
    assert_eq!(got.len(), 5, "refused: {refused:?}");
    assert_eq!(refused.len(), 1);
    assert!(refused[0].contains("taken"), "{refused:?}");
    // A second grab by a member who has a share, and a stranger's grab.
    b.w.refused(&["redpacket", "grab", "--home", s(&got[0].0), &id])
        .await;
    let stranger =
        b.w.refused(&["redpacket", "grab", "--home", s(&b.homes[0]), &id])
            .await;
    assert!(
        stranger["message"]
            .as_str()
            .is_some_and(|m| m.contains("members")),
        "{stranger}"
    );
    // The sender's record: five shares, exactly 10.00, each at least 0.01.
    let show =
        b.w.json(&["redpacket", "show", "--home", s(ann), &id])
            .await;
    let shares = show["shares"].as_array().expect("shares");
    assert_eq!(shares.len(), 5);
    let total: u64 = shares
        .iter()
        .map(|x| cents(x["amount"].as_str().expect("amount")))
        .sum();
    assert_eq!(total, 1000);
    assert!(shares
        .iter()
        .all(|x| cents(x["amount"].as_str().expect("amount")) >= 1));
    assert!(show["luckiest"].is_string(), "{show}");
    // Each grabber's wallet holds its share.
    for (i, (h, share)) in got.iter().enumerate() {
        let idx = b.homes.iter().position(|x| x == h).expect("home");
        assert!(
            b.balance_is(idx, "CNY", share).await,
            "grabber {i} has {} not {share}",
            b.balance(idx, "CNY").await
        );
    }
    // A second envelope that expires with shares left.
    let short = b.family_envelope("3.00", "3", &["--expires", "5"]).await;
    let id2 = short["id"].as_str().expect("id").to_string();
    let one =
        b.w.json(&["redpacket", "grab", "--home", s(&b.homes[2]), &id2])
            .await;
    assert_eq!(one["mine"], "1.00");
    let back = wait_for(Duration::from_secs(60), || async {
        b.balance(1, "CNY").await == "89.00"
    })
    .await;
    assert!(
        back,
        "the rest never came back: Ann has {}",
        b.balance(1, "CNY").await
    );
    // Every cent: the wallets add up to what the mint has outstanding.
    let mut sum = 0;
    for i in 0..b.homes.len() {
        sum += cents(&b.balance(i, "CNY").await);
    }
    assert_eq!(sum, 10_000);
    assert_eq!(b.outstanding("CNY").await, "100.00");
}
