//! `weft moments ...`: post, read the feed, like, comment, delete, images,
//! friend tags and the "last N days" setting. A thin client of the node's
//! `/v1/moments` API.

use weft_node::api::{
    moments::{ActionBody, PostBody, SettingsBody, TagBody},
    Created, Done, Stored,
};
use weft_node::moments::FeedEntry;

use crate::args::MomentsCommand;
use crate::client::{self, Client};
use crate::print;

/// Parses `--to`: `all`, `only:A,B`, `except:C`, or `only A B` (tags or friends).
pub fn parse_audience(to: &[String]) -> anyhow::Result<(String, Vec<String>)> {
    let Some(first) = to.first() else {
        return Ok(("all".into(), vec![]));
    };
    let (mode, rest) = match first.split_once(':') {
        Some((m, r)) => (m.to_ascii_lowercase(), Some(r.to_string())),
        None => (first.to_ascii_lowercase(), None),
    };
    let list: Vec<String> = rest
        .into_iter()
        .chain(to.iter().skip(1).cloned())
        .flat_map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    match mode.as_str() {
        "all" if list.is_empty() => Ok(("all".into(), list)),
        "only" | "except" if !list.is_empty() => Ok((mode, list)),
        _ => anyhow::bail!(
            "--to is `all`, `only ID...` or `except ID...` (friends' ids, names, or tag names)"
        ),
    }
}

/// `weft moments image --json`: where an image was written.
#[derive(serde::Serialize)]
struct ImageSaved {
    index: usize,
    post: String,
    size: usize,
}

/// Runs a `weft moments` subcommand.
pub async fn run(client: &Client, cmd: MomentsCommand, json_out: bool) -> anyhow::Result<()> {
    match cmd {
        MomentsCommand::Post {
            text,
            image,
            link,
            link_title,
            to,
        } => {
            let (mode, list) = parse_audience(&to)?;
            if image.len() > weft_protocol::moments::MAX_IMAGES {
                anyhow::bail!(
                    "{} images; a post has at most {}",
                    image.len(),
                    weft_protocol::moments::MAX_IMAGES
                );
            }
            let mut images = Vec::new();
            for f in &image {
                let meta = std::fs::metadata(f)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?;
                if meta.len() > weft_protocol::moments::MAX_IMAGE_BYTES as u64 {
                    anyhow::bail!(
                        "{} is {} bytes; an image is at most {} bytes",
                        f.display(),
                        meta.len(),
                        weft_protocol::moments::MAX_IMAGE_BYTES
                    );
                }
                let bytes = std::fs::read(f)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?;
                let v: Stored = client.post_bytes("/v1/moments/images", bytes).await?;
                images.push(v.id);
            }
            let body = PostBody {
                text: Some(text),
                images,
                link,
                link_title,
                to: Some(mode),
                list,
            };
            let v: Created = client.post("/v1/moments/post", &body).await?;
            print::created("posted", &v, json_out)
        }
        MomentsCommand::Feed { limit } => {
            let v: Vec<FeedEntry> = client
                .get(&format!("/v1/moments/feed?limit={limit}"))
                .await?;
            print::moments_feed(&v, json_out)
        }
        MomentsCommand::Show { post } => {
            let v: FeedEntry = client
                .get(&format!(
                    "/v1/moments/posts/{}",
                    client::query_escape(&post)
                ))
                .await?;
            print::moments_feed(&[v], json_out)
        }
        MomentsCommand::Like { post } => {
            let v: Created = client.post("/v1/moments/like", &on_post(post)).await?;
            print::created("liked", &v, json_out)
        }
        MomentsCommand::Unlike { post } => {
            let v: Created = client.post("/v1/moments/unlike", &on_post(post)).await?;
            print::created("like taken back", &v, json_out)
        }
        MomentsCommand::Comment {
            post,
            text,
            reply_to,
        } => {
            let body = ActionBody {
                post,
                text: Some(text),
                reply_to,
            };
            let v: Created = client.post("/v1/moments/comment", &body).await?;
            print::created("commented", &v, json_out)
        }
        MomentsCommand::Delete { post } => {
            let v: Done = client.post("/v1/moments/delete", &on_post(post)).await?;
            print::done(&v, json_out)
        }
        MomentsCommand::Image {
            post,
            index,
            out,
            from,
        } => {
            let bytes = client
                .get_bytes(&format!(
                    "/v1/moments/posts/{}/images/{index}?from={}",
                    client::query_escape(&post),
                    client::query_escape(&from.join(","))
                ))
                .await?;
            crate::write_download(&out, &bytes, json_out, |size| ImageSaved {
                index,
                post,
                size,
            })
        }
        MomentsCommand::Tag { name, members } => {
            let v: Done = client
                .post("/v1/moments/tags", &TagBody { members, name })
                .await?;
            print::done(&v, json_out)
        }
        MomentsCommand::Tags => {
            let v: Vec<TagBody> = client.get("/v1/moments/tags").await?;
            if json_out {
                println!("{}", serde_json::to_string(&v)?);
            } else {
                for t in &v {
                    let members: Vec<String> = t
                        .members
                        .iter()
                        .map(|m| m.chars().take(8).collect())
                        .collect();
                    println!("{:<16} {}", t.name, members.join(" "));
                }
            }
            Ok(())
        }
        MomentsCommand::Settings { visible_days } => {
            let v: SettingsBody = match visible_days {
                Some(d) => {
                    client
                        .post("/v1/moments/settings", &SettingsBody { visible_days: d })
                        .await?
                }
                None => client.get("/v1/moments/settings").await?,
            };
            if json_out {
                println!("{}", serde_json::to_string(&v)?);
            } else {
                match v.visible_days {
                    0 => println!("friends can see all your posts"),
                    d => println!("friends can see your posts from the last {d} days"),
                }
            }
            Ok(())
        }
    }
}

/// The body of `like`, `unlike` and `delete`: just the post.
fn on_post(post: String) -> ActionBody {
    ActionBody {
        post,
        text: None,
        reply_to: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_forms() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(parse_audience(&[]).unwrap().0, "all");
        assert_eq!(parse_audience(&v(&["all"])).unwrap().0, "all");
        assert_eq!(
            parse_audience(&v(&["ONLY:a,b"])).unwrap(),
            ("only".into(), v(&["a", "b"]))
        );
        assert_eq!(
            parse_audience(&v(&["except", "c", "d,e"])).unwrap(),
            ("except".into(), v(&["c", "d", "e"]))
        );
        assert!(parse_audience(&v(&["only"])).is_err());
        assert!(parse_audience(&v(&["some", "x"])).is_err());
    }
}
