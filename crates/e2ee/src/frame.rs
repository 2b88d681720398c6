//! One SFrame ciphertext (RFC 9605 §4.4.3–4.4.4): `header || AEAD(key, nonce, header || metadata,
//! plaintext)`. Stateless; counters, replay and key choice live in [`crate::Sender`] and
//! [`crate::Receiver`].

use crate::aead::AuthFailed;
use crate::error::DecryptError;
use crate::header::{Counter, Header};
use crate::key::SframeKey;

/// Encrypts `plaintext` under `key` with counter `ctr`; `metadata` is authenticated, not sent.
pub fn seal(key: &SframeKey, ctr: Counter, metadata: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let header = Header::new(key.kid(), ctr).encode();
    let tag_len = key.suite().tag_len();
    let mut out = Vec::with_capacity(header.len() + plaintext.len() + tag_len);
    out.extend_from_slice(&header);
    out.extend_from_slice(plaintext);
    let (head, body) = out.split_at_mut(header.len());
    let tag = with_aad(head, metadata, |aad| {
        key.cipher().seal(&key.nonce(ctr.0), aad, body)
    });
    out.extend_from_slice(&tag);
    out
}

/// Decrypts `frame`, whose header (already parsed, `header_len` bytes) names `key`.
///
/// The caller has matched the header's KID to `key`; this checks the tag and nothing else.
pub fn open(
    key: &SframeKey,
    header: &Header,
    header_len: usize,
    metadata: &[u8],
    frame: &[u8],
) -> Result<Vec<u8>, DecryptError> {
    let (head, body) = frame.split_at(header_len.min(frame.len()));
    if body.len() < key.suite().tag_len() {
        return Err(DecryptError::TooShort {
            len: frame.len(),
            min: header_len + key.suite().tag_len(),
        });
    }
    let mut buf = body.to_vec();
    let pt_len = with_aad(head, metadata, |aad| {
        key.cipher().open(&key.nonce(header.ctr.0), aad, &mut buf)
    })
    .map_err(|AuthFailed| DecryptError::Authentication { kid: header.kid })?;
    buf.truncate(pt_len);
    Ok(buf)
}

/// Runs `f` with `header || metadata`, copying only when there is metadata to append.
fn with_aad<T>(header: &[u8], metadata: &[u8], f: impl FnOnce(&[u8]) -> T) -> T {
    if metadata.is_empty() {
        return f(header);
    }
    let mut aad = Vec::with_capacity(header.len() + metadata.len());
    aad.extend_from_slice(header);
    aad.extend_from_slice(metadata);
    f(&aad)
}
