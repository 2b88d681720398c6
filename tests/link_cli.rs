//! `conclave link new` and `conclave link check`.

use std::process::{Command, Output};

fn conclave(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_conclave"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn new_links_parse_and_carry_fresh_secrets() {
    let a = conclave(&["link", "new", "--sfu", "ws://127.0.0.1:8188"]);
    let b = conclave(&[
        "link",
        "new",
        "--sfu",
        "ws://127.0.0.1:8188",
        "--room",
        "daily",
    ]);
    assert!(a.status.success() && b.status.success());
    let (a, b) = (stdout(&a), stdout(&b));
    let a = conclave_room::JoinLink::parse(a.trim()).unwrap();
    let b = conclave_room::JoinLink::parse(b.trim()).unwrap();
    assert_eq!(a.sfu.url, "ws://127.0.0.1:8188/");
    assert_eq!(b.room, "daily");
    assert_ne!(a.secret, b.secret);
    assert!(
        a.room.chars().all(|c| c.is_ascii_digit()),
        "random rooms are Janus room numbers"
    );
}

#[test]
fn the_https_form_is_printed_on_request_and_parses_to_the_same_link() {
    let out = conclave(&[
        "link",
        "new",
        "--sfu",
        "janus+wss://meet.example.org/janus",
        "--pin",
        "4711",
        "--https",
        "https://meet.example.org",
    ]);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[1].starts_with("https://meet.example.org/join?"));
    let a = conclave_room::JoinLink::parse(lines[0]).unwrap();
    let b = conclave_room::JoinLink::parse(lines[1]).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.pin.as_deref(), Some("4711"));
}

#[test]
fn bad_input_gets_a_clear_message_and_a_failing_exit_code() {
    let out = conclave(&["link", "new", "--sfu", "ftp://x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SFU address must start with"));
    let out = conclave(&["link", "new", "--sfu", "ws://h", "--room", "no spaces"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("room name"));

    let out = conclave(&["link", "check", "conclave://join?room=x"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out).trim(), "invalid link: the link has no sfu");
    let good = stdout(&conclave(&[
        "link", "new", "--sfu", "ws://h:1", "--room", "r",
    ]));
    let out = conclave(&["link", "check", good.trim()]);
    assert!(out.status.success());
    assert_eq!(
        stdout(&out).trim(),
        "valid link: Janus SFU at ws://h:1/, room r"
    );
}
