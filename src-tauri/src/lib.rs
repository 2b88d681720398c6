//! Conclave's Tauri 2 shell. Commands here translate: DTO in, [`Controller`] call, DTO out.
//! Decisions about meetings belong to the `conclave` crate, never to this one.

#[cfg(feature = "bench-feeds")]
mod bench_feeds;
mod chat;
mod controller;
mod events;
mod frames;
pub mod policy;
mod quality;
pub mod settings;
mod tray;

use std::sync::Mutex;

use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, State, WindowEvent};
use tauri_plugin_deep_link::DeepLinkExt;
use tauri_plugin_global_shortcut::{Code, GlobalShortcutExt, Modifiers, Shortcut, ShortcutState};

pub use controller::{AppError, Controller, DeviceChoice, Effect};
use settings::{Settings, SettingsError, Store};
use tray::Tray;

/// What the About line of the UI shows.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AppInfo {
    version: &'static str,
    cipher_suite: &'static str,
}

/// An error as the UI gets it: a key to translate and the detail in English; for a link, also
/// what exactly is wrong with it (a key and its detail), for the page to say in its language.
#[derive(Debug, Serialize)]
struct ErrorDto {
    code: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arg: Option<String>,
}

impl From<AppError> for ErrorDto {
    fn from(e: AppError) -> Self {
        let (reason, arg) = match &e {
            AppError::InvalidLink(link) => {
                let (reason, arg) = link_reason(link);
                (Some(reason), arg)
            }
            _ => (None, None),
        };
        ErrorDto {
            code: e.code(),
            message: e.to_string(),
            reason,
            arg,
        }
    }
}

/// What is wrong with a link, as a key of the page's strings and the part it names.
fn link_reason(e: &conclave_room::LinkError) -> (&'static str, Option<String>) {
    use conclave_room::LinkError as L;
    match e {
        L::Random => ("internal", None),
        L::NotUrl(_) => ("linkNotUrl", None),
        L::TooLong(n) => ("linkTooLong", Some(n.to_string())),
        L::Scheme(s) => ("linkScheme", Some(s.clone())),
        L::Shape(_) => ("linkShape", None),
        L::Missing(part) => ("linkMissing", Some((*part).to_owned())),
        L::Duplicate(part) => ("linkDuplicate", Some(part.clone())),
        L::UnknownField(part) => ("linkUnknownField", Some(part.clone())),
        L::Room => ("linkRoom", None),
        L::Secret => ("linkSecret", None),
        L::Pin => ("linkPin", None),
        L::SfuScheme(s) => ("linkSfuScheme", Some(s.clone())),
        L::SfuNotUrl | L::SfuUrl(_) => ("linkSfuNotUrl", None),
        _ => ("linkShape", None),
    }
}

/// A link the user opened (deep link, second launch) that the page has not taken yet.
#[derive(Default)]
struct PendingLink(Mutex<Option<String>>);

/// A small H.264 keyframe the page decodes to learn whether its WebCodecs really can.
#[tauri::command]
fn h264_probe() -> tauri::ipc::Response {
    tauri::ipc::Response::new(frames::h264_probe())
}

/// Version and media encryption in use.
#[tauri::command]
fn app_info() -> AppInfo {
    AppInfo {
        version: conclave::VERSION,
        cipher_suite: conclave_e2ee::CipherSuite::AesGcm128Sha256.name(),
    }
}

/// Where a link leads, for the pre-join screen (the secret stays in Rust).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LinkSummary {
    room: String,
    server: String,
    /// Signalling in clear to another machine (`ws://`): the page warns.
    insecure: bool,
}

#[tauri::command]
fn check_link(link: String) -> Result<LinkSummary, ErrorDto> {
    let link = Controller::check_link(&link)?;
    Ok(LinkSummary {
        room: link.room.clone(),
        server: link.sfu.url.clone(),
        insecure: conclave::client::tls::insecure_remote(&link.sfu.url),
    })
}

/// Device lists for the pickers.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Devices {
    cameras: Vec<Device>,
    microphones: Vec<Device>,
    speakers: Vec<Device>,
}

#[derive(Serialize)]
struct Device {
    id: String,
    label: String,
}

/// Synthetic devices appear in the pickers only when asked for (tests, demos).
fn synthetic_devices() -> bool {
    std::env::var_os("CONCLAVE_SYNTHETIC_DEVICES").is_some_and(|v| v == "1")
}

#[tauri::command]
async fn devices() -> Devices {
    let synthetic = synthetic_devices();
    let fake = |label: &str| Device {
        id: "synthetic".into(),
        label: label.into(),
    };
    let mut cameras: Vec<Device> = conclave_media::cameras()
        .into_iter()
        .map(|c| Device {
            id: c.index.to_string(),
            label: c.name,
        })
        .collect();
    // The system default first (the page names it "System default" and preselects it).
    let audio = |mut list: Vec<conclave_media::AudioDeviceInfo>| -> Vec<Device> {
        list.sort_by_key(|d| !d.is_default);
        list.into_iter()
            .map(|d| Device {
                id: if d.is_default {
                    String::new()
                } else {
                    d.name.clone()
                },
                label: d.name,
            })
            .collect()
    };
    let mut microphones = audio(conclave_media::microphones());
    let speakers = audio(conclave_media::speakers());
    if synthetic {
        cameras.insert(0, fake("Test pattern"));
        microphones.insert(0, fake("Test tone"));
    }
    Devices {
        cameras,
        microphones,
        speakers,
    }
}

/// What the pre-join screen asks for.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct JoinRequest {
    link: String,
    name: String,
    devices: DeviceChoice,
    /// Keep the room (its secret in the OS keyring).
    remember: bool,
    /// The page decodes H.264 itself (WebCodecs) instead of drawing decoded pictures.
    page_decodes: bool,
}

#[tauri::command]
async fn join(
    app: AppHandle,
    controller: State<'_, Controller>,
    store: State<'_, Store>,
    request: JoinRequest,
) -> Result<Option<ErrorDto>, ErrorDto> {
    let JoinRequest {
        link,
        name,
        devices,
        remember,
        page_decodes,
    } = request;
    let settings = store.load().unwrap_or_default();
    let devices = DeviceChoice {
        voice: settings.sound.into(),
        ..devices
    };
    let identity = store.identity(&settings).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "the kept identity is unavailable; using a fresh one");
        None
    });
    let events = controller.join(
        &link,
        &name,
        &devices,
        controller::Network {
            ice_servers: settings.ice_servers,
            relay_only: settings.relay_only,
            extra_ca: settings
                .trusted_ca
                .filter(|pem| !pem.trim().is_empty())
                .map(String::into_bytes),
        },
        identity,
        page_decodes,
    )?;
    // The meeting's events go to the page as they happen, and what they say of its state is
    // kept for a page that reloads (see `meeting_replay`).
    if let Some(mut events) = events.0 {
        let app = app.clone();
        *lock_replay(&app) = events::Replay::default();
        tauri::async_runtime::spawn(async move {
            while let Some(event) = events.recv().await {
                if let Some(page) = events::PageEvent::of(&event) {
                    lock_replay(&app).record(&page);
                    let _ = app.emit("meeting", page);
                }
            }
        });
    }
    // Only on the user's request, and only once the link proved valid. Failing to remember
    // does not stop the meeting: the user is told, and the meeting goes on.
    let not_remembered = if remember {
        store.remember(&link).err().map(|e| {
            tracing::warn!(error = %e, "could not remember the room");
            settings_error(e)
        })
    } else {
        None
    };
    refresh(&app);
    Ok(not_remembered)
}

/// The "test call": camera and microphone through encode, encryption, decryption, decode and
/// playback, with no server, for three seconds.
#[tauri::command]
async fn test_call(
    store: State<'_, Store>,
    devices: DeviceChoice,
) -> Result<conclave::selftest::Report, ErrorDto> {
    let devices = DeviceChoice {
        voice: store.load().unwrap_or_default().sound.into(),
        ..devices
    };
    let options = devices.self_test_options(3)?;
    tauri::async_runtime::spawn_blocking(move || conclave::selftest::run(&options))
        .await
        .map_err(|e| ErrorDto {
            code: "internal",
            message: e.to_string(),
            reason: None,
            arg: None,
        })
}

/// Starts the pre-join preview on these devices; returns what could not be opened.
#[tauri::command]
async fn preview_start(
    controller: State<'_, Controller>,
    devices: DeviceChoice,
) -> Result<Vec<conclave::client::DeviceProblem>, ErrorDto> {
    Ok(controller.start_preview(&devices)?)
}

#[tauri::command]
async fn preview_stop(controller: State<'_, Controller>) -> Result<(), ()> {
    controller.stop_preview();
    Ok(())
}

#[tauri::command]
fn preview_level(controller: State<'_, Controller>) -> f32 {
    controller.preview_level()
}

fn settings_error(e: SettingsError) -> ErrorDto {
    ErrorDto {
        code: match e {
            SettingsError::Keyring(_) => "keyring",
            SettingsError::Link(_) => "invalidLink",
            SettingsError::RelayWithoutTurn => "relayWithoutTurn",
            SettingsError::BadIceServer(_) => "badIceServer",
            SettingsError::BadCa(_) => "badCa",
            SettingsError::BadInvitationPage => "badInvitationPage",
            _ => "settingsFailed",
        },
        message: e.to_string(),
        reason: None,
        arg: None,
    }
}

/// A new meeting at the meeting server of the settings: its link and its room's name.
#[derive(Debug, Serialize)]
struct NewMeeting {
    link: String,
    room: String,
}

/// Creates a link to a new meeting at the settings' meeting server (a fresh room secret).
#[tauri::command]
fn new_meeting(store: State<'_, Store>) -> Result<NewMeeting, ErrorDto> {
    let settings = store.load().map_err(settings_error)?;
    let Some(server) = settings.meeting_server else {
        return Err(ErrorDto {
            code: "noMeetingServer",
            message: "no meeting server is set in the settings".into(),
            reason: None,
            arg: None,
        });
    };
    let link = conclave_room::JoinLink::generate(&server, None, None)
        .map_err(|e| settings_error(SettingsError::Link(e)))?;
    Ok(NewMeeting {
        link: link.to_conclave_url().to_string(),
        room: link.room.clone(),
    })
}

/// The links an invitation to `link`'s meeting carries: the conclave:// one, and the https://
/// one where the settings name the organisation's join page.
#[tauri::command]
fn invitation(store: State<'_, Store>, link: String) -> Result<Invitation, ErrorDto> {
    let parsed = Controller::check_link(&link)?;
    let page = store
        .load()
        .map_err(settings_error)?
        .invitation_page
        .filter(|page| settings::check_invitation_page(page).is_ok());
    Ok(Invitation {
        conclave: parsed.to_conclave_url().to_string(),
        https: page.map(|page| parsed.to_https_url(&page).to_string()),
    })
}

/// What `invitation` gives the page.
#[derive(Serialize)]
struct Invitation {
    conclave: String,
    https: Option<String>,
}

#[tauri::command]
fn settings_get(store: State<'_, Store>) -> Result<Settings, ErrorDto> {
    store.load().map_err(settings_error)
}

/// The settings the organisation locks, and why its policy file cannot be used if it cannot.
#[tauri::command]
fn policy_get(store: State<'_, Store>) -> policy::PolicyView {
    store.policy_view()
}

#[tauri::command]
fn settings_save(
    controller: State<'_, Controller>,
    store: State<'_, Store>,
    settings: Settings,
) -> Result<Settings, ErrorDto> {
    let saved = store.save_preferences(&settings).map_err(settings_error)?;
    // The microphone's clean-up applies at once in a running meeting.
    controller.set_voice(saved.sound.into());
    Ok(saved)
}

#[tauri::command]
fn room_link(store: State<'_, Store>, id: String) -> Result<String, ErrorDto> {
    store.link(&id).map_err(settings_error)
}

#[tauri::command]
fn forget_room(store: State<'_, Store>, id: String) -> Result<(), ErrorDto> {
    store.forget(&id).map_err(settings_error)
}

#[tauri::command]
fn forget_everything(store: State<'_, Store>) -> Result<(), ErrorDto> {
    store.forget_everything().map_err(settings_error)
}

#[tauri::command]
fn leave(app: AppHandle, controller: State<'_, Controller>) {
    controller.leave();
    refresh(&app);
}

#[tauri::command]
fn set_audio(app: AppHandle, controller: State<'_, Controller>, on: bool) -> Option<bool> {
    let result = controller.set_audio(on);
    refresh(&app);
    result
}

#[tauri::command]
fn set_video(app: AppHandle, controller: State<'_, Controller>, on: bool) -> Option<bool> {
    let result = controller.set_video(on);
    refresh(&app);
    result
}

/// What can be shared: the whole screen (`title` empty) and each window but ours.
#[derive(Debug, serde::Serialize)]
struct ShareSourceDto {
    /// What to pass to [`share`]: `screen`, `window:<title>`, or `portal` (a Wayland session:
    /// the system's dialog chooses).
    target: String,
    /// A window's title.
    title: String,
    /// A small picture of it as it is now: width, height and RGBA pixels in base64.
    thumbnail: Option<(usize, usize, String)>,
}

#[tauri::command]
async fn share_sources(app: AppHandle) -> Vec<ShareSourceDto> {
    let own = app.get_webview_window("main").and_then(|w| w.title().ok());
    tauri::async_runtime::spawn_blocking(move || {
        conclave_media::share_sources(own.as_deref())
            .into_iter()
            .map(|s| ShareSourceDto {
                target: s.target.to_string(),
                title: s.title,
                thumbnail: s.thumbnail.map(|t| {
                    use base64::Engine;
                    let rgba = base64::engine::general_purpose::STANDARD.encode(&t.rgba);
                    (t.width, t.height, rgba)
                }),
            })
            .collect()
    })
    .await
    .unwrap_or_default()
}

/// Shares a screen or window (`target` from [`share_sources`]), or stops (`null`).
#[tauri::command]
fn share(app: AppHandle, controller: State<'_, Controller>, target: Option<String>) -> bool {
    let done = controller.share(target.as_deref());
    refresh(&app);
    done
}

/// Sends a chat message (to everyone, or privately to participant `to`).
#[tauri::command]
fn chat_send(controller: State<'_, Controller>, to: Option<String>, text: String) -> bool {
    controller.chat(to.as_deref(), text)
}

/// Opens a web address from the chat in the system browser (the page asked the user first).
#[tauri::command]
fn open_web_address(app: AppHandle, url: String) -> Result<(), ErrorDto> {
    use tauri_plugin_opener::OpenerExt;
    let url = chat::web_address(&url).map_err(chat_error)?;
    app.opener()
        .open_url(url.as_str(), None::<&str>)
        .map_err(|e| chat_error(chat::ChatError::Open(e.to_string())))
}

/// Writes the chat (as the page assembled it) to a file the user chooses; false if they
/// cancelled.
#[tauri::command]
async fn save_chat(app: AppHandle, text: String, title: String) -> Result<bool, ErrorDto> {
    use tauri_plugin_dialog::DialogExt;
    let dialog = app
        .dialog()
        .file()
        .set_title(title)
        .set_file_name("chat.txt")
        .add_filter("Text", &["txt"]);
    // The chooser waits for the user: on the blocking pool, never on a worker the meeting needs.
    let chosen = tauri::async_runtime::spawn_blocking(move || dialog.blocking_save_file())
        .await
        .ok()
        .flatten();
    let Some(path) = chosen.and_then(|p| p.into_path().ok()) else {
        return Ok(false);
    };
    std::fs::write(path, text).map_err(|e| chat_error(chat::ChatError::Write(e)))?;
    Ok(true)
}

fn chat_error(e: chat::ChatError) -> ErrorDto {
    ErrorDto {
        code: e.code(),
        message: e.to_string(),
        reason: None,
        arg: None,
    }
}

/// Goes into the meeting although nobody here shares the link's room key (the user's choice).
#[tauri::command]
fn go_in(controller: State<'_, Controller>) -> bool {
    controller.go_in()
}

/// Raises or lowers our hand.
#[tauri::command]
fn raise_hand(controller: State<'_, Controller>, up: bool) -> bool {
    controller.raise_hand(up)
}

/// Sends a reaction.
#[tauri::command]
fn react(controller: State<'_, Controller>, emoji: String) -> bool {
    controller.react(emoji)
}

/// Replaces the meeting's camera, microphone or speaker (those `devices` names); false outside
/// a meeting. What cannot be opened shows in the meeting's `device_problems`.
#[tauri::command]
async fn set_devices(
    controller: State<'_, Controller>,
    devices: DeviceChoice,
) -> Result<bool, ErrorDto> {
    Ok(controller.set_devices(&devices)?)
}

/// What the meeting screen shows (polled by the page). The tray follows along, so that it
/// notices a meeting that ended by itself.
#[tauri::command]
fn meeting_state(
    app: AppHandle,
    controller: State<'_, Controller>,
    qualities: State<'_, Mutex<quality::Qualities>>,
) -> Option<PageState> {
    if let Some(tray) = app.try_state::<Tray>() {
        tray.refresh(&controller);
    }
    keep_out_of_captures(&app, controller.sharing());
    let stats = controller.state()?;
    let readings: Vec<_> = stats
        .participants
        .iter()
        .map(quality::Reading::of)
        .collect();
    let quality = qualities
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .update(std::time::Instant::now(), &readings);
    Some(PageState { stats, quality })
}

/// The meeting's state as the page shows it: the meeting's report, and how well each
/// participant's sound and pictures arrive now.
#[derive(serde::Serialize)]
struct PageState {
    #[serde(flatten)]
    stats: conclave::client::MeetingStats,
    quality: std::collections::BTreeMap<String, quality::Quality>,
}

/// While we share, our own window stays out of every capture where the system can keep it out
/// (Windows: its display affinity; macOS: its sharing type), and nobody sees the meeting mirrored
/// in it; on X11 the capture paints it over itself (`conclave_media::screen::x11::hide_own_windows`).
/// Outside a share it can be captured (screenshots for a colleague).
fn keep_out_of_captures(app: &AppHandle, sharing: bool) {
    static PROTECTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if PROTECTED.swap(sharing, std::sync::atomic::Ordering::Relaxed) != sharing
        && let Some(window) = app.get_webview_window("main")
    {
        let _ = window.set_content_protected(sharing);
    }
}

/// The replay of the running meeting's state.
fn lock_replay(app: &AppHandle) -> std::sync::MutexGuard<'_, events::Replay> {
    app.state::<Mutex<events::Replay>>()
        .inner()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A page that was reloaded during a meeting finds it again: the meeting's link (for its
/// invitation) and the events that show it as it is now. `None` outside a meeting.
#[tauri::command]
fn meeting_replay(app: AppHandle, controller: State<'_, Controller>) -> Option<ReplayView> {
    let joined = controller.joined()?;
    Some(ReplayView {
        joined,
        events: lock_replay(&app).events(),
    })
}

/// What `meeting_replay` gives the page.
#[derive(serde::Serialize)]
struct ReplayView {
    #[serde(flatten)]
    joined: controller::Joined,
    events: Vec<events::PageEvent>,
}

#[tauri::command]
fn take_pending_link(pending: State<'_, PendingLink>) -> Option<String> {
    pending.0.lock().ok()?.take()
}

#[tauri::command]
fn set_language(app: AppHandle, language: String) {
    if let Some(tray) = app.try_state::<Tray>() {
        tray.set_language(&language);
    }
}

/// Brings the tray (and anything else that mirrors the switches) up to date, and tells the page.
fn refresh(app: &AppHandle) {
    let controller = app.state::<Controller>();
    if let Some(tray) = app.try_state::<Tray>() {
        tray.refresh(&controller);
    }
    keep_out_of_captures(app, controller.sharing());
    let _ = app.emit("switches", controller.switches());
}

/// What a tray item does.
pub(crate) fn tray_action(app: &AppHandle, id: &str) {
    match app.state::<Controller>().tray(id) {
        Effect::Nothing => {}
        Effect::ShowWindow => tray::show_window(app),
        Effect::SharePicker => {
            tray::show_window(app);
            let _ = app.emit("open-share-picker", ());
        }
        Effect::Exit => app.exit(0),
    }
    refresh(app);
}

/// Ctrl+Shift+M toggles the microphone anywhere; Ctrl+Shift+Space talks while held.
fn shortcuts() -> (Shortcut, Shortcut) {
    let mods = Some(Modifiers::CONTROL | Modifiers::SHIFT);
    (
        Shortcut::new(mods, Code::KeyM),
        Shortcut::new(mods, Code::Space),
    )
}

fn on_shortcut(app: &AppHandle, shortcut: &Shortcut, state: ShortcutState) {
    let controller = app.state::<Controller>();
    let (toggle, push_to_talk) = shortcuts();
    if *shortcut == toggle && state == ShortcutState::Pressed {
        controller.toggle_audio();
    } else if *shortcut == push_to_talk {
        controller.push_to_talk(state == ShortcutState::Pressed);
    }
    refresh(app);
}

/// A link arrived (deep link or a second launch): keep it for the page and tell it.
fn open_link(app: &AppHandle, url: String) {
    if let Some(pending) = app.try_state::<PendingLink>()
        && let Ok(mut slot) = pending.0.lock()
    {
        *slot = Some(url);
    }
    tray::show_window(app);
    let _ = app.emit("link-opened", ());
}

/// The address media sockets bind to, for tests in a private network (never needed by users).
fn ice_ip() -> Option<std::net::IpAddr> {
    std::env::var("CONCLAVE_ICE_ADDRESS").ok()?.parse().ok()
}

/// Starts the app and blocks until it quits.
pub fn run() -> Result<(), tauri::Error> {
    tauri::Builder::default()
        // First: a second launch hands its link to this one and exits.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            tray::show_window(app);
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_dialog::init())
        .plugin(
            tauri_plugin_global_shortcut::Builder::new()
                .with_handler(|app, shortcut, event| on_shortcut(app, shortcut, event.state))
                .build(),
        )
        .register_asynchronous_uri_scheme_protocol(frames::SCHEME, |ctx, request, responder| {
            // Requests wait for the next picture: on the blocking pool, never the main thread.
            let app = ctx.app_handle().clone();
            tauri::async_runtime::spawn_blocking(move || {
                let controller = app.state::<Controller>();
                responder.respond(frames::respond(&controller, request.uri(), frames::WAIT));
            });
        })
        .manage(Controller::new(ice_ip()))
        .manage(PendingLink::default())
        .manage(Mutex::new(quality::Qualities::default()))
        .manage(Mutex::new(events::Replay::default()))
        .setup(|app| {
            let handle = app.handle().clone();
            #[cfg(feature = "bench-feeds")]
            {
                let controller = app.state::<Controller>();
                bench_feeds::start(controller.video_out(), controller.encoded_out());
            }
            let config = app.path().app_config_dir()?;
            let policy = match policy::path() {
                Some(path) => policy::Policy::load(&path),
                None => Ok(None),
            };
            if let Err(e) = &policy {
                // The reason only: the file may hold credentials.
                tracing::warn!(
                    problem = e.kind(),
                    "the organisation's policy file cannot be used"
                );
            }
            app.manage(Store::new(&config, Box::new(settings::Keyring)).with_policy(policy));
            match Tray::build(&handle) {
                Ok(tray) => {
                    app.manage(tray);
                }
                Err(e) => tracing::warn!(error = %e, "no tray icon"),
            }
            let (toggle, push_to_talk) = shortcuts();
            for s in [toggle, push_to_talk] {
                if let Err(e) = app.global_shortcut().register(s) {
                    tracing::warn!(error = %e, "a global shortcut is taken");
                }
            }
            let links = handle.clone();
            app.deep_link().on_open_url(move |event| {
                if let Some(url) = event.urls().first() {
                    open_link(&links, url.to_string());
                }
            });
            if let Ok(Some(urls)) = app.deep_link().get_current()
                && let Some(url) = urls.first()
            {
                open_link(&handle, url.to_string());
            }
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the window during a meeting keeps the call, in the tray.
            if let WindowEvent::CloseRequested { api, .. } = event
                && window.state::<Controller>().in_meeting()
            {
                api.prevent_close();
                // Nobody sees what they share from a window in the tray: the share stops, and
                // the page says so when it is shown again.
                let controller = window.state::<Controller>();
                if controller.sharing() {
                    controller.share(None);
                    let _ = window.emit("share-stopped", "hidden");
                }
                let _ = window.hide();
            }
        })
        .invoke_handler(tauri::generate_handler![
            app_info,
            h264_probe,
            check_link,
            devices,
            join,
            leave,
            set_audio,
            set_video,
            chat_send,
            share_sources,
            share,
            new_meeting,
            open_web_address,
            save_chat,
            raise_hand,
            go_in,
            react,
            meeting_state,
            meeting_replay,
            invitation,
            take_pending_link,
            set_language,
            test_call,
            preview_start,
            set_devices,
            preview_stop,
            preview_level,
            settings_get,
            policy_get,
            settings_save,
            room_link,
            forget_room,
            forget_everything,
        ])
        .run(tauri::generate_context!())
}
