pub mod janus;
pub mod participant;
