//! How a share's encoder does on the synthetic page of text and a chart, in each mode, side by
//! side in one run (BENCHMARKS.md, "Screen sharing"):
//!
//!     cargo run --release -p conclave-media --example share_quality

use conclave_media::screen::share_trial;
use conclave_media::{H264Encoder, SHARE_FPS, ScreenMode, VideoEncoderSettings};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "| rate | mode | took kbit/s | a change legible after (mean ms) | dB once still (mean of s 4-8) | width | encode µs/frame |"
    );
    println!("|---|---|---|---|---|---|---|");
    for bps in [300_000u32, 450_000, 600_000, 1_200_000, 2_000_000] {
        for (name, mode) in [
            ("screen content", ScreenMode::Content),
            ("sharp", ScreenMode::Sharp),
            ("auto (used)", ScreenMode::Auto),
        ] {
            let settings = VideoEncoderSettings {
                bitrate_bps: bps,
                fps: SHARE_FPS,
                keyframe_interval_frames: 600,
            };
            let t = share_trial(&mut H264Encoder::for_screen_in(settings, mode), 8)?;
            let legible = t.legible_after_ms.iter().sum::<u64>() as f64
                / t.legible_after_ms.len().max(1) as f64;
            let still = &t.settled_db[3..];
            let db = still.iter().sum::<f64>() / still.len() as f64;
            println!(
                "| {} k | {name} | {:.0} | {legible:.0} | {db:.1} | {} | {:.0} |",
                bps / 1000,
                t.bps / 1000.0,
                t.narrowest,
                t.encode_us_per_frame
            );
        }
    }
    Ok(())
}
