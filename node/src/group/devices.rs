//! Groups on an account with several devices (`docs/DEVICES.md`).
//!
//! Every device of a member is a reader and a sender of its own: it keeps
//! its own sending chain, and the chains of everyone else, handed to each
//! device of the member account. Three rules make that hold:
//!
//! - What this device does that the others must know (a membership change
//!   it made, its new chain, messages it read) goes to our own other
//!   devices as one copy each ([`crate::chat::Chat::send_direct_own`]).
//! - When a member's device list changes, the chains handed to that member
//!   are handed again (so a new device reads from then on); when a device
//!   left the list, every chain is replaced first, so the revoked device
//!   reads nothing sent after.
//! - When our own account gains a device, the first device sends it every
//!   group's whole log and secret.

use weft_protocol::{
    chat::MsgId,
    group::{Direct, GroupId},
    AccountId,
};

use super::{manage::log_parts, Groups};
use crate::store::StoreError;

impl Groups {
    /// `account`'s device list changed (`removed`: a device left it).
    /// Noted at once (the next send applies it first), then applied.
    pub(super) fn on_devices_changed(&self, account: AccountId, removed: bool) {
        if let Ok(mut v) = self.inner.device_changes.lock() {
            if v.len() < 4096 {
                v.push((account, removed));
            }
        }
        let me = self.clone();
        tokio::spawn(async move {
            let _guard = me.inner.lock.lock().await;
            me.spawn_send_logs(me.apply_device_changes());
        });
    }

    /// Applies the device list changes noted so far (the caller holds the
    /// service lock): chains are handed again to members whose devices
    /// changed, replaced where a device left. Returns, on the first device
    /// when our own account gained one, every group's whole log to send it.
    pub(super) fn apply_device_changes(&self) -> Result<Vec<Direct>, super::GroupsError> {
        let changes = match self.inner.device_changes.lock() {
            Ok(mut v) => std::mem::take(&mut *v),
            Err(_) => return Ok(Vec::new()),
        };
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let me = self.me();
        let mut logs = Vec::new();
        for (g, mut meta, l) in self.all()? {
            if !l.state.members.contains_key(&me) {
                continue;
            }
            let mut touched = false;
            let mut own_gained = false;
            for (account, removed) in &changes {
                if !l.state.members.contains_key(account) {
                    continue;
                }
                touched = true;
                if *removed {
                    // A fresh chain at the next send, handed only to the
                    // devices still listed.
                    meta.chain = None;
                    meta.shared_with.clear();
                } else {
                    meta.shared_with.remove(account);
                    own_gained |= *account == me;
                }
            }
            if !touched {
                continue;
            }
            self.store().put_group_meta(&g, &meta)?;
            if own_gained && self.inner.ctx.identity.primary {
                for part in log_parts(&l.log) {
                    logs.push(Direct::Changes {
                        group: g,
                        changes: part,
                        secret: Some(meta.secret),
                    });
                }
            }
        }
        Ok(logs)
    }

    /// Sends, in the background, what [`Groups::apply_device_changes`]
    /// returned (a device just linked learns every group we are in), after
    /// a flush.
    pub(super) fn spawn_send_logs(&self, logs: Result<Vec<Direct>, super::GroupsError>) {
        let logs = match logs {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot adjust groups to a device list change");
                return;
            }
        };
        if logs.is_empty() {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            let sent = async {
                // The version they went to is read first: a device linked
                // meanwhile is handled again at the next start.
                let version = me.store().device_list(&me.me())?.map_or(0, |l| l.version());
                me.store().flush_async().await?;
                me.inner.chat.send_direct_own(logs).await?;
                me.store().set_groups_handed(version)?;
                Ok::<(), super::GroupsError>(())
            };
            if let Err(e) = sent.await {
                tracing::warn!(error = %e, "cannot send our groups to a new device");
            }
        });
    }

    /// At start, on the first device: a device linked before the node
    /// stopped, whose group logs may not have been queued, gets them now.
    pub(super) fn resume_device_changes(&self) {
        if !self.inner.ctx.identity.primary {
            return;
        }
        let version = match self.store().device_list(&self.me()) {
            Ok(Some(l)) if l.body.devices.len() > 1 => l.version(),
            _ => return,
        };
        if self.store().groups_handed().unwrap_or(0) < version {
            // Through chat, which also hands the device our Moments key.
            self.inner.chat.devices_changed(&self.me(), false);
        }
    }

    /// Our other device read these messages of group `g`: read here too.
    pub(super) fn on_own_read(&self, g: GroupId, ids: &[MsgId]) -> Result<(), StoreError> {
        let mut top = 0;
        for id in ids {
            if let Some((mg, m)) = self.store().group_message(id)? {
                if mg == g {
                    top = top.max(m.lamport);
                }
            }
        }
        if top == 0 {
            return Ok(());
        }
        let me = self.clone();
        tokio::spawn(async move {
            let _guard = me.inner.lock.lock().await;
            if let Ok(mut meta) = me.meta(&g) {
                if top > meta.read_lamport {
                    meta.read_lamport = top;
                    if let Err(e) = me.store().put_group_meta(&g, &meta) {
                        tracing::warn!(error = %e, "cannot mark group messages read");
                    }
                }
            }
        });
        Ok(())
    }

    /// Every member of every group we are in, but us.
    pub(super) fn group_peers(&self) -> Vec<AccountId> {
        let me = self.me();
        let mut v: Vec<AccountId> = self
            .all()
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, _, l)| l.state.members.contains_key(&me))
            .flat_map(|(_, _, l)| l.state.members.keys().copied().collect::<Vec<_>>())
            .filter(|a| *a != me)
            .collect();
        v.sort();
        v.dedup();
        v
    }
}
