//! Voice-note durations: just enough Ogg and EBML (WebM/Matroska) parsing to
//! read them, with every walk capped.

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
pub(super) fn ogg_crc(page: &[u8]) -> u32 {
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
pub(super) fn opus_pre_skip(head: &[u8]) -> Option<(u32, u16)> {
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
pub(super) fn ebml_doc_type(head: &[u8]) -> Option<&[u8]> {
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
pub(super) fn webm_audio_only(head: &[u8]) -> bool {
    let Some(tracks) = segment_child(head, TRACKS) else {
        return false;
    };
    let mut types = children(head, tracks.start, tracks.end)
        .filter(|e| e.id == TRACK_ENTRY)
        .map(|entry| child(head, entry, TRACK_TYPE).and_then(|t| ebml_uint(head, t)))
        .peekable();
    types.peek().is_some() && types.all(|t| t == Some(2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::fixtures::{jpeg, ogg_opus, png_bomb, webm};
    use crate::media::{check_thumbnail, prepare_image, sniff_mime};

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
}
