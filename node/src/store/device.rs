//! Linked devices (part of the one module that owns sled).
//!
//! - `device_lists`: account id(32) → the highest-version verified device
//!   list seen for that account (envelope bytes); ours included
//! - `link_codes`:   code id(32) → postcard [`LinkState`] (the primary's
//!   open link codes: one use, 5 minutes, 5 wrong tries)
//! - `device_seen`:  device key(32) → u64 BE Unix seconds, when one of our
//!   own devices was last connected; `announced` → u64 BE, the version of
//!   our list our friends were last told of

use serde::{Deserialize, Serialize};
use weft_protocol::{device::DeviceList, AccountId, Kind};

use super::{dec, enc, get, get_u64, put_u64, Store, StoreError};

trees! {
    /// The device trees.
    DeviceTrees {
        lists: "device_lists",
        codes: "link_codes",
        seen: "device_seen",
    }
}

/// Key in `device_seen` (shorter than any device key) of the list version
/// friends were last told of.
const ANNOUNCED: &[u8] = b"announced";
/// The version of our device list whose devices were sent every group log.
const GROUPS_HANDED: &[u8] = b"groups_handed";

/// Key in `device_seen` of history sync's progress for one conversation.
fn history_key(conv: &AccountId) -> Vec<u8> {
    let mut k = b"history".to_vec();
    k.extend_from_slice(&conv.0);
    k
}

fn group_history_key(g: &weft_protocol::group::GroupId) -> Vec<u8> {
    let mut k = b"group_history".to_vec();
    k.extend_from_slice(&g.0);
    k
}

/// Of the newest `keep` entries under `prefix` in `tree`, those after
/// `after`, oldest first, at most `max` or about `max_bytes`; with the
/// cursor to continue from if more remain.
pub(super) fn page(
    tree: &sled::Tree,
    prefix: &[u8],
    keep: usize,
    after: Option<&[u8]>,
    max: usize,
    max_bytes: usize,
) -> Result<(Vec<sled::IVec>, Option<Vec<u8>>), StoreError> {
    let Some(start) = tree
        .scan_prefix(prefix)
        .rev()
        .take(keep.max(1))
        .last()
        .transpose()?
        .map(|(k, _)| k)
    else {
        return Ok((Vec::new(), None));
    };
    let from = match after {
        Some(a) if a > start.as_ref() => std::ops::Bound::Excluded(sled::IVec::from(a)),
        _ => std::ops::Bound::Included(start),
    };
    let mut out = Vec::new();
    let mut bytes = 0;
    let mut last = None;
    for item in tree.range((from, std::ops::Bound::Unbounded)) {
        let (k, v) = item?;
        if !k.starts_with(prefix) {
            break;
        }
        if out.len() >= max || bytes + v.len() > max_bytes {
            return Ok((out, last));
        }
        bytes += v.len();
        out.push(v);
        last = Some(k.to_vec());
    }
    Ok((out, None))
}

/// Most link codes open at once (older ones are dropped when a new one is made).
pub const MAX_OPEN_CODES: usize = 8;

/// A link code the primary made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkState {
    /// The handshake key derived from the code's secret.
    pub psk: [u8; 32],
    /// When it stops working (Unix seconds).
    pub expires_at: u64,
    /// Wrong handshakes tried against it.
    pub failures: u32,
    /// Whether a device joined with it.
    pub used: bool,
}

/// What storing a device list did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListUpdate {
    /// It is newer than what we had (or the first): kept.
    Newer,
    /// We already had this version.
    Same,
    /// We have a newer one: refused (a replay from before a change).
    Older,
}

impl Store {
    /// The highest-version device list we hold for `account`.
    pub fn device_list(&self, account: &AccountId) -> Result<Option<DeviceList>, StoreError> {
        self.device
            .lists
            .get(account.0)?
            .map(|v| {
                weft_protocol::decode(Kind::DeviceList, &v)
                    .map_err(|e| StoreError::Corrupt("device_lists", e.to_string()))
            })
            .transpose()
    }

    /// Keeps `list` (already verified by the caller) if its version is
    /// higher than the one held; atomic against a concurrent update.
    pub fn put_device_list(&self, list: &DeviceList) -> Result<ListUpdate, StoreError> {
        let bytes = weft_protocol::encode(Kind::DeviceList, list)
            .map_err(|e| StoreError::Corrupt("device_lists", e.to_string()))?;
        let key = list.account().0;
        loop {
            let old = self.device.lists.get(key)?;
            if let Some(old) = &old {
                let held: DeviceList = weft_protocol::decode(Kind::DeviceList, old)
                    .map_err(|e| StoreError::Corrupt("device_lists", e.to_string()))?;
                if held.version() > list.version() {
                    return Ok(ListUpdate::Older);
                }
                if held.version() == list.version() {
                    return Ok(ListUpdate::Same);
                }
            }
            if self
                .device
                .lists
                .compare_and_swap(key, old, Some(bytes.clone()))?
                .is_ok()
            {
                return Ok(ListUpdate::Newer);
            }
        }
    }

    /// Records a new link code, dropping expired ones and the oldest beyond
    /// [`MAX_OPEN_CODES`].
    pub fn put_link_code(
        &self,
        id: &[u8; 32],
        state: &LinkState,
        now: u64,
    ) -> Result<(), StoreError> {
        let mut open: Vec<(sled::IVec, u64)> = Vec::new();
        for kv in self.device.codes.iter() {
            let (k, v) = kv?;
            let s: LinkState = dec("link_codes", &v)?;
            if s.expires_at <= now || s.used {
                self.device.codes.remove(&k)?;
            } else {
                open.push((k, s.expires_at));
            }
        }
        open.sort_by_key(|(_, at)| *at);
        let excess = (open.len() + 1).saturating_sub(MAX_OPEN_CODES);
        for (k, _) in open.into_iter().take(excess) {
            self.device.codes.remove(k)?;
        }
        self.device.codes.insert(id, enc(state))?;
        Ok(())
    }

    /// A link code's state.
    pub fn link_code(&self, id: &[u8; 32]) -> Result<Option<LinkState>, StoreError> {
        get(&self.device.codes, "link_codes", id)
    }

    /// Counts a wrong handshake against a code.
    pub fn link_code_failed(&self, id: &[u8; 32]) -> Result<(), StoreError> {
        self.device.codes.fetch_and_update(id, |v| {
            let mut s: LinkState = postcard::from_bytes(v?).ok()?;
            s.failures = s.failures.saturating_add(1);
            Some(enc(&s))
        })?;
        Ok(())
    }

    /// Marks an unused code used; false if it was used already (or is
    /// gone). Atomic: of two joins with one code, exactly one gets `true`.
    pub fn use_link_code(&self, id: &[u8; 32]) -> Result<bool, StoreError> {
        loop {
            let Some(old) = self.device.codes.get(id)? else {
                return Ok(false);
            };
            let mut s: LinkState = dec("link_codes", &old)?;
            if s.used {
                return Ok(false);
            }
            s.used = true;
            if self
                .device
                .codes
                .compare_and_swap(id, Some(old), Some(enc(&s)))?
                .is_ok()
            {
                return Ok(true);
            }
        }
    }

    /// The version of our list our friends were last told of.
    pub fn devices_announced(&self) -> Result<u64, StoreError> {
        Ok(get_u64(&self.device.seen, ANNOUNCED)?.unwrap_or(0))
    }

    /// Records that friends were told of `version`.
    pub fn set_devices_announced(&self, version: u64) -> Result<(), StoreError> {
        put_u64(&self.device.seen, ANNOUNCED, version)
    }

    /// The version of our device list whose devices got every group's log.
    pub fn groups_handed(&self) -> Result<u64, StoreError> {
        Ok(get_u64(&self.device.seen, GROUPS_HANDED)?.unwrap_or(0))
    }

    /// Records that our devices on list `version` got every group's log.
    pub fn set_groups_handed(&self, version: u64) -> Result<(), StoreError> {
        put_u64(&self.device.seen, GROUPS_HANDED, version)
    }

    /// How far history sync got for `conv`: `None` not started, `Some(None)`
    /// finished, `Some(Some(cursor))` stopped after `cursor`.
    pub fn history_progress(
        &self,
        conv: &AccountId,
    ) -> Result<Option<Option<Vec<u8>>>, StoreError> {
        Ok(self
            .device
            .seen
            .get(history_key(conv))?
            .map(|v| (!v.is_empty()).then(|| v.to_vec())))
    }

    /// Records how far history sync got for `conv` (`None`: finished).
    pub fn set_history_progress(
        &self,
        conv: &AccountId,
        after: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        self.device
            .seen
            .insert(history_key(conv), after.unwrap_or_default())?;
        Ok(())
    }

    /// Messages of `conv` for history sync: of its newest `keep`, those
    /// after `after`, oldest first, at most `max` or about `max_bytes`;
    /// with the cursor to continue from if more remain.
    pub fn history_page(
        &self,
        conv: &AccountId,
        keep: usize,
        after: Option<&[u8]>,
        max: usize,
        max_bytes: usize,
    ) -> Result<(Vec<super::chat::StoredMessage>, Option<Vec<u8>>), StoreError> {
        let (values, next) = page(
            self.chat.messages_tree(),
            &conv.0,
            keep,
            after,
            max,
            max_bytes,
        )?;
        let messages = values
            .iter()
            .map(|v| dec("messages", v))
            .collect::<Result<_, _>>()?;
        Ok((messages, next))
    }

    /// How far group history sync got for `g` (as
    /// [`Store::history_progress`]).
    pub fn group_history_progress(
        &self,
        g: &weft_protocol::group::GroupId,
    ) -> Result<Option<Option<Vec<u8>>>, StoreError> {
        Ok(self
            .device
            .seen
            .get(group_history_key(g))?
            .map(|v| (!v.is_empty()).then(|| v.to_vec())))
    }

    /// Records how far group history sync got for `g` (`None`: finished).
    pub fn set_group_history_progress(
        &self,
        g: &weft_protocol::group::GroupId,
        after: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        self.device
            .seen
            .insert(group_history_key(g), after.unwrap_or_default())?;
        Ok(())
    }

    /// Notes that our own device `device_key` was connected at `at`.
    pub fn device_seen_at(&self, device_key: &[u8; 32], at: u64) -> Result<(), StoreError> {
        put_u64(&self.device.seen, device_key, at)
    }

    /// When our own device `device_key` was last connected.
    pub fn device_last_seen(&self, device_key: &[u8; 32]) -> Result<Option<u64>, StoreError> {
        get_u64(&self.device.seen, device_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_protocol::device::{DeviceEntry, DeviceListBody};
    use weft_protocol::AccountKey;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        (dir, s)
    }

    fn list(k: &AccountKey, version: u64, devices: &[[u8; 32]]) -> DeviceList {
        DeviceList::sign(
            k,
            DeviceListBody {
                account: k.account_id(),
                version,
                primary: devices[0],
                devices: devices
                    .iter()
                    .map(|d| DeviceEntry {
                        device_key: *d,
                        name: "d".into(),
                        added_at: 1,
                    })
                    .collect(),
                issued_at: version,
            },
        )
        .unwrap()
    }

    #[test]
    fn a_lower_version_never_replaces_a_higher_one() {
        let (_d, s) = store();
        let k = AccountKey::generate().unwrap();
        let two = list(&k, 2, &[[1; 32], [2; 32]]);
        let three = list(&k, 3, &[[1; 32]]);
        assert_eq!(s.put_device_list(&two).unwrap(), ListUpdate::Newer);
        assert_eq!(s.put_device_list(&three).unwrap(), ListUpdate::Newer);
        assert_eq!(s.put_device_list(&two).unwrap(), ListUpdate::Older);
        assert_eq!(s.put_device_list(&three).unwrap(), ListUpdate::Same);
        assert_eq!(s.device_list(&k.account_id()).unwrap().unwrap(), three);
    }

    #[test]
    fn a_code_is_used_once_and_counts_failures() {
        let (_d, s) = store();
        let state = LinkState {
            psk: [7; 32],
            expires_at: 100,
            failures: 0,
            used: false,
        };
        s.put_link_code(&[1; 32], &state, 10).unwrap();
        s.link_code_failed(&[1; 32]).unwrap();
        assert_eq!(s.link_code(&[1; 32]).unwrap().unwrap().failures, 1);
        assert!(s.use_link_code(&[1; 32]).unwrap());
        assert!(
            !s.use_link_code(&[1; 32]).unwrap(),
            "a second use is refused"
        );
        assert!(
            !s.use_link_code(&[2; 32]).unwrap(),
            "an unknown code is refused"
        );
        // Expired and used codes are swept when a new one is made; at most
        // MAX_OPEN_CODES stay open.
        for i in 0..20u8 {
            s.put_link_code(&[i + 10; 32], &state, 10).unwrap();
        }
        assert!(s.link_code(&[1; 32]).unwrap().is_none());
        assert_eq!(s.device.codes.len(), MAX_OPEN_CODES);
        s.put_link_code(&[99; 32], &state, 200).unwrap();
        assert_eq!(s.device.codes.len(), 1, "expired codes are dropped");
    }
}
