//! `/weft/device/1`: the peer's side.

use weft_protocol::device::{DeviceReply, DeviceRequest};
use weft_protocol::Kind;

use super::{peer_of, Devices};
use crate::net::InboundRequest;

impl Devices {
    /// Answers a `/weft/device/1` request; `None` drops it.
    pub async fn handle_inbound(&self, req: &InboundRequest) -> Option<Vec<u8>> {
        let ask: DeviceRequest = weft_protocol::decode(Kind::DeviceRequest, &req.data).ok()?;
        let reply = match ask {
            DeviceRequest::Join { code, msg1 } => self.on_join(req.peer, code, &msg1).await,
            other => self.answer_own_device(req.peer, other).await?,
        };
        weft_protocol::encode(Kind::DeviceReply, &reply).ok()
    }

    /// A request only our account's devices may make.
    async fn answer_own_device(
        &self,
        peer: libp2p::PeerId,
        ask: DeviceRequest,
    ) -> Option<DeviceReply> {
        let list = self.own_list().ok().flatten()?;
        let device = list
            .body
            .devices
            .iter()
            .find(|d| peer_of(&d.device_key) == Some(peer))
            .map(|d| d.device_key);
        let refused = |reason: &str| DeviceReply::Refused {
            reason: reason.to_string(),
        };
        Some(match (ask, device) {
            // A pushed list is checked on its own: the account signed it,
            // whoever hands it over (a revoked device learns it this way).
            (DeviceRequest::List(l), _) => match self.take_list(&l) {
                Ok(_) => DeviceReply::Done,
                Err(e) => refused(&e.to_string()),
            },
            (_, None) => refused("not a device of this account"),
            (DeviceRequest::GetList, Some(_)) => DeviceReply::List(list),
            (DeviceRequest::Rename { name }, Some(key)) => {
                match self.rename_device(key, &name).await {
                    Ok(l) => DeviceReply::List(l),
                    Err(e) => refused(&e.to_string()),
                }
            }
            (DeviceRequest::Join { .. }, Some(_)) => refused("already a device of this account"),
            (DeviceRequest::Contacts, Some(_)) => self.answer_contacts(),
            (DeviceRequest::History { conv, keep, after }, Some(_)) => {
                self.answer_history(conv, keep, after)
            }
            (DeviceRequest::Groups, Some(_)) => self.answer_groups(),
            (DeviceRequest::GroupHistory { group, keep, after }, Some(_)) => {
                self.answer_group_history(group, keep, after)
            }
        })
    }
}
