//! Conclave's headless client: the run loop that wires the pure core (`conclave-e2ee`, and later
//! the room state machine and SFU adapters) to sockets, devices and timers. The CLI, the desktop
//! app and the tests all drive this crate.

pub mod cli_args;
pub mod client;
pub mod conformance;
pub mod logging;
pub mod selftest;
pub mod stats;

/// Version and build commit, e.g. `0.1.0 (a4cdbef)`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("CONCLAVE_BUILD_COMMIT"),
    ")"
);
