pub mod bus;
pub mod desktop;
pub mod webdriver;
pub mod tray;
