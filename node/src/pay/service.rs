//! The pay service's background task: ops written but not settled (after
//! a crash, or while a mint was unreachable) are sent again; incoming
//! payments are claimed; unclaimed payments of ours are taken back after
//! their lock time; made payments not yet in the chat outbox are queued;
//! envelopes' shares are paid and their deadlines kept; our mints' DHT
//! records are refreshed.

use std::sync::Arc;
use std::time::Duration;

use super::{Inner, Pay};
use crate::budget::PeerBudget;
use crate::chat::Chat;
use crate::context::Context;
use crate::events::EventFeed;
use crate::group::Groups;
use crate::home::Home;
use crate::store::pay::{OpPurpose, PayStatus};

/// How often the task looks for work when nothing wakes it.
const TICK: Duration = Duration::from_secs(2);
/// How often our mints' DHT records are put again.
const REPUBLISH: Duration = Duration::from_secs(600);

impl Pay {
    /// Starts the service and registers it as chat's receiver of Pay business.
    pub fn start(ctx: Context, home: Home, chat: Chat, groups: Groups) -> Self {
        let events = EventFeed::new(1024);
        let pay = Pay {
            inner: Arc::new(Inner {
                ctx,
                home,
                chat: chat.clone(),
                groups,
                events,
                wallet_lock: tokio::sync::Mutex::new(()),
                packet_lock: tokio::sync::Mutex::new(()),
                shares_lock: tokio::sync::Mutex::new(()),
                tick_lock: tokio::sync::Mutex::new(()),
                wake: tokio::sync::Notify::new(),
                running: Default::default(),
                grabs: Default::default(),
                backoff: Default::default(),
                cards: Default::default(),
                keysets: Default::default(),
                mint_keys: Default::default(),
                asks: PeerBudget::new(super::inbound::ASKS_PER_MINUTE, Duration::from_secs(60)),
            }),
        };
        chat.set_pay_inbox(Arc::new(pay.clone()));
        let me = pay.clone();
        tokio::spawn(async move { me.run().await });
        pay
    }

    async fn run(&self) {
        let mut shutdown = self.inner.ctx.shutdown.clone();
        let mut tick = tokio::time::interval(TICK);
        let mut republish = tokio::time::interval(REPUBLISH);
        loop {
            tokio::select! {
                _ = async { let _ = shutdown.wait_for(|s| *s).await; } => return,
                _ = tick.tick() => {}
                _ = self.inner.wake.notified() => {}
                _ = republish.tick() => {
                    let me = self.clone();
                    tokio::spawn(async move { me.publish_mints().await });
                }
            }
            self.work().await;
        }
    }

    /// One round of the background work; each item runs on its own task.
    async fn work(&self) {
        let now_ms = weft_protocol::unix_now_ms();
        let now = now_ms / 1000;
        let ops = self.store().ops().unwrap_or_default();
        let busy: Vec<[u8; 16]> = self
            .inner
            .running
            .lock()
            .map(|r| r.iter().copied().collect())
            .unwrap_or_default();
        let waiting = |id: &[u8; 16]| {
            busy.contains(id)
                || self
                    .inner
                    .backoff
                    .lock()
                    .ok()
                    .and_then(|b| b.get(id).copied())
                    .is_some_and(|(at, _)| at > now_ms)
        };
        let op_keys: Vec<Vec<u8>> = ops
            .iter()
            .filter_map(|o| match &o.purpose {
                OpPurpose::Send(k) | OpPurpose::Claim(k) | OpPurpose::Refund(k) => Some(k.clone()),
                _ => None,
            })
            .collect();
        for op in ops {
            if waiting(&op.id) {
                continue;
            }
            let me = self.clone();
            tokio::spawn(async move {
                if let Err(e) = me.run_op(&op).await {
                    tracing::debug!(error = %e, "a pay operation waits");
                }
            });
        }
        for p in self.store().payments().unwrap_or_default() {
            if op_keys.contains(&p.key()) {
                continue;
            }
            match (&p.status, p.outgoing) {
                (PayStatus::Claiming, false) => {
                    let me = self.clone();
                    tokio::spawn(async move {
                        let r = if p.purpose == weft_protocol::pay::Purpose::Coupon {
                            me.redeem_coupon(&p).await;
                            Ok(())
                        } else {
                            me.claim(&p).await
                        };
                        if let Err(e) = r {
                            tracing::debug!(error = %e, "a claim waits");
                        }
                    });
                }
                (PayStatus::Sent, true) if !p.queued => {
                    let me = self.clone();
                    tokio::spawn(async move {
                        if let Err(e) = me.deliver_payment(p).await {
                            tracing::debug!(error = %e, "a payment waits for the outbox");
                        }
                    });
                }
                (PayStatus::Sent, true) if p.refund_at <= now && !p.proofs.is_empty() => {
                    let me = self.clone();
                    tokio::spawn(async move {
                        if let Err(e) = me.refund(&p).await {
                            tracing::debug!(error = %e, "a refund waits");
                        }
                    });
                }
                _ => {}
            }
        }
        let me = self.clone();
        tokio::spawn(async move { me.packets_tick().await });
    }
}
