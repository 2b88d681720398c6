//! Media through a real TURN relay (coturn) to a real Janus, both in the test's network
//! namespace: a participant who asks for relay-only media is seen and heard by the others while
//! the relay carries her traffic; a wrong TURN password or a missing TURN server ends her
//! meeting with a message that says so.
//!
//! Needs root, `janus` and `coturn` (scripts/test provides them).

mod support;

use std::time::Duration;

use support::janus::JanusNet;
use support::participant::{
    Participant, conclave, new_link, others, spawn, spawn_command, spawn_with,
};
use support::turn::{self, TurnServer};

/// Alice with the synthetic camera and a tone, media only through the test's TURN server as
/// user `alice` with `password`, for `seconds`.
fn relay_only_alice(net: &JanusNet, link: &str, password: &str, seconds: u32) -> Participant {
    let mut command = net.command(conclave());
    command.env("CONCLAVE_TURN_CREDENTIAL", password);
    spawn_command(
        command,
        net,
        link,
        "alice",
        seconds,
        &[
            "--camera",
            "synthetic",
            "--mic",
            "tone",
            "--ice-server",
            turn::URL,
            "--turn-username",
            "alice",
            "--relay-only",
        ],
    )
}

#[test]
fn relay_only_media_goes_through_the_turn_server() {
    let net = JanusNet::start();
    let turn = TurnServer::start(&net, "alice", "s3cret");
    let link = new_link("5151");
    let alice = relay_only_alice(&net, &link, "s3cret", 12);
    std::thread::sleep(Duration::from_millis(500));
    let bob = spawn(&net, &link, "bob", 12);
    for p in [alice, bob] {
        let name = p.name.clone();
        let stats = p.finish_ok();
        let seen = others(&stats);
        assert_eq!(seen.len(), 1, "{name}: {stats}");
        assert!(
            seen[0]["video"]["frames_decoded"].as_u64().unwrap() > 100,
            "{name}: {stats}"
        );
        assert!(
            seen[0]["audio"]["frames_decrypted"].as_u64().unwrap() > 200,
            "{name}: {stats}"
        );
    }
    // Her media to Janus, and everyone's media from Janus to her, went through the relay.
    let (to_janus, from_janus) = turn.relayed("alice", Duration::from_secs(10));
    assert!(to_janus > 300_000, "{}", turn.text());
    assert!(from_janus > 300_000, "{}", turn.text());
}

#[test]
fn a_wrong_turn_password_ends_the_meeting_with_a_clear_message() {
    let net = JanusNet::start();
    let _turn = TurnServer::start(&net, "alice", "s3cret");
    let link = new_link("5152");
    let alice = relay_only_alice(&net, &link, "wrong", 20);
    let (stats, out) = alice.finish();
    assert!(!out.status.success(), "{stats}");
    assert_eq!(stats["connection"], "failed", "{stats}");
    assert_eq!(stats["error_kind"], "no_relay", "{stats}");
    let error = stats["error"].as_str().unwrap();
    assert!(
        error.contains("TURN server") && error.contains("password"),
        "{error}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(error),
        "the message reaches the user: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // WebRTC logs the refused allocation with both addresses; none of that reaches the user's
    // terminal or log file (ours never name addresses).
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("127.0.0.2"),
        "an address was logged: {stderr}"
    );
    // She gave up at once instead of staying 20 s in a meeting without media.
    assert_eq!(stats["video_frames_sent"], 0, "{stats}");
    assert_eq!(stats["reconnects"], 0, "{stats}");
}

#[test]
fn relay_only_without_a_turn_server_is_refused_before_joining() {
    // No SFU needed: nothing is contacted.
    let dir = std::env::temp_dir().join(format!("conclave-noturn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let stats_file = dir.join("stats.json");
    let out = std::process::Command::new(conclave())
        .args([
            "join",
            &support::participant::new_link_for("ws://127.0.0.1:9", "x"),
            "--name",
            "alice",
        ])
        .args(["--camera", "none", "--mic", "none", "--relay-only"])
        .args(["--ice-server", "stun:127.0.0.1:3478", "--stats-json"])
        .arg(&stats_file)
        .output()
        .unwrap();
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stats_file).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!out.status.success(), "{stats}");
    assert_eq!(stats["error_kind"], "no_turn_server", "{stats}");
    assert!(
        stats["error"].as_str().unwrap().contains("no TURN server"),
        "{stats}"
    );
}

#[test]
fn an_unusable_ice_server_ends_the_meeting_at_once_with_a_clear_message() {
    let net = JanusNet::start();
    let link = new_link("5153");
    for (server, says) in [
        ("turn:", "turn:"),
        // A TURN server needs a user name and password.
        (turn::URL, "user name and password"),
    ] {
        let (stats, out) = spawn_with(
            &net,
            &link,
            "alice",
            20,
            &["--camera", "none", "--mic", "none", "--ice-server", server],
        )
        .finish();
        assert!(!out.status.success(), "{stats}");
        assert_eq!(stats["error_kind"], "bad_ice_server", "{stats}");
        let error = stats["error"].as_str().unwrap();
        assert!(error.contains(says), "{error}");
        assert_eq!(stats["reconnects"], 0, "{stats}");
    }
}
