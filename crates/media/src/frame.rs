//! Raw media as it moves between capture, codecs and playback.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds on the wall clock. Capture times use it so that processes on one machine (and
/// machines with synchronised clocks) can compare them for end-to-end latency.
pub fn wall_clock_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// One picture in I420 (planar Y, then U and V at half resolution), tightly packed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VideoFrame {
    /// Width in pixels (even).
    pub width: usize,
    /// Height in pixels (even).
    pub height: usize,
    /// `width * height * 3 / 2` bytes.
    pub data: Vec<u8>,
    /// When it was captured, [`wall_clock_us`].
    pub captured_us: u64,
}

impl VideoFrame {
    /// A black frame.
    pub fn black(width: usize, height: usize) -> Self {
        let mut data = vec![16u8; width * height * 3 / 2];
        data[width * height..].fill(128);
        VideoFrame {
            width,
            height,
            data,
            captured_us: 0,
        }
    }

    /// The luma plane.
    pub fn y(&self) -> &[u8] {
        &self.data[..self.width * self.height]
    }

    /// The planes, mutably: (Y, U, V).
    pub fn planes_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        let luma = self.width * self.height;
        let (y, uv) = self.data.split_at_mut(luma);
        let (u, v) = uv.split_at_mut(luma / 4);
        (y, u, v)
    }

    /// The planes: (Y, U, V).
    pub fn planes(&self) -> (&[u8], &[u8], &[u8]) {
        let luma = self.width * self.height;
        let (y, uv) = self.data.split_at(luma);
        let (u, v) = uv.split_at(luma / 4);
        (y, u, v)
    }

    /// The picture shrunk by a whole factor to at most `max_width` pixels wide (at least 2; a
    /// thumbnail such as the self-view), each pixel the mean of the block it replaces; itself if
    /// it fits, or if shrinking would leave it less than 2 pixels high.
    pub fn shrunk(&self, max_width: usize) -> VideoFrame {
        let factor = self.width.div_ceil(max_width.max(2));
        if factor <= 1 || self.height / factor < 2 {
            return self.clone();
        }
        let (width, height) = ((self.width / factor) & !1, (self.height / factor) & !1);
        let mut out = VideoFrame::black(width, height);
        out.captured_us = self.captured_us;
        let (y, u, v) = self.planes();
        let (oy, ou, ov) = out.planes_mut();
        shrink_plane(y, self.width, oy, width, height, factor);
        shrink_plane(u, self.width / 2, ou, width / 2, height / 2, factor);
        shrink_plane(v, self.width / 2, ov, width / 2, height / 2, factor);
        out
    }
}

/// Block means: `out` (`width` x `height`) from `plane` (`stride` wide), `factor` x `factor`
/// blocks.
fn shrink_plane(
    plane: &[u8],
    stride: usize,
    out: &mut [u8],
    width: usize,
    height: usize,
    factor: usize,
) {
    let area = (factor * factor) as u32;
    // Column sums over the block's rows first (a straight run the compiler vectorises), then
    // each block's columns.
    let mut columns = vec![0u32; width * factor];
    for (row, line) in out.chunks_exact_mut(width).take(height).enumerate() {
        columns.fill(0);
        for dy in 0..factor {
            let start = (row * factor + dy) * stride;
            for (sum, &p) in columns
                .iter_mut()
                .zip(&plane[start..start + width * factor])
            {
                *sum += u32::from(p);
            }
        }
        for (pixel, block) in line.iter_mut().zip(columns.chunks_exact(factor)) {
            *pixel = ((block.iter().sum::<u32>() + area / 2) / area) as u8;
        }
    }
}

/// 48 kHz, the rate Opus and everything after capture works at.
pub const SAMPLE_RATE: u32 = 48_000;

/// 20 ms at 48 kHz: the frame size for Opus.
pub const SAMPLES_PER_FRAME: usize = 960;

/// One 20 ms block of mono 48 kHz audio, samples in [-1, 1].
#[derive(Clone, Debug, PartialEq)]
pub struct AudioFrame {
    /// [`SAMPLES_PER_FRAME`] samples.
    pub samples: Vec<f32>,
    /// When its first sample was captured, [`wall_clock_us`].
    pub captured_us: u64,
}

/// Peak-signal-to-noise ratio of two planes in dB (`f64::INFINITY` if identical); `None` if their
/// sizes differ.
pub fn psnr(a: &[u8], b: &[u8]) -> Option<f64> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let sse: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = f64::from(x) - f64::from(y);
            d * d
        })
        .sum();
    if sse == 0.0 {
        return Some(f64::INFINITY);
    }
    let mse = sse / a.len() as f64;
    Some(10.0 * (255.0 * 255.0 / mse).log10())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psnr_is_infinite_for_equal_planes_and_falls_with_noise() {
        let a = vec![100u8; 64];
        assert_eq!(psnr(&a, &a), Some(f64::INFINITY));
        assert_eq!(psnr(&a, &a[1..]), None);
        let mut b = a.clone();
        b[0] = 110;
        let small = psnr(&a, &b).unwrap();
        b.iter_mut().for_each(|v| *v = 150);
        let large = psnr(&a, &b).unwrap();
        assert!(small > large, "{small} {large}");
        // One pixel off by 10 in 64: MSE 100/64, PSNR = 10 log10(65025 * 64 / 100).
        assert!((small - 46.19).abs() < 0.01, "{small}");
    }

    #[test]
    fn a_shrunk_picture_keeps_each_blocks_mean_in_every_plane() {
        // 8x4: luma counts up along each row, U is 50 left and 90 right, V is 200.
        let mut frame = VideoFrame::black(8, 4);
        frame.captured_us = 7;
        let (y, u, v) = frame.planes_mut();
        for (i, p) in y.iter_mut().enumerate() {
            *p = (i % 8) as u8 * 10;
        }
        for (i, p) in u.iter_mut().enumerate() {
            *p = if i % 4 < 2 { 50 } else { 90 };
        }
        v.fill(200);
        let small = frame.shrunk(4);
        assert_eq!((small.width, small.height, small.captured_us), (4, 2, 7));
        let (y, u, v) = small.planes();
        // Means of 2x2 blocks: (0+10)/2 = 5 (rounded), 25, 45, 65.
        assert_eq!(y, [5, 25, 45, 65, 5, 25, 45, 65]);
        assert_eq!(u, [50, 90]);
        assert_eq!(v, [200, 200]);
        // A picture that fits is itself; 1280 wide to at most 320 is a quarter each way.
        assert_eq!(frame.shrunk(8), frame);
        let big = VideoFrame::black(1280, 720).shrunk(320);
        assert_eq!((big.width, big.height), (320, 180));
        assert_eq!(big.data.len(), 320 * 180 * 3 / 2);
        // A factor that is no power of two, odd results rounded down to even sizes.
        let odd = VideoFrame::black(1366, 768).shrunk(320);
        assert_eq!((odd.width, odd.height), (272, 152));
        assert_eq!(odd.planes().0.iter().max(), Some(&16));
        // Too flat to shrink, or asked for nothing: still a picture.
        let flat = VideoFrame::black(1280, 4);
        assert_eq!(flat.shrunk(320), flat);
        assert_eq!(VideoFrame::black(8, 8).shrunk(0).width, 2);
    }
}
