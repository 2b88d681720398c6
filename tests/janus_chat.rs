//! Chat through a real Janus, headless (`conclave join --chat-stdin`): a message typed by one
//! participant reaches the others with its sender, shown as the text it is; a private message
//! reaches its addressee alone; hands and reactions arrive; and what Janus records of the data
//! channels does not contain the text.
//!
//! Needs root and `janus` (scripts/test provides them).

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::janus::JanusNet;
use support::participant::{conclave, new_link};

const INJECTION: &str = "Hallo <img src=x onerror=alert(1)> & tschüss";
const SECRET_TEXT: &str = "nur für Bob: 4711";

struct Chatter {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<Value>,
    seen: Vec<Value>,
}

impl Chatter {
    fn spawn(net: &JanusNet, link: &str, name: &str, seconds: u32, extra: &[&str]) -> Chatter {
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

#[test]
fn chat_private_messages_hands_and_reactions_reach_whom_they_should_and_janus_stores_no_text() {
    let net = JanusNet::start();
    let link = new_link("4242");
    // Whoever comes first creates the room with recording on. Alice leaves by herself after a
    // while, so that Janus closes her recordings.
    let record = ["--record-dir", net.rec_dir.to_str().unwrap()];
    let mut bob = Chatter::spawn(&net, &link, "bob", 60, &record);
    let mut carol = Chatter::spawn(&net, &link, "carol", 60, &record);
    let mut alice = Chatter::spawn(&net, &link, "alice", 30, &record);
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

    // Janus recorded the data channels: the text is nowhere in them.
    let recorded: Vec<std::path::PathBuf> = std::fs::read_dir(&net.rec_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let data: Vec<_> = recorded
        .iter()
        .filter(|p| p.to_string_lossy().contains("-data-"))
        .collect();
    assert!(
        !data.is_empty(),
        "Janus recorded no data channel: {recorded:?}"
    );
    assert!(
        data.iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum::<u64>()
            > 1000,
        "the data recordings hold the messages (so the check below can fail)"
    );
    for p in &recorded {
        let bytes = std::fs::read(p).unwrap();
        for needle in [INJECTION, SECRET_TEXT, "onerror", "tschüss"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle:?} is in {p:?}"
            );
        }
    }
}
