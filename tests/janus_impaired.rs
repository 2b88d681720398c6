//! Meetings through a real Janus on a lossy network: nftables in the test's namespace drops a share
//! of every packet Janus sends (each participant's downlink), media, retransmissions and the data
//! channel alike. Keys must still be agreed, video repaired (NACK, the jitter buffer's bounded
//! wait) rather than frozen until the next keyframe, and audio kept going.
//!
//! The CI row is 10 % loss with loose bounds; `loss_table` (ignored; run with `--ignored
//! --nocapture`) measures the rows recorded in BENCHMARKS.md.
//!
//! Needs root, `janus` and `nftables` (scripts/test provides them).

mod support;

use std::time::Duration;

use serde_json::Value;
use support::janus::JanusNet;
use support::participant::{new_link, others, spawn};

/// What one participant saw of the other.
#[derive(Debug)]
struct Seen {
    video_fps: f64,
    longest_freeze_ms: f64,
    latency_p50_ms: f64,
    latency_p95_ms: f64,
    frames_lost: u64,
    packets_recovered: u64,
    audio_decoded: u64,
    verified: bool,
}

const SECONDS: u32 = 20;

/// Two participants for [`SECONDS`] with `percent` % downlink loss; what each saw of the other.
fn meeting_with_loss(room: &str, percent: u32) -> Vec<Seen> {
    let net = JanusNet::start();
    if percent > 0 {
        net.lose_from_janus(percent);
    }
    let link = new_link(room);
    let people: Vec<_> = ["alice", "bob"]
        .iter()
        .map(|n| spawn(&net, &link, n, SECONDS))
        .collect();
    people
        .into_iter()
        .map(|p| {
            let name = p.name.clone();
            let (stats, out) = p.finish();
            assert!(
                out.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            for l in String::from_utf8_lossy(&out.stderr)
                .lines()
                .filter(|l| l.contains("JB"))
            {
                eprintln!("{name} {l}");
            }
            let list = others(&stats);
            assert_eq!(list.len(), 1, "{name}: {stats}");
            seen(&list[0])
        })
        .collect()
}

fn seen(other: &Value) -> Seen {
    let (v, a) = (&other["video"], &other["audio"]);
    let number = |v: &Value| v.as_f64().unwrap_or(0.0);
    Seen {
        video_fps: number(&v["frames_decoded"]) / f64::from(SECONDS),
        longest_freeze_ms: number(&v["longest_gap_ms"]),
        latency_p50_ms: number(&v["latency_ms"]["p50"]),
        latency_p95_ms: number(&v["latency_ms"]["p95"]),
        frames_lost: v["frames_lost_in_transit"].as_u64().unwrap_or(0),
        packets_recovered: v["packets_recovered"].as_u64().unwrap_or(0),
        audio_decoded: a["frames_decoded"].as_u64().unwrap_or(0),
        verified: other["verified"] == true,
    }
}

#[test]
fn ten_percent_loss_is_repaired_not_frozen() {
    for s in meeting_with_loss("5151", 10) {
        eprintln!("10 % loss: {s:?}");
        assert!(
            s.verified,
            "keys agreed and verified despite the loss: {s:?}"
        );
        // Repaired: the build before the jitter buffer lost 300–460 frames here and decoded
        // under 1 fps; now most gaps are filled by retransmissions (13 fps and more once Janus
        // keeps a retransmission buffer: on loopback it measures a 0 ms round trip at first,
        // and keeps nothing until it measures more — the first seconds go unrepaired).
        assert!(s.packets_recovered > 30, "{s:?}");
        assert!(s.frames_lost < 150, "{s:?}");
        assert!(s.video_fps > 3.0, "{s:?}");
        // 50 audio frames a second; the start and the losses cost some.
        assert!(s.audio_decoded > u64::from(SECONDS) * 50 / 2, "{s:?}");
    }
}

#[test]
#[ignore = "a benchmark: the loss rows of BENCHMARKS.md"]
fn loss_table() {
    println!(
        "| downlink loss | decoded fps | longest freeze ms | latency p50 / p95 ms | frames lost | audio frames decoded |"
    );
    println!("|---|---|---|---|---|---|");
    for (i, percent) in [0, 2, 10, 20].into_iter().enumerate() {
        for s in meeting_with_loss(&format!("{}", 5200 + i), percent) {
            println!(
                "| {percent} % | {:.1} | {:.0} | {:.0} / {:.0} | {} | {} | {} |",
                s.video_fps,
                s.longest_freeze_ms,
                s.latency_p50_ms,
                s.latency_p95_ms,
                s.frames_lost,
                s.packets_recovered,
                s.audio_decoded
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
