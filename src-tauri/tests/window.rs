//! The real app window, driven through WebDriver (tauri-driver + WebKitWebDriver) under Xvfb, in
//! a meeting on a real Janus (one on Galène) with a headless `conclave join` participant.
//!
//! Needs root, Janus, Xvfb, dbus-daemon, WebKitWebDriver and tauri-driver (scripts/test installs
//! them). Screenshots land in `$CARGO_TARGET_TMPDIR/screenshots/<test>/`.

#[path = "../../tests/support/galene.rs"]
#[allow(dead_code)]
mod galene;
#[path = "../../tests/support/janus.rs"]
#[allow(dead_code)]
mod janus;
#[path = "../../tests/support/pulse.rs"]
mod pulse;
mod support;
#[path = "../../tests/support/turn.rs"]
mod turn;

use std::path::PathBuf;

use base64::Engine;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use janus::JanusNet;
use serde_json::{Value, json};
use support::app::{
    TILE_DRAWN, app, choose_devices, conclave, headless, mic_button_on, new_link, prejoin, save,
    verified_in_list, wait_drawn,
};
use support::desktop::{DRIVER_PORT, Desktop, wait_until};
use support::tray::TrayHost;
use support::webdriver::Session;

/// The test-pattern stamp in the first video tile's pixels, as the page drew them.
fn stamp_on_screen(session: &Session) -> Option<conclave_media::pattern::Stamp> {
    let url = session.script(
        "const c = document.querySelector('#tiles .tile canvas');\
         return c && c.width > 0 ? c.toDataURL('image/png') : null;",
        json!([]),
    );
    let b64 = url.as_str()?.strip_prefix("data:image/png;base64,")?;
    let png = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let mut reader = png::Decoder::new(std::io::Cursor::new(png))
        .read_info()
        .ok()?;
    let mut rgba = vec![0; reader.output_buffer_size()?];
    let info = reader.next_frame(&mut rgba).ok()?;
    assert_eq!(
        info.color_type,
        png::ColorType::Rgba,
        "a canvas reads back as RGBA"
    );
    let rgb: Vec<u8> = rgba[..info.buffer_size()]
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    let (w, h) = (info.width as usize, info.height as usize);
    let frame =
        conclave_media::convert::to_i420(conclave_media::convert::PixelFormat::Rgb, w, h, &rgb)
            .ok()?;
    conclave_media::pattern::read(&frame)
}

/// The first tile shows the test pattern and it moves: its frame stamp, read back from the drawn
/// pixels, advances.
fn assert_pattern_moves(session: &Session) {
    // One screenshot may catch the tile between pictures (a decoder starting again at a
    // keyframe, on a busy machine): look again for a few seconds before calling it missing.
    let stamp = || {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match stamp_on_screen(session) {
                Some(stamp) => return stamp,
                None if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(250));
                }
                None => panic!("the test pattern in the tile"),
            }
        }
    };
    let first = stamp();
    std::thread::sleep(Duration::from_millis(700));
    let later = stamp();
    assert!(
        later.frame > first.frame,
        "the picture moves: {first:?} then {later:?}"
    );
}

/// The settings file the app wrote under `home`, as JSON.
fn saved_settings(home: &std::path::Path) -> serde_json::Value {
    files(home)
        .into_iter()
        .find(|(path, _)| path.ends_with("settings.json"))
        .map(|(_, content)| serde_json::from_slice(&content).unwrap())
        .expect("the settings file")
}

/// Every file under `dir` with its contents.
fn files(dir: &std::path::Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => {
                    out.insert(path.clone(), std::fs::read(&path).unwrap_or_default());
                }
                _ => {}
            }
        }
    }
    out
}

/// The page's text of `css`.
/// Replaces the STUN/TURN servers in the open settings dialog by `servers` (URL, user name,
/// password; empty ones left out), removing rows and typing into new ones as a user would.
fn type_ice_servers(session: &Session, servers: &[(&str, &str, &str)]) {
    let rows = "return document.querySelectorAll('#ice-list li').length";
    while session.script(rows, json!([])) != 0 {
        session.find("#ice-list li button.remove").click();
    }
    for (url, user, password) in servers {
        session.find("#ice-add").click();
        for (name, value) in [("url", url), ("username", user), ("credential", password)] {
            if !value.is_empty() {
                session
                    .find(&format!("#ice-list li:last-child input[name={name}]"))
                    .send_keys(value);
            }
        }
    }
}

/// Bob: headless, with the synthetic camera and a tone, for `duration`, writing his report.
struct Bob {
    child: std::process::Child,
    report: PathBuf,
}

impl Bob {
    fn join(net: &JanusNet, link: &str, duration: &str) -> Bob {
        Bob::join_with(net, link, duration, &[])
    }

    /// [`Bob::join`] with more arguments (`--share`, say).
    fn join_with(net: &JanusNet, link: &str, duration: &str, args: &[&str]) -> Bob {
        let report = net.dir.join("bob.json");
        let child = headless(net, link, "Bob", "tone", duration)
            .args(args)
            .arg("--stats-json")
            .arg(&report)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Bob { child, report }
    }

    /// Waits for him to leave: his report, and what he saw of Alice.
    fn report(self) -> (Value, Value) {
        let out = self.child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&self.report).unwrap();
        let stats: Value = serde_json::from_str(&text).unwrap();
        let alice = stats["participants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["display_name"] == "Alice")
            .unwrap_or_else(|| panic!("Bob saw Alice: {stats}"))
            .clone();
        (stats, alice)
    }
}

/// One window test at a time: each runs the app (now playing real sound through its own sound
/// server), Janus and headless clients, and two side by side on two cores starved the window's
/// pictures and hints past their waits in CI (the stage test's nine clients the most).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The machine, for one window test.
fn ordinary() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn text(session: &Session, css: &str) -> String {
    session.find(css).text()
}

#[test]
fn the_app_meets_a_headless_participant_mutes_handles_a_deep_link_and_speaks_german() {
    let _share = ordinary();
    let net = JanusNet::start();
    let desktop = Desktop::start(&net);
    let shots = Desktop::screenshot_dir("meeting");
    let link = new_link("window-test");

    // Long enough to stay through every step below on a loaded machine (at 45 s he once left
    // while the window was hidden).
    let bob = Bob::join(&net, &link, "60s");
    // A microphone beside the sound server's monitors of its outputs.
    desktop
        .sound
        .pactl(&["load-module", "module-null-source", "source_name=headset"]);

    let session = Session::start(DRIVER_PORT, app());
    // English first, whatever the machine's locale.
    session.find("button[data-lang=en]").click();
    assert_eq!(text(&session, "#join"), "Join");

    // A malformed link: a clear message, nothing else happens.
    session.find("#link").send_keys("conclave://join?room=x");
    session.wait_for(
        "the link to be refused",
        Duration::from_secs(5),
        "return document.getElementById('link-status').dataset.valid === 'false'",
    );
    // With the reason, as precise as the app knows it.
    assert_eq!(
        text(&session, "#link-status"),
        "The link lacks the meeting server (sfu=…): was it cut off?"
    );
    session.script("document.getElementById('link').value = ''", json!([]));

    session.find("#link").send_keys(&link);
    session.wait_for(
        "the link to be accepted",
        Duration::from_secs(5),
        "return document.getElementById('link-status').dataset.valid === 'true'",
    );
    session.find("#name").send_keys("Alice");
    choose_devices(&session, "synthetic");
    // The preview shows our own camera and the meter moves with our microphone.
    session.wait_for(
        "the camera preview and the microphone meter",
        Duration::from_secs(10),
        "const t = document.querySelector('#preview .tile');\
         return t && parseInt(t.dataset.drawn || '0') > 5\
           && document.getElementById('mic-level').value > 0.05;",
    );
    save(&shots, "1-prejoin-en.png", &session);
    // The speaker is the system's default unless chosen: offered first and preselected, and
    // neither ALSA's null device nor its plugins are offered.
    assert_eq!(
        session.script(
            "const s = document.getElementById('speaker');\
             return [s.selectedIndex, s.options[0].textContent,\
               [...s.options].some(o => /Discard all samples|plughw|dmix/.test(o.value + o.textContent))];",
            json!([])
        ),
        json!([0, "System default", false])
    );
    // Microphones: the system default and the other microphone (PulseAudio names it "Null Input"),
    // never a monitor of an output (what the speakers play).
    assert_eq!(
        session.script(
            "const m = document.getElementById('microphone');\
             return [[...m.options].some(o => o.textContent === 'Null Input'),\
               [...m.options].filter(o => /Monitor/.test(o.textContent)).map(o => o.textContent)];",
            json!([])
        ),
        json!([true, []])
    );
    // What the app keeps on disk (its config, data and cache under its HOME) before the meeting.
    let before = files(&desktop.home);
    session.find("#join").click();

    // Bob appears, named and verified, and his video is decoded; a screen reader hears he is
    // there (he was before Alice came).
    session.wait_for(
        "Bob's presence said to screen readers",
        Duration::from_secs(20),
        "return document.getElementById('announcer').textContent === 'Bob is in the meeting.'\
           && document.getElementById('announcer').getAttribute('aria-live') === 'polite';",
    );
    session.wait_for(
        "Bob verified in the participant list",
        Duration::from_secs(20),
        &verified_in_list("Bob"),
    );
    // On demand, the safety number Alice and Bob can compare (Bob's report has the same).
    session.script(
        "[...document.querySelectorAll('#participants li')]\
           .find(l => l.querySelector('.name')?.textContent === 'Bob')\
           .querySelector('button.verification').click();",
        json!([]),
    );
    let safety = session.wait_for(
        "Bob's safety number",
        Duration::from_secs(5),
        "const s = document.querySelector('#participants .safety-number')?.textContent;\
         return s && s.startsWith('safety number ') && s.slice('safety number '.length);",
    );
    session.wait_for(
        "Bob's video frames",
        Duration::from_secs(15),
        "const t = document.querySelector('#tiles .tile');\
         return t && parseInt(t.dataset.frames) > 30;",
    );
    // The tile shows Bob's test pattern: its frame stamp reads back from the drawn pixels and
    // advances.
    wait_drawn(
        &session,
        "Bob's tile to draw pictures",
        Duration::from_secs(10),
        10,
    );
    // The page decodes them itself (WebCodecs; the test command installs GStreamer's H.264
    // decoder, which the .deb depends on).
    assert_eq!(
        session.script(
            "return document.querySelector('#tiles .tile').dataset.transport",
            json!([])
        ),
        "h264"
    );
    // Bob's tone makes him the active speaker.
    session.wait_for(
        "Bob highlighted as the speaker",
        Duration::from_secs(5),
        "return document.querySelector('#tiles .tile.speaking .label')?.textContent === 'Bob'",
    );
    assert_pattern_moves(&session);
    // Bob is heard: his 1 kHz tone comes out of the system's default speaker (the sound server's
    // null sink, recorded from its monitor).
    let recording = desktop.sound.record_speaker();
    std::thread::sleep(Duration::from_secs(2));
    let heard = recording.stop();
    let rms = (heard.iter().map(|x| x * x).sum::<f32>() / heard.len().max(1) as f32).sqrt();
    assert!(rms > 0.02, "Bob heard on the default speaker: RMS {rms}");
    let tone = pulse::power_at(&heard, 1000.0);
    assert!(
        tone > 100.0 * pulse::power_at(&heard, 700.0).max(1e-12),
        "his tone, not noise"
    );
    let code = session.wait_for(
        "a group code",
        Duration::from_secs(10),
        "const c = document.getElementById('group-code').textContent;\
         return /^([0-9]{4} ){4}[0-9]{4}$/.test(c) && c;",
    );
    assert_eq!(text(&session, "#connection"), "Connected");
    save(&shots, "2-meeting-en.png", &session);

    // Mute in the UI: the button says so at once.
    session.find("#toggle-mic").click();
    session.wait_for(
        "the microphone button to show muted",
        Duration::from_secs(3),
        &mic_button_on(false),
    );
    // Her (synthetic) voice goes on: the window says she is muted.
    session.wait_for(
        "the 'you are muted' hint",
        // Half a second of her voice, seen by the next poll; a loaded CI machine once took
        // longer than 5 s.
        Duration::from_secs(15),
        "const h = document.getElementById('muted-hint');\
         return !h.hidden && h.textContent.startsWith('You are muted.');",
    );
    save(&shots, "2b-talking-while-muted-en.png", &session);

    // The tray, as a desktop panel sees it over D-Bus: the microphone shows off, in the menu and
    // as a red bar on the icon; picking the entry turns it on for the whole app.
    let tray = TrayHost::find(&desktop.bus, Duration::from_secs(10));
    wait_until(
        "the tray to show the microphone off",
        Duration::from_secs(10),
        || {
            let entry = tray.entry("Microphone on");
            entry.enabled && entry.checked == Some(false) && tray.shows_muted()
        },
    );
    tray.click("Microphone on");
    session.wait_for(
        "the tray to turn the microphone on",
        Duration::from_secs(10),
        &mic_button_on(true),
    );
    wait_until(
        "the tray to show the microphone on",
        Duration::from_secs(10),
        || tray.entry("Microphone on").checked == Some(true) && !tray.shows_muted(),
    );
    session.wait_for(
        "the hint to go once unmuted",
        Duration::from_secs(5),
        "return document.getElementById('muted-hint').hidden",
    );

    // The global shortcut through the X server, whatever window has the focus: Ctrl+Shift+M
    // mutes again.
    desktop.xdotool(&["key", "ctrl+shift+m"]);
    session.wait_for(
        "the shortcut to mute",
        Duration::from_secs(10),
        &mic_button_on(false),
    );
    // Push-to-talk: the microphone is on while Ctrl+Shift+Space is held, off when released.
    desktop.xdotool(&["keydown", "ctrl+shift+space"]);
    session.wait_for(
        "push-to-talk to open the microphone",
        Duration::from_secs(10),
        &mic_button_on(true),
    );
    desktop.xdotool(&["keyup", "space"]);
    desktop.xdotool(&["keyup", "ctrl+shift"]);
    session.wait_for(
        "releasing push-to-talk to close it",
        Duration::from_secs(10),
        &mic_button_on(false),
    );

    // The window hidden, as closing it does: the page knows, and its tiles fetch and draw
    // nothing.
    desktop.hide_app_window();
    session.wait_for(
        "the page to know it is hidden",
        Duration::from_secs(10),
        "return document.hidden",
    );
    std::thread::sleep(Duration::from_millis(500));
    let hidden_at = session.script(TILE_DRAWN, json!([])).as_u64().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let after = session.script(TILE_DRAWN, json!([])).as_u64().unwrap();
    assert!(hidden_at > 0, "Bob's tile is there and had drawn");
    assert!(
        after <= hidden_at + 2,
        "drawn while hidden: {hidden_at} -> {after}"
    );
    // Shown again from the tray: pictures come back, from a fresh keyframe.
    tray.click("Show window");
    session.wait_for(
        "the page to know it is shown",
        Duration::from_secs(10),
        "return !document.hidden",
    );
    wait_drawn(
        &session,
        "pictures again once shown",
        Duration::from_secs(30),
        after + 10,
    );
    assert_pattern_moves(&session);

    // A second launch with a link while in a meeting: the running app asks before leaving.
    let second_link = new_link("another-room");
    let mut second = net.command(app());
    desktop.app_env(&mut second);
    let status = second
        .arg(&second_link)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "the second instance hands over and exits");
    session.wait_for(
        "the switch-meeting question",
        Duration::from_secs(10),
        "return document.getElementById('link-dialog').open",
    );
    save(&shots, "3-deep-link-question-en.png", &session);
    session.find("#switch-no").click();
    session.wait_for(
        "the question to close",
        Duration::from_secs(5),
        "return !document.getElementById('link-dialog').open",
    );

    // German.
    session.find("button[data-lang=de]").click();
    assert_eq!(text(&session, "#leave"), "Verlassen");
    // The lock in the bar opens the verification: the group code and each safety number.
    session.find("#open-verify").click();
    assert_eq!(text(&session, "#e2ee-title"), "Ende-zu-Ende-verschlüsselt");
    session.wait_for(
        "German participant states",
        Duration::from_secs(3),
        "return document.querySelector('#participants .verification[data-verified=true]')\
           ?.textContent === 'verifiziert'",
    );
    save(&shots, "4-meeting-de.png", &session);
    session.find("#open-verify").click();

    // Bob leaves at his 60 s (said to screen readers, in German now); his report says what he
    // saw of us.
    session.wait_for(
        "Bob's leaving said to screen readers",
        Duration::from_secs(60),
        "return document.getElementById('announcer').textContent\
           === 'Bob hat die Besprechung verlassen.'",
    );
    let (stats, alice) = bob.report();
    assert_eq!(alice["verified"], true, "{alice}");
    assert_eq!(alice["safety_number"], safety, "{alice}");
    assert_eq!(
        alice["sending_audio"], false,
        "Bob sees Alice muted: {alice}"
    );
    assert!(
        alice["audio"]["frames_decrypted"].as_u64().unwrap() > 50,
        "Alice's audio reached Bob before she muted: {alice}"
    );
    assert!(
        alice["video"]["frames_decoded"].as_u64().unwrap() > 100,
        "{alice}"
    );
    assert!(
        stats["group_code_history"]
            .as_array()
            .unwrap()
            .contains(&code),
        "Bob and Alice saw the same group code {code}: {stats}"
    );

    session.find("#leave").click();
    session.wait_for(
        "the pre-join screen after leaving",
        Duration::from_secs(10),
        "return !document.getElementById('prejoin').hidden",
    );
    save(&shots, "5-left-de.png", &session);
    session.close();

    // No meeting history: after the meeting nothing about it is on disk. The only changes allowed
    // are the settings file, which the language switch wrote (a choice the user made), WebKit's
    // record that the app's own page (tauri://localhost) exists, and GStreamer's plugin list.
    let after = files(&desktop.home);
    let secret = link.split_once("#k=").unwrap().1;
    for (path, content) in &after {
        let text = String::from_utf8_lossy(content);
        for needle in [
            "window-test",
            "another-room",
            secret,
            "Alice",
            "Bob",
            "8188",
        ] {
            assert!(
                !text.contains(needle),
                "{} mentions {needle}",
                path.display()
            );
        }
        if before.get(path) != Some(content) {
            let origin_record = path.ends_with("origin") && text.contains("localhost");
            // GStreamer (WebKit's video decoding) caches the list of its plugins once.
            let plugin_registry = path.to_string_lossy().contains("gstreamer-1.0/registry.");
            assert!(
                path.ends_with("settings.json") || origin_record || plugin_registry,
                "the meeting left {} behind",
                path.display()
            );
        }
    }
}

#[test]
fn an_unreachable_server_is_reported_and_the_app_keeps_running() {
    let _share = ordinary();
    let net = JanusNet::start();
    let desktop = Desktop::start(&net);
    let shots = Desktop::screenshot_dir("unreachable");
    // Nothing listens on port 9 of the namespace.
    let out = Command::new(conclave())
        .args([
            "link",
            "new",
            "--sfu",
            "ws://127.0.0.1:9",
            "--room",
            "nowhere",
        ])
        .output()
        .unwrap();
    let link = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let session = Session::start(DRIVER_PORT, app());
    prejoin(&session, &link, "Alice", "synthetic");
    // The test call needs no server: it works even with this link.
    // The test call: three seconds recorded, then played back on the speaker (the system's
    // default here: the sound server's null sink), then a plain verdict. While it records, the
    // speaker is silent (played live, a laptop's speakers would feed it back).
    let recording = desktop.sound.record_speaker();
    // The recorder delivers after about 2 s (the idle null sink starts up).
    std::thread::sleep(Duration::from_secs(3));
    session.find("#test-call").click();
    session.wait_for(
        "'say something'",
        Duration::from_secs(3),
        "return document.getElementById('test-result').textContent.startsWith('Say something')",
    );
    std::thread::sleep(Duration::from_secs(2));
    let while_speaking = recording.stop();
    let recording = desktop.sound.record_speaker();
    let result = session.wait_for(
        "the test call's result",
        Duration::from_secs(30),
        "const r = document.getElementById('test-result');\
         return r.dataset.done === 'true' && r.textContent;",
    );
    let played_back = recording.stop();
    let result = result.as_str().unwrap();
    assert!(
        result.starts_with("Your camera and microphone work.")
            && result.contains("Picture: ")
            && result.contains("Sound: "),
        "{result}"
    );
    let rms = |s: &[f32]| (s.iter().map(|x| x * x).sum::<f32>() / s.len().max(1) as f32).sqrt();
    assert!(
        while_speaking.len() > pulse::RATE as usize / 2,
        "half a second recorded while speaking: {}",
        while_speaking.len()
    );
    assert!(
        rms(&while_speaking) < 0.005,
        "silent while recording: RMS {}",
        rms(&while_speaking)
    );
    // Then the test tone (1 kHz) came back out of the speaker.
    assert!(
        rms(&played_back) > 0.02,
        "played back: RMS {}",
        rms(&played_back)
    );
    let tone = pulse::power_at(&played_back, 1000.0);
    assert!(
        tone > 100.0 * pulse::power_at(&played_back, 770.0).max(1e-12),
        "the test tone played back"
    );
    assert!(!result.contains("no camera"), "{result}");
    save(&shots, "0-test-call-en.png", &session);
    // This desktop has no keyring: asking to remember the room must say so, and still join.
    session.find("#remember").click();
    session.find("#join").click();
    session.wait_for(
        "the no-keyring notice",
        Duration::from_secs(10),
        "return document.getElementById('notice').textContent\
           .startsWith('The system keyring is not available')",
    );
    // It never looks like a meeting: the join screen says it is connecting, then that the
    // server cannot be reached, with Retry.
    session.wait_for(
        "connecting on the join screen",
        Duration::from_secs(5),
        "return document.getElementById('join-status').textContent\
           === 'Connecting to ws://127.0.0.1:9/…'\
           && document.getElementById('meeting').hidden;",
    );
    let give_up = "return document.getElementById('error').textContent\
           .startsWith('Cannot reach the meeting server ws://127.0.0.1:9/.')\
           && !document.getElementById('retry').hidden\
           && !document.getElementById('prejoin').hidden\
           && document.getElementById('meeting').hidden\
           && !document.getElementById('join').disabled;";
    session.wait_for(
        "the unreachable server said",
        Duration::from_secs(20),
        give_up,
    );
    save(&shots, "1-unreachable-en.png", &session);
    session.find("#retry").click();
    session.wait_for(
        "the retry connecting",
        Duration::from_secs(5),
        "return document.getElementById('retry').hidden\
           && document.getElementById('join-status').textContent.startsWith('Connecting to');",
    );
    session.wait_for(
        "the unreachable server said again",
        Duration::from_secs(20),
        give_up,
    );
    save(&shots, "2-left-en.png", &session);
    // Without a keyring a TURN password cannot be kept: the settings say so and keep nothing.
    session.find("#open-settings").click();
    type_ice_servers(&session, &[("turn:127.0.0.2:3478", "alice", "s3cret")]);
    session.find("#settings-save").click();
    session.wait_for(
        "the keyring refusal",
        Duration::from_secs(10),
        "return document.getElementById('settings-error').textContent\
           .startsWith('The system keyring is not available, so the TURN password cannot be kept')",
    );
    save(&shots, "3-turn-password-without-keyring-en.png", &session);
    session.find("#settings-cancel").click();
    for (path, content) in files(&desktop.home) {
        assert!(
            !String::from_utf8_lossy(&content).contains("s3cret"),
            "{} holds the TURN password",
            path.display()
        );
    }
    // Still alive: the form works.
    session.find("button[data-lang=de]").click();
    assert_eq!(text(&session, "#join"), "Beitreten");
    // The test call's result is worded again in the new language.
    let result = text(&session, "#test-result");
    assert!(
        result.starts_with("Kamera und Mikrofon funktionieren.")
            && result.contains("Bild: ")
            && result.contains("Ton: "),
        "{result}"
    );
    // A camera that is not there (this machine has none): the preview says so, in German, and
    // in English once the language is switched.
    session.script(
        "const camera = document.getElementById('camera');\
         const gone = document.createElement('option');\
         gone.value = '7';\
         camera.append(gone);\
         camera.value = '7';\
         camera.dispatchEvent(new Event('change'));",
        json!([]),
    );
    session.wait_for(
        "the missing camera, in German",
        Duration::from_secs(10),
        "return document.getElementById('preview-warnings').textContent\
           === 'Keine Kamera gefunden; Sie nehmen ohne Bild teil.'",
    );
    // Not the test pattern's last picture: no picture at all.
    assert_eq!(
        session.script(
            "return document.getElementById('preview').childElementCount",
            json!([])
        ),
        0
    );
    save(&shots, "4-no-camera-de.png", &session);
    session.find("button[data-lang=en]").click();
    assert_eq!(
        text(&session, "#preview-warnings"),
        "No camera was found; you take part without video."
    );
    session.close();
}

/// A GStreamer plugin folder with everything this machine has but the libav decoders, so that
/// WebKit has no H.264 decoder for WebCodecs.
fn plugins_without_libav(dir: &std::path::Path) -> PathBuf {
    let out = dir.join("gst-plugins");
    std::fs::create_dir_all(&out).unwrap();
    let system = std::fs::read_dir("/usr/lib")
        .unwrap()
        .flatten()
        .map(|e| e.path().join("gstreamer-1.0"))
        .find(|p| p.join("libgstcoreelements.so").exists())
        .expect("GStreamer's plugins");
    for plugin in std::fs::read_dir(system).unwrap().flatten() {
        if plugin.file_name() != "libgstlibav.so" {
            std::os::unix::fs::symlink(plugin.path(), out.join(plugin.file_name())).unwrap();
        }
    }
    out
}

#[test]
fn without_webcodecs_h264_video_still_shows_and_a_remembered_room_lives_in_the_keyring() {
    let _share = ordinary();
    let net = JanusNet::start();
    let plugins = plugins_without_libav(&net.dir);
    let registry = net.dir.join("gst-registry.bin");
    let desktop = Desktop::start_with_env(
        &net,
        &[
            ("GST_PLUGIN_SYSTEM_PATH_1_0", plugins.to_str().unwrap()),
            ("GST_REGISTRY_1_0", registry.to_str().unwrap()),
        ],
    );
    // This desktop has a Secret Service (gnome-keyring), as a logged-in user's would.
    let keyring = support::bus::unlocked_keyring(&net.dir, &desktop.bus);
    let shots = Desktop::screenshot_dir("remember");
    let link = new_link("kept-room");
    let secret = link.split_once("#k=").unwrap().1.to_owned();
    let held = || support::bus::secret_tool_search(&desktop.bus, conclave_app::settings::SERVICE);
    let bob = headless(&net, &link, "Bob", "none", "30s").spawn().unwrap();

    let session = Session::start(DRIVER_PORT, app());
    prejoin(&session, &link, "Carol", "none");
    session.find("#remember").click();
    session.find("#join").click();
    session.wait_for(
        "the meeting",
        Duration::from_secs(15),
        "return document.getElementById('connection').textContent === 'Connected'",
    );
    assert_eq!(
        text(&session, "#notice"),
        "",
        "remembered without complaint"
    );
    // No H.264 decoder in the webview: the app decodes, the page draws raw pictures.
    wait_drawn(
        &session,
        "Bob's tile to draw pictures",
        Duration::from_secs(20),
        10,
    );
    assert_eq!(
        session.script(
            "return document.querySelector('#tiles .tile').dataset.transport",
            json!([])
        ),
        "i420"
    );
    assert_pattern_moves(&session);
    save(&shots, "0-meeting-i420-en.png", &session);
    // The secret is in the keyring (seen by secret-tool, not our code), and in no file.
    wait_until("the secret in the keyring", Duration::from_secs(5), || {
        held().contains(&secret)
    });
    for (path, content) in files(&desktop.home) {
        assert!(
            !String::from_utf8_lossy(&content).contains(&secret),
            "{} holds the room's secret",
            path.display()
        );
    }

    session.find("#leave").click();
    session.wait_for(
        "the pre-join screen with the remembered room",
        Duration::from_secs(10),
        "return !document.getElementById('prejoin').hidden\
           && !document.getElementById('saved').hidden\
           && document.querySelector('#saved-rooms .room')?.textContent === 'kept-room'",
    );
    // With its server, so that two rooms of one name are told apart.
    let server = text(&session, "#saved-rooms .room-server");
    assert!(server.starts_with(janus::WS_URL), "{server}");
    save(&shots, "1-remembered-en.png", &session);
    // Picking it brings back the whole link, secret included, from the keyring.
    session.script("document.getElementById('link').value = ''", json!([]));
    session.find("#saved-rooms .room").click();
    session.wait_for(
        "the remembered link",
        Duration::from_secs(5),
        &format!(
            "return document.getElementById('link').value === {}",
            json!(link)
        ),
    );

    // Forget everything: the room leaves the list and the keyring.
    session.find("#open-settings").click();
    session.find("#forget-everything").click();
    // It asks first; cancelled, nothing is forgotten.
    session.wait_for(
        "the question",
        Duration::from_secs(5),
        "return document.getElementById('forget-dialog').open",
    );
    session.find("#forget-no").click();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        session.script("return document.getElementById('saved').hidden", json!([])),
        false
    );
    session.find("#forget-everything").click();
    session.find("#forget-yes").click();
    session.wait_for(
        "the room to be forgotten, and its link off the screen",
        Duration::from_secs(5),
        "return document.getElementById('saved').hidden\
           && document.getElementById('link').value === ''",
    );
    save(&shots, "2-forgotten-en.png", &session);
    let after = held();
    assert!(!after.contains(&secret), "still in the keyring: {after}");
    session.close();
    for mut child in [keyring, bob] {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[test]
fn a_participant_with_another_room_secret_keeps_us_out_of_the_meeting_screen_stays_anonymous_and_undrawn()
 {
    let _share = ordinary();
    let net = JanusNet::start();
    let _desktop = Desktop::start(&net);
    let shots = Desktop::screenshot_dir("wrong-secret");
    // Two links to the same room with different secrets: Janus puts both in one room, but the
    // handshakes on the secret fail.
    let ours = new_link("secret-test");
    let theirs = new_link("secret-test");
    assert_ne!(ours, theirs);
    let bob = headless(&net, &theirs, "Bob", "tone", "60s")
        .spawn()
        .unwrap();

    let session = Session::start(DRIVER_PORT, app());
    prejoin(&session, &ours, "Alice", "synthetic");
    // Connected to the server, but nobody there holds our link's room key: that is no meeting.
    // The join screen stays, saying so once the handshake with him has failed, and never shows
    // the meeting screen meanwhile.
    const OUTSIDE: &str = "return { lobby: !document.getElementById('lobby').hidden,\
           meeting: !document.getElementById('meeting').hidden,\
           title: document.getElementById('lobby-title').textContent,\
           goIn: !document.getElementById('lobby').hidden\
             && !document.getElementById('go-in').hidden };";
    let wait_outside = |what: &str| {
        let mut seen = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let now = session.script(OUTSIDE, json!([]));
            assert_eq!(now["meeting"], false, "the meeting screen, outside: {now}");
            if now["lobby"] == true && !seen.contains(&now["title"]) {
                seen.push(now["title"].clone());
            }
            if now["goIn"] == true {
                assert_eq!(now["title"], what);
                return seen;
            }
            assert!(std::time::Instant::now() < deadline, "never said: {seen:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    session.find("#join").click();
    let seen = wait_outside("The one person here does not have your link's room key.");
    assert_eq!(
        seen.first().and_then(|t| t.as_str()),
        Some("Checking that the person here has your link's room key…"),
        "{seen:?}"
    );
    assert!(
        text(&session, "#lobby-text")
            .contains("You go in as soon as someone with your link's room key is here."),
        "{}",
        text(&session, "#lobby-text")
    );
    // What the join was made with cannot be edited to no effect meanwhile.
    const FORM_LOCKED: &str = "return ['link', 'name', 'camera', 'microphone', 'speaker',\
           'start-muted', 'start-camera-off', 'remember', 'test-call', 'join']\
         .filter(id => document.getElementById(id).disabled);";
    assert_eq!(
        session.script(FORM_LOCKED, json!([])),
        json!([
            "link",
            "name",
            "camera",
            "microphone",
            "speaker",
            "start-muted",
            "start-camera-off",
            "remember",
            "test-call",
            "join"
        ])
    );
    save(&shots, "1-outside-en.png", &session);
    session.find("button[data-lang=de]").click();
    assert_eq!(
        text(&session, "#lobby-title"),
        "Die Person hier hat nicht den Raumschlüssel Ihres Links."
    );
    assert_eq!(text(&session, "#go-in"), "Trotzdem teilnehmen");
    save(&shots, "2-outside-de.png", &session);
    session.find("button[data-lang=en]").click();
    // Leaving from outside: back to a usable join screen, which does not say we left a meeting.
    session.find("#cancel-join").click();
    session.wait_for(
        "the join screen again",
        Duration::from_secs(10),
        "return document.getElementById('lobby').hidden && !document.getElementById('join').disabled;",
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(text(&session, "#join-status"), "");
    assert_eq!(text(&session, "#error"), "");
    assert_eq!(session.script(FORM_LOCKED, json!([])), json!([]));
    // Again, and this time in anyway: two who came at once with different links would each see
    // the other as the stranger, so the choice is the user's.
    session.find("#join").click();
    wait_outside("The one person here does not have your link's room key.");
    save(&shots, "3-outside-again.png", &session);
    session.find("#go-in").click();
    session.wait_for(
        "the meeting screen",
        Duration::from_secs(10),
        "return !document.getElementById('meeting').hidden;",
    );
    // His name never reaches us (it travels only to those who hold the secret): he is listed by
    // his pseudonym's placeholder, not verified, and a warning says why.
    session.wait_for(
        "Bob shown as not verified",
        Duration::from_secs(20),
        "const v = document.querySelector('#participants .verification');\
         return v && v.dataset.verified === 'false'\
           && v.textContent === 'not verified — gets no keys';",
    );
    let listed = session
        .script(
            "return document.getElementById('participants').textContent",
            json!([]),
        )
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!listed.contains("Bob"), "{listed}");
    // Nor his microphone's state, which only his hello would tell.
    assert_eq!(listed.matches("microphone").count(), 1, "{listed}");
    session.wait_for(
        "a warning about the secret",
        Duration::from_secs(10),
        "return [...document.querySelectorAll('#warnings li')]\
           .some(w => w.textContent.includes('a wrong room secret on one side?'));",
    );
    // Nothing of Bob's can be decrypted, so nothing of his is drawn.
    std::thread::sleep(Duration::from_secs(2));
    let drawn = session.script(
        "return [...document.querySelectorAll('#tiles .tile')]\
           .reduce((n, t) => n + parseInt(t.dataset.drawn || '0'), 0)",
        json!([]),
    );
    assert_eq!(drawn, 0, "pictures drawn without the keys");
    // He is no tile at all: the stage says plainly that nobody here shares our room key.
    assert_eq!(
        session.script(
            "return document.querySelectorAll('#tiles .tile').length",
            json!([])
        ),
        0
    );
    assert_eq!(
        text(&session, "#strangers-title"),
        "The one person here does not have your link's room key."
    );
    save(&shots, "4-unverified-en.png", &session);
    session.find("button[data-lang=de]").click();
    session.wait_for(
        "the German state",
        Duration::from_secs(5),
        "return document.querySelector('#participants .verification[data-verified=false]')\
           ?.textContent === 'nicht verifiziert — erhält keine Schlüssel'\
           && [...document.querySelectorAll('#warnings li')]\
             .some(w => w.textContent.includes('falschen Raumschlüssel'))\
           && [...document.querySelectorAll('#warnings li')]\
             .some(w => w.textContent.includes('ist nicht verifiziert'));",
    );
    save(&shots, "5-unverified-de.png", &session);
    session.close();
    let mut bob = bob;
    let _ = bob.kill();
    let _ = bob.wait();
}

/// A script: how the meeting's stage is laid out now — the pictures shown (tiles and our own,
/// unless it floats as an overlay), whether they all lie inside the stage, clear of what the
/// stage says above them, without overlapping, whether the page scrolls, whether every button of
/// the bar is whole in the window, and the smallest and largest picture's width.
const STAGE_GEOMETRY: &str = "\
    const area = document.getElementById('stage-area').getBoundingClientRect();\
    const shown = e => getComputedStyle(e).display !== 'none';\
    const boxes = [...document.querySelectorAll('#tiles .tile'), document.getElementById('self-view')]\
      .filter(e => shown(e) && !e.classList.contains('overlay'))\
      .map(e => e.getBoundingClientRect());\
    const top = document.getElementById('stage-top').getBoundingClientRect();\
    const meets = (a, b) => a.left < b.right - 1 && b.left < a.right - 1\
      && a.top < b.bottom - 1 && b.top < a.bottom - 1;\
    const bar = document.querySelector('.meeting-bar').getBoundingClientRect();\
    const buttons = [...document.querySelectorAll('.meeting-bar button')]\
      .filter(b => shown(b) && !b.closest('#reactions') && b.offsetParent !== null);\
    const page = document.scrollingElement;\
    return {\
      pictures: boxes.length,\
      inside: boxes.every(b => b.left >= area.left - 1 && b.right <= area.right + 1\
        && b.top >= area.top - 1 && b.bottom <= area.bottom + 1),\
      clear_of_notes: top.height === 0 || boxes.every(b => !meets(b, top)),\
      overlap: boxes.some((a, i) => boxes.some((b, j) => j > i && meets(a, b))),\
      scrolls: page.scrollHeight > innerHeight + 1 || page.scrollWidth > innerWidth + 1,\
      bar_whole: buttons.length >= 10 && buttons.every(b => {\
        const r = b.getBoundingClientRect();\
        return r.left >= 0 && r.right <= innerWidth && r.top >= bar.top - 1 && r.bottom <= bar.bottom + 1;\
      }),\
      smallest: Math.min(...boxes.map(b => b.width)),\
      largest: Math.max(...boxes.map(b => b.width)),\
    };";

/// The stage's layout now, checked: `pictures` pictures, all inside the stage, none overlapping,
/// nothing scrolling, the bar whole. Returns the smallest and largest picture's width.
fn assert_stage_fits(session: &Session, pictures: usize, when: &str) -> (f64, f64) {
    let g = session.script(STAGE_GEOMETRY, json!([]));
    assert_eq!(g["pictures"], pictures, "{when}: {g}");
    for (key, want) in [
        ("inside", true),
        ("clear_of_notes", true),
        ("overlap", false),
        ("scrolls", false),
        ("bar_whole", true),
    ] {
        assert_eq!(g[key], want, "{when}: {key} in {g}");
    }
    (
        g["smallest"].as_f64().unwrap(),
        g["largest"].as_f64().unwrap(),
    )
}

/// Makes the app's window `width`×`height` and waits until the page has it and laid it out.
fn resize(desktop: &Desktop, session: &Session, width: u32, height: u32) {
    desktop.resize_app_window(width, height);
    session.wait_for(
        &format!("the window at {width}x{height}"),
        Duration::from_secs(10),
        &format!("return innerWidth === {width}"),
    );
    std::thread::sleep(Duration::from_millis(300));
}

/// Waits until `n` tiles of verified participants are on the stage.
fn wait_tiles(session: &Session, n: usize) {
    session.wait_for(
        &format!("{n} tiles"),
        Duration::from_secs(60),
        &format!("return document.querySelectorAll('#tiles .tile').length === {n}"),
    );
}

/// A script: every piece of text on screen whose contrast against what lies behind it is below
/// WCAG 2.1 AA (4.5:1; 3:1 for large text: 24 px, or 18.66 px bold), as `text: ratio (fg on bg)`.
/// Backgrounds are composited up the tree onto the page's canvas; text over pictures (tiles, previews) and disabled
/// controls (which WCAG exempts) are left out.
const CONTRAST_FAILURES: &str = r#"
const rgba = (s) => {
  const m = /rgba?\(([^)]+)\)/.exec(s);
  if (!m) return null;
  const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
  return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
};
const lum = (c) => {
  const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
};
const over = (top, under) => under.map((v, i) => v * (1 - top[3]) + top[i] * top[3]);
const behind = (el) => {
  const layers = [];
  for (let e = el; e; e = e.parentElement) {
    const cs = getComputedStyle(e);
    if (cs.backgroundImage !== 'none' && !cs.backgroundImage.startsWith('linear-gradient')) return null;
    if (e.matches('.tile, video, canvas, #preview')) return null;
    const c = rgba(cs.backgroundColor);
    if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
  }
  let bg = canvas;
  for (const c of layers.reverse()) bg = over(c, bg);
  return bg;
};
// The page's canvas: white, or the dark theme's (the page says `color-scheme: light dark`).
const probe = document.createElement('div');
probe.style.background = 'Canvas';
document.body.appendChild(probe);
const canvas = rgba(getComputedStyle(probe).backgroundColor).slice(0, 3);
probe.remove();
const failures = [];
for (const el of document.querySelectorAll('body *')) {
  const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  if (!own || !el.getClientRects().length) continue;
  const cs = getComputedStyle(el);
  if (cs.visibility !== 'visible' || el.closest('[hidden], :disabled, [aria-disabled=true]')) continue;
  if (el.closest('dialog:not([open])')) continue;
  let opacity = 1;
  for (let e = el; e; e = e.parentElement) opacity *= Number(getComputedStyle(e).opacity);
  if (opacity < 0.05) continue;
  const bg = behind(el);
  if (!bg) continue;
  const c = rgba(cs.color);
  const fg = over([c[0], c[1], c[2], c[3] * opacity], bg);
  const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  const ratio = (a + 0.05) / (b + 0.05);
  const size = parseFloat(cs.fontSize);
  const large = size >= 24 || (size >= 18.66 && Number(cs.fontWeight) >= 700);
  if (ratio < (large ? 3 : 4.5) - 0.005) {
    const round = (x) => x.map(Math.round).join(',');
    failures.push(`${el.textContent.trim().slice(0, 40)} <${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}>: ${ratio.toFixed(2)} (${round(fg)} on ${round(bg)})`);
  }
}
return failures;
"#;

/// Fails with every piece of text on screen below WCAG AA contrast (see [`CONTRAST_FAILURES`]).
fn assert_contrast(session: &Session, screen: &str) {
    let failures = session.script(CONTRAST_FAILURES, json!([]));
    assert_eq!(failures, json!([]), "contrast below WCAG AA on {screen}");
}

#[test]
fn text_keeps_wcag_aa_contrast_in_the_light_and_dark_themes_and_on_the_stage() {
    let _share = ordinary();
    let net = JanusNet::start();
    let link = new_link("contrast-test");
    let mut bob = headless(&net, &link, "Bob", "tone", "120s")
        .spawn()
        .unwrap();
    for (theme, env) in [
        ("light", vec![]),
        ("dark", vec![("GTK_THEME", "Adwaita:dark")]),
    ] {
        let desktop = Desktop::start_with_env(&net, &env);
        let session = Session::start(DRIVER_PORT, app());
        let dark = session.script(
            "return matchMedia('(prefers-color-scheme: dark)').matches",
            json!([]),
        );
        assert_eq!(
            dark,
            json!(theme == "dark"),
            "the page sees the {theme} theme"
        );
        for lang in ["en", "de"] {
            session.find(&format!("button[data-lang={lang}]")).click();
            // A refused link, so that its message is on screen too.
            session.script("document.getElementById('link').value = ''", json!([]));
            session.find("#link").send_keys("conclave://join?room=x");
            session.wait_for(
                "the link to be refused",
                Duration::from_secs(5),
                "return document.getElementById('link-status').dataset.valid === 'false'",
            );
            assert_contrast(&session, &format!("the join screen ({theme}, {lang})"));
            session.find("#open-settings").click();
            assert_contrast(&session, &format!("the settings ({theme}, {lang})"));
            session.find("#settings-cancel").click();
        }
        session.script("document.getElementById('link').value = ''", json!([]));
        prejoin(&session, &link, &format!("Alice {theme}"), "synthetic");
        session.find("#join").click();
        session.wait_for(
            "Bob verified in the meeting",
            Duration::from_secs(20),
            &verified_in_list("Bob"),
        );
        session.find("#toggle-mic").click();
        assert_contrast(&session, &format!("the meeting ({theme})"));
        session.find("#toggle-people").click();
        assert_contrast(&session, &format!("the meeting with its people ({theme})"));
        session.find("#toggle-chat").click();
        assert_contrast(&session, &format!("the meeting with its chat ({theme})"));
        session.find("#leave").click();
        session.wait_for(
            "'You left the meeting.'",
            Duration::from_secs(15),
            "return !document.getElementById('prejoin').hidden\
               && document.getElementById('join-status').textContent === 'You left the meeting.'",
        );
        assert_contrast(&session, &format!("the meeting's end ({theme})"));
        session.close();
        drop(desktop);
    }
    let _ = bob.kill();
    let _ = bob.wait();
}

#[test]
fn the_stage_fills_the_window_for_one_to_nine_people_with_speaker_view_pin_and_full_screen() {
    let _alone = ordinary();
    let net = JanusNet::start();
    let desktop = Desktop::start(&net);
    let shots = Desktop::screenshot_dir("stage");
    let link = new_link("stage-test");
    let session = Session::start(DRIVER_PORT, app());
    // A chime when someone comes or goes (off unless asked for).
    session.find("button[data-lang=en]").click();
    session.find("#open-settings").click();
    session.find("#join-sound").click();
    session.find("#settings-save").click();
    session.wait_for(
        "the settings saved",
        Duration::from_secs(5),
        "return !document.getElementById('settings-dialog').open;",
    );
    prejoin(&session, &link, "Alice", "synthetic");
    session.find("#join").click();

    // Alone: the invitation offered on the stage, our own picture large below it.
    session.wait_for(
        "the meeting, alone",
        Duration::from_secs(30),
        "return !document.getElementById('meeting').hidden\
           && !document.getElementById('alone').hidden",
    );
    assert_stage_fits(&session, 1, "alone");
    save(&shots, "1-alone-en.png", &session);

    // People come: Bob and Carol with cameras (Bob talking), the others with their camera off,
    // and some with their microphone off. Small pictures keep nine of them light.
    let people = [
        ("Bob", "synthetic", "tone", None),
        ("Carol", "synthetic", "none", Some("audio")),
        ("Dave", "none", "none", Some("audio")),
        ("Erin", "none", "none", Some("audio")),
        ("Frank", "none", "none", Some("audio")),
        ("Grace", "none", "none", Some("audio")),
        ("Heidi", "none", "none", Some("audio")),
        ("Ivan", "none", "none", Some("audio")),
    ];
    let mut children = Vec::new();
    let mut join = |range: std::ops::Range<usize>| {
        for (name, camera, mic, mute) in &people[range] {
            let mut command = net.command(conclave());
            command
                .args(["join", &link, "--name", name])
                .args(["--camera", camera, "--mic", mic])
                .args(["--resolution", "160x120", "--fps", "10"])
                .args(["--ice-address", "127.0.0.2", "--duration", "150s"])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if let Some(mute) = mute {
                command.args(["--mute", mute]);
            }
            children.push(command.spawn().unwrap());
        }
    };

    let recording = desktop.sound.record_speaker();
    join(0..1);
    wait_tiles(&session, 1);
    session.wait_for(
        "Bob's picture and the notice that he came",
        Duration::from_secs(20),
        "const t = document.querySelector('#tiles .tile');\
         return parseInt(t.dataset.drawn || '0') > 3\
           && [...document.querySelectorAll('#toasts li')].some(l => l.textContent === 'Bob joined the meeting.')\
           && document.getElementById('alone').hidden;",
    );
    // A notice on the stage changes language with the page.
    session.find("button[data-lang=de]").click();
    let worded = session.script(
        "return [...document.querySelectorAll('#toasts li')].map(l => l.textContent)",
        json!([]),
    );
    session.find("button[data-lang=en]").click();
    assert!(
        worded
            .as_array()
            .unwrap()
            .contains(&json!("Bob nimmt jetzt teil.")),
        "{worded}"
    );
    // Bob's coming was heard: the rising chime (660 then 880 Hz) on the default speaker, beside
    // his 1 kHz tone.
    std::thread::sleep(Duration::from_secs(1));
    let heard = recording.stop();
    let quiet = pulse::power_at(&heard, 770.0).max(1e-12);
    for hz in [660.0, 880.0] {
        let power = pulse::power_at(&heard, hz);
        assert!(
            power > 30.0 * quiet,
            "the chime's {hz} Hz: {power:e} against {quiet:e} at 770 Hz"
        );
    }
    let (small, large) = assert_stage_fits(&session, 2, "two at 1024x720");
    // Two as large as the stage allows, the same size.
    assert!(
        small > 400.0 && (large - small).abs() < 2.0,
        "{small} {large}"
    );
    save(&shots, "2-two-en.png", &session);

    join(1..4);
    wait_tiles(&session, 4);
    // Badges: a microphone off is marked, a camera off shows initials instead of a picture,
    // the connection's bars are there; the test's own microphone off shows on our tile too.
    session.wait_for(
        "Dave's initials and muted badge, Bob without one",
        Duration::from_secs(20),
        "const tile = n => [...document.querySelectorAll('#tiles .tile')]\
           .find(t => t.querySelector('.label').textContent === n);\
         const dave = tile('Dave'), bob = tile('Bob');\
         return dave && bob && dave.classList.contains('camera-off')\
           && getComputedStyle(dave.querySelector('.avatar')).display === 'flex'\
           && dave.querySelector('.avatar').textContent === 'D'\
           && dave.querySelector('.badges .mark[aria-label=\"microphone off\"]') !== null\
           && bob.querySelector('.badges .mark') === null\
           && bob.querySelector('.quality') !== null;",
    );
    assert_stage_fits(&session, 5, "five at 1024x720");
    save(&shots, "3-five-en.png", &session);
    session.find("#toggle-mic").click();
    session.wait_for(
        "our own muted badge",
        Duration::from_secs(5),
        "return document.querySelector('#self-badges .mark') !== null",
    );
    session.find("#toggle-mic").click();
    session.wait_for(
        "our own badge gone",
        Duration::from_secs(5),
        "return document.querySelector('#self-badges .mark') === null",
    );

    join(4..8);
    wait_tiles(&session, 8);
    // The list: ourselves first, then in the tiles' order; the count in the bar.
    session.wait_for(
        "nine in the list and the count",
        Duration::from_secs(20),
        "const names = [...document.querySelectorAll('#participants li:not(.me) .name')].map(n => n.textContent);\
         const tiles = [...document.querySelectorAll('#tiles .tile .label')].map(l => l.textContent);\
         return document.getElementById('people-count').textContent === '9'\
           && names.length === 8 && names.join() === tiles.join();",
    );
    assert_stage_fits(&session, 9, "nine at 1024x720");
    save(&shots, "4-nine-en.png", &session);

    // The smallest window: still all of them, nothing scrolling, the bar whole.
    resize(&desktop, &session, 640, 480);
    assert_stage_fits(&session, 9, "nine at 640x480");
    save(&shots, "5-nine-640x480-en.png", &session);
    session.find("button[data-lang=de]").click();
    std::thread::sleep(Duration::from_millis(300));
    assert_stage_fits(&session, 9, "nine at 640x480 in German");
    save(&shots, "6-nine-640x480-de.png", &session);
    // Speaker view in the smallest window: the strip shows as many as stay legible, and its last
    // place how many more there are, which shows everyone.
    session.find("#toggle-layout").click();
    session.wait_for(
        "someone featured",
        Duration::from_secs(10),
        "return document.querySelector('#tiles .tile.featured') !== null",
    );
    let (small, _) = assert_stage_fits(&session, 5, "speaker view at 640x480");
    assert!(small >= 111.0, "strip pictures {small} px wide");
    assert_eq!(text(&session, "#strip-more"), "+4");
    assert_eq!(
        session.script(
            "return document.getElementById('strip-more').getAttribute('aria-label')",
            json!([])
        ),
        "4 weitere Personen: alle zeigen"
    );
    save(&shots, "6a-speaker-640x480-de.png", &session);
    std::thread::sleep(Duration::from_millis(300));
    session.find("#strip-more").click();
    session.wait_for(
        "the grid",
        Duration::from_secs(5),
        "return document.querySelector('#tiles .tile.featured') === null\
           && getComputedStyle(document.getElementById('strip-more')).display === 'none'",
    );
    assert_stage_fits(&session, 9, "everyone again at 640x480");
    resize(&desktop, &session, 1024, 720);
    // German's longer words fit the bar too (its labels give way to icons where they must).
    assert_stage_fits(&session, 9, "nine at 1024x720 in German");
    save(&shots, "6b-nine-de.png", &session);
    session.find("button[data-lang=en]").click();

    // Speaker view: Bob (the one talking) large, the others in a strip below.
    session.find("#toggle-layout").click();
    session.wait_for(
        "Bob featured",
        Duration::from_secs(10),
        "const f = document.querySelector('#tiles .tile.featured');\
         return f && f.querySelector('.label').textContent === 'Bob';",
    );
    let (small, large) = assert_stage_fits(&session, 9, "speaker view");
    assert!(
        large > 3.0 * small,
        "the speaker large: {large} against {small}"
    );
    save(&shots, "7-speaker-view-en.png", &session);

    // Pin Carol: she takes the stage though Bob talks; unpinned, Bob again.
    session.script(
        "[...document.querySelectorAll('#tiles .tile')]\
           .find(t => t.querySelector('.label').textContent === 'Carol')\
           .querySelector('button.pin').click();",
        json!([]),
    );
    session.wait_for(
        "Carol pinned",
        Duration::from_secs(5),
        "const f = document.querySelector('#tiles .tile.featured');\
         return f && f.querySelector('.label').textContent === 'Carol'\
           && f.querySelector('button.pin').getAttribute('aria-pressed') === 'true';",
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        session.script(
            "return document.querySelector('#tiles .tile.featured .label').textContent",
            json!([])
        ),
        "Carol",
        "a pinned person stays while another speaks"
    );
    assert_stage_fits(&session, 9, "Carol pinned");
    save(&shots, "8-pinned-en.png", &session);
    // Back to the grid: everyone the same size again.
    session.find("#toggle-layout").click();
    session.wait_for(
        "the grid again",
        Duration::from_secs(5),
        "return document.querySelector('#tiles .tile.featured') === null",
    );
    let (small, large) = assert_stage_fits(&session, 9, "grid again");
    assert!((large - small).abs() < 2.0, "{small} {large}");

    // Full screen: one tile fills the screen, and comes back.
    session.script(
        "[...document.querySelectorAll('#tiles .tile')]\
           .find(t => t.querySelector('.label').textContent === 'Bob')\
           .querySelector('button.fullscreen').click();",
        json!([]),
    );
    session.wait_for(
        "Bob's tile in full screen",
        Duration::from_secs(10),
        "const f = document.fullscreenElement;\
         return f && f.classList.contains('tile') && f.querySelector('.label').textContent === 'Bob'\
           && f.getBoundingClientRect().width >= 1000;",
    );
    save(&shots, "9-full-screen-en.png", &session);
    session.script("document.exitFullscreen()", json!([]));
    session.wait_for(
        "full screen left",
        Duration::from_secs(10),
        "return document.fullscreenElement === null",
    );

    // Our own picture as a small overlay: the others have the stage to themselves.
    session.find("#self-mode").click();
    assert_stage_fits(&session, 8, "self-view as an overlay");
    let overlay = session.script(
        "const s = document.getElementById('self-view').getBoundingClientRect();\
         const a = document.getElementById('stage-area').getBoundingClientRect();\
         return s.width < a.width / 4 && s.right <= a.right && s.bottom <= a.bottom;",
        json!([]),
    );
    assert_eq!(overlay, true, "a small overlay in the stage's corner");
    save(&shots, "10-self-overlay-en.png", &session);

    // No browser menu (Back, Reload, Inspect Element) over the meeting; text fields keep theirs.
    assert_eq!(
        session.script(
            "const menu = el => { const e = new MouseEvent('contextmenu', { bubbles: true, cancelable: true });\
               el.dispatchEvent(e); return e.defaultPrevented; };\
             return [menu(document.querySelector('#tiles .tile')), menu(document.getElementById('chat-text'))];",
            json!([])
        ),
        json!([true, false])
    );
    // A reloaded page finds the meeting again, everyone in it, pictures coming.
    session.script("setTimeout(() => location.reload(), 100)", json!([]));
    std::thread::sleep(Duration::from_secs(1));
    session.wait_for(
        "the meeting again after a reload",
        Duration::from_secs(30),
        "return typeof meeting !== 'undefined' && !document.getElementById('meeting').hidden\
           && document.querySelectorAll('#tiles .tile').length === 8\
           && [...document.querySelectorAll('#tiles .tile')].some(t => parseInt(t.dataset.drawn || '0') > 3)\
           && document.getElementById('people-count').textContent === '9'",
    );
    assert_stage_fits(&session, 9, "after a reload");
    session.find("button[data-lang=en]").click();
    save(&shots, "11-reloaded-en.png", &session);

    // Leaving says so.
    session.find("#leave").click();
    session.wait_for(
        "'You left the meeting.'",
        Duration::from_secs(15),
        "return !document.getElementById('prejoin').hidden\
           && document.getElementById('join-status').textContent === 'You left the meeting.'",
    );
    session.close();
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[test]
fn media_goes_through_the_turn_server_set_in_settings_and_a_wrong_password_is_said_in_german() {
    let _share = ordinary();
    let net = JanusNet::start();
    let desktop = Desktop::start(&net);
    // TURN passwords go into the keyring.
    let keyring = support::bus::unlocked_keyring(&net.dir, &desktop.bus);
    let turn = turn::TurnServer::start(&net, "alice", "s3cret");
    let shots = Desktop::screenshot_dir("turn");
    let link = new_link("relayed");
    let bob = headless(&net, &link, "Bob", "tone", "60s").spawn().unwrap();
    let session = Session::start(DRIVER_PORT, app());
    let settings = |servers: &[(&str, &str, &str)], relay_only: bool| {
        session.find("#open-settings").click();
        type_ice_servers(&session, servers);
        session.script(
            "document.getElementById('relay-only').checked = arguments[0];",
            json!([relay_only]),
        );
        session.find("#settings-save").click();
    };
    prejoin(&session, &link, "Alice", "synthetic");
    session.find("button[data-lang=de]").click();

    // Relay-only without a TURN server cannot be saved, and the dialog says why.
    settings(&[("stun:127.0.0.2:3478", "", "")], true);
    session.wait_for(
        "the refusal",
        Duration::from_secs(5),
        "return document.getElementById('settings-error').textContent\
           .startsWith('Medien nur über einen TURN-Server brauchen einen TURN-Server')",
    );
    save(&shots, "0-relay-without-turn-de.png", &session);
    session.find("#settings-cancel").click();
    // A TURN server without its login could never relay: refused, saying which.
    settings(&[(turn::URL, "", "")], true);
    session.wait_for(
        "the refusal of a TURN server without login",
        Duration::from_secs(5),
        "const e = document.getElementById('settings-error').textContent;\
         return e.startsWith('Ein STUN/TURN-Server ist nicht verwendbar')\
           && e.includes('127.0.0.2:3478') && e.includes('user name and password');",
    );
    session.find("#settings-cancel").click();

    // A wrong password: the meeting ends at once, saying what to check, and the app goes on.
    settings(&[(turn::URL, "alice", "wrong")], true);
    session.find("#join").click();
    session.wait_for(
        "the TURN failure on the join screen",
        Duration::from_secs(20),
        "return !document.getElementById('prejoin').hidden\
           && document.getElementById('error').textContent\
             .includes('Der TURN-Server hat kein Relay vergeben')",
    );
    // In sight, not below the preview.
    session.wait_for(
        "the message in view",
        Duration::from_secs(5),
        "return document.getElementById('error').getBoundingClientRect().bottom\
           <= window.innerHeight",
    );
    save(&shots, "1-wrong-turn-password-de.png", &session);

    // The right one: Bob is seen, and the relay carried it.
    settings(&[(turn::URL, "alice", "s3cret")], true);
    session.find("#join").click();
    wait_drawn(
        &session,
        "Bob's tile to draw pictures through the relay",
        Duration::from_secs(30),
        30,
    );
    assert_pattern_moves(&session);
    save(&shots, "2-relayed-de.png", &session);
    session.find("#leave").click();
    let (to_janus, from_janus) = turn.relayed("alice", Duration::from_secs(15));
    assert!(from_janus > 100_000, "{}", turn.text());
    assert!(to_janus > 100_000, "{}", turn.text());
    // The password is in the keyring (as secret-tool sees it), in no file.
    let held = support::bus::secret_tool_search(&desktop.bus, conclave_app::settings::SERVICE);
    assert!(held.contains("s3cret"), "{held}");
    for (path, content) in files(&desktop.home) {
        assert!(
            !String::from_utf8_lossy(&content).contains("s3cret"),
            "{} holds the TURN password",
            path.display()
        );
    }
    // The settings show the saved server again, its password (from the keyring) masked.
    session.find("#open-settings").click();
    let row = session.script(
        "const row = document.querySelector('#ice-list li');\
         const field = (name) => row.querySelector(`input[name=${name}]`);\
         return [field('url').value, field('username').value,\
                 field('credential').value, field('credential').type,\
                 document.querySelectorAll('#ice-list li').length];",
        json!([]),
    );
    assert_eq!(row, json!([turn::URL, "alice", "s3cret", "password", 1]));
    save(&shots, "3-settings-de.png", &session);
    session.find("#settings-cancel").click();
    session.close();
    for mut child in [keyring, bob] {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[test]
fn a_listener_takes_a_camera_during_the_meeting_and_a_missing_microphone_is_said() {
    let _share = ordinary();
    let net = JanusNet::start();
    let _desktop = Desktop::start(&net);
    let shots = Desktop::screenshot_dir("devices");
    let link = new_link("devices-test");
    // Long enough for every step below on a loaded machine.
    let bob = Bob::join(&net, &link, "45s");
    let session = Session::start(DRIVER_PORT, app());
    // Alice joins without camera or microphone: she only listens.
    prejoin(&session, &link, "Alice", "none");
    session.find("#join").click();
    wait_drawn(&session, "Bob's tile", Duration::from_secs(30), 10);
    assert_eq!(
        session.script("return state.video_frames_sent", json!([])),
        0
    );
    // Read in one script: the list is rebuilt on every poll, so a found element can go stale.
    let me = |said: &str| {
        session.wait_for(
            &format!("'{said}' in the list"),
            Duration::from_secs(15),
            &format!(
                "return document.querySelector('#participants .me')?.textContent === '{said}'"
            ),
        );
    };
    me("You · no microphone");
    let self_view = "return document.querySelectorAll('#self-view .tile').length";
    assert_eq!(
        session.script(self_view, json!([])),
        0,
        "no camera, no self-view"
    );

    // In the meeting she picks a microphone that is not there: it is said, and nothing is
    // published for it.
    let open_devices = || {
        session.find("#open-devices").click();
        session.wait_for(
            "the devices dialog",
            Duration::from_secs(15),
            "return document.getElementById('devices-dialog').open",
        );
    };
    session.script(
        "window.connectionsSeen = new Set();\
         setInterval(() => window.connectionsSeen.add(state.connection), 50);",
        json!([]),
    );
    open_devices();
    session.script(
        "const mic = document.getElementById('meeting-microphone');\
         const gone = document.createElement('option');\
         gone.value = 'Nope';\
         mic.append(gone);\
         mic.value = 'Nope';",
        json!([]),
    );
    save(&shots, "1-devices-en.png", &session);
    session.find("#devices-apply").click();
    session.wait_for(
        "the missing microphone, said",
        Duration::from_secs(20),
        "return [...document.querySelectorAll('#warnings li')].some(w => w.textContent\
           === 'No microphone named “Nope” was found; you take part without sound.');",
    );
    // Rejoining would have shown her connecting again for a second or more.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        session.script("return [...window.connectionsSeen]", json!([])),
        json!(["connected"])
    );
    // Then the camera: she publishes it without rejoining, and sends its pictures.
    open_devices();
    session.script(
        "document.getElementById('meeting-camera').value = 'synthetic';",
        json!([]),
    );
    session.find("#devices-apply").click();
    session.wait_for(
        "her video going out",
        Duration::from_secs(20),
        "return state.connection === 'connected' && state.video_frames_sent > 60",
    );
    // She sees herself, small.
    let self_drawn = |pictures: u64| {
        format!(
            "const t = document.querySelector('#self-view .tile');\
             return t && parseInt(t.dataset.drawn || '0') > {pictures};"
        )
    };
    session.wait_for("the self-view", Duration::from_secs(20), &self_drawn(10));
    save(&shots, "2-camera-on-missing-mic-en.png", &session);
    // Camera off: the self-view goes (and the camera is closed); on again: it is back.
    session.find("#toggle-cam").click();
    session.wait_for(
        "no self-view with the camera off",
        Duration::from_secs(15),
        &format!("{self_view} === 0"),
    );
    session.find("#toggle-cam").click();
    session.wait_for(
        "the self-view again",
        Duration::from_secs(20),
        &self_drawn(10),
    );
    session.find("button[data-lang=de]").click();
    session.wait_for(
        "the missing microphone, in German",
        Duration::from_secs(15),
        "return [...document.querySelectorAll('#warnings li')].some(w => w.textContent\
           === 'Kein Mikrofon namens „Nope“ gefunden; Sie nehmen ohne Ton teil.');",
    );
    // A microphone that is there: the warning goes, her voice goes out.
    open_devices();
    session.script(
        "document.getElementById('meeting-microphone').value = 'synthetic';",
        json!([]),
    );
    session.find("#devices-apply").click();
    session.wait_for(
        "no more warning",
        Duration::from_secs(20),
        "return document.querySelectorAll('#warnings li').length === 0",
    );
    me("Sie · Mikrofon an");
    save(&shots, "3-all-devices-de.png", &session);

    // Bob saw her pictures and heard her (after she took the devices: she joined with none).
    let (_, alice) = bob.report();
    assert!(
        alice["video"]["frames_decoded"].as_u64().unwrap() > 60,
        "{alice}"
    );
    assert!(
        alice["audio"]["frames_decrypted"].as_u64().unwrap() > 50,
        "{alice}"
    );
    // No rejoin at all: the camera and the microphone were added to her one connection.
    assert_eq!(alice["handles"].as_array().unwrap().len(), 1, "{alice}");
    assert_eq!(
        session.script("return [...window.connectionsSeen]", json!([])),
        json!(["connected"])
    );
    session.close();
}

/// Bob with his chat on standard input and output (`--chat-stdin`).
struct ChattyBob {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<Value>,
    seen: Vec<Value>,
}

impl ChattyBob {
    fn join(net: &JanusNet, link: &str) -> ChattyBob {
        use std::io::BufRead;
        let mut child = headless(net, link, "Bob", "tone", "90s")
            .arg("--chat-stdin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && tx.send(v).is_err()
                {
                    break;
                }
            }
        });
        ChattyBob {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    fn say(&mut self, line: &str) {
        use std::io::Write;
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn wait_for(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(v) = self.seen.iter().find(|v| wanted(v)) {
                return v.clone();
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => self.seen.push(v),
                Err(_) => panic!("Bob never saw {what}: {:?}", self.seen),
            }
        }
    }
}

impl Drop for ChattyBob {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn chat_private_messages_hands_and_reactions_with_a_headless_participant() {
    let _share = ordinary();
    const INJECTION: &str = "<img src=x onerror=\"document.title='owned'\"> Hallo Alice";
    let net = JanusNet::start();
    // The system's opener, as the app finds it: a stand-in that notes what it was asked to open.
    let bin = net.dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let opened = net.dir.join("opened.txt");
    let opener = bin.join("xdg-open");
    std::fs::write(
        &opener,
        format!("#!/bin/sh\necho \"$1\" >> '{}'\n", opened.display()),
    )
    .unwrap();
    let mut permissions = std::fs::metadata(&opener).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&opener, permissions).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let desktop = Desktop::start_with_env(&net, &[("PATH", &path)]);
    let shots = Desktop::screenshot_dir("chat");
    let link = new_link("chat-test");
    let mut bob = ChattyBob::join(&net, &link);

    let session = Session::start(DRIVER_PORT, app());
    prejoin(&session, &link, "Alice", "synthetic");
    session.find("#join").click();
    session.wait_for(
        "Bob verified in the participant list",
        Duration::from_secs(20),
        &verified_in_list("Bob"),
    );
    bob.wait_for("Alice there", |v| {
        (v["type"] == "joined" || v["type"] == "present") && v["name"] == "Alice"
    });

    // Bob writes while the chat is closed: a badge and a notice; the text shows as text.
    bob.say(INJECTION);
    session.wait_for(
        "the unread badge",
        Duration::from_secs(10),
        "const b = document.getElementById('chat-unread');\
         return !b.hidden && b.textContent === '1'\
           && document.getElementById('notice').textContent.startsWith('Bob: <img src=x');",
    );
    session.find("#toggle-chat").click();
    session.wait_for(
        "Bob's message in the chat, literally",
        Duration::from_secs(5),
        &format!(
            "const m = document.querySelector('#chat-log .chat-message');\
             return m && m.querySelector('.chat-text').textContent === {}\
               && m.querySelector('.chat-head').textContent.startsWith('Bob · ')\
               && m.querySelector('.chat-head').textContent.endsWith('· verified')\
               && !document.querySelector('#chat-log img')\
               && getComputedStyle(document.getElementById('chat-unread')).display === 'none';",
            serde_json::to_string(INJECTION).unwrap()
        ),
    );
    assert_ne!(
        session.script("return document.title", json!([])),
        "owned",
        "the message ran as markup"
    );

    // Alice answers everyone, then Bob alone.
    session.find("#chat-text").send_keys("Hallo Bob, grüß dich");
    session.find("#chat-send").click();
    let m = bob.wait_for("Alice's message", |v| {
        v["type"] == "chat" && v["text"] == "Hallo Bob, grüß dich"
    });
    assert_eq!(
        (
            m["name"].as_str(),
            m["verified"].as_bool(),
            m["private"].as_bool()
        ),
        (Some("Alice"), Some(true), Some(false)),
        "{m}"
    );
    session.wait_for(
        "Bob among the addressees",
        Duration::from_secs(5),
        "return [...document.querySelectorAll('#chat-to option')].some(o => o.textContent === 'Bob');",
    );
    session.script(
        "const s = document.getElementById('chat-to');\
         s.value = [...s.options].find(o => o.textContent === 'Bob').value;",
        json!([]),
    );
    session.find("#chat-text").send_keys("nur für dich");
    session.find("#chat-send").click();
    let m = bob.wait_for("Alice's private message", |v| {
        v["type"] == "chat" && v["text"] == "nur für dich"
    });
    assert_eq!(m["private"], true, "{m}");
    session.wait_for(
        "her private message marked so",
        Duration::from_secs(5),
        "return [...document.querySelectorAll('#chat-log .chat-message[data-private=true] .chat-head')]\
           .some(h => h.textContent.endsWith('private to Bob'));",
    );

    // Hands: Alice raises hers (Bob sees it), Bob his (Alice sees it, first in line).
    // By the page's own handler, not at coordinates a layout change may have moved.
    session.script("document.getElementById('toggle-hand').click()", json!([]));
    bob.wait_for("Alice's hand", |v| {
        v["type"] == "hand" && v["name"] == "Alice" && v["up"] == true
    });
    bob.say("/hand up");
    session.wait_for(
        "Bob's hand",
        Duration::from_secs(10),
        "return document.getElementById('toggle-hand').textContent === 'Lower hand'\
           && [...document.querySelectorAll('#participants .hand')]\
             .some(h => h.textContent === '✋ hand raised (1.)')\
           && [...document.querySelectorAll('#tiles .tile .badges .mark')]\
             .some(m => m.getAttribute('aria-label') === '✋ hand raised (1.)');",
    );

    // Reactions, both ways.
    bob.say("/react 🎉");
    session.wait_for(
        "Bob's reaction over his tile",
        Duration::from_secs(10),
        "return [...document.querySelectorAll('#tiles .tile .reaction')].some(r => r.textContent === '🎉');",
    );
    save(&shots, "1-chat-en.png", &session);
    // His tile follows his switches: a badge while his microphone is off, his initials while his
    // camera is; both gone once they are on again.
    let bob_tile = "const t = [...document.querySelectorAll('#tiles .tile')]\
                      .find(t => t.querySelector('.label').textContent === 'Bob');";
    bob.say("/mic off");
    bob.say("/camera off");
    session.wait_for(
        "Bob's tile muted and without a picture",
        Duration::from_secs(10),
        &format!(
            "{bob_tile} return !!t && t.querySelector('.badges .mark[aria-label=\"microphone off\"]') !== null\
               && t.classList.contains('camera-off')\
               && getComputedStyle(t.querySelector('.avatar')).display === 'flex'\
               && t.querySelector('.avatar').textContent === 'B';"
        ),
    );
    save(&shots, "1b-bob-muted-en.png", &session);
    bob.say("/mic on");
    bob.say("/camera on");
    session.wait_for(
        "Bob's tile back",
        Duration::from_secs(10),
        &format!(
            "{bob_tile} return !!t && t.querySelector('.badges .mark[aria-label=\"microphone off\"]') === null\
               && !t.classList.contains('camera-off');"
        ),
    );
    session.find("#open-reactions").click();
    session.find("#reactions button:first-child").click();
    bob.wait_for("Alice's reaction", |v| {
        v["type"] == "reaction" && v["name"] == "Alice" && v["emoji"] == "👍"
    });

    // Lowering her hand: her button says so, and Bob sees it.
    // By the page's own handler, not at coordinates a layout change may have moved.
    session.script("document.getElementById('toggle-hand').click()", json!([]));
    session.wait_for(
        "her hand lowered in the window",
        Duration::from_secs(10),
        "return document.getElementById('toggle-hand').textContent === 'Raise hand';",
    );
    bob.wait_for("Alice's hand down", |v| {
        v["type"] == "hand" && v["name"] == "Alice" && v["up"] == false
    });

    // A web address in the chat is a link; it opens in the browser only once confirmed.
    bob.say("Agenda: https://example.org/agenda?day=2 bitte lesen");
    session.wait_for(
        "the link in Bob's message",
        Duration::from_secs(10),
        "return [...document.querySelectorAll('#chat-log a.chat-link')]\
           .some(a => a.textContent === 'https://example.org/agenda?day=2');",
    );
    session.script(
        "[...document.querySelectorAll('#chat-log a.chat-link')].pop().click();",
        json!([]),
    );
    session.wait_for(
        "the question before opening",
        Duration::from_secs(5),
        "return document.getElementById('open-link-dialog').open\
           && document.getElementById('open-link-url').textContent === 'https://example.org/agenda?day=2';",
    );
    assert!(!opened.exists(), "opened before the user said so");
    session.find("#open-link-yes").click();
    wait_until("the browser to be asked", Duration::from_secs(10), || {
        std::fs::read_to_string(&opened)
            .is_ok_and(|t| t.trim() == "https://example.org/agenda?day=2")
    });

    // Saved only where the user says, with the system's file chooser.
    let saved = net.dir.join("our-chat.txt");
    session.find("#chat-save").click();
    desktop.focus_window("^Save chat", Duration::from_secs(20));
    desktop.xdotool(&["key", "ctrl+a"]);
    desktop.xdotool(&["type", "--delay", "20", saved.to_str().unwrap()]);
    desktop.xdotool(&["key", "Return"]);
    session.wait_for(
        "the chat saved",
        Duration::from_secs(10),
        "return document.getElementById('chat-saved').textContent === 'Chat saved.';",
    );
    let text = std::fs::read_to_string(&saved).unwrap();
    assert!(
        text.contains("You: Hallo Bob, grüß dich")
            && text.contains("Bob: Agenda: https://example.org"),
        "{text}"
    );

    // German.
    session.find("button[data-lang=de]").click();
    session.wait_for(
        "the chat in German",
        Duration::from_secs(5),
        "return document.getElementById('toggle-hand').textContent === 'Hand heben'\
           && document.getElementById('chat-send').textContent === 'Senden'\
           && [...document.querySelectorAll('#participants .hand')]\
             .some(h => h.textContent === '✋ Hand gehoben (1.)');",
    );
    save(&shots, "2-chat-de.png", &session);

    // Leaving leaves nothing of the chat behind.
    session.find("#leave").click();
    session.wait_for(
        "the pre-join screen with no chat left",
        Duration::from_secs(10),
        "return !document.getElementById('prejoin').hidden\
           && document.querySelectorAll('#chat-log li').length === 0;",
    );
    session.close();
}

#[test]
fn a_new_meeting_is_started_in_the_app_and_a_headless_participant_joins_from_the_invitation() {
    let _share = ordinary();
    let net = JanusNet::start();
    let desktop = Desktop::start(&net);
    let shots = Desktop::screenshot_dir("new-meeting");
    let session = Session::start(DRIVER_PORT, app());
    session.find("button[data-lang=en]").click();

    // No meeting server yet: said plainly, nothing else happens.
    session.find("#new-meeting").click();
    session.wait_for(
        "the missing server said",
        Duration::from_secs(5),
        "return document.getElementById('new-meeting-error').textContent\
           .startsWith('No meeting server is set');",
    );
    // The organisation's server, in the settings; and the microphone's clean-up, on by
    // default, with noise suppression turned off (a studio microphone).
    session.find("#open-settings").click();
    session.find("#meeting-server").send_keys(janus::WS_URL);
    for (id, on) in [
        ("echo-cancellation", true),
        ("noise-suppression", true),
        ("gain-control", true),
    ] {
        assert_eq!(
            session.script(
                &format!("return document.getElementById('{id}').checked"),
                json!([])
            ),
            on,
            "{id}"
        );
    }
    session.find("#noise-suppression").click();
    // Where the organisation hosts the join page: an http:// one is refused with the reason.
    session
        .find("#invitation-page")
        .send_keys("http://meet.example.org");
    session.find("#settings-save").click();
    session.wait_for(
        "the invitation page refused",
        Duration::from_secs(5),
        "return document.getElementById('settings-error').textContent\
           .startsWith('The invitation page must be an https:// address');",
    );
    session.script(
        "document.getElementById('invitation-page').value = ''",
        json!([]),
    );
    session
        .find("#invitation-page")
        .send_keys("https://meet.example.org");
    save(&shots, "0-settings-en.png", &session);
    session.find("#settings-save").click();
    session.wait_for(
        "the settings saved",
        Duration::from_secs(5),
        "return !document.getElementById('settings-dialog').open;",
    );
    let saved = saved_settings(&desktop.home);
    assert_eq!(
        saved["sound"],
        json!({"echoCancellation": true, "noiseSuppression": false, "gainControl": true}),
        "{saved}"
    );
    session.find("#open-settings").click();
    assert_eq!(
        session.script(
            "return document.getElementById('noise-suppression').checked",
            json!([])
        ),
        false,
        "kept off"
    );
    session.find("#settings-cancel").click();

    session.find("#new-meeting").click();
    session.wait_for(
        "a new meeting's link",
        Duration::from_secs(5),
        "return document.getElementById('link-status').dataset.valid === 'true'\
           && !document.getElementById('invitation').hidden\
           && document.getElementById('invitation-room').textContent.startsWith('Room ');",
    );
    let link = session.script("return document.getElementById('link').value", json!([]));
    let link = link.as_str().unwrap().to_owned();
    assert!(link.starts_with("conclave://"), "{link}");
    session.find("#copy-invitation").click();
    session.wait_for(
        "the invitation copied",
        Duration::from_secs(5),
        "return document.getElementById('invitation-status').textContent.startsWith('Invitation copied');",
    );
    // As a mail program would paste it.
    let invitation = desktop.clipboard();
    assert!(invitation.contains("end-to-end encrypted"), "{invitation}");
    let pasted = invitation
        .lines()
        .find(|l| l.starts_with("conclave://"))
        .unwrap_or_else(|| panic!("no link in {invitation:?}"));
    assert_eq!(pasted, link);
    // And the link any mail program opens: the organisation's join page, which hands the same
    // link to Conclave (its script, run here in WebKit, makes the conclave:// form of it).
    let clickable = invitation
        .lines()
        .find(|l| l.starts_with("https://meet.example.org/join?"))
        .unwrap_or_else(|| panic!("no https link in {invitation:?}"));
    let (before_hash, hash) = clickable.split_at(clickable.find('#').unwrap());
    let search = &before_hash[before_hash.find('?').unwrap()..];
    let page = include_str!("../../assets/landing/join.html");
    let function = &page[page.find("function conclaveLink").unwrap()..];
    let function = &function[..function.find("\n      }\n").unwrap() + 8];
    assert_eq!(
        session.script(
            &format!("{function}\nreturn conclaveLink(arguments[0], arguments[1]);"),
            json!([search, hash])
        ),
        json!(link),
        "the join page's conclave:// link"
    );
    save(&shots, "1-new-meeting-en.png", &session);

    // Bob joins from the clickable invitation; Alice from the app.
    let bob = headless(&net, clickable, "Bob", "tone", "30s")
        .spawn()
        .unwrap();
    session.find("#name").send_keys("Alice");
    choose_devices(&session, "synthetic");
    session.find("#join").click();
    session.wait_for(
        "Bob verified in the meeting",
        Duration::from_secs(20),
        &verified_in_list("Bob"),
    );
    // Inviting more from the meeting: the same invitation.
    session.script("navigator.clipboard?.writeText?.('')", json!([]));
    session.find("#invite").click();
    session.wait_for(
        "the invitation copied again",
        Duration::from_secs(5),
        "return document.getElementById('notice').textContent.startsWith('Invitation copied');",
    );
    assert_eq!(desktop.clipboard(), invitation);
    save(&shots, "2-invited-en.png", &session);
    session.find("#leave").click();
    session.close();
    let mut bob = bob;
    let _ = bob.kill();
    let _ = bob.wait();
}

#[test]
fn an_organisations_policy_file_presets_the_meeting_server_and_locks_it() {
    let _share = ordinary();
    let net = JanusNet::start();
    // What an administrator puts in /etc/conclave/policy.json (here named by CONCLAVE_POLICY).
    let policy = net.dir.join("policy.json");
    std::fs::write(
        &policy,
        json!({ "meetingServer": janus::WS_URL, "locked": ["meetingServer"] }).to_string(),
    )
    .unwrap();
    let desktop = Desktop::start_with_env(&net, &[("CONCLAVE_POLICY", policy.to_str().unwrap())]);
    let shots = Desktop::screenshot_dir("policy");
    let session = Session::start(DRIVER_PORT, app());
    session.find("button[data-lang=en]").click();

    // Nothing set by the user, yet "New meeting" has a server: the organisation's.
    session.find("#new-meeting").click();
    session.wait_for(
        "a new meeting at the organisation's server",
        Duration::from_secs(5),
        "return document.getElementById('link-status').dataset.valid === 'true'",
    );
    let link = session.script("return document.getElementById('link').value", json!([]));
    let parsed = conclave_room::JoinLink::parse(link.as_str().unwrap()).unwrap();
    assert_eq!(parsed.sfu.url.trim_end_matches('/'), janus::WS_URL);

    // The settings show it greyed out and say who set it.
    session.find("#open-settings").click();
    session.wait_for(
        "the locked server",
        Duration::from_secs(5),
        &format!(
            "return document.getElementById('meeting-server').disabled\
               && document.getElementById('meeting-server').value === {}\
               && !document.getElementById('policy-note').hidden\
               && document.getElementById('policy-note').textContent.startsWith('Your organisation sets')\
               && !document.getElementById('relay-only').disabled",
            json!(janus::WS_URL)
        ),
    );
    save(&shots, "0-settings-locked-en.png", &session);
    session.find("#settings-cancel").click();
    session.find("button[data-lang=de]").click();
    session.find("#open-settings").click();
    session.wait_for(
        "the note in German",
        Duration::from_secs(5),
        "return document.getElementById('policy-note').textContent.includes('Organisation')",
    );
    save(&shots, "1-settings-locked-de.png", &session);
    // Saving does not write the organisation's server into the user's file.
    session.find("#settings-save").click();
    session.wait_for(
        "the settings saved",
        Duration::from_secs(5),
        "return !document.getElementById('settings-dialog').open;",
    );
    let saved = saved_settings(&desktop.home);
    assert!(saved["meetingServer"].is_null(), "{saved}");
    session.close();
}

#[test]
fn a_new_meeting_on_a_galene_server_from_the_settings_meets_a_headless_participant() {
    let _share = ordinary();
    let net = JanusNet::without_janus();
    let _galene = galene::Galene::start(&net);
    let _desktop = Desktop::start(&net);
    let shots = Desktop::screenshot_dir("galene");
    let session = Session::start(DRIVER_PORT, app());
    session.find("button[data-lang=en]").click();
    session.find("#open-settings").click();
    session.find("#meeting-server").send_keys(galene::SFU);
    session.find("#settings-save").click();
    session.wait_for(
        "the settings saved",
        Duration::from_secs(5),
        "return !document.getElementById('settings-dialog').open;",
    );
    session.find("#new-meeting").click();
    session.wait_for(
        "a new meeting's link",
        Duration::from_secs(5),
        "return document.getElementById('link-status').dataset.valid === 'true';",
    );
    let link = session.script("return document.getElementById('link').value", json!([]));
    let link = link.as_str().unwrap().to_owned();
    assert!(
        link.contains("galene%2Bws"),
        "the link keeps the dialect: {link}"
    );

    let bob = headless(&net, &link, "Bob", "tone", "30s").spawn().unwrap();
    session.find("#name").send_keys("Alice");
    choose_devices(&session, "synthetic");
    session.find("#join").click();
    session.wait_for(
        "Bob verified in the meeting",
        Duration::from_secs(20),
        &verified_in_list("Bob"),
    );
    wait_drawn(&session, "Bob's pictures", Duration::from_secs(15), 30);
    assert_pattern_moves(&session);
    save(&shots, "1-galene-meeting-en.png", &session);
    session.find("#leave").click();
    session.close();
    let mut bob = bob;
    let _ = bob.kill();
    let _ = bob.wait();
}

/// `scripts/demo`, which `scripts/run` offers on a first run: a real SFU on loopback, a synthetic
/// participant, and the app opened on the link (here a second launch, which hands the link to the
/// running app as a clicked link would). The newcomer enters a name and is in an encrypted meeting
/// with moving pictures; when Conclave quits, the demo's SFU and participant are gone.
#[test]
fn the_first_run_demo_is_a_working_encrypted_meeting_that_ends_with_the_app() {
    let _share = ordinary();
    let net = JanusNet::without_janus();
    let desktop = Desktop::start(&net);
    let shots = Desktop::screenshot_dir("demo");
    let session = Session::start(DRIVER_PORT, app());
    session.find("button[data-lang=en]").click();

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/demo");
    let bin = conclave().parent().unwrap().to_owned();
    let mut demo = net.command("bash");
    desktop.app_env(&mut demo);
    let log = std::fs::File::create(net.dir.join("demo.log")).unwrap();
    let mut demo = demo
        .arg(&script)
        .arg(&bin)
        .env("CONCLAVE_GALENE", galene::binary())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();

    session.wait_for(
        "the demo's link in the form",
        Duration::from_secs(60),
        "return document.getElementById('link-status').dataset.valid === 'true';",
    );
    let link = session.script("return document.getElementById('link').value", json!([]));
    assert!(
        link.as_str()
            .unwrap()
            .contains("galene%2Bws%3A%2F%2F127.0.0.1"),
        "a meeting on loopback: {link}"
    );
    assert_eq!(
        session.script("return document.activeElement.id", json!([])),
        "name",
        "the name is what is left to fill in"
    );
    save(&shots, "1-demo-link-en.png", &session);
    session.find("#name").send_keys("Newcomer");
    choose_devices(&session, "synthetic");
    session.find("#join").click();
    session.wait_for(
        "the demo participant verified in the meeting",
        Duration::from_secs(30),
        &verified_in_list("Conclave demo"),
    );
    wait_drawn(&session, "the demo's pictures", Duration::from_secs(20), 30);
    assert_pattern_moves(&session);
    save(&shots, "2-demo-meeting-en.png", &session);
    assert_eq!(demo.try_wait().unwrap(), None, "the demo runs with the app");

    session.find("#leave").click();
    session.close();
    wait_until(
        "the demo to end with the app",
        Duration::from_secs(30),
        || demo.try_wait().unwrap().is_some(),
    );
    assert!(!net.listening(18443), "the demo's SFU is gone");
    let log = std::fs::read_to_string(net.dir.join("demo.log")).unwrap();
    assert!(log.contains("A demo meeting is running"), "{log}");
}

#[test]
fn the_app_shares_its_screen_and_shows_a_headless_participants_share_on_the_stage() {
    let _share = ordinary();
    let net = JanusNet::start();
    let desktop = Desktop::start(&net);
    let shots = Desktop::screenshot_dir("share");
    let link = new_link("share-test");
    // Bob shares a synthetic page from 15 s on, for 12 s; he stays long enough to see Alice's
    // share end (every step below, on a loaded machine).
    let share = [
        "--share",
        "synthetic",
        "--share-after",
        "15s",
        "--share-for",
        "12s",
    ];
    let bob = Bob::join_with(&net, &link, "75s", &share);
    let session = Session::start(DRIVER_PORT, app());
    prejoin(&session, &link, "Alice", "synthetic");
    session.find("#join").click();
    session.wait_for(
        "Bob verified in the meeting",
        Duration::from_secs(30),
        &verified_in_list("Bob"),
    );

    // Another program's window on the same desktop.
    let _report = open_x_window(&desktop.display, "Quarterly report");
    // Alice shares that window from the bar: the picker offers the whole screen first, then
    // the window, each with a picture of it (not the app's own window).
    session.find("#toggle-share").click();
    session.wait_for(
        "the share picker",
        // Thumbnails of every window, the other program's among them once its window manager
        // lists it: 10 s ran out once in CI on a loaded machine.
        Duration::from_secs(30),
        "const items = [...document.querySelectorAll('#share-list li')];\
         return document.getElementById('share-dialog').open\
           && items[0]?.textContent.trim() === 'Entire screen'\
           && items.some(li => li.textContent.trim() === 'Quarterly report' && li.querySelector('canvas'))\
           && !items.some(li => li.textContent.includes('Conclave'));",
    );
    save(&shots, "1-picker-en.png", &session);
    session.script(
        "[...document.querySelectorAll('#share-list li')]\
           .find(li => li.textContent.trim() === 'Quarterly report').querySelector('input').click();",
        json!([]),
    );
    session.find("#share-start").click();
    session.wait_for(
        "'You are sharing' and the button pressed",
        Duration::from_secs(10),
        "return !document.getElementById('sharing-banner').hidden\
           && document.getElementById('toggle-share').getAttribute('aria-pressed') === 'true'\
           && state.sharing === true;",
    );

    // Bob's share takes the stage, with his name.
    let stage_drawn = "const t = document.querySelector('#stage .tile');\
                       return !document.getElementById('stage').hidden && t\
                         && parseInt(t.dataset.drawn || '0') > 5;";
    session.wait_for(
        "Bob's share on the stage",
        Duration::from_secs(40),
        stage_drawn,
    );
    assert_eq!(
        text(&session, "#stage-caption"),
        "Bob is sharing their screen"
    );
    save(&shots, "2-stage-en.png", &session);
    session.find("button[data-lang=de]").click();
    session.wait_for(
        "the caption in German",
        Duration::from_secs(5),
        "return document.getElementById('stage-caption').textContent === 'Bob teilt den Bildschirm';",
    );
    save(&shots, "3-stage-de.png", &session);
    session.find("button[data-lang=en]").click();
    // Back to everyone's tiles, and to the stage again.
    session.find("#stage-grid").click();
    session.wait_for(
        "the grid",
        Duration::from_secs(5),
        "return document.getElementById('stage').hidden\
           && !document.getElementById('stage-back').hidden;",
    );
    session.find("#stage-show").click();
    // A fresh tile waits for a keyframe, and a still page sends a picture only when it changes
    // (once a second): a first picture drawn is the stage back.
    session.wait_for(
        "the stage again",
        Duration::from_secs(15),
        "const t = document.querySelector('#stage .tile');\
         return !document.getElementById('stage').hidden && t\
           && parseInt(t.dataset.drawn || '0') > 0;",
    );

    // Alice stops from the tray, starts again from the tray (its picker is the window's), and
    // stops from the banner; Bob's share ends by itself and leaves the stage.
    let stopped =
        "return document.getElementById('sharing-banner').hidden && state.sharing === false;";
    let tray = TrayHost::find(&desktop.bus, Duration::from_secs(10));
    wait_until("the tray's Stop sharing", Duration::from_secs(10), || {
        tray.menu().iter().any(|e| e.label == "Stop sharing")
    });
    tray.click("Stop sharing");
    session.wait_for(
        "sharing stopped from the tray",
        Duration::from_secs(10),
        stopped,
    );
    wait_until(
        "the tray's Share screen…",
        Duration::from_secs(10),
        || tray.menu().iter().any(|e| e.label == "Share screen…"),
    );
    tray.click("Share screen…");
    session.wait_for(
        "the share picker, from the tray",
        Duration::from_secs(10),
        "return document.getElementById('share-dialog').open;",
    );
    session.find("#share-start").click();
    session.wait_for(
        "sharing again",
        Duration::from_secs(10),
        "return !document.getElementById('sharing-banner').hidden && state.sharing === true;",
    );
    session.find("#stop-sharing").click();
    session.wait_for(
        "sharing stopped from the banner",
        Duration::from_secs(10),
        stopped,
    );
    session.wait_for(
        "the stage gone with Bob's share",
        Duration::from_secs(30),
        "return document.getElementById('stage').hidden\
           && document.getElementById('stage-back').hidden;",
    );
    save(&shots, "4-share-ended-en.png", &session);
    session.find("#leave").click();
    session.close();

    let (_, alice) = bob.report();
    // A screen that hardly changes sends little (a still picture costs nothing): what counts is
    // that her share arrived, sealed as one, and decoded.
    let tracks = alice["video_tracks"].as_array().unwrap();
    assert!(
        tracks
            .iter()
            .any(|t| t["share_frames"].as_u64().unwrap() > 0
                && t["frames_decoded"].as_u64().unwrap() > 0),
        "Alice's share reached Bob: {alice}"
    );
    assert!(alice["share_feed"].is_null(), "and ended: {alice}");
}

/// Opens a window titled `title` on the X display `display` (a light grey square with a dark
/// bar, as another program's window would be); it stays while the connection lives.
fn open_x_window(display: &str, title: &str) -> x11rb::rust_connection::RustConnection {
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::{
        AtomEnum, ConnectionExt, CreateGCAux, CreateWindowAux, PropMode, Rectangle, WindowClass,
    };
    use x11rb::wrapper::ConnectionExt as _;
    let (conn, screen) = x11rb::connect(Some(display)).expect("the desktop's X server");
    let root = conn.setup().roots[screen].root;
    let window = conn.generate_id().unwrap();
    conn.create_window(
        24,
        window,
        root,
        600,
        300,
        480,
        320,
        0,
        WindowClass::INPUT_OUTPUT,
        0,
        &CreateWindowAux::new().background_pixel(0x00dd_dddd),
    )
    .unwrap();
    conn.change_property8(
        PropMode::REPLACE,
        window,
        AtomEnum::WM_NAME,
        AtomEnum::STRING,
        title.as_bytes(),
    )
    .unwrap();
    conn.map_window(window).unwrap();
    let gc = conn.generate_id().unwrap();
    conn.create_gc(gc, window, &CreateGCAux::new().foreground(0x0020_3040))
        .unwrap();
    conn.sync().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    conn.poly_fill_rectangle(
        window,
        gc,
        &[Rectangle {
            x: 20,
            y: 20,
            width: 440,
            height: 60,
        }],
    )
    .unwrap();
    conn.sync().unwrap();
    conn
}
