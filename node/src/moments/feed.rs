//! Reading: the feed, one post, and the visibility rules applied on the way
//! out. Only friends' and our own posts show; an author's "last N days"
//! setting hides their older posts; likes and comments from people who are
//! not our friends are hidden on others' posts (they were encrypted to us
//! only because we were friends when they were written).

use std::collections::HashMap;

use weft_protocol::{
    hex,
    moments::{ItemId, ReactionContent},
    AccountId,
};

use super::{CommentView, FeedEntry, ImageView, Moments, MomentsError};
use crate::store::moments::PostRecord;

/// Seconds in a day, for the "last N days" setting.
const DAY_SECS: u64 = 86_400;

impl Moments {
    /// Our "only show the last N days" setting (0 = everything).
    pub fn visible_days(&self) -> u32 {
        self.days_of(&self.me())
    }

    fn days_of(&self, a: &AccountId) -> u32 {
        self.inner
            .store
            .moment_settings(a)
            .ok()
            .flatten()
            .map(|(_, d)| d)
            .unwrap_or(0)
    }

    /// The oldest `at` of `author`'s posts that may be shown or served now.
    pub(super) fn cutoff(&self, author: &AccountId, now: u64) -> u64 {
        match self.days_of(author) {
            0 => 0,
            d => now.saturating_sub(u64::from(d) * DAY_SECS),
        }
    }

    /// `moments feed`: friends' and our posts, newest first, with the likes
    /// and comments we may see.
    pub fn feed(&self, limit: usize) -> Result<Vec<FeedEntry>, MomentsError> {
        let me = self.me();
        let now = weft_protocol::unix_now();
        let mut posts: Vec<(ItemId, PostRecord)> = self
            .inner
            .store
            .posts()?
            .into_iter()
            .filter(|(_, p)| p.author == me || self.is_friend(&p.author))
            .filter(|(_, p)| p.author == me || p.at >= self.cutoff(&p.author, now))
            .collect();
        posts.sort_by(|a, b| b.1.at.cmp(&a.1.at).then(b.0.cmp(&a.0)));
        posts.truncate(limit);
        let mut out = Vec::with_capacity(posts.len());
        for (id, p) in posts {
            out.push(self.entry(&id, p)?);
        }
        Ok(out)
    }

    /// One post as the feed shows it.
    pub fn get(&self, post: &str) -> Result<FeedEntry, MomentsError> {
        let (id, p) = self.stored_post(post)?;
        self.entry(&id, p)
    }

    /// A stored post with the reactions we may see folded in: the latest
    /// like or unlike of each person wins; comments stay in order.
    fn entry(&self, id: &ItemId, p: PostRecord) -> Result<FeedEntry, MomentsError> {
        let me = self.me();
        let visible = |from: &AccountId| p.author == me || *from == me || self.is_friend(from);
        let mut liked: HashMap<AccountId, (u64, bool)> = HashMap::new();
        let mut comments = Vec::new();
        for r in self.inner.store.reactions(id)? {
            if !visible(&r.from) {
                continue;
            }
            match r.content {
                ReactionContent::Like | ReactionContent::Unlike => {
                    let on = r.content == ReactionContent::Like;
                    let e = liked.entry(r.from).or_insert((0, false));
                    if r.at >= e.0 {
                        *e = (r.at, on);
                    }
                }
                ReactionContent::Comment { text, reply_to } => comments.push(CommentView {
                    id: hex::encode(&r.id),
                    author: r.from.to_string(),
                    author_name: self.name_of(&r.from),
                    text,
                    reply_to: reply_to.as_ref().map(|r| hex::encode(r)),
                    at: r.at,
                }),
            }
        }
        let mut likes: Vec<String> = liked
            .into_iter()
            .filter(|(_, (_, on))| *on)
            .map(|(a, _)| a.to_string())
            .collect();
        likes.sort();
        let images = p
            .content
            .images
            .iter()
            .map(|i| ImageView {
                blob: hex::encode(&i.blob),
                size: i.size,
                local: matches!(self.inner.blobs.get(&i.blob), Ok(Some(_))),
            })
            .collect();
        Ok(FeedEntry {
            id: hex::encode(id),
            author: p.author.to_string(),
            author_name: self.name_of(&p.author),
            at: p.at,
            text: p.content.text,
            images,
            link: p.content.link,
            likes,
            comments,
            audience: (p.author == me)
                .then(|| p.content.audience.iter().map(|a| a.to_string()).collect()),
        })
    }
}
