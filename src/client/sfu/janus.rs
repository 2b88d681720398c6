//! The Janus VideoRoom adapter: a WebSocket to Janus (subprotocol `janus-protocol`) driven by the
//! sans-IO [`JanusSession`], one PeerConnection that publishes our tracks and a data channel,
//! one that receives everyone we subscribe to. Janus-only conventions live here: room numbers,
//! feed ids as handles, subscriber mids as track handles, data channels labelled with the
//! publisher's feed id, and that Janus relays a publisher's data only to subscribers that
//! opened a data channel of their own.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use conclave_room::sfu::janus::message::StreamKind;
use conclave_room::sfu::janus::{Failure, JanusEvent, JanusSession, JoinConfig, room_number};
use conclave_room::sfu::{
    Link, LocalTrack, LocalTrackId, MediaKind, PeerHandle, SfuEvent, SfuFailure, SfuRequest,
    TrackHandle,
};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::RTCPeerConnectionState;

use super::{
    AdapterConfig, AdapterEvent, failure, forward_send_estimates, lost, mid_of, next_event,
};
use crate::client::peer::{Peer, PeerEvent};

/// Runs the adapter until asked to disconnect or the connection fails (said as an event).
pub async fn run(
    config: AdapterConfig,
    mut requests: mpsc::UnboundedReceiver<SfuRequest>,
    events: mpsc::UnboundedSender<AdapterEvent>,
    data: mpsc::Sender<super::Relayed>,
) {
    let mut janus = Janus::new(&config, events.clone(), data);
    let result = janus.drive(&config, &mut requests).await;
    janus.close().await;
    if let Err(failure) = result {
        let _ = events.send(AdapterEvent::Sfu(SfuEvent::Failed(failure)));
    }
}

/// Our publishing side.
struct Publishing {
    peer: Peer,
    control: Arc<dyn DataChannel>,
    /// Our tracks' RTP sinks.
    sinks: BTreeMap<LocalTrackId, Arc<TrackLocalStaticRTP>>,
    /// Tracks waiting for the negotiation in flight to end.
    queued: Vec<LocalTrack>,
    /// A negotiation is in flight (Janus takes one at a time).
    negotiating: bool,
    /// A track stopped while a negotiation was in flight: offer again once it ends.
    stopped_meanwhile: bool,
}

struct Janus {
    session: JanusSession,
    events: mpsc::UnboundedSender<AdapterEvent>,
    /// Data from the others: bounded, so that reading waits when the meeting lags.
    data: mpsc::Sender<super::Relayed>,
    publishing: Option<Publishing>,
    subscriber: Option<Peer>,
    /// The subscription's media streams: mid → (feed, kind).
    streams: BTreeMap<String, (u64, MediaKind)>,
    /// Tasks forwarding data channels and keyframe requests.
    helpers: Vec<tokio::task::JoinHandle<()>>,
    /// Requests that came before we were in the room.
    early: VecDeque<SfuRequest>,
    joined: bool,
}

impl Janus {
    fn new(
        config: &AdapterConfig,
        events: mpsc::UnboundedSender<AdapterEvent>,
        data: mpsc::Sender<super::Relayed>,
    ) -> Janus {
        Janus {
            session: JanusSession::new(JoinConfig {
                room: room_number(&config.link.room),
                pin: config.link.pin.clone(),
                pseudonym: config.pseudonym.clone(),
                record_dir: config.record_dir.clone(),
            }),
            events,
            data,
            publishing: None,
            subscriber: None,
            streams: BTreeMap::new(),
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
        let mut request = config
            .link
            .sfu
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| lost(format!("signalling: {e}")))?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "janus-protocol".parse().expect("valid header value"),
        );
        let ws = super::connect_signalling(request, &config.tls).await?;
        let (mut sink, mut stream) = ws.split();
        self.session.start(std::time::Instant::now());
        loop {
            while let Some(text) = self.session.poll_transmit() {
                sink.send(Message::text(text))
                    .await
                    .map_err(|e| lost(format!("signalling: {e}")))?;
            }
            while let Some(event) = self.session.poll_event() {
                self.on_janus(event, config).await?;
            }
            if self.session.has_pending_output() {
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
                Some(event) = next_event(self.publishing.as_mut().map(|p| &mut p.peer)) => {
                    if let PeerEvent::State(state) = event {
                        self.link(Link::Publish, state);
                    }
                }
                Some(event) = next_event(self.subscriber.as_mut()) => match event {
                    PeerEvent::Track(remote) => self.remote_track(remote).await,
                    PeerEvent::DataChannel(channel) => self.forward_data(channel),
                    PeerEvent::State(state) => self.link(Link::Subscribe, state),
                },
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
            SfuRequest::Subscribe(peer) => self.session.subscribe(peer.0, now),
            SfuRequest::SendData { bytes, .. } => {
                // Janus relays a publisher's data to every subscriber; key agreement says in
                // its messages whom they are for.
                if let Some(p) = &self.publishing {
                    let mut message = bytes::BytesMut::with_capacity(bytes.len());
                    message.extend_from_slice(&bytes);
                    if p.control.send(message).await.is_err() {
                        tracing::debug!("the data channel is not open yet");
                    }
                }
            }
            // Connecting is what this adapter does from the start; Janus keeps a subscription
            // until the publisher goes.
            _ => {}
        }
        Ok(false)
    }

    async fn on_janus(
        &mut self,
        event: JanusEvent,
        config: &AdapterConfig,
    ) -> Result<(), SfuFailure> {
        let now = std::time::Instant::now();
        match event {
            JanusEvent::Joined { id, publishers } => {
                self.joined = true;
                self.emit(SfuEvent::Joined {
                    me: PeerHandle(id),
                    present: publishers
                        .into_iter()
                        .map(|(feed, label)| (PeerHandle(feed), label))
                        .collect(),
                });
            }
            JanusEvent::PublishAnswer { sdp } => {
                let Some(p) = &mut self.publishing else {
                    return Ok(());
                };
                p.peer.accept_answer(&sdp).await.map_err(failure)?;
                p.negotiating = false;
                let queued = std::mem::take(&mut p.queued);
                let stopped = std::mem::take(&mut p.stopped_meanwhile);
                if !queued.is_empty() {
                    self.publish(queued, config).await?;
                } else if stopped {
                    // A share stopped during the last negotiation: Janus learns it now (else
                    // the others keep its stream, silent).
                    let offer = p.peer.offer().await.map_err(failure)?;
                    p.negotiating = true;
                    self.session.renegotiate(&offer, std::time::Instant::now());
                }
            }
            JanusEvent::SubscriptionOffer { sdp, streams } => {
                if self.subscriber.is_none() {
                    let mut peer =
                        Peer::new(config.ice_ip, &config.ice_servers, config.relay_only, true)
                            .await
                            .map_err(failure)?;
                    // Janus relays publishers' data to a subscriber only once the subscriber
                    // has opened a data channel of its own (as its JavaScript client does).
                    peer.add_data_channel().await.map_err(failure)?;
                    self.subscriber = Some(peer);
                }
                if let Some(sub) = &mut self.subscriber {
                    let answer = sub.answer(&sdp).await.map_err(failure)?;
                    self.session.answer_subscription(&answer, now);
                }
                self.subscription_changed(streams);
            }
            JanusEvent::ParticipantJoined { feed, pseudonym } => {
                self.emit(SfuEvent::PeerAppeared {
                    peer: PeerHandle(feed),
                    label: pseudonym,
                })
            }
            JanusEvent::ParticipantLeft { feed } => self.emit(SfuEvent::PeerGone(PeerHandle(feed))),
            JanusEvent::Failed(Failure::Refused { code, reason }) => {
                return Err(SfuFailure::Refused(format!("({code}) {reason}")));
            }
            JanusEvent::Failed(f) => return Err(lost(f.to_string())),
            _ => {}
        }
        Ok(())
    }

    /// What the subscription carries now, against what it carried: tracks that appeared (or
    /// whose slot Janus gave to someone else) and tracks that went.
    fn subscription_changed(&mut self, streams: Vec<conclave_room::sfu::janus::RemoteStream>) {
        let mut now: BTreeMap<String, (u64, MediaKind)> = BTreeMap::new();
        for s in streams {
            let kind = match s.kind {
                StreamKind::Audio => MediaKind::Audio,
                StreamKind::Video => MediaKind::Video,
                StreamKind::Data => continue,
            };
            now.insert(s.mid, (s.feed, kind));
        }
        for mid in self.streams.keys() {
            if !now.contains_key(mid) {
                self.emit(SfuEvent::TrackGone(TrackHandle(mid.clone())));
            }
        }
        for (mid, &(feed, kind)) in &now {
            if self.streams.get(mid) != Some(&(feed, kind)) {
                self.emit(SfuEvent::TrackAppeared {
                    track: TrackHandle(mid.clone()),
                    peer: PeerHandle(feed),
                    kind,
                });
            }
        }
        self.streams = now;
    }

    /// Publishes `tracks`: the first time with a new connection and the data channel, later by
    /// renegotiating (one negotiation at a time: more wait for the answer).
    async fn publish(
        &mut self,
        tracks: Vec<LocalTrack>,
        config: &AdapterConfig,
    ) -> Result<(), SfuFailure> {
        let now = std::time::Instant::now();
        if let Some(p) = &mut self.publishing
            && p.negotiating
        {
            p.queued.extend(tracks);
            return Ok(());
        }
        let first = self.publishing.is_none();
        if first {
            let mut peer = Peer::new(config.ice_ip, &config.ice_servers, config.relay_only, true)
                .await
                .map_err(failure)?;
            let control = peer.add_data_channel().await.map_err(failure)?;
            self.helpers
                .push(forward_send_estimates(peer.pc.clone(), self.events.clone()));
            self.publishing = Some(Publishing {
                peer,
                control,
                sinks: BTreeMap::new(),
                queued: Vec::new(),
                negotiating: false,
                stopped_meanwhile: false,
            });
        }
        let Some(p) = &mut self.publishing else {
            return Ok(());
        };
        for t in &tracks {
            let sink = super::add_local_track(&p.peer, t, &self.events, &mut self.helpers).await?;
            p.sinks.insert(t.id, sink);
        }
        if !first && tracks.is_empty() {
            return Ok(());
        }
        let offer = p.peer.offer().await.map_err(failure)?;
        p.negotiating = true;
        if first {
            self.session.publish(&offer, now);
        } else {
            self.session.renegotiate(&offer, now);
        }
        Ok(())
    }

    /// Stops publishing a track (its transceiver stops; Janus tells the subscribers).
    async fn unpublish(&mut self, id: LocalTrackId) -> Result<(), SfuFailure> {
        let Some(p) = &mut self.publishing else {
            return Ok(());
        };
        // Not yet offered: it need not be.
        p.queued.retain(|t| t.id != id);
        let Some(sink) = p.sinks.remove(&id) else {
            return Ok(());
        };
        super::stop_sending(&p.peer, &sink).await;
        if p.negotiating {
            p.stopped_meanwhile = true;
            return Ok(());
        }
        let offer = p.peer.offer().await.map_err(failure)?;
        p.negotiating = true;
        self.session.renegotiate(&offer, std::time::Instant::now());
        Ok(())
    }

    fn link(&self, link: Link, state: RTCPeerConnectionState) {
        if let Some(state) = super::link_state(state) {
            self.emit(SfuEvent::Link { link, state });
        }
    }

    /// A remote track began: which mid (track handle) it is.
    async fn remote_track(&mut self, remote: Arc<dyn TrackRemote>) {
        let Some(sub) = &self.subscriber else {
            return;
        };
        let Some(mid) = mid_of(sub, &remote).await else {
            tracing::warn!("a remote track without a mid; ignored");
            return;
        };
        let _ = self.events.send(AdapterEvent::RemoteTrack {
            track: TrackHandle(mid),
            remote,
        });
    }

    /// A publisher's data channel (Janus labels it with their feed id): its messages are data
    /// from that handle.
    fn forward_data(&mut self, channel: Arc<dyn DataChannel>) {
        let data = self.data.clone();
        self.helpers.push(tokio::spawn(async move {
            let Ok(Ok(feed)) = channel.label().await.map(|l| l.parse::<u64>()) else {
                tracing::warn!("a data channel without a publisher id; ignored");
                return;
            };
            while let Some(event) = channel.poll().await {
                match event {
                    DataChannelEvent::OnMessage(message) => {
                        // Waits while the queue is full: the channel's flow control holds the
                        // sender back instead of our memory growing.
                        let relayed = (PeerHandle(feed), message.data.to_vec());
                        if data.send(relayed).await.is_err() {
                            break;
                        }
                    }
                    DataChannelEvent::OnClose => break,
                    _ => {}
                }
            }
        }));
    }

    /// Says goodbye to Janus.
    async fn leave<S>(&mut self, sink: &mut S)
    where
        S: futures_util::Sink<Message> + Unpin,
    {
        self.session.leave(std::time::Instant::now());
        while let Some(text) = self.session.poll_transmit() {
            let _ = sink.send(Message::text(text)).await;
        }
        let _ = sink.close().await;
    }

    async fn close(&mut self) {
        for h in self.helpers.drain(..) {
            h.abort();
        }
        if let Some(p) = self.publishing.take() {
            p.peer.close().await;
        }
        if let Some(s) = self.subscriber.take() {
            s.close().await;
        }
    }
}
