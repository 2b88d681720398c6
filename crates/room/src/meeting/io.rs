//! What goes into a [`super::Meeting`] besides SFU events, and what comes out of it.

use conclave_e2ee::BaseKey;
use conclave_group::GroupCode;

use super::{Participant, ParticipantId};
use crate::sfu::{Dest, LocalTrack, LocalTrackId, MediaKind, SfuRequest, TrackHandle};

/// What the user (or whoever steers the meeting) asks.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// Microphone on or off (muted).
    SetAudio(bool),
    /// Camera on or off (off closes it).
    SetVideo(bool),
    /// Which sources exist now: a microphone and a camera chosen (open or not). A source chosen
    /// later is published then, without rejoining.
    SetSources {
        /// A microphone is chosen.
        microphone: bool,
        /// A camera is chosen.
        camera: bool,
    },
    /// Share a screen or a window (true) or stop: a video track of its own
    /// ([`super::SHARE`]), sealed as a share, added and removed without rejoining.
    Share(bool),
    /// Publish one more track (a second camera), without rejoining.
    Publish(LocalTrack),
    /// Stop publishing a track added with [`Command::Publish`].
    Unpublish(LocalTrackId),
    /// A chat message to everyone (`to` = `None`) or, privately, to one participant.
    Chat {
        /// The addressee of a private message.
        to: Option<ParticipantId>,
        /// Plain text.
        text: String,
    },
    /// Raise (true) or lower our hand.
    Hand(bool),
    /// A reaction, one of [`crate::REACTIONS`].
    React(String),
    /// Go into the meeting although nobody here proved to hold the room key (see
    /// [`Admission`]): the user's choice, for two people who came at once with different links.
    GoIn,
    /// Leave the meeting.
    Leave,
}

/// What the media side (capture, receivers) tells the meeting.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum MediaInput {
    /// Which of our devices are open and capturing now.
    Devices {
        /// The microphone.
        microphone: bool,
        /// The camera.
        camera: bool,
    },
    /// A receiver of `track` cannot go on without a keyframe (a loss, an undecryptable frame,
    /// a decoder that fell behind, a display that starts afresh).
    KeyframeWanted(TrackHandle),
    /// A keyframe of `track` arrived and decrypted: its receiver is whole again.
    KeyframeReceived(TrackHandle),
    /// The SFU asked us for a keyframe of one of our video tracks.
    KeyframeAsked(LocalTrackId),
    /// The publishing connection's congestion control estimates the path carries this many bits
    /// per second now (of RTP; see [`crate::meeting::policy::SendRate`]).
    SendEstimate(u32),
    /// How loud each participant is now (0–1), measured on what we received.
    Levels(Vec<(ParticipantId, f32)>),
    /// A signed statement of the frames we sent (`conclave_e2ee::attest`), to send to all.
    Signed(Vec<u8>),
    /// The level of one 20 ms frame of our microphone (RFC 6464: 0 the loudest, 127 silence),
    /// muted or not: to notice talking while muted. It never leaves the meeting.
    OwnLevel(u8),
    /// The shared screen or window can no longer be captured: the share ends.
    ShareEnded,
    /// What arrives on `track` is (`share`) or is no longer a shared screen: its frames are
    /// sealed as a share's (authenticated: the SFU cannot pass a camera off as one).
    ShareSeen {
        /// The track.
        track: TrackHandle,
        /// Whether it carries a share now.
        share: bool,
    },
    /// `participant`'s statement showed that frames accepted under their name were forged by
    /// someone else holding their key.
    Forged {
        /// Whose name the forgeries carried.
        participant: ParticipantId,
        /// How many.
        frames: usize,
    },
}

/// What the meeting sends, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transmit {
    /// A request for the SFU adapter.
    Sfu(SfuRequest),
    /// A control message: encrypt it under our sending key, then send it as
    /// [`crate::DATA_CONTROL`] data to `to`.
    Control {
        /// To whom.
        to: Dest,
        /// The plaintext (an encoded [`crate::Control`]).
        plaintext: Vec<u8>,
    },
}

/// What the media side must do.
#[derive(Debug)]
#[non_exhaustive]
pub enum MediaAction {
    /// Encrypt what we send under this key from now on.
    SendKey {
        /// Key generation.
        generation: u64,
        /// Ratchet step within it.
        step: u64,
        /// The key.
        key: BaseKey,
    },
    /// Decrypt `participant`'s media and control messages with this key as well.
    ReceiveKey {
        /// Whose.
        participant: ParticipantId,
        /// Key generation.
        generation: u64,
        /// Ratchet step within it.
        step: u64,
        /// The key.
        key: BaseKey,
        /// Their public key for signing frames.
        signer: [u8; 32],
    },
    /// Sign the frames sent since the last time and hand the statements back as
    /// [`MediaInput::Signed`].
    SignFrames,
    /// Check `participant`'s frames against this statement of theirs.
    Statement {
        /// Whose.
        participant: ParticipantId,
        /// The signed statement.
        bytes: Vec<u8>,
    },
    /// Forget every key of `participant` (they reconnected: their keys start afresh).
    ResetKeys(ParticipantId),
    /// Forget `participant`'s key generations older than `below`: they moved on, and whoever
    /// left since must not be able to pass an old key off as theirs.
    RetireKeys {
        /// Whose.
        participant: ParticipantId,
        /// The oldest generation kept.
        below: u64,
    },
    /// What arrives on `track` is `participant`'s `kind` from now on (a new track, or a slot the
    /// SFU gave to someone else: start afresh).
    Bind {
        /// The track.
        track: TrackHandle,
        /// Whose media it carries.
        participant: ParticipantId,
        /// Audio or video.
        kind: MediaKind,
    },
    /// Nothing on `track` belongs to anyone now: drop it.
    Unbind(TrackHandle),
    /// `participant` is gone: drop their keys, pictures and sound.
    Forget(ParticipantId),
    /// Ask the sender of `track` for a keyframe.
    RequestKeyframe(TrackHandle),
    /// Make the next frame of our video track a keyframe.
    SendKeyframe(LocalTrackId),
    /// Encode our video track at this many bits per second from now on (`None`: pause it to a
    /// small picture a few times a second, the link cannot carry more beside the audio;
    /// `Some(0)`: hold it, send nothing, until the first key exchange on a new connection).
    VideoRate {
        /// Which track.
        track: LocalTrackId,
        /// The rate, or `None` to pause.
        bps: Option<u32>,
    },
    /// Open (true) or close the camera.
    Camera(bool),
    /// Start capturing the screen or window to share (true), or stop.
    Share(bool),
}

/// Where the meeting stands, as the user should see it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    /// Joining for the first time.
    #[default]
    Connecting,
    /// In the room, media flowing both ways.
    Connected,
    /// The connection broke; trying again.
    Reconnecting,
    /// Trying for a while without success: the server cannot be reached (still trying).
    Unreachable,
    /// We left.
    Left,
    /// The meeting ended on an error (see [`Ended`]).
    Failed,
}

/// Whether the meeting is one to show the user yet. Someone whose link's room key nobody here
/// holds is not in a meeting, whatever the SFU says: they wait outside (a display keeps its join
/// screen) and are told so. Once in, a meeting stays in, reconnections and departures included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Not yet: connecting, or the others here have not proved to hold the room key.
    Waiting {
        /// Others here whose handshake with us is under way.
        checking: usize,
        /// Others here whose handshake failed: they do not hold our link's room key (or we
        /// not theirs). With `checking` at 0 and this above 0, nobody here shares it.
        strangers: usize,
    },
    /// In: we were alone once connected, someone here proved to hold the room key, or the user
    /// chose to go in ([`Command::GoIn`]).
    In,
}

/// Why the meeting ended early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndKind {
    /// The SFU refused us.
    SfuRefused,
    /// The SFU could not be reached or kept.
    ConnectionLost,
    /// Media only through TURN, and the TURN server gave no relay.
    NoRelay,
    /// The SFU's certificate is not trusted.
    Untrusted,
}

/// How the meeting ended early.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ended {
    /// Its kind, for a display to word.
    pub kind: EndKind,
    /// The details, in English.
    pub detail: String,
}

/// Something worth saying to the user (and to screen readers) as it happens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// Someone who was there when we came (named once their hello arrived).
    Present(String),
    /// Someone came (named once their hello arrived).
    Joined(String),
    /// Someone left.
    Left(String),
    /// Frames in someone's name were forged by another participant holding their key (and the
    /// SFU); those seen since were dropped.
    Forged(String),
}

/// What a display shows, as it changes.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Event {
    /// Our connection's state.
    Connection(Connection),
    /// Whether the meeting is one to show yet (it changed).
    Admission(Admission),
    /// A participant appeared or changed (name, mute, verification, presence). One whose
    /// presence is [`super::Presence::Left`] is gone.
    Participant(Box<Participant>),
    /// A row to take away without a notice: it was someone already shown, coming back.
    Merged {
        /// The row that goes.
        from: ParticipantId,
        /// Who it was.
        into: ParticipantId,
    },
    /// Worth saying.
    Notice(Notice),
    /// The active speaker changed.
    ActiveSpeaker(Option<ParticipantId>),
    /// Whose shared screen takes the stage: the newest share of someone present, else `None`.
    Stage(Option<ParticipantId>),
    /// A chat message arrived, or ours went out.
    Chat(ChatMessage),
    /// A chat message of ours could not go out.
    ChatNotSent {
        /// The addressee, for a private one.
        to: Option<ParticipantId>,
        /// Its text, so nothing typed is lost.
        text: String,
        /// Why.
        reason: super::chat::NotSent,
    },
    /// A reaction, someone's or ours (`from` = `None`).
    Reaction {
        /// Who.
        from: Option<ParticipantId>,
        /// Which, one of [`crate::REACTIONS`].
        emoji: String,
    },
    /// The group code changed: `None` while the members agree on a new one after a change of
    /// membership (docs/PROTOCOL.md §7), then the code to compare.
    GroupCode(Option<GroupCode>),
    /// Our own switches or what we send changed.
    Local(Local),
    /// The meeting ended early.
    Ended(Ended),
}

/// Our own side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Local {
    /// The microphone switch.
    pub audio_on: bool,
    /// The camera switch.
    pub video_on: bool,
    /// Audio actually going out (switched on, a microphone open, its track published).
    pub sending_audio: bool,
    /// Video actually going out.
    pub sending_video: bool,
    /// Our hand is raised.
    pub hand: bool,
    /// We seem to be talking while the microphone is switched off (half a second of speech).
    pub talking_while_muted: bool,
    /// We share a screen or a window.
    pub sharing: bool,
}

/// A chat message, ours or someone else's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatMessage {
    /// Who sent it (`None`: we did).
    pub from: Option<ParticipantId>,
    /// The sender's display name, as their hello says.
    pub name: Option<String>,
    /// Whether the sender is verified.
    pub verified: bool,
    /// Private: sealed to one participant alone.
    pub private: bool,
    /// For a private message of ours: to whom.
    pub to: Option<ParticipantId>,
    /// Plain text (a display must show it as text, never as markup).
    pub text: String,
}
