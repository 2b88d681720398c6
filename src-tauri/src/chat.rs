//! What leaves the app from the chat, and only when the user asks: a web address opened in the
//! system browser (after the page asked for confirmation), and the chat written to a file the
//! user chooses.

use thiserror::Error;

/// Why a chat action failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ChatError {
    /// Only http(s) addresses are opened (not file:, javascript:, custom schemes…).
    #[error("not a web address")]
    NotWebAddress,
    /// The system could not open it.
    #[error("the address could not be opened: {0}")]
    Open(String),
    /// The file could not be written.
    #[error("the chat could not be saved: {0}")]
    Write(#[from] std::io::Error),
}

impl ChatError {
    /// A stable key the UI translates.
    pub fn code(&self) -> &'static str {
        match self {
            ChatError::NotWebAddress | ChatError::Open(_) => "openLinkFailed",
            ChatError::Write(_) => "chatSaveFailed",
        }
    }
}

/// `text` as an address to hand to the browser: http or https only, with a host.
pub fn web_address(text: &str) -> Result<url::Url, ChatError> {
    let url = url::Url::parse(text.trim()).map_err(|_| ChatError::NotWebAddress)?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ChatError::NotWebAddress);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_addresses_are_opened() {
        assert!(web_address("https://example.org/a?b=c#d").is_ok());
        assert!(web_address("http://127.0.0.1:8080/").is_ok());
        for bad in [
            "javascript:alert(1)",
            "file:///etc/passwd",
            "conclave://join?room=x",
            "https://",
            "not an address",
        ] {
            assert!(web_address(bad).is_err(), "{bad}");
        }
    }
}
