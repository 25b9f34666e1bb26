//! A service's event feed: one sender, any number of subscribers, each
//! seeing every event (or told how many it missed).
//!
//! A thin layer over `tokio::sync::broadcast` that puts each event behind an
//! `Arc`. Why: a broadcast channel allocates and writes every slot of its
//! ring when it is made, so a ring of 1,024 events costs 1,024 times the
//! size of the largest event variant in resident memory, in every node,
//! whether or not anything is ever sent (about 0.6 MiB a node over the
//! node's feeds, which matters with thousands of nodes in one simnet
//! process). Behind an `Arc` a slot is a pointer. The event itself is made
//! once per send, and a subscriber takes it out of the `Arc` (a clone only
//! when another subscriber still holds it; `broadcast` alone clones for
//! every subscriber).

use std::sync::Arc;

use tokio::sync::broadcast;

pub use tokio::sync::broadcast::error::{RecvError, TryRecvError};

/// The sending side, kept by the service; cheap to clone.
pub struct EventFeed<T> {
    tx: broadcast::Sender<Arc<T>>,
}

impl<T> Clone for EventFeed<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
        }
    }
}

impl<T: Clone> EventFeed<T> {
    /// A feed whose subscribers may fall at most `capacity` events behind
    /// before they are told they lagged.
    pub fn new(capacity: usize) -> Self {
        Self {
            tx: broadcast::channel(capacity).0,
        }
    }

    /// Sends `event` to every current subscriber; returns how many there
    /// were (0 is not an error: nobody is listening right now).
    pub fn send(&self, event: T) -> usize {
        self.tx.send(Arc::new(event)).unwrap_or(0)
    }

    /// A new subscriber, seeing the events sent from now on.
    pub fn subscribe(&self) -> EventRx<T> {
        EventRx {
            rx: self.tx.subscribe(),
        }
    }
}

/// One subscriber's side of an [`EventFeed`].
pub struct EventRx<T> {
    rx: broadcast::Receiver<Arc<T>>,
}

impl<T: Clone> EventRx<T> {
    /// The next event; [`RecvError::Lagged`] says how many were missed,
    /// [`RecvError::Closed`] that the feed is gone.
    pub async fn recv(&mut self) -> Result<T, RecvError> {
        self.rx.recv().await.map(Arc::unwrap_or_clone)
    }

    /// The next event if one is waiting, without waiting for one.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.rx.try_recv().map(Arc::unwrap_or_clone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_subscriber_sees_every_event_and_a_slow_one_is_told_it_lagged() {
        let feed = EventFeed::<String>::new(2);
        assert_eq!(feed.send("nobody".into()), 0);
        let mut a = feed.subscribe();
        let mut b = feed.subscribe();
        assert_eq!(feed.send("one".into()), 2);
        assert_eq!(a.recv().await, Ok("one".to_string()));
        assert_eq!(b.recv().await, Ok("one".to_string()));
        for s in ["two", "three", "four"] {
            feed.send(s.into());
        }
        assert_eq!(a.recv().await, Err(RecvError::Lagged(1)));
        assert_eq!(a.recv().await, Ok("three".to_string()));
        assert_eq!(a.try_recv(), Ok("four".to_string()));
        assert_eq!(a.try_recv(), Err(TryRecvError::Empty));
        drop(feed);
        assert_eq!(a.recv().await, Err(RecvError::Closed));
    }

    #[test]
    fn a_slot_is_a_pointer_whatever_the_event() {
        // What the feed is for: the ring's slots do not grow with the event.
        #[derive(Clone)]
        struct Big([u8; 512]);
        let small = std::mem::size_of::<Option<Arc<Big>>>();
        assert_eq!(small, std::mem::size_of::<usize>());
        let feed = EventFeed::<Big>::new(4);
        let mut rx = feed.subscribe();
        feed.send(Big([7; 512]));
        assert!(matches!(rx.try_recv(), Ok(Big(b)) if b[511] == 7));
    }
}
