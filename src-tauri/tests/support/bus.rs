//! A private D-Bus session bus at a socket path of our own (abstract sockets do not cross
//! network namespaces; a path does).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `dbus-daemon --session` listening at `dir/bus`; returns it and its address.
pub fn session_bus(dir: &Path) -> (Child, String) {
    let path = dir.join("bus");
    let address = format!("unix:path={}", path.display());
    let daemon = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--nopidfile"])
        .arg(format!("--address={address}"))
        .stdout(Stdio::null())
        .spawn()
        .expect("dbus-daemon is installed");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.exists() {
        assert!(Instant::now() < deadline, "dbus-daemon did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (daemon, address)
}

/// Starts gnome-keyring's Secret Service on `bus` with a login keyring unlocked by a password on
/// stdin, as a desktop login would. Its files live under `dir`.
pub fn unlocked_keyring(dir: &Path, bus: &str) -> Child {
    use std::io::Write;
    let home = dir.join("keyring-home");
    std::fs::create_dir_all(&home).unwrap();
    let mut keyring = Command::new("gnome-keyring-daemon")
        .args(["--unlock", "--components=secrets", "--foreground"])
        .env("DBUS_SESSION_BUS_ADDRESS", bus)
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gnome-keyring is installed");
    let mut stdin = keyring.stdin.take().unwrap();
    stdin.write_all(b"PASS").unwrap();
    drop(stdin);
    // Ready once it owns the Secret Service's name (an app asking sooner finds no keyring).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !name_has_owner(bus, "org.freedesktop.secrets") {
        assert!(Instant::now() < deadline, "gnome-keyring did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    keyring
}

fn name_has_owner(bus: &str, name: &str) -> bool {
    Command::new("gdbus")
        .args(["call", "--session", "--dest", "org.freedesktop.DBus"])
        .args(["--object-path", "/org/freedesktop/DBus"])
        .args(["--method", "org.freedesktop.DBus.NameHasOwner", name])
        .env("DBUS_SESSION_BUS_ADDRESS", bus)
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("true"))
}

/// What the Secret Service on `bus` holds for `service`, asked with `secret-tool` (not our code).
pub fn secret_tool_search(bus: &str, service: &str) -> String {
    let out = Command::new("secret-tool")
        .args(["search", "--all", "--unlock", "service", service])
        .env("DBUS_SESSION_BUS_ADDRESS", bus)
        .output()
        .expect("secret-tool is installed");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
