//! A meeting the caller can steer while it runs: mute, camera off, other devices, leave; a
//! stream of what changes (for a display) and a report of what it sees. The desktop app holds
//! one; `conclave join` holds one for a fixed time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::JoinOptions;
use super::command::{Command, DeviceChange};
use super::run::{self, SharedReport};
use super::stats::{Connection, MeetingStats};

pub use conclave_room::meeting::Event;

/// A meeting's events, as they happen.
pub type EventStream = mpsc::UnboundedReceiver<Event>;

/// Our switches as last set, readable at once (the tray, a shortcut, a button).
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

/// A running meeting.
pub struct Meeting {
    switches: Arc<Switches>,
    commands: mpsc::UnboundedSender<Command>,
    report: SharedReport,
    events: Mutex<Option<EventStream>>,
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
        let (events_tx, events) = mpsc::unbounded_channel();
        let pseudonym = options
            .pseudonym
            .clone()
            .unwrap_or_else(run::random_pseudonym);
        let report = Arc::new(Mutex::new(MeetingStats::starting(
            &pseudonym,
            options.send_audio,
            options.send_video,
        )));
        let task = tokio::spawn(run::run(
            options,
            pseudonym,
            inbox,
            report.clone(),
            events_tx,
        ));
        Meeting {
            switches,
            commands,
            report,
            events: Mutex::new(Some(events)),
            task,
        }
    }

    /// What changes in the meeting, as it happens (once: the first caller gets the stream).
    pub fn take_events(&self) -> Option<EventStream> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Turns the microphone on or off; the others are told at once.
    pub fn set_audio(&self, on: bool) {
        self.switches.audio.store(on, Ordering::Relaxed);
        let _ = self.commands.send(Command::SetAudio(on));
    }

    /// Turns the camera on or off (off closes it); the others are told at once.
    pub fn set_video(&self, on: bool) {
        self.switches.video.store(on, Ordering::Relaxed);
        let _ = self.commands.send(Command::SetVideo(on));
    }

    /// Closes the devices `change` names and opens those it asks for instead, keeping the
    /// others. One that cannot be opened is reported in the meeting's `device_problems`. A
    /// listener who gets a camera or microphone publishes it without rejoining.
    pub fn set_devices(&self, change: DeviceChange) {
        let _ = self.commands.send(Command::Devices(change));
    }

    /// What we send now.
    pub fn switches(&self) -> &Switches {
        &self.switches
    }

    /// Sends a chat message to everyone (`to` = `None`) or privately to one participant. It
    /// comes back as an [`Event::Chat`] once sent, or [`Event::ChatNotSent`].
    pub fn send_chat(&self, to: Option<conclave_room::meeting::ParticipantId>, text: String) {
        let _ = self
            .commands
            .send(Command::Meeting(conclave_room::meeting::Command::Chat {
                to,
                text,
            }));
    }

    /// Goes into the meeting although nobody here proved to hold the room key.
    pub fn go_in(&self) {
        let _ = self
            .commands
            .send(Command::Meeting(conclave_room::meeting::Command::GoIn));
    }

    /// Raises (true) or lowers our hand.
    pub fn raise_hand(&self, up: bool) {
        let _ = self
            .commands
            .send(Command::Meeting(conclave_room::meeting::Command::Hand(up)));
    }

    /// Sends a reaction (one of [`conclave_room::REACTIONS`]).
    pub fn react(&self, emoji: String) {
        let _ = self
            .commands
            .send(Command::Meeting(conclave_room::meeting::Command::React(
                emoji,
            )));
    }

    /// Shares a screen or a window (`Some`), or stops sharing (`None`); the share is a track
    /// of its own, added and removed without rejoining. A source that cannot be captured ends
    /// the share (the report says why in `device_problems`), never the meeting.
    pub fn share(&self, target: Option<conclave_media::ShareTarget>) {
        let _ = self.commands.send(Command::Share(target));
    }

    /// Whether we share a screen or a window now (as of the last report, at most 250 ms old).
    pub fn sharing(&self) -> bool {
        self.report
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .sharing
    }

    /// Asks to leave; [`Meeting::finished`] then returns soon.
    pub fn leave(&self) {
        let _ = self.commands.send(Command::Leave);
    }

    /// Whether the meeting has ended (left, timed out, or refused).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// What we see now (brought up to date a few times a second).
    pub fn snapshot(&self) -> MeetingStats {
        let mut stats = self
            .report
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        // The switches answer at once; the report follows within a moment.
        stats.sending_audio = self.switches.audio();
        stats.sending_video = self.switches.video();
        stats
    }

    /// Waits for the meeting to end and returns the final report.
    pub async fn finished(self) -> MeetingStats {
        let Meeting { report, task, .. } = self;
        match task.await {
            Ok(stats) => stats,
            Err(e) => {
                let mut stats = report
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                stats.connection = Connection::Failed;
                stats.error = Some(format!("the meeting stopped unexpectedly: {e}"));
                stats
            }
        }
    }
}
