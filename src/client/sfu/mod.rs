//! SFU adapters: one task per connection to an SFU, which takes the meeting's neutral
//! [`SfuRequest`]s and gives back neutral [`SfuEvent`]s, plus the media objects the driver needs
//! (where to write our tracks, what to read theirs from). Everything particular to one SFU —
//! its signalling, how many PeerConnections it wants, how it relays data, its handles — stays
//! in that SFU's module. The link's dialect chooses the adapter.

mod janus;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use conclave_room::JoinLink;
use conclave_room::link::Dialect;
use conclave_room::sfu::{LocalTrackId, SfuEvent, SfuFailure, SfuRequest, TrackHandle};
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::TrackRemote;

use super::IceServer;

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
    /// Have the SFU record a room we create into this folder (tests).
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
