//! `/weft/mailbox/1`: store-and-forward. A sender whose friend is offline
//! deposits the already-sealed messages with holder nodes (the peers closest
//! to the recipient's mailbox key in the DHT). Holders cannot read them
//! (sealed to the recipient) or forge them (the seal authenticates the
//! sender). Only the recipient can fetch or delete its mail: those requests
//! carry a fresh signature by the recipient's account over the holder's
//! peer id, so a recorded request cannot be replayed to another holder or
//! after [`AUTH_WINDOW_SECS`].

use serde::{Deserialize, Serialize};

use crate::identity::{AccountId, AccountKey, IdError, SignatureBytes};

/// A fetch/delete signature is accepted this long around its timestamp.
pub const AUTH_WINDOW_SECS: u64 = 600;
/// Largest sealed item a holder accepts.
pub const MAX_ITEM_BYTES: usize = 24 * 1024;
/// Smallest sealed item a holder accepts: nothing shorter can be a sealed
/// chat message ([`crate::chat::MIN_SEALED_BYTES`]), so a holder refuses
/// such junk before storing it.
pub const MIN_ITEM_BYTES: usize = crate::chat::MIN_SEALED_BYTES;
/// Most items in one deposit or one fetch answer.
pub const MAX_ITEMS_PER_MESSAGE: usize = 64;

const AUTH_CONTEXT: &str = "weft/mailbox-auth/1";

/// The DHT key whose closest peers hold an account's mail.
pub fn mailbox_key(account: &AccountId) -> Vec<u8> {
    let mut k = b"/weft/mailbox/".to_vec();
    k.extend_from_slice(&account.0);
    crate::content_id(&k).to_vec()
}

/// What the recipient signs to fetch or delete its mail at one holder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxAuth {
    /// The mailbox owner.
    pub account: AccountId,
    /// The holder's peer id bytes.
    pub holder: Vec<u8>,
    /// Unix seconds.
    pub at: u64,
    /// 0 = fetch, 1 = delete.
    pub op: u8,
    /// Account signature over the fields above.
    pub signature: SignatureBytes,
}

#[derive(Serialize)]
struct AuthBody<'a> {
    account: &'a AccountId,
    holder: &'a [u8],
    at: u64,
    op: u8,
}

impl MailboxAuth {
    /// Signs a fetch (`op` 0) or delete (`op` 1) for `holder`.
    pub fn new(key: &AccountKey, holder: Vec<u8>, at: u64, op: u8) -> Self {
        let account = key.account_id();
        let body = postcard::to_stdvec(&AuthBody {
            account: &account,
            holder: &holder,
            at,
            op,
        })
        .unwrap_or_default();
        let signature = key.sign(AUTH_CONTEXT, &body);
        Self {
            account,
            holder,
            at,
            op,
            signature,
        }
    }

    /// Checks signature, holder, operation and freshness.
    pub fn verify(&self, holder: &[u8], op: u8, now: u64) -> Result<(), IdError> {
        if self.holder != holder || self.op != op || self.at.abs_diff(now) > AUTH_WINDOW_SECS {
            return Err(IdError::BadSignature(AUTH_CONTEXT));
        }
        let body = postcard::to_stdvec(&AuthBody {
            account: &self.account,
            holder: &self.holder,
            at: self.at,
            op: self.op,
        })
        .unwrap_or_default();
        self.account.verify(AUTH_CONTEXT, &body, &self.signature)
    }
}

/// A mailbox request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MailboxRequest {
    /// Hold these sealed items for `to`.
    Deposit {
        /// Recipient.
        to: AccountId,
        /// Sealed messages.
        items: Vec<Vec<u8>>,
    },
    /// Give me my mail (signed by the mailbox owner).
    Fetch {
        /// Owner's authorisation.
        auth: MailboxAuth,
        /// Resume after the item with this hash (the last one of the
        /// previous page): mail the owner cannot use, or has not been able
        /// to delete yet, never hides what comes after it.
        after: Option<[u8; 32]>,
    },
    /// I have stored these; drop them (signed by the mailbox owner).
    Delete {
        /// Owner's authorisation.
        auth: MailboxAuth,
        /// Item hashes.
        items: Vec<[u8; 32]>,
    },
}

/// A holder's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MailboxReply {
    /// This many items are now held (duplicates count as held).
    Deposited {
        /// Count.
        accepted: u32,
    },
    /// Some of the mail, in hash order; `more` if another fetch (from the
    /// last item's hash) would return more.
    Items {
        /// Sealed messages.
        items: Vec<Vec<u8>>,
        /// Whether more remain.
        more: bool,
    },
    /// This many items were dropped.
    Deleted {
        /// Count.
        count: u32,
    },
    /// Refused, with a reason.
    Refused {
        /// Why.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_is_bound_to_holder_op_and_time() {
        let k = AccountKey::generate().unwrap();
        let a = MailboxAuth::new(&k, b"holder".to_vec(), 1000, 0);
        assert!(a.verify(b"holder", 0, 1000).is_ok());
        assert!(a.verify(b"other", 0, 1000).is_err());
        assert!(a.verify(b"holder", 1, 1000).is_err());
        assert!(a.verify(b"holder", 0, 1000 + AUTH_WINDOW_SECS + 1).is_err());
        let mut forged = a.clone();
        forged.account = AccountKey::generate().unwrap().account_id();
        assert!(forged.verify(b"holder", 0, 1000).is_err());
    }
}
