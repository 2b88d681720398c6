//! A decrypted control message from another participant (they hold a key, but may run anything):
//! decoding never panics, and whatever decodes encodes back to the same message.
#![no_main]

use conclave_room::Control;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Control::decode(data) {
        assert_eq!(Control::decode(&message.encode()), Ok(message));
    }
});
