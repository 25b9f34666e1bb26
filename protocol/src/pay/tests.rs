use super::*;
use crate::identity::AccountKey;
use proptest::prelude::*;

#[test]
fn amounts_parse_and_refuse() {
    assert_eq!(parse_amount("12.50"), Ok(1250));
    assert_eq!(parse_amount("12.5"), Ok(1250));
    assert_eq!(parse_amount("12"), Ok(1200));
    assert_eq!(parse_amount("0.01"), Ok(1));
    for bad in [
        "0", "0.00", "-1", "1.234", "", ".", "1.", "abc", "1e3", " ", "+1",
    ] {
        assert!(parse_amount(bad).is_err(), "{bad}");
    }
    assert_eq!(parse_amount("99999999999999"), Err(PayError::TooLarge));
    assert_eq!(format_amount(1250), "12.50");
    assert_eq!(format_amount(1), "0.01");
}

#[test]
fn currency_codes() {
    assert!(check_currency("CNY").is_ok());
    assert!(check_currency("OFF5-EUR").is_ok());
    assert!(check_currency("cny").is_err());
    assert!(check_currency("C").is_err());
    assert!(check_currency("ABCDEFGHIJKLMNOPQ").is_err());
}

fn key() -> AccountKey {
    AccountKey::generate().unwrap()
}

/// A proof made by blinding, signing and unblinding verifies at the
/// mint; one signed by another key, or altered, does not; a promise
/// with a DLEQ for another key is refused by the wallet.
#[test]
fn blind_sign_unblind_verify() {
    let seed = [7u8; 32];
    let k = mint_secret(&seed, "CNY", 8).unwrap();
    let kpub = mint_public(&k).unwrap();
    let secret = Secret::new(None).unwrap().encode().unwrap();
    let (b, r) = blind(&secret).unwrap();
    let out = Output { amount: 8, b };
    let promise = sign_output(&k, &out).unwrap();
    let proof = unblind(&promise, &out, &r, secret.clone(), &kpub).unwrap();
    verify_proof(&k, &proof).unwrap();
    let other = mint_secret(&seed, "CNY", 16).unwrap();
    assert!(verify_proof(&other, &proof).is_err());
    let mut altered = proof.clone();
    altered.secret[0] ^= 1;
    assert!(verify_proof(&k, &altered).is_err());
    // The wallet checks the DLEQ against the published key.
    let wrong = mint_public(&other).unwrap();
    assert!(unblind(&promise, &out, &r, secret.clone(), &wrong).is_err());
    let mut bad = promise.clone();
    bad.c = wrong;
    assert!(unblind(&bad, &out, &r, secret, &kpub).is_err());
}

/// A locked proof spends only with the recipient's signature over these
/// outputs, or the refund key after the lock time.
#[test]
fn locks_hold() {
    let (bao, ada, eve) = (key(), key(), key());
    let lock = Lock {
        to: vec![bao.account_id()],
        refund: ada.account_id(),
        locktime: 1000,
    };
    let proof = Proof {
        amount: 4,
        secret: Secret::new(Some(lock)).unwrap().encode().unwrap(),
        c: Point([2; 33]),
    };
    let outs = vec![Output {
        amount: 4,
        b: Point([3; 33]),
    }];
    let spend = |k: &AccountKey, outs_signed: &[Output]| Input {
        proof: proof.clone(),
        witness: Some(witness(k, "CNY", &proof, outs_signed)),
    };
    assert!(check_spend("CNY", &spend(&bao, &outs), &outs, 0).is_ok());
    assert!(check_spend("CNY", &spend(&eve, &outs), &outs, 5000).is_err());
    assert!(check_spend("CNY", &spend(&ada, &outs), &outs, 999).is_err());
    assert!(check_spend("CNY", &spend(&ada, &outs), &outs, 1000).is_ok());
    // A witness for other outputs is no good for these.
    let other = vec![Output {
        amount: 4,
        b: Point([4; 33]),
    }];
    assert!(check_spend("CNY", &spend(&bao, &other), &outs, 0).is_err());
    let bare = Input {
        proof: proof.clone(),
        witness: None,
    };
    assert!(check_spend("CNY", &bare, &outs, 0).is_err());
}

#[test]
fn requests_sign_and_round_trip() {
    let shop = key();
    let r = PayRequest::new(
        &shop,
        shop.account_id(),
        "Shop",
        key().account_id(),
        "CNY",
        1250,
        "coffee",
        2000,
    )
    .unwrap();
    let back: PayRequest = r.to_link().unwrap().parse().unwrap();
    assert_eq!(back, r);
    back.verify(1000).unwrap();
    assert_eq!(back.verify(3000), Err(PayError::Expired));
    let mut forged = back.clone();
    forged.amount = 1;
    assert!(forged.verify(1000).is_err());
}

#[test]
fn rates() {
    let r = Rate::parse("0.1285").unwrap();
    assert_eq!(r.apply(10000), Some(1285));
    assert_eq!(r.to_string(), "0.1285");
    assert_eq!(Rate::parse("7").unwrap().apply(3), Some(21));
    assert!(Rate::parse("0").is_err());
    assert!(Rate::parse("-1").is_err());
}

proptest! {
    /// Lucky or equal, the shares add up to the total, each at least
    /// one, none above twice the mean of what remained when it was cut.
    #[test]
    fn packets_split_exactly(total in 1u64..1_000_000, count in 1u32..200, lucky: bool, seed: u64) {
        let mut s = seed | 1;
        let rand = move |lo: u64, hi: u64| {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            lo + s % (hi - lo + 1)
        };
        match split_packet(total, count, lucky, rand) {
            None => prop_assert!(total < count as u64),
            Some(v) => {
                prop_assert_eq!(v.len(), count as usize);
                prop_assert_eq!(v.iter().sum::<u64>(), total);
                prop_assert!(v.iter().all(|x| *x >= 1));
                let mut left = total;
                for (i, x) in v.iter().enumerate() {
                    let remaining = count as u64 - i as u64;
                    if remaining > 1 {
                        prop_assert!(*x <= (2 * left / remaining).max(1));
                    }
                    left -= x;
                }
            }
        }
    }

    #[test]
    fn amounts_round_trip(v in 1u64..MAX_AMOUNT) {
        prop_assert_eq!(parse_amount(&format_amount(v)), Ok(v));
        prop_assert_eq!(split_amount(v).iter().sum::<u64>(), v);
    }
}
