//! Decode: encoded bytes or RGBA pixels → an RGB image, upright, at the size it was given
//! (the verifier looks for faces in a smaller working copy, and reports them in these pixels).
//!
//! Untrusted bytes are decoded under [`image::Limits`] and a pixel budget read from the
//! header, so a small file that claims huge dimensions fails before any large allocation.
//! EXIF orientation is applied, because phone photos are stored sideways and the detector
//! only finds upright faces. Transparent pixels are composited onto a fixed [`MATTE`], so
//! whatever colour they hide cannot change the result; a fully transparent image has no face.
//! A file cut short is refused (`IMAGE_DECODE`), whatever its format: JPEG decoders fill the
//! missing part with grey, and a half photo must not verify. Formats the build cannot decode
//! but can recognise (HEIC, AVIF, JPEG XL, PDF, SVG, PSD) are named in the error.

use image::{DynamicImage, ImageDecoder, ImageReader, Rgb32FImage, RgbImage};

use crate::error::{Error, ErrorKind, Result};

/// Largest width or height accepted from a file (a 60000×60000 bomb is refused).
pub const MAX_DECODE_SIDE: u32 = 16_384;
/// Largest decoder allocation, bytes.
pub const MAX_DECODE_ALLOC: u64 = 512 * 1024 * 1024;
/// Largest image decoded, pixels (a 48-megapixel phone photo is 8000 × 6000): checked from
/// the header before anything is allocated. A 16384 × 16384 PNG of 0.8 MB on disk would
/// otherwise take 1.4 GB.
pub const MAX_DECODE_PIXELS: u64 = 50_000_000;
/// The colour transparent pixels are composited onto: mid grey, a background as neutral
/// to the detector as any.
pub const MATTE: [u8; 3] = [128, 128, 128];

/// Decode JPEG, PNG, WebP, GIF (first frame), BMP or TIFF bytes.
pub fn decode(bytes: &[u8]) -> Result<RgbImage> {
    if bytes.is_empty() {
        return Err(Error::new(ErrorKind::ImageDecode, "empty image data"));
    }
    if let Some(format) = unsupported_format(bytes) {
        return Err(Error::new(
            ErrorKind::ImageDecode,
            format!("{format} images are not supported: convert it to JPEG or PNG (JPEG, PNG, WebP, GIF and BMP are)"),
        ));
    }
    if bytes.starts_with(&[0xFF, 0xD8]) && !jpeg_is_complete(bytes) {
        return Err(Error::new(ErrorKind::ImageDecode, "the JPEG file is truncated (it ends before its last scan does)"));
    }
    let mut reader = ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::new(ErrorKind::ImageDecode, format!("cannot read image: {e}")))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_DECODE_SIDE);
    limits.max_image_height = Some(MAX_DECODE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(decode_error)?;
    let (width, height) = decoder.dimensions();
    if width as u64 * height as u64 > MAX_DECODE_PIXELS {
        return Err(Error::new(
            ErrorKind::ImageTooLarge,
            format!("{width}×{height} is more than the {} megapixels decoded: scale the photo down", MAX_DECODE_PIXELS / 1_000_000),
        ));
    }
    let orientation = decoder.orientation().ok();
    let mut image = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    if let Some(orientation) = orientation {
        image.apply_orientation(orientation);
    }
    let rgb = if image.color().has_alpha() { flatten(&image.into_rgba8())? } else { image.into_rgb8() };
    Ok(smooth_if_bilevel(rgb))
}

/// A 1-bit image (every pixel black or white: a dithered scan or fax) blurred so that its
/// dither patterns become the grey levels they stand for; models trained on photos read the
/// patterns as texture. σ of 1.5 px spans Floyd–Steinberg's error diffusion.
fn smooth_if_bilevel(image: RgbImage) -> RgbImage {
    let bilevel = image.pixels().all(|p| p.0 == [0; 3] || p.0 == [255; 3]);
    if bilevel { image::imageops::blur(&image, 1.5) } else { image }
}

/// RGBA pixels (as from a canvas `ImageData`) composited onto the [`MATTE`].
pub fn from_rgba(rgba: &[u8], width: u32, height: u32) -> Result<RgbImage> {
    check_rgba(rgba, width, height)?;
    let image = image::RgbaImage::from_raw(width, height, rgba.to_vec())
        .ok_or_else(|| Error::new(ErrorKind::InvalidInput, "pixel buffer size mismatch"))?;
    flatten(&image)
}

/// `image` composited onto the [`MATTE`]; a fully transparent image is `NO_FACE`.
fn flatten(image: &image::RgbaImage) -> Result<RgbImage> {
    if image.pixels().all(|p| p[3] == 0) {
        return Err(Error::new(ErrorKind::NoFace, "the image is fully transparent"));
    }
    Ok(RgbImage::from_fn(image.width(), image.height(), |x, y| {
        let [r, g, b, a] = image.get_pixel(x, y).0;
        let mix = |c: u8, m: u8| ((c as u32 * a as u32 + m as u32 * (255 - a as u32) + 127) / 255) as u8;
        image::Rgb([mix(r, MATTE[0]), mix(g, MATTE[1]), mix(b, MATTE[2])])
    }))
}

/// The name of a format this build cannot decode but recognises by its first bytes.
fn unsupported_format(bytes: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    // ISO base media files: a box size, "ftyp", then the major brand.
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        return match &bytes[8..12] {
            b"avif" | b"avis" => Some("AVIF"),
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" | b"mif1" | b"msf1" => Some("HEIC/HEIF"),
            _ => Some("MP4/QuickTime"),
        };
    }
    if starts(&[0xFF, 0x0A]) || starts(b"\0\0\0\x0CJXL \r\n\x87\n") {
        return Some("JPEG XL");
    }
    if starts(b"%PDF") {
        return Some("PDF");
    }
    if starts(b"8BPS") {
        return Some("Photoshop (PSD)");
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_ascii_lowercase();
    (head.trim_start().starts_with('<') && head.contains("<svg")).then_some("SVG")
}

/// Whether a JPEG runs to its end-of-image marker: the segments are walked by their
/// lengths (so an EXIF thumbnail's own markers are skipped), and each scan's entropy-coded
/// data up to the next marker.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let mut at = 2;
    loop {
        // Markers may be padded with fill bytes 0xFF.
        while at < bytes.len() && bytes[at] == 0xFF && bytes.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (bytes.get(at), bytes.get(at + 1)) else { return false };
        at += 2;
        match marker {
            0xD9 => return true,
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let Some(length) = bytes.get(at..at + 2).map(|l| u16::from_be_bytes([l[0], l[1]]) as usize) else { return false };
        at += length;
        if at > bytes.len() {
            return false;
        }
        if marker == 0xDA {
            // Entropy-coded data: 0xFF is followed by 0x00 (a stuffed byte) or a restart marker.
            loop {
                match (bytes.get(at), bytes.get(at + 1)) {
                    (Some(0xFF), Some(0x00 | 0xD0..=0xD7)) => at += 2,
                    (Some(0xFF), Some(_)) => break,
                    (Some(_), _) => at += 1,
                    (None, _) => return false,
                }
            }
        }
    }
}

/// RGBA pixels of an already aligned crop (as this crate makes them: opaque) as f32 RGB
/// samples (0–255), dropping alpha.
/// Unlike [`from_rgba`] it never resizes: the crop must already be the model's size.
pub fn crop_from_rgba(rgba: &[u8], width: u32, height: u32) -> Result<Rgb32FImage> {
    check_rgba(rgba, width, height)?;
    let samples = rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]].map(f32::from)).collect();
    Rgb32FImage::from_raw(width, height, samples)
        .ok_or_else(|| Error::new(ErrorKind::InvalidInput, "pixel buffer size mismatch"))
}

fn check_rgba(rgba: &[u8], width: u32, height: u32) -> Result<()> {
    let expected = (width as u64) * (height as u64) * 4;
    if width == 0 || height == 0 || rgba.len() as u64 != expected {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("rgba buffer of {} bytes does not match {width}×{height}×4", rgba.len()),
        ));
    }
    if width > MAX_DECODE_SIDE || height > MAX_DECODE_SIDE {
        return Err(Error::new(ErrorKind::ImageTooLarge, format!("{width}×{height} pixels is too large")));
    }
    Ok(())
}

fn decode_error(err: image::ImageError) -> Error {
    match err {
        image::ImageError::Limits(e) => {
            Error::new(ErrorKind::ImageTooLarge, format!("image exceeds decode limits: {e}"))
        }
        e => Error::new(ErrorKind::ImageDecode, format!("cannot decode image: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        RgbImage::new(width, height)
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(decode(b"").unwrap_err().kind(), ErrorKind::ImageDecode);
        assert_eq!(decode(b"not an image at all").unwrap_err().kind(), ErrorKind::ImageDecode);
        let mut truncated = png(64, 64);
        truncated.truncate(truncated.len() / 2);
        assert_eq!(decode(&truncated).unwrap_err().kind(), ErrorKind::ImageDecode);
    }

    /// A valid PNG header (with its CRC) claiming `side`×`side` pixels, then nothing.
    fn png_claiming(side: u32) -> Vec<u8> {
        let mut bytes = png(1, 1);
        bytes[16..20].copy_from_slice(&side.to_be_bytes());
        bytes[20..24].copy_from_slice(&side.to_be_bytes());
        let crc = crc32fast::hash(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    #[test]
    fn rejects_bomb_before_allocating() {
        assert_eq!(decode(&png_claiming(60_000)).unwrap_err().kind(), ErrorKind::ImageTooLarge);
    }

    #[test]
    fn keeps_the_size_it_was_given() {
        let image = decode(&png(4000, 1000)).unwrap();
        assert_eq!((image.width(), image.height()), (4000, 1000));
    }

    #[test]
    fn rgba_size_is_checked() {
        assert_eq!(from_rgba(&[0; 15], 2, 2).unwrap_err().kind(), ErrorKind::InvalidInput);
        let image = from_rgba(&[1, 2, 3, 255, 4, 5, 6, 255], 2, 1).unwrap();
        assert_eq!(image.as_raw(), &[1, 2, 3, 4, 5, 6]);
    }

    fn encoded(image: &DynamicImage, format: image::ImageFormat) -> Vec<u8> {
        let mut out = Vec::new();
        image.write_to(&mut std::io::Cursor::new(&mut out), format).unwrap();
        out
    }

    #[test]
    fn transparent_pixels_show_the_matte_whatever_they_hide() {
        let with = |hidden: [u8; 3]| {
            let mut rgba = image::RgbaImage::from_pixel(4, 1, image::Rgba([hidden[0], hidden[1], hidden[2], 0]));
            rgba.put_pixel(0, 0, image::Rgba([200, 10, 10, 255]));
            rgba.put_pixel(1, 0, image::Rgba([200, 10, 10, 128]));
            decode(&encoded(&DynamicImage::ImageRgba8(rgba), image::ImageFormat::Png)).unwrap()
        };
        let (black, white) = (with([0, 0, 0]), with([255, 255, 255]));
        assert_eq!(black, white);
        assert_eq!(black.get_pixel(0, 0).0, [200, 10, 10]);
        assert_eq!(black.get_pixel(1, 0).0, [164, 69, 69], "half-transparent: half the matte");
        assert_eq!(black.get_pixel(3, 0).0, MATTE);
        // An invisible picture has no face, whatever is underneath.
        let invisible = image::RgbaImage::from_pixel(8, 8, image::Rgba([90, 60, 40, 0]));
        let err = decode(&encoded(&DynamicImage::ImageRgba8(invisible.clone()), image::ImageFormat::Png)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NoFace);
        assert_eq!(from_rgba(invisible.as_raw(), 8, 8).unwrap_err().kind(), ErrorKind::NoFace);
    }

    #[test]
    fn truncated_jpegs_are_refused_and_complete_ones_pass() {
        let photo = DynamicImage::ImageRgb8(RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 90])));
        let jpeg = encoded(&photo, image::ImageFormat::Jpeg);
        assert!(decode(&jpeg).is_ok());
        for cut in [jpeg.len() - 2, jpeg.len() / 2, 600.min(jpeg.len() - 3), 20] {
            let err = decode(&jpeg[..cut]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ImageDecode, "cut at {cut}: {err}");
        }
        // Bytes after the end-of-image marker (some cameras append data) are fine.
        let mut padded = jpeg.clone();
        padded.extend_from_slice(b"trailing");
        assert!(decode(&padded).is_ok());
    }

    #[test]
    fn unsupported_formats_are_named() {
        let heic = [&[0, 0, 0, 24][..], b"ftypheic", &[0; 12]].concat();
        let avif = [&[0, 0, 0, 24][..], b"ftypavif", &[0; 12]].concat();
        for (bytes, name) in [(heic, "HEIC"), (avif, "AVIF"), (b"%PDF-1.7 ...".to_vec(), "PDF"), (b"<svg xmlns=...>".to_vec(), "SVG")] {
            let err = decode(&bytes).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ImageDecode);
            assert!(err.to_string().contains(name) && err.to_string().contains("convert"), "{err}");
        }
        let tiff = encoded(&DynamicImage::ImageRgb8(RgbImage::new(8, 8)), image::ImageFormat::Tiff);
        assert_eq!(decode(&tiff).unwrap().dimensions(), (8, 8));
    }

    #[test]
    fn pixel_budget_is_checked_from_the_header() {
        // 8000 × 8000 = 64 megapixels: under the side limit, over the pixel budget.
        let err = decode(&png_claiming(8_000)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ImageTooLarge, "{err}");
    }
}
