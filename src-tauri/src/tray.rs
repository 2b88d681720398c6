//! The tray icon: microphone and camera switches, stop sharing, show window, leave, quit. Its icon shows
//! whether the microphone is live. Every item calls the same [`Controller`] as the window.

use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, Wry};

use crate::controller::Controller;

/// The tray's parts that change with the meeting.
pub struct Tray {
    icon: TrayIcon,
    microphone: CheckMenuItem<Wry>,
    camera: CheckMenuItem<Wry>,
    show: MenuItem<Wry>,
    /// "Share screen…" outside a share, "Stop sharing" during one.
    share: MenuItem<Wry>,
    language: std::sync::Mutex<String>,
    leave: MenuItem<Wry>,
    quit: MenuItem<Wry>,
    live: Image<'static>,
    muted: Image<'static>,
    /// What the tray shows now, so that unchanged state costs nothing.
    shown: std::sync::Mutex<Option<Shown>>,
}

/// The switches (microphone, camera) in a meeting, and whether we share.
type Shown = (Option<(bool, bool)>, bool);

/// Menu labels in the UI's language.
fn labels(language: &str) -> [&'static str; 7] {
    match language {
        "de" => [
            "Mikrofon an",
            "Kamera an",
            "Fenster zeigen",
            "Bildschirm teilen …",
            "Besprechung verlassen",
            "Beenden",
            "Teilen beenden",
        ],
        _ => [
            "Microphone on",
            "Camera on",
            "Show window",
            "Share screen…",
            "Leave meeting",
            "Quit",
            "Stop sharing",
        ],
    }
}

/// The app icon with a red bar across its lower part: the microphone is off.
fn muted_variant(live: &Image<'_>) -> Image<'static> {
    let (w, h) = (live.width() as usize, live.height() as usize);
    let mut rgba = live.rgba().to_vec();
    for y in h * 3 / 4..h {
        for x in 0..w {
            let i = (y * w + x) * 4;
            rgba[i..i + 4].copy_from_slice(&[0xd0, 0x1c, 0x1c, 0xff]);
        }
    }
    Image::new_owned(rgba, w as u32, h as u32)
}

impl Tray {
    /// Builds the tray. Without a tray host (a bare X server) it is created but invisible.
    pub fn build(app: &AppHandle) -> tauri::Result<Tray> {
        let live = Image::from_bytes(include_bytes!("../icons/32x32.png"))?.to_owned();
        let muted = muted_variant(&live);
        let [mic, cam, show, share, leave, quit, _] = labels("en");
        let microphone =
            CheckMenuItem::with_id(app, "microphone", mic, false, false, None::<&str>)?;
        let camera = CheckMenuItem::with_id(app, "camera", cam, false, false, None::<&str>)?;
        let show = MenuItem::with_id(app, "show", show, true, None::<&str>)?;
        let share = MenuItem::with_id(app, "share", share, false, None::<&str>)?;
        let leave = MenuItem::with_id(app, "leave", leave, false, None::<&str>)?;
        let quit = MenuItem::with_id(app, "quit", quit, true, None::<&str>)?;
        let separator = PredefinedMenuItem::separator(app)?;
        let menu = Menu::with_items(
            app,
            &[
                &microphone,
                &camera,
                &share,
                &separator,
                &show,
                &leave,
                &quit,
            ],
        )?;
        let icon = TrayIconBuilder::with_id("conclave")
            .icon(live.clone())
            .tooltip("Conclave")
            .menu(&menu)
            .on_menu_event(|app, event| crate::tray_action(app, event.id.as_ref()))
            .build(app)?;
        Ok(Tray {
            icon,
            microphone,
            camera,
            show,
            share,
            language: std::sync::Mutex::new("en".into()),
            leave,
            quit,
            live,
            muted,
            shown: std::sync::Mutex::default(),
        })
    }

    /// Shows the meeting's switches; outside a meeting the switches are disabled.
    pub fn refresh(&self, controller: &Controller) {
        let switches = controller.switches();
        let sharing = controller.sharing();
        if let Ok(mut shown) = self.shown.lock() {
            if *shown == Some((switches, sharing)) {
                return;
            }
            *shown = Some((switches, sharing));
        }
        let _ = self.share.set_enabled(switches.is_some());
        self.label_share(sharing);
        let (mic, cam) = switches.unwrap_or((false, false));
        let in_meeting = switches.is_some();
        let _ = self.microphone.set_checked(mic);
        let _ = self.camera.set_checked(cam);
        let _ = self.microphone.set_enabled(in_meeting);
        let _ = self.camera.set_enabled(in_meeting);
        let _ = self.leave.set_enabled(in_meeting);
        let icon = if in_meeting && !mic {
            &self.muted
        } else {
            &self.live
        };
        let _ = self.icon.set_icon(Some(icon.clone()));
        let tooltip = match (in_meeting, mic) {
            (false, _) => "Conclave",
            (true, true) => "Conclave: microphone on",
            (true, false) => "Conclave: microphone off",
        };
        let _ = self.icon.set_tooltip(Some(tooltip));
    }

    /// Relabels the menu.
    pub fn set_language(&self, language: &str) {
        let [mic, cam, show, _, leave, quit, _] = labels(language);
        if let Ok(mut l) = self.language.lock() {
            *l = language.to_owned();
        }
        let _ = self.microphone.set_text(mic);
        let _ = self.camera.set_text(cam);
        let _ = self.show.set_text(show);
        let sharing = self
            .shown
            .lock()
            .ok()
            .and_then(|s| s.map(|(_, sharing)| sharing))
            .unwrap_or(false);
        self.label_share(sharing);
        let _ = self.leave.set_text(leave);
        let _ = self.quit.set_text(quit);
    }
}

impl Tray {
    fn label_share(&self, sharing: bool) {
        let language = self.language.lock().map(|l| l.clone()).unwrap_or_default();
        let labels = labels(&language);
        let _ = self
            .share
            .set_text(if sharing { labels[6] } else { labels[3] });
    }
}

/// Brings the main window back (from the tray or a second launch).
pub fn show_window(app: &AppHandle) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_focus();
    }
}
