//! Headless `conclave join` participants for the real-Janus tests.
// Each test binary uses only some of these helpers.
#![allow(dead_code)]

use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

use super::janus::{JanusNet, WS_URL};

/// The `conclave` binary under test: this build's, or the one `CONCLAVE_BIN_UNDER_TEST` names
/// (to measure another build side by side in one run, as BENCHMARKS.md does).
pub fn conclave() -> String {
    std::env::var("CONCLAVE_BIN_UNDER_TEST")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_conclave").to_owned())
}

pub fn new_link(room: &str) -> String {
    new_link_for(WS_URL, room)
}

/// A link to `room` at another SFU address.
pub fn new_link_for(sfu: &str, room: &str) -> String {
    let out = Command::new(conclave())
        .args(["link", "new", "--sfu", sfu, "--room", room])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The same link with another secret.
pub fn wrong_secret(link: &str) -> String {
    let (head, secret) = link.split_once("#k=").unwrap();
    let flipped = if secret.starts_with('A') { "B" } else { "A" };
    format!("{head}#k={flipped}{}", &secret[1..])
}

pub struct Participant {
    pub name: String,
    child: Child,
    /// Reads its log as it comes: a pipe nobody reads holds 64 KiB, and a participant that
    /// logged more (a debug filter, `RUST_LOG`) stopped mid-meeting on its next line, which
    /// its peers saw as a lost connection.
    log: std::thread::JoinHandle<Vec<u8>>,
    stats: std::path::PathBuf,
}

pub fn spawn(net: &JanusNet, link: &str, name: &str, seconds: u32) -> Participant {
    spawn_with(
        net,
        link,
        name,
        seconds,
        &["--camera", "synthetic", "--mic", "tone"],
    )
}

pub fn spawn_with(
    net: &JanusNet,
    link: &str,
    name: &str,
    seconds: u32,
    args: &[&str],
) -> Participant {
    spawn_command(net.command(conclave()), net, link, name, seconds, args)
}

/// [`spawn_with`] from a prepared command (for an environment of its own).
pub fn spawn_command(
    command: Command,
    net: &JanusNet,
    link: &str,
    name: &str,
    seconds: u32,
    args: &[&str],
) -> Participant {
    let stats = net.dir.join(format!("{name}.json"));
    spawn_command_to(command, link, name, seconds, args, stats)
}

/// [`spawn_command`], its stats written to `stats`.
pub fn spawn_command_to(
    mut command: Command,
    link: &str,
    name: &str,
    seconds: u32,
    args: &[&str],
    stats: std::path::PathBuf,
) -> Participant {
    // A test may choose another picture size (320×240 keeps the others light) and address.
    let resolution = if args.contains(&"--resolution") {
        &[][..]
    } else {
        &["--resolution", "320x240"][..]
    };
    let address = if args.contains(&"--ice-address") {
        &[][..]
    } else {
        &["--ice-address", "127.0.0.2"][..]
    };
    // The link (and its secret) through the environment, never on a command line.
    let mut child = command
        .env("CONCLAVE_LINK", link)
        .args(["join", "--name", name])
        .args(args)
        .args(resolution)
        .args(address)
        .args(["--duration", &format!("{seconds}s"), "--stats-json"])
        .arg(&stats)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut log = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stderr, &mut log);
        log
    });
    Participant {
        name: name.to_owned(),
        child,
        log,
        stats,
    }
}

impl Participant {
    /// [`Participant::finish`] for a participant that must have ended well: its stats.
    pub fn finish_ok(self) -> Value {
        let name = self.name.clone();
        let (stats, out) = self.finish();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stats
    }

    pub fn finish(mut self) -> (Value, Output) {
        let status = self.child.wait().unwrap();
        let out = Output {
            status,
            stdout: Vec::new(),
            stderr: self.log.join().unwrap(),
        };
        let text = std::fs::read_to_string(&self.stats).unwrap_or_else(|_| {
            panic!(
                "{} wrote no stats: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (serde_json::from_str(&text).unwrap(), out)
    }
}

pub fn others(stats: &Value) -> &Vec<Value> {
    stats["participants"].as_array().unwrap()
}
