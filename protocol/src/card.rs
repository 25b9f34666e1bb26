//! A card: who a node speaks for. Exchanged on `/weft/card/1` when peers
//! connect, and the content of `weft id`. It carries the device certificate
//! (account → device key), the display name and the device's dialable
//! addresses, all signed by the account key, so a relay or a DHT peer cannot
//! rename someone or point their card at another address.

use serde::{Deserialize, Serialize};

use crate::identity::{AccountId, AccountKey, DeviceCertificate, IdError, SignatureBytes};

/// Longest display name, in bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Most addresses a card may list.
pub const MAX_ADDRS: usize = 16;
/// Longest single address, in bytes.
pub const MAX_ADDR_LEN: usize = 256;

const CARD_CONTEXT: &str = "weft/card/1";

/// The signed part of a card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardBody {
    /// The account's certificate for the device that serves this card.
    pub cert: DeviceCertificate,
    /// Display name chosen by the user.
    pub name: String,
    /// Multiaddrs (as text) the device can be dialled on.
    pub addrs: Vec<String>,
    /// When the card was made (Unix seconds): newer cards replace older ones.
    pub issued_at: u64,
}

/// A card and the account's signature over it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    /// What the card says.
    pub body: CardBody,
    /// Account signature over the postcard bytes of `body`.
    pub signature: SignatureBytes,
}

/// Why a card was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CardError {
    /// A field is out of bounds.
    #[error("card field out of bounds: {0}")]
    Bounds(&'static str),
    /// A signature or key is wrong.
    #[error(transparent)]
    Id(#[from] IdError),
    /// The certificate is for another account than the card.
    #[error("card and device certificate name different accounts")]
    AccountMismatch,
}

impl Card {
    /// Makes and signs a card. Names and address lists are trimmed to limits.
    pub fn new(
        key: &AccountKey,
        cert: DeviceCertificate,
        name: &str,
        addrs: Vec<String>,
        issued_at: u64,
    ) -> Result<Self, CardError> {
        let body = CardBody::new(cert, name, addrs, issued_at)?;
        if body.cert.body.account != key.account_id() {
            return Err(CardError::AccountMismatch);
        }
        let signature = key.sign(CARD_CONTEXT, &body.canonical());
        Ok(Self { body, signature })
    }

    /// Makes a card signed by a linked device's own key (`device`, the key
    /// `cert` certifies): a linked device has no account key, and the
    /// account's certificate is what binds it to the account. Whether the
    /// device is still on the account's list is for the reader to check.
    pub fn new_by_device(
        device: &AccountKey,
        cert: DeviceCertificate,
        name: &str,
        addrs: Vec<String>,
        issued_at: u64,
    ) -> Result<Self, CardError> {
        if cert.body.device_key != device.account_id().0 {
            return Err(CardError::AccountMismatch);
        }
        let body = CardBody::new(cert, name, addrs, issued_at)?;
        let signature = device.sign(CARD_CONTEXT, &body.canonical());
        Ok(Self { body, signature })
    }

    /// Whether the account key signed the card (the primary's), rather
    /// than the certified device key (a linked device's).
    pub fn by_account(&self) -> bool {
        self.account()
            .verify(CARD_CONTEXT, &self.body.canonical(), &self.signature)
            .is_ok()
    }

    /// The account this card speaks for.
    pub fn account(&self) -> AccountId {
        self.body.cert.body.account
    }

    /// The ed25519 device key the card certifies.
    pub fn device_key(&self) -> [u8; 32] {
        self.body.cert.body.device_key
    }

    /// Checks bounds, the device certificate and the card signature (by
    /// the account key, or by the device key the certificate names).
    pub fn verify(&self) -> Result<(), CardError> {
        self.body.check_bounds()?;
        self.body.cert.verify()?;
        let bytes = self.body.canonical();
        if self
            .account()
            .verify(CARD_CONTEXT, &bytes, &self.signature)
            .is_ok()
        {
            return Ok(());
        }
        AccountId(self.device_key()).verify(CARD_CONTEXT, &bytes, &self.signature)?;
        Ok(())
    }
}

/// Checks a display name: 1 to [`MAX_NAME_LEN`] bytes, no control characters.
pub fn validate_name(name: &str) -> Result<(), CardError> {
    if name.trim().is_empty() || name.len() > MAX_NAME_LEN {
        return Err(CardError::Bounds("name must be 1 to 64 bytes"));
    }
    if name.chars().any(char::is_control) {
        return Err(CardError::Bounds("name contains control characters"));
    }
    Ok(())
}

impl CardBody {
    /// A body with names and address lists trimmed to limits, checked.
    fn new(
        cert: DeviceCertificate,
        name: &str,
        addrs: Vec<String>,
        issued_at: u64,
    ) -> Result<Self, CardError> {
        let body = CardBody {
            cert,
            name: name.to_string(),
            addrs: addrs
                .into_iter()
                .filter(|a| a.len() <= MAX_ADDR_LEN)
                .take(MAX_ADDRS)
                .collect(),
            issued_at,
        };
        body.check_bounds()?;
        Ok(body)
    }

    fn canonical(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }

    fn check_bounds(&self) -> Result<(), CardError> {
        validate_name(&self.name)?;
        if self.addrs.len() > MAX_ADDRS || self.addrs.iter().any(|a| a.len() > MAX_ADDR_LEN) {
            return Err(CardError::Bounds("too many or too long addresses"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode, encode, Kind};

    fn card(name: &str) -> (AccountKey, Card) {
        let key = AccountKey::generate().unwrap();
        let cert = key.certify_device([3; 32], 1);
        let card = Card::new(&key, cert, name, vec!["/ip4/127.0.0.1/tcp/1".into()], 2).unwrap();
        (key, card)
    }

    #[test]
    fn card_verifies_after_the_wire() {
        let (_, c) = card("Ada 🌸");
        let bytes = encode(Kind::Card, &c).unwrap();
        let back: Card = decode(Kind::Card, &bytes).unwrap();
        back.verify().unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn a_linked_device_signs_its_own_card_under_the_certificate() {
        let account = AccountKey::generate().unwrap();
        let device = AccountKey::generate().unwrap();
        let cert = account.certify_device(device.account_id().0, 1);
        let card = Card::new_by_device(&device, cert.clone(), "Ana", vec![], 2).unwrap();
        card.verify().unwrap();
        assert_eq!(card.account(), account.account_id());
        assert!(!card.by_account());
        // Another key cannot sign for that certificate.
        let other = AccountKey::generate().unwrap();
        assert!(Card::new_by_device(&other, cert.clone(), "Ana", vec![], 2).is_err());
        let mut forged = card.clone();
        forged.signature = other.sign(CARD_CONTEXT, &forged.body.canonical());
        assert!(forged.verify().is_err());
        let mut renamed = card;
        renamed.body.name = "Eve".into();
        assert!(renamed.verify().is_err());
    }

    #[test]
    fn renamed_card_fails() {
        let (_, mut c) = card("Ada");
        c.body.name = "Eve".into();
        assert!(c.verify().is_err());
    }

    #[test]
    fn card_with_someone_elses_certificate_fails() {
        let (_, mut c) = card("Ada");
        let (_, other) = card("Bob");
        c.body.cert = other.body.cert;
        assert!(c.verify().is_err());
    }

    #[test]
    fn bad_names_are_refused() {
        let key = AccountKey::generate().unwrap();
        let cert = key.certify_device([3; 32], 1);
        assert!(Card::new(&key, cert.clone(), "", vec![], 1).is_err());
        assert!(Card::new(&key, cert.clone(), &"x".repeat(65), vec![], 1).is_err());
        assert!(Card::new(&key, cert, "a\u{7}b", vec![], 1).is_err());
    }
}
