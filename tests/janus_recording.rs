//! What the SFU can store: in a `require_e2ee` room with recording on, Janus records a
//! participant's video — their camera and their shared screen. Neither the recorded RTP payloads (read from the `.mjr` file) nor
//! `janus-pp-rec`'s conversion of them decode to the test pattern. The control: the very same
//! recorded bytes, decrypted with the participant's key, do — so the check can fail.
//!
//! Needs root, `janus`, `janus-tools` and `ffmpeg` (scripts/test provides them).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use conclave_e2ee::Codec;
use conclave_room::JoinLink;
use conclave_rtp::{Assembled, FrameAssembler};
use support::janus::{JanusNet, WS_URL};
use support::recording::{
    decrypt_all, decrypt_all_as, receiver_from_keylog, split_annexb, stamped_pictures,
};

/// RTP packets of a Janus recording (`MJR00002`: magic, u16 header length, JSON header, then
/// records of "MEET", u32 time, u16 length, RTP packet).
fn mjr_packets(path: &Path) -> Vec<Vec<u8>> {
    let data = std::fs::read(path).unwrap();
    assert_eq!(&data[..8], b"MJR00002", "not a Janus recording");
    let header_len = u16::from_be_bytes([data[8], data[9]]) as usize;
    let header: serde_json::Value = serde_json::from_slice(&data[10..10 + header_len]).unwrap();
    assert_eq!(header["t"], "v", "a video recording");
    let mut at = 10 + header_len;
    let mut packets = Vec::new();
    while at + 10 <= data.len() {
        assert_eq!(&data[at..at + 4], b"MEET", "record marker at {at}");
        let len = u16::from_be_bytes([data[at + 8], data[at + 9]]) as usize;
        packets.push(data[at + 10..at + 10 + len].to_vec());
        at += 10 + len;
    }
    packets
}

/// Access units from RTP packets (header parsed by hand: fixed 12 bytes, CSRCs, extension).
fn access_units(packets: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut assembler = FrameAssembler::default();
    let mut units = Vec::new();
    for p in packets {
        let marker = p[1] & 0x80 != 0;
        let seq = u16::from_be_bytes([p[2], p[3]]);
        let ts = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
        let mut at = 12 + 4 * usize::from(p[0] & 0x0f);
        if p[0] & 0x10 != 0 {
            let words = u16::from_be_bytes([p[at + 2], p[at + 3]]) as usize;
            at += 4 + 4 * words;
        }
        let payload = Bytes::copy_from_slice(&p[at..]);
        if let Assembled::Frame { access_unit, .. } = assembler.push(seq, ts, marker, payload) {
            units.push(access_unit);
        }
    }
    units
}

/// The participant id in a recording's name: `videoroom-<room>-user-<id>-<time>-video-<n>.mjr`.
fn recorded_feed(path: &Path) -> u64 {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    name.split("-user-")
        .nth(1)
        .unwrap()
        .split('-')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn janus_records_only_ciphertext_of_an_e2ee_publisher() {
    let net = JanusNet::start();
    let out = Command::new(env!("CARGO_BIN_EXE_conclave"))
        .args(["link", "new", "--sfu", WS_URL, "--room", "31337"])
        .output()
        .unwrap();
    let link_text = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(JoinLink::parse(&link_text).is_ok());
    let keylog = net.dir.join("keys.log");

    let status = net
        .command(env!("CARGO_BIN_EXE_conclave"))
        .args([
            "join",
            &link_text,
            "--name",
            "recorded",
            "--camera",
            "synthetic",
        ])
        .args([
            "--mic",
            "tone",
            "--resolution",
            "320x240",
            "--ice-address",
            "127.0.0.2",
        ])
        .args(["--share", "synthetic", "--duration", "6s", "--stats-json"])
        .arg(net.dir.join("stats.json"))
        .env("CONCLAVE_KEYLOG", &keylog)
        .arg("--record-dir")
        .arg(&net.rec_dir)
        .status()
        .unwrap();
    assert!(status.success());

    let mut video: Vec<PathBuf> = std::fs::read_dir(&net.rec_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.to_string_lossy().contains("-video-") && p.extension().is_some_and(|e| e == "mjr")
        })
        .collect();
    assert_eq!(video.len(), 2, "the camera's and the share's: {video:?}");
    // Which is which: what their frames decrypt as (the control that the share was recorded).
    let sealed_as = |path: &Path| {
        let plain = decrypt_all_as(&access_units(&mjr_packets(path)), &keylog);
        (plain.len(), plain.first().map(|(codec, _)| *codec))
    };
    video.sort_by_key(|p| sealed_as(p).1 == Some(Codec::H264Screen));
    let (share_frames, sealed) = sealed_as(&video[1]);
    assert_eq!(sealed, Some(Codec::H264Screen), "{video:?}");
    assert!(share_frames > 20, "{share_frames} share frames recorded");
    // The share's recording: nothing shows, though decrypted it does (its stamp).
    let share = access_units(&mjr_packets(&video[1]));
    assert_eq!(
        stamped_pictures(&share),
        0,
        "the SFU's recording shows the share"
    );
    assert!(
        stamped_pictures(&decrypt_all(&share, &keylog)) > 20,
        "control: the decrypted share shows the page"
    );
    // The camera's recorded RTP payloads.
    let units = access_units(&mjr_packets(&video[0]));
    assert!(units.len() > 100, "{} access units recorded", units.len());
    assert_eq!(
        stamped_pictures(&units),
        0,
        "the SFU's recording shows the picture"
    );
    let plain = decrypt_all(&units, &keylog);
    assert!(
        plain.len() > 100,
        "only {} recorded frames decrypt",
        plain.len()
    );
    assert!(
        stamped_pictures(&plain) > 100,
        "control: decrypted frames show the pattern"
    );

    // What janus-pp-rec makes of it: it writes H.264 only into containers, so take the
    // elementary stream back out of the Matroska file with ffmpeg (copying, not decoding).
    let mkv = net.dir.join("converted.mkv");
    let status = Command::new("janus-pp-rec")
        .arg(&video[0])
        .arg(&mkv)
        .status()
        .expect("janus-pp-rec is installed (package janus-tools)");
    assert!(status.success());
    let raw = net.dir.join("converted.h264");
    let status = Command::new("ffmpeg")
        .args(["-loglevel", "quiet", "-y", "-i"])
        .arg(&mkv)
        .args(["-c:v", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "h264"])
        .arg(&raw)
        .status()
        .expect("ffmpeg is installed");
    assert!(status.success());
    let converted = split_annexb(&std::fs::read(&raw).unwrap());
    assert!(
        converted.len() > 100,
        "{} access units converted",
        converted.len()
    );
    assert_eq!(
        stamped_pictures(&converted),
        0,
        "janus-pp-rec's output shows the picture"
    );
    let plain = decrypt_all(&converted, &keylog);
    assert!(
        stamped_pictures(&plain) > 100,
        "control: decrypted conversion shows the pattern"
    );
}

fn join(
    net: &JanusNet,
    link: &str,
    name: &str,
    seconds: u32,
    keylog: Option<&Path>,
    record: bool,
) -> std::process::Child {
    let mut c = net.command(env!("CARGO_BIN_EXE_conclave"));
    c.args([
        "join",
        link,
        "--name",
        name,
        "--camera",
        "synthetic",
        "--mic",
        "tone",
    ])
    .args(["--resolution", "320x240", "--ice-address", "127.0.0.2"])
    .args(["--duration", &format!("{seconds}s")])
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    if let Some(k) = keylog {
        c.env("CONCLAVE_KEYLOG", k);
    }
    if record {
        c.arg("--record-dir").arg(&net.rec_dir);
    }
    c.spawn().unwrap()
}

/// With the keys it really received, a participant who came late and left early decrypts a
/// contiguous middle part of what the others sent, as the SFU recorded it: nothing from before
/// it joined, nothing from after it left (plus the grace period).
#[test]
fn a_late_comer_who_leaves_early_decrypts_only_its_own_part_of_a_recording() {
    let net = JanusNet::start();
    let out = Command::new(env!("CARGO_BIN_EXE_conclave"))
        .args(["link", "new", "--sfu", WS_URL, "--room", "31338"])
        .output()
        .unwrap();
    let link = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let alice = join(&net, &link, "alice", 13, None, true);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let bob = join(&net, &link, "bob", 12, None, false);
    std::thread::sleep(std::time::Duration::from_secs(3));
    let carol_keys = net.dir.join("carol-keys.log");
    let carol = join(&net, &link, "carol", 4, Some(&carol_keys), false);
    for mut p in [carol, bob, alice] {
        assert!(p.wait().unwrap().success());
    }

    let log = std::fs::read_to_string(&carol_keys).unwrap();
    let mut checked = 0;
    for path in std::fs::read_dir(&net.rec_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
    {
        let name = path.to_string_lossy().into_owned();
        if !name.contains("-video-") || !name.ends_with(".mjr") {
            continue;
        }
        let feed = recorded_feed(&path);
        if !log.contains(&format!("recv {feed} ")) {
            continue; // carol's own recording
        }
        let (mut rx, keys) = receiver_from_keylog(&carol_keys, Some(feed));
        assert!(keys > 0);
        let units = access_units(&mjr_packets(&path));
        let readable: Vec<bool> = units
            .iter()
            .map(|au| rx.unprotect(Codec::H264, au).is_ok())
            .collect();
        let first = readable
            .iter()
            .position(|r| *r)
            .expect("carol's keys were real");
        let last = readable.iter().rposition(|r| *r).unwrap();
        let inside = readable[first..=last].iter().filter(|r| **r).count();
        // Joined about 3 s after the others started, at 30 fps; left about 4 s before them.
        assert!(
            first > 45,
            "{name}: carol read frame {first} of {}",
            units.len()
        );
        assert!(
            units.len() - last > 45,
            "{name}: carol read frame {last} of {}",
            units.len()
        );
        assert!(
            inside * 10 >= (last - first + 1) * 9,
            "{name}: carol read only {inside} of frames {first}..={last}"
        );
        checked += 1;
    }
    assert_eq!(checked, 2, "alice's and bob's recordings");
}
