//! Real audio devices on a machine without a sound card: a private PulseAudio daemon with two null
//! sinks stands in for the hardware. A tone played into the "microphone" sink must come out of the
//! "speaker" sink after `conclave selftest` took it through Opus, SFrame encryption, decryption,
//! the jitter buffer and playback — at the same pitch.

mod support;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use support::pulse::{Pulse, RATE, power_at};

fn tone(hz: f64, seconds: f64) -> Vec<u8> {
    (0..(seconds * f64::from(RATE)) as usize)
        .flat_map(|i| {
            let s = 0.4 * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(RATE)).sin();
            ((s * 32767.0) as i16).to_le_bytes()
        })
        .collect()
}

/// Plays `hz` into the microphone sink, runs the self-test on the default devices, and returns
/// what came out of the speaker sink and the self-test's JSON report.
fn loop_tone(hz: f64) -> (Vec<f32>, serde_json::Value) {
    let pulse = Pulse::start(&format!("{hz}"));
    let mut player = pulse
        .command("pacat")
        .args([
            "--playback",
            "--device=conclave_mic",
            "--raw",
            "--format=s16le",
        ])
        .args(["--rate=48000", "--channels=1"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = player.stdin.take().unwrap();
    let samples = tone(hz, 8.0);
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&samples);
    });
    let recording = pulse.record_speaker();

    let selftest = pulse
        .command(env!("CARGO_BIN_EXE_conclave"))
        .args([
            "selftest",
            "--camera",
            "none",
            "--mic",
            "default",
            "--speaker",
            "default",
        ])
        .args(["--duration", "3s", "--json"])
        // A steady tone is what noise suppression exists to remove: it is off for this test of
        // the path (echo cancellation and gain control stay on, as in a meeting).
        .arg("--no-noise-suppression")
        .output()
        .unwrap();
    assert!(
        selftest.status.success(),
        "selftest failed: {}{}",
        String::from_utf8_lossy(&selftest.stdout),
        String::from_utf8_lossy(&selftest.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&selftest.stdout).unwrap();

    std::thread::sleep(Duration::from_millis(300));
    let recorded = recording.stop();
    let _ = player.kill();
    let _ = player.wait();
    let _ = feeder.join();
    (recorded, report)
}

#[test]
fn a_tone_goes_through_the_whole_audio_path_and_keeps_its_pitch() {
    for hz in [1000.0, 700.0] {
        let (out, report) = loop_tone(hz);
        let audio = &report["audio"];
        assert!(
            audio["frames_played"].as_u64().unwrap() >= 100,
            "{hz} Hz: {report}"
        );
        assert!(
            report["warnings"].as_array().unwrap().is_empty(),
            "{report}"
        );

        // The loudest second of the recording.
        let second = RATE as usize;
        assert!(
            out.len() > second,
            "{hz} Hz: only {} samples recorded",
            out.len()
        );
        let loudest = (0..out.len() - second)
            .step_by(second / 10)
            .max_by(|&a, &b| {
                let e = |i: usize| out[i..i + second].iter().map(|x| x * x).sum::<f32>();
                e(a).total_cmp(&e(b))
            })
            .unwrap();
        let window = &out[loudest..loudest + second];
        let rms = (window.iter().map(|x| x * x).sum::<f32>() / second as f32).sqrt();
        assert!(rms > 0.1, "{hz} Hz: speaker output RMS {rms}");
        // No dropouts: a steady tone never rests near zero for a millisecond.
        let longest_quiet = window
            .split(|x| x.abs() >= 0.01)
            .map(<[f32]>::len)
            .max()
            .unwrap_or(0);
        assert!(
            longest_quiet < 48,
            "{hz} Hz: a {longest_quiet}-sample gap in playback"
        );
        let at_tone = power_at(window, hz);
        for other in [hz * 0.75, hz * 1.3, 440.0] {
            let ratio = at_tone / power_at(window, other).max(1e-12);
            assert!(ratio > 100.0, "{hz} Hz vs {other} Hz: only {ratio:.1}x");
        }
    }
}
