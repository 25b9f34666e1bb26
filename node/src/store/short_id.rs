//! Short ids, as git has them: the stored 32-byte ids (shown as 64 hex
//! characters) that start with what the user typed. A whole byte prefix is a
//! sled range scan; an odd last character filters that range.

use super::StoreError;

/// At most this many matches are returned: enough to list the candidates of
/// an ambiguous prefix without walking a whole tree.
pub const MAX_MATCHES: usize = 8;

/// Keys of `tree` (32 bytes, non-empty value) whose hex form starts with `prefix`.
/// A prefix that is not hex matches nothing.
pub(super) fn with_hex_prefix(
    tree: &sled::Tree,
    prefix: &str,
) -> Result<Vec<[u8; 32]>, StoreError> {
    let prefix = prefix.to_ascii_lowercase();
    if prefix.len() > 64 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(Vec::new());
    }
    let even = &prefix[..prefix.len() / 2 * 2];
    let Some(bytes) = weft_protocol::hex::decode(even) else {
        return Ok(Vec::new());
    };
    let odd = prefix[even.len()..].chars().next();
    let mut out = Vec::new();
    for kv in tree.scan_prefix(&bytes) {
        let (k, v) = kv?;
        let Ok(id) = <[u8; 32]>::try_from(k.as_ref()) else {
            continue;
        };
        if v.is_empty() {
            continue;
        }
        let next_nibble_ok = match odd {
            Some(c) => id
                .get(bytes.len())
                .is_some_and(|b| format!("{b:02x}").starts_with(c)),
            None => true,
        };
        if next_nibble_ok {
            out.push(id);
            if out.len() >= MAX_MATCHES {
                break;
            }
        }
    }
    Ok(out)
}
