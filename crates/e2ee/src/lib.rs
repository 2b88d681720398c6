//! End-to-end encryption of media frames for Conclave: SFrame (RFC 9605) on `ring`.
//!
//! This crate owns everything between an encoded frame and the bytes an SFU may see: the SFrame
//! header, key derivation and the sender-key ratchet, the five cipher suites, per-sender counters
//! and key rings with replay protection, and the codec-aware framing that keeps H.264 packetizable.
//! It is pure: no IO, no clock, no threads. Keys are zeroized on drop and never printed.

pub mod aead;
pub mod attest;
mod error;
pub mod frame;
pub mod framing;
mod header;
mod key;
mod kid;
mod receiver;
mod replay;
mod sender;
mod suite;

pub use attest::{AttestError, Attestation, FrameLog, SIGNED_AHEAD, Signer, Statement};
pub use error::{
    DecryptError, DropReason, EncryptError, FramingError, HeaderError, KeyError, SuiteError,
};
pub use framing::Codec;
pub use header::{Counter, EncodedHeader, Header, KeyId, MAX_HEADER_LEN};
pub use key::{BaseKey, KeyMaterial, SframeKey};
pub use kid::KidScheme;
pub use receiver::{MAX_GENERATIONS, MAX_RATCHET_AHEAD, ReceiveStats, Receiver};
pub use replay::{MAX_JUMP, REPLAY_WINDOW, Replay, ReplayWindow};
pub use sender::Sender;
pub use suite::{CipherSuite, NONCE_LEN};
