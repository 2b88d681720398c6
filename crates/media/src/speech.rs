//! The speech sample of the synthetic microphone: `assets/speech-sample.wav`, generated with
//! espeak-ng (see `assets/README.md`), 16 kHz mono, converted once to 48 kHz.

use std::sync::OnceLock;

use crate::frame::SAMPLE_RATE;
use crate::resample::Resampler;

static WAV: &[u8] = include_bytes!("../../../assets/speech-sample.wav");

/// The sample at 48 kHz, in [-1, 1].
pub fn samples() -> &'static [f32] {
    static SAMPLES: OnceLock<Vec<f32>> = OnceLock::new();
    SAMPLES.get_or_init(|| {
        let (rate, pcm) = parse_wav(WAV).unwrap_or((SAMPLE_RATE, vec![0.0; 960]));
        Resampler::convert_all(rate, SAMPLE_RATE, &pcm).unwrap_or(pcm)
    })
}

/// Reads a 16-bit mono PCM WAV file: its rate and samples.
fn parse_wav(bytes: &[u8]) -> Option<(u32, Vec<f32>)> {
    if bytes.get(..4)? != b"RIFF" || bytes.get(8..12)? != b"WAVE" {
        return None;
    }
    let (mut rate, mut at) = (None, 12);
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().ok()?) as usize;
        let body = bytes.get(at + 8..at + 8 + len)?;
        match id {
            b"fmt " => {
                let format = u16::from_le_bytes(body.get(..2)?.try_into().ok()?);
                let channels = u16::from_le_bytes(body.get(2..4)?.try_into().ok()?);
                let bits = u16::from_le_bytes(body.get(14..16)?.try_into().ok()?);
                if format != 1 || channels != 1 || bits != 16 {
                    return None;
                }
                rate = Some(u32::from_le_bytes(body.get(4..8)?.try_into().ok()?));
            }
            b"data" => {
                let pcm = body
                    .chunks_exact(2)
                    .map(|s| f32::from(i16::from_le_bytes([s[0], s[1]])) / 32768.0)
                    .collect();
                return Some((rate?, pcm));
            }
            _ => {}
        }
        at += 8 + len + (len & 1);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_is_seconds_of_audible_speech() {
        let s = samples();
        let seconds = s.len() as f32 / SAMPLE_RATE as f32;
        assert!((8.0..10.0).contains(&seconds), "{seconds}");
        let rms = (s.iter().map(|x| x * x).sum::<f32>() / s.len() as f32).sqrt();
        assert!(rms > 0.02, "{rms}");
    }

    #[test]
    fn malformed_wav_files_are_refused() {
        assert!(parse_wav(b"RIFF....WAVE").is_none());
        assert!(parse_wav(&WAV[..40]).is_none());
        assert!(parse_wav(b"not a wav file at all").is_none());
    }
}
