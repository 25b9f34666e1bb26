//! Small media files made in code, for tests, benchmarks and `weft demo`:
//! a photo that carries a GPS tag, and an Ogg Opus voice note of a given
//! length (its packets are not real audio; players would play silence or
//! refuse, but every container field the node reads is right).

use image::{Rgb, RgbImage};

/// A `w`×`h` JPEG (a gradient) with an APP1 Exif segment holding
/// Orientation and a GPS IFD whose data carries the marker `GPSLatitude`.
pub fn jpeg_with_gps(w: u32, h: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |x, y| {
        Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    let mut out = super::image::encode_jpeg(&img, 85).unwrap_or_default();
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
    let crc = super::audio::ogg_crc(&p);
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

/// A tiny PNG (90 bytes) whose header claims 100000×100000 RGBA pixels
/// (40 GB): a decompression bomb that must be refused from its header.
pub fn png_bomb() -> Vec<u8> {
    let mut ihdr = 100_000u32.to_be_bytes().repeat(2);
    ihdr.extend([8, 6, 0, 0, 0]);
    let zlib_of_nothing = [0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01];
    png_of(&ihdr, &zlib_of_nothing)
}

/// A valid `w`×`h` RGB PNG (a gradient) made without an encoder: its pixels
/// are one zlib stored block, so the bytes are exactly what a decoder must
/// read. Both sides are capped at 64 (a stored block holds 64 KiB).
pub fn png_rgb(w: u32, h: u32) -> Vec<u8> {
    let (w, h) = (w.min(64), h.min(64));
    let mut raw = Vec::new();
    for y in 0..h {
        raw.push(0); // filter: none
        for x in 0..w {
            raw.extend([(x * 40) as u8, (y * 40) as u8, 200]);
        }
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    let len = raw.len() as u16;
    let mut zlib = vec![0x78, 0x01, 0x01];
    zlib.extend(len.to_le_bytes());
    zlib.extend((!len).to_le_bytes());
    zlib.extend(&raw);
    zlib.extend(((b << 16) | a).to_be_bytes());
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    png_of(&ihdr, &zlib)
}

/// A PNG file: the signature, then IHDR, one IDAT and IEND, each chunk
/// with its length and CRC-32.
fn png_of(ihdr: &[u8], idat: &[u8]) -> Vec<u8> {
    fn crc(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
            }
        }
        !crc
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let chunks: [(&[u8; 4], &[u8]); 3] = [(b"IHDR", ihdr), (b"IDAT", idat), (b"IEND", &[])];
    for (kind, data) in chunks {
        out.extend((data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend(kind);
        out.extend(data);
        let c = crc(&out[start..]);
        out.extend(c.to_be_bytes());
    }
    out
}
