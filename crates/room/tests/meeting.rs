//! The meeting state machine in virtual time, through the in-memory SFU: people who come and go,
//! drop and rejoin, an SFU that restarts and reuses track slots, a receiving connection that
//! fails, a bad network, an impostor, and fifty people at once.

mod sim;

use std::time::Duration;

use conclave_room::meeting::{
    Admission, Command, Connection, Event, Notice, Presence, SHOW_UNVERIFIED_AFTER, Verification,
};
use conclave_room::sfu::memory::Network;
use conclave_room::sfu::{Link, LinkState, LocalTrack, LocalTrackId, MediaKind, SfuRequest};
use sim::Sim;

const S: Duration = Duration::from_secs(1);

fn verified_by_all(sim: &Sim, who: &[usize]) -> bool {
    Sim::pairs(who).iter().all(|&(i, j)| {
        sim.id_of(i, j)
            .and_then(|id| sim.people[i].meeting.participant(id))
            .is_some_and(|p| p.is_verified() && p.name.is_some())
    })
}

fn connected(sim: &Sim, who: &[usize]) -> bool {
    who.iter()
        .all(|&i| sim.people[i].meeting.connection() == Connection::Connected)
}

#[test]
fn two_people_meet_verify_and_see_and_hear_each_other() {
    let mut sim = Sim::new(1);
    let a = sim.join("alice");
    let b = sim.join("bob");
    assert!(sim.run_until(5 * S, |s| verified_by_all(s, &[a, b])
        && connected(s, &[a, b])));
    assert_eq!(sim.flowing(&Sim::pairs(&[a, b]), S), []);
    let code = |i: usize| sim.people[i].meeting.group_code().unwrap().digits.clone();
    assert_eq!(code(a), code(b));
    let bob = sim.id_of(a, b).unwrap();
    let seen = sim.people[a].meeting.participant(bob).unwrap();
    assert_eq!(seen.name.as_deref(), Some("bob"));
    assert_eq!((seen.audio, seen.video), (Some(true), Some(true)));
    assert_eq!(seen.label.as_deref(), Some("p-bob"));
    // What the key agreement counted outlives the meeting (the final report is made after it).
    sim.leave(a);
    sim.run_for(S);
    assert!(sim.people[a].meeting.is_over());
    let keys = sim.people[a].meeting.key_stats();
    assert!(
        keys.messages_sent > 0 && keys.messages_accepted > 0,
        "{keys:?}"
    );
}

#[test]
fn someone_joining_after_someone_left_is_received_by_everyone() {
    // Janus gives a newcomer the track slots of whoever left: the new owner's media must be
    // bound to the newcomer, with the newcomer's keys.
    let mut sim = Sim::new(2);
    let a = sim.join("a");
    let b = sim.join("b");
    sim.run_for(2 * S);
    let c = sim.join("c");
    assert!(sim.run_until(5 * S, |s| verified_by_all(s, &[a, b, c])));
    let c_at_a = sim.id_of(a, c).unwrap();
    sim.leave(c);
    sim.run_for(S);
    assert_eq!(
        sim.people[a].meeting.participant(c_at_a).unwrap().presence,
        Presence::Left,
        "a goodbye is a departure at once"
    );
    let d = sim.join("d");
    assert!(sim.run_until(5 * S, |s| verified_by_all(s, &[a, b, d])));
    let d_at_a = sim.id_of(a, d).unwrap();
    assert_ne!(d_at_a, c_at_a, "a new participant, not the one who left");
    assert_eq!(sim.flowing(&Sim::pairs(&[a, b, d]), 2 * S), []);
    // Nothing of d's was taken for c's (the slot reuse did happen: d's tracks reuse c's slots),
    // and nothing of d's fails any more.
    let (c_got, d_got) = (
        sim.people[a].got[&(c_at_a, MediaKind::Video)],
        sim.got(a, d, MediaKind::Video),
    );
    sim.run_for(S);
    assert_eq!(sim.people[a].got[&(c_at_a, MediaKind::Video)], c_got);
    assert_eq!(sim.got(a, d, MediaKind::Video).failed, d_got.failed);
    assert_eq!(
        sim.notices(a),
        [
            Notice::Joined("b".into()),
            Notice::Joined("c".into()),
            Notice::Left("c".into()),
            Notice::Joined("d".into())
        ]
    );
    // a and b were there when c came: c hears of them as present, not as joining.
    let at_c = sim.notices(c);
    assert_eq!(at_c.len(), 2, "{at_c:?}");
    assert!(
        at_c.iter().all(|n| matches!(n, Notice::Present(_))),
        "{at_c:?}"
    );
}

#[test]
fn someone_who_drops_and_rejoins_is_the_same_participant_and_received_again() {
    let mut sim = Sim::new(3);
    let a = sim.join("a");
    let b = sim.join("b");
    assert!(sim.run_until(5 * S, |s| verified_by_all(s, &[a, b])));
    let b_at_a = sim.id_of(a, b).unwrap();
    // b's connection dies without a goodbye; b's client reconnects on its own (SFU restart
    // for b only: the SFU drops it, its meeting sees the loss).
    sim.crash(b);
    sim.run_for(S);
    let p = sim.people[a].meeting.participant(b_at_a).unwrap();
    assert!(
        matches!(p.presence, Presence::Away { .. }),
        "{:?}",
        p.presence
    );
    sim.people[b].online = true;
    let now = sim.now;
    sim.people[b].meeting.handle_sfu(
        conclave_room::sfu::SfuEvent::Failed(conclave_room::sfu::SfuFailure::Lost("gone".into())),
        now,
    );
    assert!(sim.run_until(5 * S, |s| verified_by_all(s, &[a, b])));
    assert_eq!(sim.id_of(a, b), Some(b_at_a), "the same row as before");
    let p = sim.people[a].meeting.participant(b_at_a).unwrap();
    assert_eq!(p.handles.len(), 2);
    assert_eq!(p.presence, Presence::Present);
    assert_eq!(sim.flowing(&Sim::pairs(&[a, b]), 2 * S), []);
    assert!(
        !sim.people[a]
            .events
            .iter()
            .any(|e| matches!(e, Event::Notice(Notice::Left(_)))),
        "a reconnection is not a departure"
    );
}

#[test]
fn an_sfu_restart_reconnects_everyone_into_their_rows() {
    let mut sim = Sim::new(4);
    let who: Vec<usize> = ["a", "b", "c"].iter().map(|n| sim.join(n)).collect();
    assert!(sim.run_until(5 * S, |s| verified_by_all(s, &who) && connected(s, &who)));
    let ids: Vec<_> = Sim::pairs(&who)
        .iter()
        .map(|&(i, j)| sim.id_of(i, j))
        .collect();
    let now = sim.now;
    sim.sfu.restart(now);
    sim.run_for(Duration::from_millis(50));
    assert!(
        who.iter()
            .all(|&i| sim.people[i].meeting.connection() == Connection::Reconnecting)
    );
    assert!(sim.run_until(3 * S, |s| verified_by_all(s, &who) && connected(s, &who)));
    let again: Vec<_> = Sim::pairs(&who)
        .iter()
        .map(|&(i, j)| sim.id_of(i, j))
        .collect();
    assert_eq!(ids, again);
    assert_eq!(sim.flowing(&Sim::pairs(&who), 2 * S), []);
    for &i in &who {
        assert_eq!(sim.people[i].meeting.reconnects(), 1);
    }
}

#[test]
fn a_failed_receiving_connection_is_noticed_and_repaired() {
    let mut sim = Sim::new(5);
    let a = sim.join("a");
    let b = sim.join("b");
    assert!(sim.run_until(5 * S, |s| verified_by_all(s, &[a, b])
        && connected(s, &[a, b])));
    let now = sim.now;
    sim.sfu
        .fail_link(sim.people[a].client, Link::Subscribe, now);
    sim.run_for(Duration::from_millis(10));
    assert_ne!(sim.people[a].meeting.connection(), Connection::Connected);
    assert!(sim.run_until(3 * S, |s| connected(s, &[a, b])
        && verified_by_all(s, &[a, b])));
    assert_eq!(sim.people[a].meeting.reconnects(), 1);
    assert_eq!(sim.flowing(&Sim::pairs(&[a, b]), 2 * S), []);
}

#[test]
fn an_unreachable_server_is_said_after_a_while_and_joining_resumes_when_it_answers() {
    let mut sim = Sim::new(6);
    sim.sfu.set_down(true);
    let a = sim.join("a");
    sim.run_for(3 * S);
    assert_eq!(sim.people[a].meeting.connection(), Connection::Connecting);
    sim.run_for(3 * S);
    assert_eq!(sim.people[a].meeting.connection(), Connection::Unreachable);
    assert!(sim.people[a].meeting.reconnects() > 5, "it keeps trying");
    sim.sfu.set_down(false);
    let b = sim.join("b");
    assert!(sim.run_until(3 * S, |s| connected(s, &[a, b])
        && verified_by_all(s, &[a, b])));
    // Leaving while unreachable is a failure to connect, not a normal leave.
    let c = sim.join("c");
    sim.sfu.set_down(true);
    let now = sim.now;
    sim.sfu.restart(now);
    sim.run_for(S);
    sim.command(c, Command::Leave);
    assert_eq!(sim.people[c].meeting.connection(), Connection::Failed);
}

#[test]
fn keyframe_requests_on_a_lossy_network_are_coalesced() {
    let mut sim = Sim::new(7);
    let sender = sim.join("sender");
    let receivers: Vec<usize> = (0..4).map(|n| sim.join(&format!("r{n}"))).collect();
    for &r in &receivers {
        sim.people[r].sends_media = false;
        sim.sfu.set_network(
            sim.people[r].client,
            Network {
                loss: 0.2,
                ..Network::default()
            },
        );
    }
    let mut all = receivers.clone();
    all.push(sender);
    assert!(sim.run_until(5 * S, |s| verified_by_all(s, &all)));
    let (k0, asks0) = (
        sim.people[sender].keyframes_sent,
        receivers
            .iter()
            .map(|&r| sim.people[r].keyframe_requests)
            .sum::<u64>(),
    );
    sim.run_for(10 * S);
    let keyframes = sim.people[sender].keyframes_sent - k0;
    let asks: u64 = receivers
        .iter()
        .map(|&r| sim.people[r].keyframe_requests)
        .sum::<u64>()
        - asks0;
    // Each receiver loses a frame several times a second and wants a keyframe each time; it
    // asks at most twice a second, and the sender serves them all with at most four a second.
    assert!(asks > 20, "{asks}");
    assert!(asks <= 4 * 2 * 10 + 4, "{asks}");
    assert!(keyframes <= 4 * 10 + 1, "{keyframes}");
    assert!(keyframes >= 10, "{keyframes}");
    for &r in &receivers {
        let got = sim.got(r, sender, MediaKind::Video);
        assert!(got.decodable > 100, "{got:?}");
    }
}

#[test]
fn mute_and_camera_reach_the_others() {
    let mut sim = Sim::new(8);
    let a = sim.join("a");
    let b = sim.join("b");
    assert!(sim.run_until(5 * S, |s| verified_by_all(s, &[a, b])));
    sim.command(a, Command::SetAudio(false));
    sim.command(a, Command::SetVideo(false));
    assert!(!sim.people[a].meeting.local().sending_audio);
    sim.run_for(Duration::from_millis(200));
    let seen = sim.people[b]
        .meeting
        .participant(sim.id_of(b, a).unwrap())
        .unwrap()
        .clone();
    assert_eq!((seen.audio, seen.video), (Some(false), Some(false)));
    // Camera off closed the camera: no video from a any more.
    let before = sim.got(b, a, MediaKind::Video).decrypted;
    sim.run_for(S);
    assert_eq!(sim.got(b, a, MediaKind::Video).decrypted, before);
    sim.command(a, Command::SetVideo(true));
    assert_eq!(sim.flowing(&[(b, a)], S), []);
}

#[test]
fn an_impostor_with_someone_elses_label_is_a_separate_unverified_row() {
    let mut sim = Sim::new(9);
    let a = sim.join("alice");
    let b = sim.join("bob");
    assert!(sim.run_until(5 * S, |s| verified_by_all(s, &[a, b])));
    let alice_at_b = sim.id_of(b, a).unwrap();
    // Mallory has the link's room but not its secret, and calls herself what Alice does.
    let m = sim.join_as("mallory", "p-alice", b"not the room secret, 32 bytes!!!");
    // b's message 1 to her is unreadable to her: b gives up on her after the handshake timeout.
    sim.run_for(SHOW_UNVERIFIED_AFTER.max(conclave_group::HANDSHAKE_TIMEOUT) + S);
    let mallory_at_b = sim.id_of(b, m).unwrap();
    assert_ne!(mallory_at_b, alice_at_b);
    let meeting = &sim.people[b].meeting;
    let alice = meeting.participant(alice_at_b).unwrap();
    let mallory = meeting.participant(mallory_at_b).unwrap();
    assert!(alice.is_verified());
    assert_eq!(alice.name.as_deref(), Some("alice"));
    assert_eq!(mallory.label, alice.label, "same label at the SFU");
    assert!(matches!(mallory.verification, Verification::Failed { .. }));
    assert_eq!(mallory.name, None);
    assert_eq!(sim.flowing(&[(b, a)], S), [], "alice's media is untouched");
    assert_eq!(sim.got(b, m, MediaKind::Video).decrypted, 0);
    // The display was shown her as her own, unverified row.
    assert!(sim.people[b].events.iter().any(|e| matches!(e,
        Event::Participant(p) if p.id == mallory_at_b && matches!(p.verification, Verification::Failed { .. }))));
}

#[test]
fn a_second_video_track_and_a_late_microphone_are_published_without_rejoining() {
    let mut sim = Sim::new(10);
    let a = sim.join("a");
    let b = sim.join("b");
    let listener = sim.join_listener("l");
    assert!(sim.run_until(5 * S, |s| verified_by_all(s, &[a, b, listener])));
    assert_eq!(sim.tracks_from(b, listener), []);
    assert_eq!(sim.tracks_from(b, a), [MediaKind::Audio, MediaKind::Video]);
    let a_at_b = sim.id_of(b, a).unwrap();
    let screen = LocalTrack {
        id: LocalTrackId(2),
        kind: MediaKind::Video,
    };
    sim.command(a, Command::Publish(screen));
    sim.people[a].extra.push(screen.id);
    // The listener picks a microphone and a camera.
    sim.command(
        listener,
        Command::SetSources {
            microphone: true,
            camera: true,
        },
    );
    let now = sim.now;
    sim.people[listener].meeting.handle_media(
        conclave_room::meeting::MediaInput::Devices {
            microphone: true,
            camera: true,
        },
        now,
    );
    sim.run_for(S);
    assert_eq!(
        sim.tracks_from(b, a),
        [MediaKind::Audio, MediaKind::Video, MediaKind::Video]
    );
    assert_eq!(
        sim.tracks_from(b, listener),
        [MediaKind::Audio, MediaKind::Video]
    );
    let got = sim.people[b].got[&(a_at_b, MediaKind::Video)];
    assert_eq!(sim.flowing(&[(b, a), (a, listener), (b, listener)], S), []);
    let more = sim.people[b].got[&(a_at_b, MediaKind::Video)];
    // Two tracks at 25 fps: about 50 frames a second, all decodable.
    assert!(more.decodable - got.decodable > 45, "{got:?} → {more:?}");
    for i in [a, listener] {
        let connects = sim.people[i]
            .requests
            .iter()
            .filter(|r| matches!(r, SfuRequest::Connect))
            .count();
        assert_eq!(connects, 1, "no rejoin");
        assert_eq!(sim.people[i].meeting.reconnects(), 0);
    }
    let seen = sim.people[b]
        .meeting
        .participant(sim.id_of(b, listener).unwrap())
        .unwrap();
    assert_eq!((seen.audio, seen.video), (Some(true), Some(true)));
    sim.command(a, Command::Unpublish(screen.id));
    sim.run_for(S);
    assert_eq!(sim.tracks_from(b, a), [MediaKind::Audio, MediaKind::Video]);
}

#[test]
fn a_share_starts_and_stops_without_rejoining_survives_a_reconnect_and_ends_with_its_source() {
    use conclave_room::meeting::{Event, MediaInput};
    let sharing = |sim: &Sim, i: usize| sim.people[i].meeting.local().sharing;
    let mut sim = Sim::new(11);
    let a = sim.join("a");
    let b = sim.join("b");
    assert!(sim.run_until(5 * S, |s| verified_by_all(s, &[a, b])));
    let a_at_b = sim.id_of(b, a).unwrap();
    sim.command(a, Command::Share(true));
    assert!(sharing(&sim, a));
    assert!(
        sim.people[a]
            .events
            .iter()
            .any(|e| matches!(e, Event::Local(l) if l.sharing))
    );
    sim.run_for(S);
    assert_eq!(
        sim.tracks_from(b, a),
        [MediaKind::Audio, MediaKind::Video, MediaKind::Video]
    );
    // Camera and share both arrive, decodable (a keyframe of the share first).
    let got = sim.people[b].got[&(a_at_b, MediaKind::Video)];
    sim.run_for(S);
    let more = sim.people[b].got[&(a_at_b, MediaKind::Video)];
    assert!(more.decodable - got.decodable > 45, "{got:?} → {more:?}");
    // Asked twice, shared once.
    sim.command(a, Command::Share(true));
    let publishes = |sim: &Sim| {
        sim.people[a]
            .requests
            .iter()
            .filter(|r| matches!(r, SfuRequest::Publish(t) if t.iter().any(|t| t.id == conclave_room::meeting::SHARE)))
            .count()
    };
    assert_eq!(publishes(&sim), 1);
    // The connection drops: the share comes back with the rest.
    sim.crash(a);
    sim.run_for(S);
    sim.people[a].online = true;
    let now = sim.now;
    sim.people[a].meeting.handle_sfu(
        conclave_room::sfu::SfuEvent::Failed(conclave_room::sfu::SfuFailure::Lost("gone".into())),
        now,
    );
    assert!(sim.run_until(10 * S, |s| verified_by_all(s, &[a, b])
        && s.tracks_from(b, a).len() == 3));
    assert!(sharing(&sim, a));
    assert_eq!(publishes(&sim), 2, "republished on the new connection");
    // Stopped: the track goes, the camera stays, no rejoin.
    sim.command(a, Command::Share(false));
    sim.run_for(S);
    assert_eq!(sim.tracks_from(b, a), [MediaKind::Audio, MediaKind::Video]);
    assert!(!sharing(&sim, a));
    // Again, and this time the window closes: the share ends, the meeting does not.
    sim.command(a, Command::Share(true));
    sim.run_for(S);
    assert_eq!(sim.tracks_from(b, a).len(), 3);
    sim.media_input(a, MediaInput::ShareEnded);
    sim.run_for(S);
    assert!(!sharing(&sim, a));
    assert_eq!(sim.tracks_from(b, a), [MediaKind::Audio, MediaKind::Video]);
    assert_eq!(sim.flowing(&[(a, b), (b, a)], S), []);
}

#[test]
fn the_newest_share_takes_the_stage_and_the_one_before_comes_back_when_it_ends() {
    use conclave_room::meeting::{Event, MediaInput};
    let stage = |sim: &Sim, i: usize| sim.people[i].meeting.stage();
    let mut sim = Sim::new(12);
    let a = sim.join("a");
    let b = sim.join("b");
    let c = sim.join("c");
    assert!(sim.run_until(5 * S, |s| verified_by_all(s, &[a, b, c])));
    assert_eq!(stage(&sim, c), None, "cameras take no stage");
    sim.command(a, Command::Share(true));
    sim.run_for(S);
    let (a_at_c, b_at_c) = (sim.id_of(c, a), sim.id_of(c, b));
    assert_eq!(stage(&sim, c), a_at_c);
    assert_eq!(stage(&sim, a), None, "our own share is not on our stage");
    sim.command(b, Command::Share(true));
    sim.run_for(S);
    assert_eq!(stage(&sim, c), b_at_c, "the newest share");
    sim.command(b, Command::Share(false));
    sim.run_for(S);
    assert_eq!(stage(&sim, c), a_at_c, "back to the one still sharing");
    // Its source went away: off the stage.
    sim.media_input(a, MediaInput::ShareEnded);
    sim.run_for(S);
    assert_eq!(stage(&sim, c), None);
    // Sharing again, then leaving: off the stage at once.
    sim.command(a, Command::Share(true));
    sim.run_for(S);
    assert_eq!(stage(&sim, c), a_at_c);
    sim.leave(a);
    sim.run_for(S);
    assert_eq!(stage(&sim, c), None);
    let said: Vec<_> = sim.people[c]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Stage(who) => Some(*who),
            _ => None,
        })
        .collect();
    assert_eq!(
        said,
        [a_at_c, b_at_c, a_at_c, None, a_at_c, None],
        "each change said once"
    );
}

#[test]
fn the_loudest_takes_the_stage_and_keeps_it_through_a_cough() {
    let mut sim = Sim::new(11);
    let who: Vec<usize> = ["a", "b", "c"].iter().map(|n| sim.join(n)).collect();
    let (a, b, c) = (who[0], who[1], who[2]);
    assert!(sim.run_until(5 * S, |s| verified_by_all(s, &who)));
    sim.people[a].loudness = 100;
    sim.run_for(S);
    let speaker = |sim: &Sim| sim.people[c].meeting.active_speaker();
    assert_eq!(speaker(&sim), sim.id_of(c, a));
    sim.people[b].loudness = 200;
    sim.run_for(Duration::from_millis(150));
    sim.people[b].loudness = 0;
    sim.run_for(S);
    assert_eq!(
        speaker(&sim),
        sim.id_of(c, a),
        "a cough does not take the stage"
    );
    sim.people[b].loudness = 200;
    sim.run_for(S);
    assert_eq!(speaker(&sim), sim.id_of(c, b));
    sim.people[a].loudness = 0;
    sim.people[b].loudness = 0;
    sim.run_for(S);
    assert_eq!(
        speaker(&sim),
        sim.id_of(c, b),
        "silence keeps the last speaker"
    );
    sim.leave(b);
    sim.run_for(S);
    assert_eq!(speaker(&sim), None);
}

#[test]
fn fifty_people_join_in_a_burst_and_half_of_them_leave() {
    let mut sim = Sim::new(12);
    sim.media = false;
    let who: Vec<usize> = (0..50).map(|n| sim.join(&format!("p{n}"))).collect();
    assert!(sim.run_until(30 * S, |s| verified_by_all(s, &who)));
    let codes: std::collections::BTreeSet<String> = who
        .iter()
        .map(|&i| sim.people[i].meeting.group_code().unwrap().digits.clone())
        .collect();
    assert_eq!(codes.len(), 1, "one group code");
    for &i in &who[25..] {
        sim.leave(i);
    }
    let stay = &who[..25];
    sim.run_for(3 * S);
    for &i in stay {
        let present = sim.people[i]
            .meeting
            .participants()
            .filter(|p| p.is_present())
            .count();
        assert_eq!(present, 24);
    }
    let codes: std::collections::BTreeSet<String> = stay
        .iter()
        .map(|&i| sim.people[i].meeting.group_code().unwrap().digits.clone())
        .collect();
    assert_eq!(codes.len(), 1);
}

#[test]
fn a_track_slot_given_to_someone_else_is_bound_to_them_without_a_gap() {
    // Janus may hand a departed publisher's mid to a newcomer without first saying it is gone.
    use conclave_room::meeting::MediaAction;
    use conclave_room::sfu::{PeerHandle, SfuEvent, TrackHandle};
    let now = std::time::Instant::now();
    let mut m = sim::alone(now);
    m.handle_sfu(
        SfuEvent::Joined {
            me: PeerHandle(1),
            present: vec![(PeerHandle(2), None)],
        },
        now,
    );
    let track = TrackHandle("3".into());
    let appeared = |peer| SfuEvent::TrackAppeared {
        track: track.clone(),
        peer: PeerHandle(peer),
        kind: MediaKind::Video,
    };
    m.handle_sfu(appeared(2), now);
    m.handle_sfu(SfuEvent::PeerGone(PeerHandle(2)), now);
    m.handle_sfu(
        SfuEvent::PeerAppeared {
            peer: PeerHandle(4),
            label: None,
        },
        now,
    );
    m.handle_sfu(appeared(4), now);
    let binds: Vec<_> = std::iter::from_fn(|| m.poll_action())
        .filter_map(|a| match a {
            MediaAction::Bind {
                track: t,
                participant,
                ..
            } if t == track => Some(participant),
            _ => None,
        })
        .collect();
    assert_eq!(binds.len(), 2, "{binds:?}");
    assert_ne!(binds[0], binds[1]);
    assert_eq!(m.participant_at(PeerHandle(4)), Some(binds[1]));
    // Even without the departure in between, a slot given to another is rebound to them.
    m.handle_sfu(
        SfuEvent::PeerAppeared {
            peer: PeerHandle(5),
            label: None,
        },
        now,
    );
    m.handle_sfu(appeared(5), now);
    let fifth = m.participant_at(PeerHandle(5));
    let rebound = std::iter::from_fn(|| m.poll_action())
        .any(|a| matches!(a, MediaAction::Bind { participant, .. } if Some(participant) == fifth));
    assert!(rebound);
}

#[test]
fn people_on_bad_networks_come_go_and_keep_talking() {
    let mut sim = Sim::new(13);
    let a = sim.join("a");
    let b = sim.join("b");
    // b on a mobile link: delay, jitter that reorders frames, and loss; a over a long way.
    sim.sfu.set_network(
        sim.people[b].client,
        Network {
            delay: Duration::from_millis(80),
            jitter: Duration::from_millis(40),
            loss: 0.05,
        },
    );
    sim.sfu.set_network(
        sim.people[a].client,
        Network {
            delay: Duration::from_millis(150),
            ..Network::default()
        },
    );
    assert!(sim.run_until(10 * S, |s| verified_by_all(s, &[a, b])
        && connected(s, &[a, b])));
    let c = sim.join("c");
    assert!(sim.run_until(10 * S, |s| verified_by_all(s, &[a, b, c])));
    assert_eq!(sim.flowing(&Sim::pairs(&[a, b, c]), 3 * S), []);
    sim.leave(c);
    let d = sim.join("d");
    sim.sfu.set_network(
        sim.people[d].client,
        Network {
            delay: Duration::from_millis(50),
            jitter: Duration::from_millis(60),
            loss: 0.1,
        },
    );
    assert!(sim.run_until(10 * S, |s| verified_by_all(s, &[a, b, d])));
    assert_eq!(sim.flowing(&Sim::pairs(&[a, b, d]), 3 * S), []);
    assert!(sim.sfu.lost > 0, "the network did lose frames");
    // Nobody reconnected for it: loss and delay are not a lost connection.
    for i in [a, b, d] {
        assert_eq!(sim.people[i].meeting.reconnects(), 0);
    }
}

#[test]
fn old_key_generations_are_retired_after_someone_leaves() {
    use conclave_room::meeting::RETIRE_AFTER;
    let mut sim = Sim::new(14);
    let who: Vec<usize> = ["a", "b", "c"].iter().map(|n| sim.join(n)).collect();
    let (a, b, c) = (who[0], who[1], who[2]);
    assert!(sim.run_until(5 * S, |s| verified_by_all(s, &who)));
    let before = sim.send_generation(a).unwrap();
    sim.leave(c);
    // a draws a fresh key for those left; b takes it, and after a while holds nothing older.
    assert!(sim.run_until(2 * S, |s| s.send_generation(a) > Some(before)));
    let fresh = sim.send_generation(a).unwrap();
    assert!(
        sim.generations_held(b, a).contains(&before),
        "kept while in flight"
    );
    sim.run_for(RETIRE_AFTER + S);
    assert_eq!(sim.generations_held(b, a), [fresh]);
    assert_eq!(sim.flowing(&[(a, b), (b, a)], S), []);
}

#[test]
fn a_departure_the_sfu_hides_is_noticed_by_silence_and_the_key_changes() {
    use conclave_room::meeting::SILENT_LIMIT;
    let mut sim = Sim::new(15);
    let who: Vec<usize> = ["a", "b", "c"].iter().map(|n| sim.join(n)).collect();
    let (a, b, c) = (who[0], who[1], who[2]);
    assert!(sim.run_until(5 * S, |s| verified_by_all(s, &who)));
    let c_at_a = sim.id_of(a, c).unwrap();
    let before = sim.send_generation(a).unwrap();
    // c stops, and the SFU keeps listing it.
    sim.vanish(c);
    sim.run_for(SILENT_LIMIT - 2 * S);
    assert_eq!(sim.send_generation(a), Some(before), "not yet");
    sim.run_for(3 * S);
    assert!(
        sim.send_generation(a) > Some(before),
        "a fresh key without c"
    );
    let p = sim.people[a].meeting.participant(c_at_a).unwrap();
    assert!(!p.is_present(), "{:?}", p.presence);
    assert_eq!(sim.flowing(&[(a, b), (b, a)], S), []);
}

#[test]
fn a_fresh_key_is_drawn_periodically() {
    use conclave_room::meeting::REKEY_EVERY;
    let mut sim = Sim::new(16);
    sim.media = false;
    let a = sim.join("a");
    let b = sim.join("b");
    assert!(sim.run_until(5 * S, |s| verified_by_all(s, &[a, b])));
    let before = sim.send_generation(a).unwrap();
    sim.run_for(REKEY_EVERY + 2 * S);
    assert!(sim.send_generation(a) > Some(before));
    assert!(verified_by_all(&sim, &[a, b]));
}

#[test]
fn someone_on_protocol_1_is_said_to_run_an_older_conclave() {
    use conclave_room::meeting::OLDER_VERSION;
    use conclave_room::sfu::{PeerHandle, SfuEvent};
    let now = std::time::Instant::now();
    let mut m = sim::alone(now);
    m.handle_sfu(
        SfuEvent::Joined {
            me: PeerHandle(5),
            present: vec![(PeerHandle(1), None)],
        },
        now,
    );
    // A protocol-1 message 1 from participant 1 to us.
    let mut old = vec![conclave_room::DATA_KEYS, 1, 1];
    old.extend(1u64.to_be_bytes());
    old.extend(5u64.to_be_bytes());
    old.extend([0u8; 48]);
    m.handle_data(PeerHandle(1), &old, |_, _| None, now);
    let p = m
        .participant(m.participant_at(PeerHandle(1)).unwrap())
        .unwrap();
    assert_eq!(
        p.verification,
        Verification::Failed {
            reason: OLDER_VERSION
        }
    );
}

#[test]
fn an_sfu_inventing_connections_cannot_grow_the_roster_without_bound() {
    use conclave_room::meeting::MAX_CONNECTIONS;
    use conclave_room::sfu::{PeerHandle, SfuEvent};
    let now = std::time::Instant::now();
    let mut m = sim::alone(now);
    m.handle_sfu(
        SfuEvent::Joined {
            me: PeerHandle(u64::MAX),
            present: vec![],
        },
        now,
    );
    for h in 0..(MAX_CONNECTIONS as u64 + 500) {
        m.handle_sfu(
            SfuEvent::PeerAppeared {
                peer: PeerHandle(h),
                label: None,
            },
            now,
        );
        m.handle_data(
            PeerHandle(h + 10_000),
            &[conclave_room::DATA_KEYS],
            |_, _| None,
            now,
        );
    }
    assert_eq!(m.participants().count(), MAX_CONNECTIONS);
    while m.poll_transmit().is_some() {}
    // Someone real still gets through once the invented ones are gone.
    m.handle_sfu(SfuEvent::PeerGone(PeerHandle(0)), now);
    m.handle_sfu(
        SfuEvent::PeerAppeared {
            peer: PeerHandle(5000),
            label: None,
        },
        now,
    );
    assert!(m.participant_at(PeerHandle(5000)).is_some());
}

#[test]
fn frames_forged_by_an_insider_in_anothers_name_are_found_and_dropped() {
    // Carol holds Bob's key (every participant does) and works with the SFU: she sends frames
    // as Bob. Alice finds the ones that got through in Bob's next statement, drops one numbered
    // far ahead at once, and Bob's real frames go on.
    let mut sim = Sim::new(21);
    let a = sim.join("alice");
    let b = sim.join("bob");
    let _c = sim.join("carol");
    assert!(sim.run_until(5 * S, |s| verified_by_all(s, &[a, b])));
    sim.run_for(S);
    let bob = sim.id_of(a, b).unwrap();
    let before = sim.receive_stats(a, b);
    assert!(
        before.statements > 0,
        "Bob's statements reach Alice: {before:?}"
    );
    assert_eq!((before.forged, before.forgeries_found), (0, 0));

    // A forgery numbered just ahead of Bob: accepted at first, found within a statement.
    sim.forge_as(b, conclave_room::meeting::CAMERA, MediaKind::Video, 3);
    sim.run_for(Duration::from_millis(400));
    let after = sim.receive_stats(a, b);
    assert_eq!(after.forgeries_found, 1, "{after:?}");
    assert!(
        sim.people[a]
            .events
            .iter()
            .any(|e| matches!(e, Event::Notice(Notice::Forged(n)) if n == "bob")),
        "Alice is told"
    );
    assert_eq!(sim.people[a].meeting.participant(bob).unwrap().forged, 1);

    // One numbered far ahead (it would move the replay window past Bob's real frames): dropped.
    sim.forge_as(
        b,
        conclave_room::meeting::MICROPHONE,
        MediaKind::Audio,
        5_000,
    );
    sim.run_for(Duration::from_millis(50));
    assert_eq!(sim.receive_stats(a, b).unsigned, 1);

    // Bob's real frames still arrive.
    let decoded = sim.people[a].got[&(bob, MediaKind::Audio)].decrypted;
    sim.run_for(S);
    assert!(sim.people[a].got[&(bob, MediaKind::Audio)].decrypted > decoded + 20);
    assert_eq!(
        sim.receive_stats(a, b).forged + sim.receive_stats(a, b).forgeries_found,
        1
    );
}

#[test]
fn talking_while_muted_is_noticed_and_ends_when_the_microphone_stops() {
    use conclave_room::meeting::MediaInput;
    let start = std::time::Instant::now();
    let mut m = sim::alone(start);
    m.command(Command::SetAudio(false), start);
    let frame = Duration::from_millis(20);
    let mut now = start;
    for _ in 0..30 {
        now += frame;
        m.handle_media(MediaInput::OwnLevel(10), now);
    }
    assert!(m.local().talking_while_muted);
    let said = std::iter::from_fn(|| m.poll_event())
        .any(|e| matches!(e, Event::Local(l) if l.talking_while_muted));
    assert!(said, "the display is told");
    // The microphone stops delivering: within a moment, no more "talking".
    let t = m.poll_timeout().expect("a timeout to notice the silence");
    assert!(t <= now + Duration::from_millis(200));
    m.handle_timeout(now + Duration::from_millis(250));
    assert!(!m.local().talking_while_muted);
    // Unmuted, talking is just talking.
    m.command(Command::SetAudio(true), now);
    for _ in 0..30 {
        now += frame;
        m.handle_media(MediaInput::OwnLevel(10), now);
    }
    assert!(!m.local().talking_while_muted);
}

#[test]
fn a_link_too_slow_for_video_pauses_it_keeps_audio_and_recovers() {
    use conclave_room::meeting::{AUDIO_RESERVE_BPS, CAMERA, MediaInput, START_ESTIMATE_BPS};
    let mut sim = Sim::new(12);
    let a = sim.join("a");
    let b = sim.join("b");
    assert!(sim.run_until(5 * S, |s| verified_by_all(s, &[a, b])
        && connected(s, &[a, b])));
    let start = sim.people[a].video_rate[&CAMERA].expect("sending");
    assert!(
        start <= sim::VIDEO_MAX && start > START_ESTIMATE_BPS / 2,
        "{start}"
    );
    // The congestion control of a's connection finds a link that carries little more than audio.
    sim.media_input(a, MediaInput::SendEstimate(AUDIO_RESERVE_BPS + 30_000));
    assert_eq!(sim.people[a].video_rate[&CAMERA], None, "paused");
    sim.run_for(S / 5);
    assert_eq!(
        sim.flowing(&[(b, a)], S),
        [(b, a, MediaKind::Video)],
        "audio goes on"
    );
    // The link recovers part way: the picture comes back at what it carries, decodable.
    sim.media_input(a, MediaInput::SendEstimate(400_000));
    let rate = sim.people[a].video_rate[&CAMERA].expect("resumed");
    assert!(rate < 400_000 - AUDIO_RESERVE_BPS, "{rate}");
    assert_eq!(sim.flowing(&[(b, a), (a, b)], S), []);
    // The same connection interrupted and back (ICE disconnected, as on a congested uplink):
    // its estimator goes on, and so does the rate it gave.
    for state in [LinkState::Connecting, LinkState::Connected] {
        sim.sfu_event(
            a,
            conclave_room::sfu::SfuEvent::Link {
                link: Link::Publish,
                state,
            },
        );
    }
    assert_eq!(sim.people[a].video_rate[&CAMERA], Some(rate));
    // A new connection starts its estimate afresh.
    sim.media_input(a, MediaInput::SendEstimate(AUDIO_RESERVE_BPS));
    assert_eq!(sim.people[a].video_rate[&CAMERA], None);
    let now = sim.now;
    sim.sfu.restart(now);
    assert!(sim.run_until(3 * S, |s| verified_by_all(s, &[a, b])
        && connected(s, &[a, b])));
    assert_eq!(sim.people[a].video_rate[&CAMERA], Some(start));
    assert_eq!(sim.flowing(&[(b, a)], S), []);
    // Where the adapter says the new connection's estimate starts, when the SFU answers (before
    // the connection is up), it starts there: the connection coming up does not undo it.
    sim.announce_start = Some(300_000);
    sim.media_input(a, MediaInput::SendEstimate(AUDIO_RESERVE_BPS));
    let now = sim.now;
    sim.sfu.restart(now);
    assert!(sim.run_until(3 * S, |s| verified_by_all(s, &[a, b])
        && connected(s, &[a, b])));
    let announced =
        ((300_000 - AUDIO_RESERVE_BPS) as f64 * conclave_room::meeting::VIDEO_SHARE) as u32;
    assert_eq!(sim.people[a].video_rate[&CAMERA], Some(announced));
    assert_eq!(sim.flowing(&[(b, a)], S), []);
}

/// The admissions `i`'s display was told, in order.
fn admissions(sim: &Sim, i: usize) -> Vec<Admission> {
    sim.people[i]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Admission(a) => Some(*a),
            _ => None,
        })
        .collect()
}

const OTHER_SECRET: &[u8] = b"not the room secret, 32 bytes!!!";

#[test]
fn a_wrong_room_key_keeps_its_holder_out_until_someone_shares_it_or_they_go_in_anyway() {
    let mut sim = Sim::new(21);
    let a = sim.join("alice");
    // Alone once connected: in at once, after the connection is.
    assert!(sim.run_until(2 * S, |s| connected(s, &[a])));
    assert_eq!(sim.people[a].meeting.admission(), Admission::In);
    let events = &sim.people[a].events;
    let at = |f: &dyn Fn(&Event) -> bool| events.iter().position(f).unwrap();
    assert!(
        at(&|e| matches!(e, Event::Connection(Connection::Connected)))
            < at(&|e| matches!(e, Event::Admission(Admission::In)))
    );
    // Bob has the right link: he waits while his handshake with Alice runs, then is in.
    let b = sim.join("bob");
    assert!(sim.run_until(5 * S, |s| verified_by_all(s, &[a, b])));
    assert_eq!(sim.people[b].meeting.admission(), Admission::In);
    assert!(
        admissions(&sim, b)
            .iter()
            .all(|x| matches!(x, Admission::Waiting { strangers: 0, .. } | Admission::In))
    );
    // Mallory's link carries another room key: connected, but never in.
    let m = sim.join_as("mallory", "p-mallory", OTHER_SECRET);
    sim.run_for(conclave_group::HANDSHAKE_TIMEOUT + 2 * S);
    assert!(connected(&sim, &[m]));
    assert_eq!(
        sim.people[m].meeting.admission(),
        Admission::Waiting {
            checking: 0,
            strangers: 2
        }
    );
    assert!(admissions(&sim, m).contains(&Admission::Waiting {
        checking: 2,
        strangers: 0
    }));
    assert!(!admissions(&sim, m).contains(&Admission::In));
    // Those inside stay in, and see her as the stranger she is to them.
    for i in [a, b] {
        assert_eq!(sim.people[i].meeting.admission(), Admission::In);
        let her = sim.id_of(i, m).unwrap();
        let p = sim.people[i].meeting.participant(her).unwrap();
        assert!(matches!(p.verification, Verification::Failed { .. }));
    }
    // Someone who shares her key comes: she is in, with him.
    let n = sim.join_as("nick", "p-nick", OTHER_SECRET);
    assert!(sim.run_until(5 * S, |s| s.people[m].meeting.admission() == Admission::In));
    assert!(sim.run_until(5 * S, |s| s.people[n].meeting.admission() == Admission::In));
    // Bob leaves and comes back with a link of Nick's room: nobody he left shares it.
    sim.leave(b);
    sim.run_for(S);
    let c = sim.join_as("carol", "p-carol", b"a third room secret, 32 bytes!!!");
    sim.run_for(conclave_group::HANDSHAKE_TIMEOUT + 2 * S);
    assert_eq!(
        sim.people[c].meeting.admission(),
        Admission::Waiting {
            checking: 0,
            strangers: 3
        }
    );
    // She chooses to go in anyway; once in, in, whoever leaves.
    sim.command(c, Command::GoIn);
    assert_eq!(sim.people[c].meeting.admission(), Admission::In);
    sim.leave(a);
    sim.leave(m);
    sim.leave(n);
    sim.run_for(2 * S);
    assert_eq!(sim.people[c].meeting.admission(), Admission::In);
    assert!(!sim.people[c].meeting.is_over());
}

#[test]
fn an_admitted_meeting_stays_in_through_an_sfu_restart() {
    let mut sim = Sim::new(22);
    let who: Vec<usize> = ["a", "b"].iter().map(|n| sim.join(n)).collect();
    assert!(sim.run_until(5 * S, |s| verified_by_all(s, &who) && connected(s, &who)));
    let now = sim.now;
    sim.sfu.restart(now);
    sim.run_for(Duration::from_millis(50));
    assert!(sim.run_until(3 * S, |s| verified_by_all(s, &who) && connected(s, &who)));
    for &i in &who {
        assert_eq!(admissions(&sim, i).last(), Some(&Admission::In));
        assert_eq!(
            admissions(&sim, i)
                .iter()
                .filter(|x| **x == Admission::In)
                .count(),
            1
        );
    }
}

#[test]
fn an_unreachable_server_never_admits() {
    let mut sim = Sim::new(23);
    sim.sfu.set_down(true);
    let a = sim.join("alice");
    sim.run_for(10 * S);
    assert_eq!(sim.people[a].meeting.connection(), Connection::Unreachable);
    assert!(!admissions(&sim, a).contains(&Admission::In));
}

#[test]
fn strangers_who_vanish_do_not_let_a_waiting_holder_of_another_key_in() {
    // Alone lets one in only if nobody without our key was here meanwhile: their connections
    // blinking (or an SFU hiding them for a while) must not open the door.
    let mut sim = Sim::new(24);
    let a = sim.join("alice");
    let b = sim.join("bob");
    assert!(sim.run_until(5 * S, |s| verified_by_all(s, &[a, b])));
    let m = sim.join_as("mallory", "p-mallory", OTHER_SECRET);
    assert!(
        sim.run_until(conclave_group::HANDSHAKE_TIMEOUT + 3 * S, |s| s.people[m]
            .meeting
            .admission()
            == Admission::Waiting {
                checking: 0,
                strangers: 2
            })
    );
    sim.crash(a);
    sim.crash(b);
    sim.run_for(conclave_room::meeting::AWAY_LIMIT + 2 * S);
    assert_eq!(
        sim.people[m].meeting.admission(),
        Admission::Waiting {
            checking: 0,
            strangers: 0
        }
    );
    assert!(!admissions(&sim, m).contains(&Admission::In));
    // Her own choice still opens it.
    sim.command(m, Command::GoIn);
    assert_eq!(sim.people[m].meeting.admission(), Admission::In);
}
