pub mod bus;
pub mod desktop;
pub mod tray;
pub mod webdriver;
