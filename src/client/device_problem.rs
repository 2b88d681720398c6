//! A camera, microphone or speaker that could not be used, as a value a display can word in its
//! own language: which device, what went wrong, and the platform's own words for the details.
//! The meeting, the preview and the self-test all go on without the device and report one of
//! these.

use std::sync::Arc;

use conclave_media::{CodecError, DeviceError};
use serde::Serialize;

/// Which device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    /// The camera: without it, no video is sent.
    Camera,
    /// The microphone: without it, no audio is sent.
    Microphone,
    /// The speaker: without it, the others are not heard.
    Speaker,
    /// The shared screen or window: without it, the share ends.
    Screen,
}

/// What went wrong with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// There is no such device (or none at all).
    NotFound,
    /// It exists but could not be opened (busy, no permission, an unusable format).
    Unavailable,
    /// It stopped while in use (unplugged, taken by another program, sound server gone).
    Stopped,
    /// Its encoder, decoder or a thread working on it failed.
    Failed,
}

/// A device that could not be used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeviceProblem {
    /// Which device.
    pub device: Device,
    /// What went wrong.
    pub problem: Problem,
    /// The platform's or library's words (English), or the device name asked for when it was
    /// not found; may be empty.
    pub detail: String,
}

impl DeviceProblem {
    /// `device` could not be opened, or stopped, as `error` says.
    pub fn from_error(device: Device, error: &DeviceError) -> Self {
        let (problem, detail) = match error {
            DeviceError::NotFound { name, .. } => (Problem::NotFound, name.clone()),
            DeviceError::Open { reason, .. } => (Problem::Unavailable, Some(reason.clone())),
            DeviceError::Disconnected { reason, .. } => (Problem::Stopped, Some(reason.clone())),
            other => (Problem::Unavailable, Some(other.to_string())),
        };
        DeviceProblem {
            device,
            problem,
            detail: detail.unwrap_or_default(),
        }
    }

    /// The encoder for `device`'s media failed.
    pub fn from_codec_error(device: Device, error: &CodecError) -> Self {
        let detail = match error {
            CodecError::Init { reason, .. }
            | CodecError::Encode { reason, .. }
            | CodecError::Decode { reason, .. } => reason.clone(),
            other => other.to_string(),
        };
        DeviceProblem {
            device,
            problem: Problem::Failed,
            detail,
        }
    }

    /// Something else failed while using `device`, as `detail` says.
    pub fn failed(device: Device, detail: impl Into<String>) -> Self {
        DeviceProblem {
            device,
            problem: Problem::Failed,
            detail: detail.into(),
        }
    }
}

/// The English sentence (the CLI's and the stats' `warnings`); the app words the fields itself.
impl std::fmt::Display for DeviceProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let device = match self.device {
            Device::Camera => "camera",
            Device::Microphone => "microphone",
            Device::Speaker => "speaker",
            Device::Screen => "screen or window to share",
        };
        let detail = &self.detail;
        match (self.problem, detail.is_empty()) {
            (Problem::NotFound, true) => write!(f, "no {device} found")?,
            (Problem::NotFound, false) => write!(f, "no {device} found named \"{detail}\"")?,
            (Problem::Unavailable, _) => write!(f, "the {device} could not be opened: {detail}")?,
            (Problem::Stopped, _) => write!(f, "the {device} was disconnected: {detail}")?,
            (Problem::Failed, _) => match self.device {
                Device::Camera => write!(f, "video failed: {detail}")?,
                Device::Microphone => write!(f, "audio failed: {detail}")?,
                Device::Speaker => write!(f, "the speaker failed: {detail}")?,
                Device::Screen => write!(f, "sharing failed: {detail}")?,
            },
        }
        f.write_str(match self.device {
            Device::Camera => "; continuing without video",
            Device::Microphone => "; continuing without audio",
            Device::Speaker => "; the others cannot be heard",
            Device::Screen => "; the share ended, the meeting goes on",
        })
    }
}

/// What is wrong with our devices now, shared between capture, playback and the report.
pub type Problems = Arc<std::sync::Mutex<Vec<DeviceProblem>>>;

/// Adds `what` to `problems`; the meeting reports it to the user.
pub fn report(problems: &Problems, what: DeviceProblem) {
    // Not the details: they can name a device, and devices are named after their owners
    // ("Alice's headset").
    tracing::warn!(device = ?what.device, problem = ?what.problem, "a device cannot be used");
    lock(problems).push(what);
}

/// Drops what `problems` says about `device`: it has been replaced.
pub fn forget(problems: &Problems, device: Device) {
    lock(problems).retain(|p| p.device != device);
}

pub(crate) fn lock(problems: &Problems) -> std::sync::MutexGuard<'_, Vec<DeviceProblem>> {
    problems
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_device_error_becomes_a_problem_with_the_platforms_words_as_detail() {
        let cases = [
            (
                DeviceError::NotFound {
                    kind: "camera",
                    name: None,
                },
                Problem::NotFound,
                "",
                "no camera found; continuing without video",
            ),
            (
                DeviceError::NotFound {
                    kind: "microphone",
                    name: Some("Headset".into()),
                },
                Problem::NotFound,
                "Headset",
                "no microphone found named \"Headset\"; continuing without audio",
            ),
            (
                DeviceError::Open {
                    kind: "camera",
                    reason: "Device or resource busy".into(),
                },
                Problem::Unavailable,
                "Device or resource busy",
                "the camera could not be opened: Device or resource busy; continuing without video",
            ),
            (
                DeviceError::Disconnected {
                    kind: "speaker",
                    reason: "stream closed".into(),
                },
                Problem::Stopped,
                "stream closed",
                "the speaker was disconnected: stream closed; the others cannot be heard",
            ),
            (
                DeviceError::UnsupportedFormat("7x7".into()),
                Problem::Unavailable,
                "unsupported format: 7x7",
                "the camera could not be opened: unsupported format: 7x7; continuing without video",
            ),
        ];
        for (error, problem, detail, sentence) in cases {
            let device = match &error {
                DeviceError::NotFound {
                    kind: "microphone", ..
                } => Device::Microphone,
                DeviceError::Disconnected { .. } => Device::Speaker,
                _ => Device::Camera,
            };
            let p = DeviceProblem::from_error(device, &error);
            assert_eq!((p.problem, p.detail.as_str()), (problem, detail), "{error}");
            assert_eq!(p.to_string(), sentence);
        }
    }

    #[test]
    fn a_failed_encoder_keeps_the_librarys_reason_and_serializes_for_the_page() {
        let p = DeviceProblem::from_codec_error(
            Device::Camera,
            &CodecError::Encode {
                codec: "H.264",
                reason: "out of memory".into(),
            },
        );
        assert_eq!(
            p.to_string(),
            "video failed: out of memory; continuing without video"
        );
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({"device": "camera", "problem": "failed", "detail": "out of memory"})
        );
    }
}
