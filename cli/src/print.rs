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
