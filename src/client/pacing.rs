//! Pacing: what we send leaves in an even flow, at a multiple of the congestion controller's
//! estimate, instead of in the bursts an encoder makes (a keyframe is many packets at once, and a
//! burst bigger than a bottleneck's queue is lost there).
//!
//! `rtc`'s pacer paces at exactly the estimate, so that a keyframe larger than the average frame
//! queues up behind itself for as long as it is larger — seconds at a low rate — and the audio
//! queued behind it with it. Browsers pace at 2.5 times the estimate (libwebrtc's pacing factor)
//! and keep the encoder at the estimate; so does this: the library's pacer, driven at
//! [`PACING_FACTOR`] times what the controller estimates. A thin wrapper rather than a pacer of
//! our own: the bucket, its queue and its timing stay the library's.
//!
//! Audio is not paced: 50 small packets a second make no bursts, and the library's one queue
//! would hold them behind a keyframe. On a 300 kbit/s uplink, where the estimate fell below the
//! link, half the audio arrived too late or not at all behind queued video.

use std::collections::{HashSet, VecDeque};
use std::time::Instant;

use rtc::interceptor::{
    Attribute, Interceptor, PacerBuilder, PacerInterceptor, Packet, StreamInfo, TaggedPacket,
};
use rtc::sansio::Protocol;

/// How much faster than the estimate packets may leave.
pub const PACING_FACTOR: f64 = 2.5;

/// Packets held at most; more are refused (at 2.5 times the estimate the queue drains in well
/// under a second of a keyframe; a refused packet is repaired like a lost one).
const QUEUE_LIMIT: usize = 1000;

/// The library's pacer at [`PACING_FACTOR`] times the estimate, for everything but audio.
pub struct Pacing {
    inner: PacerInterceptor,
    /// Our audio streams' SSRCs.
    audio: HashSet<u32>,
    /// Audio on its way out, ahead of the paced packets.
    unpaced: VecDeque<TaggedPacket>,
}

impl Pacing {
    /// Pacing for a connection whose estimate starts at `start_bps`.
    pub fn new(start_bps: f64) -> Pacing {
        Pacing {
            inner: PacerBuilder::new()
                .with_target_bitrate(start_bps * PACING_FACTOR)
                .with_queue_limit(QUEUE_LIMIT)
                .build(),
            audio: HashSet::new(),
            unpaced: VecDeque::new(),
        }
    }

    /// The rate packets are released at now.
    #[cfg(test)]
    pub fn rate(&self) -> f64 {
        self.inner.pacer().target_bitrate()
    }
}

/// The estimate a packet carries past us, if it does.
fn estimate_in(msg: &TaggedPacket) -> Option<f64> {
    msg.message
        .attributes
        .iter()
        .find_map(|attribute| match attribute {
            Attribute::TargetBitrateChanged { bits_per_second } => Some(*bits_per_second),
            _ => None,
        })
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for Pacing {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        // The library's pacer sets its rate to the estimate it sees go by; ours is a multiple.
        let estimate = estimate_in(&msg);
        self.inner.handle_read(msg)?;
        if let Some(bps) = estimate {
            self.inner
                .pacer_mut()
                .set_target_bitrate(bps * PACING_FACTOR);
        }
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.inner.poll_read()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtp(rtp) = &msg.message.packet
            && self.audio.contains(&rtp.header.ssrc)
        {
            self.unpaced.push_back(msg);
            return Ok(());
        }
        self.inner.handle_write(msg)
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.unpaced.pop_front().or_else(|| self.inner.poll_write())
    }

    fn handle_event(&mut self, event: ()) -> Result<(), Self::Error> {
        self.inner.handle_event(event)
    }

    fn poll_event(&mut self) -> Option<()> {
        self.inner.poll_event()
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), Self::Error> {
        self.inner.handle_timeout(now)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.inner.poll_timeout()
    }

    fn close(&mut self) -> Result<(), Self::Error> {
        self.inner.close()
    }
}

impl Interceptor for Pacing {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        if info.mime_type.to_ascii_lowercase().starts_with("audio/") {
            self.audio.insert(info.ssrc);
        }
        self.inner.bind_local_stream(info);
    }
    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.audio.remove(&info.ssrc);
        self.inner.unbind_local_stream(info);
    }
    fn bind_remote_stream(&mut self, info: &StreamInfo) {
        self.inner.bind_remote_stream(info);
    }
    fn unbind_remote_stream(&mut self, info: &StreamInfo) {
        self.inner.unbind_remote_stream(info);
    }
}

#[cfg(test)]
mod tests {
    use super::{PACING_FACTOR, Pacing};
    use rtc::interceptor::{Attribute, AttributedPacket, Packet, TaggedPacket};
    use rtc::sansio::Protocol;
    use std::time::{Duration, Instant};

    fn rtp(seq: u16, bytes: usize, now: Instant) -> TaggedPacket {
        on(1, seq, bytes, now)
    }

    fn on(ssrc: u32, seq: u16, bytes: usize, now: Instant) -> TaggedPacket {
        TaggedPacket {
            now,
            transport: Default::default(),
            message: AttributedPacket::new(Packet::Rtp(rtc::rtp::Packet {
                header: rtc::rtp::header::Header {
                    version: 2,
                    sequence_number: seq,
                    ssrc,
                    ..Default::default()
                },
                payload: vec![0u8; bytes].into(),
            })),
        }
    }

    /// Packets released by `until`, stepping the pacer's own timeouts.
    fn released_by(pacing: &mut Pacing, until: Instant) -> usize {
        let mut released = 0;
        loop {
            while pacing.poll_write().is_some() {
                released += 1;
            }
            match pacing.poll_timeout() {
                Some(at) if at <= until => pacing.handle_timeout(at).unwrap(),
                _ => return released,
            }
        }
    }

    #[test]
    fn a_keyframe_leaves_at_a_multiple_of_the_estimate_not_at_the_estimate() {
        let start = Instant::now();
        let mut pacing = Pacing::new(1_000_000.0);
        // The controller estimates 400 kbit/s.
        let estimate = TaggedPacket {
            now: start,
            transport: Default::default(),
            message: AttributedPacket::new(Packet::Rtcp(Vec::new())).with(
                Attribute::TargetBitrateChanged {
                    bits_per_second: 400_000.0,
                },
            ),
        };
        pacing.handle_read(estimate).unwrap();
        assert!(pacing.poll_read().is_some(), "the feedback goes on");
        assert_eq!(pacing.rate(), 400_000.0 * PACING_FACTOR);
        // A 50 kB keyframe (400 kbit): a second's worth at the estimate, 0.4 s at 2.5 times it.
        let packets = 40;
        for seq in 0..packets {
            pacing.handle_write(rtp(seq, 1250, start)).unwrap();
        }
        let early = released_by(&mut pacing, start + Duration::from_millis(100));
        assert!(
            early < usize::from(packets),
            "paced, not all at once: {early}"
        );
        let rest = released_by(&mut pacing, start + Duration::from_millis(500));
        assert_eq!(
            early + rest,
            usize::from(packets),
            "out within half a second"
        );
    }

    #[test]
    fn audio_goes_ahead_of_a_queued_keyframe() {
        use rtc::interceptor::{Interceptor, StreamInfo};
        let start = Instant::now();
        let mut pacing = Pacing::new(100_000.0);
        pacing.bind_local_stream(&StreamInfo {
            ssrc: 2,
            mime_type: "audio/opus".into(),
            ..Default::default()
        });
        // A keyframe's worth of video (1 s at 250 kbit/s), then one audio packet.
        for seq in 0..25 {
            pacing.handle_write(rtp(seq, 1250, start)).unwrap();
        }
        pacing.handle_write(on(2, 0, 100, start)).unwrap();
        let mut first = Vec::new();
        while let Some(p) = pacing.poll_write() {
            if let Packet::Rtp(rtp) = &p.message.packet {
                first.push(rtp.header.ssrc);
            }
        }
        assert!(first.contains(&2), "audio out at once: {first:?}");
        assert!(
            first.iter().filter(|s| **s == 1).count() < 25,
            "video paced"
        );
    }
}
