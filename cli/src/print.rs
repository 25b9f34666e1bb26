//! Output: short aligned text for humans, or one JSON document with `--json`.
//!
//! Every printer takes the typed answer of the API. `--json` prints that
//! value again; [`json_sorted`] prints it with sorted keys, the way these
//! commands have always printed (they used to go through `serde_json::Value`),
//! so scripts that read `weft --json` see the same bytes.
//!
//! Human output shows ids as the short form every command accepts back
//! ([`text::short`]), times the way a messenger lists them ([`text::when`]),
//! and other people's words only through [`text::clean`].

use std::collections::HashMap;

use serde::Serialize;
use weft_node::api::PeerView as PeerInfo;
use weft_node::api::{
    nearby::{FoundView, RadarView},
    oa::{IssuedCertificate, OaAnswer, OaMessageView, OaReplied, Published},
    Created, DialReply, Done, IdView, ProfileView, StatusView,
};
use weft_node::chat::{ContactView, ConversationView, MessageView, RequestView};
use weft_node::moments::FeedEntry;
use weft_node::nearby::NearbyView;
use weft_node::oa::{OaView, PostView};
use weft_node::store::chat::MsgStatus;

use crate::client::Client;
use crate::text::{self, clean, clean_line, ellipsis, short, when};

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
pub(crate) fn human_or<T: Serialize + ?Sized>(
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
    println!("name       {}", clean_line(&v.name));
    println!("account    {}", v.account_id);
    println!("peer       {}", v.peer_id);
    for (i, a) in v.listen_addrs.iter().enumerate() {
        let a = dialable(a, &v.peer_id);
        println!("{}{a}", if i == 0 { "listening  " } else { "           " });
    }
    println!("peers      {}", v.connected_peers.len());
    println!("store      {:.1} KiB", v.store_bytes as f64 / 1024.0);
    println!("uptime     {}s", v.uptime_secs);
    Ok(())
}

/// Prints `link` as a QR code in the terminal.
pub fn qr(link: &str) -> anyhow::Result<()> {
    let code = qrcode::QrCode::new(link.as_bytes())?;
    let art = code
        .render::<qrcode::render::unicode::Dense1x2>()
        .dark_color(qrcode::render::unicode::Dense1x2::Light)
        .light_color(qrcode::render::unicode::Dense1x2::Dark)
        .quiet_zone(true)
        .build();
    println!("{art}");
    Ok(())
}

/// `weft id`.
pub fn id(v: &IdView, qr: bool, json: bool) -> anyhow::Result<()> {
    if json {
        return json_out(v);
    }
    if qr {
        self::qr(&v.link)?;
    }
    println!("name     {}", clean_line(&v.name));
    match v.handle.as_deref() {
        Some(h) => println!("handle   {h}"),
        None => println!("handle   (none yet; claim one with `weft id --handle NAME`)"),
    }
    println!("account  {}", v.account_id);
    println!("peer     {}", v.peer_id);
    for a in &v.addrs {
        println!("addr     {}", dialable(a, &v.peer_id));
    }
    println!("link     {}", v.link);
    Ok(())
}

/// A listen address as others dial it: with `/p2p/<peer>` at the end.
fn dialable(addr: &str, peer: &str) -> String {
    if addr.contains("/p2p/") {
        addr.to_string()
    } else {
        format!("{addr}/p2p/{peer}")
    }
}

/// `weft profile`.
pub fn profile(v: &ProfileView, json: bool) -> anyhow::Result<()> {
    human_or(v, json, |v| {
        println!("name      {}", clean_line(&v.name));
        println!(
            "handle    {}",
            v.handle
                .as_deref()
                .unwrap_or("(none; `weft id --handle NAME`)")
        );
        println!("what's up {}", clean_line(&v.whats_up));
        println!("avatar    {}", if v.has_avatar { "set" } else { "none" });
        if v.restart_needed {
            println!(
                "note: friends see the new name once the node restarts (Ctrl-C, then `weft up`)"
            );
        }
    })
}

/// `weft peers`.
pub fn peers(v: &[PeerInfo], json: bool) -> anyhow::Result<()> {
    if !json && !v.is_empty() {
        println!("{:<54} {:<20} ADDRESS", "PEER", "NAME");
    }
    list(v, json, Some("no peers connected"), |p| {
        let name = p
            .name
            .as_deref()
            .map(clean_line)
            .unwrap_or_else(|| "-".into());
        let addr = p.addrs.first().map(String::as_str).unwrap_or("-");
        println!("{:<54} {:<20} {addr}", p.peer_id, name);
    })
}

/// `weft open`: the sign-in link; on a desktop (a display is set) also
/// handed to the system's browser opener, whose failure is not an error.
pub fn opened(v: &weft_node::web::OpenView, json: bool, browser: bool) -> anyhow::Result<()> {
    if json {
        return json_out(v);
    }
    println!(
        "Open this link in your browser (it works once, for 2 minutes):\n  {}",
        v.url
    );
    let desktop =
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    if browser && (desktop || cfg!(target_os = "macos")) {
        let opener = if cfg!(target_os = "macos") {
            "open"
        } else {
            "xdg-open"
        };
        let started = std::process::Command::new(opener)
            .arg(&v.url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        if started.is_err() {
            println!("(could not start {opener}; open the link yourself)");
        }
    }
    Ok(())
}

/// `weft dial`.
pub fn dialed(v: &DialReply, json: bool) -> anyhow::Result<()> {
    if json {
        return json_out(v);
    }
    println!("connected to {}", v.peer_id);
    Ok(())
}

/// One event from `weft events`, or from `weft chat watch` (with `names`:
/// chat events then read as the conversation does). Events come from every
/// service and each kind has its own fields, so the fallback reads them as
/// generic JSON: the kind, then every other field as `key=value`.
pub fn event(data: &str, json: bool, names: Option<&Names>) {
    if json {
        println!("{data}");
        return;
    }
    if let Some(line) = names.and_then(|n| chat_event(data, n)) {
        println!("{line}");
        return;
    }
    match serde_json::from_str::<serde_json::Value>(data) {
        Ok(v) => {
            let kind = v.get("type").and_then(|t| t.as_str()).unwrap_or("event");
            if kind == "stream_open" {
                return; // the stream is live: nothing to show a person
            }
            let rest: Vec<String> = v
                .as_object()
                .map(|o| {
                    o.iter()
                        .filter(|(k, _)| k.as_str() != "type")
                        .map(|(k, v)| {
                            format!(
                                "{k}={}",
                                clean_line(
                                    &v.as_str().map(str::to_string).unwrap_or(v.to_string())
                                )
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            println!("{:<18} {}", clean_line(kind), rest.join(" "));
        }
        Err(_) => println!("{}", clean_line(data)),
    }
}

/// A chat event as `chat watch` shows it, or `None` for other events.
fn chat_event(data: &str, names: &Names) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(data).ok()?;
    let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
    let now = text::clock(weft_protocol::unix_now_ms());
    Some(match v.get("type")?.as_str()? {
        "message" => format!(
            "[{now}] {}: {}  {}",
            names.of(&field("from")),
            clean_line(&field("text")),
            short(&field("id"))
        ),
        "receipt" => {
            let n = v.get("ids").and_then(|i| i.as_array()).map_or(0, Vec::len);
            let status = field("status");
            let what = if n == 1 { "message" } else { "messages" };
            format!(
                "[{now}] {n} {what} to {} {status}",
                names.of(&field("with"))
            )
        }
        "recalled" => format!(
            "[{now}] {} recalled a message ({})",
            names.of(&field("with")),
            short(&field("id"))
        ),
        "friend_request" => format!(
            "[{now}] friend request from {} ({}): \"{}\"; accept with `weft contacts accept {}`",
            clean_line(&field("name")),
            short(&field("account_id")),
            clean_line(&field("greeting")),
            short(&field("account_id"))
        ),
        "friend_accepted" => format!(
            "[{now}] {} accepted; you are friends now",
            clean_line(&field("name"))
        ),
        _ => return None,
    })
}

/// Display names by account id, for printing conversations: your own
/// account is `me`, contacts by remark or name, anyone else by short id.
pub struct Names {
    me: String,
    by_id: HashMap<String, String>,
}

impl Names {
    /// Your own account id.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// Reads your account and your contacts from the node.
    pub async fn load(client: &Client) -> anyhow::Result<Self> {
        let status: StatusView = client.get("/v1/status").await?;
        let contacts: Vec<ContactView> = client.get("/v1/contacts").await?;
        Ok(Self::new(status.account_id, &contacts))
    }

    /// Names from a contact list.
    pub fn new(me: String, contacts: &[ContactView]) -> Self {
        let by_id = contacts
            .iter()
            .map(|c| (c.account_id.clone(), clean_line(&c.name)))
            .collect();
        Self { me, by_id }
    }

    /// How `account` is shown.
    pub fn of(&self, account: &str) -> String {
        if account == self.me {
            return "me".into();
        }
        self.by_id
            .get(account)
            .cloned()
            .unwrap_or_else(|| short(account).to_string())
    }
}

/// An action with nothing to report but success (`{}`): `said` in words.
pub fn done_saying(said: &str, v: &Done, json: bool) -> anyhow::Result<()> {
    human_or(v, json, |_| println!("{}", clean_line(said)))
}

/// An action with nothing to report but success (`{}`).
pub fn done(v: &Done, json: bool) -> anyhow::Result<()> {
    done_saying("done", v, json)
}

/// A chat message went out.
pub fn sent(v: &Created, json: bool) -> anyhow::Result<()> {
    human_or(v, json, |v| {
        println!("sent ({})", short(&v.id));
    })
}

/// A contact as it is after `contacts add`, `accept`, `block` or `remark`:
/// `said` and who, in words.
pub fn contact(c: &ContactView, said: &str, json: bool) -> anyhow::Result<()> {
    human_or(c, json, |c| {
        println!("{said} {} ({})", clean_line(&c.name), short(&c.account_id));
    })
}

/// `weft contacts list`.
pub fn contacts(v: &[ContactView], json: bool) -> anyhow::Result<()> {
    if !json && !v.is_empty() {
        println!("{:<10} {:<24} STATE", "ID", "NAME");
    }
    list(
        v,
        json,
        Some("no contacts yet; add one with `weft contacts add <id, handle or link>`"),
        |c| {
            let state = c.state.as_str().replace('_', " ");
            println!(
                "{:<10} {:<24} {state}",
                short(&c.account_id),
                ellipsis(&c.name, 24)
            );
        },
    )
}

/// `weft contacts requests`.
pub fn requests(v: &[RequestView], json: bool) -> anyhow::Result<()> {
    if !json && !v.is_empty() {
        println!("{:<10} {:<24} GREETING", "ID", "NAME");
    }
    list(v, json, Some("no friend requests"), |r| {
        println!(
            "{:<10} {:<24} \"{}\"",
            short(&r.account_id),
            ellipsis(&r.name, 24),
            ellipsis(&r.greeting, 60)
        );
    })
}

/// The mark a message's status shows as, after your own messages.
fn mark(status: MsgStatus) -> &'static str {
    match status {
        MsgStatus::Sending => "…",
        // With holders: it will be delivered when the friend is back.
        MsgStatus::Stored => "✓",
        MsgStatus::Delivered => "✓✓",
        MsgStatus::Read => "✓✓ read",
        MsgStatus::Failed => "✗ not sent",
        MsgStatus::Received | MsgStatus::Seen | MsgStatus::Recalled => "",
    }
}

/// Appends a `── day ──` line when `at` falls on another day than the
/// previous message (`last_day`); both conversation printers use it.
pub fn day_line(out: &mut String, last_day: &mut String, at: u64) {
    let day = text::day(at);
    if day != *last_day {
        out.push_str(&format!("── {day} ──\n"));
        *last_day = day;
    }
}

/// A message body: its text, or for an attachment `[photo 1920×1280,
/// 240 KiB] summit.jpg` (whether it is downloaded here, or how to get it)
/// and the caption after it.
pub fn body_with_attachment(text: &str, a: Option<&weft_node::files::AttachmentView>) -> String {
    let caption = clean(text).replace('\n', "\n        ");
    let Some(a) = a else {
        return caption;
    };
    let what = match a.kind.as_str() {
        "image" => "photo",
        "voice" => "voice note",
        other => other,
    };
    let mut facts = vec![what.to_string()];
    if let (Some(w), Some(h)) = (a.width, a.height) {
        facts.push(format!("{w}×{h}"));
    }
    if let Some(ms) = a.duration_ms {
        facts.push(format!("{}:{:02}", ms / 60_000, (ms / 1000) % 60));
    }
    facts.push(text::size(a.size));
    let here = if a.local {
        "saved here"
    } else {
        "not downloaded"
    };
    let mut line = format!("[{}] {} ({here})", facts.join(", "), clean_line(&a.name));
    if let Some(d) = &a.declared_mime {
        line.push_str(&format!(
            " (sent as {}, but it is {})",
            clean_line(d),
            clean_line(&a.mime)
        ));
    }
    if !caption.is_empty() {
        line.push_str(&format!(" {caption}"));
    }
    line
}

/// Appends the `↪ quoted` line above a reply.
pub fn quote_line(out: &mut String, quoted: &str) {
    out.push_str(&format!("        ↪ {quoted}\n"));
}

/// `weft chat log`: `[12:04] Bao: Sure! ☕ 3pm?  3fa4c2d1`, a day line
/// when the date changes, `↪ quoted text` above a reply, receipt marks after
/// your own messages, and each message's short id (`ids`: the whole id).
pub fn chat_log(v: &[MessageView], names: &Names, ids: bool) -> String {
    let by_id: HashMap<&str, &MessageView> = v.iter().map(|m| (m.id.as_str(), m)).collect();
    let mut out = String::new();
    let mut last_day = String::new();
    for m in v {
        day_line(&mut out, &mut last_day, m.sent_at);
        if let Some(r) = &m.reply_to {
            let quoted = match by_id.get(r.as_str()) {
                Some(q) if q.status == MsgStatus::Recalled => "(recalled message)".to_string(),
                Some(q) => format!("{}: {}", names.of(&q.from), ellipsis(&q.text, 40)),
                None => format!("message {}", short(r)),
            };
            quote_line(&mut out, &quoted);
        }
        let body = match m.status {
            MsgStatus::Recalled => "(recalled)".to_string(),
            _ => body_with_attachment(&m.text, m.attachment.as_ref()),
        };
        let id = if ids { m.id.as_str() } else { short(&m.id) };
        let mark = mark(m.status);
        let sep = if mark.is_empty() { "" } else { " " };
        out.push_str(&format!(
            "[{}] {}: {body}  {mark}{sep}{id}\n",
            text::clock(m.sent_at),
            names.of(&m.from)
        ));
    }
    if v.is_empty() {
        out.push_str("no messages yet\n");
    }
    out
}

/// `weft chat list`.
pub fn conversations(v: &[ConversationView], json: bool) -> anyhow::Result<()> {
    if !json && !v.is_empty() {
        println!("{:<20} {:>6} {:>6}  LAST", "NAME", "UNREAD", "WHEN");
    }
    list(v, json, Some("no conversations yet"), |c| {
        println!(
            "{:<20} {:>6} {:>6}  {}",
            ellipsis(&c.name, 20),
            c.unread,
            when(c.last_at),
            ellipsis(&c.last_text, 48)
        );
    })
}

/// `weft nearby`.
pub fn nearby(v: &[NearbyView], json: bool) -> anyhow::Result<()> {
    if !json && !v.is_empty() {
        println!(
            "{:<10} {:<20} {:>8}  {:<4} WHAT'S UP",
            "ID", "NAME", "DISTANCE", "VIA"
        );
    }
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
            println!(
                "{:<10} {:<20} {:>8}  {:<4} {}",
                short(&p.account_id),
                ellipsis(&p.name, 20),
                dist,
                p.via,
                ellipsis(&p.whats_up, 40)
            );
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
            let until = when(*visible_until);
            println!("radar on{cell}; visible until {until}");
        }
        RadarView::Off { .. } => println!("radar off"),
    })
}

/// `weft find`.
pub fn found(v: &FoundView, json: bool) -> anyhow::Result<()> {
    human_or(v, json, |v| {
        println!("handle       {}", clean_line(&v.handle));
        println!("name         {}", clean_line(&v.name));
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
    if json {
        return json_sorted(v);
    }
    if v.is_empty() {
        println!("no official accounts; `weft oa search WORDS`, then `weft oa follow NAME`, or `weft oa create`");
    }
    print!("{}", oa_table(v));
    Ok(())
}

/// `weft oa search`: like `oa list`, but a miss says so.
pub fn oa_search(v: &[OaView], query: &str, json: bool) -> anyhow::Result<()> {
    if json {
        return json_sorted(v);
    }
    if v.is_empty() {
        println!(
            "no official account matches `{}`; try fewer or other words",
            clean_line(query)
        );
    }
    print!("{}", oa_table(v));
    Ok(())
}

/// Official accounts as a table, each with what it is to you.
pub fn oa_table(v: &[OaView]) -> String {
    let mut out = String::new();
    if v.is_empty() {
        return out;
    }
    out.push_str(&format!(
        "{:<10} {:<24} {:<12} {:<13} VERIFIED\n",
        "ID", "NAME", "KIND", "YOU"
    ));
    for a in v {
        let badge = match &a.verified_by {
            Some(by) if a.verified => format!("by {}", clean_line(by)),
            _ => "no".to_string(),
        };
        let role = match (a.own, a.following) {
            (true, _) => "yours",
            (false, true) => "following",
            (false, false) => "not following",
        };
        // Followed before its first post: its kind is not known yet.
        let kind = if a.kind == "unknown" {
            "-"
        } else {
            a.kind.as_str()
        };
        out.push_str(&format!(
            "{:<10} {:<24} {:<12} {:<13} {badge}\n",
            short(&a.account_id),
            ellipsis(&a.name, 24),
            kind,
            role
        ));
    }
    out
}

/// `weft oa feed`.
pub fn oa_feed(v: &[PostView], json: bool) -> anyhow::Result<()> {
    list(v, json, Some("no posts yet"), |p| {
        println!(
            "{}  {}  {}",
            when(p.published_at),
            clean_line(&p.name),
            clean_line(&p.title)
        );
        println!("    {}", clean(&p.body).replace('\n', "\n    "));
    })
}

/// `weft oa log`.
pub fn oa_log(v: &[OaMessageView], json: bool) -> anyhow::Result<()> {
    list(v, json, Some("no messages yet"), |m| {
        println!(
            "[{}] {}: {}",
            when(m.at),
            short(&m.from),
            clean_line(&m.text)
        );
    })
}

/// `weft oa create`.
pub fn oa_created(v: &OaView, json: bool) -> anyhow::Result<()> {
    human_or(v, json, |v| {
        println!(
            "created {} ({}), id {}",
            clean_line(&v.name),
            v.kind,
            short(&v.account_id)
        );
    })
}

/// `weft oa publish`.
pub fn published(v: &Published, json: bool) -> anyhow::Result<()> {
    human_or(v, json, |v| {
        println!("published ({})", short(&v.id));
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
        println!("{}", clean(&v.reply));
    })
}

/// `weft oa reply`: the follower's node took the answer.
pub fn oa_replied(v: &OaReplied, json: bool) -> anyhow::Result<()> {
    human_or(v, json, |v| {
        println!("Answer delivered to {}", short(&v.follower));
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
        println!("{what} ({})", short(&v.id));
    })
}

/// `weft moments feed` / `show`.
pub fn moments_feed(v: &[FeedEntry], json: bool) -> anyhow::Result<()> {
    list(v, json, Some("no Moments yet"), |p| {
        println!(
            "{}  {}  {}",
            short(&p.id),
            clean_line(&p.author_name),
            when(p.at)
        );
        for line in clean(&p.text).lines() {
            println!("    {line}");
        }
        match p.images.len() {
            0 => {}
            1 => println!("    [1 image]"),
            n => println!("    [{n} images]"),
        }
        if let Some(l) = &p.link {
            println!(
                "    link: {} <{}>",
                clean_line(&l.title),
                clean_line(&l.url)
            );
        }
        if !p.likes.is_empty() {
            let names: Vec<&str> = p.likes.iter().map(|s| short(s)).collect();
            println!("    likes: {}", names.join(", "));
        }
        for c in &p.comments {
            println!(
                "    {}: {}",
                clean_line(&c.author_name),
                clean_line(&c.text)
            );
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: &str, from: &str, text: &str, at: u64, status: MsgStatus) -> MessageView {
        MessageView {
            id: id.repeat(64 / id.len()),
            from: from.into(),
            text: text.into(),
            sent_at: at,
            seq: 1,
            status,
            reply_to: None,
            attachment: None,
        }
    }

    /// Acceptance 5: names, times, quotes, marks and short ids, a line per day.
    #[test]
    fn a_chat_log_reads_like_a_conversation() {
        let bao = ContactView {
            account_id: "BaoAccount".into(),
            name: "Bao".into(),
            their_name: "Bao".into(),
            state: weft_node::store::chat::ContactState::Friend,
            devices: 1,
        };
        let names = Names::new("MeAccount".into(), &[bao]);
        let day = 1_767_000_000_000; // 2025-12-29 09:20 UTC
        let hi = msg(
            "ab",
            "MeAccount",
            "Hi Bao, free at 3?",
            day,
            MsgStatus::Read,
        );
        let mut sure = msg(
            "cd",
            "BaoAccount",
            "Sure! ☕ 3pm?\u{1b}[2J",
            day + 86_400_000,
            MsgStatus::Seen,
        );
        sure.reply_to = Some(hi.id.clone());
        let gone = msg("ef", "MeAccount", "", day + 86_400_000, MsgStatus::Recalled);
        let text = chat_log(&[hi, sure, gone], &names, false);
        let want = "\
── 2025-12-29 ──
[09:20] me: Hi Bao, free at 3?  ✓✓ read abababab
── 2025-12-30 ──
        ↪ me: Hi Bao, free at 3?
[09:20] Bao: Sure! ☕ 3pm?[2J  cdcdcdcd
[09:20] me: (recalled)  efefefef
";
        assert_eq!(text, want);
    }

    /// Bug 1: an account found by search that you don't follow says so.
    #[test]
    fn search_results_say_whether_you_follow() {
        let found = OaView {
            account_id: "7rjScXujAbCdEf".into(),
            name: "Dumpling House".into(),
            kind: "service".into(),
            verified: false,
            verified_by: None,
            own: false,
            following: false,
            subscribers: None,
        };
        let table = oa_table(&[found]);
        assert!(table.starts_with("ID"), "{table}");
        assert!(table.contains("not following"), "{table}");
    }
}
