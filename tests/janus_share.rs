//! Screen sharing through a real Janus (`support::scenarios`): a headless participant shares the
//! screen of a real X server (Xvfb, showing a page the test drew) and another receives it — sealed
//! as a share, beside the sharer's camera, and legible (luma PSNR against what the screen
//! showed); a third shares a window that then closes: its share ends with a message, its meeting
//! goes on; a fourth shares the synthetic page, whose stamp gives the latency.
//!
//! Needs root, the `janus` package and Xvfb (scripts/test provides them).

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
