//! What every route module of the control API uses: axum's routing and
//! extractors, serde for the typed bodies, and the API's own extractors,
//! answers and error. Each route module starts with `use super::prelude::*;`
//! and imports only what is its own.

pub(super) use axum::{
    extract::{Path, State},
    routing::{get, post},
    Json, Router,
};
pub(super) use serde::{Deserialize, Serialize};

pub(super) use super::{short_id, sorted, ApiError, Created, Done, JsonBody, Params, Shared};
