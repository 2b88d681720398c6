//! What a participant saw of the meeting, as `conclave join --stats-json` writes it.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::stats::{Percentiles, Samples};

/// Counts for one remote stream.
#[derive(Clone, Debug, Default)]
pub struct MediaTally {
    /// Frames that arrived whole (video: all packets of an access unit).
    pub frames_received: u64,
    /// Frames that authenticated and decrypted.
    pub frames_decrypted: u64,
    /// Frames dropped because they did not authenticate (wrong key, tampering).
    pub frames_dropped_auth: u64,
    /// Frames dropped for other reasons (replay, malformed, unknown key).
    pub frames_dropped_other: u64,
    /// Frames decoded.
    pub frames_decoded: u64,
    /// Video frames lost in transit (missing packets).
    pub frames_lost_in_transit: u64,
    /// The last frame number read from the synthetic pattern (it should keep advancing).
    pub last_frame_number: Option<u32>,
    /// Capture-to-decode latency, from the pattern's capture timestamps.
    pub latency: Samples,
    /// Wall-clock time of the last decoded frame, µs.
    pub last_decoded_us: Option<u64>,
    /// Longest time without a decoded frame once they started, µs (a freeze).
    pub longest_gap_us: u64,
    /// When the longest gap ended (wall clock, µs since the Unix epoch).
    pub longest_gap_end_us: Option<u64>,
}

impl MediaTally {
    /// Records a decoded frame at `now_us`.
    pub fn decoded(&mut self, now_us: u64) {
        self.frames_decoded += 1;
        if let Some(last) = self.last_decoded_us {
            let gap = now_us.saturating_sub(last);
            if gap > self.longest_gap_us {
                self.longest_gap_us = gap;
                self.longest_gap_end_us = Some(now_us);
            }
        }
        self.last_decoded_us = Some(now_us);
    }
}

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
    /// See [`MediaTally::last_frame_number`].
    pub last_frame_number: Option<u32>,
    /// End-to-end latency (video: capture to decoded picture).
    pub latency_ms: Percentiles,
    /// Longest freeze: time without a decoded frame once they started.
    pub longest_gap_ms: f64,
    /// When that freeze ended: the first frame after it (ms since the Unix epoch).
    pub longest_gap_ended_unix_ms: Option<u64>,
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
            last_frame_number: t.last_frame_number,
            latency_ms: t.latency.percentiles(),
            longest_gap_ms: t.longest_gap_us as f64 / 1000.0,
            longest_gap_ended_unix_ms: t.longest_gap_end_us.map(|us| us / 1000),
        }
    }
}

/// One remote participant (by pseudonym, which survives reconnects; SFU ids do not).
#[derive(Clone, Debug, Default)]
pub struct ParticipantTally {
    /// Their display name, from their encrypted control messages (the SFU never sees it).
    pub display_name: Option<String>,
    /// Whether they send audio (false: muted), as they announce it.
    pub sending_audio: Option<bool>,
    /// Whether they send video (false: camera off), as they announce it.
    pub sending_video: Option<bool>,
    /// Control messages received and understood.
    pub control_messages: u64,
    /// Control messages dropped (undecryptable or malformed).
    pub control_dropped: u64,
    /// Whether their handshake was confirmed (`None`: not finished yet).
    pub verified: Option<bool>,
    /// The safety number we share with them.
    pub safety_number: Option<String>,
    /// Why they could not be verified.
    pub verification_failure: Option<String>,
    /// The SFU ids this participant had.
    pub feeds: Vec<u64>,
    /// Video.
    pub video: MediaTally,
    /// Audio.
    pub audio: MediaTally,
    /// Whether they left.
    pub left: bool,
    /// How loud they are now (RMS of decoded audio, 0–1, falling slowly).
    pub audio_level: f32,
}

/// Where we stand with the SFU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    /// Joining for the first time.
    #[default]
    Connecting,
    /// In the room, media flowing.
    Connected,
    /// The connection dropped; trying again.
    Reconnecting,
    /// We left.
    Left,
    /// The meeting ended on an error (see `error`).
    Failed,
}

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
}

/// Everything a participant counts while in a meeting.
#[derive(Clone, Debug, Default)]
pub struct MeetingTally {
    /// Remote participants by pseudonym.
    pub participants: BTreeMap<String, ParticipantTally>,
    /// Pseudonym of each SFU id.
    pub feeds: BTreeMap<u64, String>,
    /// Our frames sent: video.
    pub video_frames_sent: u64,
    /// Our frames sent: audio.
    pub audio_frames_sent: u64,
    /// Times the connection to the SFU was re-established.
    pub reconnects: u32,
    /// Whether we seem to talk while muted.
    pub muted_speech: super::muted_speech::MutedSpeech,
    /// Signalling messages that were refused as malformed.
    pub malformed_signalling: u64,
    /// The meeting's group code as we see it now.
    pub group_code: Option<conclave_group::GroupCode>,
    /// Every group code we showed, oldest first (it changes with the membership).
    pub group_code_history: Vec<String>,
    /// Key-agreement counters.
    pub key_messages: conclave_group::GroupStats,
    /// Where we stand with the SFU.
    pub connection: Connection,
    /// Why the meeting ended early, if it did: its kind and the details.
    pub ended: Option<(ErrorKind, String)>,
    /// 20 ms frames of the others' mixed voices handed to our speaker.
    pub audio_frames_played: u64,
    /// What is wrong with our devices now (shared with capture and playback).
    pub device_problems: Option<super::capture::Problems>,
}

impl MeetingTally {
    /// The participant behind SFU id `feed`, created on first sight.
    pub fn by_feed(&mut self, feed: u64) -> &mut ParticipantTally {
        let name = self
            .feeds
            .entry(feed)
            .or_insert_with(|| format!("feed-{feed}"))
            .clone();
        let p = self.participants.entry(name).or_default();
        if !p.feeds.contains(&feed) {
            p.feeds.push(feed);
        }
        p
    }

    /// Records that SFU id `feed` is the participant with `pseudonym`.
    pub fn name_feed(&mut self, feed: u64, pseudonym: Option<String>) {
        let name = pseudonym.unwrap_or_else(|| format!("feed-{feed}"));
        self.feeds.insert(feed, name.clone());
        let p = self.participants.entry(name).or_default();
        p.left = false;
        if !p.feeds.contains(&feed) {
            p.feeds.push(feed);
        }
    }
}

/// A remote participant in the report.
#[derive(Clone, Debug, Serialize)]
pub struct ParticipantStats {
    /// The pseudonym they gave the SFU.
    pub pseudonym: String,
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
    /// Whether their handshake was confirmed: they hold the room secret and their identity key.
    pub verified: Option<bool>,
    /// The safety number we share with them.
    pub safety_number: Option<String>,
    /// Why they could not be verified.
    pub verification_failure: Option<String>,
    /// Their SFU ids (more than one after reconnects).
    pub feeds: Vec<u64>,
    /// Whether they left before we did.
    pub left: bool,
    /// How loud they are now (0–1): who is speaking.
    pub audio_level: f32,
    /// Their video.
    pub video: MediaStats,
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
    /// Whether our microphone is on.
    pub sending_audio: bool,
    /// Whether our camera is on.
    pub sending_video: bool,
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
    /// Audio frames we sent.
    pub audio_frames_sent: u64,
    /// 20 ms frames of the others' mixed voices played on our speaker (0 without one).
    pub audio_frames_played: u64,
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
    /// Our devices that could not be opened or stopped, the first of `warnings` as values (a
    /// display that words them and the participants' states itself, in its language, reads
    /// these instead of `warnings`).
    pub device_problems: Vec<super::DeviceProblem>,
}

impl MeetingTally {
    /// The report.
    pub fn report(&self, pseudonym: &str, switches: &super::Switches) -> MeetingStats {
        let now_us = conclave_media::wall_clock_us();
        let device_problems = self.device_problems.as_ref().map_or_else(Vec::new, |p| {
            p.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        });
        let mut warnings: Vec<String> = device_problems.iter().map(|p| p.to_string()).collect();
        for (name, p) in &self.participants {
            let received = p.video.frames_received + p.audio.frames_received;
            let decrypted = p.video.frames_decrypted + p.audio.frames_decrypted;
            if received > 0 && decrypted == 0 {
                warnings.push(format!(
                    "none of the {received} frames from {name} could be decrypted: \
                     a wrong room secret on one side?"
                ));
            }
            if let (Some(false), Some(why)) = (p.verified, &p.verification_failure) {
                warnings.push(format!("{name} is not verified and gets no keys: {why}"));
            }
        }
        MeetingStats {
            pseudonym: pseudonym.to_owned(),
            connection: self.connection,
            sending_audio: switches.audio(),
            sending_video: switches.video(),
            group_code: self.group_code.as_ref().map(|c| c.digits.clone()),
            group_code_emoji: self.group_code.as_ref().map(|c| c.emoji_string()),
            group_code_words: ["en", "de"]
                .into_iter()
                .filter_map(|lang| Some((lang, self.group_code.as_ref()?.emoji_names(lang))))
                .collect(),
            group_code_history: self.group_code_history.clone(),
            key_agreement: KeyAgreementStats {
                messages_sent: self.key_messages.messages_sent,
                messages_accepted: self.key_messages.messages_accepted,
                messages_refused: self.key_messages.messages_refused,
                key_changes: self.key_messages.key_changes,
            },
            participants: self
                .participants
                .iter()
                .map(|(name, p)| ParticipantStats {
                    pseudonym: name.clone(),
                    display_name: p.display_name.clone(),
                    sending_audio: p.sending_audio,
                    sending_video: p.sending_video,
                    control_messages: p.control_messages,
                    control_dropped: p.control_dropped,
                    verified: p.verified,
                    safety_number: p.safety_number.clone(),
                    verification_failure: p.verification_failure.clone(),
                    feeds: p.feeds.clone(),
                    left: p.left,
                    // Nothing heard for a while (muted, DTX silence): not speaking.
                    audio_level: match p.audio.last_decoded_us {
                        Some(t) if now_us.saturating_sub(t) < 500_000 => p.audio_level,
                        _ => 0.0,
                    },
                    video: (&p.video).into(),
                    audio: (&p.audio).into(),
                })
                .collect(),
            video_frames_sent: self.video_frames_sent,
            audio_frames_sent: self.audio_frames_sent,
            audio_frames_played: self.audio_frames_played,
            speaking_while_muted: self.muted_speech.talking(now_us),
            reconnects: self.reconnects,
            malformed_signalling: self.malformed_signalling,
            error: self.ended.as_ref().map(|(_, why)| why.clone()),
            error_kind: self.ended.as_ref().map(|(kind, _)| *kind),
            warnings,
            device_problems,
        }
    }
}
