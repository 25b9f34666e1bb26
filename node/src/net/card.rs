//! `/weft/card/1`: a request-response protocol where both sides send their
//! signed [`Card`]. Frames are a 4-byte big-endian length and an envelope;
//! the length is checked against the card limit before any byte is buffered,
//! so an oversized or garbage frame ends that stream with an error and
//! nothing else. [`card_peer`] maps a card to the device (peer id) it
//! certifies.

use std::io;

use futures::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::frame::{read_frame, write_frame};
use libp2p::{identity, PeerId, StreamProtocol};
use weft_protocol::{Card, Kind, CARD_PROTOCOL};

/// The libp2p peer id of the device a card certifies (`None` if its device
/// key is not a valid ed25519 key). Every service that dials a contact, an
/// official account or a nearby person goes through this.
pub fn card_peer(card: &Card) -> Option<PeerId> {
    identity::ed25519::PublicKey::try_from_bytes(&card.device_key())
        .ok()
        .map(|k| identity::PublicKey::from(k).to_peer_id())
}

/// The protocol id.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new(CARD_PROTOCOL);

/// Encodes and decodes cards on a stream.
#[derive(Clone, Copy, Debug, Default)]
pub struct CardCodec;

async fn read_card<T: AsyncRead + Unpin>(io: &mut T) -> io::Result<Card> {
    let bytes = read_frame(io, Kind::Card.max_size()).await?;
    weft_protocol::decode(Kind::Card, &bytes)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

async fn write_card<T: AsyncWrite + Unpin>(io: &mut T, card: &Card) -> io::Result<()> {
    let bytes = weft_protocol::encode(Kind::Card, card)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    write_frame(io, &bytes).await?;
    io.close().await
}

impl libp2p::request_response::Codec for CardCodec {
    type Protocol = StreamProtocol;
    type Request = Card;
    type Response = Card;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Card>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_card(io).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Card>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_card(io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Card,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_card(io, &req).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Card,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_card(io, &res).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::Cursor;

    #[test]
    fn oversized_and_garbage_frames_are_errors() {
        futures::executor::block_on(async {
            let mut big = Cursor::new(u32::MAX.to_be_bytes().to_vec());
            assert!(read_card(&mut big).await.is_err());
            let mut garbage = Vec::new();
            garbage.extend_from_slice(&5u32.to_be_bytes());
            garbage.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0x00]);
            assert!(read_card(&mut Cursor::new(garbage)).await.is_err());
            let mut truncated = Cursor::new(vec![0, 0, 0, 10, 1, 2]);
            assert!(read_card(&mut truncated).await.is_err());
        });
    }
}
