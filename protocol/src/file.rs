//! Attachments: photos, voice notes, videos and files in chats and groups.
//!
//! Each attachment gets a fresh random key. The plaintext is cut into
//! segments of [`SEGMENT`] bytes, each sealed with ChaCha20-Poly1305 under
//! nonce = its index, so every ciphertext chunk is exactly [`FILE_CHUNK`]
//! bytes (the last one shorter). The ciphertext is a content-addressed file
//! blob: its [`FileManifest`] lists the BLAKE3 hash of every chunk and the
//! file's id is the BLAKE3 hash of the manifest. The chat or group message
//! (itself end-to-end encrypted) carries the id, the key, the size and what
//! the file is ([`Attachment`]); whoever stores or relays the chunks sees
//! only ciphertext, and a fetcher checks every chunk against the manifest.
//! Files travel on `/weft/file/1` ([`FileRequest`] / [`FileReply`]).

use chacha20poly1305::{aead::AeadInPlace, ChaCha20Poly1305, KeyInit, Tag};
use serde::{Deserialize, Serialize};

/// Bytes per ciphertext chunk (the last may be shorter).
pub const FILE_CHUNK: usize = 1024 * 1024;
/// The AEAD tag each chunk adds.
pub const TAG: usize = 16;
/// Plaintext bytes per chunk.
pub const SEGMENT: usize = FILE_CHUNK - TAG;
/// Largest attachment (plaintext): 4 GiB.
pub const MAX_FILE: u64 = 4 * 1024 * 1024 * 1024;
/// Most chunks a file may have (a 4 GiB file plus its tags).
pub const MAX_CHUNKS: usize = (MAX_FILE as usize).div_ceil(SEGMENT);
/// Longest file name carried (bytes).
pub const MAX_NAME: usize = 255;
/// Longest MIME type (bytes).
pub const MAX_MIME: usize = 100;
/// Largest inline thumbnail (bytes).
pub const MAX_THUMB: usize = 16 * 1024;
/// Longest caption (bytes).
pub const MAX_CAPTION: usize = 4 * 1024;
/// Largest image side an attachment may state (pixels).
pub const MAX_SIDE: u32 = 100_000;
/// Longest voice note or audio an attachment may state (ms): a day.
pub const MAX_DURATION_MS: u64 = 24 * 3600 * 1000;

// The largest manifest fits in one `/weft/file/1` answer.
const _: () = assert!(MAX_CHUNKS * 32 + 64 < FILE_CHUNK);

/// A file id: BLAKE3 of the canonical manifest.
pub type FileId = [u8; 32];

/// What the ciphertext of a file is made of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileManifest {
    /// Ciphertext size in bytes.
    pub size: u64,
    /// BLAKE3 of each ciphertext chunk, in order.
    pub chunks: Vec<[u8; 32]>,
}

/// The kind of an attachment, as shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttachmentKind {
    /// A photo (a thumbnail travels inline).
    Image,
    /// A voice note (Opus in Ogg or WebM), with its duration.
    Voice,
    /// A video, as recorded.
    Video,
    /// Any other file.
    File,
}

impl AttachmentKind {
    /// Lower-case name (`image`, `voice`, `video`, `file`).
    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentKind::Image => "image",
            AttachmentKind::Voice => "voice",
            AttachmentKind::Video => "video",
            AttachmentKind::File => "file",
        }
    }
}

/// An attachment as a message carries it (inside the encrypted message).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// What it is.
    pub kind: AttachmentKind,
    /// The ciphertext file.
    pub file: FileId,
    /// The file's key (fresh per attachment).
    pub key: [u8; 32],
    /// Plaintext size in bytes.
    pub size: u64,
    /// MIME type, detected from the bytes by the sender.
    pub mime: String,
    /// File name (no directories).
    pub name: String,
    /// A small JPEG (images).
    pub thumb: Option<Vec<u8>>,
    /// Width and height in pixels (images).
    pub dims: Option<(u32, u32)>,
    /// Length in milliseconds (voice notes, audio).
    pub duration_ms: Option<u64>,
}

/// Why file data or an attachment was refused.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum FileError {
    /// Larger than [`MAX_FILE`].
    #[error("file is {0} bytes; the limit is {MAX_FILE}")]
    TooLarge(u64),
    /// Manifest inconsistent with its size, or not the one the id names.
    #[error("manifest does not match the file id or its own size")]
    BadManifest,
    /// A chunk does not hash to what the manifest says.
    #[error("chunk {0} is corrupt")]
    BadChunk(usize),
    /// A chunk does not open with the attachment key.
    #[error("chunk {0} does not open with the attachment key")]
    BadKey(usize),
    /// An attachment field out of bounds.
    #[error("attachment refused: {0}")]
    BadAttachment(&'static str),
    /// The system's random source failed.
    #[error("no randomness: {0}")]
    Random(String),
}

/// Ciphertext size of a file of `plain` bytes.
pub fn cipher_size(plain: u64) -> u64 {
    plain + TAG as u64 * chunk_count(plain) as u64
}

/// Chunks of a file of `plain` bytes (an empty file has one empty segment).
pub fn chunk_count(plain: u64) -> usize {
    (plain.div_ceil(SEGMENT as u64) as usize).max(1)
}

/// A fresh attachment key.
pub fn new_key() -> Result<[u8; 32], FileError> {
    let mut k = [0u8; 32];
    getrandom::fill(&mut k).map_err(|e| FileError::Random(e.to_string()))?;
    Ok(k)
}

fn nonce(index: u64) -> chacha20poly1305::Nonce {
    let mut b = [0u8; 12];
    b[4..].copy_from_slice(&index.to_le_bytes());
    b.into()
}

/// Seals segment `index` in place: `buf` holds the plaintext and grows by
/// [`TAG`] bytes.
pub fn seal_segment(key: &[u8; 32], index: u64, buf: &mut Vec<u8>) -> Result<(), FileError> {
    let tag = ChaCha20Poly1305::new(key.into())
        .encrypt_in_place_detached(&nonce(index), b"weft/file/1", buf)
        .map_err(|_| FileError::BadKey(index as usize))?;
    buf.extend_from_slice(&tag);
    Ok(())
}

/// Opens chunk `index` in place: `buf` holds the ciphertext and shrinks by
/// [`TAG`] bytes.
pub fn open_segment(key: &[u8; 32], index: u64, buf: &mut Vec<u8>) -> Result<(), FileError> {
    let bad = FileError::BadKey(index as usize);
    let at = buf.len().checked_sub(TAG).ok_or_else(|| bad.clone())?;
    let tag = Tag::clone_from_slice(&buf[at..]);
    buf.truncate(at);
    ChaCha20Poly1305::new(key.into())
        .decrypt_in_place_detached(&nonce(index), b"weft/file/1", buf, &tag)
        .map_err(|_| bad)
}

impl FileManifest {
    /// The file id.
    pub fn id(&self) -> FileId {
        *blake3::hash(&postcard::to_stdvec(self).unwrap_or_default()).as_bytes()
    }

    /// Checks the manifest is well formed and is the one `id` names.
    pub fn check(&self, id: &FileId) -> Result<(), FileError> {
        if self.size > cipher_size(MAX_FILE) {
            return Err(FileError::TooLarge(self.size));
        }
        let expected = (self.size.div_ceil(FILE_CHUNK as u64) as usize).max(1);
        if self.chunks.len() != expected || self.id() != *id {
            return Err(FileError::BadManifest);
        }
        Ok(())
    }

    /// Length of chunk `i` (0 when out of range).
    pub fn chunk_len(&self, i: usize) -> usize {
        if i >= self.chunks.len() {
            return 0;
        }
        let start = (i as u64).saturating_mul(FILE_CHUNK as u64);
        self.size.saturating_sub(start).min(FILE_CHUNK as u64) as usize
    }

    /// Checks chunk `i`'s bytes (length and hash). Safe on a manifest that
    /// was never [`check`](Self::check)ed.
    pub fn check_chunk(&self, i: usize, data: &[u8]) -> Result<(), FileError> {
        let Some(hash) = self.chunks.get(i) else {
            return Err(FileError::BadChunk(i));
        };
        if data.len() == self.chunk_len(i) && blake3::hash(data).as_bytes() == hash {
            Ok(())
        } else {
            Err(FileError::BadChunk(i))
        }
    }

    /// The plaintext size this manifest can hold for an attachment of
    /// `plain` bytes: a manifest "lying about sizes" is caught here.
    pub fn fits(&self, plain: u64) -> bool {
        plain <= MAX_FILE && self.size == cipher_size(plain)
    }
}

impl Attachment {
    /// Checks every bound a receiver relies on.
    pub fn check(&self) -> Result<(), FileError> {
        let bad = FileError::BadAttachment;
        if self.size > MAX_FILE {
            return Err(FileError::TooLarge(self.size));
        }
        if self.name.is_empty() || self.name.len() > MAX_NAME {
            return Err(bad("file name empty or too long"));
        }
        if self.name.contains(['/', '\\', '\0']) || self.name == "." || self.name == ".." {
            return Err(bad("file name contains a path"));
        }
        if self.mime.is_empty()
            || self.mime.len() > MAX_MIME
            || !self
                .mime
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/+-.;=_ ".contains(&b))
        {
            return Err(bad("MIME type malformed"));
        }
        if self.thumb.as_ref().is_some_and(|t| t.len() > MAX_THUMB) {
            return Err(bad("thumbnail too large"));
        }
        if self
            .dims
            .is_some_and(|(w, h)| w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE)
        {
            return Err(bad("dimensions out of range"));
        }
        if self.duration_ms.is_some_and(|d| d > MAX_DURATION_MS) {
            return Err(bad("duration out of range"));
        }
        Ok(())
    }
}

/// `/weft/file/1` requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileRequest {
    /// The manifest of a file.
    Manifest(FileId),
    /// One ciphertext chunk.
    Chunk {
        /// The file.
        file: FileId,
        /// Chunk index.
        index: u32,
    },
    /// "Hold this file for people who will fetch it while I am away": the
    /// holder fetches it from the asker, within its quotas.
    Hold {
        /// The file.
        file: FileId,
        /// Its ciphertext size (for the quota check before fetching).
        size: u64,
    },
    /// How much of a file is stored here.
    Have(FileId),
}

/// `/weft/file/1` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileReply {
    /// The manifest.
    Manifest(FileManifest),
    /// The chunk bytes.
    Chunk(#[serde(with = "crate::bytes")] Vec<u8>),
    /// Not stored here.
    Missing,
    /// Accepted to hold (fetching now).
    Holding,
    /// Refused to hold.
    Refused(String),
    /// Chunks stored here, of how many.
    Have {
        /// Chunks stored.
        chunks: u32,
        /// Chunks in the file.
        of: u32,
    },
}

/// Hex form of a file id.
pub fn file_hex(id: &FileId) -> String {
    crate::hex::encode(id)
}

/// The DHT key whose closest peers hold a file for its recipients.
pub fn holder_key(id: &FileId) -> Vec<u8> {
    let mut k = b"/weft/file/".to_vec();
    k.extend_from_slice(id);
    crate::content_id(&k).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest_of(chunks: &[Vec<u8>]) -> FileManifest {
        FileManifest {
            size: chunks.iter().map(|c| c.len() as u64).sum(),
            chunks: chunks.iter().map(|c| *blake3::hash(c).as_bytes()).collect(),
        }
    }

    #[test]
    fn segments_round_trip_and_a_wrong_key_or_index_does_not_open() {
        let key = new_key().unwrap();
        let mut buf = b"hello file".to_vec();
        seal_segment(&key, 3, &mut buf).unwrap();
        assert_eq!(buf.len(), 10 + TAG);
        let sealed = buf.clone();
        open_segment(&key, 3, &mut buf).unwrap();
        assert_eq!(buf, b"hello file");
        let mut other = sealed.clone();
        assert_eq!(open_segment(&key, 4, &mut other), Err(FileError::BadKey(4)));
        let mut other = sealed.clone();
        assert!(open_segment(&new_key().unwrap(), 3, &mut other).is_err());
        let mut short = vec![1u8; 5];
        assert!(open_segment(&key, 0, &mut short).is_err());
    }

    #[test]
    fn sizes_and_manifest_checks() {
        assert_eq!(chunk_count(0), 1);
        assert_eq!(chunk_count(SEGMENT as u64), 1);
        assert_eq!(chunk_count(SEGMENT as u64 + 1), 2);
        assert_eq!(cipher_size(SEGMENT as u64), FILE_CHUNK as u64);
        let chunks = vec![vec![7u8; FILE_CHUNK], vec![9u8; 100]];
        let m = manifest_of(&chunks);
        m.check(&m.id()).unwrap();
        m.check_chunk(0, &chunks[0]).unwrap();
        m.check_chunk(1, &chunks[1]).unwrap();
        assert_eq!(m.check_chunk(1, &chunks[0]), Err(FileError::BadChunk(1)));
        assert_eq!(m.check_chunk(9, &chunks[1]), Err(FileError::BadChunk(9)));
        assert!(m.fits(FILE_CHUNK as u64 + 100 - 2 * TAG as u64));
        assert!(!m.fits(5));
        let mut lying = m.clone();
        lying.size += FILE_CHUNK as u64;
        assert_eq!(lying.check(&lying.id()), Err(FileError::BadManifest));
        assert_eq!(m.check(&[0; 32]), Err(FileError::BadManifest));
        let huge = FileManifest {
            size: u64::MAX,
            chunks: vec![],
        };
        assert!(huge.check(&huge.id()).is_err());
        assert_eq!(huge.chunk_len(0), 0);
    }

    #[test]
    fn attachment_bounds() {
        let good = Attachment {
            kind: AttachmentKind::File,
            file: [1; 32],
            key: [2; 32],
            size: 10,
            mime: "application/pdf".into(),
            name: "report.pdf".into(),
            thumb: None,
            dims: None,
            duration_ms: None,
        };
        good.check().unwrap();
        for name in ["../../etc/passwd", "a/b", "a\\b", "..", "", "x\0"] {
            let a = Attachment {
                name: name.into(),
                ..good.clone()
            };
            assert!(a.check().is_err(), "{name:?}");
        }
        let a = Attachment {
            mime: "text/html\n<script>".into(),
            ..good.clone()
        };
        assert!(a.check().is_err());
        let a = Attachment {
            thumb: Some(vec![0; MAX_THUMB + 1]),
            ..good.clone()
        };
        assert!(a.check().is_err());
        let a = Attachment {
            size: MAX_FILE + 1,
            ..good
        };
        assert!(a.check().is_err());
    }
}
