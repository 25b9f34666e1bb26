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
use crate::group::GroupsError;
use crate::moments::MomentsError;
use crate::nearby::NearbyError;
use crate::net::NetError;
use crate::oa::OaServiceError;
use crate::pay::PayServiceError;
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

    /// `300`: a name or short id matches several things; the reason lists them.
    pub(super) fn ambiguous(reason: impl Into<String>) -> Self {
        ApiError(StatusCode::MULTIPLE_CHOICES, reason.into())
    }

    /// `500`: the node failed at something that is not the client's fault.
    pub(crate) fn internal(e: impl std::fmt::Display) -> Self {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

impl std::fmt::Display for ApiError {
    /// The reason alone (the web app shows it on the page).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}

/// The body of every error answer: `{"error": "...", "kind": "..."}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    /// One line saying what went wrong and, usually, what to do.
    pub error: String,
    /// What kind of failure, in one word a script can branch on (see
    /// [`kind_of`]); the `weft` CLI turns it into its exit code. Older nodes
    /// did not send it.
    #[serde(default)]
    pub kind: String,
}

/// The kind word for a status: `invalid`, `unauthorized`, `forbidden`,
/// `not_found`, `ambiguous`, `conflict`, `quota`, `unreachable`,
/// `unavailable` or `internal`. Ambiguous names and short ids answer
/// `300 Multiple Choices`, which is exactly what they are.
pub fn kind_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::MULTIPLE_CHOICES => "ambiguous",
        StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => "invalid",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::CONFLICT => "conflict",
        StatusCode::TOO_MANY_REQUESTS => "quota",
        StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT => "unreachable",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        _ => "internal",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.1,
            kind: kind_of(self.0).to_string(),
        };
        (self.0, Json(body)).into_response()
    }
}

impl From<NetError> for ApiError {
    fn from(e: NetError) -> Self {
        let status = match e {
            NetError::Dial { .. } => StatusCode::BAD_GATEWAY,
            NetError::Stopped | NetError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        // libp2p's reasons nest three deep; the user gets one line, the
        // node's log keeps the detail.
        let message = match &e {
            NetError::Dial { addr, reason } => {
                tracing::info!(%addr, %reason, "dial failed");
                format!(
                    "could not connect to {addr}; check that the node is up and the address is current (`weft id` on it)"
                )
            }
            NetError::Request { peer, reason } => {
                tracing::info!(%peer, %reason, "request failed");
                format!("the peer {peer} did not answer; try again when it is online")
            }
            _ => e.to_string(),
        };
        ApiError(status, message)
    }
}

impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> Self {
        let status = match e {
            ChatError::NotAFriend(_) | ChatError::Revoked => StatusCode::FORBIDDEN,
            ChatError::NoOtherDevice => StatusCode::CONFLICT,
            ChatError::UnknownContact(_)
            | ChatError::NoRequest(_)
            | ChatError::NoMessage(_)
            | ChatError::NotBlocked(_) => StatusCode::NOT_FOUND,
            ChatError::Ambiguous { .. } => StatusCode::MULTIPLE_CHOICES,
            ChatError::Invalid(_)
            | ChatError::GreetingTooLong(_)
            | ChatError::SelfContact
            | ChatError::BadName(_)
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
            E::Taken(..) | E::NotPrimary(_) => StatusCode::CONFLICT,
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
            E::NotPrimary(_) => StatusCode::CONFLICT,
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
            MomentsError::NotPrimary(_) => StatusCode::CONFLICT,
            MomentsError::Chat(_) => StatusCode::BAD_REQUEST,
            MomentsError::Blob(_) => StatusCode::BAD_GATEWAY,
            MomentsError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

impl From<PayServiceError> for ApiError {
    fn from(e: PayServiceError) -> Self {
        let status = match &e {
            PayServiceError::Pay(_)
            | PayServiceError::NoCurrency(_)
            | PayServiceError::ForgedRequest
            | PayServiceError::OwnRequest => StatusCode::BAD_REQUEST,
            PayServiceError::NotOwnedMint(_)
            | PayServiceError::UnknownMint(_)
            | PayServiceError::UnknownPacket(_) => StatusCode::NOT_FOUND,
            PayServiceError::Ambiguous(_) => StatusCode::MULTIPLE_CHOICES,
            PayServiceError::Insufficient { .. }
            | PayServiceError::MintRefused(_)
            | PayServiceError::AlreadySpent
            | PayServiceError::AlreadyPaid
            | PayServiceError::Grab(_)
            | PayServiceError::Coupon(_) => StatusCode::CONFLICT,
            PayServiceError::MintUnreachable(_) | PayServiceError::MintCheated(_) => {
                StatusCode::BAD_GATEWAY
            }
            PayServiceError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            PayServiceError::Chat(_) => match e {
                PayServiceError::Chat(c) => return ApiError::from(c),
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            PayServiceError::Groups(_) => match e {
                PayServiceError::Groups(g) => return ApiError::from(g),
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            PayServiceError::Store(_) | PayServiceError::Key(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        ApiError(status, e.to_string())
    }
}

impl From<GroupsError> for ApiError {
    fn from(e: GroupsError) -> Self {
        let status = match &e {
            GroupsError::Unknown(_) | GroupsError::NotInGroup(_) => StatusCode::NOT_FOUND,
            GroupsError::Ambiguous(_) => StatusCode::MULTIPLE_CHOICES,
            GroupsError::NotMember | GroupsError::Refused(_) => StatusCode::FORBIDDEN,
            GroupsError::Invalid(_) | GroupsError::LinkInvalid => StatusCode::BAD_REQUEST,
            GroupsError::TooMany | GroupsError::NotPrimary(_) => StatusCode::CONFLICT,
            GroupsError::Chat(_) => return ApiError::from(chat_error(e)),
            GroupsError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

/// The chat error inside a group error (naming a contact failed).
fn chat_error(e: GroupsError) -> ChatError {
    match e {
        GroupsError::Chat(c) => c,
        other => ChatError::Store(crate::store::StoreError::Corrupt(
            "groups",
            other.to_string(),
        )),
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

impl From<crate::device::DevicesError> for ApiError {
    fn from(e: crate::device::DevicesError) -> Self {
        use crate::device::DevicesError as E;
        let status = match &e {
            E::NotPrimary(_) | E::Primary | E::Full => StatusCode::CONFLICT,
            E::Unknown(_) => StatusCode::NOT_FOUND,
            E::Invalid(_) => StatusCode::BAD_REQUEST,
            E::Refused(_) => StatusCode::FORBIDDEN,
            E::Unreachable(_) => StatusCode::BAD_GATEWAY,
            E::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}
