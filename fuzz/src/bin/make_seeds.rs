//! Writes the seed corpus: real messages built with the protocol's own API
//! (signed, sealed, encrypted as a node would), one file per message under
//! `corpus/<target>/`. Run from `fuzz/`: `cargo run --features seeds --bin make-seeds`.
//! Each seed is checked to decode before it is written, so a wire change
//! that breaks a seed shows here rather than as a silently useless corpus.

use std::{fs, path::Path};

use weft_fuzz::{recipient, sender, FILE_KEY, HOLDER, NOW};
use weft_protocol::{
    blob::{BlobReply, BlobRequest, Manifest},
    chat::{ChatBody, ChatKind, Delivery, DeliveryAck, MsgId},
    encode,
    file::{self, Attachment, AttachmentKind, FileManifest, FileReply, FileRequest},
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

    // Attachments: a photo (with the thumbnail the node makes) and a
    // voice note, as chat and group messages carry them.
    let (photo, voice) = attachments()?;

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
        ChatKind::File {
            attachment: photo.clone(),
            caption: "The crag this morning".into(),
            reply_to: Some(MsgId([1; 32])),
        },
        ChatKind::MomentsKey { key: [3; 32] },
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
            ["req", "acc", "text", "reply", "recall", "rcpt", "file", "mkey"][i],
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
            items: sealed
                .iter()
                .cloned()
                .map(weft_protocol::chat::DeliveryItem::Sealed)
                .collect(),
            devices: None,
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
    let post = moments::make_post(&them, &content, &key, NOW, &[])?;
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
            proof: weft_protocol::moments::topic_tag(&them.account_id(), &[3; 32]),
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
        let file_plain = GroupPlain {
            seq: 2,
            lamport: 4,
            kind: GroupKind::File {
                attachment: voice.clone(),
                caption: String::new(),
                reply_to: None,
            },
            ..plain
        };
        let file_wire = chain.encrypt(&file_plain.to_bytes()?)?;
        // The target opens wires with a chain at iteration 0: this one, the
        // second, must open and check there too.
        let share = weft_fuzz::group_chain().share()?;
        let receiving =
            weft_protocol::group::sender_key::ReceivingChain::new(them.account_id(), 0, &share);
        let (opened, _) = receiving.open(&file_wire)?;
        assert_eq!(GroupPlain::from_bytes(&opened)?, file_plain);
        out.push(("group", "wire_file", file_wire.encode()?));
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
            keys: Vec::new(),
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

    file_seeds(&mut out, &photo, &voice)?;
    media_seeds(&mut out);
    device_seeds(&mut out, &them, &ada)?;
    pay_seeds(&mut out, &them)?;

    check(&out);
    Ok(out)
}

/// What `/weft/mint/1` and Pay messages carry: a swap of a locked proof
/// sealed to the fixed recipient (as a mint), an answer, a transfer, a
/// payment request and a token as text.
fn pay_seeds(out: &mut Seeds, payer: &AccountKey) -> Result<(), Box<dyn std::error::Error>> {
    use weft_protocol::pay::{
        blind, mint_public, mint_secret, sign_output, unblind, witness, Input, Lock, MintAnswer,
        MintEnvelope, MintReply, MintRequest, Output, PayMsg, PayRequest, Purpose, Secret,
        Token, Transfer,
    };
    let k = mint_secret(&[5; 32], "CNY", 8)?;
    let lock = Lock {
        to: vec![weft_fuzz::recipient().account_id()],
        refund: payer.account_id(),
        locktime: weft_fuzz::NOW + 3600,
    };
    let secret = Secret::new(Some(lock))?.encode()?;
    let (b, r) = blind(&secret)?;
    let out0 = Output { amount: 8, b };
    let promise = sign_output(&k, &out0)?;
    let proof = unblind(&promise, &out0, &r, secret, &mint_public(&k)?)?;
    let (b2, _) = blind(&Secret::new(None)?.encode()?)?;
    let outputs = vec![Output { amount: 8, b: b2 }];
    let req = MintRequest::Swap {
        currency: "CNY".into(),
        inputs: vec![Input {
            witness: Some(witness(&weft_fuzz::recipient(), "CNY", &proof, &outputs)),
            proof: proof.clone(),
        }],
        outputs,
    };
    let (_, msg1) = weft_protocol::seal::initiate(
        payer,
        &weft_fuzz::recipient().account_id(),
        &postcard::to_stdvec(&req)?,
    )?;
    let env = MintEnvelope {
        mint: weft_fuzz::recipient().account_id(),
        msg1,
    };
    out.push(("pay", "mint-request", encode(Kind::MintRequest, &env)?));
    out.push(("pay", "swap", postcard::to_stdvec(&req)?));
    out.push(("pay", "signed", postcard::to_stdvec(&MintReply::Signed(vec![promise]))?));
    out.push((
        "pay",
        "refused",
        encode(Kind::MintReply, &MintAnswer::Refused("no".into()))?,
    ));
    let transfer = PayMsg::Transfer(Transfer {
        id: [1; 16],
        mint: weft_fuzz::recipient().account_id(),
        currency: "CNY".into(),
        amount: 8,
        note: "lunch".into(),
        proofs: vec![proof.clone()],
        purpose: Purpose::Gift,
    });
    out.push(("pay", "transfer", postcard::to_stdvec(&transfer)?));
    let request = PayRequest::new(
        payer,
        payer.account_id(),
        "Shop",
        weft_fuzz::recipient().account_id(),
        "CNY",
        800,
        "coffee",
        weft_fuzz::NOW + 600,
    )?;
    out.push(("pay", "request", request.to_link()?.into_bytes()));
    let token = Token {
        mint: weft_fuzz::recipient().account_id(),
        currency: "CNY".into(),
        proofs: vec![proof],
    };
    out.push(("pay", "token", token.to_text()?.into_bytes()));
    Ok(())
}

/// What `/weft/device/1` carries: a join (its handshake made with the fixed
/// code), the primary's answer, a pushed list, history pages, a code.
fn device_seeds(
    out: &mut Seeds,
    account: &AccountKey,
    card: &Card,
) -> Result<(), Box<dyn std::error::Error>> {
    use weft_protocol::device::{
        link_initiate, link_respond, DeviceEntry, DeviceList, DeviceListBody, DeviceReply,
        DeviceRequest, JoinReply, JoinRequest, SyncContact, SyncMessage,
    };
    let code = weft_fuzz::fixed_code();
    let list = DeviceList::sign(
        account,
        DeviceListBody {
            account: account.account_id(),
            version: 2,
            primary: [3; 32],
            devices: vec![
                DeviceEntry {
                    device_key: [3; 32],
                    name: "Phone".into(),
                    added_at: NOW - 60,
                },
                DeviceEntry {
                    device_key: [4; 32],
                    name: "Laptop".into(),
                    added_at: NOW,
                },
            ],
            issued_at: NOW,
        },
    )?;
    out.push(("device", "list", encode(Kind::DeviceList, &list)?));
    let join = encode(
        Kind::JoinRequest,
        &JoinRequest {
            device_key: [4; 32],
            name: "Laptop".into(),
        },
    )?;
    out.push(("device", "join-request", join.clone()));
    let (_, msg1) = link_initiate(&code.psk(), &join)?;
    out.push(("device", "msg1", msg1.clone()));
    let req = DeviceRequest::Join {
        code: code.id(),
        msg1: msg1.clone(),
    };
    out.push(("device", "join", encode(Kind::DeviceRequest, &req)?));
    let reply = encode(
        Kind::JoinReply,
        &JoinReply {
            cert: account.certify_device([4; 32], NOW),
            list: list.clone(),
            name: "Ada".into(),
        },
    )?;
    out.push(("device", "join-reply", reply.clone()));
    let (resp, _) = link_respond(&code.psk(), &msg1)?;
    let msg2 = resp.reply(&reply)?;
    out.push((
        "device",
        "joined",
        encode(Kind::DeviceReply, &DeviceReply::Joined { msg2 })?,
    ));
    out.push((
        "device",
        "push",
        encode(Kind::DeviceRequest, &DeviceRequest::List(list.clone()))?,
    ));
    out.push((
        "device",
        "history-ask",
        encode(
            Kind::DeviceRequest,
            &DeviceRequest::History {
                conv: account.account_id(),
                keep: 1000,
                after: Some(vec![1; 72]),
            },
        )?,
    ));
    out.push((
        "device",
        "contacts",
        encode(
            Kind::DeviceReply,
            &DeviceReply::Contacts {
                contacts: vec![SyncContact {
                    account: account.account_id(),
                    name: "Ada".into(),
                    remark: Some("Ada L.".into()),
                    state: 0,
                    greeting: None,
                    card: Some(card.clone()),
                }],
                lists: vec![list],
            },
        )?,
    ));
    out.push((
        "device",
        "history",
        encode(
            Kind::DeviceReply,
            &DeviceReply::History {
                messages: vec![SyncMessage {
                    id: MsgId([8; 32]),
                    from: account.account_id(),
                    seq: 1,
                    sent_at_ms: NOW * 1000,
                    text: "hello from the phone".into(),
                    reply_to: None,
                    status: 2,
                    attachment: None,
                }],
                next: Some(vec![2; 72]),
            },
        )?,
    ));
    out.push((
        "device",
        "group-history-ask",
        encode(
            Kind::DeviceRequest,
            &DeviceRequest::GroupHistory {
                group: weft_protocol::group::GroupId([4; 32]),
                keep: 1000,
                after: Some(vec![1; 88]),
            },
        )?,
    ));
    out.push((
        "device",
        "group-history",
        encode(
            Kind::DeviceReply,
            &DeviceReply::GroupHistory {
                messages: vec![weft_protocol::device::SyncGroupMessage {
                    id: MsgId([9; 32]),
                    from: account.account_id(),
                    seq: 3,
                    lamport: 7,
                    sent_at_ms: NOW * 1000,
                    text: "ropes at eight @Bao".into(),
                    reply_to: None,
                    mentions: vec![account.account_id()],
                    all: false,
                    recalled: false,
                    attachment: None,
                }],
                next: None,
            },
        )?,
    ));
    out.push(("device", "code", code.to_link().into_bytes()));
    Ok(())
}

/// Seals `plain` into chunks under the seeds' file key and builds its
/// manifest, as `node/src/files/stage.rs` does (a file of whole segments
/// has no empty segment after them; an empty file has one).
fn sealed_file(plain: &[u8]) -> Result<(FileManifest, Vec<Vec<u8>>), file::FileError> {
    let segments: Vec<&[u8]> = if plain.is_empty() {
        vec![plain]
    } else {
        plain.chunks(file::SEGMENT).collect()
    };
    let mut chunks = Vec::new();
    for (index, segment) in segments.into_iter().enumerate() {
        let mut buf = segment.to_vec();
        file::seal_segment(&FILE_KEY, index as u64, &mut buf)?;
        chunks.push(buf);
    }
    let manifest = FileManifest {
        size: file::cipher_size(plain.len() as u64),
        chunks: chunks
            .iter()
            .map(|c| weft_protocol::content_id(c))
            .collect(),
    };
    manifest.check(&manifest.id())?;
    assert!(manifest.fits(plain.len() as u64));
    for (i, c) in chunks.iter().enumerate() {
        manifest.check_chunk(i, c)?;
    }
    Ok((manifest, chunks))
}

/// A photo attachment (a real file, its thumbnail made by the node's own
/// code) and a voice note.
fn attachments() -> Result<(Attachment, Attachment), Box<dyn std::error::Error>> {
    use weft_node::media::{audio_duration_ms, samples, sniff_mime, thumbnail};
    let jpeg = samples::jpeg_with_gps(64, 48);
    let (thumb, w, h) = thumbnail(&jpeg)?;
    let (m, _) = sealed_file(&jpeg)?;
    let photo = Attachment {
        kind: AttachmentKind::Image,
        file: m.id(),
        key: FILE_KEY,
        size: jpeg.len() as u64,
        mime: sniff_mime(&jpeg),
        name: "crag.jpg".into(),
        thumb: Some(thumb),
        dims: Some((w, h)),
        duration_ms: None,
    };
    let ogg = samples::ogg_opus(1500);
    let (m, _) = sealed_file(&ogg)?;
    let voice = Attachment {
        kind: AttachmentKind::Voice,
        file: m.id(),
        key: FILE_KEY,
        size: ogg.len() as u64,
        mime: sniff_mime(&ogg),
        name: "voice.ogg".into(),
        thumb: None,
        dims: None,
        duration_ms: audio_duration_ms(&ogg, &ogg),
    };
    photo.check()?;
    voice.check()?;
    Ok((photo, voice))
}

/// `/weft/file/1`: every request and reply, manifests of a one-chunk and
/// a two-chunk file, a sealed chunk, and attachments as postcard.
fn file_seeds(
    out: &mut Seeds,
    photo: &Attachment,
    voice: &Attachment,
) -> Result<(), Box<dyn std::error::Error>> {
    let notes = "Minutes of the climbing club, 14 March.\n\
        Present: Ada, Bao, Chen. New ropes ordered; Saturday trip moved to 9am.\n"
        .repeat(8);
    let (small, chunks) = sealed_file(notes.as_bytes())?;
    let (two, _) = sealed_file(&vec![0x5a; file::SEGMENT + 500])?;
    let (empty, _) = sealed_file(&[])?;
    let id = small.id();
    let requests = [
        ("req_manifest", FileRequest::Manifest(id)),
        ("req_chunk", FileRequest::Chunk { file: id, index: 1 }),
        (
            "req_hold",
            FileRequest::Hold {
                file: two.id(),
                size: two.size,
            },
        ),
        ("req_have", FileRequest::Have(id)),
    ];
    for (name, req) in requests {
        out.push(("file", name, encode(Kind::FileRequest, &req)?));
    }
    let replies = [
        ("manifest", FileReply::Manifest(small)),
        ("manifest_two", FileReply::Manifest(two)),
        ("manifest_empty", FileReply::Manifest(empty)),
        ("chunk", FileReply::Chunk(chunks[0].clone())),
        ("missing", FileReply::Missing),
        ("holding", FileReply::Holding),
        (
            "refused",
            FileReply::Refused("over the holding quota".into()),
        ),
        ("have", FileReply::Have { chunks: 1, of: 2 }),
    ];
    for (name, reply) in replies {
        out.push(("file", name, encode(Kind::FileReply, &reply)?));
    }
    out.push(("file", "att_photo", postcard::to_stdvec(photo)?));
    out.push(("file", "att_voice", postcard::to_stdvec(voice)?));
    Ok(())
}

/// One EBML element with an 8-byte size.
fn ebml(id: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = id.to_vec();
    out.push(1);
    out.extend(&(data.len() as u64).to_be_bytes()[1..]);
    out.extend(data);
    out
}

/// A minimal WebM head: EBML header, a Segment and Cluster of unknown size
/// (as live recorders write them), Info with a duration, one track of
/// `track_type` (1 video, 2 audio).
fn webm(duration_ms: f64, track_type: u8) -> Vec<u8> {
    let unknown_size = [1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
    let mut info = ebml(&[0x2A, 0xD7, 0xB1], &1_000_000u32.to_be_bytes());
    info.extend(ebml(&[0x44, 0x89], &duration_ms.to_be_bytes()));
    let track = ebml(&[0xAE], &ebml(&[0x83], &[track_type]));
    let mut out = ebml(&[0x1A, 0x45, 0xDF, 0xA3], &ebml(&[0x42, 0x82], b"webm"));
    out.extend([0x18, 0x53, 0x80, 0x67]);
    out.extend(unknown_size);
    out.extend(ebml(&[0x15, 0x49, 0xA9, 0x66], &info));
    out.extend(ebml(&[0x16, 0x54, 0xAE, 0x6B], &track));
    out.extend([0x1F, 0x43, 0xB6, 0x75]);
    out.extend(unknown_size);
    out
}

/// Media as the `media` target reads it: a byte that picks where head and
/// tail part, then the file.
fn media_seeds(out: &mut Seeds) {
    use weft_node::media::samples;
    let with = |pick: u8, bytes: &[u8]| [&[pick][..], bytes].concat();
    let files: [(&'static str, u8, Vec<u8>); 11] = [
        ("jpeg", 255, samples::jpeg_with_gps(64, 48)),
        ("png", 255, samples::png_rgb(4, 3)),
        ("png_bomb", 255, samples::png_bomb()),
        ("ogg", 128, samples::ogg_opus(1500)),
        ("webm_audio", 255, webm(2500.0, 2)),
        ("webm_video", 255, webm(61_000.0, 1)),
        (
            "pdf",
            255,
            b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj\n".to_vec(),
        ),
        ("text", 255, "Notes from Saturday — bring chalk.\n".into()),
        ("path", 255, b"../../etc/passwd".to_vec()),
        ("bidi", 255, "holiday\u{202E}gpj.exe".into()),
        ("mime", 40, b"audio/ogg; codecs=opus\nvoice.ogg".to_vec()),
    ];
    for (name, pick, bytes) in files {
        out.push(("media", name, with(pick, &bytes)));
    }
    // Regression: dots and spaces in turn (". ..") came out of
    // `safe_file_name` as "..", a directory (fixed in node/src/media/mod.rs).
    out.push(("media", "crash-dot-space-dot", with(0, b". ..")));
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
            "file" => weft_fuzz::file,
            "media" => weft_fuzz::media,
            "device" => weft_fuzz::device,
            "pay" => weft_fuzz::pay,
            other => panic!("seed for unknown target {other}"),
        };
        f(bytes);
    }
}
