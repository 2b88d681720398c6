//! Meetings through a real Janus VideoRoom (started by the test in its own network namespace):
//! headless participants see and hear each other with every frame end-to-end encrypted; a
//! participant with the wrong room secret decrypts nothing and says so; a muted participant and a
//! late listener behave. (The Janus restart test has its own binary: `janus_restart.rs`.)
//!
//! Needs root and the `janus` package (scripts/test provides both).

mod support;

use std::time::Duration;

use support::janus::JanusNet;
use support::participant::{new_link, others, spawn, spawn_with};
use support::scenarios;

#[test]
fn three_participants_see_and_hear_each_other_and_a_wrong_secret_decrypts_nothing() {
    let net = JanusNet::start();
    let link = new_link("4242");
    scenarios::three_see_and_hear_each_other_and_a_wrong_secret_decrypts_nothing(&net, &link);
}

#[test]
fn a_late_listener_asks_for_a_keyframe_and_gets_one_at_once() {
    let net = JanusNet::start();
    let link = new_link("late-listener");
    // Periodic keyframes only every 60 s: whatever the listener decodes, it owes to its request.
    let publisher = spawn_with(
        &net,
        &link,
        "speaker",
        12,
        &[
            "--camera",
            "synthetic",
            "--mic",
            "tone",
            "--keyframe-interval",
            "60s",
        ],
    );
    std::thread::sleep(Duration::from_secs(3));
    // It asks for camera 0, which this machine lacks: it says so and listens all the same.
    let listener = spawn_with(
        &net,
        &link,
        "listener",
        7,
        &["--camera", "0", "--mic", "none"],
    );
    let stats = listener.finish_ok();
    assert_eq!(
        stats["device_problems"],
        serde_json::json!([{"device": "camera", "problem": "not_found", "detail": ""}]),
        "{stats}"
    );
    assert_eq!(
        stats["warnings"],
        serde_json::json!(["no camera found; continuing without video"])
    );
    let list = others(&stats);
    assert_eq!(list.len(), 1, "{stats}");
    let decoded = list[0]["video"]["frames_decoded"].as_u64().unwrap();
    // About 6 s of 30 fps once connected: all but the first moments.
    assert!(decoded > 150, "the listener decoded only {decoded} frames");
    let (speaker, _) = publisher.finish();
    // The listener sends no media, only its data channel: keys and its name.
    let listeners = others(&speaker);
    assert_eq!(listeners.len(), 1, "{speaker}");
    let l = &listeners[0];
    assert_eq!(l["display_name"], "listener", "{l}");
    assert_eq!(l["sending_audio"], false, "{l}");
    assert_eq!(l["sending_video"], false, "{l}");
    assert_eq!(l["verified"], true, "{l}");
    assert_eq!(l["video"]["frames_received"], 0, "{l}");
    assert_eq!(l["audio"]["frames_received"], 0, "{l}");
}

#[test]
fn a_muted_participant_sends_no_video_and_says_so() {
    let net = JanusNet::start();
    let link = new_link("mute-test");
    let muted = spawn_with(
        &net,
        &link,
        "muted",
        8,
        &["--camera", "synthetic", "--mic", "tone", "--mute", "video"],
    );
    let watcher = spawn(&net, &link, "watcher", 8);
    let stats = watcher.finish_ok();
    let list = others(&stats);
    assert_eq!(list.len(), 1, "{stats}");
    let m = &list[0];
    assert_eq!(m["display_name"], "muted", "{m}");
    assert_eq!(m["sending_video"], false, "{m}");
    assert_eq!(m["sending_audio"], true, "{m}");
    assert_eq!(m["video"]["frames_received"], 0, "{m}");
    assert!(m["audio"]["frames_decoded"].as_u64().unwrap() > 200, "{m}");
    let (muted_stats, _) = muted.finish();
    assert!(muted_stats["video_frames_sent"] == 0, "{muted_stats}");
}
