//! What the path to the SFU carries: the send-side bandwidth estimate, from the SFU's
//! transport-wide feedback. Google Congestion Control composed from `rtc`'s parts (arrival groups,
//! the adaptive threshold and overuse detector, the AIMD rate controller, the loss controller) and
//! libwebrtc's trendline, rather than `rtc`'s own `Gcc`, which, put in a simulated 300 kbit/s
//! bottleneck with a 50-packet queue (the tests below), let the queue fill and stand (p95 730 ms,
//! 7 % of packets lost, audio's included) and swung between 86 and 620 kbit/s — what the table's
//! 300 kbit/s rows showed (BENCHMARKS.md, "Narrow uplinks"). What differs:
//!
//! - **The delay's trend is libwebrtc's** ([`Trendline`]): a fitted slope weighed by how many
//!   readings it rests on, against a threshold starting at 12.5 ms. `rtc`'s `Gcc` compares its
//!   Kalman filter's bare gradient with that threshold: a queue had to grow by 6–12.5 ms between
//!   two frames (sending 1.2–1.4 times what the path carries) to count as overuse, so a rate
//!   climbing a few per cent a second past the path's never did.
//! - **A standing queue is drained.** A full queue neither grows nor shrinks, so its trend reads
//!   flat while everything waits in it. When every packet of a feedback waited more than
//!   [`STANDING_QUEUE`] beyond the least one-way delay of the last [`BASE_WINDOW`], the estimate
//!   backs off below what crosses the bottleneck by enough to empty it within [`DRAIN_TIME`], and
//!   holds until it has (backing off again if it has not after [`DRAIN_AGAIN`]).
//! - **What crosses the bottleneck is counted by the SFU's clock**, and includes what the feedback
//!   does not cover (our audio, with Janus) as we sent it. `rtc`'s rate calculator counts what was
//!   reported within 500 ms of our clock; with feedback every 200 ms that is two or three batches,
//!   and it read 1.1 Mbit/s through an 800 kbit/s bottleneck, so a back-off to 0.85 times that
//!   never let the queue drain.
//! - **A lost feedback is not lost packets** ([`LOST_FEEDBACK_SPAN`]): a lossy downlink must not
//!   read as a lossy uplink.
//! - It is told only of the packets the SFU's feedback covers. The send history reports every
//!   packet up to the last one acknowledged, and a stream the SFU keeps no transport-wide record
//!   of (Janus 1.1.2 answers with the transport-cc extension for video only, so our audio goes
//!   unnumbered) would count as lost, every packet of it: the loss-based half took the estimate
//!   down to its floor on a clean link.
//! - **A start that climbs fast and stops at the first sign** ([`START_GROWTH`]): from 300 kbit/s,
//!   by half again a second until the path first shows congestion, then GCC's own pace. The
//!   meeting used to start at 1 Mbit/s, which overfilled a 300 kbit/s uplink in the first second,
//!   data channel included.
//! - The estimate stays between 0.75 times what crossed the bottleneck over the last second (the
//!   link demonstrably carries that; not while draining) and 1.5 times it plus 10 kbit/s, but not
//!   below 1.5 Mbit/s (as libwebrtc: a sender that does not fill its estimate learns nothing about
//!   the path). The floor because the loss-based half backs off from its own target, a fifth of a
//!   second at a time: a burst of loss on a link it had overestimated took the estimate from 600
//!   to 50 kbit/s within a second, and the picture paused for seconds where the link carried 300.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rtc::interceptor::{
    ArrivalGroupAccumulator, BandwidthEstimator, EstimatorStats, InterGroupDelay, LossController,
    OveruseDetector, PacketReport, RateController, Usage,
};

/// Where the estimate starts ([`START_GROWTH`]); the adapter announces it to the meeting when
/// the SFU answers (the meeting's own start, `conclave_room::meeting::START_ESTIMATE_BPS`, is
/// higher, for SFUs without transport-wide feedback).
pub(crate) const START_BPS: f64 = 300_000.0;
/// The lowest bandwidth estimate: audio alone, with a little left for the picture to resume.
pub(super) const MIN_ESTIMATE_BPS: f64 = 50_000.0;
/// The highest: more than any one participant sends.
pub(super) const MAX_ESTIMATE_BPS: f64 = 20_000_000.0;

/// How far back the rate the SFU received is measured.
const RECEIVED_WINDOW: Duration = Duration::from_secs(1);
/// The estimate stays above this share of what the SFU demonstrably received.
const RECEIVED_FLOOR: f64 = 0.75;
/// The estimate stays below this multiple of what crossed the bottleneck (libwebrtc's 1.5)...
const RECEIVED_CEILING: f64 = 1.5;
/// ...plus this.
const CEILING_HEADROOM_BPS: f64 = 10_000.0;
/// Until the path first shows congestion (overuse, a standing queue, or more than [`START_LOSS`]
/// of a feedback lost), the estimate climbs by half again each second (as far as what crosses the
/// bottleneck shows it carries), from [`START_BPS`]: GCC's 8 % a second
/// would take 20 s to reach what a 720p picture needs, and starting higher overfilled narrow
/// uplinks — at 1 Mbit/s into 300 kbit/s the first second's overflow took the data channel's
/// packets too, and with them the frame statements, whose retransmission (SCTP, seconds) left the
/// others dropping our frames as unsigned for seconds.
const START_GROWTH: f64 = 1.5;
/// The share of a feedback's packets lost that ends the start.
const START_LOSS: f64 = 0.05;
/// The ceiling is never lower than this: what a shared screen may take
/// (`conclave_room::meeting::SHARE_MAX_BPS`). A still screen sends next to nothing, and a paused
/// picture's trickle (five small frames a second beside audio) some 65 kbit/s: a ceiling from what
/// they sent would hold the estimate below what the share needs once the screen moves (a Wayland
/// share through Janus fell from 49 to 36.5 dB), or below what a paused picture needs to resume,
/// for good. Narrow links are held by the delay and the loss, not by this.
const CEILING_AT_LEAST_BPS: f64 = conclave_room::meeting::SHARE_MAX_BPS as f64;
/// The most delay readings the trend is weighed by (libwebrtc's `kMinNumDeltas`).
const MAX_DELTAS: u32 = 60;
/// Readings the trend is fitted over (libwebrtc's trendline window).
const TREND_WINDOW: usize = 20;
/// Smoothing of the accumulated delay before the fit.
const TREND_SMOOTHING: f64 = 0.9;
/// The fitted slope's weight against the threshold (libwebrtc's `threshold_gain`).
const TREND_GAIN: f64 = 4.0;
/// A queue standing longer than this at the bottleneck (every packet of a feedback waited at least
/// this long beyond the least one-way delay seen) is drained.
const STANDING_QUEUE: Duration = Duration::from_millis(100);
/// How long the least one-way delay is remembered.
pub(super) const BASE_WINDOW: Duration = Duration::from_secs(30);
/// How soon a standing queue should be gone.
pub(super) const DRAIN_TIME: Duration = Duration::from_secs(1);
/// A queue still standing this long after a back-off is backed off from again.
const DRAIN_AGAIN: Duration = Duration::from_secs(2);

/// The delay's trend, as libwebrtc's `TrendlineEstimator` finds it: the slope of a least-squares
/// line through the last [`TREND_WINDOW`] readings of the (smoothed) delay accumulated since the
/// start, against when they were sent, weighed by how many readings there were (up to
/// [`MAX_DELTAS`]) and by [`TREND_GAIN`]. Hand-written (some 40 lines) because `rtc`'s Kalman
/// filter, its only alternative, keeps a spike for tens of seconds when readings are few: after
/// a 300 kbit/s uplink's queue had been drained, the paused picture's five readings a second left
/// the filtered gradient above the threshold for the rest of a 20 s meeting, and every one of them
/// backed the estimate off further, to its floor.
#[derive(Debug, Default)]
struct Trendline {
    /// (ms since the first reading, smoothed accumulated delay in ms).
    window: VecDeque<(f64, f64)>,
    accumulated: f64,
    smoothed: f64,
    first: Option<Instant>,
    deltas: u32,
    trend: f64,
}

impl Trendline {
    /// Takes one reading; the weighed trend, to compare with the threshold (ms).
    fn update(&mut self, delay: &InterGroupDelay) -> f64 {
        let first = *self.first.get_or_insert(delay.at);
        self.deltas = (self.deltas + 1).min(MAX_DELTAS);
        self.accumulated += delay.delta_ms;
        self.smoothed =
            TREND_SMOOTHING * self.smoothed + (1.0 - TREND_SMOOTHING) * self.accumulated;
        let x = delay.at.saturating_duration_since(first).as_secs_f64() * 1000.0;
        self.window.push_back((x, self.smoothed));
        if self.window.len() > TREND_WINDOW {
            self.window.pop_front();
        }
        if self.window.len() == TREND_WINDOW {
            let n = self.window.len() as f64;
            let mean_x = self.window.iter().map(|(x, _)| x).sum::<f64>() / n;
            let mean_y = self.window.iter().map(|(_, y)| y).sum::<f64>() / n;
            let (num, den) = self.window.iter().fold((0.0, 0.0), |(num, den), (x, y)| {
                (
                    num + (x - mean_x) * (y - mean_y),
                    den + (x - mean_x) * (x - mean_x),
                )
            });
            if den > 0.0 {
                self.trend = num / den;
            }
        }
        f64::from(self.deltas) * self.trend * TREND_GAIN
    }
}

/// The packets of a feedback the SFU sent and we never got are reported lost with the next one
/// (the send history takes everything unacknowledged before a packet acknowledged as arrived for
/// lost): a receiver's lossy downlink, which loses the feedback on its way back, would read as a
/// lossy uplink — with a fifth of the downlink lost the estimate fell to 57–108 kbit/s and the
/// picture paused on a clean uplink. A batch that begins with a run of unacknowledged packets
/// sent over at least this long is taken to begin with a lost feedback's packets, which are not
/// counted (a link down for as long shows in the delay, and in the feedback after it).
const LOST_FEEDBACK_SPAN: Duration = Duration::from_millis(100);

/// Packets lost, of packets counted, in a batch of reports (see [`LOST_FEEDBACK_SPAN`]).
fn losses(covered: &[&PacketReport]) -> (usize, usize) {
    let lost = covered.iter().filter(|r| !r.arrived).count();
    let head = covered.iter().take_while(|r| !r.arrived).count();
    let unacknowledged = head > 0
        && head < covered.len()
        && covered[head - 1]
            .departure
            .saturating_duration_since(covered[0].departure)
            >= LOST_FEEDBACK_SPAN;
    if unacknowledged {
        (lost - head, covered.len() - head)
    } else {
        (lost, covered.len())
    }
}

/// Drops the entries of `window` (oldest first) more than `span` older than `newest`, by `age`
/// (how much older its first argument is than its second).
fn forget_older<T: Copy, V>(
    window: &mut VecDeque<(T, V)>,
    newest: T,
    span: Duration,
    age: impl Fn(T, T) -> Duration,
) {
    while window
        .front()
        .is_some_and(|(at, _)| age(newest, *at) > span)
    {
        window.pop_front();
    }
}

/// The highest estimate `received` bits per second crossing the bottleneck allows.
pub(super) fn ceiling(received: f64) -> f64 {
    (RECEIVED_CEILING * received + CEILING_HEADROOM_BPS).max(CEILING_AT_LEAST_BPS)
}

/// The send-side estimate (see the module's documentation).
pub(super) struct Estimator {
    groups: ArrivalGroupAccumulator,
    trend: Trendline,
    detector: OveruseDetector,
    /// The delay-based half's AIMD.
    delay_control: RateController,
    loss_control: LossController,
    /// What arrived at the SFU (when, on its clock; bytes) over the last [`RECEIVED_WINDOW`].
    arrived: VecDeque<(Duration, usize)>,
    /// What we sent that the feedback does not cover (audio, with Janus), by when it left, over
    /// the last [`RECEIVED_WINDOW`].
    uncovered: VecDeque<(Instant, usize)>,
    /// Since when a standing queue is being drained.
    draining_since: Option<Instant>,
    /// While the start lasts ([`START_GROWTH`]): when the estimate was last raised, if yet.
    starting: Option<Option<Instant>>,
    target: f64,
    /// The least one-way delay of each feedback (seconds, from an arbitrary origin: the SFU's
    /// clock is not ours), over the last [`BASE_WINDOW`].
    base: VecDeque<(Instant, f64)>,
    /// Where one-way delays are counted from (our side).
    origin: Option<Instant>,
}

impl Estimator {
    /// An estimate starting at `start` bits per second.
    pub(super) fn new(start: f64) -> Estimator {
        let start = start.clamp(MIN_ESTIMATE_BPS, MAX_ESTIMATE_BPS);
        Estimator {
            groups: ArrivalGroupAccumulator::default(),
            trend: Trendline::default(),
            detector: OveruseDetector::new(),
            delay_control: RateController::new(start, MIN_ESTIMATE_BPS, MAX_ESTIMATE_BPS),
            loss_control: LossController::new(start, MIN_ESTIMATE_BPS, MAX_ESTIMATE_BPS),
            arrived: VecDeque::new(),
            uncovered: VecDeque::new(),
            draining_since: None,
            starting: Some(None),
            target: start,
            base: VecDeque::new(),
            origin: None,
        }
    }

    /// The start ([`START_GROWTH`]): while the path shows no congestion, climbs and says so.
    /// When it first does, the start ends, and both halves carry on from where it got to.
    fn start(
        &mut self,
        now: Instant,
        usage: Usage,
        standing: Option<Duration>,
        loss: f64,
        received: Option<f64>,
    ) -> bool {
        let Some(last) = self.starting else {
            return false;
        };
        let climbed = self.target;
        let congested = usage == Usage::Over
            || standing.is_some_and(|s| s > STANDING_QUEUE)
            || loss > START_LOSS;
        if congested {
            self.starting = None;
            self.delay_control = RateController::new(climbed, MIN_ESTIMATE_BPS, MAX_ESTIMATE_BPS);
            self.loss_control = LossController::new(climbed, MIN_ESTIMATE_BPS, MAX_ESTIMATE_BPS);
            return false;
        }
        let elapsed = last.map_or(0.0, |last| {
            now.saturating_duration_since(last).as_secs_f64().min(1.0)
        });
        let mut climbing = climbed * START_GROWTH.powf(elapsed);
        if let Some(received) = received {
            // As fast as what crosses the bottleneck shows, no faster (a sender that does not
            // fill the estimate holds it).
            climbing = climbing.min(ceiling(received).max(climbed));
        }
        self.starting = Some(Some(now));
        self.target = climbing.clamp(MIN_ESTIMATE_BPS, MAX_ESTIMATE_BPS);
        true
    }

    /// Bits per second we sent that the feedback does not cover, over the last
    /// [`RECEIVED_WINDOW`].
    fn uncovered_rate(&self) -> f64 {
        let bytes: usize = self.uncovered.iter().map(|(_, b)| b).sum();
        bytes as f64 * 8.0 / RECEIVED_WINDOW.as_secs_f64()
    }

    /// How long the packets of this feedback waited at least, beyond the least one-way delay of the
    /// last [`BASE_WINDOW`]; `None` if none arrived.
    fn standing_queue(&mut self, now: Instant, covered: &[&PacketReport]) -> Option<Duration> {
        let origin = *self.origin.get_or_insert(covered[0].departure);
        let least = covered
            .iter()
            .filter_map(|r| {
                let sent = r.departure.checked_duration_since(origin)?.as_secs_f64();
                Some(r.arrival?.as_secs_f64() - sent)
            })
            .reduce(f64::min)?;
        forget_older(&mut self.base, now, BASE_WINDOW, |newest: Instant, at| {
            newest.saturating_duration_since(at)
        });
        self.base.push_back((now, least));
        let base = self.base.iter().map(|(_, d)| *d).reduce(f64::min)?;
        Some(Duration::from_secs_f64((least - base).max(0.0)))
    }

    /// Bits per second the SFU received over the last [`RECEIVED_WINDOW`] of its clock, once it
    /// spans half of that. By arrival, not by when we heard of it: feedback comes every 200 ms,
    /// and a window of our clock holds one batch more or less (`rtc`'s own rate calculator,
    /// which counts by our clock over 500 ms, read 1.1 Mbit/s through an 800 kbit/s bottleneck, so
    /// its back-offs to 0.85 times that never let the queue drain).
    fn received(&self) -> Option<f64> {
        let (first, _) = self.arrived.front()?;
        let (last, _) = self.arrived.back()?;
        let span = last.saturating_sub(*first);
        if span < RECEIVED_WINDOW / 2 {
            return None;
        }
        // The first packet's bytes arrived before the span began.
        let bytes: usize = self.arrived.iter().skip(1).map(|(_, b)| b).sum();
        Some(bytes as f64 * 8.0 / span.as_secs_f64())
    }
}

impl BandwidthEstimator for Estimator {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        let (covered, uncovered): (Vec<&PacketReport>, Vec<&PacketReport>) =
            reports.iter().partition(|r| r.is_twcc);
        self.uncovered
            .extend(uncovered.iter().map(|r| (r.departure, r.size)));
        if let Some(&(newest, _)) = self.uncovered.back() {
            forget_older(
                &mut self.uncovered,
                newest,
                RECEIVED_WINDOW,
                |newest: Instant, at| newest.saturating_duration_since(at),
            );
        }
        if covered.is_empty() {
            return;
        }
        // Delay: group, filter, weigh, detect, control.
        let mut usage = self.detector.usage();
        for report in &covered {
            if let Some(arrival) = report.arrival.filter(|_| report.arrived) {
                self.arrived.push_back((arrival, report.size));
            }
            if let Some(delay) = self.groups.accumulate(report) {
                usage = self.detector.update(delay.at, self.trend.update(&delay));
            }
        }
        if let Some(&(newest, _)) = self.arrived.back() {
            forget_older(
                &mut self.arrived,
                newest,
                RECEIVED_WINDOW,
                Duration::saturating_sub,
            );
        }
        // Everything that crossed the bottleneck: what the feedback covers, and the rest as sent.
        let received = self.received().map(|r| r + self.uncovered_rate());
        let standing = self.standing_queue(now, &covered);
        let (lost, total) = losses(&covered);
        if self.start(
            now,
            usage,
            standing,
            lost as f64 / total.max(1) as f64,
            received,
        ) {
            self.loss_control.update(now, lost, total);
            tracing::debug!(
                target: "conclave::client::estimate",
                bps = self.target as u64,
                ?usage,
                standing_ms = standing.map(|s| s.as_millis() as u64),
                received_bps = received.map(|r| r as u64),
                lost,
                total,
                "estimate starting"
            );
            return;
        }
        let draining_for = self
            .draining_since
            .map(|since| now.saturating_duration_since(since));
        let delay_target = match (standing, received) {
            // A queue that stands does not show in the delay's trend (it neither grows nor
            // shrinks), yet everything waits in it: back off below what arrives, by enough to
            // empty it within DRAIN_TIME, once, and hold there while it drains (what arrives
            // falls as it does).
            (Some(standing), Some(received))
                if standing > STANDING_QUEUE && draining_for.is_none_or(|d| d > DRAIN_AGAIN) =>
            {
                self.draining_since = Some(now);
                let drain = (1.0 - standing.as_secs_f64() / DRAIN_TIME.as_secs_f64()).max(0.5);
                self.delay_control
                    .update(now, Usage::Over, Some(received * drain))
            }
            (Some(standing), _) if draining_for.is_some() && standing > STANDING_QUEUE / 2 => {
                self.delay_control.update(now, Usage::Under, received)
            }
            _ => {
                self.draining_since = None;
                self.delay_control.update(now, usage, received)
            }
        };
        // Loss: a fraction over this batch.
        let loss_target = self.loss_control.update(now, lost, total);

        let mut target = delay_target.min(loss_target);
        if let Some(received) = received {
            // No more than the path has shown it carries, by half again: a sender that does not
            // fill its estimate (a picture at its ceiling, a still screen) learns nothing about
            // the path, and an estimate climbing on regardless would let the next burst through
            // unpaced.
            target = target.min(ceiling(received));
            if self.draining_since.is_none() {
                target = target.max(RECEIVED_FLOOR * received);
            }
        }
        self.target = target.clamp(MIN_ESTIMATE_BPS, MAX_ESTIMATE_BPS);
        tracing::debug!(
            target: "conclave::client::estimate",
            bps = self.target as u64,
            delay_bps = delay_target as u64,
            loss_bps = loss_target as u64,
            ?usage,
            standing_ms = standing.map(|s| s.as_millis() as u64),
            received_bps = received.map(|r| r as u64),
            lost,
            total,
            draining = self.draining_since.is_some(),
            "estimate"
        );
    }

    fn target_bitrate(&self) -> f64 {
        self.target
    }

    fn stats(&self) -> EstimatorStats {
        let mut stats = EstimatorStats::default();
        stats.delay_based_bitrate = Some(self.delay_control.target());
        stats.loss_based_bitrate = Some(self.loss_control.target());
        stats.packet_loss = self.loss_control.average_loss();
        stats
    }
}

#[cfg(test)]
mod tests {
    //! A bottleneck in virtual time: a sender paced at 2.5 times the estimate, its camera at the
    //! estimate less audio's share, through a link of fixed capacity with a drop-tail queue of 50
    //! packets (as the tests' HTB shaper has), and the SFU's feedback every 200 ms.

    use super::*;

    /// Audio: 20 ms packets the feedback does not cover (Janus numbers only video).
    const AUDIO_BYTES: usize = 160;
    /// What a paused picture still sends.
    const PAUSED_VIDEO_BPS: f64 = 20_000.0;
    /// The picture's ceiling (`--bitrate`).
    const VIDEO_MAX_BPS: f64 = 800_000.0;
    const PACKET: usize = 1200;
    const QUEUE_PACKETS: usize = 50;
    const PROPAGATION: Duration = Duration::from_millis(10);
    const FEEDBACK: Duration = Duration::from_millis(200);

    struct Sent {
        covered: bool,
        size: usize,
        departure: Instant,
        /// When it left the bottleneck's far end; `None` if the queue dropped it.
        arrival: Option<Instant>,
    }

    /// How a run went over its last half.
    #[derive(Debug)]
    struct Outcome {
        /// Mean estimate, bits per second.
        estimate: f64,
        /// Share of packets the bottleneck dropped.
        loss: f64,
        /// 95th percentile of the time packets spent in the bottleneck's queue.
        queueing_p95: Duration,
        /// Share of audio packets dropped.
        audio_loss: f64,
        /// What was sent, bits per second.
        sent_bps: f64,
    }

    fn run(estimator: &mut dyn BandwidthEstimator, capacity_bps: f64, seconds: u64) -> Outcome {
        run_losing_feedback(estimator, capacity_bps, seconds, 0)
    }

    /// [`run`], with every `nth` feedback lost on its way back (none if 0): its packets are then
    /// reported lost with the next, as the send history does.
    fn run_losing_feedback(
        estimator: &mut dyn BandwidthEstimator,
        capacity_bps: f64,
        seconds: u64,
        nth: u32,
    ) -> Outcome {
        let mut feedbacks = 0u32;
        let mut unacknowledged: Vec<PacketReport> = Vec::new();
        let epoch = Instant::now();
        let tick = Duration::from_millis(1);
        let end = epoch + Duration::from_secs(seconds);
        let half = epoch + Duration::from_secs(seconds / 2);
        let mut sent: Vec<Sent> = Vec::new();
        // The pacer's queue: indices into `sent` not yet released, and its budget in bits.
        let mut pacer: VecDeque<(bool, usize)> = VecDeque::new();
        let mut budget = 0.0_f64;
        // The bottleneck: indices queued, and when the one at its head finishes.
        let mut link: VecDeque<usize> = VecDeque::new();
        let mut link_busy_until = epoch;
        let mut reported = 0usize;
        let mut next_frame = epoch;
        let mut next_audio = epoch;
        let mut next_feedback = epoch + FEEDBACK;
        let mut estimates = Vec::new();
        let mut now = epoch;
        let admit = |sent: &mut Vec<Sent>, link: &mut VecDeque<usize>, covered, size, now| {
            let index = sent.len();
            sent.push(Sent {
                covered,
                size,
                departure: now,
                arrival: None,
            });
            if link.len() < QUEUE_PACKETS {
                link.push_back(index);
            }
        };
        while now < end {
            let target = estimator.target_bitrate();
            if now >= next_frame {
                // Below its least, the picture goes on small and slow (the rate policy's pause).
                let audio = f64::from(conclave_room::meeting::AUDIO_RESERVE_BPS);
                let video = (target - audio).clamp(PAUSED_VIDEO_BPS, VIDEO_MAX_BPS);
                let mut bytes = (video / 8.0 / 30.0) as usize;
                while bytes > 0 {
                    let size = bytes.min(PACKET);
                    pacer.push_back((true, size));
                    bytes -= size;
                }
                next_frame += Duration::from_micros(33_333);
            }
            if now >= next_audio {
                // Audio bypasses the pacer.
                admit(&mut sent, &mut link, false, AUDIO_BYTES, now);
                next_audio += Duration::from_millis(20);
            }
            budget = (budget + 2.5 * target * tick.as_secs_f64())
                .min((2.5 * target * 0.01).max((2 * PACKET * 8) as f64));
            while let Some(&(covered, size)) = pacer.front() {
                if budget < (size * 8) as f64 {
                    break;
                }
                budget -= (size * 8) as f64;
                pacer.pop_front();
                admit(&mut sent, &mut link, covered, size, now);
            }
            // The bottleneck serves its queue at its capacity.
            while let Some(&head) = link.front() {
                let start = link_busy_until.max(sent[head].departure);
                let done =
                    start + Duration::from_secs_f64((sent[head].size * 8) as f64 / capacity_bps);
                if done > now {
                    break;
                }
                sent[head].arrival = Some(done + PROPAGATION);
                link_busy_until = done;
                link.pop_front();
            }
            if link.is_empty() && link_busy_until < now {
                link_busy_until = now;
            }
            if now >= next_feedback {
                // The SFU reports every covered packet up to the newest one that arrived.
                let newest = sent
                    .iter()
                    .rposition(|s| s.covered && s.arrival.is_some_and(|a| a <= now));
                if let Some(newest) = newest {
                    let reports: Vec<PacketReport> = (reported..=newest)
                        .map(|i| report(i, &sent[i], epoch))
                        .collect();
                    reported = newest + 1;
                    feedbacks += 1;
                    if nth > 0 && feedbacks.is_multiple_of(nth) {
                        unacknowledged.extend(reports.into_iter().map(|r| PacketReport {
                            arrived: false,
                            arrival: None,
                            ..r
                        }));
                    } else {
                        let mut batch = std::mem::take(&mut unacknowledged);
                        batch.extend(reports);
                        estimator.on_reports(now + PROPAGATION, &batch);
                    }
                }
                next_feedback += FEEDBACK;
            }
            if now >= half {
                estimates.push(target);
            }
            now += tick;
        }
        let late: Vec<&Sent> = sent
            .iter()
            .filter(|s| s.departure >= half && s.departure + Duration::from_secs(2) < end)
            .collect();
        let share = |f: &dyn Fn(&&Sent) -> bool, of: &dyn Fn(&&Sent) -> bool| {
            let all = late.iter().filter(|s| of(s)).count().max(1);
            late.iter().filter(|s| of(s) && f(s)).count() as f64 / all as f64
        };
        let mut queueing: Vec<Duration> = late
            .iter()
            .filter_map(|s| s.arrival.map(|a| a - s.departure - PROPAGATION))
            .collect();
        queueing.sort();
        Outcome {
            estimate: estimates.iter().sum::<f64>() / estimates.len() as f64,
            loss: share(&|s| s.arrival.is_none(), &|_| true),
            queueing_p95: queueing[queueing.len() * 95 / 100],
            audio_loss: share(&|s| s.arrival.is_none(), &|s| !s.covered),
            sent_bps: late.iter().map(|s| s.size * 8).sum::<usize>() as f64
                / (seconds as f64 / 2.0 - 2.0),
        }
    }

    fn report(index: usize, sent: &Sent, epoch: Instant) -> PacketReport {
        PacketReport {
            ssrc: 1,
            id: index as u64,
            rtp_sequence_number: index as u16,
            is_twcc: sent.covered,
            twcc_sequence_number: index as u16,
            size: sent.size,
            arrived: sent.covered && sent.arrival.is_some(),
            departure: sent.departure,
            arrival: sent.arrival.filter(|_| sent.covered).map(|a| a - epoch),
            ecn: Default::default(),
        }
    }

    #[test]
    fn a_narrow_uplink_is_found_without_filling_its_queue_or_losing_audio() {
        for capacity in [150_000.0, 300_000.0, 500_000.0, 800_000.0] {
            let outcome = run(&mut Estimator::new(START_BPS), capacity, 60);
            assert!(
                outcome.estimate > 0.6 * capacity && outcome.estimate < 1.1 * capacity,
                "{capacity}: {outcome:?}"
            );
            assert!(
                outcome.loss < 0.01 && outcome.audio_loss < 0.01,
                "{capacity}: {outcome:?}"
            );
            assert!(
                outcome.queueing_p95 < Duration::from_millis(250),
                "{capacity}: {outcome:?}"
            );
        }
    }

    #[test]
    fn a_wide_path_is_climbed_to_the_pictures_ceiling_and_no_further() {
        let outcome = run(&mut Estimator::new(START_BPS), 20_000_000.0, 30);
        let wanted = VIDEO_MAX_BPS + (AUDIO_BYTES * 8 * 50) as f64;
        assert!(outcome.sent_bps > 0.95 * wanted, "{outcome:?}");
        assert!(
            outcome.estimate < 2.0 * outcome.sent_bps,
            "an estimate far above what was ever sent: {outcome:?}"
        );
        assert_eq!(outcome.loss, 0.0);
    }

    /// Feedback every six frames on a path where each frame (three packets, 30 a second) from
    /// `first` on arrives `growth` later than the one before would on an idle path, for `frames`.
    fn growing(
        estimator: &mut Estimator,
        epoch: Instant,
        first: u32,
        frames: u32,
        growth: Duration,
    ) {
        let frame = Duration::from_micros(33_333);
        let mut batch = Vec::new();
        let mut queue = Duration::ZERO;
        for index in first..first + frames {
            let sent_at = frame * index;
            queue += growth;
            for p in 0..3u32 {
                let departure = epoch + sent_at + Duration::from_millis(p.into());
                let sent = Sent {
                    covered: true,
                    size: PACKET,
                    departure,
                    arrival: Some(departure + PROPAGATION + queue),
                };
                batch.push(report((index * 3 + p) as usize, &sent, epoch));
            }
            if (index + 1) % 6 == 0 {
                estimator.on_reports(epoch + sent_at + PROPAGATION + queue, &batch);
                batch.clear();
            }
        }
    }

    #[test]
    fn a_growing_queue_is_backed_off_from_before_it_stands() {
        let epoch = Instant::now();
        let mut estimator = Estimator::new(1_000_000.0);
        // A second of an idle path, for the filter and the threshold to settle.
        growing(&mut estimator, epoch, 0, 30, Duration::ZERO);
        let before = estimator.target_bitrate();
        // Then 10 % more than the path carries: 3.3 ms more queue a frame, 80 ms after 0.8 s
        // (below a standing queue).
        growing(&mut estimator, epoch, 30, 24, Duration::from_micros(3_300));
        let received = 3.0 * (PACKET * 8) as f64 * 30.0;
        assert!(
            estimator.target_bitrate() < 0.9 * received,
            "{before} -> {} with {received} arriving",
            estimator.target_bitrate()
        );
    }

    #[test]
    fn feedback_lost_on_the_way_back_is_not_taken_for_packets_lost_on_the_way_out() {
        // A fifth of the SFU's feedback lost (a receiver's lossy downlink), the uplink clean.
        let outcome = run_losing_feedback(&mut Estimator::new(START_BPS), 20_000_000.0, 30, 5);
        let wanted = VIDEO_MAX_BPS + (AUDIO_BYTES * 8 * 50) as f64;
        assert!(outcome.sent_bps > 0.95 * wanted, "{outcome:?}");
    }
}
