//! The app as a user gets it: the .deb that `scripts/package deb` built, unpacked into a private
//! root (not installed system-wide), its desktop entry registered there for `conclave://`. A link
//! opened with `xdg-open` — as a browser or mail client does when the link is clicked — must reach
//! the running app; the user joins an encrypted meeting with a headless participant and mutes from
//! the tray.
//!
//! Ignored by plain `cargo test`: scripts/test builds the .deb and then runs it with `--ignored`.
//! Needs what the window tests need, plus dpkg-deb, desktop-file-utils and xdg-utils.

#[path = "../../tests/support/janus.rs"]
#[allow(dead_code)]
mod janus;
#[path = "../../tests/support/pulse.rs"]
mod pulse;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use janus::JanusNet;
use serde_json::{Value, json};
use support::app::{choose_devices, headless, mic_button_on, new_link, save, wait_drawn};
use support::desktop::{DRIVER_PORT, Desktop, wait_until};
use support::tray::TrayHost;
use support::webdriver::Session;

/// The .deb in the build's bundle folder.
fn deb() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target folder");
    let folder = target.join("release/bundle/deb");
    std::fs::read_dir(&folder)
        .unwrap_or_else(|e| {
            panic!(
                "build it first (scripts/package deb): {}: {e}",
                folder.display()
            )
        })
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .expect("a .deb (scripts/package deb)")
}

fn run(command: &mut Command) -> String {
    let out = command.output().expect("the tool is installed");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "needs the .deb: scripts/test builds it, then runs this"]
fn the_installed_app_opens_a_clicked_link_joins_and_mutes_from_the_tray() {
    let deb = deb();
    let depends = run(Command::new("dpkg-deb")
        .args(["-f"])
        .arg(&deb)
        .arg("Depends"));
    for needed in [
        "gstreamer1.0-libav",
        "desktop-file-utils",
        "xdg-utils",
        "libwebkit2gtk",
    ] {
        assert!(
            depends.contains(needed),
            "the .deb depends on {needed}: {depends}"
        );
    }

    let net = JanusNet::start();
    let root = net.dir.join("installed");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    let share = root.join("usr/share");
    let entry = std::fs::read_to_string(share.join("applications/Conclave.desktop"))
        .expect("the desktop entry");
    assert!(
        entry.contains("MimeType=x-scheme-handler/conclave"),
        "{entry}"
    );
    assert!(entry.contains("Exec=conclave-app %u"), "{entry}");
    // What the package manager's trigger does on installation.
    run(Command::new("update-desktop-database").arg(share.join("applications")));

    let bin = root.join("usr/bin");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let data = format!("{}:/usr/local/share:/usr/share", share.display());
    let desktop = Desktop::start_with_env(&net, &[("PATH", &path), ("XDG_DATA_DIRS", &data)]);
    let shots = Desktop::screenshot_dir("installed");
    let link = new_link("installed-room");

    let bob_stats = net.dir.join("bob.json");
    // Long enough to outlast the join and the mute on a loaded machine (30 s once did not).
    let bob = headless(&net, &link, "Bob", "tone", "45s")
        .arg("--stats-json")
        .arg(&bob_stats)
        .spawn()
        .unwrap();

    // The installed binary, started as the desktop would.
    let session = Session::start(DRIVER_PORT, bin.join("conclave-app").to_str().unwrap());
    session.find("button[data-lang=en]").click();

    // The link is clicked: xdg-open finds Conclave through its desktop entry and starts a second
    // conclave-app with the link, which hands it to the running one.
    let mut open = Command::new("xdg-open");
    desktop.app_env(&mut open);
    let status = open.arg(&link).status().expect("xdg-open (xdg-utils)");
    assert!(status.success(), "xdg-open {status}");
    session.wait_for(
        "the clicked link in the running app",
        Duration::from_secs(15),
        &format!(
            "return document.getElementById('link').value === {}",
            json!(link)
        ),
    );
    session.find("#name").send_keys("Dana");
    choose_devices(&session, "synthetic");
    session.find("#join").click();
    session.wait_for(
        "an encrypted meeting with Bob, verified",
        Duration::from_secs(20),
        "const li = [...document.querySelectorAll('#participants li')]\
           .find(l => l.querySelector('.name')?.textContent === 'Bob');\
         return document.getElementById('connection').textContent === 'Connected'\
           && li && li.querySelector('.verification').dataset.verified === 'true';",
    );
    wait_drawn(&session, "Bob's picture", Duration::from_secs(15), 10);
    // Her voice has been going out for a while before she mutes (Bob's count below depends on
    // it, not on how fast this machine reaches the tray).
    session.wait_for(
        "Dana's voice going out",
        Duration::from_secs(15),
        "return state && state.audio_frames_sent > 150",
    );
    save(&shots, "1-joined-from-a-clicked-link.png", &session);

    // Mute from the tray.
    let tray = TrayHost::find(&desktop.bus, Duration::from_secs(10));
    wait_until(
        "the tray to show the microphone on",
        Duration::from_secs(10),
        || tray.entry("Microphone on").checked == Some(true),
    );
    tray.click("Microphone on");
    session.wait_for(
        "the tray to mute the microphone",
        Duration::from_secs(10),
        &mic_button_on(false),
    );
    wait_until("the tray icon to show it", Duration::from_secs(10), || {
        tray.shows_muted()
    });
    save(&shots, "2-muted-from-the-tray.png", &session);

    // Bob heard Dana, then saw her muted.
    let out = bob.wait_with_output().unwrap();
    assert!(out.status.success());
    let stats: Value = serde_json::from_str(&std::fs::read_to_string(&bob_stats).unwrap()).unwrap();
    let dana = stats["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["display_name"] == "Dana")
        .unwrap_or_else(|| panic!("Bob saw Dana: {stats}"));
    assert_eq!(dana["verified"], true, "{dana}");
    assert_eq!(dana["sending_audio"], false, "Bob sees Dana muted: {dana}");
    assert!(
        dana["audio"]["frames_decrypted"].as_u64().unwrap() > 50,
        "Dana's audio reached Bob before she muted: {dana}"
    );
    session.close();
}
