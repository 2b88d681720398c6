//! How many frames a second a 720p camera keeps at a narrow uplink's rates, on the synthetic
//! camera's test pattern and on a plain picture of the kind a browser's fake camera shows (a
//! still background, a turning pie and a counter), side by side in one run (BENCHMARKS.md,
//! "A 720p camera into 300 kbit/s: the content"):
//!
//!     cargo run --release -p conclave-media --example camera_content
//!
//! Each run is 10 s of 30 fps through the camera's encoder (which steps the picture down to
//! 320×180 and then skips frames to hold its rate), a keyframe asked for every 2 s.

use conclave_media::synthetic::SyntheticCamera;
use conclave_media::{
    H264Decoder, H264Encoder, VideoEncoderSettings, VideoFormat, VideoFrame, VideoSource,
};

const W: usize = 1280;
const H: usize = 720;
const FRAMES: u32 = 300;

/// A plain grey picture with a pie turning once in two seconds and a bar counting frames: little
/// moves, and what does is flat.
fn plain(n: u32) -> VideoFrame {
    let mut frame = VideoFrame::black(W, H);
    let (y, u, v) = frame.planes_mut();
    y.fill(120);
    u.fill(128);
    v.fill(128);
    let (cx, cy, r) = (W as f64 / 2.0, H as f64 / 2.0, H as f64 / 4.0);
    let turned = f64::from(n % 60) / 60.0 * std::f64::consts::TAU;
    for row in 0..H {
        for col in 0..W {
            let (dx, dy) = (col as f64 - cx, row as f64 - cy);
            if dx * dx + dy * dy < r * r {
                let angle = dy.atan2(dx).rem_euclid(std::f64::consts::TAU);
                y[row * W + col] = if angle < turned { 200 } else { 60 };
            }
        }
    }
    // The counter: a bar whose length is the frame number within ten seconds.
    let length = (n % 300) as usize * (W / 2) / 300;
    for row in 40..72 {
        y[row * W + 40..row * W + 40 + length].fill(235);
    }
    frame
}

struct Outcome {
    bps: f64,
    sent: u32,
    size: (usize, usize),
}

fn run(bps: u32, mut next: impl FnMut(u32) -> VideoFrame) -> Outcome {
    let mut enc = H264Encoder::new(VideoEncoderSettings {
        bitrate_bps: bps,
        ..VideoEncoderSettings::default()
    });
    let mut dec = H264Decoder::new().expect("a decoder");
    let (mut bytes, mut sent, mut size) = (0, 0, (0, 0));
    for n in 0..FRAMES {
        if n % 60 == 59 {
            enc.request_keyframe();
        }
        if let Some(e) = enc.encode(&next(n)).expect("encoding") {
            bytes += e.data.len();
            sent += 1;
            if let Ok(Some(p)) = dec.decode(&e.data, 0) {
                size = (p.width, p.height);
            }
        }
    }
    Outcome {
        bps: bytes as f64 * 8.0 * 30.0 / f64::from(FRAMES),
        sent,
        size,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("| asked kbit/s | content | sent kbit/s | frames a second | picture |");
    println!("|---|---|---|---|---|");
    for bps in [100_000u32, 150_000, 200_000, 300_000] {
        let mut cam = SyntheticCamera::new(VideoFormat {
            width: W,
            height: H,
            fps: 30,
        })?
        .unpaced();
        let pattern = run(bps, |_| cam.next_frame().expect("a frame"));
        let still = run(bps, plain);
        for (name, o) in [("test pattern", pattern), ("plain", still)] {
            println!(
                "| {} | {name} | {:.0} | {:.1} | {}×{} |",
                bps / 1000,
                o.bps / 1000.0,
                f64::from(o.sent) * 30.0 / f64::from(FRAMES),
                o.size.0,
                o.size.1
            );
        }
    }
    Ok(())
}
