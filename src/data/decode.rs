//! Decoding one raw image file into 8-bit RGB, with the reason when it cannot be used.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageFormat, ImageReader, Limits, RgbImage};

/// Decoding limits for one file.
#[derive(Clone, Copy, Debug)]
pub struct DecodeLimits {
    /// Shorter side below which an image is rejected, in pixels.
    pub min_side: u32,
    /// Largest pixel count decoded; larger headers are rejected before any pixel is decoded,
    /// which stops decompression bombs.
    pub max_pixels: u64,
}

/// Reason a file was not kept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("empty file (0 bytes)")]
    Empty,
    #[error("unreadable: {0}")]
    Unreadable(String),
    #[error("vanished: the file was deleted or moved after the folder was scanned")]
    Vanished,
    #[error("not an image: the content is not JPEG, PNG, WebP, BMP or GIF")]
    NotAnImage,
    #[error("unsupported image format {0}; kao reads JPEG, PNG, WebP, BMP and GIF")]
    UnsupportedFormat(String),
    #[error("corrupt or truncated image: {0}")]
    Corrupt(String),
    #[error("too small: {width}x{height} pixels, the shorter side is below --min-size {min_side}")]
    TooSmall { width: u32, height: u32, min_side: u32 },
    #[error("too large: {width}x{height} pixels exceeds the limit of {max_pixels} pixels")]
    TooLarge { width: u32, height: u32, max_pixels: u64 },
}

/// A colour or format conversion applied while decoding, named as in `report.json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conversion {
    Grayscale,
    Alpha,
    SixteenBit,
    Palette,
    Cmyk,
    Animated,
}

impl Conversion {
    /// Returns the name written to `report.json`.
    pub fn name(self) -> &'static str {
        match self {
            Conversion::Grayscale => "grayscale",
            Conversion::Alpha => "rgba",
            Conversion::SixteenBit => "16-bit",
            Conversion::Palette => "palette",
            Conversion::Cmyk => "cmyk",
            Conversion::Animated => "animated",
        }
    }
}

/// A decoded image with the conversions that made it 8-bit RGB.
pub struct Decoded {
    pub image: RgbImage,
    pub conversions: Vec<Conversion>,
}

/// Reads and decodes `path` into 8-bit RGB: alpha is composited on white, grayscale, 16-bit,
/// palette and CMYK images are converted, and animated GIFs keep their first frame.
pub fn decode_file(path: &Path, limits: DecodeLimits) -> Result<Decoded, Rejection> {
    let bytes = std::fs::read(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => Rejection::Vanished,
        _ => Rejection::Unreadable(error.to_string()),
    })?;
    decode_bytes(&bytes, limits)
}

/// Decodes an in-memory file; see [`decode_file`].
pub fn decode_bytes(bytes: &[u8], limits: DecodeLimits) -> Result<Decoded, Rejection> {
    if bytes.is_empty() {
        return Err(Rejection::Empty);
    }
    let format = image::guess_format(bytes).map_err(|_| Rejection::NotAnImage)?;
    let supported = [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::WebP, ImageFormat::Bmp, ImageFormat::Gif];
    if !supported.contains(&format) {
        return Err(Rejection::UnsupportedFormat(format!("{format:?}")));
    }

    let (width, height) = reader(bytes, format, None)
        .into_dimensions()
        .map_err(|error| Rejection::Corrupt(error.to_string()))?;
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(Rejection::TooLarge { width, height, max_pixels: limits.max_pixels });
    }
    if width.min(height) < limits.min_side {
        return Err(Rejection::TooSmall { width, height, min_side: limits.min_side });
    }

    // The JPEG decoder fills a cut-off scan with grey instead of failing, so a missing
    // end-of-image marker is checked here.
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(Rejection::Corrupt("the JPEG data ends before its end-of-image marker".into()));
    }
    let image = reader(bytes, format, Some(limits))
        .decode()
        .map_err(|error| Rejection::Corrupt(error.to_string()))?;
    let mut conversions = sniff_conversions(bytes, format);
    let image = to_rgb8(image, &mut conversions);
    Ok(Decoded { image, conversions })
}

fn reader(bytes: &[u8], format: ImageFormat, limits: Option<DecodeLimits>) -> ImageReader<Cursor<&[u8]>> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    if let Some(limits) = limits {
        let mut decode_limits = Limits::default();
        // RGBA at 16 bits per channel is the widest decoded buffer: 8 bytes a pixel.
        decode_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8).max(64 << 20));
        reader.limits(decode_limits);
    }
    reader
}

/// Finds conversions that the decoded buffer no longer shows: palettes, CMYK and animation.
fn sniff_conversions(bytes: &[u8], format: ImageFormat) -> Vec<Conversion> {
    let mut conversions = Vec::new();
    match format {
        // The IHDR chunk follows the 8-byte signature; its colour type byte is at offset 25.
        ImageFormat::Png if bytes.get(25) == Some(&3) => conversions.push(Conversion::Palette),
        ImageFormat::Jpeg if jpeg_component_count(bytes) == Some(4) => conversions.push(Conversion::Cmyk),
        ImageFormat::Gif => {
            conversions.push(Conversion::Palette);
            if gif_is_animated(bytes) {
                conversions.push(Conversion::Animated);
            }
        }
        _ => {}
    }
    conversions
}

/// Reads the component count from a JPEG's start-of-frame marker.
fn jpeg_component_count(bytes: &[u8]) -> Option<u8> {
    let mut at = 2;
    while at + 4 <= bytes.len() {
        if bytes[at] != 0xFF {
            return None;
        }
        let marker = bytes[at + 1];
        let length = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        let is_start_of_frame = (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker);
        if is_start_of_frame {
            return bytes.get(at + 9).copied();
        }
        at += 2 + length;
    }
    None
}

/// Checks that an end-of-image marker (FF D9) follows the last start-of-scan marker (FF DA).
/// Inside entropy-coded data a 0xFF byte is always followed by 0x00 or a restart marker, so
/// neither pair can occur there by accident.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last_scan = bytes.windows(2).rposition(|pair| pair == [0xFF, 0xDA]);
    let last_end = bytes.windows(2).rposition(|pair| pair == [0xFF, 0xD9]);
    match (last_scan, last_end) {
        (Some(scan), Some(end)) => end > scan,
        _ => false,
    }
}

fn gif_is_animated(bytes: &[u8]) -> bool {
    use image::AnimationDecoder;
    match image::codecs::gif::GifDecoder::new(Cursor::new(bytes)) {
        Ok(decoder) => decoder.into_frames().take(2).count() > 1,
        Err(_) => false,
    }
}

fn to_rgb8(image: DynamicImage, conversions: &mut Vec<Conversion>) -> RgbImage {
    use image::ColorType;
    let color = image.color();
    if matches!(color, ColorType::L8 | ColorType::La8 | ColorType::L16 | ColorType::La16) {
        conversions.push(Conversion::Grayscale);
    }
    if color.bytes_per_pixel() / color.channel_count() > 1 {
        conversions.push(Conversion::SixteenBit);
    }
    if !color.has_alpha() {
        return image.to_rgb8();
    }

    conversions.push(Conversion::Alpha);
    let rgba = image.to_rgba8();
    let mut rgb = RgbImage::new(rgba.width(), rgba.height());
    for (out, pixel) in rgb.pixels_mut().zip(rgba.pixels()) {
        let alpha = u32::from(pixel[3]);
        for channel in 0..3 {
            // Composite on white: c * a + 255 * (1 - a), rounded, in 8-bit fixed point.
            let value = u32::from(pixel[channel]) * alpha + 255 * (255 - alpha);
            out[channel] = ((value + 127) / 255) as u8;
        }
    }
    rgb
}
