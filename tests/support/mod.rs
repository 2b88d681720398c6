// Each test binary uses only some of the helpers.
#![allow(dead_code)]

pub mod delay;
pub mod galene;
pub mod janus;
pub mod participant;
pub mod pulse;
pub mod scenarios;
pub mod turn;
