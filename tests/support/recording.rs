//! Reading what an SFU stored: H.264 access units, whether they show the test pattern, and
//! the keys a participant logged (`CONCLAVE_KEYLOG`) to decrypt them — the control that lets a
//! "nothing readable" check fail.

use std::path::Path;

use conclave_e2ee::{BaseKey, CipherSuite, Codec, KidScheme, Receiver};
use conclave_media::{H264Decoder, pattern};

/// Pictures with a readable stamp among what `units` decode to.
pub fn stamped_pictures(units: &[Vec<u8>]) -> usize {
    let mut decoder = H264Decoder::new().unwrap();
    units
        .iter()
        .filter_map(|au| decoder.decode(au, 0).ok().flatten())
        .filter(|picture| pattern::read(picture).is_some())
        .count()
}

/// Splits a raw H.264 stream into access units: each ends with a slice NAL unit.
pub fn split_annexb(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut starts: Vec<usize> = stream
        .windows(4)
        .enumerate()
        .filter(|(_, w)| w[..3] == [0, 0, 1])
        .map(|(i, _)| {
            if i > 0 && stream[i - 1] == 0 {
                i - 1
            } else {
                i
            }
        })
        .collect();
    starts.dedup();
    starts.push(stream.len());
    let mut units = Vec::new();
    let mut current = Vec::new();
    for pair in starts.windows(2) {
        let nal = &stream[pair[0]..pair[1]];
        current.extend_from_slice(nal);
        let header = nal
            .iter()
            .skip_while(|&&b| b == 0)
            .nth(1)
            .copied()
            .unwrap_or(0);
        if (1..=5).contains(&(header & 0x1f)) {
            units.push(std::mem::take(&mut current));
        }
    }
    units
}

/// The keys a participant's key log lists, as a receiver: its own (`send`) or those it received
/// from participant `from` (`recv`).
pub fn receiver_from_keylog(keylog: &Path, from: Option<u64>) -> (Receiver, usize) {
    let mut rx = Receiver::new(CipherSuite::AesGcm128Sha256, KidScheme::default());
    let log = std::fs::read_to_string(keylog).expect("the participant wrote its key log");
    let mut keys = 0;
    for line in log.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let (generation, step, key) = match (&f[..], from) {
            (["send", g, s, k], None) => (*g, *s, *k),
            (["recv", peer, g, s, k], Some(from)) if *peer == from.to_string() => (*g, *s, *k),
            _ => continue,
        };
        let key = BaseKey::new(hex::decode(key).unwrap()).unwrap();
        // Later steps of a generation follow from the first by the ratchet.
        if rx
            .add_key(generation.parse().unwrap(), step.parse().unwrap(), key)
            .is_ok()
        {
            keys += 1;
        }
    }
    (rx, keys)
}

/// A receiver holding every key the participant used, from its key log (`CONCLAVE_KEYLOG`).
pub fn decrypt_all(units: &[Vec<u8>], keylog: &Path) -> Vec<Vec<u8>> {
    decrypt_all_as(units, keylog)
        .into_iter()
        .map(|(_, plain)| plain)
        .collect()
}

/// [`decrypt_all`], saying of each frame how it was sealed: a camera's or a share's.
pub fn decrypt_all_as(units: &[Vec<u8>], keylog: &Path) -> Vec<(Codec, Vec<u8>)> {
    let (mut rx, keys) = receiver_from_keylog(keylog, None);
    assert!(keys > 0, "no keys in the key log");
    units
        .iter()
        .filter_map(|au| rx.unprotect_video(Codec::H264, au).ok())
        .collect()
}
