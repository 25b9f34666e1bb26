//! `weft chat send --file/--image/--voice/--video`, `weft chat save` and
//! `weft chat auto-download`: the file's bytes are streamed to the node (and
//! back), never read whole into memory; on a terminal a progress bar shows
//! the upload, the download (from the node's `file_progress` events) and
//! the write.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use weft_node::api::files::{AutoDownload, FetchBody, Fetched, SentFile};
use weft_node::files::AttachmentView;

use crate::client::{query_escape, Client};
use crate::error::{CliError, Kind};
use crate::print;

/// What `chat send` with an attachment sends.
pub struct Send {
    pub to: String,
    pub caption: String,
    pub kind: &'static str,
    pub path: PathBuf,
    pub original: bool,
    pub wait: bool,
    pub reply_to: Option<String>,
}

/// A progress bar on a terminal (stderr), hidden otherwise or with `--json`.
fn bar(len: u64, what: &str, json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
    ) {
        b.set_style(style.progress_chars("=> "));
    }
    b.set_message(what.to_string());
    b
}

pub async fn send(client: &Client, s: Send, json: bool) -> anyhow::Result<()> {
    let file = tokio::fs::File::open(&s.path).await.map_err(|e| {
        CliError::new(
            Kind::Invalid,
            format!("cannot read {}: {e}", s.path.display()),
        )
    })?;
    let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let name = s
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let mut path = format!(
        "/v1/chat/send-file?to={}&kind={}&name={}&caption={}&original={}&wait={}",
        query_escape(&s.to),
        s.kind,
        query_escape(&name),
        query_escape(&s.caption),
        s.original,
        if s.wait { 60 } else { 0 }
    );
    if let Some(r) = &s.reply_to {
        path.push_str(&format!("&reply_to={}", query_escape(r)));
    }
    let progress = bar(len, "uploading", json);
    let counted = {
        let progress = progress.clone();
        tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).map(move |r| {
            if let Ok(b) = &r {
                progress.inc(b.len() as u64);
            }
            r
        })
    };
    let req = client
        .long(reqwest::Method::POST, &path)
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(counted));
    let resp = client.checked(req).await;
    progress.finish_and_clear();
    let v: SentFile = resp?
        .json()
        .await
        .context("the node sent an answer this weft cannot read")?;
    print::human_or(&v, json, |v| {
        let held = match v.held_by {
            0 => "not yet with a holder: keep this node online until it is fetched".to_string(),
            n => format!("held by {n} peer(s) while you are away"),
        };
        println!("sent ({}) {}, {held}", crate::text::short(&v.id), name);
    })
}

pub async fn save(client: &Client, id: &str, out: &Path, json: bool) -> anyhow::Result<()> {
    let view: AttachmentView = client
        .get(&format!("/v1/chat/attachment/{}", query_escape(id)))
        .await?;
    if !view.local {
        fetch(client, id, &view, json).await?;
    }
    // Written beside the target, then renamed: a failed save never leaves
    // a partial file under the name asked for.
    let part = out.with_extension(match out.extension() {
        Some(e) => format!("{}.part", e.to_string_lossy()),
        None => "part".into(),
    });
    let resp = client
        .checked(client.long(
            reqwest::Method::GET,
            &format!("/v1/chat/file/{}", query_escape(id)),
        ))
        .await?;
    let progress = bar(view.size, "saving", json);
    let written = write_stream(resp, &part, &progress).await;
    progress.finish_and_clear();
    if let Err(e) = written {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(e);
    }
    tokio::fs::rename(&part, out)
        .await
        .with_context(|| format!("cannot write {}", out.display()))?;
    #[derive(Serialize)]
    struct Saved<'a> {
        path: String,
        size: u64,
        name: &'a str,
        mime: &'a str,
    }
    let saved = Saved {
        path: out.display().to_string(),
        size: view.size,
        name: &view.name,
        mime: &view.mime,
    };
    print::human_or(&saved, json, |s| {
        println!(
            "saved {} ({}, {})",
            s.path,
            crate::text::size(s.size),
            s.mime
        );
    })
}

async fn write_stream(
    resp: reqwest::Response,
    to: &Path,
    progress: &ProgressBar,
) -> anyhow::Result<()> {
    let mut f = tokio::fs::File::create(to)
        .await
        .with_context(|| format!("cannot write {}", to.display()))?;
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            CliError::new(
                Kind::Failed,
                format!("the file could not be read back: {e}"),
            )
        })?;
        f.write_all(&chunk).await?;
        progress.inc(chunk.len() as u64);
    }
    f.sync_all().await?;
    Ok(())
}

/// Downloads the attachment, showing the node's progress events.
async fn fetch(client: &Client, id: &str, view: &AttachmentView, json: bool) -> anyhow::Result<()> {
    let progress = bar(view.size, "fetching", json);
    let watcher = if progress.is_hidden() {
        None
    } else {
        let events = client
            .checked(client.long(reqwest::Method::GET, "/v1/events"))
            .await;
        events.ok().map(|resp| {
            let (progress, blob) = (progress.clone(), view.blob.clone());
            tokio::spawn(async move { follow(resp, &blob, &progress).await })
        })
    };
    let req = client
        .long(reqwest::Method::POST, "/v1/chat/fetch")
        .json(&FetchBody { id: id.to_string() });
    let r = client.checked(req).await;
    if let Some(w) = watcher {
        w.abort();
    }
    progress.finish_and_clear();
    let _: Fetched = r?
        .json()
        .await
        .context("the node sent an answer this weft cannot read")?;
    Ok(())
}

/// Moves `progress` with the node's `file_progress` events for `blob`.
async fn follow(resp: reqwest::Response, blob: &str, progress: &ProgressBar) {
    let mut body = resp.bytes_stream();
    let mut line = Vec::new();
    while let Some(Ok(chunk)) = body.next().await {
        for b in chunk {
            if b != b'\n' {
                line.push(b);
                continue;
            }
            if let Some(data) = line.strip_prefix(b"data:") {
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
                    if v["type"] == "file_progress" && v["file"] == blob {
                        progress.set_position(v["have"].as_u64().unwrap_or(0));
                    }
                }
            }
            line.clear();
        }
    }
}

/// `10`, `512KiB`, `20MiB`, `1GiB` (also KB/MB/GB, as powers of 1024).
fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().ok()?;
    let mul: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mul)
}

pub async fn auto_download(client: &Client, size: Option<&str>, json: bool) -> anyhow::Result<()> {
    let v: AutoDownload = match size {
        None => client.get("/v1/files/auto").await?,
        Some(s) => {
            let bytes = parse_size(s).ok_or_else(|| {
                CliError::new(Kind::Invalid, format!("`{s}` is not a size"))
                    .hint("bytes, or a number with KiB, MiB or GiB, e.g. 20MiB")
            })?;
            client
                .post("/v1/files/auto", &AutoDownload { bytes })
                .await?
        }
    };
    print::human_or(&v, json, |v| {
        println!(
            "attachments up to {} download as they arrive",
            crate::text::size(v.bytes)
        );
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_parse() {
        assert_eq!(super::parse_size("10"), Some(10));
        assert_eq!(super::parse_size("20MiB"), Some(20 << 20));
        assert_eq!(super::parse_size("1 GiB"), Some(1 << 30));
        assert_eq!(super::parse_size("3k"), Some(3 << 10));
        assert_eq!(super::parse_size("x"), None);
        assert_eq!(super::parse_size("5TB"), None);
    }
}
