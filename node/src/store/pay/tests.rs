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
