//! SFU dialects: one module each, mapping an SFU's signalling to neutral room inputs and outputs.

pub mod janus;
