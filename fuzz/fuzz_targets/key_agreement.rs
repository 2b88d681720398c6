//! Key-agreement messages from a hostile SFU or participant: parsing never panics, and a
//! participant fed arbitrary conversations never panics, never verifies anyone, never accepts a
//! key, and only ever sends well-formed messages.
#![no_main]

use std::time::{Duration, Instant};

use conclave_e2ee::CipherSuite;
use conclave_group::wire::{Inner, Message};
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
});
