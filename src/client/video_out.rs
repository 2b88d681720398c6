//! Decoded pictures for a display: the newest one per remote participant. A display that falls
//! behind skips pictures instead of queueing them, so it never shows the past.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use conclave_media::VideoFrame;

/// The feed under which our own camera's pictures appear: the preview's before a meeting, the
/// self-view's in it (participants' feeds start at 1).
pub const SELF_FEED: u64 = 0;

/// The newest picture of one participant, numbered so a display can ask only for newer ones.
#[derive(Clone, Debug)]
pub struct Latest {
    /// Counts up with every picture of this participant.
    pub seq: u32,
    /// The picture, I420.
    pub frame: Arc<VideoFrame>,
    /// When it was put here, milliseconds since the Unix epoch (a display measures its latency).
    pub arrived_unix_ms: u64,
}

/// Newest pictures by feed (a participant's video track, see the meeting's tiles).
#[derive(Debug, Default)]
pub struct VideoOut {
    latest: Mutex<HashMap<u64, Latest>>,
    /// Signalled on every new picture, for displays waiting for one.
    arrived: Condvar,
}

impl VideoOut {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Latest>> {
        self.latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps `frame` as `feed`'s newest picture.
    pub fn put(&self, feed: u64, frame: VideoFrame) {
        let mut latest = self.lock();
        let seq = latest.get(&feed).map_or(1, |l| l.seq.wrapping_add(1));
        latest.insert(
            feed,
            Latest {
                seq,
                frame: Arc::new(frame),
                arrived_unix_ms: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64),
            },
        );
        self.arrived.notify_all();
    }

    /// Like [`VideoOut::newer_than`], but waits up to `timeout` for a picture to arrive (so that
    /// a display asks once per picture instead of polling).
    pub fn wait_newer_than(&self, feed: u64, seen: u32, timeout: Duration) -> Option<Latest> {
        let deadline = Instant::now() + timeout;
        let mut latest = self.lock();
        loop {
            if let Some(l) = latest.get(&feed).filter(|l| l.seq != seen) {
                return Some(l.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            latest = self
                .arrived
                .wait_timeout(latest, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    /// `feed`'s newest picture if it is not `seen`.
    pub fn newer_than(&self, feed: u64, seen: u32) -> Option<Latest> {
        self.wait_newer_than(feed, seen, Duration::ZERO)
    }

    /// Forgets every picture (a new meeting starts).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Forgets `feed`'s picture (its camera closed).
    pub fn remove(&self, feed: u64) {
        self.lock().remove(&feed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_display_gets_only_pictures_it_has_not_seen() {
        let out = VideoOut::default();
        assert!(out.newer_than(7, 0).is_none());
        out.put(7, VideoFrame::black(4, 4));
        let first = out.newer_than(7, 0).unwrap();
        assert!(out.newer_than(7, first.seq).is_none());
        out.put(7, VideoFrame::black(8, 8));
        out.put(7, VideoFrame::black(16, 16));
        // Only the newest is kept.
        let newest = out.newer_than(7, first.seq).unwrap();
        assert_eq!(newest.frame.width, 16);
        assert!(out.newer_than(8, 0).is_none());
        out.clear();
        assert!(out.newer_than(7, 0).is_none());
    }

    #[test]
    fn a_waiting_display_wakes_when_a_picture_arrives() {
        let out = Arc::new(VideoOut::default());
        let t = Instant::now();
        assert!(
            out.wait_newer_than(3, 0, Duration::from_millis(50))
                .is_none()
        );
        assert!(t.elapsed() >= Duration::from_millis(50));
        let producer = out.clone();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            producer.put(3, VideoFrame::black(4, 4));
        });
        let got = out.wait_newer_than(3, 0, Duration::from_secs(10));
        assert_eq!(got.map(|l| l.seq), Some(1));
        thread.join().unwrap();
    }
}
