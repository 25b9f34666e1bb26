//! Attachments: photos, voice notes, videos and files in chats and groups
//! (wire format in [`weft_protocol::file`]). This service turns a user's
//! file into an encrypted, content-addressed file on disk ([`stage`]),
//! fetches other people's files chunk by chunk from whoever has them,
//! verifying every chunk and resuming where it stopped ([`fetch`]), serves
//! what it holds on `/weft/file/1` ([`inbound`]), leaves copies with holders
//! so a file outlives its sender going offline ([`hold`]), and decrypts a
//! complete file for the user ([`read`]).
//!
//! The ciphertext lives in `<home>/files/<id hex>` (sparse while a fetch is
//! under way); sled records what each file is and why it is here
//! ([`crate::store::files`]). No plaintext is ever written by this service.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use weft_protocol::file::{FileError, FileId};

use crate::budget::PeerBudget;
use crate::context::Context;
use crate::events::{EventFeed, EventRx};
use crate::store::StoreError;

mod attach;
mod disk;
mod fetch;
mod hold;
mod inbound;
mod read;
mod service;
mod stage;

pub use attach::Outgoing;
pub use read::PlainChunks;

/// Attachments up to this size are fetched as soon as their message
/// arrives, unless the user set another limit.
pub const DEFAULT_AUTO_DOWNLOAD: u64 = 256 * 1024;
/// Bytes of file chunks one peer may download from us per minute.
const UPLOAD_BYTES_PER_MINUTE: u64 = 4 * 1024 * 1024 * 1024;

/// Attachment failures.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// Sizes, manifest, chunk or key problems.
    #[error(transparent)]
    File(#[from] FileError),
    /// The file's bytes are not what the sender says (e.g. `--image` on a PDF).
    #[error(transparent)]
    Media(#[from] crate::media::MediaError),
    /// An image too large to decode (send it as a file).
    #[error("images over {0} bytes cannot be sent as photos; send it with --file")]
    ImageTooLarge(usize),
    /// The bytes are not what the user said they are.
    #[error("this is not a {asked}: its bytes are {found}")]
    WrongKind {
        /// What the user asked to send it as.
        asked: &'static str,
        /// The MIME type the bytes show.
        found: String,
    },
    /// No source had a valid copy.
    #[error("no one who has {0} could be reached; try again later")]
    Unavailable(String),
    /// Not stored here (yet).
    #[error("the file is not (completely) downloaded here")]
    NotHere,
    /// Reading or writing the file on disk.
    #[error("file storage: {0}")]
    Io(String),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<std::io::Error> for FilesError {
    fn from(e: std::io::Error) -> Self {
        FilesError::Io(e.to_string())
    }
}

/// What the event stream says about file transfers.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FileEvent {
    /// Some of a file is here.
    FileProgress {
        /// File id (hex).
        file: String,
        /// Ciphertext bytes here.
        have: u64,
        /// Ciphertext bytes in all.
        size: u64,
    },
    /// All of a file is here, verified and durable.
    FileComplete {
        /// File id (hex).
        file: String,
    },
    /// A fetch stopped short (it resumes on the next try).
    FileFailed {
        /// File id (hex).
        file: String,
        /// Why.
        error: String,
    },
}

/// The attachment service handle. Cheap to clone.
#[derive(Clone)]
pub struct Files {
    inner: Arc<Inner>,
}

struct Inner {
    ctx: Context,
    dir: PathBuf,
    events: EventFeed<FileEvent>,
    /// What each peer may download from us per minute.
    uploads: PeerBudget,
    /// One fetch per file at a time, and how far each has got.
    fetching: Mutex<HashMap<FileId, Arc<FetchSlot>>>,
}

/// A file being fetched.
#[derive(Default)]
struct FetchSlot {
    /// Held for the whole fetch.
    lock: tokio::sync::Mutex<()>,
    /// Chunks here so far.
    have: std::sync::atomic::AtomicU32,
}

impl Files {
    /// The service over `dir` (created if absent); starts its background
    /// task (resuming wanted downloads, expiring held files).
    pub fn start(ctx: Context, dir: PathBuf) -> Result<Self, FilesError> {
        std::fs::create_dir_all(&dir)?;
        let events = EventFeed::new(256);
        let files = Files {
            inner: Arc::new(Inner {
                ctx,
                dir,
                events,
                uploads: PeerBudget::new(UPLOAD_BYTES_PER_MINUTE, Duration::from_secs(60)),
                fetching: Mutex::new(HashMap::new()),
            }),
        };
        service::spawn(files.clone());
        Ok(files)
    }

    /// File transfer events.
    pub fn subscribe(&self) -> EventRx<FileEvent> {
        self.inner.events.subscribe()
    }

    /// Whether every chunk of `id` is here.
    pub fn local(&self, id: &FileId) -> bool {
        matches!(self.inner.ctx.store.file_state(id), Ok(Some(s)) if s.complete)
    }

    /// The automatic download limit (bytes).
    pub fn auto_download(&self) -> u64 {
        self.inner
            .ctx
            .store
            .auto_download()
            .ok()
            .flatten()
            .unwrap_or(DEFAULT_AUTO_DOWNLOAD)
    }

    /// Sets the automatic download limit (bytes).
    pub async fn set_auto_download(&self, bytes: u64) -> Result<(), FilesError> {
        self.inner.ctx.store.set_auto_download(bytes)?;
        self.inner.ctx.store.flush_async().await?;
        Ok(())
    }

    /// The MIME type the downloaded bytes show, when known.
    pub fn sniffed(&self, id: &FileId) -> Option<String> {
        self.inner
            .ctx
            .store
            .file_state(id)
            .ok()
            .flatten()
            .and_then(|s| s.sniffed)
    }

    fn emit(&self, ev: FileEvent) {
        let _ = self.inner.events.send(ev);
    }
}

/// Runs `f` (disk I/O, or CPU work on a whole chunk or image) on the
/// blocking pool; its error, or the pool's, as a [`FilesError`].
async fn blocking<T, E>(f: impl FnOnce() -> Result<T, E> + Send + 'static) -> Result<T, FilesError>
where
    T: Send + 'static,
    E: Into<FilesError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| FilesError::Io(e.to_string()))?
        .map_err(Into::into)
}

/// An attachment as `chat log` shows it.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct AttachmentView {
    /// `image`, `voice`, `video` or `file`.
    pub kind: String,
    /// File name.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// MIME type: what the sender's node detected; once downloaded here,
    /// what the bytes show if that differs (see `declared_mime`).
    pub mime: String,
    /// The sender's MIME type when the downloaded bytes are something else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_mime: Option<String>,
    /// File id (hex).
    pub blob: String,
    /// Every chunk is here (verified).
    pub local: bool,
    /// A thumbnail came with it (images): its size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb: Option<usize>,
    /// Width in pixels (images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height in pixels (images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Length (voice notes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

impl AttachmentView {
    /// The view of `a`, not yet knowing what is here ([`Files::fill`]).
    pub fn of(a: &weft_protocol::file::Attachment) -> Self {
        AttachmentView {
            kind: a.kind.as_str().to_string(),
            name: a.name.clone(),
            size: a.size,
            mime: a.mime.clone(),
            declared_mime: None,
            blob: weft_protocol::file::file_hex(&a.file),
            local: false,
            thumb: a.thumb.as_ref().map(Vec::len),
            width: a.dims.map(|d| d.0),
            height: a.dims.map(|d| d.1),
            duration_ms: a.duration_ms,
        }
    }
}

/// "[photo] name" for conversation lists.
pub fn summary(a: &weft_protocol::file::Attachment) -> String {
    let what = match a.kind {
        weft_protocol::file::AttachmentKind::Image => "photo",
        weft_protocol::file::AttachmentKind::Voice => "voice note",
        weft_protocol::file::AttachmentKind::Video => "video",
        weft_protocol::file::AttachmentKind::File => "file",
    };
    format!("[{what}] {}", a.name)
}

impl Files {
    /// Completes a view with what is here: downloaded or not, and the MIME
    /// type the bytes show when it is not the one the sender named (an
    /// image that is really something else is then shown as a file).
    pub fn fill(&self, v: &mut AttachmentView) {
        let Some(id) = weft_protocol::hex::decode_array::<32>(&v.blob) else {
            return;
        };
        // Here means every chunk verified *and* (for someone else's file)
        // its first chunk opened with the key: a file that does not open is
        // not shown as downloaded.
        let state = self.inner.ctx.store.file_state(&id).ok().flatten();
        v.local = state
            .as_ref()
            .is_some_and(|s| s.complete && (s.own || s.sniffed.is_some()));
        if let Some(sniffed) = state.and_then(|s| s.sniffed) {
            if !crate::media::mime_matches(&v.mime, &sniffed) {
                v.declared_mime = Some(std::mem::replace(&mut v.mime, sniffed));
                v.kind = "file".into();
            }
        }
    }
}
