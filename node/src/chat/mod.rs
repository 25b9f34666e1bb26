//! Contacts and 1:1 chat.
//!
//! - [`Chat`] is the service handle the API calls: friend requests, sending,
//!   reading, recalling. Everything the user is told was "sent" is in the
//!   outbox on disk first (persist, flush, then answer).
//! - `delivery.rs`: one task per recipient with a non-empty outbox: reach a
//!   device of that account (connected peer, card hint, or DHT record), run a
//!   Noise IK round trip on `/weft/chat/1`, drop what the peer acknowledged;
//!   when the peer is unreachable, leave copies with mailbox holders and
//!   retry with backoff.
//! - `inbound.rs`: answers `/weft/chat/1` (open, validate, persist, then
//!   acknowledge) and `/weft/mailbox/1` (hold mail for others, hand ours over).

mod delivery;
mod inbound;
mod service;

pub(crate) use delivery::{dial_card, lookup_card};
pub use service::{
    Chat, ChatError, ChatEvent, ContactView, ConversationView, MessageView, RequestView,
};
