//! H.264 over RTP (RFC 6184, packetization mode 1) for protected access units, using the `webrtc`
//! stack's own payloader and depacketizer (the framing in `conclave-e2ee` is built to survive
//! them), plus frame assembly: packets of one timestamp, in sequence, up to the marker bit.
//!
//! Everything here reads bytes anyone on the path may have chosen: the assembler never holds more
//! than [`MAX_FRAME_BYTES`] or [`MAX_FRAME_PACKETS`] of one frame, whatever a sender does.

use bytes::Bytes;
use rtc_rtp::codec::h264::{H264Packet, H264Payloader};
use rtc_rtp::packetizer::{Depacketizer, Payloader};

mod jitter;
pub use jitter::{JitterBuffer, MAX_BUFFERED_BYTES, MAX_BUFFERED_PACKETS, MAX_WAIT};

/// Largest RTP payload we produce: 1200-byte packets minus RTP header, extensions and SRTP tag.
pub const MAX_PAYLOAD: usize = 1100;
/// Most bytes of one frame the assembler holds (a 1080p keyframe is a few hundred kilobytes); a
/// frame that grows past it is lost, not buffered on.
pub const MAX_FRAME_BYTES: usize = 4 << 20;
/// Most packets of one frame the assembler holds.
pub const MAX_FRAME_PACKETS: usize = 8192;

/// Splits access units into RTP payloads.
#[derive(Debug, Default)]
pub struct VideoPacketizer {
    payloader: H264Payloader,
}

impl VideoPacketizer {
    /// The payloads of one access unit, in order; the last one carries the marker bit.
    pub fn packetize(&mut self, access_unit: &[u8]) -> Vec<Bytes> {
        self.payloader
            .payload(MAX_PAYLOAD, &Bytes::copy_from_slice(access_unit))
            .unwrap_or_default()
    }
}

/// What [`FrameAssembler::push`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Assembled {
    /// Still collecting.
    Pending,
    /// A whole access unit.
    Frame {
        /// Annex B bytes.
        access_unit: Vec<u8>,
        /// Its RTP timestamp.
        timestamp: u32,
    },
    /// Packets of a frame went missing: the frame is lost (ask for a keyframe).
    Lost,
}

/// Collects the packets of one frame at a time.
#[derive(Debug, Default)]
pub struct FrameAssembler {
    timestamp: Option<u32>,
    next_seq: Option<u16>,
    payloads: Vec<Bytes>,
    /// Bytes in `payloads`.
    held: usize,
    broken: bool,
}

/// NAL unit types (RFC 6184) that tell where a packet sits in an access unit.
const NAL_SPS: u8 = 7;
const NAL_STAP_A: u8 = 24;
const NAL_FU_A: u8 = 28;

/// Whether a payload begins a NAL unit (rather than continuing a fragmented one).
fn begins_nal_unit(payload: &[u8]) -> bool {
    match payload.first().map(|b| b & 0x1f) {
        Some(NAL_FU_A) => payload.get(1).is_some_and(|fu| fu & 0x80 != 0),
        Some(_) => true,
        None => false,
    }
}

/// Whether a payload is the first packet of a keyframe: our encoder puts SPS and PPS first.
fn begins_keyframe(payload: &[u8]) -> bool {
    match payload.first().map(|b| b & 0x1f) {
        Some(NAL_SPS) => true,
        Some(NAL_STAP_A) => payload.get(3).is_some_and(|b| b & 0x1f == NAL_SPS),
        _ => false,
    }
}

impl FrameAssembler {
    /// Adds one RTP packet.
    pub fn push(&mut self, seq: u16, timestamp: u32, marker: bool, payload: Bytes) -> Assembled {
        let mut lost = false;
        if self.timestamp != Some(timestamp) {
            // A new frame began before the old one's marker: the old one is incomplete.
            lost = self.timestamp.is_some() && !self.payloads.is_empty();
            self.timestamp = Some(timestamp);
            self.payloads.clear();
            self.held = 0;
            // A frame must start with the start of a NAL unit. The first packet we ever see may
            // be anywhere in a frame whose beginning we missed; only a keyframe's first packet
            // proves that nothing came before it.
            self.broken = if self.next_seq.is_none() {
                !begins_keyframe(&payload)
            } else {
                !begins_nal_unit(&payload)
            };
        }
        if let Some(expected) = self.next_seq
            && expected != seq
        {
            self.broken = true;
        }
        self.next_seq = Some(seq.wrapping_add(1));
        if self.held + payload.len() > MAX_FRAME_BYTES || self.payloads.len() >= MAX_FRAME_PACKETS {
            // Too big to be a frame of ours: it is lost, and what it held is let go.
            self.broken = true;
            self.payloads.clear();
            self.held = 0;
        }
        self.held += payload.len();
        self.payloads.push(payload);
        if !marker {
            return if lost {
                Assembled::Lost
            } else {
                Assembled::Pending
            };
        }
        let payloads = std::mem::take(&mut self.payloads);
        self.held = 0;
        self.timestamp = None;
        if self.broken || lost {
            return Assembled::Lost;
        }
        match assemble(payloads.iter()) {
            Some(access_unit) => Assembled::Frame {
                access_unit,
                timestamp,
            },
            None => Assembled::Lost,
        }
    }
}

/// The access unit in one frame's payloads (in sequence order), or `None` if they do not make a
/// whole one.
fn assemble<'a>(payloads: impl Iterator<Item = &'a Bytes> + Clone) -> Option<Vec<u8>> {
    if !well_formed(payloads.clone()) {
        return None;
    }
    let mut depacketizer = H264Packet::default();
    let mut access_unit = Vec::new();
    for p in payloads {
        access_unit.extend_from_slice(&depacketizer.depacketize(p).ok()?);
    }
    // Packets that carried nothing (an empty aggregate, a fragment without data): no frame.
    (!access_unit.is_empty()).then_some(access_unit)
}

/// Whether a frame's payloads can be depacketized whole: every aggregate (STAP-A) holds whole
/// NAL units (`rtc-rtp` 0.21.1 indexes past the end of one whose last length is cut short: a
/// panic any sender could cause), and every fragmented NAL unit (FU-A) has its start, its middle
/// and its end, in order (the depacketizer would otherwise drop an unfinished one silently and
/// hand out a truncated frame).
fn well_formed<'a>(payloads: impl Iterator<Item = &'a Bytes>) -> bool {
    let mut open = false;
    for p in payloads {
        match p.first().map(|b| b & 0x1f) {
            Some(NAL_STAP_A) if open || !stap_a_whole(p) => return false,
            Some(NAL_FU_A) => {
                let Some(&fu) = p.get(1) else {
                    return false;
                };
                let (start, end) = (fu & 0x80 != 0, fu & 0x40 != 0);
                if start == open {
                    return false;
                }
                open = !end;
            }
            _ if open => return false,
            _ => {}
        }
    }
    !open
}

/// Whether an aggregation packet is a sequence of (16-bit length, NAL unit) to its very end.
fn stap_a_whole(payload: &[u8]) -> bool {
    let mut rest = &payload[1..];
    while !rest.is_empty() {
        let [hi, lo, tail @ ..] = rest else {
            return false;
        };
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        if tail.len() < len {
            return false;
        }
        rest = &tail[len..];
    }
    true
}

impl FrameAssembler {
    /// Bytes held for the frame in progress (never more than [`MAX_FRAME_BYTES`]).
    pub fn held(&self) -> usize {
        self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn au(len: usize) -> Vec<u8> {
        let mut au = vec![
            0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65,
        ];
        au.extend((0..len).map(|i| (i % 251) as u8 + 1));
        au
    }

    fn send(
        p: &mut VideoPacketizer,
        a: &mut FrameAssembler,
        seq: &mut u16,
        ts: u32,
        au: &[u8],
        skip: Option<usize>,
    ) -> Vec<Assembled> {
        let payloads = p.packetize(au);
        let n = payloads.len();
        let mut out = Vec::new();
        for (i, payload) in payloads.into_iter().enumerate() {
            *seq = seq.wrapping_add(1);
            if Some(i) == skip {
                continue;
            }
            out.push(a.push(*seq, ts, i + 1 == n, payload));
        }
        out
    }

    #[test]
    fn frames_round_trip_and_a_lost_packet_loses_only_its_frame() {
        let (mut p, mut a, mut seq) = (
            VideoPacketizer::default(),
            FrameAssembler::default(),
            65_530u16,
        );
        let big = au(5000);
        let out = send(&mut p, &mut a, &mut seq, 100, &big, None);
        assert!(out.len() > 4, "fragmented");
        let Some(Assembled::Frame {
            access_unit,
            timestamp: 100,
        }) = out.last()
        else {
            panic!("{out:?}");
        };
        assert_eq!(access_unit, &big);

        let out = send(&mut p, &mut a, &mut seq, 200, &big, Some(2));
        assert_eq!(out.last(), Some(&Assembled::Lost));
        let small = au(10);
        let out = send(&mut p, &mut a, &mut seq, 300, &small, None);
        assert!(
            matches!(out.last(), Some(Assembled::Frame { .. })),
            "{out:?}"
        );
    }

    #[test]
    fn a_frame_without_end_is_not_buffered_without_bound() {
        let mut a = FrameAssembler::default();
        let payload = Bytes::from([0x7c, 0x85, 1, 2, 3].repeat(200));
        let mut seq = 0u16;
        for _ in 0..20_000 {
            seq = seq.wrapping_add(1);
            assert_eq!(a.push(seq, 5, false, payload.clone()), Assembled::Pending);
            assert!(a.held() <= MAX_FRAME_BYTES, "{}", a.held());
        }
        assert_eq!(
            a.push(seq.wrapping_add(1), 5, true, payload),
            Assembled::Lost
        );
        assert_eq!(a.held(), 0);
    }

    #[test]
    fn unfinished_fragments_and_packets_that_carry_nothing_are_no_frame() {
        // Found by the rtp_assembler fuzz target: the start of a fragmented NAL unit whose end
        // never came, marked as a frame's end, came out as an empty frame.
        let mut a = FrameAssembler::default();
        assert_eq!(a.push(65535, 255, true, Bytes::new()), Assembled::Lost);
        let mut fragment = vec![92, 128, 0, 20];
        fragment.extend([129; 80]);
        assert_eq!(
            a.push(0, 255, true, Bytes::from(fragment.clone())),
            Assembled::Lost
        );
        // Nor a frame whose last NAL unit is cut short after a whole one (it was handed out
        // truncated before).
        let mut p = VideoPacketizer::default();
        let whole = p.packetize(&[0, 0, 0, 1, 0x41, 7, 7, 7]);
        assert_eq!(whole.len(), 1);
        assert_eq!(a.push(1, 7, false, whole[0].clone()), Assembled::Pending);
        assert_eq!(a.push(2, 7, true, Bytes::from(fragment)), Assembled::Lost);
        // An aggregate whose last length is cut short (rtc-rtp would index past its end).
        assert_eq!(
            a.push(3, 10, true, Bytes::from_static(&[0x58, 0, 0, 7])),
            Assembled::Lost
        );
        // A fragment's end without its start, and a whole frame after all that.
        assert_eq!(
            a.push(3, 8, true, Bytes::from_static(&[0x7c, 0x45, 9])),
            Assembled::Lost
        );
        assert!(matches!(
            a.push(4, 9, true, whole[0].clone()),
            Assembled::Frame { .. }
        ));
    }

    #[test]
    fn a_missing_marker_packet_is_noticed_when_the_next_frame_starts() {
        let (mut p, mut a, mut seq) = (VideoPacketizer::default(), FrameAssembler::default(), 0u16);
        let big = au(3000);
        let n = p.packetize(&big).len();
        let out = send(&mut p, &mut a, &mut seq, 1, &big, Some(n - 1));
        assert!(out.iter().all(|o| *o == Assembled::Pending));
        let out = send(&mut p, &mut a, &mut seq, 2, &au(10), None);
        assert_eq!(out.first(), Some(&Assembled::Lost));
    }

    #[test]
    fn a_stream_joined_mid_frame_yields_no_truncated_frame() {
        let mut p = VideoPacketizer::default();
        let big = au(5000);
        let payloads = p.packetize(&big);
        let n = payloads.len();
        // Join at the second packet of a keyframe: that frame is lost, never truncated.
        let mut a = FrameAssembler::default();
        let out: Vec<_> = (1..n)
            .map(|i| a.push(i as u16, 7, i + 1 == n, payloads[i].clone()))
            .collect();
        assert_eq!(out.last(), Some(&Assembled::Lost), "{out:?}");

        // Join at the start of a frame that is not a keyframe: lost too, since what came before
        // it in the same frame is unknown.
        let mut delta = vec![0, 0, 0, 1, 0x41];
        delta.extend((0..3000).map(|i| (i % 251) as u8 + 1));
        let payloads = p.packetize(&delta);
        let n = payloads.len();
        let mut a = FrameAssembler::default();
        let out: Vec<_> = (0..n)
            .map(|i| a.push(i as u16, 7, i + 1 == n, payloads[i].clone()))
            .collect();
        assert_eq!(out.last(), Some(&Assembled::Lost), "{out:?}");
        // The next frame assembles.
        let next = a.push(n as u16, 8, true, p.packetize(&au(10))[0].clone());
        assert!(matches!(next, Assembled::Frame { .. }), "{next:?}");

        // Join at the very first packet of a keyframe: nothing is lost.
        let payloads = p.packetize(&big);
        let n = payloads.len();
        let mut a = FrameAssembler::default();
        let out: Vec<_> = (0..n)
            .map(|i| a.push(i as u16, 9, i + 1 == n, payloads[i].clone()))
            .collect();
        assert!(
            matches!(out.last(), Some(Assembled::Frame { access_unit, .. }) if *access_unit == big),
            "{out:?}"
        );
    }
}
