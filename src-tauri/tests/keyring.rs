//! Remembered rooms against a real Secret Service: gnome-keyring in a private D-Bus session. The
//! secret must be in the keyring (seen with `secret-tool`, independently of our code), never in
//! the settings file, and "forget everything" must remove both.
//!
//! The outer test starts the session and runs the inner one in a child process inside it (the
//! session's address is per process). Needs dbus-daemon, gnome-keyring and secret-tool
//! (scripts/test installs them).

#[path = "support/bus.rs"]
mod bus;

use std::path::PathBuf;
use std::process::{Child, Command};

use conclave_app::settings::{Keyring, SERVICE, Store};

const LINK: &str = "conclave://join?sfu=ws%3A%2F%2F127.0.0.1%3A8188&room=kept\
                    #k=q83vEjRWeJAsFRYXGBkaGxwdHh8gISIjJCUmJygpKis";

struct Session {
    children: Vec<Child>,
}

impl Drop for Session {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn a_remembered_room_lives_in_the_secret_service_until_everything_is_forgotten() {
    let dir = std::env::temp_dir().join(format!("conclave-keyring-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("home")).unwrap();
    let (dbus, bus) = bus::session_bus(&dir);
    let mut session = Session {
        children: vec![dbus],
    };
    let keyring = bus::unlocked_keyring(&dir, &bus);
    session.children.push(keyring);

    let inner = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "inside_the_session", "--ignored", "--nocapture"])
        .env("DBUS_SESSION_BUS_ADDRESS", &bus)
        .env("CONCLAVE_TEST_DIR", &dir)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&inner.stdout);
    assert!(
        inner.status.success() && out.contains("1 passed"),
        "{out}{}",
        String::from_utf8_lossy(&inner.stderr)
    );
    drop(session);
    let _ = std::fs::remove_dir_all(&dir);
}

fn secret_tool_search(bus: &str) -> String {
    bus::secret_tool_search(bus, SERVICE)
}

#[test]
#[ignore = "run by the test above, inside its D-Bus session"]
fn inside_the_session() {
    let dir = PathBuf::from(std::env::var_os("CONCLAVE_TEST_DIR").expect("run by the outer test"));
    let bus = std::env::var("DBUS_SESSION_BUS_ADDRESS").unwrap();
    let config = dir.join("config");
    let store = Store::new(&config, Box::new(Keyring));
    let secret = LINK.split_once('#').unwrap().1;

    let room = store.remember(LINK).expect("the keyring takes the secret");
    let file = std::fs::read_to_string(config.join("settings.json")).unwrap();
    assert!(!file.contains(secret), "the secret stays out of the file");
    let held = secret_tool_search(&bus);
    assert!(
        held.contains(&room.id) && held.contains(secret),
        "the Secret Service holds the room's secret: {held}"
    );
    let link = store.link(&room.id).unwrap();
    assert!(link.ends_with(secret), "{link}");

    store.forget_everything().unwrap();
    let held = secret_tool_search(&bus);
    assert!(!held.contains(secret), "forgotten: {held}");
    assert!(!config.join("settings.json").exists());
    assert!(store.link(&room.id).is_err());
}
