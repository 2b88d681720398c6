//! Key distribution for a simulated meeting: how long (virtual time, on a loss-free SFU with
//! no delay) and how many messages until everyone has verified everyone and holds everyone's
//! key, and how much CPU the real cryptography costs. `cargo bench -p conclave-group --bench
//! key_distribution`; the figures go to BENCHMARKS.md.

#[path = "../tests/sim/mod.rs"]
mod sim;

use std::time::{Duration, Instant};

use sim::Meeting;

/// Advances in small steps until settled; the virtual time it took.
fn settle(m: &mut Meeting, limit: Duration) -> Option<Duration> {
    let start = m.now;
    while m.now - start < limit {
        if m.settled() {
            return Some(m.now - start);
        }
        m.advance(Duration::from_millis(10));
    }
    None
}

fn main() {
    println!(
        "| participants | scenario | virtual time to settle | messages broadcast | deliveries | CPU wall time |"
    );
    println!("|---|---|---|---|---|---|");
    for n in [10u64, 25, 50] {
        // Everyone at once.
        let wall = Instant::now();
        let mut m = Meeting::default();
        for id in 1..=n {
            m.join(id, 1);
        }
        let t = settle(&mut m, Duration::from_secs(30)).expect("settles");
        println!(
            "| {n} | all join at once | {} ms | {} | {} | {:.0} ms |",
            t.as_millis(),
            m.broadcast,
            m.delivered,
            wall.elapsed().as_secs_f64() * 1000.0
        );

        // One more joins the settled meeting.
        let (b0, d0) = (m.broadcast, m.delivered);
        let wall = Instant::now();
        m.join(n + 1, 1);
        let t = settle(&mut m, Duration::from_secs(30)).expect("settles");
        println!(
            "| {} | one newcomer | {} ms | {} | {} | {:.0} ms |",
            n + 1,
            t.as_millis(),
            m.broadcast - b0,
            m.delivered - d0,
            wall.elapsed().as_secs_f64() * 1000.0
        );

        // One leaves: everyone draws a fresh key and hands it to the rest.
        let (b0, d0) = (m.broadcast, m.delivered);
        let wall = Instant::now();
        let before: Vec<u64> = m
            .people
            .values()
            .map(|p| p.sender.as_ref().unwrap().generation())
            .collect();
        m.leave(1);
        let start = m.now;
        while m
            .people
            .values()
            .zip(&before[1..])
            .any(|(p, g)| p.sender.as_ref().unwrap().generation() == *g)
        {
            m.advance(Duration::from_millis(10));
        }
        println!(
            "| {n} | one leaves (all switched to fresh keys) | {} ms | {} | {} | {:.0} ms |",
            (m.now - start).as_millis(),
            m.broadcast - b0,
            m.delivered - d0,
            wall.elapsed().as_secs_f64() * 1000.0
        );
    }
}
