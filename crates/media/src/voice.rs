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
    /// Remove steady background noise (fans, hum) and soften clicks.
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

#[derive(Debug)]
struct Inner {
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

    /// Deterministic noise in [-1, 1].
    struct Noise(u64);

    impl Noise {
        fn next(&mut self) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        }
    }

    fn energy(s: &[f32]) -> f64 {
        s.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>() + 1e-12
    }

    /// The far end's speech, played by our speaker, heard by our microphone through a room: 80 ms
    /// later, quieter, with a decaying tail of reflections (BENCHMARKS.md has longer rooms and
    /// other delays, from examples/voice_quality.rs).
    fn room(far: &[f32]) -> Vec<f32> {
        let delay = SAMPLE_RATE as usize * 80 / 1000;
        let mut noise = Noise(7);
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

    #[test]
    fn turned_off_it_changes_nothing_and_can_be_turned_on_again() {
        let voice = VoiceProcessor::new(VoiceSettings::OFF);
        let mut noise = Noise(3);
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
