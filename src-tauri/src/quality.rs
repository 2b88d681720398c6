//! How well each participant's sound and pictures reach us now — good, fair or poor — from the
//! last few seconds of the meeting's counters: what a tile's bars show. The counters only grow;
//! the rating is over their growth in a sliding window, so a bad minute an hour ago is forgotten
//! and a bad second now is not drowned in an hour of good ones.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use conclave::client::stats::ParticipantStats;
use serde::Serialize;

/// What a tile shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    /// Less than 2 % of what they send is lost (and concealed or repaired away).
    Good,
    /// Some is lost: sound concealed, pictures waiting for repair.
    Fair,
    /// Much is lost, or they are reconnecting.
    Poor,
    /// Too little arrived to say (a muted microphone and no camera, or only just joined).
    Unknown,
}

/// Losses below this share are good.
const FAIR: f64 = 0.02;
/// Losses from this share on are poor.
const POOR: f64 = 0.08;
/// How far back the rating looks.
const WINDOW: Duration = Duration::from_secs(4);
/// The shortest stretch rated: shorter ones are noise.
const SHORTEST: Duration = Duration::from_millis(1500);
/// Audio frames (20 ms) needed for a say: half a second.
const AUDIO_FRAMES: u64 = 25;
/// Video frames needed for a say.
const VIDEO_FRAMES: u64 = 10;

/// One participant as the meeting reports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reading {
    /// Who (the meeting's id).
    pub id: String,
    /// Reconnecting.
    pub away: bool,
    /// Their counters now.
    pub counts: Counts,
}

/// One participant's counters (they only grow, until a new connection starts them again).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    /// Audio frames decoded.
    pub audio_heard: u64,
    /// Audio frames concealed (their packets never came).
    pub audio_concealed: u64,
    /// Video frames that arrived whole, on all their tracks.
    pub video_whole: u64,
    /// Video frames lost in transit.
    pub video_lost: u64,
}

impl Reading {
    /// What `p`'s counters say now.
    pub fn of(p: &ParticipantStats) -> Reading {
        Reading {
            id: p.id.clone(),
            away: p.presence == "away",
            counts: Counts {
                audio_heard: p.audio.frames_decoded,
                audio_concealed: p.audio.frames_concealed,
                video_whole: p.video_tracks.iter().map(|t| t.frames_received).sum(),
                video_lost: p
                    .video_tracks
                    .iter()
                    .map(|t| t.frames_lost_in_transit)
                    .sum(),
            },
        }
    }
}

/// The share of `lost` in `lost + whole`, when there were at least `enough` of them.
fn loss(whole: u64, lost: u64, enough: u64) -> Option<f64> {
    let all = whole + lost;
    (all >= enough).then(|| lost as f64 / all as f64)
}

/// The ratings, renewed each time the page asks for the meeting's state.
#[derive(Debug, Default)]
pub struct Qualities {
    seen: HashMap<String, VecDeque<(Instant, Counts)>>,
}

impl Qualities {
    /// Takes the counters of `participants` at `now` and rates each over the last few seconds.
    pub fn update(&mut self, now: Instant, participants: &[Reading]) -> BTreeMap<String, Quality> {
        self.seen
            .retain(|id, _| participants.iter().any(|p| &p.id == id));
        participants
            .iter()
            .map(|p| {
                let history = self.seen.entry(p.id.clone()).or_default();
                let counts = p.counts;
                // Counters start again with a new connection: so does the rating.
                if history.back().is_some_and(|(_, last)| {
                    counts.audio_heard + counts.audio_concealed
                        < last.audio_heard + last.audio_concealed
                        || counts.video_whole + counts.video_lost
                            < last.video_whole + last.video_lost
                }) {
                    history.clear();
                }
                history.push_back((now, counts));
                while history.len() > 2
                    && history
                        .get(1)
                        .is_some_and(|(second, _)| now.duration_since(*second) >= WINDOW)
                {
                    history.pop_front();
                }
                (p.id.clone(), rate(p.away, history))
            })
            .collect()
    }
}

/// The rating of one participant from their counters' history, oldest first.
fn rate(away: bool, history: &VecDeque<(Instant, Counts)>) -> Quality {
    if away {
        return Quality::Poor;
    }
    let (Some((since, first)), Some((until, last))) = (history.front(), history.back()) else {
        return Quality::Unknown;
    };
    if until.duration_since(*since) < SHORTEST {
        return Quality::Unknown;
    }
    let audio = loss(
        last.audio_heard - first.audio_heard,
        last.audio_concealed - first.audio_concealed,
        AUDIO_FRAMES,
    );
    let video = loss(
        last.video_whole - first.video_whole,
        last.video_lost - first.video_lost,
        VIDEO_FRAMES,
    );
    match [audio, video].into_iter().flatten().reduce(f64::max) {
        None => Quality::Unknown,
        Some(l) if l < FAIR => Quality::Good,
        Some(l) if l < POOR => Quality::Fair,
        Some(_) => Quality::Poor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bob as the meeting reports him: `heard` and `concealed` audio frames, `whole` and `lost`
    /// video frames so far.
    fn bob(heard: u64, concealed: u64, whole: u64, lost: u64) -> Reading {
        Reading {
            id: "p1".into(),
            away: false,
            counts: Counts {
                audio_heard: heard,
                audio_concealed: concealed,
                video_whole: whole,
                video_lost: lost,
            },
        }
    }

    /// Feeds `steps` (per 500 ms: audio heard, concealed, video whole, lost — each added to the
    /// counters) and returns the last rating.
    fn after(steps: &[(u64, u64, u64, u64)]) -> Quality {
        let mut q = Qualities::default();
        let start = Instant::now();
        let (mut h, mut c, mut w, mut l) = (0, 0, 0, 0);
        let mut last = Quality::Unknown;
        for (i, (dh, dc, dw, dl)) in steps.iter().enumerate() {
            (h, c, w, l) = (h + dh, c + dc, w + dw, l + dl);
            let now = start + Duration::from_millis(500 * i as u64);
            last = q.update(now, &[bob(h, c, w, l)])["p1"];
        }
        last
    }

    #[test]
    fn a_clean_stream_is_good_and_losses_make_it_fair_then_poor() {
        // 25 audio frames and 15 pictures per 500 ms.
        assert_eq!(after(&[(25, 0, 15, 0); 6]), Quality::Good);
        // 1 of 25 audio frames concealed: 4 %.
        assert_eq!(after(&[(24, 1, 15, 0); 6]), Quality::Fair);
        // 3 of 15 pictures lost: 20 %.
        assert_eq!(after(&[(25, 0, 12, 3); 6]), Quality::Poor);
    }

    #[test]
    fn too_little_or_too_short_says_nothing() {
        // Muted, camera off: nothing arrives.
        assert_eq!(after(&[(0, 0, 0, 0); 8]), Quality::Unknown);
        // The first second.
        assert_eq!(after(&[(25, 0, 15, 0); 2]), Quality::Unknown);
    }

    #[test]
    fn a_bad_moment_is_forgotten_after_the_window() {
        let mut steps = vec![(10, 15, 5, 10); 4];
        // Ten seconds of clean stream after it.
        steps.extend([(25, 0, 15, 0); 20]);
        assert_eq!(after(&steps), Quality::Good);
        // But a bad moment now counts, after a long clean stretch.
        let mut steps = vec![(25, 0, 15, 0); 40];
        steps.extend([(10, 15, 5, 10); 3]);
        assert_eq!(after(&steps), Quality::Poor);
    }

    #[test]
    fn someone_reconnecting_is_poor_and_gone_ones_are_forgotten() {
        let mut q = Qualities::default();
        let mut p = bob(100, 0, 50, 0);
        p.away = true;
        assert_eq!(q.update(Instant::now(), &[p])["p1"], Quality::Poor);
        assert!(q.update(Instant::now(), &[]).is_empty());
        assert!(q.seen.is_empty());
    }
}
