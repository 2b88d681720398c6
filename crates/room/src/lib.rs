//! Conclave's meeting core, free of IO: join links (where a meeting is and the secret that admits
//! its participants), the control messages participants exchange end-to-end encrypted, and the
//! SFU dialects that map an SFU's signalling to neutral inputs and outputs.

pub mod control;
mod error;
pub mod link;
pub mod sfu;

pub use control::{Control, DATA_CONTROL, DATA_KEYS};
pub use error::{ControlError, LinkError, SignalError};
pub use link::{Dialect, JoinLink, RoomSecret, SfuAddress};
