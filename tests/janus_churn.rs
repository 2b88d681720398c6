//! People who come and go through a real Janus: one leaves and another takes the track slots
//! Janus frees; one drops off the network and comes back; one joins with another participant's
//! SFU label; one adds a second video track mid-meeting. Everyone present at the end is seen
//! and heard by everyone, each as the participant they are.
//!
//! Needs root and the `janus` package (scripts/test provides both).

mod support;

use support::janus::JanusNet;
use support::participant::new_link;
use support::scenarios;

#[test]
fn newcomers_after_a_departure_and_a_participant_who_drops_and_rejoins_are_received() {
    let net = JanusNet::start();
    let link = new_link("come-and-go");
    scenarios::newcomers_after_a_departure_and_one_who_drops_and_rejoins(&net, &link);
}

#[test]
fn an_impostor_with_anothers_sfu_label_is_a_row_of_its_own_and_a_second_track_arrives() {
    let net = JanusNet::start();
    let link = new_link("impostor");
    scenarios::an_impostor_is_a_row_of_its_own_and_a_second_track_arrives(&net, &link);
}
