#![allow(dead_code, reason = "each test binary uses a part of it")]

pub mod app;
pub mod bus;
pub mod desktop;
pub mod tray;
pub mod webdriver;
