//! The headless participant: joins a meeting through an SFU, publishes camera and microphone,
//! receives everyone else, and counts what it sees. `conclave join`, the desktop app and the
//! tests all drive this.

mod capture;
pub(crate) use capture::audio_level;
pub mod chat_lines;
mod command;
pub mod device_problem;
mod early_dtls;
mod encoded_out;
mod estimate;
mod keyframe_requests;
pub mod keylog;
mod loudness;
mod meeting;
mod nack_filter;
mod options;
mod pacing;
mod peer;
mod playback;
mod preview;
mod receive;
mod report_estimate;
mod run;
mod send;
mod sfu;
pub mod stats;
mod tally;
pub mod tls;
mod video_out;

pub use command::DeviceChange;
pub use device_problem::{Device, DeviceProblem, Problem};
pub use encoded_out::{Ask, EncodedOut, Unit};
pub use meeting::{Event, EventStream, Meeting, Switches};
pub use options::JoinOptions;
pub use peer::{IceServer, UnusableIce};
pub use preview::{PREVIEW_FEED, Preview};
pub use run::{SECOND_VIDEO, join};
pub use stats::{Connection, ErrorKind, MeetingStats};
pub use video_out::SELF_FEED;
pub use video_out::{Latest, VideoOut};

/// What can end a meeting for this participant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The signalling connection failed or closed.
    #[error("signalling: {0}")]
    Signalling(String),
    /// WebRTC failed.
    #[error("media connection: {0}")]
    WebRtc(String),
    /// Keys could not be set up.
    #[error("keys: {0}")]
    Keys(String),
    /// Relay-only media, but the TURN server gave no relay address.
    #[error(
        "the TURN server gave no relay address: it refused the user name or password, or did not answer"
    )]
    NoRelay,
}
