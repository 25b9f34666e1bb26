//! Control API routes for content-addressed blobs (official-account post
//! images): store a file's bytes (`POST /v1/blobs`) and read one back
//! (`GET /v1/blobs/{id}`). The work is in [`crate::blobs::Blobs`].

use super::prelude::*;
use axum::response::Response;

use super::{octets, upload};

/// The blob routes. A blob may be larger than other request bodies.
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/v1/blobs",
            upload(weft_protocol::blob::MAX_BLOB, |node, body| async move {
                let id = node.blobs.add(&body).await?;
                Ok(weft_protocol::blob::blob_hex(&id))
            }),
        )
        .route("/v1/blobs/{id}", get(blob_get))
}

async fn blob_get(
    State(node): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = weft_protocol::blob::parse_blob_hex(&id)
        .ok_or_else(|| ApiError::bad_request("not a blob id"))?;
    match node.blobs.get(&id)? {
        Some(bytes) => Ok(octets(bytes)),
        None => Err(ApiError::not_found("blob not (fully) stored on this node")),
    }
}
