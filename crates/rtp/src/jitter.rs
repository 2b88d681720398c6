//! The video jitter buffer: packets in, whole frames out, in order. It puts reordered packets
//! back in sequence, and when a packet is missing it waits — for a retransmission answering our
//! NACK, or for a reordered packet still on its way — at most [`MAX_WAIT`] before giving the frame
//! up. A packet that arrives after its frame was given out or given up is dropped on arrival: it
//! can never break the frame in progress.
//!
//! Sans-IO: the caller passes `now` and asks again at [`JitterBuffer::timeout`]. What it holds is
//! bounded ([`MAX_BUFFERED_BYTES`], [`MAX_BUFFERED_PACKETS`]) whatever a sender does: past the
//! bound, the oldest frames are given up.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{
    Assembled, MAX_FRAME_BYTES, MAX_FRAME_PACKETS, assemble, begins_keyframe, begins_nal_unit,
};

/// Longest wait for a missing packet. A retransmission takes one round trip to the SFU (which
/// keeps a retransmission buffer), and a NACK goes out only once a later packet shows the gap:
/// 300 ms covers round trips up to about 250 ms, and is also the longest freeze one unrepaired
/// loss causes before the picture goes on (or a keyframe is asked for).
pub const MAX_WAIT: Duration = Duration::from_millis(300);
/// How long the first packets wait for an earlier one (reordered) before a stream joined
/// mid-frame is taken as such.
const START_WAIT: Duration = Duration::from_millis(50);
/// Most payload bytes held: two of the largest frames.
pub const MAX_BUFFERED_BYTES: usize = 2 * MAX_FRAME_BYTES;
/// Most packets held.
pub const MAX_BUFFERED_PACKETS: usize = 2 * MAX_FRAME_PACKETS;

#[derive(Debug)]
struct Packet {
    timestamp: u32,
    marker: bool,
    payload: Bytes,
}

/// Reorders packets and assembles frames, waiting a bounded time for missing packets.
#[derive(Debug)]
pub struct JitterBuffer {
    max_wait: Duration,
    /// By extended sequence number.
    packets: BTreeMap<u64, Packet>,
    /// Payload bytes in `packets`.
    held: usize,
    highest: Option<u64>,
    /// The last packet given out or given up, and its frame's timestamp: nothing at or before it
    /// is taken any more.
    done: Option<(u64, u32)>,
    /// Runs of sequence numbers found missing (a later packet arrived): first → (last, when).
    missing: BTreeMap<u64, (u64, Instant)>,
    first_arrival: Option<Instant>,
    /// Frames given up for the bounds, to report.
    lost_pending: u32,
    wake: Option<Instant>,
    /// Since when the oldest frame has been waiting for a missing packet.
    waiting: Option<Instant>,
}

impl Default for JitterBuffer {
    fn default() -> Self {
        JitterBuffer::new(MAX_WAIT)
    }
}

/// How the run of packets starting at the oldest held one ends.
enum Run {
    /// At the frame's marker, every packet there.
    Complete(u64),
    /// At a missing packet.
    Gap(u64),
    /// At a packet of another frame: this one's end never came.
    Cut,
    /// At the newest packet: more to come.
    Open,
}

/// Whether RTP timestamp `a` is later than `b` (serial number arithmetic).
fn later(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

impl JitterBuffer {
    /// A buffer that waits at most `max_wait` for a missing packet.
    pub fn new(max_wait: Duration) -> JitterBuffer {
        JitterBuffer {
            max_wait,
            packets: BTreeMap::new(),
            held: 0,
            highest: None,
            done: None,
            missing: BTreeMap::new(),
            first_arrival: None,
            lost_pending: 0,
            wake: None,
            waiting: None,
        }
    }

    /// The sequence number extended to 64 bits, nearest to the highest seen.
    fn extend(&self, seq: u16) -> u64 {
        let Some(highest) = self.highest else {
            return (1 << 32) | u64::from(seq);
        };
        let base = (highest & !0xffff) | u64::from(seq);
        [base.wrapping_sub(1 << 16), base, base + (1 << 16)]
            .into_iter()
            .min_by_key(|c| c.abs_diff(highest))
            .unwrap_or(base)
    }

    /// Adds one RTP packet that arrived at `now`; true if it filled a gap in time (it came
    /// after a later one: reordered, or retransmitted).
    pub fn push(
        &mut self,
        now: Instant,
        seq: u16,
        timestamp: u32,
        marker: bool,
        payload: Bytes,
    ) -> bool {
        let ext = self.extend(seq);
        if let Some((done, done_ts)) = self.done {
            if ext <= done {
                return false;
            }
            if !later(timestamp, done_ts) {
                // Late, of a frame already given out or up. Right after it, it shows that the
                // gap there was that frame's, not the start of the next one's.
                if ext == done + 1 && timestamp == done_ts {
                    self.done = Some((ext, done_ts));
                }
                return false;
            }
        }
        if self.packets.contains_key(&ext) {
            return false;
        }
        let filled = self.highest.is_some_and(|h| ext < h);
        if let Some(highest) = self.highest
            && ext > highest + 1
        {
            self.missing.insert(highest + 1, (ext - 1, now));
        }
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        self.first_arrival.get_or_insert(now);
        self.held += payload.len();
        self.packets.insert(
            ext,
            Packet {
                timestamp,
                marker,
                payload,
            },
        );
        while self.held > MAX_BUFFERED_BYTES || self.packets.len() > MAX_BUFFERED_PACKETS {
            self.drop_head();
            self.lost_pending += 1;
        }
        filled
    }

    /// The next frame, or a frame given up, if there is one by `now`. Call until `None`, then
    /// again at [`JitterBuffer::timeout`] or after the next packet.
    pub fn pop(&mut self, now: Instant) -> Option<Assembled> {
        self.wake = None;
        self.waiting = None;
        if self.lost_pending > 0 {
            self.lost_pending -= 1;
            return Some(Assembled::Lost);
        }
        let (&first, head) = self.packets.first_key_value()?;
        let timestamp = head.timestamp;
        let run = self.run(first, timestamp);
        // Whether the frame starts at `first`: right after the last packet taken, or with a
        // keyframe's first packet. Otherwise, since when its start has been missing.
        let keyframe = begins_keyframe(&head.payload);
        let nal_start = begins_nal_unit(&head.payload);
        // Until when to wait for it.
        let start_missing = match self.done {
            Some((done, _)) if first == done + 1 => None,
            _ if keyframe => None,
            Some((done, _)) => Some(self.noticed(done + 1, now) + self.max_wait),
            // The very first packets: only reordering could bring an earlier one, and a
            // receiver that joined mid-stream should ask for a keyframe soon.
            None => Some(self.first_arrival.unwrap_or(now) + START_WAIT.min(self.max_wait)),
        };
        let expired = |deadline: Instant| now >= deadline;
        match run {
            Run::Complete(end) => match start_missing {
                None => Some(self.take(first, end, timestamp)),
                Some(deadline) if !expired(deadline) => {
                    self.wait_until(deadline);
                    None
                }
                // Waited long enough: if the frame begins a NAL unit, what went missing before
                // it was most likely the previous frame's end (the decoder tells otherwise).
                Some(_) if self.done.is_some() && nal_start => {
                    Some(self.take(first, end, timestamp))
                }
                Some(_) => Some(self.drop_head()),
            },
            Run::Gap(gap) => {
                let deadline =
                    start_missing.unwrap_or_else(|| self.noticed(gap, now) + self.max_wait);
                if expired(deadline) {
                    Some(self.drop_head())
                } else {
                    self.wait_until(deadline);
                    None
                }
            }
            Run::Cut => Some(self.drop_head()),
            Run::Open => None,
        }
    }

    /// When to call [`JitterBuffer::pop`] again if no packet comes before.
    pub fn timeout(&self) -> Option<Instant> {
        self.wake
    }

    /// Since when the oldest frame has been waiting for a missing packet (as of the last
    /// [`JitterBuffer::pop`]), if it is: a receiver may ask for a keyframe before giving up.
    pub fn waiting_since(&self) -> Option<Instant> {
        self.waiting
    }

    fn wait_until(&mut self, deadline: Instant) {
        self.wake = Some(deadline);
        self.waiting = deadline.checked_sub(self.max_wait);
    }

    /// Payload bytes held (never more than [`MAX_BUFFERED_BYTES`]).
    pub fn held(&self) -> usize {
        self.held
    }

    /// Packets held (never more than [`MAX_BUFFERED_PACKETS`]).
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    fn run(&self, first: u64, timestamp: u32) -> Run {
        for (expected, (&seq, p)) in (first..).zip(self.packets.range(first..)) {
            if seq != expected {
                return Run::Gap(expected);
            }
            if p.timestamp != timestamp {
                return Run::Cut;
            }
            if p.marker {
                return Run::Complete(seq);
            }
        }
        Run::Open
    }

    /// Since when `seq` has been known to be missing (from now, if it was not yet).
    fn noticed(&mut self, seq: u64, now: Instant) -> Instant {
        if let Some((_, &(last, at))) = self.missing.range(..=seq).next_back()
            && last >= seq
        {
            return at;
        }
        self.missing.insert(seq, (seq, now));
        now
    }

    /// Gives out the frame held in `first..=end`.
    fn take(&mut self, first: u64, end: u64, timestamp: u32) -> Assembled {
        let taken: Vec<Packet> = (first..=end)
            .filter_map(|seq| self.packets.remove(&seq))
            .collect();
        self.held -= taken.iter().map(|p| p.payload.len()).sum::<usize>();
        self.finished(end, timestamp);
        match assemble(taken.iter().map(|p| &p.payload)) {
            Some(access_unit) => Assembled::Frame {
                access_unit,
                timestamp,
            },
            None => Assembled::Lost,
        }
    }

    /// Gives up the oldest frame held: every packet of its timestamp at the front.
    fn drop_head(&mut self) -> Assembled {
        let Some((&first, head)) = self.packets.first_key_value() else {
            return Assembled::Lost;
        };
        let timestamp = head.timestamp;
        let mut last = first;
        while let Some(entry) = self.packets.first_entry()
            && entry.get().timestamp == timestamp
        {
            last = *entry.key();
            self.held -= entry.remove().payload.len();
        }
        self.finished(last, timestamp);
        Assembled::Lost
    }

    fn finished(&mut self, last: u64, timestamp: u32) {
        self.done = Some((last, timestamp));
        self.missing.retain(|_, (end, _)| *end > last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VideoPacketizer;

    /// A frame's packets: (sequence number, timestamp, marker, payload).
    type Packets = Vec<(u16, u32, bool, Bytes)>;

    fn frame(
        p: &mut VideoPacketizer,
        seq: &mut u16,
        ts: u32,
        keyframe: bool,
        len: usize,
    ) -> Packets {
        let mut au = if keyframe {
            vec![
                0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65,
            ]
        } else {
            vec![0, 0, 0, 1, 0x41]
        };
        au.extend((0..len).map(|i| ((i + ts as usize) % 251) as u8 + 1));
        let payloads = p.packetize(&au);
        let n = payloads.len();
        payloads
            .into_iter()
            .enumerate()
            .map(|(i, payload)| {
                *seq = seq.wrapping_add(1);
                (*seq, ts, i + 1 == n, payload)
            })
            .collect()
    }

    /// A keyframe then `n - 1` frames of about `len` bytes, 3000 ticks apart.
    fn stream(n: u32, len: usize, first_seq: u16) -> Vec<Packets> {
        let (mut p, mut seq) = (VideoPacketizer::default(), first_seq);
        (0..n)
            .map(|i| frame(&mut p, &mut seq, 1000 + 3000 * i, i == 0, len))
            .collect()
    }

    /// Feeds `packets` at 1 ms apart from `t0`, then lets `after` pass; what came out.
    fn run(
        j: &mut JitterBuffer,
        t0: Instant,
        packets: impl IntoIterator<Item = (u16, u32, bool, Bytes)>,
        after: Duration,
    ) -> Vec<Assembled> {
        let mut out = Vec::new();
        let mut now = t0;
        for (seq, ts, marker, payload) in packets {
            now += Duration::from_millis(1);
            j.push(now, seq, ts, marker, payload);
            while let Some(a) = j.pop(now) {
                out.push(a);
            }
        }
        // Time passes: wake when asked to.
        let end = now + after;
        while let Some(at) = j.timeout().filter(|at| *at <= end) {
            now = at;
            while let Some(a) = j.pop(now) {
                out.push(a);
            }
        }
        out
    }

    fn timestamps(out: &[Assembled]) -> Vec<Option<u32>> {
        out.iter()
            .map(|a| match a {
                Assembled::Frame { timestamp, .. } => Some(*timestamp),
                _ => None,
            })
            .collect()
    }

    fn all_frames(n: u32) -> Vec<Option<u32>> {
        (0..n).map(|i| Some(1000 + 3000 * i)).collect()
    }

    #[test]
    fn frames_come_out_whole_and_in_order_across_the_sequence_wrap() {
        let frames = stream(10, 3000, 65_500);
        let mut j = JitterBuffer::default();
        let out = run(&mut j, Instant::now(), frames.concat(), Duration::ZERO);
        assert_eq!(timestamps(&out), all_frames(10));
        assert!(j.is_empty());
        assert_eq!(j.held(), 0);
    }

    #[test]
    fn reordered_packets_are_put_back_in_order() {
        let frames = stream(8, 4000, 100);
        // Swap neighbours everywhere, and move a whole frame's first packet behind the next
        // frame's packets: nothing is lost, and nothing waits for the timeout.
        let mut packets = frames.concat();
        for pair in packets.chunks_mut(2) {
            pair.reverse();
        }
        let moved = packets.remove(20);
        packets.insert(27, moved);
        let mut j = JitterBuffer::default();
        let out = run(&mut j, Instant::now(), packets, Duration::ZERO);
        assert_eq!(timestamps(&out), all_frames(8));
    }

    #[test]
    fn a_retransmission_in_time_repairs_the_frame_and_later_frames_wait_for_it() {
        let frames = stream(6, 3000, 0);
        let mut packets = frames.concat();
        // The third frame's second packet arrives 100 ms late (a retransmission after a NACK).
        let lost_at = frames[0].len() + frames[1].len() + 1;
        let lost = packets.remove(lost_at);
        let t0 = Instant::now();
        let mut j = JitterBuffer::default();
        let out = run(&mut j, t0, packets, Duration::ZERO);
        assert_eq!(
            timestamps(&out),
            all_frames(2),
            "the rest waits for the gap"
        );
        let since = j.waiting_since().expect("waiting");
        assert_eq!(j.timeout(), Some(since + MAX_WAIT));
        let later = run(
            &mut j,
            t0 + Duration::from_millis(100),
            [lost],
            Duration::ZERO,
        );
        assert_eq!(
            timestamps(&later),
            all_frames(6)[2..].to_vec(),
            "repaired and in order"
        );
    }

    #[test]
    fn an_unrepaired_loss_costs_only_its_frame_after_the_wait_and_a_late_copy_changes_nothing() {
        for which in ["middle", "marker", "first"] {
            let frames = stream(6, 3000, 40);
            let mut packets = frames.concat();
            let third = frames[0].len() + frames[1].len();
            let lost_at = match which {
                "middle" => third + 1,
                "marker" => third + frames[2].len() - 1,
                _ => third,
            };
            let lost = packets.remove(lost_at);
            let t0 = Instant::now();
            let mut j = JitterBuffer::default();
            let out = run(&mut j, t0, packets, Duration::from_millis(250));
            assert_eq!(timestamps(&out), all_frames(2), "{which}: waiting");
            let out = run(&mut j, t0, [], Duration::from_secs(1));
            let mut expected = all_frames(6)[2..].to_vec();
            expected[0] = None;
            assert_eq!(timestamps(&out), expected, "{which}");
            // The retransmission comes too late: dropped on arrival, and the next frame is whole.
            let mut next = stream(7, 3000, 40).pop().unwrap_or_default();
            next.insert(1, lost);
            let out = run(&mut j, t0 + Duration::from_secs(2), next, Duration::ZERO);
            assert_eq!(timestamps(&out), vec![Some(1000 + 3000 * 6)], "{which}");
        }
    }

    #[test]
    fn a_frame_whose_end_never_comes_is_given_up_when_the_next_one_starts() {
        let frames = stream(3, 3000, 7);
        let mut packets = frames.concat();
        // The marker bit is missing from the second frame's last packet (no gap, no wait).
        let last = frames[0].len() + frames[1].len() - 1;
        packets[last].2 = false;
        let mut j = JitterBuffer::default();
        let out = run(&mut j, Instant::now(), packets, Duration::ZERO);
        assert_eq!(timestamps(&out), vec![Some(1000), None, Some(7000)]);
    }

    #[test]
    fn joining_mid_stream_waits_for_a_keyframe_start() {
        let frames = stream(4, 3000, 7);
        let mut j = JitterBuffer::default();
        // The first frame's first packet is missing: that frame cannot be trusted; the frames
        // after it follow once it is given up.
        let packets: Vec<_> = frames.concat().into_iter().skip(1).collect();
        let out = run(&mut j, Instant::now(), packets, Duration::from_secs(1));
        assert_eq!(out.first(), Some(&Assembled::Lost));
        assert!(!out.iter().any(|a| matches!(
            a,
            Assembled::Frame {
                timestamp: 1000,
                ..
            }
        )));
    }

    #[test]
    fn what_it_holds_is_bounded() {
        let mut j = JitterBuffer::default();
        let payload = Bytes::from([0x7c, 0x85, 1, 2, 3].repeat(200));
        let t0 = Instant::now();
        // A frame that never ends, and gaps everywhere.
        let mut lost = 0;
        for i in 0..40_000u32 {
            j.push(t0, (i * 2) as u16, 5 + i / 5000, false, payload.clone());
            while let Some(a) = j.pop(t0) {
                lost += u32::from(a == Assembled::Lost);
            }
            assert!(j.held() <= MAX_BUFFERED_BYTES, "{}", j.held());
            assert!(j.len() <= MAX_BUFFERED_PACKETS);
        }
        assert!(lost > 0);
        assert!(
            j.missing.len() <= MAX_BUFFERED_PACKETS + 1,
            "{}",
            j.missing.len()
        );
    }
}
