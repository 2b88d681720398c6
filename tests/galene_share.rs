//! Screen sharing through a real Galène (`support::scenarios`, as `janus_share.rs` through Janus):
//! a test binary of its own, since four participants sharing 1280×720 pictures in a debug build
//! load two cores enough to starve the other Galène tests running beside them.
//!
//! Needs root, a Galène binary (scripts/test builds one) and Xvfb.

mod support;

use support::galene::{Galene, SFU};
use support::janus::JanusNet;
use support::participant::new_link_for;
use support::scenarios;

#[test]
fn a_shared_screen_arrives_legible_beside_the_camera_and_a_closed_window_ends_only_its_share() {
    let net = JanusNet::without_janus();
    let _galene = Galene::start(&net);
    let link = new_link_for(SFU, "share");
    scenarios::a_shared_screen_arrives_legible_beside_the_camera_and_a_closed_window_ends_only_its_share(
        &net, &link,
    );
}
