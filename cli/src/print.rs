//! Output: short aligned text for humans, or one JSON document with `--json`.

use weft_node::api::{DialReply, IdView, StatusView};

fn json_out<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
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
pub fn peers(v: &[serde_json::Value], json: bool) -> anyhow::Result<()> {
    if json {
        return json_out(&v);
    }
    if v.is_empty() {
        println!("no peers connected");
    }
    for p in v {
        let s = |k: &str| p.get(k).and_then(|x| x.as_str()).unwrap_or("-").to_string();
        let addr = p
            .get("addrs")
            .and_then(|a| a.get(0))
            .and_then(|a| a.as_str())
            .unwrap_or("-");
        println!("{:<54} {:<20} {addr}", s("peer_id"), s("name"));
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

/// One event from `weft events`.
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

fn field<'a>(v: &'a serde_json::Value, k: &str) -> &'a str {
    v.get(k).and_then(|x| x.as_str()).unwrap_or("")
}

/// Result of a command that changes something: the JSON, or a short line.
pub fn done(v: &serde_json::Value, json: bool) -> anyhow::Result<()> {
    if json {
        return json_out(v);
    }
    if let Some(id) = v.get("id").and_then(|x| x.as_str()) {
        println!("sent {id}");
    } else if let Some(acct) = v.get("account_id").and_then(|x| x.as_str()) {
        println!(
            "{:<46} {:<20} {}",
            acct,
            field(v, "name"),
            field(v, "state")
        );
    } else {
        println!("done");
    }
    Ok(())
}

/// `weft contacts list`.
pub fn contacts(v: &[serde_json::Value], json: bool) -> anyhow::Result<()> {
    if json {
        return json_out(&v);
    }
    if v.is_empty() {
        println!("no contacts yet; add one with `weft contacts add <id or link>`");
    }
    for c in v {
        println!(
            "{:<46} {:<20} {}",
            field(c, "account_id"),
            field(c, "name"),
            field(c, "state")
        );
    }
    Ok(())
}

/// `weft contacts requests`.
pub fn requests(v: &[serde_json::Value], json: bool) -> anyhow::Result<()> {
    if json {
        return json_out(&v);
    }
    if v.is_empty() {
        println!("no friend requests");
    }
    for r in v {
        println!(
            "{:<46} {:<20} \"{}\"",
            field(r, "account_id"),
            field(r, "name"),
            field(r, "greeting")
        );
    }
    Ok(())
}

/// `weft chat log`.
pub fn chat_log(v: &[serde_json::Value], json: bool) -> anyhow::Result<()> {
    if json {
        return json_out(&v);
    }
    for m in v {
        let from: String = field(m, "from").chars().take(8).collect();
        let text = match field(m, "status") {
            "recalled" => "(recalled)".to_string(),
            _ => field(m, "text").to_string(),
        };
        println!("{from:<9} {text}  [{}]", field(m, "status"));
    }
    Ok(())
}

/// `weft chat list`.
pub fn conversations(v: &[serde_json::Value], json: bool) -> anyhow::Result<()> {
    if json {
        return json_out(&v);
    }
    if v.is_empty() {
        println!("no conversations yet");
    }
    for c in v {
        let unread = c.get("unread").and_then(|u| u.as_u64()).unwrap_or(0);
        let last: String = field(c, "last_text").chars().take(40).collect();
        println!("{:<20} {:>3} unread  {last}", field(c, "name"), unread);
    }
    Ok(())
}

/// `weft nearby`.
pub fn nearby(v: &[serde_json::Value], json: bool) -> anyhow::Result<()> {
    if json {
        return json_out(&v);
    }
    if v.is_empty() {
        println!("nobody nearby (is your radar on? `weft nearby on`)");
    }
    for p in v {
        let dist = match p.get("distance_m").and_then(|d| d.as_f64()) {
            Some(d) if d < 1000.0 => "< 1 km".to_string(),
            Some(d) => format!("~{:.0} km", d / 1000.0),
            None => "-".to_string(),
        };
        println!(
            "{:<20} {:>8}  {:<4} {}",
            field(p, "name"),
            dist,
            field(p, "via"),
            field(p, "whats_up")
        );
    }
    Ok(())
}

/// `weft nearby on/off`.
pub fn radar(v: &serde_json::Value, json: bool) -> anyhow::Result<()> {
    if json {
        return json_out(v);
    }
    if v["on"] == true {
        let cell = v["cell"]
            .as_str()
            .map(|c| format!(" in cell {c}"))
            .unwrap_or_default();
        println!(
            "radar on{cell}; visible until {} (Unix time)",
            v["visible_until"]
        );
    } else {
        println!("radar off");
    }
    Ok(())
}

/// `weft find`.
pub fn found(v: &serde_json::Value, json: bool) -> anyhow::Result<()> {
    if json {
        return json_out(v);
    }
    println!("handle       {}", field(v, "handle"));
    println!("name         {}", field(v, "name"));
    println!("account      {}", field(v, "account_id"));
    println!("fingerprint  {}", field(v, "fingerprint"));
    if v["other_claims"].as_u64().unwrap_or(0) > 0 {
        println!(
            "note         {} other account(s) also claimed this handle; check the fingerprint",
            v["other_claims"]
        );
    }
    Ok(())
}

/// `weft oa list`.
pub fn oa_list(v: &[serde_json::Value], json: bool) -> anyhow::Result<()> {
    if json {
        return json_out(&v);
    }
    if v.is_empty() {
        println!("no official accounts; `weft oa follow <id>` or `weft oa create`");
    }
    for a in v {
        let badge = match a.get("verified_by").and_then(|x| x.as_str()) {
            Some(by) if a["verified"] == true => format!("verified by {by}"),
            _ => "unverified".to_string(),
        };
        let role = if a["own"] == true {
            "yours"
        } else {
            "following"
        };
        println!(
            "{:<46} {:<20} {:<12} {:<9} {badge}",
            field(a, "account_id"),
            field(a, "name"),
            field(a, "kind"),
            role
        );
    }
    Ok(())
}

/// `weft oa feed`.
pub fn oa_feed(v: &[serde_json::Value], json: bool) -> anyhow::Result<()> {
    if json {
        return json_out(&v);
    }
    if v.is_empty() {
        println!("no posts yet");
    }
    for p in v {
        println!("[{}] {}", field(p, "name"), field(p, "title"));
        println!("    {}", field(p, "body").replace('\n', "\n    "));
    }
    Ok(())
}

/// `weft oa log`.
pub fn oa_log(v: &[serde_json::Value], json: bool) -> anyhow::Result<()> {
    if json {
        return json_out(&v);
    }
    for m in v {
        let from: String = field(m, "from").chars().take(8).collect();
        println!("{from:<9} {}", field(m, "text"));
    }
    Ok(())
}

/// Result of an `oa` action.
pub fn oa_done(action: &str, v: &serde_json::Value, json: bool) -> anyhow::Result<()> {
    if json {
        return json_out(v);
    }
    match action {
        "create" => println!(
            "created {} ({}): {}",
            field(v, "name"),
            field(v, "kind"),
            field(v, "account_id")
        ),
        "publish" => {
            println!("published {}", field(v, "id"));
            if v["gossiped"] != true {
                println!(
                    "note: no follower is connected right now; followers get it when they backfill"
                );
            }
        }
        "message" => println!("{}", field(v, "reply")),
        "verify" => println!("{}", field(v, "certificate")),
        _ => println!("done"),
    }
    Ok(())
}

/// Something was created: prints `{"id"}` or a one-line confirmation.
pub fn created(what: &str, v: &serde_json::Value, json: bool) -> anyhow::Result<()> {
    if json {
        return json_out(v);
    }
    println!("{what}: {}", field(v, "id"));
    Ok(())
}

/// `weft moments feed` / `show`.
pub fn moments_feed(v: &[serde_json::Value], json: bool) -> anyhow::Result<()> {
    if json {
        return json_out(&v);
    }
    if v.is_empty() {
        println!("no Moments yet");
    }
    let list = |p: &serde_json::Value, k: &str| -> Vec<serde_json::Value> {
        p.get(k)
            .and_then(|x| x.as_array())
            .cloned()
            .unwrap_or_default()
    };
    for p in v {
        let id: String = field(p, "id").chars().take(12).collect();
        println!("{id}  {}", field(p, "author_name"));
        for line in field(p, "text").lines() {
            println!("    {line}");
        }
        let images = list(p, "images");
        if !images.is_empty() {
            println!("    [{} image(s)]", images.len());
        }
        if let Some(l) = p.get("link").filter(|l| !l.is_null()) {
            println!("    link: {} <{}>", field(l, "title"), field(l, "url"));
        }
        let likes = list(p, "likes");
        if !likes.is_empty() {
            let names: Vec<String> = likes
                .iter()
                .filter_map(|a| a.as_str().map(|s| s.chars().take(8).collect()))
                .collect();
            println!("    likes: {}", names.join(", "));
        }
        for c in list(p, "comments") {
            println!("    {}: {}", field(&c, "author_name"), field(&c, "text"));
        }
    }
    Ok(())
}
