//! Control API routes for content-addressed blobs (official-account post
//! images): store a file's bytes (`POST /v1/blobs`) and read one back
//! (`GET /v1/blobs/{id}`). The work is in [`crate::blobs::Blobs`].

use axum::{
    extract::{DefaultBodyLimit, Path, State},
    http::header,
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};

use super::{ApiError, Shared, Stored};

/// The blob routes. A blob may be larger than other request bodies.
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/v1/blobs",
            post(blob_add).layer(DefaultBodyLimit::max(weft_protocol::blob::MAX_BLOB + 1024)),
        )
        .route("/v1/blobs/{id}", get(blob_get))
}

async fn blob_add(
    State(node): State<Shared>,
    body: axum::body::Bytes,
) -> Result<Json<Stored>, ApiError> {
    let id = node.blobs.add(&body).await?;
    Ok(Json(Stored {
        id: weft_protocol::blob::blob_hex(&id),
        size: body.len(),
    }))
}

async fn blob_get(
    State(node): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = weft_protocol::blob::parse_blob_hex(&id)
        .ok_or_else(|| ApiError::bad_request("not a blob id"))?;
    match node.blobs.get(&id)? {
        Some(bytes) => {
            Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
        }
        None => Err(ApiError::not_found("blob not (fully) stored on this node")),
    }
}
