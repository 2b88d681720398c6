//! Key agreement for Conclave meetings (docs/PROTOCOL.md): the room secret from the link admits
//! people — it is the pre-shared key of a Noise `XXpsk0` handshake between every two
//! participants — and never decrypts media. Each participant's SFrame sender key is random, sent
//! to each peer over that peer's channel, ratcheted when people join and replaced when they
//! leave. Participants compare one group code to know that nobody sits in the middle.
//!
//! Sans-IO like the rest of the core: [`Group`] takes participant ids, bytes and time, and gives
//! bytes to broadcast and [`GroupEvent`]s.

mod error;
mod group;
pub mod handshake;
mod identity;
pub mod sender_key;
pub mod verify;
pub mod wire;

pub use error::{GroupError, SetupError, WireError};
pub use group::{
    BASE_KEY_LEN, CONFIRM_TIMEOUT, DEBOUNCE, GRACE, Group, GroupEvent, GroupStats,
    HANDSHAKE_TIMEOUT, MAX_DEBOUNCE, RETRY, RETRY_AFTER_FAILURE,
};
pub use handshake::Psk;
pub use identity::Identity;
pub use verify::{GroupCode, commitment, safety_number, view_of};
