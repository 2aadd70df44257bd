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
//! Dark or flat images (an underexposed camera frame, a 16-bit file whose samples use a
//! fraction of their range) have their levels stretched, 16-bit ones before they are cut to
//! 8 bits, so that the detectors see a face; [`Levels`] records how, for quality to report
//! exposure as given.

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
/// Most memory decoding may hold at once, bytes, checked from the header: the decoded
/// samples plus the 8-bit RGB copy made from them when they are not 8-bit RGB(A) already.
/// 8-bit RGBA is composited in place, so 50 megapixels of it (200 MB) pass; 16-bit RGBA
/// (8 bytes a pixel, then 3) may have 20 megapixels.
pub const MAX_DECODE_BYTES: u64 = 225_000_000;
/// Largest encoded file, bytes: it is held while it decodes (in wasm, a copy in linear
/// memory). A 50-megapixel JPEG is 10–30 MB; a PNG this large is better sent as JPEG.
pub const MAX_ENCODED_BYTES: u64 = 64_000_000;
/// From this many pixels (72 MB of RGB) a photo stored sideways is turned in its own buffer
/// rather than copied.
const TURN_IN_PLACE_FROM: u64 = 24_000_000;
/// The colour transparent pixels are composited onto: mid grey, a background as neutral
/// to the detector as any.
pub const MATTE: [u8; 3] = [128, 128, 128];

/// A decoded image and how its levels were stretched.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// 8-bit RGB, upright, levels stretched when dark or flat.
    pub image: RgbImage,
    /// The stretch applied (identity for most photos).
    pub levels: Levels,
}

/// A linear stretch of sample levels: `stretched = (given − black) · gain`, in 8-bit units
/// (0–255, a 16-bit file's samples divided by 257).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Levels {
    /// Level that became 0.
    pub black: f32,
    /// Factor applied, ≥ 1.
    pub gain: f32,
}

impl Levels {
    /// No stretch.
    pub const IDENTITY: Levels = Levels { black: 0.0, gain: 1.0 };

    /// The level as given of a stretched level `v` (0–255).
    pub fn as_given(&self, v: f32) -> f32 {
        v / self.gain + self.black
    }
}

/// Levels are stretched when the brightest content (99.5th percentile of luma) lies below
/// this level, or the central 99 % of levels spans less than [`FLAT_SPAN`] (0–255 units):
/// photos as people take them stay untouched.
const DARK_BELOW: f32 = 100.0;
const FLAT_SPAN: f32 = 60.0;
/// Most an 8-bit image is stretched: beyond it, the noise of a dark frame is all that grows.
const MAX_GAIN_8: f32 = 8.0;
/// Most a 16-bit image is stretched: its samples hold the levels an 8-bit file lacks.
const MAX_GAIN_16: f32 = 512.0;

/// Decode JPEG, PNG, WebP, GIF (first frame), BMP or TIFF bytes.
pub fn decode(bytes: &[u8]) -> Result<RgbImage> {
    Ok(upright(read_stored(bytes)?)?.image)
}

/// As [`decode`], with the levels stretch, releasing `bytes` as soon as they are decoded,
/// before the RGB conversion and EXIF turn: the peak then never holds the file and a turned
/// copy at once.
pub fn decode_owned(bytes: Vec<u8>) -> Result<Decoded> {
    let stored = read_stored(&bytes)?;
    drop(bytes);
    upright(stored)
}

/// `IMAGE_TOO_LARGE` for a file over [`MAX_ENCODED_BYTES`]; callers that copy files before
/// decoding them (the wasm edge) check first.
pub fn check_encoded_size(len: usize) -> Result<()> {
    if len as u64 > MAX_ENCODED_BYTES {
        return Err(Error::new(
            ErrorKind::ImageTooLarge,
            format!("the file is {} MB, more than the {} MB read: save it as JPEG or scale it down", len as u64 / 1_000_000, MAX_ENCODED_BYTES / 1_000_000),
        ));
    }
    Ok(())
}

/// The image as stored, and the EXIF orientation that turns it upright.
fn read_stored(bytes: &[u8]) -> Result<(DynamicImage, Option<image::metadata::Orientation>)> {
    if bytes.is_empty() {
        return Err(Error::new(ErrorKind::ImageDecode, "empty image data"));
    }
    check_encoded_size(bytes.len())?;
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
    check_size(width, height)?;
    let converted = match decoder.color_type() {
        image::ColorType::Rgb8 | image::ColorType::Rgba8 => 0,
        _ => width as u64 * height as u64 * 3,
    };
    if decoder.total_bytes() + converted > MAX_DECODE_BYTES {
        return Err(Error::new(
            ErrorKind::ImageTooLarge,
            format!(
                "{width}×{height} with {:?} samples takes {} MB to decode, more than the {} MB allowed: scale the photo down or save it with 8-bit samples",
                decoder.color_type(),
                (decoder.total_bytes() + converted) / 1_000_000,
                MAX_DECODE_BYTES / 1_000_000
            ),
        ));
    }
    let orientation = decoder.orientation().ok();
    Ok((DynamicImage::from_decoder(decoder).map_err(decode_error)?, orientation))
}

/// The stored image as 8-bit RGB over the [`MATTE`], then turned upright: turned last, so a
/// turn that needs a copy copies 3 bytes a pixel, not 4 or 8.
fn upright((mut image, orientation): (DynamicImage, Option<image::metadata::Orientation>)) -> Result<Decoded> {
    let deep = stretch_16(&mut image);
    let rgb = match image {
        DynamicImage::ImageRgba8(rgba) => flatten(rgba)?,
        image if image.color().has_alpha() => flatten_in_strips(&image)?,
        image => image.into_rgb8(),
    };
    let rgb = match orientation {
        // In place costs ~25 ns a pixel (random access), a copy ~5: worth it only where the
        // copy would matter.
        Some(orientation) if rgb.width() as u64 * rgb.height() as u64 >= TURN_IN_PLACE_FROM => orient_in_place(rgb, orientation),
        Some(orientation) => oriented(rgb, orientation),
        None => rgb,
    };
    let (image, levels) = stretch_8(smooth_if_bilevel(rgb));
    let levels = match deep {
        Some(d) => Levels { black: d.black + levels.black / d.gain, gain: d.gain * levels.gain },
        None => levels,
    };
    Ok(Decoded { image, levels })
}

/// The 0.5th and 99.5th percentiles of `samples` (every `channels`-th from `first`, about
/// 64 k of them), in `bins` levels.
fn percentiles<T: Copy + Into<u32>>(samples: &[T], channels: usize, first: usize, bins: usize) -> (f32, f32) {
    let count = samples.len() / channels;
    let step = (count / 65_536).max(1);
    let mut histogram = vec![0u32; bins];
    let mut n = 0u32;
    for i in (0..count).step_by(step) {
        histogram[(samples[i * channels + first].into() as usize).min(bins - 1)] += 1;
        n += 1;
    }
    let at = |share: f32| {
        let target = (share * n as f32).ceil() as u32;
        let mut sum = 0;
        histogram.iter().position(|&h| { sum += h; sum >= target.max(1) }).unwrap_or(bins - 1) as f32
    };
    (at(0.005), at(0.995))
}

/// The stretch for levels spanning `lo`–`hi` of `full`: `None` when they are neither dark nor
/// flat, or hold no picture at all (fewer than 4 sample levels).
fn stretch_for(lo: f32, hi: f32, full: f32, max_gain: f32) -> Option<Levels> {
    let unit = full / 255.0;
    if hi - lo < 4.0 || (hi >= DARK_BELOW * unit && hi - lo >= FLAT_SPAN * unit) {
        return None;
    }
    let gain = (full / (hi - lo)).min(max_gain);
    (gain > 1.05).then_some(Levels { black: lo / unit, gain })
}

/// Stretch the levels of a 16-bit image in place, before it is cut to 8 bits; the stretch,
/// in 8-bit units. Percentiles over all colour samples (alpha left alone).
fn stretch_16(image: &mut DynamicImage) -> Option<Levels> {
    let (samples, channels, colours): (&mut [u16], usize, usize) = match image {
        DynamicImage::ImageLuma16(i) => (i.as_mut(), 1, 1),
        DynamicImage::ImageLumaA16(i) => (i.as_mut(), 2, 1),
        DynamicImage::ImageRgb16(i) => (i.as_mut(), 3, 3),
        DynamicImage::ImageRgba16(i) => (i.as_mut(), 4, 3),
        _ => return None,
    };
    let (mut lo, mut hi) = (f32::INFINITY, 0.0f32);
    for c in 0..colours {
        let (l, h) = percentiles(samples, channels, c, 65_536);
        (lo, hi) = (lo.min(l), hi.max(h));
    }
    let levels = stretch_for(lo, hi, 65_535.0, MAX_GAIN_16)?;
    let black = levels.black * 257.0;
    for pixel in samples.chunks_exact_mut(channels) {
        for v in &mut pixel[..colours] {
            *v = ((*v as f32 - black) * levels.gain).round().clamp(0.0, 65_535.0) as u16;
        }
    }
    Some(levels)
}

/// Stretch the levels of a dark or flat 8-bit image in place, judged on its luma.
fn stretch_8(mut image: RgbImage) -> (RgbImage, Levels) {
    let luma: Vec<u8> = {
        let step = ((image.width() as u64 * image.height() as u64) / 65_536).max(1) as usize;
        image.pixels().step_by(step).map(|p| ((299 * p.0[0] as u32 + 587 * p.0[1] as u32 + 114 * p.0[2] as u32) / 1000) as u8).collect()
    };
    let (lo, hi) = percentiles(&luma, 1, 0, 256);
    let Some(levels) = stretch_for(lo, hi, 255.0, MAX_GAIN_8) else { return (image, Levels::IDENTITY) };
    let table: Vec<u8> = (0..=255).map(|v| sample_to_u8((v as f32 - levels.black) * levels.gain)).collect();
    for v in image.iter_mut() {
        *v = table[*v as usize];
    }
    (image, levels)
}

/// `image` turned by `orientation` in its own buffer. The image crate makes a turned copy
/// for the quarter turns (EXIF 5–8: every phone photo taken upright), which for 50
/// megapixels is 150 MB more; these are a transpose in place, then a flip in place.
fn orient_in_place(image: RgbImage, orientation: image::metadata::Orientation) -> RgbImage {
    use image::metadata::Orientation::*;
    let (image, then) = match orientation {
        Rotate90 => (transpose_in_place(image), FlipHorizontal),
        Rotate270 => (transpose_in_place(image), FlipVertical),
        Rotate90FlipH => (transpose_in_place(image), NoTransforms),
        Rotate270FlipH => (transpose_in_place(image), Rotate180),
        other => (image, other),
    };
    oriented(image, then)
}

/// `image` turned by `orientation` as the image crate turns it (in place for flips and
/// the half turn, by a copy for quarter turns).
fn oriented(image: RgbImage, orientation: image::metadata::Orientation) -> RgbImage {
    let mut image = DynamicImage::ImageRgb8(image);
    image.apply_orientation(orientation);
    image.into_rgb8()
}

/// The transpose (pixel (x, y) to (y, x)) of `image`, in its own buffer: every cycle of the
/// permutation followed once, a bitset marking the pixels already placed (1 bit a pixel).
fn transpose_in_place(image: RgbImage) -> RgbImage {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let mut data = image.into_raw();
    let mut placed = vec![0u64; (width * height).div_ceil(64)];
    for start in 0..width * height {
        if placed[start / 64] & (1 << (start % 64)) != 0 {
            continue;
        }
        let mut carried = [data[3 * start], data[3 * start + 1], data[3 * start + 2]];
        let mut from = start;
        loop {
            let to = (from % width) * height + from / width;
            let slot = &mut data[3 * to..3 * to + 3];
            let displaced = [slot[0], slot[1], slot[2]];
            slot.copy_from_slice(&carried);
            carried = displaced;
            placed[to / 64] |= 1 << (to % 64);
            from = to;
            if to == start {
                break;
            }
        }
    }
    RgbImage::from_raw(height as u32, width as u32, data).expect("a transpose keeps the pixel count")
}

/// A 1-bit image (every pixel black or white: a dithered scan or fax) blurred so that its
/// dither patterns become the grey levels they stand for; models trained on photos read the
/// patterns as texture. σ of 1.5 px spans Floyd–Steinberg's error diffusion.
fn smooth_if_bilevel(image: RgbImage) -> RgbImage {
    let bilevel = image.pixels().all(|p| p.0 == [0; 3] || p.0 == [255; 3]);
    if bilevel { image::imageops::blur(&image, 1.5) } else { image }
}

/// RGBA pixels (as from a canvas `ImageData`) composited onto the [`MATTE`], a bilevel image
/// smoothed, dark or flat levels stretched: the same treatment as [`decode`]'s, under the
/// same pixel budget.
pub fn from_rgba(rgba: Vec<u8>, width: u32, height: u32) -> Result<Decoded> {
    check_rgba(&rgba, width, height)?;
    let image = image::RgbaImage::from_raw(width, height, rgba)
        .ok_or_else(|| Error::new(ErrorKind::InvalidInput, "pixel buffer size mismatch"))?;
    // Pixels a browser decoded get what decoded files get.
    let (image, levels) = stretch_8(smooth_if_bilevel(flatten(image)?));
    Ok(Decoded { image, levels })
}

/// A sample clamped to 0–255 and rounded half away from zero, exactly as
/// `v.clamp(0.0, 255.0).round() as u8`, without `f32::round`, which is a libm call in wasm
/// (wasm's own rounding instruction rounds halves to even): 1 % of a camera frame's
/// detection, 2 % of its analysis. NaN gives 0, as the cast does.
pub(crate) fn sample_to_u8(v: f32) -> u8 {
    let v = v.clamp(0.0, 255.0);
    // Both exact: `whole` is an integer below 2^23, and `v - whole` its fraction.
    let whole = v.trunc();
    (whole + if v - whole >= 0.5 { 1.0 } else { 0.0 }) as u8
}

/// `image` composited onto the [`MATTE`]; a fully transparent image is `NO_FACE`. In place
/// (through a 16 KB strip): each RGB pixel is written over RGBA bytes already read, so a
/// 50-megapixel image never needs its RGBA and RGB copies at once.
fn flatten(image: image::RgbaImage) -> Result<RgbImage> {
    let (width, height) = image.dimensions();
    let mut bytes = image.into_raw();
    let mut visible = false;
    let pixels = bytes.len() / 4;
    // Strips of pixels are copied out, then written back packed: the reads and writes of one
    // strip never overlap, so the loop below can walk them as two slices, four pixels at a
    // time (pixel by pixel, this was 12.5 % of a camera frame's detection in wasm; 8.5 % now).
    const STRIP: usize = 4096;
    let mut strip = vec![0u8; 4 * STRIP.min(pixels)];
    for first in (0..pixels).step_by(STRIP) {
        let n = STRIP.min(pixels - first);
        strip[..4 * n].copy_from_slice(&bytes[4 * first..4 * (first + n)]);
        // Four pixels at a time as 32-bit words: when all four are opaque (every camera
        // frame's are) they composite to themselves, and 16 bytes become 12 by shifts.
        let (rgb, rgba) = (&mut bytes[3 * first..3 * (first + n)], &strip[..4 * n]);
        for (rgb, rgba) in rgb.chunks_mut(12).zip(rgba.chunks(16)) {
            if let (Ok(rgb), Ok(rgba)) = (<&mut [u8; 12]>::try_from(&mut *rgb), <&[u8; 16]>::try_from(rgba)) {
                let w = |i: usize| u32::from_le_bytes([rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2], rgba[4 * i + 3]]);
                let (a, b, c, d) = (w(0), w(1), w(2), w(3));
                if a & b & c & d >= 0xff00_0000 {
                    rgb[0..4].copy_from_slice(&(a & 0xff_ffff | b << 24).to_le_bytes());
                    rgb[4..8].copy_from_slice(&(b >> 8 & 0xffff | c << 16).to_le_bytes());
                    rgb[8..12].copy_from_slice(&(c >> 16 & 0xff | d << 8).to_le_bytes());
                    visible = true;
                    continue;
                }
            }
            for (rgb, rgba) in rgb.chunks_exact_mut(3).zip(rgba.chunks_exact(4)) {
                visible |= rgba[3] > 0;
                rgb.copy_from_slice(&composite([rgba[0], rgba[1], rgba[2], rgba[3]]));
            }
        }
    }
    if !visible {
        return Err(fully_transparent());
    }
    bytes.truncate(bytes.len() / 4 * 3);
    bytes.shrink_to_fit();
    RgbImage::from_raw(width, height, bytes).ok_or_else(|| Error::new(ErrorKind::InvalidInput, "pixel buffer size mismatch"))
}

/// As [`flatten`], for other images with alpha (16-bit, grey + alpha), converted to 8-bit
/// RGBA 64 rows at a time: a 16-bit image is already the largest buffer decoded, and a full
/// 8-bit copy of it would add half as much again.
fn flatten_in_strips(image: &DynamicImage) -> Result<RgbImage> {
    const STRIP: u32 = 64;
    let (width, height) = (image.width(), image.height());
    let mut out = RgbImage::new(width, height);
    let mut visible = false;
    for top in (0..height).step_by(STRIP as usize) {
        let strip = image.crop_imm(0, top, width, STRIP.min(height - top)).into_rgba8();
        for (x, y, pixel) in strip.enumerate_pixels() {
            visible |= pixel[3] > 0;
            out.put_pixel(x, top + y, image::Rgb(composite(pixel.0)));
        }
    }
    if !visible {
        return Err(fully_transparent());
    }
    Ok(out)
}

/// One RGBA pixel over the [`MATTE`].
fn composite([r, g, b, a]: [u8; 4]) -> [u8; 3] {
    let mix = |c: u8, m: u8| ((c as u32 * a as u32 + m as u32 * (255 - a as u32) + 127) / 255) as u8;
    [mix(r, MATTE[0]), mix(g, MATTE[1]), mix(b, MATTE[2])]
}

fn fully_transparent() -> Error {
    Error::new(ErrorKind::NoFace, "the image is fully transparent")
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

/// `IMAGE_TOO_LARGE` unless `width`×`height` is within the pixel budget
/// ([`MAX_DECODE_SIDE`] a side, [`MAX_DECODE_PIXELS`] in all).
pub fn check_size(width: u32, height: u32) -> Result<()> {
    if width > MAX_DECODE_SIDE || height > MAX_DECODE_SIDE || width as u64 * height as u64 > MAX_DECODE_PIXELS {
        return Err(too_large(width, height));
    }
    Ok(())
}

fn check_rgba(rgba: &[u8], width: u32, height: u32) -> Result<()> {
    check_size(width, height)?;
    let expected = (width as u64) * (height as u64) * 4;
    if width == 0 || height == 0 || rgba.len() as u64 != expected {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("rgba buffer of {} bytes does not match {width}×{height}×4", rgba.len()),
        ));
    }
    Ok(())
}

/// The pixel budget's error, for files and pixel buffers alike.
fn too_large(width: u32, height: u32) -> Error {
    Error::new(
        ErrorKind::ImageTooLarge,
        format!(
            "{width}×{height} is more than {} px a side or {} megapixels: scale the photo down",
            MAX_DECODE_SIDE,
            MAX_DECODE_PIXELS / 1_000_000
        ),
    )
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
        png_header(side, 8, 2)
    }

    /// A 1×1 PNG whose header claims `side`×`side` with `depth`-bit samples of `colour` type.
    fn png_header(side: u32, depth: u8, colour: u8) -> Vec<u8> {
        let mut bytes = png(1, 1);
        bytes[16..20].copy_from_slice(&side.to_be_bytes());
        bytes[20..24].copy_from_slice(&side.to_be_bytes());
        bytes[24] = depth;
        bytes[25] = colour;
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
        assert_eq!(from_rgba(vec![0; 15], 2, 2).unwrap_err().kind(), ErrorKind::InvalidInput);
        let image = from_rgba(vec![1, 2, 3, 255, 4, 5, 6, 255], 2, 1).unwrap();
        assert_eq!(image.image.as_raw(), &[1, 2, 3, 4, 5, 6]);
        assert_eq!(image.levels, Levels::IDENTITY, "a picture of two levels is left alone");
    }

    fn encoded(image: &DynamicImage, format: image::ImageFormat) -> Vec<u8> {
        let mut out = Vec::new();
        image.write_to(&mut std::io::Cursor::new(&mut out), format).unwrap();
        out
    }

    #[test]
    fn samples_round_as_f32_round_does() {
        let below_half = f32::from_bits(0.5f32.to_bits() - 1);
        let mut values = vec![-3.0, -0.5, 0.0, below_half, 0.5, 1.5, 2.5, 254.5, 255.0, 255.5, 1e9, f32::NAN, f32::INFINITY];
        for k in 0..=255 {
            let half = k as f32 + 0.5;
            values.extend([half, f32::from_bits(half.to_bits() - 1), f32::from_bits(half.to_bits() + 1)]);
        }
        values.extend((0..100_000).map(|i| i as f32 * 0.002_6));
        for v in values {
            assert_eq!(sample_to_u8(v), v.clamp(0.0, 255.0).round() as u8, "{v}");
        }
    }

    #[test]
    fn opaque_runs_and_transparent_pixels_composite_alike() {
        // 7×3: blocks of four opaque pixels, blocks broken by one translucent pixel, a tail.
        let rgba = image::RgbaImage::from_fn(7, 3, |x, y| {
            let alpha = if (x, y) == (5, 1) || (x, y) == (6, 2) { 77 } else { 255 };
            image::Rgba([(40 * x) as u8, (90 * y) as u8, (x * y) as u8, alpha])
        });
        let expected: Vec<u8> = rgba.pixels().flat_map(|p| composite(p.0)).collect();
        assert_eq!(flatten(rgba).unwrap().into_raw(), expected);
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
        assert_eq!(from_rgba(invisible.into_raw(), 8, 8).unwrap_err().kind(), ErrorKind::NoFace);
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
    fn orientations_turn_in_place_as_the_image_crate_turns_with_a_copy() {
        use image::metadata::Orientation::*;
        for (width, height) in [(7, 3), (1, 5), (4, 4), (64, 9)] {
            let image = RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, (x * 31 + y * 7) as u8]));
            for orientation in [NoTransforms, Rotate90, Rotate180, Rotate270, FlipHorizontal, FlipVertical, Rotate90FlipH, Rotate270FlipH] {
                assert_eq!(orient_in_place(image.clone(), orientation), oriented(image.clone(), orientation), "{width}×{height} {orientation:?}");
            }
        }
    }

    #[test]
    fn pixel_budget_is_checked_from_the_header() {
        // 8000 × 8000 = 64 megapixels: under the side limit, over the pixel budget.
        let err = decode(&png_claiming(8_000)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ImageTooLarge, "{err}");
        // 6000 × 6000 16-bit RGBA: 36 megapixels, but 288 MB decoded.
        let err = decode(&png_header(6_000, 16, 6)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ImageTooLarge, "{err}");
        assert!(err.to_string().contains("8-bit"), "{err}");
        // The same budget for pixels handed over: refused before the buffer is looked at.
        let err = from_rgba(Vec::new(), 8_000, 8_000).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ImageTooLarge, "{err}");
    }

    #[test]
    fn dark_and_flat_images_are_stretched_and_say_how() {
        // A 16-bit grey ramp using 1/256 of the range: cut to 8 bits it would be one level.
        let ramp = image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_fn(256, 4, |x, _| image::Luma([x as u16]));
        let decoded = decode_owned(encoded(&DynamicImage::ImageLuma16(ramp), image::ImageFormat::Png)).unwrap();
        let levels: std::collections::BTreeSet<u8> = decoded.image.pixels().map(|p| p.0[0]).collect();
        assert!(levels.len() > 200, "{} levels kept", levels.len());
        assert!(decoded.levels.gain > 200.0, "{:?}", decoded.levels);
        assert!(decoded.levels.as_given(255.0) < 1.1, "as given, the brightest level is under 1/255: {:?}", decoded.levels);
        // An underexposed 8-bit frame: levels 0–60 → about 0–255, gain at most 8.
        let dark = RgbImage::from_fn(64, 64, |x, y| image::Rgb([(x + y) as u8 / 2, (x + y) as u8 / 2, (x + y) as u8 / 2]));
        let rgba: Vec<u8> = dark.pixels().flat_map(|p| [p.0[0], p.0[1], p.0[2], 255]).collect();
        let stretched = from_rgba(rgba, 64, 64).unwrap();
        assert!(stretched.levels.gain > 3.0 && stretched.levels.gain <= MAX_GAIN_8, "{:?}", stretched.levels);
        // A photo's levels stay as they are.
        let photo = RgbImage::from_fn(64, 64, |x, y| image::Rgb([(x * 4) as u8, (y * 4) as u8, 128]));
        assert_eq!(stretch_8(photo.clone()), (photo, Levels::IDENTITY));
    }
}
