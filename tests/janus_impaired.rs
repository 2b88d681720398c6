//! Meetings through a real Janus on a lossy or narrow network: nftables in the test's namespace
//! drops a share of the packets Janus sends (each participant's downlink), or HTB holds them to a
//! rate. Keys must still be agreed, video
//! repaired (NACK, the jitter buffer's bounded wait) rather than frozen until the next keyframe,
//! and lost audio concealed.
//!
//! The CI rows: 10 % loss of RTP/RTCP, 80 ± 20 ms with reordering (`support::delay`), and
//! uplinks of 300 kbit/s (`JanusNet::cap_uplinks`) under 800 kbit/s of video, with loose bounds. With the data channel lossy too, Janus's SCTP retransmits only after 1–3 s, so
//! keys sometimes take many seconds: `network_table` (ignored; run with `--ignored --nocapture`)
//! measures that row with the others in BENCHMARKS.md (`CONCLAVE_TABLE_ROWS=7,8` for some rows).
//!
//! Needs root, `janus`, `nftables` and `iptables` (scripts/test provides them).

mod support;

use std::time::Duration;

use serde_json::Value;
use support::delay::Delayer;
use support::galene::Galene;
use support::janus::{JanusNet, Lossy};
use support::participant::{conclave, new_link, new_link_for, others, spawn_command};

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
    /// Keyframes this participant sent, keyframe requests it sent and received (not what it
    /// saw of the other).
    keyframes_sent: u64,
    keyframe_requests_sent: u64,
    keyframe_requests_received: u64,
    /// This participant's last bandwidth estimate, and the rate its camera was last given (0:
    /// paused), kbit/s.
    estimate_kbps: u64,
    video_kbps: u64,
    /// What this participant's encoder actually made, on average over the run, kbit/s.
    sent_kbps: u64,
    /// How long each of this participant's media connections took from ICE connected to
    /// connected (the DTLS handshake), ms, from its log.
    handshakes_ms: Vec<u64>,
}

/// The clients' log filter: ours (`RUST_LOG`, to keep a row's logs) and the line that times
/// each media connection's handshake.
fn log_filter() -> String {
    let mut filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "off,conclave=warn".into());
    filter.push_str(",conclave::client::peer=debug");
    filter
}

/// The handshake times in a client's log (`media connection up handshake_ms=N`; the clients
/// write it without colours, `NO_COLOR`).
fn handshakes(log: &str) -> Vec<u64> {
    log.lines()
        .filter(|line| line.contains("media connection up"))
        .filter_map(|line| {
            let value = line.split("handshake_ms=").nth(1)?;
            value
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

const SECONDS: u32 = 20;

/// What the network does to the packets Janus sends.
#[derive(Clone, Copy, Debug)]
struct Network {
    /// Percent lost.
    loss: u32,
    lossy: Lossy,
    /// Held this long, ± `jitter_ms`.
    delay_ms: u64,
    jitter_ms: u64,
    /// Whether delayed packets keep their order.
    in_order: bool,
    /// A bottleneck of this many kbit/s each way (0: none).
    cap_kbit: u32,
}

const CLEAN: Network = Network {
    loss: 0,
    lossy: Lossy::Media,
    delay_ms: 0,
    jitter_ms: 0,
    in_order: true,
    cap_kbit: 0,
};

/// The one-way delay of every lossy row without one of its own: a LAN's. Janus 1.1.2 keeps a
/// subscriber's packets for retransmission only once the round trip it measures from our
/// receiver reports changes from 0 ms (src/ice.c: until then its queue is 0 ms long, and a NACK
/// finds nothing); on loopback it measures 0 ms, often for seconds and now and then for a whole
/// run, so a lossy row on bare loopback measured whether Janus happened to repair, not us. No
/// real path has a 0 ms round trip.
const LAN_DELAY_MS: u64 = 2;

impl Network {
    fn lossy(loss: u32, lossy: Lossy) -> Network {
        Network {
            loss,
            lossy,
            delay_ms: LAN_DELAY_MS,
            ..CLEAN
        }
    }

    fn delayed(delay_ms: u64, jitter_ms: u64, in_order: bool) -> Network {
        Network {
            delay_ms,
            jitter_ms,
            in_order,
            ..CLEAN
        }
    }

    fn capped(kbit: u32) -> Network {
        Network {
            cap_kbit: kbit,
            ..CLEAN
        }
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.cap_kbit > 0 {
            parts.push(format!("uplinks {} kbit/s", self.cap_kbit));
        }
        if self.loss > 0 {
            let what = match self.lossy {
                Lossy::Media => "media",
                Lossy::Everything => "all UDP",
            };
            parts.push(format!("{} % loss ({what})", self.loss));
        }
        if self.delay_ms > 0 {
            let order = if self.in_order {
                "in order"
            } else {
                "reordered"
            };
            parts.push(format!(
                "{} ± {} ms, {order}",
                self.delay_ms, self.jitter_ms
            ));
        }
        if parts.is_empty() {
            "clean".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// Two participants for [`SECONDS`] on `network` (downlinks), each joining with `args`; what
/// each saw of the other.
/// The SFU a meeting goes through.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Sfu {
    Janus,
    /// Galène, which gives no transport-wide feedback: what we send is told only by its receiver
    /// reports and REMB.
    Galene,
}

fn meeting(room: &str, network: Network, args: &[&str]) -> Vec<Seen> {
    meeting_through(Sfu::Janus, room, network, args)
}

fn meeting_through(sfu: Sfu, room: &str, network: Network, args: &[&str]) -> Vec<Seen> {
    let (net, _galene) = match sfu {
        Sfu::Janus => (JanusNet::start(), None),
        Sfu::Galene => {
            let net = JanusNet::without_janus();
            let galene = Galene::start(&net);
            (net, Some(galene))
        }
    };
    // With a cap, each sends from an address of its own, whose uplink is capped.
    let addresses = ["127.0.0.3", "127.0.0.4"];
    if network.cap_kbit > 0 {
        net.cap_uplinks(&addresses, network.cap_kbit);
    }
    // The loss and delay rules pick Janus's ports.
    assert!(
        sfu == Sfu::Janus || (network.loss == 0 && network.delay_ms == 0),
        "through Galène only the capped rows: {network:?}"
    );
    if network.loss > 0 {
        net.lose_from_janus(network.loss, network.lossy);
    }
    let _delayer = (network.delay_ms > 0).then(|| {
        Delayer::start(
            &net,
            Duration::from_millis(network.delay_ms),
            Duration::from_millis(network.jitter_ms),
            network.in_order,
        )
    });
    let link = match sfu {
        Sfu::Janus => new_link(room),
        Sfu::Galene => new_link_for(support::galene::SFU, room),
    };
    let started = unix_ms();
    let people: Vec<_> = ["alice", "bob"]
        .iter()
        .zip(addresses)
        .map(|(n, address)| {
            let mut all = vec!["--camera", "synthetic", "--mic", "tone"];
            if network.cap_kbit > 0 {
                all.extend(["--ice-address", address]);
            }
            all.extend(args);
            let mut command = net.command(conclave());
            command.env("RUST_LOG", log_filter()).env("NO_COLOR", "1");
            spawn_command(command, &net, &link, n, SECONDS, &all)
        })
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
            // Each one's log (RUST_LOG), to read where a row's time went.
            if let Some(dir) = std::env::var_os("CONCLAVE_TABLE_LOGS") {
                let file = std::path::Path::new(&dir).join(format!("{room}-{name}.log"));
                std::fs::write(file, &out.stderr).unwrap();
            }
            if std::env::var_os("CONCLAVE_TABLE_STATS").is_some() {
                eprintln!("{name}: {stats}");
            }
            let list = others(&stats);
            assert_eq!(list.len(), 1, "{name}: {stats}");
            let count = |key: &str| stats[key].as_u64().unwrap_or(0);
            Seen {
                keyframes_sent: count("keyframes_sent"),
                keyframe_requests_sent: count("keyframe_requests_sent"),
                keyframe_requests_received: count("keyframe_requests_received"),
                estimate_kbps: count("send_estimate_bps") / 1000,
                video_kbps: count("video_bitrate_bps") / 1000,
                sent_kbps: count("video_bytes_sent") * 8 / 1000 / u64::from(SECONDS),
                handshakes_ms: handshakes(&String::from_utf8_lossy(&out.stderr)),
                ..seen(&list[0], started, unix_ms())
            }
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
        keyframes_sent: 0,
        keyframe_requests_sent: 0,
        keyframe_requests_received: 0,
        estimate_kbps: 0,
        video_kbps: 0,
        sent_kbps: 0,
        handshakes_ms: Vec::new(),
    }
}

#[test]
fn ten_percent_media_loss_is_repaired_not_frozen() {
    // On a LAN's round trip (LAN_DELAY_MS): on bare loopback Janus now and then retransmitted
    // nothing to a side for a whole run (2 of 16 runs, and in CI).
    let seen = meeting("5151", Network::lossy(10, Lossy::Media), &[]);
    // Each one's keyframe requests reach the other through Janus (half at least: the forwarded
    // ones cross the lossy downlink too). Janus dropped every picture-loss request of ours that
    // named no sender it knew: 1 of 18 got through.
    for (asking, asked) in [(&seen[0], &seen[1]), (&seen[1], &seen[0])] {
        assert!(asking.keyframe_requests_sent > 5, "{asking:?}");
        assert!(
            asked.keyframe_requests_received * 2 >= asking.keyframe_requests_sent,
            "{asking:?} {asked:?}"
        );
    }
    for s in seen {
        eprintln!("10 % media loss: {s:?}");
        assert!(s.verified, "keys agreed and verified: {s:?}");
        assert!(s.first_audio_ms < 10_000.0, "{s:?}");
        // Repaired: the build before the jitter buffer lost 300–460 frames here and decoded
        // under 1 fps; now most gaps are filled by retransmissions (25–26 fps here since the
        // decoder takes whole the frames a repaired gap releases at once, 13–17 before).
        assert!(s.packets_recovered > 30, "{s:?}");
        // 150 lost frames exactly in CI once (39 packets recovered): the bound is for the build
        // before's 300–460, with room for a loaded machine.
        assert!(s.frames_lost < 200, "{s:?}");
        assert!(s.video_fps_since_first > 12.0, "{s:?}");
        assert!(s.keyframes_sent > 5, "{s:?}");
        // 50 audio frames a second; the start costs some, and what is lost is concealed
        // (rebuilt from the next packet's FEC data, or by the decoder), not missing.
        assert!(s.audio_decoded > u64::from(SECONDS) * 50 / 2, "{s:?}");
        assert!(s.audio_concealed > s.audio_decoded / 20, "{s:?}");
    }
}

#[test]
fn delayed_and_reordered_packets_are_put_back_in_order() {
    for s in meeting("5152", Network::delayed(80, 20, false), &[]) {
        eprintln!("80 ± 20 ms, reordered: {s:?}");
        assert!(s.verified, "{s:?}");
        // The build before the jitter buffer decoded nothing here: every reordered packet broke
        // its frame.
        assert!(s.video_fps_since_first > 20.0, "{s:?}");
        assert!(s.frames_lost < 20, "{s:?}");
        assert!(
            s.packets_recovered > 100,
            "reordered packets put back: {s:?}"
        );
        assert!(s.latency_p50_ms < 400.0, "{s:?}");
        // Both media connections came up without waiting for a handshake flight to be sent
        // again (a second): the SFU's first DTLS message, overtaking the answer to our ICE
        // check, used to be dropped (0.18 s since, 1.2 s before, on an idle machine).
        assert_eq!(s.handshakes_ms.len(), 2, "{s:?}");
        assert!(s.handshakes_ms.iter().all(|&ms| ms < 700), "{s:?}");
        // Audio too is put back in order: little of it concealed (0–15 of ~850 frames on an idle
        // machine, 51 on a busy one, where packets come in bursts).
        assert!(s.audio_concealed < s.audio_decoded / 5, "{s:?}");
        assert!(s.audio_decoded > u64::from(SECONDS) * 50 / 2, "{s:?}");
    }
}

/// Sent at 640×480 and 800 kbit/s, more than the link carries.
const TOO_MUCH: [&str; 4] = ["--resolution", "640x480", "--bitrate", "800k"];

#[test]
fn a_link_far_narrower_than_the_video_is_found_and_the_meeting_goes_on_whole() {
    let seen = meeting("5153", Network::capped(300), &TOO_MUCH);
    for s in seen {
        eprintln!("uplinks of 300 kbit/s: {s:?}");
        // Before the estimator was rebuilt (BENCHMARKS.md, "Narrow uplinks, the estimator
        // rebuilt"): 0.1 fps decoded and a sixth of the audio, at up to a second's delay; now
        // 26–28 fps and 95 % of the audio. The bounds are loose for a busy machine.
        assert!(s.verified, "keys agreed and verified: {s:?}");
        assert!(s.first_audio_ms < 5_000.0, "{s:?}");
        assert!(s.estimate_kbps > 0, "measured: {s:?}");
        assert!(s.video_kbps < 300, "followed: {s:?}");
        assert!(s.audio_decoded > 700, "the audio came through: {s:?}");
        assert!(s.video_fps > 12.0, "the picture came through: {s:?}");
        assert!(s.longest_freeze_ms < 3_000.0, "{s:?}");
    }
}

/// What a participant's audio takes of an uplink, at most (Opus with its packets' headers).
const AUDIO_KBPS: u64 = 60;

/// Through Galène, which gives no transport-wide feedback: the estimate comes from its receiver
/// reports (loss, and the round trip for the queue). The build before read none of them and sent
/// at its start rate: here one participant lost its connection to Galène within 20 s.
#[test]
fn through_galene_a_narrow_link_is_found_from_receiver_reports() {
    let seen = meeting_through(Sfu::Galene, "5154", Network::capped(800), &[]);
    for s in seen {
        eprintln!("through Galène, uplinks of 800 kbit/s: {s:?}");
        assert!(s.verified, "keys agreed and verified: {s:?}");
        assert!(s.first_audio_ms < 5_000.0, "{s:?}");
        // The estimate (loss, and a queue read from a round trip a second) ends near the link,
        // 267-848 kbit/s, not at the 1 Mbit/s start — where what was sent found the link. A
        // camera that sent less than the link (the test pattern at 320×240 needs some 500 kbit/s)
        // leaves nothing to find, and the estimate where it started (CI, 2026-12-08: 499 kbit/s
        // of video sent, the estimate at 1001).
        assert!(s.estimate_kbps > 0, "measured: {s:?}");
        assert!(
            s.estimate_kbps < 1_000 || s.sent_kbps + AUDIO_KBPS < 800,
            "sent more than the link and the estimate stayed at the start: {s:?}"
        );
        // 50 audio frames a second: most of them decoded, the rest concealed. Starting at
        // 1 Mbit/s into 800 kbit/s costs some of the first seconds': 741-789 decoded.
        assert!(s.audio_decoded > 650, "{s:?}");
        // 15-21.5 fps alone; the build before: 1-2 fps (371-450 audio frames decoded), or a
        // participant lost its connection.
        assert!(s.video_fps > 12.0, "the picture came through: {s:?}");
        assert!(s.longest_freeze_ms < 8_000.0, "{s:?}");
    }
}

#[test]
#[ignore = "a benchmark: the network rows of BENCHMARKS.md"]
fn network_table() {
    println!(
        "| network | first audio s | decoded fps (since first picture) | longest freeze ms | latency p50 / p95 ms | frames lost | packets recovered | audio frames decoded / concealed | estimate / video kbit/s at the end | video sent kbit/s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let rows = [
        CLEAN,
        Network::lossy(2, Lossy::Media),
        Network::lossy(10, Lossy::Media),
        Network::lossy(20, Lossy::Media),
        Network::lossy(10, Lossy::Everything),
        Network::delayed(80, 20, false),
        Network::delayed(80, 20, true),
        Network {
            loss: 10,
            ..Network::delayed(40, 10, true)
        },
        Network {
            loss: 20,
            ..Network::delayed(40, 10, true)
        },
        Network::capped(1500),
        Network::capped(800),
        Network::capped(300),
    ];
    // The picture size and rate of every row (CONCLAVE_TABLE_ARGS, e.g. "--resolution 1280x720
    // --bitrate 1500k"; 320×240 at 800 kbit/s by default).
    let args = std::env::var("CONCLAVE_TABLE_ARGS").unwrap_or_default();
    let args: Vec<&str> = args.split_whitespace().collect();
    // Through Galène with CONCLAVE_TABLE_SFU=galene.
    let sfu = match std::env::var("CONCLAVE_TABLE_SFU").as_deref() {
        Ok("galene") => Sfu::Galene,
        _ => Sfu::Janus,
    };
    let only: Option<Vec<usize>> = std::env::var("CONCLAVE_TABLE_ROWS")
        .ok()
        .map(|rows| rows.split(',').filter_map(|r| r.parse().ok()).collect());
    for (i, network) in rows.into_iter().enumerate() {
        if only.as_ref().is_some_and(|only| !only.contains(&i))
            || (sfu == Sfu::Galene && (network.loss > 0 || network.delay_ms > 0))
        {
            continue;
        }
        // A meeting that failed (a participant lost its connection) is a row too.
        let room = format!("{}", 5200 + i);
        let seen = std::panic::catch_unwind(|| meeting_through(sfu, &room, network, &args));
        let Ok(seen) = seen else {
            println!("| {} | failed (above) |", network.describe());
            continue;
        };
        for s in seen {
            println!(
                "| {} | {:.1} | {:.1} ({:.1}) | {:.0} | {:.0} / {:.0} | {} | {} | {} / {} | {} / {} | {} |",
                network.describe(),
                s.first_audio_ms / 1000.0,
                s.video_fps,
                s.video_fps_since_first,
                s.longest_freeze_ms,
                s.latency_p50_ms,
                s.latency_p95_ms,
                s.frames_lost,
                s.packets_recovered,
                s.audio_decoded,
                s.audio_concealed,
                s.estimate_kbps,
                s.video_kbps,
                s.sent_kbps
            );
        }
    }
}
