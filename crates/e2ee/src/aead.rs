//! The two AEAD constructions of RFC 9605 §4.5: AES-GCM from `ring`, and AES-CTR with a truncated
//! HMAC-SHA256 tag (§4.5.1), AES-CTR from RustCrypto because `ring` has none.
//!
//! `ring` keeps its expanded AES-GCM and HMAC key schedules out of our reach, so those are not
//! zeroized on drop; every copy of raw key bytes that this crate owns is.

use aes::cipher::{KeyIvInit, StreamCipher};
use ring::{aead, hmac};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::KeyError;
use crate::suite::{CipherSuite, NONCE_LEN};

type Aes128Ctr = ctr::Ctr32BE<aes::Aes128>;

/// Longest tag of any suite.
pub(crate) const MAX_TAG_LEN: usize = 16;

/// AEAD state for one `sframe_key`.
#[expect(
    clippy::large_enum_variant,
    reason = "one per key, never in bulk; boxing would add a pointer chase per frame"
)]
pub(crate) enum Cipher {
    Gcm(aead::LessSafeKey),
    CtrHmac {
        enc_key: Zeroizing<[u8; 16]>,
        auth_key: hmac::Key,
        tag_len: usize,
    },
}

/// A tag on the stack; suites differ in length.
pub(crate) struct Tag {
    bytes: [u8; MAX_TAG_LEN],
    len: usize,
}

impl std::ops::Deref for Tag {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The tag did not verify: wrong key, or altered header, metadata or ciphertext.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct AuthFailed;

impl Cipher {
    /// Like [`Cipher::new`], refusing a key of the wrong length.
    pub(crate) fn checked(suite: CipherSuite, key: &[u8]) -> Result<Cipher, KeyError> {
        if key.len() != suite.key_len() {
            return Err(KeyError::WrongLength {
                what: "sframe_key",
                expected: suite.key_len(),
                actual: key.len(),
            });
        }
        Ok(Cipher::new(suite, key))
    }

    /// `key` must be `suite.key_len()` bytes (checked by the caller).
    pub(crate) fn new(suite: CipherSuite, key: &[u8]) -> Cipher {
        match suite.enc_key_len() {
            None => {
                let alg = match suite {
                    CipherSuite::AesGcm256Sha512 => &aead::AES_256_GCM,
                    _ => &aead::AES_128_GCM,
                };
                let key = aead::UnboundKey::new(alg, key).expect("key length matches suite");
                Cipher::Gcm(aead::LessSafeKey::new(key))
            }
            Some(nka) => {
                let (enc, auth) = key.split_at(nka);
                let mut enc_key = Zeroizing::new([0u8; 16]);
                enc_key.copy_from_slice(enc);
                Cipher::CtrHmac {
                    enc_key,
                    auth_key: hmac::Key::new(hmac::HMAC_SHA256, auth),
                    tag_len: suite.tag_len(),
                }
            }
        }
    }

    /// Encrypts `in_out` in place and returns the tag.
    pub(crate) fn seal(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], in_out: &mut [u8]) -> Tag {
        let mut tag = Tag {
            bytes: [0; MAX_TAG_LEN],
            len: 0,
        };
        match self {
            Cipher::Gcm(key) => {
                let t = key
                    .seal_in_place_separate_tag(
                        aead::Nonce::assume_unique_for_key(*nonce),
                        aead::Aad::from(aad),
                        in_out,
                    )
                    // ring refuses only inputs beyond GCM's 64 GiB limit; frames are far smaller.
                    .expect("frame within AES-GCM input limit");
                tag.bytes.copy_from_slice(t.as_ref());
                tag.len = MAX_TAG_LEN;
            }
            Cipher::CtrHmac {
                enc_key,
                auth_key,
                tag_len,
            } => {
                ctr_keystream(enc_key, nonce, in_out);
                let full = ctr_hmac_tag(auth_key, *tag_len, nonce, aad, in_out);
                tag.bytes[..*tag_len].copy_from_slice(&full.as_ref()[..*tag_len]);
                tag.len = *tag_len;
            }
        }
        tag
    }

    /// Verifies and decrypts `ct || tag` in place; returns the plaintext length.
    pub(crate) fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<usize, AuthFailed> {
        match self {
            Cipher::Gcm(key) => key
                .open_in_place(
                    aead::Nonce::assume_unique_for_key(*nonce),
                    aead::Aad::from(aad),
                    in_out,
                )
                .map(|pt| pt.len())
                .map_err(|_| AuthFailed),
            Cipher::CtrHmac {
                enc_key,
                auth_key,
                tag_len,
            } => {
                let ct_len = in_out.len().checked_sub(*tag_len).ok_or(AuthFailed)?;
                let (ct, tag) = in_out.split_at_mut(ct_len);
                let expected = ctr_hmac_tag(auth_key, *tag_len, nonce, aad, ct);
                if !bool::from(expected.as_ref()[..*tag_len].ct_eq(tag)) {
                    return Err(AuthFailed);
                }
                ctr_keystream(enc_key, nonce, ct);
                Ok(ct_len)
            }
        }
    }
}

/// Raw AEAD encryption under `sframe_key` bytes: `ciphertext || tag`. For conformance checks of
/// the AEAD alone (RFC 9605 Appendix C.3); media goes through [`crate::Sender`].
pub fn seal(
    suite: CipherSuite,
    key: &[u8],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, KeyError> {
    let cipher = Cipher::checked(suite, key)?;
    let mut out = plaintext.to_vec();
    let tag = cipher.seal(nonce, aad, &mut out);
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Raw AEAD decryption, the inverse of [`seal`]; `None` if the tag does not verify.
pub fn open(
    suite: CipherSuite,
    key: &[u8],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Option<Vec<u8>>, KeyError> {
    let cipher = Cipher::checked(suite, key)?;
    let mut buf = sealed.to_vec();
    Ok(cipher.open(nonce, aad, &mut buf).ok().map(|n| {
        buf.truncate(n);
        buf
    }))
}

/// AES-128-CTR with the initial counter block `nonce || 0x00000000`.
fn ctr_keystream(enc_key: &[u8; 16], nonce: &[u8; NONCE_LEN], data: &mut [u8]) {
    let mut iv = [0u8; 16];
    iv[..NONCE_LEN].copy_from_slice(nonce);
    let mut cipher = Aes128Ctr::new(enc_key.into(), &iv.into());
    cipher.apply_keystream(data);
}

/// §4.5.1 `compute_tag`: HMAC over the three lengths, nonce, AAD and ciphertext.
fn ctr_hmac_tag(
    auth_key: &hmac::Key,
    tag_len: usize,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ct: &[u8],
) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(auth_key);
    ctx.update(&(aad.len() as u64).to_be_bytes());
    ctx.update(&(ct.len() as u64).to_be_bytes());
    ctx.update(&(tag_len as u64).to_be_bytes());
    ctx.update(nonce);
    ctx.update(aad);
    ctx.update(ct);
    ctx.sign()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_suite_round_trips_and_rejects_any_flipped_bit() {
        for suite in CipherSuite::ALL {
            let cipher = Cipher::new(suite, &vec![7u8; suite.key_len()]);
            let nonce = [3u8; NONCE_LEN];
            let aad = b"header+metadata";
            let pt = b"twenty bytes of text".to_vec();
            let mut sealed = pt.clone();
            let tag = cipher.seal(&nonce, aad, &mut sealed);
            assert_eq!(tag.len(), suite.tag_len());
            assert_ne!(sealed, pt);
            sealed.extend_from_slice(&tag);

            let mut opened = sealed.clone();
            let n = cipher.open(&nonce, aad, &mut opened).unwrap();
            assert_eq!(&opened[..n], &pt[..], "{suite}");

            for bit in 0..sealed.len() * 8 {
                let mut bad = sealed.clone();
                bad[bit / 8] ^= 1 << (bit % 8);
                assert_eq!(
                    cipher.open(&nonce, aad, &mut bad),
                    Err(AuthFailed),
                    "{suite}"
                );
            }
            let mut bad = sealed.clone();
            assert_eq!(cipher.open(&nonce, b"other aad", &mut bad), Err(AuthFailed));
            let mut short = sealed[..suite.tag_len() - 1].to_vec();
            assert_eq!(cipher.open(&nonce, aad, &mut short), Err(AuthFailed));
        }
    }
}
