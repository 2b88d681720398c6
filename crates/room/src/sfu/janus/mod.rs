//! Janus VideoRoom (Janus 1.x, multistream) over its WebSocket transport.

pub mod message;
pub mod session;

pub use session::{Failure, JanusSession, JoinConfig, RemoteStream, SfuEvent};
