//! `conclave join --chat-stdin`: each line of standard input is a chat message to everyone
//! (`/msg NAME text` sends privately to the participant called NAME, `/hand up`, `/hand down`,
//! `/react 👍`, `/mic on|off`, `/camera on|off`), and every message, hand and reaction is printed as a JSON line on standard output
//! (so are arrivals and departures: `{"type":"joined","name":…}`), so that scripts and tests can
//! take part in a meeting's chat.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use conclave_room::meeting::{Event, Notice, ParticipantId};
use serde_json::{Value, json};

use super::{Meeting, MeetingStats};

/// What one line typed asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// A message to everyone.
    All(String),
    /// A private message to the participant with this display name.
    To(String, String),
    /// Raise (true) or lower the hand.
    Hand(bool),
    /// A reaction.
    React(String),
    /// Microphone on (true) or off.
    Mic(bool),
    /// Camera on (true) or off.
    Camera(bool),
    /// Nothing (a blank line).
    Nothing,
}

impl Line {
    /// Reads one typed line.
    pub fn parse(line: &str) -> Line {
        let line = line.trim_end_matches(['\r', '\n']);
        if let Some(rest) = line.strip_prefix("/msg ") {
            let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
            return Line::To(name.to_owned(), text.to_owned());
        }
        match line {
            "/hand up" => Line::Hand(true),
            "/hand down" => Line::Hand(false),
            "/mic on" => Line::Mic(true),
            "/mic off" => Line::Mic(false),
            "/camera on" => Line::Camera(true),
            "/camera off" => Line::Camera(false),
            _ if line.starts_with("/react ") => Line::React(line["/react ".len()..].to_owned()),
            _ if line.trim().is_empty() => Line::Nothing,
            _ => Line::All(line.to_owned()),
        }
    }
}

/// Display names and raised hands as the events tell them.
#[derive(Default)]
struct Seen {
    names: BTreeMap<ParticipantId, String>,
    hands: BTreeMap<ParticipantId, bool>,
}

impl Seen {
    /// The JSON line for `event`, if it is one to print.
    fn line(&mut self, event: &Event) -> Option<Value> {
        let name_of = |names: &BTreeMap<ParticipantId, String>, id: Option<ParticipantId>| {
            id.and_then(|id| names.get(&id).cloned())
        };
        match event {
            Event::Participant(p) => {
                if let Some(n) = &p.name {
                    self.names.insert(p.id, n.clone());
                }
                let up = p.hand.is_some() && p.is_present();
                let before = self.hands.insert(p.id, up).unwrap_or(false);
                (before != up).then(
                    || json!({"type": "hand", "from": p.id.to_string(), "name": p.name, "up": up}),
                )
            }
            Event::Chat(m) => Some(json!({
                "type": "chat",
                "from": m.from.map(|id| id.to_string()),
                "name": m.name.clone().or_else(|| name_of(&self.names, m.from)),
                "verified": m.verified,
                "private": m.private,
                "text": m.text,
            })),
            Event::ChatNotSent { text, reason, .. } => Some(json!({
                "type": "not-sent",
                "text": text,
                "reason": format!("{reason:?}"),
            })),
            Event::Notice(notice) => {
                let (kind, name) = match notice {
                    Notice::Present(n) => ("present", n),
                    Notice::Joined(n) => ("joined", n),
                    Notice::Left(n) => ("left", n),
                    Notice::Forged(n) => ("forged", n),
                };
                Some(json!({"type": kind, "name": name}))
            }
            Event::Reaction { from, emoji } => Some(json!({
                "type": "reaction",
                "from": from.map(|id| id.to_string()),
                "name": name_of(&self.names, *from),
                "emoji": emoji,
            })),
            _ => None,
        }
    }
}

/// Runs `meeting` with its chat on standard input and output until it ends.
pub async fn run(meeting: Meeting) -> MeetingStats {
    let mut events = meeting.take_events();
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    // Standard input blocks: a thread of its own; its end does not end the meeting.
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(Line::parse(&line)).is_err() {
                break;
            }
        }
    });
    let mut seen = Seen::default();
    let mut out = std::io::stdout();
    loop {
        tokio::select! {
            event = async {
                match events.as_mut() {
                    Some(e) => e.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                let Some(event) = event else { break };
                if let Some(v) = seen.line(&event) {
                    let _ = writeln!(out, "{v}");
                    let _ = out.flush();
                }
            }
            Some(line) = lines.recv() => match line {
                Line::All(text) => meeting.send_chat(None, text),
                Line::To(name, text) => {
                    match seen.names.iter().find(|(_, n)| **n == name) {
                        Some((&id, _)) => meeting.send_chat(Some(id), text),
                        None => {
                            let v = json!({"type": "not-sent", "text": text, "reason": "NoSuchName"});
                            let _ = writeln!(out, "{v}");
                        }
                    }
                }
                Line::Hand(up) => meeting.raise_hand(up),
                Line::React(emoji) => meeting.react(emoji),
                Line::Mic(on) => meeting.set_audio(on),
                Line::Camera(on) => meeting.set_video(on),
                Line::Nothing => {}
            },
        }
    }
    meeting.finished().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_lines_are_read_as_meant() {
        assert_eq!(Line::parse("hallo\n"), Line::All("hallo".into()));
        assert_eq!(
            Line::parse("/msg bob nur für dich"),
            Line::To("bob".into(), "nur für dich".into())
        );
        assert_eq!(Line::parse("/hand up"), Line::Hand(true));
        assert_eq!(Line::parse("/hand down"), Line::Hand(false));
        assert_eq!(Line::parse("/react 👍"), Line::React("👍".into()));
        assert_eq!(Line::parse("/mic off"), Line::Mic(false));
        assert_eq!(Line::parse("/camera on"), Line::Camera(true));
        assert_eq!(Line::parse("   "), Line::Nothing);
    }
}
