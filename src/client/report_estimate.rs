//! The send estimate from what every SFU sends back: RTCP receiver reports and REMB.
//!
//! Galène gives no transport-wide feedback (pion answers without it), so the estimator in
//! [`super::estimate`] never hears from it, and the meeting used to send at its start rate
//! (then 1 Mbit/s, paced at 2.5 times that) whatever the path: through 300 kbit/s uplinks no
//! picture at all and 3 % of the audio (BENCHMARKS.md, "Galène: the estimate from receiver
//! reports").
//! What Galène does send, once a second for the streams we publish: a receiver report (packets
//! lost, the highest sequence number that arrived, and the echo of our last sender report, from
//! which the round trip), and REMB — the most its receivers take: for each of our streams what
//! the best of its receivers' loss allows (read in its `rtpconn.go`), not a measure of our uplink.
//!
//! So, as libwebrtc does without transport-wide feedback, plus a queue read from the round trip:
//!
//! - **Loss** over a tenth backs off by half the share lost; under 2 % the estimate may climb.
//! - **A standing queue** — the round trip more than [`STANDING_QUEUE`] above the least of the
//!   last [`BASE_WINDOW`] — backs off below what crossed the bottleneck since the last report
//!   (by the bytes of the packets the report says arrived) by enough to drain it within
//!   [`DRAIN_TIME`]. A loss-based controller alone fills a bottleneck's queue until it
//!   overflows: a second and more of delay on a narrow uplink.
//! - **The start climbs fast** ([`START_GROWTH`] a second from `estimate::START_BPS`) until the
//!   first sign of either, then by [`GROWTH`] a second, never past what was sent by more than the
//!   transport-wide estimator allows ([`super::estimate::ceiling`]).
//! - **REMB is a ceiling** on every estimate, the transport-wide one included (libwebrtc's
//!   receiver limit), while it is fresh ([`REMB_FRESH`]).
//!
//! Where transport-wide feedback covers what we send (Janus), that estimator's estimate stands
//! and only REMB may lower it: a receiver report a second says less than feedback every 200 ms.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::reception_report::ReceptionReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::sansio::Protocol;
use rtc::shared::marshal::MarshalSize;

// How long the least round trip is remembered, and how soon a standing queue should be gone: as
// the transport-wide estimator's least one-way delay and drain.
use super::estimate::{BASE_WINDOW, DRAIN_TIME, MAX_ESTIMATE_BPS, MIN_ESTIMATE_BPS};

/// Where the estimate from receiver reports starts: where the meeting starts a connection's rates.
const REPORT_START_BPS: f64 = conclave_room::meeting::START_ESTIMATE_BPS as f64;
/// Loss above this share of a report's packets backs off.
const HIGH_LOSS: f64 = 0.10;
/// Loss below this share lets the estimate climb.
const LOW_LOSS: f64 = 0.02;
/// Reports covering fewer packets say nothing about loss.
const MIN_PACKETS: u32 = 10;
/// A round trip this far above the least seen is a queue standing at the bottleneck.
const STANDING_QUEUE: Duration = Duration::from_millis(150);
/// The estimate climbs only while the queue is shorter than this.
const NO_QUEUE: Duration = Duration::from_millis(60);
/// The back-off from what crosses the bottleneck stays within these shares of it.
const DRAIN_SHARE: (f64, f64) = (0.5, 0.85);
/// After a back-off the estimate holds this long: the next report still shows the queue the
/// back-off is draining.
const HOLD_AFTER_BACK_OFF: Duration = Duration::from_millis(2_500);
/// The climb a second until the path first shows congestion.
const START_GROWTH: f64 = 1.5;
/// The climb a second after that (libwebrtc's loss-based 8 %).
const GROWTH: f64 = 1.08;
/// A REMB older than this no longer caps the estimate (Galène sends one a second).
const REMB_FRESH: Duration = Duration::from_secs(5);
/// Sent packets remembered per stream, to count the bytes a report covers (half a minute of a
/// 1.5 Mbit/s picture).
const SENT_REMEMBERED: usize = 4_096;
/// Our sender reports remembered, to find the one a report echoes.
const SENDER_REPORTS_REMEMBERED: usize = 16;
/// Round trips remembered (a report a second for [`BASE_WINDOW`], with room).
const ROUND_TRIPS_REMEMBERED: usize = 64;
/// A report claiming more new packets of one stream than this is a new baseline, not news.
const MAX_EXPECTED: u32 = 1 << 15;
/// Reports after which, with no transport-wide estimate yet where one was negotiated, the
/// estimate from receiver reports stands in: an SFU that takes the extension but sends no
/// feedback must not leave the meeting at its start rate.
const REPORTS_BEFORE_FALLBACK: u32 = 3;

/// What one of our streams sent, and what its last report said.
#[derive(Default)]
struct Stream {
    /// (sequence number, bytes first sent up to and including it), oldest first.
    sent: VecDeque<(u16, u64)>,
    bytes: u64,
    /// The last report's extended highest sequence number and cumulative loss, and the bytes
    /// sent up to that sequence number (if still remembered).
    last: Option<(u32, u32, Option<u64>)>,
}

impl Stream {
    /// The bytes sent up to and including the newest packet with `sequence`.
    fn bytes_up_to(&self, sequence: u16) -> Option<u64> {
        self.sent
            .iter()
            .rev()
            .find(|(s, _)| *s == sequence)
            .map(|(_, bytes)| *bytes)
    }
}

/// What a receiver report told, summed over our streams.
#[derive(Debug, Default, PartialEq)]
struct Reported {
    expected: u32,
    lost: u32,
    /// Bytes of the packets that arrived since the last report (where they are remembered).
    delivered_bytes: Option<u64>,
    round_trip: Option<Duration>,
}

/// The estimate (see the module's documentation), without the interceptor around it.
pub(super) struct ReportEstimator {
    /// Our streams that negotiated transport-wide feedback.
    transport: HashSet<u32>,
    /// Receiver reports taken in.
    reports: u32,
    /// That estimator's last estimate.
    transport_estimate: Option<f64>,
    /// The last REMB and when it came.
    remb: Option<(Instant, f64)>,
    /// Ours, from the receiver reports.
    target: f64,
    starting: bool,
    hold_until: Option<Instant>,
    streams: HashMap<u32, Stream>,
    /// Our sender reports (the middle 32 bits of their NTP time) and when they left.
    sender_reports: VecDeque<(u32, Instant)>,
    /// Round trips and when they were measured, for the least of the last [`BASE_WINDOW`].
    round_trips: VecDeque<(Instant, Duration)>,
    last_report: Option<Instant>,
    /// Bytes sent since the last report, and how many of them were sent again (NACKed).
    sent_since_report: u64,
    resent_since_report: u64,
}

impl ReportEstimator {
    pub(super) fn new() -> ReportEstimator {
        ReportEstimator {
            transport: HashSet::new(),
            reports: 0,
            transport_estimate: None,
            remb: None,
            target: REPORT_START_BPS,
            starting: true,
            hold_until: None,
            streams: HashMap::new(),
            sender_reports: VecDeque::new(),
            round_trips: VecDeque::new(),
            last_report: None,
            sent_since_report: 0,
            resent_since_report: 0,
        }
    }

    /// One of our streams, and whether transport-wide feedback covers it.
    fn bind(&mut self, ssrc: u32, transport: bool) {
        self.streams.entry(ssrc).or_default();
        if transport {
            self.transport.insert(ssrc);
        }
    }

    fn unbind(&mut self, ssrc: u32) {
        self.streams.remove(&ssrc);
        self.transport.remove(&ssrc);
    }

    /// A packet of ours left.
    fn on_sent(&mut self, ssrc: u32, sequence: u16, bytes: usize) {
        let Some(stream) = self.streams.get_mut(&ssrc) else {
            return;
        };
        self.sent_since_report += bytes as u64;
        if stream
            .sent
            .back()
            .is_some_and(|(last, _)| sequence.wrapping_sub(*last) as i16 <= 0)
        {
            // Sent again (NACKed): what crossed is counted by the packets first sent.
            self.resent_since_report += bytes as u64;
            return;
        }
        stream.bytes += bytes as u64;
        stream.sent.push_back((sequence, stream.bytes));
        if stream.sent.len() > SENT_REMEMBERED {
            stream.sent.pop_front();
        }
    }

    /// A sender report of ours left.
    fn on_sender_report(&mut self, now: Instant, ntp_time: u64) {
        self.sender_reports
            .push_back(((ntp_time >> 16) as u32, now));
        if self.sender_reports.len() > SENDER_REPORTS_REMEMBERED {
            self.sender_reports.pop_front();
        }
    }

    /// The transport-wide estimator's estimate.
    fn on_transport_estimate(&mut self, bps: f64) {
        self.transport_estimate = Some(bps);
    }

    fn on_remb(&mut self, now: Instant, bps: f64) {
        self.remb = Some((now, bps));
    }

    /// One RTCP packet's (compound's) report blocks about our streams. The SFU is not trusted:
    /// a block that claims packets we never sent is ignored, and one that goes backwards (the
    /// SFU started counting again) is a new baseline.
    fn on_reception_reports(
        &mut self,
        now: Instant,
        blocks: &[&ReceptionReport],
    ) -> Option<Duration> {
        let mut reported = Reported::default();
        let mut delivered = 0u64;
        let mut delivered_known = false;
        for block in blocks {
            let Some(stream) = self.streams.get_mut(&block.ssrc) else {
                continue;
            };
            let highest_now = block.last_sequence_number;
            // Not past the last packet we sent (nor anything, if we sent none).
            let Some(&(newest, _)) = stream.sent.back() else {
                continue;
            };
            if (highest_now as u16).wrapping_sub(newest) as i16 > 0 {
                continue;
            }
            let bytes_now = stream.bytes_up_to(highest_now as u16);
            if let Some((highest, lost, bytes_then)) = stream.last {
                let expected = highest_now.wrapping_sub(highest);
                if expected == 0 {
                    continue;
                }
                if expected <= MAX_EXPECTED {
                    // The cumulative loss is a signed 24-bit number (duplicates make it fall).
                    let lost = (((block.total_lost.wrapping_sub(lost)) << 8) as i32) >> 8;
                    let lost = lost.clamp(0, expected as i32) as u32;
                    reported.expected = reported.expected.saturating_add(expected);
                    reported.lost = reported.lost.saturating_add(lost);
                    if let (Some(now), Some(then)) = (bytes_now, bytes_then) {
                        let arrived = f64::from(expected - lost) / f64::from(expected);
                        delivered = delivered
                            .saturating_add((now.saturating_sub(then) as f64 * arrived) as u64);
                        delivered_known = true;
                    }
                }
            }
            stream.last = Some((highest_now, block.total_lost, bytes_now));
            if block.last_sender_report != 0
                && let Some(&(_, sent)) = self
                    .sender_reports
                    .iter()
                    .find(|(middle, _)| *middle == block.last_sender_report)
            {
                let held = Duration::from_secs_f64(f64::from(block.delay) / 65_536.0);
                if let Some(round_trip) = now.saturating_duration_since(sent).checked_sub(held) {
                    reported.round_trip = Some(
                        reported
                            .round_trip
                            .map_or(round_trip, |r: Duration| r.max(round_trip)),
                    );
                }
            }
        }
        reported.delivered_bytes = delivered_known.then_some(delivered);
        let round_trip = reported.round_trip;
        self.update(now, reported);
        round_trip
    }

    fn update(&mut self, now: Instant, reported: Reported) {
        self.reports = self.reports.saturating_add(1);
        let interval = self
            .last_report
            .map(|since| now.saturating_duration_since(since).as_secs_f64());
        if interval == Some(0.0) {
            // Another report at the same instant: its news waits for the next one.
            return;
        }
        self.last_report = Some(now);
        let sent = std::mem::take(&mut self.sent_since_report);
        let resent = std::mem::take(&mut self.resent_since_report);
        let Some(interval) = interval else {
            tracing::debug!(sent, "first receiver report");
            return;
        };
        let queue = reported.round_trip.map(|round_trip| {
            self.round_trips.push_back((now, round_trip));
            if self.round_trips.len() > ROUND_TRIPS_REMEMBERED {
                self.round_trips.pop_front();
            }
            while self
                .round_trips
                .front()
                .is_some_and(|(at, _)| now.saturating_duration_since(*at) > BASE_WINDOW)
            {
                self.round_trips.pop_front();
            }
            let least = self.round_trips.iter().map(|(_, r)| *r).min();
            round_trip.saturating_sub(least.unwrap_or(round_trip))
        });
        let loss = (reported.expected >= MIN_PACKETS)
            .then(|| f64::from(reported.lost) / f64::from(reported.expected));
        let crossed = reported
            .delivered_bytes
            .map(|bytes| bytes as f64 * 8.0 / interval);
        let held = self.hold_until.is_some_and(|until| now < until);
        if let Some(loss) = loss.filter(|&loss| loss > HIGH_LOSS) {
            // Each report's loss is news (unlike a queue, which the next report still shows
            // while it drains): back off from every one.
            self.target *= 1.0 - 0.5 * loss;
            self.hold_until = Some(now + HOLD_AFTER_BACK_OFF);
            self.starting = false;
        } else if let Some(queue) = queue.filter(|&queue| queue > STANDING_QUEUE) {
            if !held {
                // Sending `share` of what crosses empties the queue (`queue` of it) in
                // `DRAIN_TIME`.
                let share = (1.0 - queue.as_secs_f64() / DRAIN_TIME.as_secs_f64())
                    .clamp(DRAIN_SHARE.0, DRAIN_SHARE.1);
                let crossed = crossed.unwrap_or(self.target).min(self.target);
                self.target = share * crossed;
                self.hold_until = Some(now + HOLD_AFTER_BACK_OFF);
            }
            self.starting = false;
        } else if !held
            && loss.is_none_or(|loss| loss < LOW_LOSS)
            && queue.is_none_or(|queue| queue < NO_QUEUE)
        {
            let growth = if self.starting { START_GROWTH } else { GROWTH };
            let ceiling = super::estimate::ceiling(sent as f64 * 8.0 / interval);
            self.target = (self.target * growth.powf(interval)).min(ceiling.max(self.target));
        }
        self.target = self.target.clamp(MIN_ESTIMATE_BPS, MAX_ESTIMATE_BPS);
        tracing::debug!(
            expected = reported.expected,
            lost = reported.lost,
            round_trip_ms = reported.round_trip.map(|r| r.as_millis()),
            queue_ms = queue.map(|q| q.as_millis()),
            crossed_kbps = crossed.map(|c| (c / 1000.0) as u64),
            sent_kbps = (sent as f64 * 8.0 / interval / 1000.0) as u64,
            resent_kbps = (resent as f64 * 8.0 / interval / 1000.0) as u64,
            target_kbps = (self.target / 1000.0) as u64,
            remb_kbps = self.remb.map(|(_, bps)| (bps / 1000.0) as u64),
            "receiver report"
        );
    }

    /// The estimate now, if there is one.
    pub(super) fn estimate(&self, now: Instant) -> Option<f64> {
        let own = match self.transport_estimate {
            Some(transport) if !self.transport.is_empty() => Some(transport),
            None if !self.transport.is_empty() && self.reports < REPORTS_BEFORE_FALLBACK => None,
            // Nothing measured before a second report: the meeting and the pacer keep their start.
            _ if self.reports < 2 => None,
            _ => Some(self.target),
        };
        let ceiling = self
            .remb
            .filter(|(at, _)| now.saturating_duration_since(*at) < REMB_FRESH)
            .map(|(_, bps)| bps.max(MIN_ESTIMATE_BPS));
        match (own, ceiling) {
            (Some(own), Some(ceiling)) => Some(own.min(ceiling)),
            (own, _) => own,
        }
    }
}

/// The interceptor: between the transport-wide estimator (wire-most) and the pacer, so that the
/// pacer and the connection's statistics see the estimate it hands on.
pub struct ReportEstimate {
    estimator: ReportEstimator,
    /// Where each measured round trip goes (the NACK filter reads it).
    round_trip: std::sync::Arc<super::nack_filter::RoundTrip>,
    /// The estimate last handed on.
    last: Option<f64>,
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl ReportEstimate {
    pub fn new(round_trip: std::sync::Arc<super::nack_filter::RoundTrip>) -> ReportEstimate {
        ReportEstimate {
            estimator: ReportEstimator::new(),
            round_trip,
            last: None,
            read: VecDeque::new(),
            write: VecDeque::new(),
        }
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for ReportEstimate {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        let now = msg.now;
        let mut changed = false;
        msg.message.attributes.retain(|attribute| match attribute {
            Attribute::TargetBitrateChanged { bits_per_second } => {
                self.estimator.on_transport_estimate(*bits_per_second);
                changed = true;
                false
            }
            _ => true,
        });
        if let Packet::Rtcp(packets) = &msg.message.packet {
            // Also whenever RTCP comes: a REMB may have grown stale.
            changed = true;
            // The blocks about our streams from every report of the compound, taken in as one.
            let mut blocks: Vec<&ReceptionReport> = Vec::new();
            for packet in packets {
                tracing::trace!(?packet, "rtcp");
                let any = packet.as_any();
                if let Some(remb) = any.downcast_ref::<ReceiverEstimatedMaximumBitrate>() {
                    self.estimator.on_remb(now, f64::from(remb.bitrate));
                }
                let reports = if let Some(report) = any.downcast_ref::<ReceiverReport>() {
                    &report.reports
                } else if let Some(report) = any.downcast_ref::<SenderReport>() {
                    &report.reports
                } else {
                    continue;
                };
                blocks.extend(
                    reports
                        .iter()
                        .filter(|b| self.estimator.streams.contains_key(&b.ssrc)),
                );
            }
            if !blocks.is_empty()
                && let Some(round_trip) = self.estimator.on_reception_reports(now, &blocks)
            {
                self.round_trip.set(round_trip);
            }
        }
        if changed
            && let Some(estimate) = self.estimator.estimate(now)
            && self.last != Some(estimate)
        {
            self.last = Some(estimate);
            msg.message.add(Attribute::TargetBitrateChanged {
                bits_per_second: estimate,
            });
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        match &msg.message.packet {
            Packet::Rtp(rtp) => {
                self.estimator.on_sent(
                    rtp.header.ssrc,
                    rtp.header.sequence_number,
                    rtp.marshal_size(),
                );
            }
            Packet::Rtcp(packets) => {
                for packet in packets {
                    if let Some(report) = packet.as_any().downcast_ref::<SenderReport>() {
                        self.estimator.on_sender_report(msg.now, report.ntp_time);
                    }
                }
            }
            _ => {}
        }
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.write.pop_front()
    }
}

impl Interceptor for ReportEstimate {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        let transport = info
            .rtp_header_extensions
            .iter()
            .any(|extension| extension.uri == rtc::sdp::extmap::TRANSPORT_CC_URI);
        self.estimator.bind(info.ssrc, transport);
    }
    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.estimator.unbind(info.ssrc);
    }
    fn bind_remote_stream(&mut self, _: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACKET: usize = 1_200;
    const AUDIO_BYTES: usize = 160;
    const SENDER_REPORT_BYTES: usize = 52;
    /// The bottleneck's queue, as the impaired-network tests' (`CAP_QUEUE`).
    const QUEUE_PACKETS: usize = 50;
    const PROPAGATION: Duration = Duration::from_millis(20);
    /// Galène reports once a second.
    const REPORT_EVERY: Duration = Duration::from_secs(1);
    const VIDEO_MAX_BPS: f64 = 1_500_000.0;
    const VIDEO: u32 = 1;
    const AUDIO: u32 = 2;

    /// A packet on its way: a stream's (`ssrc`, `sequence`) or a sender report (`ntp`).
    struct Sent {
        ssrc: u32,
        sequence: u32,
        ntp: Option<u64>,
        size: usize,
        departure: Instant,
    }

    /// What the SFU knows of one of our streams.
    #[derive(Default)]
    struct Received {
        first: Option<u32>,
        highest: u32,
        count: u32,
    }

    #[derive(Debug)]
    struct Outcome {
        /// Mean estimate over the second half, bits per second.
        estimate: f64,
        /// Share of the second half's packets the bottleneck dropped.
        loss: f64,
        /// 95th percentile of the time the second half's packets spent in the bottleneck's queue.
        queueing_p95: Duration,
        /// What was sent over the second half, bits per second.
        sent_bps: f64,
    }

    fn ntp(at: Instant, epoch: Instant) -> u64 {
        let since = at - epoch;
        ((since.as_secs() + 1_000) << 32)
            | ((u64::from(since.subsec_nanos()) << 32) / 1_000_000_000)
    }

    /// Our sending through a bottleneck of `capacity_bps` with a queue of [`QUEUE_PACKETS`]
    /// for `seconds`, as the meeting sends (a picture at the estimate less audio's share, paced
    /// at 2.5 times it; audio unpaced; a sender report a second), and the SFU's receiver report
    /// (and `remb`, if any) every [`REPORT_EVERY`], in virtual time.
    fn run(
        estimator: &mut ReportEstimator,
        capacity_bps: f64,
        seconds: u64,
        remb: Option<f64>,
    ) -> Outcome {
        estimator.bind(VIDEO, false);
        estimator.bind(AUDIO, false);
        let epoch = Instant::now();
        let tick = Duration::from_millis(1);
        let end = epoch + Duration::from_secs(seconds);
        let half = epoch + Duration::from_secs(seconds / 2);
        let mut sent: Vec<Sent> = Vec::new();
        let mut arrivals: Vec<Option<Instant>> = Vec::new();
        let mut sequences = [0u32; 2];
        let mut pacer: VecDeque<usize> = VecDeque::new();
        let mut budget = 0.0_f64;
        let mut link: VecDeque<usize> = VecDeque::new();
        let mut link_busy_until = epoch;
        // Arrived at the SFU, in order, not yet taken in.
        let mut landing: VecDeque<usize> = VecDeque::new();
        let mut received: HashMap<u32, Received> = HashMap::new();
        let mut last_sender_report: Option<(u32, Instant)> = None;
        // Reports on their way back: when they arrive, and their blocks.
        let mut returning: VecDeque<(Instant, Vec<ReceptionReport>)> = VecDeque::new();
        let mut next_frame = epoch;
        let mut next_audio = epoch;
        let mut next_sender_report = epoch + Duration::from_millis(500);
        let mut next_report = epoch + REPORT_EVERY;
        let mut estimates = Vec::new();
        let mut now = epoch;
        while now < end {
            let target = estimator.estimate(now).unwrap_or(REPORT_START_BPS);
            let admit = |estimator: &mut ReportEstimator,
                         link: &mut VecDeque<usize>,
                         sent: &mut Vec<Sent>,
                         arrivals: &mut Vec<Option<Instant>>,
                         packet: Sent| {
                if packet.ntp.is_none() {
                    estimator.on_sent(packet.ssrc, packet.sequence as u16, packet.size);
                }
                let index = sent.len();
                sent.push(packet);
                arrivals.push(None);
                if link.len() < QUEUE_PACKETS {
                    link.push_back(index);
                }
            };
            if now >= next_frame {
                let audio = f64::from(conclave_room::meeting::AUDIO_RESERVE_BPS);
                let video = (target - audio).clamp(40_000.0, VIDEO_MAX_BPS);
                let mut bytes = (video / 8.0 / 30.0) as usize;
                while bytes > 0 {
                    let size = bytes.min(PACKET);
                    sequences[0] += 1;
                    pacer.push_back(sent.len());
                    sent.push(Sent {
                        ssrc: VIDEO,
                        sequence: sequences[0],
                        ntp: None,
                        size,
                        departure: now,
                    });
                    arrivals.push(None);
                    bytes -= size;
                }
                next_frame += Duration::from_micros(33_333);
            }
            if now >= next_audio {
                sequences[1] += 1;
                let packet = Sent {
                    ssrc: AUDIO,
                    sequence: sequences[1],
                    ntp: None,
                    size: AUDIO_BYTES,
                    departure: now,
                };
                admit(estimator, &mut link, &mut sent, &mut arrivals, packet);
                next_audio += Duration::from_millis(20);
            }
            if now >= next_sender_report {
                let ntp = ntp(now, epoch);
                estimator.on_sender_report(now, ntp);
                let packet = Sent {
                    ssrc: 0,
                    sequence: 0,
                    ntp: Some(ntp),
                    size: SENDER_REPORT_BYTES,
                    departure: now,
                };
                admit(estimator, &mut link, &mut sent, &mut arrivals, packet);
                next_sender_report += Duration::from_secs(1);
            }
            budget = (budget + 2.5 * target * tick.as_secs_f64())
                .min((2.5 * target * 0.01).max((2 * PACKET * 8) as f64));
            while let Some(&index) = pacer.front() {
                if budget < (sent[index].size * 8) as f64 {
                    break;
                }
                budget -= (sent[index].size * 8) as f64;
                pacer.pop_front();
                sent[index].departure = now;
                estimator.on_sent(VIDEO, sent[index].sequence as u16, sent[index].size);
                if link.len() < QUEUE_PACKETS {
                    link.push_back(index);
                }
            }
            while let Some(&head) = link.front() {
                let start = link_busy_until.max(sent[head].departure);
                let done =
                    start + Duration::from_secs_f64((sent[head].size * 8) as f64 / capacity_bps);
                if done > now {
                    break;
                }
                arrivals[head] = Some(done + PROPAGATION);
                landing.push_back(head);
                link_busy_until = done;
                link.pop_front();
            }
            if link.is_empty() && link_busy_until < now {
                link_busy_until = now;
            }
            while let Some(&index) = landing.front() {
                let at = arrivals[index].unwrap();
                if at > now {
                    break;
                }
                landing.pop_front();
                let packet = &sent[index];
                match packet.ntp {
                    Some(ntp) => last_sender_report = Some(((ntp >> 16) as u32, at)),
                    None => {
                        let stream = received.entry(packet.ssrc).or_default();
                        stream.first.get_or_insert(packet.sequence);
                        stream.highest = stream.highest.max(packet.sequence);
                        stream.count += 1;
                    }
                }
            }
            if now >= next_report {
                let blocks = received
                    .iter()
                    .map(|(&ssrc, stream)| {
                        let expected = stream.highest - stream.first.unwrap() + 1;
                        ReceptionReport {
                            ssrc,
                            total_lost: expected - stream.count,
                            last_sequence_number: stream.highest,
                            last_sender_report: last_sender_report.map_or(0, |(m, _)| m),
                            delay: last_sender_report
                                .map_or(0, |(_, at)| ((now - at).as_secs_f64() * 65_536.0) as u32),
                            ..Default::default()
                        }
                    })
                    .collect();
                returning.push_back((now + PROPAGATION, blocks));
                next_report += REPORT_EVERY;
            }
            while returning.front().is_some_and(|(at, _)| *at <= now) {
                let (_, blocks) = returning.pop_front().unwrap();
                if let Some(remb) = remb {
                    estimator.on_remb(now, remb);
                }
                let blocks: Vec<&ReceptionReport> = blocks.iter().collect();
                estimator.on_reception_reports(now, &blocks);
            }
            if now >= half {
                estimates.push(target);
            }
            now += tick;
        }
        let late: Vec<usize> = (0..sent.len())
            .filter(|&i| {
                sent[i].departure >= half && sent[i].departure + Duration::from_secs(2) < end
            })
            .collect();
        let lost = late.iter().filter(|&&i| arrivals[i].is_none()).count();
        let mut queueing: Vec<Duration> = late
            .iter()
            .filter_map(|&i| arrivals[i].map(|a| a - sent[i].departure - PROPAGATION))
            .collect();
        queueing.sort();
        Outcome {
            estimate: estimates.iter().sum::<f64>() / estimates.len() as f64,
            loss: lost as f64 / late.len().max(1) as f64,
            queueing_p95: queueing[queueing.len() * 95 / 100],
            sent_bps: late.iter().map(|&i| sent[i].size * 8).sum::<usize>() as f64
                / (seconds as f64 / 2.0 - 2.0),
        }
    }

    #[test]
    fn a_narrow_uplink_is_found_from_receiver_reports_without_filling_its_queue() {
        for capacity in [300_000.0, 800_000.0] {
            let outcome = run(&mut ReportEstimator::new(), capacity, 60, None);
            eprintln!("{capacity}: {outcome:?}");
            assert!(
                outcome.estimate > 0.5 * capacity && outcome.estimate < 1.1 * capacity,
                "{capacity}: {outcome:?}"
            );
            assert!(outcome.loss < 0.02, "{capacity}: {outcome:?}");
            assert!(
                outcome.queueing_p95 < Duration::from_millis(400),
                "{capacity}: {outcome:?}"
            );
        }
    }

    #[test]
    fn a_wide_path_is_climbed_to_the_pictures_ceiling() {
        let outcome = run(&mut ReportEstimator::new(), 20_000_000.0, 30, None);
        let wanted = VIDEO_MAX_BPS + (AUDIO_BYTES * 8 * 50) as f64;
        assert!(outcome.sent_bps > 0.95 * wanted, "{outcome:?}");
        assert!(outcome.estimate < 2.0 * outcome.sent_bps, "{outcome:?}");
        assert_eq!(outcome.loss, 0.0);
    }

    #[test]
    fn the_sfus_remb_caps_a_wide_path() {
        let outcome = run(
            &mut ReportEstimator::new(),
            20_000_000.0,
            30,
            Some(600_000.0),
        );
        assert!(
            outcome.estimate <= 600_000.0 && outcome.estimate > 550_000.0,
            "{outcome:?}"
        );
        assert!(outcome.sent_bps < 620_000.0, "{outcome:?}");
    }

    #[test]
    fn with_transport_wide_feedback_its_estimate_stands_and_only_remb_lowers_it() {
        let mut estimator = ReportEstimator::new();
        estimator.bind(VIDEO, true);
        estimator.bind(AUDIO, false);
        let now = Instant::now();
        assert_eq!(estimator.estimate(now), None);
        estimator.on_transport_estimate(2_000_000.0);
        // Half of everything lost, by two receiver reports: the transport-wide feedback says so
        // too, and its estimator decides.
        for (at, highest, lost) in [(0, 100, 0), (1, 200, 50)] {
            for ssrc in [VIDEO, AUDIO] {
                estimator.on_sent(ssrc, highest as u16, PACKET);
            }
            let blocks: Vec<ReceptionReport> = [VIDEO, AUDIO]
                .map(|ssrc| ReceptionReport {
                    ssrc,
                    total_lost: lost,
                    last_sequence_number: highest,
                    ..Default::default()
                })
                .into();
            let blocks: Vec<&ReceptionReport> = blocks.iter().collect();
            estimator.on_reception_reports(now + Duration::from_secs(at), &blocks);
        }
        assert_eq!(estimator.estimate(now), Some(2_000_000.0));
        estimator.on_remb(now, 500_000.0);
        assert_eq!(estimator.estimate(now), Some(500_000.0));
        assert_eq!(estimator.estimate(now + REMB_FRESH), Some(2_000_000.0));
    }

    /// The estimate the interceptor hands on with `packet`, if it does.
    fn handed_on(
        interceptor: &mut ReportEstimate,
        now: Instant,
        transport: Option<f64>,
        remb: Option<f32>,
    ) -> Option<f64> {
        let packets: Vec<Box<dyn rtc::rtcp::Packet>> = remb
            .map(|bitrate| {
                Box::new(ReceiverEstimatedMaximumBitrate {
                    sender_ssrc: 0,
                    bitrate,
                    ssrcs: vec![VIDEO],
                }) as Box<dyn rtc::rtcp::Packet>
            })
            .into_iter()
            .collect();
        let mut message = rtc::interceptor::AttributedPacket::new(Packet::Rtcp(packets));
        if let Some(bits_per_second) = transport {
            message.add(Attribute::TargetBitrateChanged { bits_per_second });
        }
        interceptor
            .handle_read(TaggedPacket {
                now,
                transport: Default::default(),
                message,
            })
            .unwrap();
        let out = interceptor.poll_read().unwrap();
        let estimates: Vec<f64> = out
            .message
            .attributes
            .iter()
            .filter_map(|attribute| match attribute {
                Attribute::TargetBitrateChanged { bits_per_second } => Some(*bits_per_second),
                _ => None,
            })
            .collect();
        assert!(estimates.len() <= 1, "{estimates:?}");
        estimates.first().copied()
    }

    #[test]
    fn the_interceptor_hands_on_the_capped_estimate_once_for_each_change() {
        let mut interceptor = ReportEstimate::new(Default::default());
        interceptor.bind_local_stream(&StreamInfo {
            ssrc: VIDEO,
            rtp_header_extensions: vec![rtc::interceptor::RTPHeaderExtension {
                uri: rtc::sdp::extmap::TRANSPORT_CC_URI.to_owned(),
                id: 3,
            }],
            ..Default::default()
        });
        let now = Instant::now();
        assert_eq!(
            handed_on(&mut interceptor, now, Some(2_000_000.0), None),
            Some(2_000_000.0)
        );
        assert_eq!(
            handed_on(&mut interceptor, now, None, Some(500_000.0)),
            Some(500_000.0)
        );
        // Above the ceiling: nothing changes, and the transport-wide estimate is not let past.
        assert_eq!(
            handed_on(&mut interceptor, now, Some(1_000_000.0), None),
            None
        );
        assert_eq!(
            handed_on(&mut interceptor, now, Some(400_000.0), None),
            Some(400_000.0)
        );
        // The ceiling gone stale: the transport-wide estimate again.
        assert_eq!(
            handed_on(&mut interceptor, now + REMB_FRESH, None, None),
            None,
            "no news: the last estimate stands"
        );
        assert_eq!(
            handed_on(&mut interceptor, now + REMB_FRESH, Some(900_000.0), None),
            Some(900_000.0)
        );
    }

    fn block(highest: u32, total_lost: u32) -> ReceptionReport {
        ReceptionReport {
            ssrc: VIDEO,
            total_lost,
            last_sequence_number: highest,
            ..Default::default()
        }
    }

    #[test]
    fn a_duplicate_is_not_taken_for_lost_packets() {
        let mut estimator = ReportEstimator::new();
        estimator.bind(VIDEO, false);
        let now = Instant::now();
        for sequence in 1..=100 {
            estimator.on_sent(VIDEO, sequence, PACKET);
        }
        estimator.on_reception_reports(now, &[&block(50, 0)]);
        // One packet arrived twice: the cumulative loss, a signed 24-bit number, is -1.
        estimator.on_reception_reports(now + Duration::from_secs(1), &[&block(100, 0xFF_FFFF)]);
        let estimate = estimator.estimate(now).unwrap();
        assert!(estimate > REPORT_START_BPS, "{estimate}");
    }

    #[test]
    fn hostile_reports_neither_panic_nor_stop_the_estimate() {
        let mut estimator = ReportEstimator::new();
        estimator.bind(VIDEO, false);
        let mut now = Instant::now();
        let mut sequence = 0u16;
        let mut send = |estimator: &mut ReportEstimator, packets: u16| {
            for _ in 0..packets {
                sequence = sequence.wrapping_add(1);
                estimator.on_sent(VIDEO, sequence, PACKET);
            }
            u32::from(sequence)
        };
        let highest = send(&mut estimator, 100);
        estimator.on_reception_reports(now, &[&block(highest, 0)]);
        // Blocks far ahead, far behind, claiming what was never sent, in one packet.
        now += Duration::from_secs(1);
        let highest = send(&mut estimator, 100);
        let far = 0x7FFF_FFF0_u32;
        let hostile = [
            // Each far ahead of the last: their sum overflowed.
            block(highest.wrapping_add(far), 0),
            block(highest.wrapping_add(far.wrapping_mul(2)), 0),
            block(highest.wrapping_add(far.wrapping_mul(3)), 0),
            block(u32::MAX, 0xFF_FFFF),
            block(highest + 5_000, 0),
            block(highest.wrapping_add(1 << 16), 0x7F_FFFF),
        ];
        let hostile: Vec<&ReceptionReport> = hostile.iter().collect();
        estimator.on_reception_reports(now, &hostile);
        let estimate = estimator.estimate(now).unwrap();
        assert!(estimate.is_finite() && estimate >= MIN_ESTIMATE_BPS);
        // Honest reports after them are heard: half of every second's packets lost backs off.
        let mut lost = 0;
        for _ in 0..5 {
            now += Duration::from_secs(1);
            let highest = send(&mut estimator, 100);
            lost += 50;
            estimator.on_reception_reports(now, &[&block(highest, lost)]);
        }
        let after = estimator.estimate(now).unwrap();
        assert!(after < estimate, "{estimate} -> {after}");
    }
}
