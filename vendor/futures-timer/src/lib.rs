//! A general purpose crate for working with timeouts and delays with futures.
//!
//! Weft's copy (see `WEFT-PATCH.md` beside `Cargo.toml`): a [`Delay`] made
//! inside a tokio runtime is a tokio timer on that runtime; anywhere else
//! it is upstream's, on a timer thread of its own.
//!
//! # Examples
//!
//! ```no_run
//! # async fn wait() {
//! use std::time::Duration;
//! use futures_timer::Delay;
//!
//! let now = Delay::new(Duration::from_secs(3)).await;
//! println!("waited for 3 secs");
//! # }
//! ```

#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

// Upstream's code as published: its lints are allowed, as cargo allows
// them for any crate from crates.io (a path dependency's are not capped).
#[allow(warnings)]
mod native;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// How far ahead a timer that must never fire is set (tokio's own
/// `sleep` does the same with an overflowing duration).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// A future representing the notification that an elapsed duration has
/// occurred.
///
/// This is created through the `Delay::new` method indicating when the
/// future should fire. Note that these futures are not intended for high
/// resolution timers, but rather they will likely fire some granularity
/// after the exact instant that they're otherwise indicated to fire at.
pub struct Delay {
    inner: Inner,
}

/// Where a [`Delay`] is kept (Weft patch).
enum Inner {
    /// On the time driver of the tokio runtime it was made in: setting,
    /// resetting and dropping it touches that runtime's timer wheel, on
    /// the thread that does it, and it fires when a worker turns the wheel.
    Tokio(Pin<Box<tokio::time::Sleep>>),
    /// Upstream's: every new, reset and drop queues the timer for
    /// futures-timer's own thread and wakes that thread.
    Native(native::Delay),
}

impl Delay {
    /// Creates a new future which will fire at `dur` time into the future.
    ///
    /// Made inside a tokio runtime (whose time driver must be enabled, as
    /// every runtime in Weft's binaries and tests is), it is a tokio timer of
    /// that runtime; elsewhere it is bound to futures-timer's own timer,
    /// spun up in a helper thread on first use.
    #[inline]
    pub fn new(dur: Duration) -> Delay {
        let inner = match tokio::runtime::Handle::try_current() {
            Ok(_) => Inner::Tokio(Box::pin(tokio::time::sleep(dur))),
            Err(_) => Inner::Native(native::Delay::new(dur)),
        };
        Delay { inner }
    }

    /// Resets this timeout to an new timeout which will fire at the time
    /// specified by `dur` from now.
    #[inline]
    pub fn reset(&mut self, dur: Duration) {
        match &mut self.inner {
            Inner::Tokio(sleep) => {
                let now = tokio::time::Instant::now();
                let at = now
                    .checked_add(dur)
                    .unwrap_or_else(|| now + FAR_FUTURE);
                sleep.as_mut().reset(at);
            }
            Inner::Native(delay) => delay.reset(dur),
        }
    }
}

impl Future for Delay {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().inner {
            Inner::Tokio(sleep) => sleep.as_mut().poll(cx),
            Inner::Native(delay) => Pin::new(delay).poll(cx),
        }
    }
}

impl fmt::Debug for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> Result<(), fmt::Error> {
        let on = match self.inner {
            Inner::Tokio(_) => "tokio",
            Inner::Native(_) => "native",
        };
        f.debug_struct("Delay").field("on", &on).finish()
    }
}

// Tested from the workspace (it is not a member, so tests here would not
// run): `node`'s `net::behaviour::tests` checks both kinds of `Delay`.
