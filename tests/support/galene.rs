//! A real Galène for tests, in a test namespace ([`JanusNet::without_janus`]): HTTP and its
//! WebSocket on 127.0.0.1:8443, media on 127.0.0.2. Galène (pion) offers no host candidate on a
//! loopback address, so its built-in TURN server on 127.0.0.2 relays its side of every
//! connection — inside the namespace, on loopback only. One group, `conclave`, whose meetings are
//! its subgroups. The binary: `CONCLAVE_GALENE`, else `galene` on the PATH, else the one
//! `scripts/test` builds into `~/.cache/conclave/` from Galène's sources.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::janus::JanusNet;

/// The group's address, as a link names it.
pub const SFU: &str = "galene+ws://127.0.0.1:8443/group/conclave/";
/// A group whose every member is an operator allowed to record (`--record-dir`).
pub const RECORDED_SFU: &str = "galene+ws://127.0.0.1:8443/group/recorded/";

/// Where the Galène binary is.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CONCLAVE_GALENE") {
        return path.into();
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("galene");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let cached = home.join(".cache/conclave/galene-0.7.2");
    assert!(
        cached.is_file(),
        "no Galène: scripts/test builds it (or set CONCLAVE_GALENE to a galene binary)"
    );
    cached
}

pub struct Galene {
    /// Galène, while it runs (behind a lock: a test restarts it while participants run).
    child: std::sync::Mutex<Option<Child>>,
    /// Galène's recordings (a folder per group).
    pub rec_dir: PathBuf,
}

impl Galene {
    /// Starts Galène in `net`'s namespace and waits until it listens.
    pub fn start(net: &JanusNet) -> Galene {
        let dir = net.dir.join("galene");
        let groups = dir.join("groups");
        let rec_dir = dir.join("recordings");
        for d in [&groups, &rec_dir, &dir.join("data"), &dir.join("static")] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(
            groups.join("conclave.json"),
            r#"{"presenter":[{}],"allow-subgroups":true,"codecs":["h264","opus"]}"#,
        )
        .unwrap();
        std::fs::write(
            groups.join("recorded.json"),
            r#"{"op":[{}],"allow-subgroups":true,"allow-recording":true,"codecs":["h264","opus"]}"#,
        )
        .unwrap();
        let galene = Galene {
            child: std::sync::Mutex::new(None),
            rec_dir,
        };
        galene.run(net);
        galene
    }

    /// Starts (again) the process.
    pub fn run(&self, net: &JanusNet) {
        assert!(
            self.child.lock().unwrap().is_none(),
            "Galène is already running"
        );
        let dir = net.dir.join("galene");
        let log = std::fs::File::create(dir.join("galene.log")).unwrap();
        let child = net
            .command(binary())
            .args(["-insecure", "-http", "127.0.0.1:8443"])
            .args(["-turn", "127.0.0.2:1194", "-udp-range", "40000-40400"])
            .arg("-data")
            .arg(dir.join("data"))
            .arg("-groups")
            .arg(dir.join("groups"))
            .arg("-recordings")
            .arg(&self.rec_dir)
            .arg("-static")
            .arg(dir.join("static"))
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("galene runs");
        *self.child.lock().unwrap() = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if net.listening(8443) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "Galène did not start; see {}",
                dir.join("galene.log").display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills Galène (as a crash would).
    pub fn kill(&self) {
        let running = self.child.lock().unwrap().take();
        if let Some(mut child) = running {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Galene {
    fn drop(&mut self) {
        self.kill();
    }
}
