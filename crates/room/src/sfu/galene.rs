//! Galène (protocol version 2, `README.PROTOCOL` in Galène's sources) over its WebSocket, sans-IO:
//! text messages and time in, text messages to send and [`GaleneEvent`]s out. The caller (the
//! client's Galène adapter) owns the WebSocket and the PeerConnections — one per stream, in both
//! directions, as Galène wants; this owns the handshake, joining, the roster, keepalives and the
//! relay of our opaque bytes as `usermessage`s (Galène has no data channels).
//!
//! ```text
//! handshake → join (group, pseudonym, password) → joined → user add… → request all streams
//!   → offer (ours, per stream) ⇄ answer + ice         offer (theirs, per stream) ⇄ answer + ice
//!   usermessage kind "conclave" (base64) to one client or to all; the server names the sender
//! ```
//!
//! A meeting is a subgroup of the group the link's address names (`…/group/NAME/` → group
//! `NAME/<room number>`): the group's description must allow subgroups. Galène's client ids are
//! strings; handles are a hash of them, which every participant computes alike.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::SignalError;

/// Largest message accepted from Galène: an SDP offer is a few kilobytes, our key-agreement
/// messages a few more (in base64).
pub const MAX_MESSAGE: usize = 256 * 1024;
/// How often we ping Galène (it drops clients silent for 75 s; we give up on a Galène silent
/// for [`SILENCE_LIMIT`], and its pongs keep it talking).
pub const PING_EVERY: Duration = Duration::from_secs(10);
/// A Galène silent this long (not even answering pings) is gone.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(30);
/// How long joining may take.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(10);
/// After `joined`, Galène lists everyone present (`user add`, one message each, at once); this
/// long after the last of them we say who was there.
pub const ROSTER_GATHER: Duration = Duration::from_millis(100);
/// The `usermessage` kind our bytes travel as.
pub const DATA_KIND: &str = "conclave";
/// The largest number of clients in a group we keep track of.
pub const MAX_CLIENTS: usize = 1024;

/// The group a Galène address names: `NAME` in `scheme://host/group/NAME/` (the group's page, as
/// Galène shows it in its web interface). `None` when the address names no group.
pub fn group_of(url: &url::Url) -> Option<String> {
    let name = url
        .path()
        .strip_prefix("/group/")?
        .trim_end_matches('/')
        .to_owned();
    let usable = !name.is_empty()
        && !name.starts_with('.')
        && name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && !name.chars().any(|c| c.is_control() || c == '\\');
    (usable && url.query().is_none()).then_some(name)
}

/// Where Galène's WebSocket is for the group page `url`: `/ws` on the same server.
pub fn endpoint_of(url: &url::Url) -> String {
    let mut ws = url.clone();
    ws.set_path("/ws");
    ws.set_query(None);
    ws.to_string()
}

/// The meeting's group: a subgroup of the link's group named by the room's number (the same
/// number Janus would use; the room name itself never reaches the server).
pub fn meeting_group(group: &str, room: &str) -> String {
    format!("{group}/{}", super::janus::room_number(room))
}

/// The handle every participant gives the Galène client `id`.
pub fn handle_of(id: &str) -> u64 {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"conclave galene client id\0");
    ctx.update(id.as_bytes());
    let digest = ctx.finish();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_ref()[..8]);
    u64::from_be_bytes(first)
}

/// What to join.
#[derive(Clone)]
pub struct JoinConfig {
    /// The Galène group (see [`meeting_group`]).
    pub group: String,
    /// What Galène gets as our user name: a random per-meeting pseudonym, never a real name.
    pub username: String,
    /// The group's password, if it has one (the link's PIN).
    pub password: Option<String>,
    /// Our client id (random, new for every connection).
    pub id: String,
}

impl std::fmt::Debug for JoinConfig {
    // Group names name meetings; passwords are secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JoinConfig(<redacted>)")
    }
}

/// An ICE candidate Galène trickles.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Candidate {
    /// The `candidate:` attribute.
    pub candidate: String,
    /// The m-line's mid.
    #[serde(rename = "sdpMid")]
    pub sdp_mid: Option<String>,
    /// The m-line's index.
    #[serde(rename = "sdpMLineIndex")]
    pub sdp_mline_index: Option<u16>,
    /// The ICE user fragment.
    #[serde(rename = "usernameFragment")]
    pub username_fragment: Option<String>,
}

/// What the caller must act on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GaleneEvent {
    /// We are in the group as `me`; `present` (client id, user name) were there before us.
    Joined {
        /// Our client id.
        me: String,
        /// Who was there.
        present: Vec<(String, Option<String>)>,
    },
    /// A client joined the group.
    UserAdded {
        /// Its id.
        id: String,
        /// The user name it gave Galène.
        username: Option<String>,
    },
    /// A client left the group.
    UserGone {
        /// Its id.
        id: String,
    },
    /// Galène offers a stream of another client's (new, or renegotiated when `stream` is known):
    /// answer with [`GaleneSession::answer`].
    Offer {
        /// The stream's id.
        stream: String,
        /// The client whose stream it is.
        source: String,
        /// The SDP offer.
        sdp: String,
    },
    /// Galène answered our offer for `stream`.
    Answer {
        /// Our stream.
        stream: String,
        /// The SDP answer.
        sdp: String,
    },
    /// A remote ICE candidate for `stream` (either direction).
    Ice {
        /// Which stream's connection.
        stream: String,
        /// The candidate.
        candidate: Candidate,
    },
    /// Galène closed a stream it sent us.
    Closed {
        /// Which.
        stream: String,
    },
    /// Galène refuses or ended one of our streams: close it.
    Aborted {
        /// Which.
        stream: String,
    },
    /// Bytes from another client (Galène vouches for `from`; it may lie).
    Data {
        /// The sending client's id.
        from: String,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// The session cannot go on.
    Failed(Failure),
}

/// Why the session ended.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// Galène refused us (no such group, a wrong password, a full group) or an operator sent us
    /// away: retrying will not help.
    #[error("{0}")]
    Refused(String),
    /// Galène went silent or left us: reconnect.
    #[error("the SFU session was lost: {0}")]
    Lost(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Joining,
    /// Joined; gathering the roster until the instant.
    Gathering(Instant),
    Joined,
    Over,
}

/// One participant's conversation with Galène.
#[derive(Debug)]
pub struct GaleneSession {
    config: JoinConfig,
    phase: Phase,
    present: Vec<(String, Option<String>)>,
    clients: std::collections::BTreeSet<String>,
    started: Option<Instant>,
    last_received: Option<Instant>,
    last_sent: Option<Instant>,
    outbox: VecDeque<String>,
    events: VecDeque<GaleneEvent>,
}

/// A message from Galène, as far as we read it.
#[derive(Deserialize)]
struct Incoming {
    #[serde(rename = "type")]
    typ: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    sdp: Option<String>,
    #[serde(default)]
    candidate: Option<Candidate>,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    version: Option<Vec<String>>,
}

impl GaleneSession {
    /// A session that will join `config.group`; call [`GaleneSession::start`] once connected.
    pub fn new(config: JoinConfig) -> Self {
        GaleneSession {
            config,
            phase: Phase::Joining,
            present: Vec::new(),
            clients: std::collections::BTreeSet::new(),
            started: None,
            last_received: None,
            last_sent: None,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Our client id.
    pub fn id(&self) -> &str {
        &self.config.id
    }

    /// Begins: the handshake and the join, pipelined.
    pub fn start(&mut self, now: Instant) {
        self.started = Some(now);
        self.last_received = Some(now);
        self.send(
            json!({"type": "handshake", "version": ["2"], "id": self.config.id}),
            now,
        );
        let mut join = json!({
            "type": "join",
            "kind": "join",
            "group": self.config.group,
            "username": self.config.username,
        });
        join["password"] = json!(self.config.password.as_deref().unwrap_or(""));
        self.send(join, now);
    }

    /// Offers our stream `stream` (one PeerConnection, send-only).
    pub fn offer(&mut self, stream: &str, label: &str, sdp: &str, now: Instant) {
        self.send(
            json!({
                "type": "offer", "id": stream, "label": label, "source": self.config.id,
                "username": self.config.username, "sdp": sdp,
            }),
            now,
        );
    }

    /// Answers Galène's offer for `stream`.
    pub fn answer(&mut self, stream: &str, sdp: &str, now: Instant) {
        self.send(json!({"type": "answer", "id": stream, "sdp": sdp}), now);
    }

    /// Closes our stream `stream`.
    pub fn close(&mut self, stream: &str, now: Instant) {
        self.send(json!({"type": "close", "id": stream}), now);
    }

    /// Refuses or ends a stream Galène sends us.
    pub fn abort(&mut self, stream: &str, now: Instant) {
        self.send(json!({"type": "abort", "id": stream}), now);
    }

    /// Relays `bytes` to the client `dest`, or to everyone else with `None`.
    pub fn send_data(&mut self, dest: Option<&str>, bytes: &[u8], now: Instant) {
        let mut message = json!({
            "type": "usermessage", "kind": DATA_KIND, "source": self.config.id,
            "username": self.config.username, "noecho": true,
            "value": STANDARD_NO_PAD.encode(bytes),
        });
        if let Some(dest) = dest {
            message["dest"] = json!(dest);
        }
        self.send(message, now);
    }

    /// Asks Galène to record the group to its disk (tests: it takes the `record` permission,
    /// which Galène gives operators of groups that allow recording).
    pub fn record(&mut self, now: Instant) {
        self.send(
            json!({"type": "groupaction", "kind": "record", "source": self.config.id,
                   "username": self.config.username}),
            now,
        );
    }

    /// Leaves the group.
    pub fn leave(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Gathering(_) | Phase::Joined) {
            self.send(
                json!({"type": "join", "kind": "leave", "group": self.config.group,
                       "username": self.config.username}),
                now,
            );
        }
        self.phase = Phase::Over;
    }

    /// Whether `id` is a client in the group now.
    pub fn knows(&self, id: &str) -> bool {
        self.clients.contains(id)
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<String> {
        self.outbox.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<GaleneEvent> {
        self.events.pop_front()
    }

    /// When [`GaleneSession::handle_timeout`] wants to run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let received = self.last_received?;
        let mut at = received + SILENCE_LIMIT;
        match self.phase {
            Phase::Over => return None,
            Phase::Joining => at = at.min(self.started? + JOIN_TIMEOUT),
            Phase::Gathering(until) => at = at.min(until),
            Phase::Joined => {}
        }
        if let Some(sent) = self.last_sent {
            at = at.min(sent + PING_EVERY);
        }
        Some(at)
    }

    /// Time passed: keepalives, timeouts, the end of the roster.
    pub fn handle_timeout(&mut self, now: Instant) {
        let (Some(received), Some(started)) = (self.last_received, self.started) else {
            return;
        };
        match self.phase {
            Phase::Over => return,
            Phase::Joining if now >= started + JOIN_TIMEOUT => {
                return self.fail(Failure::Lost("Galène did not let us join in time".into()));
            }
            Phase::Gathering(until) if now >= until => self.roster_complete(now),
            _ => {}
        }
        if now >= received + SILENCE_LIMIT {
            return self.fail(Failure::Lost("Galène stopped answering".into()));
        }
        if self.last_sent.is_none_or(|sent| now >= sent + PING_EVERY) {
            self.send(json!({"type": "ping"}), now);
        }
    }

    /// A message from Galène. An unusable one is refused (the session goes on).
    pub fn handle_message(&mut self, text: &str, now: Instant) -> Result<(), SignalError> {
        if self.phase == Phase::Over {
            return Ok(());
        }
        self.last_received = Some(now);
        if text.len() > MAX_MESSAGE {
            return Err(SignalError::TooLarge(text.len()));
        }
        let m: Incoming =
            serde_json::from_str(text).map_err(|e| SignalError::NotJson(e.to_string()))?;
        if let Phase::Gathering(_) = self.phase
            && m.typ != "user"
        {
            self.roster_complete(now);
        }
        match m.typ.as_str() {
            "handshake" => {
                if !m.version.unwrap_or_default().iter().any(|v| v == "2") {
                    self.fail(Failure::Refused(
                        "the Galène server speaks another protocol version".into(),
                    ));
                }
            }
            "ping" => self.send(json!({"type": "pong"}), now),
            "pong" | "chat" | "chathistory" | "useraction" | "groupaction" => {}
            "joined" => self.joined(&m, now),
            "user" => self.user(m, now)?,
            "offer" => {
                let stream = m.id.ok_or(SignalError::Missing("id"))?;
                let source = m.source.ok_or(SignalError::Missing("source"))?;
                let sdp = m.sdp.ok_or(SignalError::Missing("sdp"))?;
                self.events.push_back(GaleneEvent::Offer {
                    stream,
                    source,
                    sdp,
                });
            }
            "answer" => {
                let stream = m.id.ok_or(SignalError::Missing("id"))?;
                let sdp = m.sdp.ok_or(SignalError::Missing("sdp"))?;
                self.events.push_back(GaleneEvent::Answer { stream, sdp });
            }
            "ice" => {
                let stream = m.id.ok_or(SignalError::Missing("id"))?;
                let candidate = m.candidate.ok_or(SignalError::Missing("candidate"))?;
                self.events
                    .push_back(GaleneEvent::Ice { stream, candidate });
            }
            "close" => {
                let stream = m.id.ok_or(SignalError::Missing("id"))?;
                self.events.push_back(GaleneEvent::Closed { stream });
            }
            "abort" => {
                let stream = m.id.ok_or(SignalError::Missing("id"))?;
                self.events.push_back(GaleneEvent::Aborted { stream });
            }
            // We never offer ICE restarts; Galène's own renegotiations come as offers.
            "renegotiate" => {}
            "usermessage" => self.user_message(m)?,
            other => {
                return Err(SignalError::UnknownMessage(
                    other.chars().take(32).collect(),
                ));
            }
        }
        Ok(())
    }

    fn joined(&mut self, m: &Incoming, now: Instant) {
        match (m.kind.as_deref(), self.phase) {
            (Some("join"), Phase::Joining) => {
                self.phase = Phase::Gathering(now + ROSTER_GATHER);
                // Every stream of everyone (Galène then offers them as they come).
                self.send(
                    json!({"type": "request", "request": {"": ["audio", "video"]}}),
                    now,
                );
            }
            (Some("fail"), _) => {
                let why = m
                    .value
                    .as_ref()
                    .and_then(Value::as_str)
                    .unwrap_or("no reason given");
                let why: String = why.chars().take(200).collect();
                self.fail(Failure::Refused(format!(
                    "Galène refused to let us in: {why}"
                )));
            }
            (Some("redirect"), _) => {
                self.fail(Failure::Refused(
                    "the Galène group moved elsewhere; ask for a new link".into(),
                ));
            }
            (Some("leave"), _) => self.fail(Failure::Lost("Galène let us go".into())),
            _ => {}
        }
    }

    fn user(&mut self, m: Incoming, now: Instant) -> Result<(), SignalError> {
        let id = m.id.ok_or(SignalError::Missing("id"))?;
        if id == self.config.id {
            return Ok(());
        }
        match m.kind.as_deref() {
            Some("add") => {
                if self.clients.len() >= MAX_CLIENTS {
                    return Err(SignalError::TooMany("clients"));
                }
                if !self.clients.insert(id.clone()) {
                    return Ok(());
                }
                match self.phase {
                    Phase::Gathering(_) => {
                        self.present.push((id, m.username));
                        self.phase = Phase::Gathering(now + ROSTER_GATHER);
                    }
                    Phase::Joined => self.events.push_back(GaleneEvent::UserAdded {
                        id,
                        username: m.username,
                    }),
                    _ => {}
                }
            }
            Some("delete") => {
                if self.clients.remove(&id) {
                    self.present.retain(|(p, _)| *p != id);
                    if self.phase == Phase::Joined {
                        self.events.push_back(GaleneEvent::UserGone { id });
                    }
                }
            }
            Some("change") => {}
            _ => return Err(SignalError::Malformed("user message of an unknown kind")),
        }
        Ok(())
    }

    fn user_message(&mut self, m: Incoming) -> Result<(), SignalError> {
        match (m.kind.as_deref(), m.source) {
            (Some(DATA_KIND), Some(from)) if !from.is_empty() => {
                if from == self.config.id {
                    return Ok(());
                }
                let value = m.value.ok_or(SignalError::Missing("value"))?;
                let text = value
                    .as_str()
                    .ok_or(SignalError::Malformed("data that is not a string"))?;
                let bytes = STANDARD_NO_PAD
                    .decode(text)
                    .map_err(|_| SignalError::Malformed("data that is not base64"))?;
                self.events.push_back(GaleneEvent::Data { from, bytes });
            }
            (Some("kicked"), _) => {
                self.fail(Failure::Refused(
                    "an operator of the Galène server removed us from the meeting".into(),
                ));
            }
            // The server's errors, warnings and notes, and other clients' messages of kinds
            // that are not ours.
            _ => {}
        }
        Ok(())
    }

    fn roster_complete(&mut self, _now: Instant) {
        self.phase = Phase::Joined;
        self.events.push_back(GaleneEvent::Joined {
            me: self.config.id.clone(),
            present: std::mem::take(&mut self.present),
        });
    }

    fn fail(&mut self, failure: Failure) {
        if self.phase != Phase::Over {
            self.phase = Phase::Over;
            self.events.push_back(GaleneEvent::Failed(failure));
        }
    }

    fn send(&mut self, message: Value, now: Instant) {
        self.last_sent = Some(now);
        self.outbox.push_back(message.to_string());
    }
}

/// The audio and video sections of an SDP offer Galène sends (one stream of one client's): each
/// section's mid and kind, skipping rejected (port 0) and inactive sections. At most
/// [`MAX_SECTIONS`].
pub fn media_sections(sdp: &str) -> Vec<(String, super::MediaKind)> {
    use super::MediaKind;
    let mut out = Vec::new();
    let mut current: Option<(Option<MediaKind>, Option<String>, bool)> = None;
    let mut finish = |section: Option<(Option<MediaKind>, Option<String>, bool)>| {
        if let Some((Some(kind), Some(mid), true)) = section
            && out.len() < MAX_SECTIONS
        {
            out.push((mid, kind));
        }
    };
    for line in sdp.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(m) = line.strip_prefix("m=") {
            finish(current.take());
            let mut parts = m.split(' ');
            let kind = match parts.next() {
                Some("audio") => Some(MediaKind::Audio),
                Some("video") => Some(MediaKind::Video),
                _ => None,
            };
            let live = parts.next().is_some_and(|port| port != "0");
            current = Some((kind, None, live));
        } else if let Some((_, mid, live)) = current.as_mut() {
            if let Some(m) = line.strip_prefix("a=mid:") {
                let m = m.trim();
                if !m.is_empty() && m.len() <= 32 && m.chars().all(|c| c.is_ascii_graphic()) {
                    *mid = Some(m.to_owned());
                }
            } else if line == "a=inactive" {
                *live = false;
            }
        }
    }
    finish(current.take());
    out
}

/// The most media sections read from one offer.
pub const MAX_SECTIONS: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sfu::MediaKind;

    fn session() -> (GaleneSession, Instant) {
        let mut s = GaleneSession::new(JoinConfig {
            group: "conclave/42".into(),
            username: "p-1".into(),
            password: None,
            id: "me".into(),
        });
        let t0 = Instant::now();
        s.start(t0);
        (s, t0)
    }

    fn sent(s: &mut GaleneSession) -> Vec<Value> {
        std::iter::from_fn(|| s.poll_transmit())
            .map(|t| serde_json::from_str(&t).unwrap())
            .collect()
    }

    fn events(s: &mut GaleneSession) -> Vec<GaleneEvent> {
        std::iter::from_fn(|| s.poll_event()).collect()
    }

    /// Joined, with `others` there before us, the roster gathered.
    fn joined(others: &[&str]) -> (GaleneSession, Instant) {
        let (mut s, t0) = session();
        sent(&mut s);
        s.handle_message(r#"{"type":"handshake","version":["2"]}"#, t0)
            .unwrap();
        s.handle_message(
            r#"{"type":"joined","kind":"join","group":"conclave/42"}"#,
            t0,
        )
        .unwrap();
        s.handle_message(r#"{"type":"user","kind":"add","id":"me"}"#, t0)
            .unwrap();
        for o in others {
            let m = json!({"type":"user","kind":"add","id":o,"username":format!("p-{o}")});
            s.handle_message(&m.to_string(), t0).unwrap();
        }
        s.handle_timeout(t0 + ROSTER_GATHER);
        (s, t0)
    }

    #[test]
    fn it_joins_the_meetings_subgroup_and_asks_for_every_stream() {
        let (mut s, t0) = session();
        let out = sent(&mut s);
        assert_eq!(out[0]["type"], "handshake");
        assert_eq!(out[0]["version"], json!(["2"]));
        assert_eq!(out[0]["id"], "me");
        assert_eq!(out[1]["type"], "join");
        assert_eq!(out[1]["group"], "conclave/42");
        assert_eq!(out[1]["username"], "p-1");
        s.handle_message(r#"{"type":"joined","kind":"join"}"#, t0)
            .unwrap();
        let out = sent(&mut s);
        assert_eq!(out[0]["type"], "request");
        assert_eq!(out[0]["request"][""], json!(["audio", "video"]));
        // Who is there is said once Galène has listed them.
        assert!(events(&mut s).is_empty());
    }

    #[test]
    fn the_roster_gathered_after_joining_is_who_was_there_and_later_ones_appear() {
        let (mut s, t0) = joined(&["a", "b"]);
        assert_eq!(
            events(&mut s),
            vec![GaleneEvent::Joined {
                me: "me".into(),
                present: vec![
                    ("a".into(), Some("p-a".into())),
                    ("b".into(), Some("p-b".into()))
                ],
            }]
        );
        s.handle_message(r#"{"type":"user","kind":"add","id":"c"}"#, t0)
            .unwrap();
        s.handle_message(r#"{"type":"user","kind":"delete","id":"a"}"#, t0)
            .unwrap();
        // A second add of one we know is no news.
        s.handle_message(r#"{"type":"user","kind":"add","id":"b"}"#, t0)
            .unwrap();
        assert_eq!(
            events(&mut s),
            vec![
                GaleneEvent::UserAdded {
                    id: "c".into(),
                    username: None
                },
                GaleneEvent::UserGone { id: "a".into() },
            ]
        );
        assert!(s.knows("b") && !s.knows("a"));
    }

    #[test]
    fn another_message_ends_the_roster_at_once() {
        let (mut s, t0) = session();
        s.handle_message(r#"{"type":"joined","kind":"join"}"#, t0)
            .unwrap();
        s.handle_message(r#"{"type":"user","kind":"add","id":"a"}"#, t0)
            .unwrap();
        s.handle_message(r#"{"type":"offer","id":"s1","source":"a","sdp":"v=0"}"#, t0)
            .unwrap();
        let e = events(&mut s);
        assert!(matches!(&e[0], GaleneEvent::Joined { present, .. } if present.len() == 1));
        assert!(
            matches!(&e[1], GaleneEvent::Offer { stream, source, .. } if stream == "s1" && source == "a")
        );
    }

    #[test]
    fn data_travels_as_base64_usermessages_and_only_ours_is_taken() {
        let (mut s, t0) = joined(&["a"]);
        events(&mut s);
        sent(&mut s);
        s.send_data(Some("a"), &[0, 1, 2, 255], t0);
        s.send_data(None, b"all", t0);
        let out = sent(&mut s);
        assert_eq!(out[0]["type"], "usermessage");
        assert_eq!(out[0]["kind"], DATA_KIND);
        assert_eq!(out[0]["source"], "me");
        assert_eq!(out[0]["dest"], "a");
        assert_eq!(out[0]["value"], "AAEC/w");
        assert!(out[1].get("dest").is_none());
        assert_eq!(out[1]["noecho"], true);

        let from_a = json!({"type":"usermessage","kind":DATA_KIND,"source":"a","value":"AAEC/w"});
        s.handle_message(&from_a.to_string(), t0).unwrap();
        // Our own echo, the server's notes and other kinds are not data.
        for m in [
            json!({"type":"usermessage","kind":DATA_KIND,"source":"me","value":"AA"}),
            json!({"type":"usermessage","kind":"error","value":"something"}),
            json!({"type":"usermessage","kind":"mute","source":"a"}),
        ] {
            s.handle_message(&m.to_string(), t0).unwrap();
        }
        assert_eq!(
            events(&mut s),
            vec![GaleneEvent::Data {
                from: "a".into(),
                bytes: vec![0, 1, 2, 255]
            }]
        );
        for bad in [
            json!({"type":"usermessage","kind":DATA_KIND,"source":"a","value":"%%%"}),
            json!({"type":"usermessage","kind":DATA_KIND,"source":"a","value":7}),
            json!({"type":"usermessage","kind":DATA_KIND,"source":"a"}),
        ] {
            assert!(s.handle_message(&bad.to_string(), t0).is_err(), "{bad}");
        }
        assert!(events(&mut s).is_empty());
    }

    #[test]
    fn refusals_and_kicks_end_the_session_as_refused() {
        let (mut s, t0) = session();
        s.handle_message(
            r#"{"type":"joined","kind":"fail","value":"not authorised"}"#,
            t0,
        )
        .unwrap();
        assert!(matches!(
            events(&mut s)[..],
            [GaleneEvent::Failed(Failure::Refused(ref why))] if why.contains("not authorised")
        ));
        let (mut s, t0) = joined(&[]);
        events(&mut s);
        s.handle_message(
            r#"{"type":"usermessage","kind":"kicked","source":"op"}"#,
            t0,
        )
        .unwrap();
        assert!(matches!(
            events(&mut s)[..],
            [GaleneEvent::Failed(Failure::Refused(_))]
        ));
        // Over is over: nothing more comes out.
        s.handle_message(r#"{"type":"user","kind":"add","id":"z"}"#, t0)
            .unwrap();
        assert!(events(&mut s).is_empty());
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn it_pings_a_quiet_galene_answers_pings_and_gives_up_on_a_silent_one() {
        let (mut s, t0) = joined(&[]);
        sent(&mut s);
        events(&mut s);
        s.handle_message(r#"{"type":"ping"}"#, t0).unwrap();
        assert_eq!(sent(&mut s), vec![json!({"type":"pong"})]);
        let at = s.poll_timeout().unwrap();
        assert_eq!(at, t0 + PING_EVERY);
        s.handle_timeout(at);
        assert_eq!(sent(&mut s), vec![json!({"type":"ping"})]);
        // Silence, pings unanswered.
        let mut now = at;
        while events(&mut s).is_empty() {
            now = s.poll_timeout().unwrap();
            s.handle_timeout(now);
        }
        assert_eq!(now, t0 + SILENCE_LIMIT);
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn joining_that_takes_too_long_is_lost() {
        let (mut s, t0) = session();
        assert_eq!(s.poll_timeout(), Some(t0 + PING_EVERY.min(JOIN_TIMEOUT)));
        s.handle_timeout(t0 + JOIN_TIMEOUT);
        assert!(matches!(
            events(&mut s)[..],
            [GaleneEvent::Failed(Failure::Lost(_))]
        ));
    }

    #[test]
    fn unusable_messages_are_refused_and_the_session_goes_on() {
        let (mut s, t0) = joined(&[]);
        events(&mut s);
        for bad in [
            "not json",
            r#"{"no":"type"}"#,
            r#"{"type":"offer","id":"s"}"#,
            r#"{"type":"ice","id":"s"}"#,
            r#"{"type":"user","kind":"weird","id":"x"}"#,
            r#"{"type":"brand-new"}"#,
        ] {
            assert!(s.handle_message(bad, t0).is_err(), "{bad}");
        }
        let huge = format!(r#"{{"type":"chat","value":"{}"}}"#, "x".repeat(MAX_MESSAGE));
        assert_eq!(
            s.handle_message(&huge, t0),
            Err(SignalError::TooLarge(huge.len()))
        );
        assert!(events(&mut s).is_empty());
        s.handle_message(
            r#"{"type":"ice","id":"s","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.2 4 typ host","sdpMid":"0","sdpMLineIndex":0}}"#,
            t0,
        )
        .unwrap();
        assert!(
            matches!(&events(&mut s)[..], [GaleneEvent::Ice { stream, candidate }]
            if stream == "s" && candidate.sdp_mid.as_deref() == Some("0"))
        );
    }

    #[test]
    fn a_group_page_names_its_group_and_its_endpoint() {
        let url = |s: &str| url::Url::parse(s).unwrap();
        let page = url("wss://galene.example.org:8443/group/staff/");
        assert_eq!(group_of(&page).as_deref(), Some("staff"));
        assert_eq!(endpoint_of(&page), "wss://galene.example.org:8443/ws");
        assert_eq!(group_of(&url("ws://h/group/a/b")).as_deref(), Some("a/b"));
        for bad in [
            "ws://h/",
            "ws://h/group/",
            "ws://h/group/.hidden/",
            "ws://h/group/a//b/",
            "ws://h/other/a/",
            "ws://h/group/a/?x=1",
        ] {
            assert_eq!(group_of(&url(bad)), None, "{bad}");
        }
        assert_eq!(meeting_group("staff", "4242"), "staff/4242");
        assert_ne!(meeting_group("staff", "x"), meeting_group("staff", "y"));
        assert_eq!(handle_of("abc"), handle_of("abc"));
        assert_ne!(handle_of("abc"), handle_of("abd"));
    }

    #[test]
    fn an_offers_live_audio_and_video_sections_are_its_tracks() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\n\
                   m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:1\r\n\
                   m=video 0 UDP/TLS/RTP/SAVPF 102\r\na=mid:2\r\n\
                   m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:3\r\na=inactive\r\n\
                   m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:4\r\n\
                   m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n";
        assert_eq!(
            media_sections(sdp),
            vec![
                ("0".into(), MediaKind::Audio),
                ("1".into(), MediaKind::Video)
            ]
        );
        let many: String = (0..40)
            .map(|i| format!("m=audio 9 x 111\na=mid:{i}\n"))
            .collect();
        assert_eq!(media_sections(&many).len(), MAX_SECTIONS);
    }
}
