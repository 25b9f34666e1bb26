//! The application request-response protocols ([`AppProtocol`]): our
//! requests to peers wait for their response in a capped map; peers'
//! requests go to the services' queue and wait for [`super::Net::respond`]
//! or [`super::Net::decline`].

use std::time::{Duration, Instant};

use libp2p::{request_response, PeerId};

use super::event_loop::{EventLoop, ResponseReply};
use super::{AppProtocol, InboundRequest, NetError};
use crate::log_limit::LogLimit;

/// Warnings about peers' requests we drop (a flood would write one each).
static DROPPED: LogLimit = LogLimit::new();

/// How long a request may wait for libp2p to report its response or its
/// failure: past the longest protocol timeout (60 s, files), with margin.
pub(super) const REQUEST_DEADLINE: Duration = Duration::from_secs(75);

impl EventLoop {
    /// Sends a request; `reply` gets the response or why none came.
    pub(super) fn request(
        &mut self,
        protocol: AppProtocol,
        peer: PeerId,
        data: Vec<u8>,
        reply: ResponseReply,
    ) {
        if let Err(full) = self.requests.room() {
            let _ = reply.send(Err(full.into()));
            return;
        }
        let b = self.swarm.behaviour_mut();
        let id = match protocol {
            AppProtocol::Chat => b.chat.send_request(&peer, data),
            AppProtocol::Mailbox => b.mailbox.send_request(&peer, data),
            AppProtocol::Profile => b.profile.send_request(&peer, data),
            AppProtocol::Oa => b.oa.send_request(&peer, data),
            AppProtocol::Blob => b.blob.send_request(&peer, data),
            AppProtocol::Sync => b.sync.send_request(&peer, data),
            AppProtocol::Group => b.group.send_request(&peer, data),
            AppProtocol::File => b.file.send_request(&peer, data),
            AppProtocol::Device => b.device.send_request(&peer, data),
            AppProtocol::Mint => b.mint.send_request(&peer, data),
        };
        let entry = (peer, Instant::now(), reply);
        if let Err((full, (_, _, reply))) = self.requests.insert((protocol, id), entry) {
            let _ = reply.send(Err(full.into()));
        }
    }

    /// Answers requests that have waited past [`REQUEST_DEADLINE`] with an
    /// error: libp2p reports a response or a failure for each, but a caller
    /// (a delivery worker) must never wait for ever if neither comes.
    pub(super) fn expire_requests(&mut self) {
        let late = self
            .requests
            .take_where(|(_, at, _)| at.elapsed() >= REQUEST_DEADLINE);
        for ((protocol, _), (peer, _, reply)) in late {
            tracing::debug!(%peer, ?protocol, "request unanswered past the deadline");
            let _ = reply.send(Err(NetError::Request {
                peer,
                reason: format!("no answer in {} s", REQUEST_DEADLINE.as_secs()),
            }));
        }
    }

    /// Sends a service's answer to an inbound request (if it still waits).
    pub(super) fn respond(&mut self, protocol: AppProtocol, responder: u64, data: Vec<u8>) {
        let Some(ch) = self.responders.remove(&(protocol, responder)) else {
            return;
        };
        let b = self.swarm.behaviour_mut();
        let _ = match protocol {
            AppProtocol::Chat => b.chat.send_response(ch, data),
            AppProtocol::Mailbox => b.mailbox.send_response(ch, data),
            AppProtocol::Profile => b.profile.send_response(ch, data),
            AppProtocol::Oa => b.oa.send_response(ch, data),
            AppProtocol::Blob => b.blob.send_response(ch, data),
            AppProtocol::Sync => b.sync.send_response(ch, data),
            AppProtocol::Group => b.group.send_response(ch, data),
            AppProtocol::File => b.file.send_response(ch, data),
            AppProtocol::Device => b.device.send_response(ch, data),
            AppProtocol::Mint => b.mint.send_response(ch, data),
        };
    }

    pub(super) fn on_app_event(
        &mut self,
        protocol: AppProtocol,
        ev: request_response::Event<Vec<u8>, Vec<u8>>,
    ) {
        match ev {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => self.on_inbound(protocol, peer, request, channel),
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some((_, _, reply)) = self.requests.remove(&(protocol, request_id)) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some((_, _, reply)) = self.requests.remove(&(protocol, request_id)) {
                    let _ = reply.send(Err(NetError::Request {
                        peer,
                        reason: error.to_string(),
                    }));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, ?protocol, error = %error, "inbound request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    /// Hands a peer's request to the services, keeping its channel for the answer.
    fn on_inbound(
        &mut self,
        protocol: AppProtocol,
        peer: PeerId,
        data: Vec<u8>,
        channel: request_response::ResponseChannel<Vec<u8>>,
    ) {
        if self.responders.room().is_err() {
            if let Some(suppressed) = DROPPED.allow() {
                tracing::warn!(%peer, suppressed, "too many requests waiting; dropping one");
            }
            return; // dropping the channel tells the peer to retry later
        }
        self.next_responder += 1;
        let responder = self.next_responder;
        let req = InboundRequest {
            protocol,
            peer,
            data,
            responder,
        };
        match self.inbound.try_send(req) {
            Ok(()) => {
                // Room was checked above, so this cannot be refused; if it
                // were, dropping the channel would tell the peer to retry.
                let _ = self.responders.insert((protocol, responder), channel);
            }
            Err(_) => {
                if let Some(suppressed) = DROPPED.allow() {
                    tracing::warn!(%peer, suppressed, "service queue full; dropping request");
                }
            }
        }
    }
}
