//! Official accounts: the Subscriptions folder (posts of subscription
//! accounts), the accounts we follow, search, follow and unfollow, and a
//! service account's conversation, where we ask it questions.

use super::prelude::*;
use weft_protocol::oa::OaKind;

use crate::oa::{OaView, PostView};

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/subscriptions", get(folder))
        .route("/oa/{id}", get(account))
        .route("/oa/{id}/ask", post(ask))
        .route("/oa/follow", post(follow))
}

#[derive(Deserialize)]
struct SearchQuery {
    q: Option<String>,
}

fn posts(loc: &Locale, posts: &[PostView]) -> Markup {
    html! {
        @if posts.is_empty() {
            (empty(&loc.t("oa-no-posts")))
        } @else {
            ol.feed {
                @for p in posts {
                    li.post #{ "oa-" (p.id) } {
                        p.author { a href={ "/app/oa/" (p.account_id) } { (user(&p.name)) } " " (time(p.published_at * 1000)) }
                        h3 { (user(&p.title)) }
                        @if !p.body.is_empty() { p.text { (user(&p.body)) } }
                        @if let Some(l) = &p.link { p.link { (user(l)) } }
                    }
                }
            }
        }
    }
}

fn accounts(loc: &Locale, list: &[OaView]) -> Markup {
    html! {
        ul.list {
            @for a in list {
                li.account {
                    a.name href={ "/app/oa/" (a.account_id) } { (user(&a.name)) }
                    @if a.verified { " " span.badge { (loc.t("oa-verified")) } }
                    " " span.note { (user(&short(&a.account_id))) }
                    @if !a.own {
                        @if a.following {
                            (button("/app/oa/follow", &[("oa", &a.account_id), ("on", "false")], &loc.t("oa-unfollow")))
                        } @else {
                            (button("/app/oa/follow", &[("oa", &a.account_id), ("on", "true")], &loc.t("oa-follow")))
                        }
                    }
                }
            }
        }
    }
}

async fn folder(
    State(node): State<Shared>,
    Lang(loc): Lang,
    Query(q): Query<SearchQuery>,
) -> Response {
    let query = q.q.unwrap_or_default();
    let feed = match node.oa.feed(Some(OaKind::Subscription)) {
        Ok(f) => f,
        Err(e) => return failed(loc, "/app/chats", &e.to_string()),
    };
    let followed: Vec<OaView> = node
        .oa
        .list()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a.following)
        .collect();
    let found = if query.trim().is_empty() {
        None
    } else {
        Some(node.oa.search(query.trim()).await)
    };
    let live = html! {
        section #oa-feed { (posts(loc, &feed)) }
        section #following {
            h2 { (loc.t("oa-following")) }
            @if followed.is_empty() { (empty(&loc.t("oa-none-followed"))) } @else { (accounts(loc, &followed)) }
        }
        @if let Some(found) = &found {
            section #results {
                h2 { (loc.t("oa-results")) }
                @match found {
                    Ok(list) if list.is_empty() => (empty(&loc.t("oa-nothing-found"))),
                    Ok(list) => (accounts(loc, list)),
                    Err(e) => p.problem role="alert" { (user(&e.to_string())) },
                }
            }
        }
    };
    let fixed = html! {
        form #oa-search method="get" action="/app/subscriptions" role="search" {
            label for="q" { (loc.t("oa-search-label")) }
            input #q name="q" type="search" maxlength="200" value=(query);
            button type="submit" { (loc.t("oa-search")) }
        }
    };
    Page {
        loc,
        title: loc.t("oa-title"),
        named: false,
        nav: "/app/subscriptions",
        live,
        fixed: Some(fixed),
    }
    .render()
}

async fn account(State(node): State<Shared>, Lang(loc): Lang, Path(id): Path<String>) -> Response {
    let list = node.oa.list().await.unwrap_or_default();
    let Some(a) = list.into_iter().find(|a| a.account_id == id) else {
        return failed(loc, "/app/subscriptions", &loc.t("oa-unknown"));
    };
    let feed: Vec<PostView> = node
        .oa
        .feed(None)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.account_id == id)
        .collect();
    let talk = node.oa.conversation(&id).unwrap_or_default();
    let me = node.identity.account_id.to_string();
    let live = html! {
        (accounts(loc, std::slice::from_ref(&a)))
        (posts(loc, &feed))
        @if !talk.is_empty() {
            ol.messages {
                @for m in &talk {
                    @let mine = m.from == me || m.from == "me";
                    li.bubble.mine[mine].theirs[!mine] {
                        p.text { (user(&m.text)) }
                        p.meta { (time(m.at)) }
                    }
                }
            }
        }
    };
    let fixed = (a.following && !a.own).then(|| {
        html! {
            form #composer method="post" action={ "/app/oa/" (id) "/ask" } {
                label for="message" { (loc.t("oa-ask-label")) }
                textarea #message name="text" rows="2" required maxlength="2000" {}
                button type="submit" { (loc.t("oa-ask")) }
            }
        }
    });
    Page {
        loc,
        title: a.name.clone(),
        named: true,
        nav: "/app/subscriptions",
        live,
        fixed,
    }
    .render()
}

#[derive(Deserialize)]
struct AskForm {
    text: String,
}

async fn ask(
    State(node): State<Shared>,
    Lang(loc): Lang,
    Path(id): Path<String>,
    Form(f): Form<AskForm>,
) -> Response {
    let r = node.oa.message(&id, f.text.trim()).await.map(|_| ());
    done(loc, &format!("/app/oa/{id}"), r)
}

#[derive(Deserialize)]
struct FollowForm {
    oa: String,
    on: bool,
}

async fn follow(
    State(node): State<Shared>,
    Lang(loc): Lang,
    Form(f): Form<FollowForm>,
) -> Response {
    let r = if f.on {
        node.oa.follow(&f.oa).await
    } else {
        node.oa.unfollow(&f.oa).await
    };
    done(loc, "/app/subscriptions", r)
}
