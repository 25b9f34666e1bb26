//! The page shell every screen shares: navigation bar, the live region the
//! script refreshes, error pages, and small view helpers.

use axum::{
    http::{header, StatusCode},
    response::{IntoResponse, Response},
};
use maud::{html, Markup, DOCTYPE};

use super::i18n::Locale;

/// The screens in the navigation bar: path and string key.
pub const NAV: &[(&str, &str)] = &[
    ("/app/chats", "nav-chats"),
    ("/app/contacts", "nav-contacts"),
    ("/app/moments", "nav-moments"),
    ("/app/subscriptions", "nav-subscriptions"),
    ("/app/nearby", "nav-nearby"),
    ("/app/me", "nav-me"),
];

/// One page: its title, which navigation entry it belongs to, the live
/// part (re-rendered on events) and a part that stays (a composer, whose
/// half-typed text must survive a refresh).
pub struct Page<'a> {
    pub loc: &'a Locale,
    pub title: String,
    /// The title is a name from a person or the network (a contact, a
    /// group, an account), not a string of ours.
    pub named: bool,
    pub nav: &'static str,
    pub live: Markup,
    pub fixed: Option<Markup>,
}

impl Page<'_> {
    /// The whole HTML document.
    pub fn render(self) -> Response {
        let loc = self.loc;
        let title = html! { (self.title) " · " (loc.t("app-name")) };
        let body = html! {
            nav aria-label=(loc.t("nav-label")) {
                @for (path, key) in NAV {
                    @if *path == self.nav {
                        a href=(path) aria-current="page" { (loc.t(key)) }
                    } @else {
                        a href=(path) { (loc.t(key)) }
                    }
                }
            }
            p #offline hidden role="status" { (loc.t("live-reconnecting")) }
            p #error hidden role="alert" {}
            main {
                h1 { @if self.named { (user(&self.title)) } @else { (self.title) } }
                div #live aria-live="polite" { (self.live) }
                @if let Some(f) = self.fixed { (f) }
            }
        };
        html_response(StatusCode::OK, document(loc, title, true, body))
    }
}

/// An HTML document in the locale's language and direction: a `<head>` with
/// `title`, the stylesheet and (for pages that update live) the app script,
/// then `body`.
fn document(loc: &Locale, title: Markup, script: bool, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(loc.tag) dir=(loc.dir()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                link rel="stylesheet" href="/app/assets/app.css";
                @if script { script src="/app/assets/app.js" defer {} }
            }
            body { (body) }
        }
    }
}

fn html_response(status: StatusCode, doc: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        doc.into_string(),
    )
        .into_response()
}

/// A page with no navigation (a refusal or a failure): `title` over `body`.
fn bare(loc: &Locale, status: StatusCode, title: &str, body: Markup) -> Response {
    let page = html! { main { h1 { (title) } (body) } };
    html_response(status, document(loc, html! { (title) }, false, page))
}

/// A page that refuses: no session, a foreign `Host` or `Origin`, a used
/// sign-in link. It shows nothing of the user's.
pub fn refusal(loc: &Locale, status: StatusCode, why: &str) -> Response {
    let body = html! { p #refused role="alert" { (why) } };
    bare(loc, status, &loc.t("app-name"), body)
}

/// An action that failed: the reason, and a way back.
pub fn failed(loc: &Locale, back: &str, detail: &str) -> Response {
    let body = html! {
        p #failure role="alert" { (user(detail)) }
        p { a href=(back) { (loc.t("back")) } }
    };
    bare(loc, StatusCode::BAD_REQUEST, &loc.t("error-failed"), body)
}

/// Text that came from a person or the network: escaped (maud escapes
/// everything), isolated for bidirectional text, and marked so the
/// pseudo-locale test knows it is content, not an untranslated string.
pub fn user(text: &str) -> Markup {
    html! { bdi.u { (text) } }
}

/// A time (Unix ms) as `HH:MM` UTC, which the script turns into local time.
pub fn time(ms: u64) -> Markup {
    let secs = ms / 1000;
    let (h, m) = ((secs / 3600) % 24, (secs / 60) % 60);
    html! { time data-ms=(ms) { (format!("{h:02}:{m:02}")) } }
}

/// A form that posts `fields` to `action` with one submit button.
pub fn button(action: &str, fields: &[(&str, &str)], label: &str) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            @for (k, v) in fields { input type="hidden" name=(k) value=(v); }
            button type="submit" { (label) }
        }
    }
}

/// An empty-state line.
pub fn empty(text: &str) -> Markup {
    html! { p.empty { (text) } }
}

/// Short form of an id for display.
pub fn short(id: &str) -> String {
    id.chars().take(8).collect()
}
