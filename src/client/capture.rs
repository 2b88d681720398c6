//! Our outgoing media: camera and microphone threads that capture and encode, handing encoded
//! frames to the meeting loop (which encrypts and sends them). The devices stay open across
//! reconnections; when the network side lags, frames are dropped here rather than queued.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use conclave_media::synthetic::{SyntheticCamera, SyntheticMic};
use conclave_media::{
    AudioEncoderSettings, AudioSource, Camera, EncodedVideo, H264Encoder, Microphone, OpusEncoder,
    VideoEncoderSettings, VideoFormat, VideoSource,
};
use tokio::sync::mpsc;

use super::device_problem::{Device, DeviceProblem};
use crate::selftest::{CameraChoice, MicChoice};

/// One encoded Opus packet and its loudness for the RFC 6464 header extension.
#[derive(Debug)]
pub struct EncodedAudio {
    /// The packet.
    pub packet: Vec<u8>,
    /// Level in -dBov (0 loudest, 127 silence).
    pub level: u8,
    /// Whether it is likely speech.
    pub voice: bool,
}

/// The running capture threads.
pub struct Capture {
    /// Encoded video frames.
    pub video: mpsc::Receiver<EncodedVideo>,
    /// Encoded audio packets.
    pub audio: mpsc::Receiver<EncodedAudio>,
    /// Set to ask the encoder for a keyframe (a new subscriber, a loss report, a reconnect).
    pub keyframe: Arc<AtomicBool>,
    /// Devices that could not be opened (the meeting goes on without them).
    pub warnings: Vec<DeviceProblem>,
    /// Whether anything is captured at all; without camera and microphone we only listen.
    pub sending: bool,
    /// Devices that stopped during the meeting (unplugged, failed).
    pub lost: Lost,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// Devices lost while capturing, shared with whoever reports to the user.
pub type Lost = Arc<std::sync::Mutex<Vec<DeviceProblem>>>;

/// Adds `what` to `lost`; the meeting reports it to the user.
pub fn report_lost(lost: &Lost, what: DeviceProblem) {
    tracing::warn!("{what}");
    lost.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(what);
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

impl Capture {
    /// Opens the devices and starts capturing.
    pub fn start(
        camera: &CameraChoice,
        mic: &MicChoice,
        video: VideoFormat,
        bitrate: u32,
        keyframe_interval: std::time::Duration,
    ) -> Self {
        let (video_tx, video_rx) = mpsc::channel(4);
        let (audio_tx, audio_rx) = mpsc::channel(16);
        let keyframe = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let mut warnings = Vec::new();
        let mut threads = Vec::new();
        let lost = Lost::default();

        let source: Option<Box<dyn VideoSource>> = match camera {
            CameraChoice::None => None,
            CameraChoice::Synthetic => match SyntheticCamera::new(video) {
                Ok(c) => Some(Box::new(c)),
                Err(e) => {
                    warnings.push(DeviceProblem::from_error(Device::Camera, &e));
                    None
                }
            },
            CameraChoice::Device(index) => match Camera::open(*index, video) {
                Ok(c) => Some(Box::new(c)),
                Err(e) => {
                    warnings.push(DeviceProblem::from_error(Device::Camera, &e));
                    None
                }
            },
        };
        if let Some(source) = source {
            let (keyframe, stop, lost) = (keyframe.clone(), stop.clone(), lost.clone());
            threads.push(std::thread::spawn(move || {
                video_loop(
                    source,
                    bitrate,
                    keyframe_interval,
                    video_tx,
                    keyframe,
                    stop,
                    lost,
                );
            }));
        }

        let mic: Option<Box<dyn AudioSource>> = match mic {
            MicChoice::None => None,
            MicChoice::Synthetic(signal) => Some(Box::new(SyntheticMic::new(signal.clone()))),
            MicChoice::Device(name) => match Microphone::open(name.as_deref()) {
                Ok(m) => Some(Box::new(m)),
                Err(e) => {
                    warnings.push(DeviceProblem::from_error(Device::Microphone, &e));
                    None
                }
            },
        };
        if let Some(mic) = mic {
            let (stop, lost) = (stop.clone(), lost.clone());
            threads.push(std::thread::spawn(move || {
                audio_loop(mic, audio_tx, stop, lost)
            }));
        }
        Capture {
            sending: !threads.is_empty(),
            video: video_rx,
            audio: audio_rx,
            keyframe,
            warnings,
            lost,
            stop,
            threads,
        }
    }

    /// Stops the threads and waits for them.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the receivers unblocks senders; the threads notice the stop flag at their next
        // frame (at most one frame interval).
        drop(self.video);
        drop(self.audio);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn video_loop(
    mut source: Box<dyn VideoSource>,
    bitrate: u32,
    keyframe_interval: std::time::Duration,
    out: mpsc::Sender<EncodedVideo>,
    keyframe: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    lost: Lost,
) {
    let format = source.format();
    let mut encoder = H264Encoder::new(VideoEncoderSettings {
        bitrate_bps: bitrate,
        fps: format.fps,
        // Periodic keyframes as a safety net; receivers ask for one when they need it (PLI).
        keyframe_interval_frames: ((keyframe_interval.as_secs_f64() * f64::from(format.fps))
            as u32)
            .max(1),
    });
    while !stop.load(Ordering::Relaxed) {
        let frame = match source.next_frame() {
            Ok(frame) => frame,
            Err(e) => {
                report_lost(&lost, DeviceProblem::from_error(Device::Camera, &e));
                return;
            }
        };
        if keyframe.swap(false, Ordering::Relaxed) {
            encoder.request_keyframe();
        }
        match encoder.encode(&frame) {
            Ok(Some(encoded)) => match out.try_send(encoded) {
                Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            },
            Ok(None) => {}
            Err(e) => {
                report_lost(&lost, DeviceProblem::from_codec_error(Device::Camera, &e));
                return;
            }
        }
    }
}

fn audio_loop(
    mut mic: Box<dyn AudioSource>,
    out: mpsc::Sender<EncodedAudio>,
    stop: Arc<AtomicBool>,
    lost: Lost,
) {
    let mut encoder = match OpusEncoder::new(AudioEncoderSettings::default()) {
        Ok(encoder) => encoder,
        Err(e) => {
            report_lost(
                &lost,
                DeviceProblem::from_codec_error(Device::Microphone, &e),
            );
            return;
        }
    };
    while !stop.load(Ordering::Relaxed) {
        let frame = match mic.next_frame() {
            Ok(frame) => frame,
            Err(e) => {
                report_lost(&lost, DeviceProblem::from_error(Device::Microphone, &e));
                return;
            }
        };
        let (level, voice) = audio_level(&frame.samples);
        let packet = match encoder.encode(&frame.samples) {
            Ok(packet) => packet,
            Err(e) => {
                report_lost(
                    &lost,
                    DeviceProblem::from_codec_error(Device::Microphone, &e),
                );
                return;
            }
        };
        match out.try_send(EncodedAudio {
            packet,
            level,
            voice,
        }) {
            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}

/// RFC 6464 level: -dBov of the frame's RMS, 0..=127; "voice" when louder than -50 dBov.
pub fn audio_level(samples: &[f32]) -> (u8, bool) {
    let rms = (samples.iter().map(|s| s * s).sum::<f32>() / samples.len().max(1) as f32).sqrt();
    let dbov = if rms <= 0.0 {
        127.0
    } else {
        (-20.0 * rms.log10()).clamp(0.0, 127.0)
    };
    (dbov.round() as u8, dbov < 50.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use conclave_media::{DeviceError, VideoFrame};

    /// A camera that is unplugged after three frames.
    struct Unplugged(u32);

    impl VideoSource for Unplugged {
        fn format(&self) -> VideoFormat {
            VideoFormat {
                width: 64,
                height: 64,
                fps: 30,
            }
        }
        fn next_frame(&mut self) -> Result<VideoFrame, DeviceError> {
            self.0 += 1;
            if self.0 > 3 {
                return Err(DeviceError::Disconnected {
                    kind: "camera",
                    reason: "unplugged".into(),
                });
            }
            Ok(VideoFrame::black(64, 64))
        }
    }

    #[test]
    fn an_unplugged_camera_is_reported_and_capture_goes_on() {
        let (tx, mut rx) = mpsc::channel(8);
        let lost = Lost::default();
        let stop = Arc::new(AtomicBool::new(false));
        let keyframe = Arc::new(AtomicBool::new(true));
        video_loop(
            Box::new(Unplugged(0)),
            300_000,
            std::time::Duration::from_secs(1),
            tx,
            keyframe,
            stop,
            lost.clone(),
        );
        let mut frames = 0;
        while rx.try_recv().is_ok() {
            frames += 1;
        }
        assert_eq!(frames, 3, "the frames before the loss were sent");
        let lost = lost.lock().unwrap();
        assert_eq!(lost.len(), 1);
        assert_eq!(
            (lost[0].device, lost[0].problem),
            (Device::Camera, super::super::Problem::Stopped)
        );
        assert!(lost[0].detail.contains("unplugged"), "{lost:?}");
    }

    #[test]
    fn levels_follow_rfc_6464() {
        assert_eq!(audio_level(&[0.0; 960]), (127, false));
        assert_eq!(audio_level(&[1.0; 960]), (0, true));
        // RMS 0.1 is -20 dBov.
        assert_eq!(audio_level(&[0.1; 960]), (20, true));
        assert!(!audio_level(&[0.001; 960]).1);
    }
}
