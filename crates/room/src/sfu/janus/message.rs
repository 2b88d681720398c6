//! Janus's signalling messages (core API and VideoRoom plugin), parsed strictly from the untrusted
//! text the SFU sends and built for what we send. Anything malformed, oversized or unexpected is a
//! typed [`SignalError`], never a panic.

use serde_json::{Map, Value, json};

use crate::error::SignalError;

/// Largest message accepted (SDP included).
pub const MAX_MESSAGE_LEN: usize = 256 * 1024;
/// Most publishers accepted in one list.
pub const MAX_PUBLISHERS: usize = 256;
/// Most streams accepted in one list.
pub const MAX_STREAMS: usize = 1024;
/// Longest free-text field (display names, reasons) kept; longer ones are refused.
pub const MAX_TEXT_LEN: usize = 1024;

const VIDEOROOM: &str = "janus.plugin.videoroom";

/// A Janus session, plugin handle, room or participant (feed) id.
pub type Id = u64;

/// An SDP offer or answer with Janus's extra flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Jsep {
    /// `true` for an offer, `false` for an answer.
    pub is_offer: bool,
    /// The session description.
    pub sdp: String,
    /// The publisher declared end-to-end encryption (Janus never forwards this to subscribers).
    pub e2ee: bool,
}

/// A stream as Janus describes it in publisher lists and subscriptions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stream {
    /// `audio`, `video` or `data`.
    pub kind: StreamKind,
    /// The stream's mid (the publisher's, or for subscriptions the subscriber's own).
    pub mid: String,
    /// For subscriptions: the publisher's id.
    pub feed_id: Option<Id>,
    /// For subscriptions: the publisher's mid.
    pub feed_mid: Option<String>,
    /// Codec name, if active.
    pub codec: Option<String>,
    /// Janus disabled the stream (e.g. the publisher stopped it).
    pub disabled: bool,
}

/// Media kind of a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    /// Audio.
    Audio,
    /// Video.
    Video,
    /// Data channel.
    Data,
}

/// Another participant publishing media.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publisher {
    /// Janus's id for the participant.
    pub id: Id,
    /// What the participant told the SFU as its display name (a pseudonym, for Conclave).
    pub display: Option<String>,
    /// Its streams.
    pub streams: Vec<Stream>,
}

/// What a VideoRoom event says.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoomEvent {
    /// Sync reply to `exists`.
    Exists(bool),
    /// Sync reply to `create`.
    Created(Id),
    /// We joined as publisher.
    Joined {
        /// The room.
        room: Id,
        /// Our participant id.
        id: Id,
        /// Pairs our subscriptions with our publisher, for the SFU.
        private_id: Option<Id>,
        /// Who already publishes.
        publishers: Vec<Publisher>,
    },
    /// Publishers became active (or renegotiated).
    Publishers(Vec<Publisher>),
    /// A publisher stopped publishing.
    Unpublished(Id),
    /// A participant left.
    Leaving(Id),
    /// A participant was kicked.
    Kicked(Id),
    /// Our publish/configure went through.
    Configured,
    /// Our subscription exists; an offer comes with it.
    Attached(Vec<Stream>),
    /// Our subscription changed; an offer may come with it.
    Updated(Vec<Stream>),
    /// A subscription update is pending; one offer will follow.
    Updating,
    /// Our answer to a subscription offer was taken.
    Started,
    /// Our own leave/unpublish finished.
    Left,
    /// The room was destroyed.
    Destroyed(Id),
    /// The plugin refused a request.
    Error {
        /// VideoRoom error code (e.g. 426 no such room, 433 unauthorized or E2EE required).
        code: u16,
        /// Janus's explanation.
        reason: String,
    },
    /// An event Conclave does not act on (e.g. `talking`), by its key.
    Other(String),
}

/// A message from Janus.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Incoming {
    /// A request succeeded: `data.id` for create/attach, or a sync plugin reply.
    Success {
        /// The request's transaction.
        transaction: String,
        /// New session or handle id, if that is what was created.
        id: Option<Id>,
        /// The plugin's reply, for sync plugin requests.
        event: Option<RoomEvent>,
    },
    /// An asynchronous request was accepted; its event follows (or came already).
    Ack {
        /// The request's transaction.
        transaction: String,
    },
    /// A plugin event: a reply to an async request (with its transaction) or unsolicited.
    Event {
        /// The request's transaction, if this answers one.
        transaction: Option<String>,
        /// The handle it concerns.
        sender: Id,
        /// What it says.
        event: RoomEvent,
        /// SDP that comes with it.
        jsep: Option<Jsep>,
    },
    /// The core refused a request.
    Error {
        /// The request's transaction, if any.
        transaction: Option<String>,
        /// Core error code (e.g. 458 no such session).
        code: u16,
        /// Janus's explanation.
        reason: String,
    },
    /// A handle's PeerConnection is up.
    WebrtcUp {
        /// The handle.
        sender: Id,
    },
    /// Media started or stopped flowing on a handle.
    Media {
        /// The handle.
        sender: Id,
        /// Whether Janus receives it.
        receiving: bool,
    },
    /// A handle's PeerConnection went down.
    Hangup {
        /// The handle.
        sender: Id,
        /// Why.
        reason: String,
    },
    /// A handle was detached.
    Detached {
        /// The handle.
        sender: Id,
    },
    /// Our session expired.
    Timeout,
    /// Janus reports a lossy link on a handle.
    SlowLink {
        /// The handle.
        sender: Id,
    },
}

/// Parses one message from Janus.
pub fn parse(text: &str) -> Result<Incoming, SignalError> {
    if text.len() > MAX_MESSAGE_LEN {
        return Err(SignalError::TooLarge(text.len()));
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| SignalError::NotJson(e.to_string()))?;
    let obj = value
        .as_object()
        .ok_or(SignalError::Malformed("not a JSON object"))?;
    let kind = str_field(obj, "janus")?;
    let transaction = opt_text(obj, "transaction")?;
    let need_tx = || {
        transaction
            .clone()
            .ok_or(SignalError::Malformed("missing transaction"))
    };
    Ok(match kind {
        "success" => {
            let data = obj.get("data").map(as_object).transpose()?;
            let id = data.map(|d| id_field(d, "id")).transpose()?;
            let event = obj
                .get("plugindata")
                .map(|p| plugin_event(as_object(p)?))
                .transpose()?;
            Incoming::Success {
                transaction: need_tx()?,
                id,
                event,
            }
        }
        "ack" => Incoming::Ack {
            transaction: need_tx()?,
        },
        "event" => {
            let plugindata = as_object(
                obj.get("plugindata")
                    .ok_or(SignalError::Malformed("event without plugindata"))?,
            )?;
            Incoming::Event {
                transaction,
                sender: id_field(obj, "sender")?,
                event: plugin_event(plugindata)?,
                jsep: obj.get("jsep").map(jsep).transpose()?,
            }
        }
        "error" => {
            let error = as_object(
                obj.get("error")
                    .ok_or(SignalError::Malformed("error without details"))?,
            )?;
            Incoming::Error {
                transaction,
                code: code_field(error, "code")?,
                reason: text_field(error, "reason")?,
            }
        }
        "webrtcup" => Incoming::WebrtcUp {
            sender: id_field(obj, "sender")?,
        },
        "media" => Incoming::Media {
            sender: id_field(obj, "sender")?,
            receiving: obj
                .get("receiving")
                .and_then(Value::as_bool)
                .ok_or(SignalError::Malformed("media event without receiving"))?,
        },
        "hangup" => Incoming::Hangup {
            sender: id_field(obj, "sender")?,
            reason: opt_text(obj, "reason")?.unwrap_or_default(),
        },
        "detached" => Incoming::Detached {
            sender: id_field(obj, "sender")?,
        },
        "timeout" => Incoming::Timeout,
        "slowlink" => Incoming::SlowLink {
            sender: id_field(obj, "sender")?,
        },
        other => return Err(SignalError::UnknownMessage(truncate(other))),
    })
}

fn plugin_event(plugindata: &Map<String, Value>) -> Result<RoomEvent, SignalError> {
    if str_field(plugindata, "plugin")? != VIDEOROOM {
        return Err(SignalError::Malformed("event from another plugin"));
    }
    let data = as_object(
        plugindata
            .get("data")
            .ok_or(SignalError::Malformed("plugindata without data"))?,
    )?;
    if data.contains_key("error_code") {
        return Ok(RoomEvent::Error {
            code: code_field(data, "error_code")?,
            reason: opt_text(data, "error")?.unwrap_or_default(),
        });
    }
    let kind = str_field(data, "videoroom")?;
    Ok(match kind {
        "joined" => RoomEvent::Joined {
            room: id_field(data, "room")?,
            id: id_field(data, "id")?,
            private_id: data.get("private_id").map(as_id).transpose()?,
            publishers: publishers(data)?.unwrap_or_default(),
        },
        "created" => RoomEvent::Created(id_field(data, "room")?),
        "destroyed" => RoomEvent::Destroyed(id_field(data, "room")?),
        "attached" => RoomEvent::Attached(streams(data)?.unwrap_or_default()),
        "updated" => RoomEvent::Updated(streams(data)?.unwrap_or_default()),
        "updating" => RoomEvent::Updating,
        "success" if data.contains_key("exists") => RoomEvent::Exists(
            data.get("exists")
                .and_then(Value::as_bool)
                .ok_or(SignalError::Malformed("exists is not a boolean"))?,
        ),
        "event" => event_body(data)?,
        other => RoomEvent::Other(truncate(other)),
    })
}

/// The many shapes of `"videoroom": "event"`: a number in `unpublished`/`leaving` names another
/// participant, the string `"ok"` confirms our own request.
fn event_body(data: &Map<String, Value>) -> Result<RoomEvent, SignalError> {
    if let Some(list) = publishers(data)? {
        return Ok(RoomEvent::Publishers(list));
    }
    for (key, make) in [
        ("unpublished", RoomEvent::Unpublished as fn(Id) -> RoomEvent),
        ("leaving", RoomEvent::Leaving),
        ("kicked", RoomEvent::Kicked),
    ] {
        match data.get(key) {
            None => {}
            Some(Value::String(s)) if s == "ok" => return Ok(RoomEvent::Left),
            Some(v) => return Ok(make(as_id(v)?)),
        }
    }
    if data.get("configured").and_then(Value::as_str) == Some("ok") {
        return Ok(RoomEvent::Configured);
    }
    if data.get("started").and_then(Value::as_str) == Some("ok") {
        return Ok(RoomEvent::Started);
    }
    if data.get("left").and_then(Value::as_str) == Some("ok") {
        return Ok(RoomEvent::Left);
    }
    let key = data
        .keys()
        .find(|k| !matches!(k.as_str(), "videoroom" | "room"))
        .map_or_else(|| "event".to_owned(), |k| truncate(k));
    Ok(RoomEvent::Other(key))
}

fn publishers(data: &Map<String, Value>) -> Result<Option<Vec<Publisher>>, SignalError> {
    let Some(list) = data.get("publishers") else {
        return Ok(None);
    };
    let list = list
        .as_array()
        .ok_or(SignalError::Malformed("publishers is not a list"))?;
    if list.len() > MAX_PUBLISHERS {
        return Err(SignalError::TooMany("publishers"));
    }
    list.iter()
        .map(|p| {
            let p = as_object(p)?;
            Ok(Publisher {
                id: id_field(p, "id")?,
                display: opt_text(p, "display")?,
                streams: streams(p)?.unwrap_or_default(),
            })
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

fn streams(data: &Map<String, Value>) -> Result<Option<Vec<Stream>>, SignalError> {
    let Some(list) = data.get("streams") else {
        return Ok(None);
    };
    let list = list
        .as_array()
        .ok_or(SignalError::Malformed("streams is not a list"))?;
    if list.len() > MAX_STREAMS {
        return Err(SignalError::TooMany("streams"));
    }
    list.iter()
        .map(|s| {
            let s = as_object(s)?;
            let kind = match str_field(s, "type")? {
                "audio" => StreamKind::Audio,
                "video" => StreamKind::Video,
                "data" => StreamKind::Data,
                _ => return Err(SignalError::Malformed("unknown stream type")),
            };
            Ok(Stream {
                kind,
                mid: opt_text(s, "mid")?.unwrap_or_default(),
                feed_id: s.get("feed_id").map(as_id).transpose()?,
                feed_mid: opt_text(s, "feed_mid")?,
                codec: opt_text(s, "codec")?,
                disabled: s.get("disabled").and_then(Value::as_bool).unwrap_or(false),
            })
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

fn jsep(v: &Value) -> Result<Jsep, SignalError> {
    let obj = as_object(v)?;
    let is_offer = match str_field(obj, "type")? {
        "offer" => true,
        "answer" => false,
        _ => {
            return Err(SignalError::Malformed(
                "jsep type is neither offer nor answer",
            ));
        }
    };
    let sdp = str_field(obj, "sdp")?;
    if !sdp.starts_with("v=0") {
        return Err(SignalError::Malformed(
            "jsep sdp is not a session description",
        ));
    }
    Ok(Jsep {
        is_offer,
        sdp: sdp.to_owned(),
        e2ee: obj.get("e2ee").and_then(Value::as_bool).unwrap_or(false),
    })
}

fn as_object(v: &Value) -> Result<&Map<String, Value>, SignalError> {
    v.as_object()
        .ok_or(SignalError::Malformed("expected a JSON object"))
}

fn as_id(v: &Value) -> Result<Id, SignalError> {
    v.as_u64()
        .ok_or(SignalError::Malformed("an id is not an unsigned number"))
}

fn id_field(obj: &Map<String, Value>, key: &'static str) -> Result<Id, SignalError> {
    as_id(obj.get(key).ok_or(SignalError::Missing(key))?)
}

fn code_field(obj: &Map<String, Value>, key: &'static str) -> Result<u16, SignalError> {
    obj.get(key)
        .ok_or(SignalError::Missing(key))?
        .as_u64()
        .and_then(|c| u16::try_from(c).ok())
        .ok_or(SignalError::Malformed(
            "an error code is not a small number",
        ))
}

fn str_field<'a>(obj: &'a Map<String, Value>, key: &'static str) -> Result<&'a str, SignalError> {
    obj.get(key)
        .ok_or(SignalError::Missing(key))?
        .as_str()
        .ok_or(SignalError::Malformed("a field that should be text is not"))
}

fn text_field(obj: &Map<String, Value>, key: &'static str) -> Result<String, SignalError> {
    opt_text(obj, key)?.ok_or(SignalError::Missing(key))
}

fn opt_text(obj: &Map<String, Value>, key: &'static str) -> Result<Option<String>, SignalError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= MAX_TEXT_LEN => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(SignalError::TooLarge(MAX_TEXT_LEN + 1)),
        Some(_) => Err(SignalError::Malformed("a field that should be text is not")),
    }
}

/// Short, printable excerpt of an unexpected name, for error messages.
fn truncate(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(40).collect()
}

/// Builds the messages Conclave sends. Transactions are opaque strings of the caller's choosing.
pub mod build {
    use super::*;

    fn base(kind: &str, transaction: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("janus".into(), kind.into());
        m.insert("transaction".into(), transaction.into());
        m
    }

    /// `create` a session.
    pub fn create_session(transaction: &str) -> String {
        Value::Object(base("create", transaction)).to_string()
    }

    /// `attach` the VideoRoom plugin.
    pub fn attach(transaction: &str, session: Id) -> String {
        let mut m = base("attach", transaction);
        m.insert("session_id".into(), session.into());
        m.insert("plugin".into(), VIDEOROOM.into());
        Value::Object(m).to_string()
    }

    /// Session `keepalive`.
    pub fn keepalive(transaction: &str, session: Id) -> String {
        let mut m = base("keepalive", transaction);
        m.insert("session_id".into(), session.into());
        Value::Object(m).to_string()
    }

    /// `detach` a handle.
    pub fn detach(transaction: &str, session: Id, handle: Id) -> String {
        let mut m = base("detach", transaction);
        m.insert("session_id".into(), session.into());
        m.insert("handle_id".into(), handle.into());
        Value::Object(m).to_string()
    }

    /// `destroy` the session.
    pub fn destroy(transaction: &str, session: Id) -> String {
        let mut m = base("destroy", transaction);
        m.insert("session_id".into(), session.into());
        Value::Object(m).to_string()
    }

    /// A plugin `message` with `body` and optional `jsep`.
    pub fn message(
        transaction: &str,
        session: Id,
        handle: Id,
        body: Value,
        jsep: Option<Value>,
    ) -> String {
        let mut m = base("message", transaction);
        m.insert("session_id".into(), session.into());
        m.insert("handle_id".into(), handle.into());
        m.insert("body".into(), body);
        if let Some(j) = jsep {
            m.insert("jsep".into(), j);
        }
        Value::Object(m).to_string()
    }

    /// Body: does the room exist?
    pub fn exists(room: Id) -> Value {
        json!({ "request": "exists", "room": room })
    }

    /// Body: create a room for end-to-end encrypted meetings (H.264 + Opus, E2EE required).
    pub fn create_room(room: Id, pin: Option<&str>, record_dir: Option<&str>) -> Value {
        let mut body = json!({
            "request": "create", "room": room, "permanent": false, "is_private": true,
            "publishers": 32, "audiocodec": "opus", "videocodec": "h264",
            "h264_profile": "42e01f", "opus_fec": true, "require_e2ee": true,
            "audiolevel_ext": true, "notify_joining": false, "description": "Conclave",
        });
        if let Some(pin) = pin {
            body["pin"] = pin.into();
        }
        if let Some(dir) = record_dir {
            body["record"] = true.into();
            body["rec_dir"] = dir.into();
        }
        body
    }

    /// Body: join as publisher under a pseudonym.
    pub fn join_publisher(room: Id, pseudonym: &str, pin: Option<&str>) -> Value {
        let mut body = json!({
            "request": "join", "ptype": "publisher", "room": room, "display": pseudonym,
        });
        if let Some(pin) = pin {
            body["pin"] = pin.into();
        }
        body
    }

    /// Body: publish audio and video (the offer goes in the jsep from [`offer`]).
    pub fn publish() -> Value {
        json!({ "request": "publish", "audiocodec": "opus", "videocodec": "h264" })
    }

    /// Body: renegotiate our publisher connection (the new offer goes in the jsep).
    pub fn configure() -> Value {
        json!({ "request": "configure" })
    }

    /// Body: mute or unmute our streams (by our mids) without renegotiating.
    pub fn configure_send(streams: &[(&str, bool)]) -> Value {
        let streams: Vec<Value> = streams
            .iter()
            .map(|(mid, send)| json!({ "mid": mid, "send": send }))
            .collect();
        json!({ "request": "configure", "streams": streams })
    }

    /// Body: join as subscriber to every stream of `feeds`.
    pub fn join_subscriber(
        room: Id,
        private_id: Option<Id>,
        feeds: &[Id],
        pin: Option<&str>,
    ) -> Value {
        let streams: Vec<Value> = feeds.iter().map(|f| json!({ "feed": f })).collect();
        let mut body = json!({
            "request": "join", "ptype": "subscriber", "room": room, "streams": streams,
            "use_msid": true, "autoupdate": true,
        });
        if let Some(p) = private_id {
            body["private_id"] = p.into();
        }
        if let Some(pin) = pin {
            body["pin"] = pin.into();
        }
        body
    }

    /// Body: add feeds (all their streams) and single streams of feeds (by the publisher's mid)
    /// to an existing subscription.
    pub fn subscribe(feeds: &[Id], streams: &std::collections::BTreeSet<(Id, String)>) -> Value {
        let streams: Vec<Value> = feeds
            .iter()
            .map(|f| json!({ "feed": f }))
            .chain(
                streams
                    .iter()
                    .map(|(f, mid)| json!({ "feed": f, "mid": mid })),
            )
            .collect();
        json!({ "request": "subscribe", "streams": streams })
    }

    /// Body: take single streams of feeds (by the publisher's mid) out of a subscription.
    pub fn unsubscribe(streams: &std::collections::BTreeSet<(Id, String)>) -> Value {
        let streams: Vec<Value> = streams
            .iter()
            .map(|(f, mid)| json!({ "feed": f, "mid": mid }))
            .collect();
        json!({ "request": "unsubscribe", "streams": streams })
    }

    /// Body: answer a subscription offer (the answer goes in the jsep).
    pub fn start() -> Value {
        json!({ "request": "start" })
    }

    /// Body: leave the room.
    pub fn leave() -> Value {
        json!({ "request": "leave" })
    }

    /// Jsep: our offer, declaring end-to-end encryption (required by `require_e2ee` rooms).
    pub fn offer(sdp: &str) -> Value {
        json!({ "type": "offer", "sdp": sdp, "trickle": false, "e2ee": true })
    }

    /// Jsep: our answer.
    pub fn answer(sdp: &str) -> Value {
        json!({ "type": "answer", "sdp": sdp, "trickle": false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\n";

    #[test]
    fn core_replies_parse() {
        assert_eq!(
            parse(r#"{"janus":"success","transaction":"t1","data":{"id":42}}"#),
            Ok(Incoming::Success {
                transaction: "t1".into(),
                id: Some(42),
                event: None
            })
        );
        assert_eq!(
            parse(r#"{"janus":"ack","session_id":1,"transaction":"t4"}"#),
            Ok(Incoming::Ack {
                transaction: "t4".into()
            })
        );
        assert_eq!(
            parse(
                r#"{"janus":"error","transaction":"t","error":{"code":458,"reason":"No such session 1"}}"#
            ),
            Ok(Incoming::Error {
                transaction: Some("t".into()),
                code: 458,
                reason: "No such session 1".into()
            })
        );
        assert_eq!(
            parse(r#"{"janus":"timeout","session_id":1}"#),
            Ok(Incoming::Timeout)
        );
        assert_eq!(
            parse(r#"{"janus":"webrtcup","session_id":1,"sender":7}"#),
            Ok(Incoming::WebrtcUp { sender: 7 })
        );
    }

    #[test]
    fn videoroom_events_parse() {
        let joined = r#"{"janus":"event","session_id":1,"sender":7,"transaction":"t5","plugindata":{"plugin":"janus.plugin.videoroom","data":{"videoroom":"joined","room":4242,"description":"Conclave","id":1001,"private_id":777,"publishers":[{"id":1002,"display":"p-4f1c","streams":[{"type":"audio","mindex":0,"mid":"0","codec":"opus"},{"type":"video","mindex":1,"mid":"1","codec":"h264"},{"type":"data","mindex":2,"mid":"2","disabled":true}]}]}}}"#;
        let Incoming::Event {
            transaction,
            sender,
            event,
            jsep,
        } = parse(joined).unwrap()
        else {
            panic!("not an event");
        };
        assert_eq!(
            (transaction.as_deref(), sender, jsep),
            (Some("t5"), 7, None)
        );
        let RoomEvent::Joined {
            room,
            id,
            private_id,
            publishers,
        } = event
        else {
            panic!("not joined");
        };
        assert_eq!((room, id, private_id), (4242, 1001, Some(777)));
        assert_eq!(publishers.len(), 1);
        assert_eq!(publishers[0].display.as_deref(), Some("p-4f1c"));
        assert_eq!(publishers[0].streams[1].kind, StreamKind::Video);
        assert!(publishers[0].streams[2].disabled);

        let event = |data: &str, jsep: &str| {
            parse(&format!(
                r#"{{"janus":"event","session_id":1,"sender":7{jsep},"plugindata":{{"plugin":"janus.plugin.videoroom","data":{data}}}}}"#
            ))
        };
        let ev = |data: &str| match event(data, "").unwrap() {
            Incoming::Event { event, .. } => event,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            ev(r#"{"videoroom":"event","room":1,"unpublished":1002}"#),
            RoomEvent::Unpublished(1002)
        );
        assert_eq!(
            ev(r#"{"videoroom":"event","room":1,"leaving":1003}"#),
            RoomEvent::Leaving(1003)
        );
        assert_eq!(
            ev(r#"{"videoroom":"event","leaving":"ok"}"#),
            RoomEvent::Left
        );
        assert_eq!(
            ev(r#"{"videoroom":"event","room":1,"configured":"ok"}"#),
            RoomEvent::Configured
        );
        assert_eq!(
            ev(r#"{"videoroom":"event","started":"ok"}"#),
            RoomEvent::Started
        );
        assert_eq!(ev(r#"{"videoroom":"updating"}"#), RoomEvent::Updating);
        assert_eq!(
            ev(
                r#"{"videoroom":"event","error_code":433,"error":"Room requires end-to-end encrypted media"}"#
            ),
            RoomEvent::Error {
                code: 433,
                reason: "Room requires end-to-end encrypted media".into()
            }
        );
        assert_eq!(
            ev(r#"{"videoroom":"talking","room":1,"id":5}"#),
            RoomEvent::Other("talking".into())
        );

        let attached = event(
            r#"{"videoroom":"attached","room":1,"streams":[{"mindex":0,"mid":"0","type":"video","feed_id":1002,"feed_mid":"1"}]}"#,
            &format!(r#","jsep":{{"type":"offer","sdp":{}}}"#, serde_json::to_string(SDP).unwrap()),
        )
        .unwrap();
        let Incoming::Event {
            event: RoomEvent::Attached(streams),
            jsep: Some(jsep),
            ..
        } = attached
        else {
            panic!("{attached:?}");
        };
        assert_eq!(streams[0].feed_id, Some(1002));
        assert_eq!(streams[0].feed_mid.as_deref(), Some("1"));
        assert!(jsep.is_offer && !jsep.e2ee && jsep.sdp == SDP);
    }

    #[test]
    fn sync_plugin_replies_parse() {
        let reply = |data: &str| {
            parse(&format!(
                r#"{{"janus":"success","session_id":1,"sender":7,"transaction":"x","plugindata":{{"plugin":"janus.plugin.videoroom","data":{data}}}}}"#
            ))
            .unwrap()
        };
        let Incoming::Success {
            event: Some(e),
            id: None,
            ..
        } = reply(r#"{"videoroom":"success","room":5,"exists":false}"#)
        else {
            panic!()
        };
        assert_eq!(e, RoomEvent::Exists(false));
        let Incoming::Success { event: Some(e), .. } =
            reply(r#"{"videoroom":"created","room":5,"permanent":false}"#)
        else {
            panic!()
        };
        assert_eq!(e, RoomEvent::Created(5));
    }

    #[test]
    fn hostile_and_broken_messages_are_typed_errors() {
        let big = format!(
            r#"{{"janus":"ack","transaction":"{}"}}"#,
            "x".repeat(MAX_MESSAGE_LEN)
        );
        let publishers: Vec<String> = (0..=MAX_PUBLISHERS)
            .map(|i| format!(r#"{{"id":{i}}}"#))
            .collect();
        let many = format!(
            r#"{{"janus":"event","sender":1,"plugindata":{{"plugin":"janus.plugin.videoroom","data":{{"videoroom":"event","publishers":[{}]}}}}}}"#,
            publishers.join(",")
        );
        let cases: Vec<(String, SignalError)> = vec![
            (big.clone(), SignalError::TooLarge(big.len())),
            ("not json".into(), SignalError::NotJson("expected ident at line 1 column 2".into())),
            ("[1,2]".into(), SignalError::Malformed("not a JSON object")),
            ("{}".into(), SignalError::Missing("janus")),
            (r#"{"janus":"ack"}"#.into(), SignalError::Malformed("missing transaction")),
            (r#"{"janus":"rm -rf"}"#.into(), SignalError::UnknownMessage("rm -rf".into())),
            (r#"{"janus":"event","sender":1}"#.into(), SignalError::Malformed("event without plugindata")),
            (r#"{"janus":"event","sender":-1,"plugindata":{}}"#.into(), SignalError::Malformed("an id is not an unsigned number")),
            (r#"{"janus":"event","sender":1,"plugindata":{"plugin":"janus.plugin.echotest","data":{}}}"#.into(), SignalError::Malformed("event from another plugin")),
            (r#"{"janus":"error","error":{"code":99999,"reason":"x"}}"#.into(), SignalError::Malformed("an error code is not a small number")),
            (many, SignalError::TooMany("publishers")),
            (r#"{"janus":"event","sender":1,"plugindata":{"plugin":"janus.plugin.videoroom","data":{"videoroom":"attached","streams":[{"type":"hologram"}]}}}"#.into(), SignalError::Malformed("unknown stream type")),
            (r#"{"janus":"event","sender":1,"jsep":{"type":"offer","sdp":"<script>"},"plugindata":{"plugin":"janus.plugin.videoroom","data":{"videoroom":"attached"}}}"#.into(), SignalError::Malformed("jsep sdp is not a session description")),
            (r#"{"janus":"event","sender":1,"jsep":{"type":"pranswer","sdp":"v=0"},"plugindata":{"plugin":"janus.plugin.videoroom","data":{"videoroom":"attached"}}}"#.into(), SignalError::Malformed("jsep type is neither offer nor answer")),
        ];
        for (input, expected) in cases {
            assert_eq!(
                parse(&input),
                Err(expected),
                "{}",
                &input[..input.len().min(120)]
            );
        }
    }

    #[test]
    fn built_messages_have_the_shapes_janus_expects() {
        let v: Value = serde_json::from_str(&build::message(
            "t9",
            1,
            2,
            build::publish(),
            Some(build::offer(SDP)),
        ))
        .unwrap();
        assert_eq!(v["janus"], "message");
        assert_eq!(
            (v["session_id"].as_u64(), v["handle_id"].as_u64()),
            (Some(1), Some(2))
        );
        assert_eq!(v["body"]["request"], "publish");
        assert_eq!(
            v["jsep"]["e2ee"], true,
            "require_e2ee rooms refuse publishers without it"
        );
        assert_eq!(v["jsep"]["trickle"], false);
        let room = build::create_room(5, Some("4711"), Some("/tmp/rec"));
        assert_eq!(room["require_e2ee"], true);
        assert_eq!(room["pin"], "4711");
        assert_eq!(room["record"], true);
        let sub = build::join_subscriber(5, Some(777), &[1, 2], None);
        assert_eq!(sub["streams"][1]["feed"], 2);
        assert_eq!(sub["use_msid"], true);
        assert!(sub.get("pin").is_none());
    }
}
