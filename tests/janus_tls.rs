//! TLS to the SFU: Janus serves `wss://` with a certificate from a CA the test makes. Trusting
//! that CA (on the command line, or through `SSL_CERT_FILE`) the participants meet; without it,
//! or facing a certificate for another name, a participant is refused at once with a message that
//! names the server, and does not keep retrying.
//!
//! Needs root, `janus` and `openssl` (scripts/test provides them).

mod support;

use support::janus::{JanusNet, WSS_URL};
use support::participant::{conclave, new_link_for, others, spawn_command, spawn_with};

const DEVICES: [&str; 4] = ["--camera", "synthetic", "--mic", "tone"];

#[test]
fn a_trusted_ca_meets_over_wss_and_an_untrusted_or_wrong_certificate_is_refused_naming_the_server()
{
    let mut net = JanusNet::start_tls();
    let ca = net.tls.as_ref().unwrap().ca.to_str().unwrap().to_owned();
    let link = new_link_for(WSS_URL, "tls");
    let mut with_ca = DEVICES.to_vec();
    with_ca.extend(["--ca-file", &ca]);
    let alice = spawn_with(&net, &link, "alice", 10, &with_ca);
    // Bob trusts it the way OpenSSL-minded systems are told to: SSL_CERT_FILE.
    let mut command = net.command(conclave());
    command.env("SSL_CERT_FILE", &ca);
    let bob = spawn_command(command, &net, &link, "bob", 10, &DEVICES);
    // Mallory's machine does not trust the test CA.
    let started = std::time::Instant::now();
    let (stats, out) = spawn_with(&net, &link, "mallory", 8, &DEVICES).finish();
    assert!(!out.status.success());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(6),
        "refused at once, not after retrying for the whole meeting"
    );
    assert_eq!(stats["error_kind"], "untrusted_server", "{stats}");
    let error = stats["error"].as_str().unwrap();
    assert!(
        error.contains("127.0.0.1") && error.contains("not trusted"),
        "{error}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stats["reconnects"], 0, "{stats}\n{stderr}");
    assert!(stderr.contains("not trusted"), "{stderr}");

    for p in [alice, bob] {
        let name = p.name.clone();
        let stats = p.finish_ok();
        let list = others(&stats);
        assert_eq!(list.len(), 1, "{name}: {stats}");
        assert_eq!(list[0]["verified"], true, "{name}: {stats}");
        assert!(
            list[0]["video"]["frames_decoded"].as_u64().unwrap() > 100,
            "{name}: {stats}"
        );
    }

    // A certificate from the trusted CA, but for another name: refused as well.
    net.serve_wrong_certificate();
    let (stats, out) = spawn_with(&net, &link, "carol", 6, &with_ca).finish();
    assert!(!out.status.success());
    assert_eq!(stats["error_kind"], "untrusted_server", "{stats}");
    let error = stats["error"].as_str().unwrap();
    assert!(error.contains("issued for another server"), "{error}");
}
