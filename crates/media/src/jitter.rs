//! The audio jitter buffer: packets in as they arrive, one 20 ms frame out per playback tick.
//! It holds back just enough to ride out the network's jitter (RFC 3550 estimate), conceals a
//! lost packet from the next one's FEC where it can, and drops audio to catch up after a burst.
//! Pure: the caller passes the time in.

use std::collections::BTreeMap;

/// Frame duration.
const FRAME_US: u64 = 20_000;
/// Least delay held back, even on a perfect network.
pub const MIN_DELAY_US: u64 = 40_000;
/// Most delay held back, however bad the network.
pub const MAX_DELAY_US: u64 = 300_000;

/// What to play for the next 20 ms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Playout {
    /// Decode this packet.
    Packet {
        /// Its RTP sequence number.
        seq: u16,
        /// The packet.
        payload: Vec<u8>,
    },
    /// The packet is missing: conceal it, from the FEC in `next` if present.
    Lost {
        /// The missing sequence number.
        seq: u16,
        /// The following packet, whose FEC data may rebuild the lost one.
        next: Option<Vec<u8>>,
    },
    /// Still filling up (or nothing arrived yet): play silence.
    Silence,
}

/// Counts of what happened to packets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets played.
    pub played: u64,
    /// Frames concealed because their packet was missing.
    pub concealed: u64,
    /// Packets that arrived after their time (dropped).
    pub late: u64,
    /// Packets dropped to shrink the delay after a burst.
    pub dropped_to_catch_up: u64,
    /// Packets that arrived twice.
    pub duplicates: u64,
}

/// The buffer for one incoming audio stream.
#[derive(Debug, Default)]
pub struct JitterBuffer {
    packets: BTreeMap<u64, Vec<u8>>,
    /// Next sequence number to play, once playing.
    next: Option<u64>,
    highest: Option<u64>,
    jitter_us: f64,
    last_transit: Option<i64>,
    stats: JitterStats,
}

impl JitterBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a packet: RTP sequence number, the sender's media time (RTP timestamp in µs) and the
    /// local arrival time.
    pub fn push(&mut self, seq: u16, media_us: u64, payload: Vec<u8>, now_us: u64) {
        let seq = self.extend(seq);
        let transit = now_us as i64 - media_us as i64;
        if let Some(last) = self.last_transit {
            let d = (transit - last).unsigned_abs() as f64;
            self.jitter_us += (d - self.jitter_us) / 16.0;
        }
        self.last_transit = Some(transit);
        if self.next.is_some_and(|next| seq < next) {
            self.stats.late += 1;
            return;
        }
        if self.packets.insert(seq, payload).is_some() {
            self.stats.duplicates += 1;
        }
        self.highest = Some(self.highest.map_or(seq, |h| h.max(seq)));
    }

    /// The next 20 ms.
    pub fn pop(&mut self) -> Playout {
        let Some(next) = self.next else {
            // Start once enough is buffered to cover the jitter.
            let Some(&first) = self.packets.keys().next() else {
                return Playout::Silence;
            };
            if self.buffered_us() < self.target_delay_us() {
                return Playout::Silence;
            }
            self.next = Some(first);
            return self.pop();
        };
        // After a burst, drop the oldest audio rather than lag behind for the rest of the call.
        while self.buffered_us() > self.target_delay_us() + 3 * FRAME_US {
            let Some((&oldest, _)) = self.packets.first_key_value() else {
                break;
            };
            self.packets.remove(&oldest);
            self.stats.dropped_to_catch_up += 1;
            self.next = Some(oldest + 1);
        }
        let next = self.next.unwrap_or(next);
        self.next = Some(next + 1);
        let seq = next as u16;
        if let Some(payload) = self.packets.remove(&next) {
            self.stats.played += 1;
            return Playout::Packet { seq, payload };
        }
        if self.packets.is_empty() {
            // Ran dry: conceal this frame, then refill before playing again.
            self.next = None;
        }
        self.stats.concealed += 1;
        Playout::Lost {
            seq,
            next: self.packets.get(&(next + 1)).cloned(),
        }
    }

    /// Current jitter estimate (RFC 3550), µs.
    pub fn jitter_us(&self) -> u64 {
        self.jitter_us as u64
    }

    /// Delay the buffer aims to hold: enough for three times the jitter, within bounds.
    pub fn target_delay_us(&self) -> u64 {
        (FRAME_US + 3 * self.jitter_us as u64).clamp(MIN_DELAY_US, MAX_DELAY_US)
    }

    /// Audio held, from the next frame to play to the newest packet, µs.
    pub fn buffered_us(&self) -> u64 {
        let (Some(&first), Some(highest)) = (self.packets.keys().next(), self.highest) else {
            return 0;
        };
        let from = self.next.unwrap_or(first);
        (highest + 1).saturating_sub(from) * FRAME_US
    }

    /// What happened so far.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Extends a 16-bit sequence number to 64 bits, near the highest seen.
    fn extend(&self, seq: u16) -> u64 {
        let Some(highest) = self.highest else {
            // Leave room below the first packet for reordered ones.
            return (1 << 16) + u64::from(seq);
        };
        let base = highest & !0xffff;
        let candidates = [base.wrapping_sub(1 << 16), base, base + (1 << 16)];
        candidates
            .into_iter()
            .map(|b| b | u64::from(seq))
            .min_by_key(|&c| c.abs_diff(highest))
            .unwrap_or(base | u64::from(seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(seq: u16) -> Vec<u8> {
        seq.to_be_bytes().to_vec()
    }

    fn play(seq: u16) -> Playout {
        Playout::Packet {
            seq,
            payload: packet(seq),
        }
    }

    /// Delivers packets `seqs` at `arrivals_ms`, then plays `ticks` frames.
    fn played(buf: &mut JitterBuffer, seqs: &[u16], ticks: usize) -> Vec<Playout> {
        for &s in seqs {
            let media = u64::from(s) * FRAME_US;
            buf.push(s, media, packet(s), media + 30_000);
        }
        (0..ticks).map(|_| buf.pop()).collect()
    }

    #[test]
    fn waits_for_the_target_delay_then_plays_in_order() {
        let mut buf = JitterBuffer::new();
        assert_eq!(buf.pop(), Playout::Silence);
        buf.push(0, 0, packet(0), 0);
        assert_eq!(
            buf.pop(),
            Playout::Silence,
            "one frame is less than the minimum delay"
        );
        let out = played(&mut buf, &[2, 1, 3], 4);
        assert_eq!(out, (0..4).map(play).collect::<Vec<_>>());
    }

    #[test]
    fn a_gap_is_concealed_with_the_following_packet_for_fec() {
        let mut buf = JitterBuffer::new();
        let out = played(&mut buf, &[0, 1, 3, 4], 5);
        assert_eq!(
            out[2],
            Playout::Lost {
                seq: 2,
                next: Some(packet(3))
            }
        );
        assert_eq!(out[3], play(3));
        assert_eq!(buf.stats().concealed, 1);
        // The late packet 2 is refused.
        buf.push(2, 40_000, packet(2), 200_000);
        assert_eq!(buf.stats().late, 1);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut buf = JitterBuffer::new();
        let seqs = [65_534, 65_535, 0, 1, 2];
        let out = played(&mut buf, &seqs, 5);
        let expected: Vec<Playout> = seqs.iter().map(|&s| play(s)).collect();
        assert_eq!(out, expected);
    }

    #[test]
    fn jitter_raises_the_delay_and_a_burst_is_trimmed() {
        let mut buf = JitterBuffer::new();
        for s in 0..50u16 {
            let media = u64::from(s) * FRAME_US;
            let wobble = if s % 2 == 0 { 0 } else { 60_000 };
            buf.push(s, media, packet(s), media + wobble);
            buf.pop();
        }
        assert!(buf.jitter_us() > 30_000, "{}", buf.jitter_us());
        assert!(buf.target_delay_us() > 100_000);
        // A burst of 50 packets at once: the buffer plays on but sheds the excess.
        for s in 50..100u16 {
            buf.push(s, u64::from(s) * FRAME_US, packet(s), 2_000_000);
        }
        buf.pop();
        assert!(buf.buffered_us() <= buf.target_delay_us() + 3 * FRAME_US);
        assert!(buf.stats().dropped_to_catch_up > 0);
    }

    #[test]
    fn running_dry_conceals_then_refills() {
        let mut buf = JitterBuffer::new();
        let out = played(&mut buf, &[0, 1, 2], 4);
        assert_eq!(out[3], Playout::Lost { seq: 3, next: None });
        assert_eq!(buf.pop(), Playout::Silence);
        assert_eq!(buf.stats().duplicates, 0);
    }
}
