//! Weft Pay's trees (part of the one module that owns sled): the mints this
//! node runs (their ledger) and this device's wallet. Every change that
//! moves money is one sled transaction, so a crash leaves either the state
//! before or the state after, never a token counted twice or lost.
//!
//! Mint (see [`crate::pay`]):
//! - `mint_own`:    mint(32) → [`MintRecord`]
//! - `mint_spent`:  mint(32) ‖ Y(33) → digest(32) of the request that spent it
//! - `mint_swaps`:  mint(32) ‖ digest(32) → the promises it answered (a retry
//!   of the same request gets the same answer)
//! - `mint_totals`: mint(32) ‖ currency → u64 BE outstanding (issued, not redeemed)
//! - `mint_claims`: mint(32) ‖ currency ‖ endpoint(32) → () (one coupon each)
//!
//! Wallet:
//! - `wallet_proofs`: pocket(16) ‖ mint(32) ‖ len ‖ currency ‖ Y(33) → proof.
//!   Pocket zero is the wallet; a red envelope's escrow is its own pocket.
//! - `wallet_ops`:    op id(16) → [`Op`]: a mint request in flight, with its
//!   inputs (already out of the wallet) and its outputs' secrets
//! - `wallet_mints`:  mint(32) → the mint's keys as first seen (pinned)
//! - `pay_history`:   dir(1) ‖ counterparty(32) ‖ id(16) → [`Payment`]
//! - `pay_requests`:  id(16) → [`RequestRecord`]
//! - `pay_packets`:   sender(32) ‖ id(16) → [`PacketRecord`]

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
use weft_protocol::{
    pay::{
        CouponTerms, Input, MintRequest, PacketInfo, PayRequest, Point, Promise, Proof, Purpose,
        Rate,
    },
    AccountId,
};

use super::{be_u64, by_id, dec, enc, get, Store, StoreError};

trees! {
    /// The Pay trees.
    PayTrees {
        mint_own: "mint_own",
        mint_spent: "mint_spent",
        mint_swaps: "mint_swaps",
        mint_totals: "mint_totals",
        mint_claims: "mint_claims",
        proofs: "wallet_proofs",
        ops: "wallet_ops",
        mints: "wallet_mints",
        history: "pay_history",
        requests: "pay_requests",
        packets: "pay_packets",
    }
}

/// The wallet's own pocket.
pub const MAIN: [u8; 16] = [0; 16];

/// A mint this node runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MintRecord {
    /// Its name.
    pub name: String,
    /// Its currencies, with a coupon's terms.
    pub currencies: Vec<(String, Option<CouponTerms>)>,
    /// Exchange rates it offers.
    pub rates: Vec<(String, String, Rate)>,
}

/// Where one output of an operation goes once signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Dest {
    /// Back into the pocket the inputs came from.
    Change,
    /// Into the payment (locked to its recipient).
    Payment,
    /// Into the wallet.
    Wallet,
}

/// One output's private half.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutSecret {
    /// The secret.
    pub secret: Vec<u8>,
    /// The blinding factor.
    pub r: [u8; 32],
    /// Where its proof goes.
    pub dest: Dest,
}

/// What an operation is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpPurpose {
    /// Making the locked proofs of an outgoing payment (history key).
    Send(Vec<u8>),
    /// Claiming an incoming payment (history key).
    Claim(Vec<u8>),
    /// Taking back an unclaimed payment (history key).
    Refund(Vec<u8>),
    /// Changing money into another currency, or making change.
    Exchange,
}

/// A request to a mint in flight. The inputs left the wallet when it was
/// written; a retry sends the same bytes, which the mint answers the same.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// Its id.
    pub id: [u8; 16],
    /// The mint.
    pub mint: AccountId,
    /// The pocket the inputs came from.
    pub pocket: [u8; 16],
    /// The exact request.
    pub request: MintRequest,
    /// The outputs' secrets, in the request's order.
    pub outputs: Vec<OutSecret>,
    /// Why.
    pub purpose: OpPurpose,
    /// When it was written (Unix ms).
    pub at_ms: u64,
}

impl Op {
    /// The request's inputs and their currency.
    pub fn inputs(&self) -> (&str, &[Input]) {
        match &self.request {
            MintRequest::Swap {
                currency, inputs, ..
            } => (currency, inputs),
            MintRequest::Exchange { from, inputs, .. } => (from, inputs),
            MintRequest::Redeem { currency, inputs } => (currency, inputs),
            MintRequest::Info | MintRequest::Check { .. } | MintRequest::ClaimCoupon { .. } => {
                ("", &[])
            }
        }
    }

    /// The currency the outputs are in.
    pub fn out_currency(&self) -> &str {
        match &self.request {
            MintRequest::Swap { currency, .. } => currency,
            MintRequest::Exchange { to, .. } => to,
            MintRequest::ClaimCoupon { currency, .. } => currency,
            _ => "",
        }
    }
}

/// Where a payment stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PayStatus {
    /// Outgoing: its tokens are being made at the mint.
    Preparing,
    /// Outgoing: in the chat outbox, not yet claimed.
    Sent,
    /// Incoming: being claimed at the mint.
    Claiming,
    /// Claimed by the recipient (outgoing) or by us (incoming).
    Received,
    /// Not claimed in time; back in the sender's wallet.
    Refunded,
    /// Did not happen, and why.
    Failed(String),
}

impl PayStatus {
    /// Lower-case word for the API.
    pub fn as_str(&self) -> &'static str {
        match self {
            PayStatus::Preparing => "preparing",
            PayStatus::Sent => "sent",
            PayStatus::Claiming => "claiming",
            PayStatus::Received => "received",
            PayStatus::Refunded => "refunded",
            PayStatus::Failed(_) => "failed",
        }
    }
}

/// One payment in or out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// Its id.
    pub id: [u8; 16],
    /// We paid (`true`) or were paid.
    pub outgoing: bool,
    /// The other side.
    pub counterparty: AccountId,
    /// The mint.
    pub mint: AccountId,
    /// Currency.
    pub currency: String,
    /// Minor units.
    pub amount: u64,
    /// Note.
    pub note: String,
    /// Why.
    pub purpose: Purpose,
    /// Where it stands.
    pub status: PayStatus,
    /// When (Unix ms).
    pub at_ms: u64,
    /// The locked proofs (sent, or received and not yet claimed).
    pub proofs: Vec<Proof>,
    /// Outgoing: the lock time after which we may take them back.
    pub refund_at: u64,
    /// Outgoing: the chat message is in the outbox.
    pub queued: bool,
    /// A coupon given with it: currency and its (locked) proofs.
    pub coupon: Option<(String, Vec<Proof>)>,
    /// The discount the coupon gave, minor units.
    pub discount: u64,
    /// The chat message that carried it.
    pub msg: Option<[u8; 32]>,
}

impl Payment {
    /// A payment made now, of nothing yet: callers fill in what it moves
    /// (`currency`, `amount`, `note`, `proofs`, ...) with struct update
    /// syntax; everything not named starts empty, unlocked and not queued.
    pub fn new(
        id: [u8; 16],
        outgoing: bool,
        counterparty: AccountId,
        mint: AccountId,
        purpose: Purpose,
        status: PayStatus,
    ) -> Self {
        Payment {
            id,
            outgoing,
            counterparty,
            mint,
            currency: String::new(),
            amount: 0,
            note: String::new(),
            purpose,
            status,
            at_ms: weft_protocol::unix_now_ms(),
            proofs: Vec::new(),
            refund_at: 0,
            queued: false,
            coupon: None,
            discount: 0,
            msg: None,
        }
    }

    /// Its key in `pay_history`.
    pub fn key(&self) -> Vec<u8> {
        history_key(self.outgoing, &self.counterparty, &self.id)
    }
}

/// A payment's key.
pub fn history_key(outgoing: bool, counterparty: &AccountId, id: &[u8; 16]) -> Vec<u8> {
    let mut k = Vec::with_capacity(49);
    k.push(u8::from(outgoing));
    k.extend_from_slice(&counterparty.0);
    k.extend_from_slice(id);
    k
}

/// A payment request we made or paid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// The request.
    pub request: PayRequest,
    /// We are the payee.
    pub own: bool,
    /// Paid: by whom, when (Unix ms).
    pub paid: Option<(AccountId, u64)>,
}

/// A red envelope, as its sender or a member holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketRecord {
    /// What it is.
    pub info: PacketInfo,
    /// Who sent it.
    pub sender: AccountId,
    /// Sender only: the shares not yet taken, in the order they go.
    pub left: Vec<u64>,
    /// Who got how much, in order.
    pub shares: Vec<(AccountId, u64)>,
    /// Nothing more to grab.
    pub finished: bool,
    /// Set aside at the mint (sender): the escrow pocket is funded.
    pub funded: bool,
    /// Members (the sender's view when it was sent).
    pub members: Vec<AccountId>,
    /// Member only: why our grab was refused.
    pub refused: Option<String>,
}

/// What the mint's ledger says to a swap.
#[derive(Debug)]
pub enum Spend {
    /// Signed now, or earlier for the same request.
    Done(Vec<Promise>),
    /// These inputs were spent by another request.
    Spent(Vec<Point>),
}

fn tx_err(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Sled(e),
    }
}

fn cur_key(prefix: &[u8], currency: &str) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.push(currency.len() as u8);
    k.extend_from_slice(currency.as_bytes());
    k
}

/// `pocket ‖ mint ‖ len ‖ currency`.
fn pocket_prefix(pocket: &[u8; 16], mint: &AccountId, currency: &str) -> Vec<u8> {
    let mut p = pocket.to_vec();
    p.extend_from_slice(&mint.0);
    cur_key(&p, currency)
}

/// A proof's key in the wallet's own pocket.
fn wallet_key(mint: &AccountId, currency: &str, p: &Proof) -> Result<Vec<u8>, StoreError> {
    let y = p
        .y()
        .map_err(|e| StoreError::Corrupt("wallet_proofs", e.to_string()))?;
    Ok(cat(&pocket_prefix(&MAIN, mint, currency), &y.0))
}

fn cat(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut k = a.to_vec();
    k.extend_from_slice(b);
    k
}

fn be(v: Option<sled::IVec>) -> u64 {
    v.as_deref().and_then(be_u64).unwrap_or(0)
}

/// A balance change inside a ledger transaction.
#[derive(Clone, Debug)]
pub struct Totals {
    /// Added to outstanding: `(currency, amount)`.
    pub add: Vec<(String, u64)>,
    /// Taken from outstanding.
    pub sub: Vec<(String, u64)>,
}

impl Store {
    // ----- mint -----

    /// Records a mint this node runs.
    pub fn put_mint(&self, mint: &AccountId, r: &MintRecord) -> Result<(), StoreError> {
        self.pay.mint_own.insert(mint.0, enc(r))?;
        Ok(())
    }

    /// A mint this node runs.
    pub fn mint(&self, mint: &AccountId) -> Result<Option<MintRecord>, StoreError> {
        get(&self.pay.mint_own, "mint_own", mint.0)
    }

    /// Every mint this node runs.
    pub fn mints(&self) -> Result<Vec<(AccountId, MintRecord)>, StoreError> {
        let all = by_id(&self.pay.mint_own, "mint_own")?;
        Ok(all.into_iter().map(|(a, r)| (AccountId(a), r)).collect())
    }

    /// Outstanding per currency of a mint.
    pub fn mint_totals(&self, mint: &AccountId) -> Result<Vec<(String, u64)>, StoreError> {
        let mut v = Vec::new();
        for kv in self.pay.mint_totals.scan_prefix(mint.0) {
            let (k, val) = kv?;
            let c = k.get(33..).unwrap_or_default();
            v.push((
                String::from_utf8_lossy(c).into_owned(),
                be(Some(val.clone())),
            ));
        }
        Ok(v)
    }

    /// The ledger's one atomic step: marks every `ys` spent by `digest`
    /// (unless a request with the same digest spent them: then its answer
    /// is returned again), adjusts the totals, keeps `promises` as the
    /// answer and writes `payment` (an issue's record). Inputs spent by any other request refuse the whole step.
    pub fn mint_spend(
        &self,
        mint: &AccountId,
        ys: &[Point],
        digest: &[u8; 32],
        promises: &[Promise],
        totals: &Totals,
        payment: Option<&Payment>,
    ) -> Result<Spend, StoreError> {
        let t = &self.pay;
        let swap_key = cat(&mint.0, digest);
        let r = (&t.mint_spent, &t.mint_swaps, &t.mint_totals, &t.history).transaction(
            |(spent, swaps, tot, history)| {
                if let Some(v) = swaps.get(&swap_key)? {
                    let p: Vec<Promise> =
                        dec("mint_swaps", &v).map_err(ConflictableTransactionError::Abort)?;
                    return Ok(Spend::Done(p));
                }
                let mut taken = Vec::new();
                for y in ys {
                    if spent.get(cat(&mint.0, &y.0))?.is_some() {
                        taken.push(*y);
                    }
                }
                if !taken.is_empty() {
                    return Ok(Spend::Spent(taken));
                }
                for y in ys {
                    spent.insert(cat(&mint.0, &y.0), digest.as_slice())?;
                }
                for (c, a) in &totals.add {
                    let k = cur_key(&mint.0, c);
                    let v = be(tot.get(&k)?).saturating_add(*a);
                    tot.insert(k, &v.to_be_bytes())?;
                }
                for (c, a) in &totals.sub {
                    let k = cur_key(&mint.0, c);
                    let v = be(tot.get(&k)?).saturating_sub(*a);
                    tot.insert(k, &v.to_be_bytes())?;
                }
                swaps.insert(swap_key.clone(), enc(&promises.to_vec()))?;
                if let Some(p) = payment {
                    history.insert(p.key(), enc(p))?;
                }
                Ok(Spend::Done(promises.to_vec()))
            },
        );
        r.map_err(tx_err)
    }

    /// Which `ys` a mint has recorded spent.
    pub fn mint_spent(&self, mint: &AccountId, ys: &[Point]) -> Result<Vec<bool>, StoreError> {
        ys.iter()
            .map(|y| Ok(self.pay.mint_spent.contains_key(cat(&mint.0, &y.0))?))
            .collect()
    }

    /// Records that `endpoint` took its coupon of `currency`; false if it
    /// already had one.
    pub fn mint_claim_coupon(
        &self,
        mint: &AccountId,
        currency: &str,
        endpoint: &AccountId,
    ) -> Result<bool, StoreError> {
        let k = cat(&cur_key(&mint.0, currency), &endpoint.0);
        Ok(self
            .pay
            .mint_claims
            .compare_and_swap(k, None as Option<&[u8]>, Some(&[1u8][..]))?
            .is_ok())
    }
}

mod wallet;

#[cfg(test)]
mod tests;
