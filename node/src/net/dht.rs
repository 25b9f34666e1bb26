//! The Kademlia DHT: joining it, validating the records other peers ask us
//! to store (see [`super::records`]), and the record, closest-peers and
//! provider queries services make, each answered from a capped pending map.

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use libp2p::kad::{
    self, Event, GetProvidersOk, GetRecordOk, InboundRequest as KadInbound, QueryResult,
};

use tokio::sync::oneshot;

use super::event_loop::{EventLoop, PeersReply, RecordsReply, StoreReply};
use super::pending::Pending;
use super::NetError;
use super::{record_guard, records};

/// Valid values one record lookup collects at most.
const MAX_VALUES: usize = 16;
/// Providers one lookup collects from each answer, at most.
const MAX_PROVIDERS: usize = 64;

/// What a pending DHT query holds: its reply, maybe with what was found so
/// far; either way it can be answered with an error.
trait Answer {
    /// Answers with `e` (a reply nobody waits for any more is dropped).
    fn fail(self, e: NetError);
}

impl<T> Answer for oneshot::Sender<Result<T, NetError>> {
    fn fail(self, e: NetError) {
        let _ = self.send(Err(e));
    }
}

impl<S, T> Answer for (S, oneshot::Sender<Result<T, NetError>>) {
    fn fail(self, e: NetError) {
        self.1.fail(e);
    }
}

/// Starts a query with `start` and waits for it in `pending` with `entry`.
/// A full map refuses before anything starts; a query that cannot start
/// answers with its error.
fn start_query<A: Answer>(
    pending: &mut Pending<kad::QueryId, A>,
    entry: A,
    start: impl FnOnce() -> Result<kad::QueryId, NetError>,
) {
    if let Err(full) = pending.room() {
        return entry.fail(full.into());
    }
    match start() {
        Ok(id) => {
            if let Err((full, entry)) = pending.insert(id, entry) {
                entry.fail(full.into());
            }
        }
        Err(e) => entry.fail(e),
    }
}

impl EventLoop {
    /// Joins the DHT: looks up our own id, which fills the routing table
    /// with the peers near us and tells them about us.
    pub(super) fn bootstrap(&mut self) {
        let me = *self.swarm.local_peer_id();
        self.swarm.behaviour_mut().kad.get_closest_peers(me);
        self.last_bootstrap = Some(Instant::now());
        self.lookup_spread = crate::random::spread();
    }

    /// Stores a record locally and with the peers closest to its key.
    pub(super) fn put_record(&mut self, key: Vec<u8>, value: Vec<u8>, reply: StoreReply) {
        start_query(&mut self.record_stores, reply, || {
            let mut record = kad::Record::new(key, value);
            record.expires =
                Some(Instant::now() + Duration::from_secs(records::ACCOUNT_RECORD_TTL_SECS));
            self.swarm
                .behaviour_mut()
                .kad
                .put_record(record, kad::Quorum::One)
                .map_err(NetError::DhtStore)
        });
    }

    /// Starts a record lookup; `reply` gets every valid value found.
    pub(super) fn get_record(&mut self, key: Vec<u8>, reply: RecordsReply) {
        start_query(&mut self.record_lookups, (Vec::new(), reply), || {
            Ok(self
                .swarm
                .behaviour_mut()
                .kad
                .get_record(kad::RecordKey::new(&key)))
        });
    }

    /// Starts a lookup of the `want` peers closest to `key` (libp2p caps
    /// it at 20).
    pub(super) fn closest_peers(&mut self, key: Vec<u8>, want: usize, reply: PeersReply) {
        let want = NonZeroUsize::new(want).unwrap_or(NonZeroUsize::MIN);
        start_query(&mut self.closest_lookups, reply, || {
            Ok(self
                .swarm
                .behaviour_mut()
                .kad
                .get_n_closest_peers(key, want))
        });
    }

    /// Starts (or stops) announcing that we provide `key`.
    pub(super) fn provide(&mut self, key: Vec<u8>, on: bool) {
        let kad = &mut self.swarm.behaviour_mut().kad;
        if on {
            if let Err(e) = kad.start_providing(kad::RecordKey::new(&key)) {
                tracing::debug!(error = ?e, "cannot provide");
            }
        } else {
            kad.stop_providing(&kad::RecordKey::new(&key));
        }
    }

    /// Starts a lookup of the peers providing `key`.
    pub(super) fn providers(&mut self, key: Vec<u8>, reply: PeersReply) {
        start_query(&mut self.provider_lookups, (HashSet::new(), reply), || {
            Ok(self
                .swarm
                .behaviour_mut()
                .kad
                .get_providers(kad::RecordKey::new(&key)))
        });
    }

    /// Whether we are among the peers a write under `key` should go to
    /// (see [`record_guard::close_enough`]), judged by our routing table.
    fn close_to(&mut self, key: &kad::RecordKey) -> bool {
        let me = *self.swarm.local_peer_id();
        let target = kad::KBucketKey::from(key.clone());
        let known: Vec<libp2p::PeerId> = self
            .swarm
            .behaviour_mut()
            .kad
            .get_closest_local_peers(&target)
            .take(record_guard::CLOSER_ALLOWED)
            .map(|k| *k.preimage())
            .collect();
        record_guard::close_enough(&me, key, known)
    }

    pub(super) fn on_kad_event(&mut self, ev: Event) {
        match ev {
            Event::InboundRequest {
                request:
                    KadInbound::PutRecord {
                        source,
                        record: Some(record),
                        ..
                    },
            } => {
                if !self.close_to(&record.key) {
                    tracing::debug!(peer = %source, "rejecting DHT record: key far from us");
                    return;
                }
                let kad = &mut self.swarm.behaviour_mut().kad;
                let stored = self.record_guard.admit_record(
                    kad.store_mut(),
                    source,
                    record,
                    weft_protocol::unix_now(),
                    Instant::now(),
                );
                if let Err(reason) = stored {
                    // Debug, not warn: strangers decide how often this happens.
                    tracing::debug!(peer = %source, %reason, "rejecting DHT record");
                }
            }
            Event::InboundRequest {
                request:
                    KadInbound::AddProvider {
                        record: Some(record),
                    },
            } => {
                let source = record.provider;
                if !self.close_to(&record.key) {
                    tracing::debug!(peer = %source, "rejecting provider record: key far from us");
                    return;
                }
                let kad = &mut self.swarm.behaviour_mut().kad;
                let stored =
                    self.record_guard
                        .admit_provider(kad.store_mut(), record, Instant::now());
                if let Err(reason) = stored {
                    tracing::debug!(peer = %source, %reason, "rejecting provider record");
                }
            }
            Event::OutboundQueryProgressed {
                id, result, step, ..
            } => self.on_query_progress(id, result, step.last),
            _ => {}
        }
    }

    /// One step of one of our queries; `last` when no more will come.
    fn on_query_progress(&mut self, id: kad::QueryId, result: QueryResult, last: bool) {
        match result {
            QueryResult::GetRecord(Ok(GetRecordOk::FoundRecord(found))) => {
                let now = weft_protocol::unix_now();
                let rec = found.record;
                if let Some((values, _)) = self.record_lookups.get_mut(&id) {
                    if records::validate(&rec.key.to_vec(), &rec.value, now).is_ok()
                        && values.len() < MAX_VALUES
                    {
                        values.push(rec.value);
                    }
                }
                if last {
                    self.finish_record_lookup(id);
                }
            }
            QueryResult::GetRecord(_) if last => self.finish_record_lookup(id),
            QueryResult::PutRecord(r) => {
                if let Some(reply) = self.record_stores.remove(&id) {
                    let _ = reply.send(r.map(|_| ()).map_err(NetError::DhtPut));
                }
            }
            QueryResult::GetProviders(r) => {
                if let Some((found, _)) = self.provider_lookups.get_mut(&id) {
                    if let Ok(GetProvidersOk::FoundProviders { providers, .. }) = r {
                        found.extend(providers.into_iter().take(MAX_PROVIDERS));
                    }
                }
                if last {
                    if let Some((found, reply)) = self.provider_lookups.remove(&id) {
                        let me = *self.swarm.local_peer_id();
                        let list = found
                            .into_iter()
                            .filter(|p| *p != me)
                            .map(|p| (p, Vec::new()))
                            .collect();
                        let _ = reply.send(Ok(list));
                    }
                }
            }
            QueryResult::Bootstrap(_) if self.refresh_query == Some(id) && last => {
                self.refresh_query = None;
            }
            QueryResult::Bootstrap(_) if self.refresh_query == Some(id) => {}
            QueryResult::Bootstrap(_) if !last => {
                // libp2p bootstraps on its own whenever a peer enters a
                // routing table of fewer than 20 (not configurable outside
                // its tests): a lookup of our id, then one lookup per
                // bucket, each contacting ~20 peers that are mostly not
                // connected. Among 300 idle simnet nodes those dials (each a
                // new connection and handshake) held both cores for as long
                // as the nodes ran. The lookup of our id has run by now (it
                // is the first step, and our own `bootstrap` does the same);
                // the bucket refreshes are ended here before they send
                // anything, and run on our schedule instead
                // (`EventLoop::maintain`, every `REFRESH_EVERY`).
                if let Some(mut q) = self.swarm.behaviour_mut().kad.query_mut(&id) {
                    q.finish();
                }
            }
            QueryResult::GetClosestPeers(r) => {
                let peers = match r {
                    Ok(ok) => ok.peers,
                    Err(kad::GetClosestPeersError::Timeout { peers, .. }) => peers,
                };
                if let Some(reply) = self.closest_lookups.remove(&id) {
                    let _ = reply.send(Ok(peers
                        .into_iter()
                        .map(|p| (p.peer_id, p.addrs))
                        .collect()));
                }
            }
            _ => {}
        }
    }

    fn finish_record_lookup(&mut self, id: kad::QueryId) {
        if let Some((values, reply)) = self.record_lookups.remove(&id) {
            let _ = reply.send(Ok(values));
        }
    }
}
