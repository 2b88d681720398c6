//! What capture and playback devices look like to the rest of Conclave. Real devices and the
//! synthetic ones implement the same traits, so every pipeline runs without hardware.

use std::time::{Duration, Instant};

use crate::error::DeviceError;
use crate::frame::{AudioFrame, VideoFrame};

/// Picture size and rate a video source delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VideoFormat {
    /// Width in pixels (even).
    pub width: usize,
    /// Height in pixels (even).
    pub height: usize,
    /// Frames per second.
    pub fps: u32,
}

/// A camera.
pub trait VideoSource: Send {
    /// What it delivers (after conversion to I420).
    fn format(&self) -> VideoFormat;
    /// Blocks until the next frame. A camera that went away answers
    /// [`DeviceError::Disconnected`]; the caller carries on without video.
    fn next_frame(&mut self) -> Result<VideoFrame, DeviceError>;
}

/// A microphone, delivering 20 ms of 48 kHz mono at a time.
pub trait AudioSource: Send {
    /// Blocks until the next 20 ms are captured.
    fn next_frame(&mut self) -> Result<AudioFrame, DeviceError>;
}

/// What a loudspeaker did with samples it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Played {
    /// Queued whole: they will be heard.
    Queued,
    /// Dropped whole, none of them queued: the device is behind, and what stands in its queue
    /// would otherwise be heard later and later. An echo canceller must not be told of them.
    Skipped,
}

/// A loudspeaker, taking 48 kHz mono.
pub trait AudioSink: Send {
    /// Queues samples for playback, or drops them whole; returns once they are accepted (not
    /// necessarily heard).
    fn play(&mut self, samples: &[f32]) -> Result<Played, DeviceError>;

    /// Times the device ran out of samples while playing (each an audible gap) so far.
    fn gaps(&self) -> u64 {
        0
    }
}

/// Paces a synthetic source to real time, or lets it run as fast as the consumer pulls.
#[derive(Debug)]
pub(crate) struct Pacer {
    start: Option<Instant>,
    period: Duration,
    real_time: bool,
}

impl Pacer {
    pub(crate) fn new(period: Duration, real_time: bool) -> Self {
        Pacer {
            start: None,
            period,
            real_time,
        }
    }

    /// Waits until item `index` is due.
    pub(crate) fn wait(&mut self, index: u64) {
        if !self.real_time {
            return;
        }
        let start = *self.start.get_or_insert_with(Instant::now);
        let due = start
            + self
                .period
                .saturating_mul(index.min(u64::from(u32::MAX)) as u32);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
    }
}
