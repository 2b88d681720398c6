//! Delay and jitter on the tests' network (the kernel here has no `netem`): iptables in the
//! test's namespace queues every UDP packet Janus sends (NFQUEUE), and a thread of the test,
//! moved into that namespace, holds each one for a random time before letting it through.
//! Packets that draw a shorter delay than the one before them overtake it (reordering), unless
//! the order is kept.

use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::janus::JanusNet;

const QUEUE: u16 = 7;

/// Holds Janus's packets while it lives.
pub struct Delayer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Delayer {
    /// Holds every UDP packet Janus sends for `delay` ± `jitter` (uniformly drawn); with
    /// `keep_order` no packet overtakes an earlier one (each waits at least as long as the one
    /// before it).
    pub fn start(net: &JanusNet, delay: Duration, jitter: Duration, keep_order: bool) -> Delayer {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let namespace = format!("/run/netns/{}", net.ns);
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let netns = std::fs::File::open(&namespace).expect("the test's namespace");
            nix::sched::setns(netns, nix::sched::CloneFlags::CLONE_NEWNET)
                .expect("this thread joins the namespace");
            let mut queue = nfq::Queue::open().expect("a netfilter queue socket");
            queue.bind(QUEUE).expect("queue bound");
            queue.set_fail_open(QUEUE, true).expect("fail open");
            queue.set_nonblocking(true);
            ready_tx.send(()).unwrap();
            hold(&mut queue, &stopping, delay, jitter, keep_order);
        });
        ready.recv().expect("the delayer started");
        // Only once someone listens: with `--queue-bypass` packets pass while nobody does.
        let status = net
            .command("iptables-legacy")
            .args(["-A", "INPUT", "-p", "udp", "--sport", "20000:20400"])
            .args(["-j", "NFQUEUE", "--queue-num", &QUEUE.to_string()])
            .arg("--queue-bypass")
            .status()
            .expect("iptables-legacy runs (package iptables)");
        assert!(status.success(), "iptables NFQUEUE rule");
        Delayer {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Delayer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn hold(
    queue: &mut nfq::Queue,
    stop: &AtomicBool,
    delay: Duration,
    jitter: Duration,
    keep_order: bool,
) {
    // Release times, earliest first, and the packets by arrival number.
    let mut due: BinaryHeap<std::cmp::Reverse<(Instant, u64)>> = BinaryHeap::new();
    let mut held: HashMap<u64, nfq::Message> = HashMap::new();
    let (mut n, mut last, mut rng) = (0u64, Instant::now(), 0x9e37_79b9_7f4a_7c15u64);
    while !stop.load(Ordering::Relaxed) {
        while let Ok(mut message) = queue.recv() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let spread = jitter.as_micros() as u64 * 2;
            let micros = delay.as_micros() as u64 - jitter.as_micros() as u64
                + if spread == 0 { 0 } else { rng % (spread + 1) };
            let mut at = Instant::now() + Duration::from_micros(micros);
            if keep_order {
                at = at.max(last);
            }
            last = at;
            message.set_verdict(nfq::Verdict::Accept);
            held.insert(n, message);
            due.push(std::cmp::Reverse((at, n)));
            n += 1;
        }
        let now = Instant::now();
        while let Some(std::cmp::Reverse((at, id))) = due.peek().copied()
            && at <= now
        {
            due.pop();
            if let Some(message) = held.remove(&id) {
                let _ = queue.verdict(message);
            }
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    // Let everything still held go.
    for (_, message) in held {
        let _ = queue.verdict(message);
    }
}
