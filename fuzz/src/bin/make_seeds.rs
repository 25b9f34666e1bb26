//! Writes the seed corpus: real messages built with the protocol's own API
//! (signed, sealed, encrypted as a node would), one file per message under
//! `corpus/<target>/`. Run from `fuzz/`: `cargo run --features seeds --bin make-seeds`.
//! Each seed is checked to decode before it is written, so a wire change
//! that breaks a seed shows here rather than as a silently useless corpus.

use std::{fs, path::Path};

use weft_fuzz::{recipient, sender, HOLDER, NOW};
use weft_protocol::{
    blob::{BlobReply, BlobRequest, Manifest},
    chat::{ChatBody, ChatKind, Delivery, DeliveryAck, MsgId},
    encode,
    mailbox::{MailboxAuth, MailboxReply, MailboxRequest},
    moments::{self, PostContent, ReactionContent, SyncFrom, SyncReply, SyncRequest},
    oa::{
        encode_reply, encode_request, Broadcast, BroadcastBody, OaKind, OaProfile, OaProfileBody,
        OaReply, OaRequest, Question, Verification,
    },
    profile::{HandleClaim, Profile, ProfileBody, ProfileReply},
    AccountKey, Card, Kind, WeftLink,
};

type Seeds = Vec<(&'static str, &'static str, Vec<u8>)>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seeds = seeds()?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (target, name, bytes) in &seeds {
        let dir = root.join(target);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join(name), bytes)?;
    }
    println!("{} seeds written under {}", seeds.len(), root.display());
    Ok(())
}

fn card(key: &AccountKey, name: &str) -> Result<Card, Box<dyn std::error::Error>> {
    let cert = key.certify_device([3; 32], NOW - 60);
    Ok(Card::new(
        key,
        cert,
        name,
        vec!["/ip4/127.0.0.1/tcp/4001".into()],
        NOW - 60,
    )?)
}

fn seeds() -> Result<Seeds, Box<dyn std::error::Error>> {
    let (me, them) = (recipient(), sender());
    let mut out: Seeds = Vec::new();
    let ada = card(&them, "Ada")?;
    let card_bytes = encode(Kind::Card, &ada)?;
    out.push(("card", "card", card_bytes.clone()));
    out.push(("envelope", "card", card_bytes.clone()));

    // Chat: bodies of every kind, sealed into a Delivery for the recipient.
    let kinds = [
        ChatKind::FriendRequest {
            card: ada.clone(),
            greeting: "Hi, it's Ada from the climbing gym".into(),
        },
        ChatKind::FriendAccept { card: ada.clone() },
        ChatKind::Text {
            text: "Coffee at 3? ☕".into(),
            reply_to: None,
        },
        ChatKind::Text {
            text: "Sure!".into(),
            reply_to: Some(MsgId([1; 32])),
        },
        ChatKind::Recall {
            target: MsgId([1; 32]),
        },
        ChatKind::Receipt {
            read: true,
            ids: vec![MsgId([1; 32]), MsgId([2; 32])],
        },
    ];
    let mut sealed = Vec::new();
    for (i, kind) in kinds.into_iter().enumerate() {
        let body = ChatBody {
            from: them.account_id(),
            to: me.account_id(),
            seq: i as u64 + 1,
            sent_at_ms: NOW * 1000,
            kind,
        };
        let bytes = body.encode()?;
        out.push((
            "chat",
            ["req", "acc", "text", "reply", "recall", "rcpt"][i],
            bytes.clone(),
        ));
        sealed.push(weft_protocol::seal(&them, &me.account_id(), &bytes)?);
    }
    out.push(("seal", "sealed", sealed[2].clone()));
    let (_, msg1) = weft_protocol::initiate(&them, &me.account_id(), b"live session")?;
    out.push(("seal", "ik1", msg1));
    let delivery = encode(
        Kind::Delivery,
        &Delivery {
            from: them.account_id(),
            items: sealed.clone(),
        },
    )?;
    out.push(("chat", "delivery", delivery.clone()));
    out.push(("envelope", "delivery", delivery));
    let ack = DeliveryAck {
        accepted: vec![weft_protocol::chat::item_hash(&sealed[0])],
        rejected: vec![[0; 32]],
    };
    out.push(("chat", "ack", encode(Kind::DeliveryAck, &ack)?));

    // Mailbox.
    let deposit = MailboxRequest::Deposit {
        to: me.account_id(),
        items: sealed[..2].to_vec(),
    };
    let fetch = MailboxRequest::Fetch {
        auth: MailboxAuth::new(&me, HOLDER.to_vec(), NOW, 0),
        after: Some([5; 32]),
    };
    let delete = MailboxRequest::Delete {
        auth: MailboxAuth::new(&me, HOLDER.to_vec(), NOW, 1),
        items: vec![[4; 32]],
    };
    for (name, req) in [("deposit", deposit), ("fetch", fetch), ("delete", delete)] {
        out.push(("mailbox", name, encode(Kind::MailboxRequest, &req)?));
    }
    let reply = MailboxReply::Deposited { accepted: 2 };
    out.push(("mailbox", "deposited", encode(Kind::MailboxReply, &reply)?));

    // Blobs.
    let (manifest, chunks) = Manifest::build(&[42u8; 300_000])?;
    out.push((
        "blob",
        "req",
        encode(Kind::BlobRequest, &BlobRequest::Manifest(manifest.id()))?,
    ));
    out.push((
        "blob",
        "manifest",
        encode(Kind::BlobReply, &BlobReply::Manifest(manifest))?,
    ));
    if let Some(first) = chunks.first() {
        let small = first[..1024.min(first.len())].to_vec();
        out.push((
            "blob",
            "chunk",
            encode(Kind::BlobReply, &BlobReply::Chunk(small))?,
        ));
    }

    // Regression: a manifest whose size disagrees with its chunks made
    // `check_chunk` overflow (fixed in protocol/src/blob.rs).
    let bad = Manifest {
        size: 0,
        chunks: vec![[0; 32], [1; 32]],
    };
    out.push((
        "blob",
        "crash-size-underflow",
        encode(Kind::BlobReply, &BlobReply::Manifest(bad))?,
    ));

    // Moments: a post for the recipient, a comment on it, backfill.
    let content = PostContent {
        text: "Sunrise over the harbour 🌅".into(),
        images: vec![],
        link: None,
        audience: vec![me.account_id()],
    };
    let key = moments::new_key()?;
    let post = moments::make_post(&them, &content, &key, NOW)?;
    let comment = moments::make_reaction(
        &me,
        them.account_id(),
        post.id(),
        &ReactionContent::Comment {
            text: "Gorgeous!".into(),
            reply_to: None,
        },
        &[],
        NOW + 1,
    )?;
    let post_bytes = encode(Kind::MomentItem, &post)?;
    out.push(("moments", "post", post_bytes.clone()));
    out.push(("moments", "comment", encode(Kind::MomentItem, &comment)?));
    out.push(("envelope", "post", post_bytes));
    let sync_req = SyncRequest {
        authors: vec![SyncFrom {
            author: them.account_id(),
            at: NOW - 3600,
            after: Some(post.id()),
        }],
    };
    out.push(("sync", "req", encode(Kind::SyncRequest, &sync_req)?));
    let sync_reply = SyncReply {
        items: vec![post.to_bytes(), comment.to_bytes()],
        more: false,
    };
    out.push(("sync", "reply", encode(Kind::SyncReply, &sync_reply)?));

    // Groups: a wire under the fuzz chain, a catch-up request and a reply
    // carrying a small log (create, add, rename) and the wire; a link.
    {
        use weft_protocol::group::{
            log::{Change, ChangeBody, Invitee, Op},
            GroupId, GroupKind, GroupLink, GroupPlain, SyncReply as GReply,
            SyncRequest as GRequest,
        };
        let create = Change::sign(
            &them,
            ChangeBody {
                group: GroupId([0; 32]),
                parents: vec![],
                author: them.account_id(),
                at_ms: NOW * 1000,
                op: Op::Create {
                    name: "Climbers".into(),
                    owner_name: "Ada".into(),
                    nonce: [1; 16],
                    approval: false,
                },
            },
        )?;
        let g = create.group();
        let add = Change::sign(
            &them,
            ChangeBody {
                group: g,
                parents: vec![create.id()],
                author: them.account_id(),
                at_ms: NOW * 1000 + 1,
                op: Op::Add {
                    members: vec![Invitee {
                        account: me.account_id(),
                        name: "Bao".into(),
                    }],
                },
            },
        )?;
        let rename = Change::sign(
            &me,
            ChangeBody {
                group: g,
                parents: vec![add.id()],
                author: me.account_id(),
                at_ms: NOW * 1000 + 2,
                op: Op::Rename {
                    name: "Mine".into(),
                },
            },
        )?;
        let mut chain = weft_fuzz::group_chain();
        let plain = GroupPlain {
            group: g,
            sender: them.account_id(),
            lamport: 3,
            seq: 1,
            sent_at_ms: NOW * 1000,
            kind: GroupKind::Text {
                text: "Saturday 9am?".into(),
                reply_to: None,
                mentions: vec![me.account_id()],
                all: false,
            },
        };
        let wire = chain.encrypt(&plain.to_bytes()?)?;
        let wire_bytes = wire.encode()?;
        out.push(("group", "wire", wire_bytes.clone()));
        let req = GRequest {
            group: g,
            have: vec![(wire.key_id, 1)],
            skip: vec![wire.id()],
            changes: 1,
        };
        out.push(("group", "req", encode(Kind::GroupSyncRequest, &req)?));
        let reply = GReply {
            wires: vec![wire_bytes],
            more: false,
            changes: vec![create, add, rename],
        };
        out.push(("group", "reply", encode(Kind::GroupSyncReply, &reply)?));
        let link = GroupLink {
            group: g,
            link: [4; 16],
            by: them.account_id(),
        };
        out.push(("group", "link", link.to_string().into_bytes()));
    }

    // Official accounts: a verified profile, a broadcast, the requests.
    let oa_key = AccountKey::from_bytes(&[11; 32])?;
    let verification = Verification::issue(
        &them,
        "Weft Verify",
        oa_key.account_id(),
        "Bao's Daily",
        OaKind::Subscription,
        NOW - 10,
    );
    let profile = OaProfile::new(
        &oa_key,
        OaProfileBody {
            card: card(&oa_key, "Bao's Daily")?,
            kind: OaKind::Subscription,
            description: "News from the harbour".into(),
            verification: Some(verification.clone()),
        },
    )?;
    let broadcast = Broadcast::new(
        &oa_key,
        BroadcastBody {
            profile: profile.clone(),
            period: OaKind::Subscription.period_of(NOW),
            seq: 1,
            published_at: NOW,
            title: "Ferry times change".into(),
            body: "From Monday the 7:10 leaves at 7:20.".into(),
            link: Some("https://example.org/ferry".into()),
            parts: vec![],
            images: vec![],
        },
    )?;
    let b_bytes = encode(Kind::OaBroadcast, &broadcast)?;
    out.push(("oa", "broadcast", b_bytes.clone()));
    out.push(("envelope", "broadcast", b_bytes));
    out.push(("oa", "verification", postcard::to_stdvec(&verification)?));
    let question = Question {
        from: me.account_id(),
        text: "When is the next ferry?".into(),
    };
    out.push(("oa", "question", question.to_bytes()?));
    let posts = OaReply::Posts(vec![postcard::to_stdvec(&broadcast)?]);
    out.push(("oa", "posts", encode_reply(&posts)?));
    let accounts = OaReply::Accounts(vec![postcard::to_stdvec(&profile)?]);
    out.push(("oa", "accounts", encode_reply(&accounts)?));
    let recent = OaRequest::Recent {
        account: oa_key.account_id(),
        limit: 20,
    };
    out.push(("oa", "recent", encode_request(&recent)?));
    out.push(("oa", "accounts_req", encode_request(&OaRequest::Accounts)?));

    // People Nearby and handles.
    let nearby = Profile::new(
        &them,
        ProfileBody {
            card: ada.clone(),
            whats_up: "dumplings anyone? 🥟".into(),
            region: "Chengdu".into(),
            avatar: None,
            cell: Some("wm3vz".into()),
            visible_until: NOW + 3600,
        },
    )?;
    let p_bytes = encode(Kind::ProfileReply, &ProfileReply::Visible(Box::new(nearby)))?;
    out.push(("profile", "visible", p_bytes));
    let claim = HandleClaim::new(&them, "ada_climbs", ada.clone(), NOW)?;
    let claim_bytes = encode(Kind::HandleClaim, &claim)?;
    out.push(("profile", "claim", claim_bytes.clone()));

    // DHT records, laid out as the `records` target reads its input.
    use weft_node::net::records;
    let account_key = records::account_key(&them.account_id());
    out.push((
        "records",
        "account",
        weft_fuzz::record_input(&account_key, &card_bytes, None),
    ));
    let handle_key = records::handle_key(&claim.handle);
    out.push((
        "records",
        "handle",
        weft_fuzz::record_input(&handle_key, &claim_bytes, Some(&claim_bytes)),
    ));

    // Frames: a limit selector byte, then a length-prefixed frame.
    let mut frame = vec![3u8];
    frame.extend_from_slice(&(5u32).to_be_bytes());
    frame.extend_from_slice(b"hello");
    out.push(("frame", "hello", frame));

    let link = WeftLink {
        account: them.account_id(),
        peer: None,
        addrs: vec!["/ip4/127.0.0.1/tcp/4001".into()],
        name: Some("Ada".into()),
    };
    out.push(("link", "link", link.to_string().into_bytes()));
    out.push((
        "link",
        "account",
        them.account_id().to_string().into_bytes(),
    ));

    check(&out);
    Ok(out)
}

/// Runs every seed through its target once: a seed must not crash it.
fn check(seeds: &Seeds) {
    for (target, _, bytes) in seeds {
        let f: fn(&[u8]) = match *target {
            "envelope" => weft_fuzz::envelope,
            "card" => weft_fuzz::card,
            "chat" => weft_fuzz::chat,
            "seal" => weft_fuzz::seal,
            "mailbox" => weft_fuzz::mailbox,
            "blob" => weft_fuzz::blob,
            "sync" => weft_fuzz::sync,
            "oa" => weft_fuzz::oa,
            "moments" => weft_fuzz::moments,
            "profile" => weft_fuzz::profile,
            "records" => weft_fuzz::records,
            "frame" => weft_fuzz::frame,
            "link" => weft_fuzz::link,
            "group" => weft_fuzz::group,
            other => panic!("seed for unknown target {other}"),
        };
        f(bytes);
    }
}
