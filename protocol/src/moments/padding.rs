//! Hiding an item's audience size. Anyone may subscribe to an author's
//! Moments topic and count the key wraps of each item; without padding
//! that count is the audience size (plus the author). Each item's wraps are
//! padded with random boxes, which look like real ones (a box is a
//! ChaCha20-Poly1305 ciphertext under a key only its reader can derive), up
//! to the next power of two (at least [`MIN_WRAPS`]), so a subscriber
//! learns only the size's bucket. Posting times still show; see the
//! threat model.

#[cfg(test)]
use super::MAX_AUDIENCE;
use super::{new_key, MomentError, MAX_WRAPS, WRAP_LEN};

/// The fewest wraps an item carries.
pub const MIN_WRAPS: usize = 8;

/// The wrap count an item with `n` real wraps is padded to.
pub fn padded_len(n: usize) -> usize {
    n.max(MIN_WRAPS)
        .checked_next_power_of_two()
        .unwrap_or(usize::MAX)
        .min(MAX_WRAPS)
        .max(n)
}

/// Appends random boxes to `wraps` up to [`padded_len`].
pub fn pad(wraps: &mut Vec<Vec<u8>>) -> Result<(), MomentError> {
    let target = padded_len(wraps.len());
    while wraps.len() < target {
        let mut b = new_key()?.to_vec();
        b.extend_from_slice(&new_key()?[..WRAP_LEN - 32]);
        wraps.push(b);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_sizes_show_only_as_buckets() {
        assert_eq!(padded_len(1), 8);
        assert_eq!(padded_len(3), 8);
        assert_eq!(padded_len(9), 16);
        assert_eq!(padded_len(300), 512);
        assert_eq!(padded_len(MAX_AUDIENCE + 1), 512);
        assert_eq!(padded_len(600), MAX_WRAPS);
        assert_eq!(padded_len(MAX_WRAPS), MAX_WRAPS);
        let mut w = vec![vec![1u8; WRAP_LEN]; 3];
        pad(&mut w).unwrap();
        assert_eq!(w.len(), 8);
        assert!(w.iter().all(|b| b.len() == WRAP_LEN));
    }
}
