//! `weft mint`, `weft wallet`, `weft pay`, `weft redpacket`, `weft coupon`:
//! thin clients of the node's Pay API (`/v1/mint`, `/v1/wallet`,
//! `/v1/pay`, `/v1/redpacket`, `/v1/coupon`).

use std::io::{BufRead, IsTerminal, Write};

use weft_node::api::pay::{
    CouponClaim, CouponCreate, MintCreate, MintIssue, MintRate, PacketId, PacketSend, PayExchange,
    PayRequestBody, PayScan, PaySend, PayToken, TokenText,
};
use weft_node::pay::{
    BalanceView, CouponView, ExchangeQuote, MintView, PacketView, PaymentView, RequestShown,
    RequestView, SendResult,
};

use crate::args::{
    CouponCommand, MintCommand, PacketCommand, PayCommand, WalletArgs, WalletCommand,
};
use crate::client::{query_escape, Client};
use crate::error::CliError;
use crate::print;
use crate::text::{self, clean_line, short};

/// Runs one `weft mint` command.
pub async fn mint(client: &Client, c: MintCommand, json: bool) -> anyhow::Result<()> {
    match c {
        MintCommand::Create { name, currencies } => {
            let v: MintView = client
                .post("/v1/mint/create", &MintCreate { name, currencies })
                .await?;
            if json {
                return print::json_sorted(&v);
            }
            println!("mint {} created ({})", clean_line(&v.name), v.account_id);
            Ok(())
        }
        MintCommand::Issue {
            mint,
            contact,
            amount,
            currency,
        } => {
            let v: SendResult = client
                .post(
                    "/v1/mint/issue",
                    &MintIssue {
                        mint,
                        contact,
                        amount,
                        currency,
                    },
                )
                .await?;
            sent(&v, json)
        }
        MintCommand::Rate {
            mint,
            from,
            to,
            rate,
        } => {
            let v: MintView = client
                .post(
                    "/v1/mint/rate",
                    &MintRate {
                        mint,
                        from,
                        to,
                        rate,
                    },
                )
                .await?;
            mints(&[v], json)
        }
        MintCommand::Status => {
            let v: Vec<MintView> = client.get("/v1/mint/status").await?;
            mints(&v, json)
        }
    }
}

fn mints(v: &[MintView], json: bool) -> anyhow::Result<()> {
    if json {
        return print::json_sorted(v);
    }
    if v.is_empty() {
        println!("this node runs no mint (weft mint create NAME --currency CNY)");
    }
    for m in v {
        println!("{}  {}", clean_line(&m.name), m.account_id);
        for t in &m.outstanding {
            println!("  {:>14} {} outstanding", t.amount, t.currency);
        }
        for r in &m.rates {
            println!("  1 {} = {} {}", r.from, r.rate, r.to);
        }
    }
    Ok(())
}

fn sent(v: &SendResult, json: bool) -> anyhow::Result<()> {
    if json {
        return print::json_sorted(v);
    }
    let off = v
        .discount
        .as_ref()
        .map(|d| format!(" ({d} off with the coupon)"))
        .unwrap_or_default();
    println!(
        "sent {} {} to {}{off}  [{}]",
        v.amount,
        v.currency,
        short(&v.to),
        short(&v.id)
    );
    Ok(())
}

/// `weft wallet [history]`.
pub async fn wallet(client: &Client, a: WalletArgs, json: bool) -> anyhow::Result<()> {
    match a.cmd {
        None => {
            let v: Vec<BalanceView> = client.get("/v1/wallet").await?;
            if json {
                return print::json_sorted(&v);
            }
            if v.is_empty() {
                println!("the wallet is empty");
            }
            for b in &v {
                let what = match &b.coupon {
                    Some(t) => format!("coupon {} ({})", b.currency, clean_line(t)),
                    None => b.currency.clone(),
                };
                let mint = if b.mint_name.is_empty() {
                    short(&b.mint).to_string()
                } else {
                    clean_line(&b.mint_name).to_string()
                };
                println!("{:>14} {what}  at {mint}", b.amount);
            }
            Ok(())
        }
        Some(WalletCommand::History { limit }) => {
            let v: Vec<PaymentView> = client
                .get(&format!("/v1/wallet/history?limit={limit}"))
                .await?;
            if json {
                return print::json_sorted(&v);
            }
            for p in &v {
                let sign = if p.direction == "out" { "-" } else { "+" };
                let who = if p.direction == "out" { "to" } else { "from" };
                let reason = p
                    .reason
                    .as_ref()
                    .map(|r| format!(" ({})", clean_line(r)))
                    .unwrap_or_default();
                println!(
                    "{} {}  {sign}{} {}  {who} {}  {}  {}{reason}  {}",
                    text::day(p.at_ms / 1000),
                    text::clock(p.at_ms / 1000),
                    p.amount,
                    p.currency,
                    clean_line(&p.name),
                    p.kind,
                    p.status,
                    clean_line(&p.note)
                );
            }
            Ok(())
        }
    }
}

/// Asks "…? [y/N]" on a terminal; refuses without one unless `yes`.
fn confirm(question: &str, yes: bool) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::invalid(format!(
            "{question}: confirm with --yes (no terminal to ask on)"
        )));
    }
    print!("{question}? [y/N] ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if matches!(line.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(CliError::invalid("not paid"))
    }
}

/// Runs one `weft pay` command.
pub async fn pay(client: &Client, c: PayCommand, json: bool) -> anyhow::Result<()> {
    match c {
        PayCommand::Send {
            to,
            amount,
            currency,
            note,
            mint,
            coupon,
            refund_after,
        } => {
            let v: SendResult = client
                .post(
                    "/v1/pay/send",
                    &PaySend {
                        to,
                        amount,
                        currency,
                        note,
                        mint,
                        refund_after,
                        coupon,
                    },
                )
                .await?;
            sent(&v, json)
        }
        PayCommand::Request {
            amount,
            currency,
            note,
            mint,
            valid,
        } => {
            let v: RequestView = client
                .post(
                    "/v1/pay/request",
                    &PayRequestBody {
                        amount,
                        currency,
                        note,
                        mint,
                        valid_secs: valid,
                    },
                )
                .await?;
            if json {
                return print::json_sorted(&v);
            }
            print::qr(&v.link)?;
            println!("{}", v.link);
            println!(
                "{} {}, valid until {} {}; the payer runs: weft pay scan <link>",
                v.amount,
                v.currency,
                text::day(v.expires_at),
                text::clock(v.expires_at)
            );
            Ok(())
        }
        PayCommand::Requests => {
            let v: Vec<RequestView> = client.get("/v1/pay/requests").await?;
            if json {
                return print::json_sorted(&v);
            }
            for r in &v {
                let paid = if r.paid { "paid" } else { "waiting" };
                println!("{}  {} {}  {paid}", short(&r.id), r.amount, r.currency);
            }
            Ok(())
        }
        PayCommand::Scan {
            request,
            yes,
            coupon,
        } => {
            let shown: RequestShown = client
                .post(
                    "/v1/pay/scan",
                    &PayScan {
                        request: request.clone(),
                        pay: false,
                        coupon: None,
                    },
                )
                .await?;
            if shown.paid {
                return Err(CliError::new(
                    crate::error::Kind::Conflict,
                    "this request was already paid",
                )
                .into());
            }
            if !json {
                let note = if shown.note.is_empty() {
                    String::new()
                } else {
                    format!(" for \"{}\"", clean_line(&shown.note))
                };
                println!(
                    "{} asks {} {}{note}",
                    clean_line(&shown.name),
                    shown.amount,
                    shown.currency
                );
            }
            confirm(
                &format!(
                    "Pay {} {} to {}",
                    shown.amount,
                    shown.currency,
                    clean_line(&shown.name)
                ),
                yes,
            )?;
            let v: RequestShown = client
                .post(
                    "/v1/pay/scan",
                    &PayScan {
                        request,
                        pay: true,
                        coupon,
                    },
                )
                .await?;
            if json {
                return print::json_sorted(&v);
            }
            match &v.payment {
                Some(p) => sent(p, false),
                None => Ok(()),
            }
        }
        PayCommand::Token {
            amount,
            currency,
            mint,
        } => {
            let v: TokenText = client
                .post(
                    "/v1/pay/token",
                    &PayToken {
                        amount,
                        currency,
                        mint,
                    },
                )
                .await?;
            if json {
                return print::json_sorted(&v);
            }
            println!("{}", v.token);
            Ok(())
        }
        PayCommand::Redeem { token } => {
            let v: SendResult = client.post("/v1/pay/redeem", &TokenText { token }).await?;
            if json {
                return print::json_sorted(&v);
            }
            println!("redeemed {} {}", v.amount, v.currency);
            Ok(())
        }
        PayCommand::Exchange {
            amount,
            from,
            to,
            mint,
            yes,
        } => {
            let body = |go| PayExchange {
                amount: amount.clone(),
                from: from.clone(),
                to: to.clone(),
                mint: mint.clone(),
                go,
            };
            let q: ExchangeQuote = client.post("/v1/pay/exchange", &body(false)).await?;
            if !json {
                println!(
                    "{} {} -> {} {} (1 {} = {} {})",
                    q.amount, q.from, q.receive, q.to, q.from, q.rate, q.to
                );
            }
            confirm(
                &format!(
                    "Exchange {} {} for {} {}",
                    q.amount, q.from, q.receive, q.to
                ),
                yes,
            )?;
            let v: ExchangeQuote = client.post("/v1/pay/exchange", &body(true)).await?;
            if json {
                return print::json_sorted(&v);
            }
            println!(
                "exchanged: {} {} -> {} {}",
                v.amount, v.from, v.receive, v.to
            );
            Ok(())
        }
    }
}

fn packet(v: &PacketView, json: bool) -> anyhow::Result<()> {
    if json {
        return print::json_sorted(v);
    }
    println!(
        "red envelope from {}: {} {} in {} shares{}  \"{}\"",
        clean_line(&v.sender_name),
        v.total,
        v.currency,
        v.count,
        if v.lucky { " (lucky)" } else { "" },
        clean_line(&v.note)
    );
    for s in &v.shares {
        let star = if v.luckiest.as_deref() == Some(s.account_id.as_str()) {
            "  luckiest"
        } else {
            ""
        };
        println!("  {:>12}  {}{star}", s.amount, clean_line(&s.name));
    }
    let state = if v.finished { "finished" } else { "open" };
    println!(
        "{} of {} taken, {state}; id {}",
        v.shares.len(),
        v.count,
        v.id
    );
    if let Some(m) = &v.mine {
        println!("you got {m} {}", v.currency);
    }
    Ok(())
}

/// Runs one `weft redpacket` command.
pub async fn redpacket(client: &Client, c: PacketCommand, json: bool) -> anyhow::Result<()> {
    match c {
        PacketCommand::Send {
            to,
            total,
            currency,
            count,
            lucky,
            note,
            mint,
            expires,
        } => {
            let v: PacketView = client
                .post(
                    "/v1/redpacket/send",
                    &PacketSend {
                        to,
                        total,
                        currency,
                        count,
                        lucky,
                        note,
                        mint,
                        expires_in: expires,
                    },
                )
                .await?;
            packet(&v, json)
        }
        PacketCommand::Grab { id } => {
            let v: PacketView = client.post("/v1/redpacket/grab", &PacketId { id }).await?;
            packet(&v, json)
        }
        PacketCommand::Show { id } => {
            let v: PacketView = client
                .get(&format!("/v1/redpacket/show?id={}", query_escape(&id)))
                .await?;
            packet(&v, json)
        }
        PacketCommand::List => {
            let v: Vec<PacketView> = client.get("/v1/redpackets").await?;
            if json {
                return print::json_sorted(&v);
            }
            for p in &v {
                println!(
                    "{}  {} {}  from {}  {}/{} taken",
                    p.id,
                    p.total,
                    p.currency,
                    clean_line(&p.sender_name),
                    p.shares.len(),
                    p.count
                );
            }
            Ok(())
        }
    }
}

fn coupon_line(v: &CouponView) {
    println!(
        "{}  {}  until {} {}",
        v.code,
        clean_line(&v.title),
        text::day(v.expires_at),
        text::clock(v.expires_at)
    );
}

/// Runs one `weft coupon` command.
pub async fn coupon(client: &Client, c: CouponCommand, json: bool) -> anyhow::Result<()> {
    match c {
        CouponCommand::Create {
            oa,
            mint,
            currency,
            off,
            percent,
            title,
            valid,
        } => {
            let v: CouponView = client
                .post(
                    "/v1/coupon/create",
                    &CouponCreate {
                        oa,
                        mint,
                        currency,
                        off,
                        percent,
                        title,
                        valid_secs: valid,
                    },
                )
                .await?;
            if json {
                return print::json_sorted(&v);
            }
            coupon_line(&v);
            println!("{}", v.link);
            Ok(())
        }
        CouponCommand::Claim { link } => {
            let v: CouponView = client
                .post("/v1/coupon/claim", &CouponClaim { link })
                .await?;
            if json {
                return print::json_sorted(&v);
            }
            coupon_line(&v);
            Ok(())
        }
        CouponCommand::List => {
            let v: Vec<CouponView> = client.get("/v1/coupons").await?;
            if json {
                return print::json_sorted(&v);
            }
            for c in &v {
                coupon_line(c);
            }
            Ok(())
        }
    }
}
