//! Decode: encoded bytes or RGBA pixels → an RGB image, upright, at most
//! [`MAX_WORKING_SIDE`] pixels on its longer side.
//!
//! Untrusted bytes are decoded under [`image::Limits`], so a small file that claims huge
//! dimensions fails before any large allocation. EXIF orientation is applied, because
//! phone photos are stored sideways and the detector only finds upright faces.

use image::{DynamicImage, ImageDecoder, ImageReader, Rgb32FImage, RgbImage};

use crate::error::{Error, ErrorKind, Result};

/// Largest width or height accepted from a file (a 60000×60000 bomb is refused).
pub const MAX_DECODE_SIDE: u32 = 16_384;
/// Largest decoder allocation, bytes.
pub const MAX_DECODE_ALLOC: u64 = 768 * 1024 * 1024;
/// Larger photos are downscaled to this before detection: faces stay far above the
/// detector's resolution, and memory stays bounded (in wasm above all).
pub const MAX_WORKING_SIDE: u32 = 2048;

/// Decode JPEG, PNG, WebP, GIF (first frame) or BMP bytes.
pub fn decode(bytes: &[u8]) -> Result<RgbImage> {
    if bytes.is_empty() {
        return Err(Error::new(ErrorKind::ImageDecode, "empty image data"));
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
    let orientation = decoder.orientation().ok();
    let mut image = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    if let Some(orientation) = orientation {
        image.apply_orientation(orientation);
    }
    Ok(shrink(image.into_rgb8()))
}

/// Wrap RGBA pixels (as from a canvas `ImageData`), dropping alpha.
pub fn from_rgba(rgba: &[u8], width: u32, height: u32) -> Result<RgbImage> {
    Ok(shrink(rgba_to_rgb(rgba, width, height)?))
}

/// RGBA pixels of an already aligned crop as f32 RGB samples (0–255), dropping alpha.
/// Unlike [`from_rgba`] it never resizes: the crop must already be the model's size.
pub fn crop_from_rgba(rgba: &[u8], width: u32, height: u32) -> Result<Rgb32FImage> {
    let samples = rgba_to_rgb(rgba, width, height)?.into_raw().into_iter().map(f32::from).collect();
    Rgb32FImage::from_raw(width, height, samples)
        .ok_or_else(|| Error::new(ErrorKind::InvalidInput, "pixel buffer size mismatch"))
}

fn rgba_to_rgb(rgba: &[u8], width: u32, height: u32) -> Result<RgbImage> {
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
    let rgb: Vec<u8> = rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
    RgbImage::from_raw(width, height, rgb)
        .ok_or_else(|| Error::new(ErrorKind::InvalidInput, "pixel buffer size mismatch"))
}

fn shrink(image: RgbImage) -> RgbImage {
    let longer = image.width().max(image.height());
    if longer <= MAX_WORKING_SIDE {
        return image;
    }
    let scale = MAX_WORKING_SIDE as f32 / longer as f32;
    let width = ((image.width() as f32 * scale).round() as u32).max(1);
    let height = ((image.height() as f32 * scale).round() as u32).max(1);
    image::imageops::resize(&image, width, height, image::imageops::FilterType::Triangle)
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

    #[test]
    fn rejects_bomb_before_allocating() {
        // A valid PNG header (with its CRC) claiming 60000×60000, then nothing.
        let mut bomb = png(1, 1);
        bomb[16..20].copy_from_slice(&60_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&60_000u32.to_be_bytes());
        let crc = crc32fast::hash(&bomb[12..29]);
        bomb[29..33].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(decode(&bomb).unwrap_err().kind(), ErrorKind::ImageTooLarge);
    }

    #[test]
    fn downscales_large_images() {
        let image = decode(&png(4000, 1000)).unwrap();
        assert_eq!((image.width(), image.height()), (MAX_WORKING_SIDE, 512));
    }

    #[test]
    fn rgba_size_is_checked() {
        assert_eq!(from_rgba(&[0; 15], 2, 2).unwrap_err().kind(), ErrorKind::InvalidInput);
        let image = from_rgba(&[1, 2, 3, 255, 4, 5, 6, 255], 2, 1).unwrap();
        assert_eq!(image.as_raw(), &[1, 2, 3, 4, 5, 6]);
    }
}
