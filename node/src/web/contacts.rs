//! Contacts: friends, requests (accept, reject), adding someone by handle,
//! link or id, our own QR code, remarks, blocking.

use super::prelude::*;

use crate::media::MAX_IMAGE_BYTES;
use crate::store::chat::ContactState;

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/contacts", get(page))
        .route("/contacts/add", post(add))
        .route(
            "/contacts/scan",
            post(scan).layer(DefaultBodyLimit::max(MAX_IMAGE_BYTES + 1024)),
        )
        .route("/contacts/{action}", post(action))
        .route("/qr.svg", get(qr))
}

async fn page(State(node): State<Shared>, Lang(loc): Lang) -> Response {
    let back = "/app/chats";
    let contacts = match node.chat.contacts() {
        Ok(c) => c,
        Err(e) => return failed(loc, back, &e.to_string()),
    };
    let requests = match node.chat.requests() {
        Ok(r) => r,
        Err(e) => return failed(loc, back, &e.to_string()),
    };
    let link = crate::api::node::id_view(&node)
        .await
        .map(|v| v.link)
        .unwrap_or_default();
    let live = html! {
        @if !requests.is_empty() {
            section #requests {
                h2 { (loc.t("contacts-requests")) }
                ul.list {
                    @for r in &requests {
                        li.request {
                            span.name { (user(&r.name)) }
                            @if !r.greeting.is_empty() { span.last { (user(&r.greeting)) } }
                            (button("/app/contacts/accept", &[("contact", &r.account_id)], &loc.t("contacts-accept")))
                            (button("/app/contacts/reject", &[("contact", &r.account_id)], &loc.t("contacts-reject")))
                        }
                    }
                }
            }
        }
        section #friends {
            h2 { (loc.t("contacts-list")) }
            @if contacts.is_empty() {
                (empty(&loc.t("contacts-empty")))
            } @else {
                ul.list {
                    @for c in &contacts {
                        li.contact {
                            @if c.state == ContactState::Friend {
                                a.name href={ "/app/chat/" (c.account_id) } { (user(&c.name)) }
                            } @else {
                                span.name { (user(&c.name)) }
                            }
                            span.note { (user(&short(&c.account_id))) }
                            span.state { (loc.t(match c.state {
                                ContactState::Friend => "contact-friend",
                                ContactState::RequestSent => "contact-request-sent",
                                ContactState::RequestReceived => "contact-request-received",
                                ContactState::Blocked => "contact-blocked",
                            })) }
                            details {
                                summary { (loc.t("contacts-more")) }
                                form.inline method="post" action="/app/contacts/remark" {
                                    input type="hidden" name="contact" value=(c.account_id);
                                    label { (loc.t("contacts-remark")) " "
                                        input name="remark" maxlength="64" value=(c.name); }
                                    button type="submit" { (loc.t("save")) }
                                }
                                @if c.state == ContactState::Blocked {
                                    (button("/app/contacts/unblock", &[("contact", &c.account_id)], &loc.t("contacts-unblock")))
                                } @else {
                                    (button("/app/contacts/block", &[("contact", &c.account_id)], &loc.t("contacts-block")))
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let fixed = html! {
        section #add {
            h2 { (loc.t("contacts-add")) }
            form method="post" action="/app/contacts/add" {
                label for="target" { (loc.t("contacts-add-target")) }
                input #target name="target" required maxlength="4096";
                label for="greeting" { (loc.t("contacts-greeting")) }
                input #greeting name="greeting" maxlength="280";
                button type="submit" { (loc.t("contacts-add-send")) }
            }
            // A photo or screenshot of someone's QR code (on a phone, the
            // file picker offers the camera); read on the node.
            label for="scan" { (loc.t("contacts-scan")) }
            input #scan type="file" accept="image/png,image/jpeg,image/gif,image/webp" capture="environment";
        }
        section #my-qr {
            h2 { (loc.t("contacts-my-qr")) }
            img src="/app/qr.svg" width="200" height="200" alt=(loc.t("contacts-my-qr-alt"));
            p { code.link { (user(&link)) } }
        }
    };
    Page {
        loc,
        title: loc.t("contacts-title"),
        named: false,
        nav: "/app/contacts",
        live,
        fixed: Some(fixed),
    }
    .render()
}

#[derive(Deserialize)]
struct AddForm {
    target: String,
    #[serde(default)]
    greeting: String,
}

async fn add(State(node): State<Shared>, Lang(loc): Lang, Form(f): Form<AddForm>) -> Response {
    let r = crate::api::chat::add_contact(&node, &f.target, &f.greeting)
        .await
        .map(|_| ());
    done(loc, "/app/contacts", r)
}

#[derive(Deserialize)]
struct ContactForm {
    contact: String,
    remark: Option<String>,
}

async fn action(
    State(node): State<Shared>,
    Lang(loc): Lang,
    Path(action): Path<String>,
    Form(f): Form<ContactForm>,
) -> Response {
    let chat = &node.chat;
    let c = f.contact.as_str();
    let r = match action.as_str() {
        "accept" => chat.accept(c).await.map(|_| ()),
        "reject" => chat.reject(c).await,
        "block" => chat.block(c).await.map(|_| ()),
        "unblock" => chat.unblock(c).await,
        "remark" => {
            let remark = f.remark.as_deref().map(str::trim).filter(|r| !r.is_empty());
            chat.remark(c, remark).await.map(|_| ())
        }
        _ => return super::not_found(Lang(loc)).await,
    };
    done(loc, "/app/contacts", r)
}

/// Our `weft://` link as a QR code (SVG).
async fn qr(State(node): State<Shared>) -> Response {
    let link = match crate::api::node::id_view(&node).await {
        Ok(v) => v.link,
        Err(e) => return e.into_response(),
    };
    match qrcode::QrCode::new(link.as_bytes()) {
        Ok(code) => {
            let svg = code
                .render::<qrcode::render::svg::Color>()
                .min_dimensions(200, 200)
                .build();
            ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response()
        }
        Err(e) => crate::api::ApiError::internal(e).into_response(),
    }
}

/// Adds whoever the QR code in the picture names (a `weft://` link).
async fn scan(State(node): State<Shared>, Lang(loc): Lang, body: Bytes) -> Response {
    let read = tokio::task::spawn_blocking(move || crate::media::read_qr(&body)).await;
    let text = match read {
        Ok(Ok(Some(t))) => t,
        Ok(Ok(None)) => return failed(loc, "/app/contacts", &loc.t("contacts-scan-none")),
        Ok(Err(e)) => return failed(loc, "/app/contacts", &e.to_string()),
        Err(e) => return failed(loc, "/app/contacts", &e.to_string()),
    };
    if text.trim().parse::<weft_protocol::WeftLink>().is_err() {
        return failed(loc, "/app/contacts", &loc.t("contacts-scan-not-weft"));
    }
    let r = crate::api::chat::add_contact(&node, &text, "")
        .await
        .map(|_| ());
    done(loc, "/app/contacts", r)
}
