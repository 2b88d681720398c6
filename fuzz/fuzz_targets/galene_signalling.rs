//! Galène signalling from a hostile SFU: a session fed arbitrary messages (one per line) never
//! panics and keeps producing well-formed JSON; the SDP reader takes any offer.
#![no_main]

use std::time::{Duration, Instant};

use conclave_room::sfu::galene::{GaleneSession, JoinConfig, MAX_SECTIONS, media_sections};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    assert!(media_sections(text).len() <= MAX_SECTIONS);
    let mut session = GaleneSession::new(JoinConfig {
        group: "g/1".into(),
        username: "p".into(),
        password: None,
        id: "me".into(),
    });
    let mut now = Instant::now();
    session.start(now);
    for line in text.lines() {
        let _ = session.handle_message(line, now);
        now += Duration::from_millis(50);
        session.handle_timeout(now);
        while let Some(out) = session.poll_transmit() {
            assert!(serde_json::from_str::<serde_json::Value>(&out).is_ok());
        }
        while session.poll_event().is_some() {}
    }
});
