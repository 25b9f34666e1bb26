//! The answering side of `/weft/profile/1`: our signed profile while the
//! radar is on, `Hidden` otherwise. Anyone may ask (that is the point of the
//! radar), so the answer carries only what the user chose to show, and
//! nothing finer than the geohash cell.

use weft_protocol::{profile::ProfileReply, Kind};

use super::Nearby;
use crate::net::InboundRequest;

impl Nearby {
    /// Answers `/weft/profile/1`.
    pub async fn handle_inbound(&self, _req: &InboundRequest) -> Option<Vec<u8>> {
        let s = self.settings();
        let reply = if self.is_on(&s) {
            match self.profile_for(&s).await {
                Ok(p) => ProfileReply::Visible(Box::new(p)),
                Err(_) => ProfileReply::Hidden,
            }
        } else {
            ProfileReply::Hidden
        };
        weft_protocol::encode(Kind::ProfileReply, &reply).ok()
    }
}
