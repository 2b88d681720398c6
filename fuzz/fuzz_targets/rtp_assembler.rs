//! RTP packets of anyone's choosing into the frame assembler: it never panics, never holds more
//! than its bound, and what it hands out as a frame is never empty.
#![no_main]

use bytes::Bytes;
use conclave_rtp::{Assembled, FrameAssembler, MAX_FRAME_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut a = FrameAssembler::default();
    let mut rest = data;
    // Each packet: sequence number (2), timestamp (1), marker and length (1), payload.
    while rest.len() >= 4 {
        let seq = u16::from_be_bytes([rest[0], rest[1]]);
        let timestamp = u32::from(rest[2]);
        let marker = rest[3] & 0x80 != 0;
        let len = usize::from(rest[3] & 0x7f).min(rest.len() - 4);
        let payload = Bytes::copy_from_slice(&rest[4..4 + len]);
        rest = &rest[4 + len..];
        if let Assembled::Frame { access_unit, .. } = a.push(seq, timestamp, marker, payload) {
            assert!(!access_unit.is_empty());
        }
        assert!(a.held() <= MAX_FRAME_BYTES);
    }
});
