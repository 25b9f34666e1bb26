//! JSON views of the network's typed values, for `/v1/peers` and the
//! network part of `/v1/events`. The network layer carries `PeerId`,
//! `AccountId` and `Multiaddr`; text appears only here, in the same field
//! names and string forms the API has always had.

use serde::{Deserialize, Serialize};

use crate::net::{NetEvent, PeerInfo};

/// `GET /v1/peers` entry: a connected peer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PeerView {
    /// libp2p peer id.
    pub peer_id: String,
    /// Remote addresses of the open connections.
    pub addrs: Vec<String>,
    /// The account this device speaks for, once its card arrived.
    pub account_id: Option<String>,
    /// Display name from its card.
    pub name: Option<String>,
}

impl From<&PeerInfo> for PeerView {
    fn from(p: &PeerInfo) -> Self {
        PeerView {
            peer_id: p.peer_id.to_string(),
            addrs: p.addrs.iter().map(|a| a.to_string()).collect(),
            account_id: p.account_id.map(|a| a.to_string()),
            name: p.name.clone(),
        }
    }
}

/// A network event on `/v1/events`: `{"type": "peer_connected", ...}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NetEventView {
    /// Now listening on an address.
    Listening {
        /// The address.
        addr: String,
    },
    /// First connection to a peer opened.
    PeerConnected {
        /// Who.
        peer_id: String,
        /// Remote address.
        addr: String,
    },
    /// Last connection to a peer closed.
    PeerDisconnected {
        /// Who.
        peer_id: String,
    },
    /// A peer's verified card arrived.
    PeerIdentified {
        /// Device.
        peer_id: String,
        /// Account.
        account_id: String,
        /// Display name.
        name: String,
    },
    /// A LAN peer is gone.
    LanPeerExpired {
        /// Who.
        peer_id: String,
    },
    /// A peer was found on the LAN.
    LanPeerFound {
        /// Who.
        peer_id: String,
        /// Where.
        addr: String,
    },
}

impl From<&NetEvent> for NetEventView {
    fn from(ev: &NetEvent) -> Self {
        match ev {
            NetEvent::Listening { addr } => NetEventView::Listening {
                addr: addr.to_string(),
            },
            NetEvent::PeerConnected { peer_id, addr } => NetEventView::PeerConnected {
                peer_id: peer_id.to_string(),
                addr: addr.to_string(),
            },
            NetEvent::PeerDisconnected { peer_id } => NetEventView::PeerDisconnected {
                peer_id: peer_id.to_string(),
            },
            NetEvent::PeerIdentified {
                peer_id,
                account_id,
                name,
            } => NetEventView::PeerIdentified {
                peer_id: peer_id.to_string(),
                account_id: account_id.to_string(),
                name: name.clone(),
            },
            NetEvent::LanPeerExpired { peer_id } => NetEventView::LanPeerExpired {
                peer_id: peer_id.to_string(),
            },
            NetEvent::LanPeerFound { peer_id, addr } => NetEventView::LanPeerFound {
                peer_id: peer_id.to_string(),
                addr: addr.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::{Multiaddr, PeerId};
    use weft_protocol::AccountKey;

    #[test]
    fn events_render_with_the_historic_field_names() {
        let peer = PeerId::random();
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().unwrap();
        let account = AccountKey::generate().unwrap().account_id();
        let json = |ev: NetEvent| serde_json::to_string(&NetEventView::from(&ev)).unwrap();
        assert_eq!(
            json(NetEvent::PeerConnected {
                peer_id: peer,
                addr: addr.clone()
            }),
            format!(r#"{{"type":"peer_connected","peer_id":"{peer}","addr":"{addr}"}}"#)
        );
        assert_eq!(
            json(NetEvent::PeerIdentified {
                peer_id: peer,
                account_id: account,
                name: "Ada".into()
            }),
            format!(
                r#"{{"type":"peer_identified","peer_id":"{peer}","account_id":"{account}","name":"Ada"}}"#
            )
        );
        assert_eq!(
            json(NetEvent::LanPeerExpired { peer_id: peer }),
            format!(r#"{{"type":"lan_peer_expired","peer_id":"{peer}"}}"#)
        );
        assert_eq!(
            json(NetEvent::Listening { addr: addr.clone() }),
            format!(r#"{{"type":"listening","addr":"{addr}"}}"#)
        );
    }

    #[test]
    fn peers_render_as_strings_and_nulls() {
        let peer = PeerId::random();
        let view = PeerView::from(&PeerInfo {
            peer_id: peer,
            addrs: vec!["/ip4/10.0.0.2/tcp/1".parse().unwrap()],
            account_id: None,
            name: None,
        });
        assert_eq!(
            serde_json::to_string(&view).unwrap(),
            format!(
                r#"{{"peer_id":"{peer}","addrs":["/ip4/10.0.0.2/tcp/1"],"account_id":null,"name":null}}"#
            )
        );
    }
}
