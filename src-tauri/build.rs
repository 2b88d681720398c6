//! Generates the Tauri context (config, icons, capabilities) at build time.

fn main() {
    tauri_build::build()
}
