//! The attachment service's background work: downloads that were started
//! and not finished are resumed (at start, then every minute while the
//! sources are away), attachments up to the automatic-download size are
//! fetched as their messages arrive, and held files expire.

use std::sync::Arc;
use std::time::Duration;

use libp2p::PeerId;
use tokio::sync::Semaphore;

use super::Files;
use crate::chat::{Chat, ChatEvent};
use crate::events::RecvError;
use crate::group::{GroupEvent, Groups};

/// How often unfinished downloads are retried.
const RESUME_EVERY: Duration = Duration::from_secs(60);
/// How often held files are checked for expiry.
const EXPIRE_EVERY: Duration = Duration::from_secs(3600);
/// Background downloads at once.
const BACKGROUND_DOWNLOADS: usize = 2;

pub(super) fn spawn(files: Files) {
    let mut shutdown = files.inner.ctx.shutdown.clone();
    tokio::spawn(async move {
        let mut resume = tokio::time::interval(RESUME_EVERY);
        let mut expire = tokio::time::interval(EXPIRE_EVERY);
        loop {
            tokio::select! {
                _ = async { let _ = shutdown.wait_for(|s| *s).await; } => return,
                _ = resume.tick() => files.resume().await,
                _ = expire.tick() => files.expire_held().await,
            }
        }
    });
}

impl Files {
    /// Restarts every download that was started and is not complete.
    async fn resume(&self) {
        let Ok(all) = self.inner.ctx.store.files() else {
            return;
        };
        for (_, s) in all {
            let (Some(att), false, true) = (s.attachment, s.complete, s.requested) else {
                continue;
            };
            let sources: Vec<PeerId> = s
                .sources
                .iter()
                .filter_map(|b| PeerId::from_bytes(b).ok())
                .collect();
            let this = self.clone();
            tokio::spawn(async move {
                if let Err(e) = this.download(&att, &sources).await {
                    tracing::debug!(error = %e, "download not resumed yet");
                }
            });
        }
    }

    /// Fetches attachments as their messages arrive, up to the automatic
    /// download size; remembers every attachment (its key and where it
    /// came from) so `chat save` can fetch the larger ones later.
    pub fn watch_messages(&self, chat: Chat, groups: Groups) {
        let this = self.clone();
        let mut chat_rx = chat.subscribe();
        let mut group_rx = groups.subscribe();
        let mut shutdown = self.inner.ctx.shutdown.clone();
        let slots = Arc::new(Semaphore::new(BACKGROUND_DOWNLOADS));
        tokio::spawn(async move {
            loop {
                let found = tokio::select! {
                    _ = async { let _ = shutdown.wait_for(|s| *s).await; } => return,
                    ev = chat_rx.recv() => match ev {
                        Ok(ChatEvent::Message { id, .. }) => chat.attachment(&id).ok().flatten(),
                        Ok(_) | Err(RecvError::Lagged(_)) => None,
                        Err(_) => return,
                    },
                    ev = group_rx.recv() => match ev {
                        Ok(GroupEvent::GroupMessage { id, .. }) => groups.attachment(&id).await.ok().flatten(),
                        Ok(_) | Err(RecvError::Lagged(_)) => None,
                        Err(_) => return,
                    },
                };
                let Some((att, sources)) = found else {
                    continue;
                };
                if let Err(e) = this.note_wanted(&att, &sources) {
                    tracing::warn!(error = %e, "cannot record an attachment");
                    continue;
                }
                if att.size > this.auto_download() {
                    continue;
                }
                let (this, slots) = (this.clone(), slots.clone());
                tokio::spawn(async move {
                    let Ok(_slot) = slots.acquire().await else {
                        return;
                    };
                    if let Err(e) = this.download(&att, &sources).await {
                        tracing::info!(error = %e, "automatic download failed; it will be retried");
                    }
                });
            }
        });
    }
}
