//! The app and its headless counterpart as the desktop tests use them.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::json;

use super::webdriver::Session;
use crate::janus::{JanusNet, WS_URL};

/// The app as cargo built it for these tests.
pub fn app() -> &'static str {
    env!("CARGO_BIN_EXE_conclave-app")
}

/// The headless client, built next to the app by the same workspace build.
pub fn conclave() -> PathBuf {
    let cli = PathBuf::from(app()).with_file_name("conclave");
    assert!(cli.exists(), "build the workspace first: {}", cli.display());
    cli
}

/// A new join link to `room` on the test's Janus.
pub fn new_link(room: &str) -> String {
    let out = Command::new(conclave())
        .args(["link", "new", "--sfu", WS_URL, "--room", room])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Saves a screenshot of the window as `dir/name`.
pub fn save(dir: &std::path::Path, name: &str, session: &Session) {
    let png = session.screenshot();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    std::fs::write(dir.join(name), png).unwrap();
}

/// Fills the pre-join form in English: link, name, and the same choice for camera and microphone.
pub fn prejoin(session: &Session, link: &str, name: &str, devices: &str) {
    session.find("button[data-lang=en]").click();
    session.find("#link").send_keys(link);
    session.find("#name").send_keys(name);
    choose_devices(session, devices);
}

/// Chooses `devices` (e.g. `synthetic`, `none`) as camera and microphone on the pre-join form.
pub fn choose_devices(session: &Session, devices: &str) {
    session.script(
        "document.getElementById('camera').value = arguments[0];\
         document.getElementById('microphone').value = arguments[0];",
        json!([devices]),
    );
}

/// A script: whether participant `name` is listed, with their handshake verified.
pub fn verified_in_list(name: &str) -> String {
    format!(
        "const li = [...document.querySelectorAll('#participants li')]\
           .find(l => l.querySelector('.name')?.textContent === {});\
         return !!li && li.querySelector('.verification').dataset.verified === 'true';",
        json!(name)
    )
}

/// A script that gives how many pictures the first video tile drew (0 without a tile).
pub const TILE_DRAWN: &str = "const t = document.querySelector('#tiles .tile'); return t ? parseInt(t.dataset.drawn || '0') : 0;";

/// Waits until the first video tile drew more than `pictures`.
pub fn wait_drawn(session: &Session, what: &str, within: std::time::Duration, pictures: u64) {
    session.wait_for(
        what,
        within,
        &format!("return (() => {{ {TILE_DRAWN} }})() > {pictures};"),
    );
}

/// A script that holds when the window's microphone button shows `on`.
pub fn mic_button_on(on: bool) -> String {
    format!("return document.getElementById('toggle-mic').getAttribute('aria-pressed') === '{on}'")
}

/// A headless participant joining `link` in `net` with the synthetic camera (320x240) and
/// `mic`, for `duration`; its output is discarded unless the caller says otherwise.
pub fn headless(net: &JanusNet, link: &str, name: &str, mic: &str, duration: &str) -> Command {
    let mut command = net.command(conclave());
    command
        .args(["join", link, "--name", name])
        .args(["--camera", "synthetic", "--mic", mic])
        .args(["--resolution", "320x240", "--ice-address", "127.0.0.2"])
        .args(["--duration", duration])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}
