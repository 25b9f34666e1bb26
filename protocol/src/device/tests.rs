//! Unit tests of `device.rs` (a file of their own, so the module stays short).

use super::*;

fn key() -> AccountKey {
    AccountKey::generate().unwrap()
}

fn two_devices(k: &AccountKey) -> DeviceList {
    DeviceList::sign(
        k,
        DeviceListBody {
            account: k.account_id(),
            version: 2,
            primary: [1; 32],
            devices: vec![
                DeviceEntry {
                    device_key: [1; 32],
                    name: "Phone".into(),
                    added_at: 1,
                },
                DeviceEntry {
                    device_key: [2; 32],
                    name: "Laptop".into(),
                    added_at: 2,
                },
            ],
            issued_at: 2,
        },
    )
    .unwrap()
}

#[test]
fn a_list_verifies_and_names_its_endpoints() {
    let k = key();
    let list = two_devices(&k);
    list.verify_for(&k.account_id()).unwrap();
    assert_eq!(
        list.endpoints(),
        vec![k.account_id(), AccountId([2; 32])],
        "the primary opens with the account key"
    );
    assert_eq!(list.device_of(&k.account_id()), Some([1; 32]));
    assert_eq!(list.endpoint_of(&[2; 32]), Some(AccountId([2; 32])));
    assert!(
        !list.is_endpoint(&AccountId([1; 32])),
        "the primary's device key is no endpoint"
    );
    assert!(!list.is_endpoint(&AccountId([3; 32])));
}

#[test]
fn a_tampered_or_foreign_list_is_refused() {
    let k = key();
    let mut list = two_devices(&k);
    list.body.devices.push(DeviceEntry {
        device_key: [9; 32],
        name: "Mallory".into(),
        added_at: 3,
    });
    assert!(matches!(list.verify(), Err(DeviceError::Id(_))));
    let list = two_devices(&k);
    assert_eq!(
        list.verify_for(&key().account_id()),
        Err(DeviceError::WrongAccount)
    );
    // Signed by another account while naming this one.
    let other = key();
    let mut body = list.body.clone();
    body.account = other.account_id();
    assert!(DeviceList::sign(&k, body).is_err());
}

#[test]
fn inconsistent_lists_cannot_be_signed() {
    let k = key();
    let mut body = two_devices(&k).body;
    body.primary = [7; 32];
    assert!(DeviceList::sign(&k, body).is_err(), "primary not listed");
    let mut body = two_devices(&k).body;
    body.devices[1].device_key = [1; 32];
    assert!(DeviceList::sign(&k, body).is_err(), "listed twice");
    let mut body = two_devices(&k).body;
    body.devices[1].name = "bad\u{7}".into();
    assert!(DeviceList::sign(&k, body).is_err(), "control character");
    let mut body = two_devices(&k).body;
    body.devices[1].device_key = k.account_id().0;
    assert!(
        DeviceList::sign(&k, body).is_err(),
        "the account key as a device"
    );
}

#[test]
fn a_code_round_trips_as_text_and_link() {
    let code = LinkCode::generate([5; 32], vec!["/ip4/127.0.0.1/tcp/4001".into()]).unwrap();
    assert_eq!(LinkCode::parse(&code.to_text()).unwrap(), code);
    assert_eq!(LinkCode::parse(&code.to_link()).unwrap(), code);
    assert!(LinkCode::parse("weft://device/0OIl").is_err());
    assert!(LinkCode::parse(&"1".repeat(MAX_CODE_TEXT + 1)).is_err());
    let mut longer = bs58::decode(code.to_text()).into_vec().unwrap();
    longer.push(0);
    assert!(LinkCode::parse(&bs58::encode(longer).into_string()).is_err());
    assert_ne!(code.id(), code.psk(), "the id does not give the key");
}

#[test]
fn only_the_same_code_completes_the_handshake() {
    let code = LinkCode::generate([5; 32], vec![]).unwrap();
    let (init, msg1) = link_initiate(&code.psk(), b"join me").unwrap();
    let (resp, payload) = link_respond(&code.psk(), &msg1).unwrap();
    assert_eq!(payload, b"join me");
    let msg2 = resp.reply(b"welcome").unwrap();
    assert_eq!(init.finish(&msg2).unwrap(), b"welcome");

    // A guessed code cannot read message 1.
    let guess = LinkCode::generate([5; 32], vec![]).unwrap();
    assert!(link_respond(&guess.psk(), &msg1).is_err());
    // Nor can an answer made with another code finish the handshake.
    let (init, msg1) = link_initiate(&code.psk(), b"join me").unwrap();
    let (other_init, _) = link_initiate(&guess.psk(), b"x").unwrap();
    drop(other_init);
    let (resp, _) = link_respond(&code.psk(), &msg1).unwrap();
    let mut msg2 = resp.reply(b"welcome").unwrap();
    let last = msg2.len() - 1;
    msg2[last] ^= 1;
    assert!(init.finish(&msg2).is_err(), "a damaged answer is refused");
}
