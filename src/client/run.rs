//! The meeting loop: one task that drives the SFU session, our publishing PeerConnection and the
//! subscriptions, and reconnects when the SFU goes away. Receiving runs in a task per remote
//! track; capture and encoding in threads (see `capture`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use conclave_e2ee::{CipherSuite, Codec, KidScheme, Receiver, Sender};
use conclave_group::{Group, GroupEvent, Identity, Psk};
use conclave_media::VideoFormat;
use conclave_room::JoinLink;
use conclave_room::sfu::janus::{Failure, JanusSession, JoinConfig, SfuEvent};
use futures_util::{SinkExt, StreamExt};
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::peer_connection::RTCPeerConnectionState;

use super::ClientError;
use super::capture::{Capture, EncodedAudio};
use super::keylog::KeyLog;
use super::meeting::{Command, DeviceChange, Meeting, Switches};
use super::peer::{H264_PT, OPUS_PT, Peer, PeerEvent};
use super::playback::Playback;
use super::receive;
use super::rtp_video::VideoPacketizer;
use super::stats::{Connection, ErrorKind, MeetingStats, MeetingTally};
use crate::selftest::{CameraChoice, MicChoice, SpeakerChoice};

/// How to take part.
#[derive(Clone, Debug)]
pub struct JoinOptions {
    /// Where and with which secret.
    pub link: JoinLink,
    /// Display name: sent only inside encrypted control messages, never to the SFU.
    pub name: String,
    /// Send audio (false: microphone muted).
    pub send_audio: bool,
    /// Send video (false: camera off).
    pub send_video: bool,
    /// Camera.
    pub camera: CameraChoice,
    /// Microphone.
    pub mic: MicChoice,
    /// Where the others' voices are played (`Null`: nowhere, as for a headless participant).
    pub speaker: SpeakerChoice,
    /// Picture size and rate.
    pub video: VideoFormat,
    /// Video bitrate.
    pub video_bitrate_bps: u32,
    /// A keyframe at least this often, whether or not anyone asks.
    pub keyframe_interval: Duration,
    /// How long to stay.
    pub duration: Duration,
    /// Local address for media sockets (all interfaces if `None`).
    pub ice_ip: Option<IpAddr>,
    /// STUN/TURN servers (none: only host candidates, no third party asked).
    pub ice_servers: Vec<super::IceServer>,
    /// Media only through a TURN relay among `ice_servers`: the SFU sees the relay's address,
    /// never the user's.
    pub relay_only: bool,
    /// Have the SFU record the room into this folder when we create it (tests).
    pub record_dir: Option<String>,
    /// Who we are in handshakes: a fresh key pair per meeting unless the user keeps one.
    pub identity: Identity,
    /// Where decoded pictures go for display (none for a headless participant).
    pub video_out: Option<Arc<super::VideoOut>>,
    /// Where received access units go for a display that decodes them itself. With this and
    /// without `video_out`, video is not decoded here at all (only counted).
    pub encoded_out: Option<Arc<super::EncodedOut>>,
    /// Where a small copy of our own camera's pictures goes (the self-view), as
    /// [`super::SELF_FEED`].
    pub self_view: Option<Arc<super::VideoOut>>,
    /// Look for the synthetic microphone's timing chirps in received audio to measure
    /// mouth-to-ear latency (costs a correlation per frame: off in meetings).
    pub measure_audio_latency: bool,
}

impl JoinOptions {
    /// What a person at a desk wants: the first camera and the default microphone, 640×360 at
    /// 30 fps, until they leave (at most a working day).
    pub fn new(link: JoinLink, name: String, identity: Identity) -> JoinOptions {
        JoinOptions {
            link,
            name,
            send_audio: true,
            send_video: true,
            camera: CameraChoice::Device(0),
            mic: MicChoice::Device(None),
            speaker: SpeakerChoice::Device(None),
            video: VideoFormat {
                width: 640,
                height: 360,
                fps: 30,
            },
            video_bitrate_bps: 600_000,
            keyframe_interval: Duration::from_secs(10),
            duration: Duration::from_secs(12 * 3600),
            ice_ip: None,
            ice_servers: Vec::new(),
            relay_only: false,
            record_dir: None,
            identity,
            video_out: None,
            encoded_out: None,
            self_view: None,
            measure_audio_latency: false,
        }
    }
}

/// How often we repeat our hello, so that newcomers learn our name and mute state soon.
const HELLO_INTERVAL: Duration = Duration::from_secs(2);

/// Suite for media. The KID layout and ratchet are the defaults of `conclave-e2ee`.
const SUITE: CipherSuite = CipherSuite::AesGcm128Sha256;

/// Decryption state per remote participant, shared by their audio and video tasks.
pub type Receivers = Arc<Mutex<HashMap<u64, Arc<Mutex<Receiver>>>>>;

/// The tally, shared with the receiving tasks.
pub type SharedTally = Arc<Mutex<MeetingTally>>;

/// The first reconnection attempt waits this long; each failure doubles the wait up to
/// [`RETRY_MAX`]. Refused connections cost nothing, and users notice every second of a freeze.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_millis(500);
/// A connection that lasted this long starts the backoff afresh when it drops.
const RETRY_RESET_AFTER: Duration = Duration::from_secs(5);

/// A random factor in 0.8..=1.2.
fn jitter() -> f64 {
    let mut byte = [128u8];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut byte);
    0.8 + 0.4 * f64::from(byte[0]) / 255.0
}

/// Joins, stays for `options.duration` (reconnecting as needed), leaves; returns what it saw.
pub async fn join(options: JoinOptions) -> MeetingStats {
    Meeting::start(options).finished().await
}

/// The meeting: connects, reconnects after losses, until asked to leave or the time is up.
pub(crate) async fn run(
    options: JoinOptions,
    pseudonym: String,
    switches: Arc<Switches>,
    mut commands: UnboundedReceiver<Command>,
    tally: SharedTally,
) -> MeetingStats {
    // Settings that can never connect end the meeting before it starts, not in a reconnect loop.
    let unusable = super::IceServer::check_all(options.relay_only, &options.ice_servers)
        .err()
        .map(|unusable| match unusable {
            super::UnusableIce::BadServer(why) => (ErrorKind::BadIceServer, why),
            super::UnusableIce::NoTurnServer => (
                ErrorKind::NoTurnServer,
                "media only through a TURN relay was asked for, but no TURN server is configured"
                    .to_owned(),
            ),
        });
    if let Some(ended) = unusable {
        let mut t = lock(&tally);
        t.connection = Connection::Failed;
        t.ended = Some(ended);
        return t.report(&pseudonym, &switches);
    }
    let mut capture = Capture::new(
        options.video,
        options.video_bitrate_bps,
        options.keyframe_interval,
        options.self_view.clone(),
    );
    capture.set_camera_on(options.send_video);
    capture.set_camera(&options.camera);
    capture.set_mic(&options.mic);
    lock(&tally).device_problems = Some(capture.problems.clone());
    let playback = Playback::start(None, capture.problems.clone());
    playback.use_speaker(options.speaker.clone());
    let keylog = KeyLog::from_env().map(Arc::new);
    let deadline = Instant::now() + options.duration;
    // Why the meeting ended early, if it did.
    let mut ended: Option<(ErrorKind, String)> = None;
    let mut backoff = RETRY_FIRST;
    loop {
        let attempt = Attempt::new(
            &options,
            &pseudonym,
            &tally,
            &switches,
            playback.clone(),
            keylog.clone(),
        );
        let started = Instant::now();
        match attempt.run(&mut capture, &mut commands, deadline).await {
            Ok(End::Left) => break,
            Ok(End::Republish) => lock(&tally).connection = Connection::Connecting,
            Err(ClientError::Sfu(Failure::Refused { code, reason })) => {
                ended = Some((
                    ErrorKind::SfuRefused,
                    format!("the SFU refused us ({code}): {reason}"),
                ));
                break;
            }
            // Retrying cannot help until the user fixes the TURN settings.
            Err(e @ ClientError::NoRelay) => {
                ended = Some((ErrorKind::NoRelay, e.to_string()));
                break;
            }
            Err(e) => {
                tracing::warn!(error = %e, "connection to the SFU lost; reconnecting");
                lock(&tally).connection = Connection::Reconnecting;
                if started.elapsed() >= RETRY_RESET_AFTER {
                    backoff = RETRY_FIRST;
                }
                // Jitter, so that a whole meeting does not reconnect in lockstep after an SFU restart.
                let wait = backoff.mul_f64(jitter());
                if Instant::now() + wait >= deadline {
                    ended = Some((
                        ErrorKind::ConnectionLost,
                        format!("the connection to the SFU was lost: {e}"),
                    ));
                    break;
                }
                if wait_or_leave(wait, &mut commands, &mut capture, &playback, &switches).await {
                    break;
                }
                backoff = (backoff * 2).min(RETRY_MAX);
                lock(&tally).reconnects += 1;
            }
        }
    }
    capture.stop();
    let mut t = lock(&tally);
    playback.stop();
    t.audio_frames_played = playback.frames_played();
    t.connection = if ended.is_some() {
        Connection::Failed
    } else {
        Connection::Left
    };
    t.ended = ended;
    t.report(&pseudonym, &switches)
}

/// Uses the devices `change` asks for (device problems go to where capture reports them).
fn change_devices(change: &DeviceChange, capture: &mut Capture, playback: &Arc<Playback>) {
    if let Some(camera) = &change.camera {
        capture.set_camera(camera);
    }
    if let Some(mic) = &change.mic {
        capture.set_mic(mic);
    }
    if let Some(speaker) = &change.speaker {
        playback.use_speaker(speaker.clone());
    }
}

/// Sleeps for `wait` (changing devices if asked); true if asked to leave meanwhile.
async fn wait_or_leave(
    wait: Duration,
    commands: &mut UnboundedReceiver<Command>,
    capture: &mut Capture,
    playback: &Arc<Playback>,
    switches: &Switches,
) -> bool {
    let until = Instant::now() + wait;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(until) => return false,
            command = commands.recv() => match command {
                Some(Command::Leave) | None => return true,
                Some(Command::SwitchesChanged) => {
                    capture.set_camera_on(switches.video());
                }
                Some(Command::Devices(change)) => change_devices(&change, capture, playback),
            },
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn random_pseudonym() -> String {
    let mut bytes = [0u8; 4];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    format!("p-{}", hex::encode(bytes))
}

fn random_u32() -> u32 {
    let mut bytes = [0u8; 4];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    u32::from_be_bytes(bytes)
}

/// The Janus room number for a room name: the number itself, or a hash of the name below 2^53.
pub fn janus_room(room: &str) -> u64 {
    if let Ok(n) = room.parse::<u64>() {
        return n;
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, room.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_ref()[..8]);
    u64::from_be_bytes(first) >> 11
}

/// Our outgoing side once Janus gave us an id.
struct Publishing {
    peer: Peer,
    /// `None` for a listener, who publishes only its data channel (for keys and hellos).
    video: Option<Arc<TrackLocalStaticRTP>>,
    audio: Option<Arc<TrackLocalStaticRTP>>,
    control: Arc<dyn DataChannel>,
    packetizer: VideoPacketizer,
    video_ssrc: u32,
    audio_ssrc: u32,
    video_seq: u16,
    audio_seq: u16,
    video_ts0: u32,
    audio_ts: u32,
    first_capture_us: Option<u64>,
    /// The media connection is up (DTLS done): packets can be sent.
    live: bool,
}

/// How an attempt that did not fail ended.
enum End {
    /// We left: asked to, or the meeting's time was up.
    Left,
    /// We left to join again, publishing what we capture now.
    Republish,
}

/// One connection to the SFU, from WebSocket to leave or loss.
struct Attempt<'a> {
    options: &'a JoinOptions,
    tally: &'a SharedTally,
    switches: &'a Switches,
    playback: Arc<Playback>,
    session: JanusSession,
    publishing: Option<Publishing>,
    subscriber: Option<Peer>,
    receivers: Receivers,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Key agreement, once the SFU gave us an id.
    group: Option<Group>,
    /// Our SFrame sender, keyed by the group.
    sender: Option<Sender>,
    /// Key-agreement messages from the subscriber's data channels: (publisher, bytes).
    group_tx: tokio::sync::mpsc::UnboundedSender<(u64, Vec<u8>)>,
    group_rx: tokio::sync::mpsc::UnboundedReceiver<(u64, Vec<u8>)>,
    keylog: Option<Arc<KeyLog>>,
}

impl<'a> Attempt<'a> {
    fn new(
        options: &'a JoinOptions,
        pseudonym: &str,
        tally: &'a SharedTally,
        switches: &'a Switches,
        playback: Arc<Playback>,
        keylog: Option<Arc<KeyLog>>,
    ) -> Self {
        let (group_tx, group_rx) = tokio::sync::mpsc::unbounded_channel();
        let session = JanusSession::new(JoinConfig {
            room: janus_room(&options.link.room),
            pin: options.link.pin.clone(),
            pseudonym: pseudonym.to_owned(),
            record_dir: options.record_dir.clone(),
        });
        Attempt {
            options,
            tally,
            switches,
            playback,
            session,
            publishing: None,
            subscriber: None,
            receivers: Arc::default(),
            tasks: Vec::new(),
            group: None,
            sender: None,
            group_tx,
            group_rx,
            keylog,
        }
    }

    async fn run(
        mut self,
        capture: &mut Capture,
        commands: &mut UnboundedReceiver<Command>,
        deadline: Instant,
    ) -> Result<End, ClientError> {
        let result = self.drive(capture, commands, deadline).await;
        if let Some(g) = &self.group {
            lock(self.tally).key_messages = g.stats();
        }
        for t in self.tasks.drain(..) {
            t.abort();
        }
        if let Some(p) = self.publishing.take() {
            p.peer.close().await;
        }
        if let Some(s) = self.subscriber.take() {
            s.close().await;
        }
        result
    }

    async fn drive(
        &mut self,
        capture: &mut Capture,
        commands: &mut UnboundedReceiver<Command>,
        deadline: Instant,
    ) -> Result<End, ClientError> {
        let mut request = self
            .options
            .link
            .sfu
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| ClientError::Signalling(e.to_string()))?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "janus-protocol".parse().expect("valid header value"),
        );
        let (ws, _) = tokio::time::timeout(
            Duration::from_secs(5),
            tokio_tungstenite::connect_async(request),
        )
        .await
        .map_err(|_| ClientError::Signalling("the SFU did not answer within 5 s".into()))?
        .map_err(|e| ClientError::Signalling(e.to_string()))?;
        let (mut sink, mut stream) = ws.split();
        self.session.start(std::time::Instant::now());
        let mut hello_timer = tokio::time::interval(HELLO_INTERVAL);
        // A fresh connection means a fresh decoder state at every receiver.
        capture
            .keyframe
            .store(true, std::sync::atomic::Ordering::Relaxed);

        loop {
            while let Some(text) = self.session.poll_transmit() {
                sink.send(Message::text(text))
                    .await
                    .map_err(|e| ClientError::Signalling(e.to_string()))?;
            }
            while let Some(event) = self.session.poll_event() {
                self.on_sfu_event(event, capture).await?;
            }
            self.drive_group(capture).await;
            if self.session.has_pending_output() {
                continue;
            }
            let timeout = self
                .session
                .poll_timeout()
                .into_iter()
                .chain(self.group.as_ref().and_then(Group::poll_timeout))
                .min()
                .map(Instant::from_std)
                .unwrap_or(deadline);
            // Handles the branches below poll; cloned so that no branch holds `self.publishing`.
            let control = self.publishing.as_ref().map(|p| p.control.clone());
            let video_track = self.publishing.as_ref().map(|p| p.video.clone());
            let opened = capture.opened.clone();
            tokio::select! {
                message = stream.next() => match message {
                    Some(Ok(Message::Text(text))) => {
                        if let Err(e) = self.session.handle_message(&text, std::time::Instant::now()) {
                            tracing::warn!(error = %e, "refused a signalling message");
                            lock(self.tally).malformed_signalling += 1;
                        }
                    }
                    Some(Ok(Message::Close(_))) | None => {
                        return Err(ClientError::Signalling("the SFU closed the connection".into()));
                    }
                    Some(Err(e)) => return Err(ClientError::Signalling(e.to_string())),
                    Some(Ok(_)) => {}
                },
                () = tokio::time::sleep_until(timeout) => {
                    let now = std::time::Instant::now();
                    self.session.handle_timeout(now);
                    if let Some(g) = &mut self.group {
                        g.handle_timeout(now);
                    }
                }
                Some((feed, bytes)) = self.group_rx.recv() => {
                    if let Some(g) = &mut self.group
                        && let Err(e) = g.receive(feed, &bytes, std::time::Instant::now())
                    {
                        tracing::debug!(error = %e, "refused a key-agreement message");
                    }
                }
                () = tokio::time::sleep_until(deadline) => {
                    self.leave(&mut sink).await;
                    return Ok(End::Left);
                }
                command = commands.recv() => match command {
                    Some(Command::SwitchesChanged) => {
                        // Off closes the camera; on opens it again, starting at a keyframe.
                        capture.set_camera_on(self.switches.video());
                        self.send_hello(capture).await;
                    }
                    Some(Command::Devices(change)) => {
                        change_devices(&change, capture, &self.playback);
                        self.send_hello(capture).await;
                    }
                    Some(Command::Leave) | None => {
                        self.leave(&mut sink).await;
                        return Ok(End::Left);
                    }
                },
                () = opened.notified() => {
                    self.send_hello(capture).await;
                    // A listener publishes no tracks: to send from a device that opened it must
                    // publish again.
                    let listener = self.publishing.as_ref().is_some_and(|p| p.audio.is_none());
                    if listener && (capture.camera_open() || capture.mic_open()) {
                        self.leave(&mut sink).await;
                        return Ok(End::Republish);
                    }
                }
                Some(frame) = capture.video.recv() => self.send_video(frame).await,
                Some(event) = poll_local(video_track.flatten()) => {
                    if let TrackLocalEvent::OnRtcpPacket(packets) = event
                        && packets.iter().any(|p| super::keyframe_requests::is_keyframe_request(p.as_ref()))
                    {
                        capture.keyframe.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                Some(packet) = capture.audio.recv() => self.send_audio(packet).await,
                Some(event) = next_event(self.publishing.as_mut().map(|p| &mut p.peer)) => {
                    match event {
                        PeerEvent::State(RTCPeerConnectionState::Connected) => {
                            if let Some(p) = &mut self.publishing {
                                p.live = true;
                            }
                            lock(self.tally).connection = Connection::Connected;
                            capture.keyframe.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                        PeerEvent::State(RTCPeerConnectionState::Failed) => {
                            return Err(ClientError::WebRtc("the media connection failed".into()));
                        }
                        _ => {}
                    }
                }
                Some(event) = next_event(self.subscriber.as_mut()) => match event {
                    PeerEvent::Track(track) => {
                        let task = receive::spawn(
                            track,
                            self.receivers.clone(),
                            self.tally.clone(),
                            receive::VideoSinks {
                                decoded: self.options.video_out.clone(),
                                encoded: self.options.encoded_out.clone(),
                            },
                            self.playback.clone(),
                            self.options.measure_audio_latency,
                        );
                        self.tasks.push(task);
                    }
                    PeerEvent::DataChannel(channel) => {
                        let task = receive::spawn_control(
                            channel,
                            self.receivers.clone(),
                            self.tally.clone(),
                            self.group_tx.clone(),
                        );
                        self.tasks.push(task);
                    }
                    PeerEvent::State(_) => {}
                },
                Some(event) = poll_control(control) => {
                    if matches!(event, DataChannelEvent::OnOpen) {
                        self.send_hello(capture).await;
                    }
                }
                _ = hello_timer.tick() => self.send_hello(capture).await,
            }
        }
    }

    /// Says goodbye to the SFU.
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

    async fn on_sfu_event(
        &mut self,
        event: SfuEvent,
        capture: &Capture,
    ) -> Result<(), ClientError> {
        let now = std::time::Instant::now();
        match event {
            SfuEvent::Joined { id } => {
                let mut peer = Peer::new(
                    self.options.ice_ip,
                    &self.options.ice_servers,
                    self.options.relay_only,
                )
                .await?;
                let video_ssrc = random_u32();
                let audio_ssrc = random_u32();
                // Without camera and microphone we only listen, but still publish a data
                // channel: key agreement and our name travel on it.
                let (audio, video) = if capture.sending() {
                    (
                        Some(peer.add_send_track(RtpCodecKind::Audio, audio_ssrc).await?),
                        Some(peer.add_send_track(RtpCodecKind::Video, video_ssrc).await?),
                    )
                } else {
                    (None, None)
                };
                let control = peer.add_data_channel().await?;
                let offer = peer.offer().await?;
                let psk = Psk::derive(
                    self.options.link.secret.expose_secret(),
                    &self.options.link.room,
                );
                let group = Group::new(id, self.options.identity.clone(), psk, SUITE)
                    .map_err(|e| ClientError::Keys(e.to_string()))?;
                self.group = Some(group);
                self.publishing = Some(Publishing {
                    peer,
                    video,
                    audio,
                    control,
                    packetizer: VideoPacketizer::default(),
                    video_ssrc,
                    audio_ssrc,
                    video_seq: random_u32() as u16,
                    audio_seq: random_u32() as u16,
                    video_ts0: random_u32(),
                    audio_ts: random_u32(),
                    first_capture_us: None,
                    live: false,
                });
                self.session.publish(&offer, now);
            }
            SfuEvent::PublishAnswer { sdp } => {
                if let Some(p) = &mut self.publishing {
                    p.peer.accept_answer(&sdp).await?;
                }
            }
            SfuEvent::SubscriptionOffer { sdp, .. } => {
                if self.subscriber.is_none() {
                    let mut peer = Peer::new(
                        self.options.ice_ip,
                        &self.options.ice_servers,
                        self.options.relay_only,
                    )
                    .await?;
                    // Janus relays publishers' data to a subscriber only once the subscriber
                    // has opened a data channel of its own (as its JavaScript client does).
                    peer.add_data_channel().await?;
                    self.subscriber = Some(peer);
                }
                if let Some(sub) = &mut self.subscriber {
                    let answer = sub.answer(&sdp).await?;
                    self.session.answer_subscription(&answer, now);
                }
            }
            SfuEvent::ParticipantJoined { feed, pseudonym } => {
                lock(self.tally).name_feed(feed, pseudonym);
                if let Some(g) = &mut self.group {
                    g.peer_joined(feed, now);
                }
                // They need a keyframe to start decoding us.
                capture
                    .keyframe
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
            SfuEvent::ParticipantLeft { feed } => {
                lock(self.tally).by_feed(feed).left = true;
                if let Some(g) = &mut self.group {
                    g.peer_left(feed, now);
                }
                lock(&self.receivers).remove(&feed);
                self.playback.remove(feed);
            }
            SfuEvent::Failed(failure) => return Err(ClientError::Sfu(failure)),
            _ => {}
        }
        Ok(())
    }

    /// Sends what key agreement wants sent and acts on what it decided.
    async fn drive_group(&mut self, capture: &Capture) {
        let Some(group) = self.group.as_mut() else {
            return;
        };
        let mut outgoing = Vec::new();
        while let Some(bytes) = group.poll_transmit() {
            outgoing.push(bytes);
        }
        let mut events = Vec::new();
        while let Some(event) = group.poll_event() {
            events.push(event);
        }
        if let Some(p) = &self.publishing {
            for bytes in outgoing {
                // Before the channel opens this fails; key agreement resends what matters.
                let _ = p
                    .control
                    .send(tagged(conclave_room::DATA_KEYS, &bytes))
                    .await;
            }
        }
        if events.is_empty() {
            return;
        }
        let mut tally = lock(self.tally);
        for event in events {
            match event {
                GroupEvent::SendKey {
                    generation,
                    step,
                    key,
                } => {
                    if let Some(log) = &self.keylog {
                        log.send(generation, step, &key);
                    }
                    if let Err(e) = conclave_group::sender_key::apply(
                        &mut self.sender,
                        SUITE,
                        KidScheme::default(),
                        generation,
                        step,
                        key,
                    ) {
                        tracing::warn!(error = %e, "could not switch to the new sending key");
                    }
                    // Receivers need a keyframe under the new key to start decoding it.
                    capture
                        .keyframe
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                }
                GroupEvent::PeerKey {
                    peer,
                    generation,
                    step,
                    key,
                } => {
                    if let Some(log) = &self.keylog {
                        log.received(peer, generation, step, &key);
                    }
                    let receiver = receiver_for(&self.receivers, peer);
                    let _ = lock(&receiver).add_key(generation, step, key);
                }
                GroupEvent::PeerVerified {
                    peer,
                    safety_number,
                    ..
                } => {
                    let p = tally.by_feed(peer);
                    p.verified = Some(true);
                    p.safety_number = Some(safety_number);
                    p.verification_failure = None;
                }
                GroupEvent::PeerUnverified { peer, reason } => {
                    let p = tally.by_feed(peer);
                    p.verified = Some(false);
                    p.verification_failure = Some(reason.to_owned());
                }
                GroupEvent::GroupCode(code) => {
                    tally.group_code_history.push(code.digits.clone());
                    tally.group_code = Some(code);
                }
            }
        }
    }

    /// Our publishing side and sender, once media can flow and we hold a key.
    fn live(&mut self) -> Option<(&mut Publishing, &mut Sender)> {
        Some((
            self.publishing.as_mut().filter(|p| p.live)?,
            self.sender.as_mut()?,
        ))
    }

    /// Tells the others, end-to-end encrypted, who we are and what we send.
    /// Tells the others our name and what we send: switched on, and a device open to send it.
    async fn send_hello(&mut self, capture: &Capture) {
        let (name, audio, video) = (
            &self.options.name,
            self.switches.audio() && capture.mic_open(),
            self.switches.video() && capture.camera_open(),
        );
        let Some((p, sender)) = self.live() else {
            return;
        };
        let hello = conclave_room::Control::hello(
            name,
            audio && p.audio.is_some(),
            video && p.video.is_some(),
        );
        let Ok(wire) = sender.protect(Codec::Generic, &hello.encode()) else {
            return;
        };
        if p.control
            .send(tagged(conclave_room::DATA_CONTROL, &wire))
            .await
            .is_err()
        {
            tracing::debug!("the control channel is not open yet");
        }
    }

    async fn send_video(&mut self, frame: conclave_media::EncodedVideo) {
        if !self.switches.video() {
            return;
        }
        let Some((p, sender)) = self.live() else {
            return;
        };
        let Some(track) = p.video.clone() else {
            return;
        };
        let Ok(wire) = sender.protect(Codec::H264, &frame.data) else {
            return;
        };
        let first = *p.first_capture_us.get_or_insert(frame.captured_us);
        let elapsed_us = frame.captured_us.saturating_sub(first);
        let timestamp = p.video_ts0.wrapping_add((elapsed_us * 90 / 1000) as u32);
        let payloads = p.packetizer.packetize(&wire);
        let last = payloads.len().saturating_sub(1);
        for (i, payload) in payloads.into_iter().enumerate() {
            p.video_seq = p.video_seq.wrapping_add(1);
            let packet = rtp_packet(
                H264_PT,
                p.video_seq,
                timestamp,
                p.video_ssrc,
                i == last,
                payload,
            );
            if track.write_rtp(packet).await.is_err() {
                return;
            }
            // Pace big keyframes so the receivers' queues (256 packets) keep up.
            if i % 32 == 31 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        lock(self.tally).video_frames_sent += 1;
    }

    async fn send_audio(&mut self, audio: EncodedAudio) {
        let muted = !self.switches.audio();
        let now = conclave_media::wall_clock_us();
        lock(self.tally).muted_speech.hear(audio.level, muted, now);
        if muted {
            return;
        }
        let Some((p, sender)) = self.live() else {
            return;
        };
        let Some(track) = p.audio.clone() else {
            return;
        };
        let Ok(wire) = sender.protect(Codec::Opus, &audio.packet) else {
            return;
        };
        p.audio_seq = p.audio_seq.wrapping_add(1);
        p.audio_ts = p.audio_ts.wrapping_add(960);
        let packet = rtp_packet(
            OPUS_PT,
            p.audio_seq,
            p.audio_ts,
            p.audio_ssrc,
            false,
            Bytes::from(wire),
        );
        let level = rtc::rtp::extension::HeaderExtension::AudioLevel(
            rtc::rtp::extension::audio_level_extension::AudioLevelExtension {
                level: audio.level,
                voice: audio.voice,
            },
        );
        if track
            .write_rtp_with_extensions(packet, &[level])
            .await
            .is_ok()
        {
            lock(self.tally).audio_frames_sent += 1;
        }
    }
}

/// A data-channel message: the byte saying what it carries, then `body`.
fn tagged(tag: u8, body: &[u8]) -> bytes::BytesMut {
    let mut message = bytes::BytesMut::with_capacity(1 + body.len());
    message.extend_from_slice(&[tag]);
    message.extend_from_slice(body);
    message
}

/// Events of our control channel.
async fn poll_control(channel: Option<Arc<dyn DataChannel>>) -> Option<DataChannelEvent> {
    match channel {
        Some(c) => c.poll().await,
        None => std::future::pending().await,
    }
}

/// Feedback on our video track (keyframe requests from the SFU).
async fn poll_local(track: Option<Arc<TrackLocalStaticRTP>>) -> Option<TrackLocalEvent> {
    match track {
        Some(t) => t.poll().await,
        None => std::future::pending().await,
    }
}

async fn next_event(peer: Option<&mut Peer>) -> Option<PeerEvent> {
    match peer {
        Some(p) => p.events.recv().await,
        None => std::future::pending().await,
    }
}

fn rtp_packet(
    pt: u8,
    seq: u16,
    timestamp: u32,
    ssrc: u32,
    marker: bool,
    payload: Bytes,
) -> rtp::Packet {
    rtp::Packet {
        header: rtp::header::Header {
            version: 2,
            marker,
            payload_type: pt,
            sequence_number: seq,
            timestamp,
            ssrc,
            ..Default::default()
        },
        payload,
    }
}

/// The receiver for participant `feed`; it holds the keys key agreement gave us for them.
pub fn receiver_for(receivers: &Receivers, feed: u64) -> Arc<Mutex<Receiver>> {
    lock(receivers)
        .entry(feed)
        .or_insert_with(|| Arc::new(Mutex::new(Receiver::new(SUITE, KidScheme::default()))))
        .clone()
}
