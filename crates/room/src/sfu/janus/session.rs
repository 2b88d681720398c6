//! The Janus VideoRoom conversation for one participant, sans-IO: text messages and time in,
//! text messages to send and [`JanusEvent`]s out. The caller (the client's Janus adapter) owns
//! the WebSocket and the PeerConnections; this owns transactions, handles, keepalives and the
//! order of requests.
//!
//! ```text
//! create session → attach (publisher) → exists? → [create room] → join as publisher
//!   → Joined: caller makes an offer → publish (jsep.e2ee) → PublishAnswer
//!   → publishers appear → attach (subscriber) → join as subscriber / subscribe
//!   → SubscriptionOffer: caller answers → start
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use super::message::{self, Id, Incoming, Jsep, Publisher, RoomEvent, StreamKind, build};
use crate::error::SignalError;

/// Keepalive interval (Janus drops sessions after 60 s of silence).
pub const KEEPALIVE: Duration = Duration::from_secs(25);
/// How long a request may go unanswered before the session is considered lost.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What to join.
#[derive(Clone, Debug)]
pub struct JoinConfig {
    /// Janus room number.
    pub room: Id,
    /// The room's PIN, if any.
    pub pin: Option<String>,
    /// What the SFU gets as our display name: a random per-meeting pseudonym, never a real name.
    pub pseudonym: String,
    /// Create the room with recording into this folder (tests only).
    pub record_dir: Option<String>,
}

/// A remote stream in our subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteStream {
    /// The mid in our subscriber PeerConnection.
    pub mid: String,
    /// The publishing participant.
    pub feed: Id,
    /// Audio, video or data.
    pub kind: StreamKind,
}

/// What the caller must act on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JanusEvent {
    /// We are in the room: create the publisher PeerConnection and call [`JanusSession::publish`].
    Joined {
        /// Our participant id.
        id: Id,
        /// Who already publishes, with the display string each gave Janus.
        publishers: Vec<(Id, Option<String>)>,
    },
    /// Janus answered our offer: set it as the publisher's remote description.
    PublishAnswer {
        /// The SDP answer.
        sdp: String,
    },
    /// Janus offers (new or changed) subscriptions: set it on the subscriber PeerConnection and
    /// answer with [`JanusSession::answer_subscription`].
    SubscriptionOffer {
        /// The SDP offer.
        sdp: String,
        /// Every stream the subscription now carries.
        streams: Vec<RemoteStream>,
    },
    /// Another participant publishes (subscribe with [`JanusSession::subscribe`]).
    ParticipantJoined {
        /// Their id.
        feed: Id,
        /// The pseudonym they gave the SFU.
        pseudonym: Option<String>,
    },
    /// Another participant stopped publishing or left.
    ParticipantLeft {
        /// Their id.
        feed: Id,
    },
    /// The session cannot go on; reconnect (or, for [`Failure::Refused`], tell the user).
    Failed(Failure),
}

/// Why the session ended.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// Janus refused us: wrong PIN, E2EE not declared, room full. Retrying will not help.
    #[error("the SFU refused to let us in ({code}): {reason}")]
    Refused {
        /// VideoRoom or core error code.
        code: u16,
        /// Janus's explanation.
        reason: String,
    },
    /// The session expired, a request went unanswered, or Janus reported an error: reconnect.
    #[error("the SFU session was lost: {0}")]
    Lost(String),
    /// Janus broke the protocol.
    #[error("the SFU sent an unusable message: {0}")]
    Protocol(SignalError),
}

/// Which request a transaction belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    CreateSession,
    AttachPublisher,
    AttachSubscriber,
    Exists,
    CreateRoom,
    JoinPublisher,
    Publish,
    Configure,
    JoinSubscriber,
    Subscribe,
    Unsubscribe,
    Start,
    Keepalive,
    Leave,
}

/// One participant's conversation with Janus.
#[derive(Debug)]
pub struct JanusSession {
    config: JoinConfig,
    session: Option<Id>,
    publisher: Option<Id>,
    subscriber: Option<Id>,
    /// Set while the subscriber handle is being attached or joined.
    subscriber_pending: bool,
    own_id: Option<Id>,
    private_id: Option<Id>,
    /// Feeds that publish, as far as we know, with the mids of their media streams.
    publishing: BTreeMap<Id, BTreeSet<String>>,
    /// Feeds we subscribe to (or asked for).
    subscribed: BTreeSet<Id>,
    /// Feeds we were asked to subscribe to and have not yet asked Janus for.
    wanted: BTreeSet<Id>,
    /// Streams added by feeds we subscribe to, not yet asked for: (feed, mid).
    wanted_streams: BTreeSet<(Id, String)>,
    /// Streams a publisher stopped (a share that ended) that our subscription still carries.
    unwanted_streams: BTreeSet<(Id, String)>,
    pending: HashMap<String, (Purpose, Instant)>,
    next_tx: u64,
    last_sent: Option<Instant>,
    outbox: Vec<String>,
    events: Vec<JanusEvent>,
    failed: bool,
}

impl JanusSession {
    /// A session that will join `config.room`; call [`JanusSession::start`] once connected.
    pub fn new(config: JoinConfig) -> Self {
        JanusSession {
            config,
            session: None,
            publisher: None,
            subscriber: None,
            subscriber_pending: false,
            own_id: None,
            private_id: None,
            publishing: BTreeMap::new(),
            subscribed: BTreeSet::new(),
            wanted: BTreeSet::new(),
            wanted_streams: BTreeSet::new(),
            unwanted_streams: BTreeSet::new(),
            pending: HashMap::new(),
            next_tx: 0,
            last_sent: None,
            outbox: Vec::new(),
            events: Vec::new(),
            failed: false,
        }
    }

    /// Begins: creates the Janus session.
    pub fn start(&mut self, now: Instant) {
        let tx = self.transaction(Purpose::CreateSession, now);
        self.send(build::create_session(&tx), now);
    }

    /// Our participant id, once joined.
    pub fn own_id(&self) -> Option<Id> {
        self.own_id
    }

    /// Sends our offer (audio + video, end-to-end encrypted) for publishing.
    pub fn publish(&mut self, offer_sdp: &str, now: Instant) {
        let (Some(session), Some(handle)) = (self.session, self.publisher) else {
            return;
        };
        let tx = self.transaction(Purpose::Publish, now);
        let msg = build::message(
            &tx,
            session,
            handle,
            build::publish(),
            Some(build::offer(offer_sdp)),
        );
        self.send(msg, now);
    }

    /// Sends a new offer for our publisher connection (tracks added or removed).
    pub fn renegotiate(&mut self, offer_sdp: &str, now: Instant) {
        let (Some(session), Some(handle)) = (self.session, self.publisher) else {
            return;
        };
        let tx = self.transaction(Purpose::Configure, now);
        let msg = build::message(
            &tx,
            session,
            handle,
            build::configure(),
            Some(build::offer(offer_sdp)),
        );
        self.send(msg, now);
    }

    /// Receives everything `feed` publishes (now and later: the subscription follows it).
    pub fn subscribe(&mut self, feed: Id, now: Instant) {
        if !self.publishing.contains_key(&feed) || self.subscribed.contains(&feed) {
            return;
        }
        self.wanted.insert(feed);
        self.request_wanted(now);
    }

    /// Starts or stops sending our streams (by mid) without renegotiating: mute.
    pub fn set_sending(&mut self, streams: &[(&str, bool)], now: Instant) {
        let (Some(session), Some(handle)) = (self.session, self.publisher) else {
            return;
        };
        let tx = self.transaction(Purpose::Configure, now);
        let msg = build::message(&tx, session, handle, build::configure_send(streams), None);
        self.send(msg, now);
    }

    /// Answers the latest subscription offer.
    pub fn answer_subscription(&mut self, answer_sdp: &str, now: Instant) {
        let (Some(session), Some(handle)) = (self.session, self.subscriber) else {
            return;
        };
        let tx = self.transaction(Purpose::Start, now);
        let msg = build::message(
            &tx,
            session,
            handle,
            build::start(),
            Some(build::answer(answer_sdp)),
        );
        self.send(msg, now);
    }

    /// Leaves the room and ends the session.
    pub fn leave(&mut self, now: Instant) {
        let Some(session) = self.session else {
            return;
        };
        if let Some(handle) = self.publisher {
            let tx = self.transaction(Purpose::Leave, now);
            self.send(
                build::message(&tx, session, handle, build::leave(), None),
                now,
            );
        }
        let tx = self.transaction(Purpose::Leave, now);
        self.send(build::destroy(&tx, session), now);
        self.failed = true;
    }

    /// Handles one message from Janus. A malformed one is returned as an error and otherwise
    /// ignored: the session goes on.
    pub fn handle_message(&mut self, text: &str, now: Instant) -> Result<(), SignalError> {
        let incoming = message::parse(text)?;
        self.handle(incoming, now);
        Ok(())
    }

    /// Lets time pass: keepalives and request timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.failed {
            return;
        }
        if let Some((tx, _)) = self
            .pending
            .iter()
            .find(|(_, (_, at))| now.duration_since(*at) > REQUEST_TIMEOUT)
        {
            let what = format!("no answer to request {tx} within {REQUEST_TIMEOUT:?}");
            self.fail(Failure::Lost(what));
            return;
        }
        if let (Some(session), Some(last)) = (self.session, self.last_sent)
            && now.duration_since(last) >= KEEPALIVE
        {
            let tx = self.transaction(Purpose::Keepalive, now);
            self.send(build::keepalive(&tx, session), now);
        }
    }

    /// When [`JanusSession::handle_timeout`] wants to run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.failed {
            return None;
        }
        let keepalive = self.last_sent.map(|t| t + KEEPALIVE);
        let request = self
            .pending
            .values()
            .map(|(_, at)| *at + REQUEST_TIMEOUT)
            .min();
        keepalive.into_iter().chain(request).min()
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<String> {
        (!self.outbox.is_empty()).then(|| self.outbox.remove(0))
    }

    /// Whether messages or events wait to be polled.
    pub fn has_pending_output(&self) -> bool {
        !self.outbox.is_empty() || !self.events.is_empty()
    }

    /// The next event for the caller.
    pub fn poll_event(&mut self) -> Option<JanusEvent> {
        (!self.events.is_empty()).then(|| self.events.remove(0))
    }

    fn transaction(&mut self, purpose: Purpose, now: Instant) -> String {
        self.next_tx += 1;
        let tx = format!("c{}", self.next_tx);
        // Keepalives and leave get no event back worth waiting for.
        if !matches!(purpose, Purpose::Keepalive | Purpose::Leave) {
            self.pending.insert(tx.clone(), (purpose, now));
        }
        tx
    }

    fn send(&mut self, text: String, now: Instant) {
        self.outbox.push(text);
        self.last_sent = Some(now);
    }

    fn fail(&mut self, failure: Failure) {
        if !self.failed {
            self.failed = true;
            self.events.push(JanusEvent::Failed(failure));
        }
    }

    fn handle(&mut self, incoming: Incoming, now: Instant) {
        if self.failed {
            return;
        }
        match incoming {
            // Acks only say "event follows" (and may even arrive after it).
            Incoming::Ack { .. } => {}
            Incoming::Success {
                transaction,
                id,
                event,
            } => {
                let Some((purpose, _)) = self.pending.remove(&transaction) else {
                    return;
                };
                self.on_success(purpose, id, event, now);
            }
            Incoming::Event {
                transaction,
                sender,
                event,
                jsep,
            } => {
                let purpose = transaction
                    .as_ref()
                    .and_then(|t| self.pending.remove(t))
                    .map(|(p, _)| p);
                self.on_event(purpose, sender, event, jsep, now);
            }
            Incoming::Error {
                transaction,
                code,
                reason,
            } => {
                if let Some(t) = &transaction {
                    self.pending.remove(t);
                }
                self.fail(Failure::Lost(format!("Janus error {code}: {reason}")));
            }
            Incoming::Timeout => self.fail(Failure::Lost("the session timed out".into())),
            Incoming::Hangup { sender, reason } if Some(sender) == self.publisher => {
                self.fail(Failure::Lost(format!(
                    "publisher connection closed: {reason}"
                )));
            }
            Incoming::Hangup { .. }
            | Incoming::WebrtcUp { .. }
            | Incoming::Media { .. }
            | Incoming::Detached { .. }
            | Incoming::SlowLink { .. } => {}
        }
    }

    fn on_success(
        &mut self,
        purpose: Purpose,
        id: Option<Id>,
        event: Option<RoomEvent>,
        now: Instant,
    ) {
        match (purpose, id, event) {
            (Purpose::CreateSession, Some(id), _) => {
                self.session = Some(id);
                let tx = self.transaction(Purpose::AttachPublisher, now);
                self.send(build::attach(&tx, id), now);
            }
            (Purpose::AttachPublisher, Some(id), _) => {
                self.publisher = Some(id);
                self.plugin(Purpose::Exists, id, build::exists(self.config.room), now);
            }
            (Purpose::AttachSubscriber, Some(id), _) => {
                self.subscriber = Some(id);
                let feeds: Vec<Id> = std::mem::take(&mut self.wanted).into_iter().collect();
                self.subscribed.extend(&feeds);
                let body = build::join_subscriber(
                    self.config.room,
                    self.private_id,
                    &feeds,
                    self.config.pin.as_deref(),
                );
                self.plugin(Purpose::JoinSubscriber, id, body, now);
            }
            (Purpose::Exists, _, Some(RoomEvent::Exists(true))) => self.join_publisher(now),
            (Purpose::Exists, _, Some(RoomEvent::Exists(false))) => {
                let body = build::create_room(
                    self.config.room,
                    self.config.pin.as_deref(),
                    self.config.record_dir.as_deref(),
                );
                if let Some(handle) = self.publisher {
                    self.plugin(Purpose::CreateRoom, handle, body, now);
                }
            }
            (Purpose::CreateRoom, _, Some(RoomEvent::Created(_))) => self.join_publisher(now),
            // Someone else created it between our `exists` and `create`.
            (Purpose::CreateRoom, _, Some(RoomEvent::Error { code: 427, .. })) => {
                self.join_publisher(now);
            }
            (_, _, Some(RoomEvent::Error { code, reason })) => {
                self.fail(Failure::Refused { code, reason });
            }
            (purpose, ..) => self.fail(Failure::Protocol(SignalError::Malformed(match purpose {
                Purpose::CreateSession | Purpose::AttachPublisher | Purpose::AttachSubscriber => {
                    "success without the new id"
                }
                _ => "unexpected reply",
            }))),
        }
    }

    fn on_event(
        &mut self,
        purpose: Option<Purpose>,
        sender: Id,
        event: RoomEvent,
        jsep: Option<Jsep>,
        now: Instant,
    ) {
        let from_subscriber = Some(sender) == self.subscriber;
        match event {
            // A stream that went before we could drop it: nothing to drop.
            RoomEvent::Error { .. } if purpose == Some(Purpose::Unsubscribe) => {
                self.subscriber_pending = false;
                self.request_wanted(now);
            }
            RoomEvent::Error { code, reason } => match purpose {
                // A refused join or publish means we cannot take part.
                Some(Purpose::JoinPublisher | Purpose::Publish | Purpose::JoinSubscriber) => {
                    self.fail(Failure::Refused { code, reason });
                }
                _ => self.fail(Failure::Lost(format!("Janus error {code}: {reason}"))),
            },
            RoomEvent::Joined {
                id,
                private_id,
                publishers,
                ..
            } if !from_subscriber => {
                self.own_id = Some(id);
                self.private_id = private_id;
                let mut present = Vec::new();
                for p in publishers {
                    if p.id != id && !self.publishing.contains_key(&p.id) {
                        self.publishing.insert(p.id, media_mids(&p));
                        present.push((p.id, p.display));
                    }
                }
                let publishers = present;
                self.events.push(JanusEvent::Joined { id, publishers });
            }
            RoomEvent::Publishers(list) => {
                self.add_publishers(list);
                self.request_wanted(now);
            }
            RoomEvent::Unpublished(feed) | RoomEvent::Leaving(feed) | RoomEvent::Kicked(feed) => {
                self.wanted.remove(&feed);
                self.wanted_streams.retain(|(f, _)| *f != feed);
                self.unwanted_streams.retain(|(f, _)| *f != feed);
                self.subscribed.remove(&feed);
                if self.publishing.remove(&feed).is_some() {
                    self.events.push(JanusEvent::ParticipantLeft { feed });
                }
            }
            RoomEvent::Configured => {
                if let Some(j) = jsep.filter(|j| !j.is_offer) {
                    self.events.push(JanusEvent::PublishAnswer { sdp: j.sdp });
                }
            }
            RoomEvent::Updating if from_subscriber => self.forget_subscription_requests(),
            RoomEvent::Attached(streams) | RoomEvent::Updated(streams) if from_subscriber => {
                // The reply to a merged update may not carry our transaction.
                self.forget_subscription_requests();
                self.subscriber_pending = false;
                if let Some(j) = jsep.filter(|j| j.is_offer) {
                    let streams = streams
                        .into_iter()
                        .filter(|s| !s.disabled)
                        .filter_map(|s| {
                            Some(RemoteStream {
                                mid: s.mid,
                                feed: s.feed_id?,
                                kind: s.kind,
                            })
                        })
                        .collect();
                    self.events.push(JanusEvent::SubscriptionOffer {
                        sdp: j.sdp,
                        streams,
                    });
                }
                self.request_wanted(now);
            }
            RoomEvent::Destroyed(_) => self.fail(Failure::Lost("the room was destroyed".into())),
            _ => {}
        }
    }

    fn forget_subscription_requests(&mut self) {
        self.pending
            .retain(|_, (p, _)| !matches!(p, Purpose::JoinSubscriber | Purpose::Subscribe));
    }

    fn join_publisher(&mut self, now: Instant) {
        let Some(handle) = self.publisher else {
            return;
        };
        let body = build::join_publisher(
            self.config.room,
            &self.config.pseudonym,
            self.config.pin.as_deref(),
        );
        self.plugin(Purpose::JoinPublisher, handle, body, now);
    }

    /// Publishers Janus announced: new ones are news; one we receive that added streams
    /// (it renegotiated) gets those streams added to our subscription, and one that stopped
    /// streams (disabled: a share that ended) gets them taken out (Janus keeps them in the
    /// subscription, silent, otherwise).
    fn add_publishers(&mut self, list: Vec<Publisher>) {
        for p in list {
            if Some(p.id) == self.own_id {
                continue;
            }
            let mids = media_mids(&p);
            match self.publishing.get_mut(&p.id) {
                None => {
                    self.publishing.insert(p.id, mids);
                    self.events.push(JanusEvent::ParticipantJoined {
                        feed: p.id,
                        pseudonym: p.display,
                    });
                }
                Some(known) => {
                    let added: Vec<String> = mids.difference(known).cloned().collect();
                    let removed: Vec<String> = known.difference(&mids).cloned().collect();
                    *known = mids;
                    if self.subscribed.contains(&p.id) {
                        for mid in removed {
                            self.wanted_streams.remove(&(p.id, mid.clone()));
                            self.unwanted_streams.insert((p.id, mid));
                        }
                        for mid in added {
                            self.unwanted_streams.remove(&(p.id, mid.clone()));
                            self.wanted_streams.insert((p.id, mid));
                        }
                    }
                }
            }
        }
    }

    /// Asks Janus for the feeds we want but do not have: a subscriber handle first, then one
    /// `subscribe` at a time (Janus merges concurrent updates into one offer anyway).
    fn request_wanted(&mut self, now: Instant) {
        if self.subscriber_pending {
            return;
        }
        if self.wanted.is_empty() && self.wanted_streams.is_empty() {
            if let Some(handle) = self.subscriber
                && !self.unwanted_streams.is_empty()
            {
                self.subscriber_pending = true;
                let streams = std::mem::take(&mut self.unwanted_streams);
                let body = build::unsubscribe(&streams);
                self.plugin(Purpose::Unsubscribe, handle, body, now);
            }
            return;
        }
        let Some(session) = self.session else {
            return;
        };
        self.subscriber_pending = true;
        match self.subscriber {
            None => {
                let tx = self.transaction(Purpose::AttachSubscriber, now);
                self.send(build::attach(&tx, session), now);
            }
            Some(handle) => {
                let feeds: Vec<Id> = std::mem::take(&mut self.wanted).into_iter().collect();
                self.subscribed.extend(&feeds);
                let streams = std::mem::take(&mut self.wanted_streams);
                let body = build::subscribe(&feeds, &streams);
                self.plugin(Purpose::Subscribe, handle, body, now);
            }
        }
    }

    fn plugin(&mut self, purpose: Purpose, handle: Id, body: serde_json::Value, now: Instant) {
        let Some(session) = self.session else {
            return;
        };
        let tx = self.transaction(purpose, now);
        self.send(build::message(&tx, session, handle, body, None), now);
    }
}

/// The mids of a publisher's audio and video streams (those it sends: not disabled).
fn media_mids(p: &Publisher) -> BTreeSet<String> {
    p.streams
        .iter()
        .filter(|s| s.kind != StreamKind::Data && !s.disabled)
        .map(|s| s.mid.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const SDP: &str = "v=0\r\n";

    /// Drives a session against a scripted Janus: each sent request is answered by `reply`.
    struct Harness {
        s: JanusSession,
        now: Instant,
        sent: Vec<Value>,
    }

    impl Harness {
        fn new() -> Self {
            let mut s = JanusSession::new(JoinConfig {
                room: 42,
                pin: Some("1234".into()),
                pseudonym: "p-abc".into(),
                record_dir: None,
            });
            let now = Instant::now();
            s.start(now);
            let mut h = Harness {
                s,
                now,
                sent: Vec::new(),
            };
            h.drain();
            h
        }

        fn drain(&mut self) {
            while let Some(m) = self.s.poll_transmit() {
                self.sent.push(serde_json::from_str(&m).unwrap());
            }
        }

        fn last(&self) -> &Value {
            self.sent.last().unwrap()
        }

        fn tx(&self) -> String {
            self.last()["transaction"].as_str().unwrap().to_owned()
        }

        fn recv(&mut self, msg: Value) {
            self.s.handle_message(&msg.to_string(), self.now).unwrap();
            self.drain();
        }

        fn events(&mut self) -> Vec<JanusEvent> {
            std::iter::from_fn(|| self.s.poll_event()).collect()
        }

        fn plugin_reply(&mut self, janus: &str, sender: u64, data: Value, jsep: Option<Value>) {
            let mut m = serde_json::json!({
                "janus": janus, "session_id": 1, "sender": sender, "transaction": self.tx(),
                "plugindata": { "plugin": "janus.plugin.videoroom", "data": data },
            });
            if let Some(j) = jsep {
                m["jsep"] = j;
            }
            self.recv(m);
        }

        /// Runs the exchange up to a joined publisher with `others` already in the room.
        fn joined(others: &[u64]) -> Self {
            let mut h = Harness::new();
            assert_eq!(h.last()["janus"], "create");
            let tx = h.tx();
            h.recv(serde_json::json!({"janus":"success","transaction":tx,"data":{"id":1}}));
            assert_eq!(h.last()["janus"], "attach");
            let tx = h.tx();
            h.recv(serde_json::json!({"janus":"success","session_id":1,"transaction":tx,"data":{"id":10}}));
            assert_eq!(h.last()["body"]["request"], "exists");
            h.plugin_reply(
                "success",
                10,
                serde_json::json!({"videoroom":"success","room":42,"exists":false}),
                None,
            );
            assert_eq!(h.last()["body"]["request"], "create");
            assert_eq!(h.last()["body"]["require_e2ee"], true);
            h.plugin_reply(
                "success",
                10,
                serde_json::json!({"videoroom":"created","room":42}),
                None,
            );
            let join = h.last()["body"].clone();
            assert_eq!(
                (join["request"].as_str(), join["ptype"].as_str()),
                (Some("join"), Some("publisher"))
            );
            assert_eq!(join["display"], "p-abc");
            assert_eq!(join["pin"], "1234");
            let publishers: Vec<Value> = others
                .iter()
                .map(|id| serde_json::json!({"id": id, "display": format!("p-{id}")}))
                .collect();
            h.recv(serde_json::json!({"janus":"ack","transaction":h.tx()}));
            h.plugin_reply(
                "event",
                10,
                serde_json::json!({"videoroom":"joined","room":42,"id":100,"private_id":7,"publishers":publishers}),
                None,
            );
            h
        }
    }

    #[test]
    fn creates_the_room_joins_publishes_and_subscribes() {
        let mut h = Harness::joined(&[200]);
        let events = h.events();
        assert_eq!(
            events,
            [JanusEvent::Joined {
                id: 100,
                publishers: vec![(200, Some("p-200".into()))]
            }]
        );
        // Someone publishes already: asked to, we attach a subscriber handle.
        assert_ne!(h.last()["janus"], "attach", "only when asked");
        h.s.subscribe(200, h.now);
        h.s.subscribe(999, h.now);
        h.drain();
        assert_eq!(h.last()["janus"], "attach");
        let attach_tx = h.tx();

        h.s.publish(SDP, h.now);
        h.drain();
        let publish = h.last().clone();
        assert_eq!(publish["body"]["request"], "publish");
        assert_eq!(publish["jsep"]["e2ee"], true);
        h.plugin_reply(
            "event",
            10,
            serde_json::json!({"videoroom":"event","room":42,"configured":"ok"}),
            Some(serde_json::json!({"type":"answer","sdp":SDP,"e2ee":true})),
        );
        assert_eq!(
            h.events(),
            vec![JanusEvent::PublishAnswer { sdp: SDP.into() }]
        );

        h.recv(serde_json::json!({"janus":"success","session_id":1,"transaction":attach_tx,"data":{"id":11}}));
        let join = h.last()["body"].clone();
        assert_eq!(join["ptype"], "subscriber");
        assert_eq!(join["private_id"], 7);
        assert_eq!(join["streams"][0]["feed"], 200);
        assert_eq!(
            join["streams"].as_array().unwrap().len(),
            1,
            "999 does not publish"
        );
        h.plugin_reply(
            "event",
            11,
            serde_json::json!({"videoroom":"attached","room":42,"streams":[
                {"type":"audio","mindex":0,"mid":"0","feed_id":200,"feed_mid":"0"},
                {"type":"video","mindex":1,"mid":"1","feed_id":200,"feed_mid":"1"}]}),
            Some(serde_json::json!({"type":"offer","sdp":SDP})),
        );
        let events = h.events();
        let JanusEvent::SubscriptionOffer { streams, .. } = &events[0] else {
            panic!("{events:?}");
        };
        assert_eq!(streams.len(), 2);
        assert_eq!(
            (streams[1].mid.as_str(), streams[1].feed, streams[1].kind),
            ("1", 200, StreamKind::Video)
        );
        h.s.answer_subscription(SDP, h.now);
        h.drain();
        assert_eq!(h.last()["body"]["request"], "start");
        assert_eq!(h.last()["jsep"]["type"], "answer");
        assert_eq!(h.last()["handle_id"], 11);

        // A newcomer: news, then (asked) a subscription on the existing handle. Their leaving:
        // an event.
        h.recv(serde_json::json!({"janus":"event","session_id":1,"sender":10,"plugindata":{"plugin":"janus.plugin.videoroom","data":{"videoroom":"event","room":42,"publishers":[{"id":300,"display":"p-300"}]}}}));
        assert_eq!(
            h.events(),
            [JanusEvent::ParticipantJoined {
                feed: 300,
                pseudonym: Some("p-300".into())
            }]
        );
        h.s.subscribe(300, h.now);
        h.drain();
        assert_eq!(h.last()["body"]["request"], "subscribe");
        assert_eq!(h.last()["body"]["streams"][0]["feed"], 300);
        h.recv(serde_json::json!({"janus":"event","session_id":1,"sender":10,"plugindata":{"plugin":"janus.plugin.videoroom","data":{"videoroom":"event","room":42,"leaving":300}}}));
        let events = h.events();
        assert!(
            events.contains(&JanusEvent::ParticipantLeft { feed: 300 }),
            "{events:?}"
        );
    }

    #[test]
    fn a_refused_join_is_final_and_a_lost_session_asks_for_a_reconnect() {
        let mut h = Harness::new();
        let tx = h.tx();
        h.recv(serde_json::json!({"janus":"success","transaction":tx,"data":{"id":1}}));
        let tx = h.tx();
        h.recv(serde_json::json!({"janus":"success","transaction":tx,"data":{"id":10}}));
        h.plugin_reply(
            "success",
            10,
            serde_json::json!({"videoroom":"success","room":42,"exists":true}),
            None,
        );
        h.plugin_reply("event", 10, serde_json::json!({"videoroom":"event","error_code":433,"error":"Unauthorized (wrong pin)"}), None);
        assert_eq!(
            h.events(),
            vec![JanusEvent::Failed(Failure::Refused {
                code: 433,
                reason: "Unauthorized (wrong pin)".into()
            })]
        );

        let mut h = Harness::joined(&[]);
        h.events();
        h.recv(serde_json::json!({"janus":"timeout","session_id":1}));
        assert!(matches!(
            h.events()[..],
            [JanusEvent::Failed(Failure::Lost(_))]
        ));
    }

    #[test]
    fn keepalives_flow_and_silence_from_janus_is_a_lost_session() {
        let mut h = Harness::joined(&[]);
        h.events();
        let due = h.s.poll_timeout().unwrap();
        assert!(due <= h.now + KEEPALIVE);
        h.s.handle_timeout(h.now + KEEPALIVE);
        h.drain();
        assert_eq!(h.last()["janus"], "keepalive");
        // A publish nobody answers.
        h.s.publish(SDP, h.now + KEEPALIVE);
        h.drain();
        h.s.handle_timeout(h.now + KEEPALIVE + REQUEST_TIMEOUT + Duration::from_secs(1));
        assert!(matches!(
            h.events()[..],
            [JanusEvent::Failed(Failure::Lost(_))]
        ));
        assert_eq!(h.s.poll_timeout(), None);
    }

    #[test]
    fn hostile_messages_are_refused_without_ending_the_session() {
        let mut h = Harness::joined(&[]);
        h.events();
        for bad in ["", "{", r#"{"janus":"event","sender":"x"}"#, "[]"] {
            assert!(h.s.handle_message(bad, h.now).is_err(), "{bad}");
        }
        // Replies to transactions we never sent are ignored.
        h.recv(serde_json::json!({"janus":"success","transaction":"forged","data":{"id":99}}));
        assert!(h.events().is_empty());
        h.s.publish(SDP, h.now);
        h.drain();
        assert_eq!(h.last()["body"]["request"], "publish", "still working");
    }

    #[test]
    fn a_stream_its_publisher_stops_is_taken_out_of_the_subscription() {
        let mut h = Harness::joined(&[200]);
        h.events();
        h.s.subscribe(200, h.now);
        h.drain();
        let attach_tx = h.tx();
        h.recv(serde_json::json!({"janus":"success","session_id":1,"transaction":attach_tx,"data":{"id":11}}));
        let attached = |h: &mut Harness, videoroom: &str, mids: &[&str]| {
            let streams: Vec<Value> = mids
                .iter()
                .enumerate()
                .map(|(i, mid)| serde_json::json!({"type":"video","mindex":i,"mid":mid,"feed_id":200,"feed_mid":mid}))
                .collect();
            h.plugin_reply(
                "event",
                11,
                serde_json::json!({"videoroom":videoroom,"room":42,"streams":streams}),
                Some(serde_json::json!({"type":"offer","sdp":SDP})),
            );
        };
        attached(&mut h, "attached", &["0", "1"]);
        let publishers = |streams: Value| serde_json::json!({"janus":"event","session_id":1,"sender":10,"plugindata":{"plugin":"janus.plugin.videoroom","data":{"videoroom":"event","room":42,"publishers":[{"id":200,"display":"p-200","streams":streams}]}}});
        // 200 starts sharing: a third stream, added to the subscription.
        h.recv(publishers(serde_json::json!([
            {"type":"audio","mindex":0,"mid":"0"},{"type":"video","mindex":1,"mid":"1"},
            {"type":"video","mindex":2,"mid":"2"}])));
        assert_eq!(h.last()["body"]["request"], "subscribe");
        attached(&mut h, "updated", &["0", "1", "2"]);
        // 200 stops sharing: Janus lists the stream as disabled, and we drop it.
        h.recv(publishers(serde_json::json!([
            {"type":"audio","mindex":0,"mid":"0"},{"type":"video","mindex":1,"mid":"1"},
            {"type":"video","mindex":2,"mid":"2","disabled":true}])));
        let body = h.last()["body"].clone();
        assert_eq!(body["request"], "unsubscribe");
        assert_eq!(body["streams"], serde_json::json!([{"feed":200,"mid":"2"}]));
        // Janus refusing it (the stream went already) costs nothing: the session goes on.
        h.plugin_reply(
            "event",
            11,
            serde_json::json!({"videoroom":"event","error_code":428,"error":"No such feed"}),
            None,
        );
        assert!(
            !h.events()
                .iter()
                .any(|e| matches!(e, JanusEvent::Failed(_))),
            "the session goes on"
        );
        // Sharing again: subscribed again.
        h.recv(publishers(serde_json::json!([
            {"type":"audio","mindex":0,"mid":"0"},{"type":"video","mindex":1,"mid":"1"},
            {"type":"video","mindex":2,"mid":"2"}])));
        assert_eq!(h.last()["body"]["request"], "subscribe");
        assert_eq!(
            h.last()["body"]["streams"],
            serde_json::json!([{"feed":200,"mid":"2"}])
        );
    }
}
