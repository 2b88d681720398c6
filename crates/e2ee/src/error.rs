//! Errors at this crate's boundary, one enum per kind of operation.

use thiserror::Error;

use crate::header::{Counter, KeyId};

/// A cipher suite value outside the registry.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SuiteError {
    /// Not one of 0x0001–0x0005.
    #[error("unknown SFrame cipher suite 0x{0:04x}")]
    Unknown(u16),
}

/// An SFrame header that cannot be parsed.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// Zero bytes: not even a config byte.
    #[error("the frame is empty: no SFrame header")]
    Empty,
    /// The config byte announces more KID/CTR bytes than the frame holds.
    #[error("the SFrame header needs {needed} more bytes, the frame has {available}")]
    Truncated {
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the frame.
        available: usize,
    },
}

/// Key material or key configuration that cannot be used.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// A base key of zero bytes.
    #[error("the base key is empty")]
    EmptyBaseKey,
    /// Raw key material of the wrong size for the suite.
    #[error("{what} must be {expected} bytes, got {actual}")]
    WrongLength {
        /// Which value.
        what: &'static str,
        /// Size the suite needs.
        expected: usize,
        /// Size given.
        actual: usize,
    },
    /// A number of ratchet bits a KID layout cannot use.
    #[error("a KID gives 0 or 2 to 32 bits to the ratchet step, not {0}")]
    RatchetBits(u8),
    /// Ratcheting needs the KID to carry a step.
    #[error("this KID layout has no ratchet bits, so the key cannot be ratcheted")]
    NoRatchetBits,
    /// A generation too large for the KID layout.
    #[error("key generation {0} does not fit in the KID")]
    GenerationTooLarge(u64),
    /// A new sender key must have a newer generation, or counters could repeat under one KID.
    #[error("key generation {offered} is not newer than the current {current}")]
    StaleGeneration {
        /// Generation in use.
        current: u64,
        /// Generation offered.
        offered: u64,
    },
    /// A second, different key for a generation already known.
    #[error("a different key was already installed for generation {0}")]
    GenerationConflict(u64),
}

/// A frame that could not be encrypted.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncryptError {
    /// Every counter of this key has been used; a new key is needed.
    #[error("the frame counter of key {kid:?} is exhausted; rekey before sending more")]
    CounterExhausted {
        /// The exhausted key.
        kid: KeyId,
    },
    /// The frame is not valid for its codec's framing.
    #[error(transparent)]
    Framing(#[from] FramingError),
}

/// A received frame that was dropped. Every variant is counted by [`crate::Receiver`].
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecryptError {
    /// The SFrame header is malformed.
    #[error("malformed SFrame header: {0}")]
    Header(#[from] HeaderError),
    /// The codec framing around the SFrame ciphertext is malformed.
    #[error("malformed frame: {0}")]
    Framing(#[from] FramingError),
    /// Too short to hold a tag after the header.
    #[error("a {len}-byte frame is shorter than the {min} bytes of header and tag")]
    TooShort {
        /// Frame length.
        len: usize,
        /// Minimum length for its header and suite.
        min: usize,
    },
    /// No key is installed for the frame's KID.
    #[error("no key for KID {kid:?}")]
    UnknownKey {
        /// The frame's KID.
        kid: KeyId,
    },
    /// The counter was already accepted, or is too old to tell.
    #[error("replayed or stale frame: KID {kid:?}, counter {ctr:?}")]
    Replayed {
        /// The frame's KID.
        kid: KeyId,
        /// The frame's counter.
        ctr: Counter,
    },
    /// The tag does not verify: wrong key, or the frame or its metadata was altered.
    #[error("frame under KID {kid:?} failed authentication")]
    Authentication {
        /// The frame's KID.
        kid: KeyId,
    },
    /// It authenticates under the sender's key, but its sender signed another frame under this
    /// counter: someone else holding the key made it.
    #[error("forged frame: KID {kid:?}, counter {ctr:?}")]
    Forged {
        /// The frame's KID.
        kid: KeyId,
        /// The frame's counter.
        ctr: Counter,
    },
    /// Numbered too far past the highest counter its sender has signed.
    #[error("unsigned frame too far ahead: KID {kid:?}, counter {ctr:?}")]
    Unsigned {
        /// The frame's KID.
        kid: KeyId,
        /// The frame's counter.
        ctr: Counter,
    },
}

/// Why a received frame was dropped, as counted in [`crate::ReceiveStats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Header or framing malformed, or too short.
    Malformed,
    /// No key for the KID.
    UnknownKey,
    /// Replayed or too old.
    Replayed,
    /// Tag did not verify.
    Authentication,
    /// Its sender signed a different frame under this counter ([`crate::attest`]).
    Forged,
    /// Numbered too far past what its sender has signed ([`crate::attest::SIGNED_AHEAD`]).
    Unsigned,
}

impl DecryptError {
    /// The counter this error is tallied under.
    pub fn reason(&self) -> DropReason {
        match self {
            DecryptError::Header(_) | DecryptError::Framing(_) | DecryptError::TooShort { .. } => {
                DropReason::Malformed
            }
            DecryptError::UnknownKey { .. } => DropReason::UnknownKey,
            DecryptError::Replayed { .. } => DropReason::Replayed,
            DecryptError::Authentication { .. } => DropReason::Authentication,
            DecryptError::Forged { .. } => DropReason::Forged,
            DecryptError::Unsigned { .. } => DropReason::Unsigned,
        }
    }
}

/// A frame whose codec framing is not what the framing mode expects.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum FramingError {
    /// An H.264 access unit without a slice NAL unit: nothing to protect, or nothing protected.
    #[error("no H.264 slice NAL unit in the frame")]
    NoSlice,
    /// Bytes other than zeros before the first start code.
    #[error("the H.264 frame has data before its first start code")]
    BytesBeforeStartCode,
    /// The protected H.264 frame does not end in the terminator byte.
    #[error("the protected H.264 frame lacks its terminator")]
    MissingTerminator,
    /// A byte sequence that emulation prevention can never produce.
    #[error("invalid emulation-prevention escape at byte {offset}")]
    BadEscape {
        /// Offset inside the escaped payload.
        offset: usize,
    },
    /// A NAL unit before the first slice that the clear prefix never carries.
    #[error("an H.264 NAL unit of type {0} before the first slice")]
    UnexpectedNal(u8),
}
