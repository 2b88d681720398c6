//! Sender and receiver together: every suite and framing round-trips, and every bad frame is
//! dropped with the right reason and counted.

use conclave_e2ee::{
    BaseKey, CipherSuite, Codec, DecryptError, DropReason, Header, KeyError, KeyId, KidScheme,
    MAX_GENERATIONS, MAX_RATCHET_AHEAD, ReceiveStats, Receiver, Sender,
};

fn base(byte: u8) -> BaseKey {
    BaseKey::new(vec![byte; 16]).unwrap()
}

fn pair(suite: CipherSuite) -> (Sender, Receiver) {
    let scheme = KidScheme::default();
    let sender = Sender::new(suite, scheme, 0, base(7)).unwrap();
    let mut receiver = Receiver::new(suite, scheme);
    receiver.add_key(0, 0, base(7)).unwrap();
    (sender, receiver)
}

/// An access unit shaped like openh264 output: SPS, PPS, IDR slice.
fn h264_access_unit(payload_len: usize) -> Vec<u8> {
    let mut au = vec![
        0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80,
    ];
    au.extend_from_slice(&[0, 0, 0, 1, 0x65, 0x88, 0x84]);
    au.extend((0..payload_len).map(|i| (i * 7 % 256) as u8));
    au
}

#[test]
fn every_suite_and_codec_round_trips() {
    let frames = [
        (Codec::Opus, vec![0xfc; 80]),
        (Codec::Generic, b"hello".to_vec()),
        (Codec::Generic, Vec::new()),
        (Codec::H264, h264_access_unit(3000)),
        (Codec::H264, h264_access_unit(0)),
        (Codec::H264Screen, h264_access_unit(2000)),
    ];
    for suite in CipherSuite::ALL {
        let (mut tx, mut rx) = pair(suite);
        for (codec, frame) in &frames {
            let wire = tx.protect(*codec, frame).unwrap();
            assert_ne!(&wire, frame);
            assert_eq!(
                &rx.unprotect(*codec, &wire).unwrap(),
                frame,
                "{suite} {codec:?}"
            );
        }
        assert_eq!(rx.stats().decrypted, frames.len() as u64);
        assert_eq!(rx.stats().dropped(), 0);
    }
}

#[test]
fn h264_keeps_parameter_sets_and_slice_header_in_the_clear() {
    let (mut tx, _) = pair(CipherSuite::AesGcm128Sha256);
    let au = h264_access_unit(500);
    let wire = tx.protect(Codec::H264, &au).unwrap();
    let clear = 4 + 4 + 4 + 4 + 4 + 2;
    assert_eq!(wire[..clear], au[..clear]);
    assert_ne!(wire[clear..clear + 50], au[clear..clear + 50]);
    assert!(conclave_e2ee::framing::h264::is_keyframe(&wire));
    assert!(
        !wire[clear..]
            .windows(3)
            .any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 2)
    );
}

#[test]
fn a_share_opens_as_a_share_and_a_camera_as_a_camera() {
    let (mut tx, mut rx) = pair(CipherSuite::AesGcm128Sha256);
    let au = h264_access_unit(300);
    let share = tx.protect(Codec::H264Screen, &au).unwrap();
    let camera = tx.protect(Codec::H264, &au).unwrap();
    // Sealed as one, never opened as the other.
    assert_eq!(
        rx.unprotect(Codec::H264, &share).unwrap_err().reason(),
        DropReason::Authentication
    );
    assert_eq!(
        rx.unprotect(Codec::H264Screen, &camera)
            .unwrap_err()
            .reason(),
        DropReason::Authentication
    );
    // Either way round, unprotect_video says which it was, and counts each frame once.
    for first in [Codec::H264, Codec::H264Screen] {
        let mut tx = pair(CipherSuite::AesGcm128Sha256).0;
        let (mut rx2, frames) = (pair(CipherSuite::AesGcm128Sha256).1, 2);
        let share = tx.protect(Codec::H264Screen, &au).unwrap();
        let camera = tx.protect(Codec::H264, &au).unwrap();
        assert_eq!(
            rx2.unprotect_video(first, &share).unwrap(),
            (Codec::H264Screen, au.clone())
        );
        assert_eq!(
            rx2.unprotect_video(first, &camera).unwrap(),
            (Codec::H264, au.clone())
        );
        assert_eq!(rx2.stats().decrypted, frames);
        assert_eq!(rx2.stats().dropped(), 0);
        // A replay is refused whichever way it is tried, and counted once.
        assert!(rx2.unprotect_video(first, &share).is_err());
        assert_eq!(rx2.stats().dropped(), 1);
    }
    // Another key opens neither, and the failure is counted once.
    let mut stranger = Receiver::new(CipherSuite::AesGcm128Sha256, KidScheme::default());
    stranger.add_key(0, 0, base(8)).unwrap();
    let err = stranger.unprotect_video(Codec::H264, &share).unwrap_err();
    assert_eq!(err.reason(), DropReason::Authentication);
    assert_eq!(stranger.stats().auth_failed, 1);
}

#[test]
fn a_wrong_key_is_dropped_and_counted() {
    for suite in CipherSuite::ALL {
        let (mut tx, _) = pair(suite);
        let mut rx = Receiver::new(suite, KidScheme::default());
        rx.add_key(0, 0, base(8)).unwrap();
        for codec in [Codec::Opus, Codec::H264] {
            let wire = tx.protect(codec, &h264_access_unit(100)).unwrap();
            let err = rx.unprotect(codec, &wire).unwrap_err();
            assert_eq!(err.reason(), DropReason::Authentication, "{suite}");
        }
        assert_eq!(rx.stats().auth_failed, 2);
        assert_eq!(rx.stats().decrypted, 0);
    }
}

#[test]
fn every_flipped_bit_is_dropped() {
    for codec in [Codec::Opus, Codec::H264] {
        let (mut tx, mut rx) = pair(CipherSuite::AesCtr128HmacSha256_32);
        let wire = tx.protect(codec, &h264_access_unit(40)).unwrap();
        for bit in 0..wire.len() * 8 {
            let mut bad = wire.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(rx.unprotect(codec, &bad).is_err(), "{codec:?} bit {bit}");
        }
        let stats = rx.stats();
        assert_eq!(stats.decrypted, 0);
        assert_eq!(stats.dropped(), wire.len() as u64 * 8);
        // The genuine frame still decrypts: failed attempts did not burn its counter.
        assert!(rx.unprotect(codec, &wire).is_ok());
    }
}

#[test]
fn truncations_are_dropped_as_malformed_or_unauthentic() {
    for codec in [Codec::Opus, Codec::H264] {
        let (mut tx, mut rx) = pair(CipherSuite::AesGcm128Sha256);
        let wire = tx.protect(codec, &h264_access_unit(64)).unwrap();
        for len in 0..wire.len() {
            assert!(
                rx.unprotect(codec, &wire[..len]).is_err(),
                "{codec:?} {len}"
            );
        }
        assert_eq!(rx.stats().dropped(), wire.len() as u64);
        assert_eq!(rx.stats().decrypted, 0);
        assert_eq!(
            rx.unprotect(Codec::Opus, &[]),
            Err(DecryptError::Header(conclave_e2ee::HeaderError::Empty))
        );
    }
}

#[test]
fn replays_are_dropped_and_counted() {
    let (mut tx, mut rx) = pair(CipherSuite::AesGcm256Sha512);
    let first = tx.protect(Codec::Opus, b"one").unwrap();
    let second = tx.protect(Codec::Opus, b"two").unwrap();
    rx.unprotect(Codec::Opus, &second).unwrap();
    rx.unprotect(Codec::Opus, &first).unwrap();
    for frame in [&first, &second, &first] {
        let err = rx.unprotect(Codec::Opus, frame).unwrap_err();
        assert!(matches!(err, DecryptError::Replayed { .. }), "{err}");
    }
    assert_eq!(
        rx.stats(),
        ReceiveStats {
            decrypted: 2,
            replayed: 3,
            ..ReceiveStats::default()
        }
    );
}

#[test]
fn unknown_kids_are_dropped_and_counted() {
    let (mut tx, mut rx) = pair(CipherSuite::AesGcm128Sha256);
    let mut other = Sender::new(
        CipherSuite::AesGcm128Sha256,
        KidScheme::default(),
        5,
        base(7),
    )
    .unwrap();
    let err = rx
        .unprotect(
            Codec::Generic,
            &other.protect(Codec::Generic, b"x").unwrap(),
        )
        .unwrap_err();
    assert_eq!(err, DecryptError::UnknownKey { kid: KeyId(5 << 8) });
    assert!(
        rx.unprotect(Codec::Generic, &tx.protect(Codec::Generic, b"y").unwrap())
            .is_ok()
    );
    assert_eq!(rx.stats().unknown_key, 1);
}

#[test]
fn the_receiver_follows_the_senders_ratchet_and_keeps_one_step_back() {
    let (mut tx, mut rx) = pair(CipherSuite::AesGcm128Sha256);
    let old = tx.protect(Codec::Opus, b"before").unwrap();
    let old_late = tx.protect(Codec::Opus, b"before, late").unwrap();
    rx.unprotect(Codec::Opus, &old).unwrap();
    let kid = tx.ratchet().unwrap();
    assert_eq!(kid, KeyId(1));
    let new = tx.protect(Codec::Opus, b"after").unwrap();
    assert_eq!(Header::decode(&new).unwrap().0.kid, KeyId(1));
    assert_eq!(rx.unprotect(Codec::Opus, &new).unwrap(), b"after");
    // Frames of the previous step still decrypt once, in any order, and replays stay refused.
    assert_eq!(
        rx.unprotect(Codec::Opus, &old_late).unwrap(),
        b"before, late"
    );
    assert!(rx.unprotect(Codec::Opus, &old).is_err());
    // Two steps back is gone.
    tx.ratchet().unwrap();
    rx.unprotect(Codec::Opus, &tx.protect(Codec::Opus, b"2").unwrap())
        .unwrap();
    let two_back = rx.unprotect(Codec::Opus, &old_late);
    assert!(
        matches!(two_back, Err(DecryptError::UnknownKey { .. })),
        "{two_back:?}"
    );
}

#[test]
fn a_receiver_can_skip_ratchet_steps_but_only_a_bounded_number() {
    let (mut tx, mut rx) = pair(CipherSuite::AesGcm128Sha256);
    for _ in 0..MAX_RATCHET_AHEAD {
        tx.ratchet().unwrap();
    }
    rx.unprotect(Codec::Opus, &tx.protect(Codec::Opus, b"far").unwrap())
        .unwrap();
    for _ in 0..=MAX_RATCHET_AHEAD {
        tx.ratchet().unwrap();
    }
    let err = rx.unprotect(Codec::Opus, &tx.protect(Codec::Opus, b"too far").unwrap());
    assert!(matches!(err, Err(DecryptError::UnknownKey { .. })));
}

#[test]
fn a_forged_frame_from_a_future_step_does_not_move_the_ratchet() {
    let (mut tx, mut rx) = pair(CipherSuite::AesGcm128Sha256);
    let mut forger = Sender::new(
        CipherSuite::AesGcm128Sha256,
        KidScheme::default(),
        0,
        base(9),
    )
    .unwrap();
    forger.ratchet().unwrap();
    let forged = forger.protect(Codec::Opus, b"evil").unwrap();
    assert_eq!(
        rx.unprotect(Codec::Opus, &forged).unwrap_err().reason(),
        DropReason::Authentication
    );
    // Step 0 is still current.
    rx.unprotect(Codec::Opus, &tx.protect(Codec::Opus, b"ok").unwrap())
        .unwrap();
}

#[test]
fn a_newcomer_with_a_ratcheted_key_cannot_read_earlier_frames() {
    let suite = CipherSuite::AesGcm128Sha256;
    let (mut tx, _) = pair(suite);
    let before = tx.protect(Codec::Opus, b"secret from before").unwrap();
    tx.ratchet().unwrap();
    let mut newcomer = Receiver::new(suite, KidScheme::default());
    newcomer
        .add_key(tx.generation(), tx.step(), tx.base_key().clone())
        .unwrap();
    assert!(newcomer.unprotect(Codec::Opus, &before).is_err());
    let after = tx.protect(Codec::Opus, b"welcome").unwrap();
    assert_eq!(newcomer.unprotect(Codec::Opus, &after).unwrap(), b"welcome");
}

#[test]
fn generations_switch_and_old_ones_can_be_retired() {
    let suite = CipherSuite::AesGcm128Sha256;
    let (mut tx, mut rx) = pair(suite);
    let gen0 = tx.protect(Codec::Opus, b"gen0").unwrap();
    tx.rekey(1, base(11)).unwrap();
    rx.add_key(1, 0, base(11)).unwrap();
    let gen1 = tx.protect(Codec::Opus, b"gen1").unwrap();
    assert_eq!(rx.unprotect(Codec::Opus, &gen1).unwrap(), b"gen1");
    assert_eq!(
        rx.unprotect(Codec::Opus, &gen0).unwrap(),
        b"gen0",
        "grace period"
    );
    rx.remove_generation(0);
    let late = tx_frame_for_generation(suite, 0, base(7));
    assert!(matches!(
        rx.unprotect(Codec::Opus, &late),
        Err(DecryptError::UnknownKey { .. })
    ));
}

fn tx_frame_for_generation(suite: CipherSuite, generation: u64, key: BaseKey) -> Vec<u8> {
    let mut tx = Sender::new(suite, KidScheme::default(), generation, key).unwrap();
    tx.protect(Codec::Opus, b"late").unwrap()
}

#[test]
fn key_installation_is_idempotent_and_conflicts_are_refused() {
    let mut rx = Receiver::new(CipherSuite::AesGcm128Sha256, KidScheme::default());
    rx.add_key(3, 0, base(1)).unwrap();
    rx.add_key(3, 0, base(1)).unwrap();
    assert_eq!(
        rx.add_key(3, 0, base(2)),
        Err(KeyError::GenerationConflict(3))
    );
    for g in 4..4 + MAX_GENERATIONS as u64 {
        rx.add_key(g, 0, base(1)).unwrap();
    }
    let held: Vec<u64> = rx.generations().collect();
    assert_eq!(held, (4..4 + MAX_GENERATIONS as u64).collect::<Vec<_>>());
}

#[test]
fn with_two_ratchet_bits_a_receiver_follows_two_steps_and_keeps_the_one_behind() {
    let suite = CipherSuite::AesGcm128Sha256;
    let scheme = KidScheme::new(2).unwrap();
    let mut tx = Sender::new(suite, scheme, 0, base(7)).unwrap();
    let mut rx = Receiver::new(suite, scheme);
    rx.add_key(0, 0, base(7)).unwrap();
    tx.ratchet().unwrap();
    rx.unprotect(Codec::Opus, &tx.protect(Codec::Opus, b"1").unwrap())
        .unwrap();
    let behind = {
        let mut old = Sender::new(suite, scheme, 0, base(7)).unwrap();
        old.protect(Codec::Opus, b"late from step 0").unwrap()
    };
    // Step 4 has the KID bits of step 0, the one kept for late frames: it cannot be followed.
    let mut ahead = Sender::new(suite, scheme, 0, base(7)).unwrap();
    for _ in 0..4 {
        ahead.ratchet().unwrap();
    }
    let from_step_4 = ahead.protect(Codec::Opus, b"4").unwrap();
    assert!(rx.unprotect(Codec::Opus, &from_step_4).is_err());
    assert_eq!(
        rx.unprotect(Codec::Opus, &behind).unwrap(),
        b"late from step 0"
    );
    // Two steps ahead (step 3) is followed.
    tx.ratchet().unwrap();
    tx.ratchet().unwrap();
    rx.unprotect(Codec::Opus, &tx.protect(Codec::Opus, b"3").unwrap())
        .unwrap();
}

#[test]
fn a_frame_opens_only_as_the_kind_it_was_sealed_as() {
    // A control message replayed into the audio track (by the SFU, or an insider) does not
    // authenticate there, nor audio as a control message.
    let (mut tx, mut rx) = pair(CipherSuite::AesGcm128Sha256);
    let control = tx.protect(Codec::Generic, b"{\"type\":\"bye\"}").unwrap();
    assert!(rx.unprotect(Codec::Opus, &control).is_err());
    let audio = tx.protect(Codec::Opus, &[0xfc; 40]).unwrap();
    assert!(rx.unprotect(Codec::Generic, &audio).is_err());
    assert_eq!(rx.unprotect(Codec::Opus, &audio).unwrap(), vec![0xfc; 40]);
}

#[test]
fn what_an_sfu_slips_into_the_clear_prefix_never_reaches_the_decoder() {
    let (mut tx, mut rx) = pair(CipherSuite::AesGcm128Sha256);
    let au = h264_access_unit(300);
    let wire = tx.protect(Codec::H264, &au).unwrap();
    // Delimiters and filler of the SFU's choosing between the parameter sets: they are not
    // authenticated, so they must not be handed on.
    let pps_end = 16;
    let mut doctored = wire[..pps_end].to_vec();
    doctored.extend_from_slice(&[0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x0c, 0xff, 0xff, 0xff]);
    doctored.extend_from_slice(&wire[pps_end..]);
    let plain = rx.unprotect(Codec::H264, &doctored).unwrap();
    assert_eq!(plain, au, "the authenticated access unit, and nothing else");
    // Any other NAL unit ahead of the slice is refused outright.
    let mut foreign = wire[..pps_end].to_vec();
    foreign.extend_from_slice(&[0, 0, 0, 1, 0x0e, 0x42]);
    foreign.extend_from_slice(&wire[pps_end..]);
    assert!(rx.unprotect(Codec::H264, &foreign).is_err());
    let mut unusual = au.clone();
    unusual.splice(0..0, [0, 0, 0, 1, 0x0e, 0x42]);
    assert!(tx.protect(Codec::H264, &unusual).is_err());
}

#[test]
fn a_statement_that_comes_before_its_key_or_its_ratchet_step_still_holds() {
    use conclave_e2ee::{FrameLog, Signer};
    let suite = CipherSuite::AesGcm128Sha256;
    let base = || BaseKey::new(vec![3; 16]).unwrap();
    let signer = Signer::generate().unwrap();
    for ratchet in [false, true] {
        let mut genuine = Sender::new(suite, KidScheme::default(), 1, base()).unwrap();
        let mut rx = Receiver::new(suite, KidScheme::default());
        rx.set_signer(signer.public());
        if ratchet {
            // The receiver holds step 0; the sender moves to step 1 and signs before any
            // frame of step 1 arrives.
            rx.add_key(1, 0, base()).unwrap();
            genuine.ratchet().unwrap();
        }
        // An insider holding the same key (and step) makes its own frame 1.
        let mut insider = Sender::new(suite, KidScheme::default(), 1, base()).unwrap();
        if ratchet {
            insider.ratchet().unwrap();
        }
        genuine.keep_log(FrameLog::default());
        let frames: Vec<Vec<u8>> = (0..3)
            .map(|i| genuine.encrypt(&[], &[i; 10]).unwrap())
            .collect();
        insider.encrypt(&[], b"x").unwrap();
        let forged = insider.encrypt(&[], b"forged").unwrap();
        for statement in genuine.log_mut().unwrap().statements(&signer) {
            rx.attest(&statement).unwrap();
        }
        if !ratchet {
            rx.add_key(1, 0, base()).unwrap();
        }
        assert!(rx.decrypt(&[], &frames[0]).is_ok(), "ratchet {ratchet}");
        assert!(
            matches!(rx.decrypt(&[], &forged), Err(DecryptError::Forged { .. })),
            "ratchet {ratchet}: the forgery is refused"
        );
        assert!(rx.decrypt(&[], &frames[1]).is_ok());
        assert_eq!(rx.stats().forged, 1);
    }
}
