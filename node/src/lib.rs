//! The Weft node: one process per device. It owns the libp2p swarm (in the
//! [`net`] actor), the sled [`store`], the services built on them, and the
//! local control [`api`] that the `weft` CLI talks to.

#![warn(missing_docs)]

pub mod api;
pub mod blobs;
pub mod budget;
pub mod chat;
pub mod config;
pub mod context;
pub mod device;
pub mod error;
pub mod events;
mod fault;
pub mod files;
pub mod group;
pub mod home;
mod inbound;
pub mod log_limit;
pub mod media;
pub mod moments;
pub mod nearby;
pub mod net;
pub mod node;
pub mod oa;
pub mod pay;
mod random;
pub mod store;
pub mod web;

pub use config::NodeConfig;
pub use context::Context;
pub use error::NodeError;
pub use home::{ApiInfo, Home, Identity};
pub use node::{handle_for, init_home, NodeHandle, RunningNode};
