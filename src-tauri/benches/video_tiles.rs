//! What showing video costs the app: CPU of the app and of WebKit's web process, the tiles' frame
//! rate and latency, and resident memory, for one 1280x720 and four 640x360 tiles at 30 fps, with
//! both ways of getting video onto the page (`ui/video.js`): decoded I420 drawn by a WebGL shader
//! ("i420") and H.264 decoded in the page by WebCodecs ("h264").
//!
//! - `synthetic`: the app plays looped, pre-encoded test-pattern streams into the tiles (feature
//!   `bench-feeds`), so only getting video onto the page competes for the cores; then the same
//!   with the window hidden (as when the call is kept in the tray);
//! - `meeting`: the app listens in a real meeting on Janus with five headless publishers.
//!
//! Run:
//!
//!     cargo build --release -p conclave
//!     cargo bench -p conclave-app --features bench-feeds --bench video_tiles [-- synthetic|meeting]
//!
//! Needs what the window tests need (root, Janus, Xvfb, WebKitWebDriver, tauri-driver).

#[path = "../../tests/support/janus.rs"]
#[allow(dead_code)]
mod janus;
#[path = "../../tests/support/pulse.rs"]
mod pulse;
#[path = "../tests/support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use janus::JanusNet;
use serde_json::json;
use support::app::{app, conclave, new_link};
use support::desktop::{DRIVER_PORT, Desktop};
use support::webdriver::Session;

const SECONDS: u64 = 15;

/// CPU seconds (user + system) and resident KiB of a process.
fn usage(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().ok()? + fields[12].parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches(" kB")
        .parse()
        .ok()?;
    Some((ticks as f64 / 100.0, rss))
}

/// CPU seconds per thread name of a process.
fn threads(pid: u32) -> std::collections::HashMap<String, f64> {
    let mut by_name = std::collections::HashMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return by_name;
    };
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        *by_name.entry(stat[open + 1..close].to_owned()).or_default() +=
            (ticks(11) + ticks(12)) / 100.0;
    }
    by_name
}

/// Processes whose command line contains `needle`.
fn pids(needle: &str) -> Vec<u32> {
    let out = Command::new("pgrep").args(["-f", needle]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

const SIZES: [&str; 5] = ["1280x720", "640x360", "640x360", "640x360", "640x360"];
const TRANSPORTS: [&str; 2] = ["i420", "h264"];

fn main() {
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if only.as_deref() != Some("meeting") {
        for transport in TRANSPORTS {
            synthetic(transport);
        }
    }
    if only.as_deref() != Some("synthetic") {
        for transport in TRANSPORTS {
            meeting(transport);
        }
    }
}

/// Measures the app and WebKit while the page shows `expected` tiles, for [`SECONDS`].
fn measure(session: &Session, what: &str, expected: usize) {
    session.wait_for(
        "the tiles drawing",
        Duration::from_secs(60),
        &format!(
            "const t = [...document.querySelectorAll('.tile[data-pseudonym]')];\
             return t.length === {expected} && t.every(e => parseInt(e.dataset.drawn || '0') > 60);"
        ),
    );
    sample(session, what);
}

/// The app's and WebKit's CPU and memory and the tiles' pictures over [`SECONDS`], as they are.
fn sample(session: &Session, what: &str) {
    // (canvas width, pictures drawn, summed latency in ms) per tile.
    let drawn = || -> Vec<(u64, u64, u64)> {
        let v = session.script(
            "return [...document.querySelectorAll('.tile[data-pseudonym]')].map(e => [\
               e.querySelector('canvas').width,\
               parseInt(e.dataset.drawn || '0'),\
               parseInt(e.dataset.latencyMs || '0')]);",
            json!([]),
        );
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p[0].as_u64().unwrap(),
                    p[1].as_u64().unwrap(),
                    p[2].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let app_pids = pids("release/conclave-app");
    let web_pids = pids("WebKitWebProcess");
    let total = |list: &[u32]| -> (f64, u64) {
        list.iter()
            .filter_map(|&p| usage(p))
            .fold((0.0, 0), |(c, r), (c2, r2)| (c + c2, r + r2))
    };
    let threads0: Vec<_> = app_pids
        .iter()
        .chain(&web_pids)
        .map(|&p| (p, threads(p)))
        .collect();
    let (app0, web0, drawn0, t0) = (total(&app_pids), total(&web_pids), drawn(), Instant::now());
    std::thread::sleep(Duration::from_secs(SECONDS));
    let (app1, web1, drawn1) = (total(&app_pids), total(&web_pids), drawn());
    let elapsed = t0.elapsed().as_secs_f64();
    println!("{what}, {elapsed:.1} s:");
    println!(
        "  app process: {:.0} % of a core, RSS {} MiB",
        100.0 * (app1.0 - app0.0) / elapsed,
        app1.1 / 1024
    );
    println!(
        "  WebKit web process: {:.0} % of a core, RSS {} MiB",
        100.0 * (web1.0 - web0.0) / elapsed,
        web1.1 / 1024
    );
    // Where the time goes: the busiest threads of each process (by name; WebKit's UI side runs in
    // the app process).
    for (pid, before) in &threads0 {
        let after = threads(*pid);
        let mut busy: Vec<(String, f64)> = after
            .iter()
            .map(|(name, t)| {
                let used = t - before.get(name).copied().unwrap_or(0.0);
                (name.clone(), 100.0 * used / elapsed)
            })
            .filter(|(_, percent)| *percent >= 2.0)
            .collect();
        busy.sort_by(|a, b| b.1.total_cmp(&a.1));
        let list: Vec<String> = busy.iter().map(|(n, p)| format!("{n} {p:.0} %")).collect();
        println!("  threads of {pid}: {}", list.join(", "));
    }
    for (a, b) in drawn0.iter().zip(&drawn1) {
        let pictures = b.1 - a.1;
        println!(
            "  tile {} px wide: {:.1} pictures/s drawn, {:.0} ms mean from the app to the page",
            b.0,
            pictures as f64 / elapsed,
            (b.2 - a.2) as f64 / pictures.max(1) as f64
        );
    }
}

/// The app plays five looped streams into five tiles; nothing else runs.
fn synthetic(transport: &str) {
    let net = JanusNet::start();
    let feeds = SIZES.join(",");
    let decode = if transport == "i420" { "1" } else { "0" };
    let desktop = Desktop::start_with_env(
        &net,
        &[
            ("CONCLAVE_BENCH_FEEDS", &feeds),
            ("CONCLAVE_BENCH_DECODE", decode),
        ],
    );
    let session = Session::start(DRIVER_PORT, app());
    let participants: Vec<_> = (0..SIZES.len())
        .map(|i| {
            json!({
                "pseudonym": format!("p{i}"), "display_name": format!("P{i}"),
                "feeds": [1001 + i], "video": { "frames_decoded": 0 }, "sending_video": true,
            })
        })
        .collect();
    session.script(
        "const camera = document.getElementById('camera');\
         camera.value = 'none';\
         camera.dispatchEvent(new Event('change'));\
         videoTransport.name = arguments[0];\
         const grid = document.createElement('div');\
         grid.style = 'display:grid;grid-template-columns:repeat(3,1fr);position:fixed;inset:0;';\
         document.body.append(grid);\
         syncTiles(grid, arguments[1], { frames: () => '', speaking: () => false });",
        json!([transport, participants]),
    );
    measure(
        &session,
        &format!("synthetic, 1x1280x720 + 4x640x360 looped at 30 fps, {transport}"),
        SIZES.len(),
    );
    // Hidden, as closing the window to the tray does.
    desktop.hide_app_window();
    session.wait_for(
        "the page hidden",
        Duration::from_secs(10),
        "return document.hidden",
    );
    sample(
        &session,
        &format!("synthetic, the same with the window hidden, {transport}"),
    );
    session.close();
}

/// The app listens in a real meeting with five publishers.
fn meeting(transport: &str) {
    // Needs the release CLI next to the release app: cargo build --release -p conclave.
    let cli = conclave();
    let net = JanusNet::start();
    let _desktop = Desktop::start(&net);
    let link = new_link("bench");
    let mut publishers = Vec::new();
    for (i, size) in SIZES.iter().enumerate() {
        let bitrate = if i == 0 { "1500k" } else { "500k" };
        publishers.push(
            net.command(&cli)
                .args(["join", &link, "--name", &format!("P{i}")])
                .args(["--camera", "synthetic", "--mic", "tone"])
                .args(["--resolution", size, "--bitrate", bitrate])
                .args(["--ice-address", "127.0.0.2", "--duration", "90s"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
    }
    let session = Session::start(DRIVER_PORT, app());
    session.script("videoTransport.name = arguments[0];", json!([transport]));
    session.find("#link").send_keys(&link);
    session.find("#name").send_keys("Listener");
    session.script(
        "document.getElementById('camera').value = 'none';\
         document.getElementById('microphone').value = 'none';\
         document.getElementById('speaker').value = 'none';",
        json!([]),
    );
    session.find("#join").click();
    measure(
        &session,
        &format!("meeting on Janus, 1x1280x720 + 4x640x360 publishers, {transport}"),
        SIZES.len(),
    );
    session.close();
    for mut p in publishers {
        let _ = p.kill();
        let _ = p.wait();
    }
}
