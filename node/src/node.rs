//! Starting and stopping a node: open the store, start the network actor and
//! the control API, record where the API is, and on shutdown undo it all in
//! reverse order with the store flushed last.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api;
use crate::chat::Chat;
use crate::config::{NodeConfig, Profile};
use crate::context::Context;
use crate::error::NodeError;
use crate::home::{ApiInfo, Home, Identity};
use crate::inbound::{spawn_inbound, Services};
use crate::nearby::Nearby;
use crate::net::{self, Net, SwarmOptions};
use crate::oa::Oa;
use crate::store::{Store, StoreOptions};

/// State shared by the API and services. Cheap to clone via `Arc`.
pub struct NodeHandle {
    /// Our account's devices.
    pub devices: crate::device::Devices,
    /// Weft Pay: mints, wallet, transfers, envelopes.
    pub pay: crate::pay::Pay,
    /// Keys.
    pub identity: Arc<Identity>,
    /// Database.
    pub store: Store,
    /// Network actor.
    pub net: Net,
    /// Home directory.
    pub home: Home,
    /// Display name.
    pub name: String,
    /// When the node started.
    pub started: Instant,
    /// Flips to `true` when the node begins shutting down.
    pub shutdown: watch::Receiver<bool>,
    /// Contacts and chat.
    pub chat: Chat,
    /// Radar, People Nearby, handles.
    pub nearby: Nearby,
    /// Official accounts.
    pub oa: Oa,
    /// Content-addressed blobs.
    pub blobs: crate::blobs::Blobs,
    /// Moments.
    pub moments: crate::moments::Moments,
    /// Group chats.
    pub groups: crate::group::Groups,
    /// Attachments: photos, voice notes, videos, files.
    pub files: crate::files::Files,
    /// The web app's sign-in links and sessions.
    pub web: crate::web::WebState,
}

/// The default display name: WeChat-style, derived from the account id.
pub fn default_handle(identity: &Identity) -> String {
    let id = identity.account_id.to_string();
    format!(
        "weft_{}",
        id.chars().take(10).collect::<String>().to_lowercase()
    )
}

/// The handle to show for this node.
pub fn handle_for(identity: &Identity) -> String {
    default_handle(identity)
}

/// `weft init`: creates the identity and the store, with an optional display name.
pub fn init_home(home: &Home, name: Option<&str>) -> Result<Identity, NodeError> {
    if let Some(n) = name {
        weft_protocol::validate_name(n).map_err(NodeError::BadName)?;
    }
    let identity = home.create_identity()?;
    let store = Store::open(&home.store_dir())?;
    let name = name
        .map(str::to_string)
        .unwrap_or_else(|| default_handle(&identity));
    store.set_name(&name)?;
    Ok(identity)
}

/// A node that is up: network, API and store.
pub struct RunningNode {
    handle: Arc<NodeHandle>,
    api_addr: std::net::SocketAddr,
    token: String,
    shutdown_tx: watch::Sender<bool>,
    net_task: JoinHandle<()>,
    api_task: JoinHandle<()>,
}

impl RunningNode {
    /// Starts a node from `cfg`: creates the identity on first run.
    pub async fn start(cfg: NodeConfig) -> Result<Self, NodeError> {
        let home = Home::new(&cfg.home);
        home.ensure_dir()?;
        let identity = Arc::new(home.load_or_create_identity()?);
        let lightweight = cfg.profile == Profile::Lightweight;
        let store_opts = if lightweight {
            StoreOptions::lightweight()
        } else {
            StoreOptions::default()
        };
        let store = match &cfg.open_store {
            Some(open) => open.0.clone(),
            None => Store::open_with(&home.store_dir(), store_opts)?,
        };
        // Bind the API first: a port in use fails before the network starts.
        // A lightweight (simulated) node has no API: nobody drives it over HTTP.
        let token = api::new_token()?;
        let api_addr = cfg.api.unwrap_or_else(|| ([127, 0, 0, 1], 0).into());
        let listener =
            if lightweight {
                None
            } else {
                Some(tokio::net::TcpListener::bind(api_addr).await.map_err(|e| {
                    NodeError::Listen {
                        addr: api_addr.to_string(),
                        reason: e.to_string(),
                    }
                })?)
            };
        let api_addr = match &listener {
            Some(l) => l.local_addr().map_err(NodeError::ApiAddr)?,
            None => api_addr,
        };
        let name = match store.name()? {
            Some(n) => n,
            None => {
                let n = match &cfg.name {
                    Some(n) => {
                        weft_protocol::validate_name(n).map_err(NodeError::BadName)?;
                        n.clone()
                    }
                    None => default_handle(&identity),
                };
                store.set_name(&n)?;
                n
            }
        };
        let (inbound_tx, inbound_rx) = tokio::sync::mpsc::channel(256);
        // Each service that reads a kind of gossip topic registers for it here.
        let mut gossip = net::GossipReaders::default();
        let gossip_rx = gossip.register(net::TopicKind::Oa, 1024);
        let moments_rx = gossip.register(net::TopicKind::Moments, 1024);
        let group_rx = gossip.register(net::TopicKind::Group, 4096);
        let (net, net_started) = net::spawn(net::NetConfig {
            identity: identity.clone(),
            name: name.clone(),
            store: store.clone(),
            listen: cfg.listen.clone(),
            bootstrap: cfg.bootstrap.clone(),
            options: SwarmOptions {
                mdns: cfg.mdns,
                relay_server: cfg.relay_server,
                memory_transport: cfg.memory_transport.clone(),
            },
            inbound: inbound_tx,
            gossip,
        })
        .map_err(|e| match e {
            net::NetError::Listen { addr, reason } => NodeError::Listen {
                addr: addr.to_string(),
                reason,
            },
            other => NodeError::NetStart(other),
        })?;
        let (shutdown_tx, shutdown) = watch::channel(false);
        let ctx = Context {
            identity: identity.clone(),
            store: store.clone(),
            net: net.clone(),
            shutdown: shutdown.clone(),
        };
        let chat = Chat::start(ctx.clone(), name.clone()).map_err(NodeError::ChatStart)?;
        let nearby = Nearby::start(ctx.clone(), chat.clone());
        let blobs = crate::blobs::Blobs::new(store.clone(), net.clone());
        let oa = Oa::start(
            ctx.clone(),
            home.clone(),
            blobs.clone(),
            cfg.trust_roots.clone(),
            gossip_rx,
        );
        let moments =
            crate::moments::Moments::start(ctx.clone(), chat.clone(), blobs.clone(), moments_rx);
        let groups = crate::group::Groups::start(ctx.clone(), chat.clone(), group_rx);
        let files = crate::files::Files::start(ctx.clone(), home.files_dir())?;
        let devices = crate::device::Devices::start(ctx.clone(), &home, chat.clone())
            .map_err(|e| NodeError::Devices(Box::new(e)))?;
        files.watch_messages(chat.clone(), groups.clone());
        let pay = crate::pay::Pay::start(ctx.clone(), home.clone(), chat.clone(), groups.clone());
        let services = Services {
            pay: pay.clone(),
            devices: devices.clone(),
            files: files.clone(),
            groups: groups.clone(),
            ctx,
            moments: moments.clone(),
            chat: chat.clone(),
            nearby: nearby.clone(),
            oa: oa.clone(),
            blobs: blobs.clone(),
        };
        spawn_inbound(inbound_rx, services, shutdown.clone());
        // Every service has subscribed to network events: now peers may come.
        let net_task = net_started.go();
        let handle = Arc::new(NodeHandle {
            pay,
            devices,
            files,
            groups,
            moments,
            chat,
            nearby,
            oa,
            blobs,
            identity,
            store,
            net,
            home: home.clone(),
            name,
            started: Instant::now(),
            shutdown,
            web: crate::web::WebState::default(),
        });
        let api_task = match listener {
            Some(listener) => {
                let task = api::serve(listener, handle.clone(), token.clone());
                home.write_api_info(&ApiInfo {
                    addr: api_addr.to_string(),
                    token: token.clone(),
                    pid: std::process::id(),
                })?;
                task
            }
            None => tokio::spawn(async {}),
        };
        tracing::info!(peer = %handle.net.peer_id(), api = %api_addr, "node started");
        Ok(Self {
            handle,
            api_addr,
            token,
            shutdown_tx,
            net_task,
            api_task,
        })
    }

    /// Shared node state.
    pub fn handle(&self) -> &Arc<NodeHandle> {
        &self.handle
    }

    /// Where the control API listens.
    pub fn api_addr(&self) -> std::net::SocketAddr {
        self.api_addr
    }

    /// The API bearer token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Stops the API, closes every connection, flushes the store.
    pub async fn shutdown(self) -> Result<(), NodeError> {
        let _ = self.shutdown_tx.send(true);
        self.handle.home.remove_api_info();
        // Open event streams end on the watch flip; give the server a moment, then stop it.
        let mut api_task = self.api_task;
        if tokio::time::timeout(Duration::from_millis(300), &mut api_task)
            .await
            .is_err()
        {
            api_task.abort();
        }
        let _ = tokio::time::timeout(Duration::from_millis(800), self.handle.net.shutdown()).await;
        let mut net_task = self.net_task;
        if tokio::time::timeout(Duration::from_millis(200), &mut net_task)
            .await
            .is_err()
        {
            net_task.abort();
        }
        self.handle.store.flush()?;
        tracing::info!("node stopped; store flushed");
        Ok(())
    }
}
