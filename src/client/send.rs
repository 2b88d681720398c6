//! What we send: our tracks' RTP (H.264 access units and Opus packets, each SFrame-encrypted
//! under our current key) and our sealed control messages. Which key, which tracks and when
//! keyframes are made is the meeting's to say; this only writes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use conclave_e2ee::{BaseKey, Codec, FrameLog, KidScheme, Sender, Signer};
use conclave_room::meeting::SUITE;
use conclave_room::sfu::LocalTrackId;
use rtc::rtp;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;

use super::capture::EncodedAudio;
use super::keylog::KeyLog;
use super::peer::{H264_PT, OPUS_PT};
use conclave_rtp::VideoPacketizer;

/// One of our tracks at the SFU.
struct Outgoing {
    sink: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    seq: u16,
    /// Audio: the running timestamp; video: the timestamp of the first frame.
    timestamp: u32,
    first_capture_us: Option<u64>,
    packetizer: VideoPacketizer,
}

/// Counts of what went out.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sent {
    /// Video frames (all video tracks).
    pub video_frames: u64,
    /// Audio frames.
    pub audio_frames: u64,
    /// Keyframes among the video frames.
    pub keyframes: u64,
    /// Bytes of the video frames (encoded, before encryption and packetization).
    pub video_bytes: u64,
    /// Keyframe requests (PLI) we sent for others' video.
    pub keyframe_requests: u64,
    /// Keyframe requests for our video that reached us from the SFU.
    pub keyframes_asked: u64,
    /// The publishing connection's last bandwidth estimate (0: none yet).
    pub estimate_bps: u32,
    /// The rate the camera's encoder was last asked for (0: paused).
    pub video_bitrate_bps: u32,
}

/// Our SFrame sender and our tracks.
#[derive(Default)]
pub struct Sending {
    sender: Option<Sender>,
    tracks: BTreeMap<LocalTrackId, Outgoing>,
    /// The publishing connection is up: packets can go.
    pub live: bool,
    /// What went out.
    pub sent: Sent,
    keylog: Option<Arc<KeyLog>>,
}

impl Sending {
    /// Nothing to send yet; keys are written to `keylog` if given.
    pub fn new(keylog: Option<Arc<KeyLog>>) -> Sending {
        Sending {
            keylog,
            ..Sending::default()
        }
    }

    /// Encrypt under this key from now on.
    pub fn set_key(&mut self, generation: u64, step: u64, key: BaseKey) {
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
        // What is sent is logged, to be signed (conclave_e2ee::attest).
        if let Some(s) = self.sender.as_mut()
            && s.log_mut().is_none()
        {
            s.keep_log(FrameLog::default());
        }
    }

    /// Signed statements of the frames sent since the last call.
    pub fn statements(&mut self, signer: &Signer) -> Vec<Vec<u8>> {
        self.sender
            .as_mut()
            .and_then(Sender::log_mut)
            .map(|log| log.statements(signer))
            .unwrap_or_default()
    }

    /// Our track `id` is written to `sink` with `ssrc`.
    pub fn add_track(&mut self, id: LocalTrackId, sink: Arc<TrackLocalStaticRTP>, ssrc: u32) {
        let mut random = [0u8; 6];
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random);
        self.tracks.insert(
            id,
            Outgoing {
                sink,
                ssrc,
                seq: u16::from_be_bytes([random[0], random[1]]),
                timestamp: u32::from_be_bytes([random[2], random[3], random[4], random[5]]),
                first_capture_us: None,
                packetizer: VideoPacketizer::default(),
            },
        );
    }

    /// The connection to the SFU is gone: so are our tracks there, and our key (the next
    /// connection agrees on fresh ones, starting from generation 1 again).
    pub fn disconnected(&mut self) {
        self.tracks.clear();
        self.sender = None;
        self.live = false;
    }

    /// A control message sealed under our key, as data (`None` before we have a key).
    pub fn seal_control(&mut self, plaintext: &[u8]) -> Option<Vec<u8>> {
        let wire = self
            .sender
            .as_mut()?
            .protect(Codec::Generic, plaintext)
            .ok()?;
        let mut data = Vec::with_capacity(1 + wire.len());
        data.push(conclave_room::DATA_CONTROL);
        data.extend_from_slice(&wire);
        Some(data)
    }

    /// Sends one access unit on video track `id`, sealed as `codec` ([`Codec::H264`] for a
    /// camera, [`Codec::H264Screen`] for a share).
    pub async fn video(
        &mut self,
        id: LocalTrackId,
        frame: &conclave_media::EncodedVideo,
        codec: Codec,
    ) {
        if !self.live {
            return;
        }
        let (Some(sender), Some(t)) = (self.sender.as_mut(), self.tracks.get_mut(&id)) else {
            return;
        };
        let Ok(wire) = sender.protect(codec, &frame.data) else {
            return;
        };
        let first = *t.first_capture_us.get_or_insert(frame.captured_us);
        let elapsed_us = frame.captured_us.saturating_sub(first);
        let timestamp = t.timestamp.wrapping_add((elapsed_us * 90 / 1000) as u32);
        let payloads = t.packetizer.packetize(&wire);
        let last = payloads.len().saturating_sub(1);
        for (i, payload) in payloads.into_iter().enumerate() {
            t.seq = t.seq.wrapping_add(1);
            let packet = rtp_packet(H264_PT, t.seq, timestamp, t.ssrc, i == last, payload);
            if t.sink.write_rtp(packet).await.is_err() {
                return;
            }
            // Pace big keyframes so the receivers' queues (256 packets) keep up.
            if i % 32 == 31 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        self.sent.video_frames += 1;
        self.sent.keyframes += u64::from(frame.keyframe);
        self.sent.video_bytes += frame.data.len() as u64;
    }

    /// Sends one Opus packet on audio track `id`, with its level in the clear for the SFU.
    pub async fn audio(&mut self, id: LocalTrackId, audio: &EncodedAudio) {
        if !self.live {
            return;
        }
        let (Some(sender), Some(t)) = (self.sender.as_mut(), self.tracks.get_mut(&id)) else {
            return;
        };
        let Ok(wire) = sender.protect(Codec::Opus, &audio.packet) else {
            return;
        };
        t.seq = t.seq.wrapping_add(1);
        t.timestamp = t.timestamp.wrapping_add(960);
        let packet = rtp_packet(
            OPUS_PT,
            t.seq,
            t.timestamp,
            t.ssrc,
            false,
            Bytes::from(wire),
        );
        let level = rtc::rtp::extension::HeaderExtension::AudioLevel(
            rtc::rtp::extension::audio_level_extension::AudioLevelExtension {
                level: audio.level,
                voice: audio.voice,
            },
        );
        if t.sink
            .write_rtp_with_extensions(packet, &[level])
            .await
            .is_ok()
        {
            self.sent.audio_frames += 1;
        }
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
