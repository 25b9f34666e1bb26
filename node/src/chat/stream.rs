//! Chat sessions kept on a stream (`/weft/chat-stream/1`).
//!
//! A delivery in a kept Noise session (`session.rs`) is one request and one
//! answer. Sent as a `/weft/chat/1` request, each opens a new stream and
//! passes through both nodes' swarm tasks; on a kept stream it is one frame
//! each way, written and read by the delivery worker on one side and by a
//! task of this module on the other. The frames are the `/weft/chat/1`
//! ones (an encoded [`ChatRequest`], an encoded [`ChatReply`]), one request
//! answered before the next, so what a delivery means (exactly once, in
//! order, persisted before acknowledged) does not depend on how it travels.
//!
//! A stream lives only while it is used: the responder closes one that
//! carried nothing for [`IDLE`] (an open stream keeps its connection
//! open, and idle connections are meant to close), the sender stops using
//! one after [`SENDER_IDLE`], well before, and any error ends it on either
//! side. The sender then opens another; if it cannot, the delivery goes as a
//! `/weft/chat/1` request as before. Streams are capped in number, in all
//! and per peer, and every read and write has a deadline.
//!
//! [`ChatRequest`]: weft_protocol::chat::ChatRequest
//! [`ChatReply`]: weft_protocol::chat::ChatReply

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{AsyncRead, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::PeerId;
use tokio::sync::Semaphore;

use super::Chat;
use crate::net::behaviour::{CHAT_STREAM_PROTOCOL, MAX_CHAT_FRAME};
use crate::net::frame::{read_frame, write_frame};

/// The responder closes a stream that carried no request for this long.
pub(super) const IDLE: Duration = Duration::from_secs(20);
/// The sender opens a new stream rather than use one idle this long (well
/// inside [`IDLE`], so it never writes into one the responder is closing).
pub(super) const SENDER_IDLE: Duration = Duration::from_secs(10);
/// How long opening a stream may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one request may take to be answered (as `/weft/chat/1`'s).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);
/// How long writing one frame may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Streams the responder serves at once, in all.
const MAX_STREAMS: usize = 256;
/// Streams the responder serves at once for one peer (one per session a
/// device sends in; a few more cover restarts).
const MAX_STREAMS_PER_PEER: usize = 4;

/// The sender's stream of one kept session.
pub(super) struct KeptStream {
    stream: libp2p::Stream,
    last_used: Instant,
}

/// Why a round on a kept stream did not complete.
#[derive(Debug, thiserror::Error)]
pub(super) enum StreamError {
    /// No stream could be opened (the peer does not speak the protocol, is
    /// not connected, or took too long): nothing was sent.
    #[error("no chat stream: {0}")]
    Unavailable(String),
    /// The stream failed after the request may have been sent.
    #[error("chat stream failed: {0}")]
    Broken(String),
}

impl Chat {
    /// One request on the stream kept with `peer` (opened if there is none
    /// or it sat idle); its answer. Any failure ends the stream.
    pub(super) async fn stream_round(
        &self,
        kept: &mut Option<KeptStream>,
        peer: PeerId,
        request: &[u8],
    ) -> Result<Vec<u8>, StreamError> {
        // A stream idle too long is dropped (the responder may be closing it).
        let k = match kept.take().filter(|k| k.last_used.elapsed() < SENDER_IDLE) {
            Some(k) => kept.insert(k),
            None => {
                let mut control = self.net().streams();
                let open = control.open_stream(peer, CHAT_STREAM_PROTOCOL);
                let stream = match tokio::time::timeout(OPEN_TIMEOUT, open).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => return Err(StreamError::Unavailable(e.to_string())),
                    Err(_) => return Err(StreamError::Unavailable("timed out".into())),
                };
                kept.insert(KeptStream {
                    stream,
                    last_used: Instant::now(),
                })
            }
        };
        let answer = async {
            write_frame(&mut k.stream, request).await?;
            read_frame(&mut k.stream, MAX_CHAT_FRAME).await
        };
        match tokio::time::timeout(ANSWER_TIMEOUT, answer).await {
            Ok(Ok(a)) => {
                k.last_used = Instant::now();
                Ok(a)
            }
            Ok(Err(e)) => {
                *kept = None;
                Err(StreamError::Broken(e.to_string()))
            }
            Err(_) => {
                *kept = None;
                Err(StreamError::Broken("no answer in time".into()))
            }
        }
    }

    /// Accepts `/weft/chat-stream/1` streams until the node stops, each
    /// served by its own task within the caps.
    pub(super) fn spawn_stream_server(&self) {
        let mut control = self.net().streams();
        let mut incoming = match control.accept(CHAT_STREAM_PROTOCOL) {
            Ok(i) => i,
            Err(e) => {
                tracing::error!(error = %e, "cannot accept chat streams");
                return;
            }
        };
        let chat = self.clone();
        let mut shutdown = self.inner.ctx.shutdown.clone();
        let all = Arc::new(Semaphore::new(MAX_STREAMS));
        let per_peer: Arc<Mutex<HashMap<PeerId, usize>>> = Arc::default();
        tokio::spawn(async move {
            loop {
                let (peer, stream) = tokio::select! {
                    s = incoming.next() => match s { Some(s) => s, None => return },
                    _ = shutdown.wait_for(|s| *s) => return,
                };
                let Ok(permit) = all.clone().try_acquire_owned() else {
                    tracing::debug!(%peer, "too many chat streams; refusing one");
                    continue; // dropping it resets the stream
                };
                let Some(slot) = PeerSlot::take(&per_peer, peer) else {
                    tracing::debug!(%peer, "peer has too many chat streams; refusing one");
                    continue;
                };
                let chat = chat.clone();
                tokio::spawn(async move {
                    chat.serve_stream(peer, stream).await;
                    drop((permit, slot));
                });
            }
        });
    }

    /// Answers requests on one stream, one after the other, until the peer
    /// closes it, sends something we drop, or lets it sit idle.
    pub(super) async fn serve_stream<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        peer: PeerId,
        mut io: S,
    ) {
        loop {
            let request =
                match tokio::time::timeout(IDLE, read_frame(&mut io, MAX_CHAT_FRAME)).await {
                    Ok(Ok(r)) => r,
                    // Closed, garbage, too large, or idle: the stream ends.
                    Ok(Err(_)) | Err(_) => break,
                };
            let Some(answer) = self.on_delivery(peer, &request).await else {
                break;
            };
            match tokio::time::timeout(WRITE_TIMEOUT, write_frame(&mut io, &answer)).await {
                Ok(Ok(())) => {}
                _ => break,
            }
        }
        let _ = tokio::time::timeout(WRITE_TIMEOUT, io.close()).await;
    }
}

/// One of a peer's stream slots, given back when dropped.
struct PeerSlot {
    peers: Arc<Mutex<HashMap<PeerId, usize>>>,
    peer: PeerId,
}

impl PeerSlot {
    fn take(peers: &Arc<Mutex<HashMap<PeerId, usize>>>, peer: PeerId) -> Option<Self> {
        let mut m = peers.lock().ok()?;
        let n = m.entry(peer).or_insert(0);
        if *n >= MAX_STREAMS_PER_PEER {
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            peers: peers.clone(),
            peer,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        if let Ok(mut m) = self.peers.lock() {
            if let Some(n) = m.get_mut(&self.peer) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&self.peer);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_gets_at_most_its_share_of_streams_and_gets_them_back() {
        let peers: Arc<Mutex<HashMap<PeerId, usize>>> = Arc::default();
        let (p, q) = (PeerId::random(), PeerId::random());
        let mut held: Vec<PeerSlot> = (0..MAX_STREAMS_PER_PEER)
            .map(|_| PeerSlot::take(&peers, p).expect("within the share"))
            .collect();
        assert!(
            PeerSlot::take(&peers, p).is_none(),
            "one more than the share"
        );
        let other = PeerSlot::take(&peers, q).expect("another peer is not affected");
        held.pop();
        assert!(
            PeerSlot::take(&peers, p).is_some(),
            "a closed stream frees its slot"
        );
        drop(held);
        drop(other);
        assert!(
            peers.lock().unwrap().is_empty(),
            "nothing left once all are closed"
        );
    }
}
