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
        CouponTerms, Input, MintInfo, MintRequest, PacketInfo, PayRequest, Point, Promise, Proof,
        Purpose, Rate,
    },
    AccountId,
};

use super::{dec, enc, Store, StoreError};

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
    v.and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
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
        self.pay
            .mint_own
            .get(mint.0)?
            .map(|v| dec("mint_own", &v))
            .transpose()
    }

    /// Every mint this node runs.
    pub fn mints(&self) -> Result<Vec<(AccountId, MintRecord)>, StoreError> {
        let mut v = Vec::new();
        for kv in self.pay.mint_own.iter() {
            let (k, val) = kv?;
            if let Ok(a) = <[u8; 32]>::try_from(k.as_ref()) {
                v.push((AccountId(a), dec("mint_own", &val)?));
            }
        }
        Ok(v)
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

    // ----- wallet -----

    /// Proofs in a pocket for one mint and currency.
    pub fn pocket(
        &self,
        pocket: &[u8; 16],
        mint: &AccountId,
        currency: &str,
    ) -> Result<Vec<Proof>, StoreError> {
        self.pay
            .proofs
            .scan_prefix(pocket_prefix(pocket, mint, currency))
            .map(|kv| dec("wallet_proofs", &kv?.1))
            .collect()
    }

    /// Every `(mint, currency, amount)` in a pocket.
    pub fn balances(&self, pocket: &[u8; 16]) -> Result<Vec<(AccountId, String, u64)>, StoreError> {
        let mut v: Vec<(AccountId, String, u64)> = Vec::new();
        for kv in self.pay.proofs.scan_prefix(pocket) {
            let (k, val) = kv?;
            let p: Proof = dec("wallet_proofs", &val)?;
            let Some(mint) = k.get(16..48).and_then(|m| <[u8; 32]>::try_from(m).ok()) else {
                continue;
            };
            let len = k.get(48).copied().unwrap_or(0) as usize;
            let cur = String::from_utf8_lossy(k.get(49..49 + len).unwrap_or_default()).into_owned();
            match v.iter_mut().find(|(m, c, _)| m.0 == mint && *c == cur) {
                Some(e) => e.2 = e.2.saturating_add(p.amount),
                None => v.push((AccountId(mint), cur, p.amount)),
            }
        }
        Ok(v)
    }

    /// Atomically takes `inputs` out of `pocket` and records `op` (before
    /// the request goes to the mint). Fails with `None` if an input is no
    /// longer there (another operation took it).
    pub fn begin_op(&self, op: &Op) -> Result<bool, StoreError> {
        let t = &self.pay;
        let (currency, inputs) = op.inputs();
        let prefix = pocket_prefix(&op.pocket, &op.mint, currency);
        let keys = inputs
            .iter()
            .map(|i| {
                Ok(cat(
                    &prefix,
                    &i.proof
                        .y()
                        .map_err(|e| StoreError::Corrupt("wallet_proofs", e.to_string()))?
                        .0,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        (&t.proofs, &t.ops)
            .transaction(|(proofs, ops)| {
                // All there, or nothing taken (returning Ok commits).
                for k in &keys {
                    if proofs.get(k.as_slice())?.is_none() {
                        return Ok(false);
                    }
                }
                for k in &keys {
                    proofs.remove(k.as_slice())?;
                }
                ops.insert(&op.id, enc(op))?;
                Ok::<bool, ConflictableTransactionError<StoreError>>(true)
            })
            .map_err(tx_err)
    }

    /// Records an op whose inputs are not in the wallet (a claim or a
    /// refund of locked proofs), unless one with its id exists (then the
    /// written one is the one to send: false).
    pub fn put_op(&self, op: &Op) -> Result<bool, StoreError> {
        Ok(self
            .pay
            .ops
            .compare_and_swap(op.id, None as Option<&[u8]>, Some(enc(op)))?
            .is_ok())
    }

    /// Operations in flight (to resume after a restart).
    pub fn ops(&self) -> Result<Vec<Op>, StoreError> {
        self.pay
            .ops
            .iter()
            .map(|kv| dec("wallet_ops", &kv?.1))
            .collect()
    }

    /// Atomically ends an operation: `add` goes into pockets as
    /// `(pocket, proof)`, the payment (if any) is written, the op removed.
    pub fn end_op(
        &self,
        op: &Op,
        add: &[([u8; 16], &str, Proof)],
        payment: Option<&Payment>,
    ) -> Result<(), StoreError> {
        let t = &self.pay;
        let rows = add
            .iter()
            .map(|(pocket, cur, p)| {
                let y = p
                    .y()
                    .map_err(|e| StoreError::Corrupt("wallet_proofs", e.to_string()))?;
                Ok((cat(&pocket_prefix(pocket, &op.mint, cur), &y.0), enc(p)))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        (&t.proofs, &t.ops, &t.history)
            .transaction(|(proofs, ops, history)| {
                for (k, v) in &rows {
                    proofs.insert(k.as_slice(), v.as_slice())?;
                }
                if let Some(p) = payment {
                    history.insert(p.key(), enc(p))?;
                }
                ops.remove(&op.id)?;
                Ok::<(), ConflictableTransactionError<StoreError>>(())
            })
            .map_err(tx_err)
    }

    /// Atomically: `picked` out of the wallet into the envelope's pocket,
    /// and the envelope's record written.
    pub fn fund_packet(&self, rec: &PacketRecord, picked: &[Proof]) -> Result<(), StoreError> {
        self.move_proofs(
            &MAIN,
            &rec.info.id,
            &rec.info.mint,
            &rec.info.currency,
            picked,
            |_, packets| {
                packets.insert(cat(&rec.sender.0, &rec.info.id), enc(rec))?;
                Ok(())
            },
        )
    }

    /// Atomically: `picked` out of `pocket` into the wallet, and `payment`
    /// written (our own share of our envelope).
    pub fn move_to_wallet(
        &self,
        pocket: &[u8; 16],
        mint: &AccountId,
        currency: &str,
        picked: &[Proof],
        payment: &Payment,
    ) -> Result<(), StoreError> {
        self.move_proofs(pocket, &MAIN, mint, currency, picked, |history, _| {
            history.insert(payment.key(), enc(payment))?;
            Ok(())
        })
    }

    fn move_proofs(
        &self,
        from: &[u8; 16],
        to: &[u8; 16],
        mint: &AccountId,
        currency: &str,
        picked: &[Proof],
        also: impl Fn(
            &sled::transaction::TransactionalTree,
            &sled::transaction::TransactionalTree,
        ) -> Result<(), sled::transaction::UnabortableTransactionError>,
    ) -> Result<(), StoreError> {
        let (pf, pt) = (
            pocket_prefix(from, mint, currency),
            pocket_prefix(to, mint, currency),
        );
        let rows = picked
            .iter()
            .map(|p| {
                let y = p
                    .y()
                    .map_err(|e| StoreError::Corrupt("wallet_proofs", e.to_string()))?;
                Ok((cat(&pf, &y.0), cat(&pt, &y.0), enc(p)))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let t = &self.pay;
        (&t.proofs, &t.history, &t.packets)
            .transaction(|(proofs, history, packets)| {
                for (k_from, k_to, v) in &rows {
                    if proofs.remove(k_from.as_slice())?.is_none() {
                        return Err(ConflictableTransactionError::Abort(StoreError::Corrupt(
                            "wallet_proofs",
                            "a token is no longer in its pocket".into(),
                        )));
                    }
                    proofs.insert(k_to.as_slice(), v.as_slice())?;
                }
                also(history, packets)?;
                Ok(())
            })
            .map_err(tx_err)
    }

    /// Atomically: a token's proofs out of the wallet, its record written.
    pub fn export_token(&self, p: &Payment) -> Result<(), StoreError> {
        let prefix = pocket_prefix(&MAIN, &p.mint, &p.currency);
        let keys = p
            .proofs
            .iter()
            .map(|q| {
                let y = q
                    .y()
                    .map_err(|e| StoreError::Corrupt("wallet_proofs", e.to_string()))?;
                Ok(cat(&prefix, &y.0))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let t = &self.pay;
        (&t.proofs, &t.history)
            .transaction(|(proofs, history)| {
                for k in &keys {
                    if proofs.remove(k.as_slice())?.is_none() {
                        return Err(ConflictableTransactionError::Abort(StoreError::Corrupt(
                            "wallet_proofs",
                            "a token is no longer in the wallet".into(),
                        )));
                    }
                }
                history.insert(p.key(), enc(p))?;
                Ok(())
            })
            .map_err(tx_err)
    }

    /// Takes a coupon's proof out of the wallet (it goes with a payment).
    pub fn take_coupon(
        &self,
        mint: &AccountId,
        currency: &str,
        p: &Proof,
    ) -> Result<(), StoreError> {
        self.pay.proofs.remove(wallet_key(mint, currency, p)?)?;
        Ok(())
    }

    /// Puts a coupon's proof back (its payment was not made).
    pub fn return_coupon(
        &self,
        mint: &AccountId,
        currency: &str,
        p: &Proof,
    ) -> Result<(), StoreError> {
        self.pay
            .proofs
            .insert(wallet_key(mint, currency, p)?, enc(p))?;
        Ok(())
    }

    /// Moves everything in `from` into the wallet (an envelope's leftovers).
    pub fn empty_pocket(
        &self,
        from: &[u8; 16],
    ) -> Result<Vec<(AccountId, String, u64)>, StoreError> {
        let moved = self.balances(from)?;
        let t = &self.pay.proofs;
        let rows: Vec<(sled::IVec, sled::IVec)> =
            t.scan_prefix(from).collect::<Result<Vec<_>, _>>()?;
        t.transaction(|tx| {
            for (k, v) in &rows {
                tx.remove(k.clone())?;
                let mut nk = MAIN.to_vec();
                nk.extend_from_slice(&k[16..]);
                tx.insert(nk, v.clone())?;
            }
            Ok::<(), ConflictableTransactionError<StoreError>>(())
        })
        .map_err(tx_err)?;
        Ok(moved)
    }

    /// The keys a mint showed us first (pinned), if any.
    pub fn mint_info(&self, mint: &AccountId) -> Result<Option<MintInfo>, StoreError> {
        self.pay
            .mints
            .get(mint.0)?
            .map(|v| dec("wallet_mints", &v))
            .transpose()
    }

    /// Pins a mint's info.
    pub fn put_mint_info(&self, mint: &AccountId, info: &MintInfo) -> Result<(), StoreError> {
        self.pay.mints.insert(mint.0, enc(info))?;
        Ok(())
    }

    /// Writes a payment.
    pub fn put_payment(&self, p: &Payment) -> Result<(), StoreError> {
        self.pay.history.insert(p.key(), enc(p))?;
        Ok(())
    }

    /// Writes a payment unless one with its key exists; true if written.
    pub fn insert_payment(&self, p: &Payment) -> Result<bool, StoreError> {
        Ok(self
            .pay
            .history
            .compare_and_swap(p.key(), None as Option<&[u8]>, Some(enc(p)))?
            .is_ok())
    }

    /// A payment by its key.
    pub fn payment(&self, key: &[u8]) -> Result<Option<Payment>, StoreError> {
        self.pay
            .history
            .get(key)?
            .map(|v| dec("pay_history", &v))
            .transpose()
    }

    /// Every payment (newest last is not guaranteed: callers sort).
    pub fn payments(&self) -> Result<Vec<Payment>, StoreError> {
        self.pay
            .history
            .iter()
            .map(|kv| dec("pay_history", &kv?.1))
            .collect()
    }

    /// Changes a payment in place; `None` if there is none.
    pub fn update_payment(
        &self,
        key: &[u8],
        f: impl Fn(&mut Payment),
    ) -> Result<Option<Payment>, StoreError> {
        let mut out = None;
        self.pay.history.fetch_and_update(key, |old| {
            let mut p: Payment = postcard::from_bytes(old?).ok()?;
            f(&mut p);
            let v = enc(&p);
            out = Some(p);
            Some(v)
        })?;
        Ok(out)
    }

    /// A payment request.
    pub fn pay_request(&self, id: &[u8; 16]) -> Result<Option<RequestRecord>, StoreError> {
        self.pay
            .requests
            .get(id)?
            .map(|v| dec("pay_requests", &v))
            .transpose()
    }

    /// The requests we made.
    pub fn own_requests(&self) -> Result<Vec<RequestRecord>, StoreError> {
        let mut v = Vec::new();
        for kv in self.pay.requests.iter() {
            let r: RequestRecord = dec("pay_requests", &kv?.1)?;
            if r.own {
                v.push(r);
            }
        }
        Ok(v)
    }

    /// Writes a payment request record.
    pub fn put_pay_request(&self, r: &RequestRecord) -> Result<(), StoreError> {
        self.pay.requests.insert(r.request.id, enc(r))?;
        Ok(())
    }

    /// Marks a request paid, once: false if it already was.
    pub fn mark_request_paid(
        &self,
        r: &PayRequest,
        own: bool,
        by: AccountId,
        at_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut first = false;
        self.pay.requests.fetch_and_update(r.id, |old| {
            let mut rec: RequestRecord = match old.and_then(|o| postcard::from_bytes(o).ok()) {
                Some(rec) => rec,
                None => RequestRecord {
                    request: r.clone(),
                    own,
                    paid: None,
                },
            };
            first = rec.paid.is_none();
            if first {
                rec.paid = Some((by, at_ms));
            }
            Some(enc(&rec))
        })?;
        Ok(first)
    }

    /// A red envelope.
    pub fn packet(
        &self,
        sender: &AccountId,
        id: &[u8; 16],
    ) -> Result<Option<PacketRecord>, StoreError> {
        self.pay
            .packets
            .get(cat(&sender.0, id))?
            .map(|v| dec("pay_packets", &v))
            .transpose()
    }

    /// Writes a red envelope.
    pub fn put_packet(&self, p: &PacketRecord) -> Result<(), StoreError> {
        self.pay
            .packets
            .insert(cat(&p.sender.0, &p.info.id), enc(p))?;
        Ok(())
    }

    /// Every red envelope we know.
    pub fn packets(&self) -> Result<Vec<PacketRecord>, StoreError> {
        self.pay
            .packets
            .iter()
            .map(|kv| dec("pay_packets", &kv?.1))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_protocol::pay::{Output, Secret};

    fn proof(amount: u64) -> Proof {
        Proof {
            amount,
            secret: Secret::new(None).unwrap().encode().unwrap(),
            c: Point([2; 33]),
        }
    }

    fn promise() -> Promise {
        Promise {
            amount: 1,
            c: Point([2; 33]),
            e: [0; 32],
            s: [0; 32],
        }
    }

    /// Many threads spending the same points at once: exactly one request
    /// commits; the same request again gets its answer; the totals move
    /// once.
    #[test]
    fn a_point_is_spent_by_exactly_one_request() {
        let s = Store::temporary().unwrap();
        let mint = AccountId([9; 32]);
        let ys = vec![proof(1).y().unwrap(), proof(2).y().unwrap()];
        let done: Vec<bool> = std::thread::scope(|sc| {
            let handles: Vec<_> = (0..8u8)
                .map(|i| {
                    let (s, ys) = (&s, &ys);
                    sc.spawn(move || {
                        let t = Totals {
                            add: vec![("CNY".into(), 5)],
                            sub: vec![],
                        };
                        matches!(
                            s.mint_spend(&mint, ys, &[i; 32], &[promise()], &t, None)
                                .unwrap(),
                            Spend::Done(_)
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(done.iter().filter(|d| **d).count(), 1, "{done:?}");
        let winner = done.iter().position(|d| *d).unwrap() as u8;
        let t = Totals {
            add: vec![("CNY".into(), 5)],
            sub: vec![],
        };
        // The winner's retry: answered again, nothing added.
        assert!(matches!(
            s.mint_spend(&mint, &ys, &[winner; 32], &[], &t, None).unwrap(),
            Spend::Done(p) if p.len() == 1
        ));
        assert_eq!(s.mint_totals(&mint).unwrap(), vec![("CNY".to_string(), 5)]);
        assert_eq!(s.mint_spent(&mint, &ys).unwrap(), vec![true, true]);
    }

    /// An op takes its inputs out of the wallet atomically: a second op
    /// that wants one of them is refused and takes nothing; settling puts
    /// the new proofs in and removes the op.
    #[test]
    fn an_op_takes_its_inputs_once() {
        let s = Store::temporary().unwrap();
        let mint = AccountId([9; 32]);
        let (a, b) = (proof(4), proof(8));
        let op = |id: u8, inputs: Vec<Proof>| Op {
            id: [id; 16],
            mint,
            pocket: MAIN,
            request: MintRequest::Swap {
                currency: "CNY".into(),
                inputs: inputs
                    .into_iter()
                    .map(|proof| Input {
                        proof,
                        witness: None,
                    })
                    .collect(),
                outputs: vec![Output {
                    amount: 4,
                    b: Point([2; 33]),
                }],
            },
            outputs: vec![],
            purpose: OpPurpose::Exchange,
            at_ms: 0,
        };
        let first = op(1, vec![a.clone()]);
        s.end_op(
            &first,
            &[(MAIN, "CNY", a.clone()), (MAIN, "CNY", b.clone())],
            None,
        )
        .unwrap();
        assert_eq!(s.balances(&MAIN).unwrap(), vec![(mint, "CNY".into(), 12)]);
        assert!(s.begin_op(&op(2, vec![a.clone()])).unwrap());
        assert!(!s.begin_op(&op(3, vec![b.clone(), a.clone()])).unwrap());
        assert_eq!(s.balances(&MAIN).unwrap(), vec![(mint, "CNY".into(), 8)]);
        assert_eq!(s.ops().unwrap().len(), 1);
        s.end_op(&op(2, vec![a]), &[(MAIN, "CNY", proof(4))], None)
            .unwrap();
        assert!(s.ops().unwrap().is_empty());
        assert_eq!(s.balances(&MAIN).unwrap(), vec![(mint, "CNY".into(), 12)]);
    }
}
