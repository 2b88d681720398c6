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
}
