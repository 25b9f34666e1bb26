//! The API's one error type and how each service's typed error becomes an
//! HTTP status. Every refusal the API gives is an [`ApiError`]: a status a
//! client can branch on and a one-line reason a person can act on, sent as
//! `{"error": "..."}`.
//!
//! The `From` impls here are the only place that decides which status a
//! service error gets. The services' matches list every variant (no `_`), so
//! a new variant does not compile until someone gives it a status.

use axum::{
    extract::rejection::{JsonRejection, QueryRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};

use crate::blobs::BlobFetchError;
use crate::chat::ChatError;
use crate::moments::MomentsError;
use crate::nearby::NearbyError;
use crate::net::NetError;
use crate::oa::OaServiceError;
use crate::store::StoreError;

/// An error answer: HTTP status and a one-line reason.
#[derive(Debug)]
pub struct ApiError(pub(super) StatusCode, pub(super) String);

impl ApiError {
    /// `400`: the request itself is wrong; the reason says how.
    pub(super) fn bad_request(reason: impl Into<String>) -> Self {
        ApiError(StatusCode::BAD_REQUEST, reason.into())
    }

    /// `404`: no such thing (or no such action on this path).
    pub(super) fn not_found(reason: impl Into<String>) -> Self {
        ApiError(StatusCode::NOT_FOUND, reason.into())
    }

    /// `500`: the node failed at something that is not the client's fault.
    pub(super) fn internal(e: impl std::fmt::Display) -> Self {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

/// The body of every error answer: `{"error": "..."}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    /// One line saying what went wrong and, usually, what to do.
    pub error: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(ErrorBody { error: self.1 })).into_response()
    }
}

impl From<NetError> for ApiError {
    fn from(e: NetError) -> Self {
        let status = match e {
            NetError::Dial { .. } => StatusCode::BAD_GATEWAY,
            NetError::Stopped | NetError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> Self {
        let status = match e {
            ChatError::NotAFriend(_) => StatusCode::FORBIDDEN,
            ChatError::UnknownContact(_) | ChatError::NoRequest(_) | ChatError::NoMessage(_) => {
                StatusCode::NOT_FOUND
            }
            ChatError::Invalid(_)
            | ChatError::GreetingTooLong(_)
            | ChatError::SelfContact
            | ChatError::Recall(_) => StatusCode::BAD_REQUEST,
            ChatError::Seal(_) | ChatError::NoCard | ChatError::Store(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        ApiError(status, e.to_string())
    }
}

impl From<NearbyError> for ApiError {
    fn from(e: NearbyError) -> Self {
        use NearbyError as E;
        let status = match e {
            E::Profile(_) | E::Geo(_) => StatusCode::BAD_REQUEST,
            E::Taken(..) => StatusCode::CONFLICT,
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::Store(_) | E::Card => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

impl From<OaServiceError> for ApiError {
    fn from(e: OaServiceError) -> Self {
        use OaServiceError as E;
        let status = match e {
            E::Oa(weft_protocol::oa::OaError::OverQuota { .. }) => StatusCode::TOO_MANY_REQUESTS,
            E::Oa(_) | E::BadId(_) | E::BadCertificate(_) | E::TooLong | E::MissingImage(_) => {
                StatusCode::BAD_REQUEST
            }
            E::NotOwned(_) | E::NotFollowed(_) => StatusCode::NOT_FOUND,
            E::Unreachable(_) => StatusCode::BAD_GATEWAY,
            E::Encode(_) | E::EncodeCertificate(_) | E::Store(_) | E::Node(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        ApiError(status, e.to_string())
    }
}

impl From<MomentsError> for ApiError {
    fn from(e: MomentsError) -> Self {
        let status = match &e {
            MomentsError::Invalid(_)
            | MomentsError::EmptyAudience
            | MomentsError::ImageSize(_)
            | MomentsError::NotAnImageId(_)
            | MomentsError::ImageNotStaged(_)
            | MomentsError::NoSuchImage { .. }
            | MomentsError::ImageIncomplete
            | MomentsError::ImageUndecryptable
            | MomentsError::TagName => StatusCode::BAD_REQUEST,
            MomentsError::NotAFriend(_) | MomentsError::NotYours => StatusCode::FORBIDDEN,
            MomentsError::UnknownPost(_) => StatusCode::NOT_FOUND,
            MomentsError::Chat(_) => StatusCode::BAD_REQUEST,
            MomentsError::Blob(_) => StatusCode::BAD_GATEWAY,
            MomentsError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

impl From<BlobFetchError> for ApiError {
    fn from(e: BlobFetchError) -> Self {
        let status = match e {
            // Over the size limit, or a manifest that does not add up.
            BlobFetchError::Blob(_) => StatusCode::BAD_REQUEST,
            BlobFetchError::Unavailable(_) => StatusCode::BAD_GATEWAY,
            BlobFetchError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal(e)
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        ApiError::bad_request(e.body_text())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        ApiError::bad_request(format!("bad request body: {}", e.body_text()))
    }
}

/// Answers with `v` as JSON whose object keys are in alphabetical order.
///
/// The endpoints that choose their answer by action (`/v1/contacts/{action}`,
/// `/v1/oa/{action}`) have always answered through `serde_json::Value`, whose
/// maps sort their keys; going through it keeps those answers byte-for-byte
/// what clients have always received.
pub(super) fn sorted<T: serde::Serialize>(v: &T) -> Result<Json<serde_json::Value>, ApiError> {
    serde_json::to_value(v)
        .map(Json)
        .map_err(ApiError::internal)
}
