//! A PulseAudio daemon of our own with two null sinks, so that `cpal` opens real devices on a
//! machine without a sound card: `conclave_mic` (its monitor is the default source) and
//! `conclave_speaker` (the default sink).
// Each test binary uses only some of these helpers.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The sample rate of recordings and tones.
pub const RATE: u32 = 48_000;

/// A PulseAudio daemon of our own, in its own runtime directory; killed on drop.
pub struct Pulse {
    dir: PathBuf,
    daemon: Child,
}

impl Pulse {
    pub fn start(name: &str) -> Pulse {
        let dir =
            std::env::temp_dir().join(format!("conclave-pulse-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let daemon = daemon(&dir);
        Pulse { dir, daemon }
    }

    /// Kills the daemon and starts it again in the same place, as a sound server restarts
    /// (PipeWire's after an update): every stream and connection ends.
    pub fn restart(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let _ = std::fs::remove_file(self.dir.join("pulse/native"));
        self.daemon = daemon(&self.dir);
    }

    /// Gives `home` this daemon's cookie (`.config/pulse/cookie`), as a desktop session's home
    /// has its sound server's: cpal's PulseAudio host cannot connect without one.
    pub fn cookie_into(&self, home: &Path) {
        let dir = home.join(".config/pulse");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(self.dir.join(".config/pulse/cookie"), dir.join("cookie")).unwrap();
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.daemon.id()
    }

    /// Its socket, as clients find it in `PULSE_SERVER` (`unix:` first, which cpal's PulseAudio
    /// host needs to see the server there; ALSA's pulse plugin takes it too).
    pub fn server(&self) -> String {
        format!("unix:{}", self.dir.join("pulse/native").display())
    }

    /// The environment that points a program at this daemon.
    pub fn env(&self) -> Vec<(&'static str, PathBuf)> {
        env(&self.dir)
    }

    /// Starts recording what is played on the speaker sink (48 kHz mono).
    pub fn record_speaker(&self) -> Recording {
        let mut recorder = self
            .device_command("parec")
            .args([
                "--device=conclave_speaker.monitor",
                "--raw",
                "--format=s16le",
            ])
            .args(["--latency-msec=20", "--rate=48000", "--channels=1"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // Drain the recording as it comes: a full pipe would stall parec.
        let mut out = recorder.stdout.take().unwrap();
        let drain = std::thread::spawn(move || {
            let mut raw = Vec::new();
            let _ = out.read_to_end(&mut raw);
            raw
        });
        Recording { recorder, drain }
    }

    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.envs(env(&self.dir));
        c
    }

    /// [`Pulse::command`] at real-time priority: for the tools that stand in for sound hardware
    /// (which keeps time whatever else the machine does), so that a test on a busy machine
    /// measures Conclave, not a starved `pacat`.
    pub fn device_command(&self, program: &str) -> Command {
        let mut c = Command::new("chrt");
        c.args(["--rr", "5", program]).envs(env(&self.dir));
        c
    }

    pub fn pactl(&self, args: &[&str]) {
        pactl(&self.dir, args);
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts the daemon in `dir` with the two sinks as defaults; waits until it answers.
fn daemon(dir: &Path) -> Child {
    let daemon = Command::new("pulseaudio")
        .args([
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--system=false",
            "--disallow-exit",
            "-n",
            "--load=module-null-sink sink_name=conclave_mic",
            "--load=module-null-sink sink_name=conclave_speaker",
            "--load=module-native-protocol-unix auth-anonymous=1",
        ])
        .envs(env(dir))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pulseaudio is installed (scripts/test installs it)");
    let socket = dir.join("pulse/native");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "PulseAudio did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The daemon stands in for sound hardware, which keeps time whatever else the machine does.
    // Its sinks' threads run at real-time priority, but its main thread, which carries every
    // client's samples between the socket and those threads, is set back to normal priority
    // when it starts: it joins them, as the players do (`Pulse::device_command`).
    let raised = Command::new("chrt")
        .args(["--rr", "--pid", "5", &daemon.id().to_string()])
        .status()
        .expect("chrt is installed");
    assert!(raised.success(), "chrt could not raise the sound server");
    pactl(dir, &["set-default-source", "conclave_mic.monitor"]);
    pactl(dir, &["set-default-sink", "conclave_speaker"]);
    daemon
}

fn pactl(dir: &Path, args: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = Command::new("pactl")
            .args(args)
            .envs(env(dir))
            .status()
            .unwrap();
        if status.success() {
            return;
        }
        assert!(Instant::now() < deadline, "pactl {args:?} failed");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn env(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    vec![
        ("XDG_RUNTIME_DIR", dir.to_owned()),
        ("HOME", dir.to_owned()),
        ("PULSE_SERVER", dir.join("pulse/native")),
    ]
}

/// Power of `hz` in `samples` (Goertzel), normalised by length.
pub fn power_at(samples: &[f32], hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / f64::from(RATE);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / samples.len() as f64
}

/// A recording of the speaker sink in progress.
pub struct Recording {
    recorder: Child,
    drain: JoinHandle<Vec<u8>>,
}

impl Recording {
    /// Stops recording and returns the samples.
    pub fn stop(mut self) -> Vec<f32> {
        // SIGTERM lets parec flush what it holds; SIGKILL would lose it.
        let _ = Command::new("kill")
            .arg(self.recorder.id().to_string())
            .status();
        let _ = self.recorder.wait();
        let raw = self.drain.join().unwrap();
        raw.chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
            .collect()
    }
}
