//! Meetings through a real Janus on loopback, measured: glass-to-glass video and mouth-to-ear
//! audio latency at 720p30, and CPU and memory of one publisher with 1, 4 and 8 subscribers, each
//! a headless `conclave join` process. Prints Markdown tables for BENCHMARKS.md.
//!
//! `cargo bench --bench meeting` (needs root and janus, like the integration tests). With
//! `CONCLAVE_BASELINE=/path/to/an/older/conclave`, every measurement is made with that build too,
//! right after this one's, so that the two compare side by side in one run.

#[path = "../tests/support/janus.rs"]
#[allow(dead_code)]
mod janus;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use janus::{JanusNet, WS_URL};
use serde_json::Value;

const CONCLAVE: &str = env!("CARGO_BIN_EXE_conclave");

fn link(room: &str) -> String {
    let out = Command::new(CONCLAVE)
        .args(["link", "new", "--sfu", WS_URL, "--room", room])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

struct Run {
    child: Child,
    stats: PathBuf,
    time: PathBuf,
}

/// The builds measured: this one, and the baseline if one is given.
fn builds() -> Vec<(&'static str, String)> {
    let mut builds = vec![("this", CONCLAVE.to_owned())];
    if let Ok(baseline) = std::env::var("CONCLAVE_BASELINE") {
        builds.push(("baseline", baseline));
    }
    builds
}

fn participant(
    net: &JanusNet,
    bin: &str,
    link: &str,
    name: &str,
    args: &[&str],
    seconds: u32,
) -> Run {
    let stats = net.dir.join(format!("{name}.json"));
    let time = net.dir.join(format!("{name}.time"));
    let child = net
        .command("/usr/bin/time")
        .arg("-o")
        .arg(&time)
        .args(["-f", "%e %U %S %M", bin, "join", link, "--name", name])
        .args([
            "--ice-address",
            "127.0.0.2",
            "--duration",
            &format!("{seconds}s"),
        ])
        .args(args)
        .arg("--stats-json")
        .arg(&stats)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Run { child, stats, time }
}

/// (stats, cpu share of one core, peak RSS in MB)
fn finish(mut run: Run) -> (Value, f64, f64) {
    run.child.wait().unwrap();
    let stats = serde_json::from_str(&std::fs::read_to_string(&run.stats).unwrap()).unwrap();
    let (cpu, rss) = usage(&run.time);
    (stats, cpu, rss)
}

fn usage(path: &Path) -> (f64, f64) {
    let text = std::fs::read_to_string(path).unwrap();
    let f: Vec<f64> = text
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    ((f[1] + f[2]) / f[0], f[3] / 1024.0)
}

fn latency(build: &str, bin: &str) {
    let net = JanusNet::start();
    let link = link("bench-latency");
    let args = [
        "--camera",
        "synthetic",
        "--mic",
        "chirps",
        "--resolution",
        "1280x720",
        "--bitrate",
        "1500k",
        "--measure-audio-latency",
    ];
    let a = participant(&net, bin, &link, "a", &args, 30);
    let b = participant(&net, bin, &link, "b", &args, 30);
    for (name, run) in [("a", a), ("b", b)] {
        let (stats, _, _) = finish(run);
        let p = &stats["participants"][0];
        let (v, au) = (&p["video"], &p["audio"]);
        println!(
            "| {build} | {name} | {:.1} ms | {:.1} ms | {} | {:.1} ms | {:.1} ms | {} |",
            v["latency_ms"]["p50"].as_f64().unwrap(),
            v["latency_ms"]["p95"].as_f64().unwrap(),
            v["frames_decoded"],
            au["latency_ms"]["p50"].as_f64().unwrap(),
            au["latency_ms"]["p95"].as_f64().unwrap(),
            au["latency_ms"]["count"],
        );
    }
}

fn fan_out(build: &str, bin: &str, n: usize) {
    let net = JanusNet::start();
    let link = link(&format!("bench-fanout-{n}"));
    let publisher = participant(
        &net,
        bin,
        &link,
        "publisher",
        &[
            "--camera",
            "synthetic",
            "--mic",
            "tone",
            "--resolution",
            "640x360",
        ],
        25,
    );
    std::thread::sleep(Duration::from_secs(2));
    let subscribers: Vec<Run> = (0..n)
        .map(|i| {
            participant(
                &net,
                bin,
                &link,
                &format!("sub{i}"),
                &["--camera", "none", "--mic", "none"],
                20,
            )
        })
        .collect();
    let (_, pub_cpu, pub_rss) = finish(publisher);
    let mut cpu = Vec::new();
    let mut rss = Vec::new();
    let mut decoded = Vec::new();
    for s in subscribers {
        let (stats, c, r) = finish(s);
        cpu.push(c);
        rss.push(r);
        let most = stats["participants"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["video"]["frames_decoded"].as_u64())
            .max()
            .unwrap_or(0);
        decoded.push(most);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "| {build} | {n} | {:.0} % | {:.0} MB | {:.0} % | {:.0} MB | {} |",
        pub_cpu * 100.0,
        pub_rss,
        mean(&cpu) * 100.0,
        mean(&rss),
        decoded.iter().min().unwrap(),
    );
}

fn main() {
    // `cargo bench` passes --bench; a filter argument selects one part.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    if wanted("latency") {
        println!("\nLatency, 2 participants, 720p30 at 1.5 Mbit/s, 30 s:\n");
        println!(
            "| build | receiver | video p50 | video p95 | frames decoded | audio p50 | audio p95 | chirps |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        for (build, bin) in builds() {
            latency(build, &bin);
        }
    }
    if wanted("fanout") {
        println!("\nOne publisher (360p30) and N subscribers, 20 s:\n");
        println!(
            "| build | N | publisher CPU | publisher RSS | subscriber CPU (mean) | subscriber RSS (mean) | fewest frames decoded |"
        );
        println!("|---|---|---|---|---|---|---|");
        for n in [1, 4, 8] {
            for (build, bin) in builds() {
                fan_out(build, &bin, n);
            }
        }
    }
}
