//! The group code's commit-and-reveal round (docs/PROTOCOL.md §7), seen by an insider: someone
//! with the link runs a real handshake with an honest participant and reads every message it gets.
//! The honest side must never reveal its nonce before the insider has committed, so that the
//! insider cannot choose what it contributes after seeing what the others contribute (with the
//! SFU splitting the room, that choice is what made two groups' codes match by a birthday search).

use std::time::{Duration, Instant};

use conclave_e2ee::CipherSuite;
use conclave_group::handshake::{Initiating, Open, Psk};
use conclave_group::wire::{Body, Inner, Message};
use conclave_group::{Group, GroupCode, GroupEvent, Identity, commitment, view_of};

const HONEST: u64 = 20;
const INSIDER: u64 = 10; // the lower id initiates

struct Insider {
    identity: Identity,
    open: Open,
    /// Every inner message the honest participant sealed to us, in order.
    seen: Vec<Inner>,
}

impl Insider {
    fn read(&mut self, honest: &mut Group) {
        while let Some(bytes) = honest.poll_transmit() {
            let m = Message::decode(&bytes).unwrap();
            if let Body::Sealed { nonce, ciphertext } = m.body {
                let plain = self.open.open(HONEST, nonce, &ciphertext).unwrap();
                self.seen.push(Inner::decode(&plain).unwrap());
            }
        }
    }

    fn send(&mut self, honest: &mut Group, inner: &Inner, now: Instant) -> bool {
        let (nonce, ciphertext) = self.open.seal(&inner.encode());
        let bytes = Message {
            from: INSIDER,
            to: HONEST,
            body: Body::Sealed { nonce, ciphertext },
        }
        .encode();
        let ok = honest.receive(INSIDER, &bytes, now).is_ok();
        self.read(honest);
        ok
    }

    fn reveals(&self) -> usize {
        self.seen
            .iter()
            .filter(|i| matches!(i, Inner::CodeReveal { .. }))
            .count()
    }

    fn commitment(&self) -> ([u8; 32], [u8; 32]) {
        self.seen
            .iter()
            .find_map(|i| match i {
                Inner::CodeCommit { view, commitment } => Some((*view, *commitment)),
                _ => None,
            })
            .expect("the honest side committed")
    }
}

fn codes(honest: &mut Group) -> Vec<Option<GroupCode>> {
    let mut out = Vec::new();
    while let Some(e) = honest.poll_event() {
        if let GroupEvent::GroupCode(c) = e {
            out.push(c);
        }
    }
    out
}

/// An honest participant and an insider holding the same link, handshake done.
fn meet(now: Instant) -> (Group, Insider) {
    let psk = || Psk::derive(&[7; 32], "room");
    let mut honest = Group::new(
        HONEST,
        Identity::generate().unwrap(),
        psk(),
        CipherSuite::AesGcm128Sha256,
    )
    .unwrap();
    let identity = Identity::generate().unwrap();
    honest.peer_joined(INSIDER, now);
    let init = Initiating::start(&identity, &psk(), INSIDER, HONEST, None).unwrap();
    let message = |step, noise: &[u8]| {
        Message {
            from: INSIDER,
            to: HONEST,
            body: Body::Handshake {
                step,
                noise: noise.to_vec(),
            },
        }
        .encode()
    };
    honest
        .receive(INSIDER, &message(1, &init.message1), now)
        .unwrap();
    let m2 = std::iter::from_fn(|| honest.poll_transmit())
        .find_map(|b| match Message::decode(&b).unwrap().body {
            Body::Handshake { step: 2, noise } => Some(noise),
            _ => None,
        })
        .unwrap();
    let (open, m3) = init.finish(HONEST, &m2).unwrap();
    honest.receive(INSIDER, &message(3, &m3), now).unwrap();
    let mut insider = Insider {
        identity,
        open,
        seen: Vec::new(),
    };
    insider.read(&mut honest);
    (honest, insider)
}

#[test]
fn nobody_reveals_a_nonce_before_everyone_has_committed() {
    let t0 = Instant::now();
    let (mut honest, mut insider) = meet(t0);
    let (view, _) = insider.commitment();
    assert_eq!(
        view,
        view_of(&[*honest.identity(), *insider.identity.public()]),
        "the round is for the two of us"
    );
    assert_eq!(honest.group_code(), None, "nothing to compare yet");
    // However long the insider waits (and the honest side resends), no nonce comes.
    let mut now = t0;
    for _ in 0..100 {
        now += Duration::from_millis(100);
        honest.handle_timeout(now);
        insider.read(&mut honest);
    }
    assert_eq!(
        insider.reveals(),
        0,
        "revealed before the insider committed"
    );
    assert!(
        insider
            .seen
            .iter()
            .filter(|i| matches!(i, Inner::CodeCommit { .. }))
            .count()
            > 1,
        "the commitment is resent"
    );

    // The insider commits: only now does the honest nonce come.
    let nonce = [0x77; 32];
    let mine = commitment(&view, insider.identity.public(), &nonce);
    assert!(insider.send(
        &mut honest,
        &Inner::CodeCommit {
            view,
            commitment: mine
        },
        now
    ));
    assert_eq!(insider.reveals(), 1);
    let honest_nonce = insider
        .seen
        .iter()
        .find_map(|i| match i {
            Inner::CodeReveal { nonce, .. } => Some(*nonce),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        commitment(&view, honest.identity(), &honest_nonce),
        insider.commitment().1,
        "the nonce is the one committed to"
    );
    codes(&mut honest);

    // Another commitment for the same round, or a nonce it does not commit to, is refused.
    let other = commitment(&view, insider.identity.public(), &[0x78; 32]);
    assert!(!insider.send(
        &mut honest,
        &Inner::CodeCommit {
            view,
            commitment: other
        },
        now
    ));
    assert!(!insider.send(
        &mut honest,
        &Inner::CodeReveal {
            view,
            nonce: [0x78; 32]
        },
        now
    ));
    assert_eq!(honest.group_code(), None);

    // The true nonce settles the code, the same on both sides.
    assert!(insider.send(&mut honest, &Inner::CodeReveal { view, nonce }, now));
    let expected = GroupCode::of(&[
        (*honest.identity(), honest_nonce),
        (*insider.identity.public(), nonce),
    ]);
    assert_eq!(honest.group_code(), Some(expected.clone()));
    assert_eq!(codes(&mut honest), vec![Some(expected)]);
}

#[test]
fn a_commitment_for_a_round_not_yet_reached_is_kept_until_it_is() {
    // The insider's view may run ahead of ours; its commitment must not be lost.
    let t0 = Instant::now();
    let (mut honest, mut insider) = meet(t0);
    let (view, _) = insider.commitment();
    let ahead = [0x55; 32];
    assert!(insider.send(
        &mut honest,
        &Inner::CodeCommit {
            view: ahead,
            commitment: [1; 32]
        },
        t0
    ));
    assert_eq!(
        insider.reveals(),
        0,
        "a commitment for another view counts for nothing"
    );
    let nonce = [0x66; 32];
    let c = commitment(&view, insider.identity.public(), &nonce);
    assert!(insider.send(
        &mut honest,
        &Inner::CodeCommit {
            view,
            commitment: c
        },
        t0
    ));
    assert_eq!(insider.reveals(), 1);
    assert!(insider.send(&mut honest, &Inner::CodeReveal { view, nonce }, t0));
    assert!(honest.group_code().is_some());
}

#[test]
fn the_same_people_meeting_twice_compare_a_different_code() {
    // The code is not a function of the identity keys alone: nothing can be searched for in
    // advance, and a code read out once is worth nothing in the next meeting.
    let alice = Identity::from_secret(&[0xa1; 32]).unwrap();
    let codes: Vec<GroupCode> = (0..2)
        .map(|_| {
            let g = Group::new(
                1,
                alice.clone(),
                Psk::derive(&[7; 32], "room"),
                CipherSuite::AesGcm128Sha256,
            )
            .unwrap();
            g.group_code().expect("alone, the code is settled at once")
        })
        .collect();
    assert_ne!(codes[0], codes[1]);
}
