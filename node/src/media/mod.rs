//! Attachment media checks: MIME sniffing, image re-encoding and thumbnails,
//! voice-note durations and file-name cleaning.
//!
//! Everything here runs on bytes a peer chose, so nothing may panic, loop
//! without bound or allocate what a header merely claims: image dimensions
//! are read from the header and refused before any pixel buffer exists, and
//! the container parsers (Ogg, EBML) cap every walk.

mod audio;
mod image;
pub mod samples;

pub use self::audio::audio_duration_ms;
pub use self::image::{check_thumbnail, prepare_image, read_qr, thumbnail, ImageVersions};

use self::audio::{ebml_doc_type, opus_pre_skip, webm_audio_only};

/// What an attachment is, as shown to the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    /// A JPEG, PNG, GIF or WebP picture.
    Image,
    /// A voice note or other Ogg/WebM audio.
    Voice,
    /// Any video/* file.
    Video,
    /// Anything else, offered only for saving.
    File,
}

/// Why media could not be processed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The bytes are not an image format accepted here.
    #[error("this is {0}, not a JPEG, PNG, GIF or WebP image; send it as a file instead")]
    NotAnImage(String),
    /// The input is bigger than this operation accepts.
    #[error("the file is {size} bytes; the limit is {limit}")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// Largest accepted size.
        limit: usize,
    },
    /// The header claims more pixels than we are willing to decode.
    #[error("the image is {width}x{height} pixels, more than allowed")]
    TooManyPixels {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
    },
    /// The image is corrupt or uses an unsupported variant.
    #[error("the image could not be read: {0}")]
    Decode(String),
    /// Encoding the JPEG output failed.
    #[error("the image could not be re-encoded: {0}")]
    Encode(String),
}

/// Longest side of the re-encoded standard image.
pub const STANDARD_SIDE: u32 = 1920;
/// Longest side of a thumbnail we make.
pub const THUMB_SIDE: u32 = 160;
/// Largest inline thumbnail, made or accepted.
pub const MAX_THUMB_BYTES: usize = 16 * 1024;
/// Largest image file the sender decodes.
pub const MAX_IMAGE_BYTES: usize = 50 * 1024 * 1024;
const OCTET_STREAM: &str = "application/octet-stream";

/// Bytes of a file's head that [`sniff_mime`] looks at.
pub const SNIFF_BYTES: usize = 8192;

/// MIME type from the first [`SNIFF_BYTES`] of a file (give it at least
/// that many; more are ignored); `application/octet-stream` when unknown.
pub fn sniff_mime(head: &[u8]) -> String {
    let head = &head[..head.len().min(SNIFF_BYTES)];
    // infer needs 257+ bytes to see WebM and says audio/opus for Ogg Opus,
    // so both containers are recognised here first.
    match ebml_doc_type(head) {
        Some(b"webm") if webm_audio_only(head) => return "audio/webm".into(),
        Some(b"webm") => return "video/webm".into(),
        Some(b"matroska") => return "video/x-matroska".into(),
        _ => {}
    }
    if opus_pre_skip(head).is_some() {
        return "audio/ogg".into();
    }
    if let Some(kind) = infer::get(head) {
        return match kind.mime_type() {
            "audio/opus" => "audio/ogg".into(),
            mime => mime.into(),
        };
    }
    if looks_like_text(head) {
        return "text/plain".into();
    }
    OCTET_STREAM.into()
}

/// UTF-8 without NULs; a character cut off by the end of `head` is allowed.
fn looks_like_text(head: &[u8]) -> bool {
    if head.is_empty() || head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && e.valid_up_to() > 0,
    }
}

/// Lower-case type/subtype without parameters, with aliases folded.
fn normalise(mime: &str) -> String {
    let bare = mime.split_once(';').map_or(mime, |(bare, _)| bare);
    let bare = bare.trim().to_ascii_lowercase();
    match bare.as_str() {
        "image/jpg" | "image/pjpeg" => "image/jpeg".into(),
        "audio/opus" => "audio/ogg".into(),
        "audio/x-wav" | "audio/wave" => "audio/wav".into(),
        _ => bare,
    }
}

/// The kind a MIME type may be sent as.
pub fn kind_of(mime: &str) -> MediaKind {
    let mime = normalise(mime);
    match mime.as_str() {
        "image/jpeg" | "image/png" | "image/gif" | "image/webp" => MediaKind::Image,
        "audio/ogg" | "audio/webm" => MediaKind::Voice,
        m if m.starts_with("video/") => MediaKind::Video,
        _ => MediaKind::File,
    }
}

/// Whether bytes sniffed as `sniffed` may be presented as `declared`.
///
/// Besides equal types (after folding aliases such as audio/opus →
/// audio/ogg), WebM may be declared as audio or video, and anything may be
/// declared as `application/octet-stream`, which only ever shows as a file.
pub fn mime_matches(declared: &str, sniffed: &str) -> bool {
    let (declared, sniffed) = (normalise(declared), normalise(sniffed));
    let webm = |m: &str| m == "audio/webm" || m == "video/webm";
    declared == sniffed || declared == OCTET_STREAM || (webm(&declared) && webm(&sniffed))
}

/// A sender's file name made safe to show and to save under.
pub fn safe_file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|&c| !c.is_control() && !is_bidi_control(c))
        .collect();
    // Dots and spaces in any order (" . .x"): a name never starts with a
    // dot (hidden, or `.`/`..`). Found by the `media` fuzz target.
    let trimmed = cleaned
        .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_end();
    let cut = cut_keeping_extension(trimmed, 255);
    match cut.trim_end() {
        "" => "file".into(),
        cut => cut.into(),
    }
}

/// Bidirectional overrides let "gpj.exe" display as "exe.jpg".
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// At most `max` bytes, keeping a short extension so the saved file still
/// opens with the right program.
fn cut_keeping_extension(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.into();
    }
    if let Some(dot) = name.rfind('.').filter(|&d| d > 0 && name.len() - d <= 16) {
        let ext = &name[dot..];
        return format!("{}{ext}", floor_to_boundary(&name[..dot], max - ext.len()));
    }
    floor_to_boundary(name, max).into()
}

fn floor_to_boundary(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Test inputs built in code, shared by the tests of this module and its
/// submodules.
#[cfg(test)]
pub(super) mod fixtures {
    use ::image::{Rgb, RgbImage};

    use super::audio::ogg_crc;
    use super::image::encode_jpeg;

    pub(super) fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
        encode_jpeg(&img, 90).unwrap()
    }

    pub(super) use super::samples::png_bomb;

    fn ogg(flags: u8, granule: u64, seq: u32, packets: &[&[u8]]) -> Vec<u8> {
        let (mut lacing, mut body) = (Vec::new(), Vec::<u8>::new());
        for p in packets {
            lacing.extend(vec![255u8; p.len() / 255]);
            lacing.push((p.len() % 255) as u8);
            body.extend(*p);
        }
        let mut page = b"OggS\0".to_vec();
        page.push(flags);
        page.extend(granule.to_le_bytes());
        page.extend(0x5eed_u32.to_le_bytes());
        page.extend(seq.to_le_bytes());
        page.extend([0; 4]);
        page.push(u8::try_from(lacing.len()).unwrap());
        page.extend(lacing);
        page.extend(body);
        let crc = ogg_crc(&page);
        page[22..26].copy_from_slice(&crc.to_le_bytes());
        page
    }

    /// Three seconds of "Opus": pre-skip 312, last granule 3 * 48000 + 312.
    pub(super) fn ogg_opus() -> Vec<u8> {
        let mut head = b"OpusHead\x01\x01".to_vec();
        head.extend(312u16.to_le_bytes());
        head.extend(48_000u32.to_le_bytes());
        head.extend([0, 0, 0]);
        let fake = [b"OggS\0".as_slice(), &[7; 300]].concat(); // no valid page inside
        let mut out = ogg(2, 0, 0, &[&head]);
        out.extend(ogg(0, 0, 1, &[b"OpusTags\0\0\0\0\0\0\0\0"]));
        out.extend(ogg(0, 48_312, 2, &[&[1; 400], &[2; 100]]));
        out.extend(ogg(4, 3 * 48_000 + 312, 3, &[&fake, &[3; 90]]));
        out
    }

    fn ebml(id: &[u8], data: &[u8]) -> Vec<u8> {
        let mut out = id.to_vec();
        out.push(1); // 8-byte size
        out.extend(&(data.len() as u64).to_be_bytes()[1..]);
        out.extend(data);
        out
    }

    pub(super) fn webm(scale: Option<u32>, duration: &[u8], track_type: u8) -> Vec<u8> {
        let mut info = Vec::new();
        if let Some(scale) = scale {
            info = ebml(&[0x2A, 0xD7, 0xB1], &scale.to_be_bytes());
        }
        info.extend(ebml(&[0x44, 0x89], duration));
        let track = ebml(&[0xAE], &ebml(&[0x83], &[track_type]));
        let unknown_size = [1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        let mut out = ebml(&[0x1A, 0x45, 0xDF, 0xA3], &ebml(&[0x42, 0x82], b"webm"));
        out.extend([0x18, 0x53, 0x80, 0x67]); // a Segment of unknown size
        out.extend(unknown_size);
        out.extend(ebml(&[0x15, 0x49, 0xA9, 0x66], &info));
        out.extend(ebml(&[0x16, 0x54, 0xAE, 0x6B], &track));
        out.extend([0x1F, 0x43, 0xB6, 0x75]); // a Cluster of unknown size
        out.extend(unknown_size);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{jpeg, ogg_opus, png_bomb, webm};
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn file_names() {
        let long = format!("{}.txt", "é".repeat(200));
        let cases = [
            ("../../etc/passwd", "passwd"),
            ("..", "file"),
            (".", "file"),
            ("", "file"),
            ("dir/", "file"),
            (".bashrc", "bashrc"),
            ("a\u{0}b", "ab"),
            ("C:\\x\\y.txt", "y.txt"),
            ("  \u{202E}gpj.exe  ", "gpj.exe"),
            (" . .ayrlk.\n\u{10}x", "ayrlk.x"),
        ];
        for (input, want) in cases {
            assert_eq!(safe_file_name(input), want, "{input:?}");
        }
        let safe = safe_file_name(&long);
        assert!(safe.len() <= 255 && safe.ends_with(".txt") && safe.starts_with('é'));
        assert_eq!(safe_file_name(&"x".repeat(300)).len(), 255);
    }

    #[test]
    fn sniffing_and_kinds() {
        let cases: [(Vec<u8>, &str); 9] = [
            (jpeg(8, 8), "image/jpeg"),
            (png_bomb(), "image/png"),
            (ogg_opus(), "audio/ogg"),
            (webm(None, &[0; 8], 2), "audio/webm"),
            (webm(None, &[0; 8], 1), "video/webm"),
            (b"%PDF-1.7\n%\xE2\xE3".to_vec(), "application/pdf"),
            (b"PK\x03\x04\x14\x00\x00\x00".to_vec(), "application/zip"),
            ("héllo\nworld é".as_bytes()[..14].to_vec(), "text/plain"),
            (vec![0, 1, 2, 0xFF, 0xFE, 0], OCTET_STREAM),
        ];
        for (bytes, want) in cases {
            assert_eq!(sniff_mime(&bytes), want);
        }
        assert_eq!(kind_of("image/webp"), MediaKind::Image);
        assert_eq!(kind_of("image/svg+xml"), MediaKind::File);
        assert_eq!(kind_of("audio/ogg; codecs=opus"), MediaKind::Voice);
        assert_eq!(kind_of("audio/opus"), MediaKind::Voice);
        assert_eq!(kind_of("video/mp4"), MediaKind::Video);
        assert_eq!(kind_of("audio/mpeg"), MediaKind::File);
        assert!(mime_matches("audio/opus", "audio/ogg"));
        assert!(mime_matches("Audio/WebM", "video/webm"));
        assert!(mime_matches("image/jpg", "image/jpeg"));
        assert!(mime_matches("application/octet-stream", "application/pdf"));
        assert!(!mime_matches("image/png", "image/jpeg"));
        assert!(!mime_matches("text/html", "text/plain"));
        assert!(!mime_matches("image/jpeg", "application/octet-stream"));
    }

    proptest! {
        #[test]
        fn hostile_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
            let _ = (audio_duration_ms(&bytes, &bytes), sniff_mime(&bytes));
            let _ = check_thumbnail(&bytes);
        }

        #[test]
        fn mutated_containers_never_panic(at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            for mut file in [ogg_opus(), webm(Some(1000), &[0; 4], 2), jpeg(16, 16)] {
                let i = at.index(file.len());
                file[i] = byte;
                let _ = (audio_duration_ms(&file, &file), sniff_mime(&file));
                let _ = check_thumbnail(&file);
            }
        }

        #[test]
        fn file_names_are_safe(name in any::<String>()) {
            let safe = safe_file_name(&name);
            prop_assert!(!safe.is_empty() && safe.len() <= 255 && !safe.starts_with('.'));
            prop_assert!(!safe.contains(['/', '\\']) && !safe.chars().any(char::is_control));
            prop_assert_eq!(safe.trim(), safe.as_str());
        }
    }
}
