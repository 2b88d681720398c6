//! Conclave's meeting core, free of IO: join links (where a meeting is and the secret that admits
//! its participants), the meeting state machine ([`meeting::Meeting`]: roster, tracks, keys,
//! keyframes, reconnection, active speaker), the control messages participants exchange
//! end-to-end encrypted, and the SFU-neutral boundary with one adapter per SFU dialect.

pub mod control;
mod error;
pub mod link;
pub mod meeting;
pub mod sfu;

pub use control::{
    Control, DATA_CONTROL, DATA_FRAMES, DATA_KEYS, MAX_CHAT_CHARS, REACTIONS, valid_chat,
};
pub use error::{ControlError, LinkError, SignalError};
pub use link::{Dialect, JoinLink, RoomSecret, SfuAddress};
