//! The properties key agreement promises, in virtual time, with the real keys each participant
//! held.

mod sim;

use std::time::Duration;

use conclave_group::{DEBOUNCE, GRACE, GroupError, Identity, MAX_DEBOUNCE, wire};
use sim::{Meeting, psk};

const SETTLE: Duration = Duration::from_secs(2);

#[test]
fn three_participants_verify_each_other_share_one_code_and_decrypt_each_other() {
    let mut m = Meeting::default();
    for id in [10, 20, 30] {
        m.join(id, 1);
    }
    m.advance(SETTLE);
    assert!(m.settled());
    let codes: Vec<_> = m.people.values().map(|p| p.code.clone().unwrap()).collect();
    assert!(codes.windows(2).all(|w| w[0] == w[1]), "{codes:?}");
    // Each pair sees the same safety number.
    assert_eq!(m.people[&10].verified[&20], m.people[&20].verified[&10]);
    assert_ne!(m.people[&10].verified[&20], m.people[&10].verified[&30]);
    for from in [10, 20, 30] {
        let frame = m.p(from).frame(b"hello");
        for to in [10, 20, 30].into_iter().filter(|t| *t != from) {
            assert!(m.p(to).can_decrypt(from, &frame), "{to} reads {from}");
        }
    }
}

#[test]
fn a_newcomer_cannot_decrypt_what_was_sent_before_it_joined() {
    let mut m = Meeting::default();
    m.join(1, 7);
    m.join(2, 7);
    m.advance(SETTLE);
    let before: Vec<Vec<u8>> = (0..20).map(|i| m.p(1).frame(&[i; 50])).collect();
    let step_before = m.p(1).sender.as_ref().unwrap().step();
    m.join(3, 7);
    // Frames sent while the newcomer's handshake and the key change are under way.
    let mut during = Vec::new();
    for _ in 0..10 {
        during.push(m.p(1).frame(b"during"));
        m.advance(Duration::from_millis(20));
    }
    m.advance(SETTLE);
    assert!(m.settled());
    let after = m.p(1).frame(b"after");
    assert!(
        m.p(3).can_decrypt(1, &after),
        "the newcomer reads what follows"
    );
    for f in before.iter().chain(&during[..1]) {
        assert!(!m.p(3).can_decrypt(1, f), "the newcomer read the past");
    }
    // The others followed the ratchet without a message.
    assert!(m.p(2).can_decrypt(1, &after));
    let s = m.p(1).sender.as_ref().unwrap();
    assert_eq!(
        (s.generation(), s.step()),
        (1, step_before + 1),
        "one ratchet step"
    );
}

#[test]
fn a_leaver_cannot_decrypt_what_is_sent_after_the_grace_period() {
    let mut m = Meeting::default();
    for id in [1, 2, 3] {
        m.join(id, 7);
    }
    m.advance(SETTLE);
    let mut leaver = m.leave(3);
    let generation_before = m.p(1).sender.as_ref().unwrap().generation();
    m.advance(DEBOUNCE + GRACE + Duration::from_millis(20));
    let s = m.p(1).sender.as_ref().unwrap();
    assert_eq!(
        s.generation(),
        generation_before + 1,
        "a fresh key within the debounce and grace period"
    );
    let after = m.p(1).frame(b"after");
    assert!(!leaver.can_decrypt(1, &after), "the leaver read the future");
    assert!(m.p(2).can_decrypt(1, &after));
    let from_2 = m.p(2).frame(b"after");
    assert!(!leaver.can_decrypt(2, &from_2));
    assert!(m.p(1).can_decrypt(2, &from_2));
    // The leaver's old keys were real: it read frames from before it left.
    let codes: Vec<_> = m.people.values().map(|p| p.code.clone().unwrap()).collect();
    assert_eq!(codes[0], codes[1]);
    assert_ne!(Some(codes[0].clone()), leaver.code);
}

#[test]
fn the_leaver_did_hold_working_keys_until_it_left() {
    let mut m = Meeting::default();
    for id in [1, 2, 3] {
        m.join(id, 7);
    }
    m.advance(SETTLE);
    let last = m.p(1).frame(b"last");
    let mut leaver = m.leave(3);
    assert!(leaver.can_decrypt(1, &last), "so the test above could fail");
}

#[test]
fn without_the_room_secret_nobody_verifies_you_or_gives_you_a_key() {
    let mut m = Meeting::default();
    m.join(1, 7);
    m.join(2, 7);
    m.join(3, 9); // holds a link for the room with another secret
    // 1 (the lower id) starts the handshake with 3, whose answer never comes: 3 cannot read
    // message 1 at all. 3 starts the one with 2, which refuses 3's message 1 at once.
    m.advance(conclave_group::HANDSHAKE_TIMEOUT + Duration::from_millis(50));
    for honest in [1, 2] {
        let p = m.p(honest);
        assert!(
            !p.verified.contains_key(&3),
            "{honest} verified the intruder"
        );
        assert!(p.unverified.contains_key(&3), "{honest} says nothing");
        assert!(!p.receivers.contains_key(&3));
    }
    assert!(m.p(3).verified.is_empty());
    assert!(m.p(3).receivers.is_empty(), "the intruder got keys");
    let frame = m.p(1).frame(b"secret");
    assert!(!m.p(3).can_decrypt(1, &frame));
    assert!(m.p(2).can_decrypt(1, &frame));
    assert_eq!(m.people[&1].code, m.people[&2].code);
    assert_ne!(m.people[&1].code, m.people[&3].code);
}

#[test]
fn someone_with_the_link_posing_as_another_changes_the_group_code() {
    // Bob keeps a persistent identity; Mallory has the link and joins under Bob's id and name.
    let bob = Identity::from_secret(&[0xb0; 32]).unwrap();
    let alice = Identity::from_secret(&[0xa1; 32]).unwrap();
    let genuine = {
        let mut m = Meeting::default();
        m.join_as(1, psk(7), alice.clone());
        m.join_as(2, psk(7), bob.clone());
        m.advance(SETTLE);
        assert_eq!(m.people[&1].code, m.people[&2].code);
        m.p(1).code.clone().unwrap()
    };
    let mut m = Meeting::default();
    m.join_as(1, psk(7), alice);
    m.join_as(2, psk(7), Identity::generate().unwrap());
    m.advance(SETTLE);
    assert!(
        m.settled(),
        "the impostor holds the link, so the handshake succeeds"
    );
    assert_ne!(
        m.p(1).code.clone().unwrap(),
        genuine,
        "but the code shows it"
    );
}

#[test]
fn an_sfu_in_the_middle_with_the_link_leaves_the_two_sides_with_different_codes() {
    // Alice talks to "bob" and Bob to "alice", both Mallory's: each side completes a handshake,
    // but nobody else's view matches.
    let mut left = Meeting::default();
    left.join(1, 7); // Alice
    left.join(2, 7); // Mallory as Bob
    let mut right = Meeting::default();
    right.join(1, 7); // Mallory as Alice
    right.join(2, 7); // Bob
    left.advance(SETTLE);
    right.advance(SETTLE);
    assert!(left.settled() && right.settled());
    assert_ne!(left.p(1).code, right.p(2).code);
}

#[test]
fn handshakes_and_keys_get_through_a_lossy_sfu() {
    let mut m = Meeting {
        lose_every: Some(3),
        ..Meeting::default()
    };
    for id in [5, 6, 7, 8] {
        m.join(id, 1);
    }
    m.advance(Duration::from_secs(5));
    assert!(m.settled());
    let frame = m.p(8).frame(b"x");
    assert!(m.p(5).can_decrypt(8, &frame));
}

#[test]
fn a_burst_of_joins_changes_the_key_once() {
    let mut m = Meeting::default();
    m.join(1, 7);
    m.advance(SETTLE);
    let changes = m.p(1).send_key_changes;
    for id in 2..=6 {
        m.join(id, 7);
        m.advance(Duration::from_millis(30));
    }
    m.advance(MAX_DEBOUNCE + SETTLE);
    assert!(m.settled());
    assert_eq!(
        m.p(1).send_key_changes,
        changes + 1,
        "one ratchet for the burst"
    );
}

#[test]
fn forged_replayed_and_spoofed_messages_are_refused_without_harm() {
    let mut m = Meeting::default();
    m.join(1, 7);
    m.join(2, 7);
    m.advance(SETTLE);
    let now = m.now;
    // Capture a sealed message from 1 to 3 as the SFU relays it: 1 hands 3 its key once 3
    // proved the channel.
    m.tap = true;
    m.join(3, 7);
    m.advance(SETTLE);
    let refused_before = m.p(2).group.stats().messages_refused;
    let sealed = m
        .tapped
        .iter()
        .find(|(from, bytes)| {
            *from == 1
                && wire::Message::decode(bytes)
                    .is_ok_and(|msg| matches!(msg.body, wire::Body::Sealed { .. }) && msg.to == 3)
        })
        .map(|(_, bytes)| bytes.clone())
        .expect("1 sealed a key for 3");
    let two = m.p(2);
    assert_eq!(
        two.group.receive(3, &sealed, now),
        Err(GroupError::Spoofed),
        "relabelled by the SFU"
    );
    assert!(two.group.receive(1, &[1, 2, 3], now).is_err());
    assert_eq!(two.group.stats().messages_refused, refused_before + 2);
    // Addressed to someone else: ignored, not refused.
    assert_eq!(two.group.receive(1, &sealed, now), Ok(()));
    // A tampered sealed message for 3 fails at 3; its replay fails too.
    let mut tampered = sealed.clone();
    *tampered.last_mut().unwrap() ^= 1;
    let three = m.p(3);
    assert_eq!(
        three.group.receive(1, &tampered, now),
        Err(GroupError::Unauthentic(1))
    );
    // It reached 3 already: a replay.
    assert_eq!(
        three.group.receive(1, &sealed, now),
        Err(GroupError::Unauthentic(1)),
        "a replay"
    );
    // And the meeting still settles.
    m.advance(SETTLE);
    assert!(m.settled());
}

#[test]
fn a_pair_whose_confirmation_timed_out_handshakes_again_once_the_sfu_lets_them() {
    use conclave_group::{CONFIRM_TIMEOUT, RETRY_AFTER_FAILURE};
    let mut m = Meeting::default();
    // The SFU holds back everything sealed that 2 sends: 1 (the initiator) never sees 2 prove
    // the channel, and gives up on 2.
    m.drop_sealed_from.insert(2);
    m.join(1, 7);
    m.join(2, 7);
    m.advance(CONFIRM_TIMEOUT + Duration::from_secs(1));
    assert!(m.p(1).unverified.contains_key(&2), "1 gave up on 2");
    assert!(!m.settled());
    // The SFU lets them talk again: 1 starts over, 2 answers beside its open channel, and the
    // new handshake replaces it. Both verify and hold each other's keys.
    m.drop_sealed_from.clear();
    m.advance(RETRY_AFTER_FAILURE + Duration::from_secs(2));
    assert!(m.settled(), "they handshake again");
    let frame = m.p(1).frame(b"after");
    assert!(m.p(2).can_decrypt(1, &frame));
    let frame = m.p(2).frame(b"after");
    assert!(m.p(1).can_decrypt(2, &frame));
}

#[test]
fn a_strangers_message_2_changes_no_key() {
    let mut m = Meeting::default();
    m.join(1, 7);
    m.join(3, 7);
    m.advance(SETTLE);
    assert!(m.settled());
    let changes = m.p(1).send_key_changes;
    // 2 has the room but not its secret: its message 2 answers 1's message 1, but it cannot
    // prove the channel, so 1 neither ratchets nor rekeys for it.
    m.join(2, 9);
    m.advance(Duration::from_secs(2));
    assert_eq!(m.p(1).send_key_changes, changes);
    assert!(!m.p(1).verified.contains_key(&2));
}

#[test]
fn a_flood_of_distinct_first_messages_is_answered_at_most_once_per_retry() {
    use conclave_group::RETRY;
    use conclave_group::handshake::Initiating;
    let mut m = Meeting::default();
    m.join(2, 7);
    let before = m.p(2).group.stats().messages_sent;
    // Someone posing as participant 1 sends 2 a hundred different messages 1 in 100 ms.
    let now = m.now;
    let stranger = Identity::generate().unwrap();
    let mut answered = 0;
    for i in 0..100u32 {
        let at = now + Duration::from_millis(u64::from(i));
        let first = Initiating::start(&stranger, &psk(9), 1, 2, None).unwrap();
        let message = wire::Message {
            from: 1,
            to: 2,
            body: wire::Body::Handshake {
                step: 1,
                noise: first.message1.clone(),
            },
        };
        if m.p(2).group.receive(1, &message.encode(), at).is_ok() {
            answered += 1;
        }
    }
    assert!(answered <= 1 + 100 / RETRY.as_millis() as u32, "{answered}");
    let sent = m.p(2).group.stats().messages_sent - before;
    assert!(sent <= 2, "{sent} answers");
}

#[test]
fn someone_without_the_room_secret_learns_no_identity_key() {
    use conclave_group::handshake::{Initiating, Responding};
    let honest = Identity::generate().unwrap();
    let stranger = Identity::generate().unwrap();
    // The stranger initiates: its message 1 is refused, so no message 2 (with the honest
    // identity key inside) is ever written for it.
    let init = Initiating::start(&stranger, &psk(9), 1, 2, None).unwrap();
    assert!(Responding::answer(&honest, &psk(7), 2, 1, &init.message1, None).is_err());
    // The honest one initiates: the stranger cannot even read message 1, so it cannot answer,
    // and never sees the message 3 that would carry the honest identity key.
    let init = Initiating::start(&honest, &psk(7), 1, 2, None).unwrap();
    assert!(Responding::answer(&stranger, &psk(9), 2, 1, &init.message1, None).is_err());
}

#[test]
fn a_private_message_reaches_its_addressee_alone() {
    let mut m = Meeting::default();
    for id in [1, 2, 3] {
        m.join(id, 7);
    }
    m.join(4, 9); // holds another secret: no channel with anyone
    m.advance(SETTLE);
    assert!(m.p(1).group.send_private(2, "nur für dich".as_bytes()));
    assert!(
        !m.p(1).group.send_private(4, b"x"),
        "nothing is sealed to someone unverified"
    );
    assert!(!m.p(1).group.send_private(2, &[]));
    m.advance(Duration::from_millis(10));
    assert_eq!(
        m.p(2).private,
        vec![(1, "nur für dich".as_bytes().to_vec())]
    );
    assert!(m.p(3).private.is_empty() && m.p(4).private.is_empty());
}
