//! Turning a user's bytes into an encrypted file: read segment by segment
//! (never the whole file in memory), seal each under the attachment's fresh
//! key, write the ciphertext to a temporary file, then name it by its
//! manifest's id. The plaintext's first and last bytes are kept aside for
//! the MIME type and a voice note's duration.

use std::io::Write;

use tokio::io::{AsyncRead, AsyncReadExt};
use weft_protocol::file::{self, FileId, FileManifest, MAX_FILE, SEGMENT};

use super::{blocking, disk, Files, FilesError};

/// Plaintext kept from each end of a file (MIME type, duration).
pub(super) const ENDS: usize = 64 * 1024;

/// A file staged here, ready to be attached.
pub(super) struct Staged {
    pub file: FileId,
    pub key: [u8; 32],
    /// Plaintext bytes.
    pub size: u64,
    /// The first [`ENDS`] plaintext bytes.
    pub head: Vec<u8>,
    /// The last [`ENDS`] plaintext bytes.
    pub tail: Vec<u8>,
}

/// Reads until `buf` is full or the input ends; the bytes read.
async fn fill<R: AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]).await? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

impl Files {
    /// Encrypts everything `input` yields into a new file of ours (durable
    /// when this returns).
    pub(super) async fn stage<R: AsyncRead + Unpin>(
        &self,
        mut input: R,
    ) -> Result<Staged, FilesError> {
        let key = file::new_key()?;
        let mut rnd = [0u8; 8];
        getrandom::fill(&mut rnd).map_err(|e| FilesError::Io(e.to_string()))?;
        let tmp = self
            .inner
            .dir
            .join(format!("staging-{}", weft_protocol::hex::encode(&rnd)));
        let result = self.stage_into(&mut input, &key, &tmp).await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }

    async fn stage_into<R: AsyncRead + Unpin>(
        &self,
        input: &mut R,
        key: &[u8; 32],
        tmp: &std::path::Path,
    ) -> Result<Staged, FilesError> {
        let mut out =
            std::io::BufWriter::with_capacity(2 * file::FILE_CHUNK, std::fs::File::create(tmp)?);
        let mut hashes = Vec::new();
        let mut head = Vec::new();
        let mut tail: Vec<u8> = Vec::new();
        let mut size = 0u64;
        let mut index = 0u64;
        let mut buf = vec![0u8; SEGMENT];
        loop {
            buf.resize(SEGMENT, 0);
            let n = fill(input, &mut buf).await?;
            buf.truncate(n);
            if n == 0 && index > 0 {
                break; // the last segment was full: no empty one after it
            }
            size += n as u64;
            if size > MAX_FILE {
                return Err(FilesError::File(file::FileError::TooLarge(size)));
            }
            if head.len() < ENDS {
                let take = (ENDS - head.len()).min(n);
                head.extend_from_slice(&buf[..take]);
            }
            tail.extend_from_slice(&buf);
            if tail.len() > ENDS {
                tail.drain(..tail.len() - ENDS);
            }
            // Seal and hash on the blocking pool: CPU work of a whole chunk.
            let (sealed, hash) = blocking({
                let key = *key;
                let mut b = std::mem::take(&mut buf);
                move || {
                    file::seal_segment(&key, index, &mut b).map(|()| {
                        let h = *blake3::hash(&b).as_bytes();
                        (b, h)
                    })
                }
            })
            .await?;
            out.write_all(&sealed)?;
            hashes.push(hash);
            buf = sealed;
            index += 1;
            if n < SEGMENT {
                break;
            }
        }
        let f = out
            .into_inner()
            .map_err(|e| FilesError::Io(e.to_string()))?;
        let m = FileManifest {
            size: file::cipher_size(size),
            chunks: hashes,
        };
        let id = m.id();
        let dest = disk::path(&self.inner.dir, &id);
        blocking(move || f.sync_all()).await?;
        tokio::fs::rename(tmp, &dest).await?;
        let store = &self.inner.ctx.store;
        store.put_file_manifest(&m)?;
        store.update_file_state(&id, |s| {
            s.complete = true;
            s.own = true;
            s.size = m.size;
        })?;
        store.flush_async().await?;
        Ok(Staged {
            file: id,
            key: *key,
            size,
            head,
            tail,
        })
    }
}
