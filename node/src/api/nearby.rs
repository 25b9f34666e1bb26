//! Control API routes for People Nearby and handles: the radar
//! (`/v1/nearby`), claiming a WeChat-style handle (`/v1/handle`) and looking
//! one up (`/v1/find`). The work is in [`crate::nearby`].

use super::prelude::*;

use crate::nearby::{FoundHandle, NearbyView, RadarOn};

/// The nearby and handle routes.
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1/nearby", get(nearby_list).post(nearby_set))
        .route("/v1/handle", post(handle_claim))
        .route("/v1/find", get(find))
}

/// `POST /v1/nearby` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct NearbyBody {
    /// Radar on or off.
    pub on: bool,
    /// Settings when turning on (ignored when turning off).
    #[serde(flatten)]
    pub settings: RadarOn,
}

/// `POST /v1/nearby` answer: what the radar now does.
///
/// Fields are in alphabetical order because this answer used to be built as
/// a `serde_json::Value`, which sorts its keys; the bytes stay the same.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RadarView {
    /// The radar is on (`on` is always `true` here).
    On {
        /// The ~5 km cell others can find us in, if a location was given.
        cell: Option<String>,
        /// `true`.
        on: bool,
        /// Region shown to others.
        region: String,
        /// Visible until (Unix milliseconds, the API's one time unit).
        visible_until: u64,
        /// "What's Up" shown to others.
        whats_up: String,
    },
    /// The radar is off (`on` is always `false` here).
    Off {
        /// `false`.
        on: bool,
    },
}

/// `POST /v1/handle` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct HandleBody {
    /// The handle to claim.
    pub handle: String,
}

/// `POST /v1/handle` answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct HandleClaimed {
    /// The handle, normalised.
    pub handle: String,
    /// Whether at least one DHT peer stored the claim (else it is
    /// republished when peers connect).
    pub published: bool,
}

/// `GET /v1/find` query.
#[derive(Debug, Deserialize)]
pub struct FindQuery {
    /// The handle to look up.
    pub handle: String,
}

/// `GET /v1/find` answer: who claimed a handle. The card the node keeps to
/// dial them is never part of the JSON.
pub type FoundView = FoundHandle;

async fn nearby_list(State(node): State<Shared>) -> Json<Vec<NearbyView>> {
    Json(node.nearby.list())
}

async fn nearby_set(
    State(node): State<Shared>,
    JsonBody(b): JsonBody<NearbyBody>,
) -> Result<Json<RadarView>, ApiError> {
    if b.on {
        let s = node.nearby.turn_on(b.settings).await?;
        Ok(Json(RadarView::On {
            cell: s.cell,
            on: true,
            region: s.region,
            visible_until: s.visible_until.saturating_mul(1000),
            whats_up: s.whats_up,
        }))
    } else {
        node.nearby.turn_off().await?;
        Ok(Json(RadarView::Off { on: false }))
    }
}

async fn handle_claim(
    State(node): State<Shared>,
    JsonBody(b): JsonBody<HandleBody>,
) -> Result<Json<HandleClaimed>, ApiError> {
    let (handle, published) = node.nearby.claim_handle(&b.handle).await?;
    Ok(Json(HandleClaimed { handle, published }))
}

async fn find(
    State(node): State<Shared>,
    Params(q): Params<FindQuery>,
) -> Result<Json<FoundView>, ApiError> {
    Ok(Json(
        crate::nearby::find_handle(&node.net, &q.handle).await?,
    ))
}
