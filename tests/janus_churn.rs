//! People who come and go through a real Janus: one leaves and another takes the track slots
//! Janus frees; one drops off the network and comes back; one joins with another participant's
//! SFU label; one adds a second video track mid-meeting. Everyone present at the end is seen
//! and heard by everyone, each as the participant they are.
//!
//! Needs root and the `janus` package (scripts/test provides both).

mod support;

use std::time::Duration;

use serde_json::Value;
use support::janus::JanusNet;
use support::participant::{new_link, others, spawn, spawn_with, wrong_secret};

/// The row `stats` has for the participant named `name`.
fn row<'a>(stats: &'a Value, name: &str) -> &'a Value {
    let rows: Vec<&Value> = others(stats)
        .iter()
        .filter(|o| o["display_name"] == name)
        .collect();
    assert_eq!(rows.len(), 1, "one row for {name}: {stats}");
    rows[0]
}

fn decoded(row: &Value, kind: &str) -> u64 {
    row[kind]["frames_decoded"].as_u64().unwrap()
}

#[test]
fn newcomers_after_a_departure_and_a_participant_who_drops_and_rejoins_are_received() {
    let net = JanusNet::start();
    let link = new_link("come-and-go");
    let a = spawn(&net, &link, "a", 26);
    let b = spawn(&net, &link, "b", 26);
    std::thread::sleep(Duration::from_secs(3));
    // c stays four seconds and leaves; Janus hands c's subscription slots to d.
    let c = spawn(&net, &link, "c", 4);
    let c_stats = c.finish_ok();
    assert_eq!(c_stats["connection"], "left");
    std::thread::sleep(Duration::from_secs(1));
    // d drops off the network four seconds in (no goodbye) and comes back on its own.
    let d = spawn_with(
        &net,
        &link,
        "d",
        14,
        &[
            "--camera",
            "synthetic",
            "--mic",
            "tone",
            "--drop-connection-after",
            "4s",
        ],
    );
    let (d_stats, out) = d.finish();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(d_stats["reconnects"], 1, "{d_stats}");
    for name in ["a", "b"] {
        let r = row(&d_stats, name);
        assert_eq!(r["verified"], true, "{r}");
        assert!(decoded(r, "video") > 200, "d from {name}: {r}");
        assert!(decoded(r, "audio") > 350, "d from {name}: {r}");
    }
    for p in [a, b] {
        let name = p.name.clone();
        let stats = p.finish_ok();
        let c = row(&stats, "c");
        assert_eq!(c["left"], true, "{name}: {c}");
        assert!(decoded(c, "video") > 20, "{name} from c: {c}");
        let d = row(&stats, "d");
        assert_eq!(d["verified"], true, "{name}: {d}");
        // One participant over two connections: the one before the drop and the one after.
        assert_eq!(d["handles"].as_array().unwrap().len(), 2, "{name}: {d}");
        // About 14 s at 30 fps, less the drop's gap and the start.
        assert!(decoded(d, "video") > 250, "{name} from d: {d}");
        assert!(decoded(d, "audio") > 400, "{name} from d: {d}");
        assert_eq!(d["video"]["frames_dropped_auth"], 0, "{name}: {d}");
        let other = row(&stats, if name == "a" { "b" } else { "a" });
        assert!(decoded(other, "video") > 600, "{name}: {other}");
        assert_eq!(others(&stats).len(), 3, "a, b, c and d, each once: {stats}");
    }
}

#[test]
fn an_impostor_with_anothers_sfu_label_is_a_row_of_its_own_and_a_second_track_arrives() {
    let net = JanusNet::start();
    let link = new_link("impostor");
    let args = |label| {
        vec![
            "--camera",
            "synthetic",
            "--mic",
            "tone",
            "--pseudonym",
            label,
        ]
    };
    // Alice adds a second video track four seconds in, without rejoining.
    let mut alice_args = args("p-alice");
    alice_args.extend(["--second-video-after", "4s"]);
    let alice = spawn_with(&net, &link, "alice", 16, &alice_args);
    let bob = spawn(&net, &link, "bob", 16);
    std::thread::sleep(Duration::from_secs(3));
    // Mallory has the room but not its secret, and calls herself what Alice does at the SFU.
    let mallory = spawn_with(&net, &wrong_secret(&link), "mallory", 10, &args("p-alice"));
    let stats = bob.finish_ok();
    let same_label: Vec<&Value> = others(&stats)
        .iter()
        .filter(|o| o["pseudonym"] == "p-alice")
        .collect();
    assert_eq!(same_label.len(), 2, "two rows, one label: {stats}");
    let alice_row = row(&stats, "alice");
    assert_eq!(alice_row["verified"], true, "{alice_row}");
    assert_eq!(
        alice_row["handles"].as_array().unwrap().len(),
        1,
        "{alice_row}"
    );
    assert!(decoded(alice_row, "video") > 350, "{alice_row}");
    assert_eq!(alice_row["video"]["frames_dropped_auth"], 0, "{alice_row}");
    let impostor = same_label
        .iter()
        .find(|o| o["id"] != alice_row["id"])
        .unwrap();
    assert_ne!(impostor["verified"], true, "{impostor}");
    assert!(impostor["display_name"].is_null(), "{impostor}");
    assert_eq!(impostor["video"]["frames_decrypted"], 0, "{impostor}");
    // Alice's second track: received and decoded beside her camera.
    let tracks = alice_row["video_tracks"].as_array().unwrap();
    assert_eq!(tracks.len(), 2, "{alice_row}");
    assert!(
        tracks[1]["frames_decoded"].as_u64().unwrap() > 200,
        "{alice_row}"
    );
    let alice_stats = alice.finish_ok();
    assert_eq!(
        alice_stats["reconnects"], 0,
        "no rejoin for the second track"
    );
    let _ = mallory.finish();
}
