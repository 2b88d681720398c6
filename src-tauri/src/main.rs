//! The Conclave desktop app.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() -> std::process::ExitCode {
    conclave::logging::init();
    match conclave_app::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Conclave could not start: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
