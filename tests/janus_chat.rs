//! Chat through a real Janus (the scenario in `support::chat`), and what Janus records of the
//! data channels does not contain the text.
//!
//! Needs root and `janus` (scripts/test provides them).

mod support;

use support::chat::{self, INJECTION, SECRET_TEXT};
use support::janus::JanusNet;
use support::participant::new_link;

#[test]
fn chat_private_messages_hands_and_reactions_reach_whom_they_should_and_janus_stores_no_text() {
    let net = JanusNet::start();
    let link = new_link("4242");
    // Whoever comes first creates the room with recording on. Alice leaves by herself after a
    // while, so that Janus closes her recordings.
    let record = ["--record-dir", net.rec_dir.to_str().unwrap()];
    chat::chat_private_messages_hands_and_reactions_reach_whom_they_should(&net, &link, &record);

    // Janus recorded the data channels: the text is nowhere in them.
    let recorded: Vec<std::path::PathBuf> = std::fs::read_dir(&net.rec_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let data: Vec<_> = recorded
        .iter()
        .filter(|p| p.to_string_lossy().contains("-data-"))
        .collect();
    assert!(
        !data.is_empty(),
        "Janus recorded no data channel: {recorded:?}"
    );
    assert!(
        data.iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum::<u64>()
            > 1000,
        "the data recordings hold the messages (so the check below can fail)"
    );
    for p in &recorded {
        let bytes = std::fs::read(p).unwrap();
        for needle in [INJECTION, SECRET_TEXT, "onerror", "tschüss"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle:?} is in {p:?}"
            );
        }
    }
}
