//! Errors at the group crate's boundary.

use thiserror::Error;

/// Bytes that are not a well-formed key-agreement message.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// Shorter than its fixed parts.
    #[error("the message is truncated")]
    Truncated,
    /// Longer than any legal message.
    #[error("the message is too long ({0} bytes)")]
    TooLong(usize),
    /// A protocol version this client does not speak.
    #[error("unsupported protocol version {0}")]
    Version(u8),
    /// An unknown message type.
    #[error("unknown message type {0}")]
    UnknownType(u8),
    /// A part of the wrong length.
    #[error("expected {expected} bytes, got {got}")]
    Length {
        /// What the format requires.
        expected: usize,
        /// What arrived.
        got: usize,
    },
    /// A sender key of an impossible length.
    #[error("a sender key of {0} bytes (16 to 64 allowed)")]
    KeyLength(usize),
    /// Bytes after the end of the message.
    #[error("trailing bytes after the message")]
    Trailing,
}

/// A message that was refused. None of these changes the state of an established channel.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupError {
    /// Malformed bytes.
    #[error("malformed key-agreement message: {0}")]
    Wire(#[from] WireError),
    /// The message claims to come from someone other than whose channel carried it.
    #[error("a message claiming another sender")]
    Spoofed,
    /// A handshake message that does not verify: the peer lacks the room secret, or someone
    /// tampered with the message.
    #[error("a handshake with participant {peer} failed: {reason}")]
    Handshake {
        /// Who.
        peer: u64,
        /// Why, for the user.
        reason: &'static str,
    },
    /// A handshake message that does not fit the handshake's state (a stray or replayed one).
    #[error("an unexpected handshake message from participant {0}")]
    Unexpected(u64),
    /// A sealed message that does not authenticate, or replays an earlier nonce.
    #[error("a sealed message from participant {0} did not authenticate")]
    Unauthentic(u64),
    /// A sealed message from someone with no established channel.
    #[error("a sealed message from participant {0}, with whom there is no channel")]
    NoChannel(u64),
    /// A sender key that is older than, or conflicts with, one already held.
    #[error("a stale or conflicting sender key from participant {0}")]
    StaleKey(u64),
}

/// A local failure: the platform's randomness or the cryptographic library refused.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetupError {
    /// No randomness.
    #[error("the system's random number generator failed")]
    Random,
    /// Noise could not be set up (a bug, or a corrupt stored identity).
    #[error("the handshake could not be set up: {0}")]
    Noise(String),
    /// A stored identity of the wrong size.
    #[error("a stored identity must be 32 bytes")]
    IdentityLength,
}
