//! The driver: one task that feeds the meeting state machine ([`conclave_room::meeting::Meeting`])
//! what happens — the SFU adapter's events, the user's commands, the media side's needs, the
//! clock — and carries out what it decides, with sockets, PeerConnections, devices and timers.
//! It decides nothing itself.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use conclave_e2ee::Codec;
use conclave_e2ee::Signer;
use conclave_group::Psk;
use conclave_media::ShareTarget;
use conclave_room::meeting::{
    self, Admission, CAMERA, Config, Event, MICROPHONE, MediaAction, MediaInput, Meeting as Core,
    SHARE, Transmit,
};
use conclave_room::sfu::{
    Link, LinkState, LocalTrack, LocalTrackId, MediaKind, SfuEvent, SfuFailure, SfuRequest,
};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::capture::Capture;
use super::command::{Command, DeviceChange};
use super::keylog::KeyLog;
use super::playback::Playback;
use super::receive::{Receiving, VideoSinks};
use super::send::Sending;
use super::sfu::{Adapter, AdapterConfig, AdapterEvent};
use super::stats::{ErrorKind, MeetingStats, ReportParts, report};
use super::{JoinOptions, UnusableIce};
use crate::selftest::{CameraChoice, MicChoice};

/// Our second video track: the share, or in tests a second camera.
pub const SECOND_VIDEO: LocalTrackId = SHARE;

/// How often the media side's levels and device states reach the meeting.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// How often the report a display reads is brought up to date.
const REPORT_EVERY: Duration = Duration::from_millis(250);

/// Joins, stays for `options.duration` (reconnecting as needed), leaves; returns what it saw.
pub async fn join(options: JoinOptions) -> MeetingStats {
    super::Meeting::start(options).finished().await
}

/// The meeting's report, shared with whoever holds the meeting.
pub(crate) type SharedReport = Arc<Mutex<MeetingStats>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn random_pseudonym() -> String {
    let mut bytes = [0u8; 4];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    format!("p-{}", hex::encode(bytes))
}

fn random_seed() -> u64 {
    let mut bytes = [0u8; 8];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    u64::from_be_bytes(bytes)
}

/// Everything the driver holds while the meeting runs.
struct Driver {
    core: Core,
    adapter: Option<Adapter>,
    adapter_config: AdapterConfig,
    capture: Capture,
    playback: Arc<Playback>,
    receiving: Receiving,
    sending: Sending,
    /// Signs the frames we send.
    signer: Signer,
    malformed_signalling: u64,
    pseudonym: String,
    shared: SharedReport,
    ui: mpsc::UnboundedSender<Event>,
    /// What to share once the meeting says so.
    share_target: Option<ShareTarget>,
}

/// The meeting, from joining to leaving.
pub(crate) async fn run(
    options: JoinOptions,
    pseudonym: String,
    mut commands: mpsc::UnboundedReceiver<Command>,
    shared: SharedReport,
    ui: mpsc::UnboundedSender<Event>,
) -> MeetingStats {
    let now = std::time::Instant::now();
    // Our frames are signed with a key of this meeting's (conclave_e2ee::attest).
    let signer = Signer::generate();
    let mut core = Core::new(
        Config {
            signer: signer.as_ref().map_or([0; 32], Signer::public),
            identity: options.identity.clone(),
            psk: Psk::derive(options.link.secret.expose_secret(), &options.link.room),
            name: options.name.clone(),
            audio_on: options.send_audio,
            video_on: options.send_video,
            microphone: options.mic != MicChoice::None,
            camera: options.camera != CameraChoice::None,
            seed: random_seed(),
            video_bitrate_max: options.video_bitrate_bps,
        },
        now,
    );
    if !options.wait_outside {
        core.command(conclave_room::meeting::Command::GoIn, now);
    }
    // Settings that can never connect end the meeting before it starts, not in a reconnect loop.
    let ice = super::IceServer::check_all(options.relay_only, &options.ice_servers);
    let tls = super::tls::client_config(options.extra_ca.as_deref());
    let unusable = match (ice, tls, signer) {
        (_, _, Err(e)) => Err((ErrorKind::ConnectionLost, e.to_string())),
        (Ok(()), Ok(tls), Ok(signer)) => Ok((tls, signer)),
        (Err(UnusableIce::BadServer(why)), _, _) => Err((ErrorKind::BadIceServer, why)),
        (Err(UnusableIce::NoTurnServer), _, _) => Err((
            ErrorKind::NoTurnServer,
            "media only through a TURN relay was asked for, but no TURN server is configured"
                .to_owned(),
        )),
        (Ok(()), Err(e), _) => Err((ErrorKind::BadCa, e.to_string())),
    };
    let (tls, signer) = match unusable {
        Ok(ready) => ready,
        Err(ended) => {
            let stats = report(&ReportParts {
                meeting: &core,
                remotes: &Default::default(),
                pseudonym: &pseudonym,
                sent: Default::default(),
                audio_frames_played: 0,
                audio_playback_gaps: 0,
                audio_playback_skipped: 0,
                malformed_signalling: 0,
                device_problems: Vec::new(),
                ended: Some(ended),
            });
            *lock(&shared) = stats.clone();
            return stats;
        }
    };
    let mut capture = Capture::new(
        options.video,
        options.video_bitrate_bps,
        options.keyframe_interval,
        options.self_view.clone(),
        conclave_media::VoiceProcessor::new(options.voice),
    );
    capture.set_camera_on(options.send_video);
    capture.set_camera(&options.camera);
    capture.set_mic(&options.mic);
    let playback = Playback::start(None, capture.problems.clone());
    playback.cancel_echo_in(capture.voice.clone());
    playback.use_speaker(options.speaker.clone());
    let keylog = KeyLog::from_env().map(Arc::new);
    let (inputs_tx, mut inputs) = mpsc::unbounded_channel();
    let last_share = options.keep_share_pictures.as_ref().map(|_| Arc::default());
    let receiving = Receiving::new(
        VideoSinks {
            decoded: options.video_out.clone(),
            encoded: options.encoded_out.clone(),
            last_share: last_share.clone(),
        },
        playback.clone(),
        options.measure_audio_latency,
        inputs_tx,
        keylog.clone(),
    );
    let mut d = Driver {
        core,
        adapter: None,
        adapter_config: AdapterConfig {
            link: options.link.clone(),
            pseudonym: pseudonym.clone(),
            ice_ip: options.ice_ip,
            ice_servers: options.ice_servers.clone(),
            relay_only: options.relay_only,
            record_dir: options.record_dir.clone(),
            tls,
        },
        capture,
        playback,
        receiving,
        sending: Sending::new(keylog),
        signer,
        malformed_signalling: 0,
        pseudonym,
        shared,
        ui,
        share_target: None,
    };
    let deadline = Instant::now() + options.duration;
    let mut second_video_at = options
        .second_video_after
        .map(|after| Instant::now() + after);
    let mut drop_at = options.drop_after.map(|after| Instant::now() + after);
    let mut share_at = options
        .share
        .as_ref()
        .map(|_| Instant::now() + options.share_after);
    let mut unshare_at = None;
    let mut sample = tokio::time::interval(SAMPLE_EVERY);
    let mut publish = tokio::time::interval(REPORT_EVERY);
    loop {
        d.carry_out().await;
        if d.core.is_over() {
            break;
        }
        let timeout = d
            .core
            .poll_timeout()
            .map(Instant::from_std)
            .unwrap_or(deadline);
        let opened = d.capture.opened.clone();
        // What happened, and when it did (not when we began to wait).
        let now = std::time::Instant::now;
        tokio::select! {
            event = next(d.adapter.as_mut()) => d.on_adapter(event).await,
            command = commands.recv() => d.on_command(command.unwrap_or(Command::Leave)),
            Some(input) = inputs.recv() => d.core.handle_media(input, now()),
            _ = sample.tick() => {
                let devices = MediaInput::Devices {
                    microphone: d.capture.mic_open(),
                    camera: d.capture.camera_open(),
                };
                d.core.handle_media(devices, now());
                d.core.handle_media(MediaInput::Levels(d.receiving.levels()), now());
                if d.capture.share_ended() {
                    d.capture.stop_second();
                    d.core.handle_media(MediaInput::ShareEnded, now());
                }
            }
            _ = publish.tick() => d.publish(),
            () = opened.notified() => {
                let devices = MediaInput::Devices {
                    microphone: d.capture.mic_open(),
                    camera: d.capture.camera_open(),
                };
                d.core.handle_media(devices, now());
            }
            // Nothing goes out while we wait outside the meeting (the core's admission).
            Some(frame) = d.capture.video.recv() => {
                if d.core.local().video_on && d.core.admission() == Admission::In {
                    d.sending.video(CAMERA, &frame, Codec::H264).await;
                }
            }
            Some(frame) = d.capture.second_video.recv() => {
                let codec = if d.capture.second_is_share() { Codec::H264Screen } else { Codec::H264 };
                d.sending.video(SECOND_VIDEO, &frame, codec).await;
            }
            Some(audio) = d.capture.audio.recv() => {
                let on = d.core.local().audio_on && d.core.admission() == Admission::In;
                d.core.handle_media(MediaInput::OwnLevel(audio.level), now());
                if on {
                    d.sending.audio(MICROPHONE, &audio).await;
                }
            }
            () = tokio::time::sleep_until(timeout) => d.core.handle_timeout(now()),
            () = sleep_until(second_video_at) => {
                second_video_at = None;
                d.capture.start_second_video(CameraChoice::Synthetic);
                let track = LocalTrack { id: SECOND_VIDEO, kind: MediaKind::Video };
                d.core.command(meeting::Command::Publish(track), now());
            }
            () = sleep_until(share_at) => {
                share_at = None;
                unshare_at = options.share_for.map(|d| Instant::now() + d);
                d.on_command(Command::Share(options.share.clone()));
            }
            () = sleep_until(unshare_at) => {
                unshare_at = None;
                d.on_command(Command::Share(None));
            }
            () = sleep_until(drop_at) => {
                drop_at = None;
                // As a network failure: the connection is gone, without a goodbye.
                d.adapter = None;
                let lost = SfuFailure::Lost("dropped on purpose (a test)".into());
                d.on_adapter(AdapterEvent::Sfu(SfuEvent::Failed(lost))).await;
            }
            () = tokio::time::sleep_until(deadline) => d.core.command(meeting::Command::Leave, now()),
        }
    }
    d.carry_out().await;
    d.disconnect().await;
    d.playback.stop();
    d.publish();
    let stats = lock(&d.shared).clone();
    d.capture.stop();
    if let (Some(dir), Some(keep)) = (&options.keep_share_pictures, &last_share) {
        for (feed, picture) in lock(keep).drain() {
            if let Err(e) = write_pgm(&dir.join(format!("{feed}.pgm")), &picture) {
                tracing::warn!(error = %e, "could not keep a share's last picture");
            }
        }
    }
    stats
}

/// Writes `picture`'s luma as a binary PGM.
fn write_pgm(path: &std::path::Path, picture: &conclave_media::VideoFrame) -> std::io::Result<()> {
    let mut bytes = format!("P5\n{} {}\n255\n", picture.width, picture.height).into_bytes();
    bytes.extend_from_slice(picture.y());
    std::fs::write(path, bytes)
}

impl Driver {
    /// Does what the meeting decided: requests to the SFU, media actions, events to a display.
    async fn carry_out(&mut self) {
        loop {
            let mut any = false;
            while let Some(t) = self.core.poll_transmit() {
                any = true;
                self.transmit(t).await;
            }
            while let Some(a) = self.core.poll_action() {
                any = true;
                self.act(a).await;
            }
            while let Some(e) = self.core.poll_event() {
                any = true;
                if matches!(e, Event::Connection(_) | Event::Ended(_)) {
                    self.publish();
                }
                let _ = self.ui.send(e);
            }
            if !any {
                return;
            }
        }
    }

    async fn transmit(&mut self, t: Transmit) {
        match t {
            Transmit::Sfu(SfuRequest::Connect) => {
                self.disconnect().await;
                self.adapter = Some(Adapter::connect(self.adapter_config.clone()));
            }
            Transmit::Sfu(SfuRequest::Disconnect) => self.disconnect().await,
            Transmit::Sfu(request) => {
                if let Some(a) = &self.adapter {
                    a.request(request);
                }
            }
            Transmit::Control { to, plaintext } => {
                if let (Some(a), Some(bytes)) =
                    (&self.adapter, self.sending.seal_control(&plaintext))
                {
                    a.request(SfuRequest::SendData { to, bytes });
                }
            }
        }
    }

    async fn disconnect(&mut self) {
        if let Some(adapter) = self.adapter.take() {
            adapter.close().await;
        }
        self.receiving.disconnected();
        self.sending.disconnected();
    }

    async fn act(&mut self, action: MediaAction) {
        match action {
            MediaAction::SendKey {
                generation,
                step,
                key,
            } => self.sending.set_key(generation, step, key),
            MediaAction::ReceiveKey {
                participant,
                generation,
                step,
                key,
                signer,
            } => {
                // The key log names the SFU handle, which is what recordings are filed under.
                let handle = self
                    .core
                    .participant(participant)
                    .and_then(|p| p.handle)
                    .map_or(participant.0, |h| h.0);
                self.receiving
                    .add_key(participant, handle, generation, step, key, signer);
            }
            MediaAction::SignFrames => {
                let now = std::time::Instant::now();
                for statement in self.sending.statements(&self.signer) {
                    self.core.handle_media(MediaInput::Signed(statement), now);
                }
            }
            MediaAction::Statement { participant, bytes } => {
                let frames = self.receiving.attest(participant, &bytes);
                if frames > 0 {
                    let now = std::time::Instant::now();
                    self.core.handle_media(
                        MediaInput::Forged {
                            participant,
                            frames,
                        },
                        now,
                    );
                }
            }
            MediaAction::ResetKeys(who) => self.receiving.reset_keys(who),
            MediaAction::RetireKeys { participant, below } => {
                self.receiving.retire(participant, below);
            }
            MediaAction::Bind {
                track,
                participant,
                kind,
            } => self.receiving.bind(track, participant, kind),
            MediaAction::Unbind(track) => self.receiving.unbind(&track),
            MediaAction::Forget(who) => {
                self.receiving.forget(who);
                // Those the meeting no longer lists at all (it keeps a bounded number of
                // departed participants) are dropped here too.
                let core = &self.core;
                self.receiving.retain(|id| core.participant(id).is_some());
            }
            MediaAction::RequestKeyframe(track) => {
                self.sending.sent.keyframe_requests += 1;
                self.receiving.request_keyframe(&track).await;
            }
            MediaAction::SendKeyframe(track) => {
                let flag = if track == SECOND_VIDEO {
                    &self.capture.second_keyframe
                } else {
                    &self.capture.keyframe
                };
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            MediaAction::Camera(on) => self.capture.set_camera_on(on),
            MediaAction::Share(true) => {
                if let Some(target) = self.share_target.clone() {
                    self.capture.start_share(target);
                }
            }
            MediaAction::Share(false) => self.capture.stop_second(),
            MediaAction::VideoRate { track, bps } => {
                tracing::debug!(second = track == SECOND_VIDEO, ?bps, "video rate");
                if track == CAMERA {
                    // 0 while paused or held.
                    self.sending.sent.video_bitrate_bps = bps.unwrap_or(0);
                }
                self.capture.set_video_rate(track == SECOND_VIDEO, bps);
            }
            _ => {}
        }
    }

    async fn on_adapter(&mut self, event: AdapterEvent) {
        let now = std::time::Instant::now();
        match event {
            AdapterEvent::Sfu(SfuEvent::Data { from, bytes }) => {
                let receiving = &self.receiving;
                self.core.handle_data(
                    from,
                    &bytes,
                    |who, wire| receiving.open_control(who, wire),
                    now,
                );
            }
            AdapterEvent::Sfu(event) => {
                match &event {
                    SfuEvent::Link {
                        link: Link::Publish,
                        state,
                    } => self.sending.live = *state == LinkState::Connected,
                    SfuEvent::Failed(SfuFailure::Lost(why)) => {
                        tracing::warn!(error = %why, "connection to the SFU lost; reconnecting");
                    }
                    _ => {}
                }
                self.core.handle_sfu(event, now);
            }
            AdapterEvent::RemoteTrack { track, remote } => self.receiving.attach(track, remote),
            AdapterEvent::LocalTrack { id, sink, ssrc } => self.sending.add_track(id, sink, ssrc),
            AdapterEvent::KeyframeAsked(id) => {
                self.sending.sent.keyframes_asked += 1;
                self.core.handle_media(MediaInput::KeyframeAsked(id), now);
            }
            AdapterEvent::SendEstimate(bps) => {
                tracing::debug!(bps, "send estimate");
                self.sending.sent.estimate_bps = bps;
                self.core.handle_media(MediaInput::SendEstimate(bps), now);
            }
            AdapterEvent::Malformed => self.malformed_signalling += 1,
        }
    }

    fn on_command(&mut self, command: Command) {
        let now = std::time::Instant::now();
        match command {
            Command::SetAudio(on) => self.core.command(meeting::Command::SetAudio(on), now),
            Command::SetVideo(on) => self.core.command(meeting::Command::SetVideo(on), now),
            Command::Devices(change) => {
                self.change_devices(&change);
                let sources = meeting::Command::SetSources {
                    microphone: self.capture.mic_chosen(),
                    camera: self.capture.camera_chosen(),
                };
                self.core.command(sources, now);
            }
            Command::Share(target) => {
                let on = target.is_some();
                if let Some(target) = target {
                    // Another target while sharing: the source changes, the track stays.
                    if self.core.local().sharing && self.share_target.as_ref() != Some(&target) {
                        self.capture.start_share(target.clone());
                    }
                    self.share_target = Some(target);
                }
                self.core.command(meeting::Command::Share(on), now);
            }
            Command::Leave => self.core.command(meeting::Command::Leave, now),
            Command::Meeting(c) => self.core.command(c, now),
        }
    }

    /// Uses the devices `change` asks for (device problems go to where capture reports them).
    fn change_devices(&mut self, change: &DeviceChange) {
        if let Some(camera) = &change.camera {
            self.capture.set_camera(camera);
        }
        if let Some(mic) = &change.mic {
            self.capture.set_mic(mic);
        }
        if let Some(speaker) = &change.speaker {
            self.playback.use_speaker(speaker.clone());
        }
        if let Some(voice) = change.voice {
            self.capture.voice.set(voice);
        }
    }

    /// Brings the shared report up to date.
    fn publish(&self) {
        let device_problems = lock(&self.capture.problems).clone();
        let stats = report(&ReportParts {
            meeting: &self.core,
            remotes: self.receiving.remotes(),
            pseudonym: &self.pseudonym,
            sent: self.sending.sent,
            audio_frames_played: self.playback.frames_played(),
            audio_playback_gaps: self.playback.gaps(),
            audio_playback_skipped: self.playback.skipped(),
            malformed_signalling: self.malformed_signalling,
            device_problems,
            ended: None,
        });
        *lock(&self.shared) = stats;
    }
}

async fn next(adapter: Option<&mut Adapter>) -> AdapterEvent {
    match adapter {
        Some(a) => a.next().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
