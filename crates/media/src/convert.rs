//! Whatever a camera delivers, converted to I420 (yuvutils-rs for the packed and RGB formats,
//! zune-jpeg for MJPEG). Odd sizes are cropped by one pixel, as H.264 wants even ones.

use yuvutils_rs::{
    BufferStoreMut, YuvConversionMode, YuvPackedImage, YuvPlanarImageMut, YuvRange,
    YuvStandardMatrix,
};

use crate::error::DeviceError;
use crate::frame::VideoFrame;

/// Pixel formats cameras deliver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelFormat {
    /// Motion JPEG: each frame a JPEG image.
    Mjpeg,
    /// Packed 4:2:2, Y0 U Y1 V.
    Yuyv,
    /// Planar Y, then interleaved U/V at half resolution.
    Nv12,
    /// 8-bit luma only.
    Gray,
    /// Packed 8-bit R, G, B.
    Rgb,
    /// Packed 8-bit B, G, R.
    Bgr,
}

fn bad(what: impl std::fmt::Display) -> DeviceError {
    DeviceError::UnsupportedFormat(what.to_string())
}

/// Converts one captured image of `width` x `height` to I420.
pub fn to_i420(
    format: PixelFormat,
    width: usize,
    height: usize,
    bytes: &[u8],
) -> Result<VideoFrame, DeviceError> {
    let (w, h) = (width & !1, height & !1);
    if w == 0 || h == 0 {
        return Err(bad(format!("a {width}x{height} image")));
    }
    let need = |n: usize| {
        if bytes.len() < n {
            Err(bad(format!(
                "{format:?} {width}x{height} needs {n} bytes, got {}",
                bytes.len()
            )))
        } else {
            Ok(())
        }
    };
    let mut frame = VideoFrame::black(w, h);
    match format {
        PixelFormat::Gray => {
            need(width * height)?;
            let (y, _, _) = frame.planes_mut();
            for row in 0..h {
                y[row * w..row * w + w].copy_from_slice(&bytes[row * width..row * width + w]);
            }
        }
        PixelFormat::Nv12 => {
            need(width * height + width.div_ceil(2) * 2 * height.div_ceil(2))?;
            let uv_stride = width.div_ceil(2) * 2;
            let (y, u, v) = frame.planes_mut();
            for row in 0..h {
                y[row * w..row * w + w].copy_from_slice(&bytes[row * width..row * width + w]);
            }
            let uv = &bytes[width * height..];
            for row in 0..h / 2 {
                for col in 0..w / 2 {
                    u[row * w / 2 + col] = uv[row * uv_stride + 2 * col];
                    v[row * w / 2 + col] = uv[row * uv_stride + 2 * col + 1];
                }
            }
        }
        PixelFormat::Yuyv => {
            let stride = width.div_ceil(2) * 4;
            need(stride * height)?;
            let packed = YuvPackedImage {
                yuy: bytes,
                yuy_stride: stride as u32,
                width: w as u32,
                height: h as u32,
            };
            with_planar(&mut frame, |planar| {
                yuvutils_rs::yuyv422_to_yuv420(planar, &packed)
            })?;
        }
        PixelFormat::Rgb | PixelFormat::Bgr => {
            need(width * height * 3)?;
            rgb_into(&mut frame, bytes, width * 3, format == PixelFormat::Bgr)?;
        }
        PixelFormat::Mjpeg => {
            let mut decoder = zune_jpeg::JpegDecoder::new(bytes);
            let rgb = decoder.decode().map_err(|e| bad(format!("MJPEG: {e:?}")))?;
            let (jw, jh) = decoder
                .dimensions()
                .ok_or_else(|| bad("MJPEG without dimensions"))?;
            if rgb.len() < jw * jh * 3 {
                return Err(bad("MJPEG decoded to fewer bytes than its size"));
            }
            let mut jframe = VideoFrame::black(jw & !1, jh & !1);
            if jframe.width == 0 || jframe.height == 0 {
                return Err(bad(format!("a {jw}x{jh} JPEG")));
            }
            rgb_into(&mut jframe, &rgb, jw * 3, false)?;
            return Ok(jframe);
        }
    }
    Ok(frame)
}

/// Converts a `width` x `height` image of 32-bit pixels in memory order B, G, R, X (an X
/// server's and most screen grabbers' native layout) to I420; odd sizes are cropped.
pub fn bgrx_to_i420(width: usize, height: usize, bytes: &[u8]) -> Result<VideoFrame, DeviceError> {
    four_bytes_to_i420(width, height, bytes, yuvutils_rs::bgra_to_yuv420)
}

/// Converts a `width` x `height` image of 32-bit pixels in memory order R, G, B, X (what
/// `xcap` and most image libraries hand over) to I420; odd sizes are cropped.
pub fn rgbx_to_i420(width: usize, height: usize, bytes: &[u8]) -> Result<VideoFrame, DeviceError> {
    four_bytes_to_i420(width, height, bytes, yuvutils_rs::rgba_to_yuv420)
}

/// One of `yuvutils_rs`'s packed 32-bit to I420 conversions.
type FourBytes = fn(
    &mut yuvutils_rs::YuvPlanarImageMut<'_, u8>,
    &[u8],
    u32,
    YuvRange,
    YuvStandardMatrix,
    YuvConversionMode,
) -> Result<(), yuvutils_rs::YuvError>;

fn four_bytes_to_i420(
    width: usize,
    height: usize,
    bytes: &[u8],
    convert: FourBytes,
) -> Result<VideoFrame, DeviceError> {
    let (w, h) = (width & !1, height & !1);
    if w == 0 || h == 0 || bytes.len() < width * height * 4 {
        return Err(bad(format!(
            "a {width}x{height} screen image of {} bytes",
            bytes.len()
        )));
    }
    let mut frame = VideoFrame::black(w, h);
    with_planar(&mut frame, |planar| {
        convert(
            planar,
            bytes,
            (width * 4) as u32,
            YuvRange::Limited,
            YuvStandardMatrix::Bt601,
            YuvConversionMode::Balanced,
        )
    })?;
    Ok(frame)
}

fn rgb_into(
    frame: &mut VideoFrame,
    rgb: &[u8],
    stride: usize,
    bgr: bool,
) -> Result<(), DeviceError> {
    with_planar(frame, |planar| {
        let convert = if bgr {
            yuvutils_rs::bgr_to_yuv420
        } else {
            yuvutils_rs::rgb_to_yuv420
        };
        convert(
            planar,
            rgb,
            stride as u32,
            YuvRange::Limited,
            YuvStandardMatrix::Bt601,
            YuvConversionMode::Balanced,
        )
    })
}

fn with_planar(
    frame: &mut VideoFrame,
    f: impl FnOnce(&mut YuvPlanarImageMut<'_, u8>) -> Result<(), yuvutils_rs::YuvError>,
) -> Result<(), DeviceError> {
    let (w, h) = (frame.width as u32, frame.height as u32);
    let (y, u, v) = frame.planes_mut();
    let mut planar = YuvPlanarImageMut {
        y_plane: BufferStoreMut::Borrowed(y),
        y_stride: w,
        u_plane: BufferStoreMut::Borrowed(u),
        u_stride: w / 2,
        v_plane: BufferStoreMut::Borrowed(v),
        v_stride: w / 2,
        width: w,
        height: h,
    };
    f(&mut planar).map_err(|e| bad(format!("pixel conversion: {e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 64x48 test image in RGB: left half red, right half blue.
    fn rgb_image() -> Vec<u8> {
        let mut rgb = Vec::new();
        for _ in 0..48 {
            for col in 0..64 {
                rgb.extend_from_slice(if col < 32 { &[255, 0, 0] } else { &[0, 0, 255] });
            }
        }
        rgb
    }

    fn chroma_at(frame: &VideoFrame, col: usize) -> (u8, u8) {
        let (_, u, v) = frame.planes();
        (
            u[10 * frame.width / 2 + col / 2],
            v[10 * frame.width / 2 + col / 2],
        )
    }

    #[test]
    fn rgb_and_bgr_convert_with_the_right_colours() {
        let rgb = rgb_image();
        let f = to_i420(PixelFormat::Rgb, 64, 48, &rgb).unwrap();
        let (u_red, v_red) = chroma_at(&f, 8);
        let (u_blue, v_blue) = chroma_at(&f, 56);
        assert!(v_red > 200 && u_red < 128, "red: {u_red} {v_red}");
        assert!(u_blue > 200 && v_blue < 128, "blue: {u_blue} {v_blue}");
        let bgr: Vec<u8> = rgb.chunks(3).flat_map(|p| [p[2], p[1], p[0]]).collect();
        assert_eq!(to_i420(PixelFormat::Bgr, 64, 48, &bgr).unwrap(), f);
    }

    #[test]
    fn screen_pixels_in_either_order_convert_alike() {
        // 65×49 (odd: cropped), red on the left, blue on the right; RGBX as xcap hands it over
        // (Windows, macOS), BGRX as the X server does.
        let rgb = rgb_image();
        let rgbx: Vec<u8> = (0..49)
            .flat_map(|y| (0..65).map(move |x| (x.min(63), y.min(47))))
            .flat_map(|(x, y)| {
                let p = &rgb[(y * 64 + x) * 3..];
                [p[0], p[1], p[2], 255]
            })
            .collect();
        let bgrx: Vec<u8> = rgbx
            .chunks(4)
            .flat_map(|p| [p[2], p[1], p[0], 255])
            .collect();
        let f = rgbx_to_i420(65, 49, &rgbx).unwrap();
        assert_eq!((f.width, f.height), (64, 48));
        let (u_red, v_red) = chroma_at(&f, 8);
        let (u_blue, v_blue) = chroma_at(&f, 56);
        assert!(v_red > 200 && u_red < 128, "red: {u_red} {v_red}");
        assert!(u_blue > 200 && v_blue < 128, "blue: {u_blue} {v_blue}");
        assert_eq!(bgrx_to_i420(65, 49, &bgrx).unwrap(), f);
        assert!(rgbx_to_i420(65, 49, &rgbx[..100]).is_err());
    }

    #[test]
    fn yuyv_and_nv12_keep_luma_and_chroma() {
        // YUYV: Y ramps, U = 90, V = 200.
        let mut yuyv = Vec::new();
        for _ in 0..48 {
            for pair in 0..32u8 {
                yuyv.extend_from_slice(&[pair * 2, 90, pair * 2 + 1, 200]);
            }
        }
        let f = to_i420(PixelFormat::Yuyv, 64, 48, &yuyv).unwrap();
        assert_eq!(&f.y()[..4], &[0, 1, 2, 3]);
        assert_eq!(chroma_at(&f, 20), (90, 200));

        let mut nv12: Vec<u8> = (0..64 * 48).map(|i| (i % 64) as u8).collect();
        nv12.extend(std::iter::repeat_n([70u8, 180], 32 * 24).flatten());
        let g = to_i420(PixelFormat::Nv12, 64, 48, &nv12).unwrap();
        assert_eq!(&g.y()[..3], &[0, 1, 2]);
        assert_eq!(chroma_at(&g, 20), (70, 180));
    }

    #[test]
    fn odd_sizes_are_cropped_and_short_buffers_refused() {
        let gray = vec![100u8; 65 * 49];
        let f = to_i420(PixelFormat::Gray, 65, 49, &gray).unwrap();
        assert_eq!((f.width, f.height), (64, 48));
        assert!(to_i420(PixelFormat::Gray, 65, 49, &gray[..100]).is_err());
        assert!(to_i420(PixelFormat::Yuyv, 64, 48, &[0; 10]).is_err());
        assert!(to_i420(PixelFormat::Nv12, 64, 48, &[0; 64 * 48]).is_err());
        assert!(to_i420(PixelFormat::Rgb, 0, 48, &[]).is_err());
    }

    #[test]
    fn broken_mjpeg_is_an_error_not_a_panic() {
        for junk in [&b""[..], b"\xff\xd8\xff\xe0garbage", &[0u8; 100]] {
            assert!(to_i420(PixelFormat::Mjpeg, 64, 48, junk).is_err());
        }
    }
}
