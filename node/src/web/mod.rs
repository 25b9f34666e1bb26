//! The web app: every screen served by the node itself on the API's
//! loopback address, under `/app/`. Server-rendered HTML (maud), strings
//! through Fluent ([`i18n`]), one small script (`assets/app.js`, no inline
//! scripts anywhere) that keeps the page live from the event stream and
//! sends forms without a reload. Everything works without the script too:
//! forms post and redirect back.
//!
//! Sign-in: `weft open` asks the API (`POST /v1/web/open`, bearer token)
//! for a one-time link; `GET /app/login?token=…` trades it (once, within
//! [`LOGIN_TTL`]) for an `HttpOnly; SameSite=Strict` session cookie. Every
//! `/app/` request must carry a `Host` naming the loopback address the node
//! serves (a DNS-rebinding page has another name), a live session cookie,
//! and, if it changes anything, an `Origin` of that same address (CSRF).
//! Every page carries a Content-Security-Policy that allows scripts, styles
//! and images from the node only and no inline script, so text from the
//! network (always escaped by maud) could not run even if it got through.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::{
    extract::{Query, Request, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Json, Router,
};
use serde::{Deserialize, Serialize};

use crate::api::ApiError;
use crate::node::NodeHandle;

mod chats;
mod contacts;
mod files;
pub mod i18n;
mod layout;
mod me;
mod moments;
mod nearby;
mod oa;
mod prelude;

use i18n::Locale;
pub(crate) use layout::Page;

type Shared = std::sync::Arc<NodeHandle>;

/// How long a sign-in link works.
pub const LOGIN_TTL: Duration = Duration::from_secs(120);
/// How long a session lasts after its last request.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Sign-in links waiting to be used, at most.
const MAX_LOGINS: usize = 8;
/// Sessions (browser profiles signed in), at most; the oldest goes first.
const MAX_SESSIONS: usize = 16;
/// The session cookie.
const COOKIE: &str = "weft_session";
/// The chosen language cookie.
const LANG_COOKIE: &str = "weft_lang";

/// Sign-in links and sessions (in memory: a restarted node asks for
/// `weft open` again), and the address the app is served on.
#[derive(Default)]
pub struct WebState {
    addr: OnceLock<SocketAddr>,
    logins: Mutex<HashMap<String, Instant>>,
    sessions: Mutex<HashMap<String, Instant>>,
}

/// `POST /v1/web/open` answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OpenView {
    /// The one-time sign-in address.
    pub url: String,
}

impl WebState {
    /// Records the address the API (and so the app) listens on.
    pub fn set_addr(&self, addr: SocketAddr) {
        let _ = self.addr.set(addr);
    }

    /// A new one-time sign-in link.
    pub fn open(&self) -> Result<OpenView, ApiError> {
        let addr = self
            .addr
            .get()
            .ok_or_else(|| ApiError::internal("the web app has no address yet"))?;
        let token = crate::api::new_token().map_err(ApiError::internal)?;
        let now = Instant::now();
        let mut logins = lock(&self.logins);
        logins.retain(|_, exp| *exp > now);
        if logins.len() >= MAX_LOGINS {
            // The oldest unused link goes.
            if let Some(k) = logins
                .iter()
                .min_by_key(|(_, e)| **e)
                .map(|(k, _)| k.clone())
            {
                logins.remove(&k);
            }
        }
        logins.insert(token.clone(), now + LOGIN_TTL);
        Ok(OpenView {
            url: format!("http://{addr}/app/login?token={token}"),
        })
    }

    /// Uses a sign-in token: a new session id if it was valid and unused.
    fn login(&self, token: &str) -> Option<String> {
        let now = Instant::now();
        let valid = {
            let mut logins = lock(&self.logins);
            logins.retain(|_, exp| *exp > now);
            // Removed whether or not it matched in time: one use only.
            let found = logins
                .keys()
                .find(|k| crate::api::constant_time_eq(k.as_bytes(), token.as_bytes()))
                .cloned();
            found.and_then(|k| logins.remove(&k)).is_some()
        };
        if !valid {
            return None;
        }
        let id = crate::api::new_token().ok()?;
        let mut sessions = lock(&self.sessions);
        sessions.retain(|_, exp| *exp > now);
        if sessions.len() >= MAX_SESSIONS {
            if let Some(k) = sessions
                .iter()
                .min_by_key(|(_, e)| **e)
                .map(|(k, _)| k.clone())
            {
                sessions.remove(&k);
            }
        }
        sessions.insert(id.clone(), now + SESSION_TTL);
        Some(id)
    }

    /// Whether `id` is a live session (and keeps it alive).
    fn session(&self, id: &str) -> bool {
        let now = Instant::now();
        let mut sessions = lock(&self.sessions);
        let found = sessions
            .iter_mut()
            .find(|(k, _)| crate::api::constant_time_eq(k.as_bytes(), id.as_bytes()));
        match found {
            Some((_, exp)) if *exp > now => {
                *exp = now + SESSION_TTL;
                true
            }
            _ => false,
        }
    }

    /// Whether `host` (a `Host` header) names the address we serve.
    fn host_ok(&self, host: Option<&str>) -> bool {
        let (Some(host), Some(addr)) = (host, self.addr.get()) else {
            return false;
        };
        let port = addr.port();
        let ip = addr.ip();
        [
            format!("{ip}:{port}"),
            format!("localhost:{port}"),
            format!("[{ip}]:{port}"),
        ]
        .iter()
        .any(|h| h.eq_ignore_ascii_case(host))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The `/v1/web/open` API route (behind the API token).
pub(crate) fn api_routes() -> Router<Shared> {
    Router::new().route(
        "/v1/web/open",
        post(|State(node): State<Shared>| async move { node.web.open().map(Json) }),
    )
}

/// The app's routes, to be nested under `/app`.
pub(crate) fn routes(node: Shared) -> Router<Shared> {
    let signed_in = Router::new()
        .route("/", get(|| async { Redirect::to("/app/chats") }))
        .route("/events", get(crate::api::node::events))
        .merge(chats::routes())
        .merge(contacts::routes())
        .merge(files::routes())
        .merge(moments::routes())
        .merge(oa::routes())
        .merge(nearby::routes())
        .merge(me::routes())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(node.clone(), guard));
    Router::new()
        .route("/login", get(login))
        .route("/assets/app.js", get(|| asset("text/javascript", APP_JS)))
        .route("/assets/app.css", get(|| asset("text/css", APP_CSS)))
        .merge(signed_in)
        .layer(middleware::from_fn_with_state(node, outer))
}

const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

async fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The request's language as an extractor: a page handler takes
/// `Lang(loc): Lang` instead of the headers it would only read it from.
pub(crate) struct Lang(pub &'static Locale);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Lang(locale(&parts.headers)))
    }
}

/// The language for a request: the cookie a user chose, else the browser's.
pub(crate) fn locale(headers: &HeaderMap) -> &'static Locale {
    cookie(headers, LANG_COOKIE)
        .and_then(i18n::by_tag)
        .unwrap_or_else(|| {
            i18n::negotiate(
                headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok()),
            )
        })
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Every `/app/` response: the host check, then security headers.
async fn outer(State(node): State<Shared>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    let mut res = if node.web.host_ok(host) {
        next.run(req).await
    } else {
        let loc = locale(req.headers());
        layout::refusal(loc, StatusCode::FORBIDDEN, &loc.t("error-host"))
    };
    let h = res.headers_mut();
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
         media-src 'self' blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
         frame-ancestors 'none'",
    );
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    res
}

/// Signed-in routes: a live session; a change also needs our own Origin.
async fn guard(State(node): State<Shared>, req: Request, next: Next) -> Response {
    let loc = locale(req.headers());
    let signed_in = cookie(req.headers(), COOKIE).is_some_and(|s| node.web.session(s));
    if !signed_in {
        return layout::refusal(loc, StatusCode::UNAUTHORIZED, &loc.t("error-no-session"));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok());
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok());
        let same = match (host, origin) {
            (Some(h), Some(o)) => o.strip_prefix("http://") == Some(h),
            _ => false,
        };
        if !same {
            return layout::refusal(loc, StatusCode::FORBIDDEN, &loc.t("error-origin"));
        }
    }
    next.run(req).await
}

#[derive(Deserialize)]
struct LoginQuery {
    token: Option<String>,
}

async fn login(
    State(node): State<Shared>,
    Lang(loc): Lang,
    Query(q): Query<LoginQuery>,
) -> Response {
    let token = q.token.unwrap_or_default();
    let Some(session) = node.web.login(token.get(..128).unwrap_or(&token)) else {
        return layout::refusal(
            loc,
            StatusCode::UNAUTHORIZED,
            &loc.t("error-signin-expired"),
        );
    };
    let cookie = format!(
        "{COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/app; Max-Age={}",
        SESSION_TTL.as_secs()
    );
    let mut res = Redirect::to("/app/chats").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

async fn not_found(Lang(loc): Lang) -> Response {
    layout::refusal(loc, StatusCode::NOT_FOUND, &loc.t("error-not-found"))
}

/// The answer to a form post: back to `to` (303), or, if the action
/// failed, the page again with the reason (400).
pub(crate) fn done<E: std::fmt::Display>(loc: &Locale, to: &str, r: Result<(), E>) -> Response {
    match r {
        Ok(()) => Redirect::to(to).into_response(),
        Err(e) => layout::failed(loc, to, &e.to_string()),
    }
}

/// Sets the language cookie (an empty tag: follow the browser again).
pub(crate) fn lang_cookie(tag: &str) -> Option<HeaderValue> {
    let v = if tag.is_empty() {
        format!("{LANG_COOKIE}=; SameSite=Strict; Path=/app; Max-Age=0")
    } else {
        format!("{LANG_COOKIE}={tag}; SameSite=Strict; Path=/app; Max-Age=31536000")
    };
    HeaderValue::from_str(&v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> WebState {
        let s = WebState::default();
        s.set_addr("127.0.0.1:4321".parse().unwrap());
        s
    }

    #[test]
    fn a_sign_in_link_works_once() {
        let s = state();
        let url = s.open().unwrap().url;
        let token = url.split("token=").nth(1).unwrap();
        assert!(url.starts_with("http://127.0.0.1:4321/app/login?token="));
        let session = s.login(token).expect("first use");
        assert!(s.session(&session));
        assert!(s.login(token).is_none(), "a link must not work twice");
        assert!(s.login("00").is_none());
        assert!(!s.session("nope"));
    }

    #[test]
    fn sign_in_links_and_sessions_are_capped() {
        let s = state();
        let urls: Vec<String> = (0..MAX_LOGINS + 3).map(|_| s.open().unwrap().url).collect();
        assert_eq!(lock(&s.logins).len(), MAX_LOGINS);
        let newest = urls.last().unwrap().split("token=").nth(1).unwrap();
        assert!(s.login(newest).is_some());
    }

    #[test]
    fn only_our_own_host_names_pass() {
        let s = state();
        assert!(s.host_ok(Some("127.0.0.1:4321")));
        assert!(s.host_ok(Some("localhost:4321")));
        assert!(!s.host_ok(Some("evil.example")));
        assert!(!s.host_ok(Some("evil.example:4321")));
        assert!(!s.host_ok(Some("127.0.0.1:4322")));
        assert!(!s.host_ok(None));
        assert!(!WebState::default().host_ok(Some("127.0.0.1:4321")));
    }
}
