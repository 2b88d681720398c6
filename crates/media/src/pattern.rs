//! The synthetic camera's test pattern: moving content for the encoder to work on, and a strip of
//! black and white blocks carrying the frame number and capture time, readable after decoding.
//!
//! The strip holds 96 bits, row-major from the top-left: frame number (32), capture time in wall
//! clock microseconds (56), CRC-8 of those 11 bytes (8). Blocks are 16 pixels wide from 320 pixels
//! of width up, 8 below, which survives H.264 at the bitrates Conclave uses.

use crate::frame::VideoFrame;

const BITS: usize = 96;
const BLACK: u8 = 16;
const WHITE: u8 = 235;

/// What the strip says about a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// Frame number since the source started.
    pub frame: u32,
    /// Capture time, wall-clock microseconds (low 56 bits).
    pub captured_us: u64,
}

fn block_size(width: usize) -> usize {
    if width >= 320 { 16 } else { 8 }
}

/// Smallest picture that holds the strip with room for moving content below it.
pub fn fits(width: usize, height: usize) -> bool {
    let block = block_size(width);
    let per_row = width / block;
    width >= 64 && per_row > 0 && height >= BITS.div_ceil(per_row) * block + 16
}

/// Paints frame `stamp.frame` of the pattern into `frame` (whose size is kept).
pub fn draw(frame: &mut VideoFrame, stamp: Stamp) {
    let (w, h) = (frame.width, frame.height);
    let t = stamp.frame as usize;
    let (y, u, v) = frame.planes_mut();
    // Diagonal bands drifting right, and a bright square bouncing across.
    let box_size = h / 4;
    let span = (w - box_size).max(1);
    let bx = (t * 4) % (2 * span);
    let bx = if bx > span { 2 * span - bx } else { bx };
    let by = h / 2 - box_size / 4;
    for row in 0..h {
        for col in 0..w {
            let band = ((col + row / 2 + 3 * t) / 24) % 8;
            let mut luma = 40 + band as u8 * 20 + ((col * 7 + row * 3) % 11) as u8;
            if (bx..bx + box_size).contains(&col) && (by..by + box_size).contains(&row) {
                luma = 220;
            }
            y[row * w + col] = luma;
        }
    }
    for row in 0..h / 2 {
        for col in 0..w / 2 {
            u[row * w / 2 + col] = (64 + (col + t) % 128) as u8;
            v[row * w / 2 + col] = (64 + (row * 2 + t) % 128) as u8;
        }
    }
    paint_strip(y, w, stamp);
    frame.captured_us = stamp.captured_us;
}

/// Paints only the strip into `frame` (over whatever it shows), as a clock in a corner of a
/// shared screen: [`read`] finds it as it finds the camera pattern's. `frame` must [`fits`].
pub fn stamp(frame: &mut VideoFrame, stamp: Stamp) {
    let w = frame.width;
    if fits(w, frame.height) {
        paint_strip(frame.planes_mut().0, w, stamp);
        frame.captured_us = stamp.captured_us;
    }
}

fn payload(stamp: Stamp) -> [u8; 12] {
    let mut bytes = [0u8; 12];
    bytes[..4].copy_from_slice(&stamp.frame.to_be_bytes());
    bytes[4..11].copy_from_slice(&stamp.captured_us.to_be_bytes()[1..]);
    bytes[11] = crc8(&bytes[..11]);
    bytes
}

fn paint_strip(y: &mut [u8], w: usize, stamp: Stamp) {
    let block = block_size(w);
    let per_row = w / block;
    let bytes = payload(stamp);
    for bit in 0..BITS {
        let on = bytes[bit / 8] >> (7 - bit % 8) & 1 == 1;
        let (bx, by) = ((bit % per_row) * block, (bit / per_row) * block);
        for row in by..by + block {
            y[row * w + bx..row * w + bx + block].fill(if on { WHITE } else { BLACK });
        }
    }
}

/// Reads the strip back; `None` if the picture is too small or the checksum disagrees (a frame
/// decoded from garbage, or not this pattern at all).
pub fn read(frame: &VideoFrame) -> Option<Stamp> {
    let (w, h) = (frame.width, frame.height);
    if !fits(w, h) || frame.data.len() < w * h {
        return None;
    }
    let block = block_size(w);
    let per_row = w / block;
    let y = frame.y();
    let mut bytes = [0u8; 12];
    for bit in 0..BITS {
        let (bx, by) = ((bit % per_row) * block, (bit / per_row) * block);
        // Average the block's centre, away from edges that the codec smears.
        let (lo, hi) = (block / 4, block - block / 4);
        let mut sum = 0u32;
        for row in by + lo..by + hi {
            sum += y[row * w + bx + lo..row * w + bx + hi]
                .iter()
                .map(|&p| u32::from(p))
                .sum::<u32>();
        }
        let mean = sum / ((hi - lo) * (hi - lo)) as u32;
        if mean >= 128 {
            bytes[bit / 8] |= 1 << (7 - bit % 8);
        }
    }
    if crc8(&bytes[..11]) != bytes[11] {
        return None;
    }
    let mut ts = [0u8; 8];
    ts[1..].copy_from_slice(&bytes[4..11]);
    Some(Stamp {
        frame: u32::from_be_bytes(bytes[..4].try_into().ok()?),
        captured_us: u64::from_be_bytes(ts),
    })
}

/// CRC-8 (polynomial 0x07, initial value 0xff so that an all-black or all-white strip is not a
/// valid stamp): enough to tell a readable strip from noise.
fn crc8(data: &[u8]) -> u8 {
    let mut crc = 0xffu8;
    for &b in data {
        crc ^= b;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x07
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_read_back_at_every_supported_size() {
        for (w, h) in [
            (160, 120),
            (320, 240),
            (640, 360),
            (1280, 720),
            (1920, 1080),
        ] {
            assert!(fits(w, h), "{w}x{h}");
            let mut frame = VideoFrame::black(w, h);
            let stamp = Stamp {
                frame: 0xdead_beef,
                captured_us: 1_795_000_000_123_456,
            };
            draw(&mut frame, stamp);
            assert_eq!(read(&frame), Some(stamp), "{w}x{h}");
        }
    }

    #[test]
    fn a_damaged_strip_reads_as_nothing() {
        let mut frame = VideoFrame::black(320, 240);
        draw(
            &mut frame,
            Stamp {
                frame: 7,
                captured_us: 99,
            },
        );
        // Invert one block of the frame number.
        let (y, _, _) = frame.planes_mut();
        for row in 0..16 {
            for px in &mut y[row * 320..row * 320 + 16] {
                *px = 255 - *px;
            }
        }
        assert_eq!(read(&frame), None);
        assert_eq!(read(&VideoFrame::black(320, 240)), None);
        let mut white = VideoFrame::black(320, 240);
        white.planes_mut().0.fill(WHITE);
        assert_eq!(read(&white), None);
        assert_eq!(read(&VideoFrame::black(32, 32)), None);
    }

    #[test]
    fn consecutive_frames_differ_outside_the_strip() {
        let mut a = VideoFrame::black(320, 240);
        let mut b = a.clone();
        draw(
            &mut a,
            Stamp {
                frame: 1,
                captured_us: 0,
            },
        );
        draw(
            &mut b,
            Stamp {
                frame: 2,
                captured_us: 0,
            },
        );
        let below_strip = 320 * 100;
        assert_ne!(a.y()[below_strip..], b.y()[below_strip..]);
    }
}
