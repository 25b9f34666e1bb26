//! Attachment media checks: MIME sniffing, image re-encoding and thumbnails,
//! voice-note durations and file-name cleaning.
//!
//! Everything here runs on bytes a peer chose, so nothing may panic, loop
//! without bound or allocate what a header merely claims: image dimensions
//! are read from the header and refused before any pixel buffer exists, and
//! the container parsers (Ogg, EBML) cap every walk.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use image::codecs::jpeg::JpegEncoder;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, Rgb, RgbImage};

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
const STANDARD_QUALITY: u8 = 85;
const OCTET_STREAM: &str = "application/octet-stream";

/// How big an image file, and its pixels, one use accepts.
struct Budget {
    formats: &'static [ImageFormat],
    file_bytes: usize,
    side: u32,
    pixels: u64,
    /// Passed to the decoder as `Limits::max_alloc` and checked against
    /// the header's pixel buffer size before decoding.
    alloc: u64,
}

/// A picture the user is sending.
const SENDER: Budget = Budget {
    formats: &[
        ImageFormat::Jpeg,
        ImageFormat::Png,
        ImageFormat::Gif,
        ImageFormat::WebP,
    ],
    file_bytes: MAX_IMAGE_BYTES,
    side: u32::MAX,
    pixels: 50_000_000,
    alloc: 512 * 1024 * 1024,
};

/// An inline thumbnail from a peer.
const PEER_THUMB: Budget = Budget {
    formats: &[ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::WebP],
    file_bytes: MAX_THUMB_BYTES,
    side: 320,
    pixels: 320 * 320,
    alloc: 1024 * 1024,
};

/// The versions of a picture that are sent.
#[derive(Debug)]
pub struct ImageVersions {
    /// Re-encoded JPEG, longest side at most [`STANDARD_SIDE`], never
    /// upscaled; re-encoding drops EXIF and all other metadata.
    pub standard: Vec<u8>,
    /// JPEG thumbnail, longest side at most [`THUMB_SIDE`], at most
    /// [`MAX_THUMB_BYTES`].
    pub thumb: Vec<u8>,
    /// Width of the standard version.
    pub width: u32,
    /// Height of the standard version.
    pub height: u32,
}

/// MIME type from the first bytes of a file (give it at least 8 KiB);
/// `application/octet-stream` when unknown.
pub fn sniff_mime(head: &[u8]) -> String {
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

/// Decodes a picture sent by the user into a standard JPEG and a thumbnail.
pub fn prepare_image(bytes: &[u8]) -> Result<ImageVersions, MediaError> {
    let image = decode(bytes, &SENDER)?;
    let (w, h) = (image.width(), image.height());
    let standard_image = if w.max(h) > STANDARD_SIDE {
        image.resize(
            STANDARD_SIDE,
            STANDARD_SIDE,
            image::imageops::FilterType::CatmullRom,
        )
    } else {
        image
    };
    let rgb = flatten(standard_image);
    Ok(ImageVersions {
        standard: encode_jpeg(&rgb, STANDARD_QUALITY)?,
        width: rgb.width(),
        height: rgb.height(),
        thumb: encode_thumb(&DynamicImage::ImageRgb8(rgb))?,
    })
}

/// Thumbnail of a picture sent as an original file, plus the picture's
/// dimensions as displayed (after its EXIF orientation).
pub fn thumbnail(bytes: &[u8]) -> Result<(Vec<u8>, u32, u32), MediaError> {
    let image = decode(bytes, &SENDER)?;
    Ok((encode_thumb(&image)?, image.width(), image.height()))
}

/// Checks an inline thumbnail received from a peer before it is shown.
pub fn check_thumbnail(bytes: &[u8]) -> Result<(), MediaError> {
    decode(bytes, &PEER_THUMB).map(|_| ())
}

/// Reads the header, refuses anything over `budget`, then decodes and
/// applies the EXIF orientation (the EXIF itself is dropped by re-encoding).
fn decode(bytes: &[u8], budget: &Budget) -> Result<DynamicImage, MediaError> {
    if bytes.len() > budget.file_bytes {
        let (size, limit) = (bytes.len(), budget.file_bytes);
        return Err(MediaError::TooLarge { size, limit });
    }
    let format = image::guess_format(bytes)
        .ok()
        .filter(|f| budget.formats.contains(f))
        .ok_or_else(|| MediaError::NotAnImage(sniff_mime(bytes)))?;
    let mut limits = Limits::default();
    limits.max_alloc = Some(budget.alloc);
    let decode_err = |e: image::ImageError| MediaError::Decode(e.to_string());
    // The decoders are third-party code fed hostile bytes: a panic in one
    // must become an error, not take the node down.
    let attempt = catch_unwind(AssertUnwindSafe(|| {
        let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
        reader.limits(limits);
        let mut decoder = reader.into_decoder().map_err(decode_err)?;
        let (width, height) = decoder.dimensions();
        if width == 0 || height == 0 {
            return Err(MediaError::Decode("the image has no pixels".into()));
        }
        // Before any pixel buffer exists: this is what stops a decompression bomb.
        if width.max(height) > budget.side
            || u64::from(width) * u64::from(height) > budget.pixels
            || decoder.total_bytes() > budget.alloc
        {
            return Err(MediaError::TooManyPixels { width, height });
        }
        let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
        let mut image = DynamicImage::from_decoder(decoder).map_err(decode_err)?;
        image.apply_orientation(orientation);
        Ok(image)
    }));
    attempt.unwrap_or_else(|_| Err(MediaError::Decode("the image decoder failed".into())))
}

/// JPEG has no alpha: composite onto white rather than let transparent
/// pixels turn black.
fn flatten(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let p = rgba.get_pixel(x, y).0;
        let a = u16::from(p[3]);
        let mix = |c: u8| ((u16::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
        Rgb([mix(p[0]), mix(p[1]), mix(p[2])])
    })
}

fn encode_jpeg(rgb: &RgbImage, quality: u8) -> Result<Vec<u8>, MediaError> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(rgb)
        .map_err(|e| MediaError::Encode(e.to_string()))?;
    Ok(out)
}

/// Scales to [`THUMB_SIDE`] and lowers the quality until it fits.
fn encode_thumb(image: &DynamicImage) -> Result<Vec<u8>, MediaError> {
    let small = if image.width().max(image.height()) > THUMB_SIDE {
        image.thumbnail(THUMB_SIDE, THUMB_SIDE)
    } else {
        image.clone()
    };
    let small = flatten(small);
    for quality in (10..=80u8).rev().step_by(10) {
        let jpeg = encode_jpeg(&small, quality)?;
        if jpeg.len() <= MAX_THUMB_BYTES {
            return Ok(jpeg);
        }
    }
    Err(MediaError::Encode("the thumbnail does not fit".into()))
}

/// Duration in milliseconds of an Ogg Opus or WebM/Matroska audio file from
/// its first and last 64 KiB; `None` when unknown or malformed.
pub fn audio_duration_ms(head: &[u8], tail: &[u8]) -> Option<u64> {
    if let Some((serial, pre_skip)) = opus_pre_skip(head) {
        let granule = last_granule(tail, serial)?;
        return granule.checked_sub(u64::from(pre_skip)).map(|s| s / 48);
    }
    webm_duration_ms(head)
}

/// One Ogg page at the start of `buf`, complete and with a valid CRC.
struct OggPage<'a> {
    granule: u64,
    serial: u32,
    body: &'a [u8],
}

fn ogg_page(buf: &[u8]) -> Option<OggPage<'_>> {
    if buf.get(..5)? != b"OggS\0" {
        return None;
    }
    let segments = usize::from(*buf.get(26)?);
    let lacing = buf.get(27..27 + segments)?;
    let len = 27 + segments + lacing.iter().map(|&l| usize::from(l)).sum::<usize>();
    let page = buf.get(..len)?;
    let stored = u32::from_le_bytes(page[22..26].try_into().ok()?);
    if ogg_crc(page) != stored {
        return None;
    }
    Some(OggPage {
        granule: u64::from_le_bytes(page[6..14].try_into().ok()?),
        serial: u32::from_le_bytes(page[14..18].try_into().ok()?),
        body: &page[27 + segments..],
    })
}

/// Ogg's CRC-32 (polynomial 0x04c11db7, unreflected), with the CRC field
/// (bytes 22..26) counted as zero.
fn ogg_crc(page: &[u8]) -> u32 {
    let mut crc = 0u32;
    for (i, &byte) in page.iter().enumerate() {
        let byte = if (22..26).contains(&i) { 0 } else { byte };
        crc ^= u32::from(byte) << 24;
        for _ in 0..8 {
            let poly = if crc & 0x8000_0000 != 0 {
                0x04c1_1db7
            } else {
                0
            };
            crc = (crc << 1) ^ poly;
        }
    }
    crc
}

/// Stream serial and pre-skip when the first page carries an OpusHead.
fn opus_pre_skip(head: &[u8]) -> Option<(u32, u16)> {
    let page = ogg_page(head)?;
    let id = page.body;
    if id.len() < 19 || !id.starts_with(b"OpusHead") {
        return None;
    }
    Some((page.serial, u16::from_le_bytes([id[10], id[11]])))
}

/// Granule position of the last complete page of stream `serial`.
fn last_granule(tail: &[u8], serial: u32) -> Option<u64> {
    // "OggS" can occur inside packet data; each candidate costs a CRC over up
    // to 64 KiB, so only so many are tried. Granule u64::MAX: no packet ends
    // on that page, so it carries no position.
    (0..tail.len().saturating_sub(26))
        .rev()
        .filter(|&at| tail[at..].starts_with(b"OggS"))
        .take(64)
        .filter_map(|at| ogg_page(&tail[at..]))
        .find(|page| page.serial == serial && page.granule != u64::MAX)
        .map(|page| page.granule)
}

const EBML_HEADER: u32 = 0x1A45_DFA3;
const DOC_TYPE: u32 = 0x4282;
const SEGMENT: u32 = 0x1853_8067;
const INFO: u32 = 0x1549_A966;
const TIMECODE_SCALE: u32 = 0x2A_D7B1;
const DURATION: u32 = 0x4489;
const TRACKS: u32 = 0x1654_AE6B;
const TRACK_ENTRY: u32 = 0xAE;
const TRACK_TYPE: u32 = 0x83;
const CLUSTER: u32 = 0x1F43_B675;
/// Most sibling elements walked at one level.
const MAX_EBML_SIBLINGS: u32 = 1024;

/// An EBML element whose data is `start..end` of the buffer (`end` clamped
/// to the buffer or parent; the rest of the parent when the size is unknown).
#[derive(Clone, Copy)]
struct Element {
    id: u32,
    start: usize,
    end: usize,
}

fn element(buf: &[u8], pos: usize, limit: usize) -> Option<Element> {
    let first = *buf.get(pos)?;
    let id_len = first.leading_zeros() as usize + 1;
    if id_len > 4 {
        return None;
    }
    let id = u32::try_from(be_uint(buf.get(pos..pos + id_len)?)).ok()?;
    let size_at = pos + id_len;
    let size_len = buf.get(size_at)?.leading_zeros() as usize + 1;
    if size_len > 8 {
        return None;
    }
    // The value bits of a VINT are all but its length marker; all ones
    // means "unknown size" (live streams write Segment and Cluster so).
    let all_ones = (1u64 << (7 * size_len)) - 1;
    let size = be_uint(buf.get(size_at..size_at + size_len)?) & all_ones;
    let unknown = size == all_ones;
    let start = size_at + size_len;
    if start > limit {
        return None;
    }
    let end = if unknown {
        limit
    } else {
        usize::try_from(size).map_or(limit, |s| start.saturating_add(s).min(limit))
    };
    Some(Element { id, start, end })
}

/// The child elements in `start..end`, at most [`MAX_EBML_SIBLINGS`];
/// stops at the first malformed one or one of unknown size.
fn children(buf: &[u8], start: usize, end: usize) -> impl Iterator<Item = Element> + '_ {
    let mut pos = start;
    let mut left = MAX_EBML_SIBLINGS;
    std::iter::from_fn(move || {
        if left == 0 || pos >= end {
            return None;
        }
        left -= 1;
        let el = element(buf, pos, end)?;
        pos = el.end.max(pos + 1);
        Some(el)
    })
}

fn child(buf: &[u8], parent: Element, id: u32) -> Option<Element> {
    children(buf, parent.start, parent.end).find(|e| e.id == id)
}

fn be_uint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |acc, &b| (acc << 8) | u64::from(b))
}

fn ebml_uint(buf: &[u8], el: Element) -> Option<u64> {
    let data = buf.get(el.start..el.end)?;
    (1..=8).contains(&data.len()).then(|| be_uint(data))
}

fn ebml_float(buf: &[u8], el: Element) -> Option<f64> {
    let data = buf.get(el.start..el.end)?;
    match data.len() {
        4 => Some(f64::from(f32::from_be_bytes(data.try_into().ok()?))),
        8 => Some(f64::from_be_bytes(data.try_into().ok()?)),
        _ => None,
    }
}

/// DocType of an EBML file ("webm", "matroska"), NUL padding removed.
fn ebml_doc_type(head: &[u8]) -> Option<&[u8]> {
    let header = children(head, 0, head.len()).next()?;
    if header.id != EBML_HEADER {
        return None;
    }
    let doc = child(head, header, DOC_TYPE)?;
    let value = head.get(doc.start..doc.end)?;
    let len = value.iter().position(|&b| b == 0).unwrap_or(value.len());
    Some(&value[..len])
}

/// A Segment child that comes before the first Cluster, as muxers write it.
fn segment_child(head: &[u8], id: u32) -> Option<Element> {
    let segment = children(head, 0, head.len()).find(|e| e.id == SEGMENT)?;
    children(head, segment.start, segment.end)
        .take_while(|e| e.id != CLUSTER)
        .find(|e| e.id == id)
}

fn webm_duration_ms(head: &[u8]) -> Option<u64> {
    ebml_doc_type(head)?;
    let info = segment_child(head, INFO)?;
    let scale = match child(head, info, TIMECODE_SCALE) {
        Some(el) => ebml_uint(head, el)?,
        None => 1_000_000,
    };
    let duration = ebml_float(head, child(head, info, DURATION)?)?;
    let ms = duration * scale as f64 / 1e6;
    // Also rejects NaN; the bound keeps the cast exact and meaningful.
    if !(0.0..1e15).contains(&ms) || scale == 0 {
        return None;
    }
    Some(ms.round() as u64)
}

/// Whether the Tracks in the head list only audio tracks (TrackType 2).
fn webm_audio_only(head: &[u8]) -> bool {
    let Some(tracks) = segment_child(head, TRACKS) else {
        return false;
    };
    let mut types = children(head, tracks.start, tracks.end)
        .filter(|e| e.id == TRACK_ENTRY)
        .map(|entry| child(head, entry, TRACK_TYPE).and_then(|t| ebml_uint(head, t)))
        .peekable();
    types.peek().is_some() && types.all(|t| t == Some(2))
}

/// A sender's file name made safe to show and to save under.
pub fn safe_file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|&c| !c.is_control() && !is_bidi_control(c))
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim_start();
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

/// Small media files made in code, for tests, benchmarks and `weft demo`:
/// a photo that carries a GPS tag, and an Ogg Opus voice note of a given
/// length (its packets are not real audio; players would play silence or
/// refuse, but every container field the node reads is right).
pub mod samples {
    use image::{Rgb, RgbImage};

    /// A `w`×`h` JPEG (a gradient) with an APP1 Exif segment holding
    /// Orientation and a GPS IFD whose data carries the marker `GPSLatitude`.
    pub fn jpeg_with_gps(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| {
            Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
        });
        let mut out = super::encode_jpeg(&img, 85).unwrap_or_default();
        let mut tiff = b"II*\0\x08\0\0\0".to_vec();
        tiff.extend([2, 0]);
        tiff.extend([0x12, 0x01, 3, 0, 1, 0, 0, 0, 1, 0, 0, 0]);
        tiff.extend([0x25, 0x88, 4, 0, 1, 0, 0, 0, 38, 0, 0, 0]);
        tiff.extend([0, 0, 0, 0]);
        tiff.extend([1, 0, 2, 0, 2, 0, 12, 0, 0, 0, 56, 0, 0, 0, 0, 0, 0, 0]);
        tiff.extend(b"GPSLatitude\0");
        let mut app1 = vec![0xFF, 0xE1];
        app1.extend(((tiff.len() + 8) as u16).to_be_bytes());
        app1.extend(b"Exif\0\0");
        app1.extend(tiff);
        if out.len() >= 2 {
            out.splice(2..2, app1);
        }
        out
    }

    fn page(flags: u8, granule: u64, seq: u32, packet: &[u8]) -> Vec<u8> {
        let mut lacing = vec![255u8; packet.len() / 255];
        lacing.push((packet.len() % 255) as u8);
        let mut p = b"OggS\0".to_vec();
        p.push(flags);
        p.extend(granule.to_le_bytes());
        p.extend(0x5eed_u32.to_le_bytes());
        p.extend(seq.to_le_bytes());
        p.extend([0; 4]);
        p.push(lacing.len() as u8);
        p.extend(lacing);
        p.extend(packet);
        let crc = super::ogg_crc(&p);
        p[22..26].copy_from_slice(&crc.to_le_bytes());
        p
    }

    /// An Ogg Opus file `duration_ms` long (pre-skip 312, one page a second).
    pub fn ogg_opus(duration_ms: u64) -> Vec<u8> {
        let mut head = b"OpusHead\x01\x01".to_vec();
        head.extend(312u16.to_le_bytes());
        head.extend(48_000u32.to_le_bytes());
        head.extend([0, 0, 0]);
        let mut out = page(2, 0, 0, &head);
        out.extend(page(0, 0, 1, b"OpusTags\0\0\0\0\0\0\0\0"));
        let end = duration_ms * 48 + 312;
        let mut seq = 2;
        let mut g = 312;
        while g < end {
            g = (g + 48_000).min(end);
            let flags = if g == end { 4 } else { 0 };
            out.extend(page(flags, g, seq, &[0xFC; 200]));
            seq += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
        encode_jpeg(&img, 90).unwrap()
    }

    /// A JPEG with an APP1 Exif segment: Orientation 6 (rotate 90°) and a
    /// GPS IFD pointer whose data carries a recognisable marker.
    fn jpeg_with_gps(w: u32, h: u32) -> Vec<u8> {
        let mut tiff = b"II*\0\x08\0\0\0".to_vec();
        tiff.extend([2, 0]); // IFD0: two entries
        tiff.extend([0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0]); // Orientation = 6
        tiff.extend([0x25, 0x88, 4, 0, 1, 0, 0, 0, 38, 0, 0, 0]); // GPS IFD at 38
        tiff.extend([0, 0, 0, 0]);
        tiff.extend([1, 0, 2, 0, 2, 0, 12, 0, 0, 0, 56, 0, 0, 0, 0, 0, 0, 0]);
        tiff.extend(b"GPSLatitude\0");
        let mut app1 = vec![0xFF, 0xE1];
        app1.extend(u16::try_from(tiff.len() + 8).unwrap().to_be_bytes());
        app1.extend(b"Exif\0\0");
        app1.extend(tiff);
        let mut out = jpeg(w, h);
        out.splice(2..2, app1);
        out
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    fn png_crc(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
            }
        }
        !crc
    }

    /// A 90-byte PNG whose header claims 100000x100000 RGBA (40 GB of pixels).
    fn png_bomb() -> Vec<u8> {
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = 100_000u32.to_be_bytes().repeat(2);
        ihdr.extend([8, 6, 0, 0, 0]);
        let zlib_of_nothing = [0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01];
        let chunks = [
            (b"IHDR", &ihdr[..]),
            (b"IDAT", &zlib_of_nothing),
            (b"IEND", &[]),
        ];
        for (kind, data) in chunks {
            out.extend(u32::try_from(data.len()).unwrap().to_be_bytes());
            let start = out.len();
            out.extend(kind);
            out.extend(data);
            let crc = png_crc(&out[start..]);
            out.extend(crc.to_be_bytes());
        }
        out
    }

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
    fn ogg_opus() -> Vec<u8> {
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

    fn webm(scale: Option<u32>, duration: &[u8], track_type: u8) -> Vec<u8> {
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

    #[test]
    fn prepare_image_strips_exif_and_applies_orientation() {
        let input = jpeg_with_gps(400, 300);
        assert!(contains(&input, b"GPSLatitude") && contains(&input, b"Exif"));
        let v = prepare_image(&input).unwrap();
        for out in [&v.standard, &v.thumb] {
            assert!(!contains(out, b"Exif") && !contains(out, b"GPSLatitude"));
            assert_eq!(image::guess_format(out).unwrap(), ImageFormat::Jpeg);
        }
        assert_eq!((v.width, v.height), (300, 400), "orientation 6 rotates");
        assert!(v.thumb.len() <= MAX_THUMB_BYTES);
        let thumb = image::load_from_memory(&v.thumb).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (120, 160));
        check_thumbnail(&v.thumb).unwrap();
    }

    #[test]
    fn prepare_image_downscales_but_never_upscales() {
        let v = prepare_image(&jpeg(2500, 1000)).unwrap();
        assert_eq!((v.width, v.height), (STANDARD_SIDE, 768));
        let decoded = image::load_from_memory(&v.standard).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (STANDARD_SIDE, 768));
        let v = prepare_image(&jpeg(50, 20)).unwrap();
        assert_eq!((v.width, v.height), (50, 20));
        let (thumb, w, h) = thumbnail(&jpeg(2500, 1000)).unwrap();
        assert_eq!((w, h), (2500, 1000));
        assert!(thumb.len() <= MAX_THUMB_BYTES);
    }

    /// The error variant, or "ok", so expectations fit on one line.
    fn outcome<T>(result: Result<T, MediaError>) -> String {
        match result {
            Ok(_) => "ok".into(),
            Err(MediaError::NotAnImage(mime)) => format!("not an image: {mime}"),
            Err(MediaError::TooLarge { .. }) => "too large".into(),
            Err(MediaError::TooManyPixels { width, height }) => format!("{width}x{height}"),
            Err(MediaError::Decode(_) | MediaError::Encode(_)) => "codec".into(),
        }
    }

    #[test]
    fn decompression_bomb_is_refused_from_the_header() {
        let bomb = png_bomb();
        assert!(bomb.len() < 100);
        assert_eq!(outcome(prepare_image(&bomb)), "100000x100000");
        assert_eq!(outcome(thumbnail(&bomb)), "100000x100000");
        assert_eq!(outcome(check_thumbnail(&bomb)), "100000x100000");
    }

    #[test]
    fn check_thumbnail_limits() {
        assert_eq!(outcome(check_thumbnail(&jpeg(100, 100))), "ok");
        assert_eq!(outcome(check_thumbnail(&jpeg(400, 8))), "400x8");
        let big = vec![0xFF; MAX_THUMB_BYTES + 1];
        assert_eq!(outcome(check_thumbnail(&big)), "too large");
        let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;";
        assert_eq!(outcome(check_thumbnail(gif)), "not an image: image/gif");
        let pdf = prepare_image(b"%PDF-1.4\n");
        assert_eq!(outcome(pdf), "not an image: application/pdf");
        assert_eq!(outcome(check_thumbnail(&jpeg(100, 100)[..300])), "codec");
    }

    #[test]
    fn ogg_opus_duration() {
        let file = ogg_opus();
        assert_eq!(audio_duration_ms(&file, &file), Some(3000));
        let tail = &file[file.len() - 430..]; // the last page is 425 bytes
        assert_eq!(audio_duration_ms(&file[..200], tail), Some(3000));
        let without_last_page = &file[..file.len() - 1];
        assert_eq!(audio_duration_ms(&file, without_last_page), Some(1000));
        let mut corrupt = file.clone();
        corrupt[3] = b'X';
        assert_eq!(audio_duration_ms(&corrupt, &corrupt), None);
    }

    #[test]
    fn webm_duration() {
        let file = webm(None, &2500.0f64.to_be_bytes(), 2);
        assert_eq!(audio_duration_ms(&file, &[]), Some(2500));
        let file = webm(Some(1000), &1_500_000.0f32.to_be_bytes(), 2);
        assert_eq!(audio_duration_ms(&file, &file), Some(1500));
        assert_eq!(audio_duration_ms(&webm(None, &[1, 2, 3], 2), &[]), None);
        let nan = webm(None, &f64::NAN.to_be_bytes(), 2);
        assert_eq!(audio_duration_ms(&nan, &[]), None);
    }

    #[test]
    fn truncated_and_garbage_never_panic() {
        let webm = webm(None, &2500.0f64.to_be_bytes(), 1);
        for file in [ogg_opus(), webm, png_bomb(), jpeg(40, 30)] {
            for cut in (0..file.len()).map(|n| &file[..n]) {
                let _ = (
                    audio_duration_ms(cut, cut),
                    sniff_mime(cut),
                    check_thumbnail(cut),
                );
                let _ = prepare_image(cut); // a cut JPEG may still decode, grey-filled
            }
        }
        assert_eq!(audio_duration_ms(b"OggS", b"OggS"), None);
        assert_eq!(
            audio_duration_ms(&[0x1A, 0x45, 0xDF, 0xA3, 0x01], &[]),
            None
        );
    }

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
