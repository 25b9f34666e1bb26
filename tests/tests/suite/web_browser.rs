//! The web app in real Chromium (Debian's `chromium` and `chromium-driver`,
//! which `.ci/run` installs), driven over WebDriver: two nodes, two
//! browsers. Ann adds Bao, Bao accepts, they chat and each message appears
//! in the other browser without a reload; markup in a message stays text;
//! Ann posts a Moment that Bao likes; Bao finds and follows an official
//! account and sees its post in Subscriptions. With `WEFT_SCREENSHOTS=DIR`
//! it also saves every screen at 375 and 1280 px wide.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use tokio::process::{Child, Command};
use weft_tests::{wait_for, Weft};

use crate::BIN;
use weft_tests::s;

const T: Duration = Duration::from_secs(30);
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A chromedriver on a loopback port of its own, killed on drop.
struct Driver {
    _child: Child,
    url: String,
}

async fn driver() -> Driver {
    assert!(
        Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
        "this test needs Debian's chromium and chromium-driver: apt-get install chromium chromium-driver"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start chromedriver");
    let url = format!("http://127.0.0.1:{port}");
    let status = format!("{url}/status");
    let up = wait_for(T, || async {
        reqwest::get(&status)
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    assert!(up, "chromedriver did not answer on {url}");
    Driver { _child: child, url }
}

/// Kills, when dropped, every browser process started with one of these
/// profiles: a test that fails midway never closes its sessions, and
/// chromedriver leaves its browsers running when it is killed.
struct Browsers(Vec<std::path::PathBuf>);

impl Drop for Browsers {
    fn drop(&mut self) {
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return;
        };
        for p in procs.flatten() {
            let Ok(cmd) = std::fs::read(p.path().join("cmdline")) else {
                continue;
            };
            let cmd = String::from_utf8_lossy(&cmd);
            if self
                .0
                .iter()
                .any(|d| cmd.contains(&format!("--user-data-dir={}", d.display())))
            {
                let _ = std::process::Command::new("kill")
                    .arg("-KILL")
                    .arg(p.file_name())
                    .status();
            }
        }
    }
}

/// A headless Chromium with an empty profile of its own, no network of its
/// own (no background requests, no QUIC), speaking `lang`.
async fn browser(d: &Driver, profile: &Path, lang: &str) -> Client {
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                // A made-up microphone, allowed without asking: voice notes.
                "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                format!("--user-data-dir={}", profile.display()),
                format!("--lang={lang}"),
                "--window-size=1280,900",
            ],
        }
    });
    let Value::Object(caps) = caps else {
        unreachable!()
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&d.url)
        .await
        .expect("a Chromium session")
}

/// Signs `c` in to `home`'s node with a fresh `weft open` link.
async fn sign_in(w: &Weft, c: &Client, home: &Path) -> String {
    let url = w.json(&["open", "--home", s(home)]).await["url"]
        .as_str()
        .unwrap()
        .to_string();
    c.goto(&url).await.unwrap();
    let base = url.split("/app/").next().unwrap().to_string();
    assert!(c
        .current_url()
        .await
        .unwrap()
        .as_str()
        .ends_with("/app/chats"));
    base
}

/// Waits until the page (as it is now, no reload) has an element matching
/// the XPath `xpath`.
async fn until_shown(c: &Client, xpath: &str) -> bool {
    wait_for(T, || async { c.find(Locator::XPath(xpath)).await.is_ok() }).await
}

/// Waits until `script` (which returns a boolean) returns true in `c`.
async fn until_true(c: &Client, script: &str) -> bool {
    wait_for(T, || async {
        c.execute(script, vec![])
            .await
            .is_ok_and(|v| v == json!(true))
    })
    .await
}

/// The text of the page's error line, for a failure's message.
async fn error_text(c: &Client) -> Result<serde_json::Value, fantoccini::error::CmdError> {
    c.execute(
        "return document.getElementById('error').textContent;",
        vec![],
    )
    .await
}

/// Marks the current document, to tell later whether it was reloaded.
async fn mark(c: &Client) {
    c.execute("window.__weftMark = 'same page'; return true;", vec![])
        .await
        .unwrap();
}

async fn still_marked(c: &Client) -> bool {
    c.execute("return window.__weftMark === 'same page';", vec![])
        .await
        .unwrap()
        == json!(true)
}

/// Waits for the event stream to be open, so nothing after this is missed.
async fn live(c: &Client) {
    let open = until_true(
        c,
        "return document.documentElement.getAttribute('data-live') === '1';",
    )
    .await;
    assert!(open, "the page never connected to the event stream");
}

/// Clicks the navigation link named `name`.
/// (A page may be navigating after a form: the link is looked for again
/// until it can be clicked, then the browser must arrive where it leads.)
async fn nav(c: &Client, name: &str) {
    let xpath = format!("//nav//a[normalize-space()='{name}']");
    let href = std::sync::Mutex::new(None);
    let clicked = wait_for(T, || async {
        let Ok(link) = c.find(Locator::XPath(&xpath)).await else {
            return false;
        };
        let to = link.attr("href").await.ok().flatten();
        let ok = link.click().await.is_ok();
        if ok {
            *href.lock().unwrap() = to;
        }
        ok
    })
    .await;
    assert!(clicked, "no navigation link named {name}");
    let href = href
        .into_inner()
        .unwrap()
        .expect("a navigation link has an address");
    let arrived = wait_for(T, || async {
        c.current_url().await.is_ok_and(|u| u.path() == href)
    })
    .await;
    assert!(arrived, "the {name} link did not lead to {href}");
}

/// Clicks the element at `xpath` (which must be there, or appear within
/// the timeout). A page that is still navigating after a form can replace
/// the element between finding and clicking it (a stale element): it is
/// looked for again, until a click lands.
async fn click(c: &Client, xpath: &str) {
    let clicked = wait_for(T, || async {
        match c.find(Locator::XPath(xpath)).await {
            Ok(el) => el.click().await.is_ok(),
            Err(_) => false,
        }
    })
    .await;
    assert!(clicked, "nothing to click at {xpath}");
}

/// Types `text` into the field with id `id` (a file input takes a path).
async fn type_in(c: &Client, id: &str, text: &str) {
    c.find(Locator::Id(id))
        .await
        .unwrap_or_else(|_| panic!("no field #{id}"))
        .send_keys(text)
        .await
        .unwrap();
}

/// Types `text` into the composer (the textbox named "Message") and
/// presses the button named "Send".
async fn say(c: &Client, text: &str) {
    let label = c
        .find(Locator::XPath("//label[normalize-space()='Message']"))
        .await
        .expect("a label named Message");
    let id = label
        .attr("for")
        .await
        .unwrap()
        .expect("the label names its field");
    let field = c.find(Locator::Id(&id)).await.unwrap();
    assert_eq!(
        field.prop("tagName").await.unwrap().as_deref(),
        Some("TEXTAREA")
    );
    field.send_keys(text).await.unwrap();
    click(
        c,
        "//form[@id='composer']//button[normalize-space()='Send']",
    )
    .await;
}

async fn shoot(c: &Client, name: &str) {
    let Some(dir) = std::env::var_os("WEFT_SCREENSHOTS") else {
        return;
    };
    for (w, h) in [(375, 812), (1280, 900)] {
        c.set_window_size(w, h).await.unwrap();
        let png = c.screenshot().await.unwrap();
        std::fs::write(Path::new(&dir).join(format!("{name}-{w}.png")), png).unwrap();
    }
    c.set_window_size(1280, 900).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browsers_befriend_chat_live_share_a_moment_and_follow_an_account() {
    let w = Weft::new(BIN);
    let (a, _na) = w.started("ann", "Ann", &[]).await;
    let a_addr = w.dial_addr(&a).await;
    let (b, _nb) = w.started("bao", "Bao", &["--bootstrap", &a_addr]).await;
    let (o, _no) = w.started("owner", "Owner", &["--bootstrap", &a_addr]).await;
    let ann = w.account(&a).await;
    let bao = w.account(&b).await;
    let profiles = Browsers(vec![w.home("chromium-ann"), w.home("chromium-bao")]);
    let d = driver().await;
    let ca = browser(&d, &profiles.0[0], "en").await;
    let cb = browser(&d, &profiles.0[1], "en").await;
    let base_a = sign_in(&w, &ca, &a).await;
    let base_b = sign_in(&w, &cb, &b).await;

    // Bao waits on his Contacts screen; Ann sends a request.
    nav(&cb, "Contacts").await;
    live(&cb).await;
    mark(&cb).await;
    nav(&ca, "Contacts").await;
    type_in(&ca, "target", &bao).await;
    type_in(&ca, "greeting", "Hi, it's Ann").await;
    click(&ca, "//button[normalize-space()='Send request']").await;
    assert!(
        until_shown(&cb, "//section[@id='requests']//*[contains(., 'Hi, it')]").await,
        "Ann's request never appeared on Bao's screen"
    );
    assert!(still_marked(&cb).await, "the page was reloaded");
    shoot(&cb, "contacts").await;
    click(
        &cb,
        "//section[@id='requests']//button[normalize-space()='Accept']",
    )
    .await;
    let friends = wait_for(T, || async {
        w.json(&["contacts", "list", "--home", s(&a)])
            .await
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["account_id"] == bao.as_str() && c["state"] == "friend")
    })
    .await;
    assert!(friends, "Ann never saw Bao accept");

    // Both open the conversation; each message shows up live on the other side.
    ca.goto(&format!("{base_a}/app/chat/{bao}")).await.unwrap();
    cb.goto(&format!("{base_b}/app/chat/{ann}")).await.unwrap();
    live(&ca).await;
    live(&cb).await;
    mark(&ca).await;
    mark(&cb).await;
    say(&ca, "Hello Bao, from Chromium").await;
    assert!(
        until_shown(
            &cb,
            "//ol[@id='messages']//p[normalize-space()='Hello Bao, from Chromium']"
        )
        .await,
        "Ann's message never appeared live in Bao's browser"
    );
    assert!(still_marked(&cb).await, "Bao's page was reloaded");
    let evil = "<img src=x onerror=\"window.__pwned=1\">";
    say(&cb, evil).await;
    let xp = "//ol[@id='messages']//p[contains(., 'onerror')]";
    assert!(
        until_shown(&ca, xp).await,
        "Bao's message never appeared live in Ann's browser"
    );
    assert!(still_marked(&ca).await, "Ann's page was reloaded");
    // The list re-renders live (a receipt, say) between finding the element
    // and reading it: read it again until one read holds.
    let shown = std::sync::Mutex::new(String::new());
    let read = wait_for(Duration::from_secs(20), || async {
        let Ok(el) = ca.find(Locator::XPath(xp)).await else {
            return false;
        };
        match el.text().await {
            Ok(t) => {
                *shown.lock().unwrap() = t;
                true
            }
            Err(_) => false,
        }
    })
    .await;
    assert!(read, "Bao's message could not be read in Ann's browser");
    let shown = shown.into_inner().unwrap();
    assert_eq!(shown, evil, "the markup was not shown as text");
    let ran = ca
        .execute(
            "return [document.querySelectorAll('#messages img').length, window.__pwned === 1];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        ran,
        json!([0, false]),
        "markup from a message became an element"
    );
    // Ann picks an emoji from the panel and sends it.
    click(&ca, "//details[@id='emoji']/summary").await;
    click(
        &ca,
        "//details[@id='emoji']//button[normalize-space()='🍜']",
    )
    .await;
    say(&ca, " tonight?").await;
    assert!(
        until_shown(
            &cb,
            "//ol[@id='messages']//p[normalize-space()='🍜 tonight?']"
        )
        .await,
        "the emoji message never appeared in Bao's browser"
    );

    // Ann picks a photo; Bao sees it inline, loaded, without a reload.
    let photo = w.home("harbour.jpg");
    std::fs::write(&photo, weft_node::media::samples::jpeg_with_gps(320, 240)).unwrap();
    let attach = ca
        .find(Locator::XPath("//label[normalize-space()='Photo or file']"))
        .await
        .expect("a file picker named Photo or file")
        .attr("for")
        .await
        .unwrap()
        .unwrap();
    type_in(&ca, &attach, photo.to_str().unwrap()).await;
    let inline = "var i = document.querySelector('#messages img.photo');              return !!i && i.complete && i.naturalWidth === 320;";
    let seen = until_true(&cb, inline).await;
    if !seen {
        let err = error_text(&ca).await;
        let html = cb
            .execute("return document.getElementById('live').innerHTML;", vec![])
            .await;
        panic!(
            "Ann's photo never showed inline in Bao's browser: Ann's error {err:?}; Bao's log {:?}; Bao's page {html:?}",
            w.chat_log(&b, &ann).await
        );
    }
    assert!(still_marked(&cb).await, "Bao's page was reloaded");
    // Bao records a voice note (Chromium's made-up microphone); Ann gets a player.
    let record = "//button[@id='record'][normalize-space()='Record a voice note']";
    assert!(until_shown(&cb, record).await, "no voice note button");
    click(&cb, record).await;
    let stop = "//button[@id='record'][normalize-space()='Stop and send']";
    assert!(until_shown(&cb, stop).await, "recording never started");
    // A voice note has a length: let the made-up microphone speak 1.5 s.
    cb.execute(
        "return new Promise(function (ok) { setTimeout(function () { ok(true); }, 1500); });",
        vec![],
    )
    .await
    .unwrap();
    click(&cb, stop).await;
    let playable = until_true(
        &ca,
        "var a = document.querySelector('#messages audio'); \
             return !!a && a.readyState >= 1 && a.duration > 0.5;",
    )
    .await;
    if !playable {
        let err = error_text(&cb).await;
        panic!(
            "Bao's voice note never became playable in Ann's browser; Bao's error {err:?}; Ann's log {:?}",
            w.chat_log(&a, &bao).await.last()
        );
    }
    shoot(&ca, "conversation").await;
    nav(&ca, "Chats").await;
    shoot(&ca, "chats").await;

    // Ann posts a Moment; Bao likes it.
    nav(&ca, "Moments").await;
    type_in(&ca, "moment", "Dumplings at the harbour").await;
    type_in(&ca, "photos", photo.to_str().unwrap()).await;
    click(
        &ca,
        "//section[@id='compose']//button[normalize-space()='Post']",
    )
    .await;
    nav(&cb, "Moments").await;
    live(&cb).await;
    let post = "//li[contains(@class,'post')][.//p[normalize-space()='Dumplings at the harbour']]";
    if !until_shown(&cb, post).await {
        let err = error_text(&ca).await;
        panic!(
            "Ann's Moment never reached Bao's feed; Ann's error {err:?}; Ann's feed {:?}",
            w.moments_feed(&a).await
        );
    }
    let pictured = until_true(
        &cb,
        "var i = document.querySelector('#feed li.post .images img'); \
             return !!i && i.complete && i.naturalWidth === 320;",
    )
    .await;
    assert!(pictured, "the Moment's photo never showed in Bao's feed");
    click(&cb, &format!("{post}//button[normalize-space()='Like']")).await;
    assert!(
        until_shown(
            &ca,
            &format!("{post}//div[contains(@class,'likes')][contains(., '1 like')]")
        )
        .await,
        "Bao's like never reached Ann's feed"
    );
    shoot(&ca, "moments").await;

    // An official account posts; Bao searches, follows, and reads it in Subscriptions.
    let oa = w.oa_create(&o, "subscription", "Harbour Daily").await;
    w.json(&[
        "oa",
        "publish",
        "--home",
        s(&o),
        &oa,
        "Ferries run late tonight",
    ])
    .await;
    nav(&cb, "Subscriptions").await;
    let follow = "//section[@id='results']//button[normalize-space()='Follow']";
    let found = wait_for(T, || async {
        // The page may be reloading from the previous search: any step
        // that meets a replaced element makes this round count as a miss.
        let Ok(q) = cb.find(Locator::Id("q")).await else {
            return false;
        };
        if q.clear().await.is_err() || q.send_keys("Harbour").await.is_err() {
            return false;
        }
        click(&cb, "//form[@id='oa-search']//button").await;
        cb.find(Locator::XPath(follow)).await.is_ok()
    })
    .await;
    assert!(found, "search never found the official account");
    click(&cb, follow).await;
    nav(&cb, "Subscriptions").await;
    live(&cb).await;
    assert!(
        until_shown(
            &cb,
            "//section[@id='oa-feed']//h3[normalize-space()='Ferries run late tonight']"
        )
        .await,
        "the account's post never showed in Bao's Subscriptions"
    );
    shoot(&cb, "subscriptions").await;
    for screen in ["Nearby", "Me"] {
        nav(&cb, screen).await;
        shoot(&cb, &screen.to_lowercase()).await;
    }
    ca.close().await.unwrap();
    cb.close().await.unwrap();
}
