//! "You are muted": notices the user talking while the microphone is switched off (it stays
//! open when muted, so unmuting is instant), so that a display can say so. Only our own level,
//! which never leaves this machine while muted, is looked at.

/// Loud enough to be someone talking into the microphone, not the room: louder than -40 dBov
/// (RFC 6464 levels count down from 0, the loudest).
const SPEECH_LEVEL: u8 = 40;

/// How much talking, in 20 ms frames, makes it "talking": half a second's worth, so that a cough
/// or a door does not.
const TALKING: u16 = 25;

/// The most the evidence can grow: it falls back below [`TALKING`] within about half a second
/// of silence.
const MOST: u16 = 2 * TALKING;

/// Evidence of talking while muted, from each 20 ms frame's level.
#[derive(Clone, Debug, Default)]
pub struct MutedSpeech {
    evidence: u16,
}

impl MutedSpeech {
    /// One 20 ms frame of ours at RFC 6464 `level`, while the microphone is `muted` or not.
    pub fn hear(&mut self, level: u8, muted: bool) {
        self.evidence = if !muted {
            0
        } else if level <= SPEECH_LEVEL {
            (self.evidence + 1).min(MOST)
        } else {
            self.evidence.saturating_sub(1)
        };
    }

    /// Whether the user seems to be talking while muted.
    pub fn talking(&self) -> bool {
        self.evidence >= TALKING
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hear(m: &mut MutedSpeech, frames: usize, level: u8, muted: bool) {
        for _ in 0..frames {
            m.hear(level, muted);
        }
    }

    #[test]
    fn half_a_second_of_talking_while_muted_is_noticed_and_silence_ends_it() {
        let mut m = MutedSpeech::default();
        hear(&mut m, 24, 20, true);
        assert!(!m.talking(), "not yet: under half a second");
        hear(&mut m, 1, 20, true);
        assert!(m.talking());
        // A quiet room (-60 dBov) brings it down again.
        hear(&mut m, 60, 60, true);
        assert!(!m.talking());
    }

    #[test]
    fn room_noise_short_sounds_and_unmuted_talking_are_not_noticed() {
        let mut m = MutedSpeech::default();
        hear(&mut m, 500, 45, true);
        assert!(!m.talking(), "-45 dBov is the room, not a voice");
        for _ in 0..100 {
            hear(&mut m, 10, 10, true);
            hear(&mut m, 15, 90, true);
        }
        assert!(!m.talking(), "short sounds in silence");
        hear(&mut m, 100, 10, false);
        assert!(!m.talking(), "talking unmuted is just talking");
        hear(&mut m, 30, 10, true);
        hear(&mut m, 1, 10, false);
        assert!(!m.talking(), "unmuting ends it at once");
    }
}
