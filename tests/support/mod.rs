// Each test binary uses only some of the helpers.
#![allow(dead_code)]

pub mod chat;
pub mod delay;
pub mod galene;
pub mod janus;
pub mod participant;
pub mod pulse;
pub mod recording;
pub mod scenarios;
pub mod screen;
pub mod turn;
pub mod wayland;
