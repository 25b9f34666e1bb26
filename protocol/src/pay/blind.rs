//! The blind-signature arithmetic (BDHKE with DLEQ proofs, from the
//! `cashu` crate) and the spend witness that unlocks a locked secret.

use cashu::nuts::{BlindSignature, BlindSignatureDleq, Id, PublicKey, SecretKey};

use super::*;
use crate::identity::AccountKey;

/// What a spend's signature covers: the proof's secret and every output of
/// the swap (and their currency), so a witness cannot be reused elsewhere.
pub fn spend_digest(currency: &str, secret: &[u8], outputs: &[Output]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key(SPEND_CONTEXT);
    h.update(&(currency.len() as u64).to_le_bytes());
    h.update(currency.as_bytes());
    h.update(&(secret.len() as u64).to_le_bytes());
    h.update(secret);
    for o in outputs {
        h.update(&o.amount.to_le_bytes());
        h.update(&o.b.0);
    }
    *h.finalize().as_bytes()
}

/// Signs a locked proof for a swap into `outputs`.
pub fn witness(key: &AccountKey, currency: &str, proof: &Proof, outputs: &[Output]) -> Witness {
    let d = spend_digest(currency, &proof.secret, outputs);
    Witness {
        signer: key.account_id(),
        sig: key.sign(SPEND_CONTEXT, &d),
    }
}

/// The mint's check of one input's lock: unlocked proofs pass; a locked one
/// needs a valid witness by a key the lock names, or by the refund key once
/// `now` (Unix seconds, the mint's clock) has reached the lock time.
pub fn check_spend(
    currency: &str,
    input: &Input,
    outputs: &[Output],
    now: u64,
) -> Result<(), PayError> {
    let secret = input.proof.parsed()?;
    let Some(lock) = secret.lock else {
        return Ok(());
    };
    let w = input
        .witness
        .as_ref()
        .ok_or(PayError::Locked("no signature"))?;
    let allowed = lock.to.contains(&w.signer) || (w.signer == lock.refund && now >= lock.locktime);
    if !allowed {
        return Err(if w.signer == lock.refund {
            PayError::Locked("the refund is not due yet")
        } else {
            PayError::Locked("the signer is not a key of the recipient")
        });
    }
    let d = spend_digest(currency, &input.proof.secret, outputs);
    w.signer
        .verify(SPEND_CONTEXT, &d, &w.sig)
        .map_err(|_| PayError::BadSignature("spend witness"))
}

/// The mint's private key for `amount` in `currency`, derived from its seed.
pub fn mint_secret(seed: &[u8; 32], currency: &str, amount: u64) -> Result<[u8; 32], PayError> {
    for counter in 0u32..16 {
        let mut h = blake3::Hasher::new_derive_key("weft-pay-mint-key-v1");
        h.update(seed);
        h.update(&(currency.len() as u64).to_le_bytes());
        h.update(currency.as_bytes());
        h.update(&amount.to_le_bytes());
        h.update(&counter.to_le_bytes());
        let k = *h.finalize().as_bytes();
        if SecretKey::from_slice(&k).is_ok() {
            return Ok(k);
        }
    }
    Err(PayError::Crypto("no valid key".into()))
}

/// The public key `K = kG` of a mint secret.
pub fn mint_public(k: &[u8; 32]) -> Result<Point, PayError> {
    Ok(Point(
        SecretKey::from_slice(k)
            .map_err(crypto)?
            .public_key()
            .to_bytes(),
    ))
}

/// Blinds `secret`: returns the output point `B_` and the blinding factor `r`.
pub fn blind(secret: &[u8]) -> Result<(Point, [u8; 32]), PayError> {
    let (b, r) = cashu::dhke::blind_message(secret, None).map_err(crypto)?;
    Ok((Point(b.to_bytes()), r.to_secret_bytes()))
}

fn dummy_id() -> Result<Id, PayError> {
    Id::from_bytes(&[0u8; 8]).map_err(crypto)
}

/// The mint signs an output with key `k`, with a DLEQ proof.
pub fn sign_output(k: &[u8; 32], out: &Output) -> Result<Promise, PayError> {
    let sk = SecretKey::from_slice(k).map_err(crypto)?;
    let b = PublicKey::from_slice(&out.b.0).map_err(crypto)?;
    let c = cashu::dhke::sign_message(&sk, &b).map_err(crypto)?;
    let sig = BlindSignature::new(out.amount.into(), c, dummy_id()?, &b, &sk).map_err(crypto)?;
    let dleq = sig.dleq.ok_or(PayError::Crypto("no DLEQ".into()))?;
    Ok(Promise {
        amount: out.amount,
        c: Point(c.to_bytes()),
        e: dleq.e.to_secret_bytes(),
        s: dleq.s.to_secret_bytes(),
    })
}

/// The wallet's side: checks the promise's DLEQ proof against the mint's
/// public key `mint_key` for its amount and the output it answers, then
/// unblinds it into a proof of `secret`.
pub fn unblind(
    promise: &Promise,
    out: &Output,
    r: &[u8; 32],
    secret: Vec<u8>,
    mint_key: &Point,
) -> Result<Proof, PayError> {
    if promise.amount != out.amount {
        return Err(PayError::BadSignature("the mint signed another amount"));
    }
    let k = PublicKey::from_slice(&mint_key.0).map_err(crypto)?;
    let b = PublicKey::from_slice(&out.b.0).map_err(crypto)?;
    let c = PublicKey::from_slice(&promise.c.0).map_err(crypto)?;
    let sig = BlindSignature {
        amount: promise.amount.into(),
        keyset_id: dummy_id()?,
        c,
        dleq: Some(BlindSignatureDleq {
            e: SecretKey::from_slice(&promise.e).map_err(crypto)?,
            s: SecretKey::from_slice(&promise.s).map_err(crypto)?,
        }),
    };
    sig.verify_dleq(k, b)
        .map_err(|_| PayError::BadSignature("the mint's signature does not prove its key"))?;
    let r = SecretKey::from_slice(r).map_err(crypto)?;
    let unblinded = cashu::dhke::unblind_message(&c, &r, &k).map_err(crypto)?;
    Ok(Proof {
        amount: promise.amount,
        secret,
        c: Point(unblinded.to_bytes()),
    })
}

/// The mint checks that `proof` carries its signature under key `k`.
pub fn verify_proof(k: &[u8; 32], proof: &Proof) -> Result<(), PayError> {
    let sk = SecretKey::from_slice(k).map_err(crypto)?;
    let c = PublicKey::from_slice(&proof.c.0).map_err(|_| PayError::BadSignature("token"))?;
    cashu::dhke::verify_message(&sk, c, &proof.secret).map_err(|_| PayError::BadSignature("token"))
}
