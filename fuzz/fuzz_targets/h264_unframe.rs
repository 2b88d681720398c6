//! H.264 unframing of hostile bytes never panics and never yields a frame; any input that the
//! sender accepts comes back in canonical form, which itself comes back byte for byte.
#![no_main]

use conclave_e2ee::{BaseKey, CipherSuite, Codec, KidScheme, Receiver, Sender};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let suite = CipherSuite::AesGcm128Sha256;
    let key = BaseKey::new(vec![9; 16]).unwrap();
    let mut rx = Receiver::new(suite, KidScheme::default());
    rx.add_key(0, 0, key.clone()).unwrap();

    assert!(
        rx.unprotect(Codec::H264, data).is_err(),
        "forged frame accepted"
    );
    // Neither as a camera's nor as a share's, tried either way round.
    assert!(
        rx.unprotect_video(Codec::H264Screen, data).is_err(),
        "forged frame accepted"
    );

    let mut tx = Sender::new(suite, KidScheme::default(), 0, key).unwrap();
    if let Ok(wire) = tx.protect(Codec::H264, data) {
        let plain = rx
            .unprotect(Codec::H264, &wire)
            .expect("its own frame opens");
        let again = tx
            .protect(Codec::H264, &plain)
            .expect("the canonical form protects");
        assert_eq!(rx.unprotect(Codec::H264, &again).as_deref(), Ok(&plain[..]));
    }
    assert_eq!(rx.stats().dropped(), 2);
});
