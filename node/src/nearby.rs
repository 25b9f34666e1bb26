//! The nearby radar, People Nearby over the DHT, and handles.
//!
//! - **Radar** (`weft nearby on/off`): off by default. When on, this node
//!   answers `/weft/profile/1` with its signed profile (otherwise `Hidden`),
//!   and every [`POLL`] asks the peers mDNS found on the LAN for theirs.
//!   Visibility ends by itself after [`DEFAULT_VISIBLE`] (as WeChat clears
//!   location); a profile not refreshed for [`EXPIRY`] is dropped, so a
//!   node that turns its radar off disappears from others' lists within
//!   [`EXPIRY`] + [`POLL`].
//! - **People Nearby**: with a location, the node provides its 5-character
//!   geohash cell (~4.9 km) in the DHT and looks up providers of its cell and
//!   the 8 neighbours every [`DHT_POLL`]; their profiles are fetched the same
//!   way. Nothing finer than the cell leaves the node; distances are between
//!   cell centres.
//! - **Handles**: a signed claim `/weft/handle/<handle>` → account in the DHT.
//!   Storing peers keep the first claim they see (another account cannot
//!   overwrite it); `find` takes the claim most peers returned, then the
//!   earliest. `find` shows the account fingerprint so users can check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use weft_protocol::{
    geo,
    profile::{normalize_handle, HandleClaim, Profile, ProfileBody, ProfileError, ProfileReply},
    AccountId, Card, Kind,
};

use crate::chat::Chat;
use crate::net::{records, AppProtocol, InboundRequest, Net, NetEvent};
use crate::store::{Store, StoreError};

/// How often the radar asks peers for profiles.
pub const POLL: Duration = Duration::from_secs(2);
/// How often the DHT is asked for nearby cells' providers.
pub const DHT_POLL: Duration = Duration::from_secs(5);
/// A profile not refreshed for this long leaves the list.
pub const EXPIRY: Duration = Duration::from_secs(8);
/// Radar visibility when none is given.
pub const DEFAULT_VISIBLE: Duration = Duration::from_secs(3600);
/// Most people kept in the list.
const MAX_FOUND: usize = 256;
/// Most peers asked per poll.
const MAX_ASK: usize = 64;
/// How often our handle claim is republished.
const REPUBLISH: Duration = Duration::from_secs(30 * 60);

/// Radar and nearby failures.
#[derive(Debug, thiserror::Error)]
pub enum NearbyError {
    /// Bad profile field or handle.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// Bad coordinates or geohash.
    #[error(transparent)]
    Geo(#[from] geo::GeoError),
    /// The handle belongs to someone else.
    #[error("handle `{0}` is already claimed by account {1}")]
    Taken(String, String),
    /// Nobody claimed it.
    #[error("no one has claimed the handle `{0}` (or no DHT peer answered)")]
    NotFound(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// We could not build our card.
    #[error("cannot build our card")]
    Card,
}

/// Persisted radar settings.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RadarSettings {
    /// Visible until (Unix seconds); 0 = off.
    pub visible_until: u64,
    /// Coarse cell, if a location was given.
    pub cell: Option<String>,
    /// "What's Up".
    pub whats_up: String,
    /// Region.
    pub region: String,
    /// Avatar bytes.
    pub avatar: Option<Vec<u8>>,
}

/// What `weft nearby on` sets.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RadarOn {
    /// Latitude.
    pub lat: Option<f64>,
    /// Longitude.
    pub lon: Option<f64>,
    /// Or a geohash (any precision ≥ 5; cut to 5).
    pub geohash: Option<String>,
    /// "What's Up".
    pub whats_up: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Avatar, hex-encoded PNG/JPEG.
    pub avatar_hex: Option<String>,
    /// Minutes of visibility (default 60, at most 24 h).
    pub minutes: Option<u64>,
}

/// One person in `weft nearby`.
#[derive(Clone, Debug, Serialize)]
pub struct NearbyView {
    /// Account id.
    pub account_id: String,
    /// Name.
    pub name: String,
    /// Distance between cell centres, metres; null when either side shared no location.
    pub distance_m: Option<f64>,
    /// "What's Up".
    pub whats_up: String,
    /// Region.
    pub region: String,
    /// Seconds since the profile was last refreshed.
    pub last_seen_secs: u64,
    /// `lan` (mDNS) or `dht` (People Nearby).
    pub via: &'static str,
    /// Whether an avatar was shared.
    pub has_avatar: bool,
}

/// What `weft find` shows.
#[derive(Clone, Debug, Serialize)]
pub struct FoundHandle {
    /// The handle.
    pub handle: String,
    /// The account it names.
    pub account_id: String,
    /// Account fingerprint to compare out of band.
    pub fingerprint: String,
    /// Their name.
    pub name: String,
    /// Their device.
    pub peer_id: Option<String>,
    /// Other accounts that also claimed it (later or less widely stored).
    pub other_claims: usize,
    /// The claimant's card (dial hints).
    #[serde(skip)]
    pub card: Card,
}

struct Found {
    profile: Profile,
    peer: PeerId,
    seen: Instant,
    via: &'static str,
}

struct State {
    lan: HashMap<PeerId, Instant>,
    found: HashMap<AccountId, Found>,
}

/// The nearby service handle. Cheap to clone.
#[derive(Clone)]
pub struct Nearby {
    chat: Chat,
    store: Store,
    net: Net,
    state: Arc<Mutex<State>>,
}

const RADAR_KEY: &str = "radar";
const HANDLE_KEY: &str = "handle";

/// Account id shown in groups of four for comparing by eye.
pub fn fingerprint(a: &AccountId) -> String {
    let s = a.to_string();
    s.as_bytes()
        .chunks(4)
        .take(6)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Resolves a handle through the DHT.
pub async fn find_handle(net: &Net, handle: &str) -> Result<FoundHandle, NearbyError> {
    let handle = normalize_handle(handle)?;
    let key = records::handle_key(&handle);
    let values = tokio::time::timeout(Duration::from_secs(15), net.get_record(key.clone()))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let mut by_account: HashMap<AccountId, (usize, HandleClaim)> = HashMap::new();
    for v in values {
        if let Ok(c) = records::handle_claim(&key, &v) {
            let e = by_account.entry(c.account()).or_insert((0, c.clone()));
            e.0 += 1;
            if c.claimed_at < e.1.claimed_at {
                e.1 = c;
            }
        }
    }
    let others = by_account.len().saturating_sub(1);
    let (_, winner) = by_account
        .into_values()
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.claimed_at.cmp(&a.1.claimed_at)))
        .ok_or_else(|| NearbyError::NotFound(handle.clone()))?;
    let account = winner.account();
    Ok(FoundHandle {
        handle,
        account_id: account.to_string(),
        fingerprint: fingerprint(&account),
        name: winner.card.body.name.clone(),
        peer_id: crate::net::card_peer(&winner.card).map(|p| p.to_string()),
        other_claims: others,
        card: winner.card,
    })
}

impl Nearby {
    /// Starts the radar loop (it idles while the radar is off).
    pub fn start(chat: Chat, store: Store, net: Net, shutdown: watch::Receiver<bool>) -> Self {
        let n = Nearby {
            chat,
            store,
            net,
            state: Arc::new(Mutex::new(State {
                lan: HashMap::new(),
                found: HashMap::new(),
            })),
        };
        n.spawn_loop(shutdown);
        n
    }

    fn settings(&self) -> RadarSettings {
        self.store
            .setting(RADAR_KEY)
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    fn is_on(&self, s: &RadarSettings) -> bool {
        s.visible_until > weft_protocol::unix_now()
    }

    /// `weft nearby on`.
    pub async fn turn_on(&self, req: RadarOn) -> Result<RadarSettings, NearbyError> {
        let old = self.settings();
        let cell = match (req.lat, req.lon, req.geohash.as_deref()) {
            (Some(lat), Some(lon), _) => Some(geo::encode(lat, lon, geo::CELL_PRECISION)?),
            (_, _, Some(g)) => {
                let g = g.trim().to_ascii_lowercase();
                if g.len() < geo::CELL_PRECISION {
                    return Err(geo::GeoError::BadGeohash(g).into());
                }
                geo::bounds(&g)?;
                Some(g[..geo::CELL_PRECISION].to_string())
            }
            (None, None, None) => old.cell.clone(),
            _ => return Err(geo::GeoError::BadCoordinates.into()),
        };
        let avatar = match req.avatar_hex.as_deref() {
            Some(h) => Some(hex_decode(h).ok_or(ProfileError::Bounds("avatar: not hex"))?),
            None => old.avatar.clone(),
        };
        let minutes = req
            .minutes
            .unwrap_or(DEFAULT_VISIBLE.as_secs() / 60)
            .clamp(1, 24 * 60);
        let s = RadarSettings {
            visible_until: weft_protocol::unix_now() + minutes * 60,
            cell,
            whats_up: req.whats_up.unwrap_or(old.whats_up),
            region: req.region.unwrap_or(old.region),
            avatar,
        };
        // Validate by signing a profile now: a bad field fails here, not later.
        self.profile_for(&s).await?;
        if let Some(old_cell) = old.cell.as_ref().filter(|c| Some(*c) != s.cell.as_ref()) {
            self.net.provide(records::geo_key(old_cell), false).await;
        }
        self.store.put_setting(RADAR_KEY, &s).await?;
        if let Some(cell) = &s.cell {
            self.net.provide(records::geo_key(cell), true).await;
        }
        Ok(s)
    }

    /// `weft nearby off`.
    pub async fn turn_off(&self) -> Result<(), NearbyError> {
        let mut s = self.settings();
        if let Some(cell) = &s.cell {
            self.net.provide(records::geo_key(cell), false).await;
        }
        s.visible_until = 0;
        self.store.put_setting(RADAR_KEY, &s).await?;
        if let Ok(mut st) = self.state.lock() {
            st.found.clear();
        }
        Ok(())
    }

    async fn profile_for(&self, s: &RadarSettings) -> Result<Profile, NearbyError> {
        let card = self.chat.my_card().await.ok_or(NearbyError::Card)?;
        let body = ProfileBody {
            card,
            whats_up: s.whats_up.clone(),
            region: s.region.clone(),
            avatar: s.avatar.clone(),
            cell: s.cell.clone(),
            visible_until: s.visible_until,
        };
        Ok(Profile::new(&self.chat.inner.identity.account, body)?)
    }

    /// Answers `/weft/profile/1`.
    pub async fn handle_inbound(&self, _req: &InboundRequest) -> Option<Vec<u8>> {
        let s = self.settings();
        let reply = if self.is_on(&s) {
            match self.profile_for(&s).await {
                Ok(p) => ProfileReply::Visible(Box::new(p)),
                Err(_) => ProfileReply::Hidden,
            }
        } else {
            ProfileReply::Hidden
        };
        weft_protocol::encode(Kind::ProfileReply, &reply).ok()
    }

    /// `weft nearby`: people found, nearest first.
    pub fn list(&self) -> Vec<NearbyView> {
        let s = self.settings();
        if !self.is_on(&s) {
            return Vec::new();
        }
        let mine = s.cell.as_deref().and_then(|c| geo::center(c).ok());
        let Ok(st) = self.state.lock() else {
            return Vec::new();
        };
        let mut out: Vec<NearbyView> = st
            .found
            .values()
            .filter(|f| f.seen.elapsed() < EXPIRY)
            .map(|f| {
                let theirs = f
                    .profile
                    .body
                    .cell
                    .as_deref()
                    .and_then(|c| geo::center(c).ok());
                NearbyView {
                    account_id: f.profile.account().to_string(),
                    name: f.profile.body.card.body.name.clone(),
                    distance_m: mine.zip(theirs).map(|(a, b)| geo::distance_m(a, b).round()),
                    whats_up: f.profile.body.whats_up.clone(),
                    region: f.profile.body.region.clone(),
                    last_seen_secs: f.seen.elapsed().as_secs(),
                    via: f.via,
                    has_avatar: f.profile.body.avatar.is_some(),
                }
            })
            .collect();
        out.sort_by(|a, b| {
            a.distance_m
                .unwrap_or(f64::MAX)
                .total_cmp(&b.distance_m.unwrap_or(f64::MAX))
        });
        out
    }

    /// The card of someone in the nearby list (so `contacts add` can reach them).
    pub fn card_of(&self, account: &AccountId) -> Option<Card> {
        self.state
            .lock()
            .ok()?
            .found
            .get(account)
            .map(|f| f.profile.body.card.clone())
    }

    /// `weft id --handle NAME`: claims a handle in the DHT.
    pub async fn claim_handle(&self, handle: &str) -> Result<(String, bool), NearbyError> {
        let handle = normalize_handle(handle)?;
        let me = self.chat.inner.identity.account.account_id();
        match find_handle(&self.net, &handle).await {
            Ok(f) if f.account_id != me.to_string() => {
                return Err(NearbyError::Taken(handle, f.fingerprint));
            }
            _ => {}
        }
        let claimed_at = match self.store.setting::<(String, u64)>(HANDLE_KEY)? {
            Some((h, at)) if h == handle => at,
            _ => weft_protocol::unix_now(),
        };
        self.store
            .put_setting(HANDLE_KEY, &(handle.clone(), claimed_at))
            .await?;
        let published = self.publish_handle().await;
        Ok((handle, published))
    }

    /// Our claimed handle, if any.
    pub fn handle(&self) -> Option<String> {
        self.store
            .setting::<(String, u64)>(HANDLE_KEY)
            .ok()
            .flatten()
            .map(|(h, _)| h)
    }

    async fn publish_handle(&self) -> bool {
        let Some((handle, at)) = self
            .store
            .setting::<(String, u64)>(HANDLE_KEY)
            .ok()
            .flatten()
        else {
            return false;
        };
        let Some(card) = self.chat.my_card().await else {
            return false;
        };
        let Ok(claim) = HandleClaim::new(&self.chat.inner.identity.account, &handle, card, at)
        else {
            return false;
        };
        let Ok(value) = weft_protocol::encode(Kind::HandleClaim, &claim) else {
            return false;
        };
        let put = self.net.put_record(records::handle_key(&handle), value);
        matches!(
            tokio::time::timeout(Duration::from_secs(20), put).await,
            Ok(Ok(()))
        )
    }

    fn spawn_loop(&self, mut shutdown: watch::Receiver<bool>) {
        let me = self.clone();
        let mut events = self.net.subscribe();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL);
            let mut last_dht: Option<Instant> = None;
            let mut last_publish: Option<Instant> = None;
            let mut provided = false;
            loop {
                tokio::select! {
                    _ = async { let _ = shutdown.wait_for(|s| *s).await; } => return,
                    ev = events.recv() => {
                        if matches!(ev, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                            return;
                        }
                        if matches!(ev, Ok(NetEvent::PeerIdentified { .. }))
                            && last_publish.is_none_or(|t| t.elapsed() > REPUBLISH)
                        {
                            last_publish = Some(Instant::now());
                            let m = me.clone();
                            tokio::spawn(async move { m.publish_handle().await });
                        }
                        me.on_lan_event(ev.ok());
                    }
                    _ = tick.tick() => {
                        let s = me.settings();
                        if !me.is_on(&s) {
                            if provided {
                                if let Some(cell) = &s.cell {
                                    me.net.provide(records::geo_key(cell), false).await;
                                }
                                provided = false;
                            }
                            if let Ok(mut st) = me.state.lock() {
                                st.found.clear();
                            }
                            continue;
                        }
                        if !provided {
                            if let Some(cell) = &s.cell {
                                me.net.provide(records::geo_key(cell), true).await;
                            }
                            provided = true;
                        }
                        let mut ask: Vec<(PeerId, &'static str)> = me
                            .state
                            .lock()
                            .map(|st| st.lan.keys().map(|p| (*p, "lan")).collect())
                            .unwrap_or_default();
                        if let Some(cell) = &s.cell {
                            if last_dht.is_none_or(|t| t.elapsed() >= DHT_POLL) {
                                last_dht = Some(Instant::now());
                                for c in geo::cell_and_neighbours(cell).unwrap_or_default() {
                                    if let Ok(Ok(ps)) = tokio::time::timeout(Duration::from_secs(5), me.net.providers(records::geo_key(&c))).await {
                                        ask.extend(ps.into_iter().map(|(p, _)| (p, "dht")));
                                    }
                                }
                            } else {
                                // Between DHT lookups, refresh the people already found there.
                                if let Ok(st) = me.state.lock() {
                                    ask.extend(st.found.values().filter(|f| f.via == "dht").map(|f| (f.peer, "dht")));
                                }
                            }
                        }
                        ask.sort();
                        ask.dedup_by_key(|(p, _)| *p);
                        ask.truncate(MAX_ASK);
                        let fetches = ask.into_iter().map(|(p, via)| me.fetch_profile(p, via));
                        futures::future::join_all(fetches).await;
                        if let Ok(mut st) = me.state.lock() {
                            st.found.retain(|_, f| f.seen.elapsed() < EXPIRY);
                        }
                    }
                }
            }
        });
    }

    fn on_lan_event(&self, ev: Option<NetEvent>) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        match ev {
            Some(NetEvent::LanPeerFound { peer_id, .. }) if st.lan.len() < MAX_FOUND => {
                st.lan.insert(peer_id, Instant::now());
            }
            Some(NetEvent::LanPeerExpired { peer_id }) => {
                st.lan.remove(&peer_id);
            }
            _ => {}
        }
    }

    async fn fetch_profile(&self, peer: PeerId, via: &'static str) {
        let req = self.net.request(AppProtocol::Profile, peer, Vec::new());
        let Ok(Ok(bytes)) = tokio::time::timeout(Duration::from_secs(4), req).await else {
            return;
        };
        let reply = match weft_protocol::decode::<ProfileReply>(Kind::ProfileReply, &bytes) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "ignoring malformed profile");
                return;
            }
        };
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        match reply {
            ProfileReply::Hidden => st.found.retain(|_, f| f.peer != peer),
            ProfileReply::Visible(p) => {
                let valid = p.verify().is_ok()
                    && crate::net::card_peer(&p.body.card) == Some(peer)
                    && p.body.visible_until > weft_protocol::unix_now();
                if !valid {
                    tracing::warn!(%peer, "ignoring a profile that is unsigned, expired or not this peer's");
                    return;
                }
                if st.found.len() >= MAX_FOUND && !st.found.contains_key(&p.account()) {
                    return;
                }
                st.found.insert(
                    p.account(),
                    Found {
                        profile: *p,
                        peer,
                        seen: Instant::now(),
                        via,
                    },
                );
            }
        }
    }
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) || s.len() > 2 * weft_protocol::profile::MAX_AVATAR {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
