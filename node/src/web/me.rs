//! Me: profile (name, what's up), handle, the account's devices, language.

use super::prelude::*;

use super::i18n::{LOCALES, PSEUDO};
use super::lang_cookie;
use crate::api::node::{id_view, profile_view, update_profile, ProfileBody};

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/me", get(page))
        .route("/me/profile", post(profile))
        .route("/me/handle", post(handle))
        .route("/me/lang", post(lang))
        .route("/me/settings", post(settings))
}

async fn page(State(node): State<Shared>, Lang(loc): Lang) -> Response {
    let (id, p) = match (id_view(&node).await, profile_view(&node)) {
        (Ok(i), Ok(p)) => (i, p),
        (Err(e), _) | (_, Err(e)) => return failed(loc, "/app/chats", &e.to_string()),
    };
    let devices = node.devices.list().await.unwrap_or_default();
    let live = html! {
        dl #identity {
            dt { (loc.t("me-name")) } dd { (user(&p.name)) }
            dt { (loc.t("me-account")) } dd { code { (user(&id.account_id)) } }
            dt { (loc.t("me-handle")) }
            dd { @if let Some(h) = &p.handle { (user(h)) } @else { (loc.t("me-no-handle")) } }
            dt { (loc.t("me-devices")) }
            dd {
                ul #devices {
                    @for d in &devices {
                        li {
                            (user(&d.name)) " "
                            code { (user(d.peer_id.get(..12).unwrap_or(&d.peer_id))) }
                            @if d.this { " " (loc.t("me-device-this")) }
                            @if d.primary { " " (loc.t("me-device-first")) }
                        }
                    }
                }
            }
        }
        @if p.restart_needed { p.note role="status" { (loc.t("me-restart-needed")) } }
    };
    let fixed = html! {
        section {
            h2 { (loc.t("me-profile")) }
            form method="post" action="/app/me/profile" {
                label for="name" { (loc.t("me-name")) }
                input #name name="name" required maxlength="64" value=(p.name);
                label for="whats_up" { (loc.t("me-whats-up")) }
                input #whats_up name="whats_up" maxlength="140" value=(p.whats_up);
                button type="submit" { (loc.t("save")) }
            }
        }
        section {
            h2 { (loc.t("me-handle")) }
            form method="post" action="/app/me/handle" {
                label for="handle" { (loc.t("me-handle-claim")) }
                input #handle name="handle" required maxlength="32";
                button type="submit" { (loc.t("me-handle-button")) }
            }
        }
        section {
            h2 { (loc.t("me-settings")) }
            form method="post" action="/app/me/settings" {
                label for="auto" { (loc.t("me-auto-download")) }
                input #auto name="auto_mb" type="number" min="0" max="4096" required
                    value=(node.files.auto_download() / (1024 * 1024));
                label for="days" { (loc.t("me-moments-days")) }
                input #days name="moments_days" type="number" min="0" max="36500" required
                    value=(node.moments.visible_days());
                button type="submit" { (loc.t("save")) }
            }
        }
        section {
            h2 { (loc.t("me-language")) }
            form method="post" action="/app/me/lang" {
                label for="lang" { (loc.t("me-language")) }
                select #lang name="lang" {
                    option value="" { (loc.t("me-language-auto")) }
                    @for (tag, name, _) in LOCALES {
                        option value=(tag) selected[*tag == loc.tag] lang=(tag) { (user(name)) }
                    }
                    option value=(PSEUDO) selected[loc.tag == PSEUDO] { (loc.t("me-language-pseudo")) }
                }
                button type="submit" { (loc.t("save")) }
            }
        }
    };
    Page {
        loc,
        title: loc.t("me-title"),
        named: false,
        nav: "/app/me",
        live,
        fixed: Some(fixed),
    }
    .render()
}

#[derive(Deserialize)]
struct ProfileForm {
    name: String,
    #[serde(default)]
    whats_up: String,
}

async fn profile(
    State(node): State<Shared>,
    Lang(loc): Lang,
    Form(f): Form<ProfileForm>,
) -> Response {
    let body = ProfileBody {
        name: Some(f.name.trim().to_string()),
        whats_up: Some(f.whats_up.trim().to_string()),
        avatar_hex: None,
    };
    done(
        loc,
        "/app/me",
        update_profile(&node, body).await.map(|_| ()),
    )
}

#[derive(Deserialize)]
struct HandleForm {
    handle: String,
}

async fn handle(
    State(node): State<Shared>,
    Lang(loc): Lang,
    Form(f): Form<HandleForm>,
) -> Response {
    let r = node.nearby.claim_handle(&f.handle).await.map(|_| ());
    done(loc, "/app/me", r)
}

#[derive(Deserialize)]
struct LangForm {
    lang: String,
}

async fn lang(Lang(loc): Lang, Form(f): Form<LangForm>) -> Response {
    let tag = f.lang.trim();
    let known = tag.is_empty() || super::i18n::by_tag(tag).is_some();
    if !known {
        return failed(loc, "/app/me", &loc.t("me-language-unknown"));
    }
    let mut res = Redirect::to("/app/me").into_response();
    if let Some(v) = lang_cookie(super::i18n::by_tag(tag).map_or("", |l| l.tag)) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

#[derive(Deserialize)]
struct SettingsForm {
    auto_mb: u64,
    moments_days: u32,
}

async fn settings(
    State(node): State<Shared>,
    Lang(loc): Lang,
    Form(f): Form<SettingsForm>,
) -> Response {
    let bytes = f.auto_mb.min(4096).saturating_mul(1024 * 1024);
    let r = match node.files.set_auto_download(bytes).await {
        Ok(()) => node
            .moments
            .set_visible_days(f.moments_days)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    done(loc, "/app/me", r)
}
