//! Conclave's own control messages between participants. They travel SFrame-encrypted on a data
//! channel the SFU relays, so the SFU learns neither display names nor anything else in them.
//!
//! Wire format (inside the SFrame plaintext): one JSON object, at most [`MAX_CONTROL_LEN`] bytes,
//! `{"v":1,"type":"hello","name":"Alice","audio":true,"video":false}` where `audio`/`video` say
//! whether the sender is currently sending that medium (false = muted), and `{"v":1,"type":"bye"}`
//! when the sender leaves on purpose (the others then show it gone at once, not as reconnecting).

use serde::{Deserialize, Serialize};

use crate::error::ControlError;

/// First byte of a data-channel message carrying a (SFrame-protected) control message.
pub const DATA_CONTROL: u8 = b'C';
/// First byte of a data-channel message carrying a key-agreement message (`conclave-group`).
pub const DATA_KEYS: u8 = b'K';
/// First byte of a data-channel message carrying a signed statement of the sender's frames
/// (`conclave_e2ee::attest`; in the clear: digests of ciphertexts the SFU sees anyway).
pub const DATA_FRAMES: u8 = b'F';

/// Largest control message accepted.
pub const MAX_CONTROL_LEN: usize = 4096;
/// Longest display name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// A control message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
#[non_exhaustive]
pub enum Control {
    /// Who I am and what I send; repeated periodically and on every change.
    Hello {
        /// Protocol version (1).
        v: u8,
        /// Display name.
        name: String,
        /// Sending audio (not muted).
        audio: bool,
        /// Sending video (camera on).
        video: bool,
    },
    /// I am leaving.
    Bye {
        /// Protocol version (1).
        v: u8,
    },
}

impl Control {
    /// A hello with the current state.
    pub fn hello(name: &str, audio: bool, video: bool) -> Self {
        Control::Hello {
            v: 1,
            name: name.chars().take(MAX_NAME_CHARS).collect(),
            audio,
            video,
        }
    }

    /// A goodbye.
    pub fn bye() -> Self {
        Control::Bye { v: 1 }
    }

    /// Serialises the message.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses a decrypted control message from another participant.
    pub fn decode(bytes: &[u8]) -> Result<Self, ControlError> {
        if bytes.len() > MAX_CONTROL_LEN {
            return Err(ControlError::TooLarge(bytes.len()));
        }
        let msg: Control =
            serde_json::from_slice(bytes).map_err(|e| ControlError::Malformed(e.to_string()))?;
        match &msg {
            Control::Hello { v, .. } | Control::Bye { v } if *v != 1 => {
                Err(ControlError::Version(*v))
            }
            Control::Hello { name, .. }
                if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) =>
            {
                Err(ControlError::Name)
            }
            _ => Ok(msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_round_trips() {
        let m = Control::hello("Jürgen Groß", true, false);
        assert_eq!(Control::decode(&m.encode()), Ok(m));
        let long = Control::hello(&"x".repeat(100), true, true);
        let Control::Hello { name, .. } = Control::decode(&long.encode()).unwrap() else {
            panic!("not a hello");
        };
        assert_eq!(name.len(), MAX_NAME_CHARS);
        assert_eq!(
            Control::decode(&Control::bye().encode()),
            Ok(Control::bye())
        );
    }

    #[test]
    fn bad_messages_are_typed_errors() {
        let cases: Vec<(&[u8], &str)> = vec![
            (b"", "malformed"),
            (b"{}", "malformed"),
            (
                br#"{"type":"hello","v":1,"name":"a","audio":true}"#,
                "malformed",
            ),
            (br#"{"type":"bye","v":1,"name":"a"}"#, "malformed"),
            (br#"{"type":"bye","v":3}"#, "version"),
            (
                br#"{"type":"hello","v":1,"name":"a","audio":true,"video":true,"x":1}"#,
                "malformed",
            ),
            (
                br#"{"type":"hello","v":2,"name":"a","audio":true,"video":true}"#,
                "version",
            ),
            (
                br#"{"type":"hello","v":1,"name":"a\u0007","audio":true,"video":true}"#,
                "name",
            ),
        ];
        for (input, expected) in cases {
            let err = Control::decode(input).unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{:?}: {err}",
                String::from_utf8_lossy(input)
            );
        }
        assert!(matches!(
            Control::decode(&vec![b' '; MAX_CONTROL_LEN + 1]),
            Err(ControlError::TooLarge(_))
        ));
    }
}
