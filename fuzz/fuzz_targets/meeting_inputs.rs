//! The meeting state machine under a hostile SFU: arbitrary events, data and commands in any
//! order, with time passing. It never panics, and its outputs always drain.
#![no_main]

use std::time::{Duration, Instant};

use conclave_group::{Identity, Psk};
use conclave_room::meeting::{Command, Config, MediaInput, Meeting, ParticipantId};
use conclave_room::sfu::{
    Link, LinkState, LocalTrack, LocalTrackId, MediaKind, PeerHandle, SfuEvent, SfuFailure,
    TrackHandle,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::now();
    let config = Config {
        identity: Identity::from_secret(&[7; 32]).unwrap(),
        psk: Psk::derive(&[1; 32], "room"),
        name: "fuzz".into(),
        audio_on: true,
        video_on: true,
        microphone: true,
        camera: true,
        seed: 1,
        signer: [3; 32],
        video_bitrate_max: 800_000,
    };
    let mut m = Meeting::new(config, now);
    let mut rest = data;
    while let [op, a, b, tail @ ..] = rest {
        rest = tail;
        let peer = PeerHandle(u64::from(*a % 8));
        let track = TrackHandle((b % 8).to_string());
        let kind = if b & 1 == 0 {
            MediaKind::Audio
        } else {
            MediaKind::Video
        };
        match op % 25 {
            0 => m.handle_sfu(
                SfuEvent::Joined {
                    me: peer,
                    present: vec![(PeerHandle(u64::from(*b % 8)), None)],
                },
                now,
            ),
            1 => m.handle_sfu(SfuEvent::PeerAppeared { peer, label: None }, now),
            2 => m.handle_sfu(SfuEvent::PeerGone(peer), now),
            3 => m.handle_sfu(SfuEvent::TrackAppeared { track, peer, kind }, now),
            4 => m.handle_sfu(SfuEvent::TrackGone(track), now),
            5 | 6 => {
                let len = usize::from(*b).min(rest.len());
                let (bytes, tail) = rest.split_at(len);
                rest = tail;
                m.handle_data(peer, bytes, |_, wire| Some(wire.to_vec()), now);
            }
            7 => {
                let link = if a & 1 == 0 {
                    Link::Publish
                } else {
                    Link::Subscribe
                };
                let state = match b % 3 {
                    0 => LinkState::Connecting,
                    1 => LinkState::Connected,
                    _ => LinkState::Failed,
                };
                m.handle_sfu(SfuEvent::Link { link, state }, now);
            }
            8 => m.handle_sfu(SfuEvent::Failed(SfuFailure::Lost("fuzz".into())), now),
            9 => now += Duration::from_millis(u64::from(*a) * 40),
            10 => m.command(Command::SetAudio(a & 1 == 0), now),
            11 => m.command(Command::SetVideo(a & 1 == 0), now),
            12 => m.command(
                Command::Publish(LocalTrack {
                    id: LocalTrackId(*b),
                    kind,
                }),
                now,
            ),
            13 => m.handle_media(MediaInput::KeyframeWanted(track), now),
            14 => m.handle_media(
                MediaInput::Levels(vec![(
                    ParticipantId(u64::from(*a % 8)),
                    f32::from(*b) / 255.0,
                )]),
                now,
            ),
            15 => m.command(Command::Unpublish(LocalTrackId(*b)), now),
            16 => {
                // Chat to everyone or to one, with whatever text follows.
                let len = usize::from(*b).min(rest.len());
                let (bytes, tail) = rest.split_at(len);
                rest = tail;
                let to = (a & 1 == 1).then(|| ParticipantId(u64::from(*a % 8)));
                let text = String::from_utf8_lossy(bytes).into_owned();
                m.command(Command::Chat { to, text }, now);
            }
            17 => m.command(Command::Hand(a & 1 == 0), now),
            19 => m.handle_media(MediaInput::OwnLevel(*b), now),
            20 => m.handle_media(
                MediaInput::SendEstimate(u32::from_be_bytes([0, *a, *b, 0])),
                now,
            ),
            21 => m.command(Command::Share(a & 1 == 0), now),
            22 => m.handle_media(MediaInput::ShareEnded, now),
            23 => m.handle_media(
                MediaInput::ShareSeen {
                    track,
                    share: a & 1 == 0,
                },
                now,
            ),
            18 => m.command(
                Command::React(["👍", "🎉", "x"][usize::from(*a % 3)].into()),
                now,
            ),
            _ => m.handle_media(
                MediaInput::Forged {
                    participant: ParticipantId(u64::from(*a % 8)),
                    frames: usize::from(*b),
                },
                now,
            ),
        }
        if m.poll_timeout().is_some_and(|t| t <= now) {
            m.handle_timeout(now);
        }
        while m.poll_transmit().is_some() {}
        while m.poll_action().is_some() {}
        while m.poll_event().is_some() {}
    }
});
