//! The answering side of `/weft/mint/1`: a request sealed to one of the
//! mints this node runs (Noise IK from the asking device's key), answered
//! by the ledger and sealed back. Requests are bounded by the codec and
//! [`weft_protocol::pay::MintRequest::validate`], and each peer has a
//! budget per minute.

use weft_protocol::{
    pay::{MintAnswer, MintEnvelope, MintRequest},
    seal, Kind,
};

use super::Pay;
use crate::net::InboundRequest;

/// Requests one peer may make of our mints per minute (a wallet makes one
/// or two per payment; a burst of 30 payments fits).
pub(super) const ASKS_PER_MINUTE: u64 = 600;

impl Pay {
    /// Answers `/weft/mint/1`; `None` if the answer cannot be encoded.
    pub async fn handle_inbound(&self, req: &InboundRequest) -> Option<Vec<u8>> {
        let answer = self.answer_wire(req).await;
        weft_protocol::encode(Kind::MintReply, &answer).ok()
    }

    async fn answer_wire(&self, req: &InboundRequest) -> MintAnswer {
        if !self.inner.asks.spend(req.peer, 1) {
            return MintAnswer::Refused("too many requests; try again in a minute".into());
        }
        let env: MintEnvelope = match weft_protocol::decode(Kind::MintRequest, &req.data) {
            Ok(e) => e,
            Err(e) => return MintAnswer::Refused(format!("malformed request: {e}")),
        };
        if !self.runs(&env.mint) {
            return MintAnswer::Refused("this node runs no such mint".into());
        }
        let key = match self.mint_key(&env.mint) {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(error = %e, "cannot load a mint's key");
                return MintAnswer::Refused("the mint is not available".into());
            }
        };
        let (responder, payload, asker) = match seal::respond(&key, &env.msg1) {
            Ok(r) => r,
            Err(_) => return MintAnswer::Refused("cannot open the request".into()),
        };
        let reply = match postcard::from_bytes::<MintRequest>(&payload) {
            Ok(r) => {
                // The ledger writes (sled transactions) off the async threads.
                let me = self.clone();
                let mint = env.mint;
                match tokio::task::spawn_blocking(move || me.answer(&mint, &r, &asker, false)).await
                {
                    Ok(reply) => reply,
                    Err(_) => weft_protocol::pay::MintReply::Refused("the mint failed".into()),
                }
            }
            Err(_) => weft_protocol::pay::MintReply::Refused("malformed request".into()),
        };
        // A spend is durable before it is answered.
        if let Err(e) = self.store().flush_async().await {
            tracing::warn!(error = %e, "cannot flush the mint's ledger");
            return MintAnswer::Refused("the mint could not record it; try again".into());
        }
        let bytes = match postcard::to_stdvec(&reply) {
            Ok(b) => b,
            Err(_) => return MintAnswer::Refused("cannot encode the answer".into()),
        };
        match responder.reply(&bytes) {
            Ok(m2) => MintAnswer::Sealed(m2),
            Err(e) => MintAnswer::Refused(format!("cannot seal the answer: {e}")),
        }
    }
}
