//! Errors at the room crate's boundary.

use thiserror::Error;

/// A join link that cannot be used. Each says what is wrong, for the user to see.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkError {
    /// The system's random number generator failed (no new link without fresh randomness).
    #[error("the system's random number generator failed")]
    Random,
    /// Not a URL at all.
    #[error("this is not a link: {0}")]
    NotUrl(String),
    /// Longer than any link Conclave makes.
    #[error("the link is too long ({0} bytes; at most 2048)")]
    TooLong(usize),
    /// Neither `conclave:` nor `https:`.
    #[error("unsupported link scheme \"{0}\": join links start with conclave:// or https://")]
    Scheme(String),
    /// Right scheme, wrong layout.
    #[error("{0}")]
    Shape(String),
    /// A required part is absent.
    #[error("the link has no {0}")]
    Missing(&'static str),
    /// A part given twice.
    #[error("\"{0}\" appears twice in the link")]
    Duplicate(String),
    /// A part Conclave does not know (a typo, or a link for a newer version).
    #[error("unknown field \"{0}\" in the link")]
    UnknownField(String),
    /// The room name has characters outside the allowed set or a bad length.
    #[error("the room name must be 1 to 64 letters, digits, - or _")]
    Room,
    /// The secret is not 32 bytes of base64url.
    #[error("the room secret must be 32 bytes in base64url (43 characters)")]
    Secret,
    /// The room PIN is empty, too long or has control characters.
    #[error("the room PIN must be 1 to 64 printable characters")]
    Pin,
    /// The SFU address has a scheme Conclave cannot speak.
    #[error(
        "the SFU address must start with ws://, wss://, janus+ws://, janus+wss://, galene+ws:// or galene+wss://, not \"{0}\""
    )]
    SfuScheme(String),
    /// The SFU address has no scheme.
    #[error("the SFU address is not a URL")]
    SfuNotUrl,
    /// The SFU address parsed but cannot be used.
    #[error("the SFU address is unusable: {0}")]
    SfuUrl(String),
}

/// A signalling message from the SFU that cannot be used. Hostile or broken input ends here, with
/// the connection kept and the message dropped (or the session restarted, for protocol errors).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignalError {
    /// Larger than any message we expect.
    #[error("signalling message too large ({0} bytes)")]
    TooLarge(usize),
    /// Not JSON.
    #[error("signalling message is not JSON: {0}")]
    NotJson(String),
    /// JSON, but not shaped as the protocol says.
    #[error("malformed signalling message: {0}")]
    Malformed(&'static str),
    /// A required field is absent.
    #[error("signalling message lacks \"{0}\"")]
    Missing(&'static str),
    /// A list longer than any meeting has.
    #[error("too many {0} in a signalling message")]
    TooMany(&'static str),
    /// A message type the protocol does not have.
    #[error("unknown signalling message \"{0}\"")]
    UnknownMessage(String),
}

/// A control message from another participant that cannot be used (after decryption: the sender
/// holds the key, but may run a different or broken version).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ControlError {
    /// Larger than any control message.
    #[error("control message too large ({0} bytes)")]
    TooLarge(usize),
    /// Not a control message of this version's shape.
    #[error("malformed control message: {0}")]
    Malformed(String),
    /// A protocol version this build does not speak.
    #[error("control message version {0} is not supported")]
    Version(u8),
    /// A display name that is too long or contains control characters.
    #[error("control message carries an unusable name")]
    Name,
    /// A chat message that is blank, too long or contains control characters.
    #[error("unusable chat message")]
    Chat,
    /// A reaction not among the reactions there are.
    #[error("unknown reaction")]
    Reaction,
}
