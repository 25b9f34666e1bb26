//! Reading a complete file back as plaintext, chunk by chunk (a 4 GiB file
//! is never in memory): each chunk is checked against the manifest and
//! opened with the attachment's key; a chunk that does not open stops the
//! read with an error, so a wrong key never yields bytes.

use std::fs::File;

use weft_protocol::file::{open_segment, Attachment, FileError, FileManifest};

use super::{blocking, disk, Files, FilesError};

/// The plaintext of a file, one chunk at a time. Blocking: run it on the
/// blocking pool.
pub struct PlainChunks {
    file: File,
    manifest: FileManifest,
    key: [u8; 32],
    next: usize,
    plain: u64,
    seen: u64,
}

impl PlainChunks {
    /// The next plaintext chunk; `None` at the end.
    pub fn next_chunk(&mut self) -> Option<Result<Vec<u8>, FilesError>> {
        let i = self.next;
        if i >= self.manifest.chunks.len() {
            return None;
        }
        self.next += 1;
        Some(self.read(i))
    }

    fn read(&mut self, i: usize) -> Result<Vec<u8>, FilesError> {
        let len = self.manifest.chunk_len(i);
        let mut buf = disk::read_chunk(&self.file, i, len)?.ok_or(FilesError::NotHere)?;
        self.manifest.check_chunk(i, &buf)?;
        open_segment(&self.key, i as u64, &mut buf)?;
        self.seen += buf.len() as u64;
        if self.seen > self.plain
            || (self.next == self.manifest.chunks.len() && self.seen != self.plain)
        {
            return Err(
                FileError::BadAttachment("the file is not the size its message announced").into(),
            );
        }
        Ok(buf)
    }
}

impl Files {
    /// The plaintext of a complete attachment, to be read chunk by chunk.
    pub fn open_plain(&self, att: &Attachment) -> Result<PlainChunks, FilesError> {
        if !self.local(&att.file) {
            return Err(FilesError::NotHere);
        }
        let m = self
            .inner
            .ctx
            .store
            .file_manifest(&att.file)?
            .ok_or(FilesError::NotHere)?;
        if !m.fits(att.size) {
            return Err(
                FileError::BadAttachment("the file is not the size its message announced").into(),
            );
        }
        let file = File::open(disk::path(&self.inner.dir, &att.file))?;
        Ok(PlainChunks {
            file,
            manifest: m,
            key: att.key,
            next: 0,
            plain: att.size,
            seen: 0,
        })
    }

    /// After a download: opens the first chunk with the key (a key that
    /// does not open is found now, not at save time) and records the MIME
    /// type its bytes show.
    pub(super) async fn check_downloaded(&self, att: &Attachment) -> Result<(), FilesError> {
        let mut chunks = self.open_plain(att)?;
        let head = blocking(move || chunks.next_chunk().transpose())
            .await?
            .unwrap_or_default();
        let sniffed = crate::media::sniff_mime(&head);
        self.inner
            .ctx
            .store
            .update_file_state(&att.file, |s| s.sniffed = Some(sniffed.clone()))?;
        Ok(())
    }
}
