//! People Nearby over the DHT: the node provides its geohash cell (5
//! characters, ~4.9 km) as a DHT key and finds others by asking for the
//! providers of its cell and the 8 around it. Only the cell ever leaves the
//! node, so the precision shared is the cell's, whatever the user typed.

use std::time::Duration;

use libp2p::PeerId;
use weft_protocol::geo;

use super::{Nearby, NearbyError, RadarOn, RadarSettings, Via};
use crate::net::records;

/// How long one cell's provider lookup may take.
const PROVIDERS_TIMEOUT: Duration = Duration::from_secs(5);

impl Nearby {
    /// The cell `weft nearby on` asked for: from coordinates, from a geohash
    /// (cut to the cell's precision), or the one we had.
    pub(super) fn cell_for(
        req: &RadarOn,
        old: &RadarSettings,
    ) -> Result<Option<String>, NearbyError> {
        Ok(match (req.lat, req.lon, req.geohash.as_deref()) {
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
        })
    }

    /// Starts or stops providing `cell` in the DHT.
    pub(super) async fn provide_cell(&self, cell: &str, on: bool) {
        self.ctx.net.provide(records::geo_key(cell), on).await;
    }

    /// The providers of `cell` and its neighbours, to ask for profiles.
    pub(super) async fn cell_providers(&self, cell: &str) -> Vec<(PeerId, Via)> {
        let mut out = Vec::new();
        for c in geo::cell_and_neighbours(cell).unwrap_or_default() {
            let lookup = self.ctx.net.providers(records::geo_key(&c));
            if let Ok(Ok(ps)) = tokio::time::timeout(PROVIDERS_TIMEOUT, lookup).await {
                out.extend(ps.into_iter().map(|(p, _)| (p, Via::Dht)));
            }
        }
        out
    }

    /// The people already found through the DHT: refreshed between lookups.
    pub(super) fn found_via_dht(&self) -> Vec<(PeerId, Via)> {
        self.state
            .lock()
            .map(|st| {
                st.found
                    .values()
                    .filter(|f| f.via == Via::Dht)
                    .map(|f| (f.peer, Via::Dht))
                    .collect()
            })
            .unwrap_or_default()
    }
}
