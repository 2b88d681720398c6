//! Opus at 48 kHz mono, 20 ms frames, with in-band FEC and DTX as options, and loss concealment
//! on decode.

use crate::error::CodecError;
use crate::frame::{SAMPLE_RATE, SAMPLES_PER_FRAME};

const CODEC: &str = "Opus";

/// Largest Opus packet we produce (RFC 6716 allows 1275 bytes per frame).
const MAX_PACKET: usize = 1275;

/// Encoder settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AudioEncoderSettings {
    /// Target bitrate in bits per second.
    pub bitrate_bps: i32,
    /// In-band forward error correction, so a lost packet can be rebuilt from the next one.
    pub fec: bool,
    /// Discontinuous transmission: near-silence is sent as tiny packets.
    pub dtx: bool,
    /// Expected packet loss in percent (tunes FEC).
    pub expected_loss_percent: i32,
}

impl Default for AudioEncoderSettings {
    fn default() -> Self {
        AudioEncoderSettings {
            bitrate_bps: 32_000,
            fec: true,
            dtx: false,
            expected_loss_percent: 5,
        }
    }
}

fn init(e: opus::Error) -> CodecError {
    CodecError::Init {
        codec: CODEC,
        reason: e.to_string(),
    }
}

/// Opus encoder for speech.
pub struct OpusEncoder {
    inner: opus::Encoder,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpusEncoder")
    }
}

impl OpusEncoder {
    /// An encoder with `settings`.
    pub fn new(settings: AudioEncoderSettings) -> Result<Self, CodecError> {
        let mut inner =
            opus::Encoder::new(SAMPLE_RATE, opus::Channels::Mono, opus::Application::Voip)
                .map_err(init)?;
        inner
            .set_bitrate(opus::Bitrate::Bits(settings.bitrate_bps))
            .map_err(init)?;
        inner.set_inband_fec(settings.fec).map_err(init)?;
        inner.set_dtx(settings.dtx).map_err(init)?;
        inner
            .set_packet_loss_perc(settings.expected_loss_percent)
            .map_err(init)?;
        Ok(OpusEncoder { inner })
    }

    /// Encodes 20 ms ([`SAMPLES_PER_FRAME`] samples).
    pub fn encode(&mut self, samples: &[f32]) -> Result<Vec<u8>, CodecError> {
        if samples.len() != SAMPLES_PER_FRAME {
            return Err(CodecError::Encode {
                codec: CODEC,
                reason: format!("{} samples, not {SAMPLES_PER_FRAME}", samples.len()),
            });
        }
        self.inner
            .encode_vec_float(samples, MAX_PACKET)
            .map_err(|e| CodecError::Encode {
                codec: CODEC,
                reason: e.to_string(),
            })
    }
}

/// Opus decoder.
pub struct OpusDecoder {
    inner: opus::Decoder,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpusDecoder")
    }
}

impl OpusDecoder {
    /// A decoder.
    pub fn new() -> Result<Self, CodecError> {
        let inner = opus::Decoder::new(SAMPLE_RATE, opus::Channels::Mono).map_err(init)?;
        Ok(OpusDecoder { inner })
    }

    /// Decodes one packet to 20 ms of samples.
    pub fn decode(&mut self, packet: &[u8]) -> Result<Vec<f32>, CodecError> {
        self.run(packet, false)
    }

    /// 20 ms for a lost packet: rebuilt from the FEC data in `next` (the packet after the lost
    /// one) if it has any, otherwise concealed.
    pub fn conceal(&mut self, next: Option<&[u8]>) -> Result<Vec<f32>, CodecError> {
        match next {
            Some(next) => self.run(next, true),
            None => self.run(&[], false),
        }
    }

    fn run(&mut self, packet: &[u8], fec: bool) -> Result<Vec<f32>, CodecError> {
        let mut out = vec![0.0; SAMPLES_PER_FRAME];
        let n = self
            .inner
            .decode_float(packet, &mut out, fec)
            .map_err(|e| CodecError::Decode {
                codec: CODEC,
                reason: e.to_string(),
            })?;
        out.truncate(n);
        out.resize(SAMPLES_PER_FRAME, 0.0);
        Ok(out)
    }
}
