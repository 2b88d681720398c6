//! A real TURN server (coturn) inside a test's network namespace, on 127.0.0.2 beside Janus, with
//! one user. Its log tells how much it relayed for whom. Stopped on drop. Needs the `coturn`
//! package (scripts/test installs it).

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::janus::JanusNet;

/// Where clients reach it.
pub const URL: &str = "turn:127.0.0.2:3478?transport=udp";

pub struct TurnServer {
    child: Child,
    pub log: PathBuf,
}

impl TurnServer {
    pub fn start(net: &JanusNet, user: &str, password: &str) -> TurnServer {
        let log = net.dir.join("turn.log");
        let config = net.dir.join("turnserver.conf");
        // Its own (empty) configuration, so that a system-wide one changes nothing.
        std::fs::write(&config, "").unwrap();
        let child = net
            .command("stdbuf")
            .arg("-oL")
            .arg("turnserver")
            .arg("-c")
            .arg(&config)
            .args([
                "--listening-ip=127.0.0.2",
                "--relay-ip=127.0.0.2",
                "--listening-port=3478",
                // Apart from Janus's RTP ports (20000-20400).
                "--min-port=30000",
                "--max-port=30100",
                "--lt-cred-mech",
                "--realm=conclave.test",
                // Janus is a loopback peer here; coturn refuses to relay to those by default.
                "--allow-loopback-peers",
                "--no-tls",
                "--no-dtls",
                "--no-cli",
                "--log-file=stdout",
                "--simple-log",
                "--verbose",
            ])
            .arg(format!("--user={user}:{password}"))
            .arg(format!("--pidfile={}", net.dir.join("turn.pid").display()))
            .arg(format!("--userdb={}", net.dir.join("turndb").display()))
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("turnserver is installed (scripts/test installs coturn)");
        let server = TurnServer { child, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !server
            .text()
            .contains("UDP listener opened on: 127.0.0.2:3478")
        {
            assert!(
                Instant::now() < deadline,
                "coturn did not start; see {}",
                server.log.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// Bytes the relay sent to and received from peers (Janus) for `user`, once all of the
    /// user's allocations are closed (coturn writes an allocation's totals when it closes: the
    /// clients release theirs on leave), or whatever the closed ones show after `within`.
    pub fn relayed(&self, user: &str, within: Duration) -> (u64, u64) {
        let deadline = Instant::now() + within;
        loop {
            let log = self.text();
            let who = format!("username=<{user}>");
            let opened = log
                .lines()
                .filter(|l| l.contains(": new, realm=") && l.contains(&who))
                .count();
            let closed = log
                .lines()
                .filter(|l| l.contains("peer usage: ") && l.contains(&who))
                .count();
            if (opened > 0 && closed == opened) || Instant::now() >= deadline {
                return peer_usage(&log, user);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Its log so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }
}

impl Drop for TurnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sums coturn's `peer usage: ..., username=<user>, rp=…, rb=…, sp=…, sb=…` lines: (sb, rb).
fn peer_usage(log: &str, user: &str) -> (u64, u64) {
    let mut sent = 0;
    let mut received = 0;
    for line in log.lines() {
        let Some((_, usage)) = line.split_once("peer usage: ") else {
            continue;
        };
        if !usage.contains(&format!("username=<{user}>")) {
            continue;
        }
        for field in usage.split(", ") {
            match field.split_once('=') {
                Some(("sb", n)) => sent += n.parse::<u64>().unwrap_or(0),
                Some(("rb", n)) => received += n.parse::<u64>().unwrap_or(0),
                _ => {}
            }
        }
    }
    (sent, received)
}

#[cfg(test)]
mod tests {
    #[test]
    fn peer_usage_sums_one_users_closed_allocations() {
        let log = "13: : session 001: usage: realm=<r>, username=<alice>, rp=9, rb=900, sp=1, sb=10\n\
                   13: : session 001: peer usage: realm=<r>, username=<alice>, rp=1, rb=10, sp=9, sb=900\n\
                   14: : session 002: peer usage: realm=<r>, username=<alice>, rp=8, rb=800, sp=1, sb=20\n\
                   14: : session 003: peer usage: realm=<r>, username=<bob>, rp=8, rb=5, sp=1, sb=5\n";
        assert_eq!(super::peer_usage(log, "alice"), (920, 810));
        assert_eq!(super::peer_usage(log, "carol"), (0, 0));
    }
}
