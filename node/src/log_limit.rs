//! Rate limits for warnings a peer can trigger at will (a dropped stream, a
//! declined request): the first few per window are written, the rest are
//! counted and the count rides on the next line that is written, so a flood
//! of bad streams costs a few log lines a minute instead of one each.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lines of one kind written per window.
const LINES_PER_WINDOW: u32 = 10;
/// The window.
const WINDOW: Duration = Duration::from_secs(60);

/// One kind of warning's limit; a `static` beside the warning it guards.
#[derive(Debug)]
pub struct LogLimit {
    /// (window start, lines written in it, lines suppressed since the last written)
    state: Mutex<Option<(Instant, u32, u64)>>,
}

impl LogLimit {
    /// A limit with nothing written yet.
    pub const fn new() -> Self {
        Self {
            state: Mutex::new(None),
        }
    }

    /// `Some(suppressed)` if this line may be written (with how many were
    /// held back since the last one), `None` if it is to be held back.
    pub fn allow(&self) -> Option<u64> {
        let Ok(mut s) = self.state.lock() else {
            return Some(0);
        };
        let now = Instant::now();
        let (start, written, suppressed) = s.get_or_insert((now, 0, 0));
        if now.duration_since(*start) >= WINDOW {
            (*start, *written) = (now, 0);
        }
        if *written >= LINES_PER_WINDOW {
            *suppressed += 1;
            return None;
        }
        *written += 1;
        Some(std::mem::take(suppressed))
    }
}

impl Default for LogLimit {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_writes_a_few_lines_and_counts_the_rest() {
        let l = LogLimit::new();
        let written = (0..1000).filter(|_| l.allow().is_some()).count();
        assert_eq!(written, LINES_PER_WINDOW as usize);
        // The next window's first line carries the count of the held back.
        if let Ok(mut s) = l.state.lock() {
            if let Some(st) = s.as_mut() {
                st.0 = st.0.checked_sub(WINDOW).unwrap_or(st.0);
            }
        }
        if l.allow() != Some(1000 - LINES_PER_WINDOW as u64) {
            // The clock is younger than a window (just booted): nothing to check.
            assert!(Instant::now().checked_sub(WINDOW).is_none());
        }
    }
}
