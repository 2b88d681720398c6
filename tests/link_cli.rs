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

#[test]
fn the_link_can_come_from_standard_input_a_file_or_the_environment_never_only_the_command_line() {
    use std::io::Write;
    let made = conclave(&[
        "link",
        "new",
        "--sfu",
        "ws://127.0.0.1:8188",
        "--room",
        "quiet",
    ]);
    let link = stdout(&made).trim().to_owned();
    let check = |arg: Option<&str>, env: Option<&str>, input: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_conclave"));
        c.args(["link", "check"]).args(arg);
        c.env_remove("CONCLAVE_LINK");
        if let Some(v) = env {
            c.env("CONCLAVE_LINK", v);
        }
        let mut child = c
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let file = std::env::temp_dir().join(format!("conclave-link-{}", std::process::id()));
    std::fs::write(&file, format!("{link}\n")).unwrap();
    let at_file = format!("@{}", file.display());
    for (arg, env, input) in [
        (Some("-"), None, format!("{link}\n")),
        (Some(at_file.as_str()), None, String::new()),
        (None, Some(link.as_str()), String::new()),
    ] {
        let out = check(arg, env, &input);
        assert!(
            out.status.success(),
            "{arg:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout(&out).starts_with("valid link"), "{arg:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).is_empty(),
            "no warning for {arg:?}"
        );
    }
    // Literally on the command line: it works, with a warning.
    let out = check(Some(&link), None, "");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("visible to other users"));
    // No link anywhere: said.
    let out = check(None, None, "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("CONCLAVE_LINK"));
    let _ = std::fs::remove_file(file);
}
