//! The self-test a user runs before a meeting (and the pre-join screen shows): camera and
//! microphone through encode, SFrame encryption, decryption, decode and playback, all on this
//! machine with no server, with each stage timed.
//!
//! A missing camera or microphone is not a failure: that path is skipped with a warning, as a
//! meeting would continue audio-only or listen-only.

use std::thread;
use std::time::{Duration, Instant};

use conclave_e2ee::{BaseKey, CipherSuite, Codec, KidScheme, Receiver, Sender};
use conclave_media::jitter::{JitterBuffer, Playout};
use conclave_media::synthetic::{Signal, SyntheticCamera, SyntheticMic};
use conclave_media::{
    AudioEncoderSettings, AudioSink, AudioSource, Camera, H264Decoder, H264Encoder, Microphone,
    OpusDecoder, OpusEncoder, Played, Speaker, VideoEncoderSettings, VideoFormat, VideoSource,
    pattern, psnr, wall_clock_us,
};
use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;

use crate::client::{Device, DeviceProblem};
use crate::stats::{Percentiles, Samples};

/// Which camera to use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CameraChoice {
    /// The moving test pattern.
    Synthetic,
    /// A real camera by index.
    Device(u32),
    /// No video.
    None,
}

impl CameraChoice {
    /// `none`, `synthetic` (the test pattern) or a camera's number — as the CLI and the app's
    /// pickers name them. Anything else is refused, never taken for the first camera.
    pub fn parse(s: &str) -> Result<CameraChoice, String> {
        match s {
            "synthetic" => Ok(CameraChoice::Synthetic),
            "none" => Ok(CameraChoice::None),
            index => index
                .parse()
                .map(CameraChoice::Device)
                .map_err(|_| format!("\"{s}\": use synthetic, none or a camera number")),
        }
    }

    /// Opens this camera at `format`: `Ok(None)` for none, or why it cannot be opened.
    pub fn open(&self, format: VideoFormat) -> CameraSlot {
        let camera: Box<dyn VideoSource> = match self {
            CameraChoice::None => return Ok(None),
            CameraChoice::Synthetic => Box::new(
                SyntheticCamera::new(format)
                    .map_err(|e| DeviceProblem::from_error(Device::Camera, &e))?,
            ),
            CameraChoice::Device(index) => Box::new(
                Camera::open(*index, format)
                    .map_err(|e| DeviceProblem::from_error(Device::Camera, &e))?,
            ),
        };
        Ok(Some(camera))
    }
}

/// Which microphone to use.
#[derive(Clone, Debug, PartialEq)]
pub enum MicChoice {
    /// A synthetic signal.
    Synthetic(Signal),
    /// The system default, or a device by name.
    Device(Option<String>),
    /// No audio.
    None,
}

/// The test tone: 1 kHz, half of full scale.
pub const TEST_TONE: Signal = Signal::Tone {
    hz: 1000.0,
    amplitude: 0.5,
};

impl MicChoice {
    /// `none`, `synthetic` or `tone` (the test tone), `speech`, `chirps`, `default` or nothing
    /// (the system default), or a device's name — as the CLI and the app's pickers name them.
    pub fn parse(s: &str) -> MicChoice {
        match s {
            "synthetic" | "tone" => MicChoice::Synthetic(TEST_TONE),
            "speech" => MicChoice::Synthetic(Signal::Speech),
            "chirps" => MicChoice::Synthetic(Signal::Chirps),
            "none" => MicChoice::None,
            "default" | "" => MicChoice::Device(None),
            name => MicChoice::Device(Some(name.to_owned())),
        }
    }

    /// Opens this microphone: `Ok(None)` for none, or why it cannot be opened.
    pub fn open(&self) -> Result<Option<Box<dyn AudioSource>>, DeviceProblem> {
        let mic: Box<dyn AudioSource> = match self {
            MicChoice::None => return Ok(None),
            MicChoice::Synthetic(signal) => Box::new(SyntheticMic::new(signal.clone())),
            MicChoice::Device(name) => Box::new(
                Microphone::open(name.as_deref())
                    .map_err(|e| DeviceProblem::from_error(Device::Microphone, &e))?,
            ),
        };
        Ok(Some(mic))
    }
}

/// Where decoded audio goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpeakerChoice {
    /// Discarded after measurement.
    Null,
    /// The system default, or a device by name.
    Device(Option<String>),
}

impl SpeakerChoice {
    /// `none` or `null` (nowhere), `default` or nothing (the system default), or a device's
    /// name — as the CLI and the app's pickers name them.
    pub fn parse(s: &str) -> SpeakerChoice {
        match s {
            "null" | "none" => SpeakerChoice::Null,
            "default" | "" => SpeakerChoice::Device(None),
            name => SpeakerChoice::Device(Some(name.to_owned())),
        }
    }
}

/// What to test and how.
#[derive(Clone, Debug)]
pub struct Options {
    /// How long to run.
    pub duration: Duration,
    /// Camera.
    pub camera: CameraChoice,
    /// Microphone.
    pub mic: MicChoice,
    /// Speaker.
    pub speaker: SpeakerChoice,
    /// Picture size and rate asked of the camera.
    pub video: VideoFormat,
    /// Video bitrate.
    pub video_bitrate_bps: u32,
    /// The microphone's clean-up (no echo to cancel: the self-test plays what it captures).
    pub voice: conclave_media::VoiceSettings,
    /// A screen or window to test instead of the camera, encoded as a meeting's share is.
    pub share: Option<conclave_media::ShareTarget>,
    /// Keep the sound until the end, then play it back (the app's test call: you speak, then
    /// hear yourself, as nobody hears themselves live without headphones). Otherwise each frame
    /// is played as it comes through (the path's latency, measured).
    pub play_back_after: bool,
}

impl Options {
    /// Synthetic camera and tone, no speaker: runs anywhere.
    pub fn synthetic(duration: Duration) -> Self {
        Options {
            duration,
            camera: CameraChoice::Synthetic,
            mic: MicChoice::Synthetic(Signal::Speech),
            speaker: SpeakerChoice::Null,
            video: VideoFormat {
                width: 1280,
                height: 720,
                fps: 30,
            },
            video_bitrate_bps: 1_500_000,
            voice: conclave_media::VoiceSettings::ON,
            share: None,
            play_back_after: false,
        }
    }
}

/// Per-stage timings of the video path.
#[derive(Clone, Debug, Default, Serialize)]
pub struct VideoStages {
    /// H.264 encode.
    pub encode_ms: Percentiles,
    /// SFrame encryption and H.264 framing.
    pub encrypt_ms: Percentiles,
    /// SFrame decryption and unframing.
    pub decrypt_ms: Percentiles,
    /// H.264 decode.
    pub decode_ms: Percentiles,
}

/// Results of the video path.
#[derive(Clone, Debug, Default, Serialize)]
pub struct VideoReport {
    /// Picture size and rate.
    pub format: String,
    /// Frames the camera delivered.
    pub frames_captured: u64,
    /// Frames decoded.
    pub frames_decoded: u64,
    /// Frames captured but not decoded, or decoded with a wrong stamp.
    pub frames_lost: u64,
    /// Capture to decoded picture.
    pub end_to_end_ms: Percentiles,
    /// Mean luma PSNR of decoded against captured pictures.
    pub psnr_db: f64,
    /// Mean encoded bitrate.
    pub bitrate_kbps: f64,
    /// Stage timings.
    pub stages: VideoStages,
}

/// Per-stage timings of the audio path.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AudioStages {
    /// The microphone's clean-up (echo, noise, gain) of 20 ms.
    pub voice_ms: Percentiles,
    /// Opus encode.
    pub encode_ms: Percentiles,
    /// SFrame encryption.
    pub encrypt_ms: Percentiles,
    /// SFrame decryption.
    pub decrypt_ms: Percentiles,
    /// Opus decode (or concealment).
    pub decode_ms: Percentiles,
}

/// Results of the audio path.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AudioReport {
    /// 20 ms frames captured.
    pub frames_captured: u64,
    /// Frames handed to the speaker (decoded or concealed).
    pub frames_played: u64,
    /// Frames concealed because their packet was missing.
    pub frames_concealed: u64,
    /// Times the speaker ran dry while playing (each an audible gap).
    pub playback_gaps: u64,
    /// When the speaker was found to have run dry (after the frame handed to it then),
    /// milliseconds since the Unix epoch: the first 16.
    pub playback_gaps_at_unix_ms: Vec<u64>,
    /// Frames the speaker dropped whole because too much stood in its queue (a short cut).
    pub frames_skipped: u64,
    /// The longest wait for the microphone's next frame (due every 20 ms): a late microphone
    /// starves the speaker after it.
    pub longest_microphone_wait_ms: f64,
    /// When that wait ended, milliseconds since the Unix epoch.
    pub longest_microphone_wait_at_unix_ms: u64,
    /// Whether the audio thread ran at real-time priority.
    pub real_time: bool,
    /// Capture to hand-over to the speaker (the jitter buffer's delay included).
    pub end_to_end_ms: Percentiles,
    /// Stage timings.
    pub stages: AudioStages,
    /// The loudest 20 ms the microphone gave (after its clean-up), dBFS as RFC 6464 measures a
    /// frame (-127 for silence): below -50 dBFS nothing was heard (a muted or wrong microphone).
    pub loudest_dbfs: f64,
    /// Whether the sound was played back after it was recorded (`Options::play_back_after`).
    pub played_back: bool,
}

/// The self-test's findings. The top-level figures are the video path's, so that one glance
/// answers "does my picture get through, how fast, how well".
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// Video capture to decoded picture.
    pub end_to_end_ms: Percentiles,
    /// Video frames lost.
    pub frames_lost: u64,
    /// Mean picture quality.
    pub psnr_db: f64,
    /// Video stage timings.
    pub stages: VideoStages,
    /// The video path in full; absent without a camera.
    pub video: Option<VideoReport>,
    /// The audio path; absent without a microphone.
    pub audio: Option<AudioReport>,
    /// Devices that could not be tested, or stopped during the test, and why.
    pub device_problems: Vec<DeviceProblem>,
    /// `device_problems` as English sentences.
    pub warnings: Vec<String>,
}

/// Runs the self-test on the devices `options` name.
pub fn run(options: &Options) -> Report {
    run_with(options, open_camera(options), open_audio(options))
}

/// A camera to test, `Ok(None)` for none, or why it could not be opened.
pub type CameraSlot = Result<Option<Box<dyn VideoSource>>, DeviceProblem>;

/// A microphone and speaker to test, `Ok(None)` for none, or why they could not be opened.
pub type AudioSlot = Result<Option<(Box<dyn AudioSource>, Box<dyn AudioSink>)>, DeviceProblem>;

/// Opens the camera `options` names, or the screen or window it shares instead.
pub fn open_camera(options: &Options) -> CameraSlot {
    match &options.share {
        Some(share) => share
            .open()
            .map(Some)
            .map_err(|e| DeviceProblem::from_error(Device::Screen, &e)),
        None => options.camera.open(options.video),
    }
}

/// Opens the microphone and speaker `options` name.
pub fn open_audio(options: &Options) -> AudioSlot {
    let Some(source) = options.mic.open()? else {
        return Ok(None);
    };
    let sink: Box<dyn AudioSink> = match &options.speaker {
        SpeakerChoice::Null => Box::new(NullSpeaker),
        SpeakerChoice::Device(name) => Box::new(
            Speaker::open(name.as_deref())
                .map_err(|e| DeviceProblem::from_error(Device::Speaker, &e))?,
        ),
    };
    Ok(Some((source, sink)))
}

/// Runs the self-test on devices already opened (tests inject failing ones here).
pub fn run_with(options: &Options, camera: CameraSlot, audio: AudioSlot) -> Report {
    let base = random_base_key();
    let mut report = Report::default();
    let ((video, video_warning), (audio, audio_warning)) = thread::scope(|s| {
        let video = s.spawn(|| match camera {
            Ok(Some(source)) => run_video(options, source, &base),
            Ok(None) => (None, None),
            Err(w) => (None, Some(w)),
        });
        let audio = s.spawn(|| match audio {
            Ok(Some((source, sink))) => run_audio(options, source, sink, &base),
            Ok(None) => (None, None),
            Err(w) => (None, Some(w)),
        });
        let failed = |device| DeviceProblem::failed(device, "the self-test thread failed");
        (
            video
                .join()
                .unwrap_or_else(|_| (None, Some(failed(Device::Camera)))),
            audio
                .join()
                .unwrap_or_else(|_| (None, Some(failed(Device::Microphone)))),
        )
    });
    if let Some(v) = video {
        report.end_to_end_ms = v.end_to_end_ms;
        report.frames_lost = v.frames_lost;
        report.psnr_db = v.psnr_db;
        report.stages = v.stages.clone();
        report.video = Some(v);
    }
    report.audio = audio;
    report.device_problems.extend(video_warning);
    report.device_problems.extend(audio_warning);
    report.warnings = report
        .device_problems
        .iter()
        .map(|p| p.to_string())
        .collect();
    report
}

fn random_base_key() -> BaseKey {
    let mut bytes = [0u8; 16];
    // The OS random source failing leaves the test on a fixed key, which it still exercises.
    let _ = SystemRandom::new().fill(&mut bytes);
    BaseKey::new(bytes.to_vec()).expect("16 bytes")
}

fn e2ee_pair(base: &BaseKey, generation: u64) -> (Sender, Receiver) {
    let suite = CipherSuite::AesGcm128Sha256;
    let scheme = KidScheme::default();
    let sender = Sender::new(suite, scheme, generation, base.clone()).expect("generation fits");
    let mut receiver = Receiver::new(suite, scheme);
    receiver
        .add_key(generation, 0, base.clone())
        .expect("first key");
    (sender, receiver)
}

/// The video path; stops early (keeping what it measured) if the camera goes away.
fn run_video(
    options: &Options,
    mut source: Box<dyn VideoSource>,
    base: &BaseKey,
) -> (Option<VideoReport>, Option<DeviceProblem>) {
    let sharing = options.share.is_some();
    let synthetic = options.camera == CameraChoice::Synthetic && !sharing;
    let device = if sharing {
        Device::Screen
    } else {
        Device::Camera
    };
    let format = source.format();
    let settings = VideoEncoderSettings {
        bitrate_bps: options.video_bitrate_bps,
        fps: format.fps,
        ..VideoEncoderSettings::default()
    };
    let mut encoder = if sharing {
        H264Encoder::for_screen(settings)
    } else {
        H264Encoder::new(settings)
    };
    let mut decoder = match H264Decoder::new() {
        Ok(d) => d,
        Err(e) => {
            return (None, Some(DeviceProblem::from_codec_error(device, &e)));
        }
    };
    let mut stopped = None;
    // Video and audio from one participant share a sender key in a meeting; here each path has
    // its own generation so the two threads need no shared state.
    let (mut tx, mut rx) = e2ee_pair(base, 1);

    let mut report = VideoReport {
        format: format!(
            "{}{}x{}@{}",
            if sharing { "share " } else { "" },
            format.width,
            format.height,
            format.fps
        ),
        ..VideoReport::default()
    };
    let [mut encode, mut encrypt, mut decrypt, mut decode, mut e2e]: [Samples; 5] =
        Default::default();
    let (mut psnr_sum, mut psnr_n, mut bytes) = (0.0, 0u64, 0u64);
    let started = Instant::now();
    let deadline = started + options.duration;
    while Instant::now() < deadline {
        let frame = match source.next_frame() {
            Ok(f) => f,
            Err(e) => {
                stopped = Some(DeviceProblem::from_error(device, &e));
                break;
            }
        };
        report.frames_captured += 1;
        let t = Instant::now();
        let encoded = match encoder.encode(&frame) {
            Ok(Some(e)) => e,
            Ok(None) => continue,
            Err(e) => {
                stopped = Some(DeviceProblem::from_codec_error(device, &e));
                break;
            }
        };
        encode.push_since(t);
        bytes += encoded.data.len() as u64;

        let t = Instant::now();
        let wire = match tx.protect(Codec::H264, &encoded.data) {
            Ok(w) => w,
            Err(e) => {
                stopped = Some(DeviceProblem::failed(device, e.to_string()));
                break;
            }
        };
        encrypt.push_since(t);

        let t = Instant::now();
        let Ok(access_unit) = rx.unprotect(Codec::H264, &wire) else {
            continue;
        };
        decrypt.push_since(t);

        let t = Instant::now();
        let Ok(Some(picture)) = decoder.decode(&access_unit, encoded.captured_us) else {
            encoder.request_keyframe();
            continue;
        };
        decode.push_since(t);
        let done = wall_clock_us();

        let stamped = pattern::read(&picture);
        if synthetic && stamped.is_none_or(|s| s.captured_us != frame.captured_us % (1 << 56)) {
            continue;
        }
        report.frames_decoded += 1;
        e2e.push(done.saturating_sub(frame.captured_us));
        if let Some(db) = psnr(frame.y(), picture.y()) {
            psnr_sum += db.min(99.0);
            psnr_n += 1;
        }
    }
    report.frames_lost = report.frames_captured - report.frames_decoded;
    report.end_to_end_ms = e2e.percentiles();
    report.psnr_db = if psnr_n > 0 {
        psnr_sum / psnr_n as f64
    } else {
        0.0
    };
    let seconds = started.elapsed().as_secs_f64().max(0.001);
    report.bitrate_kbps = bytes as f64 * 8.0 / 1000.0 / seconds;
    report.stages = VideoStages {
        encode_ms: encode.percentiles(),
        encrypt_ms: encrypt.percentiles(),
        decrypt_ms: decrypt.percentiles(),
        decode_ms: decode.percentiles(),
    };
    (Some(report), stopped)
}

/// A speaker that discards what it is given: the self-test without playback.
#[derive(Debug)]
pub struct NullSpeaker;

impl AudioSink for NullSpeaker {
    fn play(&mut self, _: &[f32]) -> Result<Played, conclave_media::DeviceError> {
        Ok(Played::Queued)
    }
}

/// The audio path; stops early (keeping what it measured) if a device goes away.
fn run_audio(
    options: &Options,
    mut source: Box<dyn AudioSource>,
    mut sink: Box<dyn AudioSink>,
    base: &BaseKey,
) -> (Option<AudioReport>, Option<DeviceProblem>) {
    let scheduling = conclave_media::realtime::promote_audio_thread();
    let codecs = OpusEncoder::new(AudioEncoderSettings::default())
        .and_then(|e| Ok((e, OpusDecoder::new()?)));
    let (mut encoder, mut decoder) = match codecs {
        Ok(c) => c,
        Err(e) => {
            let problem = DeviceProblem::from_codec_error(Device::Microphone, &e);
            return (None, Some(problem));
        }
    };
    let mut stopped = None;
    let (mut tx, mut rx) = e2ee_pair(base, 2);
    let mut jitter = JitterBuffer::new();
    // Capture times of frames in the jitter buffer, by sequence number, for end-to-end latency.
    let mut captured_at = std::collections::HashMap::new();

    let mut report = AudioReport {
        loudest_dbfs: -127.0,
        ..AudioReport::default()
    };
    // What was said, decoded, for playing back at the end.
    let mut recorded: Vec<Vec<f32>> = Vec::new();
    let [
        mut voice,
        mut encode,
        mut encrypt,
        mut decrypt,
        mut decode,
        mut e2e,
    ]: [Samples; 6] = Default::default();
    let processor = conclave_media::VoiceProcessor::new(options.voice);
    let deadline = Instant::now() + options.duration;
    let mut seq: u16 = 0;
    let mut last_frame: Option<Instant> = None;
    let mut seen_gaps = 0;
    while Instant::now() < deadline {
        let mut step = || -> Result<(), DeviceProblem> {
            let mut frame = source
                .next_frame()
                .map_err(|e| DeviceProblem::from_error(Device::Microphone, &e))?;
            let came = Instant::now();
            if let Some(wait_ms) = last_frame.map(|last| (came - last).as_secs_f64() * 1000.0)
                && wait_ms > report.longest_microphone_wait_ms
            {
                report.longest_microphone_wait_ms = wait_ms;
                report.longest_microphone_wait_at_unix_ms = wall_clock_us() / 1000;
            }
            last_frame = Some(came);
            report.frames_captured += 1;
            let t = Instant::now();
            processor.process(&mut frame.samples);
            voice.push_since(t);
            let (level, _) = crate::client::audio_level(&frame.samples);
            report.loudest_dbfs = report.loudest_dbfs.max(-f64::from(level));
            let t = Instant::now();
            let packet = encoder
                .encode(&frame.samples)
                .map_err(|e| DeviceProblem::from_codec_error(Device::Microphone, &e))?;
            encode.push_since(t);
            let t = Instant::now();
            let wire = tx
                .protect(Codec::Opus, &packet)
                .map_err(|e| DeviceProblem::failed(Device::Microphone, e.to_string()))?;
            encrypt.push_since(t);
            let t = Instant::now();
            if let Ok(plain) = rx.unprotect(Codec::Opus, &wire) {
                decrypt.push_since(t);
                let media_us = u64::from(seq) * 20_000;
                jitter.push(seq, media_us, plain, wall_clock_us());
                captured_at.insert(seq, frame.captured_us);
            }
            seq = seq.wrapping_add(1);

            let t = Instant::now();
            let (played, samples) = match jitter.pop() {
                Playout::Packet { seq, payload } => (seq, decoder.decode(&payload)),
                Playout::Lost { seq, next } => (seq, decoder.conceal(next.as_deref())),
                Playout::Silence => return Ok(()),
            };
            let samples =
                samples.map_err(|e| DeviceProblem::from_codec_error(Device::Microphone, &e))?;
            decode.push_since(t);
            if options.play_back_after {
                recorded.push(samples);
                return Ok(());
            }
            // A skipped frame counts as played: the self-test measures the path to the speaker.
            let outcome = sink
                .play(&samples)
                .map_err(|e| DeviceProblem::from_error(Device::Speaker, &e))?;
            if outcome == conclave_media::Played::Skipped {
                report.frames_skipped += 1;
            }
            let gaps = sink.gaps();
            if gaps > seen_gaps && report.playback_gaps_at_unix_ms.len() < 16 {
                report.playback_gaps_at_unix_ms.push(wall_clock_us() / 1000);
            }
            seen_gaps = gaps;
            report.frames_played += 1;
            if let Some(at) = captured_at.remove(&played) {
                e2e.push(wall_clock_us().saturating_sub(at));
            }
            Ok(())
        };
        if let Err(why) = step() {
            stopped = Some(why);
            break;
        }
    }
    // The recording, played back at the speaker's pace.
    if options.play_back_after && stopped.is_none() {
        let frame = std::time::Duration::from_millis(20);
        let mut next = Instant::now();
        for samples in &recorded {
            if let Err(e) = sink.play(samples) {
                stopped = Some(DeviceProblem::from_error(Device::Speaker, &e));
                break;
            }
            report.frames_played += 1;
            next += frame;
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        // The speaker's buffer plays out.
        std::thread::sleep(std::time::Duration::from_millis(300));
        report.played_back = true;
    }
    report.frames_concealed = jitter.stats().concealed;
    report.playback_gaps = sink.gaps();
    report.real_time = scheduling != conclave_media::realtime::Scheduling::Normal;
    report.end_to_end_ms = e2e.percentiles();
    report.stages = AudioStages {
        voice_ms: voice.percentiles(),
        encode_ms: encode.percentiles(),
        encrypt_ms: encrypt.percentiles(),
        decrypt_ms: decrypt.percentiles(),
        decode_ms: decode.percentiles(),
    };
    (Some(report), stopped)
}

/// The report as a short table for people.
pub fn render(report: &Report) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let row = |out: &mut String, name: &str, p: &Percentiles| {
        let _ = writeln!(
            out,
            "  {name:<22} p50 {:>7.2} ms   p95 {:>7.2} ms",
            p.p50, p.p95
        );
    };
    match &report.video {
        Some(v) => {
            let _ = writeln!(out, "Video {}:", v.format);
            row(&mut out, "encode", &v.stages.encode_ms);
            row(&mut out, "encrypt", &v.stages.encrypt_ms);
            row(&mut out, "decrypt", &v.stages.decrypt_ms);
            row(&mut out, "decode", &v.stages.decode_ms);
            row(&mut out, "capture to picture", &v.end_to_end_ms);
            let _ = writeln!(
                out,
                "  frames: {} captured, {} decoded, {} lost; PSNR {:.1} dB; {:.0} kbit/s",
                v.frames_captured, v.frames_decoded, v.frames_lost, v.psnr_db, v.bitrate_kbps
            );
        }
        None => out.push_str("Video: not tested\n"),
    }
    match &report.audio {
        Some(a) => {
            out.push_str("Audio (Opus 48 kHz):\n");
            row(&mut out, "clean-up (echo, noise)", &a.stages.voice_ms);
            row(&mut out, "encode", &a.stages.encode_ms);
            row(&mut out, "encrypt", &a.stages.encrypt_ms);
            row(&mut out, "decrypt", &a.stages.decrypt_ms);
            row(&mut out, "decode", &a.stages.decode_ms);
            row(&mut out, "capture to speaker", &a.end_to_end_ms);
            let _ = writeln!(
                out,
                "  frames: {} captured, {} played, {} concealed; {} playback gaps; {} priority; loudest {:.0} dBFS",
                a.frames_captured,
                a.frames_played,
                a.frames_concealed,
                a.playback_gaps,
                if a.real_time { "real-time" } else { "normal" },
                a.loudest_dbfs
            );
        }
        None => out.push_str("Audio: not tested\n"),
    }
    for w in &report.warnings {
        let _ = writeln!(out, "Note: {w}");
    }
    out
}
