//! The node's sled database: the one module that touches sled.
//!
//! Trees, one per concern; keys are designed for range scans:
//! - `meta`:  `schema_version` → u32 BE, `name` → UTF-8 display name
//! - `peers`: PeerId bytes → postcard [`KnownPeer`] (address book, so a
//!   restarted node redials the peers it knew)
//! - `cards`: PeerId bytes → the peer's verified card (envelope bytes)
//! - chat (see [`chat`]): `contacts`, `messages`, `msg_index`, `msg_arrived`,
//!   `outbox`, `chat_meta`
//! - mail held for others (see [`mailbox`]): `held`, `held_expiry`
//! - blobs (see [`blob`]): `blob_manifests`, `blob_chunks`
//! - attachments (see [`files`]): `file_manifests`, `file_state`, `file_meta`
//! - linked devices (see [`device`]): `device_lists`, `link_codes`, `device_seen`
//! - official accounts (see [`oa`]): `oa_own`, `oa_follow`, `oa_posts`,
//!   `oa_inbox`, `oa_conv`, `oa_slots`
//! - moments (see [`moments`]): `moments_items`, `moments_item_ids`,
//!   `moments_reaction_items`, `moments_posts`, `moments_reactions`, `moments_deleted`,
//!   `moments_settings`, `moments_tags`, `moments_staged`
//! - Weft Pay (see [`pay`]): the ledgers of the mints this node runs
//!   (`mint_*`) and this device's wallet (`wallet_*`, `pay_*`)
//!
//! The schema version lives in `meta`; [`Store::open`] runs migrations from
//! the stored version up to [`SCHEMA_VERSION`] before anything else reads.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use weft_protocol::{Card, Kind};

/// Declares one concern's trees: a struct of `sled::Tree` fields and an
/// `open` that opens each under its name in the database.
macro_rules! trees {
    ($(#[$doc:meta])* $name:ident { $($field:ident: $tree:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub(crate) struct $name {
            $($field: sled::Tree,)+
        }

        impl $name {
            pub(crate) fn open(db: &sled::Db) -> Result<Self, sled::Error> {
                Ok(Self {
                    $($field: db.open_tree($tree)?,)+
                })
            }
        }
    };
}

pub mod blob;
pub mod chat;
pub mod device;
pub mod files;
pub mod group;
pub mod mailbox;
pub mod moments;
pub mod oa;
pub mod pay;
pub mod short_id;
mod values;

use values::{be_u64, by_id, dec, enc, get, get_u64, last, newest, put_u64};

/// Current on-disk schema.
pub const SCHEMA_VERSION: u32 = 2;
/// Most peers remembered in the address book.
pub const MAX_KNOWN_PEERS: usize = 1024;
/// Most cards kept for peers outside the address book, plus the book's own.
pub const MAX_CARDS: usize = 2 * MAX_KNOWN_PEERS;

/// How long a locked store is tried again before it counts as in use.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the database.
    #[error("store {0} is in use by another weft node (only one node per home)")]
    Locked(String),
    /// sled failed.
    #[error("store error: {0}")]
    Sled(#[from] sled::Error),
    /// A value on disk does not decode.
    #[error("corrupt store record in `{0}`: {1}")]
    Corrupt(&'static str, String),
    /// The store was written by a newer Weft.
    #[error("store schema {found} is newer than this weft ({supported}); upgrade weft")]
    TooNew {
        /// Version on disk.
        found: u32,
        /// Version this build knows.
        supported: u32,
    },
}

/// A peer we have seen, remembered across restarts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownPeer {
    /// Multiaddrs (text) it was reachable on.
    pub addrs: Vec<String>,
    /// Last time we were connected (Unix seconds).
    pub last_seen: u64,
    /// Whether we ever reached it by dialling out. Anyone can connect to
    /// us, so peers that only ever connected inbound are strangers' choice:
    /// they are evicted first and redialled last.
    pub dialed: bool,
}

/// The address-book record before `dialed` existed (read, never written).
#[derive(Deserialize)]
struct KnownPeerV1 {
    addrs: Vec<String>,
    last_seen: u64,
}

impl KnownPeer {
    /// Decodes a stored record, either layout.
    fn decode(v: &[u8]) -> Result<Self, postcard::Error> {
        postcard::from_bytes::<KnownPeer>(v).or_else(|e| {
            postcard::from_bytes::<KnownPeerV1>(v)
                .map(|o| KnownPeer {
                    addrs: o.addrs,
                    last_seen: o.last_seen,
                    dialed: false,
                })
                .map_err(|_| e)
        })
    }

    /// Eviction order: strangers' entries (never dialled) first, then the
    /// longest unseen. The peer ranking lowest is evicted first.
    pub fn rank(&self) -> (bool, u64) {
        (self.dialed, self.last_seen)
    }
}

/// How the sled database is tuned. The default suits a real node; simnet
/// uses [`StoreOptions::lightweight`] so thousands fit in one process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// Upper bound of sled's page cache, bytes.
    pub cache_bytes: u64,
    /// Background flush period; `None` runs no flusher thread (writes that
    /// must survive a crash are flushed explicitly anyway).
    pub flush_every_ms: Option<u64>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            cache_bytes: 64 * 1024 * 1024,
            flush_every_ms: Some(500),
        }
    }
}

impl StoreOptions {
    /// A small cache and no flusher thread: one of thousands of simulated nodes.
    pub fn lightweight() -> Self {
        Self {
            cache_bytes: 1024 * 1024,
            flush_every_ms: None,
        }
    }
}

/// Handle to the node's database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    meta: sled::Tree,
    peers: sled::Tree,
    cards: sled::Tree,
    pub(crate) chat: chat::ChatTrees,
    pub(crate) mailbox: mailbox::MailboxTrees,
    pub(crate) oa: oa::OaTrees,
    pub(crate) blob: blob::BlobTrees,
    pub(crate) files: files::FileTrees,
    pub(crate) moments: moments::MomentsTrees,
    pub(crate) group: group::GroupTrees,
    pub(crate) device: device::DeviceTrees,
    pub(crate) pay: pay::PayTrees,
    /// Address-book entries known to be on disk (updated after each flush).
    durable_peers: Arc<AtomicUsize>,
    /// Concurrent flushes share one fsync ([`Store::flush_async`]).
    commit: Arc<GroupCommit>,
    /// Taken by whatever adds a row to the chat log ([`Store::log_turn`]).
    log_writer: Arc<std::sync::Mutex<()>>,
}

/// Group commit: callers of [`Store::flush_async`] take a ticket after
/// their writes; one flush at a time runs, and it covers every ticket
/// taken before it started. A caller whose ticket a finished flush covers
/// returns without flushing again, so N concurrent callers cost about two
/// fsyncs, not N, and a lone caller one.
#[derive(Default)]
struct GroupCommit {
    /// Tickets handed out (one per call).
    taken: std::sync::atomic::AtomicU64,
    /// Every ticket up to this one is on disk.
    done: std::sync::atomic::AtomicU64,
    /// Held while a flush runs.
    running: tokio::sync::Mutex<()>,
    /// Flushes run so far.
    flushes: std::sync::atomic::AtomicU64,
}

impl Store {
    /// Opens (or creates) the store at `dir` and migrates it.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, StoreOptions::default())
    }

    /// Opens (or creates) the store at `dir` with `opts` and migrates it.
    /// A store this process closed a moment ago (`weft up --init` creates
    /// the home, then starts) may still be locked: sled's background
    /// threads let go of the file lock shortly after the last handle is
    /// dropped. So a locked store is tried again for [`LOCK_WAIT`] before
    /// it counts as another node's.
    pub fn open_with(dir: &Path, opts: StoreOptions) -> Result<Self, StoreError> {
        let open = || {
            sled::Config::new()
                .path(dir)
                .cache_capacity(opts.cache_bytes)
                .flush_every_ms(opts.flush_every_ms)
                .open()
                .map_err(|e| match e {
                    sled::Error::Io(ref io) if io.kind() == std::io::ErrorKind::WouldBlock => {
                        StoreError::Locked(dir.display().to_string())
                    }
                    sled::Error::Io(ref io) if io.to_string().contains("lock") => {
                        StoreError::Locked(dir.display().to_string())
                    }
                    other => StoreError::Sled(other),
                })
        };
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        let db = loop {
            match open() {
                Err(StoreError::Locked(_)) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => break other?,
            }
        };
        Self::from_db(db)
    }

    /// A throwaway in-memory store (tests, simnet).
    pub fn temporary() -> Result<Self, StoreError> {
        Self::from_db(sled::Config::new().temporary(true).open()?)
    }

    fn from_db(db: sled::Db) -> Result<Self, StoreError> {
        let peers = db.open_tree("peers")?;
        let store = Store {
            meta: db.open_tree("meta")?,
            durable_peers: Arc::new(AtomicUsize::new(peers.len())),
            commit: Arc::default(),
            log_writer: Arc::default(),
            peers,
            cards: db.open_tree("cards")?,
            chat: chat::ChatTrees::open(&db)?,
            mailbox: mailbox::MailboxTrees::open(&db)?,
            oa: oa::OaTrees::open(&db)?,
            blob: blob::BlobTrees::open(&db)?,
            files: files::FileTrees::open(&db)?,
            moments: moments::MomentsTrees::open(&db)?,
            group: group::GroupTrees::open(&db)?,
            device: device::DeviceTrees::open(&db)?,
            pay: pay::PayTrees::open(&db)?,
            db,
        };
        store.migrate()?;
        Ok(store)
    }

    /// The schema version on disk (0 = brand new store).
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        match self.meta.get("schema_version")? {
            None => Ok(0),
            Some(v) => {
                let arr: [u8; 4] = v.as_ref().try_into().map_err(|_| {
                    StoreError::Corrupt("meta", "schema_version is not 4 bytes".into())
                })?;
                Ok(u32::from_be_bytes(arr))
            }
        }
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let found = self.schema_version()?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        // Each step upgrades one version.
        let mut v = found;
        while v < SCHEMA_VERSION {
            match v {
                0 => {} // new store: trees are created on open
                1 => {
                    let n = self.migrate_outbox_v2()?;
                    tracing::info!(entries = n, "store schema 2: outbox entries rewritten");
                }
                _ => unreachable!("every version below SCHEMA_VERSION has a step"),
            }
            v += 1;
        }
        if found != SCHEMA_VERSION {
            self.meta
                .insert("schema_version", &SCHEMA_VERSION.to_be_bytes())?;
            self.db.flush()?;
        }
        Ok(())
    }

    /// Display name, if set.
    pub fn name(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .meta
            .get("name")?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Sets the display name (durable before return).
    pub fn set_name(&self, name: &str) -> Result<(), StoreError> {
        self.meta.insert("name", name.as_bytes())?;
        self.db.flush()?;
        Ok(())
    }

    /// Remembers a peer's addresses (keeps the book bounded). A new peer or
    /// changed addresses are flushed before return, so a crash right after
    /// cannot forget them; a mere `last_seen` refresh is left to the
    /// periodic flush. Blocking: call it off the async executor.
    pub fn remember_peer(&self, peer: &[u8], known: &KnownPeer) -> Result<(), StoreError> {
        let old = self.peers.get(peer)?;
        if old.is_none() && self.peers.len() >= MAX_KNOWN_PEERS {
            self.evict_peer()?;
        }
        let old = old.and_then(|v| KnownPeer::decode(&v).ok());
        let changed = old
            .as_ref()
            .is_none_or(|o| o.addrs != known.addrs || o.dialed != known.dialed);
        // Once dialled, always dialled: a later inbound connection does not demote it.
        let known = KnownPeer {
            dialed: known.dialed || old.is_some_and(|o| o.dialed),
            ..known.clone()
        };
        let bytes =
            postcard::to_stdvec(&known).map_err(|e| StoreError::Corrupt("peers", e.to_string()))?;
        self.peers.insert(peer, bytes)?;
        if changed {
            self.db.flush()?;
            self.durable_peers.store(self.peers.len(), Ordering::SeqCst);
        }
        Ok(())
    }

    /// How many peers the address book holds on disk.
    pub fn known_peer_count(&self) -> usize {
        self.durable_peers.load(Ordering::SeqCst)
    }

    /// Makes room in the address book: see [`KnownPeer::rank`].
    fn evict_peer(&self) -> Result<(), StoreError> {
        let oldest = self
            .known_peers()?
            .into_iter()
            .min_by_key(|(_, k)| k.rank())
            .map(|(p, _)| p);
        if let Some(p) = oldest {
            self.peers.remove(&p[..])?;
            self.cards.remove(&p[..])?;
        }
        Ok(())
    }

    /// All remembered peers. Records that fail to decode are skipped and logged.
    pub fn known_peers(&self) -> Result<Vec<(Vec<u8>, KnownPeer)>, StoreError> {
        let mut out = Vec::new();
        for item in self.peers.iter() {
            let (k, v) = item?;
            match KnownPeer::decode(&v) {
                Ok(p) => out.push((k.to_vec(), p)),
                Err(e) => tracing::warn!(error = %e, "skipping unreadable address-book record"),
            }
        }
        Ok(out)
    }

    /// Stores a peer's verified card. The tree is capped at [`MAX_CARDS`]:
    /// past it, a new peer's card is kept only if the peer is in the address
    /// book (whose eviction removes the card too), so strangers' throwaway
    /// devices cannot grow it.
    pub fn put_card(&self, peer: &[u8], card: &Card) -> Result<(), StoreError> {
        if !self.cards.contains_key(peer)?
            && !self.peers.contains_key(peer)?
            && self.cards.len() >= MAX_CARDS
        {
            return Ok(());
        }
        let bytes = weft_protocol::encode(Kind::Card, card)
            .map_err(|e| StoreError::Corrupt("cards", e.to_string()))?;
        self.cards.insert(peer, bytes)?;
        Ok(())
    }

    /// A peer's card, if we have one.
    pub fn card(&self, peer: &[u8]) -> Result<Option<Card>, StoreError> {
        match self.cards.get(peer)? {
            None => Ok(None),
            Some(v) => weft_protocol::decode(Kind::Card, &v)
                .map(Some)
                .map_err(|e| StoreError::Corrupt("cards", e.to_string())),
        }
    }

    /// A small typed setting from `meta` (radar, handle...).
    pub fn setting<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        match self.meta.get(format!("setting/{key}"))? {
            None => Ok(None),
            Some(v) => postcard::from_bytes(&v)
                .map(Some)
                .map_err(|e| StoreError::Corrupt("meta", e.to_string())),
        }
    }

    /// Stores a setting durably.
    pub async fn put_setting<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StoreError> {
        let bytes =
            postcard::to_stdvec(value).map_err(|e| StoreError::Corrupt("meta", e.to_string()))?;
        self.meta.insert(format!("setting/{key}"), bytes)?;
        self.flush_async().await
    }

    /// Bytes on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    /// Writes everything to disk without blocking the executor.
    /// Concurrent callers share one flush (group commit: [`GroupCommit`]).
    pub async fn flush_async(&self) -> Result<(), StoreError> {
        let c = &self.commit;
        // Our writes are made; every flush that starts from now on has them.
        let ticket = c.taken.fetch_add(1, Ordering::SeqCst) + 1;
        let _running = c.running.lock().await;
        if c.done.load(Ordering::SeqCst) >= ticket {
            return Ok(()); // the flush that just ended started after our ticket
        }
        // This flush covers every ticket taken so far.
        let covers = c.taken.load(Ordering::SeqCst);
        // sled's own `flush_async` can stall under concurrent callers; a
        // blocking flush on the blocking pool is plain and just as durable.
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| StoreError::Corrupt("flush", e.to_string()))??;
        c.done.fetch_max(covers, Ordering::SeqCst);
        c.flushes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The chat log's writers take turns: a row's place is checked and
    /// taken with no other write between (two of our devices may send with
    /// the same counter in the same millisecond). Held only across a few
    /// sled calls, never across an await. A writer that panicked leaves
    /// nothing half-checked behind the lock, so a poisoned lock is taken as
    /// it is.
    pub(crate) fn log_turn(&self) -> std::sync::MutexGuard<'_, ()> {
        self.log_writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes everything to disk; returns when durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_flushes_share_one() {
        let s = Store::temporary().unwrap();
        // A flush is running (we hold its place) while 16 writers ask.
        let running = s.commit.running.lock().await;
        let mut waiting = Vec::new();
        for i in 0u32..16 {
            let s = s.clone();
            waiting.push(tokio::spawn(async move {
                s.meta.insert(format!("k{i}"), &i.to_be_bytes()).unwrap();
                s.flush_async().await
            }));
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while s.commit.taken.load(Ordering::SeqCst) < 16 {
            assert!(std::time::Instant::now() < deadline, "writers never asked");
            tokio::task::yield_now().await;
        }
        drop(running);
        for w in waiting {
            w.await.unwrap().unwrap();
        }
        assert_eq!(
            s.commit.flushes.load(Ordering::SeqCst),
            1,
            "one flush for all 16"
        );
        // A lone caller after them gets a flush of its own.
        s.flush_async().await.unwrap();
        assert_eq!(s.commit.flushes.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn fresh_store_gets_current_schema_and_keeps_it_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path()).unwrap();
            assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
            s.set_name("Ada").unwrap();
        }
        // Closed a moment ago: `open` waits for sled to let go of the lock.
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.name().unwrap().as_deref(), Some("Ada"));
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path()).unwrap();
            s.meta
                .insert("schema_version", &99u32.to_be_bytes())
                .unwrap();
            s.flush().unwrap();
        }
        assert!(matches!(
            Store::open(dir.path()),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }

    #[test]
    fn second_open_of_same_store_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _a = Store::open(dir.path()).unwrap();
        assert!(Store::open(dir.path()).is_err());
    }

    #[test]
    fn address_book_is_bounded_and_skips_garbage() {
        let s = Store::temporary().unwrap();
        for i in 0..(MAX_KNOWN_PEERS + 5) as u64 {
            let p = KnownPeer {
                addrs: vec![],
                last_seen: i,
                dialed: false,
            };
            s.remember_peer(&i.to_be_bytes(), &p).unwrap();
        }
        assert_eq!(s.known_peers().unwrap().len(), MAX_KNOWN_PEERS);
        s.peers.insert(b"junk", &[0xff, 0xff, 0xff][..]).unwrap();
        assert_eq!(s.known_peers().unwrap().len(), MAX_KNOWN_PEERS);
    }

    #[test]
    fn strangers_connecting_in_cannot_evict_the_peers_we_dialled() {
        let s = Store::temporary().unwrap();
        let peer = |dialed, last_seen| KnownPeer {
            addrs: vec![],
            last_seen,
            dialed,
        };
        for i in 0..10u64 {
            s.remember_peer(&[b"dialed-", &i.to_be_bytes()[..]].concat(), &peer(true, 1))
                .unwrap();
        }
        // A flood of fresher inbound-only strangers.
        for i in 0..(2 * MAX_KNOWN_PEERS) as u64 {
            s.remember_peer(&i.to_be_bytes(), &peer(false, 1000 + i))
                .unwrap();
        }
        let book = s.known_peers().unwrap();
        assert_eq!(book.len(), MAX_KNOWN_PEERS);
        assert_eq!(book.iter().filter(|(_, k)| k.dialed).count(), 10);
        // A record in the old layout still reads.
        let old = postcard::to_stdvec(&(vec!["/ip4/1.2.3.4/tcp/1".to_string()], 7u64)).unwrap();
        let read = KnownPeer::decode(&old).unwrap();
        assert_eq!(
            (read.addrs.len(), read.last_seen, read.dialed),
            (1, 7, false)
        );
    }

    #[test]
    fn the_cards_tree_is_capped_for_peers_outside_the_address_book() {
        let s = Store::temporary().unwrap();
        let key = weft_protocol::AccountKey::generate().unwrap();
        let card = Card::new(&key, key.certify_device([1; 32], 1), "X", vec![], 1).unwrap();
        for i in 0..(MAX_CARDS + 10) as u64 {
            s.put_card(&i.to_be_bytes(), &card).unwrap();
        }
        assert_eq!(s.cards.len(), MAX_CARDS);
    }
}
