//! An SFrame key log for debugging and for tests that check what the SFU stored, in the spirit
//! of TLS's `SSLKEYLOGFILE`: only when `CONCLAVE_KEYLOG` names a file does the client append
//! every media key it uses or receives to it. Never set it in a real meeting.
//!
//! Format, one key per line: `send <generation> <step> <key hex>` for our own keys and
//! `recv <participant id> <generation> <step> <key hex>` for keys others gave us.

use std::io::Write;
use std::sync::Mutex;

use conclave_e2ee::BaseKey;

/// The environment variable that turns the key log on.
pub const ENV: &str = "CONCLAVE_KEYLOG";

/// An open key log.
#[derive(Debug)]
pub struct KeyLog(Mutex<std::fs::File>);

impl KeyLog {
    /// The key log `CONCLAVE_KEYLOG` asks for, if any. Release builds ignore the variable unless
    /// built with the `keylog` feature: a stray environment variable must not leak keys.
    pub fn from_env() -> Option<KeyLog> {
        if !cfg!(any(debug_assertions, feature = "keylog")) {
            if std::env::var_os(ENV).is_some() {
                tracing::warn!("{ENV} is ignored: this build has no key log");
            }
            return None;
        }
        let path = std::env::var_os(ENV)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| tracing::warn!(error = %e, "could not open the key log"))
            .ok()?;
        tracing::warn!("{ENV} is set: media keys are being written to a file");
        Some(KeyLog(Mutex::new(file)))
    }

    /// Records a key of ours.
    pub fn send(&self, generation: u64, step: u64, key: &BaseKey) {
        self.line(format!(
            "send {generation} {step} {}",
            hex::encode(key.expose_secret())
        ));
    }

    /// Records a key someone gave us.
    pub fn received(&self, peer: u64, generation: u64, step: u64, key: &BaseKey) {
        self.line(format!(
            "recv {peer} {generation} {step} {}",
            hex::encode(key.expose_secret())
        ));
    }

    fn line(&self, line: String) {
        let mut f = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = writeln!(f, "{line}");
    }
}
