//! Interim media keys: until key agreement lands, each sender's SFrame base key is derived from the
//! room secret and the sender's participant id at the SFU:
//!
//! ```text
//! base_key(sender) = HKDF-SHA256(salt = "Conclave interim sender key v1",
//!                                ikm  = room secret,
//!                                info = sender id as u64 big-endian, L = 16)
//! ```
//! INTERIM: anyone who ever held the link can decrypt a recording made at the SFU. Key agreement
//! (issue 5) replaces this so that the room secret only admits people.

use conclave_e2ee::BaseKey;
use conclave_room::RoomSecret;
use ring::hkdf;

const SALT: &[u8] = b"Conclave interim sender key v1";

/// The interim base key of participant `sender`.
pub fn interim_sender_key(secret: &RoomSecret, sender: u64) -> BaseKey {
    struct Len;
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            16
        }
    }
    let mut key = [0u8; 16];
    let info = sender.to_be_bytes();
    let info_parts = [info.as_slice()];
    hkdf::Salt::new(hkdf::HKDF_SHA256, SALT)
        .extract(secret.expose_secret())
        .expand(&info_parts, Len)
        .and_then(|okm| okm.fill(&mut key))
        .expect("16 bytes is within HKDF-SHA256's limit");
    let base = BaseKey::new(key.to_vec()).expect("16 bytes");
    zeroize::Zeroize::zeroize(&mut key);
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_sender_and_secret_and_match_an_independent_hkdf() {
        let a = RoomSecret::from_bytes([1; 32]);
        let b = RoomSecret::from_bytes([2; 32]);
        assert_ne!(interim_sender_key(&a, 1), interim_sender_key(&a, 2));
        assert_ne!(interim_sender_key(&a, 1), interim_sender_key(&b, 1));
        assert_eq!(interim_sender_key(&a, 7), interim_sender_key(&a, 7));

        // RFC 5869 by hand: PRK = HMAC(salt, ikm); OKM = HMAC(PRK, info || 0x01)[..16].
        use ring::hmac;
        let prk = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, SALT), &[1; 32]);
        let mut msg = 7u64.to_be_bytes().to_vec();
        msg.push(1);
        let okm = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, prk.as_ref()), &msg);
        assert_eq!(
            interim_sender_key(&a, 7).expose_secret(),
            &okm.as_ref()[..16]
        );
    }
}
