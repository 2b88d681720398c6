pub mod desktop;
pub mod webdriver;
