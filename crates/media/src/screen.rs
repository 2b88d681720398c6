//! Screens and windows to share, behind the camera's trait ([`VideoSource`]): on Linux the X11
//! display (`x11rb`, the X protocol in pure Rust) or, in a Wayland session, what the system's
//! dialog chooses through the xdg-desktop-portal ScreenCast portal and PipeWire ([`portal`]); and
//! a synthetic page of text and a chart for machines without a display. Frames come at a low rate (content, not faces) and at the screen's
//! own size up to [`MAX_SHARE_WIDTH`]. A share of the whole screen paints this process's own
//! windows over ([`x11::hide_own_windows`]).

use std::time::Duration;

use crate::error::DeviceError;
use crate::frame::{VideoFrame, wall_clock_us};
use crate::source::{Pacer, VideoFormat, VideoSource};

/// Frames per second a share is captured at: enough for a pointer and scrolling, and an encoder
/// that skips what the link cannot carry lowers it further.
pub const SHARE_FPS: u32 = 10;
/// Widest picture shared; a wider screen is scaled down to it (height in proportion).
pub const MAX_SHARE_WIDTH: usize = 1920;

/// What to share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShareTarget {
    /// The whole screen (the X display's root window).
    Screen,
    /// The window whose title is this (exactly, or else the first that contains it).
    Window(String),
    /// A synthetic page of text and a chart that scrolls and changes ([`SyntheticScreen`]).
    Synthetic,
    /// Whatever the system's screen-sharing dialog chooses (the xdg-desktop-portal on Linux;
    /// what a Wayland session's picker offers).
    Portal,
}

impl std::fmt::Display for ShareTarget {
    /// The CLI's name for it, which [`ShareTarget::parse`] reads back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShareTarget::Screen => f.write_str("screen"),
            ShareTarget::Window(title) => write!(f, "window:{title}"),
            ShareTarget::Synthetic => f.write_str("synthetic"),
            ShareTarget::Portal => f.write_str("portal"),
        }
    }
}

impl ShareTarget {
    /// `screen`, `window:<title>`, `portal` or `synthetic`, as the CLI names them.
    pub fn parse(s: &str) -> Result<ShareTarget, String> {
        match s {
            "screen" => Ok(ShareTarget::Screen),
            "synthetic" => Ok(ShareTarget::Synthetic),
            "portal" => Ok(ShareTarget::Portal),
            _ => match s.strip_prefix("window:") {
                Some(title) if !title.is_empty() => Ok(ShareTarget::Window(title.to_owned())),
                _ => Err(format!(
                    "\"{s}\": share screen, window:<title>, portal or synthetic"
                )),
            },
        }
    }

    /// Opens the source: the display or window, or why not. In a Wayland session
    /// ([`portal::is_wayland_session`]) a screen or a window is asked of the system's dialog
    /// (a window's title cannot be passed on: the dialog offers windows).
    pub fn open(&self) -> Result<Box<dyn VideoSource>, DeviceError> {
        #[cfg(target_os = "linux")]
        use portal::{Offer, PortalScreen, is_wayland_session};
        match self {
            ShareTarget::Synthetic => Ok(Box::new(SyntheticScreen::new(1280, 720))),
            #[cfg(target_os = "linux")]
            ShareTarget::Portal => Ok(Box::new(PortalScreen::open(Offer::Anything)?)),
            #[cfg(target_os = "linux")]
            ShareTarget::Screen if is_wayland_session() => {
                Ok(Box::new(PortalScreen::open(Offer::Monitors)?))
            }
            #[cfg(target_os = "linux")]
            ShareTarget::Window(_) if is_wayland_session() => {
                Ok(Box::new(PortalScreen::open(Offer::Windows)?))
            }
            #[cfg(target_os = "linux")]
            ShareTarget::Screen => Ok(Box::new(x11::X11Screen::open(None)?)),
            #[cfg(target_os = "linux")]
            ShareTarget::Window(title) => Ok(Box::new(x11::X11Screen::open(Some(title))?)),
            #[cfg(not(target_os = "linux"))]
            ShareTarget::Portal => Err(DeviceError::Open {
                kind: "screen",
                reason: "the screen-sharing portal is a Linux desktop's".into(),
            }),
            #[cfg(any(target_os = "windows", target_os = "macos"))]
            ShareTarget::Screen => Ok(Box::new(desktop::DesktopScreen::open(None)?)),
            #[cfg(any(target_os = "windows", target_os = "macos"))]
            ShareTarget::Window(title) => Ok(Box::new(desktop::DesktopScreen::open(Some(title))?)),
            #[cfg(not(any(target_os = "linux", target_os = "windows", target_os = "macos")))]
            ShareTarget::Screen | ShareTarget::Window(_) => Err(DeviceError::Open {
                kind: "screen",
                reason: "sharing a screen is not built for this system yet".into(),
            }),
        }
    }
}

/// Something that can be shared, as a picker lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareSource {
    /// What to share.
    pub target: ShareTarget,
    /// A window's title (empty for the whole screen: the picker words it).
    pub title: String,
    /// A small picture of it as it is now, if it could be taken.
    pub thumbnail: Option<Thumbnail>,
}

/// A small picture of a screen or window, RGBA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thumbnail {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width` × `height` pixels of R, G, B, A.
    pub rgba: Vec<u8>,
}

/// Widest thumbnail [`share_sources`] takes.
pub const THUMBNAIL_WIDTH: usize = 240;

impl Thumbnail {
    /// `bgrx` (`width` × `height`, 4 bytes a pixel) scaled down to at most `max_width` wide,
    /// each pixel the mean of the block it stands for.
    pub fn from_bgrx(width: usize, height: usize, bgrx: &[u8], max_width: usize) -> Option<Self> {
        if width == 0 || height == 0 || bgrx.len() < width * height * 4 {
            return None;
        }
        let step = width.div_ceil(max_width.max(1)).max(1);
        let (w, h) = (width / step, height / step);
        if w == 0 || h == 0 {
            return None;
        }
        let mut rgba = Vec::with_capacity(w * h * 4);
        for ty in 0..h {
            for tx in 0..w {
                let mut sum = [0u32; 3];
                for y in ty * step..(ty + 1) * step {
                    for x in tx * step..(tx + 1) * step {
                        let p = &bgrx[(y * width + x) * 4..];
                        for (c, s) in sum.iter_mut().enumerate() {
                            *s += u32::from(p[c]);
                        }
                    }
                }
                let n = (step * step) as u32;
                rgba.extend_from_slice(&[
                    (sum[2] / n) as u8,
                    (sum[1] / n) as u8,
                    (sum[0] / n) as u8,
                    255,
                ]);
            }
        }
        Some(Thumbnail {
            width: w,
            height: h,
            rgba,
        })
    }
}

/// What this system can share now: the whole screen first, then each titled top-level window
/// (`skip_title`: our own window's, not offered), each with a thumbnail. In a Wayland session
/// only the system's dialog knows what there is: one entry, [`ShareTarget::Portal`], without a
/// title or thumbnail (the picker words it). Empty where sharing is not built yet or no display
/// can be reached.
pub fn share_sources(skip_title: Option<&str>) -> Vec<ShareSource> {
    #[cfg(target_os = "linux")]
    {
        if portal::is_wayland_session() {
            return vec![ShareSource {
                target: ShareTarget::Portal,
                title: String::new(),
                thumbnail: None,
            }];
        }
        let Ok(sources) = x11::sources() else {
            return Vec::new();
        };
        sources
            .into_iter()
            .filter(|s| s.title.is_empty() || Some(s.title.as_str()) != skip_title)
            .collect()
    }
    #[cfg(any(target_os = "windows", target_os = "macos"))]
    {
        let _ = skip_title;
        desktop::sources().unwrap_or_default()
    }
    #[cfg(not(any(target_os = "linux", target_os = "windows", target_os = "macos")))]
    {
        let _ = skip_title;
        Vec::new()
    }
}

/// A page of text lines and a bar chart, the kind of thing people share: the page scrolls a
/// line every second and the chart's bars change, so that both stills and motion are encoded.
#[derive(Debug)]
pub struct SyntheticScreen {
    width: usize,
    height: usize,
    frame: u64,
    pacer: Pacer,
}

/// Character cells of the synthetic page, in pixels.
const CELL_W: usize = 8;
const CELL_H: usize = 14;

impl SyntheticScreen {
    /// A page of `width`×`height` (made even), delivering [`SHARE_FPS`] frames a second, each
    /// with the stamp of [`crate::pattern`] across its top.
    pub fn new(width: usize, height: usize) -> SyntheticScreen {
        SyntheticScreen {
            width: (width & !1).max(2 * CELL_W),
            height: (height & !1).max(2 * CELL_H),
            frame: 0,
            pacer: Pacer::new(Duration::from_secs(1) / SHARE_FPS, true),
        }
    }

    /// Delivers frames as fast as they are pulled (benchmarks, tests).
    pub fn unpaced(mut self) -> Self {
        self.pacer = Pacer::new(Duration::from_secs(1) / SHARE_FPS, false);
        self
    }

    /// The page as `frame` shows it, as luma (the chroma planes stay grey): dark text on white
    /// on the left two thirds, a chart on the right.
    pub fn render(width: usize, height: usize, frame: u64) -> VideoFrame {
        let mut picture = VideoFrame::black(width, height);
        let (y, u, v) = picture.planes_mut();
        u.fill(128);
        v.fill(128);
        y.fill(235);
        let second = frame / u64::from(SHARE_FPS);
        let text_w = width * 2 / 3;
        // Text: each cell a glyph-like 5×9 pattern chosen by the line and column, lines of
        // varying length, scrolled up a line each second.
        for row in 0..height / CELL_H {
            let line = row as u64 + second;
            let len = 20 + (hash(line, 0) % 60) as usize;
            for col in 0..(text_w / CELL_W).min(len) {
                // A word's letters from an alphabet of 40 glyphs, as text repeats its letters.
                let letter = hash(line, col as u64 + 1);
                if letter.is_multiple_of(7) {
                    continue; // a space between words
                }
                let glyph = hash(u64::MAX, letter % 40);
                for gy in 0..9 {
                    for gx in 0..5 {
                        if (glyph >> ((gy * 5 + gx) % 61)) & 1 == 1 {
                            let (px, py) = (col * CELL_W + 1 + gx, row * CELL_H + 3 + gy);
                            y[py * width + px] = 30;
                        }
                    }
                }
            }
        }
        // The chart: eight bars whose heights change each second, on a light grey panel.
        let (x0, x1) = (text_w + CELL_W, width.saturating_sub(CELL_W));
        let (y0, y1) = (height / 4, height * 3 / 4);
        for py in y0..y1 {
            y[py * width + x0..py * width + x1].fill(200);
        }
        let bar_w = (x1 - x0) / 8;
        for bar in 0..8 {
            let level = (hash(second, 100 + bar as u64) % 90 + 10) as usize;
            let top = y1 - (y1 - y0) * level / 100;
            let shade = 40 + (bar as u8) * 18;
            for py in top..y1 {
                let start = py * width + x0 + bar * bar_w + 2;
                y[start..start + bar_w.saturating_sub(4)].fill(shade);
            }
        }
        picture.captured_us = wall_clock_us();
        picture
    }
}

/// How a share's encoder did on the synthetic page ([`share_trial`]).
#[derive(Clone, Debug)]
pub struct ShareTrial {
    /// Bits per second it took.
    pub bps: f64,
    /// For each change of the page (every second after the first): how long until the
    /// receiver showed it legibly (35 dB luma PSNR against the screen), ms; 1000 if never.
    pub legible_after_ms: Vec<u64>,
    /// Luma PSNR the receiver showed at the end of each second (the page still since its change).
    pub settled_db: Vec<f64>,
    /// The narrowest picture decoded.
    pub narrowest: usize,
    /// Time spent encoding, per frame, µs.
    pub encode_us_per_frame: f64,
}

/// The synthetic page (1280×720, a line scrolled and the chart changed every second) through
/// `encoder` and a decoder for `seconds` at [`SHARE_FPS`]. The picture is always compared with
/// what is on the screen at that moment: a dropped or late frame counts against it.
pub fn share_trial(
    encoder: &mut crate::H264Encoder,
    seconds: u64,
) -> Result<ShareTrial, crate::CodecError> {
    let mut decoder = crate::H264Decoder::new()?;
    let fps = u64::from(SHARE_FPS);
    let (mut bytes, mut shown, mut narrowest) = (0usize, None::<VideoFrame>, usize::MAX);
    let (mut legible_after_ms, mut settled_db) = (Vec::new(), Vec::new());
    let mut encoding = Duration::ZERO;
    for second in 0..seconds {
        let mut legible_at = None;
        for f in 0..fps {
            let page = SyntheticScreen::render(1280, 720, second * fps + f);
            let started = std::time::Instant::now();
            let encoded = encoder.encode(&page)?;
            encoding += started.elapsed();
            if let Some(encoded) = encoded {
                bytes += encoded.data.len();
                if let Some(picture) = decoder.decode(&encoded.data, 0)? {
                    narrowest = narrowest.min(picture.width);
                    shown = Some(picture);
                }
            }
            let quality = shown
                .as_ref()
                .and_then(|p| crate::psnr(page.y(), p.y()))
                .unwrap_or(0.0);
            if legible_at.is_none() && quality >= 35.0 {
                legible_at = Some(f * 1000 / fps);
            }
            if f == fps - 1 {
                settled_db.push(quality);
            }
        }
        if second > 0 {
            legible_after_ms.push(legible_at.unwrap_or(1000));
        }
    }
    Ok(ShareTrial {
        bps: bytes as f64 * 8.0 / seconds.max(1) as f64,
        legible_after_ms,
        settled_db,
        narrowest,
        encode_us_per_frame: encoding.as_secs_f64() * 1e6 / (seconds * fps).max(1) as f64,
    })
}

/// A well-mixed 64-bit hash of two numbers (SplitMix64's finaliser).
fn hash(a: u64, b: u64) -> u64 {
    let mut z = a
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(b.wrapping_mul(0xbf58_476d_1ce4_e5b9));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl VideoSource for SyntheticScreen {
    fn format(&self) -> VideoFormat {
        VideoFormat {
            width: self.width,
            height: self.height,
            fps: SHARE_FPS,
        }
    }

    fn next_frame(&mut self) -> Result<VideoFrame, DeviceError> {
        self.pacer.wait(self.frame);
        let mut picture = SyntheticScreen::render(self.width, self.height, self.frame);
        // A strip across the top carries frame number and capture time, as the synthetic
        // camera's does: receivers measure the share's latency from it.
        crate::pattern::stamp(
            &mut picture,
            crate::pattern::Stamp {
                frame: self.frame as u32,
                captured_us: wall_clock_us(),
            },
        );
        self.frame += 1;
        Ok(picture)
    }
}

/// The screen or window could not be opened: `what` says why (every capture's wording).
#[cfg(any(target_os = "linux", target_os = "windows", target_os = "macos"))]
fn unavailable(what: impl std::fmt::Display) -> DeviceError {
    DeviceError::Open {
        kind: "screen",
        reason: what.to_string(),
    }
}

#[cfg(target_os = "linux")]
pub mod portal;

#[cfg(target_os = "linux")]
pub mod x11 {
    //! The X11 display: the root window (the whole screen) or one top-level window, read with
    //! `GetImage` at [`super::SHARE_FPS`].

    use std::time::Duration;

    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::{AtomEnum, ConnectionExt, ImageFormat, MapState, Window};
    use x11rb::rust_connection::RustConnection;

    use super::{MAX_SHARE_WIDTH, SHARE_FPS, ShareTarget, unavailable};
    use crate::convert::bgrx_to_i420;
    use crate::error::DeviceError;
    use crate::frame::{VideoFrame, wall_clock_us};
    use crate::source::{Pacer, VideoFormat, VideoSource};

    /// A screen or a window of the X display named by `DISPLAY`.
    pub struct X11Screen {
        conn: RustConnection,
        window: Window,
        /// The root: sharing the whole screen, which hides this process's own windows.
        root: Window,
        format: VideoFormat,
        frame: u64,
        pacer: Pacer,
    }

    impl std::fmt::Debug for X11Screen {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("X11Screen")
                .field("format", &self.format)
                .finish_non_exhaustive()
        }
    }

    impl X11Screen {
        /// The whole screen, or the top-level window titled `title`, of the display `DISPLAY`
        /// names.
        pub fn open(title: Option<&str>) -> Result<X11Screen, DeviceError> {
            Self::open_on(None, title)
        }

        /// The same on `display` (`:N`), or `DISPLAY`'s if `None`.
        pub fn open_on(
            display: Option<&str>,
            title: Option<&str>,
        ) -> Result<X11Screen, DeviceError> {
            let (conn, screen) = x11rb::connect(display)
                .map_err(|e| unavailable(format!("cannot reach the X display: {e}")))?;
            let root = conn.setup().roots[screen].root;
            let window = match title {
                None => root,
                Some(title) => {
                    find_window(&conn, root, title)?.ok_or_else(|| DeviceError::NotFound {
                        kind: "window",
                        name: Some(title.to_owned()),
                    })?
                }
            };
            let mut source = X11Screen {
                conn,
                window,
                root,
                format: VideoFormat {
                    width: 0,
                    height: 0,
                    fps: SHARE_FPS,
                },
                frame: 0,
                pacer: Pacer::new(Duration::from_secs(1) / SHARE_FPS, true),
            };
            let first = source.grab()?;
            source.format.width = first.width;
            source.format.height = first.height;
            Ok(source)
        }

        fn grab(&self) -> Result<VideoFrame, DeviceError> {
            let gone = |e: &dyn std::fmt::Display| DeviceError::Disconnected {
                kind: "screen",
                reason: e.to_string(),
            };
            let geometry = self
                .conn
                .get_geometry(self.window)
                .map_err(|e| gone(&e))?
                .reply()
                .map_err(|e| gone(&e))?;
            let (width, height) = (geometry.width & !1, geometry.height & !1);
            if width == 0 || height == 0 {
                return Err(gone(&"it has no size"));
            }
            let image = self
                .conn
                .get_image(ImageFormat::Z_PIXMAP, self.window, 0, 0, width, height, !0)
                .map_err(|e| gone(&e))?
                .reply()
                .map_err(|e| gone(&e))?;
            if image.depth != 24 && image.depth != 32 {
                return Err(DeviceError::UnsupportedFormat(format!(
                    "an X display of depth {}",
                    image.depth
                )));
            }
            let mut data = image.data;
            if self.window == self.root {
                hide_own_windows(&self.conn, self.root, usize::from(width), &mut data);
            }
            let mut frame = bgrx_to_i420(usize::from(width), usize::from(height), &data)?;
            if frame.width > MAX_SHARE_WIDTH {
                frame = frame.shrunk(MAX_SHARE_WIDTH);
            }
            frame.captured_us = wall_clock_us();
            Ok(frame)
        }
    }

    /// What a shared screen shows where this process's own windows are: a plain dark grey.
    pub const HIDDEN_BGRX: [u8; 4] = [0x30, 0x30, 0x30, 0];

    /// A rectangle of the screen: x, y, width, height.
    type Area = (i32, i32, i32, i32);

    /// Paints over what this process's own windows (the meeting's window, its dialogs; with
    /// their frames) show in `bgrx`, a capture of the whole screen `width` pixels wide: nobody
    /// in the meeting sees the meeting's window (a mirror of their own faces, the chat, the
    /// roster) in a share of the screen. Windows of other programs lying on top of ours stay
    /// visible. A window is ours by `_NET_WM_PID`, which toolkits set (GTK, Qt, winit, Tauri);
    /// what cannot be read is left as it is.
    pub fn hide_own_windows(conn: &RustConnection, root: Window, width: usize, bgrx: &mut [u8]) {
        let height = bgrx.len() / (width * 4).max(1);
        for (own, above) in own_areas(conn, root) {
            let (x0, y0) = (own.0.max(0), own.1.max(0));
            let x1 = (own.0 + own.2).min(width as i32);
            let y1 = (own.1 + own.3).min(height as i32);
            for y in y0..y1 {
                for x in x0..x1 {
                    let covered = above
                        .iter()
                        .any(|a| x >= a.0 && x < a.0 + a.2 && y >= a.1 && y < a.1 + a.3);
                    if !covered {
                        let at = (y as usize * width + x as usize) * 4;
                        bgrx[at..at + 4].copy_from_slice(&HIDDEN_BGRX);
                    }
                }
            }
        }
    }

    /// Each area of the screen one of our top-level windows takes (its frame's, where a window
    /// manager frames it), with the areas of the other windows stacked above it.
    fn own_areas(conn: &RustConnection, root: Window) -> Vec<(Area, Vec<Area>)> {
        let pid = std::process::id();
        let atom = |name: &[u8]| {
            conn.intern_atom(false, name)
                .ok()
                .and_then(|c| c.reply().ok())
                .map(|r| r.atom)
        };
        let (Some(net_pid), Some(client_list)) = (atom(b"_NET_WM_PID"), atom(b"_NET_CLIENT_LIST"))
        else {
            return Vec::new();
        };
        let Some(stack) = conn
            .query_tree(root)
            .ok()
            .and_then(|c| c.reply().ok())
            .map(|t| t.children)
        else {
            return Vec::new();
        };
        // Without a window manager the top-level windows are the root's children; with one,
        // its clients, inside frames that are.
        let mut clients: Vec<Window> = conn
            .get_property(false, root, client_list, AtomEnum::WINDOW, 0, 4096)
            .ok()
            .and_then(|c| c.reply().ok())
            .and_then(|r| r.value32().map(Iterator::collect))
            .unwrap_or_default();
        if clients.is_empty() {
            clients.clone_from(&stack);
        }
        let cookies: Vec<_> = clients
            .iter()
            .map(|&w| {
                (
                    w,
                    conn.get_property(false, w, net_pid, AtomEnum::CARDINAL, 0, 1),
                )
            })
            .collect();
        let ours: Vec<Window> = cookies
            .into_iter()
            .filter_map(|(w, c)| {
                let owner = c.ok()?.reply().ok()?.value32()?.next()?;
                (owner == pid).then_some(w)
            })
            .collect();
        if ours.is_empty() {
            return Vec::new();
        }
        // The root's children from the bottom up: where each is and whether it is shown.
        let area = |w: Window| -> Option<Area> {
            let mapped =
                conn.get_window_attributes(w).ok()?.reply().ok()?.map_state == MapState::VIEWABLE;
            let g = conn.get_geometry(w).ok()?.reply().ok()?;
            let border = i32::from(g.border_width) * 2;
            mapped.then_some((
                i32::from(g.x),
                i32::from(g.y),
                i32::from(g.width) + border,
                i32::from(g.height) + border,
            ))
        };
        let stacked: Vec<(Window, Option<Area>)> = stack.iter().map(|&w| (w, area(w))).collect();
        // Each of ours by the root's child that holds it.
        let mut tops: Vec<Window> = ours
            .into_iter()
            .filter_map(|mut w| {
                for _ in 0..8 {
                    let parent = conn.query_tree(w).ok()?.reply().ok()?.parent;
                    if parent == root {
                        return Some(w);
                    }
                    w = parent;
                }
                None
            })
            .collect();
        tops.sort_unstable();
        tops.dedup();
        stacked
            .iter()
            .enumerate()
            .filter(|(_, (w, area))| area.is_some() && tops.binary_search(w).is_ok())
            .filter_map(|(i, (_, area))| {
                let above = stacked[i + 1..]
                    .iter()
                    .filter(|(w, _)| tops.binary_search(w).is_err())
                    .filter_map(|(_, a)| *a)
                    .collect();
                Some(((*area)?, above))
            })
            .collect()
    }

    /// The top-level window titled `title` (exactly, else the first whose title contains it).
    fn find_window(
        conn: &RustConnection,
        root: Window,
        title: &str,
    ) -> Result<Option<Window>, DeviceError> {
        let windows = titled(conn, root)?;
        Ok(windows
            .iter()
            .find(|(_, name)| name == title)
            .or_else(|| windows.iter().find(|(_, name)| name.contains(title)))
            .map(|(window, _)| *window))
    }

    /// The whole screen, then the display's mapped top-level windows that have a title
    /// (bottom to top), each with a thumbnail.
    pub fn sources() -> Result<Vec<super::ShareSource>, DeviceError> {
        let (conn, screen) = x11rb::connect(None)
            .map_err(|e| unavailable(format!("cannot reach the X display: {e}")))?;
        let root = conn.setup().roots[screen].root;
        let thumbnail = |window: Window| {
            let geometry = conn.get_geometry(window).ok()?.reply().ok()?;
            let (w, h) = (geometry.width, geometry.height);
            let mut image = conn
                .get_image(ImageFormat::Z_PIXMAP, window, 0, 0, w, h, !0)
                .ok()?
                .reply()
                .ok()?;
            if window == root {
                hide_own_windows(&conn, root, usize::from(w), &mut image.data);
            }
            super::Thumbnail::from_bgrx(
                usize::from(w),
                usize::from(h),
                &image.data,
                super::THUMBNAIL_WIDTH,
            )
        };
        let mut sources = vec![super::ShareSource {
            target: ShareTarget::Screen,
            title: String::new(),
            thumbnail: thumbnail(root),
        }];
        for (window, title) in titled(&conn, root)? {
            sources.push(super::ShareSource {
                target: ShareTarget::Window(title.clone()),
                thumbnail: thumbnail(window),
                title,
            });
        }
        Ok(sources)
    }

    fn titled(conn: &RustConnection, root: Window) -> Result<Vec<(Window, String)>, DeviceError> {
        let err = |e: &dyn std::fmt::Display| unavailable(format!("X display: {e}"));
        let atom = |name: &[u8]| -> Result<u32, DeviceError> {
            Ok(conn
                .intern_atom(false, name)
                .map_err(|e| err(&e))?
                .reply()
                .map_err(|e| err(&e))?
                .atom)
        };
        let (utf8, net_name) = (atom(b"UTF8_STRING")?, atom(b"_NET_WM_NAME")?);
        // A window manager frames the windows it manages and lists them in _NET_CLIENT_LIST
        // (the titles are on them, not on the frames); without one, the root's children.
        let managed: Vec<Window> = conn
            .get_property(
                false,
                root,
                atom(b"_NET_CLIENT_LIST")?,
                AtomEnum::WINDOW,
                0,
                4096,
            )
            .ok()
            .and_then(|c| c.reply().ok())
            .and_then(|r| r.value32().map(Iterator::collect))
            .unwrap_or_default();
        let children = if managed.is_empty() {
            conn.query_tree(root)
                .map_err(|e| err(&e))?
                .reply()
                .map_err(|e| err(&e))?
                .children
        } else {
            managed
        };
        let mut found = Vec::new();
        for window in children {
            let mapped = conn
                .get_window_attributes(window)
                .ok()
                .and_then(|c| c.reply().ok())
                .is_some_and(|a| a.map_state == MapState::VIEWABLE);
            if !mapped {
                continue;
            }
            let properties = [
                (net_name, utf8),
                (AtomEnum::WM_NAME.into(), AtomEnum::STRING.into()),
            ];
            for (property, kind) in properties {
                let Ok(cookie) = conn.get_property(false, window, property, kind, 0, 1024) else {
                    continue;
                };
                if let Ok(reply) = cookie.reply()
                    && !reply.value.is_empty()
                {
                    found.push((window, String::from_utf8_lossy(&reply.value).into_owned()));
                    break;
                }
            }
        }
        Ok(found)
    }

    impl VideoSource for X11Screen {
        fn format(&self) -> VideoFormat {
            self.format
        }

        fn next_frame(&mut self) -> Result<VideoFrame, DeviceError> {
            self.pacer.wait(self.frame);
            self.frame += 1;
            self.grab()
        }
    }
}

#[cfg(any(target_os = "windows", target_os = "macos"))]
pub mod desktop {
    //! Windows and macOS, through `xcap`: on Windows GDI (`BitBlt` of the primary monitor,
    //! `PrintWindow` with full content of one window: what Wine runs too), on macOS CoreGraphics.
    //! Read at [`super::SHARE_FPS`]. This process's own windows are not offered; while the app
    //! shares, the system keeps its window out of the capture (the app's content protection).

    use std::time::Duration;

    use super::{MAX_SHARE_WIDTH, SHARE_FPS, ShareSource, ShareTarget, Thumbnail, unavailable};
    use crate::convert::rgbx_to_i420;
    use crate::error::DeviceError;
    use crate::frame::{VideoFrame, wall_clock_us};
    use crate::source::{Pacer, VideoFormat, VideoSource};

    /// What is shared, by the system's id: `xcap`'s handles may not cross threads, so each
    /// frame finds it again (a window that closed, a monitor unplugged: the share ends).
    enum Target {
        Monitor(u32),
        Window(u32),
    }

    /// The primary monitor, or one window.
    pub struct DesktopScreen {
        target: Target,
        format: VideoFormat,
        frame: u64,
        pacer: Pacer,
    }

    impl std::fmt::Debug for DesktopScreen {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("DesktopScreen")
                .field("format", &self.format)
                .finish_non_exhaustive()
        }
    }

    /// The primary monitor (else the first).
    fn primary() -> Result<xcap::Monitor, DeviceError> {
        let monitors = xcap::Monitor::all().map_err(unavailable)?;
        let first_primary = monitors
            .iter()
            .position(|m| m.is_primary().unwrap_or(false))
            .unwrap_or(0);
        monitors
            .into_iter()
            .nth(first_primary)
            .ok_or_else(|| unavailable("this system shows no screen"))
    }

    /// The windows that can be shared, of other programs, with their titles.
    fn windows() -> Result<Vec<(xcap::Window, String)>, DeviceError> {
        let own = std::process::id();
        Ok(xcap::Window::all()
            .map_err(unavailable)?
            .into_iter()
            .filter(|w| !w.is_minimized().unwrap_or(true) && w.pid().ok() != Some(own))
            .filter_map(|w| {
                let title = w.title().ok()?;
                (!title.trim().is_empty()).then_some((w, title))
            })
            .collect())
    }

    impl DesktopScreen {
        /// The primary monitor, or the window titled `title` (exactly, else the first whose
        /// title contains it).
        pub fn open(title: Option<&str>) -> Result<DesktopScreen, DeviceError> {
            let target = match title {
                None => Target::Monitor(primary()?.id().map_err(unavailable)?),
                Some(title) => {
                    let mut all = windows()?;
                    let at = all
                        .iter()
                        .position(|(_, name)| name == title)
                        .or_else(|| all.iter().position(|(_, name)| name.contains(title)))
                        .ok_or_else(|| DeviceError::NotFound {
                            kind: "window",
                            name: Some(title.to_owned()),
                        })?;
                    Target::Window(all.swap_remove(at).0.id().map_err(unavailable)?)
                }
            };
            let mut source = DesktopScreen {
                target,
                format: VideoFormat {
                    width: 0,
                    height: 0,
                    fps: SHARE_FPS,
                },
                frame: 0,
                pacer: Pacer::new(Duration::from_secs(1) / SHARE_FPS, true),
            };
            let first = source.grab()?;
            source.format.width = first.width;
            source.format.height = first.height;
            Ok(source)
        }

        fn grab(&self) -> Result<VideoFrame, DeviceError> {
            let gone = |e: &dyn std::fmt::Display| DeviceError::Disconnected {
                kind: "screen",
                reason: e.to_string(),
            };
            let image = match self.target {
                Target::Monitor(id) => xcap::Monitor::all()
                    .map_err(|e| gone(&e))?
                    .into_iter()
                    .find(|m| m.id().ok() == Some(id))
                    .ok_or_else(|| gone(&"the screen went away"))?
                    .capture_image()
                    .map_err(|e| gone(&e))?,
                Target::Window(id) => {
                    let window = xcap::Window::all()
                        .map_err(|e| gone(&e))?
                        .into_iter()
                        .find(|w| w.id().ok() == Some(id))
                        .ok_or_else(|| gone(&"the window was closed"))?;
                    if window.is_minimized().map_err(|e| gone(&e))? {
                        return Err(gone(&"the window was minimised"));
                    }
                    window.capture_image().map_err(|e| gone(&e))?
                }
            };
            let (width, height) = (image.width() as usize, image.height() as usize);
            let mut frame = rgbx_to_i420(width, height, image.as_raw())?;
            if frame.width > MAX_SHARE_WIDTH {
                frame = frame.shrunk(MAX_SHARE_WIDTH);
            }
            frame.captured_us = wall_clock_us();
            Ok(frame)
        }
    }

    impl VideoSource for DesktopScreen {
        fn format(&self) -> VideoFormat {
            self.format
        }

        fn next_frame(&mut self) -> Result<VideoFrame, DeviceError> {
            self.pacer.wait(self.frame);
            self.frame += 1;
            self.grab()
        }
    }

    fn thumbnail(image: &xcap::image::RgbaImage) -> Option<Thumbnail> {
        let bgrx: Vec<u8> = image
            .as_raw()
            .chunks_exact(4)
            .flat_map(|p| [p[2], p[1], p[0], 0])
            .collect();
        Thumbnail::from_bgrx(
            image.width() as usize,
            image.height() as usize,
            &bgrx,
            super::THUMBNAIL_WIDTH,
        )
    }

    /// The primary monitor, then the other programs' windows, each with a thumbnail.
    pub fn sources() -> Result<Vec<ShareSource>, DeviceError> {
        let monitor = primary()?;
        let mut sources = vec![ShareSource {
            target: ShareTarget::Screen,
            title: String::new(),
            thumbnail: monitor.capture_image().ok().as_ref().and_then(thumbnail),
        }];
        for (window, title) in windows()? {
            sources.push(ShareSource {
                target: ShareTarget::Window(title.clone()),
                thumbnail: window.capture_image().ok().as_ref().and_then(thumbnail),
                title,
            });
        }
        Ok(sources)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_bad_ones_are_refused() {
        assert_eq!(ShareTarget::parse("screen"), Ok(ShareTarget::Screen));
        assert_eq!(ShareTarget::parse("synthetic"), Ok(ShareTarget::Synthetic));
        assert_eq!(
            ShareTarget::parse("window:Report – Editor"),
            Ok(ShareTarget::Window("Report – Editor".into()))
        );
        assert_eq!(ShareTarget::parse("portal"), Ok(ShareTarget::Portal));
        for target in ["screen", "synthetic", "portal", "window:Report – Editor"] {
            assert_eq!(ShareTarget::parse(target).unwrap().to_string(), target);
        }
        assert!(ShareTarget::parse("window:").is_err());
        assert!(ShareTarget::parse("camera").is_err());
    }

    #[test]
    fn the_synthetic_page_holds_text_and_moves() {
        let a = SyntheticScreen::render(640, 360, 0);
        let same = SyntheticScreen::render(640, 360, 1);
        let later = SyntheticScreen::render(640, 360, u64::from(SHARE_FPS));
        assert_eq!(a.y(), same.y(), "still within a second");
        assert_ne!(a.y(), later.y(), "scrolled a second later");
        // Text: many dark pixels beside white ones, edges everywhere.
        let dark = a.y().iter().filter(|&&p| p < 60).count();
        assert!(dark > 640 * 360 / 50, "{dark} dark pixels");
    }

    #[test]
    fn thumbnails_average_the_blocks_they_stand_for() {
        // 4×2 pixels: left half blue and red alternating, right half white.
        let bgrx: Vec<u8> = [
            [255, 0, 0, 0],
            [0, 0, 255, 0],
            [255, 255, 255, 0],
            [255, 255, 255, 0],
            [0, 0, 255, 0],
            [255, 0, 0, 0],
            [255, 255, 255, 0],
            [255, 255, 255, 0],
        ]
        .concat();
        let t = Thumbnail::from_bgrx(4, 2, &bgrx, 2).unwrap();
        assert_eq!((t.width, t.height), (2, 1));
        assert_eq!(t.rgba, [127, 0, 127, 255, 255, 255, 255, 255]);
        assert!(
            Thumbnail::from_bgrx(4, 2, &bgrx[..8], 2).is_none(),
            "too few bytes"
        );
    }

    #[test]
    fn the_synthetic_screen_carries_a_readable_stamp() {
        let mut screen = SyntheticScreen::new(1280, 720).unpaced();
        for n in 0..3 {
            let picture = screen.next_frame().unwrap();
            let stamp = crate::pattern::read(&picture).expect("a stamp");
            assert_eq!(stamp.frame, n);
            assert_eq!(stamp.captured_us, picture.captured_us & ((1 << 56) - 1));
        }
    }
}
