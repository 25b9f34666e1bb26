//! `weft://` links: what a QR code or a shared link carries so someone can
//! find and add you: `weft://<account-id>?peer=<peer-id>&addr=<multiaddr>&name=<name>`.
//! The account id is authoritative; peer and addresses are hints for dialling
//! (the card exchanged on connect proves them). Parsing is strict and bounded.

use std::fmt;
use std::str::FromStr;

use crate::identity::AccountId;

const SCHEME: &str = "weft://";
/// Longest link accepted, in bytes.
pub const MAX_LINK_LEN: usize = 4096;

/// A parsed `weft://` link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeftLink {
    /// The account the link introduces.
    pub account: AccountId,
    /// A device's libp2p peer id, if given.
    pub peer: Option<String>,
    /// Multiaddrs (text) to dial that device.
    pub addrs: Vec<String>,
    /// Display name hint.
    pub name: Option<String>,
}

/// Why a link did not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LinkError {
    /// Not starting with `weft://`.
    #[error("a Weft link starts with `weft://`")]
    Scheme,
    /// Longer than [`MAX_LINK_LEN`].
    #[error("link is longer than {MAX_LINK_LEN} bytes")]
    TooLong,
    /// The account part is not an account id.
    #[error("link has no valid account id: {0}")]
    Account(String),
    /// A query parameter is malformed.
    #[error("malformed link parameter `{0}`")]
    Param(String),
}

impl fmt::Display for WeftLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}", self.account)?;
        let mut sep = '?';
        let mut param = |f: &mut fmt::Formatter<'_>, k: &str, v: &str| {
            let r = write!(f, "{sep}{k}={}", pct_encode(v));
            sep = '&';
            r
        };
        if let Some(p) = &self.peer {
            param(f, "peer", p)?;
        }
        for a in &self.addrs {
            param(f, "addr", a)?;
        }
        if let Some(n) = &self.name {
            param(f, "name", n)?;
        }
        Ok(())
    }
}

impl FromStr for WeftLink {
    type Err = LinkError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_LINK_LEN {
            return Err(LinkError::TooLong);
        }
        let rest = s.strip_prefix(SCHEME).ok_or(LinkError::Scheme)?;
        let (acct, query) = rest.split_once('?').unwrap_or((rest, ""));
        let account = acct
            .trim_end_matches('/')
            .parse()
            .map_err(|_| LinkError::Account(acct.chars().take(64).collect()))?;
        let mut link = WeftLink {
            account,
            peer: None,
            addrs: Vec::new(),
            name: None,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let bad = || LinkError::Param(pair.chars().take(64).collect());
            let (k, v) = pair.split_once('=').ok_or_else(bad)?;
            let v = pct_decode(v).ok_or_else(bad)?;
            match k {
                "peer" => link.peer = Some(v),
                "addr" if link.addrs.len() < crate::MAX_ADDRS => link.addrs.push(v),
                "addr" => {}
                "name" => link.name = Some(v),
                _ => {} // unknown parameters are ignored for forward compatibility
            }
        }
        Ok(link)
    }
}

fn pct_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn pct_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AccountKey;

    #[test]
    fn link_round_trips() {
        let link = WeftLink {
            account: AccountKey::generate().unwrap().account_id(),
            peer: Some("12D3KooWabc".into()),
            addrs: vec![
                "/ip4/127.0.0.1/tcp/4001".into(),
                "/ip4/10.0.0.1/udp/1/quic-v1".into(),
            ],
            name: Some("Zoë & co = 100%".into()),
        };
        let text = link.to_string();
        assert_eq!(text.parse::<WeftLink>().unwrap(), link);
    }

    #[test]
    fn bad_links_are_refused() {
        assert_eq!("http://x".parse::<WeftLink>(), Err(LinkError::Scheme));
        assert!("weft://notanid".parse::<WeftLink>().is_err());
        let id = AccountKey::generate().unwrap().account_id();
        assert!(format!("weft://{id}?name=%zz").parse::<WeftLink>().is_err());
        assert!(format!("weft://{id}?name=%E2%82")
            .parse::<WeftLink>()
            .is_err());
        assert!(format!("weft://{id}?{}", "a".repeat(5000))
            .parse::<WeftLink>()
            .is_err());
    }
}
