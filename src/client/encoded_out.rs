//! Encoded pictures for a display that decodes them itself (a web page with WebCodecs): the
//! recent H.264 access units per remote participant, in order. Unlike decoded pictures they
//! cannot be skipped one by one: a display that is new, broken or too far behind starts again at
//! a recent keyframe, and when there is none it wishes for one, which the receiver turns into a
//! keyframe request to the sender.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Access units kept per participant: three seconds at 30 fps.
pub const KEEP: usize = 90;

/// A display (re)starts at a keyframe at most this many access units old (half a second at
/// 30 fps); it would otherwise decode, and show, the past in a rush.
pub const FRESH: u32 = 15;

/// One access unit (Annex B) of one participant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    /// Counts up from 1 with every access unit of this participant.
    pub seq: u32,
    /// Whether a decoder can start here.
    pub keyframe: bool,
    /// When it was put here, milliseconds since the Unix epoch (a display measures its latency).
    pub arrived_unix_ms: u64,
    /// The access unit.
    pub data: Arc<[u8]>,
}

/// What one display asks for (see [`EncodedOut::wait_many`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ask {
    /// The participant's SFU feed.
    pub feed: u64,
    /// The last unit the display took (0: none).
    pub after: u32,
    /// The display starts again and needs a keyframe.
    pub restart: bool,
}

#[derive(Debug, Default)]
struct Stream {
    units: VecDeque<Unit>,
    last_seq: u32,
    /// A display waits for a keyframe.
    wants_keyframe: bool,
}

/// Recent access units by SFU feed id.
#[derive(Debug, Default)]
pub struct EncodedOut {
    streams: Mutex<HashMap<u64, Stream>>,
    arrived: Condvar,
}

impl EncodedOut {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Stream>> {
        self.streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends an access unit of `feed`.
    pub fn put(&self, feed: u64, data: &[u8], keyframe: bool) {
        let mut streams = self.lock();
        let stream = streams.entry(feed).or_default();
        stream.last_seq = stream.last_seq.wrapping_add(1);
        if stream.units.len() == KEEP {
            stream.units.pop_front();
        }
        stream.units.push_back(Unit {
            seq: stream.last_seq,
            keyframe,
            arrived_unix_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            data: data.into(),
        });
        self.arrived.notify_all();
    }

    /// For each display that asks (in the order asked), what it needs next: the units that
    /// follow its `after`th, or — when it restarts, is new, or they are gone — everything from a
    /// fresh keyframe after it. Answers once any has units, with whatever else arrives within
    /// `gather` (so that one answer serves several displays); empty lists after `timeout` if
    /// nothing came.
    pub fn wait_many(&self, asks: &[Ask], gather: Duration, timeout: Duration) -> Vec<Vec<Unit>> {
        let deadline = Instant::now() + timeout;
        let mut answer_by: Option<Instant> = None;
        let mut streams = self.lock();
        loop {
            let units: Vec<Vec<Unit>> = asks
                .iter()
                .map(|a| next_units(streams.entry(a.feed).or_default(), a.after, a.restart))
                .collect();
            let ready = units.iter().filter(|u| !u.is_empty()).count();
            let now = Instant::now();
            if ready > 0 {
                let by = *answer_by.get_or_insert(now + gather);
                if ready == asks.len() || now >= by {
                    return units;
                }
            } else if now >= deadline {
                return units;
            }
            let until = answer_by.unwrap_or(deadline);
            streams = self
                .arrived
                .wait_timeout(streams, until.saturating_duration_since(now))
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    /// Whether a display of `feed` waits for a keyframe; asking clears the wish.
    pub fn take_keyframe_wish(&self, feed: u64) -> bool {
        self.lock()
            .get_mut(&feed)
            .is_some_and(|s| std::mem::take(&mut s.wants_keyframe))
    }

    /// Forgets everything (a new meeting starts).
    pub fn clear(&self) {
        self.lock().clear();
    }
}

fn next_units(stream: &mut Stream, after: u32, restart: bool) -> Vec<Unit> {
    let follows = (after != 0 && !restart)
        .then(|| {
            if after == stream.last_seq {
                return Some(None);
            }
            let i = stream
                .units
                .iter()
                .position(|u| u.seq == after.wrapping_add(1))?;
            Some(Some(i))
        })
        .flatten();
    let start = match follows {
        Some(Some(i)) => Some(i),
        // Up to date: wait.
        Some(None) => return Vec::new(),
        None => {
            let fresh = stream.last_seq.saturating_sub(FRESH);
            let start = stream
                .units
                .iter()
                .rposition(|u| u.keyframe && u.seq > after && u.seq >= fresh);
            stream.wants_keyframe |= start.is_none();
            start
        }
    };
    start.map_or_else(Vec::new, |i| stream.units.range(i..).cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Duration = Duration::ZERO;

    impl EncodedOut {
        /// One display's [`EncodedOut::wait_many`].
        fn wait_after(&self, feed: u64, after: u32, restart: bool, timeout: Duration) -> Vec<Unit> {
            let ask = Ask {
                feed,
                after,
                restart,
            };
            self.wait_many(&[ask], Duration::ZERO, timeout)
                .pop()
                .unwrap_or_default()
        }
    }

    fn seqs(units: &[Unit]) -> Vec<u32> {
        units.iter().map(|u| u.seq).collect()
    }

    #[test]
    fn a_new_display_starts_at_the_newest_keyframe() {
        let out = EncodedOut::default();
        assert!(out.wait_after(1, 0, false, NOW).is_empty());
        out.put(1, b"delta before any keyframe", false);
        assert!(
            out.take_keyframe_wish(1),
            "the display waits for a keyframe"
        );
        assert!(!out.take_keyframe_wish(1), "one wish, one request");
        assert!(
            out.wait_after(1, 0, false, NOW).is_empty(),
            "nothing to start from"
        );
        assert!(out.take_keyframe_wish(1), "still waiting");
        out.put(1, b"key", true);
        out.put(1, b"d", false);
        out.put(1, b"key", true);
        out.put(1, b"d", false);
        assert_eq!(seqs(&out.wait_after(1, 0, false, NOW)), [4, 5]);
        assert!(!out.take_keyframe_wish(1));
        assert!(out.wait_after(2, 0, false, NOW).is_empty(), "another feed");
    }

    #[test]
    fn a_display_does_not_start_at_a_stale_keyframe() {
        let out = EncodedOut::default();
        out.put(1, b"key", true);
        for _ in 0..FRESH {
            out.put(1, b"d", false);
        }
        assert_eq!(out.wait_after(1, 0, false, NOW).len(), 1 + FRESH as usize);
        out.put(1, b"d", false);
        assert!(out.wait_after(1, 0, false, NOW).is_empty(), "too old now");
        assert!(out.take_keyframe_wish(1));
        out.put(1, b"key", true);
        assert_eq!(seqs(&out.wait_after(1, 0, false, NOW)), [FRESH + 3]);
    }

    #[test]
    fn a_restarting_display_never_goes_back() {
        let out = EncodedOut::default();
        out.put(1, b"key", true);
        out.put(1, b"d", false);
        out.put(1, b"d", false);
        assert!(
            out.wait_after(1, 3, true, NOW).is_empty(),
            "no keyframe after 3"
        );
        assert!(out.take_keyframe_wish(1));
        out.put(1, b"d", false);
        assert!(
            out.wait_after(1, 3, true, NOW).is_empty(),
            "a delta does not do"
        );
        out.put(1, b"key", true);
        out.put(1, b"d", false);
        assert_eq!(seqs(&out.wait_after(1, 3, true, NOW)), [5, 6]);
    }

    #[test]
    fn a_display_gets_what_follows_in_order_and_waits_when_it_is_up_to_date() {
        let out = EncodedOut::default();
        out.put(1, b"key", true);
        out.put(1, b"a", false);
        out.put(1, b"b", false);
        let units = out.wait_after(1, 1, false, NOW);
        assert_eq!(seqs(&units), [2, 3]);
        assert_eq!(&*units[1].data, b"b");
        assert!(
            out.wait_after(1, 3, false, Duration::from_millis(5))
                .is_empty()
        );
        assert!(
            !out.take_keyframe_wish(1),
            "a display that is up to date needs no keyframe"
        );
    }

    #[test]
    fn a_display_that_fell_behind_starts_again_at_a_keyframe() {
        let out = EncodedOut::default();
        out.put(1, b"key", true);
        for _ in 0..=KEEP {
            out.put(1, b"d", false);
        }
        // Unit 2 is gone, and with it the keyframe: nothing to decode from.
        assert!(out.wait_after(1, 1, false, NOW).is_empty());
        assert!(out.take_keyframe_wish(1));
        out.put(1, b"key", true);
        out.put(1, b"d", false);
        assert_eq!(
            seqs(&out.wait_after(1, 1, false, NOW)),
            [KEEP as u32 + 3, KEEP as u32 + 4]
        );
    }

    #[test]
    fn one_answer_serves_several_displays() {
        let out = Arc::new(EncodedOut::default());
        let ask = |feed| Ask {
            feed,
            after: 0,
            restart: false,
        };
        out.put(1, b"key", true);
        // Feed 2 arrives within the gathering time and comes along; feed 3 never does.
        let writer = out.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            writer.put(2, b"key", true);
        });
        let answer = out.wait_many(
            &[ask(1), ask(2), ask(3)],
            Duration::from_millis(300),
            Duration::from_secs(5),
        );
        t.join().unwrap();
        let seqs: Vec<Vec<u32>> = answer.iter().map(|u| seqs(u)).collect();
        assert_eq!(seqs, [vec![1], vec![1], vec![]]);
        // Nothing new anywhere: empty for all, after the timeout.
        let later = out.wait_many(
            &[Ask { after: 1, ..ask(1) }, ask(3)],
            Duration::from_secs(2),
            Duration::from_millis(20),
        );
        assert!(later.iter().all(Vec::is_empty));
    }

    #[test]
    fn a_waiting_display_wakes_when_a_unit_arrives() {
        let out = Arc::new(EncodedOut::default());
        out.put(7, b"key", true);
        let writer = out.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            writer.put(7, b"d", false);
        });
        let units = out.wait_after(7, 1, false, Duration::from_secs(5));
        assert_eq!(seqs(&units), [2]);
        t.join().unwrap();
    }
}
