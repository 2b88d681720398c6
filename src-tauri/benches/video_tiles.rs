//! What showing video costs the app: CPU of the app and of WebKit's web process, the tiles' frame
//! rate, and resident memory, in a real meeting on Janus with five headless publishers (one
//! 1280x720, four 640x360, 30 fps) while the app only listens. Tiles get raw I420 over the
//! `frame://` scheme and draw it with a WebGL shader (`ui/video.js`).
//!
//!     cargo build --release -p conclave && cargo bench -p conclave-app --bench video_tiles
//!
//! Needs what the window tests need (root, Janus, Xvfb, WebKitWebDriver, tauri-driver).

#[path = "../../tests/support/janus.rs"]
#[allow(dead_code)]
mod janus;
#[path = "../tests/support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use janus::{JanusNet, WS_URL};
use serde_json::json;
use support::desktop::{DRIVER_PORT, Desktop};
use support::webdriver::Session;

const SECONDS: u64 = 15;

fn app() -> &'static str {
    env!("CARGO_BIN_EXE_conclave-app")
}

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

/// Processes whose command line contains `needle`.
fn pids(needle: &str) -> Vec<u32> {
    let out = Command::new("pgrep").args(["-f", needle]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn main() {
    let cli = PathBuf::from(app()).with_file_name("conclave");
    assert!(
        cli.exists(),
        "build the CLI first: cargo build --release -p conclave"
    );
    let net = JanusNet::start();
    let _desktop = Desktop::start(&net);
    let link = {
        let out = Command::new(&cli)
            .args(["link", "new", "--sfu", WS_URL, "--room", "bench"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let mut publishers = Vec::new();
    for (i, size) in ["1280x720", "640x360", "640x360", "640x360", "640x360"]
        .iter()
        .enumerate()
    {
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
    session.find("#link").send_keys(&link);
    session.find("#name").send_keys("Listener");
    session.script(
        "document.getElementById('camera').value = 'none';\
         document.getElementById('microphone').value = 'none';\
         document.getElementById('speaker').value = 'none';",
        json!([]),
    );
    session.find("#join").click();
    session.wait_for(
        "five tiles drawing",
        Duration::from_secs(60),
        "const t = [...document.querySelectorAll('.tile')];\
         return t.length === 5 && t.every(e => parseInt(e.dataset.drawn || '0') > 60);",
    );
    let drawn = || -> Vec<u64> {
        let v = session.script(
            "return [...document.querySelectorAll('.tile')]\
               .map(e => [e.querySelector('canvas').width, parseInt(e.dataset.drawn || '0')]);",
            json!([]),
        );
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| p[1].as_u64().unwrap() * 10_000 + p[0].as_u64().unwrap())
            .collect()
    };
    let app_pids = pids("release/conclave-app");
    let web_pids = pids("WebKitWebProcess");
    let total = |list: &[u32]| -> (f64, u64) {
        list.iter()
            .filter_map(|&p| usage(p))
            .fold((0.0, 0), |(c, r), (c2, r2)| (c + c2, r + r2))
    };
    let (app0, web0, drawn0, t0) = (total(&app_pids), total(&web_pids), drawn(), Instant::now());
    std::thread::sleep(Duration::from_secs(SECONDS));
    let (app1, web1, drawn1) = (total(&app_pids), total(&web_pids), drawn());
    let elapsed = t0.elapsed().as_secs_f64();
    println!("video tiles: 1x1280x720 + 4x640x360 publishers, the app listening, {elapsed:.1} s");
    println!(
        "app process (receive, decrypt, decode 5 streams): {:.0} % of a core, RSS {} MiB",
        100.0 * (app1.0 - app0.0) / elapsed,
        app1.1 / 1024
    );
    println!(
        "WebKit web process (fetch, upload, draw): {:.0} % of a core, RSS {} MiB",
        100.0 * (web1.0 - web0.0) / elapsed,
        web1.1 / 1024
    );
    for (a, b) in drawn0.iter().zip(&drawn1) {
        println!(
            "tile {} px wide: {:.1} pictures/s drawn",
            b % 10_000,
            (b / 10_000 - a / 10_000) as f64 / elapsed
        );
    }
    session.close();
    for mut p in publishers {
        let _ = p.kill();
        let _ = p.wait();
    }
}
