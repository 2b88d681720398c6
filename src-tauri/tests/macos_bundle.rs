//! The macOS bundle cannot be built on this machine (no SDK), so its configuration is checked
//! here: what macOS asks the user before the camera and microphone open (English and German), the
//! `conclave://` links the app answers, and the hardened runtime's permissions — camera,
//! microphone and outgoing connections, nothing more.

use std::path::Path;

fn dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn plist(path: &str) -> plist::Dictionary {
    plist::from_file(dir().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn config() -> serde_json::Value {
    let text = std::fs::read_to_string(dir().join("tauri.conf.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn macos_asks_for_camera_and_microphone_in_both_languages() {
    let info = plist("Info.plist");
    for key in ["NSCameraUsageDescription", "NSMicrophoneUsageDescription"] {
        let text = info
            .get(key)
            .and_then(|v| v.as_string())
            .unwrap_or_default();
        assert!(text.contains("end-to-end encrypted"), "{key}: {text:?}");
    }
    // Each language's strings file carries both, and the bundle ships it.
    let files = &config()["bundle"]["macOS"]["files"];
    for (language, words) in [("en", "end-to-end"), ("de", "Ende-zu-Ende")] {
        let inside = format!("Resources/{language}.lproj/InfoPlist.strings");
        let source = files[&inside]
            .as_str()
            .unwrap_or_else(|| panic!("{inside} not bundled"));
        let strings = std::fs::read_to_string(dir().join(source)).unwrap();
        for key in ["NSCameraUsageDescription", "NSMicrophoneUsageDescription"] {
            let line = strings
                .lines()
                .find(|l| l.starts_with(&format!("\"{key}\" = \"")))
                .unwrap_or_else(|| panic!("{language}: no {key}"));
            assert!(
                line.contains(words) && line.ends_with("\";"),
                "{language}: {line}"
            );
        }
    }
}

#[test]
fn macos_opens_conclave_links() {
    let info = plist("Info.plist");
    let schemes: Vec<&str> = info["CFBundleURLTypes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_dictionary()?.get("CFBundleURLSchemes")?.as_array())
        .flatten()
        .filter_map(|s| s.as_string())
        .collect();
    assert_eq!(schemes, ["conclave"]);
    // The deep-link plugin answers the same scheme.
    assert_eq!(
        config()["plugins"]["deep-link"]["desktop"]["schemes"],
        serde_json::json!(["conclave"])
    );
}

#[test]
fn the_hardened_runtime_allows_camera_microphone_and_outgoing_connections_only() {
    let mac = &config()["bundle"]["macOS"];
    assert_eq!(mac["hardenedRuntime"], true);
    assert!(
        config()["bundle"]["targets"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("dmg"))
    );
    let entitlements = plist(mac["entitlements"].as_str().unwrap());
    let mut granted: Vec<&str> = entitlements
        .iter()
        .filter(|(_, v)| v.as_boolean() == Some(true))
        .map(|(k, _)| k.as_str())
        .collect();
    granted.sort_unstable();
    assert_eq!(
        granted,
        [
            "com.apple.security.device.audio-input",
            "com.apple.security.device.camera",
            "com.apple.security.network.client",
        ]
    );
    assert_eq!(
        entitlements.len(),
        granted.len(),
        "nothing else, not even off"
    );
}
