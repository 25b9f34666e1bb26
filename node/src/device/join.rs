//! `weft device join CODE`: the new device's side. Runs before the device
//! has a node: makes its key, dials the primary with a one-off swarm,
//! completes the code's handshake and writes the new home.

use std::time::Duration;

use libp2p::Multiaddr;
use weft_protocol::device::{
    link_initiate, validate_device_name, DeviceError, DeviceReply, DeviceRequest, JoinReply,
    JoinRequest, LinkCode,
};
use weft_protocol::Kind;

use super::peer_of;
use crate::error::NodeError;
use crate::home::{Home, Joined};
use crate::net::NetError;
use crate::store::{Store, StoreError};

/// How long the primary may take to answer.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Why joining failed. Nothing is left in the home when it does.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// The code (or the name) is not usable.
    #[error(transparent)]
    Code(#[from] DeviceError),
    /// The home could not be written (or already holds an identity).
    #[error(transparent)]
    Home(#[from] NodeError),
    /// The primary could not be reached.
    #[error("cannot reach the device that made the code: {0}")]
    Unreachable(#[from] NetError),
    /// The primary refused.
    #[error("the device that made the code refused: {0}")]
    Refused(String),
    /// The answer does not check out.
    #[error("the answer does not verify: {0}")]
    Bad(&'static str),
    /// The new store could not be written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Joins the account whose primary made `code`, as a device called `name`;
/// writes `home` (device key, what the primary gave) and returns it.
pub async fn join(home: &Home, code: &str, name: &str, history: u32) -> Result<Joined, JoinError> {
    let code = LinkCode::parse(code)?;
    validate_device_name(name)?;
    let key = home.create_device_key()?;
    let result = ask(home, &code, name.trim(), key, history).await;
    if result.is_err() {
        // Nothing half-made stays behind: the user can try again here.
        home.remove_unjoined_device_key();
    }
    result
}

async fn ask(
    home: &Home,
    code: &LinkCode,
    name: &str,
    key: libp2p::identity::Keypair,
    history: u32,
) -> Result<Joined, JoinError> {
    let my_key = key
        .public()
        .try_into_ed25519()
        .map_err(|_| JoinError::Bad("device key"))?
        .to_bytes();
    let peer = peer_of(&code.device).ok_or(JoinError::Bad("the code names no valid device"))?;
    let addrs: Vec<Multiaddr> = code.addrs.iter().filter_map(|a| a.parse().ok()).collect();
    let payload = weft_protocol::encode(
        Kind::JoinRequest,
        &JoinRequest {
            device_key: my_key,
            name: name.to_string(),
        },
    )
    .map_err(|_| JoinError::Bad("cannot encode the request"))?;
    let (handshake, msg1) = link_initiate(&code.psk(), &payload).map_err(DeviceError::from)?;
    let request = weft_protocol::encode(
        Kind::DeviceRequest,
        &DeviceRequest::Join {
            code: code.id(),
            msg1,
        },
    )
    .map_err(|_| JoinError::Bad("cannot encode the request"))?;
    let answer =
        crate::net::join_dial::device_request(key, peer, addrs, request, JOIN_TIMEOUT).await?;
    let reply: DeviceReply = weft_protocol::decode(Kind::DeviceReply, &answer)
        .map_err(|_| JoinError::Bad("malformed answer"))?;
    let msg2 = match reply {
        DeviceReply::Joined { msg2 } => msg2,
        DeviceReply::Refused { reason } => return Err(JoinError::Refused(reason)),
        _ => return Err(JoinError::Bad("unexpected answer")),
    };
    let reply = handshake.finish(&msg2).map_err(DeviceError::from)?;
    let reply: JoinReply = weft_protocol::decode(Kind::JoinReply, &reply)
        .map_err(|_| JoinError::Bad("malformed answer"))?;
    if reply.cert.verify().is_err() || reply.cert.body.device_key != my_key {
        return Err(JoinError::Bad("the certificate is not for this device"));
    }
    let account = reply.cert.body.account;
    reply.list.verify_for(&account)?;
    if !reply.list.has_device(&my_key) || reply.list.body.primary != code.device {
        return Err(JoinError::Bad("the device list does not hold this device"));
    }
    let joined = Joined {
        account,
        cert: reply.cert,
        list: reply.list,
        name: reply.name,
        primary_addrs: code.addrs.clone(),
        history,
    };
    {
        let store = Store::open(&home.store_dir())?;
        if weft_protocol::validate_name(&joined.name).is_ok() {
            store.set_name(&joined.name)?;
        }
        store.put_device_list(&joined.list)?;
        store.flush_async().await?;
    }
    home.write_joined(&joined)?;
    Ok(joined)
}
