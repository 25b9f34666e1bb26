//! Starting Nearby and its one loop: every [`POLL`] while the radar is on,
//! provide our cell, gather the peers to ask (LAN peers, cell providers every
//! [`DHT_POLL`], people already found via the DHT in between), fetch their
//! profiles at once and expire the stale; while the radar is off, idle and
//! keep the list empty. Network events feed the LAN peer set and trigger the
//! handle claim's republish.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::handles::REPUBLISH;
use super::{Nearby, State, DHT_POLL, POLL};
use crate::chat::Chat;
use crate::context::Context;
use crate::events::RecvError;
use crate::net::NetEvent;

/// Most peers asked per poll.
const MAX_ASK: usize = 64;

/// What the loop remembers between polls.
#[derive(Default)]
struct Poller {
    /// When the DHT was last asked for cell providers.
    last_dht: Option<Instant>,
    /// Whether we currently provide our cell.
    provided: bool,
}

impl Nearby {
    /// Starts the radar loop (it idles while the radar is off). `chat` builds
    /// our signed card for profiles and handle claims.
    pub fn start(ctx: Context, chat: Chat) -> Self {
        let n = Nearby {
            ctx,
            chat,
            state: Arc::new(Mutex::new(State {
                lan: HashMap::new(),
                found: HashMap::new(),
            })),
        };
        n.spawn_loop();
        n
    }

    fn spawn_loop(&self) {
        let me = self.clone();
        let mut shutdown = self.ctx.shutdown.clone();
        let mut events = self.ctx.net.subscribe();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL);
            let mut poller = Poller::default();
            let mut last_publish: Option<Instant> = None;
            loop {
                tokio::select! {
                    _ = async { let _ = shutdown.wait_for(|s| *s).await; } => return,
                    ev = events.recv() => {
                        if matches!(ev, Err(RecvError::Closed)) {
                            return;
                        }
                        if matches!(ev, Ok(NetEvent::PeerIdentified { .. }))
                            && last_publish.is_none_or(|t| t.elapsed() > REPUBLISH)
                        {
                            last_publish = Some(Instant::now());
                            let m = me.clone();
                            tokio::spawn(async move { m.publish_handle().await });
                        }
                        me.on_lan_event(ev.ok());
                    }
                    _ = tick.tick() => me.poll(&mut poller).await,
                }
            }
        });
    }

    /// One radar round.
    async fn poll(&self, p: &mut Poller) {
        let s = self.settings();
        if !self.is_on(&s) {
            if p.provided {
                if let Some(cell) = &s.cell {
                    self.provide_cell(cell, false).await;
                }
                p.provided = false;
            }
            self.forget_found();
            return;
        }
        if !p.provided {
            if let Some(cell) = &s.cell {
                self.provide_cell(cell, true).await;
            }
            p.provided = true;
        }
        let mut ask = self.lan_peers();
        if let Some(cell) = &s.cell {
            if p.last_dht.is_none_or(|t| t.elapsed() >= DHT_POLL) {
                p.last_dht = Some(Instant::now());
                ask.extend(self.cell_providers(cell).await);
            } else {
                // Between DHT lookups, refresh the people already found there.
                ask.extend(self.found_via_dht());
            }
        }
        ask.sort();
        ask.dedup_by_key(|(p, _)| *p);
        ask.truncate(MAX_ASK);
        let fetches = ask.into_iter().map(|(p, via)| self.fetch_profile(p, via));
        futures::future::join_all(fetches).await;
        self.expire();
    }
}
