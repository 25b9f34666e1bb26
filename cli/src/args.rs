//! Command-line grammar (clap derive). Parsing only: no behaviour here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use NearbyToggle as Toggle;

/// Weft: a peer-to-peer messenger. `weft up` runs your node; the other
/// commands talk to it.
#[derive(Debug, Parser)]
#[command(name = "weft", version, about)]
pub struct Cli {
    /// Node home directory (keys, store, config). Default: the platform data dir.
    #[arg(long, global = true, env = "WEFT_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Print one JSON document on stdout instead of human output.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The home directory to use: `--home`, `$WEFT_HOME`, or `~/.local/share/weft`.
    pub fn home(&self) -> PathBuf {
        if let Some(h) = &self.home {
            return h.clone();
        }
        if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
            return PathBuf::from(d).join("weft");
        }
        match std::env::var_os("HOME") {
            Some(h) => PathBuf::from(h).join(".local/share/weft"),
            None => PathBuf::from(".weft"),
        }
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create your identity and store (refuses to overwrite an existing one).
    Init(InitArgs),
    /// Run the node in the foreground until Ctrl-C / SIGTERM.
    Up(UpArgs),
    /// Peer id, account id, name, addresses, peers, store size, uptime.
    Status,
    /// Your card: ids, name, handle, addresses and `weft://` link.
    Id(IdArgs),
    /// Connected peers.
    Peers,
    /// Connect to a peer by multiaddr.
    Dial(DialArgs),
    /// Stream the node's events as they happen (Ctrl-C to stop).
    Events,
    /// The nearby radar: `weft nearby` lists people; `on`/`off` toggles visibility.
    Nearby(NearbyArgs),
    /// Look up a person by handle through the DHT.
    Find {
        /// The handle (WeChat-ID style).
        handle: String,
    },
    /// Content-addressed blobs (images, files): add and export.
    #[command(subcommand)]
    Blob(BlobCommand),
    /// Official accounts: create, follow, publish, read, ask.
    #[command(subcommand)]
    Oa(OaCommand),
    /// Friends: requests with a greeting, accepted by the other side.
    #[command(subcommand)]
    Contacts(ContactsCommand),
    /// 1:1 messages, end-to-end encrypted.
    #[command(subcommand)]
    Chat(ChatCommand),
    /// Moments: posts for the friends you choose, likes and comments.
    #[command(subcommand)]
    Moments(MomentsCommand),
    /// Start several local nodes on 127.0.0.1 and walk through what works.
    Demo(DemoArgs),
}

/// `weft contacts ...`.
#[derive(Debug, Subcommand)]
pub enum ContactsCommand {
    /// Send a friend request to an account id or `weft://` link.
    Add {
        /// Account id or weft:// link (from `weft id` or a QR code).
        target: String,
        /// Greeting shown with the request.
        #[arg(long, default_value = "")]
        greeting: String,
    },
    /// Friend requests waiting for you.
    Requests,
    /// Accept a friend request.
    Accept {
        /// Account id or name.
        contact: String,
    },
    /// Reject a friend request (the sender is not told).
    Reject {
        /// Account id or name.
        contact: String,
    },
    /// Your contacts.
    List,
    /// Block an account: its messages and requests are dropped silently.
    Block {
        /// Account id or name.
        contact: String,
    },
    /// Set your own name for a contact.
    Remark {
        /// Account id or name.
        contact: String,
        /// The name to show.
        name: String,
    },
    /// Remove a contact (the conversation stays).
    Delete {
        /// Account id or name.
        contact: String,
    },
}

/// `weft chat ...`.
#[derive(Debug, Subcommand)]
pub enum ChatCommand {
    /// Send a message; returns once it is safely queued.
    Send {
        /// Account id or name.
        contact: String,
        /// The text.
        text: String,
        /// Quote a message (its id).
        #[arg(long)]
        reply_to: Option<String>,
    },
    /// A conversation, oldest first (marks incoming messages read).
    Log {
        /// Account id or name.
        contact: String,
        /// Show the last N messages.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Conversations with their last message and unread count.
    List,
    /// Take back one of your messages (within 2 minutes).
    Recall {
        /// Message id.
        id: String,
    },
    /// Stream new messages, receipts and requests as they happen.
    Watch,
}

/// `weft init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Display name shown to friends.
    #[arg(long)]
    pub name: Option<String>,
}

/// `weft up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Address to listen on (repeatable). Default: all interfaces, TCP and QUIC.
    #[arg(long, value_name = "MULTIADDR")]
    pub listen: Vec<String>,
    /// Peer to join the network through (repeatable).
    #[arg(long, value_name = "MULTIADDR")]
    pub bootstrap: Vec<String>,
    /// Control API address (default 127.0.0.1 with a free port).
    #[arg(long, value_name = "ADDR")]
    pub api: Option<String>,
    /// Turn off mDNS LAN discovery.
    #[arg(long)]
    pub no_mdns: bool,
    /// Serve as a circuit relay for other nodes (for nodes with public addresses).
    #[arg(long)]
    pub relay_server: bool,
}

/// `weft id`.
#[derive(Debug, Args)]
pub struct IdArgs {
    /// Print the `weft://` link as a terminal QR code.
    #[arg(long)]
    pub qr: bool,
    /// Claim a handle (6-20 characters, starting with a letter) in the DHT.
    #[arg(long)]
    pub handle: Option<String>,
}

/// `weft nearby [on|off]`.
#[derive(Debug, Args)]
pub struct NearbyArgs {
    /// Turn the radar on or off; without it, list people nearby.
    #[command(subcommand)]
    pub toggle: Option<NearbyToggle>,
}

/// `weft nearby on|off`.
#[derive(Debug, Subcommand)]
pub enum NearbyToggle {
    /// Become visible on the radar (and, with a location, to People Nearby).
    On {
        /// Latitude (only the ~5 km cell leaves your node).
        #[arg(long, requires = "lon", allow_hyphen_values = true)]
        lat: Option<f64>,
        /// Longitude.
        #[arg(long, requires = "lat", allow_hyphen_values = true)]
        lon: Option<f64>,
        /// Or a geohash (cut to 5 characters).
        #[arg(long, conflicts_with = "lat")]
        geohash: Option<String>,
        /// Your "What's Up" line.
        #[arg(long)]
        whats_up: Option<String>,
        /// Your region.
        #[arg(long)]
        region: Option<String>,
        /// A small avatar (PNG or JPEG, at most 32 KiB).
        #[arg(long, value_name = "FILE")]
        avatar: Option<std::path::PathBuf>,
        /// Minutes to stay visible (default 60).
        #[arg(long)]
        minutes: Option<u64>,
    },
    /// Stop being visible; others drop you within seconds.
    Off,
}

/// `weft dial`.
#[derive(Debug, Args)]
pub struct DialArgs {
    /// e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...
    pub addr: String,
}

/// `weft demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How many nodes to start (at least 3).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(3..=20))]
    pub nodes: u16,
}

/// `weft oa ...`.
#[derive(Debug, Subcommand)]
pub enum OaCommand {
    /// Create an official account (its own key) run by this node.
    Create {
        /// `subscription` (1 post per UTC day) or `service` (4 per UTC month).
        #[arg(long, value_parser = ["subscription", "service"])]
        kind: String,
        /// Its name.
        name: String,
        /// What it is about.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Follow an account (by id).
    Follow {
        /// Account id.
        oa: String,
    },
    /// Stop following; its posts disappear.
    Unfollow {
        /// Account id.
        oa: String,
    },
    /// Publish a broadcast (refused over quota).
    Publish {
        /// One of your accounts.
        oa: String,
        /// The text (the first line is the title unless --title).
        text: String,
        /// Title.
        #[arg(long)]
        title: Option<String>,
        /// Link.
        #[arg(long)]
        link: Option<String>,
        /// Another language: LANG:TITLE:BODY (repeatable).
        #[arg(long, value_name = "LANG:TITLE:BODY")]
        part: Vec<String>,
        /// An image (repeatable, at most 9).
        #[arg(long, value_name = "FILE")]
        image: Vec<std::path::PathBuf>,
    },
    /// Accounts you run and follow.
    List,
    /// Find accounts by name through the DHT.
    Search {
        /// Words of the name.
        query: String,
    },
    /// Posts from subscription accounts you follow (--all: service accounts too).
    Feed {
        /// Include service accounts.
        #[arg(long)]
        all: bool,
    },
    /// Send a message to an account; prints its (automatic) answer.
    Message {
        /// Account id.
        oa: String,
        /// Text.
        text: String,
    },
    /// Your questions and its answers (or, for your own account, its inbox).
    Log {
        /// Account id.
        oa: String,
    },
    /// Set a keyword auto-reply for one of your accounts.
    Autoreply {
        /// One of your accounts.
        oa: String,
        /// Keyword (case-insensitive, matched anywhere in the message).
        keyword: String,
        /// The reply.
        reply: String,
    },
    /// Set the menu shown when a follower sends "menu".
    Menu {
        /// One of your accounts.
        oa: String,
        /// Items.
        items: Vec<String>,
    },
    /// As a verifier: issue a verification certificate for an account.
    Verify {
        /// Account id to verify.
        oa: String,
        /// Your name as verifier (default: your display name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Attach a verifier's certificate to one of your accounts.
    Certify {
        /// One of your accounts.
        oa: String,
        /// The certificate from `weft oa verify`.
        certificate: String,
    },
}

/// `weft blob ...`.
#[derive(Debug, Subcommand)]
pub enum BlobCommand {
    /// Store a file as a blob; prints its id.
    Add {
        /// The file (at most 16 MiB).
        file: std::path::PathBuf,
    },
    /// Write a blob stored on this node to a file.
    Get {
        /// Blob id (hex).
        id: String,
        /// Where to write it.
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

/// `weft moments ...`.
#[derive(Debug, Subcommand)]
pub enum MomentsCommand {
    /// Share text, images and a link with the friends you choose.
    Post {
        /// The text.
        #[arg(default_value = "")]
        text: String,
        /// An image (repeatable, at most 9).
        #[arg(long, value_name = "FILE")]
        image: Vec<std::path::PathBuf>,
        /// A link.
        #[arg(long)]
        link: Option<String>,
        /// The link's title.
        #[arg(long)]
        link_title: Option<String>,
        /// Who sees it: `all` (default), `only ID...`, `except ID...`
        /// (friends' ids or names, or tag names; commas or spaces).
        #[arg(long, num_args = 1.., value_name = "all|only|except IDS")]
        to: Vec<String>,
    },
    /// Friends' posts and yours, newest first, with the likes and comments you may see.
    Feed {
        /// Most posts shown.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// One post.
    Show {
        /// Post id.
        post: String,
    },
    /// Like a post.
    Like {
        /// Post id.
        post: String,
    },
    /// Take a like back.
    Unlike {
        /// Post id.
        post: String,
    },
    /// Comment on a post (or reply to a comment).
    Comment {
        /// Post id.
        post: String,
        /// The comment.
        text: String,
        /// The comment replied to.
        #[arg(long)]
        reply_to: Option<String>,
    },
    /// Delete one of your posts (a signed tombstone reaches your friends).
    Delete {
        /// Post id.
        post: String,
    },
    /// Save a post's image to a file (fetched and verified first if needed).
    Image {
        /// Post id.
        post: String,
        /// Which image (0-based).
        #[arg(long, default_value_t = 0)]
        index: usize,
        /// Where to write it.
        #[arg(long)]
        out: std::path::PathBuf,
        /// Ask these peers first (repeatable).
        #[arg(long, value_name = "PEER_ID")]
        from: Vec<String>,
    },
    /// Create or replace a friend tag (no members: delete it).
    Tag {
        /// Tag name.
        name: String,
        /// Friends in it.
        members: Vec<String>,
    },
    /// Friend tags.
    Tags,
    /// Show or set how many days back friends may see your posts (0 = all).
    Settings {
        /// Days (0 = everything).
        #[arg(long)]
        visible_days: Option<u32>,
    },
}
