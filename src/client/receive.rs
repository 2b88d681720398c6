//! Receiving one remote track: RTP in, frames reassembled, decrypted (or dropped and counted),
//! decoded, and measured. Video decoding runs on its own thread so a slow decoder never stalls
//! the network side; frames it cannot keep up with are dropped. A display that decodes video
//! itself gets the decrypted access units instead.

use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conclave_e2ee::{Codec, DropReason};
use conclave_media::{H264Decoder, OpusDecoder, pattern, wall_clock_us};
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::encoded_out::EncodedOut;
use super::playback::Playback;
use super::rtp_video::{Assembled, FrameAssembler};
use super::run::{Receivers, SharedTally, receiver_for};
use super::stats::MediaTally;
use super::video_out::VideoOut;

/// Where received video goes besides the statistics.
#[derive(Clone, Debug, Default)]
pub struct VideoSinks {
    /// Decoded pictures.
    pub decoded: Option<Arc<VideoOut>>,
    /// Decrypted access units, for a display that decodes them.
    pub encoded: Option<Arc<EncodedOut>>,
}

impl VideoSinks {
    /// Whether anything here needs video decoded: a display of pictures, or nobody (a headless
    /// participant decodes to measure).
    fn decode(&self) -> bool {
        self.decoded.is_some() || self.encoded.is_none()
    }
}

/// Least time between two keyframe requests for one track.
const PLI_INTERVAL: Duration = Duration::from_millis(500);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Starts receiving `track`.
pub fn spawn(
    track: Arc<dyn TrackRemote>,
    receivers: Receivers,
    tally: SharedTally,
    video: VideoSinks,
    playback: Arc<Playback>,
    measure_audio_latency: bool,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // With `use_msid`, Janus names each stream after its publisher.
        let Ok(feed) = track.stream_id().await.parse::<u64>() else {
            tracing::warn!("a remote track without a publisher id; ignored");
            return;
        };
        let kind = track.kind().await;
        let receiver = receiver_for(&receivers, feed);
        match kind {
            RtpCodecKind::Video => receive_video(track, feed, receiver, tally, video).await,
            RtpCodecKind::Audio => {
                receive_audio(
                    track,
                    feed,
                    receiver,
                    tally,
                    playback,
                    measure_audio_latency,
                )
                .await;
            }
            _ => {}
        }
    })
}

fn count_drop(m: &mut MediaTally, reason: DropReason) {
    match reason {
        DropReason::Authentication => m.frames_dropped_auth += 1,
        _ => m.frames_dropped_other += 1,
    }
}

async fn receive_video(
    track: Arc<dyn TrackRemote>,
    feed: u64,
    receiver: Arc<Mutex<conclave_e2ee::Receiver>>,
    tally: SharedTally,
    sinks: VideoSinks,
) {
    let frames = sinks.decode().then(|| {
        let (frames, decoder_input) = std_mpsc::sync_channel::<Vec<u8>>(4);
        let decoder_tally = tally.clone();
        let video_out = sinks.decoded.clone();
        std::thread::spawn(move || decode_video(feed, decoder_input, decoder_tally, video_out));
        frames
    });
    let mut assembler = FrameAssembler::default();
    let mut last_pli: Option<Instant> = None;
    let mut awaiting_keyframe = true;
    let mut ssrc = 0;
    while let Some(event) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            if matches!(event, TrackRemoteEvent::OnEnded) {
                break;
            }
            continue;
        };
        ssrc = packet.header.ssrc;
        let h = &packet.header;
        let access_unit =
            match assembler.push(h.sequence_number, h.timestamp, h.marker, packet.payload) {
                Assembled::Pending => continue,
                Assembled::Lost => {
                    awaiting_keyframe = true;
                    lock(&tally).by_feed(feed).video.frames_lost_in_transit += 1;
                    request_keyframe(&track, ssrc, &mut last_pli).await;
                    continue;
                }
                Assembled::Frame { access_unit, .. } => access_unit,
            };
        let result = lock(&receiver).unprotect(Codec::H264, &access_unit);
        {
            let mut t = lock(&tally);
            let v = &mut t.by_feed(feed).video;
            v.frames_received += 1;
            match &result {
                Ok(_) => v.frames_decrypted += 1,
                Err(e) => count_drop(v, e.reason()),
            }
        }
        // Until a keyframe decrypts (at the start, or after a frame we could not decrypt, e.g.
        // one that came under a new key before the key itself), keep asking for one.
        let keyframe = result.as_ref().is_ok_and(|plain| is_keyframe(plain));
        match &result {
            Ok(_) if keyframe => awaiting_keyframe = false,
            Ok(_) if !awaiting_keyframe => {}
            _ => {
                awaiting_keyframe = true;
                request_keyframe(&track, ssrc, &mut last_pli).await;
            }
        }
        if let Some(encoded) = &sinks.encoded {
            // Only what a decoder can follow: nothing between a loss and the next keyframe.
            if let Ok(plain) = &result
                && !awaiting_keyframe
            {
                encoded.put(feed, plain, keyframe);
            }
            if encoded.take_keyframe_wish(feed) {
                request_keyframe(&track, ssrc, &mut last_pli).await;
            }
        }
        if let (Ok(plain), Some(frames)) = (result, &frames)
            && frames.try_send(plain).is_err()
        {
            // The decoder is behind: this frame is gone, and the next ones need a keyframe.
            awaiting_keyframe = true;
            request_keyframe(&track, ssrc, &mut last_pli).await;
        }
    }
    let _ = ssrc;
}

/// Whether an Annex B access unit starts a keyframe: an SPS or IDR slice before any other slice.
fn is_keyframe(access_unit: &[u8]) -> bool {
    let mut i = 0;
    while i + 3 < access_unit.len() {
        if access_unit[i..i + 3] == [0, 0, 1] {
            match access_unit[i + 3] & 0x1f {
                5 | 7 => return true,
                1..=4 => return false,
                _ => {}
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    false
}

async fn request_keyframe(track: &Arc<dyn TrackRemote>, ssrc: u32, last: &mut Option<Instant>) {
    if last.is_some_and(|t| t.elapsed() < PLI_INTERVAL) {
        return;
    }
    *last = Some(Instant::now());
    let pli = PictureLossIndication {
        sender_ssrc: 0,
        media_ssrc: ssrc,
    };
    let _ = track.write_rtcp(vec![Box::new(pli)]).await;
}

fn decode_video(
    feed: u64,
    input: std_mpsc::Receiver<Vec<u8>>,
    tally: SharedTally,
    video_out: Option<Arc<VideoOut>>,
) {
    let Ok(mut decoder) = H264Decoder::new() else {
        return;
    };
    while let Ok(access_unit) = input.recv() {
        let Ok(Some(picture)) = decoder.decode(&access_unit, 0) else {
            continue;
        };
        let done = wall_clock_us();
        {
            let mut t = lock(&tally);
            let v = &mut t.by_feed(feed).video;
            v.decoded(done);
            if let Some(stamp) = pattern::read(&picture) {
                v.last_frame_number = Some(stamp.frame);
                // The stamp holds the low 56 bits of the capture time.
                let now = done & ((1 << 56) - 1);
                if now >= stamp.captured_us {
                    v.latency.push(now - stamp.captured_us);
                }
            }
        }
        if let Some(out) = &video_out {
            out.put(feed, picture);
        }
    }
}

async fn receive_audio(
    track: Arc<dyn TrackRemote>,
    feed: u64,
    receiver: Arc<Mutex<conclave_e2ee::Receiver>>,
    tally: SharedTally,
    playback: Arc<Playback>,
    measure_latency: bool,
) {
    let Ok(mut decoder) = OpusDecoder::new() else {
        return;
    };
    let mut previous: Vec<f32> = Vec::new();
    while let Some(event) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            if matches!(event, TrackRemoteEvent::OnEnded) {
                break;
            }
            continue;
        };
        let result = lock(&receiver).unprotect(Codec::Opus, &packet.payload);
        if let (true, Ok(plain)) = (playback.playing(), &result) {
            let h = &packet.header;
            playback.push(feed, h.sequence_number, h.timestamp, plain.clone());
        }
        let samples = result.as_ref().ok().and_then(|p| decoder.decode(p).ok());
        let now = wall_clock_us();
        let delay = match (&samples, measure_latency) {
            (Some(current), true) => chirp_delay(&previous, current, now),
            _ => None,
        };
        let mut t = lock(&tally);
        let p = t.by_feed(feed);
        p.audio.frames_received += 1;
        match &result {
            Ok(_) => p.audio.frames_decrypted += 1,
            Err(e) => count_drop(&mut p.audio, e.reason()),
        }
        if let Some(current) = samples {
            p.audio.decoded(now);
            p.audio_level = speech_level(p.audio_level, &current);
            previous = current;
        }
        if let Some(d) = delay {
            p.audio.latency.push(d);
        }
    }
}

/// A loudness meter for "who is speaking": the frame's RMS, rising at once and falling over
/// about half a second, so a speaker stays highlighted across the gaps between words.
pub(crate) fn speech_level(previous: f32, samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return previous;
    }
    let rms = (samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32).sqrt();
    rms.max(previous * 0.92)
}

/// Mouth-to-ear delay of a timing chirp (see `conclave_media::synthetic::Signal::Chirps`) that
/// starts in the previous 20 ms frame, taking `now` as when the current frame is heard.
fn chirp_delay(previous: &[f32], current: &[f32], now: u64) -> Option<u64> {
    if previous.len() != current.len() {
        return None;
    }
    let mut window = previous.to_vec();
    window.extend_from_slice(current);
    let frame_us = 20_000;
    let start = now.saturating_sub(frame_us);
    // Only onsets inside the previous frame count, so each chirp is counted once.
    let onset_limit = start + frame_us;
    conclave_media::synthetic::chirp_onsets_us(&window, start)
        .into_iter()
        .find(|&t| t < onset_limit)
        .map(|t| t % 1_000_000)
}

/// Receives one publisher's data channel (the SFU labels it with their id): key-agreement
/// messages go to the meeting loop, control messages are decrypted and tallied here.
pub fn spawn_control(
    channel: Arc<dyn webrtc::data_channel::DataChannel>,
    receivers: Receivers,
    tally: SharedTally,
    group: tokio::sync::mpsc::UnboundedSender<(u64, Vec<u8>)>,
) -> tokio::task::JoinHandle<()> {
    use webrtc::data_channel::DataChannelEvent;
    tokio::spawn(async move {
        let Ok(feed) = channel.label().await.map(|l| l.parse::<u64>()) else {
            return;
        };
        let Ok(feed) = feed else {
            tracing::warn!("a data channel without a publisher id; ignored");
            return;
        };
        while let Some(event) = channel.poll().await {
            let DataChannelEvent::OnMessage(message) = event else {
                if matches!(event, DataChannelEvent::OnClose) {
                    break;
                }
                continue;
            };
            match message.data.split_first() {
                Some((&conclave_room::DATA_KEYS, rest)) => {
                    let _ = group.send((feed, rest.to_vec()));
                }
                Some((&conclave_room::DATA_CONTROL, rest)) => {
                    control_message(feed, rest, &receivers, &tally);
                }
                _ => lock(&tally).by_feed(feed).control_dropped += 1,
            }
        }
    })
}

fn control_message(feed: u64, wire: &[u8], receivers: &Receivers, tally: &SharedTally) {
    let receiver = receiver_for(receivers, feed);
    let control = lock(&receiver)
        .unprotect(Codec::Generic, wire)
        .ok()
        .and_then(|plain| conclave_room::Control::decode(&plain).ok());
    let mut t = lock(tally);
    let p = t.by_feed(feed);
    match control {
        Some(conclave_room::Control::Hello {
            name, audio, video, ..
        }) => {
            p.display_name = Some(name);
            p.sending_audio = Some(audio);
            p.sending_video = Some(video);
            p.control_messages += 1;
        }
        _ => p.control_dropped += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::is_keyframe;

    #[test]
    fn keyframes_are_told_from_other_frames() {
        assert!(is_keyframe(&[
            0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2, 0, 0, 1, 0x65, 3
        ]));
        assert!(is_keyframe(&[0, 0, 1, 0x65, 3]));
        assert!(!is_keyframe(&[0, 0, 0, 1, 0x41, 9, 0, 0, 1, 0x67]));
        assert!(!is_keyframe(&[0, 0, 0, 1, 0x09, 0x10]));
        assert!(!is_keyframe(&[]));
    }
}
