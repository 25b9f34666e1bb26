//! The chat service's background task: starting, resuming the outbox after
//! a restart, and one loop that reacts to peers coming online, checks for
//! our mail, and keeps our account record in the DHT fresh.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use tokio::sync::watch;
use weft_protocol::Kind;

use super::{Chat, ChatError, Inner};
use crate::context::Context;
use crate::events::{EventFeed, RecvError};
use crate::net::{records, NetEvent};
use crate::random;

/// How often we look for our mail at the holders closest to our mailbox key
/// (a DHT query). Senders retry us directly meanwhile, and holders we
/// connect to are asked at once, so this is a backstop.
const MAIL_CHECK: Duration = Duration::from_secs(300);
/// How often we republish our account record in the DHT.
const PUBLISH_EVERY: Duration = Duration::from_secs(30 * 60);
/// A holder we just asked is not asked again within this long.
const REFETCH_AFTER: Duration = Duration::from_secs(10);
/// How long we wait before asking again a holder we met that did not
/// answer our fetch: three asks in all.
const FETCH_RETRY_WAITS: [Duration; 2] = [Duration::from_secs(3), Duration::from_secs(10)];
/// Most holders remembered in the refetch guard before it is reset.
const MAX_FETCH_MEMORY: usize = 4096;

impl Chat {
    /// Starts the service: delivery for whatever the outbox holds, inbound
    /// request handling, mailbox checks.
    pub fn start(ctx: Context, name: String) -> Result<Self, ChatError> {
        let events = EventFeed::new(1024);
        let shutdown = ctx.shutdown.clone();
        let chat = Chat {
            inner: Arc::new(Inner {
                ctx,
                name,
                events,
                send_lock: tokio::sync::Mutex::new(()),
                workers: Mutex::new(HashMap::new()),
                group_inbox: std::sync::OnceLock::new(),
                pay_inbox: std::sync::OnceLock::new(),
                stranger_requests: crate::budget::RateLimit::new(
                    super::inbound::STRANGER_REQUESTS,
                    super::inbound::STRANGER_REQUEST_WINDOW,
                ),
                moments_keys: Default::default(),
                sessions: Default::default(),
                noise_keys: Default::default(),
            }),
        };
        // Restarts resume work: every recipient with queued mail gets a worker.
        for to in chat.store().outbox_recipients()? {
            chat.kick(to);
        }
        chat.spawn_background(shutdown);
        chat.spawn_stream_server();
        Ok(chat)
    }

    /// Reacts to peers coming and going; checks mail and publishes our record periodically.
    fn spawn_background(&self, mut shutdown: watch::Receiver<bool>) {
        let chat = self.clone();
        let mut events = self.net().subscribe();
        tokio::spawn(async move {
            let mut last_fetch: HashMap<PeerId, Instant> = HashMap::new();
            // Each wait is drawn afresh, so nodes that started together
            // do not all look their mailbox up in the same second.
            let mut next_check = tokio::time::Instant::now() + random::jittered(MAIL_CHECK);
            let mut last_publish: Option<Instant> = None;
            // The first check waits for a peer to ask the DHT through.
            let mut checked = false;
            let holders: Arc<Mutex<HashSet<PeerId>>> = Arc::default();
            loop {
                tokio::select! {
                    _ = shutdown.wait_for(|s| *s) => return,
                    ev = events.recv() => match ev {
                        Ok(NetEvent::PeerIdentified { peer_id: peer, account_id: acct, .. }) => {
                            // Our friend is back: deliver now rather than at the next backoff.
                            // (A linked device's endpoint is its own key.)
                            let endpoint = chat.endpoint_of_peer(&acct, &peer).unwrap_or(acct);
                            chat.wake(&endpoint);
                            if chat.store().outbox_has(&endpoint).unwrap_or(false) {
                                chat.kick(endpoint);
                            }
                            // A holder of our mail (a peer near our mailbox key, found by
                            // the last check) is back: ask it, once in a while. Until the
                            // DHT named any, ask whoever we meet.
                            let holder = holders.lock().is_ok_and(|h| h.is_empty() || h.contains(&peer));
                            let recent = last_fetch.get(&peer).is_some_and(|t| t.elapsed() < REFETCH_AFTER);
                            if holder && !recent {
                                if last_fetch.len() > MAX_FETCH_MEMORY {
                                    last_fetch.clear();
                                }
                                last_fetch.insert(peer, Instant::now());
                                let c = chat.clone();
                                tokio::spawn(async move {
                                    // A holder that just came up may not answer at
                                    // once: ask again a little later, twice at most.
                                    if c.fetch_mail(peer).await {
                                        return;
                                    }
                                    for wait in FETCH_RETRY_WAITS {
                                        tokio::time::sleep(wait).await;
                                        if c.fetch_mail(peer).await {
                                            return;
                                        }
                                    }
                                });
                            }
                            if !checked {
                                checked = true;
                                let (c, h) = (chat.clone(), holders.clone());
                                tokio::spawn(async move { c.check_mailbox_holders(&h).await });
                            }
                            if last_publish.is_none_or(|t| t.elapsed() > PUBLISH_EVERY) {
                                last_publish = Some(Instant::now());
                                let c = chat.clone();
                                tokio::spawn(async move { c.publish_record().await });
                            }
                        }
                        Ok(_) => {}
                        Err(RecvError::Lagged(_)) => {}
                        Err(_) => return,
                    },
                    _ = tokio::time::sleep_until(next_check) => {
                        next_check = tokio::time::Instant::now() + random::jittered(MAIL_CHECK);
                        let (c, h) = (chat.clone(), holders.clone());
                        tokio::spawn(async move { c.check_mailbox_holders(&h).await });
                    }
                }
            }
        });
    }

    /// Puts our card in the DHT under our account key, so a sender who has
    /// no card of ours (or a stale one) can still find our device.
    async fn publish_record(&self) {
        let Some(card) = self.my_card().await else {
            return;
        };
        let Ok(value) = weft_protocol::encode(Kind::Card, &card) else {
            return;
        };
        let key = records::account_key(&self.me());
        match tokio::time::timeout(Duration::from_secs(30), self.net().put_record(key, value)).await
        {
            Ok(Ok(())) => tracing::debug!("published our account record"),
            Ok(Err(e)) => tracing::debug!(error = %e, "could not publish our account record"),
            Err(_) => tracing::debug!("publishing our account record timed out"),
        }
    }
}
