//! Crash points for tests, in debug builds only.
//!
//! Some promises can only be shown by dying at one exact moment, such as
//! "a receiver killed after storing a batch but before acknowledging it
//! loses nothing and duplicates nothing". [`point`] aborts the process there
//! when the environment variable `WEFT_FAULT` names the point: `name` (the
//! first time it is reached) or `name@N` (the N-th time). In release builds
//! it compiles to nothing and the variable is never read.
//!
//! [`fails`] is the same for a failure that is not a crash: an operation
//! that `WEFT_FAIL` names (`name`: its first attempt; `name@N`: its first N)
//! fails as if its peer had not answered.

/// Aborts the process (as `SIGKILL` would end it: no destructors, no
/// flush) if `WEFT_FAULT` names `name` and this is the time it asks for.
pub(crate) fn point(name: &str) {
    #[cfg(debug_assertions)]
    {
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::sync::OnceLock;
        static WANTED: OnceLock<Option<(String, u64)>> = OnceLock::new();
        static HITS: AtomicU64 = AtomicU64::new(0);
        let wanted = WANTED.get_or_init(|| {
            let v = std::env::var("WEFT_FAULT").ok()?;
            match v.split_once('@') {
                Some((n, count)) => Some((n.to_string(), count.parse().ok()?)),
                None => Some((v, 1)),
            }
        });
        if let Some((wanted, at)) = wanted {
            if wanted == name && HITS.fetch_add(1, Ordering::SeqCst) + 1 == *at {
                eprintln!("WEFT_FAULT: aborting at {name}");
                std::process::abort();
            }
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = name;
}

/// Whether this attempt at `name` should fail: true for the first N
/// attempts when `WEFT_FAIL` is `name@N` (`name` alone: N = 1). Always false
/// in release builds.
pub(crate) fn fails(name: &str) -> bool {
    #[cfg(debug_assertions)]
    {
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::sync::OnceLock;
        static WANTED: OnceLock<Option<(String, u64)>> = OnceLock::new();
        static HITS: AtomicU64 = AtomicU64::new(0);
        let wanted = WANTED.get_or_init(|| {
            let v = std::env::var("WEFT_FAIL").ok()?;
            match v.split_once('@') {
                Some((n, count)) => Some((n.to_string(), count.parse().ok()?)),
                None => Some((v, 1)),
            }
        });
        if let Some((wanted, times)) = wanted {
            if wanted == name && HITS.fetch_add(1, Ordering::SeqCst) < *times {
                eprintln!("WEFT_FAIL: failing {name}");
                return true;
            }
        }
        false
    }
    #[cfg(not(debug_assertions))]
    {
        let _ = name;
        false
    }
}
