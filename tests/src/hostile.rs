//! Tools for playing a hostile peer in tests: a request-response codec that
//! writes exactly the bytes it is given (so tests can send garbage, oversized
//! or truncated frames) and reads whatever comes back.

use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::{request_response, StreamProtocol};

/// Sends raw bytes as the request; reads the whole answer (up to 2 MiB).
#[derive(Clone, Copy, Debug, Default)]
pub struct RawCodec;

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> std::io::Result<Vec<u8>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        let mut v = Vec::new();
        io.take(2 << 20).read_to_end(&mut v).await?;
        Ok(v)
    }

    async fn read_response<T>(&mut self, p: &StreamProtocol, io: &mut T) -> std::io::Result<Vec<u8>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        self.read_request(p, io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        r: Vec<u8>,
    ) -> std::io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        io.write_all(&r).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        p: &StreamProtocol,
        io: &mut T,
        r: Vec<u8>,
    ) -> std::io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        self.write_request(p, io, r).await
    }
}

/// A Weft frame: 4-byte big-endian length, then the bytes.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

/// The body of a Weft frame (empty if it is too short).
pub fn unframe(v: &[u8]) -> Vec<u8> {
    v.get(4..).unwrap_or_default().to_vec()
}
