//! Chat through an SFU, headless (`conclave join --chat-stdin`): a message typed by one
//! participant reaches the others with its sender, shown as the text it is; a private message
//! reaches its addressee alone; hands and reactions arrive.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::janus::JanusNet;
use super::participant::conclave;

pub const INJECTION: &str = "Hallo <img src=x onerror=alert(1)> & tschüss";
pub const SECRET_TEXT: &str = "nur für Bob: 4711";

pub struct Chatter {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<Value>,
    seen: Vec<Value>,
}

impl Chatter {
    pub fn spawn(net: &JanusNet, link: &str, name: &str, seconds: u32, extra: &[&str]) -> Chatter {
        let mut child = net
            .command(conclave())
            .env("CONCLAVE_LINK", link)
            .args(["join", "--name", name, "--chat-stdin"])
            .args(["--camera", "synthetic", "--mic", "tone"])
            .args(["--resolution", "320x240", "--ice-address", "127.0.0.2"])
            .args(["--duration", &format!("{seconds}s"), "--stats-json"])
            .arg(net.dir.join(format!("{name}.json")))
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    continue; // the final report, pretty-printed, is not for us
                };
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Chatter {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    fn say(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Waits until a line satisfies `wanted`; returns it.
    fn wait_for(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(v) = self.seen.iter().find(|v| wanted(v)) {
                return v.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => self.seen.push(v),
                Err(_) => panic!("timed out waiting for {what}; saw {:?}", self.seen),
            }
        }
    }

    /// Everything printed so far.
    fn drain(&mut self) -> &[Value] {
        while let Ok(v) = self.lines.try_recv() {
            self.seen.push(v);
        }
        &self.seen
    }
}

impl Drop for Chatter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn here(name: &'static str) -> impl Fn(&Value) -> bool {
    move |v| (v["type"] == "joined" || v["type"] == "present") && v["name"] == name
}

/// Alice, Bob and Carol (each with `extra` arguments; Alice leaves by herself after 30 s) chat:
/// a message to all, a private one to Bob, a hand up and down, a reaction, a message to nobody.
pub fn chat_private_messages_hands_and_reactions_reach_whom_they_should(
    net: &JanusNet,
    link: &str,
    extra: &[&str],
) {
    let mut bob = Chatter::spawn(net, link, "bob", 60, extra);
    let mut carol = Chatter::spawn(net, link, "carol", 60, extra);
    let mut alice = Chatter::spawn(net, link, "alice", 30, extra);
    alice.wait_for("bob to be there", here("bob"));
    alice.wait_for("carol to be there", here("carol"));
    bob.wait_for("alice to be there", here("alice"));
    carol.wait_for("alice to be there", here("alice"));

    alice.say(INJECTION);
    alice.say(&format!("/msg bob {SECRET_TEXT}"));
    alice.say("/hand up");
    alice.say("/react 👍");

    // Alice sees her own message go out.
    alice.wait_for("her own message", |v| {
        v["type"] == "chat" && v["from"].is_null() && v["text"] == INJECTION
    });
    for (who, p) in [("bob", &mut bob), ("carol", &mut carol)] {
        let m = p.wait_for("alice's message", |v| {
            v["type"] == "chat" && v["text"] == INJECTION
        });
        assert_eq!(m["name"], "alice", "{who}: {m}");
        assert_eq!(m["verified"], true, "{who}: {m}");
        assert_eq!(m["private"], false, "{who}: {m}");
        p.wait_for("alice's hand", |v| {
            v["type"] == "hand" && v["name"] == "alice" && v["up"] == true
        });
        p.wait_for("alice's reaction", |v| {
            v["type"] == "reaction" && v["name"] == "alice" && v["emoji"] == "👍"
        });
    }
    let private = bob.wait_for("the private message", |v| {
        v["type"] == "chat" && v["text"] == SECRET_TEXT
    });
    assert_eq!(private["private"], true, "{private}");
    assert_eq!(private["name"], "alice", "{private}");

    // Lowering the hand reaches them too; by then the private message had every chance to
    // reach Carol, had it been sent to her.
    alice.say("/hand down");
    carol.wait_for("alice's hand down", |v| {
        v["type"] == "hand" && v["name"] == "alice" && v["up"] == false
    });
    std::thread::sleep(Duration::from_secs(1));
    let seen = carol.drain().to_vec();
    assert!(
        !seen.iter().any(|v| v.to_string().contains("4711")),
        "carol read the private message: {seen:?}"
    );
    // A name nobody has: said, not silently dropped.
    alice.say("/msg nobody hello");
    alice.wait_for("a message to nobody refused", |v| v["type"] == "not-sent");
    let status = alice.child.wait().unwrap();
    assert!(status.success(), "alice: {status}");
    drop(bob);
    drop(carol);
}
