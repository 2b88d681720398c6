//! Hearing the others: a participant's tone crosses Janus end-to-end encrypted and comes out of
//! another participant's speaker (a PulseAudio null sink, recorded from its monitor) at the same
//! pitch.
//!
//! Needs root, Janus and PulseAudio (scripts/test provides them).

mod support;

use std::io::Read;
use std::process::{Command, Stdio};

use support::janus::JanusNet;
use support::participant::{new_link, others, spawn_with};
use support::pulse::{Pulse, RATE, power_at};

#[test]
fn a_participant_hears_anothers_tone_on_its_speaker() {
    let net = JanusNet::start();
    let pulse = Pulse::start("meeting");
    let link = new_link("audio-test");
    let mut recorder = pulse
        .command("parec")
        .args([
            "--device=conclave_speaker.monitor",
            "--raw",
            "--format=s16le",
        ])
        .args(["--latency-msec=20", "--rate=48000", "--channels=1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut recording = recorder.stdout.take().unwrap();
    let drain = std::thread::spawn(move || {
        let mut raw = Vec::new();
        let _ = recording.read_to_end(&mut raw);
        raw
    });

    // The speaker sends a 1 kHz tone ("--mic tone"); the listener plays what it hears.
    let speaker = spawn_with(
        &net,
        &link,
        "speaker",
        9,
        &["--camera", "none", "--mic", "tone"],
    );
    let mut listener_cmd = net.command(support::participant::conclave());
    listener_cmd.envs(pulse.env());
    let listener = support::participant::spawn_command(
        listener_cmd,
        &net,
        &link,
        "listener",
        8,
        &["--camera", "none", "--mic", "none", "--speaker", "default"],
    );
    let (stats, out) = listener.finish();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = speaker.finish();
    let _ = Command::new("kill").arg(recorder.id().to_string()).status();
    let _ = recorder.wait();
    let raw = drain.join().unwrap();

    assert!(stats["warnings"].as_array().unwrap().is_empty(), "{stats}");
    let heard = &others(&stats)[0]["audio"];
    assert!(heard["frames_decrypted"].as_u64().unwrap() > 100, "{heard}");
    assert!(
        stats["audio_frames_played"].as_u64().unwrap() > 100,
        "the mixer played: {stats}"
    );
    let recorded: Vec<f32> = raw
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    assert!(
        recorded.len() > RATE as usize * 3,
        "recorded {} samples",
        recorded.len()
    );
    // The loudest second of the recording: the tone, not noise or another pitch.
    let best = recorded
        .chunks(RATE as usize)
        .max_by(|a, b| power_at(a, 1000.0).total_cmp(&power_at(b, 1000.0)))
        .unwrap();
    let (at_tone, off_tone) = (power_at(best, 1000.0), power_at(best, 700.0));
    assert!(
        at_tone > 100.0 * off_tone && at_tone > 1e-3,
        "1 kHz power {at_tone}, 700 Hz power {off_tone}"
    );
}
