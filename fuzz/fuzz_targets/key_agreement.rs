//! Key-agreement messages from a hostile SFU or participant: parsing never panics, and a
//! participant fed arbitrary conversations never panics, never verifies anyone, never accepts a
//! key, and only ever sends well-formed messages. Then an insider with a real channel (it holds
//! the link) seals arbitrary inner messages (keys, acknowledgements, group-code commitments and
//! nonces): nothing panics, and no group code settles from a nonce the insider did not commit to.
#![no_main]

use std::time::{Duration, Instant};

use conclave_e2ee::CipherSuite;
use conclave_group::handshake::Initiating;
use conclave_group::wire::{Body, Inner, Message};
use conclave_group::{Group, GroupEvent, Identity, Psk};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Message::decode(data);
    let _ = Inner::decode(data);

    let identity = Identity::from_secret(&[7; 32]).expect("32 bytes");
    let mut group = Group::new(
        2,
        identity,
        Psk::derive(&[1; 32], "room"),
        CipherSuite::AesGcm128Sha256,
    )
    .expect("randomness");
    let start = Instant::now();
    let mut now = start;
    group.peer_joined(1, now);
    group.peer_joined(3, now);
    // Input: records of [sender selector, length, bytes...].
    let mut rest = data;
    while let [sel, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (bytes, next) = tail.split_at(len);
        rest = next;
        let from = u64::from(sel % 4);
        let _ = group.receive(from, bytes, now);
        now += Duration::from_millis(u64::from(*sel));
        if group.poll_timeout().is_some_and(|t| t <= now) {
            group.handle_timeout(now);
        }
        while let Some(out) = group.poll_transmit() {
            assert!(Message::decode(&out).is_ok(), "we sent a malformed message");
        }
        while let Some(event) = group.poll_event() {
            assert!(
                !matches!(
                    event,
                    GroupEvent::PeerVerified { .. } | GroupEvent::PeerKey { .. }
                ),
                "forged bytes verified someone or delivered a key"
            );
        }
    }

    insider(data);
});

/// `data` as records of [delay, length, inner bytes...] sealed by an insider on an open channel.
fn insider(data: &[u8]) {
    let psk = || Psk::derive(&[1; 32], "room");
    let mut honest = Group::new(
        2,
        Identity::from_secret(&[7; 32]).expect("32 bytes"),
        psk(),
        CipherSuite::AesGcm128Sha256,
    )
    .expect("randomness");
    let mut now = Instant::now();
    honest.peer_joined(1, now);
    let insider = Identity::from_secret(&[9; 32]).expect("32 bytes");
    let init = Initiating::start(&insider, &psk(), 1, 2, None).expect("noise");
    let handshake = |step, noise: &[u8]| {
        Message {
            from: 1,
            to: 2,
            body: Body::Handshake {
                step,
                noise: noise.to_vec(),
            },
        }
        .encode()
    };
    honest
        .receive(1, &handshake(1, &init.message1), now)
        .expect("message 1");
    let Some(m2) =
        std::iter::from_fn(|| honest.poll_transmit()).find_map(|b| {
            match Message::decode(&b).expect("well-formed").body {
                Body::Handshake { step: 2, noise } => Some(noise),
                _ => None,
            }
        })
    else {
        panic!("no message 2");
    };
    let (mut open, m3) = init.finish(2, &m2).expect("message 2");
    honest
        .receive(1, &handshake(3, &m3), now)
        .expect("message 3");
    // Alone, the code was settled at once; now it waits for the insider.
    while honest.poll_event().is_some() {}
    assert!(honest.group_code().is_none());
    let mut committed = false;
    let mut rest = data;
    while let [delay, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (bytes, next) = tail.split_at(len);
        rest = next;
        committed |= bytes.first() == Some(&3);
        let (nonce, ciphertext) = open.seal(bytes);
        let sealed = Message {
            from: 1,
            to: 2,
            body: Body::Sealed { nonce, ciphertext },
        }
        .encode();
        let _ = honest.receive(1, &sealed, now);
        now += Duration::from_millis(u64::from(*delay) * 10);
        if honest.poll_timeout().is_some_and(|t| t <= now) {
            honest.handle_timeout(now);
        }
        while let Some(out) = honest.poll_transmit() {
            assert!(Message::decode(&out).is_ok(), "we sent a malformed message");
        }
        while let Some(event) = honest.poll_event() {
            if let GroupEvent::GroupCode(Some(_)) = event {
                assert!(committed, "a code settled without the insider's commitment");
            }
        }
    }
}
