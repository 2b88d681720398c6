//! Meeting scenarios every SFU must pass, each on a test namespace `net` where an SFU serves
//! `link`'s address (Janus: `janus_*.rs`; Galène: `galene.rs`).

use std::time::Duration;

use serde_json::Value;

use conclave_media::{SHARE_FPS, SyntheticScreen, psnr};

use super::janus::JanusNet;
use super::participant::{Participant, others, spawn, spawn_with, wrong_secret};
use super::screen::{XDisplay, grey_to_bgrx, read_pgm};

/// The row `stats` has for the participant named `name`.
pub fn row<'a>(stats: &'a Value, name: &str) -> &'a Value {
    let rows: Vec<&Value> = others(stats)
        .iter()
        .filter(|o| o["display_name"] == name)
        .collect();
    assert_eq!(rows.len(), 1, "one row for {name}: {stats}");
    rows[0]
}

pub fn decoded(row: &Value, kind: &str) -> u64 {
    row[kind]["frames_decoded"].as_u64().unwrap()
}

pub fn three_see_and_hear_each_other_and_a_wrong_secret_decrypts_nothing(
    net: &JanusNet,
    link: &str,
) {
    let people: Vec<Participant> = ["alice", "bob", "carol"]
        .iter()
        .map(|n| spawn(net, link, n, 12))
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let mallory = spawn(net, &wrong_secret(link), "mallory", 10);

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

pub fn a_muted_participant_sends_no_video_and_says_so(net: &JanusNet, link: &str) {
    let muted = spawn_with(
        net,
        link,
        "muted",
        8,
        &["--camera", "synthetic", "--mic", "tone", "--mute", "video"],
    );
    let watcher = spawn(net, link, "watcher", 8);
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

pub fn newcomers_after_a_departure_and_one_who_drops_and_rejoins(net: &JanusNet, link: &str) {
    let a = spawn(net, link, "a", 26);
    let b = spawn(net, link, "b", 26);
    std::thread::sleep(Duration::from_secs(3));
    // c stays four seconds and leaves; Janus hands c's subscription slots to d.
    let c = spawn(net, link, "c", 4);
    let c_stats = c.finish_ok();
    assert_eq!(c_stats["connection"], "left");
    std::thread::sleep(Duration::from_secs(1));
    // d drops off the network four seconds in (no goodbye) and comes back on its own.
    let d = spawn_with(
        net,
        link,
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

pub fn an_impostor_is_a_row_of_its_own_and_a_second_track_arrives(net: &JanusNet, link: &str) {
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
    let alice = spawn_with(net, link, "alice", 16, &alice_args);
    let bob = spawn(net, link, "bob", 16);
    std::thread::sleep(Duration::from_secs(3));
    // Mallory has the room but not its secret, and calls herself what Alice does at the SFU.
    let mallory = spawn_with(net, &wrong_secret(link), "mallory", 10, &args("p-alice"));
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

fn unix_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.unwrap().as_millis() as u64
}

/// The SFU crashes mid-call (`restart` kills it, waits a second and starts it again):
/// participants rejoin and media resumes within 3 s of the SFU being back.
pub fn participants_rejoin_after_the_sfu_restarts(
    net: &JanusNet,
    link: &str,
    restart: impl FnOnce(),
) {
    let a = spawn(net, link, "a", 14);
    let b = spawn(net, link, "b", 14);
    std::thread::sleep(Duration::from_secs(4));
    restart();
    let back_ms = unix_ms();

    for p in [a, b] {
        let name = p.name.clone();
        let (stats, out) = p.finish();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        // The lost connection is said, without the SFU's address (WebRTC's own lines are off).
        assert!(stderr.contains("reconnecting"), "{name}: {stderr}");
        assert!(!stderr.contains("127.0.0.2"), "{name}: {stderr}");
        assert!(
            stats["reconnects"].as_u64().unwrap() >= 1,
            "{name}: {stats}"
        );
        let list = others(&stats);
        assert_eq!(
            list.len(),
            1,
            "the other is one participant across reconnects: {stats}"
        );
        let v = &list[0]["video"];
        assert_eq!(list[0]["handles"].as_array().unwrap().len(), 2, "{stats}");
        // The longest freeze is the restart's, and it ends within 3 s of the SFU being back.
        let resumed = v["longest_gap_ended_unix_ms"].as_u64().unwrap();
        let gap = v["longest_gap_ms"].as_f64().unwrap();
        eprintln!(
            "{name}: froze {gap} ms, resumed {} ms after the SFU was back",
            resumed as i64 - back_ms as i64
        );
        assert!(
            resumed > back_ms,
            "{name}: the longest freeze was not the restart: {v}"
        );
        assert!(
            resumed - back_ms < 3_000,
            "{name}: video resumed {} ms after the SFU was back",
            resumed - back_ms
        );
        assert!(
            v["last_frame_number"].as_u64().unwrap() > 330,
            "{name}: {v}"
        );
        assert_eq!(v["frames_dropped_auth"], 0, "{name}: {v}");
    }
}

/// `name`'s video tracks as `stats` saw them.
fn tracks<'a>(stats: &'a Value, name: &str) -> &'a Vec<Value> {
    row(stats, name)["video_tracks"].as_array().unwrap()
}

/// A screen shared from a real X server arrives legible beside the sharer's camera, sealed as a
/// share; a window that closes ends only its share; a share of the synthetic page arrives with
/// low latency. `link` leads to a fresh room on the SFU in `net`.
pub fn a_shared_screen_arrives_legible_beside_the_camera_and_a_closed_window_ends_only_its_share(
    net: &JanusNet,
    link: &str,
) {
    let x = XDisplay::start(net, 1280, 720);
    let screen = grey_to_bgrx(SyntheticScreen::render(1280, 720, 0).y());
    x.show(&screen);
    let window_page = grey_to_bgrx(SyntheticScreen::render(640, 360, u64::from(SHARE_FPS) * 7).y());
    let window = x.open_window("Quarterly report", 640, 360, &window_page);

    let kept = net.dir.join("shares");
    std::fs::create_dir_all(&kept).unwrap();
    let bob = spawn_with(
        net,
        link,
        "bob",
        17,
        &[
            "--camera",
            "synthetic",
            "--mic",
            "tone",
            "--keep-share-pictures",
            kept.to_str().unwrap(),
        ],
    );
    std::thread::sleep(Duration::from_secs(1));
    let on_display =
        |name: &str, seconds: u32, args: &[&str]| x.spawn(net, link, name, seconds, args);
    let alice = on_display(
        "alice",
        19,
        &[
            "--camera",
            "synthetic",
            "--mic",
            "tone",
            "--share",
            "screen",
            "--share-after",
            "2s",
        ],
    );
    let carol = on_display(
        "carol",
        19,
        &[
            "--camera",
            "synthetic",
            "--mic",
            "tone",
            "--share",
            "window:Quarterly report",
            "--share-after",
            "1s",
        ],
    );
    // Dave only shares: the synthetic page, whose stamp tells its latency.
    let dave = spawn_with(
        net,
        link,
        "dave",
        18,
        &["--camera", "none", "--mic", "none", "--share", "synthetic"],
    );
    // They share at once for a while; then carol's window closes.
    std::thread::sleep(Duration::from_secs(8));
    x.close_window(window);

    let bob = bob.finish_ok();
    let (alice, carol) = (alice.finish_ok(), carol.finish_ok());
    dave.finish_ok();

    // Alice's camera and her share, told apart by how their frames were sealed.
    let at_bob = tracks(&bob, "alice");
    assert_eq!(at_bob.len(), 2, "{at_bob:?}");
    assert_eq!(at_bob[0]["share_frames"], 0);
    assert!(
        at_bob[0]["frames_decoded"].as_u64().unwrap() > 150,
        "{at_bob:?}"
    );
    assert_eq!(at_bob[1]["share"], true);
    // A still screen needs few frames (Galène asks for several keyframes as people join, each a
    // second's worth of the rate): that it keeps arriving is what counts here.
    assert!(
        at_bob[1]["frames_decoded"].as_u64().unwrap() > 10,
        "{at_bob:?}"
    );
    assert_eq!(at_bob[1]["frames_dropped_auth"], 0);
    // Legible: what bob showed last against what the screen showed.
    assert_share_legible(&bob, "alice", &kept, (1280, 720), &screen);
    assert!(
        alice["device_problems"].as_array().unwrap().is_empty(),
        "{alice}"
    );

    // Dave's share, capture to picture at bob (loopback, debug build).
    let dave_at_bob = tracks(&bob, "dave");
    assert_eq!(dave_at_bob.len(), 1, "{dave_at_bob:?}");
    let latency = &dave_at_bob[0]["latency_ms"];
    eprintln!("share latency at the receiver: {latency}");
    assert!(
        dave_at_bob[0]["share_frames"].as_u64().unwrap() > 50,
        "{dave_at_bob:?}"
    );
    assert!(latency["p50"].as_f64().unwrap() <= 150.0, "{latency}");

    // Carol's window closed: her share ended with a message, her camera went on.
    assert_eq!(
        carol["device_problems"][0]["device"], "screen",
        "{}",
        carol["device_problems"]
    );
    assert_eq!(carol["device_problems"][0]["problem"], "stopped");
    assert_eq!(carol["sharing"], false);
    let carol_at_bob = tracks(&bob, "carol");
    assert_eq!(carol_at_bob.len(), 2, "{carol_at_bob:?}");
    let share = &carol_at_bob[1];
    assert!(share["share_frames"].as_u64().unwrap() > 10, "{share}");
    assert_eq!(share["share"], false, "no longer a share once it ended");
    let camera = &carol_at_bob[0];
    assert_eq!(camera["share_frames"], 0);
    assert!(camera["frames_decoded"].as_u64().unwrap() > 300, "{camera}");
    assert!(
        camera["longest_gap_ms"].as_f64().unwrap() < 2000.0,
        "{camera}"
    );
}

/// What `receiver` (stats of a participant run with `--keep-share-pictures kept`) showed last of
/// `sharer`'s share is the screen's `bgrx` picture at its `size`, legibly: luma PSNR ≥ 38 dB.
pub fn assert_share_legible(
    receiver: &Value,
    sharer: &str,
    kept: &std::path::Path,
    (width, height): (usize, usize),
    bgrx: &[u8],
) {
    let feed = row(receiver, sharer)["share_feed"]
        .as_u64()
        .unwrap_or_else(|| panic!("{sharer} still shares"));
    let (w, h, shown) = read_pgm(&kept.join(format!("{feed}.pgm")));
    assert_eq!((w, h), (width, height), "the share at the screen's size");
    let expected = conclave_media::convert::bgrx_to_i420(width, height, bgrx).unwrap();
    let quality = psnr(expected.y(), &shown).unwrap();
    eprintln!("share at the receiver: luma PSNR {quality:.1} dB");
    assert!(quality >= 38.0, "luma PSNR {quality:.1} dB");
}
