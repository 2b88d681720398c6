//! A headless Wayland desktop with a working ScreenCast portal (`tests/support/wayland-session`:
//! sway, PipeWire, xdg-desktop-portal and a patched xdg-desktop-portal-wlr, all as `nobody`),
//! and headless participants that share it from inside a test network's namespace.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::janus::JanusNet;
use super::participant::{Participant, conclave, spawn_command_to};

/// `nobody`'s user and group ids (Debian's `nobody` and `nogroup`).
const NOBODY: u32 = 65534;

/// A running desktop, stopped when dropped.
pub struct WaylandDesktop {
    /// What `wayland-session start` printed: the session's environment and facts about it.
    env: Vec<(String, String)>,
    /// The session's folder (its home is `nobody`'s).
    pub dir: PathBuf,
}

fn script() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/wayland-session")
}

impl WaylandDesktop {
    /// Starts one (a 640×480 output); fails the test if it cannot.
    pub fn start() -> WaylandDesktop {
        let out = Command::new(script())
            .arg("start")
            .stderr(Stdio::inherit())
            .output()
            .expect("tests/support/wayland-session runs");
        assert!(out.status.success(), "the Wayland desktop did not start");
        let env: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let dir = env
            .iter()
            .find(|(k, _)| k == "CONCLAVE_WAYLAND_DIR")
            .map(|(_, v)| PathBuf::from(v))
            .expect("wayland-session printed its folder");
        WaylandDesktop { env, dir }
    }

    /// The session's environment (without the facts about it).
    fn session_env(&self) -> impl Iterator<Item = (&str, &str)> {
        self.env
            .iter()
            .filter(|(k, _)| !k.starts_with("CONCLAVE_") && !k.starts_with("WAYLAND_TEST_"))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Runs `swaymsg args` in the session; whether sway did it.
    pub fn swaymsg(&self, args: &[&str]) -> bool {
        self.as_nobody(Command::new("setpriv"), "swaymsg")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    }

    /// Shows `bgrx` (640×480) as the whole screen: the background, with the session's probe
    /// window closed.
    pub fn show(&self, width: usize, height: usize, bgrx: &[u8]) {
        let path = self.dir.join("screen.ppm");
        let mut ppm = format!("P6\n{width} {height}\n255\n").into_bytes();
        for px in bgrx.chunks_exact(4) {
            ppm.extend_from_slice(&[px[2], px[1], px[0]]);
        }
        std::fs::write(&path, ppm).unwrap();
        // The first time only: then it is gone.
        self.swaymsg(&["[app_id=conclave-probe] kill"]);
        let path = path.to_str().unwrap();
        assert!(self.swaymsg(&["output", "HEADLESS-1", "bg", path, "center"]));
        // swaybg draws it on its own time.
        std::thread::sleep(std::time::Duration::from_secs(1));
    }

    /// `command` (a fresh `setpriv`, or one that ends in it) set to run `program` as `nobody`
    /// in the session, with only the session's environment.
    fn as_nobody(&self, mut command: Command, program: impl AsRef<Path>) -> Command {
        command
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(program.as_ref())
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .envs(self.session_env());
        command
    }

    /// A headless participant in `net`'s namespace, running as `nobody` in this desktop's
    /// session (its bus takes only `nobody`'s connections), e.g. sharing with `--share portal`.
    pub fn spawn(
        &self,
        net: &JanusNet,
        link: &str,
        name: &str,
        seconds: u32,
        args: &[&str],
    ) -> Participant {
        // nobody cannot read root's target folder, nor write the test network's: a copy of the
        // client, and a stats file of nobody's own.
        let bin = self.dir.join("bin").join("conclave");
        if !bin.exists() {
            std::fs::copy(conclave(), &bin).unwrap();
        }
        let stats = net.dir.join(format!("{name}.json"));
        std::fs::write(&stats, b"").unwrap();
        std::os::unix::fs::chown(&stats, Some(NOBODY), Some(NOBODY)).unwrap();
        let command = self.as_nobody(net.command("setpriv"), &bin);
        spawn_command_to(command, link, name, seconds, args, stats)
    }
}

impl Drop for WaylandDesktop {
    fn drop(&mut self) {
        let _ = Command::new(script()).arg("stop").arg(&self.dir).status();
    }
}
