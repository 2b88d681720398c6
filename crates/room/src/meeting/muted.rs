//! "You are muted": notices the user talking while the microphone is switched off (it stays
//! open when muted, so unmuting is instant), so that a display can say so. Only our own level,
//! which never leaves this machine while muted, is looked at.

use std::time::{Duration, Instant};

/// Loud enough to be someone talking into the microphone, not the room: louder than -40 dBov
/// (RFC 6464 levels count down from 0, the loudest).
const SPEECH_LEVEL: u8 = 40;

/// How much talking, in 20 ms frames, makes it "talking": half a second's worth, so that a cough
/// or a door does not.
const TALKING: u16 = 25;

/// The most the evidence can grow: it falls back below [`TALKING`] within about half a second
/// of silence.
const MOST: u16 = 2 * TALKING;

/// Frames stop coming when the microphone goes away (unplugged, replaced, none): evidence older
/// than this says nothing about now.
const FRESH: Duration = Duration::from_millis(200);

/// Evidence of talking while muted, from each 20 ms frame's level.
#[derive(Clone, Debug, Default)]
pub(crate) struct MutedSpeech {
    evidence: u16,
    /// When the last frame was heard.
    heard: Option<Instant>,
}

impl MutedSpeech {
    /// One 20 ms frame of ours at RFC 6464 `level` at `now`, while the microphone is `muted` or
    /// not.
    pub(crate) fn hear(&mut self, level: u8, muted: bool, now: Instant) {
        // After a gap (a new or replugged microphone) the old evidence says nothing.
        if self
            .heard
            .is_none_or(|t| now.saturating_duration_since(t) > FRESH)
        {
            self.evidence = 0;
        }
        self.heard = Some(now);
        self.evidence = if !muted {
            0
        } else if level <= SPEECH_LEVEL {
            (self.evidence + 1).min(MOST)
        } else {
            self.evidence.saturating_sub(1)
        };
    }

    /// Whether the user seems to be talking while muted, at `now`.
    pub(crate) fn talking(&self, now: Instant) -> bool {
        self.evidence >= TALKING
            && self
                .heard
                .is_some_and(|t| now.saturating_duration_since(t) <= FRESH)
    }

    /// Until when a "talking" stays true without another frame.
    pub(crate) fn fresh_until(&self) -> Option<Instant> {
        self.heard.map(|t| t + FRESH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: Duration = Duration::from_millis(20);

    /// `frames` frames of 20 ms, the first at `m`'s last one plus 20 ms.
    fn hear(m: &mut MutedSpeech, frames: usize, level: u8, muted: bool) {
        for _ in 0..frames {
            let at = m.heard.map_or_else(Instant::now, |t| t + FRAME);
            m.hear(level, muted, at);
        }
    }

    fn talking(m: &MutedSpeech) -> bool {
        m.talking(m.heard.unwrap())
    }

    #[test]
    fn half_a_second_of_talking_while_muted_is_noticed_and_silence_ends_it() {
        let mut m = MutedSpeech::default();
        hear(&mut m, 24, 20, true);
        assert!(!talking(&m), "not yet: under half a second");
        hear(&mut m, 1, 20, true);
        assert!(talking(&m));
        // A quiet room (-60 dBov) brings it down again.
        hear(&mut m, 60, 60, true);
        assert!(!talking(&m));
    }

    #[test]
    fn room_noise_short_sounds_and_unmuted_talking_are_not_noticed() {
        let mut m = MutedSpeech::default();
        hear(&mut m, 500, 45, true);
        assert!(!talking(&m), "-45 dBov is the room, not a voice");
        for _ in 0..100 {
            hear(&mut m, 10, 10, true);
            hear(&mut m, 15, 90, true);
        }
        assert!(!talking(&m), "short sounds in silence");
        hear(&mut m, 100, 10, false);
        assert!(!talking(&m), "talking unmuted is just talking");
        hear(&mut m, 30, 10, true);
        hear(&mut m, 1, 10, false);
        assert!(!talking(&m), "unmuting ends it at once");
    }

    #[test]
    fn a_microphone_that_stops_delivering_ends_it() {
        let mut m = MutedSpeech::default();
        hear(&mut m, 50, 10, true);
        let last = m.heard.unwrap();
        assert!(m.talking(last + Duration::from_millis(100)));
        // Unplugged or replaced: no more frames, and after a moment no more "talking".
        assert!(!m.talking(last + Duration::from_millis(300)));
        // A new microphone starts from nothing, not from the old one's evidence.
        m.hear(10, true, last + Duration::from_secs(5));
        assert!(!talking(&m));
    }
}
