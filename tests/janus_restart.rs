//! A Janus crash mid-call: participants rejoin and media resumes within 3 s of Janus being back.
//! Its own test binary, so that no other meeting shares the two cores while it measures.
//!
//! Needs root and the `janus` package (scripts/test provides both).

mod support;

use std::time::Duration;

use support::janus::JanusNet;
use support::participant::{new_link, others, spawn};

fn unix_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.unwrap().as_millis() as u64
}

#[test]
fn participants_rejoin_after_janus_restarts_and_media_resumes_within_three_seconds() {
    let mut net = JanusNet::start();
    let link = new_link("restart-test");
    let a = spawn(&net, &link, "a", 14);
    let b = spawn(&net, &link, "b", 14);
    std::thread::sleep(Duration::from_secs(4));
    net.kill_janus();
    std::thread::sleep(Duration::from_secs(1));
    net.start_janus();
    let back_ms = unix_ms();

    for p in [a, b] {
        let name = p.name.clone();
        let (stats, out) = p.finish();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        // The lost connection is said, without the SFU's address (WebRTC's own lines are off).
        assert!(stderr.contains("reconnecting"), "{name}: {stderr}");
        assert!(!stderr.contains("127.0.0.2"), "{name}: {stderr}");
        assert!(
            stats["reconnects"].as_u64().unwrap() >= 1,
            "{name}: {stats}"
        );
        let list = others(&stats);
        assert_eq!(
            list.len(),
            1,
            "the other is one participant across reconnects: {stats}"
        );
        let v = &list[0]["video"];
        assert_eq!(list[0]["handles"].as_array().unwrap().len(), 2, "{stats}");
        // The longest freeze is the restart's, and it ends within 3 s of Janus being back.
        let resumed = v["longest_gap_ended_unix_ms"].as_u64().unwrap();
        let gap = v["longest_gap_ms"].as_f64().unwrap();
        eprintln!(
            "{name}: froze {gap} ms, resumed {} ms after Janus was back",
            resumed as i64 - back_ms as i64
        );
        assert!(
            resumed > back_ms,
            "{name}: the longest freeze was not the restart: {v}"
        );
        assert!(
            resumed - back_ms < 3_000,
            "{name}: video resumed {} ms after Janus was back",
            resumed - back_ms
        );
        assert!(
            v["last_frame_number"].as_u64().unwrap() > 330,
            "{name}: {v}"
        );
        assert_eq!(v["frames_dropped_auth"], 0, "{name}: {v}");
    }
}
