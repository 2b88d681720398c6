//! A Janus crash mid-call: participants rejoin and media resumes within 3 s of Janus being back.
//! Its own test binary, so that no other meeting shares the two cores while it measures.
//!
//! Needs root and the `janus` package (scripts/test provides both).

mod support;

use std::time::Duration;

use support::janus::JanusNet;
use support::participant::new_link;
use support::scenarios;

#[test]
fn participants_rejoin_after_janus_restarts_and_media_resumes_within_three_seconds() {
    let net = JanusNet::start();
    let link = new_link("restart-test");
    scenarios::participants_rejoin_after_the_sfu_restarts(&net, &link, || {
        net.kill_janus();
        std::thread::sleep(Duration::from_secs(1));
        net.start_janus();
    });
}
