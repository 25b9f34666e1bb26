//! What each fuzz target checks. Every function here takes bytes as a
//! hostile peer would send them and runs them through the same decoder and
//! checks the node runs; the property is that nothing panics, nothing
//! allocates more than the input's kind allows, and that whatever decodes
//! re-encodes to something that decodes back to the same value. The
//! targets under `fuzz_targets/` are one line each; `make-seeds` writes a
//! seed corpus of real messages built with the same API.

use std::fmt::Debug;

use arbitrary::Unstructured;
use serde::{de::DeserializeOwned, Serialize};
use weft_protocol::{
    blob::{BlobReply, BlobRequest},
    card::Card,
    chat::{ChatBody, Delivery, DeliveryAck},
    mailbox::{MailboxReply, MailboxRequest},
    moments::{self, Item, SyncReply, SyncRequest},
    oa::{self, relay::SlotTable, Broadcast, OaProfile, Verification},
    profile::{HandleClaim, Profile, ProfileReply},
    AccountId, AccountKey, Kind, WeftLink,
};

/// The fixed key the targets decrypt with: the seeds are sealed to it.
pub fn recipient() -> AccountKey {
    AccountKey::from_bytes(&[7; 32]).unwrap_or_else(|_| unreachable!("32 bytes is a valid key"))
}

/// The fixed key the seeds are signed and sealed by.
pub fn sender() -> AccountKey {
    AccountKey::from_bytes(&[9; 32]).unwrap_or_else(|_| unreachable!("32 bytes is a valid key"))
}

/// The holder (a PeerId's bytes in the node) mailbox seeds are signed for.
pub const HOLDER: &[u8] = b"fuzz-holder";

/// The clock the checks run at: a fixed time, so a crash reproduces.
pub const NOW: u64 = 1_800_000_000;

/// Decodes `data` as `kind`; if it decodes, its canonical encoding must
/// decode back to the same value.
fn roundtrip<T>(kind: Kind, data: &[u8]) -> Option<T>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let value: T = weft_protocol::decode(kind, data).ok()?;
    if let Ok(again) = weft_protocol::encode(kind, &value) {
        match weft_protocol::decode::<T>(kind, &again) {
            Ok(back) => assert_eq!(back, value, "{kind:?} does not survive a re-encoding"),
            Err(e) => panic!("{kind:?} re-encoding does not decode: {e}"),
        }
    }
    Some(value)
}

/// Every envelope kind's decoder on the same bytes: the first byte picks
/// nothing, each kind is tried in turn (a wrong kind must be an error, not
/// a panic).
pub fn envelope(data: &[u8]) {
    let _ = roundtrip::<Card>(Kind::Card, data);
    let _ = roundtrip::<ChatBody>(Kind::Chat, data);
    let _ = roundtrip::<Delivery>(Kind::Delivery, data);
    let _ = roundtrip::<DeliveryAck>(Kind::DeliveryAck, data);
    let _ = roundtrip::<MailboxRequest>(Kind::MailboxRequest, data);
    let _ = roundtrip::<MailboxReply>(Kind::MailboxReply, data);
    let _ = roundtrip::<ProfileReply>(Kind::ProfileReply, data);
    let _ = roundtrip::<HandleClaim>(Kind::HandleClaim, data);
    let _ = roundtrip::<Broadcast>(Kind::OaBroadcast, data);
    let _ = roundtrip::<BlobRequest>(Kind::BlobRequest, data);
    let _ = roundtrip::<BlobReply>(Kind::BlobReply, data);
    let _ = roundtrip::<Item>(Kind::MomentItem, data);
    let _ = roundtrip::<SyncRequest>(Kind::SyncRequest, data);
    let _ = roundtrip::<SyncReply>(Kind::SyncReply, data);
    let _ = roundtrip::<weft_protocol::group::GroupWire>(Kind::GroupWire, data);
    let _ = roundtrip::<weft_protocol::file::FileRequest>(Kind::FileRequest, data);
    let _ = roundtrip::<weft_protocol::file::FileReply>(Kind::FileReply, data);
    let _ = oa::decode_request(data);
    let _ = oa::decode_reply(data);
}

/// A card as the card exchange and the account records receive it.
pub fn card(data: &[u8]) {
    if let Some(card) = roundtrip::<Card>(Kind::Card, data) {
        let _ = card.verify();
        let _ = card.account();
        let _ = card.device_key();
    }
}

/// A chat session's payloads: the Delivery (whose items are sealed to the
/// fixed recipient), the ack, and a chat body as opened from a seal.
pub fn chat(data: &[u8]) {
    let me = recipient();
    if let Some(delivery) = roundtrip::<Delivery>(Kind::Delivery, data) {
        for item in delivery.items.iter().take(64) {
            let opened = match item {
                weft_protocol::chat::DeliveryItem::Sealed(b) => weft_protocol::open(&me, b).ok(),
                weft_protocol::chat::DeliveryItem::Plain(b) => Some((b.clone(), [0u8; 32])),
            };
            if let Some((plain, sender_static)) = opened {
                let _ = weft_protocol::sender_matches(&delivery.from, &sender_static);
                if let Ok(body) = ChatBody::decode(&plain) {
                    let _ = body.id();
                }
            }
        }
    }
    let _ = roundtrip::<DeliveryAck>(Kind::DeliveryAck, data);
    let _ = roundtrip::<weft_protocol::chat::ChatRequest>(Kind::ChatRequest, data);
    let _ = roundtrip::<weft_protocol::chat::ChatReply>(Kind::ChatReply, data);
    if let Ok(body) = ChatBody::decode(data) {
        let _ = body.validate();
        let _ = body.id();
    }
}

/// Noise: a sealed message (X), a live session's first message (IK) and,
/// with the input split, an initiator reading a hostile reply.
pub fn seal(data: &[u8]) {
    let me = recipient();
    let _ = weft_protocol::open(&me, data);
    if let Ok((responder, _payload, _initiator)) = weft_protocol::respond(&me, data) {
        let _ = responder.reply(b"ok");
    }
    // A kept session (`weft_protocol::session`) reading hostile bytes at
    // hostile nonces: refused, never a panic.
    if let Ok((initiator, msg1)) = weft_protocol::initiate(&sender(), &me.account_id(), b"hi") {
        if let Ok((responder, _, _)) = weft_protocol::respond(&me, &msg1) {
            if let Ok((msg2, mut theirs)) = responder.reply_session(b"ok") {
                let nonce = data.first().map_or(1, |b| u64::from(*b) * 97);
                let _ = theirs.open(nonce, data);
                if let Ok((_, mut ours)) = initiator.finish_session(&msg2) {
                    let _ = ours.open(nonce, data);
                }
            }
        }
    }
    let peer = me.account_id();
    if let Ok((initiator, _msg1)) = weft_protocol::initiate(&sender(), &peer, b"hello") {
        let _ = initiator.finish(data);
    }
}

/// Mailbox requests and replies, with their owner signatures checked.
pub fn mailbox(data: &[u8]) {
    if let Some(req) = roundtrip::<MailboxRequest>(Kind::MailboxRequest, data) {
        // Operations as `node/src/chat/mailbox.rs` signs them: 0 fetch, 1 delete.
        match &req {
            MailboxRequest::Fetch { auth, .. } => {
                let _ = auth.verify(HOLDER, 0, NOW);
            }
            MailboxRequest::Delete { auth, .. } => {
                let _ = auth.verify(HOLDER, 1, NOW);
            }
            _ => {}
        }
    }
    let _ = roundtrip::<MailboxReply>(Kind::MailboxReply, data);
}

/// Blob requests and replies; a manifest is checked against its own id
/// and against a chunk taken from the input's tail.
pub fn blob(data: &[u8]) {
    let _ = roundtrip::<BlobRequest>(Kind::BlobRequest, data);
    if let Some(BlobReply::Manifest(m)) = roundtrip::<BlobReply>(Kind::BlobReply, data) {
        let id = m.id();
        let _ = m.check(&id);
        let tail = &data[data.len() / 2..];
        let _ = m.check_chunk(0, tail);
        let _ = m.check_chunk(usize::MAX, tail);
    }
}

/// The key the `file` seeds' chunks are sealed with (a decoded chunk
/// reply is opened with it).
pub const FILE_KEY: [u8; 32] = [12; 32];

/// A key no seed is sealed with: the raw input must never open under it.
const STRANGER_KEY: [u8; 32] = [13; 32];

/// Attachments on `/weft/file/1`: requests and replies; a manifest checked
/// against its own id, its chunk lengths and chunk checks at indices from
/// the input (in range, just past the end, near `u32::MAX`, `usize::MAX`)
/// and its size against plaintext sizes; a chunk reply opened with the
/// seeds' key; the input as a postcard [`Attachment`] (as a chat or group
/// message carries it) through its bounds check; and the raw input opened
/// as a sealed segment (an error, never a panic).
///
/// [`Attachment`]: weft_protocol::file::Attachment
pub fn file(data: &[u8]) {
    use weft_protocol::file::{
        chunk_count, open_segment, Attachment, FileReply, FileRequest, FILE_CHUNK, MAX_FILE, TAG,
    };
    let _ = roundtrip::<FileRequest>(Kind::FileRequest, data);
    // Four bytes of the input, little-endian, wherever it is long enough.
    let word = |at: usize| -> u32 {
        let mut b = [0u8; 4];
        for (i, x) in b.iter_mut().enumerate() {
            *x = data.get(at + i).copied().unwrap_or(0);
        }
        u32::from_le_bytes(b)
    };
    match roundtrip::<FileReply>(Kind::FileReply, data) {
        Some(FileReply::Manifest(m)) => {
            let id = m.id();
            let checked = m.check(&id).is_ok();
            let n = m.chunks.len();
            let tail = &data[data.len() / 2..];
            let from_input = word(data.len().saturating_sub(4)) as usize;
            let indices = [
                0,
                from_input,
                from_input % n.max(1),
                n.saturating_sub(1),
                n,
                n.saturating_add(1),
                u32::MAX as usize - 1,
                u32::MAX as usize,
                usize::MAX,
            ];
            for i in indices {
                let len = m.chunk_len(i);
                assert!(len <= FILE_CHUNK, "chunk {i} is {len} bytes");
                if i >= n {
                    assert_eq!(len, 0, "chunk {i} of {n} has a length");
                }
                for bytes in [tail, &data[..]] {
                    if m.check_chunk(i, bytes).is_ok() {
                        assert!(i < n && bytes.len() == len, "chunk {i} accepted");
                    }
                }
            }
            // What a resumed download subtracts from the size
            // (`node/src/files/fetch.rs`): never more than the size, and
            // exactly the size on a checked manifest.
            let total: u64 = (0..n).map(|i| m.chunk_len(i) as u64).sum();
            assert!(total <= m.size, "chunks add up to {total} of {}", m.size);
            if checked {
                assert_eq!(total, m.size, "a checked manifest's chunks miss bytes");
            }
            // The plaintext size this ciphertext size would hold, and sizes
            // from the input and at the limits.
            let tags = m.size.div_ceil(FILE_CHUNK as u64).max(1) * TAG as u64;
            let plain = m.size.checked_sub(tags);
            let sizes = [
                plain,
                Some(u64::from(word(0))),
                Some(m.size),
                Some(MAX_FILE),
                Some(MAX_FILE + 1),
                Some(u64::MAX),
            ];
            for p in sizes.into_iter().flatten() {
                if m.fits(p) {
                    assert!(p <= MAX_FILE);
                    if checked {
                        assert_eq!(chunk_count(p), n, "a manifest fits {p} bytes");
                    }
                }
            }
        }
        Some(FileReply::Chunk(chunk)) => {
            for index in [0, 1] {
                let mut buf = chunk.clone();
                if open_segment(&FILE_KEY, index, &mut buf).is_ok() {
                    assert_eq!(buf.len() + TAG, chunk.len());
                }
            }
        }
        _ => {}
    }
    if let Ok(a) = postcard::from_bytes::<Attachment>(data) {
        let _ = a.check();
        if let Ok(again) = postcard::to_stdvec(&a) {
            let back = postcard::from_bytes::<Attachment>(&again).ok();
            assert_eq!(back.as_ref(), Some(&a), "an attachment does not survive");
        }
    }
    let mut raw = data.to_vec();
    let index = u64::from(word(0));
    assert!(
        open_segment(&STRANGER_KEY, index, &mut raw).is_err(),
        "bytes opened under a key nobody sealed with"
    );
}

/// Attachment media as they arrive from peers: the first byte picks where
/// the rest is cut into a file's head and tail (the node reads the first
/// and last 64 KiB of a file). MIME sniffing, voice-note duration (head
/// and tail, and the whole as both, as for a small file), the inline
/// thumbnail check, file-name cleaning of the bytes as text, and MIME kinds
/// and matching. The cleaned name and the sniffed type must pass the bounds
/// every receiver checks ([`Attachment::check`]), since the node sends
/// exactly those. A panic inside an image decoder, which `check_thumbnail`
/// turns into an error in the node, aborts here (libFuzzer's panic hook
/// runs before the unwind is caught), so it is still reported.
///
/// [`Attachment::check`]: weft_protocol::file::Attachment::check
pub fn media(data: &[u8]) {
    use weft_node::media::{
        audio_duration_ms, check_thumbnail, kind_of, mime_matches, safe_file_name, sniff_mime,
    };
    use weft_protocol::file::{Attachment, AttachmentKind};
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let at = usize::from(pick) * rest.len() / 255;
    let (head, tail) = rest.split_at(at);
    let sniffed = sniff_mime(rest);
    let _ = sniff_mime(head);
    let _ = audio_duration_ms(head, tail);
    let _ = audio_duration_ms(rest, rest);
    let _ = check_thumbnail(rest);
    let text = String::from_utf8_lossy(rest);
    let name = safe_file_name(&text);
    assert!(!name.is_empty(), "an empty file name from {text:?}");
    assert!(name.len() <= 255, "a {}-byte file name", name.len());
    assert!(
        !name.contains(['/', '\\', '\0']),
        "{name:?} (from {text:?}) holds a path or NUL"
    );
    // As the node's own property test states: a leading dot would hide
    // the file, and "." or ".." name a directory.
    assert!(
        !name.starts_with('.'),
        "{name:?} (from {text:?}) starts with a dot"
    );
    let _ = kind_of(&sniffed);
    assert!(
        mime_matches(&sniffed, &sniffed),
        "{sniffed} does not match itself"
    );
    assert!(mime_matches("application/octet-stream", &sniffed));
    // A type declared by a peer: the input's first line.
    let declared = text.lines().next().unwrap_or_default();
    let _ = (kind_of(declared), mime_matches(declared, &sniffed));
    let sent = Attachment {
        kind: AttachmentKind::File,
        file: [0; 32],
        key: [0; 32],
        size: rest.len() as u64,
        mime: sniffed,
        name,
        thumb: None,
        dims: None,
        duration_ms: None,
    };
    if let Err(e) = sent.check() {
        panic!("the node would send {sent:?}, which receivers refuse: {e}");
    }
}

/// The chain the group seeds are encrypted under (a fixed key, so a crash
/// reproduces).
pub fn group_chain() -> weft_protocol::group::sender_key::SendingChain {
    weft_protocol::group::sender_key::SendingChain::from_parts(
        weft_protocol::group::KeyId([5; 16]),
        [6; 32],
        [8; 32],
        0,
    )
}

/// Groups: a gossip wire opened by a member holding the sender's chain,
/// its plaintext's checks; `/weft/group/1` requests and replies, whose
/// changes are rebuilt into a log and ordered, and whose wires are decoded;
/// group links as text.
pub fn group(data: &[u8]) {
    use weft_protocol::group::{
        log::GroupLog, sender_key::ReceivingChain, GroupLink, GroupPlain, GroupWire,
        SyncReply as GroupSyncReply, SyncRequest as GroupSyncRequest,
    };
    if let Some(wire) = roundtrip::<GroupWire>(Kind::GroupWire, data) {
        let share = group_chain().share().ok();
        if let Some(share) = share {
            let chain = ReceivingChain::new(sender().account_id(), 0, &share);
            if let Ok((plain, next)) = chain.open(&wire) {
                let _ = GroupPlain::from_bytes(&plain);
                assert!(next.open(&wire).is_err(), "a wire opened twice");
            }
        }
    }
    if let Some(req) = roundtrip::<GroupSyncRequest>(Kind::GroupSyncRequest, data) {
        let _ = req.check();
    }
    if let Some(reply) = roundtrip::<GroupSyncReply>(Kind::GroupSyncReply, data) {
        for w in reply.wires.iter().take(256) {
            let _ = GroupWire::decode(w);
        }
        let changes: Vec<_> = reply.changes.into_iter().take(64).collect();
        if let Some(first) = changes.first() {
            let g = first.group();
            if let Some((log, _)) = GroupLog::from_changes(g, changes) {
                let a = log.state();
                assert_eq!(a, log.state(), "the state of one log is not deterministic");
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(link) = text.parse::<GroupLink>() {
            assert_eq!(link.to_string().parse::<GroupLink>().ok(), Some(link));
        }
    }
}

/// Moments backfill: the request, and a reply whose items run through the
/// relay's item checks.
pub fn sync(data: &[u8]) {
    let _ = roundtrip::<SyncRequest>(Kind::SyncRequest, data);
    if let Some(reply) = roundtrip::<SyncReply>(Kind::SyncReply, data) {
        for item in reply.items.iter().take(256) {
            let _ = moments::relay::decode_item(item);
        }
    }
}

/// Official accounts: a broadcast through the gossip relay check (signer,
/// signature, freshness, quota slot), `/weft/oa/1` requests and replies
/// (posts and profiles inside them), and a question as an IK payload.
pub fn oa(data: &[u8]) {
    if let Some(b) = roundtrip::<Broadcast>(Kind::OaBroadcast, data) {
        let _ = b.verify();
        let _ = b.id();
        let mut slots = SlotTable::default();
        let topic = b.account();
        let _ = oa::relay::check_broadcast(&topic, data, NOW, &mut slots);
    }
    let _ = oa::decode_request(data);
    if let Ok(reply) = oa::decode_reply(data) {
        // Posts and account profiles travel as plain postcard inside the
        // reply, as `node/src/oa/follow.rs` and `search.rs` read them.
        if let oa::OaReply::Posts(list) | oa::OaReply::Accounts(list) = reply {
            for bytes in list.iter().take(64) {
                if let Ok(b) = postcard::from_bytes::<Broadcast>(bytes) {
                    let _ = b.verify();
                }
                if let Ok(profile) = postcard::from_bytes::<OaProfile>(bytes) {
                    let _ = profile.verify();
                    let _ = profile.verified_by(&[sender().account_id()], NOW);
                }
            }
        }
    }
    // A verification certificate as pasted by an account's owner.
    if let Ok(cert) = postcard::from_bytes::<Verification>(data) {
        let name = cert.name.clone();
        let _ = cert.verify_for(&cert.oa, &name, cert.kind, NOW);
    }
    let _ = oa::Question::from_bytes(data);
}

/// A Moments item through the gossip check, then opened with the fixed
/// reader's key as a post and as a reaction.
pub fn moments(data: &[u8]) {
    if let Some(item) = roundtrip::<Item>(Kind::MomentItem, data) {
        let _ = item.check();
        let _ = item.id();
        let _ = item.target();
        if let Ok(checked) = moments::relay::check_item(data, NOW) {
            let key = [3; 32];
            let tag = moments::topic_tag(&item.body.author, &key);
            assert!(moments::relay::check_topic(&checked, &tag, &key).is_ok());
        }
        let me = recipient();
        let _ = moments::open_post(&me, &item);
        let _ = moments::open_reaction(&me, &item);
    }
    let _ = Item::from_bytes(data);
}

/// People Nearby profiles and handle claims.
pub fn profile(data: &[u8]) {
    if let Some(ProfileReply::Visible(p)) = roundtrip::<ProfileReply>(Kind::ProfileReply, data) {
        let p: Profile = *p;
        let _ = p.verify();
        let _ = p.account();
    }
    if let Some(claim) = roundtrip::<HandleClaim>(Kind::HandleClaim, data) {
        let _ = claim.verify();
        let _ = claim.account();
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = weft_protocol::profile::normalize_handle(s);
    }
}

/// DHT records as a storing peer judges them: a key, a value and the
/// value it already holds, laid out as [`record_input`] writes them.
pub fn records(data: &[u8]) {
    let Some((key, value, existing)) = read_record_input(Unstructured::new(data)) else {
        return;
    };
    use weft_node::net::records;
    let _ = records::validate(&key, &value, NOW);
    let _ = records::may_replace(&key, existing.as_deref(), &value);
    let _ = records::account_record(&key, &value, NOW);
    let _ = records::handle_claim(&key, &value);
    let _ = records::valid_provider_key(&key);
    // The same value under well-formed keys, so the checks past the key
    // prefix are reached.
    if let Ok(card) = weft_protocol::decode::<Card>(Kind::Card, &value) {
        let _ = records::account_record(&records::account_key(&card.account()), &value, NOW);
    }
    if let Ok(claim) = weft_protocol::decode::<HandleClaim>(Kind::HandleClaim, &value) {
        let _ = records::handle_claim(&records::handle_key(&claim.handle), &value);
    }
}

/// The `records` target's input: a key length (1 byte), the key, a value
/// length (2 bytes, little-endian), the value, then the value already
/// stored (the rest; none if empty).
pub fn record_input(key: &[u8], value: &[u8], existing: Option<&[u8]>) -> Vec<u8> {
    let mut v = vec![key.len().min(255) as u8];
    v.extend_from_slice(&key[..key.len().min(255)]);
    let vlen = value.len().min(usize::from(u16::MAX));
    v.extend_from_slice(&(vlen as u16).to_le_bytes());
    v.extend_from_slice(&value[..vlen]);
    v.extend_from_slice(existing.unwrap_or_default());
    v
}

fn read_record_input(mut u: Unstructured<'_>) -> Option<(Vec<u8>, Vec<u8>, Option<Vec<u8>>)> {
    let klen = usize::from(u.bytes(1).ok()?[0]);
    let key = u.bytes(klen).ok()?.to_vec();
    let len = u.bytes(2).ok()?;
    let vlen = usize::from(u16::from_le_bytes([len[0], len[1]]));
    let value = u.bytes(vlen).ok()?.to_vec();
    let rest = u.take_rest();
    let existing = (!rest.is_empty()).then(|| rest.to_vec());
    Some((key, value, existing))
}

/// The stream framing every request-response protocol reads with: the
/// first byte picks the limit, the rest is the stream.
pub fn frame(data: &[u8]) {
    let Some((&pick, stream)) = data.split_first() else {
        return;
    };
    let limit = [0usize, 16, 128, 64 * 1024, 1024 * 1024][usize::from(pick) % 5];
    let mut io = stream;
    let read = futures::executor::block_on(weft_node::net::frame::read_frame(&mut io, limit));
    if let Ok(frame) = read {
        assert!(frame.len() <= limit, "a frame over the limit was returned");
    }
}

/// `weft://` links, as pasted or scanned from a QR code, and account ids.
pub fn link(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(link) = s.parse::<WeftLink>() {
        let again = link.to_string();
        match again.parse::<WeftLink>() {
            Ok(back) => assert_eq!(back, link, "a link does not survive printing"),
            Err(e) => panic!("a printed link does not parse: {e}"),
        }
    }
    let _ = s.parse::<AccountId>();
}

/// `/weft/device/1` and what travels in it: requests and answers (history
/// pages with contacts and messages included), device lists (checked as
/// the node checks one), the join messages inside the link handshake, the
/// handshake itself with a fixed code, and link codes as a user pastes them.
pub fn device(data: &[u8]) {
    use weft_protocol::device::{
        link_respond, DeviceList, DeviceReply, DeviceRequest, JoinReply, JoinRequest, LinkCode,
    };
    if let Some(req) = roundtrip::<DeviceRequest>(Kind::DeviceRequest, data) {
        if let DeviceRequest::Join { msg1, .. } = req {
            let _ = link_respond(&fixed_code().psk(), &msg1);
        }
    }
    if let Some(DeviceReply::Contacts { contacts, lists }) =
        roundtrip::<DeviceReply>(Kind::DeviceReply, data)
    {
        for c in &contacts {
            let _ = c.check();
        }
        for l in &lists {
            let _ = l.verify();
        }
    }
    if let Some(DeviceReply::History { messages, .. }) =
        roundtrip::<DeviceReply>(Kind::DeviceReply, data)
    {
        for m in &messages {
            let _ = m.check();
        }
    }
    if let Some(DeviceReply::GroupHistory { messages, .. }) =
        roundtrip::<DeviceReply>(Kind::DeviceReply, data)
    {
        for m in &messages {
            let _ = m.check();
        }
    }
    if let Some(list) = roundtrip::<DeviceList>(Kind::DeviceList, data) {
        if list.verify().is_ok() {
            let _ = list.endpoints();
        }
    }
    let _ = roundtrip::<JoinRequest>(Kind::JoinRequest, data);
    if let Some(reply) = roundtrip::<JoinReply>(Kind::JoinReply, data) {
        let _ = reply.cert.verify();
        let _ = reply.list.verify();
    }
    let _ = link_respond(&fixed_code().psk(), data);
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(code) = LinkCode::parse(s) {
            match LinkCode::parse(&code.to_link()) {
                Ok(back) => assert_eq!(back, code, "a device code does not survive printing"),
                Err(e) => panic!("a printed device code does not parse: {e}"),
            }
        }
    }
}

/// The link code the device seeds are made with.
pub fn fixed_code() -> weft_protocol::device::LinkCode {
    weft_protocol::device::LinkCode {
        secret: [5; 16],
        device: [6; 32],
        addrs: vec!["/ip4/127.0.0.1/tcp/4001".into()],
    }
}

/// `/weft/mint/1` and Pay business in chat: the mint's envelope (opened
/// with the fixed recipient key as a mint would), the request inside it
/// (bounds, then the lock checks the ledger runs on every input), the
/// answer a wallet reads, chat's `Pay` messages, and payment requests and
/// ecash tokens as text (a QR code or a pasted link).
pub fn pay(data: &[u8]) {
    use weft_protocol::pay::{
        MintAnswer, MintEnvelope, MintReply, MintRequest, PayMsg, PayRequest, Token,
    };
    if let Some(env) = roundtrip::<MintEnvelope>(Kind::MintRequest, data) {
        if let Ok((_, payload, _)) = weft_protocol::seal::respond(&recipient(), &env.msg1) {
            if let Ok(req) = postcard::from_bytes::<MintRequest>(&payload) {
                if req.validate().is_ok() {
                    spend_checks(&req);
                }
            }
        }
    }
    let _ = roundtrip::<MintAnswer>(Kind::MintReply, data);
    if let Ok(req) = postcard::from_bytes::<MintRequest>(data) {
        if req.validate().is_ok() {
            spend_checks(&req);
        }
    }
    if let Ok(MintReply::Info(info)) = postcard::from_bytes::<MintReply>(data) {
        let _ = info.validate();
    }
    if let Ok(m) = postcard::from_bytes::<PayMsg>(data) {
        let _ = m.validate();
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(r) = s.parse::<PayRequest>() {
            let _ = r.verify(NOW);
            if let Ok(link) = r.to_link() {
                match link.parse::<PayRequest>() {
                    Ok(back) => assert_eq!(back, r, "a payment request does not survive printing"),
                    Err(e) => panic!("a printed payment request does not parse: {e}"),
                }
            }
        }
        if let Ok(t) = s.parse::<Token>() {
            if let Ok(text) = t.to_text() {
                match text.parse::<Token>() {
                    Ok(back) => assert_eq!(back, t, "a token does not survive printing"),
                    Err(e) => panic!("a printed token does not parse: {e}"),
                }
            }
        }
        let _ = weft_protocol::pay::parse_amount(s);
    }
}

/// What the mint's ledger runs on each input of a valid swap.
fn spend_checks(req: &weft_protocol::pay::MintRequest) {
    if let weft_protocol::pay::MintRequest::Swap {
        currency,
        inputs,
        outputs,
    } = req
    {
        for i in inputs {
            let _ = i.proof.y();
            let _ = weft_protocol::pay::check_spend(currency, i, outputs, NOW);
        }
    }
}
