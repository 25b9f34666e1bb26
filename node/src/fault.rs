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
        static WANTED: Wanted = Wanted::new("WEFT_FAULT");
        if WANTED.hit(name).is_some_and(|(hit, at)| hit == at) {
            eprintln!("WEFT_FAULT: aborting at {name}");
            std::process::abort();
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
        static WANTED: Wanted = Wanted::new("WEFT_FAIL");
        let fail = WANTED.hit(name).is_some_and(|(hit, times)| hit <= times);
        if fail {
            eprintln!("WEFT_FAIL: failing {name}");
        }
        fail
    }
    #[cfg(not(debug_assertions))]
    {
        let _ = name;
        false
    }
}

/// What an environment variable of the form `name` or `name@N` asks for,
/// read once, and how many times that name has been reached.
#[cfg(debug_assertions)]
struct Wanted {
    var: &'static str,
    wanted: std::sync::OnceLock<Option<(String, u64)>>,
    hits: std::sync::atomic::AtomicU64,
}

#[cfg(debug_assertions)]
impl Wanted {
    const fn new(var: &'static str) -> Self {
        Self {
            var,
            wanted: std::sync::OnceLock::new(),
            hits: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// If the variable names `name`: this hit's number (from 1) and the
    /// variable's N (1 when it gives none).
    fn hit(&self, name: &str) -> Option<(u64, u64)> {
        let wanted = self.wanted.get_or_init(|| {
            let v = std::env::var(self.var).ok()?;
            match v.split_once('@') {
                Some((n, count)) => Some((n.to_string(), count.parse().ok()?)),
                None => Some((v, 1)),
            }
        });
        let (wanted, n) = wanted.as_ref()?;
        (wanted == name).then(|| {
            let hit = self.hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            (hit, *n)
        })
    }
}
