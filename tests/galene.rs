//! Meetings through a real Galène (0.7.2, started by the test in its own network namespace): the
//! scenarios every SFU must pass (`support::scenarios`), with Galène's one connection per stream
//! and its `usermessage` relay in place of Janus's data channels.
//!
//! Needs root and a Galène binary (scripts/test builds one from Galène's sources).

mod support;

use support::galene::{Galene, SFU};
use support::janus::JanusNet;
use support::participant::new_link_for;
use support::scenarios;

#[test]
fn three_see_and_hear_each_other_and_a_wrong_secret_decrypts_nothing() {
    let (net, _galene, link) = galene("4242");
    scenarios::three_see_and_hear_each_other_and_a_wrong_secret_decrypts_nothing(&net, &link);
}

/// Galène in a fresh namespace and a link to `room` there.
fn galene(room: &str) -> (JanusNet, Galene, String) {
    let net = JanusNet::without_janus();
    let galene = Galene::start(&net);
    let link = new_link_for(SFU, room);
    (net, galene, link)
}

#[test]
fn a_muted_participant_sends_no_video_and_says_so() {
    let (net, _galene, link) = galene("mute-test");
    scenarios::a_muted_participant_sends_no_video_and_says_so(&net, &link);
}

#[test]
fn newcomers_after_a_departure_and_one_who_drops_and_rejoins() {
    let (net, _galene, link) = galene("come-and-go");
    scenarios::newcomers_after_a_departure_and_one_who_drops_and_rejoins(&net, &link);
}

#[test]
fn an_impostor_is_a_row_of_its_own_and_a_second_track_arrives() {
    let (net, _galene, link) = galene("impostor");
    scenarios::an_impostor_is_a_row_of_its_own_and_a_second_track_arrives(&net, &link);
}
