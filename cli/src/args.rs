//! Command-line grammar (clap derive). Parsing only: no behaviour here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use NearbyToggle as Toggle;

/// Weft: a peer-to-peer messenger. `weft up` runs your node; the other
/// commands talk to it.
#[derive(Debug, Parser)]
#[command(
    name = "weft",
    version,
    about,
    after_help = "Examples:\n  weft init --name Ada && weft up\n  weft contacts add weft://... --greeting 'Hi, Ada here'\n  weft chat send Bao 'Coffee at 3?'\n  weft chat log Bao\n\nIds: any unique prefix of 6 or more characters of a message, post or account id\nworks wherever the id does; names and remarks work wherever a contact goes."
)]
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
    #[command(
        after_help = "Example:\n  weft init --name Ada\n  weft --home /tmp/bao init --name Bao"
    )]
    Init(InitArgs),
    /// Run the node in the foreground until Ctrl-C / SIGTERM.
    #[command(
        after_help = "Examples:\n  weft up\n  weft up --listen /ip4/0.0.0.0/tcp/4001 --bootstrap /ip4/203.0.113.5/tcp/4001/p2p/12D3KooW...\n  weft --home /tmp/bao up --init --name Bao"
    )]
    Up(UpArgs),
    /// Peer id, account id, name, addresses, peers, store size, uptime.
    #[command(after_help = "Example:\n  weft status\n  weft --json status | jq -r .account_id")]
    Status,
    /// Your card: ids, name, handle, addresses and `weft://` link.
    #[command(after_help = "Examples:\n  weft id --qr\n  weft id --handle ada_lovelace")]
    Id(IdArgs),
    /// Your profile: display name, avatar and What's Up.
    #[command(
        after_help = "Examples:\n  weft profile\n  weft profile --name 'Ada L.' --whats-up 'At the station'"
    )]
    Profile(ProfileArgs),
    /// Connected peers.
    #[command(after_help = "Example:\n  weft peers")]
    Peers,
    /// Connect to a peer by multiaddr or `weft://` link.
    #[command(
        after_help = "Examples:\n  weft dial /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...\n  weft dial 'weft://...'"
    )]
    Dial(DialArgs),
    /// Stream the node's events as they happen (Ctrl-C to stop).
    #[command(after_help = "Example:\n  weft --json events | jq .type")]
    Events,
    /// Open the web app: prints a one-time sign-in link (valid 2 minutes)
    /// to the running node's app, and opens it in a browser on a desktop.
    #[command(after_help = "Examples:\n  weft open\n  weft --json open | jq -r .url")]
    Open(OpenArgs),
    /// The nearby radar: `weft nearby` lists people; `on`/`off` toggles visibility.
    #[command(
        after_help = "Examples:\n  weft nearby on --whats-up 'Coffee anyone?'\n  weft nearby\n  weft contacts add <id from the list>"
    )]
    Nearby(NearbyArgs),
    /// Look up a person by handle through the DHT.
    #[command(after_help = "Example:\n  weft find bao_2024")]
    Find {
        /// The handle (WeChat-ID style).
        handle: String,
    },
    /// Content-addressed blobs (images, files): add and export.
    #[command(
        subcommand,
        after_help = "Example:\n  weft blob add photo.jpg\n  weft blob get 3fa4c2... --out copy.jpg"
    )]
    Blob(BlobCommand),
    /// Official accounts: create, follow, publish, read, ask.
    #[command(
        subcommand,
        after_help = "Example:\n  weft oa search Dumpling House\n  weft oa follow \"Dumpling House\""
    )]
    Oa(OaCommand),
    /// Friends: requests with a greeting, accepted by the other side.
    #[command(
        subcommand,
        after_help = "Example:\n  weft contacts add bao_2024 --greeting 'Ada from the meetup'\n  weft contacts requests\n  weft contacts accept Bao"
    )]
    Contacts(ContactsCommand),
    /// 1:1 messages, end-to-end encrypted.
    #[command(
        subcommand,
        after_help = "Example:\n  weft chat send Bao 'Coffee at 3?'\n  weft chat log Bao"
    )]
    Chat(ChatCommand),
    /// Moments: posts for the friends you choose, likes and comments.
    #[command(
        subcommand,
        after_help = "Example:\n  weft moments post 'Sunset' --image sunset.jpg --to only Bao Chen\n  weft moments feed"
    )]
    Moments(MomentsCommand),
    /// Group chats (up to 500 members): create, add, remove, links, admins.
    /// Send and read with `weft chat send <group> ...` / `weft chat log <group>`.
    #[command(
        subcommand,
        after_help = "Example:\n  weft group create Climbers --members Bao Chen\n  weft chat send Climbers 'Saturday 9am?' --mention Bao\n  weft group link Climbers --qr"
    )]
    Group(GroupCommand),
    /// Your devices: link a new one by code, list, rename, revoke.
    #[command(
        subcommand,
        after_help = "Example:\n  weft device link --qr            (on the phone)\n  weft --home ~/laptop device join <code> --name Laptop\n  weft --home ~/laptop up"
    )]
    Device(DeviceCommand),
    /// Run a mint (a service account that issues ecash): create, issue, rates, status.
    #[command(
        subcommand,
        after_help = "Example:\n  weft mint create 'Harbour Bank' --currency CNY,EUR,USD\n  weft mint issue 'Harbour Bank' Ada 100.00 CNY\n  weft mint status"
    )]
    Mint(MintCommand),
    /// Your wallet: what you hold per mint and currency; `weft wallet history`.
    #[command(after_help = "Example:\n  weft wallet\n  weft wallet history")]
    Wallet(WalletArgs),
    /// Pay: send to a friend, ask for or pay a payment request, exchange.
    #[command(
        subcommand,
        after_help = "Example:\n  weft pay send Bao 12.50 CNY --note lunch\n  weft pay request 8.00 EUR --note coffee\n  weft pay scan weft://pay/... --yes"
    )]
    Pay(PayCommand),
    /// Red envelopes in a group (or to a friend): send, grab, show.
    #[command(
        subcommand,
        after_help = "Example:\n  weft redpacket send Climbers 10.00 CNY --count 5 --lucky --note 'Happy new year'\n  weft redpacket grab <id>\n  weft redpacket show <id>"
    )]
    Redpacket(PacketCommand),
    /// Coupons: an official account offers them; followers claim and redeem them.
    #[command(
        subcommand,
        after_help = "Example:\n  weft coupon create --oa 'Cafe' --mint 'Cafe Mint' --currency EUR --off 1.00 --valid 604800\n  weft coupon claim weft://coupon/...\n  weft pay send Cafe 4.50 EUR --coupon C-1A2B3C4D"
    )]
    Coupon(CouponCommand),
    /// Shell completions: `weft completions bash > ~/.local/share/bash-completion/completions/weft`.
    #[command(
        after_help = "Examples:\n  source <(weft completions bash)\n  weft completions zsh > ~/.zfunc/_weft\n  weft completions fish > ~/.config/fish/completions/weft.fish"
    )]
    Completions {
        /// Which shell.
        shell: clap_complete::Shell,
    },
    /// The manual page (roff), e.g. `weft man > weft.1 && man ./weft.1`.
    #[command(after_help = "Example:\n  weft man > ~/.local/share/man/man1/weft.1")]
    Man,
    /// Start several local nodes on 127.0.0.1 and walk through what works.
    #[command(after_help = "Example:\n  weft demo --nodes 4")]
    Demo(DemoArgs),
}

/// `weft contacts ...`.
#[derive(Debug, Subcommand)]
pub enum ContactsCommand {
    /// Send a friend request to an account id, handle, `weft://` link or someone nearby.
    #[command(
        after_help = "Examples:\n  weft contacts add bao_2024 --greeting 'Ada from the meetup'\n  weft contacts add 'weft://...'\n  weft contacts add 7rjScX     (a short id from `weft nearby`)"
    )]
    Add {
        /// Account id (or a 6+ character prefix of one from `weft nearby`),
        /// handle, `weft://` link, or the name of someone nearby.
        target: String,
        /// Greeting shown with the request.
        #[arg(long, default_value = "")]
        greeting: String,
    },
    /// Friend requests waiting for you.
    #[command(after_help = "Example:\n  weft contacts requests\n  weft contacts accept 7rjScXuj")]
    Requests,
    /// Accept a friend request.
    #[command(
        after_help = "Examples:\n  weft contacts accept 7rjScXuj     (the id shown by `weft contacts requests`)\n  weft contacts accept Bao"
    )]
    Accept {
        /// Account id, short id or name of the requester.
        contact: String,
    },
    /// Reject a friend request (the sender is not told).
    #[command(after_help = "Example:\n  weft contacts reject 7rjScXuj")]
    Reject {
        /// Account id, short id or name of the requester.
        contact: String,
    },
    /// Your contacts.
    #[command(after_help = "Example:\n  weft contacts list")]
    List,
    /// Block an account: its messages and requests are dropped silently.
    #[command(
        after_help = "Example:\n  weft contacts block 7rjScXuj\n  weft contacts unblock 7rjScXuj"
    )]
    Block {
        /// Account id, short id, remark or name.
        contact: String,
    },
    /// Unblock an account (it becomes a stranger again; add it to be friends).
    #[command(after_help = "Example:\n  weft contacts unblock 7rjScXuj")]
    Unblock {
        /// Account id, short id, remark or name.
        contact: String,
    },
    /// Set (or clear) your own name for a contact.
    #[command(
        after_help = "Examples:\n  weft contacts remark Chen 'Chen D'\n  weft contacts remark 'Chen D' --clear"
    )]
    Remark {
        /// Account id, short id, remark or name.
        contact: String,
        /// The name to show (1 to 64 bytes).
        #[arg(required_unless_present = "clear")]
        name: Option<String>,
        /// Remove the remark: show their own name again.
        #[arg(long, conflicts_with = "name")]
        clear: bool,
    },
    /// Remove a contact (the conversation stays).
    #[command(after_help = "Example:\n  weft contacts delete 7rjScXuj")]
    Delete {
        /// Account id, short id, remark or name.
        contact: String,
    },
}

/// `weft chat ...`.
#[derive(Debug, Subcommand)]
pub enum ChatCommand {
    /// Send a message; returns once it is safely queued.
    #[command(
        after_help = "Examples:\n  weft chat send Bao 'Coffee at 3?'\n  weft chat send Bao 'Sure!' --reply-to 3fa4c2d1     (an id from `weft chat log`)\n  weft chat send Bao 'the beach' --image beach.jpg\n  weft chat send Bao --voice note.ogg\n  weft chat send Team 'minutes' --file minutes.pdf"
    )]
    Send {
        /// Friend (remark, name, account id or short id) or group (name or id).
        contact: String,
        /// The text (with an attachment: its caption, optional).
        #[arg(required_unless_present_any = ["file", "image", "voice", "video"])]
        text: Option<String>,
        /// Attach any file.
        #[arg(long, value_name = "PATH", group = "attachment")]
        file: Option<std::path::PathBuf>,
        /// Attach a photo (sent re-encoded, without EXIF/location, unless --original).
        #[arg(long, value_name = "PATH", group = "attachment")]
        image: Option<std::path::PathBuf>,
        /// Attach a voice note (Opus in Ogg or WebM).
        #[arg(long, value_name = "PATH", group = "attachment")]
        voice: Option<std::path::PathBuf>,
        /// Attach a video (sent as it is).
        #[arg(long, value_name = "PATH", group = "attachment")]
        video: Option<std::path::PathBuf>,
        /// With --image: send the file as it is (metadata included).
        #[arg(long, requires = "image")]
        original: bool,
        /// With an attachment: answer once it is sent, without waiting for a
        /// holder to have it (it may then be unavailable while you are offline).
        #[arg(long)]
        no_wait: bool,
        /// Quote a message (its id or a 6+ character prefix, as `chat log` shows).
        #[arg(long, value_name = "ID")]
        reply_to: Option<String>,
        /// Mention a group member (notified even if they muted the group); repeatable.
        #[arg(long, value_name = "MEMBER")]
        mention: Vec<String>,
        /// Mention everyone (group admins only).
        #[arg(long)]
        all: bool,
    },
    /// A conversation, oldest first (marks incoming messages read).
    #[command(after_help = "Examples:\n  weft chat log Bao\n  weft chat log Bao --limit 20 --ids")]
    Log {
        /// Friend (remark, name, account id or short id) or group (name or id).
        contact: String,
        /// Show the last N messages.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Show every message's short id (your own are always shown, for `recall`).
        #[arg(long)]
        ids: bool,
    },
    /// Conversations with their last message and unread count.
    #[command(after_help = "Example:\n  weft chat list")]
    List,
    /// Take back one of your messages (within 2 minutes).
    #[command(
        after_help = "Example:\n  weft chat recall 3fa4c2d1     (the id at the end of the line in `weft chat log`)"
    )]
    Recall {
        /// Message id or a 6+ character prefix of it.
        id: String,
    },
    /// Save a message's attachment: downloads it first if needed (resuming
    /// where an earlier download stopped), then writes the decrypted file.
    #[command(after_help = "Example:\n  weft chat save 3fa4c2d1 --out ~/beach.jpg")]
    Save {
        /// Message id or a 6+ character prefix of it.
        id: String,
        /// Where to write the file.
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
    },
    /// Show or set the size up to which attachments download as they arrive.
    #[command(
        after_help = "Examples:\n  weft chat auto-download\n  weft chat auto-download 20MiB"
    )]
    AutoDownload {
        /// New limit: bytes, or with KiB/MiB/GiB.
        size: Option<String>,
    },
    /// Stream new messages, receipts and requests as they happen.
    #[command(after_help = "Example:\n  weft chat watch")]
    Watch,
}

/// `weft device ...`.
#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// A one-use code (valid 5 minutes) for a new device; only the
    /// account's first device can make one.
    #[command(after_help = "Example:\n  weft device link --qr")]
    Link {
        /// Also print the code as a QR code.
        #[arg(long)]
        qr: bool,
    },
    /// Make this home a new device of the account whose device showed the
    /// code (instead of `weft init`), then exit; start it with `weft up`.
    #[command(after_help = "Example:\n  weft --home ~/laptop device join 5Kd3...  --name Laptop")]
    Join {
        /// The code or its `weft://device/...` link.
        code: String,
        /// What to call this device.
        #[arg(long, default_value = "New device")]
        name: String,
        /// How many of each conversation's newest messages to bring over.
        #[arg(long, default_value_t = 1000, value_name = "N")]
        history: u32,
    },
    /// The account's devices.
    #[command(after_help = "Example:\n  weft device list")]
    List,
    /// Take a device off the account (on the first device).
    #[command(after_help = "Example:\n  weft device revoke 12D3KooWAbc")]
    Revoke {
        /// Its peer id (or a unique start of it) or its name.
        device: String,
    },
    /// Rename this device.
    #[command(after_help = "Example:\n  weft device rename 'Work laptop'")]
    Rename {
        /// The new name.
        name: String,
    },
}

/// `weft group ...`.
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a group with friends; prints its id.
    #[command(after_help = "Example:\n  weft group create Climbers --members Bao Chen Dana")]
    Create {
        /// The group's name.
        name: String,
        /// Friends to add.
        #[arg(long, num_args = 1.., value_name = "FRIEND")]
        members: Vec<String>,
    },
    /// Add friends to a group.
    #[command(after_help = "Example:\n  weft group add Climbers Eve")]
    Add {
        /// Group name or id.
        group: String,
        /// Friends.
        #[arg(required = true)]
        members: Vec<String>,
    },
    /// Remove a member (owner, or admins removing members).
    #[command(after_help = "Example:\n  weft group remove Climbers Dana")]
    Remove {
        /// Group name or id.
        group: String,
        /// Member: name in the group, remark, or account id.
        member: String,
    },
    /// Leave a group.
    #[command(after_help = "Example:\n  weft group leave Climbers")]
    Leave {
        /// Group name or id.
        group: String,
    },
    /// Make a member an admin (owner only); `--demote` to undo.
    #[command(after_help = "Example:\n  weft group admin Climbers Bao")]
    Admin {
        /// Group name or id.
        group: String,
        /// Member.
        member: String,
        /// Make them a plain member again.
        #[arg(long)]
        demote: bool,
    },
    /// Rename a group (admins).
    #[command(after_help = "Example:\n  weft group rename Climbers 'Sunday Climbers'")]
    Rename {
        /// Group name or id.
        group: String,
        /// New name.
        name: String,
    },
    /// Pin a notice (admins); "" clears it.
    #[command(after_help = "Example:\n  weft group notice Climbers 'Meet at the north gate'")]
    Notice {
        /// Group name or id.
        group: String,
        /// The notice.
        text: String,
    },
    /// Your nickname in a group ("" clears it).
    #[command(after_help = "Example:\n  weft group nickname Climbers 'Ada (belay)'")]
    Nickname {
        /// Group name or id.
        group: String,
        /// The nickname.
        name: String,
    },
    /// Group settings (admins).
    #[command(after_help = "Example:\n  weft group settings Climbers --approval on")]
    Settings {
        /// Group name or id.
        group: String,
        /// Joining by link needs an admin's approval.
        #[arg(long, value_parser = ["on", "off"])]
        approval: String,
    },
    /// Mute a group (mentions still notify); `--off` to unmute.
    #[command(after_help = "Example:\n  weft group mute Climbers")]
    Mute {
        /// Group name or id.
        group: String,
        /// Unmute.
        #[arg(long)]
        off: bool,
    },
    /// A `weft://` invitation link, valid 7 days (admins); `--revoke LINK` to revoke one.
    #[command(after_help = "Example:\n  weft group link Climbers --qr")]
    Link {
        /// Group name or id.
        group: String,
        /// Also print it as a QR code.
        #[arg(long)]
        qr: bool,
        /// Revoke this link instead of making one.
        #[arg(long, value_name = "LINK")]
        revoke: Option<String>,
    },
    /// Ask to join a group through its link.
    #[command(after_help = "Example:\n  weft group join 'weft://group/...'")]
    Join {
        /// The link.
        link: String,
    },
    /// Join requests waiting for approval.
    #[command(after_help = "Example:\n  weft group requests Climbers")]
    Requests {
        /// Group name or id.
        group: String,
    },
    /// Approve a join request (admins).
    #[command(after_help = "Example:\n  weft group approve Climbers Finn")]
    Approve {
        /// Group name or id.
        group: String,
        /// Who: their name or account id, as `group requests` shows.
        member: String,
    },
    /// Your groups with unread counts and last message.
    #[command(after_help = "Example:\n  weft group list")]
    List,
    /// Members with roles and names.
    #[command(after_help = "Example:\n  weft group members Climbers")]
    Members {
        /// Group name or id.
        group: String,
    },
}

/// `weft init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Display name shown to friends.
    #[arg(long)]
    pub name: Option<String>,
}

/// `weft profile`.
#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// New display name (friends see it on your card).
    #[arg(long)]
    pub name: Option<String>,
    /// Your "What's Up" line, shown on the radar and People Nearby.
    #[arg(long)]
    pub whats_up: Option<String>,
    /// A small avatar (PNG or JPEG, at most 32 KB), shown on the radar.
    #[arg(long, value_name = "FILE")]
    pub avatar: Option<std::path::PathBuf>,
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
    /// Create the identity if this home has none (otherwise `up` asks for `weft init`).
    #[arg(long)]
    pub init: bool,
    /// With `--init`: the display name.
    #[arg(long, requires = "init")]
    pub name: Option<String>,
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
    #[command(
        after_help = "Examples:\n  weft nearby on --whats-up 'Coffee anyone?'\n  weft nearby on --lat 31.23 --lon 121.47 --minutes 30"
    )]
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
    #[command(after_help = "Example:\n  weft nearby off")]
    Off,
}

/// `weft dial`.
#[derive(Debug, Args)]
pub struct DialArgs {
    /// A multiaddr (e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...) or a
    /// `weft://` link (its peer and addresses are dialled).
    pub addr: String,
}

/// `weft open`.
#[derive(Debug, Args)]
pub struct OpenArgs {
    /// Only print the link; do not start a browser.
    #[arg(long)]
    pub no_browser: bool,
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
    #[command(
        after_help = "Example:\n  weft oa create --kind subscription \"Bao's Daily\" --description 'News from Bao'"
    )]
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
    /// Follow an account (by id, or by name from `weft oa search`).
    #[command(
        after_help = "Examples:\n  weft oa follow \"Bao's Daily\"     (found with `weft oa search`)\n  weft oa follow 7rjScXuj"
    )]
    Follow {
        /// Account id, short id, or name of an account `weft oa search` found.
        oa: String,
    },
    /// Stop following; its posts disappear.
    #[command(after_help = "Example:\n  weft oa unfollow \"Bao's Daily\"")]
    Unfollow {
        /// Account id, short id or name.
        oa: String,
    },
    /// Publish a broadcast (refused over quota).
    #[command(
        after_help = "Example:\n  weft oa publish \"Bao's Daily\" $'Opening hours\\nWe open at 9 from Monday.'"
    )]
    Publish {
        /// One of your accounts: id, short id or name.
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
    #[command(after_help = "Example:\n  weft oa list")]
    List,
    /// Find accounts by name through the DHT.
    #[command(after_help = "Example:\n  weft oa search Dumpling House")]
    Search {
        /// Words of the name (no quotes needed).
        #[arg(required = true, num_args = 1..)]
        query: Vec<String>,
    },
    /// Posts from subscription accounts you follow (--all: service accounts too).
    #[command(after_help = "Example:\n  weft oa feed --all")]
    Feed {
        /// Include service accounts.
        #[arg(long)]
        all: bool,
    },
    /// Send a message to an account; prints its (automatic) answer.
    #[command(
        after_help = "Example:\n  weft oa message \"Dumpling House\" 'Are you open on Sunday?'"
    )]
    Message {
        /// Account id, short id or name.
        oa: String,
        /// Text.
        text: String,
    },
    /// Answer a follower's question yourself (your own account; the follower's node must be online).
    #[command(
        after_help = "Example:\n  weft oa reply \"Dumpling House\" 4n7vj5 'Yes, Sunday 10 to 4. See you!'"
    )]
    Reply {
        /// One of your accounts.
        oa: String,
        /// The follower: account id, or 6+ characters of one shown by `weft oa log`.
        follower: String,
        /// Text.
        text: String,
    },
    /// Your questions and its answers (or, for your own account, its inbox).
    #[command(after_help = "Example:\n  weft oa log \"Dumpling House\"")]
    Log {
        /// Account id, short id or name.
        oa: String,
    },
    /// Set a keyword auto-reply for one of your accounts.
    #[command(
        after_help = "Example:\n  weft oa autoreply \"Dumpling House\" hours 'Open 10 to 4, every day.'"
    )]
    Autoreply {
        /// One of your accounts.
        oa: String,
        /// Keyword (case-insensitive, matched anywhere in the message).
        keyword: String,
        /// The reply.
        reply: String,
    },
    /// Set the menu shown when a follower sends "menu".
    #[command(after_help = "Example:\n  weft oa menu \"Dumpling House\" Hours Prices Address")]
    Menu {
        /// One of your accounts.
        oa: String,
        /// Items.
        items: Vec<String>,
    },
    /// As a verifier: issue a verification certificate for an account.
    #[command(after_help = "Example:\n  weft oa verify 7rjScXujAbC... --name 'City Registry'")]
    Verify {
        /// Account id to verify.
        oa: String,
        /// Your name as verifier (default: your display name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Attach a verifier's certificate to one of your accounts.
    #[command(
        after_help = "Example:\n  weft oa certify \"Dumpling House\" <certificate from the verifier>"
    )]
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
    #[command(after_help = "Example:\n  weft blob add photo.jpg")]
    Add {
        /// The file (at most 16 MiB).
        file: std::path::PathBuf,
    },
    /// Write a blob stored on this node to a file.
    #[command(after_help = "Example:\n  weft blob get 3fa4c2... --out copy.jpg")]
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
    #[command(
        after_help = "Examples:\n  weft moments post 'Sunset at the pier' --image sunset.jpg\n  weft moments post 'Team dinner' --to only Bao Chen\n  weft moments post 'Secret' --to except Work"
    )]
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
    #[command(
        after_help = "Example:\n  weft moments feed --limit 10\n  weft moments like 3fa4c2d1     (an id from the feed)"
    )]
    Feed {
        /// Most posts shown.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// One post.
    #[command(after_help = "Example:\n  weft moments show 3fa4c2d1")]
    Show {
        /// Post id or a 6+ character prefix of it (as `moments feed` shows).
        post: String,
    },
    /// Like a post.
    #[command(
        after_help = "Example:\n  weft moments like 3fa4c2d1     (an id from `weft moments feed`)"
    )]
    Like {
        /// Post id or a 6+ character prefix of it (as `moments feed` shows).
        post: String,
    },
    /// Take a like back.
    #[command(after_help = "Example:\n  weft moments unlike 3fa4c2d1")]
    Unlike {
        /// Post id or a 6+ character prefix of it (as `moments feed` shows).
        post: String,
    },
    /// Comment on a post (or reply to a comment).
    #[command(after_help = "Example:\n  weft moments comment 3fa4c2d1 'Beautiful!'")]
    Comment {
        /// Post id or a 6+ character prefix of it (as `moments feed` shows).
        post: String,
        /// The comment.
        text: String,
        /// The comment replied to.
        #[arg(long)]
        reply_to: Option<String>,
    },
    /// Delete one of your posts (a signed tombstone reaches your friends).
    #[command(after_help = "Example:\n  weft moments delete 3fa4c2d1")]
    Delete {
        /// Post id or a 6+ character prefix of it (as `moments feed` shows).
        post: String,
    },
    /// Save a post's image to a file (fetched and verified first if needed).
    #[command(after_help = "Example:\n  weft moments image 3fa4c2d1 --index 0 --out sunset.jpg")]
    Image {
        /// Post id or a 6+ character prefix of it (as `moments feed` shows).
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
    #[command(after_help = "Example:\n  weft moments tag Work Chen 'Dana K'")]
    Tag {
        /// Tag name.
        name: String,
        /// Friends in it.
        members: Vec<String>,
    },
    /// Friend tags.
    #[command(after_help = "Example:\n  weft moments tags")]
    Tags,
    /// Show or set how many days back friends may see your posts (0 = all).
    #[command(after_help = "Example:\n  weft moments settings --visible-days 30")]
    Settings {
        /// Days (0 = everything).
        #[arg(long)]
        visible_days: Option<u32>,
    },
}

/// `weft mint ...`.
#[derive(Debug, Subcommand)]
pub enum MintCommand {
    /// A new mint on this node, with one keyset per currency.
    #[command(after_help = "Example:\n  weft mint create 'Harbour Bank' --currency CNY,EUR,USD")]
    Create {
        /// Its name.
        name: String,
        /// Currencies (amounts in minor units: two decimals).
        #[arg(long = "currency", value_delimiter = ',', required = true)]
        currencies: Vec<String>,
    },
    /// Issue money into a friend's wallet (a stored-value top-up).
    #[command(after_help = "Example:\n  weft mint issue 'Harbour Bank' Ada 100.00 CNY")]
    Issue {
        /// One of your mints (name or id).
        mint: String,
        /// The friend.
        contact: String,
        /// Amount ("100.00").
        #[arg(allow_hyphen_values = true)]
        amount: String,
        /// Currency.
        currency: String,
    },
    /// Set the rate the mint exchanges FROM into TO at.
    #[command(after_help = "Example:\n  weft mint rate 'Harbour Bank' CNY EUR 0.1285")]
    Rate {
        /// One of your mints.
        mint: String,
        /// From currency.
        from: String,
        /// To currency.
        to: String,
        /// One unit of FROM in TO.
        rate: String,
    },
    /// Your mints: currencies, rates, and what is outstanding.
    #[command(after_help = "Example:\n  weft mint status --json")]
    Status,
}

/// `weft wallet [history]`.
#[derive(Debug, Args)]
pub struct WalletArgs {
    /// `history`: every payment in and out.
    #[command(subcommand)]
    pub cmd: Option<WalletCommand>,
}

/// `weft wallet history`.
#[derive(Debug, Subcommand)]
pub enum WalletCommand {
    /// Payments in and out, newest first.
    #[command(after_help = "Example:\n  weft wallet history --limit 20")]
    History {
        /// Most entries.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

/// `weft pay ...`.
#[derive(Debug, Subcommand)]
pub enum PayCommand {
    /// Send money to a friend (locked to their devices; back to you if
    /// not claimed in 24 h).
    #[command(after_help = "Example:\n  weft pay send Bao 12.50 CNY --note lunch")]
    Send {
        /// The friend.
        to: String,
        /// Amount ("12.50").
        #[arg(allow_hyphen_values = true)]
        amount: String,
        /// Currency.
        currency: String,
        /// A note.
        #[arg(long, default_value = "")]
        note: String,
        /// The mint to pay from (default: the one holding most of it).
        #[arg(long)]
        mint: Option<String>,
        /// A coupon to use (its code or title).
        #[arg(long)]
        coupon: Option<String>,
        /// Seconds until an unclaimed payment comes back.
        #[arg(long, value_name = "SECS")]
        refund_after: Option<u64>,
    },
    /// Ask to be paid: prints the request, its link and a QR code.
    #[command(after_help = "Example:\n  weft pay request 8.00 EUR --note 'flat white'")]
    Request {
        /// Amount.
        #[arg(allow_hyphen_values = true)]
        amount: String,
        /// Currency.
        currency: String,
        /// A note.
        #[arg(long, default_value = "")]
        note: String,
        /// The mint to be paid in.
        #[arg(long)]
        mint: Option<String>,
        /// Seconds it stays valid (default 24 h).
        #[arg(long, value_name = "SECS")]
        valid: Option<u64>,
    },
    /// The payment requests you made, and whether each is paid.
    #[command(after_help = "Example:\n  weft pay requests")]
    Requests,
    /// Show a payment request and pay it (asks first on a terminal).
    #[command(after_help = "Example:\n  weft pay scan weft://pay/3mJ... --yes")]
    Scan {
        /// The request or its link.
        request: String,
        /// Pay without asking.
        #[arg(long)]
        yes: bool,
        /// A coupon to use.
        #[arg(long)]
        coupon: Option<String>,
    },
    /// Ecash as text (a `weft://cash/...` token) for whoever redeems it first.
    #[command(after_help = "Example:\n  weft pay token 5.00 CNY")]
    Token {
        /// Amount.
        #[arg(allow_hyphen_values = true)]
        amount: String,
        /// Currency.
        currency: String,
        /// The mint.
        #[arg(long)]
        mint: Option<String>,
    },
    /// Take ecash text into the wallet (refused if someone redeemed it first).
    #[command(after_help = "Example:\n  weft pay redeem weft://cash/...")]
    Redeem {
        /// The token.
        token: String,
    },
    /// Exchange at the mint: shows the rate, asks, then exchanges.
    #[command(after_help = "Example:\n  weft pay exchange 100.00 CNY EUR --yes")]
    Exchange {
        /// Amount of FROM.
        #[arg(allow_hyphen_values = true)]
        amount: String,
        /// From currency.
        from: String,
        /// To currency.
        to: String,
        /// The mint.
        #[arg(long)]
        mint: Option<String>,
        /// Exchange without asking.
        #[arg(long)]
        yes: bool,
    },
}

/// `weft redpacket ...`.
#[derive(Debug, Subcommand)]
pub enum PacketCommand {
    /// Send a red envelope of TOTAL in COUNT shares.
    #[command(after_help = "Example:\n  weft redpacket send Climbers 10.00 CNY --count 5 --lucky")]
    Send {
        /// A group (name or id) or a friend.
        to: String,
        /// Total ("10.00").
        #[arg(allow_hyphen_values = true)]
        total: String,
        /// Currency.
        currency: String,
        /// Shares.
        #[arg(long)]
        count: u32,
        /// Random shares (each at least 0.01).
        #[arg(long)]
        lucky: bool,
        /// A note.
        #[arg(long, default_value = "")]
        note: String,
        /// The mint.
        #[arg(long)]
        mint: Option<String>,
        /// Seconds it may be grabbed (default 24 h); the rest comes back.
        #[arg(long, value_name = "SECS")]
        expires: Option<u64>,
    },
    /// Grab a share.
    #[command(after_help = "Example:\n  weft redpacket grab 4fT9...")]
    Grab {
        /// The envelope's id (or a unique start of it).
        id: String,
    },
    /// Who got how much.
    #[command(after_help = "Example:\n  weft redpacket show 4fT9... --json")]
    Show {
        /// The envelope's id.
        id: String,
    },
    /// Envelopes you sent or were given.
    #[command(after_help = "Example:\n  weft redpacket list")]
    List,
}

/// `weft coupon ...`.
#[derive(Debug, Subcommand)]
pub enum CouponCommand {
    /// Offer a coupon of your mint (posted to your official account's followers with --oa).
    #[command(
        after_help = "Example:\n  weft coupon create --oa 'Harbour Cafe' --mint Harbour --currency EUR --off 1.00 --valid 604800"
    )]
    Create {
        /// The official account that offers it.
        #[arg(long)]
        oa: Option<String>,
        /// Your mint.
        #[arg(long)]
        mint: String,
        /// The currency it discounts.
        #[arg(long)]
        currency: String,
        /// Amount off ("5.00").
        #[arg(long)]
        off: Option<String>,
        /// Percent off (1-100).
        #[arg(long)]
        percent: Option<u8>,
        /// Title (default: "5.00 EUR off").
        #[arg(long)]
        title: Option<String>,
        /// Seconds it is valid.
        #[arg(long, value_name = "SECS", default_value_t = 604800)]
        valid: u64,
    },
    /// Take one coupon of an offer into your wallet.
    #[command(after_help = "Example:\n  weft coupon claim weft://coupon/...")]
    Claim {
        /// The `weft://coupon/...` link.
        link: String,
    },
    /// The coupons your mints offer.
    #[command(after_help = "Example:\n  weft coupon list")]
    List,
}
