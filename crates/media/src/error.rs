//! Errors at the media crate's boundary: one for devices, one for codecs.

use thiserror::Error;

/// A capture or playback device problem. None of these is fatal to a meeting: the caller carries
/// on without that device and tells the user.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// There is no such device (or none at all).
    #[error("no {kind} found{}", .name.as_ref().map(|n| format!(" named \"{n}\"")).unwrap_or_default())]
    NotFound {
        /// "camera", "microphone" or "speaker".
        kind: &'static str,
        /// The name asked for, if any.
        name: Option<String>,
    },
    /// The device exists but could not be opened.
    #[error("the {kind} could not be opened: {reason}")]
    Open {
        /// "camera", "microphone" or "speaker".
        kind: &'static str,
        /// What the platform said.
        reason: String,
    },
    /// The device stopped delivering (unplugged, taken by another program, server gone).
    #[error("the {kind} was disconnected: {reason}")]
    Disconnected {
        /// "camera", "microphone" or "speaker".
        kind: &'static str,
        /// What the platform said.
        reason: String,
    },
    /// A format that cannot be produced or converted.
    #[error("unsupported format: {0}")]
    UnsupportedFormat(String),
}

/// An encoder or decoder problem.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The codec library could not be set up.
    #[error("the {codec} codec could not be initialised: {reason}")]
    Init {
        /// "H.264" or "Opus".
        codec: &'static str,
        /// What the library said.
        reason: String,
    },
    /// Encoding a frame failed.
    #[error("{codec} encoding failed: {reason}")]
    Encode {
        /// "H.264" or "Opus".
        codec: &'static str,
        /// What the library said.
        reason: String,
    },
    /// A frame could not be decoded (corrupt, or its reference frames were lost): ask the sender
    /// for a keyframe.
    #[error("{codec} decoding failed: {reason}")]
    Decode {
        /// "H.264" or "Opus".
        codec: &'static str,
        /// What the library said.
        reason: String,
    },
}
