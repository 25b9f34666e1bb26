//! From a user's file to an [`Attachment`], and from a received attachment
//! to a verified download. What the user asked to send (`--image`,
//! `--voice`, `--video`, `--file`) is checked against what the bytes are;
//! images are re-encoded (no EXIF, so no location) unless sent as
//! originals; voice notes keep their bytes and get their duration read.

use libp2p::PeerId;
use tokio::io::{AsyncRead, AsyncReadExt};
use weft_protocol::file::{Attachment, AttachmentKind, MAX_DURATION_MS, MAX_SIDE};

use super::{blocking, Files, FilesError};
use crate::media::{self, MediaKind};

/// Largest image file that is decoded to make its thumbnail and standard
/// version (bigger ones can be sent as files).
pub const MAX_IMAGE_INPUT: usize = 50 * 1024 * 1024;

/// What the user asked to send.
#[derive(Clone, Debug)]
pub struct Outgoing {
    /// As what: image, voice note, video or file.
    pub kind: AttachmentKind,
    /// The file's name (any directories are dropped).
    pub name: String,
    /// Images: send the file as it is (metadata included) instead of the
    /// re-encoded standard version.
    pub original: bool,
}

impl Files {
    /// Encrypts and stores what `input` yields as an attachment of `out`'s
    /// kind, ready to go into a message; refuses bytes that are not of that
    /// kind.
    pub async fn prepare<R: AsyncRead + Unpin + Send>(
        &self,
        out: &Outgoing,
        input: R,
    ) -> Result<Attachment, FilesError> {
        let mut name = media::safe_file_name(&out.name);
        let (staged, thumb, dims) = if out.kind == AttachmentKind::Image {
            let mut bytes = Vec::new();
            input
                .take(MAX_IMAGE_INPUT as u64 + 1)
                .read_to_end(&mut bytes)
                .await?;
            if bytes.len() > MAX_IMAGE_INPUT {
                return Err(FilesError::ImageTooLarge(MAX_IMAGE_INPUT));
            }
            let original = out.original;
            let (body, thumb, dims) = blocking(move || {
                if original {
                    media::thumbnail(&bytes).map(|(t, w, h)| (bytes, t, (w, h)))
                } else {
                    media::prepare_image(&bytes).map(|v| (v.standard, v.thumb, (v.width, v.height)))
                }
            })
            .await?;
            if !original {
                name = jpeg_name(&name);
            }
            // Dimensions receivers would refuse are left out.
            let dims = Some(dims)
                .filter(|&(w, h)| (1..=MAX_SIDE).contains(&w) && (1..=MAX_SIDE).contains(&h));
            (self.stage(&body[..]).await?, Some(thumb), dims)
        } else {
            (self.stage(input).await?, None, None)
        };
        let mime = media::sniff_mime(&staged.head);
        let wrong = match out.kind {
            AttachmentKind::Voice => media::kind_of(&mime) != MediaKind::Voice,
            AttachmentKind::Video => media::kind_of(&mime) != MediaKind::Video,
            _ => false,
        };
        if wrong {
            let _ = self.discard(&staged.file).await;
            return Err(FilesError::WrongKind {
                asked: out.kind.as_str(),
                found: mime,
            });
        }
        let duration_ms = (out.kind == AttachmentKind::Voice)
            .then(|| media::audio_duration_ms(&staged.head, &staged.tail))
            .flatten()
            // A length receivers would refuse (a crafted header) is left out
            // rather than make the whole message unreadable.
            .filter(|&ms| ms <= MAX_DURATION_MS);
        Ok(Attachment {
            kind: out.kind,
            file: staged.file,
            key: staged.key,
            size: staged.size,
            mime,
            name,
            thumb,
            dims,
            duration_ms,
        })
    }

    /// Removes a file we staged but did not send.
    async fn discard(&self, id: &[u8; 32]) -> Result<(), FilesError> {
        self.inner.ctx.store.forget_file(id)?;
        let _ = tokio::fs::remove_file(super::disk::path(&self.inner.dir, id)).await;
        Ok(())
    }

    /// Records that a message here carries `att` (so an interrupted download
    /// resumes after a restart), from `sources`.
    pub fn note_wanted(&self, att: &Attachment, sources: &[PeerId]) -> Result<(), FilesError> {
        let srcs: Vec<Vec<u8>> = sources.iter().map(|p| p.to_bytes()).collect();
        self.inner.ctx.store.update_file_state(&att.file, |s| {
            if s.attachment.is_none() {
                s.attachment = Some(att.clone());
            }
            if !srcs.is_empty() {
                s.sources = srcs.clone();
            }
        })?;
        Ok(())
    }

    /// Downloads `att` (unless it is here): from `sources` first, then from
    /// the holders of the file; then checks that it opens with its key.
    pub async fn download(&self, att: &Attachment, sources: &[PeerId]) -> Result<(), FilesError> {
        self.note_wanted(att, sources)?;
        self.inner
            .ctx
            .store
            .update_file_state(&att.file, |s| s.requested = true)?;
        if !self.local(&att.file) {
            let first = if sources.is_empty() {
                Err(FilesError::Unavailable("the file".into()))
            } else {
                self.fetch(&att.file, Some(att.size), sources).await
            };
            if let Err(e) = first {
                if !matches!(e, FilesError::Unavailable(_)) {
                    return Err(e);
                }
                let mut holders = self.holders_of(&att.file).await;
                holders.extend(sources.iter().copied());
                self.fetch(&att.file, Some(att.size), &holders).await?;
            }
        }
        if self.sniffed(&att.file).is_none() {
            self.check_downloaded(att).await?;
            self.inner.ctx.store.flush_async().await?;
        }
        Ok(())
    }
}

/// `photo.png` → `photo.jpg`: the standard version is a JPEG.
fn jpeg_name(name: &str) -> String {
    let stem = match name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => name,
    };
    format!("{stem}.jpg")
}

#[cfg(test)]
mod tests {
    #[test]
    fn standard_images_are_named_jpg() {
        assert_eq!(super::jpeg_name("a.png"), "a.jpg");
        assert_eq!(super::jpeg_name("photo"), "photo.jpg");
        assert_eq!(super::jpeg_name("x.tar.gz"), "x.tar.jpg");
    }
}
