//! A real X server (Xvfb) in the test's namespace, showing content the test knows: the whole
//! screen's background, or a window with a title, for the sharing tests to capture and compare.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    AtomEnum, ChangeWindowAttributesAux, ConnectionExt, CreateGCAux, CreateWindowAux, ImageFormat,
    PropMode, Window, WindowClass,
};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

use super::janus::JanusNet;

/// An X server and the test's own connection to it.
pub struct XDisplay {
    /// `:N`, for the participants' `DISPLAY`.
    pub name: String,
    pub width: u16,
    pub height: u16,
    conn: RustConnection,
    root: Window,
    xvfb: Child,
}

/// A grey picture as 32-bit B, G, R, X pixels (the X server's layout).
pub fn grey_to_bgrx(luma: &[u8]) -> Vec<u8> {
    luma.iter().flat_map(|&v| [v, v, v, 0]).collect()
}

impl XDisplay {
    /// Starts Xvfb at `width`×`height` in `net`'s namespace and connects to it.
    pub fn start(net: &JanusNet, width: u16, height: u16) -> XDisplay {
        Self::start_with(net.command("Xvfb"), width, height)
    }

    /// Starts Xvfb at `width`×`height` here (it listens on its Unix socket only) and connects
    /// to it.
    pub fn start_here(width: u16, height: u16) -> XDisplay {
        Self::start_with(std::process::Command::new("Xvfb"), width, height)
    }

    fn start_with(mut command: std::process::Command, width: u16, height: u16) -> XDisplay {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let number = 4200 + (std::process::id() * 8 + n) % 1000;
        let name = format!(":{number}");
        let xvfb = command
            .args([
                &name,
                "-screen",
                "0",
                &format!("{width}x{height}x24"),
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb is installed (scripts/test installs it)");
        let socket = std::path::PathBuf::from(format!("/tmp/.X11-unix/X{number}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        let (conn, screen) = loop {
            if socket.exists()
                && let Ok(connected) = x11rb::connect(Some(&name))
            {
                break connected;
            }
            assert!(Instant::now() < deadline, "Xvfb {name} did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        let root = conn.setup().roots[screen].root;
        XDisplay {
            name,
            width,
            height,
            conn,
            root,
            xvfb,
        }
    }

    /// Paints `bgrx` (the screen's size) into `drawable`, in bands that fit a request.
    fn put(&self, drawable: u32, width: u16, height: u16, bgrx: &[u8]) {
        let gc = self.conn.generate_id().unwrap();
        self.conn
            .create_gc(gc, drawable, &CreateGCAux::new())
            .unwrap();
        let row = usize::from(width) * 4;
        let band = (200_000 / row).max(1);
        for top in (0..usize::from(height)).step_by(band) {
            let rows = band.min(usize::from(height) - top);
            self.conn
                .put_image(
                    ImageFormat::Z_PIXMAP,
                    drawable,
                    gc,
                    width,
                    rows as u16,
                    0,
                    top as i16,
                    0,
                    24,
                    &bgrx[top * row..(top + rows) * row],
                )
                .unwrap();
        }
        self.conn.free_gc(gc).unwrap();
    }

    /// Shows `bgrx` as the whole screen (the root window's background).
    pub fn show(&self, bgrx: &[u8]) {
        let pixmap = self.conn.generate_id().unwrap();
        self.conn
            .create_pixmap(24, pixmap, self.root, self.width, self.height)
            .unwrap();
        self.put(pixmap, self.width, self.height, bgrx);
        self.conn
            .change_window_attributes(
                self.root,
                &ChangeWindowAttributesAux::new().background_pixmap(pixmap),
            )
            .unwrap();
        self.conn.clear_area(false, self.root, 0, 0, 0, 0).unwrap();
        self.conn.free_pixmap(pixmap).unwrap();
        self.conn.sync().unwrap();
    }

    /// Opens a top-level window titled `title` showing `bgrx` (`width`×`height`) at the top
    /// left.
    pub fn open_window(&self, title: &str, width: u16, height: u16, bgrx: &[u8]) -> Window {
        self.open_window_at(title, (0, 0), width, height, bgrx, None)
    }

    /// The same at `at` (x, y), marked as the window of process `pid` (`_NET_WM_PID`) if some.
    pub fn open_window_at(
        &self,
        title: &str,
        at: (i16, i16),
        width: u16,
        height: u16,
        bgrx: &[u8],
        pid: Option<u32>,
    ) -> Window {
        let window = self.conn.generate_id().unwrap();
        let pixmap = self.conn.generate_id().unwrap();
        self.conn
            .create_pixmap(24, pixmap, self.root, width, height)
            .unwrap();
        self.put(pixmap, width, height, bgrx);
        self.conn
            .create_window(
                24,
                window,
                self.root,
                at.0,
                at.1,
                width,
                height,
                0,
                WindowClass::INPUT_OUTPUT,
                0,
                &CreateWindowAux::new().background_pixmap(pixmap),
            )
            .unwrap();
        self.conn
            .change_property8(
                PropMode::REPLACE,
                window,
                AtomEnum::WM_NAME,
                AtomEnum::STRING,
                title.as_bytes(),
            )
            .unwrap();
        if let Some(pid) = pid {
            let atom = self
                .conn
                .intern_atom(false, b"_NET_WM_PID")
                .unwrap()
                .reply()
                .unwrap()
                .atom;
            self.conn
                .change_property32(PropMode::REPLACE, window, atom, AtomEnum::CARDINAL, &[pid])
                .unwrap();
        }
        self.conn.map_window(window).unwrap();
        self.conn.free_pixmap(pixmap).unwrap();
        self.conn.sync().unwrap();
        window
    }

    /// Closes a window opened with [`XDisplay::open_window`].
    pub fn close_window(&self, window: Window) {
        self.conn.destroy_window(window).unwrap();
        self.conn.sync().unwrap();
    }
}

impl XDisplay {
    /// A headless participant (as [`super::participant::spawn_with`]) whose `DISPLAY` is this
    /// X server: what it shares with `--share screen|window:…` is what this display shows.
    pub fn spawn(
        &self,
        net: &JanusNet,
        link: &str,
        name: &str,
        seconds: u32,
        args: &[&str],
    ) -> super::participant::Participant {
        let mut command = net.command(super::participant::conclave());
        command.env("DISPLAY", &self.name);
        super::participant::spawn_command(command, net, link, name, seconds, args)
    }

    /// Ends the X server, as a display that goes away (a remote session closed, a crash).
    pub fn kill(&mut self) {
        let _ = self.xvfb.kill();
        let _ = self.xvfb.wait();
    }
}

impl Drop for XDisplay {
    fn drop(&mut self) {
        let _ = self.xvfb.kill();
        let _ = self.xvfb.wait();
    }
}

/// A binary PGM's size and pixels.
pub fn read_pgm(path: &std::path::Path) -> (usize, usize, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text_end = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(2)
        .map(|(i, _)| i + 1)
        .expect("a PGM header");
    let header = String::from_utf8_lossy(&bytes[..text_end]);
    let mut fields = header.split_whitespace().skip(1);
    let width: usize = fields.next().unwrap().parse().unwrap();
    let height: usize = fields.next().unwrap().parse().unwrap();
    (width, height, bytes[text_end..].to_vec())
}
