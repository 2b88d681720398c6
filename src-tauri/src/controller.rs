//! The one place that starts, steers and ends the meeting. Buttons in the window, the tray menu
//! and the global shortcuts all call these methods, so they cannot disagree.

use std::net::IpAddr;
use std::sync::Mutex;

use std::sync::Arc;

use conclave::client::{JoinOptions, Meeting, MeetingStats, VideoOut};
use conclave::selftest::{CameraChoice, MicChoice, SpeakerChoice};
use conclave_room::JoinLink;

/// What can go wrong when the user acts; the UI shows each as a sentence in their language.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The link does not parse.
    #[error("the link is not a Conclave meeting link: {0}")]
    InvalidLink(#[from] conclave_room::LinkError),
    /// Join was asked while a meeting runs.
    #[error("already in a meeting")]
    AlreadyInMeeting,
    /// No display name.
    #[error("a display name is needed")]
    NoName,
    /// The operating system gave no randomness for our identity key.
    #[error("no randomness for an identity key: {0}")]
    NoRandomness(String),
    /// A device choice the pickers never offer.
    #[error("not a device: {0}")]
    BadDevice(String),
}

impl AppError {
    /// A stable key the UI translates.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::InvalidLink(_) => "invalidLink",
            AppError::AlreadyInMeeting => "alreadyInMeeting",
            AppError::NoName => "noName",
            AppError::NoRandomness(_) => "internal",
            AppError::BadDevice(_) => "badDevice",
        }
    }
}

/// Which devices to use, as the pre-join screen chose them.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DeviceChoice {
    /// "none", "synthetic" or a camera index.
    pub camera: Option<String>,
    /// "none", "synthetic" or a microphone name ("" or absent: the system default).
    pub microphone: Option<String>,
    /// "none" or a speaker name ("" or absent: the system default).
    pub speaker: Option<String>,
    /// Join with the microphone off.
    pub start_muted: bool,
    /// Join with the camera off.
    pub start_camera_off: bool,
    /// The microphone's clean-up, from the settings (not the page's to choose).
    #[serde(skip)]
    pub voice: conclave_media::VoiceSettings,
}

impl DeviceChoice {
    /// The self-test ("test call") on these devices, for `seconds`.
    pub fn self_test_options(&self, seconds: u64) -> Result<conclave::selftest::Options, AppError> {
        let mut options =
            conclave::selftest::Options::synthetic(std::time::Duration::from_secs(seconds));
        options.camera = self.camera()?;
        options.mic = self.microphone();
        options.speaker = self.speaker();
        options.video = conclave_media::VideoFormat {
            width: 640,
            height: 360,
            fps: 30,
        };
        options.video_bitrate_bps = 600_000;
        options.voice = self.voice;
        // You speak, then hear yourself (live, a laptop's speakers would feed it back).
        options.play_back_after = true;
        Ok(options)
    }

    /// The camera chosen (none chosen: the first); one the page cannot have offered is refused.
    fn camera(&self) -> Result<CameraChoice, AppError> {
        self.camera
            .as_deref()
            .map_or(Ok(CameraChoice::Device(0)), CameraChoice::parse)
            .map_err(AppError::BadDevice)
    }

    fn speaker(&self) -> SpeakerChoice {
        SpeakerChoice::parse(self.speaker.as_deref().unwrap_or(""))
    }

    fn microphone(&self) -> MicChoice {
        MicChoice::parse(self.microphone.as_deref().unwrap_or(""))
    }
}

/// A meeting's events, as it runs (empty if they were taken already).
#[derive(Debug)]
pub struct Events(pub Option<conclave::client::EventStream>);

/// What the shell must do after a tray action, beyond what the controller did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Nothing more.
    Nothing,
    /// Bring the window back.
    ShowWindow,
    /// Bring the window back with the share picker open.
    SharePicker,
    /// Quit the app (the meeting was left).
    Exit,
}

/// How media reaches the SFU: the user's STUN/TURN servers, and whether only through a relay.
#[derive(Clone, Debug, Default)]
pub struct Network {
    /// STUN/TURN servers (none: only the SFU is contacted).
    pub ice_servers: Vec<conclave::client::IceServer>,
    /// Media only through a TURN relay among `ice_servers`.
    pub relay_only: bool,
    /// A certificate authority (PEM) to trust for `wss://` besides the system's.
    pub extra_ca: Option<Vec<u8>>,
}

/// The meeting, if one runs, and how to reach the network.
#[derive(Default)]
pub struct Controller {
    meeting: Mutex<Option<Meeting>>,
    /// Local address for media sockets (tests bind to their private network).
    ice_ip: Option<IpAddr>,
    /// Decoded pictures for the video tiles.
    video_out: Arc<VideoOut>,
    /// Encoded pictures, for tiles that decode with WebCodecs.
    encoded_out: Arc<conclave::client::EncodedOut>,
    /// The push-to-talk key turned the microphone on, and its release turns it off again.
    talking: std::sync::atomic::AtomicBool,
    /// The pre-join camera preview and microphone meter, while that screen shows.
    preview: Mutex<Option<conclave::client::Preview>>,
    /// How the running meeting was joined, for a page that reloads.
    joined: Mutex<Option<Joined>>,
}

/// How a meeting was joined: what a reloaded page needs to show it again.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Joined {
    /// The link (for the invitation).
    pub link: String,
    /// Whether the page decodes the video (WebCodecs) or gets pictures.
    pub page_decodes: bool,
    /// The camera, microphone and speaker chosen, as the page named them.
    pub camera: Option<String>,
    /// See `camera`.
    pub microphone: Option<String>,
    /// See `camera`.
    pub speaker: Option<String>,
}

impl Controller {
    /// A controller that binds media sockets to `ice_ip` when given.
    pub fn new(ice_ip: Option<IpAddr>) -> Controller {
        Controller {
            meeting: Mutex::default(),
            ice_ip,
            video_out: Arc::default(),
            encoded_out: Arc::default(),
            talking: Default::default(),
            preview: Mutex::default(),
            joined: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Meeting>> {
        self.meeting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Checks a link without joining (the pre-join screen validates as the user types).
    pub fn check_link(link: &str) -> Result<JoinLink, AppError> {
        Ok(JoinLink::parse(link)?)
    }

    /// Joins; returns the meeting's events (for the page). Must run inside the async runtime
    /// (the meeting is a task on it).
    pub fn join(
        &self,
        link: &str,
        name: &str,
        devices: &DeviceChoice,
        network: Network,
        kept_identity: Option<conclave_group::Identity>,
        page_decodes: bool,
    ) -> Result<Events, AppError> {
        let text = link.to_owned();
        let link = Self::check_link(link)?;
        let name = name.trim();
        if name.is_empty() {
            return Err(AppError::NoName);
        }
        let mut slot = self.lock();
        if slot.as_ref().is_some_and(|m| !m.is_finished()) {
            return Err(AppError::AlreadyInMeeting);
        }
        // A fresh identity per meeting (nothing about it outlives the call), unless the user
        // keeps one.
        let identity = match kept_identity {
            Some(kept) => kept,
            None => conclave_group::Identity::generate()
                .map_err(|e| AppError::NoRandomness(e.to_string()))?,
        };
        // The meeting opens the devices itself.
        self.stop_preview();
        let mut options = JoinOptions::new(link, name.to_owned(), identity);
        options.camera = devices.camera()?;
        options.mic = devices.microphone();
        options.speaker = devices.speaker();
        options.voice = devices.voice;
        options.send_audio = !devices.start_muted;
        options.send_video = !devices.start_camera_off;
        options.ice_ip = self.ice_ip;
        options.ice_servers = network.ice_servers;
        options.relay_only = network.relay_only;
        options.extra_ca = network.extra_ca;
        // The page decodes video itself (WebCodecs) where it can: far cheaper than decoding here
        // and handing it raw pictures (BENCHMARKS.md).
        self.video_out.clear();
        self.encoded_out.clear();
        if page_decodes {
            options.encoded_out = Some(self.encoded_out.clone());
        } else {
            options.video_out = Some(self.video_out.clone());
        }
        // Our own picture, small, as the raw-picture tiles get theirs (like the preview's).
        options.self_view = Some(self.video_out.clone());
        let meeting = Meeting::start(options);
        let events = meeting.take_events();
        *slot = Some(meeting);
        *self
            .joined
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Joined {
            link: text,
            page_decodes,
            camera: devices.camera.clone(),
            microphone: devices.microphone.clone(),
            speaker: devices.speaker.clone(),
        });
        Ok(Events(events))
    }

    /// Leaves the meeting, if any. The final state stays readable until the next join.
    pub fn leave(&self) {
        if let Some(m) = self.lock().as_ref() {
            m.leave();
        }
    }

    /// How the running meeting was joined (`None` outside one).
    pub fn joined(&self) -> Option<Joined> {
        if !self.in_meeting() {
            return None;
        }
        self.joined
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Whether a meeting is running.
    pub fn in_meeting(&self) -> bool {
        self.lock().as_ref().is_some_and(|m| !m.is_finished())
    }

    /// Shares `target` (`screen`, `window:<title>`), or stops sharing (`None`); false outside
    /// a meeting or for a target that is not one.
    pub fn share(&self, target: Option<&str>) -> bool {
        let target = match target.map(conclave_media::ShareTarget::parse) {
            Some(Ok(t)) => Some(t),
            Some(Err(_)) => return false,
            None => None,
        };
        let slot = self.lock();
        let Some(m) = slot.as_ref().filter(|m| !m.is_finished()) else {
            return false;
        };
        m.share(target);
        true
    }

    /// Whether we share a screen or a window in a running meeting.
    pub fn sharing(&self) -> bool {
        self.lock()
            .as_ref()
            .is_some_and(|m| !m.is_finished() && m.sharing())
    }

    /// Sets the microphone; returns the new state, or `None` outside a meeting.
    pub fn set_audio(&self, on: bool) -> Option<bool> {
        let slot = self.lock();
        let m = slot.as_ref().filter(|m| !m.is_finished())?;
        m.set_audio(on);
        Some(on)
    }

    /// Sends a chat message to everyone, or privately to the participant `to` (`p3`); false
    /// outside a meeting or for an unknown participant. What happened comes back as an event.
    pub fn chat(&self, to: Option<&str>, text: String) -> bool {
        let to = match to {
            None => None,
            Some(id) => match id.strip_prefix('p').and_then(|n| n.parse().ok()) {
                Some(n) => Some(conclave_room::meeting::ParticipantId(n)),
                None => return false,
            },
        };
        let slot = self.lock();
        let Some(m) = slot.as_ref().filter(|m| !m.is_finished()) else {
            return false;
        };
        m.send_chat(to, text);
        true
    }

    /// Goes in although nobody here shares the link's room key; false outside a meeting.
    pub fn go_in(&self) -> bool {
        let slot = self.lock();
        let Some(m) = slot.as_ref().filter(|m| !m.is_finished()) else {
            return false;
        };
        m.go_in();
        true
    }

    /// Raises or lowers our hand; false outside a meeting.
    pub fn raise_hand(&self, up: bool) -> bool {
        let slot = self.lock();
        let Some(m) = slot.as_ref().filter(|m| !m.is_finished()) else {
            return false;
        };
        m.raise_hand(up);
        true
    }

    /// Sends a reaction; false outside a meeting.
    pub fn react(&self, emoji: String) -> bool {
        let slot = self.lock();
        let Some(m) = slot.as_ref().filter(|m| !m.is_finished()) else {
            return false;
        };
        m.react(emoji);
        true
    }

    /// Sets the camera; returns the new state, or `None` outside a meeting.
    pub fn set_video(&self, on: bool) -> Option<bool> {
        let slot = self.lock();
        let m = slot.as_ref().filter(|m| !m.is_finished())?;
        m.set_video(on);
        Some(on)
    }

    /// Uses other devices in the running meeting: each of `devices`' camera, microphone and
    /// speaker that is set replaces the one in use. Returns whether a meeting was running.
    pub fn set_devices(&self, devices: &DeviceChoice) -> Result<bool, AppError> {
        let camera = match devices.camera {
            Some(_) => Some(devices.camera()?),
            None => None,
        };
        let slot = self.lock();
        let Some(m) = slot.as_ref().filter(|m| !m.is_finished()) else {
            return Ok(false);
        };
        m.set_devices(conclave::client::DeviceChange {
            camera,
            mic: devices.microphone.is_some().then(|| devices.microphone()),
            speaker: devices.speaker.is_some().then(|| devices.speaker()),
            voice: None,
        });
        Ok(true)
    }

    /// Cleans up the microphone as `voice` says from now on, if a meeting is running.
    pub fn set_voice(&self, voice: conclave_media::VoiceSettings) {
        if let Some(m) = self.lock().as_ref().filter(|m| !m.is_finished()) {
            m.set_devices(conclave::client::DeviceChange {
                voice: Some(voice),
                ..Default::default()
            });
        }
    }

    /// Flips the microphone (tray, shortcut).
    pub fn toggle_audio(&self) -> Option<bool> {
        let on = self.lock().as_ref()?.switches().audio();
        self.set_audio(!on)
    }

    /// Flips the camera (tray).
    pub fn toggle_video(&self) -> Option<bool> {
        let on = self.lock().as_ref()?.switches().video();
        self.set_video(!on)
    }

    /// A tray menu item was chosen (by its id).
    pub fn tray(&self, item: &str) -> Effect {
        match item {
            "microphone" => {
                self.toggle_audio();
            }
            "camera" => {
                self.toggle_video();
            }
            "show" => return Effect::ShowWindow,
            "leave" => self.leave(),
            // Share from the tray: the picker is in the window; stop at once.
            "share" if self.sharing() => {
                self.share(None);
            }
            "share" if self.in_meeting() => return Effect::SharePicker,
            "quit" => {
                self.leave();
                return Effect::Exit;
            }
            _ => {}
        }
        Effect::Nothing
    }

    /// The push-to-talk key went down or up: talk while it is held, if muted when pressed.
    pub fn push_to_talk(&self, pressed: bool) {
        use std::sync::atomic::Ordering;
        if pressed {
            if matches!(self.switches(), Some((false, _))) {
                self.talking.store(true, Ordering::Relaxed);
                self.set_audio(true);
            }
        } else if self.talking.swap(false, Ordering::Relaxed) {
            self.set_audio(false);
        }
    }

    /// (microphone on, camera on), or `None` outside a meeting.
    pub fn switches(&self) -> Option<(bool, bool)> {
        let slot = self.lock();
        let m = slot.as_ref().filter(|m| !m.is_finished())?;
        Some((m.switches().audio(), m.switches().video()))
    }

    /// Starts (or restarts, with other devices) the pre-join preview; returns what failed.
    pub fn start_preview(
        &self,
        devices: &DeviceChoice,
    ) -> Result<Vec<conclave::client::DeviceProblem>, AppError> {
        self.stop_preview();
        if self.in_meeting() {
            return Ok(Vec::new());
        }
        let preview = conclave::client::Preview::start(
            &devices.self_test_options(0)?,
            self.video_out.clone(),
        );
        let warnings = preview.warnings.clone();
        *self
            .preview
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(preview);
        Ok(warnings)
    }

    /// Stops the preview, closing its devices.
    pub fn stop_preview(&self) {
        let preview = self
            .preview
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(p) = preview {
            p.stop();
        }
    }

    /// The preview microphone's level, 0–1 (0 without a preview).
    pub fn preview_level(&self) -> f32 {
        self.preview
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map_or(0.0, conclave::client::Preview::level)
    }

    /// The video tiles' pictures.
    pub fn video_out(&self) -> &Arc<VideoOut> {
        &self.video_out
    }

    /// Encoded pictures for the video tiles that decode themselves.
    pub fn encoded_out(&self) -> &Arc<conclave::client::EncodedOut> {
        &self.encoded_out
    }

    /// What the meeting screen shows; `None` before the first join.
    pub fn state(&self) -> Option<MeetingStats> {
        self.lock().as_ref().map(Meeting::snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devices() -> DeviceChoice {
        DeviceChoice {
            camera: Some("none".into()),
            microphone: Some("none".into()),
            speaker: Some("none".into()),
            start_muted: true,
            start_camera_off: false,
            voice: conclave_media::VoiceSettings::ON,
        }
    }

    /// A meeting whose server does not answer (nothing listens on port 9): it keeps retrying,
    /// which is all the switches need.
    const LINK: &str = "conclave://join?sfu=ws%3A%2F%2F127.0.0.1%3A9&room=r\
                        #k=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    /// The meeting's device problems once `done` holds for them (or after 2 s).
    async fn problems_when(
        c: &Controller,
        done: impl Fn(&[conclave::client::DeviceProblem]) -> bool,
    ) -> Vec<conclave::client::DeviceProblem> {
        for _ in 0..100 {
            let problems = c.state().unwrap().device_problems;
            if done(&problems) {
                return problems;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        c.state().unwrap().device_problems
    }

    #[tokio::test]
    async fn devices_are_replaced_during_a_meeting() {
        let c = Controller::new(None);
        let camera = |id: &str| DeviceChoice {
            camera: Some(id.into()),
            ..DeviceChoice::default()
        };
        assert!(!c.set_devices(&camera("synthetic")).unwrap(), "no meeting");
        c.join(LINK, "Alice", &devices(), Network::default(), None, false)
            .unwrap();
        // A camera that is not there: the meeting says so.
        // A camera id the pickers never offer is refused (it opened the first camera once).
        assert!(matches!(
            c.set_devices(&camera("front")),
            Err(AppError::BadDevice(_))
        ));
        assert!(c.set_devices(&camera("99")).unwrap());
        let problems = problems_when(&c, |p| !p.is_empty()).await;
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].device, conclave::client::Device::Camera);
        assert_eq!(problems[0].problem, conclave::client::Problem::NotFound);
        // Another choice replaces it, and what was said about it goes.
        assert!(c.set_devices(&camera("none")).unwrap());
        assert_eq!(problems_when(&c, <[_]>::is_empty).await, []);
        c.leave();
    }

    #[tokio::test]
    async fn tray_and_shortcuts_steer_the_meeting_like_the_window() {
        let c = Controller::new(None);
        assert_eq!(c.tray("microphone"), Effect::Nothing);
        assert_eq!(c.switches(), None, "no meeting: nothing to switch");
        assert!(matches!(
            c.join(
                "not a link",
                "A",
                &devices(),
                Network::default(),
                None,
                false
            ),
            Err(AppError::InvalidLink(_))
        ));
        assert!(matches!(
            c.join(LINK, "  ", &devices(), Network::default(), None, false),
            Err(AppError::NoName)
        ));
        c.join(LINK, "Alice", &devices(), Network::default(), None, false)
            .unwrap();
        assert!(matches!(
            c.join(LINK, "Alice", &devices(), Network::default(), None, false),
            Err(AppError::AlreadyInMeeting)
        ));
        assert_eq!(c.switches(), Some((false, true)), "joined muted");

        assert_eq!(c.tray("microphone"), Effect::Nothing);
        assert_eq!(c.switches(), Some((true, true)));
        c.tray("camera");
        assert_eq!(c.switches(), Some((true, false)));
        assert_eq!(c.toggle_audio(), Some(false));

        // Push to talk: on while held, off again on release.
        c.push_to_talk(true);
        assert_eq!(c.switches(), Some((true, false)));
        c.push_to_talk(false);
        assert_eq!(c.switches(), Some((false, false)));
        // Held while already talking: the release leaves the microphone on.
        c.set_audio(true);
        c.push_to_talk(true);
        c.push_to_talk(false);
        assert_eq!(c.switches(), Some((true, false)));

        // The meeting state says the same.
        let state = c.state().unwrap();
        assert!(state.sending_audio && !state.sending_video);

        assert_eq!(c.tray("show"), Effect::ShowWindow);
        assert_eq!(c.tray("quit"), Effect::Exit);
        for _ in 0..100 {
            if !c.in_meeting() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(!c.in_meeting(), "quitting leaves the meeting");
        assert_eq!(c.switches(), None);
    }
}
