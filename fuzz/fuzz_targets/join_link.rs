//! Join-link parsing: never panics on any input, and a parsed link prints to a link that parses
//! back to the same thing.
#![no_main]

use conclave_room::JoinLink;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(link) = JoinLink::parse(text) else {
        return;
    };
    assert_eq!(JoinLink::parse(&link.to_conclave_url()).as_ref(), Ok(&link));
    assert_eq!(
        JoinLink::parse(&link.to_https_url("https://example.org")).as_ref(),
        Ok(&link)
    );
});
