//! Sharing through the xdg-desktop-portal ScreenCast portal and PipeWire, on a real headless
//! Wayland desktop (`tests/support/wayland-session`: sway, PipeWire, xdg-desktop-portal and a
//! patched xdg-desktop-portal-wlr, all as user `nobody`). The desktop shows a known picture; the
//! share must show it in the right colours at the output's size, keep delivering on a still
//! screen, show a change, and end with an error (not hang) when the portal's stream goes away.
//! `CONCLAVE_NO_WAYLAND=1` skips the desktop (where it cannot run); otherwise a desktop that
//! cannot be started fails the test.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use conclave_media::{DeviceError, ShareTarget, VideoFrame};

/// A running desktop, stopped when dropped.
struct WaylandSession {
    script: String,
    /// What `wayland-session start` printed: the session's environment and facts about it.
    env: Vec<(String, String)>,
}

impl WaylandSession {
    /// A desktop whose portal runs `xdpw` instead of the patched xdg-desktop-portal-wlr.
    fn start(xdpw: Option<&str>) -> WaylandSession {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/support/wayland-session"
        );
        let out = Command::new(script)
            .arg("start")
            .envs(xdpw.map(|x| ("CONCLAVE_XDPW", x)))
            .stderr(Stdio::inherit())
            .output()
            .expect("tests/support/wayland-session runs");
        assert!(
            out.status.success(),
            "the Wayland desktop did not start (CONCLAVE_NO_WAYLAND=1 skips this test)"
        );
        let env = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        WaylandSession {
            script: script.to_owned(),
            env,
        }
    }

    /// The end of each of the desktop's logs (sway, PipeWire, the portals), for a failure.
    fn logs(&self) -> String {
        let dir = Path::new(self.get("CONCLAVE_WAYLAND_DIR")).join("logs");
        let mut logs = String::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            logs += &format!("--- {}\n", entry.file_name().to_string_lossy());
            for line in &lines[lines.len().saturating_sub(15)..] {
                logs += &format!("{line}\n");
            }
        }
        logs
    }

    fn get(&self, key: &str) -> &str {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("wayland-session printed no {key}"))
    }
}

impl Drop for WaylandSession {
    fn drop(&mut self) {
        let _ = Command::new(&self.script)
            .args(["stop", self.get("CONCLAVE_WAYLAND_DIR")])
            .status();
    }
}

/// Runs the ignored test `name` of this binary in a process of its own with only `env` (and
/// `PATH`), as `nobody` if `as_nobody`; its output, or why it failed, after at most `limit`.
fn run_child(
    name: &str,
    env: &[(String, String)],
    as_nobody: Option<&Path>,
    limit: Duration,
) -> Result<String, String> {
    let exe = std::env::current_exe().unwrap();
    let mut command = match as_nobody {
        // nobody cannot read root's target directory: it runs a copy.
        Some(dir) => {
            let copy = dir.join("portal_share-test");
            std::fs::copy(&exe, &copy).unwrap();
            let mut c = Command::new("setpriv");
            c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
                .arg(copy);
            c
        }
        None => Command::new(exe),
    };
    let mut child = command
        .args([
            "--exact",
            name,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("RUST_BACKTRACE", "1")
        .env("CONCLAVE_TEST_CHILD", "1")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut report = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut report)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut report)
        .unwrap();
    match status {
        Some(status) if status.success() && report.contains("1 passed") => Ok(report),
        Some(status) => Err(format!("{name} failed ({status}):\n{report}")),
        None => Err(format!("{name} hung (killed after {limit:?}):\n{report}")),
    }
}

#[test]
fn the_portal_shares_what_the_wayland_desktop_shows() {
    if std::env::var("CONCLAVE_NO_WAYLAND").as_deref() == Ok("1") {
        eprintln!("skipped: CONCLAVE_NO_WAYLAND=1 (no headless Wayland desktop for the portal)");
        return;
    }
    let session = WaylandSession::start(None);
    let dir = Path::new(session.get("CONCLAVE_WAYLAND_DIR")).join("bin");
    let started = Instant::now();
    match run_child(
        "shares_in_the_wayland_session",
        &session.env,
        Some(&dir),
        Duration::from_secs(120),
    ) {
        Ok(report) => eprintln!("{report}\nshared in {:?}", started.elapsed()),
        Err(failed) => panic!("{failed}\nThe desktop's logs:\n{}", session.logs()),
    }
}

#[test]
fn a_portal_that_refuses_ends_the_share_with_a_message() {
    if std::env::var("CONCLAVE_NO_WAYLAND").as_deref() == Ok("1") {
        eprintln!("skipped: CONCLAVE_NO_WAYLAND=1 (no headless Wayland desktop for the portal)");
        return;
    }
    // Debian's own xdg-desktop-portal-wlr 0.7.0 answers Start with 2 on this desktop (it wants
    // a DMA-BUF format that pixman does not offer): a refusal as a real portal gives it.
    let session = WaylandSession::start(Some("/usr/libexec/xdg-desktop-portal-wlr"));
    let dir = Path::new(session.get("CONCLAVE_WAYLAND_DIR")).join("bin");
    if let Err(failed) = run_child(
        "is_refused_in_the_wayland_session",
        &session.env,
        Some(&dir),
        Duration::from_secs(60),
    ) {
        panic!("{failed}\nThe desktop's logs:\n{}", session.logs());
    }
}

#[test]
#[ignore = "run by a_portal_that_refuses_ends_the_share_with_a_message, as nobody"]
fn is_refused_in_the_wayland_session() {
    if std::env::var_os("CONCLAVE_TEST_CHILD").is_none() {
        return;
    }
    let Err(e) = ShareTarget::Portal.open() else {
        panic!("Debian's xdg-desktop-portal-wlr shared on a pixman desktop");
    };
    assert!(
        matches!(e, DeviceError::Open { kind: "screen", .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("refused to share"), "{e}");
}

#[test]
fn without_a_portal_the_share_fails_at_once() {
    // A session bus that is not there, and one where nothing provides the portal: what a
    // desktop without D-Bus, or without xdg-desktop-portal, looks like to the share.
    let dir = std::env::temp_dir().join(format!("conclave-no-portal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("bus.conf");
    let socket = dir.join("bus");
    std::fs::write(
        &config,
        format!(
            "<busconfig><type>session</type><listen>unix:path={}</listen>\
             <auth>EXTERNAL</auth><policy context=\"default\"><allow send_destination=\"*\"/>\
             <allow receive_sender=\"*\"/><allow own=\"*\"/></policy></busconfig>",
            socket.display()
        ),
    )
    .unwrap();
    let mut bus = Command::new("dbus-daemon")
        .arg(format!("--config-file={}", config.display()))
        .args(["--nofork", "--nopidfile"])
        .stderr(Stdio::null())
        .spawn()
        .expect("dbus-daemon runs");
    let started = Instant::now();
    while !socket.exists() && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut failures = Vec::new();
    for address in [
        "unix:path=/nonexistent/conclave-test-bus".to_owned(),
        format!("unix:path={}", socket.display()),
    ] {
        let env = [
            ("XDG_SESSION_TYPE".to_owned(), "wayland".to_owned()),
            ("DBUS_SESSION_BUS_ADDRESS".to_owned(), address.clone()),
        ];
        if let Err(failed) = run_child(
            "fails_without_a_portal",
            &env,
            None,
            Duration::from_secs(30),
        ) {
            failures.push(format!("on {address}: {failed}"));
        }
    }
    let _ = bus.kill();
    let _ = bus.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
#[ignore = "run by without_a_portal_the_share_fails_at_once, on a bus without a portal"]
fn fails_without_a_portal() {
    if std::env::var_os("CONCLAVE_TEST_CHILD").is_none() {
        return;
    }
    let started = Instant::now();
    let Err(e) = ShareTarget::Portal.open() else {
        panic!("a share without a portal");
    };
    assert!(
        matches!(e, DeviceError::Open { kind: "screen", .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("no screen-sharing portal"), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // In a Wayland session a screen is asked of the portal too, not of X11.
    let Err(e) = ShareTarget::Screen.open() else {
        panic!("a share without a portal");
    };
    assert!(e.to_string().contains("no screen-sharing portal"), "{e}");
    // The picker offers the system's dialog, not X11's windows.
    assert_eq!(
        conclave_media::share_sources(None),
        [conclave_media::ShareSource {
            target: ShareTarget::Portal,
            title: String::new(),
            thumbnail: None,
        }]
    );
}

/// The I420 values a pixel of colour `rgb` (hex) converts to.
fn yuv_of(rgb: &str) -> [u8; 3] {
    let v = u32::from_str_radix(rgb, 16).unwrap();
    let (r, g, b) = ((v >> 16) as u8, (v >> 8) as u8, v as u8);
    let bgrx = [b, g, r, 0].repeat(4);
    let frame = conclave_media::convert::bgrx_to_i420(2, 2, &bgrx).unwrap();
    let (y, u, v) = frame.planes();
    [y[0], u[0], v[0]]
}

/// The Y, U and V at pixel (`x`, `y`).
fn yuv_at(frame: &VideoFrame, x: usize, y: usize) -> [u8; 3] {
    let (luma, u, v) = frame.planes();
    let chroma = (y / 2) * (frame.width / 2) + x / 2;
    [luma[y * frame.width + x], u[chroma], v[chroma]]
}

/// Whether `frame` shows `background` around the edges and `window` in the middle.
fn shows(frame: &VideoFrame, background: [u8; 3], window: [u8; 3]) -> Result<(), String> {
    let points = [
        ((20, 20), background),
        ((620, 20), background),
        ((20, 460), background),
        ((620, 460), background),
        ((100, 240), background),
        ((320, 240), window),
        ((200, 160), window),
        ((440, 320), window),
    ];
    for ((x, y), want) in points {
        let got = yuv_at(frame, x, y);
        if got.iter().zip(want).any(|(&g, w)| g.abs_diff(w) > 4) {
            return Err(format!("at ({x},{y}): YUV {got:?}, want {want:?}"));
        }
    }
    Ok(())
}

#[test]
#[ignore = "run by the_portal_shares_what_the_wayland_desktop_shows, as nobody in its session"]
fn shares_in_the_wayland_session() {
    if std::env::var_os("CONCLAVE_TEST_CHILD").is_none() {
        return;
    }
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is set"));
    let background = yuv_of(&var("WAYLAND_TEST_BACKGROUND"));
    let window = yuv_of(&var("WAYLAND_TEST_WINDOW"));

    let opened = Instant::now();
    let mut source = ShareTarget::Portal.open().expect("the portal shares");
    eprintln!("opened in {:?}", opened.elapsed());
    let format = source.format();
    assert_eq!((format.width, format.height), (640, 480), "{format:?}");
    // Until something on the screen changes, xdg-desktop-portal-wlr sends no picture (it copies
    // the screen "with damage"): the share is black until then, or shows the screen.
    let black = yuv_of("000000");
    for _ in 0..3 {
        let frame = source.next_frame().unwrap();
        assert_eq!((frame.width, frame.height), (640, 480));
        let as_shown = shows(&frame, background, window);
        let all_black = frame.y().iter().all(|&y| y == black[0]);
        assert!(all_black || as_shown.is_ok(), "{as_shown:?}");
    }

    // A change shows: a new background around the same window.
    let green = "10c040";
    let swaymsg = Command::new("swaymsg")
        .args([
            "output",
            "HEADLESS-1",
            "bg",
            &format!("#{green}"),
            "solid_color",
        ])
        .output()
        .unwrap();
    assert!(swaymsg.status.success(), "{swaymsg:?}");
    let background = yuv_of(green);
    let changed = Instant::now();
    loop {
        let frame = source.next_frame().expect("frames after a change");
        let as_shown = shows(&frame, background, window);
        if as_shown.is_ok() {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(5),
            "the new background did not show: {as_shown:?}"
        );
    }
    eprintln!("a change showed after {:?}", changed.elapsed());

    // Nothing on the desktop moves now: PipeWire sends nothing, the share keeps its pace.
    let still = Instant::now();
    for n in 0..20 {
        let frame = source.next_frame().expect("frames on a still screen");
        shows(&frame, background, window)
            .map_err(|e| format!("frame {n}: {e}"))
            .unwrap();
    }
    let took = still.elapsed();
    assert!(
        took > Duration::from_millis(1500) && took < Duration::from_millis(3500),
        "20 frames at 10 fps took {took:?}"
    );

    // The portal's side of the stream goes away: the share ends with an error.
    let killed = Command::new("kill")
        .arg(var("CONCLAVE_XDPW_PID"))
        .status()
        .unwrap();
    assert!(killed.success());
    let stopped = Instant::now();
    let ended = loop {
        match source.next_frame() {
            Err(e) => break e,
            Ok(_) => assert!(
                stopped.elapsed() < Duration::from_secs(5),
                "the share did not end after its stream went away"
            ),
        }
    };
    eprintln!("ended after {:?}: {ended}", stopped.elapsed());
    assert!(
        matches!(ended, DeviceError::Disconnected { kind: "screen", .. }),
        "{ended:?}"
    );
    assert!(source.next_frame().is_err(), "it stays ended");
}
