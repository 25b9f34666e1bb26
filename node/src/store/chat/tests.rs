//! Unit tests of `chat.rs` (a file of their own, so the module stays short).

use super::*;
use weft_protocol::AccountKey;

fn msg(from: AccountId, seq: u64, at: u64) -> StoredMessage {
    StoredMessage {
        id: MsgId([seq as u8; 32]),
        from,
        seq,
        sent_at_ms: at,
        text: format!("m{seq}"),
        reply_to: None,
        status: MsgStatus::Received,
        attachment: None,
    }
}

#[test]
fn incoming_is_deduplicated_and_ordered() {
    let s = Store::temporary().unwrap();
    let a = AccountKey::generate().unwrap().account_id();
    assert!(s.insert_incoming(&a, &msg(a, 2, 20), 0).unwrap());
    assert!(s.insert_incoming(&a, &msg(a, 1, 10), 0).unwrap());
    assert!(!s.insert_incoming(&a, &msg(a, 1, 10), 0).unwrap());
    let log = s.conversation(&a, 10).unwrap();
    assert_eq!(log.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![1, 2]);
    let convs = s.conversations().unwrap();
    assert_eq!(convs.len(), 1);
    assert_eq!(convs[0].2, 2);
}

/// Defect 7: a message with the seq and time of a delivered one but
/// other words (so another id: a resend, or another device of the same
/// account with the same counter) does not overwrite it; both are kept,
/// the first in its place, and each only once.
#[test]
fn a_message_in_a_taken_place_goes_beside_it() {
    let s = Store::temporary().unwrap();
    let a = AccountKey::generate().unwrap().account_id();
    let first = msg(a, 1, 10);
    assert!(s.insert_incoming(&a, &first, 1_000).unwrap());
    let other = StoredMessage {
        id: MsgId([0xee; 32]),
        text: "other words".into(),
        ..first.clone()
    };
    assert!(s.insert_incoming(&a, &other, 2_000).unwrap());
    assert!(!s.insert_incoming(&a, &other, 3_000).unwrap());
    let log = s.conversation(&a, 10).unwrap();
    assert_eq!(log, vec![first.clone(), other.clone()]);
    assert_eq!(s.message_arrived(&first.id).unwrap(), Some(1_000));
    assert_eq!(s.message(&other.id).unwrap(), Some(other.clone()));
    // Our own send in a place another of our devices took: beside it.
    let b = AccountKey::generate().unwrap().account_id();
    let theirs = msg(b, 2, 10);
    assert!(s.insert_incoming(&b, &theirs, 1_000).unwrap());
    let mine = StoredMessage {
        id: MsgId([0xdd; 32]),
        ..theirs.clone()
    };
    s.enqueue(&Outgoing {
        to: b,
        seq: theirs.seq,
        sent_at_ms: theirs.sent_at_ms,
        items: vec![(b, DeliveryItem::Plain(vec![1]))],
        id: mine.id,
        log: Some(mine.clone()),
    })
    .unwrap();
    assert_eq!(s.conversation(&b, 10).unwrap().len(), 2);
    assert_eq!(s.message(&theirs.id).unwrap(), Some(theirs));
}

/// Schema 1 kept sealed bytes in the outbox; after the upgrade the same
/// entries read as sealed items, with their id and holder mark.
#[test]
fn schema_1_outbox_entries_survive_the_upgrade() {
    #[derive(serde::Serialize)]
    struct V1 {
        sealed: Vec<u8>,
        msg_id: MsgId,
        held: bool,
    }
    let dir = tempfile::tempdir().unwrap();
    let to = AccountKey::generate().unwrap().account_id();
    let mut key = to.0.to_vec();
    key.extend_from_slice(&[0u8; 40]);
    {
        let s = Store::open(dir.path()).unwrap();
        let old = V1 {
            sealed: vec![9; 200],
            msg_id: MsgId([4; 32]),
            held: true,
        };
        s.chat.outbox.insert(&key, enc(&old)).unwrap();
        s.meta
            .insert("schema_version", &1u32.to_be_bytes())
            .unwrap();
        s.flush().unwrap();
    }
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.schema_version().unwrap(), super::super::SCHEMA_VERSION);
    let batch = s.outbox_batch(&to, 10, 100_000).unwrap();
    assert_eq!(batch.len(), 1);
    let e = &batch[0].1;
    assert_eq!(e.item, DeliveryItem::Sealed(vec![9; 200]));
    assert_eq!(e.msg_id, MsgId([4; 32]));
    assert!(e.held);
}

#[test]
fn status_only_moves_forward() {
    let s = Store::temporary().unwrap();
    let a = AccountKey::generate().unwrap().account_id();
    let mut m = msg(a, 1, 1);
    m.status = MsgStatus::Sending;
    let out = Outgoing {
        to: a,
        seq: 1,
        sent_at_ms: 1,
        items: vec![(a, DeliveryItem::Plain(vec![1, 2]))],
        id: m.id,
        log: Some(m.clone()),
    };
    s.enqueue(&out).unwrap();
    s.raise_status(&m.id, MsgStatus::Read).unwrap();
    s.raise_status(&m.id, MsgStatus::Delivered).unwrap();
    assert_eq!(s.message(&m.id).unwrap().unwrap().status, MsgStatus::Read);
    assert!(s.outbox_has(&a).unwrap());
    let batch = s.outbox_batch(&a, 10, 1000).unwrap();
    s.outbox_done(&[(batch[0].0.clone(), m.id)], MsgStatus::Delivered)
        .unwrap();
    assert!(!s.outbox_has(&a).unwrap());
}

/// On disk a status or state is its variant index; the serde names
/// given for the API must not change what is stored.
#[test]
fn names_do_not_change_the_stored_bytes() {
    assert_eq!(postcard::to_stdvec(&MsgStatus::Sending).unwrap(), [0]);
    assert_eq!(postcard::to_stdvec(&MsgStatus::Failed).unwrap(), [7]);
    assert_eq!(postcard::to_stdvec(&ContactState::Friend).unwrap(), [0]);
    assert_eq!(postcard::to_stdvec(&ContactState::Blocked).unwrap(), [3]);
}

/// A crash before the flush keeps a prefix of `insert_incoming`'s writes:
/// the row alone, or the row and its arrival time. The sender, never
/// acknowledged, sends again; the retry completes that row in its place
/// and the log holds the message once.
#[test]
fn a_row_a_crash_left_without_its_index_is_completed_once() {
    let s = Store::temporary().unwrap();
    let a = AccountKey::generate().unwrap().account_id();
    for (n, with_arrival) in [(1u64, false), (2, true)] {
        let m = msg(a, n, n * 10);
        let key = message_key(&a, m.sent_at_ms, &m.from, m.seq);
        s.chat.messages.insert(key.as_slice(), enc(&m)).unwrap();
        if with_arrival {
            s.chat.arrived.insert(m.id.0, &7u64.to_be_bytes()).unwrap();
        }
        assert!(
            s.insert_incoming(&a, &m, 1_000).unwrap(),
            "the retry is taken"
        );
        assert!(!s.insert_incoming(&a, &m, 2_000).unwrap(), "then known");
        assert_eq!(s.message(&m.id).unwrap(), Some(m.clone()));
        assert_eq!(s.message_arrived(&m.id).unwrap(), Some(1_000));
    }
    let log = s.conversation(&a, 10).unwrap();
    assert_eq!(log.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![1, 2]);
}
