//! The nearby radar, People Nearby over the DHT, and handles.
//!
//! - **Radar** (`radar.rs`, `weft nearby on/off`): off by default. When on,
//!   this node answers `/weft/profile/1` (`inbound.rs`) with its signed
//!   profile (otherwise `Hidden`), and every [`POLL`] asks the peers mDNS
//!   found on the LAN for theirs. Visibility ends by itself after
//!   [`DEFAULT_VISIBLE`] (as WeChat clears location); a profile not
//!   refreshed for [`EXPIRY`] is dropped, so a node that turns its radar off
//!   disappears from others' lists within [`EXPIRY`] + [`POLL`].
//! - **People Nearby** (`people.rs`): with a location, the node provides its
//!   5-character geohash cell (~4.9 km) in the DHT and looks up providers of
//!   its cell and the 8 neighbours every [`DHT_POLL`]; their profiles are
//!   fetched the same way. Nothing finer than the cell leaves the node;
//!   distances are between cell centres.
//! - **Handles** (`handles.rs`): a signed claim `/weft/handle/<handle>` →
//!   account in the DHT. Storing peers keep the first claim they see
//!   (another account cannot overwrite it); `find` takes the claim most
//!   peers returned, then the earliest. `find` shows the account fingerprint
//!   so users can check. Changing handle publishes a signed release of the
//!   old one, which then resolves to no one (and may be claimed by others).
//!
//! `service.rs` runs the one loop that drives all three. This file holds the
//! [`Nearby`] handle, its error, its settings and the views the API returns.

mod handles;
mod inbound;
mod people;
mod radar;
mod service;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use serde::{Deserialize, Serialize};
use weft_protocol::{
    geo,
    profile::{Profile, ProfileError},
    AccountId, Card,
};

use crate::chat::Chat;
use crate::context::Context;
use crate::store::StoreError;

pub use handles::{find_handle, fingerprint};

/// How often the radar asks peers for profiles.
pub const POLL: Duration = Duration::from_secs(2);
/// How often the DHT is asked for nearby cells' providers.
pub const DHT_POLL: Duration = Duration::from_secs(5);
/// A profile not refreshed for this long leaves the list.
pub const EXPIRY: Duration = Duration::from_secs(8);
/// Radar visibility when none is given.
pub const DEFAULT_VISIBLE: Duration = Duration::from_secs(3600);
/// Most people (and LAN peers) kept in the list.
const MAX_FOUND: usize = 256;
/// The settings key the radar settings are stored under.
const RADAR_KEY: &str = "radar";

/// Radar and nearby failures.
#[derive(Debug, thiserror::Error)]
pub enum NearbyError {
    /// Needs the account key, and this is a linked device.
    #[error(transparent)]
    NotPrimary(#[from] crate::home::NotPrimary),
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
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
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

/// How someone was found.
///
/// The order matters: when a peer is both on the LAN and in the DHT, the
/// poll keeps the smaller, so it is shown as found via the DHT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// People Nearby: a provider of our cell or a neighbouring one.
    Dht,
    /// mDNS on the local network.
    Lan,
}

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Via::Dht => "dht",
            Via::Lan => "lan",
        })
    }
}

/// One person in `weft nearby`.
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    pub via: Via,
    /// Whether an avatar was shared.
    pub has_avatar: bool,
}

/// What `weft find` shows.
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    /// The claimant's card (dial hints). Always set by [`find_handle`]; never
    /// part of the JSON, so absent when the view is parsed back.
    #[serde(skip)]
    pub card: Option<Card>,
}

/// Someone whose profile we hold.
struct Found {
    profile: Profile,
    peer: PeerId,
    seen: Instant,
    via: Via,
}

/// What the radar knows right now (memory only: it expires in seconds).
struct State {
    /// Peers mDNS reported on the LAN, to ask for profiles.
    lan: HashMap<PeerId, Instant>,
    /// People whose visible profile we fetched, by account.
    found: HashMap<AccountId, Found>,
}

/// The nearby service handle. Cheap to clone.
#[derive(Clone)]
pub struct Nearby {
    ctx: Context,
    /// Builds our signed card for profiles and handle claims.
    chat: Chat,
    state: Arc<Mutex<State>>,
}

impl Nearby {
    /// Until when (Unix seconds) the radar shows us, if it is on now.
    pub fn visible_until(&self) -> Option<u64> {
        let until = self.settings().visible_until;
        (until > weft_protocol::unix_now()).then_some(until)
    }

    fn settings(&self) -> RadarSettings {
        self.ctx
            .store
            .setting(RADAR_KEY)
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    fn is_on(&self, s: &RadarSettings) -> bool {
        s.visible_until > weft_protocol::unix_now()
    }

    /// Forgets everyone found (the radar went off).
    fn forget_found(&self) {
        if let Ok(mut st) = self.state.lock() {
            st.found.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_keeps_its_json_and_prefers_dht() {
        assert_eq!(serde_json::to_value(Via::Lan).unwrap(), "lan");
        assert_eq!(serde_json::to_value(Via::Dht).unwrap(), "dht");
        assert!(Via::Dht < Via::Lan);
    }
}
