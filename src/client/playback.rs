//! What the others say, out of one speaker: a jitter buffer and an Opus decoder per remote
//! participant, mixed every 20 ms. A missing packet is concealed (Opus PLC, or FEC from the next
//! packet); a participant who stops sending falls silent without holding up the others.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::device_problem::{Device, DeviceProblem, Problems, forget, report};
use crate::selftest::SpeakerChoice;
use conclave_media::jitter::{JitterBuffer, Playout};
use conclave_media::{
    AudioSink, OpusDecoder, Played, SAMPLES_PER_FRAME, VoiceProcessor, wall_clock_us,
};

/// One remote participant's audio on its way to the speaker.
struct Stream {
    jitter: JitterBuffer,
    decoder: OpusDecoder,
}

/// The mixer, shared by the receiving tasks (which push) and its own thread (which plays).
#[derive(Default)]
pub struct Playback {
    streams: Mutex<HashMap<u64, Stream>>,
    /// Where the mix goes; none: nothing is decoded or played (a silent participant, or a
    /// speaker that failed).
    speaker: Mutex<Option<Box<dyn AudioSink>>>,
    /// Whether `speaker` holds one, readable without its lock: the mixer holds that lock while
    /// the speaker takes its samples, and the receiving tasks must not wait for that.
    has_speaker: AtomicBool,
    stop: AtomicBool,
    /// Frames handed to the speaker.
    played: std::sync::atomic::AtomicU64,
    /// Where a speaker's failures go.
    problems: Problems,
    /// Counts speaker choices, so that one still opening when the next is made is dropped.
    choices: std::sync::atomic::AtomicU64,
    /// The microphone's echo canceller, told what the speaker plays.
    echo: Mutex<Option<VoiceProcessor>>,
    /// Gaps of the speakers used before the current one.
    earlier_gaps: std::sync::atomic::AtomicU64,
    /// Frames the speakers skipped to bring a standing queue down.
    skipped: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Playback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Playback").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Playback {
    /// Starts playing into `speaker` (if any) until [`Playback::stop`]; a speaker that fails is
    /// reported in `problems` and dropped.
    pub fn start(speaker: Option<Box<dyn AudioSink>>, problems: Problems) -> Arc<Playback> {
        let playback = Arc::new(Playback {
            has_speaker: AtomicBool::new(speaker.is_some()),
            speaker: Mutex::new(speaker),
            problems,
            ..Playback::default()
        });
        let mixer = playback.clone();
        let spawned = std::thread::Builder::new()
            .name("conclave-mixer".into())
            .spawn(move || {
                // A busy machine must not starve the speaker into gaps.
                conclave_media::realtime::promote_audio_thread();
                let frame = Duration::from_millis(20);
                let mut next = Instant::now() + frame;
                while !mixer.stop.load(Ordering::Relaxed) {
                    mixer.play_next();
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                    next += frame;
                    // After a stall (a suspended laptop), do not try to catch up.
                    if next < Instant::now() {
                        next = Instant::now() + frame;
                    }
                }
            });
        if let Err(e) = spawned {
            let problem =
                DeviceProblem::failed(Device::Speaker, format!("no playback thread: {e}"));
            report(&playback.problems, problem);
        }
        playback
    }

    /// Tells `voice`'s echo canceller what the speaker plays from now on.
    pub fn cancel_echo_in(&self, voice: VoiceProcessor) {
        *lock(&self.echo) = Some(voice);
    }

    /// Plays the next 20 ms, if there is a speaker.
    fn play_next(&self) {
        if !self.playing() {
            return;
        }
        let mix = self.mix();
        let mut speaker = lock(&self.speaker);
        let Some(sink) = speaker.as_mut() else {
            return;
        };
        match sink.play(&mix) {
            Ok(Played::Queued) => {
                // What the speaker will play, no more and no less, or the echo canceller loses
                // the echo it found (it is told after queueing: the echo comes tens of
                // milliseconds later still).
                if let Some(voice) = lock(&self.echo).as_ref() {
                    voice.played(&mix);
                }
                self.played.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Played::Skipped) => {
                self.skipped.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.replace_speaker(&mut speaker, None);
                self.has_speaker.store(false, Ordering::Relaxed);
                lock(&self.streams).clear();
                report(
                    &self.problems,
                    DeviceProblem::from_error(Device::Speaker, &e),
                );
            }
        }
    }

    /// A new speaker choice's number: taken under the speaker's lock, like every check of it.
    fn next_choice(&self) -> u64 {
        let _speaker = lock(&self.speaker);
        self.choices.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Plays into `speaker` from now on, already open (tests).
    #[cfg(test)]
    fn set_speaker(&self, speaker: Option<Box<dyn AudioSink>>) {
        self.install(self.next_choice(), speaker, None);
    }

    /// Opens the speaker `choice` names on a thread of its own (it can take seconds) and plays
    /// into it once open; one that cannot be opened is reported. A later choice, or stopping,
    /// wins over one still opening.
    pub fn use_speaker(self: &Arc<Self>, choice: SpeakerChoice) {
        let this = self.next_choice();
        let SpeakerChoice::Device(name) = choice else {
            self.install(this, None, None);
            return;
        };
        let playback = self.clone();
        std::thread::spawn(
            move || match conclave_media::Speaker::open(name.as_deref()) {
                Ok(speaker) => playback.install(this, Some(Box::new(speaker)), None),
                Err(e) => {
                    let problem = DeviceProblem::from_error(Device::Speaker, &e);
                    playback.install(this, None, Some(problem));
                }
            },
        );
    }

    /// Plays into `speaker` (reporting `problem`) if choice `this` is still the latest: checked,
    /// swapped and reported under the speaker's lock, which choices and failures also take, so
    /// neither an older choice nor the old speaker's failure can outlive the switch.
    fn install(
        &self,
        this: u64,
        speaker: Option<Box<dyn AudioSink>>,
        problem: Option<DeviceProblem>,
    ) {
        let stopping = speaker.is_none();
        {
            let mut current = lock(&self.speaker);
            if self.choices.load(Ordering::Relaxed) != this {
                return;
            }
            forget(&self.problems, Device::Speaker);
            self.has_speaker.store(speaker.is_some(), Ordering::Relaxed);
            self.replace_speaker(&mut current, speaker);
            if let Some(problem) = problem {
                report(&self.problems, problem);
            }
        }
        if stopping {
            lock(&self.streams).clear();
        }
    }

    /// Whether there is a speaker to play to: without one, pushing is pointless.
    pub fn playing(&self) -> bool {
        self.has_speaker.load(Ordering::Relaxed)
    }

    /// Queues a decrypted Opus packet of participant `feed` (dropped without a speaker).
    pub fn push(&self, feed: u64, seq: u16, rtp_timestamp: u32, packet: Vec<u8>) {
        if !self.playing() {
            return;
        }
        let mut streams = lock(&self.streams);
        let stream = match streams.entry(feed) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let Ok(decoder) = OpusDecoder::new() else {
                    return;
                };
                e.insert(Stream {
                    jitter: JitterBuffer::new(),
                    decoder,
                })
            }
        };
        // 48 kHz RTP clock to microseconds (only differences matter to the jitter estimate).
        let media_us = u64::from(rtp_timestamp) * 1000 / 48;
        stream.jitter.push(seq, media_us, packet, wall_clock_us());
    }

    /// Forgets participant `feed` (they left).
    pub fn remove(&self, feed: u64) {
        lock(&self.streams).remove(&feed);
    }

    /// Frames played so far.
    pub fn frames_played(&self) -> u64 {
        self.played.load(Ordering::Relaxed)
    }

    /// Frames the speakers skipped so far to bring a standing queue down (each a short cut).
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Times the speakers ran dry while playing, so far.
    pub fn gaps(&self) -> u64 {
        let current = lock(&self.speaker).as_ref().map_or(0, |s| s.gaps());
        self.earlier_gaps.load(Ordering::Relaxed) + current
    }

    /// Replaces the speaker, keeping count of the old one's gaps.
    fn replace_speaker(
        &self,
        slot: &mut Option<Box<dyn AudioSink>>,
        new: Option<Box<dyn AudioSink>>,
    ) {
        if let Some(old) = std::mem::replace(slot, new) {
            self.earlier_gaps.fetch_add(old.gaps(), Ordering::Relaxed);
        }
    }

    /// Stops the mixer thread.
    pub fn stop(&self) {
        // A speaker still opening is not installed afterwards.
        self.next_choice();
        self.stop.store(true, Ordering::Relaxed);
    }

    /// The next 20 ms of everyone together.
    fn mix(&self) -> Vec<f32> {
        let mut mix = vec![0f32; SAMPLES_PER_FRAME];
        for stream in lock(&self.streams).values_mut() {
            let samples = match stream.jitter.pop() {
                Playout::Packet { payload, .. } => stream.decoder.decode(&payload),
                Playout::Lost { next, .. } => stream.decoder.conceal(next.as_deref()),
                Playout::Silence => continue,
            };
            if let Ok(samples) = samples {
                for (m, s) in mix.iter_mut().zip(samples) {
                    *m += s;
                }
            }
        }
        // Several loud speakers at once must not wrap around.
        for m in &mut mix {
            *m = m.clamp(-1.0, 1.0);
        }
        mix
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conclave_media::{AudioEncoderSettings, OpusEncoder};

    fn tone(hz: f32, amplitude: f32, frame: usize) -> Vec<f32> {
        (0..SAMPLES_PER_FRAME)
            .map(|i| {
                let t = (frame * SAMPLES_PER_FRAME + i) as f32 / 48_000.0;
                amplitude * (2.0 * std::f32::consts::PI * hz * t).sin()
            })
            .collect()
    }

    fn rms(s: &[f32]) -> f32 {
        (s.iter().map(|x| x * x).sum::<f32>() / s.len() as f32).sqrt()
    }

    #[test]
    fn two_participants_are_mixed_and_a_lost_packet_is_concealed() {
        let playback = Playback {
            speaker: Mutex::new(Some(Box::new(crate::selftest::NullSpeaker))),
            has_speaker: AtomicBool::new(true),
            ..Playback::default()
        };
        let mut a = OpusEncoder::new(AudioEncoderSettings::default()).unwrap();
        let mut b = OpusEncoder::new(AudioEncoderSettings::default()).unwrap();
        // In step with real time: a packet from each, then 20 ms of playback.
        let mut frames = Vec::new();
        for i in 0..20u16 {
            let f = usize::from(i);
            playback.push(
                1,
                i,
                u32::from(i) * 960,
                a.encode(&tone(440.0, 0.3, f)).unwrap(),
            );
            // Participant 2's packet 5 is lost.
            let packet = b.encode(&tone(660.0, 0.3, f)).unwrap();
            if i != 5 {
                playback.push(2, i, u32::from(i) * 960, packet);
            }
            frames.push(playback.mix());
        }
        // The jitter buffers wait for their target delay, then play both together.
        let loud: Vec<f32> = frames.iter().map(|f| rms(f)).collect();
        assert!(
            loud.iter().any(|&r| r > 0.25),
            "both voices mixed: {loud:?}"
        );
        assert!(frames.iter().flatten().all(|s| (-1.0..=1.0).contains(s)));
        let streams = lock(&playback.streams);
        assert_eq!(
            streams[&2].jitter.stats().concealed,
            1,
            "the gap was concealed"
        );
        assert_eq!(streams[&1].jitter.stats().concealed, 0);
        drop(streams);
        playback.remove(2);
        assert_eq!(lock(&playback.streams).len(), 1);
    }

    /// A speaker that plays `frames` frames, then is unplugged.
    struct Unplugged {
        frames: u32,
    }

    impl AudioSink for Unplugged {
        fn play(&mut self, _: &[f32]) -> Result<Played, conclave_media::DeviceError> {
            if self.frames == 0 {
                return Err(conclave_media::DeviceError::Disconnected {
                    kind: "speaker",
                    reason: "unplugged".into(),
                });
            }
            self.frames -= 1;
            Ok(Played::Queued)
        }
    }

    /// A speaker that counts what it is given.
    struct Counting(Arc<std::sync::atomic::AtomicU64>);

    impl AudioSink for Counting {
        fn play(&mut self, _: &[f32]) -> Result<Played, conclave_media::DeviceError> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Ok(Played::Queued)
        }
    }

    #[test]
    fn the_speaker_can_be_replaced_and_without_one_nothing_is_queued() {
        let playback = Playback::start(None, Problems::default());
        assert!(!playback.playing());
        playback.push(1, 0, 0, vec![0xf8, 0xff, 0xfe]);
        assert!(
            lock(&playback.streams).is_empty(),
            "nothing queued for no one"
        );
        let heard = Arc::new(std::sync::atomic::AtomicU64::new(0));
        playback.set_speaker(Some(Box::new(Counting(heard.clone()))));
        assert!(playback.playing());
        std::thread::sleep(Duration::from_millis(200));
        let played = heard.load(Ordering::Relaxed);
        assert!(played >= 5, "{played} frames in 200 ms");
        playback.set_speaker(None);
        let stopped_at = heard.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(heard.load(Ordering::Relaxed), stopped_at);
        assert_eq!(playback.frames_played(), stopped_at);
        playback.stop();
    }

    #[test]
    fn an_older_speaker_choice_never_wins_over_a_newer_one() {
        let problems = Problems::default();
        let playback = Playback::start(None, problems.clone());
        // A speaker that does not exist: reported once its opening fails, nothing played.
        playback.use_speaker(SpeakerChoice::Device(Some("no such speaker".into())));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while lock(&problems).is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(lock(&problems).len(), 1);
        assert_eq!(lock(&problems)[0].device, Device::Speaker);
        assert!(!playback.playing());
        // A choice still opening when a newer one is made is dropped, and so is its failure.
        let older = playback.choices.load(Ordering::Relaxed) + 1;
        playback.choices.store(older, Ordering::Relaxed);
        let heard = Arc::new(std::sync::atomic::AtomicU64::new(0));
        playback.set_speaker(Some(Box::new(Counting(heard.clone()))));
        assert!(
            lock(&problems).is_empty(),
            "the new speaker forgot the old problem"
        );
        playback.install(
            older,
            None,
            Some(DeviceProblem::failed(Device::Speaker, "late")),
        );
        assert!(playback.playing(), "the newer speaker stays");
        assert!(
            lock(&problems).is_empty(),
            "the older choice's failure is dropped"
        );
        // Stopping drops whatever is still opening.
        let pending = playback.choices.load(Ordering::Relaxed);
        playback.stop();
        playback.install(pending, None, None);
        assert!(playback.playing());
    }

    #[test]
    fn a_speaker_that_stops_is_reported_as_lost() {
        let lost = Problems::default();
        let playback = Playback::start(Some(Box::new(Unplugged { frames: 3 })), lost.clone());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while lock(&lost).is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        playback.stop();
        assert_eq!(playback.frames_played(), 3);
        assert_eq!(
            *lock(&lost),
            [DeviceProblem {
                device: Device::Speaker,
                problem: crate::client::Problem::Stopped,
                detail: "unplugged".into(),
            }]
        );
    }
}
