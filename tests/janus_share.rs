//! Screen sharing through a real Janus: a headless participant shares the screen of a real X
//! server (Xvfb, showing a page the test drew) and another receives it — sealed as a share,
//! beside the sharer's camera, and legible (luma PSNR against what the screen showed); a third
//! shares a window that then closes: its share ends with a message, its meeting goes on.
//!
//! Needs root, the `janus` package and Xvfb (scripts/test provides them).

mod support;

use std::time::Duration;

use conclave_media::{SHARE_FPS, SyntheticScreen, psnr};
use serde_json::Value;
use support::janus::JanusNet;
use support::participant::{new_link, others, spawn_command, spawn_with};
use support::screen::{XDisplay, grey_to_bgrx, read_pgm};

/// `name`'s video tracks as `stats` saw them.
fn tracks<'a>(stats: &'a Value, name: &str) -> &'a Vec<Value> {
    others(stats)
        .iter()
        .find(|p| p["display_name"] == name)
        .unwrap_or_else(|| panic!("{name} not seen: {stats}"))["video_tracks"]
        .as_array()
        .unwrap()
}

#[test]
fn a_shared_screen_arrives_legible_beside_the_camera_and_a_closed_window_ends_only_its_share() {
    let net = JanusNet::start();
    let link = new_link("share");
    let x = XDisplay::start(&net, 1280, 720);
    let screen = grey_to_bgrx(SyntheticScreen::render(1280, 720, 0).y());
    x.show(&screen);
    let window_page = grey_to_bgrx(SyntheticScreen::render(640, 360, u64::from(SHARE_FPS) * 7).y());
    let window = x.open_window("Quarterly report", 640, 360, &window_page);

    let kept = net.dir.join("shares");
    std::fs::create_dir_all(&kept).unwrap();
    let bob = spawn_with(
        &net,
        &link,
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
    let on_display = |name: &str, seconds: u32, args: &[&str]| {
        let mut command = net.command(support::participant::conclave());
        command.env("DISPLAY", &x.name);
        spawn_command(command, &net, &link, name, seconds, args)
    };
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
        &net,
        &link,
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
    assert!(
        at_bob[1]["frames_decoded"].as_u64().unwrap() > 30,
        "{at_bob:?}"
    );
    assert_eq!(at_bob[1]["frames_dropped_auth"], 0);
    // Legible: what bob showed last against what the screen showed.
    let feed = others(&bob)
        .iter()
        .find(|p| p["display_name"] == "alice")
        .unwrap()["share_feed"]
        .as_u64()
        .expect("alice still shares");
    let (w, h, shown) = read_pgm(&kept.join(format!("{feed}.pgm")));
    assert_eq!((w, h), (1280, 720), "the share at the screen's size");
    let expected = conclave_media::convert::bgrx_to_i420(1280, 720, &screen).unwrap();
    let quality = psnr(expected.y(), &shown).unwrap();
    eprintln!("share at the receiver: luma PSNR {quality:.1} dB");
    assert!(quality >= 38.0, "luma PSNR {quality:.1} dB");
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
