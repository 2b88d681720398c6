//! What a participant saw of the meeting, as `conclave join --stats-json` writes it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::tally::MediaTally;
use crate::stats::Percentiles;

/// [`MediaTally`] for the JSON report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MediaStats {
    /// See [`MediaTally::frames_received`].
    pub frames_received: u64,
    /// See [`MediaTally::frames_decrypted`].
    pub frames_decrypted: u64,
    /// See [`MediaTally::frames_dropped_auth`].
    pub frames_dropped_auth: u64,
    /// See [`MediaTally::frames_dropped_other`].
    pub frames_dropped_other: u64,
    /// See [`MediaTally::frames_decoded`].
    pub frames_decoded: u64,
    /// See [`MediaTally::frames_lost_in_transit`].
    pub frames_lost_in_transit: u64,
    /// See [`MediaTally::packets_recovered`].
    pub packets_recovered: u64,
    /// See [`MediaTally::frames_concealed`].
    pub frames_concealed: u64,
    /// See [`MediaTally::frames_late`].
    pub frames_late: u64,
    /// When the first frame decoded (ms since the Unix epoch): how long keys and a keyframe
    /// took to arrive.
    pub first_decoded_unix_ms: Option<u64>,
    /// See [`MediaTally::last_frame_number`].
    pub last_frame_number: Option<u32>,
    /// End-to-end latency (video: capture to decoded picture).
    pub latency_ms: Percentiles,
    /// Longest freeze: time without a decoded frame once they started.
    pub longest_gap_ms: f64,
    /// When that freeze ended: the first frame after it (ms since the Unix epoch).
    pub longest_gap_ended_unix_ms: Option<u64>,
    /// See [`MediaTally::share`].
    pub share: bool,
    /// See [`MediaTally::share_frames`].
    pub share_frames: u64,
}

impl From<&MediaTally> for MediaStats {
    fn from(t: &MediaTally) -> Self {
        MediaStats {
            frames_received: t.frames_received,
            frames_decrypted: t.frames_decrypted,
            frames_dropped_auth: t.frames_dropped_auth,
            frames_dropped_other: t.frames_dropped_other,
            frames_decoded: t.frames_decoded,
            frames_lost_in_transit: t.frames_lost_in_transit,
            packets_recovered: t.packets_recovered,
            frames_concealed: t.frames_concealed,
            frames_late: t.frames_late,
            first_decoded_unix_ms: t.first_decoded_us.map(|us| us / 1000),
            last_frame_number: t.last_frame_number,
            latency_ms: t.latency.percentiles(),
            longest_gap_ms: t.longest_gap_us as f64 / 1000.0,
            longest_gap_ended_unix_ms: t.longest_gap_end_us.map(|us| us / 1000),
            share: t.share,
            share_frames: t.share_frames,
        }
    }
}

/// Where we stand with the SFU (the meeting's view).
pub use conclave_room::meeting::Connection;

/// Why a meeting ended early, for a display to word in its own language (`error` has the
/// details, in English).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The SFU refused us (a wrong PIN, a full room, ...).
    SfuRefused,
    /// The SFU could not be reached or kept, until we gave up.
    ConnectionLost,
    /// Media only through a TURN relay was asked for, but none is configured.
    NoTurnServer,
    /// A configured STUN/TURN server cannot be used (malformed, or TURN without a login).
    BadIceServer,
    /// The TURN server gave us no relay address (refused our credentials or did not answer).
    NoRelay,
    /// The SFU's TLS certificate is not trusted (`error` names the server).
    UntrustedServer,
    /// The extra certificate authority given in the settings or on the command line is unusable.
    BadCa,
}

/// A remote participant in the report.
#[derive(Clone, Debug, Serialize)]
pub struct ParticipantStats {
    /// Who they are in this meeting (`p1`, `p2`, …): one per verified identity, one per
    /// appearance for the unverified.
    pub id: String,
    /// Their identity key (hex), once verified.
    pub identity: Option<String>,
    /// The label their connection gave the SFU (a pseudonym; anyone can claim any).
    pub pseudonym: Option<String>,
    /// "present", "away" (reconnecting) or "left".
    pub presence: &'static str,
    /// Their display name, if their encrypted control messages reached us.
    pub display_name: Option<String>,
    /// Whether they send audio, as announced.
    pub sending_audio: Option<bool>,
    /// Whether they send video, as announced.
    pub sending_video: Option<bool>,
    /// Control messages understood.
    pub control_messages: u64,
    /// Control messages dropped.
    pub control_dropped: u64,
    /// Frames in their name that their own signed statements showed to be forged.
    pub frames_forged: u64,
    /// Their signed statements of frames that verified (since their keys last started afresh).
    pub frame_statements: u64,
    /// Frames dropped as contradicting their statements, or numbered too far past them.
    pub frames_refused_unsigned: u64,
    /// Whether their handshake was confirmed: they hold the room secret and their identity key.
    pub verified: Option<bool>,
    /// The safety number we share with them.
    pub safety_number: Option<String>,
    /// Why they could not be verified.
    pub verification_failure: Option<String>,
    /// Their connections' SFU handles (more than one after reconnects).
    pub handles: Vec<u64>,
    /// Whether they left before we did.
    pub left: bool,
    /// How loud they are now (0–1): who is speaking.
    pub audio_level: f32,
    /// Their (first) video track: their camera.
    pub video: MediaStats,
    /// Every video track of theirs, the camera first.
    pub video_tracks: Vec<MediaStats>,
    /// The display's feed of their share, while they share a screen or a window (a track
    /// whose frames are sealed as a share).
    pub share_feed: Option<u64>,
    /// Their audio.
    pub audio: MediaStats,
}

/// Key-agreement counters in the report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct KeyAgreementStats {
    /// Messages we broadcast.
    pub messages_sent: u64,
    /// Messages for us that were accepted.
    pub messages_accepted: u64,
    /// Messages refused (malformed, unauthentic, failed handshakes).
    pub messages_refused: u64,
    /// Times our sending key changed.
    pub key_changes: u64,
}

/// The report `conclave join --stats-json` writes.
#[derive(Clone, Debug, Serialize)]
pub struct MeetingStats {
    /// Our pseudonym at the SFU.
    pub pseudonym: String,
    /// Where we stand with the SFU.
    pub connection: Connection,
    /// Who is speaking (the participant on stage), by id.
    pub active_speaker: Option<String>,
    /// Whether our microphone is on.
    pub sending_audio: bool,
    /// Whether our camera is on.
    pub sending_video: bool,
    /// Whether we share a screen or a window.
    pub sharing: bool,
    /// The group verification code over everyone verified and us (digits).
    pub group_code: Option<String>,
    /// The same code as seven emoji.
    pub group_code_emoji: Option<String>,
    /// The emoji's names, to read the code out: by language ("en", "de").
    pub group_code_words: BTreeMap<&'static str, Vec<&'static str>>,
    /// Every group code shown during the meeting, oldest first.
    pub group_code_history: Vec<String>,
    /// Key-agreement messages sent, accepted and refused, and our key changes.
    pub key_agreement: KeyAgreementStats,
    /// Remote participants.
    pub participants: Vec<ParticipantStats>,
    /// Video frames we sent.
    pub video_frames_sent: u64,
    /// Keyframes among them (the first, the periodic ones, and those asked for).
    pub keyframes_sent: u64,
    /// Their encoded bytes (what the encoders made of the rates they were given).
    pub video_bytes_sent: u64,
    /// Keyframe requests (PLI) we sent for the others' video.
    pub keyframe_requests_sent: u64,
    /// Keyframe requests for our video that reached us through the SFU.
    pub keyframe_requests_received: u64,
    /// What the congestion control of our publishing connection estimates the path to the SFU
    /// carries, in bits per second (0 before its first estimate).
    pub send_estimate_bps: u32,
    /// The rate our camera's encoder is asked for now (0 while the picture is paused, the link
    /// carrying too little beside the audio, or held until the first key exchange).
    pub video_bitrate_bps: u32,
    /// Audio frames we sent.
    pub audio_frames_sent: u64,
    /// 20 ms frames of the others' mixed voices played on our speaker (0 without one).
    pub audio_frames_played: u64,
    /// Times the speaker ran dry while playing (each an audible gap).
    pub audio_playback_gaps: u64,
    /// 20 ms frames skipped because the speaker's queue stood too long (each a short cut, which
    /// brings what is heard back to its usual delay).
    pub audio_playback_skipped: u64,
    /// Whether we seem to be talking while our microphone is off (a display says "you are
    /// muted").
    pub speaking_while_muted: bool,
    /// Reconnections to the SFU.
    pub reconnects: u32,
    /// Refused signalling messages.
    pub malformed_signalling: u64,
    /// Why the meeting ended early, if it did.
    pub error: Option<String>,
    /// What kind of reason `error` is.
    pub error_kind: Option<ErrorKind>,
    /// Things the user should know (no camera, undecryptable participants, ...), in English.
    pub warnings: Vec<String>,
    /// What is wrong with participants who are here, as values for a display to word.
    pub troubles: Vec<Trouble>,
    /// Our devices that could not be opened or stopped, the first of `warnings` as values (a
    /// display that words them and the participants' states itself, in its language, reads
    /// these instead of `warnings`).
    pub device_problems: Vec<super::DeviceProblem>,
}

impl MeetingStats {
    /// The report of a meeting that is only starting.
    pub fn starting(pseudonym: &str, audio_on: bool, video_on: bool) -> MeetingStats {
        MeetingStats {
            pseudonym: pseudonym.to_owned(),
            connection: Connection::Connecting,
            active_speaker: None,
            sending_audio: audio_on,
            sending_video: video_on,
            sharing: false,
            group_code: None,
            group_code_emoji: None,
            group_code_words: BTreeMap::new(),
            group_code_history: Vec::new(),
            key_agreement: KeyAgreementStats::default(),
            participants: Vec::new(),
            video_frames_sent: 0,
            keyframes_sent: 0,
            video_bytes_sent: 0,
            keyframe_requests_sent: 0,
            keyframe_requests_received: 0,
            send_estimate_bps: 0,
            video_bitrate_bps: 0,
            audio_frames_sent: 0,
            audio_frames_played: 0,
            audio_playback_gaps: 0,
            audio_playback_skipped: 0,
            speaking_while_muted: false,
            reconnects: 0,
            malformed_signalling: 0,
            error: None,
            error_kind: None,
            warnings: Vec::new(),
            troubles: Vec::new(),
            device_problems: Vec::new(),
        }
    }
}

/// Something wrong with a participant who is here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trouble {
    /// Frames arrive from them, none decrypts: a wrong room secret on one side?
    Undecryptable {
        /// Their name, or their id while nameless.
        name: String,
        /// Frames that arrived.
        frames: u64,
    },
    /// Their handshake failed: they get no keys.
    NotVerified {
        /// Their name, or their id while nameless.
        name: String,
        /// Why (the key agreement's words).
        reason: String,
    },
}

/// What a report is made of: the meeting's decisions and the media side's measurements.
pub struct ReportParts<'a> {
    /// The meeting.
    pub meeting: &'a conclave_room::meeting::Meeting,
    /// What arrived from each participant.
    pub remotes: &'a std::collections::HashMap<
        conclave_room::meeting::ParticipantId,
        std::sync::Arc<super::receive::Remote>,
    >,
    /// Our pseudonym at the SFU.
    pub pseudonym: &'a str,
    /// What went out.
    pub sent: super::send::Sent,
    /// Frames of the others' voices played.
    pub audio_frames_played: u64,
    /// Times the speaker ran dry while playing (each an audible gap).
    pub audio_playback_gaps: u64,
    /// 20 ms frames skipped because the speaker's queue stood too long (each a short cut, which
    /// brings what is heard back to its usual delay).
    pub audio_playback_skipped: u64,
    /// Refused signalling messages.
    pub malformed_signalling: u64,
    /// Our devices' problems.
    pub device_problems: Vec<super::DeviceProblem>,
    /// Why the meeting ended early, if it did (the meeting's reason, or one found before it
    /// began).
    pub ended: Option<(ErrorKind, String)>,
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ErrorKind {
    /// The kind of a meeting's own ending.
    pub fn of(kind: conclave_room::meeting::EndKind) -> ErrorKind {
        use conclave_room::meeting::EndKind;
        match kind {
            EndKind::SfuRefused => ErrorKind::SfuRefused,
            EndKind::ConnectionLost => ErrorKind::ConnectionLost,
            EndKind::NoRelay => ErrorKind::NoRelay,
            EndKind::Untrusted => ErrorKind::UntrustedServer,
        }
    }
}

/// The report.
pub fn report(parts: &ReportParts<'_>) -> MeetingStats {
    use conclave_room::meeting::{Presence, Verification};
    let m = parts.meeting;
    let mut warnings: Vec<String> = parts
        .device_problems
        .iter()
        .map(|p| p.to_string())
        .collect();
    let participants: Vec<ParticipantStats> = m
        .participants()
        .map(|p| {
            let remote = parts.remotes.get(&p.id);
            let audio = remote
                .map(|r| MediaStats::from(&*lock(&r.audio)))
                .unwrap_or_default();
            let video_tracks: Vec<MediaStats> = remote
                .map(|r| {
                    lock(&r.videos)
                        .iter()
                        .map(|(_, t)| MediaStats::from(&*lock(t)))
                        .collect()
                })
                .unwrap_or_default();
            let (verified, safety_number, verification_failure) = match &p.verification {
                Verification::Pending => (None, None, None),
                Verification::Verified { safety_number } => {
                    (Some(true), Some(safety_number.clone()), None)
                }
                Verification::Failed { reason } => (Some(false), None, Some((*reason).to_owned())),
            };
            ParticipantStats {
                id: p.id.to_string(),
                identity: p.identity.map(hex::encode),
                pseudonym: p.label.clone(),
                presence: match p.presence {
                    Presence::Present => "present",
                    Presence::Away { .. } => "away",
                    Presence::Left => "left",
                },
                display_name: p.name.clone(),
                sending_audio: p.audio,
                sending_video: p.video,
                control_messages: p.control_messages,
                control_dropped: p.control_dropped,
                frames_forged: p.forged,
                frame_statements: remote.map_or(0, |r| r.attested().0),
                frames_refused_unsigned: remote.map_or(0, |r| r.attested().1),
                verified,
                safety_number,
                verification_failure,
                handles: p.handles.iter().map(|h| h.0).collect(),
                left: p.presence == Presence::Left,
                audio_level: p.level,
                video: video_tracks.first().cloned().unwrap_or_default(),
                share_feed: video_tracks
                    .iter()
                    .position(|t| t.share)
                    .map(|n| super::receive::feed_of(p.id, n)),
                video_tracks,
                audio,
            }
        })
        .collect();
    let mut troubles = Vec::new();
    for p in &participants {
        let name = p.display_name.clone().unwrap_or_else(|| p.id.clone());
        let received = p.video.frames_received + p.audio.frames_received;
        let decrypted = p.video.frames_decrypted + p.audio.frames_decrypted;
        if received > 0 && decrypted == 0 {
            warnings.push(format!(
                "none of the {received} frames from {name} could be decrypted: \
                 a wrong room secret on one side?"
            ));
            if !p.left {
                troubles.push(Trouble::Undecryptable {
                    name: name.clone(),
                    frames: received,
                });
            }
        }
        if let (Some(false), Some(why)) = (p.verified, &p.verification_failure) {
            warnings.push(format!("{name} is not verified and gets no keys: {why}"));
            if !p.left {
                troubles.push(Trouble::NotVerified {
                    name,
                    reason: why.clone(),
                });
            }
        }
    }
    let code = m.group_code();
    let keys = m.key_stats();
    let local = m.local();
    let ended = parts
        .ended
        .clone()
        .or_else(|| m.ended().map(|e| (ErrorKind::of(e.kind), e.detail.clone())));
    MeetingStats {
        pseudonym: parts.pseudonym.to_owned(),
        connection: if parts.ended.is_some() {
            Connection::Failed
        } else {
            m.connection()
        },
        active_speaker: m.active_speaker().map(|id| id.to_string()),
        sending_audio: local.audio_on,
        sending_video: local.video_on,
        sharing: local.sharing,
        group_code: code.map(|c| c.digits.clone()),
        group_code_emoji: code.map(|c| c.emoji_string()),
        group_code_words: ["en", "de"]
            .into_iter()
            .filter_map(|lang| Some((lang, code?.emoji_names(lang))))
            .collect(),
        group_code_history: m.group_code_history().to_vec(),
        key_agreement: KeyAgreementStats {
            messages_sent: keys.messages_sent,
            messages_accepted: keys.messages_accepted,
            messages_refused: keys.messages_refused,
            key_changes: keys.key_changes,
        },
        participants,
        video_frames_sent: parts.sent.video_frames,
        keyframes_sent: parts.sent.keyframes,
        video_bytes_sent: parts.sent.video_bytes,
        keyframe_requests_sent: parts.sent.keyframe_requests,
        keyframe_requests_received: parts.sent.keyframes_asked,
        send_estimate_bps: parts.sent.estimate_bps,
        video_bitrate_bps: parts.sent.video_bitrate_bps,
        audio_frames_sent: parts.sent.audio_frames,
        audio_frames_played: parts.audio_frames_played,
        audio_playback_gaps: parts.audio_playback_gaps,
        audio_playback_skipped: parts.audio_playback_skipped,
        speaking_while_muted: local.talking_while_muted,
        reconnects: m.reconnects(),
        malformed_signalling: parts.malformed_signalling,
        error: ended.as_ref().map(|(_, why)| why.clone()),
        error_kind: ended.as_ref().map(|(kind, _)| *kind),
        warnings,
        troubles,
        device_problems: parts.device_problems.clone(),
    }
}
