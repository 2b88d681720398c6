//! People who come and go.
mod support;

use std::time::Duration;

use support::janus::JanusNet;
use support::participant::{new_link, others, spawn};

#[test]
fn come_and_go() {
    let net = JanusNet::start();
    let link = new_link("churn");
    let a = spawn(&net, &link, "a", 24);
    let b = spawn(&net, &link, "b", 24);
    std::thread::sleep(Duration::from_secs(3));
    let c = spawn(&net, &link, "c", 4);
    let (cs, _) = c.finish();
    eprintln!("C: {}", serde_json::to_string_pretty(&cs).unwrap());
    std::thread::sleep(Duration::from_secs(1));
    let d = spawn(&net, &link, "d", 12);
    let (ds, _) = d.finish();
    for p in [a, b] {
        let (s, _) = p.finish();
        for o in others(&s) {
            eprintln!(
                "{}: {} {:?} v={} a={}",
                p_name(&s),
                o["display_name"],
                o["feeds"],
                o["video"]["frames_decoded"],
                o["audio"]["frames_decoded"]
            );
            eprintln!("   {}", o["video"]);
        }
    }
    for o in others(&ds) {
        eprintln!(
            "D: {} v={} a={}",
            o["display_name"], o["video"]["frames_decoded"], o["audio"]["frames_decoded"]
        );
    }
}

fn p_name(s: &serde_json::Value) -> String {
    s["pseudonym"].to_string()
}
