//! The SFrame header (RFC 9605 §4.3): a config byte, then KID and CTR in 0–8 bytes each.
//!
//! ```text
//!  0 1 2 3 4 5 6 7
//! +-+-+-+-+-+-+-+-+------------------------+------------------------+
//! |X|  K  |Y|  C  |   Key ID (0-8 bytes)   |   Counter (0-8 bytes)  |
//! +-+-+-+-+-+-+-+-+------------------------+------------------------+
//! ```
//! Values below 8 ride inside the config byte; larger ones follow big-endian in the fewest bytes.

use crate::error::HeaderError;

/// Longest possible header: config byte plus two 8-byte fields.
pub const MAX_HEADER_LEN: usize = 17;

/// Key identifier: selects the key a frame was encrypted with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub u64);

/// Per-key frame counter: with the key's salt it forms the nonce, so it must never repeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Counter(pub u64);

/// A parsed SFrame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Which key encrypted the frame.
    pub kid: KeyId,
    /// The frame's counter under that key.
    pub ctr: Counter,
}

/// A header serialised on the stack (no allocation on the per-frame path).
#[derive(Clone, Copy)]
pub struct EncodedHeader {
    bytes: [u8; MAX_HEADER_LEN],
    len: u8,
}

impl std::ops::Deref for EncodedHeader {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for EncodedHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncodedHeader(")?;
        for b in self.iter() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

impl Header {
    /// A header for `kid` and `ctr`.
    pub const fn new(kid: KeyId, ctr: Counter) -> Self {
        Header { kid, ctr }
    }

    /// The header in its shortest encoding.
    pub fn encode(&self) -> EncodedHeader {
        let mut bytes = [0u8; MAX_HEADER_LEN];
        let mut len = 1;
        let (k, kid_bytes) = field(self.kid.0);
        let (c, ctr_bytes) = field(self.ctr.0);
        bytes[0] = (k << 4) | c;
        for (value, n) in [kid_bytes, ctr_bytes].into_iter().flatten() {
            bytes[len..len + n].copy_from_slice(&value.to_be_bytes()[8 - n..]);
            len += n;
        }
        EncodedHeader {
            bytes,
            len: len as u8,
        }
    }

    /// Length of [`Header::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        let n = |v: u64| if v < 8 { 0 } else { min_bytes(v) };
        1 + n(self.kid.0) + n(self.ctr.0)
    }

    /// Parses a header from the front of `frame`; returns it and the number of bytes it took.
    ///
    /// Longer-than-necessary field encodings are accepted: the header bytes as received are
    /// authenticated, so they cannot be altered undetected either way.
    pub fn decode(frame: &[u8]) -> Result<(Header, usize), HeaderError> {
        let (&config, mut rest) = frame.split_first().ok_or(HeaderError::Empty)?;
        let mut read = |extended: bool, bits: u8| -> Result<u64, HeaderError> {
            if !extended {
                return Ok(u64::from(bits));
            }
            let n = usize::from(bits) + 1;
            if rest.len() < n {
                return Err(HeaderError::Truncated {
                    needed: n,
                    available: rest.len(),
                });
            }
            let (field, tail) = rest.split_at(n);
            rest = tail;
            Ok(field.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
        };
        let kid = read(config & 0x80 != 0, (config >> 4) & 0x07)?;
        let ctr = read(config & 0x08 != 0, config & 0x07)?;
        let used = frame.len() - rest.len();
        Ok((Header::new(KeyId(kid), Counter(ctr)), used))
    }
}

/// Config-byte nibble for a value, and the trailing bytes if it does not fit in 3 bits.
fn field(value: u64) -> (u8, Option<(u64, usize)>) {
    if value < 8 {
        return (value as u8, None);
    }
    let n = min_bytes(value);
    (0x08 | (n as u8 - 1), Some((value, n)))
}

/// Bytes needed to hold `value` big-endian (at least one).
fn min_bytes(value: u64) -> usize {
    let bits = 64 - value.leading_zeros() as usize;
    bits.div_ceil(8).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_live_in_the_config_byte() {
        let h = Header::new(KeyId(7), Counter(5));
        assert_eq!(&*h.encode(), &[0x75]);
        assert_eq!(h.encoded_len(), 1);
    }

    #[test]
    fn extended_fields_use_the_fewest_bytes() {
        let h = Header::new(KeyId(8), Counter(0x1_0000));
        assert_eq!(&*h.encode(), &[0x8a, 0x08, 0x01, 0x00, 0x00]);
        assert_eq!(Header::decode(&h.encode()), Ok((h, 5)));
    }

    #[test]
    fn every_boundary_round_trips() {
        let mut values = vec![0u64, 7, 8, u64::MAX];
        for shift in 1..64 {
            values.extend([(1u64 << shift) - 1, 1u64 << shift]);
        }
        for &kid in &values {
            for &ctr in &values {
                let h = Header::new(KeyId(kid), Counter(ctr));
                let enc = h.encode();
                assert_eq!(enc.len(), h.encoded_len());
                assert_eq!(Header::decode(&enc), Ok((h, enc.len())));
            }
        }
    }

    #[test]
    fn truncated_headers_are_errors() {
        assert_eq!(Header::decode(&[]), Err(HeaderError::Empty));
        let enc = Header::new(KeyId(u64::MAX), Counter(u64::MAX)).encode();
        for cut in 1..enc.len() {
            assert!(
                matches!(
                    Header::decode(&enc[..cut]),
                    Err(HeaderError::Truncated { .. })
                ),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn non_minimal_encodings_are_read() {
        // KID 1 written in one extended byte, CTR 2 inline.
        assert_eq!(
            Header::decode(&[0x82, 0x01, 0xff]),
            Ok((Header::new(KeyId(1), Counter(2)), 2))
        );
    }
}
