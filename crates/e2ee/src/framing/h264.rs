//! H.264 (Annex B) framing: keep what packetizers and SFUs read in the clear, encrypt the rest,
//! and make sure the ciphertext can never look like a start code.
//!
//! ```text
//! sender:   [SPS][PPS][SEI]..[slice NAL header][1 byte] | rest of the access unit
//!           '------------ clear, authenticated ---------'   '-- SFrame-encrypted --'
//! wire:     clear prefix || escape(SFrame ciphertext) || 0x80
//! ```
//! The clear part is authenticated as SFrame metadata in a canonical form (each NAL unit behind a
//! 4-byte start code, trailing zero bytes, access unit delimiters and filler data dropped) so that
//! packetizers that rewrite start codes or drop those NAL units do not break decryption. Only
//! parameter sets and SEI may come before the first slice, and a receiver hands out the canonical
//! form, never the bytes the network delivered: nothing unauthenticated reaches a decoder.

use crate::error::FramingError;

/// Ends every protected access unit, so it never ends in a zero byte (which H.264 byte streams
/// may strip) and a lost tail is noticed before decryption.
pub const TERMINATOR: u8 = 0x80;

const NAL_SEI: u8 = 6;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
const NAL_AUD: u8 = 9;
const NAL_FILLER: u8 = 12;

/// The clear part of an access unit and the offset where the protected part begins.
pub(crate) struct Split {
    /// Bytes `..clear_end` stay in the clear.
    pub clear_end: usize,
    /// Canonical form of the clear part: the SFrame metadata.
    pub metadata: Vec<u8>,
    /// Zero bytes at the end of the clear part (0–2), carried into emulation prevention.
    pub trailing_zeros: usize,
}

/// Finds the clear prefix: everything up to the first slice NAL unit's header plus one byte.
pub(crate) fn split(access_unit: &[u8]) -> Result<Split, FramingError> {
    // Only zero bytes may precede the first start code: anything else would ride along unauthenticated.
    let first = find_start_code(access_unit, 0).ok_or(FramingError::NoSlice)?;
    if access_unit[..first - 3].iter().any(|&b| b != 0) {
        return Err(FramingError::BytesBeforeStartCode);
    }
    let mut metadata = Vec::new();
    for nal in NalUnits::new(access_unit) {
        let nal_type = access_unit[nal.start] & 0x1f;
        if (1..=5).contains(&nal_type) {
            let clear_end = nal.start + 2;
            if clear_end > access_unit.len() {
                return Err(FramingError::NoSlice);
            }
            push_canonical(&mut metadata, &access_unit[nal.start..clear_end]);
            let trailing_zeros = access_unit[..clear_end]
                .iter()
                .rev()
                .take(2)
                .take_while(|&&b| b == 0)
                .count();
            return Ok(Split {
                clear_end,
                metadata,
                trailing_zeros,
            });
        }
        match nal_type {
            // Dropped by some packetizers: neither authenticated nor passed on.
            NAL_AUD | NAL_FILLER => {}
            NAL_SEI | NAL_SPS | NAL_PPS => push_canonical(
                &mut metadata,
                trim_trailing_zeros(&access_unit[nal.start..nal.end]),
            ),
            // Anything else ahead of the picture is not ours to carry in the clear.
            other => return Err(FramingError::UnexpectedNal(other)),
        }
    }
    Err(FramingError::NoSlice)
}

/// Appends `data` to `out` with H.264 emulation prevention: after two zero bytes, a byte ≤ 3 is
/// preceded by 0x03. `zeros` is the count of zero bytes already at the end of `out`.
pub(crate) fn escape_into(out: &mut Vec<u8>, data: &[u8], mut zeros: usize) {
    out.reserve(data.len() + data.len() / 64 + 1);
    let mut i = 0;
    while i < data.len() {
        // After a non-zero byte nothing needs escaping until the next zero: copy up to it whole.
        // Ciphertext has a zero every 256 bytes or so, so this is where the time goes.
        if zeros == 0 {
            match memchr::memchr(0, &data[i..]) {
                None => {
                    out.extend_from_slice(&data[i..]);
                    return;
                }
                Some(p) => {
                    out.extend_from_slice(&data[i..i + p]);
                    i += p;
                }
            }
        }
        let b = data[i];
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
        i += 1;
    }
}

/// Reverses [`escape_into`], refusing anything it could not have produced.
pub(crate) fn unescape(data: &[u8], mut zeros: usize) -> Result<Vec<u8>, FramingError> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if zeros == 0 {
            match memchr::memchr(0, &data[i..]) {
                None => {
                    out.extend_from_slice(&data[i..]);
                    break;
                }
                Some(p) => {
                    out.extend_from_slice(&data[i..i + p]);
                    i += p;
                }
            }
        }
        let b = data[i];
        if zeros >= 2 && b <= 3 {
            if b != 3 {
                return Err(FramingError::BadEscape { offset: i });
            }
            match data.get(i + 1) {
                Some(&next) if next <= 3 => {}
                _ => return Err(FramingError::BadEscape { offset: i }),
            }
            zeros = 0;
            i += 1;
            continue;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
        i += 1;
    }
    Ok(out)
}

/// Whether a (protected or plain) access unit starts a new picture sequence: it carries an SPS or
/// an IDR slice in its clear part. SFUs and receivers read this without keys.
pub fn is_keyframe(access_unit: &[u8]) -> bool {
    for nal in NalUnits::new(access_unit) {
        match access_unit[nal.start] & 0x1f {
            5 | 7 => return true,
            1..=4 => return false,
            _ => {}
        }
    }
    false
}

fn push_canonical(out: &mut Vec<u8>, nal: &[u8]) {
    out.extend_from_slice(&[0, 0, 0, 1]);
    out.extend_from_slice(nal);
}

fn trim_trailing_zeros(nal: &[u8]) -> &[u8] {
    let end = nal.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &nal[..end]
}

/// Byte range of one NAL unit (after its start code, up to the next start code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Nal {
    pub start: usize,
    pub end: usize,
}

/// NAL units of an Annex B byte stream, in order; bytes before the first start code are skipped.
pub(crate) struct NalUnits<'a> {
    data: &'a [u8],
    next: Option<usize>,
}

impl<'a> NalUnits<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        NalUnits {
            data,
            next: find_start_code(data, 0),
        }
    }
}

impl Iterator for NalUnits<'_> {
    type Item = Nal;

    fn next(&mut self) -> Option<Nal> {
        let start = self.next?;
        if start >= self.data.len() {
            self.next = None;
            return None;
        }
        let following = find_start_code(self.data, start);
        // The next unit begins after its `00 00 01`; this one ends where that start code begins.
        let end = following.map_or(self.data.len(), |s| s - 3);
        self.next = following;
        Some(Nal { start, end })
    }
}

/// Offset just past the first `00 00 01` at or after `from`.
fn find_start_code(data: &[u8], from: usize) -> Option<usize> {
    memchr::memmem::find(data.get(from..)?, &[0, 0, 1]).map(|p| from + p + 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nal_units_are_found_behind_three_and_four_byte_start_codes() {
        let au = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 9,
        ];
        let nals: Vec<_> = NalUnits::new(&au).collect();
        assert_eq!(
            nals,
            vec![
                Nal { start: 4, end: 7 },
                Nal { start: 10, end: 13 },
                Nal { start: 16, end: 18 },
            ]
        );
    }

    #[test]
    fn the_clear_prefix_ends_one_byte_into_the_first_slice() {
        let au = [
            0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x65, 0x88, 7, 7,
        ];
        let s = split(&au).unwrap();
        assert_eq!(s.clear_end, 17);
        // The AUD is left out of the metadata; the SPS loses its trailing zero.
        assert_eq!(s.metadata, [0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x65, 0x88]);
        assert_eq!(s.trailing_zeros, 0);
    }

    #[test]
    fn frames_without_a_slice_are_refused() {
        assert!(matches!(
            split(&[0, 0, 1, 0x67, 1]),
            Err(FramingError::NoSlice)
        ));
        assert!(matches!(
            split(&[0, 0, 1, 0x65]),
            Err(FramingError::NoSlice)
        ));
        assert!(matches!(split(&[1, 2, 3]), Err(FramingError::NoSlice)));
        assert!(matches!(split(&[]), Err(FramingError::NoSlice)));
        assert!(matches!(
            split(&[0, 7, 0, 0, 1, 0x65, 0x88]),
            Err(FramingError::BytesBeforeStartCode)
        ));
        assert!(split(&[0, 0, 0, 0, 1, 0x65, 0x88]).is_ok());
    }

    #[test]
    fn escaping_removes_every_start_code_and_reverses_exactly() {
        let cases: Vec<Vec<u8>> = vec![
            vec![0, 0, 0],
            vec![0, 0, 1],
            vec![0, 0, 2, 0, 0, 3, 0, 0, 4],
            vec![0; 50],
            (0..=255).collect(),
            vec![0, 0],
        ];
        for data in cases {
            for zeros in 0..=2 {
                let mut prefix = vec![0x41; 1];
                prefix.extend(std::iter::repeat_n(0, zeros));
                let mut out = prefix.clone();
                escape_into(&mut out, &data, zeros);
                out.push(TERMINATOR);
                assert!(
                    !out.windows(3).any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 2),
                    "{out:?}"
                );
                let body = &out[prefix.len()..out.len() - 1];
                assert_eq!(unescape(body, zeros).unwrap(), data);
            }
        }
    }

    /// The byte-at-a-time definition the fast versions must agree with.
    fn escape_reference(data: &[u8], mut zeros: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for &b in data {
            if zeros >= 2 && b <= 3 {
                out.push(3);
                zeros = 0;
            }
            out.push(b);
            zeros = if b == 0 { zeros + 1 } else { 0 };
        }
        out
    }

    #[test]
    fn fast_escaping_matches_the_definition_on_zero_heavy_data() {
        // A simple LCG: deterministic, and biased towards zeros and small bytes.
        let mut state = 0x1234_5678u32;
        for len in 0..300 {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    match state >> 29 {
                        0..=3 => 0,
                        4 | 5 => (state >> 8) as u8 & 3,
                        _ => (state >> 8) as u8,
                    }
                })
                .collect();
            for zeros in 0..=2 {
                let mut fast = Vec::new();
                escape_into(&mut fast, &data, zeros);
                assert_eq!(fast, escape_reference(&data, zeros), "{data:?} {zeros}");
                assert_eq!(unescape(&fast, zeros).unwrap(), data);
            }
        }
    }

    #[test]
    fn impossible_escapes_are_refused() {
        assert_eq!(
            unescape(&[0, 0, 1], 0),
            Err(FramingError::BadEscape { offset: 2 })
        );
        assert_eq!(
            unescape(&[0, 0, 3], 0),
            Err(FramingError::BadEscape { offset: 2 })
        );
        assert_eq!(
            unescape(&[0, 0, 3, 9], 0),
            Err(FramingError::BadEscape { offset: 2 })
        );
        assert_eq!(
            unescape(&[0, 1], 1),
            Err(FramingError::BadEscape { offset: 1 })
        );
    }

    #[test]
    fn keyframes_are_recognised_from_the_clear_part() {
        assert!(is_keyframe(&[0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2]));
        assert!(is_keyframe(&[0, 0, 1, 0x65, 0x88]));
        assert!(!is_keyframe(&[0, 0, 1, 0x41, 0x9a]));
        assert!(!is_keyframe(&[0, 0, 1, 0x41, 0x9a, 0, 0, 1, 0x65]));
    }
}
