//! Janus signalling from a hostile SFU: parsing never panics, and a joined session fed arbitrary
//! messages never panics and keeps producing well-formed JSON.
#![no_main]

use std::time::Instant;

use conclave_room::sfu::janus::message::parse;
use conclave_room::sfu::janus::{JanusSession, JoinConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse(text);
    let mut session = JanusSession::new(JoinConfig {
        room: 1,
        pin: None,
        pseudonym: "p".into(),
        record_dir: None,
    });
    let now = Instant::now();
    session.start(now);
    // Each line is one message, so the fuzzer can build conversations.
    for line in text.lines() {
        let _ = session.handle_message(line, now);
        session.handle_timeout(now);
        while let Some(out) = session.poll_transmit() {
            assert!(serde_json::from_str::<serde_json::Value>(&out).is_ok());
        }
        while session.poll_event().is_some() {}
    }
});
