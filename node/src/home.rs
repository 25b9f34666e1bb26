//! The node's home directory: keys, store, config and, while the node runs,
//! the control API's address and token.
//!
//! Layout (`--home DIR`):
//! - `account.key`  the account's ed25519 secret (32 bytes, mode 0600)
//! - `device.key`   this device's ed25519 secret, its libp2p identity (0600)
//! - `store/`       the sled database
//! - `weft.toml`    optional config
//! - `api.json`     `{addr, token, pid}` of the running node (0600), removed on clean exit

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use libp2p::identity::{ed25519, Keypair, PeerId};
use serde::{Deserialize, Serialize};
use weft_protocol::{AccountId, AccountKey, Card, CardError, DeviceCertificate};

use crate::error::{KeyProblem, NodeError};

/// The account's secret key file.
const ACCOUNT_KEY: &str = "account.key";
/// This device's secret key file.
const DEVICE_KEY: &str = "device.key";
/// What a linked device was given when it joined (no account key).
const LINK_FILE: &str = "device.link";
/// Where a running node says how to reach its control API.
const API_FILE: &str = "api.json";

/// A node's home directory.
#[derive(Clone, Debug)]
pub struct Home {
    dir: PathBuf,
}

/// Everything a node is: the account it speaks for, its keys, and the
/// certificate binding its device key to the account.
///
/// The account's first device (the *primary*) holds the account key; a
/// linked device does not (see `docs/DEVICES.md`): its end-to-end key is its
/// own device key.
pub struct Identity {
    /// The account this device speaks for.
    pub account_id: AccountId,
    /// The key this device seals and opens end-to-end messages with (its
    /// *endpoint*): the account key on the primary, the device key on a
    /// linked device.
    pub key: AccountKey,
    /// Whether `key` is the account key.
    pub primary: bool,
    /// This device's libp2p keypair.
    pub device: Keypair,
    /// The account's certificate for `device`.
    pub cert: DeviceCertificate,
}

/// An action that needs the account key, asked of a linked device.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
#[error("only the account's first device holds the account key; do this there")]
pub struct NotPrimary;

impl Identity {
    /// This device's libp2p peer id.
    pub fn peer_id(&self) -> PeerId {
        self.device.public().to_peer_id()
    }

    /// The account key, which only the primary holds.
    pub fn account_key(&self) -> Result<&AccountKey, NotPrimary> {
        if self.primary {
            Ok(&self.key)
        } else {
            Err(NotPrimary)
        }
    }

    /// This device's endpoint: the id messages to it are sealed to.
    pub fn endpoint(&self) -> AccountId {
        self.key.account_id()
    }

    /// This device's card: signed by the account key on the primary, by the
    /// device key (under the account's certificate) on a linked device.
    pub fn card(&self, name: &str, addrs: Vec<String>, at: u64) -> Result<Card, CardError> {
        if self.primary {
            Card::new(&self.key, self.cert.clone(), name, addrs, at)
        } else {
            Card::new_by_device(&self.key, self.cert.clone(), name, addrs, at)
        }
    }
}

/// Where a running node's control API is, and the token to use it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApiInfo {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Bearer token.
    pub token: String,
    /// Process id of the node.
    pub pid: u32,
}

impl Home {
    /// A home at `dir` (not created yet).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the sled store.
    pub fn store_dir(&self) -> PathBuf {
        self.dir.join("store")
    }

    /// Directory of attachment files (ciphertext only).
    pub fn files_dir(&self) -> PathBuf {
        self.dir.join("files")
    }

    /// Path of the optional config file.
    pub fn config_file(&self) -> PathBuf {
        self.dir.join("weft.toml")
    }

    /// Whether an identity exists here (an account's first device, or a
    /// device that joined one).
    pub fn has_identity(&self) -> bool {
        self.dir.join(ACCOUNT_KEY).exists() || self.dir.join(LINK_FILE).exists()
    }

    /// Creates the directory (mode 0700) if needed.
    pub fn ensure_dir(&self) -> Result<(), NodeError> {
        fs::create_dir_all(&self.dir).map_err(|e| NodeError::home(&self.dir, e))?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| NodeError::home(&self.dir, e))?;
        // Probe that we can write here, so a read-only home fails now with a clear error.
        let probe = self.dir.join(".write-test");
        fs::write(&probe, b"").map_err(|e| NodeError::home(&self.dir, e))?;
        let _ = fs::remove_file(probe);
        Ok(())
    }

    /// Creates a new identity; refuses if one exists (never overwrite a user's keys).
    pub fn create_identity(&self) -> Result<Identity, NodeError> {
        self.ensure_dir()?;
        if self.has_identity() || self.dir.join(DEVICE_KEY).exists() {
            return Err(NodeError::IdentityExists(self.dir.clone()));
        }
        let account = AccountKey::generate()?;
        let device = ed25519::Keypair::generate();
        write_secret(&self.dir.join(DEVICE_KEY), device.secret().as_ref())?;
        write_secret(&self.dir.join(ACCOUNT_KEY), &account.to_bytes())?;
        self.load_identity()
    }

    /// Loads the identity, or explains what is wrong with the key files.
    pub fn load_identity(&self) -> Result<Identity, NodeError> {
        let account_path = self.dir.join(ACCOUNT_KEY);
        let device_path = self.dir.join(DEVICE_KEY);
        if !account_path.exists() {
            if self.dir.join(LINK_FILE).exists() {
                return self.load_linked_identity();
            }
            return Err(NodeError::NoIdentity(self.dir.clone()));
        }
        let account_bytes = read_secret(&account_path)?;
        let account = AccountKey::from_bytes(&account_bytes)
            .map_err(|e| NodeError::corrupt_key(&account_path, KeyProblem::Account(e)))?;
        let (device_ed, _) = load_device_key(&device_path)?;
        let device_pub = device_ed.public().to_bytes();
        let cert = account.certify_device(device_pub, weft_protocol::unix_now());
        Ok(Identity {
            account_id: account.account_id(),
            key: account,
            primary: true,
            device: Keypair::from(device_ed),
            cert,
        })
    }

    /// A linked device's identity: its device key and what the primary
    /// gave it when it joined (no account key).
    fn load_linked_identity(&self) -> Result<Identity, NodeError> {
        let device_path = self.dir.join(DEVICE_KEY);
        let (device_ed, key) = load_device_key(&device_path)?;
        let joined = self.read_joined()?;
        let link_path = self.dir.join(LINK_FILE);
        let bad = |why: &'static str| NodeError::corrupt_key(&link_path, KeyProblem::Link(why));
        if joined.cert.verify().is_err() || joined.cert.body.account != joined.account {
            return Err(bad("the device certificate does not verify"));
        }
        if joined.cert.body.device_key != device_ed.public().to_bytes() {
            return Err(bad("the certificate is for another device key"));
        }
        Ok(Identity {
            account_id: joined.account,
            key,
            primary: false,
            device: Keypair::from(device_ed),
            cert: joined.cert,
        })
    }

    /// What a linked device was given when it joined.
    pub fn read_joined(&self) -> Result<Joined, NodeError> {
        let path = self.dir.join(LINK_FILE);
        let len = fs::metadata(&path)
            .map_err(|e| NodeError::home(&path, e))?
            .len();
        if len > 64 * 1024 {
            return Err(NodeError::corrupt_key(&path, KeyProblem::Link("too large")));
        }
        let bytes = fs::read(&path).map_err(|e| NodeError::home(&path, e))?;
        postcard::from_bytes(&bytes)
            .map_err(|_| NodeError::corrupt_key(&path, KeyProblem::Link("unreadable")))
    }

    /// Makes the home of a device that is joining an account: a fresh
    /// device key. Refuses a home that already holds an identity.
    pub fn create_device_key(&self) -> Result<Keypair, NodeError> {
        self.ensure_dir()?;
        if self.has_identity() || self.dir.join(DEVICE_KEY).exists() {
            return Err(NodeError::IdentityExists(self.dir.clone()));
        }
        let device = ed25519::Keypair::generate();
        write_secret(&self.dir.join(DEVICE_KEY), device.secret().as_ref())?;
        Ok(Keypair::from(device))
    }

    /// Removes the device key of a join that did not complete.
    pub fn remove_unjoined_device_key(&self) {
        if !self.has_identity() {
            let _ = fs::remove_file(self.dir.join(DEVICE_KEY));
        }
    }

    /// Records what the primary gave this device (the last step of joining).
    pub fn write_joined(&self, joined: &Joined) -> Result<(), NodeError> {
        let path = self.dir.join(LINK_FILE);
        let bytes = postcard::to_stdvec(joined)
            .map_err(|_| NodeError::corrupt_key(&path, KeyProblem::Link("cannot encode")))?;
        let tmp = self.dir.join("device.link.tmp");
        write_secret_replace(&tmp, &bytes)?;
        fs::rename(&tmp, &path).map_err(|e| NodeError::home(&path, e))
    }

    /// Loads the identity, creating it on first run.
    pub fn load_or_create_identity(&self) -> Result<Identity, NodeError> {
        if self.has_identity() {
            self.load_identity()
        } else {
            self.create_identity()
        }
    }

    /// Saves an official account's key as `oa/<account>.key` (mode 0600).
    pub fn write_oa_key(&self, key: &AccountKey) -> Result<(), NodeError> {
        let dir = self.dir.join("oa");
        fs::create_dir_all(&dir).map_err(|e| NodeError::home(&dir, e))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| NodeError::home(&dir, e))?;
        write_secret(
            &dir.join(format!("{}.key", key.account_id())),
            &key.to_bytes(),
        )
    }

    /// Loads an official account's key.
    pub fn load_oa_key(&self, account: &weft_protocol::AccountId) -> Result<AccountKey, NodeError> {
        let path = self.dir.join("oa").join(format!("{account}.key"));
        let bytes = read_secret(&path)?;
        AccountKey::from_bytes(&bytes)
            .map_err(|e| NodeError::corrupt_key(&path, KeyProblem::Account(e)))
    }

    /// Records where the running node's API is (mode 0600).
    pub fn write_api_info(&self, info: &ApiInfo) -> Result<(), NodeError> {
        let json = serde_json::to_vec(info).map_err(NodeError::ApiInfo)?;
        let path = self.dir.join(API_FILE);
        let tmp = self.dir.join("api.json.tmp");
        write_secret_replace(&tmp, &json)?;
        fs::rename(&tmp, &path).map_err(|e| NodeError::home(&path, e))
    }

    /// Reads the running node's API info, if the node wrote one.
    pub fn read_api_info(&self) -> Option<ApiInfo> {
        let bytes = fs::read(self.dir.join(API_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Removes the API info (on clean shutdown).
    pub fn remove_api_info(&self) {
        let _ = fs::remove_file(self.dir.join(API_FILE));
    }
}

/// What a device that joined an account keeps in `device.link`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Joined {
    /// The account.
    pub account: AccountId,
    /// The account's certificate for this device's key.
    pub cert: DeviceCertificate,
    /// The device list the primary signed with this device on it.
    pub list: weft_protocol::device::DeviceList,
    /// The account's display name.
    pub name: String,
    /// Where the primary listened when it made the code.
    pub primary_addrs: Vec<String>,
    /// Messages per conversation history sync brings to this device.
    pub history: u32,
}

/// Reads a device key file: the libp2p keypair and the same key as an
/// end-to-end key.
fn load_device_key(path: &Path) -> Result<(ed25519::Keypair, AccountKey), NodeError> {
    let mut device_bytes = read_secret(path)?;
    let key = AccountKey::from_bytes(&device_bytes)
        .map_err(|e| NodeError::corrupt_key(path, KeyProblem::Account(e)))?;
    let secret = ed25519::SecretKey::try_from_bytes(&mut device_bytes)
        .map_err(|e| NodeError::corrupt_key(path, KeyProblem::Device(e)))?;
    Ok((ed25519::Keypair::from(secret), key))
}

fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| NodeError::home(path, e))?;
    f.write_all(bytes).map_err(|e| NodeError::home(path, e))?;
    f.sync_all().map_err(|e| NodeError::home(path, e))
}

fn write_secret_replace(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    let _ = fs::remove_file(path);
    write_secret(path, bytes)
}

fn read_secret(path: &Path) -> Result<Vec<u8>, NodeError> {
    let meta = fs::metadata(path).map_err(|e| NodeError::home(path, e))?;
    if meta.len() != 32 {
        return Err(NodeError::corrupt_key(path, KeyProblem::Length(meta.len())));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        // Tighten rather than refuse: the key is still ours, just over-exposed.
        tracing::warn!(path = %path.display(), "key file was readable by others; setting mode 0600");
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o600));
    }
    fs::read(path).map_err(|e| NodeError::home(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_created_once_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("h"));
        let a = home.create_identity().unwrap();
        assert!(matches!(
            home.create_identity(),
            Err(NodeError::IdentityExists(_))
        ));
        let b = home.load_identity().unwrap();
        assert_eq!(a.peer_id(), b.peer_id());
        assert_eq!(a.account_id, b.account_id);
        let mode = fs::metadata(dir.path().join("h/account.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn corrupt_key_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        home.create_identity().unwrap();
        fs::write(dir.path().join("device.key"), b"short").unwrap();
        let err = home.load_identity().err().unwrap();
        assert!(err.to_string().contains("device.key"), "{err}");
    }
}
