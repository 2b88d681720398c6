//! Meetings through a real Janus VideoRoom (started by the test in its own network namespace):
//! headless participants see and hear each other with every frame end-to-end encrypted; a
//! participant with the wrong room secret decrypts nothing and says so; a muted participant and a
//! late listener behave. (The Janus restart test has its own binary: `janus_restart.rs`.)
//!
//! Needs root and the `janus` package (scripts/test provides both).

mod support;

use std::time::Duration;

use support::janus::JanusNet;
use support::participant::{Participant, new_link, others, spawn, spawn_with, wrong_secret};

#[test]
fn three_participants_see_and_hear_each_other_and_a_wrong_secret_decrypts_nothing() {
    let net = JanusNet::start();
    let link = new_link("4242");
    let people: Vec<Participant> = ["alice", "bob", "carol"]
        .iter()
        .map(|n| spawn(&net, &link, n, 12))
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let mallory = spawn(&net, &wrong_secret(&link), "mallory", 10);

    let mut codes = Vec::new();
    let pseudonyms_of_the_three: Vec<String> = people
        .into_iter()
        .map(|p| {
            let name = p.name.clone();
            let stats = p.finish_ok();
            let mut legit = 0;
            for other in others(&stats) {
                let (v, a) = (&other["video"], &other["audio"]);
                if v["frames_decrypted"] == 0 {
                    // Mallory: everything arrives, nothing decrypts, for she never got a key.
                    assert!(
                        v["frames_received"].as_u64().unwrap() > 50,
                        "{name}: {other}"
                    );
                    assert_eq!(a["frames_decrypted"], 0, "{name}: {other}");
                    assert_eq!(other["verified"], false, "{name}: {other}");
                    continue;
                }
                legit += 1;
                assert_eq!(other["verified"], true, "{name}: {other}");
                assert_eq!(
                    other["safety_number"].as_str().map(str::len),
                    Some(35),
                    "{name}: {other}"
                );
                assert!(
                    v["frames_decoded"].as_u64().unwrap() > 150,
                    "{name}: {other}"
                );
                assert!(
                    v["last_frame_number"].as_u64().unwrap() > 250,
                    "{name}: {other}"
                );
                assert_eq!(v["frames_dropped_auth"], 0, "{name}: {other}");
                // Every sender's frames are held to its signed statements (about ten a second),
                // and none of the genuine ones is taken for a forgery.
                assert!(
                    other["frame_statements"].as_u64().unwrap() > 50,
                    "{name}: {other}"
                );
                assert_eq!(other["frames_forged"], 0, "{name}: {other}");
                assert_eq!(other["frames_refused_unsigned"], 0, "{name}: {other}");
                assert!(
                    v["latency_ms"]["p95"].as_f64().unwrap() < 500.0,
                    "{name}: {other}"
                );
                assert!(
                    a["frames_decrypted"].as_u64().unwrap() > 300,
                    "{name}: {other}"
                );
                assert!(
                    a["frames_decoded"].as_u64().unwrap() > 300,
                    "{name}: {other}"
                );
            }
            assert_eq!(legit, 2, "{name} should see the two others: {stats}");
            let warnings = stats["warnings"].to_string();
            assert!(
                warnings.contains("could be decrypted"),
                "{name}: {warnings}"
            );
            codes.push(
                stats["group_code_history"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_str().unwrap().to_owned())
                    .collect::<Vec<_>>(),
            );
            stats["pseudonym"].as_str().unwrap().to_owned()
        })
        .collect();
    // While all three were in, they saw one code (each sees it change as the others leave).
    let common: Vec<&String> = codes[0]
        .iter()
        .filter(|c| codes[1].contains(c) && codes[2].contains(c))
        .collect();
    assert_eq!(common.len(), 1, "the three share one code: {codes:?}");

    let (stats, out) = mallory.finish();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("could be decrypted"), "{stderr}");
    assert_eq!(others(&stats).len(), 3, "{stats}");
    for other in others(&stats) {
        assert!(pseudonyms_of_the_three.contains(&other["pseudonym"].as_str().unwrap().to_owned()));
        assert!(other["display_name"].is_null(), "{other}");
        assert_eq!(other["control_messages"], 0, "{other}");
        assert_eq!(other["video"]["frames_decrypted"], 0, "{other}");
        assert_eq!(other["audio"]["frames_decrypted"], 0, "{other}");
        assert!(
            other["video"]["frames_received"].as_u64().unwrap() > 50,
            "{other}"
        );
        assert_ne!(other["verified"], true, "{other}");
    }
    assert!(
        !stats["group_code_history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == common[0].as_str()),
        "mallory never shares the code: {stats}"
    );
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
