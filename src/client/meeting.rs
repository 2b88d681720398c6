//! A meeting the caller can steer while it runs: mute, camera off, leave, and a live view of what
//! the participant sees. The desktop app holds one; `conclave join` holds one for a fixed time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::mpsc;

use super::run::{self, SharedTally};
use super::{JoinOptions, MeetingStats};
use crate::selftest::{CameraChoice, MicChoice, SpeakerChoice};

/// What we send, switchable during the meeting (the tray, a shortcut, a button).
#[derive(Debug)]
pub struct Switches {
    audio: AtomicBool,
    video: AtomicBool,
}

impl Switches {
    /// Whether the microphone is on.
    pub fn audio(&self) -> bool {
        self.audio.load(Ordering::Relaxed)
    }

    /// Whether the camera is on.
    pub fn video(&self) -> bool {
        self.video.load(Ordering::Relaxed)
    }
}

/// Devices to use from now on during a meeting; `None` keeps that one as it is.
#[derive(Clone, Debug, Default)]
pub struct DeviceChange {
    /// The camera.
    pub camera: Option<CameraChoice>,
    /// The microphone.
    pub mic: Option<MicChoice>,
    /// The speaker.
    pub speaker: Option<SpeakerChoice>,
}

/// What the meeting loop is asked to do.
#[derive(Clone, Debug)]
pub(crate) enum Command {
    /// A switch changed: tell the others at once, and start the encoder afresh if needed.
    SwitchesChanged,
    /// Use other devices.
    Devices(DeviceChange),
    /// Leave the room now.
    Leave,
}

/// A running meeting.
pub struct Meeting {
    switches: Arc<Switches>,
    commands: mpsc::UnboundedSender<Command>,
    tally: SharedTally,
    pseudonym: String,
    task: tokio::task::JoinHandle<MeetingStats>,
}

impl Meeting {
    /// Joins on the current tokio runtime; the meeting runs until [`Meeting::leave`] or until
    /// `options.duration` is over.
    pub fn start(options: JoinOptions) -> Meeting {
        let switches = Arc::new(Switches {
            audio: AtomicBool::new(options.send_audio),
            video: AtomicBool::new(options.send_video),
        });
        let (commands, inbox) = mpsc::unbounded_channel();
        let tally = SharedTally::default();
        let pseudonym = run::random_pseudonym();
        let task = tokio::spawn(run::run(
            options,
            pseudonym.clone(),
            switches.clone(),
            inbox,
            tally.clone(),
        ));
        Meeting {
            switches,
            commands,
            tally,
            pseudonym,
            task,
        }
    }

    /// Turns the microphone on or off; the others are told at once.
    pub fn set_audio(&self, on: bool) {
        self.switches.audio.store(on, Ordering::Relaxed);
        let _ = self.commands.send(Command::SwitchesChanged);
    }

    /// Turns the camera on or off; the others are told at once.
    pub fn set_video(&self, on: bool) {
        self.switches.video.store(on, Ordering::Relaxed);
        let _ = self.commands.send(Command::SwitchesChanged);
    }

    /// Closes the devices `change` names and opens those it asks for instead, keeping the
    /// others. One that cannot be opened is reported in the meeting's `device_problems`. A
    /// listener who gets a camera or microphone rejoins the room to publish them (a moment's
    /// gap in what it receives).
    pub fn set_devices(&self, change: DeviceChange) {
        let _ = self.commands.send(Command::Devices(change));
    }

    /// What we send now.
    pub fn switches(&self) -> &Switches {
        &self.switches
    }

    /// Asks to leave; [`Meeting::finished`] then returns soon.
    pub fn leave(&self) {
        let _ = self.commands.send(Command::Leave);
    }

    /// Whether the meeting has ended (left, timed out, or refused).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// What we see now.
    pub fn snapshot(&self) -> MeetingStats {
        run::lock(&self.tally).report(&self.pseudonym, &self.switches)
    }

    /// Waits for the meeting to end and returns the final report.
    pub async fn finished(self) -> MeetingStats {
        let Meeting {
            switches,
            tally,
            pseudonym,
            task,
            ..
        } = self;
        match task.await {
            Ok(stats) => stats,
            Err(e) => {
                let mut stats = run::lock(&tally).report(&pseudonym, &switches);
                stats.error = Some(format!("the meeting stopped unexpectedly: {e}"));
                stats
            }
        }
    }
}
