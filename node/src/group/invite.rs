//! Joining by link: an admin issues a link (a `Link` change, valid 7 days,
//! revocable); whoever has it sends a join request 1:1 to that admin's
//! node, which checks the link against the log and adds them at once, or,
//! with approval on, keeps the request until an admin approves.

use weft_protocol::{
    group::{
        log::{Invitee, Op},
        Direct, GroupId, GroupLink, LINK_VALIDITY_MS,
    },
    AccountId,
};

use super::{GroupEvent, Groups, GroupsError, RequestView};
use crate::store::group::JoinRequest;
use crate::store::StoreError;

impl Groups {
    /// `group link <g>`: a new link, valid for 7 days.
    pub async fn link(&self, g: &str) -> Result<GroupLink, GroupsError> {
        let g = self.resolve(g)?;
        let mut link = [0u8; 16];
        getrandom::fill(&mut link)
            .map_err(|_| GroupsError::Invalid(weft_protocol::group::GroupError::Random))?;
        let expires_ms = weft_protocol::unix_now_ms() + LINK_VALIDITY_MS;
        self.change(
            g,
            Op::Link {
                id: link,
                expires_ms,
            },
        )
        .await?;
        Ok(GroupLink {
            group: g,
            link,
            by: self.me(),
        })
    }

    /// `group link <g> --revoke LINK`.
    pub async fn revoke_link(&self, g: &str, link: &str) -> Result<(), GroupsError> {
        let g = self.resolve(g)?;
        let parsed: GroupLink = link.parse()?;
        if parsed.group != g {
            return Err(GroupsError::LinkInvalid);
        }
        self.change(g, Op::RevokeLink { id: parsed.link })
            .await
            .map(|_| ())
    }

    /// `group join <link>`: asks the link's issuer to let us in.
    pub async fn join(&self, link: &str) -> Result<GroupId, GroupsError> {
        let l: GroupLink = link.parse()?;
        if let Some(loaded) = self.loaded(&l.group)? {
            if loaded.state.members.contains_key(&self.me()) {
                return Ok(l.group);
            }
        }
        let name = self.store().name()?.unwrap_or_else(|| self.me().short());
        self.store().mark_asked_to_join(&l.group)?;
        self.inner
            .chat
            .send_direct(
                l.by,
                Direct::JoinRequest {
                    group: l.group,
                    link: l.link,
                    name,
                },
            )
            .await?;
        Ok(l.group)
    }

    /// A join request reached us (as the link's issuer).
    pub(super) fn on_join_request(
        &self,
        from: AccountId,
        g: GroupId,
        link: [u8; 16],
        name: String,
    ) -> Result<(), StoreError> {
        let Ok(Some(l)) = self.loaded(&g) else {
            return Ok(());
        };
        let now = weft_protocol::unix_now_ms();
        if !l.state.members.contains_key(&self.me()) || l.state.members.contains_key(&from) {
            return Ok(());
        }
        if !l.state.link_valid(&link, now) {
            tracing::info!(group = %g, %from, "join request with an expired or revoked link; refused");
            return Ok(());
        }
        let name: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
        if l.state.approval {
            if self.store().put_join_request(
                &g,
                &from,
                &JoinRequest {
                    name: name.clone(),
                    at_ms: now,
                },
            )? {
                self.emit(GroupEvent::GroupJoinRequest {
                    group: g.to_string(),
                    account_id: from.to_string(),
                    name,
                });
            }
            return Ok(());
        }
        let me = self.clone();
        tokio::spawn(async move {
            let op = Op::Add {
                members: vec![Invitee {
                    account: from,
                    name,
                }],
            };
            if let Err(e) = me.change(g, op).await {
                tracing::info!(group = %g, error = %e, "could not add someone who asked by link");
            }
        });
        Ok(())
    }

    /// `group requests <g>`.
    pub fn requests(&self, g: &str) -> Result<Vec<RequestView>, GroupsError> {
        let g = self.resolve(g)?;
        Ok(self
            .store()
            .join_requests(&g)?
            .into_iter()
            .map(|(a, r)| RequestView {
                account_id: a.to_string(),
                name: r.name,
                at: r.at_ms,
            })
            .collect())
    }

    /// `group approve <g> C`: adds someone who asked by link.
    pub async fn approve(&self, g: &str, who: &str) -> Result<(), GroupsError> {
        let g = self.resolve(g)?;
        let reqs = self.store().join_requests(&g)?;
        let t = who.trim();
        let hits: Vec<_> = reqs
            .iter()
            .filter(|(a, r)| {
                r.name == t
                    || a.to_string() == t
                    || (t.len() >= crate::chat::MIN_PREFIX && a.to_string().starts_with(t))
            })
            .collect();
        let (account, req) = match hits.as_slice() {
            [one] => (one.0, one.1.clone()),
            [] => return Err(GroupsError::NotInGroup(format!("{t} (no such request)"))),
            _ => return Err(GroupsError::Ambiguous(t.chars().take(80).collect())),
        };
        self.change(
            g,
            Op::Add {
                members: vec![Invitee {
                    account,
                    name: req.name,
                }],
            },
        )
        .await?;
        self.store().drop_join_request(&g, &account)?;
        Ok(())
    }
}
