//! What we receive: one task per remote track reads its RTP, reassembles frames, decrypts them
//! with the keys of whoever the track belongs to *now* (the meeting binds and rebinds tracks:
//! an SFU reuses slots), and decodes, plays and measures them. Video decoding runs on its own
//! thread so a slow decoder never stalls the network side. A display that decodes video itself
//! gets the decrypted access units instead. Whether to ask for a keyframe is the meeting's to
//! decide: tasks only say that they need one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use conclave_e2ee::{BaseKey, Codec, DropReason, KidScheme, Receiver};
use conclave_media::jitter::{JitterBuffer as JitterBufferAudio, Playout};
use conclave_media::{H264Decoder, OpusDecoder, pattern, wall_clock_us};
use conclave_room::meeting::{MediaInput, ParticipantId, SUITE};
use conclave_room::sfu::{MediaKind, TrackHandle};
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::encoded_out::EncodedOut;
use super::keylog::KeyLog;
use super::loudness::speech_level;
use super::playback::Playback;
use super::tally::MediaTally;
use super::video_out::VideoOut;
use conclave_rtp::{Assembled, JitterBuffer};

/// Where received video goes besides the statistics.
#[derive(Clone, Debug, Default)]
pub struct VideoSinks {
    /// Decoded pictures.
    pub decoded: Option<Arc<VideoOut>>,
    /// Decrypted access units, for a display that decodes them.
    pub encoded: Option<Arc<EncodedOut>>,
    /// The last picture of each share decoded, by feed (kept for tests that compare them with
    /// the screen).
    pub last_share: Option<Arc<LastShares>>,
}

impl VideoSinks {
    /// Whether anything here needs video decoded: a display of pictures, or nobody (a headless
    /// participant decodes to measure).
    fn decode(&self) -> bool {
        self.decoded.is_some() || self.encoded.is_none()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One remote participant's keys and what arrived from them, shared by the tasks receiving
/// their tracks.
#[derive(Debug)]
pub struct Remote {
    receiver: Mutex<Receiver>,
    /// [`Remote::attested`] of the receivers replaced before this one.
    attested_before: Mutex<(u64, u64)>,
    /// Their audio.
    pub audio: Mutex<MediaTally>,
    /// Their video tracks, in the order they were bound (the first is their camera).
    pub videos: Mutex<Vec<(TrackHandle, Arc<Mutex<MediaTally>>)>>,
    /// How loud they are (RMS, falling slowly), and when it was measured (µs).
    level: Mutex<(f32, u64)>,
}

impl Remote {
    /// Their signed statements that verified, and their frames refused as forged or unsigned,
    /// over the whole meeting.
    pub fn attested(&self) -> (u64, u64) {
        let s = lock(&self.receiver).stats();
        let (statements, refused) = *lock(&self.attested_before);
        (statements + s.statements, refused + s.forged + s.unsigned)
    }

    /// Their keys start afresh (what was counted stays counted).
    fn fresh_receiver(&self) {
        let mut receiver = lock(&self.receiver);
        let s = receiver.stats();
        let mut before = lock(&self.attested_before);
        before.0 += s.statements;
        before.1 += s.forged + s.unsigned;
        *receiver = Receiver::new(SUITE, KidScheme::default());
    }

    fn new() -> Remote {
        Remote {
            receiver: Mutex::new(Receiver::new(SUITE, KidScheme::default())),
            attested_before: Mutex::default(),
            audio: Mutex::default(),
            videos: Mutex::default(),
            level: Mutex::default(),
        }
    }

    /// How loud they are now (0–1); nothing heard for half a second (muted, silence) is 0.
    pub fn level(&self, now_us: u64) -> f32 {
        let (level, at) = *lock(&self.level);
        if now_us.saturating_sub(at) < 500_000 {
            level
        } else {
            0.0
        }
    }
}

/// The last picture of each share decoded, by feed.
pub type LastShares = Mutex<HashMap<u64, conclave_media::VideoFrame>>;

/// The display's feed of `participant`'s `n`th video track (the first is their tile's).
pub fn feed_of(participant: ParticipantId, n: usize) -> u64 {
    participant.0 | ((n as u64) << 40)
}

/// What a track carries now.
#[derive(Clone, Debug)]
struct Binding {
    participant: ParticipantId,
    kind: MediaKind,
    remote: Arc<Remote>,
    /// The video tally of this track (unused for audio).
    tally: Arc<Mutex<MediaTally>>,
    /// The display's name for this video: the participant's first video track is theirs.
    feed: u64,
}

/// Everything we receive.
pub struct Receiving {
    remotes: HashMap<ParticipantId, Arc<Remote>>,
    slots: HashMap<TrackHandle, watch::Sender<Option<Binding>>>,
    /// Tracks we read, with the SSRC last seen on each (for keyframe requests).
    tracks: HashMap<TrackHandle, (Arc<dyn TrackRemote>, Arc<AtomicU32>)>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    ctx: Context,
    keylog: Option<Arc<KeyLog>>,
}

/// What every receiving task shares.
#[derive(Clone)]
struct Context {
    sinks: VideoSinks,
    playback: Arc<Playback>,
    measure_audio_latency: bool,
    inputs: mpsc::UnboundedSender<MediaInput>,
}

impl Receiving {
    /// Nothing received yet. Tasks tell the meeting what they need through `inputs`.
    pub fn new(
        sinks: VideoSinks,
        playback: Arc<Playback>,
        measure_audio_latency: bool,
        inputs: mpsc::UnboundedSender<MediaInput>,
        keylog: Option<Arc<KeyLog>>,
    ) -> Receiving {
        Receiving {
            remotes: HashMap::new(),
            slots: HashMap::new(),
            tracks: HashMap::new(),
            tasks: Vec::new(),
            ctx: Context {
                sinks,
                playback,
                measure_audio_latency,
                inputs,
            },
            keylog,
        }
    }

    /// Participant `id`'s state, created on first use.
    fn remote(&mut self, id: ParticipantId) -> Arc<Remote> {
        self.remotes
            .entry(id)
            .or_insert_with(|| Arc::new(Remote::new()))
            .clone()
    }

    /// Keeps only the participants `keep` says the meeting still knows.
    pub fn retain(&mut self, keep: impl Fn(ParticipantId) -> bool) {
        self.remotes.retain(|id, _| keep(*id));
    }

    /// Everyone's state, for the report.
    pub fn remotes(&self) -> &HashMap<ParticipantId, Arc<Remote>> {
        &self.remotes
    }

    /// Decrypt `id`'s frames with this key too. `handle` names them in the key log.
    pub fn add_key(
        &mut self,
        id: ParticipantId,
        handle: u64,
        generation: u64,
        step: u64,
        key: BaseKey,
        signer: [u8; 32],
    ) {
        if let Some(log) = &self.keylog {
            log.received(handle, generation, step, &key);
        }
        let remote = self.remote(id);
        let mut receiver = lock(&remote.receiver);
        let _ = receiver.add_key(generation, step, key);
        receiver.set_signer(signer);
    }

    /// Holds `id`'s frames to their signed statement; how many accepted earlier it shows forged.
    pub fn attest(&mut self, id: ParticipantId, statement: &[u8]) -> usize {
        self.remotes.get(&id).map_or(0, |remote| {
            lock(&remote.receiver)
                .attest(statement)
                .map_or(0, |a| a.forged)
        })
    }

    /// Forget `id`'s keys: they come back with fresh ones.
    pub fn reset_keys(&mut self, id: ParticipantId) {
        self.remote(id).fresh_receiver();
    }

    /// Forget `id`'s key generations older than `below`.
    pub fn retire(&mut self, id: ParticipantId, below: u64) {
        if let Some(remote) = self.remotes.get(&id) {
            let mut receiver = lock(&remote.receiver);
            let old: Vec<u64> = receiver.generations().filter(|g| *g < below).collect();
            for generation in old {
                receiver.remove_generation(generation);
            }
        }
    }

    /// `id` is gone: their keys, sound and pictures too (what arrived from them stays counted).
    pub fn forget(&mut self, id: ParticipantId) {
        if let Some(remote) = self.remotes.get(&id) {
            remote.fresh_receiver();
        }
        self.ctx.playback.remove(id.0);
        if let Some(out) = &self.ctx.sinks.decoded {
            out.remove(id.0);
        }
    }

    /// What arrives on `track` is `participant`'s `kind` from now on.
    pub fn bind(&mut self, track: TrackHandle, participant: ParticipantId, kind: MediaKind) {
        let remote = self.remote(participant);
        let (tally, feed) = if kind == MediaKind::Audio {
            (Arc::default(), participant.0)
        } else {
            let mut videos = lock(&remote.videos);
            // Their track again, or one whose track is no longer theirs (someone reconnected:
            // an SFU that names tracks anew gives their camera a new track, and may give its
            // old name to someone else's — Janus numbers a subscription's tracks from 0 each
            // time), or a new one.
            let free = |t: &TrackHandle| {
                self.slots.get(t).is_none_or(|slot| {
                    slot.borrow()
                        .as_ref()
                        .is_none_or(|b| b.participant != participant)
                })
            };
            let n = match videos.iter().position(|(t, _)| *t == track) {
                Some(n) => n,
                None => match videos.iter().position(|(t, _)| free(t)) {
                    Some(n) => {
                        videos[n].0 = track.clone();
                        n
                    }
                    None => {
                        videos.push((track.clone(), Arc::default()));
                        videos.len() - 1
                    }
                },
            };
            // The first video is the participant's tile; more get tiles of their own.
            (videos[n].1.clone(), feed_of(participant, n))
        };
        let binding = Binding {
            participant,
            kind,
            remote,
            tally,
            feed,
        };
        self.slot(track).send_replace(Some(binding));
    }

    /// Nothing on `track` is anyone's now.
    pub fn unbind(&mut self, track: &TrackHandle) {
        if let Some(slot) = self.slots.get(track)
            && let Some(gone) = slot.send_replace(None)
        {
            // A share that stopped is no longer one (its tally stays, for the report).
            lock(&gone.tally).share = false;
        }
    }

    fn slot(&mut self, track: TrackHandle) -> &watch::Sender<Option<Binding>> {
        self.slots
            .entry(track)
            .or_insert_with(|| watch::channel(None).0)
    }

    /// The media of `track` arrives from `remote`: start reading it.
    pub fn attach(&mut self, track: TrackHandle, remote: Arc<dyn TrackRemote>) {
        let ssrc = Arc::new(AtomicU32::new(0));
        self.tracks
            .insert(track.clone(), (remote.clone(), ssrc.clone()));
        let binding = self.slot(track.clone()).subscribe();
        let ctx = self.ctx.clone();
        self.tasks
            .push(tokio::spawn(receive(remote, track, binding, ssrc, ctx)));
    }

    /// Asks the sender of `track` for a keyframe (through the SFU).
    pub async fn request_keyframe(&self, track: &TrackHandle) {
        let Some((remote, ssrc)) = self.tracks.get(track) else {
            return;
        };
        let media_ssrc = ssrc.load(Ordering::Relaxed);
        // The sender SSRC is the track's own: Janus (1.1.2) finds the stream a feedback packet
        // is about by its sender SSRC, and for payload-specific feedback such as a PLI by
        // nothing else; a receive-only connection has no SSRC of its own to name, and with 0
        // Janus dropped every PLI ("Unknown SSRC") — keyframes came only periodically.
        let pli = PictureLossIndication {
            sender_ssrc: media_ssrc,
            media_ssrc,
        };
        let _ = remote.write_rtcp(vec![Box::new(pli)]).await;
    }

    /// A control message from `id`, decrypted (`None` if it does not decrypt).
    pub fn open_control(&self, id: ParticipantId, wire: &[u8]) -> Option<Vec<u8>> {
        let remote = self.remotes.get(&id)?;
        lock(&remote.receiver).unprotect(Codec::Generic, wire).ok()
    }

    /// How loud everyone is now.
    pub fn levels(&self) -> Vec<(ParticipantId, f32)> {
        let now = wall_clock_us();
        self.remotes
            .iter()
            .map(|(id, r)| (*id, r.level(now)))
            .collect()
    }

    /// The connection to the SFU is gone, and with it every track (participants stay).
    pub fn disconnected(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        self.tracks.clear();
        self.slots.clear();
    }
}

impl Drop for Receiving {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn count_drop(m: &mut MediaTally, reason: DropReason) {
    match reason {
        DropReason::Authentication => m.frames_dropped_auth += 1,
        _ => m.frames_dropped_other += 1,
    }
}

/// Reads one remote track until its connection closes, for whoever it is bound to at the time.
async fn receive(
    track: Arc<dyn TrackRemote>,
    handle: TrackHandle,
    mut binding: watch::Receiver<Option<Binding>>,
    ssrc: Arc<AtomicU32>,
    ctx: Context,
) {
    let mut state = State::new(binding.borrow_and_update().clone(), &handle, &ctx);
    loop {
        // Video waits a bounded time for missing packets: wake when that time is up.
        let wake = match &state {
            State::Video(v) => v.wake(),
            _ => None,
        };
        let event = match wake {
            Some(at) => tokio::select! {
                event = track.poll() => event,
                () = tokio::time::sleep_until(at.into()) => {
                    if let State::Video(v) = &mut state {
                        v.drain(&ctx);
                    }
                    continue;
                }
            },
            None => track.poll().await,
        };
        let Some(event) = event else {
            break;
        };
        // A track can end and be given to someone else: only a closed connection ends this.
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            continue;
        };
        if binding.has_changed().unwrap_or(false) {
            state = State::new(binding.borrow_and_update().clone(), &handle, &ctx);
        }
        ssrc.store(packet.header.ssrc, Ordering::Relaxed);
        match &mut state {
            State::Video(v) => v.packet(packet, &ctx),
            State::Audio(a) => a.packet(&packet, &ctx),
            State::Unbound => {}
        }
    }
}

/// A track's state for its current owner: a rebinding starts afresh.
enum State {
    Unbound,
    Video(Box<VideoIn>),
    Audio(Box<AudioIn>),
}

impl State {
    fn new(binding: Option<Binding>, handle: &TrackHandle, ctx: &Context) -> State {
        let Some(b) = binding else {
            return State::Unbound;
        };
        match b.kind {
            MediaKind::Video => State::Video(Box::new(VideoIn::new(b, handle.clone(), ctx))),
            MediaKind::Audio => match OpusDecoder::new() {
                Ok(decoder) => State::Audio(Box::new(AudioIn::new(b, decoder))),
                Err(_) => State::Unbound,
            },
        }
    }
}

/// Frames the decoding thread may have queued. When a retransmission fills a gap, the jitter
/// buffer gives out every frame that waited behind it at once: up to [`conclave_rtp::MAX_WAIT`]
/// of them, 9 at 30 fps and 18 at 60. A queue of 4 overflowed on each such burst (57 times in 20 s
/// with a fifth of the packets lost, each dropped frame breaking the picture until the next
/// keyframe); only a decoder behind by more than a burst loses a frame now.
const DECODE_QUEUE: usize = 24;

/// The queue to a decoding thread.
fn decode_queue() -> (std_mpsc::SyncSender<Vec<u8>>, std_mpsc::Receiver<Vec<u8>>) {
    std_mpsc::sync_channel(DECODE_QUEUE)
}

/// How long a frame waits for a missing packet before a keyframe is asked for, while it goes on
/// waiting ([`conclave_rtp::MAX_WAIT`]): the first retransmission has had its round trip by then.
const EARLY_KEYFRAME_AFTER: std::time::Duration = std::time::Duration::from_millis(100);

struct VideoIn {
    b: Binding,
    handle: TrackHandle,
    jitter: JitterBuffer,
    awaiting_keyframe: bool,
    /// How the last frame was sealed: a camera's or a share's (tried first for the next).
    codec: Codec,
    /// Whether the meeting was told this track carries a share.
    told_share: bool,
    /// The wait (by when it began) for which a keyframe was asked for early.
    asked_early: Option<Instant>,
    /// To the decoding thread, if we decode.
    frames: Option<std_mpsc::SyncSender<Vec<u8>>>,
}

impl VideoIn {
    fn new(b: Binding, handle: TrackHandle, ctx: &Context) -> VideoIn {
        let frames = ctx.sinks.decode().then(|| {
            let (frames, input) = decode_queue();
            let (tally, out, feed) = (b.tally.clone(), ctx.sinks.decoded.clone(), b.feed);
            let last_share = ctx.sinks.last_share.clone();
            std::thread::spawn(move || decode_video(feed, input, tally, out, last_share));
            frames
        });
        VideoIn {
            b,
            handle,
            jitter: JitterBuffer::default(),
            awaiting_keyframe: true,
            codec: Codec::H264,
            told_share: false,
            asked_early: None,
            frames,
        }
    }

    fn want_keyframe(&mut self, ctx: &Context) {
        self.awaiting_keyframe = true;
        let _ = ctx
            .inputs
            .send(MediaInput::KeyframeWanted(self.handle.clone()));
    }

    fn packet(&mut self, packet: rtc::rtp::Packet, ctx: &Context) {
        let h = &packet.header;
        if self.jitter.push(
            Instant::now(),
            h.sequence_number,
            h.timestamp,
            h.marker,
            packet.payload,
        ) {
            lock(&self.b.tally).packets_recovered += 1;
        }
        self.drain(ctx);
    }

    /// Takes every frame the jitter buffer has ready (or has given up) by now.
    fn drain(&mut self, ctx: &Context) {
        while let Some(assembled) = self.jitter.pop(Instant::now()) {
            match assembled {
                Assembled::Pending => {}
                Assembled::Lost => {
                    lock(&self.b.tally).frames_lost_in_transit += 1;
                    self.want_keyframe(ctx);
                }
                Assembled::Frame { access_unit, .. } => self.frame(&access_unit, ctx),
            }
        }
        // A frame that has waited a while for a retransmission asks for a keyframe already, so
        // that it is on its way should the frame be given up.
        if let Some(since) = self.jitter.waiting_since()
            && self.asked_early != Some(since)
            && Instant::now() >= since + EARLY_KEYFRAME_AFTER
        {
            self.asked_early = Some(since);
            let _ = ctx
                .inputs
                .send(MediaInput::KeyframeWanted(self.handle.clone()));
        }
    }

    /// When to look at the jitter buffer again if no packet comes before.
    fn wake(&self) -> Option<Instant> {
        let early = self
            .jitter
            .waiting_since()
            .filter(|since| self.asked_early != Some(*since))
            .map(|since| since + EARLY_KEYFRAME_AFTER);
        match (self.jitter.timeout(), early) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn frame(&mut self, access_unit: &[u8], ctx: &Context) {
        // Sealed as a camera's or as a share's: which one authenticated says which it is (the
        // SFU cannot pass one off as the other).
        let result = lock(&self.b.remote.receiver)
            .unprotect_video(self.codec, access_unit)
            .map(|(codec, plain)| {
                self.codec = codec;
                plain
            });
        {
            let mut v = lock(&self.b.tally);
            v.frames_received += 1;
            match &result {
                Ok(_) => {
                    v.frames_decrypted += 1;
                    v.share = self.codec == Codec::H264Screen;
                    v.share_frames += u64::from(v.share);
                }
                Err(e) => count_drop(&mut v, e.reason()),
            }
        }
        let share = self.codec == Codec::H264Screen;
        if result.is_ok() && share != self.told_share {
            self.told_share = share;
            let _ = ctx.inputs.send(MediaInput::ShareSeen {
                track: self.handle.clone(),
                share,
            });
        }
        // Until a keyframe decrypts (at the start, or after a frame we could not decrypt, e.g.
        // one that came under a new key before the key itself), keep asking for one.
        let keyframe = result.as_ref().is_ok_and(|plain| is_keyframe(plain));
        match &result {
            Ok(_) if keyframe => {
                self.awaiting_keyframe = false;
                let _ = ctx
                    .inputs
                    .send(MediaInput::KeyframeReceived(self.handle.clone()));
            }
            Ok(_) if !self.awaiting_keyframe => {}
            _ => self.want_keyframe(ctx),
        }
        if let Some(encoded) = &ctx.sinks.encoded {
            // Only what a decoder can follow: nothing between a loss and the next keyframe.
            if let Ok(plain) = &result
                && !self.awaiting_keyframe
            {
                encoded.put(self.b.feed, plain, keyframe);
            }
            if encoded.take_keyframe_wish(self.b.feed) {
                self.want_keyframe(ctx);
            }
        }
        if let (Ok(plain), Some(frames)) = (result, &self.frames)
            && frames.try_send(plain).is_err()
        {
            // The decoder is behind: this frame is gone, and the next ones need a keyframe.
            self.want_keyframe(ctx);
        }
    }
}

struct AudioIn {
    b: Binding,
    decoder: OpusDecoder,
    previous: Vec<f32>,
    /// The same jitter buffer the speaker plays from, played out on a clock of our own (the
    /// arrival of packets), so that what is measured is what a listener would hear: packets
    /// in order, a lost one rebuilt from the next one's FEC data or concealed.
    jitter: JitterBufferAudio,
    /// When the next 20 ms is due on that clock (µs), once started.
    next_tick_us: Option<u64>,
}

/// Frame duration, µs.
const AUDIO_FRAME_US: u64 = 20_000;
/// A pause longer than this (the sender muted) restarts the playout clock.
const AUDIO_RESTART_AFTER_US: u64 = 1_000_000;

impl AudioIn {
    fn new(b: Binding, decoder: OpusDecoder) -> AudioIn {
        AudioIn {
            b,
            decoder,
            previous: Vec::new(),
            jitter: JitterBufferAudio::new(),
            next_tick_us: None,
        }
    }

    fn packet(&mut self, packet: &rtc::rtp::Packet, ctx: &Context) {
        let result = lock(&self.b.remote.receiver).unprotect(Codec::Opus, &packet.payload);
        let h = &packet.header;
        if let (true, Ok(plain)) = (ctx.playback.playing(), &result) {
            ctx.playback.push(
                self.b.participant.0,
                h.sequence_number,
                h.timestamp,
                plain.clone(),
            );
        }
        let now = wall_clock_us();
        {
            let mut a = lock(&self.b.remote.audio);
            a.frames_received += 1;
            match &result {
                Ok(_) => a.frames_decrypted += 1,
                Err(e) => count_drop(&mut a, e.reason()),
            }
        }
        if let Ok(plain) = result {
            let late = self.jitter.stats().late;
            // 48 kHz RTP clock to microseconds (only differences matter to the jitter estimate).
            let media_us = u64::from(h.timestamp) * 1000 / 48;
            self.jitter.push(h.sequence_number, media_us, plain, now);
            lock(&self.b.remote.audio).frames_late += self.jitter.stats().late - late;
        }
        self.play_until(now, ctx);
    }

    /// Plays out every 20 ms due by `now`.
    fn play_until(&mut self, now: u64, ctx: &Context) {
        let mut tick = match self.next_tick_us {
            Some(tick) if now.saturating_sub(tick) <= AUDIO_RESTART_AFTER_US => tick,
            _ => now,
        };
        while tick <= now {
            let samples = match self.jitter.pop() {
                Playout::Packet { payload, .. } => self.decoder.decode(&payload).ok(),
                Playout::Lost { next, .. } => {
                    let concealed = self.decoder.conceal(next.as_deref()).ok();
                    if concealed.is_some() {
                        lock(&self.b.remote.audio).frames_concealed += 1;
                    }
                    // Concealment is heard, but is not what they said: not measured.
                    self.previous = Vec::new();
                    None
                }
                Playout::Silence => None,
            };
            if let Some(current) = samples {
                self.heard(current, tick, ctx);
            }
            tick += AUDIO_FRAME_US;
        }
        self.next_tick_us = Some(tick);
    }

    /// 20 ms of what they said, heard at `at` (µs).
    fn heard(&mut self, current: Vec<f32>, at: u64, ctx: &Context) {
        let delay = ctx
            .measure_audio_latency
            .then(|| chirp_delay(&self.previous, &current, at))
            .flatten();
        let mut a = lock(&self.b.remote.audio);
        a.decoded(at);
        if let Some(d) = delay {
            a.latency.push(d);
        }
        let mut level = lock(&self.b.remote.level);
        *level = (speech_level(level.0, &current), at);
        self.previous = current;
    }
}

/// Whether an Annex B access unit starts a keyframe: an SPS or IDR slice before any other slice.
fn is_keyframe(access_unit: &[u8]) -> bool {
    let mut i = 0;
    while i + 3 < access_unit.len() {
        if access_unit[i..i + 3] == [0, 0, 1] {
            match access_unit[i + 3] & 0x1f {
                5 | 7 => return true,
                1..=4 => return false,
                _ => {}
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    false
}

fn decode_video(
    feed: u64,
    input: std_mpsc::Receiver<Vec<u8>>,
    tally: Arc<Mutex<MediaTally>>,
    video_out: Option<Arc<VideoOut>>,
    last_share: Option<Arc<LastShares>>,
) {
    let Ok(mut decoder) = H264Decoder::new() else {
        return;
    };
    while let Ok(access_unit) = input.recv() {
        let Ok(Some(picture)) = decoder.decode(&access_unit, 0) else {
            continue;
        };
        let done = wall_clock_us();
        {
            let mut v = lock(&tally);
            v.decoded(done);
            if v.share
                && let Some(keep) = &last_share
            {
                lock(keep).insert(feed, picture.clone());
            }
            if let Some(stamp) = pattern::read(&picture) {
                v.last_frame_number = Some(stamp.frame);
                // The stamp holds the low 56 bits of the capture time. Its CRC-8 lets one
                // misread strip in 256 through, with a time from anywhere: latencies of 10^11 ms
                // were reported. No picture is shown a minute after its capture.
                let now = done & ((1 << 56) - 1);
                if now >= stamp.captured_us && now - stamp.captured_us < PLAUSIBLE_LATENCY_US {
                    v.latency.push(now - stamp.captured_us);
                }
            }
        }
        if let Some(out) = &video_out {
            out.put(feed, picture);
        }
    }
}

/// Longer than any capture-to-picture latency: a stamp that says more was misread.
const PLAUSIBLE_LATENCY_US: u64 = 60_000_000;

/// Mouth-to-ear delay of a timing chirp (see `conclave_media::synthetic::Signal::Chirps`) that
/// starts in the previous 20 ms frame, taking `now` as when the current frame is heard.
fn chirp_delay(previous: &[f32], current: &[f32], now: u64) -> Option<u64> {
    if previous.len() != current.len() {
        return None;
    }
    let mut window = previous.to_vec();
    window.extend_from_slice(current);
    let frame_us = 20_000;
    let start = now.saturating_sub(frame_us);
    // Only onsets inside the previous frame count, so each chirp is counted once.
    let onset_limit = start + frame_us;
    conclave_media::synthetic::chirp_onsets_us(&window, start)
        .into_iter()
        .find(|&t| t < onset_limit)
        .map(|t| t % 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receiving() -> Receiving {
        let sinks = VideoSinks {
            decoded: None,
            encoded: None,
            last_share: None,
        };
        let playback = Playback::start(None, Default::default());
        Receiving::new(sinks, playback, false, mpsc::unbounded_channel().0, None)
    }

    fn tiles(r: &Receiving, id: ParticipantId) -> usize {
        lock(&r.remotes[&id].videos).len()
    }

    #[test]
    fn a_camera_keeps_its_tile_when_a_reconnect_renames_the_tracks() {
        let mut r = receiving();
        let (a, b) = (ParticipantId(1), ParticipantId(2));
        let (x, y) = (TrackHandle("0".into()), TrackHandle("1".into()));
        r.bind(x.clone(), a, MediaKind::Video);
        r.bind(y.clone(), b, MediaKind::Video);
        // We reconnect: every track is unbound, and the new subscription names b's camera
        // as a's was named, and a's as b's.
        r.unbind(&x);
        r.unbind(&y);
        r.bind(x.clone(), b, MediaKind::Video);
        r.bind(y.clone(), a, MediaKind::Video);
        assert_eq!(
            (tiles(&r, a), tiles(&r, b)),
            (1, 1),
            "one camera, one tile each"
        );
        // A second track of a's own is a tile of its own.
        r.bind(TrackHandle("2".into()), a, MediaKind::Video);
        assert_eq!(tiles(&r, a), 2);
        r.ctx.playback.stop();
    }

    #[test]
    fn the_decoder_takes_every_frame_a_repaired_gap_releases_at_once() {
        // At 60 fps, the frames that waited the jitter buffer's longest for a retransmission.
        let burst = (conclave_rtp::MAX_WAIT.as_secs_f64() * 60.0).ceil() as usize;
        let (frames, _decoder) = decode_queue();
        for i in 0..burst {
            assert!(
                frames.try_send(vec![0; 100]).is_ok(),
                "frame {i} of {burst} dropped"
            );
        }
    }

    #[test]
    fn keyframes_are_told_from_other_frames() {
        assert!(is_keyframe(&[
            0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2, 0, 0, 1, 0x65, 3
        ]));
        assert!(is_keyframe(&[0, 0, 1, 0x65, 3]));
        assert!(!is_keyframe(&[0, 0, 0, 1, 0x41, 9, 0, 0, 1, 0x67]));
        assert!(!is_keyframe(&[0, 0, 0, 1, 0x09, 0x10]));
        assert!(!is_keyframe(&[]));
    }
}
