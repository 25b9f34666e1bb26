//! Blob storage (part of the one module that owns sled).
//!
//! - `blob_manifests`: blob id(32) → manifest (postcard)
//! - `blob_chunks`:    chunk hash(32) → bytes (shared by every blob that has it)

use weft_protocol::blob::{BlobId, Manifest};

use super::{Store, StoreError};

trees! {
    /// The blob trees.
    BlobTrees {
        manifests: "blob_manifests",
        chunks: "blob_chunks",
    }
}

impl Store {
    /// Records a blob's manifest.
    pub fn put_manifest(&self, m: &Manifest) -> Result<BlobId, StoreError> {
        let id = m.id();
        let bytes = postcard::to_stdvec(m)
            .map_err(|e| StoreError::Corrupt("blob_manifests", e.to_string()))?;
        self.blob.manifests.insert(id, bytes)?;
        Ok(id)
    }

    /// A blob's manifest, if known.
    pub fn manifest(&self, id: &BlobId) -> Result<Option<Manifest>, StoreError> {
        self.blob
            .manifests
            .get(id)?
            .map(|v| {
                postcard::from_bytes(&v)
                    .map_err(|e| StoreError::Corrupt("blob_manifests", e.to_string()))
            })
            .transpose()
    }

    /// Stores a verified chunk.
    pub fn put_chunk(&self, hash: &[u8; 32], data: &[u8]) -> Result<(), StoreError> {
        self.blob.chunks.insert(hash, data)?;
        Ok(())
    }

    /// A chunk's bytes.
    pub fn chunk(&self, hash: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.blob.chunks.get(hash)?.map(|v| v.to_vec()))
    }

    /// Whether we hold a chunk.
    pub fn has_chunk(&self, hash: &[u8; 32]) -> Result<bool, StoreError> {
        Ok(self.blob.chunks.contains_key(hash)?)
    }

    /// The whole blob, if every chunk is here.
    pub fn blob_bytes(&self, id: &BlobId) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(m) = self.manifest(id)? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(m.size as usize);
        for h in &m.chunks {
            match self.chunk(h)? {
                Some(c) => out.extend_from_slice(&c),
                None => return Ok(None),
            }
        }
        Ok(Some(out))
    }
}
