//! Wayland: the xdg-desktop-portal ScreenCast session (the system's dialog picks a monitor or a
//! window) and its PipeWire stream. Two threads of our own: `conclave-portal` holds the session
//! (D-Bus through `ashpd`/zbus, on async-io) and ends it when the share stops;
//! `conclave-pipewire` runs PipeWire's main loop and leaves the newest picture in a [`Mailbox`].
//! PipeWire sends a picture only when the screen changes, so [`PortalScreen`] repeats the last one
//! at [`super::SHARE_FPS`] on a still screen, as the X11 capture's steady `GetImage` does. Some
//! compositors (wlroots: xdg-desktop-portal-wlr copies the screen "with damage") send the first
//! picture only once something on the screen changes: until then the share is black.

use std::os::fd::OwnedFd;
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ashpd::desktop::screencast::{
    CursorMode, Screencast, SelectSourcesOptions, SourceType, Stream as PortalStream,
};
use ashpd::desktop::{PersistMode, ResponseError};
use ashpd::enumflags2::BitFlags;
use futures_util::StreamExt;
use pipewire as pw;
use pw::spa;

use super::{MAX_SHARE_WIDTH, SHARE_FPS, unavailable};
use crate::convert::{bgrx_to_i420, rgbx_to_i420};
use crate::error::DeviceError;
use crate::frame::{VideoFrame, wall_clock_us};
use crate::source::{Pacer, VideoFormat, VideoSource};

/// How long the system's dialog may stay open before the share gives up.
const DIALOG_TIMEOUT: Duration = Duration::from_secs(180);
/// How long the stream may take to agree a format once the dialog is answered.
const FORMAT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the first picture after that before starting black (see the module's
/// comment).
const FIRST_PICTURE_WAIT: Duration = Duration::from_secs(1);

/// What to offer in the system's dialog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    /// Monitors only (`--share screen` on Wayland).
    Monitors,
    /// Windows only (`--share window:…`: the title cannot be passed on, the dialog asks).
    Windows,
    /// Whatever the portal can share (`--share portal`).
    Anything,
}

/// Whether this session is a Wayland one, where X11 capture would see only XWayland's windows:
/// `XDG_SESSION_TYPE=wayland`, or `WAYLAND_DISPLAY` set and no X display that answers.
pub fn is_wayland_session() -> bool {
    wants_portal(
        std::env::var("XDG_SESSION_TYPE").ok().as_deref(),
        std::env::var_os("WAYLAND_DISPLAY").is_some_and(|d| !d.is_empty()),
        || x11rb::connect(None).is_ok(),
    )
}

/// [`is_wayland_session`]'s rule, given what the environment says.
pub(crate) fn wants_portal(
    session_type: Option<&str>,
    wayland_display: bool,
    x_answers: impl FnOnce() -> bool,
) -> bool {
    match session_type {
        Some("wayland") => true,
        Some("x11") => false,
        _ => wayland_display && !x_answers(),
    }
}

/// A monitor or window the system's dialog chose, as its PipeWire stream shows it.
pub struct PortalScreen {
    mailbox: Arc<Mailbox>,
    last: VideoFrame,
    format: VideoFormat,
    frame: u64,
    pacer: Pacer,
    stop_portal: Option<futures_channel::oneshot::Sender<()>>,
    stop_pipewire: Option<pw::channel::Sender<()>>,
    pipewire: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for PortalScreen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalScreen")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

fn gone(what: impl std::fmt::Display) -> DeviceError {
    DeviceError::Disconnected {
        kind: "screen",
        reason: what.to_string(),
    }
}

/// A portal request's failure, worded for the person sharing: the dialog's two refusals first.
pub(crate) fn portal_error(step: &str, e: ashpd::Error) -> DeviceError {
    match e {
        ashpd::Error::Response(ResponseError::Cancelled) => {
            unavailable("the screen-sharing dialog was cancelled")
        }
        ashpd::Error::Response(ResponseError::Other) => unavailable(format!(
            "the system refused to share the screen (the portal's {step} answered 2)"
        )),
        ashpd::Error::PortalNotFound(_) => no_portal(e),
        e => unavailable(format!("the screen-sharing portal failed at {step}: {e}")),
    }
}

fn no_portal(e: impl std::fmt::Display) -> DeviceError {
    unavailable(format!(
        "no screen-sharing portal (xdg-desktop-portal) answers on the session bus: {e}"
    ))
}

impl PortalScreen {
    /// Asks the system's dialog for something to share (blocks while it is open), then waits for
    /// the first picture.
    pub fn open(offer: Offer) -> Result<PortalScreen, DeviceError> {
        let mailbox = Arc::new(Mailbox::default());
        let (reply_tx, reply_rx) = mpsc::channel();
        let (stop_portal, stop_rx) = futures_channel::oneshot::channel();
        let portal_mailbox = mailbox.clone();
        std::thread::Builder::new()
            .name("conclave-portal".into())
            .spawn(move || hold_session(offer, &reply_tx, stop_rx, &portal_mailbox))
            .map_err(unavailable)?;
        // The thread is not joined: a portal that hangs must not hang whoever drops the share.
        let (fd, node) = match reply_rx.recv_timeout(DIALOG_TIMEOUT) {
            Ok(reply) => reply?,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(unavailable("the screen-sharing dialog was not answered"));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(unavailable("the screen-sharing portal's thread ended"));
            }
        };
        let (stop_pipewire, quit_rx) = pw::channel::channel();
        let pw_mailbox = mailbox.clone();
        let pipewire = std::thread::Builder::new()
            .name("conclave-pipewire".into())
            .spawn(move || {
                let reason = match receive(fd, node, &pw_mailbox, quit_rx) {
                    Ok(()) => "PipeWire's loop ended".to_owned(),
                    Err(e) => e.to_string(),
                };
                pw_mailbox.end(reason);
            })
            .map_err(unavailable)?;
        let mut source = PortalScreen {
            mailbox,
            last: VideoFrame::black(2, 2),
            format: VideoFormat {
                width: 0,
                height: 0,
                fps: SHARE_FPS,
            },
            frame: 0,
            pacer: Pacer::new(Duration::from_secs(1) / SHARE_FPS, true),
            stop_portal: Some(stop_portal),
            stop_pipewire: Some(stop_pipewire),
            pipewire: Some(pipewire),
        };
        // Dropping `source` on an error stops both threads and closes the session.
        let mailbox = &source.mailbox;
        let size = mailbox.wait_until(FORMAT_TIMEOUT, |slot| slot.size.is_some());
        mailbox.wait_until(FIRST_PICTURE_WAIT, |slot| slot.picture.is_some());
        match (mailbox.take(), size) {
            (Some(Ok(picture)), _) => source.last = picture.to_i420()?,
            (Some(Err(reason)), _) => return Err(unavailable(reason)),
            (None, Some((width, height))) if width >= 2 && height >= 2 => {
                source.last = VideoFrame::black(width & !1, height & !1).shrunk(MAX_SHARE_WIDTH);
            }
            (None, _) => {
                return Err(unavailable(
                    "the shared screen's stream agreed no picture format",
                ));
            }
        }
        source.format.width = source.last.width;
        source.format.height = source.last.height;
        Ok(source)
    }
}

impl VideoSource for PortalScreen {
    fn format(&self) -> VideoFormat {
        self.format
    }

    fn next_frame(&mut self) -> Result<VideoFrame, DeviceError> {
        self.pacer.wait(self.frame);
        self.frame += 1;
        match self.mailbox.take() {
            Some(Ok(picture)) => self.last = picture.to_i420()?,
            Some(Err(reason)) => return Err(gone(reason)),
            // The screen has not changed since: it still shows the last picture.
            None => {}
        }
        let mut frame = self.last.clone();
        frame.captured_us = wall_clock_us();
        Ok(frame)
    }
}

impl Drop for PortalScreen {
    fn drop(&mut self) {
        if let Some(stop) = self.stop_portal.take() {
            let _ = stop.send(());
        }
        if let Some(stop) = self.stop_pipewire.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.pipewire.take() {
            let _ = thread.join();
        }
    }
}

/// The channel from PipeWire's thread: the newest picture, or why the stream ended. A newer
/// picture replaces one not yet taken (a share wants what the screen shows now, not a queue).
#[derive(Default)]
struct Mailbox {
    slot: Mutex<Slot>,
    changed: Condvar,
}

#[derive(Default)]
struct Slot {
    picture: Option<Picture>,
    ended: Option<String>,
    /// The size the stream agreed on, once it has.
    size: Option<(usize, usize)>,
}

impl Mailbox {
    fn put(&self, picture: Picture) {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        slot.picture = Some(picture);
        self.changed.notify_all();
    }

    fn agreed(&self, width: usize, height: usize) {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        slot.size = Some((width, height));
        self.changed.notify_all();
    }

    /// Marks the stream ended (the first reason given stays).
    fn end(&self, reason: impl Into<String>) {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        if slot.ended.is_none() {
            slot.ended = Some(reason.into());
        }
        self.changed.notify_all();
    }

    /// The end if it came, else the newest picture not yet taken.
    fn take(&self) -> Option<Result<Picture, String>> {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        match &slot.ended {
            Some(reason) => Some(Err(reason.clone())),
            None => slot.picture.take().map(Ok),
        }
    }

    /// Waits up to `timeout` for the stream to end or for `ready`; the agreed size.
    fn wait_until(
        &self,
        timeout: Duration,
        ready: impl Fn(&Slot) -> bool,
    ) -> Option<(usize, usize)> {
        let deadline = Instant::now() + timeout;
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        while slot.ended.is_none() && !ready(&slot) {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            slot = self
                .changed
                .wait_timeout(slot, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        slot.size
    }
}

/// Byte order of a 32-bit pixel as PipeWire names it (`BGRx`: B first in memory).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    Bgrx,
    Rgbx,
}

/// One picture as the stream sent it, rows packed (`width * 4` bytes each).
struct Picture {
    width: usize,
    height: usize,
    order: Order,
    bytes: Vec<u8>,
}

impl Picture {
    fn to_i420(&self) -> Result<VideoFrame, DeviceError> {
        let convert = match self.order {
            Order::Bgrx => bgrx_to_i420,
            Order::Rgbx => rgbx_to_i420,
        };
        let mut frame = convert(self.width, self.height, &self.bytes)?;
        if frame.width > MAX_SHARE_WIDTH {
            frame = frame.shrunk(MAX_SHARE_WIDTH);
        }
        frame.captured_us = wall_clock_us();
        Ok(frame)
    }
}

/// The pixel formats asked for, each with the byte order it converts from. Alpha is ignored:
/// a screen is opaque.
fn order_of(format: spa::param::video::VideoFormat) -> Option<Order> {
    use spa::param::video::VideoFormat as F;
    match format {
        F::BGRx | F::BGRA => Some(Order::Bgrx),
        F::RGBx | F::RGBA => Some(Order::Rgbx),
        _ => None,
    }
}

/// The `conclave-portal` thread: CreateSession → SelectSources → Start → OpenPipeWireRemote,
/// the PipeWire fd and node through `reply`, then holds the session until `stop` (closes it) or
/// the system closes it (ends the stream in `mailbox`).
fn hold_session(
    offer: Offer,
    reply: &mpsc::Sender<Result<(OwnedFd, u32), DeviceError>>,
    stop: futures_channel::oneshot::Receiver<()>,
    mailbox: &Mailbox,
) {
    async_io::block_on(async move {
        // A connection of this share's own, closed with it (ashpd's shared one lives as long
        // as the process).
        let connection = match ashpd::zbus::Connection::session().await {
            Ok(connection) => connection,
            Err(e) => {
                let _ = reply.send(Err(no_portal(e)));
                return;
            }
        };
        if let Err(e) = portal_on_the_bus(&connection).await {
            let _ = reply.send(Err(e));
            return;
        }
        let portal = match Screencast::with_connection(connection).await {
            Ok(portal) => portal,
            Err(e) => {
                let _ = reply.send(Err(portal_error("connect", e)));
                return;
            }
        };
        let session = match portal.create_session(Default::default()).await {
            Ok(session) => session,
            Err(e) => {
                let _ = reply.send(Err(portal_error("CreateSession", e)));
                return;
            }
        };
        let mut closed = match session.receive_closed().await {
            Ok(closed) => closed,
            Err(e) => {
                let _ = reply.send(Err(portal_error("CreateSession", e)));
                return;
            }
        };
        match start(&portal, &session, offer).await {
            Ok(started) => {
                if reply.send(Ok(started)).is_err() {
                    let _ = session.close().await;
                    return;
                }
            }
            Err(e) => {
                let _ = reply.send(Err(e));
                let _ = session.close().await;
                return;
            }
        }
        // A dropped sender (the source gone) stops it too.
        match futures_util::future::select(stop, closed.next()).await {
            futures_util::future::Either::Left(_) => {
                let _ = session.close().await;
            }
            futures_util::future::Either::Right(_) => {
                tracing::info!("the system ended the screen share");
                mailbox.end("the system ended the screen share");
            }
        }
    });
}

/// Whether the bus has xdg-desktop-portal, running or to be started on demand: without it every
/// request fails with a stranger error.
async fn portal_on_the_bus(connection: &ashpd::zbus::Connection) -> Result<(), DeviceError> {
    const PORTAL: &str = "org.freedesktop.portal.Desktop";
    let bus = ashpd::zbus::fdo::DBusProxy::new(connection)
        .await
        .map_err(no_portal)?;
    let name = ashpd::zbus::names::BusName::try_from(PORTAL).map_err(no_portal)?;
    if bus.name_has_owner(name).await.map_err(no_portal)? {
        return Ok(());
    }
    let activatable = bus.list_activatable_names().await.map_err(no_portal)?;
    if activatable.iter().any(|n| n.as_str() == PORTAL) {
        Ok(())
    } else {
        Err(no_portal("nothing provides org.freedesktop.portal.Desktop"))
    }
}

/// SelectSources, Start and OpenPipeWireRemote on a new session: the fd and the stream's node.
async fn start(
    portal: &Screencast,
    session: &ashpd::desktop::Session<Screencast>,
    offer: Offer,
) -> Result<(OwnedFd, u32), DeviceError> {
    // Reading the properties also tells whether a portal answers at all: a missing one fails
    // here rather than with a stranger error later.
    let available = portal
        .available_source_types()
        .await
        .map_err(|e| portal_error("AvailableSourceTypes", e))?;
    let wanted: BitFlags<SourceType> = match offer {
        Offer::Monitors => SourceType::Monitor.into(),
        Offer::Windows => SourceType::Window.into(),
        Offer::Anything => SourceType::Monitor | SourceType::Window,
    };
    // Asking for a kind the portal lacks is an error there; the dialog offers what it has.
    let sources = if (wanted & available).is_empty() {
        available
    } else {
        wanted & available
    };
    let cursor = match portal.available_cursor_modes().await {
        Ok(modes) if modes.contains(CursorMode::Embedded) => CursorMode::Embedded,
        _ => CursorMode::Hidden,
    };
    portal
        .select_sources(
            session,
            SelectSourcesOptions::default()
                .set_cursor_mode(cursor)
                .set_sources(sources)
                .set_multiple(false)
                .set_persist_mode(PersistMode::DoNot),
        )
        .await
        .and_then(|r| r.response())
        .map_err(|e| portal_error("SelectSources", e))?;
    let streams = portal
        .start(session, None, Default::default())
        .await
        .and_then(|r| r.response())
        .map_err(|e| portal_error("Start", e))?;
    let node = streams
        .streams()
        .first()
        .map(PortalStream::pipe_wire_node_id)
        .ok_or_else(|| unavailable("the system's dialog chose nothing to share"))?;
    let fd = portal
        .open_pipe_wire_remote(session, Default::default())
        .await
        .map_err(|e| portal_error("OpenPipeWireRemote", e))?;
    Ok((fd, node))
}

/// What the stream's callbacks keep between calls.
#[derive(Default)]
struct Negotiated {
    /// Width, height and byte order, once a format is agreed.
    format: Option<(usize, usize, Order)>,
    streaming: bool,
}

/// The `conclave-pipewire` thread: connects to the portal's PipeWire remote, follows node `node`
/// and leaves each picture in `mailbox` until `quit` or the stream ends.
fn receive(
    fd: OwnedFd,
    node: u32,
    mailbox: &Arc<Mailbox>,
    quit: pw::channel::Receiver<()>,
) -> Result<(), DeviceError> {
    let failed = |what: &str, e: pw::Error| unavailable(format!("PipeWire: {what}: {e}"));
    pw::init();
    let main_loop = pw::main_loop::MainLoopRc::new(None).map_err(|e| failed("main loop", e))?;
    let context =
        pw::context::ContextRc::new(&main_loop, None).map_err(|e| failed("context", e))?;
    let core = context
        .connect_fd_rc(fd, None)
        .map_err(|e| failed("the portal's remote", e))?;

    let _quit = quit.attach(main_loop.loop_(), {
        let main_loop = main_loop.downgrade();
        move |()| {
            if let Some(main_loop) = main_loop.upgrade() {
                main_loop.quit();
            }
        }
    });
    // The daemon going away (or refusing us) is an error on the core.
    let _core_listener = core
        .add_listener_local()
        .error({
            let (mailbox, main_loop) = (mailbox.clone(), main_loop.downgrade());
            move |id, _seq, _res, message| {
                if id == pw::core::PW_ID_CORE {
                    mailbox.end(format!("PipeWire: {message}"));
                    if let Some(main_loop) = main_loop.upgrade() {
                        main_loop.quit();
                    }
                }
            }
        })
        .register();
    // The shared node going away (its window closed, the portal stopped it) ends the share:
    // the stream itself would only pause.
    let registry = core.get_registry().map_err(|e| failed("registry", e))?;
    let _registry_listener = registry
        .add_listener_local()
        .global_remove({
            let (mailbox, main_loop) = (mailbox.clone(), main_loop.downgrade());
            move |id| {
                if id == node {
                    mailbox.end("the shared screen or window went away");
                    if let Some(main_loop) = main_loop.upgrade() {
                        main_loop.quit();
                    }
                }
            }
        })
        .register();

    let stream = pw::stream::StreamBox::new(
        &core,
        "conclave-screen-share",
        pw::properties::properties! {
            *pw::keys::MEDIA_TYPE => "Video",
            *pw::keys::MEDIA_CATEGORY => "Capture",
            *pw::keys::MEDIA_ROLE => "Screen",
        },
    )
    .map_err(|e| failed("stream", e))?;
    let _stream_listener = stream
        .add_local_listener_with_user_data(Negotiated::default())
        .state_changed({
            let (mailbox, main_loop) = (mailbox.clone(), main_loop.downgrade());
            move |_, negotiated, _old, new| {
                let ended = match new {
                    pw::stream::StreamState::Error(message) => Some(format!("PipeWire: {message}")),
                    pw::stream::StreamState::Unconnected if negotiated.streaming => {
                        Some("the shared screen's stream was disconnected".to_owned())
                    }
                    pw::stream::StreamState::Streaming => {
                        negotiated.streaming = true;
                        None
                    }
                    _ => None,
                };
                if let Some(reason) = ended {
                    mailbox.end(reason);
                    if let Some(main_loop) = main_loop.upgrade() {
                        main_loop.quit();
                    }
                }
            }
        })
        .param_changed({
            let mailbox = mailbox.clone();
            move |_, negotiated, id, param| {
                let Some(param) = param else { return };
                if id != spa::param::ParamType::Format.as_raw() {
                    return;
                }
                let mut info = spa::param::video::VideoInfoRaw::default();
                if info.parse(param).is_err() {
                    return;
                }
                let size = info.size();
                let (width, height) = (size.width as usize, size.height as usize);
                // An empty picture is none to share (and would make every row empty).
                negotiated.format = order_of(info.format())
                    .filter(|_| width > 0 && height > 0)
                    .map(|order| (width, height, order));
                if negotiated.format.is_some() {
                    mailbox.agreed(width, height);
                }
                tracing::debug!(width, height, format = ?info.format(), "screen share format");
            }
        })
        .process({
            let mailbox = mailbox.clone();
            move |stream, negotiated| {
                let Some(mut buffer) = stream.dequeue_buffer() else {
                    return;
                };
                let Some((width, height, order)) = negotiated.format else {
                    return;
                };
                let Some(data) = buffer.datas_mut().first_mut() else {
                    return;
                };
                match copy_picture(data, width, height, order) {
                    Ok(Some(picture)) => mailbox.put(picture),
                    Ok(None) => {}
                    Err(reason) => mailbox.end(reason),
                }
            }
        })
        .register()
        .map_err(|e| failed("stream listener", e))?;

    let format = enum_format().map_err(|e| unavailable(format!("PipeWire format: {e}")))?;
    let format = spa::pod::Pod::from_bytes(&format)
        .ok_or_else(|| unavailable("PipeWire format: not a pod"))?;
    stream
        .connect(
            spa::utils::Direction::Input,
            Some(node),
            pw::stream::StreamFlags::AUTOCONNECT | pw::stream::StreamFlags::MAP_BUFFERS,
            &mut [format],
        )
        .map_err(|e| failed("connecting the stream", e))?;
    main_loop.run();
    let _ = stream.disconnect();
    Ok(())
}

/// One buffer's picture, rows packed; `None` for a buffer without one (PipeWire sends empty or
/// corrupted ones, e.g. when only the pointer moved).
fn copy_picture(
    data: &mut spa::buffer::Data,
    width: usize,
    height: usize,
    order: Order,
) -> Result<Option<Picture>, String> {
    let kind = data.type_();
    if kind != spa::buffer::DataType::MemFd && kind != spa::buffer::DataType::MemPtr {
        return Err(format!(
            "the system sends the screen as {kind:?} buffers, which are not read here"
        ));
    }
    let chunk = data.chunk();
    if chunk.flags().contains(spa::buffer::ChunkFlags::CORRUPTED) || chunk.size() == 0 {
        return Ok(None);
    }
    let (offset, size) = (chunk.offset() as usize, chunk.size() as usize);
    let row = width * 4;
    // 0: rows packed. Negative: rows bottom-up, which nobody sends for a screen; no picture
    // rather than one upside down.
    let stride = match usize::try_from(chunk.stride()) {
        Ok(0) => row,
        Ok(stride) => stride,
        Err(_) => return Ok(None),
    };
    if row == 0 {
        return Ok(None);
    }
    let Some(bytes) = data.data() else {
        return Ok(None);
    };
    if stride < row || height == 0 || size < stride * (height - 1) + row {
        return Ok(None);
    }
    let Some(bytes) = bytes.get(offset..offset + stride * (height - 1) + row) else {
        return Ok(None);
    };
    let mut packed = Vec::with_capacity(row * height);
    for line in bytes.chunks(stride).take(height) {
        packed.extend_from_slice(&line[..row]);
    }
    Ok(Some(Picture {
        width,
        height,
        order,
        bytes: packed,
    }))
}

/// The formats asked of the stream: raw video in the four 32-bit RGB orders, in memory (no
/// DMA-BUF modifiers offered, so the compositor sends shared memory), at most
/// [`super::SHARE_FPS`] pictures a second (the compositor need not copy more).
fn enum_format() -> Result<Vec<u8>, spa::pod::serialize::GenError> {
    use spa::param::format::{FormatProperties, MediaSubtype, MediaType};
    use spa::param::video::VideoFormat as F;
    let object = spa::pod::object!(
        spa::utils::SpaTypes::ObjectParamFormat,
        spa::param::ParamType::EnumFormat,
        spa::pod::property!(FormatProperties::MediaType, Id, MediaType::Video),
        spa::pod::property!(FormatProperties::MediaSubtype, Id, MediaSubtype::Raw),
        spa::pod::property!(
            FormatProperties::VideoFormat,
            Choice,
            Enum,
            Id,
            F::BGRx,
            F::BGRx,
            F::BGRA,
            F::RGBx,
            F::RGBA,
        ),
        spa::pod::property!(
            FormatProperties::VideoMaxFramerate,
            Choice,
            Range,
            Fraction,
            spa::utils::Fraction {
                num: SHARE_FPS,
                denom: 1
            },
            spa::utils::Fraction { num: 1, denom: 1 },
            spa::utils::Fraction {
                num: SHARE_FPS,
                denom: 1
            }
        ),
    );
    Ok(spa::pod::serialize::PodSerializer::serialize(
        std::io::Cursor::new(Vec::new()),
        &spa::pod::Value::Object(object),
    )?
    .0
    .into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wayland_session_shares_through_the_portal() {
        assert!(wants_portal(Some("wayland"), true, || true), "XWayland too");
        assert!(wants_portal(Some("wayland"), false, || true));
        assert!(!wants_portal(Some("x11"), true, || false));
        assert!(wants_portal(None, true, || false), "Wayland, no X");
        assert!(!wants_portal(None, true, || true), "an X display answers");
        assert!(!wants_portal(Some("tty"), false, || false));
    }

    #[test]
    fn the_dialogs_refusals_are_worded() {
        let cancelled = portal_error("Start", ashpd::Error::Response(ResponseError::Cancelled));
        assert!(
            cancelled.to_string().contains("dialog was cancelled"),
            "{cancelled}"
        );
        let refused = portal_error("Start", ashpd::Error::Response(ResponseError::Other));
        assert!(refused.to_string().contains("refused"), "{refused}");
        assert!(matches!(refused, DeviceError::Open { kind: "screen", .. }));
    }

    #[test]
    fn the_newest_picture_wins_and_an_end_stays() {
        let mailbox = Mailbox::default();
        assert!(
            mailbox
                .wait_until(Duration::from_millis(10), |_| false)
                .is_none()
        );
        assert!(mailbox.take().is_none());
        for width in [2, 4] {
            mailbox.put(Picture {
                width,
                height: 2,
                order: Order::Bgrx,
                bytes: vec![0; width * 8],
            });
        }
        let Some(Ok(picture)) = mailbox.take() else {
            panic!("a picture");
        };
        assert_eq!(picture.width, 4);
        assert!(mailbox.take().is_none(), "taken");
        mailbox.end("gone");
        mailbox.end("later");
        assert_eq!(
            mailbox.take().and_then(Result::err).as_deref(),
            Some("gone")
        );
        assert!(mailbox.take().is_some_and(|r| r.is_err()), "it stays ended");
    }

    #[test]
    fn the_format_request_is_a_pod() {
        let bytes = enum_format().unwrap();
        assert!(spa::pod::Pod::from_bytes(&bytes).is_some());
    }
}
