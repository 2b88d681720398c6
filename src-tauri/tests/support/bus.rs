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
