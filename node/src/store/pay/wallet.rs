//! This device's wallet trees: proofs by pocket, mint requests in flight,
//! pinned mint keys, payment history, payment requests and red envelopes.

use sled::transaction::{ConflictableTransactionError, Transactional};
use weft_protocol::{
    pay::{MintInfo, PayRequest, Proof},
    AccountId,
};

use super::*;
use crate::store::{dec, enc, get, Store, StoreError};

impl Store {
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
        get(&self.pay.mints, "wallet_mints", mint.0)
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
        get(&self.pay.history, "pay_history", key)
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
        get(&self.pay.requests, "pay_requests", id)
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
        get(&self.pay.packets, "pay_packets", cat(&sender.0, id))
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
