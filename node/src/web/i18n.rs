//! The web app's strings, through Fluent: one `.ftl` file per language in
//! `web/locales/`, compiled into the binary. A translator adds a language
//! by adding one file and one line to [`LOCALES`]; right-to-left languages
//! are listed in [`RTL`] and get `dir="rtl"`.
//!
//! `en-XA` is a pseudo-locale for tests: the English strings with every
//! letter accented and each string bracketed (`[Ĉĥȧŧş]`), so a string that
//! skipped translation stands out as plain ASCII on the page.

use std::borrow::Cow;
use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

/// Every language the app speaks: tag, its own name, its `.ftl` source.
/// The first is the fallback for strings another file lacks.
pub const LOCALES: &[(&str, &str, &str)] = &[
    ("en", "English", include_str!("locales/en.ftl")),
    ("zh-CN", "简体中文", include_str!("locales/zh-CN.ftl")),
    ("es", "Español", include_str!("locales/es.ftl")),
];

/// The pseudo-locale's tag.
pub const PSEUDO: &str = "en-XA";

/// Languages written right to left (primary subtags).
const RTL: &[&str] = &["ar", "he", "fa", "ur", "yi", "ps", "sd", "ug"];

type Bundle = FluentBundle<FluentResource>;

/// One language: its tag, its bundle, and English underneath for any
/// string its file does not have yet.
pub struct Locale {
    /// BCP 47 tag, as in `<html lang>`.
    pub tag: &'static str,
    bundle: Bundle,
    fallback: Option<&'static Locale>,
}

fn bundle(tag: &str, src: &str, pseudo: bool) -> Bundle {
    let id: LanguageIdentifier = tag.parse().unwrap_or_default();
    let mut b = FluentBundle::new_concurrent(vec![id]);
    b.set_use_isolating(false);
    if pseudo {
        b.set_transform(Some(accent));
    }
    match FluentResource::try_new(src.to_string()) {
        Ok(r) => {
            if let Err(e) = b.add_resource(r) {
                tracing::error!(tag, errors = ?e, "web strings: duplicate messages");
            }
        }
        Err((r, e)) => {
            tracing::error!(tag, errors = ?e, "web strings do not parse; using what does");
            let _ = b.add_resource(r);
        }
    }
    b
}

fn all() -> &'static [Locale] {
    static ALL: OnceLock<Vec<Locale>> = OnceLock::new();
    ALL.get_or_init(|| {
        static EN: OnceLock<Locale> = OnceLock::new();
        let en = EN.get_or_init(|| Locale {
            tag: LOCALES[0].0,
            bundle: bundle(LOCALES[0].0, LOCALES[0].2, false),
            fallback: None,
        });
        let mut v: Vec<Locale> = LOCALES
            .iter()
            .map(|(tag, _, src)| Locale {
                tag,
                bundle: bundle(tag, src, false),
                fallback: Some(en),
            })
            .collect();
        v.push(Locale {
            tag: PSEUDO,
            bundle: bundle(PSEUDO, LOCALES[0].2, true),
            fallback: None,
        });
        v
    })
}

impl Locale {
    /// The string `key`, with no arguments.
    pub fn t(&self, key: &str) -> String {
        self.format(key, None)
    }

    /// The string `key` with one argument.
    pub fn t1(
        &self,
        key: &str,
        name: &'static str,
        value: impl Into<FluentValue<'static>>,
    ) -> String {
        let mut args = FluentArgs::new();
        args.set(name, value.into());
        self.format(key, Some(&args))
    }

    fn format(&self, key: &str, args: Option<&FluentArgs>) -> String {
        if let Some(p) = self.bundle.get_message(key).and_then(|m| m.value()) {
            let mut errors = Vec::new();
            let s = self.bundle.format_pattern(p, args, &mut errors);
            if !errors.is_empty() {
                tracing::debug!(key, ?errors, "web string formatted with errors");
            }
            return s.into_owned();
        }
        match self.fallback {
            Some(f) => f.format(key, args),
            None => {
                tracing::warn!(key, "web string missing");
                key.to_string()
            }
        }
    }

    /// `rtl` or `ltr`.
    pub fn dir(&self) -> &'static str {
        let primary = self.tag.split('-').next().unwrap_or("");
        if RTL.contains(&primary) {
            "rtl"
        } else {
            "ltr"
        }
    }
}

/// The locale with exactly this tag (case-insensitive), if the app has it.
pub fn by_tag(tag: &str) -> Option<&'static Locale> {
    all()
        .iter()
        .find(|l| l.tag.eq_ignore_ascii_case(tag.trim()))
}

/// The best locale for an `Accept-Language` header: the first (by `q`)
/// tag the app has, matched exactly or by its primary language
/// (`zh-Hans-CN` and `zh` find `zh-CN`); English otherwise.
pub fn negotiate(accept: Option<&str>) -> &'static Locale {
    let mut wanted: Vec<(f32, &str)> = accept
        .unwrap_or("")
        .split(',')
        .take(16)
        .filter_map(|part| {
            let mut it = part.split(';');
            let tag = it.next()?.trim();
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            (!tag.is_empty() && tag.len() <= 35 && q > 0.0).then_some((q, tag))
        })
        .collect();
    wanted.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
    for (_, tag) in &wanted {
        if let Some(l) = by_tag(tag) {
            return l;
        }
        let primary = tag.split(['-', '_']).next().unwrap_or("");
        if let Some(l) = all()
            .iter()
            .filter(|l| l.tag != PSEUDO)
            .find(|l| l.tag.split('-').next() == Some(primary))
        {
            return l;
        }
    }
    &all()[0]
}

/// The pseudo-locale's transform: accented letters, brackets around.
fn accent(s: &str) -> Cow<'_, str> {
    const FROM: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const TO: &str = "ȧƀƈḓḗƒɠħīĵķŀḿƞǿƥɋřşŧŭṽẇẋẏẑȦƁƇḒḖƑƓĦĪĴĶĿḾȠǾƤɊŘŞŦŬṼẆẊẎẐ";
    if s.trim().is_empty() {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() * 2 + 2);
    out.push('[');
    for c in s.chars() {
        match FROM.find(c) {
            Some(i) => out.push(TO.chars().nth(i).unwrap_or(c)),
            None => out.push(c),
        }
    }
    out.push(']');
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key of the English file, by a line-start scan.
    fn keys(src: &str) -> Vec<&str> {
        src.lines()
            .filter_map(|l| l.split_once(" ="))
            .map(|(k, _)| k)
            .filter(|k| !k.starts_with(['#', ' ', '.', '-']) && !k.is_empty())
            .collect()
    }

    #[test]
    fn every_language_has_every_english_string() {
        let en = keys(LOCALES[0].2);
        assert!(en.len() > 50, "{}", en.len());
        for (tag, _, src) in &LOCALES[1..] {
            let theirs = keys(src);
            let missing: Vec<_> = en.iter().filter(|k| !theirs.contains(k)).collect();
            assert!(missing.is_empty(), "{tag} lacks {missing:?}");
            let extra: Vec<_> = theirs.iter().filter(|k| !en.contains(k)).collect();
            assert!(extra.is_empty(), "{tag} has keys English lacks: {extra:?}");
            let b = by_tag(tag).unwrap();
            for k in &en {
                assert_ne!(b.t(k), *k, "{tag}: {k} does not format");
            }
        }
    }

    #[test]
    fn accept_language_picks_the_best_we_have() {
        assert_eq!(negotiate(Some("zh-CN,zh;q=0.9,en;q=0.8")).tag, "zh-CN");
        assert_eq!(negotiate(Some("zh-Hans-CN")).tag, "zh-CN");
        assert_eq!(negotiate(Some("fr-FR, es;q=0.5")).tag, "es");
        assert_eq!(negotiate(Some("de")).tag, "en");
        assert_eq!(negotiate(None).tag, "en");
        assert_eq!(negotiate(Some("en;q=0.1, es;q=0.9")).tag, "es");
        assert_eq!(negotiate(Some(&"x,".repeat(10_000))).tag, "en");
        // The pseudo-locale is chosen by name only, never by its primary tag.
        assert_eq!(negotiate(Some("en-XA")).tag, PSEUDO);
    }

    #[test]
    fn pseudo_locale_leaves_no_plain_letters_but_keeps_arguments() {
        let p = by_tag(PSEUDO).unwrap();
        let s = p.t("nav-chats");
        assert!(
            s.starts_with('[') && !s.chars().any(|c| c.is_ascii_alphabetic()),
            "{s}"
        );
        let n = p.t1("chats-unread", "count", 3);
        assert!(n.contains('3'), "{n}");
        assert_eq!(by_tag("zh-CN").unwrap().t("nav-chats"), "聊天");
        assert_eq!(by_tag("en").unwrap().dir(), "ltr");
    }
}
