//! Conclave's Tauri 2 shell. Commands here translate: DTO in, headless-client call, DTO out.
//! Decisions belong to the `conclave` crate, never to this one.

use serde::Serialize;

/// What the About line of the UI shows.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AppInfo {
    version: &'static str,
    cipher_suite: &'static str,
}

/// Version and media encryption in use.
#[tauri::command]
fn app_info() -> AppInfo {
    AppInfo {
        version: conclave::VERSION,
        cipher_suite: conclave_e2ee::CipherSuite::AesGcm128Sha256.name(),
    }
}

/// Starts the app and blocks until it quits.
pub fn run() -> Result<(), tauri::Error> {
    tauri::Builder::default()
        .invoke_handler(tauri::generate_handler![app_info])
        .run(tauri::generate_context!())
}
