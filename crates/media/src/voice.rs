//! The microphone's clean-up before it is encoded: echo cancellation, noise suppression, automatic
//! gain control and a high-pass filter — WebRTC's audio processing (AEC3, its noise suppressor,
//! AGC2), through `sonora`, a pure-Rust port (no C++ toolchain, abseil or meson needed; the
//! comparison with the other candidates is in BENCHMARKS.md, "Voice processing").
//!
//! The echo canceller needs to know what the speaker plays: the mixer hands every 20 ms it plays
//! to [`VoiceProcessor::played`], the capture thread passes every 20 ms it captured through
//! [`VoiceProcessor::process`]. The delay between the two (the speaker's and the microphone's
//! buffers, the room) is estimated by AEC3 itself.

use std::sync::{Arc, Mutex, PoisonError};

use sonora::config::{
    AdaptiveDigital, EchoCanceller, GainController2, HighPassFilter, NoiseSuppression,
    NoiseSuppressionLevel,
};
use sonora::{AudioProcessing, Config, StreamConfig};

use crate::frame::SAMPLE_RATE;

/// Which clean-ups run. All on by default; a studio microphone in a quiet room may want none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VoiceSettings {
    /// Remove what the microphone hears of our own speaker (the others' voices).
    pub echo_cancellation: bool,
    /// Remove steady background noise (fans, hum) and clicks (keys, a mouse).
    pub noise_suppression: bool,
    /// Bring a quiet or loud microphone to a steady level.
    pub gain_control: bool,
}

impl Default for VoiceSettings {
    fn default() -> Self {
        VoiceSettings::ON
    }
}

impl VoiceSettings {
    /// Everything on.
    pub const ON: VoiceSettings = VoiceSettings {
        echo_cancellation: true,
        noise_suppression: true,
        gain_control: true,
    };
    /// The microphone as it is.
    pub const OFF: VoiceSettings = VoiceSettings {
        echo_cancellation: false,
        noise_suppression: false,
        gain_control: false,
    };

    fn any(self) -> bool {
        self.echo_cancellation || self.noise_suppression || self.gain_control
    }

    /// The processing configuration: the high-pass filter (rumble, DC) runs whenever anything
    /// else does.
    fn config(self) -> Config {
        Config {
            high_pass_filter: self.any().then(HighPassFilter::default),
            echo_canceller: self.echo_cancellation.then(EchoCanceller::default),
            noise_suppression: self.noise_suppression.then(|| NoiseSuppression {
                // Moderate (~12 dB) left fan noise 8-9 dB down at best; High measured 12-16 dB
                // with the voice kept (BENCHMARKS.md).
                level: NoiseSuppressionLevel::High,
                ..NoiseSuppression::default()
            }),
            gain_controller2: self.gain_control.then(|| GainController2 {
                adaptive_digital: Some(AdaptiveDigital::default()),
                ..GainController2::default()
            }),
            ..Config::default()
        }
    }
}

/// WebRTC's processing works on 10 ms.
const CHUNK: usize = SAMPLE_RATE as usize / 100;

/// Clicks — a key, a mouse, a cup set down — are over before the noise suppressor, which learns
/// steady noise, can follow them: it leaves them 5–6 dB down at best, and WebRTC dropped its
/// transient suppressor (BENCHMARKS.md, "Voice processing"). A click's loudness rises by tens of
/// dB within a millisecond; a voice's, even at a plosive, rises a few dB per millisecond and
/// holds between its pitch pulses. So the loudness allowed through follows the signal up by at
/// most [`Clicks::RISE`] per millisecond and down by at most [`Clicks::FALL`] (across a pitch
/// period), with [`Clicks::OVER`] of headroom; what rises faster is turned down to it for the few
/// milliseconds a click lasts. No crate offers this; it is a few lines, tuned on the benchmark.
#[derive(Debug)]
struct Clicks {
    /// The mean square per millisecond that the envelope allows, before the headroom.
    level: f32,
    /// The gain applied at the end of the last millisecond, ramped from there.
    gain: f32,
}

impl Clicks {
    /// One millisecond.
    const BLOCK: usize = SAMPLE_RATE as usize / 1000;
    /// 1.5 dB per millisecond up (as power ratios).
    const RISE: f32 = 1.412_537_5;
    /// 0.5 dB per millisecond down.
    const FALL: f32 = 1.122_018_5;
    /// 9 dB above the envelope passes untouched: 6 dB took 0.01–0.03 off the voice's STOI, 12 dB
    /// left clicks on speech at 10 dB SNR only 10.4 dB down.
    const OVER: f32 = 7.943_282;
    /// The quietest envelope: −90 dB below full scale.
    const FLOOR: f32 = 1e-9;

    fn new() -> Clicks {
        Clicks {
            level: Self::FLOOR,
            gain: 1.0,
        }
    }

    fn apply(&mut self, chunk: &mut [f32]) {
        for block in chunk.chunks_mut(Self::BLOCK) {
            let power = block.iter().map(|x| x * x).sum::<f32>() / block.len() as f32;
            let allowed = self.level * Self::OVER;
            let target = if power > allowed {
                (allowed / power).sqrt()
            } else {
                1.0
            };
            self.level = if power > self.level {
                power.min(self.level * Self::RISE)
            } else {
                power.max(self.level / Self::FALL)
            }
            .max(Self::FLOOR);
            let step = (target - self.gain) / block.len() as f32;
            for s in block {
                self.gain += step;
                *s *= self.gain;
            }
        }
    }
}

#[derive(Debug)]
struct Inner {
    clicks: Clicks,
    apm: AudioProcessing,
    settings: VoiceSettings,
    /// Output buffer of one chunk.
    out: Vec<f32>,
}

/// The clean-up of one microphone, shared by the capture thread (which processes what it
/// captures) and the mixer (which reports what it plays). Cloning shares it.
#[derive(Clone, Debug)]
pub struct VoiceProcessor {
    inner: Arc<Mutex<Inner>>,
}

impl VoiceProcessor {
    /// A processor doing what `settings` asks, on 48 kHz mono.
    pub fn new(settings: VoiceSettings) -> VoiceProcessor {
        let stream = StreamConfig::new(SAMPLE_RATE, 1);
        let apm = AudioProcessing::builder()
            .config(settings.config())
            .capture_config(stream)
            .render_config(stream)
            .build();
        VoiceProcessor {
            inner: Arc::new(Mutex::new(Inner {
                apm,
                clicks: Clicks::new(),
                settings,
                out: vec![0.0; CHUNK],
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What it does now.
    pub fn settings(&self) -> VoiceSettings {
        self.lock().settings
    }

    /// Does what `settings` asks from now on (the echo canceller, turned on again, learns the
    /// room anew).
    pub fn set(&self, settings: VoiceSettings) {
        let mut inner = self.lock();
        if inner.settings != settings {
            inner.settings = settings;
            inner.apm.apply_config(settings.config());
        }
    }

    /// Cleans up captured samples in place (48 kHz mono; whole 10 ms chunks, a remainder passes
    /// as it is).
    pub fn process(&self, samples: &mut [f32]) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if !inner.settings.any() {
            return;
        }
        for chunk in samples.chunks_exact_mut(CHUNK) {
            if inner
                .apm
                .process_capture_f32(&[&*chunk], &mut [&mut inner.out])
                .is_ok()
            {
                chunk.copy_from_slice(&inner.out);
            }
            if inner.settings.noise_suppression {
                inner.clicks.apply(chunk);
            }
        }
    }

    /// Tells the echo canceller what the speaker is about to play (48 kHz mono, whole 10 ms
    /// chunks).
    pub fn played(&self, samples: &[f32]) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if !inner.settings.echo_cancellation {
            return;
        }
        for chunk in samples.chunks_exact(CHUNK) {
            let _ = inner
                .apm
                .process_render_f32(&[chunk], &mut [&mut inner.out]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::SAMPLES_PER_FRAME;
    use crate::synthetic::{Noise, keyboard};

    fn energy(s: &[f32]) -> f64 {
        s.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>() + 1e-12
    }

    /// The far end's speech, played by our speaker, heard by our microphone through a room: 80 ms
    /// later, quieter, with a decaying tail of reflections (BENCHMARKS.md has longer rooms and
    /// other delays, from examples/voice_quality.rs).
    fn room(far: &[f32]) -> Vec<f32> {
        let delay = SAMPLE_RATE as usize * 80 / 1000;
        let mut noise = Noise::new(7);
        let response: Vec<f32> = (0..960)
            .map(|i| 0.3 * (-(i as f32) / 200.0).exp() * noise.next())
            .collect();
        let mut echo = vec![0.0; far.len()];
        for (i, &x) in far.iter().enumerate() {
            if x == 0.0 {
                continue;
            }
            for (k, &h) in response.iter().enumerate() {
                if let Some(e) = echo.get_mut(i + delay + k) {
                    *e += x * h;
                }
            }
        }
        echo
    }

    fn run(settings: VoiceSettings, far: &[f32], mic: &[f32]) -> Vec<f32> {
        let voice = VoiceProcessor::new(settings);
        let mut out = Vec::with_capacity(mic.len());
        for (far, mic) in far
            .chunks_exact(SAMPLES_PER_FRAME)
            .zip(mic.chunks_exact(SAMPLES_PER_FRAME))
        {
            voice.played(far);
            let mut frame = mic.to_vec();
            voice.process(&mut frame);
            out.extend(frame);
        }
        out
    }

    #[test]
    fn the_speakers_echo_is_removed_from_the_microphone() {
        let far: Vec<f32> = crate::speech::samples()
            .iter()
            .cycle()
            .take(SAMPLE_RATE as usize * 5)
            .map(|s| s * 0.5)
            .collect();
        let echo = room(&far);
        let only = |settings| run(settings, &far, &echo);
        let kept = only(VoiceSettings::OFF);
        let cancelled = only(VoiceSettings {
            echo_cancellation: true,
            ..VoiceSettings::OFF
        });
        // After a second to learn the room, the echo return loss enhancement.
        let after = SAMPLE_RATE as usize;
        let erle = 10.0 * (energy(&kept[after..]) / energy(&cancelled[after..])).log10();
        assert!(erle >= 25.0, "echo only {erle:.1} dB down");
        // Turned off, the microphone passes as it is.
        assert_eq!(kept, echo);
    }

    #[test]
    fn a_quiet_microphone_is_brought_up() {
        // Speech 40 dB below full scale, as a microphone turned far down.
        let quiet: Vec<f32> = crate::speech::samples()
            .iter()
            .cycle()
            .take(SAMPLE_RATE as usize * 6)
            .map(|s| s * 0.01)
            .collect();
        let silence = vec![0.0; quiet.len()];
        let gain = VoiceSettings {
            gain_control: true,
            ..VoiceSettings::OFF
        };
        let out = run(gain, &silence, &quiet);
        // Over the last two seconds, once it has adapted.
        let tail = quiet.len() - 2 * SAMPLE_RATE as usize;
        let raised = 10.0 * (energy(&out[tail..]) / energy(&quiet[tail..])).log10();
        assert!(raised >= 10.0, "only {raised:.1} dB louder");
    }

    fn decibels(before: &[f32], after: &[f32]) -> f64 {
        10.0 * (energy(before) / energy(after)).log10()
    }

    #[test]
    fn keyboard_clicks_are_turned_down_and_the_voice_is_kept() {
        let noise_suppression = VoiceSettings {
            noise_suppression: true,
            ..VoiceSettings::OFF
        };
        let seconds = SAMPLE_RATE as usize * 6;
        let silence = vec![0.0; seconds];
        // Typing alone, as loud as speech at its loudest: after a second, at least 10 dB down
        // (the noise suppressor alone: 5–6 dB).
        let clicks: Vec<f32> = keyboard(seconds).iter().map(|s| s * 0.5).collect();
        let out = run(noise_suppression, &silence, &clicks);
        let after = SAMPLE_RATE as usize;
        let down = decibels(&clicks[after..], &out[after..]);
        assert!(down >= 10.0, "clicks only {down:.1} dB down");
        // A voice alone keeps its loudness: within 1 dB in all, 2 dB in any half second (the
        // noise suppressor alone takes up to 1.6 dB from the quietest).
        let voice: Vec<f32> = crate::speech::samples()
            .iter()
            .cycle()
            .take(seconds)
            .map(|s| s * 0.3)
            .collect();
        let out = run(noise_suppression, &silence, &voice);
        let half = SAMPLE_RATE as usize / 2;
        for (i, (before, after)) in voice.chunks(half).zip(out.chunks(half)).enumerate().skip(2) {
            if energy(before) < 1.0 {
                continue;
            }
            let lost = decibels(before, after);
            assert!(
                lost < 2.0,
                "the voice {lost:.1} dB down in its half second {i}"
            );
        }
        let lost = decibels(&voice[after..], &out[after..]);
        assert!(lost < 1.0, "the voice {lost:.1} dB down");
    }

    #[test]
    fn turned_off_it_changes_nothing_and_can_be_turned_on_again() {
        let voice = VoiceProcessor::new(VoiceSettings::OFF);
        let mut noise = Noise::new(3);
        let captured: Vec<f32> = (0..SAMPLES_PER_FRAME).map(|_| 0.1 * noise.next()).collect();
        let mut frame = captured.clone();
        voice.process(&mut frame);
        assert_eq!(frame, captured);
        voice.set(VoiceSettings::ON);
        assert_eq!(voice.settings(), VoiceSettings::ON);
        for _ in 0..100 {
            let mut frame = captured.clone();
            voice.process(&mut frame);
        }
        let mut frame = captured.clone();
        voice.process(&mut frame);
        assert_ne!(frame, captured, "steady noise is suppressed once on");
    }
}
