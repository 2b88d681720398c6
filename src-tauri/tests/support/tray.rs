//! The app's tray icon as a desktop panel sees it: the StatusNotifierItem and its D-Bus menu
//! (`com.canonical.dbusmenu`) that libayatana-appindicator exports on the session bus. The test
//! clicks menu items and reads the icon exactly as a panel would, through `gdbus`.

use std::process::Command;
use std::time::{Duration, Instant};

const ITEM: &str = "/org/ayatana/NotificationItem/tray_icon_tray_app_conclave";

pub struct TrayHost {
    bus: String,
    /// The app's connection that exports the tray.
    owner: String,
}

/// One menu entry: its id, label and check state (if it has one).
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: u32,
    pub label: String,
    pub checked: Option<bool>,
    pub enabled: bool,
}

fn gdbus(bus: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new("gdbus")
        .args(["call", "--address", bus])
        .args(args)
        .output()
        .map_err(|e| format!("gdbus (libglib2.0-bin) is installed: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Parses the entries of a `GetLayout` answer as gdbus prints it.
fn entries(layout: &str) -> Vec<Entry> {
    let quoted = |chunk: &str, key: &str| -> Option<String> {
        let rest = &chunk[chunk.find(&format!("'{key}': <'"))? + key.len() + 6..];
        Some(rest[..rest.find("'>")?].to_owned())
    };
    let number = |chunk: &str, key: &str| -> Option<u32> {
        let rest = &chunk[chunk.find(&format!("'{key}': <"))? + key.len() + 5..];
        rest[..rest.find('>')?].parse().ok()
    };
    layout
        .split("<(")
        .skip(1)
        .filter_map(|chunk| {
            let id = chunk[..chunk.find(',')?].trim().parse().ok()?;
            Some(Entry {
                id,
                label: quoted(chunk, "label")?,
                checked: number(chunk, "toggle-state").map(|s| s == 1),
                enabled: !chunk.contains("'enabled': <false>"),
            })
        })
        .collect()
}

impl TrayHost {
    /// Finds the connection on `bus` that exports the tray, waiting up to `within`.
    pub fn find(bus: &str, within: Duration) -> TrayHost {
        let deadline = Instant::now() + within;
        loop {
            let names = gdbus(
                bus,
                &[
                    "--dest",
                    "org.freedesktop.DBus",
                    "--object-path",
                    "/org/freedesktop/DBus",
                    "--method",
                    "org.freedesktop.DBus.ListNames",
                ],
            )
            .unwrap();
            for name in names.split('\'').filter(|n| n.starts_with(':')) {
                let host = TrayHost {
                    bus: bus.to_owned(),
                    owner: name.to_owned(),
                };
                if host.layout().is_ok() {
                    return host;
                }
            }
            assert!(Instant::now() < deadline, "no tray on the bus: {names}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Calls `method` on the app's object at `path` (the item, or its menu under `/Menu`).
    fn call(&self, path: &str, method: &str, args: &[&str]) -> Result<String, String> {
        let path = format!("{ITEM}{path}");
        let mut all = vec![
            "--dest",
            &self.owner,
            "--object-path",
            &path,
            "--method",
            method,
            "--",
        ];
        all.extend_from_slice(args);
        gdbus(&self.bus, &all)
    }

    fn layout(&self) -> Result<String, String> {
        self.call(
            "/Menu",
            "com.canonical.dbusmenu.GetLayout",
            &["0", "-1", "[]"],
        )
    }

    /// The menu's entries with labels.
    pub fn menu(&self) -> Vec<Entry> {
        entries(&self.layout().expect("the tray menu"))
    }

    /// The entry labelled `label`.
    pub fn entry(&self, label: &str) -> Entry {
        let menu = self.menu();
        menu.into_iter()
            .find(|e| e.label == label)
            .unwrap_or_else(|| panic!("no tray entry {label:?}"))
    }

    /// Clicks the entry labelled `label`, as a panel does when the user picks it.
    pub fn click(&self, label: &str) {
        let id = self.entry(label).id.to_string();
        self.call(
            "/Menu",
            "com.canonical.dbusmenu.Event",
            &[&id, "clicked", "<0>", "0"],
        )
        .expect("the click reaches the app");
    }

    /// Whether the icon carries the red "microphone off" bar across its lower quarter.
    pub fn shows_muted(&self) -> bool {
        let (w, h, rgba) = self.icon();
        let lower = &rgba[(w * h * 3 / 4 * 4) as usize..];
        let red = lower
            .chunks_exact(4)
            .filter(|p| p[0] > 0xc0 && p[1] < 0x40 && p[2] < 0x40 && p[3] == 0xff)
            .count();
        red * 2 > lower.len() / 4
    }

    /// The icon as RGBA pixels (width, height, bytes), read from the file the item names.
    pub fn icon(&self) -> (u32, u32, Vec<u8>) {
        let answer = self
            .call(
                "",
                "org.freedesktop.DBus.Properties.Get",
                &["org.kde.StatusNotifierItem", "IconName"],
            )
            .expect("the tray's icon name");
        let path = answer.split('\'').nth(1).expect("a quoted icon name");
        let png = std::fs::read(path).expect("the icon file");
        let mut reader = png::Decoder::new(std::io::Cursor::new(png))
            .read_info()
            .unwrap();
        let mut rgba = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut rgba).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgba);
        rgba.truncate(info.buffer_size());
        (info.width, info.height, rgba)
    }
}

#[test]
fn layouts_as_gdbus_prints_them_parse() {
    let layout = "(uint32 2, (0, {'children-display': <'submenu'>}, [<(2, {'enabled': <false>, \
        'toggle-state': <0>, 'toggle-type': <'checkmark'>, 'label': <'Microphone on'>}, @av [])>, \
        <(4, {'enabled': <true>, 'type': <'separator'>}, @av [])>, <(5, {'label': <'Show window'>}, \
        @av [])>]))";
    assert_eq!(
        entries(layout),
        [
            Entry {
                id: 2,
                label: "Microphone on".into(),
                checked: Some(false),
                enabled: false
            },
            Entry {
                id: 5,
                label: "Show window".into(),
                checked: None,
                enabled: true
            }
        ]
    );
}
