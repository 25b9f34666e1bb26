//! Attachment files (part of the one module that owns sled). The ciphertext
//! itself lives in plain files under `<home>/files/` (see
//! [`crate::files`]); sled keeps what each file is and why it is here.
//!
//! - `file_manifests`: file id(32) → manifest (postcard)
//! - `file_state`:     file id(32) → [`FileState`] (postcard)
//! - `file_meta`:      `auto_download` → u64 BE (bytes fetched without asking)

use serde::{Deserialize, Serialize};
use weft_protocol::file::{FileId, FileManifest};

use super::{dec, enc, get, get_u64, put_u64, Store, StoreError};

trees! {
    /// The attachment trees.
    FileTrees {
        manifests: "file_manifests",
        state: "file_state",
        meta: "file_meta",
    }
}

/// Why a file is on this node, and how much of it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileState {
    /// Every chunk is here, verified and flushed.
    pub complete: bool,
    /// We sent it (our own attachment).
    pub own: bool,
    /// A message here carries it (so we want it: a download resumes after
    /// a restart), with the key.
    pub attachment: Option<weft_protocol::file::Attachment>,
    /// A download was started (automatically or by the user): it resumes
    /// after a restart until complete.
    pub requested: bool,
    /// Where to fetch it from (peer id bytes), sender first.
    pub sources: Vec<Vec<u8>>,
    /// Held for others: by whom (peer id bytes) and until when (Unix s).
    pub held: Option<(Vec<u8>, u64)>,
    /// Ciphertext bytes.
    pub size: u64,
    /// The MIME type the first chunk's bytes show (after download).
    pub sniffed: Option<String>,
}

impl Store {
    /// Records a file's manifest.
    pub fn put_file_manifest(&self, m: &FileManifest) -> Result<FileId, StoreError> {
        let id = m.id();
        self.files.manifests.insert(id, enc(m))?;
        Ok(id)
    }

    /// A file's manifest, if known.
    pub fn file_manifest(&self, id: &FileId) -> Result<Option<FileManifest>, StoreError> {
        get(&self.files.manifests, "file_manifests", id)
    }

    /// A file's state, if the file is known here.
    pub fn file_state(&self, id: &FileId) -> Result<Option<FileState>, StoreError> {
        get(&self.files.state, "file_state", id)
    }

    /// Changes a file's state (created as the default if absent).
    pub fn update_file_state(
        &self,
        id: &FileId,
        f: impl Fn(&mut FileState),
    ) -> Result<FileState, StoreError> {
        let mut out = FileState::default();
        self.files.state.fetch_and_update(id, |old| {
            let mut s: FileState = old
                .and_then(|v| postcard::from_bytes(v).ok())
                .unwrap_or_default();
            f(&mut s);
            out = s.clone();
            Some(enc(&s))
        })?;
        Ok(out)
    }

    /// Forgets a file (its bytes are removed by the caller).
    pub fn forget_file(&self, id: &FileId) -> Result<(), StoreError> {
        self.files.state.remove(id)?;
        self.files.manifests.remove(id)?;
        Ok(())
    }

    /// Every file known here with its state.
    pub fn files(&self) -> Result<Vec<(FileId, FileState)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.files.state.iter() {
            let (k, v) = kv?;
            let Ok(id) = <FileId>::try_from(k.as_ref()) else {
                continue;
            };
            out.push((id, dec("file_state", &v)?));
        }
        Ok(out)
    }

    /// Attachments up to this size are fetched when they arrive.
    pub fn auto_download(&self) -> Result<Option<u64>, StoreError> {
        get_u64(&self.files.meta, "auto_download")
    }

    /// Sets the automatic download limit.
    pub fn set_auto_download(&self, bytes: u64) -> Result<(), StoreError> {
        put_u64(&self.files.meta, "auto_download", bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_updates_and_listing() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let m = FileManifest {
            size: 3,
            chunks: vec![*blake3::hash(b"abc").as_bytes()],
        };
        let id = s.put_file_manifest(&m).unwrap();
        assert_eq!(s.file_manifest(&id).unwrap(), Some(m));
        assert_eq!(s.file_state(&id).unwrap(), None);
        s.update_file_state(&id, |f| f.sources = vec![vec![1]])
            .unwrap();
        let st = s.update_file_state(&id, |f| f.complete = true).unwrap();
        assert!(st.sources.len() == 1 && st.complete);
        assert_eq!(s.files().unwrap().len(), 1);
        s.set_auto_download(5).unwrap();
        assert_eq!(s.auto_download().unwrap(), Some(5));
        s.forget_file(&id).unwrap();
        assert!(s.files().unwrap().is_empty());
        assert_eq!(s.file_manifest(&id).unwrap(), None);
    }
}
