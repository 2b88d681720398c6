pub mod janus;
