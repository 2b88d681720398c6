//! One authenticated pairwise channel: Noise `XXpsk0` between two participants, with the room
//! secret (through [`Psk`]) as the pre-shared key, then Noise transport encryption with explicit
//! nonces for the sealed messages that carry sender keys (docs/PROTOCOL.md, "Handshake").
//!
//! The pre-shared key enters first: whoever lacks the room secret can neither write a message 1
//! that verifies (refused without any Diffie-Hellman work) nor read a message 2 or 3 — so the
//! identity keys inside them stay hidden from everyone outside the room. Every transport key
//! depends on it too. The prologue binds both participant ids, so a handshake cannot be replayed
//! between another pair.

use ring::hkdf;
use snow::{HandshakeState, StatelessTransportState};
use zeroize::Zeroizing;

use crate::error::{GroupError, SetupError};
use crate::identity::Identity;
use crate::wire::{HANDSHAKE_LEN, MAX_MESSAGE_LEN};

/// The Noise protocol name.
pub const NOISE_PARAMS: &str = "Noise_XXpsk0_25519_ChaChaPoly_SHA256";
const PSK_SALT: &[u8] = b"conclave/2 handshake psk";
const PROLOGUE_LABEL: &[u8] = b"conclave/2 handshake";

/// The pre-shared key every handshake of one room uses, derived from the link's room secret:
/// `HKDF-SHA256(salt = "conclave/2 handshake psk", ikm = secret, info = room name)`.
#[derive(Clone)]
pub struct Psk(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for Psk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Psk(<redacted>)")
    }
}

impl Psk {
    /// The handshake key of `room` admitted by `secret`.
    pub fn derive(secret: &[u8], room: &str) -> Psk {
        struct Len;
        impl hkdf::KeyType for Len {
            fn len(&self) -> usize {
                32
            }
        }
        let mut out = Zeroizing::new([0u8; 32]);
        let info = [room.as_bytes()];
        hkdf::Salt::new(hkdf::HKDF_SHA256, PSK_SALT)
            .extract(secret)
            .expand(&info, Len)
            .and_then(|okm| okm.fill(out.as_mut()))
            .expect("32 bytes is within HKDF-SHA256's limit");
        Psk(out)
    }

    /// The raw bytes (for test vectors).
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

/// `"conclave/2 handshake" || initiator id || responder id`, big-endian.
pub fn prologue(initiator: u64, responder: u64) -> Vec<u8> {
    let mut p = PROLOGUE_LABEL.to_vec();
    p.extend_from_slice(&initiator.to_be_bytes());
    p.extend_from_slice(&responder.to_be_bytes());
    p
}

fn noise_error(e: snow::Error) -> SetupError {
    SetupError::Noise(e.to_string())
}

fn builder<'a>(
    identity_secret: &'a [u8; 32],
    psk: &'a Psk,
    prologue: &'a [u8],
) -> Result<snow::Builder<'a>, SetupError> {
    let params = NOISE_PARAMS.parse().map_err(noise_error)?;
    snow::Builder::new(params)
        .local_private_key(identity_secret)
        .and_then(|b| b.psk(0, &psk.0))
        .and_then(|b| b.prologue(prologue))
        .map_err(noise_error)
}

/// The initiator, after message 1, waiting for message 2.
pub struct Initiating {
    state: HandshakeState,
    /// Message 1, resent until message 2 arrives.
    pub message1: Vec<u8>,
}

/// The responder, after message 2, waiting for message 3.
pub struct Responding {
    state: HandshakeState,
    /// The message 1 answered, to tell a retransmission from a new handshake.
    pub message1: Vec<u8>,
    /// Message 2, resent until message 3 arrives.
    pub message2: Vec<u8>,
}

/// An established channel.
pub struct Open {
    transport: StatelessTransportState,
    remote: [u8; 32],
    next_send: u64,
    last_received: Option<u64>,
}

impl Initiating {
    /// Starts a handshake as `me` towards `peer`. `fixed_ephemeral` is for test vectors only.
    pub fn start(
        identity: &Identity,
        psk: &Psk,
        me: u64,
        peer: u64,
        fixed_ephemeral: Option<&[u8; 32]>,
    ) -> Result<Initiating, SetupError> {
        let secret = identity.secret_bytes();
        let prologue = prologue(me, peer);
        let mut b = builder(&secret, psk, &prologue)?;
        if let Some(e) = fixed_ephemeral {
            b = b.fixed_ephemeral_key_for_testing_only(e);
        }
        let mut state = b.build_initiator().map_err(noise_error)?;
        let mut buf = [0u8; MAX_MESSAGE_LEN];
        let n = state.write_message(&[], &mut buf).map_err(noise_error)?;
        Ok(Initiating {
            state,
            message1: buf[..n].to_vec(),
        })
    }

    /// Reads message 2 and writes message 3; the channel is then open on this side.
    pub fn finish(mut self, peer: u64, message2: &[u8]) -> Result<(Open, Vec<u8>), GroupError> {
        let failed = |reason| GroupError::Handshake { peer, reason };
        if message2.len() != HANDSHAKE_LEN[1] {
            return Err(failed("message 2 has the wrong length"));
        }
        let mut payload = [0u8; MAX_MESSAGE_LEN];
        self.state
            .read_message(message2, &mut payload)
            .map_err(|_| failed("message 2 did not verify"))?;
        let mut buf = [0u8; MAX_MESSAGE_LEN];
        let n = self
            .state
            .write_message(&[], &mut buf)
            .map_err(|_| failed("message 3 could not be written"))?;
        let open = Open::from_handshake(self.state).map_err(|_| failed("no transport keys"))?;
        Ok((open, buf[..n].to_vec()))
    }
}

impl Responding {
    /// Answers message 1 from `peer` (the initiator) as `me`.
    pub fn answer(
        identity: &Identity,
        psk: &Psk,
        me: u64,
        peer: u64,
        message1: &[u8],
        fixed_ephemeral: Option<&[u8; 32]>,
    ) -> Result<Responding, GroupError> {
        let failed = |reason| GroupError::Handshake { peer, reason };
        if message1.len() != HANDSHAKE_LEN[0] {
            return Err(failed("message 1 has the wrong length"));
        }
        let secret = identity.secret_bytes();
        let prologue = prologue(peer, me);
        let mut b = builder(&secret, psk, &prologue).map_err(|_| failed("setup failed"))?;
        if let Some(e) = fixed_ephemeral {
            b = b.fixed_ephemeral_key_for_testing_only(e);
        }
        let mut state = b.build_responder().map_err(|_| failed("setup failed"))?;
        let mut payload = [0u8; MAX_MESSAGE_LEN];
        state
            .read_message(message1, &mut payload)
            .map_err(|_| failed("message 1 did not verify: no room secret, or altered"))?;
        let mut buf = [0u8; MAX_MESSAGE_LEN];
        let n = state
            .write_message(&[], &mut buf)
            .map_err(|_| failed("message 2 could not be written"))?;
        Ok(Responding {
            state,
            message1: message1.to_vec(),
            message2: buf[..n].to_vec(),
        })
    }

    /// Reads message 3: success proves the initiator holds the room secret and its identity key.
    pub fn finish(mut self, peer: u64, message3: &[u8]) -> Result<Open, GroupError> {
        let failed = |reason| GroupError::Handshake { peer, reason };
        if message3.len() != HANDSHAKE_LEN[2] {
            return Err(failed("message 3 has the wrong length"));
        }
        let mut payload = [0u8; MAX_MESSAGE_LEN];
        self.state
            .read_message(message3, &mut payload)
            .map_err(|_| {
                failed(
                    "the participant does not hold this room's secret, or the message was altered",
                )
            })?;
        Open::from_handshake(self.state).map_err(|_| failed("no transport keys"))
    }
}

impl Open {
    fn from_handshake(state: HandshakeState) -> Result<Open, ()> {
        let remote: [u8; 32] = state
            .get_remote_static()
            .and_then(|r| r.try_into().ok())
            .ok_or(())?;
        let transport = state.into_stateless_transport_mode().map_err(|_| ())?;
        Ok(Open {
            transport,
            remote,
            next_send: 0,
            last_received: None,
        })
    }

    /// The peer's identity key, proven by the handshake.
    pub fn remote_identity(&self) -> &[u8; 32] {
        &self.remote
    }

    /// Encrypts `plaintext` under the next nonce.
    pub fn seal(&mut self, plaintext: &[u8]) -> (u64, Vec<u8>) {
        let nonce = self.next_send;
        self.next_send += 1;
        let mut buf = vec![0u8; plaintext.len() + crate::wire::TAG_LEN];
        let n = self
            .transport
            .write_message(nonce, plaintext, &mut buf)
            .expect("the buffer has room for the tag");
        buf.truncate(n);
        (nonce, buf)
    }

    /// Decrypts a sealed message; nonces must only grow (the channel is ordered, so anything
    /// else is a replay).
    pub fn open(
        &mut self,
        peer: u64,
        nonce: u64,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, GroupError> {
        if self.last_received.is_some_and(|last| nonce <= last) {
            return Err(GroupError::Unauthentic(peer));
        }
        let mut buf = Zeroizing::new(vec![0u8; ciphertext.len()]);
        let n = self
            .transport
            .read_message(nonce, ciphertext, &mut buf)
            .map_err(|_| GroupError::Unauthentic(peer))?;
        buf.truncate(n);
        self.last_received = Some(nonce);
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(psk_a: &Psk, psk_b: &Psk) -> Result<(Open, Open), GroupError> {
        let (a, b) = (Identity::generate().unwrap(), Identity::generate().unwrap());
        let init = Initiating::start(&a, psk_a, 1, 2, None).unwrap();
        let resp = Responding::answer(&b, psk_b, 2, 1, &init.message1, None)?;
        let (open_a, m3) = init.finish(2, &resp.message2)?;
        let open_b = resp.finish(1, &m3)?;
        assert_eq!(open_a.remote_identity(), b.public());
        assert_eq!(open_b.remote_identity(), a.public());
        Ok((open_a, open_b))
    }

    #[test]
    fn a_handshake_with_the_same_secret_opens_a_channel_both_ways() {
        let psk = Psk::derive(&[7; 32], "room");
        let (mut a, mut b) = pair(&psk, &psk).unwrap();
        let (n, ct) = a.seal(b"key");
        assert_eq!(&b.open(1, n, &ct).unwrap()[..], b"key");
        // A replay is refused, and so is a flipped bit.
        assert_eq!(b.open(1, n, &ct), Err(GroupError::Unauthentic(1)));
        let (n, mut ct) = b.seal(b"ack");
        let good = ct.clone();
        ct[0] ^= 1;
        assert_eq!(a.open(2, n, &ct), Err(GroupError::Unauthentic(2)));
        assert_eq!(&a.open(2, n, &good).unwrap()[..], b"ack");
    }

    #[test]
    fn without_the_room_secret_the_handshake_fails_at_message_3() {
        let right = Psk::derive(&[7; 32], "room");
        let wrong = Psk::derive(&[8; 32], "room");
        let other_room = Psk::derive(&[7; 32], "other");
        for psk in [wrong, other_room] {
            let err = pair(&right, &psk).err().expect("must fail");
            assert!(
                matches!(err, GroupError::Handshake { peer: 1, reason } if reason.contains("secret")),
                "{err:?}"
            );
        }
    }

    #[test]
    fn a_handshake_for_another_pair_of_ids_does_not_verify() {
        let psk = Psk::derive(&[7; 32], "room");
        let (a, b) = (Identity::generate().unwrap(), Identity::generate().unwrap());
        let init = Initiating::start(&a, &psk, 1, 2, None).unwrap();
        // Relayed to participant 3 as if it were meant for it: message 1 already carries a tag
        // over the prologue.
        assert!(Responding::answer(&b, &psk, 3, 1, &init.message1, None).is_err());
        assert!(Responding::answer(&b, &psk, 2, 1, &init.message1, None).is_ok());
    }
}
