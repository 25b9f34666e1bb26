//! Text for a terminal: what other people wrote, made safe to print, and
//! the small formats every list shares (times, sizes, cut text, short ids).
//!
//! Names, greetings, chat texts, Moments and official-account posts come
//! from other people. Printed raw, an escape sequence in them could rewrite
//! the screen or the window title, and a bidi override could show a link or
//! an id reversed. [`clean`] drops both before anything reaches stdout.

use std::sync::OnceLock;

use time::{OffsetDateTime, UtcOffset};

/// Characters shown of an id: more than the 6 a command needs, so the
/// printed form stays unique as the lists grow.
pub const SHORT_ID: usize = 8;

/// Control characters (C0, DEL, C1: the start of every escape sequence) and
/// bidirectional formatting characters removed; newlines kept.
pub fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| *c == '\n' || !(c.is_control() || is_bidi_control(*c)))
        .collect()
}

/// [`clean`], on one line: newlines and tabs become spaces.
pub fn clean_line(s: &str) -> String {
    clean(&s.replace(['\n', '\t'], " "))
}

/// Unicode's explicit directional formatting characters (UAX #9) and marks.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `s` (cleaned, one line) cut to at most `max` characters at a word
/// boundary, with `…` when something was cut.
pub fn ellipsis(s: &str, max: usize) -> String {
    let s = clean_line(s);
    if s.chars().count() <= max {
        return s;
    }
    let cut: String = s.chars().take(max.saturating_sub(1)).collect();
    let at_word = match cut.rfind(' ') {
        Some(i) if i > cut.len() / 2 => &cut[..i],
        _ => cut.as_str(),
    };
    format!("{}…", at_word.trim_end())
}

/// The first [`SHORT_ID`] characters of an id: what human output shows and
/// what every command accepts back.
pub fn short(id: &str) -> &str {
    match id.char_indices().nth(SHORT_ID) {
        Some((i, _)) => &id[..i],
        None => id,
    }
}

/// A byte count for people: `980 B`, `32.0 KB`, `10.5 MB`.
pub fn size(bytes: u64) -> String {
    const K: f64 = 1000.0;
    let b = bytes as f64;
    if b < K {
        format!("{bytes} B")
    } else if b < K * K {
        format!("{:.1} KB", b / K)
    } else {
        format!("{:.1} MB", b / (K * K))
    }
}

/// The local UTC offset, read once at start-up while the process has one
/// thread (the only time the platform lets it be read soundly); UTC if not.
static OFFSET: OnceLock<UtcOffset> = OnceLock::new();

/// Reads the local offset; call before any thread starts.
pub fn init_local_offset() {
    let _ = OFFSET.set(UtcOffset::current_local_offset().unwrap_or(UtcOffset::UTC));
}

fn local(ms: u64) -> Option<OffsetDateTime> {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
    Some(t.to_offset(*OFFSET.get_or_init(|| UtcOffset::UTC)))
}

/// A time (Unix milliseconds) the way a messenger lists it: the clock time
/// today (`12:04`), else the date (`Mar 3`, or `2025-03-03` in another year).
pub fn when(ms: u64) -> String {
    when_at(ms, weft_protocol::unix_now_ms())
}

fn when_at(ms: u64, now_ms: u64) -> String {
    let (Some(t), Some(now)) = (local(ms), local(now_ms)) else {
        return "-".into();
    };
    if t.date() == now.date() {
        clock(ms)
    } else if t.year() == now.year() {
        format!("{} {}", &month(t)[..3], t.day())
    } else {
        day(ms)
    }
}

/// `HH:MM` of a time.
pub fn clock(ms: u64) -> String {
    local(ms)
        .map(|t| format!("{:02}:{:02}", t.hour(), t.minute()))
        .unwrap_or_else(|| "--:--".into())
}

/// `YYYY-MM-DD` of a time: the day separator of a conversation.
pub fn day(ms: u64) -> String {
    local(ms)
        .map(|t| format!("{}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()))
        .unwrap_or_else(|| "-".into())
}

fn month(t: OffsetDateTime) -> String {
    t.month().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// #13 defect 12: escape sequences and bidi overrides never reach the terminal.
    #[test]
    fn escapes_and_bidi_overrides_are_removed() {
        let hostile = "hi\u{1b}]0;pwned\u{7}\u{1b}[2J\u{202E}gnp.exe\u{9b}31m\r";
        let shown = clean(hostile);
        assert!(
            !shown.chars().any(|c| c.is_control() || is_bidi_control(c)),
            "{shown:?}"
        );
        assert_eq!(shown, "hi]0;pwned[2Jgnp.exe31m");
        assert_eq!(clean("two\nlines"), "two\nlines");
        assert_eq!(clean_line("two\nlines"), "two lines");
    }

    #[test]
    fn cut_text_ends_on_a_word_with_an_ellipsis() {
        assert_eq!(ellipsis("short", 10), "short");
        assert_eq!(
            ellipsis("see you at the station tomorrow", 20),
            "see you at the…"
        );
        assert_eq!(size(11_000_000), "11.0 MB");
        assert_eq!(size(10_485_760), "10.5 MB");
        assert_eq!(size(512), "512 B");
        assert_eq!(short("abcdefghijkl"), "abcdefgh");
    }

    #[test]
    fn times_are_clock_today_and_dates_before() {
        let now = 1_767_000_000_000; // 2025-12-29 09:20 UTC
        assert_eq!(when_at(now - 60_000, now), clock(now - 60_000));
        assert_eq!(when_at(now - 40 * 86_400_000, now), "Nov 19");
        assert_eq!(when_at(now - 400 * 86_400_000, now), "2024-11-24");
    }
}
