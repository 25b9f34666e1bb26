//! Picture decoding under a size and pixel budget, re-encoding to JPEG and
//! thumbnails.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use image::codecs::jpeg::JpegEncoder;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, Rgb, RgbImage};

use super::{sniff_mime, MediaError, MAX_IMAGE_BYTES, MAX_THUMB_BYTES, STANDARD_SIDE, THUMB_SIDE};

const STANDARD_QUALITY: u8 = 85;

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

/// The text of the first QR code in a picture (a photo or screenshot of
/// someone's Weft QR code), if there is one. Decoded with the sender's
/// limits; large pictures are scaled down first (a QR code needs no more).
pub fn read_qr(bytes: &[u8]) -> Result<Option<String>, MediaError> {
    let image = decode(bytes, &SENDER)?;
    let image = if image.width().max(image.height()) > 1600 {
        image.resize(1600, 1600, image::imageops::FilterType::Triangle)
    } else {
        image
    };
    let luma = image.into_luma8();
    let (w, h) = (luma.width() as usize, luma.height() as usize);
    let found = catch_unwind(AssertUnwindSafe(|| {
        let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
            luma.get_pixel(x as u32, y as u32).0[0]
        });
        prepared
            .detect_grids()
            .into_iter()
            .find_map(|g| g.decode().ok().map(|(_, text)| text))
    }));
    found.map_err(|_| MediaError::Decode("the QR code reader failed".into()))
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

pub(super) fn encode_jpeg(rgb: &RgbImage, quality: u8) -> Result<Vec<u8>, MediaError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::fixtures::{jpeg, png_bomb};

    #[test]
    fn a_qr_code_in_a_picture_reads_back() {
        let text = "weft://add/8h42aVso6zXuZFsXDGHAESKASaKagyce5ND8BcH1GUih";
        let code = qrcode::QrCode::new(text.as_bytes()).unwrap();
        let side = code.width();
        let colors = code.to_colors();
        let (scale, quiet) = (6u32, 4u32);
        let px = (side as u32 + 2 * quiet) * scale;
        let img = image::GrayImage::from_fn(px, px, |x, y| {
            let (cx, cy) = (x / scale, y / scale);
            let inside =
                cx >= quiet && cy >= quiet && cx < quiet + side as u32 && cy < quiet + side as u32;
            let dark = inside
                && colors[((cy - quiet) as usize) * side + (cx - quiet) as usize]
                    == qrcode::Color::Dark;
            image::Luma([if dark { 0 } else { 255 }])
        });
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        assert_eq!(read_qr(&png).unwrap().as_deref(), Some(text));
        assert_eq!(read_qr(&jpeg(64, 64)).unwrap(), None);
        assert!(read_qr(b"not a picture").is_err());
        assert!(read_qr(&png_bomb()).is_err());
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
    fn the_hand_made_png_decodes_to_its_gradient() {
        let img = image::load_from_memory(&super::super::samples::png_rgb(4, 3))
            .unwrap()
            .to_rgb8();
        assert_eq!(img.dimensions(), (4, 3));
        assert_eq!(img.get_pixel(3, 2).0, [120, 80, 200]);
        assert_eq!(
            outcome(check_thumbnail(&super::super::samples::png_rgb(4, 3))),
            "ok"
        );
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
}
