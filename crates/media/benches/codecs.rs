//! Codec speed on the synthetic camera and speech: H.264 encode and decode per frame at 360p,
//! 720p and 1080p (and the self-view's thumbnail of a frame, for comparison), and Opus per 20 ms frame (its real-time factor is 20 ms over the figure).
//!
//! `cargo bench -p conclave-media --bench codecs`

use std::hint::black_box;

use conclave_media::synthetic::{Signal, SyntheticCamera, SyntheticMic};
use conclave_media::{
    AudioEncoderSettings, AudioSource, H264Decoder, H264Encoder, OpusDecoder, OpusEncoder,
    VideoEncoderSettings, VideoFormat, VideoFrame, VideoSource,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const SIZES: [(usize, usize, u32, &str); 3] = [
    (640, 360, 500_000, "360p"),
    (1280, 720, 1_500_000, "720p"),
    (1920, 1080, 3_000_000, "1080p"),
];
const FRAMES: usize = 60;

fn frames(width: usize, height: usize) -> Vec<VideoFrame> {
    let mut cam = SyntheticCamera::new(VideoFormat {
        width,
        height,
        fps: 30,
    })
    .unwrap()
    .unpaced();
    (0..FRAMES).map(|_| cam.next_frame().unwrap()).collect()
}

fn settings(bitrate_bps: u32) -> VideoEncoderSettings {
    VideoEncoderSettings {
        bitrate_bps,
        keyframe_interval_frames: FRAMES as u32,
        ..VideoEncoderSettings::default()
    }
}

fn h264(c: &mut Criterion) {
    let mut group = c.benchmark_group("h264");
    group.sample_size(20);
    group.throughput(Throughput::Elements(1));
    for (w, h, bitrate, name) in SIZES {
        let input = frames(w, h);
        let mut encoder = H264Encoder::new(settings(bitrate));
        let mut i = 0;
        group.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| {
                i = (i + 1) % FRAMES;
                encoder.encode(black_box(&input[i])).unwrap()
            })
        });
        // The self-view's thumbnail of each other picture, against encoding the same picture.
        let mut k = 0;
        group.bench_function(format!("self_view/{name}"), |b| {
            b.iter(|| {
                k = (k + 1) % FRAMES;
                black_box(&input[k]).shrunk(320)
            })
        });
        // One GOP, decoded in order and looped: it starts with an IDR, so the loop is valid.
        let mut encoder = H264Encoder::new(settings(bitrate));
        let stream: Vec<Vec<u8>> = input
            .iter()
            .map(|f| encoder.encode(f).unwrap().unwrap().data)
            .collect();
        let mut decoder = H264Decoder::new().unwrap();
        let mut j = 0;
        group.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| {
                let au = &stream[j];
                j = (j + 1) % FRAMES;
                decoder.decode(black_box(au), 0).unwrap()
            })
        });
    }
    group.finish();
}

fn opus(c: &mut Criterion) {
    let mut group = c.benchmark_group("opus_20ms");
    let mut mic = SyntheticMic::new(Signal::Speech).unpaced();
    let speech: Vec<Vec<f32>> = (0..250)
        .map(|_| mic.next_frame().unwrap().samples)
        .collect();
    let mut encoder = OpusEncoder::new(AudioEncoderSettings::default()).unwrap();
    let packets: Vec<Vec<u8>> = speech.iter().map(|s| encoder.encode(s).unwrap()).collect();
    let mut i = 0;
    group.bench_function("encode", |b| {
        b.iter(|| {
            i = (i + 1) % speech.len();
            encoder.encode(black_box(&speech[i])).unwrap()
        })
    });
    let mut decoder = OpusDecoder::new().unwrap();
    let mut j = 0;
    group.bench_function("decode", |b| {
        b.iter(|| {
            j = (j + 1) % packets.len();
            decoder.decode(black_box(&packets[j])).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, h264, opus);
criterion_main!(benches);
