//! Where log lines go and which ones are written: ours from `warn` up, no one else's, unless
//! `RUST_LOG` says otherwise.
//!
//! Our own log lines never carry room names, display names, secrets or addresses. The WebRTC,
//! ICE and TURN libraries do not keep that rule: a refused TURN allocation is logged at `ERROR`
//! with the local and the TURN server's IP address and port. So by default their lines are off,
//! and the user's own errors reach them through our messages instead. Someone debugging can
//! still ask for them with `RUST_LOG` (e.g. `RUST_LOG=webrtc=debug`), knowing they name addresses.

use tracing_subscriber::EnvFilter;

/// The filter when `RUST_LOG` is unset or unreadable. Targets match by prefix, so `conclave`
/// covers every crate of ours (`conclave_app`, `conclave_media`, …).
pub const DEFAULT_FILTER: &str = "off,conclave=warn";

/// Writes log lines to stderr, filtered by `RUST_LOG` or else [`DEFAULT_FILTER`]. Call once, at
/// the start of a binary.
pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn by_default_our_warnings_are_written_and_other_crates_lines_are_not() {
        let written = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = written.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new(DEFAULT_FILTER))
            .with_writer(move || WriteTo(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: "conclave::client::keylog", "ours, a warning");
            tracing::info!(target: "conclave_app", "ours, only information");
            tracing::error!(target: "webrtc::peer_connection", "from 192.0.2.1:3478");
        });
        let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        assert!(text.contains("ours, a warning"), "{text}");
        assert!(!text.contains("only information"), "{text}");
        assert!(!text.contains("192.0.2.1"), "{text}");
    }

    struct WriteTo(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for WriteTo {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
