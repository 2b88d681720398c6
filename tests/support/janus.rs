//! A real Janus for tests: its own network namespace (Janus offers no 127.0.0.1 ICE candidate, so
//! it and the clients use 127.0.0.2 on an `ifb` device there), its own configuration with only the
//! VideoRoom plugin and the WebSocket transport on 127.0.0.1:8188, and its own recording folder.
//! Everything is torn down on drop. Needs root (for `ip netns`) and the `janus` package.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Where Debian's janus package keeps its modules.
const MODULES: &str = "/usr/lib/x86_64-linux-gnu/janus";

/// The signalling address inside the namespace.
pub const WS_URL: &str = "ws://127.0.0.1:8188";
/// The TLS signalling address inside the namespace (with [`JanusNet::start_tls`]).
pub const WSS_URL: &str = "wss://127.0.0.1:8989";

/// A certificate authority the test makes, and the certificates it signs for Janus.
pub struct TestCa {
    /// The authority's certificate (what a client is told to trust).
    pub ca: PathBuf,
    /// A certificate for 127.0.0.1 and its key.
    pub server: (PathBuf, PathBuf),
    /// A certificate for another name (`wrong.example`) and its key.
    pub wrong: (PathBuf, PathBuf),
}

impl TestCa {
    /// Makes the authority and its two certificates in `dir` (with `openssl`).
    fn make(dir: &Path) -> TestCa {
        let path = |name: &str| dir.join(name);
        let ca = path("ca.pem");
        run(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                path("ca.key").to_str().unwrap(),
                "-out",
                ca.to_str().unwrap(),
                "-days",
                "2",
                "-subj",
                "/CN=Conclave Test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        let sign = |name: &str, san: &str| {
            let (key, csr, cert, ext) = (
                path(&format!("{name}.key")),
                path(&format!("{name}.csr")),
                path(&format!("{name}.pem")),
                path(&format!("{name}.ext")),
            );
            std::fs::write(
                &ext,
                format!(
                    "subjectAltName={san}\nbasicConstraints=CA:FALSE\n\
                     keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n"
                ),
            )
            .unwrap();
            run(
                "openssl",
                &[
                    "req",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                    "-keyout",
                    key.to_str().unwrap(),
                    "-out",
                    csr.to_str().unwrap(),
                    "-subj",
                    &format!("/CN={name}"),
                ],
            );
            run(
                "openssl",
                &[
                    "x509",
                    "-req",
                    "-in",
                    csr.to_str().unwrap(),
                    "-CA",
                    ca.to_str().unwrap(),
                    "-CAkey",
                    path("ca.key").to_str().unwrap(),
                    "-CAcreateserial",
                    "-out",
                    cert.to_str().unwrap(),
                    "-days",
                    "2",
                    "-extfile",
                    ext.to_str().unwrap(),
                ],
            );
            (cert, key)
        };
        let server = sign("server", "IP:127.0.0.1");
        let wrong = sign("wrong", "DNS:wrong.example");
        TestCa { ca, server, wrong }
    }
}

/// Packets a bottleneck of [`JanusNet::cap_uplinks`] holds: 60 kB, 0.6 s at 800 kbit/s.
pub const CAP_QUEUE: u32 = 50;

/// Which packets [`JanusNet::lose_from_janus`] drops.
#[allow(dead_code, reason = "only the impaired-network tests use it")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lossy {
    /// RTP and RTCP: media, retransmissions, reports.
    Media,
    /// Every UDP packet: the data channel and ICE too.
    Everything,
}

pub struct JanusNet {
    pub ns: String,
    pub dir: PathBuf,
    /// Where rooms created with `--record-dir` record (tests of what the SFU stores).
    #[allow(dead_code, reason = "only the recording test reads it")]
    pub rec_dir: PathBuf,
    /// The test's certificate authority, with [`JanusNet::start_tls`].
    #[allow(dead_code, reason = "only the TLS test reads it")]
    pub tls: Option<TestCa>,
    /// Janus, while it runs (behind a lock, so a test can restart it while participants hold
    /// the namespace).
    janus: std::sync::Mutex<Option<Child>>,
}

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("{program} could not run: {e}"));
    assert!(status.success(), "{program} {args:?} failed");
}

impl JanusNet {
    /// Janus serving `wss://` ([`WSS_URL`]) too, with a certificate for 127.0.0.1 from a CA the
    /// test makes.
    #[allow(dead_code, reason = "only the TLS test uses it")]
    pub fn start_tls() -> JanusNet {
        Self::start_with(true)
    }

    pub fn start() -> JanusNet {
        Self::start_with(false)
    }

    /// The namespace without Janus (for another SFU: see `support::galene`).
    #[allow(dead_code, reason = "only the Galène tests use it")]
    pub fn without_janus() -> JanusNet {
        Self::namespace(false)
    }

    fn start_with(tls: bool) -> JanusNet {
        let net = Self::namespace(tls);
        net.start_janus();
        net
    }

    fn namespace(tls: bool) -> JanusNet {
        static N: AtomicU32 = AtomicU32::new(0);
        let ns = format!(
            "conclave-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(&ns);
        let _ = std::fs::remove_dir_all(&dir);
        let rec_dir = dir.join("recordings");
        std::fs::create_dir_all(&rec_dir).unwrap();
        run("ip", &["netns", "add", &ns]);
        let tls = tls.then(|| TestCa::make(&dir));
        let net = JanusNet {
            ns,
            dir,
            rec_dir,
            tls,
            janus: std::sync::Mutex::new(None),
        };
        run("ip", &["-n", &net.ns, "link", "set", "lo", "up"]);
        // Our own ports, ephemeral, stay clear of the SFUs' media ports (Janus 20000-20400,
        // Galène 40000-40400): the uplink caps tell our packets from an SFU's by them.
        run(
            "ip",
            &[
                "netns",
                "exec",
                &net.ns,
                "sh",
                "-c",
                "echo 41000 60999 > /proc/sys/net/ipv4/ip_local_port_range",
            ],
        );
        run("ip", &["-n", &net.ns, "link", "add", "ifb0", "type", "ifb"]);
        run(
            "ip",
            &["-n", &net.ns, "addr", "add", "127.0.0.2/32", "dev", "ifb0"],
        );
        run("ip", &["-n", &net.ns, "link", "set", "ifb0", "up"]);
        net.write_config();
        net
    }

    /// A command that runs inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns]).arg(program);
        c
    }

    /// Whether something inside the namespace accepts TCP connections on 127.0.0.1:`port`.
    pub fn listening(&self, port: u16) -> bool {
        self.command("bash")
            .args(["-c", &format!("exec 3<>/dev/tcp/127.0.0.1/{port}")])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Kills Janus (as a crash would).
    pub fn kill_janus(&self) {
        let running = self.janus.lock().unwrap().take();
        if let Some(mut janus) = running {
            let _ = janus.kill();
            let _ = janus.wait();
        }
    }

    /// Starts Janus and waits until its WebSocket transport listens (`ws://`, and `wss://` when
    /// configured).
    pub fn start_janus(&self) {
        assert!(
            self.janus.lock().unwrap().is_none(),
            "Janus is already running"
        );
        let conf = self.dir.join("conf");
        let mut janus = self
            .command("janus")
            .args(["-F"])
            .arg(&conf)
            .args(["-o", "-D", "-d", "4"])
            // Should Janus crash, its core file lands here, not in the clone.
            .current_dir(&self.dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("janus is installed (scripts/test installs it)");
        let out = janus.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let log = self.dir.join("janus.log");
        std::thread::spawn(move || {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .ok();
            // Janus may print bytes that are not UTF-8: read raw lines so the log never stops.
            for line in BufReader::new(out).split(b'\n').map_while(Result::ok) {
                let line = String::from_utf8_lossy(&line);
                // After every server (ws and, if configured, wss) has started listening.
                if line.contains("WebSockets thread started") {
                    let _ = tx.send(());
                }
                if let Some(f) = file.as_mut() {
                    use std::io::Write;
                    let _ = writeln!(f, "{line}");
                }
            }
        });
        *self.janus.lock().unwrap() = Some(janus);
        let deadline = Instant::now() + Duration::from_secs(20);
        while rx.recv_timeout(Duration::from_millis(100)).is_err() {
            assert!(
                Instant::now() < deadline,
                "Janus did not start; see {}",
                self.dir.join("janus.log").display()
            );
        }
    }

    fn write_config(&self) {
        let conf = self.dir.join("conf");
        for kind in ["plugins", "transports", "events", "loggers"] {
            std::fs::create_dir_all(conf.join("mod").join(kind)).unwrap();
        }
        for (kind, lib) in [
            ("plugins", "libjanus_videoroom.so"),
            ("transports", "libjanus_websockets.so"),
        ] {
            let target = Path::new(MODULES).join(kind).join(lib);
            assert!(
                target.exists(),
                "{} missing: install janus",
                target.display()
            );
            std::os::unix::fs::symlink(&target, conf.join("mod").join(kind).join(lib)).unwrap();
        }
        let c = conf.display();
        std::fs::write(
            conf.join("janus.jcfg"),
            format!(
                r#"general: {{
	configs_folder = "{c}"
	plugins_folder = "{c}/mod/plugins"
	transports_folder = "{c}/mod/transports"
	events_folder = "{c}/mod/events"
	loggers_folder = "{c}/mod/loggers"
	debug_level = 4
	interface = "127.0.0.2"
	session_timeout = 60
}}
certificates: {{
}}
media: {{
	ipv6 = false
	rtp_port_range = "20000-20400"
	min_nack_queue = 1000
}}
nat: {{
	full_trickle = false
	ice_lite = false
	ice_tcp = false
	ignore_mdns = true
	ice_enforce_list = "127.0.0.2"
}}
plugins: {{
}}
transports: {{
}}
loggers: {{
}}
events: {{
	broadcast = false
}}
"#
            ),
        )
        .unwrap();
        self.write_websockets(self.tls.as_ref().map(|t| &t.server));

        std::fs::write(conf.join("janus.plugin.videoroom.jcfg"), "general: {\n}\n").unwrap();
    }
}

impl JanusNet {
    /// The WebSocket transport's configuration: `ws://` always, `wss://` with `cert`.
    fn write_websockets(&self, cert: Option<&(PathBuf, PathBuf)>) {
        let wss = match cert {
            Some((pem, key)) => format!(
                "\twss = true\n\twss_port = 8989\n\twss_ip = \"127.0.0.1\"\n}}\n\
                 certificates: {{\n\tcert_pem = \"{}\"\n\tcert_key = \"{}\"\n",
                pem.display(),
                key.display()
            ),
            None => "\twss = false\n".into(),
        };
        std::fs::write(
            self.dir
                .join("conf")
                .join("janus.transport.websockets.jcfg"),
            format!(
                "general: {{\n\tjson = \"compact\"\n\tws = true\n\tws_port = 8188\n\
                 \tws_ip = \"127.0.0.1\"\n\tws_logging = \"err,warn\"\n{wss}}}\n\
                 admin: {{\n\tadmin_ws = false\n\tadmin_wss = false\n}}\n"
            ),
        )
        .unwrap();
    }

    /// From now on drops `percent` % of the UDP packets Janus sends, at random (nftables inside
    /// the namespace): every participant's downlink loses that much — media and
    /// retransmissions, and with [`Lossy::Everything`] the data channel (keys, chat) and ICE too.
    /// Uplinks stay clean, so a loss the test sees is a downlink loss.
    #[allow(dead_code, reason = "only the impaired-network tests use it")]
    pub fn lose_from_janus(&self, percent: u32, lossy: Lossy) {
        let permille = percent * 10;
        // RTP and RTCP start with version 2 in their first two bits (RFC 7983); DTLS (the data
        // channel) and STUN do not.
        let only = match lossy {
            Lossy::Media => "@th,64,2 2 ",
            Lossy::Everything => "",
        };
        for rule in [
            "add table inet impair".to_owned(),
            "add chain inet impair input { type filter hook input priority 0 ; }".to_owned(),
            format!(
                "add rule inet impair input udp sport 20000-20400 {only}numgen random mod 1000 < {permille} drop"
            ),
        ] {
            self.nft(&rule);
        }
    }

    /// Gives the participants who send from `addresses` (their `--ice-address`, each on this
    /// namespace's loopback; the SFU answers them there) an uplink of `kbit` kbit/s each, with a
    /// queue of [`CAP_QUEUE`] packets: HTB on the loopback, a class per address, nftables
    /// choosing it (the kernel has no netem). Everything they send over UDP passes it (not what
    /// Galène sends them: it answers from its wildcard sockets, so from their own address, but
    /// from its media ports)
    /// — media, data channel, ICE — as behind a home connection's upload; signalling (TCP) and
    /// their downlinks do not.
    #[allow(dead_code, reason = "only the impaired-network tests use it")]
    pub fn cap_uplinks(&self, addresses: &[&str], kbit: u32) {
        let tc = |args: &str| {
            let status = self
                .command("tc")
                .args(args.split(' '))
                .stderr(Stdio::null())
                .status()
                .expect("tc runs (package iproute2)");
            assert!(status.success(), "tc {args}");
        };
        tc("qdisc add dev lo root handle 1: htb default 99");
        tc("class add dev lo parent 1: classid 1:99 htb rate 10gbit");
        let mut rules = vec![
            "add table inet cap".to_owned(),
            "add chain inet cap output { type filter hook output priority 0 ; }".to_owned(),
        ];
        for (i, address) in addresses.iter().enumerate() {
            run(
                "ip",
                &[
                    "-n",
                    &self.ns,
                    "addr",
                    "add",
                    &format!("{address}/32"),
                    "dev",
                    "ifb0",
                ],
            );
            let class = format!("1:{}", 10 + i);
            tc(&format!(
                "class add dev lo parent 1: classid {class} htb rate {kbit}kbit"
            ));
            // A router's queue, not the sockets' buffers: what does not fit is dropped.
            tc(&format!(
                "qdisc add dev lo parent {class} pfifo limit {CAP_QUEUE}"
            ));
            // HTB takes a packet's priority as its class when it names one.
            rules.push(format!(
                "add rule inet cap output ip saddr {address} udp sport != {{ 20000-20400, 40000-40400 }} meta priority set {class}"
            ));
        }
        for rule in rules {
            self.nft(&rule);
        }
    }

    /// Runs one nftables command in the namespace; it must succeed.
    #[allow(dead_code, reason = "only the impaired-network tests use it")]
    fn nft(&self, rule: &str) {
        let status = self
            .command("nft")
            .arg(rule)
            .status()
            .expect("nft runs (package nftables)");
        assert!(status.success(), "nft {rule}");
    }

    /// Restarts Janus serving the test CA's certificate for another name (`wrong.example`).
    #[allow(dead_code, reason = "only the TLS test uses it")]
    pub fn serve_wrong_certificate(&mut self) {
        self.kill_janus();
        let wrong = self.tls.as_ref().expect("started with TLS").wrong.clone();
        self.write_websockets(Some(&wrong));
        self.start_janus();
    }
}

impl Drop for JanusNet {
    fn drop(&mut self) {
        self.kill_janus();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}
