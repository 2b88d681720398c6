//! What whoever holds a meeting asks of it while it runs.

use crate::selftest::{CameraChoice, MicChoice, SpeakerChoice};

/// Devices to use from now on during a meeting; `None` keeps that one as it is.
#[derive(Clone, Debug, Default)]
pub struct DeviceChange {
    /// The camera.
    pub camera: Option<CameraChoice>,
    /// The microphone.
    pub mic: Option<MicChoice>,
    /// The speaker.
    pub speaker: Option<SpeakerChoice>,
    /// The microphone's clean-up.
    pub voice: Option<conclave_media::VoiceSettings>,
}

/// What the driver is asked to do.
#[derive(Clone, Debug)]
pub(crate) enum Command {
    /// Microphone on or off.
    SetAudio(bool),
    /// Camera on or off.
    SetVideo(bool),
    /// Use other devices.
    Devices(DeviceChange),
    /// Share this screen or window (`Some`), or stop sharing (`None`).
    Share(Option<conclave_media::ShareTarget>),
    /// Leave the room now.
    Leave,
    /// Chat, hands, reactions: passed to the meeting as they are.
    Meeting(conclave_room::meeting::Command),
}
