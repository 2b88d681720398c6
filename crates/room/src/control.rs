//! Conclave's own control messages between participants. They travel SFrame-encrypted on a data
//! channel the SFU relays, so the SFU learns neither display names nor anything else in them.
//!
//! Wire format (inside the SFrame plaintext): one JSON object, at most [`MAX_CONTROL_LEN`] bytes,
//! `{"v":1,"type":"hello","name":"Alice","audio":true,"video":false}` where `audio`/`video` say
//! whether the sender is currently sending that medium (false = muted), and `{"v":1,"type":"bye"}`
//! when the sender leaves on purpose (the others then show it gone at once, not as reconnecting).
//! A hello carries `"hand":true` while the sender's hand is raised. `{"v":1,"type":"chat",
//! "text":"…"}` is a chat message to everyone (private ones travel sealed on the pairwise channel
//! instead, `conclave-group`), `{"v":1,"type":"react","emoji":"👍"}` a reaction from
//! [`REACTIONS`]. A message of a type this version does not know is dropped and counted.

use serde::{Deserialize, Serialize};

use crate::error::ControlError;

/// First byte of a data-channel message carrying a (SFrame-protected) control message.
pub const DATA_CONTROL: u8 = b'C';
/// First byte of a data-channel message carrying a key-agreement message (`conclave-group`).
pub const DATA_KEYS: u8 = b'K';
/// First byte of a data-channel message carrying a signed statement of the sender's frames
/// (`conclave_e2ee::attest`; in the clear: digests of ciphertexts the SFU sees anyway).
pub const DATA_FRAMES: u8 = b'F';

/// Largest control message accepted (a chat message of [`MAX_CHAT_CHARS`], JSON-escaped).
pub const MAX_CONTROL_LEN: usize = 32 * 1024;
/// Longest chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 4000;
/// The reactions there are.
pub const REACTIONS: [&str; 6] = ["👍", "👏", "😂", "😮", "❤️", "🎉"];
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
        /// My hand is raised.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        hand: bool,
    },
    /// I am leaving.
    Bye {
        /// Protocol version (1).
        v: u8,
    },
    /// A chat message to everyone.
    Chat {
        /// Protocol version (1).
        v: u8,
        /// Plain text (never markup), at most [`MAX_CHAT_CHARS`] characters.
        text: String,
    },
    /// A reaction, one of [`REACTIONS`].
    React {
        /// Protocol version (1).
        v: u8,
        /// Which.
        emoji: String,
    },
}

/// Whether `text` is a chat message this version accepts: not blank, at most
/// [`MAX_CHAT_CHARS`] characters, no control characters but line breaks and tabs.
pub fn valid_chat(text: &str) -> bool {
    !text.trim().is_empty()
        && text.chars().count() <= MAX_CHAT_CHARS
        && !text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
}

impl Control {
    /// A hello with the current state.
    pub fn hello(name: &str, audio: bool, video: bool, hand: bool) -> Self {
        Control::Hello {
            v: 1,
            name: name.chars().take(MAX_NAME_CHARS).collect(),
            audio,
            video,
            hand,
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
            Control::Hello { v, .. }
            | Control::Bye { v }
            | Control::Chat { v, .. }
            | Control::React { v, .. }
                if *v != 1 =>
            {
                Err(ControlError::Version(*v))
            }
            Control::Chat { text, .. } if !valid_chat(text) => Err(ControlError::Chat),
            Control::React { emoji, .. } if !REACTIONS.contains(&emoji.as_str()) => {
                Err(ControlError::Reaction)
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
        let m = Control::hello("Jürgen Groß", true, false, false);
        assert!(!String::from_utf8(m.encode()).unwrap().contains("hand"));
        let raised = Control::hello("a", true, true, true);
        assert_eq!(Control::decode(&raised.encode()), Ok(raised));
        assert_eq!(Control::decode(&m.encode()), Ok(m));
        let long = Control::hello(&"x".repeat(100), true, true, false);
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
            (br#"{"type":"chat","v":1,"text":"  "}"#, "chat"),
            (br#"{"type":"chat","v":1,"text":"a\u001b[2J"}"#, "chat"),
            (br#"{"type":"chat","v":2,"text":"a"}"#, "version"),
            (
                r#"{"type":"react","v":1,"emoji":"💩"}"#.as_bytes(),
                "reaction",
            ),
            (br#"{"type":"wave","v":1}"#, "malformed"),
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

    #[test]
    fn chat_and_reactions_round_trip_and_are_checked() {
        let long = "ä".repeat(MAX_CHAT_CHARS);
        for m in [
            Control::Chat {
                v: 1,
                text: "<img src=x onerror=alert(1)>\nzweite Zeile".into(),
            },
            Control::Chat { v: 1, text: long },
            Control::React {
                v: 1,
                emoji: "🎉".into(),
            },
        ] {
            let bytes = m.encode();
            assert!(bytes.len() <= MAX_CONTROL_LEN);
            assert_eq!(Control::decode(&bytes), Ok(m));
        }
        let too_long = Control::Chat {
            v: 1,
            text: "a".repeat(MAX_CHAT_CHARS + 1),
        };
        assert_eq!(Control::decode(&too_long.encode()), Err(ControlError::Chat));
    }
}
