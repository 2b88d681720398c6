//! The microphones as a real sound server (a private PulseAudio with two null sinks and a null
//! source) lists them: the system default and the other microphone, never a monitor of an output,
//! and the same answer however often the app looks (every few seconds while its window is open).

#[path = "../../../tests/support/pulse.rs"]
mod pulse;

use std::process::Command;

#[test]
fn looking_at_the_microphones_again_and_again_keeps_the_sound_server_answering() {
    let pulse = pulse::Pulse::start("media-lists");
    pulse.pactl(&["load-module", "module-null-source", "source_name=headset"]);
    pulse.pactl(&["set-default-source", "headset"]);
    // The looks run in a process of their own whose environment leads to this server (this
    // process's environment is not changed: that would race with other tests' threads).
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "looks_in_the_sound_servers_environment"])
        .args(["--ignored", "--nocapture", "--test-threads=1"])
        .envs(pulse.env())
        .env("CONCLAVE_TEST_LOOKS", "1")
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{report}");
    assert!(report.contains("1 passed"), "{report}");
    // And the server still takes other programs.
    let info = pulse.command("pactl").arg("info").output().unwrap();
    assert!(info.status.success(), "{info:?}");
}

#[test]
#[ignore = "run by the test above, in its sound server's environment"]
fn looks_in_the_sound_servers_environment() {
    if std::env::var_os("CONCLAVE_TEST_LOOKS").is_none() {
        return;
    }
    let first = conclave_media::microphones();
    // The null source (PulseAudio calls it "Null Input"), the default; not the monitors of the
    // two outputs ("Monitor of Null Output").
    assert_eq!(
        first,
        [conclave_media::AudioDeviceInfo {
            name: "Null Input".into(),
            is_default: true
        }]
    );
    // More looks than the server takes connections (64).
    for look in 0..100 {
        assert_eq!(conclave_media::microphones(), first, "look {look}");
    }
}
