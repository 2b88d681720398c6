//! Each lost packet sent again at most once a round trip.
//!
//! `rtc`'s NACK responder sends a packet again for every NACK that names it. Galène names a
//! missing packet again every 50–100 ms until it comes (counted in one meeting through an
//! 800 kbit/s uplink: 135 and 265 repeats of 140 and 148 packets, one packet eight times), while
//! the round trip through a congested uplink was 240–300 ms: each retransmission was still on its
//! way, or queued, when the next NACK asked for it again, and the copies filled the uplink
//! further. As libwebrtc does (a packet is not sent again within a round trip of its last
//! sending), a NACK's sequence numbers that were asked for less than a round trip ago are taken
//! out of it before the responder sees it; a NACK left with none is dropped from its compound.
//!
//! The round trip is the one the receiver reports give ([`super::report_estimate`]), shared
//! through [`RoundTrip`]; until the first, [`UNKNOWN_ROUND_TRIP`].

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rtc::interceptor::{Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::transport_feedbacks::transport_layer_nack::{
    TransportLayerNack, nack_pairs_from_sequence_numbers,
};
use rtc::sansio::Protocol;

/// The round trip assumed before the first measured one.
const UNKNOWN_ROUND_TRIP: Duration = Duration::from_millis(100);

/// Added to the round trip: its measure moves by a few milliseconds from report to report.
const MARGIN: Duration = Duration::from_millis(5);

/// How long a request is remembered at most (the responder's buffer holds about a second of
/// video at the rates where repeats matter).
const REMEMBERED: Duration = Duration::from_secs(2);

/// The connection's latest round trip, in microseconds (0 before the first).
#[derive(Debug, Default)]
pub struct RoundTrip(AtomicU64);

impl RoundTrip {
    pub fn set(&self, round_trip: Duration) {
        let micros = u64::try_from(round_trip.as_micros()).unwrap_or(u64::MAX);
        self.0.store(micros.max(1), Ordering::Relaxed);
    }

    fn get(&self) -> Duration {
        match self.0.load(Ordering::Relaxed) {
            0 => UNKNOWN_ROUND_TRIP,
            micros => Duration::from_micros(micros),
        }
    }
}

/// The interceptor: on the read path before the NACK responder.
pub struct NackFilter {
    round_trip: Arc<RoundTrip>,
    /// When each (stream, sequence number) was last let through to the responder.
    asked: HashMap<(u32, u16), Instant>,
    /// Requests taken out as repeats, for the log.
    repeats: u64,
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl NackFilter {
    pub fn new(round_trip: Arc<RoundTrip>) -> NackFilter {
        NackFilter {
            round_trip,
            asked: HashMap::new(),
            repeats: 0,
            read: VecDeque::new(),
            write: VecDeque::new(),
        }
    }

    /// The sequence numbers of `nack` to send again now; the others were asked for less than a
    /// round trip ago.
    fn admit(&mut self, now: Instant, nack: &TransportLayerNack) -> Vec<u16> {
        let window = self.round_trip.get() + MARGIN;
        let mut kept = Vec::new();
        for pair in &nack.nacks {
            for sequence in pair.packet_list() {
                let key = (nack.media_ssrc, sequence);
                match self.asked.get(&key) {
                    Some(&at) if now.saturating_duration_since(at) < window => self.repeats += 1,
                    // A number twice in one NACK is a repeat the second time: it is in `asked`.
                    _ => {
                        self.asked.insert(key, now);
                        kept.push(sequence);
                    }
                }
            }
        }
        kept
    }

    fn forget_old(&mut self, now: Instant) {
        self.asked
            .retain(|_, at| now.saturating_duration_since(*at) < REMEMBERED);
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for NackFilter {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        let now = msg.now;
        if let Packet::Rtcp(packets) = &mut msg.message.packet
            && packets
                .iter()
                .any(|p| p.as_any().is::<TransportLayerNack>())
        {
            self.forget_old(now);
            let before = std::mem::take(packets);
            for packet in before {
                let Some(nack) = packet.as_any().downcast_ref::<TransportLayerNack>() else {
                    packets.push(packet);
                    continue;
                };
                let kept = self.admit(now, nack);
                if kept.is_empty() {
                    continue;
                }
                packets.push(Box::new(TransportLayerNack {
                    sender_ssrc: nack.sender_ssrc,
                    media_ssrc: nack.media_ssrc,
                    nacks: nack_pairs_from_sequence_numbers(&kept),
                }));
            }
            if packets.is_empty() {
                // Nothing left of the compound (it held a NACK, now all repeats): it goes no
                // further (an empty one would be taken for an attribute carrier).
                tracing::trace!(repeats = self.repeats, "a repeated NACK dropped");
                return Ok(());
            }
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.write.pop_front()
    }
}

impl Interceptor for NackFilter {
    fn bind_local_stream(&mut self, _: &StreamInfo) {}
    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.asked.retain(|(ssrc, _), _| *ssrc != info.ssrc);
    }
    fn bind_remote_stream(&mut self, _: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::interceptor::AttributedPacket;
    use rtc::rtcp::transport_feedbacks::transport_layer_nack::NackPair;
    use rtc::shared::TransportContext;

    const VIDEO: u32 = 7;

    fn nack(sequences: &[u16]) -> TaggedPacket {
        nack_at(Instant::now(), sequences)
    }

    fn nack_at(now: Instant, sequences: &[u16]) -> TaggedPacket {
        TaggedPacket {
            now,
            transport: TransportContext::default(),
            message: AttributedPacket::new(Packet::Rtcp(vec![Box::new(TransportLayerNack {
                sender_ssrc: 1,
                media_ssrc: VIDEO,
                nacks: nack_pairs_from_sequence_numbers(sequences),
            })])),
        }
    }

    /// The sequence numbers the responder would be asked for, if a packet came through.
    fn asked(filter: &mut NackFilter, msg: TaggedPacket) -> Option<Vec<u16>> {
        filter.handle_read(msg).unwrap();
        let out = filter.poll_read()?;
        let Packet::Rtcp(packets) = &out.message.packet else {
            panic!("not RTCP");
        };
        Some(
            packets
                .iter()
                .filter_map(|p| p.as_any().downcast_ref::<TransportLayerNack>())
                .flat_map(|n| n.nacks.iter().flat_map(NackPair::packet_list))
                .collect(),
        )
    }

    #[test]
    fn a_packet_asked_for_again_within_a_round_trip_is_sent_once() {
        let round_trip = Arc::new(RoundTrip::default());
        round_trip.set(Duration::from_millis(250));
        let mut filter = NackFilter::new(round_trip);
        let t = Instant::now();
        assert_eq!(
            asked(&mut filter, nack_at(t, &[10, 11, 14])),
            Some(vec![10, 11, 14])
        );
        // Galène's repeats, 50 ms apart, with one new loss among them.
        let at = |ms| t + Duration::from_millis(ms);
        assert_eq!(
            asked(&mut filter, nack_at(at(50), &[10, 11, 14, 20])),
            Some(vec![20])
        );
        // Only repeats: nothing reaches the responder.
        assert_eq!(asked(&mut filter, nack_at(at(100), &[10, 11, 14])), None);
        // A round trip later the first retransmissions were lost too: they go again.
        assert_eq!(
            asked(&mut filter, nack_at(at(260), &[10, 11, 14, 20])),
            Some(vec![10, 11, 14])
        );
    }

    #[test]
    fn other_packets_of_the_compound_go_on_untouched() {
        let mut filter = NackFilter::new(Arc::new(RoundTrip::default()));
        let t = Instant::now();
        asked(&mut filter, nack_at(t, &[5])).unwrap();
        let mut msg = nack_at(t + Duration::from_millis(10), &[5]);
        if let Packet::Rtcp(packets) = &mut msg.message.packet {
            packets.push(Box::new(
                rtc::rtcp::receiver_report::ReceiverReport::default(),
            ));
        }
        filter.handle_read(msg).unwrap();
        let out = filter.poll_read().expect("the receiver report goes on");
        let Packet::Rtcp(packets) = &out.message.packet else {
            panic!("not RTCP");
        };
        assert_eq!(packets.len(), 1);
        assert!(
            packets[0]
                .as_any()
                .is::<rtc::rtcp::receiver_report::ReceiverReport>()
        );
    }

    #[test]
    fn without_a_measured_round_trip_a_repeat_waits_the_assumed_one() {
        let mut filter = NackFilter::new(Arc::new(RoundTrip::default()));
        let t = Instant::now();
        asked(&mut filter, nack_at(t, &[1])).unwrap();
        assert_eq!(
            asked(&mut filter, nack_at(t + UNKNOWN_ROUND_TRIP / 2, &[1])),
            None
        );
        assert_eq!(
            asked(&mut filter, nack_at(t + UNKNOWN_ROUND_TRIP + MARGIN, &[1])),
            Some(vec![1])
        );
        assert_eq!(asked(&mut filter, nack(&[])), None);
    }
}
