//! The radar: turning visibility on and off, our signed profile, and the
//! list of people whose profiles we fetched (from LAN peers mDNS reported,
//! or from cell providers `people.rs` found). The list lives in memory only
//! and expires within seconds, so someone who turns their radar off leaves
//! everyone's list by themselves.

use std::time::Instant;

use libp2p::PeerId;
use weft_protocol::{
    geo, hex,
    profile::{Profile, ProfileBody, ProfileError, ProfileReply, MAX_AVATAR},
    AccountId, Card, Kind,
};

use super::{
    Found, Nearby, NearbyError, NearbyView, RadarOn, RadarSettings, Via, DEFAULT_VISIBLE, EXPIRY,
    MAX_FOUND, RADAR_KEY,
};
use crate::net::{AppProtocol, NetEvent};

/// How long a peer may take to answer `/weft/profile/1`.
const PROFILE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4);
/// Longest visibility a user can ask for, in minutes (a day).
const MAX_VISIBLE_MINUTES: u64 = 24 * 60;

impl Nearby {
    /// `weft nearby on`.
    pub async fn turn_on(&self, req: RadarOn) -> Result<RadarSettings, NearbyError> {
        let old = self.settings();
        let cell = Self::cell_for(&req, &old)?;
        let avatar = match req.avatar_hex.as_deref() {
            Some(h) => Some(decode_avatar(h)?),
            None => old.avatar.clone(),
        };
        let minutes = req
            .minutes
            .unwrap_or(DEFAULT_VISIBLE.as_secs() / 60)
            .clamp(1, MAX_VISIBLE_MINUTES);
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
            self.provide_cell(old_cell, false).await;
        }
        self.ctx.store.put_setting(RADAR_KEY, &s).await?;
        if let Some(cell) = &s.cell {
            self.provide_cell(cell, true).await;
        }
        Ok(s)
    }

    /// `weft profile --whats-up/--avatar`: changes what the radar shows
    /// without changing whether (or where) we are visible. Returns the
    /// settings as they now are.
    pub async fn set_profile(
        &self,
        whats_up: Option<String>,
        avatar_hex: Option<String>,
    ) -> Result<RadarSettings, NearbyError> {
        let mut s = self.settings();
        if let Some(w) = whats_up {
            s.whats_up = w;
        }
        if let Some(h) = avatar_hex.as_deref() {
            s.avatar = Some(decode_avatar(h)?);
        }
        // Validate by signing a profile now: a bad field fails here, not later.
        self.profile_for(&s).await?;
        self.ctx.store.put_setting(RADAR_KEY, &s).await?;
        Ok(s)
    }

    /// What the radar shows of us now: "What's Up" and whether there is an avatar.
    pub fn shown_profile(&self) -> (String, bool) {
        let s = self.settings();
        (s.whats_up, s.avatar.is_some())
    }

    /// `weft nearby off`.
    pub async fn turn_off(&self) -> Result<(), NearbyError> {
        let mut s = self.settings();
        if let Some(cell) = &s.cell {
            self.provide_cell(cell, false).await;
        }
        s.visible_until = 0;
        self.ctx.store.put_setting(RADAR_KEY, &s).await?;
        self.forget_found();
        Ok(())
    }

    /// Our profile as the radar shows it, signed with a fresh card.
    pub(super) async fn profile_for(&self, s: &RadarSettings) -> Result<Profile, NearbyError> {
        let card = self.chat.my_card().await.ok_or(NearbyError::Card)?;
        let body = ProfileBody {
            card,
            whats_up: s.whats_up.clone(),
            region: s.region.clone(),
            avatar: s.avatar.clone(),
            cell: s.cell.clone(),
            visible_until: s.visible_until,
        };
        Ok(Profile::new(self.ctx.identity.account_key()?, body)?)
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

    /// Keeps the set of LAN peers in step with mDNS.
    pub(super) fn on_lan_event(&self, ev: Option<NetEvent>) {
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

    /// The LAN peers to ask for profiles this poll.
    pub(super) fn lan_peers(&self) -> Vec<(PeerId, Via)> {
        self.state
            .lock()
            .map(|st| st.lan.keys().map(|p| (*p, Via::Lan)).collect())
            .unwrap_or_default()
    }

    /// Drops profiles not refreshed within [`EXPIRY`].
    pub(super) fn expire(&self) {
        if let Ok(mut st) = self.state.lock() {
            st.found.retain(|_, f| f.seen.elapsed() < EXPIRY);
        }
    }

    /// Asks `peer` for its profile and files the answer: a valid visible
    /// profile is (re)added, `Hidden` removes whoever that peer was.
    pub(super) async fn fetch_profile(&self, peer: PeerId, via: Via) {
        let req = self.ctx.net.request(AppProtocol::Profile, peer, Vec::new());
        let Ok(Ok(bytes)) = tokio::time::timeout(PROFILE_TIMEOUT, req).await else {
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
                // The card must name the device that answered: a peer cannot
                // show someone else's profile as its own.
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

/// The avatar the user gave as hex; too long or not hex is one error.
fn decode_avatar(h: &str) -> Result<Vec<u8>, ProfileError> {
    let not_hex = ProfileError::Bounds("avatar: not hex");
    if h.trim().len() > 2 * MAX_AVATAR {
        return Err(not_hex);
    }
    hex::decode(h).ok_or(not_hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avatar_hex_is_bounded() {
        assert_eq!(decode_avatar(" 89504e47 ").unwrap(), b"\x89PNG");
        assert!(decode_avatar("abc").is_err());
        assert!(decode_avatar("zz").is_err());
        assert!(decode_avatar(&"00".repeat(MAX_AVATAR + 1)).is_err());
        assert!(decode_avatar(&"00".repeat(MAX_AVATAR)).is_ok());
    }
}
