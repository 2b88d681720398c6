//! Meetings through a real Janus on a lossy network: nftables in the test's namespace drops a share
//! of the packets Janus sends (each participant's downlink). Keys must still be agreed, video
//! repaired (NACK, the jitter buffer's bounded wait) rather than frozen until the next keyframe,
//! and lost audio concealed.
//!
//! The CI row is 10 % loss of RTP/RTCP with loose bounds. With the data channel lossy too, Janus's
//! SCTP retransmits only after 1–3 s, so keys sometimes take many seconds: `loss_table` (ignored;
//! run with `--ignored --nocapture`) measures that row with the others in BENCHMARKS.md.
//!
//! Needs root, `janus` and `nftables` (scripts/test provides them).

mod support;

use serde_json::Value;
use support::janus::{JanusNet, Lossy};
use support::participant::{new_link, others, spawn};

/// What one participant saw of the other.
#[derive(Debug)]
struct Seen {
    /// From joining to the first audio frame decoded (keys agreed), ms.
    first_audio_ms: f64,
    /// Video frames decoded per second, over the whole run.
    video_fps: f64,
    /// The same since the first decoded picture (what repair keeps up, whatever the start).
    video_fps_since_first: f64,
    longest_freeze_ms: f64,
    latency_p50_ms: f64,
    latency_p95_ms: f64,
    frames_lost: u64,
    packets_recovered: u64,
    audio_decoded: u64,
    audio_concealed: u64,
    verified: bool,
}

const SECONDS: u32 = 20;

/// Two participants for [`SECONDS`] with `percent` % downlink loss of `lossy` packets; what each
/// saw of the other.
fn meeting_with_loss(room: &str, percent: u32, lossy: Lossy) -> Vec<Seen> {
    let net = JanusNet::start();
    if percent > 0 {
        net.lose_from_janus(percent, lossy);
    }
    let link = new_link(room);
    let started = unix_ms();
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
            let list = others(&stats);
            assert_eq!(list.len(), 1, "{name}: {stats}");
            seen(&list[0], started, unix_ms())
        })
        .collect()
}

fn unix_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn seen(other: &Value, started_ms: f64, ended_ms: f64) -> Seen {
    let (v, a) = (&other["video"], &other["audio"]);
    let number = |v: &Value| v.as_f64().unwrap_or(0.0);
    let first = |m: &Value| m["first_decoded_unix_ms"].as_f64().unwrap_or(ended_ms);
    let frames = number(&v["frames_decoded"]);
    Seen {
        first_audio_ms: first(a) - started_ms,
        video_fps: frames / f64::from(SECONDS),
        video_fps_since_first: frames * 1000.0 / (ended_ms - first(v)).max(1000.0),
        longest_freeze_ms: number(&v["longest_gap_ms"]),
        latency_p50_ms: number(&v["latency_ms"]["p50"]),
        latency_p95_ms: number(&v["latency_ms"]["p95"]),
        frames_lost: v["frames_lost_in_transit"].as_u64().unwrap_or(0),
        packets_recovered: v["packets_recovered"].as_u64().unwrap_or(0),
        audio_decoded: a["frames_decoded"].as_u64().unwrap_or(0),
        audio_concealed: a["frames_concealed"].as_u64().unwrap_or(0),
        verified: other["verified"] == true,
    }
}

#[test]
fn ten_percent_media_loss_is_repaired_not_frozen() {
    for s in meeting_with_loss("5151", 10, Lossy::Media) {
        eprintln!("10 % media loss: {s:?}");
        assert!(s.verified, "keys agreed and verified: {s:?}");
        assert!(s.first_audio_ms < 10_000.0, "{s:?}");
        // Repaired: the build before the jitter buffer lost 300–460 frames here and decoded
        // under 1 fps; now most gaps are filled by retransmissions (10–20 fps once Janus keeps a
        // retransmission buffer: on loopback it measures a 0 ms round trip at first, and keeps
        // nothing until it measures more — the first seconds go unrepaired).
        assert!(s.packets_recovered > 30, "{s:?}");
        assert!(s.frames_lost < 150, "{s:?}");
        assert!(s.video_fps_since_first > 4.0, "{s:?}");
        // 50 audio frames a second; the start costs some, and what is lost is concealed
        // (rebuilt from the next packet's FEC data, or by the decoder), not missing.
        assert!(s.audio_decoded > u64::from(SECONDS) * 50 / 2, "{s:?}");
        assert!(s.audio_concealed > s.audio_decoded / 20, "{s:?}");
    }
}

#[test]
#[ignore = "a benchmark: the loss rows of BENCHMARKS.md"]
fn loss_table() {
    println!(
        "| downlink loss | first audio s | decoded fps (since first picture) | longest freeze ms | latency p50 / p95 ms | frames lost | packets recovered | audio frames decoded / concealed |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let rows = [
        (0, Lossy::Media),
        (2, Lossy::Media),
        (10, Lossy::Media),
        (20, Lossy::Media),
        (10, Lossy::Everything),
    ];
    for (i, (percent, lossy)) in rows.into_iter().enumerate() {
        let what = match lossy {
            Lossy::Media => "media",
            Lossy::Everything => "all UDP",
        };
        for s in meeting_with_loss(&format!("{}", 5200 + i), percent, lossy) {
            println!(
                "| {percent} % {what} | {:.1} | {:.1} ({:.1}) | {:.0} | {:.0} / {:.0} | {} | {} | {} / {} |",
                s.first_audio_ms / 1000.0,
                s.video_fps,
                s.video_fps_since_first,
                s.longest_freeze_ms,
                s.latency_p50_ms,
                s.latency_p95_ms,
                s.frames_lost,
                s.packets_recovered,
                s.audio_decoded,
                s.audio_concealed
            );
        }
    }
}
