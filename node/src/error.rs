//! The node's error type: one variant per thing a user can do something about.

use std::path::{Path, PathBuf};

/// Errors from starting or running a node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The home directory cannot be created, read or written.
    #[error("cannot use home directory {path}: {source}")]
    Home {
        /// The path that failed.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `init` on a home that already has keys.
    #[error("{0} already holds an identity; refusing to overwrite it")]
    IdentityExists(PathBuf),
    /// No keys in the home.
    #[error("no identity in {0}; create one with `weft init --home {0}`")]
    NoIdentity(PathBuf),
    /// A key file is damaged.
    #[error("key file {0} is corrupt ({1}); restore it from a backup")]
    CorruptKey(PathBuf, String),
    /// A display name breaks the rules.
    #[error("invalid name: {0}")]
    BadName(String),
    /// The identity layer refused.
    #[error(transparent)]
    Id(#[from] weft_protocol::IdError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The config file is invalid.
    #[error("invalid config {0}: {1}")]
    Config(PathBuf, String),
    /// Listening failed (port in use, bad address...).
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The network task is gone (node shutting down).
    #[error("the node is shutting down")]
    ShuttingDown,
    /// Something unexpected inside the node.
    #[error("internal error: {0}")]
    Internal(String),
}

impl NodeError {
    pub(crate) fn home(path: &Path, source: std::io::Error) -> Self {
        NodeError::Home {
            path: path.to_path_buf(),
            source,
        }
    }
}
