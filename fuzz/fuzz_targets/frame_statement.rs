//! Signed frame statements and frames from a hostile SFU or insider (`conclave_e2ee::attest`):
//! parsing never panics; a receiver holding a sender's key and signing key, fed arbitrary
//! statements and frames mixed with genuine ones and an insider's under the same key, never
//! panics, never accepts a statement the sender did not sign, and always accepts the sender's.
#![no_main]

use conclave_e2ee::{
    BaseKey, CipherSuite, FrameLog, KidScheme, Receiver, Sender, Signer, Statement,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Statement::parse(data);
    let signer = Signer::generate().expect("randomness");
    let _ = Statement::verify(data, &signer.public());

    let suite = CipherSuite::AesGcm128Sha256;
    let key = || BaseKey::new(vec![9; 16]).expect("16 bytes");
    let mut genuine = Sender::new(suite, KidScheme::default(), 1, key()).expect("key");
    genuine.keep_log(FrameLog::default());
    // The insider holds the same key and sends its own frames.
    let mut insider = Sender::new(suite, KidScheme::default(), 1, key()).expect("key");
    let mut rx = Receiver::new(suite, KidScheme::default());
    rx.add_key(1, 0, key()).expect("key");
    rx.set_signer(signer.public());
    let mut rest = data;
    while let [op, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (bytes, next) = tail.split_at(len);
        rest = next;
        match op % 4 {
            0 => {
                let frame = genuine.encrypt(&[], bytes).expect("counter");
                let _ = rx.decrypt(&[], &frame);
            }
            1 => {
                for s in genuine.log_mut().expect("kept").statements(&signer) {
                    rx.attest(&s).expect("a genuine statement verifies");
                }
            }
            2 => {
                // A frame of the insider's, numbered by its own counter.
                let frame = insider.encrypt(&[], bytes).expect("counter");
                if let Ok(plain) = rx.decrypt(&[], &frame) {
                    assert_eq!(plain, bytes);
                }
            }
            _ => {
                let before = rx.stats().statements;
                let _ = rx.attest(bytes);
                assert_eq!(
                    rx.stats().statements,
                    before,
                    "an unsigned statement was accepted"
                );
            }
        }
    }
});
