//! Streaming sample-rate conversion of mono audio, so devices at any rate meet Opus at 48 kHz.

use std::collections::VecDeque;

use rubato::{FftFixedIn, Resampler as _};

use crate::error::DeviceError;

const CHUNK: usize = 480;

/// Converts a mono stream from one rate to another, in whatever pieces it arrives.
pub struct Resampler {
    inner: Option<FftFixedIn<f32>>,
    pending: Vec<f32>,
    out: VecDeque<f32>,
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("passthrough", &self.inner.is_none())
            .finish_non_exhaustive()
    }
}

impl Resampler {
    /// A converter from `from` Hz to `to` Hz (a pass-through if they are equal).
    pub fn new(from: u32, to: u32) -> Result<Self, DeviceError> {
        let inner = if from == to {
            None
        } else {
            Some(
                FftFixedIn::new(from as usize, to as usize, CHUNK, 2, 1).map_err(|e| {
                    DeviceError::UnsupportedFormat(format!("resampling {from} Hz to {to} Hz: {e}"))
                })?,
            )
        };
        Ok(Resampler {
            inner,
            pending: Vec::new(),
            out: VecDeque::new(),
        })
    }

    /// Feeds input samples.
    pub fn push(&mut self, samples: &[f32]) {
        let Some(inner) = &mut self.inner else {
            self.out.extend(samples);
            return;
        };
        self.pending.extend_from_slice(samples);
        loop {
            let need = inner.input_frames_next();
            if self.pending.len() < need {
                break;
            }
            let chunk: Vec<f32> = self.pending.drain(..need).collect();
            // Sizes are what the resampler asked for, so processing cannot fail.
            if let Ok(mut out) = inner.process(&[chunk], None) {
                self.out.extend(out.swap_remove(0));
            }
        }
    }

    /// Takes `n` converted samples if that many are ready.
    pub fn pop(&mut self, n: usize) -> Option<Vec<f32>> {
        (self.out.len() >= n).then(|| self.out.drain(..n).collect())
    }

    /// Converted samples ready to take.
    pub fn available(&self) -> usize {
        self.out.len()
    }

    /// Converts a whole clip, padding the end so nothing stays behind in the filter.
    pub fn convert_all(from: u32, to: u32, samples: &[f32]) -> Result<Vec<f32>, DeviceError> {
        let mut r = Resampler::new(from, to)?;
        r.push(samples);
        r.push(&vec![0.0; 4 * CHUNK]);
        let expected = (samples.len() as u64 * u64::from(to) / u64::from(from)) as usize;
        let mut out: Vec<f32> = r.out.into_iter().collect();
        // Drop the filter's delay so the clip starts where it did.
        let delay = r
            .inner
            .as_ref()
            .map_or(0, |i| i.output_delay())
            .min(out.len());
        out.drain(..delay);
        out.truncate(expected);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin())
            .collect()
    }

    /// Zero crossings per second: a frequency estimate that needs no FFT.
    fn crossings_per_second(samples: &[f32], rate: u32) -> f32 {
        let c = samples
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        c as f32 / 2.0 / (samples.len() as f32 / rate as f32)
    }

    #[test]
    fn a_tone_keeps_its_pitch_across_rates() {
        for from in [44_100, 16_000, 96_000] {
            let input = tone(from, 440.0, from as usize);
            let out = Resampler::convert_all(from, 48_000, &input).unwrap();
            assert!(
                (out.len() as i64 - 48_000).abs() <= 1,
                "{from}: {}",
                out.len()
            );
            let hz = crossings_per_second(&out[4800..43_200], 48_000);
            assert!((hz - 440.0).abs() < 2.0, "{from}: {hz}");
        }
    }

    #[test]
    fn streaming_in_odd_pieces_delivers_steadily() {
        let mut r = Resampler::new(44_100, 48_000).unwrap();
        let input = tone(44_100, 300.0, 44_100);
        let mut frames = 0;
        for piece in input.chunks(441) {
            r.push(piece);
            while r.pop(960).is_some() {
                frames += 1;
            }
        }
        // One second in, 50 frames out minus what the filter still holds.
        assert!((47..=50).contains(&frames), "{frames}");
    }

    #[test]
    fn equal_rates_pass_through() {
        let mut r = Resampler::new(48_000, 48_000).unwrap();
        r.push(&[0.1, 0.2, 0.3]);
        assert_eq!(r.pop(3), Some(vec![0.1, 0.2, 0.3]));
        assert_eq!(r.pop(1), None);
    }
}
