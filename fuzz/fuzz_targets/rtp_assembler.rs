//! RTP packets of anyone's choosing into the frame assembler and the jitter buffer: neither ever
//! panics or holds more than its bound, and what they hand out as a frame is never empty.
#![no_main]

use std::time::{Duration, Instant};

use bytes::Bytes;
use conclave_rtp::{
    Assembled, FrameAssembler, JitterBuffer, MAX_BUFFERED_BYTES, MAX_BUFFERED_PACKETS,
    MAX_FRAME_BYTES,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut a = FrameAssembler::default();
    let mut j = JitterBuffer::default();
    let mut now = Instant::now();
    let mut rest = data;
    // Each packet: sequence number (2), timestamp (1), marker and length (1), payload. The
    // timestamp's low bits also say how much time passes (0–70 ms) before it arrives.
    while rest.len() >= 4 {
        let seq = u16::from_be_bytes([rest[0], rest[1]]);
        let timestamp = u32::from(rest[2]);
        let marker = rest[3] & 0x80 != 0;
        let len = usize::from(rest[3] & 0x7f).min(rest.len() - 4);
        let payload = Bytes::copy_from_slice(&rest[4..4 + len]);
        rest = &rest[4 + len..];
        now += Duration::from_millis(u64::from(rest.first().copied().unwrap_or(0) & 7) * 10);
        if let Assembled::Frame { access_unit, .. } =
            a.push(seq, timestamp, marker, payload.clone())
        {
            assert!(!access_unit.is_empty());
        }
        assert!(a.held() <= MAX_FRAME_BYTES);
        j.push(now, seq, timestamp, marker, payload);
        while let Some(out) = j.pop(now) {
            if let Assembled::Frame { access_unit, .. } = out {
                assert!(!access_unit.is_empty());
            }
        }
        assert!(j.timeout().is_none_or(|at| at > now), "a timeout already due");
        assert!(j.held() <= MAX_BUFFERED_BYTES && j.len() <= MAX_BUFFERED_PACKETS);
    }
});
