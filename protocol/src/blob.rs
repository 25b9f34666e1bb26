//! Content-addressed blobs: images for posts and broadcasts, later files.
//!
//! A blob is cut into fixed-size chunks of [`CHUNK_SIZE`] bytes; each chunk
//! is named by its BLAKE3 hash, and the blob by the BLAKE3 hash of its
//! [`Manifest`] (size + chunk hashes). Anyone holding chunks can serve them
//! over `/weft/blob/1`; a fetcher checks every chunk against the manifest,
//! so a bad holder is detected chunk by chunk and another holder is asked.
//! The layer moves opaque bytes: private content is encrypted before it is
//! chunked (its key travels inside the encrypted post), public content is not.

use serde::{Deserialize, Serialize};

/// Bytes per chunk (the last one may be shorter).
pub const CHUNK_SIZE: usize = 256 * 1024;
/// Largest blob accepted.
pub const MAX_BLOB: usize = 16 * 1024 * 1024;

/// A blob id: BLAKE3 of the canonical manifest.
pub type BlobId = [u8; 32];

/// What a blob is made of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Total size in bytes.
    pub size: u64,
    /// BLAKE3 of each chunk, in order.
    pub chunks: Vec<[u8; 32]>,
}

/// Why blob data was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BlobError {
    /// Larger than [`MAX_BLOB`].
    #[error("blob is {0} bytes; the limit is {MAX_BLOB}")]
    TooLarge(u64),
    /// Manifest inconsistent with its size, or not matching the id.
    #[error("manifest does not match the blob id or its own size")]
    BadManifest,
    /// A chunk does not hash to what the manifest says.
    #[error("chunk {0} is corrupt")]
    BadChunk(usize),
}

impl Manifest {
    /// Splits `data` into chunks; returns the manifest and the chunks.
    pub fn build(data: &[u8]) -> Result<(Manifest, Vec<Vec<u8>>), BlobError> {
        if data.len() > MAX_BLOB {
            return Err(BlobError::TooLarge(data.len() as u64));
        }
        let chunks: Vec<Vec<u8>> = data.chunks(CHUNK_SIZE).map(<[u8]>::to_vec).collect();
        let m = Manifest {
            size: data.len() as u64,
            chunks: chunks.iter().map(|c| *blake3::hash(c).as_bytes()).collect(),
        };
        Ok((m, chunks))
    }

    /// The blob id.
    pub fn id(&self) -> BlobId {
        *blake3::hash(&postcard::to_stdvec(self).unwrap_or_default()).as_bytes()
    }

    /// Checks the manifest is well-formed and is the one `id` names.
    pub fn check(&self, id: &BlobId) -> Result<(), BlobError> {
        if self.size > MAX_BLOB as u64 {
            return Err(BlobError::TooLarge(self.size));
        }
        let expected = self.size.div_ceil(CHUNK_SIZE as u64) as usize;
        if self.chunks.len() != expected || self.id() != *id {
            return Err(BlobError::BadManifest);
        }
        Ok(())
    }

    /// Checks chunk `i`'s bytes (hash and length). Safe on a manifest that
    /// was never [`check`](Self::check)ed: a size that disagrees with the
    /// chunk count refuses the chunk instead of overflowing (found by the
    /// `blob` fuzz target).
    pub fn check_chunk(&self, i: usize, data: &[u8]) -> Result<(), BlobError> {
        let Some(hash) = self.chunks.get(i) else {
            return Err(BlobError::BadChunk(i));
        };
        let want_len = if i + 1 == self.chunks.len() {
            let start = (i as u64).saturating_mul(CHUNK_SIZE as u64);
            self.size.checked_sub(start)
        } else {
            Some(CHUNK_SIZE as u64)
        };
        if want_len == Some(data.len() as u64) && blake3::hash(data).as_bytes() == hash {
            Ok(())
        } else {
            Err(BlobError::BadChunk(i))
        }
    }
}

/// `/weft/blob/1` requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlobRequest {
    /// The manifest of a blob.
    Manifest(BlobId),
    /// One chunk, by its hash.
    Chunk([u8; 32]),
}

/// `/weft/blob/1` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlobReply {
    /// The manifest.
    Manifest(Manifest),
    /// The chunk bytes.
    Chunk(#[serde(with = "crate::bytes")] Vec<u8>),
    /// Not held here.
    Missing,
}

/// Hex form of a blob id.
pub fn blob_hex(id: &BlobId) -> String {
    crate::hex::encode(id)
}

/// Parses the hex form of a blob id.
pub fn parse_blob_hex(s: &str) -> Option<BlobId> {
    crate::hex::decode_array(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hostile manifest whose size disagrees with its chunk list (never
    /// `check`ed) must refuse chunks, not overflow: the `blob` fuzz target's
    /// first find.
    #[test]
    fn a_manifest_with_an_inconsistent_size_refuses_chunks() {
        let m = Manifest {
            size: 0,
            chunks: vec![[0; 32], *blake3::hash(b"").as_bytes()],
        };
        assert_eq!(m.check_chunk(1, b""), Err(BlobError::BadChunk(1)));
        assert_eq!(
            m.check_chunk(usize::MAX, b""),
            Err(BlobError::BadChunk(usize::MAX))
        );
        let last = Manifest {
            size: 3,
            chunks: vec![*blake3::hash(b"abc").as_bytes()],
        };
        assert_eq!(last.check_chunk(0, b"abc"), Ok(()));
    }

    #[test]
    fn build_check_and_detect_corruption() {
        let data: Vec<u8> = (0..(CHUNK_SIZE * 2 + 10))
            .map(|i| (i % 251) as u8)
            .collect();
        let (m, chunks) = Manifest::build(&data).unwrap();
        assert_eq!(chunks.len(), 3);
        m.check(&m.id()).unwrap();
        for (i, c) in chunks.iter().enumerate() {
            m.check_chunk(i, c).unwrap();
        }
        let mut bad = chunks[1].clone();
        bad[7] ^= 1;
        assert_eq!(m.check_chunk(1, &bad), Err(BlobError::BadChunk(1)));
        assert!(m.check(&[0; 32]).is_err());
        let mut lying = m.clone();
        lying.size += CHUNK_SIZE as u64;
        assert!(lying.check(&lying.id()).is_err());
        assert!(Manifest::build(&vec![0; MAX_BLOB + 1]).is_err());
        assert_eq!(parse_blob_hex(&blob_hex(&m.id())), Some(m.id()));
    }
}
