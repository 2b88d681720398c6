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
