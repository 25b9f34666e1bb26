//! What every page module of the web app uses: axum's extractors and
//! responses, maud, the layout helpers and the app's shared state. Each page
//! module starts with `use super::prelude::*;` and imports only what is its
//! own, so the modules read as pages rather than as import lists.

pub(super) use axum::{
    body::{Body, Bytes},
    extract::{DefaultBodyLimit, Path, Query, State},
    http::{header, HeaderMap, HeaderValue},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Form, Router,
};
pub(super) use maud::{html, Markup};
pub(super) use serde::Deserialize;

pub(super) use super::i18n::Locale;
pub(super) use super::layout::{button, empty, failed, short, time, user};
pub(super) use super::{done, locale, Lang, Page, Shared};
