//! SFU adapters: one task per connection to an SFU, which takes the meeting's neutral
//! [`SfuRequest`]s and gives back neutral [`SfuEvent`]s, plus the media objects the driver needs
//! (where to write our tracks, what to read theirs from). Everything particular to one SFU —
//! its signalling, how many PeerConnections it wants, how it relays data, its handles — stays
//! in that SFU's module. The link's dialect chooses the adapter.

mod galene;
mod janus;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use conclave_room::JoinLink;
use conclave_room::link::Dialect;
use conclave_room::sfu::{LocalTrackId, SfuEvent, SfuFailure, SfuRequest, TrackHandle};
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::TrackRemote;

use super::IceServer;
use crate::client::ClientError;
use crate::client::peer::{Peer, PeerEvent};

/// What an adapter tells the driver.
pub enum AdapterEvent {
    /// For the meeting.
    Sfu(SfuEvent),
    /// The media of `track` arrives here.
    RemoteTrack {
        /// The track's handle (as in [`SfuEvent::TrackAppeared`]).
        track: TrackHandle,
        /// Where its RTP comes from (and its keyframe requests go).
        remote: Arc<dyn TrackRemote>,
    },
    /// Our track `id` is written here.
    LocalTrack {
        /// Which of ours.
        id: LocalTrackId,
        /// Where its RTP goes.
        sink: Arc<TrackLocalStaticRTP>,
        /// Its SSRC.
        ssrc: u32,
    },
    /// The SFU asked for a keyframe of our track `id`.
    KeyframeAsked(LocalTrackId),
    /// The publishing connection's congestion control estimates the path carries this many
    /// bits per second now.
    SendEstimate(u32),
    /// The SFU sent a signalling message we refused (counted; the connection goes on).
    Malformed,
}

/// How to reach the SFU and the media paths.
#[derive(Clone, Debug)]
pub struct AdapterConfig {
    /// The meeting link (SFU address, room, PIN).
    pub link: JoinLink,
    /// What we call ourselves at the SFU: a random pseudonym, never a name.
    pub pseudonym: String,
    /// Local address for media sockets (all interfaces if `None`).
    pub ice_ip: Option<IpAddr>,
    /// STUN/TURN servers.
    pub ice_servers: Vec<IceServer>,
    /// Media only through a TURN relay.
    pub relay_only: bool,
    /// Have the SFU record the room (Janus: a room we create, into this folder; Galène: into
    /// its own folder) — tests.
    pub record_dir: Option<String>,
    /// Whom to trust for `wss://` (the system's authorities and the user's extra one).
    pub tls: Arc<rustls::ClientConfig>,
}

/// Data messages relayed from other participants that may wait for the meeting at most: past
/// that, the adapter stops reading (the data channels' flow control slows the senders down), so
/// a participant flooding us cannot grow our memory.
pub const DATA_QUEUE: usize = 1024;

/// Data relayed from another participant: who (as the SFU says) and what.
pub type Relayed = (conclave_room::sfu::PeerHandle, Vec<u8>);

/// A running adapter: requests in, events out. Dropping it tears the connection down at once;
/// [`Adapter::close`] leaves politely first.
pub struct Adapter {
    requests: mpsc::UnboundedSender<SfuRequest>,
    events: mpsc::UnboundedReceiver<AdapterEvent>,
    data: mpsc::Receiver<Relayed>,
    task: tokio::task::JoinHandle<()>,
}

impl Adapter {
    /// Connects to the SFU the link names, in its dialect.
    pub fn connect(config: AdapterConfig) -> Adapter {
        let (requests, requests_rx) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::unbounded_channel();
        let (data_tx, data) = mpsc::channel(DATA_QUEUE);
        let task = match config.link.sfu.dialect {
            Dialect::Janus => tokio::spawn(janus::run(config, requests_rx, events_tx, data_tx)),
            Dialect::Galene => tokio::spawn(galene::run(config, requests_rx, events_tx, data_tx)),
            _ => tokio::spawn(async move {
                let refused =
                    SfuFailure::Refused("this build cannot talk to that kind of SFU".into());
                let _ = events_tx.send(AdapterEvent::Sfu(SfuEvent::Failed(refused)));
            }),
        };
        Adapter {
            requests,
            events,
            data,
            task,
        }
    }

    /// Hands the adapter a request.
    pub fn request(&self, request: SfuRequest) {
        let _ = self.requests.send(request);
    }

    /// The next event. An adapter whose task ended without saying why reports the connection
    /// lost (never hangs). Cancel-safe.
    pub async fn next(&mut self) -> AdapterEvent {
        let event = tokio::select! {
            event = self.events.recv() => event,
            Some((from, bytes)) = self.data.recv() => {
                Some(AdapterEvent::Sfu(SfuEvent::Data { from, bytes }))
            }
        };
        event.unwrap_or_else(|| {
            AdapterEvent::Sfu(SfuEvent::Failed(SfuFailure::Lost(
                "the connection to the SFU ended".into(),
            )))
        })
    }

    /// Leaves the room and closes the connections, waiting a moment for that to happen.
    pub async fn close(mut self) {
        let _ = self.requests.send(SfuRequest::Disconnect);
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut self.task).await;
    }
}

/// Why connecting to the SFU's signalling at `url` failed: a certificate we do not trust is
/// final and names the server; anything else is worth another try.
fn connect_failure(url: &str, e: tokio_tungstenite::tungstenite::Error) -> SfuFailure {
    use tokio_tungstenite::tungstenite::Error;
    let rustls_error = match &e {
        Error::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        _ => None,
    };
    match rustls_error {
        Some(rustls::Error::InvalidCertificate(why)) => {
            let server = url::Url::parse(url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            SfuFailure::Untrusted(format!(
                "the certificate of {server} is not trusted: {}",
                certificate_problem(why)
            ))
        }
        _ => SfuFailure::Lost(format!("signalling: {e}")),
    }
}

/// A certificate problem in a few plain words.
fn certificate_problem(e: &rustls::CertificateError) -> String {
    use rustls::CertificateError as C;
    match e {
        C::UnknownIssuer => "it is issued by an authority this computer does not trust".into(),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "it was issued for another server".into()
        }
        C::Expired | C::ExpiredContext { .. } => "it has expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => "it is not valid yet".into(),
        C::Revoked => "it was revoked".into(),
        C::BadSignature => "its signature is wrong".into(),
        other => format!("{other:?}"),
    }
}

impl Drop for Adapter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// What every adapter needs of its PeerConnections.

/// How often the publishing connection's bandwidth estimate is read.
pub(super) const ESTIMATE_EVERY: Duration = Duration::from_millis(200);

/// The publishing connection's bandwidth estimates, as they change.
pub(super) fn forward_send_estimates(
    pc: Arc<dyn webrtc::peer_connection::PeerConnection>,
    events: mpsc::UnboundedSender<AdapterEvent>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last = None;
        let mut answered = false;
        let mut every = tokio::time::interval(ESTIMATE_EVERY);
        loop {
            every.tick().await;
            let estimate = crate::client::peer::send_estimate(pc.as_ref()).await;
            // With transport-wide feedback the estimator starts low and climbs fast; the meeting
            // starts from there too, not from its own start for SFUs without feedback (Galène's
            // REMB is not read), which overfilled a narrow uplink before the first estimate.
            if last.is_none()
                && estimate.is_none()
                && !answered
                && let Some(answer) = pc.remote_description().await
            {
                answered = true;
                if crate::client::peer::has_transport_feedback(&answer.sdp) {
                    let start = crate::client::estimate::START_BPS as u32;
                    last = Some(start);
                    if events.send(AdapterEvent::SendEstimate(start)).is_err() {
                        return;
                    }
                }
            }
            if estimate.is_some() && estimate != last {
                last = estimate;
                if let Some(bps) = estimate
                    && events.send(AdapterEvent::SendEstimate(bps)).is_err()
                {
                    return;
                }
            }
        }
    })
}

/// Keyframe requests (PLI/FIR) the SFU sends about our video track `id`.
pub(super) fn forward_keyframe_requests(
    id: LocalTrackId,
    sink: Arc<TrackLocalStaticRTP>,
    events: mpsc::UnboundedSender<AdapterEvent>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(event) = sink.poll().await {
            if let webrtc::media_stream::track_local::TrackLocalEvent::OnRtcpPacket(packets) = event
                && packets
                    .iter()
                    .any(|p| crate::client::keyframe_requests::is_keyframe_request(p.as_ref()))
                && events.send(AdapterEvent::KeyframeAsked(id)).is_err()
            {
                break;
            }
        }
    })
}

/// The mid of the transceiver that receives `remote`.
pub(super) async fn mid_of(peer: &Peer, remote: &Arc<dyn TrackRemote>) -> Option<String> {
    let wanted = Arc::as_ptr(remote).cast::<()>() as usize;
    for t in peer.pc.get_transceivers().await {
        let Ok(Some(receiver)) = t.receiver().await else {
            continue;
        };
        if Arc::as_ptr(receiver.track()).cast::<()>() as usize == wanted {
            return t.mid().await.ok().flatten();
        }
    }
    None
}

pub(super) async fn next_event(peer: Option<&mut Peer>) -> Option<PeerEvent> {
    match peer {
        Some(p) => p.events.recv().await,
        None => std::future::pending().await,
    }
}

pub(super) fn lost(why: String) -> SfuFailure {
    SfuFailure::Lost(why)
}

pub(super) fn failure(e: ClientError) -> SfuFailure {
    match e {
        ClientError::NoRelay => SfuFailure::NoRelay,
        e => SfuFailure::Lost(e.to_string()),
    }
}

pub(super) fn random_u32() -> u32 {
    let mut bytes = [0u8; 4];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    u32::from_be_bytes(bytes)
}

/// How a PeerConnection's state reads for the meeting (`None`: nothing to say).
pub(super) fn link_state(
    state: webrtc::peer_connection::RTCPeerConnectionState,
) -> Option<conclave_room::sfu::LinkState> {
    use conclave_room::sfu::LinkState;
    use webrtc::peer_connection::RTCPeerConnectionState as S;
    match state {
        S::Connected => Some(LinkState::Connected),
        S::Failed => Some(LinkState::Failed),
        S::New | S::Connecting | S::Disconnected => Some(LinkState::Connecting),
        _ => None,
    }
}

/// Stops the transceiver that sends `sink` (the next offer says so).
pub(super) async fn stop_sending(peer: &Peer, sink: &Arc<TrackLocalStaticRTP>) {
    // Compared as addresses (a pointer would not be Send across the awaits).
    let ours = Arc::as_ptr(sink).cast::<()>() as usize;
    for t in peer.pc.get_transceivers().await {
        let Ok(Some(sender)) = t.sender().await else {
            continue;
        };
        if Arc::as_ptr(sender.track()).cast::<()>() as usize == ours {
            let _ = t.stop().await;
        }
    }
}

/// Adds our track `track` to `peer`: a fresh SSRC, keyframe requests forwarded (video), and the
/// driver told where to write it. The sink, for the adapter to keep.
pub(super) async fn add_local_track(
    peer: &Peer,
    track: &conclave_room::sfu::LocalTrack,
    events: &mpsc::UnboundedSender<AdapterEvent>,
    helpers: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Result<Arc<TrackLocalStaticRTP>, SfuFailure> {
    use conclave_room::sfu::MediaKind;
    use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
    let ssrc = random_u32();
    let kind = match track.kind {
        MediaKind::Audio => RtpCodecKind::Audio,
        MediaKind::Video => RtpCodecKind::Video,
    };
    let sink = peer.add_send_track(kind, ssrc).await.map_err(failure)?;
    if track.kind == MediaKind::Video {
        helpers.push(forward_keyframe_requests(
            track.id,
            sink.clone(),
            events.clone(),
        ));
    }
    let _ = events.send(AdapterEvent::LocalTrack {
        id: track.id,
        sink: sink.clone(),
        ssrc,
    });
    Ok(sink)
}

/// How long connecting to an SFU's WebSocket may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens the SFU's signalling WebSocket (`request` names it), trusting what `tls` trusts.
pub(super) async fn connect_signalling(
    request: tokio_tungstenite::tungstenite::handshake::client::Request,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    SfuFailure,
> {
    let url = request.uri().to_string();
    let connector = tokio_tungstenite::Connector::Rustls(tls.clone());
    let connecting =
        tokio_tungstenite::connect_async_tls_with_config(request, None, false, Some(connector));
    let (ws, _) = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| lost("signalling: the SFU did not answer within 5 s".into()))?
        .map_err(|e| connect_failure(&url, e))?;
    Ok(ws)
}
