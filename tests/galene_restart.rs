//! A Galène crash mid-call: participants rejoin and media resumes within 3 s of Galène being back
//! (the scenario Janus passes in `janus_restart.rs`). Its own test binary, so that no other
//! meeting shares the two cores while it measures.
//!
//! Needs root and a Galène binary (scripts/test builds one).

mod support;

use std::time::Duration;

use support::galene::{Galene, SFU};
use support::janus::JanusNet;
use support::participant::new_link_for;
use support::scenarios;

#[test]
fn participants_rejoin_after_galene_restarts_and_media_resumes_within_three_seconds() {
    let net = JanusNet::without_janus();
    let galene = Galene::start(&net);
    let link = new_link_for(SFU, "restart-test");
    scenarios::participants_rejoin_after_the_sfu_restarts(&net, &link, || {
        galene.kill();
        std::thread::sleep(Duration::from_secs(1));
        galene.run(&net);
    });
}
