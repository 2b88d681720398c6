//! Hearing the others: a participant's tone crosses Janus end-to-end encrypted and comes out of
//! another participant's speaker (a PulseAudio null sink, recorded from its monitor) at the same
//! pitch.
//!
//! Needs root, Janus and PulseAudio (scripts/test provides them).

mod support;

use support::janus::JanusNet;
use support::participant::{new_link, others, spawn_with};
use support::pulse::{Pulse, RATE, power_at};

#[test]
fn a_participant_hears_anothers_tone_on_its_speaker() {
    let net = JanusNet::start();
    let pulse = Pulse::start("meeting");
    let link = new_link("audio-test");
    let recording = pulse.record_speaker();

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
    let stats = listener.finish_ok();
    let _ = speaker.finish();
    let recorded = recording.stop();

    assert!(stats["warnings"].as_array().unwrap().is_empty(), "{stats}");
    let heard = &others(&stats)[0]["audio"];
    assert!(heard["frames_decrypted"].as_u64().unwrap() > 100, "{heard}");
    assert!(
        stats["audio_frames_played"].as_u64().unwrap() > 100,
        "the mixer played: {stats}"
    );
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
