//! The SFU-neutral boundary: what the meeting asks of an SFU ([`SfuRequest`]) and what an SFU
//! tells the meeting ([`SfuEvent`]), in terms every SFU can be mapped to. One adapter per SFU
//! dialect translates (Janus VideoRoom and Galène here; [`memory`] is an SFU in memory for tests); nothing
//! about a particular SFU leaks past its module.
//!
//! Handles are the SFU's names for things — a Janus feed id, a subscriber mid — and nothing more:
//! the meeting never takes a handle for a participant's identity. A handle the SFU reuses after
//! its owner left is a new appearance to the meeting.

pub mod galene;
pub mod janus;
pub mod memory;

/// An SFU's name for one participant's connection (a Janus feed id, a Galène client id mapped
/// to a number). Every participant in a room sees the same handle for the same connection;
/// a reconnection gets a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerHandle(pub u64);

/// An SFU's name for one track we receive (Janus: the mid in our subscriber connection). The SFU
/// may give the same handle to another participant's track later: [`SfuEvent::TrackAppeared`]
/// then says whose it is now.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TrackHandle(pub String);

/// Audio or video.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MediaKind {
    /// Audio (Opus).
    Audio,
    /// Video (H.264).
    Video,
}

/// One of our own tracks, numbered by the meeting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalTrackId(pub u8);

/// A track we publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTrack {
    /// Which of ours.
    pub id: LocalTrackId,
    /// Audio or video.
    pub kind: MediaKind,
}

/// Who data goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dest {
    /// Everyone else in the room.
    All,
    /// One participant's connection.
    One(PeerHandle),
}

/// Which of our media connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Link {
    /// The one we publish on.
    Publish,
    /// The one we receive on.
    Subscribe,
}

/// How a media connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Being set up (ICE, DTLS).
    Connecting,
    /// Media can flow.
    Connected,
    /// Gone for good: the meeting reconnects.
    Failed,
}

/// What the meeting asks of the SFU.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SfuRequest {
    /// Connect to the SFU and join the room (the adapter knows which, from the link).
    Connect,
    /// Leave the room and close every connection to the SFU.
    Disconnect,
    /// Publish these tracks (together with the data path, on the first publish); later
    /// publishes add tracks without rejoining.
    Publish(Vec<LocalTrack>),
    /// Stop publishing a track.
    Unpublish(LocalTrackId),
    /// Receive everything a participant publishes.
    Subscribe(PeerHandle),
    /// Stop receiving a participant.
    Unsubscribe(PeerHandle),
    /// Relay these bytes.
    SendData {
        /// To whom.
        to: Dest,
        /// What (opaque to the SFU: key-agreement messages and encrypted control messages).
        bytes: Vec<u8>,
    },
}

/// What the SFU tells the meeting.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SfuEvent {
    /// We are in the room under handle `me`; `present` were there before us.
    Joined {
        /// Our own handle.
        me: PeerHandle,
        /// Who was already there, with the label each gave the SFU.
        present: Vec<(PeerHandle, Option<String>)>,
    },
    /// A participant's connection appeared.
    PeerAppeared {
        /// Its handle.
        peer: PeerHandle,
        /// What it calls itself at the SFU (a pseudonym; anyone can claim any label).
        label: Option<String>,
    },
    /// A participant's connection went away.
    PeerGone(PeerHandle),
    /// A track we receive now carries `peer`'s media (new, or a slot the SFU reused).
    TrackAppeared {
        /// The track.
        track: TrackHandle,
        /// Whose.
        peer: PeerHandle,
        /// Audio or video.
        kind: MediaKind,
    },
    /// A track we received is gone.
    TrackGone(TrackHandle),
    /// Bytes relayed from a participant (the SFU says from whom; it may lie).
    Data {
        /// The sending connection, as the SFU names it.
        from: PeerHandle,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// One of our media connections changed state.
    Link {
        /// Which.
        link: Link,
        /// How it stands now.
        state: LinkState,
    },
    /// The connection to the SFU ended.
    Failed(SfuFailure),
}

/// Why the connection to the SFU ended.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SfuFailure {
    /// The SFU refused us (a wrong PIN, a full room): trying again will not help.
    #[error("the SFU refused us: {0}")]
    Refused(String),
    /// The SFU's TLS certificate is not one we trust (a wrong server, an interception, or an
    /// authority the settings do not name): trying again will not help.
    #[error("{0}")]
    Untrusted(String),
    /// Media only through a TURN relay, and the TURN server gave no relay: the settings must change.
    #[error(
        "the TURN server gave no relay address: it refused the user name or password, or did not answer"
    )]
    NoRelay,
    /// The connection broke (network, SFU restart, a protocol error): reconnect.
    #[error("{0}")]
    Lost(String),
}
