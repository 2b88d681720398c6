//! Codec-aware framing: how a whole encoded frame becomes what goes on the wire, so that RTP
//! packetizers and SFUs keep working on protected media.

pub mod h264;

use crate::error::{DecryptError, DropReason, EncryptError};
use crate::receiver::Receiver;
use crate::sender::Sender;

/// How a frame of a given kind is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// H.264 Annex B access units: headers up to the first slice stay readable (see [`h264`]).
    H264,
    /// H.264 of a shared screen or window: framed as [`Codec::H264`], sealed as a share, so
    /// that what a receiver shows on the stage as someone's screen is what they sent as one (an
    /// SFU cannot pass a camera off as a share or the other way round).
    H264Screen,
    /// Opus packets: the whole packet is encrypted; the audio level travels in the RTP header
    /// extension (RFC 6464), outside the frame.
    Opus,
    /// Anything else (e.g. Conclave's data messages): the whole payload is encrypted.
    Generic,
}

impl Codec {
    /// The byte that starts every frame's metadata: a frame sealed as one kind never opens as
    /// another (a control message as audio, say).
    fn tag(self) -> u8 {
        match self {
            Codec::H264 => b'V',
            Codec::H264Screen => b'S',
            Codec::Opus => b'A',
            Codec::Generic => b'C',
        }
    }
}

impl Sender {
    /// Encrypts one encoded frame as `codec` framing requires.
    pub fn protect(&mut self, codec: Codec, frame: &[u8]) -> Result<Vec<u8>, EncryptError> {
        match codec {
            Codec::Opus | Codec::Generic => self.encrypt(&[codec.tag()], frame),
            Codec::H264 | Codec::H264Screen => {
                let split = h264::split(frame)?;
                let (clear, rest) = frame.split_at(split.clear_end);
                let sealed = self.encrypt(&metadata(codec, &split.metadata), rest)?;
                let mut out = Vec::with_capacity(clear.len() + sealed.len() * 65 / 64 + 2);
                out.extend_from_slice(clear);
                h264::escape_into(&mut out, &sealed, split.trailing_zeros);
                out.push(h264::TERMINATOR);
                Ok(out)
            }
        }
    }
}

impl Receiver {
    /// Reverses [`Sender::protect`]; every failure is counted in [`Receiver::stats`].
    pub fn unprotect(&mut self, codec: Codec, wire: &[u8]) -> Result<Vec<u8>, DecryptError> {
        match codec {
            Codec::Opus | Codec::Generic => self.decrypt(&[codec.tag()], wire),
            Codec::H264 | Codec::H264Screen => {
                let (split, sealed) = match unframe_h264(wire) {
                    Ok(parts) => parts,
                    Err(e) => {
                        self.count_drop(DropReason::Malformed);
                        return Err(e);
                    }
                };
                let plain = self.decrypt(&metadata(codec, &split.metadata), &sealed)?;
                // The canonical clear part, as authenticated: not the bytes as delivered, in
                // which an SFU may have slipped delimiters or filler.
                let mut out = split.metadata;
                out.extend_from_slice(&plain);
                Ok(out)
            }
        }
    }
}

impl Receiver {
    /// Reverses [`Sender::protect`] for a video frame sealed as a camera's ([`Codec::H264`]) or
    /// a share's ([`Codec::H264Screen`]), trying `first` before the other, and says which it
    /// was. Counted once in [`Receiver::stats`], as [`Receiver::unprotect`] counts.
    pub fn unprotect_video(
        &mut self,
        first: Codec,
        wire: &[u8],
    ) -> Result<(Codec, Vec<u8>), DecryptError> {
        let other = if first == Codec::H264Screen {
            Codec::H264
        } else {
            Codec::H264Screen
        };
        let (split, sealed) = match unframe_h264(wire) {
            Ok(parts) => parts,
            Err(e) => {
                self.count_drop(DropReason::Malformed);
                return Err(e);
            }
        };
        let mut result = self.try_decrypt(&metadata(first, &split.metadata), &sealed);
        let mut codec = first;
        if matches!(result, Err(DecryptError::Authentication { .. })) {
            codec = other;
            result = self.try_decrypt(&metadata(other, &split.metadata), &sealed);
        }
        match result {
            Ok(plain) => {
                self.count_decrypted();
                let mut out = split.metadata;
                out.extend_from_slice(&plain);
                Ok((codec, out))
            }
            Err(e) => {
                self.count_drop(e.reason());
                Err(e)
            }
        }
    }
}

/// A frame's SFrame metadata: its kind, then what its framing authenticates in the clear.
fn metadata(codec: Codec, clear: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(1 + clear.len());
    m.push(codec.tag());
    m.extend_from_slice(clear);
    m
}

/// The clear prefix and the unescaped SFrame ciphertext of a protected access unit.
fn unframe_h264(wire: &[u8]) -> Result<(h264::Split, Vec<u8>), DecryptError> {
    let split = h264::split(wire)?;
    let body = wire
        .get(split.clear_end..)
        .and_then(|b| b.strip_suffix(&[h264::TERMINATOR]))
        .ok_or(crate::error::FramingError::MissingTerminator)?;
    let sealed = h264::unescape(body, split.trailing_zeros)?;
    Ok((split, sealed))
}
