//! Gossip: which topics exist, what a relay checks before it forwards a
//! message, and who gives gossipsub the verdict.
//!
//! Every message on a topic is judged in one place ([`EventLoop::on_gossip`]):
//! the topic string is parsed into a [`Topic`] (unknown topics are
//! rejected), the topic kind's pure relay check from `weft_protocol` runs
//! inside the swarm task (microseconds: decode, signature, freshness,
//! quota slot), and then the kind's [`Verdict`] decides the rest:
//!
//! - [`Verdict::Immediate`]: the relay check is the whole verdict. The
//!   message is accepted (forwarded) at once and a copy goes to the reader
//!   registered for its kind, if any, to keep or show.
//! - [`Verdict::ByReader`]: the reader must also look (e.g. decrypt, apply
//!   an audience rule) before the message is forwarded. It goes to the
//!   reader *unforwarded*, with a [`PendingValidation`] the reader hands
//!   back through [`super::Net::validate`].
//!
//! A service reads a kind of topic by registering before the network
//! starts: [`GossipReaders::register`] gives it the receiving end of a
//! bounded queue, and the [`GossipReaders`] go into [`super::NetConfig`].
//! If a reader's queue is full (or nobody registered), a message that passed
//! the relay check is accepted and relayed unread rather than dropped.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use std::time::Duration;

use libp2p::gossipsub::{
    self, score_parameter_decay, IdentTopic, MessageAcceptance, MessageId, PeerScoreParams,
    PeerScoreThresholds, TopicScoreParams,
};
use libp2p::PeerId;
use tokio::sync::mpsc;
use weft_protocol::{moments, oa, AccountId, Kind};

use super::event_loop::EventLoop;
use super::NetError;
use crate::store::oa::StoredSlots;

/// A Weft gossip topic, parsed once from its string form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    /// `weft/oa/<account>`: an official account's broadcasts.
    Oa(AccountId),
    /// `weft/moments/<tag>`: an author's Moments items; the tag is keyed by
    /// the author's topic key, which only friends hold, so it names nobody
    /// to anyone else ([`weft_protocol::moments::topic_tag`]).
    Moments([u8; 16]),
    /// `weft/g/<tag>`: a group's messages; the tag is derived from a secret
    /// only members hold, so it names no group and no member.
    Group([u8; 16]),
}

/// The kinds of topic, each with its relay check and [`Verdict`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TopicKind {
    /// Official-account broadcasts.
    Oa,
    /// Moments items.
    Moments,
    /// Group messages.
    Group,
}

/// Who gives gossipsub the verdict on a message of a topic kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The relay check alone decides; the reader gets a copy.
    Immediate,
    /// After the relay check, the registered reader decides (through
    /// [`super::Net::validate`]); until then the message is not forwarded.
    ByReader,
}

/// Score thresholds (gossipsub v1.1). A peer below `gossip_threshold` gets
/// no gossip from us, below `publish_threshold` none of our own messages,
/// below `graylist_threshold` everything it sends is ignored.
pub fn score_thresholds() -> PeerScoreThresholds {
    PeerScoreThresholds {
        gossip_threshold: -10.0,
        publish_threshold: -50.0,
        graylist_threshold: -80.0,
        accept_px_threshold: 10.0,
        opportunistic_graft_threshold: 5.0,
    }
}

/// Peer scoring as a whole. Topic parameters are set per topic as we join
/// it ([`TopicKind::score_params`]); what a peer sends on a topic we do not
/// score is dropped by gossipsub unjudged anyway.
pub fn score_params() -> PeerScoreParams {
    PeerScoreParams {
        // Positive credit is small, so good behaviour cannot bank enough
        // to absorb a run of invalid messages.
        topic_score_cap: 10.0,
        // Weft runs on LANs and behind NATs, and tests put every node on
        // 127.0.0.1: many peers on one IP is normal here, not a Sybil sign.
        ip_colocation_factor_weight: 0.0,
        ..PeerScoreParams::default()
    }
}

impl TopicKind {
    /// Gossipsub v1.1 topic parameters for topics of this kind. Weft topics
    /// are quiet (a few posts a day), so a mesh peer that delivers little
    /// is normal and never penalised (P3, P3b off); what costs is sending
    /// what our check rejects (P4), remembered for about an hour.
    pub fn score_params(self) -> TopicScoreParams {
        let invalid_weight = match self {
            // A relay can check a broadcast completely: an honest peer never
            // forwards one that fails, so two failures graylist the sender.
            TopicKind::Oa => -50.0,
            // Readers also judge by what they know (friendship, audience,
            // tombstones seen), so honest peers may disagree now and then:
            // much milder, about ten refusals within the hour graylist.
            TopicKind::Moments => -1.0,
            // Only members relay, and a member can judge a wire only once
            // it holds the sender's chain: a refusal is a forged signature
            // or a replay, which honest members never forward.
            TopicKind::Group => -10.0,
        };
        TopicScoreParams {
            topic_weight: 1.0,
            time_in_mesh_weight: 0.01,
            time_in_mesh_quantum: Duration::from_secs(1),
            time_in_mesh_cap: 300.0,
            first_message_deliveries_weight: 1.0,
            first_message_deliveries_decay: score_parameter_decay(Duration::from_secs(600)),
            first_message_deliveries_cap: 5.0,
            mesh_message_deliveries_weight: 0.0,
            mesh_failure_penalty_weight: 0.0,
            invalid_message_deliveries_weight: invalid_weight,
            invalid_message_deliveries_decay: score_parameter_decay(Duration::from_secs(3600)),
            ..TopicScoreParams::default()
        }
    }

    /// Whether messages of this kind are judged at once or by their reader.
    /// Moments readers decrypt and apply audience and tombstone rules that a
    /// relay cannot; an OA broadcast is public and fully checkable by anyone.
    pub fn verdict(self) -> Verdict {
        match self {
            TopicKind::Oa => Verdict::Immediate,
            TopicKind::Moments | TopicKind::Group => Verdict::ByReader,
        }
    }
}

impl Topic {
    /// The topic's kind.
    pub fn kind(&self) -> TopicKind {
        match self {
            Topic::Oa(_) => TopicKind::Oa,
            Topic::Moments(_) => TopicKind::Moments,
            Topic::Group(_) => TopicKind::Group,
        }
    }

    /// The account the topic belongs to (an OA); Moments and group topics
    /// name nobody.
    pub fn account(&self) -> Option<AccountId> {
        match self {
            Topic::Oa(a) => Some(*a),
            Topic::Moments(_) | Topic::Group(_) => None,
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The wire names are defined next to the wire types.
        match self {
            Topic::Oa(a) => f.write_str(&oa::topic(a)),
            Topic::Moments(t) => f.write_str(&moments::topic_of_tag(t)),
            Topic::Group(t) => f.write_str(&weft_protocol::group::topic(t)),
        }
    }
}

/// Gossipsub's id of a message: the content id of the item it carries (a
/// broadcast's or a Moments item's), so every copy of one item is one
/// message to the duplicate filter however it was wrapped or relayed; bytes
/// that are not a canonical item of the topic's kind fall back to their
/// hash (and then fail the relay check, at the sender's cost).
pub fn message_id(topic: &str, data: &[u8]) -> MessageId {
    let content = topic.parse::<Topic>().ok().and_then(|t| match t.kind() {
        TopicKind::Oa => weft_protocol::decode::<oa::Broadcast>(Kind::OaBroadcast, data)
            .ok()
            .map(|b| b.id()),
        TopicKind::Moments => moments::relay::decode_item(data).ok().map(|i| i.id()),
        TopicKind::Group => weft_protocol::group::GroupWire::decode(data)
            .ok()
            .map(|w| w.id().0),
    });
    let id = content.unwrap_or_else(|| *blake3::hash(data).as_bytes());
    MessageId::from(id.to_vec())
}

/// A topic string no Weft service uses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no Weft service uses topic `{0}`")]
pub struct UnknownTopic(pub String);

impl FromStr for Topic {
    type Err = UnknownTopic;

    /// Parses the canonical form only: the result prints back as `s`, so
    /// a topic matches exactly the string its publisher used.
    fn from_str(s: &str) -> Result<Self, UnknownTopic> {
        let unknown = || UnknownTopic(s.chars().take(100).collect());
        let topic = if let Some(a) = s.strip_prefix("weft/oa/") {
            Topic::Oa(a.parse().map_err(|_| unknown())?)
        } else if let Some(a) = s.strip_prefix("weft/moments/") {
            Topic::Moments(weft_protocol::hex::decode_array(a).ok_or_else(unknown)?)
        } else if let Some(t) = s.strip_prefix("weft/g/") {
            Topic::Group(weft_protocol::hex::decode_array(t).ok_or_else(unknown)?)
        } else {
            return Err(unknown());
        };
        if topic.to_string() != s {
            return Err(unknown());
        }
        Ok(topic)
    }
}

/// Why the network task rejected a gossip message.
#[derive(Debug, thiserror::Error)]
pub enum GossipRejection {
    /// Not a topic any Weft service uses.
    #[error(transparent)]
    UnknownTopic(#[from] UnknownTopic),
    /// An OA broadcast failed the relay check.
    #[error(transparent)]
    Oa(#[from] oa::relay::RelayError),
    /// A Moments item failed the relay check.
    #[error(transparent)]
    Moments(#[from] moments::relay::RelayError),
    /// Not a group wire.
    #[error(transparent)]
    Group(#[from] weft_protocol::group::GroupError),
}

/// A gossip message that passed the relay check, for the service that
/// reads its topic kind.
#[derive(Clone, Debug)]
pub struct GossipMessage {
    /// Topic.
    pub topic: Topic,
    /// Payload (an envelope).
    pub data: Vec<u8>,
    /// Set when the reader must give the verdict ([`super::Net::validate`]):
    /// gossipsub holds the message, unforwarded, until then.
    pub pending: Option<PendingValidation>,
}

/// A gossip message waiting for a service's accept or reject.
#[derive(Clone, Debug)]
pub struct PendingValidation {
    /// Gossipsub's id of the message.
    pub id: MessageId,
    /// The peer it came from.
    pub source: PeerId,
}

/// The services reading each kind of topic: one bounded queue per kind.
#[derive(Debug, Default)]
pub struct GossipReaders {
    queues: HashMap<TopicKind, mpsc::Sender<GossipMessage>>,
}

impl GossipReaders {
    /// Registers the reader of `kind`'s topics and returns its end of a
    /// queue holding at most `capacity` messages (a later registration for
    /// the same kind replaces this one).
    pub fn register(&mut self, kind: TopicKind, capacity: usize) -> mpsc::Receiver<GossipMessage> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        self.queues.insert(kind, tx);
        rx
    }

    /// Hands a message to its kind's reader, or says why nobody will read it.
    fn hand_over(&self, msg: GossipMessage) -> Result<(), Unread> {
        let Some(q) = self.queues.get(&msg.topic.kind()) else {
            return Err(Unread::NoReader);
        };
        q.try_send(msg).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Unread::QueueFull,
            mpsc::error::TrySendError::Closed(_) => Unread::ReaderGone,
        })
    }
}

/// Why a message that passed the relay check was not handed to a reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
enum Unread {
    /// No service registered for its topic kind.
    #[error("no service reads this kind of topic")]
    NoReader,
    /// The reader is behind.
    #[error("the reader's queue is full")]
    QueueFull,
    /// The reader has stopped.
    #[error("the reader has stopped")]
    ReaderGone,
}

/// What the network task keeps to judge gossip.
pub(super) struct Relay {
    /// Where messages go after the relay check.
    pub(super) readers: GossipReaders,
    /// OA quota slots taken (on disk, shared with backfill), to refuse a
    /// second broadcast in one slot.
    oa_slots: StoredSlots,
}

impl Relay {
    /// Starts judging with these readers and the node's slot table.
    pub(super) fn new(readers: GossipReaders, oa_slots: StoredSlots) -> Self {
        Relay { readers, oa_slots }
    }

    /// The relay check of `topic`'s kind on `data` at time `now`.
    fn check(&mut self, topic: &Topic, data: &[u8], now: u64) -> Result<(), GossipRejection> {
        match topic {
            Topic::Oa(a) => {
                oa::relay::check_broadcast(a, data, now, &mut self.oa_slots)?;
            }
            Topic::Moments(_) => {
                // Whose topic it is needs the author's topic key: the reader checks.
                moments::relay::check_item(data, now)?;
            }
            Topic::Group(_) => {
                // A wire: structure and size only (its signature needs the
                // sender's chain, which only members hold: the reader
                // judges). A key bundle: signed by its sender's account.
                if weft_protocol::group::GroupWire::decode(data).is_err() {
                    weft_protocol::group::GroupKeys::decode(data)?.check()?;
                }
            }
        }
        Ok(())
    }
}

/// A reader's verdict on a gossip message it was handed to judge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judgement {
    /// Valid: keep it and forward it.
    Accept,
    /// Not ours to judge (or not yet): drop it without forwarding and
    /// without holding it against the sender; peers who can judge it
    /// forward it.
    Ignore,
    /// Invalid: drop it, don't forward it, lower the sender's score.
    Reject,
}

impl From<bool> for Judgement {
    fn from(valid: bool) -> Self {
        if valid {
            Judgement::Accept
        } else {
            Judgement::Reject
        }
    }
}

impl EventLoop {
    /// Judges a gossip message: the one place where every verdict starts
    /// (see the module comment). Every relaying node validates before
    /// forwarding.
    pub(super) fn on_gossip(&mut self, source: PeerId, id: MessageId, message: gossipsub::Message) {
        if let Some(accept) = self.judge(source, id.clone(), message) {
            self.report(&id, &source, accept);
        }
    }

    /// The verdict now, or `None` when the reader will give it.
    fn judge(
        &mut self,
        source: PeerId,
        id: MessageId,
        message: gossipsub::Message,
    ) -> Option<bool> {
        let checked = message
            .topic
            .as_str()
            .parse::<Topic>()
            .map_err(GossipRejection::from)
            .and_then(|topic| {
                self.relay
                    .check(&topic, &message.data, weft_protocol::unix_now())
                    .map(|()| topic)
            });
        let topic = match checked {
            Ok(topic) => topic,
            Err(reason) => {
                let topic = message.topic.as_str();
                // Operators (and tests) grep for these two lines.
                if topic.starts_with("weft/moments/") {
                    tracing::info!(%topic, peer = %source, %reason, "rejecting moments gossip");
                } else {
                    tracing::info!(%topic, peer = %source, %reason, "rejecting gossip");
                }
                return Some(false);
            }
        };
        let verdict = topic.kind().verdict();
        let pending = (verdict == Verdict::ByReader).then_some(PendingValidation { id, source });
        let msg = GossipMessage {
            topic,
            data: message.data,
            pending,
        };
        match self.relay.readers.hand_over(msg) {
            Ok(()) if verdict == Verdict::ByReader => None,
            Ok(()) => Some(true),
            Err(why) => {
                // Valid as far as a relay can tell; nobody can read it now.
                tracing::warn!(%topic, reason = %why, "relaying a gossip message unread");
                Some(true)
            }
        }
    }

    /// Tells gossipsub to forward (accept) or drop and penalise (reject).
    fn report(&mut self, id: &MessageId, source: &PeerId, judgement: impl Into<Judgement>) {
        let acceptance = match judgement.into() {
            Judgement::Accept => MessageAcceptance::Accept,
            Judgement::Ignore => MessageAcceptance::Ignore,
            Judgement::Reject => MessageAcceptance::Reject,
        };
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(id, source, acceptance);
    }

    /// A reader's verdict on a message handed over with `pending`.
    pub(super) fn validate(&mut self, pending: PendingValidation, judgement: Judgement) {
        self.report(&pending.id, &pending.source, judgement);
    }

    /// Joins or leaves a topic.
    pub(super) fn subscribe(&mut self, topic: Topic, on: bool) {
        let t = IdentTopic::new(topic.to_string());
        let g = &mut self.swarm.behaviour_mut().gossipsub;
        if on {
            if let Err(e) = g.set_topic_params(t.clone(), topic.kind().score_params()) {
                tracing::warn!(error = e, "cannot set the topic's score parameters");
            }
            if let Err(e) = g.subscribe(&t) {
                tracing::warn!(error = ?e, "cannot subscribe");
            }
        } else {
            g.unsubscribe(&t);
        }
    }

    /// Peers we know are subscribed to `topic`.
    pub(super) fn topic_peers(&self, topic: Topic) -> usize {
        let hash = IdentTopic::new(topic.to_string()).hash();
        self.swarm
            .behaviour()
            .gossipsub
            .all_peers()
            .filter(|(_, topics)| topics.contains(&&hash))
            .count()
    }

    /// Publishes `data` on `topic`.
    pub(super) fn publish(&mut self, topic: Topic, data: Vec<u8>) -> Result<(), NetError> {
        let t = IdentTopic::new(topic.to_string());
        self.swarm
            .behaviour_mut()
            .gossipsub
            .publish(t, data)
            .map(|_| ())
            .map_err(NetError::Publish)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_protocol::oa::relay::SlotTable;
    use weft_protocol::AccountKey;

    #[test]
    fn topics_parse_back_from_their_wire_names() {
        let a = AccountKey::generate().unwrap().account_id();
        let tag = moments::topic_tag(&a, &[3; 32]);
        for t in [Topic::Oa(a), Topic::Moments(tag), Topic::Group([4; 16])] {
            assert_eq!(t.to_string().parse::<Topic>(), Ok(t));
        }
        assert_eq!(Topic::Oa(a).account(), Some(a));
        assert_eq!(Topic::Moments(tag).account(), None);
        assert_eq!(Topic::Oa(a).to_string(), oa::topic(&a));
        assert_eq!(
            Topic::Moments(tag).to_string(),
            moments::topic(&a, &[3; 32])
        );
        assert!(!Topic::Moments(tag).to_string().contains(&a.to_string()));
        assert_eq!(Topic::Oa(a).kind().verdict(), Verdict::Immediate);
        assert_eq!(Topic::Moments(tag).kind().verdict(), Verdict::ByReader);
    }

    #[test]
    fn unknown_and_malformed_topics_are_refused() {
        let a = AccountKey::generate().unwrap().account_id();
        for s in [
            "weft/chat/x".to_string(),
            "weft/oa/".to_string(),
            "weft/oa/not-an-account".to_string(),
            format!("weft/oa/{a}/extra"),
            format!("weft/moments/{a}"),
            "weft/moments/0011".to_string(),
            format!("other/{a}"),
        ] {
            assert!(s.parse::<Topic>().is_err(), "{s}");
        }
    }

    #[test]
    fn readers_get_their_kind_only_and_full_queues_give_the_message_back() {
        let a = AccountKey::generate().unwrap().account_id();
        let mut readers = GossipReaders::default();
        let mut rx = readers.register(TopicKind::Moments, 1);
        let msg = |topic| GossipMessage {
            topic,
            data: vec![1],
            pending: None,
        };
        assert_eq!(readers.hand_over(msg(Topic::Oa(a))), Err(Unread::NoReader));
        assert!(readers.hand_over(msg(Topic::Moments([1; 16]))).is_ok());
        assert_eq!(
            readers.hand_over(msg(Topic::Moments([1; 16]))),
            Err(Unread::QueueFull)
        );
        assert_eq!(
            rx.try_recv().map(|m| m.topic).ok(),
            Some(Topic::Moments([1; 16]))
        );
    }

    #[test]
    fn a_message_id_is_its_content_id() {
        use weft_protocol::oa::{BroadcastBody, OaKind, OaProfile, OaProfileBody};
        let key = AccountKey::generate().unwrap();
        let now = weft_protocol::unix_now();
        let card =
            weft_protocol::Card::new(&key, key.certify_device([1; 32], 1), "News", vec![], 1)
                .unwrap();
        let profile = OaProfile::new(
            &key,
            OaProfileBody {
                card,
                kind: OaKind::Service,
                description: String::new(),
                verification: None,
            },
        )
        .unwrap();
        let b = oa::Broadcast::new(
            &key,
            BroadcastBody {
                profile,
                period: OaKind::Service.period_of(now),
                seq: 1,
                published_at: now,
                title: "Hi".into(),
                body: String::new(),
                link: None,
                parts: vec![],
                images: vec![],
            },
        )
        .unwrap();
        let topic = Topic::Oa(key.account_id()).to_string();
        let bytes = weft_protocol::encode(Kind::OaBroadcast, &b).unwrap();
        assert_eq!(message_id(&topic, &bytes), MessageId::from(b.id().to_vec()));
        // A byte variant is not the item: it gets an id of its own, and the
        // relay check then refuses it.
        let mut variant = bytes.clone();
        variant.push(0);
        assert_ne!(message_id(&topic, &variant), message_id(&topic, &bytes));
        let mut relay = SlotTable::default();
        assert!(oa::relay::check_broadcast(&key.account_id(), &variant, now, &mut relay).is_err());
    }

    #[test]
    fn invalid_messages_graylist_the_sender_and_quiet_peers_are_not_punished() {
        let t = score_thresholds();
        for kind in [TopicKind::Oa, TopicKind::Moments, TopicKind::Group] {
            let p = kind.score_params();
            p.validate().unwrap();
            assert_eq!(p.mesh_message_deliveries_weight, 0.0);
            assert_eq!(p.mesh_failure_penalty_weight, 0.0);
            // P4 counts invalid messages squared.
            let after = |n: f64| p.topic_weight * p.invalid_message_deliveries_weight * n * n;
            assert!(after(1.0) < 0.0);
            let cap = score_params().topic_score_cap;
            let needed = if kind == TopicKind::Oa { 2.0 } else { 10.0 };
            assert!(cap + after(needed) < t.graylist_threshold, "{kind:?}");
        }
        score_params().validate().unwrap();
        t.validate().unwrap();
    }

    #[tokio::test]
    async fn the_swarm_scores_its_peers() {
        let key = libp2p::identity::Keypair::generate_ed25519();
        let opts = super::super::SwarmOptions {
            mdns: false,
            relay_server: false,
            memory_transport: None,
        };
        let swarm = super::super::behaviour::build_swarm(key, &opts).unwrap();
        let anyone = PeerId::random();
        assert!(swarm.behaviour().gossipsub.peer_score(&anyone).is_some());
    }
}
