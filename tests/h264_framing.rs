//! H.264 framing on real encoder output: protected access units from openh264 come back
//! byte-for-byte, survive the `webrtc` stack's RTP payloader and depacketizer (`rtc-rtp`, which
//! webrtc 0.21 uses), decode to the same pictures, and do not decode to them without the key.

use bytes::Bytes;
use conclave_e2ee::framing::h264::is_keyframe;
use conclave_e2ee::{BaseKey, CipherSuite, Codec, KidScheme, Receiver, Sender};
use openh264::OpenH264API;
use openh264::decoder::Decoder;
use openh264::encoder::{BitRate, Encoder, EncoderConfig, FrameRate};
use openh264::formats::{YUVBuffer, YUVSource};
use rtc_rtp::codec::h264::{H264Packet, H264Payloader};
use rtc_rtp::packetizer::{Depacketizer, Payloader};

const W: usize = 320;
const H: usize = 240;
const MTU: usize = 1200;

/// A moving, textured I420 picture so the encoder produces real residuals every frame.
fn picture(t: usize) -> YUVBuffer {
    let mut yuv = vec![0u8; W * H * 3 / 2];
    let (y, uv) = yuv.split_at_mut(W * H);
    for row in 0..H {
        for col in 0..W {
            let block = ((col + 3 * t) / 16 + (row + t) / 16) % 2;
            y[row * W + col] = ((col * 2 + row + 5 * t) % 200) as u8 + 40 * block as u8;
        }
    }
    for (i, v) in uv.iter_mut().enumerate() {
        *v = (128 + (i + 7 * t) % 60) as u8;
    }
    YUVBuffer::from_vec(yuv, W, H)
}

fn encode(config: EncoderConfig, frames: usize) -> Vec<Vec<u8>> {
    let mut enc = Encoder::with_api_config(OpenH264API::from_source(), config).unwrap();
    (0..frames)
        .map(|t| {
            if t == frames / 2 {
                enc.force_intra_frame();
            }
            enc.encode(&picture(t)).unwrap().to_vec()
        })
        .filter(|au| !au.is_empty())
        .collect()
}

fn configs() -> Vec<(&'static str, EncoderConfig)> {
    let base = EncoderConfig::new()
        .bitrate(BitRate::from_bps(600_000))
        .max_frame_rate(FrameRate::from_hz(30.0))
        .skip_frames(false);
    vec![
        ("one slice per frame", base),
        ("many slices per frame", base.max_slice_len(800)),
    ]
}

/// Slice NAL units in an access unit.
fn slices(au: &[u8]) -> usize {
    au.windows(4)
        .filter(|w| w[..3] == [0, 0, 1] && (1..=5).contains(&(w[3] & 0x1f)))
        .count()
}

fn pair() -> (Sender, Receiver) {
    let suite = CipherSuite::AesGcm128Sha256;
    let key = BaseKey::new(vec![0x42; 16]).unwrap();
    let tx = Sender::new(suite, KidScheme::default(), 0, key.clone()).unwrap();
    let mut rx = Receiver::new(suite, KidScheme::default());
    rx.add_key(0, 0, key).unwrap();
    (tx, rx)
}

/// What a receiving peer reassembles from the RTP payloads of one access unit.
fn through_rtp(payloader: &mut H264Payloader, au: &[u8]) -> Vec<u8> {
    let payloads = payloader.payload(MTU, &Bytes::copy_from_slice(au)).unwrap();
    assert!(payloads.iter().all(|p| p.len() <= MTU));
    let mut depacketizer = H264Packet::default();
    let mut out = Vec::new();
    for p in payloads {
        out.extend_from_slice(&depacketizer.depacketize(&p).unwrap());
    }
    out
}

fn decode_all(frames: &[Vec<u8>]) -> Vec<Option<Vec<u8>>> {
    let mut dec = Decoder::new().unwrap();
    frames
        .iter()
        .map(|au| match dec.decode(au) {
            Ok(Some(pic)) => {
                let (w, h) = pic.dimensions();
                let (stride, _, _) = pic.strides();
                Some(
                    (0..h)
                        .flat_map(|r| pic.y()[r * stride..r * stride + w].to_vec())
                        .collect(),
                )
            }
            _ => None,
        })
        .collect()
}

#[test]
fn openh264_output_round_trips_byte_for_byte() {
    for (name, config) in configs() {
        let frames = encode(config, 60);
        assert!(
            frames.len() >= 55,
            "{name}: encoder produced {}",
            frames.len()
        );
        let (mut tx, mut rx) = pair();
        for (i, au) in frames.iter().enumerate() {
            let wire = tx.protect(Codec::H264, au).unwrap();
            assert_eq!(is_keyframe(&wire), is_keyframe(au), "{name} frame {i}");
            assert_eq!(
                &rx.unprotect(Codec::H264, &wire).unwrap(),
                au,
                "{name} frame {i}"
            );
        }
        assert_eq!(rx.stats().decrypted, frames.len() as u64);
        let keyframes = frames.iter().filter(|au| is_keyframe(au)).count();
        assert!(keyframes >= 2, "{name}: the forced IDR is among them");
        let most_slices = frames.iter().map(|au| slices(au)).max().unwrap();
        assert_eq!(
            most_slices > 1,
            name.starts_with("many"),
            "{name}: {most_slices}"
        );
    }
}

#[test]
fn protected_frames_survive_the_webrtc_payloader_and_depacketizer() {
    for (name, config) in configs() {
        let frames = encode(config, 60);
        let (mut tx, mut rx) = pair();
        let mut payloader = H264Payloader::default();
        let mut received = Vec::new();
        for (i, au) in frames.iter().enumerate() {
            // The plain stream's reassembly is the reference: the payloader normalises start codes.
            let plain_via_rtp = through_rtp(&mut H264Payloader::default(), au);
            let wire = tx.protect(Codec::H264, au).unwrap();
            let wire_via_rtp = through_rtp(&mut payloader, &wire);
            let unprotected = rx.unprotect(Codec::H264, &wire_via_rtp).unwrap();
            assert_eq!(unprotected, plain_via_rtp, "{name} frame {i}");
            received.push(unprotected);
        }
        assert_eq!(rx.stats().dropped(), 0);

        // Same pictures as decoding the unencrypted stream.
        let reference = decode_all(&frames);
        let decoded = decode_all(&received);
        assert!(
            reference.iter().filter(|p| p.is_some()).count() >= 55,
            "{name}"
        );
        assert_eq!(decoded, reference, "{name}");
    }
}

#[test]
fn without_the_key_the_stream_does_not_decode_to_the_pictures() {
    let frames = encode(configs()[0].1, 30);
    let (mut tx, _) = pair();
    let wire: Vec<Vec<u8>> = frames
        .iter()
        .map(|au| tx.protect(Codec::H264, au).unwrap())
        .collect();
    let reference = decode_all(&frames);
    let from_ciphertext = decode_all(&wire);
    let same = reference
        .iter()
        .zip(&from_ciphertext)
        .filter(|(r, c)| r.is_some() && r == c)
        .count();
    assert_eq!(
        same, 0,
        "a picture decoded from ciphertext matched the original"
    );
}
