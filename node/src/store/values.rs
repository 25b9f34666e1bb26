//! How values sit in sled: postcard for records, 8 big-endian bytes for
//! counters and times, and the few reads every tree needs (one value, the
//! last few under a prefix, everything keyed by a 32-byte id), so each
//! service's store file says what it keeps rather than how sled scans.

use serde::Serialize;

use super::StoreError;

/// A value as it is stored: postcard. Only types this crate defines are
/// stored, and postcard cannot fail on them (no maps of unknown length, no
/// custom serialisers that refuse), so the empty fallback is never written.
pub(crate) fn enc<T: Serialize>(v: &T) -> Vec<u8> {
    postcard::to_stdvec(v).unwrap_or_default()
}

/// Reads a stored value; `tree` names where it came from in the error.
pub(crate) fn dec<T: serde::de::DeserializeOwned>(
    tree: &'static str,
    v: &[u8],
) -> Result<T, StoreError> {
    postcard::from_bytes(v).map_err(|e| StoreError::Corrupt(tree, e.to_string()))
}

/// `key`'s value in `tree`, decoded (`name` is the tree's, for errors).
pub(crate) fn get<T: serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    name: &'static str,
    key: impl AsRef<[u8]>,
) -> Result<Option<T>, StoreError> {
    tree.get(key)?.map(|v| dec(name, &v)).transpose()
}

/// The last `limit` values under `prefix`, newest (highest key) first.
pub(crate) fn newest<T: serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    name: &'static str,
    prefix: impl AsRef<[u8]>,
    limit: usize,
) -> Result<Vec<T>, StoreError> {
    tree.scan_prefix(prefix)
        .rev()
        .take(limit)
        .map(|kv| dec(name, &kv?.1))
        .collect()
}

/// The last `limit` values under `prefix`, in key order (a conversation's
/// newest messages, oldest first).
pub(crate) fn last<T: serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    name: &'static str,
    prefix: impl AsRef<[u8]>,
    limit: usize,
) -> Result<Vec<T>, StoreError> {
    let mut out = newest(tree, name, prefix, limit)?;
    out.reverse();
    Ok(out)
}

/// A counter or time stored as 8 big-endian bytes at `key` (a value of
/// another length reads as absent: it was never written by [`put_u64`]).
pub(crate) fn get_u64(tree: &sled::Tree, key: impl AsRef<[u8]>) -> Result<Option<u64>, StoreError> {
    Ok(tree.get(key)?.as_deref().and_then(be_u64))
}

/// Writes `v` at `key` as 8 big-endian bytes (read back by [`get_u64`]).
pub(crate) fn put_u64(tree: &sled::Tree, key: impl AsRef<[u8]>, v: u64) -> Result<(), StoreError> {
    tree.insert(key.as_ref(), &v.to_be_bytes())?;
    Ok(())
}

/// 8 big-endian bytes as a number; anything else is `None`.
pub(crate) fn be_u64(v: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(v).ok().map(u64::from_be_bytes)
}

/// Every value of a tree keyed by 32-byte ids (an account's, a group's),
/// with its id; keys of another length are not ids and are skipped.
pub(crate) fn by_id<T: serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    name: &'static str,
) -> Result<Vec<([u8; 32], T)>, StoreError> {
    let mut out = Vec::new();
    for kv in tree.iter() {
        let (k, v) = kv?;
        if let Ok(id) = <[u8; 32]>::try_from(k.as_ref()) {
            out.push((id, dec(name, &v)?));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> sled::Tree {
        let db = sled::Config::new().temporary(true).open().unwrap();
        db.open_tree("t").unwrap()
    }

    #[test]
    fn a_counter_reads_back_and_other_bytes_read_as_absent() {
        let t = tree();
        assert_eq!(get_u64(&t, "n").unwrap(), None);
        put_u64(&t, "n", 1 << 40).unwrap();
        assert_eq!(get_u64(&t, "n").unwrap(), Some(1 << 40));
        t.insert("short", &[1u8, 2, 3]).unwrap();
        assert_eq!(get_u64(&t, "short").unwrap(), None);
    }

    #[test]
    fn last_is_the_newest_in_key_order_and_by_id_skips_other_keys() {
        let t = tree();
        for i in 0u8..5 {
            t.insert([7, i], enc(&u32::from(i))).unwrap();
        }
        t.insert([8, 0], enc(&99u32)).unwrap();
        let got: Vec<u32> = last(&t, "t", [7], 3).unwrap();
        assert_eq!(got, vec![2, 3, 4]);
        let got: Vec<u32> = newest(&t, "t", [7], 3).unwrap();
        assert_eq!(got, vec![4, 3, 2]);
        let one: Option<u32> = get(&t, "t", [8, 0]).unwrap();
        assert_eq!(one, Some(99));
        t.insert([1; 32], enc(&5u32)).unwrap();
        let all: Vec<([u8; 32], u32)> = by_id(&t, "t").unwrap();
        assert_eq!(all, vec![([1; 32], 5)]);
        t.insert([2; 32], vec![0xFF]).unwrap();
        assert!(matches!(
            by_id::<u32>(&t, "t"),
            Err(StoreError::Corrupt("t", _))
        ));
    }
}
