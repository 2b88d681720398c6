//! The meeting's small policies, each a value with time passed in: reconnection backoff, keyframe
//! spacing, the video rate the connection's bandwidth estimate allows, and who the active speaker
//! is.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::ParticipantId;
use crate::sfu::{LocalTrackId, TrackHandle};

/// The first reconnection waits this long; each failure doubles the wait up to [`RETRY_MAX`].
/// Refused connections cost nothing, and users notice every second of a freeze.
pub const RETRY_FIRST: Duration = Duration::from_millis(100);
/// Longest wait between reconnection attempts.
pub const RETRY_MAX: Duration = Duration::from_millis(500);
/// A connection that lasted this long starts the backoff afresh when it drops.
pub const RETRY_RESET_AFTER: Duration = Duration::from_secs(5);
/// Least time between two keyframes we are asked for: requests in between are served by one.
pub const KEYFRAME_SPACING: Duration = Duration::from_millis(250);
/// Least time between two keyframe requests for one received track. While no keyframe arrives
/// (it was lost too, or the link is congested and each keyframe makes it worse), the spacing
/// doubles with every request up to [`KEYFRAME_REQUEST_SPACING_MAX`]; a keyframe that arrives
/// starts it afresh.
pub const KEYFRAME_REQUEST_SPACING: Duration = Duration::from_millis(500);
/// Longest spacing of keyframe requests for one received track.
pub const KEYFRAME_REQUEST_SPACING_MAX: Duration = Duration::from_secs(4);
/// Quietest level (RMS, 0–1) that counts as speaking.
pub const SPEAKING_LEVEL: f32 = 0.02;
/// How long someone must be the loudest to take the stage from the current speaker.
pub const SPEAKER_SWITCH: Duration = Duration::from_millis(400);

/// What the meeting hands out video rates from on a new publishing connection until its first
/// estimate. With transport-wide feedback (Janus) the adapter announces the estimator's lower
/// start (`estimate::START_BPS`) as soon as the SFU answers; with receiver reports only (Galène)
/// the estimate from them starts here too (`report_estimate`), its first a second or two in.
/// Starting Galène's meetings at 300 kbit/s left the first-run demo's picture too small to read
/// for seconds (its window test failed).
pub const START_ESTIMATE_BPS: u32 = 1_000_000;
/// What is kept for audio out of the estimate (which counts RTP packets): Opus at 32 kbit/s plus
/// the SFrame, RTP and header-extension bytes of 50 packets a second, with room to spare.
pub const AUDIO_RESERVE_BPS: u32 = 60_000;
/// The share of what is left that the video encoders are asked for: the rest covers
/// retransmissions, packet headers and the encoder's own overshoot on a hard picture.
pub const VIDEO_SHARE: f64 = 0.85;
/// Below this rate per video track the picture is paused instead of sent as mush, so that audio
/// keeps what it needs on a link that cannot carry both.
pub const VIDEO_PAUSE_BELOW_BPS: u32 = 40_000;
/// A paused picture resumes only at this rate per track: no flapping at the edge.
pub const VIDEO_RESUME_AT_BPS: u32 = 80_000;
/// After connecting, our video waits at most this long for the first key exchange to complete:
/// nobody can see it before, and on a narrow uplink the handshake must not queue behind it.
pub const VIDEO_HOLD_AT_MOST: Duration = Duration::from_secs(3);
/// A shared screen's part of the video rate against a camera's one: text must stay legible, a
/// face survives a smaller picture.
pub const SHARE_WEIGHT: u32 = 3;
/// A share may take up to this much even where the user's rate for a camera is lower (a page
/// of text at 1080p needs it; the estimate still bounds it).
pub const SHARE_MAX_BPS: u32 = 1_500_000;

/// A new rate is handed to an encoder only when it differs by this fraction from the last one
/// (each change may move the picture to another size, which costs a keyframe).
pub const RATE_STEP: f64 = 0.1;

/// The rate of each of our video tracks, from the publishing connection's bandwidth estimate:
/// audio's reserve first, the rest shared by the video tracks, each capped at what the user
/// chose, paused below [`VIDEO_PAUSE_BELOW_BPS`]; on a new connection, held (`Some(0)`: nothing
/// sent) while someone is here without our key, until the first key exchange or
/// [`VIDEO_HOLD_AT_MOST`].
#[derive(Debug)]
pub struct SendRate {
    /// The user's rate for one video track: never more.
    max: u32,
    estimate: u32,
    paused: bool,
    hold_until: Option<Instant>,
    /// What each track was last told (`None`: paused).
    given: BTreeMap<LocalTrackId, Option<u32>>,
}

impl SendRate {
    /// Video tracks of at most `max` bits per second each, starting from [`START_ESTIMATE_BPS`].
    pub fn new(max: u32) -> SendRate {
        SendRate {
            max,
            estimate: START_ESTIMATE_BPS,
            paused: false,
            hold_until: None,
            given: BTreeMap::new(),
        }
    }

    /// The connection's estimate is now `bps`.
    pub fn estimate(&mut self, bps: u32) {
        self.estimate = bps;
    }

    /// A new connection is being made: its estimator starts again from
    /// [`START_ESTIMATE_BPS`], unless its adapter says where it starts
    /// ([`SendRate::estimate`]). Before the connection is: the adapter says so when the SFU
    /// answers, which can be before or after the connection is up (a start set when it was up
    /// undid that, at random: a 640×480 keyframe at 800 kbit/s into a 300 kbit/s uplink).
    pub fn restart(&mut self) {
        self.estimate = START_ESTIMATE_BPS;
        self.paused = false;
    }

    /// A new connection is up: video waits for the first key exchange.
    pub fn hold(&mut self, now: Instant) {
        self.hold_until = Some(now + VIDEO_HOLD_AT_MOST);
    }

    /// Someone holds our key now: video need not wait.
    pub fn release(&mut self) {
        self.hold_until = None;
    }

    /// When video stops waiting, if it waits.
    pub fn hold_ends_at(&self) -> Option<Instant> {
        self.hold_until
    }

    /// The rates to hand to `tracks` (our video tracks) now: those that changed enough.
    /// `waiting`: someone is here who has no key of ours yet.
    pub fn changes(
        &mut self,
        tracks: &[LocalTrackId],
        now: Instant,
        waiting: bool,
    ) -> Vec<(LocalTrackId, Option<u32>)> {
        self.given.retain(|id, _| tracks.contains(id));
        if self.hold_until.is_some_and(|until| until <= now) {
            self.hold_until = None;
        }
        if tracks.is_empty() {
            return Vec::new();
        }
        if self.hold_until.is_some() && waiting {
            let held: Vec<_> = tracks
                .iter()
                .filter(|t| self.given.get(t) != Some(&Some(0)))
                .map(|&t| (t, Some(0)))
                .collect();
            for &(t, rate) in &held {
                self.given.insert(t, rate);
            }
            return held;
        }
        let video = f64::from(self.estimate.saturating_sub(AUDIO_RESERVE_BPS)) * VIDEO_SHARE;
        let each = (video / tracks.len() as f64) as u32;
        self.paused = if self.paused {
            each < VIDEO_RESUME_AT_BPS
        } else {
            each < VIDEO_PAUSE_BELOW_BPS
        };
        // A share takes SHARE_WEIGHT parts, every other track one.
        let weight = |t: LocalTrackId| if t == super::SHARE { SHARE_WEIGHT } else { 1 };
        let parts: u32 = tracks.iter().map(|&t| weight(t)).sum();
        let mut changes = Vec::new();
        for &track in tracks {
            let (part, max) = if track == super::SHARE {
                (weight(track), self.max.max(SHARE_MAX_BPS))
            } else {
                (1, self.max)
            };
            let rate = (!self.paused)
                .then(|| ((video * f64::from(part) / f64::from(parts)) as u32).min(max));
            let changed = match (self.given.get(&track).copied().flatten(), rate) {
                (Some(old), Some(new)) => {
                    let step = f64::from(old.abs_diff(new)) / f64::from(old.max(1));
                    step >= RATE_STEP || (new == max && old != new)
                }
                (old, new) => old != new || !self.given.contains_key(&track),
            };
            if changed {
                self.given.insert(track, rate);
                changes.push((track, rate));
            }
        }
        changes
    }
}

/// Reconnection backoff with jitter, so that a whole meeting does not reconnect in lockstep
/// after an SFU restart.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
    rng: u64,
}

impl Backoff {
    /// A backoff whose jitter comes from `seed`.
    pub fn new(seed: u64) -> Backoff {
        Backoff {
            next: RETRY_FIRST,
            // xorshift needs a non-zero state.
            rng: seed | 1,
        }
    }

    /// How long to wait after a loss, given how long the lost connection had lasted.
    pub fn after_loss(&mut self, lasted: Option<Duration>) -> Duration {
        if lasted.is_some_and(|d| d >= RETRY_RESET_AFTER) {
            self.next = RETRY_FIRST;
        }
        let wait = self.next.mul_f64(self.jitter());
        self.next = (self.next * 2).min(RETRY_MAX);
        wait
    }

    /// A factor in 0.8..=1.2.
    fn jitter(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        0.8 + 0.4 * (self.rng % 1001) as f64 / 1000.0
    }
}

/// When we send keyframes (per track of ours) and ask others for theirs (per track received).
#[derive(Debug, Default)]
pub struct Keyframes {
    sent: BTreeMap<LocalTrackId, Sent>,
    asked: BTreeMap<TrackHandle, Asked>,
}

/// Keyframe requests for one received track since its last keyframe.
#[derive(Debug)]
struct Asked {
    at: Instant,
    /// Until the next request.
    spacing: Duration,
}

/// Keyframes of one of our tracks.
#[derive(Debug, Default)]
struct Sent {
    last: Option<Instant>,
    /// A keyframe owed once the spacing allows.
    owed_at: Option<Instant>,
}

impl Keyframes {
    /// Someone needs a keyframe of `track` from us: true to make one now; otherwise one is
    /// owed at [`Keyframes::owed_at`].
    pub fn want(&mut self, track: LocalTrackId, now: Instant) -> bool {
        let s = self.sent.entry(track).or_default();
        match s.last {
            Some(last) if now < last + KEYFRAME_SPACING => {
                s.owed_at.get_or_insert(last + KEYFRAME_SPACING);
                false
            }
            _ => {
                s.last = Some(now);
                s.owed_at = None;
                true
            }
        }
    }

    /// When the next owed keyframe is due.
    pub fn owed_at(&self) -> Option<Instant> {
        self.sent.values().filter_map(|s| s.owed_at).min()
    }

    /// Time passed: the tracks whose owed keyframe is due now.
    pub fn due(&mut self, now: Instant) -> Vec<LocalTrackId> {
        let mut due = Vec::new();
        for (&track, s) in &mut self.sent {
            if s.owed_at.is_some_and(|at| at <= now) {
                s.owed_at = None;
                s.last = Some(now);
                due.push(track);
            }
        }
        due
    }

    /// A receiver of `track` wants a keyframe: true to ask its sender now.
    pub fn ask(&mut self, track: &TrackHandle, now: Instant) -> bool {
        match self.asked.get_mut(track) {
            Some(a) if now < a.at + a.spacing => false,
            Some(a) => {
                // Asked before and no keyframe since: ask again, and wait longer next time.
                a.at = now;
                a.spacing = (a.spacing * 2).min(KEYFRAME_REQUEST_SPACING_MAX);
                true
            }
            None => {
                self.asked.insert(
                    track.clone(),
                    Asked {
                        at: now,
                        spacing: KEYFRAME_REQUEST_SPACING,
                    },
                );
                true
            }
        }
    }

    /// A keyframe of `track` was asked for now, for a reason of its own (a new key): the next
    /// ordinary request waits the spacing from here.
    pub fn asked(&mut self, track: &TrackHandle, now: Instant) {
        self.asked
            .entry(track.clone())
            .and_modify(|a| a.at = now)
            .or_insert(Asked {
                at: now,
                spacing: KEYFRAME_REQUEST_SPACING,
            });
    }

    /// A keyframe of `track` arrived: the spacing starts afresh (from the last request, so that
    /// a lossy link still asks at most twice a second).
    pub fn received(&mut self, track: &TrackHandle) {
        if let Some(a) = self.asked.get_mut(track) {
            a.spacing = KEYFRAME_REQUEST_SPACING;
        }
    }

    /// `track` is gone or carries someone else now.
    pub fn forget(&mut self, track: &TrackHandle) {
        self.asked.remove(track);
    }
}

/// The active speaker: the loudest of those speaking, kept on stage until someone else has been
/// the loudest for [`SPEAKER_SWITCH`] (so that a cough does not move the stage), and kept while
/// everyone is quiet (the last speaker stays framed).
#[derive(Debug, Default)]
pub struct Speaker {
    current: Option<ParticipantId>,
    challenger: Option<(ParticipantId, Instant)>,
}

impl Speaker {
    /// The active speaker now.
    pub fn current(&self) -> Option<ParticipantId> {
        self.current
    }

    /// The loudest speaker now is `loudest` (`None`: nobody speaks); returns the new active
    /// speaker if it changed.
    pub fn hear(
        &mut self,
        loudest: Option<ParticipantId>,
        now: Instant,
    ) -> Option<Option<ParticipantId>> {
        let Some(candidate) = loudest else {
            self.challenger = None;
            return None;
        };
        if Some(candidate) == self.current {
            self.challenger = None;
            return None;
        }
        if self.current.is_none() {
            return self.set(Some(candidate));
        }
        match self.challenger {
            Some((who, since)) if who == candidate => {
                if now >= since + SPEAKER_SWITCH {
                    return self.set(Some(candidate));
                }
            }
            _ => self.challenger = Some((candidate, now)),
        }
        None
    }

    /// `who` left: off the stage.
    pub fn forget(&mut self, who: ParticipantId) -> Option<Option<ParticipantId>> {
        if self.challenger.is_some_and(|(c, _)| c == who) {
            self.challenger = None;
        }
        if self.current == Some(who) {
            return self.set(None);
        }
        None
    }

    fn set(&mut self, who: Option<ParticipantId>) -> Option<Option<ParticipantId>> {
        self.current = who;
        self.challenger = None;
        Some(who)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_with_jitter_and_starts_afresh_after_a_long_connection() {
        let mut b = Backoff::new(7);
        let waits: Vec<Duration> = (0..5).map(|_| b.after_loss(None)).collect();
        let within = |w: Duration, base: Duration| w >= base.mul_f64(0.8) && w <= base.mul_f64(1.2);
        assert!(within(waits[0], RETRY_FIRST), "{waits:?}");
        assert!(within(waits[1], RETRY_FIRST * 2), "{waits:?}");
        assert!(within(waits[4], RETRY_MAX), "{waits:?}");
        assert!(within(b.after_loss(Some(RETRY_RESET_AFTER)), RETRY_FIRST));
        // Two meetings with different seeds do not retry in lockstep.
        let mut other = Backoff::new(8);
        assert_ne!(Backoff::new(7).after_loss(None), other.after_loss(None));
    }

    #[test]
    fn keyframe_requests_are_coalesced_and_none_is_lost() {
        let t0 = Instant::now();
        let (camera, screen) = (LocalTrackId(1), LocalTrackId(2));
        let mut k = Keyframes::default();
        assert!(k.want(camera, t0));
        // Three more asks within the spacing: one keyframe owed, not three.
        for ms in [10, 50, 200] {
            assert!(!k.want(camera, t0 + Duration::from_millis(ms)));
        }
        assert!(k.want(screen, t0 + Duration::from_millis(10)), "per track");
        assert_eq!(k.owed_at(), Some(t0 + KEYFRAME_SPACING));
        assert_eq!(k.due(t0 + Duration::from_millis(249)), []);
        assert_eq!(k.due(t0 + KEYFRAME_SPACING), [camera]);
        assert_eq!(k.due(t0 + KEYFRAME_SPACING * 2), [], "owed once");
        assert_eq!(k.owed_at(), None);

        let track = TrackHandle("1".into());
        assert!(k.ask(&track, t0));
        assert!(!k.ask(&track, t0 + Duration::from_millis(100)));
        assert!(k.ask(&TrackHandle("2".into()), t0), "per track");
        assert!(k.ask(&track, t0 + KEYFRAME_REQUEST_SPACING));
        k.forget(&track);
        assert!(k.ask(&track, t0 + KEYFRAME_REQUEST_SPACING));
    }

    #[test]
    fn keyframe_requests_back_off_until_a_keyframe_arrives() {
        let t0 = Instant::now();
        let track = TrackHandle("1".into());
        let mut k = Keyframes::default();
        // A receiver that stays broken asks with every frame (30 a second) for 20 s.
        let granted: Vec<u64> = (0..600u64)
            .filter(|i| k.ask(&track, t0 + Duration::from_millis(i * 33)))
            .map(|i| i * 33)
            .collect();
        let gaps: Vec<u64> = granted.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(granted[0], 0, "the first at once");
        assert!((495..=530).contains(&gaps[0]), "{gaps:?}");
        assert!((990..=1030).contains(&gaps[1]), "doubles: {gaps:?}");
        assert!(gaps.windows(2).all(|w| w[1] >= w[0]), "{gaps:?}");
        let max = KEYFRAME_REQUEST_SPACING_MAX.as_millis() as u64;
        assert!(gaps.iter().all(|g| *g <= max + 33), "{gaps:?}");
        assert!(gaps.iter().filter(|g| **g >= max).count() >= 2, "{gaps:?}");
        // A keyframe arrives: the spacing is short again.
        let last = t0 + Duration::from_millis(granted[granted.len() - 1]);
        k.received(&track);
        assert!(!k.ask(&track, last + Duration::from_millis(400)));
        assert!(k.ask(&track, last + KEYFRAME_REQUEST_SPACING));
        assert!(!k.ask(&track, last + Duration::from_millis(1400)));
        assert!(k.ask(&track, last + KEYFRAME_REQUEST_SPACING * 3));
    }

    #[test]
    fn video_follows_the_estimate_in_steps_capped_and_paused_before_audio_suffers() {
        let (camera, second) = (LocalTrackId(1), LocalTrackId(2));
        let t = Instant::now();
        let mut rate = SendRate::new(600_000);
        // Before any estimate: the start estimate's share, capped at the user's rate.
        let start = ((START_ESTIMATE_BPS - AUDIO_RESERVE_BPS) as f64 * VIDEO_SHARE) as u32;
        assert_eq!(
            rate.changes(&[camera], t, true),
            vec![(camera, Some(start.min(600_000)))]
        );
        assert_eq!(rate.changes(&[camera], t, true), vec![], "told once");
        // Congestion: audio's reserve first, the video share of the rest.
        rate.estimate(400_000);
        let down = ((400_000 - AUDIO_RESERVE_BPS) as f64 * VIDEO_SHARE) as u32;
        assert_eq!(rate.changes(&[camera], t, true), vec![(camera, Some(down))]);
        // Small moves are not passed on (each may cost a keyframe); a real one is.
        rate.estimate(410_000);
        assert_eq!(rate.changes(&[camera], t, true), vec![]);
        rate.estimate(250_000);
        assert_eq!(rate.changes(&[camera], t, true).len(), 1);
        // Two video tracks share it; a shared screen (the second) takes three parts to one.
        rate.estimate(2_000_000);
        assert_eq!(
            rate.changes(&[camera], t, true),
            vec![(camera, Some(600_000))]
        );
        rate.estimate(1_000_000);
        let video = (1_000_000 - AUDIO_RESERVE_BPS) as f64 * VIDEO_SHARE;
        let (one, three) = ((video / 4.0) as u32, (video * 3.0 / 4.0) as u32);
        assert_eq!(second, super::super::SHARE);
        assert_eq!(
            rate.changes(&[camera, second], t, true),
            vec![(camera, Some(one)), (second, Some(three))]
        );
        // The share is capped higher than the user's rate for a camera.
        rate.estimate(4_000_000);
        assert_eq!(
            rate.changes(&[camera, second], t, true),
            vec![(camera, Some(600_000)), (second, Some(SHARE_MAX_BPS))]
        );
        let third = LocalTrackId(3);
        rate.estimate(2_000_000);
        rate.changes(&[camera, third], t, true);
        rate.estimate(1_000_000);
        let each = (video / 2.0) as u32;
        assert_eq!(
            rate.changes(&[camera, third], t, true),
            vec![(camera, Some(each)), (third, Some(each))],
            "two cameras alike"
        );
        // Too little for video: paused, and resumed only with room to spare.
        rate.estimate(AUDIO_RESERVE_BPS + 60_000);
        assert_eq!(
            rate.changes(&[camera, second], t, true),
            vec![(camera, None), (second, None)]
        );
        rate.estimate(AUDIO_RESERVE_BPS + 80_000);
        assert_eq!(
            rate.changes(&[camera], t, true),
            vec![],
            "not yet: no flapping"
        );
        rate.estimate(AUDIO_RESERVE_BPS + 200_000);
        let back = (200_000.0 * VIDEO_SHARE) as u32;
        assert_eq!(rate.changes(&[camera], t, true), vec![(camera, Some(back))]);
        // A new connection starts again from the start estimate.
        rate.estimate(100_000);
        assert_eq!(rate.changes(&[camera], t, true), vec![(camera, None)]);
        rate.restart();
        rate.hold(t);
        assert_eq!(
            rate.changes(&[camera], t, false),
            vec![(camera, Some(start.min(600_000)))],
            "alone: nobody to wait for"
        );
        assert_eq!(
            rate.changes(&[camera], t, true),
            vec![(camera, Some(0))],
            "held"
        );
        assert_eq!(rate.changes(&[camera], t, true), vec![]);
        rate.release();
        assert_eq!(
            rate.changes(&[camera], t, true),
            vec![(camera, Some(start.min(600_000)))]
        );
        // Nobody to exchange keys with: video goes after a while all the same.
        rate.restart();
        rate.hold(t);
        assert_eq!(rate.changes(&[camera], t, true), vec![(camera, Some(0))]);
        assert_eq!(rate.hold_ends_at(), Some(t + VIDEO_HOLD_AT_MOST));
        let later = t + VIDEO_HOLD_AT_MOST;
        assert_eq!(
            rate.changes(&[camera], later, true),
            vec![(camera, Some(start.min(600_000)))]
        );
        assert_eq!(rate.hold_ends_at(), None);
    }

    #[test]
    fn the_stage_moves_only_to_someone_who_stays_the_loudest() {
        let t0 = Instant::now();
        let (a, b) = (ParticipantId(1), ParticipantId(2));
        let mut s = Speaker::default();
        assert_eq!(
            s.hear(Some(a), t0),
            Some(Some(a)),
            "the first speaker at once"
        );
        assert_eq!(s.hear(None, t0 + Duration::from_millis(100)), None);
        assert_eq!(s.current(), Some(a), "silence keeps the last speaker");
        let ms = |n| t0 + Duration::from_millis(n);
        assert_eq!(s.hear(Some(b), ms(200)), None);
        assert_eq!(s.hear(Some(a), ms(300)), None, "a cough from b");
        assert_eq!(s.hear(Some(b), ms(400)), None);
        assert_eq!(s.hear(Some(b), ms(700)), None);
        assert_eq!(s.hear(Some(b), ms(800)), Some(Some(b)));
        assert_eq!(s.forget(a), None);
        assert_eq!(s.forget(b), Some(None));
    }
}
