//! Length-prefixed frames for Weft's stream protocols: a 4-byte big-endian
//! length, then that many bytes. The length is checked against the caller's
//! limit before anything is buffered, and the buffer grows only as bytes
//! arrive: a hostile peer that declares a large frame and sends nothing
//! costs us nothing, instead of the whole declared length at once.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

/// Reads one length-prefixed frame of at most `limit` bytes.
pub async fn read_frame<T: AsyncRead + Unpin>(io: &mut T, limit: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    read_frame_into(io, limit, &mut buf).await?;
    Ok(buf)
}

/// [`read_frame`] into `buf`, which grows with the bytes that arrived, never
/// to the declared length ahead of them.
async fn read_frame_into<T: AsyncRead + Unpin>(
    io: &mut T,
    limit: usize,
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the {limit}-byte limit"),
        ));
    }
    io.take(len as u64).read_to_end(buf).await?;
    if buf.len() != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("frame ended after {} of {len} bytes", buf.len()),
        ));
    }
    Ok(())
}

/// Writes one length-prefixed frame, in one write: the length and the
/// bytes leave in one stream frame (two writes would be two Yamux frames,
/// and two Noise frames, for every request and answer).
pub async fn write_frame<T: AsyncWrite + Unpin>(io: &mut T, bytes: &[u8]) -> io::Result<()> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    let mut frame = Vec::with_capacity(4 + bytes.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(bytes);
    io.write_all(&frame).await?;
    io.flush().await
}

/// Request-response codec for protocols whose messages are opaque bytes
/// (already encrypted or enveloped by the service that owns the protocol).
#[derive(Clone, Copy, Debug)]
pub struct BytesCodec {
    /// Largest request accepted.
    pub max_request: usize,
    /// Largest response accepted.
    pub max_response: usize,
}

impl libp2p::request_response::Codec for BytesCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_request).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_response).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res).await?;
        io.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Defect 13: a frame that declares 8 MiB and carries 10 bytes is an
    /// error, and the buffer never grew towards the declared length.
    #[tokio::test]
    async fn a_declared_length_is_not_allocated_before_the_bytes_arrive() {
        let mut wire = (8u32 << 20).to_be_bytes().to_vec();
        wire.extend_from_slice(&[7; 10]);
        let mut io = futures::io::Cursor::new(wire);
        let mut buf = Vec::new();
        let r = read_frame_into(&mut io, 16 << 20, &mut buf).await;
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        assert!(
            buf.capacity() < 64 * 1024,
            "buffered {} bytes",
            buf.capacity()
        );

        let mut io = futures::io::Cursor::new(frame_bytes(b"whole"));
        assert_eq!(read_frame(&mut io, 16).await.unwrap(), b"whole");
        let mut io = futures::io::Cursor::new(frame_bytes(&[0; 17]));
        assert!(read_frame(&mut io, 16).await.is_err());
    }

    fn frame_bytes(body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }
}
