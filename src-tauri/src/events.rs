//! The meeting's events as the page receives them (the Tauri event `meeting`): a translation,
//! nothing decided here. The page keeps the roster, the connection, the active speaker and the
//! group code from these and renders them; notices are read out as they come.

use conclave::client::Event;
use conclave_room::meeting::{
    Admission, Connection, EndKind, NotSent, Notice, Participant, Presence, Verification,
};
use serde::Serialize;

/// One participant as the page shows them.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantDto {
    /// Who (`p3`): the row's key.
    pub id: String,
    /// The frame feed of their camera's tile.
    pub feed: u64,
    /// Display name, once their encrypted hello arrived.
    pub name: Option<String>,
    /// `true` verified, `false` failed, `null` verifying.
    pub verified: Option<bool>,
    /// The safety number we share with them.
    pub safety_number: Option<String>,
    /// Why verification failed (a key of the page's strings).
    pub verification_failure: Option<&'static str>,
    /// Their microphone, as they say (`null`: not known yet).
    pub audio: Option<bool>,
    /// Their camera, as they say.
    pub video: Option<bool>,
    /// "present", "away" (reconnecting) or "left".
    pub presence: &'static str,
    /// Their hand is raised: the how-manieth hand we saw go up (for the order), else `null`.
    pub hand: Option<u64>,
}

impl From<&Participant> for ParticipantDto {
    fn from(p: &Participant) -> Self {
        let (verified, safety_number, verification_failure) = match &p.verification {
            Verification::Pending => (None, None, None),
            Verification::Verified { safety_number } => {
                (Some(true), Some(safety_number.clone()), None)
            }
            Verification::Failed { reason } => (Some(false), None, Some(*reason)),
        };
        ParticipantDto {
            id: p.id.to_string(),
            feed: p.id.0,
            name: p.name.clone(),
            verified,
            safety_number,
            verification_failure,
            audio: p.audio,
            video: p.video,
            presence: match p.presence {
                Presence::Present => "present",
                Presence::Away { .. } => "away",
                Presence::Left => "left",
            },
            hand: p.hand,
        }
    }
}

/// A meeting event for the page.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum PageEvent {
    /// Where the meeting stands: connecting, connected, reconnecting, unreachable, left, failed.
    Connection {
        /// The state.
        state: Connection,
    },
    /// Whether the meeting is one to show yet: `in`, or `waiting` while those here are checked
    /// (`checking`) or failed (`strangers`: they do not share the link's room key).
    Admission {
        /// `waiting` or `in`.
        state: &'static str,
        /// Others here whose handshake is under way.
        checking: usize,
        /// Others here without the link's room key.
        strangers: usize,
    },
    /// A participant appeared or changed (one whose presence is "left" is gone).
    Participant {
        /// Them.
        participant: ParticipantDto,
    },
    /// The row `from` is `into` coming back: it goes, without a notice.
    Merged {
        /// The row that goes.
        from: String,
        /// Who it was.
        into: String,
    },
    /// Someone was there when we came (by name).
    Present {
        /// Their name.
        name: String,
    },
    /// Someone came (by name).
    Joined {
        /// Their name.
        name: String,
    },
    /// Someone left.
    Left {
        /// Their name.
        name: String,
    },
    /// Frames forged in someone's name were found (and are dropped).
    Forged {
        /// Whose name they carried.
        name: String,
    },
    /// The participant on stage.
    Speaker {
        /// Who (`null`: nobody).
        id: Option<String>,
    },
    /// Whose shared screen is on the stage (the newest share).
    Stage {
        /// Who (`null`: nobody shares).
        id: Option<String>,
    },
    /// The group code (`null` digits and emoji while the members agree on a new one).
    GroupCode {
        /// 20 digits.
        digits: Option<String>,
        /// Seven emoji.
        emoji: Option<String>,
        /// The emoji's names, in English and German.
        words_en: Vec<&'static str>,
        /// The emoji's names in German.
        words_de: Vec<&'static str>,
    },
    /// A chat message, someone's or ours (`from` = `null`).
    Chat {
        /// Sender (`p3`), `null` for ours.
        from: Option<String>,
        /// The sender's display name.
        name: Option<String>,
        /// Whether the sender is verified.
        verified: bool,
        /// Sealed to one participant alone.
        private: bool,
        /// For a private message of ours: to whom (`p3`).
        to: Option<String>,
        /// Plain text (rendered as text, never as markup).
        text: String,
    },
    /// A chat message of ours did not go out.
    ChatNotSent {
        /// Its text, so nothing typed is lost.
        text: String,
        /// Why: unusable, not_connected, no_channel.
        reason: &'static str,
    },
    /// A reaction, someone's or ours (`from` = `null`).
    Reaction {
        /// Who (`p3`).
        from: Option<String>,
        /// Which.
        emoji: String,
    },
    /// Our own switches and what we send.
    Local {
        /// Microphone switch.
        audio_on: bool,
        /// Camera switch.
        video_on: bool,
        /// Audio actually going out.
        sending_audio: bool,
        /// Video actually going out.
        sending_video: bool,
        /// Our hand is raised.
        hand: bool,
        /// We share a screen or a window.
        sharing: bool,
    },
    /// The meeting ended early.
    Ended {
        /// Why: sfu_refused, connection_lost, no_relay.
        kind: &'static str,
    },
}

impl PageEvent {
    /// The page's form of a meeting event (`None`: nothing the page shows).
    pub fn of(event: &Event) -> Option<PageEvent> {
        Some(match event {
            Event::Connection(state) => PageEvent::Connection { state: *state },
            Event::Admission(Admission::In) => PageEvent::Admission {
                state: "in",
                checking: 0,
                strangers: 0,
            },
            Event::Admission(Admission::Waiting {
                checking,
                strangers,
            }) => PageEvent::Admission {
                state: "waiting",
                checking: *checking,
                strangers: *strangers,
            },
            Event::Participant(p) => PageEvent::Participant {
                participant: ParticipantDto::from(p.as_ref()),
            },
            Event::Merged { from, into } => PageEvent::Merged {
                from: from.to_string(),
                into: into.to_string(),
            },
            Event::Notice(Notice::Present(name)) => PageEvent::Present { name: name.clone() },
            Event::Notice(Notice::Joined(name)) => PageEvent::Joined { name: name.clone() },
            Event::Notice(Notice::Left(name)) => PageEvent::Left { name: name.clone() },
            Event::Notice(Notice::Forged(name)) => PageEvent::Forged { name: name.clone() },
            Event::ActiveSpeaker(id) => PageEvent::Speaker {
                id: id.map(|id| id.to_string()),
            },
            Event::Stage(id) => PageEvent::Stage {
                id: id.map(|id| id.to_string()),
            },
            Event::GroupCode(code) => PageEvent::GroupCode {
                digits: code.as_ref().map(|c| c.digits.clone()),
                emoji: code.as_ref().map(|c| c.emoji_string()),
                words_en: code.as_ref().map_or_else(Vec::new, |c| c.emoji_names("en")),
                words_de: code.as_ref().map_or_else(Vec::new, |c| c.emoji_names("de")),
            },
            Event::Local(l) => PageEvent::Local {
                audio_on: l.audio_on,
                video_on: l.video_on,
                sending_audio: l.sending_audio,
                sending_video: l.sending_video,
                hand: l.hand,
                sharing: l.sharing,
            },
            Event::Chat(m) => PageEvent::Chat {
                from: m.from.map(|id| id.to_string()),
                name: m.name.clone(),
                verified: m.verified,
                private: m.private,
                to: m.to.map(|id| id.to_string()),
                text: m.text.clone(),
            },
            Event::ChatNotSent { text, reason, .. } => PageEvent::ChatNotSent {
                text: text.clone(),
                reason: match reason {
                    NotSent::NotConnected => "not_connected",
                    NotSent::NoChannel => "no_channel",
                    _ => "unusable",
                },
            },
            Event::Reaction { from, emoji } => PageEvent::Reaction {
                from: from.map(|id| id.to_string()),
                emoji: emoji.clone(),
            },
            Event::Ended(e) => PageEvent::Ended {
                kind: match e.kind {
                    EndKind::SfuRefused => "sfu_refused",
                    EndKind::ConnectionLost => "connection_lost",
                    EndKind::NoRelay => "no_relay",
                    EndKind::Untrusted => "untrusted_server",
                },
            },
            _ => return None,
        })
    }
}

/// What a page needs to show the running meeting again after it was reloaded: the latest of each
/// kind of state the events carry (connection, each participant present, speaker, stage, group
/// code, our switches) — not the notices, chat or reactions, which were moments.
#[derive(Debug, Default)]
pub struct Replay {
    connection: Option<PageEvent>,
    admission: Option<PageEvent>,
    participants: Vec<PageEvent>,
    speaker: Option<PageEvent>,
    stage: Option<PageEvent>,
    code: Option<PageEvent>,
    local: Option<PageEvent>,
}

impl Replay {
    /// Keeps what `event` says about the meeting's state.
    pub fn record(&mut self, event: &PageEvent) {
        let id_of = |e: &PageEvent| match e {
            PageEvent::Participant { participant } => Some(participant.id.clone()),
            _ => None,
        };
        match event {
            PageEvent::Connection { .. } => self.connection = Some(event.clone()),
            PageEvent::Admission { .. } => self.admission = Some(event.clone()),
            PageEvent::Participant { participant } => {
                let at = self
                    .participants
                    .iter()
                    .position(|e| id_of(e).as_ref() == Some(&participant.id));
                match (at, participant.presence == "left") {
                    (Some(i), true) => {
                        self.participants.remove(i);
                    }
                    (Some(i), false) => self.participants[i] = event.clone(),
                    (None, false) => self.participants.push(event.clone()),
                    (None, true) => {}
                }
            }
            PageEvent::Merged { from, .. } => self
                .participants
                .retain(|e| id_of(e).as_ref() != Some(from)),
            PageEvent::Speaker { .. } => self.speaker = Some(event.clone()),
            PageEvent::Stage { .. } => self.stage = Some(event.clone()),
            PageEvent::GroupCode { .. } => self.code = Some(event.clone()),
            PageEvent::Local { .. } => self.local = Some(event.clone()),
            _ => {}
        }
    }

    /// The events that bring a fresh page to the meeting as it is, in order.
    pub fn events(&self) -> Vec<PageEvent> {
        self.connection
            .iter()
            .chain(&self.participants)
            .chain(&self.admission)
            .chain(&self.speaker)
            .chain(&self.stage)
            .chain(&self.code)
            .chain(&self.local)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bob(id: &str, presence: &'static str, name: &str) -> PageEvent {
        PageEvent::Participant {
            participant: ParticipantDto {
                id: id.into(),
                feed: 1,
                name: Some(name.into()),
                verified: Some(true),
                safety_number: None,
                verification_failure: None,
                audio: Some(true),
                video: Some(true),
                presence,
                hand: None,
            },
        }
    }

    #[test]
    fn a_reloaded_page_gets_the_meeting_as_it_is_not_as_it_was() {
        let mut replay = Replay::default();
        for e in [
            PageEvent::Connection {
                state: Connection::Connecting,
            },
            bob("p1", "present", "Bob"),
            bob("p2", "present", "Carol"),
            PageEvent::Joined { name: "Bob".into() },
            PageEvent::Connection {
                state: Connection::Connected,
            },
            PageEvent::Admission {
                state: "waiting",
                checking: 2,
                strangers: 0,
            },
            PageEvent::Admission {
                state: "in",
                checking: 0,
                strangers: 0,
            },
            bob("p1", "present", "Bobby"),
            bob("p2", "left", "Carol"),
            bob("p3", "present", "Dave"),
            PageEvent::Merged {
                from: "p3".into(),
                into: "p1".into(),
            },
            PageEvent::Speaker {
                id: Some("p1".into()),
            },
        ] {
            replay.record(&e);
        }
        assert_eq!(
            replay.events(),
            vec![
                PageEvent::Connection {
                    state: Connection::Connected
                },
                bob("p1", "present", "Bobby"),
                PageEvent::Admission {
                    state: "in",
                    checking: 0,
                    strangers: 0,
                },
                PageEvent::Speaker {
                    id: Some("p1".into())
                },
            ]
        );
    }

    #[test]
    fn events_reach_the_page_in_its_shape() {
        let json = |e: &Event| serde_json::to_value(PageEvent::of(e).unwrap()).unwrap();
        assert_eq!(
            json(&Event::Connection(Connection::Unreachable)),
            serde_json::json!({"type": "connection", "state": "unreachable"})
        );
        assert_eq!(
            json(&Event::Admission(Admission::Waiting {
                checking: 1,
                strangers: 2
            })),
            serde_json::json!({"type": "admission", "state": "waiting", "checking": 1, "strangers": 2})
        );
        assert_eq!(
            json(&Event::Notice(Notice::Joined("Jürgen".into()))),
            serde_json::json!({"type": "joined", "name": "Jürgen"})
        );
        assert_eq!(
            json(&Event::ActiveSpeaker(Some(
                conclave_room::meeting::ParticipantId(3)
            ))),
            serde_json::json!({"type": "speaker", "id": "p3"})
        );
    }
}
