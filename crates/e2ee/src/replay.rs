//! Sliding-window replay protection over one key's counters.
//!
//! Checking and recording are separate steps so that only frames that authenticated move the
//! window: a forged frame with a huge counter cannot push genuine ones out of it.

/// Counters remembered behind the highest one seen.
pub const REPLAY_WINDOW: u64 = 1024;
/// Furthest a counter may jump ahead of the highest one accepted. A sender counts one per frame
/// (about 100 a second for audio and video together) and changes its key at least every
/// 15 minutes, and a receiver that hears nothing for seconds reconnects: no honest jump comes
/// near this. A frame from an insider who holds the key, numbered far ahead, would otherwise
/// move the window past every genuine frame still to come (silencing the sender); now it is
/// refused.
pub const MAX_JUMP: u64 = 1 << 14;

const WORDS: usize = (REPLAY_WINDOW / 64) as usize;

/// Why a counter was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replay {
    /// This counter was already accepted.
    Duplicate,
    /// The counter is older than the window can vouch for.
    TooOld,
    /// The counter jumps further ahead than any sender's could ([`MAX_JUMP`]).
    TooFarAhead,
}

/// Which counters of one key have been accepted, as a bitmap behind the highest.
#[derive(Clone, Debug, Default)]
pub struct ReplayWindow {
    highest: Option<u64>,
    seen: [u64; WORDS],
}

impl ReplayWindow {
    /// Whether `ctr` may be accepted (it is new and inside the window).
    pub fn check(&self, ctr: u64) -> Result<(), Replay> {
        let Some(highest) = self.highest else {
            return Ok(());
        };
        if ctr > highest {
            if ctr - highest > MAX_JUMP {
                return Err(Replay::TooFarAhead);
            }
            return Ok(());
        }
        if highest - ctr >= REPLAY_WINDOW {
            return Err(Replay::TooOld);
        }
        if self.bit(ctr) {
            return Err(Replay::Duplicate);
        }
        Ok(())
    }

    /// Records `ctr` as accepted. Call only after [`ReplayWindow::check`] passed and the frame
    /// authenticated.
    pub fn record(&mut self, ctr: u64) {
        match self.highest {
            Some(highest) if ctr <= highest => {}
            Some(highest) if ctr - highest >= REPLAY_WINDOW => {
                self.seen = [0; WORDS];
                self.highest = Some(ctr);
            }
            Some(highest) => {
                for c in highest + 1..ctr {
                    self.clear(c);
                }
                self.clear(ctr);
                self.highest = Some(ctr);
            }
            None => self.highest = Some(ctr),
        }
        let (word, mask) = slot(ctr);
        self.seen[word] |= mask;
    }

    fn bit(&self, ctr: u64) -> bool {
        let (word, mask) = slot(ctr);
        self.seen[word] & mask != 0
    }

    fn clear(&mut self, ctr: u64) {
        let (word, mask) = slot(ctr);
        self.seen[word] &= !mask;
    }
}

fn slot(ctr: u64) -> (usize, u64) {
    let i = ctr % REPLAY_WINDOW;
    ((i / 64) as usize, 1 << (i % 64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(w: &mut ReplayWindow, ctr: u64) -> Result<(), Replay> {
        w.check(ctr)?;
        w.record(ctr);
        Ok(())
    }

    #[test]
    fn duplicates_are_refused_in_and_out_of_order() {
        let mut w = ReplayWindow::default();
        for c in [5, 3, 4, 10, 6] {
            assert_eq!(accept(&mut w, c), Ok(()), "{c}");
        }
        for c in [5, 3, 4, 10, 6] {
            assert_eq!(accept(&mut w, c), Err(Replay::Duplicate), "{c}");
        }
        for c in [0, 1, 2, 7, 8, 9] {
            assert_eq!(accept(&mut w, c), Ok(()), "late but new: {c}");
        }
    }

    #[test]
    fn counters_behind_the_window_are_too_old() {
        let mut w = ReplayWindow::default();
        accept(&mut w, 0).unwrap();
        accept(&mut w, REPLAY_WINDOW + 10).unwrap();
        assert_eq!(w.check(10), Err(Replay::TooOld));
        assert_eq!(w.check(11), Ok(()));
        assert_eq!(w.check(REPLAY_WINDOW + 10), Err(Replay::Duplicate));
    }

    #[test]
    fn slots_reused_after_the_window_slides_start_empty() {
        let mut w = ReplayWindow::default();
        for c in 0..3 * REPLAY_WINDOW {
            assert_eq!(accept(&mut w, c), Ok(()), "{c}");
        }
        // Jumping ahead by less than the window must clear exactly the skipped slots.
        let top = 3 * REPLAY_WINDOW + 500;
        accept(&mut w, top).unwrap();
        for c in 3 * REPLAY_WINDOW..top {
            assert_eq!(w.check(c), Ok(()), "skipped {c} must be accepted");
        }
        for c in top - REPLAY_WINDOW + 1..3 * REPLAY_WINDOW {
            assert_eq!(w.check(c), Err(Replay::Duplicate), "{c}");
        }
    }

    #[test]
    fn the_last_counter_is_usable() {
        let mut w = ReplayWindow::default();
        accept(&mut w, u64::MAX - 1).unwrap();
        accept(&mut w, u64::MAX).unwrap();
        assert_eq!(w.check(u64::MAX), Err(Replay::Duplicate));
    }

    #[test]
    fn a_counter_far_ahead_is_refused_and_moves_nothing() {
        let mut w = ReplayWindow::default();
        for c in 0..100 {
            accept(&mut w, c).unwrap();
        }
        // An insider's frame numbered 2^40: refused, and the genuine frames go on.
        assert_eq!(accept(&mut w, 1 << 40), Err(Replay::TooFarAhead));
        assert_eq!(accept(&mut w, 99 + MAX_JUMP + 1), Err(Replay::TooFarAhead));
        for c in 100..200 {
            assert_eq!(accept(&mut w, c), Ok(()), "{c}");
        }
        // A jump an honest sender can make (frames lost in between) is taken.
        assert_eq!(accept(&mut w, 199 + MAX_JUMP), Ok(()));
    }
}
