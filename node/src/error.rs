//! The node's error type: one variant per thing a user can do something about.
//!
//! Each variant says what went wrong and keeps the underlying error typed:
//! either shown in its message (the messages users already know), or, for
//! the variants that only name the step that failed, as its `source`, which
//! the CLI prints after the message (`error: cannot start the network: ...`).

use std::path::{Path, PathBuf};

use crate::chat::ChatError;
use crate::net::NetError;
use crate::oa::OaServiceError;

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
    #[error("key file {path} is corrupt ({problem}); restore it from a backup")]
    CorruptKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        problem: KeyProblem,
    },
    /// A display name breaks the rules.
    #[error("invalid name: {0}")]
    BadName(weft_protocol::card::CardError),
    /// The identity layer refused.
    #[error(transparent)]
    Id(#[from] weft_protocol::IdError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The config file is invalid.
    #[error("invalid config {0}: {1}")]
    Config(PathBuf, Box<crate::config::ConfigError>),
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
    /// The operating system's random source failed (needed for the API token).
    #[error("no randomness available from the operating system")]
    NoRandomness(#[source] getrandom::Error),
    /// The bound API socket has no local address (the OS refused to say).
    #[error("cannot read the control API's address")]
    ApiAddr(#[source] std::io::Error),
    /// `api.json` could not be written as JSON.
    #[error("cannot write api.json")]
    ApiInfo(#[source] serde_json::Error),
    /// The network actor did not start (other than a listen failure).
    #[error("cannot start the network")]
    NetStart(#[source] NetError),
    /// The chat service did not start.
    #[error("cannot start chat")]
    ChatStart(#[source] ChatError),
    /// The devices service did not start (its store, or its first list).
    #[error("cannot start the devices service")]
    Devices(#[source] Box<crate::device::DevicesError>),
    /// The attachment service did not start (its directory).
    #[error("cannot start attachments")]
    Files(#[from] crate::files::FilesError),
    /// The official-account service did not start.
    #[error("cannot start official accounts")]
    OaStart(#[source] Box<OaServiceError>),
}

/// What is wrong with a key file.
#[derive(Debug, thiserror::Error)]
pub enum KeyProblem {
    /// Key files hold exactly 32 bytes.
    #[error("expected 32 bytes, found {0}")]
    Length(u64),
    /// The account key's bytes are not a key.
    #[error("{0}")]
    Account(weft_protocol::IdError),
    /// The device key's bytes are not an ed25519 secret.
    #[error("{0}")]
    Device(libp2p::identity::DecodingError),
    /// A linked device's `device.link` is damaged or does not match its key.
    #[error("{0}")]
    Link(&'static str),
}

impl NodeError {
    /// A home-directory failure at `path`.
    pub(crate) fn home(path: &Path, source: std::io::Error) -> Self {
        NodeError::Home {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A damaged key file at `path`.
    pub(crate) fn corrupt_key(path: &Path, problem: KeyProblem) -> Self {
        NodeError::CorruptKey {
            path: path.to_path_buf(),
            problem,
        }
    }
}
