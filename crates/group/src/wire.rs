//! The bytes of key-agreement messages (docs/PROTOCOL.md, "Messages").
//!
//! Every message is broadcast on the sender's data channel and names its addressee:
//!
//! ```text
//! message   = version(1) type(1) from(u64) to(u64) body
//! type 1-3  = Noise handshake message 1, 2 or 3: body = the Noise bytes (48, 96, 64 bytes)
//! type 4    = sealed: body = nonce(u64) Noise transport ciphertext of an `Inner` (tag 16 bytes)
//! inner     = 1 sender-key: generation(u64) step(u64) key_len(1) key(16..=64) signer(32)
//!           | 2 key-ack:    generation(u64) step(u64)
//!           | 3 code-commit: view(32) commitment(32)
//!           | 4 code-reveal: view(32) nonce(32)
//!           | 5 private:     text (1..=16384 bytes, UTF-8; a private chat message)
//! ```
//!
//! Integers are big-endian. Parsing is strict: wrong lengths, unknown types and trailing bytes
//! are errors, so that every accepted message has exactly one encoding.

use zeroize::Zeroizing;

use crate::error::WireError;

/// Protocol version carried in every message (2: `XXpsk0`, docs/PROTOCOL.md).
pub const VERSION: u8 = 2;
/// Largest message accepted: a sealed private message of [`MAX_PRIVATE_LEN`].
pub const MAX_MESSAGE_LEN: usize = 18 + 8 + 1 + MAX_PRIVATE_LEN + TAG_LEN;
/// Longest private message, in bytes.
pub const MAX_PRIVATE_LEN: usize = 16 * 1024;
/// Noise handshake message lengths with empty payloads (XXpsk3, 25519, ChaChaPoly).
pub const HANDSHAKE_LEN: [usize; 3] = [48, 96, 64];
/// The AEAD tag Noise appends.
pub const TAG_LEN: usize = 16;
/// Shortest and longest sender key accepted.
pub const KEY_LEN: std::ops::RangeInclusive<usize> = 16..=64;

const HEADER_LEN: usize = 2 + 8 + 8;

/// One key-agreement message.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    /// The sender's participant id.
    pub from: u64,
    /// The addressee's participant id.
    pub to: u64,
    /// What it carries.
    pub body: Body,
}

/// What a message carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// Noise handshake message `step` (1, 2 or 3).
    Handshake {
        /// 1, 2 or 3.
        step: u8,
        /// The Noise message.
        noise: Vec<u8>,
    },
    /// An encrypted [`Inner`] on an established channel.
    Sealed {
        /// The Noise transport nonce; strictly increasing per direction.
        nonce: u64,
        /// Ciphertext and tag.
        ciphertext: Vec<u8>,
    },
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.body {
            Body::Handshake { step, .. } => format!("handshake {step}"),
            Body::Sealed { nonce, .. } => format!("sealed #{nonce}"),
        };
        f.debug_struct("Message")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("kind", &kind)
            .finish()
    }
}

impl Message {
    /// The wire bytes.
    pub fn encode(&self) -> Vec<u8> {
        let (kind, len) = match &self.body {
            Body::Handshake { step, noise } => (*step, noise.len()),
            Body::Sealed { ciphertext, .. } => (4, 8 + ciphertext.len()),
        };
        let mut out = Vec::with_capacity(HEADER_LEN + len);
        out.push(VERSION);
        out.push(kind);
        out.extend_from_slice(&self.from.to_be_bytes());
        out.extend_from_slice(&self.to.to_be_bytes());
        match &self.body {
            Body::Handshake { noise, .. } => out.extend_from_slice(noise),
            Body::Sealed { nonce, ciphertext } => {
                out.extend_from_slice(&nonce.to_be_bytes());
                out.extend_from_slice(ciphertext);
            }
        }
        out
    }

    /// Parses wire bytes.
    pub fn decode(bytes: &[u8]) -> Result<Message, WireError> {
        if bytes.len() > MAX_MESSAGE_LEN {
            return Err(WireError::TooLong(bytes.len()));
        }
        if bytes.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if bytes[0] != VERSION {
            return Err(WireError::Version(bytes[0]));
        }
        let kind = bytes[1];
        let from = u64_at(bytes, 2);
        let to = u64_at(bytes, 10);
        let rest = &bytes[HEADER_LEN..];
        let body = match kind {
            1..=3 => {
                let expected = HANDSHAKE_LEN[usize::from(kind - 1)];
                if rest.len() != expected {
                    return Err(WireError::Length {
                        expected,
                        got: rest.len(),
                    });
                }
                Body::Handshake {
                    step: kind,
                    noise: rest.to_vec(),
                }
            }
            4 => {
                if rest.len() < 8 + TAG_LEN + 1 {
                    return Err(WireError::Truncated);
                }
                Body::Sealed {
                    nonce: u64_at(rest, 0),
                    ciphertext: rest[8..].to_vec(),
                }
            }
            other => return Err(WireError::UnknownType(other)),
        };
        Ok(Message { from, to, body })
    }
}

/// The plaintext of a sealed message.
#[derive(Clone, PartialEq, Eq)]
pub enum Inner {
    /// The sender's SFrame base key as of (`generation`, ratchet `step`).
    SenderKey {
        /// Key generation (the KID's high bits).
        generation: u64,
        /// Ratchet step within the generation.
        step: u64,
        /// The base key; zeroized on drop.
        key: Zeroizing<Vec<u8>>,
        /// The sender's public key for signing its frames (`conclave_e2ee::attest`).
        signer: [u8; 32],
    },
    /// Receipt of a sender key.
    KeyAck {
        /// Generation received.
        generation: u64,
        /// Step received.
        step: u64,
    },
    /// The sender's commitment to its contribution to the group code of one membership
    /// (`view`), sent before it has seen anyone else's (docs/PROTOCOL.md §7).
    CodeCommit {
        /// Hash of the membership the round is for.
        view: [u8; 32],
        /// SHA-256 over the view, the sender's identity and its nonce.
        commitment: [u8; 32],
    },
    /// The nonce behind a commitment, sent only once everyone's commitment has arrived.
    CodeReveal {
        /// Hash of the membership the round is for.
        view: [u8; 32],
        /// The sender's random contribution.
        nonce: [u8; 32],
    },
    /// A private message to the addressee alone (its bytes; the caller checks them as text).
    Private(Vec<u8>),
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Inner::SenderKey {
                generation, step, ..
            } => f
                .debug_struct("SenderKey")
                .field("generation", generation)
                .field("step", step)
                .field("key", &"<redacted>")
                .finish(),
            Inner::KeyAck { generation, step } => f
                .debug_struct("KeyAck")
                .field("generation", generation)
                .field("step", step)
                .finish(),
            Inner::CodeCommit { .. } => f.write_str("CodeCommit"),
            Inner::CodeReveal { .. } => f.write_str("CodeReveal"),
            Inner::Private(text) => write!(f, "Private({} bytes)", text.len()),
        }
    }
}

impl Inner {
    /// The plaintext bytes (zeroized on drop, since they may hold a key).
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(1 + 16 + 1 + 64 + 32));
        match self {
            Inner::SenderKey {
                generation,
                step,
                key,
                signer,
            } => {
                out.push(1);
                out.extend_from_slice(&generation.to_be_bytes());
                out.extend_from_slice(&step.to_be_bytes());
                out.push(u8::try_from(key.len()).expect("keys are at most 64 bytes"));
                out.extend_from_slice(key);
                out.extend_from_slice(signer);
            }
            Inner::KeyAck { generation, step } => {
                out.push(2);
                out.extend_from_slice(&generation.to_be_bytes());
                out.extend_from_slice(&step.to_be_bytes());
            }
            Inner::CodeCommit { view, commitment } => {
                out.push(3);
                out.extend_from_slice(view);
                out.extend_from_slice(commitment);
            }
            Inner::CodeReveal { view, nonce } => {
                out.push(4);
                out.extend_from_slice(view);
                out.extend_from_slice(nonce);
            }
            Inner::Private(text) => {
                out.push(5);
                out.extend_from_slice(text);
            }
        }
        out
    }

    /// Parses plaintext bytes.
    pub fn decode(bytes: &[u8]) -> Result<Inner, WireError> {
        let Some((&kind, rest)) = bytes.split_first() else {
            return Err(WireError::Truncated);
        };
        if kind == 5 {
            if rest.is_empty() {
                return Err(WireError::Truncated);
            }
            if rest.len() > MAX_PRIVATE_LEN {
                return Err(WireError::TooLong(rest.len()));
            }
            return Ok(Inner::Private(rest.to_vec()));
        }
        if matches!(kind, 3 | 4) {
            if rest.len() != 64 {
                return Err(WireError::Length {
                    expected: 64,
                    got: rest.len(),
                });
            }
            let mut view = [0u8; 32];
            let mut value = [0u8; 32];
            view.copy_from_slice(&rest[..32]);
            value.copy_from_slice(&rest[32..]);
            return Ok(if kind == 3 {
                Inner::CodeCommit {
                    view,
                    commitment: value,
                }
            } else {
                Inner::CodeReveal { view, nonce: value }
            });
        }
        if !matches!(kind, 1 | 2) {
            return Err(WireError::UnknownType(kind));
        }
        if rest.len() < 16 {
            return Err(WireError::Truncated);
        }
        let generation = u64_at(rest, 0);
        let step = u64_at(rest, 8);
        let rest = &rest[16..];
        if kind == 2 {
            if !rest.is_empty() {
                return Err(WireError::Trailing);
            }
            return Ok(Inner::KeyAck { generation, step });
        }
        let Some((&len, key)) = rest.split_first() else {
            return Err(WireError::Truncated);
        };
        let len = usize::from(len);
        if !KEY_LEN.contains(&len) {
            return Err(WireError::KeyLength(len));
        }
        if key.len() != len + 32 {
            return Err(WireError::Length {
                expected: len + 32,
                got: key.len(),
            });
        }
        let (key, public) = key.split_at(len);
        let mut signer = [0u8; 32];
        signer.copy_from_slice(public);
        Ok(Inner::SenderKey {
            generation,
            step,
            key: Zeroizing::new(key.to_vec()),
            signer,
        })
    }
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_have_one_encoding() {
        let messages = [
            Message {
                from: 1,
                to: u64::MAX,
                body: Body::Handshake {
                    step: 1,
                    noise: vec![7; 48],
                },
            },
            Message {
                from: 2,
                to: 3,
                body: Body::Handshake {
                    step: 2,
                    noise: vec![8; 96],
                },
            },
            Message {
                from: 2,
                to: 3,
                body: Body::Sealed {
                    nonce: 9,
                    ciphertext: vec![1; 40],
                },
            },
        ];
        for m in messages {
            let bytes = m.encode();
            assert_eq!(Message::decode(&bytes), Ok(m.clone()));
        }
        let bytes = Message {
            from: 0x0102030405060708,
            to: 0x1112131415161718,
            body: Body::Handshake {
                step: 3,
                noise: vec![0xaa; 64],
            },
        }
        .encode();
        assert_eq!(
            hex::encode(&bytes[..18]),
            "02030102030405060708".to_owned() + "1112131415161718"
        );
    }

    #[test]
    fn malformed_messages_are_typed_errors() {
        let good = Message {
            from: 1,
            to: 2,
            body: Body::Handshake {
                step: 1,
                noise: vec![0; 48],
            },
        }
        .encode();
        assert_eq!(Message::decode(&[]), Err(WireError::Truncated));
        assert_eq!(Message::decode(&good[..17]), Err(WireError::Truncated));
        // Protocol 1 (XXpsk3, which showed identities to strangers) is refused by name.
        let mut v = good.clone();
        v[0] = 1;
        assert_eq!(Message::decode(&v), Err(WireError::Version(1)));
        let mut v = good.clone();
        v[1] = 9;
        assert_eq!(Message::decode(&v), Err(WireError::UnknownType(9)));
        let mut v = good.clone();
        v.push(0);
        assert_eq!(
            Message::decode(&v),
            Err(WireError::Length {
                expected: 48,
                got: 49
            })
        );
        let n = MAX_MESSAGE_LEN + 1;
        assert_eq!(Message::decode(&vec![1; n]), Err(WireError::TooLong(n)));
        let mut sealed = good[..18].to_vec();
        sealed[1] = 4;
        sealed.extend_from_slice(&[0; 8 + 16]);
        assert_eq!(Message::decode(&sealed), Err(WireError::Truncated));
    }

    #[test]
    fn inner_messages_round_trip_and_reject_bad_keys() {
        let key = Inner::SenderKey {
            generation: 3,
            step: 4,
            key: Zeroizing::new(vec![5; 32]),
            signer: [6; 32],
        };
        let bytes = key.encode();
        assert_eq!(bytes.len(), 1 + 16 + 1 + 32 + 32);
        assert_eq!(Inner::decode(&bytes), Ok(key));
        let ack = Inner::KeyAck {
            generation: 3,
            step: 4,
        };
        assert_eq!(Inner::decode(&ack.encode()), Ok(ack));

        let mut short = bytes.to_vec();
        short[17] = 8;
        short.truncate(18 + 8);
        assert_eq!(Inner::decode(&short), Err(WireError::KeyLength(8)));
        let mut long = bytes.to_vec();
        long.push(0);
        assert_eq!(
            Inner::decode(&long),
            Err(WireError::Length {
                expected: 64,
                got: 65
            })
        );
        assert_eq!(
            Inner::decode(&bytes[..bytes.len() - 1]),
            Err(WireError::Length {
                expected: 64,
                got: 63
            })
        );
        let mut ack_trailing = Inner::KeyAck {
            generation: 1,
            step: 1,
        }
        .encode()
        .to_vec();
        ack_trailing.push(0);
        assert_eq!(Inner::decode(&ack_trailing), Err(WireError::Trailing));
        assert_eq!(Inner::decode(&[6]), Err(WireError::UnknownType(6)));
        let private = Inner::Private("grüß dich".as_bytes().to_vec());
        assert_eq!(Inner::decode(&private.encode()), Ok(private));
        assert_eq!(Inner::decode(&[5]), Err(WireError::Truncated));
        let mut long = vec![5u8];
        long.extend(std::iter::repeat_n(b'a', MAX_PRIVATE_LEN + 1));
        assert_eq!(
            Inner::decode(&long),
            Err(WireError::TooLong(MAX_PRIVATE_LEN + 1))
        );
        long.pop();
        assert!(Inner::decode(&long).is_ok());
        for (inner, kind) in [
            (
                Inner::CodeCommit {
                    view: [1; 32],
                    commitment: [2; 32],
                },
                3,
            ),
            (
                Inner::CodeReveal {
                    view: [3; 32],
                    nonce: [4; 32],
                },
                4,
            ),
        ] {
            let bytes = inner.encode();
            assert_eq!(bytes.len(), 65);
            assert_eq!(bytes[0], kind);
            assert_eq!(Inner::decode(&bytes).unwrap(), inner);
            assert!(matches!(
                Inner::decode(&bytes[..64]),
                Err(WireError::Length { expected: 64, .. })
            ));
            let mut long = bytes.to_vec();
            long.push(0);
            assert!(Inner::decode(&long).is_err());
        }
        assert_eq!(Inner::decode(&[1, 0]), Err(WireError::Truncated));
        assert!(!format!("{:?}", Inner::decode(&bytes).unwrap()).contains("5, 5"));
    }
}
