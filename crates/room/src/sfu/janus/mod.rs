//! Janus VideoRoom (Janus 1.x, multistream) over its WebSocket transport.

pub mod message;
pub mod session;

use message::Id;

pub use session::{Failure, JanusEvent, JanusSession, JoinConfig, RemoteStream};

/// The Janus room number for a room name: the number itself, or the first 53 bits of the name's
/// SHA-256 (Janus's JavaScript clients keep room numbers below 2^53).
pub fn room_number(room: &str) -> Id {
    if let Ok(n) = room.parse::<u64>() {
        return n;
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, room.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_ref()[..8]);
    u64::from_be_bytes(first) >> 11
}
