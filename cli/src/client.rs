//! A client of a node's control API, found through the home's `api.json`.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use futures::StreamExt;
use serde::{de::DeserializeOwned, Serialize};
use weft_node::{api::ErrorBody, Home};

use crate::error::{CliError, Kind};

/// Talks to one running node.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    home: String,
}

impl Client {
    /// A client for the node running on `home`, or a friendly error if none is.
    pub fn for_home(home: &Path) -> anyhow::Result<Self> {
        let shown = home.display().to_string();
        let info = Home::new(home)
            .read_api_info()
            .ok_or_else(|| not_running(&shown))?;
        Self::new(&info.addr, &info.token, &shown)
    }

    /// A client for an API address and token.
    pub fn new(addr: &str, token: &str, home: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .no_proxy()
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            http,
            base: format!("http://{addr}"),
            token: token.to_string(),
            home: home.to_string(),
        })
    }

    /// `GET path`, decoded.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let req = self
            .http
            .get(format!("{}{path}", self.base))
            .timeout(Duration::from_secs(30));
        self.send(req).await
    }

    /// `POST path` with a JSON body (one of the request types in
    /// [`weft_node::api`]), decoded.
    pub async fn post<T: DeserializeOwned, B: Serialize>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        // Sent through `Value`, whose keys are sorted: the order `weft` has
        // always sent request fields in.
        let body = serde_json::to_value(body).context("cannot encode the request")?;
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .timeout(Duration::from_secs(30))
            .json(&body);
        self.send(req).await
    }

    /// `POST path` with raw bytes, decoded.
    pub async fn post_bytes<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<T> {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .timeout(Duration::from_secs(120))
            .header("content-type", "application/octet-stream")
            .body(body);
        self.send(req).await
    }

    /// `GET path` returning raw bytes.
    pub async fn get_bytes(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        let req = self
            .http
            .get(format!("{}{path}", self.base))
            .timeout(Duration::from_secs(120));
        self.send_raw(req).await
    }

    /// A request to `path` with the token and no timeout: file transfers
    /// take as long as they take.
    pub fn long(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// Sends `req` (from [`Client::long`]): the response if 2xx, else the
    /// API's one-line error.
    pub async fn checked(&self, req: reqwest::RequestBuilder) -> anyhow::Result<reqwest::Response> {
        let resp = req.send().await.map_err(|e| self.transport_error(e))?;
        let status = resp.status();
        if !status.is_success() {
            let bytes = resp.bytes().await.map_err(|e| self.transport_error(e))?;
            return Err(api_error(status.as_u16(), &bytes).into());
        }
        Ok(resp)
    }

    /// Sends with the token; the body of a 2xx answer, or the API's one-line error.
    async fn send_raw(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Vec<u8>> {
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| self.transport_error(e))?;
        if !status.is_success() {
            return Err(api_error(status.as_u16(), &bytes).into());
        }
        Ok(bytes.to_vec())
    }

    async fn send<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> anyhow::Result<T> {
        let bytes = self.send_raw(req).await?;
        serde_json::from_slice(&bytes).context("the node sent an answer this weft cannot read")
    }

    fn transport_error(&self, e: reqwest::Error) -> anyhow::Error {
        if e.is_connect() {
            not_running(&self.home)
        } else if e.is_timeout() {
            CliError::new(
                Kind::Unreachable,
                format!("the node for {} did not answer in time", self.home),
            )
            .hint("it may be busy; try again, or look at its log")
            .into()
        } else {
            CliError::new(
                Kind::Unreachable,
                format!("cannot talk to the node for {}: {e}", self.home),
            )
            .into()
        }
    }

    /// Prints the node's event stream until it ends or Ctrl-C; with
    /// `names`, chat events read as a conversation (`chat watch`).
    pub async fn stream_events(
        &self,
        json: bool,
        names: Option<crate::print::Names>,
    ) -> anyhow::Result<()> {
        let resp = self
            .http
            .get(format!("{}/v1/events", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            let bytes = resp.bytes().await.map_err(|e| self.transport_error(e))?;
            return Err(api_error(status, &bytes).into());
        }
        let mut body = resp.bytes_stream();
        let mut buf = Vec::new();
        loop {
            let chunk = tokio::select! {
                c = body.next() => c,
                _ = tokio::signal::ctrl_c() => return Ok(()),
            };
            let Some(chunk) = chunk else { return Ok(()) };
            buf.extend_from_slice(&chunk.map_err(|e| self.transport_error(e))?);
            if buf.len() > 1 << 20 {
                bail!("event stream sent an over-long line");
            }
            while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                let line = String::from_utf8_lossy(&line);
                if let Some(data) = line.trim_end().strip_prefix("data:") {
                    crate::print::event(data.trim(), json, names.as_ref());
                }
            }
        }
    }
}

/// No `api.json`, or nobody answers on it: either the home has no identity
/// yet (then `weft up` would make a new, unnamed account: say `init`), or
/// its node is not running.
fn not_running(home: &str) -> anyhow::Error {
    if !Home::new(home).has_identity() {
        return CliError::new(Kind::NotRunning, format!("{home} has no Weft identity yet"))
            .hint(format!(
                "create one with `weft init --home {home} --name NAME`, then `weft up --home {home}`"
            ))
            .into();
    }
    CliError::new(Kind::NotRunning, format!("no node running for {home}"))
        .hint(format!("start it with `weft up --home {home}`"))
        .into()
}

/// Percent-encodes a query parameter value.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The API's error answer as a [`CliError`]: its one-line reason and its
/// kind (from the body, or from the status for a node that sends none).
/// The HTTP status itself is not shown: it means nothing to a person.
fn api_error(status: u16, body: &[u8]) -> CliError {
    let (message, kind) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => (b.error, b.kind),
        Err(_) => (String::from_utf8_lossy(body).into_owned(), String::new()),
    };
    let kind = match kind.as_str() {
        "" => axum_status_kind(status),
        k => Kind::from_api(k),
    };
    CliError::new(kind, crate::text::clean(&message))
}

/// The kind of a bare status (nodes that sent no `kind`).
fn axum_status_kind(status: u16) -> Kind {
    match reqwest::StatusCode::from_u16(status) {
        Ok(s) => Kind::from_api(weft_node::api::kind_of(s)),
        Err(_) => Kind::Failed,
    }
}
