//! One participant's meeting, sans-IO: every decision the meeting makes, in one place, with time
//! passed in.
//!
//! Inputs: neutral SFU events ([`Meeting::handle_sfu`], [`Meeting::handle_data`]), the media
//! side's observations ([`Meeting::handle_media`]), the user's [`Command`]s and the clock
//! ([`Meeting::handle_timeout`]). Outputs, polled: [`Transmit`]s for the SFU adapter,
//! [`MediaAction`]s for the media side (keys, track bindings, keyframes), [`Event`]s for a
//! display, and when to be called next.
//!
//! It owns the roster (participants as verified identities, never SFU handles), each
//! participant's tracks, our switches, the glue from key agreement ([`conclave_group::Group`]) to
//! SFrame keys, the keyframe policy, reconnection, the active speaker and what is announced. It
//! holds no keys for media itself: the media side does, told by [`MediaAction`]s.

mod chat;
mod io;
mod muted;
mod people;
mod policy;
mod roster;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use conclave_e2ee::CipherSuite;
use conclave_group::{Group, GroupCode, GroupEvent, GroupStats, Identity, Psk};

pub use chat::{CHAT_BURST, CHAT_RATE, NotSent, REACTION_BURST, REACTION_RATE, REACTION_SHOWN};
pub use io::{
    Admission, ChatMessage, Command, Connection, EndKind, Ended, Event, Local, MediaAction,
    MediaInput, Notice, Transmit,
};
pub use policy::{
    AUDIO_RESERVE_BPS, Backoff, KEYFRAME_REQUEST_SPACING, KEYFRAME_SPACING, Keyframes, RETRY_FIRST,
    RETRY_MAX, RETRY_RESET_AFTER, SHARE_MAX_BPS, SPEAKER_SWITCH, SPEAKING_LEVEL,
    START_ESTIMATE_BPS, SendRate, Speaker, VIDEO_HOLD_AT_MOST, VIDEO_PAUSE_BELOW_BPS,
    VIDEO_RESUME_AT_BPS, VIDEO_SHARE,
};
pub use roster::{Participant, ParticipantId, Presence, Verification};

use crate::control::{Control, DATA_CONTROL, DATA_FRAMES, DATA_KEYS};
use crate::sfu::{
    Dest, Link, LinkState, LocalTrack, LocalTrackId, MediaKind, PeerHandle, SfuEvent, SfuFailure,
    SfuRequest, TrackHandle,
};

/// The SFrame suite for media. The KID layout and ratchet are the defaults of `conclave-e2ee`.
pub const SUITE: CipherSuite = CipherSuite::AesGcm128Sha256;
/// How often we repeat our hello, so that newcomers learn our name and mute state soon.
pub const HELLO_INTERVAL: Duration = Duration::from_secs(2);
/// Connecting for this long without success: the server is shown as unreachable.
pub const UNREACHABLE_AFTER: Duration = Duration::from_secs(5);
/// A participant whose connection went without a goodbye is gone after this long (until then
/// they are shown as reconnecting, and come back into their own row).
pub const AWAY_LIMIT: Duration = Duration::from_secs(15);
/// A new connection not verified after this long is shown (as verifying, or unverified): until
/// then it may turn out to be someone known coming back.
pub const SHOW_UNVERIFIED_AFTER: Duration = Duration::from_secs(2);
/// Participants who left that the roster still lists (for the report), at most.
pub const MAX_DEPARTED: usize = 256;
/// A participant's older key generations are forgotten this long after a newer one arrived:
/// longer than the sender's switch-over (conclave_group::GRACE) and what is still in flight.
pub const RETIRE_AFTER: Duration = Duration::from_secs(3);
/// A verified participant not heard from authentically (hellos come every
/// [`HELLO_INTERVAL`]) for this long is treated as gone, even if the SFU says otherwise: our key
/// changes, so that they cannot read on.
pub const SILENT_LIMIT: Duration = Duration::from_secs(10);
/// A fresh sending key at least this often, whoever comes and goes.
pub const REKEY_EVERY: Duration = Duration::from_secs(15 * 60);
/// Most connections of others the meeting keeps track of at once (far more than any meeting of
/// people; an SFU inventing connections stops here).
pub const MAX_CONNECTIONS: usize = 1000;
/// How often the frames we sent are signed (`conclave_e2ee::attest`): a forgery that got through
/// is found within about this long (plus the statement's trip).
pub const SIGN_EVERY: Duration = Duration::from_millis(100);
/// Largest signed statement accepted as data (256 digests).
pub const MAX_STATEMENT_LEN: usize = 1 + 8 + 8 + 2 + 256 * 16 + 64;

/// Why a participant running an older, incompatible Conclave is not verified.
pub const OLDER_VERSION: &str =
    "they use an older version of Conclave that cannot talk to this one";

/// Our microphone's track.
pub const MICROPHONE: LocalTrackId = LocalTrackId(0);
/// Our camera's track.
pub const CAMERA: LocalTrackId = LocalTrackId(1);
/// Our shared screen's or window's track ([`Command::Share`]).
pub const SHARE: LocalTrackId = LocalTrackId(2);

/// How to take part.
#[derive(Clone, Debug)]
pub struct Config {
    /// Who we are in handshakes.
    pub identity: Identity,
    /// The room's handshake key, from the link's secret.
    pub psk: Psk,
    /// Our display name (only ever sent encrypted).
    pub name: String,
    /// Microphone switched on at the start.
    pub audio_on: bool,
    /// Camera switched on at the start.
    pub video_on: bool,
    /// A microphone is chosen: publish audio.
    pub microphone: bool,
    /// A camera is chosen: publish video.
    pub camera: bool,
    /// The most one video track may use (bits per second): the user's choice; the link's
    /// bandwidth estimate may allow less.
    pub video_bitrate_max: u32,
    /// Randomness for the reconnection jitter.
    pub seed: u64,
    /// The public key our frames are signed with (`conclave_e2ee::attest`).
    pub signer: [u8; 32],
}

/// Where our connection to the SFU stands.
#[derive(Debug)]
enum Phase {
    /// Asked to connect, not in the room yet.
    Connecting,
    /// In the room.
    Joined(Box<Joined>),
    /// Lost; connecting again at `until`.
    Waiting { until: Instant },
    /// Left or ended.
    Over,
}

/// What exists only while we are in the room.
#[derive(Debug)]
struct Joined {
    group: Group,
    /// When our sending key is next drawn afresh.
    rekey_at: Instant,
    links: BTreeMap<Link, LinkState>,
    /// Whether the publishing connection has been connected: a Connected after that is the same
    /// connection back from an interruption, not a fresh one.
    publish_was_up: bool,
    published: BTreeSet<LocalTrackId>,
    /// We hold a sending key.
    keyed: bool,
    connected_at: Option<Instant>,
    /// When the frames sent are next signed.
    sign_at: Instant,
}

/// One participant's meeting. See the module documentation.
#[derive(Debug)]
pub struct Meeting {
    signer: [u8; 32],
    identity: Identity,
    psk: Psk,
    name: String,
    phase: Phase,
    roster: BTreeMap<ParticipantId, Participant>,
    handles: BTreeMap<PeerHandle, ParticipantId>,
    /// Connections that went silent: nothing more from them is believed.
    silenced: BTreeSet<PeerHandle>,
    tracks: BTreeMap<TrackHandle, (ParticipantId, MediaKind)>,
    next_id: u64,
    wanted: BTreeMap<LocalTrackId, MediaKind>,
    /// The microphone and camera switches.
    switches: (bool, bool),
    /// Which of our devices are open.
    devices: (bool, bool),
    /// Our side as last told to the display.
    local: Local,
    connection: Connection,
    admission: Admission,
    /// Someone without our room key was here while we waited: being alone no longer admits us
    /// (their connection blinking, or an SFU hiding them for a moment, must not let us in).
    stranger_seen: bool,
    trouble_since: Option<Instant>,
    ever_connected: bool,
    hello_at: Option<Instant>,
    /// Our hand is raised.
    raised: bool,
    /// We share a screen or a window.
    sharing: bool,
    /// Tracks carrying others' shares, oldest first, and whose share is on the stage.
    shares: Vec<TrackHandle>,
    stage: Option<ParticipantId>,
    /// Hands seen going up so far (their order).
    hands_raised: u64,
    muted_speech: muted::MutedSpeech,
    own_reactions: chat::Bucket,
    keyframes: Keyframes,
    send_rate: SendRate,
    /// Key generations to forget: when, whose, below which.
    retire: Vec<(Instant, ParticipantId, u64)>,
    backoff: Backoff,
    speaker: Speaker,
    code: Option<GroupCode>,
    code_history: Vec<String>,
    key_stats: GroupStats,
    reconnects: u32,
    dropped_data: u64,
    ended: Option<Ended>,
    transmits: VecDeque<Transmit>,
    actions: VecDeque<MediaAction>,
    events: VecDeque<Event>,
}

impl Meeting {
    /// A meeting that starts by asking the SFU adapter to connect.
    pub fn new(config: Config, now: Instant) -> Meeting {
        let mut wanted = BTreeMap::new();
        if config.microphone {
            wanted.insert(MICROPHONE, MediaKind::Audio);
        }
        if config.camera {
            wanted.insert(CAMERA, MediaKind::Video);
        }
        let mut m = Meeting {
            identity: config.identity,
            psk: config.psk,
            name: config.name,
            phase: Phase::Connecting,
            roster: BTreeMap::new(),
            handles: BTreeMap::new(),
            silenced: BTreeSet::new(),
            tracks: BTreeMap::new(),
            next_id: 1,
            wanted,
            switches: (config.audio_on, config.video_on),
            devices: (false, false),
            local: Local {
                audio_on: config.audio_on,
                video_on: config.video_on,
                ..Local::default()
            },
            connection: Connection::Connecting,
            admission: Admission::Waiting {
                checking: 0,
                strangers: 0,
            },
            stranger_seen: false,
            trouble_since: Some(now),
            ever_connected: false,
            hello_at: None,
            raised: false,
            sharing: false,
            shares: Vec::new(),
            stage: None,
            hands_raised: 0,
            muted_speech: muted::MutedSpeech::default(),
            own_reactions: chat::Bucket::full(REACTION_BURST, now),
            keyframes: Keyframes::default(),
            send_rate: SendRate::new(config.video_bitrate_max),
            retire: Vec::new(),
            backoff: Backoff::new(config.seed),
            signer: config.signer,
            speaker: Speaker::default(),
            code: None,
            code_history: Vec::new(),
            key_stats: GroupStats::default(),
            reconnects: 0,
            dropped_data: 0,
            ended: None,
            transmits: VecDeque::new(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
        };
        m.transmits.push_back(Transmit::Sfu(SfuRequest::Connect));
        m.events
            .push_back(Event::Connection(Connection::Connecting));
        m.events.push_back(Event::Local(m.local));
        m
    }

    // ---- outputs ---------------------------------------------------------------------------

    /// The next thing to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next thing for the media side to do.
    pub fn poll_action(&mut self) -> Option<MediaAction> {
        self.actions.pop_front()
    }

    /// The next thing for a display.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Meeting::handle_timeout`] wants to be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let phase = match &self.phase {
            Phase::Waiting { until } => Some(*until),
            Phase::Joined(j) => Some(
                j.group
                    .poll_timeout()
                    .map_or(j.rekey_at, |t| t.min(j.rekey_at))
                    .min(j.sign_at),
            ),
            Phase::Connecting | Phase::Over => None,
        };
        if matches!(self.phase, Phase::Over) {
            return None;
        }
        let talking = self
            .local
            .talking_while_muted
            .then(|| self.muted_speech.fresh_until())
            .flatten();
        let unreachable = self
            .trouble_since
            .filter(|_| {
                matches!(
                    self.connection,
                    Connection::Connecting | Connection::Reconnecting
                )
            })
            .map(|t| t + UNREACHABLE_AFTER);
        let people = self.roster.values().filter_map(|p| match p.presence {
            Presence::Away { since } => Some(since + AWAY_LIMIT),
            Presence::Present if !p.shown => Some(p.since + SHOW_UNVERIFIED_AFTER),
            Presence::Present => p.heard.map(|t| t + SILENT_LIMIT),
            Presence::Left => None,
        });
        let retire = self.retire.iter().map(|(at, ..)| *at).min();
        [
            phase,
            self.hello_at,
            self.keyframes.owed_at(),
            self.send_rate.hold_ends_at(),
            unreachable,
            retire,
            talking,
        ]
        .into_iter()
        .flatten()
        .chain(people)
        .min()
    }

    /// Whether the meeting is over (left or ended): nothing more will come out.
    pub fn is_over(&self) -> bool {
        matches!(self.phase, Phase::Over)
    }

    // ---- what a report reads ---------------------------------------------------------------

    /// Everyone this meeting has seen (those who left too, up to [`MAX_DEPARTED`]).
    pub fn participants(&self) -> impl Iterator<Item = &Participant> {
        self.roster.values()
    }

    /// One participant.
    pub fn participant(&self, id: ParticipantId) -> Option<&Participant> {
        self.roster.get(&id)
    }

    /// Who an SFU handle belongs to now.
    pub fn participant_at(&self, handle: PeerHandle) -> Option<ParticipantId> {
        self.handles.get(&handle).copied()
    }

    /// Where we stand.
    pub fn connection(&self) -> Connection {
        self.connection
    }

    /// Whether the meeting is one to show yet.
    pub fn admission(&self) -> Admission {
        self.admission
    }

    /// Why the meeting ended early, if it did.
    pub fn ended(&self) -> Option<&Ended> {
        self.ended.as_ref()
    }

    /// Our switches and what we send.
    pub fn local(&self) -> Local {
        self.local
    }

    /// The active speaker.
    pub fn active_speaker(&self) -> Option<ParticipantId> {
        self.speaker.current()
    }

    /// The group code now.
    pub fn group_code(&self) -> Option<&GroupCode> {
        self.code.as_ref()
    }

    /// Every group code shown, oldest first (it changes with the membership).
    pub fn group_code_history(&self) -> &[String] {
        &self.code_history
    }

    /// Key-agreement counters over the whole meeting.
    pub fn key_stats(&self) -> GroupStats {
        let mut s = self.key_stats;
        if let Phase::Joined(j) = &self.phase {
            add_stats(&mut s, j.group.stats());
        }
        s
    }

    /// Times we connected again after a loss.
    pub fn reconnects(&self) -> u32 {
        self.reconnects
    }

    /// Data messages dropped before reaching anyone (unknown kind, unknown sender).
    pub fn dropped_data(&self) -> u64 {
        self.dropped_data
    }

    // ---- inputs ----------------------------------------------------------------------------

    /// An event from the SFU adapter. Data goes to [`Meeting::handle_data`] instead (here it
    /// is handled as if no control message could be decrypted).
    pub fn handle_sfu(&mut self, event: SfuEvent, now: Instant) {
        self.on_sfu(event, now);
        // Someone arriving (or leaving) while our video waits for a key exchange.
        if self.send_rate.hold_ends_at().is_some() {
            self.rerate(now);
        }
    }

    fn on_sfu(&mut self, event: SfuEvent, now: Instant) {
        match event {
            SfuEvent::Joined { me, present } => self.on_joined(me, present, now),
            SfuEvent::PeerAppeared { peer, label }
                if self.joined().is_some() && !self.silenced.contains(&peer) =>
            {
                self.peer_appeared(peer, label, now);
            }
            SfuEvent::PeerGone(peer) => {
                self.silenced.remove(&peer);
                self.gone(peer, now);
            }
            SfuEvent::TrackAppeared { track, peer, kind }
                if self.joined().is_some() && !self.silenced.contains(&peer) =>
            {
                self.track_appeared(track, peer, kind, now);
            }
            SfuEvent::TrackGone(track) if self.tracks.remove(&track).is_some() => {
                self.actions.push_back(MediaAction::Unbind(track));
            }
            SfuEvent::Data { from, bytes } => self.handle_data(from, &bytes, |_, _| None, now),
            SfuEvent::Link { link, state } => self.on_link(link, state, now),
            SfuEvent::Failed(failure)
                if matches!(self.phase, Phase::Connecting | Phase::Joined(_)) =>
            {
                match failure {
                    SfuFailure::Refused(why) => self.end(EndKind::SfuRefused, why),
                    SfuFailure::Untrusted(why) => self.end(EndKind::Untrusted, why),
                    SfuFailure::NoRelay => {
                        self.end(EndKind::NoRelay, SfuFailure::NoRelay.to_string());
                    }
                    SfuFailure::Lost(_) => self.lost(now),
                }
            }
            _ => {}
        }
        self.drive_group(now);
        self.update_connection(now);
        self.restage();
    }

    /// The stage: the newest share whose track still carries it for someone present.
    fn restage(&mut self) {
        let tracks = &self.tracks;
        let roster = &self.roster;
        self.shares.retain(|t| {
            tracks.get(t).is_some_and(|(who, kind)| {
                *kind == MediaKind::Video && roster.get(who).is_some_and(|p| p.is_present())
            })
        });
        let stage = self
            .shares
            .last()
            .and_then(|t| tracks.get(t))
            .map(|(who, _)| *who);
        if stage != self.stage {
            self.stage = stage;
            self.events.push_back(Event::Stage(stage));
        }
    }

    /// Whose shared screen is on the stage ([`Event::Stage`]).
    pub fn stage(&self) -> Option<ParticipantId> {
        self.stage
    }

    /// A participant's connection appeared: we receive them, and they need a keyframe of ours.
    fn peer_appeared(&mut self, peer: PeerHandle, label: Option<String>, now: Instant) {
        if self.appear(peer, label, false, now).is_some() {
            self.transmits
                .push_back(Transmit::Sfu(SfuRequest::Subscribe(peer)));
            // They need a keyframe to start decoding us.
            self.want_keyframe(now);
        }
    }

    /// A track we receive carries `peer`'s media now (new, or a slot given to someone else).
    fn track_appeared(
        &mut self,
        track: TrackHandle,
        peer: PeerHandle,
        kind: MediaKind,
        now: Instant,
    ) {
        let Some(participant) = self.appear(peer, None, false, now) else {
            return;
        };
        self.keyframes.forget(&track);
        // A slot given to someone else carries no share until its frames say so.
        self.shares.retain(|t| *t != track);
        self.tracks.insert(track.clone(), (participant, kind));
        if let Some(j) = self.joined() {
            j.links
                .entry(Link::Subscribe)
                .or_insert(LinkState::Connecting);
        }
        self.actions.push_back(MediaAction::Bind {
            track,
            participant,
            kind,
        });
    }

    /// Data relayed from `from`: key agreement, or a control message that `open` decrypts
    /// with the keys the media side holds for the participant it names.
    pub fn handle_data(
        &mut self,
        from: PeerHandle,
        bytes: &[u8],
        open: impl FnOnce(ParticipantId, &[u8]) -> Option<Vec<u8>>,
        now: Instant,
    ) {
        if self.joined().is_none() || self.silenced.contains(&from) {
            return;
        }
        match bytes.split_first() {
            Some((&DATA_KEYS, body)) => {
                // Their message may overtake the SFU's news of them.
                if self.appear(from, None, false, now).is_none() {
                    return;
                }
                let refused = match self.joined() {
                    // Refusals are counted by the group.
                    Some(j) => j.group.receive(from.0, body, now).err(),
                    None => None,
                };
                // An older Conclave: said plainly, not left "verifying" until a timeout.
                if let Some(conclave_group::GroupError::Wire(conclave_group::WireError::Version(v))) =
                    refused
                    && v < conclave_group::wire::VERSION
                    && let Some(&id) = self.handles.get(&from)
                    && let Some(p) = self.roster.get_mut(&id)
                    && !p.is_verified()
                {
                    p.verification = Verification::Failed {
                        reason: OLDER_VERSION,
                    };
                    p.shown = true;
                    self.changed(id);
                }
                self.drive_group(now);
                self.update_admission(now);
            }
            Some((&DATA_FRAMES, body)) => match self.handles.get(&from).copied() {
                Some(participant) if body.len() <= MAX_STATEMENT_LEN => {
                    self.actions.push_back(MediaAction::Statement {
                        participant,
                        bytes: body.to_vec(),
                    });
                }
                _ => self.dropped_data += 1,
            },
            Some((&DATA_CONTROL, body)) => match self.handles.get(&from).copied() {
                Some(id) => {
                    let control = open(id, body).and_then(|plain| Control::decode(&plain).ok());
                    self.on_control(id, control, now);
                    // A goodbye takes their share off the stage.
                    self.restage();
                }
                None => self.dropped_data += 1,
            },
            _ => self.dropped_data += 1,
        }
    }

    /// What the media side saw.
    pub fn handle_media(&mut self, input: MediaInput, now: Instant) {
        match input {
            MediaInput::Devices { microphone, camera } => {
                if self.devices != (microphone, camera) {
                    self.devices = (microphone, camera);
                    self.local_changed(now);
                }
            }
            MediaInput::KeyframeWanted(track) => {
                if self.tracks.contains_key(&track) && self.keyframes.ask(&track, now) {
                    self.actions.push_back(MediaAction::RequestKeyframe(track));
                }
            }
            MediaInput::KeyframeReceived(track) => self.keyframes.received(&track),
            MediaInput::KeyframeAsked(track) => self.want_keyframe_of(track, now),
            MediaInput::SendEstimate(bps) => {
                self.send_rate.estimate(bps);
                self.rerate(now);
            }
            MediaInput::Levels(levels) => self.hear(levels, now),
            MediaInput::Signed(bytes) => {
                if self.live() {
                    self.send_data(DATA_FRAMES, &bytes);
                }
            }
            MediaInput::Forged {
                participant,
                frames,
            } => self.forged(participant, frames, now),
            // The shared screen or window went away (closed, the display gone, the portal
            // refused): the share ends, the meeting goes on.
            MediaInput::ShareEnded => self.share(false, now),
            MediaInput::ShareSeen { track, share } => {
                self.shares.retain(|t| *t != track);
                if share && self.tracks.contains_key(&track) {
                    self.shares.push(track);
                }
                self.restage();
            }
            MediaInput::OwnLevel(level) => {
                self.muted_speech.hear(level, !self.switches.0, now);
                self.talking_changed(now);
            }
        }
    }

    /// What the user asks.
    pub fn command(&mut self, command: Command, now: Instant) {
        if self.is_over() {
            return;
        }
        match command {
            Command::SetAudio(on) => {
                self.switches.0 = on;
                self.local_changed(now);
            }
            Command::SetVideo(on) => {
                self.switches.1 = on;
                self.actions.push_back(MediaAction::Camera(on));
                self.local_changed(now);
            }
            Command::SetSources { microphone, camera } => {
                let mut add = Vec::new();
                for (on, id, kind) in [
                    (microphone, MICROPHONE, MediaKind::Audio),
                    (camera, CAMERA, MediaKind::Video),
                ] {
                    // A source no longer chosen stays published: it just sends nothing.
                    if on && self.wanted.insert(id, kind).is_none() {
                        add.push(LocalTrack { id, kind });
                    }
                }
                self.publish(add);
                self.local_changed(now);
            }
            Command::Publish(track) => {
                if self.wanted.insert(track.id, track.kind).is_none() {
                    self.publish(vec![track]);
                    if track.kind == MediaKind::Video {
                        self.want_keyframe_of(track.id, now);
                        self.rerate(now);
                    }
                }
            }
            Command::Unpublish(id) => self.unpublish(id, now),
            Command::Share(on) => self.share(on, now),
            Command::Chat { to, text } => self.chat(to, text, now),
            Command::Hand(up) => self.hand(up, now),
            Command::React(emoji) => self.react(emoji, now),
            Command::GoIn => {
                // Said again when in already: a display that missed it learns it now.
                if self.admission == Admission::In {
                    self.events.push_back(Event::Admission(Admission::In));
                }
                self.set_admission(Admission::In, now);
            }
            Command::Leave => self.leave(),
        }
    }

    /// Lets time pass.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.talking_changed(now);
        if self.send_rate.hold_ends_at().is_some_and(|t| t <= now) {
            self.rerate(now);
        }
        if let Phase::Waiting { until } = self.phase
            && until <= now
        {
            self.phase = Phase::Connecting;
            self.reconnects += 1;
            self.transmits.push_back(Transmit::Sfu(SfuRequest::Connect));
        }
        let live = self.live();
        if let Some(j) = self.joined() {
            j.group.handle_timeout(now);
            if j.rekey_at <= now {
                j.rekey_at = now + REKEY_EVERY;
                j.group.rekey(now);
            }
            if j.sign_at <= now {
                j.sign_at = now + SIGN_EVERY;
                if live {
                    self.actions.push_back(MediaAction::SignFrames);
                }
            }
        }
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.retire)
            .into_iter()
            .partition(|(at, ..)| *at <= now);
        self.retire = later;
        for (_, participant, below) in due {
            self.actions
                .push_back(MediaAction::RetireKeys { participant, below });
        }
        let silent: Vec<ParticipantId> = self
            .roster
            .values()
            .filter(|p| p.is_present() && p.heard.is_some_and(|t| t + SILENT_LIMIT <= now))
            .map(|p| p.id)
            .collect();
        for id in silent {
            self.silent(id, now);
        }
        if self.hello_at.is_some_and(|at| at <= now) {
            self.send_hello(now);
        }
        for track in self.keyframes.due(now) {
            self.actions.push_back(MediaAction::SendKeyframe(track));
        }
        let due: Vec<ParticipantId> = self
            .roster
            .values()
            .filter(|p| match p.presence {
                Presence::Away { since } => since + AWAY_LIMIT <= now,
                _ => false,
            })
            .map(|p| p.id)
            .collect();
        for id in due {
            self.depart(id, now);
        }
        let unshown: Vec<ParticipantId> = self
            .roster
            .values()
            .filter(|p| p.is_present() && !p.shown && p.since + SHOW_UNVERIFIED_AFTER <= now)
            .map(|p| p.id)
            .collect();
        for id in unshown {
            self.show(id);
        }
        self.drive_group(now);
        self.update_connection(now);
        self.restage();
    }

    // ---- the SFU ---------------------------------------------------------------------------

    fn joined(&mut self) -> Option<&mut Joined> {
        match &mut self.phase {
            Phase::Joined(j) => Some(j),
            _ => None,
        }
    }

    fn on_joined(
        &mut self,
        me: PeerHandle,
        present: Vec<(PeerHandle, Option<String>)>,
        now: Instant,
    ) {
        if !matches!(self.phase, Phase::Connecting) {
            return;
        }
        let group = match Group::new(me.0, self.identity.clone(), self.psk.clone(), SUITE) {
            Ok(mut g) => {
                g.set_signer(self.signer);
                g
            }
            Err(e) => {
                self.end(
                    EndKind::ConnectionLost,
                    format!("keys could not be set up: {e}"),
                );
                return;
            }
        };
        // A new publishing connection is made: its rates start afresh.
        self.send_rate.restart();
        self.phase = Phase::Joined(Box::new(Joined {
            group,
            rekey_at: now + REKEY_EVERY,
            links: BTreeMap::new(),
            publish_was_up: false,
            published: BTreeSet::new(),
            keyed: false,
            connected_at: None,
            sign_at: now + SIGN_EVERY,
        }));
        for (peer, label) in present {
            if self.appear(peer, label, true, now).is_none() {
                continue;
            }
            self.transmits
                .push_back(Transmit::Sfu(SfuRequest::Subscribe(peer)));
        }
        // The data path is published even without tracks: keys and hellos travel on it.
        let tracks: Vec<LocalTrack> = self
            .wanted
            .iter()
            .map(|(&id, &kind)| LocalTrack { id, kind })
            .collect();
        if let Some(j) = self.joined() {
            j.published.extend(tracks.iter().map(|t| t.id));
        }
        self.transmits
            .push_back(Transmit::Sfu(SfuRequest::Publish(tracks)));
        self.want_keyframe(now);
        self.local_changed(now);
    }

    fn unpublish(&mut self, id: LocalTrackId, now: Instant) {
        if self.wanted.remove(&id) == Some(MediaKind::Video) {
            self.rerate(now);
        }
        if let Some(j) = self.joined()
            && j.published.remove(&id)
        {
            self.transmits
                .push_back(Transmit::Sfu(SfuRequest::Unpublish(id)));
        }
    }

    /// Starts or stops sharing: the share is a video track of its own ([`SHARE`]), added and
    /// removed without rejoining; the media side opens or closes its source.
    fn share(&mut self, on: bool, now: Instant) {
        if on == self.sharing {
            return;
        }
        self.sharing = on;
        self.actions.push_back(MediaAction::Share(on));
        if on {
            let track = LocalTrack {
                id: SHARE,
                kind: MediaKind::Video,
            };
            self.wanted.insert(SHARE, MediaKind::Video);
            self.publish(vec![track]);
            self.want_keyframe_of(SHARE, now);
            self.rerate(now);
        } else {
            self.unpublish(SHARE, now);
        }
        self.local_changed(now);
    }

    fn publish(&mut self, tracks: Vec<LocalTrack>) {
        if tracks.is_empty() {
            return;
        }
        if let Some(j) = self.joined() {
            j.published.extend(tracks.iter().map(|t| t.id));
            self.transmits
                .push_back(Transmit::Sfu(SfuRequest::Publish(tracks)));
        }
    }

    fn on_link(&mut self, link: Link, state: LinkState, now: Instant) {
        let Some(j) = self.joined() else {
            return;
        };
        let before = j.links.insert(link, state);
        let fresh = !j.publish_was_up;
        if link == Link::Publish && state == LinkState::Connected {
            j.publish_was_up = true;
        }
        if state == LinkState::Failed {
            self.lost(now);
            return;
        }
        if link == Link::Publish && state == LinkState::Connected && before != Some(state) {
            // A fresh connection, or one back: every receiver starts from a keyframe, and learns
            // who we are. A fresh one's video waits for the first key exchange (its rates started
            // afresh when it was made, `on_joined`); one that was only interrupted (ICE
            // disconnected, as a congested uplink's lost consent checks make it) keeps its
            // estimator, and its estimate.
            self.want_keyframe(now);
            self.send_hello(now);
            if fresh {
                self.send_rate.hold(now);
            }
            self.rerate(now);
        }
    }

    /// The connection broke: everyone is away until we are back, and we try again soon.
    fn lost(&mut self, now: Instant) {
        let (Phase::Joined(_) | Phase::Connecting) = self.phase else {
            return;
        };
        let lasted = match std::mem::replace(&mut self.phase, Phase::Connecting) {
            Phase::Joined(j) => {
                add_stats(&mut self.key_stats, j.group.stats());
                j.connected_at.map(|t| now.saturating_duration_since(t))
            }
            _ => None,
        };
        self.transmits
            .push_back(Transmit::Sfu(SfuRequest::Disconnect));
        self.handles.clear();
        self.silenced.clear();
        for (track, _) in std::mem::take(&mut self.tracks) {
            self.actions.push_back(MediaAction::Unbind(track));
        }
        let ids: Vec<ParticipantId> = self.roster.keys().copied().collect();
        for id in ids {
            self.away(id, now);
        }
        let wait = self.backoff.after_loss(lasted);
        self.phase = Phase::Waiting { until: now + wait };
        self.local_changed(now);
    }

    fn leave(&mut self) {
        if self.live() {
            self.transmits.push_back(Transmit::Control {
                to: Dest::All,
                plaintext: Control::bye().encode(),
            });
        }
        self.transmits
            .push_back(Transmit::Sfu(SfuRequest::Disconnect));
        if self.connection == Connection::Connected {
            self.over();
            self.set_connection(Connection::Left);
        } else {
            let detail = if self.ever_connected {
                "the connection to the SFU was lost"
            } else {
                "the SFU could not be reached"
            };
            self.finish(EndKind::ConnectionLost, detail.to_owned());
        }
    }

    fn end(&mut self, kind: EndKind, detail: String) {
        self.transmits
            .push_back(Transmit::Sfu(SfuRequest::Disconnect));
        self.finish(kind, detail);
    }

    /// The meeting is over; what its key agreement counted stays counted.
    fn over(&mut self) {
        if let Phase::Joined(j) = std::mem::replace(&mut self.phase, Phase::Over) {
            add_stats(&mut self.key_stats, j.group.stats());
        }
    }

    fn finish(&mut self, kind: EndKind, detail: String) {
        self.over();
        let ended = Ended { kind, detail };
        self.ended = Some(ended.clone());
        self.events.push_back(Event::Ended(ended));
        self.set_connection(Connection::Failed);
    }

    fn update_connection(&mut self, now: Instant) {
        let connected = match &mut self.phase {
            Phase::Over => return,
            Phase::Joined(j) => {
                let up = |link| j.links.get(&link) == Some(&LinkState::Connected);
                let ok = up(Link::Publish)
                    && (!j.links.contains_key(&Link::Subscribe) || up(Link::Subscribe));
                if ok && j.connected_at.is_none() {
                    j.connected_at = Some(now);
                }
                ok
            }
            _ => false,
        };
        let next = if connected {
            self.ever_connected = true;
            self.trouble_since = None;
            Connection::Connected
        } else {
            let since = *self.trouble_since.get_or_insert(now);
            if now >= since + UNREACHABLE_AFTER {
                Connection::Unreachable
            } else if self.ever_connected {
                Connection::Reconnecting
            } else {
                Connection::Connecting
            }
        };
        self.set_connection(next);
        self.update_admission(now);
    }

    /// In once connected with someone who proved to hold the room key, or alone (unless a
    /// stranger was here while we waited); until then, waiting, with how many here (or away for
    /// a moment) are being checked and how many failed.
    fn update_admission(&mut self, now: Instant) {
        if self.admission == Admission::In || self.is_over() {
            return;
        }
        let here = || {
            self.roster
                .values()
                .filter(|p| p.presence != Presence::Left)
        };
        let strangers = here()
            .filter(|p| matches!(p.verification, Verification::Failed { .. }))
            .count();
        self.stranger_seen |= strangers > 0;
        let verified = here().any(|p| p.is_present() && p.is_verified());
        let alone = here().next().is_none() && !self.stranger_seen;
        let next = if self.connection == Connection::Connected && (verified || alone) {
            Admission::In
        } else {
            Admission::Waiting {
                checking: here().count() - strangers,
                strangers,
            }
        };
        self.set_admission(next, now);
    }

    fn set_admission(&mut self, next: Admission, now: Instant) {
        if self.admission != next && !self.is_over() {
            self.admission = next;
            self.events.push_back(Event::Admission(next));
            // Nothing was sent while outside: those inside need a keyframe to see us.
            if next == Admission::In {
                self.want_keyframe(now);
            }
        }
    }

    fn set_connection(&mut self, next: Connection) {
        if self.connection != next {
            self.connection = next;
            self.events.push_back(Event::Connection(next));
        }
    }

    // ---- keys ------------------------------------------------------------------------------

    /// Sends what key agreement wants sent and acts on what it decided.
    fn drive_group(&mut self, now: Instant) {
        let Some(j) = self.joined() else {
            return;
        };
        let mut out = Vec::new();
        while let Some(bytes) = j.group.poll_transmit() {
            out.push(bytes);
        }
        let mut events = Vec::new();
        while let Some(e) = j.group.poll_event() {
            events.push(e);
        }
        for bytes in out {
            self.send_data(DATA_KEYS, &bytes);
        }
        for event in events {
            self.on_group(event, now);
        }
    }

    fn on_group(&mut self, event: GroupEvent, now: Instant) {
        match event {
            GroupEvent::SendKey {
                generation,
                step,
                key,
            } => {
                self.actions.push_back(MediaAction::SendKey {
                    generation,
                    step,
                    key,
                });
                // Receivers need a keyframe under the new key to start decoding it.
                self.want_keyframe(now);
                let first = self
                    .joined()
                    .is_some_and(|j| !std::mem::replace(&mut j.keyed, true));
                if first {
                    self.send_hello(now);
                }
            }
            GroupEvent::PeerKey {
                peer,
                generation,
                step,
                key,
                signer,
            } => {
                if let Some(&participant) = self.handles.get(&PeerHandle(peer)) {
                    self.actions.push_back(MediaAction::ReceiveKey {
                        participant,
                        generation,
                        step,
                        key,
                        signer,
                    });
                    // A newer generation: the older ones go after a while.
                    if let Some(p) = self.roster.get_mut(&participant)
                        && p.generation.is_none_or(|g| generation > g)
                    {
                        if p.generation.is_some() {
                            self.retire
                                .push((now + RETIRE_AFTER, participant, generation));
                        }
                        p.generation = Some(generation);
                    }
                    // What arrived before the key could not be decrypted: their video needs a
                    // keyframe now rather than at the next loss or the next periodic one.
                    for track in self.videos_of(participant) {
                        // Once per key, whatever was asked just before (under no key).
                        self.keyframes.asked(&track, now);
                        self.actions.push_back(MediaAction::RequestKeyframe(track));
                    }
                }
            }
            GroupEvent::PeerVerified {
                peer,
                identity,
                safety_number,
            } => self.verified(PeerHandle(peer), identity, safety_number, now),
            GroupEvent::PeerUnverified { peer, reason } => {
                if let Some(&id) = self.handles.get(&PeerHandle(peer)) {
                    if let Some(p) = self.roster.get_mut(&id) {
                        p.verification = Verification::Failed { reason };
                        p.shown = true;
                    }
                    self.changed(id);
                }
            }
            GroupEvent::Private { peer, text } => self.private_from(PeerHandle(peer), text, now),
            GroupEvent::GroupCode(code) => {
                if let Some(c) = &code {
                    self.code_history.push(c.digits.clone());
                }
                self.code.clone_from(&code);
                self.events.push_back(Event::GroupCode(code));
            }
        }
    }

    /// `participant`'s video tracks.
    fn videos_of(&self, participant: ParticipantId) -> Vec<TrackHandle> {
        self.tracks
            .iter()
            .filter(|(_, (owner, kind))| *owner == participant && *kind == MediaKind::Video)
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// `bytes` as data of kind `tag` (first byte) to everyone.
    fn send_data(&mut self, tag: u8, bytes: &[u8]) {
        let mut tagged = Vec::with_capacity(bytes.len() + 1);
        tagged.push(tag);
        tagged.extend_from_slice(bytes);
        self.transmits
            .push_back(Transmit::Sfu(SfuRequest::SendData {
                to: Dest::All,
                bytes: tagged,
            }));
    }

    /// Someone forged frames in `participant`'s name and some were shown: say so, and start
    /// their video afresh from a keyframe (the decoder may hold a forged picture).
    fn forged(&mut self, participant: ParticipantId, frames: usize, now: Instant) {
        if frames == 0 {
            return;
        }
        let Some(p) = self.roster.get_mut(&participant) else {
            return;
        };
        p.forged += frames as u64;
        let name = p.name.clone().unwrap_or_default();
        self.events.push_back(Event::Notice(Notice::Forged(name)));
        for track in self.videos_of(participant) {
            if self.keyframes.ask(&track, now) {
                self.actions.push_back(MediaAction::RequestKeyframe(track));
            }
        }
    }

    // ---- what we send ----------------------------------------------------------------------

    /// Whether control messages can go out: in the room, the publishing connection up, a key.
    fn live(&self) -> bool {
        match &self.phase {
            Phase::Joined(j) => {
                j.keyed && j.links.get(&Link::Publish) == Some(&LinkState::Connected)
            }
            _ => false,
        }
    }

    fn sending(&self) -> (bool, bool) {
        let published = |id| match &self.phase {
            Phase::Joined(j) => j.published.contains(&id),
            _ => false,
        };
        (
            self.switches.0 && self.devices.0 && published(MICROPHONE),
            self.switches.1 && self.devices.1 && published(CAMERA),
        )
    }

    /// Whether we seem to talk while muted changed: the display hears of it.
    fn talking_changed(&mut self, now: Instant) {
        let talking = self.muted_speech.talking(now);
        if talking != self.local.talking_while_muted {
            self.local.talking_while_muted = talking;
            self.events.push_back(Event::Local(self.local));
        }
    }

    /// Our switches or devices changed: the display and the others hear of it.
    fn local_changed(&mut self, now: Instant) {
        let (sending_audio, sending_video) = self.sending();
        let next = Local {
            audio_on: self.switches.0,
            video_on: self.switches.1,
            sending_audio,
            sending_video,
            hand: self.raised,
            talking_while_muted: self.local.talking_while_muted && !self.switches.0,
            sharing: self.sharing,
        };
        if next != self.local {
            self.local = next;
            self.events.push_back(Event::Local(next));
        }
        self.send_hello(now);
    }

    /// Tells the others our name and what we send, now and every [`HELLO_INTERVAL`].
    fn send_hello(&mut self, now: Instant) {
        if !self.live() {
            self.hello_at = None;
            return;
        }
        let (audio, video) = self.sending();
        let hello = Control::hello(&self.name, audio, video, self.raised);
        self.transmits.push_back(Transmit::Control {
            to: Dest::All,
            plaintext: hello.encode(),
        });
        self.hello_at = Some(now + HELLO_INTERVAL);
    }

    /// Our video tracks (those we want to publish).
    fn video_tracks(&self) -> Vec<LocalTrackId> {
        self.wanted
            .iter()
            .filter(|(_, kind)| **kind == MediaKind::Video)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Everyone receiving our video needs a keyframe (a new key, a new receiver, a new
    /// connection).
    fn want_keyframe(&mut self, now: Instant) {
        for track in self.video_tracks() {
            self.want_keyframe_of(track, now);
        }
    }

    /// Hands our video tracks the rates the bandwidth estimate allows now, where they changed.
    fn rerate(&mut self, now: Instant) {
        let videos = self.video_tracks();
        // Only someone here without our key yet is worth holding the picture for.
        let waiting = self
            .roster
            .values()
            .any(|p| p.is_present() && !p.is_verified());
        for (track, bps) in self.send_rate.changes(&videos, now, waiting) {
            self.actions
                .push_back(MediaAction::VideoRate { track, bps });
        }
    }

    fn want_keyframe_of(&mut self, track: LocalTrackId, now: Instant) {
        if self.keyframes.want(track, now) {
            self.actions.push_back(MediaAction::SendKeyframe(track));
        }
    }
}

fn add_stats(total: &mut GroupStats, more: GroupStats) {
    total.messages_sent += more.messages_sent;
    total.messages_accepted += more.messages_accepted;
    total.messages_refused += more.messages_refused;
    total.key_changes += more.key_changes;
}
