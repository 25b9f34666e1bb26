//! `weft moments ...`: post, read the feed, like, comment, delete, images,
//! friend tags and the "last N days" setting. A thin client of the node's
//! `/v1/moments` API.

use serde_json::{json, Value};

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
                let v: Value = client.post_bytes("/v1/moments/images", bytes).await?;
                images.push(v["id"].as_str().unwrap_or_default().to_string());
            }
            let v: Value = client
                .post(
                    "/v1/moments/post",
                    &json!({"text": text, "images": images, "link": link,
                            "link_title": link_title, "to": mode, "list": list}),
                )
                .await?;
            print::created("posted", &v, json_out)
        }
        MomentsCommand::Feed { limit } => {
            let v: Vec<Value> = client
                .get(&format!("/v1/moments/feed?limit={limit}"))
                .await?;
            print::moments_feed(&v, json_out)
        }
        MomentsCommand::Show { post } => {
            let v: Value = client
                .get(&format!(
                    "/v1/moments/posts/{}",
                    client::query_escape(&post)
                ))
                .await?;
            print::moments_feed(&[v], json_out)
        }
        MomentsCommand::Like { post } => {
            let v: Value = client
                .post("/v1/moments/like", &json!({ "post": post }))
                .await?;
            print::created("liked", &v, json_out)
        }
        MomentsCommand::Unlike { post } => {
            let v: Value = client
                .post("/v1/moments/unlike", &json!({ "post": post }))
                .await?;
            print::created("like taken back", &v, json_out)
        }
        MomentsCommand::Comment {
            post,
            text,
            reply_to,
        } => {
            let v: Value = client
                .post(
                    "/v1/moments/comment",
                    &json!({ "post": post, "text": text, "reply_to": reply_to }),
                )
                .await?;
            print::created("commented", &v, json_out)
        }
        MomentsCommand::Delete { post } => {
            let v: Value = client
                .post("/v1/moments/delete", &json!({ "post": post }))
                .await?;
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
            std::fs::write(&out, &bytes)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
            if json_out {
                println!(
                    "{}",
                    json!({ "post": post, "index": index, "size": bytes.len() })
                );
            } else {
                println!("wrote {} bytes to {}", bytes.len(), out.display());
            }
            Ok(())
        }
        MomentsCommand::Tag { name, members } => {
            let v: Value = client
                .post(
                    "/v1/moments/tags",
                    &json!({ "name": name, "members": members }),
                )
                .await?;
            print::done(&v, json_out)
        }
        MomentsCommand::Tags => {
            let v: Value = client.get("/v1/moments/tags").await?;
            if json_out {
                println!("{v}");
            } else {
                for t in v.as_array().into_iter().flatten() {
                    let members: Vec<String> = t["members"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|m| m.as_str().map(|s| s.chars().take(8).collect()))
                        .collect();
                    println!(
                        "{:<16} {}",
                        t["name"].as_str().unwrap_or(""),
                        members.join(" ")
                    );
                }
            }
            Ok(())
        }
        MomentsCommand::Settings { visible_days } => {
            let v: Value = match visible_days {
                Some(d) => {
                    client
                        .post("/v1/moments/settings", &json!({ "visible_days": d }))
                        .await?
                }
                None => client.get("/v1/moments/settings").await?,
            };
            if json_out {
                println!("{v}");
            } else {
                match v["visible_days"].as_u64().unwrap_or(0) {
                    0 => println!("friends can see all your posts"),
                    d => println!("friends can see your posts from the last {d} days"),
                }
            }
            Ok(())
        }
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
