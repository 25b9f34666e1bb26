//! What every service is given, and all it may reach of the rest of the
//! node: the keys, the store and the network handle, plus the shutdown
//! signal. Services receive a [`Context`] at start instead of reaching into
//! another service's internals, so a new service (groups, devices, pay)
//! depends only on these three things and on the handles it is passed.

use std::sync::Arc;

use tokio::sync::watch;
use weft_protocol::AccountId;

use crate::home::Identity;
use crate::net::Net;
use crate::store::Store;

/// The node's shared state as a service sees it. Cheap to clone.
#[derive(Clone)]
pub struct Context {
    /// This device's keys (account key, device key, certificate).
    pub identity: Arc<Identity>,
    /// The node's one sled store.
    pub store: Store,
    /// The network actor's handle.
    pub net: Net,
    /// Flips to `true` when the node begins shutting down.
    pub shutdown: watch::Receiver<bool>,
}

impl Context {
    /// The account this node speaks for.
    pub fn me(&self) -> AccountId {
        self.identity.account_id
    }
}
