//! Our outgoing media: camera and microphone threads that capture and encode, handing encoded
//! frames to the meeting loop (which encrypts and sends them). The devices stay open across
//! reconnections; when the network side lags, frames are dropped here rather than queued.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread::JoinHandle;

use conclave_media::{
    AudioEncoderSettings, AudioSource, EncodedVideo, H264Encoder, OpusEncoder, SHARE_FPS,
    ShareTarget, VideoEncoderSettings, VideoFormat, VideoSource, VoiceProcessor,
};
use tokio::sync::{Notify, mpsc};

use super::device_problem::{Device, DeviceProblem, Problems, forget, report};
use super::video_out::{SELF_FEED, VideoOut};
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

/// The running capture threads. Camera and microphone can each be replaced while capturing.
///
/// Opening and closing devices takes long (a camera can take seconds to open, a thread closing
/// one waits for its next frame), so none of it happens in the caller, which is the meeting's
/// loop: each device's thread first waits for its predecessor to close, then opens its device,
/// reporting a failure in `problems` and an opening on `opened`.
pub struct Capture {
    /// Encoded video frames.
    pub video: mpsc::Receiver<EncodedVideo>,
    /// Encoded audio packets.
    pub audio: mpsc::Receiver<EncodedAudio>,
    /// Set to ask the encoder for a keyframe (a new subscriber, a loss report, a reconnect).
    pub keyframe: Arc<AtomicBool>,
    /// Devices that could not be opened or stopped (the meeting goes on without them), shared
    /// with playback and with whoever reports to the user.
    pub problems: Problems,
    /// Notified whenever a camera or microphone has opened.
    pub opened: Arc<Notify>,
    /// The microphone's clean-up (echo, noise, gain), whichever microphone is open; playback
    /// tells its echo canceller what the speaker plays.
    pub voice: VoiceProcessor,
    video_tx: mpsc::Sender<EncodedVideo>,
    audio_tx: mpsc::Sender<EncodedAudio>,
    format: VideoFormat,
    bitrate: u32,
    keyframe_interval: std::time::Duration,
    self_view: Option<Arc<VideoOut>>,
    /// The camera chosen, open only while `camera_on`: a camera turned off is closed (its light
    /// goes out), not just unsent.
    camera_choice: CameraChoice,
    camera_on: bool,
    camera: Option<Worker>,
    mic_choice: MicChoice,
    mic: Option<Worker>,
    /// A second video source (a shared screen or window, or for tests a second camera), sent
    /// as a track of its own.
    second: Option<Worker>,
    /// What the second source is: a share (sealed as one), or a camera.
    second_is_share: bool,
    second_tx: mpsc::Sender<EncodedVideo>,
    /// Encoded frames of the second video source.
    pub second_video: mpsc::Receiver<EncodedVideo>,
    /// Set to ask the second source's encoder for a keyframe.
    pub second_keyframe: Arc<AtomicBool>,
    /// The rate the camera's and the second source's encoders are to use ([`HELD`], [`PAUSED`]
    /// or bits per second), as the link allows.
    camera_rate: Arc<AtomicU32>,
    second_rate: Arc<AtomicU32>,
}

/// One device's thread.
struct Worker {
    stop: Arc<AtomicBool>,
    /// Its device is open and delivering.
    open: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Worker {
    /// A thread that waits for `previous` (told to stop now) to end, then runs `body` with its
    /// stop flag and its "open" flag (cleared again when `body` ends, even by a panic) — unless
    /// it was told to stop meanwhile (replaced again before it began: nothing is opened).
    fn spawn(
        previous: Option<Worker>,
        body: impl FnOnce(&AtomicBool, &AtomicBool) + Send + 'static,
    ) -> Worker {
        if let Some(p) = &previous {
            p.stop.store(true, Ordering::Relaxed);
        }
        let (stop, open) = (Arc::<AtomicBool>::default(), Arc::<AtomicBool>::default());
        let (stop_flag, open_flag) = (Arc::clone(&stop), Arc::clone(&open));
        let thread = std::thread::spawn(move || {
            if let Some(p) = previous {
                let _ = p.thread.join();
            }
            let _closed = OnDrop(|| open_flag.store(false, Ordering::Relaxed));
            if !stop_flag.load(Ordering::Relaxed) {
                body(&stop_flag, &open_flag);
            }
        });
        Worker { stop, open, thread }
    }

    fn open(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }

    /// Stops the thread and waits for it (and so for its device to close).
    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

/// Runs its closure when dropped: on return and on unwinding alike.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("problems", &self.problems)
            .finish_non_exhaustive()
    }
}

impl Capture {
    /// Capture with nothing open yet: the camera is on, but none is chosen
    /// ([`Capture::set_camera`], [`Capture::set_mic`]). Encoded video is `video` at `bitrate`
    /// with a keyframe at least every `keyframe_interval`; with `self_view`, a small copy of
    /// each other picture goes there as [`SELF_FEED`] (the user's own picture). The microphone
    /// is cleaned up by `voice` before it is encoded.
    pub fn new(
        video: VideoFormat,
        bitrate: u32,
        keyframe_interval: std::time::Duration,
        self_view: Option<Arc<VideoOut>>,
        voice: VoiceProcessor,
    ) -> Self {
        let (video_tx, video_rx) = mpsc::channel(4);
        let (audio_tx, audio_rx) = mpsc::channel(16);
        let (second_tx, second_video) = mpsc::channel(4);
        Capture {
            video: video_rx,
            audio: audio_rx,
            keyframe: Arc::new(AtomicBool::new(true)),
            problems: Problems::default(),
            opened: Arc::default(),
            voice,
            video_tx,
            audio_tx,
            format: video,
            bitrate,
            keyframe_interval,
            self_view,
            camera_choice: CameraChoice::None,
            camera_on: true,
            camera: None,
            mic_choice: MicChoice::None,
            mic: None,
            second: None,
            second_is_share: false,
            second_tx,
            second_video,
            second_keyframe: Arc::new(AtomicBool::new(true)),
            camera_rate: Arc::new(AtomicU32::new(bitrate)),
            second_rate: Arc::new(AtomicU32::new(bitrate)),
        }
    }

    /// Starts a second video source, encoded like the camera, on its own encoder (a failure to
    /// open it is reported like the camera's).
    pub fn start_second_video(&mut self, source: CameraChoice) {
        let format = self.format;
        self.start_second(false, move || source.open(format));
    }

    /// Starts sharing `target` on the second video track, encoded for content
    /// ([`H264Encoder::for_screen`]). A source that cannot be opened, or goes away, is reported
    /// as the screen's problem and ends the thread ([`Capture::share_ended`]).
    pub fn start_share(&mut self, target: ShareTarget) {
        self.start_second(true, move || {
            target
                .open()
                .map(Some)
                .map_err(|e| DeviceProblem::from_error(Device::Screen, &e))
        });
    }

    /// Stops the second video source (the share), waiting for it in the background.
    pub fn stop_second(&mut self) {
        if let Some(worker) = self.second.take() {
            worker.stop.store(true, Ordering::Relaxed);
        }
        self.second_is_share = false;
    }

    /// Whether the second source is a share.
    pub fn second_is_share(&self) -> bool {
        self.second_is_share
    }

    /// Whether a share was started and its thread has ended on its own (the source could not
    /// be opened, or went away): the meeting should hear that the share ended.
    pub fn share_ended(&self) -> bool {
        self.second_is_share
            && self
                .second
                .as_ref()
                .is_some_and(|w| w.thread.is_finished() && !w.stop.load(Ordering::Relaxed))
    }

    fn start_second(
        &mut self,
        share: bool,
        open: impl FnOnce() -> crate::selftest::CameraSlot + Send + 'static,
    ) {
        let mut settings = self.encoder_settings();
        if share {
            // Keyframes of a share only when a receiver asks (a new one, a loss), and as a
            // safety net once a minute: each resets the picture's quality, which on a still page
            // otherwise keeps growing.
            settings.fps = SHARE_FPS;
            settings.keyframe_interval_frames = SHARE_KEYFRAME_INTERVAL_S * SHARE_FPS;
        }
        let device = if share {
            Device::Screen
        } else {
            Device::Camera
        };
        let outs = VideoOuts {
            encoded: self.second_tx.clone(),
            self_view: None,
        };
        let (keyframe, problems) = (self.second_keyframe.clone(), self.problems.clone());
        let rate = self.second_rate.clone();
        let previous = self.second.take();
        self.second_is_share = share;
        self.second = Some(Worker::spawn(previous, move |stop, open_flag| {
            forget(&problems, device);
            let source = match open() {
                Ok(Some(source)) => source,
                Ok(None) => return,
                Err(problem) => return report(&problems, problem),
            };
            keyframe.store(true, Ordering::Relaxed);
            open_flag.store(true, Ordering::Relaxed);
            let encoder = if share {
                H264Encoder::for_screen(settings)
            } else {
                H264Encoder::new(settings)
            };
            video_loop(
                source, encoder, device, &outs, &keyframe, &rate, stop, &problems,
            );
        }));
    }

    /// Encode the camera's picture (or with `second`, the second source's) at `bps` from the
    /// next frame on, pause it (`None`: the link's estimate allows no more) or hold it
    /// (`Some(0)`: nothing is sent until the first key exchange).
    pub fn set_video_rate(&self, second: bool, bps: Option<u32>) {
        let rate = if second {
            &self.second_rate
        } else {
            &self.camera_rate
        };
        rate.store(
            match bps {
                None => PAUSED,
                Some(0) => HELD,
                Some(bps) => bps.max(PAUSED + 1),
            },
            Ordering::Relaxed,
        );
    }

    /// Whether a camera is chosen (open or not).
    pub fn camera_chosen(&self) -> bool {
        self.camera_choice != CameraChoice::None
    }

    /// Whether a microphone is chosen (open or not).
    pub fn mic_chosen(&self) -> bool {
        self.mic_choice != MicChoice::None
    }

    /// Whether the camera is open and capturing (not off, not failed, not unplugged).
    pub fn camera_open(&self) -> bool {
        self.camera.as_ref().is_some_and(Worker::open)
    }

    /// Whether the microphone is open and capturing.
    pub fn mic_open(&self) -> bool {
        self.mic.as_ref().is_some_and(Worker::open)
    }

    /// Closes the current camera, if any, and captures from `camera` instead (once turned on).
    /// What was said about the previous camera is forgotten; if this one cannot be opened, that
    /// is reported.
    pub fn set_camera(&mut self, camera: &CameraChoice) {
        self.camera_choice = camera.clone();
        self.replace_camera();
    }

    /// Turns the camera on (opening the chosen one) or off (closing it).
    pub fn set_camera_on(&mut self, on: bool) {
        if on != self.camera_on {
            self.camera_on = on;
            self.replace_camera();
        }
    }

    /// A new camera thread: it opens the chosen camera if it is on (else only closes the old).
    fn replace_camera(&mut self) {
        let choice = self.camera_on.then(|| self.camera_choice.clone());
        let (format, settings) = (self.format, self.encoder_settings());
        let outs = VideoOuts {
            encoded: self.video_tx.clone(),
            self_view: self.self_view.clone(),
        };
        let (keyframe, problems, opened) = (
            self.keyframe.clone(),
            self.problems.clone(),
            self.opened.clone(),
        );
        let rate = self.camera_rate.clone();
        let previous = self.camera.take();
        self.camera = Some(Worker::spawn(previous, move |stop, open| {
            // No picture of a camera that is closed stays on screen.
            let _gone = OnDrop(|| {
                if let Some(view) = &outs.self_view {
                    view.remove(SELF_FEED);
                }
            });
            forget(&problems, Device::Camera);
            let source = match choice.map_or(Ok(None), |c| c.open(format)) {
                Ok(Some(source)) => source,
                Ok(None) => return,
                Err(problem) => return report(&problems, problem),
            };
            // Turned off or replaced while it opened: close it again unused.
            if stop.load(Ordering::Relaxed) {
                return;
            }
            // The receivers' decoders need a keyframe from the new picture's first frame.
            keyframe.store(true, Ordering::Relaxed);
            open.store(true, Ordering::Relaxed);
            opened.notify_one();
            let encoder = H264Encoder::new(settings);
            video_loop(
                source,
                encoder,
                Device::Camera,
                &outs,
                &keyframe,
                &rate,
                stop,
                &problems,
            );
        }));
    }

    fn encoder_settings(&self) -> VideoEncoderSettings {
        let fps = self.format.fps;
        VideoEncoderSettings {
            bitrate_bps: self.bitrate,
            fps,
            // Periodic keyframes as a safety net; receivers ask for one when they need it (PLI).
            keyframe_interval_frames: ((self.keyframe_interval.as_secs_f64() * f64::from(fps))
                as u32)
                .max(1),
        }
    }

    /// Closes the current microphone, if any, and captures from `mic` instead; as
    /// [`Capture::set_camera`].
    pub fn set_mic(&mut self, mic: &MicChoice) {
        self.mic_choice = mic.clone();
        let choice = mic.clone();
        let (out, problems, opened, voice) = (
            self.audio_tx.clone(),
            self.problems.clone(),
            self.opened.clone(),
            self.voice.clone(),
        );
        let previous = self.mic.take();
        self.mic = Some(Worker::spawn(previous, move |stop, open| {
            forget(&problems, Device::Microphone);
            let source = match choice.open() {
                Ok(Some(source)) => source,
                Ok(None) => return,
                Err(problem) => return report(&problems, problem),
            };
            if stop.load(Ordering::Relaxed) {
                return;
            }
            open.store(true, Ordering::Relaxed);
            opened.notify_one();
            audio_loop(source, &voice, &out, stop, &problems);
        }));
    }

    /// Stops the threads and waits for them, but for a share's: a share may still wait on the
    /// system's dialog (the portal's, up to minutes), which must not hold the meeting's end; it
    /// ends on its own once answered.
    pub fn stop(mut self) {
        self.stop_second();
        for worker in [self.camera.take(), self.mic.take(), self.second.take()]
            .into_iter()
            .flatten()
        {
            worker.stop();
        }
    }
}

/// Where a camera's pictures go: encoded to the meeting, and small to the self-view.
struct VideoOuts {
    encoded: mpsc::Sender<EncodedVideo>,
    self_view: Option<Arc<VideoOut>>,
}

/// The self-view's width at most: a thumbnail, so that handing it to the display costs little.
const SELF_VIEW_WIDTH: usize = 320;

/// Periodic keyframes of a share, in seconds.
const SHARE_KEYFRAME_INTERVAL_S: u32 = 60;

/// A video rate that sends nothing.
const HELD: u32 = 0;
/// A video rate that sends a small picture now and then.
const PAUSED: u32 = 1;

/// While the picture is paused, one frame goes out this often (five a second: feedback on them
/// tells soon enough when there is room again) ...
const PAUSED_EVERY: std::time::Duration = std::time::Duration::from_millis(200);
/// ... at this rate (the encoder's notion: at its frame rate; the picture is small).
const PAUSED_BPS: u32 = 30_000;

#[allow(clippy::too_many_arguments)]
fn video_loop(
    mut source: Box<dyn VideoSource>,
    mut encoder: H264Encoder,
    device: Device,
    out: &VideoOuts,
    keyframe: &AtomicBool,
    rate: &AtomicU32,
    stop: &AtomicBool,
    lost: &Problems,
) {
    let mut count = 0u64;
    let mut last_paused: Option<std::time::Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        let frame = match source.next_frame() {
            Ok(frame) => frame,
            Err(e) => {
                report(lost, DeviceProblem::from_error(device, &e));
                return;
            }
        };
        count += 1;
        // Half the frame rate is plenty for seeing oneself.
        if let Some(view) = &out.self_view
            && count % 2 == 1
        {
            view.put(SELF_FEED, frame.shrunk(SELF_VIEW_WIDTH));
        }
        // Held: nobody has our key yet, and the key exchange must not queue behind the picture.
        // Paused: the link carries little more than the audio. A small picture still goes out
        // now and then, so that the others see something and the link's feedback (which only
        // video gets from Janus) can tell when there is room again.
        let bps = match rate.load(Ordering::Relaxed) {
            HELD => continue,
            PAUSED if last_paused.is_some_and(|at| at.elapsed() < PAUSED_EVERY) => continue,
            PAUSED => {
                last_paused = Some(std::time::Instant::now());
                PAUSED_BPS
            }
            bps => {
                last_paused = None;
                bps
            }
        };
        encoder.set_bitrate(bps);
        // Paused, a frame every PAUSED_EVERY: the rate's budget fills by that for each.
        encoder.set_frame_interval(last_paused.map(|_| PAUSED_EVERY));
        if keyframe.swap(false, Ordering::Relaxed) {
            encoder.request_keyframe();
        }
        match encoder.encode(&frame) {
            Ok(Some(encoded)) => match out.encoded.try_send(encoded) {
                Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            },
            Ok(None) => {}
            Err(e) => {
                report(lost, DeviceProblem::from_codec_error(device, &e));
                return;
            }
        }
    }
}

fn audio_loop(
    mut mic: Box<dyn AudioSource>,
    voice: &VoiceProcessor,
    out: &mpsc::Sender<EncodedAudio>,
    stop: &AtomicBool,
    lost: &Problems,
) {
    // A busy machine must not starve the microphone into gaps.
    conclave_media::realtime::promote_audio_thread();
    let mut encoder = match OpusEncoder::new(AudioEncoderSettings::default()) {
        Ok(encoder) => encoder,
        Err(e) => {
            report(
                lost,
                DeviceProblem::from_codec_error(Device::Microphone, &e),
            );
            return;
        }
    };
    while !stop.load(Ordering::Relaxed) {
        let mut frame = match mic.next_frame() {
            Ok(frame) => frame,
            Err(e) => {
                report(lost, DeviceProblem::from_error(Device::Microphone, &e));
                return;
            }
        };
        voice.process(&mut frame.samples);
        let (level, speaking) = audio_level(&frame.samples);
        let packet = match encoder.encode(&frame.samples) {
            Ok(packet) => packet,
            Err(e) => {
                report(
                    lost,
                    DeviceProblem::from_codec_error(Device::Microphone, &e),
                );
                return;
            }
        };
        match out.try_send(EncodedAudio {
            packet,
            level,
            voice: speaking,
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
    use crate::client::device_problem::lock;
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
        let lost = Problems::default();
        let stop = Arc::new(AtomicBool::new(false));
        let keyframe = Arc::new(AtomicBool::new(true));
        let settings = VideoEncoderSettings {
            bitrate_bps: 300_000,
            fps: 30,
            keyframe_interval_frames: 30,
        };
        let view = Arc::new(VideoOut::default());
        let outs = VideoOuts {
            encoded: tx,
            self_view: Some(view.clone()),
        };
        video_loop(
            Box::new(Unplugged(0)),
            H264Encoder::new(settings),
            Device::Camera,
            &outs,
            &keyframe,
            &AtomicU32::new(300_000),
            &stop,
            &lost,
        );
        // Frames 1 and 3 went to the self-view, unshrunk (64 wide fits).
        let own = view.newer_than(SELF_FEED, 0).expect("a picture of oneself");
        assert_eq!((own.seq, own.frame.width), (2, 64));
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

    /// Waits up to 5 s for `done`.
    fn eventually(what: &str, done: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "never: {what}");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Whether nothing arrives on `rx` in 300 ms after what was queued.
    fn quiet<T>(rx: &mut mpsc::Receiver<T>) -> bool {
        std::thread::sleep(std::time::Duration::from_millis(100));
        while rx.try_recv().is_ok() {}
        std::thread::sleep(std::time::Duration::from_millis(300));
        rx.try_recv().is_err()
    }

    #[test]
    fn camera_and_microphone_can_be_replaced_while_capturing() {
        let format = VideoFormat {
            width: 320,
            height: 240,
            fps: 30,
        };
        let second = std::time::Duration::from_secs(1);
        let view = Arc::new(VideoOut::default());
        let mut capture = Capture::new(
            format,
            100_000,
            second,
            Some(view.clone()),
            VoiceProcessor::new(conclave_media::VoiceSettings::OFF),
        );
        assert!(!capture.camera_chosen() && !capture.mic_chosen());
        // A camera that is not there: said, and nothing captured.
        capture.set_camera(&CameraChoice::Device(99));
        eventually("the missing camera reported", || {
            !lock(&capture.problems).is_empty()
        });
        let problems = lock(&capture.problems).clone();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].problem, super::super::Problem::NotFound);
        assert!(!capture.camera_open());
        // Another one: the old problem is forgotten, pictures arrive, the first a keyframe.
        capture.set_camera(&CameraChoice::Synthetic);
        let first = capture.video.blocking_recv().expect("a picture");
        assert!(first.keyframe);
        assert!(lock(&capture.problems).is_empty());
        assert!(capture.camera_chosen() && capture.camera_open());
        assert!(view.newer_than(SELF_FEED, 0).is_some(), "the self-view");
        // Turned off, the camera is closed: nothing more arrives, and its self-view picture is
        // gone. On again, it starts afresh.
        capture.set_camera_on(false);
        assert!(quiet(&mut capture.video));
        assert!(!capture.camera_open() && capture.camera_chosen());
        assert!(view.newer_than(SELF_FEED, 0).is_none());
        capture.set_camera_on(true);
        assert!(capture.video.blocking_recv().expect("a picture").keyframe);
        // The microphone too.
        let tone = conclave_media::synthetic::Signal::Tone {
            hz: 440.0,
            amplitude: 0.3,
        };
        capture.set_mic(&MicChoice::Synthetic(tone));
        assert!(capture.audio.blocking_recv().is_some());
        assert!(capture.mic_open());
        // No camera: its thread is gone, so nothing more arrives; the microphone goes on.
        capture.set_camera(&CameraChoice::None);
        assert!(quiet(&mut capture.video));
        assert!(
            !capture.camera_chosen() && capture.mic_chosen(),
            "the microphone still captures"
        );
        assert!(capture.audio.blocking_recv().is_some());
        capture.stop();
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
