//! Control API routes for our account's devices: `/v1/devices` (list),
//! `/v1/devices/link` (a one-use code for a new device), `/v1/devices/rename`
//! and `/v1/devices/revoke`. The work is in [`crate::device`].

use super::prelude::*;

use crate::device::{DeviceView, LinkOffer};

/// The device routes.
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1/devices", get(list))
        .route("/v1/devices/link", post(link))
        .route("/v1/devices/rename", post(rename))
        .route("/v1/devices/revoke", post(revoke))
}

/// `POST /v1/devices/rename` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct RenameBody {
    /// This device's new name.
    pub name: String,
}

/// `POST /v1/devices/revoke` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct RevokeBody {
    /// The device: its peer id (or a unique prefix) or its name.
    pub device: String,
}

/// The answer to a change: the list's new version and the devices on it.
#[derive(Debug, Serialize, Deserialize)]
pub struct ListChanged {
    /// The new version of the account's signed list.
    pub version: u64,
}

async fn list(State(node): State<Shared>) -> Result<Json<Vec<DeviceView>>, ApiError> {
    Ok(Json(node.devices.list().await?))
}

async fn link(State(node): State<Shared>) -> Result<Json<LinkOffer>, ApiError> {
    Ok(Json(node.devices.link().await?))
}

async fn rename(
    State(node): State<Shared>,
    JsonBody(b): JsonBody<RenameBody>,
) -> Result<Json<ListChanged>, ApiError> {
    let list = node.devices.rename(&b.name).await?;
    Ok(Json(ListChanged {
        version: list.version(),
    }))
}

async fn revoke(
    State(node): State<Shared>,
    JsonBody(b): JsonBody<RevokeBody>,
) -> Result<Json<ListChanged>, ApiError> {
    let list = node.devices.revoke(&b.device).await?;
    Ok(Json(ListChanged {
        version: list.version(),
    }))
}
