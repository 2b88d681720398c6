//! Benchmarks only (feature `bench-feeds`): the test pattern, encoded once at start and looped at
//! 30 fps, straight into the tiles' stores, so the cost of getting video onto the page is measured
//! without a meeting (no SFU, no encoders, no network competing for the cores).
//!
//! `CONCLAVE_BENCH_FEEDS=1280x720,640x360,…` starts one source per entry, as feeds `FIRST_FEED`,
//! `FIRST_FEED + 1`, … `CONCLAVE_BENCH_DECODE=1` also decodes every access unit into the decoded
//! pictures' store, as the app does in a meeting; otherwise only the access units are kept.

use std::sync::Arc;
use std::time::{Duration, Instant};

use conclave::client::{EncodedOut, VideoOut};
use conclave_media::synthetic::SyntheticCamera;
use conclave_media::{H264Decoder, H264Encoder, VideoEncoderSettings, VideoFormat, VideoSource};

/// The first feed id the sources use.
pub const FIRST_FEED: u64 = 1001;

/// Frames encoded per source and looped (a keyframe starts each loop).
const LOOP: usize = 150;

/// Starts the sources named by `CONCLAVE_BENCH_FEEDS`, if set.
pub fn start(video_out: &Arc<VideoOut>, encoded_out: &Arc<EncodedOut>) {
    let Ok(spec) = std::env::var("CONCLAVE_BENCH_FEEDS") else {
        return;
    };
    let decode = std::env::var_os("CONCLAVE_BENCH_DECODE").is_some_and(|v| v == "1");
    for (i, size) in spec.split(',').enumerate() {
        let Some((w, h)) = size.split_once('x') else {
            continue;
        };
        let (Ok(width), Ok(height)) = (w.parse::<usize>(), h.parse::<usize>()) else {
            continue;
        };
        let (video_out, encoded_out) = (video_out.clone(), encoded_out.clone());
        let feed = FIRST_FEED + i as u64;
        std::thread::spawn(move || {
            let units = encode_loop(width, height);
            let mut decoder = H264Decoder::new().ok().filter(|_| decode);
            let start = Instant::now();
            for (n, (data, keyframe)) in units.iter().cycle().enumerate() {
                let due = start + Duration::from_secs(1) * n as u32 / 30;
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                encoded_out.put(feed, data, *keyframe);
                if let Some(decoder) = decoder.as_mut()
                    && let Ok(Some(picture)) = decoder.decode(data, 0)
                {
                    video_out.put(feed, picture);
                }
            }
        });
    }
}

/// `LOOP` access units of the moving test pattern, the first one a keyframe.
fn encode_loop(width: usize, height: usize) -> Vec<(Vec<u8>, bool)> {
    let format = VideoFormat {
        width,
        height,
        fps: 30,
    };
    let Ok(camera) = SyntheticCamera::new(format) else {
        return Vec::new();
    };
    let mut camera = camera.unpaced();
    let mut encoder = H264Encoder::new(VideoEncoderSettings {
        bitrate_bps: if width > 640 { 1_500_000 } else { 500_000 },
        fps: 30,
        keyframe_interval_frames: LOOP as u32,
    });
    let mut units = Vec::with_capacity(LOOP);
    while units.len() < LOOP {
        let Ok(frame) = camera.next_frame() else {
            break;
        };
        if let Ok(Some(encoded)) = encoder.encode(&frame) {
            units.push((encoded.data, encoded.keyframe));
        }
    }
    units
}
