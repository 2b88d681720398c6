//! PeerConnections to the SFU: one that publishes our audio and video, one that receives everyone
//! else's. Only H.264 (packetization mode 1, constrained baseline) and Opus are offered, with
//! NACK/PLI and transport-wide congestion control feedback and the RFC 6464 audio-level header
//! extension, which stays in the clear so the SFU can tell who speaks without hearing what.
//! What we send is paced ([`super::pacing`]) and its rate estimated ([`super::estimate`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::configuration::RTCIceTransportPolicy;
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_H264, MIME_TYPE_OPUS, MediaEngine,
};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use tokio::sync::{mpsc, watch};
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceConnectionState,
    RTCIceGatheringState, RTCPeerConnectionState,
};

use super::ClientError;

/// How often missing packets are asked for again (NACK). An SFU keeps what it sent for a short
/// while only (Janus: 200 ms by default, and it retransmits a packet at most once in 200 ms), so
/// the first request must go out at once: at 20 ms there is time for a second retransmission
/// inside the video jitter buffer's wait (`conclave_rtp::MAX_WAIT`). The library's default,
/// 100 ms, left one.
const NACK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(20);

/// How often one missing packet is asked for: for as long as the video jitter buffer waits.
const NACKS_PER_PACKET: u16 =
    (conclave_rtp::MAX_WAIT.as_millis() / NACK_INTERVAL.as_millis()) as u16;

/// How often we report reception (RTCP RR). Janus keeps nothing for retransmission until our
/// reports have told it the round-trip time: at the library's 1 s, a receiver's first 2–3 s went
/// unrepaired; a report is some 50 bytes.
const RECEIVER_REPORT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// H.264 payload type we register (Janus follows the offer's numbers).
pub const H264_PT: u8 = 102;
/// Opus payload type.
pub const OPUS_PT: u8 = 111;

fn h264() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_H264.into(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
            .into(),
        rtcp_feedback: vec![RTCPFeedback {
            typ: "ccm".into(),
            parameter: "fir".into(),
        }],
    }
}

fn opus() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.into(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
        rtcp_feedback: vec![],
    }
}

/// What a PeerConnection tells us.
pub enum PeerEvent {
    /// A remote track began (subscriber side).
    Track(Arc<dyn TrackRemote>),
    /// A remote data channel opened (subscriber side: one per publisher, labelled with its id).
    DataChannel(Arc<dyn DataChannel>),
    /// Connection state changed.
    State(RTCPeerConnectionState),
}

struct Handler {
    events: mpsc::UnboundedSender<PeerEvent>,
    gathering: watch::Sender<RTCIceGatheringState>,
    /// Lets in the DTLS datagrams that came before ICE had connected; it opens when ICE first
    /// connects, which also times the DTLS handshake after it.
    early_dtls: Arc<super::early_dtls::Gate>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        let _ = self.gathering.send(state);
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        if matches!(
            state,
            RTCIceConnectionState::Connected | RTCIceConnectionState::Completed
        ) {
            self.early_dtls.open();
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        if state == RTCPeerConnectionState::Connected
            && let Some(ice) = self.early_dtls.opened()
        {
            // Tests read this (tests/janus_impaired.rs): a lost handshake flight costs a
            // second here.
            tracing::debug!(
                handshake_ms = u64::try_from(ice.elapsed().as_millis()).unwrap_or(u64::MAX),
                "media connection up"
            );
        }
        let _ = self.events.send(PeerEvent::State(state));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.events.send(PeerEvent::Track(track));
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        let _ = self.events.send(PeerEvent::DataChannel(channel));
    }
}

/// A PeerConnection with what we need to drive it.
pub struct Peer {
    pub pc: Arc<dyn PeerConnection>,
    pub events: mpsc::UnboundedReceiver<PeerEvent>,
    gathering: watch::Receiver<RTCIceGatheringState>,
    /// Data channels we opened, kept open for the connection's life.
    channels: Vec<Arc<dyn DataChannel>>,
    /// Only relay candidates may be offered (and there must be one).
    relay_only: bool,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Peer")
    }
}

/// A STUN or TURN server (`stun:host:port`, `turn:host:port?transport=udp`).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IceServer {
    /// Its URL.
    pub url: String,
    /// TURN user name (empty for STUN).
    #[serde(default)]
    pub username: String,
    /// TURN credential (empty for STUN).
    #[serde(default)]
    pub credential: String,
}

impl IceServer {
    /// A TURN server (`turn:` or `turns:`), which can relay media; STUN only tells addresses.
    pub fn is_turn(&self) -> bool {
        let scheme = self.url.split(':').next().unwrap_or("");
        scheme.eq_ignore_ascii_case("turn") || scheme.eq_ignore_ascii_case("turns")
    }

    /// Why this server cannot be used (a malformed URL, a TURN server without user name or
    /// password), checked as WebRTC will check it, but before joining: a connection built with
    /// it would fail on every attempt.
    pub fn problem(&self) -> Option<String> {
        let server = self.rtc();
        match server.urls() {
            Ok(_) => None,
            Err(webrtc::error::Error::ErrNoTurnCredentials) => Some(format!(
                "the TURN server {} needs a user name and password",
                self.url
            )),
            Err(e) => Some(format!(
                "the STUN/TURN server {} is unusable: {e}",
                self.url
            )),
        }
    }

    fn rtc(&self) -> rtc::peer_connection::transport::RTCIceServer {
        rtc::peer_connection::transport::RTCIceServer {
            urls: vec![self.url.clone()],
            username: self.username.clone(),
            credential: self.credential.clone(),
        }
    }

    /// Whether media only through a relay (`relay_only`) is asked for with no TURN server among
    /// `servers` to relay it: a setting that can never connect.
    pub fn relay_impossible(relay_only: bool, servers: &[IceServer]) -> bool {
        relay_only && !servers.iter().any(IceServer::is_turn)
    }

    /// Why `servers` (with `relay_only`) could never connect, checked before anything is
    /// contacted: by the meeting before joining, and by the settings before saving.
    pub fn check_all(relay_only: bool, servers: &[IceServer]) -> Result<(), UnusableIce> {
        if let Some(why) = servers.iter().find_map(IceServer::problem) {
            return Err(UnusableIce::BadServer(why));
        }
        if Self::relay_impossible(relay_only, servers) {
            return Err(UnusableIce::NoTurnServer);
        }
        Ok(())
    }
}

/// STUN/TURN settings that could never connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnusableIce {
    /// A server is malformed, or a TURN server lacks its login; why, naming it.
    BadServer(String),
    /// Media only through a relay, but no TURN server to relay it.
    NoTurnServer,
}

fn rtc_error(what: &'static str) -> impl Fn(webrtc::error::Error) -> ClientError {
    move |e| ClientError::WebRtc(format!("{what}: {e}"))
}

impl Peer {
    /// A PeerConnection whose media sockets bind `ice_ip` (all interfaces if unspecified), using
    /// the STUN/TURN servers the user configured (none by default: no third party is asked).
    /// With `relay_only` it offers only TURN relay candidates, so the SFU never learns the
    /// user's own addresses. With `audio_level`, our audio packets say how loud they are in
    /// the clear (RFC 6464) for an SFU that picks speakers by it; pion-based SFUs (Galène)
    /// drop audio that carries the extension, so their adapters leave it out.
    pub async fn new(
        ice_ip: Option<IpAddr>,
        ice_servers: &[IceServer],
        relay_only: bool,
        audio_level: bool,
    ) -> Result<Peer, ClientError> {
        let mut media = MediaEngine::default();
        media
            .register_codec(
                RTCRtpCodecParameters {
                    rtp_codec: h264(),
                    payload_type: H264_PT,
                },
                RtpCodecKind::Video,
            )
            .map_err(|e| ClientError::WebRtc(format!("H.264 codec: {e}")))?;
        media
            .register_codec(
                RTCRtpCodecParameters {
                    rtp_codec: opus(),
                    payload_type: OPUS_PT,
                },
                RtpCodecKind::Audio,
            )
            .map_err(|e| ClientError::WebRtc(format!("Opus codec: {e}")))?;
        if audio_level {
            media
                .register_header_extension(
                    RTCRtpHeaderExtensionCapability {
                        uri: rtc::sdp::extmap::AUDIO_LEVEL_URI.to_owned(),
                    },
                    RtpCodecKind::Audio,
                    None,
                )
                .map_err(|e| ClientError::WebRtc(format!("audio level extension: {e}")))?;
        }
        for parameter in ["", "pli"] {
            media.register_feedback(
                RTCPFeedback {
                    typ: "nack".into(),
                    parameter: parameter.into(),
                },
                RtpCodecKind::Video,
            );
        }
        // Transport-wide congestion control: the SFU reports when each of our packets arrived
        // (RTCP transport-cc feedback, keyed by a sequence number in a header extension), and
        // the estimator (GCC: delay trend and loss) tells how much the path carries.
        for kind in [RtpCodecKind::Video, RtpCodecKind::Audio] {
            media.register_feedback(
                RTCPFeedback {
                    typ: "transport-cc".into(),
                    parameter: String::new(),
                },
                kind,
            );
            media
                .register_header_extension(
                    RTCRtpHeaderExtensionCapability {
                        uri: rtc::sdp::extmap::TRANSPORT_CC_URI.to_owned(),
                    },
                    kind,
                    None,
                )
                .map_err(|e| ClientError::WebRtc(format!("transport-cc extension: {e}")))?;
        }
        use rtc::interceptor::{
            CongestionControlBuilder, NackGeneratorBuilder, NackResponderBuilder,
            ReceiverReportBuilder, Registry, SenderReportBuilder, Slot, TwccReceiverBuilder,
            TwccSenderBuilder,
        };
        // The pacer's rate until the first estimate: it only spreads bursts, and at 2.5 times
        // the start of 300 kbit/s the first seconds' keyframes (one per new receiver) queued for
        // up to a second through Galène, whose first estimate comes a second or two in.
        let start = PACING_START_BPS;
        let round_trip = Arc::new(super::nack_filter::RoundTrip::default());
        let registry = Registry::new()
            .with(
                Slot::CongestionControl,
                CongestionControlBuilder::new(super::estimate::Estimator::new(
                    super::estimate::START_BPS,
                ))
                .build(),
            )
            // Between the transport-wide estimator and the pacer: the estimate from receiver
            // reports where there is no transport-wide feedback (Galène), and REMB's ceiling.
            .with(
                Slot::from(1_500),
                super::report_estimate::ReportEstimate::new(round_trip.clone()),
            )
            .with(Slot::TwccSender, TwccSenderBuilder::new().build())
            .with(Slot::Pacer, super::pacing::Pacing::new(start))
            .with(Slot::TwccReceiver, TwccReceiverBuilder::new().build())
            // Before the responder on the read path: repeats within a round trip go no further.
            .with(
                Slot::from(3_500),
                super::nack_filter::NackFilter::new(round_trip),
            )
            .with(Slot::NackResponder, NackResponderBuilder::new().build())
            .with(
                Slot::NackGenerator,
                NackGeneratorBuilder::new()
                    .with_interval(NACK_INTERVAL)
                    // As long as the jitter buffer still waits for it, not for ever.
                    .with_max_nacks_per_packet(NACKS_PER_PACKET)
                    .build(),
            )
            .with(
                Slot::ReceiverReport,
                ReceiverReportBuilder::new()
                    .with_interval(RECEIVER_REPORT_INTERVAL)
                    .build(),
            )
            .with(Slot::SenderReport, SenderReportBuilder::new().build())
            // After the report interceptors (10 000, 11 000): closest to the application.
            .with(
                rtc::interceptor::Slot::from(14_000),
                super::keyframe_requests::KeyframeRequests::default(),
            );
        // mDNS would join a multicast group, which fails on hosts (and test namespaces) without a
        // multicast route; Conclave never needs .local candidates.
        let settings = SettingEngineBuilder::new()
            .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
            .build();
        let (events_tx, events) = mpsc::unbounded_channel();
        let (gathering_tx, gathering) = watch::channel(RTCIceGatheringState::New);
        let early_dtls = Arc::new(super::early_dtls::Gate::default());
        let runtime = webrtc::runtime::default_runtime()
            .ok_or_else(|| ClientError::WebRtc("no async runtime".into()))?;
        let handler = Arc::new(Handler {
            events: events_tx,
            gathering: gathering_tx,
            early_dtls: Arc::clone(&early_dtls),
        });
        let bind = SocketAddr::new(ice_ip.unwrap_or(IpAddr::from([0, 0, 0, 0])), 0);
        let pc = PeerConnectionBuilder::new()
            .with_configuration(
                RTCConfigurationBuilder::new()
                    .with_ice_servers(ice_servers.iter().map(IceServer::rtc).collect())
                    .with_ice_transport_policy(if relay_only {
                        RTCIceTransportPolicy::Relay
                    } else {
                        RTCIceTransportPolicy::All
                    })
                    .build(),
            )
            .with_media_engine(media)
            .with_interceptor_registry(registry)
            .with_setting_engine(settings)
            .with_handler(handler)
            .with_runtime(Arc::new(super::early_dtls::GatedRuntime::new(
                runtime, early_dtls,
            )))
            .with_udp_addrs(vec![bind])
            .build()
            .await
            .map_err(rtc_error("creating the connection"))?;
        Ok(Peer {
            pc: Arc::new(pc),
            events,
            gathering,
            channels: Vec::new(),
            relay_only,
        })
    }

    /// Adds a send-only track with our own SSRC.
    pub async fn add_send_track(
        &self,
        kind: RtpCodecKind,
        ssrc: u32,
    ) -> Result<Arc<TrackLocalStaticRTP>, ClientError> {
        let (codec, id) = match kind {
            RtpCodecKind::Video => (h264(), "video"),
            _ => (opus(), "audio"),
        };
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            "conclave".into(),
            id.into(),
            id.into(),
            kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec,
                ..Default::default()
            }],
        )));
        self.pc
            .add_transceiver_from_track(
                Arc::clone(&track) as Arc<dyn TrackLocal>,
                Some(RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Sendonly,
                    streams: vec![],
                    send_encodings: vec![],
                }),
            )
            .await
            .map_err(rtc_error("adding a track"))?;
        Ok(track)
    }

    /// Adds the (reliable, ordered) data channel for our encrypted control messages.
    pub async fn add_data_channel(&mut self) -> Result<Arc<dyn DataChannel>, ClientError> {
        let channel = self
            .pc
            .create_data_channel("conclave", None)
            .await
            .map_err(rtc_error("adding the data channel"))?;
        self.channels.push(Arc::clone(&channel));
        Ok(channel)
    }

    /// Our offer, with every ICE candidate in it (no trickling).
    pub async fn offer(&mut self) -> Result<String, ClientError> {
        let offer = self
            .pc
            .create_offer(None)
            .await
            .map_err(rtc_error("creating an offer"))?;
        self.pc
            .set_local_description(offer)
            .await
            .map_err(rtc_error("setting the offer"))?;
        self.local_sdp().await
    }

    /// Takes the SFU's offer and returns our answer, with every ICE candidate in it.
    pub async fn answer(&mut self, offer_sdp: &str) -> Result<String, ClientError> {
        let offer = RTCSessionDescription::offer(offer_sdp.to_owned())
            .map_err(rtc_error("reading the SFU's offer"))?;
        self.pc
            .set_remote_description(offer)
            .await
            .map_err(rtc_error("setting the SFU's offer"))?;
        let answer = self
            .pc
            .create_answer(None)
            .await
            .map_err(rtc_error("creating an answer"))?;
        self.pc
            .set_local_description(answer)
            .await
            .map_err(rtc_error("setting the answer"))?;
        self.local_sdp().await
    }

    /// Takes the SFU's answer to our offer.
    pub async fn accept_answer(&self, answer_sdp: &str) -> Result<(), ClientError> {
        let answer = RTCSessionDescription::answer(answer_sdp.to_owned())
            .map_err(rtc_error("reading the SFU's answer"))?;
        self.pc
            .set_remote_description(answer)
            .await
            .map_err(rtc_error("setting the SFU's answer"))
    }

    async fn local_sdp(&mut self) -> Result<String, ClientError> {
        let gathered = async {
            while *self.gathering.borrow_and_update() != RTCIceGatheringState::Complete {
                if self.gathering.changed().await.is_err() {
                    break;
                }
            }
        };
        // Host candidates take milliseconds, a TURN allocation a round trip or two; an
        // allocation that takes longer than this would make a poor relay anyway. After a
        // renegotiation the state may already be complete.
        let _ = tokio::time::timeout(Duration::from_secs(5), gathered).await;
        let sdp = self
            .pc
            .local_description()
            .await
            .map(|d| d.sdp)
            .ok_or_else(|| ClientError::WebRtc("no local description".into()))?;
        // A refused or silent TURN server leaves a relay-only connection without a single
        // candidate; it would wait for media forever.
        if self.relay_only && !has_candidate(&sdp) {
            return Err(ClientError::NoRelay);
        }
        Ok(sdp)
    }

    /// Closes the connection.
    pub async fn close(&self) {
        let _ = self.pc.close().await;
    }
}

/// What the congestion controllers estimate the path to the SFU carries now, in bits per
/// second of RTP; `None` until their first estimate.
pub async fn send_estimate(pc: &dyn PeerConnection) -> Option<u32> {
    let report = pc
        .get_stats(
            std::time::Instant::now(),
            rtc::statistics::StatsSelector::None,
        )
        .await;
    report
        .outbound_rtp_streams()
        .map(|s| s.target_bitrate)
        .filter(|t| *t > 0.0)
        .reduce(f64::max)
        .map(|t| t as u32)
}

/// Whether an SFU's answer takes transport-wide congestion control feedback: the feedback type
/// and the header extension it numbers packets by. Janus answers with both. Galène (Debian's
/// pion) answers `transport-cc` feedback without the extension, so it can never send any: the
/// estimator's start announced for it held the first-run demo's camera at 320x240 until the
/// estimate from receiver reports came, seconds later.
pub fn has_transport_feedback(sdp: &str) -> bool {
    let feedback = sdp
        .lines()
        .any(|l| l.starts_with("a=rtcp-fb:") && l.contains(" transport-cc"));
    let extension = sdp.lines().any(|l| {
        l.starts_with("a=extmap:")
            && l.split_whitespace().nth(1) == Some(rtc::sdp::extmap::TRANSPORT_CC_URI)
    });
    feedback && extension
}

/// What the pacer paces at (2.5 times this) until the connection's first estimate.
const PACING_START_BPS: f64 = 1_000_000.0;

/// Whether an SDP offers any ICE candidate.
fn has_candidate(sdp: &str) -> bool {
    sdp.lines().any(|l| l.starts_with("a=candidate:"))
}

#[cfg(test)]
mod tests {
    use super::{IceServer, has_candidate, has_transport_feedback};

    #[test]
    fn an_answer_with_transport_wide_feedback_is_told_from_one_without() {
        let extension = "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n";
        let janus = format!(
            "m=video 9 UDP/TLS/RTP/SAVPF 102\r\n{extension}a=rtcp-fb:102 nack\r\na=rtcp-fb:102 transport-cc\r\n"
        );
        // Galène's answer as it comes (its lines of feedback and extensions): the feedback
        // without the extension.
        let galene = "m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=extmap-allow-mixed\r\n\
                      a=rtcp-fb:111 transport-cc \r\na=rtcp-fb:102 ccm fir\r\n\
                      a=rtcp-fb:102 nack \r\na=rtcp-fb:102 nack pli\r\n\
                      a=rtcp-fb:102 transport-cc \r\n";
        let remb =
            "m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=rtcp-fb:102 goog-remb\r\na=rtcp-fb:102 nack\r\n";
        assert!(has_transport_feedback(&janus));
        assert!(!has_transport_feedback(galene));
        assert!(!has_transport_feedback(remb));
        assert!(!has_transport_feedback(extension));
    }

    #[test]
    fn an_sdp_without_candidate_lines_has_none() {
        let without = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=end-of-candidates\r\n";
        assert!(!has_candidate(without));
        let with = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n\
                    a=candidate:1 1 udp 16777215 192.0.2.1 30000 typ relay raddr 0.0.0.0 rport 0\r\n";
        assert!(has_candidate(with));
    }

    fn server(url: &str) -> IceServer {
        IceServer {
            url: url.to_owned(),
            ..Default::default()
        }
    }

    #[test]
    fn only_turn_urls_can_relay() {
        assert!(server("turn:turn.example.org:3478?transport=udp").is_turn());
        assert!(server("TURNS:turn.example.org:5349").is_turn());
        assert!(!server("stun:stun.example.org:3478").is_turn());
        assert!(!server("turnx:example.org").is_turn());
        assert!(!server("").is_turn());
    }

    #[test]
    fn a_server_webrtc_would_refuse_is_a_problem_before_joining() {
        assert_eq!(server("stun:stun.example.org:3478").problem(), None);
        assert!(server("turn:").problem().unwrap().contains("turn:"));
        assert!(server("http://example.org").problem().is_some());
        let turn = "turn:turn.example.org:3478?transport=udp";
        assert!(
            server(turn)
                .problem()
                .unwrap()
                .contains("user name and password")
        );
        let with_login = IceServer {
            url: turn.into(),
            username: "alice".into(),
            credential: "pa55".into(),
        };
        assert_eq!(with_login.problem(), None);
    }

    #[test]
    fn all_servers_are_checked_before_the_relay_is() {
        use super::UnusableIce;
        let stun = server("stun:stun.example.org:3478");
        let bad = server("turn:");
        assert_eq!(
            IceServer::check_all(false, std::slice::from_ref(&stun)),
            Ok(())
        );
        assert_eq!(
            IceServer::check_all(true, std::slice::from_ref(&stun)),
            Err(UnusableIce::NoTurnServer)
        );
        assert!(matches!(
            IceServer::check_all(true, &[stun, bad]),
            Err(UnusableIce::BadServer(why)) if why.contains("turn:")
        ));
    }

    #[test]
    fn relay_only_needs_a_turn_server() {
        let stun = server("stun:stun.example.org:3478");
        let turn = server("turn:turn.example.org:3478");
        assert!(IceServer::relay_impossible(true, &[]));
        assert!(IceServer::relay_impossible(
            true,
            std::slice::from_ref(&stun)
        ));
        assert!(!IceServer::relay_impossible(true, &[stun.clone(), turn]));
        assert!(!IceServer::relay_impossible(false, &[stun]));
    }
}
