//! `weft device ...`: link a new device by code, join an account from a new
//! home, list, rename and revoke devices. `join` runs without a node (the
//! new home has none yet); the rest are clients of `/v1/devices`.

use std::path::Path;

use serde::Serialize;
use weft_node::api::device::{ListChanged, RenameBody, RevokeBody};
use weft_node::device::{DeviceView, JoinError, LinkOffer};
use weft_node::Home;

use crate::args::DeviceCommand;
use crate::client::Client;
use crate::error::{CliError, Kind};
use crate::print;
use crate::text::{self, clean_line};

/// `join` answer.
#[derive(Serialize)]
struct JoinedView {
    account_id: String,
    peer_id: String,
    home: String,
    devices: usize,
}

/// Runs one `weft device` command.
pub async fn run(home: &Path, c: DeviceCommand, json: bool) -> anyhow::Result<()> {
    match c {
        DeviceCommand::Join {
            code,
            name,
            history,
        } => join(home, &code, &name, history, json).await,
        DeviceCommand::Link { qr } => {
            let v: LinkOffer = Client::for_home(home)?
                .post("/v1/devices/link", &())
                .await?;
            if json {
                return print::json_sorted(&v);
            }
            if qr {
                print::qr(&v.link)?;
            }
            println!("{}", v.code);
            println!("on the new device: weft --home <dir> device join <code above> --name <name>");
            println!(
                "one use, valid until {} {}",
                text::day(v.expires_at),
                text::clock(v.expires_at)
            );
            Ok(())
        }
        DeviceCommand::List => {
            let v: Vec<DeviceView> = Client::for_home(home)?.get("/v1/devices").await?;
            if json {
                return print::json_sorted(&v);
            }
            for d in &v {
                let seen = match d.last_seen {
                    _ if d.this => "this device".to_string(),
                    Some(t) => format!("seen {} {}", text::day(t), text::clock(t)),
                    None => "never seen".to_string(),
                };
                let role = if d.primary { "  (first device)" } else { "" };
                println!(
                    "{}  {}  {seen}{role}",
                    text::short(&d.peer_id),
                    clean_line(&d.name)
                );
            }
            Ok(())
        }
        DeviceCommand::Rename { name } => {
            let v: ListChanged = Client::for_home(home)?
                .post("/v1/devices/rename", &RenameBody { name })
                .await?;
            changed("renamed", &v, json)
        }
        DeviceCommand::Revoke { device } => {
            let v: ListChanged = Client::for_home(home)?
                .post("/v1/devices/revoke", &RevokeBody { device })
                .await?;
            changed("revoked", &v, json)
        }
    }
}

fn changed(what: &str, v: &ListChanged, json: bool) -> anyhow::Result<()> {
    if json {
        return print::json_sorted(v);
    }
    println!("{what} (device list version {})", v.version);
    Ok(())
}

async fn join(home: &Path, code: &str, name: &str, history: u32, json: bool) -> anyhow::Result<()> {
    let h = Home::new(home);
    let joined = weft_node::device::join(&h, code, name, history)
        .await
        .map_err(|e| {
            let kind = match &e {
                JoinError::Code(_) => Kind::Invalid,
                JoinError::Home(weft_node::NodeError::IdentityExists(_)) => Kind::Conflict,
                JoinError::Home(_) | JoinError::Store(_) => Kind::Internal,
                JoinError::Unreachable(_) => Kind::Unreachable,
                JoinError::Refused(_) | JoinError::Bad(_) => Kind::Forbidden,
            };
            anyhow::Error::new(CliError::new(kind, e.to_string()))
        })?;
    let peer = weft_node::device::peer_of(&joined.cert.body.device_key)
        .map(|p| p.to_string())
        .unwrap_or_default();
    if json {
        return print::json_sorted(&JoinedView {
            account_id: joined.account.to_string(),
            peer_id: peer,
            home: home.display().to_string(),
            devices: joined.list.body.devices.len(),
        });
    }
    println!("joined {} as a new device", clean_line(&joined.name));
    println!("account  {}", joined.account);
    println!("peer     {peer}");
    println!("next: weft --home {} up", home.display());
    Ok(())
}
