//! Screen sharing through a real Janus (`support::scenarios`): a headless participant shares the
//! screen of a real X server (Xvfb, showing a page the test drew) and another receives it — sealed
//! as a share, beside the sharer's camera, and legible (luma PSNR against what the screen
//! showed); a third shares a window that then closes: its share ends with a message, its meeting
//! goes on; a fourth shares the synthetic page, whose stamp gives the latency. The same share
//! from a headless Wayland desktop, through its ScreenCast portal and PipeWire.
//!
//! Needs root, the `janus` package, Xvfb and the Wayland desktop's packages (scripts/test
//! provides them).

mod support;

use support::janus::JanusNet;
use support::participant::new_link;
use support::scenarios;

#[test]
fn a_shared_screen_arrives_legible_beside_the_camera_and_a_closed_window_ends_only_its_share() {
    let net = JanusNet::start();
    let link = new_link("share");
    scenarios::a_shared_screen_arrives_legible_beside_the_camera_and_a_closed_window_ends_only_its_share(
        &net, &link,
    );
}

#[test]
fn a_display_that_goes_away_ends_the_share_not_the_meeting() {
    use std::time::Duration;
    use support::participant::spawn_with;
    use support::screen::XDisplay;
    let net = JanusNet::start();
    let link = new_link("display-gone");
    let mut x = XDisplay::start(&net, 640, 360);
    let viewer = spawn_with(
        &net,
        &link,
        "viewer",
        14,
        &["--camera", "synthetic", "--mic", "tone"],
    );
    let sharer = x.spawn(
        &net,
        &link,
        "sharer",
        14,
        &[
            "--camera",
            "synthetic",
            "--mic",
            "tone",
            "--share",
            "screen",
        ],
    );
    std::thread::sleep(Duration::from_secs(6));
    x.kill();
    let (viewer, sharer) = (viewer.finish_ok(), sharer.finish_ok());
    assert_eq!(sharer["sharing"], false, "the share ended");
    assert_eq!(sharer["device_problems"][0]["device"], "screen", "{sharer}");
    assert_eq!(
        sharer["device_problems"][0]["problem"], "stopped",
        "{sharer}"
    );
    let at_viewer = scenarios::row(&viewer, "sharer");
    let tracks = at_viewer["video_tracks"].as_array().unwrap();
    assert!(
        tracks
            .iter()
            .any(|t| t["share_frames"].as_u64().unwrap() > 0),
        "the share arrived before: {at_viewer}"
    );
    assert!(at_viewer["share_feed"].is_null(), "and ended: {at_viewer}");
    // The meeting went on: the camera kept arriving after the display went.
    assert!(
        tracks[0]["frames_decoded"].as_u64().unwrap() > 200,
        "{at_viewer}"
    );
    assert!(
        tracks[0]["longest_gap_ms"].as_f64().unwrap() < 2000.0,
        "{at_viewer}"
    );
}

#[test]
fn a_wayland_desktop_shared_through_the_portal_arrives_legible() {
    // The same as the X server's share above, on a Wayland desktop: the screen comes through
    // xdg-desktop-portal's ScreenCast and PipeWire, from a participant in that desktop's session.
    use conclave_media::SyntheticScreen;
    use support::participant::spawn_with;
    use support::scenarios::row;
    use support::screen::grey_to_bgrx;
    use support::wayland::WaylandDesktop;
    let net = JanusNet::start();
    let link = new_link("wayland-share");
    let desktop = WaylandDesktop::start();
    let screen = grey_to_bgrx(SyntheticScreen::render(640, 480, 0).y());
    desktop.show(640, 480, &screen);
    let kept = net.dir.join("shares");
    std::fs::create_dir_all(&kept).unwrap();
    let bob = spawn_with(
        &net,
        &link,
        "bob",
        16,
        &[
            "--camera",
            "synthetic",
            "--mic",
            "tone",
            "--keep-share-pictures",
            kept.to_str().unwrap(),
        ],
    );
    std::thread::sleep(std::time::Duration::from_secs(1));
    let alice = desktop.spawn(
        &net,
        &link,
        "alice",
        18,
        &[
            "--camera",
            "synthetic",
            "--mic",
            "tone",
            "--share",
            "portal",
            "--share-after",
            "2s",
        ],
    );
    // Something changes on the screen after the share began (xdg-desktop-portal-wlr sends its
    // first picture only then), and changes back: the picture at the end is the page again.
    std::thread::sleep(std::time::Duration::from_secs(5));
    assert!(desktop.swaymsg(&["output", "HEADLESS-1", "bg", "#203040", "solid_color"]));
    std::thread::sleep(std::time::Duration::from_secs(1));
    desktop.show(640, 480, &screen);
    let (bob, alice) = (bob.finish_ok(), alice.finish_ok());
    assert!(
        alice["device_problems"].as_array().unwrap().is_empty(),
        "{alice}"
    );
    assert_eq!(alice["sharing"], true, "{alice}");
    let at_bob = row(&bob, "alice")["video_tracks"].as_array().unwrap();
    assert_eq!(at_bob.len(), 2, "her camera and her share: {at_bob:?}");
    assert!(
        at_bob[0]["frames_decoded"].as_u64().unwrap() > 100,
        "{at_bob:?}"
    );
    assert_eq!(at_bob[1]["share"], true, "{at_bob:?}");
    assert_eq!(at_bob[1]["frames_dropped_auth"], 0);
    scenarios::assert_share_legible(&bob, "alice", &kept, (640, 480), &screen);
}
