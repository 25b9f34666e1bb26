//! Weft's wire contract: the types that cross the network, how they are
//! encoded (serde + postcard inside a versioned [`Envelope`]), and how they
//! are signed. Pure data and crypto: no I/O, no async, no libp2p swarm, so the
//! same rules apply in the node, the simulator and any third-party reader.

#![warn(missing_docs)]

pub mod blob;
pub mod bytes;
pub mod card;
pub mod chat;
pub mod device;
pub mod envelope;
pub mod file;
pub mod geo;
pub mod group;
pub mod hex;
pub mod identity;
pub mod link;
pub mod mailbox;
pub mod moments;
pub mod oa;
pub mod pay;
pub mod profile;
pub mod seal;
pub mod session;

pub use card::{validate_name, Card, CardError, MAX_ADDRS, MAX_NAME_LEN};
pub use envelope::{
    decode, decode_body, encode, DecodeError, EncodeError, Envelope, Kind, WIRE_VERSION,
};
pub use identity::{content_id, AccountId, AccountKey, DeviceCertificate, IdError, SignatureBytes};
pub use link::{LinkError, WeftLink};
pub use seal::{
    initiate, open, respond, seal, sender_matches, Initiator, Responder, SealError, MAX_NOISE_MSG,
    MAX_REPLY_PLAINTEXT, MAX_SEAL_PLAINTEXT,
};

/// Protocol id of the Kademlia DHT: Weft's DHT is its own network.
pub const KAD_PROTOCOL: &str = "/weft/kad/1.0.0";
/// Protocol id of the card exchange: on connect, nodes swap signed cards that
/// bind the connecting device (PeerId) to an account.
pub const CARD_PROTOCOL: &str = "/weft/card/1";
/// Protocol id of public profiles (the nearby radar).
pub const PROFILE_PROTOCOL: &str = "/weft/profile/1";
/// Identify's protocol version string, so Weft nodes recognise each other.
pub const IDENTIFY_PROTOCOL: &str = "/weft/id/1";

/// Current time as seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Current time as milliseconds since the Unix epoch (0 if the clock is
/// before it).
pub fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
