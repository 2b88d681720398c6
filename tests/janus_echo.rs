//! A laptop without headphones: its microphone hears its own speaker. Through Janus, a talker's
//! voice comes out of the laptop's speaker, into its microphone and, without echo cancellation,
//! back to the talker. The laptop's echo canceller must take it at least 25 dB down.
//!
//! Real devices on both sides: each participant has a PulseAudio daemon of its own; the laptop's
//! microphone is the monitor of its speaker sink (what it plays, it hears), the talker's speaker
//! sink is recorded. Needs root, Janus and PulseAudio (scripts/test provides them).

mod support;

use support::janus::JanusNet;
use support::participant::{new_link, others, spawn_command};
use support::pulse::{Pulse, RATE};

/// What the talker hears back (mean power of its speaker after the first `settle` seconds), the
/// laptop cleaning up its microphone as `laptop_args` say; and the frames the laptop played.
fn echo_heard(net: &JanusNet, run: &str, laptop_args: &[&str]) -> (f64, u64) {
    let laptop_pulse = Pulse::start(&format!("laptop-{run}"));
    laptop_pulse.pactl(&["set-default-source", "conclave_speaker.monitor"]);
    let talker_pulse = Pulse::start(&format!("talker-{run}"));
    let recording = talker_pulse.record_speaker();
    let link = new_link(&format!("echo-{run}"));

    let mut command = net.command(support::participant::conclave());
    command.envs(laptop_pulse.env());
    let mut args = vec![
        "--camera",
        "none",
        "--mic",
        "default",
        "--speaker",
        "default",
    ];
    args.extend_from_slice(laptop_args);
    let laptop = spawn_command(command, net, &link, "laptop", 16, &args);
    let mut command = net.command(support::participant::conclave());
    command.envs(talker_pulse.env());
    // The talker's own clean-up is off: what it hears back is the laptop's doing alone.
    let talker = spawn_command(
        command,
        net,
        &link,
        "talker",
        14,
        &[
            "--camera",
            "none",
            "--mic",
            "speech",
            "--speaker",
            "default",
            "--no-echo-cancellation",
            "--no-noise-suppression",
            "--no-gain-control",
        ],
    );
    let talker_stats = talker.finish_ok();
    let laptop_stats = laptop.finish_ok();
    let recorded = recording.stop();

    let from_laptop = &others(&talker_stats)[0];
    assert!(
        from_laptop["audio"]["frames_decoded"].as_u64().unwrap() > 300,
        "the talker received the laptop's audio: {from_laptop}"
    );
    let played = laptop_stats["audio_frames_played"].as_u64().unwrap();
    assert!(
        laptop_stats["warnings"].as_array().unwrap().is_empty(),
        "{run}: the laptop's devices: {laptop_stats}"
    );
    // Joining takes a few seconds, and the echo canceller learns the room in about one.
    let settle = 6 * RATE as usize;
    assert!(
        recorded.len() > settle + 4 * RATE as usize,
        "{run}: recorded {} samples",
        recorded.len()
    );
    let tail = &recorded[settle..];
    let power = tail
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        / tail.len() as f64;
    (power, played)
}

#[test]
fn a_laptop_without_headphones_does_not_send_the_others_their_own_voice_back() {
    let net = JanusNet::start();
    let (without, played) = echo_heard(&net, "without", &["--no-echo-cancellation"]);
    assert!(played > 300, "the laptop played the talker's voice");
    // Without echo cancellation the talker hears itself: the loop works.
    assert!(
        without > 1e-4,
        "without echo cancellation the talker should hear its voice back: power {without}"
    );
    let (with, played) = echo_heard(&net, "with", &[]);
    assert!(played > 300, "the laptop played the talker's voice");
    let down = 10.0 * (without / with.max(1e-15)).log10();
    eprintln!("echo: {without:.2e} without cancellation, {with:.2e} with: {down:.1} dB down");
    assert!(down >= 25.0, "the echo is only {down:.1} dB down");
}
