//! A desktop for the app inside the test's private network: an X server (Xvfb), a D-Bus session
//! bus, and `tauri-driver` (with WebKitWebDriver) that starts the real app window. The test thread
//! joins that network so that it reaches the driver on the namespace's own 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::janus::JanusNet;
use crate::pulse::Pulse;

pub const DRIVER_PORT: u16 = 4444;

pub struct Desktop {
    pub display: String,
    pub bus: String,
    /// The app's HOME: its config, data and cache directories live here.
    pub home: PathBuf,
    /// The app's runtime and temporary files (the tray icon's image among them): its own, since
    /// the tests' apps run side by side.
    pub tmp: PathBuf,
    /// The machine's sound server: a private PulseAudio whose default speaker and microphone are
    /// null sinks (what the app plays can be recorded from `conclave_speaker.monitor`).
    pub sound: Pulse,
    /// More environment for the app.
    extra_env: Vec<(String, String)>,
    children: Vec<Child>,
}

/// Polls `ready` until it holds, failing the test after `within`.
pub fn wait_until(what: &str, within: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Desktop {
    /// Starts the desktop in `net`'s namespace and moves the calling thread into it.
    pub fn start(net: &JanusNet) -> Desktop {
        Desktop::start_with_env(net, &[])
    }

    /// Like [`Desktop::start`], with more environment for the app.
    pub fn start_with_env(net: &JanusNet, extra_env: &[(&str, &str)]) -> Desktop {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let number = 100 + (std::process::id() * 8 + n) % 4000;
        let display = format!(":{number}");
        let home = net.dir.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let tmp = net.dir.join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let mut children = Vec::new();

        let xvfb = net
            .command("Xvfb")
            .args([&display, "-screen", "0", "1280x900x24", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb is installed (scripts/test installs it)");
        children.push(xvfb);
        let socket = PathBuf::from(format!("/tmp/.X11-unix/X{number}"));
        wait_until("Xvfb", Duration::from_secs(10), || socket.exists());

        let (dbus, bus) = super::bus::session_bus(&net.dir);
        children.push(dbus);

        let log = std::fs::File::create(net.dir.join("tauri-driver.log")).unwrap();
        let mut driver = net.command("tauri-driver");
        driver
            .args(["--port", &DRIVER_PORT.to_string()])
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let sound = Pulse::start(&format!("desktop{number}"));
        sound.cookie_into(&home);
        let desktop = Desktop {
            display,
            bus,
            home,
            tmp,
            sound,
            extra_env: extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            children,
        };
        desktop.app_env(&mut driver);
        let driver = driver
            .spawn()
            .expect("tauri-driver is installed (scripts/test installs it)");
        let mut desktop = desktop;
        desktop.children.push(driver);
        enter_namespace(&net.ns);
        desktop
    }

    /// The environment the app runs in (tauri-driver passes it on to the app).
    pub fn app_env(&self, command: &mut Command) {
        command
            .env("DISPLAY", &self.display)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            .env("HOME", &self.home)
            .env("TMPDIR", &self.tmp)
            .env("XDG_RUNTIME_DIR", &self.tmp)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_DATA_HOME")
            .env_remove("XDG_CACHE_HOME")
            .env("CONCLAVE_ICE_ADDRESS", "127.0.0.2")
            .env("PULSE_SERVER", self.sound.server())
            .env("CONCLAVE_SYNTHETIC_DEVICES", "1")
            // No accessibility bus: its activation in a bare D-Bus session can stall the app's
            // main loop for the D-Bus timeout (25 s), and with it a second instance's hand-over.
            .env("NO_AT_BRIDGE", "1")
            .env("GTK_A11Y", "none")
            // Software rendering: Xvfb has no GPU.
            .env("LIBGL_ALWAYS_SOFTWARE", "1")
            .env("WEBKIT_DISABLE_DMABUF_RENDERER", "1")
            .envs(self.extra_env.iter().map(|(k, v)| (k, v)));
    }

    /// Runs `xdotool args` against this desktop's X server: keys as a user's keyboard types them
    /// (XTEST), windows found and changed.
    /// What is on the X clipboard (as another application pasting would get it).
    pub fn clipboard(&self) -> String {
        let out = Command::new("xclip")
            .args(["-o", "-selection", "clipboard"])
            .env("DISPLAY", &self.display)
            .output()
            .expect("xclip is installed (scripts/test installs it)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits for a window whose name matches `name` (a regular expression) and gives it the
    /// keyboard focus; its id.
    pub fn focus_window(&self, name: &str, within: Duration) -> String {
        let mut id = String::new();
        wait_until(&format!("a window named {name:?}"), within, || {
            let out = Command::new("xdotool")
                .args(["search", "--onlyvisible", "--name", name])
                .env("DISPLAY", &self.display)
                .output()
                .expect("xdotool is installed (scripts/test installs it)");
            id = String::from_utf8_lossy(&out.stdout)
                .lines()
                .last()
                .unwrap_or_default()
                .to_owned();
            !id.is_empty()
        });
        self.xdotool(&["windowfocus", "--sync", &id]);
        id
    }

    pub fn xdotool(&self, args: &[&str]) {
        let status = Command::new("xdotool")
            .args(args)
            .env("DISPLAY", &self.display)
            .status()
            .expect("xdotool is installed (scripts/test installs it)");
        assert!(status.success(), "xdotool {args:?}");
    }

    /// Hides the app's window as closing it to the tray does; here by unmapping it through the
    /// X server, which has no window manager to ask.
    pub fn hide_app_window(&self) {
        self.xdotool(&[
            "search",
            "--sync",
            "--name",
            "^Conclave$",
            "windowunmap",
            "--sync",
        ]);
    }

    /// Makes the app's window `width`×`height` (through the X server: there is no window
    /// manager), as a user dragging its corner would.
    pub fn resize_app_window(&self, width: u32, height: u32) {
        self.xdotool(&[
            "search",
            "--sync",
            "--name",
            "^Conclave$",
            "windowsize",
            "--sync",
            &width.to_string(),
            &height.to_string(),
        ]);
    }

    /// Where screenshots go: a folder next to the build output, named by the test.
    pub fn screenshot_dir(test: &str) -> PathBuf {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("screenshots")
            .join(test);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        for c in self.children.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Moves this thread into network namespace `ns` (only this thread: tests run one per thread).
fn enter_namespace(ns: &str) {
    let file = std::fs::File::open(format!("/var/run/netns/{ns}")).expect("the test's namespace");
    nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns (needs root)");
}
