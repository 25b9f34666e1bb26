//! Node configuration: embedded defaults, then `weft.toml` in the home
//! directory (optional), then command-line flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use libp2p::Multiaddr;
use serde::Deserialize;

use crate::error::NodeError;
use crate::home::Home;
pub use crate::net::behaviour::{LinkIo, MemoryTransportHook};

/// Largest config file read, in bytes.
const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// Everything needed to run a node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Home directory.
    pub home: PathBuf,
    /// Addresses to listen on. Default: all interfaces, TCP and QUIC, OS-chosen ports.
    pub listen: Vec<Multiaddr>,
    /// Peers to join the network through. No built-in public list.
    pub bootstrap: Vec<Multiaddr>,
    /// Control API address; default 127.0.0.1 with an OS-chosen port.
    pub api: Option<SocketAddr>,
    /// mDNS LAN discovery (default on).
    pub mdns: bool,
    /// Act as a circuit relay for others (default off).
    pub relay_server: bool,
    /// Display name to use if the store has none yet (first run).
    pub name: Option<String>,
    /// Verifiers whose official-account certificates this node trusts.
    pub trust_roots: Vec<weft_protocol::AccountId>,
    /// Resource profile; [`Profile::Full`] for real nodes.
    pub profile: Profile,
    /// Replaces the plain in-process memory transport (simnet's link model);
    /// `None` for real nodes.
    pub memory_transport: Option<MemoryTransportHook>,
    /// Run on this already open store instead of opening the home's; `None`
    /// for real nodes.
    pub open_store: Option<OpenStore>,
}

/// A store that is already open. simnet restarts a churned node on the
/// store it left behind: sled lets one handle per process open a database,
/// and the stopped node's last tasks may still hold theirs.
#[derive(Clone)]
pub struct OpenStore(pub crate::store::Store);

impl std::fmt::Debug for OpenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpenStore")
    }
}

/// How much a node may cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Profile {
    /// A real node: large store cache, background flushes, control API.
    #[default]
    Full,
    /// One of thousands of simulated nodes in one process: a small store
    /// cache, no flusher thread, no control API server.
    Lightweight,
}

/// The optional `weft.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<Vec<String>>,
    bootstrap: Option<Vec<String>>,
    api: Option<String>,
    mdns: Option<bool>,
    relay_server: Option<bool>,
    trust_roots: Option<Vec<String>>,
}

impl NodeConfig {
    /// Defaults for `home`, overlaid with its `weft.toml` if present.
    pub fn load(home: PathBuf) -> Result<Self, NodeError> {
        let mut cfg = NodeConfig {
            listen: vec![
                "/ip4/0.0.0.0/tcp/0".parse().expect("static multiaddr"),
                "/ip4/0.0.0.0/udp/0/quic-v1"
                    .parse()
                    .expect("static multiaddr"),
            ],
            bootstrap: Vec::new(),
            api: None,
            mdns: true,
            relay_server: false,
            name: None,
            trust_roots: Vec::new(),
            profile: Profile::Full,
            memory_transport: None,
            open_store: None,
            home,
        };
        let path = Home::new(&cfg.home).config_file();
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(_) => return Ok(cfg),
        };
        let bad = |e: ConfigError| NodeError::Config(path.clone(), Box::new(e));
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(bad(ConfigError::TooLarge(MAX_CONFIG_BYTES)));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| bad(ConfigError::Read(e)))?;
        let file: FileConfig = toml::from_str(&text).map_err(|e| bad(ConfigError::Toml(e)))?;
        if let Some(l) = file.listen {
            cfg.listen = parse_addrs(&l).map_err(|e| bad(e.into()))?;
        }
        if let Some(b) = file.bootstrap {
            cfg.bootstrap = parse_addrs(&b).map_err(|e| bad(e.into()))?;
        }
        if let Some(a) = file.api {
            cfg.api = Some(a.parse().map_err(|source| {
                bad(ConfigError::Api {
                    text: a.clone(),
                    source,
                })
            })?);
        }
        if let Some(m) = file.mdns {
            cfg.mdns = m;
        }
        if let Some(r) = file.relay_server {
            cfg.relay_server = r;
        }
        if let Some(roots) = file.trust_roots {
            cfg.trust_roots = roots
                .iter()
                .map(|r| r.parse().map_err(|e| bad(ConfigError::TrustRoot(e))))
                .collect::<Result<_, _>>()?;
        }
        Ok(cfg)
    }
}

/// What is wrong with `weft.toml`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is larger than any sane config.
    #[error("larger than {0} bytes")]
    TooLarge(u64),
    /// The file could not be read.
    #[error("{0}")]
    Read(#[source] std::io::Error),
    /// Not TOML, or a key or value of the wrong kind.
    #[error("{0}")]
    Toml(#[source] toml::de::Error),
    /// A `listen` or `bootstrap` entry is not a multiaddr.
    #[error(transparent)]
    Addr(#[from] BadMultiaddr),
    /// `api` is not an `IP:port`.
    #[error("api `{text}`: {source}")]
    Api {
        /// What the file says.
        text: String,
        /// Why it does not parse.
        #[source]
        source: std::net::AddrParseError,
    },
    /// A `trust_roots` entry is not an account id.
    #[error("trust_roots: {0}")]
    TrustRoot(#[source] weft_protocol::IdError),
}

/// A text that is not a multiaddr, from the user or `weft.toml`.
#[derive(Debug, thiserror::Error)]
#[error("`{text}` is not a multiaddr: {source}")]
pub struct BadMultiaddr {
    /// The text given.
    pub text: String,
    /// Why it does not parse.
    #[source]
    pub source: libp2p::multiaddr::Error,
}

/// Parses multiaddrs, naming the first bad one.
pub fn parse_addrs(list: &[String]) -> Result<Vec<Multiaddr>, BadMultiaddr> {
    list.iter()
        .map(|s| {
            s.parse::<Multiaddr>().map_err(|source| BadMultiaddr {
                text: s.clone(),
                source,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_without_file_and_overrides_with_one() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = NodeConfig::load(dir.path().into()).unwrap();
        assert!(cfg.mdns);
        assert!(cfg.bootstrap.is_empty());
        std::fs::write(
            dir.path().join("weft.toml"),
            "mdns = false\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\napi = \"127.0.0.1:0\"\n",
        )
        .unwrap();
        let cfg = NodeConfig::load(dir.path().into()).unwrap();
        assert!(!cfg.mdns);
        assert_eq!(cfg.listen.len(), 1);
    }

    #[test]
    fn bad_config_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("weft.toml"), "bootstrap = [\"nonsense\"]").unwrap();
        let err = NodeConfig::load(dir.path().into()).unwrap_err().to_string();
        assert!(err.contains("nonsense"), "{err}");
        std::fs::write(dir.path().join("weft.toml"), "colour = 3").unwrap();
        assert!(NodeConfig::load(dir.path().into()).is_err());
    }
}
