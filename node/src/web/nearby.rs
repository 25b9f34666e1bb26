//! Nearby: the radar switch and People Nearby.

use super::prelude::*;

use crate::nearby::{RadarOn, Via};

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/nearby", get(page))
        .route("/nearby/radar", post(radar))
}

async fn page(State(node): State<Shared>, Lang(loc): Lang) -> Response {
    let until = node.nearby.visible_until();
    let people = node.nearby.list();
    let live = html! {
        p #radar-state role="status" {
            @if let Some(u) = until {
                (loc.t("nearby-on")) " " (time(u * 1000))
            } @else {
                (loc.t("nearby-off"))
            }
        }
        @if people.is_empty() {
            (empty(&loc.t("nearby-empty")))
        } @else {
            ul.list #people {
                @for p in &people {
                    li.person {
                        span.name { (user(&p.name)) }
                        " " span.note { (user(&short(&p.account_id))) }
                        @if let Some(d) = p.distance_m {
                            " " span.note { (loc.t1("nearby-distance", "metres", d.round())) }
                        }
                        " " span.note { (loc.t(match p.via { Via::Lan => "nearby-via-lan", Via::Dht => "nearby-via-dht" })) }
                        @if !p.whats_up.is_empty() { span.last { (user(&p.whats_up)) } }
                        (button("/app/contacts/add", &[("target", &p.account_id)], &loc.t("nearby-add")))
                    }
                }
            }
        }
    };
    let fixed = html! {
        @if until.is_some() {
            (button("/app/nearby/radar", &[("on", "false")], &loc.t("nearby-turn-off")))
        } @else {
            form method="post" action="/app/nearby/radar" {
                input type="hidden" name="on" value="true";
                label for="whats_up" { (loc.t("me-whats-up")) }
                input #whats_up name="whats_up" maxlength="140";
                label for="region" { (loc.t("nearby-region")) }
                input #region name="region" maxlength="64";
                button type="submit" { (loc.t("nearby-turn-on")) }
            }
        }
    };
    Page {
        loc,
        title: loc.t("nearby-title"),
        named: false,
        nav: "/app/nearby",
        live,
        fixed: Some(fixed),
    }
    .render()
}

#[derive(Deserialize)]
struct RadarForm {
    on: bool,
    whats_up: Option<String>,
    region: Option<String>,
}

async fn radar(State(node): State<Shared>, Lang(loc): Lang, Form(f): Form<RadarForm>) -> Response {
    let r = if f.on {
        let req = RadarOn {
            whats_up: f.whats_up.filter(|w| !w.trim().is_empty()),
            region: f.region.filter(|r| !r.trim().is_empty()),
            ..RadarOn::default()
        };
        node.nearby.turn_on(req).await.map(|_| ())
    } else {
        node.nearby.turn_off().await
    };
    done(loc, "/app/nearby", r)
}
