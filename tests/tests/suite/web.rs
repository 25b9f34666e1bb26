//! The web app over HTTP, as a browser (or an attacker's page) would
//! speak to it: sign-in links work once, no page without the session
//! cookie, a foreign `Host` or `Origin` refused, text from the network
//! shown as text under a strict Content-Security-Policy, every screen in
//! Chinese for a Chinese browser, and no untranslated string in the
//! pseudo-locale.

use std::path::Path;
use std::time::Duration;

use reqwest::{header, redirect::Policy, Client, StatusCode};
use weft_tests::{wait_for, Weft};

use crate::BIN;
use weft_tests::s;

const T: Duration = Duration::from_secs(30);

/// A client that never follows redirects (tests look at each answer).
fn http() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

/// Signs in with a fresh `weft open` link: the session cookie (`name=value`)
/// and the app's base address.
async fn sign_in(w: &Weft, home: &Path) -> (String, String) {
    let url = w.json(&["open", "--home", s(home)]).await["url"]
        .as_str()
        .unwrap()
        .to_string();
    let base = url.split("/app/").next().unwrap().to_string();
    let res = http().get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let set = res.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_string();
    // The link works once.
    let again = http().get(&url).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    assert!(again.headers().get(header::SET_COOKIE).is_none());
    (cookie, base)
}

async fn page(
    base: &str,
    cookie: &str,
    path: &str,
    extra: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut req = http()
        .get(format!("{base}{path}"))
        .header(header::COOKIE, cookie);
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

/// Text a person could read on the page that is not content from a person
/// or the network (`<bdi class="u">`), as (where, text) pairs: text between
/// tags and the attributes read aloud or shown (alt, aria-label, title,
/// placeholder).
fn chrome_text(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    // Drop content, and the document title (a name in a conversation).
    let rest = strip(
        &strip(html, "<bdi class=\"u\">", "</bdi>"),
        "<title>",
        "</title>",
    );
    let mut in_tag = false;
    let mut text = String::new();
    let mut tag = String::new();
    for c in rest.chars() {
        match (in_tag, c) {
            (false, '<') => {
                in_tag = true;
                if !text.trim().is_empty() {
                    out.push(text.trim().to_string());
                }
                text.clear();
                tag.clear();
            }
            (true, '>') => {
                in_tag = false;
                for attr in ["alt=\"", "aria-label=\"", "title=\"", "placeholder=\""] {
                    if let Some(i) = tag.find(attr) {
                        let v = &tag[i + attr.len()..];
                        out.push(v[..v.find('"').unwrap_or(v.len())].to_string());
                    }
                }
            }
            (false, c) => text.push(c),
            (true, c) => tag.push(c),
        }
    }
    out
}

/// `html` without every `open`…`close` span.
fn strip(html: &str, open: &str, close: &str) -> String {
    let mut kept = String::new();
    let mut rest = html;
    while let Some(i) = rest.find(open) {
        kept.push_str(&rest[..i]);
        rest = match rest[i..].find(close) {
            Some(j) => &rest[i + j + close.len()..],
            None => "",
        };
    }
    kept.push_str(rest);
    kept
}

/// Whether `s` still has an English word in it (two ASCII letters in a row).
fn has_plain_word(s: &str) -> bool {
    let b: Vec<char> = s.chars().collect();
    b.windows(2)
        .any(|w| w[0].is_ascii_alphabetic() && w[1].is_ascii_alphabetic())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_refuses_strangers_and_shows_hostile_text_as_text() {
    let w = Weft::new(BIN);
    let ((a, _na), (b, _nb)) = w.ann_and_bao().await;
    let bao = w.account(&b).await;
    let ann = w.account(&a).await;
    let (cookie, base) = sign_in(&w, &a).await;

    // No cookie, a made-up one, a foreign Host: no data.
    for (cookie, host, want) in [
        ("", None, StatusCode::UNAUTHORIZED),
        ("weft_session=00ff", None, StatusCode::UNAUTHORIZED),
        (cookie.as_str(), Some("evil.example"), StatusCode::FORBIDDEN),
        (
            cookie.as_str(),
            Some("evil.example:80"),
            StatusCode::FORBIDDEN,
        ),
    ] {
        let extra: Vec<(&str, &str)> = host.map(|h| vec![("host", h)]).unwrap_or_default();
        let (status, body) = page(&base, cookie, "/app/contacts", &extra).await;
        assert_eq!(status, want, "{cookie:?} {host:?}: {body}");
        assert!(!body.contains(&bao) && !body.contains("Bao"), "{body}");
    }
    let (status, body) = page(&base, &cookie, "/app/contacts", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Bao"), "{body}");

    // A message with markup arrives as text.
    let evil = "<img src=x onerror=alert(1)>";
    w.json(&["chat", "send", "--home", s(&b), &ann, evil]).await;
    let shown = wait_for(T, || async {
        page(&base, &cookie, &format!("/app/chat/{bao}"), &[])
            .await
            .1
            .contains("&lt;img src=x onerror=alert(1)&gt;")
    })
    .await;
    assert!(shown, "the message never showed in the conversation");
    let res = http()
        .get(format!("{base}/app/chat/{bao}"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    let csp = res.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let body = res.text().await.unwrap();
    assert!(
        !body.contains("<img src=x"),
        "markup from the network went out raw"
    );
    assert!(!body.contains("<script>"), "an inline script on the page");

    // A change needs our own Origin.
    let send = |origin: Option<&str>, text: &str| {
        let mut req = http()
            .post(format!("{base}/app/chat/{bao}/send"))
            .header(header::COOKIE, &cookie)
            .form(&[("text", text)]);
        if let Some(o) = origin {
            req = req.header(header::ORIGIN, o);
        }
        req.send()
    };
    assert_eq!(
        send(None, "no origin").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(Some("http://evil.example"), "forged")
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    let ok = send(Some(&base), "hello from the browser").await.unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let arrived = w
        .log_shows(&b, &ann, T, |m| m["text"] == "hello from the browser")
        .await;
    assert!(
        arrived,
        "the message sent from the web app never reached Bao"
    );
    let log = w.chat_log(&b, &ann).await;
    assert!(!log
        .iter()
        .any(|m| m["text"] == "forged" || m["text"] == "no origin"));

    // A picture of Cai's QR code adds Cai; a picture without one says so.
    let a_addr = w.dial_addr(&a).await;
    let (c, _nc) = w.started("cai", "Cai", &["--bootstrap", &a_addr]).await;
    let link = w.json(&["id", "--home", s(&c)]).await["link"]
        .as_str()
        .unwrap()
        .to_string();
    let qr = qrcode::QrCode::new(link.as_bytes())
        .unwrap()
        .render::<image::Luma<u8>>()
        .build();
    let mut png = Vec::new();
    qr.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let scan = |bytes: Vec<u8>| {
        http()
            .post(format!("{base}/app/contacts/scan"))
            .header(header::COOKIE, &cookie)
            .header(header::ORIGIN, &base)
            .body(bytes)
            .send()
    };
    let blank = image::GrayImage::from_pixel(200, 200, image::Luma([255]));
    let mut blank_png = Vec::new();
    blank
        .write_to(
            &mut std::io::Cursor::new(&mut blank_png),
            image::ImageFormat::Png,
        )
        .unwrap();
    let res = scan(blank_png).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("No QR code found"));
    assert_eq!(scan(png).await.unwrap().status(), StatusCode::SEE_OTHER);
    let cai = w.account(&c).await;
    let asked = wait_for(T, || async {
        w.json(&["contacts", "requests", "--home", s(&c)])
            .await
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["account_id"] == ann.as_str())
    })
    .await;
    assert!(
        asked,
        "Cai never got Ann's request from the scanned QR code"
    );
    let listed = w.json(&["contacts", "list", "--home", s(&a)]).await;
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["account_id"] == cai.as_str()));

    // Settings from the Me screen reach the node.
    let res = http()
        .post(format!("{base}/app/me/settings"))
        .header(header::COOKIE, &cookie)
        .header(header::ORIGIN, &base)
        .form(&[("auto_mb", "3"), ("moments_days", "30")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let auto = w.json(&["chat", "auto-download", "--home", s(&a)]).await;
    assert_eq!(auto["bytes"], 3 * 1024 * 1024, "{auto}");
    let m = w.json(&["moments", "settings", "--home", s(&a)]).await;
    assert_eq!(m["visible_days"], 30, "{m}");

    // A 50 MB upload from the browser is refused with a reason on the page,
    // and nothing is sent.
    let big = vec![7u8; 50 * 1024 * 1024];
    let res = http()
        .post(format!("{base}/app/chat/{bao}/file?kind=file&name=big.bin"))
        .header(header::COOKIE, &cookie)
        .header(header::ORIGIN, &base)
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body = res.text().await.unwrap();
    assert!(body.contains("up to 32 MB"), "{body}");
    let sent_files = w
        .chat_log(&a, &bao)
        .await
        .iter()
        .filter(|m| m.get("attachment").is_some_and(|a| !a.is_null()))
        .count();
    assert_eq!(sent_files, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_screen_speaks_chinese_and_the_pseudo_locale_finds_no_english() {
    let w = Weft::new(BIN);
    let ((a, _na), (b, _nb)) = w.ann_and_bao().await;
    let bao = w.account(&b).await;
    let ann = w.account(&a).await;
    w.json(&["chat", "send", "--home", s(&b), &ann, "hello Ann"])
        .await;
    w.moments_post(&b, "Lunch at the noodle bar", &[]).await;
    assert!(
        wait_for(T, || async { !w.chat_log(&a, &bao).await.is_empty() }).await,
        "no message"
    );
    let (cookie, base) = sign_in(&w, &a).await;
    let screens = [
        "/app/chats".to_string(),
        format!("/app/chat/{bao}"),
        "/app/contacts".into(),
        "/app/moments".into(),
        "/app/subscriptions?q=news".into(),
        "/app/nearby".into(),
        "/app/me".into(),
    ];
    // The first page with everything it loads stays under 100 KB and
    // names no other host (no CDN, no web fonts).
    let mut total = 0;
    for path in ["/app/chats", "/app/assets/app.css", "/app/assets/app.js"] {
        let (status, body) = page(&base, &cookie, path, &[]).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        for far in [
            "http://",
            "https://",
            "url(//",
            "src=\"//",
            "href=\"//",
            "@import",
        ] {
            assert!(!body.contains(far), "{path} reaches out: {far}");
        }
        total += body.len();
    }
    assert!(total < 100 * 1024, "the first page is {total} bytes");
    for path in &screens {
        let (status, html) = page(
            &base,
            &cookie,
            path,
            &[("accept-language", "zh-CN,zh;q=0.9")],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(html.contains(r#"lang="zh-CN""#), "{path}");
        for nav in ["聊天", "通讯录", "朋友圈", "订阅号", "附近", "我"] {
            assert!(html.contains(nav), "{path} lacks {nav}");
        }
        let pseudo_cookie = format!("{cookie}; weft_lang=en-XA");
        let (status, html) = page(&base, &pseudo_cookie, path, &[]).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let english: Vec<String> = chrome_text(&html)
            .into_iter()
            .filter(|t| has_plain_word(t))
            .collect();
        assert!(english.is_empty(), "{path}: untranslated: {english:?}");
        // The scan would see an English string.
        let (_, en) = page(&base, &cookie, path, &[("accept-language", "en")]).await;
        assert!(chrome_text(&en).iter().any(|t| has_plain_word(t)), "{path}");
    }
}

/// A group in the web app: listed in Chats, a message from the composer
/// reaches the members, and `@Name` in it mentions that member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_message_from_the_browser_mentions_by_name() {
    let w = Weft::new(BIN);
    let ((a, _na), (b, _nb)) = w.ann_and_bao().await;
    let a_addr = w.dial_addr(&a).await;
    let (c, _nc) = w.started("chen", "Chen", &["--bootstrap", &a_addr]).await;
    w.befriend(&a, &c).await;
    let chen = w.account(&c).await;
    let g = w.group_create(&a, "Climbers", &["Bao", "Chen"]).await;
    let (cookie, base) = sign_in(&w, &a).await;
    let (status, list) = page(&base, &cookie, "/app/chats", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        list.contains("Climbers") && list.contains(&format!("/app/chat/{g}")),
        "{list}"
    );
    let res = http()
        .post(format!("{base}/app/chat/{g}/send"))
        .header(header::COOKIE, &cookie)
        .header(header::ORIGIN, &base)
        .form(&[("text", "@Chen Saturday at the crag?")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    for home in [&b, &c] {
        let got = w
            .log_shows(home, &g, T, |m| {
                m["text"] == "@Chen Saturday at the crag?"
                    && m["mentions"]
                        .as_array()
                        .is_some_and(|l| l.iter().any(|x| x == chen.as_str()))
            })
            .await;
        assert!(
            got,
            "the group message mentioning Chen never reached {}",
            home.display()
        );
    }
}
