//! Base keys and what RFC 9605 derives from them: `sframe_key` and `sframe_salt` per KID (§4.4.2),
//! and the next base key of the sender-key ratchet (§5.1).

use ring::{hkdf, hmac};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::aead::Cipher;
use crate::error::KeyError;
use crate::header::KeyId;
use crate::suite::{CipherSuite, Hash, NONCE_LEN};

const KEY_LABEL: &[u8] = b"SFrame 1.0 Secret key ";
const SALT_LABEL: &[u8] = b"SFrame 1.0 Secret salt ";
const RATCHET_LABEL: &[u8] = b"SFrame 1.0 Ratchet";

/// A sender's base key: the secret that every per-KID key is derived from.
///
/// Zeroized on drop; its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct BaseKey(Vec<u8>);

impl BaseKey {
    /// Wraps key bytes. An empty key is refused: it would mean a caller lost its secret.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, KeyError> {
        let bytes = bytes.into();
        if bytes.is_empty() {
            return Err(KeyError::EmptyBaseKey);
        }
        Ok(BaseKey(bytes))
    }

    /// The key bytes, for sending to a peer over an authenticated channel.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// The next base key of the §5.1 ratchet:
    /// `HKDF-Expand(HKDF-Extract("", base_key), "SFrame 1.0 Ratchet", Nh)`.
    pub fn ratchet(&self, suite: CipherSuite) -> BaseKey {
        let mut next = vec![0u8; suite.hash_len()];
        expand(&extract(suite, &self.0), suite, &[RATCHET_LABEL], &mut next);
        BaseKey(next)
    }
}

impl std::fmt::Debug for BaseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BaseKey(<{} bytes redacted>)", self.0.len())
    }
}

/// The intermediate values of §4.4.2, exposed so conformance tests can check each one.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct KeyMaterial {
    /// `HKDF-Extract("", base_key)`.
    pub secret: Vec<u8>,
    /// `sframe_key` (`Nk` bytes).
    pub key: Vec<u8>,
    /// `sframe_salt` (`Nn` bytes).
    pub salt: Vec<u8>,
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyMaterial(<redacted>)")
    }
}

impl KeyMaterial {
    /// Derives `sframe_key` and `sframe_salt` for `kid` from `base_key`.
    pub fn derive(suite: CipherSuite, kid: KeyId, base_key: &BaseKey) -> KeyMaterial {
        let secret = extract(suite, &base_key.0);
        let kid_bytes = kid.0.to_be_bytes();
        let suite_bytes = suite.id().to_be_bytes();
        let mut key = vec![0u8; suite.key_len()];
        expand(
            &secret,
            suite,
            &[KEY_LABEL, &kid_bytes, &suite_bytes],
            &mut key,
        );
        let mut salt = vec![0u8; suite.nonce_len()];
        expand(
            &secret,
            suite,
            &[SALT_LABEL, &kid_bytes, &suite_bytes],
            &mut salt,
        );
        KeyMaterial {
            secret: secret.to_vec(),
            key,
            salt,
        }
    }
}

/// A ready-to-use key for one KID: the AEAD state and the salt nonces are formed from.
pub struct SframeKey {
    suite: CipherSuite,
    kid: KeyId,
    salt: Zeroizing<[u8; NONCE_LEN]>,
    cipher: Cipher,
}

impl std::fmt::Debug for SframeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SframeKey")
            .field("suite", &self.suite)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SframeKey {
    /// Derives the key for `kid` (RFC 9605 §4.4.2).
    pub fn derive(suite: CipherSuite, kid: KeyId, base_key: &BaseKey) -> SframeKey {
        let material = KeyMaterial::derive(suite, kid, base_key);
        SframeKey::from_material(suite, kid, &material.key, &material.salt)
            .expect("derived lengths match the suite")
    }

    /// Builds a key from raw `sframe_key` and `sframe_salt` bytes (as test vectors give them).
    pub fn from_material(
        suite: CipherSuite,
        kid: KeyId,
        key: &[u8],
        salt: &[u8],
    ) -> Result<SframeKey, KeyError> {
        let cipher = Cipher::checked(suite, key)?;
        let salt: [u8; NONCE_LEN] = salt.try_into().map_err(|_| KeyError::WrongLength {
            what: "sframe_salt",
            expected: NONCE_LEN,
            actual: salt.len(),
        })?;
        Ok(SframeKey {
            suite,
            kid,
            salt: Zeroizing::new(salt),
            cipher,
        })
    }

    /// The suite this key belongs to.
    pub fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// The KID this key was derived for.
    pub fn kid(&self) -> KeyId {
        self.kid
    }

    /// `sframe_salt XOR CTR`, with CTR as `Nn` big-endian bytes (errata 8321).
    pub(crate) fn nonce(&self, ctr: u64) -> [u8; NONCE_LEN] {
        let mut nonce = *self.salt;
        for (n, c) in nonce[NONCE_LEN - 8..].iter_mut().zip(ctr.to_be_bytes()) {
            *n ^= c;
        }
        nonce
    }

    pub(crate) fn cipher(&self) -> &Cipher {
        &self.cipher
    }
}

/// `HKDF-Extract(salt = "", ikm)`: HMAC keyed with the empty string, per RFC 5869.
fn extract(suite: CipherSuite, ikm: &[u8]) -> Zeroizing<Vec<u8>> {
    let alg = match suite.hash() {
        Hash::Sha256 => hmac::HMAC_SHA256,
        Hash::Sha512 => hmac::HMAC_SHA512,
    };
    let tag = hmac::sign(&hmac::Key::new(alg, &[]), ikm);
    Zeroizing::new(tag.as_ref().to_vec())
}

/// `HKDF-Expand(prk, info, out.len())` where `info` is the concatenation of `info_parts`.
fn expand(prk: &[u8], suite: CipherSuite, info_parts: &[&[u8]], out: &mut [u8]) {
    struct Len(usize);
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    let alg = match suite.hash() {
        Hash::Sha256 => hkdf::HKDF_SHA256,
        Hash::Sha512 => hkdf::HKDF_SHA512,
    };
    // Lengths here are at most 64 bytes, far below HKDF's 255 * Nh limit.
    hkdf::Prk::new_less_safe(alg, prk)
        .expand(info_parts, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .expect("HKDF output length within limit");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_contains_key_bytes() {
        // 0x5a is 90: neither spelling may appear, nor the derived key or salt in hex.
        let base = BaseKey::new(vec![0x5a; 16]).unwrap();
        let suite = CipherSuite::AesGcm128Sha256;
        let key = SframeKey::derive(suite, KeyId(1), &base);
        let material = KeyMaterial::derive(suite, KeyId(1), &base);
        let text = format!("{base:?} {key:?} {material:?}").to_lowercase();
        for secret in ["5a", "90"] {
            assert!(!text.contains(secret), "{text}");
        }
        for bytes in [&material.key, &material.salt] {
            let hex: String = bytes[..4].iter().map(|b| format!("{b:02x}")).collect();
            assert!(!text.contains(&hex), "{text}");
        }
    }

    #[test]
    fn empty_base_key_is_refused() {
        assert_eq!(BaseKey::new(Vec::new()), Err(KeyError::EmptyBaseKey));
    }

    #[test]
    fn ratchet_matches_rfc_9605_section_5_1_for_every_suite() {
        // Independent computation: HKDF-Extract with an empty salt is HMAC keyed by "";
        // HKDF-Expand to at most one hash block is HMAC(prk, info || 0x01).
        let base = BaseKey::new(b"0123456789abcdef".to_vec()).unwrap();
        for suite in CipherSuite::ALL {
            let alg = match suite.hash() {
                Hash::Sha256 => hmac::HMAC_SHA256,
                Hash::Sha512 => hmac::HMAC_SHA512,
            };
            let prk = hmac::sign(&hmac::Key::new(alg, b""), base.expose_secret());
            let okm = hmac::sign(
                &hmac::Key::new(alg, prk.as_ref()),
                b"SFrame 1.0 Ratchet\x01",
            );
            let next = base.ratchet(suite);
            assert_eq!(next.expose_secret(), okm.as_ref(), "{suite}");
            assert_eq!(next.expose_secret().len(), suite.hash_len());
            assert_ne!(next.ratchet(suite), next);
        }
    }
}
