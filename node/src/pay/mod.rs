//! Weft Pay (design and trust model: `docs/PAY.md`): Chaumian ecash
//! issued by mints that nodes run as service accounts, held in a wallet on
//! every device, moved between people inside end-to-end encrypted chat.
//!
//! - **Mint** (`mint.rs`, answering in `inbound.rs`): a service account
//!   with one keyset per currency; signs blinded outputs, swaps tokens and
//!   records every spent secret in one sled transaction with the answer it
//!   gave, so a retry gets the same answer and a token spent once is spent
//!   for ever.
//! - **Wallet** (`wallet.rs`): proofs per mint and currency; every request
//!   to a mint is first written as an [`Op`](crate::store::pay::Op) with
//!   its inputs taken out of the wallet, then sent, then settled in one
//!   transaction; an op found after a crash is sent again (same bytes, same
//!   answer).
//! - **Transfers** (`transfer.rs`): `pay send` swaps our proofs for proofs
//!   locked to the friend's device keys (refundable to us after the lock
//!   time), and sends them in a chat message; the friend's node claims them
//!   (swaps them for proofs of its own) and says so.
//! - **Requests** (`request.rs`): a signed payment request (QR at a till),
//!   paid once. **Red envelopes** (`packet.rs`): the total set aside in an
//!   escrow pocket of the sender's wallet, shares handed out as members ask.
//!   **Coupons** (`coupon.rs`): a currency of an official account's mint,
//!   taken only by that account, refused after its expiry.
//! - `service.rs`: the background task (ops, claims, refunds, envelopes'
//!   deadlines, the mints' DHT records).

mod coupon;
mod grab;
mod inbound;
mod mint;
mod op;
mod packet;
mod request;
mod service;
mod transfer;
mod wallet;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use weft_protocol::{pay::PayError, AccountId, AccountKey, Card};

use crate::budget::PeerBudget;
use crate::chat::{Chat, ChatError};
use crate::context::Context;
use crate::events::{EventFeed, EventRx};
use crate::group::{Groups, GroupsError};
use crate::home::Home;
use crate::store::StoreError;

pub use coupon::CouponView;
pub use mint::{MintCurrencyView, MintView, TotalView};
pub use packet::{PacketView, ShareView};
pub use request::{RequestShown, RequestView};
pub use transfer::SendResult;
pub use wallet::{BalanceView, ExchangeQuote, PaymentView};

/// How long an unclaimed transfer waits before it goes back to the sender.
pub const REFUND_AFTER_SECS: u64 = 24 * 3600;
/// How long a red envelope may be grabbed.
pub const PACKET_SECS: u64 = 24 * 3600;
/// How long a payment request stays valid by default.
pub const REQUEST_SECS: u64 = 24 * 3600;

/// Pay failures, worded for the user.
#[derive(Debug, thiserror::Error)]
pub enum PayServiceError {
    /// Bad amounts, currencies, tokens or requests.
    #[error(transparent)]
    Pay(#[from] PayError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Chat refused (not a friend, ...).
    #[error(transparent)]
    Chat(#[from] ChatError),
    /// Groups refused (no such group, not a member).
    #[error(transparent)]
    Groups(#[from] GroupsError),
    /// The key of a mint could not be written or read.
    #[error("mint key: {0}")]
    Key(String),
    /// Not a mint this node runs.
    #[error("this node runs no mint `{0}`; see `weft mint status`")]
    NotOwnedMint(String),
    /// No mint by that name or id.
    #[error("no mint matches `{0}`; give its account id")]
    UnknownMint(String),
    /// Several mints match.
    #[error("several mints hold {0}; choose one with --mint")]
    Ambiguous(String),
    /// The mint has no such currency.
    #[error("the mint offers no currency {0}")]
    NoCurrency(String),
    /// Not enough money.
    #[error("not enough {currency}: {have} in the wallet, {need} needed")]
    Insufficient {
        /// Currency.
        currency: String,
        /// What the wallet holds.
        have: String,
        /// What the payment needs.
        need: String,
    },
    /// The mint could not be reached.
    #[error("the mint did not answer ({0}); the operation is kept and retried")]
    MintUnreachable(String),
    /// The mint refused.
    #[error("the mint refused: {0}")]
    MintRefused(String),
    /// The tokens were spent already.
    #[error("these tokens were already spent (another payment took them)")]
    AlreadySpent,
    /// The mint answered with something that does not verify.
    #[error("the mint answered with invalid signatures: {0}")]
    MintCheated(String),
    /// A payment request paid before.
    #[error("this request was already paid")]
    AlreadyPaid,
    /// A payment request whose signer is not the payee.
    #[error("the request is not signed by the account it pays")]
    ForgedRequest,
    /// Paying ourselves.
    #[error("that is your own request")]
    OwnRequest,
    /// No such red envelope.
    #[error("no red envelope matches `{0}`")]
    UnknownPacket(String),
    /// A grab refused.
    #[error("{0}")]
    Grab(String),
    /// A coupon refused.
    #[error("coupon refused: {0}")]
    Coupon(String),
    /// Waited too long for an answer.
    #[error("no answer in time from {0}")]
    Timeout(&'static str),
}

impl From<crate::error::NodeError> for PayServiceError {
    fn from(e: crate::error::NodeError) -> Self {
        PayServiceError::Key(e.to_string())
    }
}

/// What the pay service tells subscribers.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum PayEvent {
    /// Money claimed into our wallet.
    #[serde(rename = "payment_received")]
    Received {
        /// Payment id.
        id: String,
        /// From.
        from: String,
        /// Amount.
        amount: String,
        /// Currency.
        currency: String,
    },
    /// A payment of ours changed status (claimed, refunded, failed).
    #[serde(rename = "payment_status")]
    Status {
        /// Payment id.
        id: String,
        /// New status.
        status: String,
    },
    /// A red envelope changed (someone grabbed, it finished).
    #[serde(rename = "red_envelope")]
    Packet {
        /// Envelope id.
        id: String,
    },
}

/// The pay service handle. Cheap to clone.
#[derive(Clone)]
pub struct Pay {
    inner: Arc<Inner>,
}

/// A mint's private keys for one currency, one per denomination.
type Keyset = Arc<Vec<[u8; 32]>>;

struct Inner {
    ctx: Context,
    home: Home,
    chat: Chat,
    groups: Groups,
    events: EventFeed<PayEvent>,
    /// Choosing proofs and writing the op that takes them is one step.
    wallet_lock: tokio::sync::Mutex<()>,
    /// Red envelopes hand out shares one at a time.
    packet_lock: tokio::sync::Mutex<()>,
    /// Envelopes we asked for a share of (their answers are kept even when
    /// we were never given the envelope).
    grabs: Mutex<HashSet<(AccountId, [u8; 16])>>,
    /// A share is checked unpaid and paid as one step.
    shares_lock: tokio::sync::Mutex<()>,
    /// One round of envelope upkeep at a time.
    tick_lock: tokio::sync::Mutex<()>,
    /// Wakes the background task (a transfer arrived, an op is waiting).
    wake: Notify,
    /// Ops being run now (so the background task does not run them twice).
    running: Mutex<HashSet<[u8; 16]>>,
    /// When each waiting op may be tried again (ms), after a failure.
    backoff: Mutex<HashMap<[u8; 16], (u64, u32)>>,
    /// Mints' cards, as found in the DHT (a few).
    cards: Mutex<HashMap<AccountId, Card>>,
    /// The account keys of the mints this node runs, read once.
    mint_keys: Mutex<HashMap<AccountId, Arc<AccountKey>>>,
    /// Mints' keys per currency, derived once.
    keysets: Mutex<HashMap<(AccountId, String), Keyset>>,
    /// What each peer may ask our mints per minute.
    asks: PeerBudget,
}

impl Pay {
    /// Subscribes to pay events.
    pub fn subscribe(&self) -> EventRx<PayEvent> {
        self.inner.events.subscribe()
    }

    fn emit(&self, ev: PayEvent) {
        let _ = self.inner.events.send(ev);
    }

    fn store(&self) -> &crate::store::Store {
        &self.inner.ctx.store
    }

    fn me(&self) -> AccountId {
        self.inner.ctx.me()
    }

    /// Whether `a` is a friend of ours (money, envelopes and refusals are
    /// taken from and sent to friends without further reason).
    fn is_friend(&self, a: &AccountId) -> Result<bool, StoreError> {
        Ok(matches!(
            self.store().contact(a)?,
            Some(c) if c.state == crate::store::chat::ContactState::Friend
        ))
    }

    /// The key of a mint this node runs, read from the home once.
    fn mint_key(&self, mint: &AccountId) -> Result<Arc<AccountKey>, PayServiceError> {
        if let Some(k) = self
            .inner
            .mint_keys
            .lock()
            .ok()
            .and_then(|m| m.get(mint).cloned())
        {
            return Ok(k);
        }
        let k = Arc::new(self.inner.home.load_oa_key(mint)?);
        if let Ok(mut m) = self.inner.mint_keys.lock() {
            if m.len() >= 64 {
                m.clear();
            }
            m.insert(*mint, k.clone());
        }
        Ok(k)
    }

    /// The name we show for an account (a contact's, a group member's).
    fn name_of(&self, a: &AccountId) -> String {
        if *a == self.me() {
            return self
                .store()
                .name()
                .ok()
                .flatten()
                .unwrap_or_else(|| a.short());
        }
        match self.store().contact(a) {
            Ok(Some(c)) => c.display_name().to_string(),
            _ => a.short(),
        }
    }
}

/// A sum and note as the user typed them, checked: the amount in minor
/// units and the currency code in upper case; a note longer than
/// [`MAX_NOTE`](weft_protocol::pay::MAX_NOTE) is refused.
pub(crate) fn checked_sum(
    amount: &str,
    currency: &str,
    note: &str,
) -> Result<(u64, String), PayServiceError> {
    let amount = weft_protocol::pay::parse_amount(amount)?;
    let currency = currency.trim().to_uppercase();
    weft_protocol::pay::check_currency(&currency)?;
    if note.len() > weft_protocol::pay::MAX_NOTE {
        return Err(PayError::TooMany("note").into());
    }
    Ok((amount, currency))
}

/// Ids as people type them: hex of the 16 bytes.
pub(crate) fn id_text(id: &[u8; 16]) -> String {
    weft_protocol::hex::encode(id)
}

/// A random 16-byte id.
pub(crate) fn new_id() -> Result<[u8; 16], PayServiceError> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| PayError::Crypto(e.to_string()))?;
    Ok(id)
}

/// Parses an id as [`id_text`] writes it.
pub(crate) fn parse_id(s: &str) -> Result<[u8; 16], PayServiceError> {
    weft_protocol::hex::decode_array::<16>(s.trim())
        .ok_or_else(|| PayServiceError::UnknownPacket(s.chars().take(40).collect()))
}
