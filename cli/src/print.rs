//! Output: short aligned text for humans, or one JSON document with `--json`.
//!
//! Every printer takes the typed answer of the API. `--json` prints that
//! value again; [`json_sorted`] prints it with sorted keys, the way these
//! commands have always printed (they used to go through `serde_json::Value`),
//! so scripts that read `weft --json` see the same bytes.

use serde::Serialize;
use weft_node::api::PeerView as PeerInfo;
use weft_node::api::{
    nearby::{FoundView, RadarView},
    oa::{IssuedCertificate, OaAnswer, OaMessageView, Published},
    Created, DialReply, Done, IdView, StatusView,
};
use weft_node::chat::{ContactView, ConversationView, MessageView, RequestView};
use weft_node::moments::FeedEntry;
use weft_node::nearby::NearbyView;
use weft_node::oa::{OaView, PostView};

/// Pretty JSON in the value's field order (`status`, `id`, `dial`).
fn json_out<T: Serialize + ?Sized>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Pretty JSON with object keys sorted, as every other command prints it.
pub fn json_sorted<T: Serialize + ?Sized>(v: &T) -> anyhow::Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::to_value(v)?)?
    );
    Ok(())
}

/// Sorted JSON with `--json`; otherwise `human` prints the value as text.
fn human_or<T: Serialize + ?Sized>(
    v: &T,
    json: bool,
    human: impl FnOnce(&T),
) -> anyhow::Result<()> {
    if json {
        return json_sorted(v);
    }
    human(v);
    Ok(())
}

/// A list: sorted JSON with `--json`; otherwise `empty` (if any) when there
/// are no items, then `row` prints each item.
fn list<T: Serialize>(
    v: &[T],
    json: bool,
    empty: Option<&str>,
    row: impl FnMut(&T),
) -> anyhow::Result<()> {
    human_or(v, json, |v| {
        if let (true, Some(e)) = (v.is_empty(), empty) {
            println!("{e}");
        }
        v.iter().for_each(row);
    })
}

/// `weft status`.
pub fn status(v: &StatusView, json: bool) -> anyhow::Result<()> {
    if json {
        return json_out(v);
    }
    println!("name       {}", v.name);
    println!("account    {}", v.account_id);
    println!("peer       {}", v.peer_id);
    for (i, a) in v.listen_addrs.iter().enumerate() {
        println!("{}{a}", if i == 0 { "listening  " } else { "           " });
    }
    println!("peers      {}", v.connected_peers.len());
    println!("store      {:.1} KiB", v.store_bytes as f64 / 1024.0);
    println!("uptime     {}s", v.uptime_secs);
    Ok(())
}

/// `weft id`.
pub fn id(v: &IdView, qr: bool, json: bool) -> anyhow::Result<()> {
    if json {
        return json_out(v);
    }
    if qr {
        let code = qrcode::QrCode::new(v.link.as_bytes())?;
        let art = code
            .render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .quiet_zone(true)
            .build();
        println!("{art}");
    }
    println!("name     {}", v.name);
    println!("handle   {}", v.handle);
    println!("account  {}", v.account_id);
    println!("peer     {}", v.peer_id);
    for a in &v.addrs {
        println!("addr     {a}");
    }
    println!("link     {}", v.link);
    Ok(())
}

/// `weft peers`.
pub fn peers(v: &[PeerInfo], json: bool) -> anyhow::Result<()> {
    list(v, json, Some("no peers connected"), |p| {
        let name = p.name.as_deref().unwrap_or("-");
        let addr = p.addrs.first().map(String::as_str).unwrap_or("-");
        println!("{:<54} {:<20} {addr}", p.peer_id, name);
    })
}

/// `weft dial`.
pub fn dialed(v: &DialReply, json: bool) -> anyhow::Result<()> {
    if json {
        return json_out(v);
    }
    println!("connected to {}", v.peer_id);
    Ok(())
}

/// One event from `weft events`. Events come from every service and each
/// kind has its own fields, so this one printer reads them as generic JSON:
/// the kind, then every other field as `key=value`.
pub fn event(data: &str, json: bool) {
    if json {
        println!("{data}");
        return;
    }
    match serde_json::from_str::<serde_json::Value>(data) {
        Ok(v) => {
            let kind = v.get("type").and_then(|t| t.as_str()).unwrap_or("event");
            let rest: Vec<String> = v
                .as_object()
                .map(|o| {
                    o.iter()
                        .filter(|(k, _)| k.as_str() != "type")
                        .map(|(k, v)| {
                            format!(
                                "{k}={}",
                                v.as_str().map(str::to_string).unwrap_or(v.to_string())
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            println!("{kind:<18} {}", rest.join(" "));
        }
        Err(_) => println!("{data}"),
    }
}

/// An action with nothing to report but success (`{}`).
pub fn done(v: &Done, json: bool) -> anyhow::Result<()> {
    human_or(v, json, |_| println!("done"))
}

/// A chat message went out.
pub fn sent(v: &Created, json: bool) -> anyhow::Result<()> {
    human_or(v, json, |v| {
        println!("sent {}", v.id);
    })
}

/// A contact as it is after `contacts add`, `accept`, `block` or `remark`.
pub fn contact(c: &ContactView, json: bool) -> anyhow::Result<()> {
    human_or(c, json, |c| {
        println!("{:<46} {:<20} {}", c.account_id, c.name, c.state);
    })
}

/// `weft contacts list`.
pub fn contacts(v: &[ContactView], json: bool) -> anyhow::Result<()> {
    list(
        v,
        json,
        Some("no contacts yet; add one with `weft contacts add <id or link>`"),
        |c| {
            println!("{:<46} {:<20} {}", c.account_id, c.name, c.state);
        },
    )
}

/// `weft contacts requests`.
pub fn requests(v: &[RequestView], json: bool) -> anyhow::Result<()> {
    list(v, json, Some("no friend requests"), |r| {
        println!("{:<46} {:<20} \"{}\"", r.account_id, r.name, r.greeting);
    })
}

/// `weft chat log`.
pub fn chat_log(v: &[MessageView], json: bool) -> anyhow::Result<()> {
    list(v, json, None, |m| {
        let from: String = m.from.chars().take(8).collect();
        let text = match m.status.as_str() {
            "recalled" => "(recalled)",
            _ => m.text.as_str(),
        };
        println!("{from:<9} {text}  [{}]", m.status);
    })
}

/// `weft chat list`.
pub fn conversations(v: &[ConversationView], json: bool) -> anyhow::Result<()> {
    list(v, json, Some("no conversations yet"), |c| {
        let last: String = c.last_text.chars().take(40).collect();
        println!("{:<20} {:>3} unread  {last}", c.name, c.unread);
    })
}

/// `weft nearby`.
pub fn nearby(v: &[NearbyView], json: bool) -> anyhow::Result<()> {
    list(
        v,
        json,
        Some("nobody nearby (is your radar on? `weft nearby on`)"),
        |p| {
            let dist = match p.distance_m {
                Some(d) if d < 1000.0 => "< 1 km".to_string(),
                Some(d) => format!("~{:.0} km", d / 1000.0),
                None => "-".to_string(),
            };
            println!("{:<20} {:>8}  {:<4} {}", p.name, dist, p.via, p.whats_up);
        },
    )
}

/// `weft nearby on/off`.
pub fn radar(v: &RadarView, json: bool) -> anyhow::Result<()> {
    human_or(v, json, |v| match v {
        RadarView::On {
            cell,
            visible_until,
            ..
        } => {
            let cell = cell
                .as_deref()
                .map(|c| format!(" in cell {c}"))
                .unwrap_or_default();
            println!("radar on{cell}; visible until {visible_until} (Unix time)");
        }
        RadarView::Off { .. } => println!("radar off"),
    })
}

/// `weft find`.
pub fn found(v: &FoundView, json: bool) -> anyhow::Result<()> {
    human_or(v, json, |v| {
        println!("handle       {}", v.handle);
        println!("name         {}", v.name);
        println!("account      {}", v.account_id);
        println!("fingerprint  {}", v.fingerprint);
        if v.other_claims > 0 {
            println!(
                "note         {} other account(s) also claimed this handle; check the fingerprint",
                v.other_claims
            );
        }
    })
}

/// `weft oa list`.
pub fn oa_list(v: &[OaView], json: bool) -> anyhow::Result<()> {
    list(
        v,
        json,
        Some("no official accounts; `weft oa follow <id>` or `weft oa create`"),
        |a| {
            let badge = match &a.verified_by {
                Some(by) if a.verified => format!("verified by {by}"),
                _ => "unverified".to_string(),
            };
            let role = if a.own { "yours" } else { "following" };
            println!(
                "{:<46} {:<20} {:<12} {:<9} {badge}",
                a.account_id, a.name, a.kind, role
            );
        },
    )
}

/// `weft oa feed`.
pub fn oa_feed(v: &[PostView], json: bool) -> anyhow::Result<()> {
    list(v, json, Some("no posts yet"), |p| {
        println!("[{}] {}", p.name, p.title);
        println!("    {}", p.body.replace('\n', "\n    "));
    })
}

/// `weft oa log`.
pub fn oa_log(v: &[OaMessageView], json: bool) -> anyhow::Result<()> {
    list(v, json, None, |m| {
        let from: String = m.from.chars().take(8).collect();
        println!("{from:<9} {}", m.text);
    })
}

/// `weft oa create`.
pub fn oa_created(v: &OaView, json: bool) -> anyhow::Result<()> {
    human_or(v, json, |v| {
        println!("created {} ({}): {}", v.name, v.kind, v.account_id);
    })
}

/// `weft oa publish`.
pub fn published(v: &Published, json: bool) -> anyhow::Result<()> {
    human_or(v, json, |v| {
        println!("published {}", v.id);
        if !v.gossiped {
            println!(
                "note: no follower is connected right now; followers get it when they backfill"
            );
        }
    })
}

/// `weft oa message`: the account's automatic reply.
pub fn oa_answer(v: &OaAnswer, json: bool) -> anyhow::Result<()> {
    human_or(v, json, |v| {
        println!("{}", v.reply);
    })
}

/// `weft oa verify`: the certificate to give the account's owner.
pub fn certificate(v: &IssuedCertificate, json: bool) -> anyhow::Result<()> {
    human_or(v, json, |v| {
        println!("{}", v.certificate);
    })
}

/// Something was created: prints `{"id"}` or a one-line confirmation.
pub fn created(what: &str, v: &Created, json: bool) -> anyhow::Result<()> {
    human_or(v, json, |v| {
        println!("{what}: {}", v.id);
    })
}

/// `weft moments feed` / `show`.
pub fn moments_feed(v: &[FeedEntry], json: bool) -> anyhow::Result<()> {
    list(v, json, Some("no Moments yet"), |p| {
        let id: String = p.id.chars().take(12).collect();
        println!("{id}  {}", p.author_name);
        for line in p.text.lines() {
            println!("    {line}");
        }
        if !p.images.is_empty() {
            println!("    [{} image(s)]", p.images.len());
        }
        if let Some(l) = &p.link {
            println!("    link: {} <{}>", l.title, l.url);
        }
        if !p.likes.is_empty() {
            let names: Vec<String> = p
                .likes
                .iter()
                .map(|s| s.chars().take(8).collect())
                .collect();
            println!("    likes: {}", names.join(", "));
        }
        for c in &p.comments {
            println!("    {}: {}", c.author_name, c.text);
        }
    })
}
