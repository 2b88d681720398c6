//! Sender and receiver driven by fuzzer-chosen operations, checked against a model: a genuine,
//! unaltered frame decrypts exactly once (while its key is held and it is inside the replay
//! window); an altered one never does; nothing panics.
#![no_main]

use std::collections::HashSet;

use conclave_e2ee::{
    BaseKey, CipherSuite, Codec, DecryptError, KidScheme, MAX_RATCHET_AHEAD, REPLAY_WINDOW,
    Receiver, Sender,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, ops)) = data.split_first() else {
        return;
    };
    let suite = CipherSuite::ALL[usize::from(first) % CipherSuite::ALL.len()];
    let codec = if first & 0x80 != 0 {
        Codec::H264
    } else {
        Codec::Opus
    };
    let scheme = KidScheme::new(2).unwrap();
    let key = BaseKey::new(vec![first; 16]).unwrap();
    let mut tx = Sender::new(suite, scheme, 0, key.clone()).unwrap();
    let mut rx = Receiver::new(suite, scheme);
    rx.add_key(0, 0, key).unwrap();
    // With R = 2, the step 3 ahead shares its KID with the step behind.
    let max_ahead = MAX_RATCHET_AHEAD.min(scheme.steps() - 2);

    // (wire bytes, ratchet step it was sent at, counter)
    let mut sent: Vec<(Vec<u8>, u64, u64)> = Vec::new();
    let mut delivered: HashSet<usize> = HashSet::new();
    let mut newest_step = 0u64;
    let mut highest_ctr_at_newest = None::<u64>;
    let mut ctr = 0u64;

    for chunk in ops.chunks(3) {
        match chunk {
            [0..=99, len, ..] => {
                let mut frame = vec![0, 0, 0, 1, 0x65, *len];
                frame.extend(std::iter::repeat_n(*len, usize::from(*len)));
                let wire = tx.protect(codec, &frame).unwrap();
                sent.push((wire, tx.step(), ctr));
                ctr += 1;
            }
            [100..=199, pick, flip] if !sent.is_empty() => {
                let i = usize::from(*pick) % sent.len();
                let (wire, step, c) = &sent[i];
                if *flip == 0 {
                    let result = rx.unprotect(codec, wire);
                    let within_window =
                        highest_ctr_at_newest.is_none_or(|h| h < *c + REPLAY_WINDOW);
                    if delivered.contains(&i) {
                        assert!(result.is_err(), "replay of frame {i} accepted");
                    } else if *step == newest_step && within_window {
                        assert!(result.is_ok(), "frame {i}: {result:?}");
                    } else if *step > newest_step && *step - newest_step <= max_ahead {
                        // A newer step authenticates and moves the receiver forward.
                        assert!(result.is_ok(), "frame {i} from step {step}: {result:?}");
                        newest_step = *step;
                        highest_ctr_at_newest = None;
                    } else if *step + 1 < newest_step {
                        assert!(
                            result.is_err(),
                            "frame {i} from retired step {step} accepted"
                        );
                    }
                    if result.is_ok() {
                        delivered.insert(i);
                        if *step == newest_step {
                            highest_ctr_at_newest =
                                Some(highest_ctr_at_newest.map_or(*c, |h| h.max(*c)));
                        }
                    }
                } else {
                    let mut bad = wire.clone();
                    let at = usize::from(*flip) % bad.len();
                    bad[at] ^= *flip;
                    let result = rx.unprotect(codec, &bad);
                    assert!(
                        !matches!(result, Ok(_)) || bad == *wire,
                        "altered frame {i} accepted"
                    );
                    let _ = result.as_ref().map_err(DecryptError::reason);
                }
            }
            [200..=255, ..] => {
                tx.ratchet().unwrap();
                ctr = 0;
            }
            _ => {
                let _ = rx.unprotect(codec, chunk);
            }
        }
    }
    let stats = rx.stats();
    assert_eq!(stats.decrypted, delivered.len() as u64);
});
