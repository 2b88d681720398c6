//! How loud a participant is, for "who is speaking" and the preview's meter.

/// A loudness meter for "who is speaking": the frame's RMS, rising at once and falling over
/// about half a second, so a speaker stays highlighted across the gaps between words.
pub fn speech_level(previous: f32, samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return previous;
    }
    let rms = (samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32).sqrt();
    rms.max(previous * 0.92)
}
