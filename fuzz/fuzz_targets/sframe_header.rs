//! SFrame header parsing: never panics, never reads past the input, and whatever parses
//! re-encodes to a header that parses to the same values.
#![no_main]

use conclave_e2ee::{Header, MAX_HEADER_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((header, used)) = Header::decode(data) else {
        return;
    };
    assert!(used >= 1 && used <= data.len() && used <= MAX_HEADER_LEN);
    let canonical = header.encode();
    assert!(
        canonical.len() <= used,
        "the shortest encoding is never longer"
    );
    assert_eq!(Header::decode(&canonical), Ok((header, canonical.len())));
    if canonical.len() == used {
        assert_eq!(&*canonical, &data[..used], "minimal encodings are unique");
    }
});
