//! Who is in the meeting: participants as the meeting knows them, keyed by [`ParticipantId`] —
//! one per verified identity, or one per appearance for those not (yet) verified — never by an
//! SFU's handle or the label a client gives the SFU.

use std::time::Instant;

use crate::sfu::PeerHandle;

/// A participant as this meeting knows it. Someone who verifies with an identity key seen before
/// in this meeting (after a reconnection, theirs or ours) is the same participant again; anyone
/// else, whatever label they give the SFU, is a participant of their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ParticipantId(pub u64);

impl std::fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "p{}", self.0)
    }
}

/// Whether a participant proved who they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verification {
    /// The handshake is under way.
    Pending,
    /// They hold the room secret and their identity key.
    Verified {
        /// What the two of us can compare out of band.
        safety_number: String,
    },
    /// The handshake failed: they get no keys.
    Failed {
        /// Why, for the user (an English sentence; a display words it from the kind).
        reason: &'static str,
    },
}

/// Whether a participant is here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    /// Connected to the SFU.
    Present,
    /// Their connection (or ours) went away without a goodbye: probably reconnecting.
    Away {
        /// Since when.
        since: Instant,
    },
    /// Gone: said goodbye, or away for too long.
    Left,
}

/// One participant.
#[derive(Clone, Debug)]
pub struct Participant {
    /// Who, to this meeting.
    pub id: ParticipantId,
    /// Their current connection at the SFU, while present.
    pub handle: Option<PeerHandle>,
    /// Every connection they had (more than one after reconnections).
    pub handles: Vec<PeerHandle>,
    /// The label their current connection gave the SFU (a pseudonym; anyone can claim any).
    pub label: Option<String>,
    /// Their identity key, once verified.
    pub identity: Option<[u8; 32]>,
    /// Where their handshake stands.
    pub verification: Verification,
    /// Their display name, from their encrypted hello.
    pub name: Option<String>,
    /// Whether they send audio (false: muted), as their hello says.
    pub audio: Option<bool>,
    /// Whether they send video (false: camera off), as their hello says.
    pub video: Option<bool>,
    /// Whether they are here.
    pub presence: Presence,
    /// How loud they are now (0–1), as the receiving side measured it last.
    pub level: f32,
    /// Control messages understood.
    pub control_messages: u64,
    /// Control messages dropped (undecryptable, malformed).
    pub control_dropped: u64,
    /// Frames in their name found forged by their own signed statements.
    pub forged: u64,
    /// Their hand is raised: the how-manieth hand we saw go up in this meeting (for the order).
    pub hand: Option<u64>,
    /// Chat messages and reactions of theirs dropped (over their rate, malformed).
    pub chat_dropped: u64,
    pub(crate) chat_allowance: Option<super::chat::Bucket>,
    pub(crate) reaction_allowance: Option<super::chat::Bucket>,
    /// They were in the room when we joined (so not announced as joining).
    pub was_there: bool,
    /// Shown to the user yet (a fresh, unverified appearance is held back briefly, since it
    /// may turn out to be someone known coming back).
    pub(crate) shown: bool,
    /// Their arrival (or presence, for those there before us) was announced.
    pub(crate) announced: bool,
    /// When this appearance began.
    pub(crate) since: Instant,
    /// When we last heard from them authentically (verified, or a control message under their
    /// key): a verified participant silent for too long is treated as gone.
    pub(crate) heard: Option<Instant>,
    /// The newest key generation they gave us (older ones are retired after a while).
    pub(crate) generation: Option<u64>,
}

impl Participant {
    pub(crate) fn new(
        id: ParticipantId,
        handle: PeerHandle,
        label: Option<String>,
        was_there: bool,
        now: Instant,
    ) -> Participant {
        Participant {
            id,
            handle: Some(handle),
            handles: vec![handle],
            label,
            identity: None,
            verification: Verification::Pending,
            name: None,
            audio: None,
            video: None,
            presence: Presence::Present,
            level: 0.0,
            control_messages: 0,
            control_dropped: 0,
            forged: 0,
            hand: None,
            chat_dropped: 0,
            chat_allowance: None,
            reaction_allowance: None,
            was_there,
            shown: false,
            announced: false,
            since: now,
            heard: None,
            generation: None,
        }
    }

    /// Whether they are connected now.
    pub fn is_present(&self) -> bool {
        self.presence == Presence::Present
    }

    /// Whether they verified.
    pub fn is_verified(&self) -> bool {
        matches!(self.verification, Verification::Verified { .. })
    }

    /// Whether they could be speaking: present, audio not announced as off.
    pub(crate) fn audible(&self) -> bool {
        self.is_present() && self.audio != Some(false)
    }
}
