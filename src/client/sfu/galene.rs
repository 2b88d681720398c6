//! The Galène adapter: a WebSocket to Galène driven by the sans-IO [`GaleneSession`], one
//! PeerConnection for the stream we publish (all our tracks, renegotiated as they change) and
//! one per stream Galène sends us (one per publishing client). Galène-only conventions live here:
//! the group's `/ws` endpoint, client ids hashed to handles, `stream:mid` as track handles,
//! trickled ICE from Galène, and data relayed as `usermessage`s over the WebSocket (Galène has
//! no data channels), to one client or to all.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use conclave_room::sfu::galene::{
    self, Candidate, Failure, GaleneEvent, GaleneSession, JoinConfig,
};
use conclave_room::sfu::{
    Dest, Link, LinkState, LocalTrack, LocalTrackId, MediaKind, PeerHandle, SfuEvent, SfuFailure,
    SfuRequest, TrackHandle,
};
use futures_util::{SinkExt, StreamExt};
use rtc::peer_connection::transport::RTCIceCandidateInit;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::peer_connection::RTCPeerConnectionState;

use super::{
    AdapterConfig, AdapterEvent, failure, forward_send_estimates, link_state, lost, mid_of,
    random_u32,
};
use crate::client::peer::{Peer, PeerEvent};

/// The label of the stream we publish (Galène matches it against receivers' requests).
const LABEL: &str = "camera";
/// Candidates Galène trickles before a connection can take them, kept at most.
const EARLY_CANDIDATES: usize = 64;

/// Runs the adapter until asked to disconnect or the connection fails (said as an event).
pub async fn run(
    config: AdapterConfig,
    mut requests: mpsc::UnboundedReceiver<SfuRequest>,
    events: mpsc::UnboundedSender<AdapterEvent>,
    data: mpsc::Sender<super::Relayed>,
) {
    let mut galene = Galene::new(&config, events.clone(), data);
    let result = galene.drive(&config, &mut requests).await;
    galene.close().await;
    if let Err(failure) = result {
        let _ = events.send(AdapterEvent::Sfu(SfuEvent::Failed(failure)));
    }
}

/// Which connection a PeerConnection's event comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Which {
    Up(String),
    Down(String),
}

/// A stream we publish: Galène forwards one audio and one video track of a stream, so our
/// camera and microphone share the first and every further video track has one of its own.
struct Up {
    peer: Peer,
    /// The stream's id at Galène.
    stream: String,
    /// Its tracks, with their kinds.
    sinks: BTreeMap<LocalTrackId, (MediaKind, Arc<TrackLocalStaticRTP>)>,
    /// Tracks waiting for the negotiation in flight to end.
    queued: Vec<LocalTrack>,
    /// Tracks removed while a negotiation was in flight: offer again after it.
    renegotiate: bool,
    negotiating: bool,
    /// Candidates that came before Galène's answer.
    early: Vec<Candidate>,
    state: RTCPeerConnectionState,
}

impl Up {
    /// Whether `kind` would be a second track of its kind here.
    fn has(&self, kind: MediaKind) -> bool {
        self.sinks.values().any(|(k, _)| *k == kind) || self.queued.iter().any(|t| t.kind == kind)
    }
}

/// A stream Galène sends us.
struct Down {
    peer: Peer,
    /// Whose.
    source: PeerHandle,
    /// Its media sections: mid → kind.
    tracks: BTreeMap<String, MediaKind>,
    state: RTCPeerConnectionState,
}

struct Galene {
    session: GaleneSession,
    events: mpsc::UnboundedSender<AdapterEvent>,
    data: mpsc::Sender<super::Relayed>,
    /// Ours, the first (camera and microphone) first.
    up: Vec<Up>,
    down: BTreeMap<String, Down>,
    /// Every PeerConnection's events, tagged.
    peer_events_tx: mpsc::UnboundedSender<(Which, PeerEvent)>,
    peer_events: mpsc::UnboundedReceiver<(Which, PeerEvent)>,
    /// Handle → Galène client id, for data to one participant.
    ids: HashMap<u64, String>,
    /// What we last said about the connections we publish on and receive on.
    publish_state: Option<LinkState>,
    subscribe_state: Option<LinkState>,
    helpers: Vec<tokio::task::JoinHandle<()>>,
    /// Requests that came before we were in the group.
    early: VecDeque<SfuRequest>,
    joined: bool,
}

impl Galene {
    fn new(
        config: &AdapterConfig,
        events: mpsc::UnboundedSender<AdapterEvent>,
        data: mpsc::Sender<super::Relayed>,
    ) -> Galene {
        let group = url::Url::parse(&config.link.sfu.url)
            .ok()
            .and_then(|u| galene::group_of(&u))
            .unwrap_or_default();
        let (peer_events_tx, peer_events) = mpsc::unbounded_channel();
        Galene {
            session: GaleneSession::new(JoinConfig {
                group: galene::meeting_group(&group, &config.link.room),
                username: config.pseudonym.clone(),
                password: config.link.pin.clone(),
                id: format!("{:08x}{:08x}", random_u32(), random_u32()),
            }),
            events,
            data,
            up: Vec::new(),
            down: BTreeMap::new(),
            peer_events_tx,
            peer_events,
            ids: HashMap::new(),
            publish_state: None,
            subscribe_state: None,
            helpers: Vec::new(),
            early: VecDeque::new(),
            joined: false,
        }
    }

    fn emit(&self, event: SfuEvent) {
        let _ = self.events.send(AdapterEvent::Sfu(event));
    }

    async fn drive(
        &mut self,
        config: &AdapterConfig,
        requests: &mut mpsc::UnboundedReceiver<SfuRequest>,
    ) -> Result<(), SfuFailure> {
        let page =
            url::Url::parse(&config.link.sfu.url).map_err(|e| lost(format!("signalling: {e}")))?;
        let endpoint = galene::endpoint_of(&page);
        let request = endpoint
            .as_str()
            .into_client_request()
            .map_err(|e| lost(format!("signalling: {e}")))?;
        let ws = super::connect_signalling(request, &config.tls).await?;
        let (mut sink, mut stream) = ws.split();
        self.session.start(std::time::Instant::now());
        loop {
            while let Some(text) = self.session.poll_transmit() {
                sink.send(Message::text(text))
                    .await
                    .map_err(|e| lost(format!("signalling: {e}")))?;
            }
            if let Some(event) = self.session.poll_event() {
                self.on_galene(event, config).await?;
                continue;
            }
            if self.joined
                && let Some(r) = self.early.pop_front()
            {
                if self.on_request(r, config).await? {
                    self.leave(&mut sink).await;
                    return Ok(());
                }
                continue;
            }
            let timeout = self
                .session
                .poll_timeout()
                .map(Instant::from_std)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                message = stream.next() => match message {
                    Some(Ok(Message::Text(text))) => {
                        if let Err(e) = self.session.handle_message(&text, std::time::Instant::now()) {
                            tracing::warn!(error = %e, "refused a signalling message");
                            let _ = self.events.send(AdapterEvent::Malformed);
                        }
                    }
                    Some(Ok(Message::Close(_))) | None => {
                        return Err(lost("signalling: the SFU closed the connection".into()));
                    }
                    Some(Err(e)) => return Err(lost(format!("signalling: {e}"))),
                    Some(Ok(_)) => {}
                },
                () = tokio::time::sleep_until(timeout) => {
                    self.session.handle_timeout(std::time::Instant::now());
                }
                request = requests.recv() => {
                    let Some(request) = request else {
                        self.leave(&mut sink).await;
                        return Ok(());
                    };
                    if !self.joined && !matches!(request, SfuRequest::Disconnect) {
                        self.early.push_back(request);
                    } else if self.on_request(request, config).await? {
                        self.leave(&mut sink).await;
                        return Ok(());
                    }
                }
                Some((which, event)) = self.peer_events.recv() => {
                    self.on_peer(which, event).await;
                }
            }
        }
    }

    /// Carries out a request; true when it was to disconnect.
    async fn on_request(
        &mut self,
        request: SfuRequest,
        config: &AdapterConfig,
    ) -> Result<bool, SfuFailure> {
        let now = std::time::Instant::now();
        match request {
            SfuRequest::Disconnect => return Ok(true),
            SfuRequest::Publish(tracks) => self.publish(tracks, config).await?,
            SfuRequest::Unpublish(id) => self.unpublish(id).await?,
            SfuRequest::SendData { to, bytes } => {
                let dest = match to {
                    Dest::All => None,
                    Dest::One(peer) => match self.ids.get(&peer.0) {
                        Some(id) => Some(id.as_str()),
                        // Gone already: nothing to say to them.
                        None => return Ok(false),
                    },
                };
                self.session.send_data(dest, &bytes, now);
            }
            // Galène sends every stream of everyone we asked for (all of them, from joining on)
            // and closes a stream when its owner goes.
            _ => {}
        }
        Ok(false)
    }

    async fn on_galene(
        &mut self,
        event: GaleneEvent,
        config: &AdapterConfig,
    ) -> Result<(), SfuFailure> {
        let now = std::time::Instant::now();
        match event {
            GaleneEvent::Joined { me, present } => {
                self.joined = true;
                let present = present
                    .into_iter()
                    .map(|(id, label)| (self.remember(id), label))
                    .collect();
                self.emit(SfuEvent::Joined {
                    me: PeerHandle(galene::handle_of(&me)),
                    present,
                });
                if config.record_dir.is_some() {
                    self.session.record(now);
                }
            }
            GaleneEvent::UserAdded { id, username } => {
                let peer = self.remember(id);
                self.emit(SfuEvent::PeerAppeared {
                    peer,
                    label: username,
                });
            }
            GaleneEvent::UserGone { id } => {
                let handle = galene::handle_of(&id);
                self.ids.remove(&handle);
                self.emit(SfuEvent::PeerGone(PeerHandle(handle)));
            }
            GaleneEvent::Offer {
                stream,
                source,
                sdp,
            } => {
                if let Err(e) = self.offered(&stream, &source, &sdp, config).await {
                    // One stream that cannot be received is not the meeting's end.
                    tracing::warn!(error = %e, "a stream from Galène could not be received");
                    self.drop_down(&stream).await;
                    self.session.abort(&stream, now);
                }
            }
            GaleneEvent::Answer { stream, sdp } => self.answered(&stream, &sdp).await?,
            GaleneEvent::Ice { stream, candidate } => self.candidate(&stream, candidate).await,
            GaleneEvent::Closed { stream } => self.drop_down(&stream).await,
            GaleneEvent::Aborted { stream } if self.up.iter().any(|u| u.stream == stream) => {
                return Err(lost("Galène refused our stream".into()));
            }
            GaleneEvent::Data { from, bytes } => {
                let from = PeerHandle(galene::handle_of(&from));
                // Waits while the queue is full: reading the WebSocket waits too, and TCP holds
                // the sender back instead of our memory growing.
                if self.data.send((from, bytes)).await.is_err() {
                    return Ok(());
                }
            }
            GaleneEvent::Failed(Failure::Refused(why)) => return Err(SfuFailure::Refused(why)),
            GaleneEvent::Failed(f) => return Err(lost(f.to_string())),
            _ => {}
        }
        Ok(())
    }

    /// Remembers a client's id under its handle.
    fn remember(&mut self, id: String) -> PeerHandle {
        let handle = galene::handle_of(&id);
        self.ids.insert(handle, id);
        PeerHandle(handle)
    }

    /// Galène offers a stream (or renegotiates one): answer it, say which tracks it carries.
    async fn offered(
        &mut self,
        stream: &str,
        source: &str,
        sdp: &str,
        config: &AdapterConfig,
    ) -> Result<(), SfuFailure> {
        let now = std::time::Instant::now();
        if !self.down.contains_key(stream) {
            let mut peer = Peer::new(config.ice_ip, &config.ice_servers, config.relay_only, false)
                .await
                .map_err(failure)?;
            self.tag_events(&mut peer, Which::Down(stream.to_owned()));
            self.down.insert(
                stream.to_owned(),
                Down {
                    peer,
                    source: PeerHandle(galene::handle_of(source)),
                    tracks: BTreeMap::new(),
                    state: RTCPeerConnectionState::New,
                },
            );
        }
        let Some(down) = self.down.get_mut(stream) else {
            return Ok(());
        };
        let answer = down.peer.answer(sdp).await.map_err(failure)?;
        self.session.answer(stream, &answer, now);
        let now_tracks: BTreeMap<String, MediaKind> =
            galene::media_sections(sdp).into_iter().collect();
        tracing::debug!(tracks = ?now_tracks, "Galène offers a stream");
        let before = std::mem::replace(&mut down.tracks, now_tracks.clone());
        let source = down.source;
        for mid in before.keys() {
            if !now_tracks.contains_key(mid) {
                self.emit(SfuEvent::TrackGone(track_handle(stream, mid)));
            }
        }
        for (mid, &kind) in &now_tracks {
            if before.get(mid) != Some(&kind) {
                self.emit(SfuEvent::TrackAppeared {
                    track: track_handle(stream, mid),
                    peer: source,
                    kind,
                });
            }
        }
        Ok(())
    }

    /// Galène answered our offer.
    async fn answered(&mut self, stream: &str, sdp: &str) -> Result<(), SfuFailure> {
        let Some(up) = self.up.iter_mut().find(|u| u.stream == stream) else {
            return Ok(());
        };
        up.peer.accept_answer(sdp).await.map_err(failure)?;
        up.negotiating = false;
        for c in std::mem::take(&mut up.early) {
            add_candidate(&up.peer, c).await;
        }
        let queued = std::mem::take(&mut up.queued);
        if !queued.is_empty() || std::mem::take(&mut up.renegotiate) {
            self.negotiate(stream.to_owned(), queued).await?;
        }
        Ok(())
    }

    /// A candidate Galène trickles: for one of our streams (kept until the answer) or theirs.
    async fn candidate(&mut self, stream: &str, candidate: Candidate) {
        if let Some(up) = self.up.iter_mut().find(|u| u.stream == stream) {
            if up.negotiating {
                if up.early.len() < EARLY_CANDIDATES {
                    up.early.push(candidate);
                }
            } else {
                add_candidate(&up.peer, candidate).await;
            }
        } else if let Some(down) = self.down.get(stream) {
            add_candidate(&down.peer, candidate).await;
        }
    }

    /// Publishes `tracks`, each on the first stream without a track of its kind, or on a new
    /// one. Without tracks there is nothing to connect: data travels over the signalling
    /// connection.
    async fn publish(
        &mut self,
        tracks: Vec<LocalTrack>,
        config: &AdapterConfig,
    ) -> Result<(), SfuFailure> {
        if self.up.is_empty() && tracks.is_empty() {
            self.publish_state = Some(LinkState::Connected);
            self.emit(SfuEvent::Link {
                link: Link::Publish,
                state: LinkState::Connected,
            });
            return Ok(());
        }
        let mut plan: Vec<(Option<String>, Vec<LocalTrack>)> = Vec::new();
        for t in tracks {
            let existing = self
                .up
                .iter()
                .find(|u| !u.has(t.kind))
                .map(|u| u.stream.clone());
            let planned = plan.iter_mut().find(|(stream, planned)| {
                *stream == existing && !planned.iter().any(|p| p.kind == t.kind)
            });
            match planned {
                Some((_, planned)) => planned.push(t),
                None => plan.push((existing, vec![t])),
            }
        }
        for (stream, tracks) in plan {
            let stream = match stream {
                Some(stream) => stream,
                None => self.new_stream(config).await?,
            };
            self.negotiate(stream, tracks).await?;
        }
        Ok(())
    }

    /// A new stream of ours, not offered yet.
    async fn new_stream(&mut self, config: &AdapterConfig) -> Result<String, SfuFailure> {
        let mut peer = Peer::new(config.ice_ip, &config.ice_servers, config.relay_only, false)
            .await
            .map_err(failure)?;
        let stream = format!("{:08x}{:08x}", random_u32(), random_u32());
        self.tag_events(&mut peer, Which::Up(stream.clone()));
        if self.up.is_empty() {
            // The camera's stream carries most of what we send: its estimate is the meeting's.
            self.helpers
                .push(forward_send_estimates(peer.pc.clone(), self.events.clone()));
        }
        self.up.push(Up {
            peer,
            stream: stream.clone(),
            sinks: BTreeMap::new(),
            queued: Vec::new(),
            renegotiate: false,
            negotiating: false,
            early: Vec::new(),
            state: RTCPeerConnectionState::New,
        });
        Ok(stream)
    }

    /// Adds `tracks` to our stream `stream` and offers it (again), or queues them while an
    /// offer is in flight (one negotiation at a time).
    async fn negotiate(
        &mut self,
        stream: String,
        tracks: Vec<LocalTrack>,
    ) -> Result<(), SfuFailure> {
        let now = std::time::Instant::now();
        let Some(up) = self.up.iter_mut().find(|u| u.stream == stream) else {
            return Ok(());
        };
        if up.negotiating {
            up.queued.extend(tracks);
            return Ok(());
        }
        for t in &tracks {
            let sink = super::add_local_track(&up.peer, t, &self.events, &mut self.helpers).await?;
            up.sinks.insert(t.id, (t.kind, sink));
        }
        let offer = up.peer.offer().await.map_err(failure)?;
        up.negotiating = true;
        self.session.offer(&up.stream, LABEL, &offer, now);
        Ok(())
    }

    /// Stops publishing a track: its stream is closed when it was the last one there, else the
    /// transceiver stops and Galène hears a new offer.
    async fn unpublish(&mut self, id: LocalTrackId) -> Result<(), SfuFailure> {
        let now = std::time::Instant::now();
        let Some(at) = self.up.iter().position(|u| u.sinks.contains_key(&id)) else {
            return Ok(());
        };
        let up = &mut self.up[at];
        let Some((_, sink)) = up.sinks.remove(&id) else {
            return Ok(());
        };
        if up.sinks.is_empty() && up.queued.is_empty() && at > 0 {
            let up = self.up.remove(at);
            self.session.close(&up.stream, now);
            up.peer.close().await;
            return Ok(());
        }
        super::stop_sending(&up.peer, &sink).await;
        if up.negotiating {
            up.renegotiate = true;
            return Ok(());
        }
        let offer = up.peer.offer().await.map_err(failure)?;
        up.negotiating = true;
        self.session.offer(&up.stream, LABEL, &offer, now);
        Ok(())
    }

    /// Forwards `peer`'s events into the one queue, tagged with `which`.
    fn tag_events(&mut self, peer: &mut Peer, which: Which) {
        let (_, closed) = mpsc::unbounded_channel();
        let mut events = std::mem::replace(&mut peer.events, closed);
        let tx = self.peer_events_tx.clone();
        self.helpers.push(tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if tx.send((which.clone(), event)).is_err() {
                    break;
                }
            }
        }));
    }

    async fn on_peer(&mut self, which: Which, event: PeerEvent) {
        match (which, event) {
            (Which::Up(stream), PeerEvent::State(state)) => {
                if let Some(up) = self.up.iter_mut().find(|u| u.stream == stream) {
                    up.state = state;
                    let state = together(self.up.iter().map(|u| u.state));
                    if self.publish_state != Some(state) {
                        self.publish_state = Some(state);
                        self.emit(SfuEvent::Link {
                            link: Link::Publish,
                            state,
                        });
                    }
                }
            }
            (Which::Down(stream), PeerEvent::State(state)) => {
                if let Some(down) = self.down.get_mut(&stream) {
                    down.state = state;
                    self.subscribe_changed();
                }
            }
            (Which::Down(stream), PeerEvent::Track(remote)) => {
                let Some(down) = self.down.get(&stream) else {
                    return;
                };
                let Some(mid) = mid_of(&down.peer, &remote).await else {
                    tracing::warn!("a remote track without a mid; ignored");
                    return;
                };
                tracing::debug!(mid, "a track from Galène began");
                let _ = self.events.send(AdapterEvent::RemoteTrack {
                    track: track_handle(&stream, &mid),
                    remote,
                });
            }
            _ => {}
        }
    }

    /// The receiving connections, taken together.
    fn subscribe_changed(&mut self) {
        let state = together(self.down.values().map(|d| d.state));
        if self.subscribe_state != Some(state) {
            self.subscribe_state = Some(state);
            self.emit(SfuEvent::Link {
                link: Link::Subscribe,
                state,
            });
        }
    }

    /// A stream Galène sent us is over: its tracks are gone.
    async fn drop_down(&mut self, stream: &str) {
        let Some(down) = self.down.remove(stream) else {
            return;
        };
        for mid in down.tracks.keys() {
            self.emit(SfuEvent::TrackGone(track_handle(stream, mid)));
        }
        down.peer.close().await;
        if !self.down.is_empty() {
            self.subscribe_changed();
        }
    }

    /// Says goodbye to Galène.
    async fn leave<S>(&mut self, sink: &mut S)
    where
        S: futures_util::Sink<Message> + Unpin,
    {
        let now = std::time::Instant::now();
        for up in &self.up {
            self.session.close(&up.stream, now);
        }
        self.session.leave(now);
        while let Some(text) = self.session.poll_transmit() {
            let _ = sink.send(Message::text(text)).await;
        }
        let _ = sink.close().await;
    }

    async fn close(&mut self) {
        for h in self.helpers.drain(..) {
            h.abort();
        }
        for up in std::mem::take(&mut self.up) {
            up.peer.close().await;
        }
        for (_, down) in std::mem::take(&mut self.down) {
            down.peer.close().await;
        }
    }
}

/// Several connections as one: failed if one failed, connected if one is and none is failing.
fn together(states: impl Iterator<Item = RTCPeerConnectionState>) -> LinkState {
    let states: Vec<Option<LinkState>> = states.map(link_state).collect();
    if states.contains(&Some(LinkState::Failed)) {
        LinkState::Failed
    } else if states.contains(&Some(LinkState::Connected)) {
        LinkState::Connected
    } else {
        LinkState::Connecting
    }
}

fn track_handle(stream: &str, mid: &str) -> TrackHandle {
    TrackHandle(format!("{stream}:{mid}"))
}

async fn add_candidate(peer: &Peer, c: Candidate) {
    let init = RTCIceCandidateInit {
        candidate: c.candidate,
        sdp_mid: c.sdp_mid,
        sdp_mline_index: c.sdp_mline_index,
        username_fragment: c.username_fragment,
        ..Default::default()
    };
    if let Err(e) = peer.pc.add_ice_candidate(init).await {
        tracing::debug!(error = %e, "a candidate from Galène was not taken");
    }
}
