//! Devices for machines without any: a camera that shows the test pattern and microphones that
//! play tones, timing chirps or a speech sample. They implement the real devices' traits.

use std::time::Duration;

use crate::error::DeviceError;
use crate::frame::{AudioFrame, SAMPLE_RATE, SAMPLES_PER_FRAME, VideoFrame, wall_clock_us};
use crate::pattern::{self, Stamp};
use crate::source::{AudioSource, Pacer, VideoFormat, VideoSource};

/// A camera showing [`crate::pattern`], stamped with frame number and capture time.
#[derive(Debug)]
pub struct SyntheticCamera {
    format: VideoFormat,
    frame: u32,
    pacer: Pacer,
}

impl SyntheticCamera {
    /// A camera at `format`, delivering in real time.
    pub fn new(format: VideoFormat) -> Result<Self, DeviceError> {
        if !format.width.is_multiple_of(2)
            || !format.height.is_multiple_of(2)
            || format.fps == 0
            || !pattern::fits(format.width, format.height)
        {
            return Err(DeviceError::UnsupportedFormat(format!(
                "{}x{} at {} fps",
                format.width, format.height, format.fps
            )));
        }
        Ok(SyntheticCamera {
            format,
            frame: 0,
            pacer: Pacer::new(Duration::from_secs(1) / format.fps, true),
        })
    }

    /// Delivers frames as fast as they are pulled (benchmarks, tests).
    pub fn unpaced(mut self) -> Self {
        self.pacer = Pacer::new(self.pacer_period(), false);
        self
    }

    fn pacer_period(&self) -> Duration {
        Duration::from_secs(1) / self.format.fps
    }
}

impl VideoSource for SyntheticCamera {
    fn format(&self) -> VideoFormat {
        self.format
    }

    fn next_frame(&mut self) -> Result<VideoFrame, DeviceError> {
        self.pacer.wait(u64::from(self.frame));
        let mut frame = VideoFrame::black(self.format.width, self.format.height);
        pattern::draw(
            &mut frame,
            Stamp {
                frame: self.frame,
                captured_us: wall_clock_us(),
            },
        );
        self.frame = self.frame.wrapping_add(1);
        Ok(frame)
    }
}

/// What a synthetic microphone plays.
#[derive(Clone, Debug, PartialEq)]
pub enum Signal {
    /// A steady sine tone.
    Tone {
        /// Frequency in Hz.
        hz: f32,
        /// Peak amplitude, 0..=1.
        amplitude: f32,
    },
    /// Silence, except a 20 ms rising chirp (1–4 kHz) starting at every whole second of the wall
    /// clock: a receiver that finds the chirps knows when they were captured.
    Chirps,
    /// A spoken sentence (espeak-ng, German and English), looped.
    Speech,
}

/// A microphone playing a [`Signal`].
#[derive(Debug)]
pub struct SyntheticMic {
    signal: Signal,
    frame: u64,
    pacer: Pacer,
}

impl SyntheticMic {
    /// A microphone delivering `signal` in real time.
    pub fn new(signal: Signal) -> Self {
        SyntheticMic {
            signal,
            frame: 0,
            pacer: Pacer::new(Duration::from_millis(20), true),
        }
    }

    /// Delivers frames as fast as they are pulled (benchmarks, tests).
    pub fn unpaced(mut self) -> Self {
        self.pacer = Pacer::new(Duration::from_millis(20), false);
        self
    }
}

impl AudioSource for SyntheticMic {
    fn next_frame(&mut self) -> Result<AudioFrame, DeviceError> {
        self.pacer.wait(self.frame);
        let captured_us = wall_clock_us();
        let first = self.frame * SAMPLES_PER_FRAME as u64;
        let samples = match &self.signal {
            Signal::Tone { hz, amplitude } => (0..SAMPLES_PER_FRAME as u64)
                .map(|i| {
                    let t = (first + i) as f64 / f64::from(SAMPLE_RATE);
                    amplitude * (2.0 * std::f64::consts::PI * f64::from(*hz) * t).sin() as f32
                })
                .collect(),
            Signal::Chirps => chirp_samples(captured_us),
            Signal::Speech => {
                let speech = crate::speech::samples();
                (0..SAMPLES_PER_FRAME as u64)
                    .map(|i| speech[((first + i) % speech.len() as u64) as usize])
                    .collect()
            }
        };
        self.frame += 1;
        Ok(AudioFrame {
            samples,
            captured_us,
        })
    }
}

/// Any source, failing the way an unplugged device does after a number of frames: for testing
/// what happens when a camera or microphone goes away mid-call.
#[derive(Debug)]
pub struct Unplugging<S> {
    inner: S,
    frames_left: u64,
}

impl<S> Unplugging<S> {
    /// `inner`, unplugged after `frames` frames.
    pub fn after(frames: u64, inner: S) -> Self {
        Unplugging {
            inner,
            frames_left: frames,
        }
    }

    fn take(&mut self, kind: &'static str) -> Result<(), DeviceError> {
        if self.frames_left == 0 {
            return Err(DeviceError::Disconnected {
                kind,
                reason: "unplugged".into(),
            });
        }
        self.frames_left -= 1;
        Ok(())
    }
}

impl<S: VideoSource> VideoSource for Unplugging<S> {
    fn format(&self) -> VideoFormat {
        self.inner.format()
    }

    fn next_frame(&mut self) -> Result<VideoFrame, DeviceError> {
        self.take("camera")?;
        self.inner.next_frame()
    }
}

impl<S: AudioSource> AudioSource for Unplugging<S> {
    fn next_frame(&mut self) -> Result<AudioFrame, DeviceError> {
        self.take("microphone")?;
        self.inner.next_frame()
    }
}

/// Deterministic white noise in [-1, 1] (xorshift), the same for the same seed.
#[derive(Clone, Debug)]
pub struct Noise(u64);

impl Noise {
    /// Noise from `seed` (not 0).
    pub fn new(seed: u64) -> Noise {
        Noise(seed.max(1))
    }

    /// The next sample.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// A fan, `len` samples at 48 kHz: low-passed noise with a 100 Hz hum and its harmonics.
pub fn fan(len: usize) -> Vec<f32> {
    let mut noise = Noise::new(5);
    let mut low = 0.0f32;
    (0..len)
        .map(|i| {
            low = 0.97 * low + 0.03 * noise.next();
            let t = i as f32 / SAMPLE_RATE as f32;
            let hum: f32 = (1..4)
                .map(|k| (2.0 * std::f32::consts::PI * 100.0 * k as f32 * t).sin() / k as f32)
                .sum();
            4.0 * low + 0.05 * hum
        })
        .collect()
}

/// Typing, `len` samples at 48 kHz: a click (8 ms of noise decaying within ~2 ms) every
/// 100–250 ms.
pub fn keyboard(len: usize) -> Vec<f32> {
    let rate = SAMPLE_RATE as usize;
    let mut noise = Noise::new(9);
    let mut out = vec![0.0f32; len];
    let mut at = 0usize;
    while at < len {
        for k in 0..rate * 8 / 1000 {
            if let Some(o) = out.get_mut(at + k) {
                *o = noise.next() * (-(k as f32) / (rate as f32 * 0.0015)).exp();
            }
        }
        at += rate / 10 + ((noise.next() + 1.0) * 0.075 * rate as f32) as usize;
    }
    out
}

/// Chirp length in samples (20 ms).
pub const CHIRP_LEN: usize = SAMPLES_PER_FRAME;

/// The chirp itself: a linear sweep from 1 to 4 kHz under a Hann window.
pub fn chirp() -> Vec<f32> {
    let n = CHIRP_LEN as f64;
    let rate = f64::from(SAMPLE_RATE);
    (0..CHIRP_LEN)
        .map(|i| {
            let t = i as f64 / rate;
            let sweep = (4000.0 - 1000.0) / (n / rate);
            let phase = 2.0 * std::f64::consts::PI * (1000.0 * t + 0.5 * sweep * t * t);
            let window = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n).cos();
            (0.8 * window * phase.sin()) as f32
        })
        .collect()
}

/// The 20 ms frame starting at `start_us`: the part of a chirp that falls inside it, if any.
fn chirp_samples(start_us: u64) -> Vec<f32> {
    let mut out = vec![0.0; SAMPLES_PER_FRAME];
    let chirp = chirp();
    let us_per_sample = 1_000_000.0 / f64::from(SAMPLE_RATE);
    for (i, slot) in out.iter_mut().enumerate() {
        let t = start_us + (i as f64 * us_per_sample) as u64;
        let into_second = (t % 1_000_000) as f64;
        let k = (into_second / us_per_sample) as usize;
        if k < CHIRP_LEN {
            *slot = chirp[k];
        }
    }
    out
}

/// Finds chirps in `samples` (48 kHz, first sample at `start_us`) and returns, for each, how long
/// after its whole second it arrived: the latency of the path it took (if under one second).
pub fn chirp_delays_us(samples: &[f32], start_us: u64) -> Vec<u64> {
    chirp_onsets_us(samples, start_us)
        .into_iter()
        .map(|t| t % 1_000_000)
        .collect()
}

/// Wall-clock times at which chirps start in `samples` (48 kHz, first sample at `start_us`).
pub fn chirp_onsets_us(samples: &[f32], start_us: u64) -> Vec<u64> {
    // Silence costs nothing: chirps are the only sound this signal makes.
    if samples.iter().all(|s| s.abs() < 1e-3) {
        return Vec::new();
    }
    let chirp = chirp();
    let energy: f32 = chirp.iter().map(|c| c * c).sum();
    let us_per_sample = 1_000_000.0 / f64::from(SAMPLE_RATE);
    let mut delays = Vec::new();
    let mut i = 0;
    while i + CHIRP_LEN <= samples.len() {
        let window = &samples[i..i + CHIRP_LEN];
        let dot: f32 = window.iter().zip(&chirp).map(|(s, c)| s * c).sum();
        let power: f32 = window.iter().map(|s| s * s).sum();
        // Normalised correlation near 1 means the chirp, aligned.
        let score = dot / (energy * power).sqrt().max(f32::EPSILON);
        if score > 0.8 {
            // Refine to the best alignment within the next few samples.
            let best = (i..(i + 48).min(samples.len() - CHIRP_LEN + 1))
                .max_by(|&a, &b| {
                    let corr = |j: usize| -> f32 {
                        samples[j..j + CHIRP_LEN]
                            .iter()
                            .zip(&chirp)
                            .map(|(s, c)| s * c)
                            .sum()
                    };
                    corr(a).total_cmp(&corr(b))
                })
                .unwrap_or(i);
            delays.push(start_us + (best as f64 * us_per_sample) as u64);
            i = best + CHIRP_LEN;
        } else {
            i += 1;
        }
    }
    delays
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_camera_stamps_consecutive_frames() {
        let format = VideoFormat {
            width: 320,
            height: 240,
            fps: 30,
        };
        let mut cam = SyntheticCamera::new(format).unwrap().unpaced();
        let stamps: Vec<u32> = (0..3)
            .map(|_| pattern::read(&cam.next_frame().unwrap()).unwrap().frame)
            .collect();
        assert_eq!(stamps, [0, 1, 2]);
        let bad = VideoFormat {
            width: 321,
            ..format
        };
        assert!(matches!(
            SyntheticCamera::new(bad),
            Err(DeviceError::UnsupportedFormat(_))
        ));
    }

    #[test]
    fn chirps_are_found_where_they_were_put() {
        // Two seconds of chirp signal starting 100 ms before a whole second, delayed by 37 ms.
        let start = 5_000_000 - 100_000;
        let mut signal = Vec::new();
        for f in 0..100 {
            signal.extend(chirp_samples(start + f * 20_000));
        }
        let delay = 37 * 48; // samples
        let mut delayed = vec![0.0; delay];
        delayed.extend_from_slice(&signal);
        let delays = chirp_delays_us(&delayed, start);
        assert_eq!(delays.len(), 2, "{delays:?}");
        for d in delays {
            assert!((36_900..=37_100).contains(&d), "{d}");
        }
        assert!(chirp_delays_us(&vec![0.0; 48_000], 0).is_empty());
    }

    #[test]
    fn the_tone_is_continuous_across_frames() {
        let mut mic = SyntheticMic::new(Signal::Tone {
            hz: 1000.0,
            amplitude: 0.5,
        })
        .unpaced();
        let a = mic.next_frame().unwrap();
        let b = mic.next_frame().unwrap();
        assert_eq!(a.samples.len(), SAMPLES_PER_FRAME);
        // 1 kHz at 48 kHz: 48 samples per period, so frame 2 starts where frame 1 did.
        assert!((a.samples[0] - b.samples[0]).abs() < 1e-4);
        let peak = a.samples.iter().fold(0f32, |m, s| m.max(s.abs()));
        assert!((peak - 0.5).abs() < 0.01, "{peak}");
    }
}
