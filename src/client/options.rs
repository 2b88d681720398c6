//! How to take part in a meeting: the options the CLI, the app and the tests fill in.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use conclave_group::Identity;
use conclave_media::VideoFormat;
use conclave_room::JoinLink;

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
    /// The microphone's clean-up: echo cancellation, noise suppression, gain control (all on).
    pub voice: conclave_media::VoiceSettings,
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
    /// Have the SFU record the room (Janus: into this folder when we create it; Galène: into
    /// its own folder) — tests.
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
    /// Publish a second synthetic video track this long after joining, without rejoining
    /// (tests of several tracks per participant).
    pub second_video_after: Option<Duration>,
    /// Share this screen, window or synthetic page from `share_after` on, for `share_for` (or
    /// until the meeting ends).
    pub share: Option<conclave_media::ShareTarget>,
    /// When to start sharing, after joining.
    pub share_after: Duration,
    /// How long to share, if not until the end.
    pub share_for: Option<Duration>,
    /// Where to keep the last picture of each share received (`<share_feed>.pgm`, luma), when
    /// the meeting ends.
    pub keep_share_pictures: Option<std::path::PathBuf>,
    /// Drop the connection to the SFU this long after joining, as a network failure would (no
    /// goodbye), and reconnect (tests).
    pub drop_after: Option<Duration>,
    /// What to call ourselves at the SFU instead of a random pseudonym (tests of impostors).
    pub pseudonym: Option<String>,
    /// Wait outside until the meeting admits us (someone here proved to hold the room key, we
    /// are alone, or [`super::Meeting::go_in`]), sending nothing meanwhile: for a display with a
    /// join screen. A headless participant goes in at once.
    pub wait_outside: bool,
    /// A certificate authority to trust for `wss://` besides the system's (PEM).
    pub extra_ca: Option<Vec<u8>>,
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
            voice: conclave_media::VoiceSettings::ON,
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
            second_video_after: None,
            share: None,
            share_after: Duration::ZERO,
            share_for: None,
            keep_share_pictures: None,
            drop_after: None,
            pseudonym: None,
            extra_ca: None,
            wait_outside: true,
        }
    }
}
