//! The microphone's clean-up measured, and the candidates compared side by side in one run
//! (BENCHMARKS.md, "Voice processing"):
//!
//! - **Echo**: the far end's speech played through a simulated room (delay 20–200 ms, a decaying
//!   tail of reflections, 10 dB quieter) into the microphone. Echo return loss enhancement
//!   (ERLE) after the first second; with the near end talking at the same time (double talk),
//!   how much of the near-end voice survives (scored by `scripts/voice-scores`).
//! - **Noise**: speech with a fan (steady low-frequency noise and hum) and with keyboard clicks, at
//!   0, 5 and 10 dB SNR: SNR improvement as ITU-T G.160 measures it (active speech level over
//!   the noise level in pauses, out against in, the output aligned to the input first); how
//!   much of the voice survives (scored by `scripts/voice-scores`).
//! - **CPU** per 10 ms frame.
//!
//! Candidates: `sonora` (Conclave's choice: WebRTC's audio processing, AEC3 + noise suppression +
//! AGC2, as one `AudioProcessing`), the `aec3` crate (the same WebRTC code, ported separately, as
//! a graph of nodes), and `nnnoiseless` (RNNoise) for noise.
//!
//! `cargo run --release -p conclave-media --example voice_quality [-- WAV_DIR]` prints the
//! figures; with `WAV_DIR` it also writes the signals, for `scripts/voice-scores` (STOI, PESQ).

use std::path::PathBuf;
use std::time::Instant;

use conclave_media::resample::Resampler;
use conclave_media::synthetic::{Noise, fan, keyboard};
use conclave_media::{SAMPLE_RATE, VoiceProcessor, VoiceSettings};

const RATE: usize = SAMPLE_RATE as usize;
const CHUNK: usize = RATE / 100;

fn power(s: &[f32]) -> f64 {
    s.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>() / s.len().max(1) as f64 + 1e-15
}

fn db(ratio: f64) -> f64 {
    10.0 * ratio.log10()
}

/// `seconds` of the speech sample, starting `offset` seconds in, looped.
fn speech(offset: f64, seconds: f64) -> Vec<f32> {
    let sample = conclave_media::speech::samples();
    let start = (offset * RATE as f64) as usize % sample.len();
    sample
        .iter()
        .cycle()
        .skip(start)
        .take((seconds * RATE as f64) as usize)
        .copied()
        .collect()
}

/// Another voice: the sample played 12 % slower (lower), from elsewhere in it.
fn other_voice(seconds: f64) -> Vec<f32> {
    let sample = speech(3.0, seconds * 1.2);
    let lower = Resampler::convert_all(SAMPLE_RATE, SAMPLE_RATE * 112 / 100, &sample).unwrap();
    lower[..(seconds * RATE as f64) as usize].to_vec()
}

/// What the microphone hears of `far` played in a room: `delay_ms` later, 10 dB down, with
/// reflections decaying over ~150 ms.
fn room(far: &[f32], delay_ms: usize) -> Vec<f32> {
    let delay = RATE * delay_ms / 1000;
    let mut noise = Noise::new(11);
    let mut response: Vec<f32> = (0..RATE / 6)
        .map(|i| (-(i as f32) / (RATE as f32 * 0.03)).exp() * noise.next())
        .collect();
    response[0] = 1.0;
    // Scale the response so that the echo is 10 dB below what is played.
    let gain = (0.1 / response.iter().map(|h| h * h).sum::<f32>()).sqrt();
    response.iter_mut().for_each(|h| *h *= gain);
    let mut echo = vec![0.0f32; far.len()];
    for (i, &x) in far.iter().enumerate() {
        if x == 0.0 {
            continue;
        }
        for (k, &h) in response.iter().enumerate() {
            match echo.get_mut(i + delay + k) {
                Some(e) => *e += x * h,
                None => break,
            }
        }
    }
    echo
}

/// `noise` scaled to `snr_db` below `speech`'s active level, added to it.
fn mix_at(speech: &[f32], noise: &[f32], snr_db: f64) -> Vec<f32> {
    let active = active_frames(speech);
    let speech_level = mean_power(speech, &active);
    let noise_level = power(noise);
    let gain = (speech_level / noise_level / 10f64.powf(snr_db / 10.0)).sqrt() as f32;
    speech
        .iter()
        .zip(noise)
        .map(|(s, n)| s + gain * n)
        .collect()
}

/// The 10 ms frames in which `clean` speech is active (within 30 dB of its loudest).
fn active_frames(clean: &[f32]) -> Vec<bool> {
    let levels: Vec<f64> = clean.chunks(CHUNK).map(power).collect();
    let loudest = levels.iter().copied().fold(0.0, f64::max);
    levels.iter().map(|&p| p > loudest * 1e-3).collect()
}

fn mean_power(s: &[f32], frames: &[bool]) -> f64 {
    let chosen: Vec<f64> = s
        .chunks(CHUNK)
        .zip(frames)
        .filter(|&(_, &on)| on)
        .map(|(c, _)| power(c))
        .collect();
    chosen.iter().sum::<f64>() / chosen.len().max(1) as f64
}

/// ITU-T G.160's SNR: the active speech level (noise removed) over the noise level in pauses,
/// frames chosen by the clean speech. The first two seconds (convergence) are left out.
fn snr(signal: &[f32], clean: &[f32]) -> f64 {
    let skip = 2 * RATE;
    let active = active_frames(&clean[skip..]);
    let pauses: Vec<bool> = active.iter().map(|a| !a).collect();
    let noise = mean_power(&signal[skip..], &pauses);
    let speech = (mean_power(&signal[skip..], &active) - noise).max(1e-15);
    db(speech / noise)
}

/// A clean-up under test: 10 ms of what is played, 10 ms of what is captured, in place.
trait Candidate {
    fn name(&self) -> String;
    fn played(&mut self, chunk: &[f32]);
    fn captured(&mut self, chunk: &mut [f32]);
}

struct Sonora {
    name: &'static str,
    voice: VoiceProcessor,
}

impl Candidate for Sonora {
    fn name(&self) -> String {
        self.name.into()
    }
    fn played(&mut self, chunk: &[f32]) {
        self.voice.played(chunk);
    }
    fn captured(&mut self, chunk: &mut [f32]) {
        self.voice.process(chunk);
    }
}

fn sonora(name: &'static str, settings: VoiceSettings) -> Box<dyn Candidate> {
    Box::new(Sonora {
        name,
        voice: VoiceProcessor::new(settings),
    })
}

/// `sonora`'s noise suppressor alone, without Conclave's pause gate.
struct SonoraNs {
    apm: sonora::AudioProcessing,
    out: Vec<f32>,
}

impl SonoraNs {
    fn boxed() -> Box<dyn Candidate> {
        let stream = sonora::StreamConfig::new(SAMPLE_RATE, 1);
        let config = sonora::Config {
            noise_suppression: Some(sonora::config::NoiseSuppression {
                level: sonora::config::NoiseSuppressionLevel::High,
                ..Default::default()
            }),
            ..Default::default()
        };
        let apm = sonora::AudioProcessing::builder()
            .config(config)
            .capture_config(stream)
            .render_config(stream)
            .build();
        Box::new(SonoraNs {
            apm,
            out: vec![0.0; CHUNK],
        })
    }
}

impl Candidate for SonoraNs {
    fn name(&self) -> String {
        "sonora 0.2 (NS High)".into()
    }
    fn played(&mut self, _: &[f32]) {}
    fn captured(&mut self, chunk: &mut [f32]) {
        if self
            .apm
            .process_capture_f32(&[&*chunk], &mut [&mut self.out])
            .is_ok()
        {
            chunk.copy_from_slice(&self.out);
        }
    }
}

/// The `aec3` crate's linear pipeline with only its echo canceller.
struct Aec3Crate {
    pipeline: aec3::pipelines::linear::LinearPipeline,
    out: Vec<f32>,
}

impl Aec3Crate {
    fn boxed() -> Box<dyn Candidate> {
        let format = aec3::nodes::audio::AudioFormat::ten_ms(SAMPLE_RATE, 1);
        let pipeline = aec3::pipelines::linear::builder(format, format)
            .enable_noise_suppression(false)
            .enable_high_pass_filter(false)
            .enable_gain_controller2(false)
            .build()
            .expect("the aec3 pipeline builds");
        Box::new(Aec3Crate {
            pipeline,
            out: vec![0.0; CHUNK],
        })
    }
}

impl Candidate for Aec3Crate {
    fn name(&self) -> String {
        "aec3 0.4 (AEC3)".into()
    }
    fn played(&mut self, chunk: &[f32]) {
        let _ = self.pipeline.handle_render_frame(chunk);
    }
    fn captured(&mut self, chunk: &mut [f32]) {
        if let Ok(true) = self.pipeline.process_capture_frame(chunk, &mut self.out) {
            chunk.copy_from_slice(&self.out);
        } else {
            chunk.fill(0.0);
        }
    }
}

/// RNNoise (`nnnoiseless`): 10 ms at 48 kHz in 16-bit scale.
struct RnNoise {
    state: Box<nnnoiseless::DenoiseState<'static>>,
    input: Vec<f32>,
    out: Vec<f32>,
}

impl RnNoise {
    fn boxed() -> Box<dyn Candidate> {
        Box::new(RnNoise {
            state: nnnoiseless::DenoiseState::new(),
            input: vec![0.0; CHUNK],
            out: vec![0.0; CHUNK],
        })
    }
}

impl Candidate for RnNoise {
    fn name(&self) -> String {
        "nnnoiseless 0.5 (RNNoise)".into()
    }
    fn played(&mut self, _: &[f32]) {}
    fn captured(&mut self, chunk: &mut [f32]) {
        for (i, s) in self.input.iter_mut().zip(chunk.iter()) {
            *i = s * 32768.0;
        }
        self.state.process_frame(&mut self.out, &self.input);
        for (c, o) in chunk.iter_mut().zip(&self.out) {
            *c = o / 32768.0;
        }
    }
}

/// Runs `mic` through `candidate` with `far` played; the output and the mean µs per 10 ms.
fn run(candidate: &mut dyn Candidate, far: &[f32], mic: &[f32]) -> (Vec<f32>, f64) {
    let mut out = Vec::with_capacity(mic.len());
    let start = Instant::now();
    for (far, mic) in far.chunks_exact(CHUNK).zip(mic.chunks_exact(CHUNK)) {
        candidate.played(far);
        let mut chunk = mic.to_vec();
        candidate.captured(&mut chunk);
        out.extend(chunk);
    }
    let per_chunk = start.elapsed().as_secs_f64() * 1e6 / (mic.len() / CHUNK) as f64;
    (out, per_chunk)
}

/// How late `out` follows `input` (the clean-up's latency): the lag of up to 40 ms, in 0.5 ms
/// steps, at which they correlate best.
fn lag(input: &[f32], out: &[f32]) -> usize {
    let n = input.len() - RATE / 25;
    (0..RATE / 25)
        .step_by(RATE / 2000)
        .max_by(|&a, &b| {
            let c = |l: usize| -> f64 {
                input[..n]
                    .iter()
                    .zip(&out[l..l + n])
                    .map(|(&x, &y)| f64::from(x) * f64::from(y))
                    .sum()
            };
            c(a).total_cmp(&c(b))
        })
        .unwrap_or(0)
}

fn write_wav(dir: &Option<PathBuf>, name: &str, samples: &[f32]) {
    let Some(dir) = dir else { return };
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(dir.join(format!("{name}.wav")), spec).unwrap();
    for &s in samples {
        w.write_sample((s.clamp(-1.0, 1.0) * 32767.0) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
}

/// A candidate's short name, for file names.
fn tag(name: &str) -> String {
    if name.starts_with("Conclave") {
        "conclave".into()
    } else {
        name.split_whitespace().next().unwrap_or("x").to_lowercase()
    }
}

fn echo_candidates() -> Vec<Box<dyn Candidate>> {
    let echo_only = VoiceSettings {
        echo_cancellation: true,
        ..VoiceSettings::OFF
    };
    vec![
        sonora("sonora 0.2 (AEC3)", echo_only),
        Aec3Crate::boxed(),
        sonora("Conclave (sonora, all on)", VoiceSettings::ON),
    ]
}

fn noise_candidates() -> Vec<Box<dyn Candidate>> {
    vec![
        SonoraNs::boxed(),
        RnNoise::boxed(),
        sonora("Conclave (sonora, all on)", VoiceSettings::ON),
    ]
}

fn main() {
    let dir = std::env::args().nth(1).map(PathBuf::from);
    if let Some(dir) = &dir {
        std::fs::create_dir_all(dir).unwrap();
    }
    let seconds = 12.0;
    let far: Vec<f32> = speech(0.0, seconds).iter().map(|s| s * 0.5).collect();
    let near: Vec<f32> = other_voice(seconds).iter().map(|s| s * 0.3).collect();
    let silence = vec![0.0f32; far.len()];
    write_wav(&dir, "near", &near);

    println!("Echo: ERLE after 1 s (dB), the far end alone; CPU");
    for delay in [20, 80, 200] {
        let echo = room(&far, delay);
        let double: Vec<f32> = echo.iter().zip(&near).map(|(e, n)| e + n).collect();
        println!("  delay {delay} ms");
        write_wav(&dir, &format!("double-{delay}-in"), &double);
        for i in 0..echo_candidates().len() {
            // A fresh one for each signal: what one learned must not help the other.
            let (mut alone, mut talking) =
                (echo_candidates().remove(i), echo_candidates().remove(i));
            let (out, us) = run(&mut *alone, &far, &echo);
            let erle = db(power(&echo[RATE..]) / power(&out[RATE..]));
            let (both, _) = run(&mut *talking, &far, &double);
            let name = alone.name();
            println!("    {name:<28} ERLE {erle:>5.1}   {us:>6.0} µs/10 ms");
            let tag = tag(&name);
            write_wav(&dir, &format!("double-{delay}-{tag}"), &both);
        }
    }

    println!("Noise: SNR improvement (G.160, dB, the output aligned to the input); latency; CPU");
    let talk: Vec<f32> = other_voice(seconds).iter().map(|s| s * 0.3).collect();
    for (noise_name, noise) in [("fan", fan(talk.len())), ("keyboard", keyboard(talk.len()))] {
        for snr_in in [0.0, 5.0, 10.0] {
            let noisy = mix_at(&talk, &noise, snr_in);
            println!(
                "  {noise_name} at {snr_in} dB (measured {:.1} dB)",
                snr(&noisy, &talk)
            );
            write_wav(&dir, &format!("{noise_name}-{snr_in}-in"), &noisy);
            for mut candidate in noise_candidates() {
                let (out, us) = run(&mut *candidate, &silence, &noisy);
                let name = candidate.name();
                let late = lag(&noisy, &out);
                println!(
                    "    {name:<28} SNRI {:>5.1}   {:>4.1} ms   {us:>6.0} µs/10 ms",
                    snr(&out[late..], &talk[..talk.len() - late]) - snr(&noisy, &talk),
                    late as f64 * 1000.0 / RATE as f64
                );
                let tag = tag(&name);
                write_wav(&dir, &format!("{noise_name}-{snr_in}-{tag}"), &out);
            }
        }
    }
    write_wav(&dir, "talk", &talk);
}
