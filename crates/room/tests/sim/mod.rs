//! Meetings in virtual time: participants each running a [`Meeting`], driven the way the client
//! drives it (SFU requests to the adapter, control messages sealed under the sending key, keys
//! and track bindings applied to SFrame senders and receivers), through a [`MemorySfu`] that
//! can delay, lose, reorder, restart and reuse track slots. Media frames are small SFrame-
//! encrypted records saying what they are (audio or video, keyframe or not, how loud).

#![allow(dead_code, reason = "each test uses a different part")]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use conclave_e2ee::{FrameLog, KidScheme, ReceiveStats, Receiver, Sender, Signer};
use conclave_group::{Identity, Psk, sender_key};
use conclave_room::meeting::{
    CAMERA, Command, Config, Event, MICROPHONE, MediaAction, MediaInput, Meeting, ParticipantId,
    SUITE, Transmit,
};
use conclave_room::sfu::memory::{ClientId, Delivery, MemorySfu};
use conclave_room::sfu::{LocalTrackId, MediaKind, SfuRequest, TrackHandle};
use conclave_room::{DATA_CONTROL, DATA_KEYS};

pub const SECRET: &[u8] = b"the room secret, 32 bytes long!!";
pub const AUDIO_EVERY: Duration = Duration::from_millis(20);
pub const VIDEO_EVERY: Duration = Duration::from_millis(40);
pub const LEVELS_EVERY: Duration = Duration::from_millis(100);

/// What one participant received from another, per kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Got {
    /// Frames that decrypted.
    pub decrypted: u64,
    /// Frames that did not (wrong or no key, tampered).
    pub failed: u64,
    /// Frames a decoder could use: from a keyframe on.
    pub decodable: u64,
}

/// Each participant's most for one video track (the user's choice).
pub const VIDEO_MAX: u32 = 800_000;

pub struct Person {
    pub name: String,
    pub client: ClientId,
    pub meeting: Meeting,
    sender: Option<Sender>,
    /// Signs what `sender` sent.
    signer: Signer,
    receivers: HashMap<ParticipantId, Receiver>,
    bound: HashMap<TrackHandle, (ParticipantId, MediaKind)>,
    /// Tracks whose decoder waits for a keyframe.
    awaiting: HashSet<TrackHandle>,
    /// What arrived, by sender and kind.
    pub got: BTreeMap<(ParticipantId, MediaKind), Got>,
    /// Everything the meeting told the display.
    pub events: Vec<Event>,
    /// Every SFU request it made.
    pub requests: Vec<SfuRequest>,
    /// Its adapter told its meeting where the publishing connection's estimate starts.
    start_announced: bool,
    /// Keyframe requests it sent to the SFU (one per RequestKeyframe).
    pub keyframe_requests: u64,
    /// Keyframes it sent.
    pub keyframes_sent: u64,
    /// Its tracks whose next frame is a keyframe.
    keyframe_next: HashSet<LocalTrackId>,
    /// Each of its tracks' next sequence number.
    seq: HashMap<LocalTrackId, u16>,
    /// Whether each received track carried a share at its last frame.
    share_seen: HashMap<TrackHandle, bool>,
    /// The next sequence number expected on each received track.
    expect: HashMap<TrackHandle, u16>,
    camera_on: bool,
    /// The rate each of its video tracks was last given (`None`: paused, nothing is sent).
    pub video_rate: HashMap<LocalTrackId, Option<u32>>,
    /// How loud it talks (0–255 in each audio frame).
    pub loudness: u8,
    /// Last loudness heard from each participant.
    heard: HashMap<ParticipantId, f32>,
    /// Extra tracks it publishes (video), sending like the camera.
    pub extra: Vec<LocalTrackId>,
    /// Still driven (false once it crashed or left for good).
    pub online: bool,
    /// Holds senders to their signed statements (as the client does).
    pub signs: bool,
    /// Sends media.
    pub sends_media: bool,
}

/// A meeting of our own, driven by hand (no SFU, no others), for tests of single decisions.
pub fn alone(now: Instant) -> Meeting {
    Meeting::new(
        Config {
            identity: Identity::generate().unwrap(),
            psk: Psk::derive(SECRET, "room"),
            name: "a".into(),
            audio_on: true,
            video_on: true,
            microphone: true,
            camera: true,
            seed: 1,
            signer: [0; 32],
            video_bitrate_max: VIDEO_MAX,
        },
        now,
    )
}

pub struct Sim {
    pub sfu: MemorySfu,
    pub people: Vec<Person>,
    pub now: Instant,
    pub start: Instant,
    next_audio: Instant,
    next_video: Instant,
    next_levels: Instant,
    /// Whether anyone sends media (off for large meetings that test only the roster and keys).
    pub media: bool,
    /// Where each publishing connection's estimate starts, told by the adapter as the Janus one
    /// does: when the SFU answers the publication, before the connection is up.
    pub announce_start: Option<u32>,
}

impl Sim {
    pub fn new(seed: u64) -> Sim {
        let now = Instant::now();
        Sim {
            sfu: MemorySfu::new(seed),
            people: Vec::new(),
            now,
            start: now,
            next_audio: now,
            next_video: now,
            next_levels: now,
            media: true,
            announce_start: None,
        }
    }

    /// Someone joins with the room's secret, calling itself `label` at the SFU.
    pub fn join(&mut self, name: &str) -> usize {
        self.join_as(name, &format!("p-{name}"), SECRET)
    }

    /// Someone joins with `secret`, calling itself `label` at the SFU.
    pub fn join_as(&mut self, name: &str, label: &str, secret: &[u8]) -> usize {
        self.join_with(name, label, secret, true)
    }

    /// Someone joins without camera and microphone: a listener.
    pub fn join_listener(&mut self, name: &str) -> usize {
        self.join_with(name, &format!("p-{name}"), SECRET, false)
    }

    fn join_with(&mut self, name: &str, label: &str, secret: &[u8], devices: bool) -> usize {
        let client = self.sfu.add_client(label);
        let signer = Signer::generate().unwrap();
        let config = Config {
            signer: signer.public(),
            identity: Identity::generate().unwrap(),
            psk: Psk::derive(secret, "room"),
            name: name.to_owned(),
            audio_on: true,
            video_on: true,
            microphone: devices,
            camera: devices,
            seed: self.people.len() as u64 + 1,
            video_bitrate_max: VIDEO_MAX,
        };
        let mut meeting = Meeting::new(config, self.now);
        meeting.handle_media(
            MediaInput::Devices {
                microphone: devices,
                camera: devices,
            },
            self.now,
        );
        self.people.push(Person {
            name: name.to_owned(),
            client,
            meeting,
            sender: None,
            signer,
            receivers: HashMap::new(),
            bound: HashMap::new(),
            awaiting: HashSet::new(),
            got: BTreeMap::new(),
            events: Vec::new(),
            requests: Vec::new(),
            start_announced: false,
            keyframe_requests: 0,
            keyframes_sent: 0,
            keyframe_next: HashSet::new(),
            seq: HashMap::new(),
            expect: HashMap::new(),
            camera_on: true,
            video_rate: HashMap::new(),
            loudness: 0,
            heard: HashMap::new(),
            extra: Vec::new(),
            share_seen: HashMap::new(),
            online: true,
            signs: true,
            sends_media: true,
        });
        let i = self.people.len() - 1;
        self.drain(i);
        i
    }

    /// `i` leaves (saying goodbye).
    pub fn leave(&mut self, i: usize) {
        self.command(i, Command::Leave);
        self.people[i].online = false;
    }

    /// `i` stops, and the SFU never notices (it goes on listing `i` as present).
    pub fn vanish(&mut self, i: usize) {
        self.people[i].online = false;
    }

    /// The key generation `i` sends under now.
    pub fn send_generation(&self, i: usize) -> Option<u64> {
        self.people[i].sender.as_ref().map(|s| s.generation())
    }

    /// The key generations `i` holds for `j`.
    pub fn generations_held(&self, i: usize, j: usize) -> Vec<u64> {
        self.id_of(i, j)
            .and_then(|id| self.people[i].receivers.get(&id))
            .map(|r| r.generations().collect())
            .unwrap_or_default()
    }

    /// `i`'s process dies: its SFU connection closes, no goodbye.
    pub fn crash(&mut self, i: usize) {
        let now = self.now;
        self.sfu
            .request(self.people[i].client, SfuRequest::Disconnect, now);
        self.people[i].online = false;
    }

    pub fn command(&mut self, i: usize, command: Command) {
        let now = self.now;
        self.people[i].meeting.command(command, now);
        self.drain(i);
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.step(end);
        }
    }

    /// Runs until `done` holds (checked after each step) or `limit` passes; true if it held.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Sim) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if done(self) {
                return true;
            }
            self.step(end);
        }
        done(self)
    }

    fn step(&mut self, end: Instant) {
        let mut next = end;
        if self.media {
            next = next.min(self.next_audio).min(self.next_video);
        }
        next = next.min(self.next_levels);
        if let Some(t) = self.sfu.next_due() {
            next = next.min(t);
        }
        for p in self.people.iter().filter(|p| p.online) {
            if let Some(t) = p.meeting.poll_timeout() {
                next = next.min(t);
            }
        }
        self.now = next.max(self.now);
        let now = self.now;
        while let Some((client, delivery)) = self.sfu.poll(now) {
            let Some(i) = self.people.iter().position(|p| p.client == client) else {
                continue;
            };
            if !self.people[i].online {
                continue;
            }
            self.deliver(i, delivery);
            self.drain(i);
        }
        for i in 0..self.people.len() {
            if self.people[i].online
                && self.people[i]
                    .meeting
                    .poll_timeout()
                    .is_some_and(|t| t <= now)
            {
                self.people[i].meeting.handle_timeout(now);
                self.drain(i);
            }
        }
        if self.media && now >= self.next_audio {
            self.next_audio = now + AUDIO_EVERY;
            for i in 0..self.people.len() {
                self.send_frame(i, MICROPHONE, MediaKind::Audio);
            }
        }
        if self.media && now >= self.next_video {
            self.next_video = now + VIDEO_EVERY;
            for i in 0..self.people.len() {
                // Paused (the sim sends nothing then) or held.
                let paused =
                    |p: &Person, track| matches!(p.video_rate.get(&track), Some(None | Some(0)));
                if self.people[i].camera_on && !paused(&self.people[i], CAMERA) {
                    self.send_frame(i, CAMERA, MediaKind::Video);
                }
                for track in self.people[i].extra.clone() {
                    if !paused(&self.people[i], track) {
                        self.send_frame(i, track, MediaKind::Video);
                    }
                }
            }
        }
        if now >= self.next_levels {
            self.next_levels = now + LEVELS_EVERY;
            for i in 0..self.people.len() {
                if !self.people[i].online {
                    continue;
                }
                let levels: Vec<(ParticipantId, f32)> =
                    self.people[i].heard.iter().map(|(&p, &l)| (p, l)).collect();
                self.people[i]
                    .meeting
                    .handle_media(MediaInput::Levels(levels), now);
                self.drain(i);
            }
        }
    }

    fn send_frame(&mut self, i: usize, track: LocalTrackId, kind: MediaKind) {
        let now = self.now;
        let p = &mut self.people[i];
        if !p.online || !p.sends_media {
            return;
        }
        let Some(sender) = p.sender.as_mut() else {
            return;
        };
        let keyframe = kind == MediaKind::Video && p.keyframe_next.remove(&track);
        if keyframe {
            p.keyframes_sent += 1;
        }
        let seq = p.seq.entry(track).or_default();
        *seq = seq.wrapping_add(1);
        let [hi, lo] = seq.to_be_bytes();
        // The last byte stands for how the real media side seals a share (its own SFrame tag).
        let share = u8::from(track == conclave_room::meeting::SHARE);
        let plain = [kind as u8, u8::from(keyframe), p.loudness, hi, lo, share];
        let wire = sender.encrypt(&[], &plain).unwrap();
        self.sfu.send_media(p.client, track, &wire, now);
    }

    fn deliver(&mut self, i: usize, delivery: Delivery) {
        let now = self.now;
        let p = &mut self.people[i];
        match delivery {
            Delivery::Event(conclave_room::sfu::SfuEvent::Data { from, bytes }) => {
                let receivers = &mut p.receivers;
                p.meeting.handle_data(
                    from,
                    &bytes,
                    |who, wire| receivers.get_mut(&who)?.decrypt(&[], wire).ok(),
                    now,
                );
            }
            Delivery::Event(event) => p.meeting.handle_sfu(event, now),
            Delivery::Media { track, frame } => {
                let Some(&(who, kind)) = p.bound.get(&track) else {
                    return;
                };
                let got = p.got.entry((who, kind)).or_default();
                // A gap in the track's sequence (a loss, or a late frame): the decoder is lost.
                let plain = p
                    .receivers
                    .get_mut(&who)
                    .and_then(|r| r.decrypt(&[], &frame).ok());
                let wanted = match plain {
                    Some(plain) if plain[0] == kind as u8 => {
                        got.decrypted += 1;
                        let share = plain.get(5) == Some(&1);
                        if p.share_seen.insert(track.clone(), share).unwrap_or(false) != share {
                            p.meeting.handle_media(
                                MediaInput::ShareSeen {
                                    track: track.clone(),
                                    share,
                                },
                                now,
                            );
                        }
                        let seq = u16::from_be_bytes([plain[3], plain[4]]);
                        if p.expect
                            .insert(track.clone(), seq.wrapping_add(1))
                            .is_some_and(|e| e != seq)
                            && kind == MediaKind::Video
                        {
                            p.awaiting.insert(track.clone());
                        }
                        if kind == MediaKind::Audio {
                            p.heard.insert(who, f32::from(plain[2]) / 255.0);
                        }
                        if plain[1] == 1 && p.awaiting.remove(&track) {
                            p.meeting
                                .handle_media(MediaInput::KeyframeReceived(track.clone()), now);
                        }
                        if p.awaiting.contains(&track) {
                            true
                        } else {
                            got.decodable += 1;
                            false
                        }
                    }
                    _ => {
                        got.failed += 1;
                        if kind == MediaKind::Video {
                            p.awaiting.insert(track.clone());
                        }
                        true
                    }
                };
                if wanted && kind == MediaKind::Video {
                    p.meeting
                        .handle_media(MediaInput::KeyframeWanted(track), now);
                }
            }
        }
    }

    /// Carries out what `i`'s meeting wants, until it wants nothing more.
    /// `i`'s media side tells its meeting `input` now.
    pub fn media_input(&mut self, i: usize, input: MediaInput) {
        let now = self.now;
        self.people[i].meeting.handle_media(input, now);
        self.drain(i);
    }

    /// `i`'s SFU adapter tells its meeting `event` now.
    pub fn sfu_event(&mut self, i: usize, event: conclave_room::sfu::SfuEvent) {
        let now = self.now;
        self.people[i].meeting.handle_sfu(event, now);
        self.drain(i);
    }

    fn drain(&mut self, i: usize) {
        let now = self.now;
        loop {
            let mut any = false;
            while let Some(t) = self.people[i].meeting.poll_transmit() {
                any = true;
                let p = &mut self.people[i];
                match t {
                    Transmit::Sfu(request) => {
                        p.requests.push(request.clone());
                        // As the client does: keys belong to a connection.
                        if request == SfuRequest::Disconnect {
                            p.sender = None;
                            p.start_announced = false;
                        }
                        let announce = matches!(request, SfuRequest::Publish(_))
                            && p.online
                            && !std::mem::replace(&mut p.start_announced, true);
                        // One who left still says so to the SFU.
                        if p.online || request == SfuRequest::Disconnect {
                            self.sfu.request(p.client, request, now);
                        }
                        if let Some(bps) = self.announce_start.filter(|_| announce) {
                            self.people[i]
                                .meeting
                                .handle_media(MediaInput::SendEstimate(bps), now);
                        }
                    }
                    Transmit::Control { to, plaintext } => {
                        let Some(sender) = p.sender.as_mut() else {
                            continue;
                        };
                        let mut bytes = vec![DATA_CONTROL];
                        bytes.extend(sender.encrypt(&[], &plaintext).unwrap());
                        self.sfu
                            .request(p.client, SfuRequest::SendData { to, bytes }, now);
                    }
                }
            }
            while let Some(a) = self.people[i].meeting.poll_action() {
                any = true;
                self.act(i, a);
            }
            while let Some(e) = self.people[i].meeting.poll_event() {
                any = true;
                self.people[i].events.push(e);
            }
            if !any {
                break;
            }
        }
        let _ = DATA_KEYS;
    }

    fn act(&mut self, i: usize, action: MediaAction) {
        let p = &mut self.people[i];
        match action {
            MediaAction::SendKey {
                generation,
                step,
                key,
            } => {
                sender_key::apply(
                    &mut p.sender,
                    SUITE,
                    KidScheme::default(),
                    generation,
                    step,
                    key,
                )
                .unwrap();
                // As the client does: what is sent is logged for signing.
                if let Some(s) = p.sender.as_mut()
                    && s.log_mut().is_none()
                {
                    s.keep_log(FrameLog::default());
                }
            }
            MediaAction::ReceiveKey {
                participant,
                generation,
                step,
                key,
                signer,
            } => {
                let r = p
                    .receivers
                    .entry(participant)
                    .or_insert_with(|| Receiver::new(SUITE, KidScheme::default()));
                let _ = r.add_key(generation, step, key);
                if p.signs {
                    r.set_signer(signer);
                }
            }
            MediaAction::SignFrames => {
                let statements = p
                    .sender
                    .as_mut()
                    .and_then(Sender::log_mut)
                    .map(|log| log.statements(&p.signer))
                    .unwrap_or_default();
                for s in statements {
                    p.meeting.handle_media(MediaInput::Signed(s), self.now);
                }
            }
            MediaAction::Statement { participant, bytes } => {
                let forged = p
                    .receivers
                    .get_mut(&participant)
                    .and_then(|r| r.attest(&bytes).ok())
                    .map_or(0, |a| a.forged);
                if forged > 0 {
                    p.meeting.handle_media(
                        MediaInput::Forged {
                            participant,
                            frames: forged,
                        },
                        self.now,
                    );
                }
            }
            MediaAction::RetireKeys { participant, below } => {
                if let Some(r) = p.receivers.get_mut(&participant) {
                    let old: Vec<u64> = r.generations().filter(|g| *g < below).collect();
                    for g in old {
                        r.remove_generation(g);
                    }
                }
            }
            MediaAction::ResetKeys(who) | MediaAction::Forget(who) => {
                p.receivers.remove(&who);
                p.heard.remove(&who);
            }
            MediaAction::Bind {
                track,
                participant,
                kind,
            } => {
                p.expect.remove(&track);
                // A new binding starts afresh, as the real receiver's does.
                p.share_seen.remove(&track);
                if kind == MediaKind::Video {
                    p.awaiting.insert(track.clone());
                }
                p.bound.insert(track, (participant, kind));
            }
            MediaAction::Unbind(track) => {
                p.bound.remove(&track);
                p.awaiting.remove(&track);
                p.expect.remove(&track);
            }
            MediaAction::RequestKeyframe(track) => {
                p.keyframe_requests += 1;
                // The SFU passes it on to the track's sender.
                let client = p.client;
                let Some((from, id)) = self.sfu.source_of(client, &track) else {
                    return;
                };
                if let Some(j) = self
                    .people
                    .iter()
                    .position(|q| q.client == from && q.online)
                {
                    let now = self.now;
                    self.people[j]
                        .meeting
                        .handle_media(MediaInput::KeyframeAsked(id), now);
                    self.drain(j);
                }
            }
            MediaAction::SendKeyframe(track) => {
                p.keyframe_next.insert(track);
            }
            MediaAction::Camera(on) => p.camera_on = on,
            // The share's source opens or closes: its frames go out on SHARE, or stop.
            MediaAction::Share(true) => p.extra.push(conclave_room::meeting::SHARE),
            MediaAction::Share(false) => p.extra.retain(|t| *t != conclave_room::meeting::SHARE),
            MediaAction::VideoRate { track, bps } => {
                p.video_rate.insert(track, bps);
            }
            _ => {}
        }
    }

    // ---- what tests look at --------------------------------------------------------------

    /// What `i`'s receiver of `j`'s frames counted.
    pub fn receive_stats(&self, i: usize, j: usize) -> ReceiveStats {
        self.id_of(i, j)
            .and_then(|id| self.people[i].receivers.get(&id))
            .map(Receiver::stats)
            .unwrap_or_default()
    }

    /// Someone holding `j`'s key (any other participant does) and the SFU send a frame as `j`
    /// on `j`'s `track`, numbered `ahead` past `j`'s next counter.
    pub fn forge_as(&mut self, j: usize, track: LocalTrackId, kind: MediaKind, ahead: u64) {
        let now = self.now;
        let p = &self.people[j];
        let s = p.sender.as_ref().expect("a key to forge under");
        let mut forger = Sender::at_step(
            SUITE,
            KidScheme::default(),
            s.generation(),
            s.step(),
            s.base_key().clone(),
        )
        .unwrap();
        let target = s.next_counter().unwrap() + ahead;
        for _ in 0..target {
            forger.encrypt(&[], b"-").unwrap();
        }
        // A keyframe of the forger's choosing, loud, in the right place.
        let wire = forger.encrypt(&[], &[kind as u8, 1, 255, 0, 0]).unwrap();
        self.sfu.send_media(p.client, track, &wire, now);
    }

    /// The participant `i` sees `j` as, found by `j`'s current SFU handle.
    pub fn id_of(&self, i: usize, j: usize) -> Option<ParticipantId> {
        let handle = self.sfu.handle(self.people[j].client)?;
        self.people[i].meeting.participant_at(handle)
    }

    /// What `i`'s display was told to say, in order.
    pub fn notices(&self, i: usize) -> Vec<conclave_room::meeting::Notice> {
        self.people[i]
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Notice(n) => Some(n.clone()),
                _ => None,
            })
            .collect()
    }

    /// The kinds of the tracks `i` receives from `j`.
    pub fn tracks_from(&self, i: usize, j: usize) -> Vec<MediaKind> {
        let Some(id) = self.id_of(i, j) else {
            return Vec::new();
        };
        let mut kinds: Vec<MediaKind> = self.people[i]
            .bound
            .values()
            .filter(|(who, _)| *who == id)
            .map(|(_, kind)| *kind)
            .collect();
        kinds.sort();
        kinds
    }

    /// What `i` got from `j` (by `j`'s participant id at `i`) of `kind`.
    pub fn got(&self, i: usize, j: usize, kind: MediaKind) -> Got {
        self.id_of(i, j)
            .and_then(|id| self.people[i].got.get(&(id, kind)).copied())
            .unwrap_or_default()
    }

    /// Whether `i` is decoding `kind` from `j` now: it grows over `d`.
    pub fn flowing(
        &mut self,
        pairs: &[(usize, usize)],
        d: Duration,
    ) -> Vec<(usize, usize, MediaKind)> {
        let kinds = [MediaKind::Audio, MediaKind::Video];
        let before: Vec<u64> = pairs
            .iter()
            .flat_map(|&(i, j)| kinds.map(|k| self.got(i, j, k).decodable))
            .collect();
        self.run_for(d);
        let after: Vec<u64> = pairs
            .iter()
            .flat_map(|&(i, j)| kinds.map(|k| self.got(i, j, k).decodable))
            .collect();
        let mut stalled = Vec::new();
        for (n, &(i, j)) in pairs.iter().enumerate() {
            for (k, kind) in kinds.iter().enumerate() {
                if after[2 * n + k] <= before[2 * n + k] {
                    stalled.push((i, j, *kind));
                }
            }
        }
        stalled
    }

    /// Every (i, j) pair among `who`, i ≠ j.
    pub fn pairs(who: &[usize]) -> Vec<(usize, usize)> {
        who.iter()
            .flat_map(|&i| who.iter().filter(move |&&j| j != i).map(move |&j| (i, j)))
            .collect()
    }
}
