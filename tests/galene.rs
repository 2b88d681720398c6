//! Meetings through a real Galène (0.7.2, started by the test in its own network namespace): the
//! scenarios every SFU must pass (`support::scenarios`), with Galène's one connection per stream
//! and its `usermessage` relay in place of Janus's data channels.
//!
//! Needs root and a Galène binary (scripts/test builds one from Galène's sources).

mod support;

use std::path::{Path, PathBuf};

use support::chat;
use support::galene::{Galene, RECORDED_SFU, SFU};
use support::janus::JanusNet;
use support::participant::{conclave, new_link_for, spawn_command};
use support::recording::{decrypt_all, stamped_pictures};
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

/// Every file under `dir`, however deep.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// Galène's own recording of an E2EE publisher (its disk writer depacketises our video into a
/// Matroska file, finding keyframes by their SPS, which our framing leaves readable) holds pictures
/// nobody can see; the same recorded bytes, decrypted with the publisher's logged keys, show
/// the test pattern — so the check can fail.
#[test]
fn galene_records_only_ciphertext_of_an_e2ee_publisher() {
    let net = JanusNet::without_janus();
    let galene = Galene::start(&net);
    let link = new_link_for(RECORDED_SFU, "31337");
    let keylog = net.dir.join("keys.log");
    let mut command = net.command(conclave());
    command.env("CONCLAVE_KEYLOG", &keylog);
    let args = [
        "--camera",
        "synthetic",
        "--mic",
        "tone",
        "--record-dir",
        "galene",
    ];
    let stats = spawn_command(command, &net, &link, "recorded", 8, &args).finish_ok();
    assert_eq!(stats["error"], serde_json::Value::Null, "{stats}");
    // Galène closes the file when the stream ends; stopping it makes sure.
    std::thread::sleep(std::time::Duration::from_millis(500));
    galene.kill();
    let recordings: Vec<PathBuf> = files_under(&galene.rec_dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "webm" || e == "mkv"))
        .collect();
    // WebM while there is only sound, then a new file, Matroska, from the first keyframe on.
    // Galène 0.7.2 writes no size for H.264 (it reads sizes of VP8 and VP9 only), and ffmpeg
    // will not copy a video of no size: the frames are read from the files here.
    assert!(!recordings.is_empty(), "Galène recorded nothing");
    let units: Vec<Vec<u8>> = recordings
        .iter()
        .flat_map(|r| matroska_video(&std::fs::read(r).unwrap()))
        .collect();
    assert!(units.len() > 100, "{} access units recorded", units.len());
    assert_eq!(
        stamped_pictures(&units),
        0,
        "Galène's recording shows the picture"
    );
    let plain = decrypt_all(&units, &keylog);
    let stamped = stamped_pictures(&plain);
    // The control needs pictures, not all of them: a frame Galène's recorder missed (it did on
    // a loaded machine: 128 of ~240 recorded) leaves the decoder lost until the next keyframe.
    assert!(
        stamped > 30 && stamped * 3 > plain.len(),
        "control: {} of {} recorded frames decrypt, {stamped} show the pattern",
        plain.len(),
        units.len()
    );
}

#[test]
fn chat_private_messages_hands_and_reactions_reach_whom_they_should() {
    let (net, _galene, link) = galene("chat");
    chat::chat_private_messages_hands_and_reactions_reach_whom_they_should(&net, &link, &[]);
}

/// An EBML variable-length integer at the start of `b`: its value (without the length marker),
/// its length, and whether it is the reserved "unknown size" (all ones).
fn vint(b: &[u8]) -> Option<(u64, usize, bool)> {
    let first = *b.first()?;
    let len = first.leading_zeros() as usize + 1;
    if len > 8 || b.len() < len {
        return None;
    }
    let mut value = u64::from(first) & (0xff >> len);
    for &byte in &b[1..len] {
        value = value << 8 | u64::from(byte);
    }
    Some((value, len, value == (1u64 << (7 * len)) - 1))
}

/// Walks the EBML elements of `b`: Segment, Cluster, BlockGroup, Tracks and TrackEntry are
/// entered (an element of unknown size runs to the end), every other element goes to `visit`
/// with its id (marker kept) and body.
fn ebml_walk(b: &[u8], visit: &mut dyn FnMut(u64, &[u8])) {
    let mut at = 0;
    while at < b.len() {
        let Some((_, id_len, _)) = vint(&b[at..]) else {
            return;
        };
        let id = b[at..at + id_len]
            .iter()
            .fold(0u64, |id, &byte| id << 8 | u64::from(byte));
        let Some((size, size_len, unknown)) = vint(&b[at + id_len..]) else {
            return;
        };
        let body = at + id_len + size_len;
        let end = if unknown {
            b.len()
        } else {
            body.saturating_add(size as usize).min(b.len())
        };
        match id {
            0x1853_8067 | 0x1F43_B675 | 0xA0 | 0x1654_AE6B | 0xAE => {
                ebml_walk(&b[body..end], visit);
            }
            _ => visit(id, &b[body..end]),
        }
        at = end;
    }
}

/// The access units of a Matroska file's H.264 track (track numbers are read from its
/// TrackEntry: number 0xD7, codec 0x86), from its SimpleBlocks (0xA3) and Blocks (0xA1),
/// unlaced.
fn matroska_video(file: &[u8]) -> Vec<Vec<u8>> {
    let (mut number, mut video) = (None, None);
    let mut blocks: Vec<(u64, Vec<u8>)> = Vec::new();
    ebml_walk(file, &mut |id, body| match id {
        0xD7 => number = Some(body.iter().fold(0u64, |n, &b| n << 8 | u64::from(b))),
        0x86 if body.starts_with(b"V_MPEG4/ISO/AVC") => video = number,
        0xA3 | 0xA1 => {
            if let Some((track, len, _)) = vint(body)
                && body.len() > len + 3
                && body[len + 2] & 0x06 == 0
            {
                blocks.push((track, body[len + 3..].to_vec()));
            }
        }
        _ => {}
    });
    // Galène writes a keyframe's parameter sets as a frame of their own: an access unit is
    // everything up to a picture's slice, as a receiver would put it together.
    let mut units = Vec::new();
    let mut unit = Vec::new();
    for (_, frame) in blocks
        .into_iter()
        .filter(|(track, _)| Some(*track) == video)
    {
        unit.extend_from_slice(&frame);
        let slice = frame
            .windows(4)
            .any(|w| w[..3] == [0, 0, 1] && (1..=5).contains(&(w[3] & 0x1f)));
        if slice {
            units.push(std::mem::take(&mut unit));
        }
    }
    units
}
