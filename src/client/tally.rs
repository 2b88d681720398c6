//! What arrived on one remote stream, counted as it arrives (by the receiving tasks and decoder
//! threads) and read for the report.

use crate::stats::Samples;

/// Counts for one remote stream.
#[derive(Clone, Debug, Default)]
pub struct MediaTally {
    /// Frames that arrived whole (video: all packets of an access unit).
    pub frames_received: u64,
    /// Frames that authenticated and decrypted.
    pub frames_decrypted: u64,
    /// Frames dropped because they did not authenticate (wrong key, tampering).
    pub frames_dropped_auth: u64,
    /// Frames dropped for other reasons (replay, malformed, unknown key, unsigned: the last also
    /// counted per participant as `frames_refused_unsigned`).
    pub frames_dropped_other: u64,
    /// Frames decoded.
    pub frames_decoded: u64,
    /// Audio frames whose packet never came, rebuilt from the next packet's FEC data or
    /// concealed by the decoder.
    pub frames_concealed: u64,
    /// Audio packets that came after their time had been concealed (dropped).
    pub frames_late: u64,
    /// Video frames lost in transit (missing packets).
    pub frames_lost_in_transit: u64,
    /// Video packets that arrived after a later one and filled the gap in time: reordered, or
    /// retransmitted after a NACK.
    pub packets_recovered: u64,
    /// The last frame number read from the synthetic pattern (it should keep advancing).
    pub last_frame_number: Option<u32>,
    /// Capture-to-decode latency, from the pattern's capture timestamps.
    pub latency: Samples,
    /// Wall-clock time of the first decoded frame, µs.
    pub first_decoded_us: Option<u64>,
    /// Wall-clock time of the last decoded frame, µs.
    pub last_decoded_us: Option<u64>,
    /// Longest time without a decoded frame once they started, µs (a freeze).
    pub longest_gap_us: u64,
    /// When the longest gap ended (wall clock, µs since the Unix epoch).
    pub longest_gap_end_us: Option<u64>,
    /// The track carries a shared screen or window now (its frames are sealed as a share).
    pub share: bool,
    /// Frames that decrypted as a share's, ever.
    pub share_frames: u64,
}

impl MediaTally {
    /// Records a decoded frame at `now_us`.
    pub fn decoded(&mut self, now_us: u64) {
        self.frames_decoded += 1;
        self.first_decoded_us.get_or_insert(now_us);
        if let Some(last) = self.last_decoded_us {
            let gap = now_us.saturating_sub(last);
            if gap > self.longest_gap_us {
                self.longest_gap_us = gap;
                self.longest_gap_end_us = Some(now_us);
            }
        }
        self.last_decoded_us = Some(now_us);
    }
}
