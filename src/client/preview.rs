//! The pre-join preview: the camera's picture and the microphone's level, from the same devices
//! the self-test and the meeting open, until the user joins or leaves the screen.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread::JoinHandle;

use crate::selftest::{Options, SpeakerChoice, open_audio, open_camera};

use super::VideoOut;
use super::loudness::speech_level;
pub use super::video_out::SELF_FEED;

/// The preview's feed id.
pub const PREVIEW_FEED: u64 = SELF_FEED;

/// A running preview.
pub struct Preview {
    stop: Arc<AtomicBool>,
    /// The microphone's level (an f32's bits), falling slowly like the meeting's speaker meter.
    level: Arc<AtomicU32>,
    threads: Vec<JoinHandle<()>>,
    /// Devices that could not be opened, and why.
    pub warnings: Vec<super::DeviceProblem>,
}

impl std::fmt::Debug for Preview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preview").finish_non_exhaustive()
    }
}

impl Preview {
    /// Opens the camera and microphone `options` name; pictures go to `out` as [`PREVIEW_FEED`].
    pub fn start(options: &Options, out: Arc<VideoOut>) -> Preview {
        let stop = Arc::new(AtomicBool::new(false));
        let level = Arc::new(AtomicU32::new(0));
        let mut warnings = Vec::new();
        let mut threads = Vec::new();
        match open_camera(options) {
            Ok(Some(mut camera)) => {
                let stop = stop.clone();
                threads.push(std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match camera.next_frame() {
                            Ok(frame) => out.put(PREVIEW_FEED, frame),
                            Err(_) => break,
                        }
                    }
                }));
            }
            Ok(None) => {}
            Err(e) => warnings.push(e),
        }
        // The preview only listens to the microphone: nothing is played.
        let audio_options = Options {
            speaker: SpeakerChoice::Null,
            ..options.clone()
        };
        match open_audio(&audio_options) {
            Ok(Some((mut mic, _))) => {
                let (stop, level) = (stop.clone(), level.clone());
                threads.push(std::thread::spawn(move || {
                    let mut current = 0f32;
                    while !stop.load(Ordering::Relaxed) {
                        let Ok(frame) = mic.next_frame() else {
                            break;
                        };
                        current = speech_level(current, &frame.samples);
                        level.store(current.to_bits(), Ordering::Relaxed);
                    }
                }));
            }
            Ok(None) => {}
            Err(e) => warnings.push(e),
        }
        Preview {
            stop,
            level,
            threads,
            warnings,
        }
    }

    /// The microphone's level now, 0–1.
    pub fn level(&self) -> f32 {
        f32::from_bits(self.level.load(Ordering::Relaxed))
    }

    /// Closes the devices (before the meeting opens them again).
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selftest::{CameraChoice, MicChoice};
    use conclave_media::synthetic::Signal;

    #[test]
    fn the_preview_shows_the_camera_and_measures_the_microphone() {
        let mut options = Options::synthetic(std::time::Duration::from_secs(1));
        options.camera = CameraChoice::Synthetic;
        options.mic = MicChoice::Synthetic(Signal::Tone {
            hz: 440.0,
            amplitude: 0.5,
        });
        options.video.width = 320;
        options.video.height = 240;
        let out = Arc::new(VideoOut::default());
        let preview = Preview::start(&options, out.clone());
        assert!(preview.warnings.is_empty(), "{:?}", preview.warnings);
        std::thread::sleep(std::time::Duration::from_millis(300));
        let picture = out.newer_than(PREVIEW_FEED, 0).expect("a picture");
        assert_eq!(picture.frame.width, 320);
        // A 0.5 sine has an RMS of about 0.35.
        assert!(preview.level() > 0.3, "{}", preview.level());
        preview.stop();

        options.camera = CameraChoice::None;
        options.mic = MicChoice::None;
        let nothing = Preview::start(&options, out);
        assert!(nothing.warnings.is_empty());
        assert_eq!(nothing.level(), 0.0);
        nothing.stop();
    }
}
